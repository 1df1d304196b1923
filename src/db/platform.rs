//! Reading the platform's own tables in MySQL (`jobfirst`), which other services own and write
//! (`docs/SCHEMA.md`, "Platform tables this service reads"). This service never creates,
//! migrates or writes them, and a database without them is normal (a fresh or test database):
//! a missing table reads as "nothing there".

use serde_json::Value;

use super::error::DbError;

/// MySQL / MariaDB `ER_NO_SUCH_TABLE`.
const ER_NO_SUCH_TABLE: u16 = 1146;

/// What the platform knows about a user that recommendations use (`user_profiles`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PlatformProfile {
    /// `user_profiles.location`, trimmed; `None` when NULL or blank.
    pub location: Option<String>,
    /// Skill names from `user_profiles.skills` (see [`skills_from_json`]).
    pub skills: Vec<String>,
}

/// The platform's profile of `user_id` from `user_profiles`: `Ok(None)` when the user has no
/// row or the table does not exist. Other failures (connection, a table without the expected
/// columns) are errors.
pub async fn user_profile(
    pool: &sqlx::MySqlPool,
    user_id: i64,
) -> Result<Option<PlatformProfile>, DbError> {
    // CAST AS CHAR: `skills` is JSON on MySQL 8 and a LONGTEXT with a binary collation on
    // MariaDB; as text both decode alike.
    let row: Result<Option<(Option<String>, Option<String>)>, _> = sqlx::query_as(
        "SELECT CAST(location AS CHAR), CAST(skills AS CHAR) FROM user_profiles \
         WHERE user_id = ? LIMIT 1",
    )
    .bind(user_id)
    .fetch_optional(pool)
    .await;
    let row = match row {
        Ok(row) => row,
        Err(e) if is_missing_table(&e) => return Ok(None),
        Err(e) => return Err(e.into()),
    };
    Ok(row.map(|(location, skills)| PlatformProfile {
        location: location
            .map(|l| l.trim().to_string())
            .filter(|l| !l.is_empty()),
        skills: skills.as_deref().map(skills_from_json).unwrap_or_default(),
    }))
}

fn is_missing_table(e: &sqlx::Error) -> bool {
    let sqlx::Error::Database(db) = e else {
        return false;
    };
    if let Some(my) = db.try_downcast_ref::<sqlx::mysql::MySqlDatabaseError>() {
        if my.number() == ER_NO_SUCH_TABLE {
            return true;
        }
    }
    db.code().as_deref() == Some("42S02")
}

/// Skill names from a `skills` JSON document, leniently: an array whose items are strings or
/// objects with a string `"name"` (a JSON string holding such an array, as some writers
/// double-encode, works too). Names are trimmed; blanks, repeats and any other item are
/// ignored, and a document that is not such an array (or not JSON) gives none.
pub fn skills_from_json(text: &str) -> Vec<String> {
    let v = match serde_json::from_str::<Value>(text) {
        Ok(Value::String(inner)) => serde_json::from_str(&inner).unwrap_or(Value::Null),
        Ok(v) => v,
        Err(_) => return Vec::new(),
    };
    let Value::Array(items) = v else {
        return Vec::new();
    };
    let mut out: Vec<String> = Vec::new();
    for item in &items {
        let name = match item {
            Value::String(s) => Some(s.as_str()),
            Value::Object(o) => o.get("name").and_then(Value::as_str),
            _ => None,
        };
        if let Some(n) = name.map(str::trim).filter(|n| !n.is_empty()) {
            if !out.iter().any(|o| o == n) {
                out.push(n.to_string());
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn skills_are_read_leniently() {
        assert_eq!(skills_from_json(r#"["Rust", " Go ", ""]"#), ["Rust", "Go"]);
        assert_eq!(
            skills_from_json(r#"[{"name": "Rust", "level": 3}, {"level": 1}, {"name": 7}, "Go"]"#),
            ["Rust", "Go"]
        );
        assert_eq!(
            skills_from_json(r#"[1, null, true, ["x"], "Rust", "Rust"]"#),
            ["Rust"]
        );
        assert_eq!(skills_from_json(r#""[\"SQL\"]""#), ["SQL"]);
        for junk in [
            "",
            "not json",
            "{}",
            r#"{"name": "Rust"}"#,
            "42",
            "null",
            r#""Rust""#,
        ] {
            assert!(skills_from_json(junk).is_empty(), "{junk}");
        }
    }
}
