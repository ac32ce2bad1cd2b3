//! The instance type catalog: what each type offers (vCPUs, memory, network and EBS limits),
//! `DescribeInstanceTypes` and `DescribeInstanceTypeOfferings`.
//!
//! Why a static table: the numbers are AWS's published facts for each type, and clients (the
//! Terraform provider, the console, capacity planners) read them to decide what to launch; the
//! scheduler reads vCPUs and memory to place an instance. Kumo offers the general purpose,
//! burstable, compute and memory families at the sizes a private cloud host can carry.

use crate::ec2::{Ec2, Fault};
use crate::query::filter::{Filter, FilterSet, FilterTable};
use crate::query::paginate::{Page, page_size};

/// One instance type.
#[derive(Debug, Clone, PartialEq)]
pub struct InstanceTypeInfo {
    /// `t3.micro`.
    pub name: &'static str,
    /// vCPUs.
    pub vcpus: u32,
    /// Threads per core.
    pub threads_per_core: u32,
    /// Memory, MiB.
    pub memory_mib: u64,
    /// `Up to 5 Gigabit`.
    pub network_performance: &'static str,
    /// Network interfaces.
    pub max_enis: u32,
    /// Private IPv4 addresses per interface.
    pub ipv4_per_eni: u32,
    /// `nitro` or `xen`.
    pub hypervisor: &'static str,
    /// Burstable (T family: CPU credits).
    pub burstable: bool,
    /// Free tier.
    pub free_tier: bool,
    /// `Intel`, `AMD`.
    pub manufacturer: &'static str,
    /// Sustained clock speed, GHz.
    pub clock_ghz: f64,
    /// EBS-optimised baseline and maximum bandwidth (Mbps), baseline and maximum IOPS.
    pub ebs: Option<EbsOptimized>,
    /// EBS volumes attachable.
    pub max_ebs_attachments: u32,
}

/// EBS-optimised performance of a type.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct EbsOptimized {
    /// Baseline bandwidth, Mbps.
    pub baseline_mbps: u32,
    /// Maximum bandwidth, Mbps.
    pub maximum_mbps: u32,
    /// Baseline IOPS.
    pub baseline_iops: u32,
    /// Maximum IOPS.
    pub maximum_iops: u32,
}

impl InstanceTypeInfo {
    /// Physical cores by default.
    #[must_use]
    pub fn default_cores(&self) -> u32 {
        (self.vcpus / self.threads_per_core).max(1)
    }

    /// `ipv6_supported`: every Kumo type but the oldest T2s is IPv6 capable, as in AWS.
    #[must_use]
    pub fn ipv6_per_eni(&self) -> u32 {
        self.ipv4_per_eni
    }

    /// `supported` for nitro types (ENA), `unsupported` on Xen T2.
    #[must_use]
    pub fn ena_support(&self) -> &'static str {
        if self.hypervisor == "nitro" {
            "required"
        } else {
            "unsupported"
        }
    }

    /// `default` (always EBS-optimised) on nitro, `unsupported` on T2.
    #[must_use]
    pub fn ebs_optimized_support(&self) -> &'static str {
        if self.ebs.is_some() {
            "default"
        } else {
            "unsupported"
        }
    }

    /// `required` NVMe on nitro, `unsupported` on Xen.
    #[must_use]
    pub fn nvme_support(&self) -> &'static str {
        if self.hypervisor == "nitro" {
            "required"
        } else {
            "unsupported"
        }
    }

    /// Boot modes: nitro types boot UEFI or legacy BIOS.
    #[must_use]
    pub fn boot_modes(&self) -> &'static [&'static str] {
        if self.hypervisor == "nitro" {
            &["legacy-bios", "uefi"]
        } else {
            &["legacy-bios"]
        }
    }

    /// Usage classes.
    #[must_use]
    pub fn usage_classes(&self) -> &'static [&'static str] {
        &["on-demand", "spot"]
    }
}

const fn ebs(
    baseline_mbps: u32,
    maximum_mbps: u32,
    baseline_iops: u32,
    maximum_iops: u32,
) -> Option<EbsOptimized> {
    Some(EbsOptimized {
        baseline_mbps,
        maximum_mbps,
        baseline_iops,
        maximum_iops,
    })
}

#[allow(clippy::too_many_arguments)]
const fn t(
    name: &'static str,
    vcpus: u32,
    memory_mib: u64,
    network_performance: &'static str,
    max_enis: u32,
    ipv4_per_eni: u32,
    hypervisor: &'static str,
    manufacturer: &'static str,
    clock_ghz: f64,
    ebs: Option<EbsOptimized>,
) -> InstanceTypeInfo {
    let burstable = matches!(name.as_bytes()[0], b't');
    InstanceTypeInfo {
        name,
        vcpus,
        threads_per_core: if vcpus == 1 || matches!(hypervisor.as_bytes()[0], b'x') {
            1
        } else {
            2
        },
        memory_mib,
        network_performance,
        max_enis,
        ipv4_per_eni,
        hypervisor,
        burstable,
        free_tier: false,
        manufacturer,
        clock_ghz,
        ebs,
        max_ebs_attachments: if matches!(hypervisor.as_bytes()[0], b'x') {
            40
        } else {
            28
        },
    }
}

const fn free(mut i: InstanceTypeInfo) -> InstanceTypeInfo {
    i.free_tier = true;
    i
}

const LOW: &str = "Low to Moderate";
const MOD: &str = "Moderate";
const UP5: &str = "Up to 5 Gigabit";
const UP10: &str = "Up to 10 Gigabit";
const T3E: Option<EbsOptimized> = ebs(43, 2085, 250, 11800);
const M5S: Option<EbsOptimized> = ebs(650, 4750, 3600, 18750);
const M5X: Option<EbsOptimized> = ebs(1150, 4750, 6000, 18750);
const M52: Option<EbsOptimized> = ebs(2300, 4750, 12000, 18750);
const M54: Option<EbsOptimized> = ebs(4750, 4750, 18750, 18750);

/// Every type Kumo offers, in AWS's listing order.
pub static CATALOG: &[InstanceTypeInfo] = &[
    t("t2.nano", 1, 512, LOW, 2, 2, "xen", "Intel", 2.4, None),
    free(t("t2.micro", 1, 1024, LOW, 2, 2, "xen", "Intel", 2.5, None)),
    t("t2.small", 1, 2048, LOW, 3, 4, "xen", "Intel", 2.5, None),
    t("t2.medium", 2, 4096, LOW, 3, 6, "xen", "Intel", 2.3, None),
    t("t2.large", 2, 8192, LOW, 3, 12, "xen", "Intel", 2.3, None),
    t("t2.xlarge", 4, 16384, MOD, 3, 15, "xen", "Intel", 2.3, None),
    t(
        "t2.2xlarge",
        8,
        32768,
        MOD,
        3,
        15,
        "xen",
        "Intel",
        2.3,
        None,
    ),
    t(
        "t3.nano",
        2,
        512,
        UP5,
        2,
        2,
        "nitro",
        "Intel",
        2.5,
        ebs(32, 2085, 250, 11800),
    ),
    free(t(
        "t3.micro",
        2,
        1024,
        UP5,
        2,
        2,
        "nitro",
        "Intel",
        2.5,
        ebs(64, 2085, 500, 11800),
    )),
    t(
        "t3.small",
        2,
        2048,
        UP5,
        3,
        4,
        "nitro",
        "Intel",
        2.5,
        ebs(128, 2085, 1000, 11800),
    ),
    t(
        "t3.medium",
        2,
        4096,
        UP5,
        3,
        6,
        "nitro",
        "Intel",
        2.5,
        ebs(256, 2085, 2000, 11800),
    ),
    t(
        "t3.large",
        2,
        8192,
        UP5,
        3,
        12,
        "nitro",
        "Intel",
        2.5,
        ebs(512, 2780, 4000, 15700),
    ),
    t(
        "t3.xlarge",
        4,
        16384,
        UP5,
        4,
        15,
        "nitro",
        "Intel",
        2.5,
        ebs(512, 2780, 4000, 15700),
    ),
    t(
        "t3.2xlarge",
        8,
        32768,
        UP5,
        4,
        15,
        "nitro",
        "Intel",
        2.5,
        ebs(512, 2780, 4000, 15700),
    ),
    t("t3a.nano", 2, 512, UP5, 2, 2, "nitro", "AMD", 2.2, T3E),
    t("t3a.micro", 2, 1024, UP5, 2, 2, "nitro", "AMD", 2.2, T3E),
    t("t3a.small", 2, 2048, UP5, 2, 4, "nitro", "AMD", 2.2, T3E),
    t("t3a.medium", 2, 4096, UP5, 3, 6, "nitro", "AMD", 2.2, T3E),
    t("t3a.large", 2, 8192, UP5, 3, 12, "nitro", "AMD", 2.2, T3E),
    t("t3a.xlarge", 4, 16384, UP5, 4, 15, "nitro", "AMD", 2.2, T3E),
    t(
        "t3a.2xlarge",
        8,
        32768,
        UP5,
        4,
        15,
        "nitro",
        "AMD",
        2.2,
        T3E,
    ),
    t("m5.large", 2, 8192, UP10, 3, 10, "nitro", "Intel", 3.1, M5S),
    t(
        "m5.xlarge",
        4,
        16384,
        UP10,
        4,
        15,
        "nitro",
        "Intel",
        3.1,
        M5X,
    ),
    t(
        "m5.2xlarge",
        8,
        32768,
        UP10,
        4,
        15,
        "nitro",
        "Intel",
        3.1,
        M52,
    ),
    t(
        "m5.4xlarge",
        16,
        65536,
        UP10,
        8,
        30,
        "nitro",
        "Intel",
        3.1,
        M54,
    ),
    t("c5.large", 2, 4096, UP10, 3, 10, "nitro", "Intel", 3.4, M5S),
    t(
        "c5.xlarge",
        4,
        8192,
        UP10,
        4,
        15,
        "nitro",
        "Intel",
        3.4,
        M5X,
    ),
    t(
        "c5.2xlarge",
        8,
        16384,
        UP10,
        4,
        15,
        "nitro",
        "Intel",
        3.4,
        M52,
    ),
    t(
        "c5.4xlarge",
        16,
        32768,
        UP10,
        8,
        30,
        "nitro",
        "Intel",
        3.4,
        M54,
    ),
    t(
        "r5.large", 2, 16384, UP10, 3, 10, "nitro", "Intel", 3.1, M5S,
    ),
    t(
        "r5.xlarge",
        4,
        32768,
        UP10,
        4,
        15,
        "nitro",
        "Intel",
        3.1,
        M5X,
    ),
    t(
        "r5.2xlarge",
        8,
        65536,
        UP10,
        4,
        15,
        "nitro",
        "Intel",
        3.1,
        M52,
    ),
    t(
        "r5.4xlarge",
        16,
        131072,
        UP10,
        8,
        30,
        "nitro",
        "Intel",
        3.1,
        M54,
    ),
];

/// The catalog entry of `name`.
#[must_use]
pub fn lookup(name: &str) -> Option<&'static InstanceTypeInfo> {
    CATALOG.iter().find(|i| i.name == name)
}

fn yes_no(b: bool) -> String {
    b.to_string()
}

static TYPE_FILTERS: FilterTable<InstanceTypeInfo> = FilterTable {
    resource: "instance type",
    fields: &[
        ("instance-type", |i, o| o.push(i.name.into())),
        ("auto-recovery-supported", |_, o| o.push("true".into())),
        ("bare-metal", |_, o| o.push("false".into())),
        ("burstable-performance-supported", |i, o| {
            o.push(yes_no(i.burstable))
        }),
        ("current-generation", |_, o| o.push("true".into())),
        ("dedicated-hosts-supported", |i, o| {
            o.push(yes_no(!i.burstable))
        }),
        ("free-tier-eligible", |i, o| o.push(yes_no(i.free_tier))),
        ("hibernation-supported", |_, o| o.push("true".into())),
        ("hypervisor", |i, o| o.push(i.hypervisor.into())),
        ("instance-storage-supported", |_, o| o.push("false".into())),
        ("memory-info.size-in-mib", |i, o| {
            o.push(i.memory_mib.to_string())
        }),
        ("network-info.ena-support", |i, o| {
            o.push(i.ena_support().into())
        }),
        ("network-info.efa-supported", |_, o| o.push("false".into())),
        ("network-info.encryption-in-transit-supported", |_, o| {
            o.push("false".into())
        }),
        ("network-info.ipv4-addresses-per-interface", |i, o| {
            o.push(i.ipv4_per_eni.to_string())
        }),
        ("network-info.ipv6-addresses-per-interface", |i, o| {
            o.push(i.ipv6_per_eni().to_string())
        }),
        ("network-info.ipv6-supported", |_, o| o.push("true".into())),
        ("network-info.maximum-network-interfaces", |i, o| {
            o.push(i.max_enis.to_string())
        }),
        ("network-info.maximum-network-cards", |_, o| {
            o.push("1".into())
        }),
        ("network-info.network-performance", |i, o| {
            o.push(i.network_performance.into())
        }),
        ("ebs-info.ebs-optimized-support", |i, o| {
            o.push(i.ebs_optimized_support().into())
        }),
        ("ebs-info.encryption-support", |_, o| {
            o.push("supported".into())
        }),
        ("ebs-info.nvme-support", |i, o| {
            o.push(i.nvme_support().into())
        }),
        (
            "ebs-info.ebs-optimized-info.baseline-bandwidth-in-mbps",
            |i, o| {
                if let Some(e) = i.ebs {
                    o.push(e.baseline_mbps.to_string())
                }
            },
        ),
        (
            "ebs-info.ebs-optimized-info.maximum-bandwidth-in-mbps",
            |i, o| {
                if let Some(e) = i.ebs {
                    o.push(e.maximum_mbps.to_string())
                }
            },
        ),
        ("ebs-info.ebs-optimized-info.baseline-iops", |i, o| {
            if let Some(e) = i.ebs {
                o.push(e.baseline_iops.to_string())
            }
        }),
        ("ebs-info.ebs-optimized-info.maximum-iops", |i, o| {
            if let Some(e) = i.ebs {
                o.push(e.maximum_iops.to_string())
            }
        }),
        ("processor-info.supported-architecture", |_, o| {
            o.push("x86_64".into())
        }),
        ("processor-info.sustained-clock-speed-in-ghz", |i, o| {
            o.push(i.clock_ghz.to_string())
        }),
        ("processor-info.manufacturer", |i, o| {
            o.push(i.manufacturer.into())
        }),
        ("supported-boot-mode", |i, o| {
            o.extend(i.boot_modes().iter().map(|s| (*s).to_owned()))
        }),
        ("supported-root-device-type", |_, o| o.push("ebs".into())),
        ("supported-usage-class", |i, o| {
            o.extend(i.usage_classes().iter().map(|s| (*s).to_owned()))
        }),
        ("supported-virtualization-type", |_, o| o.push("hvm".into())),
        ("vcpu-info.default-cores", |i, o| {
            o.push(i.default_cores().to_string())
        }),
        ("vcpu-info.default-threads-per-core", |i, o| {
            o.push(i.threads_per_core.to_string())
        }),
        ("vcpu-info.default-vcpus", |i, o| {
            o.push(i.vcpus.to_string())
        }),
        ("vcpu-info.valid-cores", |i, o| {
            o.push(i.default_cores().to_string())
        }),
        ("vcpu-info.valid-threads-per-core", |i, o| {
            o.push(i.threads_per_core.to_string())
        }),
    ],
    tags: None,
};

/// An offering: a type offered at a location.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Offering {
    /// Type name.
    pub instance_type: &'static str,
    /// `region`, `availability-zone` or `availability-zone-id`.
    pub location_type: String,
    /// The region, zone name or zone id.
    pub location: String,
}

static OFFERING_FILTERS: FilterTable<Offering> = FilterTable {
    resource: "instance type offering",
    fields: &[
        ("instance-type", |r, o| o.push(r.instance_type.into())),
        ("location", |r, o| o.push(r.location.clone())),
    ],
    tags: None,
};

fn check_max_results(max: Option<i32>, lo: i32, hi: i32) -> Result<(), Fault> {
    match max {
        Some(n) if n < lo || n > hi => Err(Fault::invalid_value(format!(
            "Value ( {n} ) for parameter maxResults is invalid. Parameter must be between {lo} and {hi}."
        ))),
        _ => Ok(()),
    }
}

impl Ec2 {
    /// `DescribeInstanceTypes`.
    pub fn describe_instance_types(
        &self,
        names: &[String],
        filters: &[Filter],
        max_results: Option<i32>,
        next_token: Option<&str>,
    ) -> Result<Page<&'static InstanceTypeInfo>, Fault> {
        check_max_results(max_results, 5, 100)?;
        let unknown: Vec<&str> = names
            .iter()
            .filter(|n| lookup(n).is_none())
            .map(String::as_str)
            .collect();
        if !unknown.is_empty() {
            return Err(Fault::new(
                "InvalidInstanceType",
                format!(
                    "The following supplied instance types do not exist: [{}]",
                    unknown.join(", ")
                ),
            ));
        }
        let set = FilterSet::compile(&TYPE_FILTERS, filters)?;
        let items: Vec<&'static InstanceTypeInfo> = CATALOG
            .iter()
            .filter(|i| names.is_empty() || names.iter().any(|n| n == i.name))
            .filter(|i| set.matches(i))
            .collect();
        let scope = format!("DescribeInstanceTypes{names:?}{filters:?}");
        Ok(self.paginator().page(
            items,
            |i| i.name,
            &scope,
            next_token,
            page_size(max_results),
        )?)
    }

    /// `DescribeInstanceTypeOfferings`: every catalog type in the region or in each zone.
    pub fn describe_instance_type_offerings(
        &self,
        location_type: Option<&str>,
        filters: &[Filter],
        max_results: Option<i32>,
        next_token: Option<&str>,
    ) -> Result<Page<Offering>, Fault> {
        check_max_results(max_results, 5, 1000)?;
        let location_type = location_type.unwrap_or("region");
        let locations: Vec<String> = match location_type {
            "region" => vec![self.placement().region.clone()],
            "availability-zone" => self.placement().zones.clone(),
            "availability-zone-id" => self.zones().into_iter().map(|z| z.id).collect(),
            other => {
                return Err(Fault::invalid_value(format!(
                    "Value ( {other} ) for parameter locationType is invalid."
                )));
            }
        };
        let set = FilterSet::compile(&OFFERING_FILTERS, filters)?;
        let items: Vec<Offering> = locations
            .iter()
            .flat_map(|loc| {
                CATALOG.iter().map(move |i| Offering {
                    instance_type: i.name,
                    location_type: location_type.to_owned(),
                    location: loc.clone(),
                })
            })
            .filter(|o| set.matches(o))
            .collect();
        // Sort key: location then type, so a page boundary is stable.
        let keyed: Vec<(String, Offering)> = items
            .into_iter()
            .map(|o| (format!("{}\u{1}{}", o.location, o.instance_type), o))
            .collect();
        let scope = format!("DescribeInstanceTypeOfferings{location_type}{filters:?}");
        let page = self.paginator().page(
            keyed,
            |(k, _)| k.as_str(),
            &scope,
            next_token,
            page_size(max_results),
        )?;
        Ok(Page {
            items: page.items.into_iter().map(|(_, o)| o).collect(),
            next_token: page.next_token,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn f(name: &str, v: &str) -> Filter {
        Filter {
            name: name.into(),
            values: vec![v.into()],
        }
    }

    #[test]
    fn catalog_facts_filters_and_pages() {
        let ec2 = crate::ec2::testing::ec2();
        let t3 = lookup("t3.micro").expect("t3.micro");
        assert_eq!((t3.vcpus, t3.memory_mib, t3.default_cores()), (2, 1024, 1));
        assert!(CATALOG.len() >= 33);
        let got = ec2
            .describe_instance_types(&[], &[f("vcpu-info.default-vcpus", "16")], None, None)
            .expect("describe");
        assert_eq!(got.items.len(), 3);
        let got = ec2
            .describe_instance_types(&[], &[f("instance-type", "t3a.*")], None, None)
            .expect("describe");
        assert_eq!(got.items.len(), 7);
        let got = ec2
            .describe_instance_types(&[], &[f("free-tier-eligible", "true")], None, None)
            .expect("describe");
        assert_eq!(got.items.len(), 2);
        let err = ec2
            .describe_instance_types(&["x1.huge".into()], &[], None, None)
            .expect_err("unknown");
        assert_eq!(err.code, "InvalidInstanceType");
        assert!(
            ec2.describe_instance_types(&[], &[], Some(1000), None)
                .is_err()
        );
        let mut seen = 0;
        let mut token = None;
        for _ in 0..20 {
            let p = ec2
                .describe_instance_types(&[], &[], Some(5), token.as_deref())
                .expect("page");
            seen += p.items.len();
            token = p.next_token;
            if token.is_none() {
                break;
            }
        }
        assert_eq!(seen, CATALOG.len());
        let zones = ec2
            .describe_instance_type_offerings(
                Some("availability-zone"),
                &[f("instance-type", "t3.micro")],
                None,
                None,
            )
            .expect("offerings");
        assert_eq!(zones.items.len(), 2);
        assert_eq!(zones.items[0].location, "us-east-1a");
        assert!(
            ec2.describe_instance_type_offerings(Some("planet"), &[], None, None)
                .is_err()
        );
    }
}
