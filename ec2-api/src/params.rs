//! The flat form parameters of a Query-protocol request: the query string merged with an
//! `application/x-www-form-urlencoded` body. Later values of the same key win, as AWS does.
//! The typed decoders generated from the service models read from here.

use std::collections::BTreeMap;

/// Decoded parameters, ordered by name (so `Filter.1.Value.2` lookups by prefix are ranges).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Params {
    map: BTreeMap<String, String>,
}

impl Params {
    /// Decodes a query string and, when it is a form, a body.
    #[must_use]
    pub fn parse(query: Option<&str>, form_body: Option<&[u8]>) -> Self {
        let mut map = BTreeMap::new();
        if let Some(q) = query {
            for (k, v) in form_urlencoded::parse(q.as_bytes()) {
                map.insert(k.into_owned(), v.into_owned());
            }
        }
        if let Some(body) = form_body {
            for (k, v) in form_urlencoded::parse(body) {
                map.insert(k.into_owned(), v.into_owned());
            }
        }
        Self { map }
    }

    /// One parameter.
    #[must_use]
    pub fn get(&self, name: &str) -> Option<&str> {
        self.map.get(name).map(String::as_str)
    }

    /// The `Action` parameter.
    #[must_use]
    pub fn action(&self) -> Option<&str> {
        self.get("Action").filter(|a| !a.is_empty())
    }

    /// Every parameter whose name starts with `prefix`, in name order.
    pub fn with_prefix<'a>(
        &'a self,
        prefix: &str,
    ) -> impl Iterator<Item = (&'a str, &'a str)> + use<'a> {
        let prefix = prefix.to_owned();
        self.map
            .range(prefix.clone()..)
            .take_while(move |(k, _)| k.starts_with(&prefix))
            .map(|(k, v)| (k.as_str(), v.as_str()))
    }

    /// All parameters.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.map.iter().map(|(k, v)| (k.as_str(), v.as_str()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn body_overrides_query_and_prefix_scan() {
        let p = Params::parse(
            Some("Action=DescribeInstances&Version=2016-11-15"),
            Some(b"Filter.1.Name=tag%3AName&Filter.1.Value.1=a+b&Version=2016-11-15&InstanceId.1=i-1"),
        );
        assert_eq!(p.action(), Some("DescribeInstances"));
        assert_eq!(p.get("Filter.1.Name"), Some("tag:Name"));
        assert_eq!(p.get("Filter.1.Value.1"), Some("a b"));
        let filters: Vec<_> = p.with_prefix("Filter.").collect();
        assert_eq!(filters.len(), 2);
        assert_eq!(Params::parse(Some("Action="), None).action(), None);
    }
}
