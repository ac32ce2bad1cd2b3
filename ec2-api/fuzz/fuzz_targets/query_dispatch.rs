//! Fuzzes the Query decoder and dispatch: no input may panic, hang or answer anything but a
//! response or an AWS-shaped error.
//!
//! The first byte picks the service; when its high bit is clear the next two bytes pick one of
//! the service's modelled operations and the rest is its form body (so every operation's
//! decoder is reached quickly), otherwise the whole rest is the form body, `Action` included.
//!
//! Run: `cd ec2-api/fuzz && cargo +nightly fuzz run query_dispatch -- -max_total_time=60`

#![no_main]

use kumo_core::iam::Principal;
use kumo_ec2_api::QueryService;
use kumo_ec2_api::dispatch::{Context, dispatch_params};
use kumo_ec2_api::params::Params;
use libfuzzer_sys::fuzz_target;

const SERVICES: [QueryService; 4] = [
    QueryService::Ec2,
    QueryService::Elbv2,
    QueryService::Sts,
    QueryService::Iam,
];

fuzz_target!(|data: &[u8]| {
    let Some((&selector, rest)) = data.split_first() else {
        return;
    };
    let service = SERVICES[usize::from(selector & 3)];
    let body: Vec<u8> = if selector & 0x80 == 0 && rest.len() >= 2 {
        let ops = service.model().operations;
        let op = &ops[usize::from(u16::from_le_bytes([rest[0], rest[1]])) % ops.len()];
        let mut b = format!("Action={}&", op.name).into_bytes();
        b.extend_from_slice(&rest[2..]);
        b
    } else {
        rest.to_vec()
    };
    let params = Params::parse(None, Some(&body));
    let principal = Principal {
        account_id: "123456789012".into(),
        user_id: "123456789012".into(),
        arn: "arn:aws:iam::123456789012:root".into(),
        access_key_id: "AKIDFUZZ".into(),
    };
    let ctx = Context {
        principal: &principal,
        request_id: "fuzz",
        client_tokens: None,
    };
    match dispatch_params(service, &params, &ctx) {
        Ok(xml) => assert!(xml.starts_with("<?xml")),
        Err(e) => {
            assert!(!e.code.is_empty());
            assert!(!e.status.is_server_error(), "{e:?}");
            let _ = e.to_xml(service.protocol(), "fuzz");
        }
    }
    // Also push whatever decodes through the typed layer of its operation.
    if let Some(op) = params.action().and_then(|a| service.model().operation(a))
        && let Some(shape) = op.input
        && let Ok(node) =
            kumo_ec2_api::query::decode::decode_input(service.model().protocol, shape, &params)
    {
        assert!((op.retype_input)(node).is_some());
    }
});
