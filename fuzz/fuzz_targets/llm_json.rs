//! What the service does with an LLM's text: JSON repair (`extract_json`,
//! `parse_json_output`), the typed answers with their validation and the merges with the
//! rule-based analyses (`analysis::llm`), the prompts that fence untrusted text, and the rule
//! analysers themselves (they read the same untrusted text).
//!
//! Invariants: nothing panics (UTF-8 boundaries!); an extracted span is a substring of the
//! input and is valid JSON; a parsed value is an object or array; a merged analysis respects
//! the clipping limits, never has a confidence below the rules' or above the ceiling, and a
//! resume's score is never above its facts' score; a prompt holds exactly one data fence.
//!
//! Input: the first byte picks the consumer after the repair (none, company, job, resume),
//! the rest is the model's text (lossily decoded as UTF-8).

#![no_main]

use jobfirst_ai::ai::llm::{extract_json, parse_json_output, parse_validated};
use jobfirst_ai::analysis::llm::{
    company_task, job_task, merge_company, merge_job, merge_resume, resume_task, CompanyOutput,
    JobOutput, ResumeOutput, Task, LLM_MAX_CONFIDENCE,
};
use jobfirst_ai::analysis::{company, job, resume};
use jobfirst_ai::entity::{CompanyData, JobData};
use libfuzzer_sys::fuzz_target;
use serde_json::Value;

// The clipping limits of `analysis::llm` (private there).
const MAX_TEXT_CHARS: usize = 2_000;
const MAX_ITEM_CHARS: usize = 200;
const MAX_ITEMS: usize = 30;

fn chars(s: &str) -> usize {
    s.chars().count()
}

fn check_text(field: &str, s: &str) {
    assert!(chars(s) <= MAX_TEXT_CHARS, "{field}: {} chars", chars(s));
    assert!(
        !s.trim().is_empty(),
        "{field} is empty after a validated answer"
    );
}

fn check_list(field: &str, items: &[String]) {
    assert!(items.len() <= MAX_ITEMS, "{field}: {} items", items.len());
    for i in items {
        assert!(
            chars(i) <= MAX_ITEM_CHARS,
            "{field}: item of {} chars",
            chars(i)
        );
        assert!(!i.is_empty(), "{field}: empty item");
    }
}

fn check_confidence(c: f64, rules: f64) {
    assert!(
        c >= rules - 1e-9 && c <= LLM_MAX_CONFIDENCE.max(rules) + 1e-9,
        "confidence {c} (rules {rules})"
    );
}

fn check_task(t: &Task) {
    assert_eq!(t.prompt.matches("<<<DATA").count(), 1, "fence opened twice");
    assert_eq!(t.prompt.matches("DATA>>>").count(), 1, "fence closed twice");
    assert!(t.prompt.find("<<<DATA") < t.prompt.find("DATA>>>"));
}

fn repair(text: &str) {
    if let Some(span) = extract_json(text) {
        let start = (span.as_ptr() as usize).wrapping_sub(text.as_ptr() as usize);
        assert!(
            start <= text.len() && span.len() <= text.len() - start,
            "extracted span is not inside the input"
        );
        assert_eq!(&text[start..start + span.len()], span);
        assert!(
            span.starts_with('{') || span.starts_with('['),
            "span {span:?}"
        );
        serde_json::from_str::<serde::de::IgnoredAny>(span).expect("extracted span is JSON");
    }
    if let Ok(v) = parse_json_output::<Value>(text) {
        assert!(v.is_object() || v.is_array(), "parsed a scalar: {v}");
        assert!(extract_json(text).is_some(), "parsed but nothing extracted");
    }
}

fn company(text: &str) {
    let data = CompanyData {
        name: text.into(),
        industry: text.into(),
        size: text.into(),
        location: text.into(),
        description: text.into(),
        website: text.into(),
    };
    check_task(&company_task(&data));
    let rules = company::analyze(&data);
    let _ = company::size_label(text);
    let _ = company::city(&data);
    assert!(rules.confidence_score.is_finite());
    if let Ok(out) = parse_validated::<CompanyOutput>(text) {
        let a = merge_company(&out, &data, rules.clone()).analysis;
        check_text("company_profile", &a.company_profile);
        check_text("culture_analysis", &a.culture_analysis);
        check_text("benefits_analysis", &a.benefits_analysis);
        check_text("growth_potential", &a.growth_potential);
        check_text("industry_position", &a.industry_position);
        check_confidence(a.confidence_score, rules.confidence_score);
    }
}

fn job(text: &str) {
    let data = JobData {
        title: text.into(),
        company: text.into(),
        location: text.into(),
        description: text.into(),
        requirements: text.into(),
        experience: Some(text.into()),
        education: Some(text.into()),
        industry: Some(text.into()),
        job_type: Some(text.into()),
        ..JobData::default()
    };
    check_task(&job_task(&data));
    let facts = job::facts(&data);
    let _ = job::culture_signals(text);
    let salary = job::predict_salary(&data, &[]);
    let rules = job::analyze(&data, &facts, salary);
    if let Ok(out) = parse_validated::<JobOutput>(text) {
        let a = merge_job(&out, &data, &facts, rules.clone()).analysis;
        check_text("enhanced_description", &a.enhanced_description);
        check_list("extracted_skills", &a.extracted_skills);
        check_text("company_culture_fit", &a.company_culture_fit);
        check_confidence(a.confidence_score, rules.confidence_score);
        assert!(a.salary_prediction.min.is_none() && a.salary_prediction.max.is_none());
    }
}

fn resume_(text: &str) {
    check_task(&resume_task(text, text));
    let (rules, facts) = resume::analyze(text, 2026.5);
    assert!(rules.score <= 100);
    if let Some(y) = facts.years {
        assert!(y.is_finite() && y >= 0.0, "years {y}");
    }
    let _ = resume::wanted_city(text);
    let _ = resume::expected_salary(text);
    if let Ok(out) = parse_validated::<ResumeOutput>(text) {
        let a = merge_resume(&out, text, &facts, rules.clone()).analysis;
        check_list("skills", &a.skills);
        check_text("summary", &a.summary);
        check_list("suggestions", &a.suggestions);
        assert!(a.score <= rules.score, "the model raised a score");
        assert!(a.experience.len() <= MAX_ITEMS && a.education.len() <= MAX_ITEMS);
    }
}

/// Valid answers, clean and wrapped, as seeds (`JOBFIRST_FUZZ_SEEDS=<dir>`).
fn write_seeds() {
    let Some(dir) = std::env::var_os("JOBFIRST_FUZZ_SEEDS") else {
        return;
    };
    let dir = std::path::Path::new(&dir);
    std::fs::create_dir_all(dir).expect("seed dir");
    let company = r#"{"company_profile":"一家做搜索的公司","culture_analysis":"工程师文化","benefits_analysis":"六险一金","growth_potential":"高","industry_position":"领先","confidence_score":0.8}"#;
    let job = r#"{"enhanced_description":"负责检索服务","extracted_skills":["Rust","Tokio"],"experience_requirements":"3-5年","company_culture_fit":"开放","confidence_score":0.9}"#;
    let resume = r#"{"skills":["Rust","SQL"],"experience":["2019-至今 极客科技"],"education":["北京大学 本科"],"summary":"后端工程师","score":85,"suggestions":["补充项目成果"]}"#;
    let seeds = [
        ("company", company.to_string()),
        ("job", job.to_string()),
        ("resume", resume.to_string()),
        ("fenced", format!("好的，结果如下：\n```json\n{job}\n```\n希望有帮助")),
        ("prose", format!("Sure! {{name}} here it is: {resume} — bye }}")),
        ("truncated", company[..company.find("growth").unwrap_or(0)].to_string()),
        (
            "resume-text",
            "张三\n2018.03-至今 极客科技 高级工程师\n2014-2018 清华大学 本科\n期望城市：深圳\n期望薪资：20k-30k".to_string(),
        ),
    ];
    for (name, text) in seeds {
        for which in 0u8..4 {
            let mut seed = vec![which];
            seed.extend_from_slice(text.as_bytes());
            std::fs::write(dir.join(format!("{name}-{which}")), seed).expect("seed");
        }
    }
}

fuzz_target!(init: { write_seeds(); }, |data: &[u8]| {
    // The first byte picks which consumer reads the text after the JSON repair (the rule
    // analysers cost far more than the repair; running all three would slow every input).
    let Some((&which, rest)) = data.split_first() else {
        return;
    };
    let text = String::from_utf8_lossy(rest);
    repair(&text);
    match which % 4 {
        0 => {}
        1 => company(&text),
        2 => job(&text),
        _ => resume_(&text),
    }
});
