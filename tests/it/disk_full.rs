//! Disk full: the data dir on a small tmpfs, filled to the last page while the service runs.
//!
//! * `service_refuses_writes_keeps_reads_and_recovers`: the real binary. Writes (analyses,
//!   deletes, chat messages, asynchronous analyses) answer 507 `insufficient_storage` at once —
//!   never 500, never a hang, never a crash; reads (documents, searches, recommendations, chat
//!   history, task results) answer what was stored; `/health` says `degraded` / `disk_full`.
//!   Space freed: writes succeed again without a restart. Then `kill -9` and a restart: every
//!   acknowledged write is there, nothing refused is, and search finds exactly the stored jobs.
//! * `engine_index_file_and_compaction_on_a_full_disk`: the engine in process. A rebuild on a
//!   full disk cannot write its index file nor compact: the old index file is left intact, the
//!   engine keeps serving, and after space returns a rebuild writes a file that the next open
//!   loads.
//!
//! Needs root (to mount a tmpfs), as in CI: without it the tests fail, they never skip.

use crate::support::data;
use crate::support::process;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fs::OpenOptions;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use jobfirst_ai::store::{Change, Collection, Payload, StoreError};
use jobfirst_ai::vector::{Engine, EngineOptions, EntityUpsert, SearchRequest, VectorError};
use serde_json::{json, Value};

// ---------------------------------------------------------------------------------------------
// A tmpfs per test
// ---------------------------------------------------------------------------------------------

/// A tmpfs mounted on a fresh directory under the temp dir; unmounted (lazily if busy) and
/// removed on drop, panics included.
struct Tmpfs {
    dir: PathBuf,
}

fn effective_uid() -> Option<u32> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("Uid:"))?;
    line.split_whitespace().nth(2)?.parse().ok()
}

/// Unmounts the tmpfs of earlier runs that were killed before their guard ran.
fn unmount_stale() {
    let mounts = std::fs::read_to_string("/proc/mounts").unwrap_or_default();
    for point in mounts.lines().filter_map(|l| l.split_whitespace().nth(1)) {
        let Some(rest) = Path::new(point)
            .file_name()
            .and_then(|n| n.to_str())
            .and_then(|n| n.strip_prefix("jobfirst-disk-full-"))
        else {
            continue;
        };
        let pid = rest.split('-').next().unwrap_or_default();
        if !pid.is_empty() && !Path::new("/proc").join(pid).exists() {
            let _ = Command::new("umount").arg("-l").arg(point).status();
            let _ = std::fs::remove_dir(point);
        }
    }
}

impl Tmpfs {
    fn mount(size_mib: u32) -> Tmpfs {
        static N: AtomicUsize = AtomicUsize::new(0);
        let uid = effective_uid();
        assert_eq!(
            uid,
            Some(0),
            "the disk-full tests mount a tmpfs and must run as root (as CI does); effective uid \
             is {uid:?}. They fail rather than skip."
        );
        unmount_stale();
        let dir = std::env::temp_dir().join(format!(
            "jobfirst-disk-full-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::create_dir_all(&dir).unwrap();
        let out = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size_mib}m,mode=0700")])
            .arg("tmpfs")
            .arg(&dir)
            .output()
            .expect("cannot run mount");
        if !out.status.success() {
            let _ = std::fs::remove_dir(&dir);
            panic!(
                "mount -t tmpfs failed on {} ({}): {} — the disk-full tests need a tmpfs; they \
                 fail rather than skip",
                dir.display(),
                out.status,
                String::from_utf8_lossy(&out.stderr).trim()
            );
        }
        Tmpfs { dir }
    }

    fn path(&self) -> &Path {
        &self.dir
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let ok = Command::new("umount")
            .arg(&self.dir)
            .status()
            .is_ok_and(|s| s.success());
        if !ok {
            let _ = Command::new("umount").arg("-l").arg(&self.dir).status();
        }
        let _ = std::fs::remove_dir(&self.dir);
    }
}

/// Fills the filesystem of `path`'s directory with `path`, to the last page: 1 MiB writes until
/// ENOSPC, then 64 KiB, then 4 KiB. Returns the bytes written.
fn fill(path: &Path) -> u64 {
    let mut f = OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .expect("open the filler");
    let mut total = 0u64;
    for chunk in [1usize << 20, 64 << 10, 4 << 10] {
        let buf = vec![0xa5u8; chunk];
        loop {
            match f.write(&buf) {
                Ok(n) => {
                    total += n as u64;
                    if n < chunk {
                        break;
                    }
                }
                Err(e) if e.raw_os_error() == Some(28) => break,
                Err(e) => panic!("filling {}: {e}", path.display()),
            }
        }
    }
    // Not one more page: a new 1-byte file does not fit.
    let probe = path.with_extension("probe");
    let full = match std::fs::write(&probe, b"x") {
        Err(e) => e.raw_os_error() == Some(28),
        Ok(()) => false,
    };
    let _ = std::fs::remove_file(&probe);
    assert!(full, "the filesystem is not full after the filler");
    total
}

// ---------------------------------------------------------------------------------------------
// The service
// ---------------------------------------------------------------------------------------------

struct Service {
    child: Child,
    port: u16,
    log: PathBuf,
}

impl Service {
    fn kill9(mut self) {
        self.child.kill().unwrap(); // SIGKILL
        self.child.wait().unwrap();
    }

    fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{}", self.port, path)
    }

    /// Panics if the process has exited (a crash).
    fn assert_alive(&mut self) {
        if let Some(status) = self.child.try_wait().unwrap() {
            panic!("the service exited: {status}");
        }
    }
}

impl Drop for Service {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if std::thread::panicking() {
            let log = std::fs::read_to_string(&self.log).unwrap_or_default();
            let tail: Vec<&str> = log.lines().rev().take(60).collect();
            eprintln!("--- service log (last 60 lines) ---");
            for l in tail.into_iter().rev() {
                eprintln!("{l}");
            }
        }
    }
}

async fn start(data: &Path, log: &Path) -> Service {
    let port = process::free_port();
    let log_file = OpenOptions::new()
        .create(true)
        .append(true)
        .open(log)
        .unwrap();
    let child = process::command(data, port)
        .env("AI_SAMPLE_DATA", "false")
        .stderr(log_file)
        .spawn()
        .unwrap();
    let mut s = Service {
        child,
        port,
        log: log.to_path_buf(),
    };
    let t = Instant::now();
    loop {
        s.assert_alive();
        assert!(t.elapsed() < Duration::from_secs(60), "service never ready");
        if let Ok(r) = reqwest::get(s.url("/health")).await {
            if r.status() == 200 {
                return s;
            }
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

struct Reply {
    status: u16,
    body: Value,
    elapsed: Duration,
}

/// One request; a hang (no answer in 20 s) fails the test.
async fn call(client: &reqwest::Client, method: &str, url: String, body: Option<Value>) -> Reply {
    let t = Instant::now();
    let mut rb = match method {
        "GET" => client.get(&url),
        "POST" => client.post(&url),
        "DELETE" => client.delete(&url),
        _ => unreachable!(),
    };
    if let Some(b) = body {
        rb = rb.json(&b);
    }
    let r = rb
        .timeout(Duration::from_secs(20))
        .send()
        .await
        .unwrap_or_else(|e| panic!("{method} {url}: no answer: {e}"));
    let status = r.status().as_u16();
    let bytes = r.bytes().await.unwrap();
    Reply {
        status,
        body: serde_json::from_slice(&bytes).unwrap_or(Value::Null),
        elapsed: t.elapsed(),
    }
}

fn job_body(id: u64) -> Value {
    json!({"job_id": id, "job_data": {
        "title": format!("后端工程师{id}"), "company": "星河科技", "location": "深圳",
        "description": format!("负责服务端开发，编号{id}"),
        "requirements": "3-5年经验，本科，熟悉Go和PostgreSQL",
        "salary_min": 20000, "salary_max": 30000}})
}

fn company_body(id: u64) -> Value {
    json!({"company_id": id, "company_data": {
        "name": format!("星河科技{id}"), "industry": "互联网", "size": "medium",
        "location": "深圳", "description": "专注企业服务的软件公司"}})
}

fn resume_body(id: u64) -> Value {
    json!({"resume_id": id, "user_id": 7, "file_type": "text", "file_name": "r.txt",
        "content": format!("张三{id} 本科 计算机科学 5年Go后端开发经验, 熟悉PostgreSQL, Redis. 期望城市: 深圳")})
}

fn chat_body(text: &str) -> Value {
    json!({"user_id": 7, "message": text, "session_id": "disk-full", "conversation_type": "general"})
}

fn task_body(resume: u64) -> Value {
    json!({"resumeId": resume, "userId": 7,
        "content": format!("李四{resume} 3年Go后端经验 本科 熟悉Kubernetes")})
}

/// What the service acknowledged, and what it refused.
#[derive(Default)]
struct Ledger {
    /// Path kind (`jobs`, `companies`, `resumes`) → acknowledged live ids.
    live: BTreeMap<&'static str, BTreeSet<u64>>,
    /// Ids whose write was refused and never acknowledged later.
    refused: BTreeMap<&'static str, BTreeSet<u64>>,
    /// Acknowledged chat messages / refused ones.
    chat_ok: Vec<String>,
    chat_refused: Vec<String>,
    /// Refusals (507) and the slowest.
    refusals: usize,
    slowest_refusal: Duration,
}

impl Ledger {
    fn refused(&mut self, r: &Reply, what: &str) {
        assert_eq!(
            r.status, 507,
            "{what} on a full disk: expected 507, got {} {}",
            r.status, r.body
        );
        assert_eq!(r.body["code"], "insufficient_storage", "{what}: {}", r.body);
        assert!(
            r.body["error"].as_str().is_some_and(|e| !e.is_empty()),
            "{what}: no error message in {}",
            r.body
        );
        assert!(
            r.elapsed < Duration::from_secs(5),
            "{what}: refusal took {:?}",
            r.elapsed
        );
        self.refusals += 1;
        self.slowest_refusal = self.slowest_refusal.max(r.elapsed);
    }
}

async fn analyze(c: &reqwest::Client, s: &Service, kind: &'static str, id: u64) -> Reply {
    let (path, body) = match kind {
        "jobs" => ("/api/v1/analyze/job", job_body(id)),
        "companies" => ("/api/v1/analyze/company", company_body(id)),
        "resumes" => ("/api/v1/analyze/resume", resume_body(id)),
        _ => unreachable!(),
    };
    call(c, "POST", s.url(path), Some(body)).await
}

/// Polls the task until it is `completed` (panics if it fails or is still `processing` after
/// `within`).
async fn task_completes(c: &reqwest::Client, s: &Service, id: &str, within: Duration) {
    let t = Instant::now();
    loop {
        let r = call(
            c,
            "GET",
            s.url(&format!("/api/v1/ai/analysis-result/{id}")),
            None,
        )
        .await;
        assert_eq!(r.status, 200, "task {id}: {}", r.body);
        match r.body["data"]["status"].as_str() {
            Some("completed") => return,
            Some("processing") => {}
            _ => panic!("task {id} did not complete: {}", r.body),
        }
        assert!(
            t.elapsed() < within,
            "task {id} still processing: {}",
            r.body
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn health(c: &reqwest::Client, s: &Service) -> Value {
    let r = call(c, "GET", s.url("/health"), None).await;
    assert_eq!(r.status, 200, "{}", r.body);
    r.body
}

/// Every acknowledged entity reads back (with its own title/name), every refused or deleted
/// one is absent, searches and recommendations answer.
async fn check_reads(c: &reqwest::Client, s: &Service, ledger: &Ledger) {
    for (kind, ids) in &ledger.live {
        for id in ids {
            let r = call(c, "GET", s.url(&format!("/api/v1/{kind}/{id}")), None).await;
            assert_eq!(r.status, 200, "GET {kind}/{id}: {}", r.body);
            if *kind == "jobs" {
                assert_eq!(r.body["job_data"]["title"], format!("后端工程师{id}"));
            }
        }
    }
    for (kind, ids) in &ledger.refused {
        for id in ids {
            let r = call(c, "GET", s.url(&format!("/api/v1/{kind}/{id}")), None).await;
            assert_eq!(r.status, 404, "refused {kind}/{id} is present: {}", r.body);
        }
    }
    // Search over every job: exactly the acknowledged live ones.
    for (kind, query, key) in [
        ("jobs", "后端工程师 Go 服务端开发", "job_id"),
        ("companies", "星河科技 互联网", "company_id"),
    ] {
        let r = call(
            c,
            "POST",
            s.url(&format!("/api/v1/search/{kind}")),
            Some(json!({"query": query, "limit": 100})),
        )
        .await;
        assert_eq!(r.status, 200, "{}", r.body);
        let found: BTreeSet<u64> = r.body["results"]
            .as_array()
            .unwrap()
            .iter()
            .map(|h| h[key].as_u64().unwrap())
            .collect();
        assert_eq!(found, ledger.live[kind], "search ≠ stored {kind}");
    }
    let r = call(
        c,
        "POST",
        s.url("/api/v1/recommend/jobs"),
        Some(json!({"user_id": 7, "limit": 5})),
    )
    .await;
    assert_eq!(r.status, 200, "recommendations: {}", r.body);
    let r = call(
        c,
        "GET",
        s.url("/api/v1/chat/sessions/disk-full/messages?user_id=7&limit=100"),
        None,
    )
    .await;
    assert_eq!(r.status, 200, "chat history: {}", r.body);
    let texts: Vec<String> = r.body["messages"]
        .as_array()
        .unwrap_or_else(|| panic!("no messages in {}", r.body))
        .iter()
        .filter(|m| m["role"] == "user" || m["message_type"] == "user")
        .map(|m| m["content"].as_str().unwrap_or_default().to_string())
        .collect();
    let mut sorted = texts.clone();
    sorted.sort();
    let mut acked = ledger.chat_ok.clone();
    acked.sort();
    assert_eq!(sorted, acked, "chat history ≠ acknowledged messages");
    for t in &ledger.chat_refused {
        assert!(!texts.contains(t), "refused chat message stored: {t}");
    }
    let h = health(c, s).await;
    let stats = h["components"]["index"]["collections"].as_array().unwrap();
    for st in stats {
        let name = st["name"].as_str().unwrap();
        let want = ledger.live.get(name).map_or(0, BTreeSet::len);
        assert_eq!(st["live"].as_u64().unwrap() as usize, want, "{name}: {st}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn service_refuses_writes_keeps_reads_and_recovers() {
    let fs = Tmpfs::mount(24);
    let logs = tempfile::tempdir().unwrap();
    let log = logs.path().join("service.log");
    let data = fs.path().join("data");
    let filler = fs.path().join("filler");
    let c = reqwest::Client::new();
    let mut ledger = Ledger::default();
    for kind in ["jobs", "companies", "resumes"] {
        ledger.live.insert(kind, BTreeSet::new());
        ledger.refused.insert(kind, BTreeSet::new());
    }

    // 1. Healthy: analyses, a delete, a chat message (no LLM: 503, the question stored), a task.
    let mut s = start(&data, &log).await;
    for id in 1..=12 {
        let r = analyze(&c, &s, "jobs", id).await;
        assert_eq!(r.status, 200, "job {id}: {}", r.body);
        ledger.live.get_mut("jobs").unwrap().insert(id);
    }
    for id in 1..=4 {
        for kind in ["companies", "resumes"] {
            let r = analyze(&c, &s, kind, id).await;
            assert_eq!(r.status, 200, "{kind} {id}: {}", r.body);
            ledger.live.get_mut(kind).unwrap().insert(id);
        }
    }
    let r = call(&c, "DELETE", s.url("/api/v1/jobs/12"), None).await;
    assert_eq!(r.status, 200, "{}", r.body);
    ledger.live.get_mut("jobs").unwrap().remove(&12);
    let text = "磁盘满之前的问题".to_string();
    let r = call(&c, "POST", s.url("/api/v1/chat"), Some(chat_body(&text))).await;
    assert_eq!(r.status, 503, "chat without an LLM: {}", r.body);
    assert_eq!(r.body["code"], "llm_unavailable");
    ledger.chat_ok.push(text);
    let r = call(
        &c,
        "POST",
        s.url("/api/v1/ai/start-analysis"),
        Some(task_body(3)),
    )
    .await;
    assert!(r.status < 300, "start-analysis: {}", r.body);
    let task = r.body["data"]["taskId"].as_str().unwrap().to_string();
    task_completes(&c, &s, &task, Duration::from_secs(20)).await;
    assert_eq!(
        health(&c, &s).await["components"]["storage"]["status"],
        "up"
    );

    // 2. Fill the filesystem to the last page.
    let filled = fill(&filler);
    let filled_at = Instant::now();

    // 3. A concurrent burst hits the full disk: analyses, chat messages, tasks and reads at once.
    // Each write is acknowledged (it still fitted in pages redb owns) or refused with 507.
    let mut writes = Vec::new();
    for id in 100..108u64 {
        writes.push(("jobs", id, analyze(&c, &s, "jobs", id)));
    }
    let burst_chat: Vec<String> = (0..4).map(|i| format!("磁盘写满瞬间的问题{i}")).collect();
    let chats = burst_chat
        .iter()
        .map(|t| call(&c, "POST", s.url("/api/v1/chat"), Some(chat_body(t))));
    let tasks = (0..2).map(|_| {
        call(
            &c,
            "POST",
            s.url("/api/v1/ai/start-analysis"),
            Some(task_body(3)),
        )
    });
    let reads = (0..6).map(|i| call(&c, "GET", s.url(&format!("/api/v1/jobs/{}", i + 2)), None));
    let (writes, chats, tasks, reads) = tokio::join!(
        futures_util::future::join_all(
            writes
                .into_iter()
                .map(|(k, id, f)| async move { (k, id, f.await) })
        ),
        futures_util::future::join_all(chats),
        futures_util::future::join_all(tasks),
        futures_util::future::join_all(reads),
    );
    let mut first_refusal = None;
    for (kind, id, r) in writes {
        if r.status == 200 {
            ledger.live.get_mut(kind).unwrap().insert(id);
        } else {
            ledger.refused(&r, "analysis in the burst");
            ledger.refused.get_mut(kind).unwrap().insert(id);
            first_refusal.get_or_insert(filled_at.elapsed());
        }
    }
    for (t, r) in burst_chat.into_iter().zip(chats) {
        if r.status == 503 && r.body["code"] == "llm_unavailable" {
            ledger.chat_ok.push(t);
        } else {
            ledger.refused(&r, "chat in the burst");
            ledger.chat_refused.push(t);
        }
    }
    // Tasks accepted as the disk filled: each must end `completed` once space returns (a task
    // the storage refused waits and runs again; it never stays `processing` for good).
    let mut burst_tasks = Vec::new();
    for r in tasks {
        if r.status >= 300 {
            ledger.refused(&r, "start-analysis in the burst");
        } else {
            burst_tasks.push(r.body["data"]["taskId"].as_str().unwrap().to_string());
        }
    }
    for r in reads {
        assert_eq!(r.status, 200, "read in the burst: {}", r.body);
    }
    let burst_refused = ledger.refusals;

    // Then one analysis at a time until the first 507, if the burst had none.
    let mut next_job = 108u64;
    let first_refusal = loop {
        if let Some(t) = first_refusal {
            break t;
        }
        assert!(next_job < 160, "60 analyses on a full disk and no 507");
        let r = analyze(&c, &s, "jobs", next_job).await;
        match r.status {
            200 => {
                ledger.live.get_mut("jobs").unwrap().insert(next_job);
            }
            _ => {
                ledger.refused(&r, "analysis");
                ledger.refused.get_mut("jobs").unwrap().insert(next_job);
                next_job += 1;
                break filled_at.elapsed();
            }
        }
        next_job += 1;
    };
    let fit_after_fill = ledger.live["jobs"].range(100..).count();
    // The service freed its reserve to recover; someone else takes that space too.
    let refilled = fill(&filler);

    // 4. On the full disk: every kind of write is refused with 507, at once.
    for round in 0..3u64 {
        for kind in ["jobs", "companies", "resumes"] {
            let id = 200 + round * 10 + ledger.refusals as u64;
            let r = analyze(&c, &s, kind, id).await;
            ledger.refused(&r, "analysis");
            ledger.refused.get_mut(kind).unwrap().insert(id);
        }
        let r = call(&c, "DELETE", s.url("/api/v1/jobs/1"), None).await;
        ledger.refused(&r, "delete");
        let r = call(&c, "DELETE", s.url("/api/v1/resumes/2"), None).await;
        ledger.refused(&r, "delete");
        let text = format!("磁盘满时的问题{round}");
        let r = call(&c, "POST", s.url("/api/v1/chat"), Some(chat_body(&text))).await;
        ledger.refused(&r, "chat");
        ledger.chat_refused.push(text);
        let r = call(
            &c,
            "POST",
            s.url("/api/v1/ai/start-analysis"),
            Some(task_body(4)),
        )
        .await;
        ledger.refused(&r, "start-analysis");
        // A probe runs at most every 250 ms: let a few run, and fail.
        tokio::time::sleep(Duration::from_millis(150)).await;
    }
    s.assert_alive();

    // Reads answer what was stored; health tells the truth.
    check_reads(&c, &s, &ledger).await;
    let r = call(
        &c,
        "GET",
        s.url(&format!("/api/v1/ai/analysis-result/{task}")),
        None,
    )
    .await;
    assert_eq!(r.status, 200, "task result on a full disk: {}", r.body);
    let h = health(&c, &s).await;
    assert_eq!(h["status"], "degraded", "{h}");
    let storage = &h["components"]["storage"];
    assert_eq!(storage["status"], "disk_full", "{h}");
    assert!(storage["refused_writes"].as_u64().unwrap() >= 1, "{h}");
    // The failed commit latched redb's error: the store was reopened in place.
    assert!(storage["reopens"].as_u64().unwrap() >= 1, "{h}");
    assert!(storage["since_ms"].as_i64().is_some(), "{h}");
    assert!(storage["last_error"].as_str().is_some(), "{h}");

    // 5. Space returns: writes succeed again, without a restart.
    std::fs::remove_file(&filler).unwrap();
    let freed_at = Instant::now();
    let recovered_after = loop {
        let r = analyze(&c, &s, "jobs", next_job).await;
        if r.status == 200 {
            ledger.live.get_mut("jobs").unwrap().insert(next_job);
            next_job += 1;
            break freed_at.elapsed();
        }
        ledger.refused(&r, "analysis while space returns");
        ledger.refused.get_mut("jobs").unwrap().insert(next_job);
        next_job += 1;
        assert!(
            freed_at.elapsed() < Duration::from_secs(10),
            "writes still refused 10 s after space returned"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    for kind in ["companies", "resumes"] {
        let r = analyze(&c, &s, kind, 50).await;
        assert_eq!(r.status, 200, "{kind} after recovery: {}", r.body);
        ledger.live.get_mut(kind).unwrap().insert(50);
    }
    let r = call(&c, "DELETE", s.url("/api/v1/jobs/1"), None).await;
    assert_eq!(r.status, 200, "delete after recovery: {}", r.body);
    ledger.live.get_mut("jobs").unwrap().remove(&1);
    let text = "空间恢复之后的问题".to_string();
    let r = call(&c, "POST", s.url("/api/v1/chat"), Some(chat_body(&text))).await;
    assert_eq!(r.status, 503, "chat after recovery: {}", r.body);
    assert_eq!(r.body["code"], "llm_unavailable");
    ledger.chat_ok.push(text);
    let r = call(
        &c,
        "POST",
        s.url("/api/v1/ai/start-analysis"),
        Some(task_body(5)),
    )
    .await;
    assert!(r.status < 300, "start-analysis after recovery: {}", r.body);
    let h = health(&c, &s).await;
    assert_eq!(h["components"]["storage"]["status"], "up", "{h}");
    assert_eq!(h["status"], "healthy", "{h}");
    // The task queued after recovery ran (resume 5 written by it).
    let t = Instant::now();
    loop {
        let r = call(&c, "GET", s.url("/api/v1/resumes/5"), None).await;
        if r.status == 200 {
            ledger.live.get_mut("resumes").unwrap().insert(5);
            break;
        }
        assert!(t.elapsed() < Duration::from_secs(20), "task never ran");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    for id in &burst_tasks {
        task_completes(&c, &s, id, Duration::from_secs(45)).await;
    }
    check_reads(&c, &s, &ledger).await;
    let refused_reported = health(&c, &s).await["components"]["storage"]["refused_writes"]
        .as_u64()
        .unwrap();

    let refusals_first_run = ledger.refusals;

    // 6. kill -9 and restart: exactly the acknowledged writes.
    s.kill9();
    let restart = Instant::now();
    let s = start(&data, &log).await;
    let restart_ms = restart.elapsed().as_millis();
    check_reads(&c, &s, &ledger).await;
    let r = analyze(&c, &s, "jobs", next_job).await;
    assert_eq!(r.status, 200, "write after restart: {}", r.body);
    ledger.live.get_mut("jobs").unwrap().insert(next_job);
    next_job += 1;

    // 7. Full again, kill -9 while full, and a start on the full disk: it comes up (no room
    // for its reserve: refusing writes from the start), serves what was stored, refuses
    // writes; space returns and writes are accepted.
    fill(&filler);
    loop {
        assert!(next_job < 400, "no 507 on the second fill");
        let r = analyze(&c, &s, "jobs", next_job).await;
        if r.status == 200 {
            ledger.live.get_mut("jobs").unwrap().insert(next_job);
        } else {
            ledger.refused(&r, "analysis on the second fill");
            ledger.refused.get_mut("jobs").unwrap().insert(next_job);
            next_job += 1;
            break;
        }
        next_job += 1;
    }
    fill(&filler);
    s.kill9();
    let s = start(&data, &log).await;
    let h = health(&c, &s).await;
    assert_eq!(h["components"]["storage"]["status"], "disk_full", "{h}");
    check_reads(&c, &s, &ledger).await;
    let r = analyze(&c, &s, "jobs", next_job).await;
    ledger.refused(&r, "analysis after a start on a full disk");
    ledger.refused.get_mut("jobs").unwrap().insert(next_job);
    next_job += 1;
    std::fs::remove_file(&filler).unwrap();
    let t = Instant::now();
    let recovered_after_full_start = loop {
        let r = analyze(&c, &s, "jobs", next_job).await;
        if r.status == 200 {
            ledger.live.get_mut("jobs").unwrap().insert(next_job);
            break t.elapsed();
        }
        ledger.refused(&r, "analysis while space returns");
        ledger.refused.get_mut("jobs").unwrap().insert(next_job);
        next_job += 1;
        assert!(t.elapsed() < Duration::from_secs(10), "never recovered");
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    check_reads(&c, &s, &ledger).await;
    drop(s);

    println!(
        "disk full: filler {} + {} bytes; {} analyses fitted after the fill; first 507 {:?} \
         after the fill; burst: {} of 14 writes refused; first run: {} writes refused with 507 \
         ({} counted by the service's admission check, the rest failed commits); writes \
         accepted {:?} after space returned (no restart); restart {} ms; start on a full \
         disk: writes accepted {:?} after space returned; {} refusals in all, slowest {:?}",
        filled,
        refilled,
        fit_after_fill,
        first_refusal,
        burst_refused,
        refusals_first_run,
        refused_reported,
        recovered_after,
        restart_ms,
        recovered_after_full_start,
        ledger.refusals,
        ledger.slowest_refusal,
    );
}

// ---------------------------------------------------------------------------------------------
// The engine in process: index file and compaction
// ---------------------------------------------------------------------------------------------

const DIM: usize = 64;
const MODEL: &str = "disk-full-test";

fn vector(id: u64, variant: u64) -> Vec<f32> {
    data::xorshift_vector(id.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ variant, DIM)
}

fn entity(id: u64, variant: u64) -> EntityUpsert {
    let vectors: HashMap<String, Vec<f32>> = Collection::Jobs
        .vector_names()
        .iter()
        .enumerate()
        .map(|(i, n)| (n.to_string(), vector(id, variant * 8 + i as u64)))
        .collect();
    EntityUpsert {
        id,
        vectors,
        payload: Payload::new().with("city", "深圳市"),
        document: json!({"id": id, "variant": variant, "pad": "x".repeat(2000)}),
    }
}

/// Every live id is found by an exact search for its own vector, and nothing else is live.
fn assert_consistent(engine: &Engine, live: &BTreeMap<u64, u64>) {
    let stats = engine.collection_stats(Collection::Jobs);
    assert_eq!(stats.live, live.len(), "{stats:?}");
    for (&id, &variant) in live {
        let e = engine
            .get(Collection::Jobs, id)
            .unwrap()
            .unwrap_or_else(|| panic!("job {id} missing"));
        assert_eq!(e.id, id);
        let doc = engine.document(Collection::Jobs, id).unwrap().unwrap();
        assert_eq!(doc["variant"], variant, "job {id}");
        let q = vector(id, variant * 8 + 3);
        let hits = engine
            .search(&SearchRequest {
                collection: Collection::Jobs,
                vector: "overall",
                query: &q,
                k: 1,
                filter: None,
                ef: Some(200),
            })
            .unwrap();
        assert_eq!(hits.hits[0].id, id, "search for job {id}'s own vector");
    }
}

/// The outbox holds one entry per acknowledged write and none for a refused one: replaying it
/// gives exactly the live entities and their versions.
fn assert_outbox(engine: &Engine, acked: usize, live: &BTreeMap<u64, u64>) {
    let entries = engine.store().outbox_read(0, usize::MAX).unwrap();
    assert_eq!(entries.len(), acked, "outbox entries ≠ acknowledged writes");
    assert_eq!(engine.store().outbox_len().unwrap() as usize, acked);
    let mut replayed: BTreeMap<u64, u64> = BTreeMap::new();
    for e in entries {
        match e.change {
            Change::Upsert { id, document, .. } => {
                replayed.insert(id, document["variant"].as_u64().unwrap());
            }
            Change::Delete { id, .. } => {
                replayed.remove(&id);
            }
            other => panic!("unexpected outbox entry {other:?}"),
        }
    }
    assert_eq!(&replayed, live, "the outbox replays to other entities");
}

#[test]
fn engine_index_file_and_compaction_on_a_full_disk() {
    let fs = Tmpfs::mount(16);
    let dir = fs.path().join("data");
    let filler = fs.path().join("filler");
    let options = EngineOptions {
        tail_limit: 50,
        background_rebuild: false,
        outbox: true,
        ..EngineOptions::default()
    };
    let index = dir.join("index").join("jobs.idx");
    // id → variant of every acknowledged write.
    let mut live: BTreeMap<u64, u64> = BTreeMap::new();
    // Writes acknowledged (each logged one outbox entry).
    let mut acked = 0usize;
    {
        let engine = Engine::open(&dir, options).unwrap();
        for id in 1..=300 {
            engine
                .upsert(Collection::Jobs, MODEL, entity(id, 0))
                .unwrap();
            live.insert(id, 0);
            acked += 1;
        }
        engine.rebuild(Collection::Jobs).unwrap();
        let before = std::fs::read(&index).expect("index file after a rebuild");

        fill(&filler);
        // Updates (new slots, so the rebuild has dead records to compact) until the disk refuses.
        let mut refused = 0;
        for id in 1..=300 {
            match engine.upsert(Collection::Jobs, MODEL, entity(id, 1)) {
                Ok(()) => {
                    live.insert(id, 1);
                    acked += 1;
                }
                Err(VectorError::Store(StoreError::DiskFull)) => refused += 1,
                Err(e) => panic!("update of {id} on a full disk: {e:?}"),
            }
        }
        assert!(refused > 0, "no write refused on a full disk");
        fill(&filler);
        assert!(matches!(
            engine.delete(Collection::Jobs, 1),
            Err(VectorError::Store(StoreError::DiskFull))
        ));
        let status = engine.store().storage_status();
        assert_eq!(status.status, "disk_full", "{status:?}");
        assert!(
            status.reopens >= 1,
            "redb's latched error was not reset: {status:?}"
        );
        // A rebuild on the full disk: graphs swapped in memory, index file not written (the old
        // one intact), compaction refused.
        match engine.rebuild(Collection::Jobs) {
            Ok(()) | Err(VectorError::Store(StoreError::DiskFull)) => {}
            Err(e) => panic!("rebuild on a full disk: {e:?}"),
        }
        assert_eq!(
            std::fs::read(&index).unwrap(),
            before,
            "index file changed on a full disk"
        );
        let leftovers: Vec<_> = std::fs::read_dir(dir.join("index"))
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .filter(|n| n != "jobs.idx")
            .collect();
        assert!(leftovers.is_empty(), "temp files left: {leftovers:?}");
        assert_consistent(&engine, &live);
        assert_outbox(&engine, acked, &live);

        // Closed and opened again on the full disk (redb cannot record its state at close, so
        // the open recovers the file): it opens, serves reads, refuses writes.
        drop(engine);
        let engine = Engine::open(&dir, options).expect("open on a full disk");
        let status = engine.store().storage_status();
        assert_eq!(status.status, "disk_full", "{status:?}");
        assert_consistent(&engine, &live);
        assert!(matches!(
            engine.upsert(Collection::Jobs, MODEL, entity(1, 9)),
            Err(VectorError::Store(StoreError::DiskFull))
        ));

        // Space returns: writes, a rebuild with its index file and compaction work again.
        std::fs::remove_file(&filler).unwrap();
        let t = Instant::now();
        loop {
            match engine.delete(Collection::Jobs, 1) {
                Ok(existed) => {
                    assert!(existed);
                    live.remove(&1);
                    acked += 1;
                    println!(
                        "engine on a full disk: {} of 300 updates fitted after the fill, {refused} \
                         refused; rebuild left the index file intact; a delete accepted {:?} \
                         after space returned",
                        300 - refused,
                        t.elapsed()
                    );
                    break;
                }
                Err(VectorError::Store(StoreError::DiskFull)) => {
                    assert!(t.elapsed() < Duration::from_secs(5), "never recovered");
                    std::thread::sleep(Duration::from_millis(20));
                }
                Err(e) => panic!("{e:?}"),
            }
        }
        for id in 2..=300 {
            engine
                .upsert(Collection::Jobs, MODEL, entity(id, 2))
                .unwrap();
            live.insert(id, 2);
            acked += 1;
        }
        engine.rebuild(Collection::Jobs).unwrap();
        assert_ne!(std::fs::read(&index).unwrap(), before);
        assert_eq!(engine.store().storage_status().status, "up");
        assert_consistent(&engine, &live);
    }
    // Reopen: the index file is loaded and agrees with redb.
    let engine = Engine::open(&dir, options).unwrap();
    assert!(engine.collection_stats(Collection::Jobs).loaded_from_file);
    assert_consistent(&engine, &live);
    assert_outbox(&engine, acked, &live);
}
