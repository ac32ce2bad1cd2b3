//! A load balancer's data plane as the driver needs it ([`LbSpec`]), computed whole from the
//! records: nodes from the load balancer's ENIs, listeners with their rules in priority order
//! (default rule last), and the target groups they forward to, targets resolved to addresses.
//!
//! What the data plane cannot express is left out, never widened: a rule with conditions
//! other than `path-pattern` and `host-header` never matches (its traffic falls through to
//! lower-priority rules, as if the rule did not exist), listeners other than HTTP and TCP are
//! not served, and only registered, non-draining targets with an address receive traffic
//! (draining ones finish their connections in the previous proxy generation).

use std::collections::BTreeMap;
use std::net::Ipv4Addr;

use kumo_driver_api::{
    LbAction, LbAlgorithm, LbCondition, LbHealthCheck, LbListener, LbNode, LbProtocol, LbRule,
    LbSpec, LbStickiness, LbTarget, LbTargetGroup,
};

use super::actions::{Action, ActionKind, Condition};
use super::listener::Listener;
use super::load_balancer::LoadBalancer;
use super::nodes::data_plane_id;
use super::rule::Rule;
use super::target_group::TargetGroup;
use crate::Error;
use crate::ec2::instance::{Instance, InstanceState};
use crate::ec2::network_interface::NetworkInterface;
use crate::ec2::store::ResourceStore;
use crate::ec2::subnet::Subnet;

/// A node's address, prefix length and router (the subnet's base + 1).
fn node_address(eni: &NetworkInterface, subnet: &Subnet) -> Option<(Ipv4Addr, u8, Ipv4Addr)> {
    let cidr: kumo_driver_api::Ipv4Cidr = subnet.cidr_block.parse().ok()?;
    Some((eni.private_ip.parse().ok()?, cidr.prefix_len, cidr.nth(1)?))
}

fn protocol(p: Option<&str>) -> Option<LbProtocol> {
    match p {
        Some("HTTP") => Some(LbProtocol::Http),
        Some("TCP") => Some(LbProtocol::Tcp),
        _ => None,
    }
}

/// The terminal action of a list (the highest order).
fn action(actions: &[Action]) -> Option<LbAction> {
    let a = actions.iter().max_by_key(|a| a.order)?;
    Some(match &a.kind {
        ActionKind::Forward { target_groups, .. } => LbAction::Forward(
            target_groups
                .iter()
                .map(|g| (g.arn.clone(), u32::try_from(g.weight).unwrap_or(0)))
                .collect(),
        ),
        ActionKind::FixedResponse {
            status_code,
            content_type,
            message_body,
        } => LbAction::FixedResponse {
            status: status_code.parse().ok()?,
            content_type: content_type.clone(),
            body: message_body.clone(),
        },
        ActionKind::Redirect {
            protocol,
            host,
            port,
            path,
            query,
            status_code,
        } => LbAction::Redirect {
            protocol: protocol.clone(),
            host: host.clone(),
            port: port.clone(),
            path: path.clone(),
            query: query.clone(),
            status: if status_code == "HTTP_301" { 301 } else { 302 },
        },
    })
}

/// A rule's conditions, `None` when one cannot be expressed (the rule is left out).
fn conditions(conds: &[Condition]) -> Option<Vec<LbCondition>> {
    conds
        .iter()
        .map(|c| match c.field.as_str() {
            "path-pattern" => Some(LbCondition::PathPattern(c.values.clone())),
            "host-header" => Some(LbCondition::HostHeader(c.values.clone())),
            "http-header" => Some(LbCondition::HttpHeader {
                name: c.http_header_name.clone()?,
                values: c.values.clone(),
            }),
            "http-request-method" => Some(LbCondition::HttpRequestMethod(c.values.clone())),
            "query-string" => Some(LbCondition::QueryString(c.query_pairs.clone())),
            "source-ip" => Some(LbCondition::SourceIp(c.values.clone())),
            _ => None,
        })
        .collect()
}

fn health(tg: &TargetGroup, protocol: LbProtocol) -> LbHealthCheck {
    let h = &tg.health;
    let as_u32 = |v: i32| u32::try_from(v).unwrap_or(1).max(1);
    LbHealthCheck {
        enabled: h.enabled,
        protocol: match h.protocol.as_deref() {
            Some("HTTP" | "HTTPS") => LbProtocol::Http,
            Some(_) => LbProtocol::Tcp,
            None => protocol,
        },
        port: h.port.as_deref().and_then(|p| p.parse().ok()),
        path: h.path.clone().unwrap_or_else(|| "/".into()),
        interval_secs: as_u32(h.interval),
        timeout_secs: as_u32(h.timeout),
        healthy_threshold: as_u32(h.healthy_threshold),
        unhealthy_threshold: as_u32(h.unhealthy_threshold),
        matcher: h.matcher_http.clone().unwrap_or_else(|| "200".into()),
    }
}

/// The group's stickiness from its attributes (its kind's defaults where unset: `lb_cookie`
/// for HTTP groups, `source_ip` for TCP ones), `None` when disabled.
fn stickiness(tg: &TargetGroup) -> Option<LbStickiness> {
    let attr = |k: &str| tg.attribute(k);
    if attr("stickiness.enabled") != Some("true") {
        return None;
    }
    // The attribute checks admit only whole seconds; a day should a value still not parse.
    let secs = |k: &str| {
        attr(k)
            .and_then(|v| v.parse::<u32>().ok())
            .unwrap_or(86_400)
    };
    match attr("stickiness.type") {
        Some("source_ip") => Some(LbStickiness::SourceIp),
        // Without a cookie name there is nothing to follow.
        Some("app_cookie") => attr("stickiness.app_cookie.cookie_name")
            .filter(|n| !n.is_empty())
            .map(|name| LbStickiness::AppCookie {
                cookie_name: name.to_owned(),
                duration_secs: secs("stickiness.app_cookie.duration_seconds"),
            }),
        _ => Some(LbStickiness::LbCookie {
            duration_secs: secs("stickiness.lb_cookie.duration_seconds"),
        }),
    }
}

fn algorithm(tg: &TargetGroup) -> LbAlgorithm {
    match tg.attribute("load_balancing.algorithm.type") {
        Some("least_outstanding_requests") => LbAlgorithm::LeastOutstandingRequests,
        Some("weighted_random") => LbAlgorithm::WeightedRandom,
        _ => LbAlgorithm::RoundRobin,
    }
}

/// A target group's live targets resolved to addresses.
fn targets(store: &ResourceStore, account: &str, tg: &TargetGroup) -> Vec<LbTarget> {
    let mut out = Vec::new();
    for t in tg.targets.iter().filter(|t| t.draining_until_ms.is_none()) {
        let Some(port) = t.port.or(tg.port).and_then(|p| u16::try_from(p).ok()) else {
            continue;
        };
        // Instances that are not running receive no traffic (`Target.InvalidState`).
        let ip = if tg.target_type == "instance" {
            store
                .get::<Instance>(account, &t.id)
                .ok()
                .flatten()
                .filter(|i| matches!(i.state, InstanceState::Running | InstanceState::Pending))
                .and_then(|i| i.private_ip.parse::<Ipv4Addr>().ok())
        } else {
            t.id.parse().ok()
        };
        if let Some(ip) = ip {
            out.push(LbTarget {
                id: t.id.clone(),
                ip,
                port,
            });
        }
    }
    out
}

/// The whole data plane of one load balancer from the records, with its nodes' ENIs and
/// subnets (for the fabric).
pub fn lb_spec(
    store: &ResourceStore,
    account: &str,
    lb: &LoadBalancer,
) -> Result<(LbSpec, Vec<(NetworkInterface, Subnet)>), Error> {
    let mut nodes = Vec::new();
    let mut enis = Vec::new();
    for s in &lb.subnets {
        let Some(eni_id) = &s.network_interface_id else {
            continue;
        };
        let (Some(eni), Some(subnet)) = (
            store.get::<NetworkInterface>(account, eni_id)?,
            store.get::<Subnet>(account, &s.subnet_id)?,
        ) else {
            continue;
        };
        let Some((ip, prefix_len, gateway)) = node_address(&eni, &subnet) else {
            continue;
        };
        nodes.push(LbNode {
            eni_id: eni.id.clone(),
            tap: eni.tap_name(),
            mac: eni.mac_address.clone(),
            ip,
            prefix_len,
            gateway,
        });
        enis.push((eni, subnet));
    }
    let rules = store.list::<Rule>(account)?;
    let mut groups: BTreeMap<String, LbTargetGroup> = BTreeMap::new();
    let mut listeners = Vec::new();
    let mut listener_records: Vec<Listener> = store
        .list::<Listener>(account)?
        .into_iter()
        .filter(|l| l.load_balancer_arn == lb.id)
        .collect();
    listener_records.sort_by_key(|l| l.port);
    for l in listener_records {
        let (Some(proto), Ok(port)) = (protocol(Some(&l.protocol)), u16::try_from(l.port)) else {
            continue;
        };
        let mut mine: Vec<&Rule> = rules.iter().filter(|r| r.listener_arn == l.id).collect();
        mine.sort_by_key(|r| r.priority);
        let mut out = Vec::new();
        for r in mine {
            if let (Some(conditions), Some(action)) =
                (conditions(&r.conditions), action(&r.actions))
            {
                out.push(LbRule { conditions, action });
            }
        }
        if let Some(action) = action(&l.default_actions) {
            out.push(LbRule {
                conditions: Vec::new(),
                action,
            });
        }
        for r in &out {
            if let LbAction::Forward(tgs) = &r.action {
                for (arn, _) in tgs {
                    if groups.contains_key(arn) {
                        continue;
                    }
                    if let Some(tg) = store.get::<TargetGroup>(account, arn)? {
                        let p = protocol(tg.protocol.as_deref()).unwrap_or(proto);
                        groups.insert(
                            arn.clone(),
                            LbTargetGroup {
                                protocol: p,
                                targets: targets(store, account, &tg),
                                health: health(&tg, p),
                                stickiness: stickiness(&tg),
                                algorithm: algorithm(&tg),
                            },
                        );
                    }
                }
            }
        }
        // Forwards to a group that no longer exists answer 503 rather than fail the config.
        for r in &mut out {
            if let LbAction::Forward(tgs) = &mut r.action {
                tgs.retain(|(arn, _)| groups.contains_key(arn));
            }
        }
        listeners.push(LbListener {
            port,
            protocol: proto,
            rules: out,
        });
    }
    let idle = lb
        .attributes
        .get("idle_timeout.timeout_seconds")
        .and_then(|v| v.parse().ok())
        .unwrap_or(60);
    Ok((
        LbSpec {
            id: data_plane_id(lb),
            vpc_id: lb.vpc_id.clone(),
            application: lb.is_application(),
            nodes,
            listeners,
            target_groups: groups,
            idle_timeout_secs: idle,
        },
        enis,
    ))
}
