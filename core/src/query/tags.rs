//! EC2 tags: the [`Tag`] every resource record carries and the rules AWS enforces on them —
//! keys of 1–128 characters, values up to 256, no `aws:` prefix, no duplicate keys, at most 50
//! tags per resource.
//!
//! Tags are stored inside each resource's record (so a resource and its tags change in one
//! transaction and vanish together); `CreateTags` / `DeleteTags` / `DescribeTags` over every
//! resource type live in `crate::ec2::tags`.

use serde::{Deserialize, Serialize};

use crate::Error;

/// Most tags a resource may carry.
pub const MAX_TAGS_PER_RESOURCE: usize = 50;

/// A tag.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Tag {
    /// Key.
    pub key: String,
    /// Value.
    pub value: String,
}

/// Checks tags against AWS's rules.
pub fn validate(tags: &[Tag]) -> Result<(), Error> {
    for (i, t) in tags.iter().enumerate() {
        let n = t.key.chars().count();
        if n == 0 || n > 128 {
            return Err(Error::InvalidArgument(format!(
                "Tag key '{}' must be 1 to 128 characters.",
                t.key
            )));
        }
        if t.value.chars().count() > 256 {
            return Err(Error::InvalidArgument(format!(
                "Tag value for key '{}' must be at most 256 characters.",
                t.key
            )));
        }
        if t.key.to_ascii_lowercase().starts_with("aws:") {
            return Err(Error::InvalidArgument(format!(
                "Tag keys starting with 'aws:' are reserved for internal use: '{}'.",
                t.key
            )));
        }
        if tags[..i].iter().any(|o| o.key == t.key) {
            return Err(Error::InvalidArgument(format!(
                "Duplicate tag key '{}'.",
                t.key
            )));
        }
    }
    if tags.len() > MAX_TAGS_PER_RESOURCE {
        return Err(Error::InvalidArgument(format!(
            "A resource can have at most {MAX_TAGS_PER_RESOURCE} tags."
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tag(k: &str, v: &str) -> Tag {
        Tag {
            key: k.into(),
            value: v.into(),
        }
    }

    #[test]
    fn rules() {
        assert!(validate(&[tag("Name", "web"), tag("env", "")]).is_ok());
        assert!(validate(&[tag("aws:x", "y")]).is_err());
        assert!(validate(&[tag("AWS:x", "y")]).is_err());
        assert!(validate(&[tag("", "y")]).is_err());
        assert!(validate(&[tag("a", "1"), tag("a", "2")]).is_err());
        assert!(validate(&[tag(&"k".repeat(129), "")]).is_err());
        assert!(validate(&[tag("k", &"v".repeat(257))]).is_err());
        let many: Vec<_> = (0..51).map(|i| tag(&format!("k{i}"), "")).collect();
        assert!(validate(&many).is_err());
    }
}
