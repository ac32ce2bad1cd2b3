//! Subnets: a block inside one of the VPC's, in one zone, and the private addresses handed
//! out in it.
//!
//! Address bookkeeping lives on the subnet record (`used_ips`) so that allocation is a
//! check-then-write on one record inside the caller's transaction: network interfaces, NAT
//! gateways and instances call [`allocate_private_ip`] / [`release_private_ip`] from their own
//! transactions, and `AvailableIpAddressCount` and `DeleteSubnet`'s dependency check read the
//! same set. AWS reserves the first four addresses and the last one of every subnet.

use std::collections::BTreeSet;
use std::net::Ipv4Addr;

use serde::{Deserialize, Serialize};

use crate::Error;
use crate::ec2::cidr::Cidr;
use crate::ec2::listing::{DescribeQuery, NotFound, flag, push, tag_pairs};
use crate::ec2::network_acl::NetworkAcl;
use crate::ec2::route_table::RouteTable;
use crate::ec2::store::Txn;
use crate::ec2::vpc::{Vpc, vpc_in};
use crate::ec2::{Ec2, Fault};
use crate::ids;
use crate::query::filter::FilterTable;
use crate::query::paginate::Page;
use crate::query::tags::{self, Tag};

/// Addresses AWS reserves per subnet: network, router, DNS, future use, broadcast.
pub const RESERVED_ADDRESSES: u64 = 5;

/// A subnet.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Subnet {
    /// `subnet-…`.
    pub id: String,
    /// Owner account.
    #[serde(default)]
    pub owner_id: String,
    /// `arn:aws:ec2:<region>:<account>:subnet/<id>`.
    #[serde(default)]
    pub arn: String,
    /// Its VPC.
    pub vpc_id: String,
    /// IPv4 CIDR, inside one of the VPC's blocks.
    pub cidr_block: String,
    /// Zone name (`us-east-1a`).
    pub availability_zone: String,
    /// Zone id (`use1-az1`).
    #[serde(default)]
    pub availability_zone_id: String,
    /// `MapPublicIpOnLaunch`.
    #[serde(default)]
    pub map_public_ip_on_launch: bool,
    /// Whether it is the default subnet of its zone.
    #[serde(default)]
    pub default_for_az: bool,
    /// `available`.
    pub state: String,
    /// `EnableDns64`.
    #[serde(default)]
    pub enable_dns64: bool,
    /// `PrivateDnsHostnameTypeOnLaunch`: `ip-name` or `resource-name`.
    #[serde(default = "ip_name")]
    pub hostname_type: String,
    /// `EnableResourceNameDnsARecordOnLaunch`.
    #[serde(default)]
    pub dns_a_record_on_launch: bool,
    /// `EnableResourceNameDnsAAAARecordOnLaunch`.
    #[serde(default)]
    pub dns_aaaa_record_on_launch: bool,
    /// Private addresses in use (interfaces, NAT gateways).
    #[serde(default)]
    pub used_ips: BTreeSet<Ipv4Addr>,
    /// Tags.
    #[serde(default)]
    pub tags: Vec<Tag>,
}

fn ip_name() -> String {
    "ip-name".into()
}

impl Subnet {
    /// Its block (validated when stored).
    #[must_use]
    pub fn block(&self) -> Option<Cidr> {
        Cidr::parse(&self.cidr_block)
    }

    /// `AvailableIpAddressCount`: size − 5 reserved − used.
    #[must_use]
    pub fn available_ip_count(&self) -> u64 {
        self.block().map_or(0, |b| {
            b.size()
                .saturating_sub(RESERVED_ADDRESSES)
                .saturating_sub(self.used_ips.len() as u64)
        })
    }
}

/// A change `ModifySubnetAttribute` makes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SubnetAttribute {
    /// `MapPublicIpOnLaunch`.
    MapPublicIpOnLaunch(bool),
    /// `AssignIpv6AddressOnCreation` (only `false`: no IPv6 yet).
    AssignIpv6AddressOnCreation(bool),
    /// `EnableDns64`.
    EnableDns64(bool),
    /// `PrivateDnsHostnameTypeOnLaunch`.
    HostnameType(String),
    /// `EnableResourceNameDnsARecordOnLaunch`.
    DnsARecordOnLaunch(bool),
    /// `EnableResourceNameDnsAAAARecordOnLaunch`.
    DnsAaaaRecordOnLaunch(bool),
    /// `MapCustomerOwnedIpOnLaunch` (only `false`: no Outposts).
    MapCustomerOwnedIpOnLaunch(bool),
}

pub(crate) const SUBNET_NOT_FOUND: NotFound = NotFound {
    code: "InvalidSubnetID.NotFound",
    what: "subnet",
};

static SUBNET_FILTERS: FilterTable<Subnet> = FilterTable {
    resource: "subnet",
    fields: &[
        ("availability-zone", |s, o| push(o, &s.availability_zone)),
        ("availabilityZone", |s, o| push(o, &s.availability_zone)),
        ("availability-zone-id", |s, o| {
            push(o, &s.availability_zone_id)
        }),
        ("availabilityZoneId", |s, o| {
            push(o, &s.availability_zone_id)
        }),
        ("available-ip-address-count", |s, o| {
            o.push(s.available_ip_count().to_string());
        }),
        ("cidr-block", |s, o| push(o, &s.cidr_block)),
        ("cidr", |s, o| push(o, &s.cidr_block)),
        ("cidrBlock", |s, o| push(o, &s.cidr_block)),
        ("customer-owned-ipv4-pool", |_, _| {}),
        ("default-for-az", |s, o| o.push(flag(s.default_for_az))),
        ("defaultForAz", |s, o| o.push(flag(s.default_for_az))),
        ("enable-dns64", |s, o| o.push(flag(s.enable_dns64))),
        ("enable-lni-at-device-index", |_, _| {}),
        ("ipv6-cidr-block-association.ipv6-cidr-block", |_, _| {}),
        ("ipv6-cidr-block-association.association-id", |_, _| {}),
        ("ipv6-cidr-block-association.state", |_, _| {}),
        ("ipv6-native", |_, o| o.push(flag(false))),
        ("map-customer-owned-ip-on-launch", |_, o| {
            o.push(flag(false))
        }),
        ("map-public-ip-on-launch", |s, o| {
            o.push(flag(s.map_public_ip_on_launch));
        }),
        ("outpost-arn", |_, _| {}),
        ("owner-id", |s, o| push(o, &s.owner_id)),
        (
            "private-dns-name-options-on-launch.hostname-type",
            |s, o| {
                push(o, &s.hostname_type);
            },
        ),
        (
            "private-dns-name-options-on-launch.enable-resource-name-dns-a-record",
            |s, o| o.push(flag(s.dns_a_record_on_launch)),
        ),
        (
            "private-dns-name-options-on-launch.enable-resource-name-dns-aaaa-record",
            |s, o| o.push(flag(s.dns_aaaa_record_on_launch)),
        ),
        ("state", |s, o| push(o, &s.state)),
        ("subnet-arn", |s, o| push(o, &s.arn)),
        ("subnet-id", |s, o| push(o, &s.id)),
        ("subnetId", |s, o| push(o, &s.id)),
        ("vpc-id", |s, o| push(o, &s.vpc_id)),
        ("vpcId", |s, o| push(o, &s.vpc_id)),
    ],
    tags: Some(|s| tag_pairs(&s.tags)),
};

/// Stages a new subnet of `vpc` (already checked) and its association with the VPC's
/// default network ACL.
pub(crate) fn put_new_subnet(
    t: &mut Txn<'_>,
    account: &str,
    vpc: &Vpc,
    block: Cidr,
    zone: &str,
    default_for_az: bool,
    tags: Vec<Tag>,
) -> Subnet {
    let id = ids::resource_id("subnet");
    let (region, zone_id) = zone_facts(zone);
    let subnet = Subnet {
        arn: format!("arn:aws:ec2:{region}:{account}:subnet/{id}"),
        id,
        owner_id: account.into(),
        vpc_id: vpc.id.clone(),
        cidr_block: block.to_string(),
        availability_zone: zone.into(),
        availability_zone_id: zone_id,
        map_public_ip_on_launch: default_for_az,
        default_for_az,
        state: "available".into(),
        enable_dns64: false,
        hostname_type: ip_name(),
        dns_a_record_on_launch: false,
        dns_aaaa_record_on_launch: false,
        used_ips: BTreeSet::new(),
        tags,
    };
    if let Some(mut acl) = t.get::<NetworkAcl>(account, &vpc.default_network_acl_id) {
        acl.associate(&subnet.id);
        t.put(account, acl);
    }
    t.put(account, subnet.clone());
    subnet
}

/// A zone's region and AWS zone id, from its name (`us-east-1a` → `us-east-1`, `use1-az1`).
fn zone_facts(zone: &str) -> (String, String) {
    let region = zone
        .trim_end_matches(|c: char| c.is_ascii_lowercase())
        .to_owned();
    let letter = zone[region.len()..].bytes().next().unwrap_or(b'a');
    let mut prefix = String::new();
    for (i, part) in region.split('-').enumerate() {
        if i == 0 {
            prefix.push_str(part);
            continue;
        }
        let mut p = part.to_owned();
        for (word, short) in [
            ("north", "n"),
            ("south", "s"),
            ("east", "e"),
            ("west", "w"),
            ("central", "c"),
        ] {
            p = p.replace(word, short);
        }
        prefix.push_str(&p);
    }
    let zone_id = format!("{prefix}-az{}", u32::from(letter.saturating_sub(b'a')) + 1);
    (region, zone_id)
}

/// The subnet `id` of `account` in a transaction, or `InvalidSubnetID.NotFound`.
pub(crate) fn subnet_in(t: &Txn<'_>, account: &str, id: &str) -> Result<Subnet, Fault> {
    t.get::<Subnet>(account, id)
        .ok_or_else(|| SUBNET_NOT_FOUND.fault(id))
}

/// Allocates a private IPv4 address in `subnet_id` within the caller's transaction: the
/// `requested` one (`InvalidParameterValue` outside the subnet or reserved,
/// `InvalidIPAddress.InUse` when taken) or the lowest free one
/// (`InsufficientFreeAddressesInSubnet` when none is left). Pair with [`release_private_ip`]
/// when the interface goes.
pub fn allocate_private_ip(
    t: &mut Txn<'_>,
    account: &str,
    subnet_id: &str,
    requested: Option<Ipv4Addr>,
) -> Result<Ipv4Addr, Fault> {
    let mut subnet = subnet_in(t, account, subnet_id)?;
    let block = subnet
        .block()
        .ok_or_else(|| Fault::invalid_value(format!("subnet {subnet_id} has no valid block")))?;
    let first = block.addr.saturating_add(4);
    let last = block.last().saturating_sub(1);
    let ip = match requested {
        Some(ip) => {
            let n = u32::from(ip);
            if !block.contains_ip(n) {
                return Err(Fault::invalid_value(format!(
                    "Address {ip} does not fall within the subnet's address range"
                )));
            }
            if n < first || n > last {
                return Err(Fault::invalid_value(format!(
                    "Address {ip} is in subnet's reserved address range"
                )));
            }
            if subnet.used_ips.contains(&ip) {
                return Err(Fault::new(
                    "InvalidIPAddress.InUse",
                    format!("Address {ip} is in use."),
                ));
            }
            ip
        }
        None => (first..=last)
            .map(Ipv4Addr::from)
            .find(|ip| !subnet.used_ips.contains(ip))
            .ok_or_else(|| {
                Fault::new(
                    "InsufficientFreeAddressesInSubnet",
                    format!("There are not enough free addresses in subnet '{subnet_id}' to satisfy the requested number of instances."),
                )
            })?,
    };
    subnet.used_ips.insert(ip);
    t.put(account, subnet);
    Ok(ip)
}

/// Returns `ip` to `subnet_id`'s free addresses (no-op if the subnet or address is unknown).
pub fn release_private_ip(t: &mut Txn<'_>, account: &str, subnet_id: &str, ip: Ipv4Addr) {
    if let Some(mut subnet) = t.get::<Subnet>(account, subnet_id)
        && subnet.used_ips.remove(&ip)
    {
        t.put(account, subnet);
    }
}

impl Ec2 {
    /// The zone a create call names by `zone` or `zone_id`, else the region's first.
    pub(crate) fn resolve_zone(
        &self,
        zone: Option<&str>,
        zone_id: Option<&str>,
    ) -> Result<String, Fault> {
        match (zone, zone_id) {
            (Some(_), Some(_)) => Err(Fault::invalid_combination(
                "Only one of AvailabilityZone or AvailabilityZoneId may be specified.",
            )),
            (Some(z), None) => {
                self.check_zone(z)?;
                Ok(z.to_owned())
            }
            (None, Some(id)) => self
                .zones()
                .into_iter()
                .find(|z| z.id == id)
                .map(|z| z.name)
                .ok_or_else(|| {
                    Fault::invalid_value(format!(
                        "Value ({id}) for parameter availabilityZoneId is invalid."
                    ))
                }),
            (None, None) => self
                .placement()
                .zones
                .first()
                .cloned()
                .ok_or_else(|| Fault::invalid_value("this region has no zones")),
        }
    }

    /// `CreateSubnet`: a /16 to /28 block inside one of the VPC's blocks
    /// (`InvalidSubnet.Range`), overlapping no other subnet (`InvalidSubnet.Conflict`).
    pub fn create_subnet(
        &self,
        account: &str,
        vpc_id: &str,
        cidr_block: &str,
        zone: Option<&str>,
        zone_id: Option<&str>,
        tags: Vec<Tag>,
    ) -> Result<Subnet, Error> {
        let block = Cidr::parse_param(cidr_block, "cidrBlock")?;
        let zone = self.resolve_zone(zone, zone_id)?;
        tags::validate(&tags)?;
        self.ensure_defaults(account)?;
        self.store().transaction(|t| {
            let vpc = vpc_in(t, account, vpc_id)?;
            if !(16..=28).contains(&block.len) || !vpc.blocks().iter().any(|b| b.contains(block)) {
                return Err(Fault::new(
                    "InvalidSubnet.Range",
                    format!("The CIDR '{cidr_block}' is invalid."),
                )
                .into());
            }
            let conflict = t
                .list::<Subnet>(account)
                .into_iter()
                .any(|s| s.vpc_id == vpc.id && s.block().is_some_and(|b| b.overlaps(block)));
            if conflict {
                return Err(Fault::new(
                    "InvalidSubnet.Conflict",
                    format!("The CIDR '{cidr_block}' conflicts with another subnet"),
                )
                .into());
            }
            Ok(put_new_subnet(t, account, &vpc, block, &zone, false, tags))
        })
    }

    /// `DescribeSubnets`.
    pub fn describe_subnets(
        &self,
        account: &str,
        q: &DescribeQuery,
    ) -> Result<Page<Subnet>, Error> {
        self.ensure_defaults(account)?;
        self.describe(
            account,
            "DescribeSubnets",
            &SUBNET_FILTERS,
            SUBNET_NOT_FOUND,
            q,
            |_| true,
        )
    }

    /// `DeleteSubnet`: `DependencyViolation` while addresses are in use; its route table
    /// and network ACL associations go with it.
    pub fn delete_subnet(&self, account: &str, subnet_id: &str) -> Result<(), Error> {
        self.store().transaction(|t| {
            let subnet = subnet_in(t, account, subnet_id)?;
            if !subnet.used_ips.is_empty() {
                return Err(Fault::dependency(format!(
                    "The subnet '{subnet_id}' has dependencies and cannot be deleted."
                ))
                .into());
            }
            for mut acl in t.list::<NetworkAcl>(account) {
                if acl.associations.iter().any(|a| a.subnet_id == subnet.id) {
                    acl.associations.retain(|a| a.subnet_id != subnet.id);
                    t.put(account, acl);
                }
            }
            for mut rt in t.list::<RouteTable>(account) {
                if rt
                    .associations
                    .iter()
                    .any(|a| a.subnet_id.as_deref() == Some(&subnet.id))
                {
                    rt.associations
                        .retain(|a| a.subnet_id.as_deref() != Some(&subnet.id));
                    t.put(account, rt);
                }
            }
            t.delete::<Subnet>(account, &subnet.id);
            Ok(())
        })
    }

    /// `ModifySubnetAttribute`.
    pub fn modify_subnet_attribute(
        &self,
        account: &str,
        subnet_id: &str,
        changes: &[SubnetAttribute],
    ) -> Result<(), Error> {
        if changes.is_empty() {
            return Err(Fault::missing("attribute").into());
        }
        self.store().transaction(|t| {
            let mut s = subnet_in(t, account, subnet_id)?;
            for c in changes {
                match c {
                    SubnetAttribute::MapPublicIpOnLaunch(v) => s.map_public_ip_on_launch = *v,
                    SubnetAttribute::EnableDns64(v) => s.enable_dns64 = *v,
                    SubnetAttribute::DnsARecordOnLaunch(v) => s.dns_a_record_on_launch = *v,
                    SubnetAttribute::DnsAaaaRecordOnLaunch(v) => s.dns_aaaa_record_on_launch = *v,
                    SubnetAttribute::HostnameType(h) => {
                        if !matches!(h.as_str(), "ip-name" | "resource-name") {
                            return Err(Fault::invalid_value(format!(
                                "Value ({h}) for parameter privateDnsHostnameTypeOnLaunch is invalid."
                            ))
                            .into());
                        }
                        s.hostname_type.clone_from(h);
                    }
                    SubnetAttribute::AssignIpv6AddressOnCreation(v)
                    | SubnetAttribute::MapCustomerOwnedIpOnLaunch(v) => {
                        if *v {
                            return Err(Fault::invalid_value(format!(
                                "Subnet {subnet_id} has no IPv6 or customer-owned address pool."
                            ))
                            .into());
                        }
                    }
                }
            }
            t.put(account, s);
            Ok(())
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: &str = "111111111111";

    fn code(e: Error) -> String {
        e.to_string()
            .split(':')
            .next()
            .unwrap_or_default()
            .to_owned()
    }

    #[test]
    fn ranges_conflicts_and_zones() {
        let ec2 = crate::ec2::testing::ec2();
        let vpc = ec2
            .create_vpc(A, "10.0.0.0/16", None, false, vec![])
            .expect("vpc");
        let s = ec2
            .create_subnet(A, &vpc.id, "10.0.1.0/24", Some("us-east-1b"), None, vec![])
            .expect("subnet");
        assert_eq!(s.availability_zone_id, "use1-az2");
        assert_eq!(s.available_ip_count(), 251);
        assert!(s.arn.ends_with(&format!(":{A}:subnet/{}", s.id)));
        assert_eq!(
            code(
                ec2.create_subnet(A, &vpc.id, "10.0.1.128/25", None, None, vec![])
                    .expect_err("c")
            ),
            "InvalidSubnet.Conflict"
        );
        assert_eq!(
            code(
                ec2.create_subnet(A, &vpc.id, "10.1.0.0/24", None, None, vec![])
                    .expect_err("r")
            ),
            "InvalidSubnet.Range"
        );
        assert_eq!(
            code(
                ec2.create_subnet(A, &vpc.id, "10.0.0.0/29", None, None, vec![])
                    .expect_err("r")
            ),
            "InvalidSubnet.Range"
        );
        assert_eq!(
            code(
                ec2.create_subnet(A, &vpc.id, "10.0.2.0/24", Some("us-east-1z"), None, vec![])
                    .expect_err("z")
            ),
            "InvalidParameterValue"
        );
        let by_id = ec2
            .create_subnet(A, &vpc.id, "10.0.2.0/24", None, Some("use1-az1"), vec![])
            .expect("by id");
        assert_eq!(by_id.availability_zone, "us-east-1a");
        assert_eq!(
            code(
                ec2.create_subnet(A, "vpc-nope", "10.0.3.0/24", None, None, vec![])
                    .expect_err("v")
            ),
            "InvalidVpcID.NotFound"
        );
        let f = DescribeQuery {
            filters: vec![crate::query::filter::Filter {
                name: "vpc-id".into(),
                values: vec![vpc.id.clone()],
            }],
            max_results: Some(1),
            ..Default::default()
        };
        let p1 = ec2.describe_subnets(A, &f).expect("page 1");
        assert_eq!(p1.items.len(), 1);
        let p2 = ec2
            .describe_subnets(
                A,
                &DescribeQuery {
                    next_token: p1.next_token,
                    ..f
                },
            )
            .expect("page 2");
        assert_eq!(p2.items.len(), 1);
        assert!(p2.next_token.is_none());
        assert_eq!(
            code(ec2.delete_vpc(A, &vpc.id).expect_err("deps")),
            "DependencyViolation"
        );
    }

    #[test]
    fn address_allocation() {
        let ec2 = crate::ec2::testing::ec2();
        let vpc = ec2
            .create_vpc(A, "10.0.0.0/16", None, false, vec![])
            .expect("vpc");
        let s = ec2
            .create_subnet(A, &vpc.id, "10.0.0.0/28", None, None, vec![])
            .expect("subnet");
        let ips = ec2
            .store()
            .transaction(|t| {
                let a = allocate_private_ip(t, A, &s.id, None)?;
                let b = allocate_private_ip(t, A, &s.id, Some(Ipv4Addr::new(10, 0, 0, 9)))?;
                assert!(
                    allocate_private_ip(t, A, &s.id, Some(Ipv4Addr::new(10, 0, 0, 9))).is_err()
                );
                assert!(
                    allocate_private_ip(t, A, &s.id, Some(Ipv4Addr::new(10, 0, 0, 1))).is_err()
                );
                assert!(
                    allocate_private_ip(t, A, &s.id, Some(Ipv4Addr::new(10, 0, 1, 5))).is_err()
                );
                Ok::<_, Error>((a, b))
            })
            .expect("allocate");
        assert_eq!(ips.0, Ipv4Addr::new(10, 0, 0, 4));
        let now = ec2
            .store()
            .get::<Subnet>(A, &s.id)
            .expect("get")
            .expect("subnet");
        assert_eq!(now.available_ip_count(), 16 - 5 - 2);
        assert_eq!(
            code(ec2.delete_subnet(A, &s.id).expect_err("in use")),
            "DependencyViolation"
        );
        ec2.store()
            .transaction(|t| {
                release_private_ip(t, A, &s.id, ips.0);
                release_private_ip(t, A, &s.id, ips.1);
                Ok::<_, Error>(())
            })
            .expect("release");
        ec2.store()
            .transaction(|t| {
                for _ in 0..11 {
                    allocate_private_ip(t, A, &s.id, None)?;
                }
                let full = allocate_private_ip(t, A, &s.id, None).expect_err("full");
                assert_eq!(full.code, "InsufficientFreeAddressesInSubnet");
                Err::<(), Error>(Error::InvalidArgument("roll back".into()))
            })
            .expect_err("rolled back");
        ec2.modify_subnet_attribute(A, &s.id, &[SubnetAttribute::MapPublicIpOnLaunch(true)])
            .expect("modify");
        assert!(
            ec2.store()
                .get::<Subnet>(A, &s.id)
                .expect("get")
                .expect("s")
                .map_public_ip_on_launch
        );
        ec2.delete_subnet(A, &s.id).expect("delete");
    }
}
