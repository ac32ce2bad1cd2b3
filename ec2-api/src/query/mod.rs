//! The Query-protocol runtime the generated code runs on.
//!
//! `generated/` holds, per service, plain Rust types plus static shape tables taken from the
//! botocore models. Everything protocol-specific is here, written once and driven by those
//! tables: [`decode`] turns form parameters into a [`Node`] tree (validating required members,
//! ranges and enums), [`Typed`] converts between nodes and the generated types, and [`encode`]
//! writes a node as the protocol's XML. Keeping the per-type generated code to one line per
//! member is what keeps the ~2,400 EC2 structures cheap to compile.

pub mod decode;
pub mod encode;
pub mod fingerprint;
pub mod hygiene;
mod node;
mod shape;

pub use crate::error::ServiceProtocol as Protocol;
pub use node::{
    Blob, Node, Structure, Timestamp, Typed, enum_from_node, put, retype, retype_none, take,
};
pub use shape::{ErrorInfo, ListShape, MapShape, Member, Operation, Service, Shape, StructShape};

#[cfg(test)]
mod tests;
