//! Criterion benches of the vector engine's hot paths.
//!
//! `cargo bench --bench vector` runs them on synthetic clustered unit vectors (the
//! distribution of `scripts/bench/gen_clustered.py`, regenerated here). `JF_BENCH_N` sets the
//! collection size (default 100,000; the search benches build once, ~30–60 s).
//! Groups: `distance` (simsimd vs scalar, 384 and 768 dims), `search` (unfiltered and at four
//! filter selectivities, through the planner), `planner_crossover` (the planner's exact scan
//! against its graph traversal by collection or filter size, which sets `PlannerParams`'
//! budgets; runnable alone: `cargo bench --bench vector -- planner_crossover`), `upsert`
//! (redb-committed writes), `reopen` (mapping a valid index file vs rebuilding from redb).

use std::cell::LazyCell;
use std::collections::HashMap;
use std::hint::black_box;
use std::ops::Deref;
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use rand::{Rng, SeedableRng};

use jobfirst_ai::store::{Collection, Payload};
use jobfirst_ai::vector::ann::AnnIndex;
use jobfirst_ai::vector::distance::{cosine_distance, scalar_cosine_distance};
use jobfirst_ai::vector::{
    Engine, EngineOptions, EntityUpsert, Filter, GraphParams, PlannerParams, SearchHit, SearchPath,
};

fn bench_n() -> usize {
    std::env::var("JF_BENCH_N")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(100_000)
}

/// Hierarchical Gaussian clusters, L2-normalised (50 super-centres, 1,000 centres).
fn clustered(n: usize, dim: usize, seed: u64) -> Vec<f32> {
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let mut gauss = move || {
        // Box-Muller
        let u: f64 = rng.random::<f64>().max(1e-12);
        let v: f64 = rng.random();
        ((-2.0 * u.ln()).sqrt() * (2.0 * std::f64::consts::PI * v).cos()) as f32
    };
    let norm = |v: &mut [f32]| {
        let s = v.iter().map(|x| x * x).sum::<f32>().sqrt();
        v.iter_mut().for_each(|x| *x /= s);
    };
    let sd = (dim as f32).sqrt();
    let supers: Vec<Vec<f32>> = (0..50)
        .map(|_| {
            let mut v: Vec<f32> = (0..dim).map(|_| gauss()).collect();
            norm(&mut v);
            v
        })
        .collect();
    let centres: Vec<(Vec<f32>, f32)> = (0..1000)
        .map(|i| {
            let s = &supers[(i * 7919) % 50];
            let mut v: Vec<f32> = s.iter().map(|x| x + gauss() * 0.6 / sd).collect();
            norm(&mut v);
            (v, 0.6 + 0.4 * ((i * 104729) % 1000) as f32 / 1000.0)
        })
        .collect();
    let mut out = Vec::with_capacity(n * dim);
    for i in 0..n {
        let (c, spread) = &centres[(i * 2654435761) % 1000];
        let mut v: Vec<f32> = c.iter().map(|x| x + gauss() * spread / sd).collect();
        norm(&mut v);
        out.extend(v);
    }
    out
}

fn distance(c: &mut Criterion) {
    let mut g = c.benchmark_group("distance");
    for dim in [384usize, 768] {
        let data = clustered(2, dim, 1);
        let (a, b) = data.split_at(dim);
        g.bench_with_input(BenchmarkId::new("simsimd_dot", dim), &dim, |bch, _| {
            bch.iter(|| cosine_distance(black_box(a), black_box(b)))
        });
        g.bench_with_input(
            BenchmarkId::new("scalar_f64_cosine", dim),
            &dim,
            |bch, _| bch.iter(|| scalar_cosine_distance(black_box(a), black_box(b))),
        );
    }
    g.finish();
}

fn search(c: &mut Criterion) {
    let (n, dim) = (bench_n(), 384);
    let sel = [
        ("50pct", 0.5),
        ("10pct", 0.1),
        ("1pct", 0.01),
        ("0.1pct", 0.001),
    ];
    // Built only if one of the group's benches runs (not when another group is selected).
    let built = LazyCell::new(|| {
        let data = clustered(n, dim, 2);
        let queries = clustered(1000, dim, 3);
        let mut rng = rand::rngs::StdRng::seed_from_u64(4);
        let payloads: Vec<Payload> = (0..n)
            .map(|_| {
                let mut p = Payload::new();
                for (name, s) in sel {
                    p = p.with(name, if rng.random::<f64>() < s { "in" } else { "out" });
                }
                p
            })
            .collect();
        let index = AnnIndex::build(
            data,
            dim,
            payloads,
            GraphParams::default(),
            PlannerParams::default(),
        )
        .expect("build");
        (index, queries)
    });
    let mut g = c.benchmark_group("search_100k_384");
    g.measurement_time(Duration::from_secs(5));
    for ef in [16usize, 32, 64] {
        let mut i = 0;
        g.bench_function(BenchmarkId::new("unfiltered_ef", ef), |b| {
            let (index, queries) = &*built;
            b.iter(|| {
                i = (i + 1) % 1000;
                index.search(&queries[i * dim..(i + 1) * dim], 10, Some(ef), None)
            })
        });
    }
    for (name, _) in sel {
        let f = Filter::eq(name, "in");
        let mut i = 0;
        g.bench_function(BenchmarkId::new("filtered", name), |b| {
            let (index, queries) = &*built;
            b.iter(|| {
                i = (i + 1) % 1000;
                index.search(&queries[i * dim..(i + 1) * dim], 10, Some(32), Some(&f))
            })
        });
    }
    g.finish();
}

/// Runs each query once under `planner`, checks the path taken (a graph search that came back
/// short falls back to a scan: that is the graph path's cost too, so it is reported, not
/// excluded), and returns the hits per query.
fn planned(
    index: &AnnIndex,
    planner: &PlannerParams,
    queries: &[f32],
    filter: Option<&Filter>,
    expect: SearchPath,
) -> Vec<Vec<SearchHit>> {
    let mut fallbacks = 0;
    let hits: Vec<Vec<SearchHit>> = queries
        .chunks_exact(index.dim())
        .map(|q| {
            let (hits, path) = index
                .search_planned(planner, q, 10, None, filter)
                .expect("search");
            match path {
                SearchPath::ExactFallback => fallbacks += 1,
                p => assert_eq!(p, expect),
            }
            hits
        })
        .collect();
    if fallbacks > 0 {
        eprintln!("  {expect:?}: {fallbacks} of {} fell back", hits.len());
    }
    hits
}

/// Checks both paths on the first queries and prints the graph's recall@10 against the scan.
fn check_paths(index: &AnnIndex, queries: &[f32], filter: Option<&Filter>, what: &str) {
    let (graph, scan) = crossover_planners();
    let expect = match filter {
        None => SearchPath::Graph,
        Some(_) => SearchPath::GraphFiltered,
    };
    let by_graph = planned(index, &graph, queries, filter, expect);
    let exact = planned(index, &scan, queries, filter, SearchPath::Exact);
    let (mut found, mut wanted) = (0, 0);
    for (g, t) in by_graph.iter().zip(&exact) {
        wanted += t.len();
        found += g.iter().filter(|h| t.iter().any(|x| x.id == h.id)).count();
    }
    eprintln!(
        "planner_crossover: {what}: graph recall@10 {:.4}",
        found as f64 / wanted.max(1) as f64
    );
}

/// The planner with the exact paths off (graph) and forced (scan).
fn crossover_planners() -> (PlannerParams, PlannerParams) {
    let defaults = PlannerParams::default();
    let graph = PlannerParams {
        full_scan_budget: 0,
        exact_budget: 0,
        ..defaults
    };
    let scan = PlannerParams {
        full_scan_budget: usize::MAX,
        exact_budget: usize::MAX,
        count_limit: usize::MAX,
        ..defaults
    };
    (graph, scan)
}

/// Collection sizes at which `planner_crossover` compares the two unfiltered paths (denser
/// around the crossover, 500–750 points at 384 dims).
const CROSSOVER_POINTS: [usize; 9] = [250, 375, 500, 750, 1_000, 2_000, 4_000, 8_000, 16_000];
/// Match counts at which it compares the two filtered paths (denser around the crossover,
/// 8,000–10,000 of 100k).
const CROSSOVER_MATCHES: [usize; 10] = [
    250, 500, 1_000, 2_000, 4_000, 6_000, 8_000, 10_000, 12_000, 16_000,
];
/// Queries cycled through by the timed loops; the first 100 check the paths and recall.
const CROSSOVER_QUERIES: usize = 500;

/// Where an exact scan stops being cheaper than the graph, which `PlannerParams` takes its
/// `full_scan_budget` and `exact_budget` from. k = 10, the planner's default ef (48), queries
/// held out from the data's own clusters; indexes are built only if a bench of theirs runs.
///
/// * `unfiltered_graph/n` and `unfiltered_exact/n`: an index over `n` points, searched without
///   a filter with the full-scan rule off (graph) and forced (a scan of all `n`).
/// * `filtered_graph/m` and `filtered_exact/m`: one index over `JF_BENCH_N` points (100k), a
///   filter matching `m` of them (a random subset), with the exact budget at 0 (the filtered
///   traversal) and unbounded (matches materialised, then scanned). The graph side skips the
///   count the planner makes of the matches when their candidate set is near the budget, so
///   it is slightly favoured.
fn planner_crossover(c: &mut Criterion) {
    let dim = 384;
    let nq = CROSSOVER_QUERIES;
    let filtered_n = bench_n().max(CROSSOVER_MATCHES[CROSSOVER_MATCHES.len() - 1] * 2);
    let all = LazyCell::new(|| clustered(filtered_n + nq, dim, 7));
    let data = |n: usize| all[..n * dim].to_vec();
    let queries = || &all[filtered_n * dim..];
    let checked = || &queries()[..100 * dim];
    let (graph, scan) = crossover_planners();
    let mut g = c.benchmark_group("planner_crossover");
    g.warm_up_time(Duration::from_secs(1));
    g.measurement_time(Duration::from_secs(2));
    g.sample_size(50);
    let run = |g: &mut criterion::BenchmarkGroup<'_, _>,
               index: &dyn Deref<Target = AnnIndex>,
               planner: &PlannerParams,
               name: &str,
               size: usize,
               filter: Option<&Filter>| {
        let mut i = 0;
        g.bench_function(BenchmarkId::new(name, size), |b| {
            let (index, queries) = (&**index, queries());
            b.iter(|| {
                i = (i + 1) % nq;
                let q = &queries[i * dim..(i + 1) * dim];
                index.search_planned(planner, q, 10, None, filter)
            })
        });
    };

    for &n in &CROSSOVER_POINTS {
        let index = LazyCell::new(|| {
            let t0 = Instant::now();
            let payloads = vec![Payload::new(); n];
            let index = AnnIndex::build(data(n), dim, payloads, GraphParams::default(), graph)
                .expect("build");
            let what = format!("{n} points (built in {:.1} s)", t0.elapsed().as_secs_f64());
            check_paths(&index, checked(), None, &what);
            index
        });
        run(&mut g, &index, &graph, "unfiltered_graph", n, None);
        run(&mut g, &index, &scan, "unfiltered_exact", n, None);
    }

    // One collection, nested random subsets: field `m{m}` is "in" on `m` points.
    let index = LazyCell::new(|| {
        let t0 = Instant::now();
        let mut rng = rand::rngs::StdRng::seed_from_u64(8);
        let mut order: Vec<usize> = (0..filtered_n).collect();
        for i in (1..order.len()).rev() {
            order.swap(i, rng.random_range(0..=i));
        }
        let mut payloads = vec![Payload::new(); filtered_n];
        for &m in &CROSSOVER_MATCHES {
            for &p in &order[..m] {
                payloads[p] = std::mem::take(&mut payloads[p]).with(&format!("m{m}"), "in");
            }
        }
        let index = AnnIndex::build(
            data(filtered_n),
            dim,
            payloads,
            GraphParams::default(),
            graph,
        )
        .expect("build");
        eprintln!(
            "planner_crossover: {filtered_n} points built in {:.1} s",
            t0.elapsed().as_secs_f64()
        );
        for &m in &CROSSOVER_MATCHES {
            let f = Filter::eq(&format!("m{m}"), "in");
            check_paths(
                &index,
                checked(),
                Some(&f),
                &format!("{m} of {filtered_n} match"),
            );
        }
        index
    });
    for &m in &CROSSOVER_MATCHES {
        let f = Filter::eq(&format!("m{m}"), "in");
        run(&mut g, &index, &graph, "filtered_graph", m, Some(&f));
        run(&mut g, &index, &scan, "filtered_exact", m, Some(&f));
    }
    g.finish();
}

fn entity(id: u64, data: &[f32], dim: usize) -> EntityUpsert {
    let i = (id as usize) % (data.len() / dim);
    let v = data[i * dim..(i + 1) * dim].to_vec();
    let vectors: HashMap<String, Vec<f32>> = Collection::Jobs
        .vector_names()
        .iter()
        .map(|n| (n.to_string(), v.clone()))
        .collect();
    EntityUpsert {
        id,
        vectors,
        payload: Payload::new()
            .with("city", "深圳市")
            .with("salary_max", 20000.0),
        document: serde_json::Value::Null,
    }
}

fn upsert(c: &mut Criterion) {
    let dim = 384;
    let data = clustered(1000, dim, 5);
    let dir = tempfile::tempdir().expect("tempdir");
    let engine = Engine::open(
        dir.path(),
        EngineOptions {
            background_rebuild: false,
            ..Default::default()
        },
    )
    .expect("open");
    let mut g = c.benchmark_group("upsert");
    let mut id = 0u64;
    g.throughput(Throughput::Elements(1));
    g.bench_function("one_per_commit", |b| {
        b.iter(|| {
            id += 1;
            engine.upsert(Collection::Jobs, "bench", entity(id, &data, dim))
        })
    });
    g.throughput(Throughput::Elements(100));
    g.bench_function("batch_100_per_commit", |b| {
        b.iter(|| {
            let batch: Vec<_> = (0..100)
                .map(|_| {
                    id += 1;
                    entity(id, &data, dim)
                })
                .collect();
            engine.upsert_batch(Collection::Jobs, "bench", batch)
        })
    });
    g.finish();
}

/// A data dir holding `n` jobs (4 named vectors each), rebuilt so an index file exists.
fn jobs_dir(n: usize, dim: usize, opts: EngineOptions) -> tempfile::TempDir {
    let data = clustered(n.min(20_000), dim, 6);
    let dir = tempfile::tempdir().expect("tempdir");
    let engine = Engine::open(dir.path(), opts).expect("open");
    for chunk in (1..=n as u64).collect::<Vec<_>>().chunks(1000) {
        let batch = chunk.iter().map(|id| entity(*id, &data, dim)).collect();
        engine
            .upsert_batch(Collection::Jobs, "bench", batch)
            .expect("upsert");
    }
    engine.rebuild(Collection::Jobs).expect("rebuild");
    dir
}

fn reopen(c: &mut Criterion) {
    let dim = 384;
    let opts = EngineOptions {
        background_rebuild: false,
        ..Default::default()
    };
    let n = bench_n();
    // The data dirs are made only if a bench of theirs runs.
    let big = LazyCell::new(|| jobs_dir(n, dim, opts));
    let mut g = c.benchmark_group("reopen");
    g.sample_size(10);
    g.bench_function(BenchmarkId::new("valid_index_file_jobs_x4", n), |b| {
        let dir = big.path();
        b.iter(|| Engine::open(dir, opts).expect("open"))
    });
    drop(big);
    // Rebuilding is ~4 graph builds per open: measured on a tenth of the size.
    let small_n = (n / 10).max(5_000);
    let small = LazyCell::new(|| jobs_dir(small_n, dim, opts));
    g.bench_function(BenchmarkId::new("valid_index_file_jobs_x4", small_n), |b| {
        let dir = small.path();
        b.iter(|| Engine::open(dir, opts).expect("open"))
    });
    g.bench_function(
        BenchmarkId::new("rebuild_from_redb_jobs_x4", small_n),
        |b| {
            let idx = small.path().join("index").join("jobs.idx");
            b.iter(|| {
                std::fs::write(&idx, b"damaged").expect("write");
                Engine::open(small.path(), opts).expect("open")
            })
        },
    );
    g.finish();
}

criterion_group!(benches, distance, search, planner_crossover, upsert, reopen);
criterion_main!(benches);
