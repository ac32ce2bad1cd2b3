//! `RadosObjectStore`: the [`ObjectStore`] over a striped layout in one RADOS pool (see the
//! crate docs for the layout and why).

use std::io;
use std::ops::Range;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use bytes::{Bytes, BytesMut};
use futures::StreamExt;
use kumo_driver_api::{BlobId, BlobInfo, ByteStream, ObjectStore, ObjectStoreError};
use tokio::task::JoinHandle;

use crate::head::{self, Header};
use crate::rados::{Handle, Target};

/// The largest read handed to the consumer at once.
const READ_PIECE: u64 = 4 * 1024 * 1024;
/// Pieces of a `get` read ahead of the consumer (16 MiB, radosgw's GET window too).
const READ_AHEAD: usize = 4;
/// Stripe writes of a `put` in flight at once (16 MiB of 4 MiB stripes: one round trip to the
/// OSD no longer serialises a large upload).
const WRITE_WINDOW: usize = 4;
/// Threads that stat heads in parallel while listing (librados handles are thread-safe; each
/// stat is a round trip to an OSD).
const LIST_THREADS: usize = 16;
/// Removing a blob's stripes never loops more often than this (a 5 TiB blob of 4 MiB stripes
/// has 1.3 M); a header-less head's stripes are found by probing upwards from 0.
const MAX_STRIPES: u64 = 16 * 1024 * 1024;

/// Where the store lives; [`Config::new`] fills the defaults.
#[derive(Debug, Clone)]
pub struct Config {
    /// The `ceph.conf` naming the monitors (and usually the keyring).
    pub conf: PathBuf,
    /// The cephx user without `client.` (`admin`).
    pub user: String,
    /// The user's keyring, when the conf does not name it.
    pub keyring: Option<PathBuf>,
    /// The pool.
    pub pool: String,
    /// A RADOS namespace in the pool (tests use one each).
    pub namespace: Option<String>,
    /// Bytes per data object. Each blob records the size it was written with.
    pub stripe_size: u64,
    /// How long a header-less head may exist before `list` reports it as garbage (a writer
    /// must finish a blob within this time).
    pub pending_grace: Duration,
    /// librados's timeout for each operation against the monitors and OSDs.
    pub op_timeout: Duration,
}

impl Config {
    /// The store in `pool` of the cluster `conf` names, as `client.admin`.
    pub fn new(conf: impl Into<PathBuf>, pool: impl Into<String>) -> Self {
        Self {
            conf: conf.into(),
            user: "admin".to_owned(),
            keyring: None,
            pool: pool.into(),
            namespace: None,
            stripe_size: 4 * 1024 * 1024,
            pending_grace: Duration::from_secs(600),
            op_timeout: Duration::from_secs(60),
        }
    }
}

/// An [`ObjectStore`] in a RADOS pool.
#[derive(Debug, Clone)]
pub struct RadosObjectStore {
    pub(crate) inner: Arc<Inner>,
}

#[derive(Debug)]
pub(crate) struct Inner {
    pub(crate) rados: Handle,
    stripe: u64,
    pending_grace: Duration,
}

/// Runs a librados call on the blocking pool.
async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> io::Result<T> + Send + 'static,
) -> io::Result<T> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| io::Error::other(format!("blocking task failed: {e}")))?
}

/// What a head says.
enum HeadState {
    Missing,
    /// Claimed but without a header: being written, deleted, or left by a crash.
    Pending(SystemTime),
    Complete(Header, SystemTime),
}

impl Inner {
    fn head(&self, id: &str) -> io::Result<HeadState> {
        let Some((size, modified)) = self.rados.stat(id)? else {
            return Ok(HeadState::Missing);
        };
        if size == 0 {
            return Ok(HeadState::Pending(modified));
        }
        let data = self.rados.read(id, 0, head::MAX_LEN)?;
        match Header::decode(&data) {
            Some((header, _)) => Ok(HeadState::Complete(header, modified)),
            None => Err(io::Error::other(format!(
                "blob {id}: unreadable head {:?}",
                String::from_utf8_lossy(&data)
            ))),
        }
    }

    /// The header of a complete blob and, when inline, its bytes, in one round trip (a read;
    /// `get` and `len` need no modification time).
    fn complete(&self, id: &BlobId) -> Result<(Header, Option<Bytes>), ObjectStoreError> {
        let data = match self
            .rados
            .read(id.as_str(), 0, head::MAX_LEN + head::INLINE_MAX)
        {
            Ok(data) => data,
            Err(e) if e.raw_os_error() == Some(libc::ENOENT) => {
                return Err(ObjectStoreError::NotFound(id.clone()));
            }
            Err(e) => return Err(e.into()),
        };
        if data.is_empty() {
            return Err(ObjectStoreError::NotFound(id.clone()));
        }
        let unreadable = || {
            ObjectStoreError::Io(io::Error::other(format!(
                "blob {id}: unreadable head {:?}",
                String::from_utf8_lossy(&data[..data.len().min(head::MAX_LEN)])
            )))
        };
        let (header, at) = Header::decode(&data).ok_or_else(unreadable)?;
        if !header.inline {
            return Ok((header, None));
        }
        let bytes = Bytes::from(data).slice(at..);
        if bytes.len() as u64 != header.len {
            return Err(ObjectStoreError::Io(io::Error::other(format!(
                "blob {id}: inline head holds {} bytes, its header says {}",
                bytes.len(),
                header.len
            ))));
        }
        Ok((header, Some(bytes)))
    }

    /// Removes stripes `0..count`, or (count unknown) every stripe up to the first missing one.
    fn remove_stripes(&self, id: &str, count: Option<u64>) -> io::Result<()> {
        let end = count.unwrap_or(MAX_STRIPES).min(MAX_STRIPES);
        for n in 0..end {
            let existed = self.rados.remove(&head::stripe_name(id, n))?;
            if !existed && count.is_none() {
                break;
            }
        }
        Ok(())
    }

    /// Removes a blob in the order that keeps every intermediate state header-less (hidden).
    fn remove(&self, id: &str) -> io::Result<()> {
        let count = match self.head(id)? {
            HeadState::Missing => return Ok(()),
            HeadState::Pending(_) => None,
            // One removal takes an inline blob whole.
            HeadState::Complete(header, _) if header.inline => {
                self.rados.remove(id)?;
                return Ok(());
            }
            HeadState::Complete(header, _) => {
                self.rados.write_full(id, &[])?;
                Some(header.stripes())
            }
        };
        self.remove_stripes(id, count)?;
        self.rados.remove(id)?;
        Ok(())
    }
}

impl Inner {
    /// What `list` reports for these heads: complete blobs, and header-less heads older than
    /// the grace period (garbage for the collector, never one a writer may still be filling).
    fn judge_heads(&self, ids: &[BlobId], now: SystemTime) -> io::Result<Vec<BlobInfo>> {
        let mut out = Vec::with_capacity(ids.len());
        for id in ids {
            match self.head(id.as_str())? {
                HeadState::Missing => {}
                HeadState::Complete(header, modified) => out.push(BlobInfo {
                    id: id.clone(),
                    len: header.len,
                    modified,
                }),
                HeadState::Pending(modified) => {
                    let age = now.duration_since(modified).unwrap_or_default();
                    if age >= self.pending_grace {
                        out.push(BlobInfo {
                            id: id.clone(),
                            len: 0,
                            modified,
                        });
                    }
                }
            }
        }
        Ok(out)
    }
}

impl RadosObjectStore {
    /// Connects to the cluster and opens the pool (contacts the monitors: call it from
    /// `spawn_blocking` or before the runtime starts).
    pub fn open(config: Config) -> Result<Self, ObjectStoreError> {
        if config.stripe_size == 0 || config.stripe_size > 128 * 1024 * 1024 {
            return Err(ObjectStoreError::Io(io::Error::new(
                io::ErrorKind::InvalidInput,
                "stripe_size must be 1 B to 128 MiB (the OSD's object size limit)",
            )));
        }
        let rados = Handle::connect(&Target {
            conf: &config.conf,
            user: &config.user,
            keyring: config.keyring.as_deref(),
            pool: &config.pool,
            namespace: config.namespace.as_deref(),
            op_timeout: config.op_timeout,
        })?;
        Ok(Self {
            inner: Arc::new(Inner {
                rados,
                stripe: config.stripe_size,
                pending_grace: config.pending_grace,
            }),
        })
    }

    /// Writes the stripes of `body` after the head was claimed; the number written so far
    /// is kept in `written` for the cleanup of a failure.
    /// `buf` holds the body's first bytes, already read.
    async fn write_stripes(
        &self,
        id: &BlobId,
        mut buf: BytesMut,
        mut body: ByteStream,
        written: &mut u64,
    ) -> Result<u64, ObjectStoreError> {
        let stripe = self.inner.stripe;
        let stripe_len = usize::try_from(stripe).unwrap_or(usize::MAX);
        let mut len = buf.len() as u64;
        let mut in_flight: std::collections::VecDeque<JoinHandle<io::Result<()>>> =
            std::collections::VecDeque::with_capacity(WRITE_WINDOW);
        let mut next = 0u64;
        loop {
            let chunk = match body.next().await {
                Some(Ok(chunk)) => Some(chunk),
                Some(Err(e)) => {
                    for write in in_flight.drain(..) {
                        let _ = write.await;
                    }
                    return Err(ObjectStoreError::Body(e));
                }
                None => None,
            };
            let done = chunk.is_none();
            if let Some(chunk) = chunk {
                len += chunk.len() as u64;
                buf.extend_from_slice(&chunk);
            }
            while buf.len() >= stripe_len || (done && !buf.is_empty()) {
                let data = buf.split_to(buf.len().min(stripe_len)).freeze();
                // Up to WRITE_WINDOW stripes are written while the next is read from the body.
                if in_flight.len() >= WRITE_WINDOW
                    && let Some(write) = in_flight.pop_front()
                    && let Err(e) = join(write).await
                {
                    for write in in_flight.drain(..) {
                        let _ = write.await;
                    }
                    return Err(e);
                }
                let inner = Arc::clone(&self.inner);
                let name = head::stripe_name(id.as_str(), next);
                in_flight.push_back(tokio::task::spawn_blocking(move || {
                    inner.rados.write_full(&name, &data)
                }));
                next += 1;
                *written = next;
            }
            if done {
                break;
            }
        }
        let mut failed = None;
        for write in in_flight.drain(..) {
            if let Err(e) = join(write).await {
                failed.get_or_insert(e);
            }
        }
        if let Some(e) = failed {
            return Err(e);
        }
        Ok(len)
    }
}

/// `(stripe, offset in it, length)` of each piece of a range.
struct Pieces {
    next: u64,
    end: u64,
    stripe: u64,
}

impl Iterator for Pieces {
    type Item = (u64, u64, usize);

    fn next(&mut self) -> Option<Self::Item> {
        if self.next >= self.end {
            return None;
        }
        let n = self.next / self.stripe;
        let offset = self.next % self.stripe;
        let len = (self.stripe - offset)
            .min(self.end - self.next)
            .min(READ_PIECE);
        self.next += len;
        // READ_PIECE fits any usize this code runs on.
        Some((n, offset, usize::try_from(len).unwrap_or(usize::MAX)))
    }
}

async fn join(write: JoinHandle<io::Result<()>>) -> Result<(), ObjectStoreError> {
    write
        .await
        .map_err(|e| io::Error::other(format!("stripe write task failed: {e}")))??;
    Ok(())
}

#[async_trait::async_trait]
impl ObjectStore for RadosObjectStore {
    async fn put(&self, id: &BlobId, body: ByteStream) -> Result<u64, ObjectStoreError> {
        // The claim locks (and creates) the head; a head that already carries a header but
        // lost its lock is still a blob and is never overwritten. Both round trips run at once
        // (a small PUT is a few round trips): the stat may see the head before the claim
        // created it (absent) or after (empty); either way no other blob holds the name.
        let (inner, name) = (Arc::clone(&self.inner), id.to_string());
        let claim = blocking(move || inner.rados.claim(&name));
        let (inner, name) = (Arc::clone(&self.inner), id.to_string());
        let stat = blocking(move || inner.rados.stat(&name));
        let (claim, stat) = tokio::join!(claim, stat);
        let claimed = claim? && stat?.is_none_or(|(size, _)| size == 0);
        if !claimed {
            return Err(ObjectStoreError::AlreadyExists(id.clone()));
        }
        let stripe = self.inner.stripe;
        let mut body = body;
        let mut written = 0;
        // A body that ends within INLINE_MAX (and one stripe) goes into the head with its header.
        let inline_max = head::INLINE_MAX.min(usize::try_from(stripe).unwrap_or(usize::MAX));
        let mut first = BytesMut::new();
        let mut ended = false;
        let mut failed = None;
        while first.len() <= inline_max {
            match body.next().await {
                Some(Ok(chunk)) => first.extend_from_slice(&chunk),
                Some(Err(e)) => {
                    failed = Some(ObjectStoreError::Body(e));
                    break;
                }
                None => {
                    ended = true;
                    break;
                }
            }
        }
        let result = match failed {
            Some(e) => Err(e),
            None if ended && first.len() <= inline_max => {
                let len = first.len() as u64;
                let head = Header::encode_inline(stripe, &first);
                let (inner, name) = (Arc::clone(&self.inner), id.to_string());
                return match blocking(move || inner.rados.write_full(&name, &head)).await {
                    Ok(()) => Ok(len),
                    Err(e) => {
                        let (inner, name) = (Arc::clone(&self.inner), id.to_string());
                        if let Err(cleanup) = blocking(move || inner.rados.remove(&name)).await {
                            tracing::warn!(%id, %cleanup, "a failed put left data for the collector");
                        }
                        Err(e.into())
                    }
                };
            }
            None => self.write_stripes(id, first, body, &mut written).await,
        };
        let inner = Arc::clone(&self.inner);
        let name = id.to_string();
        match result {
            Ok(len) => {
                let header = Header {
                    len,
                    stripe,
                    inline: false,
                }
                .encode();
                blocking(move || inner.rados.write_full(&name, &header)).await?;
                Ok(len)
            }
            Err(e) => {
                // Nothing of a failed put stays: stripes, then the (header-less) head.
                let cleanup = blocking(move || {
                    inner.remove_stripes(&name, Some(written))?;
                    inner.rados.remove(&name).map(|_| ())
                })
                .await;
                if let Err(cleanup) = cleanup {
                    tracing::warn!(%id, %cleanup, "a failed put left data for the collector");
                }
                Err(e)
            }
        }
    }

    async fn get(&self, id: &BlobId, range: Range<u64>) -> Result<ByteStream, ObjectStoreError> {
        let inner = Arc::clone(&self.inner);
        let owned = id.clone();
        let (header, inline) = tokio::task::spawn_blocking(move || inner.complete(&owned))
            .await
            .map_err(|e| io::Error::other(format!("blocking task failed: {e}")))??;
        if range.start > range.end || range.end > header.len {
            return Err(ObjectStoreError::InvalidRange {
                start: range.start,
                end: range.end,
                len: header.len,
            });
        }
        if let Some(bytes) = inline {
            // The range is within the blob (checked above), hence within `bytes`.
            let (start, end) = (
                usize::try_from(range.start).unwrap_or(usize::MAX),
                usize::try_from(range.end).unwrap_or(usize::MAX),
            );
            let pieces: Vec<io::Result<Bytes>> = if start < end {
                vec![Ok(bytes.slice(start..end))]
            } else {
                Vec::new()
            };
            return Ok(Box::pin(futures::stream::iter(pieces)));
        }
        // The range in pieces that never cross a stripe; READ_AHEAD of them in flight.
        let pieces = Pieces {
            next: range.start,
            end: range.end,
            stripe: header.stripe,
        };
        let inner = Arc::clone(&self.inner);
        let id = id.to_string();
        let stream = futures::stream::iter(pieces)
            .map(move |(n, offset, want)| {
                let inner = Arc::clone(&inner);
                let name = head::stripe_name(&id, n);
                blocking(move || {
                    let data = inner.rados.read(&name, offset, want)?;
                    if data.len() == want {
                        Ok(Bytes::from(data))
                    } else {
                        Err(io::Error::other(format!(
                            "{name} is shorter than its blob's header says"
                        )))
                    }
                })
            })
            .buffered(READ_AHEAD);
        Ok(Box::pin(stream))
    }

    async fn len(&self, id: &BlobId) -> Result<u64, ObjectStoreError> {
        let inner = Arc::clone(&self.inner);
        let id = id.clone();
        tokio::task::spawn_blocking(move || inner.complete(&id).map(|(h, _)| h.len))
            .await
            .map_err(|e| io::Error::other(format!("blocking task failed: {e}")))?
    }

    async fn delete(&self, id: &BlobId) -> Result<(), ObjectStoreError> {
        let inner = Arc::clone(&self.inner);
        let id = id.to_string();
        Ok(blocking(move || inner.remove(&id)).await?)
    }

    async fn list(&self) -> Result<Vec<BlobInfo>, ObjectStoreError> {
        let inner = Arc::clone(&self.inner);
        Ok(blocking(move || {
            let now = SystemTime::now();
            // Stripes carry a `.`, which ids never do.
            let heads: Vec<BlobId> = inner
                .rados
                .names()?
                .into_iter()
                .filter_map(|name| BlobId::new(name).ok())
                .collect();
            let chunk = heads.len().div_ceil(LIST_THREADS).max(1);
            let judged: Vec<io::Result<Vec<BlobInfo>>> = std::thread::scope(|scope| {
                let workers: Vec<_> = heads
                    .chunks(chunk)
                    .map(|ids| scope.spawn(|| inner.judge_heads(ids, now)))
                    .collect();
                workers
                    .into_iter()
                    .map(|w| {
                        w.join()
                            .unwrap_or_else(|_| Err(io::Error::other("listing thread panicked")))
                    })
                    .collect()
            });
            let mut out = Vec::with_capacity(heads.len());
            for part in judged {
                out.extend(part?);
            }
            Ok(out)
        })
        .await?)
    }
}
