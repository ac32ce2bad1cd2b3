//! Conversions every ELBv2 module shares: the service handle, required parameters, enums,
//! timestamps, tags, attributes, actions and conditions.

use kumo_core::elbv2::Elbv2;
use kumo_core::elbv2::actions::{
    Action, ActionInput, ActionKind, Condition, ConditionInput, RedirectInput,
};
use kumo_core::query::tags::Tag;

use crate::dispatch::Context;
use crate::error::QueryError;
use crate::generated::elbv2 as wire;
use crate::query::{Node, Timestamp, Typed};

/// The ELBv2 service over the endpoint's EC2 store.
pub(super) fn elbv2(ctx: &Context<'_>) -> Result<Elbv2, QueryError> {
    Ok(Elbv2::new(ctx.ec2()?.clone()))
}

/// A required member (the decoder checks presence; this keeps a missing one a 400).
pub(super) fn required<T>(v: Option<T>, name: &str) -> Result<T, QueryError> {
    v.ok_or_else(|| QueryError::missing_parameter(name))
}

/// A core string as a wire enum (`None` if the model does not know it).
pub(super) fn wire_enum<E: Typed>(s: &str) -> Option<E> {
    E::from_node(Node::Str(s.to_owned()))
}

/// A wire enum as its string.
pub(super) fn enum_str<E: Typed>(e: &E) -> String {
    match e.to_node() {
        Node::Str(s) => s,
        _ => String::new(),
    }
}

/// Milliseconds since the epoch as a timestamp.
pub(super) fn time_of(ms: i64) -> Option<Timestamp> {
    Timestamp::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000).ok()
}

/// Wire tags in (a missing value is the empty string).
pub(super) fn tags_in(tags: Option<Vec<wire::Tag>>) -> Vec<Tag> {
    tags.unwrap_or_default()
        .into_iter()
        .map(|t| Tag {
            key: t.key.unwrap_or_default(),
            value: t.value.unwrap_or_default(),
        })
        .collect()
}

/// Core tags out.
pub(super) fn tags_out(tags: &[Tag]) -> Vec<wire::Tag> {
    tags.iter()
        .map(|t| wire::Tag {
            key: Some(t.key.clone()),
            value: Some(t.value.clone()),
        })
        .collect()
}

/// Attribute `(key, value)` pairs in, from any of the three attribute shapes.
pub(super) fn pairs_in<A>(
    attrs: Option<Vec<A>>,
    kv: impl Fn(A) -> (Option<String>, Option<String>),
) -> Vec<(String, String)> {
    attrs
        .unwrap_or_default()
        .into_iter()
        .map(|a| {
            let (k, v) = kv(a);
            (k.unwrap_or_default(), v.unwrap_or_default())
        })
        .collect()
}

/// Actions in.
pub(super) fn actions_in(actions: Option<Vec<wire::Action>>) -> Vec<ActionInput> {
    actions
        .unwrap_or_default()
        .into_iter()
        .map(|a| ActionInput {
            kind: a.r#type.map(|t| t.as_str().to_owned()).unwrap_or_default(),
            order: a.order,
            target_group_arn: a.target_group_arn,
            forward_groups: a.forward_config.as_ref().and_then(|f| {
                f.target_groups.as_ref().map(|groups| {
                    groups
                        .iter()
                        .map(|g| (g.target_group_arn.clone().unwrap_or_default(), g.weight))
                        .collect()
                })
            }),
            stickiness: a
                .forward_config
                .and_then(|f| f.target_group_stickiness_config)
                .map(|s| (s.enabled, s.duration_seconds)),
            fixed_response: a
                .fixed_response_config
                .map(|f| (f.status_code, f.content_type, f.message_body)),
            redirect: a.redirect_config.map(|r| RedirectInput {
                protocol: r.protocol,
                host: r.host,
                port: r.port,
                path: r.path,
                query: r.query,
                status_code: r.status_code.map(|s| s.as_str().to_owned()),
            }),
        })
        .collect()
}

/// Actions out, as AWS answers them (a single-group forward carries both `TargetGroupArn`
/// and `ForwardConfig`).
pub(super) fn actions_out(actions: &[Action]) -> Vec<wire::Action> {
    actions
        .iter()
        .map(|a| {
            let mut out = wire::Action {
                order: Some(a.order),
                ..Default::default()
            };
            match &a.kind {
                ActionKind::Forward {
                    target_groups,
                    single,
                    stickiness_enabled,
                    stickiness_duration,
                } => {
                    out.r#type = Some(wire::ActionTypeEnum::Forward);
                    if *single {
                        out.target_group_arn = target_groups.first().map(|g| g.arn.clone());
                    }
                    out.forward_config = Some(wire::ForwardActionConfig {
                        target_groups: Some(
                            target_groups
                                .iter()
                                .map(|g| wire::TargetGroupTuple {
                                    target_group_arn: Some(g.arn.clone()),
                                    weight: Some(g.weight),
                                })
                                .collect(),
                        ),
                        target_group_stickiness_config: Some(wire::TargetGroupStickinessConfig {
                            enabled: Some(*stickiness_enabled),
                            duration_seconds: *stickiness_duration,
                        }),
                    });
                }
                ActionKind::FixedResponse {
                    status_code,
                    content_type,
                    message_body,
                } => {
                    out.r#type = Some(wire::ActionTypeEnum::FixedResponse);
                    out.fixed_response_config = Some(wire::FixedResponseActionConfig {
                        status_code: Some(status_code.clone()),
                        content_type: content_type.clone(),
                        message_body: message_body.clone(),
                    });
                }
                ActionKind::Redirect {
                    protocol,
                    host,
                    port,
                    path,
                    query,
                    status_code,
                } => {
                    out.r#type = Some(wire::ActionTypeEnum::Redirect);
                    out.redirect_config = Some(wire::RedirectActionConfig {
                        protocol: Some(protocol.clone()),
                        host: Some(host.clone()),
                        port: Some(port.clone()),
                        path: Some(path.clone()),
                        query: Some(query.clone()),
                        status_code: wire_enum(status_code),
                    });
                }
            }
            out
        })
        .collect()
}

/// Conditions in.
pub(super) fn conditions_in(conditions: Option<Vec<wire::RuleCondition>>) -> Vec<ConditionInput> {
    conditions
        .unwrap_or_default()
        .into_iter()
        .map(|c| {
            let config_values = match c.field.as_deref() {
                Some("path-pattern") => c.path_pattern_config.and_then(|x| x.values),
                Some("host-header") => c.host_header_config.and_then(|x| x.values),
                Some("http-header") => c.http_header_config.as_ref().and_then(|x| x.values.clone()),
                Some("http-request-method") => c.http_request_method_config.and_then(|x| x.values),
                Some("source-ip") => c.source_ip_config.and_then(|x| x.values),
                _ => None,
            };
            ConditionInput {
                http_header_name: c.http_header_config.and_then(|h| h.http_header_name),
                query_pairs: c.query_string_config.map(|q| {
                    q.values
                        .unwrap_or_default()
                        .into_iter()
                        .map(|kv| (kv.key, kv.value))
                        .collect()
                }),
                field: c.field,
                values: c.values,
                config_values,
            }
        })
        .collect()
}

/// Conditions out, with the per-field config (and `Values` for the two legacy fields).
pub(super) fn conditions_out(conditions: &[Condition]) -> Vec<wire::RuleCondition> {
    conditions
        .iter()
        .map(|c| {
            let values = Some(c.values.clone());
            let mut out = wire::RuleCondition {
                field: Some(c.field.clone()),
                ..Default::default()
            };
            match c.field.as_str() {
                "path-pattern" => {
                    out.values = values.clone();
                    out.path_pattern_config = Some(wire::PathPatternConditionConfig {
                        values,
                        regex_values: None,
                    });
                }
                "host-header" => {
                    out.values = values.clone();
                    out.host_header_config = Some(wire::HostHeaderConditionConfig {
                        values,
                        regex_values: None,
                    });
                }
                "http-header" => {
                    out.http_header_config = Some(wire::HttpHeaderConditionConfig {
                        http_header_name: c.http_header_name.clone(),
                        values,
                        regex_values: None,
                    });
                }
                "http-request-method" => {
                    out.http_request_method_config =
                        Some(wire::HttpRequestMethodConditionConfig { values });
                }
                "source-ip" => {
                    out.source_ip_config = Some(wire::SourceIpConditionConfig { values });
                }
                "query-string" => {
                    out.query_string_config = Some(wire::QueryStringConditionConfig {
                        values: Some(
                            c.query_pairs
                                .iter()
                                .map(|(k, v)| wire::QueryStringKeyValuePair {
                                    key: k.clone(),
                                    value: Some(v.clone()),
                                })
                                .collect(),
                        ),
                    });
                }
                _ => {}
            }
            out
        })
        .collect()
}
