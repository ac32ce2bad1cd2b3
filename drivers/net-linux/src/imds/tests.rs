//! Unit tests of the metadata tree, paths and tokens with an in-memory instance.

use std::collections::BTreeMap;

use kumo_driver_api::{InstanceMetadata, InterfaceMetadata, PublicKey};

use super::*;

fn instance(id: &str, required: bool) -> InstanceMetadata {
    let mac = "02:00:0a:00:01:0a".to_string();
    InstanceMetadata {
        instance_id: id.into(),
        account_id: "123456789012".into(),
        image_id: "ami-0123456789abcdef0".into(),
        instance_type: "t3.micro".into(),
        architecture: "x86_64".into(),
        region: "kumo-1".into(),
        availability_zone: "kumo-1a".into(),
        reservation_id: "r-0123".into(),
        ami_launch_index: 0,
        launch_time: "2026-11-25T01:00:00Z".into(),
        local_hostname: "ip-10-0-1-10.kumo-1.compute.internal".into(),
        local_ipv4: "10.0.1.10".into(),
        mac: mac.clone(),
        interfaces: vec![InterfaceMetadata {
            device_number: 0,
            eni_id: "eni-1".into(),
            mac,
            local_ipv4s: vec!["10.0.1.10".into(), "10.0.1.11".into()],
            local_hostname: "ip-10-0-1-10.kumo-1.compute.internal".into(),
            subnet_id: "subnet-1".into(),
            subnet_ipv4_cidr_block: "10.0.1.0/24".into(),
            vpc_id: "vpc-1".into(),
            vpc_ipv4_cidr_block: "10.0.0.0/16".into(),
            vpc_ipv4_cidr_blocks: vec!["10.0.0.0/16".into()],
            security_group_ids: vec!["sg-1".into(), "sg-2".into()],
            security_groups: vec!["default".into(), "web".into()],
            owner_id: "123456789012".into(),
        }],
        security_groups: vec!["default".into(), "web".into()],
        public_keys: vec![PublicKey {
            name: "my-key".into(),
            openssh_key: "ssh-ed25519 AAAA my-key".into(),
        }],
        tags: None,
        user_data: Some(b"#!/bin/sh\necho hi\n".to_vec()),
        http_endpoint_enabled: true,
        http_tokens_required: required,
        http_put_response_hop_limit: 2,
        services_domain: "amazonaws.com".into(),
    }
}

const NOW: u64 = 1_800_000_000;

fn get(md: &InstanceMetadata, path: &str, token: Option<&str>) -> ImdsResponse {
    let signer = TokenSigner::with_key([1; 32]);
    respond(
        &ImdsRequest {
            method: "GET",
            path,
            token,
            ..Default::default()
        },
        Some(md),
        &signer,
        NOW,
    )
}

fn body(r: &ImdsResponse) -> String {
    String::from_utf8(r.body.clone()).expect("utf-8")
}

#[test]
fn serves_the_meta_data_tree() {
    let md = instance("i-a", false);
    let ok = |p: &str| {
        let r = get(&md, p, None);
        assert_eq!(r.status, 200, "{p}: {}", body(&r));
        body(&r)
    };
    assert_eq!(ok("/latest/meta-data/instance-id"), "i-a");
    assert_eq!(
        ok("/2021-03-23/meta-data/instance-id"),
        "i-a",
        "dated versions are served"
    );
    assert_eq!(ok("/latest/meta-data/local-ipv4"), "10.0.1.10");
    assert_eq!(
        ok("/latest/meta-data/placement/availability-zone"),
        "kumo-1a"
    );
    assert_eq!(ok("/latest/meta-data/placement/region"), "kumo-1");
    assert_eq!(ok("/latest/meta-data/services/domain"), "amazonaws.com");
    assert_eq!(ok("/latest/meta-data/security-groups"), "default\nweb");
    let top = ok("/latest/meta-data/");
    assert_eq!(ok("/latest/meta-data"), top, "with or without the slash");
    for entry in [
        "ami-id",
        "hostname",
        "instance-id",
        "instance-type",
        "local-hostname",
        "mac",
        "network/",
        "placement/",
        "public-keys/",
        "services/",
    ] {
        assert!(
            top.lines().any(|l| l == entry),
            "{entry} missing from:\n{top}"
        );
    }
    assert!(!top.contains("tags/"), "tags only when enabled");
    assert_eq!(
        ok("/latest/meta-data/network/interfaces/macs/"),
        "02:00:0a:00:01:0a/"
    );
    let mac = "/latest/meta-data/network/interfaces/macs/02:00:0a:00:01:0a/";
    assert!(ok(mac).lines().any(|l| l == "security-group-ids"));
    assert_eq!(ok(&format!("{mac}device-number")), "0");
    assert_eq!(ok(&format!("{mac}local-ipv4s")), "10.0.1.10\n10.0.1.11");
    assert_eq!(ok(&format!("{mac}subnet-id")), "subnet-1");
    assert_eq!(ok(&format!("{mac}vpc-id")), "vpc-1");
    assert_eq!(ok(&format!("{mac}security-group-ids")), "sg-1\nsg-2");
    assert_eq!(ok("/latest/meta-data/public-keys/"), "0=my-key");
    assert_eq!(ok("/latest/meta-data/public-keys/0/"), "openssh-key");
    assert_eq!(
        ok("/latest/meta-data/public-keys/0/openssh-key"),
        "ssh-ed25519 AAAA my-key"
    );
    assert_eq!(get(&md, "/latest/meta-data/nope", None).status, 404);
    assert_eq!(
        get(&md, "/latest/meta-data/instance-id/deeper", None).status,
        404
    );
    assert_eq!(get(&md, "/not-a-version/meta-data/", None).status, 404);
    assert!(ok("/").lines().any(|l| l == "latest"));
    assert_eq!(ok("/latest/"), "dynamic\nmeta-data\nuser-data");
}

#[test]
fn user_data_identity_document_and_tags() {
    let mut md = instance("i-a", false);
    let r = get(&md, "/latest/user-data", None);
    assert_eq!((r.status, body(&r).as_str()), (200, "#!/bin/sh\necho hi\n"));
    let doc = get(&md, "/latest/dynamic/instance-identity/document", None);
    assert_eq!(doc.content_type, "application/json");
    let json: serde_json::Value = serde_json::from_slice(&doc.body).expect("json");
    assert_eq!(json["instanceId"], "i-a");
    assert_eq!(json["privateIp"], "10.0.1.10");
    assert_eq!(json["accountId"], "123456789012");
    assert_eq!(json["region"], "kumo-1");
    assert_eq!(json["availabilityZone"], "kumo-1a");
    assert_eq!(json["imageId"], "ami-0123456789abcdef0");
    assert!(json["kernelId"].is_null());
    assert_eq!(
        body(&get(&md, "/latest/dynamic/instance-identity/", None)),
        "document"
    );

    md.user_data = None;
    md.public_keys.clear();
    md.tags = Some(BTreeMap::from([("Name".to_string(), "web-1".to_string())]));
    assert_eq!(get(&md, "/latest/user-data", None).status, 404);
    assert_eq!(body(&get(&md, "/latest/", None)), "dynamic\nmeta-data");
    assert_eq!(get(&md, "/latest/meta-data/public-keys/", None).status, 404);
    assert_eq!(
        body(&get(&md, "/latest/meta-data/tags/", None)),
        "instance/"
    );
    assert_eq!(
        body(&get(&md, "/latest/meta-data/tags/instance", None)),
        "Name"
    );
    assert_eq!(
        body(&get(&md, "/latest/meta-data/tags/instance/Name", None)),
        "web-1"
    );
}

#[test]
fn imdsv2_tokens() {
    let signer = TokenSigner::with_key([1; 32]);
    let md = instance("i-a", true);
    let put = |ttl: Option<&str>, forwarded: bool, path: &str| {
        respond(
            &ImdsRequest {
                method: "PUT",
                path,
                ttl,
                forwarded,
                ..Default::default()
            },
            Some(&md),
            &signer,
            NOW,
        )
    };
    let r = put(Some("21600"), false, "/latest/api/token");
    assert_eq!(r.status, 200);
    assert_eq!(
        r.ip_ttl,
        Some(2),
        "token responses leave with the hop limit"
    );
    assert!(r.headers.contains(&(TTL_HEADER, "21600".to_string())));
    let token = body(&r);
    for bad in [None, Some("0"), Some("21601"), Some("x"), Some("-1")] {
        assert_eq!(put(bad, false, "/latest/api/token").status, 400, "{bad:?}");
    }
    assert_eq!(
        put(Some("60"), true, "/latest/api/token").status,
        403,
        "X-Forwarded-For is refused"
    );
    assert_eq!(put(Some("60"), false, "/latest/meta-data/").status, 405);

    // Required: v1 refused, a valid token accepted, a bad or foreign one refused.
    assert_eq!(get(&md, "/latest/meta-data/instance-id", None).status, 401);
    let r = get(&md, "/latest/meta-data/instance-id", Some(&token));
    assert_eq!((r.status, body(&r).as_str()), (200, "i-a"));
    assert_eq!(r.ip_ttl, None, "only token responses carry the hop limit");
    assert_eq!(
        get(&md, "/latest/meta-data/instance-id", Some("bogus")).status,
        401
    );
    let other = signer.mint("i-b", NOW, 600);
    assert_eq!(
        get(&md, "/latest/meta-data/instance-id", Some(&other)).status,
        401,
        "another instance's token"
    );
    let expired = signer.mint("i-a", NOW - 100, 10);
    assert_eq!(
        get(&md, "/latest/meta-data/instance-id", Some(&expired)).status,
        401
    );

    // Optional: v1 works, but a presented token must still be valid.
    let v1 = instance("i-a", false);
    assert_eq!(get(&v1, "/latest/meta-data/instance-id", None).status, 200);
    assert_eq!(
        get(&v1, "/latest/meta-data/instance-id", Some("bogus")).status,
        401
    );
}

#[test]
fn unknown_callers_methods_and_disabled_endpoint() {
    let signer = TokenSigner::with_key([1; 32]);
    let req = ImdsRequest {
        method: "GET",
        path: "/latest/meta-data/",
        ..Default::default()
    };
    assert_eq!(
        respond(&req, None, &signer, NOW).status,
        404,
        "no instance behind this ENI"
    );
    let mut md = instance("i-a", false);
    let del = ImdsRequest {
        method: "DELETE",
        path: "/latest/meta-data/",
        ..Default::default()
    };
    assert_eq!(respond(&del, Some(&md), &signer, NOW).status, 405);
    md.http_endpoint_enabled = false;
    assert_eq!(respond(&req, Some(&md), &signer, NOW).status, 403);
}

/// Walks the tree as cloud-init's EC2 crawler does: every listed entry must resolve, entries
/// ending in `/` are directories, and `N=name` under `public-keys/` is reached as `N/`.
#[test]
fn every_listed_entry_resolves() {
    let mut md = instance("i-a", false);
    md.tags = Some(BTreeMap::from([("Name".to_string(), "web-1".to_string())]));
    let mut pending = vec![
        "/latest/meta-data/".to_string(),
        "/latest/dynamic/".to_string(),
    ];
    let mut leaves = 0;
    let mut steps = 0;
    while let Some(dir) = pending.pop() {
        steps += 1;
        assert!(steps < 1000, "the tree must be finite");
        let r = get(&md, &dir, None);
        assert_eq!(r.status, 200, "{dir}");
        for entry in body(&r).lines() {
            let entry = match entry.split_once('=') {
                Some((index, _)) if dir.ends_with("/public-keys/") => format!("{index}/"),
                _ => entry.to_string(),
            };
            let path = format!("{dir}{entry}");
            if entry.ends_with('/') {
                pending.push(path);
            } else {
                let r = get(&md, &path, None);
                assert_eq!(r.status, 200, "{path}");
                leaves += 1;
            }
        }
    }
    assert!(leaves > 30, "only {leaves} leaves");
}

/// A source that answers slowly, as a state-store read under load does.
struct Slow(InstanceMetadata);

impl MetadataSource for Slow {
    fn lookup(&self, _eni_id: &str) -> Option<InstanceMetadata> {
        std::thread::sleep(Duration::from_millis(200));
        Some(self.0.clone())
    }
}

#[test]
fn a_client_that_half_closes_still_gets_its_answer() {
    use std::io::{Read, Write};
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("runtime");
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    listener.set_nonblocking(true).expect("nonblocking");
    let addr = listener.local_addr().expect("addr");
    let ctx = Arc::new(ConnCtx {
        eni_id: "eni-1".into(),
        source: Arc::new(Slow(instance("i-0slow", true))),
        tokens: Arc::new(TokenSigner::with_key([1; 32])),
    });
    runtime.spawn(accept_loop(listener, ctx));
    for _ in 0..3 {
        let mut s = std::net::TcpStream::connect(addr).expect("connect");
        s.set_read_timeout(Some(Duration::from_secs(10)))
            .expect("timeout");
        s.write_all(b"GET /latest/meta-data/instance-id HTTP/1.0\r\n\r\n")
            .expect("write");
        s.shutdown(std::net::Shutdown::Write).expect("half-close");
        let mut answer = String::new();
        s.read_to_string(&mut answer).expect("read");
        assert!(answer.starts_with("HTTP/1.0 401"), "{answer:?}");
    }
}
