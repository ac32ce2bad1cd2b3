//! The fabric's own record of each VPC it was told about: subnets and plugged ENIs.
//!
//! The DHCP host list and the nftables ruleset are *rendered* from this record as a whole, so
//! every change re-derives them from one place and a repeated call converges instead of
//! appending twice. The record is written atomically (temp file, fsync, rename) before the
//! kernel is changed: after a crash it may describe more than exists, never less, and the
//! reconciler's repeated calls close the gap.

use std::collections::BTreeMap;
use std::io::Write;
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};

use kumo_driver_api::{Ipv4Cidr, NetworkError, RoutingPolicy, SecurityPolicy};
use serde::{Deserialize, Serialize};

/// A subnet as recorded.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SubnetRecord {
    /// The subnet's CIDR (`10.0.1.0/24`).
    pub cidr: String,
    /// Its router address.
    pub gateway: Ipv4Addr,
}

impl SubnetRecord {
    /// The parsed CIDR.
    pub fn cidr(&self) -> Result<Ipv4Cidr, NetworkError> {
        self.cidr.parse()
    }
}

/// A plugged ENI as recorded.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EniRecord {
    /// Its subnet.
    pub subnet_id: String,
    /// The guest's tap on the host side.
    pub tap: String,
    /// MAC address, lower case.
    pub mac: String,
    /// Primary private IPv4.
    pub ip: Ipv4Addr,
    /// The attached instance.
    pub instance_id: Option<String>,
    /// Further DNS names of its address (`EniSpec::dns_names`).
    #[serde(default)]
    pub dns_names: Vec<String>,
}

/// Everything recorded about one VPC.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct VpcRecord {
    /// CIDRs, primary first.
    pub cidrs: Vec<String>,
    /// DNS server handed out by DHCP.
    pub dns: Option<Ipv4Addr>,
    /// Domain name handed out by DHCP.
    pub domain_name: String,
    /// Whether AmazonProvidedDNS answers (`enableDnsSupport`).
    #[serde(default)]
    pub dns_support: bool,
    /// The VNI of the VPC's tunnel to its routers on other hosts; `None` when this fabric has
    /// no underlay (a single host).
    #[serde(default)]
    pub vni: Option<u32>,
    /// Subnets by id.
    pub subnets: BTreeMap<String, SubnetRecord>,
    /// ENIs by id.
    pub enis: BTreeMap<String, EniRecord>,
    /// Security groups and network ACLs; `None` until the VPC was given a policy (its ENIs'
    /// traffic is then not filtered beyond anti-spoofing).
    #[serde(default)]
    pub security: Option<SecurityPolicy>,
    /// Route tables and the public side; `None` until the VPC was given a routing policy (it
    /// then reaches nothing outside itself).
    #[serde(default)]
    pub routing: Option<RoutingPolicy>,
}

/// The directory holding one VPC's files (record, dnsmasq config, hosts, pid, leases, log).
pub fn vpc_dir(state_dir: &Path, vpc_id: &str) -> PathBuf {
    state_dir.join("vpcs").join(vpc_id)
}

fn record_path(state_dir: &Path, vpc_id: &str) -> PathBuf {
    vpc_dir(state_dir, vpc_id).join("vpc.json")
}

/// Loads a VPC's record, `None` if there is none.
pub fn load(state_dir: &Path, vpc_id: &str) -> Result<Option<VpcRecord>, NetworkError> {
    let path = record_path(state_dir, vpc_id);
    match std::fs::read(&path) {
        Ok(bytes) => serde_json::from_slice(&bytes)
            .map(Some)
            .map_err(|e| NetworkError::Failed(format!("corrupt {}: {e}", path.display()))),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(NetworkError::Failed(format!("{}: {e}", path.display()))),
    }
}

/// Stores a VPC's record durably.
pub fn store(state_dir: &Path, vpc_id: &str, record: &VpcRecord) -> Result<(), NetworkError> {
    let bytes = serde_json::to_vec_pretty(record)
        .map_err(|e| NetworkError::Failed(format!("encode: {e}")))?;
    write_atomic(&record_path(state_dir, vpc_id), &bytes)
}

/// Every VPC id with a record.
pub fn list(state_dir: &Path) -> Result<Vec<String>, NetworkError> {
    let dir = state_dir.join("vpcs");
    let entries = match std::fs::read_dir(&dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(NetworkError::Failed(format!("{}: {e}", dir.display()))),
    };
    let mut ids: Vec<String> = entries
        .filter_map(|e| e.ok())
        .filter(|e| e.path().join("vpc.json").exists())
        .filter_map(|e| e.file_name().into_string().ok())
        .collect();
    ids.sort();
    Ok(ids)
}

/// Writes `bytes` to `path` so that readers see the old or the new content, never a mix, and
/// the new content survives a crash once this returns.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), NetworkError> {
    write_atomic_mode(path, bytes, 0o600)
}

/// As [`write_atomic`], with permission bits `mode` (not subject to the umask).
pub fn write_atomic_mode(path: &Path, bytes: &[u8], mode: u32) -> Result<(), NetworkError> {
    use std::os::unix::fs::PermissionsExt;
    let err = |e: std::io::Error| NetworkError::Failed(format!("{}: {e}", path.display()));
    let dir = path
        .parent()
        .ok_or_else(|| NetworkError::Failed(format!("{} has no parent", path.display())))?;
    std::fs::create_dir_all(dir).map_err(err)?;
    let tmp = path.with_extension("tmp");
    let mut file = std::fs::File::create(&tmp).map_err(err)?;
    file.write_all(bytes).map_err(err)?;
    file.set_permissions(std::fs::Permissions::from_mode(mode))
        .map_err(err)?;
    file.sync_all().map_err(err)?;
    std::fs::rename(&tmp, path).map_err(err)?;
    std::fs::File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(err)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_lists() {
        let dir = tempfile::tempdir().expect("tempdir");
        assert_eq!(load(dir.path(), "vpc-1").expect("load"), None);
        let mut rec = VpcRecord {
            cidrs: vec!["10.0.0.0/16".into()],
            ..Default::default()
        };
        rec.subnets.insert(
            "subnet-1".into(),
            SubnetRecord {
                cidr: "10.0.1.0/24".into(),
                gateway: Ipv4Addr::new(10, 0, 1, 1),
            },
        );
        store(dir.path(), "vpc-1", &rec).expect("store");
        assert_eq!(load(dir.path(), "vpc-1").expect("load"), Some(rec));
        assert_eq!(list(dir.path()).expect("list"), vec!["vpc-1".to_string()]);
    }
}
