//! DHCP option sets: immutable key/value lists a VPC points at (`default` means none).
//! Each account gets the region's default set with its default networking.

use serde::{Deserialize, Serialize};

use crate::Error;
use crate::ec2::listing::{DescribeQuery, NotFound, push, tag_pairs};
use crate::ec2::vpc::{Vpc, vpc_in};
use crate::ec2::{Ec2, Fault};
use crate::ids;
use crate::query::filter::FilterTable;
use crate::query::paginate::Page;
use crate::query::tags::{self, Tag};

/// The keys AWS accepts.
pub const KEYS: &[&str] = &[
    "domain-name",
    "domain-name-servers",
    "ntp-servers",
    "netbios-name-servers",
    "netbios-node-type",
    "ipv6-address-preferred-lease-time",
];

/// A DHCP options set.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DhcpOptions {
    /// `dopt-…`.
    pub id: String,
    /// Owner account.
    pub owner_id: String,
    /// `(key, values)`, in the order given.
    pub configurations: Vec<(String, Vec<String>)>,
    /// Tags.
    #[serde(default)]
    pub tags: Vec<Tag>,
}

impl DhcpOptions {
    /// The region's default set: `ec2.internal` in us-east-1, else `<region>.compute.internal`,
    /// and the VPC resolver.
    #[must_use]
    pub fn region_default(account: &str, region: &str) -> Self {
        let domain = if region == "us-east-1" {
            "ec2.internal".to_owned()
        } else {
            format!("{region}.compute.internal")
        };
        Self {
            id: ids::resource_id("dopt"),
            owner_id: account.into(),
            configurations: vec![
                ("domain-name".into(), vec![domain]),
                (
                    "domain-name-servers".into(),
                    vec!["AmazonProvidedDNS".into()],
                ),
            ],
            tags: Vec::new(),
        }
    }

    /// The values of `key`.
    #[must_use]
    pub fn values(&self, key: &str) -> Vec<String> {
        self.configurations
            .iter()
            .filter(|(k, _)| k == key)
            .flat_map(|(_, v)| v.clone())
            .collect()
    }
}

pub(crate) const DOPT_NOT_FOUND: NotFound = NotFound {
    code: "InvalidDhcpOptionID.NotFound",
    what: "dhcpOption",
};

static DOPT_FILTERS: FilterTable<DhcpOptions> = FilterTable {
    resource: "DHCP options",
    fields: &[
        ("dhcp-options-id", |d, o| push(o, &d.id)),
        ("key", |d, o| {
            o.extend(d.configurations.iter().map(|(k, _)| k.clone()))
        }),
        ("value", |d, o| {
            o.extend(d.configurations.iter().flat_map(|(_, v)| v.iter().cloned()));
        }),
        ("owner-id", |d, o| push(o, &d.owner_id)),
    ],
    tags: Some(|d| tag_pairs(&d.tags)),
};

impl Ec2 {
    /// `CreateDhcpOptions`: known keys, each with at least one value.
    pub fn create_dhcp_options(
        &self,
        account: &str,
        configurations: Vec<(String, Vec<String>)>,
        tags: Vec<Tag>,
    ) -> Result<DhcpOptions, Error> {
        tags::validate(&tags)?;
        if configurations.is_empty() {
            return Err(Fault::missing("DhcpConfiguration").into());
        }
        for (k, v) in &configurations {
            if !KEYS.contains(&k.as_str()) {
                return Err(Fault::invalid_value(format!(
                    "Value ({k}) for parameter name is invalid. Unknown DHCP option"
                ))
                .into());
            }
            if v.is_empty() {
                return Err(
                    Fault::invalid_value(format!("Value for parameter {k} is required.")).into(),
                );
            }
        }
        self.store().transaction(|t| {
            let d = DhcpOptions {
                id: ids::resource_id("dopt"),
                owner_id: account.into(),
                configurations,
                tags,
            };
            t.put(account, d.clone());
            Ok(d)
        })
    }

    /// `DescribeDhcpOptions`.
    pub fn describe_dhcp_options(
        &self,
        account: &str,
        q: &DescribeQuery,
    ) -> Result<Page<DhcpOptions>, Error> {
        self.ensure_defaults(account)?;
        self.describe(
            account,
            "DescribeDhcpOptions",
            &DOPT_FILTERS,
            DOPT_NOT_FOUND,
            q,
            |_| true,
        )
    }

    /// `AssociateDhcpOptions`: a set (or `default`, for none) becomes the VPC's.
    pub fn associate_dhcp_options(
        &self,
        account: &str,
        dopt_id: &str,
        vpc_id: &str,
    ) -> Result<(), Error> {
        self.store().transaction(|t| {
            let mut vpc = vpc_in(t, account, vpc_id)?;
            if dopt_id != "default" && t.get::<DhcpOptions>(account, dopt_id).is_none() {
                return Err(DOPT_NOT_FOUND.fault(dopt_id).into());
            }
            vpc.dhcp_options_id = dopt_id.into();
            t.put(account, vpc);
            Ok(())
        })
    }

    /// `DeleteDhcpOptions`: `DependencyViolation` while a VPC uses it.
    pub fn delete_dhcp_options(&self, account: &str, dopt_id: &str) -> Result<(), Error> {
        self.store().transaction(|t| {
            if t.get::<DhcpOptions>(account, dopt_id).is_none() {
                return Err(DOPT_NOT_FOUND.fault(dopt_id).into());
            }
            if t.list::<Vpc>(account)
                .iter()
                .any(|v| v.dhcp_options_id == dopt_id)
            {
                return Err(Fault::dependency(format!(
                    "The dhcpOptions '{dopt_id}' has dependencies and cannot be deleted."
                ))
                .into());
            }
            t.delete::<DhcpOptions>(account, dopt_id);
            Ok(())
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: &str = "111111111111";

    #[test]
    fn create_associate_delete() {
        let ec2 = crate::ec2::testing::ec2();
        let vpc = ec2
            .create_vpc(A, "10.0.0.0/16", None, false, vec![])
            .expect("vpc");
        assert!(
            ec2.create_dhcp_options(A, vec![("colour".into(), vec!["red".into()])], vec![])
                .is_err()
        );
        let d = ec2
            .create_dhcp_options(
                A,
                vec![("domain-name".into(), vec!["corp.example".into()])],
                vec![],
            )
            .expect("create");
        ec2.associate_dhcp_options(A, &d.id, &vpc.id)
            .expect("associate");
        assert!(
            ec2.delete_dhcp_options(A, &d.id)
                .expect_err("in use")
                .to_string()
                .starts_with("DependencyViolation")
        );
        ec2.associate_dhcp_options(A, "default", &vpc.id)
            .expect("none");
        ec2.delete_dhcp_options(A, &d.id).expect("delete");
        let q = DescribeQuery {
            filters: vec![crate::query::filter::Filter {
                name: "value".into(),
                values: vec!["ec2.internal".into()],
            }],
            ..Default::default()
        };
        assert_eq!(
            ec2.describe_dhcp_options(A, &q)
                .expect("describe")
                .items
                .len(),
            1
        );
    }
}
