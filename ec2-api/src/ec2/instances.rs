//! Instances and instance types: `RunInstances`, `DescribeInstances`, state changes,
//! attributes, status, console output, credit and metadata options, `DescribeInstanceTypes`,
//! `DescribeInstanceTypeOfferings`.

use base64::Engine as _;
use kumo_core::ec2::Fault;
use kumo_core::ec2::instance::{
    AttributeChange, BlockDeviceRequest, InstanceView, MetadataRequest, RunInstances, StateChange,
};
use kumo_core::ec2::instance_types::InstanceTypeInfo;

use super::common::{en, en_str, filters, ops, tag_specs, tags_out, ts};
use crate::dispatch::{Context, Handler};
use crate::error::QueryError;
use crate::generated::ec2 as wire;

pub(super) fn handler(action: &str) -> Option<Handler> {
    ops!(action;
        "RunInstances" => run_instances,
        "DescribeInstances" => describe_instances,
        "StartInstances" => start_instances,
        "StopInstances" => stop_instances,
        "TerminateInstances" => terminate_instances,
        "RebootInstances" => reboot_instances,
        "DescribeInstanceAttribute" => describe_instance_attribute,
        "ModifyInstanceAttribute" => modify_instance_attribute,
        "DescribeInstanceStatus" => describe_instance_status,
        "GetConsoleOutput" => get_console_output,
        "DescribeInstanceCreditSpecifications" => describe_credit_specifications,
        "ModifyInstanceCreditSpecification" => modify_credit_specification,
        "ModifyInstanceMetadataOptions" => modify_metadata_options,
        "DescribeInstanceTypes" => describe_instance_types,
        "DescribeInstanceTypeOfferings" => describe_instance_type_offerings,
    )
}

fn state_out(s: kumo_core::ec2::instance::InstanceState) -> wire::InstanceState {
    wire::InstanceState {
        code: Some(s.code()),
        name: en(s.name()),
    }
}

fn groups_out(g: &[kumo_core::ec2::network_interface::GroupRef]) -> Vec<wire::GroupIdentifier> {
    g.iter()
        .map(|g| wire::GroupIdentifier {
            group_id: Some(g.id.clone()),
            group_name: Some(g.name.clone()),
        })
        .collect()
}

fn metadata_out(
    m: &kumo_core::ec2::instance::MetadataOptions,
) -> wire::InstanceMetadataOptionsResponse {
    wire::InstanceMetadataOptionsResponse {
        http_endpoint: en(&m.http_endpoint),
        http_protocol_ipv6: en(&m.http_protocol_ipv6),
        http_put_response_hop_limit: i32::try_from(m.http_put_response_hop_limit).ok(),
        http_tokens: en(&m.http_tokens),
        instance_metadata_tags: en(&m.instance_metadata_tags),
        state: en("applied"),
    }
}

fn instance_out(v: &InstanceView) -> wire::Instance {
    let i = &v.instance;
    let info = i.type_info();
    let enis: Vec<wire::InstanceNetworkInterface> =
        v.enis
            .iter()
            .map(|e| wire::InstanceNetworkInterface {
                attachment: e.attachment.as_ref().map(|a| {
                    wire::InstanceNetworkInterfaceAttachment {
                        attach_time: ts(a.attach_time_ms),
                        attachment_id: Some(a.id.clone()),
                        delete_on_termination: Some(a.delete_on_termination),
                        device_index: i32::try_from(a.device_index).ok(),
                        network_card_index: Some(0),
                        status: en(&a.status),
                        ..Default::default()
                    }
                }),
                description: Some(e.description.clone()),
                groups: Some(groups_out(&e.groups)),
                interface_type: Some(e.interface_type.clone()),
                ipv6_addresses: Some(Vec::new()),
                mac_address: Some(e.mac_address.clone()),
                association: v.public_ip_of(&e.id).map(|p| {
                    wire::InstanceNetworkInterfaceAssociation {
                        ip_owner_id: Some(p.ip_owner_id.clone()),
                        public_dns_name: Some(String::new()),
                        public_ip: Some(p.public_ip.clone()),
                        ..Default::default()
                    }
                }),
                network_interface_id: Some(e.id.clone()),
                owner_id: Some(v.owner_id.clone()),
                private_dns_name: Some(e.private_dns_name.clone()),
                private_ip_address: Some(e.private_ip.clone()),
                private_ip_addresses: Some(vec![wire::InstancePrivateIpAddress {
                    association: v.public_ip_of(&e.id).map(|p| {
                        wire::InstanceNetworkInterfaceAssociation {
                            ip_owner_id: Some(p.ip_owner_id.clone()),
                            public_dns_name: Some(String::new()),
                            public_ip: Some(p.public_ip.clone()),
                            ..Default::default()
                        }
                    }),
                    primary: Some(true),
                    private_dns_name: Some(e.private_dns_name.clone()),
                    private_ip_address: Some(e.private_ip.clone()),
                }]),
                source_dest_check: Some(e.source_dest_check),
                status: en(&e.status),
                subnet_id: Some(e.subnet_id.clone()),
                vpc_id: Some(e.vpc_id.clone()),
                ..Default::default()
            })
            .collect();
    wire::Instance {
        ami_launch_index: i32::try_from(i.launch_index).ok(),
        architecture: en("x86_64"),
        block_device_mappings: Some(
            i.block_devices
                .iter()
                .map(|b| wire::InstanceBlockDeviceMapping {
                    device_name: Some(b.device_name.clone()),
                    ebs: Some(wire::EbsInstanceBlockDevice {
                        attach_time: ts(b.attach_time_ms),
                        delete_on_termination: Some(b.delete_on_termination),
                        status: en(&b.status),
                        volume_id: Some(b.volume_id.clone()),
                        ..Default::default()
                    }),
                })
                .collect(),
        ),
        boot_mode: None,
        capacity_reservation_specification: Some(wire::CapacityReservationSpecificationResponse {
            capacity_reservation_preference: en("open"),
            capacity_reservation_target: None,
        }),
        client_token: i.client_token.clone().or_else(|| Some(String::new())),
        cpu_options: info.map(|t| wire::CpuOptions {
            core_count: i32::try_from(t.default_cores()).ok(),
            threads_per_core: i32::try_from(t.threads_per_core).ok(),
            ..Default::default()
        }),
        current_instance_boot_mode: en("legacy-bios"),
        ebs_optimized: Some(i.ebs_optimized),
        ena_support: Some(i.ena_support),
        enclave_options: Some(wire::EnclaveOptions {
            enabled: Some(false),
        }),
        hibernation_options: Some(wire::HibernationOptions {
            configured: Some(false),
        }),
        hypervisor: en("xen"),
        image_id: Some(i.image_id.clone()),
        instance_id: Some(i.id.clone()),
        instance_type: en(&i.instance_type),
        key_name: i.key_name.clone(),
        launch_time: ts(i.launch_time_ms),
        maintenance_options: Some(wire::InstanceMaintenanceOptions {
            auto_recovery: en(&i.auto_recovery),
            reboot_migration: en("default"),
        }),
        metadata_options: Some(metadata_out(&i.metadata)),
        monitoring: Some(wire::Monitoring {
            state: en(if i.monitoring { "enabled" } else { "disabled" }),
        }),
        network_interfaces: Some(enis),
        placement: Some(wire::Placement {
            availability_zone: Some(i.availability_zone.clone()),
            group_name: Some(i.placement_group.clone().unwrap_or_default()),
            group_id: i.placement_group_id.clone(),
            partition_number: i.partition_number.and_then(|p| i32::try_from(p).ok()),
            tenancy: en(&i.tenancy),
            ..Default::default()
        }),
        platform_details: Some("Linux/UNIX".into()),
        private_dns_name: Some(i.private_dns_name.clone()),
        private_dns_name_options: Some(wire::PrivateDnsNameOptionsResponse {
            enable_resource_name_dns_aaaa_record: Some(false),
            enable_resource_name_dns_a_record: Some(false),
            hostname_type: en("ip-name"),
        }),
        private_ip_address: Some(i.private_ip.clone()),
        product_codes: Some(Vec::new()),
        public_dns_name: Some(String::new()),
        public_ip_address: v.public_ip().map(|p| p.public_ip.clone()),
        root_device_name: Some(i.root_device_name.clone()),
        root_device_type: en("ebs"),
        security_groups: Some(groups_out(&i.groups)),
        source_dest_check: Some(v.enis.first().is_none_or(|e| e.source_dest_check)),
        state: Some(state_out(i.state)),
        state_reason: i.state_reason.as_ref().map(|r| wire::StateReason {
            code: Some(r.code.clone()),
            message: Some(r.message.clone()),
        }),
        state_transition_reason: Some(i.state_transition_reason.clone()),
        subnet_id: Some(i.subnet_id.clone()),
        tags: tags_out(&i.tags),
        usage_operation: Some("RunInstances".into()),
        usage_operation_update_time: ts(i.launch_time_ms),
        virtualization_type: en("hvm"),
        vpc_id: Some(i.vpc_id.clone()),
        ..Default::default()
    }
}

fn run_instances(
    ctx: &Context<'_>,
    req: wire::RunInstancesRequest,
) -> Result<wire::Reservation, QueryError> {
    let mut subnet_id = req.subnet_id.clone();
    let mut group_ids = req.security_group_ids.clone().unwrap_or_default();
    let mut private_ip = req.private_ip_address.clone();
    let mut associate_public_ip = None;
    // Terraform sends the primary interface as NetworkInterfaces[DeviceIndex=0] when it sets
    // associate_public_ip_address: fold it into the instance-level parameters.
    for n in req.network_interfaces.clone().unwrap_or_default() {
        if n.device_index.unwrap_or(0) != 0 || n.network_interface_id.is_some() {
            return Err(Fault::new(
                "Unsupported",
                "Only a new primary network interface (DeviceIndex 0) is supported at launch.",
            )
            .into());
        }
        subnet_id = n.subnet_id.or(subnet_id);
        group_ids.extend(n.groups.unwrap_or_default());
        private_ip = n.private_ip_address.or(private_ip);
        associate_public_ip = n.associate_public_ip_address.or(associate_public_ip);
    }
    let block_devices = req
        .block_device_mappings
        .unwrap_or_default()
        .into_iter()
        .map(|b| {
            let ebs = b.ebs.unwrap_or_default();
            BlockDeviceRequest {
                device_name: b.device_name.unwrap_or_default(),
                no_device: b.no_device.is_some(),
                volume_size: ebs.volume_size,
                volume_type: ebs.volume_type.as_ref().map(en_str),
                iops: ebs.iops,
                throughput: ebs.throughput,
                delete_on_termination: ebs.delete_on_termination,
                encrypted: ebs.encrypted,
                snapshot_id: ebs.snapshot_id,
            }
        })
        .collect();
    let m = req.metadata_options.unwrap_or_default();
    let placement = req.placement.unwrap_or_default();
    let specs = req.tag_specifications;
    let run = RunInstances {
        image_id: req.image_id,
        instance_type: req.instance_type.as_ref().map(en_str),
        min_count: req.min_count.unwrap_or(0),
        max_count: req.max_count.unwrap_or(0),
        subnet_id,
        associate_public_ip,
        security_group_ids: group_ids,
        security_groups: req.security_groups.unwrap_or_default(),
        key_name: req.key_name,
        user_data: req.user_data,
        block_devices,
        metadata: MetadataRequest {
            http_tokens: m.http_tokens.as_ref().map(en_str),
            http_put_response_hop_limit: m.http_put_response_hop_limit,
            http_endpoint: m.http_endpoint.as_ref().map(en_str),
            http_protocol_ipv6: m.http_protocol_ipv6.as_ref().map(en_str),
            instance_metadata_tags: m.instance_metadata_tags.as_ref().map(en_str),
        },
        instance_tags: tag_specs(specs.clone(), "instance"),
        volume_tags: tag_specs(specs.clone(), "volume"),
        eni_tags: tag_specs(specs, "network-interface"),
        availability_zone: placement.availability_zone,
        placement_group: placement.group_name.filter(|g| !g.is_empty()),
        placement_group_id: placement.group_id.filter(|g| !g.is_empty()),
        partition_number: placement.partition_number,
        tenancy: placement.tenancy.as_ref().map(en_str),
        private_ip,
        client_token: req.client_token,
        shutdown_behavior: req
            .instance_initiated_shutdown_behavior
            .as_ref()
            .map(en_str),
        disable_api_termination: req.disable_api_termination.unwrap_or(false),
        disable_api_stop: req.disable_api_stop.unwrap_or(false),
        ebs_optimized: req.ebs_optimized,
        monitoring: req.monitoring.and_then(|m| m.enabled).unwrap_or(false),
        cpu_credits: req.credit_specification.and_then(|c| c.cpu_credits),
    };
    let r = ctx.ec2()?.run_instances(ctx.account(), run)?;
    let groups = r
        .instances
        .first()
        .map(|v| groups_out(&v.instance.groups))
        .unwrap_or_default();
    Ok(wire::Reservation {
        groups: Some(groups),
        instances: Some(r.instances.iter().map(instance_out).collect()),
        owner_id: Some(r.owner_id),
        requester_id: None,
        reservation_id: Some(r.id),
    })
}

fn describe_instances(
    ctx: &Context<'_>,
    req: wire::DescribeInstancesRequest,
) -> Result<wire::DescribeInstancesResult, QueryError> {
    let page = ctx.ec2()?.describe_instances(
        ctx.account(),
        &req.instance_ids.unwrap_or_default(),
        &filters(req.filters),
        req.max_results,
        req.next_token.as_deref(),
    )?;
    // Group the page into reservations, in order of first appearance.
    let mut reservations: Vec<wire::Reservation> = Vec::new();
    for v in &page.items {
        let rid = &v.instance.reservation_id;
        let inst = instance_out(v);
        match reservations
            .iter_mut()
            .find(|r| r.reservation_id.as_deref() == Some(rid.as_str()))
        {
            Some(r) => r.instances.get_or_insert_with(Vec::new).push(inst),
            None => reservations.push(wire::Reservation {
                groups: Some(Vec::new()),
                instances: Some(vec![inst]),
                owner_id: Some(v.owner_id.clone()),
                requester_id: None,
                reservation_id: Some(rid.clone()),
            }),
        }
    }
    Ok(wire::DescribeInstancesResult {
        next_token: page.next_token,
        reservations: Some(reservations),
    })
}

fn changes_out(c: Vec<StateChange>) -> Option<Vec<wire::InstanceStateChange>> {
    Some(
        c.into_iter()
            .map(|c| wire::InstanceStateChange {
                current_state: Some(state_out(c.current)),
                instance_id: Some(c.instance_id),
                previous_state: Some(state_out(c.previous)),
            })
            .collect(),
    )
}

fn start_instances(
    ctx: &Context<'_>,
    req: wire::StartInstancesRequest,
) -> Result<wire::StartInstancesResult, QueryError> {
    let c = ctx
        .ec2()?
        .start_instances(ctx.account(), &req.instance_ids.unwrap_or_default())?;
    Ok(wire::StartInstancesResult {
        starting_instances: changes_out(c),
    })
}

fn stop_instances(
    ctx: &Context<'_>,
    req: wire::StopInstancesRequest,
) -> Result<wire::StopInstancesResult, QueryError> {
    let c = ctx.ec2()?.stop_instances(
        ctx.account(),
        &req.instance_ids.unwrap_or_default(),
        req.force.unwrap_or(false),
    )?;
    Ok(wire::StopInstancesResult {
        stopping_instances: changes_out(c),
    })
}

fn terminate_instances(
    ctx: &Context<'_>,
    req: wire::TerminateInstancesRequest,
) -> Result<wire::TerminateInstancesResult, QueryError> {
    let c = ctx
        .ec2()?
        .terminate_instances(ctx.account(), &req.instance_ids.unwrap_or_default())?;
    Ok(wire::TerminateInstancesResult {
        terminating_instances: changes_out(c),
    })
}

fn reboot_instances(
    ctx: &Context<'_>,
    req: wire::RebootInstancesRequest,
) -> Result<(), QueryError> {
    ctx.ec2()?
        .reboot_instances(ctx.account(), &req.instance_ids.unwrap_or_default())?;
    Ok(())
}

fn bool_attr(b: bool) -> Option<wire::AttributeBooleanValue> {
    Some(wire::AttributeBooleanValue { value: Some(b) })
}

fn str_attr(s: Option<String>) -> Option<wire::AttributeValue> {
    Some(wire::AttributeValue { value: s })
}

fn describe_instance_attribute(
    ctx: &Context<'_>,
    req: wire::DescribeInstanceAttributeRequest,
) -> Result<wire::InstanceAttribute, QueryError> {
    let id = req
        .instance_id
        .ok_or_else(|| QueryError::missing_parameter("InstanceId"))?;
    let attr = req
        .attribute
        .as_ref()
        .map(en_str)
        .ok_or_else(|| QueryError::missing_parameter("Attribute"))?;
    let ec2 = ctx.ec2()?;
    let i = ec2.instance(ctx.account(), &id)?;
    let view = ec2
        .describe_instances(ctx.account(), std::slice::from_ref(&id), &[], None, None)?
        .items
        .into_iter()
        .next();
    let mut out = wire::InstanceAttribute {
        instance_id: Some(i.id.clone()),
        ..Default::default()
    };
    match attr.as_str() {
        "instanceType" => out.instance_type = str_attr(Some(i.instance_type.clone())),
        "kernel" => out.kernel_id = str_attr(None),
        "ramdisk" => out.ramdisk_id = str_attr(None),
        "userData" => out.user_data = str_attr(i.user_data.clone()),
        "disableApiTermination" => {
            out.disable_api_termination = bool_attr(i.disable_api_termination)
        }
        "disableApiStop" => out.disable_api_stop = bool_attr(i.disable_api_stop),
        "instanceInitiatedShutdownBehavior" => {
            out.instance_initiated_shutdown_behavior = str_attr(Some(i.shutdown_behavior.clone()));
        }
        "rootDeviceName" => out.root_device_name = str_attr(Some(i.root_device_name.clone())),
        "blockDeviceMapping" => {
            out.block_device_mappings = view
                .as_ref()
                .and_then(|v| instance_out(v).block_device_mappings);
        }
        "productCodes" => out.product_codes = Some(Vec::new()),
        "sourceDestCheck" => {
            out.source_dest_check = bool_attr(
                view.as_ref()
                    .and_then(|v| v.enis.first().map(|e| e.source_dest_check))
                    .unwrap_or(true),
            );
        }
        "groupSet" => out.groups = Some(groups_out(&i.groups)),
        "ebsOptimized" => out.ebs_optimized = bool_attr(i.ebs_optimized),
        "sriovNetSupport" => out.sriov_net_support = str_attr(None),
        "enaSupport" => out.ena_support = bool_attr(i.ena_support),
        "enclaveOptions" => {
            out.enclave_options = Some(wire::EnclaveOptions {
                enabled: Some(false),
            })
        }
        other => {
            return Err(Fault::invalid_value(format!(
                "Value ({other}) for parameter attribute is invalid."
            ))
            .into());
        }
    }
    Ok(out)
}

fn modify_instance_attribute(
    ctx: &Context<'_>,
    req: wire::ModifyInstanceAttributeRequest,
) -> Result<(), QueryError> {
    let id = req
        .instance_id
        .clone()
        .ok_or_else(|| QueryError::missing_parameter("InstanceId"))?;
    let mut changes: Vec<AttributeChange> = Vec::new();
    let b = |v: &Option<wire::AttributeBooleanValue>| v.as_ref().and_then(|x| x.value);
    if let Some(t) = req.instance_type.as_ref().and_then(|v| v.value.clone()) {
        changes.push(AttributeChange::InstanceType(t));
    }
    if let Some(ud) = req.user_data.as_ref().and_then(|v| v.value.as_ref()) {
        changes.push(AttributeChange::UserData(
            base64::engine::general_purpose::STANDARD.encode(&ud.0),
        ));
    }
    if let Some(v) = b(&req.disable_api_termination) {
        changes.push(AttributeChange::DisableApiTermination(v));
    }
    if let Some(v) = b(&req.disable_api_stop) {
        changes.push(AttributeChange::DisableApiStop(v));
    }
    if let Some(v) = req
        .instance_initiated_shutdown_behavior
        .as_ref()
        .and_then(|v| v.value.clone())
    {
        changes.push(AttributeChange::ShutdownBehavior(v));
    }
    if let Some(v) = b(&req.ebs_optimized) {
        changes.push(AttributeChange::EbsOptimized(v));
    }
    if let Some(v) = b(&req.ena_support) {
        changes.push(AttributeChange::EnaSupport(v));
    }
    if let Some(v) = b(&req.source_dest_check) {
        changes.push(AttributeChange::SourceDestCheck(v));
    }
    if let Some(g) = req.groups.clone().filter(|g| !g.is_empty()) {
        changes.push(AttributeChange::Groups(g));
    }
    for m in req.block_device_mappings.clone().unwrap_or_default() {
        if let (Some(d), Some(dot)) = (m.device_name, m.ebs.and_then(|e| e.delete_on_termination)) {
            changes.push(AttributeChange::DeleteOnTermination(d, dot));
        }
    }
    // The legacy form: Attribute + Value.
    if let (Some(attr), Some(value)) = (req.attribute.as_ref().map(en_str), req.value.clone()) {
        let flag = value == "true";
        changes.push(match attr.as_str() {
            "instanceType" => AttributeChange::InstanceType(value),
            "userData" => AttributeChange::UserData(value),
            "disableApiTermination" => AttributeChange::DisableApiTermination(flag),
            "disableApiStop" => AttributeChange::DisableApiStop(flag),
            "instanceInitiatedShutdownBehavior" => AttributeChange::ShutdownBehavior(value),
            "ebsOptimized" => AttributeChange::EbsOptimized(flag),
            "enaSupport" => AttributeChange::EnaSupport(flag),
            "sourceDestCheck" => AttributeChange::SourceDestCheck(flag),
            other => {
                return Err(Fault::invalid_value(format!(
                    "Value ({other}) for parameter attribute is invalid."
                ))
                .into());
            }
        });
    }
    if changes.is_empty() {
        return Err(QueryError::missing_parameter("Attribute"));
    }
    let ec2 = ctx.ec2()?;
    for c in changes {
        ec2.modify_instance_attribute(ctx.account(), &id, c)?;
    }
    Ok(())
}

fn summary(status: &str) -> Option<wire::InstanceStatusSummary> {
    Some(wire::InstanceStatusSummary {
        details: Some(vec![wire::InstanceStatusDetails {
            impaired_since: None,
            name: en("reachability"),
            status: en(match status {
                "ok" => "passed",
                "initializing" => "initializing",
                _ => "insufficient-data",
            }),
        }]),
        status: en(status),
    })
}

fn describe_instance_status(
    ctx: &Context<'_>,
    req: wire::DescribeInstanceStatusRequest,
) -> Result<wire::DescribeInstanceStatusResult, QueryError> {
    let page = ctx.ec2()?.describe_instance_status(
        ctx.account(),
        &req.instance_ids.unwrap_or_default(),
        &filters(req.filters),
        req.include_all_instances.unwrap_or(false),
        req.max_results,
        req.next_token.as_deref(),
    )?;
    Ok(wire::DescribeInstanceStatusResult {
        instance_statuses: Some(
            page.items
                .iter()
                .map(|v| {
                    let s = kumo_core::ec2::instance::status_of(&v.instance);
                    wire::InstanceStatus {
                        availability_zone: Some(v.instance.availability_zone.clone()),
                        events: Some(Vec::new()),
                        instance_id: Some(v.instance.id.clone()),
                        instance_state: Some(state_out(v.instance.state)),
                        instance_status: summary(s),
                        system_status: summary(s),
                        ..Default::default()
                    }
                })
                .collect(),
        ),
        next_token: page.next_token,
    })
}

fn get_console_output(
    ctx: &Context<'_>,
    req: wire::GetConsoleOutputRequest,
) -> Result<wire::GetConsoleOutputResult, QueryError> {
    let id = req
        .instance_id
        .ok_or_else(|| QueryError::missing_parameter("InstanceId"))?;
    let (i, out) = ctx.ec2()?.console_output(ctx.account(), &id)?;
    Ok(wire::GetConsoleOutputResult {
        instance_id: Some(i.id),
        output: (!out.is_empty()).then(|| base64::engine::general_purpose::STANDARD.encode(out)),
        timestamp: Some(time::OffsetDateTime::now_utc()),
    })
}

fn describe_credit_specifications(
    ctx: &Context<'_>,
    req: wire::DescribeInstanceCreditSpecificationsRequest,
) -> Result<wire::DescribeInstanceCreditSpecificationsResult, QueryError> {
    let specs = ctx
        .ec2()?
        .credit_specifications(ctx.account(), &req.instance_ids.unwrap_or_default())?;
    Ok(wire::DescribeInstanceCreditSpecificationsResult {
        instance_credit_specifications: Some(
            specs
                .into_iter()
                .map(|(id, c)| wire::InstanceCreditSpecification {
                    cpu_credits: Some(c),
                    instance_id: Some(id),
                })
                .collect(),
        ),
        next_token: None,
    })
}

fn modify_credit_specification(
    ctx: &Context<'_>,
    req: wire::ModifyInstanceCreditSpecificationRequest,
) -> Result<wire::ModifyInstanceCreditSpecificationResult, QueryError> {
    let ec2 = ctx.ec2()?;
    let mut ok = Vec::new();
    for s in req.instance_credit_specifications.unwrap_or_default() {
        let id = s.instance_id.unwrap_or_default();
        ec2.modify_credit_specification(
            ctx.account(),
            &id,
            s.cpu_credits.as_deref().unwrap_or(""),
        )?;
        ok.push(wire::SuccessfulInstanceCreditSpecificationItem {
            instance_id: Some(id),
        });
    }
    Ok(wire::ModifyInstanceCreditSpecificationResult {
        successful_instance_credit_specifications: Some(ok),
        unsuccessful_instance_credit_specifications: Some(Vec::new()),
    })
}

fn modify_metadata_options(
    ctx: &Context<'_>,
    req: wire::ModifyInstanceMetadataOptionsRequest,
) -> Result<wire::ModifyInstanceMetadataOptionsResult, QueryError> {
    let id = req
        .instance_id
        .ok_or_else(|| QueryError::missing_parameter("InstanceId"))?;
    let i = ctx.ec2()?.modify_metadata_options(
        ctx.account(),
        &id,
        &MetadataRequest {
            http_tokens: req.http_tokens.as_ref().map(en_str),
            http_put_response_hop_limit: req.http_put_response_hop_limit,
            http_endpoint: req.http_endpoint.as_ref().map(en_str),
            http_protocol_ipv6: req.http_protocol_ipv6.as_ref().map(en_str),
            instance_metadata_tags: req.instance_metadata_tags.as_ref().map(en_str),
        },
    )?;
    Ok(wire::ModifyInstanceMetadataOptionsResult {
        instance_id: Some(i.id.clone()),
        instance_metadata_options: Some(metadata_out(&i.metadata)),
    })
}

fn type_out(t: &InstanceTypeInfo) -> wire::InstanceTypeInfo {
    let nitro = t.hypervisor == "nitro";
    wire::InstanceTypeInfo {
        auto_recovery_supported: Some(true),
        bare_metal: Some(false),
        burstable_performance_supported: Some(t.burstable),
        current_generation: Some(true),
        dedicated_hosts_supported: Some(!t.burstable),
        ebs_info: Some(wire::EbsInfo {
            ebs_optimized_info: t.ebs.map(|e| wire::EbsOptimizedInfo {
                baseline_bandwidth_in_mbps: i32::try_from(e.baseline_mbps).ok(),
                baseline_iops: i32::try_from(e.baseline_iops).ok(),
                baseline_throughput_in_m_bps: Some(f64::from(e.baseline_mbps) / 8.0),
                maximum_bandwidth_in_mbps: i32::try_from(e.maximum_mbps).ok(),
                maximum_iops: i32::try_from(e.maximum_iops).ok(),
                maximum_throughput_in_m_bps: Some(f64::from(e.maximum_mbps) / 8.0),
            }),
            ebs_optimized_support: en(t.ebs_optimized_support()),
            encryption_support: en("supported"),
            nvme_support: en(t.nvme_support()),
            maximum_ebs_attachments: i32::try_from(t.max_ebs_attachments).ok(),
            ..Default::default()
        }),
        free_tier_eligible: Some(t.free_tier),
        hibernation_supported: Some(true),
        hypervisor: en(t.hypervisor),
        instance_storage_supported: Some(false),
        instance_type: en(t.name),
        memory_info: Some(wire::MemoryInfo {
            size_in_mi_b: i64::try_from(t.memory_mib).ok(),
        }),
        network_info: Some(wire::NetworkInfo {
            default_network_card_index: Some(0),
            efa_supported: Some(false),
            ena_srd_supported: Some(false),
            ena_support: en(t.ena_support()),
            encryption_in_transit_supported: Some(false),
            ipv4_addresses_per_interface: i32::try_from(t.ipv4_per_eni).ok(),
            ipv6_addresses_per_interface: i32::try_from(t.ipv6_per_eni()).ok(),
            ipv6_supported: Some(true),
            maximum_network_cards: Some(1),
            maximum_network_interfaces: i32::try_from(t.max_enis).ok(),
            network_cards: Some(vec![wire::NetworkCardInfo {
                maximum_network_interfaces: i32::try_from(t.max_enis).ok(),
                network_card_index: Some(0),
                network_performance: Some(t.network_performance.into()),
                ..Default::default()
            }]),
            network_performance: Some(t.network_performance.into()),
            ..Default::default()
        }),
        nitro_enclaves_support: en("unsupported"),
        nitro_tpm_support: en(if nitro { "supported" } else { "unsupported" }),
        placement_group_info: Some(wire::PlacementGroupInfo {
            supported_strategies: Some(
                ["partition", "spread"]
                    .iter()
                    .chain(if t.burstable {
                        [].iter()
                    } else {
                        ["cluster"].iter()
                    })
                    .filter_map(|s| en(s))
                    .collect(),
            ),
        }),
        processor_info: Some(wire::ProcessorInfo {
            manufacturer: Some(t.manufacturer.into()),
            supported_architectures: en("x86_64").map(|a| vec![a]),
            sustained_clock_speed_in_ghz: Some(t.clock_ghz),
            ..Default::default()
        }),
        supported_boot_modes: Some(t.boot_modes().iter().filter_map(|s| en(s)).collect()),
        supported_root_device_types: en("ebs").map(|a| vec![a]),
        supported_usage_classes: Some(t.usage_classes().iter().filter_map(|s| en(s)).collect()),
        supported_virtualization_types: en("hvm").map(|a| vec![a]),
        v_cpu_info: Some(wire::VCpuInfo {
            default_cores: i32::try_from(t.default_cores()).ok(),
            default_threads_per_core: i32::try_from(t.threads_per_core).ok(),
            default_v_cpus: i32::try_from(t.vcpus).ok(),
            valid_cores: Some(vec![i32::try_from(t.default_cores()).unwrap_or(1)]),
            valid_threads_per_core: Some(
                (1..=t.threads_per_core)
                    .filter_map(|n| i32::try_from(n).ok())
                    .collect(),
            ),
        }),
        ..Default::default()
    }
}

fn describe_instance_types(
    ctx: &Context<'_>,
    req: wire::DescribeInstanceTypesRequest,
) -> Result<wire::DescribeInstanceTypesResult, QueryError> {
    let names: Vec<String> = req
        .instance_types
        .unwrap_or_default()
        .iter()
        .map(en_str)
        .collect();
    let page = ctx.ec2()?.describe_instance_types(
        &names,
        &filters(req.filters),
        req.max_results,
        req.next_token.as_deref(),
    )?;
    Ok(wire::DescribeInstanceTypesResult {
        instance_types: Some(page.items.iter().map(|t| type_out(t)).collect()),
        next_token: page.next_token,
    })
}

fn describe_instance_type_offerings(
    ctx: &Context<'_>,
    req: wire::DescribeInstanceTypeOfferingsRequest,
) -> Result<wire::DescribeInstanceTypeOfferingsResult, QueryError> {
    let lt = req.location_type.as_ref().map(en_str);
    let page = ctx.ec2()?.describe_instance_type_offerings(
        lt.as_deref(),
        &filters(req.filters),
        req.max_results,
        req.next_token.as_deref(),
    )?;
    Ok(wire::DescribeInstanceTypeOfferingsResult {
        instance_type_offerings: Some(
            page.items
                .into_iter()
                .map(|o| wire::InstanceTypeOffering {
                    instance_type: en(o.instance_type),
                    location: Some(o.location),
                    location_type: en(&o.location_type),
                })
                .collect(),
        ),
        next_token: page.next_token,
    })
}
