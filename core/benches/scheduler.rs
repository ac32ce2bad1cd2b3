//! Places 10,000 instances on 1,000 synthetic hosts and reports the time.
//! Run: `cargo bench -p kumo-core --bench scheduler`.

use std::time::Instant;

use kumo_core::compute::scheduler::{HostCapacity, PlacementRequest, place};

fn main() {
    let zones = ["us-east-1a", "us-east-1b", "us-east-1c"];
    let mut hosts: Vec<HostCapacity> = (0..1000)
        .map(|i| HostCapacity {
            id: format!("host-{i:04}"),
            zone: zones[i % zones.len()].to_owned(),
            vcpus: 64,
            vcpus_used: 0,
            memory_mib: 256 * 1024,
            memory_mib_used: 0,
        })
        .collect();
    let sizes = [(1u32, 512u64), (2, 4096), (4, 16384), (8, 32768)];
    let started = Instant::now();
    let mut placed = 0usize;
    for n in 0..10_000usize {
        let (vcpus, memory_mib) = sizes[n % sizes.len()];
        let req = PlacementRequest {
            vcpus,
            memory_mib,
            zone: Some(zones[n % zones.len()]),
            group: None,
            partition: None,
        };
        if let Ok(p) = place(&req, &hosts) {
            hosts[p.host].vcpus_used += vcpus;
            hosts[p.host].memory_mib_used += memory_mib;
            placed += 1;
        }
    }
    let elapsed = started.elapsed();
    println!(
        "scheduler: placed {placed} of 10000 instances on 1000 hosts in {:.1} ms ({:.2} µs per placement)",
        elapsed.as_secs_f64() * 1e3,
        elapsed.as_secs_f64() * 1e6 / 10_000.0
    );
}
