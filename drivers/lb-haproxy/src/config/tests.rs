use std::collections::BTreeMap;
use std::path::Path;

use kumo_driver_api::{
    LbAction, LbAlgorithm, LbCondition, LbHealthCheck, LbListener, LbNode, LbProtocol, LbRule,
    LbSpec, LbStickiness, LbTarget, LbTargetGroup,
};

use super::*;

fn health() -> LbHealthCheck {
    LbHealthCheck {
        enabled: true,
        protocol: LbProtocol::Http,
        port: None,
        path: "/health".into(),
        interval_secs: 5,
        timeout_secs: 2,
        healthy_threshold: 2,
        unhealthy_threshold: 2,
        matcher: "200-202,204".into(),
    }
}

fn spec() -> LbSpec {
    let tg = |ip: &str| LbTargetGroup {
        protocol: LbProtocol::Http,
        targets: vec![LbTarget {
            id: "i-0abc".into(),
            ip: ip.parse().expect("ip"),
            port: 80,
        }],
        health: health(),
        stickiness: None,
        algorithm: LbAlgorithm::RoundRobin,
    };
    LbSpec {
        id: "0123abcd".into(),
        vpc_id: "vpc-1".into(),
        application: true,
        nodes: vec![LbNode {
            eni_id: "eni-1".into(),
            tap: "tap000000000001".into(),
            mac: "02:00:00:00:00:01".into(),
            ip: "10.0.1.4".parse().expect("ip"),
            prefix_len: 24,
            gateway: "10.0.1.1".parse().expect("ip"),
        }],
        listeners: vec![LbListener {
            port: 80,
            protocol: LbProtocol::Http,
            rules: vec![
                LbRule {
                    conditions: vec![LbCondition::PathPattern(vec!["/api/*".into()])],
                    action: LbAction::Forward(vec![("arn:b".into(), 1)]),
                },
                LbRule {
                    conditions: vec![LbCondition::HostHeader(vec!["*.Example.com".into()])],
                    action: LbAction::FixedResponse {
                        status: 418,
                        content_type: Some("text/plain".into()),
                        body: Some("teapot \"$HOME\"".into()),
                    },
                },
                LbRule {
                    conditions: vec![
                        LbCondition::HttpHeader {
                            name: "X-Canary".into(),
                            values: vec!["on*".into()],
                        },
                        LbCondition::HttpRequestMethod(vec!["GET".into(), "HEAD".into()]),
                        LbCondition::QueryString(vec![
                            (Some("v".into()), "2*".into()),
                            (None, "beta".into()),
                        ]),
                        LbCondition::SourceIp(vec!["10.0.0.0/16".into(), "2001:db8::/32".into()]),
                    ],
                    action: LbAction::Forward(vec![("arn:c".into(), 1)]),
                },
                LbRule {
                    conditions: vec![LbCondition::PathPattern(vec!["/old".into()])],
                    action: LbAction::Redirect {
                        protocol: "#{protocol}".into(),
                        host: "#{host}".into(),
                        port: "#{port}".into(),
                        path: "/new/#{path}".into(),
                        query: "#{query}".into(),
                        status: 301,
                    },
                },
                LbRule {
                    conditions: vec![],
                    action: LbAction::Forward(vec![("arn:a".into(), 1), ("arn:b".into(), 3)]),
                },
            ],
        }],
        target_groups: BTreeMap::from([
            ("arn:a".to_owned(), tg("10.0.1.10")),
            ("arn:b".to_owned(), tg("10.0.1.11")),
            (
                "arn:c".to_owned(),
                LbTargetGroup {
                    stickiness: Some(LbStickiness::LbCookie { duration_secs: 600 }),
                    algorithm: LbAlgorithm::LeastOutstandingRequests,
                    ..tg("10.0.1.12")
                },
            ),
            (
                "arn:d".to_owned(),
                LbTargetGroup {
                    stickiness: Some(LbStickiness::AppCookie {
                        cookie_name: "SESSIONID".into(),
                        duration_secs: 120,
                    }),
                    algorithm: LbAlgorithm::WeightedRandom,
                    ..tg("10.0.1.13")
                },
            ),
            (
                "arn:e".to_owned(),
                LbTargetGroup {
                    protocol: LbProtocol::Tcp,
                    stickiness: Some(LbStickiness::SourceIp),
                    ..tg("10.0.1.14")
                },
            ),
        ]),
        idle_timeout_secs: 60,
    }
}

#[test]
fn header_method_query_and_source_conditions() {
    let r = render(&spec(), Path::new("/run/lb/x"), None).expect("renders");
    assert!(
        r.config.contains(
            "{ req.hdr(X-Canary) -m reg -i ^on.*$ } { method -m str GET HEAD } { query -m reg -i (^|&)v=2[^&]*(&|$) (^|&)[^&=]*=beta(&|$) } { src 10.0.0.0/16 2001:db8::/32 }"
        ),
        "{}",
        r.config
    );
    for bad in [
        LbCondition::HttpHeader {
            name: "X Bad".into(),
            values: vec!["x".into()],
        },
        LbCondition::HttpRequestMethod(vec!["get }".into()]),
        LbCondition::SourceIp(vec!["10.0.0.0".into()]),
    ] {
        let mut s = spec();
        s.listeners[0].rules[0].conditions = vec![bad.clone()];
        assert!(render(&s, Path::new("/d"), None).is_err(), "{bad:?}");
    }
}

#[test]
fn stickiness_and_algorithms() {
    let r = render(&spec(), Path::new("/run/lb/x"), None).expect("renders");
    let backend = |n: usize| {
        let start = r
            .config
            .find(&format!("backend {}\n", backend_name(n)))
            .unwrap_or_else(|| panic!("{}", r.config));
        let rest = &r.config[start..];
        rest[..rest.find("\n\n").unwrap_or(rest.len())].to_owned()
    };
    let (a, c, d, e) = (backend(0), backend(2), backend(3), backend(4));
    assert!(
        a.contains("balance roundrobin") && !a.contains("cookie"),
        "{a}"
    );
    assert!(c.contains("balance leastconn"), "{c}");
    assert!(
        c.contains("cookie AWSALB insert indirect nocache attr \"Max-Age=600\""),
        "{c}"
    );
    let cookie = server_cookie("i-0abc", 80);
    assert!(c.contains(&format!(" cookie {cookie}")), "{c}");
    assert_eq!(cookie.len(), 24);
    assert!(d.contains("balance random"), "{d}");
    assert!(
        d.contains("stick-table type string len 128 size 100k expire 120s\n    stick on req.cook(SESSIONID)\n    stick store-response res.cook(SESSIONID)"),
        "{d}"
    );
    assert!(e.contains("mode tcp") && e.contains("stick on src"), "{e}");
    // A cookie name that is no HTTP token never reaches the configuration.
    let mut bad = spec();
    if let Some(g) = bad.target_groups.get_mut("arn:d") {
        g.stickiness = Some(LbStickiness::AppCookie {
            cookie_name: "a b)".into(),
            duration_secs: 1,
        });
    }
    assert!(render(&bad, Path::new("/d"), None).is_err());
}

#[test]
fn rules_decide_in_priority_order_then_act() {
    let r = render(&spec(), Path::new("/run/lb/x"), Some("haproxy")).expect("renders");
    let c = &r.config;
    let decide = c
        .find("set-var(txn.rule) int(4)")
        .expect("default rule decided");
    let act = c
        .find("http-request return status 418")
        .expect("fixed response");
    assert!(decide < act, "{c}");
    assert!(
        c.contains(
            "set-var(txn.rule) int(0) if !{ var(txn.rule) -m found } { path -m reg ^/api/.*$ }"
        ),
        "{c}"
    );
    assert!(
        c.contains("{ req.hdr(host),field(1,:) -m reg -i ^.*\\x2eExample\\x2ecom$ }"),
        "{c}"
    );
    assert!(
        c.contains("use_backend tg1 if { var(txn.rule) -m int 0 }"),
        "{c}"
    );
    // The weighted default forward draws once and splits 1:3.
    assert!(
        c.contains("set-var(txn.pick) rand(4) if { var(txn.rule) -m int 4 }"),
        "{c}"
    );
    assert!(
        c.contains("use_backend tg0 if { var(txn.rule) -m int 4 } { var(txn.pick) -m int lt 1 }"),
        "{c}"
    );
    assert!(
        c.contains("use_backend tg1 if { var(txn.rule) -m int 4 } { var(txn.pick) -m int lt 4 }"),
        "{c}"
    );
    // Bodies go to files: no quoting games in the config.
    assert!(
        c.contains("content-type \"text/plain\" file /run/lb/x/body-80-1 if"),
        "{c}"
    );
    assert_eq!(
        r.bodies,
        vec![("body-80-1".to_owned(), "teapot \"$HOME\"".to_owned())]
    );
    assert!(!c.contains("$HOME"), "{c}");
    assert!(
        c.contains("http-request redirect location http://%[req.hdr(host),field(1,:)]/new/%[path,regsub(^/,)]?%[query] code 301 if { var(txn.rule) -m int 3 } { query -m len gt 0 }"),
        "{c}"
    );
    assert!(c.contains("bind 10.0.1.4:80"), "{c}");
    assert!(c.contains("option httpchk GET /health"), "{c}");
    assert!(
        c.contains("http-check expect rstatus ^(200|201|202|204)$"),
        "{c}"
    );
    assert!(
        c.contains("default-server inter 5s fastinter 5s downinter 5s rise 2 fall 2"),
        "{c}"
    );
    assert!(c.contains("server i-0abc_80 10.0.1.10:80 check"), "{c}");
    assert!(c.contains("user haproxy"), "{c}");
    assert_eq!(r.backends.get("tg0").map(String::as_str), Some("arn:a"));
}

#[test]
fn network_load_balancers_proxy_tcp() {
    let mut s = spec();
    s.application = false;
    s.listeners = vec![LbListener {
        port: 5000,
        protocol: LbProtocol::Tcp,
        rules: vec![LbRule {
            conditions: vec![],
            action: LbAction::Forward(vec![("arn:a".into(), 1)]),
        }],
    }];
    for tg in s.target_groups.values_mut() {
        tg.protocol = LbProtocol::Tcp;
        tg.health.protocol = LbProtocol::Tcp;
    }
    let c = render(&s, Path::new("/d"), None).expect("renders").config;
    assert!(
        c.contains("frontend l5000\n    mode tcp\n    bind 10.0.1.4:5000\n    default_backend tg0"),
        "{c}"
    );
    assert!(c.contains("backend tg0\n    mode tcp"), "{c}");
    assert!(!c.contains("httpchk"), "{c}");
    assert!(!c.contains("user "), "{c}");
}

#[test]
fn hostile_values_cannot_inject_directives() {
    let mut s = spec();
    s.listeners[0].rules[0].conditions = vec![LbCondition::PathPattern(vec![
        "/x }\n    server evil 1.2.3.4:80".into(),
    ])];
    let c = render(&s, Path::new("/d"), None).expect("renders").config;
    assert!(!c.contains("server evil"), "{c}");
    s.listeners[0].rules[1].action = LbAction::FixedResponse {
        status: 200,
        content_type: Some("text/plain\"\n    x".into()),
        body: None,
    };
    assert!(render(&s, Path::new("/d"), None).is_err());
    assert!(status_regex("99").is_err());
    assert!(status_regex("300-200").is_err());
    assert_eq!(status_regex("200").expect("ok"), "^(200)$");
}

/// The rendered configuration is accepted by haproxy itself (when installed).
#[test]
fn haproxy_accepts_the_rendered_config() {
    if !crate::available() {
        eprintln!("SKIPPED: haproxy is not installed (drivers/lb-haproxy/setup-haproxy.sh)");
        return;
    }
    let dir = std::env::temp_dir().join(format!("kumo-lb-cfg-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    let r = render(&spec(), &dir, None).expect("renders");
    for (name, body) in &r.bodies {
        std::fs::write(dir.join(name), body).expect("body");
    }
    let cfg = dir.join("haproxy.cfg");
    std::fs::write(&cfg, &r.config).expect("cfg");
    let out = std::process::Command::new("haproxy")
        .args(["-c", "-f"])
        .arg(&cfg)
        .output()
        .expect("haproxy -c");
    let _ = std::fs::remove_dir_all(&dir);
    assert!(
        out.status.success(),
        "{}\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
        r.config
    );
}
