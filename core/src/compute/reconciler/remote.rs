//! Which ENIs of a VPC live behind another host's fabric: the routing policy's `remote_enis`,
//! reached through the VPC's VXLAN tunnel (`VpcSpec::vni`) at the underlay address of the host
//! holding them.
//!
//! A host's fabric is known by its underlay address ([`crate::compute::Host::underlay`]):
//! hosts with the same one (or both none: the local fabric and the hosts sharing it) plug
//! their ENIs into one fabric, where they are local. An ENI is *remote* for this host when it
//! is attached to a non-terminated instance placed on a host with another underlay; the nodes
//! of load balancers live on the primary host's fabric (the data plane runs there). An ENI on
//! another fabric cannot be reached when either side has no underlay: it is left out (the
//! caller logs it once per pass) — traffic to it is then dropped by the VPC's `unreachable`
//! route, as for an address no ENI holds.
//!
//! Hosts come from the registry (every host this process drives), then from the host records
//! (a registered host not driven now — unreachable at start-up — whose guests may still be
//! running behind its fabric).

use std::collections::BTreeMap;
use std::net::Ipv4Addr;

use kumo_driver_api::RemoteEni;

use super::WorldError;
use crate::compute::hosts::{HOSTS_ACCOUNT, HostRecord};
use crate::ec2::Ec2;
use crate::ec2::instance::{Instance, InstanceState};
use crate::ec2::network_interface::NetworkInterface;
use crate::elbv2::load_balancer::LoadBalancer;

/// Every known host's fabric, by its underlay address.
#[derive(Debug, Default)]
pub(super) struct Fabrics {
    /// Host id → its fabric's underlay (`None`: a fabric without one).
    hosts: BTreeMap<String, Option<Ipv4Addr>>,
    /// The primary host's underlay (`None` inside: it has none; outside: no primary known).
    primary: Option<Option<Ipv4Addr>>,
}

impl Fabrics {
    /// The hosts of `ec2`'s registry and records.
    pub(super) fn of(ec2: &Ec2) -> Result<Self, WorldError> {
        let mut f = Self::default();
        for h in ec2.compute().hosts() {
            if h.primary {
                f.primary = Some(h.underlay);
            }
            f.hosts.insert(h.id, h.underlay);
        }
        for rec in ec2.store().list::<HostRecord>(HOSTS_ACCOUNT)? {
            if f.hosts.contains_key(&rec.name) {
                continue;
            }
            // Without a fabric of its own, a host shares the primary's.
            let underlay = match &rec.fabric {
                Some(fabric) => Some(fabric.underlay),
                None => match f.primary {
                    Some(u) => u,
                    None => continue,
                },
            };
            f.hosts.insert(rec.name, underlay);
        }
        Ok(f)
    }
}

/// The ENIs of a VPC on other fabrics than `here`'s.
#[derive(Debug, Default, PartialEq, Eq)]
pub(super) struct Remote {
    /// Reachable through the tunnel, by ENI id.
    pub enis: Vec<RemoteEni>,
    /// On another fabric but unreachable (this host or theirs has no underlay), by ENI id.
    pub unreachable: Vec<String>,
}

/// The ENIs of VPC `vpc_id` that live on another fabric than the one with underlay `here`.
pub(super) fn remote_enis(
    ec2: &Ec2,
    account: &str,
    vpc_id: &str,
    here: Option<Ipv4Addr>,
    fabrics: &Fabrics,
) -> Result<Remote, WorldError> {
    let store = ec2.store();
    // Load balancer nodes: ENI id → the load balancer's DNS name (the node answers to it).
    let nodes: BTreeMap<String, String> = store
        .list::<LoadBalancer>(account)?
        .into_iter()
        .filter(|lb| lb.vpc_id == vpc_id)
        .flat_map(|lb| {
            let name = lb.dns_name.to_ascii_lowercase();
            lb.subnets
                .into_iter()
                .filter_map(move |s| Some((s.network_interface_id?, name.clone())))
        })
        .collect();
    let mut out = Remote::default();
    for eni in store.list::<NetworkInterface>(account)? {
        if eni.vpc_id != vpc_id {
            continue;
        }
        let (underlay, dns_names) = if let Some(name) = nodes.get(&eni.id) {
            let Some(primary) = fabrics.primary else {
                continue;
            };
            (primary, vec![name.clone()])
        } else {
            let Some(a) = &eni.attachment else {
                continue;
            };
            let Some(i) = store.get::<Instance>(account, &a.instance_id)? else {
                continue;
            };
            if i.state == InstanceState::Terminated || i.host.is_empty() {
                continue;
            }
            let Some(underlay) = fabrics.hosts.get(&i.host) else {
                continue;
            };
            (*underlay, Vec::new())
        };
        if underlay == here {
            continue;
        }
        let (Some(host), Some(_), Ok(ip)) = (underlay, here, eni.private_ip.parse()) else {
            out.unreachable.push(eni.id);
            continue;
        };
        out.enis.push(RemoteEni {
            eni_id: eni.id,
            subnet_id: eni.subnet_id,
            ip,
            host,
            dns_names,
        });
    }
    out.enis.sort();
    out.unreachable.sort();
    Ok(out)
}
