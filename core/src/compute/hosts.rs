//! The compute hosts an operator registered (`kumo host add/list/remove`), persisted in the
//! resource store so that a restarted server drives them again.
//!
//! Why records and not configuration: hosts come and go while the cloud runs (add a machine,
//! drain one), and a removal must be checked against the instances placed there atomically;
//! the store's transactions give both. The records live under [`HOSTS_ACCOUNT`], which is not
//! an AWS account id, so no tenant's call can ever reach them.
//!
//! This module holds only the rules; connecting to a host's hypervisor and running its
//! reconciler is the server's job (`server/src/hosts.rs`).

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
    /// Unused (the resource store wants it).
    #[serde(default)]
    pub tags: Vec<Tag>,
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
    /// Records a host. `reserved` names hosts that exist without a record (the local one).
    pub fn add_host(
        &self,
        name: &str,
        uri: &str,
        zone: &str,
        reserved: &[&str],
    ) -> Result<HostRecord, Error> {
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
        if reserved.contains(&name) {
            return Err(Fault::new(
                "InvalidHost.Duplicate",
                format!("host {name} already exists (this server's own host)"),
            )
            .into());
        }
        let record = HostRecord {
            id: id_of(name),
            name: name.to_owned(),
            uri: uri.to_owned(),
            zone: zone.to_owned(),
            added_ms: now_ms(),
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

    #[test]
    fn add_list_remove_with_rules() {
        let ec2 = crate::ec2::testing::ec2();
        let zone = ec2.placement().zones[0].clone();
        let h = ec2
            .add_host("h2", "qemu:///session", &zone, &["host-1"])
            .expect("add");
        assert_eq!(h.name, "h2");
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
            match ec2.add_host(name, uri, zone2, &["host-1"]) {
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
}
