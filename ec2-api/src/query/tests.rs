//! Request examples from the AWS API references, decoded into the generated types, and
//! responses encoded from them.

use kumo_core::iam::Principal;

use super::decode::decode_input;
use super::encode::encode_response;
use super::{Node, Protocol, Structure, Typed};
use crate::dispatch::{Context, QueryService, dispatch_params};
use crate::error::QueryError;
use crate::generated::{ec2, elbv2, iam, sts};
use crate::params::Params;

fn decode<T: Structure>(protocol: Protocol, query: &str) -> Result<T, QueryError> {
    let params = Params::parse(Some(query), None);
    let node = decode_input(protocol, T::SHAPE, &params)?;
    Ok(T::from_node(node).expect("decoded node converts to its type"))
}

fn ec2_err<T: Structure + std::fmt::Debug>(query: &str) -> QueryError {
    decode::<T>(Protocol::Ec2Query, query).expect_err("must be rejected")
}

fn principal() -> Principal {
    Principal {
        account_id: "123456789012".into(),
        user_id: "123456789012".into(),
        arn: "arn:aws:iam::123456789012:root".into(),
        access_key_id: "AKIDEXAMPLE".into(),
    }
}

/// DescribeInstances, "Example 2" of the EC2 API reference: filters with several values.
#[test]
fn ec2_describe_instances_filters() {
    let req: ec2::DescribeInstancesRequest = decode(
        Protocol::Ec2Query,
        "Action=DescribeInstances&Filter.1.Name=instance-type&Filter.1.Value.1=m1.small\
         &Filter.1.Value.2=m1.large&Filter.2.Name=block-device-mapping.status\
         &Filter.2.Value.1=attached&InstanceId.1=i-1&InstanceId.2=i-2&AUTHPARAMS",
    )
    .expect("decodes");
    let filters = req.filters.expect("filters");
    assert_eq!(filters.len(), 2);
    assert_eq!(filters[0].name.as_deref(), Some("instance-type"));
    assert_eq!(
        filters[0].values,
        Some(vec!["m1.small".to_owned(), "m1.large".to_owned()])
    );
    assert_eq!(filters[1].values, Some(vec!["attached".to_owned()]));
    assert_eq!(
        req.instance_ids,
        Some(vec!["i-1".to_owned(), "i-2".to_owned()])
    );
    assert_eq!(req.max_results, None);
}

/// RunInstances with tags on create, as in the EC2 API reference's examples.
#[test]
fn ec2_run_instances_tag_specifications() {
    let req: ec2::RunInstancesRequest = decode(
        Protocol::Ec2Query,
        "Action=RunInstances&ImageId=ami-31814f58&InstanceType=t2.micro&MaxCount=1&MinCount=1\
         &KeyName=my-key-pair&SubnetId=subnet-b2a249da&TagSpecification.1.ResourceType=instance\
         &TagSpecification.1.Tag.1.Key=Name&TagSpecification.1.Tag.1.Value=Web&EbsOptimized=true\
         &BlockDeviceMapping.1.DeviceName=%2Fdev%2Fsdh&BlockDeviceMapping.1.Ebs.VolumeSize=100",
    )
    .expect("decodes");
    assert_eq!(req.instance_type, Some(ec2::InstanceType::T2Micro));
    assert_eq!((req.min_count, req.max_count), (Some(1), Some(1)));
    assert_eq!(req.ebs_optimized, Some(true));
    let spec = &req.tag_specifications.expect("tag specs")[0];
    assert_eq!(spec.resource_type, Some(ec2::ResourceType::Instance));
    let tag = &spec.tags.as_ref().expect("tags")[0];
    assert_eq!(
        (tag.key.as_deref(), tag.value.as_deref()),
        (Some("Name"), Some("Web"))
    );
    let bdm = &req.block_device_mappings.expect("bdm")[0];
    assert_eq!(bdm.device_name.as_deref(), Some("/dev/sdh"));
    assert_eq!(bdm.ebs.as_ref().and_then(|e| e.volume_size), Some(100));
}

#[test]
fn ec2_validation_errors_name_the_parameter() {
    let e = ec2_err::<ec2::RunInstancesRequest>("ImageId=ami-1&MinCount=1");
    assert_eq!(
        (e.code.as_str(), e.message.as_str()),
        (
            "MissingParameter",
            "The request must contain the parameter MaxCount"
        )
    );
    let e = ec2_err::<ec2::RunInstancesRequest>("MaxCount=x&MinCount=1");
    assert_eq!(e.code, "InvalidParameterValue");
    assert!(e.message.contains("MaxCount"), "{}", e.message);
    let e = ec2_err::<ec2::RunInstancesRequest>("MaxCount=1&MinCount=1&InstanceType=t9.huge");
    assert_eq!(e.code, "InvalidParameterValue");
    assert!(e.message.contains("InstanceType"), "{}", e.message);
    let e = ec2_err::<ec2::RunInstancesRequest>(
        "MaxCount=1&MinCount=1&TagSpecification.1.Tag.1.Key=a&TagSpecification.1.ResourceType=bogus",
    );
    assert!(
        e.message.contains("TagSpecification.1.ResourceType"),
        "{}",
        e.message
    );
    let e = ec2_err::<ec2::DescribeInstancesRequest>("DryRun=maybe");
    assert_eq!(e.code, "InvalidParameterValue");
    let e = ec2_err::<ec2::DescribeInstancesRequest>("MaxResults=99999999999");
    assert_eq!(e.code, "InvalidParameterValue");
    // Unknown parameters are ignored.
    decode::<ec2::DescribeInstancesRequest>(Protocol::Ec2Query, "Bogus.1.Thing=x&Filter.x.Name=y")
        .expect("ignored");
}

/// awsQuery: `.member.N` lists, structures in lists, empty lists as `Name=`, model ranges.
#[test]
fn aws_query_lists_maps_and_ranges() {
    let req: elbv2::CreateLoadBalancerInput = decode(
        Protocol::AwsQuery,
        "Action=CreateLoadBalancer&Name=my-load-balancer&Subnets.member.1=subnet-8360a9e7\
         &Subnets.member.2=subnet-b7d581c0&Tags.member.1.Key=env&Tags.member.1.Value=prod&SecurityGroups=&Type=application",
    )
    .expect("decodes");
    assert_eq!(req.name.as_deref(), Some("my-load-balancer"));
    assert_eq!(
        req.subnets,
        Some(vec![
            "subnet-8360a9e7".to_owned(),
            "subnet-b7d581c0".to_owned()
        ])
    );
    assert_eq!(req.security_groups, Some(Vec::new()));
    assert_eq!(req.r#type, Some(elbv2::LoadBalancerTypeEnum::Application));
    assert_eq!(req.tags.expect("tags")[0].value.as_deref(), Some("prod"));

    let e = decode::<sts::AssumeRoleRequest>(
        Protocol::AwsQuery,
        "RoleArn=arn:aws:iam::123456789012:role/demo&RoleSessionName=s&DurationSeconds=60",
    )
    .expect_err("below the model's minimum");
    assert_eq!(e.code, "InvalidParameterValue");
    assert!(
        e.message.contains("DurationSeconds") && e.message.contains("900"),
        "{}",
        e.message
    );
    let e = decode::<sts::AssumeRoleRequest>(Protocol::AwsQuery, "RoleSessionName=s")
        .expect_err("missing");
    assert_eq!(e.message, "The request must contain the parameter RoleArn");
}

#[test]
fn ec2_response_shape() {
    let out = ec2::DescribeInstancesResult {
        reservations: Some(vec![ec2::Reservation {
            reservation_id: Some("r-1".into()),
            owner_id: Some("123456789012".into()),
            instances: Some(vec![ec2::Instance {
                instance_id: Some("i-1".into()),
                instance_type: Some(ec2::InstanceType::T2Micro),
                launch_time: Some(time::macros::datetime!(2016-11-15 12:00:01.5 UTC)),
                ..Default::default()
            }]),
            ..Default::default()
        }]),
        next_token: None,
    };
    let op = ec2::SERVICE
        .operation("DescribeInstances")
        .expect("modelled");
    let xml = encode_response(&ec2::SERVICE, op, Some(&out.to_node()), "req-1");
    assert_eq!(
        xml,
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<DescribeInstancesResponse xmlns=\"http://ec2.amazonaws.com/doc/2016-11-15/\">\
         <requestId>req-1</requestId><reservationSet><item><instancesSet><item><instanceId>i-1</instanceId>\
         <instanceType>t2.micro</instanceType><launchTime>2016-11-15T12:00:01.500Z</launchTime></item></instancesSet>\
         <ownerId>123456789012</ownerId><reservationId>r-1</reservationId></item></reservationSet></DescribeInstancesResponse>"
    );
}

#[test]
fn aws_query_response_shape_with_map() {
    let out = iam::GetAccountSummaryResponse {
        summary_map: Some(
            [("Users".to_owned(), 2), ("Groups".to_owned(), 0)]
                .into_iter()
                .collect(),
        ),
    };
    let op = iam::SERVICE
        .operation("GetAccountSummary")
        .expect("modelled");
    let xml = encode_response(&iam::SERVICE, op, Some(&out.to_node()), "r");
    assert!(
        xml.contains(
            "<GetAccountSummaryResult><SummaryMap><entry><key>Groups</key><value>0</value></entry>\
         <entry><key>Users</key><value>2</value></entry></SummaryMap></GetAccountSummaryResult>\
         <ResponseMetadata><RequestId>r</RequestId></ResponseMetadata>"
        ),
        "{xml}"
    );
}

#[test]
fn dispatch_routes_every_modelled_action() {
    let p = principal();
    let ctx = Context {
        principal: &p,
        request_id: "req-9",
        client_tokens: None,
        ec2: None,
    };
    let call = |svc, q: &str| dispatch_params(svc, &Params::parse(Some(q), None), &ctx);

    let body = call(
        QueryService::Sts,
        "Action=GetCallerIdentity&Version=2011-06-15",
    )
    .expect("implemented");
    assert_eq!(
        body,
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<GetCallerIdentityResponse xmlns=\"https://sts.amazonaws.com/doc/2011-06-15/\">\
         <GetCallerIdentityResult><Account>123456789012</Account><Arn>arn:aws:iam::123456789012:root</Arn>\
         <UserId>123456789012</UserId></GetCallerIdentityResult><ResponseMetadata><RequestId>req-9</RequestId>\
         </ResponseMetadata></GetCallerIdentityResponse>"
    );
    let e = call(QueryService::Ec2, "Action=DescribeNothing").expect_err("unknown");
    assert_eq!(e.code, "InvalidAction");
    for svc in [
        QueryService::Ec2,
        QueryService::Elbv2,
        QueryService::Sts,
        QueryService::Iam,
    ] {
        for op in svc.model().operations {
            if svc == QueryService::Sts && op.name == "GetCallerIdentity" {
                continue;
            }
            let e = call(svc, &format!("Action={}", op.name)).expect_err("not implemented");
            // Implemented EC2/ELBv2 actions reach their handler, which answers
            // UnsupportedOperation for the missing control plane (`ec2: None` here).
            let no_plane = matches!(svc, QueryService::Ec2 | QueryService::Elbv2)
                && e.message.contains("EC2 on this endpoint");
            assert!(
                e.code == "UnsupportedOperation" && (e.message.contains(op.name) || no_plane)
                    || e.code == "MissingParameter",
                "{}: {e:?}",
                op.name
            );
        }
    }
    let e = call(QueryService::Ec2, "Action=RunInstances").expect_err("validated first");
    assert_eq!(e.code, "MissingParameter");
}

#[test]
fn node_trees_survive_the_typed_layer() {
    for svc in [
        QueryService::Ec2,
        QueryService::Elbv2,
        QueryService::Sts,
        QueryService::Iam,
    ] {
        for op in svc.model().operations {
            if op.input.is_some() {
                assert!(
                    (op.retype_input)(Node::Struct(Vec::new())).is_some(),
                    "{}",
                    op.name
                );
            }
        }
    }
}

mod hygiene {
    use std::sync::Arc;

    use kumo_core::query::idempotency::ClientTokens;

    use super::*;
    use crate::dispatch::tests_support::run_with;

    fn reservation(_: &Context<'_>, input: Node) -> Result<Node, QueryError> {
        let req = ec2::RunInstancesRequest::from_node(input).expect("typed");
        Ok(ec2::Reservation {
            reservation_id: Some(format!("r-{}", req.max_count.unwrap_or_default())),
            ..Default::default()
        }
        .to_node())
    }

    #[test]
    fn dry_run_answers_412_without_running() {
        let p = principal();
        let ctx = Context {
            principal: &p,
            request_id: "r1",
            client_tokens: None,
            ec2: None,
        };
        let params = Params::parse(
            Some("Action=RunInstances&MinCount=1&MaxCount=1&DryRun=true"),
            None,
        );
        let e = run_with(QueryService::Ec2, &params, &ctx, |_, _| {
            panic!("must not run")
        })
        .expect_err("dry run");
        assert_eq!(
            (e.code.as_str(), e.status.as_u16()),
            ("DryRunOperation", 412)
        );
    }

    #[test]
    fn client_token_replays_first_result_and_refuses_other_params() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store =
            kumo_state_redb::RedbStateStore::open(&dir.path().join("s.redb")).expect("open");
        let tokens = ClientTokens::new(Arc::new(store));
        let p = principal();
        let call = |rid: &str, q: &str| {
            let ctx = Context {
                principal: &p,
                request_id: rid,
                client_tokens: Some(&tokens),
                ec2: None,
            };
            run_with(
                QueryService::Ec2,
                &Params::parse(Some(q), None),
                &ctx,
                reservation,
            )
        };
        let first = call(
            "req-a",
            "Action=RunInstances&MinCount=1&MaxCount=3&ClientToken=abc",
        )
        .expect("first");
        assert!(
            first.contains("<requestId>req-a</requestId><reservationId>r-3</reservationId>"),
            "{first}"
        );
        let again = call(
            "req-b",
            "Action=RunInstances&MaxCount=3&MinCount=1&ClientToken=abc",
        )
        .expect("replay");
        assert_eq!(again, first.replace("req-a", "req-b"));
        let e = call(
            "req-c",
            "Action=RunInstances&MinCount=1&MaxCount=4&ClientToken=abc",
        )
        .expect_err("mismatch");
        assert_eq!(e.code, "IdempotentParameterMismatch");
        let other = call(
            "req-d",
            "Action=RunInstances&MinCount=1&MaxCount=4&ClientToken=def",
        )
        .expect("new token");
        assert!(other.contains("r-4"));
    }
}
