//! The instance metadata service's view of the records: [`InstanceMetadataSource`] implements
//! `kumo_driver_api::MetadataSource` for the network fabric's IMDS responder.
//!
//! Why by ENI: the responder knows only the link a request arrived on (the guest cannot lie
//! about it), so the lookup key is the ENI id; the instance is the ENI's attachment. Only an
//! instance that could be running (`pending`, `running`, `stopping`) answers — a stopped or
//! terminated instance's ENI must not serve a stale identity. Every answer is a fresh read of
//! the records, so `ModifyInstanceMetadataOptions`, tags and key changes show at once.

use std::collections::BTreeMap;

use base64::Engine as _;
use kumo_driver_api::{InstanceMetadata, InterfaceMetadata, MetadataSource, PublicKey};

use crate::ec2::Ec2;
use crate::ec2::image::Image;
use crate::ec2::instance::{Instance, InstanceState};
use crate::ec2::key_pair::KeyPair;
use crate::ec2::network_interface::NetworkInterface;
use crate::ec2::subnet::Subnet;
use crate::ec2::volume::rfc3339_ms;
use crate::ec2::vpc::Vpc;

/// The domain AWS service endpoints live under, as `meta-data/services/domain` reports it.
pub const SERVICES_DOMAIN: &str = "amazonaws.com";

/// Answers metadata lookups from the EC2 records.
#[derive(Debug, Clone)]
pub struct InstanceMetadataSource {
    ec2: Ec2,
}

impl InstanceMetadataSource {
    /// A source over `ec2`'s records.
    #[must_use]
    pub fn new(ec2: Ec2) -> Self {
        Self { ec2 }
    }

    fn find(&self, eni_id: &str) -> Result<Option<InstanceMetadata>, crate::Error> {
        let store = self.ec2.store();
        let Some((account, eni)) = store
            .scan_all(|a, e: &NetworkInterface| {
                (e.id == eni_id).then(|| (a.to_owned(), e.clone()))
            })?
            .into_iter()
            .next()
        else {
            return Ok(None);
        };
        let Some(att) = &eni.attachment else {
            return Ok(None);
        };
        let Some(i) = store.get::<Instance>(&account, &att.instance_id)? else {
            return Ok(None);
        };
        if !matches!(
            i.state,
            InstanceState::Pending | InstanceState::Running | InstanceState::Stopping
        ) {
            return Ok(None);
        }
        let mut interfaces = Vec::new();
        for (n, id) in i.network_interfaces.iter().enumerate() {
            let Some(e) = store.get::<NetworkInterface>(&account, id)? else {
                continue;
            };
            interfaces.push(self.interface(&account, &e, n)?);
        }
        let primary = interfaces.first().cloned().unwrap_or_default();
        let public_keys = match &i.key_name {
            Some(name) => store
                .list::<KeyPair>(&account)?
                .into_iter()
                .filter(|k| k.name == *name)
                .map(|k| PublicKey {
                    name: k.name,
                    openssh_key: k.public_key,
                })
                .collect(),
            None => Vec::new(),
        };
        let architecture = store
            .scan_all(|_, im: &Image| (im.id == i.image_id).then(|| im.architecture.clone()))?
            .into_iter()
            .next()
            .unwrap_or_else(|| "x86_64".into());
        let tags = (i.metadata.instance_metadata_tags == "enabled").then(|| {
            i.tags
                .iter()
                .map(|t| (t.key.clone(), t.value.clone()))
                .collect::<BTreeMap<_, _>>()
        });
        let user_data = i.user_data.as_deref().and_then(|u| {
            base64::engine::general_purpose::STANDARD
                .decode(u.trim())
                .ok()
        });
        let launch = rfc3339_ms(i.launch_time_ms);
        let launch_time = match launch.split_once('.') {
            Some((secs, _)) => format!("{secs}Z"),
            None => launch,
        };
        Ok(Some(InstanceMetadata {
            instance_id: i.id.clone(),
            account_id: account.clone(),
            image_id: i.image_id.clone(),
            instance_type: i.instance_type.clone(),
            architecture,
            region: self.ec2.placement().region.clone(),
            availability_zone: i.availability_zone.clone(),
            reservation_id: i.reservation_id.clone(),
            ami_launch_index: i.launch_index,
            launch_time,
            local_hostname: i.private_dns_name.clone(),
            local_ipv4: i.private_ip.clone(),
            mac: primary.mac.clone(),
            security_groups: primary.security_groups.clone(),
            interfaces,
            public_keys,
            tags,
            user_data,
            http_endpoint_enabled: i.metadata.http_endpoint == "enabled",
            http_tokens_required: i.metadata.http_tokens == "required",
            http_put_response_hop_limit: u8::try_from(i.metadata.http_put_response_hop_limit)
                .unwrap_or(64)
                .clamp(1, 64),
            services_domain: SERVICES_DOMAIN.into(),
        }))
    }

    fn interface(
        &self,
        account: &str,
        e: &NetworkInterface,
        index: usize,
    ) -> Result<InterfaceMetadata, crate::Error> {
        let store = self.ec2.store();
        let subnet = store.get::<Subnet>(account, &e.subnet_id)?;
        let vpc = store.get::<Vpc>(account, &e.vpc_id)?;
        let mut vpc_blocks: Vec<String> = Vec::new();
        if let Some(v) = &vpc {
            vpc_blocks.push(v.cidr_block.clone());
            for a in &v.cidr_associations {
                if a.state == "associated" && !vpc_blocks.contains(&a.cidr_block) {
                    vpc_blocks.push(a.cidr_block.clone());
                }
            }
        }
        Ok(InterfaceMetadata {
            device_number: e
                .attachment
                .as_ref()
                .map_or_else(|| u32::try_from(index).unwrap_or(0), |a| a.device_index),
            eni_id: e.id.clone(),
            mac: e.mac_address.to_ascii_lowercase(),
            local_ipv4s: vec![e.private_ip.clone()],
            local_hostname: e.private_dns_name.clone(),
            subnet_id: e.subnet_id.clone(),
            subnet_ipv4_cidr_block: subnet.map(|s| s.cidr_block).unwrap_or_default(),
            vpc_id: e.vpc_id.clone(),
            vpc_ipv4_cidr_block: vpc.map(|v| v.cidr_block).unwrap_or_default(),
            vpc_ipv4_cidr_blocks: vpc_blocks,
            security_group_ids: e.groups.iter().map(|g| g.id.clone()).collect(),
            security_groups: e.groups.iter().map(|g| g.name.clone()).collect(),
            owner_id: account.to_owned(),
        })
    }
}

impl MetadataSource for InstanceMetadataSource {
    fn lookup(&self, eni_id: &str) -> Option<InstanceMetadata> {
        match self.find(eni_id) {
            Ok(m) => m,
            Err(e) => {
                tracing::warn!(eni = eni_id, error = %e, "metadata lookup failed");
                None
            }
        }
    }
}
