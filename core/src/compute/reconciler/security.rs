//! The reconciler's security side: each VPC's security groups and network ACLs, translated from
//! the records into the fabric's [`SecurityPolicy`] and applied whole.
//!
//! Why whole and from the records: every write path (rules authorised or revoked, an ENI's
//! groups changed, an instance launched or terminated, an ACL entry or association replaced)
//! changes the posture, and recomputing it from the committed records after any of them cannot
//! miss one; the fabric makes an unchanged policy free and a membership-only change cheap.
//! Why a loop of its own: the resource store notifies it after every commit touching the kinds
//! that matter ([`WATCHED`]), so a change reaches the kernel within the time of one pass over
//! one account's records plus one `nft` transaction — not after whatever instance boot or disk
//! copy the main pass happens to be busy with.
//!
//! A network load balancer created without security groups admits every client, as on AWS:
//! its nodes (ENIs with no groups, managed by `amazon-elb`) are put in a pseudo-group
//! [`OPEN_NODE_GROUP`] that allows everything in and out (the proxy listens only on the
//! listeners' ports). Any other ENI without groups stays closed.
//!
//! What cannot be expressed is left out, never widened: IPv6 rules (VPCs are IPv4-only in the
//! data plane, which drops IPv6) and prefix-list targets (no managed prefix lists yet) match
//! nothing, which for allow-only groups means less is allowed, never more.

use std::collections::{BTreeMap, BTreeSet};
use std::net::Ipv4Addr;

use kumo_driver_api::{
    AclRuleSpec, AclSpec, Ipv4Cidr, Peer, PortMatch, Protocol, SecurityGroupSpec, SecurityPolicy,
    SgRuleSpec,
};

use super::network::cidr4;
use super::{Compute, WorldError};
use crate::ec2::model::Record;
use crate::ec2::network_acl::{AclEntry, NetworkAcl};
use crate::ec2::network_interface::NetworkInterface;
use crate::ec2::security_group::{RuleTarget, SecurityGroup, SgRule};
use crate::ec2::store::ResourceStore;
use crate::ec2::subnet::Subnet;
use crate::ec2::vpc::Vpc;
use crate::elbv2::nodes::REQUESTER_ID;

/// The record kinds whose changes can change a VPC's security posture.
pub(super) const WATCHED: [&str; 5] = [
    SecurityGroup::KIND,
    NetworkInterface::KIND,
    NetworkAcl::KIND,
    Subnet::KIND,
    Vpc::KIND,
];

/// The pseudo-group of load balancer nodes without security groups (not an `sg-` id, so no
/// record can collide with it).
pub(super) const OPEN_NODE_GROUP: &str = "elb-open";

/// Protocol and port match from AWS's spellings: the protocol normalised (`-1`, `tcp`, `udp`,
/// `icmp`, `icmpv6` or a number), ports or ICMP type/code as given (`-1`: all). `None` for
/// what the data plane cannot express (ICMPv6) or a malformed value.
fn l4(protocol: &str, ports: Option<(i32, i32)>) -> Option<(Protocol, PortMatch)> {
    let protocol = match protocol {
        "-1" | "all" => Protocol::All,
        "tcp" | "6" => Protocol::Tcp,
        "udp" | "17" => Protocol::Udp,
        "icmp" | "1" => Protocol::Icmp,
        "icmpv6" | "58" => return None,
        n => Protocol::Number(n.parse().ok()?),
    };
    let ports = match (protocol, ports) {
        (Protocol::Tcp | Protocol::Udp, Some((from, to))) if from >= 0 && to >= 0 => {
            let from = u16::try_from(from).ok()?;
            let to = u16::try_from(to).ok()?;
            if to < from {
                return None;
            }
            PortMatch::Ports { from, to }
        }
        (Protocol::Icmp, Some((t, code))) if t >= 0 => PortMatch::Icmp {
            icmp_type: u8::try_from(t).ok()?,
            code: if code >= 0 {
                Some(u8::try_from(code).ok()?)
            } else {
                None
            },
        },
        _ => PortMatch::Any,
    };
    Some((protocol, ports))
}

/// One security group rule, `None` when the data plane cannot express it.
fn sg_rule(r: &SgRule) -> Option<SgRuleSpec> {
    let ports = match (r.from_port, r.to_port) {
        (Some(f), Some(t)) => Some((f, t)),
        (Some(f), None) => Some((f, -1)),
        _ => None,
    };
    let (protocol, ports) = l4(&r.protocol, ports)?;
    let peer = match &r.target {
        RuleTarget::Cidr4 { cidr } => Peer::Cidr(cidr4(cidr)?),
        RuleTarget::Group { group_id, .. } => Peer::Group(group_id.clone()),
        RuleTarget::Cidr6 { .. } | RuleTarget::PrefixList { .. } => return None,
    };
    Some(SgRuleSpec {
        protocol,
        ports,
        peer,
    })
}

fn acl_rule(e: &AclEntry) -> Option<AclRuleSpec> {
    let (protocol, ports) = l4(&e.protocol, e.ports.or(e.icmp))?;
    Some(AclRuleSpec {
        number: u16::try_from(e.rule_number).ok()?,
        allow: e.rule_action == "allow",
        protocol,
        ports,
        cidr: cidr4(&e.cidr_block)?,
    })
}

/// An ACL's rules by direction.
fn acl_spec(acl: &NetworkAcl) -> AclSpec {
    let mut spec = AclSpec::default();
    for e in &acl.entries {
        // Only ICMPv6 rules cannot be expressed (the API validates the rest), and IPv6 is
        // dropped by the data plane anyway.
        if let Some(rule) = acl_rule(e) {
            if e.egress {
                spec.outbound.push(rule);
            } else {
                spec.inbound.push(rule);
            }
        }
    }
    spec
}

/// The security posture of one VPC from the records.
pub(super) fn vpc_policy(
    store: &ResourceStore,
    account: &str,
    vpc_id: &str,
) -> Result<SecurityPolicy, WorldError> {
    let enis: Vec<NetworkInterface> = store
        .list::<NetworkInterface>(account)?
        .into_iter()
        .filter(|e| e.vpc_id == vpc_id)
        .collect();
    let groups: BTreeMap<String, SecurityGroup> = store
        .list::<SecurityGroup>(account)?
        .into_iter()
        .filter(|g| g.vpc_id == vpc_id)
        .map(|g| (g.id.clone(), g))
        .collect();
    let mut policy = SecurityPolicy::default();
    let mut members: BTreeMap<&str, BTreeSet<Ipv4Addr>> = BTreeMap::new();
    let mut open_nodes: BTreeSet<Ipv4Addr> = BTreeSet::new();
    for e in &enis {
        let mut ids: Vec<String> = e.groups.iter().map(|g| g.id.clone()).collect();
        if let Ok(ip) = e.private_ip.parse::<Ipv4Addr>() {
            for g in &e.groups {
                if let Some((id, _)) = groups.get_key_value(&g.id) {
                    members.entry(id.as_str()).or_default().insert(ip);
                }
            }
            if ids.is_empty() && e.requester_id.as_deref() == Some(REQUESTER_ID) {
                ids.push(OPEN_NODE_GROUP.into());
                open_nodes.insert(ip);
            }
        }
        policy.enis.insert(e.id.clone(), ids);
    }
    if !open_nodes.is_empty() {
        let any = || SgRuleSpec {
            protocol: Protocol::All,
            ports: PortMatch::Any,
            peer: Peer::Cidr(Ipv4Cidr {
                addr: Ipv4Addr::UNSPECIFIED,
                prefix_len: 0,
            }),
        };
        policy.groups.insert(
            OPEN_NODE_GROUP.into(),
            SecurityGroupSpec {
                ingress: vec![any()],
                egress: vec![any()],
                members: open_nodes.into_iter().collect(),
            },
        );
    }
    for (id, g) in &groups {
        policy.groups.insert(
            id.clone(),
            SecurityGroupSpec {
                ingress: g.ingress.iter().filter_map(sg_rule).collect(),
                egress: g.egress.iter().filter_map(sg_rule).collect(),
                members: members
                    .get(id.as_str())
                    .map(|m| m.iter().copied().collect())
                    .unwrap_or_default(),
            },
        );
    }
    let acls: Vec<NetworkAcl> = store
        .list::<NetworkAcl>(account)?
        .into_iter()
        .filter(|a| a.vpc_id == vpc_id)
        .collect();
    let default_acl = acls.iter().find(|a| a.is_default);
    for s in store.list::<Subnet>(account)? {
        if s.vpc_id != vpc_id {
            continue;
        }
        // Every subnet is associated with one ACL; the VPC's default one if none says so.
        let acl = acls
            .iter()
            .find(|a| a.associations.iter().any(|x| x.subnet_id == s.id))
            .or(default_acl);
        if let Some(acl) = acl {
            policy.acls.insert(s.id.clone(), acl_spec(acl));
        }
    }
    Ok(policy)
}

impl Compute {
    /// Applies the security posture of every VPC this host's fabric has (a no-op without a
    /// fabric). Failures are per VPC: one VPC's trouble does not hold up the others.
    pub fn reconcile_security(&self) {
        self.for_each_fabric_vpc("security", |account, vpc_id| {
            self.apply_security(account, vpc_id)
        });
    }

    /// Computes and applies one VPC's posture.
    pub(super) fn apply_security(&self, account: &str, vpc_id: &str) -> Result<(), WorldError> {
        if let Some(fabric) = &self.network {
            let policy = vpc_policy(self.ec2.store(), account, vpc_id)?;
            fabric.apply_security(vpc_id, &policy)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn translates_aws_spellings() {
        assert_eq!(
            l4("tcp", Some((22, 22))),
            Some((Protocol::Tcp, PortMatch::Ports { from: 22, to: 22 }))
        );
        assert_eq!(
            l4("-1", Some((-1, -1))),
            Some((Protocol::All, PortMatch::Any))
        );
        assert_eq!(
            l4("icmp", Some((8, -1))),
            Some((
                Protocol::Icmp,
                PortMatch::Icmp {
                    icmp_type: 8,
                    code: None
                }
            ))
        );
        assert_eq!(
            l4("icmp", Some((-1, -1))),
            Some((Protocol::Icmp, PortMatch::Any))
        );
        assert_eq!(l4("47", None), Some((Protocol::Number(47), PortMatch::Any)));
        assert_eq!(l4("icmpv6", None), None);
        assert_eq!(l4("tcp", Some((90, 80))), None);
        assert_eq!(
            cidr4("10.0.1.7/24").map(|c| c.to_string()).as_deref(),
            Some("10.0.1.0/24")
        );
        assert_eq!(cidr4("::/0"), None);
    }
}
