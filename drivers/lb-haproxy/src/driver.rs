//! [`HaproxyLb`]: one namespace and one haproxy (master-worker) per load balancer.
//!
//! Per load balancer `<id>`: namespace `PREFIX-lb-<id>`; per node a veth pair whose host-side
//! end is the node's "tap" (the fabric joins it to the VPC exactly like a guest's tap) and
//! whose inside end `n<12 hex>` carries the node's MAC and address; policy routing sends each
//! node's replies out of its own link (`from <ip>` → table 100+i); haproxy runs inside with
//! `-W -S master.sock`, its runtime files in `RUNTIME/<id>/`.
//!
//! Reload without dropping connections: the config is validated (`haproxy -c`) before it
//! replaces the running one; the servers' check state is saved (`show servers state` →
//! `server-state-file`, loaded by the new worker, so a target known to be down stays down),
//! then the master gets `SIGUSR2`: it starts a new worker on the same listening sockets
//! (`expose-fd listeners`, `SO_REUSEPORT`) and the old one finishes its connections (bounded by
//! `hard-stop-after`).

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use kumo_driver_api::{LbSpec, LoadBalancerDriver, NetworkError, TargetObservation};
use kumo_net_linux::{cmd, netns};

use crate::{config, stat};

/// How a [`HaproxyLb`] is set up.
#[derive(Debug, Clone)]
pub struct HaproxyLbConfig {
    /// Runtime files per load balancer (config, sockets, pid, state): rendered from the spec,
    /// so a tmpfs is right.
    pub runtime_dir: PathBuf,
    /// The namespace the fabric joins taps in (`LinuxFabricConfig::host_netns`); `None` for
    /// this process's.
    pub host_netns: Option<String>,
    /// Prefix of the namespaces (`kumo` → `kumo-lb-<id>`).
    pub prefix: String,
    /// The user haproxy's workers drop to (`None`: stay root).
    pub user: Option<String>,
    /// Deadline of every tool invocation.
    pub command_timeout: Duration,
}

impl HaproxyLbConfig {
    /// Defaults for a host.
    pub fn new(runtime_dir: impl Into<PathBuf>) -> Self {
        Self {
            runtime_dir: runtime_dir.into(),
            host_netns: None,
            prefix: "kumo".into(),
            user: user_exists("haproxy").then(|| "haproxy".to_owned()),
            command_timeout: Duration::from_secs(10),
        }
    }
}

fn user_exists(name: &str) -> bool {
    std::fs::read_to_string("/etc/passwd")
        .map(|p| p.lines().any(|l| l.split(':').next() == Some(name)))
        .unwrap_or(false)
}

/// Whether haproxy is installed.
pub fn available() -> bool {
    cmd::run("haproxy", &["-v"], None, Duration::from_secs(5)).is_ok_and(|o| o.success)
}

/// The load balancer data plane on haproxy.
#[derive(Debug)]
pub struct HaproxyLb {
    cfg: HaproxyLbConfig,
    lock: Mutex<()>,
}

fn check_id(id: &str) -> Result<(), NetworkError> {
    if !id.is_empty() && id.len() <= 32 && id.bytes().all(|b| b.is_ascii_alphanumeric()) {
        Ok(())
    } else {
        Err(NetworkError::Invalid(format!(
            "bad load balancer id {id:?}"
        )))
    }
}

fn io(what: &Path, e: std::io::Error) -> NetworkError {
    NetworkError::Failed(format!("{}: {e}", what.display()))
}

/// Whether `pid` runs (exists and is not a zombie: a daemonised master's parent is whatever
/// init the host has, which may reap late).
fn alive(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|stat| {
        stat.rsplit_once(')')
            .and_then(|(_, rest)| rest.trim_start().chars().next())
            .is_some_and(|state| state != 'Z' && state != 'X')
    })
}

/// The inside name of a node's link (`n` + the tap's last 12 characters).
fn inside_link(tap: &str) -> String {
    let tail = &tap[tap.len().saturating_sub(12)..];
    format!("n{tail}")
}

impl HaproxyLb {
    /// A driver keeping its runtime files under `cfg.runtime_dir`.
    pub fn new(cfg: HaproxyLbConfig) -> Result<Self, NetworkError> {
        std::fs::create_dir_all(&cfg.runtime_dir).map_err(|e| io(&cfg.runtime_dir, e))?;
        Ok(Self {
            cfg,
            lock: Mutex::new(()),
        })
    }

    /// The namespace of load balancer `id`.
    pub fn netns(&self, id: &str) -> String {
        format!("{}-lb-{id}", self.cfg.prefix)
    }

    fn dir(&self, id: &str) -> PathBuf {
        self.cfg.runtime_dir.join(id)
    }

    fn ip(&self, ns: Option<&str>, args: &[&str]) -> Result<String, NetworkError> {
        let mut full: Vec<&str> = Vec::with_capacity(args.len() + 2);
        if let Some(ns) = ns {
            full.extend(["-n", ns]);
        }
        full.extend_from_slice(args);
        cmd::check("ip", &full, self.cfg.command_timeout)
    }

    fn link_exists(&self, ns: Option<&str>, name: &str) -> bool {
        self.ip(ns, &["link", "show", "dev", name]).is_ok()
    }

    /// Namespace, node links, addresses and routes.
    fn plumb(&self, spec: &LbSpec) -> Result<(), NetworkError> {
        let ns = self.netns(&spec.id);
        if !netns::exists(&ns) {
            cmd::check("ip", &["netns", "add", &ns], self.cfg.command_timeout)?;
        }
        self.ip(Some(&ns), &["link", "set", "lo", "up"])?;
        let host = self.cfg.host_netns.as_deref();
        let mut wanted = Vec::new();
        for (i, node) in spec.nodes.iter().enumerate() {
            if node.tap.is_empty()
                || node.tap.len() > 15
                || !node.tap.bytes().all(|b| b.is_ascii_alphanumeric())
            {
                return Err(NetworkError::Invalid(format!("bad tap {:?}", node.tap)));
            }
            let inside = inside_link(&node.tap);
            wanted.push(inside.clone());
            if !(self.link_exists(host, &node.tap) && self.link_exists(Some(&ns), &inside)) {
                let _ = self.ip(host, &["link", "del", &node.tap]);
                let _ = self.ip(Some(&ns), &["link", "del", &inside]);
                self.ip(
                    host,
                    &[
                        "link", "add", &node.tap, "type", "veth", "peer", "name", &inside, "netns",
                        &ns,
                    ],
                )?;
                self.ip(Some(&ns), &["link", "set", &inside, "address", &node.mac])?;
            }
            self.ip(
                Some(&ns),
                &[
                    "addr",
                    "replace",
                    &format!("{}/{}", node.ip, node.prefix_len),
                    "dev",
                    &inside,
                ],
            )?;
            self.ip(Some(&ns), &["link", "set", &inside, "up"])?;
            self.ip(host, &["link", "set", &node.tap, "up"])?;
            let table = (100 + i).to_string();
            let gw = node.gateway.to_string();
            self.ip(
                Some(&ns),
                &[
                    "route", "replace", "default", "via", &gw, "dev", &inside, "table", &table,
                ],
            )?;
            let _ = self.ip(Some(&ns), &["rule", "del", "priority", &table]);
            self.ip(
                Some(&ns),
                &[
                    "rule",
                    "add",
                    "from",
                    &node.ip.to_string(),
                    "table",
                    &table,
                    "priority",
                    &table,
                ],
            )?;
            if i == 0 {
                self.ip(
                    Some(&ns),
                    &["route", "replace", "default", "via", &gw, "dev", &inside],
                )?;
            }
        }
        for i in spec.nodes.len()..16 {
            let _ = self.ip(
                Some(&ns),
                &["rule", "del", "priority", &(100 + i).to_string()],
            );
        }
        // Links of nodes no longer in the spec (a subnet removed).
        let out = self.ip(Some(&ns), &["-o", "link", "show"])?;
        for line in out.lines() {
            let name = line
                .split(':')
                .nth(1)
                .map(|n| n.trim().split('@').next().unwrap_or_default().to_owned())
                .unwrap_or_default();
            if name.starts_with('n') && name.len() == 13 && !wanted.contains(&name) {
                let _ = self.ip(Some(&ns), &["link", "del", &name]);
            }
        }
        Ok(())
    }

    /// The master's pid, when it runs.
    fn master_pid(&self, id: &str) -> Option<u32> {
        let pid: u32 = std::fs::read_to_string(self.dir(id).join("haproxy.pid"))
            .ok()?
            .trim()
            .parse()
            .ok()?;
        let comm = std::fs::read_to_string(format!("/proc/{pid}/comm")).ok()?;
        (comm.trim() == "haproxy" && alive(pid)).then_some(pid)
    }

    fn signal(&self, pid: u32, sig: &str) -> Result<(), NetworkError> {
        cmd::check(
            "kill",
            &[&format!("-{sig}"), &pid.to_string()],
            self.cfg.command_timeout,
        )
        .map(|_| ())
    }

    /// One command on the stats socket.
    fn runtime_api(&self, id: &str, command: &str) -> Result<String, NetworkError> {
        let path = self.dir(id).join("stats.sock");
        let mut s = UnixStream::connect(&path).map_err(|e| io(&path, e))?;
        s.set_read_timeout(Some(self.cfg.command_timeout))
            .map_err(|e| io(&path, e))?;
        s.set_write_timeout(Some(self.cfg.command_timeout))
            .map_err(|e| io(&path, e))?;
        s.write_all(format!("{command}\n").as_bytes())
            .map_err(|e| io(&path, e))?;
        let mut out = String::new();
        s.take(16 << 20)
            .read_to_string(&mut out)
            .map_err(|e| io(&path, e))?;
        Ok(out)
    }

    fn write(&self, path: &Path, content: &str) -> Result<(), NetworkError> {
        let tmp = path.with_extension("tmp");
        std::fs::write(&tmp, content).map_err(|e| io(&tmp, e))?;
        std::fs::rename(&tmp, path).map_err(|e| io(path, e))
    }

    fn backends(&self, id: &str) -> BTreeMap<String, String> {
        std::fs::read_to_string(self.dir(id).join("backends"))
            .unwrap_or_default()
            .lines()
            .filter_map(|l| l.split_once(' '))
            .map(|(a, b)| (a.to_owned(), b.to_owned()))
            .collect()
    }
}

impl LoadBalancerDriver for HaproxyLb {
    fn apply(&self, spec: &LbSpec) -> Result<(), NetworkError> {
        check_id(&spec.id)?;
        let _g = self.lock.lock().unwrap_or_else(|p| p.into_inner());
        let dir = self.dir(&spec.id);
        std::fs::create_dir_all(&dir).map_err(|e| io(&dir, e))?;
        let rendered = config::render(spec, &dir, self.cfg.user.as_deref())?;
        self.plumb(spec)?;
        for (name, body) in &rendered.bodies {
            self.write(&dir.join(name), body)?;
        }
        let cfg_path = dir.join("haproxy.cfg");
        let running = self.master_pid(&spec.id);
        let current = std::fs::read_to_string(&cfg_path).ok();
        if running.is_some() && current.as_deref() == Some(rendered.config.as_str()) {
            return Ok(());
        }
        let candidate = dir.join("haproxy.cfg.new");
        std::fs::write(&candidate, &rendered.config).map_err(|e| io(&candidate, e))?;
        let check = cmd::run(
            "haproxy",
            &["-c", "-q", "-f", &candidate.to_string_lossy()],
            None,
            self.cfg.command_timeout,
        )?;
        if !check.success {
            return Err(NetworkError::Invalid(format!(
                "haproxy refused the configuration: {}{}",
                check.stdout.trim(),
                check.stderr.trim()
            )));
        }
        std::fs::rename(&candidate, &cfg_path).map_err(|e| io(&cfg_path, e))?;
        let map: String = rendered
            .backends
            .iter()
            .map(|(b, arn)| format!("{b} {arn}\n"))
            .collect();
        self.write(&dir.join("backends"), &map)?;
        match running {
            Some(pid) => {
                if let Ok(state) = self.runtime_api(&spec.id, "show servers state") {
                    self.write(&dir.join("server-state"), &state)?;
                }
                self.signal(pid, "USR2")
            }
            None => {
                let _ = std::fs::remove_file(dir.join("server-state"));
                let ns = self.netns(&spec.id);
                let master = dir.join("master.sock");
                let pidfile = dir.join("haproxy.pid");
                cmd::run_daemon(
                    "ip",
                    &[
                        "netns",
                        "exec",
                        &ns,
                        "haproxy",
                        "-W",
                        "-D",
                        "-S",
                        &master.to_string_lossy(),
                        "-p",
                        &pidfile.to_string_lossy(),
                        "-f",
                        &cfg_path.to_string_lossy(),
                    ],
                    &dir.join("haproxy.log"),
                    self.cfg.command_timeout,
                )
            }
        }
    }

    fn remove(&self, id: &str) -> Result<(), NetworkError> {
        check_id(id)?;
        let _g = self.lock.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(pid) = self.master_pid(id) {
            let _ = self.signal(pid, "TERM");
            let deadline = Instant::now() + Duration::from_secs(5);
            while alive(pid) && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(20));
            }
            if self.master_pid(id).is_some() {
                let _ = self.signal(pid, "KILL");
            }
        }
        let ns = self.netns(id);
        if netns::exists(&ns) {
            // The nodes' veths go first, explicitly: `ip netns del` only unmounts the name, and
            // the namespace (with the veths whose host ends sit in the fabric's bridges) lives
            // on while any process is still in it — an exiting haproxy worker, say.
            let links = cmd::check(
                "ip",
                &["-n", &ns, "-o", "link", "show", "type", "veth"],
                self.cfg.command_timeout,
            )?;
            for name in veth_names(&links) {
                cmd::check(
                    "ip",
                    &["-n", &ns, "link", "del", name],
                    self.cfg.command_timeout,
                )?;
            }
            cmd::check("ip", &["netns", "del", &ns], self.cfg.command_timeout)?;
        }
        let dir = self.dir(id);
        match std::fs::remove_dir_all(&dir) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(io(&dir, e)),
        }
    }

    fn list(&self) -> Result<Vec<String>, NetworkError> {
        // Only what this driver's runtime directory records: other installations sharing the
        // host (their own runtime directories) keep their load balancers out of this
        // inventory, so an orphan sweep never removes them. The directory is written before
        // the namespace exists and removed after it is gone.
        let mut ids: Vec<String> = match std::fs::read_dir(&self.cfg.runtime_dir) {
            Ok(entries) => entries
                .filter_map(|e| e.ok()?.file_name().into_string().ok())
                .filter(|n| check_id(n).is_ok())
                .collect(),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
            Err(e) => return Err(io(&self.cfg.runtime_dir, e)),
        };
        ids.sort();
        Ok(ids)
    }

    fn target_health(&self, id: &str) -> Result<Vec<TargetObservation>, NetworkError> {
        check_id(id)?;
        if self.master_pid(id).is_none() {
            return Ok(Vec::new());
        }
        let csv = self.runtime_api(id, "show stat")?;
        Ok(stat::parse(&csv, &self.backends(id)))
    }
}

/// Link names in `ip -o link show` output (`11: name@if2: <…> …`).
fn veth_names(listing: &str) -> Vec<&str> {
    listing
        .lines()
        .filter_map(|l| l.split(": ").nth(1))
        .map(|n| n.split('@').next().unwrap_or(n))
        .filter(|n| !n.is_empty())
        .collect()
}

#[cfg(test)]
mod tests {
    #[test]
    fn veth_names_are_read_from_ip_link_output() {
        let out = "11: klb1tl@if2: <BROADCAST,UP> mtu 1500 qdisc noqueue\\    link/ether fa:10\n\
                   12: n0@if7: <BROADCAST> mtu 1500\n";
        assert_eq!(super::veth_names(out), vec!["klb1tl", "n0"]);
        assert!(super::veth_names("").is_empty());
    }
}
