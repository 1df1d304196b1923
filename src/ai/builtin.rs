//! The built-in offline embedder: signed feature hashing of word unigrams and bigrams (Latin
//! text) and character unigrams and bigrams (CJK text), sublinear term frequency, L2-normalised.
//! Deterministic across runs and machines, no network, microseconds per text — good enough for
//! keyword-ish semantic search and the default when no model server is configured.

use std::collections::HashMap;

use super::{BoxFuture, EmbedError, Embedder};

/// Version of the feature scheme; bump it (and so the model id) whenever features change.
const SCHEME: &str = "v1";
/// Weights of the feature kinds: bigrams carry more meaning than single CJK characters.
const W_WORD: f32 = 1.0;
const W_WORD_BIGRAM: f32 = 0.5;
const W_CJK_CHAR: f32 = 0.4;
const W_CJK_BIGRAM: f32 = 1.0;

/// The built-in hashing embedder.
#[derive(Debug, Clone)]
pub struct HashEmbedder {
    dim: usize,
    model: String,
}

impl HashEmbedder {
    pub fn new(dim: usize) -> HashEmbedder {
        HashEmbedder {
            dim: dim.max(1),
            model: format!("builtin-hash-{dim}-{SCHEME}"),
        }
    }

    /// Embeds one text synchronously.
    pub fn embed_one(&self, text: &str) -> Vec<f32> {
        let mut features: HashMap<u64, (f32, u32)> = HashMap::new();
        let mut add = |kind: u8, s: &str, w: f32| {
            let e = features.entry(fnv1a(kind, s)).or_insert((w, 0));
            e.1 += 1;
        };
        let mut prev_word: Option<String> = None;
        for token in tokenize(text) {
            match token {
                Token::Word(w) => {
                    add(b'w', &w, W_WORD);
                    if let Some(p) = &prev_word {
                        add(b'b', &format!("{p} {w}"), W_WORD_BIGRAM);
                    }
                    prev_word = Some(w);
                }
                Token::Cjk(run) => {
                    prev_word = None;
                    let chars: Vec<char> = run.chars().collect();
                    let mut buf = [0u8; 8];
                    for (i, c) in chars.iter().enumerate() {
                        add(b'c', c.encode_utf8(&mut buf), W_CJK_CHAR);
                        if let Some(n) = chars.get(i + 1) {
                            let mut s = String::with_capacity(8);
                            s.push(*c);
                            s.push(*n);
                            add(b'd', &s, W_CJK_BIGRAM);
                        }
                    }
                }
                Token::Break => prev_word = None,
            }
        }
        if features.is_empty() {
            features.insert(fnv1a(b'e', "<empty>"), (1.0, 1));
        }
        let mut v = vec![0f32; self.dim];
        for (h, (w, n)) in features {
            let idx = (h % self.dim as u64) as usize;
            let sign = if h >> 63 == 0 { 1.0 } else { -1.0 };
            v[idx] += sign * w * (1.0 + (n as f32).ln());
        }
        let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt();
        if norm > 0.0 {
            v.iter_mut().for_each(|x| *x /= norm);
        } else {
            // Every feature cancelled out (vanishingly rare): any fixed unit vector will do.
            v[0] = 1.0;
        }
        v
    }
}

impl Embedder for HashEmbedder {
    fn model_id(&self) -> &str {
        &self.model
    }
    fn dimension(&self) -> usize {
        self.dim
    }
    fn embed<'a>(
        &'a self,
        texts: &'a [String],
    ) -> BoxFuture<'a, Result<Vec<Vec<f32>>, EmbedError>> {
        Box::pin(async move { Ok(texts.iter().map(|t| self.embed_one(t)).collect()) })
    }
}

pub(crate) enum Token {
    /// A lowercased Latin word (letters, digits and the `+#.` of names like c++, c#, node.js).
    Word(String),
    /// A run of consecutive CJK characters.
    Cjk(String),
    /// Punctuation between tokens: bigrams do not cross it.
    Break,
}

/// Whether `c` is a CJK ideograph, kana or hangul syllable (a character that is a word piece
/// of its own, not part of a space-separated word).
pub(crate) fn is_cjk(c: char) -> bool {
    matches!(c as u32,
        0x3040..=0x30FF | 0x3400..=0x4DBF | 0x4E00..=0x9FFF | 0xAC00..=0xD7AF | 0xF900..=0xFAFF
        | 0x20000..=0x2A6DF)
}

pub(crate) fn tokenize(text: &str) -> Vec<Token> {
    let mut out = Vec::new();
    let mut word = String::new();
    let mut cjk = String::new();
    let flush_word = |word: &mut String, out: &mut Vec<Token>| {
        let w = word.trim_end_matches(['.', '-']).trim_start_matches('-');
        if !w.is_empty() {
            out.push(Token::Word(w.to_lowercase()));
        }
        word.clear();
    };
    for c in text.chars() {
        if is_cjk(c) {
            flush_word(&mut word, &mut out);
            cjk.push(c);
            continue;
        }
        if !cjk.is_empty() {
            out.push(Token::Cjk(std::mem::take(&mut cjk)));
        }
        if c.is_alphanumeric()
            || (!word.is_empty() && matches!(c, '+' | '#' | '.' | '-'))
            || (word.is_empty() && c == '.')
        {
            word.push(c);
        } else {
            flush_word(&mut word, &mut out);
            if !c.is_whitespace() {
                out.push(Token::Break);
            }
        }
    }
    flush_word(&mut word, &mut out);
    if !cjk.is_empty() {
        out.push(Token::Cjk(cjk));
    }
    out
}

/// FNV-1a 64 over a kind byte and the feature text.
pub(crate) fn fnv1a(kind: u8, s: &str) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in std::iter::once(kind).chain(s.bytes()) {
        h ^= b as u64;
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cos(a: &[f32], b: &[f32]) -> f32 {
        a.iter().zip(b).map(|(x, y)| x * y).sum()
    }

    #[test]
    fn deterministic_normalised_and_never_zero() {
        let e = HashEmbedder::new(384);
        assert_eq!(e.model_id(), "builtin-hash-384-v1");
        let a = e.embed_one("熟悉React、Vue等前端框架");
        assert_eq!(a, e.embed_one("熟悉React、Vue等前端框架"));
        assert_eq!(a.len(), 384);
        assert!((cos(&a, &a) - 1.0).abs() < 1e-5);
        let empty = e.embed_one("");
        assert!((cos(&empty, &empty) - 1.0).abs() < 1e-5);
    }

    #[test]
    fn similar_texts_are_closer_than_unrelated_ones() {
        let e = HashEmbedder::new(384);
        let q = e.embed_one("Java 后端开发工程师");
        let near = e.embed_one("高级Java后端开发 Spring Boot");
        let far = e.embed_one("会计 出纳 财务报表");
        assert!(cos(&q, &near) > cos(&q, &far) + 0.2);
        let en = e.embed_one("Senior Rust engineer, distributed systems");
        assert!(cos(&en, &e.embed_one("rust engineer")) > cos(&en, &e.embed_one("sales manager")));
    }

    #[test]
    fn keeps_symbols_of_language_names() {
        let words: Vec<String> = tokenize("C++ and C#, node.js.")
            .into_iter()
            .filter_map(|t| match t {
                Token::Word(w) => Some(w),
                _ => None,
            })
            .collect();
        assert_eq!(words, ["c++", "and", "c#", "node.js"]);
    }
}
