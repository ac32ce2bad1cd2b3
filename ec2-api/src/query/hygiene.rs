//! Glue between the generated EC2 types and the core's shared rules (`kumo_core::query`):
//! handlers call these instead of reading `Filter.N` or `NextToken` themselves.

use kumo_core::query::filter::{Filter, FilterSet, FilterTable};
use kumo_core::query::paginate::{Page, Paginator, page_size};

use crate::error::QueryError;
use crate::generated::ec2;

/// The request's `Filter.N` list, compiled for one resource type (`InvalidParameterValue` for
/// a filter name the type does not know, or a filter without a name or values).
pub fn compile_filters<R>(
    table: &'static FilterTable<R>,
    filters: Option<&[ec2::Filter]>,
) -> Result<FilterSet<R>, QueryError> {
    let mut out = Vec::new();
    for (i, f) in filters.unwrap_or_default().iter().enumerate() {
        let Some(name) = f.name.clone() else {
            return Err(QueryError::missing_parameter(&format!(
                "Filter.{}.Name",
                i + 1
            )));
        };
        out.push(Filter {
            name,
            values: f.values.clone().unwrap_or_default(),
        });
    }
    Ok(FilterSet::compile(table, &out)?)
}

/// One page of `items` for a describe call: `scope` names the query (operation and filters),
/// `key` is each item's stable sort key (its id).
pub fn paginate<T>(
    paginator: &Paginator,
    items: Vec<T>,
    key: impl Fn(&T) -> &str,
    scope: &str,
    next_token: Option<&str>,
    max_results: Option<i32>,
) -> Result<Page<T>, QueryError> {
    Ok(paginator.page(items, key, scope, next_token, page_size(max_results))?)
}

#[cfg(test)]
mod tests {
    use super::*;

    static TABLE: FilterTable<(&str, &str)> = FilterTable {
        resource: "thing",
        fields: &[("thing-id", |r, out| out.push(r.0.to_owned()))],
        tags: Some(|r| vec![("Name".to_owned(), r.1.to_owned())]),
    };

    #[test]
    fn filters_and_pages_from_generated_types() {
        let things = vec![("t-3", "c"), ("t-1", "a"), ("t-2", "b"), ("t-4", "web")];
        let filters = vec![ec2::Filter {
            name: Some("thing-id".into()),
            values: Some(vec!["t-?".into()]),
        }];
        let set = compile_filters(&TABLE, Some(&filters)).expect("valid");
        let matching: Vec<_> = things.into_iter().filter(|t| set.matches(t)).collect();
        let p = Paginator::new([1; 32]);
        let page = paginate(
            &p,
            matching.clone(),
            |t| t.0,
            "DescribeThings",
            None,
            Some(2),
        )
        .expect("page");
        assert_eq!(page.items, vec![("t-1", "a"), ("t-2", "b")]);
        let rest = paginate(
            &p,
            matching,
            |t| t.0,
            "DescribeThings",
            page.next_token.as_deref(),
            Some(2),
        )
        .expect("page");
        assert_eq!(rest.items, vec![("t-3", "c"), ("t-4", "web")]);
        assert_eq!(rest.next_token, None);
        let e = paginate(
            &p,
            Vec::<(&str, &str)>::new(),
            |t| t.0,
            "DescribeThings",
            Some("forged"),
            None,
        )
        .expect_err("forged token");
        assert_eq!(e.code, "InvalidPaginationToken");
        let bad = vec![ec2::Filter {
            name: Some("colour".into()),
            values: Some(vec!["red".into()]),
        }];
        let e = compile_filters(&TABLE, Some(&bad)).expect_err("unknown filter");
        assert_eq!(e.code, "InvalidParameterValue");
        let unnamed = vec![ec2::Filter {
            name: None,
            values: Some(vec!["x".into()]),
        }];
        assert_eq!(
            compile_filters(&TABLE, Some(&unnamed))
                .expect_err("no name")
                .code,
            "MissingParameter"
        );
    }
}
