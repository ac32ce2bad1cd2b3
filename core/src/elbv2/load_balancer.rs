//! Load balancers: application (HTTP/HTTPS, security groups, at least two zones where the
//! region has them) and network (TCP/UDP/TLS, fixed subnets), in the subnets of one VPC.
//!
//! Zones: AWS requires an application load balancer to span two Availability Zones. A Kumo
//! region may have a single zone; there one zone is enough (the rule asks for
//! `min(2, zones in the region)` distinct zones).
//!
//! DNS: each load balancer gets `[internal-]<name>-<10 digits>.<region>.elb.kumo.internal`,
//! which AmazonProvidedDNS inside the VPC resolves to its nodes' addresses. Nodes
//! (`elbv2::nodes`) are ENIs created in the same transaction. The create answer says
//! `provisioning` as AWS's does; the stored load balancer is `active` at once (the proxy
//! starts within a reconciler pass, well before a waiter's first poll).

use std::collections::BTreeMap;
use std::net::Ipv4Addr;

use serde::{Deserialize, Serialize};

use super::attributes::{self, APPLICATION_LB, NETWORK_LB};
use super::listener::Listener;
use super::rule::Rule;
use super::{Elbv2, arn, now_ms, validation};
use crate::Error;
use crate::ec2::Fault;
use crate::ec2::address::Address;
use crate::ec2::security_group::SecurityGroup;
use crate::ec2::store::Txn;
use crate::ec2::subnet::Subnet;
use crate::ec2::vpc::Vpc;
use crate::query::paginate::Page;
use crate::query::tags::Tag;

/// Most security groups on one load balancer.
pub const MAX_SECURITY_GROUPS: usize = 5;

/// One subnet of a load balancer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LbSubnet {
    /// `subnet-…`.
    pub subnet_id: String,
    /// Its zone.
    pub zone_name: String,
    /// Fixed private IPv4 address (internal network load balancers).
    #[serde(default)]
    pub private_ipv4: Option<String>,
    /// Elastic IP allocation (internet-facing network load balancers).
    #[serde(default)]
    pub allocation_id: Option<String>,
    /// The public address of that allocation (`LoadBalancerAddresses[].IpAddress`).
    #[serde(default)]
    pub elastic_ip: Option<String>,
    /// IPv6 address.
    #[serde(default)]
    pub ipv6: Option<String>,
    /// The node's ENI in this subnet (see `elbv2::nodes`).
    #[serde(default)]
    pub network_interface_id: Option<String>,
}

/// A load balancer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LoadBalancer {
    /// Its ARN.
    pub id: String,
    /// Name, unique per account and region.
    pub name: String,
    /// `application` or `network`.
    pub lb_type: String,
    /// `internet-facing` or `internal`.
    pub scheme: String,
    /// The VPC of its subnets.
    pub vpc_id: String,
    /// Its subnets, one per zone, in zone order.
    pub subnets: Vec<LbSubnet>,
    /// Security groups (always some for ALBs; optional for NLBs).
    #[serde(default)]
    pub security_groups: Vec<String>,
    /// `ipv4`, `dualstack`, …
    pub ip_address_type: String,
    /// DNS name.
    pub dns_name: String,
    /// Hosted zone of the DNS name.
    pub canonical_hosted_zone_id: String,
    /// Creation, ms since the epoch.
    pub created_ms: i64,
    /// `provisioning`, `active`, …
    pub state: String,
    /// `EnforceSecurityGroupInboundRulesOnPrivateLinkTraffic` (NLBs with security groups).
    #[serde(default)]
    pub enforce_private_link_inbound: Option<String>,
    /// Every attribute with its value.
    pub attributes: BTreeMap<String, String>,
    /// Tags.
    #[serde(default)]
    pub tags: Vec<Tag>,
}

impl LoadBalancer {
    /// Whether it is an application load balancer.
    #[must_use]
    pub fn is_application(&self) -> bool {
        self.lb_type == "application"
    }

    fn specs(&self) -> (&'static [attributes::Spec], &'static [attributes::Spec]) {
        if self.is_application() {
            (APPLICATION_LB, NETWORK_LB)
        } else {
            (NETWORK_LB, APPLICATION_LB)
        }
    }
}

/// `SubnetMappings.member.N`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SubnetMapping {
    /// `SubnetId`.
    pub subnet_id: String,
    /// `AllocationId`.
    pub allocation_id: Option<String>,
    /// `PrivateIPv4Address`.
    pub private_ipv4: Option<String>,
    /// `IPv6Address`.
    pub ipv6: Option<String>,
}

/// `CreateLoadBalancer`'s arguments.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CreateLoadBalancer {
    /// Name.
    pub name: String,
    /// `application` (default) or `network`.
    pub lb_type: Option<String>,
    /// `internet-facing` (default) or `internal`.
    pub scheme: Option<String>,
    /// `Subnets`.
    pub subnets: Vec<String>,
    /// `SubnetMappings`.
    pub subnet_mappings: Vec<SubnetMapping>,
    /// `SecurityGroups` (`None` when absent).
    pub security_groups: Option<Vec<String>>,
    /// `IpAddressType`.
    pub ip_address_type: Option<String>,
    /// Tags.
    pub tags: Vec<Tag>,
}

fn lb_not_found() -> Fault {
    Fault::new(
        "LoadBalancerNotFound",
        "One or more load balancers not found",
    )
}

/// Checks an ELBv2 resource name (load balancer or target group): 1–32 alphanumerics or
/// hyphens, not starting or ending with a hyphen.
pub(crate) fn check_name(name: &str, what: &str) -> Result<(), Fault> {
    let ok = !name.is_empty()
        && name.len() <= 32
        && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
        && !name.starts_with('-')
        && !name.ends_with('-');
    if !ok {
        return Err(validation(format!(
            "The {what} name '{name}' is not valid: it must have 1 to 32 alphanumeric characters or hyphens and must not begin or end with a hyphen"
        )));
    }
    Ok(())
}

/// Parses `a.b.c.d/n`.
pub(crate) fn parse_cidr4(cidr: &str) -> Option<(u32, u32)> {
    let (ip, len) = cidr.split_once('/')?;
    let ip: Ipv4Addr = ip.parse().ok()?;
    let len: u32 = len.parse().ok().filter(|n| *n <= 32)?;
    let mask = if len == 0 { 0 } else { u32::MAX << (32 - len) };
    Some((u32::from(ip) & mask, mask))
}

/// Whether `ip` lies in `cidr`.
pub(crate) fn cidr_contains(cidr: &str, ip: Ipv4Addr) -> bool {
    parse_cidr4(cidr).is_some_and(|(net, mask)| u32::from(ip) & mask == net)
}

/// The load balancer `arn` of `account`, as `t` sees it.
pub(crate) fn get(t: &Txn<'_>, account: &str, arn: &str) -> Result<LoadBalancer, Fault> {
    t.get::<LoadBalancer>(account, arn).ok_or_else(lb_not_found)
}

impl Elbv2 {
    /// `CreateLoadBalancer`. Returns the load balancer as the call answers it (`provisioning`).
    pub fn create_load_balancer(
        &self,
        account: &str,
        req: CreateLoadBalancer,
    ) -> Result<LoadBalancer, Error> {
        check_name(&req.name, "load balancer")?;
        if req.name.starts_with("internal-") {
            return Err(validation("Load balancer names cannot begin with 'internal-'").into());
        }
        let lb_type = req.lb_type.clone().unwrap_or_else(|| "application".into());
        let short = match lb_type.as_str() {
            "application" => "app",
            "network" => "net",
            other => {
                return Err(Fault::new(
                    "InvalidConfigurationRequest",
                    format!(
                        "Load balancers of type '{other}' are not supported by this Kumo endpoint"
                    ),
                )
                .into());
            }
        };
        let scheme = req
            .scheme
            .clone()
            .unwrap_or_else(|| "internet-facing".into());
        let ip_address_type = req.ip_address_type.clone().unwrap_or_else(|| "ipv4".into());
        super::tags::check_new(&req.tags)?;
        let region = self.region().to_owned();
        let pool = self.ec2().public_pool();
        let zones_in_region = self.ec2().placement().zones.len();
        self.ec2().store().transaction(|t| {
            if t.list::<LoadBalancer>(account)
                .iter()
                .any(|lb| lb.name == req.name)
            {
                return Err(Fault::new(
                    "DuplicateLoadBalancerName",
                    format!(
                        "A load balancer with the name '{}' already exists",
                        req.name
                    ),
                )
                .into());
            }
            let mappings = mappings_of(&req.subnets, &req.subnet_mappings)?;
            let (vpc, subnets) = resolve_subnets(t, account, &mappings, &lb_type, &scheme, &[])?;
            check_zone_count(&lb_type, &subnets, zones_in_region)?;
            check_ip_type(&ip_address_type, &lb_type, &scheme)?;
            let security_groups = match (&req.security_groups, lb_type.as_str()) {
                (Some(sgs), _) => check_security_groups(t, account, &vpc.id, sgs)?,
                (None, "application") => vec![default_group(t, account, &vpc)?],
                (None, _) => Vec::new(),
            };
            if lb_type == "application" && security_groups.is_empty() {
                return Err(validation(
                    "An application load balancer must have at least one security group",
                )
                .into());
            }
            let id = arn::load_balancer(&region, account, short, &req.name);
            let dns_name = dns_name(&req.name, &scheme, &region, &id);
            let mut lb = LoadBalancer {
                name: req.name.clone(),
                canonical_hosted_zone_id: hosted_zone_id(&region, &lb_type),
                dns_name,
                lb_type: lb_type.clone(),
                scheme: scheme.clone(),
                vpc_id: vpc.id.clone(),
                subnets,
                enforce_private_link_inbound: (lb_type == "network" && !security_groups.is_empty())
                    .then(|| "on".to_owned()),
                security_groups,
                ip_address_type: ip_address_type.clone(),
                created_ms: now_ms(),
                state: "active".into(),
                attributes: attributes::defaults(if lb_type == "application" {
                    APPLICATION_LB
                } else {
                    NETWORK_LB
                }),
                tags: req.tags.clone(),
                id,
            };
            super::nodes::sync(t, account, &region, pool, &mut lb, &[])?;
            t.put(account, lb.clone());
            lb.state = "provisioning".into();
            Ok(lb)
        })
    }

    /// `DescribeLoadBalancers`: by ARNs, by names, or all; paginated.
    pub fn describe_load_balancers(
        &self,
        account: &str,
        arns: &[String],
        names: &[String],
        marker: Option<&str>,
        page_size: Option<i32>,
    ) -> Result<Page<LoadBalancer>, Error> {
        if !arns.is_empty() && !names.is_empty() {
            return Err(validation(
                "Load balancer names and load balancer ARNs cannot be specified at the same time",
            )
            .into());
        }
        let all = self.ec2().store().list::<LoadBalancer>(account)?;
        let selected: Vec<LoadBalancer> = if !arns.is_empty() {
            if arns.iter().any(|a| !all.iter().any(|lb| lb.id == *a)) {
                return Err(lb_not_found().into());
            }
            all.into_iter().filter(|lb| arns.contains(&lb.id)).collect()
        } else if !names.is_empty() {
            let missing: Vec<&String> = names
                .iter()
                .filter(|n| !all.iter().any(|lb| lb.name == **n))
                .collect();
            if !missing.is_empty() {
                return Err(Fault::new(
                    "LoadBalancerNotFound",
                    format!(
                        "Load balancers '[{}]' not found",
                        missing
                            .iter()
                            .map(|s| s.as_str())
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                )
                .into());
            }
            all.into_iter()
                .filter(|lb| names.contains(&lb.name))
                .collect()
        } else {
            all
        };
        let scope = format!(
            "DescribeLoadBalancers\0{}\0{}",
            arns.join(","),
            names.join(",")
        );
        Ok(self.page_of(selected, |lb| lb.id.as_str(), &scope, marker, page_size)?)
    }

    /// One load balancer.
    pub fn load_balancer(&self, account: &str, arn: &str) -> Result<LoadBalancer, Error> {
        self.ec2()
            .store()
            .get::<LoadBalancer>(account, arn)?
            .ok_or_else(|| lb_not_found().into())
    }

    /// `DeleteLoadBalancer`: deletes it with its listeners and rules. Deleting one that does not
    /// exist succeeds, as on AWS.
    pub fn delete_load_balancer(&self, account: &str, arn: &str) -> Result<(), Error> {
        self.ec2().store().transaction(|t| {
            let Some(lb) = t.get::<LoadBalancer>(account, arn) else {
                return Ok(());
            };
            if lb.attributes.get("deletion_protection.enabled").map(String::as_str) == Some("true")
            {
                return Err(Fault::new(
                    "OperationNotPermitted",
                    format!(
                        "Load balancer '{arn}' cannot be deleted because deletion protection is enabled"
                    ),
                )
                .into());
            }
            for l in t.list::<Listener>(account) {
                if l.load_balancer_arn == lb.id {
                    for r in t.list::<Rule>(account) {
                        if r.listener_arn == l.id {
                            t.delete::<Rule>(account, &r.id);
                        }
                    }
                    t.delete::<Listener>(account, &l.id);
                }
            }
            super::nodes::release(t, account, &lb);
            t.delete::<LoadBalancer>(account, arn);
            Ok(())
        })
    }

    /// `DescribeLoadBalancerAttributes`.
    pub fn load_balancer_attributes(
        &self,
        account: &str,
        arn: &str,
    ) -> Result<Vec<(String, String)>, Error> {
        Ok(attributes::listed(
            &self.load_balancer(account, arn)?.attributes,
        ))
    }

    /// `ModifyLoadBalancerAttributes`: returns every attribute after the change.
    pub fn modify_load_balancer_attributes(
        &self,
        account: &str,
        arn: &str,
        changes: &[(String, String)],
    ) -> Result<Vec<(String, String)>, Error> {
        self.ec2().store().transaction(|t| {
            let mut lb = get(t, account, arn)?;
            let (own, other) = lb.specs();
            let kind = format!("load balancers with type '{}'", lb.lb_type);
            attributes::apply(
                &mut lb.attributes,
                own,
                &[other],
                changes,
                "Load balancer",
                &kind,
            )?;
            let out = attributes::listed(&lb.attributes);
            t.put(account, lb);
            Ok(out)
        })
    }

    /// `SetSecurityGroups`: returns the groups and the NLB PrivateLink enforcement setting.
    pub fn set_security_groups(
        &self,
        account: &str,
        arn: &str,
        groups: &[String],
        enforce_private_link_inbound: Option<&str>,
    ) -> Result<LoadBalancer, Error> {
        let region = self.region().to_owned();
        let pool = self.ec2().public_pool();
        self.ec2().store().transaction(|t| {
            let mut lb = get(t, account, arn)?;
            let groups = check_security_groups(t, account, &lb.vpc_id, groups)?;
            if lb.is_application() {
                if groups.is_empty() {
                    return Err(validation(
                        "An application load balancer must have at least one security group",
                    )
                    .into());
                }
                if enforce_private_link_inbound.is_some() {
                    return Err(Fault::new(
                        "InvalidConfigurationRequest",
                        "EnforceSecurityGroupInboundRulesOnPrivateLinkTraffic applies to network load balancers only",
                    )
                    .into());
                }
            } else {
                if lb.security_groups.is_empty() && !groups.is_empty() {
                    return Err(Fault::new(
                        "InvalidConfigurationRequest",
                        "You cannot add security groups to a network load balancer created without them",
                    )
                    .into());
                }
                if !lb.security_groups.is_empty() && groups.is_empty() {
                    return Err(Fault::new(
                        "InvalidConfigurationRequest",
                        "You cannot remove every security group of a network load balancer",
                    )
                    .into());
                }
                if let Some(v) = enforce_private_link_inbound {
                    lb.enforce_private_link_inbound = Some(v.to_owned());
                }
            }
            lb.security_groups = groups;
            let kept = lb.subnets.clone();
            super::nodes::sync(t, account, &region, pool, &mut lb, &kept)?;
            t.put(account, lb.clone());
            Ok(lb)
        })
    }

    /// `SetSubnets`.
    pub fn set_subnets(
        &self,
        account: &str,
        arn: &str,
        subnets: &[String],
        mappings: &[SubnetMapping],
        ip_address_type: Option<&str>,
    ) -> Result<LoadBalancer, Error> {
        let zones_in_region = self.ec2().placement().zones.len();
        let region = self.region().to_owned();
        let pool = self.ec2().public_pool();
        self.ec2().store().transaction(|t| {
            let mut lb = get(t, account, arn)?;
            let mappings = mappings_of(subnets, mappings)?;
            let own: Vec<String> = lb
                .subnets
                .iter()
                .filter_map(|s| s.network_interface_id.clone())
                .collect();
            let (vpc, mut new) =
                resolve_subnets(t, account, &mappings, &lb.lb_type, &lb.scheme, &own)?;
            // A kept subnet keeps its node and the node's address (AWS cannot change a node's
            // Elastic IP either).
            for n in &mut new {
                if let Some(old) = lb.subnets.iter().find(|o| o.subnet_id == n.subnet_id) {
                    n.allocation_id.clone_from(&old.allocation_id);
                    n.elastic_ip.clone_from(&old.elastic_ip);
                }
            }
            if vpc.id != lb.vpc_id {
                return Err(Fault::new(
                    "InvalidConfigurationRequest",
                    format!(
                        "The subnets must belong to the load balancer's VPC '{}'",
                        lb.vpc_id
                    ),
                )
                .into());
            }
            check_zone_count(&lb.lb_type, &new, zones_in_region)?;
            if !lb.is_application()
                && lb
                    .subnets
                    .iter()
                    .any(|old| !new.iter().any(|n| n.subnet_id == old.subnet_id))
            {
                return Err(Fault::new(
                    "InvalidConfigurationRequest",
                    "Subnets cannot be removed from a network load balancer",
                )
                .into());
            }
            if let Some(ip) = ip_address_type {
                check_ip_type(ip, &lb.lb_type, &lb.scheme)?;
                lb.ip_address_type = ip.to_owned();
            }
            let previous = std::mem::replace(&mut lb.subnets, new);
            super::nodes::sync(t, account, &region, pool, &mut lb, &previous)?;
            t.put(account, lb.clone());
            Ok(lb)
        })
    }

    /// `SetIpAddressType`.
    pub fn set_ip_address_type(
        &self,
        account: &str,
        arn: &str,
        ip_address_type: &str,
    ) -> Result<String, Error> {
        self.ec2().store().transaction(|t| {
            let mut lb = get(t, account, arn)?;
            check_ip_type(ip_address_type, &lb.lb_type, &lb.scheme)?;
            lb.ip_address_type = ip_address_type.to_owned();
            t.put(account, lb);
            Ok(ip_address_type.to_owned())
        })
    }
}

fn mappings_of(
    subnets: &[String],
    mappings: &[SubnetMapping],
) -> Result<Vec<SubnetMapping>, Fault> {
    match (subnets.is_empty(), mappings.is_empty()) {
        (false, false) => Err(validation(
            "You can specify subnets or subnet mappings, not both",
        )),
        (true, true) => Err(validation("At least one subnet must be specified")),
        (false, true) => Ok(subnets
            .iter()
            .map(|s| SubnetMapping {
                subnet_id: s.clone(),
                ..SubnetMapping::default()
            })
            .collect()),
        (true, false) => Ok(mappings.to_vec()),
    }
}

/// Checks the mappings and answers their VPC and subnets in zone order. `own_nodes`: the
/// load balancer's node ENIs (`SetSubnets`), whose Elastic IPs may be named again.
fn resolve_subnets(
    t: &Txn<'_>,
    account: &str,
    mappings: &[SubnetMapping],
    lb_type: &str,
    scheme: &str,
    own_nodes: &[String],
) -> Result<(Vpc, Vec<LbSubnet>), Error> {
    let mut vpc_id: Option<String> = None;
    let mut out: Vec<(LbSubnet, String)> = Vec::new();
    for m in mappings {
        let Some(subnet) = t.get::<Subnet>(account, &m.subnet_id) else {
            return Err(Fault::new(
                "SubnetNotFound",
                format!("The subnet ID '{}' is not valid", m.subnet_id),
            )
            .into());
        };
        match &vpc_id {
            None => vpc_id = Some(subnet.vpc_id.clone()),
            Some(v) if *v != subnet.vpc_id => {
                return Err(Fault::new(
                    "InvalidConfigurationRequest",
                    "All subnets must belong to the same VPC",
                )
                .into());
            }
            Some(_) => {}
        }
        if out
            .iter()
            .any(|(s, _)| s.zone_name == subnet.availability_zone)
        {
            return Err(Fault::new(
                "InvalidConfigurationRequest",
                format!(
                    "A load balancer cannot be attached to multiple subnets in the same Availability Zone ('{}')",
                    subnet.availability_zone
                ),
            )
            .into());
        }
        if let Some(allocation) = &m.allocation_id {
            if lb_type != "network" || scheme != "internet-facing" {
                return Err(Fault::new(
                    "InvalidConfigurationRequest",
                    "Elastic IP addresses can be assigned to internet-facing network load balancers only",
                )
                .into());
            }
            check_allocation(t, account, allocation, mappings, own_nodes)?;
        }
        if let Some(ip) = &m.private_ipv4 {
            if lb_type != "network" || scheme != "internal" {
                return Err(Fault::new(
                    "InvalidConfigurationRequest",
                    "Private IPv4 addresses can be assigned to internal network load balancers only",
                )
                .into());
            }
            let inside = ip
                .parse::<Ipv4Addr>()
                .is_ok_and(|a| cidr_contains(&subnet.cidr_block, a));
            if !inside {
                return Err(Fault::new(
                    "InvalidConfigurationRequest",
                    format!(
                        "The private IPv4 address '{ip}' is not in the CIDR block '{}' of subnet '{}'",
                        subnet.cidr_block, subnet.id
                    ),
                )
                .into());
            }
        }
        if m.ipv6.is_some() {
            return Err(Fault::new(
                "InvalidConfigurationRequest",
                format!("Subnet '{}' has no IPv6 CIDR block", subnet.id),
            )
            .into());
        }
        out.push((
            LbSubnet {
                subnet_id: subnet.id.clone(),
                zone_name: subnet.availability_zone.clone(),
                private_ipv4: m.private_ipv4.clone(),
                allocation_id: m.allocation_id.clone(),
                elastic_ip: None,
                ipv6: None,
                network_interface_id: None,
            },
            subnet.availability_zone.clone(),
        ));
    }
    let vpc_id = vpc_id.ok_or_else(|| validation("At least one subnet must be specified"))?;
    let Some(vpc) = t.get::<Vpc>(account, &vpc_id) else {
        return Err(Fault::new(
            "InvalidConfigurationRequest",
            format!("The VPC '{vpc_id}' of the subnets does not exist"),
        )
        .into());
    };
    out.sort_by(|a, b| a.1.cmp(&b.1));
    Ok((vpc, out.into_iter().map(|(s, _)| s).collect()))
}

/// An Elastic IP a subnet mapping names: the account's (`AllocationIdNotFound`), named by one
/// mapping only, and not associated with anything but one of `own_nodes`.
fn check_allocation(
    t: &Txn<'_>,
    account: &str,
    allocation: &str,
    mappings: &[SubnetMapping],
    own_nodes: &[String],
) -> Result<(), Fault> {
    let Some(eip) = t.get::<Address>(account, allocation) else {
        return Err(Fault::new(
            "AllocationIdNotFound",
            format!("The allocation ID '{allocation}' does not exist"),
        ));
    };
    let uses = mappings
        .iter()
        .filter(|m| m.allocation_id.as_deref() == Some(allocation))
        .count();
    if uses > 1 {
        return Err(Fault::new(
            "InvalidConfigurationRequest",
            format!("The allocation ID '{allocation}' is specified for more than one subnet"),
        ));
    }
    let own_node = eip
        .association
        .as_ref()
        .and_then(|x| x.network_interface_id.as_ref())
        .is_some_and(|eni| own_nodes.contains(eni));
    if eip.association.is_some() && !own_node {
        return Err(Fault::new(
            "InvalidConfigurationRequest",
            format!(
                "The Elastic IP address '{}' ({allocation}) is already associated",
                eip.public_ip
            ),
        ));
    }
    Ok(())
}

fn check_zone_count(
    lb_type: &str,
    subnets: &[LbSubnet],
    zones_in_region: usize,
) -> Result<(), Fault> {
    let needed = if lb_type == "application" {
        zones_in_region.clamp(1, 2)
    } else {
        1
    };
    if subnets.len() < needed {
        return Err(Fault::new(
            "InvalidConfigurationRequest",
            format!(
                "At least {needed} subnets in {needed} different Availability Zones must be specified"
            ),
        ));
    }
    Ok(())
}

fn check_ip_type(ip: &str, lb_type: &str, scheme: &str) -> Result<(), Fault> {
    match ip {
        "ipv4" => Ok(()),
        "dualstack" | "dualstack-without-public-ipv4" => {
            if ip == "dualstack-without-public-ipv4"
                && (lb_type != "application" || scheme != "internet-facing")
            {
                return Err(Fault::new(
                    "InvalidConfigurationRequest",
                    "'dualstack-without-public-ipv4' applies to internet-facing application load balancers only",
                ));
            }
            // Kumo's subnets carry no IPv6 blocks yet.
            Err(Fault::new(
                "InvalidConfigurationRequest",
                "The load balancer's subnets must have IPv6 CIDR blocks to use a dualstack IP address type",
            ))
        }
        other => Err(validation(format!(
            "IP address type '{other}' is not valid"
        ))),
    }
}

fn check_security_groups(
    t: &Txn<'_>,
    account: &str,
    vpc_id: &str,
    groups: &[String],
) -> Result<Vec<String>, Error> {
    if groups.len() > MAX_SECURITY_GROUPS {
        return Err(validation(format!(
            "A load balancer can have at most {MAX_SECURITY_GROUPS} security groups"
        ))
        .into());
    }
    let mut out: Vec<String> = Vec::with_capacity(groups.len());
    for g in groups {
        let sg = t
            .get::<SecurityGroup>(account, g)
            .filter(|sg| sg.vpc_id == vpc_id);
        if sg.is_none() {
            return Err(Fault::new(
                "InvalidSecurityGroup",
                format!("Security group '{g}' does not exist in VPC '{vpc_id}'"),
            )
            .into());
        }
        if !out.contains(g) {
            out.push(g.clone());
        }
    }
    Ok(out)
}

fn default_group(t: &Txn<'_>, account: &str, vpc: &Vpc) -> Result<String, Error> {
    if t.get::<SecurityGroup>(account, &vpc.default_security_group_id)
        .is_some()
    {
        return Ok(vpc.default_security_group_id.clone());
    }
    t.list::<SecurityGroup>(account)
        .into_iter()
        .find(|g| g.vpc_id == vpc.id && g.name == "default")
        .map(|g| g.id)
        .ok_or_else(|| {
            Fault::new(
                "InvalidSecurityGroup",
                format!("VPC '{}' has no default security group", vpc.id),
            )
            .into()
        })
}

fn dns_name(name: &str, scheme: &str, region: &str, arn: &str) -> String {
    let hex = arn.rsplit('/').next().unwrap_or_default();
    let n = u64::from_str_radix(hex, 16).unwrap_or_default() % 10_000_000_000;
    let internal = if scheme == "internal" {
        "internal-"
    } else {
        ""
    };
    format!("{internal}{name}-{n:010}.{region}.elb.kumo.internal")
}

/// A stable hosted-zone id per region and load balancer type (`Z` + 13 characters), standing
/// in for Route 53's until Kumo serves DNS zones.
fn hosted_zone_id(region: &str, lb_type: &str) -> String {
    use sha2::{Digest as _, Sha256};
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
    let digest = Sha256::digest(format!("{region}/{lb_type}").as_bytes());
    let tail: String = digest
        .iter()
        .take(13)
        .map(|b| char::from(ALPHABET[usize::from(*b) % ALPHABET.len()]))
        .collect();
    format!("Z{tail}")
}
