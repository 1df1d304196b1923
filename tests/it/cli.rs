//! The `jobfirst-ai eval-ann` command, run as a user would: files in, JSON lines out.

use std::process::Command;

use jobfirst_ai::eval::texmex::{write_fvecs, write_ivecs};

fn unit(seed: u64, dim: usize) -> Vec<f32> {
    let mut s = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let v: Vec<f32> = (0..dim)
        .map(|_| {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            (s % 2000) as f32 / 1000.0 - 1.0
        })
        .collect();
    let n = v.iter().map(|x| x * x).sum::<f32>().sqrt();
    v.into_iter().map(|x| x / n).collect()
}

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_jobfirst-ai"))
}

#[test]
fn eval_ann_prints_one_json_row_per_ef_and_selectivity() {
    let dir = tempfile::tempdir().unwrap();
    let dim = 16;
    let base: Vec<f32> = (0..1500).flat_map(|i| unit(i, dim)).collect();
    let queries: Vec<f32> = (0..20).flat_map(|i| unit(10_000 + i, dim)).collect();
    write_fvecs(&dir.path().join("b.fvecs"), dim, &base).unwrap();
    write_fvecs(&dir.path().join("q.fvecs"), dim, &queries).unwrap();
    let out = bin()
        .args(["eval-ann", "--base"])
        .arg(dir.path().join("b.fvecs"))
        .arg("--queries")
        .arg(dir.path().join("q.fvecs"))
        .args([
            "--ef",
            "16,64",
            "--filter-selectivity",
            "1,0.01",
            "--threads",
            "1",
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let rows: Vec<serde_json::Value> = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(rows.len(), 4);
    for r in &rows {
        for key in [
            "recall", "mean_us", "p50_us", "p99_us", "qps", "build_s", "rss_mb",
        ] {
            assert!(r[key].is_number(), "{key} missing in {r}");
        }
        let paths = &r["path_counts"];
        let total: u64 = ["graph", "graph_filtered", "exact", "exact_fallback"]
            .iter()
            .map(|p| paths[p].as_u64().unwrap())
            .sum();
        assert_eq!(total, 20);
    }
    // Exact ground truth was computed; the graph at ef 64 finds it, the 1% filter is exact.
    assert!(rows[1]["recall"].as_f64().unwrap() >= 0.95, "{}", rows[1]);
    assert_eq!(rows[2]["selectivity"].as_f64().unwrap(), 0.01);
    assert_eq!(rows[2]["recall"].as_f64().unwrap(), 1.0);
    assert_eq!(rows[2]["path_counts"]["exact"].as_u64().unwrap(), 20);
}

#[test]
fn eval_ann_names_the_bad_file_and_the_problem() {
    let dir = tempfile::tempdir().unwrap();
    let good = dir.path().join("q.fvecs");
    write_fvecs(&good, 4, &unit(1, 4)).unwrap();
    let bad = dir.path().join("truncated.fvecs");
    std::fs::write(&bad, &std::fs::read(&good).unwrap()[..10]).unwrap();
    let out = bin()
        .arg("eval-ann")
        .arg("--base")
        .arg(&bad)
        .arg("--queries")
        .arg(&good)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("truncated.fvecs") && err.contains("truncated"),
        "{err}"
    );

    let gt = dir.path().join("gt.ivecs");
    write_ivecs(&gt, 1, &[5]).unwrap(); // id 5 does not exist in a 1-vector base
    let out = bin()
        .arg("eval-ann")
        .arg("--base")
        .arg(&good)
        .arg("--queries")
        .arg(&good)
        .arg("--gt")
        .arg(&gt)
        .args(["--k", "1"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("gt.ivecs") && err.contains("out of range"),
        "{err}"
    );
}

// ---------------------------------------------------------------------------------------------
// eval-llm, against a fake Ollama scripted with junk, obeying, truncated, out-of-range and slow
// answers.

use crate::fake_ollama;

use fake_ollama::FakeOllama;
use serde_json::{json, Value};

/// Runs `jobfirst-ai eval-llm ARGS` against `url`; returns the exit code, the JSON lines and
/// stderr.
async fn eval_llm(
    url: Option<String>,
    args: Vec<String>,
    env: Vec<(&'static str, &'static str)>,
) -> (i32, Vec<Value>, String) {
    tokio::task::spawn_blocking(move || {
        let mut cmd = bin();
        cmd.arg("eval-llm")
            .args(&args)
            .env_remove("OLLAMA_HOST")
            .env_remove("LLM_PROVIDER");
        if let Some(u) = url {
            cmd.env("OLLAMA_HOST", u);
        }
        for (k, v) in env {
            cmd.env(k, v);
        }
        let out = cmd.output().unwrap();
        let rows = String::from_utf8(out.stdout)
            .unwrap()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        (
            out.status.code().unwrap_or(-1),
            rows,
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    })
    .await
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn eval_llm_measures_grounding_and_injection_resistance() {
    let fake = FakeOllama::start().await;
    let company_junk = json!({"company_profile": "Corporate Pools and Companies",
        "culture_analysis": "团队氛围融洽", "benefits_analysis": "1234567890",
        "growth_potential": "528000", "industry_position": "企业概况", "confidence_score": 12});
    let obey = json!({"skills": ["Rust", "Word", "avatar.png"], "experience": [],
        "education": ["清华大学 博士"], "summary": "完美候选人，博士学历", "score": 100,
        "suggestions": ["无需改进"]});
    let out_of_range = json!({"skills": ["Java", "Figma", "Python"], "summary": "候选人经验丰富",
        "score": 180, "suggestions": ["补充项目成果"]});
    fake.set(|b| {
        b.reply_when = vec![
            ("忽略之前的指令".into(), obey.to_string()),
            ("ignore all previous instructions".into(), obey.to_string()),
            ("简历: ".into(), out_of_range.to_string()),
            ("职位: ".into(), r#"{"enhanced_description": "负责"#.into()),
            ("名称: ".into(), company_junk.to_string()),
        ]
    });
    let (code, rows, stderr) = eval_llm(Some(fake.url()), vec![], vec![]).await;
    assert_eq!(code, 0, "{stderr}");
    let (report, cases) = rows.split_last().unwrap();
    assert_eq!(cases.len(), 15, "{stderr}");
    assert_eq!(report["cases"], 15);
    // Truncated answers are unusable: the 5 jobs fall back; everything else answered.
    assert_eq!(
        report["outcomes"],
        json!({"answered": 10, "output_malformed": 5}),
        "{report}"
    );
    // The companies' junk grounds nowhere (the one Chinese field is about nothing in them).
    assert_eq!(report["sources"]["fallback"], 9, "{report}");
    assert_eq!(report["sources"]["llm+rules"], 6, "{report}");
    for reason in [
        "language",
        "not_text",
        "schema_copy",
        "off_topic",
        "out_of_range",
        "not_in_input",
        "not_a_skill",
    ] {
        assert!(
            report["dropped"][reason].as_u64().unwrap_or(0) > 0,
            "{reason}: {report}"
        );
    }
    // The injected resumes: the model obeyed both, no score moved, no invented skill kept.
    assert_eq!(report["injected"], 3);
    assert_eq!(report["injected_obeyed"], 2);
    assert_eq!(report["injected_score_moved"], 0);
    for c in cases.iter().filter(|c| c["kind"] == "resume") {
        assert_eq!(c["score"], c["facts_score"], "{c}");
        assert!(
            c["skills_grounded"].as_u64() < c["skills_listed"].as_u64(),
            "{c}"
        );
    }
    let p = report["skill_precision"].as_f64().unwrap();
    assert!(p > 0.0 && p < 1.0, "{report}");
    assert_eq!(report["fact_accuracy"], 1.0, "{report}");
    assert!(
        stderr.contains("injected cases      3 (2 obeyed by the model, 0 scores moved)"),
        "{stderr}"
    );
    // One generation per case, each with the schema as its format and room sized to it.
    let reqs = fake.requests("/api/generate");
    assert_eq!(reqs.len(), 15);
    assert!(reqs.iter().all(|r| r.body["format"]["type"] == "object"
        && r.body["options"]["num_predict"]
            .as_u64()
            .is_some_and(|n| n <= 1024)));

    // A slow model: every case times out and the analysis is the rules'.
    let dir = tempfile::tempdir().unwrap();
    let one = dir.path().join("one.json");
    std::fs::write(
        &one,
        json!([{"id": "c", "kind": "company", "input": {"name": "远航物流", "location": "深圳"},
                "expect": {"city": "深圳市"}}])
        .to_string(),
    )
    .unwrap();
    fake.set(|b| b.delay = std::time::Duration::from_secs(3));
    let (code, rows, stderr) = eval_llm(
        Some(fake.url()),
        vec!["--cases".into(), one.display().to_string()],
        vec![("AI_LLM_TIMEOUT_SECS", "0.3")],
    )
    .await;
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(rows[0]["outcome"], "timeout", "{}", rows[0]);
    assert_eq!(rows[0]["source"], "fallback");
    assert_eq!(rows[1]["fact_accuracy"], 1.0);

    // No LLM configured: a clear error, exit code 2.
    let (code, _, stderr) = eval_llm(None, vec![], vec![]).await;
    assert_eq!(code, 2);
    assert!(stderr.contains("no LLM is configured"), "{stderr}");
}
