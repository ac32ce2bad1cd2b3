//! The compute hosts an operator registered (`kumo host add/list/remove`), persisted in the
//! resource store so that a restarted server drives them again.
//!
//! Why records and not configuration: hosts come and go while the cloud runs (add a machine,
//! drain one), and a removal must be checked against the instances placed there atomically;
//! the store's transactions give both. The records live under [`HOSTS_ACCOUNT`], which is not
//! an AWS account id, so no tenant's call can ever reach them.
//!
//! A host either shares this server's network fabric (its hypervisor creates taps where the
//! server's fabric plugs them: a second libvirt daemon on this machine) or has a fabric of its
//! own ([`HostFabric`]: the network namespace its hypervisor runs in and its underlay address),
//! whose VPC routers reach the same VPCs' routers on the other hosts through VXLAN. A host's
//! network identity is its underlay address: two hosts with the same one (or none) share a
//! fabric, so their ENIs reach each other without a tunnel.
//!
//! This module holds only the rules; connecting to a host's hypervisor, building its fabric
//! and running its reconciler is the server's job (`server/src/hosts.rs`).

use std::net::Ipv4Addr;

use serde::{Deserialize, Serialize};

use crate::Error;
use crate::ec2::Ec2;
use crate::ec2::fault::Fault;
use crate::ec2::instance::{Instance, InstanceState};
use crate::ec2::volume::now_ms;
use crate::query::tags::Tag;

/// The pseudo-account host records are stored under.
pub const HOSTS_ACCOUNT: &str = "kumo-system";
/// Prefix of a host record's id (`kumo-compute-host:NAME`).
pub const ID_PREFIX: &str = "kumo-compute-host:";

/// A registered compute host.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HostRecord {
    /// `kumo-compute-host:NAME`.
    pub id: String,
    /// Host name: the host id stored on the instances placed there.
    pub name: String,
    /// Its hypervisor's URI (libvirt: `qemu+ssh://root@host2/system`, `qemu:///session`…).
    pub uri: String,
    /// Its availability zone.
    pub zone: String,
    /// When it was added, ms since the epoch.
    pub added_ms: i64,
    /// Its own network fabric; `None` (records written before fabrics per host, too): it
    /// shares this server's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fabric: Option<HostFabric>,
    /// Unused (the resource store wants it).
    #[serde(default)]
    pub tags: Vec<Tag>,
}

/// Where a host's own network fabric is (`kumo host add --netns NS --underlay ADDR`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HostFabric {
    /// The network namespace the host's hypervisor runs in and creates guests' taps in (the
    /// root namespace of a real remote machine is not reachable from here; on this machine a
    /// second libvirtd started in `NS` stands for another host).
    pub netns: String,
    /// The host's underlay (tunnel endpoint) address, configured in [`Self::netns`].
    pub underlay: Ipv4Addr,
}

/// What the server's own host is, which exists without a record.
#[derive(Debug, Clone, Copy, Default)]
pub struct LocalHost<'a> {
    /// Its name (`[compute]`'s host id).
    pub name: &'a str,
    /// Its fabric's underlay address (`[network] underlay_address`).
    pub underlay: Option<Ipv4Addr>,
}

/// A host to record.
#[derive(Debug, Clone, Copy)]
pub struct NewHost<'a> {
    /// Its name.
    pub name: &'a str,
    /// Its hypervisor's URI.
    pub uri: &'a str,
    /// Its availability zone.
    pub zone: &'a str,
    /// Its own fabric, if it has one.
    pub fabric: Option<&'a HostFabric>,
}

/// Whether `name` is a usable network namespace name (`ip netns` keeps them as files in
/// `/run/netns`): 1–64 of `[A-Za-z0-9._-]`, starting alphanumeric.
#[must_use]
pub fn valid_netns(name: &str) -> bool {
    valid_name(name) && name.len() <= 64
}

/// Whether `addr` can be a host's tunnel endpoint: a unicast address (not unspecified,
/// loopback — it would not leave the namespace —, multicast, broadcast or reserved).
#[must_use]
pub fn valid_underlay(addr: Ipv4Addr) -> bool {
    !(addr.is_unspecified()
        || addr.is_loopback()
        || addr.is_multicast()
        || addr.is_broadcast()
        || addr.octets()[0] >= 240)
}

/// Whether `name` is a usable host name: 1–63 of `[A-Za-z0-9._-]`, starting alphanumeric.
#[must_use]
pub fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 63
        && name.as_bytes()[0].is_ascii_alphanumeric()
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
}

fn id_of(name: &str) -> String {
    format!("{ID_PREFIX}{name}")
}

/// Instances (not terminated) recorded on host `name`, any account.
fn instances_on(ec2: &Ec2, name: &str) -> Result<Vec<String>, Error> {
    ec2.store().scan_all(|_, i: &Instance| {
        (i.host == name && i.state != InstanceState::Terminated).then(|| i.id.clone())
    })
}

impl Ec2 {
    /// Records a host. `local` is the host that exists without a record (this server's):
    /// its name and underlay address are taken.
    pub fn add_host(&self, new: &NewHost<'_>, local: &LocalHost<'_>) -> Result<HostRecord, Error> {
        let NewHost {
            name,
            uri,
            zone,
            fabric,
        } = *new;
        if !valid_name(name) {
            return Err(Fault::invalid_value(format!(
                "host name {name:?}: 1-63 of A-Z a-z 0-9 . _ -, starting with a letter or digit"
            ))
            .into());
        }
        if uri.trim().is_empty() || uri.chars().any(char::is_control) {
            return Err(Fault::invalid_value("the host's URI is empty or malformed").into());
        }
        if !self.placement().zones.iter().any(|z| z == zone) {
            return Err(Fault::invalid_value(format!(
                "zone {zone:?} is not one of this region's zones ({})",
                self.placement().zones.join(", ")
            ))
            .into());
        }
        if local.name == name {
            return Err(Fault::new(
                "InvalidHost.Duplicate",
                format!("host {name} already exists (this server's own host)"),
            )
            .into());
        }
        if let Some(f) = fabric {
            if !valid_netns(&f.netns) {
                return Err(Fault::invalid_value(format!(
                    "network namespace {:?}: 1-64 of A-Z a-z 0-9 . _ -, starting with a letter or digit",
                    f.netns
                ))
                .into());
            }
            if !valid_underlay(f.underlay) {
                return Err(Fault::invalid_value(format!(
                    "underlay address {}: must be a unicast address (not 0.0.0.0, loopback, multicast, broadcast or 240.0.0.0/4)",
                    f.underlay
                ))
                .into());
            }
            if local.underlay == Some(f.underlay) {
                return Err(Fault::new(
                    "InvalidHost.Duplicate",
                    format!(
                        "underlay address {} is this server's own host's ([network] underlay_address)",
                        f.underlay
                    ),
                )
                .into());
            }
        }
        let record = HostRecord {
            id: id_of(name),
            name: name.to_owned(),
            uri: uri.to_owned(),
            zone: zone.to_owned(),
            added_ms: now_ms(),
            fabric: fabric.cloned(),
            tags: Vec::new(),
        };
        self.store().transaction(|t| {
            if let Some(h) = t.get::<HostRecord>(HOSTS_ACCOUNT, &record.id) {
                return Err(Fault::new(
                    "InvalidHost.Duplicate",
                    format!("host {name} already exists ({})", h.uri),
                )
                .into());
            }
            if let Some(h) = t
                .list::<HostRecord>(HOSTS_ACCOUNT)
                .into_iter()
                .find(|h| h.uri == uri)
            {
                return Err(Fault::new(
                    "InvalidHost.Duplicate",
                    format!("{uri} is registered already as host {}", h.name),
                )
                .into());
            }
            if let Some(f) = fabric
                && let Some((h, g)) =
                    t.list::<HostRecord>(HOSTS_ACCOUNT)
                        .into_iter()
                        .find_map(|h| {
                            let g = h.fabric.clone()?;
                            (g.netns == f.netns || g.underlay == f.underlay).then_some((h, g))
                        })
            {
                return Err(Fault::new(
                    "InvalidHost.Duplicate",
                    format!(
                        "host {} has its fabric in namespace {} with underlay {} already",
                        h.name, g.netns, g.underlay
                    ),
                )
                .into());
            }
            t.put(HOSTS_ACCOUNT, record.clone());
            Ok(())
        })?;
        Ok(record)
    }

    /// The registered hosts, by name.
    pub fn host_records(&self) -> Result<Vec<HostRecord>, Error> {
        let mut hosts = self.store().list::<HostRecord>(HOSTS_ACCOUNT)?;
        hosts.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(hosts)
    }

    /// Forgets a host. Refused while instances are recorded there unless `force` (their
    /// domains are then the operator's business: the host is no longer driven).
    pub fn remove_host(&self, name: &str, force: bool) -> Result<HostRecord, Error> {
        let id = id_of(name);
        let running = instances_on(self, name)?;
        self.store().transaction(|t| {
            let Some(h) = t.get::<HostRecord>(HOSTS_ACCOUNT, &id) else {
                return Err(
                    Fault::new("InvalidHost.NotFound", format!("no host named {name}")).into(),
                );
            };
            if !running.is_empty() && !force {
                return Err(Fault::new(
                    "HostInUse",
                    format!(
                        "host {name} still has {} instance(s) ({}); terminate them or pass --force",
                        running.len(),
                        running.join(", ")
                    ),
                )
                .into());
            }
            t.delete::<HostRecord>(HOSTS_ACCOUNT, &id);
            Ok(h)
        })
    }

    /// vCPUs and memory (MiB) the instances on host `name` use.
    pub fn host_usage(&self, name: &str) -> Result<(u32, u64), Error> {
        let used = self.store().scan_all(|_, i: &Instance| {
            (i.host == name && i.state != InstanceState::Terminated)
                .then(|| i.type_info().map_or((1, 512), |t| (t.vcpus, t.memory_mib)))
        })?;
        Ok(used
            .into_iter()
            .fold((0, 0), |(c, m), (vc, vm)| (c + vc, m + vm)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LOCAL: LocalHost<'static> = LocalHost {
        name: "host-1",
        underlay: Some(Ipv4Addr::new(192, 0, 2, 1)),
    };

    fn add(
        ec2: &Ec2,
        name: &str,
        uri: &str,
        zone: &str,
        fabric: Option<&HostFabric>,
    ) -> Result<HostRecord, Error> {
        ec2.add_host(
            &NewHost {
                name,
                uri,
                zone,
                fabric,
            },
            &LOCAL,
        )
    }

    fn fabric(netns: &str, underlay: [u8; 4]) -> HostFabric {
        HostFabric {
            netns: netns.into(),
            underlay: underlay.into(),
        }
    }

    #[test]
    fn add_list_remove_with_rules() {
        let ec2 = crate::ec2::testing::ec2();
        let zone = ec2.placement().zones[0].clone();
        let h = add(&ec2, "h2", "qemu:///session", &zone, None).expect("add");
        assert_eq!(h.name, "h2");
        assert_eq!(h.fabric, None);
        for (name, uri, zone2, code) in [
            (
                "h2",
                "qemu+ssh://x/system",
                zone.as_str(),
                "InvalidHost.Duplicate",
            ),
            (
                "h3",
                "qemu:///session",
                zone.as_str(),
                "InvalidHost.Duplicate",
            ),
            (
                "host-1",
                "qemu+ssh://y/system",
                zone.as_str(),
                "InvalidHost.Duplicate",
            ),
            ("-bad", "qemu:///x", zone.as_str(), "InvalidParameterValue"),
            ("h4", "", zone.as_str(), "InvalidParameterValue"),
            ("h4", "qemu:///y", "mars-1a", "InvalidParameterValue"),
        ] {
            match add(&ec2, name, uri, zone2, None) {
                Err(Error::Fault(f)) => assert_eq!(f.code, code, "{name} {uri}"),
                other => panic!("{name} {uri}: {other:?}"),
            }
        }
        assert_eq!(
            ec2.host_records()
                .expect("list")
                .iter()
                .map(|h| h.name.as_str())
                .collect::<Vec<_>>(),
            ["h2"]
        );
        assert_eq!(ec2.host_usage("h2").expect("usage"), (0, 0));
        ec2.remove_host("h2", false).expect("remove");
        assert!(ec2.host_records().expect("list").is_empty());
        match ec2.remove_host("h2", false) {
            Err(Error::Fault(f)) => assert_eq!(f.code, "InvalidHost.NotFound"),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_host_with_its_own_fabric_is_validated_and_unique() {
        let ec2 = crate::ec2::testing::ec2();
        let zone = ec2.placement().zones[0].clone();
        let f2 = fabric("kumo-h2", [10, 99, 0, 2]);
        let h = add(
            &ec2,
            "h2",
            "qemu+unix:///system?socket=/x",
            &zone,
            Some(&f2),
        )
        .expect("add");
        assert_eq!(h.fabric.as_ref(), Some(&f2));
        assert_eq!(
            ec2.host_records().expect("list")[0].fabric.as_ref(),
            Some(&f2)
        );
        for (f, code) in [
            (fabric("bad/ns", [10, 99, 0, 3]), "InvalidParameterValue"),
            (fabric("", [10, 99, 0, 3]), "InvalidParameterValue"),
            (
                fabric(&"n".repeat(65), [10, 99, 0, 3]),
                "InvalidParameterValue",
            ),
            (fabric("ns3", [0, 0, 0, 0]), "InvalidParameterValue"),
            (fabric("ns3", [127, 0, 0, 1]), "InvalidParameterValue"),
            (fabric("ns3", [224, 0, 0, 1]), "InvalidParameterValue"),
            (fabric("ns3", [255, 255, 255, 255]), "InvalidParameterValue"),
            (fabric("ns3", [240, 0, 0, 1]), "InvalidParameterValue"),
            // The local host's underlay, another host's namespace or underlay.
            (fabric("ns3", [192, 0, 2, 1]), "InvalidHost.Duplicate"),
            (fabric("kumo-h2", [10, 99, 0, 3]), "InvalidHost.Duplicate"),
            (fabric("ns3", [10, 99, 0, 2]), "InvalidHost.Duplicate"),
        ] {
            match add(&ec2, "h3", "qemu:///h3", &zone, Some(&f)) {
                Err(Error::Fault(e)) => assert_eq!(e.code, code, "{f:?}"),
                other => panic!("{f:?}: {other:?}"),
            }
        }
        let f3 = fabric("ns3", [10, 99, 0, 3]);
        add(&ec2, "h3", "qemu:///h3", &zone, Some(&f3)).expect("add h3");
    }

    #[test]
    fn records_without_a_fabric_still_load() {
        let old = r#"{"id":"kumo-compute-host:h2","name":"h2","uri":"qemu:///session","zone":"us-east-1a","added_ms":1}"#;
        let h: HostRecord = serde_json::from_str(old).expect("old record");
        assert_eq!(h.fabric, None);
        assert!(!serde_json::to_string(&h).expect("json").contains("fabric"));
    }
}
