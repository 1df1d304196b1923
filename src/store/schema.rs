//! The three collections, their named vectors, and the payload stored beside each entity.

use std::collections::BTreeMap;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use super::error::{Result, StoreError};

/// Longest keyword value kept in a payload (bytes); longer values are a caller error.
pub const MAX_KEYWORD_LEN: usize = 512;
/// Most fields a payload may carry.
pub const MAX_PAYLOAD_FIELDS: usize = 64;

/// A collection of entities, each with a fixed set of named vectors.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Collection {
    Companies,
    Jobs,
    Resumes,
}

impl Collection {
    pub const ALL: [Collection; 3] = [Collection::Companies, Collection::Jobs, Collection::Resumes];

    pub fn name(self) -> &'static str {
        match self {
            Collection::Companies => "companies",
            Collection::Jobs => "jobs",
            Collection::Resumes => "resumes",
        }
    }

    /// The named vectors of this collection, in storage order. `overall` is always last.
    pub fn vector_names(self) -> &'static [&'static str] {
        match self {
            Collection::Companies => &["description", "culture", "benefits", "overall"],
            Collection::Jobs => &["title", "description", "requirements", "overall"],
            Collection::Resumes => &["content", "skills", "experience", "overall"],
        }
    }

    /// Index of a named vector, or a typed error naming the known ones.
    pub fn vector_index(self, name: &str) -> Result<usize> {
        self.vector_names()
            .iter()
            .position(|n| *n == name)
            .ok_or_else(|| StoreError::UnknownVector {
                collection: self.name(),
                name: name.to_string(),
                known: self.vector_names().join(", "),
            })
    }

    /// Position of the collection in [`Collection::ALL`].
    pub fn index(self) -> usize {
        self as usize
    }
}

impl std::str::FromStr for Collection {
    type Err = StoreError;
    fn from_str(s: &str) -> Result<Self> {
        match s {
            "companies" => Ok(Collection::Companies),
            "jobs" => Ok(Collection::Jobs),
            "resumes" => Ok(Collection::Resumes),
            other => Err(StoreError::UnknownCollection(other.to_string())),
        }
    }
}

impl std::fmt::Display for Collection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// One payload value: a keyword (exact match) or a number (ranges).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum PayloadValue {
    Number(f64),
    Keyword(String),
}

impl From<&str> for PayloadValue {
    fn from(s: &str) -> Self {
        PayloadValue::Keyword(s.to_string())
    }
}
impl From<String> for PayloadValue {
    fn from(s: String) -> Self {
        PayloadValue::Keyword(s)
    }
}
impl From<f64> for PayloadValue {
    fn from(x: f64) -> Self {
        PayloadValue::Number(x)
    }
}
impl From<i64> for PayloadValue {
    fn from(x: i64) -> Self {
        PayloadValue::Number(x as f64)
    }
}

/// Filterable fields of an entity (city, industry, company_id, salary_min, ...).
///
/// Keyword fields match exactly; numeric fields support ranges. Absent fields never match a
/// condition on them.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Payload(pub BTreeMap<String, PayloadValue>);

impl Payload {
    pub fn new() -> Self {
        Self::default()
    }

    /// Builder-style insert.
    pub fn with(mut self, field: &str, value: impl Into<PayloadValue>) -> Self {
        self.0.insert(field.to_string(), value.into());
        self
    }

    /// One shared empty payload: what positions without a live version hold (a clone is a
    /// reference count, not an allocation).
    pub fn none() -> Arc<Payload> {
        static NONE: std::sync::LazyLock<Arc<Payload>> =
            std::sync::LazyLock::new(|| Arc::new(Payload::default()));
        NONE.clone()
    }

    pub fn get(&self, field: &str) -> Option<&PayloadValue> {
        self.0.get(field)
    }

    pub(crate) fn validate(&self) -> Result<()> {
        if self.0.len() > MAX_PAYLOAD_FIELDS {
            return Err(StoreError::BadPayload(format!(
                "{} fields, at most {MAX_PAYLOAD_FIELDS}",
                self.0.len()
            )));
        }
        for (k, v) in &self.0 {
            if k.is_empty() || k.len() > 64 {
                return Err(StoreError::BadPayload(format!(
                    "field name '{k}' must be 1..=64 bytes"
                )));
            }
            match v {
                PayloadValue::Keyword(s) if s.len() > MAX_KEYWORD_LEN => {
                    return Err(StoreError::BadPayload(format!(
                        "value of '{k}' is longer than {MAX_KEYWORD_LEN} bytes"
                    )));
                }
                PayloadValue::Number(x) if !x.is_finite() => {
                    return Err(StoreError::BadPayload(format!(
                        "value of '{k}' is not a finite number"
                    )));
                }
                _ => {}
            }
        }
        Ok(())
    }
}
