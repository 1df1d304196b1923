//! Criterion benches of the vector engine's hot paths.
//!
//! `cargo bench --bench vector` runs them on synthetic clustered unit vectors (the
//! distribution of `scripts/bench/gen_clustered.py`, regenerated here). `JF_BENCH_N` sets the
//! collection size (default 100,000; the search benches build once, ~30–60 s).
//! Groups: `distance` (simsimd vs scalar, 384 and 768 dims), `search` (unfiltered and at four
//! filter selectivities, through the planner), `upsert` (redb-committed writes), `reopen`
//! (mapping a valid index file vs rebuilding from redb).

use std::collections::HashMap;
use std::hint::black_box;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use rand::{Rng, SeedableRng};

use jobfirst_ai::vector::ann::AnnIndex;
use jobfirst_ai::vector::distance::{cosine_distance, scalar_cosine_distance};
use jobfirst_ai::vector::{
    Collection, Engine, EngineOptions, EntityUpsert, Filter, GraphParams, Payload, PlannerParams,
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
    let data = clustered(n, dim, 2);
    let queries = clustered(1000, dim, 3);
    let sel = [
        ("50pct", 0.5),
        ("10pct", 0.1),
        ("1pct", 0.01),
        ("0.1pct", 0.001),
    ];
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
    let mut g = c.benchmark_group("search_100k_384");
    g.measurement_time(Duration::from_secs(5));
    for ef in [16usize, 32, 64] {
        let mut i = 0;
        g.bench_function(BenchmarkId::new("unfiltered_ef", ef), |b| {
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
            b.iter(|| {
                i = (i + 1) % 1000;
                index.search(&queries[i * dim..(i + 1) * dim], 10, Some(32), Some(&f))
            })
        });
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
    let big = jobs_dir(n, dim, opts);
    let mut g = c.benchmark_group("reopen");
    g.sample_size(10);
    g.bench_function(BenchmarkId::new("valid_index_file_jobs_x4", n), |b| {
        b.iter(|| Engine::open(big.path(), opts).expect("open"))
    });
    drop(big);
    // Rebuilding is ~4 graph builds per open: measured on a tenth of the size.
    let small_n = (n / 10).max(5_000);
    let small = jobs_dir(small_n, dim, opts);
    g.bench_function(BenchmarkId::new("valid_index_file_jobs_x4", small_n), |b| {
        b.iter(|| Engine::open(small.path(), opts).expect("open"))
    });
    let idx = small.path().join("index").join("jobs.idx");
    g.bench_function(
        BenchmarkId::new("rebuild_from_redb_jobs_x4", small_n),
        |b| {
            b.iter(|| {
                std::fs::write(&idx, b"damaged").expect("write");
                Engine::open(small.path(), opts).expect("open")
            })
        },
    );
    g.finish();
}

criterion_group!(benches, distance, search, upsert, reopen);
criterion_main!(benches);
