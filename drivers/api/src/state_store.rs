//! `StateStore`: Kumo's durable, transactional record of intent.
//!
//! Everything Kumo has acknowledged — accounts, keys, buckets, object metadata, later instances
//! and networks — is a row in a named table. Keys are byte strings ordered lexicographically, so
//! that composite keys (`bucket \0 key \0 version`) give ordered listings by prefix scan.
//!
//! Architecture invariant: a write transaction that returned `Ok` is durable (fsynced) and
//! atomic — after `kill -9` either all of its writes are visible or none are. Calls block; async
//! callers run writes on a blocking thread.

use std::ops::Bound;

/// A table name. Tables come into existence on first write.
pub type Table = &'static str;

/// Errors of a state store.
#[derive(Debug, thiserror::Error)]
pub enum StateError {
    /// The backend failed (I/O, corruption, ...). The message says what and where.
    #[error("state store failure: {0}")]
    Backend(String),
    /// The transaction closure returned an error; nothing was written.
    #[error("transaction aborted")]
    Aborted,
}

/// A range of keys within one table.
#[derive(Debug, Clone, Copy)]
pub struct KeyRange<'a> {
    /// Lower bound.
    pub start: Bound<&'a [u8]>,
    /// Upper bound.
    pub end: Bound<&'a [u8]>,
}

impl<'a> KeyRange<'a> {
    /// Every key of the table.
    #[must_use]
    pub fn all() -> Self {
        Self {
            start: Bound::Unbounded,
            end: Bound::Unbounded,
        }
    }

    /// Keys `>= prefix`; pair it with the `prefix` argument of `scan` to stop at the prefix's end.
    #[must_use]
    pub fn prefix(prefix: &'a [u8]) -> Self {
        Self {
            start: Bound::Included(prefix),
            end: Bound::Unbounded,
        }
    }

    /// Keys `>= start`.
    #[must_use]
    pub fn from(start: &'a [u8]) -> Self {
        Self {
            start: Bound::Included(start),
            end: Bound::Unbounded,
        }
    }

    /// Keys `> after`.
    #[must_use]
    pub fn after(after: &'a [u8]) -> Self {
        Self {
            start: Bound::Excluded(after),
            end: Bound::Unbounded,
        }
    }
}

/// One row: key and value.
pub type Row = (Vec<u8>, Vec<u8>);

/// A durable, transactional, ordered key-value store of named tables.
pub trait StateStore: Send + Sync + 'static {
    /// Reads one value from the latest committed state.
    fn get(&self, table: Table, key: &[u8]) -> Result<Option<Vec<u8>>, StateError>;

    /// Reads up to `limit` rows of `range` in key order, stopping early at the first key that
    /// does not start with `prefix` (pass `b""` for no prefix restriction).
    fn scan(
        &self,
        table: Table,
        prefix: &[u8],
        range: KeyRange<'_>,
        limit: usize,
    ) -> Result<Vec<Row>, StateError>;

    /// Runs `f` inside one serialisable write transaction. When `f` returns `Ok`, the
    /// transaction is committed durably before this returns `Ok`; when `f` returns `Err`,
    /// nothing is written and the error is returned.
    fn write(
        &self,
        f: &mut dyn FnMut(&mut dyn WriteTxn) -> Result<(), StateError>,
    ) -> Result<(), StateError>;
}

/// The operations available inside a write transaction; reads see the transaction's own writes.
pub trait WriteTxn {
    /// Reads one value.
    fn get(&mut self, table: Table, key: &[u8]) -> Result<Option<Vec<u8>>, StateError>;
    /// Reads up to `limit` rows, as [`StateStore::scan`].
    fn scan(
        &mut self,
        table: Table,
        prefix: &[u8],
        range: KeyRange<'_>,
        limit: usize,
    ) -> Result<Vec<Row>, StateError>;
    /// Inserts or replaces a value.
    fn put(&mut self, table: Table, key: &[u8], value: &[u8]) -> Result<(), StateError>;
    /// Removes a value; returns whether it existed.
    fn delete(&mut self, table: Table, key: &[u8]) -> Result<bool, StateError>;
}

/// Runs a transaction whose closure returns a domain result: `Ok` commits, `Err` aborts and is
/// returned unchanged; store failures convert into `E`.
pub fn transact<T, E>(
    store: &dyn StateStore,
    mut f: impl FnMut(&mut dyn WriteTxn) -> Result<T, E>,
) -> Result<T, E>
where
    E: From<StateError>,
{
    let mut outcome: Option<Result<T, E>> = None;
    let result = store.write(&mut |txn| match f(txn) {
        Ok(value) => {
            outcome = Some(Ok(value));
            Ok(())
        }
        Err(err) => {
            outcome = Some(Err(err));
            Err(StateError::Aborted)
        }
    });
    match (result, outcome) {
        (Ok(()), Some(Ok(value))) => Ok(value),
        (_, Some(Err(err))) => Err(err),
        (Err(err), _) => Err(err.into()),
        (Ok(()), None) => Err(StateError::Backend(
            "transaction committed without running its closure".to_owned(),
        )
        .into()),
    }
}
