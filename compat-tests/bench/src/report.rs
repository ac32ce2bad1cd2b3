//! The report: one markdown table row per figure, ratios and targets, and the raw JSON.
//!
//! Ratios are kumo/baseline of the same figure. For throughput (req/s, MB/s) higher is
//! better; for latency rows a ratio above 1 means Kumo is slower.

use serde::Serialize;

use crate::workload::Measurement;

/// Which figure of a measurement a row shows.
#[derive(Debug, Clone, Copy, Serialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum Metric {
    RequestsPerSec,
    P50Ms,
    P99Ms,
    MbPerSec,
}

impl Metric {
    fn label(self) -> &'static str {
        match self {
            Self::RequestsPerSec => "req/s",
            Self::P50Ms => "p50 ms",
            Self::P99Ms => "p99 ms",
            Self::MbPerSec => "MB/s",
        }
    }

    fn of(self, m: &Measurement) -> f64 {
        match self {
            Self::RequestsPerSec => m.requests_per_sec,
            Self::P50Ms => m.p50_ms,
            Self::P99Ms => m.p99_ms,
            Self::MbPerSec => m.mb_per_sec,
        }
    }
}

/// The results of one case on both servers.
#[derive(Debug, Clone, Serialize)]
pub struct CaseResult {
    pub name: String,
    pub size_bytes: u64,
    pub concurrency: usize,
    /// The figures shown in the table, and the minimum ratio required of the first, if any.
    pub metrics: Vec<Metric>,
    pub target_min_ratio: Option<f64>,
    pub baseline: Measurement,
    pub kumo: Measurement,
}

/// One row of the table.
#[derive(Debug, Clone, Serialize)]
pub struct Row {
    pub case: String,
    pub metric: Metric,
    pub baseline: f64,
    pub kumo: f64,
    pub ratio: Option<f64>,
    pub target_min_ratio: Option<f64>,
    /// `Some(true)` PASS, `Some(false)` FAIL, `None` no target.
    pub pass: Option<bool>,
    pub error: Option<String>,
}

/// The rows of all cases, in order.
#[must_use]
pub fn rows(cases: &[CaseResult]) -> Vec<Row> {
    let mut rows = Vec::new();
    for case in cases {
        let error = case
            .kumo
            .error
            .as_ref()
            .map(|e| format!("kumo: {e}"))
            .or_else(|| {
                case.baseline
                    .error
                    .as_ref()
                    .map(|e| format!("baseline: {e}"))
            });
        for (i, metric) in case.metrics.iter().enumerate() {
            let (b, k) = (metric.of(&case.baseline), metric.of(&case.kumo));
            let ratio = (error.is_none() && b > 0.0).then(|| k / b);
            let target = if i == 0 { case.target_min_ratio } else { None };
            let pass = target.map(|t| ratio.is_some_and(|r| r >= t));
            rows.push(Row {
                case: format!("{} {}", case.name, metric.label()),
                metric: *metric,
                baseline: b,
                kumo: k,
                ratio,
                target_min_ratio: target,
                pass,
                error: error.clone(),
            });
        }
    }
    rows
}

/// The markdown table; `label` names the reference server (`baseline`, `radosgw`).
#[must_use]
pub fn markdown(rows: &[Row], label: &str) -> String {
    let mut out = format!(
        "| case | {label} | kumo | ratio (kumo/{label}) | target |\n|---|---:|---:|---:|---|\n",
    );
    for row in rows {
        let ratio = match (row.ratio, &row.error) {
            (Some(r), _) => format!("{r:.2}"),
            (None, Some(_)) => "error".to_owned(),
            (None, None) => "n/a".to_owned(),
        };
        let target = match (row.target_min_ratio, row.pass) {
            (Some(t), Some(true)) => format!(">= {t} PASS"),
            (Some(t), _) => format!(">= {t} FAIL"),
            (None, _) => String::new(),
        };
        // A failed side has no figure worth showing.
        let shown = |v: f64, side: &str| match &row.error {
            Some(e) if e.starts_with(side) => "error".to_owned(),
            _ => number(v),
        };
        out.push_str(&format!(
            "| {} | {} | {} | {} | {} |\n",
            row.case,
            shown(row.baseline, "baseline:"),
            shown(row.kumo, "kumo:"),
            ratio,
            target
        ));
    }
    let mut errors: Vec<&String> = rows.iter().filter_map(|r| r.error.as_ref()).collect();
    errors.dedup();
    for e in errors {
        out.push_str(&format!("\nerror: {e}\n"));
    }
    out
}

fn number(v: f64) -> String {
    if v >= 100.0 {
        format!("{v:.0}")
    } else if v >= 1.0 {
        format!("{v:.2}")
    } else {
        format!("{v:.3}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(rps: f64, error: Option<&str>) -> Measurement {
        Measurement {
            requests: 10,
            bytes: 0,
            elapsed_secs: 1.0,
            requests_per_sec: rps,
            mb_per_sec: 0.0,
            p50_ms: 1.0,
            p99_ms: 2.0,
            p90_ms: 2.0,
            p999_ms: 3.0,
            max_ms: 3.0,
            mean_ms: 1.0,
            error: error.map(str::to_owned),
        }
    }

    fn case(kumo: Measurement) -> CaseResult {
        CaseResult {
            name: "GET 4 KiB c=1".into(),
            size_bytes: 4096,
            concurrency: 1,
            metrics: vec![Metric::RequestsPerSec, Metric::P50Ms],
            target_min_ratio: Some(0.5),
            baseline: m(1000.0, None),
            kumo,
        }
    }

    #[test]
    fn ratio_and_target() {
        let rows = rows(&[case(m(600.0, None))]);
        assert_eq!(rows.len(), 2);
        assert_eq!(rows[0].pass, Some(true));
        assert!((rows[0].ratio.expect("ratio") - 0.6).abs() < 1e-9);
        assert_eq!(rows[1].pass, None);
        let table = markdown(&rows, "baseline");
        assert!(
            table.contains("| GET 4 KiB c=1 req/s | 1000 | 600 | 0.60 | >= 0.5 PASS |"),
            "{table}"
        );
    }

    #[test]
    fn an_error_fails_the_target() {
        let rows = rows(&[case(m(5000.0, Some("501 NotImplemented")))]);
        assert_eq!(rows[0].pass, Some(false));
        let table = markdown(&rows, "baseline");
        assert!(
            table.contains("| 1000 | error | error | >= 0.5 FAIL |"),
            "{table}"
        );
        assert!(table.contains("kumo: 501 NotImplemented"), "{table}");
    }
}
