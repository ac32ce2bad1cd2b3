//! `haproxy.cfg` rendered whole from an [`LbSpec`].
//!
//! Why rendered whole: the spec is the complete intent, so the file is a pure function of it
//! (testable without haproxy) and a reload with an unchanged file is skipped.
//!
//! Rule order: ELBv2 evaluates rules by priority and the first match wins, but haproxy runs
//! every `http-request` action before any `use_backend`. So each frontend first *decides*:
//! `http-request set-var(txn.rule) int(N) if !{ var(txn.rule) -m found } <conditions>` in
//! priority order (the default rule has no conditions), and only then acts on `txn.rule` —
//! fixed responses and redirects as `http-request return` / `redirect`, forwards as
//! `use_backend`. Weighted forwards draw `txn.pick` once from `rand(total)`.
//!
//! Everything that came from a request (paths, hosts, bodies) reaches the file only as a regex
//! of escaped literals, percent-encoded redirect parts, or a separate body file: nothing can
//! inject directives.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;

use kumo_driver_api::{
    LbAction, LbAlgorithm, LbCondition, LbHealthCheck, LbListener, LbProtocol, LbSpec,
    LbStickiness, LbTargetGroup, NetworkError,
};

/// What rendering produced: the config and the files it references.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rendered {
    /// `haproxy.cfg`.
    pub config: String,
    /// Body files of fixed responses: (file name in the runtime dir, content).
    pub bodies: Vec<(String, String)>,
    /// Backend name → target group ARN (to map `show stat` back).
    pub backends: BTreeMap<String, String>,
}

/// The backend name of the `n`th target group.
pub fn backend_name(n: usize) -> String {
    format!("tg{n}")
}

/// A server's name: `<target id>_<port>` (ids are `i-…` or addresses: safe characters).
pub fn server_name(id: &str, port: u16) -> String {
    format!("{id}_{port}")
}

/// `*`/`?` wildcards as an anchored regex of escaped literals.
fn wildcard_regex(pattern: &str) -> String {
    format!("^{}$", wildcard(pattern, ".*", "."))
}

/// `*`/`?` wildcards as an unanchored regex: `many` for `*`, `one` for `?`, everything else a
/// literal.
fn wildcard(pattern: &str, many: &str, one: &str) -> String {
    let mut re = String::new();
    for c in pattern.chars() {
        match c {
            '*' => re.push_str(many),
            '?' => re.push_str(one),
            c if c.is_ascii_alphanumeric() || c == '/' || c == '-' || c == '_' => re.push(c),
            // Anything else as a hex escape: no quoting, spaces or backslash sequences reach
            // haproxy's parser.
            c => {
                let mut buf = [0u8; 4];
                for b in c.encode_utf8(&mut buf).bytes() {
                    let _ = write!(re, "\\x{b:02x}");
                }
            }
        }
    }
    re
}

/// Status codes as an anchored regex (`200-299,404` → `^(2[0-9][0-9]|404)$`-like: expanded).
pub fn status_regex(matcher: &str) -> Result<String, NetworkError> {
    let bad = || NetworkError::Invalid(format!("bad matcher {matcher:?}"));
    let mut codes: Vec<u16> = Vec::new();
    for part in matcher.split(',') {
        let part = part.trim();
        let (lo, hi) = match part.split_once('-') {
            Some((a, b)) => (a.trim(), b.trim()),
            None => (part, part),
        };
        let lo: u16 = lo.parse().map_err(|_| bad())?;
        let hi: u16 = hi.parse().map_err(|_| bad())?;
        if lo < 100 || hi > 599 || hi < lo {
            return Err(bad());
        }
        codes.extend(lo..=hi);
    }
    codes.sort_unstable();
    codes.dedup();
    let alts: Vec<String> = codes.iter().map(ToString::to_string).collect();
    Ok(format!("^({})$", alts.join("|")))
}

/// Percent-encodes everything but unreserved characters and `/`, then doubles `%` for
/// haproxy's log-format strings.
fn literal(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~/:".contains(&b) {
            out.push(char::from(b));
        } else {
            let _ = write!(out, "%%{b:02X}");
        }
    }
    out
}

/// A redirect component: AWS's `#{…}` templates become sample fetches, the rest literals.
fn template(s: &str, listener_port: u16) -> String {
    let mut out = String::new();
    let mut rest = s;
    while !rest.is_empty() {
        let next = ["#{host}", "#{path}", "#{port}", "#{query}", "#{protocol}"]
            .iter()
            .filter_map(|t| rest.find(t).map(|i| (i, *t)))
            .min();
        match next {
            Some((i, t)) => {
                out.push_str(&literal(&rest[..i]));
                out.push_str(match t {
                    "#{host}" => "%[req.hdr(host),field(1,:)]",
                    // `path` starts with `/`; the template's `/#{path}` already has one.
                    "#{path}" => "%[path,regsub(^/,)]",
                    "#{query}" => "%[query]",
                    "#{protocol}" => "http",
                    _ => "",
                });
                if t == "#{port}" {
                    out.push_str(&listener_port.to_string());
                }
                rest = &rest[i + t.len()..];
            }
            None => {
                out.push_str(&literal(rest));
                rest = "";
            }
        }
    }
    out
}

#[allow(clippy::too_many_arguments)]
fn redirect_lines(
    out: &mut String,
    cond: &str,
    listener_port: u16,
    protocol: &str,
    host: &str,
    port: &str,
    path: &str,
    query: &str,
    status: u16,
) {
    let scheme = match protocol {
        "#{protocol}" | "HTTP" | "http" => "http",
        _ => "https",
    };
    let port_part = match (scheme, port) {
        ("http", "#{port}") if listener_port == 80 => String::new(),
        ("http", "80") | ("https", "443") => String::new(),
        ("https", "#{port}") if listener_port == 443 => String::new(),
        _ => format!(":{}", template(port, listener_port)),
    };
    let base = format!(
        "{scheme}://{}{port_part}{}",
        template(host, listener_port),
        template(path, listener_port)
    );
    let code = if status == 301 { 301 } else { 302 };
    if query.is_empty() {
        let _ = writeln!(
            out,
            "    http-request redirect location {base} code {code} if {cond}"
        );
    } else {
        let q = template(query, listener_port);
        let _ = writeln!(
            out,
            "    http-request redirect location {base}?{q} code {code} if {cond} {{ query -m len gt 0 }}"
        );
        let _ = writeln!(
            out,
            "    http-request redirect location {base} code {code} if {cond}"
        );
    }
}

fn conditions(conds: &[LbCondition]) -> Result<String, NetworkError> {
    let mut out = String::new();
    for c in conds {
        match c {
            LbCondition::PathPattern(v) => regex_match(&mut out, "path", "", v),
            LbCondition::HostHeader(v) => {
                regex_match(&mut out, "req.hdr(host),field(1,:)", " -i", v);
            }
            LbCondition::HttpHeader { name, values } => {
                if !is_word(name, |b| {
                    b.is_ascii_alphanumeric() || b == b'-' || b == b'_'
                }) {
                    return Err(NetworkError::Invalid(format!("bad header name {name:?}")));
                }
                regex_match(&mut out, &format!("req.hdr({name})"), " -i", values);
            }
            LbCondition::HttpRequestMethod(methods) => {
                if let Some(bad) = methods
                    .iter()
                    .find(|m| !is_word(m, |b| b.is_ascii_uppercase() || b == b'-' || b == b'_'))
                {
                    return Err(NetworkError::Invalid(format!("bad method {bad:?}")));
                }
                let _ = write!(out, " {{ method -m str {} }}", methods.join(" "));
            }
            LbCondition::QueryString(pairs) => {
                // Any pair, anywhere in the raw query: `(^|&)KEY=VALUE(&|$)`, a key or value
                // wildcard never crossing a separator.
                let res: Vec<String> = pairs
                    .iter()
                    .map(|(k, v)| {
                        let key = k.as_deref().map_or_else(
                            || "[^&=]*".to_owned(),
                            |k| wildcard(k, "[^&=]*", "[^&=]"),
                        );
                        format!("(^|&){key}={}(&|$)", wildcard(v, "[^&]*", "[^&]"))
                    })
                    .collect();
                let _ = write!(out, " {{ query -m reg -i {} }}", res.join(" "));
            }
            LbCondition::SourceIp(cidrs) => {
                for c in cidrs {
                    let ok = c.split_once('/').is_some_and(|(a, l)| {
                        a.parse::<std::net::IpAddr>().is_ok() && l.parse::<u8>().is_ok()
                    });
                    if !ok {
                        return Err(NetworkError::Invalid(format!("bad source CIDR {c:?}")));
                    }
                }
                let _ = write!(out, " {{ src {} }}", cidrs.join(" "));
            }
        }
    }
    Ok(out)
}

/// ` { FETCH -m reg FLAGS RE… }` of wildcard patterns.
fn regex_match(out: &mut String, fetch: &str, flags: &str, patterns: &[String]) {
    let res: Vec<String> = patterns.iter().map(|v| wildcard_regex(v)).collect();
    let _ = write!(out, " {{ {fetch} -m reg{flags} {} }}", res.join(" "));
}

/// Whether `s` is a non-empty word of at most 64 bytes that `ok` accepts.
fn is_word(s: &str, ok: impl Fn(u8) -> bool) -> bool {
    !s.is_empty() && s.len() <= 64 && s.bytes().all(ok)
}

fn frontend(
    out: &mut String,
    spec: &LbSpec,
    l: &LbListener,
    tg_index: &BTreeMap<&str, usize>,
    bodies: &mut Vec<(String, String)>,
    dir: &Path,
) -> Result<(), NetworkError> {
    let mode = match l.protocol {
        LbProtocol::Http => "http",
        LbProtocol::Tcp => "tcp",
    };
    let _ = writeln!(out, "frontend l{}\n    mode {mode}", l.port);
    for n in &spec.nodes {
        let _ = writeln!(out, "    bind {}:{}", n.ip, l.port);
    }
    let backend_of = |arn: &str| {
        tg_index
            .get(arn)
            .map(|n| backend_name(*n))
            .ok_or_else(|| NetworkError::Invalid(format!("unknown target group {arn}")))
    };
    if l.protocol == LbProtocol::Tcp {
        // Network load balancers forward; the default action is the only one.
        if let Some(LbAction::Forward(groups)) = l.rules.last().map(|r| &r.action)
            && let Some((arn, _)) = groups.iter().find(|(_, w)| *w > 0).or(groups.first())
        {
            let _ = writeln!(out, "    default_backend {}", backend_of(arn)?);
        }
        out.push('\n');
        return Ok(());
    }
    let _ = writeln!(
        out,
        "    option forwardfor\n    http-request set-header X-Forwarded-Proto http\n    http-request set-header X-Forwarded-Port {}",
        l.port
    );
    for (n, r) in l.rules.iter().enumerate() {
        let _ = writeln!(
            out,
            "    http-request set-var(txn.rule) int({n}) if !{{ var(txn.rule) -m found }}{}",
            conditions(&r.conditions)?
        );
    }
    for (n, r) in l.rules.iter().enumerate() {
        let cond = format!("{{ var(txn.rule) -m int {n} }}");
        match &r.action {
            LbAction::FixedResponse {
                status,
                content_type,
                body,
            } => {
                let mut line = format!("    http-request return status {status}");
                if let Some(ct) = content_type {
                    if !ct
                        .bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b"/-+.;= ".contains(&b))
                    {
                        return Err(NetworkError::Invalid(format!("bad content type {ct:?}")));
                    }
                    let _ = write!(line, " content-type \"{ct}\"");
                }
                if let Some(b) = body.as_ref().filter(|b| !b.is_empty()) {
                    let name = format!("body-{}-{n}", l.port);
                    let _ = write!(line, " file {}", dir.join(&name).display());
                    bodies.push((name, b.clone()));
                }
                let _ = writeln!(out, "{line} if {cond}");
            }
            LbAction::Redirect {
                protocol,
                host,
                port,
                path,
                query,
                status,
            } => redirect_lines(
                out, &cond, l.port, protocol, host, port, path, query, *status,
            ),
            LbAction::Forward(groups) => {
                let live: Vec<&(String, u32)> = groups.iter().filter(|(_, w)| *w > 0).collect();
                match live.as_slice() {
                    [] => {
                        let _ = writeln!(out, "    http-request return status 503 if {cond}");
                    }
                    [(arn, _)] => {
                        let _ = writeln!(out, "    use_backend {} if {cond}", backend_of(arn)?);
                    }
                    many => {
                        let total: u32 = many.iter().map(|(_, w)| *w).sum();
                        let _ = writeln!(
                            out,
                            "    http-request set-var(txn.pick) rand({total}) if {cond}"
                        );
                        let mut upto = 0;
                        for (arn, w) in many {
                            upto += w;
                            let _ = writeln!(
                                out,
                                "    use_backend {} if {cond} {{ var(txn.pick) -m int lt {upto} }}",
                                backend_of(arn)?
                            );
                        }
                    }
                }
            }
        }
    }
    out.push('\n');
    Ok(())
}

fn backend(
    out: &mut String,
    name: &str,
    tg: &LbTargetGroup,
    application: bool,
) -> Result<(), NetworkError> {
    let mode = if application && tg.protocol == LbProtocol::Http {
        "http"
    } else {
        "tcp"
    };
    let balance = match tg.algorithm {
        LbAlgorithm::RoundRobin => "roundrobin",
        LbAlgorithm::LeastOutstandingRequests => "leastconn",
        LbAlgorithm::WeightedRandom => "random",
    };
    let _ = writeln!(
        out,
        "backend {name}\n    mode {mode}\n    balance {balance}"
    );
    let sticky = stickiness(out, tg.stickiness.as_ref(), mode == "http")?;
    let h: &LbHealthCheck = &tg.health;
    if h.enabled {
        if h.protocol == LbProtocol::Http {
            let path = if h.path.starts_with('/') {
                wildcard_safe_path(&h.path)?
            } else {
                "/".to_owned()
            };
            let _ = writeln!(
                out,
                "    option httpchk GET {path}\n    http-check expect rstatus {}",
                status_regex(&h.matcher)?
            );
        }
        let _ = writeln!(
            out,
            "    timeout check {}s\n    default-server inter {}s fastinter {}s downinter {}s rise {} fall {}",
            h.timeout_secs.max(1),
            h.interval_secs.max(1),
            h.interval_secs.max(1),
            h.interval_secs.max(1),
            h.healthy_threshold.max(1),
            h.unhealthy_threshold.max(1)
        );
    }
    for t in &tg.targets {
        let mut line = format!(
            "    server {} {}:{}",
            server_name(&t.id, t.port),
            t.ip,
            t.port
        );
        if h.enabled {
            line.push_str(" check");
            if let Some(p) = h.port {
                let _ = write!(line, " port {p}");
            }
        }
        if sticky {
            let _ = write!(line, " cookie {}", server_cookie(&t.id, t.port));
        }
        let _ = writeln!(out, "{line}");
    }
    out.push('\n');
    Ok(())
}

/// The cookie of the load balancer's own stickiness, as AWS names it.
pub const LB_COOKIE: &str = "AWSALB";

/// A server's value of the [`LB_COOKIE`]: opaque to clients (a hash of the target), stable
/// across reloads, so a client keeps its target while the target stays registered.
pub fn server_cookie(id: &str, port: u16) -> String {
    use sha2::{Digest, Sha256};
    let digest = Sha256::digest(format!("kumo-lb/{id}/{port}").as_bytes());
    digest.iter().take(12).map(|b| format!("{b:02x}")).collect()
}

/// Writes a backend's stickiness lines; whether servers need a [`server_cookie`].
///
/// * `lb_cookie`: haproxy inserts `AWSALB` (`Max-Age` = the duration) and routes a request
///   carrying it to its server while that server is up;
/// * `app_cookie`: a stick table learns the application cookie's value from responses and
///   routes requests presenting it, entries expiring after the duration;
/// * `source_ip`: a stick table by client address (network load balancers; AWS keeps no
///   duration, the table forgets after an idle hour).
fn stickiness(
    out: &mut String,
    s: Option<&LbStickiness>,
    http: bool,
) -> Result<bool, NetworkError> {
    match s {
        None => Ok(false),
        Some(LbStickiness::LbCookie { duration_secs }) if http => {
            let _ = writeln!(
                out,
                "    cookie {LB_COOKIE} insert indirect nocache attr \"Max-Age={}\"",
                duration_secs.max(&1)
            );
            Ok(true)
        }
        Some(LbStickiness::AppCookie {
            cookie_name,
            duration_secs,
        }) if http => {
            let token = !cookie_name.is_empty()
                && cookie_name.len() <= 128
                && cookie_name
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b));
            if !token {
                return Err(NetworkError::Invalid(format!(
                    "bad application cookie name {cookie_name:?}"
                )));
            }
            let _ = writeln!(
                out,
                "    stick-table type string len 128 size 100k expire {}s\n    stick on req.cook({cookie_name})\n    stick store-response res.cook({cookie_name})",
                duration_secs.max(&1)
            );
            Ok(false)
        }
        Some(LbStickiness::SourceIp) => {
            let _ = writeln!(
                out,
                "    stick-table type ip size 100k expire 1h\n    stick on src"
            );
            Ok(false)
        }
        // Cookies need HTTP: a TCP group has no stickiness of that kind.
        Some(_) => Ok(false),
    }
}

/// A health-check path as one config word (AWS allows printable ASCII; anything else is
/// refused, spaces and quotes percent-encoded).
fn wildcard_safe_path(path: &str) -> Result<String, NetworkError> {
    let mut out = String::new();
    for b in path.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~/:?&=+,;@!*()".contains(&b) {
            out.push(char::from(b));
        } else if b.is_ascii_graphic() || b == b' ' {
            let _ = write!(out, "%{b:02X}");
        } else {
            return Err(NetworkError::Invalid(format!(
                "bad health-check path {path:?}"
            )));
        }
    }
    Ok(out)
}

/// Renders the configuration of `spec`; `dir` is its runtime directory (sockets, state file,
/// body files).
pub fn render(spec: &LbSpec, dir: &Path, user: Option<&str>) -> Result<Rendered, NetworkError> {
    let tg_index: BTreeMap<&str, usize> = spec
        .target_groups
        .keys()
        .enumerate()
        .map(|(n, k)| (k.as_str(), n))
        .collect();
    let mut out = String::new();
    let _ = writeln!(
        out,
        "# Rendered by Kumo for load balancer {} in {}; do not edit.\nglobal\n    maxconn 4096\n    stats socket {} mode 600 level admin expose-fd listeners\n    server-state-file {}\n    hard-stop-after 5m",
        spec.id,
        spec.vpc_id,
        dir.join("stats.sock").display(),
        dir.join("server-state").display()
    );
    if let Some(u) = user {
        let _ = writeln!(out, "    user {u}\n    group {u}");
    }
    let idle = spec.idle_timeout_secs.max(1);
    let _ = writeln!(
        out,
        "\ndefaults\n    load-server-state-from-file global\n    timeout connect 5s\n    timeout client {idle}s\n    timeout server {idle}s\n    timeout http-request 60s\n"
    );
    let mut bodies = Vec::new();
    for l in &spec.listeners {
        frontend(&mut out, spec, l, &tg_index, &mut bodies, dir)?;
    }
    let mut backends = BTreeMap::new();
    for (arn, tg) in &spec.target_groups {
        let name = backend_name(tg_index.get(arn.as_str()).copied().unwrap_or_default());
        backend(&mut out, &name, tg, spec.application)?;
        backends.insert(name, arn.clone());
    }
    Ok(Rendered {
        config: out,
        bodies,
        backends,
    })
}

#[cfg(test)]
mod tests;
