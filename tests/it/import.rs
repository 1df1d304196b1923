//! `jobfirst-ai import`: the real binary on small generated JSON Lines files in a temp data dir;
//! what it imports is then read back through the engine the service opens on that dir.

use std::path::Path;
use std::process::{Command, Output};

use serde_json::json;

use jobfirst_ai::store::Collection;
use jobfirst_ai::vector::{Engine, EngineOptions};

fn import(data_dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_jobfirst-ai"))
        .arg("import")
        .args(args)
        .arg("--data-dir")
        .arg(data_dir)
        // Whatever the machine's environment says: offline embedder, no LLM.
        .env("LLM_PROVIDER", "none")
        .env("EMBEDDING_PROVIDER", "builtin")
        .env_remove("OLLAMA_HOST")
        .env("RUST_LOG", "warn")
        .output()
        .expect("run jobfirst-ai")
}

fn write_lines(path: &Path, lines: &[String]) {
    std::fs::write(path, lines.join("\n") + "\n").unwrap();
}

fn job(id: u64) -> String {
    json!({"job_id": id, "job_data": {
        "title": format!("Rust后端开发工程师 {id}"),
        "company": "星辰网络科技有限公司",
        "company_id": 7,
        "location": "深圳",
        "description": "负责高并发服务的设计与开发",
        "requirements": "3-5年经验，本科及以上，熟悉Rust、Redis、Kafka",
        "salary_min": 20000 + id,
        "salary_max": 35000,
    }})
    .to_string()
}

fn sorted(mut ids: Vec<u64>) -> Vec<u64> {
    ids.sort_unstable();
    ids
}

#[test]
fn imports_every_good_line_and_reports_bad_ones_by_line_number() {
    let dir = tempfile::tempdir().unwrap();
    let jobs = dir.path().join("jobs.jsonl");
    let mut lines: Vec<String> = (1..=20).map(job).collect();
    lines[4] = r#"{"job_id": 5, "job_data": {"title": "broken"#.to_string(); // line 5: invalid JSON
    lines[7] = job(8).replace(r#""job_id":8"#, r#""job_id":"abc""#); // line 8: bad id
    lines[11] = job(12).replace(r#""salary_max":35000"#, r#""salary_max":"lots""#); // line 12: wrong type
    lines[14] = job(15).replace(r#""salary_max":35000"#, r#""salary_max":1000"#); // line 15: min > max
    lines.insert(17, String::new()); // a blank line is not an error
    write_lines(&jobs, &lines);
    let companies = dir.path().join("companies.jsonl");
    write_lines(
        &companies,
        &[
            json!({"company_id": "7", "company_data": {"name": "星辰网络科技有限公司",
            "industry": "互联网", "size": "100-499人", "location": "深圳市",
            "description": "专注于招聘技术的互联网公司，五险一金、弹性工作"}})
            .to_string(),
        ],
    );
    let resumes = dir.path().join("resumes.jsonl");
    write_lines(
        &resumes,
        &[
            json!({"resume_id": 31, "content": "张伟\n5年工作经验，熟悉Rust、Kafka\n2016.09-2020.06 深圳大学 本科",
                "file_type": "txt", "file_name": "cv.txt", "user_id": 9})
            .to_string(),
            json!({"resume_id": 32, "content": "   ", "file_type": "txt", "file_name": "empty.txt"})
                .to_string(),
        ],
    );
    let data = dir.path().join("data");
    let out = import(
        &data,
        &[
            "--no-llm",
            "--jobs",
            jobs.to_str().unwrap(),
            "--companies",
            companies.to_str().unwrap(),
            "--resumes",
            resumes.to_str().unwrap(),
        ],
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stderr}\n{stdout}");
    for line in [5, 8, 12, 15] {
        assert!(
            stderr.contains(&format!("jobs.jsonl:{line}: skipped")),
            "line {line} not reported: {stderr}"
        );
    }
    assert!(
        stderr.contains("'abc' is not a positive integer id"),
        "{stderr}"
    );
    assert!(stderr.contains("resumes.jsonl:2: skipped"), "{stderr}");
    assert_eq!(stderr.matches("skipped:").count(), 5, "{stderr}");
    assert!(
        stdout.contains("imported 18 (companies 1, jobs 16, resumes 1), skipped 5"),
        "{stdout}"
    );

    // Served from the data dir as the service lays it out.
    let engine = Engine::open(&data, EngineOptions::default()).unwrap();
    let expected: Vec<u64> = (1..=20).filter(|i| ![5, 8, 12, 15].contains(i)).collect();
    assert_eq!(sorted(engine.ids(Collection::Jobs)), expected);
    assert_eq!(engine.ids(Collection::Companies), [7]);
    assert_eq!(engine.ids(Collection::Resumes), [31]);
    let doc = engine.document(Collection::Jobs, 3).unwrap().unwrap();
    assert_eq!(doc["input"]["title"], "Rust后端开发工程师 3");
    assert_eq!(doc["source"], "fallback");
    assert!(doc["analysis"]["extracted_skills"]
        .as_array()
        .unwrap()
        .iter()
        .any(|s| s == "Rust"));
    let resume = engine.document(Collection::Resumes, 31).unwrap().unwrap();
    assert_eq!(resume["input"]["user_id"], 9);
    engine.wait_idle();
}

#[test]
fn a_repeated_id_keeps_the_last_line() {
    let dir = tempfile::tempdir().unwrap();
    let jobs = dir.path().join("jobs.jsonl");
    let again = job(2).replace("Rust后端开发工程师 2", "Go后端开发工程师");
    write_lines(&jobs, &[job(1), job(2), again]);
    let data = dir.path().join("data");
    let out = import(&data, &["--no-llm", "--jobs", jobs.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let engine = Engine::open(&data, EngineOptions::default()).unwrap();
    assert_eq!(sorted(engine.ids(Collection::Jobs)), [1, 2]);
    let doc = engine.document(Collection::Jobs, 2).unwrap().unwrap();
    assert_eq!(doc["input"]["title"], "Go后端开发工程师");
    engine.wait_idle();
}

#[test]
fn a_missing_file_is_exit_code_2_naming_it_and_nothing_is_written() {
    let dir = tempfile::tempdir().unwrap();
    let jobs = dir.path().join("jobs.jsonl");
    write_lines(&jobs, &[job(1)]);
    let missing = dir.path().join("no-such-companies.jsonl");
    let data = dir.path().join("data");
    let out = import(
        &data,
        &[
            "--no-llm",
            "--jobs",
            jobs.to_str().unwrap(),
            "--companies",
            missing.to_str().unwrap(),
        ],
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("no-such-companies.jsonl"), "{stderr}");
    assert!(!data.join("vectors.redb").exists());
}

#[test]
fn no_input_file_is_a_usage_error() {
    let dir = tempfile::tempdir().unwrap();
    let out = import(&dir.path().join("data"), &["--no-llm"]);
    assert_eq!(out.status.code(), Some(2), "{out:?}");
}

#[test]
fn only_bad_lines_is_a_failure() {
    let dir = tempfile::tempdir().unwrap();
    let jobs = dir.path().join("jobs.jsonl");
    write_lines(&jobs, &["not json".to_string()]);
    let out = import(
        &dir.path().join("data"),
        &["--no-llm", "--jobs", jobs.to_str().unwrap()],
    );
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    assert!(String::from_utf8_lossy(&out.stderr).contains("jobs.jsonl:1: skipped"));
}
