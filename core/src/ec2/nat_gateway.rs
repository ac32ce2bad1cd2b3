//! NAT gateways: a private address in a subnet and, when public, an Elastic IP. They are
//! `pending` for [`PENDING_SECONDS`] after creation, then `available`; deleting one releases its
//! addresses at once and leaves it `deleted`, visible for an hour as on AWS.
//!
//! The interface AWS creates for a NAT gateway is represented by its id only (the gateway's
//! private address is allocated in the subnet like an interface's). TODO(lead): create a
//! `requester-managed` interface record once `network_interface.rs` is merged.

use std::net::Ipv4Addr;

use serde::{Deserialize, Serialize};

use crate::Error;
use crate::ec2::address::{Address, address_in, bind_to_interface};
use crate::ec2::listing::{DescribeQuery, NotFound, push, tag_pairs};
use crate::ec2::subnet::{allocate_private_ip, release_private_ip, subnet_in};
use crate::ec2::{Ec2, Fault};
use crate::ids;
use crate::query::filter::FilterTable;
use crate::query::paginate::Page;
use crate::query::tags::{self, Tag};

/// How long a new NAT gateway stays `pending`.
pub const PENDING_SECONDS: i64 = 2;

/// How long a deleted NAT gateway stays visible.
pub const DELETED_VISIBLE_SECONDS: i64 = 3600;

/// A NAT gateway.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NatGateway {
    /// `nat-…`.
    pub id: String,
    /// Owner account.
    pub owner_id: String,
    /// Its VPC.
    pub vpc_id: String,
    /// Its subnet.
    pub subnet_id: String,
    /// `public` or `private`.
    pub connectivity_type: String,
    /// The Elastic IP (public gateways).
    #[serde(default)]
    pub allocation_id: Option<String>,
    /// Its public address.
    #[serde(default)]
    pub public_ip: Option<String>,
    /// The association of the Elastic IP.
    #[serde(default)]
    pub association_id: Option<String>,
    /// Its private address.
    pub private_ip: String,
    /// Its interface id.
    pub network_interface_id: String,
    /// `pending`, `available`, `deleting`, `deleted` (as stored; see [`NatGateway::state_at`]).
    pub state: String,
    /// Creation, seconds since the epoch.
    pub create_time: i64,
    /// Deletion, seconds since the epoch.
    #[serde(default)]
    pub delete_time: Option<i64>,
    /// Tags.
    #[serde(default)]
    pub tags: Vec<Tag>,
}

impl NatGateway {
    /// Its state at `now`.
    #[must_use]
    pub fn state_at(&self, now: i64) -> &str {
        if self.state == "pending" && now - self.create_time >= PENDING_SECONDS {
            "available"
        } else {
            &self.state
        }
    }
}

fn now() -> i64 {
    time::OffsetDateTime::now_utc().unix_timestamp()
}

pub(crate) const NAT_NOT_FOUND: NotFound = NotFound {
    code: "NatGatewayNotFound",
    what: "NAT gateway",
};

static NAT_FILTERS: FilterTable<NatGateway> = FilterTable {
    resource: "NAT gateway",
    fields: &[
        ("nat-gateway-id", |n, o| push(o, &n.id)),
        ("state", |n, o| push(o, n.state_at(now()))),
        ("subnet-id", |n, o| push(o, &n.subnet_id)),
        ("vpc-id", |n, o| push(o, &n.vpc_id)),
    ],
    tags: Some(|n| tag_pairs(&n.tags)),
};

impl Ec2 {
    /// `CreateNatGateway`: public ones need an unassociated Elastic IP.
    pub fn create_nat_gateway(
        &self,
        account: &str,
        subnet_id: &str,
        allocation_id: Option<&str>,
        connectivity_type: Option<&str>,
        private_ip: Option<&str>,
        tags: Vec<Tag>,
    ) -> Result<NatGateway, Error> {
        tags::validate(&tags)?;
        let kind = connectivity_type.unwrap_or("public");
        if !matches!(kind, "public" | "private") {
            return Err(Fault::invalid_value(format!("Invalid connectivity type {kind}")).into());
        }
        let requested = match private_ip {
            Some(p) => Some(p.parse::<Ipv4Addr>().map_err(|_| {
                Fault::invalid_value(format!(
                    "Value ({p}) for parameter privateIpAddress is invalid."
                ))
            })?),
            None => None,
        };
        self.store().transaction(|t| {
            let subnet = subnet_in(t, account, subnet_id)?;
            let mut address: Option<Address> = match (kind, allocation_id) {
                ("public", None) => return Err(Fault::missing("AllocationId").into()),
                ("private", Some(_)) => {
                    return Err(Fault::invalid_combination(
                        "A private NAT gateway does not take an Elastic IP.",
                    )
                    .into());
                }
                (_, Some(id)) => Some(address_in(t, account, id)?),
                (_, None) => None,
            };
            if let Some(a) = &address
                && a.association.is_some()
            {
                return Err(Fault::new(
                    "Resource.AlreadyAssociated",
                    format!("Elastic IP address [{}] is already associated", a.id),
                )
                .into());
            }
            let ip = allocate_private_ip(t, account, &subnet.id, requested)?;
            let eni = ids::resource_id("eni");
            let association_id = address
                .as_mut()
                .map(|a| bind_to_interface(a, &eni, &ip.to_string()));
            let nat = NatGateway {
                id: ids::resource_id("nat"),
                owner_id: account.into(),
                vpc_id: subnet.vpc_id.clone(),
                subnet_id: subnet.id.clone(),
                connectivity_type: kind.into(),
                allocation_id: address.as_ref().map(|a| a.id.clone()),
                public_ip: address.as_ref().map(|a| a.public_ip.clone()),
                association_id,
                private_ip: ip.to_string(),
                network_interface_id: eni,
                state: "pending".into(),
                create_time: now(),
                delete_time: None,
                tags,
            };
            if let Some(a) = address {
                t.put(account, a);
            }
            t.put(account, nat.clone());
            Ok(nat)
        })
    }

    /// `DescribeNatGateways` (deleted ones stay visible for an hour).
    pub fn describe_nat_gateways(
        &self,
        account: &str,
        q: &DescribeQuery,
    ) -> Result<Page<NatGateway>, Error> {
        let now = now();
        let mut page = self.describe(
            account,
            "DescribeNatGateways",
            &NAT_FILTERS,
            NAT_NOT_FOUND,
            q,
            |n: &NatGateway| {
                n.delete_time
                    .is_none_or(|d| now - d < DELETED_VISIBLE_SECONDS)
            },
        )?;
        for n in &mut page.items {
            n.state = n.state_at(now).to_owned();
        }
        Ok(page)
    }

    /// `DeleteNatGateway`: releases its private address and Elastic IP association.
    pub fn delete_nat_gateway(&self, account: &str, nat_id: &str) -> Result<NatGateway, Error> {
        self.store().transaction(|t| {
            let mut nat = t
                .get::<NatGateway>(account, nat_id)
                .filter(|n| n.state != "deleted")
                .ok_or_else(|| NAT_NOT_FOUND.fault(nat_id))?;
            if let Ok(ip) = nat.private_ip.parse::<Ipv4Addr>() {
                release_private_ip(t, account, &nat.subnet_id, ip);
            }
            if let Some(mut a) = nat
                .allocation_id
                .as_deref()
                .and_then(|id| t.get::<Address>(account, id))
            {
                a.association = None;
                t.put(account, a);
            }
            nat.state = "deleted".into();
            nat.delete_time = Some(now());
            t.put(account, nat.clone());
            Ok(nat)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ec2::subnet::Subnet;

    const A: &str = "111111111111";

    #[test]
    fn lifecycle() {
        let ec2 = crate::ec2::testing::ec2();
        let vpc = ec2
            .create_vpc(A, "10.0.0.0/16", None, false, vec![])
            .expect("vpc");
        let s = ec2
            .create_subnet(A, &vpc.id, "10.0.1.0/24", None, None, vec![])
            .expect("subnet");
        assert!(
            ec2.create_nat_gateway(A, &s.id, None, None, None, vec![])
                .is_err(),
            "public needs an EIP"
        );
        let eip = ec2.allocate_address(A, None, vec![]).expect("eip");
        let nat = ec2
            .create_nat_gateway(A, &s.id, Some(&eip.id), None, None, vec![])
            .expect("nat");
        assert_eq!(nat.state, "pending");
        assert_eq!(nat.private_ip, "10.0.1.4");
        assert_eq!(nat.state_at(nat.create_time + PENDING_SECONDS), "available");
        assert!(
            ec2.create_nat_gateway(A, &s.id, Some(&eip.id), None, None, vec![])
                .is_err(),
            "EIP taken"
        );
        assert!(
            ec2.release_address(A, Some(&eip.id), None).is_err(),
            "EIP in use"
        );
        assert!(ec2.delete_subnet(A, &s.id).is_err(), "subnet in use");
        ec2.delete_nat_gateway(A, &nat.id).expect("delete");
        let got = ec2
            .describe_nat_gateways(
                A,
                &DescribeQuery {
                    ids: vec![nat.id.clone()],
                    ..Default::default()
                },
            )
            .expect("describe");
        assert_eq!(got.items[0].state, "deleted");
        assert!(
            ec2.store()
                .get::<Subnet>(A, &s.id)
                .expect("g")
                .expect("s")
                .used_ips
                .is_empty()
        );
        ec2.release_address(A, Some(&eip.id), None)
            .expect("release");
        ec2.delete_subnet(A, &s.id).expect("delete subnet");
        ec2.delete_vpc(A, &vpc.id).expect("delete vpc");
    }
}
