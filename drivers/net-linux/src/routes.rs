//! A VPC router's policy routing: one kernel routing table per subnet, rendered whole from the
//! VPC record's [`RoutingPolicy`].
//!
//! **Why main first, then per-subnet tables.** The main table holds the /32 route of every
//! plugged ENI (the local route, as links are added) and nothing else; a rule per subnet,
//! *after* main (priority [`RULE_BASE`] + i > 32766), sends what main cannot deliver to the
//! subnet's table, chosen by the packet mark nftables sets from the ingress link (see
//! [`crate::nft`]). So the local route always wins, as on AWS, and a subnet's table decides
//! everything else by longest prefix, which is the kernel's own lookup. Each table also holds
//! `unreachable` for the VPC's CIDRs, so an address of the VPC that no ENI holds never leaks
//! out by a default route. Packets from the uplink carry no mark: they only ever go to a
//! private address (after DNAT), which main delivers.
//!
//! Targets: the internet gateway and NAT gateways leave by the uplink (`via <outside address>
//! onlink`; the address translation is nftables'); an ENI target goes to the ENI's link with
//! its address as next hop; a target that is gone or not usable is `blackhole`.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::net::Ipv4Addr;

use kumo_driver_api::{NetworkError, RouteTarget};

use crate::names::{Names, UPLINK};
use crate::state::VpcRecord;

/// First routing table (and packet mark) of a VPC's subnets; the i-th subnet (by id) uses
/// `TABLE_BASE + i`.
pub const TABLE_BASE: u32 = 1000;
/// Priority of the first subnet's rule (after main's 32766).
pub const RULE_BASE: u32 = 40000;
/// Most subnets per VPC this numbering serves (AWS's default quota is 200).
pub const MAX_SUBNETS: u32 = 1000;

/// Each subnet's table number (also its packet mark).
pub fn tables(record: &VpcRecord) -> BTreeMap<&str, u32> {
    record
        .subnets
        .keys()
        .zip(TABLE_BASE..TABLE_BASE + MAX_SUBNETS)
        .map(|(s, t)| (s.as_str(), t))
        .collect()
}

/// Whether `table` is one of the numbers [`tables`] hands out.
pub fn ours(table: u32) -> bool {
    (TABLE_BASE..TABLE_BASE + MAX_SUBNETS).contains(&table)
}

/// The routes of each subnet's table, as `ip route` arguments (without `table`).
pub fn desired(
    names: &Names,
    record: &VpcRecord,
    outside: Ipv4Addr,
) -> Result<BTreeMap<u32, Vec<String>>, NetworkError> {
    let policy = record.routing.clone().unwrap_or_default();
    let mut out = BTreeMap::new();
    for (subnet, table) in tables(record) {
        // By destination: one route per prefix, as in a route table.
        let mut routes: BTreeMap<String, String> = BTreeMap::new();
        for route in policy.subnets.get(subnet).into_iter().flatten() {
            let dst = route.destination.to_string();
            let via_uplink = format!("{dst} via {outside} dev {UPLINK} onlink");
            let line = match &route.target {
                RouteTarget::Local => format!("unreachable {dst}"),
                RouteTarget::InternetGateway if policy.internet_gateway => via_uplink,
                RouteTarget::NatGateway(id)
                    if policy.internet_gateway && policy.nat_gateways.contains_key(id) =>
                {
                    via_uplink
                }
                RouteTarget::NetworkInterface(eni) => match record.enis.get(eni) {
                    Some(e) => format!("{dst} via {} dev {} onlink", e.ip, names.vpc_link(eni)),
                    None => format!("blackhole {dst}"),
                },
                _ => format!("blackhole {dst}"),
            };
            routes.insert(dst, line);
        }
        for cidr in &record.cidrs {
            routes.insert(cidr.clone(), format!("unreachable {cidr}"));
        }
        out.insert(table, routes.into_values().collect());
    }
    Ok(out)
}

/// The `ip -batch` script replacing the rules and tables found (`rules`: priorities in our
/// range, `found`: our table numbers with routes) by the desired ones.
pub fn script(
    record: &VpcRecord,
    rules: &[u32],
    found: &[u32],
    want: &BTreeMap<u32, Vec<String>>,
) -> String {
    let mut s = String::new();
    for p in rules {
        let _ = writeln!(s, "rule del priority {p}");
    }
    for t in found {
        let _ = writeln!(s, "route flush table {t}");
    }
    for (i, table) in tables(record).values().enumerate() {
        let _ = writeln!(
            s,
            "rule add priority {} fwmark {table} lookup {table}",
            RULE_BASE + u32::try_from(i).unwrap_or(0)
        );
    }
    for (table, routes) in want {
        for r in routes {
            let _ = writeln!(s, "route replace {r} table {table}");
        }
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::state::{EniRecord, SubnetRecord};
    use kumo_driver_api::{NatGatewaySpec, RouteSpec, RoutingPolicy};

    fn route(d: &str, target: RouteTarget) -> RouteSpec {
        RouteSpec {
            destination: d.parse().expect("cidr"),
            target,
        }
    }

    #[test]
    fn renders_one_table_per_subnet() {
        let names = Names::new("kumo");
        let mut rec = VpcRecord {
            cidrs: vec!["10.0.0.0/16".into()],
            ..VpcRecord::default()
        };
        for (id, c) in [("subnet-a", "10.0.1.0/24"), ("subnet-b", "10.0.2.0/24")] {
            rec.subnets.insert(
                id.into(),
                SubnetRecord {
                    cidr: c.into(),
                    gateway: "10.0.0.1".parse().expect("ip"),
                },
            );
        }
        rec.enis.insert(
            "eni-r".into(),
            EniRecord {
                subnet_id: "subnet-a".into(),
                tap: "t".into(),
                mac: "02:00:00:00:00:01".into(),
                ip: "10.0.1.9".parse().expect("ip"),
                instance_id: None,
                dns_names: Vec::new(),
            },
        );
        let mut p = RoutingPolicy {
            internet_gateway: true,
            ..RoutingPolicy::default()
        };
        p.subnets.insert(
            "subnet-a".into(),
            vec![
                route("10.0.0.0/16", RouteTarget::Local),
                route("0.0.0.0/0", RouteTarget::InternetGateway),
                route("192.0.2.0/24", RouteTarget::Blackhole),
            ],
        );
        p.subnets.insert(
            "subnet-b".into(),
            vec![
                route("0.0.0.0/0", RouteTarget::NatGateway("nat-1".into())),
                route(
                    "172.16.0.0/12",
                    RouteTarget::NetworkInterface("eni-r".into()),
                ),
                route(
                    "172.17.0.0/16",
                    RouteTarget::NetworkInterface("eni-gone".into()),
                ),
            ],
        );
        p.nat_gateways.insert(
            "nat-1".into(),
            NatGatewaySpec {
                subnet_id: "subnet-a".into(),
                private_ip: "10.0.1.5".parse().expect("ip"),
                public_ip: "198.51.100.9".parse().expect("ip"),
            },
        );
        rec.routing = Some(p.clone());
        let out = "203.0.113.1".parse().expect("ip");
        let want = desired(&names, &rec, out).expect("renders");
        assert_eq!(
            want[&1000],
            vec![
                "0.0.0.0/0 via 203.0.113.1 dev uplink onlink",
                "unreachable 10.0.0.0/16",
                "blackhole 192.0.2.0/24",
            ]
        );
        let link = names.vpc_link("eni-r");
        assert_eq!(
            want[&1001],
            vec![
                "0.0.0.0/0 via 203.0.113.1 dev uplink onlink".to_string(),
                "unreachable 10.0.0.0/16".into(),
                format!("172.16.0.0/12 via 10.0.1.9 dev {link} onlink"),
                "blackhole 172.17.0.0/16".into(),
            ]
        );
        // Without the internet gateway, routes through it or a NAT gateway are blackholes.
        p.internet_gateway = false;
        rec.routing = Some(p);
        let want = desired(&names, &rec, out).expect("renders");
        assert_eq!(want[&1000][0], "blackhole 0.0.0.0/0");
        assert_eq!(want[&1001][0], "blackhole 0.0.0.0/0");
        let s = script(&rec, &[40000], &[1000], &want);
        assert!(
            s.starts_with("rule del priority 40000\nroute flush table 1000\n"),
            "{s}"
        );
        assert!(
            s.contains("rule add priority 40001 fwmark 1001 lookup 1001\n"),
            "{s}"
        );
    }
}
