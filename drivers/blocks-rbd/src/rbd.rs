//! Running `rbd` against one pool (and namespace) with a deadline, and reading its answers.
//!
//! The `rbd` tool exits with the errno of what failed (2 ENOENT, 17 EEXIST, 16 EBUSY,
//! 39 ENOTEMPTY), which is how the store tells "not found" or "in use" from a real failure
//! without parsing messages.

use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use kumo_blocks_local::tool::{self, RunError};
use kumo_driver_api::BlockStoreError;
use serde_json::Value;

const ENOENT: i32 = 2;
const EBUSY: i32 = 16;
const EEXIST: i32 = 17;
const ENOTEMPTY: i32 = 39;

/// How to reach the cluster and where the store's images live.
#[derive(Debug, Clone)]
pub(crate) struct Cluster {
    pub program: PathBuf,
    pub conf: PathBuf,
    pub user: String,
    pub keyring: Option<PathBuf>,
    pub pool: String,
    pub namespace: Option<String>,
}

impl Cluster {
    /// `pool[/namespace]`.
    pub fn pool_spec(&self) -> String {
        match &self.namespace {
            Some(ns) => format!("{}/{ns}", self.pool),
            None => self.pool.clone(),
        }
    }

    /// `pool[/namespace]/image`, as `rbd`, QEMU and libvirt name an image.
    pub fn spec(&self, image: &str) -> String {
        format!("{}/{image}", self.pool_spec())
    }

    /// `pool[/namespace]/image@snap`.
    pub fn snap_spec(&self, image: &str, snap: &str) -> String {
        format!("{}@{snap}", self.spec(image))
    }

    /// QEMU's `rbd:` filename for `image` (`qemu-img` targets): values escaped as QEMU's
    /// option parser expects (`\` before `:` and `\`).
    pub fn qemu_target(&self, image: &str) -> String {
        let esc = |s: &str| s.replace('\\', "\\\\").replace(':', "\\:");
        let mut target = format!(
            "rbd:{}:conf={}:id={}",
            esc(&self.spec(image)),
            esc(&self.conf.to_string_lossy()),
            esc(&self.user)
        );
        if let Some(keyring) = &self.keyring {
            target.push_str(&format!(":keyring={}", esc(&keyring.to_string_lossy())));
        }
        target
    }

    /// Runs `rbd <args>` and returns its stdout; failures map to errors about `subject`.
    pub fn run(
        &self,
        args: &[&str],
        subject: &str,
        timeout: Duration,
    ) -> Result<String, BlockStoreError> {
        let mut cmd = Command::new(&self.program);
        cmd.arg("-c").arg(&self.conf).arg("--id").arg(&self.user);
        if let Some(keyring) = &self.keyring {
            cmd.arg("--keyring").arg(keyring);
        }
        cmd.args(args);
        finish(cmd, subject, timeout)
    }

    /// Runs `rbd <args> --format json` and parses its answer.
    pub fn json(
        &self,
        args: &[&str],
        subject: &str,
        timeout: Duration,
    ) -> Result<Value, BlockStoreError> {
        let mut all = args.to_vec();
        all.extend(["--format", "json"]);
        let out = self.run(&all, subject, timeout)?;
        serde_json::from_str(&out).map_err(|e| {
            BlockStoreError::Io(format!("rbd {}: unreadable answer: {e}", args.join(" ")))
        })
    }
}

/// Runs a prepared command to completion within `timeout`; a non-zero exit maps to the
/// store error its errno means.
pub(crate) fn finish(
    mut cmd: Command,
    subject: &str,
    timeout: Duration,
) -> Result<String, BlockStoreError> {
    let program = cmd.get_program().to_string_lossy().into_owned();
    let out = tool::run(&mut cmd, timeout).map_err(|e| match e {
        RunError::TimedOut(_) => BlockStoreError::Io(format!("{program} for {subject}: {e}")),
        other => BlockStoreError::Io(format!("{program}: {other}")),
    })?;
    if out.status.success() {
        return Ok(out.stdout);
    }
    let why = out
        .stderr
        .lines()
        .rfind(|l| !l.trim().is_empty())
        .unwrap_or("")
        .to_owned();
    Err(match out.status.code() {
        Some(ENOENT) if program.ends_with("rbd") => BlockStoreError::NotFound(subject.to_owned()),
        Some(EEXIST) if program.ends_with("rbd") => BlockStoreError::Exists(subject.to_owned()),
        Some(EBUSY | ENOTEMPTY) if program.ends_with("rbd") => {
            BlockStoreError::InUse(format!("{subject} ({why})"))
        }
        _ => BlockStoreError::Io(format!("{program} for {subject}: {}: {why}", out.status)),
    })
}

/// An image's entry in `rbd info` / `rbd ls -l`: its parent `(image, snapshot)`, if a clone.
pub(crate) fn parent(entry: &Value) -> Option<(String, String)> {
    let parent = entry.get("parent")?;
    Some((
        parent.get("image")?.as_str()?.to_owned(),
        parent.get("snapshot")?.as_str()?.to_owned(),
    ))
}

/// The `size` field of an `rbd` entry.
pub(crate) fn size(entry: &Value) -> Result<u64, BlockStoreError> {
    entry
        .get("size")
        .and_then(Value::as_u64)
        .ok_or_else(|| BlockStoreError::Io(format!("rbd answer without a size: {entry}")))
}
