//! Occupation standardisation: a job title (and optionally a description) mapped to the
//! occupations of China's 2022 occupation classification (CSCO 2022, `data/csco22.csv`) that
//! fit it best, each with a confidence in 0..1.
//!
//! **Exact.** The title, normalised (full-width folded, lower case, punctuation and spaces
//! squashed; failing that also without seniority words such as 高级/资深), equal to a market
//! title (`alias`) or name of level-4 rows answers those rows (confidence 0.95, shared when
//! several have it); a level-3 row (a group of occupations) only when no level-4 row has it.
//!
//! **Scored.** Otherwise, and to fill the list, every row of level 3 or 4 is scored from the
//! title's tokens — CJK bigrams and lower-cased Latin words, after role endings such as
//! 工程师/开发/专员 are stripped (they say little about the occupation), weighted by their IDF
//! over the rows' names and market titles: ½ the best cosine with one of its market titles,
//! ¼ the share of the title's weight its titles cover, ¼ the share its definition and tasks
//! cover; a description's words (the text) are a small tie-breaker (8 %). A row whose market
//! title has the title's stem or a variant (brackets dropped, the parts of "电气/电器工程师")
//! gains 0.25. A 工程师/研发 title and a production worker's row, or a …工 title and any other
//! row, count 0.85; a level-3 row counts 0.85 against its occupations. A Latin word no market
//! title holds (a product, a language) is left out. The first place's confidence is its score
//! × 0.85 times how clearly it leads the next; a title-less query matches on the text with
//! 0.6 instead of 0.85.
//!
//! Levels 1 and 2 are never answered, nor the names of the catch-all "其他…" rows. The
//! bundled matcher also knows the technology titles of the bundled job category tree
//! ([`Matcher::with_tree`]). Matching is deterministic (ties by code); the index is built once
//! per process ([`Matcher::bundled`]), a call takes tens of microseconds.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, OnceLock};

use serde::{Deserialize, Serialize};

use super::lexicon::Lexicon;

const CSCO: &str = super::lexicon::OCCUPATIONS_CSV;

/// Below this confidence no occupation is attached to an analysis.
pub const MIN_CONFIDENCE: f64 = 0.35;
/// Longest title read (characters); the rest is ignored.
pub const MAX_TITLE_CHARS: usize = 200;
/// Characters of free text read.
const MAX_TEXT_CHARS: usize = 2_000;
/// Confidence of a title equal to an alias of one occupation.
const EXACT: f64 = 0.95;
/// A level-3 row's score counts this much against its level-4 rows.
const GROUP_PENALTY: f64 = 0.85;
/// Added to the score of a row whose alias has the title's stem or variant.
const VARIANT_BONUS: f64 = 0.25;
/// A row of the other kind than the title's ending says (a 工程师 title and a production
/// worker's row, a …工 title and any other row) counts this much.
const ROLE_PENALTY: f64 = 0.85;

/// What a title's ending says about the kind of work.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Role {
    /// 工程师, 研发, 架构师, 研究员, 分析师, 开发, 设计师: not a production worker (major group 6).
    Professional,
    /// …工 (but not 工程师): a production worker.
    Worker,
}

fn role_of(k: &str) -> Option<Role> {
    const PRO: &[&str] = &[
        "工程师",
        "研发",
        "架构师",
        "研究员",
        "分析师",
        "开发",
        "设计师",
        "engineer",
        "developer",
    ];
    if PRO.iter().any(|e| k.ends_with(e)) {
        Some(Role::Professional)
    } else if k.ends_with('工') {
        Some(Role::Worker)
    } else {
        None
    }
}

/// Token ids of the modifier words (dropped from a title's tokens).
fn modifier_tokens() -> &'static HashSet<u64> {
    static IDS: OnceLock<HashSet<u64>> = OnceLock::new();
    IDS.get_or_init(|| MODIFIERS.iter().flat_map(|m| tokens(m)).collect())
}

/// The occupation of an analysed job or resume (`analysis.occupation`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Occupation {
    /// `2-02-10-03`.
    pub code: String,
    /// The display name, without the classification's digital/green markers ("S", "L/S").
    pub name: String,
    pub confidence: f64,
}

/// One row of the classification.
#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    /// 1 (major group) to 4 (occupation).
    pub level: u8,
    pub code: String,
    /// The code as a number: `2-02-10-03` → 2021003 (the level-3 group is `code_num / 100`).
    pub code_num: u32,
    pub name: String,
    definition: String,
    tasks: String,
    /// Names starting with 其他: catch-all rows.
    generic: bool,
}

/// A ranked occupation.
#[derive(Debug, Clone, Copy)]
pub struct Match<'a> {
    pub row: &'a Row,
    pub confidence: f64,
}

impl Match<'_> {
    pub fn occupation(&self) -> Occupation {
        Occupation {
            code: self.row.code.clone(),
            name: self.row.name.clone(),
            confidence: self.confidence,
        }
    }
}

#[derive(Deserialize)]
struct CsvRow {
    level: u8,
    code: String,
    code_num: u32,
    name: String,
    definition: String,
    tasks: String,
    alias: String,
}

/// The classification's digital ("S"), green ("L") and both ("L/S") markers removed.
pub fn display_name(name: &str) -> &str {
    let name = name.trim();
    for marker in ["L/S", "S", "L"] {
        if let Some(rest) = name.strip_suffix(marker) {
            if rest.chars().next_back().is_some_and(is_cjk) {
                return rest;
            }
        }
    }
    name
}

fn is_cjk(c: char) -> bool {
    matches!(c, '\u{3400}'..='\u{4DBF}' | '\u{4E00}'..='\u{9FFF}' | '\u{F900}'..='\u{FAFF}')
}

/// Full-width ASCII folded to ASCII, ideographic space to a space, lower case.
fn fold(c: char) -> char {
    let c = match c {
        '\u{FF01}'..='\u{FF5E}' => char::from_u32(c as u32 - 0xFEE0).unwrap_or(c),
        '\u{3000}' => ' ',
        c => c,
    };
    c.to_ascii_lowercase()
}

/// The matching key of a title: folded, lower case, only letters, digits, CJK, `+` and `#`.
fn key(s: &str) -> String {
    s.chars()
        .map(fold)
        .filter(|c| c.is_alphanumeric() || *c == '+' || *c == '#')
        .flat_map(char::to_lowercase)
        .collect()
}

/// `s` without what is inside brackets.
fn without_brackets(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut depth = 0usize;
    for c in s.chars() {
        match c {
            '(' | '（' | '[' | '【' | '〔' => depth += 1,
            ')' | '）' | ']' | '】' | '〕' => depth = depth.saturating_sub(1),
            c if depth == 0 => out.push(c),
            _ => {}
        }
    }
    out
}

/// Words of seniority, tenure or arrangement that do not change the occupation (Latin ones
/// only as whole words).
const MODIFIERS: &[&str] = &[
    "高级", "资深", "初级", "中级", "首席", "见习", "实习", "兼职", "全职", "急聘", "诚聘",
    "senior", "junior", "sr.", "jr.", "sr", "jr",
];

/// Endings whose removal leaves the stem of a title ("Java开发工程师" → "java").
const ENDINGS: &[&str] = &[
    "工程技术人员",
    "专业技术人员",
    "开发工程师",
    "研发工程师",
    "技术人员",
    "工程师",
    "技术员",
    "专业人员",
    "人员",
    "专员",
    "开发",
    "研发",
    "engineer",
    "developer",
];

/// `t` without `m` at its start (case-insensitive; a Latin `m` only as a whole word).
fn strip_front<'a>(t: &'a str, m: &str) -> Option<&'a str> {
    let head = t.get(..m.len())?;
    if !head.eq_ignore_ascii_case(m) {
        return None;
    }
    let rest = &t[m.len()..];
    let glued = m.is_ascii() && rest.starts_with(|c: char| c.is_ascii_alphanumeric());
    (!glued).then_some(rest)
}

/// `t` without `m` at its end (as [`strip_front`]).
fn strip_back<'a>(t: &'a str, m: &str) -> Option<&'a str> {
    let at = t.len().checked_sub(m.len())?;
    let tail = t.get(at..)?;
    if !tail.eq_ignore_ascii_case(m) {
        return None;
    }
    let rest = &t[..at];
    let glued = m.is_ascii() && rest.ends_with(|c: char| c.is_ascii_alphanumeric());
    (!glued).then_some(rest)
}

/// A title without modifier words at its start and end; unchanged when less than two
/// characters would remain.
fn strip_modifiers(s: &str) -> String {
    let mut t = s.trim();
    loop {
        let before = t.len();
        for m in MODIFIERS {
            if let Some(r) = strip_front(t, m) {
                t = r.trim_start_matches(|c: char| c.is_whitespace() || c == '-');
            }
            if let Some(r) = strip_back(t, m) {
                t = r.trim_end_matches(|c: char| c.is_whitespace() || c == '-');
            }
        }
        if t.len() == before {
            break;
        }
    }
    if key(t).chars().count() >= 2 {
        t.to_string()
    } else {
        s.trim().to_string()
    }
}

/// The stem of a key: endings removed while something of 2 characters or more remains.
fn stem(k: &str) -> Option<&str> {
    let mut cur = k;
    loop {
        let next = ENDINGS
            .iter()
            .find_map(|e| cur.strip_suffix(e))
            .filter(|r| r.chars().count() >= 2);
        match next {
            Some(r) => cur = r,
            None => break,
        }
    }
    (cur != k).then_some(cur)
}

/// A title without its role endings (工程师, 开发, 专员, …) while two characters or more
/// remain: what the scored stage compares (the endings say little about the occupation).
fn stem_text(s: &str) -> &str {
    let mut cur = s.trim();
    loop {
        let next = ENDINGS.iter().find_map(|e| {
            let r = strip_back(cur, e)?.trim_end();
            (key(r).chars().count() >= 2).then_some(r)
        });
        match next {
            Some(r) => cur = r,
            None => return cur,
        }
    }
}

/// The variant keys of a title: without brackets and modifiers, its stem, and for a slashed
/// title its parts, the last part's ending given to the others ("汽车/摩托车工程师" →
/// 汽车工程师, 摩托车工程师), each with its stem.
fn variants(title: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    let mut push = |k: &str| {
        if k.chars().count() >= 2 && !out.iter().any(|o| o == k) {
            out.push(k.to_string());
        }
    };
    let plain = without_brackets(title);
    let mut texts: Vec<String> = vec![plain.clone()];
    let parts: Vec<&str> = plain
        .split(['/', '／', '、', '|'])
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .collect();
    if parts.len() > 1 {
        let last = key(parts[parts.len() - 1]);
        let ending = ENDINGS
            .iter()
            .chain(["经理", "主管", "设计师", "设计"].iter())
            .find(|e| last.ends_with(*e) && last.len() > e.len());
        for p in &parts {
            texts.push(p.to_string());
            if let Some(e) = ending {
                let k = key(p);
                if !k.ends_with(e) && !k.is_ascii() {
                    texts.push(format!("{k}{e}"));
                }
            }
        }
    }
    for t in &texts {
        let k = key(&strip_modifiers(t));
        push(&k);
        if let Some(s) = stem(&k) {
            push(s);
        }
    }
    out
}

/// Hashes a token id (already an FNV hash) as itself.
#[derive(Default, Clone, Copy)]
struct TokenHasher(u64);

impl std::hash::Hasher for TokenHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.0 = (self.0 << 8) ^ u64::from(*b);
        }
    }
    fn write_u64(&mut self, x: u64) {
        self.0 = x;
    }
}

/// A map keyed by token id.
type TokenMap<V> = HashMap<u64, V, std::hash::BuildHasherDefault<TokenHasher>>;

/// A token's id: FNV-1a of its text, the lowest bit set for a Latin word.
fn token_id(s: &str) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in s.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    (h & !1) | u64::from(s.is_ascii())
}

/// Whether a token is a Latin word.
fn is_latin(t: u64) -> bool {
    t & 1 == 1
}

/// The distinct tokens of a text: bigrams of each CJK run (a lone CJK character by itself)
/// and lower-cased Latin words (letters, digits, `+`, `#`, inner dots).
fn tokens(text: &str) -> Vec<u64> {
    let mut out: Vec<u64> = Vec::new();
    let mut seen: HashSet<u64, std::hash::BuildHasherDefault<TokenHasher>> = HashSet::default();
    let mut push = |t: &str| {
        let id = token_id(t);
        if seen.insert(id) {
            out.push(id);
        }
    };
    let mut cjk: Vec<char> = Vec::new();
    let mut word = String::new();
    let flush_cjk = |cjk: &mut Vec<char>, push: &mut dyn FnMut(&str)| {
        if cjk.len() == 1 {
            push(&cjk[0].to_string());
        }
        for w in cjk.windows(2) {
            let mut s = String::with_capacity(6);
            s.push(w[0]);
            s.push(w[1]);
            push(&s);
        }
        cjk.clear();
    };
    let flush_word = |word: &mut String, push: &mut dyn FnMut(&str)| {
        let w = word.trim_matches('.');
        if !w.is_empty() {
            push(w);
        }
        word.clear();
    };
    for c in text.chars().map(fold) {
        if is_cjk(c) {
            flush_word(&mut word, &mut push);
            cjk.push(c);
        } else if c.is_ascii_alphanumeric()
            || c == '+'
            || c == '#'
            || (c == '.' && !word.is_empty())
        {
            flush_cjk(&mut cjk, &mut push);
            word.push(c);
        } else {
            flush_cjk(&mut cjk, &mut push);
            flush_word(&mut word, &mut push);
        }
    }
    flush_cjk(&mut cjk, &mut push);
    flush_word(&mut word, &mut push);
    out
}

/// One alias (or name) of a row, prepared once: its key, variant keys and tokens.
#[derive(Debug, Clone)]
struct Alias {
    text: String,
    /// From the job category tree ([`Matcher::with_tree`]), not the classification.
    from_tree: bool,
    key: String,
    variants: Vec<String>,
    tokens: Vec<u64>,
}

/// What does not change when an alias is removed: the rows, their aliases prepared, their
/// definitions' and tasks' tokens.
#[derive(Debug)]
struct Base {
    rows: Vec<Row>,
    /// Each row's aliases, its name first, deduplicated by key.
    aliases: Vec<Vec<Alias>>,
    /// Index of each code.
    by_code: HashMap<String, u32>,
    /// Token → rows whose definition or tasks hold it.
    desc: TokenMap<Vec<u32>>,
    /// Token → its IDF over the definitions and tasks.
    desc_idf: TokenMap<f32>,
    /// Alias key → (row, alias) of every alias with that key.
    exact: HashMap<String, Vec<(u32, u32)>>,
    /// Variant key (stem, bracket-free, slash part) → (row, alias).
    variant: HashMap<String, Vec<(u32, u32)>>,
}

/// One alias in the scored stage's index.
#[derive(Debug, Clone)]
struct AliasEntry {
    row: u32,
    /// L2 norm of its tokens' IDF weights.
    norm: f32,
}

/// The occupation matcher; see the module documentation.
#[derive(Debug, Clone)]
pub struct Matcher {
    base: Arc<Base>,
    /// An alias left out: (row, alias) (leave-one-out evaluation).
    removed: Option<(u32, u32)>,
    entries: Vec<AliasEntry>,
    /// Token → aliases holding it.
    postings: TokenMap<Vec<u32>>,
    /// Token → rows whose names or aliases hold it.
    bag: TokenMap<Vec<u32>>,
    /// Token → IDF over the rows' names and aliases.
    idf: TokenMap<f32>,
    /// IDF of a token no name or alias holds.
    idf_unseen: f32,
}

/// Appends `x` unless it is the last item (lists are filled row by row, so this keeps them
/// free of duplicates).
/// Adds a market title to a row's list unless its key is there already.
fn add_alias(list: &mut Vec<Alias>, text: &str, from_tree: bool) {
    let a = display_name(text).trim();
    let k = key(a);
    if k.is_empty() || list.iter().any(|l| l.key == k) {
        return;
    }
    list.push(Alias {
        text: a.to_string(),
        from_tree,
        variants: variants(a),
        tokens: tokens(stem_text(a)),
        key: k,
    });
}

fn push_new<T: PartialEq>(v: &mut Vec<T>, x: T) {
    if v.last() != Some(&x) {
        v.push(x);
    }
}

fn idf_of(n: usize, df: usize) -> f32 {
    (1.0 + n as f32 / df.max(1) as f32).ln()
}

impl Matcher {
    /// The matcher of the bundled classification, with the technology titles of the bundled
    /// job category tree ([`Matcher::with_tree`]); built once per process.
    pub fn bundled() -> &'static Matcher {
        static MATCHER: OnceLock<Matcher> = OnceLock::new();
        MATCHER.get_or_init(|| {
            Matcher::from_csv(CSCO)
                .expect("the bundled csco22.csv parses")
                .with_tree(Lexicon::bundled().occupations())
        })
    }

    /// A matcher of a classification in `csco22.csv`'s format.
    pub fn from_csv(text: &str) -> Result<Matcher, csv::Error> {
        let mut rows = Vec::new();
        let mut aliases = Vec::new();
        for rec in csv::Reader::from_reader(text.as_bytes()).deserialize() {
            let r: CsvRow = rec?;
            let name = display_name(&r.name).to_string();
            let mut list: Vec<Alias> = Vec::new();
            for a in std::iter::once(name.as_str()).chain(r.alias.split([',', '，'])) {
                add_alias(&mut list, a, false);
            }
            rows.push(Row {
                level: r.level,
                generic: name.starts_with("其他"),
                code: r.code,
                code_num: r.code_num,
                name,
                definition: r.definition,
                tasks: r.tasks,
            });
            aliases.push(list);
        }
        Ok(Matcher::assemble(rows, aliases))
    }

    /// This matcher plus the technology titles of a job category tree (技术 → 后端开发 →
    /// Java, ...): a subcategory whose leaves that are market titles of exactly one occupation
    /// mostly (two or more, over half) name the same occupation gives that occupation its own
    /// name ("后端开发") and its leaves no occupation has ("Go", "Ruby"; not single letters) as
    /// market titles. Only the 技术 category: its leaves are technologies; elsewhere the tree is
    /// too coarse.
    pub fn with_tree(&self, leaves: &[crate::analysis::lexicon::Occupation]) -> Matcher {
        let rows = self.base.rows.clone();
        let mut aliases: Vec<Vec<Alias>> = self.base.aliases.clone();
        let mut owners: HashMap<&str, Vec<u32>> = HashMap::new();
        for (i, list) in self.base.aliases.iter().enumerate() {
            if rows[i].level >= 3 {
                for a in list {
                    push_new(owners.entry(a.key.as_str()).or_default(), i as u32);
                }
            }
        }
        let mut subs: Vec<(&str, Vec<&str>)> = Vec::new();
        for l in leaves.iter().filter(|l| l.category == "技术") {
            match subs.iter_mut().find(|(s, _)| *s == l.subcategory) {
                Some((_, v)) => v.push(&l.name),
                None => subs.push((&l.subcategory, vec![&l.name])),
            }
        }
        for (sub, names) in subs {
            let mut votes: Vec<(u32, usize)> = Vec::new();
            let mut voters = 0;
            for n in &names {
                if let Some([row]) = owners.get(key(n).as_str()).map(Vec::as_slice) {
                    voters += 1;
                    match votes.iter_mut().find(|v| v.0 == *row) {
                        Some(v) => v.1 += 1,
                        None => votes.push((*row, 1)),
                    }
                }
            }
            let Some(&(row, n)) = votes.iter().max_by_key(|v| (v.1, std::cmp::Reverse(v.0))) else {
                continue;
            };
            if n < 2 || n * 2 <= voters {
                continue;
            }
            for t in std::iter::once(&sub).chain(&names) {
                // One letter ("C") would match too much as a token of its own.
                let k = key(t);
                if k.chars().count() >= 2 && !owners.contains_key(k.as_str()) {
                    add_alias(&mut aliases[row as usize], t, true);
                }
            }
        }
        Matcher::assemble(rows, aliases)
    }

    /// The matcher of rows and their aliases.
    fn assemble(rows: Vec<Row>, aliases: Vec<Vec<Alias>>) -> Matcher {
        let n = rows.len();
        let mut desc: TokenMap<Vec<u32>> = TokenMap::default();
        for (i, r) in rows.iter().enumerate() {
            if r.level < 3 {
                continue;
            }
            for t in tokens(&format!("{}\n{}", r.definition, r.tasks)) {
                push_new(desc.entry(t).or_default(), i as u32);
            }
        }
        let desc_idf = desc.iter().map(|(t, v)| (*t, idf_of(n, v.len()))).collect();
        let by_code = rows
            .iter()
            .enumerate()
            .map(|(i, r)| (r.code.clone(), i as u32))
            .collect();
        let mut exact: HashMap<String, Vec<(u32, u32)>> = HashMap::new();
        let mut variant: HashMap<String, Vec<(u32, u32)>> = HashMap::new();
        for (i, list) in aliases.iter().enumerate() {
            if rows[i].level < 3 {
                continue;
            }
            for (j, a) in list.iter().enumerate() {
                // A catch-all row's own name ("其他…人员") describes nothing.
                if j == 0 && rows[i].generic {
                    continue;
                }
                let at = (i as u32, j as u32);
                exact.entry(a.key.clone()).or_default().push(at);
                for v in &a.variants {
                    push_new(variant.entry(v.clone()).or_default(), at);
                }
            }
        }
        let base = Arc::new(Base {
            rows,
            aliases,
            by_code,
            desc,
            desc_idf,
            exact,
            variant,
        });
        Matcher::index(base, None)
    }

    /// Builds the scored stage's index over `base`, leaving out `removed` (row, alias).
    fn index(base: Arc<Base>, removed: Option<(u32, u32)>) -> Matcher {
        let rows = &base.rows;
        let mut bag: TokenMap<Vec<u32>> = TokenMap::default();
        let mut used: Vec<(u32, &Alias)> = Vec::new();
        for (i, list) in base.aliases.iter().enumerate() {
            let r = &rows[i];
            if r.level < 3 {
                continue;
            }
            let i = i as u32;
            for (j, a) in list.iter().enumerate() {
                if (j == 0 && r.generic) || removed == Some((i, j as u32)) {
                    continue;
                }
                for x in &a.tokens {
                    push_new(bag.entry(*x).or_default(), i);
                }
                used.push((i, a));
            }
        }
        let n = rows.iter().filter(|r| r.level >= 3).count();
        let idf: TokenMap<f32> = bag.iter().map(|(t, v)| (*t, idf_of(n, v.len()))).collect();
        let mut postings: TokenMap<Vec<u32>> = TokenMap::default();
        let mut entries = Vec::with_capacity(used.len());
        for (e, (row, a)) in used.into_iter().enumerate() {
            let norm = a
                .tokens
                .iter()
                .map(|t| idf.get(t).copied().unwrap_or(0.0).powi(2))
                .sum::<f32>()
                .sqrt();
            for t in &a.tokens {
                postings.entry(*t).or_default().push(e as u32);
            }
            entries.push(AliasEntry { row, norm });
        }
        Matcher {
            idf_unseen: idf_of(n, 1),
            removed,
            entries,
            postings,
            bag,
            idf,
            base,
        }
    }

    /// The same matcher without row `code`'s alias `alias` (a market title removed from the
    /// data, for leave-one-out evaluation); `None` for an unknown code or alias.
    pub fn without_alias(&self, code: &str, alias: &str) -> Option<Matcher> {
        let i = *self.base.by_code.get(code)?;
        let k = key(alias);
        let j = self.base.aliases[i as usize]
            .iter()
            .position(|a| a.key == k)?;
        Some(Matcher::index(self.base.clone(), Some((i, j as u32))))
    }

    /// The rows an exact or variant key names, without the removed alias.
    fn lookup(&self, map: &HashMap<String, Vec<(u32, u32)>>, k: &str) -> Vec<u32> {
        let mut out: Vec<u32> = Vec::new();
        for at in map.get(k).into_iter().flatten() {
            if Some(*at) != self.removed && !out.contains(&at.0) {
                out.push(at.0);
            }
        }
        out
    }

    /// Every row of the classification, in file order.
    pub fn rows(&self) -> &[Row] {
        &self.base.rows
    }

    /// The market titles of a row (its name first) this matcher knows: the classification's,
    /// then those [`Matcher::with_tree`] added.
    pub fn aliases(&self, code: &str) -> Vec<&str> {
        self.aliases_where(code, |_| true)
    }

    /// The classification's own market titles of a row (its name first).
    pub fn classification_aliases(&self, code: &str) -> Vec<&str> {
        self.aliases_where(code, |a| !a.from_tree)
    }

    fn aliases_where(&self, code: &str, keep: impl Fn(&Alias) -> bool) -> Vec<&str> {
        let Some(&i) = self.base.by_code.get(code) else {
            return Vec::new();
        };
        self.base.aliases[i as usize]
            .iter()
            .enumerate()
            .filter(|(j, a)| self.removed != Some((i, *j as u32)) && keep(a))
            .map(|(_, a)| a.text.as_str())
            .collect()
    }

    /// The row of a code.
    pub fn row(&self, code: &str) -> Option<&Row> {
        self.base
            .by_code
            .get(code)
            .map(|i| &self.base.rows[*i as usize])
    }

    /// The row of a numeric code.
    pub fn row_num(&self, code_num: u32) -> Option<&Row> {
        // Rows are in code order.
        let rows = &self.base.rows;
        rows.binary_search_by_key(&code_num, |r| r.code_num)
            .ok()
            .map(|i| &rows[i])
    }

    /// The level-3 group of a code (`2-02-10-03` → the row `2-02-10-00`), if it is a row.
    pub fn group(&self, code_num: u32) -> Option<&Row> {
        self.row_num(code_num / 100 * 100)
            .filter(|r| r.level == 3 || r.code_num == code_num)
    }

    /// The best occupation of a title (and text) when its confidence reaches
    /// [`MIN_CONFIDENCE`].
    pub fn best(&self, title: &str, text: &str) -> Option<Occupation> {
        self.classify(title, text, 1)
            .into_iter()
            .next()
            .filter(|m| m.confidence >= MIN_CONFIDENCE)
            .map(|m| m.occupation())
    }

    /// The `n` occupations that fit `title` best, best first; `text` (a description) only
    /// breaks near-ties. An empty title matches on the text alone, with less confidence.
    pub fn classify(&self, title: &str, text: &str, n: usize) -> Vec<Match<'_>> {
        if n == 0 {
            return Vec::new();
        }
        let title: String = title.chars().take(MAX_TITLE_CHARS).collect();
        let text: String = text.chars().take(MAX_TEXT_CHARS).collect();
        let rows = &self.base.rows;
        let text_tokens = if text.trim().is_empty() {
            Vec::new()
        } else {
            tokens(&text)
        };
        let from_text = key(&title).is_empty();
        let query = if from_text { &text } else { &title };
        // Exact matches answer first; variant matches raise their rows' scores.
        let mut exact: Vec<u32> = Vec::new();
        let mut variant: Vec<u32> = Vec::new();
        if !from_text {
            exact = [key(&title), key(&strip_modifiers(&title))]
                .iter()
                .map(|k| self.lookup(&self.base.exact, k))
                .find(|ids| !ids.is_empty())
                .unwrap_or_default();
            if exact.iter().any(|i| rows[*i as usize].level == 4) {
                exact.retain(|i| rows[*i as usize].level == 4);
            }
            if exact.is_empty() {
                for v in variants(&title) {
                    for i in self.lookup(&self.base.variant, &v) {
                        if !variant.contains(&i) {
                            variant.push(i);
                        }
                    }
                }
            }
        }
        let q: Vec<u64> = tokens(stem_text(query))
            .into_iter()
            .filter(|t| !modifier_tokens().contains(t))
            .collect();
        let mut scores = self.scores(&q, &text_tokens, role_of(&key(query)));
        for v in &variant {
            let s = &mut scores[*v as usize];
            *s = (*s + VARIANT_BONUS).min(1.0);
        }
        let order = |a: &(u32, f64), b: &(u32, f64)| {
            b.1.total_cmp(&a.1).then(
                rows[a.0 as usize]
                    .code_num
                    .cmp(&rows[b.0 as usize].code_num),
            )
        };
        let mut ranked: Vec<(u32, f64)> = scores
            .iter()
            .enumerate()
            .filter(|(i, s)| **s > 0.0 && !exact.contains(&(*i as u32)))
            .map(|(i, s)| (i as u32, *s))
            .collect();
        // The best n + 1, in order (a selection, then a sort of those).
        if ranked.len() > n + 1 {
            ranked.select_nth_unstable_by(n, order);
            ranked.truncate(n + 1);
        }
        ranked.sort_by(order);
        let mut out: Vec<Match<'_>> = Vec::with_capacity(n);
        let mut fixed: Vec<(u32, f64)> = exact.iter().map(|i| (*i, scores[*i as usize])).collect();
        fixed.sort_by(order);
        for (i, _) in &fixed {
            out.push(Match {
                row: &rows[*i as usize],
                confidence: round2(EXACT / fixed.len() as f64),
            });
        }
        // A score near 1 is a near-exact title; the margin over the next one tells how sure
        // the first place is.
        let scale = if from_text { 0.6 } else { 0.85 };
        let mut ceiling = if fixed.is_empty() {
            1.0
        } else {
            EXACT / fixed.len() as f64 * 0.9
        };
        for (k, (i, s)) in ranked.iter().enumerate() {
            if out.len() >= n {
                break;
            }
            let next = ranked.get(k + 1).map_or(0.0, |x| x.1);
            let margin = if *s > 0.0 { (s - next) / s } else { 0.0 };
            let sure = if k == 0 && fixed.is_empty() {
                (0.5 + 2.5 * margin).min(1.0)
            } else {
                0.5
            };
            let c = (s * scale * sure).min(ceiling);
            ceiling = c;
            out.push(Match {
                row: &rows[*i as usize],
                confidence: round2(c),
            });
        }
        out
    }

    /// The scored stage: every row's score in 0..=1 (0 for rows nothing matched).
    fn scores(&self, q: &[u64], text_tokens: &[u64], role: Option<Role>) -> Vec<f64> {
        let rows = &self.base.rows;
        // A Latin word no title holds (a product, a language) is left out rather than counted
        // against every occupation; an unknown CJK bigram counts as the rarest.
        let weight = |t: &u64| match self.idf.get(t) {
            Some(w) => *w,
            None if is_latin(*t) => 0.0,
            None => self.idf_unseen,
        };
        let q_mass: f32 = q.iter().map(|t| weight(t).powi(2)).sum();
        let mut score = vec![0.0f64; rows.len()];
        if q_mass <= 0.0 {
            return score;
        }
        let q_norm = q_mass.sqrt();
        // Best alias cosine per row.
        let mut dots = vec![0.0f32; self.entries.len()];
        let mut touched: Vec<u32> = Vec::new();
        let mut bag = vec![0.0f32; rows.len()];
        let mut desc = vec![0.0f32; rows.len()];
        for t in q {
            let w2 = weight(t).powi(2);
            if let Some(p) = self.postings.get(t) {
                for a in p {
                    if dots[*a as usize] == 0.0 {
                        touched.push(*a);
                    }
                    dots[*a as usize] += w2;
                }
            }
            if let Some(p) = self.bag.get(t) {
                for r in p {
                    bag[*r as usize] += w2;
                }
            }
            if let Some(p) = self.base.desc.get(t) {
                for r in p {
                    desc[*r as usize] += w2;
                }
            }
        }
        let mut best_alias = vec![0.0f32; rows.len()];
        for a in touched {
            let e = &self.entries[a as usize];
            if e.norm > 0.0 {
                let cos = dots[a as usize] / (q_norm * e.norm);
                let b = &mut best_alias[e.row as usize];
                *b = b.max(cos);
            }
        }
        // The text: the share of its weight each row's names, aliases, definition and tasks
        // cover (words most rows share skipped: they cost time and say nothing).
        let mut text = vec![0.0f32; rows.len()];
        let mut stamp = vec![u32::MAX; rows.len()];
        let mut text_mass = 0.0f32;
        let common = rows.len() / 8;
        for (n, t) in text_tokens.iter().enumerate() {
            let Some(p_desc) = self.base.desc.get(t) else {
                continue;
            };
            if p_desc.len() > common {
                continue;
            }
            let w = self.base.desc_idf.get(t).copied().unwrap_or(0.0);
            text_mass += w;
            for r in p_desc {
                text[*r as usize] += w;
                stamp[*r as usize] = n as u32;
            }
            if let Some(p) = self.bag.get(t) {
                for r in p {
                    if stamp[*r as usize] != n as u32 {
                        text[*r as usize] += w;
                    }
                }
            }
        }
        for (i, s) in score.iter_mut().enumerate() {
            let r = &rows[i];
            if r.level < 3 {
                continue;
            }
            let mut v = 0.50 * f64::from(best_alias[i])
                + 0.25 * f64::from(bag[i] / q_mass)
                + 0.25 * f64::from(desc[i] / q_mass);
            if text_mass > 0.0 {
                v = v * 0.92 + 0.08 * f64::from(text[i] / text_mass);
            }
            if r.level == 3 {
                v *= GROUP_PENALTY;
            }
            let worker = r.code.starts_with('6');
            match role {
                Some(Role::Professional) if worker => v *= ROLE_PENALTY,
                Some(Role::Worker) if !worker => v *= ROLE_PENALTY,
                _ => {}
            }
            *s = v.clamp(0.0, 1.0);
        }
        score
    }
}

fn round2(x: f64) -> f64 {
    (x * 100.0).round() / 100.0
}

/// Whether two occupations share their level-3 group (the first three code segments).
pub fn same_group(a: u32, b: u32) -> bool {
    a / 100 == b / 100
}

#[cfg(test)]
mod tests {
    use super::*;
    use rayon::prelude::*;

    fn top(m: &Matcher, title: &str) -> Vec<(String, f64)> {
        m.classify(title, "", 5)
            .iter()
            .map(|x| (x.row.code.clone(), x.confidence))
            .collect()
    }

    #[test]
    fn loads_the_bundled_classification() {
        let m = Matcher::bundled();
        assert_eq!(m.rows().len(), 2_051);
        assert_eq!(m.rows().iter().filter(|r| r.level == 4).count(), 1_634);
        let sw = m.row("2-02-10-03").unwrap();
        assert_eq!(sw.name, "计算机软件工程技术人员");
        assert_eq!(sw.code_num, 2_021_003);
        assert_eq!(m.group(sw.code_num).unwrap().code, "2-02-10-00");
        assert!(m.aliases("2-02-10-03").contains(&"Java开发"));
        assert_eq!(
            display_name("地理信息系统工程技术人员L/S"),
            "地理信息系统工程技术人员"
        );
        assert_eq!(display_name("IOS"), "IOS");
        assert!(same_group(2_021_003, 2_021_008));
        assert!(!same_group(2_021_003, 2_021_103));
    }

    #[test]
    fn exact_titles_variants_and_level_three_rows() {
        let m = Matcher::bundled();
        let t = top(m, "Java开发");
        assert_eq!(t[0], ("2-02-10-03".to_string(), EXACT));
        // Case, width, spaces and punctuation do not matter; seniority words neither.
        assert_eq!(top(m, " ＪＡＶＡ 开发 ")[0].0, "2-02-10-03");
        assert_eq!(top(m, "资深Java开发")[0].0, "2-02-10-03");
        // A stem: "Java工程师" is Java's.
        let t = top(m, "Java工程师");
        assert_eq!(t[0].0, "2-02-10-03");
        // A slashed alias's parts: "电气/电器工程师".
        assert!(!top(m, "电器工程师").is_empty());
        // Only a level-3 row has this market title.
        assert_eq!(top(m, "机械工程师")[0].0, "2-02-07-00");
        // Scored: never a level 1 or 2 row, five at most, best first.
        let t = m.classify("区块链智能合约开发", "负责以太坊智能合约的开发", 5);
        assert!(t.len() <= 5 && !t.is_empty());
        assert!(t.iter().all(|x| x.row.level >= 3));
        assert!(t.windows(2).all(|w| w[0].confidence >= w[1].confidence));
        // Nothing to match.
        assert!(m.classify("", "", 5).is_empty());
        assert!(m.best("！！！", "").is_none());
        assert!(m.best("zzqx qqv", "").is_none());
        // Same answer twice.
        assert_eq!(top(m, "数据工程师"), top(m, "数据工程师"));
    }

    /// Realistic titles that are not themselves aliases, labelled by hand.
    const LABELLED: &[(&str, &str)] = &[
        ("高级Java开发工程师", "2-02-10-03"),
        ("Python后端开发", "2-02-10-03"),
        ("Golang工程师", "2-02-10-03"),
        ("Web前端工程师", "4-04-05-01"),
        ("资深UI设计师", "2-09-06-07"),
        ("财务会计", "2-06-03-00"),
        ("出纳员", "2-06-03-00"),
        ("销售代表（华南区）", "4-01-02-01"),
        ("淘宝客服专员", "4-04-05-03"),
        ("Linux运维工程师", "2-02-10-08"),
        ("招聘主管", "4-07-03-08"),
        ("行政专员", "3-01-02-00"),
        ("嵌入式软件开发工程师", "2-02-10-06"),
        ("机械设计工程师", "2-02-07-01"),
        ("保安队长", "4-07-05-01"),
        ("快递配送员", "4-02-07-08"),
        ("川菜厨师", "4-03-02-01"),
        ("小学语文教师", "2-08-02-04"),
        ("货车司机", "4-02-02-02"),
        ("NLP算法工程师", "2-02-38-01"),
        ("新媒体运营专员", "4-13-01-05"),
        ("抖音带货主播", "4-01-06-02"),
        ("执业律师", "2-07-04-00"),
        ("急诊科护士", "2-05-08-03"),
        ("软件测试工程师", "4-04-05-02"),
        ("电气工程师", "2-02-11-00"),
    ];

    #[derive(Default)]
    struct Tally {
        n: usize,
        top1: usize,
        top5: usize,
        /// (confidence bucket 0..=9) → (answers, right).
        buckets: [(usize, usize); 10],
    }

    impl Tally {
        fn add(&mut self, rank: Option<usize>, conf: f64) {
            self.n += 1;
            self.top1 += usize::from(rank == Some(0));
            self.top5 += usize::from(rank.is_some_and(|r| r < 5));
            let b = &mut self.buckets[((conf * 10.0) as usize).min(9)];
            b.0 += 1;
            b.1 += usize::from(rank == Some(0));
        }
        fn rate(&self, x: usize) -> f64 {
            x as f64 / self.n.max(1) as f64
        }
    }

    fn rank(m: &Matcher, title: &str, code: &str) -> (Option<usize>, f64) {
        let t = m.classify(title, "", 5);
        (
            t.iter().position(|x| x.row.code == code),
            t.first().map_or(0.0, |x| x.confidence),
        )
    }

    #[test]
    fn hand_labelled_titles() {
        let m = Matcher::bundled();
        let mut tally = Tally::default();
        let mut wrong = Vec::new();
        for (title, code) in LABELLED {
            let (r, c) = rank(m, title, code);
            tally.add(r, c);
            if r != Some(0) {
                wrong.push(format!("{title} → {:?} (want {code})", top(m, title)));
            }
        }
        eprintln!(
            "hand-labelled: {} titles, top-1 {:.3}, top-5 {:.3}; misses: {wrong:#?}",
            tally.n,
            tally.rate(tally.top1),
            tally.rate(tally.top5)
        );
        // Measured: 23 of 26 first, 25 in the top 5.
        assert!(tally.rate(tally.top1) >= 0.8, "{wrong:#?}");
        assert!(tally.rate(tally.top5) >= 0.9, "{wrong:#?}");
    }

    /// Leave-one-out over the market titles: for every alias of a level-4 occupation that is
    /// not its name, the matcher without that alias is asked for it. Then the leaves of the
    /// internet job category tree that are an alias of exactly one occupation.
    #[test]
    fn leave_one_out_and_category_leaves() {
        // The classification alone: the tree's titles are no part of what is left out.
        let m = &Matcher::from_csv(CSCO).unwrap();
        let mut cases: Vec<(String, String)> = Vec::new();
        for r in m.rows().iter().filter(|r| r.level == 4) {
            for a in m.classification_aliases(&r.code).iter().skip(1) {
                cases.push((r.code.clone(), a.to_string()));
            }
        }
        let results: Vec<(Option<usize>, f64, String)> = cases
            .par_iter()
            .map(|(code, alias)| {
                let without = m.without_alias(code, alias).unwrap();
                let (r, c) = rank(&without, alias, code);
                let miss = if r == Some(0) {
                    String::new()
                } else {
                    let got = without.classify(alias, "", 1);
                    format!(
                        "{alias} ({code}) → {}",
                        got.first().map_or("-".into(), |g| g.row.code.clone())
                    )
                };
                (r, c, miss)
            })
            .collect();
        let mut loo = Tally::default();
        for (r, c, _) in &results {
            loo.add(*r, *c);
        }
        let misses: Vec<&String> = results
            .iter()
            .map(|x| &x.2)
            .filter(|s| !s.is_empty())
            .take(40)
            .collect();

        let mut leaves = Tally::default();
        let lexicon = Lexicon::bundled();
        let served = Matcher::bundled();
        let mut leaf_misses = Vec::new();
        for leaf in lexicon.occupations() {
            let k = key(&leaf.name);
            let owners: Vec<&Row> = m
                .rows()
                .iter()
                .filter(|r| r.level >= 3 && m.aliases(&r.code).iter().any(|a| key(a) == k))
                .collect();
            if owners.len() != 1 {
                continue;
            }
            let (r, c) = rank(served, &leaf.name, &owners[0].code);
            leaves.add(r, c);
            if r != Some(0) {
                leaf_misses.push(format!("{} → {:?}", leaf.name, top(served, &leaf.name)));
            }
        }
        let buckets: Vec<String> = loo
            .buckets
            .iter()
            .enumerate()
            .filter(|(_, b)| b.0 > 0)
            .map(|(i, b)| {
                format!(
                    "{:.1}-{:.1}: {}/{}",
                    i as f64 / 10.0,
                    (i + 1) as f64 / 10.0,
                    b.1,
                    b.0
                )
            })
            .collect();
        eprintln!(
            "leave-one-out: {} aliases, top-1 {:.3}, top-5 {:.3}; right/answers by confidence {buckets:?}\n\
             category leaves: {} queries, top-1 {:.3}, top-5 {:.3}; misses {leaf_misses:?}\n\
             first LOO misses: {misses:#?}",
            loo.n,
            loo.rate(loo.top1),
            loo.rate(loo.top5),
            leaves.n,
            leaves.rate(leaves.top1),
            leaves.rate(leaves.top5),
        );
        // Floors a little under what was measured (1,631 aliases: top-1 0.536, top-5 0.765;
        // 170 leaves, all right first): a regression of the matcher fails here.
        assert!(loo.n > 1_500, "{}", loo.n);
        assert!(loo.rate(loo.top1) >= 0.50, "top-1 {}", loo.rate(loo.top1));
        assert!(loo.rate(loo.top5) >= 0.73, "top-5 {}", loo.rate(loo.top5));
        assert!(leaves.n >= 150, "{}", leaves.n);
        assert!(leaves.rate(leaves.top1) >= 0.97, "{leaf_misses:?}");
    }
}
