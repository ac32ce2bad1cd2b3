//! Security groups: stateful ingress and egress rules by protocol, ports, CIDR, prefix list or
//! referenced group; the rules the network fabric turns into nftables chains.

use serde::{Deserialize, Serialize};

use crate::ids;
use crate::query::tags::Tag;

/// What a rule allows traffic from (ingress) or to (egress).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum RuleTarget {
    /// An IPv4 CIDR.
    Cidr4 {
        /// `0.0.0.0/0`.
        cidr: String,
    },
    /// An IPv6 CIDR.
    Cidr6 {
        /// `::/0`.
        cidr: String,
    },
    /// A managed prefix list.
    PrefixList {
        /// `pl-…`.
        id: String,
    },
    /// Members of a security group.
    Group {
        /// `sg-…`.
        group_id: String,
        /// Owner account of that group.
        owner: String,
    },
}

/// One rule: a single (protocol, ports, target) with its own `sgr-…` id.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SgRule {
    /// `sgr-…`.
    pub id: String,
    /// `-1` (all), `tcp`, `udp`, `icmp`, `icmpv6` or an IP protocol number.
    pub protocol: String,
    /// First port (or ICMP type); `None` for all.
    pub from_port: Option<i32>,
    /// Last port (or ICMP code); `None` for all.
    pub to_port: Option<i32>,
    /// Source (ingress) or destination (egress).
    pub target: RuleTarget,
    /// Description.
    #[serde(default)]
    pub description: Option<String>,
    /// Tags of the rule.
    #[serde(default)]
    pub tags: Vec<Tag>,
}

/// A security group.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SecurityGroup {
    /// `sg-…`.
    pub id: String,
    /// Name, unique in its VPC.
    pub name: String,
    /// Description.
    pub description: String,
    /// Its VPC.
    pub vpc_id: String,
    /// Ingress rules.
    #[serde(default)]
    pub ingress: Vec<SgRule>,
    /// Egress rules.
    #[serde(default)]
    pub egress: Vec<SgRule>,
    /// Tags.
    #[serde(default)]
    pub tags: Vec<Tag>,
}

impl SgRule {
    /// AWS's default egress rule: all traffic to `0.0.0.0/0`.
    #[must_use]
    pub fn allow_all_egress() -> Self {
        Self {
            id: ids::resource_id("sgr"),
            protocol: "-1".into(),
            from_port: None,
            to_port: None,
            target: RuleTarget::Cidr4 {
                cidr: "0.0.0.0/0".into(),
            },
            description: None,
            tags: Vec::new(),
        }
    }
}

impl SecurityGroup {
    /// A new group with AWS's default egress rule and no ingress.
    #[must_use]
    pub fn new(name: &str, description: &str, vpc_id: &str) -> Self {
        Self {
            id: ids::resource_id("sg"),
            name: name.into(),
            description: description.into(),
            vpc_id: vpc_id.into(),
            ingress: Vec::new(),
            egress: vec![SgRule::allow_all_egress()],
            tags: Vec::new(),
        }
    }

    /// The VPC's `default` group: it also admits traffic from its own members.
    #[must_use]
    pub fn default_for(vpc_id: &str, account: &str) -> Self {
        let mut g = Self::new("default", "default VPC security group", vpc_id);
        g.ingress.push(SgRule {
            id: ids::resource_id("sgr"),
            protocol: "-1".into(),
            from_port: None,
            to_port: None,
            target: RuleTarget::Group {
                group_id: g.id.clone(),
                owner: account.into(),
            },
            description: None,
            tags: Vec::new(),
        });
        g
    }
}
