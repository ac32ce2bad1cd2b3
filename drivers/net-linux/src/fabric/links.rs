//! The kernel side of one ENI: the per-ENI bridge and veth pair, the routed link in the VPC
//! namespace (gateway address, /32 route, proxy ARP) and the guest's tap joining the bridge.
//! Each step checks what exists first, so repeating a plug converges instead of failing.

use kumo_driver_api::{EniSpec, NetworkError};

use super::LinuxFabric;
use crate::{cmd, netns};

/// One link as `ip -j link` reports it.
#[derive(Debug, Clone)]
pub(super) struct Link {
    pub(super) name: String,
    pub(super) ifindex: u32,
    pub(super) alias: Option<String>,
    pub(super) master: Option<String>,
}

impl LinuxFabric {
    /// Runs `ip -n NETNS ARGS…` (the caller's namespace when `None`).
    pub(super) fn ip(&self, netns: Option<&str>, args: &[&str]) -> Result<String, NetworkError> {
        let mut full: Vec<&str> = Vec::with_capacity(args.len() + 2);
        if let Some(ns) = netns {
            full.extend(["-n", ns]);
        }
        full.extend_from_slice(args);
        cmd::check("ip", &full, self.cfg.command_timeout)
    }

    /// Runs `program ARGS…` with `script` on its standard input (one process for many
    /// changes); a failure names `what` and carries the tool's complaint.
    pub(super) fn feed(
        &self,
        what: &str,
        program: &str,
        args: &[&str],
        script: &str,
    ) -> Result<(), NetworkError> {
        let out = cmd::run(program, args, Some(script), self.cfg.command_timeout)?;
        if out.success {
            Ok(())
        } else {
            Err(NetworkError::Failed(format!(
                "{what}: {}",
                out.stderr.trim()
            )))
        }
    }

    /// `TOOL -n NS -batch -` (`ip` or `bridge`) with `script`.
    pub(super) fn batch(&self, tool: &str, ns: &str, script: &str) -> Result<(), NetworkError> {
        self.feed(
            &format!("{tool} -batch in {ns}"),
            tool,
            &["-n", ns, "-batch", "-"],
            script,
        )
    }

    /// The namespace the hypervisor's taps live in.
    pub(super) fn host(&self) -> Option<&str> {
        self.cfg.host_netns.as_deref()
    }

    /// Every link of a namespace.
    pub(super) fn links(&self, netns: Option<&str>) -> Result<Vec<Link>, NetworkError> {
        let out = self.ip(netns, &["-j", "link", "show"])?;
        let v: serde_json::Value = serde_json::from_str(&out)
            .map_err(|e| NetworkError::Failed(format!("ip -j link: {e}")))?;
        let str_of =
            |l: &serde_json::Value, k: &str| l.get(k).and_then(|x| x.as_str()).map(str::to_string);
        Ok(v.as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|l| {
                        Some(Link {
                            name: str_of(l, "ifname")?,
                            ifindex: l.get("ifindex")?.as_u64()?.try_into().ok()?,
                            alias: str_of(l, "ifalias"),
                            master: str_of(l, "master"),
                        })
                    })
                    .collect()
            })
            .unwrap_or_default())
    }

    /// Removes the kernel side of one ENI (both namespaces); succeeds when absent.
    pub(super) fn delete_eni_links(
        &self,
        vpc_id: Option<&str>,
        eni_id: &str,
    ) -> Result<(), NetworkError> {
        if let Some(vpc) = vpc_id {
            let ns = self.names.vpc_netns(vpc);
            if netns::exists(&ns)
                && self
                    .links(Some(&ns))?
                    .iter()
                    .any(|l| l.name == self.names.vpc_link(eni_id))
            {
                self.ip(Some(&ns), &["link", "del", &self.names.vpc_link(eni_id)])?;
            }
        }
        let host_links = self.links(self.host())?;
        for name in [self.names.host_veth(eni_id), self.names.host_bridge(eni_id)] {
            if host_links.iter().any(|l| l.name == name) {
                // The veth may vanish with its peer between the listing and here.
                let _ = self.ip(self.host(), &["link", "del", &name]);
            }
        }
        Ok(())
    }

    /// Builds the per-ENI links, returns the VPC-side link's index and whether the tap is joined.
    pub(super) fn plumb(&self, eni: &EniSpec, prefix_len: u8) -> Result<(u32, bool), NetworkError> {
        let ns = self.names.vpc_netns(&eni.vpc_id);
        let (bridge, hveth, vlink) = (
            self.names.host_bridge(&eni.eni_id),
            self.names.host_veth(&eni.eni_id),
            self.names.vpc_link(&eni.eni_id),
        );
        let alias = self.names.alias(&eni.vpc_id, &eni.eni_id);
        let host = self.host();

        let host_links = self.links(host)?;
        let has = |name: &str| host_links.iter().any(|l| l.name == name);
        if !has(&bridge) {
            self.ip(host, &["link", "add", &bridge, "type", "bridge"])?;
            // No IPv6 link-local address: the host side is pure L2.
            self.ip(host, &["link", "set", &bridge, "addrgenmode", "none"])?;
        }
        self.ip(host, &["link", "set", &bridge, "alias", &alias, "up"])?;
        let vpc_has_link = self.links(Some(&ns))?.iter().any(|l| l.name == vlink);
        if !vpc_has_link {
            if has(&hveth) {
                self.ip(host, &["link", "del", &hveth])?; // half of a pair whose other half died
            }
            self.ip(
                host,
                &[
                    "link", "add", &hveth, "type", "veth", "peer", "name", &vlink, "netns", &ns,
                ],
            )?;
            self.ip(host, &["link", "set", &hveth, "addrgenmode", "none"])?;
        }
        self.ip(
            host,
            &[
                "link", "set", &hveth, "master", &bridge, "alias", &alias, "up",
            ],
        )?;

        let gw = format!("{}/{prefix_len}", eni.gateway);
        self.ip(Some(&ns), &["link", "set", &vlink, "alias", &alias, "up"])?;
        self.ip(
            Some(&ns),
            &["addr", "replace", &gw, "dev", &vlink, "noprefixroute"],
        )?;
        self.ip(
            Some(&ns),
            &["route", "replace", &format!("{}/32", eni.ip), "dev", &vlink],
        )?;
        netns::sysctl(Some(&ns), &format!("net/ipv4/conf/{vlink}/proxy_arp"), "1")?;
        // The router answers at once (Linux delays proxy ARP replies to broadcasts by up to
        // 0.8 s by default, which a guest's first packet to a neighbour would wait for).
        netns::sysctl(
            Some(&ns),
            &format!("net/ipv4/neigh/{vlink}/proxy_delay"),
            "0",
        )?;
        self.prune_link(&ns, &vlink, &gw, &format!("{}", eni.ip))?;

        let mut tap_attached = false;
        if let Some(tap) = host_links.iter().find(|l| l.name == eni.tap) {
            if tap.master.as_deref() != Some(bridge.as_str()) {
                self.ip(host, &["link", "set", &eni.tap, "master", &bridge])?;
            }
            self.ip(host, &["link", "set", &eni.tap, "up"])?;
            tap_attached = true;
        }
        let ifindex = self
            .links(Some(&ns))?
            .into_iter()
            .find(|l| l.name == vlink)
            .map(|l| l.ifindex)
            .ok_or_else(|| NetworkError::Failed(format!("{vlink} vanished from {ns}")))?;
        Ok((ifindex, tap_attached))
    }

    /// Makes the router's loopback carry exactly `wanted` (plus 127.0.0.1/8).
    pub(super) fn converge_lo(&self, ns: &str, wanted: &[String]) -> Result<(), NetworkError> {
        for cidr in wanted {
            self.ip(Some(ns), &["addr", "replace", cidr, "dev", "lo"])?;
        }
        for cidr in self.addresses(ns, "lo")? {
            if !wanted.contains(&cidr) && !cidr.starts_with("127.") {
                self.ip(Some(ns), &["addr", "del", &cidr, "dev", "lo"])?;
            }
        }
        Ok(())
    }

    /// The IPv4 addresses (`a.b.c.d/len`) of a link.
    pub(super) fn addresses(&self, ns: &str, link: &str) -> Result<Vec<String>, NetworkError> {
        let out = self.ip(Some(ns), &["-j", "-4", "addr", "show", "dev", link])?;
        let v: serde_json::Value =
            serde_json::from_str(if out.trim().is_empty() { "[]" } else { &out })
                .map_err(|e| NetworkError::Failed(format!("ip -j addr: {e}")))?;
        let mut found = Vec::new();
        for iface in v.as_array().into_iter().flatten() {
            for a in iface
                .get("addr_info")
                .and_then(|a| a.as_array())
                .into_iter()
                .flatten()
            {
                if let (Some(local), Some(len)) = (
                    a.get("local").and_then(|x| x.as_str()),
                    a.get("prefixlen").and_then(|x| x.as_u64()),
                ) {
                    found.push(format!("{local}/{len}"));
                }
            }
        }
        Ok(found)
    }

    /// Removes addresses and routes on an ENI's link that a changed spec left behind, so that
    /// traffic for an address the ENI no longer has is not sent to it.
    fn prune_link(&self, ns: &str, link: &str, gw: &str, ip: &str) -> Result<(), NetworkError> {
        let json = |args: &[&str]| -> Result<Vec<serde_json::Value>, NetworkError> {
            let out = self.ip(Some(ns), args)?;
            let v: serde_json::Value =
                serde_json::from_str(if out.trim().is_empty() { "[]" } else { &out })
                    .map_err(|e| NetworkError::Failed(format!("ip -j: {e}")))?;
            Ok(v.as_array().cloned().unwrap_or_default())
        };
        for route in json(&["-j", "-4", "route", "show", "dev", link])? {
            let dst = route
                .get("dst")
                .and_then(|d| d.as_str())
                .unwrap_or_default();
            if dst != ip && dst != format!("{ip}/32") && !dst.is_empty() {
                self.ip(Some(ns), &["route", "del", dst, "dev", link])?;
            }
        }
        for cidr in self.addresses(ns, link)? {
            if cidr != gw {
                self.ip(Some(ns), &["addr", "del", &cidr, "dev", link])?;
            }
        }
        Ok(())
    }
}
