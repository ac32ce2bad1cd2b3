//! The subset of a botocore `service-2.json` that the wire protocols need, read into plain
//! Rust values. Documentation text is never read: the generated code must not copy it.
//!
//! botocore resolves a member reference by overlaying the reference's own traits
//! (`locationName`, `queryName`, `flattened`, …) on the target shape's traits; [`Traits`]
//! does the same, so a shape-level `locationName` applies wherever a member does not override it.

use std::collections::BTreeMap;

use anyhow::{Context, Result, bail};
use serde_json::Value;

/// Serialisation traits of a shape or member reference.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Traits {
    /// `locationName`.
    pub location_name: Option<String>,
    /// `queryName` (ec2 only).
    pub query_name: Option<String>,
    /// `flattened`.
    pub flattened: bool,
}

impl Traits {
    fn read(v: &Value) -> Self {
        Self {
            location_name: v
                .get("locationName")
                .and_then(Value::as_str)
                .map(str::to_owned),
            query_name: v
                .get("queryName")
                .and_then(Value::as_str)
                .map(str::to_owned),
            flattened: v.get("flattened").and_then(Value::as_bool).unwrap_or(false),
        }
    }

    /// `self` (a reference's traits) over `base` (the target shape's).
    #[must_use]
    pub fn over(&self, base: &Self) -> Self {
        Self {
            location_name: self
                .location_name
                .clone()
                .or_else(|| base.location_name.clone()),
            query_name: self.query_name.clone().or_else(|| base.query_name.clone()),
            flattened: self.flattened || base.flattened,
        }
    }
}

/// A reference to a shape, with the reference's own traits.
#[derive(Debug, Clone)]
pub struct ShapeRef {
    /// Target shape name.
    pub shape: String,
    /// Traits written on the reference.
    pub traits: Traits,
}

impl ShapeRef {
    fn read(v: &Value, what: &str) -> Result<Self> {
        let shape = v
            .get("shape")
            .and_then(Value::as_str)
            .with_context(|| format!("{what}: no target shape"))?
            .to_owned();
        Ok(Self {
            shape,
            traits: Traits::read(v),
        })
    }
}

/// A structure member.
#[derive(Debug, Clone)]
pub struct Member {
    /// Member name as in the model.
    pub name: String,
    /// The reference.
    pub target: ShapeRef,
    /// Listed in the structure's `required`.
    pub required: bool,
}

/// A modelled error (`"exception": true`).
#[derive(Debug, Clone)]
pub struct ErrorTrait {
    /// Wire code (`error.code`, else the shape name).
    pub code: String,
    /// HTTP status (`error.httpStatusCode`, else 400).
    pub status: u16,
}

/// What a shape is.
#[derive(Debug, Clone)]
pub enum Kind {
    /// A structure.
    Structure {
        /// Members in model order.
        members: Vec<Member>,
        /// Set when it is an error shape.
        error: Option<ErrorTrait>,
    },
    /// A list.
    List {
        /// Element reference.
        member: ShapeRef,
    },
    /// A map.
    Map {
        /// Key reference.
        key: ShapeRef,
        /// Value reference.
        value: ShapeRef,
    },
    /// A string, possibly an enum.
    String {
        /// Enum values, empty when free-form.
        values: Vec<String>,
    },
    /// 32-bit integer.
    Integer {
        /// Minimum.
        min: Option<i64>,
        /// Maximum.
        max: Option<i64>,
    },
    /// 64-bit integer.
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
    /// bool.
    Boolean,
    /// A point in time.
    Timestamp,
    /// Bytes.
    Blob,
}

/// One shape.
#[derive(Debug, Clone)]
pub struct Shape {
    /// Kind and contents.
    pub kind: Kind,
    /// The shape's own traits.
    pub traits: Traits,
}

/// One operation.
#[derive(Debug, Clone)]
pub struct Operation {
    /// Input shape name.
    pub input: Option<String>,
    /// Output shape name.
    pub output: Option<String>,
    /// awsQuery `resultWrapper`.
    pub result_wrapper: Option<String>,
}

/// A service model.
#[derive(Debug, Clone)]
pub struct Model {
    /// `metadata.protocol`.
    pub protocol: String,
    /// `metadata.apiVersion`.
    pub api_version: String,
    /// `metadata.xmlNamespace`.
    pub xml_namespace: String,
    /// Operations by name.
    pub operations: BTreeMap<String, Operation>,
    /// Shapes by name.
    pub shapes: BTreeMap<String, Shape>,
}

fn opt_i64(v: &Value, key: &str) -> Option<i64> {
    v.get(key)
        .and_then(|x| x.as_i64().or_else(|| x.as_f64().map(|f| f as i64)))
}

impl Model {
    /// Reads a decompressed `service-2.json`.
    pub fn from_json(doc: &Value) -> Result<Self> {
        let meta = doc.get("metadata").context("no metadata")?;
        let text = |k: &str| {
            meta.get(k)
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_owned()
        };
        let mut shapes = BTreeMap::new();
        for (name, s) in doc
            .get("shapes")
            .and_then(Value::as_object)
            .context("no shapes")?
        {
            shapes.insert(name.clone(), Self::read_shape(name, s)?);
        }
        let mut operations = BTreeMap::new();
        for (name, op) in doc
            .get("operations")
            .and_then(Value::as_object)
            .context("no operations")?
        {
            let shape_of = |k: &str| {
                op.get(k)
                    .and_then(|v| v.get("shape"))
                    .and_then(Value::as_str)
                    .map(str::to_owned)
            };
            operations.insert(
                name.clone(),
                Operation {
                    input: shape_of("input"),
                    output: shape_of("output"),
                    result_wrapper: op
                        .get("output")
                        .and_then(|v| v.get("resultWrapper"))
                        .and_then(Value::as_str)
                        .map(str::to_owned),
                },
            );
        }
        let model = Self {
            protocol: text("protocol"),
            api_version: text("apiVersion"),
            xml_namespace: text("xmlNamespace"),
            operations,
            shapes,
        };
        model.check_refs()?;
        Ok(model)
    }

    fn read_shape(name: &str, s: &Value) -> Result<Shape> {
        let ty = s
            .get("type")
            .and_then(Value::as_str)
            .with_context(|| format!("shape {name}: no type"))?;
        let kind = match ty {
            "structure" => {
                let required: Vec<&str> = s
                    .get("required")
                    .and_then(Value::as_array)
                    .map(|a| a.iter().filter_map(Value::as_str).collect())
                    .unwrap_or_default();
                let mut members = Vec::new();
                if let Some(obj) = s.get("members").and_then(Value::as_object) {
                    for (m, r) in obj {
                        members.push(Member {
                            name: m.clone(),
                            target: ShapeRef::read(r, &format!("{name}.{m}"))?,
                            required: required.contains(&m.as_str()),
                        });
                    }
                }
                let error = s
                    .get("exception")
                    .and_then(Value::as_bool)
                    .unwrap_or(false)
                    .then(|| {
                        let e = s.get("error");
                        ErrorTrait {
                            code: e
                                .and_then(|e| e.get("code"))
                                .and_then(Value::as_str)
                                .unwrap_or(name)
                                .to_owned(),
                            status: e
                                .and_then(|e| e.get("httpStatusCode"))
                                .and_then(Value::as_u64)
                                .and_then(|n| u16::try_from(n).ok())
                                .unwrap_or(400),
                        }
                    });
                Kind::Structure { members, error }
            }
            "list" => Kind::List {
                member: ShapeRef::read(s.get("member").context("list without member")?, name)?,
            },
            "map" => Kind::Map {
                key: ShapeRef::read(s.get("key").context("map without key")?, name)?,
                value: ShapeRef::read(s.get("value").context("map without value")?, name)?,
            },
            "string" => Kind::String {
                values: s
                    .get("enum")
                    .and_then(Value::as_array)
                    .map(|a| {
                        a.iter()
                            .filter_map(Value::as_str)
                            .map(str::to_owned)
                            .collect()
                    })
                    .unwrap_or_default(),
            },
            "integer" => Kind::Integer {
                min: opt_i64(s, "min"),
                max: opt_i64(s, "max"),
            },
            "long" => Kind::Long {
                min: opt_i64(s, "min"),
                max: opt_i64(s, "max"),
            },
            "float" => Kind::Float,
            "double" => Kind::Double,
            "boolean" => Kind::Boolean,
            "timestamp" => Kind::Timestamp,
            "blob" => Kind::Blob,
            other => bail!("shape {name}: unsupported type {other}"),
        };
        Ok(Shape {
            kind,
            traits: Traits::read(s),
        })
    }

    fn check_refs(&self) -> Result<()> {
        let known = |r: &ShapeRef| -> Result<()> {
            if self.shapes.contains_key(&r.shape) {
                Ok(())
            } else {
                bail!("reference to unknown shape {}", r.shape)
            }
        };
        for s in self.shapes.values() {
            match &s.kind {
                Kind::Structure { members, .. } => {
                    members.iter().try_for_each(|m| known(&m.target))?
                }
                Kind::List { member } => known(member)?,
                Kind::Map { key, value } => {
                    known(key)?;
                    known(value)?;
                }
                _ => {}
            }
        }
        for op in self.operations.values() {
            for s in [&op.input, &op.output].into_iter().flatten() {
                if !matches!(
                    self.shapes.get(s).map(|x| &x.kind),
                    Some(Kind::Structure { .. })
                ) {
                    bail!("operation shape {s} is not a structure");
                }
            }
        }
        Ok(())
    }

    /// The shape named `name` (references were checked on load).
    #[must_use]
    pub fn shape(&self, name: &str) -> &Shape {
        &self.shapes[name]
    }

    /// A reference's effective traits: its own over its target's.
    #[must_use]
    pub fn traits_of(&self, r: &ShapeRef) -> Traits {
        r.traits.over(&self.shape(&r.shape).traits)
    }
}
