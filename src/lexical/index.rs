//! An in-memory inverted index scored with BM25F: each field's term frequency is normalised by
//! the field's length against its average and weighted, the sum saturated once (Robertson &
//! Zaragoza, *The Probabilistic Relevance Framework*, §3.6). A posting holds the document and
//! that normalised, weighted frequency, so a query only saturates and multiplies by IDF.
//!
//! Queries are answered document-at-a-time with MaxScore (Turtle & Flood 1995): terms sorted
//! by their highest possible contribution; once the k-th best score beats the sum of the
//! smallest bounds, those terms can no longer bring a document in and are only looked up
//! (galloping search) for documents the others found. Exact top-k, and common terms (开发,
//! 工程) cost little once a rare one (qiskit) sets the bar. A filter with few matches is
//! answered the other way round: its matches scored term at a time, the hopeless dropped.
//!
//! Documents are numbered in insertion order, so posting lists stay sorted by appending. A
//! replaced or deleted document is a tombstone until a compaction renumbers the rest.

use std::cmp::Ordering;
use std::collections::{BinaryHeap, HashMap};

use super::tokenize::tokens;
use crate::idmap::IdMap;

/// BM25's term-frequency saturation.
const K1: f32 = 1.2;
/// BM25's length normalisation.
const B: f32 = 0.75;
/// Most distinct terms a query is scored on (the rest are ignored).
pub const MAX_QUERY_TERMS: usize = 64;
/// Weight of a part (`node` of `node.js`, 教 of 教师) against a whole token.
const PART_WEIGHT: f32 = 0.5;
/// Most documents [`LexicalIndex::scores_of`] scores through their own term lists; more are
/// scored by walking the postings.
const FORWARD_SCORING_MAX: usize = 256;

/// A field of an entity's document that the index reads.
#[derive(Debug, Clone, Copy)]
pub struct Field {
    pub name: &'static str,
    /// JSON pointer into the stored document (an array's strings are joined).
    pub pointer: &'static str,
    /// BM25F weight (a title counts more than a description).
    pub weight: f32,
    /// Whether the index keeps the field's text, to show with a result.
    pub stored: bool,
    /// The field's typical length in tokens, BM25's length normalisation pivot. A constant,
    /// not the collection's running average, so that a document's score never depends on
    /// what was written before it (a data dir rebuilt elsewhere answers the same).
    pub avg_len: f32,
}

/// A document analysed for indexing: per field, its length in tokens and its terms' counts.
#[derive(Debug, Clone, Default)]
pub struct DocTerms {
    lens: Vec<u32>,
    /// (term, field, count)
    counts: Vec<(String, u16, u32)>,
    /// The text of each stored field, in field order.
    stored: Vec<Box<str>>,
}

impl DocTerms {
    /// Tokenises one text per field of `fields`, keeping the stored fields' text.
    pub fn with_stored(fields: &[Field], texts: &[String]) -> DocTerms {
        let mut d = DocTerms::new(texts);
        d.stored = fields
            .iter()
            .zip(texts)
            .filter(|(f, _)| f.stored)
            .map(|(_, t)| t.as_str().into())
            .collect();
        d
    }

    /// Tokenises one text per field (in the order of the index's fields).
    pub fn new(texts: &[String]) -> DocTerms {
        let mut lens = Vec::with_capacity(texts.len());
        let mut counts: HashMap<(String, u16), u32> = HashMap::new();
        for (f, text) in texts.iter().enumerate() {
            let toks = tokens(text);
            lens.push(toks.iter().filter(|t| !t.part).count() as u32);
            for t in toks {
                *counts.entry((t.term, f as u16)).or_default() += 1;
            }
        }
        let mut counts: Vec<(String, u16, u32)> =
            counts.into_iter().map(|((t, f), n)| (t, f, n)).collect();
        counts.sort_unstable();
        DocTerms {
            lens,
            counts,
            stored: Vec::new(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.counts.is_empty()
    }
}

#[derive(Debug, Default)]
struct Postings {
    docs: Vec<u32>,
    /// Normalised, weighted term frequency per document.
    tfs: Vec<f32>,
    max_tf: f32,
    /// Postings of live documents.
    live: u32,
}

/// A query term: its text, weight and where it is in the query.
#[derive(Debug, Clone)]
pub struct QueryTerm {
    pub term: String,
    pub weight: f32,
    /// Character ranges of the query it came from.
    pub spans: Vec<(usize, usize)>,
}

/// A parsed query.
#[derive(Debug, Clone, Default)]
pub struct Query {
    pub terms: Vec<QueryTerm>,
}

impl Query {
    pub fn parse(text: &str) -> Query {
        let mut terms: Vec<QueryTerm> = Vec::new();
        for t in tokens(text) {
            let w = if t.part { PART_WEIGHT } else { 1.0 };
            if let Some(q) = terms.iter_mut().find(|q| q.term == t.term) {
                q.weight = q.weight.max(w);
                q.spans.push((t.start, t.end));
            } else if terms.len() < MAX_QUERY_TERMS {
                terms.push(QueryTerm {
                    term: t.term,
                    weight: w,
                    spans: vec![(t.start, t.end)],
                });
            }
        }
        Query { terms }
    }

    pub fn is_empty(&self) -> bool {
        self.terms.is_empty()
    }

    /// The parts of `text` (the query this was parsed from) that the terms in `mask` cover,
    /// overlapping and adjacent ranges merged: `Java开发工程师` with every bigram matched is
    /// one part, not five.
    pub fn matched_parts(&self, text: &str, mask: u64) -> Vec<String> {
        let mut spans: Vec<(usize, usize)> = self
            .terms
            .iter()
            .enumerate()
            .filter(|(i, _)| mask & (1 << i) != 0)
            .flat_map(|(_, t)| t.spans.iter().copied())
            .collect();
        spans.sort_unstable();
        let mut merged: Vec<(usize, usize)> = Vec::new();
        for (s, e) in spans {
            match merged.last_mut() {
                Some(last) if s < last.1 => last.1 = last.1.max(e),
                _ => merged.push((s, e)),
            }
        }
        let chars: Vec<char> = text.chars().collect();
        let mut out: Vec<String> = Vec::new();
        for (s, e) in merged {
            let part: String = chars[s.min(chars.len())..e.min(chars.len())]
                .iter()
                .collect();
            if !out.contains(&part) {
                out.push(part);
            }
        }
        out
    }
}

/// A scored document.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LexHit {
    pub id: u64,
    pub score: f32,
    /// Which of the query's terms it holds (bit i: term i).
    pub matched: u64,
}

/// The inverted index of one collection.
#[derive(Debug)]
pub struct LexicalIndex {
    fields: &'static [Field],
    terms: HashMap<Box<str>, u32>,
    postings: Vec<Postings>,
    /// Entity per document number.
    entities: Vec<u64>,
    /// Per document, its terms' ids (ascending) with their frequencies as in the postings: to
    /// keep document frequencies exact when it goes, and to score a few documents without
    /// searching every query term's postings for each.
    doc_terms: Vec<Box<[(u32, f32)]>>,
    /// Stored fields' text per document.
    stored: Vec<Box<[Box<str>]>>,
    dead: Vec<bool>,
    n_dead: usize,
    live: IdMap<u32>,
}

#[derive(PartialEq)]
struct Scored(f32, u32);
impl Eq for Scored {}
impl PartialOrd for Scored {
    fn partial_cmp(&self, o: &Self) -> Option<Ordering> {
        Some(self.cmp(o))
    }
}
impl Ord for Scored {
    /// Reversed: the heap's top is the worst kept (lowest score, then highest document).
    fn cmp(&self, o: &Self) -> Ordering {
        o.0.total_cmp(&self.0).then(self.1.cmp(&o.1))
    }
}

impl LexicalIndex {
    pub fn new(fields: &'static [Field]) -> LexicalIndex {
        LexicalIndex {
            fields,
            terms: HashMap::new(),
            postings: Vec::new(),
            entities: Vec::new(),
            doc_terms: Vec::new(),
            stored: Vec::new(),
            dead: Vec::new(),
            n_dead: 0,
            live: IdMap::default(),
        }
    }

    /// Adds or replaces a batch of documents.
    pub fn insert_batch(&mut self, docs: &[(u64, DocTerms)]) {
        for (id, d) in docs {
            self.insert(*id, d);
        }
    }

    pub fn fields(&self) -> &'static [Field] {
        self.fields
    }

    /// Live documents.
    pub fn len(&self) -> usize {
        self.live.len()
    }

    pub fn is_empty(&self) -> bool {
        self.live.is_empty()
    }

    pub fn contains(&self, id: u64) -> bool {
        self.live.contains_key(&id)
    }

    /// Adds or replaces the document of `id`. An empty document only removes the old one.
    pub fn insert(&mut self, id: u64, doc: &DocTerms) {
        self.remove(id);
        if doc.is_empty() {
            return;
        }
        let d = self.entities.len() as u32;
        self.entities.push(id);
        self.stored.push(doc.stored.clone().into_boxed_slice());
        self.dead.push(false);
        self.live.insert(id, d);
        let mut ids = Vec::new();
        // counts are sorted by term: one posting per term, its fields summed.
        let mut i = 0;
        while i < doc.counts.len() {
            let term = &doc.counts[i].0;
            let mut tf = 0f32;
            while i < doc.counts.len() && doc.counts[i].0 == *term {
                let (_, f, n) = &doc.counts[i];
                if let Some(field) = self.fields.get(*f as usize) {
                    let len = doc.lens.get(*f as usize).copied().unwrap_or(0) as f32;
                    let norm = 1.0 - B + B * len / field.avg_len.max(1.0);
                    tf += field.weight * *n as f32 / norm;
                }
                i += 1;
            }
            if tf <= 0.0 {
                continue;
            }
            let t = match self.terms.get(term.as_str()) {
                Some(&t) => t,
                None => {
                    let t = self.postings.len() as u32;
                    self.terms.insert(term.as_str().into(), t);
                    self.postings.push(Postings::default());
                    t
                }
            };
            let p = &mut self.postings[t as usize];
            p.docs.push(d);
            p.tfs.push(tf);
            p.max_tf = p.max_tf.max(tf);
            p.live += 1;
            ids.push((t, tf));
        }
        ids.sort_unstable_by_key(|(t, _)| *t);
        self.doc_terms.push(ids.into_boxed_slice());
        self.maybe_compact();
    }

    /// Removes the document of `id`; whether there was one.
    pub fn remove(&mut self, id: u64) -> bool {
        let Some(d) = self.live.remove(&id) else {
            return false;
        };
        self.dead[d as usize] = true;
        self.n_dead += 1;
        for &(t, _) in self.doc_terms[d as usize].iter() {
            self.postings[t as usize].live -= 1;
        }
        true
    }

    /// Renumbers the live documents once tombstones are a quarter of them.
    fn maybe_compact(&mut self) {
        if self.n_dead < 1024 || self.n_dead * 4 < self.entities.len() {
            return;
        }
        self.compact();
    }

    pub fn compact(&mut self) {
        let mut renumber = vec![u32::MAX; self.entities.len()];
        let mut entities = Vec::with_capacity(self.live.len());
        let mut doc_terms = Vec::with_capacity(self.live.len());
        let mut stored = Vec::with_capacity(self.live.len());
        for (d, &id) in self.entities.iter().enumerate() {
            if !self.dead[d] {
                renumber[d] = entities.len() as u32;
                entities.push(id);
                stored.push(std::mem::take(&mut self.stored[d]));
                doc_terms.push(std::mem::take(&mut self.doc_terms[d]));
            }
        }
        for p in &mut self.postings {
            let mut docs = Vec::with_capacity(p.live as usize);
            let mut tfs = Vec::with_capacity(p.live as usize);
            let mut max_tf = 0f32;
            for (d, tf) in p.docs.iter().zip(&p.tfs) {
                let n = renumber[*d as usize];
                if n != u32::MAX {
                    docs.push(n);
                    tfs.push(*tf);
                    max_tf = max_tf.max(*tf);
                }
            }
            *p = Postings {
                live: docs.len() as u32,
                docs,
                tfs,
                max_tf,
            };
        }
        for (id, d) in self.live.iter_mut() {
            let _ = id;
            *d = renumber[*d as usize];
        }
        self.dead = vec![false; entities.len()];
        self.entities = entities;
        self.doc_terms = doc_terms;
        self.stored = stored;
        self.n_dead = 0;
    }

    /// Bytes held (postings, document tables and the term dictionary), approximately.
    pub fn memory_bytes(&self) -> usize {
        let postings: usize = self
            .postings
            .iter()
            .map(|p| p.docs.capacity() * 4 + p.tfs.capacity() * 4 + std::mem::size_of::<Postings>())
            .sum();
        let dict: usize = self.terms.keys().map(|k| k.len() + 16 + 8).sum();
        let stored: usize = self
            .stored
            .iter()
            .map(|s| s.iter().map(|t| t.len() + 16).sum::<usize>() + 16)
            .sum();
        postings
            + dict
            + stored
            + self.entities.capacity() * 8
            + self
                .doc_terms
                .iter()
                .map(|t| std::mem::size_of_val(&**t) + 16)
                .sum::<usize>()
            + self.dead.capacity()
            + self.live.capacity() * 12
    }

    /// The stored fields' text of an entity's document (in field order), or `None`.
    pub fn stored(&self, id: u64) -> Option<&[Box<str>]> {
        self.live.get(&id).map(|&d| &*self.stored[d as usize])
    }

    /// Distinct terms.
    pub fn term_count(&self) -> usize {
        self.terms.len()
    }

    /// A query term's id, postings and IDF × weight, when a live document holds it.
    fn lookup(&self, t: &QueryTerm) -> Option<(u32, &Postings, f32)> {
        let id = *self.terms.get(t.term.as_str())?;
        let p = &self.postings[id as usize];
        if p.live == 0 {
            return None;
        }
        let (n, df) = (self.live.len() as f32, p.live as f32);
        let idf = (1.0 + (n - df + 0.5) / (df + 0.5)).ln();
        Some((id, p, idf * t.weight))
    }

    /// The query's terms found in the index: (query term index, postings, idf × weight).
    fn resolve(&self, q: &Query) -> Vec<(usize, &Postings, f32)> {
        q.terms
            .iter()
            .enumerate()
            .filter_map(|(i, t)| self.lookup(t).map(|(_, p, w)| (i, p, w)))
            .collect()
    }

    /// The `k` best documents for `q` among those `accept` lets through (called only for
    /// documents good enough to enter the top `k`), best first, ties by entity id.
    pub fn search(&self, q: &Query, k: usize, accept: impl FnMut(u64) -> bool) -> Vec<LexHit> {
        self.search_above(q, k, accept, 0.0)
    }

    /// [`LexicalIndex::search`] knowing that at least `k` accepted documents score above
    /// `floor` (e.g. the k-th best exact score of documents another arm found): documents at
    /// or below it are never scored in full, and lists that cannot lift a document above it
    /// are left out from the start instead of once the walk has met `k` good documents.
    /// Exact when the premise holds; with a floor set too high, fewer than `k` come back.
    pub fn search_above(
        &self,
        q: &Query,
        k: usize,
        mut accept: impl FnMut(u64) -> bool,
        floor: f32,
    ) -> Vec<LexHit> {
        let mut terms = self.resolve(q);
        if terms.is_empty() || k == 0 {
            return Vec::new();
        }
        let bound = |p: &Postings, w: f32| w * saturate(p.max_tf);
        terms.sort_by(|a, b| bound(a.1, a.2).total_cmp(&bound(b.1, b.2)));
        // prefix[i]: the most the i terms with the smallest bounds can add together.
        let mut prefix = vec![0f32; terms.len() + 1];
        for (i, (_, p, w)) in terms.iter().enumerate() {
            prefix[i + 1] = prefix[i] + bound(p, *w);
        }
        let mut cursor = vec![0usize; terms.len()];
        let mut heap: BinaryHeap<Scored> = BinaryHeap::with_capacity(k + 1);
        let mut theta = floor.max(0.0);
        let mut first_essential = 0;
        loop {
            while first_essential < terms.len() && prefix[first_essential + 1] <= theta {
                first_essential += 1;
            }
            if first_essential == terms.len() {
                break;
            }
            // The next document any essential term holds.
            let mut doc = u32::MAX;
            for (t, (_, p, _)) in terms.iter().enumerate().skip(first_essential) {
                if let Some(&d) = p.docs.get(cursor[t]) {
                    doc = doc.min(d);
                }
            }
            if doc == u32::MAX {
                break;
            }
            let mut score = 0f32;
            for (t, (_, p, w)) in terms.iter().enumerate().skip(first_essential) {
                if p.docs.get(cursor[t]) == Some(&doc) {
                    score += w * saturate(p.tfs[cursor[t]]);
                    cursor[t] += 1;
                }
            }
            for t in (0..first_essential).rev() {
                if score + prefix[t + 1] <= theta {
                    break;
                }
                let (_, p, w) = &terms[t];
                cursor[t] = gallop(&p.docs, cursor[t], doc);
                if p.docs.get(cursor[t]) == Some(&doc) {
                    score += w * saturate(p.tfs[cursor[t]]);
                }
            }
            // Below the floor or the k-th best so far (a matched document scores above 0).
            if score <= theta || self.dead[doc as usize] {
                continue;
            }
            if !accept(self.entities[doc as usize]) {
                continue;
            }
            heap.push(Scored(score, doc));
            if heap.len() > k {
                heap.pop();
            }
            if heap.len() >= k {
                theta = heap.peek().map_or(0.0, |s| s.0).max(floor);
            }
        }
        self.finish(heap, &terms)
    }

    /// Like [`LexicalIndex::search_above`] over the given entities only (a filter's few
    /// matches), ties to the earlier document as in a full search. Term at a time, the terms
    /// that can add most first, each a pass over the documents still in the running; after
    /// each pass, documents that cannot reach the k-th best so far (or `floor`) even with
    /// every remaining term drop out, so the common terms are looked up for a few documents
    /// instead of all (hybrid search with a 1 % filter: BENCHMARKS.md).
    pub fn search_among(&self, q: &Query, k: usize, ids: &[u64], floor: f32) -> Vec<LexHit> {
        if k == 0 {
            return Vec::new();
        }
        let mut terms = self.resolve(q);
        let bound = |p: &Postings, w: f32| w * saturate(p.max_tf);
        terms.sort_by(|a, b| bound(b.1, b.2).total_cmp(&bound(a.1, a.2)));
        // rest[i]: the most terms i.. can add together.
        let mut rest = vec![0f32; terms.len() + 1];
        for (i, (_, p, w)) in terms.iter().enumerate().rev() {
            rest[i] = rest[i + 1] + bound(p, *w);
        }
        // (document, score, matched terms) in document order.
        let mut docs: Vec<(u32, f32, u64)> = ids
            .iter()
            .filter_map(|id| self.live.get(id).map(|&d| (d, 0.0, 0)))
            .collect();
        docs.sort_unstable_by_key(|d| d.0);
        docs.dedup_by_key(|d| d.0);
        let mut kth: Vec<f32> = Vec::with_capacity(docs.len());
        for (i, (t, p, w)) in terms.iter().enumerate() {
            let mut at = 0;
            for (d, score, matched) in docs.iter_mut() {
                at = gallop(&p.docs, at, *d);
                if at >= p.docs.len() {
                    break;
                }
                if p.docs[at] == *d {
                    *score += w * saturate(p.tfs[at]);
                    *matched |= 1 << t;
                }
            }
            // The k-th best score so far only grows: a document that cannot reach it with
            // every term still to come is out (a tie stays: the earlier document wins it).
            let mut theta = floor;
            if docs.len() > k {
                kth.clear();
                kth.extend(docs.iter().map(|d| d.1));
                let (_, x, _) = kth.select_nth_unstable_by(k - 1, |a, b| b.total_cmp(a));
                theta = theta.max(*x);
            }
            if theta > 0.0 {
                docs.retain(|d| d.1 + rest[i + 1] >= theta);
            }
        }
        let mut hits: Vec<(u32, LexHit)> = docs
            .into_iter()
            .filter(|&(_, score, _)| score > floor.max(0.0))
            .map(|(d, score, matched)| {
                let id = self.entities[d as usize];
                (d, LexHit { id, score, matched })
            })
            .collect();
        let order = |a: &(u32, LexHit), b: &(u32, LexHit)| {
            b.1.score.total_cmp(&a.1.score).then(a.0.cmp(&b.0))
        };
        if hits.len() > k {
            hits.select_nth_unstable_by(k - 1, order);
            hits.truncate(k);
        }
        let mut hits: Vec<LexHit> = hits.into_iter().map(|(_, h)| h).collect();
        hits.sort_by(|a, b| b.score.total_cmp(&a.score).then(a.id.cmp(&b.id)));
        hits
    }

    fn finish(&self, heap: BinaryHeap<Scored>, terms: &[(usize, &Postings, f32)]) -> Vec<LexHit> {
        let mut hits: Vec<LexHit> = heap
            .into_iter()
            .map(|Scored(score, doc)| LexHit {
                id: self.entities[doc as usize],
                score,
                matched: terms
                    .iter()
                    .filter(|(_, p, _)| p.docs.binary_search(&doc).is_ok())
                    .fold(0u64, |m, (i, _, _)| m | (1 << i)),
            })
            .collect();
        hits.sort_by(|a, b| b.score.total_cmp(&a.score).then(a.id.cmp(&b.id)));
        hits
    }

    /// BM25F score and matched terms of one entity's document (`None` when not indexed), for
    /// results another arm found.
    pub fn score_of(&self, q: &Query, id: u64) -> Option<LexHit> {
        let &doc = self.live.get(&id)?;
        let mut hit = LexHit {
            id,
            score: 0.0,
            matched: 0,
        };
        for (i, p, w) in self.resolve(q) {
            if let Ok(j) = p.docs.binary_search(&doc) {
                hit.score += w * saturate(p.tfs[j]);
                hit.matched |= 1 << i;
            }
        }
        Some(hit)
    }

    /// [`LexicalIndex::score_of`] for many entities, the query's terms resolved once. A few
    /// documents (another arm's candidates, scattered over the collection) are scored through
    /// their own term lists: one short row each instead of a search in every query term's
    /// postings, which for a common term are most of the collection (hybrid search: ~70 µs for
    /// 40 candidates → BENCHMARKS.md). Many (a filter's matches) are scored by walking each
    /// term's postings once in document order, a gallop per document.
    pub fn scores_of(&self, q: &Query, ids: &[u64]) -> Vec<Option<LexHit>> {
        let mut out: Vec<Option<LexHit>> = ids
            .iter()
            .map(|&id| {
                self.live.get(&id).map(|_| LexHit {
                    id,
                    score: 0.0,
                    matched: 0,
                })
            })
            .collect();
        if ids.len() <= FORWARD_SCORING_MAX {
            // (term id, query term, idf × weight) by term id, like the rows.
            let mut by_id: Vec<(u32, usize, f32)> = q
                .terms
                .iter()
                .enumerate()
                .filter_map(|(i, t)| self.lookup(t).map(|(id, _, w)| (id, i, w)))
                .collect();
            by_id.sort_unstable_by_key(|t| t.0);
            for (id, h) in ids.iter().zip(&mut out) {
                let (Some(h), Some(&d)) = (h, self.live.get(id)) else {
                    continue;
                };
                // A merge of two ascending lists: the row is read once, front to back. The
                // contributions are added up in query order, as everywhere else, so that the
                // score is the same to the last bit.
                let mut parts = [0f32; MAX_QUERY_TERMS];
                let row = &*self.doc_terms[d as usize];
                let (mut a, mut b) = (0, 0);
                while a < row.len() && b < by_id.len() {
                    let (r, tf) = row[a];
                    let (t, i, w) = by_id[b];
                    match r.cmp(&t) {
                        Ordering::Less => a += 1,
                        Ordering::Greater => b += 1,
                        Ordering::Equal => {
                            parts[i] = w * saturate(tf);
                            h.matched |= 1 << i;
                            a += 1;
                            b += 1;
                        }
                    }
                }
                h.score = parts.iter().sum();
            }
            return out;
        }
        // (document, index in `ids`) in document order.
        let mut docs: Vec<(u32, usize)> = ids
            .iter()
            .enumerate()
            .filter_map(|(i, id)| self.live.get(id).map(|&d| (d, i)))
            .collect();
        docs.sort_unstable();
        for (t, p, w) in self.resolve(q) {
            let mut at = 0;
            for &(d, i) in &docs {
                at = gallop(&p.docs, at, d);
                if at >= p.docs.len() {
                    break;
                }
                if p.docs[at] == d {
                    if let Some(h) = &mut out[i] {
                        h.score += w * saturate(p.tfs[at]);
                        h.matched |= 1 << t;
                    }
                }
            }
        }
        out
    }

    /// The highest score a document holding every term of `q` could reach: each indexed term at
    /// its highest frequency, each term no document holds at the rarest IDF and a title's
    /// frequency.
    pub fn bound_of(&self, q: &Query) -> f32 {
        let n = self.live.len() as f32;
        let rarest = (1.0 + (n + 0.5) / 0.5).ln();
        let top_weight = self.fields.iter().map(|f| f.weight).fold(1.0, f32::max);
        let resolved = self.resolve(q);
        let indexed: f32 = resolved
            .iter()
            .map(|(_, p, w)| w * saturate(p.max_tf))
            .sum();
        let absent: f32 = q
            .terms
            .iter()
            .enumerate()
            .filter(|(i, _)| !resolved.iter().any(|r| r.0 == *i))
            .map(|(_, t)| t.weight * rarest * saturate(top_weight))
            .sum();
        indexed + absent
    }

    /// Total postings of the query's terms: the work of a document-at-a-time pass at worst.
    pub fn postings_of(&self, q: &Query) -> usize {
        self.resolve(q).iter().map(|(_, p, _)| p.docs.len()).sum()
    }
}

#[inline]
fn saturate(tf: f32) -> f32 {
    tf * (K1 + 1.0) / (tf + K1)
}

/// The first index at or after `from` whose document is at least `doc` (exponential then
/// binary search: cheap for the short hops of a document-at-a-time pass).
fn gallop(docs: &[u32], from: usize, doc: u32) -> usize {
    if docs.get(from).is_none_or(|d| *d >= doc) {
        return from;
    }
    let mut step = 1;
    let mut lo = from;
    let mut hi = from + 1;
    while hi < docs.len() && docs[hi] < doc {
        lo = hi;
        step *= 2;
        hi = from + step;
    }
    let hi = hi.min(docs.len());
    lo + docs[lo..hi].partition_point(|d| *d < doc)
}

#[cfg(test)]
mod tests {
    use super::*;

    const FIELDS: &[Field] = &[
        Field {
            name: "title",
            pointer: "/title",
            weight: 3.0,
            stored: true,
            avg_len: 6.0,
        },
        Field {
            name: "body",
            pointer: "/body",
            weight: 1.0,
            stored: false,
            avg_len: 20.0,
        },
    ];

    fn doc(title: &str, body: &str) -> DocTerms {
        DocTerms::new(&[title.to_string(), body.to_string()])
    }

    /// Scores every document the slow way, for checking MaxScore.
    fn brute(index: &LexicalIndex, q: &Query, k: usize) -> Vec<(u64, f32)> {
        let mut all: Vec<(u64, f32)> = index
            .live
            .keys()
            .filter_map(|id| index.score_of(q, *id))
            .filter(|h| h.score > 0.0)
            .map(|h| (h.id, h.score))
            .collect();
        all.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
        all.truncate(k);
        all
    }

    #[test]
    fn title_matches_rank_first_and_rare_terms_weigh_more() {
        let mut ix = LexicalIndex::new(FIELDS);
        ix.insert(1, &doc("Java开发工程师", "负责后端开发工作"));
        ix.insert(2, &doc("前端开发工程师", "负责Java相关的开发工作"));
        ix.insert(3, &doc("销售经理", "负责销售工作"));
        ix.insert(4, &doc("量子编译器工程师", "Qiskit Cirq 开发"));
        let q = Query::parse("Java开发");
        let hits = ix.search(&q, 10, |_| true);
        assert_eq!(hits[0].id, 1);
        assert_eq!(hits[1].id, 2);
        assert!(hits.iter().all(|h| h.id != 3));
        let q = Query::parse("qiskit 开发");
        assert_eq!(ix.search(&q, 1, |_| true)[0].id, 4);
        let q = Query::parse("Java开发工程师");
        let hit = ix.search(&q, 1, |_| true)[0];
        // Overlapping bigrams merge; a word and the CJK run after it stay two parts.
        assert_eq!(
            q.matched_parts("Java开发工程师", hit.matched),
            ["Java", "开发工程师"]
        );
    }

    #[test]
    fn maxscore_equals_brute_force_with_updates_and_deletes() {
        let words = [
            "开发",
            "工程师",
            "java",
            "python",
            "销售",
            "经理",
            "数据",
            "分析",
            "运维",
            "测试",
            "qiskit",
            "产品",
            "设计",
            "前端",
            "后端",
            "算法",
        ];
        let mut ix = LexicalIndex::new(FIELDS);
        let mut seed = 7u64;
        let mut next = || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        for round in 0..3 {
            for id in 1..=3000u64 {
                let pick = |n: u64, next: &mut dyn FnMut() -> u64| {
                    (0..n)
                        .map(|_| words[(next() % words.len() as u64) as usize])
                        .collect::<Vec<_>>()
                        .join(" ")
                };
                let title = pick(1 + next() % 3, &mut next);
                let body = pick(next() % 12, &mut next);
                if next() % 5 == 0 && round > 0 {
                    ix.remove(id);
                } else {
                    ix.insert(id, &doc(&title, &body));
                }
            }
        }
        for query in [
            "java 开发",
            "qiskit",
            "开发 工程师 经理",
            "数据分析 python 算法",
            "不存在",
        ] {
            let q = Query::parse(query);
            for k in [1, 5, 20] {
                let got: Vec<(u64, f32)> = ix
                    .search(&q, k, |_| true)
                    .iter()
                    .map(|h| (h.id, h.score))
                    .collect();
                let want = brute(&ix, &q, k);
                assert_eq!(got.len(), want.len(), "{query} k={k}");
                for (g, w) in got.iter().zip(&want) {
                    assert!(
                        (g.1 - w.1).abs() < 1e-4,
                        "{query} k={k}: {got:?} vs {want:?}"
                    );
                }
            }
            // A floor from the k-th best of a third of the documents: the same answer.
            let third: Vec<u64> = (1..=3000).step_by(3).collect();
            let mut some: Vec<f32> = ix
                .scores_of(&q, &third)
                .iter()
                .flatten()
                .map(|h| h.score)
                .collect();
            some.sort_by(|a, b| b.total_cmp(a));
            if let Some(kth) = some.get(9).filter(|s| **s > 0.0) {
                let plain = ix.search(&q, 10, |_| true);
                let above = ix.search_above(&q, 10, |_| true, kth * (1.0 - 1e-4));
                assert_eq!(plain, above, "{query}");
            }
            let even: Vec<u64> = ix
                .search(&q, 10, |id| id % 2 == 0)
                .iter()
                .map(|h| h.id)
                .collect();
            assert!(even.iter().all(|id| id % 2 == 0));
            let ids: Vec<u64> = (1..=3000).filter(|id| id % 2 == 0).collect();
            let among: Vec<u64> = ix
                .search_among(&q, 10, &ids, 0.0)
                .iter()
                .map(|h| h.id)
                .collect();
            let s = |v: &[u64]| {
                v.iter()
                    .map(|id| ix.score_of(&q, *id).unwrap().score)
                    .collect::<Vec<_>>()
            };
            assert_eq!(s(&even), s(&among), "{query}");
            // Scored together (unsorted, some unknown): as one by one.
            let mixed: Vec<u64> = (0..200).map(|i| (i * 7_919) % 3_200).collect();
            let one_by_one: Vec<Option<LexHit>> =
                mixed.iter().map(|id| ix.score_of(&q, *id)).collect();
            assert_eq!(ix.scores_of(&q, &mixed), one_by_one, "{query}");
        }
        ix.compact();
        let q = Query::parse("java 开发");
        let want = brute(&ix, &q, 5);
        let got: Vec<(u64, f32)> = ix
            .search(&q, 5, |_| true)
            .iter()
            .map(|h| (h.id, h.score))
            .collect();
        assert_eq!(got.len(), want.len());
    }

    #[test]
    fn deleted_and_replaced_documents_are_not_found() {
        let mut ix = LexicalIndex::new(FIELDS);
        ix.insert(1, &doc("Qiskit 编译器", ""));
        ix.insert(2, &doc("销售", ""));
        assert_eq!(ix.search(&Query::parse("qiskit"), 5, |_| true).len(), 1);
        ix.insert(1, &doc("厨师", ""));
        assert!(ix.search(&Query::parse("qiskit"), 5, |_| true).is_empty());
        assert_eq!(ix.search(&Query::parse("厨师"), 5, |_| true)[0].id, 1);
        assert!(ix.remove(1));
        assert!(ix.search(&Query::parse("厨师"), 5, |_| true).is_empty());
        assert_eq!(ix.len(), 1);
    }
}
