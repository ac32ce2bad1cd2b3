//! Bucket tags (PutBucketTagging): validated with S3's rules for bucket tag sets, which differ
//! from object tags (50 tags per bucket instead of 10).

use serde::{Deserialize, Serialize};

use crate::{Error, Result};

/// AWS's limit on tags per bucket.
pub const MAX_BUCKET_TAGS: usize = 50;

/// One tag.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BucketTag {
    /// 1–128 characters, unique, not starting with `aws:`.
    pub key: String,
    /// 0–256 characters.
    pub value: String,
}

/// A bucket's tag set, in the order the client sent it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct BucketTags {
    /// The tags.
    pub tags: Vec<BucketTag>,
}

fn allowed_char(c: char) -> bool {
    // Letters, digits, whitespace and `_ . : / = + - @` (Unicode letters included).
    c.is_alphanumeric() || c.is_whitespace() || "_.:/=+-@".contains(c)
}

impl BucketTags {
    /// Validates as PutBucketTagging does (`InvalidTag` with S3's reasons).
    pub fn validate(&self) -> Result<()> {
        if self.tags.len() > MAX_BUCKET_TAGS {
            return Err(invalid(format!(
                "Bucket tag count cannot be greater than {MAX_BUCKET_TAGS}"
            )));
        }
        let mut seen = std::collections::HashSet::new();
        for tag in &self.tags {
            let key_len = tag.key.chars().count();
            if key_len == 0 || key_len > 128 {
                return Err(invalid(
                    "The TagKey you have provided is invalid".to_owned(),
                ));
            }
            if tag.value.chars().count() > 256 {
                return Err(invalid(
                    "The TagValue you have provided is invalid".to_owned(),
                ));
            }
            if !tag.key.chars().all(allowed_char) || !tag.value.chars().all(allowed_char) {
                return Err(invalid(
                    "The TagKey or TagValue you have provided contains invalid characters"
                        .to_owned(),
                ));
            }
            if tag.key.to_ascii_lowercase().starts_with("aws:") {
                return Err(invalid(
                    "System tags cannot be added/updated by requester".to_owned(),
                ));
            }
            if !seen.insert(tag.key.as_str()) {
                return Err(invalid(
                    "Cannot provide multiple Tags with the same key".to_owned(),
                ));
            }
        }
        Ok(())
    }
}

fn invalid(msg: String) -> Error {
    Error::InvalidTag(msg)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tags(pairs: &[(&str, &str)]) -> BucketTags {
        BucketTags {
            tags: pairs
                .iter()
                .map(|(k, v)| BucketTag {
                    key: (*k).to_owned(),
                    value: (*v).to_owned(),
                })
                .collect(),
        }
    }

    #[test]
    fn rules() {
        assert!(
            tags(&[("env", "prod"), ("team", "a b/c@d")])
                .validate()
                .is_ok()
        );
        assert!(tags(&[]).validate().is_ok());
        assert!(tags(&[("", "x")]).validate().is_err());
        assert!(tags(&[("a", "1"), ("a", "2")]).validate().is_err());
        assert!(tags(&[("aws:cloudformation", "x")]).validate().is_err());
        assert!(tags(&[("k", &"v".repeat(257))]).validate().is_err());
        assert!(tags(&[("k", "semi;colon")]).validate().is_err());
        let many: Vec<(String, String)> =
            (0..51).map(|i| (format!("k{i}"), String::new())).collect();
        let many: Vec<(&str, &str)> = many.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        assert!(tags(&many).validate().is_err());
    }
}
