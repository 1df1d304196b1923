//! Hybrid retrieval: a text query answered by the lexical index (BM25F) and the vector arms
//! (the `overall` vector, and a job's `title`), each asked for its best few under the same
//! filter, their rankings fused. Reciprocal rank fusion (Cormack et al. 2009) needs no
//! calibration between BM25 scores and cosine similarities; the weighted sum normalises each
//! arm's scores to its best candidate and adds them, every candidate scored by every arm.

use serde::{Deserialize, Serialize};

use crate::lexical::{Field, LexHit, Query};
use crate::store::Collection;
use crate::vector::{Engine, Filter, LexicalSchema, Result, SearchRequest, MAX_K};

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
    /// Weighted: on `eval-search` it beats reciprocal rank fusion with the built-in embedders
    /// (BENCHMARKS.md).
    fn default() -> Self {
        Fusion::Weighted
    }
}

impl Fusion {
    /// The fusion for vectors of the embedding model `model` when none is configured: the
    /// weighted sum for the built-in embedders; rank fusion for a model served over HTTP,
    /// whose similarities (e5: most candidates 0.8–0.9) are too compressed for the weighted
    /// sum to tell candidates apart (eval-search with e5: rrf 0.604 top-5, weighted 0.538).
    pub fn for_model(model: &str) -> Fusion {
        if model.starts_with("builtin-") {
            Fusion::Weighted
        } else {
            Fusion::Rrf { k: 60.0 }
        }
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
    /// Every arm equal: the best of a grid on `eval-search` with the built-in static word
    /// vectors (docs/decisions/0012-text-search-fusion.md).
    fn default() -> Self {
        ArmWeights {
            lexical: 1.0,
            overall: 1.0,
            other: 1.0,
        }
    }
}

impl ArmWeights {
    /// For the older hashing embedder, whose vectors see what BM25 sees, less precisely: BM25
    /// first, the title vector at a half, the overall one at a quarter (its best on the grid).
    pub const HASHED: ArmWeights = ArmWeights {
        lexical: 1.0,
        overall: 0.25,
        other: 0.5,
    };

    /// The weights for vectors of the embedding model `model`.
    pub fn for_model(model: &str) -> ArmWeights {
        if model.starts_with("builtin-hash-") {
            ArmWeights::HASHED
        } else {
            ArmWeights::default()
        }
    }

    fn vector(&self, i: usize) -> f32 {
        if i == 0 {
            self.overall
        } else {
            self.other
        }
    }
}

/// Share of the score a document holding every query term would reach that BM25F scores are
/// at least divided by in the weighted fusion. Level on eval-search (0.0 to 0.8 within 0.007
/// top-5; docs/decisions/0012-text-search-fusion.md); it is there for queries whose best match
/// is weak, which the set rarely has (an API test has one).
const LEXICAL_BOUND_SHARE: f32 = 0.3;

/// Candidates each arm contributes at least (more when more results are asked for). On
/// `eval-search` 20 ranks as well as 40 (weighted top-5 0.4955 both; 10: 0.4940) and costs
/// the lexical arm ~30 % less; reciprocal rank fusion is better at 20 (0.417 against 0.398).
const DEPTH: usize = 20;

/// Candidates the lexical arm contributes at least to a weighted fusion. Every candidate is
/// scored by every arm there, so BM25's 11th to 20th best rarely matter: eval-search gives the
/// same figures at 10 as at 20 (top-5 0.575, MRR 0.423), and MaxScore stops sooner (hybrid
/// p50 at 100k jobs −10 to −20 %, BENCHMARKS.md). Rank fusion keeps [`DEPTH`] (at 10 its
/// top-5 falls 0.543 → 0.540).
const WEIGHTED_LEXICAL_DEPTH: usize = 10;

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
    let lex_depth = match req.fusion {
        Fusion::Weighted => req.k.clamp(WEIGHTED_LEXICAL_DEPTH, MAX_K),
        Fusion::Rrf { .. } => depth,
    };
    let lexical = req.mode != SearchMode::Vector;
    let vector = match req.vector {
        Some(v) if req.mode != SearchMode::Lexical => Some(v),
        _ => None,
    };
    // Per searched named vector: (id, similarity), best first.
    let mut vec_hits: Vec<Vec<(u64, f32)>> = Vec::new();
    if let Some(v) = vector {
        for name in req.vectors {
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
            vec_hits.push(hits.iter().map(|h| (h.id, 1.0 - h.distance)).collect());
        }
    }
    // Every candidate once, with what the arms that found it already know of it.
    let mut cands = Candidates::new(req.vectors.len());
    for (i, arm) in vec_hits.iter().enumerate() {
        for &(id, sim) in arm {
            cands.slot(id).1[i] = Some(Some(sim));
        }
    }
    let lex_hits = if lexical {
        // The vector arms' candidates, scored by BM25F first (the weighted fusion needs those
        // scores anyway): the k-th best of them is a floor the lexical arm's k-th best
        // reaches, which spares it most of the common terms' postings (BENCHMARKS.md).
        let scores = engine.text_scores(c, req.query, &cands.ids);
        let mut found: Vec<f32> = scores.iter().flatten().map(|h| h.score).collect();
        for (s, h) in cands.seen.iter_mut().zip(scores) {
            s.0 = Some(h);
        }
        let floor = if found.len() >= lex_depth {
            let (_, kth, _) = found.select_nth_unstable_by(lex_depth - 1, |a, b| b.total_cmp(a));
            // Lowered a little: the walk adds the same terms in another order.
            *kth * (1.0 - 1e-4)
        } else {
            0.0
        };
        let hits = engine.search_text_above(c, req.query, lex_depth, req.filter, floor)?;
        for h in &hits {
            cands.slot(h.id).0 = Some(Some(*h));
        }
        hits
    } else {
        Vec::new()
    };
    match req.fusion {
        Fusion::Rrf { k } => {
            // Every arm votes equally: rank fusion needs no calibration, and a semantic
            // model's arm deserves the same say as BM25 (eval-search with e5).
            let rrf = |rank: usize| 1.0 / (k + rank as f32 + 1.0);
            for (rank, h) in lex_hits.iter().enumerate() {
                cands.score[cands.at[&h.id]] += rrf(rank);
            }
            for arm in &vec_hits {
                for (rank, (id, _)) in arm.iter().enumerate() {
                    cands.score[cands.at[id]] += rrf(rank);
                }
            }
        }
        Fusion::Weighted => {
            cands.complete(engine, req, vector.is_some())?;
            // The arms the mode asks for: each one's scores over its best candidate's, weighted.
            let lex = |s: &Seen| s.0.flatten().filter(|_| lexical).map_or(0.0, |h| h.score);
            let sim = |s: &Seen, i: usize| {
                vector
                    .and(s.1.get(i).copied().flatten().flatten())
                    .unwrap_or(0.0)
                    .max(0.0)
            };
            let positive = |x: f32| x.max(f32::MIN_POSITIVE);
            // BM25F over its best candidate's score, but at least over a share of what a
            // document holding every query term would score: when the best match is one
            // common character (员 of 程序员 in 专员), BM25 must not count as a full match and
            // outvote the vectors.
            let lex_best = positive(cands.seen.iter().map(lex).fold(
                LEXICAL_BOUND_SHARE * engine.text_bound(c, req.query),
                f32::max,
            ));
            let vec_best: Vec<f32> = (0..req.vectors.len())
                .map(|i| positive(cands.seen.iter().map(|s| sim(s, i)).fold(0.0, f32::max)))
                .collect();
            let w = req.weights;
            for (f, s) in cands.score.iter_mut().zip(&cands.seen) {
                *f = w.lexical * lex(s) / lex_best
                    + (0..req.vectors.len())
                        .map(|i| w.vector(i) * sim(s, i) / vec_best[i])
                        .sum::<f32>();
            }
        }
    }
    let mut order: Vec<usize> = (0..cands.ids.len()).collect();
    order.sort_by(|&a, &b| {
        cands.score[b]
            .total_cmp(&cands.score[a])
            .then(cands.ids[a].cmp(&cands.ids[b]))
    });
    order.truncate(req.k);
    // What every arm makes of the results (already known after a weighted fusion).
    let mut top = Candidates::new(req.vectors.len());
    for &i in &order {
        let s = top.slot(cands.ids[i]);
        *s = std::mem::take(&mut cands.seen[i]);
    }
    top.complete(engine, req, req.vector.is_some())?;
    Ok(order
        .iter()
        .zip(top.seen)
        .map(|(&i, (lex, sims))| {
            let lex = lex.flatten();
            FusedHit {
                id: cands.ids[i],
                score: cands.score[i],
                lexical: lex.filter(|h| h.score > 0.0).map(|h| h.score),
                // Only when the query was embedded (a lexical search has no similarities).
                similarity: match req.vector {
                    Some(_) => sims.into_iter().map(Option::flatten).collect(),
                    None => Vec::new(),
                },
                matched: lex.map_or(0, |h| h.matched),
            }
        })
        .collect())
}

/// An entity as every arm sees it: its BM25F hit and its similarity per searched vector, each
/// `None` until known (then `Some(None)` when the arm has nothing for it).
type Seen = (Option<Option<LexHit>>, Vec<Option<Option<f32>>>);

/// The candidates of a search, in the order first found, each with its fused score and what
/// the arms know of it.
struct Candidates {
    ids: Vec<u64>,
    at: crate::idmap::IdMap<usize>,
    score: Vec<f32>,
    seen: Vec<Seen>,
    vectors: usize,
}

impl Candidates {
    fn new(vectors: usize) -> Candidates {
        Candidates {
            ids: Vec::new(),
            at: Default::default(),
            score: Vec::new(),
            seen: Vec::new(),
            vectors,
        }
    }

    fn slot(&mut self, id: u64) -> &mut Seen {
        let i = *self.at.entry(id).or_insert_with(|| {
            self.ids.push(id);
            self.score.push(0.0);
            self.seen.push((None, vec![None; self.vectors]));
            self.ids.len() - 1
        });
        &mut self.seen[i]
    }

    /// Asks each arm for what it does not know yet: BM25F scores of the candidates the lexical
    /// arm did not return, similarities of those a vector arm did not (when `vectors`).
    fn complete(&mut self, engine: &Engine, req: &HybridRequest<'_>, vectors: bool) -> Result<()> {
        fn missing(c: &Candidates, known: impl Fn(&Seen) -> bool) -> (Vec<usize>, Vec<u64>) {
            c.seen
                .iter()
                .enumerate()
                .filter(|(_, s)| !known(s))
                .map(|(i, _)| (i, c.ids[i]))
                .unzip()
        }
        let (at, ids) = missing(self, |s| s.0.is_some());
        if !ids.is_empty() {
            let scores = engine.text_scores(req.collection, req.query, &ids);
            for (i, h) in at.into_iter().zip(scores) {
                self.seen[i].0 = Some(h);
            }
        }
        let Some(v) = req.vector.filter(|_| vectors) else {
            return Ok(());
        };
        for (vi, name) in req.vectors.iter().enumerate() {
            let (at, ids) = missing(self, |s| s.1[vi].is_some());
            if ids.is_empty() {
                continue;
            }
            let d = engine.distances(req.collection, name, v, &ids)?;
            for (i, d) in at.into_iter().zip(d) {
                self.seen[i].1[vi] = Some(d.map(|d| 1.0 - d));
            }
        }
        Ok(())
    }
}
