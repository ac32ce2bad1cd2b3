//! VPCs: CIDR blocks, DNS attributes, and the companions AWS creates with every VPC (its main
//! route table, default network ACL and default security group), which go with it on delete.
//!
//! Why the companions are created in the same transaction: every later rule relies on them
//! (a subnet is implicitly in the main table and explicitly in the default ACL), so a VPC is
//! never visible without them.

use serde::{Deserialize, Serialize};

use crate::Error;
use crate::ec2::cidr::Cidr;
use crate::ec2::internet_gateway::InternetGateway;
use crate::ec2::listing::{DescribeQuery, NotFound, flag, push, tag_pairs};
use crate::ec2::nat_gateway::NatGateway;
use crate::ec2::network_acl::NetworkAcl;
use crate::ec2::route_table::RouteTable;
use crate::ec2::security_group::SecurityGroup;
use crate::ec2::store::Txn;
use crate::ec2::subnet::Subnet;
use crate::ec2::{Ec2, Fault};
use crate::ids;
use crate::query::filter::FilterTable;
use crate::query::paginate::Page;
use crate::query::tags::{self, Tag};

/// Most IPv4 blocks a VPC may have (AWS's default quota).
pub const MAX_CIDR_BLOCKS: usize = 5;

/// An IPv4 CIDR block associated with a VPC.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CidrAssociation {
    /// `vpc-cidr-assoc-…`.
    pub association_id: String,
    /// `10.0.0.0/16`.
    pub cidr_block: String,
    /// `associated`, `disassociated`, …
    pub state: String,
}

/// A VPC.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Vpc {
    /// `vpc-…`.
    pub id: String,
    /// Owner account.
    #[serde(default)]
    pub owner_id: String,
    /// The primary IPv4 CIDR block.
    pub cidr_block: String,
    /// Every IPv4 block, the primary first.
    #[serde(default)]
    pub cidr_associations: Vec<CidrAssociation>,
    /// Whether this is the account's default VPC.
    #[serde(default)]
    pub is_default: bool,
    /// `available` (VPCs become available at once).
    pub state: String,
    /// `dopt-…` or `default`.
    pub dhcp_options_id: String,
    /// `default` or `dedicated`.
    pub instance_tenancy: String,
    /// `enableDnsSupport`.
    pub enable_dns_support: bool,
    /// `enableDnsHostnames`.
    pub enable_dns_hostnames: bool,
    /// `enableNetworkAddressUsageMetrics`.
    #[serde(default)]
    pub enable_network_address_usage_metrics: bool,
    /// The main route table (`rtb-…`).
    pub main_route_table_id: String,
    /// The default network ACL (`acl-…`).
    pub default_network_acl_id: String,
    /// The default security group (`sg-…`).
    pub default_security_group_id: String,
    /// Its VXLAN network identifier, unique in the installation (see [`crate::ec2::vni`]);
    /// 0 in records written before VNIs, until [`Ec2::assign_vnis`] gives them one.
    #[serde(default)]
    pub vni: u32,
    /// Tags.
    #[serde(default)]
    pub tags: Vec<Tag>,
}

impl Vpc {
    /// Its IPv4 blocks, parsed (stored blocks were validated on the way in).
    #[must_use]
    pub fn blocks(&self) -> Vec<Cidr> {
        self.cidr_associations
            .iter()
            .filter_map(|a| Cidr::parse(&a.cidr_block))
            .collect()
    }
}

/// The VPC attributes `ModifyVpcAttribute` and `DescribeVpcAttribute` speak of.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VpcAttribute {
    /// `enableDnsSupport`.
    DnsSupport,
    /// `enableDnsHostnames`.
    DnsHostnames,
    /// `enableNetworkAddressUsageMetrics`.
    NetworkAddressUsageMetrics,
}

pub(crate) const VPC_NOT_FOUND: NotFound = NotFound {
    code: "InvalidVpcID.NotFound",
    what: "vpc",
};

static VPC_FILTERS: FilterTable<Vpc> = FilterTable {
    resource: "vpc",
    fields: &[
        ("cidr", |v, o| push(o, &v.cidr_block)),
        ("cidr-block-association.cidr-block", |v, o| {
            o.extend(v.cidr_associations.iter().map(|a| a.cidr_block.clone()));
        }),
        ("cidr-block-association.association-id", |v, o| {
            o.extend(v.cidr_associations.iter().map(|a| a.association_id.clone()));
        }),
        ("cidr-block-association.state", |v, o| {
            o.extend(v.cidr_associations.iter().map(|a| a.state.clone()));
        }),
        ("dhcp-options-id", |v, o| push(o, &v.dhcp_options_id)),
        ("ipv6-cidr-block-association.ipv6-cidr-block", |_, _| {}),
        ("ipv6-cidr-block-association.ipv6-pool", |_, _| {}),
        ("ipv6-cidr-block-association.association-id", |_, _| {}),
        ("ipv6-cidr-block-association.state", |_, _| {}),
        ("is-default", |v, o| o.push(flag(v.is_default))),
        // Legacy spelling the Terraform provider's aws_default_vpc still sends.
        ("isDefault", |v, o| o.push(flag(v.is_default))),
        ("owner-id", |v, o| push(o, &v.owner_id)),
        ("state", |v, o| push(o, &v.state)),
        ("vpc-id", |v, o| push(o, &v.id)),
        ("instance-tenancy", |v, o| push(o, &v.instance_tenancy)),
    ],
    tags: Some(|v| tag_pairs(&v.tags)),
};

/// Checks a VPC block's prefix length (/16 to /28).
pub(crate) fn check_vpc_block(cidr: &str) -> Result<Cidr, Fault> {
    let block = Cidr::parse_param(cidr, "cidrBlock")?;
    if !(16..=28).contains(&block.len) {
        return Err(Fault::new(
            "InvalidVpc.Range",
            format!("The CIDR '{cidr}' is invalid."),
        ));
    }
    Ok(block)
}

/// Stages a new VPC with its main route table, default network ACL and default security
/// group, and allocates its VNI (`VpcLimitExceeded` when none is left).
pub(crate) fn put_new_vpc(
    t: &mut Txn<'_>,
    account: &str,
    block: Cidr,
    is_default: bool,
    dhcp_options_id: &str,
    tenancy: &str,
    tags: Vec<Tag>,
) -> Result<Vpc, Fault> {
    let vni = crate::ec2::vni::allocate(t)?;
    let id = ids::resource_id("vpc");
    let rt = RouteTable::main_for(&id, account, &[block]);
    let acl = NetworkAcl::default_for(&id, account);
    let sg = SecurityGroup::default_for(&id, account);
    let vpc = Vpc {
        id: id.clone(),
        owner_id: account.into(),
        cidr_block: block.to_string(),
        cidr_associations: vec![CidrAssociation {
            association_id: ids::resource_id("vpc-cidr-assoc"),
            cidr_block: block.to_string(),
            state: "associated".into(),
        }],
        is_default,
        state: "available".into(),
        dhcp_options_id: dhcp_options_id.into(),
        instance_tenancy: tenancy.into(),
        enable_dns_support: true,
        enable_dns_hostnames: is_default,
        enable_network_address_usage_metrics: false,
        main_route_table_id: rt.id.clone(),
        default_network_acl_id: acl.id.clone(),
        default_security_group_id: sg.id.clone(),
        vni,
        tags,
    };
    t.put(account, rt);
    t.put(account, acl);
    t.put(account, sg);
    t.put(account, vpc.clone());
    Ok(vpc)
}

/// The VPC `id` of `account` in a transaction, or `InvalidVpcID.NotFound`.
pub(crate) fn vpc_in(t: &Txn<'_>, account: &str, id: &str) -> Result<Vpc, Fault> {
    t.get::<Vpc>(account, id)
        .ok_or_else(|| VPC_NOT_FOUND.fault(id))
}

impl Ec2 {
    /// `CreateVpc`: an IPv4 block of /16 to /28, tenancy `default` or `dedicated`.
    pub fn create_vpc(
        &self,
        account: &str,
        cidr_block: &str,
        instance_tenancy: Option<&str>,
        amazon_provided_ipv6: bool,
        tags: Vec<Tag>,
    ) -> Result<Vpc, Error> {
        if amazon_provided_ipv6 {
            return Err(Fault::new(
                "UnsupportedOperation",
                "IPv6 CIDR blocks are not supported by this endpoint yet.",
            )
            .into());
        }
        let block = check_vpc_block(cidr_block)?;
        let tenancy = instance_tenancy.unwrap_or("default");
        if !matches!(tenancy, "default" | "dedicated") {
            return Err(Fault::invalid_value(format!(
                "Value ({tenancy}) for parameter instanceTenancy is invalid."
            ))
            .into());
        }
        tags::validate(&tags)?;
        self.ensure_defaults(account)?;
        self.store().transaction(|t| {
            let dhcp = crate::ec2::defaults::default_dhcp_options_id(t, account);
            Ok(put_new_vpc(t, account, block, false, &dhcp, tenancy, tags)?)
        })
    }

    /// `DescribeVpcs`.
    pub fn describe_vpcs(&self, account: &str, q: &DescribeQuery) -> Result<Page<Vpc>, Error> {
        self.ensure_defaults(account)?;
        self.describe(
            account,
            "DescribeVpcs",
            &VPC_FILTERS,
            VPC_NOT_FOUND,
            q,
            |_| true,
        )
    }

    /// `DeleteVpc`: refused (`DependencyViolation`) while it has subnets, attached internet
    /// gateways, NAT gateways, security groups, route tables or network ACLs other than its
    /// defaults; deletes those defaults with it.
    pub fn delete_vpc(&self, account: &str, vpc_id: &str) -> Result<(), Error> {
        self.store().transaction(|t| {
            let vpc = vpc_in(t, account, vpc_id)?;
            let dependency = || {
                Fault::dependency(format!(
                    "The vpc '{vpc_id}' has dependencies and cannot be deleted."
                ))
            };
            if t.list::<Subnet>(account).iter().any(|s| s.vpc_id == vpc.id)
                || t.list::<InternetGateway>(account)
                    .iter()
                    .any(|g| g.attached_to(&vpc.id))
                || t.list::<NatGateway>(account)
                    .iter()
                    .any(|n| n.vpc_id == vpc.id && n.state != "deleted")
                || t.list::<SecurityGroup>(account)
                    .iter()
                    .any(|g| g.vpc_id == vpc.id && g.id != vpc.default_security_group_id)
                || t.list::<RouteTable>(account)
                    .iter()
                    .any(|r| r.vpc_id == vpc.id && !r.is_main())
                || t.list::<NetworkAcl>(account)
                    .iter()
                    .any(|a| a.vpc_id == vpc.id && !a.is_default)
            {
                return Err(dependency().into());
            }
            for r in t.list::<RouteTable>(account) {
                if r.vpc_id == vpc.id {
                    t.delete::<RouteTable>(account, &r.id);
                }
            }
            for a in t.list::<NetworkAcl>(account) {
                if a.vpc_id == vpc.id {
                    t.delete::<NetworkAcl>(account, &a.id);
                }
            }
            for g in t.list::<SecurityGroup>(account) {
                if g.vpc_id == vpc.id {
                    t.delete::<SecurityGroup>(account, &g.id);
                }
            }
            if vpc.is_default {
                crate::ec2::defaults::forget_default_vpc(t, account);
            }
            t.delete::<Vpc>(account, &vpc.id);
            Ok(())
        })
    }

    /// `ModifyVpcAttribute` (one attribute per call, as AWS requires).
    pub fn modify_vpc_attribute(
        &self,
        account: &str,
        vpc_id: &str,
        attribute: VpcAttribute,
        value: bool,
    ) -> Result<(), Error> {
        self.store().transaction(|t| {
            let mut vpc = vpc_in(t, account, vpc_id)?;
            match attribute {
                VpcAttribute::DnsSupport => vpc.enable_dns_support = value,
                VpcAttribute::DnsHostnames => vpc.enable_dns_hostnames = value,
                VpcAttribute::NetworkAddressUsageMetrics => {
                    vpc.enable_network_address_usage_metrics = value;
                }
            }
            t.put(account, vpc);
            Ok(())
        })
    }

    /// `DescribeVpcAttribute`.
    pub fn vpc_attribute(
        &self,
        account: &str,
        vpc_id: &str,
        attribute: VpcAttribute,
    ) -> Result<bool, Error> {
        let vpc = self
            .store()
            .get::<Vpc>(account, vpc_id)?
            .ok_or_else(|| VPC_NOT_FOUND.fault(vpc_id))?;
        Ok(match attribute {
            VpcAttribute::DnsSupport => vpc.enable_dns_support,
            VpcAttribute::DnsHostnames => vpc.enable_dns_hostnames,
            VpcAttribute::NetworkAddressUsageMetrics => vpc.enable_network_address_usage_metrics,
        })
    }

    /// `AssociateVpcCidrBlock` (IPv4): a block that overlaps none of the VPC's; the VPC's
    /// route tables gain its local route.
    pub fn associate_vpc_cidr_block(
        &self,
        account: &str,
        vpc_id: &str,
        cidr_block: &str,
    ) -> Result<CidrAssociation, Error> {
        let block = check_vpc_block(cidr_block)?;
        self.store().transaction(|t| {
            let mut vpc = vpc_in(t, account, vpc_id)?;
            if vpc.blocks().iter().any(|b| b.overlaps(block)) {
                return Err(Fault::new(
                    "InvalidVpc.Range",
                    format!("The CIDR '{cidr_block}' conflicts with another CIDR block of {vpc_id}."),
                )
                .into());
            }
            if vpc.cidr_associations.len() >= MAX_CIDR_BLOCKS {
                return Err(Fault::new(
                    "CidrLimitExceeded",
                    format!("This network '{vpc_id}' has met its maximum number of allowed CIDRs: {MAX_CIDR_BLOCKS}"),
                )
                .into());
            }
            let assoc = CidrAssociation {
                association_id: ids::resource_id("vpc-cidr-assoc"),
                cidr_block: block.to_string(),
                state: "associated".into(),
            };
            vpc.cidr_associations.push(assoc.clone());
            for mut rt in t.list::<RouteTable>(account) {
                if rt.vpc_id == vpc.id {
                    rt.add_local_route(block);
                    t.put(account, rt);
                }
            }
            t.put(account, vpc);
            Ok(assoc)
        })
    }

    /// `DisassociateVpcCidrBlock`: not the primary block, nor one a subnet uses. Answers the
    /// VPC id and the association, now `disassociated`.
    pub fn disassociate_vpc_cidr_block(
        &self,
        account: &str,
        association_id: &str,
    ) -> Result<(String, CidrAssociation), Error> {
        self.store().transaction(|t| {
            let not_found = || {
                Fault::new(
                    "InvalidVpcCidrBlockAssociationID.NotFound",
                    format!("The vpc CIDR block association ID '{association_id}' does not exist"),
                )
            };
            let mut vpc = t
                .list::<Vpc>(account)
                .into_iter()
                .find(|v| v.cidr_associations.iter().any(|a| a.association_id == association_id))
                .ok_or_else(not_found)?;
            let pos = vpc
                .cidr_associations
                .iter()
                .position(|a| a.association_id == association_id)
                .ok_or_else(not_found)?;
            if pos == 0 {
                return Err(Fault::invalid_value(format!(
                    "The vpc CIDR block with association ID {association_id} may not be disassociated. It is the primary IPv4 CIDR block of the VPC"
                ))
                .into());
            }
            let block = Cidr::parse(&vpc.cidr_associations[pos].cidr_block);
            if let Some(block) = block {
                let used = t.list::<Subnet>(account).iter().any(|s| {
                    s.vpc_id == vpc.id && Cidr::parse(&s.cidr_block).is_some_and(|c| block.contains(c))
                });
                if used {
                    return Err(Fault::new(
                        "InvalidCidrBlock.InUse",
                        format!("The vpc {} currently has a subnet within CIDR block {block}", vpc.id),
                    )
                    .into());
                }
                for mut rt in t.list::<RouteTable>(account) {
                    if rt.vpc_id == vpc.id {
                        rt.remove_local_route(block);
                        t.put(account, rt);
                    }
                }
            }
            let mut assoc = vpc.cidr_associations.remove(pos);
            assoc.state = "disassociated".into();
            let id = vpc.id.clone();
            t.put(account, vpc);
            Ok((id, assoc))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::query::filter::Filter;

    fn q(filters: &[(&str, &str)]) -> DescribeQuery {
        DescribeQuery {
            filters: filters
                .iter()
                .map(|(n, v)| Filter {
                    name: (*n).into(),
                    values: vec![(*v).into()],
                })
                .collect(),
            ..Default::default()
        }
    }

    #[test]
    fn create_describe_delete() {
        let ec2 = crate::ec2::testing::ec2();
        let vpc = ec2
            .create_vpc("111111111111", "10.1.0.0/16", None, false, vec![])
            .expect("create");
        assert_eq!(vpc.owner_id, "111111111111");
        assert!(vpc.dhcp_options_id.starts_with("dopt-"));
        let all = ec2
            .describe_vpcs("111111111111", &q(&[]))
            .expect("describe");
        assert_eq!(all.items.len(), 2, "the default VPC and ours");
        let mine = ec2
            .describe_vpcs(
                "111111111111",
                &q(&[("is-default", "false"), ("cidr", "10.1.*")]),
            )
            .expect("describe");
        assert_eq!(mine.items, vec![vpc.clone()]);
        assert!(
            ec2.describe_vpcs(
                "222222222222",
                &DescribeQuery {
                    ids: vec![vpc.id.clone()],
                    ..Default::default()
                }
            )
            .is_err(),
            "other accounts see nothing"
        );
        let rts = ec2.store().list::<RouteTable>("111111111111").expect("rts");
        assert!(
            rts.iter()
                .any(|r| r.id == vpc.main_route_table_id && r.is_main())
        );
        ec2.delete_vpc("111111111111", &vpc.id).expect("delete");
        assert!(
            ec2.store()
                .get::<RouteTable>("111111111111", &vpc.main_route_table_id)
                .expect("get")
                .is_none()
        );
        assert!(
            ec2.store()
                .get::<SecurityGroup>("111111111111", &vpc.default_security_group_id)
                .expect("get")
                .is_none()
        );
        let err = ec2.delete_vpc("111111111111", &vpc.id).expect_err("gone");
        assert!(err.to_string().contains("InvalidVpcID.NotFound"));
    }

    #[test]
    fn cidr_rules() {
        let ec2 = crate::ec2::testing::ec2();
        for (bad, code) in [
            ("10.0.0.0/8", "InvalidVpc.Range"),
            ("10.0.0.0/29", "InvalidVpc.Range"),
            ("10.0.0.1/16", "InvalidParameterValue"),
            ("nope", "InvalidParameterValue"),
        ] {
            let err = ec2
                .create_vpc("111111111111", bad, None, false, vec![])
                .expect_err(bad);
            assert!(err.to_string().starts_with(code), "{bad}: {err}");
        }
        let vpc = ec2
            .create_vpc("111111111111", "10.0.0.0/16", None, false, vec![])
            .expect("create");
        let err = ec2
            .associate_vpc_cidr_block("111111111111", &vpc.id, "10.0.128.0/17")
            .expect_err("overlap");
        assert!(err.to_string().starts_with("InvalidVpc.Range"));
        let assoc = ec2
            .associate_vpc_cidr_block("111111111111", &vpc.id, "10.1.0.0/16")
            .expect("assoc");
        let rt = ec2
            .store()
            .get::<RouteTable>("111111111111", &vpc.main_route_table_id)
            .expect("get")
            .expect("rt");
        assert_eq!(rt.routes.len(), 2, "a local route per block");
        let primary = vpc.cidr_associations[0].association_id.clone();
        assert!(
            ec2.disassociate_vpc_cidr_block("111111111111", &primary)
                .is_err()
        );
        ec2.disassociate_vpc_cidr_block("111111111111", &assoc.association_id)
            .expect("disassociate");
        let rt = ec2
            .store()
            .get::<RouteTable>("111111111111", &vpc.main_route_table_id)
            .expect("get")
            .expect("rt");
        assert_eq!(rt.routes.len(), 1);
        assert!(
            ec2.create_vpc("111111111111", "10.0.0.0/16", None, true, vec![])
                .is_err(),
            "IPv6 refused"
        );
    }

    #[test]
    fn attributes() {
        let ec2 = crate::ec2::testing::ec2();
        let vpc = ec2
            .create_vpc("111111111111", "10.0.0.0/16", None, false, vec![])
            .expect("create");
        assert!(
            ec2.vpc_attribute("111111111111", &vpc.id, VpcAttribute::DnsSupport)
                .expect("get")
        );
        assert!(
            !ec2.vpc_attribute("111111111111", &vpc.id, VpcAttribute::DnsHostnames)
                .expect("get")
        );
        ec2.modify_vpc_attribute("111111111111", &vpc.id, VpcAttribute::DnsHostnames, true)
            .expect("modify");
        assert!(
            ec2.vpc_attribute("111111111111", &vpc.id, VpcAttribute::DnsHostnames)
                .expect("get")
        );
    }
}
