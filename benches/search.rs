//! Criterion benches of hybrid text search, in process (the code behind
//! `POST /api/v1/search/jobs`, minus JSON): query parsing, the lexical arm (BM25F, MaxScore),
//! the `overall` and `title` vector arms and the weighted fusion.
//!
//! Data (built once, then reused from `target/bench-data/search-<jobs>`): `JF_BENCH_JOBS` jobs
//! (default 100,000) whose texts are the occupations of the bundled classification (title =
//! name with a seniority prefix, description = definition, requirements = tasks and three
//! lexicon skills, company = one of 2,000), embedded by the built-in embedder (static word vectors), in 100 cities
//! (1% of the jobs each); graphs on `overall` and `title`. Queries: the classification's
//! market aliases (what `eval-search` asks).
//!
//! `cargo bench --bench search` runs `search/hybrid`, `search/hybrid_city_1pct`,
//! `search/lexical` and `search/lexical_city_1pct`, then times single calls and prints
//! `p50`/`p99`, the lexical index's memory per job and the time to open the engine with and
//! without the lexical index (its rebuild from redb) to stderr.

mod common;

use std::hint::black_box;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, Criterion};
use serde_json::json;

use jobfirst_ai::ai::{Embedder, StaticEmbedder};
use jobfirst_ai::analysis::city::Cities;
use jobfirst_ai::eval::search::{display_name, occupations, queries};
use jobfirst_ai::hybrid::{
    hybrid, query_vectors, ArmWeights, Fusion, HybridRequest, SearchMode, LEXICAL,
};
use jobfirst_ai::lexical::Query;
use jobfirst_ai::store::{Collection, Payload};
use jobfirst_ai::vector::{Engine, EngineOptions, EntityUpsert, Filter, IndexedVectors};

fn jobs_n() -> usize {
    std::env::var("JF_BENCH_JOBS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(100_000)
}

fn options(lexical: bool) -> EngineOptions {
    EngineOptions {
        indexed: IndexedVectors::only(&[
            (Collection::Jobs, "overall"),
            (Collection::Jobs, "title"),
        ])
        .expect("vector names"),
        lexical: lexical.then_some(LEXICAL),
        ..EngineOptions::default()
    }
}

fn cities() -> Vec<String> {
    Cities::bundled()
        .names()
        .iter()
        .take(100)
        .cloned()
        .collect()
}

fn build(n: usize) -> PathBuf {
    let dir = common::data_dir("search-static", n);
    let done = dir.join("COMPLETE");
    if done.exists() {
        return dir;
    }
    let _ = std::fs::remove_dir_all(&dir);
    let t = Instant::now();
    let engine = Engine::open(&dir, options(true)).expect("engine opens");
    engine.set_background_rebuild(false);
    let occ = occupations().expect("classification");
    let skills: Vec<String> = jobfirst_ai::analysis::lexicon::Lexicon::bundled()
        .occupations()
        .iter()
        .filter(|o| !o.is_title)
        .map(|o| o.name.clone())
        .collect();
    let cities = cities();
    let e = StaticEmbedder::bundled();
    let mut buf = Vec::new();
    for i in 0..n {
        let o = &occ[(i * 7_919) % occ.len()];
        let seniority = ["", "高级", "资深", "初级"][i % 4];
        let title = format!("{seniority}{}", display_name(&o.name));
        let picked: Vec<&str> = (0..3)
            .map(|k| skills[(i * 31 + k * 17) % skills.len()].as_str())
            .collect();
        let city = &cities[i % cities.len()];
        let requirements = format!("{}\n熟悉{}", o.tasks, picked.join("、"));
        let company = format!("公司{}", i % 2_000);
        let lo = 5_000.0 + (i % 30) as f64 * 1_000.0;
        let payload = Payload::new()
            .with("city", city.as_str())
            .with("salary_min", lo)
            .with("salary_max", lo * 1.6);
        let overall = e.embed_one(&format!(
            "{title}\n{}\n{}\n{requirements}",
            picked.join(" "),
            o.definition
        ));
        let title_v = e.embed_one(&title);
        let doc = json!({"input": {"title": title, "company": company, "location": city,
            "description": o.definition, "requirements": requirements,
            "salary_min": lo, "salary_max": lo * 1.6},
            "analysis": {"extracted_skills": picked}});
        buf.push(EntityUpsert {
            id: i as u64 + 1,
            vectors: [
                ("title", title_v),
                ("description", overall.clone()),
                ("requirements", overall.clone()),
                ("overall", overall),
            ]
            .into_iter()
            .map(|(k, v)| (k.to_string(), v))
            .collect(),
            payload,
            document: doc,
        });
        if buf.len() == 5_000 {
            engine
                .upsert_batch(Collection::Jobs, e.model_id(), std::mem::take(&mut buf))
                .expect("jobs");
        }
    }
    engine
        .upsert_batch(Collection::Jobs, e.model_id(), std::mem::take(&mut buf))
        .expect("jobs");
    engine.rebuild(Collection::Jobs).expect("graphs");
    drop(engine);
    std::fs::write(&done, b"ok").expect("marker");
    eprintln!(
        "built {} in {:.1} s",
        dir.display(),
        t.elapsed().as_secs_f64()
    );
    dir
}

fn bench(c: &mut Criterion) {
    let n = jobs_n();
    let dir = build(n);
    // The lexical index's rebuild from redb: open with and without it.
    let open = |lexical: bool| {
        let t = Instant::now();
        let engine = Engine::open(&dir, options(lexical)).expect("engine");
        (t.elapsed(), engine)
    };
    let (without, e0) = open(false);
    drop(e0);
    let (with, engine) = open(true);
    engine.wait_idle();
    let (docs, terms, bytes) = engine.lexical_stats(Collection::Jobs);
    eprintln!(
        "open {n} jobs: {:.2} s without the lexical index, {:.2} s with it (its rebuild from \
         redb: {:.2} s); lexical index: {docs} documents, {terms} terms, {:.1} MiB, {} bytes/job",
        without.as_secs_f64(),
        with.as_secs_f64(),
        with.as_secs_f64() - without.as_secs_f64(),
        bytes as f64 / (1 << 20) as f64,
        bytes / docs.max(1)
    );
    let occ = occupations().expect("classification");
    let qs: Vec<String> = queries(&occ).into_iter().map(|q| q.text).collect();
    let e = StaticEmbedder::bundled();
    let city = Filter::eq("city", cities()[3].as_str());
    let run = |i: usize, mode: SearchMode, filter: Option<&Filter>| {
        let text = &qs[i % qs.len()];
        let query = Query::parse(text);
        let v = (mode != SearchMode::Lexical).then(|| e.embed_one(text));
        hybrid(
            &engine,
            &HybridRequest {
                collection: Collection::Jobs,
                query: &query,
                vector: v.as_deref(),
                vectors: query_vectors(Collection::Jobs),
                k: 10,
                filter,
                mode,
                fusion: Fusion::Weighted,
                weights: ArmWeights::default(),
            },
        )
        .expect("search")
    };
    let mut group = c.benchmark_group("search");
    group.measurement_time(Duration::from_secs(5));
    for (name, mode, filter) in [
        ("hybrid", SearchMode::Hybrid, None),
        ("hybrid_city_1pct", SearchMode::Hybrid, Some(&city)),
        ("lexical", SearchMode::Lexical, None),
        ("lexical_city_1pct", SearchMode::Lexical, Some(&city)),
    ] {
        let mut i = 0;
        group.bench_function(name, |b| {
            b.iter(|| {
                i += 1;
                black_box(run(i, mode, filter))
            })
        });
        let mut samples: Vec<f64> = (0..qs.len())
            .map(|i| {
                let t = Instant::now();
                black_box(run(i, mode, filter));
                t.elapsed().as_secs_f64() * 1e6
            })
            .collect();
        let (p50, p99) = common::percentiles(&mut samples);
        eprintln!(
            "search/{name}: p50 {p50:.0} µs, p99 {p99:.0} µs over {} queries",
            qs.len()
        );
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
