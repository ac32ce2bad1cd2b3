//! A real guest kernel on the fabric (root, QEMU under TCG): QEMU creates the guest's tap
//! itself in the host namespace, as libvirt does; the fabric is plugged before the guest starts
//! and again once the tap exists (the compute reconciler's order). The guest (a busybox
//! initramfs) takes its address by DHCP and reads its instance id from the metadata service
//! with an IMDSv2 token. Skipped when QEMU, a kernel or cpio is missing, or when
//! `KUMO_SKIP_QEMU_TESTS` is set.

mod common;

use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::Env;
use kumo_driver_api::{EniSpec, NetworkFabric, SubnetSpec, VpcSpec};
use kumo_net_linux::cmd;

const GUEST_INIT: &str = r#"#!/bin/sh
mount -t proc proc /proc; mount -t sysfs sys /sys; mount -t devtmpfs dev /dev 2>/dev/null
for m in $(cat /modules.order); do insmod "/$m"; done
ip link set lo up; ip link set eth0 up
udhcpc -i eth0 -s /udhcpc.sh -q -n -t 20 -T 1 >/dev/null 2>&1
echo "KUMO-LEASE $(ip -4 -o addr show dev eth0 | awk '{print $4}') $(ip route | grep default)"
TOKEN=$(printf 'PUT /latest/api/token HTTP/1.0\r\nX-aws-ec2-metadata-token-ttl-seconds: 60\r\n\r\n' | timeout 5 nc 169.254.169.254 80 | tail -n 1)
V1=$(printf 'GET /latest/meta-data/instance-id HTTP/1.0\r\n\r\n' | timeout 5 nc 169.254.169.254 80 | head -n 1)
ID=$(printf "GET /latest/meta-data/instance-id HTTP/1.0\r\nX-aws-ec2-metadata-token: $TOKEN\r\n\r\n" | timeout 5 nc 169.254.169.254 80 | tail -n 1)
echo "KUMO-IMDS v1=[$V1] v2=[$ID]"
echo KUMO-DONE
poweroff -f
"#;

const UDHCPC: &str = "#!/bin/sh\ncase \"$1\" in bound|renew)\n  ip addr add \"$ip/$mask\" dev \"$interface\"\n  for r in $router; do ip route replace default via \"$r\" dev \"$interface\"; break; done ;;\nesac\nexit 0\n";

fn kernel() -> Option<(PathBuf, String)> {
    let mut found: Vec<PathBuf> = std::fs::read_dir("/boot")
        .ok()?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .collect();
    found.sort();
    let k = found.into_iter().rev().find(|p| {
        p.file_name()
            .is_some_and(|n| n.to_string_lossy().starts_with("vmlinuz-"))
    })?;
    let version = k
        .file_name()?
        .to_string_lossy()
        .trim_start_matches("vmlinuz-")
        .to_string();
    Path::new("/lib/modules")
        .join(&version)
        .exists()
        .then_some((k, version))
}

fn tool(name: &str) -> bool {
    cmd::run(
        "sh",
        &["-c", &format!("command -v {name}")],
        None,
        common::T,
    )
    .is_ok_and(|o| o.success)
}

/// Builds a busybox initramfs with virtio-net and the test's /init.
fn initramfs(dir: &Path, version: &str) -> PathBuf {
    let root = dir.join("initramfs");
    let script = format!(
        r#"set -e
R={root}; mkdir -p $R/bin $R/proc $R/sys $R/dev
cp /bin/busybox $R/bin/busybox
for a in $(/bin/busybox --list); do [ -e $R/bin/$a ] || ln -s busybox $R/bin/$a; done
for m in virtio_pci virtio_net; do modprobe -S {version} --show-depends $m; done | awk '$1=="insmod"{{print $2}}' | awk '!s[$0]++' > {dir}/mods
: > $R/modules.order
while read -r p; do mkdir -p "$R$(dirname $p)"; cp "$p" "$R$p"; echo "${{p#/}}" >> $R/modules.order; done < {dir}/mods
cd $R && find . | cpio -o -H newc --quiet | gzip -1 > {dir}/initramfs.gz
"#,
        root = root.display(),
        dir = dir.display(),
    );
    std::fs::create_dir_all(&root).expect("initramfs dir");
    std::fs::write(root.join("init"), GUEST_INIT).expect("init");
    std::fs::write(root.join("udhcpc.sh"), UDHCPC).expect("udhcpc script");
    cmd::check(
        "chmod",
        &[
            "+x",
            &root.join("init").display().to_string(),
            &root.join("udhcpc.sh").display().to_string(),
        ],
        common::T,
    )
    .expect("chmod");
    cmd::check("sh", &["-c", &script], Duration::from_secs(60)).expect("build initramfs");
    dir.join("initramfs.gz")
}

#[test]
fn a_qemu_guest_gets_its_lease_and_its_metadata() {
    if common::skipped("a_qemu_guest_gets_its_lease_and_its_metadata") {
        return;
    }
    if std::env::var_os("KUMO_SKIP_QEMU_TESTS").is_some() {
        eprintln!("SKIPPED: qemu guest test: KUMO_SKIP_QEMU_TESTS is set");
        return;
    }
    let Some((kernel, version)) = kernel() else {
        eprintln!("SKIPPED: qemu guest test: no /boot/vmlinuz-* with modules");
        return;
    };
    if !Path::new("/bin/busybox").exists() {
        eprintln!("SKIPPED: qemu guest test: /bin/busybox not installed");
        return;
    }
    for t in ["qemu-system-x86_64", "cpio", "gzip", "modprobe"] {
        if !tool(t) {
            eprintln!("SKIPPED: qemu guest test: {t} not installed");
            return;
        }
    }
    let env = Env::new("q");
    let p = env.prefix.clone();
    let (vpc_id, subnet_id, eni_id, tap) = (
        format!("vpc-{p}"),
        format!("subnet-{p}"),
        format!("eni-{p}"),
        format!("{p}t"),
    );
    let mac = "02:00:0a:00:01:2a";
    env.track_vpc(&vpc_id);
    env.source.0.lock().expect("lock").insert(
        eni_id.clone(),
        common::metadata("i-0qemu", &eni_id, &vpc_id, "10.0.1.42", mac, true),
    );
    let initrd = initramfs(env.state.path(), &version);

    env.fabric
        .ensure_vpc(&VpcSpec {
            vpc_id: vpc_id.clone(),
            cidrs: vec!["10.0.0.0/16".parse().expect("cidr")],
            dns: Ipv4Addr::new(10, 0, 0, 2),
            domain_name: "kumo-1.compute.internal".into(),
            enable_dns_support: true,
            vni: 1,
        })
        .expect("ensure_vpc");
    env.fabric
        .ensure_subnet(&SubnetSpec {
            subnet_id: subnet_id.clone(),
            vpc_id: vpc_id.clone(),
            cidr: "10.0.1.0/24".parse().expect("cidr"),
            gateway: Ipv4Addr::new(10, 0, 1, 1),
        })
        .expect("ensure_subnet");
    let spec = EniSpec {
        eni_id: eni_id.clone(),
        vpc_id: vpc_id.clone(),
        subnet_id,
        tap: tap.clone(),
        mac: mac.into(),
        ip: Ipv4Addr::new(10, 0, 1, 42),
        prefix_len: 24,
        gateway: Ipv4Addr::new(10, 0, 1, 1),
        instance_id: Some("i-0qemu".into()),
        dns_names: Vec::new(),
    };
    // 1. Plug before the guest starts: the VPC side is ready, the tap does not exist yet.
    assert!(
        !env.fabric
            .plug(&spec)
            .expect("plug before start")
            .tap_attached
    );

    // 2. Start the guest; QEMU creates the tap in the host namespace, where it runs.
    let log = env.state.path().join("console.log");
    let mut qemu = Command::new("ip")
        .args([
            "netns",
            "exec",
            &env.host_ns,
            "qemu-system-x86_64",
            "-accel",
            "tcg",
            "-M",
            "pc",
            "-m",
            "128",
            "-nodefaults",
            "-display",
            "none",
            "-no-reboot",
        ])
        .args([
            "-kernel",
            &kernel.display().to_string(),
            "-initrd",
            &initrd.display().to_string(),
        ])
        .args(["-append", "console=ttyS0 panic=-1 quiet"])
        .args(["-serial", &format!("file:{}", log.display())])
        .args([
            "-netdev",
            &format!("tap,id=n0,ifname={tap},script=no,downscript=no"),
        ])
        .args([
            "-device",
            &format!("virtio-net-pci,netdev=n0,mac={mac},romfile="),
        ])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("qemu starts");

    // 3. Plug again once the tap exists: it joins the ENI's bridge.
    let started = Instant::now();
    let mut attached = false;
    while started.elapsed() < Duration::from_secs(20) && !attached {
        std::thread::sleep(Duration::from_millis(100));
        if common::links(&env.host_ns).contains(&tap) {
            attached = env
                .fabric
                .plug(&spec)
                .expect("plug after start")
                .tap_attached;
        }
    }

    // 4. Wait (bounded) for the guest's report.
    let deadline = Instant::now() + Duration::from_secs(150);
    let mut console = String::new();
    while attached && Instant::now() < deadline {
        console = std::fs::read_to_string(&log).unwrap_or_default();
        if console.contains("KUMO-DONE") || qemu.try_wait().ok().flatten().is_some() {
            break;
        }
        std::thread::sleep(Duration::from_millis(250));
    }
    let _ = qemu.kill();
    let _ = qemu.wait();
    console = std::fs::read_to_string(&log).unwrap_or(console);
    let report: Vec<&str> = console.lines().filter(|l| l.starts_with("KUMO-")).collect();
    eprintln!("guest report after {:?}: {report:?}", started.elapsed());
    assert!(attached, "the tap never joined the bridge");
    assert!(
        console.contains("KUMO-LEASE 10.0.1.42/24 default via 10.0.1.1"),
        "no DHCP lease:\n{console}"
    );
    assert!(
        console.contains("KUMO-IMDS v1=[HTTP/1.0 401"),
        "IMDSv1 must be refused:\n{console}"
    );
    assert!(console.contains("v2=[i-0qemu]"), "no metadata:\n{console}");
}
