//! The reconciler's load balancer side: each ELBv2 load balancer's data plane, computed whole
//! from the records (`elbv2::data_plane::lb_spec`) and handed to the `LoadBalancerDriver`, and its nodes'
//! ENIs plugged into the VPC like instances' (the driver creates their host-side devices
//! first, so the fabric joins them at once). Internet-facing nodes' public addresses are
//! routing's business (`reconciler/routing.rs` maps them like any ENI's public IP).
//!
//! Why whole and in a loop of its own (as security groups): listeners, rules, target groups,
//! registrations and instance addresses all feed one proxy configuration; recomputing it after
//! any commit touching them ([`WATCHED`]) cannot miss a change, and the driver makes an
//! unchanged configuration free. The timer pass also restarts a proxy that died and removes
//! the data plane of load balancers with no record (deleted while Kumo was down).
//!
//! The translation itself is `elbv2::data_plane` (the control plane's knowledge).

use super::network::{eni_spec, subnet_spec, vpc_spec};
use super::{Compute, WorldError};
use crate::ec2::dhcp_options::DhcpOptions;
use crate::ec2::instance::Instance;
use crate::ec2::model::Record;
use crate::ec2::network_interface::NetworkInterface;
use crate::ec2::vpc::Vpc;
use crate::elbv2::data_plane::lb_spec;
use crate::elbv2::listener::Listener;
use crate::elbv2::load_balancer::LoadBalancer;
use crate::elbv2::nodes::data_plane_id;
use crate::elbv2::rule::Rule;
use crate::elbv2::target_group::TargetGroup;

/// The record kinds whose changes can change a load balancer's data plane.
pub(super) const WATCHED: [&str; 6] = [
    LoadBalancer::KIND,
    Listener::KIND,
    Rule::KIND,
    TargetGroup::KIND,
    Instance::KIND,
    NetworkInterface::KIND,
];

impl Compute {
    /// Makes every load balancer's data plane match its records and removes those without a
    /// record (a no-op without a fabric and a driver, and on secondary hosts).
    pub fn reconcile_load_balancers(&self) {
        let (Some(fabric), Some(driver)) = (&self.network, self.ec2.load_balancer_driver()) else {
            return;
        };
        if !self.config.primary {
            return;
        }
        let store = self.ec2.store();
        let lbs = store
            .scan_all(|a, lb: &LoadBalancer| Some((a.to_owned(), lb.clone())))
            .unwrap_or_default();
        let region = &self.ec2.placement().region;
        // Nodes already plugged with their device joined need no fabric call: a pass then
        // costs one driver `apply` per load balancer (free when its config is unchanged).
        let attached = self.attached_enis().unwrap_or_default();
        for (account, lb) in &lbs {
            let done = (|| -> Result<(), WorldError> {
                let (spec, nodes) = lb_spec(store, account, lb)?;
                driver.apply(&spec)?;
                if nodes.iter().all(|(eni, _)| attached.contains(&eni.id)) {
                    return Ok(());
                }
                if let Some(vpc) = store.get::<Vpc>(account, &lb.vpc_id)? {
                    let dhcp = store.get::<DhcpOptions>(account, &vpc.dhcp_options_id)?;
                    fabric.ensure_vpc(&vpc_spec(&vpc, dhcp.as_ref(), region)?)?;
                }
                for (_, subnet) in &nodes {
                    fabric.ensure_subnet(&subnet_spec(subnet)?)?;
                }
                // The nodes' groups are in force before they carry traffic, and their public
                // addresses are mapped (the routing loop skips a VPC the fabric did not have
                // yet, as when a load balancer is the first thing in it).
                self.apply_security(account, &lb.vpc_id)?;
                self.apply_routing(account, &lb.vpc_id)?;
                for (eni, subnet) in &nodes {
                    let mut e = eni_spec(eni, subnet)?;
                    e.dns_names = vec![lb.dns_name.to_ascii_lowercase()];
                    fabric.plug(&e)?;
                }
                Ok(())
            })();
            if let Err(e) = done {
                tracing::warn!(load_balancer = %lb.id, error = %e, "load balancer reconcile failed");
            }
        }
        let known: Vec<String> = lbs.iter().map(|(_, lb)| data_plane_id(lb)).collect();
        match driver.list() {
            Ok(running) => {
                for id in running.iter().filter(|id| !known.contains(id)) {
                    tracing::info!(load_balancer = %id, "removing a load balancer with no record");
                    if let Err(e) = driver.remove(id) {
                        tracing::warn!(load_balancer = %id, error = %e, "load balancer removal failed");
                    }
                }
            }
            Err(e) => tracing::warn!(error = %e, "load balancer inventory failed"),
        }
    }
}
