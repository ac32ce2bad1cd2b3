//! The public side: one namespace per installation standing for the outside world, joined to
//! each VPC router with an internet gateway by a veth (the VPC's *uplink*), and the VPC's
//! policy routing ([`crate::routes`]).
//!
//! ```text
//!  public namespace PREFIX-public-<hash of the state dir>   ("the internet")
//!    lo: <outside address>/32 (203.0.113.1: the next hop of every VPC, and a client address)
//!    kp<h(vpc)>  ── route <public ip>/32 for each public address of that VPC
//!        │ veth
//!  VPC namespace: `uplink`, each public address of the VPC as <ip>/32 (so the router answers
//!    ARP for it; DNAT in nftables hands the packet to the private address)
//! ```
//!
//! **Why routed /32s and not a shared bridge.** An address that moves (re-association to an
//! instance of another VPC) is one `route replace` in the public namespace, effective for the
//! next packet; on a bridge, clients would keep a stale ARP entry for up to a minute. The
//! public namespace forwards, so the instances of two VPCs reach each other by their public
//! addresses, as on AWS. On a real deployment this namespace is replaced by an uplink bridge
//! to the provider's network; the VPC side is the same.
//!
//! Its name derives from the prefix and the state directory, so two installations (or two
//! tests) on one host never share it. Removing a VPC removes its namespace and with it both
//! ends of the uplink and the public routes on it.

use std::net::Ipv4Addr;

use kumo_driver_api::NetworkError;

use super::LinuxFabric;
use crate::names::UPLINK;
use crate::state::VpcRecord;
use crate::{cmd, netns, routes};

impl LinuxFabric {
    /// The public namespace's name.
    pub fn public_netns(&self) -> &str {
        &self.public_netns
    }

    /// Removes the public namespace and every uplink (tests and uninstallation; the VPCs'
    /// next convergence recreates what their policies need).
    pub fn remove_public_side(&self) -> Result<(), NetworkError> {
        let _g = self.guard();
        if netns::exists(&self.public_netns) {
            cmd::check(
                "ip",
                &["netns", "del", &self.public_netns],
                self.cfg.command_timeout,
            )?;
        }
        Ok(())
    }

    fn ensure_public(&self) -> Result<(), NetworkError> {
        let ns = self.public_netns.as_str();
        if !netns::exists(ns) {
            cmd::check("ip", &["netns", "add", ns], self.cfg.command_timeout)?;
        }
        self.ip(Some(ns), &["link", "set", "lo", "up"])?;
        self.ip(
            Some(ns),
            &[
                "addr",
                "replace",
                &format!("{}/32", self.cfg.outside_address),
                "dev",
                "lo",
            ],
        )?;
        netns::sysctl(Some(ns), "net/ipv4/ip_forward", "1")?;
        netns::sysctl(Some(ns), "net/ipv4/conf/all/rp_filter", "0")?;
        netns::sysctl(Some(ns), "net/ipv4/conf/default/rp_filter", "0")?;
        netns::sysctl(Some(ns), "net/ipv6/conf/default/disable_ipv6", "1")?;
        netns::sysctl(Some(ns), "net/ipv6/conf/all/disable_ipv6", "1")
    }

    /// Every public address the VPC answers for on this host: mapped ENIs' (except those of
    /// ENIs on other hosts, whose host answers for them) and NAT gateways'.
    fn public_ips(record: &VpcRecord) -> Vec<Ipv4Addr> {
        let mut ips: Vec<Ipv4Addr> = record
            .routing
            .iter()
            .flat_map(|p| {
                crate::nft::local_mappings(record)
                    .into_iter()
                    .map(|m| m.public_ip)
                    .chain(p.nat_gateways.values().map(|n| n.public_ip))
            })
            .collect();
        ips.sort();
        ips.dedup();
        ips
    }

    /// Converges the uplink and the policy routing of a VPC whose router exists.
    pub(super) fn converge_routing(
        &self,
        vpc_id: &str,
        record: &VpcRecord,
    ) -> Result<(), NetworkError> {
        let ns = self.names.vpc_netns(vpc_id);
        let igw = record.routing.as_ref().is_some_and(|p| p.internet_gateway);
        let has_uplink = self.links(Some(&ns))?.iter().any(|l| l.name == UPLINK);
        if igw {
            self.ensure_uplink(vpc_id, &ns, has_uplink, &Self::public_ips(record))?;
        } else if has_uplink {
            // Its peer in the public namespace goes with it, and the routes on that.
            self.ip(Some(&ns), &["link", "del", UPLINK])?;
        }
        self.converge_tables(&ns, record)
    }

    fn ensure_uplink(
        &self,
        vpc_id: &str,
        ns: &str,
        has_uplink: bool,
        ips: &[Ipv4Addr],
    ) -> Result<(), NetworkError> {
        self.ensure_public()?;
        let public = self.public_netns.as_str();
        let kp = self.names.public_link(vpc_id);
        let public_has = self.links(Some(public))?.iter().any(|l| l.name == kp);
        if !(has_uplink && public_has) {
            // Half a pair (a namespace deleted a moment ago: the kernel removes its links
            // asynchronously) is removed; either end may vanish meanwhile.
            if has_uplink {
                let _ = self.ip(Some(ns), &["link", "del", UPLINK]);
            }
            if public_has {
                let _ = self.ip(Some(public), &["link", "del", &kp]);
            }
            self.ip(
                Some(public),
                &[
                    "link", "add", &kp, "type", "veth", "peer", "name", UPLINK, "netns", ns,
                ],
            )?;
        }
        let alias = self.names.uplink_alias(vpc_id);
        self.ip(Some(public), &["link", "set", &kp, "alias", &alias, "up"])?;
        self.ip(Some(ns), &["link", "set", UPLINK, "up"])?;
        // Replies to the outside come back by the uplink, which no reverse route covers.
        netns::sysctl(Some(ns), "net/ipv4/conf/all/rp_filter", "0")?;
        netns::sysctl(Some(ns), &format!("net/ipv4/conf/{UPLINK}/rp_filter"), "0")?;
        netns::sysctl(Some(public), &format!("net/ipv4/conf/{kp}/rp_filter"), "0")?;
        let wanted: Vec<String> = ips.iter().map(|ip| format!("{ip}/32")).collect();
        for a in &wanted {
            self.ip(Some(ns), &["addr", "replace", a, "dev", UPLINK])?;
            self.ip(Some(public), &["route", "replace", a, "dev", &kp])?;
        }
        for a in self.addresses(ns, UPLINK)? {
            if !wanted.contains(&a) {
                self.ip(Some(ns), &["addr", "del", &a, "dev", UPLINK])?;
            }
        }
        for dst in self.route_dsts(Some(public), &["route", "show", "dev", &kp])? {
            let full = if dst.contains('/') {
                dst.clone()
            } else {
                format!("{dst}/32")
            };
            if !wanted.contains(&full) {
                self.ip(Some(public), &["route", "del", &dst, "dev", &kp])?;
            }
        }
        Ok(())
    }

    /// Destinations of `ip -j -4 ARGS` routes.
    fn route_dsts(&self, ns: Option<&str>, args: &[&str]) -> Result<Vec<String>, NetworkError> {
        Ok(self
            .json(ns, args)?
            .iter()
            .filter_map(|r| r.get("dst")?.as_str().map(str::to_string))
            .collect())
    }

    /// `ip -j -4 ARGS` as a JSON array.
    pub(super) fn json(
        &self,
        ns: Option<&str>,
        args: &[&str],
    ) -> Result<Vec<serde_json::Value>, NetworkError> {
        let mut full = vec!["-j", "-4"];
        full.extend_from_slice(args);
        let out = self.ip(ns, &full)?;
        let v: serde_json::Value =
            serde_json::from_str(if out.trim().is_empty() { "[]" } else { &out })
                .map_err(|e| NetworkError::Failed(format!("ip -j {}: {e}", args.join(" "))))?;
        Ok(v.as_array().cloned().unwrap_or_default())
    }

    /// Replaces the subnets' rules and tables in one `ip -batch` run.
    fn converge_tables(&self, ns: &str, record: &VpcRecord) -> Result<(), NetworkError> {
        let want = routes::desired(&self.names, record, self.cfg.outside_address)?;
        let rules: Vec<u32> = self
            .json(Some(ns), &["rule", "show"])?
            .iter()
            .filter_map(|r| r.get("priority")?.as_u64())
            .filter_map(|p| u32::try_from(p).ok())
            .filter(|p| *p >= routes::RULE_BASE && *p < routes::RULE_BASE + routes::MAX_SUBNETS)
            .collect();
        let mut found: Vec<u32> = self
            .json(Some(ns), &["route", "show", "table", "all"])?
            .iter()
            .filter_map(|r| r.get("table")?.as_str()?.parse::<u32>().ok())
            .filter(|t| routes::ours(*t))
            .collect();
        found.sort_unstable();
        found.dedup();
        self.batch("ip", ns, &routes::script(record, &rules, &found, &want))
    }
}
