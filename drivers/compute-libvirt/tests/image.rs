//! The tiny guest image's "cloud-init lite", end to end with plain QEMU (no libvirt needed):
//! DHCP on eth0 (QEMU user networking), the instance metadata service at 169.254.169.254 with
//! IMDSv2 required or IMDSv1 only, the SSH key, a `#!` user-data script and its exit status, and
//! the READY marker. QEMU and the metadata responder run inside a network namespace the test
//! creates (169.254.169.254 on its loopback), so nothing touches the host's network.
//! Prints `SKIPPED: …` without root, `ip`, python3, QEMU or the built image.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::*;

/// The namespace and the processes in it; all removed on drop, also when the test fails.
struct Netns {
    name: String,
    children: Vec<Child>,
}

impl Drop for Netns {
    fn drop(&mut self) {
        for c in &mut self.children {
            let _ = c.kill();
            let _ = c.wait();
        }
        let _ = Command::new("ip")
            .args(["netns", "del", &self.name])
            .status();
    }
}

fn run(cmd: &mut Command) -> Result<(), String> {
    let st = cmd.status().map_err(|e| format!("{cmd:?}: {e}"))?;
    if st.success() {
        Ok(())
    } else {
        Err(format!("{cmd:?}: {st}"))
    }
}

fn missing_tools() -> Option<String> {
    // Root? (real uid from /proc, no libc call needed)
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let root = status
        .lines()
        .any(|l| l.starts_with("Uid:") && l.split_whitespace().nth(1) == Some("0"));
    if !root {
        return Some("needs root (network namespace)".into());
    }
    for tool in ["ip", "python3", "qemu-system-x86_64"] {
        let found = Command::new("sh")
            .args(["-c", &format!("command -v {tool}")])
            .stdout(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        if !found {
            return Some(format!("{tool} not found"));
        }
    }
    None
}

/// Boots the image once against an IMDS in `mode` (`v1` or `v2`) and returns the console.
fn boot_with_imds(mode: &str) -> Result<Option<(String, String)>, String> {
    if let Some(why) = missing_tools() {
        eprintln!("SKIPPED: {why}");
        return Ok(None);
    }
    let img = match image() {
        Ok(i) => i,
        Err(why) => {
            eprintln!("SKIPPED: {why}");
            return Ok(None);
        }
    };
    let id = unique_id();
    let scratch = Scratch::new(&format!("imds-{id}"));
    let iid = format!("i-{id}");
    std::fs::write(scratch.0.join("instance-id"), &iid).map_err(|e| e.to_string())?;
    let fixture = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/imds.py");

    let mut ns = Netns {
        name: format!("kumo-imds-{}", &id[..8]),
        children: vec![],
    };
    run(Command::new("ip").args(["netns", "add", &ns.name]))?;
    run(Command::new("ip").args(["netns", "exec", &ns.name, "ip", "link", "set", "lo", "up"]))?;
    run(Command::new("ip").args([
        "netns",
        "exec",
        &ns.name,
        "ip",
        "addr",
        "add",
        "169.254.169.254/32",
        "dev",
        "lo",
    ]))?;
    let imds = Command::new("ip")
        .args(["netns", "exec", &ns.name, "python3"])
        .arg(&fixture)
        .arg(&scratch.0)
        .arg(mode)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| e.to_string())?;
    ns.children.push(imds);
    let t0 = Instant::now();
    while !scratch.0.join("ready").exists() {
        if t0.elapsed() > Duration::from_secs(10) {
            return Err("IMDS responder did not start".into());
        }
        std::thread::sleep(Duration::from_millis(50));
    }

    let log = scratch.0.join("console.log");
    let qemu = Command::new("ip")
        .args([
            "netns",
            "exec",
            &ns.name,
            "qemu-system-x86_64",
            "-accel",
            "tcg",
            "-m",
            "128",
        ])
        .args([
            "-nodefaults",
            "-no-user-config",
            "-display",
            "none",
            "-monitor",
            "none",
            "-no-reboot",
        ])
        .arg("-serial")
        .arg(format!("file:{}", log.display()))
        .args(["-nic", "user,model=virtio-net-pci", "-kernel"])
        .arg(&img.kernel)
        .arg("-initrd")
        .arg(&img.initrd)
        .args(["-append", "console=ttyS0 quiet panic=-1 kumo.halt"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| e.to_string())?;
    ns.children.push(qemu);
    let out = wait_file(&log, Duration::from_secs(120), |c| c.contains("KUMO-READY"));
    let imds_log = std::fs::read_to_string(scratch.0.join("imds.log")).unwrap_or_default();
    drop(ns);
    Ok(Some((out, format!("{iid}\n{imds_log}"))))
}

fn wait_file(path: &Path, limit: Duration, pred: impl Fn(&str) -> bool) -> String {
    let t0 = Instant::now();
    loop {
        let out = String::from_utf8_lossy(&std::fs::read(path).unwrap_or_default()).into_owned();
        if pred(&out) || t0.elapsed() > limit {
            return out;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn check(out: &str, iid: &str, imdsv2: &str) {
    for want in [
        "KUMO-NET: if=eth0 ip=10.0.2.15/24 gw=10.0.2.2".to_string(),
        format!("KUMO-BOOT: instance-id={iid} imdsv2={imdsv2} local-ipv4=10.0.2.15"),
        "KUMO-SSHKEY: installed ssh-ed25519 kumo-test-key".to_string(),
        "KUMO-USERDATA-BEGIN".to_string(),
        format!("[user-data] hello from user-data on {iid}"),
        "KUMO-USERDATA-END exit=3".to_string(),
        format!("KUMO-READY instance-id={iid}"),
    ] {
        assert!(out.contains(&want), "missing {want:?} in console:\n{out}");
    }
}

#[test]
fn image_uses_imdsv2_when_required() {
    let Some((out, meta)) = boot_with_imds("v2").expect("test set-up") else {
        return;
    };
    let iid = meta.lines().next().expect("iid");
    check(&out, iid, "yes");
    assert!(
        meta.contains("PUT /latest/api/token"),
        "no token request:\n{meta}"
    );
}

#[test]
fn image_falls_back_to_imdsv1() {
    let Some((out, meta)) = boot_with_imds("v1").expect("test set-up") else {
        return;
    };
    let iid = meta.lines().next().expect("iid");
    check(&out, iid, "no");
}
