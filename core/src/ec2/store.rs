//! The resource store of the EC2 and ELBv2 control planes: every VPC, subnet, instance,
//! load balancer… of every account, held in memory and journalled to the `StateStore`.
//!
//! Why in memory: describe calls filter and paginate whole collections (10,000 instances with a
//! tag filter must answer in milliseconds), and decoding JSON rows per request would dominate.
//! Why one store for all types: the rules cross types (a subnet lies in a VPC, a VPC cannot be
//! deleted while it has subnets), and a [`Txn`] checks and changes several types atomically.
//!
//! Architecture invariant: writers are serialised; a transaction reads the committed state
//! plus its own staged changes, commits them to the `StateStore` in one durable write, and
//! only then publishes them to readers. A change that returned `Ok` survives `kill -9`; readers
//! never observe a half-applied transaction.
//!
//! Table `ec2_resources`: key `account \0 kind \0 id`, value the JSON of a [`Resource`].

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, RwLock};

use kumo_driver_api::state_store::Table;
use kumo_driver_api::{KeyRange, StateStore, transact};

use crate::ec2::model::{Record, Resource};
use crate::{Error, records};

/// The table.
pub const RESOURCES: Table = "ec2_resources";

type Key = (String, &'static str, String);

#[derive(Default)]
struct Mem {
    rows: BTreeMap<Key, Resource>,
}

/// The store.
#[derive(Clone)]
pub struct ResourceStore {
    inner: Arc<Inner>,
}

struct Inner {
    state: Arc<dyn StateStore>,
    mem: RwLock<Mem>,
    writer: Mutex<()>,
    watchers: RwLock<Vec<Watcher>>,
}

/// Who wants to hear of committed changes to which kinds of record.
struct Watcher {
    kinds: Vec<&'static str>,
    notify: Arc<tokio::sync::Notify>,
}

impl std::fmt::Debug for ResourceStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ResourceStore").finish_non_exhaustive()
    }
}

fn row_key(account: &str, kind: &str, id: &str) -> Vec<u8> {
    [account, kind, id].join("\0").into_bytes()
}

fn lock_err<T>(_: T) -> Error {
    Error::Task("resource store lock poisoned".into())
}

impl ResourceStore {
    /// Opens the store, loading every row.
    pub fn open(state: Arc<dyn StateStore>) -> Result<Self, Error> {
        let mut rows = BTreeMap::new();
        for (k, v) in state.scan(RESOURCES, b"", KeyRange::all(), usize::MAX)? {
            let r: Resource = records::decode(RESOURCES, &v)?;
            let mut parts = k.split(|b| *b == 0);
            let account = parts
                .next()
                .map(|a| String::from_utf8_lossy(a).into_owned());
            let (Some(account), Some(_), Some(id)) = (account, parts.next(), parts.next()) else {
                return Err(Error::Corrupt {
                    table: RESOURCES,
                    detail: "malformed key".into(),
                });
            };
            let id = String::from_utf8_lossy(id).into_owned();
            rows.insert((account, r.kind(), id), r);
        }
        Ok(Self {
            inner: Arc::new(Inner {
                state,
                mem: RwLock::new(Mem { rows }),
                writer: Mutex::new(()),
                watchers: RwLock::new(Vec::new()),
            }),
        })
    }

    /// A notification fired after every committed transaction that changed a record of one
    /// of `kinds` (`SecurityGroup::KIND`…), once published: how a consumer of intent (the
    /// network reconciler) hears of changes from every write path at once, without polling
    /// and without each operation having to remember to tell it.
    pub fn watch(&self, kinds: &[&'static str]) -> Arc<tokio::sync::Notify> {
        let notify = Arc::new(tokio::sync::Notify::new());
        if let Ok(mut w) = self.inner.watchers.write() {
            w.push(Watcher {
                kinds: kinds.to_vec(),
                notify: notify.clone(),
            });
        }
        notify
    }

    /// One resource of `account`, if it exists.
    pub fn get<T: Record>(&self, account: &str, id: &str) -> Result<Option<T>, Error> {
        let mem = self.inner.mem.read().map_err(lock_err)?;
        Ok(mem
            .rows
            .get(&(account.to_owned(), T::KIND, id.to_owned()))
            .and_then(T::from_resource)
            .cloned())
    }

    /// Every resource of type `T` in `account` that `f` maps to `Some`, in id order, without
    /// cloning the ones it skips.
    pub fn scan<T: Record, R>(
        &self,
        account: &str,
        mut f: impl FnMut(&T) -> Option<R>,
    ) -> Result<Vec<R>, Error> {
        let mem = self.inner.mem.read().map_err(lock_err)?;
        Ok(kind_range(&mem.rows, account, T::KIND)
            .filter_map(|(_, r)| T::from_resource(r))
            .filter_map(&mut f)
            .collect())
    }

    /// Every resource of type `T` in every account that `f` (given the account) maps to
    /// `Some`. A full scan: for the few cross-account reads AWS has (public and shared images)
    /// and for the compute reconciler, which serves every account.
    pub fn scan_all<T: Record, R>(
        &self,
        mut f: impl FnMut(&str, &T) -> Option<R>,
    ) -> Result<Vec<R>, Error> {
        let mem = self.inner.mem.read().map_err(lock_err)?;
        Ok(mem
            .rows
            .iter()
            .filter(|((_, k, _), _)| *k == T::KIND)
            .filter_map(|((a, _, _), r)| T::from_resource(r).and_then(|t| f(a, t)))
            .collect())
    }

    /// Every resource of type `T` in `account`, in id order.
    pub fn list<T: Record>(&self, account: &str) -> Result<Vec<T>, Error> {
        self.scan(account, |r: &T| Some(r.clone()))
    }

    /// Every resource of `account`, of any type (for `DescribeTags`).
    pub fn all(&self, account: &str) -> Result<Vec<Resource>, Error> {
        let mem = self.inner.mem.read().map_err(lock_err)?;
        let start = (account.to_owned(), "", String::new());
        Ok(mem
            .rows
            .range(start..)
            .take_while(|((a, _, _), _)| a == account)
            .map(|(_, r)| r.clone())
            .collect())
    }

    /// Runs `f` as one transaction: it reads through the [`Txn`], stages changes, and when it
    /// returns `Ok` the changes are committed durably and then published.
    pub fn transaction<R>(
        &self,
        f: impl FnOnce(&mut Txn<'_>) -> Result<R, Error>,
    ) -> Result<R, Error> {
        let _writer = self.inner.writer.lock().map_err(lock_err)?;
        let (out, staged) = {
            let mem = self.inner.mem.read().map_err(lock_err)?;
            let mut txn = Txn {
                committed: &mem.rows,
                staged: BTreeMap::new(),
            };
            let out = f(&mut txn)?;
            (out, txn.staged)
        };
        if staged.is_empty() {
            return Ok(out);
        }
        let mut encoded = Vec::with_capacity(staged.len());
        for ((account, kind, id), r) in &staged {
            let value = match r {
                Some(r) => Some(records::encode(RESOURCES, r)?),
                None => None,
            };
            encoded.push((row_key(account, kind, id), value));
        }
        transact(self.inner.state.as_ref(), |w| {
            for (k, v) in &encoded {
                match v {
                    Some(v) => w.put(RESOURCES, k, v)?,
                    None => {
                        w.delete(RESOURCES, k)?;
                    }
                }
            }
            Ok::<_, Error>(())
        })?;
        let changed: Vec<&'static str> = staged.keys().map(|(_, kind, _)| *kind).collect();
        {
            let mut mem = self.inner.mem.write().map_err(lock_err)?;
            for (k, r) in staged {
                match r {
                    Some(r) => mem.rows.insert(k, r),
                    None => mem.rows.remove(&k),
                };
            }
        }
        if let Ok(watchers) = self.inner.watchers.read() {
            for w in watchers.iter() {
                if w.kinds.iter().any(|k| changed.contains(k)) {
                    w.notify.notify_one();
                }
            }
        }
        Ok(out)
    }
}

fn kind_range<'m>(
    rows: &'m BTreeMap<Key, Resource>,
    account: &str,
    kind: &'static str,
) -> impl Iterator<Item = (&'m Key, &'m Resource)> {
    let start = (account.to_owned(), kind, String::new());
    let account = account.to_owned();
    rows.range(start..)
        .take_while(move |((a, k, _), _)| *a == account && *k == kind)
}

/// A transaction's view: committed rows overlaid with its staged changes.
pub struct Txn<'m> {
    committed: &'m BTreeMap<Key, Resource>,
    staged: BTreeMap<Key, Option<Resource>>,
}

impl std::fmt::Debug for Txn<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Txn")
            .field("staged", &self.staged.len())
            .finish_non_exhaustive()
    }
}

impl Txn<'_> {
    /// One resource, as this transaction sees it.
    #[must_use]
    pub fn get<T: Record>(&self, account: &str, id: &str) -> Option<T> {
        let key = (account.to_owned(), T::KIND, id.to_owned());
        match self.staged.get(&key) {
            Some(staged) => staged.as_ref().and_then(T::from_resource).cloned(),
            None => self.committed.get(&key).and_then(T::from_resource).cloned(),
        }
    }

    /// Every resource of type `T` in `account`, as this transaction sees it, in id order.
    #[must_use]
    pub fn list<T: Record>(&self, account: &str) -> Vec<T> {
        let mut out: BTreeMap<&str, T> = kind_range(self.committed, account, T::KIND)
            .filter_map(|((_, _, id), r)| T::from_resource(r).map(|t| (id.as_str(), t.clone())))
            .collect();
        for ((a, k, id), r) in &self.staged {
            if a != account || *k != T::KIND {
                continue;
            }
            match r.as_ref().and_then(T::from_resource) {
                Some(t) => {
                    out.insert(id.as_str(), t.clone());
                }
                None => {
                    out.remove(id.as_str());
                }
            }
        }
        out.into_values().collect()
    }

    /// Every resource of type `T` of every account, with its account, as this transaction
    /// sees it (capacity accounting across accounts).
    #[must_use]
    pub fn list_all<T: Record>(&self) -> Vec<(String, T)> {
        let mut out: BTreeMap<(&str, &str), T> = self
            .committed
            .iter()
            .filter(|((_, k, _), _)| *k == T::KIND)
            .filter_map(|((a, _, id), r)| {
                T::from_resource(r).map(|t| ((a.as_str(), id.as_str()), t.clone()))
            })
            .collect();
        for ((a, k, id), r) in &self.staged {
            if *k != T::KIND {
                continue;
            }
            match r.as_ref().and_then(T::from_resource) {
                Some(t) => {
                    out.insert((a.as_str(), id.as_str()), t.clone());
                }
                None => {
                    out.remove(&(a.as_str(), id.as_str()));
                }
            }
        }
        out.into_iter()
            .map(|((a, _), t)| (a.to_owned(), t))
            .collect()
    }

    /// Stages a create or update.
    pub fn put<T: Record>(&mut self, account: &str, record: T) {
        let key = (account.to_owned(), T::KIND, record.id().to_owned());
        self.staged.insert(key, Some(record.into_resource()));
    }

    /// Stages a delete of the `T` named `id`.
    pub fn delete<T: Record>(&mut self, account: &str, id: &str) {
        self.staged
            .insert((account.to_owned(), T::KIND, id.to_owned()), None);
    }

    /// Stages a create or update of a resource of any type.
    pub fn put_resource(&mut self, account: &str, resource: Resource) {
        let key = (
            account.to_owned(),
            resource.kind(),
            resource.id().to_owned(),
        );
        self.staged.insert(key, Some(resource));
    }

    /// A resource of any type by id, as this transaction sees it.
    #[must_use]
    pub fn find(&self, account: &str, id: &str) -> Option<Resource> {
        let kind = Resource::kind_of_id(id)?;
        let key = (account.to_owned(), kind, id.to_owned());
        match self.staged.get(&key) {
            Some(staged) => staged.clone(),
            None => self.committed.get(&key).cloned(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ec2::vpc::Vpc;

    fn vpc(id: &str) -> Vpc {
        Vpc {
            id: id.into(),
            owner_id: "111".into(),
            cidr_block: "10.0.0.0/16".into(),
            cidr_associations: Vec::new(),
            is_default: false,
            state: "available".into(),
            dhcp_options_id: "default".into(),
            instance_tenancy: "default".into(),
            enable_dns_support: true,
            enable_dns_hostnames: false,
            enable_network_address_usage_metrics: false,
            main_route_table_id: "rtb-1".into(),
            default_network_acl_id: "acl-1".into(),
            default_security_group_id: "sg-1".into(),
            vni: 0,
            tags: Vec::new(),
        }
    }

    #[test]
    fn transactions_commit_durably_and_abort_cleanly() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("s.redb");
        {
            let state = Arc::new(kumo_state_redb::RedbStateStore::open(&path).expect("open"));
            let store = ResourceStore::open(state).expect("store");
            store
                .transaction(|t| {
                    t.put("111", vpc("vpc-2"));
                    t.put("111", vpc("vpc-1"));
                    t.put("222", vpc("vpc-3"));
                    assert_eq!(t.list::<Vpc>("111").len(), 2, "staged rows are visible");
                    Ok(())
                })
                .expect("commit");
            let err = store.transaction(|t| {
                t.delete::<Vpc>("111", "vpc-1");
                assert!(t.get::<Vpc>("111", "vpc-1").is_none());
                Err::<(), _>(Error::InvalidArgument("abort".into()))
            });
            assert!(err.is_err());
            let ids: Vec<String> = store
                .list::<Vpc>("111")
                .expect("list")
                .into_iter()
                .map(|v| v.id)
                .collect();
            assert_eq!(ids, ["vpc-1", "vpc-2"]);
            assert!(
                store.get::<Vpc>("222", "vpc-1").expect("get").is_none(),
                "accounts are apart"
            );
        }
        let state = Arc::new(kumo_state_redb::RedbStateStore::open(&path).expect("reopen"));
        let store = ResourceStore::open(state).expect("store");
        assert_eq!(store.list::<Vpc>("111").expect("list").len(), 2);
        assert_eq!(store.all("222").expect("all").len(), 1);
        assert_eq!(Resource::kind_of_id("vpc-1"), Some("vpc"));
    }

    #[test]
    fn watchers_hear_of_committed_changes_to_their_kinds() {
        use crate::ec2::model::Record;
        let dir = tempfile::tempdir().expect("tempdir");
        let state = Arc::new(
            kumo_state_redb::RedbStateStore::open(&dir.path().join("s.redb")).expect("open"),
        );
        let store = ResourceStore::open(state).expect("store");
        let vpcs = store.watch(&[Vpc::KIND]);
        let others = store.watch(&["subnet"]);
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
            .expect("runtime");
        let fired = |n: &Arc<tokio::sync::Notify>| {
            rt.block_on(async {
                tokio::time::timeout(std::time::Duration::from_millis(50), n.notified())
                    .await
                    .is_ok()
            })
        };
        let _ = store.transaction(|_| Err::<(), _>(Error::InvalidArgument("abort".into())));
        assert!(!fired(&vpcs), "an aborted transaction publishes nothing");
        store
            .transaction(|t| {
                t.put("111", vpc("vpc-1"));
                Ok(())
            })
            .expect("commit");
        assert!(fired(&vpcs));
        assert!(!fired(&others));
    }
}
