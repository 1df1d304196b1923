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
use crate::vector::{Collection, Filter, PayloadValue, SearchRequest};

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
}

/// `POST /api/v1/search/{jobs,companies}`.
#[derive(Debug, Deserialize)]
pub struct EntitySearch {
    pub query: String,
    #[serde(default)]
    pub limit: Option<usize>,
    #[serde(default)]
    pub filters: Option<Map<String, Value>>,
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

impl AiService {
    async fn search_collection(
        &self,
        c: Collection,
        vector: &'static str,
        query: Vec<f32>,
        k: usize,
        filter: Option<Filter>,
    ) -> Result<SearchResults> {
        let engine = self.engine.clone();
        let hits = blocking(move || {
            Ok(engine
                .search(&SearchRequest {
                    collection: c,
                    vector,
                    query: &query,
                    k,
                    filter: filter.as_ref(),
                    ef: None,
                })?
                .hits)
        })
        .await?;
        let (id_key, _) = super::keys(c);
        let results: Vec<Map<String, Value>> = hits
            .into_iter()
            .map(|h| {
                let mut m = Map::new();
                m.insert(id_key.into(), Value::from(h.id));
                m.insert("distance".into(), Value::from(h.distance));
                m
            })
            .collect();
        Ok(SearchResults {
            total: results.len(),
            results,
        })
    }

    async fn embed_query(&self, c: Collection, q: &str) -> Result<Vec<f32>> {
        super::check_len("query", q, MAX_QUERY_CHARS)?;
        if q.trim().is_empty() {
            return Err(ServiceError::invalid("empty_query", "query is empty"));
        }
        self.check_model(c)?;
        Ok(self.embed(vec![q.to_string()]).await?.remove(0))
    }

    /// `POST /api/v1/vectors/search` over resumes.
    pub async fn search_resumes(&self, req: ResumeSearch) -> Result<SearchResults> {
        let k = limit(req.limit)?;
        let vector: &'static str = match req.vector_type.as_deref().unwrap_or("content") {
            "content" => "content",
            "skills" => "skills",
            "experience" => "experience",
            "overall" => "overall",
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
        let query = match (req.query_vector, req.query) {
            (Some(v), _) => v,
            (None, Some(q)) => self.embed_query(Collection::Resumes, &q).await?,
            (None, None) => {
                return Err(ServiceError::invalid(
                    "missing_query",
                    "give query_vector or query",
                ))
            }
        };
        self.search_collection(Collection::Resumes, vector, query, k, filter)
            .await
    }

    /// `POST /api/v1/search/jobs` and `/search/companies`: text on the overall vector.
    pub async fn search_entities(&self, c: Collection, req: EntitySearch) -> Result<SearchResults> {
        let k = limit(req.limit)?;
        let filter = match &req.filters {
            Some(f) => translate(c, f)?,
            None => None,
        };
        let query = self.embed_query(c, &req.query).await?;
        self.search_collection(c, "overall", query, k, filter).await
    }
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
