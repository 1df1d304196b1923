//! The entities the service analyses — companies, jobs, resumes — as their callers send them,
//! and the positive-integer [`Id`] every one of them is keyed by.

use serde::{Deserialize, Deserializer, Serialize};

/// A positive entity id. Accepts a JSON integer or a numeric string ("42"), like the original
/// service's `int(x)`; anything else (0, negatives, "abc", 1.5) is rejected.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(transparent)]
pub struct Id(pub u64);

impl Id {
    /// Parses a path segment or a string id.
    pub fn parse(s: &str) -> Option<Id> {
        let t = s.trim();
        if t.is_empty() || !t.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        t.parse::<u64>()
            .ok()
            .filter(|v| *v > 0 && *v <= MAX_ID)
            .map(Id)
    }
}

/// Largest id accepted (ids travel through JSON numbers and f64 payloads: stay exact).
pub const MAX_ID: u64 = (1 << 53) - 1;

impl<'de> Deserialize<'de> for Id {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Id, D::Error> {
        struct V;
        impl serde::de::Visitor<'_> for V {
            type Value = Id;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a positive integer id or a numeric string")
            }
            fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<Id, E> {
                if v == 0 || v > MAX_ID {
                    return Err(E::custom(format!("id {v} is out of range (1..={MAX_ID})")));
                }
                Ok(Id(v))
            }
            fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<Id, E> {
                if v <= 0 {
                    return Err(E::custom(format!("id {v} is not positive")));
                }
                self.visit_u64(v as u64)
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Id, E> {
                Id::parse(v).ok_or_else(|| E::custom(format!("'{v}' is not a positive integer id")))
            }
        }
        d.deserialize_any(V)
    }
}

impl std::fmt::Display for Id {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

/// `job_data` of `POST /api/v1/analyze/job`. Text fields may be absent (empty).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct JobData {
    pub title: String,
    pub company: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub company_id: Option<Id>,
    pub location: String,
    pub description: String,
    pub requirements: String,
    pub salary_min: Option<f64>,
    pub salary_max: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub industry: Option<String>,
    /// Required experience as text ("3-5年"); read from the description when absent.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub experience: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub education: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub job_type: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub company_size: Option<String>,
}

/// `company_data` of `POST /api/v1/analyze/company`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct CompanyData {
    pub name: String,
    pub industry: String,
    pub size: String,
    pub location: String,
    pub description: String,
    pub website: String,
}

/// The body of `POST /api/v1/analyze/resume` (minus the id).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct ResumeData {
    pub content: String,
    pub file_type: String,
    pub file_name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user_id: Option<Id>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_accept_integers_and_numeric_strings_only() {
        let ok = |j: &str| serde_json::from_str::<Id>(j).ok();
        assert_eq!(ok("42"), Some(Id(42)));
        assert_eq!(ok("\"42\""), Some(Id(42)));
        for bad in [
            "0",
            "-1",
            "1.5",
            "\"abc\"",
            "\"\"",
            "\"-3\"",
            "null",
            "true",
            "9007199254740992",
        ] {
            assert_eq!(ok(bad), None, "{bad}");
        }
    }
}
