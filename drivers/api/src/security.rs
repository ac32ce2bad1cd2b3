//! The security posture of a VPC as the fabric enforces it: security groups (stateful, per ENI)
//! and network ACLs (stateless, per subnet).
//!
//! The core translates its records (strings as the API accepted them) into these typed specs,
//! so the fabric never parses an API value; a rule the fabric cannot express is left out by the
//! core, never guessed at. The whole posture of one VPC travels in one [`SecurityPolicy`] and is
//! applied as one atomic change: a reconciler that recomputes it from the records after every
//! change cannot leave half a policy behind, and an unchanged policy costs the fabric nothing.
//!
//! Semantics (AWS's):
//! * an ENI's traffic passes when *any* rule of *any* of its groups allows it — egress rules of
//!   the sender's groups and ingress rules of the receiver's groups; there are no deny rules;
//! * groups are stateful: packets of a connection (and related ICMP errors) that was allowed
//!   when it started pass both ways, whatever the rules say now; a removed rule stops *new*
//!   connections only;
//! * a rule naming a group matches the private addresses of that group's members
//!   ([`SecurityGroupSpec::members`]); a membership change is a change of that list only;
//! * network ACLs are stateless and apply where traffic crosses a subnet's boundary (not
//!   between two ENIs of one subnet): the sender subnet's outbound rules and the receiver
//!   subnet's inbound rules, lowest rule number first, first match decides, nothing matched
//!   denies; return traffic needs its own rule.

use std::collections::BTreeMap;
use std::net::Ipv4Addr;

use serde::{Deserialize, Serialize};

use crate::network::Ipv4Cidr;

/// Which packets a rule is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Protocol {
    /// Every IP protocol (`-1`).
    All,
    /// TCP (6), optionally a destination port range.
    Tcp,
    /// UDP (17), optionally a destination port range.
    Udp,
    /// ICMP (1), optionally a type and code.
    Icmp,
    /// Any other IP protocol by number.
    Number(u8),
}

/// What part of a protocol a rule matches beyond the protocol itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PortMatch {
    /// Every port, type or code.
    Any,
    /// TCP/UDP destination ports `from..=to`.
    Ports {
        /// First port.
        from: u16,
        /// Last port (≥ `from`).
        to: u16,
    },
    /// ICMP type, and code when given.
    Icmp {
        /// ICMP type.
        icmp_type: u8,
        /// ICMP code; `None` for every code.
        code: Option<u8>,
    },
}

/// The far end of a security group rule: the source of ingress, the destination of egress.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Peer {
    /// Addresses in an IPv4 network.
    Cidr(#[serde(with = "cidr_text")] Ipv4Cidr),
    /// Members of a security group (`sg-…`, listed in [`SecurityPolicy::groups`]).
    Group(String),
}

/// One security group rule: allows traffic.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct SgRuleSpec {
    /// Protocol.
    pub protocol: Protocol,
    /// Ports or ICMP type/code (`Any` for `All` and numbered protocols).
    pub ports: PortMatch,
    /// Where the traffic comes from (ingress) or goes to (egress).
    pub peer: Peer,
}

/// A security group: its rules and its members' addresses.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SecurityGroupSpec {
    /// Rules allowing traffic into members.
    pub ingress: Vec<SgRuleSpec>,
    /// Rules allowing traffic out of members.
    pub egress: Vec<SgRuleSpec>,
    /// Private addresses of the ENIs in this group (what rules naming the group match).
    pub members: Vec<Ipv4Addr>,
}

/// One network ACL rule.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct AclRuleSpec {
    /// Rule number: lower numbers are evaluated first.
    pub number: u16,
    /// Allow (`true`) or deny.
    pub allow: bool,
    /// Protocol.
    pub protocol: Protocol,
    /// Ports or ICMP type/code.
    pub ports: PortMatch,
    /// The source (inbound rules) or destination (outbound rules).
    #[serde(with = "cidr_text")]
    pub cidr: Ipv4Cidr,
}

/// The network ACL of one subnet.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AclSpec {
    /// Rules for traffic entering the subnet (any order; evaluated by number).
    pub inbound: Vec<AclRuleSpec>,
    /// Rules for traffic leaving the subnet.
    pub outbound: Vec<AclRuleSpec>,
}

/// The whole security posture of one VPC.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SecurityPolicy {
    /// Security groups by id: every group an ENI of the VPC is in, and every group a rule
    /// names.
    pub groups: BTreeMap<String, SecurityGroupSpec>,
    /// The groups of each ENI, by ENI id. An ENI the policy does not list has no groups:
    /// nothing reaches it and it reaches nothing.
    pub enis: BTreeMap<String, Vec<String>>,
    /// The network ACL of each subnet, by subnet id. A subnet the policy does not list has no
    /// ACL rules: everything crossing its boundary is denied.
    pub acls: BTreeMap<String, AclSpec>,
}

mod cidr_text {
    use serde::{Deserialize, Deserializer, Serializer};

    use crate::network::Ipv4Cidr;

    pub fn serialize<S: Serializer>(c: &Ipv4Cidr, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(c)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Ipv4Cidr, D::Error> {
        let text = String::deserialize(d)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}
