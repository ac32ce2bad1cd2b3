//! Kumo's configuration.
//!
//! One TOML file (`kumo serve --config FILE`) holds every setting; each subsystem receives only
//! its own section. Every field has a default, so an empty file — or no file at all — is a
//! complete, working single-machine configuration. `config/kumo.example.toml` lists every
//! setting with its default and is checked against [`Config::default`] by a test.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// Errors met while loading or validating a configuration.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("cannot read configuration file {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The file is not valid TOML for this schema.
    #[error("invalid configuration file {path}: {source}")]
    Parse {
        /// The file.
        path: PathBuf,
        /// The parse error, with line and column.
        source: Box<toml::de::Error>,
    },
    /// A value is out of its allowed range or inconsistent with another.
    #[error("invalid configuration: {0}")]
    Invalid(String),
}

/// The whole configuration.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// Listening sockets, TLS and request handling.
    pub server: ServerConfig,
    /// Region and availability zones this Kumo presents.
    pub region: RegionConfig,
    /// Where state and data live on disk.
    pub storage: StorageConfig,
    /// The S3 endpoint.
    pub s3: S3Config,
    /// Compute: the hypervisor of this machine.
    pub compute: ComputeConfig,
    /// The EC2 image catalog.
    pub images: ImagesConfig,
    /// VPC networking: the public side.
    pub network: NetworkConfig,
}

/// The public side of VPCs (internet gateways, public and elastic IPs, NAT gateways).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct NetworkConfig {
    /// The IPv4 block public and elastic IPs are allocated from. Default `198.51.100.0/24`
    /// (TEST-NET-2): on a machine without an uplink, the public side is a namespace Kumo
    /// creates, so the block needs to be routable nowhere else.
    pub public_cidr: String,
    /// The outside world's address on the public side: every VPC's next hop to the internet
    /// (and a client address in the public namespace). Must lie outside `public_cidr`.
    /// Default `203.0.113.1` (TEST-NET-3).
    pub outside_address: std::net::Ipv4Addr,
    /// This host's underlay address: where the other compute hosts' VPC routers reach this
    /// host's through VXLAN (each VPC has its own VNI). It must be configured on an interface
    /// of this server's network namespace. Default none: a single host (hosts registered
    /// with a fabric of their own then cannot reach this host's ENIs, nor it theirs).
    pub underlay_address: Option<std::net::Ipv4Addr>,
    /// The UDP port of the VXLAN tunnels between hosts; all hosts of an installation use the
    /// same. Two installations whose underlays share a network namespace need different
    /// ports (the kernel allows one tunnel per VNI and port there). Default 4789 (IANA's).
    pub vxlan_port: u16,
}

impl Default for NetworkConfig {
    fn default() -> Self {
        Self {
            public_cidr: "198.51.100.0/24".to_owned(),
            outside_address: std::net::Ipv4Addr::new(203, 0, 113, 1),
            underlay_address: None,
            vxlan_port: 4789,
        }
    }
}

impl NetworkConfig {
    /// The public block as (network, prefix length), `None` unless `a.b.c.d/n` with host bits
    /// zero and `n` in 8..=30.
    #[must_use]
    pub fn public_block(&self) -> Option<(std::net::Ipv4Addr, u8)> {
        let (addr, len) = self.public_cidr.split_once('/')?;
        let addr: std::net::Ipv4Addr = addr.parse().ok()?;
        let len: u8 = len.parse().ok().filter(|l| (8..=30).contains(l))?;
        let mask = u32::MAX << (32 - u32::from(len));
        (u32::from(addr) & !mask == 0).then_some((addr, len))
    }
}

/// Listening sockets and TLS.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ServerConfig {
    /// Plain-HTTP listening address. Default `127.0.0.1:8773`.
    pub listen: SocketAddr,
    /// HTTPS listening address; `None` disables HTTPS. Default `127.0.0.1:8774`.
    pub tls_listen: Option<SocketAddr>,
    /// PEM certificate chain for HTTPS. When unset, Kumo generates a self-signed certificate on
    /// first start and writes it to `DATA_DIR/tls/cert.pem` for clients to trust.
    pub tls_cert: Option<PathBuf>,
    /// PEM private key matching `tls_cert`.
    pub tls_key: Option<PathBuf>,
    /// Extra DNS names (besides `localhost`, the S3 base domain and its wildcard) put in the
    /// generated certificate.
    pub tls_names: Vec<String>,
    /// How long SIGTERM waits for in-flight requests before exiting anyway, in seconds.
    pub shutdown_grace_secs: u64,
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 8773)),
            tls_listen: Some(SocketAddr::from(([127, 0, 0, 1], 8774))),
            tls_cert: None,
            tls_key: None,
            tls_names: Vec::new(),
            shutdown_grace_secs: 30,
        }
    }
}

/// The region this Kumo presents to clients.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RegionConfig {
    /// Region name, as clients put it in their SigV4 credential scope. Default `us-east-1`.
    pub name: String,
    /// Availability zones of the region. Default `["us-east-1a"]`.
    pub availability_zones: Vec<String>,
}

impl Default for RegionConfig {
    fn default() -> Self {
        Self {
            name: "us-east-1".to_owned(),
            availability_zones: vec!["us-east-1a".to_owned()],
        }
    }
}

/// Where Kumo keeps its state and data.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
pub struct StorageConfig {
    /// Data directory: the state database, object data, credentials and the TLS certificate.
    /// Default: `/var/lib/kumo` when running as root, else `$XDG_DATA_HOME/kumo`
    /// (`~/.local/share/kumo`). `kumo serve --data-dir` overrides it.
    pub data_dir: Option<PathBuf>,
    /// Where S3 object data lives (`[storage.objects]`).
    pub objects: ObjectStorageConfig,
    /// Where volumes, snapshots and images live (`[storage.blocks]`).
    pub blocks: BlockStorageConfig,
}

/// The backend of S3 object data.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum ObjectBackend {
    /// Files under `DATA_DIR/objects`.
    #[default]
    Local,
    /// A Ceph RADOS pool (blobs striped over RADOS objects).
    Rados,
}

/// The backend of block devices.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum BlockBackend {
    /// qcow2 files under `DATA_DIR/compute/blocks`.
    #[default]
    Local,
    /// RBD images in a Ceph pool; guests attach them as network disks.
    Rbd,
}

/// `[storage.objects]`: where S3 object data lives.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ObjectStorageConfig {
    /// `local` or `rados`. Default `local`.
    pub backend: ObjectBackend,
    /// RADOS pool (`rados`). Default `kumo-objects`.
    pub pool: String,
    /// RADOS namespace in the pool, to share a pool between Kumo installations. Default none.
    pub namespace: Option<String>,
    /// Bytes per RADOS object a blob is striped into (1 B to 128 MiB). Default 4 MiB.
    pub stripe_size: u64,
    /// Seconds a blob left half-written (its head claimed, its header never written: a write
    /// interrupted by a crash) must have existed before the start-up collector removes it.
    /// Why not zero: a killed Kumo's last RADOS writes may still be landing. Default 600.
    pub pending_grace_secs: u64,
    /// The cluster's configuration file (monitors, usually the keyring). Default
    /// `/etc/ceph/ceph.conf`.
    pub ceph_conf: PathBuf,
    /// The cephx user, without `client.`. Default `admin`.
    pub ceph_user: String,
    /// The user's keyring, when `ceph_conf` does not name it. Default none.
    pub ceph_keyring: Option<PathBuf>,
}

impl Default for ObjectStorageConfig {
    fn default() -> Self {
        Self {
            backend: ObjectBackend::Local,
            pool: "kumo-objects".to_owned(),
            namespace: None,
            stripe_size: 4 * 1024 * 1024,
            pending_grace_secs: 600,
            ceph_conf: PathBuf::from("/etc/ceph/ceph.conf"),
            ceph_user: "admin".to_owned(),
            ceph_keyring: None,
        }
    }
}

/// `[storage.blocks]`: where volumes, snapshots and images live.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct BlockStorageConfig {
    /// `local` or `rbd`. Default `local`.
    pub backend: BlockBackend,
    /// RBD pool (`rbd`). Default `kumo-blocks`.
    pub pool: String,
    /// RBD namespace in the pool. Default none. libvirt 9 (Debian 12) cannot attach images
    /// in a namespace (it reads `pool/ns/image` as image `ns/image`): leave it unset where
    /// guests attach volumes.
    pub namespace: Option<String>,
    /// The cluster's configuration file. Default `/etc/ceph/ceph.conf`.
    pub ceph_conf: PathBuf,
    /// The cephx user, without `client.`. Default `admin`.
    pub ceph_user: String,
    /// The user's keyring, when `ceph_conf` does not name it. Default none.
    pub ceph_keyring: Option<PathBuf>,
}

impl Default for BlockStorageConfig {
    fn default() -> Self {
        Self {
            backend: BlockBackend::Local,
            pool: "kumo-blocks".to_owned(),
            namespace: None,
            ceph_conf: PathBuf::from("/etc/ceph/ceph.conf"),
            ceph_user: "admin".to_owned(),
            ceph_keyring: None,
        }
    }
}

/// Pool, namespace and user names go into object names and QEMU/libvirt source strings.
fn ceph_name(what: &str, name: &str) -> Result<(), ConfigError> {
    let ok = !name.is_empty()
        && name.len() <= 128
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'));
    if ok {
        Ok(())
    } else {
        Err(ConfigError::Invalid(format!(
            "{what} {name:?} must be 1-128 of A-Z a-z 0-9 - _ ."
        )))
    }
}

/// The S3 endpoint.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct S3Config {
    /// Base domain for virtual-hosted-style requests: `BUCKET.<base_domain>` addresses a bucket.
    /// Path-style requests work on any host. Default `s3.localhost`.
    pub base_domain: String,
    /// Largest accepted single PUT (and part) in bytes. Default 5 GiB, as AWS.
    pub max_object_size: u64,
}

impl Default for S3Config {
    fn default() -> Self {
        Self {
            base_domain: "s3.localhost".to_owned(),
            max_object_size: 5 * 1024 * 1024 * 1024,
        }
    }
}

/// Which hypervisor runs instances.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum HypervisorKind {
    /// libvirt (QEMU/KVM, or Xen with a `xen://` URI).
    Libvirt,
    /// No compute: the control plane records instances but none can be placed
    /// (`RunInstances` answers `InsufficientInstanceCapacity`).
    None,
}

/// How QEMU executes guest code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Accelerator {
    /// Probe once: boot a test guest with KVM and use KVM only if it really printed to its
    /// console within the deadline; otherwise TCG. Never decided from `/dev/kvm` or libvirt's
    /// capabilities, which claim KVM on hosts where KVM guests hang.
    Auto,
    /// Hardware virtualisation.
    Kvm,
    /// QEMU's emulator: slower, works everywhere.
    Tcg,
}

/// The hypervisor of the local host.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ComputeConfig {
    /// `libvirt` or `none`. Default `libvirt`.
    pub hypervisor: HypervisorKind,
    /// libvirt connection URI. Default `qemu:///system`.
    pub libvirt_uri: String,
    /// `auto`, `kvm` or `tcg`. Default `auto`.
    pub accelerator: Accelerator,
    /// Seconds an ACPI shutdown may take before the guest is powered off. Default 30.
    pub stop_timeout_secs: u64,
    /// Virtual CPUs offered per host CPU (CPU overcommit). Default 4.
    pub cpu_allocation_ratio: u32,
    /// Prepare this host at start (as root): install libvirt and QEMU from Debian when
    /// missing, start `virtlogd`/`libvirtd`, build the tiny image into `image_dir`. Idempotent
    /// and quick once done. Default `true`, so `kumo serve` alone leads to bootable instances.
    pub host_setup: bool,
    /// The cloud's bootable image (`vmlinuz` + `initramfs.gz`, built by
    /// `drivers/compute-libvirt/image/build-image.sh`), registered as the public image
    /// `kumo-tiny-x86_64` when present. Default `/var/lib/kumo/images/tiny`.
    pub image_dir: PathBuf,
}

impl Default for ComputeConfig {
    fn default() -> Self {
        Self {
            hypervisor: HypervisorKind::Libvirt,
            libvirt_uri: "qemu:///system".to_owned(),
            accelerator: Accelerator::Auto,
            stop_timeout_secs: 30,
            cpu_allocation_ratio: 4,
            host_setup: true,
            image_dir: PathBuf::from("/var/lib/kumo/images/tiny"),
        }
    }
}

/// The EC2 image catalog.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
pub struct ImagesConfig {
    /// Public images every account sees (owner alias `amazon`, owner id `000000000000`),
    /// registered at start, idempotently by name. Default none.
    pub public: Vec<PublicImageConfig>,
}

/// One public image.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PublicImageConfig {
    /// AMI name (3–128 characters), e.g. `kumo-linux-2026.01-x86_64`.
    pub name: String,
    /// Description.
    #[serde(default)]
    pub description: String,
    /// The `BlockStore` image holding the bytes.
    pub block_store_image: String,
    /// Root volume size in GiB. Default 8.
    #[serde(default = "default_image_size")]
    pub size_gib: i32,
    /// `x86_64` or `arm64`. Default `x86_64`.
    #[serde(default = "default_architecture")]
    pub architecture: String,
    /// `uefi`, `legacy-bios` or `uefi-preferred`. Default `uefi-preferred`.
    #[serde(default = "default_boot_mode")]
    pub boot_mode: String,
}

fn default_image_size() -> i32 {
    8
}

fn default_architecture() -> String {
    "x86_64".to_owned()
}

fn default_boot_mode() -> String {
    "uefi-preferred".to_owned()
}

impl Config {
    /// Reads and validates a configuration file.
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_owned(),
            source,
        })?;
        Self::parse(&text, path)
    }

    /// Parses and validates configuration text; `origin` names it in errors.
    pub fn parse(text: &str, origin: &Path) -> Result<Self, ConfigError> {
        let config: Self = toml::from_str(text).map_err(|source| ConfigError::Parse {
            path: origin.to_owned(),
            source: Box::new(source),
        })?;
        config.validate()?;
        Ok(config)
    }

    /// Checks values that the type system cannot.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let region = &self.region.name;
        if region.is_empty()
            || !region
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        {
            return Err(ConfigError::Invalid(format!(
                "region.name {region:?} must be lowercase letters, digits and '-'"
            )));
        }
        if self.region.availability_zones.is_empty() {
            return Err(ConfigError::Invalid(
                "region.availability_zones must name at least one zone".to_owned(),
            ));
        }
        for zone in &self.region.availability_zones {
            if !zone.starts_with(region.as_str()) || zone.len() <= region.len() {
                return Err(ConfigError::Invalid(format!(
                    "availability zone {zone:?} must be the region name followed by a letter, e.g. {region}a"
                )));
            }
        }
        if self.server.tls_cert.is_some() != self.server.tls_key.is_some() {
            return Err(ConfigError::Invalid(
                "server.tls_cert and server.tls_key must be set together".to_owned(),
            ));
        }
        if self.server.tls_listen == Some(self.server.listen) {
            return Err(ConfigError::Invalid(
                "server.listen and server.tls_listen must differ".to_owned(),
            ));
        }
        let domain = &self.s3.base_domain;
        if domain.is_empty()
            || domain.split('.').any(|label| {
                label.is_empty()
                    || !label
                        .bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b == b'-')
            })
        {
            return Err(ConfigError::Invalid(format!(
                "s3.base_domain {domain:?} is not a DNS name"
            )));
        }
        let objects = &self.storage.objects;
        ceph_name("storage.objects.pool", &objects.pool)?;
        ceph_name("storage.objects.ceph_user", &objects.ceph_user)?;
        if let Some(ns) = &objects.namespace {
            ceph_name("storage.objects.namespace", ns)?;
        }
        if objects.stripe_size == 0 || objects.stripe_size > 128 * 1024 * 1024 {
            return Err(ConfigError::Invalid(
                "storage.objects.stripe_size must be 1 B to 128 MiB".to_owned(),
            ));
        }
        let blocks = &self.storage.blocks;
        ceph_name("storage.blocks.pool", &blocks.pool)?;
        ceph_name("storage.blocks.ceph_user", &blocks.ceph_user)?;
        if let Some(ns) = &blocks.namespace {
            ceph_name("storage.blocks.namespace", ns)?;
        }
        let Some((net, len)) = self.network.public_block() else {
            return Err(ConfigError::Invalid(format!(
                "network.public_cidr {:?} must be an IPv4 block a.b.c.d/8 to /30 with host bits zero",
                self.network.public_cidr
            )));
        };
        let mask = u32::MAX << (32 - u32::from(len));
        if u32::from(self.network.outside_address) & mask == u32::from(net) {
            return Err(ConfigError::Invalid(
                "network.outside_address must lie outside network.public_cidr".to_owned(),
            ));
        }
        if let Some(u) = self.network.underlay_address
            && (u.is_unspecified()
                || u.is_loopback()
                || u.is_multicast()
                || u.is_broadcast()
                || u.octets()[0] >= 240)
        {
            return Err(ConfigError::Invalid(format!(
                "network.underlay_address {u} must be a unicast address of this host"
            )));
        }
        if self.network.vxlan_port == 0 {
            return Err(ConfigError::Invalid(
                "network.vxlan_port must be a UDP port (1-65535)".to_owned(),
            ));
        }
        if self.s3.max_object_size == 0 {
            return Err(ConfigError::Invalid(
                "s3.max_object_size must be positive".to_owned(),
            ));
        }
        Ok(())
    }

    /// The data directory: the configured one, or the platform default.
    #[must_use]
    pub fn data_dir(&self) -> PathBuf {
        if let Some(dir) = &self.storage.data_dir {
            return dir.clone();
        }
        default_data_dir()
    }
}

/// `/var/lib/kumo` for root, else `$XDG_DATA_HOME/kumo` or `~/.local/share/kumo`.
#[must_use]
pub fn default_data_dir() -> PathBuf {
    let is_root = std::env::var_os("USER").is_some_and(|u| u == "root")
        || std::env::var_os("HOME").is_some_and(|h| h == "/root");
    if is_root {
        return PathBuf::from("/var/lib/kumo");
    }
    if let Some(xdg) = std::env::var_os("XDG_DATA_HOME") {
        return PathBuf::from(xdg).join("kumo");
    }
    if let Some(home) = std::env::var_os("HOME") {
        return PathBuf::from(home).join(".local/share/kumo");
    }
    PathBuf::from("kumo-data")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_file_is_the_default() {
        let config = Config::parse("", Path::new("empty.toml")).expect("empty config parses");
        assert_eq!(config, Config::default());
        assert_eq!(config.server.listen.to_string(), "127.0.0.1:8773");
        assert_eq!(config.region.name, "us-east-1");
        assert_eq!(config.region.availability_zones, ["us-east-1a"]);
    }

    #[test]
    fn example_file_matches_defaults() {
        let text = include_str!("../kumo.example.toml");
        let config = Config::parse(text, Path::new("kumo.example.toml")).expect("example parses");
        let mut expected = Config::default();
        expected.storage.data_dir = Some(PathBuf::from("/var/lib/kumo"));
        assert_eq!(config, expected);
    }

    #[test]
    fn public_images_take_defaults() {
        let text = "[[images.public]]\nname = \"kumo-linux\"\nblock_store_image = \"linux\"\n";
        let config = Config::parse(text, Path::new("t.toml")).expect("parses");
        let image = &config.images.public[0];
        assert_eq!(image.size_gib, 8);
        assert_eq!(image.architecture, "x86_64");
        assert_eq!(image.boot_mode, "uefi-preferred");
        assert!(Config::parse("[[images.public]]\nname = \"x\"\n", Path::new("t.toml")).is_err());
    }

    #[test]
    fn public_network_is_checked() {
        let ok = Config::parse(
            "[network]\npublic_cidr = \"192.0.2.0/24\"\noutside_address = \"203.0.113.9\"\n",
            Path::new("t.toml"),
        )
        .expect("parses");
        assert_eq!(
            ok.network.public_block(),
            Some(("192.0.2.0".parse().expect("ip"), 24))
        );
        assert_eq!(ok.network.underlay_address, None);
        let underlay = Config::parse(
            "[network]\nunderlay_address = \"10.99.0.1\"\n",
            Path::new("t.toml"),
        )
        .expect("parses");
        assert_eq!(
            underlay.network.underlay_address,
            Some("10.99.0.1".parse().expect("ip"))
        );
        for bad in [
            "[network]\npublic_cidr = \"192.0.2.1/24\"\n",
            "[network]\npublic_cidr = \"192.0.2.0/31\"\n",
            "[network]\npublic_cidr = \"nope\"\n",
            "[network]\noutside_address = \"198.51.100.7\"\n",
            "[network]\nunderlay_address = \"127.0.0.1\"\n",
            "[network]\nunderlay_address = \"239.1.1.1\"\n",
            "[network]\nunderlay_address = \"0.0.0.0\"\n",
            "[network]\nunderlay_address = \"10.0.0\"\n",
            "[network]\nvxlan_port = 0\n",
        ] {
            assert!(Config::parse(bad, Path::new("t.toml")).is_err(), "{bad}");
        }
    }

    #[test]
    fn unknown_keys_are_rejected() {
        let err = Config::parse("[server]\nlisten_typo = 1\n", Path::new("x.toml"))
            .expect_err("unknown key must fail");
        assert!(err.to_string().contains("listen_typo"), "{err}");
    }

    #[test]
    fn zone_must_belong_to_region() {
        let text = "[region]\nname = \"eu-west-1\"\navailability_zones = [\"us-east-1a\"]\n";
        let err = Config::parse(text, Path::new("x.toml")).expect_err("zone outside region");
        assert!(matches!(err, ConfigError::Invalid(_)));
    }

    #[test]
    fn ceph_backends_parse_and_validate() {
        let text = "[storage.objects]\nbackend = \"rados\"\npool = \"objs\"\nstripe_size = 1048576\n\
                    [storage.blocks]\nbackend = \"rbd\"\nceph_conf = \"/run/kumo-ceph/ceph.conf\"\n";
        let config = Config::parse(text, Path::new("t.toml")).expect("parses");
        assert_eq!(config.storage.objects.backend, ObjectBackend::Rados);
        assert_eq!(config.storage.objects.pool, "objs");
        assert_eq!(config.storage.objects.stripe_size, 1 << 20);
        assert_eq!(config.storage.blocks.backend, BlockBackend::Rbd);
        assert_eq!(config.storage.blocks.pool, "kumo-blocks");
        assert_eq!(config.storage.blocks.ceph_user, "admin");
        for bad in [
            "[storage.objects]\nbackend = \"s3\"\n",
            "[storage.objects]\nstripe_size = 0\n",
            "[storage.blocks]\npool = \"a/b\"\n",
            "[storage.blocks]\nnamespace = \"\"\n",
        ] {
            assert!(Config::parse(bad, Path::new("t.toml")).is_err(), "{bad}");
        }
    }

    #[test]
    fn tls_cert_needs_key() {
        let text = "[server]\ntls_cert = \"/etc/cert.pem\"\n";
        assert!(Config::parse(text, Path::new("x.toml")).is_err());
    }
}
