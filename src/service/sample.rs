//! The bundled sample data: companies and jobs generated deterministically from the lexicons
//! (job categories, cities, realistic salary levels) and loaded through the same analyse
//! pipeline on the first start of an empty data dir, so the README's examples answer at once.

use super::{AiService, Analyser, Result};
use crate::analysis::lexicon::{Lexicon, Occupation};
use crate::entity::{CompanyData, Id, JobData};
use crate::vector::Collection;

pub const SAMPLE_COMPANIES: u64 = 40;
pub const SAMPLE_JOBS: u64 = 200;
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
];
const NAME_HEADS: &[&str] = &[
    "星辰", "云帆", "蓝海", "智远", "数澜", "极光", "千帆", "易达", "华拓", "思博", "青藤", "远景",
    "麦芒", "知行", "若水", "启明", "深蓝", "飞鱼", "锦程", "盛图",
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

/// SplitMix64: a tiny deterministic generator.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
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
    let mut r = Rng(7);
    (0..SAMPLE_COMPANIES)
        .map(|i| {
            let (industry, suffix) = INDUSTRIES[i as usize % INDUSTRIES.len()];
            let head = NAME_HEADS[i as usize % NAME_HEADS.len()];
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
    let mut r = Rng(11);
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

/// Analyses and stores every sample company and job (one transaction per collection).
pub async fn load(service: &AiService) -> Result<(usize, usize)> {
    let mut batch = Vec::new();
    for (id, c) in companies() {
        batch.push(service.prepare_company(id, c, Analyser::Rules).await?.1);
    }
    let nc = batch.len();
    service.write_batch(Collection::Companies, batch).await?;
    let mut batch = Vec::new();
    for (id, j) in jobs() {
        batch.push(service.prepare_job(id, j, Analyser::Rules).await?.1);
    }
    let nj = batch.len();
    service.write_batch(Collection::Jobs, batch).await?;
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
        assert_eq!(companies().len(), SAMPLE_COMPANIES as usize);
    }
}
