//! `jobfirst-ai import`: bulk loads of JSON Lines files whose lines are the bodies of the
//! analyse endpoints, through the same use-cases as the endpoints (validation, analysers,
//! embedder, engine), committed in batches. A bad line (invalid JSON, wrong types, bad id,
//! input the service refuses) is reported with its file and line number and skipped; a failure
//! no line caused (storage, embedder, model mismatch) stops the import, keeping what was
//! committed before it.

use std::collections::HashSet;
use std::fs::File;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use futures_util::stream::{self, StreamExt};
use indicatif::{ProgressBar, ProgressStyle};
use serde::Deserialize;

use crate::entity::{CompanyData, Id, JobData, ResumeData};
use crate::service::{AiService, Analyser, ServiceError};
use crate::store::Collection;
use crate::vector::EntityUpsert;

/// Entities committed per transaction.
pub const BATCH: usize = 500;

/// Why an import could not start or had to stop. Each variant names who caused it.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ImportError {
    /// *caller*: an input file cannot be opened.
    #[error("{}: {source}", path.display())]
    Open {
        path: PathBuf,
        source: std::io::Error,
    },
    /// *system*: an input file could not be read to its end.
    #[error("{}:{line}: cannot read: {source}", path.display())]
    Read {
        path: PathBuf,
        line: u64,
        source: std::io::Error,
    },
    /// *system or operator*: storing failed in a way no line caused (storage, embedder, model
    /// mismatch). What was committed before stays.
    #[error("{}:{line}: import stopped: {source}", path.display())]
    Stopped {
        path: PathBuf,
        line: u64,
        source: ServiceError,
    },
}

/// One input file, opened.
#[derive(Debug)]
struct Source {
    collection: Collection,
    path: PathBuf,
    file: File,
}

/// What to import: opened files (so an unusable path is refused before any work) and how.
#[derive(Debug)]
pub struct Plan {
    sources: Vec<Source>,
    via: Analyser,
    concurrency: usize,
    total_bytes: u64,
}

impl Plan {
    /// Opens every file. Companies go first, then jobs (their company ids, the salaries later
    /// jobs are predicted from), then resumes, whatever the order given.
    pub fn open(
        files: &[(Collection, PathBuf)],
        via: Analyser,
        concurrency: usize,
    ) -> Result<Plan, ImportError> {
        let mut sources = Vec::new();
        let mut total_bytes = 0;
        for c in [Collection::Companies, Collection::Jobs, Collection::Resumes] {
            for (_, path) in files.iter().filter(|(fc, _)| *fc == c) {
                let open = |p: &Path| -> std::io::Result<(File, u64)> {
                    let f = File::open(p)?;
                    let m = f.metadata()?;
                    if m.is_dir() {
                        return Err(std::io::Error::other("is a directory"));
                    }
                    Ok((f, m.len()))
                };
                let (file, len) = open(path).map_err(|source| ImportError::Open {
                    path: path.clone(),
                    source,
                })?;
                total_bytes += len;
                sources.push(Source {
                    collection: c,
                    path: path.clone(),
                    file,
                });
            }
        }
        Ok(Plan {
            sources,
            via,
            concurrency: concurrency.max(1),
            total_bytes,
        })
    }

    /// Bytes of all input files (the progress bar's length).
    pub fn total_bytes(&self) -> u64 {
        self.total_bytes
    }
}

/// What an import did.
#[derive(Debug, Default, Clone, Copy)]
pub struct Summary {
    /// Entities committed, per collection in [`Collection::ALL`] order.
    pub imported: [u64; 3],
    /// Lines reported and skipped.
    pub skipped: u64,
    pub elapsed: Duration,
}

impl Summary {
    pub fn total_imported(&self) -> u64 {
        self.imported.iter().sum()
    }
}

impl std::fmt::Display for Summary {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let rows = self.total_imported() + self.skipped;
        let secs = self.elapsed.as_secs_f64();
        let per_sec = if secs > 0.0 { rows as f64 / secs } else { 0.0 };
        write!(f, "imported {} (", self.total_imported())?;
        for (i, c) in Collection::ALL.iter().enumerate() {
            let sep = if i == 0 { "" } else { ", " };
            write!(f, "{sep}{} {}", c.name(), self.imported[c.index()])?;
        }
        write!(
            f,
            "), skipped {} in {secs:.1} s ({per_sec:.0} rows/s)",
            self.skipped
        )
    }
}

/// A progress bar over the input bytes on stderr; hidden when stderr is not a terminal.
pub fn progress_bar(total_bytes: u64) -> ProgressBar {
    let bar = ProgressBar::new(total_bytes);
    if let Ok(style) = ProgressStyle::with_template(
        "{spinner} [{elapsed_precise}] {wide_bar} {bytes}/{total_bytes} {msg} (eta {eta})",
    ) {
        bar.set_style(style);
    }
    bar
}

#[derive(Deserialize)]
struct CompanyLine {
    company_id: Id,
    company_data: CompanyData,
}

#[derive(Deserialize)]
struct JobLine {
    job_id: Id,
    job_data: JobData,
}

#[derive(Deserialize)]
struct ResumeLine {
    resume_id: Id,
    #[serde(flatten)]
    data: ResumeData,
}

/// What became of one line.
enum Outcome {
    Blank,
    Ready(EntityUpsert),
    /// The line's fault: report and skip.
    Skip(String),
    /// Nobody's line's fault: stop.
    Stop(ServiceError),
    Unreadable(std::io::Error),
}

/// serde_json's message without its " at line 1 column N" (every line is line 1 to it).
fn json_message(e: &serde_json::Error) -> String {
    let s = e.to_string();
    let suffix = format!(" at line {} column {}", e.line(), e.column());
    match s.strip_suffix(&suffix) {
        Some(m) if e.column() > 0 => format!("{m} (column {})", e.column()),
        Some(m) => m.to_string(),
        None => s,
    }
}

/// Whether a use-case error is the line's fault (skip it) rather than the system's (stop).
fn line_fault(e: &ServiceError) -> bool {
    match e {
        ServiceError::Invalid { .. }
        | ServiceError::NotFound(_)
        | ServiceError::NotFoundCode { .. } => true,
        ServiceError::Engine(v) => v.is_caller_error(),
        _ => false,
    }
}

async fn prepare(service: &AiService, c: Collection, via: Analyser, line: &[u8]) -> Outcome {
    if line.iter().all(u8::is_ascii_whitespace) {
        return Outcome::Blank;
    }
    let prepared = match c {
        Collection::Companies => match serde_json::from_slice::<CompanyLine>(line) {
            Ok(l) => service
                .prepare_company(l.company_id, l.company_data, via)
                .await
                .map(|r| r.1),
            Err(e) => return Outcome::Skip(json_message(&e)),
        },
        Collection::Jobs => match serde_json::from_slice::<JobLine>(line) {
            Ok(l) => service
                .prepare_job(l.job_id, l.job_data, via)
                .await
                .map(|r| r.1),
            Err(e) => return Outcome::Skip(json_message(&e)),
        },
        Collection::Resumes => match serde_json::from_slice::<ResumeLine>(line) {
            Ok(l) => service
                .prepare_resume(l.resume_id, l.data, via)
                .await
                .map(|r| r.1),
            Err(e) => return Outcome::Skip(json_message(&e)),
        },
    };
    match prepared {
        Ok(e) => Outcome::Ready(e),
        Err(e) if line_fault(&e) => Outcome::Skip(e.to_string()),
        Err(e) => Outcome::Stop(e),
    }
}

/// Numbered lines of a file (1-based), raw bytes (JSON parsing checks the UTF-8).
fn numbered_lines(file: File) -> impl Iterator<Item = (u64, std::io::Result<Vec<u8>>)> {
    let mut reader = BufReader::new(file);
    let mut n = 0u64;
    let mut done = false;
    std::iter::from_fn(move || {
        if done {
            return None;
        }
        let mut buf = Vec::new();
        match reader.read_until(b'\n', &mut buf) {
            Ok(0) => None,
            Ok(_) => {
                n += 1;
                Some((n, Ok(buf)))
            }
            Err(e) => {
                done = true;
                Some((n + 1, Err(e)))
            }
        }
    })
}

/// Imports every line of the plan. Bad lines are reported on stderr (above the bar) and
/// skipped; returns the summary and, when the import had to stop, why.
pub async fn run(
    service: &AiService,
    plan: Plan,
    progress: &ProgressBar,
) -> (Summary, Option<ImportError>) {
    let started = Instant::now();
    let mut summary = Summary::default();
    let mut stop = None;
    for source in plan.sources {
        let Source {
            collection: c,
            path,
            file,
        } = source;
        let mut batch = Batch::new(c, &path);
        let via = plan.via;
        // Lines are prepared concurrently on the runtime's workers, committed in file order.
        let mut outcomes = stream::iter(numbered_lines(file))
            .map(|(n, line)| {
                let service = service.clone();
                tokio::spawn(async move {
                    match line {
                        Ok(bytes) => (n, bytes.len(), prepare(&service, c, via, &bytes).await),
                        Err(e) => (n, 0, Outcome::Unreadable(e)),
                    }
                })
            })
            .buffered(plan.concurrency);
        while let Some(joined) = outcomes.next().await {
            let (n, len, outcome) = match joined {
                Ok(x) => x,
                Err(e) => {
                    stop = Some(ImportError::Stopped {
                        path: path.clone(),
                        line: 0,
                        source: ServiceError::Internal(e.to_string()),
                    });
                    break;
                }
            };
            match outcome {
                Outcome::Blank => {}
                Outcome::Ready(e) => {
                    if batch.contains(e.id) || batch.is_full() {
                        if let Err(e) = batch.flush(service, &mut summary, progress).await {
                            stop = Some(e);
                            break;
                        }
                    }
                    batch.push(n, e);
                }
                Outcome::Skip(why) => {
                    summary.skipped += 1;
                    report(progress, &path, n, &why);
                }
                Outcome::Stop(source) => {
                    stop = Some(ImportError::Stopped {
                        path: path.clone(),
                        line: n,
                        source,
                    });
                    break;
                }
                Outcome::Unreadable(source) => {
                    stop = Some(ImportError::Read {
                        path: path.clone(),
                        line: n,
                        source,
                    });
                    break;
                }
            }
            progress.inc(len as u64);
        }
        // Lines prepared before a stop are still committed.
        if let Err(e) = batch.flush(service, &mut summary, progress).await {
            stop.get_or_insert(e);
        }
        if stop.is_some() {
            break;
        }
    }
    summary.elapsed = started.elapsed();
    progress.finish_and_clear();
    (summary, stop)
}

fn report(progress: &ProgressBar, path: &Path, line: u64, why: &str) {
    progress.suspend(|| eprintln!("{}:{line}: skipped: {why}", path.display()));
}

/// Prepared entities of one file awaiting their transaction, with their line numbers.
struct Batch<'a> {
    collection: Collection,
    path: &'a Path,
    entries: Vec<(u64, EntityUpsert)>,
    ids: HashSet<u64>,
}

impl<'a> Batch<'a> {
    fn new(collection: Collection, path: &'a Path) -> Batch<'a> {
        Batch {
            collection,
            path,
            entries: Vec::with_capacity(BATCH),
            ids: HashSet::with_capacity(BATCH),
        }
    }

    /// A repeated id goes into the next transaction, so the later line wins.
    fn contains(&self, id: u64) -> bool {
        self.ids.contains(&id)
    }

    fn is_full(&self) -> bool {
        self.entries.len() >= BATCH
    }

    fn push(&mut self, line: u64, e: EntityUpsert) {
        self.ids.insert(e.id);
        self.entries.push((line, e));
    }

    /// Commits the batch in one transaction. When the engine refuses it for something a line
    /// caused, commits the lines one by one to report exactly the refused ones.
    async fn flush(
        &mut self,
        service: &AiService,
        summary: &mut Summary,
        progress: &ProgressBar,
    ) -> Result<(), ImportError> {
        self.ids.clear();
        let entries = std::mem::take(&mut self.entries);
        let Some(first_line) = entries.first().map(|e| e.0) else {
            return Ok(());
        };
        let c = self.collection;
        let n = entries.len() as u64;
        // Kept for the rare line-by-line retry.
        let all: Vec<EntityUpsert> = entries.iter().map(|e| e.1.clone()).collect();
        match service.write_batch(c, all).await {
            Ok(()) => {
                summary.imported[c.index()] += n;
            }
            Err(e) if line_fault(&e) => {
                for (line, entity) in entries {
                    match service.write_batch(c, vec![entity]).await {
                        Ok(()) => summary.imported[c.index()] += 1,
                        Err(e) if line_fault(&e) => {
                            summary.skipped += 1;
                            report(progress, self.path, line, &e.to_string());
                        }
                        Err(source) => return Err(self.stopped(line, source)),
                    }
                }
            }
            Err(source) => return Err(self.stopped(first_line, source)),
        }
        progress.set_message(format!(
            "{} imported, {} skipped",
            summary.total_imported(),
            summary.skipped
        ));
        Ok(())
    }

    fn stopped(&self, line: u64, source: ServiceError) -> ImportError {
        ImportError::Stopped {
            path: self.path.to_path_buf(),
            line,
            source,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_errors_name_the_column_not_line_one() {
        let e = serde_json::from_str::<JobLine>(r#"{"job_id": "abc", "job_data": {}}"#)
            .err()
            .map(|e| json_message(&e))
            .unwrap_or_default();
        assert!(e.contains("'abc' is not a positive integer id"), "{e}");
        assert!(!e.contains("line 1"), "{e}");
    }

    #[test]
    fn lines_are_numbered_from_one_and_keep_a_last_line_without_newline() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("x.jsonl");
        std::fs::write(&p, "a\n\nb").unwrap();
        let got: Vec<(u64, Vec<u8>)> = numbered_lines(File::open(&p).unwrap())
            .map(|(n, l)| (n, l.unwrap()))
            .collect();
        assert_eq!(
            got,
            vec![
                (1, b"a\n".to_vec()),
                (2, b"\n".to_vec()),
                (3, b"b".to_vec())
            ]
        );
    }

    #[test]
    fn a_missing_file_is_refused_before_any_work() {
        let missing = PathBuf::from("/nonexistent/jobs.jsonl");
        let e = Plan::open(&[(Collection::Jobs, missing)], Analyser::Rules, 1).unwrap_err();
        assert!(e.to_string().contains("/nonexistent/jobs.jsonl"), "{e}");
    }
}
