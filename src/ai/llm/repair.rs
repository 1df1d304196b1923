//! The model's JSON output: parsing into the caller's typed struct, tolerant only of wrapping —
//! a markdown fence or prose around the object — never of broken JSON, and a [`Validate`] hook
//! so ranges (e.g. `score` 0–100) are checked before anything is written. Whatever fails here
//! goes to the fallback analysers.

use std::fmt::Display;
use std::ops::RangeInclusive;

use serde::de::DeserializeOwned;
use serde::Serialize;

/// Candidate objects tried in prose before giving up (bounds the work on hostile text).
const MAX_CANDIDATES: usize = 16;

/// One field that failed validation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FieldError {
    /// Name of the field (dotted path for nested fields, e.g. `analysis.score`).
    pub field: String,
    /// What is wrong, for logs.
    pub message: String,
}

impl FieldError {
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> FieldError {
        FieldError {
            field: field.into(),
            message: message.into(),
        }
    }

    /// An error when `value` lies outside `range` (NaN is outside every range).
    pub fn check_range<T: PartialOrd + Display>(
        field: &str,
        value: T,
        range: RangeInclusive<T>,
    ) -> Option<FieldError> {
        (!range.contains(&value)).then(|| {
            FieldError::new(
                field,
                format!("{value} is outside {}..={}", range.start(), range.end()),
            )
        })
    }

    /// An error when `value` is empty or only whitespace.
    pub fn check_non_empty(field: &str, value: &str) -> Option<FieldError> {
        value
            .trim()
            .is_empty()
            .then(|| FieldError::new(field, "is empty"))
    }
}

impl Display for FieldError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.field, self.message)
    }
}

/// Checks a parsed answer beyond its types (ranges, non-empty fields). Implemented by the
/// caller's output structs.
pub trait Validate {
    /// `Ok` when every field is acceptable, otherwise every problem found.
    fn validate(&self) -> Result<(), Vec<FieldError>>;
}

/// Why the model's output could not be used.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum OutputError {
    /// *model*: the text contains no JSON object at all.
    #[error("no JSON object in the model output")]
    NoJson,
    /// *model*: something that starts like JSON is not valid JSON (e.g. cut off by the token
    /// limit).
    #[error("malformed JSON in the model output: {0}")]
    Malformed(String),
    /// *model*: valid JSON whose fields or types do not match the expected struct.
    #[error("model output does not match the expected fields: {0}")]
    Mismatch(String),
    /// *model*: the struct parsed but failed validation.
    #[error("model output failed validation: {}", join(.0))]
    Invalid(Vec<FieldError>),
}

fn join(errors: &[FieldError]) -> String {
    errors
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("; ")
}

/// Parses the model's output into `T`. Accepts clean JSON, JSON inside a markdown code fence,
/// and a JSON object inside prose (the first balanced object that parses as `T`); rejects
/// anything else.
pub fn parse_json_output<T: DeserializeOwned>(text: &str) -> Result<T, OutputError> {
    let mut verdict = OutputError::NoJson;
    for candidate in candidates(text) {
        match serde_json::from_str::<T>(candidate) {
            Ok(v) => return Ok(v),
            Err(e) => {
                let worse = match (&verdict, e.is_data()) {
                    (OutputError::Mismatch(_), _) => false,
                    (_, true) => true,
                    (OutputError::NoJson, false) => true,
                    _ => false,
                };
                if worse {
                    verdict = if e.is_data() {
                        OutputError::Mismatch(e.to_string())
                    } else {
                        OutputError::Malformed(e.to_string())
                    };
                }
            }
        }
    }
    Err(verdict)
}

/// [`parse_json_output`], then [`Validate::validate`]. An answer cut off by the token limit
/// keeps its complete members ([`salvage_truncated`]): what the model finished is as good as
/// it would have been in a whole answer, and each field is judged on its own later.
pub fn parse_validated<T: DeserializeOwned + Validate>(text: &str) -> Result<T, OutputError> {
    let value: T = match parse_json_output(text) {
        Ok(v) => v,
        Err(OutputError::Malformed(why)) => salvage_truncated(text)
            .into_iter()
            .find_map(|c| serde_json::from_str::<T>(&c).ok())
            .ok_or(OutputError::Malformed(why))?,
        Err(e) => return Err(e),
    };
    value.validate().map_err(OutputError::Invalid)?;
    Ok(value)
}

/// Most cut points tried on a truncated answer.
const MAX_SALVAGE: usize = 8;

/// Closings of a JSON object cut off before its end (`{"a": "x", "b": ["y", "z` …), best
/// first: the whole text closed when it stops after a complete value, then the text up to each
/// of its last commas outside strings (after a complete member or list item), with the
/// brackets still open closed in order. Empty when the object is not cut off or nothing before
/// the cut is complete.
pub fn salvage_truncated(text: &str) -> Vec<String> {
    let Some(start) = text.find('{') else {
        return Vec::new();
    };
    let s = &text[start..];
    let mut open: Vec<char> = Vec::new();
    let (mut in_str, mut esc) = (false, false);
    let mut cuts: Vec<(usize, Vec<char>)> = Vec::new();
    for (i, c) in s.char_indices() {
        if in_str {
            match (esc, c) {
                (true, _) => esc = false,
                (false, '\\') => esc = true,
                (false, '"') => in_str = false,
                _ => {}
            }
            continue;
        }
        match c {
            '"' => in_str = true,
            '{' => open.push('}'),
            '[' => open.push(']'),
            // Not JSON, or the object is complete: nothing was cut off.
            '}' | ']' if open.pop() != Some(c) || open.is_empty() => return Vec::new(),
            ',' => cuts.push((i, open.clone())),
            _ => {}
        }
    }
    let close = |prefix: &str, open: &[char]| {
        let mut out = prefix.trim_end().to_string();
        out.extend(open.iter().rev());
        out
    };
    let mut out = Vec::new();
    let tail = s.trim_end();
    // Stopped right after a string, list or object (not inside a string, nor after a number
    // that may itself be cut, a key or a separator).
    if !in_str && !open.is_empty() && tail.ends_with(['"', ']', '}']) {
        out.push(close(s, &open));
    }
    for (cut, open) in cuts.into_iter().rev().take(MAX_SALVAGE) {
        out.push(close(&s[..cut], &open));
    }
    out
}

/// The first JSON-looking span of `text` (whole text, fenced block, or balanced object), for
/// logging what the model said.
pub fn extract_json(text: &str) -> Option<&str> {
    candidates(text)
        .into_iter()
        .find(|c| serde_json::from_str::<serde::de::IgnoredAny>(c).is_ok())
}

/// Spans worth trying, best first: the whole text when it looks like JSON, the contents of
/// code fences, then balanced `{...}` objects in order of appearance.
fn candidates(text: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let trimmed = text.trim().trim_start_matches('\u{feff}');
    if trimmed.starts_with('{') || trimmed.starts_with('[') {
        out.push(trimmed);
    }
    let mut rest = text;
    while let Some(open) = rest.find("```") {
        let after = &rest[open + 3..];
        // Skip the info string (`json`, `JSON`, ...) up to the end of the line.
        let body_start = after.find('\n').map_or(after.len(), |i| i + 1);
        let body = &after[body_start..];
        let Some(close) = body.find("```") else {
            break;
        };
        let inner = body[..close].trim();
        if inner.starts_with('{') || inner.starts_with('[') {
            out.push(inner);
        }
        rest = &body[close + 3..];
    }
    let mut from = 0;
    while out.len() < MAX_CANDIDATES {
        let Some(start) = text[from..].find('{').map(|i| from + i) else {
            break;
        };
        match balanced_object(&text[start..]) {
            Some(len) => out.push(&text[start..start + len]),
            // An unclosed object (e.g. cut off by the token limit) is still worth a parse: its
            // error tells the caller the JSON was truncated.
            None => {
                out.push(&text[start..]);
                break;
            }
        }
        from = start + 1;
    }
    out.dedup();
    out
}

/// Length in bytes of the balanced object at the start of `s` (which begins with `{`),
/// ignoring braces inside strings; `None` when it is never closed.
fn balanced_object(s: &str) -> Option<usize> {
    let mut depth = 0usize;
    let mut in_string = false;
    let mut escaped = false;
    for (i, b) in s.bytes().enumerate() {
        if in_string {
            match b {
                _ if escaped => escaped = false,
                b'\\' => escaped = true,
                b'"' => in_string = false,
                _ => {}
            }
            continue;
        }
        match b {
            b'"' => in_string = true,
            b'{' => depth += 1,
            b'}' => {
                depth = depth.checked_sub(1)?;
                if depth == 0 {
                    return Some(i + 1);
                }
            }
            _ => {}
        }
    }
    None
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_truncated_answer_keeps_its_complete_members() {
        let v: Vec<serde_json::Value> =
            salvage_truncated(r#"{"a": "x", "skills": ["Rust", "Go", "Kub"#)
                .iter()
                .filter_map(|c| serde_json::from_str(c).ok())
                .collect();
        assert_eq!(
            v[0],
            serde_json::json!({"a": "x", "skills": ["Rust", "Go"]})
        );
        let v: serde_json::Value =
            serde_json::from_str(&salvage_truncated(r#"{"a": "x, y", "b": "z""#)[0]).unwrap();
        assert_eq!(v, serde_json::json!({"a": "x, y", "b": "z"}));
        // A number may itself be cut: the member before it is the last one kept.
        let c = salvage_truncated(r#"{"a": "x", "score": 12"#);
        assert_eq!(c, [r#"{"a": "x"}"#]);
        assert!(salvage_truncated(r#"{"a": "cut off by the lim"#).is_empty());
        assert!(
            salvage_truncated(r#"{"a": 1}"#).is_empty(),
            "complete: not cut"
        );
        assert!(salvage_truncated("no json, at all").is_empty());
    }

    use super::*;
    use serde::Deserialize;

    #[derive(Debug, Deserialize, PartialEq)]
    struct Out {
        summary: String,
        score: i64,
    }

    impl Validate for Out {
        fn validate(&self) -> Result<(), Vec<FieldError>> {
            let errors: Vec<FieldError> = [
                FieldError::check_range("score", self.score, 0..=100),
                FieldError::check_non_empty("summary", &self.summary),
            ]
            .into_iter()
            .flatten()
            .collect();
            if errors.is_empty() {
                Ok(())
            } else {
                Err(errors)
            }
        }
    }

    fn out(summary: &str, score: i64) -> Out {
        Out {
            summary: summary.into(),
            score,
        }
    }

    #[test]
    fn accepts_clean_fenced_and_prose_wrapped_json() {
        let clean = r#"{"summary": "ok", "score": 80}"#;
        assert_eq!(parse_json_output::<Out>(clean), Ok(out("ok", 80)));
        let fenced = "Here you go:\n```json\n{\"summary\": \"ok\", \"score\": 80}\n```\nBye";
        assert_eq!(parse_json_output::<Out>(fenced), Ok(out("ok", 80)));
        let prose = "Sure! The analysis is {\"summary\": \"ok\", \"score\": 7} — hope it helps.";
        assert_eq!(parse_json_output::<Out>(prose), Ok(out("ok", 7)));
    }

    #[test]
    fn braces_and_quotes_inside_strings_do_not_confuse_the_scan() {
        let text = r#"Result: {"summary": "uses {braces} and \"quotes\" }", "score": 5} end }"#;
        assert_eq!(
            parse_json_output::<Out>(text),
            Ok(out(r#"uses {braces} and "quotes" }"#, 5))
        );
        // A placeholder object in the prose is skipped for the real one.
        let text = r#"Format {name}: {"summary": "x", "score": 1}"#;
        assert_eq!(parse_json_output::<Out>(text), Ok(out("x", 1)));
    }

    #[test]
    fn rejects_junk_truncated_and_mismatched_output() {
        assert_eq!(
            parse_json_output::<Out>("I cannot help with that."),
            Err(OutputError::NoJson)
        );
        assert!(matches!(
            parse_json_output::<Out>(r#"{"summary": "cut off", "sco"#),
            Err(OutputError::Malformed(_))
        ));
        assert!(matches!(
            parse_json_output::<Out>(r#"{"summary": "x", "score": "high"}"#),
            Err(OutputError::Mismatch(_))
        ));
        assert!(matches!(
            parse_json_output::<Out>("{summary: 'x', score: 1}"),
            Err(OutputError::Malformed(_))
        ));
    }

    #[test]
    fn validation_reports_every_bad_field() {
        let err = parse_validated::<Out>(r#"{"summary": " ", "score": 140}"#).unwrap_err();
        let OutputError::Invalid(fields) = err else {
            panic!("expected Invalid, got {err:?}");
        };
        let names: Vec<&str> = fields.iter().map(|f| f.field.as_str()).collect();
        assert_eq!(names, ["score", "summary"]);
        assert!(parse_validated::<Out>(r#"{"summary": "fine", "score": 100}"#).is_ok());
        assert_eq!(
            FieldError::check_range("x", f64::NAN, 0.0..=1.0).map(|e| e.field),
            Some("x".to_owned())
        );
    }

    #[test]
    fn extract_finds_the_span() {
        assert_eq!(
            extract_json("a {\"k\": [1, {\"n\": 2}]} b"),
            Some("{\"k\": [1, {\"n\": 2}]}")
        );
        assert_eq!(extract_json("nothing here"), None);
    }
}
