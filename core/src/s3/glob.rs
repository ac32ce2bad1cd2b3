//! Wildcard matching as IAM and S3 CORS use it: `*` matches any run of characters (also
//! empty), `?` matches one character; everything else is literal.
//!
//! Why not a regex: patterns come from tenants' documents, and this matcher runs in
//! O(pattern × text) worst case with no allocation beyond two char buffers, so a hostile policy
//! cannot make evaluation expensive.

/// Whether `text` matches `pattern` (`*` and `?` wildcards), optionally ignoring ASCII case.
#[must_use]
pub fn matches(pattern: &str, text: &str, ignore_case: bool) -> bool {
    let p: Vec<char> = pattern.chars().collect();
    let t: Vec<char> = text.chars().collect();
    let eq = |a: char, b: char| {
        if ignore_case {
            a.eq_ignore_ascii_case(&b)
        } else {
            a == b
        }
    };
    let (mut pi, mut ti) = (0usize, 0usize);
    // Position after the last `*` seen, and the text position it is currently matched up to.
    let mut star: Option<(usize, usize)> = None;
    while ti < t.len() {
        if pi < p.len() && (p[pi] == '?' || (p[pi] != '*' && eq(p[pi], t[ti]))) {
            pi += 1;
            ti += 1;
        } else if pi < p.len() && p[pi] == '*' {
            star = Some((pi + 1, ti));
            pi += 1;
        } else if let Some((after_star, matched_to)) = star {
            // Let the last `*` swallow one more character and retry.
            pi = after_star;
            ti = matched_to + 1;
            star = Some((after_star, ti));
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|&c| c == '*')
}

/// Whether `pattern` contains a wildcard.
#[must_use]
pub fn has_wildcard(pattern: &str) -> bool {
    pattern.contains(['*', '?'])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table() {
        let cases = [
            ("*", "", true),
            ("*", "anything", true),
            ("s3:Get*", "s3:GetObject", true),
            ("s3:Get*", "s3:PutObject", false),
            ("arn:aws:s3:::b/*", "arn:aws:s3:::b/a/b/c", true),
            ("arn:aws:s3:::b/*", "arn:aws:s3:::b", false),
            ("arn:aws:s3:::b/a?c", "arn:aws:s3:::b/abc", true),
            ("arn:aws:s3:::b/a?c", "arn:aws:s3:::b/ac", false),
            ("a*b*c", "axxbyyc", true),
            ("a*b*c", "axxbyy", false),
            ("http://*.example.com", "http://www.example.com", true),
            ("http://*.example.com", "https://www.example.com", false),
            ("exact", "exact", true),
            ("exact", "exactly", false),
            ("**", "x", true),
            ("", "", true),
            ("", "x", false),
        ];
        for (p, t, want) in cases {
            assert_eq!(matches(p, t, false), want, "{p:?} vs {t:?}");
        }
        assert!(matches("S3:get*", "s3:GetObject", true));
        assert!(!matches("S3:get*", "s3:GetObject", false));
    }

    #[test]
    fn pathological_pattern_is_fast() {
        let pattern = "a*".repeat(200) + "b";
        let text = "a".repeat(5000);
        let started = std::time::Instant::now();
        assert!(!matches(&pattern, &text, false));
        assert!(started.elapsed() < std::time::Duration::from_secs(2));
    }
}
