//! Boot-time benchmark of the tiny guest under TCG: through libvirt (this driver) and with a
//! plain `qemu-system-x86_64 -accel tcg` on the same kernel and initramfs, so libvirt's overhead
//! can be reported.
//!
//! Measures, from `start` (libvirt) or process spawn (plain QEMU): the first console line, the
//! init's first marker (`KUMO-INIT`) and its `KUMO-READY` marker. Median of `BENCH_RUNS` (3) runs.
//!
//! usage: cargo run -p kumo-compute-libvirt --example boot_bench --release
//! env:   KUMO_GUEST_IMAGE_DIR (default /var/lib/kumo/images/tiny), BENCH_RUNS, LIBVIRT_URI
//! needs: root, libvirtd running (setup-libvirt.sh), the image built (image/build-image.sh).

use std::io::Read;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use kumo_compute_libvirt::{LibvirtConfig, LibvirtHypervisor};
use kumo_driver_api::{Boot, DomainSpec, Hypervisor};

const LIMIT: Duration = Duration::from_secs(120);
const CMDLINE: &str = "console=ttyS0 quiet panic=-1";

#[derive(Debug, Default, Clone, Copy)]
struct Times {
    first_line: Option<Duration>,
    init: Option<Duration>,
    ready: Option<Duration>,
}

impl Times {
    /// Records the first time each milestone shows up in `out` (everything seen so far).
    fn observe(&mut self, out: &str, at: Duration) {
        if self.first_line.is_none()
            && out.lines().any(|l| !l.trim().is_empty())
            && out.contains('\n')
        {
            self.first_line = Some(at);
        }
        if self.init.is_none() && out.contains("KUMO-INIT") {
            self.init = Some(at);
        }
        if self.ready.is_none() && out.contains("KUMO-READY") {
            self.ready = Some(at);
        }
    }
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let dir = PathBuf::from(
        std::env::var("KUMO_GUEST_IMAGE_DIR")
            .unwrap_or_else(|_| "/var/lib/kumo/images/tiny".into()),
    );
    let kernel = dir.join("vmlinuz");
    let initrd = dir.join("initramfs.gz");
    if !kernel.is_file() || !initrd.is_file() {
        return Err(format!(
            "no image in {} (run image/build-image.sh {})",
            dir.display(),
            dir.display()
        )
        .into());
    }
    let runs: usize = std::env::var("BENCH_RUNS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(3)
        .clamp(1, 20);
    let log_dir = std::env::temp_dir().join(format!("kumo-boot-bench-{}", std::process::id()));
    let cfg = LibvirtConfig {
        uri: std::env::var("LIBVIRT_URI").unwrap_or_else(|_| "qemu:///system".into()),
        console_log_dir: log_dir.clone(),
        ..LibvirtConfig::default()
    };
    let tb = cfg.tcg_tb_cache_mib;
    let hv = LibvirtHypervisor::connect(cfg)?;

    let mut lv = Vec::new();
    let mut starts = Vec::new();
    let mut qm = Vec::new();
    for i in 0..runs {
        let (t, start_call) = libvirt_boot(&hv, &kernel, &initrd)?;
        println!(
            "run {i}: libvirt  {}  (start() call {:.3} s)",
            fmt(&t),
            start_call.as_secs_f64()
        );
        lv.push(t);
        starts.push(start_call);
        let t = qemu_boot(&kernel, &initrd, tb)?;
        println!("run {i}: qemu     {}", fmt(&t));
        qm.push(t);
    }
    let _ = std::fs::remove_dir_all(&log_dir);

    let med =
        |v: &[Times], f: fn(&Times) -> Option<Duration>| median(v.iter().filter_map(f).collect());
    println!("\nmedian of {runs} runs, TCG, 1 vCPU, 128 MiB, tb-cache {tb} MiB:");
    println!("                     libvirt    plain qemu   ratio");
    for (label, f) in [
        (
            "first console line",
            (|t: &Times| t.first_line) as fn(&Times) -> Option<Duration>,
        ),
        ("KUMO-INIT (init)", |t: &Times| t.init),
        ("KUMO-READY", |t: &Times| t.ready),
    ] {
        let (a, b) = (med(&lv, f), med(&qm, f));
        let ratio = match (a, b) {
            (Some(a), Some(b)) if b.as_secs_f64() > 0.0 => {
                format!("{:.2}", a.as_secs_f64() / b.as_secs_f64())
            }
            _ => "-".into(),
        };
        println!("  {label:<18} {:>9}  {:>11}   {ratio}", secs(a), secs(b));
    }
    println!("  libvirt start() call alone: {}", secs(median(starts)));
    // Other work on the host slows TCG guests down: report the load the figures were taken under.
    let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    println!(
        "  host: {} CPUs, loadavg {}",
        std::thread::available_parallelism().map_or(0, |n| n.get()),
        load.trim()
    );
    Ok(())
}

/// Defines and starts a fresh domain, polls its console log until KUMO-READY, removes it.
fn libvirt_boot(
    hv: &LibvirtHypervisor,
    kernel: &std::path::Path,
    initrd: &std::path::Path,
) -> Result<(Times, Duration), Box<dyn std::error::Error>> {
    let name = format!("i-bench{:012x}", rand::random::<u64>() & 0xffff_ffff_ffff);
    let spec = DomainSpec {
        name: name.clone(),
        vcpus: 1,
        memory_mib: 128,
        boot: Boot::Kernel {
            kernel: kernel.into(),
            initrd: Some(initrd.into()),
            cmdline: CMDLINE.into(),
        },
        disks: vec![],
        nics: vec![],
    };
    hv.define(&spec)?;
    let t0 = Instant::now();
    let started = hv.start(&name);
    let start_call = t0.elapsed();
    let mut t = Times::default();
    if started.is_ok() {
        while t.ready.is_none() && t0.elapsed() < LIMIT {
            let out = hv.console_output(&name, 1 << 20).unwrap_or_default();
            t.observe(&String::from_utf8_lossy(&out), t0.elapsed());
            std::thread::sleep(Duration::from_millis(10));
        }
    }
    let _ = hv.destroy(&name);
    let _ = hv.undefine(&name);
    let _ = std::fs::remove_file(hv.config().console_log_path(&name));
    started?;
    Ok((t, start_call))
}

/// Runs the same guest with plain QEMU, serial on stdout; the guest powers off after READY
/// (`kumo.halt`), or is killed at the limit.
fn qemu_boot(
    kernel: &std::path::Path,
    initrd: &std::path::Path,
    tb_mib: u32,
) -> Result<Times, Box<dyn std::error::Error>> {
    let t0 = Instant::now();
    let mut child = Command::new("qemu-system-x86_64")
        .args([
            "-accel",
            &format!("tcg,tb-size={tb_mib}"),
            "-machine",
            "pc",
            "-m",
            "128",
            "-smp",
            "1",
        ])
        .args([
            "-nodefaults",
            "-no-user-config",
            "-display",
            "none",
            "-monitor",
            "none",
            "-serial",
            "stdio",
        ])
        // The same devices libvirt gives the domain (virtio-rng, serial), nothing else.
        .args([
            "-object",
            "rng-random,id=rng0,filename=/dev/urandom",
            "-device",
            "virtio-rng-pci,rng=rng0",
        ])
        .args(["-no-reboot", "-kernel"])
        .arg(kernel)
        .arg("-initrd")
        .arg(initrd)
        .args(["-append", &format!("{CMDLINE} kumo.halt")])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()?;
    let mut stdout = child.stdout.take().ok_or("no stdout")?;
    let (tx, rx) = mpsc::channel::<(Vec<u8>, Duration)>();
    let reader = std::thread::spawn(move || {
        let mut buf = [0u8; 4096];
        while let Ok(n) = stdout.read(&mut buf) {
            if n == 0 || tx.send((buf[..n].to_vec(), t0.elapsed())).is_err() {
                break;
            }
        }
    });
    let mut seen = Vec::new();
    let mut t = Times::default();
    while t.ready.is_none() && t0.elapsed() < LIMIT {
        match rx.recv_timeout(Duration::from_millis(200)) {
            Ok((chunk, at)) => {
                seen.extend_from_slice(&chunk);
                t.observe(&String::from_utf8_lossy(&seen), at);
            }
            Err(mpsc::RecvTimeoutError::Timeout) => {}
            Err(mpsc::RecvTimeoutError::Disconnected) => break,
        }
    }
    let _ = child.kill();
    let _ = child.wait();
    let _ = reader.join();
    Ok(t)
}

fn median(mut v: Vec<Duration>) -> Option<Duration> {
    v.sort();
    v.get(v.len() / 2).copied()
}

fn secs(d: Option<Duration>) -> String {
    d.map(|d| format!("{:.2} s", d.as_secs_f64()))
        .unwrap_or_else(|| "-".into())
}

fn fmt(t: &Times) -> String {
    format!(
        "first line {}, KUMO-INIT {}, KUMO-READY {}",
        secs(t.first_line),
        secs(t.init),
        secs(t.ready)
    )
}
