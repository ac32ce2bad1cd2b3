//! Running `qemu-img` as a child process with a deadline.
//!
//! A hung or slow tool (a huge import, a wedged NFS mount, a hostile image) must not hold a
//! request forever: every run has a deadline after which the child is killed. Output is read
//! on helper threads (so a chatty child cannot block on a full pipe) and capped.

use std::io::Read;
use std::process::{Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

/// Bytes of stdout/stderr kept; `qemu-img info --output=json` is a few KiB.
const OUTPUT_CAP: u64 = 1 << 20;

/// What a finished run produced.
#[derive(Debug)]
pub struct Output {
    pub status: ExitStatus,
    pub stdout: String,
    pub stderr: String,
}

/// Why a run produced nothing usable.
#[derive(Debug)]
pub enum RunError {
    /// The program could not start (missing, not executable).
    Spawn(std::io::Error),
    /// It ran past its deadline and was killed.
    TimedOut(Duration),
    /// Waiting for it failed.
    Wait(std::io::Error),
}

impl std::fmt::Display for RunError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Spawn(e) => write!(f, "cannot start: {e}"),
            Self::TimedOut(t) => write!(f, "killed after {t:?}"),
            Self::Wait(e) => write!(f, "wait failed: {e}"),
        }
    }
}

/// Runs `cmd` to completion, killing it once `timeout` has passed.
pub fn run(cmd: &mut Command, timeout: Duration) -> Result<Output, RunError> {
    cmd.stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    // ETXTBSY: another thread's fork may briefly hold a write descriptor to a program file
    // that was just written (a known Linux race); a few short retries ride over it.
    let mut attempts = 0;
    let mut child = loop {
        match cmd.spawn() {
            Ok(c) => break c,
            Err(e) if e.raw_os_error() == Some(26) && attempts < 20 => {
                attempts += 1;
                std::thread::sleep(Duration::from_millis(25));
            }
            Err(e) => return Err(RunError::Spawn(e)),
        }
    };
    let stdout = child.stdout.take().map(reader);
    let stderr = child.stderr.take().map(reader);
    let deadline = Instant::now() + timeout;
    let mut pause = Duration::from_millis(1);
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break status,
            Ok(None) => {}
            Err(e) => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(RunError::Wait(e));
            }
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            return Err(RunError::TimedOut(timeout));
        }
        std::thread::sleep(pause);
        pause = (pause * 2).min(Duration::from_millis(50));
    };
    let collect = |h: Option<std::thread::JoinHandle<String>>| {
        h.and_then(|h| h.join().ok()).unwrap_or_default()
    };
    Ok(Output {
        status,
        stdout: collect(stdout),
        stderr: collect(stderr),
    })
}

fn reader<R: Read + Send + 'static>(pipe: R) -> std::thread::JoinHandle<String> {
    std::thread::spawn(move || {
        let mut kept = Vec::new();
        let mut limited = pipe.take(OUTPUT_CAP);
        let _ = limited.read_to_end(&mut kept);
        // Drain the rest so the child never blocks on a full pipe.
        let _ = std::io::copy(&mut limited.into_inner(), &mut std::io::sink());
        String::from_utf8_lossy(&kept).into_owned()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn captures_output_and_status() {
        let out = run(
            Command::new("sh").args(["-c", "echo out; echo err >&2; exit 3"]),
            Duration::from_secs(5),
        )
        .expect("runs");
        assert_eq!(out.stdout, "out\n");
        assert_eq!(out.stderr, "err\n");
        assert_eq!(out.status.code(), Some(3));
    }

    #[test]
    fn kills_at_the_deadline() {
        let started = Instant::now();
        let result = run(Command::new("sleep").arg("10"), Duration::from_millis(200));
        assert!(matches!(result, Err(RunError::TimedOut(_))));
        assert!(started.elapsed() < Duration::from_secs(5));
    }

    #[test]
    fn missing_program_is_a_spawn_error() {
        let result = run(
            &mut Command::new("/nonexistent/qemu-img"),
            Duration::from_secs(1),
        );
        assert!(matches!(result, Err(RunError::Spawn(_))));
    }
}
