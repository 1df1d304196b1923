//! The `jobfirst-ai` command: `serve` (the default: the HTTP service) and `eval-ann`.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

use jobfirst_ai::config::ServeArgs;
use jobfirst_ai::eval::ann::{run, AnnEvalConfig};

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
    let command = match cli.command {
        Some(c) => c,
        None => Command::Serve(cli.serve),
    };
    match command {
        Command::Serve(args) => serve(args),
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
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("jobfirst-ai: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run_server(config, host)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("jobfirst-ai: {e:#}");
            ExitCode::FAILURE
        }
    }
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
    let service = jobfirst_ai::service::AiService::open(config).await?;
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .with_context(|| format!("cannot bind {addr}"))?;
    tracing::info!(addr = %listener.local_addr()?, "jobfirst-ai listening");
    let engine = service.engine().clone();
    jobfirst_ai::http::serve(listener, service, shutdown_signal()).await?;
    // Let a running background rebuild finish writing its index file.
    tokio::task::spawn_blocking(move || engine.wait_idle()).await?;
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
