//! Placement groups: named constraints on where an account's instances run, which `RunInstances`
//! hands to the scheduler ([`crate::compute::scheduler`]).
//!
//! - `cluster` packs members onto the hosts the group already uses (locality);
//! - `spread` puts every member on a distinct host. AWS spreads across racks (`SpreadLevel=rack`,
//!   its default) or, on Outposts, hosts (`host`). Kumo has no rack inventory, so every host
//!   counts as its own rack: both levels are accepted, recorded as asked, and enforced as
//!   one member per host. Kumo's default is `host`, which says what actually happens;
//! - `partition` gives each of its 1..=7 partitions a disjoint set of hosts.
//!
//! A group's members are not stored on the group: they are the account's non-terminated
//! instances that name it (a stopped member keeps its host, as on AWS), read inside the launch
//! transaction, so membership can never drift from the instances themselves.

use serde::{Deserialize, Serialize};

use super::Fault;
use crate::Error;
use crate::compute::scheduler::{self, Strategy};
use crate::ec2::Ec2;
use crate::ec2::instance::{Instance, InstanceState};
use crate::ec2::store::Txn;
use crate::ids;
use crate::query::filter::{Filter, FilterTable};
use crate::query::tags::{Tag, validate};

/// A placement group.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlacementGroup {
    /// `pg-…`.
    pub id: String,
    /// Name, unique in the account.
    pub name: String,
    /// `cluster`, `spread` or `partition`.
    pub strategy: String,
    /// Number of partitions (partition groups only).
    #[serde(default)]
    pub partition_count: Option<u32>,
    /// `host` or `rack` (spread groups only; both mean one member per host here).
    #[serde(default)]
    pub spread_level: Option<String>,
    /// Always `available` (creation and deletion are immediate).
    pub state: String,
    /// `arn:aws:ec2:<region>:<account>:placement-group/<name>`.
    pub arn: String,
    /// Tags.
    #[serde(default)]
    pub tags: Vec<Tag>,
}

impl PlacementGroup {
    /// The scheduler's view of the strategy.
    #[must_use]
    pub fn scheduler_strategy(&self) -> Strategy {
        match self.strategy.as_str() {
            "spread" => Strategy::Spread,
            "partition" => Strategy::Partition {
                count: self.partition_count.unwrap_or(DEFAULT_PARTITIONS),
            },
            _ => Strategy::Cluster,
        }
    }
}

static GROUP_FILTERS: FilterTable<PlacementGroup> = FilterTable {
    resource: "placement group",
    fields: &[
        ("group-name", |g, out| out.push(g.name.clone())),
        ("group-id", |g, out| out.push(g.id.clone())),
        ("group-arn", |g, out| out.push(g.arn.clone())),
        ("state", |g, out| out.push(g.state.clone())),
        ("strategy", |g, out| out.push(g.strategy.clone())),
        ("spread-level", |g, out| {
            if let Some(l) = &g.spread_level {
                out.push(l.clone());
            }
        }),
        ("partition-count", |g, out| {
            if let Some(c) = g.partition_count {
                out.push(c.to_string());
            }
        }),
    ],
    tags: Some(|g| {
        g.tags
            .iter()
            .map(|t| (t.key.clone(), t.value.clone()))
            .collect()
    }),
};

/// Longest group name AWS accepts.
const MAX_NAME: usize = 255;
/// Partitions of a partition group when `PartitionCount` is not given.
const DEFAULT_PARTITIONS: u32 = 2;
/// Most partitions AWS allows per group (per zone).
const MAX_PARTITIONS: u32 = 7;

/// `InvalidPlacementGroup.Unknown` for a name or id.
#[must_use]
pub fn unknown(what: &str) -> Fault {
    Fault::new(
        "InvalidPlacementGroup.Unknown",
        format!("The Placement Group '{what}' is unknown."),
    )
}

fn check_name(name: &str) -> Result<(), Fault> {
    if name.is_empty() {
        return Err(Fault::missing("GroupName"));
    }
    if name.chars().count() > MAX_NAME || !name.is_ascii() {
        return Err(Fault::invalid_value(format!(
            "Value ({name}) for parameter GroupName is invalid: up to {MAX_NAME} ASCII characters"
        )));
    }
    Ok(())
}

/// Whether an instance still belongs to its group (everything but `terminated`).
fn is_member(i: &Instance, group: &PlacementGroup) -> bool {
    i.state != InstanceState::Terminated
        && (i.placement_group_id.as_deref() == Some(group.id.as_str())
            || (i.placement_group_id.is_none()
                && i.placement_group.as_deref() == Some(group.name.as_str())))
}

/// The group a launch names (by name or id; either must exist in `account`), with the
/// scheduler's view of it: strategy and where its current members run.
pub(crate) fn for_launch(
    t: &Txn<'_>,
    account: &str,
    name: Option<&str>,
    id: Option<&str>,
) -> Result<Option<(PlacementGroup, scheduler::PlacementGroup)>, Fault> {
    let name = name.filter(|s| !s.is_empty());
    let id = id.filter(|s| !s.is_empty());
    if name.is_none() && id.is_none() {
        return Ok(None);
    }
    let group = t
        .list::<PlacementGroup>(account)
        .into_iter()
        .find(|g| name.is_none_or(|n| g.name == n) && id.is_none_or(|i| g.id == i))
        .ok_or_else(|| unknown(name.or(id).unwrap_or_default()))?;
    let members = t
        .list::<Instance>(account)
        .into_iter()
        .filter(|i| is_member(i, &group))
        .map(|i| (i.host, i.partition_number.unwrap_or(0)))
        .collect();
    let view = scheduler::PlacementGroup {
        strategy: group.scheduler_strategy(),
        members,
    };
    Ok(Some((group, view)))
}

/// Checks a requested `PartitionNumber` against the group it targets.
pub(crate) fn check_partition(
    group: Option<&PlacementGroup>,
    partition: Option<i32>,
) -> Result<Option<u32>, Fault> {
    let Some(p) = partition else {
        return Ok(None);
    };
    let Some(g) = group else {
        return Err(Fault::invalid_combination(
            "PartitionNumber requires a partition placement group (Placement.GroupName).",
        ));
    };
    let Some(count) = g.partition_count.filter(|_| g.strategy == "partition") else {
        return Err(Fault::invalid_combination(format!(
            "PartitionNumber is only valid for partition placement groups; '{}' is a {} group.",
            g.name, g.strategy
        )));
    };
    match u32::try_from(p) {
        Ok(n) if (1..=count).contains(&n) => Ok(Some(n)),
        _ => Err(Fault::invalid_value(format!(
            "Value ({p}) for parameter PartitionNumber is invalid: placement group '{}' has partitions 1 to {count}.",
            g.name
        ))),
    }
}

impl Ec2 {
    /// `CreatePlacementGroup`.
    pub fn create_placement_group(
        &self,
        account: &str,
        name: &str,
        strategy: Option<&str>,
        partition_count: Option<i32>,
        spread_level: Option<&str>,
        tags: Vec<Tag>,
    ) -> Result<PlacementGroup, Error> {
        check_name(name)?;
        validate(&tags).map_err(|e| Fault::invalid_value(e.to_string()))?;
        let Some(strategy) = strategy.filter(|s| !s.is_empty()) else {
            return Err(Fault::missing("Strategy").into());
        };
        if !matches!(strategy, "cluster" | "spread" | "partition") {
            return Err(Fault::invalid_value(format!(
                "Value ({strategy}) for parameter Strategy is invalid: use cluster, spread or partition."
            ))
            .into());
        }
        let partition_count = match (strategy, partition_count) {
            ("partition", None) => Some(DEFAULT_PARTITIONS),
            ("partition", Some(n)) => match u32::try_from(n) {
                Ok(n) if (1..=MAX_PARTITIONS).contains(&n) => Some(n),
                _ => {
                    return Err(Fault::invalid_value(format!(
                        "Value ({n}) for parameter PartitionCount is invalid: a partition placement group has 1 to {MAX_PARTITIONS} partitions."
                    ))
                    .into());
                }
            },
            (_, Some(_)) => {
                return Err(Fault::invalid_combination(
                    "PartitionCount is only valid with the partition strategy.",
                )
                .into());
            }
            (_, None) => None,
        };
        let spread_level = match (strategy, spread_level.filter(|s| !s.is_empty())) {
            ("spread", None) => Some("host".to_owned()),
            ("spread", Some(l @ ("host" | "rack"))) => Some(l.to_owned()),
            ("spread", Some(l)) => {
                return Err(Fault::invalid_value(format!(
                    "Value ({l}) for parameter SpreadLevel is invalid: use host or rack."
                ))
                .into());
            }
            (_, Some(_)) => {
                return Err(Fault::invalid_combination(
                    "SpreadLevel is only valid with the spread strategy.",
                )
                .into());
            }
            (_, None) => None,
        };
        let group = PlacementGroup {
            id: ids::resource_id("pg"),
            name: name.to_owned(),
            strategy: strategy.to_owned(),
            partition_count,
            spread_level,
            state: "available".into(),
            arn: format!(
                "arn:aws:ec2:{}:{account}:placement-group/{name}",
                self.placement().region
            ),
            tags,
        };
        self.store().transaction(|t| {
            if t.list::<PlacementGroup>(account)
                .iter()
                .any(|g| g.name == group.name)
            {
                return Err(Fault::new(
                    "InvalidPlacementGroup.Duplicate",
                    format!("The Placement Group '{name}' already exists."),
                )
                .into());
            }
            t.put(account, group.clone());
            Ok(group)
        })
    }

    /// `DescribePlacementGroups`: by names, ids and filters (every named group must exist).
    pub fn describe_placement_groups(
        &self,
        account: &str,
        names: &[String],
        ids: &[String],
        filters: &[Filter],
    ) -> Result<Vec<PlacementGroup>, Error> {
        crate::ec2::listing::select_named(
            self.store().list::<PlacementGroup>(account)?,
            &GROUP_FILTERS,
            filters,
            names,
            ids,
            |g| &g.name,
            unknown,
            unknown,
        )
    }

    /// `DeletePlacementGroup`: refused while a non-terminated instance is in the group.
    pub fn delete_placement_group(&self, account: &str, name: &str) -> Result<(), Error> {
        if name.is_empty() {
            return Err(Fault::missing("GroupName").into());
        }
        self.store().transaction(|t| {
            let group = t
                .list::<PlacementGroup>(account)
                .into_iter()
                .find(|g| g.name == name)
                .ok_or_else(|| unknown(name))?;
            if t.list::<Instance>(account)
                .iter()
                .any(|i| is_member(i, &group))
            {
                return Err(Fault::new(
                    "InvalidPlacementGroup.InUse",
                    format!("The placement group '{name}' is in use and may not be deleted."),
                )
                .into());
            }
            t.delete::<PlacementGroup>(account, &group.id);
            Ok(())
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ec2::testing::ec2;

    fn code(e: Error) -> &'static str {
        match e {
            Error::Fault(f) => f.code,
            other => panic!("not a fault: {other}"),
        }
    }

    fn filter(name: &str, value: &str) -> Filter {
        Filter {
            name: name.into(),
            values: vec![value.into()],
        }
    }

    #[test]
    fn create_defaults_and_arn() {
        let ec2 = ec2();
        let s = ec2
            .create_placement_group("111", "s", Some("spread"), None, None, Vec::new())
            .expect("spread");
        assert!(s.id.starts_with("pg-"));
        assert_eq!(s.spread_level.as_deref(), Some("host"));
        assert_eq!(s.partition_count, None);
        assert_eq!(s.state, "available");
        assert_eq!(s.arn, "arn:aws:ec2:us-east-1:111:placement-group/s");
        let p = ec2
            .create_placement_group("111", "p", Some("partition"), None, None, Vec::new())
            .expect("partition");
        assert_eq!(p.partition_count, Some(2));
        assert_eq!(p.scheduler_strategy(), Strategy::Partition { count: 2 });
        let c = ec2
            .create_placement_group("111", "c", Some("cluster"), None, None, Vec::new())
            .expect("cluster");
        assert_eq!((c.partition_count, c.spread_level), (None, None));
        let r = ec2
            .create_placement_group("111", "r", Some("spread"), None, Some("rack"), Vec::new())
            .expect("rack accepted");
        assert_eq!(r.spread_level.as_deref(), Some("rack"));
        assert_eq!(r.scheduler_strategy(), Strategy::Spread);
    }

    #[test]
    fn create_errors() {
        let ec2 = ec2();
        let create = |name: &str, s: Option<&str>, n: Option<i32>, l: Option<&str>| {
            ec2.create_placement_group("111", name, s, n, l, Vec::new())
        };
        assert_eq!(
            code(create("", Some("spread"), None, None).expect_err("no name")),
            "MissingParameter"
        );
        assert_eq!(
            code(create("x", None, None, None).expect_err("no strategy")),
            "MissingParameter"
        );
        assert_eq!(
            code(create("x", Some("packed"), None, None).expect_err("strategy")),
            "InvalidParameterValue"
        );
        for n in [0, 8, -1] {
            assert_eq!(
                code(create("x", Some("partition"), Some(n), None).expect_err("count")),
                "InvalidParameterValue"
            );
        }
        assert_eq!(
            code(create("x", Some("cluster"), Some(2), None).expect_err("count on cluster")),
            "InvalidParameterCombination"
        );
        assert_eq!(
            code(create("x", Some("cluster"), None, Some("host")).expect_err("level")),
            "InvalidParameterCombination"
        );
        assert_eq!(
            code(create("x", Some("spread"), None, Some("zone")).expect_err("level")),
            "InvalidParameterValue"
        );
        create("x", Some("partition"), Some(7), None).expect("7 partitions");
        assert_eq!(
            code(create("x", Some("spread"), None, None).expect_err("dup")),
            "InvalidPlacementGroup.Duplicate"
        );
        // Names are per account.
        ec2.create_placement_group("222", "x", Some("spread"), None, None, Vec::new())
            .expect("other account");
    }

    #[test]
    fn describe_by_name_id_and_filters() {
        let ec2 = ec2();
        let a = ec2
            .create_placement_group(
                "111",
                "a",
                Some("spread"),
                None,
                None,
                vec![Tag {
                    key: "team".into(),
                    value: "blue".into(),
                }],
            )
            .expect("a");
        let b = ec2
            .create_placement_group("111", "b", Some("partition"), Some(3), None, Vec::new())
            .expect("b");
        ec2.create_placement_group("222", "c", Some("cluster"), None, None, Vec::new())
            .expect("c");
        let names = |gs: Vec<PlacementGroup>| gs.into_iter().map(|g| g.name).collect::<Vec<_>>();
        let d = |n: &[&str], i: &[&str], f: &[Filter]| {
            ec2.describe_placement_groups(
                "111",
                &n.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>(),
                &i.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>(),
                f,
            )
        };
        assert_eq!(names(d(&[], &[], &[]).expect("all")), ["a", "b"]);
        assert_eq!(names(d(&["b"], &[], &[]).expect("by name")), ["b"]);
        assert_eq!(names(d(&[], &[&a.id], &[]).expect("by id")), ["a"]);
        for (f, want) in [
            (filter("group-name", "b"), vec!["b"]),
            (filter("group-arn", &a.arn), vec!["a"]),
            (filter("state", "available"), vec!["a", "b"]),
            (filter("strategy", "partition"), vec!["b"]),
            (filter("spread-level", "host"), vec!["a"]),
            (filter("tag:team", "blue"), vec!["a"]),
            (filter("tag-key", "team"), vec!["a"]),
            (filter("group-id", &b.id), vec!["b"]),
        ] {
            assert_eq!(
                names(d(&[], &[], std::slice::from_ref(&f)).expect("filter")),
                want,
                "{f:?}"
            );
        }
        assert_eq!(
            code(d(&["c"], &[], &[]).expect_err("other account's")),
            "InvalidPlacementGroup.Unknown"
        );
        assert_eq!(
            code(d(&[], &["pg-0000"], &[]).expect_err("unknown id")),
            "InvalidPlacementGroup.Unknown"
        );
        assert_eq!(
            code(d(&[], &[], &[filter("nope", "x")]).expect_err("bad filter")),
            "InvalidParameterValue"
        );
    }

    #[test]
    fn delete_unknown_and_ok() {
        let ec2 = ec2();
        assert_eq!(
            code(ec2.delete_placement_group("111", "g").expect_err("unknown")),
            "InvalidPlacementGroup.Unknown"
        );
        ec2.create_placement_group("111", "g", Some("cluster"), None, None, Vec::new())
            .expect("g");
        ec2.delete_placement_group("111", "g").expect("delete");
        assert!(
            ec2.describe_placement_groups("111", &[], &[], &[])
                .expect("list")
                .is_empty()
        );
        // The name is free again.
        ec2.create_placement_group("111", "g", Some("spread"), None, None, Vec::new())
            .expect("recreate");
    }

    #[test]
    fn partition_number_rules() {
        let ec2 = ec2();
        let p = ec2
            .create_placement_group("111", "p", Some("partition"), Some(3), None, Vec::new())
            .expect("p");
        let s = ec2
            .create_placement_group("111", "s", Some("spread"), None, None, Vec::new())
            .expect("s");
        assert_eq!(check_partition(Some(&p), None).expect("none"), None);
        assert_eq!(check_partition(Some(&p), Some(3)).expect("3"), Some(3));
        for bad in [0, 4, -2] {
            assert_eq!(
                check_partition(Some(&p), Some(bad))
                    .expect_err("range")
                    .code,
                "InvalidParameterValue"
            );
        }
        assert_eq!(
            check_partition(Some(&s), Some(1)).expect_err("spread").code,
            "InvalidParameterCombination"
        );
        assert_eq!(
            check_partition(None, Some(1)).expect_err("no group").code,
            "InvalidParameterCombination"
        );
    }
}
