//! Elastic IP addresses: public IPv4 addresses allocated to an account from the endpoint's
//! pool and associated with a network interface (directly, through an instance's primary
//! interface, or by a NAT gateway).
//!
//! The pool is `[network] public_cidr` ([`Ec2::with_public_pool`]), by default [`EIP_POOL`]
//! (198.51.100.0/24, TEST-NET-2, RFC 5737); the network fabric routes whatever it is given. Public addresses are unique across accounts, so the set of
//! allocated addresses is one record, [`PublicIpPool`], under the store's reserved account
//! [`GLOBAL`], changed in the same transaction as the account's address.

use std::collections::BTreeMap;
use std::net::Ipv4Addr;

use serde::{Deserialize, Serialize};

use crate::Error;
use crate::ec2::cidr::Cidr;
use crate::ec2::instance::{Instance, InstanceState};
use crate::ec2::listing::{DescribeQuery, NotFound, push, tag_pairs};
use crate::ec2::network_interface::NetworkInterface;
use crate::ec2::store::Txn;
use crate::ec2::{Ec2, Fault};
use crate::ids;
use crate::query::filter::{FilterSet, FilterTable};
use crate::query::tags::{self, Tag};

/// The public pool addresses come from.
pub const EIP_POOL: &str = "198.51.100.0/24";

/// Most addresses an account may hold (AWS's default quota).
pub const MAX_ELASTIC_IPS: usize = 5;

/// The store's account for records shared by every account.
pub const GLOBAL: &str = "-global";

const POOL_ID: &str = "kumo-public-ip-pool";

/// Which account holds each public address.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct PublicIpPool {
    /// [`POOL_ID`].
    pub id: String,
    /// Address → holding account.
    pub allocated: BTreeMap<Ipv4Addr, String>,
    /// Unused (not taggable).
    #[serde(default)]
    pub tags: Vec<Tag>,
}

/// Where an address points.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EipAssociation {
    /// `eipassoc-…`.
    pub id: String,
    /// The instance, when associated through one.
    #[serde(default)]
    pub instance_id: Option<String>,
    /// The interface.
    #[serde(default)]
    pub network_interface_id: Option<String>,
    /// The private address it maps to.
    #[serde(default)]
    pub private_ip: Option<String>,
}

/// An Elastic IP address.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Address {
    /// `eipalloc-…`.
    pub id: String,
    /// Owner account.
    pub owner_id: String,
    /// The public address.
    pub public_ip: String,
    /// `vpc`.
    pub domain: String,
    /// The region (AWS's network border group).
    pub network_border_group: String,
    /// Its association.
    #[serde(default)]
    pub association: Option<EipAssociation>,
    /// Tags.
    #[serde(default)]
    pub tags: Vec<Tag>,
}

pub(crate) const EIP_NOT_FOUND: NotFound = NotFound {
    code: "InvalidAllocationID.NotFound",
    what: "allocation",
};

static EIP_FILTERS: FilterTable<Address> = FilterTable {
    resource: "address",
    fields: &[
        ("allocation-id", |a, o| push(o, &a.id)),
        ("association-id", |a, o| {
            o.extend(a.association.iter().map(|x| x.id.clone()));
        }),
        ("domain", |a, o| push(o, &a.domain)),
        ("instance-id", |a, o| {
            o.extend(a.association.iter().filter_map(|x| x.instance_id.clone()));
        }),
        ("network-border-group", |a, o| {
            push(o, &a.network_border_group)
        }),
        ("network-interface-id", |a, o| {
            o.extend(
                a.association
                    .iter()
                    .filter_map(|x| x.network_interface_id.clone()),
            );
        }),
        ("network-interface-owner-id", |a, o| {
            if a.association
                .as_ref()
                .is_some_and(|x| x.network_interface_id.is_some())
            {
                push(o, &a.owner_id);
            }
        }),
        ("private-ip-address", |a, o| {
            o.extend(a.association.iter().filter_map(|x| x.private_ip.clone()));
        }),
        ("public-ip", |a, o| push(o, &a.public_ip)),
    ],
    tags: Some(|a| tag_pairs(&a.tags)),
};

/// The facts an association needs about its target (an interface or an instance): the
/// interface, its primary private address and its instance. An instance resolves to its
/// primary interface, as on AWS.
#[derive(Debug, Default)]
struct TargetFacts {
    private_ip: Option<String>,
    network_interface_id: Option<String>,
    instance_id: Option<String>,
}

fn target_facts(t: &Txn<'_>, account: &str, id: &str) -> Option<TargetFacts> {
    if id.starts_with("eni-") {
        let eni = t.get::<NetworkInterface>(account, id)?;
        return Some(TargetFacts {
            private_ip: Some(eni.private_ip.clone()),
            network_interface_id: Some(eni.id.clone()),
            instance_id: eni.attachment.map(|a| a.instance_id),
        });
    }
    if let Some(i) = t.get::<Instance>(account, id) {
        if i.state == InstanceState::Terminated || i.state == InstanceState::ShuttingDown {
            return None;
        }
        return Some(TargetFacts {
            private_ip: Some(i.private_ip.clone()),
            network_interface_id: i.network_interfaces.first().cloned(),
            instance_id: Some(i.id.clone()),
        });
    }
    // Other records (NAT gateways) keep their own interface facts.
    let r = t.find(account, id)?;
    let v = serde_json::to_value(&r).ok()?;
    let s = |names: &[&str]| {
        names
            .iter()
            .find_map(|n| v.get(*n).and_then(|x| x.as_str()).map(str::to_owned))
    };
    Some(TargetFacts {
        private_ip: s(&["private_ip_address", "private_ip", "primary_private_ip"]),
        network_interface_id: s(&["primary_network_interface_id", "network_interface_id"]),
        instance_id: None,
    })
}

/// What `AssociateAddress` asks: the address (by allocation id or public address), the
/// target (an instance or an interface) and its private address.
#[derive(Debug, Clone, Copy, Default)]
pub struct AssociateAddress<'a> {
    /// `AllocationId`.
    pub allocation_id: Option<&'a str>,
    /// `PublicIp`.
    pub public_ip: Option<&'a str>,
    /// `InstanceId`.
    pub instance_id: Option<&'a str>,
    /// `NetworkInterfaceId`.
    pub network_interface_id: Option<&'a str>,
    /// `PrivateIpAddress`.
    pub private_ip: Option<&'a str>,
    /// `AllowReassociation`.
    pub allow_reassociation: bool,
}

/// [`EIP_POOL`] as a block.
pub(crate) fn default_pool() -> Cidr {
    Cidr::parse(EIP_POOL).unwrap_or(Cidr {
        addr: u32::from(Ipv4Addr::new(198, 51, 100, 0)),
        len: 24,
    })
}

fn pool(t: &Txn<'_>) -> PublicIpPool {
    t.get::<PublicIpPool>(GLOBAL, POOL_ID)
        .unwrap_or_else(|| PublicIpPool {
            id: POOL_ID.into(),
            ..PublicIpPool::default()
        })
}

/// The lowest address of the pool no account holds.
fn free_public_ip(pool: &PublicIpPool, block: Cidr) -> Result<Ipv4Addr, Fault> {
    (1..u32::try_from(block.size() - 1).unwrap_or(1))
        .map(|n| block.nth(n))
        .find(|ip| !pool.allocated.contains_key(ip))
        .ok_or_else(|| {
            Fault::new(
                "InsufficientAddressCapacity",
                "There are no free public addresses in this region.",
            )
            .with_status(503)
        })
}

/// Takes a public address from the shared pool for an instance's interface
/// (`MapPublicIpOnLaunch` / `AssociatePublicIpAddress`): not an Elastic IP, so no `Address`
/// record; [`release_public_ip`] gives it back when the interface is deleted.
pub(crate) fn allocate_public_ip(
    t: &mut Txn<'_>,
    account: &str,
    block: Cidr,
) -> Result<Ipv4Addr, Fault> {
    let mut pool = pool(t);
    let ip = free_public_ip(&pool, block)?;
    pool.allocated.insert(ip, account.to_owned());
    t.put(GLOBAL, pool);
    Ok(ip)
}

/// Returns an auto-assigned public address to the pool.
pub(crate) fn release_public_ip(t: &mut Txn<'_>, ip: &str) {
    if let Ok(ip) = ip.parse::<Ipv4Addr>() {
        let mut pool = pool(t);
        if pool.allocated.remove(&ip).is_some() {
            t.put(GLOBAL, pool);
        }
    }
}

/// The account's address with allocation id `id` in a transaction.
pub(crate) fn address_in(t: &Txn<'_>, account: &str, id: &str) -> Result<Address, Fault> {
    t.get::<Address>(account, id)
        .ok_or_else(|| EIP_NOT_FOUND.fault(id))
}

/// Points `address` at a NAT gateway's interface (for `nat_gateway`).
pub(crate) fn bind_to_interface(address: &mut Address, eni_id: &str, private_ip: &str) -> String {
    let id = ids::resource_id("eipassoc");
    address.association = Some(EipAssociation {
        id: id.clone(),
        instance_id: None,
        network_interface_id: Some(eni_id.into()),
        private_ip: Some(private_ip.into()),
    });
    id
}

/// Disassociates every address pointing at `target` (an interface or instance id) — for the
/// interface and instance modules to call from their delete / terminate transactions, as AWS
/// drops an Elastic IP association when its interface goes. Answers how many were dropped.
pub fn disassociate_addresses_of(t: &mut Txn<'_>, account: &str, target: &str) -> usize {
    let mut n = 0;
    for mut a in t.list::<Address>(account) {
        let hit = a.association.as_ref().is_some_and(|x| {
            x.network_interface_id.as_deref() == Some(target)
                || x.instance_id.as_deref() == Some(target)
        });
        if hit {
            a.association = None;
            t.put(account, a);
            n += 1;
        }
    }
    n
}

/// An address or interface a load balancer manages: not the caller's to move.
fn managed_by_elb() -> Error {
    Fault::new(
        "AuthFailure",
        "You do not have permission to access the specified resource: it is managed by Elastic Load Balancing.",
    )
    .into()
}

fn by_public_ip(t: &Txn<'_>, account: &str, ip: &str) -> Result<Address, Fault> {
    t.list::<Address>(account)
        .into_iter()
        .find(|a| a.public_ip == ip)
        .ok_or_else(|| {
            Fault::new(
                "InvalidAddress.NotFound",
                format!("Address '{ip}' not found."),
            )
        })
}

impl Ec2 {
    /// `AllocateAddress` (domain `vpc`): the lowest free pool address, or `address` when it is
    /// in the pool and free.
    pub fn allocate_address(
        &self,
        account: &str,
        address: Option<&str>,
        tags: Vec<Tag>,
    ) -> Result<Address, Error> {
        tags::validate(&tags)?;
        let pool_block = self.public_pool();
        let wanted = match address {
            Some(a) => {
                let ip: Ipv4Addr = a.parse().map_err(|_| {
                    Fault::invalid_value(format!("Value ({a}) for parameter address is invalid."))
                })?;
                if !pool_block.contains_ip(u32::from(ip)) {
                    return Err(Fault::invalid_value(format!(
                        "Address {a} is not in an address pool of this account."
                    ))
                    .into());
                }
                Some(ip)
            }
            None => None,
        };
        self.store().transaction(|t| {
            if t.list::<Address>(account).len() >= MAX_ELASTIC_IPS {
                return Err(Fault::new(
                    "AddressLimitExceeded",
                    "The maximum number of addresses has been reached.",
                )
                .into());
            }
            let mut pool = pool(t);
            let ip = match wanted {
                Some(ip) if pool.allocated.contains_key(&ip) => {
                    return Err(Fault::new(
                        "InvalidAddress.InUse",
                        format!("Address {ip} is already allocated."),
                    )
                    .into());
                }
                Some(ip) => ip,
                None => free_public_ip(&pool, pool_block)?,
            };
            pool.allocated.insert(ip, account.to_owned());
            t.put(GLOBAL, pool);
            let a = Address {
                id: ids::resource_id("eipalloc"),
                owner_id: account.into(),
                public_ip: ip.to_string(),
                domain: "vpc".into(),
                network_border_group: self.placement().region.clone(),
                association: None,
                tags,
            };
            t.put(account, a.clone());
            Ok(a)
        })
    }

    /// `ReleaseAddress`: `InvalidIPAddress.InUse` while associated.
    pub fn release_address(
        &self,
        account: &str,
        allocation_id: Option<&str>,
        public_ip: Option<&str>,
    ) -> Result<(), Error> {
        self.store().transaction(|t| {
            let a = match (allocation_id, public_ip) {
                (Some(id), _) => address_in(t, account, id)?,
                (None, Some(ip)) => by_public_ip(t, account, ip)?,
                (None, None) => return Err(Fault::missing("AllocationId").into()),
            };
            if a.association.is_some() {
                return Err(Fault::new(
                    "InvalidIPAddress.InUse",
                    format!("Address {} is in use.", a.public_ip),
                )
                .into());
            }
            let mut pool = pool(t);
            if let Ok(ip) = a.public_ip.parse::<Ipv4Addr>() {
                pool.allocated.remove(&ip);
            }
            t.put(GLOBAL, pool);
            t.delete::<Address>(account, &a.id);
            Ok(())
        })
    }

    /// `AssociateAddress` with an instance (its primary interface) or an interface; an
    /// associated address moves only with `allow_reassociation`
    /// (`Resource.AlreadyAssociated`). Answers the association id.
    pub fn associate_address(
        &self,
        account: &str,
        req: &AssociateAddress<'_>,
    ) -> Result<String, Error> {
        let AssociateAddress {
            allocation_id,
            public_ip,
            instance_id,
            network_interface_id,
            private_ip,
            allow_reassociation,
        } = *req;
        self.store().transaction(|t| {
            let mut a = match (allocation_id, public_ip) {
                (Some(id), _) => address_in(t, account, id)?,
                (None, Some(ip)) => by_public_ip(t, account, ip)?,
                (None, None) => return Err(Fault::missing("AllocationId").into()),
            };
            let facts = match (instance_id, network_interface_id) {
                (_, Some(eni)) => target_facts(t, account, eni).ok_or_else(|| {
                    Fault::not_found(
                        "InvalidNetworkInterfaceID.NotFound",
                        "network interface",
                        eni,
                    )
                })?,
                (Some(i), None) => target_facts(t, account, i)
                    .ok_or_else(|| Fault::not_found("InvalidInstanceID.NotFound", "instance", i))?,
                (None, None) => {
                    return Err(Fault::missing("InstanceId or NetworkInterfaceId").into());
                }
            };
            let managed_target = facts
                .network_interface_id
                .as_deref()
                .and_then(|e| t.get::<NetworkInterface>(account, e))
                .is_some_and(|e| e.requester_id.is_some());
            if managed_target || crate::elbv2::nodes::holds_address(t, account, &a) {
                return Err(managed_by_elb());
            }
            if a.association.is_some() && !allow_reassociation {
                return Err(Fault::new(
                    "Resource.AlreadyAssociated",
                    format!("Elastic IP address [{}] is already associated", a.id),
                )
                .into());
            }
            let private_ip = private_ip.map(str::to_owned).or(facts.private_ip);
            // The interface's address keeps at most one public address.
            for mut other in t.list::<Address>(account) {
                let same = other.id != a.id
                    && other.association.as_ref().is_some_and(|x| {
                        x.network_interface_id == facts.network_interface_id
                            && x.instance_id == facts.instance_id
                            && x.private_ip == private_ip
                    });
                if same {
                    if !allow_reassociation {
                        return Err(Fault::new(
                            "Resource.AlreadyAssociated",
                            "The target already has an Elastic IP address associated.",
                        )
                        .into());
                    }
                    other.association = None;
                    t.put(account, other);
                }
            }
            let id = ids::resource_id("eipassoc");
            a.association = Some(EipAssociation {
                id: id.clone(),
                instance_id: facts.instance_id,
                network_interface_id: facts.network_interface_id,
                private_ip,
            });
            t.put(account, a);
            Ok(id)
        })
    }

    /// `DisassociateAddress` by association id (or public address).
    pub fn disassociate_address(
        &self,
        account: &str,
        association_id: Option<&str>,
        public_ip: Option<&str>,
    ) -> Result<(), Error> {
        self.store().transaction(|t| {
            let mut a = match (association_id, public_ip) {
                (Some(id), _) => t
                    .list::<Address>(account)
                    .into_iter()
                    .find(|a| a.association.as_ref().is_some_and(|x| x.id == id))
                    .ok_or_else(|| {
                        Fault::new(
                            "InvalidAssociationID.NotFound",
                            format!("The association ID '{id}' does not exist"),
                        )
                    })?,
                (None, Some(ip)) => by_public_ip(t, account, ip)?,
                (None, None) => return Err(Fault::missing("AssociationId").into()),
            };
            let nat = t.list::<crate::ec2::nat_gateway::NatGateway>(account).into_iter().any(|n| {
                n.state != "deleted" && n.allocation_id.as_deref() == Some(a.id.as_str())
            });
            if nat {
                return Err(Fault::new(
                    "AuthFailure",
                    "You do not have permission to access the specified resource: the address is used by a NAT gateway.",
                )
                .into());
            }
            if crate::elbv2::nodes::holds_address(t, account, &a) {
                return Err(managed_by_elb());
            }
            a.association = None;
            t.put(account, a);
            Ok(())
        })
    }

    /// `DescribeAddresses` (no pagination in this API).
    pub fn describe_addresses(
        &self,
        account: &str,
        allocation_ids: &[String],
        public_ips: &[String],
        filters: &[crate::query::filter::Filter],
    ) -> Result<Vec<Address>, Error> {
        let set = FilterSet::compile(&EIP_FILTERS, filters).map_err(Fault::from)?;
        let all = self.store().list::<Address>(account)?;
        for id in allocation_ids {
            if !all.iter().any(|a| a.id == *id) {
                return Err(EIP_NOT_FOUND.fault(id).into());
            }
        }
        for ip in public_ips {
            if !all.iter().any(|a| a.public_ip == *ip) {
                return Err(Fault::new(
                    "InvalidAddress.NotFound",
                    format!("Address '{ip}' not found."),
                )
                .into());
            }
        }
        Ok(all
            .into_iter()
            .filter(|a| allocation_ids.is_empty() || allocation_ids.contains(&a.id))
            .filter(|a| public_ips.is_empty() || public_ips.contains(&a.public_ip))
            .filter(|a| set.matches(a))
            .collect())
    }

    /// `DescribeAddressesAttribute` (`domain-name`: no reverse DNS records are kept, so each
    /// address answers without a PTR record).
    pub fn describe_addresses_attribute(
        &self,
        account: &str,
        q: &DescribeQuery,
    ) -> Result<crate::query::paginate::Page<Address>, Error> {
        self.describe(
            account,
            "DescribeAddressesAttribute",
            &EIP_FILTERS,
            EIP_NOT_FOUND,
            q,
            |_| true,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: &str = "111111111111";
    const B: &str = "222222222222";

    fn code(e: Error) -> String {
        e.to_string()
            .split(':')
            .next()
            .unwrap_or_default()
            .to_owned()
    }

    #[test]
    fn allocate_is_unique_across_accounts_and_bounded() {
        let ec2 = crate::ec2::testing::ec2();
        let a = ec2.allocate_address(A, None, vec![]).expect("a");
        let b = ec2.allocate_address(B, None, vec![]).expect("b");
        assert_ne!(a.public_ip, b.public_ip);
        assert_eq!(a.public_ip, "198.51.100.1");
        assert_eq!(
            code(
                ec2.allocate_address(A, Some(&b.public_ip), vec![])
                    .expect_err("taken")
            ),
            "InvalidAddress.InUse"
        );
        for _ in 1..MAX_ELASTIC_IPS {
            ec2.allocate_address(A, None, vec![]).expect("more");
        }
        assert_eq!(
            code(ec2.allocate_address(A, None, vec![]).expect_err("limit")),
            "AddressLimitExceeded"
        );
        ec2.release_address(A, Some(&a.id), None).expect("release");
        assert_eq!(
            code(ec2.release_address(A, Some(&a.id), None).expect_err("gone")),
            "InvalidAllocationID.NotFound"
        );
        let again = ec2.allocate_address(A, None, vec![]).expect("reuse");
        assert_eq!(again.public_ip, a.public_ip);
        assert!(
            ec2.describe_addresses(B, std::slice::from_ref(&a.id), &[], &[])
                .is_err(),
            "other accounts see nothing"
        );
        let f = vec![crate::query::filter::Filter {
            name: "public-ip".into(),
            values: vec![b.public_ip.clone()],
        }];
        assert_eq!(
            ec2.describe_addresses(B, &[], &[], &f)
                .expect("describe")
                .len(),
            1
        );
        assert_eq!(
            code(
                ec2.associate_address(
                    B,
                    &AssociateAddress {
                        allocation_id: Some(&b.id),
                        network_interface_id: Some("eni-nope"),
                        ..Default::default()
                    }
                )
                .expect_err("eni")
            ),
            "InvalidNetworkInterfaceID.NotFound"
        );
        assert_eq!(
            code(
                ec2.disassociate_address(B, Some("eipassoc-nope"), None)
                    .expect_err("assoc")
            ),
            "InvalidAssociationID.NotFound"
        );
        let dropped = ec2
            .store()
            .transaction(|t| {
                let mut x = address_in(t, B, &b.id)?;
                bind_to_interface(&mut x, "eni-0123", "10.0.0.4");
                t.put(B, x);
                Ok::<_, Error>(disassociate_addresses_of(t, B, "eni-0123"))
            })
            .expect("txn");
        assert_eq!(dropped, 1);
        assert!(
            ec2.store()
                .get::<Address>(B, &b.id)
                .expect("get")
                .expect("eip")
                .association
                .is_none()
        );
    }
}
