//! How long cloning an image and snapshotting a 1 GiB volume take, against a plain
//! `cp --sparse=always` of the same qcow2 file (the cheapest honest full copy) as baseline.
//!
//! `cargo run -p kumo-blocks-local --example clone_snapshot_bench [DIR] [DATA_MIB]`
//! DIR defaults to a temporary directory under /var/tmp (a real disk, not tmpfs); DATA_MIB
//! (default 256) is how much of the volume is written, in 1 MiB pieces spread over it.
//! Both the store and `cp` read the volume from the page cache; the store's copies are
//! fsynced, so `cp` is timed with and without a following fsync.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use kumo_blocks_local::LocalBlockStore;
use kumo_driver_api::{BlockStore, DiskSource};

const MIB: u64 = 1 << 20;
const RUNS: usize = 5;

fn median(mut runs: Vec<Duration>) -> Duration {
    runs.sort();
    runs.get(runs.len() / 2).copied().unwrap_or_default()
}

/// `cp --sparse=always FROM TO`, then optionally fsync TO, timed.
fn cp(from: &Path, to: &Path, fsync: bool) -> Result<Duration, Box<dyn std::error::Error>> {
    let t = Instant::now();
    let status = Command::new("cp")
        .arg("--sparse=always")
        .arg(from)
        .arg(to)
        .status()?;
    if !status.success() {
        return Err("cp failed".into());
    }
    if fsync {
        std::fs::File::open(to)?.sync_all()?;
    }
    Ok(t.elapsed())
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let base = args.next().filter(|a| !a.is_empty()).map(PathBuf::from);
    let data_mib: u64 = args.next().map(|a| a.parse()).transpose()?.unwrap_or(256);
    let _tmp;
    let dir = match base {
        Some(dir) => dir,
        None => {
            _tmp = tempfile::Builder::new()
                .prefix("kumo-blocks-bench-")
                .tempdir_in("/var/tmp")?;
            _tmp.path().to_path_buf()
        }
    };
    // Fresh names every run, so an existing DIR is refused rather than reused.
    let dir = dir.join(format!("bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let store = LocalBlockStore::open(dir.join("store"))?;
    store.create("vol-bench", 1024 * MIB)?;
    let DiskSource::File { path, .. } = store.source("vol-bench")? else {
        return Err("expected a file".into());
    };

    // Spread DATA_MIB pieces of 1 MiB evenly over the 1 GiB volume.
    let stride = (1024 / data_mib.clamp(1, 1024)) * MIB;
    let mut qemu_io = Command::new("qemu-io");
    qemu_io.args(["-f", "qcow2"]);
    for i in 0..data_mib.min(1024) {
        qemu_io.arg("-c").arg(format!(
            "write -P 0x{:02x} {} {MIB}",
            (i % 250) + 1,
            i * stride
        ));
    }
    let started = Instant::now();
    let status = qemu_io
        .arg(&path)
        .stdout(std::process::Stdio::null())
        .status()?;
    if !status.success() {
        return Err("qemu-io failed".into());
    }
    let file_size = std::fs::metadata(&path)?.len();
    println!(
        "volume: 1024 MiB virtual, {data_mib} MiB written in {:.0} ms, qcow2 file {} MiB",
        ms(started.elapsed()),
        file_size / MIB
    );

    // Interleaved rounds, so that load from elsewhere on the machine hits every method alike.
    let (mut snapshot, mut clone, mut cp_plain, mut cp_fsync) = (vec![], vec![], vec![], vec![]);
    for i in 0..RUNS {
        let t = Instant::now();
        store.snapshot("vol-bench", &format!("snap-bench-{i}"))?;
        snapshot.push(t.elapsed());
        let t = Instant::now();
        store.clone_from(&format!("vol-clone-{i}"), &format!("snap-bench-{i}"), None)?;
        clone.push(t.elapsed());
        cp_plain.push(cp(&path, &dir.join(format!("cp-{i}.qcow2")), false)?);
        cp_fsync.push(cp(&path, &dir.join(format!("cp-fsync-{i}.qcow2")), true)?);
    }
    let (snapshot, clone, cp_plain, cp_fsync) = (
        median(snapshot),
        median(clone),
        median(cp_plain),
        median(cp_fsync),
    );

    println!("median of {RUNS} interleaved rounds:");
    println!(
        "  clone_from (qcow2 overlay):         {:>9.1} ms",
        ms(clone)
    );
    println!(
        "  snapshot (qemu-img convert, fsync): {:>9.1} ms",
        ms(snapshot)
    );
    println!(
        "  cp --sparse=always:                 {:>9.1} ms",
        ms(cp_plain)
    );
    println!(
        "  cp --sparse=always + fsync:         {:>9.1} ms",
        ms(cp_fsync)
    );
    println!(
        "ratios: snapshot / (cp+fsync) = {:.2}, clone / (cp+fsync) = {:.4}",
        snapshot.as_secs_f64() / cp_fsync.as_secs_f64(),
        clone.as_secs_f64() / cp_fsync.as_secs_f64()
    );
    drop(store);
    std::fs::remove_dir_all(&dir)?;
    Ok(())
}
