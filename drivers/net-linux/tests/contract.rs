//! The shared `NetworkFabric` contract against the Linux fabric (root only).

mod common;

use kumo_driver_api::contract::{NetworkSuiteIds, network_fabric_suite};

#[test]
fn linux_fabric_passes_the_network_contract() {
    if common::skipped("network contract") {
        return;
    }
    let env = common::Env::new("c");
    let ids = NetworkSuiteIds {
        vpc_id: format!("vpc-{}", env.prefix),
        subnet_id: format!("subnet-{}", env.prefix),
        eni_ids: [
            format!("eni-{}a", env.prefix),
            format!("eni-{}b", env.prefix),
        ],
        tap: format!("{}t", env.prefix),
    };
    env.track_vpc(&ids.vpc_id);
    network_fabric_suite(&env.fabric, &ids);
    // Nothing of the VPC survives in the host namespace.
    let host = common::links(&env.host_ns);
    assert!(!host.contains("kb") && !host.contains("kh"), "{host}");
}
