//! `CreateListener`, `DescribeListeners`, `ModifyListener`, `DeleteListener`, the listener
//! attribute calls and `DescribeListenerCertificates`.

use kumo_core::elbv2::listener::{Listener, ListenerInput};

use super::common::{
    actions_in, actions_out, elbv2, enum_str, pairs_in, required, tags_in, wire_enum,
};
use crate::dispatch::{Context, Handler};
use crate::ec2::common::ops;
use crate::error::QueryError;
use crate::generated::elbv2 as wire;

pub(super) fn handler(action: &str) -> Option<Handler> {
    ops!(action;
        "CreateListener" => create_listener,
        "DescribeListeners" => describe_listeners,
        "ModifyListener" => modify_listener,
        "DeleteListener" => delete_listener,
        "DescribeListenerAttributes" => describe_listener_attributes,
        "ModifyListenerAttributes" => modify_listener_attributes,
        "DescribeListenerCertificates" => describe_listener_certificates,
    )
}

fn listener_out(l: Listener) -> wire::Listener {
    wire::Listener {
        alpn_policy: (!l.alpn_policy.is_empty()).then_some(l.alpn_policy),
        certificates: None,
        default_actions: Some(actions_out(&l.default_actions)),
        listener_arn: Some(l.id),
        load_balancer_arn: Some(l.load_balancer_arn),
        mutual_authentication: None,
        port: Some(l.port),
        protocol: wire_enum(&l.protocol),
        ssl_policy: l.ssl_policy,
    }
}

fn certificates_in(c: Option<Vec<wire::Certificate>>) -> Vec<String> {
    c.unwrap_or_default()
        .into_iter()
        .filter_map(|c| c.certificate_arn)
        .collect()
}

fn attrs_out(pairs: Vec<(String, String)>) -> Vec<wire::ListenerAttribute> {
    pairs
        .into_iter()
        .map(|(k, v)| wire::ListenerAttribute {
            key: Some(k),
            value: Some(v),
        })
        .collect()
}

fn create_listener(
    ctx: &Context<'_>,
    req: wire::CreateListenerInput,
) -> Result<wire::CreateListenerOutput, QueryError> {
    if req.mutual_authentication.is_some() {
        return Err(QueryError::client(
            "InvalidConfigurationRequest",
            "Mutual TLS authentication is not supported by this Kumo endpoint",
        ));
    }
    let l = elbv2(ctx)?.create_listener(
        ctx.account(),
        &required(req.load_balancer_arn, "LoadBalancerArn")?,
        ListenerInput {
            protocol: req.protocol.map(|p| enum_str(&p)),
            port: req.port,
            ssl_policy: req.ssl_policy,
            certificates: certificates_in(req.certificates),
            alpn_policy: req.alpn_policy,
            default_actions: Some(actions_in(req.default_actions)),
            tags: tags_in(req.tags),
        },
    )?;
    Ok(wire::CreateListenerOutput {
        listeners: Some(vec![listener_out(l)]),
    })
}

fn describe_listeners(
    ctx: &Context<'_>,
    req: wire::DescribeListenersInput,
) -> Result<wire::DescribeListenersOutput, QueryError> {
    let page = elbv2(ctx)?.describe_listeners(
        ctx.account(),
        &req.listener_arns.unwrap_or_default(),
        req.load_balancer_arn.as_deref(),
        req.marker.as_deref(),
        req.page_size,
    )?;
    Ok(wire::DescribeListenersOutput {
        listeners: Some(page.items.into_iter().map(listener_out).collect()),
        next_marker: page.next_token,
    })
}

fn modify_listener(
    ctx: &Context<'_>,
    req: wire::ModifyListenerInput,
) -> Result<wire::ModifyListenerOutput, QueryError> {
    if req.mutual_authentication.is_some() {
        return Err(QueryError::client(
            "InvalidConfigurationRequest",
            "Mutual TLS authentication is not supported by this Kumo endpoint",
        ));
    }
    let l = elbv2(ctx)?.modify_listener(
        ctx.account(),
        &required(req.listener_arn, "ListenerArn")?,
        ListenerInput {
            protocol: req.protocol.map(|p| enum_str(&p)),
            port: req.port,
            ssl_policy: req.ssl_policy,
            certificates: certificates_in(req.certificates),
            alpn_policy: req.alpn_policy,
            default_actions: req.default_actions.map(|a| actions_in(Some(a))),
            tags: Vec::new(),
        },
    )?;
    Ok(wire::ModifyListenerOutput {
        listeners: Some(vec![listener_out(l)]),
    })
}

fn delete_listener(
    ctx: &Context<'_>,
    req: wire::DeleteListenerInput,
) -> Result<wire::DeleteListenerOutput, QueryError> {
    elbv2(ctx)?.delete_listener(ctx.account(), &required(req.listener_arn, "ListenerArn")?)?;
    Ok(wire::DeleteListenerOutput {})
}

fn describe_listener_attributes(
    ctx: &Context<'_>,
    req: wire::DescribeListenerAttributesInput,
) -> Result<wire::DescribeListenerAttributesOutput, QueryError> {
    let pairs = elbv2(ctx)?
        .listener_attributes(ctx.account(), &required(req.listener_arn, "ListenerArn")?)?;
    Ok(wire::DescribeListenerAttributesOutput {
        attributes: Some(attrs_out(pairs)),
    })
}

fn modify_listener_attributes(
    ctx: &Context<'_>,
    req: wire::ModifyListenerAttributesInput,
) -> Result<wire::ModifyListenerAttributesOutput, QueryError> {
    let changes = pairs_in(req.attributes, |a| (a.key, a.value));
    let pairs = elbv2(ctx)?.modify_listener_attributes(
        ctx.account(),
        &required(req.listener_arn, "ListenerArn")?,
        &changes,
    )?;
    Ok(wire::ModifyListenerAttributesOutput {
        attributes: Some(attrs_out(pairs)),
    })
}

/// Listeners hold no certificates on Kumo yet (HTTPS and TLS need ACM): the listener must
/// exist, and its list is empty.
fn describe_listener_certificates(
    ctx: &Context<'_>,
    req: wire::DescribeListenerCertificatesInput,
) -> Result<wire::DescribeListenerCertificatesOutput, QueryError> {
    elbv2(ctx)?.listener(ctx.account(), &required(req.listener_arn, "ListenerArn")?)?;
    Ok(wire::DescribeListenerCertificatesOutput {
        certificates: Some(Vec::new()),
        next_marker: None,
    })
}
