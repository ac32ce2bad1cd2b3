//! The fabric's data plane with simulated guests (root only): DHCP hands each guest its static
//! address, the metadata service tells each guest its own instance and nothing else, IMDSv2 is
//! enforced, spoofed sources are dropped, VPCs with the same CIDR coexist, and `remove_vpc`
//! leaves no namespace, process or link behind.

mod common;

use std::net::Ipv4Addr;

use common::{Env, get, http, put_token};
use kumo_driver_api::{EniSpec, NetworkFabric, SubnetSpec, VpcSpec};

fn vpc(id: &str) -> VpcSpec {
    VpcSpec {
        vpc_id: id.into(),
        cidrs: vec!["10.0.0.0/16".parse().expect("cidr")],
        dns: Ipv4Addr::new(10, 0, 0, 2),
        domain_name: "kumo-1.compute.internal".into(),
        enable_dns_support: true,
        vni: 1,
    }
}

fn subnet(vpc_id: &str, id: &str) -> SubnetSpec {
    SubnetSpec {
        subnet_id: id.into(),
        vpc_id: vpc_id.into(),
        cidr: "10.0.1.0/24".parse().expect("cidr"),
        gateway: Ipv4Addr::new(10, 0, 1, 1),
    }
}

fn eni(
    vpc_id: &str,
    subnet_id: &str,
    id: &str,
    tap: &str,
    mac: &str,
    ip: [u8; 4],
    instance: &str,
) -> EniSpec {
    EniSpec {
        eni_id: id.into(),
        vpc_id: vpc_id.into(),
        subnet_id: subnet_id.into(),
        tap: tap.into(),
        mac: mac.into(),
        ip: Ipv4Addr::from(ip),
        prefix_len: 24,
        gateway: Ipv4Addr::new(10, 0, 1, 1),
        instance_id: Some(instance.into()),
        dns_names: Vec::new(),
    }
}

/// Gets the guest an address: DHCP when busybox is there (and checks the lease), else by hand.
fn address(env: &Env, guest: &str, ip: &str) {
    if common::has_busybox() {
        let lease = env.dhcp(guest).expect("DHCP lease");
        eprintln!("{guest}: {lease}");
        assert!(lease.contains(&format!("ip={ip} ")), "{lease}");
        assert!(
            lease.contains("mask=24")
                && lease.contains("router=10.0.1.1 ")
                && lease.contains("dns=10.0.0.2 "),
            "{lease}"
        );
        assert!(
            lease.contains(&format!("hostname=ip-{}", ip.replace('.', "-"))),
            "{lease}"
        );
    } else {
        eprintln!(
            "SKIPPED: DHCP check: busybox not installed (compat-tests/install-deps.sh installs it)"
        );
        env.static_ip(guest, ip, "10.0.1.1");
    }
}

#[test]
fn one_vpc_two_guests() {
    if common::skipped("one_vpc_two_guests") {
        return;
    }
    let env = Env::new("a");
    let p = env.prefix.clone();
    let (vpc_id, subnet_id) = (format!("vpc-{p}"), format!("subnet-{p}"));
    let (eni_a, eni_b) = (format!("eni-{p}a"), format!("eni-{p}b"));
    let (tap_a, tap_b) = (format!("{p}ta"), format!("{p}tb"));
    let (mac_a, mac_b) = ("02:00:0a:00:01:0a", "02:00:0a:00:01:0b");
    env.track_vpc(&vpc_id);
    {
        let mut s = env.source.0.lock().expect("lock");
        s.insert(
            eni_a.clone(),
            common::metadata("i-aaaa", &eni_a, &vpc_id, "10.0.1.10", mac_a, false),
        );
        s.insert(
            eni_b.clone(),
            common::metadata("i-bbbb", &eni_b, &vpc_id, "10.0.1.11", mac_b, true),
        );
    }
    env.fabric.ensure_vpc(&vpc(&vpc_id)).expect("ensure_vpc");
    env.fabric
        .ensure_vpc(&vpc(&vpc_id))
        .expect("ensure_vpc again");
    env.fabric
        .ensure_subnet(&subnet(&vpc_id, &subnet_id))
        .expect("ensure_subnet");

    // Guest A's tap exists before plug (libvirt `type='ethernet'`, plug after start).
    let ga = env.guest("ga", &tap_a, mac_a);
    let spec_a = eni(
        &vpc_id,
        &subnet_id,
        &eni_a,
        &tap_a,
        mac_a,
        [10, 0, 1, 10],
        "i-aaaa",
    );
    let info = env.fabric.plug(&spec_a).expect("plug A");
    assert!(info.tap_attached);
    // Guest B is plugged first and its tap appears afterwards (libvirt `type='bridge'` or a
    // second plug after the domain started).
    let spec_b = eni(
        &vpc_id,
        &subnet_id,
        &eni_b,
        &tap_b,
        mac_b,
        [10, 0, 1, 11],
        "i-bbbb",
    );
    let info = env.fabric.plug(&spec_b).expect("plug B before its tap");
    assert!(!info.tap_attached);
    let gb = env.guest("gb", &tap_b, mac_b);
    let info = env.fabric.plug(&spec_b).expect("plug B again");
    assert!(info.tap_attached);
    assert_eq!(
        info.host_bridge,
        Some(env.fabric.names().host_bridge(&eni_b))
    );

    address(&env, &ga, "10.0.1.10");
    address(&env, &gb, "10.0.1.11");

    // AmazonProvidedDNS answers the VPC's private names and refuses others at once.
    if common::has_busybox() {
        let lookup = |name: &str| {
            kumo_net_linux::cmd::run(
                "ip",
                &[
                    "netns", "exec", &ga, "busybox", "nslookup", name, "10.0.0.2",
                ],
                None,
                common::T,
            )
            .expect("nslookup runs")
        };
        let found = lookup("ip-10-0-1-11.kumo-1.compute.internal");
        assert!(
            found.success && found.stdout.contains("10.0.1.11"),
            "{found:?}"
        );
        let started = std::time::Instant::now();
        let refused = lookup("example.com");
        eprintln!(
            "DNS: {:?} / {:?} in {:?}",
            found.stdout,
            refused.stdout,
            started.elapsed()
        );
        assert!(
            refused.stdout.contains("REFUSED") && !refused.stdout.contains("Address: "),
            "{refused:?}"
        );
        assert!(
            started.elapsed() < std::time::Duration::from_secs(3),
            "an unknown name must fail fast"
        );
    }

    // Each guest gets its own metadata.
    let (s, body) =
        http(&ga, &get("/latest/meta-data/instance-id", None), None).expect("IMDS from A");
    assert_eq!((s, body.as_str()), (200, "i-aaaa"));
    let (s, body) =
        http(&ga, &get("/latest/meta-data/local-ipv4", None), None).expect("IMDS from A");
    assert_eq!((s, body.as_str()), (200, "10.0.1.10"));
    // B requires IMDSv2. A counter in B's namespace sees the IP TTL of metadata responses.
    common::count_ttl1(&gb);
    let (s, _) = http(&gb, &get("/latest/meta-data/instance-id", None), None).expect("IMDS from B");
    assert_eq!(s, 401, "v1 refused when tokens are required");
    assert_eq!(
        common::ttl1_packets(&gb),
        0,
        "ordinary responses leave with the default TTL"
    );
    let (s, token_b) = http(&gb, &put_token(300, ""), None).expect("token for B");
    assert_eq!(s, 200);
    assert!(
        common::ttl1_packets(&gb) > 0,
        "the token response leaves with TTL = hop limit (1)"
    );
    let (s, body) = http(
        &gb,
        &get("/latest/meta-data/instance-id", Some(&token_b)),
        None,
    )
    .expect("IMDS from B");
    assert_eq!((s, body.as_str()), (200, "i-bbbb"));
    let (s, _) =
        http(&gb, &put_token(300, "X-Forwarded-For: 10.9.9.9\r\n"), None).expect("PUT with XFF");
    assert_eq!(s, 403);

    // A cannot read B's metadata: B's token is worthless to A, and A claiming B's address is dropped.
    let (s, _) = http(
        &ga,
        &get("/latest/meta-data/instance-id", Some(&token_b)),
        None,
    )
    .expect("IMDS from A");
    assert_eq!(s, 401, "B's token must not work for A");

    // The router forwards between ENIs of the VPC (no security groups yet), but not from a
    // source address the ENI does not own.
    let reply = common::tcp_echo(&gb, &ga, "10.0.1.11", None);
    assert_eq!(
        reply.as_deref(),
        Some("pong"),
        "A reaches B through the VPC router"
    );
    common::static_extra(&ga, "10.0.1.12");
    let spoofed = common::tcp_echo(&gb, &ga, "10.0.1.11", Some("10.0.1.12"));
    assert_eq!(spoofed, None, "a spoofed source is not forwarded");

    // A claiming B's address gets nothing from the metadata service.
    common::static_extra(&ga, "10.0.1.11");
    let spoofed = http(
        &ga,
        &get("/latest/meta-data/instance-id", None),
        Some(Ipv4Addr::new(10, 0, 1, 11)),
    );
    assert!(
        spoofed.as_ref().is_none_or(|(_, b)| b != "i-bbbb"),
        "spoofing B's address revealed B: {spoofed:?}"
    );
    assert!(
        spoofed.is_none(),
        "spoofed source must be dropped: {spoofed:?}"
    );

    let inv = env.fabric.list().expect("list");
    assert!(inv.vpcs.contains(&vpc_id));
    let mine: Vec<_> = inv.enis.iter().filter(|e| e.vpc_id == vpc_id).collect();
    assert_eq!(mine.len(), 2, "{inv:?}");
    assert!(mine.iter().all(|e| e.tap_attached), "{inv:?}");

    // dnsmasq is restarted when it died.
    let pid_file = env.runtime(&vpc_id).join("dnsmasq.pid");
    let pid = std::fs::read_to_string(&pid_file)
        .expect("pid file")
        .trim()
        .to_string();
    kumo_net_linux::cmd::check("kill", &["-9", &pid], common::T).expect("kill dnsmasq");
    std::thread::sleep(std::time::Duration::from_millis(200));
    env.fabric
        .ensure_vpc(&vpc(&vpc_id))
        .expect("ensure_vpc restarts dnsmasq");
    let new_pid = std::fs::read_to_string(&pid_file)
        .expect("pid file")
        .trim()
        .to_string();
    assert_ne!(pid, new_pid);
    assert!(std::path::Path::new(&format!("/proc/{new_pid}")).exists());
    let status = std::fs::read_to_string(format!("/proc/{new_pid}/status")).expect("status");
    let uid = status
        .lines()
        .find(|l| l.starts_with("Uid:"))
        .expect("Uid line")
        .to_string();
    let dropped = uid.split_whitespace().skip(1).all(|u| u != "0");
    assert!(
        dropped || !env.fabric_drops_privileges(),
        "dnsmasq still runs as root: {uid}"
    );

    // Unplugging B stops its metadata and its forwarding.
    env.fabric.unplug(&eni_b).expect("unplug B");
    env.fabric.unplug(&eni_b).expect("unplug B again");
    assert!(
        http(
            &gb,
            &get("/latest/meta-data/instance-id", Some(&token_b)),
            None
        )
        .is_none(),
        "B is cut off"
    );
    let hosts = std::fs::read_to_string(env.runtime(&vpc_id).join("dhcp-hosts")).expect("hosts");
    assert!(!hosts.contains(mac_b) && hosts.contains(mac_a), "{hosts}");
    let inv = env.fabric.list().expect("list");
    assert!(!inv.enis.iter().any(|e| e.eni_id == eni_b), "{inv:?}");

    // remove_vpc leaves nothing behind.
    let conf = env
        .runtime(&vpc_id)
        .join("dnsmasq.conf")
        .display()
        .to_string();
    env.fabric.remove_vpc(&vpc_id).expect("remove_vpc");
    assert!(
        !kumo_net_linux::netns::exists(&env.fabric.vpc_netns(&vpc_id)),
        "namespace left behind"
    );
    assert!(!common::process_mentions(&conf), "dnsmasq left behind");
    let host = common::links(&env.host_ns);
    assert!(
        !host.contains("kb") && !host.contains("kh"),
        "host links left behind:\n{host}"
    );
    assert!(
        !(env.state.path().join("state/vpcs").join(&vpc_id).exists()
            || env.runtime(&vpc_id).exists()),
        "state left behind"
    );
    assert!(!env.fabric.list().expect("list").vpcs.contains(&vpc_id));
}

#[test]
fn two_vpcs_with_the_same_cidr() {
    if common::skipped("two_vpcs_with_the_same_cidr") {
        return;
    }
    let env = Env::new("b");
    let p = env.prefix.clone();
    let mut guests = Vec::new();
    for (n, instance) in [("1", "i-1111"), ("2", "i-2222")] {
        let (vpc_id, subnet_id, eni_id, tap) = (
            format!("vpc-{p}{n}"),
            format!("subnet-{p}{n}"),
            format!("eni-{p}{n}"),
            format!("{p}t{n}"),
        );
        // Same CIDR, same address, same MAC: only the namespaces tell them apart.
        let mac = "02:00:0a:00:01:0a";
        env.track_vpc(&vpc_id);
        env.source.0.lock().expect("lock").insert(
            eni_id.clone(),
            common::metadata(instance, &eni_id, &vpc_id, "10.0.1.10", mac, false),
        );
        // The second VPC has DNS support off: its dnsmasq is DHCP-only (`port=0`).
        let spec = VpcSpec {
            enable_dns_support: n == "1",
            vni: 1,
            ..vpc(&vpc_id)
        };
        env.fabric.ensure_vpc(&spec).expect("ensure_vpc");
        env.fabric
            .ensure_subnet(&subnet(&vpc_id, &subnet_id))
            .expect("ensure_subnet");
        let g = env.guest(&format!("g{n}"), &tap, mac);
        env.fabric
            .plug(&eni(
                &vpc_id,
                &subnet_id,
                &eni_id,
                &tap,
                mac,
                [10, 0, 1, 10],
                instance,
            ))
            .expect("plug");
        address(&env, &g, "10.0.1.10");
        let ns = env.fabric.vpc_netns(&vpc_id);
        let udp =
            kumo_net_linux::cmd::check("ip", &["netns", "exec", &ns, "ss", "-lun"], common::T)
                .expect("ss");
        assert_eq!(
            udp.contains(":53 "),
            n == "1",
            "DNS listener iff DNS support:\n{udp}"
        );
        guests.push((vpc_id, g, instance));
    }
    for (_, g, instance) in &guests {
        let (s, body) = http(g, &get("/latest/meta-data/instance-id", None), None).expect("IMDS");
        assert_eq!((s, body.as_str()), (200, *instance));
    }
    let inv = env.fabric.list().expect("list");
    for (vpc_id, _, _) in &guests {
        assert!(inv.vpcs.contains(vpc_id));
        env.fabric.remove_vpc(vpc_id).expect("remove_vpc");
        assert!(!kumo_net_linux::netns::exists(
            &env.fabric.vpc_netns(vpc_id)
        ));
    }
    let host = common::links(&env.host_ns);
    assert!(!host.contains("kb") && !host.contains("kh"), "{host}");
}

#[test]
fn lost_router_is_rebuilt_by_repeating_the_calls() {
    if common::skipped("lost_router_is_rebuilt_by_repeating_the_calls") {
        return;
    }
    let env = Env::new("r");
    let p = env.prefix.clone();
    let (vpc_id, subnet_id, eni_id, tap) = (
        format!("vpc-{p}"),
        format!("subnet-{p}"),
        format!("eni-{p}"),
        format!("{p}t"),
    );
    let mac = "02:00:0a:00:01:0a";
    env.track_vpc(&vpc_id);
    env.source.0.lock().expect("lock").insert(
        eni_id.clone(),
        common::metadata("i-rrrr", &eni_id, &vpc_id, "10.0.1.10", mac, false),
    );
    let spec = eni(
        &vpc_id,
        &subnet_id,
        &eni_id,
        &tap,
        mac,
        [10, 0, 1, 10],
        "i-rrrr",
    );
    let converge = || {
        env.fabric.ensure_vpc(&vpc(&vpc_id)).expect("ensure_vpc");
        env.fabric
            .ensure_subnet(&subnet(&vpc_id, &subnet_id))
            .expect("ensure_subnet");
        env.fabric.plug(&spec).expect("plug")
    };
    let g = env.guest("g", &tap, mac);
    converge();
    address(&env, &g, "10.0.1.10");
    assert_eq!(
        http(&g, &get("/latest/meta-data/instance-id", None), None)
            .map(|r| r.1)
            .as_deref(),
        Some("i-rrrr")
    );

    // Another installation on the same host (same prefix and host namespace, its own
    // records) sees none of this VPC's ENIs: it must never unplug them as its orphans.
    let other_state = tempfile::tempdir().expect("state dir");
    let other = kumo_net_linux::LinuxFabric::new(
        kumo_net_linux::LinuxFabricConfig {
            host_netns: Some(env.host_ns.clone()),
            prefix: env.prefix.clone(),
            runtime_dir: other_state.path().join("run"),
            ..kumo_net_linux::LinuxFabricConfig::new(other_state.path().join("state"))
        },
        None,
    )
    .expect("second fabric");
    let seen = other.list().expect("list");
    assert!(
        seen.enis.is_empty() && seen.vpcs.is_empty(),
        "another installation's inventory shows ours: {seen:?}"
    );
    assert!(
        env.fabric
            .list()
            .expect("list")
            .enis
            .iter()
            .any(|e| e.eni_id == eni_id)
    );

    // The router's namespace loses its name (an operator's `ip netns del`); its dnsmasq and
    // the metadata socket still live in the nameless namespace.
    let ns = env.fabric.vpc_netns(&vpc_id);
    kumo_net_linux::cmd::check("ip", &["netns", "del", &ns], common::T).expect("netns del");
    assert!(
        env.fabric.list().expect("list").vpcs.contains(&vpc_id),
        "the record still reports the VPC"
    );

    // The reconciler repeats its calls; the guest renews its lease and reads its metadata.
    let info = converge();
    assert!(info.tap_attached);
    kumo_net_linux::cmd::check("ip", &["-n", &g, "addr", "flush", "dev", "eth0"], common::T)
        .expect("flush");
    address(&env, &g, "10.0.1.10");
    assert_eq!(
        http(&g, &get("/latest/meta-data/instance-id", None), None)
            .map(|r| r.1)
            .as_deref(),
        Some("i-rrrr")
    );
    let conf = env
        .runtime(&vpc_id)
        .join("dnsmasq.conf")
        .display()
        .to_string();
    env.fabric.remove_vpc(&vpc_id).expect("remove_vpc");
    assert!(!common::process_mentions(&conf), "a dnsmasq survived");
}

#[test]
fn a_real_tap_joins_the_enis_bridge() {
    if common::skipped("a_real_tap_joins_the_enis_bridge") {
        return;
    }
    let env = Env::new("t");
    let p = env.prefix.clone();
    let (vpc_id, subnet_id, eni_id, tap) = (
        format!("vpc-{p}"),
        format!("subnet-{p}"),
        format!("eni-{p}"),
        format!("{p}t"),
    );
    env.track_vpc(&vpc_id);
    env.fabric.ensure_vpc(&vpc(&vpc_id)).expect("ensure_vpc");
    env.fabric
        .ensure_subnet(&subnet(&vpc_id, &subnet_id))
        .expect("ensure_subnet");
    // What libvirt does for `<interface type='ethernet'>`: a tap in its own namespace.
    kumo_net_linux::cmd::check(
        "ip",
        &[
            "-n",
            &env.host_ns,
            "tuntap",
            "add",
            "dev",
            &tap,
            "mode",
            "tap",
        ],
        common::T,
    )
    .expect("tuntap");
    let info = env
        .fabric
        .plug(&eni(
            &vpc_id,
            &subnet_id,
            &eni_id,
            &tap,
            "02:00:0a:00:01:0a",
            [10, 0, 1, 10],
            "i-tttt",
        ))
        .expect("plug");
    assert!(info.tap_attached);
    let bridge = info.host_bridge.expect("a bridge");
    let members = kumo_net_linux::cmd::check(
        "ip",
        &["-n", &env.host_ns, "-br", "link", "show", "master", &bridge],
        common::T,
    )
    .expect("members");
    assert!(
        members.contains(&tap) && members.contains(&env.fabric.names().host_veth(&eni_id)),
        "{members}"
    );
    // A changed spec converges: the old address's route goes.
    env.fabric
        .plug(&eni(
            &vpc_id,
            &subnet_id,
            &eni_id,
            &tap,
            "02:00:0a:00:01:0a",
            [10, 0, 1, 20],
            "i-tttt",
        ))
        .expect("re-plug with a new address");
    let ns = env.fabric.vpc_netns(&vpc_id);
    let link = env.fabric.names().vpc_link(&eni_id);
    let routes =
        kumo_net_linux::cmd::check("ip", &["-n", &ns, "route", "show", "dev", &link], common::T)
            .expect("routes");
    assert_eq!(routes.trim(), "10.0.1.20 scope link", "{routes}");
    let inv = env.fabric.list().expect("list");
    assert!(
        inv.enis
            .iter()
            .any(|e| e.eni_id == eni_id && e.tap_attached),
        "{inv:?}"
    );
    env.fabric.unplug(&eni_id).expect("unplug");
    // The tap belongs to the hypervisor: unplug releases it but does not delete it.
    let host = common::links(&env.host_ns);
    assert!(host.contains(&tap) && !host.contains(&bridge), "{host}");
}

/// Two installations on one host (same link-name prefix, same host namespace, separate state):
/// neither inventories the other's ENIs, so neither reconciler unplugs them as orphans.
#[test]
fn another_installations_enis_are_not_in_the_inventory() {
    if common::skipped("another_installations_enis_are_not_in_the_inventory") {
        return;
    }
    let env = Env::new("i");
    let p = env.prefix.clone();
    let (vpc_id, subnet_id, eni_id, tap) = (
        format!("vpc-{p}"),
        format!("subnet-{p}"),
        format!("eni-{p}"),
        format!("{p}t"),
    );
    env.track_vpc(&vpc_id);
    env.fabric.ensure_vpc(&vpc(&vpc_id)).expect("ensure_vpc");
    env.fabric
        .ensure_subnet(&subnet(&vpc_id, &subnet_id))
        .expect("ensure_subnet");
    let spec = eni(
        &vpc_id,
        &subnet_id,
        &eni_id,
        &tap,
        "02:00:0a:00:01:0b",
        [10, 0, 1, 11],
        "i-iiii",
    );
    env.fabric.plug(&spec).expect("plug");
    assert!(
        env.fabric
            .list()
            .expect("list")
            .enis
            .iter()
            .any(|e| e.eni_id == eni_id)
    );

    let other_state = tempfile::tempdir().expect("state dir");
    let other = kumo_net_linux::LinuxFabric::new(
        kumo_net_linux::LinuxFabricConfig {
            host_netns: Some(env.host_ns.clone()),
            prefix: p.clone(),
            runtime_dir: other_state.path().join("run"),
            ..kumo_net_linux::LinuxFabricConfig::new(other_state.path().join("state"))
        },
        None,
    )
    .expect("second fabric");
    let seen = other.list().expect("list");
    assert!(
        !seen.enis.iter().any(|e| e.eni_id == eni_id),
        "{:?}",
        seen.enis
    );
    assert!(!seen.vpcs.contains(&vpc_id), "{:?}", seen.vpcs);
}
