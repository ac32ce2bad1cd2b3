//! The metadata tree EC2 serves under `/latest/meta-data/` and `/latest/dynamic/`, built from
//! one [`InstanceMetadata`] per request.
//!
//! Directories list their children one per line, sub-directories with a trailing `/`, as EC2
//! does; cloud-init's EC2 datasource crawls the tree by these listings. A few entries are listed
//! under a different name than the path that reaches them (`public-keys/` lists `0=my-key`
//! while the path is `public-keys/0/`), so every entry carries both.

use kumo_driver_api::InstanceMetadata;

/// A node of the tree.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Node {
    /// A value.
    Leaf(Vec<u8>),
    /// A directory.
    Dir(Vec<Entry>),
}

/// One child of a directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// Path segment that reaches it.
    pub name: String,
    /// How the parent's listing shows it (`None`: the name, plus `/` for a directory).
    pub listed_as: Option<String>,
    /// The child.
    pub node: Node,
}

fn leaf(name: &str, value: impl Into<String>) -> Entry {
    Entry {
        name: name.into(),
        listed_as: None,
        node: Node::Leaf(value.into().into_bytes()),
    }
}

fn dir(name: &str, children: Vec<Entry>) -> Entry {
    Entry {
        name: name.into(),
        listed_as: None,
        node: Node::Dir(children),
    }
}

impl Node {
    /// The node at `path` (segments; empty segments are ignored, as EC2 tolerates `//`).
    pub fn find<'a>(&'a self, path: &[&str]) -> Option<&'a Node> {
        let mut node = self;
        for seg in path.iter().filter(|s| !s.is_empty()) {
            let Node::Dir(children) = node else {
                return None;
            };
            node = &children.iter().find(|e| e.name == *seg)?.node;
        }
        Some(node)
    }

    /// The body EC2 answers for this node: a value, or a directory listing.
    pub fn body(&self) -> Vec<u8> {
        match self {
            Node::Leaf(v) => v.clone(),
            Node::Dir(children) => children
                .iter()
                .map(|e| match (&e.listed_as, &e.node) {
                    (Some(l), _) => l.clone(),
                    (None, Node::Dir(_)) => format!("{}/", e.name),
                    (None, Node::Leaf(_)) => e.name.clone(),
                })
                .collect::<Vec<_>>()
                .join("\n")
                .into_bytes(),
        }
    }
}

/// The `meta-data/` tree.
pub fn meta_data(md: &InstanceMetadata) -> Node {
    let mut top = vec![
        leaf("ami-id", &md.image_id),
        leaf("ami-launch-index", md.ami_launch_index.to_string()),
        leaf("ami-manifest-path", "(unknown)"),
        leaf("hostname", &md.local_hostname),
        leaf("instance-id", &md.instance_id),
        leaf("instance-life-cycle", "on-demand"),
        leaf("instance-type", &md.instance_type),
        leaf("local-hostname", &md.local_hostname),
        leaf("local-ipv4", &md.local_ipv4),
        leaf("mac", &md.mac),
        dir(
            "network",
            vec![dir(
                "interfaces",
                vec![dir("macs", md.interfaces.iter().map(interface).collect())],
            )],
        ),
        dir(
            "placement",
            vec![
                leaf("availability-zone", &md.availability_zone),
                leaf("region", &md.region),
            ],
        ),
    ];
    if !md.public_keys.is_empty() {
        let keys = md
            .public_keys
            .iter()
            .enumerate()
            .map(|(i, k)| Entry {
                name: i.to_string(),
                listed_as: Some(format!("{i}={}", k.name)),
                node: Node::Dir(vec![leaf("openssh-key", &k.openssh_key)]),
            })
            .collect();
        top.push(dir("public-keys", keys));
    }
    top.push(leaf("reservation-id", &md.reservation_id));
    top.push(leaf("security-groups", md.security_groups.join("\n")));
    top.push(dir(
        "services",
        vec![
            leaf("domain", &md.services_domain),
            leaf("partition", "aws"),
        ],
    ));
    if let Some(tags) = &md.tags {
        let instance = tags.iter().map(|(k, v)| leaf(k, v)).collect();
        top.push(dir("tags", vec![dir("instance", instance)]));
    }
    Node::Dir(top)
}

fn interface(i: &kumo_driver_api::InterfaceMetadata) -> Entry {
    dir(
        &i.mac,
        vec![
            leaf("device-number", i.device_number.to_string()),
            leaf("interface-id", &i.eni_id),
            leaf("local-hostname", &i.local_hostname),
            leaf("local-ipv4s", i.local_ipv4s.join("\n")),
            leaf("mac", &i.mac),
            leaf("owner-id", &i.owner_id),
            leaf("security-group-ids", i.security_group_ids.join("\n")),
            leaf("security-groups", i.security_groups.join("\n")),
            leaf("subnet-id", &i.subnet_id),
            leaf("subnet-ipv4-cidr-block", &i.subnet_ipv4_cidr_block),
            leaf("vpc-id", &i.vpc_id),
            leaf("vpc-ipv4-cidr-block", &i.vpc_ipv4_cidr_block),
            leaf("vpc-ipv4-cidr-blocks", i.vpc_ipv4_cidr_blocks.join("\n")),
        ],
    )
}

/// The instance identity document, as EC2 formats it.
pub fn identity_document(md: &InstanceMetadata) -> String {
    let doc = serde_json::json!({
        "accountId": md.account_id,
        "architecture": md.architecture,
        "availabilityZone": md.availability_zone,
        "billingProducts": null,
        "devpayProductCodes": null,
        "marketplaceProductCodes": null,
        "imageId": md.image_id,
        "instanceId": md.instance_id,
        "instanceType": md.instance_type,
        "kernelId": null,
        "pendingTime": md.launch_time,
        "privateIp": md.local_ipv4,
        "ramdiskId": null,
        "region": md.region,
        "version": "2017-09-30",
    });
    serde_json::to_string_pretty(&doc).unwrap_or_default()
}

/// The `dynamic/` tree. The PKCS#7 and RSA signatures are not served: Kumo has no signing
/// key the guest could verify them with, and an unverifiable signature would be a fake.
pub fn dynamic(md: &InstanceMetadata) -> Node {
    Node::Dir(vec![dir(
        "instance-identity",
        vec![leaf("document", identity_document(md))],
    )])
}
