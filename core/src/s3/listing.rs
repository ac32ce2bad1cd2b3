//! ListObjects (v1, v2) and ListObjectVersions.
//!
//! Both walk an ordered table from a start key, in batches. With a delimiter, the first key
//! under a common prefix emits the prefix and the walk SEEKS past the whole prefix (see
//! [`keys::after_prefix`]) instead of reading every key below it, so a listing costs
//! O(returned entries) scans however many keys share a prefix.

use std::ops::Bound;

use kumo_driver_api::{KeyRange, StateStore};

use crate::iam::Principal;
use crate::records::{blocking, decode};
use crate::{Error, Result};

use super::access::Action;
use super::model::ObjectVersion;
use super::{OBJECTS, ObjectService, VERSIONS, keys};

const BATCH: usize = 1000;
/// The first batch after a seek past a common prefix: the next row is often another prefix's
/// first key, so reading a full batch there would decode rows only to drop them. Batches grow
/// back (×8) while rows are consumed.
const SEEK_BATCH: usize = 8;
/// Upper bound on scan calls of one listing (each returns at least one row or ends it).
const MAX_SCANS: usize = 100_000;

/// A ListObjects request (v1 `marker` and v2 `start-after`/continuation token both become
/// `start_after`).
#[derive(Debug, Clone, Default)]
pub struct ListObjectsRequest {
    /// Bucket.
    pub bucket: String,
    /// Only keys starting with this.
    pub prefix: String,
    /// Group keys by the next occurrence of this after the prefix.
    pub delimiter: Option<String>,
    /// Only keys after this one.
    pub start_after: Option<String>,
    /// At most this many keys plus common prefixes.
    pub max_keys: usize,
}

/// One page of ListObjects.
#[derive(Debug, Clone, Default)]
pub struct ListObjectsPage {
    /// Objects, in key order.
    pub objects: Vec<ObjectVersion>,
    /// Common prefixes, in order.
    pub common_prefixes: Vec<String>,
    /// More entries follow.
    pub is_truncated: bool,
    /// The last key or common prefix returned (the next marker), when truncated.
    pub next_marker: Option<String>,
}

/// A ListObjectVersions request.
#[derive(Debug, Clone, Default)]
pub struct ListVersionsRequest {
    /// Bucket.
    pub bucket: String,
    /// Prefix.
    pub prefix: String,
    /// Delimiter.
    pub delimiter: Option<String>,
    /// Start after this key (all its versions, unless `version_id_marker` is given).
    pub key_marker: Option<String>,
    /// Start after this version of `key_marker`.
    pub version_id_marker: Option<String>,
    /// At most this many versions, delete markers and common prefixes.
    pub max_keys: usize,
}

/// A version in a listing.
#[derive(Debug, Clone)]
pub struct VersionEntry {
    /// The version or delete marker.
    pub version: ObjectVersion,
    /// Whether it is the key's newest.
    pub is_latest: bool,
}

/// One page of ListObjectVersions.
#[derive(Debug, Clone, Default)]
pub struct ListVersionsPage {
    /// Versions and delete markers, by key then newest first.
    pub entries: Vec<VersionEntry>,
    /// Common prefixes.
    pub common_prefixes: Vec<String>,
    /// More entries follow.
    pub is_truncated: bool,
    /// Where the next page starts.
    pub next_key_marker: Option<String>,
    /// Where the next page starts within a key.
    pub next_version_id_marker: Option<String>,
}

/// The common prefix `key` falls under, if any.
fn common_prefix<'k>(key: &'k str, prefix: &str, delimiter: Option<&str>) -> Option<&'k str> {
    let delimiter = delimiter.filter(|d| !d.is_empty())?;
    let rest = key.get(prefix.len()..)?;
    let i = rest.find(delimiter)?;
    key.get(..prefix.len() + i + delimiter.len())
}

enum Item<T> {
    Entry(T),
    Prefix(String),
}

/// One walk over a table keyed `bucket \0 key [\0 …]`.
struct Walk<'a> {
    table: &'static str,
    bucket: &'a str,
    prefix: &'a str,
    delimiter: Option<&'a str>,
    /// Where to start, and whether that key itself is included.
    start: Vec<u8>,
    start_inclusive: bool,
    /// At most this many items.
    max: usize,
    /// Row keys carry a suffix after the object key (`\0 …`).
    with_suffix: bool,
}

/// Walks the table for `bucket`/`prefix` from `start`, grouping by `delimiter`; `f` turns a
/// row into an entry. Stops after `max` items; returns them and whether more exist.
fn walk<T>(
    state: &dyn StateStore,
    w: Walk<'_>,
    mut f: impl FnMut(&str, &[u8]) -> Result<T>,
) -> Result<(Vec<Item<T>>, bool)> {
    let Walk {
        table,
        bucket,
        prefix,
        delimiter,
        mut start,
        mut start_inclusive,
        max,
        with_suffix,
    } = w;
    let scan_prefix = keys::object_key(bucket, prefix);
    let mut items = Vec::new();
    let mut batch = BATCH;
    for _ in 0..MAX_SCANS {
        let range = KeyRange {
            start: if start_inclusive {
                Bound::Included(start.as_slice())
            } else {
                Bound::Excluded(start.as_slice())
            },
            end: Bound::Unbounded,
        };
        let rows = state.scan(table, &scan_prefix, range, batch)?;
        let exhausted = rows.len() < batch;
        if rows.is_empty() {
            return Ok((items, false));
        }
        let mut seeked = false;
        for (row, value) in &rows {
            let key = keys::split_row(bucket.len(), row, with_suffix)?;
            if let Some(cp) = common_prefix(&key, prefix, delimiter) {
                if items.len() >= max {
                    return Ok((items, true));
                }
                items.push(Item::Prefix(cp.to_owned()));
                start = keys::after_prefix(keys::object_key(bucket, cp));
                start_inclusive = true;
                seeked = true;
                break;
            }
            if items.len() >= max {
                return Ok((items, true));
            }
            items.push(Item::Entry(f(&key, value)?));
            start.clone_from(row);
            start_inclusive = false;
        }
        if !seeked && exhausted {
            return Ok((items, false));
        }
        batch = if seeked {
            SEEK_BATCH
        } else {
            (batch * 8).min(BATCH)
        };
    }
    Err(Error::Task("listing exceeded its scan budget".to_owned()))
}

impl ObjectService {
    /// ListObjects / ListObjectsV2.
    pub async fn list_objects(
        &self,
        principal: Option<&Principal>,
        req: ListObjectsRequest,
    ) -> Result<ListObjectsPage> {
        self.authorized_bucket(principal, &req.bucket, Action::ListBucket, None)?;
        let state = self.state.clone();
        blocking(move || {
            let delimiter = req.delimiter.as_deref();
            let (start, inclusive) = match &req.start_after {
                Some(after) if after.as_str() >= req.prefix.as_str() => {
                    match common_prefix(after, &req.prefix, delimiter) {
                        // The marker is (inside) a common prefix already returned: skip it all.
                        Some(cp) => (keys::after_prefix(keys::object_key(&req.bucket, cp)), true),
                        None => (keys::object_key(&req.bucket, after), false),
                    }
                }
                _ => (keys::object_key(&req.bucket, &req.prefix), true),
            };
            let (items, is_truncated) = walk(
                state.as_ref(),
                Walk {
                    table: OBJECTS,
                    bucket: &req.bucket,
                    prefix: &req.prefix,
                    delimiter,
                    start,
                    start_inclusive: inclusive,
                    max: req.max_keys,
                    with_suffix: false,
                },
                |_, v| decode::<ObjectVersion>(OBJECTS, v),
            )?;
            let mut page = ListObjectsPage {
                is_truncated,
                ..ListObjectsPage::default()
            };
            for item in items {
                match item {
                    Item::Entry(v) => {
                        page.next_marker = Some(v.key.clone());
                        page.objects.push(v);
                    }
                    Item::Prefix(p) => {
                        page.next_marker = Some(p.clone());
                        page.common_prefixes.push(p);
                    }
                }
            }
            if !is_truncated {
                page.next_marker = None;
            }
            Ok(page)
        })
        .await
    }

    /// ListObjectVersions (also for unversioned buckets: their versions are `null`).
    pub async fn list_object_versions(
        &self,
        principal: Option<&Principal>,
        req: ListVersionsRequest,
    ) -> Result<ListVersionsPage> {
        self.authorized_bucket(principal, &req.bucket, Action::ListBucketVersions, None)?;
        let state = self.state.clone();
        blocking(move || {
            let delimiter = req.delimiter.as_deref();
            let mut prev_key: Option<String> = None;
            let (start, inclusive) = match (&req.key_marker, &req.version_id_marker) {
                (Some(key), Some(vid)) if !vid.is_empty() => {
                    // Resume after that version of the key.
                    let prefix = keys::key_rows_prefix(&req.bucket, key);
                    let rows =
                        state.scan(VERSIONS, &prefix, KeyRange::prefix(&prefix), usize::MAX)?;
                    let mut start = None;
                    for (row, v) in rows {
                        let version: ObjectVersion = decode(VERSIONS, &v)?;
                        if &version.version_id == vid {
                            start = Some(row);
                            break;
                        }
                    }
                    match start {
                        Some(row) => {
                            prev_key = Some(key.clone());
                            (row, false)
                        }
                        None => (after_key_rows(&req.bucket, key), true),
                    }
                }
                (Some(key), _) => match common_prefix(key, &req.prefix, delimiter) {
                    Some(cp) => (keys::after_prefix(keys::object_key(&req.bucket, cp)), true),
                    None => (after_key_rows(&req.bucket, key), true),
                },
                _ => (keys::object_key(&req.bucket, &req.prefix), true),
            };
            let (items, is_truncated) = walk(
                state.as_ref(),
                Walk {
                    table: VERSIONS,
                    bucket: &req.bucket,
                    prefix: &req.prefix,
                    delimiter,
                    start,
                    start_inclusive: inclusive,
                    max: req.max_keys,
                    with_suffix: true,
                },
                |key, v| {
                    let version: ObjectVersion = decode(VERSIONS, v)?;
                    let is_latest = prev_key.as_deref() != Some(key);
                    prev_key = Some(key.to_owned());
                    Ok(VersionEntry { version, is_latest })
                },
            )?;
            let mut page = ListVersionsPage {
                is_truncated,
                ..ListVersionsPage::default()
            };
            for item in items {
                match item {
                    Item::Entry(e) => {
                        page.next_key_marker = Some(e.version.key.clone());
                        page.next_version_id_marker = Some(e.version.version_id.clone());
                        page.entries.push(e);
                    }
                    Item::Prefix(p) => {
                        page.next_key_marker = Some(p.clone());
                        page.next_version_id_marker = None;
                        page.common_prefixes.push(p);
                    }
                }
            }
            if !is_truncated {
                page.next_key_marker = None;
                page.next_version_id_marker = None;
            }
            Ok(page)
        })
        .await
    }
}

/// The first row key after every version row of `key` (`bucket \0 key \1`).
fn after_key_rows(bucket: &str, key: &str) -> Vec<u8> {
    let mut k = keys::object_key(bucket, key);
    k.push(1);
    k
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};

    use kumo_driver_api::state_store::{Row, Table, WriteTxn};
    use kumo_driver_api::{StateError, StateStore};

    use super::*;

    /// The real redb store, counting the rows its scans hand out.
    struct Counting {
        inner: kumo_state_redb::RedbStateStore,
        rows: AtomicUsize,
    }

    impl StateStore for Counting {
        fn get(&self, table: Table, key: &[u8]) -> Result<Option<Vec<u8>>, StateError> {
            self.inner.get(table, key)
        }
        fn scan(
            &self,
            table: Table,
            prefix: &[u8],
            range: KeyRange<'_>,
            limit: usize,
        ) -> Result<Vec<Row>, StateError> {
            let rows = self.inner.scan(table, prefix, range, limit)?;
            self.rows.fetch_add(rows.len(), Ordering::Relaxed);
            Ok(rows)
        }
        fn write(
            &self,
            f: &mut dyn FnMut(&mut dyn WriteTxn) -> Result<(), StateError>,
        ) -> Result<(), StateError> {
            self.inner.write(f)
        }
    }

    /// 100 "directories" of 200 keys each: a delimiter listing returns the 100 prefixes and
    /// reads about one batch of rows per prefix — the first after each seek is small, so it is
    /// a few rows, not a full batch of keys under the next prefix.
    #[test]
    fn a_delimiter_listing_reads_a_few_rows_per_common_prefix() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = Arc::new(Counting {
            inner: kumo_state_redb::RedbStateStore::open(&dir.path().join("s.redb")).expect("redb"),
            rows: AtomicUsize::new(0),
        });
        store
            .write(&mut |t| {
                for d in 0..100 {
                    for k in 0..200 {
                        t.put(
                            OBJECTS,
                            &keys::object_key("b", &format!("dir{d:03}/key{k:03}")),
                            b"{}",
                        )?;
                    }
                }
                Ok(())
            })
            .expect("rows");
        let walk = |delimiter: Option<&str>| {
            store.rows.store(0, Ordering::Relaxed);
            let (items, more) = walk(
                store.as_ref(),
                Walk {
                    table: OBJECTS,
                    bucket: "b",
                    prefix: "",
                    delimiter,
                    start: keys::object_key("b", ""),
                    start_inclusive: true,
                    max: 1000,
                    with_suffix: false,
                },
                |key, _| Ok(key.to_owned()),
            )
            .expect("walk");
            (items, more, store.rows.load(Ordering::Relaxed))
        };
        let (items, more, rows) = walk(Some("/"));
        assert!(!more);
        let prefixes: Vec<String> = items
            .into_iter()
            .map(|i| match i {
                Item::Prefix(p) => p,
                Item::Entry(k) => panic!("entry {k} under a delimiter"),
            })
            .collect();
        assert_eq!(prefixes.len(), 100);
        assert_eq!(prefixes[0], "dir000/");
        assert_eq!(prefixes[99], "dir099/");
        eprintln!("a delimiter listing of 100 prefixes over 20,000 keys read {rows} rows");
        assert!(rows <= 2_000, "read {rows} rows for 100 prefixes");
        // Without a delimiter, pages of keys stream in full batches.
        let (items, more, rows) = walk(None);
        assert!(more);
        assert_eq!(items.len(), 1000);
        assert!(rows <= 2 * BATCH, "read {rows} rows for a 1000-key page");
    }
}
