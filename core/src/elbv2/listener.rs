//! Listeners: a protocol and port on a load balancer with default actions, one per port.
//!
//! Every listener has a default rule (AWS lists it among the listener's rules, with priority
//! `default`); Kumo keeps it inside the listener record — its ARN and the listener's default
//! actions — so the two never disagree.
//!
//! HTTPS and TLS listeners need a certificate from ACM or IAM; Kumo serves neither yet, so
//! every certificate ARN is `CertificateNotFound`.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::actions::{self, Action, ActionInput};
use super::attributes::{self, HTTP_LISTENER, TCP_LISTENER};
use super::load_balancer::{self, LoadBalancer};
use super::rule::Rule;
use super::target_group::{TargetGroup, usage};
use super::{Elbv2, arn, validation};
use crate::Error;
use crate::ec2::Fault;
use crate::ec2::store::Txn;
use crate::query::paginate::Page;
use crate::query::tags::Tag;

/// Most listeners per load balancer.
pub const MAX_LISTENERS: usize = 50;

/// A listener.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Listener {
    /// Its ARN.
    pub id: String,
    /// Its load balancer.
    pub load_balancer_arn: String,
    /// Port.
    pub port: i32,
    /// Protocol.
    pub protocol: String,
    /// Security policy (HTTPS, TLS).
    #[serde(default)]
    pub ssl_policy: Option<String>,
    /// ALPN policy (TLS).
    #[serde(default)]
    pub alpn_policy: Vec<String>,
    /// Default actions, in order.
    pub default_actions: Vec<Action>,
    /// The ARN of its default rule.
    pub default_rule_arn: String,
    /// Every attribute with its value.
    #[serde(default)]
    pub attributes: BTreeMap<String, String>,
    /// Tags.
    #[serde(default)]
    pub tags: Vec<Tag>,
}

impl Listener {
    /// Whether it speaks HTTP(S).
    #[must_use]
    pub fn is_http(&self) -> bool {
        matches!(self.protocol.as_str(), "HTTP" | "HTTPS")
    }
}

/// `CreateListener`'s and `ModifyListener`'s arguments.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ListenerInput {
    /// Protocol.
    pub protocol: Option<String>,
    /// Port.
    pub port: Option<i32>,
    /// `SslPolicy`.
    pub ssl_policy: Option<String>,
    /// Certificate ARNs.
    pub certificates: Vec<String>,
    /// `AlpnPolicy`.
    pub alpn_policy: Option<Vec<String>>,
    /// Default actions (`None` on modify: unchanged).
    pub default_actions: Option<Vec<ActionInput>>,
    /// Tags (create only).
    pub tags: Vec<Tag>,
}

fn listener_not_found() -> Fault {
    Fault::new("ListenerNotFound", "One or more listeners not found")
}

/// The listener `arn` of `account`, as `t` sees it.
pub(crate) fn get(t: &Txn<'_>, account: &str, arn: &str) -> Result<Listener, Fault> {
    t.get::<Listener>(account, arn)
        .ok_or_else(listener_not_found)
}

fn check_protocol(lb: &LoadBalancer, protocol: &str) -> Result<(), Fault> {
    let ok = if lb.is_application() {
        matches!(protocol, "HTTP" | "HTTPS")
    } else {
        matches!(protocol, "TCP" | "TLS" | "UDP" | "TCP_UDP")
    };
    if !ok {
        return Err(Fault::new(
            "UnsupportedProtocol",
            format!(
                "Protocol '{protocol}' is not supported for load balancers of type '{}'",
                lb.lb_type
            ),
        ));
    }
    Ok(())
}

fn check_certificates(protocol: &str, certificates: &[String]) -> Result<(), Fault> {
    if let Some(c) = certificates.first() {
        return Err(Fault::new(
            "CertificateNotFound",
            format!("Certificate '{c}' not found"),
        ));
    }
    if matches!(protocol, "HTTPS" | "TLS") {
        return Err(validation(format!(
            "A certificate must be specified for {protocol} listeners"
        )));
    }
    Ok(())
}

/// Checks that the target groups `actions` forward to exist, suit a listener of `protocol`
/// on `lb`, lie in its VPC, and are not used by another load balancer.
pub(crate) fn check_forward_targets(
    t: &Txn<'_>,
    account: &str,
    lb: &LoadBalancer,
    protocol: &str,
    actions: &[Action],
) -> Result<(), Fault> {
    let usage = usage(&t.list::<Listener>(account), &t.list::<Rule>(account));
    for arn in actions.iter().flat_map(Action::target_groups) {
        let tg = t.get::<TargetGroup>(account, arn).ok_or_else(|| {
            Fault::new(
                "TargetGroupNotFound",
                format!("Target group '{arn}' not found"),
            )
        })?;
        let tg_protocol = tg.protocol.as_deref().unwrap_or("lambda");
        let compatible = match protocol {
            "HTTP" | "HTTPS" => matches!(tg_protocol, "HTTP" | "HTTPS" | "lambda"),
            "TCP" => matches!(tg_protocol, "TCP" | "TCP_UDP"),
            "TLS" => matches!(tg_protocol, "TCP" | "TLS"),
            "UDP" => matches!(tg_protocol, "UDP" | "TCP_UDP"),
            "TCP_UDP" => tg_protocol == "TCP_UDP",
            _ => false,
        };
        if !compatible {
            return Err(Fault::new(
                "IncompatibleProtocols",
                format!(
                    "The listener protocol '{protocol}' is not compatible with the protocol '{tg_protocol}' of target group '{arn}'"
                ),
            ));
        }
        if let Some(vpc) = &tg.vpc_id
            && *vpc != lb.vpc_id
        {
            return Err(Fault::new(
                "InvalidConfigurationRequest",
                format!(
                    "Target group '{arn}' is in VPC '{vpc}', not in the load balancer's VPC '{}'",
                    lb.vpc_id
                ),
            ));
        }
        if usage
            .get(arn)
            .is_some_and(|lbs| lbs.iter().any(|other| *other != lb.id))
        {
            return Err(Fault::new(
                "TargetGroupAssociationLimit",
                format!(
                    "The following target groups cannot be associated with more than one load balancer: {arn}"
                ),
            ));
        }
    }
    Ok(())
}

fn port_clash(existing: &Listener, port: i32, protocol: &str) -> bool {
    existing.port == port
        && !matches!(
            (existing.protocol.as_str(), protocol),
            ("TCP", "UDP") | ("UDP", "TCP")
        )
}

fn listener_attributes(protocol: &str) -> BTreeMap<String, String> {
    match protocol {
        "HTTP" | "HTTPS" => attributes::defaults(HTTP_LISTENER),
        "TCP" => attributes::defaults(TCP_LISTENER),
        _ => BTreeMap::new(),
    }
}

impl Elbv2 {
    /// `CreateListener`.
    pub fn create_listener(
        &self,
        account: &str,
        lb_arn: &str,
        req: ListenerInput,
    ) -> Result<Listener, Error> {
        super::tags::check_new(&req.tags)?;
        self.ec2().store().transaction(|t| {
            let lb = load_balancer::get(t, account, lb_arn)?;
            let protocol = req
                .protocol
                .clone()
                .unwrap_or_else(|| if lb.is_application() { "HTTP" } else { "TCP" }.into());
            check_protocol(&lb, &protocol)?;
            let Some(port) = req.port else {
                return Err(validation("A port must be specified").into());
            };
            if !(1..=65_535).contains(&port) {
                return Err(
                    validation(format!("Port '{port}' must be between 1 and 65535")).into(),
                );
            }
            check_certificates(&protocol, &req.certificates)?;
            let Some(inputs) = req.default_actions.clone() else {
                return Err(validation("At least one default action must be specified").into());
            };
            let default_actions = actions::build(inputs, lb.is_application())?;
            check_forward_targets(t, account, &lb, &protocol, &default_actions)?;
            let siblings: Vec<Listener> = t
                .list::<Listener>(account)
                .into_iter()
                .filter(|l| l.load_balancer_arn == lb.id)
                .collect();
            if siblings.iter().any(|l| port_clash(l, port, &protocol)) {
                return Err(Fault::new(
                    "DuplicateListener",
                    "A listener already exists on this port for this load balancer",
                )
                .into());
            }
            if siblings.len() >= MAX_LISTENERS {
                return Err(Fault::new(
                    "TooManyListeners",
                    format!("A load balancer can have at most {MAX_LISTENERS} listeners"),
                )
                .into());
            }
            let id = arn::listener(&lb.id);
            let listener = Listener {
                default_rule_arn: arn::rule(&id),
                id,
                load_balancer_arn: lb.id.clone(),
                port,
                ssl_policy: None,
                alpn_policy: req.alpn_policy.clone().unwrap_or_default(),
                attributes: listener_attributes(&protocol),
                protocol,
                default_actions,
                tags: req.tags.clone(),
            };
            t.put(account, listener.clone());
            Ok(listener)
        })
    }

    /// `DescribeListeners`: by ARNs or by load balancer; paginated.
    pub fn describe_listeners(
        &self,
        account: &str,
        arns: &[String],
        lb_arn: Option<&str>,
        marker: Option<&str>,
        page_size: Option<i32>,
    ) -> Result<Page<Listener>, Error> {
        let store = self.ec2().store();
        let all = store.list::<Listener>(account)?;
        let selected: Vec<Listener> = match (arns.is_empty(), lb_arn) {
            (false, None) => {
                if arns.iter().any(|a| !all.iter().any(|l| l.id == *a)) {
                    return Err(listener_not_found().into());
                }
                all.into_iter().filter(|l| arns.contains(&l.id)).collect()
            }
            (true, Some(lb)) => {
                if store.get::<LoadBalancer>(account, lb)?.is_none() {
                    return Err(Fault::new(
                        "LoadBalancerNotFound",
                        "One or more load balancers not found",
                    )
                    .into());
                }
                all.into_iter()
                    .filter(|l| l.load_balancer_arn == lb)
                    .collect()
            }
            _ => {
                return Err(validation(
                    "You must specify either listener ARNs or a load balancer ARN",
                )
                .into());
            }
        };
        let scope = format!(
            "DescribeListeners\0{}\0{}",
            arns.join(","),
            lb_arn.unwrap_or_default()
        );
        Ok(self.page_of(selected, |l| l.id.as_str(), &scope, marker, page_size)?)
    }

    /// One listener.
    pub fn listener(&self, account: &str, arn: &str) -> Result<Listener, Error> {
        self.ec2()
            .store()
            .get::<Listener>(account, arn)?
            .ok_or_else(|| listener_not_found().into())
    }

    /// `ModifyListener`.
    pub fn modify_listener(
        &self,
        account: &str,
        arn: &str,
        req: ListenerInput,
    ) -> Result<Listener, Error> {
        self.ec2().store().transaction(|t| {
            let mut l = get(t, account, arn)?;
            let lb = load_balancer::get(t, account, &l.load_balancer_arn)?;
            let protocol = req.protocol.clone().unwrap_or_else(|| l.protocol.clone());
            check_protocol(&lb, &protocol)?;
            let port = req.port.unwrap_or(l.port);
            if !(1..=65_535).contains(&port) {
                return Err(
                    validation(format!("Port '{port}' must be between 1 and 65535")).into(),
                );
            }
            check_certificates(&protocol, &req.certificates)?;
            if t.list::<Listener>(account).iter().any(|o| {
                o.load_balancer_arn == lb.id && o.id != l.id && port_clash(o, port, &protocol)
            }) {
                return Err(Fault::new(
                    "DuplicateListener",
                    "A listener already exists on this port for this load balancer",
                )
                .into());
            }
            if let Some(inputs) = req.default_actions.clone() {
                l.default_actions = actions::build(inputs, lb.is_application())?;
            }
            check_forward_targets(t, account, &lb, &protocol, &l.default_actions)?;
            if protocol != l.protocol {
                // The attribute set follows the protocol family (HTTP(S), TCP, others).
                if listener_attributes(&protocol)
                    .keys()
                    .ne(l.attributes.keys())
                {
                    l.attributes = listener_attributes(&protocol);
                }
                let rules: Vec<Rule> = t
                    .list::<Rule>(account)
                    .into_iter()
                    .filter(|r| r.listener_arn == l.id)
                    .collect();
                for r in &rules {
                    check_forward_targets(t, account, &lb, &protocol, &r.actions)?;
                }
            }
            if let Some(alpn) = &req.alpn_policy {
                l.alpn_policy = alpn.clone();
            }
            l.protocol = protocol;
            l.port = port;
            t.put(account, l.clone());
            Ok(l)
        })
    }

    /// `DeleteListener`: with its rules.
    pub fn delete_listener(&self, account: &str, arn: &str) -> Result<(), Error> {
        self.ec2().store().transaction(|t| {
            let l = get(t, account, arn)?;
            for r in t.list::<Rule>(account) {
                if r.listener_arn == l.id {
                    t.delete::<Rule>(account, &r.id);
                }
            }
            t.delete::<Listener>(account, arn);
            Ok(())
        })
    }

    /// `DescribeListenerAttributes`.
    pub fn listener_attributes(
        &self,
        account: &str,
        arn: &str,
    ) -> Result<Vec<(String, String)>, Error> {
        Ok(attributes::listed(&self.listener(account, arn)?.attributes))
    }

    /// `ModifyListenerAttributes`.
    pub fn modify_listener_attributes(
        &self,
        account: &str,
        arn: &str,
        changes: &[(String, String)],
    ) -> Result<Vec<(String, String)>, Error> {
        self.ec2().store().transaction(|t| {
            let mut l = get(t, account, arn)?;
            let (own, other): (&[attributes::Spec], &[attributes::Spec]) = match l.protocol.as_str()
            {
                "HTTP" | "HTTPS" => (HTTP_LISTENER, TCP_LISTENER),
                "TCP" => (TCP_LISTENER, HTTP_LISTENER),
                _ => (&[], HTTP_LISTENER),
            };
            let kind = format!("listeners with the '{}' protocol", l.protocol);
            attributes::apply(
                &mut l.attributes,
                own,
                &[other, TCP_LISTENER],
                changes,
                "Listener",
                &kind,
            )?;
            let out = attributes::listed(&l.attributes);
            t.put(account, l);
            Ok(out)
        })
    }
}
