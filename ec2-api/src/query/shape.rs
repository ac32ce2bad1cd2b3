//! The static shape tables the generator writes: a service's operations, and for every shape
//! how it is named and nested on the wire.

use super::Protocol;
use super::node::Node;

/// A structure member.
#[derive(Debug)]
pub struct Member {
    /// Name in the model (and in SDK parameter dictionaries).
    pub name: &'static str,
    /// Name in request parameters (ec2: `queryName` or capitalised `locationName`; awsQuery: `locationName`).
    pub query: &'static str,
    /// Element name in responses.
    pub xml: &'static str,
    /// Listed as required in the model.
    pub required: bool,
    /// Target shape.
    pub shape: &'static Shape,
}

/// A structure.
#[derive(Debug)]
pub struct StructShape {
    /// Shape name.
    pub name: &'static str,
    /// Members, in the generated types' field order.
    pub members: &'static [Member],
}

/// A list.
#[derive(Debug)]
pub struct ListShape {
    /// Element shape.
    pub member: &'static Shape,
    /// The element's `locationName` (`item` in EC2 responses; awsQuery defaults to `member`).
    pub member_name: Option<&'static str>,
    /// Elements repeated in place rather than wrapped.
    pub flattened: bool,
}

/// A map.
#[derive(Debug)]
pub struct MapShape {
    /// Key shape.
    pub key: &'static Shape,
    /// Value shape.
    pub value: &'static Shape,
    /// Key element/parameter name (`key` by default).
    pub key_name: &'static str,
    /// Value element/parameter name (`value` by default).
    pub value_name: &'static str,
    /// Entries repeated in place rather than wrapped in `entry`.
    pub flattened: bool,
}

/// A shape.
#[derive(Debug)]
pub enum Shape {
    /// A structure.
    Structure(StructShape),
    /// A list.
    List(ListShape),
    /// A map with string keys.
    Map(MapShape),
    /// A string; the allowed values when it is an enum, else empty.
    String(&'static [&'static str]),
    /// 32-bit integer with the model's bounds.
    Integer {
        /// Minimum.
        min: Option<i64>,
        /// Maximum.
        max: Option<i64>,
    },
    /// 64-bit integer with the model's bounds.
    Long {
        /// Minimum.
        min: Option<i64>,
        /// Maximum.
        max: Option<i64>,
    },
    /// f32.
    Float,
    /// f64.
    Double,
    /// Boolean.
    Boolean,
    /// Timestamp (ISO 8601 on the wire).
    Timestamp,
    /// Bytes (base64 on the wire).
    Blob,
}

/// One operation of a service.
#[derive(Debug)]
pub struct Operation {
    /// The `Action` name.
    pub name: &'static str,
    /// Input structure.
    pub input: Option<&'static Shape>,
    /// Output structure.
    pub output: Option<&'static Shape>,
    /// awsQuery's `<OpResult>` wrapper element.
    pub result_wrapper: Option<&'static str>,
    /// A decoded input node through the operation's typed input and back: lets tests and the
    /// fuzz target exercise the typed layer of every operation without a handler.
    pub retype_input: fn(Node) -> Option<Node>,
    /// The same for the output.
    pub retype_output: fn(Node) -> Option<Node>,
}

/// A modelled error.
#[derive(Debug)]
pub struct ErrorInfo {
    /// Error shape name.
    pub shape: &'static str,
    /// Wire code.
    pub code: &'static str,
    /// HTTP status.
    pub status: u16,
}

/// A service.
#[derive(Debug)]
pub struct Service {
    /// Module name (`ec2`, `elbv2`, `sts`, `iam`).
    pub name: &'static str,
    /// Wire protocol.
    pub protocol: Protocol,
    /// The `Version` clients send.
    pub api_version: &'static str,
    /// Response namespace.
    pub xml_namespace: &'static str,
    /// Operations sorted by name.
    pub operations: &'static [Operation],
    /// Modelled errors.
    pub errors: &'static [ErrorInfo],
}

impl Service {
    /// The operation named by `action`, if the model has it.
    #[must_use]
    pub fn operation(&self, action: &str) -> Option<&'static Operation> {
        let ops: &'static [Operation] = self.operations;
        ops.binary_search_by(|op| op.name.cmp(action))
            .ok()
            .and_then(|i| ops.get(i))
    }

    /// The modelled error with wire code `code`.
    #[must_use]
    pub fn error(&self, code: &str) -> Option<&'static ErrorInfo> {
        let errors: &'static [ErrorInfo] = self.errors;
        errors.iter().find(|e| e.code == code)
    }
}
