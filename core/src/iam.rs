//! Accounts and access keys: who is calling.
//!
//! Stored tables (all durable, JSON records):
//! - `accounts`: account id → [`Account`]; `account_names`: name → account id (unique names).
//! - `access_keys`: access key id → [`AccessKey`], including the secret, which SigV4 needs in
//!   clear to recompute signatures (as AWS itself does). The data directory is private (0700).
//! - `iam_meta`: `admin_account` → the account created on first start.
//!
//! Secrets never appear in logs: [`Secret`]'s `Debug` and `Display` are redacted.
//!
//! Every signed request looks its key up, so keys are cached in memory. The cache is coherent
//! because one process owns the state store at a time (redb locks it) and every key change goes
//! through [`Iam`], which updates the cache after its transaction commits.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use kumo_driver_api::{KeyRange, StateStore, WriteTxn, transact};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::records::{decode, encode};
use crate::{Error, Result, ids};

const ACCOUNTS: &str = "accounts";
const ACCOUNT_NAMES: &str = "account_names";
const ACCESS_KEYS: &str = "access_keys";
const META: &str = "iam_meta";
const ADMIN_ACCOUNT: &[u8] = b"admin_account";

/// A secret access key. Its `Debug` is redacted so it never reaches a log.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    /// The secret in clear, for signature computation and the credentials file only.
    #[must_use]
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(<redacted>)")
    }
}

/// A tenant: owns resources, has keys.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Account {
    /// 12-digit account id.
    pub id: String,
    /// Unique human name.
    pub name: String,
    /// Creation time, seconds since the epoch.
    pub created: i64,
}

/// Whether a key may sign requests.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum KeyStatus {
    /// Signs requests.
    Active,
    /// Revoked: requests signed with it are refused.
    Inactive,
}

/// An access key pair.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccessKey {
    /// `AKIA…` id.
    pub id: String,
    /// The secret.
    pub secret: Secret,
    /// The owning account.
    pub account_id: String,
    /// IAM user name, or `None` for the account's root credentials.
    pub user_name: Option<String>,
    /// `AIDA…` user id (the account id for root credentials).
    pub user_id: String,
    /// Active or revoked.
    pub status: KeyStatus,
    /// Creation time, seconds since the epoch.
    pub created: i64,
}

/// The authenticated caller of a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    /// The caller's account.
    pub account_id: String,
    /// `AIDA…` for an IAM user, the account id for root.
    pub user_id: String,
    /// `arn:aws:iam::ACCOUNT:root` or `arn:aws:iam::ACCOUNT:user/NAME`.
    pub arn: String,
    /// The access key that signed the request.
    pub access_key_id: String,
}

impl AccessKey {
    /// The principal this key authenticates as.
    #[must_use]
    pub fn principal(&self) -> Principal {
        let arn = match &self.user_name {
            Some(user) => format!("arn:aws:iam::{}:user/{user}", self.account_id),
            None => format!("arn:aws:iam::{}:root", self.account_id),
        };
        Principal {
            account_id: self.account_id.clone(),
            user_id: self.user_id.clone(),
            arn,
            access_key_id: self.id.clone(),
        }
    }
}

/// Accounts and keys over a `StateStore`. Methods block (they commit durably); async callers
/// use [`crate::records::blocking`].
#[derive(Clone)]
pub struct Iam {
    store: Arc<dyn StateStore>,
    keys: Arc<RwLock<HashMap<String, AccessKey>>>,
}

impl std::fmt::Debug for Iam {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Iam").finish_non_exhaustive()
    }
}

fn now() -> i64 {
    OffsetDateTime::now_utc().unix_timestamp()
}

fn validate_name(kind: &str, name: &str) -> Result<()> {
    let ok = !name.is_empty()
        && name.len() <= 64
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"+=,.@_-".contains(&b));
    if ok {
        Ok(())
    } else {
        Err(Error::InvalidArgument(format!(
            "{kind} name {name:?} must be 1-64 characters of letters, digits and +=,.@_-"
        )))
    }
}

fn insert_account(txn: &mut dyn WriteTxn, name: &str) -> Result<Account> {
    if txn.get(ACCOUNT_NAMES, name.as_bytes())?.is_some() {
        return Err(Error::AccountExists(name.to_owned()));
    }
    let mut id = ids::account_id();
    while txn.get(ACCOUNTS, id.as_bytes())?.is_some() {
        id = ids::account_id();
    }
    let account = Account {
        id,
        name: name.to_owned(),
        created: now(),
    };
    txn.put(
        ACCOUNTS,
        account.id.as_bytes(),
        &encode(ACCOUNTS, &account)?,
    )?;
    txn.put(ACCOUNT_NAMES, name.as_bytes(), account.id.as_bytes())?;
    Ok(account)
}

fn insert_key(
    txn: &mut dyn WriteTxn,
    account_id: &str,
    user_name: Option<&str>,
) -> Result<AccessKey> {
    if txn.get(ACCOUNTS, account_id.as_bytes())?.is_none() {
        return Err(Error::NoSuchAccount(account_id.to_owned()));
    }
    if let Some(user) = user_name {
        validate_name("user", user)?;
    }
    let mut id = ids::access_key_id();
    while txn.get(ACCESS_KEYS, id.as_bytes())?.is_some() {
        id = ids::access_key_id();
    }
    // Keys of one IAM user share its user id.
    let user_id = match user_name {
        None => account_id.to_owned(),
        Some(user) => existing_user_id(txn, account_id, user)?.unwrap_or_else(ids::user_id),
    };
    let key = AccessKey {
        id,
        secret: Secret(ids::secret_access_key()),
        account_id: account_id.to_owned(),
        user_name: user_name.map(str::to_owned),
        user_id,
        status: KeyStatus::Active,
        created: now(),
    };
    txn.put(ACCESS_KEYS, key.id.as_bytes(), &encode(ACCESS_KEYS, &key)?)?;
    Ok(key)
}

fn existing_user_id(
    txn: &mut dyn WriteTxn,
    account_id: &str,
    user: &str,
) -> Result<Option<String>> {
    let rows = txn.scan(ACCESS_KEYS, b"", KeyRange::all(), usize::MAX)?;
    for (_, value) in rows {
        let key: AccessKey = decode(ACCESS_KEYS, &value)?;
        if key.account_id == account_id && key.user_name.as_deref() == Some(user) {
            return Ok(Some(key.user_id));
        }
    }
    Ok(None)
}

impl Iam {
    /// Accounts and keys kept in `store`.
    #[must_use]
    pub fn new(store: Arc<dyn StateStore>) -> Self {
        Self {
            store,
            keys: Arc::default(),
        }
    }

    fn cache(&self, key: &AccessKey) {
        if let Ok(mut keys) = self.keys.write() {
            keys.insert(key.id.clone(), key.clone());
        }
    }

    fn cached(&self, access_key_id: &str) -> Option<AccessKey> {
        self.keys.read().ok()?.get(access_key_id).cloned()
    }

    /// Creates the administrator account and its first key on first start; later calls return
    /// the same account and its oldest active root key. The flag says whether it was created now.
    pub fn bootstrap_admin(&self) -> Result<(Account, AccessKey, bool)> {
        transact(self.store.as_ref(), |txn| {
            if let Some(id) = txn.get(META, ADMIN_ACCOUNT)? {
                let id = String::from_utf8_lossy(&id).into_owned();
                let account: Account = match txn.get(ACCOUNTS, id.as_bytes())? {
                    Some(v) => decode(ACCOUNTS, &v)?,
                    None => return Err(Error::NoSuchAccount(id)),
                };
                let mut keys: Vec<AccessKey> = Vec::new();
                for (_, v) in txn.scan(ACCESS_KEYS, b"", KeyRange::all(), usize::MAX)? {
                    let key: AccessKey = decode(ACCESS_KEYS, &v)?;
                    if key.account_id == account.id
                        && key.user_name.is_none()
                        && key.status == KeyStatus::Active
                    {
                        keys.push(key);
                    }
                }
                keys.sort_by_key(|k| k.created);
                let key = match keys.into_iter().next() {
                    Some(key) => key,
                    // Every admin key was revoked: mint a fresh one so the operator is not locked out.
                    None => insert_key(txn, &account.id, None)?,
                };
                return Ok((account, key, false));
            }
            let account = insert_account(txn, "admin")?;
            let key = insert_key(txn, &account.id, None)?;
            txn.put(META, ADMIN_ACCOUNT, account.id.as_bytes())?;
            Ok((account, key, true))
        })
    }

    /// Creates an account with its first root access key.
    pub fn create_account(&self, name: &str) -> Result<(Account, AccessKey)> {
        validate_name("account", name)?;
        transact(self.store.as_ref(), |txn| {
            let account = insert_account(txn, name)?;
            let key = insert_key(txn, &account.id, None)?;
            Ok((account, key))
        })
    }

    /// One account by id.
    pub fn account(&self, id: &str) -> Result<Account> {
        match self.store.get(ACCOUNTS, id.as_bytes())? {
            Some(v) => decode(ACCOUNTS, &v),
            None => Err(Error::NoSuchAccount(id.to_owned())),
        }
    }

    /// Resolves an account given by id or by name.
    pub fn resolve_account(&self, id_or_name: &str) -> Result<Account> {
        if let Some(id) = self.store.get(ACCOUNT_NAMES, id_or_name.as_bytes())? {
            return self.account(&String::from_utf8_lossy(&id));
        }
        self.account(id_or_name)
    }

    /// Every account, by id.
    pub fn accounts(&self) -> Result<Vec<Account>> {
        self.store
            .scan(ACCOUNTS, b"", KeyRange::all(), usize::MAX)?
            .into_iter()
            .map(|(_, v)| decode(ACCOUNTS, &v))
            .collect()
    }

    /// Creates another key for an account (root credentials, or an IAM user's).
    pub fn create_access_key(
        &self,
        account_id: &str,
        user_name: Option<&str>,
    ) -> Result<AccessKey> {
        transact(self.store.as_ref(), |txn| {
            insert_key(txn, account_id, user_name)
        })
    }

    /// Keys of one account, or of all accounts.
    pub fn access_keys(&self, account_id: Option<&str>) -> Result<Vec<AccessKey>> {
        let mut keys = Vec::new();
        for (_, v) in self
            .store
            .scan(ACCESS_KEYS, b"", KeyRange::all(), usize::MAX)?
        {
            let key: AccessKey = decode(ACCESS_KEYS, &v)?;
            if account_id.is_none_or(|a| a == key.account_id) {
                keys.push(key);
            }
        }
        keys.sort_by(|a, b| {
            (&a.account_id, a.created, &a.id).cmp(&(&b.account_id, b.created, &b.id))
        });
        Ok(keys)
    }

    /// Revokes a key: requests signed with it fail from now on.
    pub fn revoke_access_key(&self, access_key_id: &str) -> Result<AccessKey> {
        let key = transact(self.store.as_ref(), |txn| {
            let mut key: AccessKey = match txn.get(ACCESS_KEYS, access_key_id.as_bytes())? {
                Some(v) => decode(ACCESS_KEYS, &v)?,
                None => return Err(Error::UnknownAccessKey(access_key_id.to_owned())),
            };
            key.status = KeyStatus::Inactive;
            txn.put(ACCESS_KEYS, key.id.as_bytes(), &encode(ACCESS_KEYS, &key)?)?;
            Ok(key)
        })?;
        self.cache(&key);
        Ok(key)
    }

    /// Looks up an active key for signature verification.
    pub fn authenticate(&self, access_key_id: &str) -> Result<AccessKey> {
        let key = match self.cached(access_key_id) {
            Some(key) => key,
            None => {
                let key: AccessKey = match self.store.get(ACCESS_KEYS, access_key_id.as_bytes())? {
                    Some(v) => decode(ACCESS_KEYS, &v)?,
                    None => return Err(Error::UnknownAccessKey(access_key_id.to_owned())),
                };
                self.cache(&key);
                key
            }
        };
        if key.status != KeyStatus::Active {
            return Err(Error::InactiveAccessKey(access_key_id.to_owned()));
        }
        Ok(key)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn iam() -> (tempfile::TempDir, Iam) {
        let dir = tempfile::tempdir().expect("tempdir");
        let store =
            kumo_state_redb::RedbStateStore::open(&dir.path().join("s.redb")).expect("open");
        (dir, Iam::new(Arc::new(store)))
    }

    #[test]
    fn bootstrap_is_idempotent() {
        let (_dir, iam) = iam();
        let (a1, k1, created1) = iam.bootstrap_admin().expect("bootstrap");
        let (a2, k2, created2) = iam.bootstrap_admin().expect("bootstrap again");
        assert!(created1 && !created2);
        assert_eq!(a1, a2);
        assert_eq!(k1, k2);
        assert_eq!(k1.principal().arn, format!("arn:aws:iam::{}:root", a1.id));
    }

    #[test]
    fn revoked_key_is_refused_and_admin_gets_a_new_one() {
        let (_dir, iam) = iam();
        let (_, key, _) = iam.bootstrap_admin().expect("bootstrap");
        assert!(iam.authenticate(&key.id).is_ok());
        // A clone shares the cache: revocation through one is seen by the other at once.
        let other = iam.clone();
        assert!(other.authenticate(&key.id).is_ok());
        iam.revoke_access_key(&key.id).expect("revoke");
        assert!(matches!(
            other.authenticate(&key.id),
            Err(Error::InactiveAccessKey(_))
        ));
        assert!(matches!(
            iam.authenticate(&key.id),
            Err(Error::InactiveAccessKey(_))
        ));
        let (_, fresh, _) = iam.bootstrap_admin().expect("bootstrap");
        assert_ne!(fresh.id, key.id);
        assert!(iam.authenticate(&fresh.id).is_ok());
    }

    #[test]
    fn accounts_and_keys() {
        let (_dir, iam) = iam();
        let (acct, key) = iam.create_account("tenant-a").expect("create");
        assert!(matches!(
            iam.create_account("tenant-a"),
            Err(Error::AccountExists(_))
        ));
        assert!(matches!(
            iam.create_account("bad name"),
            Err(Error::InvalidArgument(_))
        ));
        let user_key = iam
            .create_access_key(&acct.id, Some("alice"))
            .expect("user key");
        let user_key2 = iam
            .create_access_key(&acct.id, Some("alice"))
            .expect("user key 2");
        assert_eq!(user_key.user_id, user_key2.user_id);
        assert!(user_key.user_id.starts_with("AIDA"));
        assert_eq!(
            user_key.principal().arn,
            format!("arn:aws:iam::{}:user/alice", acct.id)
        );
        let keys = iam.access_keys(Some(&acct.id)).expect("list");
        assert_eq!(keys.len(), 3);
        assert!(keys.iter().any(|k| k.id == key.id));
        assert_eq!(iam.resolve_account("tenant-a").expect("by name"), acct);
        assert!(matches!(
            iam.create_access_key("000000000000", None),
            Err(Error::NoSuchAccount(_))
        ));
        assert!(matches!(
            iam.authenticate("AKIANOPE"),
            Err(Error::UnknownAccessKey(_))
        ));
    }

    #[test]
    fn secret_is_redacted_in_debug() {
        let (_dir, iam) = iam();
        let (_, key, _) = iam.bootstrap_admin().expect("bootstrap");
        let shown = format!("{key:?}");
        assert!(!shown.contains(key.secret.expose()));
    }
}
