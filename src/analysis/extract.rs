//! Facts read from free text: required or accumulated years of experience ("3-5年",
//! "5年以上", "3+ years", "2018.03 - 至今") and education levels ("本科及以上", "硕士", "大专").

use serde::Serialize;

/// An education level, ordered from lowest to highest.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
pub enum Education {
    HighSchool,
    College,
    Bachelor,
    Master,
    Doctor,
}

impl Education {
    /// The Chinese label stored in payloads and shown in analyses.
    pub fn label(self) -> &'static str {
        match self {
            Education::HighSchool => "高中",
            Education::College => "大专",
            Education::Bachelor => "本科",
            Education::Master => "硕士",
            Education::Doctor => "博士",
        }
    }

    /// Parses a label or a common synonym ("研究生", "Bachelor", "bachelor's").
    pub fn parse(s: &str) -> Option<Education> {
        let levels = mentions(s);
        levels.first().map(|(_, e)| *e)
    }
}

const EDUCATION_WORDS: &[(&str, Education)] = &[
    ("博士", Education::Doctor),
    ("phd", Education::Doctor),
    ("ph.d", Education::Doctor),
    ("doctor", Education::Doctor),
    ("硕士", Education::Master),
    ("研究生", Education::Master),
    ("mba", Education::Master),
    ("master", Education::Master),
    ("本科", Education::Bachelor),
    ("学士", Education::Bachelor),
    ("bachelor", Education::Bachelor),
    ("大专", Education::College),
    ("专科", Education::College),
    ("高职", Education::College),
    ("associate", Education::College),
    ("高中", Education::HighSchool),
    ("中专", Education::HighSchool),
    ("中技", Education::HighSchool),
    ("high school", Education::HighSchool),
];

/// Every education level mentioned, with its byte position in the lowercased text.
fn mentions(text: &str) -> Vec<(usize, Education)> {
    let lower = text.to_lowercase();
    let mut out: Vec<(usize, Education)> = Vec::new();
    for (w, e) in EDUCATION_WORDS {
        let mut from = 0;
        while let Some(i) = lower[from..].find(w) {
            out.push((from + i, *e));
            from += i + w.len();
        }
    }
    out.sort_by_key(|(i, _)| *i);
    out
}

/// The minimum education a job asks for: the first level mentioned ("本科及以上", "硕士优先"
/// after "本科" still means 本科). `None` when the text names none or says "学历不限".
pub fn education_requirement(text: &str) -> Option<Education> {
    if text.contains("学历不限") || text.contains("不限学历") {
        return None;
    }
    mentions(text).first().map(|(_, e)| *e)
}

/// Every education level a text mentions, each once, in order of first mention.
pub fn education_levels(text: &str) -> Vec<Education> {
    let mut out = Vec::new();
    for (_, e) in mentions(text) {
        if !out.contains(&e) {
            out.push(e);
        }
    }
    out
}

/// The highest education level a resume mentions.
pub fn highest_education(text: &str) -> Option<Education> {
    mentions(text).into_iter().map(|(_, e)| e).max()
}

/// Years of experience a job requires: `(min, max)`; `(0, None)` for "经验不限"/"应届".
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct YearsRange {
    pub min: f32,
    pub max: Option<f32>,
}

impl YearsRange {
    /// "3-5年", "5年以上", "经验不限".
    pub fn describe(&self) -> String {
        match (self.min, self.max) {
            (m, None) if m <= 0.0 => "经验不限".to_string(),
            (m, None) => format!("{}年以上", fmt_years(m)),
            (m, Some(x)) if m <= 0.0 => format!("{}年以下", fmt_years(x)),
            (m, Some(x)) if (m - x).abs() < f32::EPSILON => format!("{}年", fmt_years(m)),
            (m, Some(x)) => format!("{}-{}年", fmt_years(m), fmt_years(x)),
        }
    }
}

pub fn fmt_years(y: f32) -> String {
    if (y - y.round()).abs() < 0.05 {
        format!("{}", y.round() as i64)
    } else {
        format!("{y:.1}")
    }
}

fn cn_digit(c: char) -> Option<f32> {
    Some(match c {
        '一' => 1.0,
        '二' | '两' => 2.0,
        '三' => 3.0,
        '四' => 4.0,
        '五' => 5.0,
        '六' => 6.0,
        '七' => 7.0,
        '八' => 8.0,
        '九' => 9.0,
        '十' => 10.0,
        _ => return None,
    })
}

/// Reads a number at `chars[i..]`: ASCII digits (with an optional ".5") or one or two Chinese
/// numerals. Returns the value and the index after it.
fn number_at(chars: &[char], i: usize) -> Option<(f32, usize)> {
    let mut j = i;
    while j < chars.len() && chars[j].is_ascii_digit() {
        j += 1;
    }
    if j > i {
        if j < chars.len() - 1 && chars[j] == '.' && chars[j + 1].is_ascii_digit() {
            j += 2;
        }
        let s: String = chars[i..j].iter().collect();
        return s.parse().ok().map(|v| (v, j));
    }
    let a = cn_digit(*chars.get(i)?)?;
    match chars.get(i + 1).and_then(|c| cn_digit(*c)) {
        Some(b) if a == 10.0 => Some((10.0 + b, i + 2)),
        Some(10.0) => Some((a * 10.0, i + 2)),
        _ => Some((a, i + 1)),
    }
}

fn starts_with_at(chars: &[char], i: usize, word: &str) -> bool {
    let mut k = i;
    for w in word.chars() {
        match chars.get(k) {
            Some(c) if c.to_ascii_lowercase() == w => k += 1,
            _ => return false,
        }
    }
    true
}

fn skip_spaces(chars: &[char], mut i: usize) -> usize {
    while i < chars.len() && chars[i].is_whitespace() {
        i += 1;
    }
    i
}

fn is_dash(c: char) -> bool {
    matches!(c, '-' | '~' | '～' | '—' | '–' | '至' | '到')
}

/// Every "N年" / "N-M年" / "N+ years" statement: (min, max, open-ended, byte-free char index).
fn year_statements(text: &str) -> Vec<(f32, Option<f32>, usize)> {
    let chars: Vec<char> = text.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let prev_digit =
            i > 0 && (chars[i - 1].is_ascii_digit() || cn_digit(chars[i - 1]).is_some());
        let Some((a, mut j)) = (!prev_digit).then(|| number_at(&chars, i)).flatten() else {
            i += 1;
            continue;
        };
        let mut b = None;
        let k = skip_spaces(&chars, j);
        if k < chars.len() && is_dash(chars[k]) {
            if let Some((v, e)) = number_at(&chars, skip_spaces(&chars, k + 1)) {
                b = Some(v);
                j = e;
            }
        }
        let mut plus = false;
        let mut k = skip_spaces(&chars, j);
        if chars.get(k) == Some(&'+') {
            plus = true;
            k = skip_spaces(&chars, k + 1);
        }
        let unit_len = if chars.get(k) == Some(&'年') {
            Some(1)
        } else if starts_with_at(&chars, k, "years") {
            Some(5)
        } else if starts_with_at(&chars, k, "year") || starts_with_at(&chars, k, "yrs") {
            Some(if starts_with_at(&chars, k, "yrs") {
                3
            } else {
                4
            })
        } else {
            None
        };
        let (Some(unit_len), true) = (unit_len, a <= 40.0 && b.is_none_or(|b| b <= 40.0 && b >= a))
        else {
            i = j.max(i + 1);
            continue;
        };
        let after = k + unit_len;
        let tail: String = chars[after..(after + 4).min(chars.len())].iter().collect();
        let (min, max) = if let Some(b) = b {
            (a, Some(b))
        } else if plus || tail.starts_with("以上") || tail.starts_with("及以上") {
            (a, None)
        } else if tail.starts_with("以下") || tail.starts_with("以内") {
            (0.0, Some(a))
        } else {
            (a, None)
        };
        // "N年" needs a context word nearby to mean experience (not "3年任期", "2020年").
        let lo = i.saturating_sub(10);
        let hi = (after + 10).min(chars.len());
        let window: String = chars[lo..hi].iter().collect::<String>().to_lowercase();
        let context = ["经验", "工作", "从业", "开发", "以上", "experience", "工龄"]
            .iter()
            .any(|w| window.contains(w))
            || plus
            || b.is_some();
        if context {
            out.push((min, max, i));
        }
        i = after;
    }
    out
}

/// Years of experience a job text requires, if it says.
pub fn years_requirement(text: &str) -> Option<YearsRange> {
    let lower = text.to_lowercase();
    if let Some((min, max, _)) = year_statements(text).into_iter().next() {
        return Some(YearsRange { min, max });
    }
    if ["经验不限", "不限经验", "应届", "无经验", "no experience"]
        .iter()
        .any(|w| lower.contains(w))
    {
        return Some(YearsRange {
            min: 0.0,
            max: None,
        });
    }
    None
}

const EDUCATION_LINE: &[&str] = &[
    "大学",
    "学院",
    "本科",
    "硕士",
    "博士",
    "学士",
    "研究生",
    "专科",
    "大专",
    "中学",
    "高中",
    "university",
    "college",
    "bachelor",
    "master",
    "phd",
    "school",
    "学历",
    "毕业",
];

/// Whether a line is about education rather than work.
pub fn is_education_line(line: &str) -> bool {
    let l = line.to_lowercase();
    EDUCATION_LINE.iter().any(|w| l.contains(w))
}

/// A date like 2019, 2019.03, 2019-3, 2019/03, 2019年3月 at `chars[i..]` as a fractional year
/// (the start of that month), whether it had a month, and the index after it.
fn date_at(chars: &[char], i: usize) -> Option<(f32, bool, usize)> {
    if i > 0 && chars[i - 1].is_ascii_digit() {
        return None;
    }
    let digits: String = chars.get(i..i + 4)?.iter().collect();
    if !digits.chars().all(|c| c.is_ascii_digit())
        || chars.get(i + 4).is_some_and(char::is_ascii_digit)
    {
        return None;
    }
    let y: f32 = digits.parse().ok()?;
    if !(1970.0..=2100.0).contains(&y) {
        return None;
    }
    let mut j = i + 4;
    if matches!(chars.get(j), Some('.' | '/' | '年' | '-')) {
        let mut k = j + 1;
        let mut m = String::new();
        while k < chars.len() && chars[k].is_ascii_digit() && m.len() < 2 {
            m.push(chars[k]);
            k += 1;
        }
        if let Ok(month) = m.parse::<f32>() {
            if (1.0..=12.0).contains(&month) && !chars.get(k).is_some_and(char::is_ascii_digit) {
                if chars.get(k) == Some(&'月') {
                    k += 1;
                }
                return Some((y + (month - 1.0) / 12.0, true, k));
            }
        }
        if chars.get(j) == Some(&'年') {
            j += 1;
        }
    }
    Some((y, false, j))
}

/// Work periods in a line: `2018.03 - 2021.06`, `2019年3月至今`, `2020 - present`.
pub fn work_spans(line: &str, now: f32) -> Vec<(f32, f32)> {
    let chars: Vec<char> = line.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let Some((start, _, j)) = date_at(&chars, i) else {
            i += 1;
            continue;
        };
        let k = skip_spaces(&chars, j);
        if k >= chars.len() || !(is_dash(chars[k]) || starts_with_at(&chars, k, "to ")) {
            i = j;
            continue;
        }
        let k = skip_spaces(&chars, if chars[k] == 't' { k + 2 } else { k + 1 });
        // An end month counts whole: 2018.07 - 2021.06 is three years.
        let end = if let Some((e, month, _)) = date_at(&chars, k) {
            Some(if month { e + 1.0 / 12.0 } else { e })
        } else if ["至今", "今", "现在", "目前", "present", "now", "current"]
            .iter()
            .any(|w| starts_with_at(&chars, k, w))
        {
            Some(now)
        } else {
            None
        };
        if let Some(end) = end.filter(|e| *e >= start && *e - start < 50.0) {
            out.push((start, end.min(now)));
        }
        i = k.max(i + 1);
    }
    out
}

/// Years of work experience in a resume: an explicit statement ("5年工作经验") wins, else the
/// union of the work periods on lines that are not about education.
pub fn resume_years(text: &str, now: f32) -> Option<f32> {
    let stated = year_statements(text)
        .into_iter()
        .map(|(min, max, _)| max.unwrap_or(min))
        .fold(None, |acc: Option<f32>, v| {
            Some(acc.map_or(v, |a| a.max(v)))
        });
    if stated.is_some() {
        return stated;
    }
    let mut spans: Vec<(f32, f32)> = text
        .split(['\n', '。', '；', ';', '|'])
        .filter(|l| !is_education_line(l))
        .flat_map(|l| work_spans(l, now))
        .collect();
    if spans.is_empty() {
        return None;
    }
    spans.sort_by(|a, b| a.0.total_cmp(&b.0));
    let mut total = 0.0;
    let (mut cs, mut ce) = spans[0];
    for &(s, e) in &spans[1..] {
        if s <= ce {
            ce = ce.max(e);
        } else {
            total += ce - cs;
            (cs, ce) = (s, e);
        }
    }
    total += ce - cs;
    Some((total * 10.0).round() / 10.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(t: &str) -> Option<(f32, Option<f32>)> {
        years_requirement(t).map(|r| (r.min, r.max))
    }

    #[test]
    fn job_years() {
        assert_eq!(req("3-5年工作经验"), Some((3.0, Some(5.0))));
        assert_eq!(req("要求5年以上Java开发经验"), Some((5.0, None)));
        assert_eq!(req("三年以上经验"), Some((3.0, None)));
        assert_eq!(req("3+ years of experience with Go"), Some((3.0, None)));
        assert_eq!(req("2-4 years experience"), Some((2.0, Some(4.0))));
        assert_eq!(req("经验不限，欢迎应届生"), Some((0.0, None)));
        assert_eq!(req("公司成立于2010年"), None);
        assert_eq!(
            YearsRange {
                min: 3.0,
                max: Some(5.0)
            }
            .describe(),
            "3-5年"
        );
        assert_eq!(
            YearsRange {
                min: 5.0,
                max: None
            }
            .describe(),
            "5年以上"
        );
    }

    #[test]
    fn education_levels() {
        assert_eq!(
            education_requirement("本科及以上学历，硕士优先"),
            Some(Education::Bachelor)
        );
        assert_eq!(education_requirement("大专以上"), Some(Education::College));
        assert_eq!(education_requirement("学历不限"), None);
        assert_eq!(
            highest_education("2012-2016 本科 2016-2019 硕士"),
            Some(Education::Master)
        );
        assert_eq!(
            Education::parse("Bachelor's degree"),
            Some(Education::Bachelor)
        );
    }

    #[test]
    fn resume_years_from_periods_skip_education() {
        let cv = "2014.09-2018.06 北京大学 本科\n2018.07-2021.06 腾讯 后端开发\n2021.07-至今 字节跳动 高级工程师";
        assert_eq!(resume_years(cv, 2024.5), Some(6.0));
        assert_eq!(resume_years("8年工作经验，熟悉Java", 2024.0), Some(8.0));
        assert_eq!(resume_years("热爱编程", 2024.0), None);
    }
}
