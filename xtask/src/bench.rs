//! `cargo xtask bench`: builds the release binaries and runs the S3 benchmark, which measures an
//! in-process hyper baseline and Kumo in the same run and reports ratios.
//!
//! `cargo xtask bench --ceph`: the same cases side by side against radosgw. A throwaway
//! one-node Ceph cluster (`crate::ceph`) serves both radosgw (`drivers/ceph/start-radosgw.sh`)
//! and a Kumo with `[storage.objects] backend = "rados"` on the same OSD; the report gives
//! Kumo/radosgw. Kumo's data directory (its redb metadata) lives on tmpfs (`/dev/shm`), as
//! radosgw's metadata lives on the memstore OSD. The cluster and radosgw are stopped
//! at the end, whatever the outcome.

use crate::util::{cargo, run as run_step, target_dir};

pub fn run(args: &[String]) -> Result<(), String> {
    let mut ceph = false;
    let mut extra = Vec::new();
    let mut iter = args.iter();
    while let Some(arg) = iter.next() {
        match arg.as_str() {
            "--ceph" => ceph = true,
            "--" => extra.extend(iter.by_ref().cloned()),
            other => extra.push(other.to_owned()),
        }
    }
    run_step(
        "release build",
        cargo().args(["build", "--release", "-p", "kumo", "-p", "kumo-bench"]),
    )?;
    let dir = target_dir().join("release");
    let mut bench = std::process::Command::new(dir.join("kumo-bench"));
    bench.arg("--kumo").arg(dir.join("kumo"));
    // Declared before the step runs so that it outlives it and is dropped (stopped) after.
    let cluster;
    if ceph {
        cluster = crate::ceph::Cluster::fresh("the radosgw benchmark")?
            .ok_or("--ceph needs a Ceph cluster: run as root on Debian")?;
        let (endpoint, access, secret) = cluster.radosgw()?;
        let config = cluster.dir().join("kumo-bench.toml");
        std::fs::write(
            &config,
            format!(
                "[storage.objects]\nbackend = \"rados\"\npool = \"kumo-objects\"\nceph_conf = \"{}\"\n",
                cluster.conf.display()
            ),
        )
        .map_err(|e| format!("writing {}: {e}", config.display()))?;
        // Kumo's data directory (redb) goes to tmpfs, in RAM like the memstore OSD that holds
        // radosgw's metadata: neither side waits on a disk's fsync.
        if std::path::Path::new("/dev/shm").is_dir() {
            bench.env("TMPDIR", "/dev/shm");
        }
        bench
            .arg("--kumo-config")
            .arg(&config)
            .args(["--baseline-s3", &endpoint, "--baseline-name", "radosgw"])
            .args(["--baseline-access-key", &access])
            .args(["--baseline-secret-key", &secret]);
    }
    bench.args(extra);
    run_step(
        if ceph {
            "S3 benchmark: Kumo on RADOS vs radosgw"
        } else {
            "S3 benchmark"
        },
        &mut bench,
    )
}
