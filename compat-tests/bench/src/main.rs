//! `kumo-bench`: S3 speed of a real Kumo, as ratios against a baseline measured in the same run.
//!
//! The machines this runs on are shared and noisy, so absolute numbers mean little; each case
//! runs against a minimal in-process hyper server (the baseline: what HTTP alone costs on this
//! machine, now) and against the Kumo release binary back to back, and the report gives
//! kumo/baseline. See `workload` for the load model (closed loop) and `report` for the table.
//!
//! `cargo run --release -p kumo-bench -- --kumo target/release/kumo`
//!
//! Side by side with another S3 server instead of the hyper baseline (`cargo xtask bench
//! --ceph`: radosgw and Kumo with `backend = "rados"` on one throwaway Ceph cluster):
//! `--baseline-s3 127.0.0.1:PORT --baseline-name radosgw --baseline-access-key …
//! --baseline-secret-key … --kumo-config kumo.toml`. The same cases run against both.

mod baseline;
mod body;
mod client;
mod kumo;
mod report;
mod sigv4;
mod workload;

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use bytes::Bytes;
use clap::Parser;
use serde::Serialize;

use crate::client::S3Client;
use crate::report::{CaseResult, Metric};
use crate::workload::{Limits, Op};

const BUCKET: &str = "bench";
const SMALL_SIZE: usize = 4 * 1024;
/// Upload frames of large bodies (slices of one buffer, never copies).
const UPLOAD_CHUNK: usize = 256 * 1024;
/// The longest warm-up of a case (connections opened, caches filled), not measured.
const WARMUP: Duration = Duration::from_millis(500);

#[derive(Debug, Parser)]
#[command(
    name = "kumo-bench",
    about = "S3 benchmark of Kumo against an in-process hyper baseline"
)]
struct Args {
    /// The kumo binary (default: target/release/kumo of the workspace).
    #[arg(long)]
    kumo: Option<PathBuf>,
    /// Seconds per case and server (each case also stops at its request budget).
    #[arg(long, default_value_t = 5.0)]
    duration: f64,
    /// Each case's time and budget are split into this many rounds, alternating baseline and
    /// Kumo (baseline, kumo, baseline, kumo…), so that drifting load on a shared machine hits
    /// both alike.
    #[arg(long, default_value_t = 2)]
    rounds: u32,
    /// Request budget of each 4 KiB case.
    #[arg(long, default_value_t = 1_000_000)]
    max_requests: u64,
    /// Request budget of each large-object case (high enough that the duration usually
    /// decides: ten 64 MiB transfers are too few to average out a shared machine's noise).
    #[arg(long, default_value_t = 50)]
    large_max_requests: u64,
    /// Size of the large object, MiB.
    #[arg(long, default_value_t = 64)]
    large_mib: usize,
    /// Run only these cases: comma-separated, case-insensitive; a filter equal to a case name
    /// selects that case, any other selects the cases containing it (e.g. `--cases "GET 4"`).
    #[arg(long, value_delimiter = ',')]
    cases: Vec<String>,
    /// Write the raw figures here as JSON.
    #[arg(long)]
    json: Option<PathBuf>,
    /// Copy Kumo's log here at the end.
    #[arg(long)]
    kumo_log: Option<PathBuf>,
    /// Exit non-zero when a target is missed or a case failed.
    #[arg(long)]
    enforce: bool,
    /// Configuration file for the Kumo under test (`kumo serve --config`).
    #[arg(long)]
    kumo_config: Option<PathBuf>,
    /// Compare with this S3 server (HOST:PORT, plain HTTP) instead of the in-process hyper
    /// baseline; the cases' targets (which are relative to bare HTTP) then do not apply.
    #[arg(long, requires_all = ["baseline_access_key", "baseline_secret_key"])]
    baseline_s3: Option<String>,
    /// Name of that server in the report.
    #[arg(long, default_value = "radosgw")]
    baseline_name: String,
    /// Access key of that server's user.
    #[arg(long)]
    baseline_access_key: Option<String>,
    /// Secret key of that server's user.
    #[arg(long)]
    baseline_secret_key: Option<String>,
}

/// What the cases run against besides Kumo.
enum Reference {
    /// The in-process hyper server.
    Hyper(baseline::Baseline),
    /// Another S3 server, with its own user.
    S3 {
        addr: String,
        credentials: sigv4::Credentials,
    },
}

/// One case of the plan.
#[derive(Debug, Clone)]
struct Case {
    name: String,
    size: usize,
    concurrency: usize,
    put: bool,
    metrics: Vec<Metric>,
    target: Option<f64>,
}

fn plan(args: &Args) -> Vec<Case> {
    let small_metrics = vec![Metric::RequestsPerSec, Metric::P50Ms, Metric::P99Ms];
    let large = args.large_mib * 1024 * 1024;
    let mut cases = Vec::new();
    for put in [true, false] {
        for concurrency in [1, 16] {
            cases.push(Case {
                name: format!("{} 4 KiB c={concurrency}", if put { "PUT" } else { "GET" }),
                size: SMALL_SIZE,
                concurrency,
                put,
                metrics: small_metrics.clone(),
                target: (!put && args.baseline_s3.is_none()).then_some(0.5),
            });
        }
    }
    for put in [true, false] {
        cases.push(Case {
            name: format!(
                "{} {} MiB c=1",
                if put { "PUT" } else { "GET" },
                args.large_mib
            ),
            size: large,
            concurrency: 1,
            put,
            metrics: vec![Metric::MbPerSec],
            target: (!put && args.baseline_s3.is_none()).then_some(0.7),
        });
    }
    if !args.cases.is_empty() {
        let filters: Vec<String> = args.cases.iter().map(|f| f.trim().to_lowercase()).collect();
        let names: Vec<String> = cases.iter().map(|c| c.name.to_lowercase()).collect();
        // A filter naming a case exactly selects only it ("GET 4 KiB c=1" not also c=16).
        let selects = |filter: &String, name: &String| {
            if names.contains(filter) {
                name == filter
            } else {
                name.contains(filter.as_str())
            }
        };
        cases.retain(|c| {
            let name = c.name.to_lowercase();
            filters.iter().any(|f| selects(f, &name))
        });
    }
    cases
}

fn object_path(size: usize) -> String {
    format!("/{BUCKET}/obj-{size}")
}

fn main() -> anyhow::Result<std::process::ExitCode> {
    let args = Args::parse();
    anyhow::ensure!(
        args.duration > 0.0 && args.duration.is_finite(),
        "--duration must be positive"
    );
    let kumo_bin = args.kumo.clone().unwrap_or_else(default_kumo_path);
    let cases = plan(&args);
    anyhow::ensure!(!cases.is_empty(), "--cases matched no case");

    // Payloads, shared by the baseline (GET bodies) and the client (PUT bodies).
    let mut payloads: HashMap<usize, Bytes> = HashMap::new();
    for case in &cases {
        payloads
            .entry(case.size)
            .or_insert_with(|| body::payload(case.size));
    }
    let reference = match &args.baseline_s3 {
        Some(addr) => Reference::S3 {
            addr: addr.clone(),
            credentials: sigv4::Credentials {
                access_key_id: args.baseline_access_key.clone().unwrap_or_default(),
                secret_access_key: args.baseline_secret_key.clone().unwrap_or_default(),
            },
        },
        None => {
            let objects = payloads
                .iter()
                .map(|(size, data)| (object_path(*size), data.clone()))
                .collect();
            Reference::Hyper(baseline::Baseline::start(objects, 2)?)
        }
    };

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("bench-client")
        .build()?;
    let mut kumo = kumo::Kumo::spawn(&kumo_bin, args.kumo_config.as_deref())?;
    let outcome = runtime.block_on(run_all(&args, &cases, &payloads, &reference, &mut kumo));
    let stopped = kumo.stop();
    if let Some(path) = &args.kumo_log {
        std::fs::copy(&kumo.log_path, path)
            .with_context(|| format!("copying the kumo log to {}", path.display()))?;
    }
    if let Reference::Hyper(baseline) = reference {
        baseline.stop();
    }
    runtime.shutdown_timeout(Duration::from_secs(1));
    let results = outcome?;
    if let Err(e) = stopped {
        eprintln!("warning: {e:#}");
    }

    let rows = report::rows(&results);
    let label = match &args.baseline_s3 {
        Some(_) => args.baseline_name.as_str(),
        None => "baseline",
    };
    println!("{}", report::markdown(&rows, label));
    println!(
        "Closed loop (each worker sends its next request when the last one answered); {} s per case and server \
         in {} alternating rounds; latency ratios above 1 mean Kumo is slower.",
        args.duration,
        args.rounds.max(1)
    );
    if let Some(path) = &args.json {
        let doc = JsonReport {
            generated_at: time::OffsetDateTime::now_utc()
                .format(&time::format_description::well_known::Rfc3339)
                .unwrap_or_default(),
            kumo_binary: kumo_bin.display().to_string(),
            duration_secs: args.duration,
            rounds: args.rounds.max(1),
            cases: &results,
            rows: &rows,
        };
        std::fs::write(path, serde_json::to_vec_pretty(&doc)?)
            .with_context(|| format!("writing {}", path.display()))?;
    }
    let failed = rows
        .iter()
        .any(|r| r.pass == Some(false) || r.error.is_some());
    Ok(if args.enforce && failed {
        std::process::ExitCode::FAILURE
    } else {
        std::process::ExitCode::SUCCESS
    })
}

#[derive(Debug, Serialize)]
struct JsonReport<'a> {
    generated_at: String,
    kumo_binary: String,
    duration_secs: f64,
    rounds: u32,
    cases: &'a [CaseResult],
    rows: &'a [report::Row],
}

/// `target/release/kumo` relative to the current directory, else to this crate's workspace.
fn default_kumo_path() -> PathBuf {
    let relative = PathBuf::from("target/release/kumo");
    if relative.is_file() {
        return relative;
    }
    PathBuf::from(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../target/release/kumo"
    ))
}

async fn run_all(
    args: &Args,
    cases: &[Case],
    payloads: &HashMap<usize, Bytes>,
    reference: &Reference,
    kumo: &mut kumo::Kumo,
) -> anyhow::Result<Vec<CaseResult>> {
    // The health check needs no key; the real one is read once Kumo has written it.
    let probe = S3Client::new(
        kumo.addr.to_string(),
        Arc::new(sigv4::Signer::new(
            sigv4::Credentials {
                access_key_id: String::new(),
                secret_access_key: String::new(),
            },
            "us-east-1",
            "s3",
        )),
    );
    kumo.wait_healthy(&probe).await?;
    let signer = Arc::new(sigv4::Signer::new(kumo.credentials()?, "us-east-1", "s3"));
    let kumo_client = S3Client::new(kumo.addr.to_string(), signer.clone());
    let base_client = match reference {
        Reference::Hyper(baseline) => S3Client::new(baseline.addr.to_string(), signer),
        Reference::S3 { addr, credentials } => S3Client::new(
            addr.clone(),
            Arc::new(sigv4::Signer::new(credentials.clone(), "us-east-1", "s3")),
        ),
    };
    eprintln!(
        "kumo {} on {} (log {})",
        args.kumo
            .as_deref()
            .map_or("".into(), |p| p.display().to_string()),
        kumo.addr,
        kumo.log_path.display()
    );
    match reference {
        Reference::Hyper(baseline) => eprintln!("baseline on {}", baseline.addr),
        Reference::S3 { addr, .. } => {
            eprintln!("baseline: {} on {addr}", args.baseline_name);
            if let Err(e) = prepare(&base_client, payloads).await {
                eprintln!(
                    "warning: preparing {} failed (the cases will show the errors): {e:#}",
                    args.baseline_name
                );
            }
        }
    }

    if let Err(e) = prepare(&kumo_client, payloads).await {
        eprintln!("warning: preparing Kumo failed (the cases will show the errors): {e:#}");
    }

    let duration = Duration::from_secs_f64(args.duration);
    let label = match reference {
        Reference::Hyper(_) => "baseline",
        Reference::S3 { .. } => args.baseline_name.as_str(),
    };
    let mut results = Vec::new();
    for case in cases {
        let large = case.size > SMALL_SIZE;
        let data = payloads.get(&case.size).cloned().unwrap_or_default();
        let path = object_path(case.size);
        let op = match (case.put, large) {
            (true, false) => Op::PutNew {
                prefix: format!("/{BUCKET}/put-{}-c{}", case.size, case.concurrency),
                data,
                chunk: UPLOAD_CHUNK,
            },
            (true, true) => Op::PutSame {
                path,
                data,
                chunk: UPLOAD_CHUNK,
            },
            (false, _) => Op::Get {
                path,
                len: case.size as u64,
            },
        };
        let limits = Limits {
            concurrency: case.concurrency,
            duration,
            max_requests: if large {
                args.large_max_requests
            } else {
                args.max_requests
            },
        };
        let warmup = Limits {
            duration: WARMUP.min(duration),
            max_requests: if large {
                1
            } else {
                50 * case.concurrency as u64
            },
            ..limits
        };
        // Rounds alternate baseline and Kumo, so load from elsewhere on the machine falls on
        // both rather than on whichever ran while it lasted.
        let rounds = args.rounds.max(1);
        let per_round = Limits {
            duration: duration / rounds,
            max_requests: limits.max_requests.div_ceil(u64::from(rounds)),
            ..limits
        };
        let _ = workload::run(&base_client, &op, warmup).await;
        let _ = workload::run(&kumo_client, &op, warmup).await;
        let (mut base, mut kumo_raw) = (workload::Raw::default(), workload::Raw::default());
        for _ in 0..rounds {
            if !base.failed() {
                base.merge(workload::run(&base_client, &op, per_round).await);
            }
            if !kumo_raw.failed() {
                kumo_raw.merge(workload::run(&kumo_client, &op, per_round).await);
            }
        }
        let (base, kumo_m) = (base.summary(), kumo_raw.summary());
        for (who, m) in [(label, &base), ("kumo", &kumo_m)] {
            eprint!("{:<18} {who:<8} ", case.name);
            match &m.error {
                None => eprintln!(
                    "{:>9.0} req/s {:>8.1} MB/s p50 {:>8.3} ms p99 {:>8.3} ms ({} requests)",
                    m.requests_per_sec, m.mb_per_sec, m.p50_ms, m.p99_ms, m.requests
                ),
                Some(e) => eprintln!("error: {e}"),
            }
        }
        results.push(CaseResult {
            name: case.name.clone(),
            size_bytes: case.size as u64,
            concurrency: case.concurrency,
            metrics: case.metrics.clone(),
            target_min_ratio: case.target,
            baseline: base,
            kumo: kumo_m,
        });
    }
    Ok(results)
}

/// Creates the bucket and stores the objects the GET cases read, checking one round trip.
async fn prepare(client: &S3Client, payloads: &HashMap<usize, Bytes>) -> anyhow::Result<()> {
    client.create_bucket(BUCKET).await?;
    for (size, data) in payloads {
        let path = object_path(*size);
        client.put(&path, data.clone(), UPLOAD_CHUNK).await?;
        if *size <= SMALL_SIZE {
            let got = client.get_bytes(&path).await?;
            anyhow::ensure!(
                got == *data,
                "GET {path} returned different bytes than were PUT"
            );
        } else {
            client.get(&path, *size as u64).await?;
        }
    }
    Ok(())
}
