//! `ClientToken` idempotency: a create call retried with the same token and the same
//! parameters returns the first call's result; the same token with different parameters is
//! refused (`IdempotentParameterMismatch`), as AWS does.
//!
//! Records live in the `StateStore` (table [`CLIENT_TOKENS`]) so a retry after a crash still
//! finds the first result: the protocol crate records the result before acknowledging it.
//! A token is scoped to the account and the action.

use std::sync::Arc;

use kumo_driver_api::state_store::{StateStore, Table};
use serde::{Deserialize, Serialize};

use super::Rejection;
use crate::Error;
use crate::records;

/// `account \0 action \0 token` -> [`TokenRecord`].
pub const CLIENT_TOKENS: Table = "client_tokens";

/// The longest token AWS accepts.
pub const MAX_TOKEN_LEN: usize = 64;

/// What a token remembers.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct TokenRecord {
    /// Fingerprint of the first call's parameters.
    fingerprint: String,
    /// The first call's result, as the protocol crate encoded it.
    result: String,
}

/// The outcome of looking a token up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Replay {
    /// First use: run the call, then [`ClientTokens::record`] it.
    New,
    /// Seen with the same parameters: answer this result again.
    Same(String),
    /// Seen with other parameters.
    Mismatch,
}

/// The client-token register.
#[derive(Clone)]
pub struct ClientTokens {
    store: Arc<dyn StateStore>,
}

impl std::fmt::Debug for ClientTokens {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ClientTokens")
    }
}

fn key(account: &str, action: &str, token: &str) -> Vec<u8> {
    [account, action, token].join("\0").into_bytes()
}

/// Checks a token's form.
pub fn validate(token: &str) -> Result<(), Rejection> {
    if token.is_empty() || token.len() > MAX_TOKEN_LEN || !token.is_ascii() {
        return Err(Rejection::InvalidParameterValue(format!(
            "Value ({}) for parameter ClientToken is invalid. It must be 1 to {MAX_TOKEN_LEN} ASCII characters.",
            token.chars().take(80).collect::<String>()
        )));
    }
    Ok(())
}

impl ClientTokens {
    /// A register over `store`.
    #[must_use]
    pub fn new(store: Arc<dyn StateStore>) -> Self {
        Self { store }
    }

    /// Looks `token` up for a call whose parameters have `fingerprint`.
    pub fn lookup(
        &self,
        account: &str,
        action: &str,
        token: &str,
        fingerprint: &str,
    ) -> Result<Replay, Error> {
        let Some(bytes) = self
            .store
            .get(CLIENT_TOKENS, &key(account, action, token))?
        else {
            return Ok(Replay::New);
        };
        let record: TokenRecord = records::decode(CLIENT_TOKENS, &bytes)?;
        Ok(if record.fingerprint == fingerprint {
            Replay::Same(record.result)
        } else {
            Replay::Mismatch
        })
    }

    /// Remembers the result of the first call with `token`. A concurrent first call that
    /// recorded already wins: its result is returned and this one's is dropped.
    pub fn record(
        &self,
        account: &str,
        action: &str,
        token: &str,
        fingerprint: &str,
        result: &str,
    ) -> Result<Replay, Error> {
        let k = key(account, action, token);
        let record = TokenRecord {
            fingerprint: fingerprint.to_owned(),
            result: result.to_owned(),
        };
        let value = records::encode(CLIENT_TOKENS, &record)?;
        kumo_driver_api::state_store::transact(self.store.as_ref(), |txn| {
            if let Some(existing) = txn.get(CLIENT_TOKENS, &k)? {
                let first: TokenRecord = records::decode(CLIENT_TOKENS, &existing)?;
                return Ok(if first.fingerprint == fingerprint {
                    Replay::Same(first.result)
                } else {
                    Replay::Mismatch
                });
            }
            txn.put(CLIENT_TOKENS, &k, &value)?;
            Ok(Replay::New)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_token_same_params_replays_and_survives_reopen() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("s.redb");
        {
            let store = kumo_state_redb::RedbStateStore::open(&path).expect("open");
            let tokens = ClientTokens::new(Arc::new(store));
            assert_eq!(
                tokens
                    .lookup("111", "RunInstances", "tok", "fp1")
                    .expect("lookup"),
                Replay::New
            );
            assert_eq!(
                tokens
                    .record("111", "RunInstances", "tok", "fp1", "<r/>")
                    .expect("record"),
                Replay::New
            );
            // A racing first call that records second gets the winner's result.
            assert_eq!(
                tokens
                    .record("111", "RunInstances", "tok", "fp1", "<other/>")
                    .expect("record"),
                Replay::Same("<r/>".into())
            );
        }
        let store = kumo_state_redb::RedbStateStore::open(&path).expect("reopen");
        let tokens = ClientTokens::new(Arc::new(store));
        assert_eq!(
            tokens
                .lookup("111", "RunInstances", "tok", "fp1")
                .expect("lookup"),
            Replay::Same("<r/>".into())
        );
        assert_eq!(
            tokens
                .lookup("111", "RunInstances", "tok", "fp2")
                .expect("lookup"),
            Replay::Mismatch
        );
        // Scoped by account and action.
        assert_eq!(
            tokens
                .lookup("222", "RunInstances", "tok", "fp2")
                .expect("lookup"),
            Replay::New
        );
        assert_eq!(
            tokens
                .lookup("111", "CreateVolume", "tok", "fp2")
                .expect("lookup"),
            Replay::New
        );
        assert!(validate("ok-token").is_ok());
        assert!(validate("").is_err());
        assert!(validate(&"x".repeat(65)).is_err());
    }
}
