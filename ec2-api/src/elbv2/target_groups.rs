//! Target groups, their attributes, and targets: `CreateTargetGroup`, `DescribeTargetGroups`,
//! `ModifyTargetGroup`, `DeleteTargetGroup`, the attribute calls, `RegisterTargets`,
//! `DeregisterTargets`, `DescribeTargetHealth`.

use kumo_core::elbv2::target_group::{
    CreateTargetGroup, HealthCheckInput, TargetGroup, TargetHealthRow, TargetInput,
};

use super::common::{elbv2, enum_str, pairs_in, required, tags_in, wire_enum};
use crate::dispatch::{Context, Handler};
use crate::ec2::common::ops;
use crate::error::QueryError;
use crate::generated::elbv2 as wire;

pub(super) fn handler(action: &str) -> Option<Handler> {
    ops!(action;
        "CreateTargetGroup" => create_target_group,
        "DescribeTargetGroups" => describe_target_groups,
        "ModifyTargetGroup" => modify_target_group,
        "DeleteTargetGroup" => delete_target_group,
        "DescribeTargetGroupAttributes" => describe_target_group_attributes,
        "ModifyTargetGroupAttributes" => modify_target_group_attributes,
        "RegisterTargets" => register_targets,
        "DeregisterTargets" => deregister_targets,
        "DescribeTargetHealth" => describe_target_health,
    )
}

fn tg_out((tg, lbs): (TargetGroup, Vec<String>)) -> wire::TargetGroup {
    let hc = tg.health;
    wire::TargetGroup {
        health_check_enabled: Some(hc.enabled),
        health_check_interval_seconds: Some(hc.interval),
        health_check_path: hc.path,
        health_check_port: hc.port,
        health_check_protocol: hc.protocol.as_deref().and_then(wire_enum),
        health_check_timeout_seconds: Some(hc.timeout),
        healthy_threshold_count: Some(hc.healthy_threshold),
        unhealthy_threshold_count: Some(hc.unhealthy_threshold),
        ip_address_type: (tg.target_type != "lambda")
            .then(|| wire_enum(&tg.ip_address_type))
            .flatten(),
        load_balancer_arns: Some(lbs),
        matcher: (hc.matcher_http.is_some() || hc.matcher_grpc.is_some()).then_some(
            wire::Matcher {
                http_code: hc.matcher_http,
                grpc_code: hc.matcher_grpc,
            },
        ),
        port: tg.port,
        protocol: tg.protocol.as_deref().and_then(wire_enum),
        protocol_version: tg.protocol_version,
        target_group_arn: Some(tg.id),
        target_group_name: Some(tg.name),
        target_type: wire_enum(&tg.target_type),
        vpc_id: tg.vpc_id,
        target_control_port: None,
    }
}

fn targets_in(targets: Option<Vec<wire::TargetDescription>>) -> Vec<TargetInput> {
    targets
        .unwrap_or_default()
        .into_iter()
        .map(|t| TargetInput {
            id: t.id.unwrap_or_default(),
            port: t.port,
            availability_zone: t.availability_zone,
        })
        .collect()
}

fn attrs_out(pairs: Vec<(String, String)>) -> Vec<wire::TargetGroupAttribute> {
    pairs
        .into_iter()
        .map(|(k, v)| wire::TargetGroupAttribute {
            key: Some(k),
            value: Some(v),
        })
        .collect()
}

fn create_target_group(
    ctx: &Context<'_>,
    req: wire::CreateTargetGroupInput,
) -> Result<wire::CreateTargetGroupOutput, QueryError> {
    if req.target_control_port.is_some() {
        return Err(QueryError::client(
            "InvalidConfigurationRequest",
            "TargetControlPort is not supported by this Kumo endpoint",
        ));
    }
    let tg = elbv2(ctx)?.create_target_group(
        ctx.account(),
        CreateTargetGroup {
            name: required(req.name, "Name")?,
            protocol: req.protocol.map(|p| enum_str(&p)),
            protocol_version: req.protocol_version,
            port: req.port,
            vpc_id: req.vpc_id,
            target_type: req.target_type.map(|t| enum_str(&t)),
            ip_address_type: req.ip_address_type.map(|t| enum_str(&t)),
            health: HealthCheckInput {
                enabled: req.health_check_enabled,
                protocol: req.health_check_protocol.map(|p| enum_str(&p)),
                port: req.health_check_port,
                path: req.health_check_path,
                interval: req.health_check_interval_seconds,
                timeout: req.health_check_timeout_seconds,
                healthy_threshold: req.healthy_threshold_count,
                unhealthy_threshold: req.unhealthy_threshold_count,
                matcher_http: req.matcher.as_ref().and_then(|m| m.http_code.clone()),
                matcher_grpc: req.matcher.and_then(|m| m.grpc_code),
            },
            tags: tags_in(req.tags),
        },
    )?;
    Ok(wire::CreateTargetGroupOutput {
        target_groups: Some(vec![tg_out((tg, Vec::new()))]),
    })
}

fn describe_target_groups(
    ctx: &Context<'_>,
    req: wire::DescribeTargetGroupsInput,
) -> Result<wire::DescribeTargetGroupsOutput, QueryError> {
    let page = elbv2(ctx)?.describe_target_groups(
        ctx.account(),
        &req.target_group_arns.unwrap_or_default(),
        &req.names.unwrap_or_default(),
        req.load_balancer_arn.as_deref(),
        req.marker.as_deref(),
        req.page_size,
    )?;
    Ok(wire::DescribeTargetGroupsOutput {
        target_groups: Some(page.items.into_iter().map(tg_out).collect()),
        next_marker: page.next_token,
    })
}

fn modify_target_group(
    ctx: &Context<'_>,
    req: wire::ModifyTargetGroupInput,
) -> Result<wire::ModifyTargetGroupOutput, QueryError> {
    let health = HealthCheckInput {
        enabled: req.health_check_enabled,
        protocol: req.health_check_protocol.map(|p| enum_str(&p)),
        port: req.health_check_port,
        path: req.health_check_path,
        interval: req.health_check_interval_seconds,
        timeout: req.health_check_timeout_seconds,
        healthy_threshold: req.healthy_threshold_count,
        unhealthy_threshold: req.unhealthy_threshold_count,
        matcher_http: req.matcher.as_ref().and_then(|m| m.http_code.clone()),
        matcher_grpc: req.matcher.and_then(|m| m.grpc_code),
    };
    let tg = elbv2(ctx)?.modify_target_group(
        ctx.account(),
        &required(req.target_group_arn, "TargetGroupArn")?,
        &health,
    )?;
    Ok(wire::ModifyTargetGroupOutput {
        target_groups: Some(vec![tg_out(tg)]),
    })
}

fn delete_target_group(
    ctx: &Context<'_>,
    req: wire::DeleteTargetGroupInput,
) -> Result<wire::DeleteTargetGroupOutput, QueryError> {
    elbv2(ctx)?.delete_target_group(
        ctx.account(),
        &required(req.target_group_arn, "TargetGroupArn")?,
    )?;
    Ok(wire::DeleteTargetGroupOutput {})
}

fn describe_target_group_attributes(
    ctx: &Context<'_>,
    req: wire::DescribeTargetGroupAttributesInput,
) -> Result<wire::DescribeTargetGroupAttributesOutput, QueryError> {
    let pairs = elbv2(ctx)?.target_group_attributes(
        ctx.account(),
        &required(req.target_group_arn, "TargetGroupArn")?,
    )?;
    Ok(wire::DescribeTargetGroupAttributesOutput {
        attributes: Some(attrs_out(pairs)),
    })
}

fn modify_target_group_attributes(
    ctx: &Context<'_>,
    req: wire::ModifyTargetGroupAttributesInput,
) -> Result<wire::ModifyTargetGroupAttributesOutput, QueryError> {
    let changes = pairs_in(req.attributes, |a| (a.key, a.value));
    let pairs = elbv2(ctx)?.modify_target_group_attributes(
        ctx.account(),
        &required(req.target_group_arn, "TargetGroupArn")?,
        &changes,
    )?;
    Ok(wire::ModifyTargetGroupAttributesOutput {
        attributes: Some(attrs_out(pairs)),
    })
}

fn register_targets(
    ctx: &Context<'_>,
    req: wire::RegisterTargetsInput,
) -> Result<wire::RegisterTargetsOutput, QueryError> {
    elbv2(ctx)?.register_targets(
        ctx.account(),
        &required(req.target_group_arn, "TargetGroupArn")?,
        &targets_in(req.targets),
    )?;
    Ok(wire::RegisterTargetsOutput {})
}

fn deregister_targets(
    ctx: &Context<'_>,
    req: wire::DeregisterTargetsInput,
) -> Result<wire::DeregisterTargetsOutput, QueryError> {
    elbv2(ctx)?.deregister_targets(
        ctx.account(),
        &required(req.target_group_arn, "TargetGroupArn")?,
        &targets_in(req.targets),
    )?;
    Ok(wire::DeregisterTargetsOutput {})
}

fn health_out(row: TargetHealthRow) -> wire::TargetHealthDescription {
    let (state, reason, description) = row.health.wire();
    wire::TargetHealthDescription {
        health_check_port: row.health_check_port,
        target: Some(wire::TargetDescription {
            id: Some(row.target.id),
            port: row.target.port,
            availability_zone: row.target.availability_zone,
            quic_server_id: None,
        }),
        target_health: Some(wire::TargetHealth {
            state: wire_enum(state),
            reason: reason.and_then(wire_enum),
            description,
        }),
        ..Default::default()
    }
}

fn describe_target_health(
    ctx: &Context<'_>,
    req: wire::DescribeTargetHealthInput,
) -> Result<wire::DescribeTargetHealthOutput, QueryError> {
    let rows = elbv2(ctx)?.describe_target_health(
        ctx.account(),
        &required(req.target_group_arn, "TargetGroupArn")?,
        &targets_in(req.targets),
    )?;
    Ok(wire::DescribeTargetHealthOutput {
        target_health_descriptions: Some(rows.into_iter().map(health_out).collect()),
    })
}
