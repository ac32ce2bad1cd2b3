//! EC2 tags, for every resource type at once: `TagSpecifications` on create calls and
//! `CreateTags` / `DeleteTags` / `DescribeTags`.
//!
//! Tags live in their own table keyed `account \0 resource-id \0 tag-key`, so one prefix scan
//! lists a resource's tags and one scan lists an account's (for `DescribeTags`); the resource
//! type is derived from the id's prefix, as AWS ids encode it. The rules AWS enforces are
//! checked here: keys of 1–128 characters, values up to 256, no `aws:` prefix, at most 50 tags
//! per resource.

use std::sync::Arc;

use kumo_driver_api::state_store::{KeyRange, StateStore, Table, transact};
use serde::{Deserialize, Serialize};

use crate::Error;
use crate::records;

/// `account \0 resource-id \0 key` -> [`TagRecord`].
pub const TAGS: Table = "tags";

/// Most tags a resource may carry.
pub const MAX_TAGS_PER_RESOURCE: usize = 50;

/// Most rows one account listing reads.
const MAX_LISTING: usize = 1_000_000;

/// Resource types by id prefix (`DescribeTags`' `resource-type` values).
const TYPES: &[(&str, &str)] = &[
    ("i-", "instance"),
    ("vol-", "volume"),
    ("snap-", "snapshot"),
    ("ami-", "image"),
    ("vpc-", "vpc"),
    ("subnet-", "subnet"),
    ("sg-", "security-group"),
    ("eni-", "network-interface"),
    ("igw-", "internet-gateway"),
    ("rtb-", "route-table"),
    ("acl-", "network-acl"),
    ("eipalloc-", "elastic-ip"),
    ("key-", "key-pair"),
    ("lt-", "launch-template"),
    ("nat-", "natgateway"),
    ("dopt-", "dhcp-options"),
    ("pcx-", "vpc-peering-connection"),
    ("eigw-", "egress-only-internet-gateway"),
    ("vpce-", "vpc-endpoint"),
    ("pl-", "prefix-list"),
];

/// A tag.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Tag {
    /// Key.
    pub key: String,
    /// Value.
    pub value: String,
}

/// A tag on a resource, as `DescribeTags` lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResourceTag {
    /// The resource.
    pub resource_id: String,
    /// Its type.
    pub resource_type: &'static str,
    /// The tag.
    pub tag: Tag,
}

#[derive(Debug, Serialize, Deserialize)]
struct TagRecord {
    value: String,
}

/// The resource type an id names, from its prefix.
#[must_use]
pub fn resource_type_of(id: &str) -> Option<&'static str> {
    TYPES
        .iter()
        .find(|(p, _)| id.starts_with(p))
        .map(|(_, t)| *t)
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
                "Tag keys starting with 'aws:' are reserved: '{}'.",
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

fn key(account: &str, resource: &str, tag: &str) -> Vec<u8> {
    [account, resource, tag].join("\0").into_bytes()
}

fn prefix(parts: &[&str]) -> Vec<u8> {
    let mut p = parts.join("\0").into_bytes();
    p.push(0);
    p
}

/// The tag register.
#[derive(Clone)]
pub struct TagStore {
    store: Arc<dyn StateStore>,
}

impl std::fmt::Debug for TagStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TagStore")
    }
}

impl TagStore {
    /// A register over `store`.
    #[must_use]
    pub fn new(store: Arc<dyn StateStore>) -> Self {
        Self { store }
    }

    /// Adds or overwrites `tags` on every resource, atomically (`CreateTags`, and the
    /// `TagSpecifications` of a create call). Callers check that the resources exist.
    pub fn create(
        &self,
        account: &str,
        resource_ids: &[String],
        tags: &[Tag],
    ) -> Result<(), Error> {
        validate(tags)?;
        let value_of = |t: &Tag| {
            records::encode(
                TAGS,
                &TagRecord {
                    value: t.value.clone(),
                },
            )
        };
        let encoded: Vec<Vec<u8>> = tags.iter().map(value_of).collect::<Result<_, _>>()?;
        transact(self.store.as_ref(), |txn| {
            for id in resource_ids {
                let p = prefix(&[account, id]);
                let existing =
                    txn.scan(TAGS, &p, KeyRange::prefix(&p), MAX_TAGS_PER_RESOURCE + 1)?;
                let new_keys = tags
                    .iter()
                    .filter(|t| {
                        !existing
                            .iter()
                            .any(|(k, _)| k[p.len()..] == *t.key.as_bytes())
                    })
                    .count();
                if existing.len() + new_keys > MAX_TAGS_PER_RESOURCE {
                    return Err(Error::InvalidArgument(format!(
                        "The resource {id} would have more than {MAX_TAGS_PER_RESOURCE} tags."
                    )));
                }
                for (t, v) in tags.iter().zip(&encoded) {
                    txn.put(TAGS, &key(account, id, &t.key), v)?;
                }
            }
            Ok(())
        })
    }

    /// Removes tags (`DeleteTags`): a tag with `Some(value)` only when its value matches,
    /// with `None` whatever its value; no tags at all removes every tag of the resources.
    pub fn delete(
        &self,
        account: &str,
        resource_ids: &[String],
        tags: &[(String, Option<String>)],
    ) -> Result<(), Error> {
        transact(self.store.as_ref(), |txn| {
            for id in resource_ids {
                let p = prefix(&[account, id]);
                for (k, v) in txn.scan(TAGS, &p, KeyRange::prefix(&p), MAX_TAGS_PER_RESOURCE * 4)? {
                    let tag_key = String::from_utf8_lossy(&k[p.len()..]).into_owned();
                    let record: TagRecord = records::decode(TAGS, &v)?;
                    let hit = tags.is_empty()
                        || tags.iter().any(|(key, value)| {
                            *key == tag_key
                                && value.as_ref().is_none_or(|value| *value == record.value)
                        });
                    if hit {
                        txn.delete(TAGS, &k)?;
                    }
                }
            }
            Ok(())
        })
    }

    /// One resource's tags, in key order.
    pub fn of(&self, account: &str, resource_id: &str) -> Result<Vec<Tag>, Error> {
        let p = prefix(&[account, resource_id]);
        self.store
            .scan(TAGS, &p, KeyRange::prefix(&p), MAX_TAGS_PER_RESOURCE * 4)?
            .into_iter()
            .map(|(k, v)| {
                let record: TagRecord = records::decode(TAGS, &v)?;
                Ok(Tag {
                    key: String::from_utf8_lossy(&k[p.len()..]).into_owned(),
                    value: record.value,
                })
            })
            .collect()
    }

    /// Every tag of the account (`DescribeTags`, before filters and pagination).
    pub fn list(&self, account: &str) -> Result<Vec<ResourceTag>, Error> {
        let p = prefix(&[account]);
        let mut out = Vec::new();
        for (k, v) in self
            .store
            .scan(TAGS, &p, KeyRange::prefix(&p), MAX_LISTING)?
        {
            let rest = String::from_utf8_lossy(&k[p.len()..]).into_owned();
            let Some((id, tag_key)) = rest.split_once('\0') else {
                continue;
            };
            let record: TagRecord = records::decode(TAGS, &v)?;
            out.push(ResourceTag {
                resource_type: resource_type_of(id).unwrap_or("unknown"),
                resource_id: id.to_owned(),
                tag: Tag {
                    key: tag_key.to_owned(),
                    value: record.value,
                },
            });
        }
        Ok(out)
    }
}

/// The filter names `DescribeTags` accepts.
pub static DESCRIBE_TAGS_FILTERS: super::filter::FilterTable<ResourceTag> =
    super::filter::FilterTable {
        resource: "tag",
        fields: &[
            ("key", |r, out| out.push(r.tag.key.clone())),
            ("value", |r, out| out.push(r.tag.value.clone())),
            ("resource-id", |r, out| out.push(r.resource_id.clone())),
            ("resource-type", |r, out| {
                out.push(r.resource_type.to_owned())
            }),
        ],
        tags: None,
    };

#[cfg(test)]
mod tests {
    use super::*;
    use crate::query::filter::{Filter, FilterSet};

    fn tag(k: &str, v: &str) -> Tag {
        Tag {
            key: k.into(),
            value: v.into(),
        }
    }

    #[test]
    fn create_delete_describe() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store =
            kumo_state_redb::RedbStateStore::open(&dir.path().join("s.redb")).expect("open");
        let tags = TagStore::new(Arc::new(store));
        let ids = vec!["i-0abc".to_owned(), "vol-0def".to_owned()];
        tags.create("111", &ids, &[tag("Name", "web"), tag("env", "prod")])
            .expect("create");
        tags.create("111", &ids[..1], &[tag("env", "dev")])
            .expect("overwrite");
        tags.create("222", &ids[..1], &[tag("other", "account")])
            .expect("other account");
        assert_eq!(
            tags.of("111", "i-0abc").expect("of"),
            [tag("Name", "web"), tag("env", "dev")]
        );
        let all = tags.list("111").expect("list");
        assert_eq!(all.len(), 4);
        let set = FilterSet::compile(
            &DESCRIBE_TAGS_FILTERS,
            &[Filter {
                name: "resource-type".into(),
                values: vec!["volume".into()],
            }],
        )
        .expect("filters");
        let volumes: Vec<_> = all.iter().filter(|t| set.matches(t)).collect();
        assert_eq!(volumes.len(), 2);
        tags.delete("111", &ids, &[("env".into(), Some("prod".into()))])
            .expect("delete by value");
        assert_eq!(
            tags.of("111", "vol-0def").expect("of"),
            [tag("Name", "web")]
        );
        assert_eq!(tags.of("111", "i-0abc").expect("of").len(), 2);
        tags.delete("111", &ids[..1], &[]).expect("delete all");
        assert!(tags.of("111", "i-0abc").expect("of").is_empty());
        assert_eq!(tags.of("222", "i-0abc").expect("of").len(), 1);
    }

    #[test]
    fn rules() {
        assert!(validate(&[tag("aws:x", "y")]).is_err());
        assert!(validate(&[tag("", "y")]).is_err());
        assert!(validate(&[tag("a", "1"), tag("a", "2")]).is_err());
        assert!(validate(&[tag(&"k".repeat(129), "")]).is_err());
        let many: Vec<_> = (0..51).map(|i| tag(&format!("k{i}"), "")).collect();
        assert!(validate(&many).is_err());
        assert_eq!(resource_type_of("subnet-1"), Some("subnet"));
        assert_eq!(resource_type_of("x-1"), None);
    }
}
