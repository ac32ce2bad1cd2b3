//! Test fixtures: an [`Ec2`] over a fresh redb file in a temporary directory.

use std::sync::Arc;

use super::{Ec2, Placement, ResourceStore};

/// A fresh service with zones `us-east-1a` and `us-east-1b`. The temporary directory lives
/// as long as the process (tests are short-lived).
pub(crate) fn ec2() -> Ec2 {
    let dir = tempfile::tempdir().expect("tempdir");
    let store =
        kumo_state_redb::RedbStateStore::open(&dir.path().join("state.redb")).expect("redb");
    std::mem::forget(dir);
    let store = ResourceStore::open(Arc::new(store)).expect("open");
    Ec2::new(
        store,
        Placement {
            region: "us-east-1".into(),
            zones: vec!["us-east-1a".into(), "us-east-1b".into()],
        },
    )
}
