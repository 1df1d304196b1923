//! The `jobfirst-ai` command: `eval-ann` today (the service's `serve` arrives with the HTTP
//! issue).

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

use jobfirst_ai::eval::ann::{run, AnnEvalConfig};

#[derive(Parser)]
#[command(
    name = "jobfirst-ai",
    version,
    about = "AI service of the JobFirst recruiting platform"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
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
    },
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
    match cli.command {
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
        } => {
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
                Ok(_) => ExitCode::SUCCESS,
                Err(e) => {
                    eprintln!("eval-ann: {e}");
                    ExitCode::from(2)
                }
            }
        }
    }
}
