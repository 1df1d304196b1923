//! The `jobfirst-ai` command: `serve` (the default: the HTTP service), `import` (bulk loads of
//! JSON Lines files), `migrate` (the databases' schema only), and the evaluations `eval-ann`,
//! `eval-recommend`, `eval-search` and `eval-llm`.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use clap::{ArgGroup, Parser, Subcommand};

use jobfirst_ai::config::ServeArgs;
use jobfirst_ai::eval::ann::{run, AnnEvalConfig};
use jobfirst_ai::eval::curve::{read_reference, report as curve_report, CurvePoint};
use jobfirst_ai::eval::recommend::{self as eval_recommend, GenConfig, Mode, RecommendEvalConfig};
use jobfirst_ai::recommend::Weights;
use jobfirst_ai::service::Analyser;
use jobfirst_ai::store::Collection;

#[derive(Parser)]
#[command(
    name = "jobfirst-ai",
    version,
    about = "AI service of the JobFirst recruiting platform",
    long_about = "AI service of the JobFirst recruiting platform. Without a subcommand it runs \
`serve` with the settings below (each also readable from the environment variable shown).",
    args_conflicts_with_subcommands = true
)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    #[command(flatten)]
    serve: ServeArgs,
}

fn parse_list<T: std::str::FromStr>(s: &str) -> Result<Vec<T>, String> {
    s.split(',')
        .map(|p| {
            p.trim()
                .parse::<T>()
                .map_err(|_| format!("'{p}' is not a valid value"))
        })
        .collect()
}

#[derive(Subcommand)]
enum Command {
    /// Run the HTTP service (the default when no subcommand is given).
    Serve(ServeArgs),
    /// Analyse and store entities from JSON Lines files, through the same pipeline as the
    /// analyse endpoints. Bad lines are reported (file:line) on stderr and skipped; a summary
    /// line is printed at the end. Exit code: 0 when anything was imported (or there was
    /// nothing to import), 1 when every line failed or the import had to stop, 2 on unusable
    /// arguments or files. Never loads the sample data.
    Import(ImportArgs),
    /// Apply the embedded migrations to the configured PostgreSQL and MySQL (the same ones
    /// `serve` applies at start) and exit: 0 when every configured database is migrated, 1
    /// when one failed, 2 when none is configured.
    Migrate(ServeArgs),
    /// Recall and latency of the vector index on TEXMEX .fvecs/.ivecs files; prints one JSON
    /// object per line per (ef, selectivity).
    EvalAnn {
        /// Base vectors (.fvecs).
        #[arg(long)]
        base: PathBuf,
        /// Query vectors (.fvecs).
        #[arg(long)]
        queries: PathBuf,
        /// Ground-truth neighbour ids (.ivecs); computed exactly when absent.
        #[arg(long)]
        gt: Option<PathBuf>,
        /// Neighbours per query.
        #[arg(long, default_value_t = 10)]
        k: usize,
        /// Beam widths to measure, comma-separated.
        #[arg(long, default_value = "16,32,64,128", value_parser = parse_list::<usize>)]
        ef: std::vec::Vec<usize>,
        /// HNSW neighbours per node (level 0 keeps 2m).
        #[arg(long, default_value_t = 16)]
        m: usize,
        /// Beam width during construction.
        #[arg(long, default_value_t = 200)]
        ef_construction: usize,
        /// Fractions of points a filter keeps, comma-separated (1 = unfiltered).
        #[arg(long, default_value = "1", value_parser = parse_list::<f64>)]
        filter_selectivity: std::vec::Vec<f64>,
        /// Threads for the build and the throughput (qps) pass; latency is single-threaded.
        #[arg(long, default_value_t = 2)]
        threads: usize,
        /// Refinement passes over the hnsw_rs graph (0 = hnsw_rs's graph as built, to compare).
        #[arg(long, default_value_t = 2)]
        refine_passes: usize,
        /// Seed of the random filter tags.
        #[arg(long, default_value_t = 42)]
        seed: u64,
        /// Another engine's run on the same files (JSON lines with recall, p50_us, p99_us, as
        /// scripts/compare_hnswlib.py prints): after the run, a table on stderr of the fastest
        /// unfiltered p50 / p99 each reaches at recall ≥ 0.90, 0.95, 0.99, 0.995, and ours over
        /// theirs.
        #[arg(long, value_name = "REFERENCE.jsonl")]
        report: Option<PathBuf>,
    },
    /// Ranking quality of job recommendations on a labelled set generated from the occupation
    /// taxonomy: a resume of occupation X wanting city C is relevant to jobs of X (grade 2) or
    /// of X's siblings (grade 1) in C or remote. Loads the set into a fresh data dir (rules,
    /// built-in embedder, no LLM), asks for each resume's top 10 without filters under each
    /// ranking mode, and prints one JSON object per line per mode (nDCG@10, Recall@10 over
    /// min(10, relevant), MRR) and a summary table on stderr.
    EvalRecommend {
        /// Jobs generated.
        #[arg(long, default_value_t = 5_000)]
        jobs: usize,
        /// Resumes generated (one user each; the queries).
        #[arg(long, default_value_t = 300)]
        resumes: usize,
        /// Cities used, the largest job markets first (at most 16).
        #[arg(long, default_value_t = 8)]
        cities: usize,
        /// Seed of the generator (the same seed gives the same set).
        #[arg(long, default_value_t = 42)]
        seed: u64,
        /// Skip the ablations (the full re-ranker without one factor at a time).
        #[arg(long)]
        no_ablations: bool,
        /// Also evaluate these weights ("semantic,skills,experience,basic,culture[,occupation]").
        #[arg(long, value_parser = Weights::parse)]
        weights: Option<Weights>,
        /// Working data dir, empty or absent, kept afterwards (default: a temporary one,
        /// removed at the end).
        #[arg(long)]
        data_dir: Option<PathBuf>,
        /// Recommendation requests in flight at once.
        #[arg(long, default_value_t = 4)]
        concurrency: usize,
    },
    /// How often a text search finds the occupation a job-board title means: the 2022
    /// occupation classification imported as jobs (rules, no LLM), its market aliases and the
    /// internet job categories as queries, each answered by vector (overall only, then with
    /// the title), lexical and hybrid search. Prints one JSON object per mode and query set
    /// (top-1, top-5, MRR, nDCG@10, latency) and a table on stderr. The embedder is configured
    /// as for `serve` (built-in by default; EMBEDDING_PROVIDER=openai for a semantic model).
    EvalSearch {
        /// Working data dir, empty or absent, kept afterwards (default: a temporary one,
        /// removed at the end; the serve options' data dir is not used).
        #[arg(long)]
        work_dir: Option<PathBuf>,
        /// Also report hybrid search under a grid of other arm weights and fusions.
        #[arg(long)]
        grid: bool,
        #[command(flatten)]
        serve: ServeArgs,
    },
    /// What the configured LLM is worth to the analyses: a bundled set of companies, jobs and
    /// resumes, some with injected instructions, each with the facts its analysis must hold,
    /// sent through the service's prompts, schema, grounding and merge (no cache, no breaker).
    /// Prints one JSON object per case and the report as a last line, a summary on stderr.
    /// The LLM is configured as for `serve` (OLLAMA_HOST, or LLM_PROVIDER=openai and LLM_URL).
    /// Exit code 2 without an LLM or with an unreadable cases file.
    EvalLlm {
        /// Cases (a JSON array in the bundled set's format); the bundled set by default.
        #[arg(long, value_name = "FILE.json")]
        cases: Option<PathBuf>,
        /// Runs of every case.
        #[arg(long, default_value_t = 1)]
        repeat: usize,
        #[command(flatten)]
        serve: ServeArgs,
    },
}

#[derive(clap::Args)]
#[command(group(
    ArgGroup::new("input")
        .required(true)
        .multiple(true)
        .args(["jobs", "companies", "resumes"])
))]
struct ImportArgs {
    /// Jobs: one body of POST /api/v1/analyze/job per line (`{"job_id", "job_data": {...}}`).
    #[arg(long, value_name = "FILE.jsonl")]
    jobs: Option<PathBuf>,
    /// Companies: one body of POST /api/v1/analyze/company per line (`{"company_id",
    /// "company_data": {...}}`). Imported before jobs and resumes.
    #[arg(long, value_name = "FILE.jsonl")]
    companies: Option<PathBuf>,
    /// Resumes: one body of POST /api/v1/analyze/resume per line (`{"resume_id", "content",
    /// "file_type", "file_name", "user_id"?}`).
    #[arg(long, value_name = "FILE.jsonl")]
    resumes: Option<PathBuf>,
    /// Analyse with the rule-based analysers only (bulk loads: no LLM call per line).
    #[arg(long)]
    no_llm: bool,
    /// Lines analysed at once (default: twice the CPUs with --no-llm, else the LLM
    /// concurrency limit plus the CPUs).
    #[arg(long)]
    concurrency: Option<usize>,
    #[command(flatten)]
    serve: ServeArgs,
}

fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| "info,hnsw_rs=warn".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    let cli = Cli::parse();
    let command = match cli.command {
        Some(c) => c,
        None => Command::Serve(cli.serve),
    };
    match command {
        Command::Serve(args) => serve(args),
        Command::Import(args) => import(args),
        Command::Migrate(args) => migrate(args),
        Command::EvalAnn {
            base,
            queries,
            gt,
            k,
            ef,
            m,
            ef_construction,
            filter_selectivity,
            threads,
            refine_passes,
            seed,
            report,
        } => {
            let reference = match report.as_deref().map(read_reference).transpose() {
                Ok(r) => r,
                Err(e) => {
                    eprintln!("eval-ann: {e}");
                    return ExitCode::from(2);
                }
            };
            let cfg = AnnEvalConfig {
                base,
                queries,
                gt,
                k,
                ef,
                m,
                ef_construction,
                selectivities: filter_selectivity,
                threads,
                refine_passes,
                seed,
            };
            let result = run(&cfg, |row| match serde_json::to_string(row) {
                Ok(line) => println!("{line}"),
                Err(e) => eprintln!("cannot print a row: {e}"),
            });
            match result {
                Ok(rows) => {
                    if let Some((name, theirs)) = reference {
                        let ours: Vec<CurvePoint> = rows
                            .iter()
                            .filter(|r| r.selectivity >= 1.0)
                            .map(CurvePoint::from)
                            .collect();
                        eprint!("{}", curve_report(&ours, &name, &theirs));
                    }
                    ExitCode::SUCCESS
                }
                Err(e) => {
                    eprintln!("eval-ann: {e}");
                    ExitCode::from(2)
                }
            }
        }
        Command::EvalRecommend {
            jobs,
            resumes,
            cities,
            seed,
            no_ablations,
            weights,
            data_dir,
            concurrency,
        } => {
            let mut modes = eval_recommend::default_modes(!no_ablations);
            if let Some(w) = weights {
                modes.push(Mode::new("custom", w));
            }
            let cfg = RecommendEvalConfig {
                data: GenConfig {
                    jobs,
                    resumes,
                    cities,
                    seed,
                },
                modes,
                data_dir,
                concurrency,
            };
            eval_recommend_main(&cfg)
        }
        Command::EvalSearch {
            work_dir,
            grid,
            serve,
        } => eval_search_main(work_dir, grid, serve),
        Command::EvalLlm {
            cases,
            repeat,
            serve,
        } => eval_llm_main(cases, repeat, serve),
    }
}

fn eval_llm_main(cases: Option<PathBuf>, repeat: usize, serve: ServeArgs) -> ExitCode {
    use jobfirst_ai::eval::llm as eval_llm;
    let config = match serve.validate() {
        Ok(c) => c,
        Err(e) => {
            eprintln!("eval-llm: invalid configuration: {e}");
            return ExitCode::from(2);
        }
    };
    let cases = match cases {
        None => eval_llm::bundled_cases(),
        Some(path) => std::fs::read_to_string(&path)
            .map_err(|e| format!("{}: {e}", path.display()))
            .and_then(|t| serde_json::from_str(&t).map_err(|e| format!("{}: {e}", path.display())))
            .map_err(eval_llm::LlmEvalError::Invalid),
    };
    let cases = match cases {
        Ok(c) => c,
        Err(e) => {
            eprintln!("eval-llm: {e}");
            return ExitCode::from(2);
        }
    };
    let Some(runtime) = runtime("eval-llm") else {
        return ExitCode::FAILURE;
    };
    let result = runtime.block_on(eval_llm::run(&config, &cases, repeat, print_line));
    match result {
        Ok(report) => {
            print_line(&report);
            eprint!("{}", eval_llm::summary(&report));
            ExitCode::SUCCESS
        }
        Err(e @ (eval_llm::LlmEvalError::Invalid(_) | eval_llm::LlmEvalError::NoLlm)) => {
            eprintln!("eval-llm: {e}");
            ExitCode::from(2)
        }
        Err(e) => {
            eprintln!("eval-llm: {e}");
            ExitCode::FAILURE
        }
    }
}

fn eval_search_main(work_dir: Option<PathBuf>, grid: bool, serve: ServeArgs) -> ExitCode {
    use jobfirst_ai::eval::search as eval_search;
    let Some(runtime) = runtime("eval-search") else {
        return ExitCode::FAILURE;
    };
    let cfg = eval_search::SearchEvalConfig {
        data_dir: work_dir,
        grid,
    };
    match runtime.block_on(eval_search::run(&cfg, serve, print_line)) {
        Ok(report) => {
            print_line(&report);
            eprint!("{}", eval_search::summary(&report));
            ExitCode::SUCCESS
        }
        Err(e @ eval_search::SearchEvalError::Invalid(_)) => {
            eprintln!("eval-search: {e}");
            ExitCode::from(2)
        }
        Err(e) => {
            eprintln!("eval-search: {e}");
            ExitCode::FAILURE
        }
    }
}

/// The multi-threaded runtime of a command; `None` (reported on stderr as `who`) when it
/// cannot start.
fn runtime(who: &str) -> Option<tokio::runtime::Runtime> {
    match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(r) => Some(r),
        Err(e) => {
            eprintln!("{who}: cannot start the async runtime: {e}");
            None
        }
    }
}

/// Prints a row as one JSON line on stdout.
fn print_line<T: serde::Serialize>(row: &T) {
    match serde_json::to_string(row) {
        Ok(line) => println!("{line}"),
        Err(e) => eprintln!("cannot print a row: {e}"),
    }
}

fn eval_recommend_main(cfg: &RecommendEvalConfig) -> ExitCode {
    let Some(runtime) = runtime("eval-recommend") else {
        return ExitCode::FAILURE;
    };
    let result = runtime.block_on(eval_recommend::run(
        cfg,
        |row| match serde_json::to_string(row) {
            Ok(line) => println!("{line}"),
            Err(e) => eprintln!("cannot print a row: {e}"),
        },
    ));
    match result {
        Ok(report) => {
            eprint!("{}", eval_recommend::summary(cfg, &report));
            ExitCode::SUCCESS
        }
        Err(e @ eval_recommend::RecommendEvalError::Invalid(_)) => {
            eprintln!("eval-recommend: {e}");
            ExitCode::from(2)
        }
        Err(e) => {
            eprintln!("eval-recommend: {e}");
            ExitCode::FAILURE
        }
    }
}

/// After an import with databases configured: waits until the outbox is delivered, printing
/// the backlog; a database that stays down for a minute is left to the next start (its rows
/// stay in the outbox, nothing is lost).
async fn wait_for_delivery(db: &jobfirst_ai::db::Databases) {
    let mut last_progress = std::time::Instant::now();
    let mut last_backlog = u64::MAX;
    let mut ticks = 0u64;
    loop {
        let statuses = db.statuses();
        let backlog: u64 = statuses.iter().map(|(_, s)| s.backlog).sum();
        if backlog == 0 {
            eprintln!("databases: everything delivered");
            return;
        }
        if backlog < last_backlog {
            last_backlog = backlog;
            last_progress = std::time::Instant::now();
        } else if last_progress.elapsed() > std::time::Duration::from_secs(60) {
            let down: Vec<String> = statuses
                .iter()
                .filter(|(_, s)| s.backlog > 0)
                .map(|(n, s)| {
                    format!(
                        "{n}: {} rows, {}",
                        s.backlog,
                        s.last_error.as_deref().unwrap_or(s.state)
                    )
                })
                .collect();
            eprintln!(
                "databases: no progress for 60 s ({}); the rows stay in the outbox and are \
                 delivered by the next `serve` on this data dir",
                down.join("; ")
            );
            return;
        }
        if ticks.is_multiple_of(10) {
            let parts: Vec<String> = statuses
                .iter()
                .map(|(n, s)| format!("{n} {} behind", s.backlog))
                .collect();
            eprintln!("databases: delivering ({})", parts.join(", "));
        }
        ticks += 1;
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
}

fn migrate(args: ServeArgs) -> ExitCode {
    let config = match args.validate() {
        Ok(c) => c,
        Err(e) => {
            eprintln!("migrate: {e}");
            return ExitCode::from(2);
        }
    };
    if config.postgres_url.is_none() && config.mysql_url.is_none() {
        eprintln!("migrate: no database configured (set POSTGRES_URL/POSTGRES_HOST or MYSQL_URL/MYSQL_HOST)");
        return ExitCode::from(2);
    }
    let rt = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("migrate: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    rt.block_on(async {
        use jobfirst_ai::db::{mysql, pg};
        let mut results = Vec::new();
        if let Some(url) = &config.postgres_url {
            let r = async { pg::migrate(&pg::connect(url).await?).await };
            results.push(("postgres", r.await));
        }
        if let Some(url) = &config.mysql_url {
            let r = async { mysql::migrate(&mysql::connect(url).await?).await };
            results.push(("mysql", r.await));
        }
        let mut ok = true;
        for (name, r) in results {
            match r {
                Ok(()) => println!("{name}: migrated"),
                Err(e) => {
                    eprintln!("{name}: {e}");
                    ok = false;
                }
            }
        }
        if ok {
            ExitCode::SUCCESS
        } else {
            ExitCode::FAILURE
        }
    })
}

fn serve(args: ServeArgs) -> ExitCode {
    // The configured host, before validation pins the address to loopback (see `bind_addr`).
    let host = args.host;
    let config = match args.validate() {
        Ok(c) => c,
        Err(e) => {
            eprintln!("jobfirst-ai: invalid configuration: {e}");
            return ExitCode::from(2);
        }
    };
    let Some(runtime) = runtime("jobfirst-ai") else {
        return ExitCode::FAILURE;
    };
    match runtime.block_on(run_server(config, host)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("jobfirst-ai: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn import(args: ImportArgs) -> ExitCode {
    let mut serve = args.serve;
    // An import fills the data dir with the caller's data, never with the sample set, and
    // leaves tasks queued by the gateway for the server to run.
    serve.sample_data = Some(false);
    serve.task_workers = 0;
    let llm_slots = serve.llm_max_concurrent;
    let config = match serve.validate() {
        Ok(c) => c,
        Err(e) => {
            eprintln!("jobfirst-ai import: invalid configuration: {e}");
            return ExitCode::from(2);
        }
    };
    let cpus = std::thread::available_parallelism().map_or(2, usize::from);
    let (via, default_concurrency) = if args.no_llm {
        (Analyser::Rules, 2 * cpus)
    } else {
        (Analyser::Auto, llm_slots + cpus)
    };
    let files: Vec<(Collection, PathBuf)> = [
        (Collection::Companies, args.companies),
        (Collection::Jobs, args.jobs),
        (Collection::Resumes, args.resumes),
    ]
    .into_iter()
    .filter_map(|(c, p)| p.map(|p| (c, p)))
    .collect();
    let concurrency = args.concurrency.unwrap_or(default_concurrency);
    let plan = match jobfirst_ai::import::Plan::open(&files, via, concurrency) {
        Ok(p) => p,
        Err(e) => {
            eprintln!("jobfirst-ai import: {e}");
            return ExitCode::from(2);
        }
    };
    let Some(runtime) = runtime("jobfirst-ai import") else {
        return ExitCode::FAILURE;
    };
    runtime.block_on(async move {
        let service = match jobfirst_ai::service::AiService::open(config).await {
            Ok(s) => s,
            Err(e) => {
                eprintln!("jobfirst-ai import: {e}");
                return ExitCode::from(2);
            }
        };
        let bar = jobfirst_ai::import::progress_bar(plan.total_bytes());
        let (summary, stopped) = jobfirst_ai::import::run(&service, plan, &bar).await;
        // Let a background index rebuild finish writing its file before the process ends.
        let engine = service.engine().clone();
        if let Err(e) = tokio::task::spawn_blocking(move || engine.wait_idle()).await {
            eprintln!("jobfirst-ai import: {e}");
        }
        println!("{summary}");
        if let Some(db) = service.databases() {
            wait_for_delivery(db).await;
        }
        if let Some(e) = stopped {
            eprintln!("jobfirst-ai import: {e}");
            return ExitCode::FAILURE;
        }
        if summary.total_imported() > 0 || summary.skipped == 0 {
            ExitCode::SUCCESS
        } else {
            ExitCode::FAILURE
        }
    })
}

/// Where to listen: with a JWT secret, `AI_SERVICE_HOST` (default 0.0.0.0, reachable by the
/// gateway); without one, loopback only, since nothing would check who is calling.
fn bind_addr(config: &jobfirst_ai::config::Config, host: Option<IpAddr>) -> SocketAddr {
    let port = config.addr.port();
    if config.jwt_secret.is_some() {
        SocketAddr::new(host.unwrap_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED)), port)
    } else {
        SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), port)
    }
}

async fn run_server(
    config: jobfirst_ai::config::Config,
    host: Option<IpAddr>,
) -> anyhow::Result<()> {
    use anyhow::Context;
    let addr = bind_addr(&config, host);
    if config.jwt_secret.is_none() {
        tracing::warn!(
            "JWT_SECRET is not set: authentication is off, binding {addr} (loopback only)"
        );
        if host.is_some_and(|h| !h.is_loopback()) {
            tracing::warn!("AI_SERVICE_HOST is not loopback; ignored while authentication is off");
        }
    } else {
        tracing::info!("JWT verification on (HS256)");
    }
    if config.request_timeout > jobfirst_ai::config::GATEWAY_TIMEOUT {
        tracing::warn!(
            request_timeout_s = config.request_timeout.as_secs_f64(),
            llm_timeout_s = config.llm_timeout.as_secs_f64(),
            "requests may take longer than the gateway's 30 s (the LLM's timeout needs it): \
             callers through the gateway get its timeout instead of the fallback; lower \
             AI_LLM_TIMEOUT_SECS to keep them under it"
        );
    }
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .with_context(|| format!("cannot bind {addr}"))?;
    tracing::info!(addr = %listener.local_addr()?, "jobfirst-ai listening (starting)");
    // For the process's life: the allocator's free pages go back to the system every
    // AI_MEMORY_TRIM_SECS (ARCHITECTURE.md, "`src/memory.rs`").
    let _trimmer = jobfirst_ai::memory::Trimmer::start(config.memory_trim);
    let engine = Arc::new(std::sync::OnceLock::new());
    let e2 = engine.clone();
    jobfirst_ai::http::serve_when_ready(
        listener,
        async move {
            jobfirst_ai::service::AiService::open(config)
                .await
                .map_err(anyhow::Error::from)
        },
        move |s| {
            let _ = e2.set(s.engine().clone());
        },
        shutdown_signal(),
    )
    .await?;
    // Let a running background rebuild finish writing its index file.
    if let Some(engine) = engine.get().cloned() {
        tokio::task::spawn_blocking(move || engine.wait_idle()).await?;
    }
    tracing::info!("stopped");
    Ok(())
}

async fn shutdown_signal() {
    let ctrl_c = async {
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = term => {},
    }
    tracing::info!("shutting down");
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(secret: Option<&str>) -> jobfirst_ai::config::Config {
        let mut a = ServeArgs::for_tests(PathBuf::from("unused"));
        a.jwt_secret = secret.map(Into::into);
        a.validate().unwrap()
    }

    #[test]
    fn without_a_secret_only_loopback_is_bound() {
        let public = Some(IpAddr::V4(Ipv4Addr::UNSPECIFIED));
        assert!(bind_addr(&config(None), public).ip().is_loopback());
        assert!(bind_addr(&config(None), None).ip().is_loopback());
    }

    #[test]
    fn with_a_secret_the_configured_host_is_bound() {
        let c = config(Some("k"));
        assert_eq!(bind_addr(&c, None).ip(), IpAddr::V4(Ipv4Addr::UNSPECIFIED));
        let h = IpAddr::V4(Ipv4Addr::new(10, 0, 0, 7));
        assert_eq!(bind_addr(&c, Some(h)).ip(), h);
    }
}
