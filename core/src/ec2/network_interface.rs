//! Elastic network interfaces: an instance's place in a subnet (private IP, MAC, security
//! groups), and the allocation of private addresses.
//!
//! Addresses are booked on the subnet record (`Subnet::used_ips`, subnet.rs), the single
//! source of truth shared with NAT gateways: an ENI allocates in its creating transaction and
//! releases when it is deleted, so `AvailableIpAddressCount` counts ENIs and two concurrent
//! launches can never get the same address. AWS reserves the first four addresses of a subnet
//! (network, router, DNS, future) and the last (broadcast).

use std::net::Ipv4Addr;

use serde::{Deserialize, Serialize};

use crate::ec2::Fault;
use crate::ec2::address::{self, Address};
use crate::ec2::store::Txn;
use crate::ec2::subnet::{self, Subnet};
use crate::ids;
use crate::query::tags::Tag;

/// A security group reference (id and name), as instances and ENIs report them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GroupRef {
    /// `sg-…`.
    pub id: String,
    /// Its name.
    pub name: String,
}

/// An ENI's attachment to an instance.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EniAttachment {
    /// `eni-attach-…`.
    pub id: String,
    /// The instance.
    pub instance_id: String,
    /// 0 for the primary interface.
    pub device_index: u32,
    /// `attaching`, `attached`, `detaching`, `detached`.
    pub status: String,
    /// Milliseconds since the epoch.
    pub attach_time_ms: i64,
    /// Deleted with the instance.
    pub delete_on_termination: bool,
}

/// A network interface.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NetworkInterface {
    /// `eni-…`.
    pub id: String,
    /// Its subnet.
    pub subnet_id: String,
    /// The subnet's VPC.
    pub vpc_id: String,
    /// The subnet's zone.
    pub availability_zone: String,
    /// `02:xx:xx:xx:xx:xx`.
    pub mac_address: String,
    /// Primary private IPv4 address.
    pub private_ip: String,
    /// A public address assigned at launch from the pool (`MapPublicIpOnLaunch` /
    /// `AssociatePublicIpAddress`; not an Elastic IP). Kept while the instance is stopped
    /// (AWS releases it on stop) and released when the interface is deleted.
    #[serde(default)]
    pub public_ip: Option<String>,
    /// `ip-10-0-1-5.ec2.internal`.
    pub private_dns_name: String,
    /// Description.
    #[serde(default)]
    pub description: String,
    /// Security groups.
    pub groups: Vec<GroupRef>,
    /// Source/destination check.
    pub source_dest_check: bool,
    /// `available` or `in-use`.
    pub status: String,
    /// `interface`.
    pub interface_type: String,
    /// The attachment, when attached.
    #[serde(default)]
    pub attachment: Option<EniAttachment>,
    /// The service that created and manages the interface (`amazon-elb` for a load
    /// balancer's node): AWS's `RequesterId`, with `RequesterManaged` true; also the
    /// `IpOwnerId` of the public address it got from the pool.
    #[serde(default)]
    pub requester_id: Option<String>,
    /// Tags.
    #[serde(default)]
    pub tags: Vec<Tag>,
}

impl NetworkInterface {
    /// The host-side tap device name for this ENI: `tap` + the id's hex digits, cut to the
    /// 15 bytes Linux allows (the id's low 12 hex digits keep it unique in practice).
    #[must_use]
    pub fn tap_name(&self) -> String {
        tap_name(&self.id)
    }
}

/// The tap name for ENI `id` (at most 15 bytes).
#[must_use]
pub fn tap_name(id: &str) -> String {
    let hex = id.strip_prefix("eni-").unwrap_or(id);
    let tail = &hex[hex.len().saturating_sub(12)..];
    format!("tap{tail}")
}

/// A fresh locally administered unicast MAC (`02:…`), as AWS's are.
#[must_use]
pub fn new_mac() -> String {
    let b: [u8; 5] = rand::random();
    format!(
        "02:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}",
        b[0], b[1], b[2], b[3], b[4]
    )
}

/// `ip-10-0-1-5.ec2.internal` in `us-east-1`, `ip-10-0-1-5.eu-west-1.compute.internal` elsewhere.
#[must_use]
pub fn private_dns_name(ip: &str, region: &str) -> String {
    let host = format!("ip-{}", ip.replace('.', "-"));
    if region == "us-east-1" {
        format!("{host}.ec2.internal")
    } else {
        format!("{host}.{region}.compute.internal")
    }
}

/// Parses `a.b.c.d/n`.
pub fn parse_cidr(cidr: &str) -> Option<(u32, u32)> {
    let (ip, len) = cidr.split_once('/')?;
    let ip: Ipv4Addr = ip.parse().ok()?;
    let len: u32 = len.parse().ok().filter(|l| *l <= 32)?;
    let mask = if len == 0 { 0 } else { u32::MAX << (32 - len) };
    Some((u32::from(ip) & mask, len))
}

/// Allocates `wanted` (checked: inside the subnet, not reserved, free) or the lowest free
/// address of the subnet, through the subnet's address book ([`subnet::allocate_private_ip`]),
/// the one source of truth shared with NAT gateways, `AvailableIpAddressCount` and
/// `DeleteSubnet`'s dependency check. Pair with [`release_ip`] when the ENI is deleted.
pub fn allocate_ip(
    t: &mut Txn<'_>,
    account: &str,
    subnet: &Subnet,
    wanted: Option<&str>,
) -> Result<String, Fault> {
    let wanted = wanted
        .map(|w| {
            w.parse::<Ipv4Addr>()
                .map_err(|_| Fault::invalid_value(format!("Invalid IPv4 address: {w}")))
        })
        .transpose()?;
    Ok(subnet::allocate_private_ip(t, account, &subnet.id, wanted)?.to_string())
}

/// Deletes an ENI record, returns its address to its subnet and disassociates any Elastic IP
/// from it (the address stays allocated to the account, as on AWS).
pub fn delete_eni(t: &mut Txn<'_>, account: &str, eni_id: &str) {
    if let Some(eni) = t.get::<NetworkInterface>(account, eni_id) {
        release_ip(t, account, &eni);
        if let Some(ip) = &eni.public_ip {
            address::release_public_ip(t, ip);
        }
        for mut a in t.list::<Address>(account) {
            if a.association
                .as_ref()
                .is_some_and(|x| x.network_interface_id.as_deref() == Some(eni_id))
            {
                a.association = None;
                t.put(account, a);
            }
        }
        t.delete::<NetworkInterface>(account, eni_id);
    }
}

/// Returns an ENI's private address to its subnet.
pub fn release_ip(t: &mut Txn<'_>, account: &str, eni: &NetworkInterface) {
    if let Ok(ip) = eni.private_ip.parse::<Ipv4Addr>() {
        subnet::release_private_ip(t, account, &eni.subnet_id, ip);
    }
}

/// A new ENI for an instance's device index, attached.
#[allow(clippy::too_many_arguments)]
#[must_use]
pub fn new_attached(
    subnet: &Subnet,
    region: &str,
    private_ip: String,
    groups: Vec<GroupRef>,
    instance_id: &str,
    device_index: u32,
    now_ms: i64,
) -> NetworkInterface {
    NetworkInterface {
        id: ids::resource_id("eni"),
        subnet_id: subnet.id.clone(),
        vpc_id: subnet.vpc_id.clone(),
        availability_zone: subnet.availability_zone.clone(),
        mac_address: new_mac(),
        private_dns_name: private_dns_name(&private_ip, region),
        private_ip,
        public_ip: None,
        description: String::new(),
        groups,
        source_dest_check: true,
        status: "in-use".into(),
        interface_type: "interface".into(),
        attachment: Some(EniAttachment {
            id: ids::resource_id("eni-attach"),
            instance_id: instance_id.to_owned(),
            device_index,
            status: "attached".into(),
            attach_time_ms: now_ms,
            delete_on_termination: true,
        }),
        requester_id: None,
        tags: Vec::new(),
    }
}

/// `InvalidNetworkInterfaceID.NotFound`.
const ENI_NOT_FOUND: crate::ec2::listing::NotFound = crate::ec2::listing::NotFound {
    code: "InvalidNetworkInterfaceID.NotFound",
    what: "network interface",
};

/// The filters `DescribeNetworkInterfaces` documents (those whose features Kumo has).
static ENI_FILTERS: crate::query::filter::FilterTable<NetworkInterface> =
    crate::query::filter::FilterTable {
        resource: "network interface",
        fields: &[
            ("network-interface-id", |e, o| o.push(e.id.clone())),
            ("subnet-id", |e, o| o.push(e.subnet_id.clone())),
            ("vpc-id", |e, o| o.push(e.vpc_id.clone())),
            ("availability-zone", |e, o| {
                o.push(e.availability_zone.clone())
            }),
            ("mac-address", |e, o| o.push(e.mac_address.clone())),
            ("private-ip-address", |e, o| o.push(e.private_ip.clone())),
            ("addresses.private-ip-address", |e, o| {
                o.push(e.private_ip.clone());
            }),
            ("private-dns-name", |e, o| {
                o.push(e.private_dns_name.clone())
            }),
            ("description", |e, o| o.push(e.description.clone())),
            ("status", |e, o| o.push(e.status.clone())),
            ("interface-type", |e, o| o.push(e.interface_type.clone())),
            ("source-dest-check", |e, o| {
                o.push(e.source_dest_check.to_string());
            }),
            ("group-id", |e, o| {
                o.extend(e.groups.iter().map(|g| g.id.clone()))
            }),
            ("group-name", |e, o| {
                o.extend(e.groups.iter().map(|g| g.name.clone()));
            }),
            ("association.public-ip", |e, o| {
                o.extend(e.public_ip.clone())
            }),
            ("attachment.instance-id", |e, o| {
                o.extend(e.attachment.as_ref().map(|a| a.instance_id.clone()));
            }),
            ("attachment.attachment-id", |e, o| {
                o.extend(e.attachment.as_ref().map(|a| a.id.clone()));
            }),
            ("attachment.device-index", |e, o| {
                o.extend(e.attachment.as_ref().map(|a| a.device_index.to_string()));
            }),
            ("attachment.status", |e, o| {
                o.extend(e.attachment.as_ref().map(|a| a.status.clone()));
            }),
            ("attachment.delete-on-termination", |e, o| {
                o.extend(
                    e.attachment
                        .as_ref()
                        .map(|a| a.delete_on_termination.to_string()),
                );
            }),
            ("requester-managed", |e, o| {
                o.push(e.requester_id.is_some().to_string());
            }),
            ("requester-id", |e, o| o.extend(e.requester_id.clone())),
        ],
        tags: Some(|e| {
            e.tags
                .iter()
                .map(|t| (t.key.clone(), t.value.clone()))
                .collect()
        }),
    };

impl crate::ec2::Ec2 {
    /// `DescribeNetworkInterfaces`: ids, filters (Terraform lists a subnet's or a security
    /// group's interfaces before deleting it), pages.
    pub fn describe_network_interfaces(
        &self,
        account: &str,
        q: &crate::ec2::listing::DescribeQuery,
    ) -> Result<crate::query::paginate::Page<NetworkInterface>, crate::Error> {
        self.describe(
            account,
            "DescribeNetworkInterfaces",
            &ENI_FILTERS,
            ENI_NOT_FOUND,
            q,
            |_| true,
        )
    }

    /// The public addresses of `enis` (`Association` in `DescribeNetworkInterfaces`): an
    /// associated Elastic IP, else the interface's own public IP.
    pub fn public_ips_of_enis(
        &self,
        account: &str,
        enis: &[NetworkInterface],
    ) -> Result<Vec<crate::ec2::instance::PublicIpView>, crate::Error> {
        let addresses = self.store().list::<Address>(account)?;
        Ok(crate::ec2::instance::public_ips_of(
            &addresses, account, enis,
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_cidrs() {
        assert_eq!(tap_name("eni-0123456789abcdef0").len(), 15);
        assert_eq!(tap_name("eni-0123456789abcdef0"), "tap56789abcdef0");
        assert!(new_mac().starts_with("02:"));
        assert_eq!(new_mac().len(), 17);
        assert_eq!(
            private_dns_name("10.0.1.5", "us-east-1"),
            "ip-10-0-1-5.ec2.internal"
        );
        assert_eq!(
            private_dns_name("10.0.1.5", "eu-west-1"),
            "ip-10-0-1-5.eu-west-1.compute.internal"
        );
        assert_eq!(parse_cidr("10.0.1.0/24"), Some((0x0a00_0100, 24)));
        assert_eq!(parse_cidr("10.0.1.0/33"), None);
    }
}
