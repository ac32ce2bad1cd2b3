//! Route tables: routes (a local route per VPC block, then routes to gateways, NAT gateways,
//! interfaces and instances), and associations (the VPC's one main association, explicit
//! subnet and gateway associations). A subnet without an explicit association uses the main
//! table.
//!
//! Route state is derived, not stored: a route whose target is gone (a detached internet
//! gateway, a deleted NAT gateway or interface) reports `blackhole` the next time it is read,
//! as AWS does, without any write when the target changes.

use serde::{Deserialize, Serialize};

use crate::Error;
use crate::ec2::cidr::Cidr;
use crate::ec2::internet_gateway::{IGW_NOT_FOUND, InternetGateway};
use crate::ec2::listing::{DescribeQuery, NotFound, flag, push, tag_pairs};
use crate::ec2::nat_gateway::NatGateway;
use crate::ec2::store::Txn;
use crate::ec2::subnet::subnet_in;
use crate::ec2::vpc::{Vpc, vpc_in};
use crate::ec2::{Ec2, Fault};
use crate::ids;
use crate::query::filter::FilterTable;
use crate::query::paginate::Page;
use crate::query::tags::{self, Tag};

/// Where a route sends traffic.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", content = "id", rename_all = "snake_case")]
pub enum RouteTarget {
    /// Within the VPC.
    Local,
    /// An internet gateway (`igw-…`).
    Gateway(String),
    /// A NAT gateway.
    NatGateway(String),
    /// A network interface.
    NetworkInterface(String),
    /// An instance (its primary interface).
    Instance(String),
}

impl RouteTarget {
    /// The target a `CreateRoute` / `ReplaceRoute` names: exactly one of `(parameter, value)`.
    pub fn choose(parts: &[(&'static str, Option<String>)]) -> Result<Self, Fault> {
        let given: Vec<_> = parts
            .iter()
            .filter_map(|(n, v)| v.as_ref().map(|v| (*n, v.clone())))
            .collect();
        let [(name, id)] = given.as_slice() else {
            return Err(if given.is_empty() {
                Fault::missing("gatewayId, natGatewayId, networkInterfaceId or instanceId")
            } else {
                Fault::invalid_combination("Exactly one route target may be specified.")
            });
        };
        Ok(match *name {
            "gatewayId" if id == "local" => Self::Local,
            "gatewayId" => Self::Gateway(id.clone()),
            "natGatewayId" => Self::NatGateway(id.clone()),
            "networkInterfaceId" => Self::NetworkInterface(id.clone()),
            "instanceId" => Self::Instance(id.clone()),
            other => {
                return Err(Fault::new(
                    "UnsupportedOperation",
                    format!("Routes to {other} targets are not supported by this endpoint."),
                ));
            }
        })
    }
}

/// A route.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Route {
    /// IPv4 destination block.
    pub destination_cidr_block: String,
    /// Target.
    pub target: RouteTarget,
    /// `CreateRouteTable` (local and defaults) or `CreateRoute`.
    pub origin: String,
    /// `active` or `blackhole`, as last read (see [`Ec2::describe_route_tables`]).
    #[serde(default = "active")]
    pub state: String,
}

fn active() -> String {
    "active".into()
}

/// An association of a table with a subnet, a gateway, or the VPC (main).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RtAssociation {
    /// `rtbassoc-…`.
    pub id: String,
    /// Explicit subnet association.
    #[serde(default)]
    pub subnet_id: Option<String>,
    /// Edge association with a gateway.
    #[serde(default)]
    pub gateway_id: Option<String>,
    /// The VPC's main association.
    #[serde(default)]
    pub main: bool,
}

/// A route table.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RouteTable {
    /// `rtb-…`.
    pub id: String,
    /// Owner account.
    pub owner_id: String,
    /// Its VPC.
    pub vpc_id: String,
    /// Routes, local ones first.
    pub routes: Vec<Route>,
    /// Associations.
    #[serde(default)]
    pub associations: Vec<RtAssociation>,
    /// Tags.
    #[serde(default)]
    pub tags: Vec<Tag>,
}

impl RouteTable {
    /// A table of `vpc_id` with local routes for `blocks` and no associations.
    #[must_use]
    pub fn new(vpc_id: &str, account: &str, blocks: &[Cidr]) -> Self {
        let mut rt = Self {
            id: ids::resource_id("rtb"),
            owner_id: account.into(),
            vpc_id: vpc_id.into(),
            routes: Vec::new(),
            associations: Vec::new(),
            tags: Vec::new(),
        };
        for b in blocks {
            rt.add_local_route(*b);
        }
        rt
    }

    /// The VPC's main table.
    #[must_use]
    pub fn main_for(vpc_id: &str, account: &str, blocks: &[Cidr]) -> Self {
        let mut rt = Self::new(vpc_id, account, blocks);
        rt.associations.push(RtAssociation {
            id: ids::resource_id("rtbassoc"),
            subnet_id: None,
            gateway_id: None,
            main: true,
        });
        rt
    }

    /// Whether it is its VPC's main table.
    #[must_use]
    pub fn is_main(&self) -> bool {
        self.associations.iter().any(|a| a.main)
    }

    /// Adds the local route of `block`.
    pub fn add_local_route(&mut self, block: Cidr) {
        let local = self
            .routes
            .iter()
            .take_while(|r| r.target == RouteTarget::Local)
            .count();
        self.routes.insert(
            local,
            Route {
                destination_cidr_block: block.to_string(),
                target: RouteTarget::Local,
                origin: "CreateRouteTable".into(),
                state: active(),
            },
        );
    }

    /// Removes the local route of `block`.
    pub fn remove_local_route(&mut self, block: Cidr) {
        let dest = block.to_string();
        self.routes
            .retain(|r| !(r.target == RouteTarget::Local && r.destination_cidr_block == dest));
    }

    /// Adds a route (no checks).
    pub fn add_route(&mut self, dest: Cidr, target: RouteTarget, origin: &str) {
        self.routes.push(Route {
            destination_cidr_block: dest.to_string(),
            target,
            origin: origin.into(),
            state: active(),
        });
    }

    fn route_index(&self, dest: &str) -> Result<usize, Fault> {
        self.routes
            .iter()
            .position(|r| r.destination_cidr_block == dest)
            .ok_or_else(|| {
                Fault::new(
                    "InvalidRoute.NotFound",
                    format!(
                        "no route with destination-cidr-block {dest} in route table {}",
                        self.id
                    ),
                )
            })
    }
}

pub(crate) const RTB_NOT_FOUND: NotFound = NotFound {
    code: "InvalidRouteTableID.NotFound",
    what: "route table",
};

fn target_ids(r: &Route, want: fn(&RouteTarget) -> Option<&String>) -> Option<String> {
    want(&r.target).cloned()
}

static RTB_FILTERS: FilterTable<RouteTable> = FilterTable {
    resource: "route table",
    fields: &[
        ("association.gateway-id", |r, o| {
            o.extend(r.associations.iter().filter_map(|a| a.gateway_id.clone()));
        }),
        ("association.route-table-association-id", |r, o| {
            o.extend(r.associations.iter().map(|a| a.id.clone()));
        }),
        ("association.route-table-id", |r, o| {
            o.extend(r.associations.iter().map(|_| r.id.clone()));
        }),
        ("association.subnet-id", |r, o| {
            o.extend(r.associations.iter().filter_map(|a| a.subnet_id.clone()));
        }),
        ("association.main", |r, o| {
            if r.associations.is_empty() {
                o.push(flag(false));
            }
            o.extend(r.associations.iter().map(|a| flag(a.main)));
        }),
        ("owner-id", |r, o| push(o, &r.owner_id)),
        ("route-table-id", |r, o| push(o, &r.id)),
        ("route.destination-cidr-block", |r, o| {
            o.extend(r.routes.iter().map(|x| x.destination_cidr_block.clone()));
        }),
        ("route.destination-ipv6-cidr-block", |_, _| {}),
        ("route.destination-prefix-list-id", |_, _| {}),
        ("route.egress-only-internet-gateway-id", |_, _| {}),
        ("route.gateway-id", |r, o| {
            o.extend(r.routes.iter().filter_map(|x| match &x.target {
                RouteTarget::Local => Some("local".to_owned()),
                RouteTarget::Gateway(g) => Some(g.clone()),
                _ => None,
            }));
        }),
        ("route.instance-id", |r, o| {
            o.extend(r.routes.iter().filter_map(|x| {
                target_ids(x, |t| match t {
                    RouteTarget::Instance(i) => Some(i),
                    _ => None,
                })
            }));
        }),
        ("route.nat-gateway-id", |r, o| {
            o.extend(r.routes.iter().filter_map(|x| {
                target_ids(x, |t| match t {
                    RouteTarget::NatGateway(i) => Some(i),
                    _ => None,
                })
            }));
        }),
        ("route.network-interface-id", |r, o| {
            o.extend(r.routes.iter().filter_map(|x| {
                target_ids(x, |t| match t {
                    RouteTarget::NetworkInterface(i) => Some(i),
                    _ => None,
                })
            }));
        }),
        ("route.transit-gateway-id", |_, _| {}),
        ("route.origin", |r, o| {
            o.extend(r.routes.iter().map(|x| x.origin.clone()));
        }),
        ("route.state", |r, o| {
            o.extend(r.routes.iter().map(|x| x.state.clone()));
        }),
        ("route.vpc-peering-connection-id", |_, _| {}),
        ("vpc-id", |r, o| push(o, &r.vpc_id)),
    ],
    tags: Some(|r| tag_pairs(&r.tags)),
};

/// The route table `id` of `account` in a transaction, or `InvalidRouteTableID.NotFound`.
pub(crate) fn route_table_in(t: &Txn<'_>, account: &str, id: &str) -> Result<RouteTable, Fault> {
    t.get::<RouteTable>(account, id)
        .ok_or_else(|| RTB_NOT_FOUND.fault(id))
}

/// Whether a route's target is there to take traffic, judged against `exists(id)` for
/// types other modules own (interfaces, instances).
fn route_state(
    store: &crate::ec2::ResourceStore,
    account: &str,
    vpc_id: &str,
    target: &RouteTarget,
) -> &'static str {
    let up = match target {
        RouteTarget::Local => true,
        RouteTarget::Gateway(id) => store
            .get::<InternetGateway>(account, id)
            .ok()
            .flatten()
            .is_some_and(|g| g.attached_to(vpc_id)),
        RouteTarget::NatGateway(id) => store
            .get::<NatGateway>(account, id)
            .ok()
            .flatten()
            .is_some_and(|n| n.state != "deleted" && n.state != "deleting"),
        RouteTarget::NetworkInterface(id) | RouteTarget::Instance(id) => store
            .all(account)
            .map(|all| all.iter().any(|r| r.id() == id))
            .unwrap_or(false),
    };
    if up { "active" } else { "blackhole" }
}

/// Checks a new route's target against the table's VPC.
fn check_target(
    t: &Txn<'_>,
    account: &str,
    rt: &RouteTable,
    target: &RouteTarget,
) -> Result<(), Fault> {
    match target {
        RouteTarget::Local => Err(Fault::invalid_value(
            "The local route target may only be set by ReplaceRoute on a local route.",
        )),
        RouteTarget::Gateway(id) => {
            if !id.starts_with("igw-") {
                return Err(Fault::not_found("InvalidGatewayID.NotFound", "gateway", id));
            }
            let g = t
                .get::<InternetGateway>(account, id)
                .ok_or_else(|| IGW_NOT_FOUND.fault(id))?;
            if g.attached_to(&rt.vpc_id) {
                Ok(())
            } else {
                Err(Fault::invalid_value(format!(
                    "route table {} and network gateway {id} belong to different networks",
                    rt.id
                )))
            }
        }
        RouteTarget::NatGateway(id) => {
            let n = t
                .get::<NatGateway>(account, id)
                .filter(|n| n.state != "deleted")
                .ok_or_else(|| {
                    Fault::new(
                        "InvalidNatGatewayID.NotFound",
                        format!("The natGateway ID '{id}' does not exist"),
                    )
                })?;
            if n.vpc_id == rt.vpc_id {
                Ok(())
            } else {
                Err(Fault::invalid_value(format!(
                    "route table {} and NAT gateway {id} belong to different networks",
                    rt.id
                )))
            }
        }
        RouteTarget::NetworkInterface(id) => {
            let eni = t
                .get::<crate::ec2::network_interface::NetworkInterface>(account, id)
                .ok_or_else(|| {
                    Fault::not_found(
                        "InvalidNetworkInterfaceID.NotFound",
                        "network interface",
                        id,
                    )
                })?;
            same_network(&rt.id, id, &eni.vpc_id, &rt.vpc_id)
        }
        RouteTarget::Instance(id) => {
            let i = t
                .get::<crate::ec2::instance::Instance>(account, id)
                .filter(|i| i.state != crate::ec2::instance::InstanceState::Terminated)
                .ok_or_else(|| Fault::not_found("InvalidInstanceID.NotFound", "instance", id))?;
            same_network(&rt.id, id, &i.vpc_id, &rt.vpc_id)
        }
    }
}

/// A route's target must be in the route table's VPC.
fn same_network(rt: &str, target: &str, target_vpc: &str, rt_vpc: &str) -> Result<(), Fault> {
    if target_vpc == rt_vpc {
        Ok(())
    } else {
        Err(Fault::invalid_value(format!(
            "route table {rt} and {target} belong to different networks"
        )))
    }
}

fn destination(dest: &str) -> Result<Cidr, Fault> {
    Cidr::parse_param(dest, "destinationCidrBlock")
}

fn find_association<'a>(
    tables: &'a [RouteTable],
    association_id: &str,
) -> Result<(&'a RouteTable, &'a RtAssociation), Fault> {
    tables
        .iter()
        .find_map(|r| {
            r.associations
                .iter()
                .find(|a| a.id == association_id)
                .map(|a| (r, a))
        })
        .ok_or_else(|| {
            Fault::new(
                "InvalidAssociationID.NotFound",
                format!("The association ID '{association_id}' does not exist"),
            )
        })
}

impl Ec2 {
    /// `CreateRouteTable`: local routes for every block of the VPC, no associations.
    pub fn create_route_table(
        &self,
        account: &str,
        vpc_id: &str,
        tags: Vec<Tag>,
    ) -> Result<RouteTable, Error> {
        tags::validate(&tags)?;
        self.store().transaction(|t| {
            let vpc = vpc_in(t, account, vpc_id)?;
            let mut rt = RouteTable::new(&vpc.id, account, &vpc.blocks());
            rt.tags = tags;
            t.put(account, rt.clone());
            Ok(rt)
        })
    }

    /// `DescribeRouteTables`, with each route's current state.
    pub fn describe_route_tables(
        &self,
        account: &str,
        q: &DescribeQuery,
    ) -> Result<Page<RouteTable>, Error> {
        self.ensure_defaults(account)?;
        // Refresh the states first so that `route.state` filters see them.
        let mut q2 = q.clone();
        let state_filters: Vec<_> = q
            .filters
            .iter()
            .filter(|f| f.name == "route.state")
            .cloned()
            .collect();
        q2.filters.retain(|f| f.name != "route.state");
        let mut page = self.describe(
            account,
            "DescribeRouteTables",
            &RTB_FILTERS,
            RTB_NOT_FOUND,
            &q2,
            |_| true,
        )?;
        for rt in &mut page.items {
            let vpc = rt.vpc_id.clone();
            for r in &mut rt.routes {
                r.state = route_state(self.store(), account, &vpc, &r.target).into();
            }
        }
        if !state_filters.is_empty() {
            let set = crate::query::filter::FilterSet::compile(&RTB_FILTERS, &state_filters)
                .map_err(Fault::from)?;
            page.items.retain(|r| set.matches(r));
        }
        Ok(page)
    }

    /// `DeleteRouteTable`: `DependencyViolation` while associated (the main table always is).
    pub fn delete_route_table(&self, account: &str, rt_id: &str) -> Result<(), Error> {
        self.store().transaction(|t| {
            let rt = route_table_in(t, account, rt_id)?;
            if !rt.associations.is_empty() {
                return Err(Fault::dependency(format!(
                    "The routeTable '{rt_id}' has dependencies and cannot be deleted."
                ))
                .into());
            }
            t.delete::<RouteTable>(account, rt_id);
            Ok(())
        })
    }

    /// `CreateRoute`: `RouteAlreadyExists` for a destination the table routes already.
    pub fn create_route(
        &self,
        account: &str,
        rt_id: &str,
        dest: &str,
        target: RouteTarget,
    ) -> Result<(), Error> {
        let block = destination(dest)?;
        self.store().transaction(|t| {
            let mut rt = route_table_in(t, account, rt_id)?;
            if rt
                .routes
                .iter()
                .any(|r| r.destination_cidr_block == block.to_string())
            {
                return Err(Fault::new(
                    "RouteAlreadyExists",
                    format!("The route identified by {block} already exists."),
                )
                .into());
            }
            check_target(t, account, &rt, &target)?;
            rt.add_route(block, target, "CreateRoute");
            t.put(account, rt);
            Ok(())
        })
    }

    /// `ReplaceRoute`: a new target for an existing destination.
    pub fn replace_route(
        &self,
        account: &str,
        rt_id: &str,
        dest: &str,
        target: RouteTarget,
    ) -> Result<(), Error> {
        let block = destination(dest)?;
        self.store().transaction(|t| {
            let mut rt = route_table_in(t, account, rt_id)?;
            let i = rt.route_index(&block.to_string())?;
            let is_local = rt.routes[i].target == RouteTarget::Local;
            if target == RouteTarget::Local {
                if !is_local {
                    return Err(Fault::invalid_value("Only a local route may target local.").into());
                }
                return Ok(());
            }
            if is_local {
                return Err(Fault::invalid_value(format!(
                    "cannot replace local route {block} in route table {rt_id}"
                ))
                .into());
            }
            check_target(t, account, &rt, &target)?;
            rt.routes[i].target = target;
            t.put(account, rt);
            Ok(())
        })
    }

    /// `DeleteRoute`: not the local routes.
    pub fn delete_route(&self, account: &str, rt_id: &str, dest: &str) -> Result<(), Error> {
        let block = destination(dest)?;
        self.store().transaction(|t| {
            let mut rt = route_table_in(t, account, rt_id)?;
            let i = rt.route_index(&block.to_string())?;
            if rt.routes[i].target == RouteTarget::Local {
                return Err(Fault::invalid_value(format!(
                    "cannot remove local route {block} in route table {rt_id}"
                ))
                .into());
            }
            rt.routes.remove(i);
            t.put(account, rt);
            Ok(())
        })
    }

    /// `AssociateRouteTable` with a subnet or a gateway of the same VPC; a subnet has at most
    /// one explicit association (`Resource.AlreadyAssociated`).
    pub fn associate_route_table(
        &self,
        account: &str,
        rt_id: &str,
        subnet_id: Option<&str>,
        gateway_id: Option<&str>,
    ) -> Result<String, Error> {
        self.store().transaction(|t| {
            let mut rt = route_table_in(t, account, rt_id)?;
            let (subnet, gateway) = match (subnet_id, gateway_id) {
                (Some(s), None) => {
                    let s = subnet_in(t, account, s)?;
                    if s.vpc_id != rt.vpc_id {
                        return Err(Fault::invalid_value(format!(
                            "Route table {rt_id} and subnet {} belong to different networks",
                            s.id
                        ))
                        .into());
                    }
                    (Some(s.id), None)
                }
                (None, Some(g)) => {
                    let ig = t
                        .get::<InternetGateway>(account, g)
                        .ok_or_else(|| IGW_NOT_FOUND.fault(g))?;
                    if !ig.attached_to(&rt.vpc_id) {
                        return Err(Fault::invalid_value(format!(
                            "Route table {rt_id} and gateway {g} belong to different networks"
                        ))
                        .into());
                    }
                    (None, Some(ig.id))
                }
                _ => {
                    return Err(Fault::invalid_combination(
                        "Exactly one of subnetId or gatewayId must be specified.",
                    )
                    .into());
                }
            };
            let taken = t.list::<RouteTable>(account).into_iter().any(|r| {
                r.associations.iter().any(|a| {
                    (subnet.is_some() && a.subnet_id == subnet)
                        || (gateway.is_some() && a.gateway_id == gateway)
                })
            });
            if taken {
                return Err(Fault::new(
                    "Resource.AlreadyAssociated",
                    format!(
                        "the specified association for route table {rt_id} conflicts with an existing association"
                    ),
                )
                .into());
            }
            let id = ids::resource_id("rtbassoc");
            rt.associations.push(RtAssociation {
                id: id.clone(),
                subnet_id: subnet,
                gateway_id: gateway,
                main: false,
            });
            t.put(account, rt);
            Ok(id)
        })
    }

    /// `DisassociateRouteTable`: not the main association.
    pub fn disassociate_route_table(
        &self,
        account: &str,
        association_id: &str,
    ) -> Result<(), Error> {
        self.store().transaction(|t| {
            let tables = t.list::<RouteTable>(account);
            let (rt, assoc) = find_association(&tables, association_id)?;
            if assoc.main {
                return Err(Fault::invalid_value(format!(
                    "cannot disassociate the main route table association {association_id}"
                ))
                .into());
            }
            let mut rt = rt.clone();
            rt.associations.retain(|a| a.id != association_id);
            t.put(account, rt);
            Ok(())
        })
    }

    /// `ReplaceRouteTableAssociation`: moves a subnet's, gateway's or the main association
    /// to another table of the VPC; answers the new association id.
    pub fn replace_route_table_association(
        &self,
        account: &str,
        association_id: &str,
        rt_id: &str,
    ) -> Result<String, Error> {
        self.store().transaction(|t| {
            let tables = t.list::<RouteTable>(account);
            let (old, assoc) = find_association(&tables, association_id)?;
            let mut new = route_table_in(t, account, rt_id)?;
            if new.vpc_id != old.vpc_id {
                return Err(Fault::invalid_value(format!(
                    "Route table {rt_id} belongs to a different network than the association {association_id}"
                ))
                .into());
            }
            let mut assoc = assoc.clone();
            assoc.id = ids::resource_id("rtbassoc");
            let new_id = assoc.id.clone();
            if old.id != new.id {
                let mut old = old.clone();
                old.associations.retain(|a| a.id != association_id);
                t.put(account, old);
            } else {
                new.associations.retain(|a| a.id != association_id);
            }
            if assoc.main {
                let mut vpc: Vpc = vpc_in(t, account, &new.vpc_id)?;
                vpc.main_route_table_id = new.id.clone();
                t.put(account, vpc);
            }
            new.associations.push(assoc);
            t.put(account, new);
            Ok(new_id)
        })
    }

    /// The table that routes `subnet_id`: its explicit association, else its VPC's main table
    /// (for the network fabric and for `DescribeRouteTables` callers).
    pub fn route_table_of_subnet(
        &self,
        account: &str,
        subnet_id: &str,
    ) -> Result<Option<RouteTable>, Error> {
        let tables = self.store().list::<RouteTable>(account)?;
        if let Some(rt) = tables.iter().find(|r| {
            r.associations
                .iter()
                .any(|a| a.subnet_id.as_deref() == Some(subnet_id))
        }) {
            return Ok(Some(rt.clone()));
        }
        let Some(subnet) = self
            .store()
            .get::<crate::ec2::subnet::Subnet>(account, subnet_id)?
        else {
            return Ok(None);
        };
        Ok(tables
            .into_iter()
            .find(|r| r.vpc_id == subnet.vpc_id && r.is_main()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: &str = "111111111111";

    fn code(e: Error) -> String {
        e.to_string()
            .split(':')
            .next()
            .unwrap_or_default()
            .to_owned()
    }

    fn gw(id: &str) -> RouteTarget {
        RouteTarget::Gateway(id.into())
    }

    #[test]
    fn routes_associations_and_blackholes() {
        let ec2 = crate::ec2::testing::ec2();
        let vpc = ec2
            .create_vpc(A, "10.0.0.0/16", None, false, vec![])
            .expect("vpc");
        let subnet = ec2
            .create_subnet(A, &vpc.id, "10.0.1.0/24", None, None, vec![])
            .expect("subnet");
        let igw = ec2.create_internet_gateway(A, vec![]).expect("igw");
        let rt = ec2.create_route_table(A, &vpc.id, vec![]).expect("rt");
        assert_eq!(rt.routes.len(), 1);
        assert_eq!(
            code(
                ec2.create_route(A, &rt.id, "0.0.0.0/0", gw(&igw.id))
                    .expect_err("detached")
            ),
            "InvalidParameterValue"
        );
        ec2.attach_internet_gateway(A, &igw.id, &vpc.id)
            .expect("attach");
        ec2.create_route(A, &rt.id, "0.0.0.0/0", gw(&igw.id))
            .expect("route");
        assert_eq!(
            code(
                ec2.create_route(A, &rt.id, "0.0.0.0/0", gw(&igw.id))
                    .expect_err("dup")
            ),
            "RouteAlreadyExists"
        );
        assert_eq!(
            code(
                ec2.create_route(A, &rt.id, "1.0.0.0/8", gw("igw-nope"))
                    .expect_err("nf")
            ),
            "InvalidInternetGatewayID.NotFound"
        );
        assert_eq!(
            code(
                ec2.create_route(
                    A,
                    &rt.id,
                    "1.0.0.0/8",
                    RouteTarget::NetworkInterface("eni-nope".into())
                )
                .expect_err("nf")
            ),
            "InvalidNetworkInterfaceID.NotFound"
        );
        assert_eq!(
            code(
                ec2.delete_route(A, &rt.id, "10.0.0.0/16")
                    .expect_err("local")
            ),
            "InvalidParameterValue"
        );
        assert_eq!(
            code(ec2.delete_route(A, &rt.id, "9.0.0.0/8").expect_err("none")),
            "InvalidRoute.NotFound"
        );
        let assoc = ec2
            .associate_route_table(A, &rt.id, Some(&subnet.id), None)
            .expect("assoc");
        assert_eq!(
            code(
                ec2.associate_route_table(A, &rt.id, Some(&subnet.id), None)
                    .expect_err("twice")
            ),
            "Resource.AlreadyAssociated"
        );
        assert_eq!(
            ec2.route_table_of_subnet(A, &subnet.id)
                .expect("of")
                .expect("rt")
                .id,
            rt.id
        );
        assert_eq!(
            code(ec2.delete_route_table(A, &rt.id).expect_err("assoc")),
            "DependencyViolation"
        );
        let q = |name: &str, v: &str| DescribeQuery {
            filters: vec![crate::query::filter::Filter {
                name: name.into(),
                values: vec![v.into()],
            }],
            ..Default::default()
        };
        let got = ec2
            .describe_route_tables(A, &q("association.subnet-id", &subnet.id))
            .expect("d");
        assert_eq!(got.items.len(), 1);
        ec2.detach_internet_gateway(A, &igw.id, &vpc.id)
            .expect("detach");
        let got = ec2
            .describe_route_tables(A, &q("route.state", "blackhole"))
            .expect("d");
        assert_eq!(got.items.len(), 1);
        assert_eq!(got.items[0].routes[1].state, "blackhole");
        ec2.disassociate_route_table(A, &assoc)
            .expect("disassociate");
        assert_eq!(
            ec2.route_table_of_subnet(A, &subnet.id)
                .expect("of")
                .expect("rt")
                .id,
            vpc.main_route_table_id
        );
        // The main association moves.
        let main = ec2
            .store()
            .get::<RouteTable>(A, &vpc.main_route_table_id)
            .expect("g")
            .expect("main");
        let main_assoc = main.associations[0].id.clone();
        assert_eq!(
            code(
                ec2.disassociate_route_table(A, &main_assoc)
                    .expect_err("main")
            ),
            "InvalidParameterValue"
        );
        let new_assoc = ec2
            .replace_route_table_association(A, &main_assoc, &rt.id)
            .expect("replace");
        assert!(new_assoc.starts_with("rtbassoc-"));
        let vpc_now = ec2.store().get::<Vpc>(A, &vpc.id).expect("g").expect("vpc");
        assert_eq!(vpc_now.main_route_table_id, rt.id);
        ec2.delete_route_table(A, &main.id)
            .expect("old main is deletable now");
        ec2.delete_route(A, &rt.id, "0.0.0.0/0")
            .expect("delete route");
    }
}
