//! The bundled sample data: companies, jobs and resumes generated deterministically from the
//! lexicons (job categories, cities, realistic salary levels, skills, years, education) and
//! loaded through the same analyse pipeline (rule-based analysers, batched writes) on the first
//! start of an empty data dir, so the README's examples answer at once.

use super::{AiService, Analyser, Result};
use crate::analysis::lexicon::{Lexicon, Occupation};
use crate::entity::{CompanyData, Id, JobData, ResumeData};
use crate::store::Collection;
use crate::vector::EntityUpsert;

pub const SAMPLE_COMPANIES: u64 = 300;
pub const SAMPLE_JOBS: u64 = 3_000;
pub const SAMPLE_RESUMES: u64 = 300;
/// Sample ids start here, away from the small ids people type in examples.
pub const SAMPLE_ID_BASE: u64 = 900_000;

/// (city, salary multiplier, weight)
const CITIES: &[(&str, f64, u64)] = &[
    ("北京市", 1.25, 16),
    ("上海市", 1.25, 16),
    ("深圳市", 1.2, 16),
    ("杭州市", 1.1, 12),
    ("广州市", 1.05, 10),
    ("成都市", 0.85, 8),
    ("南京市", 0.9, 6),
    ("武汉市", 0.85, 6),
    ("西安市", 0.8, 5),
    ("苏州市", 0.9, 5),
    ("天津市", 0.85, 4),
    ("重庆市", 0.8, 4),
    ("长沙市", 0.8, 3),
    ("合肥市", 0.8, 3),
    ("厦门市", 0.85, 3),
    ("青岛市", 0.8, 3),
    ("郑州市", 0.8, 3),
    ("宁波市", 0.85, 2),
    ("珠海市", 0.9, 2),
    ("大连市", 0.8, 2),
];
const INDUSTRIES: &[(&str, &str)] = &[
    ("互联网", "网络科技"),
    ("人工智能", "智能科技"),
    ("电子商务", "电子商务"),
    ("金融科技", "金融信息服务"),
    ("游戏", "互动娱乐"),
    ("企业服务", "软件"),
    ("在线教育", "教育科技"),
    ("医疗健康", "医疗科技"),
    ("智能制造", "智能装备"),
    ("新能源汽车", "汽车科技"),
    ("物流", "供应链管理"),
    ("文化传媒", "文化传媒"),
];
const NAME_HEADS: &[&str] = &[
    "星辰", "云帆", "蓝海", "智远", "数澜", "极光", "千帆", "易达", "华拓", "思博", "青藤", "远景",
    "麦芒", "知行", "若水", "启明", "深蓝", "飞鱼", "锦程", "盛图", "博远", "晨曦", "鼎新", "凌云",
    "磐石", "天枢", "新程", "睿思", "奇点", "北辰", "长风", "明德", "越海", "聚能", "灵犀", "恒信",
    "云图", "众合", "微澜", "嘉禾",
];
const SIZES: &[&str] = &[
    "20-99人",
    "100-499人",
    "500-999人",
    "1000-9999人",
    "10000人以上",
];
const CULTURE: &[&str] = &[
    "扁平化管理",
    "鼓励创新",
    "技术氛围浓厚",
    "团队氛围好",
    "重视学习与成长",
    "弹性工作",
    "结果导向",
    "开放透明",
];
const BENEFITS: &[&str] = &[
    "五险一金",
    "年终奖",
    "股票期权",
    "带薪年假",
    "免费午餐",
    "定期体检",
    "交通补贴",
    "下午茶",
    "节日福利",
    "补充医疗",
];
const GROWTH: &[&str] = &[
    "已完成B轮融资",
    "已完成C轮融资",
    "已上市",
    "业务快速增长",
    "正在扩张海外市场",
    "获得A轮融资",
];
/// (category, base monthly salary for 1-3 years, weight)
const CATEGORY_PAY: &[(&str, f64, u64)] = &[
    ("技术", 20000.0, 50),
    ("产品", 18000.0, 12),
    ("设计", 14000.0, 8),
    ("运营", 12000.0, 10),
    ("市场or营销", 13000.0, 7),
    ("销售", 11000.0, 7),
    ("职能", 10000.0, 6),
];
/// (subcategory, related skills named in requirements)
const RELATED: &[(&str, &[&str])] = &[
    (
        "后端开发",
        &[
            "MySQL",
            "Redis",
            "Kafka",
            "Docker",
            "Linux",
            "Spring Boot",
            "微服务",
        ],
    ),
    (
        "移动开发",
        &["Kotlin", "Swift", "Flutter", "Android", "iOS"],
    ),
    (
        "前端开发",
        &["React", "Vue", "TypeScript", "Webpack", "CSS", "Node.js"],
    ),
    (
        "人工智能",
        &["Python", "PyTorch", "TensorFlow", "CUDA", "深度学习"],
    ),
    (
        "测试",
        &["Selenium", "JMeter", "Python", "Jenkins", "自动化测试"],
    ),
    (
        "运维",
        &[
            "Linux",
            "Docker",
            "Kubernetes",
            "Prometheus",
            "Ansible",
            "Shell",
        ],
    ),
    ("DBA", &["MySQL", "Oracle", "Redis", "MongoDB", "数据仓库"]),
    (
        "硬件开发",
        &["嵌入式", "ARM", "FPGA", "单片机", "PCB Design"],
    ),
    ("产品经理", &["Axure", "Figma", "数据分析", "SQL"]),
    ("视觉设计", &["Figma", "Photoshop", "Illustrator", "Sketch"]),
    ("交互设计", &["Figma", "Axure", "Sketch"]),
    ("用户研究", &["数据分析", "SQL", "Excel"]),
];
/// (label, min years, max years, salary multiplier, title prefix)
const LEVELS: &[(&str, f32, Option<f32>, f64, &str)] = &[
    ("应届", 0.0, Some(1.0), 0.6, "初级"),
    ("1-3年", 1.0, Some(3.0), 1.0, ""),
    ("3-5年", 3.0, Some(5.0), 1.35, "高级"),
    ("5-10年", 5.0, Some(10.0), 1.8, "资深"),
];

/// A deterministic generator (the same sample set on every machine).
struct Rng(crate::rng::SplitMix64);
impl Rng {
    fn new(seed: u64) -> Rng {
        Rng(crate::rng::SplitMix64(seed))
    }
    fn next(&mut self) -> u64 {
        self.0.next_u64()
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
    fn pick<'a, T>(&mut self, xs: &'a [T]) -> &'a T {
        &xs[self.below(xs.len())]
    }
    fn weighted<'a, T>(&mut self, xs: &'a [T], w: impl Fn(&T) -> u64) -> &'a T {
        let total: u64 = xs.iter().map(&w).sum();
        let mut r = self.next() % total.max(1);
        for x in xs {
            if r < w(x) {
                return x;
            }
            r -= w(x);
        }
        &xs[0]
    }
    fn several<'a>(&mut self, xs: &[&'a str], n: usize) -> Vec<&'a str> {
        let mut out: Vec<&str> = Vec::new();
        if xs.is_empty() {
            return out;
        }
        for _ in 0..n * 3 {
            let x = *self.pick(xs);
            if !out.contains(&x) {
                out.push(x);
            }
            if out.len() == n {
                break;
            }
        }
        out
    }
}

/// The sample companies: (id, data).
pub fn companies() -> Vec<(Id, CompanyData)> {
    let mut r = Rng::new(7);
    (0..SAMPLE_COMPANIES)
        .map(|i| {
            // Unique names while i < INDUSTRIES.len() * NAME_HEADS.len().
            let (industry, suffix) = INDUSTRIES[i as usize % INDUSTRIES.len()];
            let head = NAME_HEADS[(i as usize / INDUSTRIES.len()) % NAME_HEADS.len()];
            let (city, _, _) = *r.weighted(CITIES, |c| c.2);
            let size = *r.pick(SIZES);
            let description = format!(
                "{head}{suffix}是一家专注于{industry}领域的公司，总部位于{}。{}。公司文化：{}。福利：{}。",
                city.trim_end_matches('市'),
                r.pick(GROWTH),
                r.several(CULTURE, 2).join("、"),
                r.several(BENEFITS, 4).join("、"),
            );
            let data = CompanyData {
                name: format!("{head}{suffix}有限公司"),
                industry: industry.to_string(),
                size: size.to_string(),
                location: city.to_string(),
                description,
                website: format!("https://www.example-{}.cn", i + 1),
            };
            (Id(SAMPLE_ID_BASE + i + 1), data)
        })
        .collect()
}

fn job_title(o: &Occupation, prefix: &str) -> String {
    let base = if o.is_title {
        o.name.clone()
    } else if o.category == "技术" && o.name.is_ascii() {
        format!("{}开发工程师", o.name)
    } else if o.category == "技术" {
        format!("{}工程师", o.name)
    } else {
        format!("{}专员", o.name)
    };
    format!("{prefix}{base}")
}

/// The sample jobs: (id, data); every one posts a salary.
pub fn jobs() -> Vec<(Id, JobData)> {
    let lex = Lexicon::bundled();
    let companies = companies();
    let mut r = Rng::new(11);
    (0..SAMPLE_JOBS)
        .map(|i| {
            let (cid, company) = &companies[r.below(companies.len())];
            let (category, base, _) = *r.weighted(CATEGORY_PAY, |c| c.2);
            let pool: Vec<&Occupation> = lex.occupations().iter().filter(|o| o.category == category).collect();
            let occ = pool[r.below(pool.len())];
            let (level, min_y, max_y, mult, prefix) = *r.pick(LEVELS);
            // Most jobs sit at the company's headquarters, some in another city.
            let (city, city_mult) = if r.below(5) == 0 {
                let c = r.weighted(CITIES, |c| c.2);
                (c.0, c.1)
            } else {
                let m = CITIES.iter().find(|c| c.0 == company.location).map_or(1.0, |c| c.1);
                (company.location.as_str(), m)
            };
            let siblings: Vec<&str> = pool
                .iter()
                .filter(|o| o.subcategory == occ.subcategory && !o.is_title && o.name != occ.name)
                .map(|o| o.name.as_str())
                .collect();
            let related = RELATED.iter().find(|(s, _)| *s == occ.subcategory).map_or(&[][..], |(_, k)| *k);
            let mut skills: Vec<&str> = Vec::new();
            if !occ.is_title {
                skills.push(&occ.name);
            }
            skills.extend(r.several(related, 3));
            if !siblings.is_empty() {
                skills.extend(r.several(&siblings, 1));
            }
            skills.dedup();
            let edu = if category == "技术" && r.below(4) == 0 { "硕士" } else if r.below(5) == 0 { "大专" } else { "本科" };
            let noise = 0.85 + (r.below(31) as f64) / 100.0;
            let lo = ((base * mult * city_mult * noise) / 1000.0).round() * 1000.0;
            let hi = (lo * (1.3 + r.below(5) as f64 / 10.0) / 1000.0).round() * 1000.0;
            let years = match max_y {
                _ if min_y == 0.0 => "经验不限，欢迎应届生".to_string(),
                Some(m) => format!("{}-{}年相关工作经验", min_y, m),
                None => format!("{min_y}年以上相关工作经验"),
            };
            let title = job_title(occ, prefix);
            let data = JobData {
                title: title.clone(),
                company: company.name.clone(),
                company_id: Some(*cid),
                location: city.to_string(),
                description: format!(
                    "加入{}{}团队，负责{}方向的{}工作，与产品、设计和研发同事协作推进项目落地。{}。",
                    company.name,
                    occ.subcategory,
                    occ.name,
                    if category == "技术" { "设计、开发与优化" } else { "规划与执行" },
                    r.several(CULTURE, 1).join("")
                ),
                requirements: format!("{years}；{edu}及以上学历；熟悉{}；良好的沟通能力和团队协作精神", skills.join("、")),
                salary_min: Some(lo),
                salary_max: Some(hi),
                industry: Some(company.industry.clone()),
                experience: Some(level.to_string()),
                education: Some(edu.to_string()),
                job_type: Some(if r.below(10) == 0 { "实习" } else { "全职" }.to_string()),
                company_size: Some(company.size.clone()),
            };
            (Id(SAMPLE_ID_BASE + i + 1), data)
        })
        .collect()
}

const SURNAMES: &[&str] = &[
    "王", "李", "张", "刘", "陈", "杨", "黄", "赵", "吴", "周", "徐", "孙", "马", "朱", "胡", "郭",
    "何", "林", "罗", "高",
];
const GIVEN: &[&str] = &[
    "伟", "芳", "娜", "敏", "静", "磊", "洋", "艳", "勇", "杰", "婷", "强", "军", "雪", "晨", "浩",
    "宇", "欣怡", "子涵", "思远", "一鸣", "佳琪", "志强", "晓明",
];
/// (education, schools, weight)
const SCHOOLS: &[(&str, &[&str], u64)] = &[
    (
        "大专",
        &[
            "深圳职业技术学院",
            "南京工业职业技术大学",
            "武汉职业技术学院",
        ],
        2,
    ),
    (
        "本科",
        &[
            "华中科技大学",
            "西安电子科技大学",
            "南京邮电大学",
            "杭州电子科技大学",
            "重庆邮电大学",
            "深圳大学",
        ],
        6,
    ),
    (
        "硕士",
        &[
            "浙江大学",
            "上海交通大学",
            "北京邮电大学",
            "电子科技大学",
            "中山大学",
        ],
        3,
    ),
    ("博士", &["清华大学", "北京大学", "中国科学技术大学"], 1),
];
const MAJORS: &[&str] = &[
    "计算机科学与技术",
    "软件工程",
    "电子信息工程",
    "信息管理与信息系统",
    "数学与应用数学",
    "工业设计",
    "市场营销",
];
const FILE_TYPES: &[&str] = &["pdf", "docx", "txt"];

/// The sample resumes: (id, data), each with a user (the same number as the resume id).
/// Every resume names a target role, skills, years, education, a city and an expected salary;
/// contact details, results in numbers and projects vary, so scores and suggestions differ.
pub fn resumes() -> Vec<(Id, ResumeData)> {
    let lex = Lexicon::bundled();
    let companies = companies();
    let mut r = Rng::new(13);
    (0..SAMPLE_RESUMES)
        .map(|i| {
            let name = format!("{}{}", r.pick(SURNAMES), r.pick(GIVEN));
            let (category, base, _) = *r.weighted(CATEGORY_PAY, |c| c.2);
            let pool: Vec<&Occupation> = lex
                .occupations()
                .iter()
                .filter(|o| o.category == category)
                .collect();
            let occ = pool[r.below(pool.len())];
            let years = r.below(12) as u32;
            let (_, _, _, mult, prefix) = *LEVELS
                .iter()
                .rev()
                .find(|l| years as f32 >= l.1)
                .unwrap_or(&LEVELS[0]);
            let (city, city_mult, _) = *r.weighted(CITIES, |c| c.2);
            let (edu, schools, _) = *r.weighted(SCHOOLS, |s| s.2);
            let school = *r.pick(schools);
            let major = *r.pick(MAJORS);
            let title = job_title(occ, prefix);
            let related = RELATED
                .iter()
                .find(|(s, _)| *s == occ.subcategory)
                .map_or(&[][..], |(_, k)| *k);
            let mut skills: Vec<&str> = Vec::new();
            if !occ.is_title {
                skills.push(&occ.name);
            }
            let n = 2 + r.below(3);
            skills.extend(r.several(related, n));
            skills.dedup();
            let want =
                ((base * mult * city_mult * (1.0 + r.below(20) as f64 / 100.0)) / 1000.0).round();
            let want_hi = (want * 1.4).round();
            let grad = 2025 - years as i32;
            let start = match edu {
                "大专" => grad - 3,
                "硕士" => grad - 7,
                "博士" => grad - 9,
                _ => grad - 4,
            };
            let mut text = format!("{name}\n");
            if r.below(5) != 0 {
                text += &format!(
                    "电话：138{:08}  邮箱：user{}@example.com\n",
                    10_000_000 + i * 7_919,
                    i + 1
                );
            }
            text += &format!(
                "求职意向：{title}  期望城市：{}  期望薪资：{want}-{want_hi}K/月\n",
                city.trim_end_matches('市')
            );
            if years > 0 {
                text += &format!("{years}年工作经验，熟悉{}\n", skills.join("、"));
            } else {
                text += &format!("应届毕业生，熟悉{}\n", skills.join("、"));
            }
            text += &format!("教育背景：{start}.09-{grad}.06 {school} {major} {edu}\n");
            // Work history: up to three employers, the last one current.
            let jobs = if years == 0 {
                0
            } else {
                1 + r.below(3usize.min(years as usize))
            };
            let mut from = grad;
            for k in 0..jobs {
                let (_, employer) = &companies[r.below(companies.len())];
                let until = if k + 1 == jobs {
                    "至今".to_string()
                } else {
                    let span = (years as i32 - (from - grad)) / (jobs - k) as i32;
                    format!("{}.06", from + span.max(1))
                };
                text += &format!(
                    "工作经历：{from}.07-{until} {} {title}，负责{}相关工作",
                    employer.name, occ.subcategory
                );
                if r.below(2) == 0 {
                    text += &format!("，主导的项目使效率提升{}%", 10 + r.below(40));
                }
                text += "\n";
                from = until.trim_end_matches(".06").parse().unwrap_or(from);
            }
            if r.below(3) != 0 {
                text += &format!(
                    "项目经验：{}系统建设，使用{}完成核心模块\n",
                    occ.subcategory,
                    skills.first().copied().unwrap_or("办公软件")
                );
            }
            if years == 0 {
                text += &format!(
                    "实习经历：在{}实习三个月，参与{}工作\n",
                    companies[r.below(companies.len())].1.name,
                    occ.subcategory
                );
            }
            text += &format!(
                "自我评价：{}，{}\n",
                r.pick(CULTURE),
                if r.below(2) == 0 {
                    "学习能力强"
                } else {
                    "责任心强，善于沟通"
                }
            );
            let file_type = *r.pick(FILE_TYPES);
            let data = ResumeData {
                content: text,
                file_type: file_type.to_string(),
                file_name: format!("{name}_{title}.{file_type}"),
                user_id: Some(Id(SAMPLE_ID_BASE + i + 1)),
            };
            (Id(SAMPLE_ID_BASE + i + 1), data)
        })
        .collect()
}

/// Prepared entities of one collection, written in transactions of at most this many.
const WRITE_BATCH: usize = 1_000;

async fn store(service: &AiService, c: Collection, all: Vec<EntityUpsert>) -> Result<usize> {
    let n = all.len();
    let mut rest = all.into_iter().peekable();
    while rest.peek().is_some() {
        let batch: Vec<EntityUpsert> = rest.by_ref().take(WRITE_BATCH).collect();
        service.write_batch(c, batch).await?;
    }
    Ok(n)
}

/// Analyses (rules) and stores every sample company, job and resume in batched transactions.
/// Returns the numbers of companies and jobs (resumes are logged here).
pub async fn load(service: &AiService) -> Result<(usize, usize)> {
    let mut batch = Vec::new();
    for (id, c) in companies() {
        batch.push(service.prepare_company(id, c, Analyser::Rules).await?.1);
    }
    let nc = store(service, Collection::Companies, batch).await?;
    let mut batch = Vec::new();
    for (id, j) in jobs() {
        batch.push(service.prepare_job(id, j, Analyser::Rules).await?.1);
    }
    let nj = store(service, Collection::Jobs, batch).await?;
    let mut batch = Vec::new();
    for (id, d) in resumes() {
        batch.push(service.prepare_resume(id, d, Analyser::Rules).await?.1);
    }
    let nr = store(service, Collection::Resumes, batch).await?;
    tracing::debug!(resumes = nr, "sample resumes loaded");
    Ok((nc, nj))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deterministic_and_realistic() {
        let a = jobs();
        let b = jobs();
        assert_eq!(a.len(), SAMPLE_JOBS as usize);
        assert_eq!(
            serde_json::to_string(&a[17].1).unwrap(),
            serde_json::to_string(&b[17].1).unwrap()
        );
        for (_, j) in &a {
            let (lo, hi) = (j.salary_min.unwrap(), j.salary_max.unwrap());
            assert!(
                (4000.0..=80000.0).contains(&lo) && hi > lo,
                "{lo} {hi} {}",
                j.title
            );
        }
        assert!(a.iter().any(|(_, j)| j.location == "深圳市"));
        let c = companies();
        assert_eq!(c.len(), SAMPLE_COMPANIES as usize);
        let names: std::collections::HashSet<&str> =
            c.iter().map(|(_, c)| c.name.as_str()).collect();
        assert_eq!(names.len(), c.len(), "company names are unique");
    }

    #[test]
    fn resumes_read_like_resumes() {
        let a = resumes();
        assert_eq!(a.len(), SAMPLE_RESUMES as usize);
        assert_eq!(a[42].1.content, resumes()[42].1.content);
        let mut scores = std::collections::BTreeSet::new();
        for (_, d) in &a {
            assert!(d.content.contains("期望薪资"), "{}", d.content);
            let (analysis, facts) = crate::analysis::resume::analyze(&d.content, 2025.5);
            assert!(facts.education.is_some(), "{}", d.content);
            assert!(!analysis.education.is_empty(), "{}", d.content);
            scores.insert(analysis.score);
        }
        assert!(scores.len() > 10, "scores vary: {scores:?}");
        let skilled = a
            .iter()
            .filter(|(_, d)| {
                !crate::analysis::resume::analyze(&d.content, 2025.5)
                    .0
                    .skills
                    .is_empty()
            })
            .count();
        assert!(
            skilled * 10 > a.len() * 8,
            "{skilled} of {} resumes name skills",
            a.len()
        );
    }
}
