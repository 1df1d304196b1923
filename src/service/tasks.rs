//! Asynchronous resume analyses: `POST /api/v1/ai/start-analysis` queues one and answers at
//! once, `GET /api/v1/ai/analysis-result/{task_id}` polls it. A few workers run each task
//! through [`AiService::analyze_resume`] — the pipeline of `POST /api/v1/analyze/resume` (LLM
//! with the rules as fallback, embedding, engine write, outbox).
//!
//! **Durable.** A task is a JSON record in the engine's key-value table, written (fsynced)
//! before the request is answered, and rewritten when it starts and when it ends. At start
//! every record is read back; tasks still queued or running are queued again in submission
//! order (a task found running three times — it was interrupted each time — is failed rather
//! than retried forever).
//!
//! **Bounded.** At most `AI_TASK_QUEUE` tasks are queued or running (more: 429
//! `queue_full`). Records live in a ring of [`TASK_SLOTS`] keys: task `seq` is stored at slot
//! `seq % TASK_SLOTS` (a slot whose task has not finished is skipped), so storage never grows
//! beyond the ring and a finished task is kept until its slot is reused — at least the last
//! `TASK_SLOTS - AI_TASK_QUEUE` tasks — and for [`TASK_TTL`] at most. No deletion is needed.
//!
//! **Storage failures are waited out.** A task whose analysis was refused for lack of disk
//! space (or a storage I/O failure), or whose outcome could not be stored, is not dropped: it
//! stays `processing`, waits until the store accepts writes again (at least
//! [`STORAGE_RETRY_MIN`], doubling to [`STORAGE_RETRY_MAX`] between runs) and runs again — or,
//! when only its outcome was lost, stores that outcome again.
//!
//! Workers hold only a weak reference to the service: when the last handle of the service is
//! dropped they stop (an interrupted task stays in redb and runs again at the next start).

use std::collections::{HashSet, VecDeque};
use std::sync::{Arc, Weak};
use std::time::Duration;

use parking_lot::Mutex;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use tokio::sync::{watch, Notify};

use super::gateway::{Feature, FeatureInput};
use super::{blocking, check_len, now_iso, AiService, Result, ServiceError, MAX_CONTENT_CHARS};
use crate::entity::{Id, ResumeData};
use crate::store::StoreError;
use crate::vector::{Engine, VectorError};

pub use crate::config::{MAX_TASK_QUEUE, MAX_TASK_WORKERS, TASK_SLOTS};
/// How long a finished task's result can be read.
pub const TASK_TTL: Duration = Duration::from_secs(24 * 3600);
/// Runs of one task at most: a task found running at start this many times is failed.
pub const MAX_TASK_ATTEMPTS: u32 = 3;
/// First wait before a task refused by the storage runs again.
pub const STORAGE_RETRY_MIN: Duration = Duration::from_millis(500);
/// Longest wait between runs of a task the storage keeps refusing.
pub const STORAGE_RETRY_MAX: Duration = Duration::from_secs(30);
/// How often a task waiting for the storage checks whether it accepts writes again.
const STORAGE_POLL: Duration = Duration::from_millis(250);
/// Longest task id accepted on lookup.
const MAX_TASK_ID_LEN: usize = 64;

const KEY_PREFIX: &str = "ai_task/";

fn key(slot: u64) -> String {
    format!("{KEY_PREFIX}{slot:04}")
}

/// Where a task is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TaskState {
    Queued,
    Running,
    Completed,
    Failed,
}

impl TaskState {
    pub fn is_finished(self) -> bool {
        matches!(self, TaskState::Completed | TaskState::Failed)
    }

    /// The gateway's coarse status: `processing` until finished.
    pub fn public(self) -> &'static str {
        match self {
            TaskState::Queued | TaskState::Running => "processing",
            TaskState::Completed => "completed",
            TaskState::Failed => "failed",
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            TaskState::Queued => "queued",
            TaskState::Running => "running",
            TaskState::Completed => "completed",
            TaskState::Failed => "failed",
        }
    }
}

/// Why a task failed: the stable code and message an HTTP error would have carried.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TaskFailure {
    pub code: String,
    pub message: String,
}

/// One task as stored (JSON) in its ring slot.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TaskRecord {
    /// `task_<seq>_<8 hex>`: the sequence number locates the slot, the random part makes an
    /// id from an earlier data dir (or a guess) miss.
    pub id: String,
    pub seq: u64,
    pub state: TaskState,
    /// The gateway feature (`GET /api/v1/ai/features` id) the task runs; 1 (resume
    /// optimisation) for tasks stored before features were recorded.
    #[serde(default = "resume_feature")]
    pub feature: u32,
    /// The stored resume analysed; `None`: a text analysed without being stored.
    pub resume_id: Option<Id>,
    /// The token's user who queued it (`None` with auth off or a token-less caller).
    pub owner: Option<Id>,
    /// Queued by a caller that acts for anyone (auth off, `admin`, `service`): the resume's
    /// ownership is not checked again when the task runs.
    pub privileged: bool,
    /// The resume's user (the analysis's `user_id`).
    pub user_id: Option<Id>,
    /// What to analyse; dropped once the task has finished.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub input: Option<ResumeData>,
    /// Runs started (1 after a normal run; more after restarts interrupted it).
    pub attempts: u32,
    pub created_at: String,
    pub started_at: Option<String>,
    pub finished_at: Option<String>,
    /// Unix seconds of the end, for [`TASK_TTL`].
    pub finished_unix: Option<i64>,
    /// The analysis response (`POST /api/v1/analyze/resume`'s body) once completed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub result: Option<Value>,
    /// The feature's report (`industryMatch`, `competitiveness`, matches, questions, ...).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub report: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<TaskFailure>,
}

fn resume_feature() -> u32 {
    Feature::ResumeOptimization.id()
}

impl TaskRecord {
    fn slot(&self) -> u64 {
        self.seq % TASK_SLOTS
    }

    fn expired(&self, now: i64) -> bool {
        self.finished_unix
            .is_some_and(|t| now.saturating_sub(t) > TASK_TTL.as_secs() as i64)
    }
}

/// A task to queue: the feature, the resume, what to analyse, and who asks.
#[derive(Debug, Clone)]
pub struct NewTask {
    pub feature: Feature,
    /// The stored resume to (re-)analyse; `None`: analyse `data` without storing it.
    pub resume_id: Option<Id>,
    /// Content, file name and type, and the resume's `user_id`.
    pub data: ResumeData,
    /// The caller's user (from the token).
    pub owner: Option<Id>,
    /// The caller acts for anyone.
    pub privileged: bool,
}

/// Why a task was not queued.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TaskError {
    /// *load*: `AI_TASK_QUEUE` tasks are queued or running.
    #[error("the analysis queue is full ({capacity} tasks queued or running)")]
    QueueFull { capacity: usize },
    /// *operator*: this service was built without a task queue.
    #[error("asynchronous analyses are not available")]
    Unavailable,
    /// Invalid input or a storage failure.
    #[error(transparent)]
    Service(#[from] ServiceError),
}

/// The queue's counters (for `GET /api/v1/ai/features`).
#[derive(Debug, Clone, Copy, Serialize)]
pub struct TaskStats {
    /// Waiting for a worker.
    pub queued: usize,
    pub running: usize,
    /// `AI_TASK_QUEUE`: queued + running at most.
    pub capacity: usize,
    pub workers: usize,
}

/// A queued task in memory (the record in redb has the rest).
#[derive(Debug, Clone)]
struct Job {
    seq: u64,
    id: String,
    /// Runs the storage refused so far (sets the wait before the next).
    storage_retries: u32,
    /// The finished record whose store failed: only the store is tried again.
    outcome: Option<Box<TaskRecord>>,
}

impl Job {
    fn new(seq: u64, id: String) -> Job {
        Job {
            seq,
            id,
            storage_retries: 0,
            outcome: None,
        }
    }
}

/// How a run of a task ended.
enum Ran {
    /// Finished (or gone): its slot is free.
    Done,
    /// The storage refused it: run again (or store `Job::outcome` again) once writes are
    /// accepted.
    StorageRefused(Option<Box<TaskRecord>>),
}

#[derive(Default)]
struct State {
    queue: VecDeque<Job>,
    /// Ring slots of the tasks queued or running (never reused until they finish).
    busy: HashSet<u64>,
    next_seq: u64,
}

/// What the workers and the submitters share. Holds no engine: an idle worker keeps nothing
/// of the service alive.
struct Shared {
    state: Mutex<State>,
    /// Serialises submissions (a slot is chosen, written, then marked busy).
    submit: Mutex<()>,
    work: Notify,
    capacity: usize,
    workers: usize,
}

impl Shared {
    fn pop(&self) -> Option<Job> {
        self.state.lock().queue.pop_front()
    }

    fn finish(&self, slot: u64) {
        self.state.lock().busy.remove(&slot);
    }

    /// Puts back a task the storage refused (its slot stayed busy) and wakes a worker.
    fn requeue(&self, job: Job) {
        self.state.lock().queue.push_back(job);
        self.work.notify_one();
    }
}

/// The wait before run `retries + 1` of a task the storage refused `retries` times.
fn storage_backoff(retries: u32) -> Duration {
    STORAGE_RETRY_MIN
        .saturating_mul(1u32 << retries.min(16))
        .min(STORAGE_RETRY_MAX)
}

/// Waits [`storage_backoff`], then until the store accepts writes, then queues `job` again;
/// gives up when the service goes away (the task stays in redb and runs at the next start).
async fn retry_later(
    shared: Arc<Shared>,
    service: Weak<AiService>,
    mut stop: watch::Receiver<()>,
    job: Job,
) {
    let mut wait = storage_backoff(job.storage_retries.saturating_sub(1));
    loop {
        tokio::select! {
            _ = tokio::time::sleep(wait) => {}
            _ = stop.changed() => return,
        }
        let Some(svc) = service.upgrade() else {
            return;
        };
        let engine = svc.engine.clone();
        drop(svc);
        let up =
            tokio::task::spawn_blocking(move || engine.store().storage_status().status == "up")
                .await
                .unwrap_or(false);
        if up {
            break;
        }
        wait = STORAGE_POLL;
    }
    shared.requeue(job);
}

/// The task queue of one service (see the module documentation).
pub(crate) struct Tasks {
    shared: Arc<Shared>,
    /// The workers' service (their weak references point here); dropped with the queue.
    _service: Arc<AiService>,
    /// Dropped with the queue: the workers stop.
    _stop: watch::Sender<()>,
}

impl Tasks {
    /// Reads the stored tasks, queues again those not finished, and starts `workers`
    /// workers over `service` (a handle without a task queue of its own).
    pub(crate) async fn start(
        service: AiService,
        capacity: usize,
        workers: usize,
    ) -> std::result::Result<Tasks, VectorError> {
        let engine = service.engine.clone();
        let (records, next_seq) = tokio::task::spawn_blocking(move || recover(&engine))
            .await
            .map_err(|e| StoreError::Corrupt(format!("task recovery failed: {e}")))??;
        let mut state = State {
            next_seq,
            ..State::default()
        };
        for r in &records {
            state.busy.insert(r.slot());
            state.queue.push_back(Job::new(r.seq, r.id.clone()));
        }
        if !records.is_empty() {
            tracing::info!(
                tasks = records.len(),
                workers,
                "analysis tasks left unfinished by the last run are queued again"
            );
        }
        let shared = Arc::new(Shared {
            state: Mutex::new(state),
            submit: Mutex::new(()),
            work: Notify::new(),
            capacity,
            workers,
        });
        let service = Arc::new(service);
        let (stop, stopped) = watch::channel(());
        for _ in 0..workers {
            tokio::spawn(worker(
                shared.clone(),
                Arc::downgrade(&service),
                stopped.clone(),
            ));
        }
        Ok(Tasks {
            shared,
            _service: service,
            _stop: stop,
        })
    }

    fn stats(&self) -> TaskStats {
        let st = self.shared.state.lock();
        TaskStats {
            queued: st.queue.len(),
            running: st.busy.len().saturating_sub(st.queue.len()),
            capacity: self.shared.capacity,
            workers: self.shared.workers,
        }
    }
}

/// Every stored task not finished (in submission order, those interrupted too often failed
/// on the way) and the next sequence number.
fn recover(engine: &Engine) -> std::result::Result<(Vec<TaskRecord>, u64), VectorError> {
    let mut pending = Vec::new();
    let mut last = 0;
    for slot in 0..TASK_SLOTS {
        let Some(bytes) = engine.store().kv_get(&key(slot))? else {
            continue;
        };
        let mut r: TaskRecord = match serde_json::from_slice(&bytes) {
            Ok(r) => r,
            Err(e) => {
                tracing::warn!(slot, error = %e, "unreadable analysis task record; slot reused");
                continue;
            }
        };
        if r.slot() != slot {
            tracing::warn!(
                slot,
                seq = r.seq,
                "misplaced analysis task record; slot reused"
            );
            continue;
        }
        last = last.max(r.seq);
        if r.state.is_finished() {
            continue;
        }
        if r.state == TaskState::Running && r.attempts >= MAX_TASK_ATTEMPTS {
            tracing::error!(task = %r.id, attempts = r.attempts,
                "analysis task interrupted too often; marked failed");
            let n = r.attempts;
            let failure = TaskFailure {
                code: "task_interrupted".into(),
                message: format!("分析任务被中断{n}次，已放弃 (interrupted {n} times)"),
            };
            finish(&mut r, Err(failure));
            engine.store().kv_put(&key(slot), &encode(&r))?;
            continue;
        }
        pending.push(r);
    }
    pending.sort_by_key(|r| r.seq);
    Ok((pending, last + 1))
}

fn encode(r: &TaskRecord) -> Vec<u8> {
    // A record holds strings, ids and JSON values only: serialising cannot fail.
    serde_json::to_vec(r).unwrap_or_default()
}

fn read(engine: &Engine, seq: u64) -> std::result::Result<Option<TaskRecord>, VectorError> {
    let Some(bytes) = engine.store().kv_get(&key(seq % TASK_SLOTS))? else {
        return Ok(None);
    };
    Ok(serde_json::from_slice::<TaskRecord>(&bytes)
        .ok()
        .filter(|r| r.seq == seq))
}

/// Sets the outcome and drops the input (the resume's document keeps it).
/// What a completed task produced: the analysis response and the feature's report.
type Outcome = std::result::Result<(Value, Option<Value>), TaskFailure>;

fn finish(r: &mut TaskRecord, outcome: Outcome) {
    let now = chrono::Utc::now();
    match outcome {
        Ok((v, report)) => {
            r.state = TaskState::Completed;
            r.result = Some(v);
            r.report = report;
        }
        Err(f) => {
            r.state = TaskState::Failed;
            r.error = Some(f);
        }
    }
    r.input = None;
    r.finished_at = Some(now_iso());
    r.finished_unix = Some(now.timestamp());
}

/// `task_<seq>_<8 hex>` → seq.
fn parse_id(id: &str) -> Option<u64> {
    if id.len() > MAX_TASK_ID_LEN {
        return None;
    }
    let (seq, tag) = id.strip_prefix("task_")?.split_once('_')?;
    if tag.len() != 8 || !tag.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    seq.parse().ok()
}

async fn worker(shared: Arc<Shared>, service: Weak<AiService>, mut stop: watch::Receiver<()>) {
    loop {
        let job = loop {
            if let Some(j) = shared.pop() {
                break j;
            }
            tokio::select! {
                _ = shared.work.notified() => {}
                _ = stop.changed() => return,
            }
        };
        let Some(svc) = service.upgrade() else {
            return;
        };
        let ran = tokio::select! {
            ran = run(&svc, &job) => ran,
            // The service is going away: the task stays queued or running in redb and runs
            // again at the next start.
            _ = stop.changed() => return,
        };
        // Released before the task stops counting as running: once nothing runs, no worker
        // holds the engine (a restart in the same process can reopen the data dir).
        drop(svc);
        match ran {
            Ran::Done => shared.finish(job.seq % TASK_SLOTS),
            Ran::StorageRefused(outcome) => {
                let mut job = job;
                job.storage_retries += 1;
                job.outcome = outcome;
                tracing::warn!(task = %job.id, retries = job.storage_retries,
                    "analysis task refused by the storage; it runs again once writes are accepted");
                tokio::spawn(retry_later(
                    shared.clone(),
                    service.clone(),
                    stop.clone(),
                    job,
                ));
            }
        }
    }
}

/// Runs one task: marks it running, analyses, stores the outcome.
async fn run(svc: &AiService, job: &Job) -> Ran {
    if let Some(rec) = &job.outcome {
        return match store(svc, rec).await {
            Ok(()) => Ran::Done,
            Err(e) => {
                tracing::warn!(task = %rec.id, error = %e, "cannot store an analysis task's outcome");
                Ran::StorageRefused(Some(rec.clone()))
            }
        };
    }
    let engine = svc.engine.clone();
    let seq = job.seq;
    let read_result = blocking(move || Ok(read(&engine, seq)?)).await;
    let mut rec = match read_result {
        Ok(Some(r)) if r.id == job.id && !r.state.is_finished() => r,
        Ok(_) => {
            tracing::warn!(task = %job.id, "queued analysis task is gone from the store");
            return Ran::Done;
        }
        Err(e) => {
            tracing::error!(task = %job.id, error = %e, "cannot read an analysis task");
            return Ran::StorageRefused(None);
        }
    };
    let before = rec.clone();
    rec.state = TaskState::Running;
    rec.attempts += 1;
    rec.started_at = Some(now_iso());
    if let Err(e) = store(svc, &rec).await {
        tracing::warn!(task = %rec.id, error = %e, "cannot mark an analysis task running");
    }
    let outcome = execute(svc, &rec).await;
    match &outcome {
        Ok(_) => {
            tracing::info!(task = %rec.id, resume_id = ?rec.resume_id, "analysis task completed")
        }
        Err(f) if is_storage_failure(f) => {
            // Nothing was written: the task is queued again as it was (a run the storage
            // refused is not an interrupted attempt).
            if let Err(e) = store(svc, &before).await {
                tracing::debug!(task = %rec.id, error = %e, "cannot re-queue an analysis task in the store");
            }
            return Ran::StorageRefused(None);
        }
        Err(f) => tracing::info!(task = %rec.id, resume_id = ?rec.resume_id, code = %f.code,
            "analysis task failed"),
    }
    finish(&mut rec, outcome);
    match store(svc, &rec).await {
        Ok(()) => Ran::Done,
        Err(e) => {
            // The analysis itself is committed: only its outcome is stored again.
            tracing::error!(task = %rec.id, error = %e, "cannot store an analysis task's outcome");
            Ran::StorageRefused(Some(Box::new(rec)))
        }
    }
}

/// The failures [`failure`] gives for a refusing store (the task runs again later).
fn is_storage_failure(f: &TaskFailure) -> bool {
    matches!(
        f.code.as_str(),
        "insufficient_storage" | "storage_unavailable"
    )
}

async fn store(svc: &AiService, rec: &TaskRecord) -> Result<()> {
    let engine = svc.engine.clone();
    let k = key(rec.slot());
    let bytes = encode(rec);
    blocking(move || Ok(engine.store().kv_put(&k, &bytes)?)).await
}

async fn execute(svc: &AiService, rec: &TaskRecord) -> Outcome {
    let Some(input) = rec.input.clone() else {
        return Err(TaskFailure {
            code: "missing_input".into(),
            message: "分析任务缺少简历内容 (the task has no input)".into(),
        });
    };
    let feature = Feature::from_id(rec.feature).unwrap_or(Feature::ResumeOptimization);
    let content = input.content.clone();
    let (result, profile) =
        match rec.resume_id {
            Some(id) => {
                // The resume may have been written by someone else since the task was accepted.
                if !rec.privileged {
                    match svc.resume_owner(id) {
                        Ok(owner) if owner.is_some() && owner == rec.owner => {}
                        Ok(_) => return Err(TaskFailure {
                            code: "forbidden".into(),
                            message:
                                "简历已属于其他用户，无权分析 (the resume belongs to another user)"
                                    .into(),
                        }),
                        Err(ServiceError::NotFound(_)) => {}
                        Err(e) => return Err(failure(e)),
                    }
                }
                let resp = svc.analyze_resume(id, input).await.map_err(failure)?;
                let value = serde_json::to_value(resp).map_err(|e| {
                    tracing::error!(error = %e, "analysis response not serialisable");
                    internal()
                })?;
                (
                    value,
                    svc.resume_profile(id.0)
                        .ok()
                        .flatten()
                        .map(|p| crate::recommend::Profile::clone(&p)),
                )
            }
            None => {
                let (value, profile) = svc.preview_resume(input).await.map_err(failure)?;
                (value, Some(profile))
            }
        };
    // The analysis is done (and stored): a report that cannot be made leaves it out.
    let report = match profile {
        Some(profile) => {
            let input = FeatureInput {
                feature,
                result: &result,
                resume_id: rec.resume_id,
                content: &content,
            };
            match svc.feature_report(input, profile).await {
                Ok(r) => Some(r),
                Err(e) => {
                    tracing::warn!(task = %rec.id, error = %e, "feature report not made");
                    None
                }
            }
        }
        None => None,
    };
    Ok((result, report))
}

fn internal() -> TaskFailure {
    TaskFailure {
        code: "internal_error".into(),
        message: "内部错误 (internal error)".into(),
    }
}

/// The code and message the HTTP layer would answer for `e` (internals logged, not kept).
fn failure(e: ServiceError) -> TaskFailure {
    let f = |code: &str, message: String| TaskFailure {
        code: code.into(),
        message,
    };
    match e {
        ServiceError::Invalid { code, message } => f(code, message),
        ServiceError::NotFound(m) => f("not_found", m),
        ServiceError::NotFoundCode { code, message } => f(code, message),
        ServiceError::Engine(VectorError::Store(StoreError::DiskFull)) => {
            tracing::warn!("analysis task refused: disk full");
            f("insufficient_storage", "存储空间不足，暂时无法写入".into())
        }
        ServiceError::Engine(VectorError::Store(StoreError::StorageUnavailable(m))) => {
            tracing::error!(error = %m, "analysis task: storage i/o failure");
            f(
                "storage_unavailable",
                "存储暂时不可用 (storage i/o failure)".into(),
            )
        }
        ServiceError::Engine(v) if v.is_caller_error() => f("invalid_request", v.to_string()),
        e @ ServiceError::ModelMismatch { .. } => {
            tracing::error!(error = %e, "embedding model mismatch");
            f("model_mismatch", e.to_string())
        }
        ServiceError::Embed(e) => {
            tracing::error!(error = %e, "analysis task: embedder failed");
            f("embedder_unavailable", "向量化服务不可用".into())
        }
        other => {
            tracing::error!(error = %other, "analysis task failed");
            internal()
        }
    }
}

/// The checks `POST /api/v1/analyze/resume` would refuse the input with, made before a task
/// is accepted (so a task never fails on its input).
fn validate(data: &ResumeData) -> Result<()> {
    check_len("content", &data.content, MAX_CONTENT_CHARS)?;
    check_len("file_name", &data.file_name, 1_000)?;
    check_len("file_type", &data.file_type, 100)?;
    if data.content.trim().is_empty() {
        return Err(ServiceError::invalid("empty_content", "content is empty"));
    }
    Ok(())
}

impl AiService {
    /// Starts the task queue of a service that has none (from [`AiService::open`]).
    pub(crate) async fn start_tasks(&mut self) -> std::result::Result<(), VectorError> {
        let workers_view = self.clone();
        let tasks = Tasks::start(
            workers_view,
            self.config.task_queue,
            self.config.task_workers,
        )
        .await?;
        self.tasks = Some(Arc::new(tasks));
        Ok(())
    }

    /// `POST /api/v1/ai/start-analysis`: validates, stores the task durably, queues it.
    pub async fn start_analysis(
        &self,
        task: NewTask,
    ) -> std::result::Result<TaskRecord, TaskError> {
        let tasks = self.tasks.as_ref().ok_or(TaskError::Unavailable)?;
        validate(&task.data)?;
        let shared = tasks.shared.clone();
        let engine = self.engine.clone();
        let rec = tokio::task::spawn_blocking(move || submit(&shared, &engine, task))
            .await
            .map_err(|e| ServiceError::Internal(e.to_string()))??;
        tasks.shared.work.notify_one();
        tracing::info!(task = %rec.id, resume_id = ?rec.resume_id, feature = rec.feature, "analysis task queued");
        Ok(rec)
    }

    /// `GET /api/v1/ai/analysis-result/{task_id}`: the task, or 404 (unknown, from another
    /// data dir, overwritten, or finished more than [`TASK_TTL`] ago).
    pub async fn analysis_task(&self, id: &str) -> Result<TaskRecord> {
        let not_found = || ServiceError::NotFound("分析任务不存在 (no such task)".into());
        let Some(seq) = parse_id(id) else {
            return Err(not_found());
        };
        let engine = self.engine.clone();
        let rec = blocking(move || Ok(read(&engine, seq)?)).await?;
        let now = chrono::Utc::now().timestamp();
        rec.filter(|r| r.id == id && !r.expired(now))
            .ok_or_else(not_found)
    }

    /// The queue's counters; `None` without a queue.
    pub fn task_stats(&self) -> Option<TaskStats> {
        self.tasks.as_ref().map(|t| t.stats())
    }
}

/// Chooses a free slot, writes the record (fsynced), then marks it busy and queues it.
fn submit(
    shared: &Shared,
    engine: &Engine,
    task: NewTask,
) -> std::result::Result<TaskRecord, TaskError> {
    let _one_at_a_time = shared.submit.lock();
    let seq = {
        let st = shared.state.lock();
        if st.busy.len() >= shared.capacity {
            return Err(TaskError::QueueFull {
                capacity: shared.capacity,
            });
        }
        let mut seq = st.next_seq.max(1);
        while st.busy.contains(&(seq % TASK_SLOTS)) {
            seq += 1;
        }
        seq
    };
    let rec = TaskRecord {
        id: format!("task_{seq}_{:08x}", rand::random::<u32>()),
        seq,
        state: TaskState::Queued,
        feature: task.feature.id(),
        resume_id: task.resume_id,
        owner: task.owner,
        privileged: task.privileged,
        user_id: task.data.user_id,
        input: Some(task.data),
        attempts: 0,
        created_at: now_iso(),
        started_at: None,
        finished_at: None,
        finished_unix: None,
        result: None,
        report: None,
        error: None,
    };
    engine
        .store()
        .kv_put(&key(rec.slot()), &encode(&rec))
        .map_err(ServiceError::from)?;
    let mut st = shared.state.lock();
    st.next_seq = seq + 1;
    st.busy.insert(rec.slot());
    st.queue.push_back(Job::new(seq, rec.id.clone()));
    Ok(rec)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeSet;

    /// Slots in use.
    fn busy_slots(t: &Tasks) -> BTreeSet<u64> {
        t.shared.state.lock().busy.iter().copied().collect()
    }

    #[test]
    fn storage_retries_back_off_to_a_bound() {
        assert_eq!(storage_backoff(0), STORAGE_RETRY_MIN);
        assert_eq!(storage_backoff(1), STORAGE_RETRY_MIN * 2);
        assert_eq!(storage_backoff(3), STORAGE_RETRY_MIN * 8);
        assert_eq!(storage_backoff(40), STORAGE_RETRY_MAX);
        assert_eq!(storage_backoff(u32::MAX), STORAGE_RETRY_MAX);
    }

    #[test]
    fn task_ids_round_trip_and_junk_is_refused() {
        assert_eq!(parse_id("task_42_0badf00d"), Some(42));
        for bad in [
            "",
            "1",
            "task_42",
            "task_42_xyz",
            "task_x_0badf00d",
            "task_42_0badf00d0",
            "task_-1_0badf00d",
        ] {
            assert_eq!(parse_id(bad), None, "{bad}");
        }
        assert_eq!(parse_id(&"9".repeat(100)), None);
    }

    #[test]
    fn finished_records_expire_and_drop_their_input() {
        let mut r = TaskRecord {
            id: "task_1_00000000".into(),
            seq: 1,
            state: TaskState::Running,
            feature: 1,
            resume_id: Some(Id(1)),
            owner: None,
            privileged: true,
            user_id: None,
            input: Some(ResumeData::default()),
            attempts: 1,
            created_at: now_iso(),
            started_at: None,
            finished_at: None,
            finished_unix: None,
            result: None,
            report: None,
            error: None,
        };
        assert!(!r.expired(i64::MAX));
        finish(&mut r, Ok((Value::Null, None)));
        assert_eq!(r.state, TaskState::Completed);
        assert!(r.input.is_none());
        let t = r.finished_unix.unwrap();
        assert!(!r.expired(t + 60));
        assert!(r.expired(t + TASK_TTL.as_secs() as i64 + 1));
        assert_eq!(TaskState::Queued.public(), "processing");
        assert_eq!(TaskState::Running.public(), "processing");
    }

    #[tokio::test]
    async fn slots_of_unfinished_tasks_are_never_reused() {
        let dir = tempfile::tempdir().unwrap();
        let mut args = crate::config::ServeArgs::for_tests(dir.path().to_path_buf());
        args.task_workers = 0;
        args.task_queue = 3;
        let service = AiService::open(args.validate().unwrap()).await.unwrap();
        let tasks = service.tasks.clone().unwrap();
        // Park the sequence just before the ring wraps, with a task stuck at slot 0.
        tasks.shared.state.lock().next_seq = TASK_SLOTS;
        let data = ResumeData {
            content: "Rust 工程师".into(),
            ..ResumeData::default()
        };
        let new = || NewTask {
            feature: Feature::ResumeOptimization,
            resume_id: Some(Id(1)),
            data: data.clone(),
            owner: None,
            privileged: true,
        };
        let a = service.start_analysis(new()).await.unwrap();
        assert_eq!(a.seq, TASK_SLOTS);
        assert_eq!(a.slot(), 0);
        tasks.shared.state.lock().next_seq = 2 * TASK_SLOTS;
        let b = service.start_analysis(new()).await.unwrap();
        assert_eq!(b.seq, 2 * TASK_SLOTS + 1, "slot 0 is busy: skipped");
        assert_eq!(busy_slots(&tasks), BTreeSet::from([0, 1]));
        let c = service.start_analysis(new()).await.unwrap();
        assert!(matches!(
            service.start_analysis(new()).await,
            Err(TaskError::QueueFull { capacity: 3 })
        ));
        for t in [&a, &b, &c] {
            let got = service.analysis_task(&t.id).await.unwrap();
            assert_eq!(got.state, TaskState::Queued);
            assert_eq!(got.seq, t.seq);
        }
        // Another id of the same slot is not this task.
        let forged = format!("task_{}_{}", a.seq, "00000000");
        if forged != a.id {
            assert!(service.analysis_task(&forged).await.is_err());
        }
    }
}
