//! Tokens for Chinese and technical text: CJK character bigrams — whole when the bundled
//! dictionary (the static embedder's vocabulary, from jieba's) knows them as a word, parts
//! when they straddle two words — and, as parts, the characters themselves (a lone CJK
//! character stands for itself), Latin words lower-cased with the `+ # .` of technology names
//! kept whole (`c++`, `c#`, `node.js`, `vue3`, `k8s`), full-width ASCII folded to ASCII. A word also gives
//! its parts, so `node.js` is found by `node` and `vue3` by `vue`. Pure numbers are dropped:
//! they are years, counts and salaries, which filters serve better than words.

use crate::ai::builtin::is_cjk;
use crate::ai::static_embed::StaticModel;

/// Where a token came from: its place in the text, for showing which parts of a query matched.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Token {
    pub term: String,
    /// Character offsets `[start, end)` in the text.
    pub start: usize,
    pub end: usize,
    /// Whether this is a part of a longer word (`node` of `node.js`), not a whole token.
    pub part: bool,
}

/// Folds full-width ASCII (`Ｊａｖａ`, `３`) to ASCII and lower-cases.
fn fold(c: char) -> char {
    let c = match c as u32 {
        0xFF01..=0xFF5E => char::from_u32(c as u32 - 0xFEE0).unwrap_or(c),
        0x3000 => ' ',
        _ => c,
    };
    if c.is_ascii() {
        c.to_ascii_lowercase()
    } else {
        c
    }
}

fn is_word_char(c: char) -> bool {
    c.is_alphanumeric() && !is_cjk(c)
}

/// Every token of `text`, in order.
pub fn tokens(text: &str) -> Vec<Token> {
    let chars: Vec<char> = text.chars().map(fold).collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if is_cjk(c) {
            let start = i;
            while i < chars.len() && is_cjk(chars[i]) {
                i += 1;
            }
            cjk_run(&chars[start..i], start, &mut out);
        } else if is_word_char(c)
            || (c == '.' && chars.get(i + 1).is_some_and(|n| n.is_ascii_alphabetic()))
        {
            let start = i;
            i += 1;
            while i < chars.len() {
                let c = chars[i];
                let next_word = chars.get(i + 1).is_some_and(|n| is_word_char(*n));
                if is_word_char(c) || ((c == '.' || c == '-' || c == '_') && next_word) {
                    i += 1;
                } else if c == '+' || c == '#' {
                    // c++, c#, f#: the marks end the word.
                    while i < chars.len() && (chars[i] == '+' || chars[i] == '#') {
                        i += 1;
                    }
                    break;
                } else {
                    break;
                }
            }
            word(&chars[start..i], start, &mut out);
        } else {
            i += 1;
        }
    }
    out
}

fn cjk_run(run: &[char], offset: usize, out: &mut Vec<Token>) {
    if run.len() == 1 {
        out.push(Token {
            term: run[0].to_string(),
            start: offset,
            end: offset + 1,
            part: false,
        });
        return;
    }
    // A bigram the dictionary knows is a word (开发, 工程); one straddling two words (发工 of
    // 开发工程师) only a part: eval-search top-5 0.568 → 0.575 hybrid, 0.497 → 0.503 lexical.
    let dictionary = StaticModel::bundled();
    for (i, pair) in run.windows(2).enumerate() {
        let term: String = pair.iter().collect();
        out.push(Token {
            part: !dictionary.contains(&term),
            term,
            start: offset + i,
            end: offset + i + 2,
        });
    }
    // Each character too, as a part: 数学教师 shares 教 and 学 with 教学人员 and no bigram.
    for (i, c) in run.iter().enumerate() {
        out.push(Token {
            term: c.to_string(),
            start: offset + i,
            end: offset + i + 1,
            part: true,
        });
    }
}

fn word(w: &[char], offset: usize, out: &mut Vec<Token>) {
    let term: String = w.iter().collect();
    if term
        .chars()
        .all(|c| c.is_ascii_digit() || c == '.' || c == '-' || c == '_')
    {
        return;
    }
    let end = offset + w.len();
    out.push(Token {
        term: term.clone(),
        start: offset,
        end,
        part: false,
    });
    let mut part = |s: &str, start: usize| {
        if s.chars().count() >= 2 && s != term && !s.chars().all(|c| c.is_ascii_digit()) {
            out.push(Token {
                term: s.to_string(),
                start,
                end: start + s.chars().count(),
                part: true,
            });
        }
    };
    // node.js → node, js; spring-boot → spring, boot.
    if term.contains(['.', '-', '_']) {
        let mut at = offset;
        for p in term.split(['.', '-', '_']) {
            part(p, at);
            at += p.chars().count() + 1;
        }
    }
    // vue3 → vue, python3 → python (letters then digits only; k8s keeps itself).
    let letters = term.trim_end_matches(|c: char| c.is_ascii_digit());
    if letters.len() < term.len() && letters.chars().all(|c| c.is_alphabetic()) {
        part(letters, offset);
    }
    // c++ and c# keep their marks; "c++" is also not "c".
}

/// The terms of `text` (with repeats), for indexing.
pub fn terms(text: &str) -> impl Iterator<Item = String> {
    tokens(text).into_iter().map(|t| t.term)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: &str) -> Vec<String> {
        terms(s).collect()
    }

    #[test]
    fn tech_names_stay_whole_and_give_their_parts() {
        assert_eq!(t("C++"), ["c++"]);
        assert_eq!(t("C#/.NET"), ["c#", ".net", "net"]);
        assert_eq!(t("Node.js"), ["node.js", "node", "js"]);
        assert_eq!(t("Vue3 K8s"), ["vue3", "vue", "k8s"]);
        assert_eq!(t("Spring-Boot"), ["spring-boot", "spring", "boot"]);
        assert_eq!(t("ＪＡＶＡ"), ["java"]);
        assert_eq!(t("3-5年 2023 5G"), ["年", "5g"]);
        assert_eq!(t("end."), ["end"]);
    }

    #[test]
    fn cjk_runs_become_bigrams() {
        assert_eq!(
            t("前端开发"),
            ["前端", "端开", "开发", "前", "端", "开", "发"]
        );
        // 前端 and 开发 are words, 端开 straddles them: a part.
        let parts: Vec<bool> = tokens("前端开发").iter().map(|t| t.part).collect();
        assert_eq!(parts, [false, true, false, true, true, true, true]);
        assert_eq!(t("做 饭"), ["做", "饭"]);
        assert_eq!(t("Java开发"), ["java", "开发", "开", "发"]);
        let toks = tokens("找Java开发");
        assert_eq!((toks[1].start, toks[1].end), (1, 5));
        assert_eq!((toks[2].start, toks[2].end), (5, 7));
        assert!(toks[3].part && !toks[2].part);
    }
}
