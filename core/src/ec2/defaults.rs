//! Each account's default networking, created lazily and exactly once, on its first EC2 call
//! that needs it: the default VPC (172.31.0.0/16) with one default subnet per zone
//! (172.31.0.0/20, 172.31.16.0/20, …), its main route table (local route and a default route
//! to the internet gateway), default network ACL and security group, the region's default DHCP
//! options and an attached internet gateway — what a new AWS account finds in every region.
//!
//! Why a marker record: "once" must survive restarts and must not resurrect a default VPC the
//! user deleted; the marker is written in the same transaction as the resources, and the fast
//! path is one in-memory lookup. `CreateDefaultVpc` / `CreateDefaultSubnet` rebuild them on
//! demand, as AWS does.

use serde::{Deserialize, Serialize};

use crate::Error;
use crate::ec2::cidr::Cidr;
use crate::ec2::dhcp_options::DhcpOptions;
use crate::ec2::internet_gateway::InternetGateway;
use crate::ec2::route_table::{RouteTable, RouteTarget};
use crate::ec2::store::Txn;
use crate::ec2::subnet::{Subnet, put_new_subnet};
use crate::ec2::vpc::{Vpc, put_new_vpc};
use crate::ec2::{Ec2, Fault};
use crate::query::tags::Tag;

/// The marker's id (one per account).
pub const MARKER_ID: &str = "kumo-network-defaults";

/// The default VPC's block.
pub const DEFAULT_VPC_CIDR: &str = "172.31.0.0/16";

/// The record saying an account's default networking was made.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NetworkDefaults {
    /// [`MARKER_ID`].
    pub id: String,
    /// The region's default DHCP options set of the account.
    pub dhcp_options_id: String,
    /// Never set (the type is not taggable); present for the store's uniform shape.
    #[serde(default)]
    pub tags: Vec<Tag>,
}

/// The DHCP options new VPCs get: the account's default set, or `default` (none) if deleted.
pub(crate) fn default_dhcp_options_id(t: &Txn<'_>, account: &str) -> String {
    t.get::<NetworkDefaults>(account, MARKER_ID)
        .map(|m| m.dhcp_options_id)
        .filter(|id| t.get::<DhcpOptions>(account, id).is_some())
        .unwrap_or_else(|| "default".into())
}

/// Called when the default VPC is deleted (nothing to do: the marker keeps it from coming
/// back; `CreateDefaultVpc` makes a new one).
pub(crate) fn forget_default_vpc(_t: &mut Txn<'_>, _account: &str) {}

/// The default subnet block of the zone at `index` (172.31.0.0/20, 172.31.16.0/20, …).
fn default_subnet_block(index: usize) -> Option<Cidr> {
    let i = u32::try_from(index).ok().filter(|i| *i < 16)?;
    Cidr::parse(&format!("172.31.{}.0/20", i * 16))
}

impl Ec2 {
    /// Makes sure `account` has its default networking; cheap once done. Other modules
    /// (instances, security groups, …) call this before their first use of an account's
    /// network.
    pub fn ensure_defaults(&self, account: &str) -> Result<(), Error> {
        if self
            .store()
            .get::<NetworkDefaults>(account, MARKER_ID)?
            .is_some()
        {
            return Ok(());
        }
        self.store().transaction(|t| {
            if t.get::<NetworkDefaults>(account, MARKER_ID).is_some() {
                return Ok(());
            }
            let dhcp = DhcpOptions::region_default(account, &self.placement().region);
            t.put(
                account,
                NetworkDefaults {
                    id: MARKER_ID.into(),
                    dhcp_options_id: dhcp.id.clone(),
                    tags: Vec::new(),
                },
            );
            t.put(account, dhcp);
            self.put_default_vpc(t, account)?;
            Ok(())
        })
    }

    /// Stages the default VPC with its subnets and attached internet gateway.
    fn put_default_vpc(&self, t: &mut Txn<'_>, account: &str) -> Result<Vpc, Fault> {
        let block = Cidr::parse(DEFAULT_VPC_CIDR)
            .ok_or_else(|| Fault::invalid_value("default VPC block"))?;
        let dhcp = default_dhcp_options_id(t, account);
        let vpc = put_new_vpc(t, account, block, true, &dhcp, "default", Vec::new())?;
        let mut igw = InternetGateway::new(account, Vec::new());
        igw.attach(&vpc.id);
        if let Some(mut rt) = t.get::<RouteTable>(account, &vpc.main_route_table_id) {
            rt.add_route(
                Cidr::parse("0.0.0.0/0").ok_or_else(|| Fault::invalid_value("default route"))?,
                RouteTarget::Gateway(igw.id.clone()),
                "CreateRouteTable",
            );
            t.put(account, rt);
        }
        t.put(account, igw);
        for (i, zone) in self.zones().iter().enumerate() {
            if let Some(b) = default_subnet_block(i) {
                put_new_subnet(t, account, &vpc, b, zone, true, Vec::new());
            }
        }
        Ok(vpc)
    }

    /// `CreateDefaultVpc`: `DefaultVpcAlreadyExists` when the account has one.
    pub fn create_default_vpc(&self, account: &str) -> Result<Vpc, Error> {
        self.ensure_defaults(account)?;
        self.store().transaction(|t| {
            if let Some(v) = t.list::<Vpc>(account).into_iter().find(|v| v.is_default) {
                return Err(Fault::new(
                    "DefaultVpcAlreadyExists",
                    format!(
                        "A Default VPC already exists for this account in this region: {}",
                        v.id
                    ),
                )
                .into());
            }
            Ok(self.put_default_vpc(t, account)?)
        })
    }

    /// `CreateDefaultSubnet` in `zone` of the default VPC.
    pub fn create_default_subnet(&self, account: &str, zone: &str) -> Result<Subnet, Error> {
        let zone_info = self.resolve_zone(Some(zone), None)?;
        self.ensure_defaults(account)?;
        self.store().transaction(|t| {
            let vpc = t
                .list::<Vpc>(account)
                .into_iter()
                .find(|v| v.is_default)
                .ok_or_else(|| {
                    Fault::new(
                        "DefaultVpcDoesNotExist",
                        "No default VPC exists for this account in this region.",
                    )
                })?;
            let subnets: Vec<Subnet> = t
                .list::<Subnet>(account)
                .into_iter()
                .filter(|s| s.vpc_id == vpc.id)
                .collect();
            if subnets
                .iter()
                .any(|s| s.default_for_az && s.availability_zone == zone)
            {
                return Err(Fault::new(
                    "DefaultSubnetAlreadyExistsInAvailabilityZone",
                    format!("A default subnet already exists in availability zone {zone}."),
                )
                .into());
            }
            let taken: Vec<Cidr> = subnets
                .iter()
                .filter_map(|s| Cidr::parse(&s.cidr_block))
                .collect();
            let index = self.placement().zones.iter().position(|z| z == zone);
            let block = index
                .and_then(default_subnet_block)
                .into_iter()
                .chain((0..16).filter_map(default_subnet_block))
                .find(|b| !taken.iter().any(|t| t.overlaps(*b)))
                .ok_or_else(|| {
                    Fault::new(
                        "InsufficientFreeAddressesInSubnet",
                        "The default VPC has no room for another default subnet.",
                    )
                })?;
            Ok(put_new_subnet(
                t,
                account,
                &vpc,
                block,
                &zone_info,
                true,
                Vec::new(),
            ))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ec2::network_acl::NetworkAcl;
    use crate::ec2::security_group::SecurityGroup;

    const A: &str = "111111111111";

    #[test]
    fn defaults_are_made_once_with_everything_aws_makes() {
        let ec2 = crate::ec2::testing::ec2();
        ec2.ensure_defaults(A).expect("ensure");
        ec2.ensure_defaults(A).expect("again");
        let vpcs = ec2.store().list::<Vpc>(A).expect("vpcs");
        assert_eq!(vpcs.len(), 1);
        let vpc = &vpcs[0];
        assert!(vpc.is_default && vpc.enable_dns_hostnames);
        assert_eq!(vpc.cidr_block, DEFAULT_VPC_CIDR);
        let subnets = ec2.store().list::<Subnet>(A).expect("subnets");
        let mut blocks: Vec<_> = subnets
            .iter()
            .map(|s| (s.availability_zone.clone(), s.cidr_block.clone()))
            .collect();
        blocks.sort();
        assert_eq!(
            blocks,
            [
                ("us-east-1a".to_owned(), "172.31.0.0/20".to_owned()),
                ("us-east-1b".to_owned(), "172.31.16.0/20".to_owned())
            ]
        );
        assert!(
            subnets
                .iter()
                .all(|s| s.default_for_az && s.map_public_ip_on_launch)
        );
        let igws = ec2.store().list::<InternetGateway>(A).expect("igws");
        assert!(igws.len() == 1 && igws[0].attached_to(&vpc.id));
        let rt = ec2
            .store()
            .get::<RouteTable>(A, &vpc.main_route_table_id)
            .expect("get")
            .expect("main");
        assert_eq!(rt.routes.len(), 2);
        let acl = ec2
            .store()
            .get::<NetworkAcl>(A, &vpc.default_network_acl_id)
            .expect("get")
            .expect("acl");
        assert_eq!(acl.entries.len(), 4);
        assert_eq!(acl.associations.len(), 2);
        assert!(
            ec2.store()
                .get::<SecurityGroup>(A, &vpc.default_security_group_id)
                .expect("get")
                .is_some()
        );
        let dopt = ec2
            .store()
            .get::<DhcpOptions>(A, &vpc.dhcp_options_id)
            .expect("get")
            .expect("dopt");
        assert_eq!(dopt.values("domain-name"), ["ec2.internal"]);
        assert!(ec2.create_default_vpc(A).is_err(), "only one");
        assert!(
            ec2.create_default_subnet(A, "us-east-1a").is_err(),
            "only one per zone"
        );
        assert!(
            ec2.store()
                .list::<Vpc>("222222222222")
                .expect("other")
                .is_empty(),
            "lazily, per account"
        );
    }

    #[test]
    fn concurrent_first_calls_make_one_default_vpc() {
        let ec2 = crate::ec2::testing::ec2();
        let threads: Vec<_> = (0..8)
            .map(|_| {
                let ec2 = ec2.clone();
                std::thread::spawn(move || ec2.ensure_defaults(A).map_err(|e| e.to_string()))
            })
            .collect();
        for t in threads {
            t.join().expect("thread").expect("ensure");
        }
        assert_eq!(ec2.store().list::<Vpc>(A).expect("vpcs").len(), 1);
        assert_eq!(
            ec2.store().list::<InternetGateway>(A).expect("igws").len(),
            1
        );
        assert_eq!(ec2.store().list::<DhcpOptions>(A).expect("dopts").len(), 1);
    }

    #[test]
    fn deleted_default_vpc_stays_deleted_until_recreated() {
        let ec2 = crate::ec2::testing::ec2();
        ec2.ensure_defaults(A).expect("ensure");
        let vpc = ec2.store().list::<Vpc>(A).expect("vpcs").remove(0);
        let err = ec2.delete_vpc(A, &vpc.id).expect_err("dependencies");
        assert!(err.to_string().starts_with("DependencyViolation"));
        for s in ec2.store().list::<Subnet>(A).expect("subnets") {
            ec2.delete_subnet(A, &s.id).expect("delete subnet");
        }
        let igw = ec2
            .store()
            .list::<InternetGateway>(A)
            .expect("igws")
            .remove(0);
        ec2.detach_internet_gateway(A, &igw.id, &vpc.id)
            .expect("detach");
        ec2.delete_internet_gateway(A, &igw.id).expect("delete igw");
        ec2.delete_vpc(A, &vpc.id).expect("delete vpc");
        ec2.ensure_defaults(A).expect("ensure");
        assert!(ec2.store().list::<Vpc>(A).expect("vpcs").is_empty());
        assert!(ec2.create_default_subnet(A, "us-east-1a").is_err());
        let vpc = ec2.create_default_vpc(A).expect("recreate");
        assert!(vpc.is_default);
        assert_eq!(ec2.store().list::<Subnet>(A).expect("subnets").len(), 2);
    }
}
