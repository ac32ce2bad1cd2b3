//! Running one case against one server: a closed loop of `concurrency` workers.
//!
//! Each worker sends its next request when the previous one has answered (closed loop), so
//! latencies are service times under that concurrency, not response times under an offered
//! rate: a stalled server slows the loop rather than piling up queued requests (no
//! coordinated-omission correction is attempted). A case stops at its deadline or its request
//! budget, whichever comes first; requests in flight at the deadline finish and count.
//! Latencies are kept in full and sorted for the percentiles.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use serde::Serialize;

use crate::client::S3Client;

/// The longest a single request may take before the case is failed.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(120);

/// What a case does per request.
#[derive(Debug, Clone)]
pub enum Op {
    /// PUT `data` to `{prefix}/r{run}/w{worker}/{n}` (a new key per request, also across runs
    /// and rounds: an ingest pattern).
    PutNew {
        prefix: String,
        data: Bytes,
        chunk: usize,
    },
    /// PUT `data` to `path`, overwriting it each time.
    PutSame {
        path: String,
        data: Bytes,
        chunk: usize,
    },
    /// GET `path`, which must have `len` bytes.
    Get { path: String, len: u64 },
}

/// The bounds of one run of a case.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub concurrency: usize,
    pub duration: Duration,
    pub max_requests: u64,
}

/// The figures of one case against one server.
#[derive(Debug, Clone, Serialize)]
pub struct Measurement {
    pub requests: u64,
    pub bytes: u64,
    pub elapsed_secs: f64,
    pub requests_per_sec: f64,
    pub mb_per_sec: f64,
    pub p50_ms: f64,
    pub p99_ms: f64,
    pub p90_ms: f64,
    pub p999_ms: f64,
    pub max_ms: f64,
    pub mean_ms: f64,
    /// Set when a request failed; the case stopped there.
    pub error: Option<String>,
}

/// The raw outcome of one or more runs, before summarising.
#[derive(Debug, Default)]
pub struct Raw {
    latencies_ns: Vec<u64>,
    bytes: u64,
    elapsed: Duration,
    error: Option<String>,
}

impl Raw {
    /// Adds another run of the same case (rounds interleaved with the other server).
    pub fn merge(&mut self, other: Self) {
        self.latencies_ns.extend(other.latencies_ns);
        self.bytes += other.bytes;
        self.elapsed += other.elapsed;
        self.error = self.error.take().or(other.error);
    }

    #[must_use]
    pub fn failed(&self) -> bool {
        self.error.is_some()
    }

    #[must_use]
    pub fn summary(self) -> Measurement {
        summarize(self.latencies_ns, self.bytes, self.elapsed, self.error)
    }
}

/// Runs `op` under `limits` and measures it.
pub async fn run(client: &S3Client, op: &Op, limits: Limits) -> Raw {
    static RUNS: AtomicU64 = AtomicU64::new(0);
    let run_id = RUNS.fetch_add(1, Ordering::Relaxed);
    let next = Arc::new(AtomicU64::new(0));
    let failed = Arc::new(AtomicBool::new(false));
    let start = Instant::now();
    let deadline = start + limits.duration;
    let mut workers = Vec::with_capacity(limits.concurrency);
    for worker in 0..limits.concurrency {
        let (client, op, next, failed) = (client.clone(), op.clone(), next.clone(), failed.clone());
        workers.push(tokio::spawn(async move {
            let mut latencies = Vec::new();
            let mut bytes = 0u64;
            let mut error = None;
            while Instant::now() < deadline && !failed.load(Ordering::Relaxed) {
                let n = next.fetch_add(1, Ordering::Relaxed);
                if n >= limits.max_requests {
                    break;
                }
                let t0 = Instant::now();
                match tokio::time::timeout(REQUEST_TIMEOUT, once(&client, &op, run_id, worker, n))
                    .await
                {
                    Ok(Ok(b)) => {
                        latencies.push(t0.elapsed().as_nanos() as u64);
                        bytes += b;
                    }
                    Ok(Err(e)) => {
                        error = Some(format!("{e:#}"));
                        failed.store(true, Ordering::Relaxed);
                    }
                    Err(_) => {
                        error = Some(format!("request timed out after {REQUEST_TIMEOUT:?}"));
                        failed.store(true, Ordering::Relaxed);
                    }
                }
            }
            (latencies, bytes, error)
        }));
    }
    let mut latencies = Vec::new();
    let mut bytes = 0;
    let mut error = None;
    for worker in workers {
        match worker.await {
            Ok((l, b, e)) => {
                latencies.extend(l);
                bytes += b;
                error = error.or(e);
            }
            Err(e) => error = error.or(Some(format!("worker task failed: {e}"))),
        }
    }
    Raw {
        latencies_ns: latencies,
        bytes,
        elapsed: start.elapsed(),
        error,
    }
}

async fn once(
    client: &S3Client,
    op: &Op,
    run_id: u64,
    worker: usize,
    n: u64,
) -> anyhow::Result<u64> {
    match op {
        Op::PutNew {
            prefix,
            data,
            chunk,
        } => {
            client
                .put(
                    &format!("{prefix}/r{run_id}/w{worker}/{n}"),
                    data.clone(),
                    *chunk,
                )
                .await
        }
        Op::PutSame { path, data, chunk } => client.put(path, data.clone(), *chunk).await,
        Op::Get { path, len } => client.get(path, *len).await,
    }
}

fn summarize(
    mut latencies: Vec<u64>,
    bytes: u64,
    elapsed: Duration,
    error: Option<String>,
) -> Measurement {
    latencies.sort_unstable();
    let secs = elapsed.as_secs_f64().max(1e-9);
    let ms = |ns: u64| ns as f64 / 1e6;
    let requests = latencies.len() as u64;
    let mean_ms = if latencies.is_empty() {
        0.0
    } else {
        ms(latencies.iter().sum::<u64>()) / latencies.len() as f64
    };
    Measurement {
        requests,
        bytes,
        elapsed_secs: secs,
        requests_per_sec: requests as f64 / secs,
        mb_per_sec: bytes as f64 / secs / 1e6,
        p50_ms: ms(percentile(&latencies, 0.50)),
        p99_ms: ms(percentile(&latencies, 0.99)),
        p90_ms: ms(percentile(&latencies, 0.90)),
        p999_ms: ms(percentile(&latencies, 0.999)),
        max_ms: ms(latencies.last().copied().unwrap_or(0)),
        mean_ms,
        error,
    }
}

/// The nearest-rank percentile of sorted values (0 when empty).
fn percentile(sorted: &[u64], q: f64) -> u64 {
    if sorted.is_empty() {
        return 0;
    }
    let rank = (q * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_rank_percentiles() {
        let v: Vec<u64> = (1..=100).collect();
        assert_eq!(percentile(&v, 0.50), 50);
        assert_eq!(percentile(&v, 0.99), 99);
        assert_eq!(percentile(&[7], 0.99), 7);
        assert_eq!(percentile(&[], 0.5), 0);
    }

    #[test]
    fn merged_rounds_add_up() {
        let mut raw = Raw {
            latencies_ns: vec![1_000_000],
            bytes: 4096,
            elapsed: Duration::from_secs(1),
            error: None,
        };
        raw.merge(Raw {
            latencies_ns: vec![3_000_000],
            bytes: 4096,
            elapsed: Duration::from_secs(1),
            error: Some("boom".into()),
        });
        assert!(raw.failed());
        let m = raw.summary();
        assert_eq!(m.requests, 2);
        assert!((m.requests_per_sec - 1.0).abs() < 1e-9);
        assert!((m.p99_ms - 3.0).abs() < 1e-9);
        assert_eq!(m.error.as_deref(), Some("boom"));
    }

    #[test]
    fn summary_rates() {
        let m = summarize(
            vec![2_000_000, 1_000_000],
            8192,
            Duration::from_secs(2),
            None,
        );
        assert_eq!(m.requests, 2);
        assert!((m.requests_per_sec - 1.0).abs() < 1e-9);
        assert!((m.p50_ms - 1.0).abs() < 1e-9);
        assert!((m.p99_ms - 2.0).abs() < 1e-9);
        assert!((m.mb_per_sec - 0.004_096).abs() < 1e-9);
    }
}
