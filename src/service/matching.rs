//! The platform job-service's matching calls, in the shapes its Go client decodes
//! (`AIJobMatchingResponse`, `AIMatchResult`, `Job`, `CompanyInfo`): job matching and enhanced
//! job matching for a resume, personalised recommendations, and the matching analysis. Every
//! figure is computed from the resume, its stored analysis and the jobs of the index: the
//! matches come from the recommender ([`AiService::rank_jobs`]), the statistics from the
//! best [`POOL`] of them.
//!
//! Integers are integers (`uint`/`int` in Go reject `11000.0`), the company is an object, and
//! timestamps are RFC 3339 (`time.Time`): a field the service does not know is Go's zero value
//! (`0`, `""`), never a different type.

use std::collections::BTreeMap;
use std::time::Instant;

use serde::{Deserialize, Deserializer, Serialize};
use serde_json::{json, Map, Value};

use super::insights::{
    career_advice, completeness, education_gap, experience_gap, industries, job_of, missing_parts,
    salary_range, skill_demand, skill_gaps, strengths, StoredAnalysis,
};
use super::recommend::{Ranked, UserProfile, RECOMMENDER_MODEL};
use super::search::translate;
use super::{blocking, now_iso, AiService, CandidatesRequest, Result, ServiceError};
use crate::entity::{Id, JobData};
use crate::recommend::features::Features;
use crate::recommend::{
    education_factor, job_reasons, matched_skills, round4, CompanyFeatures, JobFeatures, JobMatch,
    Profile, Wishes,
};
use crate::store::Collection;
use crate::vector::{Filter, MAX_K};

/// Matches answered when the request's `limit` is absent, 0 or negative (the Go client sends
/// its zero value when its caller set none).
pub const DEFAULT_MATCHES: usize = 10;
/// Most matches answered; a larger `limit` is clamped (the platform's clients cannot act on a
/// 422 for it).
pub const MAX_MATCHES: usize = 100;
/// Matches the statistics of the analysis and the suggestions are computed over.
const POOL: usize = 50;
/// Matched jobs whose competing candidates are counted.
const COMPETITION_JOBS: usize = 3;
/// Candidates read per job when counting the competition.
const COMPETITION_CANDIDATES: usize = 100;
/// A candidate scoring within this of the resume's own score (or above it) competes with it.
const COMPETITION_MARGIN: f64 = 0.05;
/// Weight of the education factor in the enhanced score (the other factors share the rest in
/// the recommender's proportions).
const EDUCATION_WEIGHT: f64 = 0.10;
/// `metadata.engine` of the enhanced matching.
pub const ENHANCED_ENGINE: &str = "enhanced-v1";

/// The body of `POST /api/v1/ai/job-matching` and `/enhanced-job-matching`
/// (`AIJobMatchingRequest`): `resume_id` 0 or absent is "no resume" (400 from the handler).
#[derive(Debug, Clone, Default, Deserialize)]
pub struct JobMatchingRequest {
    #[serde(default, deserialize_with = "zero_is_none")]
    pub resume_id: Option<Id>,
    #[serde(default)]
    pub limit: Option<i64>,
    #[serde(default)]
    pub filters: Option<Map<String, Value>>,
}

/// An id where Go's zero value (`0`, `"0"`) and `null` mean absent.
fn zero_is_none<'de, D: Deserializer<'de>>(d: D) -> std::result::Result<Option<Id>, D::Error> {
    let v = Value::deserialize(d)?;
    match &v {
        Value::Null => Ok(None),
        Value::Number(n) if n.as_u64() == Some(0) => Ok(None),
        Value::String(s) if s.trim() == "0" || s.trim().is_empty() => Ok(None),
        _ => Id::deserialize(v)
            .map(Some)
            .map_err(serde::de::Error::custom),
    }
}

/// The number of matches to answer for a request's `limit`.
pub fn match_limit(limit: Option<i64>) -> usize {
    match limit {
        Some(l) if l > 0 => (l as usize).min(MAX_MATCHES),
        _ => DEFAULT_MATCHES,
    }
}

/// `CompanyInfo`.
#[derive(Debug, Clone, Default, Serialize)]
pub struct CompanyInfo {
    pub id: u64,
    pub name: String,
    pub short_name: String,
    pub logo_url: String,
    pub industry: String,
    pub location: String,
    /// Kept from the earlier answer (`id` is the Go type's name), as is `size`.
    pub company_id: Option<u64>,
    pub size: Option<String>,
}

/// `Job`: the posting as the job service stores it. `view_count`, `apply_count` and
/// `created_by` belong to the job service and are 0 here; `created_at`/`updated_at` are when
/// this service first and last analysed the job.
#[derive(Debug, Clone, Serialize)]
pub struct JobInfo {
    pub id: u64,
    pub title: String,
    pub description: String,
    pub requirements: String,
    pub company_id: u64,
    pub industry: String,
    pub location: String,
    pub salary_min: i64,
    pub salary_max: i64,
    pub experience: String,
    pub education: String,
    pub job_type: String,
    pub status: &'static str,
    pub view_count: i64,
    pub apply_count: i64,
    pub created_by: u64,
    pub created_at: String,
    pub updated_at: String,
    pub company: CompanyInfo,
    /// Minimum years asked, as the rules read them (kept from the earlier answer).
    pub experience_years: Option<f64>,
}

/// `AIMatchResult`, plus the skills behind the score.
#[derive(Debug, Clone, Serialize)]
pub struct MatchResult {
    pub job_id: u64,
    pub match_score: f64,
    pub breakdown: BTreeMap<&'static str, f64>,
    pub confidence: f64,
    pub job_info: JobInfo,
    pub company_info: CompanyInfo,
    pub reason: String,
    pub matched_skills: Vec<String>,
    pub missing_skills: Vec<String>,
}

/// `AIJobMatchingResponse`'s envelope around any data.
#[derive(Debug, Clone, Serialize)]
pub struct Envelope<T> {
    pub success: bool,
    pub data: T,
    pub message: String,
    pub timestamp: String,
    pub metadata: Map<String, Value>,
}

impl<T> Envelope<T> {
    /// A successful answer; `metadata` gains `engine` and the time since `started`.
    fn ok(data: T, message: String, started: Instant, metadata: Value) -> Envelope<T> {
        let mut metadata = match metadata {
            Value::Object(m) => m,
            _ => Map::new(),
        };
        metadata
            .entry("engine")
            .or_insert_with(|| json!(RECOMMENDER_MODEL));
        metadata.insert(
            "processing_time_ms".into(),
            json!(started.elapsed().as_millis() as u64),
        );
        Envelope {
            success: true,
            data,
            message,
            timestamp: now_iso(),
            metadata,
        }
    }
}

/// Which breakdown and score a matching answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Matching {
    /// `job-matching`: the recommender's score; breakdown `semantic, skills, experience,
    /// basic, cultural`.
    Standard,
    /// `enhanced-job-matching`: education is a factor of its own; breakdown
    /// `semantic_similarity, skills_match, experience_match, education_match, cultural_fit`.
    Enhanced,
}

/// A match being answered: the recommender's ranking and, for the enhanced matching, the
/// score with education.
struct Scored {
    ranked: Ranked,
    score: f64,
    education: f32,
}

/// `深圳市腾讯计算机系统有限公司` → `深圳市腾讯计算机系统`: the name without its legal form.
pub fn short_name(name: &str) -> String {
    let strip = |s: &str, suffixes: &[&str]| -> String {
        // The longest legal form that matches is the one; a name that is only that stays.
        match suffixes.iter().find_map(|x| s.strip_suffix(x)) {
            Some(rest) if !rest.trim_end().is_empty() => rest.trim_end().to_string(),
            _ => s.to_string(),
        }
    };
    let s = strip(
        name.trim(),
        &["股份有限公司", "有限责任公司", "有限公司", "公司"],
    );
    let s = strip(&s, &["（中国）", "(中国)"]);
    strip(&s, &["集团"])
}

fn years_text(years: Option<f32>) -> String {
    match years {
        Some(y) if y > 0.0 => format!("{}年以上", crate::analysis::extract::fmt_years(y)),
        Some(_) => "不限".into(),
        None => String::new(),
    }
}

fn salary_int(v: Option<f64>) -> i64 {
    v.filter(|v| v.is_finite() && *v >= 0.0)
        .map_or(0, |v| v.round() as i64)
}

/// How much of a match rests on facts both sides state rather than neutral defaults (0..1).
fn confidence(job: &JobFeatures, profile: &Profile, wishes: &Wishes, m: &JobMatch) -> f64 {
    let known = [
        true,
        m.skills.total > 0 && !profile.skills.is_empty(),
        profile.years.is_some() && job.years_min.is_some(),
        wishes.city.is_some() || wishes.salary_min.is_some(),
        !job.culture.is_empty(),
        profile.education.is_some() && job.education.is_some(),
    ];
    round4(known.iter().filter(|k| **k).count() as f64 / known.len() as f64)
}

fn breakdown(kind: Matching, m: &JobMatch, education: f32) -> BTreeMap<&'static str, f64> {
    let f = &m.factors;
    let r4 = |x: f32| round4(f64::from(x));
    let pairs = match kind {
        Matching::Standard => [
            ("semantic", f.semantic),
            ("skills", f.skills),
            ("experience", f.experience),
            ("basic", f.basic),
            ("cultural", f.culture),
        ],
        Matching::Enhanced => [
            ("semantic_similarity", f.semantic),
            ("skills_match", f.skills),
            ("experience_match", f.experience),
            ("education_match", education),
            ("cultural_fit", f.culture),
        ],
    };
    pairs.into_iter().map(|(k, v)| (k, r4(v))).collect()
}

impl AiService {
    /// The resume's profile merged with its user's platform profile, and its stored document.
    async fn resume_for_matching(&self, resume_id: Id) -> Result<(UserProfile, Value)> {
        let Some(mut profile) = self.resume_profile(resume_id.0)? else {
            return Err(ServiceError::NotFound("简历未找到".into()));
        };
        if let Some(u) = profile.user_id {
            self.merge_platform(&mut profile, Id(u)).await;
        }
        let engine = self.engine.clone();
        let doc = blocking(move || Ok(engine.document(Collection::Resumes, resume_id.0)?))
            .await?
            .unwrap_or(Value::Null);
        Ok((profile, doc))
    }

    /// The `n` best jobs for a profile, scored as `kind` scores them.
    fn best_matches(
        &self,
        profile: &Profile,
        wishes: &Wishes,
        filter: Option<&Filter>,
        n: usize,
        kind: Matching,
    ) -> Result<Vec<Scored>> {
        let weights = self.config.recommend_weights;
        // The enhanced score reorders: rank a wider list, then keep its best `n`.
        let top = match kind {
            Matching::Standard => n,
            Matching::Enhanced => (n * 3).min(MAX_K),
        };
        let k = (n * 10).max(self.config.recommend_candidates).min(MAX_K);
        let ranked = self.rank_jobs(profile, wishes, filter, k, top, &weights)?;
        let mut out: Vec<Scored> = ranked
            .into_iter()
            .map(|r| {
                let education = education_factor(profile.education, job_of(&r).education);
                let score = match kind {
                    Matching::Standard => r.1,
                    Matching::Enhanced => round4(
                        r.1 * (1.0 - EDUCATION_WEIGHT) + EDUCATION_WEIGHT * f64::from(education),
                    ),
                };
                Scored {
                    ranked: r,
                    score,
                    education,
                }
            })
            .collect();
        out.sort_by(|a, b| {
            b.score
                .total_cmp(&a.score)
                .then(a.ranked.0.cmp(&b.ranked.0))
        });
        out.truncate(n);
        Ok(out)
    }

    /// The `CompanyInfo` of a job: its analysed company, else what the posting says.
    fn company_info(&self, job: &JobFeatures, data: &JobData) -> Result<CompanyInfo> {
        let analysed = match job.company_id {
            Some(c) => self.features(Collection::Companies, c)?,
            None => None,
        };
        let company: Option<&CompanyFeatures> = match analysed.as_ref().map(|(_, f)| &**f) {
            Some(Features::Company(c)) => Some(c),
            _ => None,
        };
        let name = company.map_or_else(|| data.company.trim().to_string(), |c| c.name.clone());
        Ok(CompanyInfo {
            id: job.company_id.unwrap_or(0),
            short_name: short_name(&name),
            name,
            logo_url: String::new(),
            industry: company
                .map(|c| c.industry.clone())
                .filter(|i| !i.is_empty())
                .or_else(|| job.industry.clone())
                .unwrap_or_default(),
            location: company
                .and_then(|c| c.city.clone())
                .or_else(|| job.city.clone())
                .unwrap_or_default(),
            company_id: job.company_id,
            size: company.and_then(|c| c.size.clone()),
        })
    }

    /// One `AIMatchResult`: the job's stored posting and its company, the breakdown, reasons.
    fn match_result(
        &self,
        s: &Scored,
        profile: &Profile,
        wishes: &Wishes,
        kind: Matching,
    ) -> Result<Option<MatchResult>> {
        let (id, _, _, m) = &s.ranked;
        let job = job_of(&s.ranked);
        let Some(mut doc) = self.engine.document(Collection::Jobs, *id)? else {
            return Ok(None); // deleted since it was ranked
        };
        let data: JobData = serde_json::from_value(doc["input"].take()).unwrap_or_default();
        let company = self.company_info(job, &data)?;
        let updated = doc["created_at"].as_str().map(str::to_string);
        let created = doc["first_analyzed_at"]
            .as_str()
            .map(str::to_string)
            .or_else(|| updated.clone())
            .unwrap_or_else(now_iso);
        let text = |v: Option<&String>| v.map(|s| s.trim().to_string()).unwrap_or_default();
        let job_info = JobInfo {
            id: *id,
            title: data.title.trim().to_string(),
            description: data.description.clone(),
            requirements: data.requirements.clone(),
            company_id: job.company_id.unwrap_or(0),
            industry: text(data.industry.as_ref()),
            location: Some(data.location.trim().to_string())
                .filter(|l| !l.is_empty())
                .or_else(|| job.city.clone())
                .unwrap_or_default(),
            salary_min: salary_int(data.salary_min),
            salary_max: salary_int(data.salary_max),
            experience: Some(text(data.experience.as_ref()))
                .filter(|e| !e.is_empty())
                .unwrap_or_else(|| years_text(job.years_min)),
            education: Some(text(data.education.as_ref()))
                .filter(|e| !e.is_empty())
                .or_else(|| job.education.map(|e| e.label().to_string()))
                .unwrap_or_default(),
            job_type: text(data.job_type.as_ref()),
            status: "active",
            view_count: 0,
            apply_count: 0,
            created_by: 0,
            updated_at: updated.unwrap_or_else(|| created.clone()),
            created_at: created,
            company: company.clone(),
            experience_years: job.years_min.map(|y| round4(f64::from(y))),
        };
        let matched: Vec<String> = matched_skills(profile, job)
            .into_iter()
            .map(str::to_string)
            .collect();
        let missing: Vec<String> = job
            .required
            .iter()
            .chain(&job.preferred)
            .filter(|x| !profile.has_skill(x.key))
            .map(|x| x.name.clone())
            .collect();
        Ok(Some(MatchResult {
            job_id: *id,
            match_score: s.score,
            breakdown: breakdown(kind, m, s.education),
            confidence: confidence(job, profile, wishes, m),
            job_info,
            company_info: company,
            reason: job_reasons(profile, wishes, job, m).join("；"),
            matched_skills: matched,
            missing_skills: missing,
        }))
    }

    /// The `n` best matches of a profile as `AIMatchResult`s (reads each job's posting).
    pub(crate) fn match_results(
        &self,
        profile: &Profile,
        wishes: &Wishes,
        filter: Option<&Filter>,
        n: usize,
        kind: Matching,
    ) -> Result<Vec<MatchResult>> {
        let scored = self.best_matches(profile, wishes, filter, n, kind)?;
        let mut out = Vec::with_capacity(scored.len());
        for s in &scored {
            if let Some(r) = self.match_result(s, profile, wishes, kind)? {
                out.push(r);
            }
        }
        Ok(out)
    }

    /// `POST /api/v1/ai/job-matching` and `/api/v1/ai/enhanced-job-matching`.
    pub async fn job_matching(
        &self,
        mut req: JobMatchingRequest,
        kind: Matching,
    ) -> Result<Envelope<Vec<MatchResult>>> {
        let started = Instant::now();
        let Some(resume_id) = req.resume_id else {
            return Err(ServiceError::invalid("missing_resume_id", "简历ID不能为空"));
        };
        let n = match_limit(req.limit);
        let filters = req.filters.take().unwrap_or_default();
        let filter = translate(Collection::Jobs, &filters)?;
        let Some(mut profile) = self.resume_profile(resume_id.0)? else {
            return Err(ServiceError::NotFound("简历未找到".into()));
        };
        if let Some(u) = profile.user_id {
            self.merge_platform(&mut profile, Id(u)).await;
        }
        let wishes = Self::wishes(&profile, &filters);
        let this = self.clone();
        let user_id = profile.user_id;
        let data =
            blocking(move || this.match_results(&profile, &wishes, filter.as_ref(), n, kind))
                .await?;
        let total = data.len();
        let engine = match kind {
            Matching::Standard => RECOMMENDER_MODEL,
            Matching::Enhanced => ENHANCED_ENGINE,
        };
        let metadata = json!({
            "total": total, "resume_id": resume_id, "user_id": user_id, "limit": n,
            "filters": filters, "engine": engine, "algorithm": RECOMMENDER_MODEL,
            "weights": self.config.recommend_weights,
        });
        Ok(Envelope::ok(
            data,
            format!("匹配完成，共{total}个职位"),
            started,
            metadata,
        ))
    }

    /// The pool the statistics are computed over: the profile's [`POOL`] best matches.
    fn pool(&self, profile: &Profile, wishes: &Wishes) -> Result<Vec<Ranked>> {
        let weights = self.config.recommend_weights;
        let k = (POOL * 10).max(self.config.recommend_candidates).min(MAX_K);
        self.rank_jobs(profile, wishes, None, k, POOL, &weights)
    }

    /// `GET /api/v1/ai/matching/recommendations/{resume_id}`: the resume's best jobs and
    /// suggestions computed from them — skills those jobs ask for that the resume lacks, the
    /// analysis's fixes and what the resume does not say, and advice from the matches.
    pub async fn matching_recommendations(&self, resume_id: Id) -> Result<Envelope<Value>> {
        let started = Instant::now();
        let (profile, doc) = self.resume_for_matching(resume_id).await?;
        let this = self.clone();
        let (recommendations, pool, wishes, profile) = blocking(move || {
            let wishes = Self::wishes(&profile, &Map::new());
            let recs =
                this.match_results(&profile, &wishes, None, DEFAULT_MATCHES, Matching::Standard)?;
            let pool = this.pool(&profile, &wishes)?;
            Ok((recs, pool, wishes, profile))
        })
        .await?;
        let analysis = StoredAnalysis::of_document(&doc);
        let gaps = skill_gaps(&profile, &pool);
        let skill_improvements: Vec<String> = gaps
            .iter()
            .take(5)
            .map(|g| {
                format!(
                    "学习 {}：{} 个匹配职位提到该技能（{} 个列为要求）",
                    g.skill, g.jobs, g.required_by
                )
            })
            .collect();
        let mut resume_optimizations: Vec<String> = analysis.suggestions.clone();
        for m in missing_parts(&profile, &analysis) {
            if !resume_optimizations.contains(&m) {
                resume_optimizations.push(m);
            }
        }
        let career_advice = career_advice(&profile, &wishes, &pool);
        let total = recommendations.len();
        Ok(Envelope::ok(
            json!({
                "user_id": profile.user_id,
                "resume_id": resume_id,
                "recommendations": recommendations,
                "personalized_suggestions": {
                    "skill_improvements": skill_improvements,
                    "resume_optimizations": resume_optimizations,
                    "career_advice": career_advice,
                },
                "generated_at": now_iso(),
            }),
            format!("推荐完成，共{total}个职位"),
            started,
            json!({"total": total, "pool": pool.len()}),
        ))
    }

    /// How many resumes in the index compete for the resume's best jobs: for each of the
    /// [`COMPETITION_JOBS`] best, the job's candidates (one resume per user, the best
    /// [`COMPETITION_CANDIDATES`]) that score within [`COMPETITION_MARGIN`] of the resume or
    /// above it, those that score higher, and the resume's rank among them.
    async fn competition(&self, profile: &Profile, pool: &[Ranked]) -> Result<Value> {
        let mut jobs = Vec::new();
        let (mut ahead_sum, mut counted) = (0usize, 0usize);
        for r in pool.iter().take(COMPETITION_JOBS) {
            let cands = match self
                .recommend_candidates(CandidatesRequest {
                    job_id: Id(r.0),
                    limit: Some(COMPETITION_CANDIDATES),
                    filters: None,
                })
                .await
            {
                Ok(c) => c.candidates,
                Err(ServiceError::NotFound(_)) => continue,
                Err(e) => return Err(e),
            };
            let others = cands.iter().filter(|c| {
                Some(c.resume_id.0) != profile.resume_id
                    && (profile.user_id.is_none() || c.user_id.map(|u| u.0) != profile.user_id)
            });
            let (mut ahead, mut fitting) = (0usize, 0usize);
            for c in others {
                fitting += usize::from(c.recommendation_score >= r.1 - COMPETITION_MARGIN);
                ahead += usize::from(c.recommendation_score > r.1);
            }
            ahead_sum += ahead;
            counted += 1;
            jobs.push(json!({
                "job_id": r.0,
                "title": job_of(r).title,
                "your_score": r.1,
                "competing_resumes": fitting,
                "ahead_of_you": ahead,
                "your_rank": ahead + 1,
            }));
        }
        let level = match ahead_sum.checked_div(counted) {
            None => "unknown",
            Some(0..=2) => "low",
            Some(3..=10) => "medium",
            Some(_) => "high",
        };
        Ok(json!({
            "level": level,
            "jobs": jobs,
            "resumes_in_index": self.engine.collection_stats(Collection::Resumes).live,
        }))
    }

    /// `GET /api/v1/ai/matching/analysis/{resume_id}`: the resume against the index.
    pub async fn matching_analysis(&self, resume_id: Id) -> Result<Envelope<Value>> {
        let started = Instant::now();
        let (profile, doc) = self.resume_for_matching(resume_id).await?;
        let this = self.clone();
        let (pool, profile) = blocking(move || {
            let wishes = Self::wishes(&profile, &Map::new());
            let pool = this.pool(&profile, &wishes)?;
            Ok((pool, profile))
        })
        .await?;
        let profile: &Profile = &profile;
        let analysis = StoredAnalysis::of_document(&doc);
        let gaps = skill_gaps(profile, &pool);
        let average = if pool.is_empty() {
            0.0
        } else {
            round4(pool.iter().map(|r| r.1).sum::<f64>() / pool.len() as f64)
        };
        let competition = self.competition(profile, &pool).await?;
        let strengths = strengths(profile, &analysis, &pool);
        let mut weaknesses: Vec<String> = gaps
            .iter()
            .take(3)
            .map(|g| format!("缺少 {}（{} 个匹配职位提到）", g.skill, g.jobs))
            .collect();
        weaknesses.extend(missing_parts(profile, &analysis));
        Ok(Envelope::ok(
            json!({
                "user_id": profile.user_id,
                "resume_id": resume_id,
                "analysis": {
                    "resume_analysis": {
                        "strengths": strengths,
                        "weaknesses": weaknesses,
                        "completeness_score": completeness(profile, &analysis),
                        "score": analysis.score.map(|s| s.round() as i64),
                    },
                    "matching_trends": {
                        "average_match_score": average,
                        "top_matching_industries": industries(&pool, 3),
                        "skill_gaps": gaps.iter().take(10).collect::<Vec<_>>(),
                    },
                    "improvement_areas": {
                        "priority_skills": gaps.iter().take(5).map(|g| g.skill.as_str()).collect::<Vec<_>>(),
                        "experience_gaps": experience_gap(profile, &pool),
                        "education_opportunities": education_gap(profile, &pool),
                    },
                    "market_insights": {
                        "demand_trends": skill_demand(profile, &pool),
                        "salary_expectations": salary_range(&pool),
                        "competition_analysis": competition,
                    },
                },
                "generated_at": now_iso(),
            }),
            "分析完成".into(),
            started,
            json!({"pool": pool.len()}),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_zero_values_mean_absent() {
        let r: JobMatchingRequest =
            serde_json::from_str(r#"{"resume_id": 0, "limit": 0, "filters": null}"#).unwrap();
        assert_eq!(r.resume_id, None);
        assert_eq!(match_limit(r.limit), DEFAULT_MATCHES);
        let r: JobMatchingRequest = serde_json::from_str(r#"{"resume_id": "42"}"#).unwrap();
        assert_eq!(r.resume_id, Some(Id(42)));
        assert!(serde_json::from_str::<JobMatchingRequest>(r#"{"resume_id": -3}"#).is_err());
        assert_eq!(match_limit(Some(-1)), DEFAULT_MATCHES);
        assert_eq!(match_limit(Some(5)), 5);
        assert_eq!(match_limit(Some(5000)), MAX_MATCHES);
    }

    #[test]
    fn short_names_drop_the_legal_form() {
        assert_eq!(
            short_name("深圳市腾讯计算机系统有限公司"),
            "深圳市腾讯计算机系统"
        );
        assert_eq!(short_name("华为技术股份有限公司"), "华为技术");
        assert_eq!(short_name("示例科技"), "示例科技");
        assert_eq!(short_name("有限公司"), "有限公司");
        assert_eq!(short_name("阿里巴巴（中国）有限公司"), "阿里巴巴");
    }
}
