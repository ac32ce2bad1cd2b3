//! `DescribeAccountLimits` and `DescribeSSLPolicies`: the quotas this control plane enforces
//! and the security policies a listener may name.

use super::listener::MAX_LISTENERS;
use super::rule::MAX_RULES;
use super::tags::MAX_TAGS;
use super::target_group::MAX_TARGETS;

/// `(name, max)` of every quota Kumo enforces, with AWS's names.
#[must_use]
pub fn account_limits() -> Vec<(&'static str, String)> {
    vec![
        ("application-load-balancers", "50".into()),
        (
            "listeners-per-application-load-balancer",
            MAX_LISTENERS.to_string(),
        ),
        (
            "listeners-per-network-load-balancer",
            MAX_LISTENERS.to_string(),
        ),
        ("network-load-balancers", "50".into()),
        ("rules-per-application-load-balancer", MAX_RULES.to_string()),
        ("target-groups", "3000".into()),
        (
            "targets-per-application-load-balancer",
            MAX_TARGETS.to_string(),
        ),
        ("targets-per-network-load-balancer", "3000".into()),
        (
            "target-groups-per-action-on-application-load-balancer",
            "5".into(),
        ),
        (
            "target-groups-per-action-on-network-load-balancer",
            "1".into(),
        ),
        ("certificates-per-application-load-balancer", "25".into()),
        ("certificates-per-network-load-balancer", "25".into()),
        ("tags-per-resource", MAX_TAGS.to_string()),
    ]
}

/// A TLS security policy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SslPolicy {
    /// Name.
    pub name: &'static str,
    /// Protocols.
    pub protocols: &'static [&'static str],
    /// Ciphers, by priority.
    pub ciphers: &'static [&'static str],
    /// `application`, `network`.
    pub load_balancer_types: &'static [&'static str],
}

const TLS12_CIPHERS: &[&str] = &[
    "ECDHE-ECDSA-AES128-GCM-SHA256",
    "ECDHE-RSA-AES128-GCM-SHA256",
    "ECDHE-ECDSA-AES128-SHA256",
    "ECDHE-RSA-AES128-SHA256",
    "ECDHE-ECDSA-AES256-GCM-SHA384",
    "ECDHE-RSA-AES256-GCM-SHA384",
    "ECDHE-ECDSA-AES256-SHA384",
    "ECDHE-RSA-AES256-SHA384",
];

const TLS13_CIPHERS: &[&str] = &[
    "TLS_AES_128_GCM_SHA256",
    "TLS_AES_256_GCM_SHA384",
    "TLS_CHACHA20_POLY1305_SHA256",
    "ECDHE-ECDSA-AES128-GCM-SHA256",
    "ECDHE-RSA-AES128-GCM-SHA256",
    "ECDHE-ECDSA-AES256-GCM-SHA384",
    "ECDHE-RSA-AES256-GCM-SHA384",
];

/// The policies, default first.
pub const SSL_POLICIES: &[SslPolicy] = &[
    SslPolicy {
        name: "ELBSecurityPolicy-TLS13-1-2-2021-06",
        protocols: &["TLSv1.2", "TLSv1.3"],
        ciphers: TLS13_CIPHERS,
        load_balancer_types: &["application", "network"],
    },
    SslPolicy {
        name: "ELBSecurityPolicy-TLS13-1-3-2021-06",
        protocols: &["TLSv1.3"],
        ciphers: &[
            "TLS_AES_128_GCM_SHA256",
            "TLS_AES_256_GCM_SHA384",
            "TLS_CHACHA20_POLY1305_SHA256",
        ],
        load_balancer_types: &["application", "network"],
    },
    SslPolicy {
        name: "ELBSecurityPolicy-TLS-1-2-2017-01",
        protocols: &["TLSv1.2"],
        ciphers: TLS12_CIPHERS,
        load_balancer_types: &["application", "network"],
    },
    SslPolicy {
        name: "ELBSecurityPolicy-2016-08",
        protocols: &["TLSv1", "TLSv1.1", "TLSv1.2"],
        ciphers: TLS12_CIPHERS,
        load_balancer_types: &["application", "network"],
    },
];

impl super::Elbv2 {
    /// `DescribeSSLPolicies`: by names (an unknown one is `SSLPolicyNotFound`) and type.
    pub fn describe_ssl_policies(
        &self,
        names: &[String],
        load_balancer_type: Option<&str>,
    ) -> Result<Vec<&'static SslPolicy>, crate::ec2::Fault> {
        if let Some(missing) = names
            .iter()
            .find(|n| !SSL_POLICIES.iter().any(|p| p.name == n.as_str()))
        {
            return Err(crate::ec2::Fault::new(
                "SSLPolicyNotFound",
                format!("SSL policy '{missing}' not found"),
            ));
        }
        Ok(SSL_POLICIES
            .iter()
            .filter(|p| names.is_empty() || names.iter().any(|n| n == p.name))
            .filter(|p| load_balancer_type.is_none_or(|t| p.load_balancer_types.contains(&t)))
            .collect())
    }
}
