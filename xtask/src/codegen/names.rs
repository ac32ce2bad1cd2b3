//! Rust names for model names: types in `UpperCamelCase`, fields in `snake_case`, statics in
//! `SCREAMING_SNAKE_CASE`, enum variants from wire values. Deterministic, so regeneration is
//! byte-stable.

/// Names a generated type must not take: they would shadow what generated code uses.
const RESERVED_TYPES: &[&str] = &[
    "Option",
    "Some",
    "None",
    "Vec",
    "Box",
    "String",
    "BTreeMap",
    "Result",
    "Ok",
    "Err",
    "Self",
    "Default",
    "Clone",
    "Debug",
    "PartialEq",
    "Eq",
    "Copy",
    "Hash",
    "Sized",
    "Send",
    "Sync",
];

const KEYWORDS: &[&str] = &[
    "as", "break", "const", "continue", "else", "enum", "extern", "false", "fn", "for", "if",
    "impl", "in", "let", "loop", "match", "mod", "move", "mut", "pub", "ref", "return", "static",
    "struct", "trait", "true", "type", "unsafe", "use", "where", "while", "async", "await", "dyn",
    "abstract", "become", "box", "do", "final", "macro", "override", "priv", "typeof", "unsized",
    "virtual", "yield", "try", "gen",
];

/// Splits a model name into words at case changes and punctuation.
fn words(name: &str) -> Vec<String> {
    let chars: Vec<char> = name.chars().collect();
    let mut out: Vec<String> = Vec::new();
    let mut cur = String::new();
    for (i, &c) in chars.iter().enumerate() {
        if !c.is_ascii_alphanumeric() {
            if !cur.is_empty() {
                out.push(std::mem::take(&mut cur));
            }
            continue;
        }
        if c.is_ascii_uppercase() && !cur.is_empty() {
            let prev = chars[i - 1];
            let next_lower = chars.get(i + 1).is_some_and(char::is_ascii_lowercase);
            if prev.is_ascii_lowercase()
                || prev.is_ascii_digit()
                || (prev.is_ascii_uppercase() && next_lower)
            {
                out.push(std::mem::take(&mut cur));
            }
        }
        cur.push(c);
    }
    if !cur.is_empty() {
        out.push(cur);
    }
    out
}

/// `UpperCamelCase` type name of a shape.
#[must_use]
pub fn type_name(shape: &str) -> String {
    let mut out = String::new();
    for w in shape
        .split(|c: char| !c.is_ascii_alphanumeric())
        .filter(|w| !w.is_empty())
    {
        let mut cs = w.chars();
        if let Some(f) = cs.next() {
            out.push(f.to_ascii_uppercase());
            out.extend(cs);
        }
    }
    if out.starts_with(|c: char| c.is_ascii_digit()) {
        out.insert(0, 'T');
    }
    if RESERVED_TYPES.contains(&out.as_str()) {
        out.push_str("Shape");
    }
    out
}

/// `snake_case` field name of a member.
#[must_use]
pub fn field_name(member: &str) -> String {
    let mut s = words(member)
        .iter()
        .map(|w| w.to_ascii_lowercase())
        .collect::<Vec<_>>()
        .join("_");
    if s.is_empty() || s.starts_with(|c: char| c.is_ascii_digit()) {
        s.insert(0, 'f');
    }
    match s.as_str() {
        "self" | "super" | "crate" => format!("{s}_"),
        k if KEYWORDS.contains(&k) => format!("r#{s}"),
        _ => s,
    }
}

/// `S_SCREAMING_SNAKE` name of a shape's table entry.
#[must_use]
pub fn static_name(shape: &str) -> String {
    let w = words(shape)
        .iter()
        .map(|w| w.to_ascii_uppercase())
        .collect::<Vec<_>>()
        .join("_");
    format!("S_{w}")
}

/// Enum variant for a wire value: `t2.micro` -> `T2Micro`, `ipv4` -> `Ipv4`.
#[must_use]
pub fn variant_name(value: &str) -> String {
    let mut out = String::new();
    for w in value
        .split(|c: char| !c.is_ascii_alphanumeric())
        .filter(|w| !w.is_empty())
    {
        // `ALL` -> `All`: keeps variants clear of the enum's `ALL`/`VALUES` constants and of
        // clippy's upper-case-acronym lint.
        let shouting = w.len() > 1 && !w.bytes().any(|b| b.is_ascii_lowercase());
        let mut cs = w.chars();
        if let Some(f) = cs.next() {
            out.push(f.to_ascii_uppercase());
            if shouting {
                out.extend(cs.map(|c| c.to_ascii_lowercase()));
            } else {
                out.extend(cs);
            }
        }
    }
    if out.is_empty() {
        out.push_str("Empty");
    }
    if out.starts_with(|c: char| c.is_ascii_digit()) {
        out.insert(0, 'V');
    }
    if out == "Self" {
        out.push_str("Value");
    }
    out
}

/// EC2's rule for input names: a `locationName` is sent capitalised.
#[must_use]
pub fn capitalise(s: &str) -> String {
    let mut cs = s.chars();
    match cs.next() {
        Some(f) => f.to_ascii_uppercase().to_string() + cs.as_str(),
        None => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        assert_eq!(field_name("AmiLaunchIndex"), "ami_launch_index");
        assert_eq!(field_name("IPv6Address"), "i_pv6_address");
        assert_eq!(field_name("Type"), "r#type");
        assert_eq!(field_name("VpcIds"), "vpc_ids");
        assert_eq!(
            static_name("DescribeInstancesRequest"),
            "S_DESCRIBE_INSTANCES_REQUEST"
        );
        assert_eq!(variant_name("t2.micro"), "T2Micro");
        assert_eq!(variant_name("1"), "V1");
        assert_eq!(variant_name("ALL"), "All");
        assert_eq!(type_name("dateType"), "DateType");
        assert_eq!(type_name("String"), "StringShape");
    }
}
