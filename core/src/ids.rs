//! Identifiers in AWS's formats: 12-digit account ids, `AKIA…` access key ids, 40-character
//! secrets, `AIDA…` user ids, and resource ids (`prefix-` + 17 hex digits).

use rand::Rng;
use rand::distr::Alphanumeric;

const UPPER_ALNUM: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";

fn upper(n: usize) -> String {
    let mut rng = rand::rng();
    (0..n)
        .map(|_| char::from(UPPER_ALNUM[rng.random_range(0..UPPER_ALNUM.len())]))
        .collect()
}

/// A 12-digit account id that does not start with 0.
#[must_use]
pub fn account_id() -> String {
    let mut rng = rand::rng();
    format!(
        "{}",
        rng.random_range(100_000_000_000u64..1_000_000_000_000)
    )
}

/// An access key id: `AKIA` + 16 upper-case base-32 characters.
#[must_use]
pub fn access_key_id() -> String {
    format!("AKIA{}", upper(16))
}

/// A user id: `AIDA` + 17 upper-case base-32 characters.
#[must_use]
pub fn user_id() -> String {
    format!("AIDA{}", upper(17))
}

/// A 40-character secret access key.
#[must_use]
pub fn secret_access_key() -> String {
    let mut rng = rand::rng();
    let mut s: String = (0..40)
        .map(|_| char::from(rng.sample(Alphanumeric)))
        .collect();
    // AWS secrets also contain '/' and '+': keep one so clients' escaping is exercised.
    s.replace_range(20..21, "/");
    s
}

/// A resource id: `prefix-` + 17 lower-case hex digits (`i-…`, `vpc-…`).
#[must_use]
pub fn resource_id(prefix: &str) -> String {
    let mut rng = rand::rng();
    let n: u128 = rng.random();
    format!("{prefix}-{:017x}", n & ((1u128 << 68) - 1))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats() {
        let acct = account_id();
        assert_eq!(acct.len(), 12);
        assert!(acct.bytes().all(|b| b.is_ascii_digit()));
        let akid = access_key_id();
        assert_eq!(akid.len(), 20);
        assert!(akid.starts_with("AKIA"));
        assert_eq!(secret_access_key().len(), 40);
        let id = resource_id("i");
        assert_eq!(id.len(), 2 + 17);
        assert!(id[2..].bytes().all(|b| b.is_ascii_hexdigit()));
    }
}
