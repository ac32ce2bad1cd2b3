//! The access-log line, written straight into the batched log writer.
//!
//! Why not `tracing::info!`: formatting one event through `tracing-subscriber` (field visitors,
//! `fmt::Write` per piece, a span lookup) was about 5% of a 4 KiB GET's CPU. This writes the
//! very same line (`tracing-subscriber`'s full format without target, as every other line of
//! the log) into a reused per-thread buffer and hands it to [`BatchWriter`] in one copy. The
//! line still obeys the log filter (`RUST_LOG`): it is written only when an `INFO` event of the
//! router would be. With colours (stderr is a terminal) the ordinary `tracing` path is used.

use std::cell::RefCell;
use std::fmt::Write as _;
use std::io::Write as _;
use std::sync::OnceLock;
use std::time::SystemTime;

use crate::log::BatchWriter;

/// The writer of the direct path; unset (tests, a terminal) means `tracing` formats the line.
static DIRECT: OnceLock<BatchWriter> = OnceLock::new();

/// Routes access lines straight into `writer` (called once by `init_tracing`, without ANSI).
pub fn write_directly_to(writer: BatchWriter) {
    let _ = DIRECT.set(writer);
}

/// One request's access line.
#[derive(Debug)]
pub struct AccessLine<'a> {
    pub request_id: &'a str,
    pub method: &'a http::Method,
    /// The path only: query strings of presigned URLs carry credentials.
    pub path: &'a str,
    pub service: &'static str,
    pub status: u16,
    pub latency_ms: f64,
}

thread_local! {
    static LINE: RefCell<String> = const { RefCell::new(String::new()) };
}

impl AccessLine<'_> {
    /// Writes the line, directly when possible, else as a `tracing` event in `span`.
    pub fn emit(&self, span: &tracing::Span) {
        let Some(writer) = DIRECT.get() else {
            span.in_scope(|| {
                tracing::info!(
                    method = %self.method,
                    path = %self.path,
                    service = self.service,
                    status = self.status,
                    latency_ms = self.latency_ms,
                    "request"
                );
            });
            return;
        };
        if !tracing::enabled!(tracing::Level::INFO) {
            return;
        }
        LINE.with(|line| {
            let Ok(mut line) = line.try_borrow_mut() else {
                return;
            };
            line.clear();
            self.format(&mut line, SystemTime::now());
            let _ = writer.clone().write_all(line.as_bytes());
        });
    }

    /// The line as `tracing-subscriber`'s full format writes it (no target, no ANSI):
    /// `<time>  INFO request{id=<id>}: request method=GET path=/b/k service="s3" status=200 latency_ms=0.1`.
    fn format(&self, out: &mut String, now: SystemTime) {
        write_timestamp(out, now);
        out.push_str("  INFO request{id=");
        out.push_str(self.request_id);
        out.push_str("}: request method=");
        out.push_str(self.method.as_str());
        out.push_str(" path=");
        out.push_str(self.path);
        // `tracing` records a `&str` field with `Debug` (quoted, escaped).
        let _ = write!(out, " service={:?} status=", self.service);
        push_u64(out, u64::from(self.status), 1);
        let _ = writeln!(out, " latency_ms={:?}", self.latency_ms);
    }
}

/// Appends `n` in decimal, zero-padded to `width` digits.
fn push_u64(out: &mut String, mut n: u64, width: usize) {
    let mut digits = [0u8; 20];
    let mut i = digits.len();
    while n > 0 || digits.len() - i < width {
        i -= 1;
        digits[i] = b'0' + (n % 10) as u8;
        n /= 10;
    }
    for &d in &digits[i..] {
        out.push(char::from(d));
    }
}

/// RFC 3339 UTC with microseconds, as `tracing-subscriber`'s `SystemTime` timer prints it
/// (`2026-11-25T08:00:54.817600Z`); times before 1970 print as the epoch.
fn write_timestamp(out: &mut String, now: SystemTime) {
    let since = now
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap_or_default();
    let secs = since.as_secs();
    let (year, month, day) = civil_from_days(secs / 86_400);
    let rem = secs % 86_400;
    push_u64(out, year, 4);
    out.push('-');
    push_u64(out, month, 2);
    out.push('-');
    push_u64(out, day, 2);
    out.push('T');
    push_u64(out, rem / 3600, 2);
    out.push(':');
    push_u64(out, rem % 3600 / 60, 2);
    out.push(':');
    push_u64(out, rem % 60, 2);
    out.push('.');
    push_u64(out, u64::from(since.subsec_micros()), 6);
    out.push('Z');
}

/// Days since 1970-01-01 to (year, month, day) in the proleptic Gregorian calendar (Howard
/// Hinnant's `civil_from_days`, for non-negative day counts).
fn civil_from_days(days: u64) -> (u64, u64, u64) {
    let z = days + 719_468;
    let era = z / 146_097;
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + u64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{Arc, Mutex};
    use std::time::Duration;

    fn at(secs: u64, micros: u64) -> String {
        let mut s = String::new();
        write_timestamp(
            &mut s,
            SystemTime::UNIX_EPOCH + Duration::from_micros(secs * 1_000_000 + micros),
        );
        s
    }

    #[test]
    fn timestamps_match_rfc3339() {
        assert_eq!(at(0, 0), "1970-01-01T00:00:00.000000Z");
        // Checked with `date -u -d @…`.
        assert_eq!(at(951_782_400, 5), "2000-02-29T00:00:00.000005Z");
        assert_eq!(at(1_795_594_854, 817_600), "2026-11-25T08:20:54.817600Z");
        assert_eq!(at(4_107_542_399, 999_999), "2100-02-28T23:59:59.999999Z");
        assert_eq!(at(4_107_542_400, 0), "2100-03-01T00:00:00.000000Z");
    }

    #[derive(Clone, Default)]
    struct Capture(Arc<Mutex<Vec<u8>>>);

    impl std::io::Write for Capture {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().expect("lock").extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for Capture {
        type Writer = Capture;
        fn make_writer(&'a self) -> Capture {
            self.clone()
        }
    }

    /// The direct line equals what `tracing-subscriber` prints for the same event, after the
    /// timestamp.
    #[test]
    fn the_line_is_the_tracing_line() {
        let capture = Capture::default();
        let method = http::Method::PUT;
        for (service, latency_ms) in [("s3", 0.039_389), ("ec2", 12.0), ("odd\"name", 1e-7)] {
            let line = AccessLine {
                request_id: "29857C030005157D",
                method: &method,
                path: "/bench/obj 4096",
                service,
                status: 404,
                latency_ms,
            };
            capture.0.lock().expect("lock").clear();
            let subscriber = tracing_subscriber::fmt()
                .with_ansi(false)
                .with_target(false)
                .with_writer(capture.clone())
                .finish();
            tracing::subscriber::with_default(subscriber, || {
                let span = tracing::info_span!("request", id = %line.request_id);
                line.emit(&span);
            });
            let expected =
                String::from_utf8(capture.0.lock().expect("lock").clone()).expect("utf-8");
            let mut direct = String::new();
            line.format(&mut direct, SystemTime::now());
            let tail = |s: &str| s.split_once('Z').map(|(_, t)| t.to_owned());
            assert_eq!(tail(&direct), tail(&expected), "{direct} vs {expected}");
            assert_eq!(direct.find('Z'), expected.find('Z'));
        }
    }
}
