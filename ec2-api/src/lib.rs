//! The Query-protocol front of Kumo: EC2's `ec2Query`, and `awsQuery` for ELBv2, STS and IAM.
//!
//! A request arrives here once the server has routed it by its SigV4 credential scope. This
//! crate authenticates it ([`sigv4`]), decodes the form parameters ([`params`]), dispatches the
//! action ([`dispatch`]), and writes the XML response or the protocol's error shape
//! ([`error`], [`xml`]). It decides nothing itself: the core does.
//!
//! The wire types of all four services are generated from botocore's models into
//! [`generated`] (`cargo xtask codegen`); [`query`] is the hand-written runtime they run on —
//! the form decoder, the XML encoder and the shared hygiene (DryRun, ClientToken, filters,
//! pagination) — so every modelled operation is decoded, validated and answered the same way.

pub mod dispatch;
pub mod ec2;
pub mod elbv2;
pub mod error;
pub mod generated;
pub mod params;
pub mod query;
pub mod sigv4;
pub mod sts;
pub mod xml;

pub use dispatch::{QueryFront, QueryRequest, QueryResponse, QueryService};
pub use error::{QueryError, ServiceProtocol};
