//! Grounding: what of an LLM answer the input supports. Every field the model writes is checked
//! on its own against the entity's text and the lexicons before it is kept:
//!
//! - a **skill** must be a short term, not a file name, address, date or number, and occur in
//!   the text (ASCII terms on word boundaries) or name a lexicon skill the text mentions;
//! - an **extracted line** (a resume's experience or education) must be mostly made of the
//!   text's own words, with every multi-digit number taken from it;
//! - a **free-text field** must be text (not a number, not JSON, not the schema's words) of three
//!   letters or digits or more, in the input's language, share a word with the input, and name no
//!   number, education level or city the input does not (advice only needs to be text).
//!
//! A field that fails is dropped with a reason ([`Dropped`]) and the rules' value takes its
//! place; [`Provenance`] records which field came from where and how much of the answer
//! survived, which is what an LLM answer's confidence is derived from.

use std::collections::{BTreeMap, HashSet};

use serde::Serialize;
use serde_json::Value;

use super::city::Cities;
use super::extract;
use super::lexicon::Lexicon;
use crate::ai::builtin::is_cjk;

/// Longest skill kept (characters).
const MAX_SKILL_CHARS: usize = 40;
/// Most words in a skill.
const MAX_SKILL_WORDS: usize = 5;
/// Share of an extracted line's tokens that must occur in the input.
const MIN_LINE_SUPPORT: f64 = 0.6;
/// Share of CJK among the letters of a text field when the input is Chinese.
const MIN_CJK_SHARE: f64 = 0.2;
/// Fewest letters and digits (a CJK character counts as one) of a free-text field: "3-5年"
/// says something, "x" does not.
const MIN_TEXT_CHARS: usize = 3;
/// Longest dropped value quoted back (characters).
const MAX_QUOTED_CHARS: usize = 80;
/// Most dropped fields and items reported for one answer (a list of 10,000 junk items is
/// summed up by its first ones).
const MAX_DROPPED: usize = 32;

/// Placeholder answers that say nothing.
const PLACEHOLDERS: &[&str] = &[
    "string",
    "text",
    "null",
    "none",
    "n/a",
    "na",
    "todo",
    "tbd",
    "unknown",
    "无",
    "暂无",
    "未知",
    "...",
    "…",
    "资料未提及",
    "未提及",
];
/// File extensions that make a "skill" a file name.
const FILE_EXTENSIONS: &[&str] = &[
    ".png", ".jpg", ".jpeg", ".gif", ".bmp", ".webp", ".svg", ".pdf", ".doc", ".docx", ".txt",
    ".zip", ".rar", ".xls", ".xlsx", ".ppt", ".pptx", ".csv", ".mp4",
];

/// Where a field of an analysis came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum FieldSource {
    #[serde(rename = "llm")]
    Llm,
    #[serde(rename = "rules")]
    Rules,
    /// Both: a list with the model's grounded items and the rules' additions, or the rules'
    /// number with the model's bounded adjustment.
    #[serde(rename = "llm+rules")]
    Both,
}

/// A field (or list item) of the model's answer that grounding dropped.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Dropped {
    pub field: &'static str,
    /// `missing`, `empty`, `not_text`, `too_short`, `schema_copy`, `language`, `duplicate`,
    /// `number_not_in_input`, `education_not_in_input`, `city_not_in_input`, `off_topic`,
    /// `not_a_skill`, `not_in_input`, `out_of_range`.
    pub reason: &'static str,
    /// The dropped value, clipped (empty when the field was missing).
    pub value: String,
}

/// Which fields of an analysis came from the model, which from the rules, and what grounding
/// dropped.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Provenance {
    pub fields: BTreeMap<&'static str, FieldSource>,
    pub dropped: Vec<Dropped>,
    /// Weight of the model's fields that survived / weight asked (each asked field weighs 1; a
    /// list counts its share of grounded items).
    #[serde(skip)]
    kept: f64,
    #[serde(skip)]
    asked: f64,
}

impl Provenance {
    /// Every field from the rules (no LLM answer).
    pub fn rules(fields: &[&'static str]) -> Provenance {
        Provenance {
            fields: fields.iter().map(|f| (*f, FieldSource::Rules)).collect(),
            ..Provenance::default()
        }
    }

    /// Records a field asked of the model: `kept` is its surviving share (0..=1).
    pub fn asked(&mut self, field: &'static str, kept: f64, source: FieldSource) {
        self.asked += 1.0;
        self.kept += kept.clamp(0.0, 1.0);
        self.fields.insert(field, source);
    }

    /// Records a field the service computes (not counted as asked).
    pub fn computed(&mut self, field: &'static str, source: FieldSource) {
        self.fields.insert(field, source);
    }

    pub fn drop(&mut self, field: &'static str, reason: &'static str, value: &str) {
        if self.dropped.len() == MAX_DROPPED {
            return;
        }
        self.dropped.push(Dropped {
            field,
            reason,
            value: value.trim().chars().take(MAX_QUOTED_CHARS).collect(),
        });
    }

    /// Share of the answer that survived grounding, 0..=1.
    pub fn kept_share(&self) -> f64 {
        if self.asked == 0.0 {
            0.0
        } else {
            self.kept / self.asked
        }
    }

    /// `llm` when everything asked survived, `fallback` when nothing did, `llm+rules` between.
    pub fn source(&self) -> &'static str {
        let share = self.kept_share();
        if share <= 0.0 {
            "fallback"
        } else if share >= 1.0 && self.dropped.is_empty() {
            "llm"
        } else {
            "llm+rules"
        }
    }

    /// The confidence of a merged analysis: the rules' own, raised towards `ceiling` by the
    /// share of the model's answer that survived grounding (never by the model's say-so).
    pub fn confidence(&self, rules: f64, ceiling: f64) -> f64 {
        let c = rules + (ceiling - rules).max(0.0) * self.kept_share();
        (c * 100.0).round() / 100.0
    }
}

/// The input of one analysis, prepared for grounding checks.
#[derive(Debug)]
pub struct Evidence {
    /// Lower-cased input.
    lower: String,
    /// Lower-cased input with only letters, digits and CJK kept.
    squashed: String,
    /// Whether the input is Chinese (text fields must then be too).
    chinese: bool,
    /// Every digit run of the input, and the numbers the rules computed from it.
    numbers: HashSet<String>,
    /// Lexicon skills the input mentions, lower-cased.
    skills: HashSet<String>,
    /// Education levels the input mentions.
    education: HashSet<extract::Education>,
}

fn squash(s: &str) -> String {
    s.to_lowercase()
        .chars()
        .filter(|c| c.is_alphanumeric())
        .collect()
}

fn digit_runs(s: &str) -> Vec<(String, usize)> {
    let mut out = Vec::new();
    let mut cur = String::new();
    for (i, c) in s.char_indices().chain(std::iter::once((s.len(), ' '))) {
        if c.is_ascii_digit() {
            cur.push(c);
        } else if !cur.is_empty() {
            out.push((std::mem::take(&mut cur), i));
        }
    }
    out
}

/// CJK share of a text's letters.
fn cjk_share(s: &str) -> f64 {
    let (mut cjk, mut letters) = (0usize, 0usize);
    for c in s.chars() {
        if is_cjk(c) {
            cjk += 1;
            letters += 1;
        } else if c.is_alphabetic() {
            letters += 1;
        }
    }
    if letters == 0 {
        0.0
    } else {
        cjk as f64 / letters as f64
    }
}

/// Whether `needle` occurs in `hay` with no letter or digit glued to either side.
fn on_boundaries(hay: &str, needle: &str) -> bool {
    if needle.is_empty() {
        return false;
    }
    let glued = |c: Option<char>| c.is_some_and(|c| c.is_ascii_alphanumeric());
    let mut from = 0;
    while let Some(i) = hay[from..].find(needle) {
        let start = from + i;
        let end = start + needle.len();
        let ends_alnum = needle.ends_with(|c: char| c.is_ascii_alphanumeric());
        let after = hay[end..].chars().next();
        if !glued(hay[..start].chars().next_back())
            && !(ends_alnum && (glued(after) || matches!(after, Some('+' | '#'))))
        {
            return true;
        }
        from = start + hay[start..].chars().next().map_or(1, char::len_utf8);
    }
    false
}

impl Evidence {
    /// The evidence of `text`; `extra_numbers` are numbers the rules computed from it (years
    /// of experience, salaries) that text fields may quote.
    pub fn new(text: &str, extra_numbers: &[f64]) -> Evidence {
        let lower = text.to_lowercase();
        let mut numbers: HashSet<String> = digit_runs(text).into_iter().map(|(d, _)| d).collect();
        for n in extra_numbers.iter().filter(|n| n.is_finite() && **n >= 0.0) {
            numbers.insert(format!("{}", n.floor() as u64));
            numbers.insert(format!("{}", n.round() as u64));
        }
        let letters = text.chars().filter(|c| c.is_alphabetic()).count();
        let cjk = text.chars().filter(|c| is_cjk(*c)).count();
        Evidence {
            squashed: squash(text),
            chinese: letters > 0 && cjk as f64 / letters as f64 >= 0.1,
            numbers,
            skills: Lexicon::bundled()
                .find_skills(text)
                .into_iter()
                .map(|s| s.to_lowercase())
                .collect(),
            education: extract::education_levels(text).into_iter().collect(),
            lower,
        }
    }

    /// Whether every number of `s` comes from the input: runs of two digits or more always;
    /// single digits when they count years, thousands or ten-thousands ("5年", "8k", "2万").
    fn numbers_grounded(&self, s: &str) -> bool {
        digit_runs(s).into_iter().all(|(d, end)| {
            if d.len() >= 2 {
                return self.numbers.contains(&d)
                    || self.numbers.contains(d.trim_start_matches('0'));
            }
            let unit = s[end..].trim_start().chars().next();
            let counts = matches!(unit, Some('年' | '万' | 'k' | 'K' | 'w' | 'W'))
                || s[end..].trim_start().to_lowercase().starts_with("year");
            !counts || self.numbers.contains(&d)
        })
    }

    /// Whether every education level `s` names is one the input names.
    fn education_grounded(&self, s: &str) -> bool {
        extract::education_levels(s)
            .into_iter()
            .all(|e| self.education.contains(&e))
    }

    /// Whether the first city `s` names (if any) is one the input names.
    fn city_grounded(&self, s: &str) -> bool {
        match Cities::bundled().normalize(s) {
            None => true,
            Some(c) => {
                let stem = c.trim_end_matches(['市', '省']);
                self.lower.contains(&c) || (!stem.is_empty() && self.lower.contains(stem))
            }
        }
    }
}

/// A text value of the answer: strings as they are, a list of strings joined (models answer a
/// list where a paragraph was asked); anything else is not text.
fn as_text(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Array(items) if !items.is_empty() && items.iter().all(Value::is_string) => Some(
            items
                .iter()
                .filter_map(Value::as_str)
                .collect::<Vec<_>>()
                .join("；"),
        ),
        _ => None,
    }
}

/// The items of a list value: an array's strings (other items reported as `not_text`), or a
/// single string split at list separators.
fn as_items(v: &Value) -> (Vec<String>, Vec<String>) {
    match v {
        Value::Array(items) => {
            let mut ok = Vec::new();
            let mut bad = Vec::new();
            for i in items {
                match i {
                    Value::String(s) => ok.push(s.clone()),
                    Value::Null => {}
                    other => bad.push(other.to_string()),
                }
            }
            (ok, bad)
        }
        Value::String(s) => (
            s.split(['、', ',', '，', ';', '；', '\n'])
                .map(str::to_string)
                .collect(),
            Vec::new(),
        ),
        Value::Null => (Vec::new(), Vec::new()),
        other => (Vec::new(), vec![other.to_string()]),
    }
}

/// Why a free text is unusable regardless of the input: not text, a placeholder, JSON, the
/// schema's own words.
fn shape_problem(text: &str, schema_words: &[&str]) -> Option<&'static str> {
    let t = text.trim();
    if t.is_empty() {
        return Some("empty");
    }
    if !t.chars().any(char::is_alphabetic) {
        return Some("not_text");
    }
    let low = t.to_lowercase();
    let bare = low.trim_matches(|c: char| !c.is_alphanumeric() && !is_cjk(c));
    if PLACEHOLDERS.contains(&bare) {
        return Some("empty");
    }
    if t.starts_with('{')
        || t.starts_with('[')
        || schema_words
            .iter()
            .any(|w| bare == w.to_lowercase() || low == w.to_lowercase())
    {
        return Some("schema_copy");
    }
    None
}

/// Rules for one free-text field: text (not a number, JSON, a placeholder or the schema's
/// words), three letters or digits or more, in the input's language.
#[derive(Debug, Clone, Copy)]
pub struct TextRules {
    /// Numbers, education levels and cities must come from the input and the text must share a
    /// word with it (facts); off for advice, which talks about what is missing.
    pub facts: bool,
    /// Longest text kept (characters).
    pub max_chars: usize,
}

/// Checks one free-text field; `Err(reason)` drops it.
pub fn text(
    ev: &Evidence,
    value: &Value,
    rules: TextRules,
    schema_words: &[&str],
) -> Result<String, &'static str> {
    if value.is_null() {
        return Err("missing");
    }
    let t = as_text(value).ok_or("not_text")?;
    let t = t.trim();
    if let Some(p) = shape_problem(t, schema_words) {
        return Err(p);
    }
    if t.chars().filter(|c| c.is_alphanumeric()).count() < MIN_TEXT_CHARS {
        return Err("too_short");
    }
    if ev.chinese && cjk_share(t) < MIN_CJK_SHARE {
        return Err("language");
    }
    if rules.facts {
        if !ev.numbers_grounded(t) {
            return Err("number_not_in_input");
        }
        if !ev.education_grounded(t) {
            return Err("education_not_in_input");
        }
        if !ev.city_grounded(t) {
            return Err("city_not_in_input");
        }
        // About this input: at least one word or CJK bigram of it (a real description, even
        // a paraphrase, names something the input names; junk does not).
        let on_topic = tokens(t)
            .iter()
            .any(|k| !k.chars().all(|c| c.is_ascii_digit()) && ev.lower.contains(k.as_str()));
        if !on_topic {
            return Err("off_topic");
        }
    }
    Ok(t.chars().take(rules.max_chars).collect())
}

/// Strips list bullets and quotes around an item ("- Rust", "1. Rust", "“Rust”").
fn strip_item(s: &str) -> &str {
    let t = s
        .trim()
        .trim_matches(['"', '\'', '“', '”', '「', '」', '`', '*', '•', '·']);
    let t = t.trim_start_matches(['-', '•', '·', '*']).trim_start();
    // "1. Rust", "2、Go"
    if let Some((head, rest)) = t.split_once(['.', '、', ')', '）']) {
        if !head.is_empty() && head.len() <= 2 && head.chars().all(|c| c.is_ascii_digit()) {
            return rest.trim();
        }
    }
    t
}

/// Checks one skill; `Ok` carries the name to keep (the lexicon's spelling when it names one).
pub fn skill(ev: &Evidence, raw: &str) -> Result<String, &'static str> {
    let s = strip_item(raw);
    if s.is_empty() {
        return Err("empty");
    }
    let low = s.to_lowercase();
    let digits = s.chars().filter(char::is_ascii_digit).count();
    let letters = s.chars().filter(|c| c.is_alphabetic()).count();
    if s.chars().count() > MAX_SKILL_CHARS
        || s.split_whitespace().count() > MAX_SKILL_WORDS
        || letters == 0
        || digits > letters
        || s.contains(['，', '。', '；', ';', '：', '@', '/', '\\', '='])
        || low.starts_with("http")
        || low.starts_with("www.")
        || FILE_EXTENSIONS.iter().any(|e| low.ends_with(e))
        || PLACEHOLDERS.contains(&low.as_str())
    {
        return Err("not_a_skill");
    }
    // The lexicon's name when the answer names exactly one lexicon skill the input mentions.
    let named = Lexicon::bundled().find_skills(s);
    if let [one] = named.as_slice() {
        if squash(one) == squash(s) && ev.skills.contains(&one.to_lowercase()) {
            return Ok(one.clone());
        }
    }
    let found = if s.is_ascii() {
        on_boundaries(&ev.lower, &low)
            || (low.contains([' ', '-', '.', '_']) && on_boundaries(&ev.squashed, &squash(s)))
    } else {
        let q = squash(s);
        !q.is_empty() && ev.squashed.contains(&q)
    };
    if found {
        Ok(s.to_string())
    } else {
        Err("not_in_input")
    }
}

/// Tokens of a line for the support measure: CJK bigrams (a lone CJK character alone), Latin
/// words of two characters or more, digit runs.
fn tokens(s: &str) -> Vec<String> {
    #[derive(PartialEq, Clone, Copy)]
    enum Class {
        Cjk,
        Word,
        Other,
    }
    let class = |c: char| {
        if is_cjk(c) {
            Class::Cjk
        } else if c.is_alphanumeric() || c == '+' || c == '#' {
            Class::Word
        } else {
            Class::Other
        }
    };
    let mut out = Vec::new();
    let chars: Vec<char> = s.to_lowercase().chars().collect();
    let mut i = 0;
    while i < chars.len() {
        let k = class(chars[i]);
        let mut j = i;
        while j < chars.len() && class(chars[j]) == k {
            j += 1;
        }
        let run = &chars[i..j];
        match k {
            Class::Cjk if run.len() == 1 => out.push(run[0].to_string()),
            Class::Cjk => out.extend(run.windows(2).map(|w| w.iter().collect::<String>())),
            Class::Word if run.len() >= 2 || run[0].is_ascii_digit() => {
                out.push(run.iter().collect())
            }
            _ => {}
        }
        i = j;
    }
    out
}

/// Checks one line the model extracted from the input (a work period, a school): mostly the
/// input's own words, numbers from the input.
pub fn line(ev: &Evidence, raw: &str, max_chars: usize) -> Result<String, &'static str> {
    let s = strip_item(raw);
    if let Some(p) = shape_problem(s, &[]) {
        return Err(p);
    }
    let toks = tokens(s);
    if toks.is_empty() {
        return Err("not_text");
    }
    let found = toks
        .iter()
        .filter(|t| {
            if t.chars().all(|c| c.is_ascii_digit()) {
                ev.numbers.contains(t.as_str())
            } else {
                ev.lower.contains(t.as_str())
            }
        })
        .count();
    if (found as f64) < MIN_LINE_SUPPORT * toks.len() as f64 {
        return Err("not_in_input");
    }
    if !ev.numbers_grounded(s) {
        return Err("number_not_in_input");
    }
    if !ev.education_grounded(s) {
        return Err("education_not_in_input");
    }
    Ok(s.chars().take(max_chars).collect())
}

/// A list field checked item by item with `check`; returns the kept items (de-duplicated,
/// at most `max`), the share of items kept, and records the dropped ones.
pub fn list(
    prov: &mut Provenance,
    field: &'static str,
    value: &Value,
    max: usize,
    mut check: impl FnMut(&str) -> Result<String, &'static str>,
) -> (Vec<String>, f64) {
    let (items, bad) = as_items(value);
    for b in &bad {
        prov.drop(field, "not_text", b);
    }
    let mut kept: Vec<String> = Vec::new();
    let mut total = bad.len();
    for i in items {
        if i.trim().is_empty() {
            continue;
        }
        total += 1;
        match check(&i) {
            Ok(k) => {
                if kept.iter().any(|o| o.eq_ignore_ascii_case(&k)) {
                    // A repeat is neither kept nor counted against the answer.
                    total -= 1;
                } else if kept.len() < max {
                    kept.push(k);
                }
            }
            Err(reason) => prov.drop(field, reason, &i),
        }
    }
    if total == 0 {
        let reason = if value.is_null() { "missing" } else { "empty" };
        prov.drop(field, reason, "");
        return (kept, 0.0);
    }
    let share = kept.len().min(total) as f64 / total as f64;
    (kept, share)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const RESUME: &str =
        "王五 高中学历 2019.03-2023.06 深圳某贸易公司 文员，会用Word和Excel、k8s。\
        期望城市：深圳";

    fn ev() -> Evidence {
        Evidence::new(RESUME, &[4.3])
    }

    #[test]
    fn skills_must_occur_in_the_text() {
        let e = ev();
        assert_eq!(skill(&e, "Excel").unwrap(), "Excel");
        assert_eq!(skill(&e, "- word").unwrap(), "word");
        assert_eq!(
            skill(&e, "Kubernetes"),
            Err("not_in_input"),
            "alias only via lexicon"
        );
        assert_eq!(skill(&e, "Rust"), Err("not_in_input"));
        assert_eq!(skill(&e, "avatar.png"), Err("not_a_skill"));
        assert_eq!(skill(&e, "2023-06-01 12:00:00"), Err("not_a_skill"));
        assert_eq!(skill(&e, "1234567890"), Err("not_a_skill"));
        assert_eq!(
            skill(&e, "熟练掌握各种办公软件，能够独立完成工作"),
            Err("not_a_skill")
        );
        // "Go" inside "Google" is not the skill Go.
        let g = Evidence::new("在Google做搜索", &[]);
        assert_eq!(skill(&g, "Go"), Err("not_in_input"));
    }

    #[test]
    fn text_fields_need_the_inputs_language_and_facts() {
        let e = ev();
        let r = TextRules {
            facts: true,
            max_chars: 100,
        };
        assert!(text(&e, &json!("候选人有4年文员经验，熟悉Excel"), r, &[]).is_ok());
        assert_eq!(text(&e, &json!("1234567890"), r, &[]), Err("not_text"));
        assert_eq!(text(&e, &json!(528000), r, &[]), Err("not_text"));
        assert_eq!(
            text(&e, &json!("Corporate Pools and Companies"), r, &[]),
            Err("language")
        );
        assert_eq!(
            text(&e, &json!("企业概况"), r, &["企业概况"]),
            Err("schema_copy")
        );
        assert_eq!(text(&e, &json!("string"), r, &[]), Err("empty"));
        assert_eq!(
            text(&e, &json!("候选人有10年经验"), r, &[]),
            Err("number_not_in_input")
        );
        assert_eq!(
            text(&e, &json!("候选人硕士毕业"), r, &[]),
            Err("education_not_in_input")
        );
        assert_eq!(
            text(&e, &json!("候选人希望在北京工作"), r, &[]),
            Err("city_not_in_input")
        );
        assert!(text(&e, &json!("希望在深圳工作"), r, &[]).is_ok());
        // Junk a small model wrote for this resume: Chinese, no numbers, about nothing in it.
        assert_eq!(
            text(&e, &json!("1. 说话，说话！"), r, &[]),
            Err("off_topic")
        );
        assert_eq!(text(&e, &json!(", 1. 说话！"), r, &[]), Err("off_topic"));
        assert_eq!(text(&e, &json!("x"), r, &[]), Err("too_short"));
        let job = Evidence::new(
            "Rust后端工程师\n负责存储服务\n熟悉Rust，3-5年经验",
            &[3.0, 5.0],
        );
        assert!(text(&job, &json!("3-5年"), r, &[]).is_ok());
        assert_eq!(
            text(&job, &json!("重视Rust代码质量"), r, &[]),
            Ok("重视Rust代码质量".into())
        );
        assert_eq!(text(&e, &Value::Null, r, &[]), Err("missing"));
        let advice = TextRules {
            facts: false,
            max_chars: 100,
        };
        assert!(text(&e, &json!("建议补充3个项目经历"), advice, &[]).is_ok());
    }

    #[test]
    fn extracted_lines_are_the_inputs_own() {
        let e = ev();
        assert!(line(&e, "2019.03-2023.06 深圳某贸易公司 文员", 200).is_ok());
        assert_eq!(
            line(&e, "2015-2019 北京大学 计算机 本科", 200),
            Err("not_in_input")
        );
        assert_eq!(
            line(&e, "2010.03-2023.06 深圳某贸易公司 文员", 200),
            Err("number_not_in_input")
        );
    }

    #[test]
    fn provenance_counts_what_survived() {
        let e = ev();
        let mut p = Provenance::default();
        let (kept, share) = list(
            &mut p,
            "skills",
            &json!(["Excel", "Rust", "excel", 3]),
            30,
            |s| skill(&e, s),
        );
        assert_eq!(kept, ["Excel"]);
        assert!((share - 1.0 / 3.0).abs() < 1e-9, "{share}");
        p.asked("skills", share, FieldSource::Llm);
        p.asked("summary", 1.0, FieldSource::Llm);
        assert_eq!(p.source(), "llm+rules");
        assert_eq!(p.dropped.len(), 2);
        assert_eq!(p.confidence(0.3, 0.95), 0.73);
        let none = Provenance::rules(&["summary"]);
        assert_eq!(none.source(), "fallback");
    }
}
