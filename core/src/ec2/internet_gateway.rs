//! Internet gateways: created detached, attached to at most one VPC, which has at most one.
//! Routes through a detached gateway report `blackhole` (see `route_table`).

use serde::{Deserialize, Serialize};

use crate::Error;
use crate::ec2::listing::{DescribeQuery, NotFound, push, tag_pairs};
use crate::ec2::vpc::vpc_in;
use crate::ec2::{Ec2, Fault};
use crate::ids;
use crate::query::filter::FilterTable;
use crate::query::paginate::Page;
use crate::query::tags::{self, Tag};

/// An attachment to a VPC.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IgwAttachment {
    /// The VPC.
    pub vpc_id: String,
    /// `available` (AWS reports `available` for an attached internet gateway).
    pub state: String,
}

/// An internet gateway.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InternetGateway {
    /// `igw-…`.
    pub id: String,
    /// Owner account.
    pub owner_id: String,
    /// Zero or one attachment.
    #[serde(default)]
    pub attachments: Vec<IgwAttachment>,
    /// Tags.
    #[serde(default)]
    pub tags: Vec<Tag>,
}

impl InternetGateway {
    /// A new, detached gateway.
    #[must_use]
    pub fn new(account: &str, tags: Vec<Tag>) -> Self {
        Self {
            id: ids::resource_id("igw"),
            owner_id: account.into(),
            attachments: Vec::new(),
            tags,
        }
    }

    /// Attaches it (no checks: see [`Ec2::attach_internet_gateway`]).
    pub fn attach(&mut self, vpc_id: &str) {
        self.attachments = vec![IgwAttachment {
            vpc_id: vpc_id.into(),
            state: "available".into(),
        }];
    }

    /// Whether it is attached to `vpc_id`.
    #[must_use]
    pub fn attached_to(&self, vpc_id: &str) -> bool {
        self.attachments.iter().any(|a| a.vpc_id == vpc_id)
    }
}

pub(crate) const IGW_NOT_FOUND: NotFound = NotFound {
    code: "InvalidInternetGatewayID.NotFound",
    what: "internetGateway",
};

static IGW_FILTERS: FilterTable<InternetGateway> = FilterTable {
    resource: "internet gateway",
    fields: &[
        ("attachment.state", |g, o| {
            o.extend(g.attachments.iter().map(|a| a.state.clone()));
        }),
        ("attachment.vpc-id", |g, o| {
            o.extend(g.attachments.iter().map(|a| a.vpc_id.clone()));
        }),
        ("internet-gateway-id", |g, o| push(o, &g.id)),
        ("owner-id", |g, o| push(o, &g.owner_id)),
    ],
    tags: Some(|g| tag_pairs(&g.tags)),
};

impl Ec2 {
    /// `CreateInternetGateway`.
    pub fn create_internet_gateway(
        &self,
        account: &str,
        tags: Vec<Tag>,
    ) -> Result<InternetGateway, Error> {
        tags::validate(&tags)?;
        self.store().transaction(|t| {
            let g = InternetGateway::new(account, tags);
            t.put(account, g.clone());
            Ok(g)
        })
    }

    /// `DescribeInternetGateways`.
    pub fn describe_internet_gateways(
        &self,
        account: &str,
        q: &DescribeQuery,
    ) -> Result<Page<InternetGateway>, Error> {
        self.ensure_defaults(account)?;
        self.describe(
            account,
            "DescribeInternetGateways",
            &IGW_FILTERS,
            IGW_NOT_FOUND,
            q,
            |_| true,
        )
    }

    /// `AttachInternetGateway`: `Resource.AlreadyAssociated` when the gateway is attached or
    /// the VPC already has one.
    pub fn attach_internet_gateway(
        &self,
        account: &str,
        igw_id: &str,
        vpc_id: &str,
    ) -> Result<(), Error> {
        self.store().transaction(|t| {
            let mut g = t
                .get::<InternetGateway>(account, igw_id)
                .ok_or_else(|| IGW_NOT_FOUND.fault(igw_id))?;
            let vpc = vpc_in(t, account, vpc_id)?;
            if let Some(a) = g.attachments.first() {
                return Err(Fault::new(
                    "Resource.AlreadyAssociated",
                    format!(
                        "resource {igw_id} is already attached to network {}",
                        a.vpc_id
                    ),
                )
                .into());
            }
            if let Some(other) = t
                .list::<InternetGateway>(account)
                .into_iter()
                .find(|o| o.attached_to(&vpc.id))
            {
                return Err(Fault::new(
                    "Resource.AlreadyAssociated",
                    format!(
                        "Network {vpc_id} already has an internet gateway attached ({})",
                        other.id
                    ),
                )
                .into());
            }
            g.attach(&vpc.id);
            t.put(account, g);
            Ok(())
        })
    }

    /// `DetachInternetGateway`: `Gateway.NotAttached` unless attached to that VPC.
    pub fn detach_internet_gateway(
        &self,
        account: &str,
        igw_id: &str,
        vpc_id: &str,
    ) -> Result<(), Error> {
        self.store().transaction(|t| {
            let mut g = t
                .get::<InternetGateway>(account, igw_id)
                .ok_or_else(|| IGW_NOT_FOUND.fault(igw_id))?;
            vpc_in(t, account, vpc_id)?;
            if !g.attached_to(vpc_id) {
                return Err(Fault::new(
                    "Gateway.NotAttached",
                    format!("resource {igw_id} is not attached to network {vpc_id}"),
                )
                .into());
            }
            g.attachments.clear();
            t.put(account, g);
            Ok(())
        })
    }

    /// `DeleteInternetGateway`: `DependencyViolation` while attached.
    pub fn delete_internet_gateway(&self, account: &str, igw_id: &str) -> Result<(), Error> {
        self.store().transaction(|t| {
            let g = t
                .get::<InternetGateway>(account, igw_id)
                .ok_or_else(|| IGW_NOT_FOUND.fault(igw_id))?;
            if !g.attachments.is_empty() {
                return Err(Fault::dependency(format!(
                    "The internetGateway '{igw_id}' has dependencies and cannot be deleted."
                ))
                .into());
            }
            t.delete::<InternetGateway>(account, igw_id);
            Ok(())
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: &str = "111111111111";

    #[test]
    fn attach_detach_delete() {
        let ec2 = crate::ec2::testing::ec2();
        let vpc = ec2
            .create_vpc(A, "10.0.0.0/16", None, false, vec![])
            .expect("vpc");
        let g = ec2.create_internet_gateway(A, vec![]).expect("igw");
        let g2 = ec2.create_internet_gateway(A, vec![]).expect("igw2");
        let err = |e: Error| {
            e.to_string()
                .split(':')
                .next()
                .unwrap_or_default()
                .to_owned()
        };
        assert_eq!(
            err(ec2
                .detach_internet_gateway(A, &g.id, &vpc.id)
                .expect_err("x")),
            "Gateway.NotAttached"
        );
        ec2.attach_internet_gateway(A, &g.id, &vpc.id)
            .expect("attach");
        assert_eq!(
            err(ec2
                .attach_internet_gateway(A, &g.id, &vpc.id)
                .expect_err("x")),
            "Resource.AlreadyAssociated"
        );
        assert_eq!(
            err(ec2
                .attach_internet_gateway(A, &g2.id, &vpc.id)
                .expect_err("x")),
            "Resource.AlreadyAssociated"
        );
        assert_eq!(
            err(ec2.delete_internet_gateway(A, &g.id).expect_err("x")),
            "DependencyViolation"
        );
        assert_eq!(
            err(ec2.delete_vpc(A, &vpc.id).expect_err("x")),
            "DependencyViolation"
        );
        let q = DescribeQuery {
            filters: vec![crate::query::filter::Filter {
                name: "attachment.vpc-id".into(),
                values: vec![vpc.id.clone()],
            }],
            ..Default::default()
        };
        let got = ec2.describe_internet_gateways(A, &q).expect("describe");
        assert_eq!(got.items.len(), 1);
        assert_eq!(got.items[0].id, g.id);
        ec2.detach_internet_gateway(A, &g.id, &vpc.id)
            .expect("detach");
        ec2.delete_internet_gateway(A, &g.id).expect("delete");
        assert_eq!(
            err(ec2.delete_internet_gateway(A, &g.id).expect_err("x")),
            "InvalidInternetGatewayID.NotFound"
        );
    }
}
