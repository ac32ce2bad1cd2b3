//! What a browser POST form needs before s3s parses it: `${filename}` in `key`.
//!
//! S3 replaces `${filename}` in the form's `key` field with the name of the uploaded file (the
//! `filename` of the `file` part's `Content-Disposition`), so one signed form serves any file:
//! `uploads/${filename}` stores `photo.jpg` as `uploads/photo.jpg`. s3s 0.14.1 parses the form
//! but drops the file name before the handler runs, so the substitution happens here, on the
//! raw body, before s3s sees it: the fields before the `file` part (AWS requires `file` to be
//! the last field, and the fields to fit in 20 KB) are buffered — at most [`PREFIX_LIMIT`]
//! bytes — the `key` value is rewritten, and the body goes on streaming unchanged behind the
//! rewritten prefix. The policy's conditions are then checked by s3s against the substituted
//! key, as S3 does.
//!
//! Anything unexpected (no boundary, no `file` part within the limit, a body that ends early)
//! passes through untouched: s3s then answers it as it would have.

use bytes::{Bytes, BytesMut};
use futures::StreamExt;
use http::header::{CONTENT_LENGTH, CONTENT_TYPE};
use http::{HeaderValue, Method, Request};
use s3s::Body;

/// The most form bytes buffered before the `file` part (AWS allows 20 KB of fields).
pub const PREFIX_LIMIT: usize = 64 * 1024;

/// Bytes read between two scans of the buffered form.
const SCAN_STEP: usize = 1024;

const PLACEHOLDER: &str = "${filename}";

/// A body that could not be read.
#[derive(Debug, thiserror::Error)]
#[error("reading the form: {0}")]
pub struct ReadError(String);

/// Whether `req` is a browser POST upload (`POST` with a `multipart/form-data` body).
#[must_use]
pub fn applies(req: &Request<Body>) -> bool {
    req.method() == Method::POST && boundary(req).is_some()
}

/// `req` with `${filename}` substituted in its form's `key` field (see the module docs).
///
/// # Errors
/// The body failed while the form's fields were being read.
pub async fn substitute_filename(req: Request<Body>) -> Result<Request<Body>, ReadError> {
    let Some(boundary) = boundary(&req) else {
        return Ok(req);
    };
    let (mut parts, mut body) = req.into_parts();
    let mut buf = BytesMut::new();
    let mut ended = false;
    let mut scanned = 0;
    let rewritten = loop {
        // Scans restart from the top, so they run every SCAN_STEP bytes (and at the end), not
        // on every frame: a client trickling bytes costs at most PREFIX_LIMIT / SCAN_STEP scans.
        let last = ended || buf.len() >= PREFIX_LIMIT;
        if last || buf.len() - scanned >= SCAN_STEP {
            scanned = buf.len();
            if let Some(found) = scan(&buf, &boundary) {
                break found;
            }
        }
        if last {
            break Scan::Untouched;
        }
        match body.next().await {
            Some(Ok(chunk)) => buf.extend_from_slice(&chunk),
            Some(Err(e)) => return Err(ReadError(e.to_string())),
            None => ended = true,
        }
    };
    let prefix = match rewritten {
        Scan::Rewrite { prefix } => {
            let grown = prefix.len() as i128 - buf.len() as i128;
            adjust_length(&mut parts.headers, grown);
            prefix
        }
        Scan::Untouched => buf.freeze(),
    };
    let body = if ended {
        Body::from(prefix)
    } else {
        let head = futures::stream::iter([Ok::<Bytes, s3s::StdError>(prefix)]);
        let stream = head.chain(body).map(|r| r.map(http_body::Frame::data));
        Body::http_body(http_body_util::StreamBody::new(stream))
    };
    Ok(Request::from_parts(parts, body))
}

/// The form's boundary, from `Content-Type: multipart/form-data; boundary=…`.
fn boundary(req: &Request<Body>) -> Option<String> {
    let ct = req.headers().get(CONTENT_TYPE)?.to_str().ok()?;
    let (mime, params) = ct.split_once(';')?;
    if !mime.trim().eq_ignore_ascii_case("multipart/form-data") {
        return None;
    }
    params.split(';').find_map(|p| {
        let (k, v) = p.trim().split_once('=')?;
        k.trim()
            .eq_ignore_ascii_case("boundary")
            .then(|| v.trim().trim_matches('"').to_owned())
            .filter(|b| !b.is_empty() && b.len() <= 200)
    })
}

fn adjust_length(headers: &mut http::HeaderMap, grown: i128) {
    let Some(old) = headers
        .get(CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<i128>().ok())
    else {
        return;
    };
    if let Ok(new) = u64::try_from(old + grown) {
        headers.insert(CONTENT_LENGTH, HeaderValue::from(new));
    }
}

/// What the buffered form says.
#[derive(Debug, PartialEq, Eq)]
enum Scan {
    /// The `file` part's headers are in the buffer; `prefix` replaces the whole buffer.
    Rewrite { prefix: Bytes },
    /// Nothing to substitute (no placeholder, no file name): pass the buffer on as it is.
    Untouched,
}

/// Looks for the `file` part in `buf`; `None` while its headers are not complete yet.
fn scan(buf: &[u8], boundary: &str) -> Option<Scan> {
    let delimiter = format!("--{boundary}");
    let mut key: Option<(usize, usize)> = None;
    let mut at = find(buf, delimiter.as_bytes(), 0)?;
    loop {
        // After a delimiter: `\r\n` and a part, or `--` and the end of the form.
        let headers_start = at + delimiter.len();
        if buf.get(headers_start..headers_start + 2)? != b"\r\n" {
            return Some(Scan::Untouched);
        }
        let headers_start = headers_start + 2;
        let headers_end = find(buf, b"\r\n\r\n", headers_start)?;
        let disposition = part_disposition(&buf[headers_start..headers_end]);
        let value_start = headers_end + 4;
        match disposition {
            Some((name, filename)) if name.eq_ignore_ascii_case("file") => {
                let Some((ks, ke)) = key else {
                    return Some(Scan::Untouched);
                };
                let Some(filename) = filename.filter(|f| !f.is_empty()) else {
                    return Some(Scan::Untouched);
                };
                let Ok(value) = std::str::from_utf8(&buf[ks..ke]) else {
                    return Some(Scan::Untouched);
                };
                if !value.contains(PLACEHOLDER) {
                    return Some(Scan::Untouched);
                }
                let mut prefix = BytesMut::with_capacity(buf.len() + filename.len());
                prefix.extend_from_slice(&buf[..ks]);
                prefix.extend_from_slice(value.replace(PLACEHOLDER, &filename).as_bytes());
                prefix.extend_from_slice(&buf[ke..]);
                return Some(Scan::Rewrite {
                    prefix: prefix.freeze(),
                });
            }
            disposition => {
                let close = format!("\r\n{delimiter}");
                let value_end = find(buf, close.as_bytes(), value_start)?;
                if disposition.is_some_and(|(name, _)| name.eq_ignore_ascii_case("key")) {
                    key = Some((value_start, value_end));
                }
                at = value_end + 2;
            }
        }
    }
}

/// `(name, filename)` of a part's `Content-Disposition: form-data; name="…"; filename="…"`.
fn part_disposition(headers: &[u8]) -> Option<(String, Option<String>)> {
    let text = String::from_utf8_lossy(headers);
    let line = text.split("\r\n").find_map(|l| {
        let (k, v) = l.split_once(':')?;
        k.trim()
            .eq_ignore_ascii_case("content-disposition")
            .then_some(v)
    })?;
    let mut name = None;
    let mut filename = None;
    for param in line.split(';').skip(1) {
        let Some((k, v)) = param.trim().split_once('=') else {
            continue;
        };
        let v = v.trim();
        let v = v
            .strip_prefix('"')
            .and_then(|v| v.strip_suffix('"'))
            .unwrap_or(v);
        match k.trim().to_ascii_lowercase().as_str() {
            "name" => name = Some(v.to_owned()),
            "filename" => filename = Some(v.to_owned()),
            _ => {}
        }
    }
    Some((name?, filename))
}

fn find(haystack: &[u8], needle: &[u8], from: usize) -> Option<usize> {
    haystack
        .get(from..)?
        .windows(needle.len())
        .position(|w| w == needle)
        .map(|p| p + from)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn form(key: &str, filename: &str, data: &str) -> String {
        format!(
            "--XX\r\nContent-Disposition: form-data; name=\"key\"\r\n\r\n{key}\r\n\
             --XX\r\nContent-Disposition: form-data; name=\"policy\"\r\n\r\neyJ9\r\n\
             --XX\r\nContent-Disposition: form-data; name=\"file\"; filename=\"{filename}\"\r\n\
             Content-Type: image/jpeg\r\n\r\n{data}\r\n--XX--\r\n"
        )
    }

    fn request(body: Vec<Bytes>, len: usize) -> Request<Body> {
        let stream = futures::stream::iter(
            body.into_iter()
                .map(|b| Ok::<_, s3s::StdError>(http_body::Frame::data(b))),
        );
        Request::builder()
            .method(Method::POST)
            .uri("/bucket")
            .header(CONTENT_TYPE, "multipart/form-data; boundary=XX")
            .header(CONTENT_LENGTH, len)
            .body(Body::http_body(http_body_util::StreamBody::new(stream)))
            .expect("request")
    }

    async fn run(text: &str, chunk: usize) -> (String, Option<String>) {
        let chunks: Vec<Bytes> = text
            .as_bytes()
            .chunks(chunk)
            .map(Bytes::copy_from_slice)
            .collect();
        let req = request(chunks, text.len());
        assert!(applies(&req));
        let req = substitute_filename(req).await.expect("substitute");
        let len = req
            .headers()
            .get(CONTENT_LENGTH)
            .map(|v| v.to_str().expect("ascii").to_owned());
        let mut body = req.into_body();
        let mut out = Vec::new();
        while let Some(c) = body.next().await {
            out.extend_from_slice(&c.expect("chunk"));
        }
        (String::from_utf8(out).expect("utf-8"), len)
    }

    #[tokio::test]
    async fn the_placeholder_becomes_the_file_name_at_any_chunking() {
        let before = form("uploads/${filename}", "photo 1.jpg", "jpeg bytes");
        let after = form("uploads/photo 1.jpg", "photo 1.jpg", "jpeg bytes");
        for chunk in [1, 7, 64, 1000, 4096] {
            let (body, len) = run(&before, chunk).await;
            assert_eq!(body, after, "chunk {chunk}");
            assert_eq!(len, Some(after.len().to_string()), "Content-Length follows");
        }
    }

    #[tokio::test]
    async fn a_file_part_after_the_first_scan_step_is_found() {
        let data = "d".repeat(3 * SCAN_STEP);
        let pad = "p".repeat(2 * SCAN_STEP);
        let before = form(&format!("${{filename}}{pad}"), "late.bin", &data);
        let after = form(&format!("late.bin{pad}"), "late.bin", &data);
        for chunk in [3, 512, 100_000] {
            assert_eq!(run(&before, chunk).await.0, after, "chunk {chunk}");
        }
    }

    #[tokio::test]
    async fn forms_without_the_placeholder_or_a_file_name_pass_unchanged() {
        for text in [
            form("uploads/fixed.jpg", "photo.jpg", "x"),
            form("uploads/${filename}", "", "x"),
            "--XX\r\nContent-Disposition: form-data; name=\"key\"\r\n\r\n${filename}\r\n--XX--\r\n"
                .to_owned(),
            "garbage without any boundary".to_owned(),
        ] {
            let (body, len) = run(&text, 5).await;
            assert_eq!(body, text);
            assert_eq!(len, Some(text.len().to_string()));
        }
    }

    #[tokio::test]
    async fn a_huge_field_prefix_is_passed_on_not_buffered_forever() {
        let big = "a".repeat(PREFIX_LIMIT * 2);
        let text = form(&format!("{big}${{filename}}"), "f.txt", "data");
        let (body, _) = run(&text, 8192).await;
        assert_eq!(body, text, "over the limit: s3s decides");
    }

    #[test]
    fn only_multipart_posts_apply() {
        let get = Request::builder()
            .method(Method::GET)
            .header(CONTENT_TYPE, "multipart/form-data; boundary=XX")
            .body(Body::empty())
            .expect("req");
        assert!(!applies(&get));
        let put = Request::builder()
            .method(Method::POST)
            .header(CONTENT_TYPE, "application/xml")
            .body(Body::empty())
            .expect("req");
        assert!(!applies(&put));
        let quoted = Request::builder()
            .method(Method::POST)
            .header(CONTENT_TYPE, "multipart/form-data; boundary=\"a b\"")
            .body(Body::empty())
            .expect("req");
        assert_eq!(boundary(&quoted).as_deref(), Some("a b"));
    }
}
