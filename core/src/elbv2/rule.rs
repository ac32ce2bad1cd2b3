//! Listener rules: conditions and actions at a priority unique within the listener
//! (`PriorityInUse`), evaluated lowest first; the listener's default rule comes last and is
//! kept in the listener record (see [`super::listener`]).

use serde::{Deserialize, Serialize};

use super::actions::{self, Action, ActionInput, Condition, ConditionInput};
use super::listener::{self, Listener, check_forward_targets};
use super::load_balancer;
use super::{Elbv2, arn, validation};
use crate::Error;
use crate::ec2::Fault;
use crate::ec2::store::Txn;
use crate::query::paginate::Page;
use crate::query::tags::Tag;

/// Most rules per listener (besides the default rule).
pub const MAX_RULES: usize = 100;

/// A (non-default) rule.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Rule {
    /// Its ARN.
    pub id: String,
    /// Its listener.
    pub listener_arn: String,
    /// Priority, 1–50000.
    pub priority: i32,
    /// Conditions (all must match).
    pub conditions: Vec<Condition>,
    /// Actions, in order.
    pub actions: Vec<Action>,
    /// Tags.
    #[serde(default)]
    pub tags: Vec<Tag>,
}

/// A rule as the describe calls show it: a stored rule, or a listener's default rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuleView {
    /// ARN.
    pub arn: String,
    /// Priority; `None` for the default rule.
    pub priority: Option<i32>,
    /// Conditions (none for the default rule).
    pub conditions: Vec<Condition>,
    /// Actions.
    pub actions: Vec<Action>,
}

impl RuleView {
    fn of(r: &Rule) -> Self {
        Self {
            arn: r.id.clone(),
            priority: Some(r.priority),
            conditions: r.conditions.clone(),
            actions: r.actions.clone(),
        }
    }

    fn default_of(l: &Listener) -> Self {
        Self {
            arn: l.default_rule_arn.clone(),
            priority: None,
            conditions: Vec::new(),
            actions: l.default_actions.clone(),
        }
    }

    /// Whether it is the default rule.
    #[must_use]
    pub fn is_default(&self) -> bool {
        self.priority.is_none()
    }

    fn sort_key(&self) -> String {
        format!("{:05}\0{}", self.priority.unwrap_or(99_999), self.arn)
    }
}

fn rule_not_found() -> Fault {
    Fault::new("RuleNotFound", "One or more rules not found")
}

fn check_priority(p: i32) -> Result<(), Fault> {
    if !(1..=50_000).contains(&p) {
        return Err(validation(format!(
            "Priority '{p}' must be between 1 and 50000"
        )));
    }
    Ok(())
}

fn default_rule_listener(t: &Txn<'_>, account: &str, arn: &str) -> Option<Listener> {
    t.list::<Listener>(account)
        .into_iter()
        .find(|l| l.default_rule_arn == arn)
}

impl Elbv2 {
    /// `CreateRule`.
    pub fn create_rule(
        &self,
        account: &str,
        listener_arn: &str,
        priority: Option<i32>,
        conditions: Vec<ConditionInput>,
        actions: Vec<ActionInput>,
        tags: Vec<Tag>,
    ) -> Result<RuleView, Error> {
        super::tags::check_new(&tags)?;
        let Some(priority) = priority else {
            return Err(validation("A priority must be specified").into());
        };
        check_priority(priority)?;
        if conditions.is_empty() {
            return Err(validation("At least one condition must be specified").into());
        }
        let conditions = actions::conditions(conditions)?;
        self.ec2().store().transaction(|t| {
            let l = listener::get(t, account, listener_arn)?;
            let lb = load_balancer::get(t, account, &l.load_balancer_arn)?;
            if !l.is_http() {
                return Err(Fault::new(
                    "InvalidConfigurationRequest",
                    "Rules can be added to HTTP and HTTPS listeners only",
                )
                .into());
            }
            let actions = actions::build(actions, true)?;
            check_forward_targets(t, account, &lb, &l.protocol, &actions)?;
            let siblings: Vec<Rule> = t
                .list::<Rule>(account)
                .into_iter()
                .filter(|r| r.listener_arn == l.id)
                .collect();
            if siblings.iter().any(|r| r.priority == priority) {
                return Err(Fault::new(
                    "PriorityInUse",
                    format!("Priority '{priority}' is currently in use"),
                )
                .into());
            }
            if siblings.len() >= MAX_RULES {
                return Err(Fault::new(
                    "TooManyRules",
                    format!("A listener can have at most {MAX_RULES} rules"),
                )
                .into());
            }
            let rule = Rule {
                id: arn::rule(&l.id),
                listener_arn: l.id.clone(),
                priority,
                conditions: conditions.clone(),
                actions,
                tags: tags.clone(),
            };
            t.put(account, rule.clone());
            Ok(RuleView::of(&rule))
        })
    }

    /// `DescribeRules`: by listener (with its default rule, last) or by ARNs; paginated.
    pub fn describe_rules(
        &self,
        account: &str,
        listener_arn: Option<&str>,
        arns: &[String],
        marker: Option<&str>,
        page_size: Option<i32>,
    ) -> Result<Page<RuleView>, Error> {
        let store = self.ec2().store();
        let listeners = store.list::<Listener>(account)?;
        let rules = store.list::<Rule>(account)?;
        let views: Vec<RuleView> = match (listener_arn, arns.is_empty()) {
            (Some(l), true) => {
                let Some(listener) = listeners.iter().find(|x| x.id == l) else {
                    return Err(
                        Fault::new("ListenerNotFound", "One or more listeners not found").into(),
                    );
                };
                rules
                    .iter()
                    .filter(|r| r.listener_arn == l)
                    .map(RuleView::of)
                    .chain(std::iter::once(RuleView::default_of(listener)))
                    .collect()
            }
            (None, false) => {
                let mut out = Vec::with_capacity(arns.len());
                for a in arns {
                    if let Some(r) = rules.iter().find(|r| r.id == *a) {
                        out.push(RuleView::of(r));
                    } else if let Some(l) = listeners.iter().find(|l| l.default_rule_arn == *a) {
                        out.push(RuleView::default_of(l));
                    } else {
                        return Err(rule_not_found().into());
                    }
                }
                out
            }
            _ => {
                return Err(
                    validation("You must specify either a listener ARN or rule ARNs").into(),
                );
            }
        };
        let mut keyed: Vec<(String, RuleView)> =
            views.into_iter().map(|v| (v.sort_key(), v)).collect();
        keyed.dedup_by(|a, b| a.0 == b.0);
        let scope = format!(
            "DescribeRules\0{}\0{}",
            listener_arn.unwrap_or_default(),
            arns.join(",")
        );
        let page = self.page_of(keyed, |(k, _)| k.as_str(), &scope, marker, page_size)?;
        Ok(Page {
            items: page.items.into_iter().map(|(_, v)| v).collect(),
            next_token: page.next_token,
        })
    }

    /// `ModifyRule`: new conditions and/or actions. The default rule takes actions only (they
    /// become its listener's default actions).
    pub fn modify_rule(
        &self,
        account: &str,
        arn: &str,
        conditions: Option<Vec<ConditionInput>>,
        actions: Option<Vec<ActionInput>>,
    ) -> Result<RuleView, Error> {
        let conditions = match conditions {
            Some(c) if c.is_empty() => {
                return Err(validation("At least one condition must be specified").into());
            }
            Some(c) => Some(actions::conditions(c)?),
            None => None,
        };
        self.ec2().store().transaction(|t| {
            if let Some(mut l) = default_rule_listener(t, account, arn) {
                if conditions.is_some() {
                    return Err(Fault::new(
                        "OperationNotPermitted",
                        "The conditions of a default rule cannot be modified",
                    )
                    .into());
                }
                let lb = load_balancer::get(t, account, &l.load_balancer_arn)?;
                if let Some(a) = actions {
                    l.default_actions = actions::build(a, lb.is_application())?;
                    check_forward_targets(t, account, &lb, &l.protocol, &l.default_actions)?;
                }
                t.put(account, l.clone());
                return Ok(RuleView::default_of(&l));
            }
            let mut r = t.get::<Rule>(account, arn).ok_or_else(rule_not_found)?;
            let l = listener::get(t, account, &r.listener_arn)?;
            let lb = load_balancer::get(t, account, &l.load_balancer_arn)?;
            if let Some(c) = conditions {
                r.conditions = c;
            }
            if let Some(a) = actions {
                r.actions = actions::build(a, true)?;
                check_forward_targets(t, account, &lb, &l.protocol, &r.actions)?;
            }
            t.put(account, r.clone());
            Ok(RuleView::of(&r))
        })
    }

    /// `DeleteRule` (not the default rule).
    pub fn delete_rule(&self, account: &str, arn: &str) -> Result<(), Error> {
        self.ec2().store().transaction(|t| {
            if default_rule_listener(t, account, arn).is_some() {
                return Err(Fault::new(
                    "OperationNotPermitted",
                    format!("Default rule '{arn}' cannot be deleted"),
                )
                .into());
            }
            if t.get::<Rule>(account, arn).is_none() {
                return Err(rule_not_found().into());
            }
            t.delete::<Rule>(account, arn);
            Ok(())
        })
    }

    /// `SetRulePriorities`: all or nothing; priorities stay unique per listener.
    pub fn set_rule_priorities(
        &self,
        account: &str,
        pairs: &[(String, i32)],
    ) -> Result<Vec<RuleView>, Error> {
        if pairs.is_empty() {
            return Err(validation("At least one rule priority must be specified").into());
        }
        for (_, p) in pairs {
            check_priority(*p)?;
        }
        self.ec2().store().transaction(|t| {
            let mut changed: Vec<Rule> = Vec::with_capacity(pairs.len());
            for (arn, p) in pairs {
                if default_rule_listener(t, account, arn).is_some() {
                    return Err(Fault::new(
                        "OperationNotPermitted",
                        "The priority of a default rule cannot be changed",
                    )
                    .into());
                }
                let mut r = t.get::<Rule>(account, arn).ok_or_else(rule_not_found)?;
                if changed.iter().any(|c| c.id == r.id) {
                    return Err(validation(format!("Rule '{arn}' is listed twice")).into());
                }
                r.priority = *p;
                changed.push(r);
            }
            let all = t.list::<Rule>(account);
            for r in &changed {
                let clash = all
                    .iter()
                    .filter(|o| o.listener_arn == r.listener_arn && o.id != r.id)
                    .map(|o| {
                        changed
                            .iter()
                            .find(|c| c.id == o.id)
                            .map_or(o.priority, |c| c.priority)
                    })
                    .chain(
                        changed
                            .iter()
                            .filter(|c| {
                                c.listener_arn == r.listener_arn
                                    && c.id != r.id
                                    && !all.iter().any(|o| o.id == c.id)
                            })
                            .map(|c| c.priority),
                    )
                    .any(|p| p == r.priority);
                if clash {
                    return Err(Fault::new(
                        "PriorityInUse",
                        format!("Priority '{}' is currently in use", r.priority),
                    )
                    .into());
                }
            }
            for r in &changed {
                t.put(account, r.clone());
            }
            Ok(changed.iter().map(RuleView::of).collect())
        })
    }
}
