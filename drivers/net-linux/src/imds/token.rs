//! IMDSv2 session tokens: stateless, bound to one instance, expiring.
//!
//! A token is `base64url(expiry ‖ HMAC-SHA256(key, instance-id ‖ expiry)[..16])` under a key
//! drawn at start-up. Verifying needs no table, so a guest minting tokens in a loop costs no
//! memory, and a token presented for another instance fails its MAC: one instance can never
//! use another's token. A restart of the responder invalidates every token; clients (the AWS
//! SDKs, cloud-init) fetch a new one on 401, as after an instance stop on EC2.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

/// The shortest and longest token lifetimes EC2 accepts, seconds.
pub const TTL_RANGE: std::ops::RangeInclusive<u64> = 1..=21600;

const MAC_LEN: usize = 16;

/// Mints and checks tokens under one secret key.
pub struct TokenSigner {
    key: [u8; 32],
}

impl std::fmt::Debug for TokenSigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TokenSigner(..)")
    }
}

impl TokenSigner {
    /// A signer with a fresh random key.
    pub fn random() -> Self {
        Self {
            key: rand::random(),
        }
    }

    /// A signer with a given key (tests).
    pub fn with_key(key: [u8; 32]) -> Self {
        Self { key }
    }

    fn mac(&self, instance_id: &str, expiry: u64) -> [u8; MAC_LEN] {
        // HMAC accepts keys of any length; the fallback is unreachable with a 32-byte key.
        let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(&self.key) else {
            return [0; MAC_LEN];
        };
        mac.update(instance_id.as_bytes());
        mac.update(&[0]);
        mac.update(&expiry.to_be_bytes());
        let full = mac.finalize().into_bytes();
        let mut out = [0; MAC_LEN];
        out.copy_from_slice(&full[..MAC_LEN]);
        out
    }

    /// A token for `instance_id` valid for `ttl` seconds from `now` (Unix seconds).
    pub fn mint(&self, instance_id: &str, now: u64, ttl: u64) -> String {
        let expiry = now.saturating_add(ttl);
        let mut raw = Vec::with_capacity(8 + MAC_LEN);
        raw.extend_from_slice(&expiry.to_be_bytes());
        raw.extend_from_slice(&self.mac(instance_id, expiry));
        URL_SAFE_NO_PAD.encode(raw)
    }

    /// The seconds `token` has left if it is valid for `instance_id` at `now`.
    pub fn verify(&self, token: &str, instance_id: &str, now: u64) -> Option<u64> {
        if token.len() > 64 {
            return None;
        }
        let raw = URL_SAFE_NO_PAD.decode(token.trim()).ok()?;
        if raw.len() != 8 + MAC_LEN {
            return None;
        }
        let expiry = u64::from_be_bytes(raw[..8].try_into().ok()?);
        let expected = self.mac(instance_id, expiry);
        // Constant-time comparison: the guest must not learn the MAC byte by byte.
        let diff = expected
            .iter()
            .zip(&raw[8..])
            .fold(0u8, |acc, (a, b)| acc | (a ^ b));
        (diff == 0 && expiry > now).then(|| expiry - now)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_bind_to_instance_and_expire() {
        let s = TokenSigner::with_key([7; 32]);
        let t = s.mint("i-a", 1000, 60);
        assert_eq!(s.verify(&t, "i-a", 1000), Some(60));
        assert_eq!(s.verify(&t, "i-a", 1059), Some(1));
        assert_eq!(s.verify(&t, "i-a", 1060), None, "expired");
        assert_eq!(s.verify(&t, "i-b", 1000), None, "bound to its instance");
        assert_eq!(
            TokenSigner::with_key([8; 32]).verify(&t, "i-a", 1000),
            None,
            "other key"
        );
        assert_eq!(s.verify("garbage!", "i-a", 1000), None);
        let mut forged = t.clone();
        forged.replace_range(0..1, if t.starts_with('A') { "B" } else { "A" });
        assert_eq!(
            s.verify(&forged, "i-a", 1000),
            None,
            "expiry is covered by the MAC"
        );
    }
}
