//! A read-through cache of bucket records.
//!
//! Every object request reads its bucket (owner, ACL, versioning) before anything else; reading
//! and decoding the row each time was about a twentieth of a 4 KiB GET's CPU. Bucket records
//! change rarely and only through this service (`ObjectService::write_buckets`), so each write
//! bumps a generation after its commit, and an entry is used only while the generation it was
//! read under is current.
//!
//! Why this is safe: an entry is stored with the generation read *before* the row was read. A
//! write that commits after that read bumps the generation before its caller is answered, so
//! the entry is never served once any write to a bucket has been acknowledged; at worst an
//! entry is dropped needlessly.

use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use super::model::Bucket;

/// At most this many buckets are cached; beyond it the cache starts over.
const CAPACITY: usize = 4096;

#[derive(Debug, Default)]
pub(crate) struct BucketCache {
    generation: AtomicU64,
    entries: Mutex<HashMap<String, (u64, Bucket)>>,
}

impl BucketCache {
    /// The generation to read a row under (read it before reading the row).
    pub(crate) fn generation(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
    }

    /// The cached record of `name`, if it is current.
    pub(crate) fn get(&self, name: &str) -> Option<Bucket> {
        let current = self.generation();
        let entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        match entries.get(name) {
            Some((g, bucket)) if *g == current => Some(bucket.clone()),
            _ => None,
        }
    }

    /// Remembers `bucket` as read under `generation`.
    pub(crate) fn put(&self, generation: u64, bucket: &Bucket) {
        let mut entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        if entries.len() >= CAPACITY {
            entries.clear();
        }
        entries.insert(bucket.name.clone(), (generation, bucket.clone()));
    }

    /// A bucket record changed (called after the commit, before the caller is answered).
    pub(crate) fn invalidate(&self) {
        self.generation.fetch_add(1, Ordering::AcqRel);
        self.entries
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clear();
    }
}
