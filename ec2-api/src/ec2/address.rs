//! `AllocateAddress`, `ReleaseAddress`, `AssociateAddress`, `DisassociateAddress`,
//! `DescribeAddresses`, `DescribeAddressesAttribute`.

use kumo_core::ec2::Fault;
use kumo_core::ec2::address::{Address, AssociateAddress};

use super::common::{filters, ops, query, tag_specs, tags_out};
use crate::dispatch::{Context, Handler};
use crate::error::QueryError;
use crate::generated::ec2 as wire;

pub(super) fn handler(action: &str) -> Option<Handler> {
    ops!(action;
        "AllocateAddress" => allocate_address,
        "ReleaseAddress" => release_address,
        "AssociateAddress" => associate_address,
        "DisassociateAddress" => disassociate_address,
        "DescribeAddresses" => describe_addresses,
        "DescribeAddressesAttribute" => describe_addresses_attribute,
    )
}

fn address_out(a: &Address) -> wire::Address {
    let assoc = a.association.as_ref();
    wire::Address {
        allocation_id: Some(a.id.clone()),
        association_id: assoc.map(|x| x.id.clone()),
        domain: Some(wire::DomainType::Vpc),
        instance_id: assoc.and_then(|x| x.instance_id.clone()),
        network_border_group: Some(a.network_border_group.clone()),
        network_interface_id: assoc.and_then(|x| x.network_interface_id.clone()),
        network_interface_owner_id: assoc
            .filter(|x| x.network_interface_id.is_some())
            .map(|_| a.owner_id.clone()),
        private_ip_address: assoc.and_then(|x| x.private_ip.clone()),
        public_ip: Some(a.public_ip.clone()),
        public_ipv4_pool: Some("amazon".into()),
        tags: tags_out(&a.tags),
        ..Default::default()
    }
}

fn allocate_address(
    ctx: &Context<'_>,
    req: wire::AllocateAddressRequest,
) -> Result<wire::AllocateAddressResult, QueryError> {
    if req.domain == Some(wire::DomainType::Standard) {
        return Err(Fault::new(
            "UnsupportedOperation",
            "EC2-Classic addresses are not supported; use Domain vpc.",
        )
        .into());
    }
    if req.customer_owned_ipv4_pool.is_some() || req.ipam_pool_id.is_some() {
        return Err(Fault::new(
            "UnsupportedOperation",
            "Customer-owned and IPAM pools are not supported by this endpoint.",
        )
        .into());
    }
    let ec2 = ctx.ec2()?;
    if let Some(pool) = req.public_ipv4_pool.as_deref().filter(|p| *p != "amazon") {
        return Err(Fault::new(
            "InvalidPublicIpv4PoolID.NotFound",
            format!("The public IPv4 pool '{pool}' does not exist"),
        )
        .into());
    }
    if let Some(g) = req
        .network_border_group
        .as_deref()
        .filter(|g| *g != ec2.placement().region)
    {
        return Err(Fault::invalid_value(format!("Invalid network border group: {g}")).into());
    }
    let a = ec2.allocate_address(
        ctx.account(),
        req.address.as_deref(),
        tag_specs(req.tag_specifications, "elastic-ip"),
    )?;
    Ok(wire::AllocateAddressResult {
        allocation_id: Some(a.id.clone()),
        domain: Some(wire::DomainType::Vpc),
        network_border_group: Some(a.network_border_group.clone()),
        public_ip: Some(a.public_ip.clone()),
        public_ipv4_pool: Some("amazon".into()),
        ..Default::default()
    })
}

fn release_address(
    ctx: &Context<'_>,
    req: wire::ReleaseAddressRequest,
) -> Result<bool, QueryError> {
    ctx.ec2()?.release_address(
        ctx.account(),
        req.allocation_id.as_deref(),
        req.public_ip.as_deref(),
    )?;
    Ok(true)
}

fn associate_address(
    ctx: &Context<'_>,
    req: wire::AssociateAddressRequest,
) -> Result<wire::AssociateAddressResult, QueryError> {
    let id = ctx.ec2()?.associate_address(
        ctx.account(),
        &AssociateAddress {
            allocation_id: req.allocation_id.as_deref(),
            public_ip: req.public_ip.as_deref(),
            instance_id: req.instance_id.as_deref(),
            network_interface_id: req.network_interface_id.as_deref(),
            private_ip: req.private_ip_address.as_deref(),
            allow_reassociation: req.allow_reassociation.unwrap_or(false),
        },
    )?;
    Ok(wire::AssociateAddressResult {
        association_id: Some(id),
    })
}

fn disassociate_address(
    ctx: &Context<'_>,
    req: wire::DisassociateAddressRequest,
) -> Result<bool, QueryError> {
    ctx.ec2()?.disassociate_address(
        ctx.account(),
        req.association_id.as_deref(),
        req.public_ip.as_deref(),
    )?;
    Ok(true)
}

fn describe_addresses(
    ctx: &Context<'_>,
    req: wire::DescribeAddressesRequest,
) -> Result<wire::DescribeAddressesResult, QueryError> {
    let list = ctx.ec2()?.describe_addresses(
        ctx.account(),
        &req.allocation_ids.unwrap_or_default(),
        &req.public_ips.unwrap_or_default(),
        &filters(req.filters),
    )?;
    Ok(wire::DescribeAddressesResult {
        addresses: Some(list.iter().map(address_out).collect()),
    })
}

fn describe_addresses_attribute(
    ctx: &Context<'_>,
    req: wire::DescribeAddressesAttributeRequest,
) -> Result<wire::DescribeAddressesAttributeResult, QueryError> {
    let page = ctx.ec2()?.describe_addresses_attribute(
        ctx.account(),
        &query(req.allocation_ids, None, req.max_results, req.next_token),
    )?;
    Ok(wire::DescribeAddressesAttributeResult {
        addresses: Some(
            page.items
                .iter()
                .map(|a| wire::AddressAttribute {
                    allocation_id: Some(a.id.clone()),
                    public_ip: Some(a.public_ip.clone()),
                    ptr_record: None,
                    ptr_record_update: None,
                })
                .collect(),
        ),
        next_token: page.next_token,
    })
}
