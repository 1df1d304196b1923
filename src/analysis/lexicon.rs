//! The skill and occupation lexicon, built once from the files bundled in `data/`: the
//! internet job category tree, the market aliases of China's digital occupations (CSCO 2022)
//! and a curated list of English technology skills. Matching is case-insensitive on word
//! boundaries for Latin skills (so "Java" never matches inside "JavaScript") and by substring
//! for Chinese ones.

use std::collections::HashSet;
use std::sync::OnceLock;

const CATEGORIES: &str = include_str!("../../data/internet_job_categories.yml");
/// China's 2022 occupation classification (`data/csco22.csv`, see `data/README.md`).
pub const OCCUPATIONS_CSV: &str = include_str!("../../data/csco22.csv");
const CSCO_DIGITAL: &str = include_str!("../../data/csco22_digital.csv");
const SKILLS_EN: &str = include_str!("../../data/skills_en_curated.txt");

/// Short English words that are also ordinary words: matched only with their exact spelling.
const CASE_SENSITIVE: &[&str] = &[
    "Go", "C", "R", "Less", "Express", "Spring", "Rust", "REST", "Swift", "Unity", "Dart", "Julia",
    "Maya", "Apache", "Storm", "Helm", "Jest", "Excel", "Agile", "Flash", "Shell", "ARM", "Hive",
    "Spark", "Flink", "Presto", "Kanban", "Ruby", "Perl", "Delphi", "VB", "ETL", "F5", "CDN",
    "IDC", "DSP", "WP", "ASP", "SoC", "EDA", "RTL", "Cadence",
];

/// Endings that make a term a job title rather than a skill.
const TITLE_ENDINGS: &[&str] = &[
    "工程师",
    "经理",
    "总监",
    "专员",
    "主管",
    "助理",
    "设计师",
    "顾问",
    "代表",
    "人员",
    "实习生",
    "策划",
    "主编",
    "编辑",
    "记者",
    "师",
    "员",
    "CTO",
    "CEO",
    "COO",
    "CFO",
    "VP",
    "合伙人",
    "主播",
    "陪练",
    "讲师",
    "主持",
    "前台",
    "文秘",
    "总助",
];

/// One skill and how to find it.
#[derive(Debug, Clone)]
struct Skill {
    name: String,
    /// Lowercased needle (Latin) or the name itself (CJK).
    needle: String,
    latin: bool,
    case_sensitive: bool,
}

/// A leaf of the job category tree: `技术 / 后端开发 / Java`.
#[derive(Debug, Clone)]
pub struct Occupation {
    pub category: String,
    pub subcategory: String,
    pub name: String,
    /// Whether `name` is itself a job title (产品经理) rather than a skill (Java).
    pub is_title: bool,
}

/// The lexicon; see [`Lexicon::bundled`].
#[derive(Debug)]
pub struct Lexicon {
    skills: Vec<Skill>,
    occupations: Vec<Occupation>,
}

fn is_title(term: &str) -> bool {
    TITLE_ENDINGS.iter().any(|e| term.ends_with(e))
}

fn usable(term: &str) -> bool {
    !term.is_empty()
        && !term.contains("其它")
        && !term.contains("其他")
        && !term.contains("or")
        && !term.contains('（')
        && !term.ends_with('S')
        && term.chars().count() <= 24
}

impl Lexicon {
    /// The lexicon built from the bundled files (once per process).
    pub fn bundled() -> &'static Lexicon {
        static LEXICON: OnceLock<Lexicon> = OnceLock::new();
        LEXICON.get_or_init(Lexicon::build)
    }

    fn build() -> Lexicon {
        let mut occupations = Vec::new();
        let mut category = String::new();
        for line in CATEGORIES.lines() {
            if line.trim().is_empty() || line.trim_start().starts_with('#') {
                continue;
            }
            if !line.starts_with(' ') {
                category = line.trim().trim_end_matches(':').to_string();
                continue;
            }
            let Some((sub, leaves)) = line.trim().split_once(':') else {
                continue;
            };
            for leaf in leaves.split(';').map(str::trim).filter(|t| usable(t)) {
                occupations.push(Occupation {
                    category: category.clone(),
                    subcategory: sub.trim().to_string(),
                    name: leaf.to_string(),
                    is_title: is_title(leaf),
                });
            }
        }
        let mut terms: Vec<String> = occupations
            .iter()
            .filter(|o| !o.is_title)
            .map(|o| o.name.clone())
            .collect();
        for line in CSCO_DIGITAL.lines().skip(1) {
            // code,name,"alias, alias, ..."
            let Some((_, rest)) = line.split_once(',') else {
                continue;
            };
            let Some((_, aliases)) = rest.split_once(',') else {
                continue;
            };
            for a in aliases.trim_matches('"').split([',', '，', '、']) {
                let a = a.trim();
                if usable(a) && !is_title(a) && !a.contains('(') && !a.contains('/') {
                    terms.push(a.to_string());
                }
            }
        }
        terms.extend(
            SKILLS_EN
                .lines()
                .map(str::trim)
                .filter(|l| !l.is_empty() && !l.starts_with('#'))
                .map(str::to_string),
        );
        let mut seen = HashSet::new();
        let mut skills = Vec::new();
        for t in terms {
            // Drop duplicates and spaced variants ("web 前端") that match poorly.
            if !seen.insert(t.to_lowercase()) || t.contains(' ') && !t.is_ascii() {
                continue;
            }
            let latin = t.is_ascii();
            skills.push(Skill {
                needle: if latin { t.to_lowercase() } else { t.clone() },
                case_sensitive: CASE_SENSITIVE.contains(&t.as_str()),
                latin,
                name: t,
            });
        }
        Lexicon {
            skills,
            occupations,
        }
    }

    /// Number of distinct skills.
    pub fn skill_count(&self) -> usize {
        self.skills.len()
    }

    /// The job category tree's leaves.
    pub fn occupations(&self) -> &[Occupation] {
        &self.occupations
    }

    /// Skills mentioned in `text`, in order of first mention, without duplicates; a skill
    /// contained in a longer one found at the same place ("Spring" in "Spring Boot") is kept
    /// only if it also appears on its own.
    pub fn find_skills(&self, text: &str) -> Vec<String> {
        let lower = text.to_lowercase();
        // Lowercasing can change byte offsets for non-ASCII text; positions are only used for
        // ordering and overlap, so search each skill in the matching haystack.
        let mut found: Vec<(usize, usize, &str)> = Vec::new();
        for s in &self.skills {
            let hay = if s.latin && !s.case_sensitive {
                lower.as_str()
            } else {
                text
            };
            let needle = if s.case_sensitive {
                s.name.as_str()
            } else {
                s.needle.as_str()
            };
            let mut from = 0;
            while let Some(i) = hay[from..].find(needle) {
                let start = from + i;
                let end = start + needle.len();
                if !s.latin || on_word_boundary(hay, start, end) {
                    found.push((start, end, &s.name));
                    break;
                }
                from = start + hay[start..].chars().next().map_or(1, char::len_utf8);
            }
        }
        // Longest match first at each start, then drop matches inside a longer one.
        found.sort_by(|a, b| a.0.cmp(&b.0).then(b.1.cmp(&a.1)));
        let mut out: Vec<String> = Vec::new();
        let mut covered_until = 0usize;
        let mut seen = HashSet::new();
        for (start, end, name) in found {
            if start < covered_until && end <= covered_until {
                continue;
            }
            covered_until = covered_until.max(end);
            if seen.insert(name.to_lowercase()) {
                out.push(name.to_string());
            }
        }
        out
    }
}

/// Whether `hay[start..end]` is a whole word: no letter, digit or `+#` glued to either side.
fn on_word_boundary(hay: &str, start: usize, end: usize) -> bool {
    let glued = |c: char| c.is_ascii_alphanumeric() || c == '_';
    let before = hay[..start].chars().next_back();
    let after = hay[end..].chars().next();
    let needle_ends_alnum = hay[..end]
        .chars()
        .next_back()
        .is_some_and(|c| c.is_ascii_alphanumeric());
    !before.is_some_and(|c| {
        glued(c)
            || c == '.'
                && start > 0
                && hay[..start - 1].ends_with(|x: char| x.is_ascii_alphanumeric())
    }) && !after.is_some_and(|c| glued(c) || (needle_ends_alnum && (c == '+' || c == '#')))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builds_from_bundled_files() {
        let l = Lexicon::bundled();
        assert!(l.skill_count() > 300, "{}", l.skill_count());
        assert!(l
            .occupations()
            .iter()
            .any(|o| o.name == "产品经理" && o.is_title));
        assert!(l
            .occupations()
            .iter()
            .any(|o| o.name == "Java" && !o.is_title));
    }

    #[test]
    fn finds_skills_on_word_boundaries() {
        let l = Lexicon::bundled();
        let s = l.find_skills("熟悉JavaScript、React和Vue，了解kubernetes与机器学习; C++ 优先");
        assert!(s.contains(&"JavaScript".to_string()), "{s:?}");
        assert!(!s.contains(&"Java".to_string()), "{s:?}");
        assert!(s.contains(&"React".to_string()));
        assert!(s.contains(&"Vue".to_string()));
        assert!(s.contains(&"Kubernetes".to_string()));
        assert!(s.contains(&"机器学习".to_string()));
        assert!(s.contains(&"C++".to_string()));
        assert!(!s.contains(&"C".to_string()), "{s:?}");
    }

    #[test]
    fn ambiguous_english_words_need_their_spelling() {
        let l = Lexicon::bundled();
        assert!(!l
            .find_skills("we go to the market and rest")
            .contains(&"Go".to_string()));
        assert!(l
            .find_skills("使用 Go 和 Rust 开发")
            .contains(&"Go".to_string()));
    }
}
