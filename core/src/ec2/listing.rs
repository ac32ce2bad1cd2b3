//! The one describe routine every resource family shares: ids (an unknown id is the type's
//! `.NotFound` error naming it), filters (the type's static [`FilterTable`]) and `NextToken`
//! pages cut by id, so each `Describe*` is one call with its table and error code.

use crate::Error;
use crate::ec2::{Ec2, Fault, Record};
use crate::query::filter::{Filter, FilterSet, FilterTable};
use crate::query::paginate::{Page, page_size};

/// What a `Describe*` call asks for.
#[derive(Debug, Clone, Default)]
pub struct DescribeQuery {
    /// Ids (`VpcId.N`, …); empty for all.
    pub ids: Vec<String>,
    /// Filters.
    pub filters: Vec<Filter>,
    /// `MaxResults`.
    pub max_results: Option<i32>,
    /// `NextToken`.
    pub next_token: Option<String>,
}

/// How a type's ids are refused when unknown: `InvalidVpcID.NotFound`, "vpc".
#[derive(Debug, Clone, Copy)]
pub(crate) struct NotFound {
    pub code: &'static str,
    pub what: &'static str,
}

impl NotFound {
    pub(crate) fn fault(self, id: &str) -> Fault {
        Fault::not_found(self.code, self.what, id)
    }
}

impl Ec2 {
    /// Describes resources of type `T` in `account` for the operation `op`.
    pub(crate) fn describe<T: Record>(
        &self,
        account: &str,
        op: &str,
        table: &'static FilterTable<T>,
        missing: NotFound,
        q: &DescribeQuery,
        visible: impl Fn(&T) -> bool,
    ) -> Result<Page<T>, Error> {
        let set = FilterSet::compile(table, &q.filters).map_err(Fault::from)?;
        let mut items = Vec::with_capacity(q.ids.len());
        if q.ids.is_empty() {
            items = self.store().scan(account, |r: &T| {
                (visible(r) && set.matches(r)).then(|| r.clone())
            })?;
        } else {
            for id in &q.ids {
                let Some(r) = self.store().get::<T>(account, id)?.filter(|r| visible(r)) else {
                    return Err(missing.fault(id).into());
                };
                if set.matches(&r) && !items.iter().any(|x: &T| x.id() == r.id()) {
                    items.push(r);
                }
            }
        }
        let scope = format!("{op}\0{:?}\0{:?}", q.ids, q.filters);
        Ok(self
            .paginator()
            .page(
                items,
                |r| r.id(),
                &scope,
                q.next_token.as_deref(),
                page_size(q.max_results),
            )
            .map_err(Fault::from)?)
    }
}

/// The named resources of the unpaged `Describe*` calls that take names and ids (key pairs,
/// placement groups): every name and id asked for must exist (else `missing_name` /
/// `missing_id` names it), then the filters apply; ordered by name.
#[allow(clippy::too_many_arguments)]
pub(crate) fn select_named<T: Record>(
    all: Vec<T>,
    table: &'static FilterTable<T>,
    filters: &[Filter],
    names: &[String],
    ids: &[String],
    name_of: fn(&T) -> &str,
    missing_name: impl Fn(&str) -> Fault,
    missing_id: impl Fn(&str) -> Fault,
) -> Result<Vec<T>, Error> {
    let set = FilterSet::compile(table, filters).map_err(Fault::from)?;
    if let Some(n) = names.iter().find(|n| !all.iter().any(|r| name_of(r) == *n)) {
        return Err(missing_name(n).into());
    }
    if let Some(id) = ids.iter().find(|i| !all.iter().any(|r| r.id() == *i)) {
        return Err(missing_id(id).into());
    }
    let mut out: Vec<T> = all
        .into_iter()
        .filter(|r| names.is_empty() || names.iter().any(|n| n == name_of(r)))
        .filter(|r| ids.is_empty() || ids.iter().any(|i| i == r.id()))
        .filter(|r| set.matches(r))
        .collect();
    out.sort_by(|a, b| name_of(a).cmp(name_of(b)));
    Ok(out)
}

/// A field reader pushing one string.
pub(crate) fn push(out: &mut Vec<String>, v: impl Into<String>) {
    out.push(v.into());
}

/// A boolean as filters see it.
pub(crate) fn flag(b: bool) -> String {
    if b { "true" } else { "false" }.to_owned()
}

/// Tags as `(key, value)` pairs for filter tables.
pub(crate) fn tag_pairs(tags: &[crate::query::tags::Tag]) -> Vec<(String, String)> {
    tags.iter()
        .map(|t| (t.key.clone(), t.value.clone()))
        .collect()
}
