//! Payload filters and the in-memory payload index they run on.
//!
//! The index is columnar over a collection's positions: a dictionary-encoded keyword column
//! with posting lists per value, and a numeric column with a sorted copy for ranges. A filter
//! compiles against it into a predicate (`matches(pos)`, a few loads per node, cheap enough
//! to run inside graph traversal) and, where one exists, a *candidate generator* — the
//! smallest posting list or range slice that contains every match — which the planner uses to
//! count matches exactly and to scan just those points.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};

use super::error::{Result, VectorError};
use crate::store::{Payload, PayloadValue};

const NONE: u32 = u32::MAX;
/// Deepest nesting of and/or accepted (guards the recursive compiler against hostile input).
const MAX_FILTER_DEPTH: usize = 8;
/// Most leaves a filter may have.
const MAX_FILTER_LEAVES: usize = 256;

/// A condition on payload fields.
///
/// JSON form: `{"eq": {"field": "city", "value": "深圳市"}}`,
/// `{"any_of": {"field": "industry", "values": ["互联网", "金融"]}}`,
/// `{"range": {"field": "salary_max", "gte": 15000}}`, `{"and": [...]}`, `{"or": [...]}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum Filter {
    Eq {
        field: String,
        value: PayloadValue,
    },
    AnyOf {
        field: String,
        values: Vec<PayloadValue>,
    },
    Range {
        field: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        gte: Option<f64>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        gt: Option<f64>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        lte: Option<f64>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        lt: Option<f64>,
    },
    And(Vec<Filter>),
    Or(Vec<Filter>),
}

impl Filter {
    pub fn eq(field: &str, value: impl Into<PayloadValue>) -> Self {
        Filter::Eq {
            field: field.to_string(),
            value: value.into(),
        }
    }
    pub fn any_of(field: &str, values: Vec<PayloadValue>) -> Self {
        Filter::AnyOf {
            field: field.to_string(),
            values,
        }
    }
    pub fn range(field: &str, gte: Option<f64>, lte: Option<f64>) -> Self {
        Filter::Range {
            field: field.to_string(),
            gte,
            gt: None,
            lte,
            lt: None,
        }
    }

    /// Rejects malformed filters before they reach the index.
    pub fn validate(&self) -> Result<()> {
        let mut leaves = 0;
        self.validate_at(0, &mut leaves)
    }

    fn validate_at(&self, depth: usize, leaves: &mut usize) -> Result<()> {
        if depth > MAX_FILTER_DEPTH {
            return Err(VectorError::BadFilter(format!(
                "nested deeper than {MAX_FILTER_DEPTH} levels"
            )));
        }
        match self {
            Filter::Eq { field, value } => {
                *leaves += 1;
                check_field(field)?;
                check_value(field, value)?;
            }
            Filter::AnyOf { field, values } => {
                *leaves += 1;
                check_field(field)?;
                if values.is_empty() || values.len() > MAX_FILTER_LEAVES {
                    return Err(VectorError::BadFilter(format!(
                        "any_of on '{field}' needs 1..={MAX_FILTER_LEAVES} values"
                    )));
                }
                for v in values {
                    check_value(field, v)?;
                }
            }
            Filter::Range {
                field,
                gte,
                gt,
                lte,
                lt,
            } => {
                *leaves += 1;
                check_field(field)?;
                let bounds = [gte, gt, lte, lt];
                if bounds.iter().all(|b| b.is_none()) {
                    return Err(VectorError::BadFilter(format!(
                        "range on '{field}' needs at least one of gte, gt, lte, lt"
                    )));
                }
                if bounds.iter().any(|b| b.is_some_and(|x| !x.is_finite())) {
                    return Err(VectorError::BadFilter(format!(
                        "range bounds on '{field}' must be finite numbers"
                    )));
                }
            }
            Filter::And(children) | Filter::Or(children) => {
                if children.is_empty() {
                    return Err(VectorError::BadFilter("empty and/or".into()));
                }
                for c in children {
                    c.validate_at(depth + 1, leaves)?;
                }
            }
        }
        if *leaves > MAX_FILTER_LEAVES {
            return Err(VectorError::BadFilter(format!(
                "more than {MAX_FILTER_LEAVES} conditions"
            )));
        }
        Ok(())
    }
}

fn check_field(field: &str) -> Result<()> {
    if field.is_empty() || field.len() > 64 {
        return Err(VectorError::BadFilter(format!(
            "field name '{field}' must be 1..=64 bytes"
        )));
    }
    Ok(())
}

fn check_value(field: &str, v: &PayloadValue) -> Result<()> {
    if let PayloadValue::Number(x) = v {
        if !x.is_finite() {
            return Err(VectorError::BadFilter(format!(
                "value for '{field}' must be a finite number"
            )));
        }
    }
    Ok(())
}

/// One payload field's columns.
#[derive(Default)]
struct FieldIndex {
    dict: HashMap<String, u32>,
    /// Value id per position (`NONE` = absent); may be shorter than the collection.
    keyword: Vec<u32>,
    /// Positions holding each value id, ascending.
    postings: Vec<Vec<u32>>,
    /// Number per position (NaN = absent); may be shorter than the collection.
    number: Vec<f64>,
    /// (value, position) sorted by value, for range generators and counts.
    sorted: Vec<(f64, u32)>,
}

/// Columnar index of every payload in a collection, addressed by position.
#[derive(Default)]
pub(crate) struct PayloadIndex {
    fields: HashMap<String, FieldIndex>,
}

impl PayloadIndex {
    /// Records the payload of a new position (positions are appended in increasing order).
    #[cfg(test)]
    pub fn insert(&mut self, pos: u32, payload: &Payload) {
        self.add(pos, payload, true);
    }

    /// Records the payloads of new positions (appended in increasing order). A few are
    /// inserted into each numeric column's sorted copy one by one; more are appended and each
    /// column is sorted once, so loading a collection of n entities costs O(n log n), not
    /// O(n²) (at 100k jobs the one-by-one inserts spent seconds in `memmove` per field).
    pub fn insert_many<'a>(&mut self, items: impl IntoIterator<Item = (u32, &'a Payload)>) {
        const ONE_BY_ONE: usize = 8;
        let items: Vec<(u32, &Payload)> = items.into_iter().collect();
        let keep_sorted = items.len() <= ONE_BY_ONE;
        for (pos, payload) in items {
            self.add(pos, payload, keep_sorted);
        }
        if keep_sorted {
            return;
        }
        for f in self.fields.values_mut() {
            // Stable, by value only (-0 = +0, as `insert`'s `<=` has it): equal values stay in
            // position order, exactly as inserting them one by one leaves them.
            if !f.sorted.is_sorted_by(|a, b| a.0 <= b.0) {
                f.sorted
                    .sort_by(|a, b| a.0.partial_cmp(&b.0).unwrap_or(std::cmp::Ordering::Equal));
            }
        }
    }

    fn add(&mut self, pos: u32, payload: &Payload, keep_sorted: bool) {
        let p = pos as usize;
        for (name, value) in &payload.0 {
            let f = self.fields.entry(name.clone()).or_default();
            match value {
                PayloadValue::Keyword(s) => {
                    let next = f.postings.len() as u32;
                    let id = *f.dict.entry(s.clone()).or_insert(next);
                    if id == next {
                        f.postings.push(Vec::new());
                    }
                    if f.keyword.len() <= p {
                        f.keyword.resize(p + 1, NONE);
                    }
                    f.keyword[p] = id;
                    f.postings[id as usize].push(pos);
                }
                PayloadValue::Number(x) => {
                    if f.number.len() <= p {
                        f.number.resize(p + 1, f64::NAN);
                    }
                    f.number[p] = *x;
                    if keep_sorted {
                        let at = f.sorted.partition_point(|(v, _)| *v <= *x);
                        f.sorted.insert(at, (*x, pos));
                    } else {
                        f.sorted.push((*x, pos));
                    }
                }
            }
        }
    }

    /// Compiles a filter against this index.
    pub fn compile(&self, filter: &Filter) -> Compiled<'_> {
        match filter {
            Filter::Eq { field, value } => self.leaf(field, std::slice::from_ref(value)),
            Filter::AnyOf { field, values } => self.leaf(field, values),
            Filter::Range {
                field,
                gte,
                gt,
                lte,
                lt,
            } => {
                let Some(f) = self.fields.get(field) else {
                    return Compiled::Nothing;
                };
                let lo = match (gte, gt) {
                    (Some(a), Some(b)) if b >= a => Bound::Excl(*b),
                    (Some(a), _) => Bound::Incl(*a),
                    (None, Some(b)) => Bound::Excl(*b),
                    (None, None) => Bound::Open,
                };
                let hi = match (lte, lt) {
                    (Some(a), Some(b)) if b <= a => Bound::Excl(*b),
                    (Some(a), _) => Bound::Incl(*a),
                    (None, Some(b)) => Bound::Excl(*b),
                    (None, None) => Bound::Open,
                };
                let start = match lo {
                    Bound::Incl(x) => f.sorted.partition_point(|(v, _)| *v < x),
                    Bound::Excl(x) => f.sorted.partition_point(|(v, _)| *v <= x),
                    Bound::Open => 0,
                };
                let end = match hi {
                    Bound::Incl(x) => f.sorted.partition_point(|(v, _)| *v <= x),
                    Bound::Excl(x) => f.sorted.partition_point(|(v, _)| *v < x),
                    Bound::Open => f.sorted.len(),
                };
                let slice = if start < end {
                    &f.sorted[start..end]
                } else {
                    &f.sorted[0..0]
                };
                Compiled::Range {
                    column: &f.number,
                    lo,
                    hi,
                    slice,
                }
            }
            Filter::And(children) => {
                let parts: Vec<_> = children.iter().map(|c| self.compile(c)).collect();
                if parts.iter().any(|p| matches!(p, Compiled::Nothing)) {
                    Compiled::Nothing
                } else {
                    Compiled::And(parts)
                }
            }
            Filter::Or(children) => {
                let parts: Vec<_> = children
                    .iter()
                    .map(|c| self.compile(c))
                    .filter(|p| !matches!(p, Compiled::Nothing))
                    .collect();
                if parts.is_empty() {
                    Compiled::Nothing
                } else {
                    Compiled::Or(parts)
                }
            }
        }
    }

    fn leaf(&self, field: &str, values: &[PayloadValue]) -> Compiled<'_> {
        let Some(f) = self.fields.get(field) else {
            return Compiled::Nothing;
        };
        let mut ids = Vec::new();
        let mut numbers = Vec::new();
        for v in values {
            match v {
                PayloadValue::Keyword(s) => {
                    if let Some(id) = f.dict.get(s) {
                        ids.push(*id);
                    }
                }
                PayloadValue::Number(x) => numbers.push(*x),
            }
        }
        ids.sort_unstable();
        ids.dedup();
        let mut parts = Vec::new();
        if !ids.is_empty() {
            let postings = ids
                .iter()
                .map(|id| f.postings[*id as usize].as_slice())
                .collect();
            parts.push(Compiled::Keyword {
                column: &f.keyword,
                ids,
                postings,
            });
        }
        for x in numbers {
            let start = f.sorted.partition_point(|(v, _)| *v < x);
            let end = f.sorted.partition_point(|(v, _)| *v <= x);
            parts.push(Compiled::Range {
                column: &f.number,
                lo: Bound::Incl(x),
                hi: Bound::Incl(x),
                slice: &f.sorted[start..end.max(start)],
            });
        }
        match parts.len() {
            0 => Compiled::Nothing,
            1 => parts.pop().unwrap_or(Compiled::Nothing),
            _ => Compiled::Or(parts),
        }
    }
}

#[derive(Debug, Clone, Copy)]
pub(crate) enum Bound {
    Incl(f64),
    Excl(f64),
    Open,
}

/// A filter bound to one index snapshot.
pub(crate) enum Compiled<'a> {
    /// Matches no position (unknown field or value).
    Nothing,
    Keyword {
        column: &'a [u32],
        ids: Vec<u32>,
        postings: Vec<&'a [u32]>,
    },
    Range {
        column: &'a [f64],
        lo: Bound,
        hi: Bound,
        slice: &'a [(f64, u32)],
    },
    And(Vec<Compiled<'a>>),
    Or(Vec<Compiled<'a>>),
}

impl Compiled<'_> {
    /// Does the payload at `pos` satisfy the filter?
    #[inline]
    pub fn matches(&self, pos: u32) -> bool {
        let p = pos as usize;
        match self {
            Compiled::Nothing => false,
            Compiled::Keyword { column, ids, .. } => match column.get(p) {
                Some(&v) if v != NONE => ids.contains(&v),
                _ => false,
            },
            Compiled::Range { column, lo, hi, .. } => match column.get(p) {
                Some(&x) if !x.is_nan() => {
                    (match lo {
                        Bound::Incl(l) => x >= *l,
                        Bound::Excl(l) => x > *l,
                        Bound::Open => true,
                    }) && (match hi {
                        Bound::Incl(h) => x <= *h,
                        Bound::Excl(h) => x < *h,
                        Bound::Open => true,
                    })
                }
                _ => false,
            },
            Compiled::And(parts) => parts.iter().all(|c| c.matches(pos)),
            Compiled::Or(parts) => parts.iter().any(|c| c.matches(pos)),
        }
    }

    /// Size of the smallest candidate set this filter can enumerate, or `None` when it
    /// cannot enumerate one (never, today: every leaf is indexed). An upper bound on matches.
    pub fn candidate_count(&self) -> Option<usize> {
        match self {
            Compiled::Nothing => Some(0),
            Compiled::Keyword { postings, .. } => Some(postings.iter().map(|p| p.len()).sum()),
            Compiled::Range { slice, .. } => Some(slice.len()),
            Compiled::And(parts) => parts.iter().filter_map(|p| p.candidate_count()).min(),
            Compiled::Or(parts) => parts
                .iter()
                .map(|p| p.candidate_count())
                .try_fold(0usize, |acc, c| c.map(|c| acc + c)),
        }
    }

    /// Pushes every candidate position (a superset of the matches, possibly with
    /// duplicates for `or`) into `out`.
    pub fn candidates(&self, out: &mut Vec<u32>) {
        match self {
            Compiled::Nothing => {}
            Compiled::Keyword { postings, .. } => {
                for p in postings {
                    out.extend_from_slice(p);
                }
            }
            Compiled::Range { slice, .. } => out.extend(slice.iter().map(|(_, pos)| *pos)),
            Compiled::And(parts) => {
                if let Some(best) = parts
                    .iter()
                    .filter(|p| p.candidate_count().is_some())
                    .min_by_key(|p| p.candidate_count().unwrap_or(usize::MAX))
                {
                    best.candidates(out);
                }
            }
            Compiled::Or(parts) => {
                for p in parts {
                    p.candidates(out);
                }
            }
        }
    }

    pub fn is_or(&self) -> bool {
        matches!(self, Compiled::Or(_))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn index() -> PayloadIndex {
        let mut idx = PayloadIndex::default();
        let cities = ["深圳市", "北京市", "上海市"];
        for pos in 0..30u32 {
            let p = Payload::new()
                .with("city", cities[pos as usize % 3])
                .with("salary_max", (pos * 1000) as f64);
            idx.insert(pos, &p);
        }
        idx
    }

    fn matching(idx: &PayloadIndex, f: &Filter) -> Vec<u32> {
        let c = idx.compile(f);
        (0..30).filter(|p| c.matches(*p)).collect()
    }

    #[test]
    fn eq_any_range_and_or() {
        let idx = index();
        let sz = Filter::eq("city", "深圳市");
        assert_eq!(matching(&idx, &sz).len(), 10);
        let rich = Filter::range("salary_max", Some(20000.0), None);
        assert_eq!(matching(&idx, &rich), (20..30).collect::<Vec<_>>());
        let both = Filter::And(vec![sz.clone(), rich.clone()]);
        assert_eq!(matching(&idx, &both), vec![21, 24, 27]);
        let either = Filter::Or(vec![sz, rich]);
        assert_eq!(matching(&idx, &either).len(), 10 + 10 - 3);
        let any = Filter::any_of("city", vec!["北京市".into(), "火星".into()]);
        assert_eq!(matching(&idx, &any).len(), 10);
        assert!(matching(&idx, &Filter::eq("city", "火星")).is_empty());
        assert!(matching(&idx, &Filter::eq("nope", "x")).is_empty());
    }

    #[test]
    fn candidates_cover_matches() {
        let idx = index();
        let f = Filter::And(vec![
            Filter::eq("city", "深圳市"),
            Filter::range("salary_max", Some(20000.0), Some(25000.0)),
        ]);
        let c = idx.compile(&f);
        assert_eq!(c.candidate_count(), Some(6));
        let mut out = Vec::new();
        c.candidates(&mut out);
        let m: Vec<u32> = out.into_iter().filter(|p| c.matches(*p)).collect();
        assert_eq!(m, vec![21, 24]);
    }

    #[test]
    fn inserting_many_indexes_exactly_as_inserting_one_by_one() {
        // Ties, -0 and +0, and a batch added to an index that already holds positions.
        let values = [
            3.0, -0.0, 1.5, 0.0, 3.0, -2.0, 0.0, 1.5, -0.0, 7.0, 3.0, -2.0,
        ];
        let payload = |i: usize| {
            Payload::new()
                .with(
                    "salary_max",
                    values[i % values.len()] * (1 + i / values.len()) as f64,
                )
                .with("city", ["深圳市", "北京市"][i % 2])
        };
        let payloads: Vec<Payload> = (0..60).map(payload).collect();
        let mut one = PayloadIndex::default();
        for (pos, p) in payloads.iter().enumerate() {
            one.insert(pos as u32, p);
        }
        let mut many = PayloadIndex::default();
        many.insert_many(
            payloads[..25]
                .iter()
                .enumerate()
                .map(|(i, p)| (i as u32, p)),
        );
        many.insert_many(
            payloads[25..]
                .iter()
                .enumerate()
                .map(|(i, p)| (25 + i as u32, p)),
        );
        let (a, b) = (&one.fields["salary_max"], &many.fields["salary_max"]);
        let bits = |v: &[(f64, u32)]| v.iter().map(|(x, p)| (x.to_bits(), *p)).collect::<Vec<_>>();
        assert_eq!(bits(&a.sorted), bits(&b.sorted));
        assert_eq!(one.fields["city"].postings, many.fields["city"].postings);
        for f in [
            Filter::range("salary_max", Some(0.0), Some(3.0)),
            Filter::range("salary_max", None, Some(-0.0)),
            Filter::eq("salary_max", 0.0),
        ] {
            let (ca, cb) = (one.compile(&f), many.compile(&f));
            let (mut oa, mut ob) = (Vec::new(), Vec::new());
            ca.candidates(&mut oa);
            cb.candidates(&mut ob);
            assert_eq!(oa, ob, "{f:?}");
            assert!(!oa.is_empty(), "{f:?}");
        }
    }

    #[test]
    fn validation() {
        assert!(Filter::And(vec![]).validate().is_err());
        assert!(Filter::range("x", None, None).validate().is_err());
        assert!(Filter::range("x", Some(f64::NAN), None).validate().is_err());
        let mut deep = Filter::eq("a", "b");
        for _ in 0..20 {
            deep = Filter::And(vec![deep]);
        }
        assert!(deep.validate().is_err());
        let json = r#"{"and":[{"eq":{"field":"city","value":"深圳市"}},{"range":{"field":"salary_max","gte":15000}}]}"#;
        let f: Filter = serde_json::from_str(json).unwrap();
        f.validate().unwrap();
    }
}
