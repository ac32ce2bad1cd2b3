//! How long cloning an image and snapshotting a 1 GiB volume take, against a plain
//! `cp --sparse=always` of the same qcow2 file (the cheapest honest full copy) as baseline.
//!
//! `cargo run -p kumo-blocks-local --example clone_snapshot_bench [DIR] [DATA_MIB]`
//! DIR defaults to a temporary directory under /var/tmp (a real disk, not tmpfs); DATA_MIB
//! (default 256) is how much of the volume is written, in 1 MiB pieces spread over it.
//! Both the store and `cp` read the volume from the page cache; the store's copies are
//! fsynced, so `cp` is timed with and without a following fsync.

use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

use kumo_blocks_local::LocalBlockStore;
use kumo_driver_api::{BlockStore, DiskSource};

const MIB: u64 = 1 << 20;
const RUNS: usize = 3;

fn best(mut run: impl FnMut(usize) -> Duration) -> Duration {
    (0..RUNS).map(&mut run).min().unwrap_or_default()
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let base = args.next().map(PathBuf::from);
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

    let snapshot = best(|i| {
        let name = format!("snap-bench-{i}");
        let t = Instant::now();
        store.snapshot("vol-bench", &name).expect("snapshot");
        t.elapsed()
    });
    let clone = best(|i| {
        let name = format!("vol-clone-{i}");
        let t = Instant::now();
        store
            .clone_from(&name, "snap-bench-0", None)
            .expect("clone");
        t.elapsed()
    });
    let copy_target = |i: usize| dir.join(format!("cp-{i}.qcow2"));
    let cp = |i: usize, fsync: bool| {
        let target = copy_target(i);
        let _ = std::fs::remove_file(&target);
        let t = Instant::now();
        let status = Command::new("cp")
            .arg("--sparse=always")
            .arg(&path)
            .arg(&target)
            .status()
            .expect("cp");
        assert!(status.success(), "cp failed");
        if fsync {
            std::fs::File::open(&target)
                .and_then(|f| f.sync_all())
                .expect("fsync copy");
        }
        t.elapsed()
    };
    let cp_plain = best(|i| cp(i, false));
    let cp_fsync = best(|i| cp(i + RUNS, true));

    println!("best of {RUNS} runs:");
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
    Ok(())
}
