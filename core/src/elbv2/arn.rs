//! ELBv2's resource names: every resource is identified by its ARN, and the ARNs nest
//! (`listener/app/<lb>/<lb-id>/<listener-id>` extends `loadbalancer/app/<lb>/<lb-id>`), which
//! is how a listener or a rule names its load balancer without a lookup.

use rand::Rng;

/// The ARN of a load balancer: `…:loadbalancer/app|net/<name>/<16 hex>`.
#[must_use]
pub fn load_balancer(region: &str, account: &str, short_type: &str, name: &str) -> String {
    format!(
        "arn:aws:elasticloadbalancing:{region}:{account}:loadbalancer/{short_type}/{name}/{}",
        hex16()
    )
}

/// The ARN of a target group: `…:targetgroup/<name>/<16 hex>`.
#[must_use]
pub fn target_group(region: &str, account: &str, name: &str) -> String {
    format!(
        "arn:aws:elasticloadbalancing:{region}:{account}:targetgroup/{name}/{}",
        hex16()
    )
}

/// A new listener ARN under `lb_arn`.
#[must_use]
pub fn listener(lb_arn: &str) -> String {
    format!(
        "{}/{}",
        lb_arn.replacen(":loadbalancer/", ":listener/", 1),
        hex16()
    )
}

/// A new rule ARN under `listener_arn`.
#[must_use]
pub fn rule(listener_arn: &str) -> String {
    format!(
        "{}/{}",
        listener_arn.replacen(":listener/", ":listener-rule/", 1),
        hex16()
    )
}

/// The resource part of an ARN (after the fifth `:`), if `arn` is one.
#[must_use]
pub fn resource_part(arn: &str) -> Option<&str> {
    arn.strip_prefix("arn:")?.splitn(5, ':').nth(4)
}

/// The kinds of ELBv2 ARNs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// `loadbalancer/…`.
    LoadBalancer,
    /// `targetgroup/…`.
    TargetGroup,
    /// `listener/…`.
    Listener,
    /// `listener-rule/…`.
    Rule,
}

/// What an ARN names, when it is an ELBv2 ARN.
#[must_use]
pub fn kind(arn: &str) -> Option<Kind> {
    if !arn.starts_with("arn:aws:elasticloadbalancing:") {
        return None;
    }
    let res = resource_part(arn)?;
    let (head, _) = res.split_once('/')?;
    match head {
        "loadbalancer" => Some(Kind::LoadBalancer),
        "targetgroup" => Some(Kind::TargetGroup),
        "listener" => Some(Kind::Listener),
        "listener-rule" => Some(Kind::Rule),
        _ => None,
    }
}

/// The load balancer ARN a listener ARN extends (`None` if it is not a listener ARN).
#[must_use]
pub fn load_balancer_of_listener(listener_arn: &str) -> Option<String> {
    let (base, _) = listener_arn.rsplit_once('/')?;
    base.contains(":listener/")
        .then(|| base.replacen(":listener/", ":loadbalancer/", 1))
}

fn hex16() -> String {
    format!("{:016x}", rand::rng().random::<u64>())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arns_nest_and_parse() {
        let lb = load_balancer("us-east-1", "123456789012", "app", "web");
        assert!(lb.starts_with(
            "arn:aws:elasticloadbalancing:us-east-1:123456789012:loadbalancer/app/web/"
        ));
        assert_eq!(lb.rsplit('/').next().map(str::len), Some(16));
        let l = listener(&lb);
        assert_eq!(load_balancer_of_listener(&l).as_deref(), Some(lb.as_str()));
        let r = rule(&l);
        assert!(r.contains(":listener-rule/app/web/"));
        assert_eq!(kind(&lb), Some(Kind::LoadBalancer));
        assert_eq!(kind(&l), Some(Kind::Listener));
        assert_eq!(kind(&r), Some(Kind::Rule));
        assert_eq!(
            kind(&target_group("us-east-1", "1", "tg")),
            Some(Kind::TargetGroup)
        );
        assert_eq!(kind("vpc-1"), None);
        assert_eq!(kind("arn:aws:s3:::bucket"), None);
        assert_eq!(load_balancer_of_listener(&lb), None);
    }
}
