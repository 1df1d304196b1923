//! `eval-ann`: recall and latency of the vector index on TEXMEX files, per (ef, filter
//! selectivity), one JSON object per line — the numbers users of vector engines compare.

use std::path::PathBuf;
use std::time::Instant;

use rand::{Rng, SeedableRng};
use rayon::prelude::*;
use serde::Serialize;

use super::texmex::{read_fvecs, read_ivecs, FileError, Matrix};
use crate::store::Payload;
use crate::vector::ann::AnnIndex;
use crate::vector::distance::{dot, normalized};
use crate::vector::{Filter, GraphParams, PathCounts, PlannerParams};

/// Settings of one evaluation run.
#[derive(Debug, Clone)]
pub struct AnnEvalConfig {
    pub base: PathBuf,
    pub queries: PathBuf,
    pub gt: Option<PathBuf>,
    pub k: usize,
    pub ef: Vec<usize>,
    pub m: usize,
    pub ef_construction: usize,
    pub selectivities: Vec<f64>,
    pub threads: usize,
    pub refine_passes: usize,
    pub seed: u64,
}

/// One line of output.
#[derive(Debug, Clone, Serialize)]
pub struct AnnEvalRow {
    pub ef: usize,
    pub selectivity: f64,
    pub k: usize,
    pub n: usize,
    pub queries: usize,
    pub dim: usize,
    pub recall: f64,
    pub mean_us: f64,
    pub p50_us: f64,
    pub p99_us: f64,
    pub qps: f64,
    pub build_s: f64,
    pub rss_mb: f64,
    /// Memory of the index itself (vectors, adjacency, payload columns), MB.
    pub index_mb: f64,
    pub path_counts: PathCounts,
}

#[derive(Debug, thiserror::Error)]
pub enum EvalError {
    #[error(transparent)]
    File(#[from] FileError),
    #[error("{0}")]
    Invalid(String),
    #[error("vector engine: {0}")]
    Engine(#[from] crate::vector::VectorError),
}

/// Resident set size of this process in MB (Linux; 0 elsewhere).
pub fn rss_mb() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|kb| kb.parse::<f64>().ok())
        })
        .map_or(0.0, |kb| kb / 1024.0)
}

fn field(i: usize) -> String {
    format!("sel{i}")
}

/// Exact top-k (by inner product on normalised vectors) of each query among accepted points.
fn exact_truth(
    base: &[f32],
    dim: usize,
    queries: &[Vec<f32>],
    k: usize,
    accept: &(dyn Fn(usize) -> bool + Sync),
) -> Vec<Vec<u32>> {
    let n = base.len() / dim;
    queries
        .par_iter()
        .map(|q| {
            let mut scored: Vec<(f32, u32)> = (0..n)
                .filter(|i| accept(*i))
                .map(|i| (-dot(q, &base[i * dim..(i + 1) * dim]), i as u32))
                .collect();
            let kk = k.min(scored.len());
            if kk > 0 && kk < scored.len() {
                scored
                    .select_nth_unstable_by(kk - 1, |a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
                scored.truncate(kk);
            }
            scored.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
            scored.into_iter().map(|(_, i)| i).collect()
        })
        .collect()
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

/// Runs the evaluation; `emit` receives each row as it is measured.
pub fn run(
    cfg: &AnnEvalConfig,
    mut emit: impl FnMut(&AnnEvalRow),
) -> Result<Vec<AnnEvalRow>, EvalError> {
    if cfg.k == 0 || cfg.k > crate::vector::MAX_K {
        return Err(EvalError::Invalid(format!(
            "--k must be 1..={}",
            crate::vector::MAX_K
        )));
    }
    if cfg.ef.is_empty() || cfg.ef.iter().any(|e| *e == 0 || *e > crate::vector::MAX_EF) {
        return Err(EvalError::Invalid(format!(
            "--ef values must be 1..={}",
            crate::vector::MAX_EF
        )));
    }
    if cfg.selectivities.is_empty() || cfg.selectivities.iter().any(|s| !(*s > 0.0 && *s <= 1.0)) {
        return Err(EvalError::Invalid(
            "--filter-selectivity values must be in (0, 1]".into(),
        ));
    }
    let threads = cfg.threads.max(1);
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()
        .map_err(|e| EvalError::Invalid(format!("thread pool: {e}")))?;
    let base: Matrix<f32> = read_fvecs(&cfg.base)?;
    let queries: Matrix<f32> = read_fvecs(&cfg.queries)?;
    if base.dim != queries.dim {
        return Err(EvalError::Invalid(format!(
            "{} has dimension {} but {} has dimension {}",
            cfg.base.display(),
            base.dim,
            cfg.queries.display(),
            queries.dim
        )));
    }
    let (n, dim) = (base.rows(), base.dim);
    if n == 0 || queries.rows() == 0 {
        return Err(EvalError::Invalid(
            "base and queries must hold at least one vector".into(),
        ));
    }
    let gt_file = match &cfg.gt {
        Some(p) => {
            let g = read_ivecs(p)?;
            if g.rows() != queries.rows() {
                return Err(EvalError::Invalid(format!(
                    "{}: {} rows of ground truth for {} queries",
                    p.display(),
                    g.rows(),
                    queries.rows()
                )));
            }
            if g.dim < cfg.k {
                return Err(EvalError::Invalid(format!(
                    "{}: ground truth holds {} neighbours per query, fewer than --k {}",
                    p.display(),
                    g.dim,
                    cfg.k
                )));
            }
            if g.data.iter().any(|i| *i as usize >= n) {
                return Err(EvalError::Invalid(format!(
                    "{}: an id is out of range of the base",
                    p.display()
                )));
            }
            Some(g)
        }
        None => None,
    };
    let qs: Vec<Vec<f32>> = (0..queries.rows())
        .map(|i| normalized(&format!("query {i}"), queries.row(i), dim))
        .collect::<Result<_, _>>()?;
    let mut base_n = base.data;
    for (i, row) in base_n.chunks_exact_mut(dim).enumerate() {
        let u = normalized(&format!("base vector {i}"), row, dim)?;
        row.copy_from_slice(&u);
    }

    // Tag a random fraction of points per selectivity (fixed seed).
    let mut rng = rand::rngs::StdRng::seed_from_u64(cfg.seed);
    let mut tags: Vec<Vec<bool>> = vec![vec![false; n]; cfg.selectivities.len()];
    let mut payloads = vec![Payload::new(); n];
    for (si, s) in cfg.selectivities.iter().enumerate() {
        if *s >= 1.0 {
            continue;
        }
        for (i, p) in payloads.iter_mut().enumerate() {
            let hit = rng.random::<f64>() < *s;
            tags[si][i] = hit;
            p.0.insert(field(si), (if hit { "in" } else { "out" }).into());
        }
    }

    let started = Instant::now();
    let index = pool.install(|| {
        AnnIndex::build(
            base_n.clone(),
            dim,
            payloads,
            GraphParams {
                m: cfg.m,
                ef_construction: cfg.ef_construction,
                refine_passes: cfg.refine_passes,
            },
            // eval-ann measures the graph: no scan of a whole small base instead.
            PlannerParams {
                full_scan_budget: 0,
                ..PlannerParams::default()
            },
        )
    })?;
    let build_s = started.elapsed().as_secs_f64();
    tracing::info!(n, dim, build_s, "index built");

    let mut rows = Vec::new();
    for (si, s) in cfg.selectivities.iter().enumerate() {
        let filter = (*s < 1.0).then(|| Filter::eq(&field(si), "in"));
        let truth: Vec<Vec<u32>> = match (&gt_file, &filter) {
            (Some(g), None) => (0..g.rows()).map(|i| g.row(i)[..cfg.k].to_vec()).collect(),
            (_, None) => pool.install(|| exact_truth(&base_n, dim, &qs, cfg.k, &|_| true)),
            (_, Some(_)) => {
                let t = &tags[si];
                pool.install(|| exact_truth(&base_n, dim, &qs, cfg.k, &|i| t[i]))
            }
        };
        // Warm up caches and the per-thread visited array.
        for q in qs.iter().take(100) {
            index.search(q, cfg.k, Some(cfg.ef[0]), filter.as_ref())?;
        }
        for &ef in &cfg.ef {
            index.reset_counts();
            let mut lat = Vec::with_capacity(qs.len());
            let mut found = 0usize;
            let mut wanted = 0usize;
            for (q, t) in qs.iter().zip(&truth) {
                let t0 = Instant::now();
                let (hits, _) = index.search(q, cfg.k, Some(ef), filter.as_ref())?;
                lat.push(t0.elapsed().as_secs_f64() * 1e6);
                wanted += t.len().min(cfg.k);
                found += hits.iter().filter(|h| t.contains(&(h.id as u32))).count();
            }
            let counts = index.path_counts();
            let t0 = Instant::now();
            pool.install(|| {
                qs.par_iter().for_each(|q| {
                    let _ = index.search(q, cfg.k, Some(ef), filter.as_ref());
                })
            });
            let qps = qs.len() as f64 / t0.elapsed().as_secs_f64();
            let mean = lat.iter().sum::<f64>() / lat.len() as f64;
            lat.sort_by(f64::total_cmp);
            let row = AnnEvalRow {
                ef,
                selectivity: *s,
                k: cfg.k,
                n,
                queries: qs.len(),
                dim,
                recall: if wanted == 0 {
                    1.0
                } else {
                    found as f64 / wanted as f64
                },
                mean_us: mean,
                p50_us: percentile(&lat, 0.5),
                p99_us: percentile(&lat, 0.99),
                qps,
                build_s,
                rss_mb: rss_mb(),
                index_mb: index.memory_bytes() as f64 / 1e6,
                path_counts: counts,
            };
            emit(&row);
            rows.push(row);
        }
    }
    Ok(rows)
}
