//! IPv4 CIDR arithmetic for VPCs, subnets, routes and ACL entries: parsing in AWS's strict
//! form (the address must be the block's network address), containment and overlap.

use std::net::Ipv4Addr;

use super::Fault;

/// An IPv4 block.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Cidr {
    /// Network address.
    pub addr: u32,
    /// Prefix length, 0..=32.
    pub len: u8,
}

impl Cidr {
    /// Parses `a.b.c.d/n`; the host bits must be zero.
    #[must_use]
    pub fn parse(s: &str) -> Option<Self> {
        let (a, l) = s.split_once('/')?;
        let addr: Ipv4Addr = a.parse().ok()?;
        if l.is_empty() || l.len() > 2 || !l.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        let len: u8 = l.parse().ok()?;
        if len > 32 {
            return None;
        }
        let addr = u32::from(addr);
        let c = Self { addr, len };
        (addr & c.mask() == addr).then_some(c)
    }

    /// Parses a block for parameter `param`, answering AWS's `InvalidParameterValue` otherwise.
    pub fn parse_param(s: &str, param: &str) -> Result<Self, Fault> {
        Self::parse(s).ok_or_else(|| {
            Fault::invalid_value(format!(
                "Value ({s}) for parameter {param} is invalid. This is not a valid CIDR block."
            ))
        })
    }

    /// The netmask.
    #[must_use]
    pub fn mask(self) -> u32 {
        if self.len == 0 {
            0
        } else {
            u32::MAX << (32 - u32::from(self.len))
        }
    }

    /// Number of addresses.
    #[must_use]
    pub fn size(self) -> u64 {
        1u64 << (32 - u32::from(self.len))
    }

    /// Last address of the block.
    #[must_use]
    pub fn last(self) -> u32 {
        self.addr | !self.mask()
    }

    /// Whether `ip` lies in the block.
    #[must_use]
    pub fn contains_ip(self, ip: u32) -> bool {
        ip & self.mask() == self.addr
    }

    /// Whether `other` lies entirely in this block.
    #[must_use]
    pub fn contains(self, other: Self) -> bool {
        other.len >= self.len && self.contains_ip(other.addr)
    }

    /// Whether the blocks share any address.
    #[must_use]
    pub fn overlaps(self, other: Self) -> bool {
        self.contains(other) || other.contains(self)
    }

    /// The `n`th address of the block (0 is the network address).
    #[must_use]
    pub fn nth(self, n: u32) -> Ipv4Addr {
        Ipv4Addr::from(self.addr.wrapping_add(n))
    }
}

impl std::fmt::Display for Cidr {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", Ipv4Addr::from(self.addr), self.len)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_contains_overlaps() {
        let vpc = Cidr::parse("10.0.0.0/16").expect("vpc");
        let a = Cidr::parse("10.0.1.0/24").expect("a");
        let b = Cidr::parse("10.0.0.0/23").expect("b");
        assert!(vpc.contains(a) && vpc.contains(b));
        assert!(a.overlaps(b) && b.overlaps(a));
        assert!(!a.overlaps(Cidr::parse("10.0.2.0/24").expect("c")));
        assert_eq!(a.size(), 256);
        assert_eq!(a.to_string(), "10.0.1.0/24");
        assert_eq!(a.nth(4), Ipv4Addr::new(10, 0, 1, 4));
        assert_eq!(Cidr::parse("0.0.0.0/0").expect("all").size(), 1 << 32);
        for bad in [
            "10.0.0.1/16",
            "10.0.0.0",
            "10.0.0.0/33",
            "x/8",
            "10.0.0.0/+8",
            "10.0.0.0/",
        ] {
            assert!(Cidr::parse(bad).is_none(), "{bad}");
        }
    }
}
