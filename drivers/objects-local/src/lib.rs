//! Blobs as files on the local disk: Kumo's embedded `ObjectStore`.
//!
//! Layout under the store's directory:
//! - `blobs/XX/<id>` — one file per blob; `XX` is a two-hex-digit fan-out computed from the id
//!   (FNV-1a), so no directory grows past a few thousand entries per million blobs.
//! - `tmp/` — blobs being written. Same filesystem as `blobs/`, so publishing is a rename.
//!
//! Why this write path: bytes go to `tmp/<id>.<random>`, the file is fsynced, then hard-linked
//! to its final name (which fails atomically if the id exists — ids are never overwritten), the
//! fan-out directory is fsynced, and the temporary name is removed. A blob is thus either
//! absent or complete and durable under its id; a crash leaves at most a file in `tmp/`, which
//! [`LocalObjectStore::open`] clears.
//!
//! Why these read paths: ranges up to 64 KiB are read inline (one open+read from the page cache
//! is cheaper than a thread handoff); up to 1 MiB with one blocking call; larger ones by a blocking
//! reader thread in 1 MiB reads that feeds a bounded channel, so memory stays flat however
//! large the blob and throughput is not limited by small reads. The streamed chunks' buffers
//! are recycled ([`ReadBuffers`]): a fresh 1 MiB allocation is fresh pages from the kernel, and
//! faulting them in (and unmapping them after) cost about 15% of a 64 MiB GET's CPU.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use bytes::{Bytes, BytesMut};
use futures::StreamExt;
use kumo_driver_api::{BlobId, BlobInfo, ByteStream, ObjectStore, ObjectStoreError};
use tokio::sync::mpsc;

/// Ranges up to this size are read inline on the calling task.
const INLINE_READ: u64 = 64 * 1024;
/// Reads at most this much in one blocking call; larger ranges are streamed.
const SMALL_READ: u64 = 1024 * 1024;
/// Size of each read of a streamed range.
const READ_CHUNK: usize = 1024 * 1024;
/// Writes are coalesced into buffers of this size.
const WRITE_BUFFER: usize = 1024 * 1024;
/// Chunks in flight between the body stream and the writer thread.
const WRITE_QUEUE: usize = 8;
/// Chunks in flight between the reader thread and the response.
const READ_QUEUE: usize = 4;
/// Idle read buffers kept for reuse ([`READ_CHUNK`] each): enough for two streams in flight.
const READ_BUFFERS_MAX: usize = 2 * (READ_QUEUE + 2);

/// An `ObjectStore` in a local directory.
#[derive(Debug, Clone)]
pub struct LocalObjectStore {
    inner: Arc<Dirs>,
}

#[derive(Debug)]
struct Dirs {
    blobs: PathBuf,
    tmp: PathBuf,
    /// Open handles of small blobs (see [`SmallFiles`]).
    small: SmallFiles,
    /// Buffers of streamed reads, back from the responses that sent them.
    buffers: ReadBuffers,
}

/// Idle buffers for streamed reads. A chunk handed to the response owns its buffer through a
/// [`PooledChunk`], which gives the buffer back here when the response is done with the
/// bytes; at most [`READ_BUFFERS_MAX`] are kept, the rest are freed.
#[derive(Debug, Default, Clone)]
struct ReadBuffers(Arc<std::sync::Mutex<Vec<Vec<u8>>>>);

impl ReadBuffers {
    /// An empty buffer with room for at least `n` bytes.
    fn take(&self, n: usize) -> Vec<u8> {
        let reused = self.0.lock().ok().and_then(|mut idle| idle.pop());
        match reused {
            Some(mut buf) => {
                buf.clear();
                buf.reserve_exact(n);
                buf
            }
            None => Vec::with_capacity(n),
        }
    }

    fn give_back(&self, buf: Vec<u8>) {
        if let Ok(mut idle) = self.0.lock()
            && idle.len() < READ_BUFFERS_MAX
        {
            idle.push(buf);
        }
    }
}

/// The owner of a streamed chunk's bytes: returns its buffer to the pool when dropped.
struct PooledChunk {
    buf: Vec<u8>,
    pool: ReadBuffers,
}

impl AsRef<[u8]> for PooledChunk {
    fn as_ref(&self) -> &[u8] {
        &self.buf
    }
}

impl Drop for PooledChunk {
    fn drop(&mut self) {
        self.pool.give_back(std::mem::take(&mut self.buf));
    }
}

/// Open file handles of recently read small blobs, so a hot small GET costs one `pread`
/// instead of open + read + close. Blobs are immutable, so a handle never goes stale while
/// its blob exists; `delete` drops the handle before and after unlinking. A GET racing a delete
/// may re-insert a handle of an unlinked blob; nobody asks for that id again, and since only
/// blobs up to [`INLINE_READ`] are cached and the map is bounded, at most
/// `SMALL_FILES_MAX × INLINE_READ` bytes of deleted data stay allocated until eviction.
#[derive(Debug, Default)]
struct SmallFiles(std::sync::Mutex<std::collections::HashMap<BlobId, Arc<File>>>);

/// Handles kept open at most (each is a file descriptor).
const SMALL_FILES_MAX: usize = 128;

impl SmallFiles {
    fn get(&self, id: &BlobId) -> Option<Arc<File>> {
        self.0.lock().ok()?.get(id).cloned()
    }

    fn insert(&self, id: &BlobId, file: Arc<File>) {
        if let Ok(mut map) = self.0.lock() {
            if map.len() >= SMALL_FILES_MAX {
                map.clear();
            }
            map.insert(id.clone(), file);
        }
    }

    fn remove(&self, id: &BlobId) {
        if let Ok(mut map) = self.0.lock() {
            map.remove(id);
        }
    }
}

fn fsync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

fn fanout(id: &BlobId) -> String {
    let mut hash: u32 = 0x811c_9dc5;
    for b in id.as_str().bytes() {
        hash ^= u32::from(b);
        hash = hash.wrapping_mul(0x0100_0193);
    }
    format!("{:02x}", hash & 0xff)
}

impl LocalObjectStore {
    /// Opens (or creates) a store in `dir` and removes leftovers of interrupted writes.
    pub fn open(dir: &Path) -> io::Result<Self> {
        let blobs = dir.join("blobs");
        let tmp = dir.join("tmp");
        fs::create_dir_all(&blobs)?;
        fs::create_dir_all(&tmp)?;
        for entry in fs::read_dir(&tmp)? {
            let entry = entry?;
            if let Err(err) = fs::remove_file(entry.path()) {
                tracing::warn!(path = %entry.path().display(), error = %err, "cannot remove temporary blob");
            }
        }
        fsync_dir(dir)?;
        Ok(Self {
            inner: Arc::new(Dirs {
                blobs,
                tmp,
                small: SmallFiles::default(),
                buffers: ReadBuffers::default(),
            }),
        })
    }

    fn path(&self, id: &BlobId) -> PathBuf {
        self.inner.blobs.join(fanout(id)).join(id.as_str())
    }
}

fn not_found(id: &BlobId, err: io::Error) -> ObjectStoreError {
    if err.kind() == io::ErrorKind::NotFound {
        ObjectStoreError::NotFound(id.clone())
    } else {
        ObjectStoreError::Io(err)
    }
}

async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, ObjectStoreError> + Send + 'static,
) -> Result<T, ObjectStoreError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| ObjectStoreError::Io(io::Error::other(e)))?
}

/// The writer thread: drains `rx` into `tmp`, fsyncs and publishes under `final_path`.
fn write_blob(
    mut rx: mpsc::Receiver<Bytes>,
    tmp: &Path,
    final_path: &Path,
    id: &BlobId,
) -> Result<u64, ObjectStoreError> {
    let mut file = OpenOptions::new().write(true).create_new(true).open(tmp)?;
    let mut buf = BytesMut::with_capacity(WRITE_BUFFER);
    let mut len = 0u64;
    while let Some(chunk) = rx.blocking_recv() {
        len += chunk.len() as u64;
        if buf.is_empty() && chunk.len() >= WRITE_BUFFER {
            file.write_all(&chunk)?;
            continue;
        }
        buf.extend_from_slice(&chunk);
        if buf.len() >= WRITE_BUFFER {
            file.write_all(&buf)?;
            buf.clear();
        }
    }
    if !buf.is_empty() {
        file.write_all(&buf)?;
    }
    file.sync_all()?;
    drop(file);
    let dir = final_path
        .parent()
        .ok_or_else(|| io::Error::other("blob path has no parent"))?;
    if !dir.exists() {
        fs::create_dir_all(dir)?;
        if let Some(parent) = dir.parent() {
            fsync_dir(parent)?;
        }
    }
    match fs::hard_link(tmp, final_path) {
        Ok(()) => {}
        Err(err) if err.kind() == io::ErrorKind::AlreadyExists => {
            return Err(ObjectStoreError::AlreadyExists(id.clone()));
        }
        Err(err) => return Err(err.into()),
    }
    fsync_dir(dir)?;
    Ok(len)
}

fn read_range(path: &Path, id: &BlobId, range: &Range<u64>) -> Result<File, ObjectStoreError> {
    let mut file = File::open(path).map_err(|e| not_found(id, e))?;
    let len = file.metadata()?.len();
    if range.start > range.end || range.end > len {
        return Err(ObjectStoreError::InvalidRange {
            start: range.start,
            end: range.end,
            len,
        });
    }
    file.seek(SeekFrom::Start(range.start))?;
    Ok(file)
}

/// Reads a small range with one positioned read (no seek; no stat unless it comes up short),
/// through a cached handle when there is one.
fn read_small(
    cache: &SmallFiles,
    path: &Path,
    id: &BlobId,
    range: &Range<u64>,
) -> Result<Vec<u8>, ObjectStoreError> {
    use std::os::unix::fs::FileExt;
    let file = match cache.get(id) {
        Some(file) => file,
        None => {
            let file = Arc::new(File::open(path).map_err(|e| not_found(id, e))?);
            if file.metadata()?.len() <= INLINE_READ {
                cache.insert(id, file.clone());
            }
            file
        }
    };
    let n = usize::try_from(range.end.saturating_sub(range.start)).map_err(io::Error::other)?;
    let mut buf = vec![0; n];
    let short = || -> Result<Vec<u8>, ObjectStoreError> {
        Err(ObjectStoreError::InvalidRange {
            start: range.start,
            end: range.end,
            len: file.metadata()?.len(),
        })
    };
    if range.start > range.end {
        return short();
    }
    match file.read_exact_at(&mut buf, range.start) {
        Ok(()) => Ok(buf),
        Err(err) if err.kind() == io::ErrorKind::UnexpectedEof => short(),
        Err(err) => Err(err.into()),
    }
}

/// Reads exactly `n` bytes into a fresh buffer without zero-filling it first (`read_to_end`
/// reads into spare capacity; a memset per MiB costs measurable GET throughput).
fn read_exact_vec(file: &mut File, n: usize) -> io::Result<Vec<u8>> {
    read_exact_into(file, n, Vec::with_capacity(n))
}

/// Reads exactly `n` bytes into `buf` (empty, with room for them), as [`read_exact_vec`].
fn read_exact_into(file: &mut File, n: usize, mut buf: Vec<u8>) -> io::Result<Vec<u8>> {
    Read::take(&mut *file, n as u64).read_to_end(&mut buf)?;
    if buf.len() < n {
        return Err(io::Error::new(
            io::ErrorKind::UnexpectedEof,
            "blob shorter than expected",
        ));
    }
    Ok(buf)
}

#[async_trait::async_trait]
impl ObjectStore for LocalObjectStore {
    async fn put(&self, id: &BlobId, mut body: ByteStream) -> Result<u64, ObjectStoreError> {
        let final_path = self.path(id);
        if final_path.exists() {
            return Err(ObjectStoreError::AlreadyExists(id.clone()));
        }
        let tmp = self
            .inner
            .tmp
            .join(format!("{}.{:016x}", id.as_str(), rand_suffix()));
        let (tx, rx) = mpsc::channel::<Bytes>(WRITE_QUEUE);
        let writer = {
            let (tmp, final_path, id) = (tmp.clone(), final_path.clone(), id.clone());
            tokio::task::spawn_blocking(move || write_blob(rx, &tmp, &final_path, &id))
        };
        let mut body_error = None;
        while let Some(chunk) = body.next().await {
            match chunk {
                Ok(chunk) => {
                    if chunk.is_empty() {
                        continue;
                    }
                    if tx.send(chunk).await.is_err() {
                        // The writer failed; its error is reported below.
                        break;
                    }
                }
                Err(err) => {
                    body_error = Some(err);
                    break;
                }
            }
        }
        drop(tx);
        let written = writer
            .await
            .map_err(|e| ObjectStoreError::Io(io::Error::other(e)));
        let cleanup = || {
            let _ = fs::remove_file(&tmp);
        };
        if let Some(err) = body_error {
            cleanup();
            if let Ok(Ok(_)) = &written {
                // Published before we knew the body failed: withdraw it.
                let _ = fs::remove_file(&final_path);
            }
            return Err(ObjectStoreError::Body(err));
        }
        let result = written.and_then(|r| r);
        cleanup();
        result
    }

    async fn get(&self, id: &BlobId, range: Range<u64>) -> Result<ByteStream, ObjectStoreError> {
        let path = self.path(id);
        let want = range.end.saturating_sub(range.start);
        if want <= INLINE_READ {
            // A handoff to the blocking pool costs more than reading a few KiB from the page
            // cache: small reads run right here (the 4 KiB GET rate depends on it).
            let data = read_small(&self.inner.small, &path, id, &range)?;
            return Ok(Box::pin(futures::stream::iter(
                (!data.is_empty()).then(|| Ok(Bytes::from(data))),
            )));
        }
        if want <= SMALL_READ {
            let id = id.clone();
            let data = blocking(move || {
                let mut file = read_range(&path, &id, &range)?;
                let n = usize::try_from(want).map_err(io::Error::other)?;
                Ok(read_exact_vec(&mut file, n)?)
            })
            .await?;
            let stream = futures::stream::iter(if data.is_empty() {
                Vec::new()
            } else {
                vec![Ok(Bytes::from(data))]
            });
            return Ok(Box::pin(stream));
        }
        let file = {
            let (path, id, range) = (path.clone(), id.clone(), range.clone());
            blocking(move || read_range(&path, &id, &range)).await?
        };
        let (tx, rx) = mpsc::channel::<io::Result<Bytes>>(READ_QUEUE);
        let buffers = self.inner.buffers.clone();
        tokio::task::spawn_blocking(move || stream_file(file, want, &buffers, &tx));
        Ok(Box::pin(tokio_stream(rx)))
    }

    async fn len(&self, id: &BlobId) -> Result<u64, ObjectStoreError> {
        let path = self.path(id);
        let id = id.clone();
        blocking(move || Ok(fs::metadata(&path).map_err(|e| not_found(&id, e))?.len())).await
    }

    async fn delete(&self, id: &BlobId) -> Result<(), ObjectStoreError> {
        let path = self.path(id);
        self.inner.small.remove(id);
        let result = blocking(move || match fs::remove_file(&path) {
            Ok(()) => Ok(()),
            Err(err) if err.kind() == io::ErrorKind::NotFound => Ok(()),
            Err(err) => Err(err.into()),
        })
        .await;
        self.inner.small.remove(id);
        result
    }

    async fn list(&self) -> Result<Vec<BlobInfo>, ObjectStoreError> {
        let blobs = self.inner.blobs.clone();
        blocking(move || {
            let mut out = Vec::new();
            for dir in fs::read_dir(&blobs)? {
                let dir = dir?;
                if !dir.file_type()?.is_dir() {
                    continue;
                }
                for entry in fs::read_dir(dir.path())? {
                    let entry = entry?;
                    let Some(name) = entry.file_name().to_str().map(str::to_owned) else {
                        continue;
                    };
                    let Ok(id) = BlobId::new(name) else { continue };
                    let meta = entry.metadata()?;
                    out.push(BlobInfo {
                        id,
                        len: meta.len(),
                        modified: meta.modified()?,
                    });
                }
            }
            Ok(out)
        })
        .await
    }
}

/// Feeds `want` bytes of `file` into `tx` in large reads into recycled buffers; stops when the
/// receiver goes away.
fn stream_file(
    mut file: File,
    mut want: u64,
    buffers: &ReadBuffers,
    tx: &mpsc::Sender<io::Result<Bytes>>,
) {
    while want > 0 {
        let n = usize::try_from(want.min(READ_CHUNK as u64)).unwrap_or(READ_CHUNK);
        let chunk = read_exact_into(&mut file, n, buffers.take(n)).map(|buf| {
            Bytes::from_owner(PooledChunk {
                buf,
                pool: buffers.clone(),
            })
        });
        let failed = chunk.is_err();
        if tx.blocking_send(chunk).is_err() || failed {
            return;
        }
        want -= n as u64;
    }
}

fn tokio_stream(
    rx: mpsc::Receiver<io::Result<Bytes>>,
) -> impl futures::Stream<Item = io::Result<Bytes>> + Send {
    futures::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|item| (item, rx))
    })
}

fn rand_suffix() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0),
    );
    h.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn contract() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = LocalObjectStore::open(dir.path()).expect("open");
        kumo_driver_api::contract::object_store_suite(Arc::new(store)).await;
    }

    #[tokio::test]
    async fn large_blob_streams_in_big_chunks() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = LocalObjectStore::open(dir.path()).expect("open");
        let data: Vec<u8> = (0..5_000_000u32).map(|i| (i % 253) as u8).collect();
        let chunks: Vec<io::Result<Bytes>> = data
            .chunks(16_384)
            .map(|c| Ok(Bytes::copy_from_slice(c)))
            .collect();
        let id = BlobId::new("big").expect("id");
        store
            .put(&id, Box::pin(futures::stream::iter(chunks)))
            .await
            .expect("put");
        let mut stream = store.get(&id, 10..4_999_990).await.expect("get");
        let mut out = Vec::new();
        let mut reads = 0;
        while let Some(chunk) = stream.next().await {
            out.extend_from_slice(&chunk.expect("chunk"));
            reads += 1;
        }
        assert_eq!(out, &data[10..4_999_990]);
        assert!(reads <= 5, "{reads} reads");

        // The chunks' buffers came back to the pool, and a second read through recycled
        // buffers (holding the first read's bytes) returns the right bytes.
        let idle = store.inner.buffers.0.lock().expect("lock").len();
        assert!(
            (1..=READ_BUFFERS_MAX).contains(&idle),
            "{idle} idle buffers"
        );
        let mut stream = store.get(&id, 1_000_003..5_000_000).await.expect("get");
        let mut again = Vec::new();
        while let Some(chunk) = stream.next().await {
            again.extend_from_slice(&chunk.expect("chunk"));
        }
        assert_eq!(again, &data[1_000_003..]);
    }

    #[tokio::test]
    async fn cached_small_handles_never_outlive_a_delete() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = LocalObjectStore::open(dir.path()).expect("open");
        let id = BlobId::new("small").expect("id");
        let one = futures::stream::iter(vec![Ok(Bytes::from_static(b"hello"))]);
        store.put(&id, Box::pin(one)).await.expect("put");
        for _ in 0..2 {
            let mut s = store.get(&id, 1..4).await.expect("get");
            assert_eq!(
                s.next().await.expect("chunk").expect("ok"),
                Bytes::from_static(b"ell")
            );
        }
        assert!(matches!(
            store.get(&id, 0..6).await,
            Err(ObjectStoreError::InvalidRange { len: 5, .. })
        ));
        store.delete(&id).await.expect("delete");
        assert!(matches!(
            store.get(&id, 0..1).await,
            Err(ObjectStoreError::NotFound(_))
        ));
    }

    #[tokio::test]
    async fn interrupted_writes_are_cleared_on_open() {
        let dir = tempfile::tempdir().expect("tempdir");
        drop(LocalObjectStore::open(dir.path()).expect("open"));
        fs::write(dir.path().join("tmp").join("x.1"), b"partial").expect("write");
        let store = LocalObjectStore::open(dir.path()).expect("reopen");
        assert!(store.list().await.expect("list").is_empty());
        assert_eq!(
            fs::read_dir(dir.path().join("tmp")).expect("tmp").count(),
            0
        );
    }
}
