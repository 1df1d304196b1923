//! What a resume's best matches say about it, for the matching analysis, the personalised
//! suggestions and the gateway's features: pure functions over the resume's profile, its
//! stored analysis and a pool of ranked jobs (the recommender's best for it).

use std::collections::{BTreeMap, HashMap};

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::recommend::Ranked;
use crate::recommend::features::Features;
use crate::recommend::{round4, JobFeatures, Profile, Wishes};

/// The job of a ranked match.
pub(crate) fn job_of(r: &Ranked) -> &JobFeatures {
    match &*r.2 {
        Features::Job(j) => j,
        _ => unreachable!("jobs have job features"),
    }
}

/// What the analysis and suggestions say about a resume against its best matches.
#[derive(Debug, Clone, Serialize)]
pub struct SkillGap {
    pub skill: String,
    /// Matched jobs that name the skill.
    pub jobs: usize,
    /// Of those, the ones that name it in their requirements.
    pub required_by: usize,
}

/// Skills the pool's jobs name that the profile lacks, most asked first (required counting
/// twice).
pub(crate) fn skill_gaps(profile: &Profile, pool: &[Ranked]) -> Vec<SkillGap> {
    let mut by_key: HashMap<u64, SkillGap> = HashMap::new();
    for r in pool {
        let job = job_of(r);
        let mut seen = Vec::new();
        for (s, required) in job
            .required
            .iter()
            .map(|s| (s, true))
            .chain(job.preferred.iter().map(|s| (s, false)))
        {
            if profile.has_skill(s.key) || seen.contains(&s.key) {
                continue;
            }
            seen.push(s.key);
            let g = by_key.entry(s.key).or_insert_with(|| SkillGap {
                skill: s.name.clone(),
                jobs: 0,
                required_by: 0,
            });
            g.jobs += 1;
            g.required_by += usize::from(required);
        }
    }
    let mut out: Vec<SkillGap> = by_key.into_values().collect();
    out.sort_by(|a, b| {
        (b.jobs + b.required_by)
            .cmp(&(a.jobs + a.required_by))
            .then_with(|| a.skill.cmp(&b.skill))
    });
    out
}

/// An industry among the pool's jobs: how many, and their mean match score.
#[derive(Debug, Serialize)]
pub(crate) struct IndustryFit<'a> {
    pub industry: &'a str,
    pub jobs: usize,
    pub average_match_score: f64,
}

/// The industries of the pool's jobs, most jobs first (ties: the better fit), at most `n`.
pub(crate) fn industries(pool: &[Ranked], n: usize) -> Vec<IndustryFit<'_>> {
    let mut by: BTreeMap<&str, (usize, f64)> = BTreeMap::new();
    for r in pool {
        if let Some(i) = job_of(r)
            .industry
            .as_deref()
            .filter(|i| !i.trim().is_empty())
        {
            let e = by.entry(i).or_default();
            e.0 += 1;
            e.1 += r.1;
        }
    }
    let mut v: Vec<IndustryFit> = by
        .into_iter()
        .map(|(industry, (jobs, sum))| IndustryFit {
            industry,
            jobs,
            average_match_score: round4(sum / jobs as f64),
        })
        .collect();
    v.sort_by(|a, b| {
        b.jobs
            .cmp(&a.jobs)
            .then(b.average_match_score.total_cmp(&a.average_match_score))
    });
    v.truncate(n);
    v
}

fn percentile(sorted: &[f64], p: f64) -> Option<f64> {
    if sorted.is_empty() {
        return None;
    }
    let idx = ((sorted.len() - 1) as f64 * p).round() as usize;
    Some(sorted[idx.min(sorted.len() - 1)])
}

/// Monthly salaries the pool's jobs post: the 25th percentile of their minimums, the median
/// of their midpoints, the 75th percentile of their maximums (CNY, rounded to 100).
#[derive(Debug, Serialize)]
pub(crate) struct SalaryRange {
    pub jobs_with_salary: usize,
    pub low: Option<i64>,
    pub median: Option<i64>,
    pub high: Option<i64>,
    pub currency: &'static str,
    pub period: &'static str,
}

pub(crate) fn salary_range(pool: &[Ranked]) -> SalaryRange {
    let (mut lows, mut mids, mut highs) = (Vec::new(), Vec::new(), Vec::new());
    for r in pool {
        let j = job_of(r);
        let (lo, hi) = match (j.salary_min, j.salary_max) {
            (Some(lo), Some(hi)) => (lo, hi),
            (Some(x), None) | (None, Some(x)) => (x, x),
            (None, None) => continue,
        };
        lows.push(lo);
        highs.push(hi);
        mids.push((lo + hi) / 2.0);
    }
    for v in [&mut lows, &mut mids, &mut highs] {
        v.sort_by(f64::total_cmp);
    }
    let r100 = |x: Option<f64>| x.map(|x| ((x / 100.0).round() * 100.0) as i64);
    SalaryRange {
        jobs_with_salary: lows.len(),
        low: r100(percentile(&lows, 0.25)),
        median: r100(percentile(&mids, 0.5)),
        high: r100(percentile(&highs, 0.75)),
        currency: "CNY",
        period: "month",
    }
}

/// One of the resume's skills and how many of the pool's jobs name it.
#[derive(Debug, Serialize)]
pub(crate) struct SkillDemand<'a> {
    pub skill: &'a str,
    pub jobs: usize,
    /// Of the pool.
    pub share: f64,
}

/// The resume's skills by how many of the pool's jobs name them, at most 10.
pub(crate) fn skill_demand<'a>(profile: &'a Profile, pool: &[Ranked]) -> Vec<SkillDemand<'a>> {
    let total = pool.len().max(1) as f64;
    let mut v: Vec<SkillDemand> = profile
        .skills
        .iter()
        .map(|s| {
            let jobs = pool
                .iter()
                .filter(|r| {
                    let j = job_of(r);
                    j.required
                        .iter()
                        .chain(&j.preferred)
                        .any(|x| x.key == s.key)
                })
                .count();
            SkillDemand {
                skill: s.name.as_str(),
                jobs,
                share: round4(jobs as f64 / total),
            }
        })
        .collect();
    v.sort_by(|a, b| b.jobs.cmp(&a.jobs).then_with(|| a.skill.cmp(b.skill)));
    v.truncate(10);
    v
}

fn median_f32(mut v: Vec<f32>) -> Option<f32> {
    v.sort_by(f32::total_cmp);
    v.get(v.len() / 2).copied()
}

/// A resume's stored analysis fields the insights read.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub(crate) struct StoredAnalysis {
    pub skills: Vec<String>,
    pub experience: Vec<String>,
    pub education: Vec<String>,
    pub summary: String,
    pub score: Option<f64>,
    pub suggestions: Vec<String>,
}

impl StoredAnalysis {
    pub(crate) fn of_document(doc: &Value) -> StoredAnalysis {
        serde_json::from_value(doc["analysis"].clone()).unwrap_or_default()
    }
}

/// The share of a resume's parts that are present, 0..=100.
pub(crate) fn completeness(profile: &Profile, a: &StoredAnalysis) -> u32 {
    let parts = [
        !profile.skills.is_empty(),
        !a.experience.is_empty(),
        !a.education.is_empty() || profile.education.is_some(),
        !a.summary.trim().is_empty(),
        profile.years.is_some(),
        profile.city.is_some(),
        profile.salary.is_some(),
    ];
    (parts.iter().filter(|p| **p).count() * 100 / parts.len()) as u32
}

/// What a resume does not say that matching would use.
pub(crate) fn missing_parts(profile: &Profile, a: &StoredAnalysis) -> Vec<String> {
    let mut out = Vec::new();
    if profile.skills.is_empty() {
        out.push("未列出专业技能：补充技能清单，匹配会更准确".to_string());
    }
    if a.experience.is_empty() {
        out.push("未识别到工作或项目经历：按时间写明公司、职位与成果".into());
    }
    if profile.years.is_none() {
        out.push("未写明工作年限：注明起止时间或总年限".into());
    }
    if profile.education.is_none() && a.education.is_empty() {
        out.push("未写明学历：补充学校、专业与学历".into());
    }
    if profile.city.is_none() {
        out.push("未写明期望工作城市：注明后可按城市匹配职位".into());
    }
    if profile.salary.is_none() {
        out.push("未写明期望薪资：注明后可按薪资匹配职位".into());
    }
    out
}

/// The pool's jobs that ask more experience than the profile has.
#[derive(Debug, Serialize)]
pub(crate) struct ExperienceGap {
    pub jobs: usize,
    pub your_years: Option<f64>,
    /// The median of what those jobs ask.
    pub typical_required_years: Option<f64>,
    pub pool: usize,
}

/// The pool's jobs that ask a higher education than the profile has, by level.
#[derive(Debug, Serialize)]
pub(crate) struct EducationGap {
    pub your_education: Option<&'static str>,
    pub jobs_requiring_higher: usize,
    pub by_level: BTreeMap<&'static str, usize>,
}

pub(crate) fn experience_gap(profile: &Profile, pool: &[Ranked]) -> ExperienceGap {
    let need_more: Vec<f32> = pool
        .iter()
        .filter_map(|r| job_of(r).years_min)
        .filter(|n| *n > 0.0 && profile.years.is_none_or(|h| h < *n))
        .collect();
    ExperienceGap {
        jobs: need_more.len(),
        your_years: profile.years.map(|y| round4(f64::from(y))),
        typical_required_years: median_f32(need_more).map(|y| round4(f64::from(y))),
        pool: pool.len(),
    }
}

pub(crate) fn education_gap(profile: &Profile, pool: &[Ranked]) -> EducationGap {
    let mut by_level: BTreeMap<&'static str, usize> = BTreeMap::new();
    for r in pool {
        if let Some(need) = job_of(r).education {
            if profile.education.is_none_or(|h| h < need) {
                *by_level.entry(need.label()).or_default() += 1;
            }
        }
    }
    EducationGap {
        your_education: profile.education.map(|e| e.label()),
        jobs_requiring_higher: by_level.values().sum(),
        by_level,
    }
}

/// What the resume has that its matches ask for.
pub(crate) fn strengths(profile: &Profile, a: &StoredAnalysis, pool: &[Ranked]) -> Vec<String> {
    let mut out = Vec::new();
    let demanded: Vec<SkillDemand> = skill_demand(profile, pool)
        .into_iter()
        .filter(|d| d.jobs > 0)
        .take(3)
        .collect();
    if !demanded.is_empty() {
        let names: Vec<&str> = demanded.iter().map(|d| d.skill).collect();
        out.push(format!(
            "掌握 {}：匹配职位中需求最多的技能",
            names.join("、")
        ));
    }
    if let Some(y) = profile.years {
        let met = pool
            .iter()
            .filter(|r| job_of(r).years_min.is_some_and(|n| y >= n))
            .count();
        if met > 0 {
            out.push(format!(
                "{}年工作经验，满足 {} 个匹配职位的年限要求",
                crate::analysis::extract::fmt_years(y),
                met
            ));
        }
    }
    if let Some(e) = profile.education {
        let met = pool
            .iter()
            .filter(|r| job_of(r).education.is_some_and(|n| e >= n))
            .count();
        if met > 0 {
            out.push(format!("学历{}，满足 {} 个匹配职位的要求", e.label(), met));
        }
    }
    if let Some(s) = a.score.filter(|s| *s >= 70.0) {
        out.push(format!("简历评分 {s:.0}，内容较完整"));
    }
    out
}

/// Advice from the matches: where the resume fits, what the market pays, what holds it back.
pub(crate) fn career_advice(profile: &Profile, wishes: &Wishes, pool: &[Ranked]) -> Vec<String> {
    let mut out = Vec::new();
    if let Some(top) = industries(pool, 1).first() {
        out.push(format!(
            "您的简历与「{}」行业的职位最契合（{} 个匹配职位），可优先投递",
            top.industry, top.jobs
        ));
    }
    let salary = salary_range(pool);
    if let (Some(lo), Some(hi)) = (salary.low, salary.high) {
        out.push(format!(
            "匹配职位的月薪大多在 {lo}-{hi} 元，可据此设定期望薪资"
        ));
    }
    let experience = experience_gap(profile, pool);
    if let (n @ 1.., Some(y)) = (experience.jobs, experience.typical_required_years) {
        out.push(format!(
            "{n} 个匹配职位要求的经验多于您目前的（常见要求 {y} 年），可先投递要求相当的职位，积累项目经验"
        ));
    }
    if wishes.city.is_none() {
        out.push("注明期望城市后，推荐会优先考虑当地职位".into());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_of_sorted_values() {
        let v = [1.0, 2.0, 3.0, 4.0, 5.0];
        assert_eq!(percentile(&v, 0.5), Some(3.0));
        assert_eq!(percentile(&v, 0.25), Some(2.0));
        assert_eq!(percentile(&[], 0.5), None);
    }
}
