//! EC2's filter language, one engine for every resource type.
//!
//! A request carries `Filter.N.Name` / `Filter.N.Value.M`. A resource matches when every filter
//! matches (AND) and, within a filter, any value matches (OR). Values may use `*` (any run of
//! characters) and `?` (one character); `\` escapes them. Besides each resource type's own
//! names, every taggable type answers `tag:<key>` (the tag's value), `tag-key` and `tag-value`.
//! A name the resource type does not know is refused (`InvalidParameterValue`), as AWS does.

use super::Rejection;

/// One `Filter.N` of a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Filter {
    /// `Filter.N.Name`.
    pub name: String,
    /// `Filter.N.Value.M`.
    pub values: Vec<String>,
}

/// The values a resource has for one filter name.
pub type Field<R> = fn(&R, &mut Vec<String>);

/// A taggable resource's tags, as `(key, value)` pairs.
pub type Tags<R> = fn(&R) -> Vec<(String, String)>;

/// How one resource type answers filter names: the per-type table of filter names.
#[derive(Debug)]
pub struct FilterTable<R: 'static> {
    /// Resource type, for messages (`instance`, `vpc`, …).
    pub resource: &'static str,
    /// Filter names and how to read them.
    pub fields: &'static [(&'static str, Field<R>)],
    /// The resource's tags, when the type is taggable.
    pub tags: Option<Tags<R>>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Token {
    Char(char),
    One,
    Many,
}

/// A compiled filter value.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Pattern(Vec<Token>);

impl Pattern {
    fn new(value: &str) -> Self {
        let mut tokens = Vec::with_capacity(value.len());
        let mut chars = value.chars();
        while let Some(c) = chars.next() {
            tokens.push(match c {
                '*' => Token::Many,
                '?' => Token::One,
                '\\' => Token::Char(chars.next().unwrap_or('\\')),
                c => Token::Char(c),
            });
        }
        Self(tokens)
    }

    /// Wildcard match in O(len(text) * len(pattern)) at worst, without recursion.
    fn matches(&self, text: &str) -> bool {
        let text: Vec<char> = text.chars().collect();
        let p = &self.0;
        let (mut t, mut i) = (0usize, 0usize);
        let mut star: Option<(usize, usize)> = None;
        while t < text.len() {
            match p.get(i) {
                Some(Token::Char(c)) if *c == text[t] => {
                    i += 1;
                    t += 1;
                }
                Some(Token::One) => {
                    i += 1;
                    t += 1;
                }
                Some(Token::Many) => {
                    star = Some((i, t));
                    i += 1;
                }
                _ => match star {
                    Some((si, st)) => {
                        i = si + 1;
                        t = st + 1;
                        star = Some((si, st + 1));
                    }
                    None => return false,
                },
            }
        }
        p[i.min(p.len())..].iter().all(|tok| *tok == Token::Many)
    }
}

#[derive(Debug)]
enum Term<R: 'static> {
    Field(Field<R>),
    Tag(String),
    TagKey,
    TagValue,
}

/// Filters compiled against one resource type.
#[derive(Debug)]
pub struct FilterSet<R: 'static> {
    table: &'static FilterTable<R>,
    terms: Vec<(Term<R>, Vec<Pattern>)>,
}

impl<R> FilterSet<R> {
    /// Compiles `filters` for `table`'s resource type.
    pub fn compile(table: &'static FilterTable<R>, filters: &[Filter]) -> Result<Self, Rejection> {
        let mut terms = Vec::with_capacity(filters.len());
        for f in filters {
            let term =
                if let Some(key) = f.name.strip_prefix("tag:").filter(|_| table.tags.is_some()) {
                    Term::Tag(key.to_owned())
                } else if f.name == "tag-key" && table.tags.is_some() {
                    Term::TagKey
                } else if f.name == "tag-value" && table.tags.is_some() {
                    Term::TagValue
                } else if let Some((_, field)) = table.fields.iter().find(|(n, _)| *n == f.name) {
                    Term::Field(*field)
                } else {
                    return Err(Rejection::InvalidParameterValue(format!(
                        "The filter '{}' is invalid for the resource type {}",
                        f.name, table.resource
                    )));
                };
            if f.values.is_empty() {
                return Err(Rejection::InvalidParameterValue(format!(
                    "The filter '{}' requires at least one value",
                    f.name
                )));
            }
            terms.push((term, f.values.iter().map(|v| Pattern::new(v)).collect()));
        }
        Ok(Self { table, terms })
    }

    /// Whether `resource` passes every filter.
    pub fn matches(&self, resource: &R) -> bool {
        let mut values = Vec::new();
        self.terms.iter().all(|(term, patterns)| {
            values.clear();
            match term {
                Term::Field(field) => field(resource, &mut values),
                Term::Tag(key) => values.extend(
                    self.tags(resource)
                        .into_iter()
                        .filter(|(k, _)| k == key)
                        .map(|(_, v)| v),
                ),
                Term::TagKey => values.extend(self.tags(resource).into_iter().map(|(k, _)| k)),
                Term::TagValue => values.extend(self.tags(resource).into_iter().map(|(_, v)| v)),
            }
            values.iter().any(|v| patterns.iter().any(|p| p.matches(v)))
        })
    }

    fn tags(&self, resource: &R) -> Vec<(String, String)> {
        self.table.tags.map(|t| t(resource)).unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Vm {
        id: &'static str,
        state: &'static str,
        tags: Vec<(&'static str, &'static str)>,
    }

    static VMS: FilterTable<Vm> = FilterTable {
        resource: "instance",
        fields: &[
            ("instance-id", |r, out| out.push(r.id.to_owned())),
            ("instance-state-name", |r, out| out.push(r.state.to_owned())),
        ],
        tags: Some(|r| {
            r.tags
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect()
        }),
    };

    fn f(name: &str, values: &[&str]) -> Filter {
        Filter {
            name: name.to_owned(),
            values: values.iter().map(|v| (*v).to_owned()).collect(),
        }
    }

    fn ids(filters: &[Filter]) -> Result<Vec<&'static str>, Rejection> {
        let vms = [
            Vm {
                id: "i-0abc",
                state: "running",
                tags: vec![("Name", "web-1"), ("env", "prod")],
            },
            Vm {
                id: "i-0abd",
                state: "stopped",
                tags: vec![("Name", "web-2")],
            },
            Vm {
                id: "i-1xyz",
                state: "running",
                tags: vec![],
            },
        ];
        let set = FilterSet::compile(&VMS, filters)?;
        Ok(vms
            .iter()
            .filter(|v| set.matches(v))
            .map(|v| v.id)
            .collect())
    }

    #[test]
    fn and_across_filters_or_across_values() {
        assert_eq!(ids(&[]).expect("ok"), ["i-0abc", "i-0abd", "i-1xyz"]);
        assert_eq!(
            ids(&[f("instance-state-name", &["running"])]).expect("ok"),
            ["i-0abc", "i-1xyz"]
        );
        assert_eq!(
            ids(&[
                f("instance-state-name", &["running", "stopped"]),
                f("instance-id", &["i-0*"])
            ])
            .expect("ok"),
            ["i-0abc", "i-0abd"]
        );
    }

    #[test]
    fn wildcards_and_escapes() {
        assert_eq!(
            ids(&[f("instance-id", &["i-0ab?"])]).expect("ok"),
            ["i-0abc", "i-0abd"]
        );
        assert_eq!(ids(&[f("instance-id", &["*z"])]).expect("ok"), ["i-1xyz"]);
        assert_eq!(
            ids(&[f("instance-id", &["i-*b*"])]).expect("ok"),
            ["i-0abc", "i-0abd"]
        );
        assert!(
            ids(&[f("instance-id", &["i-0ab\\*"])])
                .expect("ok")
                .is_empty()
        );
        assert!(Pattern::new("a\\*b").matches("a*b"));
        assert!(Pattern::new("**").matches(""));
        assert!(!Pattern::new("?").matches(""));
        // Pathological patterns stay polynomial.
        let long = "a".repeat(2000);
        assert!(
            !Pattern::new(
                &"*a"
                    .repeat(50)
                    .chars()
                    .chain("b".chars())
                    .collect::<String>()
            )
            .matches(&long)
        );
    }

    #[test]
    fn tags() {
        assert_eq!(
            ids(&[f("tag:Name", &["web-*"])]).expect("ok"),
            ["i-0abc", "i-0abd"]
        );
        assert_eq!(ids(&[f("tag-key", &["env"])]).expect("ok"), ["i-0abc"]);
        assert_eq!(ids(&[f("tag-value", &["web-2"])]).expect("ok"), ["i-0abd"]);
    }

    #[test]
    fn unknown_names_and_empty_values_are_refused() {
        assert!(
            matches!(ids(&[f("colour", &["red"])]), Err(Rejection::InvalidParameterValue(m)) if m.contains("colour"))
        );
        assert!(ids(&[f("instance-id", &[])]).is_err());
    }
}
