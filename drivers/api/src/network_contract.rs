//! The `NetworkFabric` contract: idempotence, validation and inventory, checked without guests
//! (implementations add their own data-plane tests on top).

use std::net::Ipv4Addr;

use crate::{
    AclRuleSpec, AclSpec, EniSpec, Ipv4Cidr, NetworkError, NetworkFabric, Peer, PortMatch,
    Protocol, SecurityGroupSpec, SecurityPolicy, SgRuleSpec, SubnetSpec, VpcSpec,
};

/// Ids the suite may create; unique per run so that parallel runs on one host do not collide.
#[derive(Debug, Clone)]
pub struct NetworkSuiteIds {
    /// A VPC id that does not exist yet.
    pub vpc_id: String,
    /// A subnet id.
    pub subnet_id: String,
    /// Two ENI ids.
    pub eni_ids: [String; 2],
    /// A tap name (≤ 15 bytes) that does not exist on the host.
    pub tap: String,
}

fn cidr(s: &str) -> Ipv4Cidr {
    s.parse().expect("valid CIDR")
}

/// Runs every `NetworkFabric` check. Leaves nothing behind when it passes.
pub fn network_fabric_suite(fabric: &dyn NetworkFabric, ids: &NetworkSuiteIds) {
    let vpc = VpcSpec {
        vpc_id: ids.vpc_id.clone(),
        cidrs: vec![cidr("10.77.0.0/16")],
        dns: Ipv4Addr::new(10, 77, 0, 2),
        domain_name: "kumo-1.compute.internal".into(),
        enable_dns_support: true,
        vni: 1,
    };
    let subnet = SubnetSpec {
        subnet_id: ids.subnet_id.clone(),
        vpc_id: ids.vpc_id.clone(),
        cidr: cidr("10.77.1.0/24"),
        gateway: Ipv4Addr::new(10, 77, 1, 1),
    };
    let eni = EniSpec {
        eni_id: ids.eni_ids[0].clone(),
        vpc_id: ids.vpc_id.clone(),
        subnet_id: ids.subnet_id.clone(),
        tap: ids.tap.clone(),
        mac: "02:77:00:00:01:0a".into(),
        ip: Ipv4Addr::new(10, 77, 1, 10),
        prefix_len: 24,
        gateway: Ipv4Addr::new(10, 77, 1, 1),
        instance_id: Some("i-0contract".into()),
        dns_names: Vec::new(),
    };

    // Nothing depends on a VPC that does not exist.
    assert!(matches!(
        fabric.ensure_subnet(&subnet),
        Err(NetworkError::NotFound(_))
    ));
    assert!(matches!(fabric.plug(&eni), Err(NetworkError::NotFound(_))));

    assert!(matches!(
        fabric.apply_security(&ids.vpc_id, &SecurityPolicy::default()),
        Err(NetworkError::NotFound(_))
    ));
    fabric.ensure_vpc(&vpc).expect("ensure_vpc");
    fabric.ensure_vpc(&vpc).expect("ensure_vpc is idempotent");
    assert!(fabric.list().expect("list").vpcs.contains(&ids.vpc_id));

    let outside = SubnetSpec {
        cidr: cidr("10.78.1.0/24"),
        gateway: Ipv4Addr::new(10, 78, 1, 1),
        ..subnet.clone()
    };
    assert!(matches!(
        fabric.ensure_subnet(&outside),
        Err(NetworkError::Invalid(_))
    ));
    assert!(
        matches!(fabric.plug(&eni), Err(NetworkError::NotFound(_))),
        "subnet not ensured yet"
    );
    fabric.ensure_subnet(&subnet).expect("ensure_subnet");
    fabric
        .ensure_subnet(&subnet)
        .expect("ensure_subnet is idempotent");
    let overlapping = SubnetSpec {
        subnet_id: format!("{}x", ids.subnet_id),
        cidr: cidr("10.77.1.128/25"),
        gateway: Ipv4Addr::new(10, 77, 1, 129),
        ..subnet.clone()
    };
    assert!(matches!(
        fabric.ensure_subnet(&overlapping),
        Err(NetworkError::Conflict(_))
    ));

    let stray = EniSpec {
        ip: Ipv4Addr::new(10, 77, 2, 10),
        ..eni.clone()
    };
    assert!(
        matches!(fabric.plug(&stray), Err(NetworkError::Invalid(_))),
        "address outside the subnet"
    );
    let router = EniSpec {
        ip: Ipv4Addr::new(10, 77, 1, 1),
        ..eni.clone()
    };
    assert!(
        matches!(fabric.plug(&router), Err(NetworkError::Invalid(_))),
        "reserved address"
    );
    let bad_mac = EniSpec {
        mac: "not-a-mac".into(),
        ..eni.clone()
    };
    assert!(matches!(
        fabric.plug(&bad_mac),
        Err(NetworkError::Invalid(_))
    ));

    let info = fabric.plug(&eni).expect("plug");
    assert!(!info.tap_attached, "the tap does not exist yet");
    fabric.plug(&eni).expect("plug is idempotent");

    // A security policy applies, repeats and is replaced; unsafe ids are refused.
    let mut policy = SecurityPolicy::default();
    policy.groups.insert(
        "sg-0contract".into(),
        SecurityGroupSpec {
            ingress: vec![SgRuleSpec {
                protocol: Protocol::Tcp,
                ports: PortMatch::Ports { from: 22, to: 22 },
                peer: Peer::Group("sg-0contract".into()),
            }],
            egress: vec![SgRuleSpec {
                protocol: Protocol::All,
                ports: PortMatch::Any,
                peer: Peer::Cidr(cidr("0.0.0.0/0")),
            }],
            members: vec![eni.ip],
        },
    );
    policy
        .enis
        .insert(eni.eni_id.clone(), vec!["sg-0contract".into()]);
    policy.acls.insert(
        ids.subnet_id.clone(),
        AclSpec {
            inbound: vec![AclRuleSpec {
                number: 100,
                allow: true,
                protocol: Protocol::All,
                ports: PortMatch::Any,
                cidr: cidr("0.0.0.0/0"),
            }],
            outbound: Vec::new(),
        },
    );
    fabric
        .apply_security(&ids.vpc_id, &policy)
        .expect("apply_security");
    fabric
        .apply_security(&ids.vpc_id, &policy)
        .expect("apply_security is idempotent");
    policy
        .groups
        .entry("sg-0contract".into())
        .or_default()
        .members
        .clear();
    fabric
        .apply_security(&ids.vpc_id, &policy)
        .expect("a membership change applies");
    let mut unsafe_ids = policy.clone();
    unsafe_ids
        .groups
        .insert("sg-0 x; flush ruleset".into(), SecurityGroupSpec::default());
    assert!(matches!(
        fabric.apply_security(&ids.vpc_id, &unsafe_ids),
        Err(NetworkError::Invalid(_))
    ));
    fabric
        .apply_security(&ids.vpc_id, &policy)
        .expect("the previous policy still applies");
    let inv = fabric.list().expect("list");
    let found = inv
        .enis
        .iter()
        .find(|e| e.eni_id == eni.eni_id)
        .expect("plugged ENI is listed");
    assert_eq!(found.vpc_id, ids.vpc_id);

    let twin = EniSpec {
        eni_id: ids.eni_ids[1].clone(),
        mac: "02:77:00:00:01:0b".into(),
        ..eni.clone()
    };
    assert!(
        matches!(fabric.plug(&twin), Err(NetworkError::Conflict(_))),
        "address in use"
    );
    assert!(matches!(
        fabric.remove_subnet(&ids.vpc_id, &ids.subnet_id),
        Err(NetworkError::Conflict(_))
    ));

    fabric.unplug(&eni.eni_id).expect("unplug");
    fabric.unplug(&eni.eni_id).expect("unplug is idempotent");
    assert!(
        !fabric
            .list()
            .expect("list")
            .enis
            .iter()
            .any(|e| e.eni_id == eni.eni_id)
    );
    fabric
        .remove_subnet(&ids.vpc_id, &ids.subnet_id)
        .expect("remove_subnet");
    fabric
        .remove_subnet(&ids.vpc_id, &ids.subnet_id)
        .expect("remove_subnet is idempotent");

    // remove_vpc takes what is plugged with it.
    fabric.ensure_subnet(&subnet).expect("ensure_subnet again");
    fabric.plug(&eni).expect("plug again");
    fabric.remove_vpc(&ids.vpc_id).expect("remove_vpc");
    fabric
        .remove_vpc(&ids.vpc_id)
        .expect("remove_vpc is idempotent");
    let inv = fabric.list().expect("list");
    assert!(!inv.vpcs.contains(&ids.vpc_id));
    assert!(!inv.enis.iter().any(|e| e.vpc_id == ids.vpc_id), "{inv:?}");
}
