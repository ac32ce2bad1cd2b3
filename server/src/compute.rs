//! Compute wiring: the one place that picks the real drivers behind instances — libvirt
//! (`kumo-compute-libvirt`), volumes (qcow2 files or RBD, per `[storage.blocks]`, opened by
//! `crate::storage`) and the Linux network fabric
//! with its metadata service (`kumo-net-linux`) — and starts the compute reconciler.
//!
//! Why compute is optional at run time: S3 and the control plane are useful on a machine
//! without libvirt, so a host that cannot run guests starts anyway, says why loudly, and
//! answers `RunInstances` with `InsufficientInstanceCapacity` instead of pretending.
//!
//! Layout under `DATA_DIR/compute` (0755, so that QEMU, running as `libvirt-qemu`, reaches its
//! disks): `blocks/` (volumes, root disks, image bases), `console/` (serial logs), `net/`
//! (fabric records), `imports/` (0700: S3 objects being imported as images), `owner` (this
//! installation's id, marking its domains).

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use kumo_config::{Accelerator, BlockStorageConfig, ComputeConfig, HypervisorKind};
use kumo_core::compute::reconciler::{Compute, ComputeConfig as ReconcilerConfig};
use kumo_core::ec2::Ec2;
use kumo_driver_api::{BlockStore, Hypervisor, NetworkFabric};

use crate::hosts::{HostSite, SiteParts};

/// The public image built from `image_dir`.
pub const TINY_IMAGE_NAME: &str = "kumo-tiny-x86_64";
/// Its base disk in the block store.
const TINY_BASE: &str = "kumo-tiny";
/// Size of that base disk: the tiny image runs from its initramfs, the disk is scratch space.
const TINY_BASE_BYTES: u64 = 1 << 30;
/// How long `auto` waits for a KVM probe guest's first console line.
const PROBE_DEADLINE: Duration = Duration::from_secs(20);
/// Where the accelerator probe's verdict is cached for the host (cleared at reboot).
const PROBE_CACHE: &str = "/run/kumo/accelerator";

/// Starts compute when configured and possible — the local host, then every host registered
/// with `kumo host add` — ; `None` (logged) otherwise.
pub async fn start(
    cfg: &ComputeConfig,
    blocks_cfg: &BlockStorageConfig,
    net_cfg: &kumo_config::NetworkConfig,
    data_dir: &Path,
    ec2: &Ec2,
) -> anyhow::Result<Option<Arc<HostSite>>> {
    let dir = data_dir.join("compute");
    for sub in ["", "blocks", "console", "net"] {
        let d = dir.join(sub);
        std::fs::create_dir_all(&d).with_context(|| format!("creating {}", d.display()))?;
    }
    for sub in ["", "blocks"] {
        std::fs::set_permissions(dir.join(sub), std::fs::Permissions::from_mode(0o755))?;
    }
    if cfg.hypervisor == HypervisorKind::None {
        tracing::info!("compute disabled by configuration ([compute] hypervisor = \"none\")");
        images_only(&dir, ec2);
        return Ok(None);
    }
    let owner = owner_id(&dir)?;
    if cfg.host_setup {
        let image_dir = cfg.image_dir.clone();
        if let Err(e) = tokio::task::spawn_blocking(move || host_setup(&image_dir)).await? {
            tracing::warn!(
                error = format!("{e:#}"),
                "host setup failed; trying with what is installed"
            );
        }
    }
    let image_dir = cfg.image_dir.clone();
    let reconciler = ReconcilerConfig {
        stop_timeout: Duration::from_secs(cfg.stop_timeout_secs),
        cpu_allocation_ratio: cfg.cpu_allocation_ratio,
        underlay: net_cfg.underlay_address,
        ..ReconcilerConfig::default()
    };
    let cfg = cfg.clone();
    let image = TinyImage::find(&cfg.image_dir);
    let setup = {
        let dir = dir.clone();
        let image = image.clone();
        let blocks_cfg = blocks_cfg.clone();
        tokio::task::spawn_blocking(move || {
            open_drivers(&cfg, &blocks_cfg, &dir, &owner, image.as_ref())
        })
    };
    let (hv, blocks, libvirt) = match setup.await? {
        Ok(drivers) => drivers,
        Err(e) => {
            tracing::error!(
                error = format!("{e:#}"),
                "compute disabled: instances cannot run on this host (RunInstances answers InsufficientInstanceCapacity)"
            );
            images_only(&dir, ec2);
            return Ok(None);
        }
    };
    if let Some(image) = &image {
        let blocks = blocks.clone();
        tokio::task::spawn_blocking(move || ensure_base(blocks.as_ref()))
            .await?
            .context("creating the tiny image's base disk")?;
        let id = ec2
            .register_public_image(&image.public_image())
            .context("registering the tiny public image")?;
        tracing::info!(image = TINY_IMAGE_NAME, %id, "public image registered");
    } else {
        tracing::warn!(
            dir = %image_dir.display(),
            "no bootable cloud image found: build it with drivers/compute-libvirt/image/build-image.sh"
        );
    }
    // User images (RegisterImage/ImportImage from S3, CreateImage, deregistered bytes).
    let builder = kumo_core::compute::image_builder::ImageBuilder::new(
        ec2.clone(),
        blocks.clone(),
        dir.join("imports"),
        kumo_core::compute::image_builder::BuilderConfig::default(),
    )
    .inspect_err(|e| {
        tracing::error!(error = %e, "image builder unavailable: registered images stay pending");
    })
    .ok();
    let compute = Compute::new(ec2.clone(), hv.clone(), blocks.clone(), reconciler.clone())
        .context("registering this host")?;
    let fabric = match network(&dir, net_cfg, ec2) {
        Ok(fabric) => Some(fabric),
        Err(e) => {
            tracing::error!(
                error = format!("{e:#}"),
                "network fabric unavailable: guests boot without VPC networking or metadata"
            );
            None
        }
    };
    let compute = match &fabric {
        Some(f) => compute.with_network(f.clone()),
        None => compute,
    };
    if fabric.is_some() {
        match load_balancers(&dir) {
            Ok(driver) => ec2.set_load_balancer_driver(driver),
            Err(e) => tracing::error!(
                error = format!("{e:#}"),
                "load balancer data plane unavailable: load balancers are records only"
            ),
        }
    }
    let _loop = compute.spawn_reconciler();
    let _builder = builder.map(|b| b.spawn());
    let site = Arc::new(HostSite::new(SiteParts {
        ec2: ec2.clone(),
        blocks,
        network: fabric,
        host_network: HostNetwork {
            dir: dir.clone(),
            net_cfg: net_cfg.clone(),
            ec2: ec2.clone(),
        },
        libvirt,
        reconciler,
        local: compute,
        local_hypervisor: hv,
    }));
    let runtime = tokio::runtime::Handle::current();
    let registered = site.clone();
    tokio::task::spawn_blocking(move || registered.start_registered(&runtime)).await?;
    Ok(Some(site))
}

/// Without a hypervisor, images are still built (they are storage: an S3 object copied into
/// the block store), so `RegisterImage`/`ImportImage` reach `available` on an S3-only host too.
fn images_only(dir: &Path, ec2: &Ec2) {
    let started = kumo_blocks_local::LocalBlockStore::open(dir.join("blocks"))
        .map_err(anyhow::Error::from)
        .and_then(|blocks| {
            Ok(kumo_core::compute::image_builder::ImageBuilder::new(
                ec2.clone(),
                Arc::new(blocks),
                dir.join("imports"),
                kumo_core::compute::image_builder::BuilderConfig::default(),
            )?)
        });
    match started {
        Ok(builder) => {
            let _builder = builder.spawn();
        }
        Err(e) => tracing::error!(
            error = format!("{e:#}"),
            "image builder unavailable: registered images stay pending"
        ),
    }
}

/// The cloud's tiny image: a kernel and an initramfs on the host.
#[derive(Debug, Clone)]
struct TinyImage {
    kernel: PathBuf,
    initrd: PathBuf,
}

impl TinyImage {
    fn find(dir: &Path) -> Option<Self> {
        let kernel = dir.join("vmlinuz");
        let initrd = dir.join("initramfs.gz");
        (kernel.is_file() && initrd.is_file()).then_some(Self { kernel, initrd })
    }

    fn public_image(&self) -> kumo_core::ec2::image::PublicImage {
        kumo_core::ec2::image::PublicImage {
            name: TINY_IMAGE_NAME.to_owned(),
            description:
                "Kumo tiny Linux (Debian kernel, busybox init: DHCP, IMDSv2, SSH key, user-data)"
                    .to_owned(),
            block_store_image: TINY_BASE.to_owned(),
            size_gib: 1,
            architecture: "x86_64".to_owned(),
            boot_mode: "legacy-bios".to_owned(),
            kernel_boot: Some(kumo_core::ec2::image::KernelBoot {
                kernel: self.kernel.display().to_string(),
                initrd: Some(self.initrd.display().to_string()),
                cmdline: "console=ttyS0 quiet panic=-1".to_owned(),
            }),
        }
    }
}

fn ensure_base(blocks: &dyn BlockStore) -> anyhow::Result<()> {
    if blocks.info(TINY_BASE)?.is_none() {
        blocks.create(TINY_BASE, TINY_BASE_BYTES)?;
    }
    Ok(())
}

/// This installation's id, created once: it marks the domains it owns.
fn owner_id(dir: &Path) -> anyhow::Result<String> {
    let path = dir.join("owner");
    match std::fs::read_to_string(&path) {
        Ok(s) if !s.trim().is_empty() => return Ok(s.trim().to_owned()),
        Ok(_) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(e).with_context(|| format!("reading {}", path.display())),
    }
    let id = uuid::Uuid::new_v4().simple().to_string();
    let tmp = dir.join("owner.tmp");
    std::fs::write(&tmp, &id)?;
    std::fs::File::open(&tmp)?.sync_all()?;
    std::fs::rename(&tmp, &path)?;
    std::fs::File::open(dir)?.sync_all()?;
    Ok(id)
}

type Drivers = (
    Arc<dyn Hypervisor>,
    Arc<dyn BlockStore>,
    kumo_compute_libvirt::LibvirtConfig,
);

/// Reaches libvirt (starting the daemons when they are installed but not running), decides
/// the accelerator, and opens the block store. Blocking.
fn open_drivers(
    cfg: &ComputeConfig,
    blocks_cfg: &BlockStorageConfig,
    dir: &Path,
    owner: &str,
    image: Option<&TinyImage>,
) -> anyhow::Result<Drivers> {
    let mut lv = kumo_compute_libvirt::LibvirtConfig {
        uri: cfg.libvirt_uri.clone(),
        console_log_dir: dir.join("console"),
        owner: Some(owner.to_owned()),
        ..Default::default()
    };
    let first = kumo_compute_libvirt::LibvirtHypervisor::connect(lv.clone());
    if let Err(e) = &first {
        tracing::info!(error = %e, uri = %cfg.libvirt_uri, "libvirt not reachable; starting its daemons");
        start_libvirt_daemons();
    }
    drop(first);
    lv.accelerator = accelerator(cfg, &lv, image)?;
    let hv = kumo_compute_libvirt::LibvirtHypervisor::connect(lv.clone())
        .with_context(|| format!("connecting to libvirt at {}", cfg.libvirt_uri))?;
    tracing::info!(uri = %cfg.libvirt_uri, accelerator = lv.accelerator.as_str(), "hypervisor ready");
    let blocks = crate::storage::open_blocks(blocks_cfg, &dir.join("blocks"))?;
    Ok((Arc::new(hv), blocks, lv))
}

/// The configured accelerator; `auto` boots a probe guest with KVM once per host boot and uses
/// KVM only if it really printed to its console (never trusting `/dev/kvm`).
fn accelerator(
    cfg: &ComputeConfig,
    lv: &kumo_compute_libvirt::LibvirtConfig,
    image: Option<&TinyImage>,
) -> anyhow::Result<kumo_compute_libvirt::Accelerator> {
    use kumo_compute_libvirt::Accelerator as A;
    match cfg.accelerator {
        Accelerator::Kvm => return Ok(A::Kvm),
        Accelerator::Tcg => return Ok(A::Tcg),
        Accelerator::Auto => {}
    }
    if let Ok(cached) = std::fs::read_to_string(PROBE_CACHE) {
        match cached.trim() {
            "kvm" => return Ok(A::Kvm),
            "tcg" => return Ok(A::Tcg),
            _ => {}
        }
    }
    let Some(image) = image else {
        tracing::warn!("accelerator auto: no probe image, using TCG");
        return Ok(A::Tcg);
    };
    tracing::info!("accelerator auto: booting a KVM probe guest (up to 20 s)");
    let chosen =
        kumo_compute_libvirt::probe_accelerator(lv, &image.kernel, &image.initrd, PROBE_DEADLINE)?;
    tracing::info!(accelerator = chosen.as_str(), "accelerator probe done");
    if let Some(parent) = Path::new(PROBE_CACHE).parent()
        && std::fs::create_dir_all(parent).is_ok()
    {
        let _ = std::fs::write(PROBE_CACHE, chosen.as_str());
    }
    Ok(chosen)
}

/// The host setup scripts, embedded so that the binary alone prepares a fresh machine.
const SETUP_LIBVIRT: &str = include_str!("../../drivers/compute-libvirt/setup-libvirt.sh");
const BUILD_IMAGE: &str = include_str!("../../drivers/compute-libvirt/image/build-image.sh");
const IMAGE_INIT: &str = include_str!("../../drivers/compute-libvirt/image/init.sh");
const IMAGE_UDHCPC: &str = include_str!("../../drivers/compute-libvirt/image/udhcpc.sh");
const SETUP_HAPROXY: &str = include_str!("../../drivers/lb-haproxy/setup-haproxy.sh");
/// Installing packages on a fresh machine takes about a minute; never wait forever.
const SETUP_TIMEOUT: Duration = Duration::from_secs(900);

/// As root: installs libvirt and QEMU when missing, starts their daemons, builds the tiny image
/// (all idempotent: quick checks when done). Not root: nothing to do here.
fn host_setup(image_dir: &Path) -> anyhow::Result<()> {
    // The effective user owns /proc/self: root's is uid 0.
    let root = std::fs::metadata("/proc/self")
        .map(|m| std::os::unix::fs::MetadataExt::uid(&m) == 0)
        .unwrap_or(false);
    if !root {
        tracing::info!("not root: skipping host setup (libvirt and the image must be prepared)");
        return Ok(());
    }
    let work = tempfile::Builder::new().prefix("kumo-setup-").tempdir()?;
    let image = work.path().join("image");
    std::fs::create_dir_all(&image)?;
    std::fs::write(work.path().join("setup-libvirt.sh"), SETUP_LIBVIRT)?;
    std::fs::write(image.join("build-image.sh"), BUILD_IMAGE)?;
    std::fs::write(image.join("init.sh"), IMAGE_INIT)?;
    std::fs::write(image.join("udhcpc.sh"), IMAGE_UDHCPC)?;
    run_script(&work.path().join("setup-libvirt.sh"), &[])?;
    // The load balancer data plane's proxy; its failure leaves load balancers without one.
    std::fs::write(work.path().join("setup-haproxy.sh"), SETUP_HAPROXY)?;
    if let Err(e) = run_script(&work.path().join("setup-haproxy.sh"), &[]) {
        tracing::warn!(error = format!("{e:#}"), "haproxy setup failed");
    }
    run_script(&image.join("build-image.sh"), &[image_dir.as_os_str()])?;
    Ok(())
}

fn run_script(script: &Path, args: &[&std::ffi::OsStr]) -> anyhow::Result<()> {
    // Output goes to a file, not a pipe: a pipe nobody reads until the end could fill and
    // stall the script.
    let log_path = script.with_extension("log");
    let log = std::fs::File::create(&log_path)?;
    let mut child = std::process::Command::new("bash")
        .arg(script)
        .args(args)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(log)
        .spawn()
        .with_context(|| format!("running {}", script.display()))?;
    let deadline = std::time::Instant::now() + SETUP_TIMEOUT;
    loop {
        if let Some(status) = child.try_wait()? {
            let err = std::fs::read_to_string(&log_path).unwrap_or_default();
            for line in err.lines() {
                tracing::info!(script = %script.display(), "{line}");
            }
            anyhow::ensure!(
                status.success(),
                "{} exited with {status}",
                script.display()
            );
            return Ok(());
        }
        if std::time::Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            anyhow::bail!(
                "{} did not finish within {SETUP_TIMEOUT:?}",
                script.display()
            );
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// Starts `virtlogd` and `libvirtd` when installed (machines without systemd), then waits up to
/// ten seconds for libvirt's socket.
fn start_libvirt_daemons() {
    for (daemon, args) in [("virtlogd", ["-d"]), ("libvirtd", ["-d"])] {
        let path = ["/usr/sbin", "/sbin", "/usr/bin"]
            .iter()
            .map(|d| Path::new(d).join(daemon))
            .find(|p| p.is_file());
        let Some(path) = path else { continue };
        match std::process::Command::new(&path)
            .args(args)
            .stdin(std::process::Stdio::null())
            .status()
        {
            Ok(s) if s.success() => tracing::info!(daemon, "started"),
            Ok(s) => tracing::warn!(daemon, status = %s, "did not start (already running?)"),
            Err(e) => tracing::warn!(daemon, error = %e, "could not be started"),
        }
    }
    let socket = Path::new("/run/libvirt/libvirt-sock");
    for _ in 0..100 {
        if socket.exists() {
            return;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// The ELBv2 data plane: a namespace and an haproxy per load balancer, runtime files under
/// `DATA_DIR/compute/lb` (this installation's inventory for the orphan sweep).
fn load_balancers(dir: &Path) -> anyhow::Result<Arc<dyn kumo_driver_api::LoadBalancerDriver>> {
    if !kumo_lb_haproxy::available() {
        anyhow::bail!("haproxy is not installed (drivers/lb-haproxy/setup-haproxy.sh)");
    }
    let driver =
        kumo_lb_haproxy::HaproxyLb::new(kumo_lb_haproxy::HaproxyLbConfig::new(dir.join("lb")))?;
    Ok(Arc::new(driver))
}

/// The Linux network fabric with the metadata service answering from the EC2 records.
fn network(
    dir: &Path,
    net_cfg: &kumo_config::NetworkConfig,
    ec2: &Ec2,
) -> anyhow::Result<Arc<dyn NetworkFabric>> {
    let fabric = linux_fabric(
        kumo_net_linux::LinuxFabricConfig {
            outside_address: net_cfg.outside_address,
            underlay: net_cfg.underlay_address,
            vxlan_port: net_cfg.vxlan_port,
            ..kumo_net_linux::LinuxFabricConfig::new(dir.join("net"))
        },
        ec2,
        &tokio::runtime::Handle::current(),
    )?;
    tracing::info!(
        namespace = fabric.public_netns(),
        underlay = ?net_cfg.underlay_address,
        "the public side of VPCs (internet gateways, public and elastic IPs) is this namespace"
    );
    Ok(Arc::new(fabric))
}

/// A Linux fabric serving instance metadata from the EC2 records.
fn linux_fabric(
    cfg: kumo_net_linux::LinuxFabricConfig,
    ec2: &Ec2,
    runtime: &tokio::runtime::Handle,
) -> anyhow::Result<kumo_net_linux::LinuxFabric> {
    let source = Arc::new(kumo_core::compute::metadata::InstanceMetadataSource::new(
        ec2.clone(),
    ));
    let imds = kumo_net_linux::Imds::new(source, runtime.clone());
    Ok(kumo_net_linux::LinuxFabric::new(cfg, Some(imds))?)
}

/// Builds the network fabric of a registered host that has its own
/// (`kumo host add --netns NS --underlay ADDR`).
///
/// Layout: its libvirtd runs in namespace `NS` (the fabric's host namespace, where taps
/// appear and the per-ENI bridges are made); its VPC routers are namespaces
/// `<fabric_prefix(name)>-vpc-<vpc-id>`; its records live in `DATA_DIR/compute/hosts/<name>/net`
/// (its own inventory: the local fabric's sweep never sees them, nor it the local ones); its
/// dnsmasq files in `/run/kumo-net/<prefix>` — a tmpfs, as for the local fabric, and not
/// under the data directory, which dnsmasq (dropping privileges to its own user) could not
/// traverse; its public side is a namespace of its own (`<prefix>-public-<hash>`); and it has
/// a metadata service of its own over the same records.
#[derive(Debug, Clone)]
pub struct HostNetwork {
    /// `DATA_DIR/compute`.
    pub dir: PathBuf,
    /// `[network]`.
    pub net_cfg: kumo_config::NetworkConfig,
    /// The records the metadata service answers from.
    pub ec2: Ec2,
}

impl HostNetwork {
    /// The fabric of host `name`.
    pub fn fabric(
        &self,
        name: &str,
        host: &kumo_core::compute::hosts::HostFabric,
        runtime: &tokio::runtime::Handle,
    ) -> anyhow::Result<Arc<kumo_net_linux::LinuxFabric>> {
        let prefix = crate::hosts::fabric_prefix(&self.dir, name);
        let state_dir = self.dir.join("hosts").join(name).join("net");
        std::fs::create_dir_all(&state_dir)
            .with_context(|| format!("creating {}", state_dir.display()))?;
        let defaults = kumo_net_linux::LinuxFabricConfig::new(&state_dir);
        let runtime_dir = defaults.runtime_dir.join(&prefix);
        let fabric = linux_fabric(
            kumo_net_linux::LinuxFabricConfig {
                host_netns: Some(host.netns.clone()),
                underlay: Some(host.underlay),
                vxlan_port: self.net_cfg.vxlan_port,
                prefix: prefix.clone(),
                runtime_dir,
                outside_address: self.net_cfg.outside_address,
                ..defaults
            },
            &self.ec2,
            runtime,
        )
        .with_context(|| format!("host {name}'s network fabric (namespace {})", host.netns))?;
        tracing::info!(
            host = %name,
            netns = %host.netns,
            underlay = %host.underlay,
            prefix = %prefix,
            public = fabric.public_netns(),
            "the host's own network fabric"
        );
        Ok(Arc::new(fabric))
    }
}
