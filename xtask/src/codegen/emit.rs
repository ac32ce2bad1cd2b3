//! Writes one service's Rust module: a plain type per structure and enum, a small
//! `Typed` impl per type (conversion to and from the runtime's `Node`), and static shape tables
//! that drive the hand-written decoder and encoder in `ec2-api/src/query/`.
//!
//! Compile time matters more than elegance here: EC2 alone has ~2,400 structures. So the
//! per-type code is one line per member, no serde, and all protocol logic lives in the
//! runtime, driven by the tables.

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::fmt::Write as _;

use super::model::{Kind, Model, ShapeRef};
use super::names;

/// What the generator needs to know about a service beyond its model.
#[derive(Debug, Clone, Copy)]
pub struct ServiceSpec {
    /// Module and file name in `ec2-api/src/generated/`.
    pub module: &'static str,
    /// Directory under `botocore/data/`.
    pub model_dir: &'static str,
    /// API version directory.
    pub version: &'static str,
    /// Human name for the module doc.
    pub title: &'static str,
}

/// Rust names assigned to the model's shapes.
struct Names {
    types: BTreeMap<String, String>,
    statics: BTreeMap<String, String>,
}

impl Names {
    fn assign(model: &Model) -> Self {
        let mut types = BTreeMap::new();
        let mut statics = BTreeMap::new();
        let mut used_types = HashSet::new();
        let mut used_statics = HashSet::new();
        for (name, shape) in &model.shapes {
            let named_type = matches!(&shape.kind, Kind::Structure { .. })
                || matches!(&shape.kind, Kind::String { values } if !values.is_empty());
            if named_type {
                types.insert(
                    name.clone(),
                    unique(&mut used_types, names::type_name(name)),
                );
            }
            statics.insert(
                name.clone(),
                unique(&mut used_statics, names::static_name(name)),
            );
        }
        Self { types, statics }
    }
}

fn unique(used: &mut HashSet<String>, base: String) -> String {
    let mut candidate = base.clone();
    let mut n = 2;
    while !used.insert(candidate.clone()) {
        candidate = format!("{base}{n}");
        n += 1;
    }
    candidate
}

/// Structures reachable from each structure through direct (non-list, non-map) members: a
/// member whose target reaches back to its container must be boxed.
fn direct_reach(model: &Model) -> BTreeMap<&str, BTreeSet<&str>> {
    let mut edges: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for (name, s) in &model.shapes {
        if let Kind::Structure { members, .. } = &s.kind {
            let e = edges.entry(name.as_str()).or_default();
            for m in members {
                if matches!(model.shape(&m.target.shape).kind, Kind::Structure { .. }) {
                    e.push(m.target.shape.as_str());
                }
            }
        }
    }
    let mut reach = BTreeMap::new();
    for &start in edges.keys() {
        let mut seen = BTreeSet::new();
        let mut stack: Vec<&str> = edges[start].clone();
        while let Some(n) = stack.pop() {
            if seen.insert(n) {
                stack.extend(edges.get(n).into_iter().flatten().copied());
            }
        }
        reach.insert(start, seen);
    }
    reach
}

struct Emitter<'a> {
    model: &'a Model,
    names: Names,
    ec2: bool,
    out: String,
}

impl Emitter<'_> {
    fn rust_type(&self, shape: &str) -> String {
        match &self.model.shape(shape).kind {
            Kind::Structure { .. } => self.names.types[shape].clone(),
            Kind::List { member } => format!("Vec<{}>", self.rust_type(&member.shape)),
            Kind::Map { value, .. } => {
                format!("BTreeMap<String, {}>", self.rust_type(&value.shape))
            }
            Kind::String { values } if values.is_empty() => "String".to_owned(),
            Kind::String { .. } => self.names.types[shape].clone(),
            Kind::Integer { .. } => "i32".to_owned(),
            Kind::Long { .. } => "i64".to_owned(),
            Kind::Float => "f32".to_owned(),
            Kind::Double => "f64".to_owned(),
            Kind::Boolean => "bool".to_owned(),
            Kind::Timestamp => "rt::Timestamp".to_owned(),
            Kind::Blob => "rt::Blob".to_owned(),
        }
    }

    fn static_ref(&self, r: &ShapeRef) -> String {
        format!("&{}", self.names.statics[&r.shape])
    }

    /// The name a member is sent under in a request.
    fn query_name(&self, member: &str, r: &ShapeRef) -> String {
        let t = self.model.traits_of(r);
        if self.ec2 {
            t.query_name
                .or_else(|| t.location_name.as_deref().map(names::capitalise))
                .unwrap_or_else(|| member.to_owned())
        } else {
            t.location_name.unwrap_or_else(|| member.to_owned())
        }
    }

    /// The element name a member is written under in a response (botocore's `_member_key_name`).
    fn xml_name(&self, member: &str, r: &ShapeRef) -> String {
        let t = self.model.traits_of(r);
        if let Kind::List { member: item } = &self.model.shape(&r.shape).kind
            && t.flattened
            && let Some(n) = self.model.traits_of(item).location_name
        {
            return n;
        }
        t.location_name.unwrap_or_else(|| member.to_owned())
    }

    fn structure(&mut self, name: &str, reach: &BTreeMap<&str, BTreeSet<&str>>) {
        let Kind::Structure { members, .. } = &self.model.shape(name).kind else {
            return;
        };
        let ty = &self.names.types[name];
        let mut used = HashSet::new();
        let fields: Vec<String> = members
            .iter()
            .map(|m| unique(&mut used, names::field_name(&m.name)))
            .collect();
        let derive_eq = "#[derive(Debug, Clone, Default, PartialEq)]";
        let _ = writeln!(self.out, "\n{derive_eq}\npub struct {ty} {{");
        let mut boxed = Vec::new();
        for (m, f) in members.iter().zip(&fields) {
            let target = &m.target.shape;
            let is_box = matches!(self.model.shape(target).kind, Kind::Structure { .. })
                && reach.get(target.as_str()).is_some_and(|r| r.contains(name))
                || target == name;
            boxed.push(is_box);
            let t = self.rust_type(target);
            let t = if is_box { format!("Box<{t}>") } else { t };
            let _ = writeln!(self.out, "    pub {f}: Option<{t}>,");
        }
        let _ = writeln!(self.out, "}}");
        let _ = writeln!(self.out, "impl rt::Typed for {ty} {{");
        if members.is_empty() {
            let _ = writeln!(
                self.out,
                "    fn from_node(node: rt::Node) -> Option<Self> {{ node.into_fields().map(|_| Self {{}}) }}\n    \
                 fn to_node(&self) -> rt::Node {{ rt::Node::Struct(Vec::new()) }}"
            );
        } else {
            let _ = writeln!(
                self.out,
                "    fn from_node(node: rt::Node) -> Option<Self> {{"
            );
            let _ = writeln!(self.out, "        let mut f = node.into_fields()?;");
            let _ = writeln!(self.out, "        Some(Self {{");
            for (i, f) in fields.iter().enumerate() {
                let _ = writeln!(self.out, "            {f}: rt::take(&mut f, {i}),");
            }
            let _ = writeln!(self.out, "        }})\n    }}");
            let _ = writeln!(self.out, "    fn to_node(&self) -> rt::Node {{");
            let _ = writeln!(self.out, "        rt::Node::Struct(vec![");
            for f in &fields {
                let _ = writeln!(self.out, "            rt::put(&self.{f}),");
            }
            let _ = writeln!(self.out, "        ])\n    }}");
        }
        let _ = writeln!(self.out, "}}");
        let st = &self.names.statics[name];
        let _ = writeln!(
            self.out,
            "impl rt::Structure for {ty} {{\n    const SHAPE: &'static rt::Shape = &{st};\n}}"
        );
    }

    fn enumeration(&mut self, name: &str, values: &[String]) {
        let ty = &self.names.types[name];
        let mut used = HashSet::new();
        let variants: Vec<String> = values
            .iter()
            .map(|v| unique(&mut used, names::variant_name(v)))
            .collect();
        let n = values.len();
        let _ = writeln!(
            self.out,
            "\n#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]\npub enum {ty} {{"
        );
        for v in &variants {
            let _ = writeln!(self.out, "    {v},");
        }
        let _ = writeln!(self.out, "}}\nimpl {ty} {{");
        let all = variants
            .iter()
            .map(|v| format!("Self::{v}"))
            .collect::<Vec<_>>()
            .join(", ");
        let vals = values
            .iter()
            .map(|v| format!("{v:?}"))
            .collect::<Vec<_>>()
            .join(", ");
        let _ = writeln!(self.out, "    pub const ALL: [Self; {n}] = [{all}];");
        let _ = writeln!(
            self.out,
            "    pub const VALUES: [&'static str; {n}] = [{vals}];"
        );
        let _ = writeln!(
            self.out,
            "    #[must_use]\n    pub fn as_str(self) -> &'static str {{\n        Self::VALUES[self as usize]\n    }}\n}}"
        );
        let _ = writeln!(
            self.out,
            "impl rt::Typed for {ty} {{\n    fn from_node(node: rt::Node) -> Option<Self> {{\n        \
             rt::enum_from_node(node, &Self::VALUES, &Self::ALL)\n    }}\n    \
             fn to_node(&self) -> rt::Node {{\n        rt::Node::Str(self.as_str().to_owned())\n    }}\n}}"
        );
    }

    fn table(&mut self, name: &str) {
        let shape = self.model.shape(name);
        let st = &self.names.statics[name];
        let opt = |v: Option<i64>| v.map_or("None".to_owned(), |n| format!("Some({n})"));
        let body = match &shape.kind {
            Kind::Structure { members, .. } => {
                let mut s = format!(
                    "rt::Shape::Structure(rt::StructShape {{\n    name: {name:?},\n    members: &[\n"
                );
                for m in members {
                    let _ = writeln!(
                        s,
                        "        rt::Member {{ name: {:?}, query: {:?}, xml: {:?}, required: {}, shape: {} }},",
                        m.name,
                        self.query_name(&m.name, &m.target),
                        self.xml_name(&m.name, &m.target),
                        m.required,
                        self.static_ref(&m.target)
                    );
                }
                s.push_str("    ],\n})");
                s
            }
            Kind::List { member } => {
                let t = self.model.traits_of(member);
                format!(
                    "rt::Shape::List(rt::ListShape {{ member: {}, member_name: {:?}, flattened: {} }})",
                    self.static_ref(member),
                    t.location_name,
                    shape.traits.flattened
                )
            }
            Kind::Map { key, value } => format!(
                "rt::Shape::Map(rt::MapShape {{ key: {}, value: {}, key_name: {:?}, value_name: {:?}, flattened: {} }})",
                self.static_ref(key),
                self.static_ref(value),
                self.model
                    .traits_of(key)
                    .location_name
                    .unwrap_or_else(|| "key".to_owned()),
                self.model
                    .traits_of(value)
                    .location_name
                    .unwrap_or_else(|| "value".to_owned()),
                shape.traits.flattened
            ),
            Kind::String { values } if values.is_empty() => "rt::Shape::String(&[])".to_owned(),
            Kind::String { .. } => {
                format!("rt::Shape::String(&{}::VALUES)", self.names.types[name])
            }
            Kind::Integer { min, max } => format!(
                "rt::Shape::Integer {{ min: {}, max: {} }}",
                opt(*min),
                opt(*max)
            ),
            Kind::Long { min, max } => format!(
                "rt::Shape::Long {{ min: {}, max: {} }}",
                opt(*min),
                opt(*max)
            ),
            Kind::Float => "rt::Shape::Float".to_owned(),
            Kind::Double => "rt::Shape::Double".to_owned(),
            Kind::Boolean => "rt::Shape::Boolean".to_owned(),
            Kind::Timestamp => "rt::Shape::Timestamp".to_owned(),
            Kind::Blob => "rt::Shape::Blob".to_owned(),
        };
        let _ = writeln!(self.out, "pub static {st}: rt::Shape = {body};");
    }
}

/// The generated module for one service.
#[must_use]
pub fn service_module(spec: &ServiceSpec, model: &Model, header: &str) -> String {
    let ec2 = model.protocol == "ec2";
    let mut e = Emitter {
        model,
        names: Names::assign(model),
        ec2,
        out: String::with_capacity(1 << 22),
    };
    let _ = writeln!(e.out, "{header}");
    let _ = writeln!(
        e.out,
        "//! {} (`{}` protocol, API version {}): one type per structure and enum of the model, and the\n\
         //! shape tables the Query decoder and XML encoder run on.\n",
        spec.title, model.protocol, model.api_version
    );
    let _ = writeln!(e.out, "#![allow(clippy::enum_variant_names)]\n");
    let has_map = model
        .shapes
        .values()
        .any(|s| matches!(s.kind, Kind::Map { .. }));
    if has_map {
        let _ = writeln!(e.out, "use std::collections::BTreeMap;\n");
    }
    let _ = writeln!(e.out, "use crate::query as rt;");

    // Types.
    let reach = direct_reach(model);
    for (name, shape) in &model.shapes {
        match &shape.kind {
            Kind::Structure { .. } => e.structure(name, &reach),
            Kind::String { values } if !values.is_empty() => e.enumeration(name, values),
            _ => {}
        }
    }

    // Per-operation aliases: `{Op}Input` / `{Op}Output`, unless a shape already has that name.
    let _ = writeln!(e.out);
    let taken: HashSet<String> = e.names.types.values().cloned().collect();
    for (op, o) in &model.operations {
        for (suffix, shape) in [("Input", &o.input), ("Output", &o.output)] {
            if let Some(s) = shape {
                let alias = format!("{}{suffix}", names::type_name(op));
                let target = &e.names.types[s];
                if !taken.contains(&alias) && &alias != target {
                    let _ = writeln!(e.out, "pub type {alias} = {target};");
                }
            }
        }
    }

    // Shape tables.
    let _ = writeln!(e.out);
    for name in model.shapes.keys() {
        e.table(name);
    }

    // Operations, sorted by name for binary search.
    let n = model.operations.len();
    let _ = writeln!(e.out, "\npub static OPERATIONS: [rt::Operation; {n}] = [");
    for (op, o) in &model.operations {
        let shape_ref = |s: &Option<String>| {
            s.as_ref().map_or("None".to_owned(), |s| {
                format!("Some(&{})", e.names.statics[s])
            })
        };
        let retype = |s: &Option<String>| {
            s.as_ref().map_or("rt::retype_none".to_owned(), |s| {
                format!("rt::retype::<{}>", e.names.types[s])
            })
        };
        let _ = writeln!(
            e.out,
            "    rt::Operation {{ name: {op:?}, input: {}, output: {}, result_wrapper: {:?}, retype_input: {}, retype_output: {} }},",
            shape_ref(&o.input),
            shape_ref(&o.output),
            o.result_wrapper,
            retype(&o.input),
            retype(&o.output),
        );
    }
    let _ = writeln!(e.out, "];");

    // Modelled errors.
    let errors: Vec<(String, String, u16)> = model
        .shapes
        .iter()
        .filter_map(|(name, s)| match &s.kind {
            Kind::Structure {
                error: Some(err), ..
            } => Some((name.clone(), err.code.clone(), err.status)),
            _ => None,
        })
        .collect();
    let _ = writeln!(
        e.out,
        "\npub static ERRORS: [rt::ErrorInfo; {}] = [",
        errors.len()
    );
    for (shape, code, status) in &errors {
        let _ = writeln!(
            e.out,
            "    rt::ErrorInfo {{ shape: {shape:?}, code: {code:?}, status: {status} }},"
        );
    }
    let _ = writeln!(e.out, "];");

    let mut ns = model.xml_namespace.clone();
    if !ns.ends_with('/') {
        ns.push('/');
    }
    let protocol = if ec2 {
        "rt::Protocol::Ec2Query"
    } else {
        "rt::Protocol::AwsQuery"
    };
    let _ = writeln!(
        e.out,
        "\npub static SERVICE: rt::Service = rt::Service {{\n    name: {:?},\n    protocol: {protocol},\n    \
         api_version: {:?},\n    xml_namespace: {ns:?},\n    operations: &OPERATIONS,\n    errors: &ERRORS,\n}};",
        spec.module, model.api_version
    );
    e.out
}
