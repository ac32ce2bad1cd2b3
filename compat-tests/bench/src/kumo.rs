//! Starting and stopping the Kumo under test.
//!
//! The release binary runs as a child process on a fresh data directory, exactly as an
//! operator would start it; the bench reads the administrator key it writes and stops it with
//! SIGTERM (then SIGKILL after 10 s). Its log goes to a file next to the data directory, so
//! the access log costs what it costs in production but does not flood the bench's output.

use std::fs::File;
use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};

use crate::client::S3Client;
use crate::sigv4::Credentials;

/// How long Kumo may take to answer its health check after start.
const START_TIMEOUT: Duration = Duration::from_secs(30);
/// How long Kumo may take to exit after SIGTERM.
const STOP_TIMEOUT: Duration = Duration::from_secs(10);

/// A running Kumo; killed on drop if not stopped.
#[derive(Debug)]
pub struct Kumo {
    child: Option<Child>,
    pub addr: SocketAddr,
    pub data_dir: PathBuf,
    pub log_path: PathBuf,
    _root: tempfile::TempDir,
}

impl Kumo {
    /// Spawns `binary serve` on a free port of 127.0.0.1 with a temporary data directory.
    /// `config`, when given, is passed as `--config` (e.g. `[storage.objects] backend = "rados"`).
    pub fn spawn(binary: &Path, config: Option<&Path>) -> anyhow::Result<Self> {
        if !binary.is_file() {
            bail!(
                "{} not found: build it with `cargo build --release -p kumo`",
                binary.display()
            );
        }
        let root = tempfile::Builder::new().prefix("kumo-bench-").tempdir()?;
        let data_dir = root.path().join("data");
        let log_path = root.path().join("kumo.log");
        let addr = free_port()?;
        let log = File::create(&log_path)?;
        let mut cmd = Command::new(binary);
        if let Some(config) = config {
            cmd.arg("serve").arg("--config").arg(config);
        } else {
            cmd.arg("serve");
        }
        let child = cmd
            .arg("--data-dir")
            .arg(&data_dir)
            .arg("--listen")
            .arg(addr.to_string())
            .arg("--tls-listen")
            .arg("none")
            .env_remove("KUMO_CONFIG")
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .spawn()
            .with_context(|| format!("starting {}", binary.display()))?;
        Ok(Self {
            child: Some(child),
            addr,
            data_dir,
            log_path,
            _root: root,
        })
    }

    /// Waits (bounded) until `GET /_kumo/health` answers 200.
    pub async fn wait_healthy(&mut self, client: &S3Client) -> anyhow::Result<()> {
        let deadline = Instant::now() + START_TIMEOUT;
        loop {
            if let Some(child) = self.child.as_mut()
                && let Some(status) = child.try_wait()?
            {
                bail!(
                    "kumo exited during start-up ({status}); log:\n{}",
                    self.log_tail()
                );
            }
            if let Ok(Ok(status)) = tokio::time::timeout(
                Duration::from_secs(1),
                client.get_status_unsigned("/_kumo/health"),
            )
            .await
                && status == http::StatusCode::OK
            {
                return Ok(());
            }
            if Instant::now() >= deadline {
                bail!(
                    "kumo not healthy after {START_TIMEOUT:?}; log:\n{}",
                    self.log_tail()
                );
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// The administrator key from `DATA_DIR/credentials`.
    pub fn credentials(&self) -> anyhow::Result<Credentials> {
        let path = self.data_dir.join("credentials");
        let text = std::fs::read_to_string(&path)
            .with_context(|| format!("reading {}", path.display()))?;
        parse_credentials(&text).with_context(|| format!("parsing {}", path.display()))
    }

    /// The last lines of Kumo's log (for error messages).
    #[must_use]
    pub fn log_tail(&self) -> String {
        let text = std::fs::read_to_string(&self.log_path).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(30)..].join("\n")
    }

    /// SIGTERM, then SIGKILL if it has not exited within 10 s.
    pub fn stop(&mut self) -> anyhow::Result<()> {
        let Some(mut child) = self.child.take() else {
            return Ok(());
        };
        // `kill` the command keeps this crate free of `unsafe` (libc::kill).
        let sent = Command::new("kill")
            .arg("-TERM")
            .arg(child.id().to_string())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .map(|s| s.success())
            .unwrap_or(false);
        if sent {
            let deadline = Instant::now() + STOP_TIMEOUT;
            while Instant::now() < deadline {
                if child.try_wait()?.is_some() {
                    return Ok(());
                }
                std::thread::sleep(Duration::from_millis(50));
            }
        }
        child.kill()?;
        child.wait()?;
        bail!("kumo did not exit within {STOP_TIMEOUT:?} of SIGTERM; killed")
    }
}

impl Drop for Kumo {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// A port of 127.0.0.1 that was free a moment ago.
fn free_port() -> anyhow::Result<SocketAddr> {
    let listener = TcpListener::bind("127.0.0.1:0")?;
    Ok(listener.local_addr()?)
}

/// Reads the `[default]` profile of an aws shared-credentials file.
fn parse_credentials(text: &str) -> anyhow::Result<Credentials> {
    let mut in_default = false;
    let (mut id, mut secret) = (None, None);
    for line in text.lines() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') || line.starts_with(';') {
            continue;
        }
        if line.starts_with('[') {
            in_default = line == "[default]";
            continue;
        }
        if !in_default {
            continue;
        }
        if let Some((key, value)) = line.split_once('=') {
            match key.trim() {
                "aws_access_key_id" => id = Some(value.trim().to_owned()),
                "aws_secret_access_key" => secret = Some(value.trim().to_owned()),
                _ => {}
            }
        }
    }
    match (id, secret) {
        (Some(access_key_id), Some(secret_access_key)) => Ok(Credentials {
            access_key_id,
            secret_access_key,
        }),
        _ => bail!("no aws_access_key_id/aws_secret_access_key in [default]"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_default_profile() {
        let creds = parse_credentials(
            "# comment\n[other]\naws_access_key_id = X\n[default]\naws_access_key_id = AKIA1\naws_secret_access_key=s/e+c\n",
        )
        .expect("parses");
        assert_eq!(creds.access_key_id, "AKIA1");
        assert_eq!(creds.secret_access_key, "s/e+c");
    }

    #[test]
    fn rejects_a_file_without_default() {
        assert!(
            parse_credentials("[other]\naws_access_key_id = X\naws_secret_access_key = Y\n")
                .is_err()
        );
    }
}
