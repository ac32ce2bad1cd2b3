//! The embedded `StateStore`: one redb file.
//!
//! Why redb: it is maintained, pure Rust, ACID with copy-on-write B-trees, and its default
//! durability fsyncs every commit — exactly the guarantee the `StateStore` contract asks for.
//! (`sled`, named on the design card, has been unmaintained since 2021 and its 1.0 is alpha.)
//! redb allows one writer at a time; readers never block.

use std::path::Path;

use kumo_driver_api::state_store::{Row, Table};
use kumo_driver_api::{KeyRange, StateError, StateStore, WriteTxn};
use redb::{ReadableDatabase, ReadableTable, TableDefinition, TableError};

/// A `StateStore` in one redb database file.
pub struct RedbStateStore {
    db: redb::Database,
}

impl std::fmt::Debug for RedbStateStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedbStateStore").finish_non_exhaustive()
    }
}

fn backend(err: impl std::fmt::Display) -> StateError {
    StateError::Backend(err.to_string())
}

fn def(table: Table) -> TableDefinition<'static, &'static [u8], &'static [u8]> {
    TableDefinition::new(table)
}

fn collect<'a, I>(iter: I, prefix: &[u8], limit: usize) -> Result<Vec<Row>, StateError>
where
    I: Iterator<
        Item = Result<
            (
                redb::AccessGuard<'a, &'static [u8]>,
                redb::AccessGuard<'a, &'static [u8]>,
            ),
            redb::StorageError,
        >,
    >,
{
    let mut rows = Vec::new();
    if limit == 0 {
        return Ok(rows);
    }
    for item in iter {
        let (key, value) = item.map_err(backend)?;
        let key = key.value();
        if !key.starts_with(prefix) {
            break;
        }
        rows.push((key.to_vec(), value.value().to_vec()));
        if rows.len() >= limit {
            break;
        }
    }
    Ok(rows)
}

impl RedbStateStore {
    /// Opens (or creates) the database file at `path`.
    pub fn open(path: &Path) -> Result<Self, StateError> {
        let db = redb::Database::create(path)
            .map_err(|e| StateError::Backend(format!("opening {}: {e}", path.display())))?;
        Ok(Self { db })
    }
}

impl StateStore for RedbStateStore {
    fn get(&self, table: Table, key: &[u8]) -> Result<Option<Vec<u8>>, StateError> {
        let txn = self.db.begin_read().map_err(backend)?;
        let table = match txn.open_table(def(table)) {
            Ok(t) => t,
            Err(TableError::TableDoesNotExist(_)) => return Ok(None),
            Err(e) => return Err(backend(e)),
        };
        Ok(table.get(key).map_err(backend)?.map(|v| v.value().to_vec()))
    }

    fn scan(
        &self,
        table: Table,
        prefix: &[u8],
        range: KeyRange<'_>,
        limit: usize,
    ) -> Result<Vec<Row>, StateError> {
        let txn = self.db.begin_read().map_err(backend)?;
        let table = match txn.open_table(def(table)) {
            Ok(t) => t,
            Err(TableError::TableDoesNotExist(_)) => return Ok(Vec::new()),
            Err(e) => return Err(backend(e)),
        };
        let iter = table
            .range::<&[u8]>((range.start, range.end))
            .map_err(backend)?;
        collect(iter, prefix, limit)
    }

    fn write(
        &self,
        f: &mut dyn FnMut(&mut dyn WriteTxn) -> Result<(), StateError>,
    ) -> Result<(), StateError> {
        let txn = self.db.begin_write().map_err(backend)?;
        let mut wrapper = RedbWriteTxn { txn };
        match f(&mut wrapper) {
            Ok(()) => wrapper.txn.commit().map_err(backend),
            Err(err) => {
                wrapper.txn.abort().map_err(backend)?;
                Err(err)
            }
        }
    }
}

struct RedbWriteTxn {
    txn: redb::WriteTransaction,
}

impl WriteTxn for RedbWriteTxn {
    fn get(&mut self, table: Table, key: &[u8]) -> Result<Option<Vec<u8>>, StateError> {
        let table = self.txn.open_table(def(table)).map_err(backend)?;
        Ok(table.get(key).map_err(backend)?.map(|v| v.value().to_vec()))
    }

    fn scan(
        &mut self,
        table: Table,
        prefix: &[u8],
        range: KeyRange<'_>,
        limit: usize,
    ) -> Result<Vec<Row>, StateError> {
        let table = self.txn.open_table(def(table)).map_err(backend)?;
        let iter = table
            .range::<&[u8]>((range.start, range.end))
            .map_err(backend)?;
        collect(iter, prefix, limit)
    }

    fn put(&mut self, table: Table, key: &[u8], value: &[u8]) -> Result<(), StateError> {
        let mut table = self.txn.open_table(def(table)).map_err(backend)?;
        table.insert(key, value).map_err(backend)?;
        Ok(())
    }

    fn delete(&mut self, table: Table, key: &[u8]) -> Result<bool, StateError> {
        let mut table = self.txn.open_table(def(table)).map_err(backend)?;
        Ok(table.remove(key).map_err(backend)?.is_some())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn contract() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = RedbStateStore::open(&dir.path().join("state.redb")).expect("open");
        kumo_driver_api::contract::state_store_suite(&store);
    }

    #[test]
    fn survives_reopen() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("state.redb");
        {
            let store = RedbStateStore::open(&path).expect("open");
            store
                .write(&mut |txn| txn.put("t", b"k", b"v"))
                .expect("write");
        }
        let store = RedbStateStore::open(&path).expect("reopen");
        assert_eq!(store.get("t", b"k").expect("get"), Some(b"v".to_vec()));
    }
}
