//! `DescribeAccountLimits`, `DescribeSSLPolicies`.

use kumo_core::elbv2::limits;

use super::common::{elbv2, enum_str};
use crate::dispatch::{Context, Handler};
use crate::ec2::common::ops;
use crate::error::QueryError;
use crate::generated::elbv2 as wire;

pub(super) fn handler(action: &str) -> Option<Handler> {
    ops!(action;
        "DescribeAccountLimits" => describe_account_limits,
        "DescribeSSLPolicies" => describe_ssl_policies,
    )
}

fn describe_account_limits(
    ctx: &Context<'_>,
    req: wire::DescribeAccountLimitsInput,
) -> Result<wire::DescribeAccountLimitsOutput, QueryError> {
    let rows: Vec<(String, String)> = limits::account_limits()
        .into_iter()
        .map(|(n, m)| (n.to_owned(), m))
        .collect();
    let page = elbv2(ctx)?.page_of(
        rows,
        |(n, _)| n.as_str(),
        "DescribeAccountLimits",
        req.marker.as_deref(),
        req.page_size,
    )?;
    Ok(wire::DescribeAccountLimitsOutput {
        limits: Some(
            page.items
                .into_iter()
                .map(|(name, max)| wire::Limit {
                    name: Some(name),
                    max: Some(max),
                })
                .collect(),
        ),
        next_marker: page.next_token,
    })
}

fn describe_ssl_policies(
    ctx: &Context<'_>,
    req: wire::DescribeSSLPoliciesInput,
) -> Result<wire::DescribeSSLPoliciesOutput, QueryError> {
    let lb_type = req.load_balancer_type.map(|t| enum_str(&t));
    let e = elbv2(ctx)?;
    let policies = e.describe_ssl_policies(&req.names.unwrap_or_default(), lb_type.as_deref())?;
    let page = e.page_of(
        policies,
        |p| p.name,
        "DescribeSSLPolicies",
        req.marker.as_deref(),
        req.page_size,
    )?;
    Ok(wire::DescribeSSLPoliciesOutput {
        ssl_policies: Some(
            page.items
                .into_iter()
                .map(|p| wire::SslPolicy {
                    name: Some(p.name.to_owned()),
                    ssl_protocols: Some(p.protocols.iter().map(|s| (*s).to_owned()).collect()),
                    ciphers: Some(
                        p.ciphers
                            .iter()
                            .zip(1..)
                            .map(|(c, i)| wire::Cipher {
                                name: Some((*c).to_owned()),
                                priority: Some(i),
                            })
                            .collect(),
                    ),
                    supported_load_balancer_types: Some(
                        p.load_balancer_types
                            .iter()
                            .map(|s| (*s).to_owned())
                            .collect(),
                    ),
                })
                .collect(),
        ),
        next_marker: page.next_token,
    })
}
