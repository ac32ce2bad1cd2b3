//! `NextToken` pagination: opaque, tamper-evident, and stable under concurrent inserts.
//!
//! Pages are cut by key, not by offset: a token carries the sort key of the last item returned,
//! and the next page starts strictly after it, so resources created or deleted between two
//! calls never shift or repeat the rest of a listing. The token is authenticated (HMAC-SHA256
//! with a secret the service holds) and bound to a scope — the operation and its filters — so
//! a client cannot forge a cursor or replay it against a different query.

use base64::Engine as _;
use sha2::{Digest as _, Sha256};

use super::Rejection;

const VERSION: u8 = 1;
const SCOPE_LEN: usize = 8;
const MAC_LEN: usize = 16;

/// One page of a listing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Page<T> {
    /// The items of this page.
    pub items: Vec<T>,
    /// The token for the next page, when there is one.
    pub next_token: Option<String>,
}

/// Issues and checks `NextToken`s.
#[derive(Clone)]
pub struct Paginator {
    secret: [u8; 32],
}

impl std::fmt::Debug for Paginator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Paginator { .. }")
    }
}

fn hmac_sha256(key: &[u8; 32], message: &[u8]) -> [u8; 32] {
    let mut ipad = [0x36u8; 64];
    let mut opad = [0x5cu8; 64];
    for (i, k) in key.iter().enumerate() {
        ipad[i] ^= k;
        opad[i] ^= k;
    }
    let inner = Sha256::new()
        .chain_update(ipad)
        .chain_update(message)
        .finalize();
    Sha256::new()
        .chain_update(opad)
        .chain_update(inner)
        .finalize()
        .into()
}

fn scope_hash(scope: &str) -> [u8; SCOPE_LEN] {
    let digest = Sha256::digest(scope.as_bytes());
    let mut out = [0u8; SCOPE_LEN];
    out.copy_from_slice(&digest[..SCOPE_LEN]);
    out
}

/// The number of items a page may hold: the caller's `MaxResults` (already range-checked
/// against the model by the decoder), else everything, as EC2 does without `MaxResults`.
#[must_use]
pub fn page_size(max_results: Option<i32>) -> usize {
    max_results
        .and_then(|n| usize::try_from(n).ok())
        .filter(|n| *n > 0)
        .unwrap_or(usize::MAX)
}

impl Paginator {
    /// A paginator signing with `secret` (keep it stable to keep tokens valid across restarts).
    #[must_use]
    pub fn new(secret: [u8; 32]) -> Self {
        Self { secret }
    }

    /// A paginator with a fresh random secret: tokens die with the process.
    #[must_use]
    pub fn random() -> Self {
        Self::new(rand::random())
    }

    /// The token resuming `scope` after `last_key`.
    #[must_use]
    pub fn token(&self, scope: &str, last_key: &str) -> String {
        let mut payload = Vec::with_capacity(1 + SCOPE_LEN + last_key.len() + MAC_LEN);
        payload.push(VERSION);
        payload.extend_from_slice(&scope_hash(scope));
        payload.extend_from_slice(last_key.as_bytes());
        let mac = hmac_sha256(&self.secret, &payload);
        payload.extend_from_slice(&mac[..MAC_LEN]);
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(payload)
    }

    /// The last key a token carries, if Kumo issued it for `scope`.
    pub fn resume_after(&self, scope: &str, token: &str) -> Result<String, Rejection> {
        let invalid = || Rejection::InvalidPaginationToken(token.chars().take(64).collect());
        let raw = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(token)
            .map_err(|_| invalid())?;
        if raw.len() < 1 + SCOPE_LEN + MAC_LEN {
            return Err(invalid());
        }
        let (payload, mac) = raw.split_at(raw.len() - MAC_LEN);
        let expected = hmac_sha256(&self.secret, payload);
        let same = expected[..MAC_LEN]
            .iter()
            .zip(mac)
            .fold(0u8, |acc, (a, b)| acc | (a ^ b))
            == 0;
        if !same || payload[0] != VERSION || payload[1..=SCOPE_LEN] != scope_hash(scope) {
            return Err(invalid());
        }
        String::from_utf8(payload[1 + SCOPE_LEN..].to_vec()).map_err(|_| invalid())
    }

    /// Cuts one page out of `items` (any order): sorted by `key`, starting after the token's
    /// key, at most `limit` items, with a token when more remain.
    pub fn page<T>(
        &self,
        mut items: Vec<T>,
        key: impl Fn(&T) -> &str,
        scope: &str,
        next_token: Option<&str>,
        limit: usize,
    ) -> Result<Page<T>, Rejection> {
        let after = match next_token.filter(|t| !t.is_empty()) {
            Some(t) => Some(self.resume_after(scope, t)?),
            None => None,
        };
        items.sort_by(|a, b| key(a).cmp(key(b)));
        if let Some(after) = &after {
            items.retain(|i| key(i) > after.as_str());
        }
        let more = items.len() > limit;
        items.truncate(limit);
        let next_token = if more {
            items.last().map(|last| self.token(scope, key(last)))
        } else {
            None
        };
        Ok(Page { items, next_token })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ids(n: usize) -> Vec<String> {
        (0..n).map(|i| format!("i-{i:04}")).collect()
    }

    #[test]
    fn pages_cover_everything_once_even_with_concurrent_inserts() {
        let p = Paginator::new([7; 32]);
        let mut all = ids(25);
        let first = p
            .page(all.clone(), |s| s.as_str(), "DescribeInstances", None, 10)
            .expect("page");
        assert_eq!(first.items, ids(10));
        // An item inserted before the cursor does not shift the next page.
        all.push("i-0000a".to_owned());
        let token = first.next_token.expect("more");
        let second = p
            .page(
                all.clone(),
                |s| s.as_str(),
                "DescribeInstances",
                Some(&token),
                10,
            )
            .expect("page");
        assert_eq!(second.items, ids(20)[10..].to_vec());
        let third = p
            .page(
                all,
                |s| s.as_str(),
                "DescribeInstances",
                second.next_token.as_deref(),
                10,
            )
            .expect("page");
        assert_eq!(third.items.len(), 5);
        assert_eq!(third.next_token, None);
    }

    #[test]
    fn tokens_are_tamper_evident_and_scoped() {
        let p = Paginator::new([7; 32]);
        let token = p.token("DescribeInstances", "i-0009");
        assert_eq!(
            p.resume_after("DescribeInstances", &token).expect("valid"),
            "i-0009"
        );
        assert!(p.resume_after("DescribeVolumes", &token).is_err());
        assert!(
            Paginator::new([8; 32])
                .resume_after("DescribeInstances", &token)
                .is_err()
        );
        let mut raw = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(&token)
            .expect("b64");
        raw[10] ^= 1;
        let forged = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(raw);
        assert!(p.resume_after("DescribeInstances", &forged).is_err());
        for junk in ["", "x", "!!!", "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"] {
            assert!(p.resume_after("DescribeInstances", junk).is_err());
        }
        assert_eq!(page_size(None), usize::MAX);
        assert_eq!(page_size(Some(5)), 5);
    }
}
