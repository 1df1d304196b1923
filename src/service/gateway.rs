//! The gateway's AI features (`GET /api/v1/ai/features` ids 1–3) as asynchronous analyses of
//! `POST /api/v1/ai/start-analysis`: **1** resume optimisation, **2** job matching, **3**
//! interview preparation. Each analyses the resume (the stored one, or a text that is not
//! stored when the request names no resume) and reports what the original's result carried —
//! `score`, `suggestions`, `keywords`, `industryMatch` (job category → fit of the resume's
//! best matches in it) and `competitiveness` (where the score stands among the stored
//! resumes) — plus the feature's own part: the best jobs (2), interview questions built from
//! the resume and its best jobs, by the LLM when there is one (3).

use serde::Serialize;
use serde_json::{json, Map, Value};

use super::insights::{industries, job_of, skill_gaps, StoredAnalysis};
use super::llm::Analyser;
use super::matching::Matching;
use super::recommend::Ranked;
use super::{blocking, AiService, Result};
use crate::analysis::llm as prompts;
use crate::entity::{Id, ResumeData, MAX_ID};
use crate::recommend::features::resume_features;
use crate::recommend::Profile;
use crate::store::Collection;
use crate::vector::Filter;

/// Best jobs a job-matching feature answers.
const FEATURE_MATCHES: usize = 10;
/// Jobs the industry fit and the interview questions are drawn from.
const FEATURE_POOL: usize = 30;
/// Industries reported in `industryMatch`.
const INDUSTRIES: usize = 5;

/// A gateway feature a task runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum Feature {
    ResumeOptimization,
    JobMatching,
    InterviewPrep,
}

impl Feature {
    pub const ALL: [Feature; 3] = [
        Feature::ResumeOptimization,
        Feature::JobMatching,
        Feature::InterviewPrep,
    ];

    pub fn id(self) -> u32 {
        match self {
            Feature::ResumeOptimization => 1,
            Feature::JobMatching => 2,
            Feature::InterviewPrep => 3,
        }
    }

    pub fn from_id(id: u32) -> Option<Feature> {
        Feature::ALL.into_iter().find(|f| f.id() == id)
    }

    /// The feature a `type` names when the request has no `featureId`.
    pub fn from_type(kind: &str) -> Option<Feature> {
        match kind.trim().to_lowercase().replace('-', "_").as_str() {
            "resume" | "resume_optimization" | "resume_analysis" | "简历优化" => {
                Some(Feature::ResumeOptimization)
            }
            "job_matching" | "matching" | "job" | "职位匹配" => Some(Feature::JobMatching),
            "interview" | "interview_prep" | "interview_preparation" | "面试准备" => {
                Some(Feature::InterviewPrep)
            }
            _ => None,
        }
    }

    pub fn title(self) -> &'static str {
        match self {
            Feature::ResumeOptimization => "简历优化",
            Feature::JobMatching => "职位匹配",
            Feature::InterviewPrep => "面试准备",
        }
    }
}

/// Job category → the mean match score of the resume's best jobs in it, for the categories
/// with the most of them.
fn industry_match(pool: &[Ranked]) -> Map<String, Value> {
    industries(pool, INDUSTRIES)
        .into_iter()
        .map(|f| (f.industry.to_string(), json!(f.average_match_score)))
        .collect()
}

/// Interview questions from the resume's experience and skills and its best jobs (the rules'
/// questions, used without an LLM or when its answer is unusable).
fn rule_questions(profile: &Profile, analysis: &StoredAnalysis, pool: &[Ranked]) -> Vec<String> {
    let mut q = Vec::new();
    if let Some(exp) = analysis.experience.first() {
        let exp: String = exp.chars().take(60).collect();
        q.push(format!(
            "请详细介绍你在「{exp}」这段经历中负责的工作、遇到的最大挑战和取得的成果。"
        ));
    }
    for r in pool.iter().take(3) {
        let job = job_of(r);
        let have = crate::recommend::matched_skills(profile, job);
        if let Some(skill) = have.first() {
            q.push(format!(
                "「{}」岗位需要 {skill}：请举一个你用 {skill} 解决实际问题的例子，你是怎么做的？",
                job.title
            ));
        }
        if let Some(gap) = job
            .required
            .iter()
            .chain(&job.preferred)
            .find(|s| !profile.has_skill(s.key))
        {
            q.push(format!(
                "「{}」岗位要求 {}，你的简历中没有体现：你有相关经验吗？如果没有，你会如何快速掌握？",
                job.title, gap.name
            ));
        }
        if let Some(c) = job.culture.first() {
            q.push(format!("这个岗位看重「{c}」：请举例说明你在这方面的经历。"));
        }
    }
    if profile.years.is_some_and(|y| y >= 3.0) {
        q.push("请介绍一次你带领或推动团队完成项目的经历，你如何分工和协调？".into());
    }
    q.push("你为什么想应聘这个职位？未来三年的职业规划是什么？".into());
    let mut seen = std::collections::HashSet::new();
    q.retain(|x| seen.insert(x.clone()));
    q.truncate(8);
    q
}

/// What a feature task reports beside the analysis response.
pub(crate) struct FeatureInput<'a> {
    pub feature: Feature,
    /// The analysis response (`POST /api/v1/analyze/resume`'s body, or the preview's).
    pub result: &'a Value,
    /// The stored resume the task analysed, if any.
    pub resume_id: Option<Id>,
    pub content: &'a str,
}

impl AiService {
    /// Analyses a resume text without storing it (a gateway feature without a resume id):
    /// the analysis response without id and vectors, and the profile matching reads.
    pub(crate) async fn preview_resume(&self, data: ResumeData) -> Result<(Value, Profile)> {
        let (resp, entity) = self
            .prepare_resume(Id(MAX_ID), data, Analyser::Auto)
            .await?;
        let mut profile = resume_features(&entity.payload, &entity.document);
        let overall = entity.vectors.get("overall").cloned().unwrap_or_default();
        let norm = overall.iter().map(|x| x * x).sum::<f32>().sqrt();
        profile.overall = if norm > 0.0 {
            overall.iter().map(|x| x / norm).collect()
        } else {
            Vec::new()
        };
        let mut v =
            serde_json::to_value(resp).map_err(|e| super::ServiceError::Internal(e.to_string()))?;
        if let Some(o) = v.as_object_mut() {
            o.remove("resume_id");
            o.remove("vectors");
            o.insert("stored".into(), json!(false));
        }
        Ok((v, profile))
    }

    /// Percent of the stored resumes whose analysis score is below `score` (ties count half),
    /// and how many were compared; 50 when none has a score.
    fn competitiveness(&self, score: f64) -> Result<(u32, usize)> {
        let range = |gt: Option<f64>, lt: Option<f64>| Filter::Range {
            field: "score".into(),
            gte: None,
            gt,
            lte: None,
            lt,
        };
        let find = |f: &Filter| -> Result<usize> {
            Ok(self.engine.find(Collection::Resumes, f, usize::MAX)?.len())
        };
        let total = find(&range(Some(-1.0), None))?;
        if total == 0 {
            return Ok((50, 0));
        }
        let below = find(&range(None, Some(score - 0.5)))?;
        let equal = find(&range(Some(score - 0.5), Some(score + 0.5)))?;
        let pct = (below as f64 + equal as f64 / 2.0) / total as f64 * 100.0;
        Ok((pct.round().clamp(0.0, 100.0) as u32, total))
    }

    /// The feature's report (see the module documentation).
    pub(crate) async fn feature_report(
        &self,
        input: FeatureInput<'_>,
        profile: Profile,
    ) -> Result<Value> {
        let a = &input.result["analysis"];
        let analysis: StoredAnalysis = serde_json::from_value(a.clone()).unwrap_or_default();
        let score = analysis.score.unwrap_or(0.0);
        let this = self.clone();
        let feature = input.feature;
        let (pool, matches, competitiveness, profile) = blocking(move || {
            let wishes = Self::wishes(&profile, &Map::new());
            let weights = this.config.recommend_weights;
            let k = (FEATURE_POOL * 10)
                .max(this.config.recommend_candidates)
                .min(crate::vector::MAX_K);
            let pool = this.rank_jobs(&profile, &wishes, None, k, FEATURE_POOL, &weights)?;
            let matches = if feature == Feature::JobMatching {
                this.match_results(&profile, &wishes, None, FEATURE_MATCHES, Matching::Standard)?
            } else {
                Vec::new()
            };
            let competitiveness = this.competitiveness(score)?;
            Ok((pool, matches, competitiveness, profile))
        })
        .await?;
        let gaps = skill_gaps(&profile, &pool);
        let mut report = json!({
            "featureId": feature.id(),
            "title": feature.title(),
            "score": a["score"].clone(),
            "suggestions": a["suggestions"].clone(),
            "keywords": a["skills"].clone(),
            "industryMatch": industry_match(&pool),
            "competitiveness": competitiveness.0,
            "competitivenessBasis": competitiveness.1,
            "skillGaps": gaps.iter().take(5).collect::<Vec<_>>(),
            "resumeId": input.resume_id,
        });
        match feature {
            Feature::ResumeOptimization => {}
            Feature::JobMatching => report["matches"] = json!(matches),
            Feature::InterviewPrep => {
                let (questions, source) = self
                    .interview_questions(input.content, &profile, &analysis, &pool)
                    .await;
                report["questions"] = json!(questions);
                report["questionsSource"] = json!(source);
            }
        }
        Ok(report)
    }

    /// Interview questions: the LLM's when it answers usable ones, else the rules'.
    async fn interview_questions(
        &self,
        content: &str,
        profile: &Profile,
        analysis: &StoredAnalysis,
        pool: &[Ranked],
    ) -> (Vec<String>, &'static str) {
        if let Some(llm) = &self.llm {
            let jobs: Vec<(String, String)> = pool
                .iter()
                .take(3)
                .map(|r| {
                    let j = job_of(r);
                    let skills: Vec<&str> = j.required.iter().map(|s| s.name.as_str()).collect();
                    (j.title.clone(), skills.join("、"))
                })
                .collect();
            let task = prompts::interview_task(content, &jobs);
            match llm.run::<prompts::InterviewOutput>(task, |_| true).await {
                Ok((out, _model)) => return (prompts::interview_questions(out), "llm"),
                Err(e) => tracing::info!(reason = ?e, "interview questions from the rules"),
            }
        }
        (rule_questions(profile, analysis, pool), "rules")
    }
}
