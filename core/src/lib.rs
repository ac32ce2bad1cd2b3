//! Kumo's core: the resource model and its rules.
//!
//! The protocol crates (`kumo-s3-api`, `kumo-ec2-api`) turn wire requests into calls on the
//! services here and turn the results back into wire responses; the core decides. It knows the
//! seam traits of `kumo-driver-api` and nothing of HTTP, XML or any concrete backend.
//!
//! Architecture invariant: nothing in this crate depends on hyper, s3s, quick-xml or a driver
//! crate. Errors carry no HTTP or wire details, with one documented exception: EC2's and
//! ELBv2's client error codes ([`ec2::Fault`]) are the resource model's own vocabulary.

pub mod compute;
pub mod ec2;
pub mod elbv2;
pub mod error;
pub mod iam;
pub mod ids;
pub mod query;
pub mod records;
pub mod s3;

pub use error::{Error, Result};
