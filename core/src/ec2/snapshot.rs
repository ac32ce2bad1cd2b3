//! EBS snapshots: `CreateSnapshot`, `DescribeSnapshots`, `DeleteSnapshot`, `CopySnapshot`,
//! snapshot attributes.
//!
//! A snapshot is `pending` until the reconciler has taken it in the block store
//! (`BlockStore::snapshot`, or a clone of the source for a copy), then `completed`. Volumes
//! created from it are copy-on-write clones, so the block store refuses to drop a snapshot
//! that volumes still use; the API refuses earlier when an image is registered from it.

use serde::{Deserialize, Serialize};

use crate::ec2::volume::{Volume, now_ms, rfc3339_ms};
use crate::ec2::{Ec2, Fault};
use crate::ids;
use crate::query::filter::{Filter, FilterSet, FilterTable};
use crate::query::paginate::{Page, page_size};
use crate::query::tags::{self, Tag};

/// A snapshot.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Snapshot {
    /// `snap-…`.
    pub id: String,
    /// Source volume (`vol-ffffffff` for a copy, as AWS reports).
    pub volume_id: String,
    /// Size of the source volume, GiB.
    pub volume_size_gib: u32,
    /// `pending`, `completed`, `error`, `deleting`.
    pub state: String,
    /// Milliseconds since the epoch.
    pub start_time_ms: i64,
    /// Description.
    #[serde(default)]
    pub description: String,
    /// Encrypted.
    pub encrypted: bool,
    /// Owner account.
    pub owner_id: String,
    /// The snapshot this one copies (for the reconciler).
    #[serde(default)]
    pub copy_of: Option<String>,
    /// Accounts that may create volumes from it.
    #[serde(default)]
    pub create_volume_user_ids: Vec<String>,
    /// Whether `all` may.
    #[serde(default)]
    pub create_volume_public: bool,
    /// Tags.
    #[serde(default)]
    pub tags: Vec<Tag>,
}

pub(crate) fn not_found(id: &str) -> Fault {
    Fault::new(
        "InvalidSnapshot.NotFound",
        format!("The snapshot '{id}' does not exist."),
    )
}

fn check_id(id: &str) -> Result<(), Fault> {
    if id.starts_with("snap-") {
        Ok(())
    } else {
        Err(Fault::new(
            "InvalidSnapshotID.Malformed",
            format!("Invalid id: \"{id}\" (expecting \"snap-...\")"),
        ))
    }
}

static SNAPSHOT_FILTERS: FilterTable<Snapshot> = FilterTable {
    resource: "snapshot",
    fields: &[
        ("description", |s, o| o.push(s.description.clone())),
        ("encrypted", |s, o| o.push(s.encrypted.to_string())),
        ("owner-alias", |_, _| {}),
        ("owner-id", |s, o| o.push(s.owner_id.clone())),
        ("progress", |s, o| {
            o.push(if s.state == "completed" { "100%" } else { "0%" }.into())
        }),
        ("snapshot-id", |s, o| o.push(s.id.clone())),
        ("start-time", |s, o| o.push(rfc3339_ms(s.start_time_ms))),
        ("status", |s, o| o.push(s.state.clone())),
        ("storage-tier", |_, o| o.push("standard".into())),
        ("volume-id", |s, o| o.push(s.volume_id.clone())),
        ("volume-size", |s, o| o.push(s.volume_size_gib.to_string())),
    ],
    tags: Some(|s| {
        s.tags
            .iter()
            .map(|t| (t.key.clone(), t.value.clone()))
            .collect()
    }),
};

/// The account's image registered from `snapshot_id` (its block device mappings name it), if
/// any: `DeleteSnapshot` refuses such a snapshot (`InvalidSnapshot.InUse`), as AWS does.
fn image_using(t: &crate::ec2::store::Txn<'_>, account: &str, snapshot_id: &str) -> Option<String> {
    t.list::<crate::ec2::image::Image>(account)
        .into_iter()
        .find(|i| i.block_devices.iter().any(|d| d.snapshot_id == snapshot_id))
        .map(|i| i.id)
}

impl Ec2 {
    /// `CreateSnapshot`: `pending` until the block store has taken it.
    pub fn create_snapshot(
        &self,
        account: &str,
        volume_id: &str,
        description: Option<&str>,
        tag_list: Vec<Tag>,
    ) -> Result<Snapshot, Fault> {
        tags::validate(&tag_list).map_err(|e| Fault::invalid_value(e.to_string()))?;
        let s = self
            .store()
            .transaction(|t| {
                let v = t.get::<Volume>(account, volume_id).ok_or_else(|| {
                    Fault::new(
                        "InvalidVolume.NotFound",
                        format!("The volume '{volume_id}' does not exist."),
                    )
                })?;
                if !v.provisioned || !matches!(v.state.as_str(), "available" | "in-use") {
                    return Err(Fault::new(
                        "IncorrectState",
                        format!("The volume '{volume_id}' is in the '{}' state.", v.state),
                    )
                    .into());
                }
                let s = Snapshot {
                    id: ids::resource_id("snap"),
                    volume_id: volume_id.to_owned(),
                    volume_size_gib: v.size_gib,
                    state: "pending".into(),
                    start_time_ms: now_ms(),
                    description: description.unwrap_or_default().to_owned(),
                    encrypted: v.encrypted,
                    owner_id: account.to_owned(),
                    copy_of: None,
                    create_volume_user_ids: Vec::new(),
                    create_volume_public: false,
                    tags: tag_list.clone(),
                };
                t.put(account, s.clone());
                Ok(s)
            })
            .map_err(crate::ec2::instance::fault_of)?;
        self.compute().wake();
        Ok(s)
    }

    /// `CopySnapshot` within the region.
    pub fn copy_snapshot(
        &self,
        account: &str,
        source_region: &str,
        source_id: &str,
        description: Option<&str>,
        tag_list: Vec<Tag>,
    ) -> Result<Snapshot, Fault> {
        if source_region != self.placement().region {
            return Err(Fault::invalid_value(format!(
                "Snapshots can only be copied within region {} on this endpoint.",
                self.placement().region
            )));
        }
        check_id(source_id)?;
        let s = self
            .store()
            .transaction(|t| {
                let src = t
                    .get::<Snapshot>(account, source_id)
                    .ok_or_else(|| not_found(source_id))?;
                if src.state != "completed" {
                    return Err(Fault::new(
                        "IncorrectState",
                        format!("Snapshot '{source_id}' is not 'completed'."),
                    )
                    .into());
                }
                let s = Snapshot {
                    id: ids::resource_id("snap"),
                    volume_id: "vol-ffffffff".into(),
                    volume_size_gib: src.volume_size_gib,
                    state: "pending".into(),
                    start_time_ms: now_ms(),
                    description: description
                        .map(str::to_owned)
                        .unwrap_or_else(|| format!("[Copied {source_id} from {source_region}]")),
                    encrypted: src.encrypted,
                    owner_id: account.to_owned(),
                    copy_of: Some(source_id.to_owned()),
                    create_volume_user_ids: Vec::new(),
                    create_volume_public: false,
                    tags: tag_list.clone(),
                };
                t.put(account, s.clone());
                Ok(s)
            })
            .map_err(crate::ec2::instance::fault_of)?;
        self.compute().wake();
        Ok(s)
    }

    /// `DescribeSnapshots` (own snapshots; `OwnerIds` may name `self` or the account).
    pub fn describe_snapshots(
        &self,
        account: &str,
        ids: &[String],
        owners: &[String],
        filters: &[Filter],
        max_results: Option<i32>,
        next_token: Option<&str>,
    ) -> Result<Page<Snapshot>, Fault> {
        if !ids.is_empty() && max_results.is_some() {
            return Err(Fault::invalid_combination(
                "The parameter snapshotSet cannot be used with the parameter maxResults",
            ));
        }
        if let Some(n) = max_results
            && !(5..=1000).contains(&n)
        {
            return Err(Fault::invalid_value(format!(
                "Value ( {n} ) for parameter maxResults is invalid. Parameter must be between 5 and 1000."
            )));
        }
        let own = owners.is_empty() || owners.iter().any(|o| o == "self" || o == account);
        let set = FilterSet::compile(&SNAPSHOT_FILTERS, filters)?;
        for id in ids {
            check_id(id)?;
            if self
                .store()
                .get::<Snapshot>(account, id)
                .map_err(crate::ec2::instance::fault_of)?
                .filter(|s| s.state != "deleting")
                .is_none()
            {
                return Err(not_found(id));
            }
        }
        let found = if own {
            self.store()
                .scan(account, |s: &Snapshot| {
                    (s.state != "deleting"
                        && (ids.is_empty() || ids.contains(&s.id))
                        && set.matches(s))
                    .then(|| s.clone())
                })
                .map_err(crate::ec2::instance::fault_of)?
        } else {
            Vec::new()
        };
        let scope = format!("DescribeSnapshots{owners:?}{filters:?}");
        Ok(self.paginator().page(
            found,
            |s| s.id.as_str(),
            &scope,
            next_token,
            page_size(max_results),
        )?)
    }

    /// `DeleteSnapshot`: refused while an image uses it; the reconciler drops it from the
    /// block store (and keeps it `deleting` while volumes cloned from it still exist there).
    pub fn delete_snapshot(&self, account: &str, snapshot_id: &str) -> Result<(), Fault> {
        check_id(snapshot_id)?;
        self.store()
            .transaction(|t| {
                let mut s = t
                    .get::<Snapshot>(account, snapshot_id)
                    .ok_or_else(|| not_found(snapshot_id))?;
                if let Some(image) = image_using(t, account, snapshot_id) {
                    return Err(Fault::new(
                        "InvalidSnapshot.InUse",
                        format!("The snapshot {snapshot_id} is currently in use by {image}"),
                    )
                    .into());
                }
                if s.state == "pending" {
                    return Err(Fault::new(
                        "IncorrectState",
                        format!("Snapshot '{snapshot_id}' is still pending."),
                    )
                    .into());
                }
                s.state = "deleting".into();
                t.put(account, s);
                Ok(())
            })
            .map_err(crate::ec2::instance::fault_of)?;
        self.compute().wake();
        Ok(())
    }

    /// One snapshot (`DescribeSnapshotAttribute`).
    pub fn snapshot(&self, account: &str, snapshot_id: &str) -> Result<Snapshot, Fault> {
        check_id(snapshot_id)?;
        self.store()
            .get::<Snapshot>(account, snapshot_id)
            .map_err(crate::ec2::instance::fault_of)?
            .filter(|s| s.state != "deleting")
            .ok_or_else(|| not_found(snapshot_id))
    }

    /// `ModifySnapshotAttribute` (`createVolumePermission`): add and remove user ids or
    /// the `all` group.
    pub fn modify_snapshot_permissions(
        &self,
        account: &str,
        snapshot_id: &str,
        add_users: &[String],
        remove_users: &[String],
        add_all: bool,
        remove_all: bool,
    ) -> Result<(), Fault> {
        check_id(snapshot_id)?;
        for u in add_users.iter().chain(remove_users) {
            if u.len() != 12 || !u.bytes().all(|b| b.is_ascii_digit()) {
                return Err(Fault::invalid_value(format!("Invalid user id: {u}")));
            }
        }
        self.store()
            .transaction(|t| {
                let mut s = t
                    .get::<Snapshot>(account, snapshot_id)
                    .ok_or_else(|| not_found(snapshot_id))?;
                for u in add_users {
                    if !s.create_volume_user_ids.contains(u) {
                        s.create_volume_user_ids.push(u.clone());
                    }
                }
                s.create_volume_user_ids
                    .retain(|u| !remove_users.contains(u));
                if add_all {
                    s.create_volume_public = true;
                }
                if remove_all {
                    s.create_volume_public = false;
                }
                t.put(account, s);
                Ok(())
            })
            .map_err(crate::ec2::instance::fault_of)
    }
}
