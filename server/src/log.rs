//! The log writer: lines are appended to a shared buffer that a background thread writes to
//! stderr every few milliseconds, many lines per `write`.
//!
//! Why not a channel with a writer thread (`tracing-appender`): that thread wakes for every
//! line, and on a busy server its wake-ups cost about a sixth of a small GET's CPU. Here a line
//! costs one short lock and a copy; the writer thread wakes on a timer. Nothing is dropped: past
//! [`MAX_PENDING`] bytes the logging thread writes the backlog itself. A `kill -9` can lose the
//! last [`INTERVAL`] of lines; everything up to a clean exit is written (the [`LogGuard`]).

use std::io::Write;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::Duration;

/// How often pending lines are written.
pub const INTERVAL: Duration = Duration::from_millis(20);
/// Pending bytes beyond which the logging thread writes them itself.
pub const MAX_PENDING: usize = 4 << 20;

#[derive(Default)]
struct Pending {
    buf: Vec<u8>,
    closed: bool,
}

#[derive(Default)]
struct Shared {
    pending: Mutex<Pending>,
    wake: Condvar,
    /// Serialises writes to stderr, so lines keep their order when a logging thread writes a
    /// backlog itself.
    out: Mutex<()>,
}

impl Shared {
    fn pending(&self) -> MutexGuard<'_, Pending> {
        self.pending.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn write_out(&self, bytes: &[u8]) {
        let _order = self.out.lock().unwrap_or_else(|p| p.into_inner());
        emit(bytes);
    }

    /// Takes the pending bytes and writes them, holding the output lock across both so that
    /// two flushes cannot reorder lines.
    fn flush(&self) {
        let _order = self.out.lock().unwrap_or_else(|p| p.into_inner());
        let bytes = std::mem::take(&mut self.pending().buf);
        if !bytes.is_empty() {
            emit(&bytes);
        }
    }
}

/// Writes to stderr (the caller holds the output lock).
fn emit(bytes: &[u8]) {
    let mut err = std::io::stderr().lock();
    // Nowhere to report a failing stderr.
    let _ = err.write_all(bytes);
    let _ = err.flush();
}

/// A `MakeWriter` for `tracing_subscriber::fmt` (cheap to clone).
#[derive(Clone)]
pub struct BatchWriter(Arc<Shared>);

/// Writes what is pending and stops the writer thread when dropped.
pub struct LogGuard {
    shared: Arc<Shared>,
    thread: Option<JoinHandle<()>>,
}

/// A writer and the guard that flushes it at exit.
pub fn batch_writer() -> (BatchWriter, LogGuard) {
    let shared = Arc::new(Shared::default());
    let s = shared.clone();
    let thread = std::thread::Builder::new()
        .name("log-writer".into())
        .spawn(move || {
            loop {
                let closed = {
                    let pending = s.pending();
                    let (pending, _) = s
                        .wake
                        .wait_timeout(pending, INTERVAL)
                        .unwrap_or_else(|p| p.into_inner());
                    pending.closed
                };
                s.flush();
                if closed {
                    return;
                }
            }
        })
        .ok();
    (BatchWriter(shared.clone()), LogGuard { shared, thread })
}

impl Drop for LogGuard {
    fn drop(&mut self) {
        self.shared.pending().closed = true;
        self.shared.wake.notify_all();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
        self.shared.flush();
    }
}

impl Write for BatchWriter {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        let mut pending = self.0.pending();
        if pending.closed {
            drop(pending);
            self.0.write_out(bytes);
            return Ok(bytes.len());
        }
        pending.buf.extend_from_slice(bytes);
        if pending.buf.len() >= MAX_PENDING {
            drop(pending);
            self.0.flush();
        }
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for BatchWriter {
    type Writer = BatchWriter;

    fn make_writer(&'a self) -> Self::Writer {
        self.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_are_kept_in_order_and_flushed_at_exit() {
        let (writer, guard) = batch_writer();
        let mut w = writer.clone();
        for i in 0..1000 {
            w.write_all(format!("line {i}\n").as_bytes())
                .expect("write");
        }
        let shared = guard.shared.clone();
        drop(guard);
        assert!(shared.pending().buf.is_empty());
        assert!(shared.pending().closed);
        // After close, writes go straight out rather than into a buffer nobody flushes.
        w.write_all(b"late\n").expect("write");
        assert!(shared.pending().buf.is_empty());
    }
}
