//! Virtual-hosted-style addressing: `BUCKET.<base_domain>[:port]` names a bucket; any other
//! host (an IP address, `localhost`, the base domain itself) is path-style.

use s3s::S3Result;
use s3s::host::{S3Host, VirtualHost};

/// Parses `Host` headers against one base domain.
#[derive(Debug, Clone)]
pub struct KumoHost {
    base_domain: String,
}

impl KumoHost {
    /// Virtual hosts under `base_domain`.
    #[must_use]
    pub fn new(base_domain: &str) -> Self {
        Self {
            base_domain: base_domain.to_ascii_lowercase(),
        }
    }
}

fn strip_port(host: &str) -> &str {
    match host.rsplit_once(':') {
        Some((h, port)) if !h.ends_with(']') && port.bytes().all(|b| b.is_ascii_digit()) => h,
        Some((h, port)) if h.ends_with(']') && port.bytes().all(|b| b.is_ascii_digit()) => h,
        _ => host,
    }
}

impl S3Host for KumoHost {
    fn parse_host_header<'a>(&'a self, host: &'a str) -> S3Result<VirtualHost<'a>> {
        let name = strip_port(host);
        let lower = name.to_ascii_lowercase();
        if let Some(bucket) = lower
            .strip_suffix(self.base_domain.as_str())
            .and_then(|b| b.strip_suffix('.'))
            && !bucket.is_empty()
        {
            // The bucket keeps the case it was sent with; s3s validates the name.
            let bucket = &name[..bucket.len()];
            return Ok(VirtualHost::new(self.base_domain.as_str()).with_bucket(bucket));
        }
        Ok(VirtualHost::new(name))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_hosts() {
        let h = KumoHost::new("s3.localhost");
        let vh = h
            .parse_host_header("my-bucket.s3.localhost:8773")
            .expect("vh");
        assert_eq!(vh.bucket(), Some("my-bucket"));
        let vh = h.parse_host_header("a.b.s3.localhost").expect("vh");
        assert_eq!(vh.bucket(), Some("a.b"));
        assert_eq!(
            h.parse_host_header("s3.localhost:8773")
                .expect("vh")
                .bucket(),
            None
        );
        assert_eq!(
            h.parse_host_header("localhost:8773").expect("vh").bucket(),
            None
        );
        assert_eq!(
            h.parse_host_header("[::1]:8773").expect("vh").bucket(),
            None
        );
        assert_eq!(
            h.parse_host_header("example.com").expect("vh").bucket(),
            None
        );
    }
}
