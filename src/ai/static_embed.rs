//! The built-in offline embedder: static word vectors distilled from multilingual-e5-small
//! (the Model2Vec recipe; `scripts/embed/build_static.py` makes `data/static-e5/model.bin`).
//! A text's vector is the weighted mean of the vectors of the words it contains — every
//! dictionary word of two to four characters found in a CJK run, the single characters no
//! word covers, each Latin word (`java`, `c++`, `node.js`) — each weighted by its smooth
//! inverse frequency, so frequent words (的, 工作, 负责) count little and rare ones much. A word
//! the model lacks gets a fixed pseudo-random vector of its own (from a hash of it) at the
//! weight of the rarest words, so unknown names still match themselves. L2-normalised,
//! deterministic, microseconds per text, and it knows that 程序员 and 软件开发 are related,
//! which hashed n-grams cannot.

use std::collections::HashMap;
use std::sync::OnceLock;

use super::builtin::{fnv1a, tokenize, Token};
use super::{BoxFuture, EmbedError, Embedder};

/// The bundled model (see `scripts/embed/build_static.py` for its format).
static MODEL_BIN: &[u8] = include_bytes!("../../data/static-e5/model.bin");
const MAGIC: &[u8] = b"JFSTATIC1\n";
/// Longest dictionary word looked up in a CJK run, in characters.
const MAX_WORD: usize = 4;

/// Word vectors: 4-bit codes with one scale per word, and each word's weight.
#[derive(Debug)]
pub struct StaticModel {
    index: HashMap<Box<str>, u32>,
    weights: Vec<f32>,
    scales: Vec<f32>,
    /// `dims / 2` bytes per word: codes −7..7 stored as code + 8, low nibble first.
    codes: Vec<u8>,
    dims: usize,
    /// Weight of a word the model lacks (that of its rarest word).
    unknown_weight: f32,
}

impl StaticModel {
    /// Reads a model file.
    pub fn parse(bytes: &[u8]) -> Result<StaticModel, String> {
        let mut r = bytes
            .strip_prefix(MAGIC)
            .ok_or("not a static embedding model (bad magic)")?;
        let mut take = |n: usize| -> Result<&[u8], String> {
            if r.len() < n {
                return Err("static embedding model truncated".into());
            }
            let (a, b) = r.split_at(n);
            r = b;
            Ok(a)
        };
        let u32_at = |b: &[u8]| u32::from_le_bytes([b[0], b[1], b[2], b[3]]) as usize;
        let n = u32_at(take(4)?);
        let dims = u32_at(take(4)?);
        if dims == 0 || dims % 2 != 0 || n == 0 {
            return Err(format!("static embedding model: bad shape {n} × {dims}"));
        }
        let mut index = HashMap::with_capacity(n);
        for i in 0..n {
            let len = take(1)?[0] as usize;
            let word = std::str::from_utf8(take(len)?).map_err(|e| e.to_string())?;
            index.insert(word.into(), i as u32);
        }
        let floats = |b: &[u8]| -> Vec<f32> {
            b.chunks_exact(4)
                .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
                .collect()
        };
        let weights = floats(take(n * 4)?);
        let scales = floats(take(n * 4)?);
        let codes = take(n * dims / 2)?.to_vec();
        if !r.is_empty() {
            return Err("static embedding model: trailing bytes".into());
        }
        let unknown_weight = weights.iter().copied().fold(0.0, f32::max);
        Ok(StaticModel {
            index,
            weights,
            scales,
            codes,
            dims,
            unknown_weight,
        })
    }

    /// The model bundled with the binary.
    pub fn bundled() -> &'static StaticModel {
        static MODEL: OnceLock<StaticModel> = OnceLock::new();
        MODEL.get_or_init(|| StaticModel::parse(MODEL_BIN).expect("the bundled model parses"))
    }

    /// Whether `word` is in the vocabulary.
    pub fn contains(&self, word: &str) -> bool {
        self.index.contains_key(word)
    }

    pub fn dims(&self) -> usize {
        self.dims
    }

    /// Words in the vocabulary.
    pub fn len(&self) -> usize {
        self.weights.len()
    }

    pub fn is_empty(&self) -> bool {
        self.weights.is_empty()
    }

    fn add_word(&self, id: u32, acc: &mut [f32]) {
        let i = id as usize;
        let w = self.weights[i] * self.scales[i];
        let row = &self.codes[i * self.dims / 2..(i + 1) * self.dims / 2];
        for (pair, b) in acc.chunks_exact_mut(2).zip(row) {
            pair[0] += w * ((b & 15) as f32 - 8.0);
            pair[1] += w * ((b >> 4) as f32 - 8.0);
        }
    }

    /// A word the model lacks: ± its weight / √dims per dimension, signs from its hash.
    fn add_unknown(&self, word: &str, acc: &mut [f32]) {
        let mut rng = crate::rng::SplitMix64(fnv1a(b'u', word));
        let v = self.unknown_weight / (self.dims as f32).sqrt();
        for chunk in acc.chunks_mut(64) {
            // One 64-bit draw gives 64 signs.
            let z = rng.next_u64();
            for (j, x) in chunk.iter_mut().enumerate() {
                *x += if z >> j & 1 == 1 { v } else { -v };
            }
        }
    }

    /// Adds the words of a run of CJK characters: every dictionary word of 2..=4 characters
    /// in it, then each character no word covers.
    fn add_cjk(&self, run: &str, acc: &mut [f32], any: &mut bool) {
        let chars: Vec<char> = run.chars().collect();
        let mut covered = vec![false; chars.len()];
        let mut buf = String::with_capacity(MAX_WORD * 4);
        for len in (2..=MAX_WORD).rev() {
            for start in 0..chars.len().saturating_sub(len - 1) {
                buf.clear();
                buf.extend(&chars[start..start + len]);
                if let Some(&id) = self.index.get(buf.as_str()) {
                    self.add_word(id, acc);
                    covered[start..start + len]
                        .iter_mut()
                        .for_each(|c| *c = true);
                    *any = true;
                }
            }
        }
        for (c, covered) in chars.iter().zip(covered) {
            if covered {
                continue;
            }
            buf.clear();
            buf.push(*c);
            match self.index.get(buf.as_str()) {
                Some(&id) => self.add_word(id, acc),
                None => self.add_unknown(&buf, acc),
            }
            *any = true;
        }
    }

    /// Embeds one text (L2-normalised; a text with no word gets a fixed unit vector).
    pub fn embed(&self, text: &str) -> Vec<f32> {
        let mut acc = vec![0f32; self.dims];
        let mut any = false;
        for token in tokenize(text) {
            match token {
                Token::Cjk(run) => self.add_cjk(&run, &mut acc, &mut any),
                Token::Word(w) => {
                    if w.chars().all(|c| c.is_ascii_digit()) {
                        continue;
                    }
                    match self.index.get(w.as_str()) {
                        Some(&id) => self.add_word(id, &mut acc),
                        None => self.add_unknown(&w, &mut acc),
                    }
                    any = true;
                }
                Token::Break => {}
            }
        }
        let norm = acc.iter().map(|x| x * x).sum::<f32>().sqrt();
        if !any || norm <= f32::EPSILON {
            acc.iter_mut().for_each(|x| *x = 0.0);
            acc[0] = 1.0;
            return acc;
        }
        acc.iter_mut().for_each(|x| *x /= norm);
        acc
    }
}

/// The built-in embedder over the bundled static model.
#[derive(Debug, Clone)]
pub struct StaticEmbedder {
    model: &'static StaticModel,
    id: String,
}

impl StaticEmbedder {
    pub fn bundled() -> StaticEmbedder {
        let model = StaticModel::bundled();
        StaticEmbedder {
            model,
            id: format!("builtin-static-e5-{}-v1", model.dims()),
        }
    }

    pub fn embed_one(&self, text: &str) -> Vec<f32> {
        self.model.embed(text)
    }
}

impl Embedder for StaticEmbedder {
    fn model_id(&self) -> &str {
        &self.id
    }
    fn dimension(&self) -> usize {
        self.model.dims()
    }
    fn embed<'a>(
        &'a self,
        texts: &'a [String],
    ) -> BoxFuture<'a, Result<Vec<Vec<f32>>, EmbedError>> {
        Box::pin(async move { Ok(texts.iter().map(|t| self.model.embed(t)).collect()) })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cos(a: &[f32], b: &[f32]) -> f32 {
        a.iter().zip(b).map(|(x, y)| x * y).sum()
    }

    #[test]
    fn the_bundled_model_parses_and_embeds_unit_vectors() {
        let m = StaticModel::bundled();
        assert!(m.len() > 50_000, "{}", m.len());
        for text in ["Java开发工程师", "", "12345", "qiskit cirq", "的的的"] {
            let v = m.embed(text);
            assert_eq!(v.len(), m.dims());
            let n = cos(&v, &v);
            assert!((n - 1.0).abs() < 1e-4, "{text}: {n}");
            assert_eq!(v, m.embed(text), "deterministic");
        }
    }

    #[test]
    fn related_words_are_closer_than_unrelated_ones() {
        let m = StaticModel::bundled();
        let dev = m.embed("程序员");
        assert!(
            cos(&dev, &m.embed("软件工程师")) > cos(&dev, &m.embed("厨师")) + 0.1,
            "程序员 is nearer 软件工程师 than 厨师"
        );
        let java = m.embed("Java开发");
        assert!(cos(&java, &m.embed("软件开发工程技术人员")) > cos(&java, &m.embed("厨师")) + 0.3);
        let nurse = m.embed("护士");
        assert!(cos(&nurse, &m.embed("医院护理")) > cos(&nurse, &m.embed("汽车销售")));
        // An unknown name matches itself, not another unknown name.
        let q = m.embed("qiskit");
        assert!(cos(&q, &m.embed("qiskit 量子")) > 0.5);
        assert!(cos(&q, &m.embed("zzyzx")).abs() < 0.3);
    }

    #[test]
    fn damaged_files_are_refused() {
        assert!(StaticModel::parse(b"nope").is_err());
        assert!(StaticModel::parse(&MODEL_BIN[..MODEL_BIN.len() - 1]).is_err());
    }
}
