//! `jobfirst-ai eval-search`: how often a text search finds what a person means, on a labelled
//! set built from public data. Documents: the 2,051 occupations of China's 2022 occupation
//! classification (`data/csco22.csv`) imported as jobs — title = occupation name, description
//! = its definition, requirements = its tasks. Queries: the market job titles the file lists
//! as each occupation's aliases (never indexed: they are the questions, not the answers), and
//! `<category> <title>` queries from the internet job categories (`data/
//! internet_job_categories.yml`) whose title is one occupation's alias. The occupation a query
//! names is grade 2; the others of its level-3 group grade 1.
//!
//! Every query goes through [`crate::hybrid::hybrid`] — the code behind
//! `POST /api/v1/search/jobs` — under each mode, and top-1, top-5, MRR and nDCG@10 are
//! reported per query set, with the latency of the search (embedding included).

use std::collections::{HashMap, HashSet};
use std::path::PathBuf;
use std::time::Instant;

use serde::Serialize;

use crate::config::ServeArgs;
use crate::entity::{Id, JobData};
use crate::hybrid::{hybrid, ArmWeights, Fusion, HybridRequest, SearchMode};
use crate::lexical::Query;
use crate::service::{AiService, Analyser, ServiceError, StartError};
use crate::store::Collection;

use super::TempDir;

const CATEGORIES: &str = include_str!("../../data/internet_job_categories.yml");
/// Results scored per query.
const K: usize = 10;
const WRITE_BATCH: usize = 256;

#[derive(Debug, thiserror::Error)]
pub enum SearchEvalError {
    #[error("{0}")]
    Invalid(String),
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(transparent)]
    Start(#[from] StartError),
    #[error(transparent)]
    Service(#[from] ServiceError),
}

/// An occupation of the classification.
#[derive(Debug, Clone)]
pub struct Occupation {
    pub code: String,
    pub id: u64,
    pub level: u8,
    pub name: String,
    pub definition: String,
    pub tasks: String,
    pub aliases: Vec<String>,
}

impl Occupation {
    /// The level-3 group a code belongs to (`2-02-10-03` → `2-02-10`).
    fn group(&self) -> &str {
        self.code.rsplit_once('-').map_or(&self.code, |(g, _)| g)
    }
}

/// The occupation name without its classification marks (a trailing `S`, `L`, `L/S`).
pub fn display_name(name: &str) -> &str {
    name.trim_end_matches(['S', 'L', '/']).trim_end()
}

/// The bundled classification.
pub fn occupations() -> Result<Vec<Occupation>, SearchEvalError> {
    let mut reader = csv::Reader::from_reader(crate::analysis::lexicon::OCCUPATIONS_CSV.as_bytes());
    let mut out = Vec::new();
    for (i, row) in reader.records().enumerate() {
        let row = row.map_err(|e| SearchEvalError::Invalid(format!("csco22.csv: {e}")))?;
        let bad = || SearchEvalError::Invalid(format!("csco22.csv row {}: malformed", i + 2));
        let get = |j: usize| row.get(j).map(str::trim).unwrap_or_default().to_string();
        out.push(Occupation {
            level: get(0).parse().map_err(|_| bad())?,
            code: get(1),
            id: get(2).parse().map_err(|_| bad())?,
            name: get(3),
            definition: get(4),
            tasks: get(5),
            aliases: get(7)
                .split(',')
                .map(str::trim)
                .filter(|a| !a.is_empty())
                .map(str::to_string)
                .collect(),
        });
    }
    Ok(out)
}

/// A labelled query.
#[derive(Debug, Clone)]
pub struct LabelledQuery {
    pub set: &'static str,
    pub text: String,
    /// Grade per relevant job id (2: the occupation meant, 1: its group).
    pub grades: HashMap<u64, u8>,
}

/// The queries: every alias that is not its occupation's own name, and the category queries.
pub fn queries(occ: &[Occupation]) -> Vec<LabelledQuery> {
    let mut by_alias: HashMap<String, Vec<usize>> = HashMap::new();
    for (i, o) in occ.iter().enumerate() {
        for a in &o.aliases {
            if *a != o.name {
                by_alias.entry(a.to_lowercase()).or_default().push(i);
            }
        }
    }
    // An alias of one occupation that is another's name (编辑) means both.
    for (i, o) in occ.iter().enumerate() {
        if let Some(targets) = by_alias.get_mut(&o.name.to_lowercase()) {
            targets.push(i);
        }
    }
    let graded = |targets: &[usize]| {
        let mut grades = HashMap::new();
        for &t in targets {
            for o in occ.iter().filter(|o| o.group() == occ[t].group()) {
                grades.entry(o.id).or_insert(1);
            }
        }
        for &t in targets {
            grades.insert(occ[t].id, 2);
        }
        grades
    };
    let mut out = Vec::new();
    let mut seen = HashSet::new();
    for o in occ {
        for a in &o.aliases {
            if *a != o.name && seen.insert(a.to_lowercase()) {
                out.push(LabelledQuery {
                    set: "aliases",
                    text: a.clone(),
                    grades: graded(&by_alias[&a.to_lowercase()]),
                });
            }
        }
    }
    let mut seen = HashSet::new();
    for line in CATEGORIES.lines() {
        // "  后端开发: Java;C++;..." — second-level categories and their titles.
        let Some(rest) = line.strip_prefix("  ") else {
            continue;
        };
        let Some((category, titles)) = rest.split_once(':') else {
            continue;
        };
        for title in titles.split(';').map(str::trim) {
            if title.is_empty() || title.ends_with("其它") {
                continue;
            }
            let key = title.to_lowercase();
            let targets: Vec<usize> = match by_alias.get(&key) {
                Some(t) => t.clone(),
                None => {
                    // Else the one occupation one of whose aliases contains the title.
                    let holders: HashSet<usize> = occ
                        .iter()
                        .enumerate()
                        .filter(|(_, o)| o.aliases.iter().any(|a| a.to_lowercase().contains(&key)))
                        .map(|(i, _)| i)
                        .collect();
                    if holders.len() != 1 {
                        continue;
                    }
                    holders.into_iter().collect()
                }
            };
            let text = format!("{} {title}", category.trim());
            if seen.insert(text.clone()) {
                out.push(LabelledQuery {
                    set: "categories",
                    text,
                    grades: graded(&targets),
                });
            }
        }
    }
    out
}

/// The job an occupation is imported as.
pub fn job_of(o: &Occupation) -> JobData {
    JobData {
        title: display_name(&o.name).to_string(),
        description: o.definition.clone(),
        requirements: o.tasks.clone(),
        ..JobData::default()
    }
}

/// A way of answering the queries.
#[derive(Debug, Clone, Copy)]
pub struct Mode {
    pub name: &'static str,
    pub mode: SearchMode,
    pub vectors: &'static [&'static str],
    pub fusion: Fusion,
    pub weights: ArmWeights,
}

/// The modes reported (weighted fusions with the weights the service uses for `model`); with
/// `grid`, fusions with other arm weights as well.
pub fn modes(grid: bool, model: &str) -> Vec<Mode> {
    let m = |name, mode, vectors, fusion, weights| Mode {
        name,
        mode,
        vectors,
        fusion,
        weights,
    };
    let both: &'static [&'static str] = &["overall", "title"];
    let d = ArmWeights::for_model(model);
    let w = |lexical, overall, other| ArmWeights {
        lexical,
        overall,
        other,
    };
    let rrf = Fusion::Rrf { k: 60.0 };
    let wsum = Fusion::Weighted;
    let mut out = vec![
        m("vector:overall", SearchMode::Vector, &["overall"], wsum, d),
        m("vector", SearchMode::Vector, both, wsum, d),
        m("lexical", SearchMode::Lexical, both, wsum, d),
        m(
            "hybrid",
            SearchMode::Hybrid,
            both,
            Fusion::for_model(model),
            d,
        ),
        m("hybrid:rrf", SearchMode::Hybrid, both, rrf, d),
    ];
    if grid {
        for (name, f, wt) in [
            ("w 1/1/1", wsum, w(1.0, 1.0, 1.0)),
            ("w 1/0.25/0.5", wsum, w(1.0, 0.25, 0.5)),
            ("w 1/0.5/1", wsum, w(1.0, 0.5, 1.0)),
            ("w 1/0.5/0.5", wsum, w(1.0, 0.5, 0.5)),
            ("w 1/0.1/0.2", wsum, w(1.0, 0.1, 0.2)),
            ("w 1/1/2", wsum, w(1.0, 1.0, 2.0)),
            ("w 1/2/2", wsum, w(1.0, 2.0, 2.0)),
        ] {
            out.push(m(name, SearchMode::Hybrid, both, f, wt));
        }
    }
    out
}

/// A query's set, the grades of the results it got, and its latency in µs.
type Answered = (&'static str, Vec<u8>, u64);

/// One mode's figures on one query set.
#[derive(Debug, Clone, Serialize)]
pub struct Row {
    pub mode: &'static str,
    pub set: &'static str,
    pub queries: usize,
    pub top1: f64,
    pub top5: f64,
    pub mrr: f64,
    pub ndcg10: f64,
    pub p50_us: u64,
    pub p95_us: u64,
}

#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub embedding_model: String,
    pub documents: usize,
    pub queries: usize,
    pub load_ms: u64,
    pub rows: Vec<Row>,
}

#[derive(Debug, Clone, Default)]
pub struct SearchEvalConfig {
    /// Working data dir (fresh), kept afterwards; a temporary one when `None`.
    pub data_dir: Option<PathBuf>,
    /// Also report hybrid search under other arm weights.
    pub grid: bool,
}

fn ndcg(grades: &[u8], all: &HashMap<u64, u8>) -> f64 {
    let dcg = |gs: &mut dyn Iterator<Item = u8>| {
        gs.take(K)
            .enumerate()
            .map(|(i, g)| (f64::from((1u32 << g) - 1)) / ((i + 2) as f64).log2())
            .sum::<f64>()
    };
    let mut ideal: Vec<u8> = all.values().copied().collect();
    ideal.sort_unstable_by(|a, b| b.cmp(a));
    let best = dcg(&mut ideal.into_iter());
    if best == 0.0 {
        0.0
    } else {
        dcg(&mut grades.iter().copied()) / best
    }
}

fn round4(x: f64) -> f64 {
    (x * 10_000.0).round() / 10_000.0
}

fn percentile(sorted: &[u64], p: f64) -> u64 {
    if sorted.is_empty() {
        return 0;
    }
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

async fn load(service: &AiService, occ: &[Occupation]) -> Result<(), SearchEvalError> {
    for chunk in occ.chunks(WRITE_BATCH) {
        let mut batch = Vec::with_capacity(chunk.len());
        for o in chunk {
            let (_, upsert) = service
                .prepare_job(Id(o.id), job_of(o), Analyser::Rules)
                .await?;
            batch.push(upsert);
        }
        service.write_batch(Collection::Jobs, batch).await?;
    }
    let engine = service.engine().clone();
    tokio::task::spawn_blocking(move || {
        engine.wait_idle();
        engine.rebuild(Collection::Jobs)
    })
    .await
    .map_err(|e| ServiceError::Internal(e.to_string()))?
    .map_err(ServiceError::from)?;
    Ok(())
}

/// Loads the occupations into a fresh service configured by `serve` (its embedder: the
/// built-in one unless `EMBEDDING_PROVIDER` says otherwise; no LLM, no databases) and scores
/// every mode on every query. `emit` receives each row as it is measured.
pub async fn run(
    cfg: &SearchEvalConfig,
    mut serve: ServeArgs,
    mut emit: impl FnMut(&Row),
) -> Result<Report, SearchEvalError> {
    let occ = occupations()?;
    let queries = queries(&occ);
    let _temp;
    serve.data_dir = match &cfg.data_dir {
        Some(d) => {
            if std::fs::read_dir(d).is_ok_and(|mut e| e.next().is_some()) {
                return Err(SearchEvalError::Invalid(format!(
                    "data dir {} is not empty: eval-search needs a fresh one",
                    d.display()
                )));
            }
            d.clone()
        }
        None => {
            let t = TempDir::create("eval-search").map_err(|source| SearchEvalError::Io {
                path: std::env::temp_dir(),
                source,
            })?;
            let d = t.path().to_path_buf();
            _temp = t;
            d
        }
    };
    serve.sample_data = Some(false);
    serve.llm_provider = Some(crate::config::LlmProvider::None);
    serve.postgres_url = None;
    serve.postgres_host = None;
    serve.mysql_url = None;
    serve.mysql_host = None;
    let config = serve
        .validate()
        .map_err(|e| SearchEvalError::Invalid(e.to_string()))?;
    let service = AiService::open(config).await?;
    let t = Instant::now();
    load(&service, &occ).await?;
    let load_ms = t.elapsed().as_millis() as u64;

    // Each query embedded once (in batches), reused by every mode.
    let mut vectors: Vec<Vec<f32>> = Vec::with_capacity(queries.len());
    let mut embed_us: Vec<u64> = Vec::with_capacity(queries.len());
    for chunk in queries.chunks(32) {
        let t = Instant::now();
        let v = service
            .embed(chunk.iter().map(|q| q.text.clone()).collect())
            .await?;
        let each = t.elapsed().as_micros() as u64 / chunk.len() as u64;
        embed_us.extend(std::iter::repeat_n(each, chunk.len()));
        vectors.extend(v);
    }
    let engine = service.engine().clone();
    let mut rows = Vec::new();
    let model = service
        .engine()
        .collection_stats(Collection::Jobs)
        .model
        .unwrap_or_default();
    for mode in modes(cfg.grid, &model) {
        let engine = engine.clone();
        let qs = queries.clone();
        let vectors = vectors.clone();
        let embed_us = embed_us.clone();
        let per_query = tokio::task::spawn_blocking(move || {
            let mut out = Vec::with_capacity(qs.len());
            for ((q, v), e_us) in qs.iter().zip(&vectors).zip(&embed_us) {
                let t = Instant::now();
                let parsed = Query::parse(&q.text);
                let hits = hybrid(
                    &engine,
                    &HybridRequest {
                        collection: Collection::Jobs,
                        query: &parsed,
                        vector: Some(v),
                        vectors: mode.vectors,
                        k: K,
                        filter: None,
                        mode: mode.mode,
                        fusion: mode.fusion,
                        weights: mode.weights,
                    },
                )?;
                let us = t.elapsed().as_micros() as u64
                    + if mode.mode == SearchMode::Lexical {
                        0
                    } else {
                        *e_us
                    };
                let grades: Vec<u8> = hits
                    .iter()
                    .map(|h| q.grades.get(&h.id).copied().unwrap_or(0))
                    .collect();
                out.push((q.set, grades, us));
            }
            Ok::<_, crate::vector::VectorError>(out)
        })
        .await
        .map_err(|e| ServiceError::Internal(e.to_string()))?
        .map_err(ServiceError::from)?;
        for set in ["aliases", "categories", "all"] {
            let mine: Vec<(&Answered, &LabelledQuery)> = per_query
                .iter()
                .zip(&queries)
                .filter(|(r, _)| set == "all" || r.0 == set)
                .collect();
            if mine.is_empty() {
                continue;
            }
            let n = mine.len() as f64;
            let first = |g: &[u8]| g.iter().position(|g| *g == 2);
            let mut lat: Vec<u64> = mine.iter().map(|(r, _)| r.2).collect();
            lat.sort_unstable();
            let row = Row {
                mode: mode.name,
                set,
                queries: mine.len(),
                top1: round4(
                    mine.iter().filter(|(r, _)| first(&r.1) == Some(0)).count() as f64 / n,
                ),
                top5: round4(
                    mine.iter()
                        .filter(|(r, _)| first(&r.1).is_some_and(|i| i < 5))
                        .count() as f64
                        / n,
                ),
                mrr: round4(
                    mine.iter()
                        .map(|(r, _)| first(&r.1).map_or(0.0, |i| 1.0 / (i + 1) as f64))
                        .sum::<f64>()
                        / n,
                ),
                ndcg10: round4(mine.iter().map(|(r, q)| ndcg(&r.1, &q.grades)).sum::<f64>() / n),
                p50_us: percentile(&lat, 0.5),
                p95_us: percentile(&lat, 0.95),
            };
            emit(&row);
            rows.push(row);
        }
    }
    Ok(Report {
        embedding_model: service
            .engine()
            .collection_stats(Collection::Jobs)
            .model
            .unwrap_or_default(),
        documents: occ.len(),
        queries: queries.len(),
        load_ms,
        rows,
    })
}

/// The report as a table (stderr).
pub fn summary(r: &Report) -> String {
    let mut s = format!(
        "eval-search: {} occupations as jobs, {} queries, embedder {}, loaded in {} ms\n\
         {:<16} {:<10} {:>6} {:>6} {:>6} {:>6} {:>7} {:>7} {:>7}\n",
        r.documents,
        r.queries,
        r.embedding_model,
        r.load_ms,
        "mode",
        "set",
        "n",
        "top1",
        "top5",
        "MRR",
        "nDCG10",
        "p50µs",
        "p95µs"
    );
    for row in &r.rows {
        s.push_str(&format!(
            "{:<16} {:<10} {:>6} {:>6.3} {:>6.3} {:>6.3} {:>7.3} {:>7} {:>7}\n",
            row.mode,
            row.set,
            row.queries,
            row.top1,
            row.top5,
            row.mrr,
            row.ndcg10,
            row.p50_us,
            row.p95_us
        ));
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_set_is_built_from_the_bundled_files() {
        let occ = occupations().unwrap();
        assert_eq!(occ.len(), 2051);
        assert_eq!(display_name("通信工程技术人员S"), "通信工程技术人员");
        assert_eq!(
            display_name("地理信息系统工程技术人员L/S"),
            "地理信息系统工程技术人员"
        );
        let qs = queries(&occ);
        let aliases = qs.iter().filter(|q| q.set == "aliases").count();
        let cats = qs.iter().filter(|q| q.set == "categories").count();
        assert!(aliases > 1700, "{aliases}");
        assert!(cats > 150, "{cats}");
        // A query that is an occupation's name means that occupation too.
        for o in &occ {
            if let Some(q) = qs.iter().find(|q| q.text == o.name) {
                assert_eq!(q.grades.get(&o.id), Some(&2), "{}", o.name);
            }
        }
        assert!(qs.iter().all(|q| q.grades.values().any(|g| *g == 2)));
        let ndcg_perfect = {
            let q = &qs[0];
            let mut g: Vec<u8> = q.grades.values().copied().collect();
            g.sort_unstable_by(|a, b| b.cmp(a));
            ndcg(&g, &q.grades)
        };
        assert!((ndcg_perfect - 1.0).abs() < 1e-9);
    }
}
