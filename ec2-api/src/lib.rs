//! The Query-protocol front of Kumo: EC2's `ec2Query`, and `awsQuery` for ELBv2, STS and IAM.
//!
//! A request arrives here once the server has routed it by its SigV4 credential scope. This
//! crate authenticates it ([`sigv4`]), decodes the form parameters ([`params`]), dispatches the
//! action ([`dispatch`]), and writes the XML response or the protocol's error shape
//! ([`error`], [`xml`]). It decides nothing itself: the core does.

pub mod dispatch;
pub mod error;
pub mod generated;
pub mod params;
pub mod query;
pub mod sigv4;
pub mod sts;
pub mod xml;

pub use dispatch::{QueryFront, QueryRequest, QueryResponse, QueryService};
pub use error::{QueryError, ServiceProtocol};
