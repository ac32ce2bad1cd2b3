//! Names of everything the fabric creates, derived from ids so that a restarted fabric finds
//! its own objects again without any state.
//!
//! Linux link names are limited to 15 bytes while ENI ids are 21, so per-ENI links are named
//! after a hash of the fabric prefix and the ENI id (48 bits: collisions need ~16 million ENIs on
//! one host), and every link carries an alias `PREFIX:vpc-…:eni-…` that maps it back to ids.

use sha2::{Digest, Sha256};

/// Naming scheme of one fabric instance.
#[derive(Debug, Clone)]
pub struct Names {
    prefix: String,
}

/// What a link alias tells about a link.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Alias {
    /// The VPC.
    pub vpc_id: String,
    /// The ENI.
    pub eni_id: String,
}

impl Names {
    /// A scheme whose namespaces start with `prefix` (`kumo` → `kumo-vpc-…`).
    pub fn new(prefix: &str) -> Self {
        Self {
            prefix: prefix.to_string(),
        }
    }

    /// The VPC's router namespace.
    pub fn vpc_netns(&self, vpc_id: &str) -> String {
        format!("{}-vpc-{vpc_id}", self.prefix)
    }

    /// The VPC id of a namespace this fabric names, if it is one.
    pub fn vpc_of_netns<'a>(&self, netns: &'a str) -> Option<&'a str> {
        netns
            .strip_prefix(&self.prefix)?
            .strip_prefix("-vpc-")
            .filter(|v| !v.is_empty())
    }

    fn hash(&self, eni_id: &str) -> String {
        let digest = Sha256::digest(format!("{}/{eni_id}", self.prefix).as_bytes());
        digest.iter().take(6).map(|b| format!("{b:02x}")).collect()
    }

    /// Host namespace: the per-ENI bridge the guest's tap joins.
    pub fn host_bridge(&self, eni_id: &str) -> String {
        format!("kb{}", self.hash(eni_id))
    }

    /// Host namespace: the veth end enslaved to the bridge.
    pub fn host_veth(&self, eni_id: &str) -> String {
        format!("kh{}", self.hash(eni_id))
    }

    /// VPC namespace: the ENI's routed link (the guest's gateway side).
    pub fn vpc_link(&self, eni_id: &str) -> String {
        format!("ke{}", self.hash(eni_id))
    }

    /// Public namespace: a VPC's uplink (the VPC namespace's end is [`UPLINK`]).
    pub fn public_link(&self, vpc_id: &str) -> String {
        format!("kp{}", self.hash(vpc_id))
    }

    /// Host namespace: a VPC's tunnel while it is created, before it moves into the VPC
    /// namespace as `overlay` (see the fabric's `overlay` module).
    pub fn overlay_link(&self, vpc_id: &str) -> String {
        format!("kx{}", self.hash(vpc_id))
    }

    /// The alias of a VPC's uplink in the public namespace (not an ENI alias: no `:` after the
    /// prefix, so [`Names::parse_alias`] never mistakes it for one).
    pub fn uplink_alias(&self, vpc_id: &str) -> String {
        format!("{}-uplink:{vpc_id}", self.prefix)
    }

    /// The alias put on every per-ENI link.
    pub fn alias(&self, vpc_id: &str, eni_id: &str) -> String {
        format!("{}:{vpc_id}:{eni_id}", self.prefix)
    }

    /// Parses an alias this fabric wrote.
    pub fn parse_alias(&self, alias: &str) -> Option<Alias> {
        let rest = alias.strip_prefix(&self.prefix)?.strip_prefix(':')?;
        let (vpc, eni) = rest.split_once(':')?;
        (!vpc.is_empty() && !eni.is_empty()).then(|| Alias {
            vpc_id: vpc.into(),
            eni_id: eni.into(),
        })
    }
}

/// The VPC namespace's end of its uplink to the public namespace (one per namespace, so the
/// name needs no hash).
pub const UPLINK: &str = "uplink";

/// Whether `id` is safe to embed in names, paths and config files (`vpc-0a1b…`).
pub fn valid_id(id: &str) -> bool {
    !id.is_empty() && id.len() <= 64 && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
}

/// A DNS name safe for dnsmasq's hosts file: letters, digits, `-` and `.`, at most 253 bytes.
pub fn valid_dns_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 253
        && !name.starts_with(['.', '-'])
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn link_names_fit_and_aliases_round_trip() {
        let n = Names::new("kumo");
        let eni = "eni-0123456789abcdef0";
        for name in [n.host_bridge(eni), n.host_veth(eni), n.vpc_link(eni)] {
            assert!(name.len() <= 15, "{name}");
        }
        assert_ne!(n.vpc_link(eni), Names::new("other").vpc_link(eni));
        assert_eq!(n.vpc_netns("vpc-1"), "kumo-vpc-vpc-1");
        assert_eq!(n.vpc_of_netns("kumo-vpc-vpc-1"), Some("vpc-1"));
        assert_eq!(n.vpc_of_netns("other-vpc-vpc-1"), None);
        let a = n.parse_alias(&n.alias("vpc-1", eni)).expect("parses");
        assert_eq!((a.vpc_id.as_str(), a.eni_id.as_str()), ("vpc-1", eni));
        assert_eq!(n.parse_alias("other:vpc-1:eni-1"), None);
        assert_eq!(n.parse_alias(&n.uplink_alias("vpc-1")), None);
        assert!(n.public_link("vpc-1").len() <= 15);
        assert!(n.overlay_link("vpc-1").len() <= 15);
        assert_ne!(n.overlay_link("vpc-1"), n.public_link("vpc-1"));
        assert!(valid_id("vpc-0a1b"));
        assert!(!valid_id("vpc/../x") && !valid_id("") && !valid_id("a b"));
    }
}
