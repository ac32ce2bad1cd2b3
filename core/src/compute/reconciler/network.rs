//! The reconciler's network side: telling the host's `NetworkFabric` which VPCs, subnets and
//! ENIs must exist, in the order the fabric documents (drivers/api/src/network.rs,
//! drivers/net-linux/src/lib.rs): `ensure_vpc` → `ensure_subnet` → `plug` before the domain is
//! defined and started, and `plug` again after the hypervisor started it (libvirt creates the
//! guest's tap anew on every start, and the second `plug` joins it to the VPC).
//!
//! Why here and not in the API: the fabric blocks and can fail; records are the intent and a
//! pass converges the world on them, so a crash between calls is repaired by the next pass.
//! An ENI is unplugged when it is deleted (its instance terminated), not when the instance
//! stops — a stopped instance keeps its ENI and address, as on AWS. Each pass also sweeps what
//! the fabric has and no record explains (ENIs with no record, VPCs with no record).

use std::collections::BTreeSet;
use std::net::Ipv4Addr;

use kumo_driver_api::{EniSpec, Ipv4Cidr, NetworkError, SubnetSpec, VpcSpec};

use super::{Compute, WorldError};
use crate::ec2::dhcp_options::DhcpOptions;
use crate::ec2::instance::Instance;
use crate::ec2::network_interface::NetworkInterface;
use crate::ec2::subnet::Subnet;
use crate::ec2::vpc::Vpc;

fn cidr(s: &str) -> Result<Ipv4Cidr, NetworkError> {
    s.parse()
}

/// An IPv4 CIDR as AWS accepts it in rules and routes, `None` when malformed (host bits are
/// masked, as the API stores what it was given).
pub(super) fn cidr4(s: &str) -> Option<Ipv4Cidr> {
    let (addr, len) = s.split_once('/')?;
    let addr: Ipv4Addr = addr.parse().ok()?;
    let len: u8 = len.parse().ok().filter(|l| *l <= 32)?;
    let probe = Ipv4Cidr {
        addr,
        prefix_len: len,
    };
    Ipv4Cidr::new(probe.network(), len).ok()
}

fn nth(c: &Ipv4Cidr, n: u32) -> Result<Ipv4Addr, NetworkError> {
    c.nth(n)
        .ok_or_else(|| NetworkError::Invalid(format!("{c} has no address {n}")))
}

/// The domain name DHCP hands out: the VPC's DHCP options' `domain-name`, else the region's
/// default (`ec2.internal` in us-east-1, `<region>.compute.internal` elsewhere).
fn domain_name(dhcp: Option<&DhcpOptions>, region: &str) -> String {
    dhcp.and_then(|d| d.values("domain-name").into_iter().next())
        .unwrap_or_else(|| {
            if region == "us-east-1" {
                "ec2.internal".to_owned()
            } else {
                format!("{region}.compute.internal")
            }
        })
}

/// What the fabric must know about a VPC.
pub(super) fn vpc_spec(
    vpc: &Vpc,
    dhcp: Option<&DhcpOptions>,
    region: &str,
) -> Result<VpcSpec, NetworkError> {
    let primary = cidr(&vpc.cidr_block)?;
    let mut cidrs = vec![primary];
    for a in &vpc.cidr_associations {
        if a.state == "associated" || a.state == "associating" {
            let c = cidr(&a.cidr_block)?;
            if !cidrs.contains(&c) {
                cidrs.push(c);
            }
        }
    }
    Ok(VpcSpec {
        vpc_id: vpc.id.clone(),
        cidrs,
        dns: nth(&primary, 2)?,
        domain_name: domain_name(dhcp, region),
        enable_dns_support: vpc.enable_dns_support,
        vni: vpc.vni,
    })
}

/// What the fabric must know about a subnet (its router: base + 1).
pub(super) fn subnet_spec(subnet: &Subnet) -> Result<SubnetSpec, NetworkError> {
    let c = cidr(&subnet.cidr_block)?;
    Ok(SubnetSpec {
        subnet_id: subnet.id.clone(),
        vpc_id: subnet.vpc_id.clone(),
        cidr: c,
        gateway: nth(&c, 1)?,
    })
}

/// What the fabric must know about an ENI.
pub(super) fn eni_spec(eni: &NetworkInterface, subnet: &Subnet) -> Result<EniSpec, NetworkError> {
    let c = cidr(&subnet.cidr_block)?;
    Ok(EniSpec {
        eni_id: eni.id.clone(),
        vpc_id: eni.vpc_id.clone(),
        subnet_id: eni.subnet_id.clone(),
        tap: eni.tap_name(),
        mac: eni.mac_address.clone(),
        ip: eni
            .private_ip
            .parse()
            .map_err(|_| NetworkError::Invalid(format!("{}: bad address", eni.id)))?,
        prefix_len: c.prefix_len,
        gateway: nth(&c, 1)?,
        instance_id: eni.attachment.as_ref().map(|a| a.instance_id.clone()),
        dns_names: Vec::new(),
    })
}

impl Compute {
    /// Runs `apply` for every VPC this host's fabric has (nothing without a fabric), logging
    /// failures per VPC: one VPC's trouble does not hold up the others.
    pub(super) fn for_each_fabric_vpc(
        &self,
        what: &str,
        apply: impl Fn(&str, &str) -> Result<(), WorldError>,
    ) {
        let Some(fabric) = &self.network else {
            return;
        };
        let here: BTreeSet<String> = match fabric.list() {
            Ok(inv) => inv.vpcs.into_iter().collect(),
            Err(e) => {
                tracing::warn!(error = %e, "network fabric inventory failed");
                return;
            }
        };
        let vpcs = self
            .ec2
            .store()
            .scan_all(|a, v: &Vpc| here.contains(&v.id).then(|| (a.to_owned(), v.id.clone())))
            .unwrap_or_default();
        for (account, vpc_id) in vpcs {
            if let Err(e) = apply(&account, &vpc_id) {
                tracing::warn!(vpc = %vpc_id, error = %e, "{what} policy not applied");
            }
        }
    }

    /// Ensures the VPC, subnet and plug of each of the instance's ENIs (idempotent). A no-op
    /// without a fabric.
    pub(super) fn plug(&self, account: &str, i: &Instance) -> Result<(), WorldError> {
        let Some(fabric) = &self.network else {
            return Ok(());
        };
        let store = self.ec2.store();
        let region = &self.ec2.placement().region;
        for e in &i.network_interfaces {
            let Some(eni) = store.get::<NetworkInterface>(account, e)? else {
                continue;
            };
            let Some(subnet) = store.get::<Subnet>(account, &eni.subnet_id)? else {
                continue;
            };
            let Some(vpc) = store.get::<Vpc>(account, &eni.vpc_id)? else {
                continue;
            };
            let dhcp = store.get::<DhcpOptions>(account, &vpc.dhcp_options_id)?;
            fabric.ensure_vpc(&vpc_spec(&vpc, dhcp.as_ref(), region)?)?;
            fabric.ensure_subnet(&subnet_spec(&subnet)?)?;
            // The ENI's groups and its subnet's ACL are in force before it carries traffic.
            self.apply_security(account, &vpc.id)?;
            self.apply_routing(account, &vpc.id)?;
            let info = fabric.plug(&eni_spec(&eni, &subnet)?)?;
            tracing::debug!(instance = %i.id, eni = %eni.id, tap_attached = info.tap_attached, "ENI plugged");
        }
        Ok(())
    }

    /// Unplugs the instance's ENIs (they are being deleted). A no-op without a fabric.
    pub(super) fn unplug(&self, i: &Instance) -> Result<(), WorldError> {
        if let Some(fabric) = &self.network {
            for e in &i.network_interfaces {
                fabric.unplug(e)?;
            }
        }
        Ok(())
    }

    /// Whether every ENI of a running instance is plugged with its tap joined, per the
    /// fabric's inventory of this pass (so a running guest whose plumbing was lost — a host
    /// network restart — is re-plugged).
    pub(super) fn plugged(&self, i: &Instance, attached: &BTreeSet<String>) -> bool {
        self.network.is_none() || i.network_interfaces.iter().all(|e| attached.contains(e))
    }

    /// The ENIs the fabric has with their taps joined (empty without a fabric).
    pub(super) fn attached_enis(&self) -> Result<BTreeSet<String>, WorldError> {
        let Some(fabric) = &self.network else {
            return Ok(BTreeSet::new());
        };
        Ok(fabric
            .list()?
            .enis
            .into_iter()
            .filter(|e| e.tap_attached)
            .map(|e| e.eni_id)
            .collect())
    }

    /// Removes fabric ENIs and VPCs that no record explains.
    pub(super) fn network_orphans(&self) -> Result<(), WorldError> {
        let Some(fabric) = &self.network else {
            return Ok(());
        };
        let store = self.ec2.store();
        let enis: BTreeSet<String> = store
            .scan_all(|_, e: &NetworkInterface| Some(e.id.clone()))?
            .into_iter()
            .collect();
        let vpcs: BTreeSet<String> = store
            .scan_all(|_, v: &Vpc| Some(v.id.clone()))?
            .into_iter()
            .collect();
        let inventory = fabric.list()?;
        for e in inventory.enis {
            if !enis.contains(&e.eni_id) {
                tracing::info!(eni = %e.eni_id, "unplugging an ENI with no record");
                fabric.unplug(&e.eni_id)?;
            }
        }
        for v in inventory.vpcs {
            if !vpcs.contains(&v) {
                tracing::info!(vpc = %v, "removing a fabric VPC with no record");
                fabric.remove_vpc(&v)?;
            }
        }
        Ok(())
    }
}
