//! Rule-based job analysis: skills, experience and education requirements, the city, a
//! salary prediction from the nearest similar jobs when the posting has none, a culture
//! reading of the description, and the standard occupation of the title.

use serde::Serialize;

use super::city::Cities;
use super::extract::{self, Education, YearsRange};
use super::lexicon::Lexicon;
use super::occupation::{Matcher, Occupation};
use crate::entity::JobData;

/// Culture signals in job and company texts, with the phrase reported for each.
pub const CULTURE_SIGNALS: &[(&str, &str)] = &[
    ("扁平", "扁平化管理"),
    ("创新", "鼓励创新"),
    ("开放", "开放透明"),
    ("技术氛围", "技术氛围浓厚"),
    ("团队氛围", "团队氛围好"),
    ("学习", "重视学习成长"),
    ("成长", "成长空间"),
    ("培训", "有培训体系"),
    ("导师", "导师制"),
    ("弹性", "弹性工作"),
    ("双休", "双休"),
    ("955", "955作息"),
    ("不加班", "不加班"),
    ("加班", "可能需要加班"),
    ("抗压", "节奏快、压力较大"),
    ("狼性", "狼性文化，节奏快"),
    ("结果导向", "结果导向"),
    ("客户第一", "客户第一"),
    ("远程", "支持远程办公"),
    ("国际化", "国际化团队"),
];

/// The `salary_prediction` object.
#[derive(Debug, Clone, Serialize)]
pub struct SalaryPrediction {
    pub min: Option<f64>,
    pub max: Option<f64>,
    pub currency: &'static str,
    pub period: &'static str,
    /// `posted` (the posting's own range), `similar_jobs` (nearest jobs in the index), or
    /// `unknown`.
    pub method: &'static str,
    /// Similar jobs the prediction is based on.
    pub sample_size: usize,
    pub confidence: f64,
}

/// A similar job's distance and salary range, from the index.
#[derive(Debug, Clone, Copy)]
pub struct SalaryNeighbour {
    pub distance: f32,
    pub min: f64,
    pub max: f64,
}

/// The `analysis` object of `POST /api/v1/analyze/job`.
#[derive(Debug, Clone, Serialize)]
pub struct JobAnalysis {
    pub enhanced_description: String,
    pub extracted_skills: Vec<String>,
    pub salary_prediction: SalaryPrediction,
    pub experience_requirements: String,
    pub company_culture_fit: String,
    pub confidence_score: f64,
    /// The standard occupation (CSCO 2022) of the title, the description breaking near-ties;
    /// `null` when none fits well enough. Always the rules': the model cannot set it.
    pub occupation: Option<Occupation>,
}

/// The occupation of a job: its title, with its description and requirements as context.
pub fn occupation(title: &str, description: &str, requirements: &str) -> Option<Occupation> {
    Matcher::bundled().best(title, &format!("{description}\n{requirements}"))
}

/// Facts kept as filterable payload.
#[derive(Debug, Clone, Default)]
pub struct JobFacts {
    pub city: Option<String>,
    pub years: Option<YearsRange>,
    pub education: Option<Education>,
}

/// Reads the filterable facts of a job (no salary work: that needs the index).
pub fn facts(job: &JobData) -> JobFacts {
    let text = format!("{}\n{}\n{}", job.title, job.description, job.requirements);
    let years = job
        .experience
        .as_deref()
        .and_then(extract::years_requirement)
        .or_else(|| extract::years_requirement(&text));
    let education = job
        .education
        .as_deref()
        .and_then(Education::parse)
        .or_else(|| extract::education_requirement(&text));
    JobFacts {
        city: Cities::bundled().normalize(&job.location),
        years,
        education,
    }
}

/// Weighted median-ish salary of the nearest jobs: weights fall with distance, and only jobs
/// reasonably similar (cosine distance < 0.8) count.
pub fn predict_salary(job: &JobData, neighbours: &[SalaryNeighbour]) -> SalaryPrediction {
    if job.salary_min.is_some() || job.salary_max.is_some() {
        return SalaryPrediction {
            min: job.salary_min,
            max: job.salary_max,
            currency: "CNY",
            period: "month",
            method: "posted",
            sample_size: 0,
            confidence: 0.95,
        };
    }
    let close: Vec<&SalaryNeighbour> = neighbours.iter().filter(|n| n.distance < 0.8).collect();
    if close.is_empty() {
        return SalaryPrediction {
            min: None,
            max: None,
            currency: "CNY",
            period: "month",
            method: "unknown",
            sample_size: 0,
            confidence: 0.0,
        };
    }
    let weighted = |f: fn(&SalaryNeighbour) -> f64| {
        let (mut sum, mut wsum) = (0.0, 0.0);
        for n in &close {
            let w = f64::from(1.0 - n.distance).max(0.05);
            sum += w * f(n);
            wsum += w;
        }
        ((sum / wsum) / 500.0).round() * 500.0
    };
    let mean_dist = close.iter().map(|n| f64::from(n.distance)).sum::<f64>() / close.len() as f64;
    let confidence =
        ((1.0 - mean_dist) * (close.len() as f64 / 10.0).min(1.0) * 0.7).clamp(0.05, 0.6);
    SalaryPrediction {
        min: Some(weighted(|n| n.min)),
        max: Some(weighted(|n| n.max)),
        currency: "CNY",
        period: "month",
        method: "similar_jobs",
        sample_size: close.len(),
        confidence: (confidence * 100.0).round() / 100.0,
    }
}

/// Culture phrases found in a text, in lexicon order.
pub fn culture_signals(text: &str) -> Vec<&'static str> {
    let mut out: Vec<&'static str> = CULTURE_SIGNALS
        .iter()
        .filter(|(k, _)| text.contains(k))
        .map(|(_, v)| *v)
        .collect();
    // "不加班" also contains "加班".
    if out.contains(&"不加班") {
        out.retain(|p| *p != "可能需要加班");
    }
    out
}

/// Analyses a job posting; `salary` comes from [`predict_salary`].
pub fn analyze(job: &JobData, facts: &JobFacts, salary: SalaryPrediction) -> JobAnalysis {
    let text = format!("{}\n{}\n{}", job.title, job.description, job.requirements);
    let skills = Lexicon::bundled().find_skills(&text);
    let years = facts
        .years
        .map(|y| y.describe())
        .unwrap_or_else(|| "未注明".to_string());
    let edu = facts.education.map(|e| format!("{}及以上", e.label()));
    let mut parts = vec![];
    let title = if job.title.is_empty() {
        "该职位"
    } else {
        job.title.as_str()
    };
    let mut head = title.to_string();
    let place: Vec<&str> = [
        job.company.as_str(),
        facts.city.as_deref().unwrap_or(&job.location),
    ]
    .into_iter()
    .filter(|s| !s.is_empty())
    .collect();
    if !place.is_empty() {
        head.push_str(&format!("（{}）", place.join("，")));
    }
    parts.push(head);
    if !job.description.trim().is_empty() {
        parts.push(format!(
            "职责：{}",
            job.description.trim().trim_end_matches(['。', '.'])
        ));
    }
    if !job.requirements.trim().is_empty() {
        parts.push(format!(
            "要求：{}",
            job.requirements.trim().trim_end_matches(['。', '.'])
        ));
    }
    if !skills.is_empty() {
        parts.push(format!("核心技能：{}", skills.join("、")));
    }
    parts.push(format!("经验：{years}"));
    if let Some(e) = &edu {
        parts.push(format!("学历：{e}"));
    }
    if let (Some(lo), Some(hi)) = (salary.min, salary.max) {
        let how = if salary.method == "posted" {
            ""
        } else {
            "（参考相似职位）"
        };
        parts.push(format!("薪资：{}-{}元/月{how}", lo.round(), hi.round()));
    }
    let culture = culture_signals(&text);
    let company_culture_fit = if culture.is_empty() {
        "职位描述未体现团队文化信息".to_string()
    } else {
        format!("职位描述体现：{}", culture.join("、"))
    };
    // Fallback confidence grows with what could be read, and stays below an LLM's.
    let found = [
        !skills.is_empty(),
        facts.years.is_some(),
        facts.education.is_some(),
        facts.city.is_some(),
        salary.min.is_some(),
    ]
    .iter()
    .filter(|b| **b)
    .count();
    JobAnalysis {
        enhanced_description: parts.join("。"),
        extracted_skills: skills,
        salary_prediction: salary,
        experience_requirements: years,
        company_culture_fit,
        // Rounded: 0.3 + 0.06 × 5 is 0.6000000000000001 in binary.
        confidence_score: ((0.3 + 0.06 * found as f64) * 100.0).round() / 100.0,
        occupation: occupation(&job.title, &job.description, &job.requirements),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn job() -> JobData {
        JobData {
            title: "前端开发工程师".into(),
            company: "腾讯科技".into(),
            location: "深圳".into(),
            description: "负责公司核心产品的前端开发工作，团队氛围好".into(),
            requirements: "熟悉React、Vue等前端框架，3-5年经验，本科及以上".into(),
            ..JobData::default()
        }
    }

    #[test]
    fn reads_facts_and_predicts_salary_from_neighbours() {
        let j = job();
        let f = facts(&j);
        assert_eq!(f.city.as_deref(), Some("深圳市"));
        assert_eq!(f.education, Some(Education::Bachelor));
        let n = [
            SalaryNeighbour {
                distance: 0.1,
                min: 20000.0,
                max: 30000.0,
            },
            SalaryNeighbour {
                distance: 0.3,
                min: 15000.0,
                max: 25000.0,
            },
            SalaryNeighbour {
                distance: 0.95,
                min: 1.0,
                max: 2.0,
            },
        ];
        let s = predict_salary(&j, &n);
        assert_eq!(s.method, "similar_jobs");
        assert_eq!(s.sample_size, 2);
        let (lo, hi) = (s.min.unwrap(), s.max.unwrap());
        assert!((15000.0..=20000.0).contains(&lo) && (25000.0..=30000.0).contains(&hi));
        let a = analyze(&j, &f, s);
        assert!(a.extracted_skills.contains(&"React".to_string()));
        assert_eq!(a.experience_requirements, "3-5年");
        assert!(a.company_culture_fit.contains("团队氛围好"));
        assert!(a.confidence_score < 0.7);
        // 前端开发工程师 is a market title of 计算机程序设计员 (4-04-05-01).
        let o = a.occupation.expect("an occupation");
        assert_eq!(
            (o.code.as_str(), o.name.as_str()),
            ("4-04-05-01", "计算机程序设计员")
        );
        assert!(o.confidence >= 0.9, "{o:?}");
        // A title that names no occupation: none.
        assert_eq!(occupation("急招！！", "", ""), None);
    }

    #[test]
    fn chip_verification_skills_and_a_round_confidence() {
        let j = JobData {
            title: "芯片验证工程师".into(),
            location: "上海".into(),
            description: "负责SoC模块级与系统级验证，搭建UVM验证环境".into(),
            requirements:
                "3年以上经验，本科，熟练使用SystemVerilog和UVM，熟悉Synopsys或Cadence工具".into(),
            salary_min: Some(30000.0),
            salary_max: Some(50000.0),
            ..JobData::default()
        };
        let f = facts(&j);
        let a = analyze(&j, &f, predict_salary(&j, &[]));
        for want in ["SystemVerilog", "UVM", "SoC", "Synopsys", "Cadence"] {
            assert!(
                a.extracted_skills.iter().any(|s| s == want),
                "{want}: {:?}",
                a.extracted_skills
            );
        }
        // "Verilog" inside "SystemVerilog" is not a second skill.
        assert!(
            !a.extracted_skills.iter().any(|s| s == "Verilog"),
            "{:?}",
            a.extracted_skills
        );
        // Everything the rules read (skills, years, education, city, salary): 0.3 + 5 × 0.06.
        assert_eq!(serde_json::to_string(&a.confidence_score).unwrap(), "0.6");
    }
}
