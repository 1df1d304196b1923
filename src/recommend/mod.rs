//! Recommendation scoring: what a job, company or resume offers ([`features`]), the
//! transparent weighted score of a (profile, job) pair and the short Chinese reasons built only
//! from facts both sides state. Pure functions, no I/O: the use-cases in
//! `service::recommend` feed them the engine's candidates.
//!
//! Factors, each in 0..=1 (`match_factors`):
//! - `semantic`: cosine similarity of the overall vectors (negative similarity counts as 0);
//! - `skills`: overlap of the profile's skills with the job's, required skills (found in the
//!   requirements) weighing twice the others; 0 when either side names none;
//! - `experience`: 1 when the profile's years reach the job's minimum, falling linearly to 0 at
//!   no experience; 0.5 when one side does not say;
//! - `basic`: the mean of the city fit (same city or remote: 1, another city: 0) and the salary
//!   fit (the job's maximum reaches the expected minimum: 1, else the ratio), over the parts
//!   both sides state; 0.5 when none is known;
//! - `culture`: the share of the job's culture phrases the profile's text also names; 0.5 when
//!   the job names none;
//! - `occupation`: the standard occupations (CSCO 2022) the analyses read from the resume's
//!   position and the job's title: 1 the same, 0.5 siblings (the same level-3 group, the
//!   first three code segments), 0 unrelated; 0.5 when either side has none.
//!
//! The score is the weighted mean (weights from [`Weights`], the original matcher's
//! .35/.30/.20/.10/.05 by default, plus occupation's .02), rounded to 4 decimals.

pub mod features;

use serde::{Deserialize, Serialize};

use crate::analysis::extract::Education;
use crate::analysis::occupation::{same_group, Matcher};
pub use features::{CompanyFeatures, JobFeatures, Profile, Skill};

/// Weights of the factors. Only their ratios matter. Serialised rounded to 4 decimals (an
/// `f32` 0.1 is not written as `0.10000000149011612`).
#[derive(Debug, Clone, Copy, PartialEq, Deserialize)]
pub struct Weights {
    pub semantic: f32,
    pub skills: f32,
    pub experience: f32,
    pub basic: f32,
    pub culture: f32,
    pub occupation: f32,
}

impl Serialize for Weights {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeStruct;
        let mut st = s.serialize_struct("Weights", 6)?;
        for (name, w) in [
            ("semantic", self.semantic),
            ("skills", self.skills),
            ("experience", self.experience),
            ("basic", self.basic),
            ("culture", self.culture),
            ("occupation", self.occupation),
        ] {
            st.serialize_field(name, &round4(f64::from(w)))?;
        }
        st.end()
    }
}

impl Default for Weights {
    fn default() -> Weights {
        Weights {
            semantic: 0.35,
            skills: 0.30,
            experience: 0.20,
            basic: 0.10,
            culture: 0.05,
            occupation: DEFAULT_OCCUPATION_WEIGHT,
        }
    }
}

/// The occupation factor's weight when none is given (five weights, the original matcher's).
pub const DEFAULT_OCCUPATION_WEIGHT: f32 = 0.02;

impl Weights {
    /// Ranks by vector similarity alone (the evaluation's baseline).
    pub const SEMANTIC_ONLY: Weights = Weights {
        semantic: 1.0,
        skills: 0.0,
        experience: 0.0,
        basic: 0.0,
        culture: 0.0,
        occupation: 0.0,
    };
    /// Ranks by skill overlap alone (the evaluation's other baseline).
    pub const SKILLS_ONLY: Weights = Weights {
        semantic: 0.0,
        skills: 1.0,
        experience: 0.0,
        basic: 0.0,
        culture: 0.0,
        occupation: 0.0,
    };

    /// Parses `"0.35,0.30,0.20,0.10,0.05,0.02"` (semantic, skills, experience, basic,
    /// culture, occupation); with five numbers occupation weighs
    /// [`DEFAULT_OCCUPATION_WEIGHT`].
    pub fn parse(s: &str) -> Result<Weights, String> {
        let parts: Vec<f32> = s
            .split(',')
            .map(|p| p.trim().parse::<f32>())
            .collect::<Result<_, _>>()
            .map_err(|e| format!("weights must be numbers separated by commas: {e}"))?;
        let (semantic, skills, experience, basic, culture, occupation) = match parts[..] {
            [a, b, c, d, e] => (a, b, c, d, e, DEFAULT_OCCUPATION_WEIGHT),
            [a, b, c, d, e, f] => (a, b, c, d, e, f),
            _ => {
                return Err(format!(
                    "weights must be five or six numbers (semantic, skills, experience, basic, culture[, occupation]), got {}",
                    parts.len()
                ))
            }
        };
        let w = Weights {
            semantic,
            skills,
            experience,
            basic,
            culture,
            occupation,
        };
        // The numbers given must not all be zero (five zeros would leave the default occupation
        // weight alone).
        let given: f32 = parts.iter().sum();
        if w.as_array().iter().any(|x| !x.is_finite() || *x < 0.0) || given <= 0.0 {
            return Err("weights must be non-negative and not all zero".into());
        }
        Ok(w)
    }

    fn as_array(&self) -> [f32; 6] {
        [
            self.semantic,
            self.skills,
            self.experience,
            self.basic,
            self.culture,
            self.occupation,
        ]
    }

    fn total(&self) -> f32 {
        self.as_array().iter().sum()
    }
}

/// The six factors of a match, each in 0..=1.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Factors {
    pub semantic: f32,
    pub skills: f32,
    pub experience: f32,
    pub basic: f32,
    pub culture: f32,
    pub occupation: f32,
}

impl Factors {
    /// The weighted mean, rounded to 4 decimals.
    pub fn score(&self, w: &Weights) -> f64 {
        let t = w.total();
        if t <= 0.0 {
            return 0.0;
        }
        let s = (self.semantic * w.semantic
            + self.skills * w.skills
            + self.experience * w.experience
            + self.basic * w.basic
            + self.culture * w.culture
            + self.occupation * w.occupation)
            / t;
        round4(f64::from(s))
    }

    /// `match_factors`: each factor rounded to 4 decimals, by name.
    pub fn to_map(&self) -> serde_json::Map<String, serde_json::Value> {
        let mut m = serde_json::Map::new();
        for (k, v) in [
            ("semantic", self.semantic),
            ("skills", self.skills),
            ("experience", self.experience),
            ("basic", self.basic),
            ("culture", self.culture),
            ("occupation", self.occupation),
        ] {
            m.insert(k.into(), serde_json::json!(round4(f64::from(v))));
        }
        m
    }
}

pub fn round4(x: f64) -> f64 {
    (x * 10_000.0).round() / 10_000.0
}

/// What the profile wants beyond what it is: the city and minimum monthly salary (from the
/// request's filters, else the resume's stated wishes, else the platform's profile).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Wishes {
    pub city: Option<String>,
    pub salary_min: Option<f64>,
}

/// How many of the job's skills the profile has (counts only: scoring every candidate must not
/// allocate; the names are read again for the few that are explained).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct SkillMatch {
    pub matched: usize,
    pub required_matched: usize,
    pub required_total: usize,
    /// Skills the job names in all.
    pub total: usize,
}

/// The job's skills the profile has, as the job names them, required ones first.
pub fn matched_skills<'a>(profile: &Profile, job: &'a JobFeatures) -> Vec<&'a str> {
    job.required
        .iter()
        .chain(&job.preferred)
        .filter(|s| profile.has_skill(s.key))
        .map(|s| s.name.as_str())
        .collect()
}

fn skills_factor(profile: &Profile, m: &SkillMatch) -> f32 {
    if m.total == 0 || profile.skills.is_empty() {
        return 0.0;
    }
    let preferred_total = m.total - m.required_total;
    let preferred_matched = m.matched - m.required_matched;
    let num = 2 * m.required_matched + preferred_matched;
    let den = 2 * m.required_total + preferred_total;
    num as f32 / den as f32
}

fn experience_factor(have: Option<f32>, need: Option<f32>) -> f32 {
    match (have, need) {
        (_, Some(n)) if n <= 0.0 => 1.0,
        (Some(h), Some(n)) if h >= n => 1.0,
        (Some(h), Some(n)) => (h.max(0.0) / n).clamp(0.0, 1.0),
        _ => 0.5,
    }
}

/// How well an education level meets a job's: 1 at or above it, a third less per level short,
/// 0.5 when either side states none (as for experience: silence is not a mismatch).
pub fn education_factor(have: Option<Education>, need: Option<Education>) -> f32 {
    match (have, need) {
        (Some(h), Some(n)) if h >= n => 1.0,
        (Some(h), Some(n)) => (1.0 - (n as i32 - h as i32) as f32 / 3.0).max(0.0),
        _ => 0.5,
    }
}

/// The city part of the basic fit: `None` when no city is wished, or the job states none and
/// is not remote.
fn city_fit(wanted: bool, remote: bool, same_city: Option<bool>) -> Option<f32> {
    if !wanted {
        return None;
    }
    if remote {
        return Some(1.0);
    }
    Some(if same_city? { 1.0 } else { 0.0 })
}

/// The salary part of the basic fit, against the top of the job's range.
fn salary_fit(wanted: Option<f64>, top: Option<f64>) -> Option<f32> {
    let w = wanted.filter(|w| *w > 0.0)?;
    let top = top?;
    Some(if top >= w {
        1.0
    } else {
        (top / w).clamp(0.0, 1.0) as f32
    })
}

fn mean_or_half(parts: [Option<f32>; 2]) -> f32 {
    let (mut sum, mut n) = (0.0, 0);
    for x in parts.into_iter().flatten() {
        sum += x;
        n += 1;
    }
    if n == 0 {
        0.5
    } else {
        sum / n as f32
    }
}

/// The share of `other`'s culture phrases the profile names (0.5 when either side names none:
/// silence is not a mismatch).
fn culture_factor(profile: &[&'static str], other: &[&'static str]) -> f32 {
    let shared = other.iter().filter(|p| profile.contains(p)).count();
    culture_share(profile.is_empty(), shared, other.len())
}

fn culture_share(profile_silent: bool, shared: usize, total: usize) -> f32 {
    if total == 0 || profile_silent {
        return 0.5;
    }
    shared as f32 / total as f32
}

/// How two occupations (their `code_num`s) relate: 1 the same, 0.5 siblings (same level-3
/// group), 0 unrelated; 0.5 when either is unknown (silence is not a mismatch).
pub fn occupation_factor(profile: Option<u32>, job: Option<u32>) -> f32 {
    match (profile, job) {
        (Some(p), Some(j)) if p == j => 1.0,
        (Some(p), Some(j)) if same_group(p, j) => 0.5,
        (Some(_), Some(_)) => 0.0,
        _ => 0.5,
    }
}

/// "职业匹配：软件开发人员" for the same occupation, "职业相近：…（同属…）" for a sibling; `None`
/// otherwise or when either side has none.
fn occupation_reason(profile: Option<u32>, job: Option<u32>) -> Option<String> {
    let (p, j) = (profile?, job?);
    let m = Matcher::bundled();
    let name = &m.row_num(j)?.name;
    if p == j {
        Some(format!("职业匹配：{name}"))
    } else if same_group(p, j) {
        match m.group(j).filter(|g| g.code_num != j) {
            Some(g) => Some(format!("职业相近：{name}（同属{}）", g.name)),
            None => Some(format!("职业相近：{name}")),
        }
    } else {
        None
    }
}

fn shared_culture(profile: &[&'static str], other: &[&'static str]) -> Vec<&'static str> {
    other
        .iter()
        .copied()
        .filter(|p| profile.contains(p))
        .collect()
}

/// The factors of a (profile, job) pair whose overall vectors are `distance` apart (cosine
/// distance), and the skill counts behind them. No allocation.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct JobMatch {
    pub factors: Factors,
    pub skills: SkillMatch,
}

fn skill_match(job: &JobFeatures, has: impl Fn(u64) -> bool) -> SkillMatch {
    let required_matched = job.required.iter().filter(|s| has(s.key)).count();
    let preferred_matched = job.preferred.iter().filter(|s| has(s.key)).count();
    SkillMatch {
        matched: required_matched + preferred_matched,
        required_matched,
        required_total: job.required.len(),
        total: job.required.len() + job.preferred.len(),
    }
}

/// The job's side of a match, as facts: from its features or from its [`JobCard`].
struct JobFacts {
    skills: SkillMatch,
    years_min: Option<f32>,
    remote: bool,
    /// The job's city is the wished one (`None`: the job states no city).
    same_city: Option<bool>,
    salary_top: Option<f64>,
    culture_shared: usize,
    culture_total: usize,
    /// The job's occupation (`code_num`).
    occupation: Option<u32>,
}

fn job_match(profile: &Profile, wishes: &Wishes, job: JobFacts, distance: f32) -> JobMatch {
    let factors = Factors {
        semantic: (1.0 - distance).clamp(0.0, 1.0),
        skills: skills_factor(profile, &job.skills),
        experience: experience_factor(profile.years, job.years_min),
        basic: mean_or_half([
            city_fit(wishes.city.is_some(), job.remote, job.same_city),
            salary_fit(wishes.salary_min, job.salary_top),
        ]),
        culture: culture_share(
            profile.culture.is_empty(),
            job.culture_shared,
            job.culture_total,
        ),
        occupation: occupation_factor(profile.occupation, job.occupation),
    };
    JobMatch {
        factors,
        skills: job.skills,
    }
}

fn facts_of(
    profile: &Profile,
    wishes: &Wishes,
    job: &JobFeatures,
    has: impl Fn(u64) -> bool,
) -> JobFacts {
    JobFacts {
        skills: skill_match(job, has),
        years_min: job.years_min,
        remote: job.remote,
        same_city: match (&wishes.city, &job.city) {
            (Some(w), Some(c)) => Some(c == w),
            (None, Some(_)) => Some(false),
            (_, None) => None,
        },
        salary_top: job.salary_max.or(job.salary_min),
        culture_shared: job
            .culture
            .iter()
            .filter(|p| profile.culture.contains(p))
            .count(),
        culture_total: job.culture.len(),
        occupation: job.occupation,
    }
}

/// Scores one job; [`JobScorer`] does the same for many jobs against one profile.
pub fn score_job(profile: &Profile, wishes: &Wishes, job: &JobFeatures, distance: f32) -> JobMatch {
    let facts = facts_of(profile, wishes, job, |k| profile.has_skill(k));
    job_match(profile, wishes, facts, distance)
}

/// The profile's side of scoring many jobs, prepared once per request: its skill keys in one
/// flat list behind a 64-bit membership mask, so the usual answer to "does the profile have
/// this skill of the job?" — no — costs one AND instead of a scan of the profile's skills;
/// the wished city's card id and the profile's culture phrases as a mask, for
/// [`JobScorer::score_card`].
pub struct JobScorer<'a> {
    profile: &'a Profile,
    wishes: &'a Wishes,
    keys: Vec<u64>,
    mask: u64,
    city: u32,
    culture: u32,
}

impl<'a> JobScorer<'a> {
    pub fn new(profile: &'a Profile, wishes: &'a Wishes) -> JobScorer<'a> {
        let keys: Vec<u64> = profile.skills.iter().map(|s| s.key).collect();
        let mask = keys.iter().fold(0u64, |m, k| m | 1 << (k & 63));
        JobScorer {
            profile,
            wishes,
            keys,
            mask,
            city: wishes.city.as_deref().map_or(u32::MAX, features::city_id),
            // A phrase outside the known list matches no card's.
            culture: profile
                .culture
                .iter()
                .filter_map(|p| features::culture_bit(p))
                .fold(0, |m, b| m | b),
        }
    }

    #[inline]
    fn has(&self, key: u64) -> bool {
        self.mask & (1 << (key & 63)) != 0 && self.keys.contains(&key)
    }

    /// [`score_job`] of `job` against the scorer's profile and wishes.
    pub fn score(&self, job: &JobFeatures, distance: f32) -> JobMatch {
        let facts = facts_of(self.profile, self.wishes, job, |k| self.has(k));
        job_match(self.profile, self.wishes, facts, distance)
    }

    /// A cached job's match: from its card, or from its features where the card cannot stand
    /// for it; `None` for an entry that is not a job's.
    #[inline]
    pub fn score_cached(&self, e: &features::Cached, distance: f32) -> Option<JobMatch> {
        if !e.card.full_only {
            return Some(self.score_card(&e.card, distance));
        }
        match &*e.features {
            features::Features::Job(job) => Some(self.score(job, distance)),
            _ => None,
        }
    }

    /// [`JobScorer::score`] of the job `card` was made from (`card` must not be
    /// [`JobCard::full_only`](features::JobCard)).
    #[inline]
    pub fn score_card(&self, card: &features::JobCard, distance: f32) -> JobMatch {
        debug_assert!(!card.full_only);
        let n = usize::from(card.n_skills);
        let r = usize::from(card.n_required);
        let (mut matched, mut required_matched) = (0, 0);
        for (i, k) in card.keys[..n].iter().enumerate() {
            if self.has(*k) {
                matched += 1;
                required_matched += usize::from(i < r);
            }
        }
        let facts = JobFacts {
            skills: SkillMatch {
                matched,
                required_matched,
                required_total: r,
                total: n,
            },
            years_min: (!card.years_min.is_nan()).then_some(card.years_min),
            remote: card.remote,
            same_city: (card.city != 0).then_some(card.city == self.city),
            salary_top: (!card.salary_top.is_nan()).then_some(card.salary_top),
            culture_shared: (card.culture & self.culture).count_ones() as usize,
            culture_total: card.culture.count_ones() as usize,
            occupation: (card.occupation != 0).then_some(card.occupation),
        };
        job_match(self.profile, self.wishes, facts, distance)
    }
}

/// A sort key giving the recommendation order: score descending (in `f64::total_cmp` order),
/// then id ascending. Keys of distinct ids differ, so an unstable sort or a selection by key
/// gives exactly the order of a stable sort by (score desc, id asc).
pub fn rank_key(score: f64, id: u64) -> u128 {
    let b = score.to_bits();
    // total_cmp's order as an unsigned integer: negatives reversed below the positives.
    let ordered = if b >> 63 == 1 { !b } else { b | 1 << 63 };
    (u128::from(!ordered) << 64) | u128::from(id)
}

/// Keeps the `n` best of `items` by [`rank_key`] (`key` gives each item's score and id), in
/// rank order: a selection then a sort of `n`, instead of a sort of all.
pub fn top_ranked<T>(items: &mut Vec<T>, n: usize, key: impl Fn(&T) -> (f64, u64)) {
    let k = |t: &T| {
        let (score, id) = key(t);
        rank_key(score, id)
    };
    if n == 0 {
        items.clear();
        return;
    }
    if items.len() > n {
        items.select_nth_unstable_by_key(n - 1, &k);
        items.truncate(n);
    }
    items.sort_unstable_by_key(k);
}

/// "深圳市" → "深圳" for display (names of one character plus 市 are kept).
pub fn short_city(c: &str) -> &str {
    match c.strip_suffix('市') {
        Some(s) if s.chars().count() >= 2 => s,
        _ => c,
    }
}

/// "15-25K", "15K", "1.5-2.5万" style salary text of a job's posted range (monthly CNY).
pub fn salary_text(lo: Option<f64>, hi: Option<f64>) -> Option<String> {
    let k = |v: f64| {
        let x = v / 1000.0;
        if (x - x.round()).abs() < 0.05 {
            format!("{}", x.round() as i64)
        } else {
            format!("{x:.1}")
        }
    };
    match (lo, hi) {
        (Some(a), Some(b)) if (a - b).abs() < 0.5 => Some(format!("{}K", k(a))),
        (Some(a), Some(b)) => Some(format!("{}-{}K", k(a), k(b))),
        (Some(a), None) => Some(format!("{}K起", k(a))),
        (None, Some(b)) => Some(format!("最高{}K", k(b))),
        (None, None) => None,
    }
}

/// "技能匹配：React、Vue（3项中2项）" (at most five names shown), or `None` without a match.
fn skills_reason(profile: &Profile, job: &JobFeatures, m: &JobMatch) -> Option<String> {
    if m.skills.matched == 0 {
        return None;
    }
    let names = matched_skills(profile, job);
    let more = if names.len() > 5 { "等" } else { "" };
    Some(format!(
        "技能匹配：{}{}（{}项中{}项）",
        names[..names.len().min(5)].join("、"),
        more,
        m.skills.total,
        names.len()
    ))
}

/// Reasons for recommending `job` to `profile`, each from facts both sides state, most
/// telling first; at most five.
pub fn job_reasons(
    profile: &Profile,
    wishes: &Wishes,
    job: &JobFeatures,
    m: &JobMatch,
) -> Vec<String> {
    let mut out = Vec::new();
    if let Some(r) = skills_reason(profile, job, m) {
        out.push(r);
    }
    out.extend(occupation_reason(profile.occupation, job.occupation));
    match (profile.years, job.years_min) {
        (Some(h), Some(n)) if n > 0.0 && h >= n => out.push(format!(
            "经验符合：要求{}年以上，您有{}年",
            crate::analysis::extract::fmt_years(n),
            crate::analysis::extract::fmt_years(h)
        )),
        (Some(_), Some(n)) if n <= 0.0 => out.push("经验不限".to_string()),
        _ => {}
    }
    if job.remote {
        out.push("支持远程办公".to_string());
    } else if let (Some(w), Some(c)) = (wishes.city.as_deref(), job.city.as_deref()) {
        if w == c {
            out.push(format!("工作地点：{}", short_city(c)));
        }
    }
    if let (Some(w), Some(text)) = (
        wishes.salary_min,
        salary_text(job.salary_min, job.salary_max),
    ) {
        let top = job.salary_max.or(job.salary_min).unwrap_or(0.0);
        let low = job.salary_min.unwrap_or(top);
        if low >= w {
            out.push(format!("薪资 {text} 高于期望"));
        } else if top >= w {
            out.push(format!("薪资 {text} 符合期望"));
        }
    }
    if let (Some(have), Some(need)) = (profile.education, job.education) {
        if have >= need {
            out.push(format!("学历符合：要求{}", need.label()));
        }
    }
    let culture = shared_culture(&profile.culture, &job.culture);
    if !culture.is_empty() {
        out.push(format!("文化契合：{}", culture.join("、")));
    }
    if out.is_empty() && m.factors.semantic >= 0.5 {
        out.push(format!(
            "职位内容与您的简历相近（相似度{:.2}）",
            m.factors.semantic
        ));
    }
    out.truncate(5);
    out
}

/// Reasons for proposing a candidate (`profile` = their resume) for `job`, from the
/// recruiter's side.
pub fn candidate_reasons(profile: &Profile, job: &JobFeatures, m: &JobMatch) -> Vec<String> {
    let mut out = Vec::new();
    if let Some(r) = skills_reason(profile, job, m) {
        out.push(r);
    }
    out.extend(occupation_reason(profile.occupation, job.occupation));
    if let Some(h) = profile.years {
        match job.years_min {
            Some(n) if h >= n && n > 0.0 => out.push(format!(
                "{}年工作经验，满足{}年以上的要求",
                crate::analysis::extract::fmt_years(h),
                crate::analysis::extract::fmt_years(n)
            )),
            _ => out.push(format!(
                "{}年工作经验",
                crate::analysis::extract::fmt_years(h)
            )),
        }
    }
    if let (Some(c), Some(jc)) = (profile.city.as_deref(), job.city.as_deref()) {
        if c == jc {
            out.push(format!("期望城市：{}", short_city(c)));
        }
    }
    if let Some(e) = profile.education {
        match job.education {
            Some(need) if e >= need => out.push(format!("学历{}，符合要求", e.label())),
            _ => out.push(format!("学历：{}", e.label())),
        }
    }
    out.truncate(5);
    out
}

/// The factors of a (profile, company) pair: the company's own vector and culture, and the
/// best of its open jobs that fit the profile (`best_job`).
pub fn score_company(
    profile: &Profile,
    wishes: &Wishes,
    company: &CompanyFeatures,
    distance: Option<f32>,
    best_job: Option<&JobMatch>,
) -> Factors {
    let own = distance.map_or(0.0, |d| (1.0 - d).clamp(0.0, 1.0));
    let city = wishes.city.as_deref().and_then(|w| {
        company
            .city
            .as_deref()
            .map(|c| if c == w { 1.0 } else { 0.0 })
    });
    let culture = culture_factor(&profile.culture, &company.culture);
    match best_job {
        Some(j) => Factors {
            semantic: own.max(j.factors.semantic),
            skills: j.factors.skills,
            experience: j.factors.experience,
            basic: match city {
                Some(c) => (c + j.factors.basic) / 2.0,
                None => j.factors.basic,
            },
            culture: if company.culture.is_empty() {
                j.factors.culture
            } else {
                culture
            },
            occupation: j.factors.occupation,
        },
        None => Factors {
            semantic: own,
            skills: 0.0,
            experience: 0.5,
            basic: city.unwrap_or(0.5),
            culture,
            occupation: 0.5,
        },
    }
}

/// Reasons for recommending a company: its open jobs that fit (best first) and facts of the
/// company.
pub fn company_reasons(
    wishes: &Wishes,
    company: &CompanyFeatures,
    jobs: &[(&JobFeatures, JobMatch)],
    profile: &Profile,
) -> Vec<String> {
    let mut out = Vec::new();
    if let Some((best, _)) = jobs.first() {
        if jobs.len() > 1 {
            out.push(format!("在招匹配职位：{}等{}个", best.title, jobs.len()));
        } else {
            out.push(format!("在招匹配职位：{}", best.title));
        }
        let names = matched_skills(profile, best);
        if !names.is_empty() {
            out.push(format!(
                "技能匹配：{}",
                names[..names.len().min(5)].join("、")
            ));
        }
    }
    if let (Some(w), Some(c)) = (wishes.city.as_deref(), company.city.as_deref()) {
        if w == c {
            out.push(format!("公司地点：{}", short_city(c)));
        }
    }
    if !company.industry.is_empty() {
        out.push(format!("行业：{}", company.industry));
    }
    let shared = shared_culture(&profile.culture, &company.culture);
    if !shared.is_empty() {
        out.push(format!("文化契合：{}", shared.join("、")));
    }
    out.truncate(5);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn job() -> JobFeatures {
        JobFeatures {
            title: "前端开发工程师".into(),
            company: "腾讯".into(),
            company_id: Some(1),
            city: Some("深圳市".into()),
            remote: false,
            salary_min: Some(15_000.0),
            salary_max: Some(25_000.0),
            years_min: Some(3.0),
            education: Some(Education::Bachelor),
            industry: Some("互联网".into()),
            required: vec![Skill::new("React"), Skill::new("Vue")],
            preferred: vec![Skill::new("TypeScript")],
            culture: vec!["团队合作"],
            // 计算机程序设计员.
            occupation: Some(4_040_501),
        }
    }

    fn profile() -> Profile {
        Profile {
            skills: vec![Skill::new("react"), Skill::new("TypeScript")],
            years: Some(5.0),
            education: Some(Education::Master),
            city: Some("深圳市".into()),
            culture: vec!["团队合作", "创新"],
            ..Profile::default()
        }
    }

    #[test]
    fn factors_reasons_and_weights() {
        let p = profile();
        let j = job();
        let w = Wishes {
            city: Some("深圳市".into()),
            salary_min: Some(10_000.0),
        };
        let m = score_job(&p, &w, &j, 0.2);
        assert!((m.factors.semantic - 0.8).abs() < 1e-6);
        // React (required, 2) + TypeScript (preferred, 1) of 2*2 + 1.
        assert!((m.factors.skills - 3.0 / 5.0).abs() < 1e-6);
        assert_eq!(m.factors.experience, 1.0);
        assert_eq!(m.factors.basic, 1.0);
        assert_eq!(m.factors.culture, 1.0);
        let r = job_reasons(&p, &w, &j, &m);
        assert_eq!(r[0], "技能匹配：React、TypeScript（3项中2项）");
        assert!(r.contains(&"工作地点：深圳".to_string()), "{r:?}");
        assert!(r.contains(&"薪资 15-25K 高于期望".to_string()), "{r:?}");
        assert!(
            r.contains(&"经验符合：要求3年以上，您有5年".to_string()),
            "{r:?}"
        );
        let full = m.factors.score(&Weights::default());
        let sem = m.factors.score(&Weights::SEMANTIC_ONLY);
        assert_eq!(sem, 0.8);
        assert!(full > 0.0 && full <= 1.0);
        // Another city, a salary below the wish: no reason cites them.
        let far = Wishes {
            city: Some("北京市".into()),
            salary_min: Some(30_000.0),
        };
        let m2 = score_job(&p, &far, &j, 0.2);
        assert!(m2.factors.basic < 0.5);
        let r2 = job_reasons(&p, &far, &j, &m2);
        assert!(
            r2.iter()
                .all(|r| !r.contains("深圳") && !r.contains("薪资")),
            "{r2:?}"
        );
    }

    #[test]
    fn same_and_sibling_occupations() {
        let j = job();
        let w = Wishes::default();
        let mut p = profile();
        // Unknown on one side: neutral, no reason.
        assert_eq!(score_job(&p, &w, &j, 0.2).factors.occupation, 0.5);
        assert!(!job_reasons(&p, &w, &j, &score_job(&p, &w, &j, 0.2))
            .iter()
            .any(|r| r.starts_with("职业")));
        p.occupation = Some(4_040_501);
        let m = score_job(&p, &w, &j, 0.2);
        assert_eq!(m.factors.occupation, 1.0);
        let r = job_reasons(&p, &w, &j, &m);
        assert_eq!(r[1], "职业匹配：计算机程序设计员", "{r:?}");
        assert!(candidate_reasons(&p, &j, &m).contains(&"职业匹配：计算机程序设计员".to_string()));
        // 计算机软件测试员 (4-04-05-02): the same group 4-04-05.
        p.occupation = Some(4_040_502);
        let m = score_job(&p, &w, &j, 0.2);
        assert_eq!(m.factors.occupation, 0.5);
        assert!(
            job_reasons(&p, &w, &j, &m)
                .contains(&"职业相近：计算机程序设计员（同属软件和信息技术服务人员）".to_string()),
            "{:?}",
            job_reasons(&p, &w, &j, &m)
        );
        // 会计专业人员: unrelated.
        p.occupation = Some(2_060_300);
        let m = score_job(&p, &w, &j, 0.2);
        assert_eq!(m.factors.occupation, 0.0);
        assert!(!job_reasons(&p, &w, &j, &m)
            .iter()
            .any(|r| r.starts_with("职业")));
        assert_eq!(m.factors.to_map()["occupation"], 0.0);
    }

    #[test]
    fn silence_about_culture_is_neutral() {
        let mut p = profile();
        p.culture.clear();
        let m = score_job(&p, &Wishes::default(), &job(), 0.2);
        assert_eq!(m.factors.culture, 0.5);
        let mut j = job();
        j.culture.clear();
        assert_eq!(
            score_job(&profile(), &Wishes::default(), &j, 0.2)
                .factors
                .culture,
            0.5
        );
    }

    #[test]
    fn weights_parse() {
        assert_eq!(
            Weights::parse("0.35,0.30,0.20,0.10,0.05").unwrap(),
            Weights::default()
        );
        assert_eq!(
            Weights::parse("0.35,0.30,0.20,0.10,0.05,0.2")
                .unwrap()
                .occupation,
            0.2
        );
        assert!(Weights::parse("1,2").is_err());
        assert!(Weights::parse("1,1,1,1,1,1,1").is_err());
        assert!(Weights::parse("0,0,0,0,0").is_err());
        assert!(Weights::parse("-1,1,1,1,1").is_err());
    }

    #[test]
    fn rank_key_orders_like_a_stable_sort_by_score_then_id() {
        let specials = [
            f64::NAN,
            -f64::NAN,
            0.0,
            -0.0,
            f64::INFINITY,
            f64::NEG_INFINITY,
            1.0,
            -1.0,
            0.5,
        ];
        let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
        let mut items: Vec<(u64, f64)> = Vec::new();
        for id in 0..500u64 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            // Few distinct scores, so ties on the score are common.
            let score = if x.is_multiple_of(5) {
                specials[(x >> 8) as usize % specials.len()]
            } else {
                ((x >> 16) % 7) as f64 / 7.0
            };
            items.push(((x >> 24) % 1_000_000 + id * 1_000_000, score));
        }
        let mut want = items.clone();
        want.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
        for n in [0, 1, 10, 200, 500, 600] {
            let mut got = items.clone();
            top_ranked(&mut got, n, |t| (t.1, t.0));
            let want: Vec<_> = want.iter().take(n).collect();
            assert_eq!(got.len(), want.len(), "n = {n}");
            for (g, w) in got.iter().zip(&want) {
                assert_eq!((g.0, g.1.to_bits()), (w.0, w.1.to_bits()), "n = {n}");
            }
        }
    }

    #[test]
    fn the_scorer_counts_skills_as_the_profile_states_them() {
        // Many skills, so the 64-bit mask has collisions the list must resolve.
        let names: Vec<String> = (0..150).map(|i| format!("skill-{i}")).collect();
        let mut p = profile();
        p.add_skills(&names[..75]);
        let mut j = job();
        j.required = names[50..100].iter().map(|n| Skill::new(n)).collect();
        j.preferred = names[60..140]
            .iter()
            .step_by(3)
            .map(|n| Skill::new(n))
            .collect();
        let w = Wishes::default();
        let m = JobScorer::new(&p, &w).score(&j, 0.3);
        let has = |s: &Skill| p.skills.iter().any(|x| x.key == s.key);
        let req = j.required.iter().filter(|s| has(s)).count();
        let pref = j.preferred.iter().filter(|s| has(s)).count();
        assert_eq!(req, 25);
        assert_eq!(m.skills.required_matched, req);
        assert_eq!(m.skills.matched, req + pref);
        assert_eq!(m.skills.total, j.required.len() + j.preferred.len());
        assert_eq!(m, score_job(&p, &w, &j, 0.3));
    }

    #[test]
    fn a_card_scores_as_the_features_it_was_made_from() {
        use crate::analysis::job::CULTURE_SIGNALS;
        use features::JobCard;
        let mut x: u64 = 0x2545_f491_4f6c_dd1d;
        let mut next = move |n: u64| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x % n
        };
        let names: Vec<String> = (0..24).map(|i| format!("Skill{i}")).collect();
        let cities = ["深圳市", "北京市", "上海市"];
        let wished = ["深圳市", "北京市", "拉萨市", "Nowhere"];
        let phrases: Vec<&'static str> = CULTURE_SIGNALS.iter().map(|(_, p)| *p).collect();
        let (mut carded, mut full) = (0, 0);
        for _ in 0..400 {
            let mut j = job();
            let n = next(16) as usize;
            let start = next(8) as usize;
            let skills: Vec<Skill> = names[start..start + n]
                .iter()
                .map(|s| Skill::new(s))
                .collect();
            let r = next(n as u64 + 1) as usize;
            j.required = skills[..r].to_vec();
            j.preferred = skills[r..].to_vec();
            j.city = (next(4) > 0).then(|| cities[next(3) as usize].to_string());
            j.remote = next(5) == 0;
            j.salary_min = (next(3) > 0).then(|| (next(30) * 1000) as f64);
            j.salary_max = (next(3) > 0).then(|| (next(50) * 1000) as f64);
            j.years_min = (next(3) > 0).then(|| next(8) as f32 * 0.5);
            j.culture = (0..next(4)).map(|_| phrases[next(20) as usize]).collect();
            j.culture.dedup();
            if next(20) == 0 {
                j.culture.push("团队合作");
            }
            let occupations = [None, Some(2_021_003), Some(2_021_008), Some(2_060_300)];
            j.occupation = occupations[next(4) as usize];
            let card = JobCard::of(&j);
            if card.full_only {
                full += 1;
                let dup = (1..j.culture.len()).any(|i| j.culture[..i].contains(&j.culture[i]));
                assert!(
                    n > features::CARD_SKILLS || j.culture.contains(&"团队合作") || dup,
                    "{j:?}"
                );
                continue;
            }
            carded += 1;
            for _ in 0..5 {
                let mut p = profile();
                p.skills = (0..next(10))
                    .map(|_| Skill::new(&names[next(24) as usize].to_lowercase()))
                    .collect();
                p.years = (next(3) > 0).then(|| next(10) as f32);
                p.culture = (0..next(4)).map(|_| phrases[next(20) as usize]).collect();
                if next(4) == 0 {
                    p.culture.push("团队合作");
                }
                p.occupation = occupations[next(4) as usize];
                let w = Wishes {
                    city: (next(3) > 0).then(|| wished[next(4) as usize].to_string()),
                    salary_min: (next(3) > 0).then(|| (next(40) * 1000) as f64),
                };
                let d = next(1000) as f32 / 500.0;
                let scorer = JobScorer::new(&p, &w);
                assert_eq!(
                    scorer.score_card(&card, d),
                    scorer.score(&j, d),
                    "{j:?} {p:?} {w:?}"
                );
                assert_eq!(scorer.score(&j, d), score_job(&p, &w, &j, d));
            }
        }
        assert!(carded > 200 && full > 10, "{carded} carded, {full} full");
    }

    #[test]
    fn salary_text_forms() {
        assert_eq!(salary_text(Some(15000.0), Some(25000.0)).unwrap(), "15-25K");
        assert_eq!(salary_text(Some(15500.0), None).unwrap(), "15.5K起");
        assert_eq!(salary_text(None, None), None);
    }
}
