//! Hybrid retrieval: a text query answered by the lexical index (BM25F) and the vector arms
//! (the `overall` vector, and a job's `title`), each asked for its best few under the same
//! filter, their rankings fused. Reciprocal rank fusion (Cormack et al. 2009) needs no
//! calibration between BM25 scores and cosine similarities; the weighted sum normalises each
//! arm's scores to its best candidate and adds them, every candidate scored by every arm.

use serde::{Deserialize, Serialize};

use crate::lexical::{Field, LexHit, Query};
use crate::vector::{Collection, Engine, Filter, LexicalSchema, Result, SearchRequest, MAX_K};

/// Which arms answer a text search.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum SearchMode {
    /// Lexical and vector arms, fused.
    #[default]
    Hybrid,
    /// BM25F only: only entities holding a query term.
    Lexical,
    /// The vector arms only (`overall`, and `title` for jobs), fused.
    Vector,
}

/// How arms' rankings are fused (`AI_SEARCH_FUSION`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Fusion {
    /// Σ 1 / (k + rank) over the arms, every arm equal: for a semantic embedder.
    Rrf { k: f32 },
    /// Σ weight × score / the arm's best score over the arms: for the built-in embedder.
    Weighted,
}

impl Default for Fusion {
    /// Weighted: on `eval-search` it beats reciprocal rank fusion, which lets the weaker
    /// built-in vectors vote as loudly as BM25 (BENCHMARKS.md).
    fn default() -> Self {
        Fusion::Weighted
    }
}

impl std::str::FromStr for Fusion {
    type Err = String;
    fn from_str(s: &str) -> std::result::Result<Self, String> {
        match s.trim() {
            "rrf" => Ok(Fusion::Rrf { k: 60.0 }),
            "weighted" => Ok(Fusion::Weighted),
            other => Err(format!("unknown fusion '{other}' (rrf or weighted)")),
        }
    }
}

/// How much each arm counts in the weighted fusion.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ArmWeights {
    pub lexical: f32,
    /// The first searched named vector (`overall`).
    pub overall: f32,
    /// The others (a job's `title`).
    pub other: f32,
}

impl Default for ArmWeights {
    /// BM25 first; the title vector, then the overall one (best of a grid on `eval-search`).
    fn default() -> Self {
        ArmWeights {
            lexical: 1.0,
            overall: 0.25,
            other: 0.5,
        }
    }
}

impl ArmWeights {
    fn vector(&self, i: usize) -> f32 {
        if i == 0 {
            self.overall
        } else {
            self.other
        }
    }
}

/// Candidates each arm contributes at least (more when more results are asked for).
const DEPTH: usize = 40;

const fn field(
    name: &'static str,
    pointer: &'static str,
    weight: f32,
    stored: bool,
    avg_len: f32,
) -> Field {
    Field {
        name,
        pointer,
        weight,
        stored,
        avg_len,
    }
}

/// The fields of a stored job document the lexical index reads (what a job seeker types is
/// mostly a title; the skills the analysis found come next), with their weights and typical
/// lengths in tokens.
pub const JOB_FIELDS: &[Field] = &[
    field("title", "/input/title", 3.0, true, 8.0),
    field("skills", "/analysis/extracted_skills", 1.5, false, 12.0),
    field("requirements", "/input/requirements", 1.0, false, 60.0),
    field("description", "/input/description", 1.0, false, 80.0),
    field("company", "/input/company", 1.0, true, 6.0),
];
pub const COMPANY_FIELDS: &[Field] = &[
    field("name", "/input/name", 3.0, true, 6.0),
    field("industry", "/input/industry", 1.5, false, 4.0),
    field("description", "/input/description", 1.0, false, 80.0),
];
pub const RESUME_FIELDS: &[Field] = &[
    field("skills", "/analysis/skills", 2.0, false, 20.0),
    field("experience", "/analysis/experience", 1.0, false, 60.0),
    field("content", "/input/content", 1.0, false, 300.0),
];
/// The engine's lexical schema (in [`Collection::ALL`] order).
pub const LEXICAL: LexicalSchema = LexicalSchema([COMPANY_FIELDS, JOB_FIELDS, RESUME_FIELDS]);

/// A search by text, as the arms see it.
#[derive(Debug, Clone)]
pub struct HybridRequest<'a> {
    pub collection: Collection,
    pub query: &'a Query,
    /// The query's embedding (none: lexical only).
    pub vector: Option<&'a [f32]>,
    /// The named vectors searched (`overall` first).
    pub vectors: &'a [&'static str],
    pub k: usize,
    pub filter: Option<&'a Filter>,
    pub mode: SearchMode,
    pub fusion: Fusion,
    pub weights: ArmWeights,
}

/// A fused result with what each arm made of it.
#[derive(Debug, Clone, PartialEq)]
pub struct FusedHit {
    pub id: u64,
    pub score: f32,
    /// BM25F score (`None`: holds no query term).
    pub lexical: Option<f32>,
    /// Cosine similarity per searched named vector (as in the request), when known.
    pub similarity: Vec<Option<f32>>,
    /// Which of the query's terms the entity holds (bit i: term i).
    pub matched: u64,
}

/// The vectors a text query goes against in `c`.
pub fn query_vectors(c: Collection) -> &'static [&'static str] {
    match c {
        Collection::Jobs => &["overall", "title"],
        _ => &["overall"],
    }
}

/// Answers a text search: the arms the mode asks for, fused, best first (ties by id).
pub fn hybrid(engine: &Engine, req: &HybridRequest<'_>) -> Result<Vec<FusedHit>> {
    let c = req.collection;
    let depth = req.k.clamp(DEPTH, MAX_K);
    // (weight, candidates best first)
    let mut arms: Vec<(f32, Vec<(u64, f32)>)> = Vec::new();
    let lexical = req.mode != SearchMode::Vector;
    if lexical {
        let hits = engine.search_text(c, req.query, depth, req.filter)?;
        arms.push((
            req.weights.lexical,
            hits.iter().map(|h| (h.id, h.score)).collect(),
        ));
    }
    let vector = match req.vector {
        Some(v) if req.mode != SearchMode::Lexical => Some(v),
        _ => None,
    };
    if let Some(v) = vector {
        for (i, name) in req.vectors.iter().enumerate() {
            let hits = engine
                .search(&SearchRequest {
                    collection: c,
                    vector: name,
                    query: v,
                    k: depth,
                    filter: req.filter,
                    ef: None,
                })?
                .hits;
            arms.push((
                req.weights.vector(i),
                hits.iter().map(|h| (h.id, 1.0 - h.distance)).collect(),
            ));
        }
    }
    // Every candidate, with its fused score and (once computed) what every arm makes of it.
    let mut fused: Vec<(u64, f32, Option<Seen>)> = Vec::new();
    let mut seen = crate::vector::idmap::IdMap::<usize>::default();
    for (_, arm) in &arms {
        for (id, _) in arm {
            if !seen.contains_key(id) {
                seen.insert(*id, fused.len());
                fused.push((*id, 0.0, None));
            }
        }
    }
    match req.fusion {
        Fusion::Rrf { k } => {
            // Every arm votes equally: rank fusion needs no calibration, and a semantic
            // model's arm deserves the same say as BM25 (eval-search with e5).
            for (_, arm) in &arms {
                for (rank, (id, _)) in arm.iter().enumerate() {
                    fused[seen[id]].1 += 1.0 / (k + rank as f32 + 1.0);
                }
            }
        }
        Fusion::Weighted => {
            let ids: Vec<u64> = fused.iter().map(|f| f.0).collect();
            let all = seen_by_arms(engine, req, &ids)?;
            // The arms the mode asks for: each one's scores over its best candidate's, weighted.
            let lex = |s: &Seen| s.0.filter(|_| lexical).map_or(0.0, |h| h.score);
            let sim = |s: &Seen, i: usize| {
                vector
                    .and(s.1.get(i).copied().flatten())
                    .unwrap_or(0.0)
                    .max(0.0)
            };
            let positive = |x: f32| x.max(f32::MIN_POSITIVE);
            let lex_best = positive(all.iter().map(lex).fold(0.0, f32::max));
            let vec_best: Vec<f32> = (0..req.vectors.len())
                .map(|i| positive(all.iter().map(|s| sim(s, i)).fold(0.0, f32::max)))
                .collect();
            let w = req.weights;
            for (f, s) in fused.iter_mut().zip(all) {
                f.1 = w.lexical * lex(&s) / lex_best
                    + (0..req.vectors.len())
                        .map(|i| w.vector(i) * sim(&s, i) / vec_best[i])
                        .sum::<f32>();
                f.2 = Some(s);
            }
        }
    }
    fused.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
    fused.truncate(req.k);
    // What every arm makes of the results (already known after a weighted fusion).
    if fused.iter().any(|f| f.2.is_none()) {
        let ids: Vec<u64> = fused.iter().map(|f| f.0).collect();
        for (f, s) in fused.iter_mut().zip(seen_by_arms(engine, req, &ids)?) {
            f.2 = Some(s);
        }
    }
    Ok(fused
        .into_iter()
        .map(|(id, score, s)| {
            let (lex, similarity) = s.unwrap_or_default();
            FusedHit {
                id,
                score,
                lexical: lex.filter(|h| h.score > 0.0).map(|h| h.score),
                similarity,
                matched: lex.map_or(0, |h| h.matched),
            }
        })
        .collect())
}

/// An entity as every arm sees it: its BM25F hit and its similarity per searched vector.
type Seen = (Option<LexHit>, Vec<Option<f32>>);

/// What every arm makes of each of `ids`.
fn seen_by_arms(engine: &Engine, req: &HybridRequest<'_>, ids: &[u64]) -> Result<Vec<Seen>> {
    let text = engine.text_scores(req.collection, req.query, ids);
    Ok(text
        .into_iter()
        .zip(similarities(engine, req, ids)?)
        .collect())
}

/// Cosine similarity of each of `ids` to the query on each searched named vector.
fn similarities(
    engine: &Engine,
    req: &HybridRequest<'_>,
    ids: &[u64],
) -> Result<Vec<Vec<Option<f32>>>> {
    let mut out = vec![Vec::with_capacity(req.vectors.len()); ids.len()];
    let Some(v) = req.vector else {
        return Ok(out);
    };
    for name in req.vectors {
        let d = engine.distances(req.collection, name, v, ids)?;
        for (o, d) in out.iter_mut().zip(d) {
            o.push(d.map(|d| 1.0 - d));
        }
    }
    Ok(out)
}
