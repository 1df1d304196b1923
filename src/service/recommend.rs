//! Recommendation use-cases: jobs and companies for a user, candidates for a job, and the
//! platform's `job-matching` call. Pipeline: profile (latest analysed resume, merged with the
//! platform's `user_profiles` and the request's wishes) → hard filters → candidates: ANN on the
//! overall vector, oversampled, through the engine's planner, and (for jobs) BM25F on the
//! profile's position and skills → transparent re-rank ([`crate::recommend`]) → reasons from
//! facts → response; the recommendations are queued for the databases off the request path
//! ([`Recorder`]).

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};

use super::search::{limit, translate};
use super::{now_iso, AiService, Result, ServiceError};
use crate::analysis::resume;
use crate::entity::Id;
use crate::lexical::Query;
use crate::recommend::features::{
    company_features, job_features, normalize_city, resume_features, skill_key, FeatureCache,
    Features,
};
use crate::recommend::{
    candidate_reasons, company_reasons, job_reasons, score_company, score_job, top_ranked,
    CompanyFeatures, JobFeatures, JobMatch, JobScorer, Profile, Weights, Wishes,
};
use crate::store::outbox::{now_ms, Change};
use crate::store::Collection;
use crate::vector::{prefetch, Engine, Filter, SearchHit, SearchRequest, MAX_K};

/// Name under which recommendations are registered in `ai_models`.
pub const RECOMMENDER_MODEL: &str = "recommender-v1";
/// Days a saved recommendation stays active.
const RECOMMENDATION_TTL_DAYS: i64 = 7;
/// Longest inline profile text accepted (characters).
const MAX_PROFILE_CHARS: usize = 20_000;
/// Most terms of a profile's lexical query (each is a posting list the search walks).
const LEXICAL_QUERY_TERMS: usize = 16;
/// How long a platform profile read from MySQL is reused.
const PLATFORM_TTL: Duration = Duration::from_secs(300);
/// Most platform profiles cached (one per user asking within [`PLATFORM_TTL`]).
const PLATFORM_CACHED: u64 = 100_000;
/// Longest wait for MySQL's `user_profiles` on a cache miss.
const PLATFORM_TIMEOUT: Duration = Duration::from_millis(200);

/// `POST /api/v1/recommend/jobs` and `/recommend/companies`.
#[derive(Debug, Clone, Deserialize)]
pub struct RecommendRequest {
    pub user_id: Id,
    #[serde(default)]
    pub limit: Option<usize>,
    #[serde(default)]
    pub filters: Option<Map<String, Value>>,
    /// A profile text (resume-like) to use when the user has no analysed resume.
    #[serde(default, alias = "profile")]
    pub profile_text: Option<String>,
}

/// `POST /api/v1/recommend/candidates`.
#[derive(Debug, Clone, Deserialize)]
pub struct CandidatesRequest {
    pub job_id: Id,
    #[serde(default)]
    pub limit: Option<usize>,
    #[serde(default)]
    pub filters: Option<Map<String, Value>>,
}

/// One recommended job or company.
#[derive(Debug, Clone, Serialize)]
pub struct Recommendation {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub job_id: Option<Id>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub company_id: Option<Id>,
    pub recommendation_score: f64,
    pub match_reasons: Vec<String>,
    pub match_factors: Map<String, Value>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Recommendations {
    pub user_id: Id,
    pub recommendations: Vec<Recommendation>,
    pub total: usize,
    pub generated_at: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct Candidate {
    pub resume_id: Id,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user_id: Option<Id>,
    pub recommendation_score: f64,
    pub match_reasons: Vec<String>,
    pub match_factors: Map<String, Value>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Candidates {
    pub job_id: Id,
    pub candidates: Vec<Candidate>,
    pub total: usize,
    pub generated_at: String,
}

/// The recommendation state the service keeps: features per entity version, the platform's
/// profiles, and the queue of recommendations to save.
pub struct Recommender {
    pub(crate) features: FeatureCache,
    /// Platform profiles per user (`None`: the user has none, or MySQL did not answer), kept
    /// for [`PLATFORM_TTL`], at most [`PLATFORM_CACHED`] of them.
    platform: moka::sync::Cache<u64, Option<PlatformWishes>>,
    recorder: Option<Recorder>,
    pub(crate) saved: AtomicU64,
    pub(crate) dropped: AtomicU64,
    /// Feature reads that missed the cache (drives the sweep).
    reads: AtomicU64,
}

/// Cache misses between two sweeps of the feature cache.
const SWEEP_EVERY: u64 = 20_000;

impl Default for Recommender {
    fn default() -> Recommender {
        Recommender {
            features: FeatureCache::default(),
            platform: moka::sync::Cache::builder()
                .time_to_live(PLATFORM_TTL)
                .max_capacity(PLATFORM_CACHED)
                .build(),
            recorder: None,
            saved: AtomicU64::default(),
            dropped: AtomicU64::default(),
            reads: AtomicU64::default(),
        }
    }
}

impl Recommender {
    pub(crate) fn with_recorder(recorder: Recorder) -> Recommender {
        Recommender {
            recorder: Some(recorder),
            ..Recommender::default()
        }
    }
}

#[derive(Debug, Clone, Default)]
struct PlatformWishes {
    location: Option<String>,
    skills: Vec<String>,
}

/// Saves recommendations through the outbox without touching the request path: requests
/// push onto a bounded queue (dropping, and counting, when it is full); one task drains it in
/// batches — the same (user, item) kept once per batch — and commits each batch as one redb
/// transaction, which the delivery workers then write to the databases.
pub(crate) struct Recorder {
    tx: tokio::sync::mpsc::Sender<Change>,
}

/// Queued recommendations at most (beyond: dropped and counted).
const RECORDER_QUEUE: usize = 20_000;
/// Records committed per transaction at most.
const RECORDER_BATCH: usize = 2_000;

impl Recorder {
    /// Starts the draining task on the current runtime.
    pub(crate) fn start(engine: Engine, wake: impl Fn() + Send + 'static) -> Recorder {
        let (tx, mut rx) = tokio::sync::mpsc::channel::<Change>(RECORDER_QUEUE);
        tokio::spawn(async move {
            let mut buf = Vec::with_capacity(RECORDER_BATCH);
            while rx.recv_many(&mut buf, RECORDER_BATCH).await > 0 {
                let batch = coalesce(std::mem::take(&mut buf));
                let engine = engine.clone();
                let n = batch.len();
                let res =
                    tokio::task::spawn_blocking(move || engine.store().outbox_append(&batch)).await;
                match res {
                    Ok(Ok(_)) => wake(),
                    Ok(Err(e)) => {
                        tracing::warn!(error = %e, records = n, "recommendations not saved")
                    }
                    Err(e) => tracing::warn!(error = %e, "recommendation recorder task failed"),
                }
            }
        });
        Recorder { tx }
    }
}

/// Keeps the last record per (kind, dedupe key) in batch order.
fn coalesce(batch: Vec<Change>) -> Vec<Change> {
    let key = |c: &Change| match c {
        Change::Record { kind, body, .. } => Some((
            kind.clone(),
            body.get("user_id").and_then(Value::as_i64),
            body.get("job_id")
                .or_else(|| body.get("company_id"))
                .and_then(Value::as_i64),
        )),
        _ => None,
    };
    let mut last: HashMap<_, usize> = HashMap::new();
    for (i, c) in batch.iter().enumerate() {
        if let Some(k) = key(c) {
            last.insert(k, i);
        }
    }
    let mut keep: Vec<usize> = last.into_values().collect();
    keep.sort_unstable();
    let mut batch: Vec<Option<Change>> = batch.into_iter().map(Some).collect();
    keep.into_iter().filter_map(|i| batch[i].take()).collect()
}

fn profile_not_found(user: Id) -> ServiceError {
    ServiceError::NotFoundCode {
        code: "profile_not_found",
        message: format!(
            "用户 {user} 没有已分析的简历：请先调用 /api/v1/analyze/resume 分析简历，或在请求中提供 profile_text (no analysed resume for this user)"
        ),
    }
}

/// The wishes the request's filters state.
fn filter_wishes(filters: &Map<String, Value>) -> Wishes {
    let city = filters
        .get("location")
        .or_else(|| filters.get("city"))
        .and_then(Value::as_str)
        .map(normalize_city);
    let salary_min = filters.get("salary_min").and_then(|v| match v {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    });
    Wishes { city, salary_min }
}

/// The lexical candidates' query of a profile: the terms of the position sought, then of its
/// skills, at most [`LEXICAL_QUERY_TERMS`]. Whole tokens only: a part (a lone character of a
/// Chinese word, `node` of `node.js`) matches too widely to be worth its posting list.
fn profile_query(p: &Profile) -> Query {
    let mut text = p.position.clone().unwrap_or_default();
    for s in &p.skills {
        text.push('\n');
        text.push_str(&s.name);
    }
    let mut q = Query::parse(&text);
    q.terms.retain(|t| t.weight >= 1.0);
    q.terms.truncate(LEXICAL_QUERY_TERMS);
    q
}

/// A scored candidate: id, score, its features, the match.
pub(super) type Ranked = (u64, f64, Arc<Features>, JobMatch);

/// A user's profile: their resume's cached features (shared, not copied per request), or a
/// profile of its own (from an inline text, or a resume merged with the platform's profile).
pub(crate) enum UserProfile {
    /// Always `Features::Resume` (see [`UserProfile::resume`]).
    Resume(Arc<Features>),
    Owned(Profile),
}

impl UserProfile {
    pub(super) fn resume(f: Arc<Features>) -> Option<UserProfile> {
        matches!(&*f, Features::Resume(_)).then_some(UserProfile::Resume(f))
    }

    /// The profile to change, copied out of the cache first if it is shared.
    fn to_mut(&mut self) -> &mut Profile {
        if let UserProfile::Resume(_) = self {
            *self = UserProfile::Owned(Profile::clone(self));
        }
        match self {
            UserProfile::Owned(p) => p,
            UserProfile::Resume(_) => unreachable!("made owned above"),
        }
    }
}

impl std::ops::Deref for UserProfile {
    type Target = Profile;
    fn deref(&self) -> &Profile {
        match self {
            UserProfile::Owned(p) => p,
            UserProfile::Resume(f) => match &**f {
                Features::Resume(p) => p,
                _ => unreachable!("UserProfile::resume holds resume features only"),
            },
        }
    }
}

/// Filters that describe a company rather than a job.
const COMPANY_KEYS: [&str; 5] = ["location", "city", "industry", "company_size", "size"];

impl AiService {
    /// Features of an entity's live version (cached), with the version; `None` when gone.
    pub(super) fn features(&self, c: Collection, id: u64) -> Result<Option<(u64, Arc<Features>)>> {
        let Some((version, payload)) = self.engine.payload(c, id) else {
            return Ok(None);
        };
        if let Some(f) = self.recs.features.get(c, id, version) {
            return Ok(Some((version, f)));
        }
        // Read after the version: the document is that version or newer, so what is cached
        // under `version` is never older than it (a newer one is re-read next time).
        let Some(doc) = self.engine.document(c, id)? else {
            return Ok(None);
        };
        let f = Arc::new(match c {
            Collection::Jobs => Features::Job(job_features(&payload, &doc)),
            Collection::Companies => Features::Company(company_features(&payload, &doc)),
            Collection::Resumes => {
                let mut p = resume_features(&payload, &doc);
                p.resume_id = Some(id);
                p.overall = self
                    .engine
                    .vector(Collection::Resumes, id, "overall")?
                    .unwrap_or_default();
                Features::Resume(p)
            }
        });
        self.recs.features.put(c, id, version, f.clone());
        // Now and then drop what the engine no longer holds (deleted or replaced entities), so
        // the cache tracks the live set instead of every id ever read.
        if self.recs.reads.fetch_add(1, Ordering::Relaxed) % SWEEP_EVERY == SWEEP_EVERY - 1 {
            for c in Collection::ALL {
                self.recs
                    .features
                    .retain(c, |id| self.engine.version(c, id));
            }
        }
        Ok(Some((version, f)))
    }

    /// The cached features of each hit's version (the one the search read), under one lock;
    /// `None` where the cache misses (read those with [`AiService::features`]).
    fn cached_features(&self, c: Collection, hits: &[SearchHit]) -> Vec<Option<Arc<Features>>> {
        self.recs.features.get_many(c, hits)
    }

    fn job(&self, id: u64) -> Result<Option<Arc<Features>>> {
        Ok(self.features(Collection::Jobs, id)?.map(|(_, f)| f))
    }

    /// The profile of a resume's live version (shared with the feature cache, not copied).
    pub(super) fn resume_profile(&self, id: u64) -> Result<Option<UserProfile>> {
        Ok(self
            .features(Collection::Resumes, id)?
            .and_then(|(_, f)| UserProfile::resume(f)))
    }

    /// The user's latest analysed resume (the most recently written one).
    pub(crate) fn latest_resume(&self, user: Id) -> Result<Option<u64>> {
        let found = self.engine.find(
            Collection::Resumes,
            &Filter::eq("user_id", user.0 as f64),
            10_000,
        )?;
        Ok(found
            .into_iter()
            .max_by_key(|(_, version)| *version)
            .map(|(id, _)| id))
    }

    /// A profile from an inline text: the resume rules' facts and its embedding.
    pub(super) async fn text_profile(&self, user: Option<Id>, text: &str) -> Result<Profile> {
        super::check_len("profile_text", text, MAX_PROFILE_CHARS)?;
        if text.trim().is_empty() {
            return Err(ServiceError::invalid(
                "empty_profile_text",
                "profile_text is empty",
            ));
        }
        self.check_model(Collection::Jobs)?;
        let (analysis, facts) = resume::analyze(text, resume::now_year());
        let overall = format!(
            "{}\n{}\n{}",
            analysis.summary,
            analysis.skills.join(" "),
            text
        );
        let v = self.embed(vec![overall]).await?.remove(0);
        let mut p = Profile {
            user_id: user.map(|u| u.0),
            overall: v,
            years: facts.years,
            education: facts.education,
            city: facts.city,
            salary: facts.expected_salary,
            culture: crate::recommend::features::culture(text),
            occupation: analysis
                .occupation
                .as_ref()
                .and_then(crate::recommend::features::occupation_num),
            position: resume::position(text, resume::now_year()),
            ..Profile::default()
        };
        p.add_skills(&analysis.skills);
        Ok(p)
    }

    /// The user's platform profile (MySQL `user_profiles`), cached for five minutes; `None`
    /// without MySQL, when the user has none, or when MySQL does not answer in time.
    async fn platform_wishes(&self, user: Id) -> Option<PlatformWishes> {
        let pool = self.db.as_ref()?.mysql_pool()?.clone();
        if let Some(w) = self.recs.platform.get(&user.0) {
            return w;
        }
        let read = crate::db::platform::user_profile(&pool, user.0 as i64);
        let got = match tokio::time::timeout(PLATFORM_TIMEOUT, read).await {
            Ok(Ok(p)) => p.map(|p| PlatformWishes {
                location: p.location,
                skills: p.skills,
            }),
            Ok(Err(e)) => {
                tracing::debug!(error = %e, user = user.0, "platform profile not read");
                None
            }
            Err(_) => {
                tracing::debug!(user = user.0, "platform profile read timed out");
                None
            }
        };
        self.recs.platform.insert(user.0, got.clone());
        got
    }

    /// The user's profile: latest resume, else the inline text, else 404; merged with the
    /// platform's profile.
    async fn user_profile(&self, user: Id, text: Option<&str>) -> Result<UserProfile> {
        // In memory (a posting-list lookup and the feature cache): no blocking-pool hop.
        let from_resume = match self.latest_resume(user)? {
            Some(id) => self.resume_profile(id)?,
            None => None,
        };
        let mut p = match (from_resume, text) {
            (Some(p), _) => p,
            (None, Some(t)) => UserProfile::Owned(self.text_profile(Some(user), t).await?),
            (None, None) => return Err(profile_not_found(user)),
        };
        self.merge_platform(&mut p, user).await;
        Ok(p)
    }

    /// Adds the platform profile's skills, and its location when the resume states no city
    /// (copying the cached profile only when that changes it).
    pub(super) async fn merge_platform(&self, p: &mut UserProfile, user: Id) {
        let Some(w) = self.platform_wishes(user).await else {
            return;
        };
        let new_skill = w
            .skills
            .iter()
            .any(|n| !n.trim().is_empty() && !p.has_skill(skill_key(n)));
        let new_city = p.city.is_none() && w.location.is_some();
        if new_skill || new_city {
            let p = p.to_mut();
            p.add_skills(&w.skills);
            if p.city.is_none() {
                p.city = w.location.as_deref().map(normalize_city);
            }
        }
    }

    /// The `k` entities of `c` nearest to `query` on `overall` that pass `filter`; none when
    /// the query has another dimension (a profile embedded by another model: nothing
    /// comparable).
    fn nearest(
        &self,
        c: Collection,
        query: &[f32],
        k: usize,
        filter: Option<&Filter>,
    ) -> Result<Vec<SearchHit>> {
        match self.engine.search_candidates(&SearchRequest {
            collection: c,
            vector: "overall",
            query,
            k,
            filter,
            ef: Some(self.config.recommend_ef.min(k)),
        }) {
            Ok(r) => Ok(r.hits),
            Err(crate::vector::VectorError::BadDimension(_)) => Ok(Vec::new()),
            Err(e) => Err(e.into()),
        }
    }

    pub(super) fn wishes(profile: &Profile, filters: &Map<String, Value>) -> Wishes {
        let f = filter_wishes(filters);
        Wishes {
            city: f.city.or_else(|| profile.city.clone()),
            salary_min: f.salary_min.or(profile.salary.map(|s| s.0)),
        }
    }

    /// The candidate stage of a job recommendation: the `k` jobs nearest the profile on
    /// `overall` that pass `filter` (the vector arm), then the jobs the vector arm missed among
    /// the `AI_RECOMMEND_LEXICAL_CANDIDATES` best by BM25F for the profile's position and
    /// skills under the same filter (the lexical arm), with their `overall` distance. Also
    /// says how many of them the vector arm found (they come first).
    pub(super) fn job_candidates(
        &self,
        profile: &Profile,
        filter: Option<&Filter>,
        k: usize,
    ) -> Result<(Vec<SearchHit>, usize)> {
        let mut hits = self.nearest(Collection::Jobs, &profile.overall, k, filter)?;
        let from_vector = hits.len();
        let depth = self.config.recommend_lexical_candidates;
        // No vector hit: nothing passes the filter, or the profile's vector is not comparable.
        if depth == 0 || hits.is_empty() {
            return Ok((hits, from_vector));
        }
        let q = profile_query(profile);
        if q.is_empty() {
            return Ok((hits, from_vector));
        }
        let found = self
            .engine
            .search_text(Collection::Jobs, &q, depth, filter)?;
        let mut known: Vec<u64> = hits.iter().map(|h| h.id).collect();
        known.sort_unstable();
        let new: Vec<u64> = found
            .iter()
            .map(|h| h.id)
            .filter(|id| known.binary_search(id).is_err())
            .collect();
        if new.is_empty() {
            return Ok((hits, from_vector));
        }
        // The vector arm compared the profile's vector with the jobs': same dimension.
        let distances =
            self.engine
                .distances(Collection::Jobs, "overall", &profile.overall, &new)?;
        for (id, distance) in new.into_iter().zip(distances) {
            // The version read after the distance: at worst a newer one, whose features are
            // then read (and scored with the older vector's distance, once).
            if let (Some(distance), Some(version)) =
                (distance, self.engine.version(Collection::Jobs, id))
            {
                hits.push(SearchHit {
                    id,
                    version,
                    distance,
                });
            }
        }
        Ok((hits, from_vector))
    }

    /// A user's job candidates for a recommendation of `limit` jobs without filters (ids, and
    /// how many of them the vector arm found): the evaluation's candidate-stage diagnostics.
    pub(crate) async fn job_candidates_of(
        &self,
        user: Id,
        limit: usize,
    ) -> Result<(Vec<u64>, usize)> {
        let profile = self.user_profile(user, None).await?;
        if profile.overall.is_empty() {
            return Ok((Vec::new(), 0));
        }
        let k = (limit * 10)
            .max(self.config.recommend_candidates)
            .min(MAX_K);
        let (hits, from_vector) = self.job_candidates(&profile, None, k)?;
        Ok((hits.iter().map(|h| h.id).collect(), from_vector))
    }

    /// The `top` best of the job candidates ([`AiService::job_candidates`], `k` from the
    /// vector arm), scored, best first (ties: lower id).
    pub(super) fn rank_jobs(
        &self,
        profile: &Profile,
        wishes: &Wishes,
        filter: Option<&Filter>,
        k: usize,
        top: usize,
        weights: &Weights,
    ) -> Result<Vec<Ranked>> {
        if profile.overall.is_empty() {
            return Ok(Vec::new());
        }
        let (hits, _) = self.job_candidates(profile, filter, k)?;
        let scorer = JobScorer::new(profile, wishes);
        let mut missed = Vec::new();
        // Cached jobs are scored from their cards under the cache's read lock, and only the
        // `top` best of them keep their features (the final top is among those and the
        // misses).
        let mut out: Vec<Ranked> =
            self.recs
                .features
                .with_many(Collection::Jobs, &hits, |entries| {
                    let mut scored: Vec<(u64, f64, usize, JobMatch)> =
                        Vec::with_capacity(hits.len());
                    for (i, h) in hits.iter().enumerate() {
                        // Fetch the entry 4 places on: the lookups found them, scoring reads them.
                        if let Some(Some(e)) = entries.get(i + 4) {
                            let p = std::ptr::from_ref(*e).cast::<u8>();
                            // Its card's first lines, then the rest of its skill keys.
                            prefetch(p);
                            prefetch(p.wrapping_add(64));
                        }
                        let Some(e) = entries[i] else {
                            missed.push(i);
                            continue;
                        };
                        let Some(m) = scorer.score_cached(e, h.distance) else {
                            continue;
                        };
                        scored.push((h.id, m.factors.score(weights), i, m));
                    }
                    top_ranked(&mut scored, top, |r| (r.1, r.0));
                    scored
                        .into_iter()
                        .filter_map(|(id, score, i, m)| {
                            entries[i].map(|e| (id, score, e.features.clone(), m))
                        })
                        .collect()
                });
        // The rare miss (a job not read since it was written) reads its document.
        for i in missed {
            let h = &hits[i];
            let Some(f) = self.job(h.id)? else { continue };
            let Features::Job(job) = &*f else { continue };
            let m = scorer.score(job, h.distance);
            let score = m.factors.score(weights);
            out.push((h.id, score, f, m));
        }
        top_ranked(&mut out, top, |r| (r.1, r.0));
        Ok(out)
    }

    /// `POST /api/v1/recommend/jobs`.
    pub async fn recommend_jobs(&self, req: RecommendRequest) -> Result<Recommendations> {
        let w = self.config.recommend_weights;
        self.recommend_jobs_with(req, w).await
    }

    /// [`AiService::recommend_jobs`] with explicit weights (the evaluation's baselines).
    pub async fn recommend_jobs_with(
        &self,
        req: RecommendRequest,
        weights: Weights,
    ) -> Result<Recommendations> {
        self.recommend_jobs_inner(req, weights, true).await
    }

    /// Jobs for a user without saving them as recommendations (context for chat answers: the
    /// user was not shown a recommendation list).
    pub(crate) async fn recommend_jobs_unsaved(
        &self,
        req: RecommendRequest,
    ) -> Result<Recommendations> {
        let w = self.config.recommend_weights;
        self.recommend_jobs_inner(req, w, false).await
    }

    async fn recommend_jobs_inner(
        &self,
        mut req: RecommendRequest,
        weights: Weights,
        save: bool,
    ) -> Result<Recommendations> {
        let n = limit(req.limit)?;
        let filters = req.filters.take().unwrap_or_default();
        let filter = translate(Collection::Jobs, &filters)?;
        let profile = self
            .user_profile(req.user_id, req.profile_text.as_deref())
            .await?;
        let wishes = Self::wishes(&profile, &filters);
        // CPU work of a few hundred microseconds over in-memory state (the feature cache
        // reads redb only for a job it has not seen): run inline, a blocking-pool hop would
        // cost more than it saves.
        let ranked = self.rank_jobs(
            &profile,
            &wishes,
            filter.as_ref(),
            (n * 10).max(self.config.recommend_candidates).min(MAX_K),
            n,
            &weights,
        )?;
        let recs: Vec<Recommendation> = ranked
            .into_iter()
            .take(n)
            .map(|(id, score, f, m)| {
                let Features::Job(job) = &*f else {
                    unreachable!("jobs have job features")
                };
                Recommendation {
                    job_id: Some(Id(id)),
                    company_id: None,
                    recommendation_score: score,
                    match_reasons: job_reasons(&profile, &wishes, job, &m),
                    match_factors: m.factors.to_map(),
                }
            })
            .collect();
        if save {
            self.save(req.user_id, "job_recommendation", &recs);
        }
        Ok(Recommendations {
            user_id: req.user_id,
            total: recs.len(),
            recommendations: recs,
            generated_at: now_iso(),
        })
    }

    /// `POST /api/v1/recommend/companies`: companies near the profile and companies with open
    /// jobs that fit it; each scored from its own vector and culture and its best fitting job.
    pub async fn recommend_companies(&self, mut req: RecommendRequest) -> Result<Recommendations> {
        let n = limit(req.limit)?;
        let filters = req.filters.take().unwrap_or_default();
        let company_only: Map<String, Value> = filters
            .iter()
            .filter(|(k, _)| COMPANY_KEYS.contains(&k.as_str()))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        let job_only: Map<String, Value> = filters
            .iter()
            .filter(|(k, _)| !["industry", "company_size", "size"].contains(&k.as_str()))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        // Validates every key (a key neither side knows is a 400).
        translate(Collection::Jobs, &filters)?;
        let company_filter = translate(Collection::Companies, &company_only)?;
        let job_filter = translate(Collection::Jobs, &job_only)?;
        let profile = self
            .user_profile(req.user_id, req.profile_text.as_deref())
            .await?;
        let wishes = Self::wishes(&profile, &filters);
        let weights = self.config.recommend_weights;
        let recs = self.rank_companies(
            &profile,
            &wishes,
            company_filter.as_ref(),
            job_filter.as_ref(),
            n,
            &weights,
        )?;
        self.save(req.user_id, "company_recommendation", &recs);
        Ok(Recommendations {
            user_id: req.user_id,
            total: recs.len(),
            recommendations: recs,
            generated_at: now_iso(),
        })
    }

    fn rank_companies(
        &self,
        profile: &Profile,
        wishes: &Wishes,
        company_filter: Option<&Filter>,
        job_filter: Option<&Filter>,
        n: usize,
        weights: &Weights,
    ) -> Result<Vec<Recommendation>> {
        if profile.overall.is_empty() {
            return Ok(Vec::new());
        }
        let own: HashMap<u64, f32> = self
            .nearest(
                Collection::Companies,
                &profile.overall,
                (n * 5).max(50),
                company_filter,
            )?
            .into_iter()
            .map(|h| (h.id, h.distance))
            .collect();
        // Open jobs that fit, grouped by company, best first within each.
        let jobs = self.rank_jobs(
            profile,
            wishes,
            job_filter,
            (n * 20).max(self.config.recommend_candidates).min(MAX_K),
            usize::MAX,
            weights,
        )?;
        let mut by_company: HashMap<u64, Vec<(Arc<Features>, JobMatch)>> = HashMap::new();
        for (_, _, f, m) in jobs {
            let Features::Job(job) = &*f else { continue };
            if let Some(c) = job.company_id {
                by_company.entry(c).or_default().push((f.clone(), m));
            }
        }
        // Companies of fitting jobs must pass the company filter too.
        let allowed: Option<std::collections::HashSet<u64>> = match company_filter {
            Some(f) => Some(
                self.engine
                    .find(Collection::Companies, f, usize::MAX)?
                    .into_iter()
                    .map(|(id, _)| id)
                    .collect(),
            ),
            None => None,
        };
        let mut ids: Vec<u64> = own.keys().copied().collect();
        for c in by_company.keys() {
            if !own.contains_key(c) && allowed.as_ref().is_none_or(|a| a.contains(c)) {
                ids.push(*c);
            }
        }
        let missing: Vec<u64> = ids
            .iter()
            .copied()
            .filter(|c| !own.contains_key(c))
            .collect();
        let extra =
            self.engine
                .distances(Collection::Companies, "overall", &profile.overall, &missing)?;
        let dist: HashMap<u64, f32> = own
            .into_iter()
            .chain(
                missing
                    .iter()
                    .zip(extra)
                    .filter_map(|(id, d)| d.map(|d| (*id, d))),
            )
            .collect();
        let mut scored: Vec<(u64, f64, Arc<Features>, crate::recommend::Factors)> = Vec::new();
        for (id, d) in &dist {
            let Some((_, f)) = self.features(Collection::Companies, *id)? else {
                continue;
            };
            let Features::Company(company) = &*f else {
                continue;
            };
            let best = by_company.get(id).and_then(|j| j.first()).map(|(_, m)| m);
            let factors = score_company(profile, wishes, company, Some(*d), best);
            scored.push((*id, factors.score(weights), f.clone(), factors));
        }
        top_ranked(&mut scored, n, |r| (r.1, r.0));
        Ok(scored
            .into_iter()
            .take(n)
            .map(|(id, score, f, factors)| {
                let company: &CompanyFeatures = match &*f {
                    Features::Company(c) => c,
                    _ => unreachable!("companies have company features"),
                };
                let jobs: Vec<(&JobFeatures, JobMatch)> = by_company
                    .get(&id)
                    .map(|js| {
                        js.iter()
                            .filter_map(|(f, m)| match &**f {
                                Features::Job(j) => Some((j, *m)),
                                _ => None,
                            })
                            .collect()
                    })
                    .unwrap_or_default();
                let mut match_factors = factors.to_map();
                match_factors.insert("matching_jobs".into(), json!(jobs.len()));
                Recommendation {
                    job_id: None,
                    company_id: Some(Id(id)),
                    recommendation_score: score,
                    match_reasons: company_reasons(wishes, company, &jobs, profile),
                    match_factors,
                }
            })
            .collect())
    }

    /// `POST /api/v1/recommend/candidates`: the resumes that fit a job best, one per user.
    pub async fn recommend_candidates(&self, mut req: CandidatesRequest) -> Result<Candidates> {
        let n = limit(req.limit)?;
        let filters = req.filters.take().unwrap_or_default();
        let filter = translate(Collection::Resumes, &filters)?;
        let weights = self.config.recommend_weights;
        let job_id = req.job_id;
        let this = self;
        let out = (|| {
            let Some(f) = this.job(job_id.0)? else {
                return Err(ServiceError::NotFound("职位未找到".into()));
            };
            let Features::Job(job) = &*f else {
                unreachable!("jobs have job features")
            };
            let Some(overall) = this.engine.vector(Collection::Jobs, job_id.0, "overall")? else {
                return Err(ServiceError::NotFound("职位未找到".into()));
            };
            let k = (n * 10).max(self.config.recommend_candidates).min(MAX_K);
            let hits = this.nearest(Collection::Resumes, &overall, k, filter.as_ref())?;
            // Borrow each resume's cached profile (no clone per candidate).
            let cached = this.cached_features(Collection::Resumes, &hits);
            let mut scored: Vec<Ranked> = Vec::with_capacity(hits.len());
            for (h, f) in hits.iter().zip(cached) {
                let f = match f {
                    Some(f) => f,
                    None => match this.features(Collection::Resumes, h.id)? {
                        Some((_, f)) => f,
                        None => continue,
                    },
                };
                let Features::Resume(p) = &*f else { continue };
                let wishes = Wishes {
                    city: p.city.clone(),
                    salary_min: p.salary.map(|s| s.0),
                };
                let m = score_job(p, &wishes, job, h.distance);
                let score = m.factors.score(&weights);
                scored.push((h.id, score, f, m));
            }
            top_ranked(&mut scored, usize::MAX, |r| (r.1, r.0));
            // One resume per user: their best.
            let mut seen = std::collections::HashSet::new();
            Ok(scored
                .iter()
                .filter_map(|(id, score, f, m)| match &**f {
                    Features::Resume(p) => Some((*id, *score, p, m)),
                    _ => None,
                })
                .filter(|(_, _, p, _)| p.user_id.is_none_or(|u| seen.insert(u)))
                .take(n)
                .map(|(id, score, p, m)| Candidate {
                    resume_id: Id(id),
                    user_id: p.user_id.map(Id),
                    recommendation_score: score,
                    match_reasons: candidate_reasons(p, job, m),
                    match_factors: m.factors.to_map(),
                })
                .collect::<Vec<_>>())
        })()?;
        Ok(Candidates {
            job_id,
            total: out.len(),
            candidates: out,
            generated_at: now_iso(),
        })
    }

    /// The owner of a resume (`None` when it has none), or 404 when there is no such resume.
    /// In memory (the payload's `user_id`).
    pub fn resume_owner(&self, id: Id) -> Result<Option<Id>> {
        match self.engine.payload(Collection::Resumes, id.0) {
            Some((_, p)) => Ok(match p.get("user_id") {
                Some(crate::store::PayloadValue::Number(x)) => Some(Id(*x as u64)),
                _ => None,
            }),
            None => Err(ServiceError::NotFound("简历未找到".into())),
        }
    }

    /// Queues recommendations for the databases (nothing without them).
    fn save(&self, user: Id, kind: &str, recs: &[Recommendation]) {
        let Some(recorder) = &self.recs.recorder else {
            return;
        };
        let at = now_ms();
        let expires = at + RECOMMENDATION_TTL_DAYS * 86_400_000;
        for r in recs {
            let mut body = json!({
                "user_id": user.0,
                "score": r.recommendation_score,
                "reasons": r.match_reasons,
                "factors": r.match_factors,
                "model": RECOMMENDER_MODEL,
                "generated_at_ms": at,
                "expires_at_ms": expires,
            });
            match (r.job_id, r.company_id) {
                (Some(j), _) => body["job_id"] = json!(j.0),
                (_, Some(c)) => body["company_id"] = json!(c.0),
                _ => continue,
            }
            let change = Change::Record {
                kind: kind.to_string(),
                at_ms: at,
                body,
            };
            if recorder.tx.try_send(change).is_err() {
                self.recs.dropped.fetch_add(1, Ordering::Relaxed);
            } else {
                self.recs.saved.fetch_add(1, Ordering::Relaxed);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn coalesce_keeps_the_last_per_user_and_item() {
        let rec = |u: i64, j: i64, s: f64| Change::Record {
            kind: "job_recommendation".into(),
            at_ms: 0,
            body: json!({"user_id": u, "job_id": j, "score": s}),
        };
        let out = coalesce(vec![rec(1, 1, 0.1), rec(1, 2, 0.2), rec(1, 1, 0.3)]);
        assert_eq!(out, vec![rec(1, 2, 0.2), rec(1, 1, 0.3)]);
    }

    #[test]
    fn profile_query_is_the_position_then_the_skills_in_whole_terms() {
        let mut p = Profile {
            position: Some("高级Java开发工程师".into()),
            ..Profile::default()
        };
        p.add_skills(&["Java".into(), "Spring Boot".into(), "Node.js".into()]);
        let terms: Vec<String> = profile_query(&p)
            .terms
            .into_iter()
            .map(|t| t.term)
            .collect();
        assert_eq!(
            terms,
            // 发工 and 程师 straddle words (开发|工程|师): parts, left out.
            ["高级", "java", "开发", "工程", "spring", "boot", "node.js"]
        );
        // Short however many skills the profile names; nothing to ask without either.
        let names: Vec<String> = (0..40).map(|i| format!("skill{i}x")).collect();
        p.add_skills(&names);
        assert_eq!(profile_query(&p).terms.len(), LEXICAL_QUERY_TERMS);
        assert!(profile_query(&Profile::default()).is_empty());
    }

    #[test]
    fn wishes_from_filters_normalise_the_city() {
        let f = json!({"location": "深圳", "salary_min": "10000"});
        let w = filter_wishes(f.as_object().unwrap());
        assert_eq!(w.city.as_deref(), Some("深圳市"));
        assert_eq!(w.salary_min, Some(10_000.0));
    }
}
