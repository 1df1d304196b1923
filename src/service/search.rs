//! Search use-cases: text or vector queries with simple filters (`{"location": "深圳",
//! "salary_min": 15000, "industry": "互联网"}`) translated into engine filters. An object with a
//! single engine-filter key (`eq`, `any_of`, `range`, `and`, `or`) is passed through as is.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::{blocking, AiService, Result, ServiceError};
use crate::analysis::city::Cities;
use crate::analysis::company::size_label;
use crate::analysis::extract::Education;
use crate::entity::Id;
use crate::lexical::Query;
use crate::store::{Collection, PayloadValue};
use crate::vector::{Filter, SearchRequest};

use crate::hybrid::{
    hybrid, query_vectors, ArmWeights, FusedHit, Fusion, HybridRequest, SearchMode,
};

/// Most results a search may ask for.
pub const MAX_LIMIT: usize = 100;
const DEFAULT_LIMIT: usize = 10;
/// Longest text query accepted (characters).
const MAX_QUERY_CHARS: usize = 2_000;

/// `POST /api/v1/vectors/search`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ResumeSearch {
    #[serde(default)]
    pub query_vector: Option<Vec<f32>>,
    #[serde(default)]
    pub query: Option<String>,
    #[serde(default)]
    pub limit: Option<usize>,
    #[serde(default)]
    pub vector_type: Option<String>,
    #[serde(default)]
    pub filters: Option<Map<String, Value>>,
    /// Arms answering a text `query` (default hybrid).
    #[serde(default)]
    pub mode: Option<SearchMode>,
}

/// `POST /api/v1/search/{jobs,companies}`.
#[derive(Debug, Deserialize)]
pub struct EntitySearch {
    pub query: String,
    #[serde(default)]
    pub limit: Option<usize>,
    #[serde(default)]
    pub filters: Option<Map<String, Value>>,
    /// Arms answering the query: hybrid (default), lexical or vector.
    #[serde(default)]
    pub mode: Option<SearchMode>,
}

/// `{"results": [{"<id key>": id, "distance": d}], "total": n}`.
#[derive(Debug, Serialize)]
pub struct SearchResults {
    pub results: Vec<Map<String, Value>>,
    pub total: usize,
}

pub(crate) fn limit(l: Option<usize>) -> Result<usize> {
    let l = l.unwrap_or(DEFAULT_LIMIT);
    if l == 0 || l > MAX_LIMIT {
        return Err(ServiceError::invalid(
            "invalid_limit",
            format!("limit must be between 1 and {MAX_LIMIT}, got {l}"),
        ));
    }
    Ok(l)
}

fn bad_filter(msg: impl Into<String>) -> ServiceError {
    ServiceError::invalid("invalid_filter", msg)
}

fn number(key: &str, v: &Value) -> Result<f64> {
    match v {
        Value::Number(n) => n
            .as_f64()
            .ok_or_else(|| bad_filter(format!("{key} is not a number"))),
        Value::String(s) => s
            .trim()
            .parse()
            .map_err(|_| bad_filter(format!("{key} must be a number"))),
        _ => Err(bad_filter(format!("{key} must be a number"))),
    }
}

/// A keyword condition: a string (eq) or an array of strings (any_of), normalised by `norm`.
fn keyword(field: &str, key: &str, v: &Value, norm: fn(&str) -> String) -> Result<Filter> {
    match v {
        Value::String(s) => Ok(Filter::eq(field, norm(s))),
        Value::Array(items) if !items.is_empty() => {
            let values = items
                .iter()
                .map(|i| match i {
                    Value::String(s) => Ok(PayloadValue::Keyword(norm(s))),
                    _ => Err(bad_filter(format!("{key} must hold strings"))),
                })
                .collect::<Result<Vec<_>>>()?;
            Ok(Filter::any_of(field, values))
        }
        _ => Err(bad_filter(format!(
            "{key} must be a string or a non-empty array of strings"
        ))),
    }
}

fn city(s: &str) -> String {
    Cities::bundled()
        .normalize(s)
        .unwrap_or_else(|| s.trim().to_string())
}
fn same(s: &str) -> String {
    s.trim().to_string()
}
fn education(s: &str) -> String {
    Education::parse(s).map_or_else(|| s.trim().to_string(), |e| e.label().to_string())
}
fn company_size(s: &str) -> String {
    size_label(s).map_or_else(|| s.trim().to_string(), str::to_string)
}

fn experience_filter(key: &str, v: &Value) -> Result<Filter> {
    if let Value::String(s) = v {
        if let Some(r) = crate::analysis::extract::years_requirement(s) {
            return Ok(Filter::range(
                "experience_years",
                Some(r.min.into()),
                r.max.map(f64::from),
            ));
        }
        if s.trim().parse::<f64>().is_err() {
            return Err(bad_filter(format!(
                "{key} must be years of experience (a number or text such as \"3-5年\")"
            )));
        }
    }
    Ok(Filter::range(
        "experience_years",
        None,
        Some(number(key, v)?),
    ))
}

fn id_filter(field: &str, key: &str, v: &Value) -> Result<Filter> {
    let id: Id = serde_json::from_value(v.clone())
        .map_err(|_| bad_filter(format!("{key} must be a positive integer id")))?;
    Ok(Filter::eq(field, id.0 as f64))
}

/// Translates simple filters into one engine filter (their conjunction).
pub fn translate(c: Collection, filters: &Map<String, Value>) -> Result<Option<Filter>> {
    const ENGINE_KEYS: [&str; 5] = ["eq", "any_of", "range", "and", "or"];
    if filters.len() == 1 && filters.keys().all(|k| ENGINE_KEYS.contains(&k.as_str())) {
        let f: Filter = serde_json::from_value(Value::Object(filters.clone()))
            .map_err(|e| bad_filter(e.to_string()))?;
        return Ok(Some(f));
    }
    let mut all = Vec::new();
    for (key, v) in filters {
        if v.is_null() {
            continue;
        }
        let f = match (c, key.as_str()) {
            (
                Collection::Jobs | Collection::Companies | Collection::Resumes,
                "location" | "city",
            ) => keyword("city", key, v, city)?,
            (Collection::Jobs | Collection::Companies, "industry") => {
                keyword("industry", key, v, same)?
            }
            (Collection::Jobs | Collection::Companies, "company_size" | "size") => {
                keyword("company_size", key, v, company_size)?
            }
            (Collection::Jobs, "company_id") => id_filter("company_id", key, v)?,
            (Collection::Jobs, "job_type") => keyword("job_type", key, v, same)?,
            // A job matches a wanted minimum salary when its range reaches it.
            (Collection::Jobs, "salary_min") => {
                Filter::range("salary_max", Some(number(key, v)?), None)
            }
            (Collection::Jobs, "salary_max") => {
                Filter::range("salary_min", None, Some(number(key, v)?))
            }
            // "3-5年": jobs asking for 3 to 5 years; a number N: jobs asking for at most N.
            (Collection::Jobs, "experience") => experience_filter(key, v)?,
            // A candidate with N years fits jobs asking for at most N.
            (Collection::Jobs, "experience_years") => {
                Filter::range("experience_years", None, Some(number(key, v)?))
            }
            (Collection::Jobs | Collection::Resumes, "education") => {
                keyword("education", key, v, education)?
            }
            (Collection::Resumes, "user_id") => id_filter("user_id", key, v)?,
            (Collection::Resumes, "experience_years" | "min_experience_years") => {
                Filter::range("experience_years", Some(number(key, v)?), None)
            }
            _ => {
                return Err(bad_filter(format!(
                    "unknown filter '{key}' for {}",
                    c.name()
                )))
            }
        };
        all.push(f);
    }
    Ok(match all.len() {
        0 => None,
        1 => all.pop(),
        _ => Some(Filter::And(all)),
    })
}

/// A fused result as answered: `<id key>`, `distance` (cosine distance of the `overall`
/// vector, as before hybrid search), `score` (fused), `scores` per arm, `matched` (the parts
/// of the query the entity holds) and, for jobs and companies, the fields a list shows.
fn result(
    engine: &crate::vector::Engine,
    c: Collection,
    text: &str,
    query: &Query,
    vectors: &[&str],
    hit: &FusedHit,
) -> Map<String, Value> {
    let (id_key, _) = super::keys(c);
    let mut m = Map::new();
    m.insert(id_key.into(), Value::from(hit.id));
    if let Some(Some(sim)) = hit.similarity.first() {
        m.insert("distance".into(), Value::from(round(1.0 - sim)));
    }
    m.insert("score".into(), Value::from(hit.score));
    let mut scores = Map::new();
    scores.insert(
        "lexical".into(),
        hit.lexical.map_or(Value::Null, |s| Value::from(round(s))),
    );
    for (name, sim) in vectors.iter().zip(&hit.similarity) {
        let key = if *name == "overall" { "vector" } else { name };
        scores.insert(
            key.into(),
            sim.map_or(Value::Null, |s| Value::from(round(s))),
        );
    }
    m.insert("scores".into(), Value::Object(scores));
    m.insert(
        "matched".into(),
        Value::from(query.matched_parts(text, hit.matched)),
    );
    if c != Collection::Resumes {
        if let Some(stored) = engine.stored_text(c, hit.id) {
            for (name, text) in stored {
                m.insert(name.into(), Value::from(text));
            }
        }
        if let Some((_, payload)) = engine.payload(c, hit.id) {
            let keys: &[&str] = match c {
                Collection::Jobs => &["city", "salary_min", "salary_max", "company_id"],
                _ => &["industry", "city", "company_size"],
            };
            for k in keys {
                if let Some(v) = payload.get(k) {
                    m.insert(
                        (*k).into(),
                        match v {
                            PayloadValue::Number(n) => Value::from(*n),
                            PayloadValue::Keyword(s) => Value::from(s.as_str()),
                        },
                    );
                }
            }
        }
    }
    m
}

/// Four decimals: enough to rank by, short to read.
fn round(x: f32) -> f64 {
    (f64::from(x) * 10_000.0).round() / 10_000.0
}

impl AiService {
    async fn embed_query(&self, c: Collection, q: &str) -> Result<Vec<f32>> {
        check_query(q)?;
        self.check_model(c)?;
        Ok(self.embed(vec![q.to_string()]).await?.remove(0))
    }

    /// A text search answered by [`hybrid`], as `{results, total}`.
    async fn search_text(
        &self,
        c: Collection,
        text: &str,
        vectors: &'static [&'static str],
        k: usize,
        filter: Option<Filter>,
        mode: SearchMode,
    ) -> Result<SearchResults> {
        check_query(text)?;
        let vector = match mode {
            SearchMode::Lexical => None,
            _ => Some(self.embed_query(c, text).await?),
        };
        let engine = self.engine.clone();
        let fusion = self
            .config
            .search_fusion
            .unwrap_or_else(|| Fusion::for_model(self.embedder.model_id()));
        let weights = ArmWeights::for_model(self.embedder.model_id());
        let text = text.to_string();
        blocking(move || {
            let query = Query::parse(&text);
            let hits = hybrid(
                &engine,
                &HybridRequest {
                    collection: c,
                    query: &query,
                    vector: vector.as_deref(),
                    vectors,
                    k,
                    filter: filter.as_ref(),
                    mode,
                    fusion,
                    weights,
                },
            )?;
            let results: Vec<Map<String, Value>> = hits
                .iter()
                .map(|h| result(&engine, c, &text, &query, vectors, h))
                .collect();
            Ok(SearchResults {
                total: results.len(),
                results,
            })
        })
        .await
    }

    /// `POST /api/v1/vectors/search` over resumes: a `query_vector` against the named vector
    /// asked for; a text `query` hybrid (the resume's text and that named vector).
    pub async fn search_resumes(&self, req: ResumeSearch) -> Result<SearchResults> {
        let k = limit(req.limit)?;
        let vector: &'static [&'static str] = match req.vector_type.as_deref().unwrap_or("content")
        {
            "content" => &["content"],
            "skills" => &["skills"],
            "experience" => &["experience"],
            "overall" => &["overall"],
            other => {
                return Err(ServiceError::invalid(
                    "invalid_vector_type",
                    format!("vector_type must be content, skills or experience, got '{other}'"),
                ))
            }
        };
        let filter = match &req.filters {
            Some(f) => translate(Collection::Resumes, f)?,
            None => None,
        };
        let mode = req.mode.unwrap_or_default();
        match (req.query_vector, req.query) {
            (Some(query), _) => {
                let engine = self.engine.clone();
                let hits = blocking(move || {
                    Ok(engine
                        .search(&SearchRequest {
                            collection: Collection::Resumes,
                            vector: vector[0],
                            query: &query,
                            k,
                            filter: filter.as_ref(),
                            ef: None,
                        })?
                        .hits)
                })
                .await?;
                let results: Vec<Map<String, Value>> = hits
                    .into_iter()
                    .map(|h| {
                        let mut m = Map::new();
                        m.insert("resume_id".into(), Value::from(h.id));
                        m.insert("distance".into(), Value::from(h.distance));
                        m
                    })
                    .collect();
                Ok(SearchResults {
                    total: results.len(),
                    results,
                })
            }
            (None, Some(q)) => {
                self.search_text(Collection::Resumes, &q, vector, k, filter, mode)
                    .await
            }
            (None, None) => Err(ServiceError::invalid(
                "missing_query",
                "give query_vector or query",
            )),
        }
    }

    /// `POST /api/v1/search/jobs` and `/search/companies`: hybrid text search.
    pub async fn search_entities(&self, c: Collection, req: EntitySearch) -> Result<SearchResults> {
        let k = limit(req.limit)?;
        let filter = match &req.filters {
            Some(f) => translate(c, f)?,
            None => None,
        };
        let mode = req.mode.unwrap_or_default();
        self.search_text(c, &req.query, query_vectors(c), k, filter, mode)
            .await
    }
}

fn check_query(q: &str) -> Result<()> {
    super::check_len("query", q, MAX_QUERY_CHARS)?;
    if q.trim().is_empty() {
        return Err(ServiceError::invalid("empty_query", "query is empty"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn simple_filters_become_engine_filters() {
        let f = json!({"location": "深圳", "salary_min": 15000, "industry": "互联网"});
        let got = translate(Collection::Jobs, f.as_object().unwrap())
            .unwrap()
            .unwrap();
        let Filter::And(parts) = got else {
            panic!("{got:?}")
        };
        assert!(parts.contains(&Filter::eq("city", "深圳市")));
        assert!(parts.contains(&Filter::range("salary_max", Some(15000.0), None)));
        assert!(parts.contains(&Filter::eq("industry", "互联网")));
        let bad = json!({"colour": "red"});
        assert!(translate(Collection::Jobs, bad.as_object().unwrap()).is_err());
        let raw = json!({"eq": {"field": "city", "value": "北京市"}});
        assert_eq!(
            translate(Collection::Jobs, raw.as_object().unwrap()).unwrap(),
            Some(Filter::eq("city", "北京市"))
        );
    }
}
