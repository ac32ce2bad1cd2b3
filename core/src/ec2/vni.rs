//! VPCs' VXLAN network identifiers (VNIs): each VPC's routers on different compute hosts
//! exchange its traffic under its VNI (`VpcSpec::vni`), so a VNI must name one VPC in the whole
//! installation, across accounts.
//!
//! Allocation: a counter ([`VniCounter`], one record under the store's shared account
//! [`GLOBAL`]) handed out and advanced in the transaction that creates the VPC (`CreateVpc`,
//! the default VPC of an account, `CreateDefaultVpc`), so two VPCs can never get one VNI and
//! a crash cannot lose an allocation. VNIs run from 1 to 16,777,215 (24 bits; 0 means "not
//! assigned" in a record).
//!
//! Why never reused: a VNI reused while a host still holds the deleted VPC's router (a host
//! that was unreachable when the VPC was deleted sweeps it only once it is driven again) would
//! join two tenants' networks on the underlay. A counter makes that impossible at the cost of
//! a limit of 16.7 million VPCs over the installation's life; past it `CreateVpc` fails with
//! `VpcLimitExceeded` rather than wrapping.
//!
//! Records written before VNIs existed have none (`vni` 0): [`Ec2::assign_vnis`], called once
//! at start-up before any reconciler runs, gives each its own from the same counter in one
//! transaction (in account and id order, so the result is deterministic).

use serde::{Deserialize, Serialize};

use crate::Error;
use crate::ec2::address::GLOBAL;
use crate::ec2::store::Txn;
use crate::ec2::vpc::Vpc;
use crate::ec2::{Ec2, Fault};
use crate::query::tags::Tag;

/// The counter's id.
pub const COUNTER_ID: &str = "kumo-vni-counter";

/// The largest VNI (24 bits), the fabric seam's.
pub use kumo_driver_api::MAX_VNI;

/// The next VNI to hand out.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VniCounter {
    /// [`COUNTER_ID`].
    pub id: String,
    /// The next VNI (1 at first; beyond [`MAX_VNI`]: exhausted).
    pub next: u32,
    /// Unused (not taggable).
    #[serde(default)]
    pub tags: Vec<Tag>,
}

/// Hands out the next VNI in `t`, advancing the counter.
pub(crate) fn allocate(t: &mut Txn<'_>) -> Result<u32, Fault> {
    let mut counter = t
        .get::<VniCounter>(GLOBAL, COUNTER_ID)
        .unwrap_or_else(|| VniCounter {
            id: COUNTER_ID.into(),
            // No counter yet: start past any VNI already recorded (none on a fresh store;
            // belt and braces should a counter row ever be lost).
            next: t
                .list_all::<Vpc>()
                .iter()
                .map(|(_, v)| v.vni)
                .max()
                .unwrap_or(0)
                .saturating_add(1),
            tags: Vec::new(),
        });
    let vni = counter.next.max(1);
    if vni > MAX_VNI {
        return Err(Fault::new(
            "VpcLimitExceeded",
            "The maximum number of VPCs has been reached (this installation has used every VXLAN network identifier).",
        ));
    }
    counter.next = vni + 1;
    t.put(GLOBAL, counter);
    Ok(vni)
}

impl Ec2 {
    /// Gives every VPC recorded without a VNI (written before VNIs existed) its own, in one
    /// transaction; returns how many. Idempotent: run it at start-up.
    pub fn assign_vnis(&self) -> Result<usize, Error> {
        let missing = self
            .store()
            .scan_all(|a, v: &Vpc| (v.vni == 0).then(|| (a.to_owned(), v.id.clone())))?;
        if missing.is_empty() {
            return Ok(0);
        }
        self.store().transaction(|t| {
            let mut n = 0;
            for (account, id) in &missing {
                if let Some(mut v) = t.get::<Vpc>(account, id)
                    && v.vni == 0
                {
                    v.vni = allocate(t)?;
                    t.put(account, v);
                    n += 1;
                }
            }
            Ok(n)
        })
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use super::*;

    const A: &str = "111111111111";
    const B: &str = "222222222222";

    fn vnis(ec2: &Ec2) -> Vec<u32> {
        ec2.store()
            .scan_all(|_, v: &Vpc| Some(v.vni))
            .expect("scan")
    }

    #[test]
    fn every_vpc_gets_its_own_vni_across_accounts_and_deletions() {
        let ec2 = crate::ec2::testing::ec2();
        // Default VPCs are created with the accounts' first calls: each gets one too.
        let a1 = ec2
            .create_vpc(A, "10.0.0.0/16", None, false, vec![])
            .expect("vpc");
        let b1 = ec2
            .create_vpc(B, "10.0.0.0/16", None, false, vec![])
            .expect("vpc");
        assert!(a1.vni >= 1 && b1.vni >= 1 && a1.vni != b1.vni);
        ec2.delete_vpc(A, &a1.id).expect("delete");
        let a2 = ec2
            .create_vpc(A, "10.0.0.0/16", None, false, vec![])
            .expect("vpc");
        // Never reused: a2 gets a new one although a1's is free.
        assert!(a2.vni > b1.vni.max(a1.vni), "{a2:?}");
        let all = vnis(&ec2);
        assert_eq!(all.len(), 4, "two default VPCs, b1 and a2: {all:?}");
        assert!(all.iter().all(|v| (1..=MAX_VNI).contains(v)));
        assert_eq!(all.iter().collect::<BTreeSet<_>>().len(), all.len());
        // CreateDefaultVpc after deleting the default VPC allocates as well.
        let default = ec2
            .store()
            .list::<Vpc>(B)
            .expect("list")
            .into_iter()
            .find(|v| v.is_default)
            .expect("default vpc");
        for s in ec2
            .store()
            .list::<crate::ec2::subnet::Subnet>(B)
            .expect("subnets")
        {
            ec2.delete_subnet(B, &s.id).expect("delete subnet");
        }
        for g in ec2
            .store()
            .list::<crate::ec2::internet_gateway::InternetGateway>(B)
            .expect("igws")
        {
            ec2.detach_internet_gateway(B, &g.id, &default.id)
                .expect("detach");
        }
        ec2.delete_vpc(B, &default.id).expect("delete default");
        let again = ec2.create_default_vpc(B).expect("default again");
        assert!(again.vni > a2.vni, "{again:?}");
        // Durable: the counter survives with the records (same store reopened below in
        // `records_without_a_vni_get_one_at_start_up`); here, nothing is missing.
        assert_eq!(ec2.assign_vnis().expect("assign"), 0);
    }

    #[test]
    fn records_without_a_vni_get_one_at_start_up() {
        let ec2 = crate::ec2::testing::ec2();
        let v = ec2
            .create_vpc(A, "10.1.0.0/16", None, false, vec![])
            .expect("vpc");
        // Simulate records from before VNIs: strip every VPC's VNI and the counter.
        let old: Vec<(String, Vpc)> = ec2
            .store()
            .scan_all(|a, v: &Vpc| Some((a.to_owned(), v.clone())))
            .expect("scan");
        ec2.store()
            .transaction(|t| {
                for (a, v) in &old {
                    let mut json = serde_json::to_value(v).expect("json");
                    json.as_object_mut().expect("object").remove("vni");
                    let legacy: Vpc = serde_json::from_value(json).expect("legacy record loads");
                    assert_eq!(legacy.vni, 0);
                    t.put(a, legacy);
                }
                t.delete::<VniCounter>(GLOBAL, COUNTER_ID);
                Ok(())
            })
            .expect("strip");
        assert!(vnis(&ec2).iter().all(|v| *v == 0));
        assert_eq!(ec2.assign_vnis().expect("assign"), old.len());
        let all = vnis(&ec2);
        assert!(all.iter().all(|v| *v >= 1));
        assert_eq!(all.iter().collect::<BTreeSet<_>>().len(), all.len());
        assert_eq!(ec2.assign_vnis().expect("again"), 0, "idempotent");
        // New VPCs continue after them.
        let next = ec2
            .create_vpc(A, "10.2.0.0/16", None, false, vec![])
            .expect("vpc");
        assert!(all.iter().all(|v| *v < next.vni), "{all:?} {}", next.vni);
        assert_ne!(v.id, next.id);
    }

    #[test]
    fn allocation_stops_at_the_24_bit_limit() {
        let ec2 = crate::ec2::testing::ec2();
        ec2.store()
            .transaction(|t| {
                t.put(
                    GLOBAL,
                    VniCounter {
                        id: COUNTER_ID.into(),
                        next: MAX_VNI,
                        tags: Vec::new(),
                    },
                );
                Ok(())
            })
            .expect("counter");
        // The account's default VPC takes the last one.
        ec2.ensure_defaults(A).expect("defaults");
        assert!(vnis(&ec2).contains(&MAX_VNI));
        match ec2.create_vpc(A, "10.0.0.0/16", None, false, vec![]) {
            Err(Error::Fault(f)) => assert_eq!(f.code, "VpcLimitExceeded"),
            other => panic!("{other:?}"),
        }
    }
}
