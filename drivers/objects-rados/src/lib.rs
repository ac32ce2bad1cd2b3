//! Kumo's Ceph [`ObjectStore`](kumo_driver_api::ObjectStore): blobs striped over RADOS
//! objects in one pool (optionally one RADOS namespace of it), through librados.
//!
//! Why striping: a RADOS object should stay small (the OSD refuses objects over
//! `osd_max_object_size`, 128 MiB by default, and recovers an object as one unit), while a
//! blob may be a 5 GiB S3 object. A blob is therefore a head object plus data objects of a
//! configurable stripe size (4 MiB by default), written in order.
//!
//! Layout of blob `<id>` (ids are `[A-Za-z0-9_-]`, never containing `.`):
//! - `<id>` — the head. Claimed first with an exclusive cls_lock (which creates the empty
//!   object and fails with EBUSY for a second claimant, so two writers of one id cannot both
//!   win and an existing blob is never overwritten); its data is written last: a one-line
//!   header with the blob's length and stripe size. A head without data is a blob being
//!   written (or deleted, or interrupted by a crash): `get`/`len` answer `NotFound`.
//! - `<id>.<n>` — stripe `n` (decimal), bytes `n*stripe .. (n+1)*stripe` of the blob.
//! - A blob of at most 64 KiB has no stripes: its bytes follow the header in the head, written
//!   with it in one operation (see `head`), so a small object costs one write and one read.
//!
//! Crash safety: an acknowledged RADOS write is durable, and a blob becomes visible only when
//! its header lands, after every stripe did. A crash mid-`put` leaves a header-less head
//! and some stripes; a crash mid-`delete` the same (the header goes first, then stripes,
//! then the head). [`ObjectStore::list`](kumo_driver_api::ObjectStore::list) reports such a
//! head once it is older than a grace period (so the core's collector, which deletes every
//! unreferenced blob, removes it and its stripes) but never one a writer may still be filling.
//!
//! Async on the outside: the `ceph` crate wraps librados's synchronous calls, so every call
//! runs on tokio's blocking pool; `put` overlaps reading the body with writing the previous
//! stripe, `get` keeps two pieces (at most 4 MiB each, never crossing a stripe) in flight, and
//! `list` (the collector's, over every blob of the pool) reads heads from 16 threads.

mod head;
mod rados;
mod store;

pub use store::{Config, RadosObjectStore};

#[cfg(test)]
mod tests;
