//! `CreateRule`, `DescribeRules`, `ModifyRule`, `DeleteRule`, `SetRulePriorities`.

use kumo_core::elbv2::rule::RuleView;

use super::common::{
    actions_in, actions_out, conditions_in, conditions_out, elbv2, required, tags_in,
};
use crate::dispatch::{Context, Handler};
use crate::ec2::common::ops;
use crate::error::QueryError;
use crate::generated::elbv2 as wire;

pub(super) fn handler(action: &str) -> Option<Handler> {
    ops!(action;
        "CreateRule" => create_rule,
        "DescribeRules" => describe_rules,
        "ModifyRule" => modify_rule,
        "DeleteRule" => delete_rule,
        "SetRulePriorities" => set_rule_priorities,
    )
}

fn rule_out(r: RuleView) -> wire::Rule {
    wire::Rule {
        is_default: Some(r.is_default()),
        priority: Some(
            r.priority
                .map_or_else(|| "default".to_owned(), |p| p.to_string()),
        ),
        rule_arn: Some(r.arn),
        conditions: Some(conditions_out(&r.conditions)),
        actions: Some(actions_out(&r.actions)),
        transforms: None,
    }
}

fn no_transforms(t: Option<&Vec<wire::RuleTransform>>) -> Result<(), QueryError> {
    if t.is_some_and(|t| !t.is_empty()) {
        return Err(QueryError::client(
            "InvalidConfigurationRequest",
            "Rule transforms are not supported by this Kumo endpoint",
        ));
    }
    Ok(())
}

fn create_rule(
    ctx: &Context<'_>,
    req: wire::CreateRuleInput,
) -> Result<wire::CreateRuleOutput, QueryError> {
    no_transforms(req.transforms.as_ref())?;
    let r = elbv2(ctx)?.create_rule(
        ctx.account(),
        &required(req.listener_arn, "ListenerArn")?,
        req.priority,
        conditions_in(req.conditions),
        actions_in(req.actions),
        tags_in(req.tags),
    )?;
    Ok(wire::CreateRuleOutput {
        rules: Some(vec![rule_out(r)]),
    })
}

fn describe_rules(
    ctx: &Context<'_>,
    req: wire::DescribeRulesInput,
) -> Result<wire::DescribeRulesOutput, QueryError> {
    let page = elbv2(ctx)?.describe_rules(
        ctx.account(),
        req.listener_arn.as_deref(),
        &req.rule_arns.unwrap_or_default(),
        req.marker.as_deref(),
        req.page_size,
    )?;
    Ok(wire::DescribeRulesOutput {
        rules: Some(page.items.into_iter().map(rule_out).collect()),
        next_marker: page.next_token,
    })
}

fn modify_rule(
    ctx: &Context<'_>,
    req: wire::ModifyRuleInput,
) -> Result<wire::ModifyRuleOutput, QueryError> {
    no_transforms(req.transforms.as_ref())?;
    let r = elbv2(ctx)?.modify_rule(
        ctx.account(),
        &required(req.rule_arn, "RuleArn")?,
        req.conditions.map(|c| conditions_in(Some(c))),
        req.actions.map(|a| actions_in(Some(a))),
    )?;
    Ok(wire::ModifyRuleOutput {
        rules: Some(vec![rule_out(r)]),
    })
}

fn delete_rule(
    ctx: &Context<'_>,
    req: wire::DeleteRuleInput,
) -> Result<wire::DeleteRuleOutput, QueryError> {
    elbv2(ctx)?.delete_rule(ctx.account(), &required(req.rule_arn, "RuleArn")?)?;
    Ok(wire::DeleteRuleOutput {})
}

fn set_rule_priorities(
    ctx: &Context<'_>,
    req: wire::SetRulePrioritiesInput,
) -> Result<wire::SetRulePrioritiesOutput, QueryError> {
    let pairs: Vec<(String, i32)> = required(req.rule_priorities, "RulePriorities")?
        .into_iter()
        .map(|p| {
            (
                p.rule_arn.unwrap_or_default(),
                p.priority.unwrap_or_default(),
            )
        })
        .collect();
    let rules = elbv2(ctx)?.set_rule_priorities(ctx.account(), &pairs)?;
    Ok(wire::SetRulePrioritiesOutput {
        rules: Some(rules.into_iter().map(rule_out).collect()),
    })
}
