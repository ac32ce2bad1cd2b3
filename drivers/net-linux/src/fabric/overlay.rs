//! Across hosts: a VPC whose ENIs are plugged on several hosts has a router namespace on each,
//! and the routers exchange the VPC's traffic through a VXLAN link, [`OVERLAY`], under the
//! VPC's VNI.
//!
//! ```text
//!  host A namespace (underlay address a)          host B namespace (underlay address b)
//!    UDP socket :4789 of A's `overlay` ◀── VXLAN over the underlay ──▶ B's
//!  VPC namespace on A                              VPC namespace on B
//!    ke…  route 10.0.1.5/32 (local ENI)             ke…  route 10.0.2.7/32 (local ENI)
//!    overlay (MAC m(vni, a))                        overlay (MAC m(vni, b))
//!      route 10.0.2.7/32 dev overlay                  route 10.0.1.5/32 dev overlay
//!      neigh 10.0.2.7 → m(vni, b) permanent           neigh 10.0.1.5 → m(vni, a) permanent
//!      fdb m(vni, b) → dst b                          fdb m(vni, a) → dst a
//! ```
//!
//! **Why routed over the tunnel, not a shared L2.** Inside a VPC there is no L2 between
//! instances (each ENI is its own routed link, see the crate docs), so the tunnel only has to
//! carry routed packets from one router to another: a /32 route per remote ENI, a permanent
//! neighbour entry naming the remote router's MAC and a forwarding entry naming its host. Both
//! MACs are derived from the VNI and the host's underlay address ([`overlay_mac`]), so no host
//! has to learn anything from another: the core's routing policy (`remote_enis`: address, host)
//! is all there is, no flooding, no learning, no ARP across hosts.
//!
//! **Why the socket stays in the host namespace.** The device is created where the underlay
//! address lives (the host namespace) and then moved into the VPC namespace: a VXLAN device
//! keeps its UDP socket in the namespace it was created in, so encapsulated packets use the
//! host's underlay while the inner packets are routed and filtered by the VPC's router. The VNI
//! keeps VPCs apart: two VPCs with the same CIDR on the same hosts never see each other's
//! packets.
//!
//! **Filtering.** Each side filters what it owns (see [`crate::nft`]): the sending router
//! applies its ENI's anti-spoofing, egress rules and its subnet's outbound ACL; the receiving
//! router applies the receiving ENI's ingress rules and its subnet's inbound ACL (ACLs do not
//! apply within one subnet, decided by address for tunnelled packets). Conntrack runs on both
//! routers, so return traffic passes on both.
//!
//! MTU: the tunnel adds 50 bytes; the `overlay` link keeps 1,500 bytes (what guests are
//! given), so the underlay needs an MTU of at least 1,550 or the kernel fragments the outer
//! packets.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::net::Ipv4Addr;

use kumo_driver_api::{NetworkError, RemoteEni};

use super::LinuxFabric;
use crate::state::VpcRecord;
use crate::{cmd, netns};

/// The VPC namespace's tunnel link.
pub const OVERLAY: &str = "overlay";

/// The MAC of the `overlay` link of the VPC with `vni` on the host with underlay address
/// `host`: locally administered, unicast, the same on every host that computes it.
pub fn overlay_mac(vni: u32, host: Ipv4Addr) -> String {
    use sha2::{Digest, Sha256};
    let digest = Sha256::digest(format!("kumo-overlay/{vni}/{host}").as_bytes());
    let mut b = [0u8; 6];
    b[0] = 0x02;
    b[1..].copy_from_slice(&digest[..5]);
    b.iter()
        .map(|x| format!("{x:02x}"))
        .collect::<Vec<_>>()
        .join(":")
}

/// The routing policy's remote ENIs this router serves: all but those whose address a local
/// ENI holds (the local route wins; the records are catching up).
pub fn remote_enis(record: &VpcRecord) -> Vec<&RemoteEni> {
    let local: BTreeSet<Ipv4Addr> = record.enis.values().map(|e| e.ip).collect();
    record
        .routing
        .iter()
        .flat_map(|p| &p.remote_enis)
        .filter(|r| !local.contains(&r.ip))
        .collect()
}

/// The remote ENIs a router routes through the tunnel: address → host.
pub fn remote_routes(record: &VpcRecord) -> BTreeMap<Ipv4Addr, Ipv4Addr> {
    remote_enis(record)
        .into_iter()
        .map(|r| (r.ip, r.host))
        .collect()
}

impl LinuxFabric {
    /// Converges a VPC's tunnel: present with its VNI and the remote routes when the record
    /// has an overlay ([`VpcRecord::vni`]), absent otherwise.
    pub(super) fn converge_overlay(
        &self,
        vpc_id: &str,
        record: &VpcRecord,
    ) -> Result<(), NetworkError> {
        let ns = self.names.vpc_netns(vpc_id);
        let current = self.overlay_link_info(&ns)?;
        let (Some(vni), Some(local)) = (record.vni, self.cfg.underlay) else {
            if current.is_some() {
                self.ip(Some(&ns), &["link", "del", OVERLAY])?;
            }
            return Ok(());
        };
        // A changed VNI, underlay address or port (a reconfigured host) needs a new link.
        if current != Some((vni, local, self.cfg.vxlan_port)) {
            if current.is_some() {
                self.ip(Some(&ns), &["link", "del", OVERLAY])?;
            }
            self.create_overlay(vpc_id, &ns, vni, local)?;
        }
        self.converge_remote(&ns, vni, &remote_routes(record))
    }

    /// The VNI, local address and port of the VPC namespace's tunnel, `None` when it has none.
    fn overlay_link_info(&self, ns: &str) -> Result<Option<(u32, Ipv4Addr, u16)>, NetworkError> {
        if !self.links(Some(ns))?.iter().any(|l| l.name == OVERLAY) {
            return Ok(None);
        }
        let out = self.ip(Some(ns), &["-j", "-d", "link", "show", "dev", OVERLAY])?;
        let v: serde_json::Value = serde_json::from_str(&out)
            .map_err(|e| NetworkError::Failed(format!("ip -j -d link: {e}")))?;
        let info = v.get(0).and_then(|l| l.get("linkinfo")?.get("info_data"));
        let field = |k: &str| info.and_then(|i| i.get(k));
        // A link of that name that is not a tunnel counts as a wrong one (VNI 0).
        Ok(Some((
            field("id")
                .and_then(serde_json::Value::as_u64)
                .and_then(|id| u32::try_from(id).ok())
                .unwrap_or(0),
            field("local")
                .and_then(|l| l.as_str()?.parse().ok())
                .unwrap_or(Ipv4Addr::UNSPECIFIED),
            field("port")
                .and_then(serde_json::Value::as_u64)
                .and_then(|p| u16::try_from(p).ok())
                .unwrap_or(0),
        )))
    }

    /// Creates the tunnel in the host namespace (its socket stays there) and moves it into the
    /// VPC namespace.
    fn create_overlay(
        &self,
        vpc_id: &str,
        ns: &str,
        vni: u32,
        local: Ipv4Addr,
    ) -> Result<(), NetworkError> {
        let host = self.host();
        let temp = self.names.overlay_link(vpc_id);
        if self.links(host)?.iter().any(|l| l.name == temp) {
            self.ip(host, &["link", "del", &temp])?; // an earlier attempt died half-way
        }
        let (vni_s, local_s, port) = (
            vni.to_string(),
            local.to_string(),
            self.cfg.vxlan_port.to_string(),
        );
        self.ip(
            host,
            &[
                "link",
                "add",
                &temp,
                "address",
                &overlay_mac(vni, local),
                "mtu",
                "1500",
                "type",
                "vxlan",
                "id",
                &vni_s,
                "local",
                &local_s,
                "dstport",
                &port,
                "nolearning",
            ],
        )?;
        if let Err(e) = self.ip(host, &["link", "set", &temp, "netns", ns]) {
            let _ = self.ip(host, &["link", "del", &temp]);
            return Err(e);
        }
        self.ip(Some(ns), &["link", "set", &temp, "name", OVERLAY])?;
        self.ip(Some(ns), &["link", "set", OVERLAY, "addrgenmode", "none"])?;
        self.ip(Some(ns), &["link", "set", OVERLAY, "up"])?;
        // Tunnelled packets come from remote ENIs, which no reverse route may cover yet; the
        // filter checks their sources instead.
        netns::sysctl(Some(ns), &format!("net/ipv4/conf/{OVERLAY}/rp_filter"), "0")?;
        netns::sysctl(Some(ns), "net/ipv4/conf/all/rp_filter", "0")
    }

    /// Makes routes, neighbour and forwarding entries of the tunnel exactly `want`.
    fn converge_remote(
        &self,
        ns: &str,
        vni: u32,
        want: &BTreeMap<Ipv4Addr, Ipv4Addr>,
    ) -> Result<(), NetworkError> {
        let routes: Vec<String> = self
            .json(Some(ns), &["route", "show", "dev", OVERLAY])?
            .iter()
            .filter_map(|r| r.get("dst")?.as_str().map(str::to_string))
            .collect();
        let neighs: Vec<String> = self
            .json(Some(ns), &["neigh", "show", "dev", OVERLAY])?
            .iter()
            .filter_map(|n| n.get("dst")?.as_str().map(str::to_string))
            .collect();
        let out = cmd::check(
            "bridge",
            &["-n", ns, "-j", "fdb", "show", "dev", OVERLAY],
            self.cfg.command_timeout,
        )?;
        let fdb: serde_json::Value =
            serde_json::from_str(if out.trim().is_empty() { "[]" } else { &out })
                .map_err(|e| NetworkError::Failed(format!("bridge -j fdb: {e}")))?;
        let fdb: Vec<(String, String)> = fdb
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|f| {
                Some((
                    f.get("mac")?.as_str()?.to_string(),
                    f.get("dst")?.as_str()?.to_string(),
                ))
            })
            .collect();

        let hosts: BTreeSet<Ipv4Addr> = want.values().copied().collect();
        let macs: BTreeMap<Ipv4Addr, String> =
            hosts.iter().map(|h| (*h, overlay_mac(vni, *h))).collect();
        let mut ip_script = String::new();
        for (addr, host) in want {
            let _ = writeln!(
                ip_script,
                "neigh replace {addr} lladdr {} dev {OVERLAY} nud permanent",
                macs[host]
            );
            let _ = writeln!(ip_script, "route replace {addr}/32 dev {OVERLAY}");
        }
        let wanted: BTreeSet<String> = want.keys().map(ToString::to_string).collect();
        for dst in routes {
            let addr = dst.trim_end_matches("/32");
            if !wanted.contains(addr) {
                let _ = writeln!(ip_script, "route del {dst} dev {OVERLAY}");
            }
        }
        for dst in neighs {
            if !wanted.contains(&dst) {
                let _ = writeln!(ip_script, "neigh del {dst} dev {OVERLAY}");
            }
        }
        let mut fdb_script = String::new();
        for (host, mac) in &macs {
            if !fdb.iter().any(|(m, d)| m == mac && *d == host.to_string()) {
                let _ = writeln!(
                    fdb_script,
                    "fdb replace {mac} dev {OVERLAY} dst {host} self permanent"
                );
            }
        }
        for (mac, dst) in &fdb {
            let keep = dst
                .parse::<Ipv4Addr>()
                .is_ok_and(|h| macs.get(&h) == Some(mac));
            if !keep {
                let _ = writeln!(fdb_script, "fdb del {mac} dev {OVERLAY} dst {dst} self");
            }
        }
        // Forwarding entries first: a route is usable the moment it exists.
        for (tool, script) in [("bridge", fdb_script), ("ip", ip_script)] {
            if !script.is_empty() {
                self.batch(tool, ns, &script)?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::state::EniRecord;
    use kumo_driver_api::RoutingPolicy;

    #[test]
    fn macs_are_stable_unicast_and_differ_by_vni_and_host() {
        let a = Ipv4Addr::new(10, 255, 0, 1);
        let b = Ipv4Addr::new(10, 255, 0, 2);
        let m = overlay_mac(7, a);
        assert_eq!(m, overlay_mac(7, a));
        assert!(m.starts_with("02:"), "{m}");
        assert_eq!(m.len(), 17);
        assert_ne!(m, overlay_mac(8, a));
        assert_ne!(m, overlay_mac(7, b));
    }

    #[test]
    fn local_enis_win_over_remote_ones() {
        let ip = |s: &str| -> Ipv4Addr { s.parse().expect("ip") };
        let remote = |eni: &str, addr: &str, host: &str| RemoteEni {
            eni_id: eni.into(),
            subnet_id: "subnet-1".into(),
            ip: ip(addr),
            host: ip(host),
            dns_names: Vec::new(),
        };
        let mut record = VpcRecord {
            routing: Some(RoutingPolicy {
                remote_enis: vec![
                    remote("eni-b", "10.0.1.7", "10.255.0.2"),
                    remote("eni-c", "10.0.1.5", "10.255.0.3"),
                ],
                ..Default::default()
            }),
            ..Default::default()
        };
        record.enis.insert(
            "eni-a".into(),
            EniRecord {
                subnet_id: "subnet-1".into(),
                tap: "t".into(),
                mac: "02:00:00:00:00:01".into(),
                ip: ip("10.0.1.5"),
                instance_id: None,
                dns_names: Vec::new(),
            },
        );
        let routes = remote_routes(&record);
        assert_eq!(
            routes.into_iter().collect::<Vec<_>>(),
            vec![(ip("10.0.1.7"), ip("10.255.0.2"))]
        );
    }
}
