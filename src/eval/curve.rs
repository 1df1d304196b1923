//! `eval-ann --report`: our recall/latency curve against another engine's, as the table the
//! comparison needs — at each recall target, the fastest median (and its p99) each engine
//! reaches at that recall or above, and ours over theirs. The reference is a file of JSON
//! lines such as `scripts/compare_hnswlib.py` prints (`recall`, `p50_us`, `p99_us`, and
//! optionally `ef`, `engine`).

use std::fmt::Write as _;
use std::path::Path;

use serde::Deserialize;

use super::ann::{AnnEvalRow, EvalError};

/// Recall targets of the report.
pub const TARGETS: [f64; 4] = [0.90, 0.95, 0.99, 0.995];

/// One point of a recall/latency curve.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct CurvePoint {
    pub recall: f64,
    pub p50_us: f64,
    pub p99_us: f64,
    #[serde(default)]
    pub ef: Option<usize>,
}

impl From<&AnnEvalRow> for CurvePoint {
    fn from(r: &AnnEvalRow) -> CurvePoint {
        CurvePoint {
            recall: r.recall,
            p50_us: r.p50_us,
            p99_us: r.p99_us,
            ef: Some(r.ef),
        }
    }
}

/// A reference run: its engine's name (`engine` of its first line, else the file name) and its
/// points. Blank lines are skipped; any other line that is not such a point is an error naming
/// the line.
pub fn read_reference(path: &Path) -> Result<(String, Vec<CurvePoint>), EvalError> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| EvalError::Invalid(format!("reference {}: {e}", path.display())))?;
    let mut name = None;
    let mut points = Vec::new();
    for (i, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let bad = |e: serde_json::Error| {
            EvalError::Invalid(format!("reference {} line {}: {e}", path.display(), i + 1))
        };
        let v: serde_json::Value = serde_json::from_str(line).map_err(bad)?;
        if name.is_none() {
            name = v["engine"].as_str().map(str::to_string);
        }
        points.push(serde_json::from_value(v).map_err(bad)?);
    }
    if points.is_empty() {
        return Err(EvalError::Invalid(format!(
            "reference {} holds no point",
            path.display()
        )));
    }
    let name = name.unwrap_or_else(|| {
        path.file_stem()
            .map_or("reference".into(), |s| s.to_string_lossy().into_owned())
    });
    Ok((name, points))
}

/// The fastest point (by median) at `target` recall or above.
fn fastest_at(points: &[CurvePoint], target: f64) -> Option<&CurvePoint> {
    points
        .iter()
        .filter(|p| p.recall >= target)
        .min_by(|a, b| a.p50_us.total_cmp(&b.p50_us))
}

/// The report's table (markdown), one row per target in [`TARGETS`].
pub fn report(ours: &[CurvePoint], reference: &str, theirs: &[CurvePoint]) -> String {
    let mut out = format!(
        "| recall ≥ | ours p50 / p99 µs (ef) | {reference} p50 / p99 µs (ef) | p50 ratio | p99 ratio |\n\
         |---|---|---|---|---|\n"
    );
    let cell = |p: Option<&CurvePoint>| match p {
        Some(p) => format!(
            "{:.0} / {:.0} ({})",
            p.p50_us,
            p.p99_us,
            p.ef.map_or("–".into(), |e| e.to_string())
        ),
        None => "not reached".into(),
    };
    for t in TARGETS {
        let (a, b) = (fastest_at(ours, t), fastest_at(theirs, t));
        let ratio = |f: fn(&CurvePoint) -> f64| match (a, b) {
            (Some(a), Some(b)) if f(b) > 0.0 => format!("{:.2}", f(a) / f(b)),
            _ => "–".into(),
        };
        let _ = writeln!(
            out,
            "| {t} | {} | {} | {} | {} |",
            cell(a),
            cell(b),
            ratio(|p| p.p50_us),
            ratio(|p| p.p99_us)
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(recall: f64, p50_us: f64, p99_us: f64, ef: usize) -> CurvePoint {
        CurvePoint {
            recall,
            p50_us,
            p99_us,
            ef: Some(ef),
        }
    }

    #[test]
    fn each_target_compares_the_fastest_point_reaching_it() {
        let ours = [
            p(0.93, 20.0, 40.0, 16),
            p(0.97, 30.0, 60.0, 32),
            p(0.992, 50.0, 90.0, 64),
        ];
        let theirs = [p(0.96, 60.0, 80.0, 32), p(0.996, 120.0, 150.0, 128)];
        let t = report(&ours, "hnswlib", &theirs);
        let rows: Vec<&str> = t.lines().skip(2).collect();
        assert_eq!(rows.len(), 4, "{t}");
        // 0.90: ours ef 16 (20 µs), theirs ef 32 (60 µs).
        assert_eq!(
            rows[0],
            "| 0.9 | 20 / 40 (16) | 60 / 80 (32) | 0.33 | 0.50 |"
        );
        // 0.95: ours ef 32.
        assert_eq!(
            rows[1],
            "| 0.95 | 30 / 60 (32) | 60 / 80 (32) | 0.50 | 0.75 |"
        );
        assert_eq!(
            rows[2],
            "| 0.99 | 50 / 90 (64) | 120 / 150 (128) | 0.42 | 0.60 |"
        );
        // 0.995: only the reference gets there.
        assert_eq!(rows[3], "| 0.995 | not reached | 120 / 150 (128) | – | – |");
        assert!(t.starts_with("| recall ≥ | ours"));
    }

    #[test]
    fn a_reference_file_is_read_and_bad_lines_are_named() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("hnsw.jsonl");
        std::fs::write(
            &f,
            "{\"engine\": \"hnswlib\", \"ef\": 16, \"recall\": 0.9, \"p50_us\": 50.0, \
             \"p99_us\": 90.0, \"build_s\": 3.0}\n\n\
             {\"ef\": 32, \"recall\": 0.95, \"p50_us\": 70.5, \"p99_us\": 120.0}\n",
        )
        .unwrap();
        let (name, points) = read_reference(&f).unwrap();
        assert_eq!(name, "hnswlib");
        assert_eq!(points, [p(0.9, 50.0, 90.0, 16), p(0.95, 70.5, 120.0, 32)]);

        std::fs::write(&f, "{\"recall\": 0.9}\n").unwrap();
        let e = read_reference(&f).unwrap_err().to_string();
        assert!(e.contains("line 1") && e.contains("p50_us"), "{e}");
        std::fs::write(&f, "\n").unwrap();
        assert!(read_reference(&f)
            .unwrap_err()
            .to_string()
            .contains("no point"));
        assert!(read_reference(&dir.path().join("none")).is_err());
    }
}
