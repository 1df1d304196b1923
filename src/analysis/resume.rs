//! Rule-based resume analysis: skills, work and education lines, years, a score from what the
//! resume actually contains, and suggestions naming what is missing.

use serde::Serialize;

use super::extract::{self, is_education_line, Education};
use super::lexicon::Lexicon;

/// The `analysis` object of `POST /api/v1/analyze/resume`.
#[derive(Debug, Clone, Serialize)]
pub struct ResumeAnalysis {
    pub skills: Vec<String>,
    pub experience: Vec<String>,
    pub education: Vec<String>,
    pub summary: String,
    pub score: u8,
    pub suggestions: Vec<String>,
}

/// Facts kept as filterable payload.
#[derive(Debug, Clone, Default)]
pub struct ResumeFacts {
    pub years: Option<f32>,
    pub education: Option<Education>,
}

const WORK_WORDS: &[&str] = &[
    "公司",
    "有限",
    "负责",
    "项目",
    "工作",
    "实习",
    "任职",
    "就职",
    "engineer",
    "developer",
    "inc",
    "ltd",
    "company",
    "intern",
    "manager",
];
const MAX_LINES: usize = 10;
const MAX_LINE_CHARS: usize = 200;

fn clip(s: &str) -> String {
    s.chars().take(MAX_LINE_CHARS).collect()
}

fn has_email(t: &str) -> bool {
    t.split(|c: char| c.is_whitespace() || "，,;；:：()（）<>".contains(c))
        .any(|w| {
            w.split_once('@')
                .is_some_and(|(a, b)| !a.is_empty() && b.contains('.') && !b.ends_with('.'))
        })
}

fn has_phone(t: &str) -> bool {
    // A mainland mobile number: 11 digits starting with 1 (spaces/dashes allowed).
    let digits: Vec<char> = t
        .chars()
        .filter(|c| c.is_ascii_digit() || *c == ' ' || *c == '-')
        .collect();
    let s: String = digits.into_iter().filter(char::is_ascii_digit).collect();
    s.len() >= 11
        && t.chars()
            .collect::<Vec<_>>()
            .windows(11)
            .any(|w| w[0] == '1' && w.iter().all(char::is_ascii_digit))
}

fn has_numbers_as_results(t: &str) -> bool {
    let l = t.to_lowercase();
    [
        "%",
        "％",
        "提升",
        "降低",
        "增长",
        "减少",
        "万",
        "倍",
        "improved",
        "reduced",
        "increased",
    ]
    .iter()
    .any(|w| l.contains(w))
        && t.chars().any(|c| c.is_ascii_digit())
}

/// Analyses resume text. `now` is the current date as a fractional year (for "至今").
pub fn analyze(content: &str, now: f32) -> (ResumeAnalysis, ResumeFacts) {
    let skills = Lexicon::bundled().find_skills(content);
    let lines: Vec<&str> = content
        .split(['\n', '。', '；', ';', '|'])
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect();
    let education: Vec<String> = lines
        .iter()
        .filter(|l| is_education_line(l))
        .take(MAX_LINES)
        .map(|l| clip(l))
        .collect();
    let experience: Vec<String> = lines
        .iter()
        .filter(|l| !is_education_line(l))
        .filter(|l| {
            let low = l.to_lowercase();
            WORK_WORDS.iter().any(|w| low.contains(w)) || !extract::work_spans(l, now).is_empty()
        })
        .take(MAX_LINES)
        .map(|l| clip(l))
        .collect();
    let years = extract::resume_years(content, now);
    let level = extract::highest_education(content);
    let email = has_email(content);
    let phone = has_phone(content);
    let results = has_numbers_as_results(content);
    let projects = content.contains("项目") || content.to_lowercase().contains("project");
    let chars = content.chars().count();

    let mut score = 0u32;
    score += (skills.len().min(10) * 3) as u32;
    score += match years {
        Some(y) => (y.min(10.0) * 2.0).round() as u32,
        None if !experience.is_empty() => 5,
        None => 0,
    };
    score += match level {
        Some(Education::Doctor) => 15,
        Some(Education::Master) => 13,
        Some(Education::Bachelor) => 11,
        Some(Education::College) => 8,
        Some(Education::HighSchool) => 5,
        None => 0,
    };
    score += if email { 5 } else { 0 } + if phone { 5 } else { 0 };
    score += if results { 10 } else { 0 };
    score += match chars {
        300..=8000 => 10,
        100..=299 | 8001.. => 5,
        _ => 0,
    };
    score += if projects { 5 } else { 0 };

    let mut suggestions = Vec::new();
    if skills.len() < 5 {
        suggestions.push(format!(
            "只识别到{}项技能，建议单列“专业技能”，写明具体技术栈（如 Java、Spring Boot、MySQL）",
            skills.len()
        ));
    }
    if experience.is_empty() {
        suggestions.push("未找到工作经历，建议按“时间段 + 公司 + 职位 + 职责”列出每段经历".into());
    } else if years.is_none() {
        suggestions.push("工作经历缺少起止时间，建议写明（如 2019.03-2022.06）".into());
    }
    if level.is_none() {
        suggestions.push("未找到教育背景，建议写明学校、专业、学历和毕业时间".into());
    }
    if !email && !phone {
        suggestions.push("缺少联系方式（手机或邮箱）".into());
    }
    if !results {
        suggestions.push("建议用数字量化成果（如“接口延迟降低40%”“支撑日活100万”）".into());
    }
    if !projects {
        suggestions.push("建议补充项目经历：背景、你的职责、用到的技术和结果".into());
    }
    if chars < 300 {
        suggestions.push(format!("简历内容较短（{chars}字），建议补充到300字以上"));
    }

    let mut parts = Vec::new();
    if let Some(y) = years {
        parts.push(format!("{}年工作经验", extract::fmt_years(y)));
    }
    if let Some(e) = level {
        parts.push(format!("{}学历", e.label()));
    }
    if !skills.is_empty() {
        let top: Vec<&str> = skills.iter().take(5).map(String::as_str).collect();
        parts.push(format!("掌握{}等{}项技能", top.join("、"), skills.len()));
    }
    let summary = if parts.is_empty() {
        "简历中未识别到技能、经历或学历信息".to_string()
    } else {
        format!("候选人{}", parts.join("，"))
    };
    (
        ResumeAnalysis {
            skills,
            experience,
            education,
            summary,
            score: score.min(100) as u8,
            suggestions,
        },
        ResumeFacts {
            years,
            education: level,
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn depends_on_the_input() {
        let rich = "张三 电话 13800138000 邮箱 zhangsan@example.com\n\
            2015.09-2019.06 浙江大学 计算机科学 本科\n\
            2019.07-2022.06 阿里巴巴 Java开发工程师，负责交易系统，接口延迟降低40%\n\
            2022.07-至今 字节跳动 高级后端工程师，负责推荐项目\n\
            技能：Java、Spring Boot、MySQL、Redis、Kafka、Docker、Kubernetes";
        let (a, f) = analyze(rich, 2024.5);
        assert!(a.skills.contains(&"Kubernetes".to_string()));
        assert_eq!(f.education, Some(Education::Bachelor));
        assert_eq!(f.years, Some(5.0));
        assert_eq!(a.experience.len(), 2, "{:?}", a.experience);
        assert!(a.summary.contains("5年工作经验"), "{}", a.summary);
        let (b, _) = analyze("我喜欢编程", 2024.5);
        assert!(a.score > b.score + 40, "{} vs {}", a.score, b.score);
        assert!(b.suggestions.len() > a.suggestions.len());
    }
}
