//! Rule-based resume analysis: skills, work and education lines, years, a score from what the
//! resume actually contains, suggestions naming what is missing, and the standard occupation
//! of the position it seeks (or last held).

use serde::Serialize;

use super::extract::{self, is_education_line, Education};
use super::lexicon::Lexicon;
use super::occupation::{Matcher, Occupation};

/// The `analysis` object of `POST /api/v1/analyze/resume`.
#[derive(Debug, Clone, Serialize)]
pub struct ResumeAnalysis {
    pub skills: Vec<String>,
    pub experience: Vec<String>,
    pub education: Vec<String>,
    pub summary: String,
    /// `score_detail.facts` plus `score_detail.adjustment`.
    pub score: u8,
    /// How the score was reached.
    pub score_detail: ScoreDetail,
    pub suggestions: Vec<String>,
    /// The standard occupation (CSCO 2022) of the position the resume asks for ("求职意向"),
    /// else of its most recent job's title, else of its skills and text; `null` when none
    /// fits well enough. Always the rules': the model cannot set it.
    pub occupation: Option<Occupation>,
}

/// A resume's score explained: the points its facts earn (skills, years, education, contact,
/// quantified results, length, projects — see [`analyze`]) and the model's bounded say.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct ScoreDetail {
    /// Points from what the resume contains, computed by the service.
    pub facts: u8,
    /// The model's own score, when it gave a usable one.
    pub model: Option<u8>,
    /// Points the model's opinion took off (0 to -5; the model can never add points).
    pub adjustment: i8,
}

/// Facts kept as filterable payload.
#[derive(Debug, Clone, Default)]
pub struct ResumeFacts {
    pub years: Option<f32>,
    pub education: Option<Education>,
    /// The city the resume says the candidate wants to work in or lives in ("期望城市：深圳").
    pub city: Option<String>,
    /// Expected monthly salary (CNY) as the resume states it ("期望薪资：15-25K").
    pub expected_salary: Option<(f64, f64)>,
}

/// Labels that introduce the wanted (or current) city, in order of preference.
const CITY_LABELS: &[&str] = &[
    "期望城市",
    "期望地点",
    "期望工作地点",
    "意向城市",
    "目标城市",
    "工作地点",
    "现居",
    "所在城市",
    "所在地",
    "居住地",
];
/// Labels that introduce the expected salary.
const SALARY_LABELS: &[&str] = &[
    "期望薪资",
    "期望月薪",
    "期望薪酬",
    "期望工资",
    "薪资要求",
    "薪资期望",
    "期望待遇",
];

/// Labels that introduce the position the candidate seeks.
const POSITION_LABELS: &[&str] = &[
    "求职意向",
    "期望职位",
    "期望岗位",
    "意向职位",
    "意向岗位",
    "应聘职位",
    "应聘岗位",
    "目标职位",
    "目标岗位",
    "求职岗位",
    "求职目标",
];
/// Endings of a job title ("Java开发工程师", "视觉设计师", "运营专员").
const TITLE_ENDINGS: &[&str] = &[
    "工程师",
    "经理",
    "总监",
    "主管",
    "助理",
    "顾问",
    "代表",
    "师",
    "员",
    "开发",
    "运营",
    "策划",
    "编辑",
    "主播",
    "engineer",
    "developer",
    "manager",
    "designer",
];
/// Longest title read from a resume (characters).
const MAX_POSITION_CHARS: usize = 40;

/// The text after the first of `labels` found in `content`, up to the end of its line or
/// sentence (the separator after the label skipped).
fn labelled<'a>(content: &'a str, labels: &[&str]) -> Option<&'a str> {
    labels.iter().find_map(|l| {
        let i = content.find(l)?;
        let rest = content[i + l.len()..].trim_start_matches([':', '：', ' ', '\t', '　']);
        let end = rest
            .find(['\n', '。', '；', ';', '|', '，', ','])
            .unwrap_or(rest.len());
        Some(&rest[..end])
    })
}

/// The wanted city named after a label such as "期望城市：".
pub fn wanted_city(content: &str) -> Option<String> {
    labelled(content, CITY_LABELS).and_then(|t| super::city::Cities::bundled().normalize(t))
}

/// The expected monthly salary after a label such as "期望薪资：": "15-25K", "15k~25k",
/// "20000-30000", "2万", "1.5-2万/月"; `None` for "面议" or anything unreadable. Bare small
/// numbers ("15-25") are thousands.
pub fn expected_salary(content: &str) -> Option<(f64, f64)> {
    let t = labelled(content, SALARY_LABELS)?;
    let low = t.to_lowercase();
    let unit = if low.contains('万') || low.contains('w') {
        10_000.0
    } else if low.contains('k') || low.contains('千') {
        1_000.0
    } else {
        0.0
    };
    let mut nums = Vec::new();
    let mut cur = String::new();
    for c in low.chars().chain(std::iter::once(' ')) {
        if c.is_ascii_digit() || (c == '.' && !cur.is_empty()) {
            cur.push(c);
        } else if !cur.is_empty() {
            if let Ok(v) = cur.parse::<f64>() {
                nums.push(v);
            }
            cur.clear();
            if nums.len() == 2 {
                break;
            }
        }
    }
    let scale = |v: f64| {
        if unit > 0.0 {
            v * unit
        } else if v < 500.0 {
            v * 1_000.0
        } else {
            v
        }
    };
    let (lo, hi) = match nums.as_slice() {
        [a] => (scale(*a), scale(*a)),
        [a, b] => (scale(*a), scale(*b)),
        _ => return None,
    };
    let (lo, hi) = if lo <= hi { (lo, hi) } else { (hi, lo) };
    (lo >= 500.0 && hi <= 10_000_000.0).then_some((lo, hi))
}

/// A title found in a resume, cut at the next label or wide gap and trimmed.
fn title_text(t: &str) -> Option<String> {
    let mut end = t.len();
    for l in POSITION_LABELS
        .iter()
        .chain(CITY_LABELS)
        .chain(SALARY_LABELS)
        .chain(&["期望", "  ", "\t", "　"])
    {
        if let Some(i) = t.find(l) {
            end = end.min(i);
        }
    }
    let t = t[..end].trim().trim_end_matches(['等', '.', '。']);
    let t: String = t.chars().take(MAX_POSITION_CHARS).collect();
    (!t.trim().is_empty()).then(|| t.trim().to_string())
}

/// The title of a work line: what follows its dates (and an employer named first, when
/// something follows that), up to the first comma or sentence end.
fn work_title(line: &str) -> Option<String> {
    let mut t = line.trim();
    // A leading label ("工作经历：").
    if let Some((head, rest)) = t.split_once(['：', ':']) {
        if head.chars().count() <= 6 && !head.chars().any(|c| c.is_ascii_digit()) {
            t = rest.trim_start();
        }
    }
    let t = t.trim_start_matches(|c: char| {
        c.is_ascii_digit() || c.is_whitespace() || ".-~/—–至今年月现在".contains(c)
    });
    let t = t
        .split(['，', ',', '。', '；', ';', '|'])
        .next()
        .unwrap_or("")
        .trim();
    let words: Vec<&str> = t.split_whitespace().collect();
    let title = match words.as_slice() {
        [] => return None,
        [one] => one.to_string(),
        [_, rest @ ..] => rest.join(" "),
    };
    title_text(&title)
}

/// The position a resume seeks ("求职意向：Java开发工程师"), else the title of its most
/// recent job (the work line ending last), else the first title-like phrase of its first
/// lines ("视觉设计师"). `now` is the current date as a fractional year.
pub fn position(content: &str, now: f32) -> Option<String> {
    if let Some(t) = labelled(content, POSITION_LABELS).and_then(title_text) {
        return Some(t);
    }
    let latest = content
        .lines()
        .filter(|l| !is_education_line(l))
        .filter_map(|l| {
            let end = extract::work_spans(l, now)
                .iter()
                .map(|s| s.1)
                .fold(None, |m: Option<f32>, e| Some(m.map_or(e, |m| m.max(e))))?;
            Some((end, l))
        })
        .fold(None, |best: Option<(f32, &str)>, (e, l)| match best {
            Some((b, _)) if b >= e => best,
            _ => Some((e, l)),
        });
    if let Some(t) = latest.and_then(|(_, l)| work_title(l)) {
        return Some(t);
    }
    content
        .lines()
        .take(10)
        .flat_map(|l| l.split(['，', ',', '。', '；', ';', '|', ' ', '　', '：', ':', '、']))
        .map(str::trim)
        .find(|w| {
            let low = w.to_lowercase();
            w.chars().count() >= 3 && TITLE_ENDINGS.iter().any(|e| low.ends_with(e))
        })
        .and_then(title_text)
}

/// The occupation of a resume: of its [`position`], the text as context; without one, of its
/// skills and text (with less confidence).
pub fn occupation(content: &str, skills: &[String], now: f32) -> Option<Occupation> {
    let m = Matcher::bundled();
    match position(content, now) {
        Some(p) => m.best(&p, content),
        None => m.best("", &format!("{}\n{}", skills.join(" "), content)),
    }
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
    let occupation = occupation(content, &skills, now);
    (
        ResumeAnalysis {
            occupation,
            skills,
            experience,
            education,
            summary,
            score: score.min(100) as u8,
            score_detail: ScoreDetail {
                facts: score.min(100) as u8,
                model: None,
                adjustment: 0,
            },
            suggestions,
        },
        ResumeFacts {
            years,
            education: level,
            city: wanted_city(content),
            expected_salary: expected_salary(content),
        },
    )
}

/// The current date as a fractional year (for "2019.03-至今").
pub fn now_year() -> f32 {
    use chrono::Datelike;
    let d = chrono::Utc::now();
    d.year() as f32 + d.ordinal0() as f32 / 366.0
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

    #[test]
    fn position_and_occupation() {
        // The label wins, cut before the next one.
        let r = "王五\n求职意向：高级Java开发工程师  期望城市：深圳\n2019.07-至今 某某科技有限公司 测试工程师，负责测试";
        assert_eq!(position(r, 2024.5).as_deref(), Some("高级Java开发工程师"));
        let (a, _) = analyze(r, 2024.5);
        let o = a.occupation.expect("an occupation");
        assert_eq!(
            (o.code.as_str(), o.name.as_str()),
            ("2-02-10-03", "计算机软件工程技术人员")
        );
        // Else the most recent job's title, the employer before it left out.
        let w = "2015.09-2019.06 浙江大学 计算机 本科\n\
            工作经历：2019.07-2021.06 阿里巴巴 测试工程师，负责交易系统\n\
            2021.07-至今 字节跳动 Java开发工程师，负责推荐项目";
        assert_eq!(position(w, 2024.5).as_deref(), Some("Java开发工程师"));
        assert_eq!(
            work_title("工作经历：2019.07-2021.06 阿里巴巴 后端工程师，负责存储").as_deref(),
            Some("后端工程师")
        );
        // Else a title-like phrase.
        let d = "韩梅梅 视觉设计师，3年工作经验，大专。熟悉Figma、Photoshop";
        assert_eq!(position(d, 2024.5).as_deref(), Some("视觉设计师"));
        assert_eq!(analyze(d, 2024.5).0.occupation.unwrap().code, "2-09-06-01");
        // Nothing that names an occupation: none.
        assert_eq!(analyze("我喜欢编程", 2024.5).0.occupation, None);
    }

    #[test]
    fn wanted_city_and_salary_only_from_labels() {
        let r = "李四\n期望城市：深圳\n期望薪资：15-25K\n2019.07-至今 腾讯 前端开发";
        let (_, f) = analyze(r, 2024.5);
        assert_eq!(f.city.as_deref(), Some("深圳市"));
        assert_eq!(f.expected_salary, Some((15_000.0, 25_000.0)));
        assert_eq!(expected_salary("期望月薪：2万"), Some((20_000.0, 20_000.0)));
        assert_eq!(
            expected_salary("薪资要求: 20000-30000元"),
            Some((20_000.0, 30_000.0))
        );
        assert_eq!(
            expected_salary("期望薪资：1.5-2万/月"),
            Some((15_000.0, 20_000.0))
        );
        assert_eq!(expected_salary("期望薪资：面议"), None);
        assert_eq!(wanted_city("现居：北京市海淀区"), Some("北京市".into()));
        // A city mentioned without a label is not a preference.
        let (_, g) = analyze("2019.07-至今 腾讯（深圳） 前端开发", 2024.5);
        assert_eq!(g.city, None);
        assert_eq!(g.expected_salary, None);
    }
}
