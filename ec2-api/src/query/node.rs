//! [`Node`]: a decoded value, shaped by the tables rather than by Rust types, and [`Typed`]:
//! the conversion between nodes and the generated types. The decoder validates against the
//! tables while building nodes, so a conversion that fails means a table and a type disagree —
//! which the generator rules out; it answers `None` rather than panicking all the same.

use std::collections::BTreeMap;

/// A point in time.
pub type Timestamp = time::OffsetDateTime;

/// Bytes carried as base64 on the wire.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Blob(pub Vec<u8>);

/// A decoded value.
#[derive(Debug, Clone, PartialEq)]
pub enum Node {
    /// String or enum value.
    Str(String),
    /// Integer or long.
    Int(i64),
    /// Float or double.
    Float(f64),
    /// Boolean.
    Bool(bool),
    /// Timestamp.
    Time(Timestamp),
    /// Blob.
    Blob(Vec<u8>),
    /// List elements.
    List(Vec<Node>),
    /// Map entries, in key order.
    Map(Vec<(String, Node)>),
    /// Structure members, indexed like the shape's members; `None` when absent.
    Struct(Vec<Option<Node>>),
}

impl Node {
    /// The members of a structure node.
    #[must_use]
    pub fn into_fields(self) -> Option<Vec<Option<Node>>> {
        match self {
            Self::Struct(f) => Some(f),
            _ => None,
        }
    }
}

/// A generated type (or a primitive) that converts to and from a [`Node`].
pub trait Typed: Sized {
    /// From a node of the matching shape.
    fn from_node(node: Node) -> Option<Self>;
    /// To a node.
    fn to_node(&self) -> Node;
}

/// A generated structure, with its shape table.
pub trait Structure: Typed {
    /// The structure's shape.
    const SHAPE: &'static super::Shape;
}

/// Takes member `i` of a structure's fields and converts it.
pub fn take<T: Typed>(fields: &mut [Option<Node>], i: usize) -> Option<T> {
    fields.get_mut(i)?.take().and_then(T::from_node)
}

/// A member's node.
pub fn put<T: Typed>(value: &Option<T>) -> Option<Node> {
    value.as_ref().map(T::to_node)
}

/// Converts a node through `T` and back.
pub fn retype<T: Typed>(node: Node) -> Option<Node> {
    T::from_node(node).map(|t| t.to_node())
}

/// For operations without an input or output: nothing to convert.
#[must_use]
pub fn retype_none(_: Node) -> Option<Node> {
    None
}

/// An enum from its wire value.
pub fn enum_from_node<E: Copy>(node: Node, values: &[&str], all: &[E]) -> Option<E> {
    let Node::Str(s) = node else { return None };
    values
        .iter()
        .position(|v| *v == s)
        .and_then(|i| all.get(i).copied())
}

impl Typed for String {
    fn from_node(node: Node) -> Option<Self> {
        match node {
            Node::Str(s) => Some(s),
            _ => None,
        }
    }
    fn to_node(&self) -> Node {
        Node::Str(self.clone())
    }
}

impl Typed for i32 {
    fn from_node(node: Node) -> Option<Self> {
        match node {
            Node::Int(n) => Self::try_from(n).ok(),
            _ => None,
        }
    }
    fn to_node(&self) -> Node {
        Node::Int(i64::from(*self))
    }
}

impl Typed for i64 {
    fn from_node(node: Node) -> Option<Self> {
        match node {
            Node::Int(n) => Some(n),
            _ => None,
        }
    }
    fn to_node(&self) -> Node {
        Node::Int(*self)
    }
}

impl Typed for f64 {
    fn from_node(node: Node) -> Option<Self> {
        match node {
            Node::Float(n) => Some(n),
            _ => None,
        }
    }
    fn to_node(&self) -> Node {
        Node::Float(*self)
    }
}

impl Typed for f32 {
    fn from_node(node: Node) -> Option<Self> {
        match node {
            #[allow(clippy::cast_possible_truncation)]
            Node::Float(n) => Some(n as f32),
            _ => None,
        }
    }
    fn to_node(&self) -> Node {
        Node::Float(f64::from(*self))
    }
}

impl Typed for bool {
    fn from_node(node: Node) -> Option<Self> {
        match node {
            Node::Bool(b) => Some(b),
            _ => None,
        }
    }
    fn to_node(&self) -> Node {
        Node::Bool(*self)
    }
}

impl Typed for Timestamp {
    fn from_node(node: Node) -> Option<Self> {
        match node {
            Node::Time(t) => Some(t),
            _ => None,
        }
    }
    fn to_node(&self) -> Node {
        Node::Time(*self)
    }
}

impl Typed for Blob {
    fn from_node(node: Node) -> Option<Self> {
        match node {
            Node::Blob(b) => Some(Self(b)),
            _ => None,
        }
    }
    fn to_node(&self) -> Node {
        Node::Blob(self.0.clone())
    }
}

impl<T: Typed> Typed for Box<T> {
    fn from_node(node: Node) -> Option<Self> {
        T::from_node(node).map(Box::new)
    }
    fn to_node(&self) -> Node {
        (**self).to_node()
    }
}

impl<T: Typed> Typed for Vec<T> {
    fn from_node(node: Node) -> Option<Self> {
        match node {
            Node::List(items) => items.into_iter().map(T::from_node).collect(),
            _ => None,
        }
    }
    fn to_node(&self) -> Node {
        Node::List(self.iter().map(T::to_node).collect())
    }
}

impl<T: Typed> Typed for BTreeMap<String, T> {
    fn from_node(node: Node) -> Option<Self> {
        match node {
            Node::Map(entries) => entries
                .into_iter()
                .map(|(k, v)| T::from_node(v).map(|v| (k, v)))
                .collect(),
            _ => None,
        }
    }
    fn to_node(&self) -> Node {
        Node::Map(self.iter().map(|(k, v)| (k.clone(), v.to_node())).collect())
    }
}

/// The output of an operation that returns nothing (`<return>true</return>` in EC2's words):
/// an empty structure, which the encoder writes as the bare response.
impl Typed for () {
    fn from_node(_node: Node) -> Option<Self> {
        Some(())
    }
    fn to_node(&self) -> Node {
        Node::Struct(Vec::new())
    }
}
