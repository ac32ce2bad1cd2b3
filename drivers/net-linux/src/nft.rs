//! The VPC router's packet filter: one nftables table, rendered whole from the VPC record.
//!
//! The routed design gives every ENI its own link in the VPC namespace, so the *ingress
//! interface* identifies the sender and the filter can trust it where it cannot trust a source
//! address:
//!
//! * anti-spoofing (EC2's source/destination check): a packet from an ENI's link must carry
//!   that ENI's address (`iifname . ip saddr` in the `eni_src` set), checked before conntrack
//!   so a spoofed packet never rides an existing flow; ENIs whose check is disabled (routers,
//!   `src_unchecked`) and the uplink (after DNAT) are exempt from it when forwarding;
//! * `forward` first applies the network ACLs (stateless, so to every packet): verdict maps
//!   keyed by the incoming link jump to the sender subnet's outbound chain (`ae_<subnet>`) and
//!   by the outgoing link to the receiver subnet's inbound chain (`ai_<subnet>`). Each starts by
//!   returning for traffic between two links of its own subnet (ACLs guard subnet
//!   boundaries), then holds the rules in rule-number order (allow = `return`, deny = `drop`)
//!   and ends with `drop` (the catch-all 32767);
//! * then security groups, stateful (`inet` family, native conntrack — the bridge family has
//!   none on this kernel): `ct state established,related accept` first, so return traffic of
//!   an allowed connection always passes and a removed rule only stops new connections. A new
//!   connection is checked twice: `iifname vmap @eni_eg` jumps to the sender ENI's egress chain
//!   (`eg_<link>`: a jump to each of its groups' egress chains `ge_<group>`, then `drop`); a
//!   matching egress rule does `goto to_dest`, which is `oifname vmap @eni_in` → the receiver
//!   ENI's `in_<link>` (a jump to each `gi_<group>`, then `drop`), where a matching ingress
//!   rule accepts. One chain per group and direction, shared by all its members;
//! * a rule naming a group matches the named set `m_<group>` of its members' addresses (the
//!   anti-spoofing check makes a source address trustworthy inside the VPC), so a membership
//!   change rewrites one set's elements and no chain ([`render_members_update`]);
//! * without a policy ([`VpcRecord::security`] `None`) `eni_in` maps every ENI to `accept`,
//!   `eni_eg` and the ACL maps are empty: the unfiltered router of before issue 6;
//! * `input` (the router itself) admits DHCP, DNS to the AmazonProvidedDNS address, the
//!   metadata service and ping, nothing else;
//! * IPv6 is dropped (VPCs are IPv4-only for now).
//!
//! The ruleset is applied with one `nft -f` transaction that deletes and recreates the table,
//! so it is atomic and idempotent; conntrack state survives because it is not part of a table.
//! Rendering validates every id that becomes a chain or set name (`-` becomes `_`).

use std::collections::BTreeMap;
use std::fmt::Write as _;

use kumo_driver_api::{
    AclRuleSpec, NetworkError, Peer, PortMatch, Protocol, SecurityPolicy, SgRuleSpec,
};

use crate::names::{Names, valid_id};
use crate::state::VpcRecord;

/// The table's name in every VPC namespace.
pub const TABLE: &str = "kumo";

/// An id as part of a chain or set name (`sg-0ab` → `sg_0ab`), refusing anything unsafe.
fn ident(id: &str) -> Result<String, NetworkError> {
    if valid_id(id) {
        Ok(id.replace('-', "_"))
    } else {
        Err(NetworkError::Invalid(format!("bad id {id:?}")))
    }
}

/// The set of a group's members' addresses.
fn members_set(group: &str) -> Result<String, NetworkError> {
    Ok(format!("m_{}", ident(group)?))
}

fn elements(v: &[String]) -> String {
    if v.is_empty() {
        String::new()
    } else {
        format!("\n\t\telements = {{ {} }}", v.join(", "))
    }
}

/// The protocol and port part of a rule (empty for every protocol).
fn l4(protocol: Protocol, ports: PortMatch) -> String {
    let range = |from: u16, to: u16| {
        if from == to {
            from.to_string()
        } else {
            format!("{from}-{}", to.max(from))
        }
    };
    match (protocol, ports) {
        (Protocol::All, _) => String::new(),
        (Protocol::Tcp, PortMatch::Ports { from, to }) => format!(" tcp dport {}", range(from, to)),
        (Protocol::Udp, PortMatch::Ports { from, to }) => format!(" udp dport {}", range(from, to)),
        (Protocol::Tcp, _) => " meta l4proto tcp".into(),
        (Protocol::Udp, _) => " meta l4proto udp".into(),
        (Protocol::Icmp, PortMatch::Icmp { icmp_type, code }) => match code {
            Some(c) => format!(" icmp type {icmp_type} icmp code {c}"),
            None => format!(" icmp type {icmp_type}"),
        },
        (Protocol::Icmp, _) => " meta l4proto icmp".into(),
        (Protocol::Number(n), _) => format!(" meta l4proto {n}"),
    }
}

/// A CIDR match on `field` (`saddr`/`daddr`), empty for `0.0.0.0/0`.
fn cidr_match(field: &str, cidr: &kumo_driver_api::Ipv4Cidr) -> String {
    cidr_match_on(&format!("ip {field}"), cidr)
}

/// A CIDR match on the expression `expr` (`ip daddr`, `ct original ip daddr`), empty for
/// `0.0.0.0/0`.
fn cidr_match_on(expr: &str, cidr: &kumo_driver_api::Ipv4Cidr) -> String {
    if cidr.prefix_len == 0 {
        String::new()
    } else if cidr.prefix_len == 32 {
        format!(" {expr} {}", cidr.addr)
    } else {
        format!(" {expr} {cidr}")
    }
}

/// One security group rule; `None` when it names a group the policy does not describe (it
/// matches nothing).
fn sg_rule(
    policy: &SecurityPolicy,
    rule: &SgRuleSpec,
    field: &str,
    verdict: &str,
) -> Result<Option<String>, NetworkError> {
    let peer = match &rule.peer {
        Peer::Cidr(c) => cidr_match(field, c),
        Peer::Group(g) if policy.groups.contains_key(g) => {
            format!(" ip {field} @{}", members_set(g)?)
        }
        Peer::Group(_) => return Ok(None),
    };
    let m = format!("{peer}{} {verdict}", l4(rule.protocol, rule.ports));
    Ok(Some(format!("\t\t{}\n", m.trim_start())))
}

/// A subnet's ACL chain for one direction; `same_subnet` are the matches of traffic within
/// the subnet, which ACLs do not see.
fn acl_chain(name: &str, same_subnet: &[String], rules: &[AclRuleSpec], field: &str) -> String {
    let mut sorted: Vec<&AclRuleSpec> = rules.iter().collect();
    sorted.sort_by_key(|r| r.number);
    let mut c = format!("\tchain {name} {{\n");
    for m in same_subnet {
        let _ = writeln!(c, "\t\t{m} return");
    }
    for r in sorted {
        let verdict = if r.allow { "return" } else { "drop" };
        let m = format!(
            "{}{} {verdict}",
            cidr_match(field, &r.cidr),
            l4(r.protocol, r.ports)
        );
        let _ = writeln!(c, "\t\t{}", m.trim_start());
    }
    c.push_str("\t\tdrop\n\t}\n");
    c
}

/// Renders the `nft -f` script for a VPC.
pub fn render(names: &Names, record: &VpcRecord) -> Result<String, NetworkError> {
    let mut src = Vec::new();
    let mut eni_in = Vec::new();
    let mut eni_eg = Vec::new();
    let mut acl_in = Vec::new();
    let mut acl_eg = Vec::new();
    let mut chains = String::new();
    let mut sets = String::new();
    for (eni_id, eni) in &record.enis {
        let link = names.vpc_link(eni_id);
        src.push(format!("\"{link}\" . {}", eni.ip));
        match &record.security {
            None => eni_in.push(format!("\"{link}\" : accept")),
            Some(policy) => {
                eni_in.push(format!("\"{link}\" : jump in_{link}"));
                eni_eg.push(format!("\"{link}\" : jump eg_{link}"));
                let subnet = ident(&eni.subnet_id)?;
                acl_in.push(format!("\"{link}\" : jump ai_{subnet}"));
                acl_eg.push(format!("\"{link}\" : jump ae_{subnet}"));
                let groups = policy.enis.get(eni_id).map(Vec::as_slice).unwrap_or(&[]);
                let (mut i, mut e) = (String::new(), String::new());
                for g in groups.iter().filter(|g| policy.groups.contains_key(*g)) {
                    let g = ident(g)?;
                    let _ = writeln!(i, "\t\tjump gi_{g}");
                    let _ = writeln!(e, "\t\tjump ge_{g}");
                }
                let _ = write!(
                    chains,
                    "\tchain in_{link} {{\n{i}\t\tdrop\n\t}}\n\tchain eg_{link} {{\n{e}\t\tdrop\n\t}}\n"
                );
            }
        }
    }
    if let Some(policy) = &record.security {
        for (id, group) in &policy.groups {
            let g = ident(id)?;
            let members: Vec<String> = group.members.iter().map(ToString::to_string).collect();
            let _ = write!(
                sets,
                "\tset m_{g} {{\n\t\ttype ipv4_addr{}\n\t}}\n",
                elements(&members)
            );
            let _ = writeln!(chains, "\tchain gi_{g} {{");
            for r in &group.ingress {
                if let Some(line) = sg_rule(policy, r, "saddr", "accept")? {
                    chains.push_str(&line);
                }
            }
            let _ = writeln!(chains, "\t}}\n\tchain ge_{g} {{");
            for r in &group.egress {
                if let Some(line) = sg_rule(policy, r, "daddr", "goto to_dest")? {
                    chains.push_str(&line);
                }
            }
            chains.push_str("\t}\n");
        }
        // Links by subnet: ACLs do not apply between two ENIs of one subnet.
        let mut links: BTreeMap<&str, Vec<String>> = BTreeMap::new();
        for (eni_id, eni) in &record.enis {
            links
                .entry(eni.subnet_id.as_str())
                .or_default()
                .push(format!("\"{}\"", names.vpc_link(eni_id)));
        }
        for subnet_id in record.subnets.keys() {
            let s = ident(subnet_id)?;
            let members = links.get(subnet_id.as_str()).cloned().unwrap_or_default();
            let _ = write!(
                sets,
                "\tset sl_{s} {{\n\t\ttype ifname{}\n\t}}\n",
                elements(&members)
            );
            let acl = policy.acls.get(subnet_id).cloned().unwrap_or_default();
            // Through the tunnel the other end is known by its address (its link is remote).
            let cidr = record.subnets[subnet_id].cidr()?;
            chains.push_str(&acl_chain(
                &format!("ai_{s}"),
                &[
                    format!("iifname @sl_{s}"),
                    format!("iifname @overlay ip saddr {cidr}"),
                ],
                &acl.inbound,
                "saddr",
            ));
            chains.push_str(&acl_chain(
                &format!("ae_{s}"),
                &[
                    format!("oifname @sl_{s}"),
                    format!("oifname @overlay ip daddr {cidr}"),
                ],
                &acl.outbound,
                "daddr",
            ));
        }
    }
    let public = render_public(names, record)?;
    let overlay = render_overlay(record);
    Ok(format!(
        "table inet {TABLE}\n\
         delete table inet {TABLE}\n\
         table inet {TABLE} {{\n\
         \tset eni_src {{\n\t\ttype ifname . ipv4_addr{src}\n\t}}\n\
         \tmap eni_in {{\n\t\ttype ifname : verdict{eni_in}\n\t}}\n\
         \tmap eni_eg {{\n\t\ttype ifname : verdict{eni_eg}\n\t}}\n\
         \tmap acl_in {{\n\t\ttype ifname : verdict{acl_in}\n\t}}\n\
         \tmap acl_eg {{\n\t\ttype ifname : verdict{acl_eg}\n\t}}\n\
         {sets}\
         {public}\
         {overlay}\
         \tchain input {{\n\
         \t\ttype filter hook input priority filter; policy drop;\n\
         \t\tiifname \"lo\" accept\n\
         \t\tiifname @uplink drop\n\
         \t\tmeta nfproto ipv6 drop\n\
         \t\tudp sport 68 udp dport 67 accept\n\
         \t\tiifname . ip saddr != @eni_src drop\n\
         \t\tct state invalid drop\n\
         \t\tct state established,related accept\n\
         \t\tip daddr 169.254.169.254 tcp dport 80 accept\n\
         {dns}\
         \t\ticmp type echo-request accept\n\
         \t}}\n\
         \tchain forward {{\n\
         \t\ttype filter hook forward priority filter; policy drop;\n\
         \t\tmeta nfproto ipv6 drop\n\
         \t\tiifname != @uplink iifname != @overlay iifname != @src_unchecked iifname . ip saddr != @eni_src drop\n\
         \t\tiifname @overlay ip saddr != @remote_src drop\n\
         \t\tct state invalid drop\n\
         \t\tiifname vmap @acl_eg\n\
         \t\toifname vmap @acl_in\n\
         \t\tct state established,related accept\n\
         \t\tiifname vmap @eni_eg\n\
         \t\toifname vmap @eni_in\n\
         \t\tiifname != @uplink oifname @uplink accept\n\
         \t\tiifname != @uplink iifname != @overlay oifname @overlay accept\n\
         \t}}\n\
         \tchain to_dest {{\n\
         \t\toifname vmap @eni_in\n\
         \t\toifname @uplink accept\n\
         \t\toifname @overlay accept\n\
         \t}}\n\
         {chains}\
         }}\n",
        src = elements(&src),
        dns = record
            .dns
            .filter(|_| record.dns_support)
            .map(|d| format!("\t\tip daddr {d} meta l4proto {{ tcp, udp }} th dport 53 accept\n"))
            .unwrap_or_default(),
        eni_in = elements(&eni_in),
        eni_eg = elements(&eni_eg),
        acl_in = elements(&acl_in),
        acl_eg = elements(&acl_eg),
    ))
}

/// The tunnel to the VPC's routers on other hosts (see the fabric's `overlay` module): the
/// set naming the `overlay` link (empty without one) and `remote_src`, the addresses a
/// tunnelled packet may come from: the remote ENIs' (their own router checked the sender);
/// any address when a remote ENI's source/destination check is off (it may route for others).
fn render_overlay(record: &VpcRecord) -> String {
    let link = if record.vni.is_some() {
        vec![format!("\"{}\"", crate::fabric::OVERLAY)]
    } else {
        Vec::new()
    };
    let any = record.routing.as_ref().is_some_and(|p| {
        p.remote_enis
            .iter()
            .any(|r| p.unchecked_enis.contains(&r.eni_id))
    });
    let remote: Vec<String> = if any {
        vec!["0.0.0.0/0".to_string()]
    } else {
        crate::fabric::remote_routes(record)
            .keys()
            .map(ToString::to_string)
            .collect()
    };
    format!(
        "\tset overlay {{\n\t\ttype ifname{}\n\t}}\n\
         \tset remote_src {{\n\t\ttype ipv4_addr\n\t\tflags interval{}\n\t}}\n",
        elements(&link),
        elements(&remote),
    )
}

/// The public mappings this host's router applies: all but those of ENIs plugged on other
/// hosts (their own router translates them, and their host answers for the address).
pub fn local_mappings(record: &VpcRecord) -> Vec<kumo_driver_api::PublicMapping> {
    let remote = crate::fabric::remote_routes(record);
    record
        .routing
        .iter()
        .flat_map(|p| &p.public_ips)
        .filter(|m| !remote.contains_key(&m.private_ip))
        .cloned()
        .collect()
}

/// The public side: the uplink set, subnet marks for policy routing ([`crate::routes`]), and
/// address translation on the uplink.
///
/// * `pre_mark` (prerouting, mangle): a packet from an ENI's link carries its subnet's table
///   number, which selects the subnet's routing table after the main table;
/// * `pre_dnat` (prerouting): a packet from the uplink to a mapped public address goes to its
///   private address (1:1 NAT); anything else from the uplink reaches only the router, whose
///   `input` drops it;
///   An ENI's packet to a public address of this VPC whose route (the sender subnet's, longest
///   prefix first) goes to the internet gateway or a NAT gateway is *hairpinned*: DNATed here
///   as if it came back from outside (AWS sends it out and back in through the gateway);
/// * `post_snat` (postrouting): per subnet, the routes leaving by the uplink in longest-prefix
///   order (as the routing lookup chose): to the internet gateway, a mapped private address
///   leaves with its public one; to a NAT gateway, every address leaves with the gateway's;
///   hairpinned connections (DNATed, not from or to the uplink) get the same source
///   translation by their original destination, so the receiver sees the sender's public
///   address (its security groups and ACLs are checked before, against private addresses);
/// * `post_egress` (postrouting, after `post_snat`): only translated traffic leaves by the uplink (new
///   connections that were SNATed, replies of connections that were DNATed); a private
///   address never reaches the public side. A hairpinned connection that got no public
///   source (an unmapped sender routed to the internet gateway) is dropped, as the gateway
///   would.
fn render_public(names: &Names, record: &VpcRecord) -> Result<String, NetworkError> {
    use kumo_driver_api::RouteTarget;
    let policy = record.routing.clone().unwrap_or_default();
    let uplink = if policy.internet_gateway {
        vec![format!("\"{}\"", crate::names::UPLINK)]
    } else {
        Vec::new()
    };
    let tables = crate::routes::tables(record);
    let mut marks = Vec::new();
    let mut unchecked = Vec::new();
    for (eni_id, eni) in &record.enis {
        if policy.unchecked_enis.contains(eni_id) {
            unchecked.push(format!("\"{}\"", names.vpc_link(eni_id)));
        }
        if let Some(t) = tables.get(eni.subnet_id.as_str()) {
            marks.push(format!("\"{}\" : {t}", names.vpc_link(eni_id)));
        }
    }
    let (mut dnat, mut snat) = (Vec::new(), Vec::new());
    for m in &local_mappings(record) {
        dnat.push(format!("{} : {}", m.public_ip, m.private_ip));
        snat.push(format!("{} : {}", m.private_ip, m.public_ip));
    }
    let mut rules = String::new();
    let mut hairpin = String::new();
    if policy.internet_gateway {
        for (subnet_id, subnet) in &record.subnets {
            let mut routes: Vec<_> = policy
                .subnets
                .get(subnet_id)
                .into_iter()
                .flatten()
                .collect();
            routes.sort_by_key(|r| std::cmp::Reverse(r.destination.prefix_len));
            for r in routes {
                let (cidr, dst) = (subnet.cidr()?, cidr_match("daddr", &r.destination));
                let head = format!("oifname @uplink ip saddr {cidr}{dst}");
                // Hairpin: to a public address of this VPC by way of the internet gateway or a
                // NAT gateway, a connection comes back in as from outside (DNAT in `pre_dnat`)
                // and leaves with the sender's public address (SNAT here).
                let pre = format!("iifname != @uplink iifname != @overlay ip saddr {cidr}{dst}");
                let back = format!(
                    "iifname != @uplink oifname != @uplink ct status dnat ip saddr {cidr}{}",
                    cidr_match_on("ct original ip daddr", &r.destination)
                );
                match &r.target {
                    RouteTarget::InternetGateway => {
                        let _ = writeln!(rules, "\t\t{head} snat ip to ip saddr map @snat_map");
                        let _ = writeln!(rules, "\t\t{back} snat ip to ip saddr map @snat_map");
                    }
                    RouteTarget::NatGateway(id) => {
                        if let Some(n) = policy.nat_gateways.get(id) {
                            let _ = writeln!(rules, "\t\t{head} snat ip to {}", n.public_ip);
                            let _ = writeln!(rules, "\t\t{back} snat ip to {}", n.public_ip);
                        }
                    }
                    // Other targets never leave by the uplink.
                    _ => {
                        let _ = writeln!(hairpin, "\t\t{pre} accept");
                        continue;
                    }
                }
                let _ = writeln!(hairpin, "\t\t{pre} dnat ip to ip daddr map @dnat_map");
                let _ = writeln!(hairpin, "\t\t{pre} accept");
                // The route decided: no less specific one applies (an unmapped address to the
                // internet gateway stays untranslated and `post_egress` drops it).
                let _ = writeln!(rules, "\t\t{head} accept");
                let _ = writeln!(rules, "\t\t{back} accept");
            }
        }
    }
    Ok(format!(
        "\tset uplink {{\n\t\ttype ifname{uplink}\n\t}}\n\
         \tset src_unchecked {{\n\t\ttype ifname{unchecked}\n\t}}\n\
         \tmap eni_mark {{\n\t\ttype ifname : mark{marks}\n\t}}\n\
         \tmap dnat_map {{\n\t\ttype ipv4_addr : ipv4_addr{dnat}\n\t}}\n\
         \tmap snat_map {{\n\t\ttype ipv4_addr : ipv4_addr{snat}\n\t}}\n\
         \tchain pre_mark {{\n\
         \t\ttype filter hook prerouting priority mangle; policy accept;\n\
         \t\tmeta mark set iifname map @eni_mark\n\
         \t}}\n\
         \tchain pre_dnat {{\n\
         \t\ttype nat hook prerouting priority dstnat; policy accept;\n\
         \t\tiifname @uplink dnat ip to ip daddr map @dnat_map\n\
         {hairpin}\
         \t}}\n\
         \tchain post_snat {{\n\
         \t\ttype nat hook postrouting priority srcnat; policy accept;\n\
         {rules}\
         \t}}\n\
         \tchain post_egress {{\n\
         \t\ttype filter hook postrouting priority srcnat + 10; policy accept;\n\
         \t\toifname @uplink ct status snat accept\n\
         \t\toifname @uplink ct status dnat accept\n\
         \t\toifname @uplink drop\n\
         \t\tiifname != @uplink ct status snat accept\n\
         \t\tiifname != @uplink ct status dnat drop\n\
         \t}}\n",
        uplink = elements(&uplink),
        unchecked = elements(&unchecked),
        marks = elements(&marks),
        dnat = elements(&dnat),
        snat = elements(&snat),
    ))
}

/// When `new` differs from `old` only in groups' members, the `nft -f` script that rewrites
/// just those sets' elements (one transaction, no chain touched); `None` when anything else
/// changed and the table must be rendered whole.
pub fn render_members_update(
    old: &SecurityPolicy,
    new: &SecurityPolicy,
) -> Result<Option<String>, NetworkError> {
    if old.enis != new.enis
        || old.acls != new.acls
        || old.groups.len() != new.groups.len()
        || old
            .groups
            .iter()
            .zip(&new.groups)
            .any(|((ia, a), (ib, b))| ia != ib || a.ingress != b.ingress || a.egress != b.egress)
    {
        return Ok(None);
    }
    let mut script = String::new();
    for (id, group) in &new.groups {
        if old.groups.get(id).map(|g| &g.members) != Some(&group.members) {
            let set = members_set(id)?;
            let _ = writeln!(script, "flush set inet {TABLE} {set}");
            if !group.members.is_empty() {
                let members: Vec<String> = group.members.iter().map(ToString::to_string).collect();
                let _ = writeln!(
                    script,
                    "add element inet {TABLE} {set} {{ {} }}",
                    members.join(", ")
                );
            }
        }
    }
    Ok(Some(script))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::state::{EniRecord, SubnetRecord};
    use kumo_driver_api::{AclSpec, SecurityGroupSpec};

    fn eni(subnet: &str, ip: &str) -> EniRecord {
        EniRecord {
            subnet_id: subnet.into(),
            tap: "tap1".into(),
            mac: "02:00:00:00:00:01".into(),
            ip: ip.parse().expect("ip"),
            instance_id: None,
            dns_names: Vec::new(),
        }
    }

    #[test]
    fn renders_sets_from_the_record() {
        let names = Names::new("kumo");
        let mut rec = VpcRecord::default();
        let empty = render(&names, &rec).expect("renders");
        assert!(!empty.contains("elements"), "{empty}");
        rec.enis
            .insert("eni-1".into(), eni("subnet-1", "10.0.1.10"));
        let one = render(&names, &rec).expect("renders");
        let link = names.vpc_link("eni-1");
        assert!(one.contains(&format!("\"{link}\" . 10.0.1.10")), "{one}");
        // No policy: unfiltered.
        assert!(one.contains(&format!("\"{link}\" : accept")), "{one}");
        assert!(!one.contains("jump"), "{one}");
    }

    fn rule(protocol: Protocol, ports: PortMatch, peer: Peer) -> SgRuleSpec {
        SgRuleSpec {
            protocol,
            ports,
            peer,
        }
    }

    fn cidr(s: &str) -> kumo_driver_api::Ipv4Cidr {
        s.parse().expect("cidr")
    }

    fn acl(number: u16, allow: bool, protocol: Protocol, ports: PortMatch, c: &str) -> AclRuleSpec {
        AclRuleSpec {
            number,
            allow,
            protocol,
            ports,
            cidr: cidr(c),
        }
    }

    fn policy() -> (Names, VpcRecord) {
        let names = Names::new("kumo");
        let mut rec = VpcRecord::default();
        for (id, c) in [("subnet-a", "10.0.1.0/24"), ("subnet-b", "10.0.2.0/24")] {
            rec.subnets.insert(
                id.into(),
                SubnetRecord {
                    cidr: c.into(),
                    gateway: "10.0.0.1".parse().expect("ip"),
                },
            );
        }
        rec.enis
            .insert("eni-web".into(), eni("subnet-a", "10.0.1.10"));
        rec.enis
            .insert("eni-app".into(), eni("subnet-b", "10.0.2.10"));
        let mut p = SecurityPolicy::default();
        p.groups.insert(
            "sg-web".into(),
            SecurityGroupSpec {
                ingress: vec![
                    rule(
                        Protocol::Tcp,
                        PortMatch::Ports { from: 80, to: 80 },
                        Peer::Group("sg-app".into()),
                    ),
                    rule(
                        Protocol::Tcp,
                        PortMatch::Ports {
                            from: 8000,
                            to: 8080,
                        },
                        Peer::Cidr(cidr("10.0.2.0/24")),
                    ),
                    rule(
                        Protocol::Icmp,
                        PortMatch::Icmp {
                            icmp_type: 8,
                            code: None,
                        },
                        Peer::Cidr(cidr("0.0.0.0/0")),
                    ),
                    rule(Protocol::All, PortMatch::Any, Peer::Group("sg-gone".into())),
                ],
                egress: vec![rule(
                    Protocol::All,
                    PortMatch::Any,
                    Peer::Cidr(cidr("0.0.0.0/0")),
                )],
                members: vec!["10.0.1.10".parse().expect("ip")],
            },
        );
        p.groups.insert(
            "sg-app".into(),
            SecurityGroupSpec {
                ingress: vec![],
                egress: vec![rule(
                    Protocol::Udp,
                    PortMatch::Any,
                    Peer::Cidr(cidr("10.0.1.10/32")),
                )],
                members: vec!["10.0.2.10".parse().expect("ip")],
            },
        );
        p.enis.insert("eni-web".into(), vec!["sg-web".into()]);
        p.enis
            .insert("eni-app".into(), vec!["sg-app".into(), "sg-web".into()]);
        p.acls.insert(
            "subnet-a".into(),
            AclSpec {
                inbound: vec![
                    acl(200, true, Protocol::All, PortMatch::Any, "0.0.0.0/0"),
                    acl(
                        100,
                        false,
                        Protocol::Tcp,
                        PortMatch::Ports { from: 22, to: 22 },
                        "10.0.2.0/24",
                    ),
                ],
                outbound: vec![acl(100, true, Protocol::All, PortMatch::Any, "0.0.0.0/0")],
            },
        );
        rec.security = Some(p);
        (names, rec)
    }

    #[test]
    fn renders_groups_as_chains_and_membership_as_sets() {
        let (names, rec) = policy();
        let out = render(&names, &rec).expect("renders");
        let web = names.vpc_link("eni-web");
        let app = names.vpc_link("eni-app");
        // Stateful: ACLs, then established traffic, then the groups of new connections.
        let fwd = out
            .split("chain forward {")
            .nth(1)
            .and_then(|s| s.split('}').next())
            .expect("forward chain");
        let order = [
            "@eni_src drop",
            "ct state invalid drop",
            "iifname vmap @acl_eg",
            "oifname vmap @acl_in",
            "ct state established,related accept",
            "iifname vmap @eni_eg",
            "oifname vmap @eni_in",
        ];
        let pos: Vec<usize> = order
            .iter()
            .map(|l| {
                fwd.find(l)
                    .unwrap_or_else(|| panic!("{l} missing in {fwd}"))
            })
            .collect();
        assert!(pos.windows(2).all(|w| w[0] < w[1]), "{fwd}");
        assert!(out.contains(&format!("\"{web}\" : jump in_{web}")), "{out}");
        assert!(out.contains(&format!("\"{app}\" : jump eg_{app}")), "{out}");
        // An ENI's chains jump to each of its groups, then drop.
        assert!(
            out.contains(&format!(
                "chain in_{app} {{\n\t\tjump gi_sg_app\n\t\tjump gi_sg_web\n\t\tdrop\n\t}}"
            )),
            "{out}"
        );
        // Group rules: by group reference (a set), by CIDR, ICMP; a reference to a group the
        // policy does not describe matches nothing and is left out.
        assert!(
            out.contains("\t\tip saddr @m_sg_app tcp dport 80 accept\n"),
            "{out}"
        );
        assert!(
            out.contains("\t\tip saddr 10.0.2.0/24 tcp dport 8000-8080 accept\n"),
            "{out}"
        );
        assert!(out.contains("\t\ticmp type 8 accept\n"), "{out}");
        assert!(!out.contains("sg_gone"), "{out}");
        // Egress rules hand over to the receiver's ingress check.
        assert!(
            out.contains("chain ge_sg_web {\n\t\tgoto to_dest\n\t}"),
            "{out}"
        );
        assert!(
            out.contains("\t\tip daddr 10.0.1.10 meta l4proto udp goto to_dest\n"),
            "{out}"
        );
        assert!(
            out.contains("set m_sg_app {\n\t\ttype ipv4_addr\n\t\telements = { 10.0.2.10 }"),
            "{out}"
        );
        // ACLs: per subnet, same-subnet traffic exempt, rule-number order, default deny; a
        // subnet without an ACL denies everything crossing its boundary.
        assert!(
            out.contains(
                "chain ai_subnet_a {\n\t\tiifname @sl_subnet_a return\n\t\tiifname @overlay ip saddr 10.0.1.0/24 return\n\t\tip saddr 10.0.2.0/24 tcp dport 22 drop\n\t\treturn\n\t\tdrop\n\t}"
            ),
            "{out}"
        );
        assert!(
            out.contains(
                "chain ae_subnet_b {\n\t\toifname @sl_subnet_b return\n\t\toifname @overlay ip daddr 10.0.2.0/24 return\n\t\tdrop\n\t}"
            ),
            "{out}"
        );
        assert!(
            out.contains(&format!("\"{web}\" : jump ai_subnet_a")),
            "{out}"
        );
        assert!(
            out.contains(&format!("\"{app}\" : jump ae_subnet_b")),
            "{out}"
        );
    }

    #[test]
    fn membership_changes_touch_only_sets() {
        let (_, rec) = policy();
        let old = rec.security.expect("policy");
        let mut new = old.clone();
        assert_eq!(
            render_members_update(&old, &new).expect("ok"),
            Some(String::new())
        );
        new.groups
            .get_mut("sg-app")
            .expect("group")
            .members
            .push("10.0.2.11".parse().expect("ip"));
        let script = render_members_update(&old, &new)
            .expect("ok")
            .expect("delta");
        assert_eq!(
            script,
            "flush set inet kumo m_sg_app\nadd element inet kumo m_sg_app { 10.0.2.10, 10.0.2.11 }\n"
        );
        new.groups.get_mut("sg-app").expect("group").egress.clear();
        assert_eq!(render_members_update(&old, &new).expect("ok"), None);
    }

    #[test]
    fn renders_the_public_side() {
        use kumo_driver_api::{
            NatGatewaySpec, PublicMapping, RouteSpec, RouteTarget, RoutingPolicy,
        };
        let (names, mut rec) = policy();
        let empty = render(&names, &rec).expect("renders");
        // No routing policy: no uplink, nothing translated, nothing marked.
        assert!(
            empty.contains("set uplink {\n\t\ttype ifname\n\t}"),
            "{empty}"
        );
        assert!(!empty.contains("snat ip to"), "{empty}");
        let r = |d: &str, target| RouteSpec {
            destination: cidr(d),
            target,
        };
        let mut p = RoutingPolicy {
            internet_gateway: true,
            ..RoutingPolicy::default()
        };
        p.subnets.insert(
            "subnet-a".into(),
            vec![
                r("10.0.0.0/16", RouteTarget::Local),
                r("0.0.0.0/0", RouteTarget::InternetGateway),
                r("192.0.2.0/24", RouteTarget::NatGateway("nat-1".into())),
            ],
        );
        p.public_ips.push(PublicMapping {
            public_ip: "198.51.100.10".parse().expect("ip"),
            private_ip: "10.0.1.10".parse().expect("ip"),
        });
        p.nat_gateways.insert(
            "nat-1".into(),
            NatGatewaySpec {
                subnet_id: "subnet-a".into(),
                private_ip: "10.0.1.5".parse().expect("ip"),
                public_ip: "198.51.100.20".parse().expect("ip"),
            },
        );
        p.unchecked_enis.insert("eni-app".into());
        rec.routing = Some(p);
        let out = render(&names, &rec).expect("renders");
        assert!(out.contains("elements = { \"uplink\" }"), "{out}");
        assert!(
            out.contains("elements = { 198.51.100.10 : 10.0.1.10 }"),
            "{out}"
        );
        assert!(
            out.contains("elements = { 10.0.1.10 : 198.51.100.10 }"),
            "{out}"
        );
        let app = names.vpc_link("eni-app");
        assert!(
            out.contains(&format!(
                "set src_unchecked {{\n\t\ttype ifname\n\t\telements = {{ \"{app}\" }}"
            )),
            "{out}"
        );
        // Marks: the subnet's table, by ingress link (subnet-a is the first: 1000).
        let web = names.vpc_link("eni-web");
        assert!(out.contains(&format!("\"{web}\" : 1000")), "{out}");
        assert!(out.contains(&format!("\"{app}\" : 1001")), "{out}");
        // SNAT by route, longest prefix first, each route ending the evaluation.
        let nat =
            "oifname @uplink ip saddr 10.0.1.0/24 ip daddr 192.0.2.0/24 snat ip to 198.51.100.20\n";
        let igw = "oifname @uplink ip saddr 10.0.1.0/24 snat ip to ip saddr map @snat_map\n";
        let (n, i) = (
            out.find(nat).unwrap_or_else(|| panic!("{out}")),
            out.find(igw).unwrap_or_else(|| panic!("{out}")),
        );
        assert!(n < i, "{out}");
        assert!(
            out.contains("oifname @uplink ip saddr 10.0.1.0/24 accept\n"),
            "{out}"
        );
        // Local routes never leave by the uplink: no rule.
        assert!(
            !out.contains("oifname @uplink ip saddr 10.0.1.0/24 ip daddr 10.0.0.0/16"),
            "{out}"
        );
        // Hairpin: to the VPC's own public addresses through the gateways, in route order;
        // a local route ends the search untranslated.
        let local = "iifname != @uplink iifname != @overlay ip saddr 10.0.1.0/24 ip daddr 10.0.0.0/16 accept\n";
        let pin = "iifname != @uplink iifname != @overlay ip saddr 10.0.1.0/24 dnat ip to ip daddr map @dnat_map\n";
        let (l, p) = (
            out.find(local).unwrap_or_else(|| panic!("{out}")),
            out.find(pin).unwrap_or_else(|| panic!("{out}")),
        );
        assert!(l < p, "{out}");
        assert!(
            out.contains("iifname != @uplink oifname != @uplink ct status dnat ip saddr 10.0.1.0/24 snat ip to ip saddr map @snat_map\n"),
            "{out}"
        );
    }

    #[test]
    fn renders_the_tunnel_and_leaves_remote_mappings_to_their_host() {
        use kumo_driver_api::{PublicMapping, RemoteEni, RoutingPolicy};
        let (names, mut rec) = policy();
        let none = render(&names, &rec).expect("renders");
        assert!(
            none.contains("set overlay {\n\t\ttype ifname\n\t}"),
            "{none}"
        );
        let remote = |eni: &str, ip: &str| RemoteEni {
            eni_id: eni.into(),
            subnet_id: "subnet-b".into(),
            ip: ip.parse().expect("ip"),
            host: "10.255.0.2".parse().expect("ip"),
            dns_names: Vec::new(),
        };
        let mapping = |public: &str, private: &str| PublicMapping {
            public_ip: public.parse().expect("ip"),
            private_ip: private.parse().expect("ip"),
        };
        rec.vni = Some(7);
        rec.routing = Some(RoutingPolicy {
            internet_gateway: true,
            remote_enis: vec![remote("eni-far", "10.0.2.50")],
            public_ips: vec![
                mapping("198.51.100.10", "10.0.1.10"),
                mapping("198.51.100.50", "10.0.2.50"),
            ],
            ..Default::default()
        });
        let out = render(&names, &rec).expect("renders");
        assert!(out.contains("elements = { \"overlay\" }"), "{out}");
        assert!(
            out.contains("set remote_src {\n\t\ttype ipv4_addr\n\t\tflags interval\n\t\telements = { 10.0.2.50 }"),
            "{out}"
        );
        assert!(
            out.contains("iifname @overlay ip saddr != @remote_src drop"),
            "{out}"
        );
        assert!(out.contains("\t\toifname @overlay accept\n"), "{out}");
        // The remote ENI's public address is translated by its own host's router.
        assert!(
            out.contains("elements = { 198.51.100.10 : 10.0.1.10 }"),
            "{out}"
        );
        assert!(!out.contains("198.51.100.50"), "{out}");
        // A remote ENI whose source check is off may send from any address.
        if let Some(p) = rec.routing.as_mut() {
            p.unchecked_enis.insert("eni-far".into());
        }
        let out = render(&names, &rec).expect("renders");
        assert!(out.contains("elements = { 0.0.0.0/0 }"), "{out}");
    }

    #[test]
    fn refuses_unsafe_ids() {
        let (names, mut rec) = policy();
        if let Some(p) = rec.security.as_mut() {
            p.groups
                .insert("sg x; flush".into(), SecurityGroupSpec::default());
        }
        assert!(render(&names, &rec).is_err());
    }
}
