//! A throwaway one-node Ceph cluster around the workspace tests, so the RBD and RADOS backends
//! (`kumo-blocks-rbd`, `kumo-objects-rados`) run their contract suites against a real cluster.
//!
//! `drivers/ceph/setup-ceph.sh` installs Debian's Ceph packages when missing and starts a
//! memstore mon + OSD on 127.0.0.1 (a few seconds); the cluster gets a directory and free ports
//! of its own, so parallel runs on one machine never share or stop each other's cluster. It is
//! stopped and removed when the tests end, whatever their outcome. A `KUMO_CEPH_CONF` already
//! set (a developer's cluster) is used as is and left running.

use std::path::PathBuf;
use std::process::Command;
use std::time::Instant;

use crate::util::{root, run};

/// A cluster this run started; dropping it stops it.
pub struct Cluster {
    dir: PathBuf,
    /// The `ceph.conf` tests receive as `KUMO_CEPH_CONF`.
    pub conf: PathBuf,
}

impl Cluster {
    /// Starts a cluster, or says why the Ceph tests will be SKIPPED. A failure is an error
    /// where it should have worked (root on a Debian machine with apt).
    pub fn start() -> Result<Option<Self>, String> {
        if std::env::var_os("KUMO_CEPH_CONF").is_some() {
            eprintln!("\n==> Ceph: using the cluster of KUMO_CEPH_CONF");
            return Ok(None);
        }
        Self::fresh("the RBD and RADOS tests")
    }

    /// Starts a cluster of this run's own (whatever `KUMO_CEPH_CONF` says), or `None` with a
    /// SKIPPED line naming `purpose` where it cannot (not root, no apt-get).
    pub fn fresh(purpose: &str) -> Result<Option<Self>, String> {
        let root_user = std::env::var_os("USER").is_some_and(|u| u == "root")
            || std::env::var_os("HOME").is_some_and(|h| h == "/root");
        let apt = std::path::Path::new("/usr/bin/apt-get").exists();
        if !(root_user && apt) {
            eprintln!("\n==> Ceph: SKIPPED (needs root and apt-get): no cluster for {purpose}");
            return Ok(None);
        }
        let dir = PathBuf::from(format!("/run/kumo-ceph-xtask-{}", std::process::id()));
        let started = Instant::now();
        let cluster = Self {
            conf: dir.join("ceph.conf"),
            dir,
        };
        run(
            &format!("one-node Ceph cluster for {purpose}"),
            Command::new("bash")
                .arg(root().join("drivers/ceph/setup-ceph.sh"))
                .arg(&cluster.dir)
                .env("KUMO_CEPH_MON_PORT", "auto"),
        )?;
        eprintln!(
            "==> Ceph cluster ready in {:.1} s: {}",
            started.elapsed().as_secs_f64(),
            cluster.conf.display()
        );
        Ok(Some(cluster))
    }

    /// Starts radosgw on this cluster (`drivers/ceph/start-radosgw.sh`): its `HOST:PORT` and
    /// the S3 user's access and secret keys.
    pub fn radosgw(&self) -> Result<(String, String, String), String> {
        run(
            "radosgw on the cluster",
            Command::new("bash")
                .arg(root().join("drivers/ceph/start-radosgw.sh"))
                .arg(&self.dir)
                .stdout(std::process::Stdio::null()),
        )?;
        let env_path = self.dir.join("rgw.env");
        let env = std::fs::read_to_string(&env_path)
            .map_err(|e| format!("reading {}: {e}", env_path.display()))?;
        let var = |name: &str| {
            env.lines()
                .find_map(|l| l.strip_prefix(&format!("export {name}=")))
                .map(str::to_owned)
                .ok_or_else(|| format!("{} names no {name}", env_path.display()))
        };
        Ok((
            var("RGW_ENDPOINT")?,
            var("RGW_ACCESS_KEY")?,
            var("RGW_SECRET_KEY")?,
        ))
    }

    /// The directory the cluster lives in (its conf, keyring, logs).
    pub fn dir(&self) -> &std::path::Path {
        &self.dir
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        let _ = run(
            "stop the Ceph cluster",
            Command::new("bash")
                .arg(root().join("drivers/ceph/stop-ceph.sh"))
                .arg(&self.dir),
        );
    }
}
