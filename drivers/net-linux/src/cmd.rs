//! Running `ip`, `nft` and `dnsmasq` as child processes with a deadline.
//!
//! The fabric drives the kernel through its standard tools rather than netlink: the tools are
//! the interface operators debug with, `nft -f` applies a whole ruleset atomically, and the
//! netlink crates do not resolve beside the `virt` crate's pinned `libc`. Every call is bounded
//! in time; a tool that hangs is killed and reported, never waited on forever.

use std::io::Read;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use kumo_driver_api::NetworkError;

/// What a finished tool printed.
#[derive(Debug)]
pub struct Output {
    /// Standard output.
    pub stdout: String,
    /// Standard error.
    pub stderr: String,
    /// Whether it exited with status 0.
    pub success: bool,
}

/// Runs `program args…` (feeding `stdin` when given) and waits at most `timeout`.
pub fn run(
    program: &str,
    args: &[&str],
    stdin: Option<&str>,
    timeout: Duration,
) -> Result<Output, NetworkError> {
    let mut cmd = Command::new(program);
    cmd.args(args)
        .stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd
        .spawn()
        .map_err(|e| NetworkError::Failed(format!("cannot run {program}: {e}")))?;
    if let (Some(input), Some(mut pipe)) = (stdin, child.stdin.take()) {
        use std::io::Write;
        // A tool that exits early closes its stdin; its status tells what went wrong.
        let _ = pipe.write_all(input.as_bytes());
    }
    let out = child.stdout.take().map(reader);
    let err = child.stderr.take().map(reader);
    let success = wait(&mut child, timeout)
        .map_err(|e| NetworkError::Failed(format!("{program} {}: {e}", args.join(" "))))?;
    let collect = |h: Option<std::thread::JoinHandle<String>>| {
        h.and_then(|h| h.join().ok()).unwrap_or_default()
    };
    Ok(Output {
        stdout: collect(out),
        stderr: collect(err),
        success,
    })
}

/// Runs a tool and turns a non-zero exit into an error carrying its stderr.
pub fn check(program: &str, args: &[&str], timeout: Duration) -> Result<String, NetworkError> {
    let out = run(program, args, None, timeout)?;
    if out.success {
        Ok(out.stdout)
    } else {
        Err(NetworkError::Failed(format!(
            "{program} {} failed: {}",
            args.join(" "),
            out.stderr.trim()
        )))
    }
}

/// Starts a daemon that forks into the background (dnsmasq) and waits for the foreground
/// process to exit. Its output goes to `log`, never to a pipe the daemon could keep open.
pub fn run_daemon(
    program: &str,
    args: &[&str],
    log: &Path,
    timeout: Duration,
) -> Result<(), NetworkError> {
    let file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(log)
        .map_err(|e| NetworkError::Failed(format!("cannot open {}: {e}", log.display())))?;
    let file2 = file
        .try_clone()
        .map_err(|e| NetworkError::Failed(format!("dup log: {e}")))?;
    let mut child = Command::new(program)
        .args(args)
        .stdin(Stdio::null())
        .stdout(file)
        .stderr(file2)
        .spawn()
        .map_err(|e| NetworkError::Failed(format!("cannot run {program}: {e}")))?;
    if wait(&mut child, timeout).map_err(|e| NetworkError::Failed(format!("{program}: {e}")))? {
        Ok(())
    } else {
        let tail = std::fs::read_to_string(log).unwrap_or_default();
        let tail: String = tail.lines().rev().take(5).collect::<Vec<_>>().join(" | ");
        Err(NetworkError::Failed(format!(
            "{program} failed to start: {tail}"
        )))
    }
}

fn reader(mut pipe: impl Read + Send + 'static) -> std::thread::JoinHandle<String> {
    std::thread::spawn(move || {
        let mut buf = Vec::new();
        // Bounded by the child's lifetime: the pipe closes when it exits or is killed.
        let _ = pipe.read_to_end(&mut buf);
        String::from_utf8_lossy(&buf).into_owned()
    })
}

/// Waits for `child` up to `timeout`; kills it when the deadline passes.
fn wait(child: &mut Child, timeout: Duration) -> Result<bool, String> {
    let deadline = Instant::now() + timeout;
    let mut pause = Duration::from_millis(1);
    loop {
        match child.try_wait() {
            Ok(Some(status)) => return Ok(status.success()),
            Ok(None) if Instant::now() >= deadline => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(format!("timed out after {timeout:?}"));
            }
            Ok(None) => {
                std::thread::sleep(pause);
                pause = (pause * 2).min(Duration::from_millis(20));
            }
            Err(e) => return Err(e.to_string()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn captures_output_and_status() {
        let out = run(
            "sh",
            &["-c", "echo hi; echo err >&2; exit 3"],
            None,
            Duration::from_secs(5),
        )
        .expect("runs");
        assert_eq!(out.stdout, "hi\n");
        assert_eq!(out.stderr, "err\n");
        assert!(!out.success);
        let out = run("cat", &[], Some("fed"), Duration::from_secs(5)).expect("runs");
        assert_eq!(out.stdout, "fed");
        assert!(check("false", &[], Duration::from_secs(5)).is_err());
    }

    #[test]
    fn kills_a_hung_tool() {
        let t = Instant::now();
        let err = run("sleep", &["10"], None, Duration::from_millis(200)).expect_err("times out");
        assert!(err.to_string().contains("timed out"), "{err}");
        assert!(t.elapsed() < Duration::from_secs(5));
    }
}
