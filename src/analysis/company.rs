//! Rule-based company analysis: profile, culture, benefits, growth signals and industry
//! position read from what the company says about itself.

use serde::Serialize;

use super::city::Cities;
use super::job::culture_signals;
use crate::entity::CompanyData;

const BENEFITS: &[&str] = &[
    "五险一金",
    "六险一金",
    "补充医疗",
    "年终奖",
    "股票期权",
    "期权",
    "股票",
    "带薪年假",
    "弹性工作",
    "餐补",
    "免费午餐",
    "三餐",
    "交通补贴",
    "住房补贴",
    "班车",
    "定期体检",
    "团建",
    "节日福利",
    "下午茶",
    "健身房",
    "通讯补贴",
    "免费零食",
    "商业保险",
    "员工旅游",
    "年度调薪",
];
const GROWTH: &[(&str, &str)] = &[
    ("上市", "已上市"),
    ("IPO", "筹备上市"),
    ("D轮", "D轮及以后融资"),
    ("C轮", "C轮融资"),
    ("B轮", "B轮融资"),
    ("A轮", "A轮融资"),
    ("天使轮", "天使轮融资"),
    ("融资", "获得融资"),
    ("增长", "业务增长"),
    ("扩张", "业务扩张"),
    ("独角兽", "独角兽企业"),
    ("领先", "自称行业领先"),
    ("海外", "布局海外市场"),
];

/// The `analysis` object of `POST /api/v1/analyze/company`.
#[derive(Debug, Clone, Serialize)]
pub struct CompanyAnalysis {
    pub company_profile: String,
    pub culture_analysis: String,
    pub benefits_analysis: String,
    pub growth_potential: String,
    pub industry_position: String,
    pub confidence_score: f64,
}

/// Size class of a company from "startup", "enterprise", "500-999人", "10000人以上", ...
pub fn size_label(size: &str) -> Option<&'static str> {
    let s = size.trim().to_lowercase();
    let first_number: Option<u64> = s
        .split(|c: char| !c.is_ascii_digit())
        .find(|p| !p.is_empty())
        .and_then(|p| p.parse().ok());
    Some(match (s.as_str(), first_number) {
        ("startup" | "初创", _) => "初创企业",
        ("small" | "小型", _) => "小型企业",
        ("medium" | "中型", _) => "中型企业",
        ("large" | "大型", _) => "大型企业",
        ("enterprise" | "集团" | "超大型", _) => "大型集团",
        (_, Some(n)) if n < 50 => "初创企业",
        (_, Some(n)) if n < 300 => "小型企业",
        (_, Some(n)) if n < 1000 => "中型企业",
        (_, Some(n)) if n < 10000 => "大型企业",
        (_, Some(_)) => "大型集团",
        _ => return None,
    })
}

/// City of a company.
pub fn city(c: &CompanyData) -> Option<String> {
    Cities::bundled().normalize(&c.location)
}

pub fn analyze(c: &CompanyData) -> CompanyAnalysis {
    let text = format!("{}\n{}", c.name, c.description);
    let name = if c.name.is_empty() {
        "该企业"
    } else {
        c.name.as_str()
    };
    let size = size_label(&c.size);
    let city = city(c);
    let mut profile = name.to_string();
    let facts: Vec<String> = [
        city.clone(),
        (!c.industry.is_empty()).then(|| format!("{}行业", c.industry)),
        size.map(str::to_string),
    ]
    .into_iter()
    .flatten()
    .collect();
    if !facts.is_empty() {
        profile.push_str(&format!("，{}", facts.join("，")));
    }
    if !c.description.trim().is_empty() {
        profile.push_str(&format!("。{}", c.description.trim()));
    }
    let culture = culture_signals(&text);
    let culture_analysis = if culture.is_empty() {
        "企业介绍未提及文化与工作方式".to_string()
    } else {
        format!("企业介绍体现：{}", culture.join("、"))
    };
    let benefits: Vec<&str> = BENEFITS
        .iter()
        .copied()
        .filter(|b| text.contains(b))
        .collect();
    let benefits_analysis = if benefits.is_empty() {
        "企业介绍未列出福利待遇，建议面试时确认五险一金、年假与奖金".to_string()
    } else {
        format!("提及的福利：{}", benefits.join("、"))
    };
    let growth: Vec<&str> = GROWTH
        .iter()
        .filter(|(k, _)| text.contains(k))
        .map(|(_, v)| *v)
        .collect();
    let growth_potential = match (growth.is_empty(), size) {
        (false, _) => format!("发展信号：{}", growth.join("、")),
        (true, Some(s)) => format!("{s}，介绍中未提及融资或增长信息"),
        (true, None) => "信息不足，无法判断发展潜力".to_string(),
    };
    let industry_position = match (c.industry.is_empty(), size) {
        (false, Some(s)) => format!("{}行业的{s}", c.industry),
        (false, None) => format!("{}行业企业，规模未知", c.industry),
        (true, Some(s)) => format!("行业未注明的{s}"),
        (true, None) => "行业与规模未注明".to_string(),
    };
    let found = [
        !culture.is_empty(),
        !benefits.is_empty(),
        !growth.is_empty(),
        size.is_some(),
        city.is_some(),
        !c.industry.is_empty(),
    ]
    .iter()
    .filter(|b| **b)
    .count();
    CompanyAnalysis {
        company_profile: profile,
        culture_analysis,
        benefits_analysis,
        growth_potential,
        industry_position,
        confidence_score: 0.3 + 0.05 * found as f64,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn depends_on_the_input() {
        let c = CompanyData {
            name: "腾讯科技".into(),
            industry: "互联网".into(),
            size: "enterprise".into(),
            location: "深圳".into(),
            description: "中国领先的互联网综合服务提供商，扁平化管理，五险一金、年终奖、免费班车"
                .into(),
            website: String::new(),
        };
        let a = analyze(&c);
        assert!(a.company_profile.contains("深圳市"));
        assert!(a.culture_analysis.contains("扁平化管理"));
        assert!(a.benefits_analysis.contains("年终奖"));
        assert_eq!(a.industry_position, "互联网行业的大型集团");
        let b = analyze(&CompanyData {
            name: "小店".into(),
            ..CompanyData::default()
        });
        assert_ne!(a.culture_analysis, b.culture_analysis);
        assert!(b.confidence_score < a.confidence_score);
        assert_eq!(size_label("500-999人"), Some("中型企业"));
    }
}
