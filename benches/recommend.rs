//! Criterion benches of the recommendation targets, in process (service use-case calls, no
//! HTTP): profile lookup + filtered ANN + re-rank of the oversampled candidates + reasons.
//!
//! Data (built once, then reused from `target/bench-data/recommend-<jobs>`): `JF_BENCH_JOBS`
//! jobs (default 100,000), 20,000 resumes (one per user) and 2,000 companies, 384-dim
//! clustered unit vectors (every named vector stored, only `overall` indexed, as served; the
//! lexical index read from the documents at open), with
//! documents and payloads shaped like the analysers' — titles and skills from the bundled
//! occupation lexicon (skills correlate with the vector cluster), 100 cities (each 1% of the
//! jobs), salaries, years, education. `JF_BENCH_BUILD_ONLY=1` builds the data dir and exits
//! (for `scripts/load_recommend.sh`, which serves it over HTTP).
//!
//! `cargo bench --bench recommend` runs the groups `recommend/jobs` (no filter),
//! `recommend/jobs_city_1pct` (a city holding 1% of the jobs), `recommend/companies` and
//! `recommend/candidates`, cycling through users (or jobs). Features caches are warmed first
//! (steady state). After each group it times single calls and prints `p50`/`p99` to stderr
//! (criterion reports means of many iterations, the targets are percentiles).
//! `AI_RECOMMEND_CANDIDATES`, `AI_RECOMMEND_EF` and `AI_RECOMMEND_LEXICAL_CANDIDATES` apply as
//! in `serve` (e.g. `AI_RECOMMEND_LEXICAL_CANDIDATES=0` for vector candidates only).

mod common;

use std::hint::black_box;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, Criterion};
use rand::{Rng, SeedableRng};
use serde_json::json;

use jobfirst_ai::ai::HashEmbedder;
use jobfirst_ai::analysis::city::Cities;
use jobfirst_ai::analysis::lexicon::Lexicon;
use jobfirst_ai::config::ServeArgs;
use jobfirst_ai::service::{AiService, CandidatesRequest, Matching, RecommendRequest};
use jobfirst_ai::store::{Collection, Payload};
use jobfirst_ai::vector::{Engine, EngineOptions, EntityUpsert, IndexedVectors};

const DIM: usize = 384;
const RESUMES: usize = 20_000;
const COMPANIES: usize = 2_000;
const CLUSTERS: usize = 300;
const MODEL: &str = "builtin-hash-384-v1";

fn jobs_n() -> usize {
    std::env::var("JF_BENCH_JOBS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(100_000)
}

struct Gen {
    rng: rand::rngs::StdRng,
    centres: Vec<Vec<f32>>,
    /// Skill names per cluster (from one occupation subcategory of the lexicon).
    skills: Vec<Vec<String>>,
    titles: Vec<String>,
    cities: Vec<String>,
}

fn normalize(v: &mut [f32]) {
    let s = v.iter().map(|x| x * x).sum::<f32>().sqrt().max(1e-12);
    v.iter_mut().for_each(|x| *x /= s);
}

impl Gen {
    fn new(seed: u64) -> Gen {
        let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
        let sd = (DIM as f32).sqrt();
        let gauss = |rng: &mut rand::rngs::StdRng| {
            let u: f64 = rng.random::<f64>().max(1e-12);
            let v: f64 = rng.random();
            ((-2.0 * u.ln()).sqrt() * (2.0 * std::f64::consts::PI * v).cos()) as f32
        };
        let supers: Vec<Vec<f32>> = (0..30)
            .map(|_| {
                let mut v: Vec<f32> = (0..DIM).map(|_| gauss(&mut rng)).collect();
                normalize(&mut v);
                v
            })
            .collect();
        let centres = (0..CLUSTERS)
            .map(|i| {
                let s = &supers[i % supers.len()];
                let mut v: Vec<f32> = s.iter().map(|x| x + gauss(&mut rng) * 0.7 / sd).collect();
                normalize(&mut v);
                v
            })
            .collect();
        // Subcategories of the occupation tree, with their skill-like leaves and titles.
        let mut groups: Vec<(String, Vec<String>, Vec<String>)> = Vec::new();
        for o in Lexicon::bundled().occupations() {
            let key = format!("{}/{}", o.category, o.subcategory);
            let g = match groups.iter_mut().find(|g| g.0 == key) {
                Some(g) => g,
                None => {
                    groups.push((key, Vec::new(), Vec::new()));
                    groups.last_mut().expect("pushed")
                }
            };
            if o.is_title {
                g.2.push(o.name.clone());
            } else {
                g.1.push(o.name.clone());
            }
        }
        groups.retain(|g| g.1.len() >= 3);
        let skills = (0..CLUSTERS)
            .map(|i| groups[i % groups.len()].1.clone())
            .collect();
        let titles = (0..CLUSTERS)
            .map(|i| {
                let g = &groups[i % groups.len()];
                g.2.first()
                    .cloned()
                    .unwrap_or_else(|| format!("{}工程师", g.1[0]))
            })
            .collect();
        let cities = Cities::bundled()
            .names()
            .iter()
            .take(100)
            .cloned()
            .collect();
        Gen {
            rng,
            centres,
            skills,
            titles,
            cities,
        }
    }

    fn vector(&mut self, cluster: usize) -> Vec<f32> {
        let sd = (DIM as f32).sqrt();
        let mut v = self.centres[cluster].clone();
        for x in v.iter_mut() {
            let u: f64 = self.rng.random::<f64>().max(1e-12);
            let w: f64 = self.rng.random();
            let g = ((-2.0 * u.ln()).sqrt() * (2.0 * std::f64::consts::PI * w).cos()) as f32;
            *x += g * 0.8 / sd;
        }
        normalize(&mut v);
        v
    }

    fn pick_skills(&mut self, cluster: usize, n: usize) -> Vec<String> {
        let pool = &self.skills[cluster];
        let mut out: Vec<String> = Vec::new();
        for _ in 0..n * 3 {
            if out.len() >= n {
                break;
            }
            let s = &pool[self.rng.random_range(0..pool.len())];
            if !out.contains(s) {
                out.push(s.clone());
            }
        }
        out
    }
}

/// As the service opens its store by default: graphs for the `overall` vectors only, and the
/// lexical index (read from the documents at open) that the candidates' lexical arm asks.
fn options() -> EngineOptions {
    EngineOptions {
        indexed: IndexedVectors::overall_only(),
        lexical: Some(jobfirst_ai::hybrid::LEXICAL),
        ..EngineOptions::default()
    }
}

fn upsert(
    names: &[&str],
    id: u64,
    v: Vec<f32>,
    payload: Payload,
    doc: serde_json::Value,
) -> EntityUpsert {
    EntityUpsert {
        id,
        vectors: names.iter().map(|n| (n.to_string(), v.clone())).collect(),
        payload,
        document: doc,
    }
}

/// Builds (or finds) the data dir for `n` jobs.
pub fn build(n: usize) -> PathBuf {
    let dir = common::data_dir("recommend", n);
    let done = dir.join("COMPLETE");
    if done.exists() {
        return dir;
    }
    let _ = std::fs::remove_dir_all(&dir);
    let t = Instant::now();
    let engine = Engine::open(&dir, options()).expect("engine opens");
    let mut g = Gen::new(7);
    let batch = 5_000;
    let mut buf = Vec::new();
    for i in 0..COMPANIES {
        let c = i % CLUSTERS;
        let city = g.cities[i % g.cities.len()].clone();
        let p = Payload::new()
            .with("city", city.as_str())
            .with("industry", "互联网")
            .with("company_size", "large");
        let doc = json!({"input": {"name": format!("公司{i}"), "industry": "互联网",
            "location": city, "description": "鼓励创新，技术氛围浓厚，弹性工作"},
            "analysis": {"culture_analysis": "鼓励创新"}});
        let v = g.vector(c);
        buf.push(upsert(
            Collection::Companies.vector_names(),
            i as u64 + 1,
            v,
            p,
            doc,
        ));
    }
    engine
        .upsert_batch(Collection::Companies, MODEL, std::mem::take(&mut buf))
        .expect("companies");
    for i in 0..n {
        let c = (i * 2_654_435_761) % CLUSTERS;
        let skills = g.pick_skills(c, 5);
        let (req, pref) = skills.split_at(skills.len().min(3));
        let city = g.cities[i % g.cities.len()].clone();
        let lo = 5_000.0 + g.rng.random_range(0..30) as f64 * 1_000.0;
        let years = g.rng.random_range(0..8) as f64;
        let company = (i % COMPANIES) as u64 + 1;
        let title = g.titles[c].clone();
        let p = Payload::new()
            .with("city", city.as_str())
            .with("salary_min", lo)
            .with("salary_max", lo * 1.6)
            .with("experience_years", years)
            .with("education", "本科")
            .with("industry", "互联网")
            .with("job_type", "全职")
            .with("company_id", company as f64);
        let doc = json!({"input": {"title": title, "company": format!("公司{}", company - 1),
            "company_id": company, "location": city,
            "description": format!("负责{title}相关工作，使用{}，团队氛围好，弹性工作", pref.join("、")),
            "requirements": format!("熟悉{}，{}年以上经验，本科及以上", req.join("、"), years)},
            "analysis": {"extracted_skills": skills}});
        let v = g.vector(c);
        buf.push(upsert(
            Collection::Jobs.vector_names(),
            i as u64 + 1,
            v,
            p,
            doc,
        ));
        if buf.len() == batch {
            engine
                .upsert_batch(Collection::Jobs, MODEL, std::mem::take(&mut buf))
                .expect("jobs");
        }
    }
    engine
        .upsert_batch(Collection::Jobs, MODEL, std::mem::take(&mut buf))
        .expect("jobs");
    for i in 0..RESUMES {
        let c = (i * 40_503) % CLUSTERS;
        let skills = g.pick_skills(c, 6);
        let city = g.cities[(i * 7) % g.cities.len()].clone();
        let years = g.rng.random_range(0..12) as f64;
        let p = Payload::new()
            .with("user_id", i as f64 + 1.0)
            .with("experience_years", years)
            .with("education", "本科")
            .with("city", city.as_str())
            .with("expected_salary_min", 15_000.0)
            .with("expected_salary_max", 25_000.0);
        let doc = json!({"input": {"content": format!("期望城市：{city}\n技能：{}，喜欢技术氛围好的团队", skills.join("、")),
            "user_id": i + 1}, "analysis": {"skills": skills}});
        let v = g.vector(c);
        buf.push(upsert(
            Collection::Resumes.vector_names(),
            i as u64 + 1,
            v,
            p,
            doc,
        ));
        if buf.len() == batch {
            engine
                .upsert_batch(Collection::Resumes, MODEL, std::mem::take(&mut buf))
                .expect("resumes");
        }
    }
    engine
        .upsert_batch(Collection::Resumes, MODEL, std::mem::take(&mut buf))
        .expect("resumes");
    engine.wait_idle();
    for c in Collection::ALL {
        engine.rebuild(c).expect("graph");
    }
    drop(engine);
    std::fs::write(&done, b"ok").expect("marker");
    eprintln!(
        "built {} in {:.1} s",
        dir.display(),
        t.elapsed().as_secs_f64()
    );
    dir
}

fn open(dir: &Path) -> (tokio::runtime::Runtime, AiService) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let engine = Engine::open(dir, options()).expect("engine");
    engine.wait_idle();
    let mut args = ServeArgs::for_tests(dir.to_path_buf());
    args.sample_data = Some(false);
    args.recommend_settings_from_env();
    let config = Arc::new(args.validate().expect("config"));
    let service = AiService::new(engine, Arc::new(HashEmbedder::new(DIM)), config);
    (rt, service)
}

/// 200 jobs nearest to `q` on `overall`, no filter, beam `ef`.
fn jobs_200(q: &[f32], ef: Option<usize>) -> jobfirst_ai::vector::SearchRequest<'_> {
    jobfirst_ai::vector::SearchRequest {
        collection: Collection::Jobs,
        vector: "overall",
        query: q,
        k: 200,
        filter: None,
        ef,
    }
}

/// The candidates' search with beam `ef`, or the plain search (beam 200) for `None`.
fn ann_200(engine: &Engine, q: &[f32], ef: Option<usize>) -> jobfirst_ai::vector::SearchResult {
    let req = jobs_200(q, ef);
    match ef {
        Some(_) => engine.search_candidates(&req),
        None => engine.search(&req),
    }
    .expect("search")
}

/// The `overall` vectors of the resumes of users `u * 7 % RESUMES + 1` for `u` in `1..=n`.
fn distinct_resumes(engine: &Engine, n: u64) -> Vec<Vec<f32>> {
    (1..=n)
        .map(|u| {
            engine
                .vector(Collection::Resumes, u * 7 % RESUMES as u64 + 1, "overall")
                .expect("ok")
                .expect("resume")
        })
        .collect()
}

/// The ids of the exact 200 nearest jobs of each query.
fn exact_200(engine: &Engine, queries: &[Vec<f32>]) -> Vec<Vec<u64>> {
    queries
        .iter()
        .map(|q| {
            let hits = engine.search_exact(&jobs_200(q, None)).expect("exact");
            hits.iter().map(|h| h.id).collect()
        })
        .collect()
}

/// Recall of the exact top 10 and top 200 (`truth`, of the first `truth.len()` queries) by
/// [`ann_200`] with beam `ef`.
fn recall_200(
    engine: &Engine,
    queries: &[Vec<f32>],
    truth: &[Vec<u64>],
    ef: Option<usize>,
) -> (f64, f64) {
    let (mut r10, mut r200) = (0usize, 0usize);
    for (q, t) in queries.iter().zip(truth) {
        let got = ann_200(engine, q, ef);
        let ids: std::collections::HashSet<u64> = got.hits.iter().map(|h| h.id).collect();
        r10 += t[..10].iter().filter(|id| ids.contains(id)).count();
        r200 += t.iter().filter(|id| ids.contains(id)).count();
    }
    (
        r10 as f64 / (10 * truth.len()) as f64,
        r200 as f64 / (200 * truth.len()) as f64,
    )
}

fn jobs_request(user: u64, filters: Option<serde_json::Value>) -> RecommendRequest {
    serde_json::from_value(json!({"user_id": user, "limit": 10, "filters": filters}))
        .expect("request")
}

fn recommend(c: &mut Criterion) {
    let n = jobs_n();
    let dir = build(n);
    if std::env::var("JF_BENCH_BUILD_ONLY").is_ok() {
        return;
    }
    let (rt, service) = open(&dir);
    if let Ok(path) = std::env::var("JF_BENCH_DUMP") {
        dump(&rt, &service, n, Path::new(&path));
        return;
    }
    let city = Cities::bundled().names()[0].clone();
    let cases: Vec<(&str, Option<serde_json::Value>)> = vec![
        ("jobs", None),
        ("jobs_city_1pct", Some(json!({"location": city}))),
    ];
    // Warm the features caches (steady state: every job and resume read once).
    let t = Instant::now();
    for u in 1..=RESUMES as u64 {
        let r = rt
            .block_on(service.recommend_jobs(jobs_request(u, None)))
            .expect("recommendation");
        black_box(r);
    }
    eprintln!(
        "warm-up: {RESUMES} recommendations in {:.1} s",
        t.elapsed().as_secs_f64()
    );
    if std::env::var("JF_BENCH_QUICK").is_ok() {
        quick(&rt, &service, &cases);
        return;
    }
    // The ANN stage alone (what the re-rank's candidates cost): k = 200 and k = 50.
    let engine = service.engine().clone();
    let queries: Vec<Vec<f32>> = (1..=500u64)
        .map(|u| {
            engine
                .vector(Collection::Resumes, u, "overall")
                .expect("ok")
                .expect("resume")
        })
        .collect();
    for k in [200usize, 50] {
        let mut samples = Vec::new();
        for q in queries.iter().cycle().take(2_000) {
            let t = Instant::now();
            let r = engine
                .search(&jobfirst_ai::vector::SearchRequest {
                    collection: Collection::Jobs,
                    vector: "overall",
                    query: q,
                    k,
                    filter: None,
                    ef: None,
                })
                .expect("search");
            samples.push(t.elapsed().as_secs_f64() * 1e6);
            black_box(r);
        }
        let (p50, p99) = common::percentiles(&mut samples);
        eprintln!("ann/jobs k={k}: n=2000 p50 {p50:.0} µs, p99 {p99:.0} µs");
    }
    // The candidates' narrow beam against full beams: blocks of 2,000 distinct queries per
    // setting, alternating settings block by block (twice), so that neither a noisy machine
    // nor a cache warmed by the previous setting favours one.
    let distinct = distinct_resumes(&engine, 2_000);
    let settings: [(&str, Option<usize>); 4] = [
        ("candidates ef=64", Some(64)),
        ("candidates ef=32", Some(32)),
        ("candidates ef=200", Some(200)),
        ("search (beam 200)", None),
    ];
    let mut samples = vec![Vec::new(); settings.len()];
    for _round in 0..2 {
        for (i, (_, ef)) in settings.iter().enumerate() {
            for q in &distinct {
                let t = Instant::now();
                black_box(ann_200(&engine, q, *ef));
                samples[i].push(t.elapsed().as_secs_f64() * 1e6);
            }
        }
    }
    // What each setting returns, against an exact scan (200 queries).
    let truth = exact_200(&engine, &distinct[..200]);
    for ((name, ef), s) in settings.iter().zip(samples.iter_mut()) {
        let (p50, p99) = common::percentiles(s);
        let (r10, r200) = recall_200(&engine, &distinct, &truth, *ef);
        eprintln!(
            "ann/jobs k=200 {name}: n={} p50 {p50:.0} µs, p99 {p99:.0} µs; recall of the exact top 10 {r10:.3}, top 200 {r200:.3}",
            s.len(),
        );
    }
    // The whole recommendation with the beam as wide as the candidate list (the previous
    // behaviour) against the served setting, in alternating blocks as above.
    {
        let mut args = (*service.config()).clone();
        args.recommend_ef = 200;
        let wide = AiService::new(
            engine.clone(),
            Arc::new(HashEmbedder::new(DIM)),
            Arc::new(args),
        );
        let users: Vec<u64> = (1..=2_000u64)
            .map(|u| u * 13 % RESUMES as u64 + 1)
            .collect();
        for u in &users {
            black_box(
                rt.block_on(wide.recommend_jobs(jobs_request(*u, None)))
                    .expect("ok"),
            );
        }
        let (mut a, mut b) = (Vec::new(), Vec::new());
        for _round in 0..2 {
            for (svc, out) in [(&service, &mut a), (&wide, &mut b)] {
                for u in &users {
                    let t = Instant::now();
                    black_box(
                        rt.block_on(svc.recommend_jobs(jobs_request(*u, None)))
                            .expect("ok"),
                    );
                    out.push(t.elapsed().as_secs_f64() * 1e6);
                }
            }
        }
        let (p50a, p99a) = common::percentiles(&mut a);
        let (p50b, p99b) = common::percentiles(&mut b);
        eprintln!(
            "recommend/jobs alternating blocks: served ef={} p50 {p50a:.0} µs p99 {p99a:.0} µs; ef=200 p50 {p50b:.0} µs p99 {p99b:.0} µs",
            service.config().recommend_ef
        );
    }
    let mut g = c.benchmark_group("recommend");
    g.sample_size(50).measurement_time(Duration::from_secs(5));
    for (name, filters) in &cases {
        let mut user = 0u64;
        g.bench_function(*name, |b| {
            b.iter(|| {
                user = user % RESUMES as u64 + 1;
                let r = rt
                    .block_on(service.recommend_jobs(jobs_request(user, filters.clone())))
                    .expect("recommendation");
                black_box(r.total)
            })
        });
        let mut samples = Vec::new();
        let mut empty = 0;
        for u in 1..=2_000u64 {
            let req = jobs_request(u * 7 % RESUMES as u64 + 1, filters.clone());
            let t = Instant::now();
            let r = rt.block_on(service.recommend_jobs(req)).expect("ok");
            samples.push(t.elapsed().as_secs_f64() * 1e6);
            if r.total == 0 {
                empty += 1;
            }
        }
        let (p50, p99) = common::percentiles(&mut samples);
        eprintln!(
            "recommend/{name}: n=2000 p50 {p50:.0} µs, p99 {p99:.0} µs (empty answers: {empty})"
        );
    }
    let mut user = 0u64;
    g.bench_function("companies", |b| {
        b.iter(|| {
            user = user % RESUMES as u64 + 1;
            let r = rt
                .block_on(service.recommend_companies(jobs_request(user, None)))
                .expect("ok");
            black_box(r.total)
        })
    });
    let mut samples = Vec::new();
    for u in 1..=1_000u64 {
        let t = Instant::now();
        rt.block_on(service.recommend_companies(jobs_request(u, None)))
            .expect("ok");
        samples.push(t.elapsed().as_secs_f64() * 1e6);
    }
    let (p50, p99) = common::percentiles(&mut samples);
    eprintln!("recommend/companies: n=1000 p50 {p50:.0} µs, p99 {p99:.0} µs");
    let mut job = 0u64;
    let cand = |job: u64| -> CandidatesRequest {
        serde_json::from_value(json!({"job_id": job, "limit": 10})).expect("request")
    };
    g.bench_function("candidates", |b| {
        b.iter(|| {
            job = job % n as u64 + 1;
            let r = rt
                .block_on(service.recommend_candidates(cand(job)))
                .expect("ok");
            black_box(r.total)
        })
    });
    let mut samples = Vec::new();
    for j in 1..=1_000u64 {
        let t = Instant::now();
        rt.block_on(service.recommend_candidates(cand(j * 97 % n as u64 + 1)))
            .expect("ok");
        samples.push(t.elapsed().as_secs_f64() * 1e6);
    }
    let (p50, p99) = common::percentiles(&mut samples);
    eprintln!("recommend/candidates: n=1000 p50 {p50:.0} µs, p99 {p99:.0} µs");
    g.finish();
}

/// `JF_BENCH_QUICK=1`: only the p50/p99 of single `recommend/jobs` calls, with and without the
/// 1% filter: 3 rounds of 2,000 distinct users per case, the cases alternating round by round
/// (so that two binaries can be compared run against run in little time).
fn quick(
    rt: &tokio::runtime::Runtime,
    service: &AiService,
    cases: &[(&str, Option<serde_json::Value>)],
) {
    let mut samples = vec![Vec::new(); cases.len()];
    // The unfiltered recommendation's candidate search alone, on the same users' vectors.
    let engine = service.engine().clone();
    let beam = service.config().recommend_ef;
    let mut ann = Vec::new();
    for _round in 0..3 {
        for ((_, filters), out) in cases.iter().zip(samples.iter_mut()) {
            for u in 1..=2_000u64 {
                let req = jobs_request(u * 7 % RESUMES as u64 + 1, filters.clone());
                let t = Instant::now();
                black_box(rt.block_on(service.recommend_jobs(req)).expect("ok"));
                out.push(t.elapsed().as_secs_f64() * 1e6);
            }
        }
        for u in 1..=2_000u64 {
            let q = engine
                .vector(Collection::Resumes, u * 7 % RESUMES as u64 + 1, "overall")
                .expect("ok")
                .expect("resume");
            let t = Instant::now();
            black_box(ann_200(&engine, &q, Some(beam)));
            ann.push(t.elapsed().as_secs_f64() * 1e6);
        }
    }
    let (p50, p99) = common::percentiles(&mut ann);
    // What it returns, against an exact scan (200 queries).
    let queries = distinct_resumes(&engine, 200);
    let truth = exact_200(&engine, &queries);
    let (r10, r200) = recall_200(&engine, &queries, &truth, Some(beam));
    eprintln!(
        "quick candidates ANN alone (k 200, beam {beam}): n={} p50 {p50:.0} µs, p99 {p99:.0} µs; recall of the exact top 10 {r10:.3}, top 200 {r200:.3}",
        ann.len(),
    );
    for ((name, _), s) in cases.iter().zip(samples.iter_mut()) {
        let (p50, p99) = common::percentiles(s);
        eprintln!(
            "quick recommend/{name}: n={} p50 {p50:.0} µs, p99 {p99:.0} µs",
            s.len()
        );
    }
}

/// `JF_BENCH_DUMP=<file>`: writes the answers of a fixed set of calls, as JSON lines without
/// their timestamps, to compare two builds byte for byte (a change meant to make the
/// recommendations faster must not change one of them).
fn dump(rt: &tokio::runtime::Runtime, service: &AiService, n: usize, path: &Path) {
    use std::io::Write;
    let city = Cities::bundled().names()[0].clone();
    let filter_sets = [
        None,
        Some(json!({"location": city})),
        Some(json!({"salary_min": 20000})),
        Some(json!({"location": Cities::bundled().names()[3].clone(), "experience": "3-5年"})),
    ];
    // Times differ between runs: removed wherever they are (job-matching's jobs carry theirs).
    fn untimed(v: &mut serde_json::Value) {
        match v {
            serde_json::Value::Object(o) => {
                for k in [
                    "generated_at",
                    "timestamp",
                    "processing_time_ms",
                    "created_at",
                    "updated_at",
                ] {
                    o.remove(k);
                }
                o.values_mut().for_each(untimed);
            }
            serde_json::Value::Array(a) => a.iter_mut().for_each(untimed),
            _ => {}
        }
    }
    let strip = |mut v: serde_json::Value| {
        untimed(&mut v);
        serde_json::to_string(&v).expect("json")
    };
    let mut out = std::io::BufWriter::new(std::fs::File::create(path).expect("dump file"));
    let mut lines = 0usize;
    for u in (1..=RESUMES as u64).step_by(37) {
        for filters in &filter_sets {
            for limit in [3usize, 10, 50, 100] {
                let req: RecommendRequest = serde_json::from_value(
                    json!({"user_id": u, "limit": limit, "filters": filters}),
                )
                .expect("request");
                let line = match rt.block_on(service.recommend_jobs(req)) {
                    Ok(r) => strip(serde_json::to_value(r).expect("json")),
                    Err(e) => format!("error {e}"),
                };
                writeln!(out, "jobs {u} {filters:?} {limit} {line}").expect("write");
                lines += 1;
            }
        }
        let line = match rt.block_on(service.recommend_companies(jobs_request(u, None))) {
            Ok(r) => strip(serde_json::to_value(r).expect("json")),
            Err(e) => format!("error {e}"),
        };
        writeln!(out, "companies {u} {line}").expect("write");
        let m: jobfirst_ai::service::JobMatchingRequest =
            serde_json::from_value(json!({"resume_id": u, "limit": 10})).expect("request");
        let line = match rt.block_on(service.job_matching(m, Matching::Standard)) {
            Ok(r) => strip(serde_json::to_value(r).expect("json")),
            Err(e) => format!("error {e}"),
        };
        writeln!(out, "matching {u} {line}").expect("write");
        lines += 2;
    }
    for j in (1..=n as u64).step_by(n / 500 + 1) {
        let req: CandidatesRequest =
            serde_json::from_value(json!({"job_id": j, "limit": 10})).expect("request");
        let line = match rt.block_on(service.recommend_candidates(req)) {
            Ok(r) => strip(serde_json::to_value(r).expect("json")),
            Err(e) => format!("error {e}"),
        };
        writeln!(out, "candidates {j} {line}").expect("write");
        lines += 1;
    }
    out.flush().expect("flush");
    eprintln!("dumped {lines} answers to {}", path.display());
}

criterion_group!(benches, recommend);
criterion_main!(benches);
