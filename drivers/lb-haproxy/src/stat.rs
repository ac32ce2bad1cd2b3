//! Target health from haproxy's runtime API (`show stat`, CSV), mapped to ELBv2's states.
//!
//! haproxy's view per server: `status` (`UP`, `DOWN`, `UP 1/3` going down, `DOWN 1/2` going
//! up, `no check`, `MAINT`), `check_status` (`INI` before the first check, `L7OK`, `L7STS` a
//! status mismatch, `L4CON` refused, `L4TOUT`/`L7TOUT` timeouts, `SOCKERR`…) and
//! `check_code` (the HTTP status of the last check). ELBv2's: `initial` until the first
//! verdict, `healthy`, `unhealthy` with `Target.ResponseCodeMismatch`, `Target.Timeout` or
//! `Target.FailedHealthChecks`. A server still `INI` or rising from its initial state is
//! `initial`; a server whose checks are off counts as healthy (it receives traffic).

use std::collections::BTreeMap;

use kumo_driver_api::{ObservedHealth, TargetObservation, UnhealthyReason};

/// Maps one server's `status`, `check_status` and `check_code`.
pub fn health(status: &str, check_status: &str, check_code: &str) -> ObservedHealth {
    let check = check_status.trim_start_matches('*');
    if status == "no check" {
        return ObservedHealth::Healthy;
    }
    if check.is_empty() || check.starts_with("INI") {
        return ObservedHealth::Initial;
    }
    if status.starts_with("UP") || status == "NOLB" {
        return ObservedHealth::Healthy;
    }
    ObservedHealth::Unhealthy(match check {
        "L7STS" => UnhealthyReason::ResponseCodeMismatch(check_code.parse().ok()),
        "L4TOUT" | "L6TOUT" | "L7TOUT" => UnhealthyReason::Timeout,
        _ => UnhealthyReason::FailedHealthChecks,
    })
}

/// Parses `show stat` output into observations, backends named by `backends` (backend name →
/// target group ARN); servers are `<target id>_<port>`.
pub fn parse(csv: &str, backends: &BTreeMap<String, String>) -> Vec<TargetObservation> {
    let mut lines = csv.lines();
    let Some(header) = lines.next() else {
        return Vec::new();
    };
    let cols: Vec<&str> = header.trim_start_matches("# ").split(',').collect();
    let col = |name: &str| cols.iter().position(|c| *c == name);
    let (Some(px), Some(sv), Some(st), Some(cs), Some(cc)) = (
        col("pxname"),
        col("svname"),
        col("status"),
        col("check_status"),
        col("check_code"),
    ) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for line in lines {
        let f: Vec<&str> = line.split(',').collect();
        let get = |i: usize| f.get(i).copied().unwrap_or_default();
        let Some(arn) = backends.get(get(px)) else {
            continue;
        };
        let server = get(sv);
        if server == "BACKEND" || server == "FRONTEND" {
            continue;
        }
        let Some((id, port)) = server.rsplit_once('_') else {
            continue;
        };
        let Ok(port) = port.parse() else {
            continue;
        };
        out.push(TargetObservation {
            target_group: arn.clone(),
            target_id: id.to_owned(),
            port,
            health: health(get(st), get(cs), get(cc)),
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn maps_haproxy_states_to_elbv2() {
        assert_eq!(health("UP", "L7OK", "200"), ObservedHealth::Healthy);
        assert_eq!(health("UP 1/3", "* L7STS", "500"), ObservedHealth::Healthy);
        assert_eq!(health("UP", "INI", ""), ObservedHealth::Initial);
        assert_eq!(health("DOWN", "", ""), ObservedHealth::Initial);
        assert_eq!(
            health("DOWN", "L7STS", "503"),
            ObservedHealth::Unhealthy(UnhealthyReason::ResponseCodeMismatch(Some(503)))
        );
        assert_eq!(
            health("DOWN 1/2", "L4CON", ""),
            ObservedHealth::Unhealthy(UnhealthyReason::FailedHealthChecks)
        );
        assert_eq!(
            health("DOWN", "L4TOUT", ""),
            ObservedHealth::Unhealthy(UnhealthyReason::Timeout)
        );
        assert_eq!(health("no check", "", ""), ObservedHealth::Healthy);
    }

    #[test]
    fn parses_show_stat() {
        let csv = "# pxname,svname,qcur,status,check_status,check_code,\n\
                   l80,FRONTEND,0,OPEN,,,\n\
                   tg0,i-0abc_80,0,UP,L7OK,200,\n\
                   tg0,10.0.1.7_8080,0,DOWN,L4CON,,\n\
                   tg0,BACKEND,0,UP,,,\n\
                   other,x_1,0,UP,L7OK,200,\n";
        let backends = BTreeMap::from([("tg0".to_owned(), "arn:tg".to_owned())]);
        let obs = parse(csv, &backends);
        assert_eq!(obs.len(), 2, "{obs:?}");
        assert_eq!(obs[0].target_id, "i-0abc");
        assert_eq!(obs[0].port, 80);
        assert_eq!(obs[0].health, ObservedHealth::Healthy);
        assert_eq!(obs[1].target_id, "10.0.1.7");
        assert_eq!(
            obs[1].health,
            ObservedHealth::Unhealthy(UnhealthyReason::FailedHealthChecks)
        );
        assert_eq!(obs[1].target_group, "arn:tg");
    }
}
