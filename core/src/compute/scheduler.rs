//! The scheduler: a pure function from (request, hosts with free capacity, placement group) to a
//! host. No I/O and no clock, so it is tested with synthetic hosts and benchmarked directly
//! (`cargo bench -p kumo-core --bench scheduler`), as Neon's storage controller does.
//!
//! Policy:
//! - only hosts in the requested zone (if any) with enough free vCPUs and memory qualify;
//! - without a placement group, the least-loaded host wins (largest free share of its scarcer
//!   resource), which spreads instances across the hosts of a zone; ties go to the lower id, so
//!   the result is deterministic;
//! - `cluster` packs a group onto the hosts it already uses (then onto the fullest hosts of the
//!   same zone), for locality;
//! - `spread` puts every member on a distinct host;
//! - `partition` gives each partition a disjoint set of hosts; a new member goes to the requested
//!   partition or to the emptiest one;
//! - when nothing fits: [`ScheduleError::InsufficientCapacity`], which the API answers as
//!   `InsufficientInstanceCapacity`.

use std::collections::{BTreeMap, BTreeSet};

/// A host as the scheduler sees it: its zone and capacity.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostCapacity {
    /// Host id.
    pub id: String,
    /// Availability zone.
    pub zone: String,
    /// vCPUs the host offers to guests.
    pub vcpus: u32,
    /// vCPUs already allocated.
    pub vcpus_used: u32,
    /// Memory offered to guests, MiB.
    pub memory_mib: u64,
    /// Memory already allocated, MiB.
    pub memory_mib_used: u64,
}

impl HostCapacity {
    fn fits(&self, req: &PlacementRequest<'_>) -> bool {
        self.vcpus.saturating_sub(self.vcpus_used) >= req.vcpus
            && self.memory_mib.saturating_sub(self.memory_mib_used) >= req.memory_mib
    }

    /// Free share of the scarcer resource after placing `req`, in millionths.
    fn free_share_after(&self, req: &PlacementRequest<'_>) -> u64 {
        let cpu_free = u64::from(self.vcpus.saturating_sub(self.vcpus_used + req.vcpus));
        let mem_free = self
            .memory_mib
            .saturating_sub(self.memory_mib_used + req.memory_mib);
        let cpu = cpu_free * 1_000_000 / u64::from(self.vcpus.max(1));
        let mem = mem_free * 1_000_000 / self.memory_mib.max(1);
        cpu.min(mem)
    }
}

/// A placement group's strategy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Strategy {
    /// Pack together.
    Cluster,
    /// One member per host.
    Spread,
    /// Disjoint host sets per partition (1-based partitions, `count` of them).
    Partition {
        /// Number of partitions.
        count: u32,
    },
}

/// A placement group and where its members already run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlacementGroup {
    /// Strategy.
    pub strategy: Strategy,
    /// (host id, partition number) of each current member; the partition is 0 outside
    /// partition groups.
    pub members: Vec<(String, u32)>,
}

/// What is to be placed.
#[derive(Debug, Clone, Copy)]
pub struct PlacementRequest<'a> {
    /// vCPUs of the instance type.
    pub vcpus: u32,
    /// Memory of the instance type, MiB.
    pub memory_mib: u64,
    /// Required zone, if any.
    pub zone: Option<&'a str>,
    /// Placement group, if any.
    pub group: Option<&'a PlacementGroup>,
    /// Requested partition (partition groups only).
    pub partition: Option<u32>,
}

/// Where it goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Placement {
    /// Index of the chosen host in the input slice.
    pub host: usize,
    /// Partition number, for partition groups.
    pub partition: Option<u32>,
}

/// Why nothing was chosen.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ScheduleError {
    /// No host has room (in the zone, for the group's constraint).
    #[error("insufficient capacity: {0}")]
    InsufficientCapacity(String),
    /// The request contradicts its group (partition out of range, ...).
    #[error("invalid placement: {0}")]
    Invalid(String),
}

fn best_by<F>(
    hosts: &[HostCapacity],
    candidates: impl Iterator<Item = usize>,
    key: F,
) -> Option<usize>
where
    F: Fn(&HostCapacity) -> u64,
{
    // Highest key wins; ties go to the lowest host id (deterministic).
    candidates.max_by(|&a, &b| {
        key(&hosts[a])
            .cmp(&key(&hosts[b]))
            .then_with(|| hosts[b].id.cmp(&hosts[a].id))
    })
}

/// Chooses a host for one instance.
pub fn place(
    req: &PlacementRequest<'_>,
    hosts: &[HostCapacity],
) -> Result<Placement, ScheduleError> {
    let eligible = |i: &usize| {
        let h = &hosts[*i];
        req.zone.is_none_or(|z| h.zone == z) && h.fits(req)
    };
    let least_loaded = |candidates: &mut dyn Iterator<Item = usize>| {
        best_by(hosts, candidates, |h| h.free_share_after(req))
    };
    let none_fits = || {
        ScheduleError::InsufficientCapacity(format!(
            "no host{} has {} vCPUs and {} MiB free",
            req.zone.map(|z| format!(" in {z}")).unwrap_or_default(),
            req.vcpus,
            req.memory_mib
        ))
    };
    let Some(group) = req.group else {
        return least_loaded(&mut (0..hosts.len()).filter(eligible))
            .map(|host| Placement {
                host,
                partition: None,
            })
            .ok_or_else(none_fits);
    };
    let index: BTreeMap<&str, usize> = hosts
        .iter()
        .enumerate()
        .map(|(i, h)| (h.id.as_str(), i))
        .collect();
    let member_hosts: BTreeSet<usize> = group
        .members
        .iter()
        .filter_map(|(id, _)| index.get(id.as_str()).copied())
        .collect();
    match group.strategy {
        Strategy::Cluster => {
            if let Some(host) = least_loaded(&mut member_hosts.iter().copied().filter(eligible)) {
                return Ok(Placement {
                    host,
                    partition: None,
                });
            }
            // Same zone as the group, fullest host first (pack).
            let group_zone = member_hosts.iter().next().map(|&i| hosts[i].zone.as_str());
            if let (Some(gz), Some(z)) = (group_zone, req.zone)
                && gz != z
            {
                return Err(ScheduleError::Invalid(format!(
                    "cluster placement group members run in {gz}, not {z}"
                )));
            }
            best_by(
                hosts,
                (0..hosts.len())
                    .filter(eligible)
                    .filter(|&i| group_zone.is_none_or(|gz| hosts[i].zone == gz)),
                |h| u64::MAX - h.free_share_after(req),
            )
            .map(|host| Placement {
                host,
                partition: None,
            })
            .ok_or_else(none_fits)
        }
        Strategy::Spread => least_loaded(
            &mut (0..hosts.len())
                .filter(eligible)
                .filter(|i| !member_hosts.contains(i)),
        )
        .map(|host| Placement {
            host,
            partition: None,
        })
        .ok_or_else(|| {
            ScheduleError::InsufficientCapacity(
                "every host with room already runs a member of this spread placement group"
                    .to_owned(),
            )
        }),
        Strategy::Partition { count } => {
            if count == 0 {
                return Err(ScheduleError::Invalid(
                    "a partition group needs at least one partition".to_owned(),
                ));
            }
            // Which partition owns which host, and how full each partition is.
            let mut owner: BTreeMap<usize, u32> = BTreeMap::new();
            let mut sizes: BTreeMap<u32, usize> = (1..=count).map(|p| (p, 0)).collect();
            for (id, p) in &group.members {
                if let Some(&i) = index.get(id.as_str()) {
                    owner.insert(i, *p);
                }
                *sizes.entry(*p).or_default() += 1;
            }
            let partitions: Vec<u32> = match req.partition {
                Some(p) if p == 0 || p > count => {
                    return Err(ScheduleError::Invalid(format!(
                        "partition {p} is outside 1..={count}"
                    )));
                }
                Some(p) => vec![p],
                None => {
                    let mut ps: Vec<u32> = (1..=count).collect();
                    ps.sort_by_key(|p| (sizes.get(p).copied().unwrap_or(0), *p));
                    ps
                }
            };
            for p in partitions {
                let candidate = least_loaded(
                    &mut (0..hosts.len())
                        .filter(eligible)
                        .filter(|i| owner.get(i).is_none_or(|&o| o == p)),
                );
                if let Some(host) = candidate {
                    return Ok(Placement {
                        host,
                        partition: Some(p),
                    });
                }
            }
            Err(ScheduleError::InsufficientCapacity(
                "no host free of other partitions has room".to_owned(),
            ))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn host(id: &str, zone: &str, vcpus: u32, mem: u64) -> HostCapacity {
        HostCapacity {
            id: id.to_owned(),
            zone: zone.to_owned(),
            vcpus,
            vcpus_used: 0,
            memory_mib: mem,
            memory_mib_used: 0,
        }
    }

    fn req(vcpus: u32, mem: u64) -> PlacementRequest<'static> {
        PlacementRequest {
            vcpus,
            memory_mib: mem,
            zone: None,
            group: None,
            partition: None,
        }
    }

    fn take(hosts: &mut [HostCapacity], p: &Placement, r: &PlacementRequest<'_>) {
        hosts[p.host].vcpus_used += r.vcpus;
        hosts[p.host].memory_mib_used += r.memory_mib;
    }

    #[test]
    fn spreads_across_hosts_and_respects_capacity() {
        let mut hosts = vec![host("a", "z1", 4, 4096), host("b", "z1", 4, 4096)];
        let r = req(1, 1024);
        let mut counts = [0; 2];
        for _ in 0..8 {
            let p = place(&r, &hosts).expect("fits");
            counts[p.host] += 1;
            take(&mut hosts, &p, &r);
        }
        assert_eq!(counts, [4, 4]);
        assert!(matches!(
            place(&r, &hosts),
            Err(ScheduleError::InsufficientCapacity(_))
        ));
    }

    #[test]
    fn zone_and_memory_filter() {
        let hosts = vec![
            host("a", "z1", 8, 1024),
            host("b", "z2", 8, 8192),
            host("c", "z1", 8, 8192),
        ];
        let mut r = req(1, 2048);
        r.zone = Some("z1");
        assert_eq!(place(&r, &hosts).expect("fits").host, 2);
        r.zone = Some("z3");
        assert!(place(&r, &hosts).is_err());
    }

    #[test]
    fn deterministic_ties() {
        let hosts = vec![host("b", "z", 4, 4096), host("a", "z", 4, 4096)];
        assert_eq!(place(&req(1, 512), &hosts).expect("fits").host, 1);
    }

    #[test]
    fn spread_group_uses_distinct_hosts() {
        let mut hosts = vec![
            host("a", "z", 16, 16384),
            host("b", "z", 16, 16384),
            host("c", "z", 1, 1024),
        ];
        let mut group = PlacementGroup {
            strategy: Strategy::Spread,
            members: vec![],
        };
        let mut used = BTreeSet::new();
        for _ in 0..3 {
            let mut r = req(1, 512);
            r.group = Some(&group);
            let p = place(&r, &hosts).expect("fits");
            assert!(used.insert(p.host), "host reused");
            take(&mut hosts, &p, &r);
            group.members.push((hosts[p.host].id.clone(), 0));
        }
        let mut r = req(1, 512);
        r.group = Some(&group);
        assert!(matches!(
            place(&r, &hosts),
            Err(ScheduleError::InsufficientCapacity(_))
        ));
    }

    #[test]
    fn cluster_group_packs() {
        let mut hosts = vec![
            host("a", "z", 16, 16384),
            host("b", "z", 16, 16384),
            host("c", "y", 64, 65536),
        ];
        let mut group = PlacementGroup {
            strategy: Strategy::Cluster,
            members: vec![],
        };
        let mut chosen = BTreeSet::new();
        for _ in 0..10 {
            let mut r = req(1, 512);
            r.group = Some(&group);
            let p = place(&r, &hosts).expect("fits");
            chosen.insert(p.host);
            take(&mut hosts, &p, &r);
            group.members.push((hosts[p.host].id.clone(), 0));
        }
        assert_eq!(
            chosen.len(),
            1,
            "a cluster group stays on one host while it fits"
        );
    }

    #[test]
    fn partitions_get_disjoint_hosts() {
        let mut hosts: Vec<HostCapacity> = (0..6)
            .map(|i| host(&format!("h{i}"), "z", 8, 8192))
            .collect();
        let mut group = PlacementGroup {
            strategy: Strategy::Partition { count: 3 },
            members: vec![],
        };
        let mut owner: BTreeMap<usize, u32> = BTreeMap::new();
        for _ in 0..12 {
            let mut r = req(1, 512);
            r.group = Some(&group);
            let p = place(&r, &hosts).expect("fits");
            let part = p.partition.expect("partition");
            assert!((1..=3).contains(&part));
            assert_eq!(
                *owner.entry(p.host).or_insert(part),
                part,
                "host shared by partitions"
            );
            take(&mut hosts, &p, &r);
            group.members.push((hosts[p.host].id.clone(), part));
        }
        let mut r = req(1, 512);
        r.group = Some(&group);
        r.partition = Some(4);
        assert!(matches!(place(&r, &hosts), Err(ScheduleError::Invalid(_))));
        r.partition = Some(2);
        assert_eq!(place(&r, &hosts).expect("fits").partition, Some(2));
    }
}
