//! One collection in memory: positions, tombstones, payload index, the frozen graphs and the
//! small mutable tail of writes made since the last freeze — and the planner that answers a
//! search from them.
//!
//! A *position* is an entity version's place in this generation of the index. Positions below
//! `frozen_n` live in the frozen graphs (vectors included); positions from `frozen_n` on are
//! the tail, searched exactly. A rebuild compacts positions into a new generation.

use std::collections::BinaryHeap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use super::distance::cosine_distance;
use super::filter::{Compiled, PayloadIndex};
use super::graph::{prefetch, prefetch_all, Graph, Scored};
use super::spill::SpillFile;
use super::SearchHit;
use crate::idmap::IdMap;
use crate::store::{Collection, Payload};

/// Which way a search was answered (counted per collection, exposed in stats).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SearchPath {
    /// Graph search, no filter (tombstones skipped inside the traversal).
    Graph,
    /// Graph search with the filter evaluated inside the traversal, widened ef.
    GraphFiltered,
    /// Exact SIMD scan of just the points that match the filter.
    Exact,
    /// A graph search came back short; answered by an exact scan instead.
    ExactFallback,
}

#[derive(Default)]
pub(crate) struct PathCounters {
    pub graph: AtomicU64,
    pub graph_filtered: AtomicU64,
    pub exact: AtomicU64,
    pub exact_fallback: AtomicU64,
}

impl PathCounters {
    pub fn count(&self, p: SearchPath) {
        let c = match p {
            SearchPath::Graph => &self.graph,
            SearchPath::GraphFiltered => &self.graph_filtered,
            SearchPath::Exact => &self.exact,
            SearchPath::ExactFallback => &self.exact_fallback,
        };
        c.fetch_add(1, Ordering::Relaxed);
    }
}

/// Tunables of the planner. The two budgets are in floats (points × dim), so they scale with
/// the dimension; their defaults are the crossovers measured by `cargo bench --bench vector --
/// planner_crossover` (100k × 384 clustered set, k = 10, ef 48; BENCHMARKS.md), rounded.
#[derive(Debug, Clone, Copy)]
pub struct PlannerParams {
    /// Default beam width when the caller gives none.
    pub ef: usize,
    /// A filter is answered by an exact scan of its matches when `matches * dim` is at most
    /// this many floats. Default 3.2M ≈ 8,300 points of 384 dims: measured, a scan of 8,000
    /// matches cost 0.8–0.9× the filtered traversal of a 100k collection, of 10,000 1.8×. Below
    /// it the scan is exact and cheaper; the traversal's cost climbs steeply as the filter
    /// gets more selective (5–7 ms at 4,000 matches of 100k, 40–60 ms at 250). Should stay at
    /// least `full_scan_budget`, so that a filtered search of a collection under that budget
    /// is a scan too.
    pub exact_budget: usize,
    /// Filters whose candidate set is larger than this are not materialised to count.
    pub count_limit: usize,
    /// An unfiltered search of a collection whose live points × dim is at most this many
    /// floats is an exact scan of every live point (`SearchPath::Exact`), graph or not; 0: the
    /// graph always. Default 250k ≈ 650 points of 384 dims: measured, a scan of 500 points
    /// cost 0.85–0.9× the graph search, of 750 1.05–1.2× (the graph costs 30–75 µs at every
    /// size up to 16k points, a scan 0.09–0.13 µs a point). Set from speed alone: a collection
    /// larger than that (the service's 3,000 sample jobs) still takes the graph.
    pub full_scan_budget: usize,
}

impl Default for PlannerParams {
    fn default() -> Self {
        PlannerParams {
            ef: 48,
            exact_budget: 3_200_000,
            count_limit: 50_000,
            full_scan_budget: 250_000,
        }
    }
}

/// The parts of a frozen generation: one graph per named vector over positions `0..n`, and
/// the entity id, slot and payload of each position.
pub(crate) struct Frozen {
    pub graphs: Vec<Graph>,
    pub entities: Vec<u64>,
    pub slots: Vec<u64>,
    pub payloads: Vec<Arc<Payload>>,
}

pub(crate) struct CollectionState {
    pub kind: Collection,
    pub dim: usize,
    pub model: Option<String>,
    pub epoch: u64,
    /// Entity id per position.
    pub entities: Vec<u64>,
    /// redb slot per position.
    pub slots: Vec<u64>,
    pub payload_of: Vec<Arc<Payload>>,
    /// Tombstone bits per position.
    dead: Vec<u64>,
    pub n_dead: usize,
    /// Live entity → position.
    pub live: IdMap<u32>,
    pub payloads: PayloadIndex,
    /// One frozen graph per named vector, all over positions `0..frozen_n`.
    pub frozen: Vec<Arc<Graph>>,
    pub frozen_n: usize,
    /// Per named vector, the vectors of positions after the frozen graphs that the delta
    /// graph does not hold.
    tail: Vec<Tail>,
    /// Graphs per named vector over the positions `frozen_n..frozen_n + delta_n` (graph
    /// position 0 = `frozen_n`), built in the background when the exact-scanned tail
    /// outgrows its limit, so that writes between two full rebuilds are searched through a
    /// small graph instead of a scan. Empty when none.
    pub delta: Vec<Arc<Graph>>,
    pub delta_n: usize,
    /// Unique per state: a background build checks its snapshot's state is still the one
    /// serving before it swaps its result in.
    pub id: u64,
}

/// The vectors of one named vector at positions `frozen_n + skipped..`: the first `skipped`
/// after the frozen graphs are served by the delta graph, which holds its own copy (a vector
/// is kept once, not twice, until the next full rebuild).
#[derive(Default)]
struct Tail {
    skipped: usize,
    values: Vec<f32>,
    /// Instead of `values`, for a named vector no graph searches when the state was given a
    /// directory for them ([`CollectionState::spill_unsearched`]): its tail vectors in a
    /// scratch file's page cache rather than the heap ([`SpillFile`]).
    spill: Option<SpillFile>,
}

impl Tail {
    #[inline]
    fn values(&self) -> &[f32] {
        match &self.spill {
            Some(f) => f.as_slice(),
            None => &self.values,
        }
    }

    fn push(&mut self, v: &[f32]) {
        if let Some(f) = &mut self.spill {
            match f.push(v) {
                Ok(()) => return,
                Err(e) => {
                    // A full disk, say: these vectors go back to memory (nothing is lost;
                    // redb holds them).
                    tracing::warn!(error = %e, "tail vectors kept in memory: scratch file failed");
                    self.values = f.as_slice().to_vec();
                    self.spill = None;
                }
            }
        }
        self.values.extend_from_slice(v);
    }
}

static STATE_IDS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);

impl CollectionState {
    pub fn empty(kind: Collection, dim: usize, model: Option<String>, epoch: u64) -> Self {
        let nv = kind.vector_names().len();
        CollectionState {
            kind,
            dim,
            model,
            epoch,
            entities: Vec::new(),
            slots: Vec::new(),
            payload_of: Vec::new(),
            dead: Vec::new(),
            n_dead: 0,
            live: IdMap::default(),
            payloads: PayloadIndex::default(),
            frozen: Vec::new(),
            frozen_n: 0,
            tail: (0..nv).map(|_| Tail::default()).collect(),
            delta: Vec::new(),
            delta_n: 0,
            id: STATE_IDS.fetch_add(1, std::sync::atomic::Ordering::Relaxed),
        }
    }

    /// A state whose first `graphs[..].n` positions come from frozen graphs.
    pub fn with_frozen(
        kind: Collection,
        dim: usize,
        model: Option<String>,
        epoch: u64,
        frozen: Frozen,
    ) -> Self {
        let Frozen {
            graphs,
            entities,
            slots,
            payloads,
        } = frozen;
        let mut s = Self::empty(kind, dim, model, epoch);
        let n = entities.len();
        s.frozen_n = n;
        s.frozen = graphs.into_iter().map(Arc::new).collect();
        s.dead = vec![0; n.div_ceil(64)];
        s.payloads.insert_many(
            payloads
                .iter()
                .enumerate()
                .map(|(pos, p)| (pos as u32, &**p)),
        );
        for (pos, (e, p)) in entities.iter().zip(payloads).enumerate() {
            s.payload_of.push(p);
            s.live.insert(*e, pos as u32);
        }
        s.entities = entities;
        s.slots = slots;
        s
    }

    pub fn len(&self) -> usize {
        self.entities.len()
    }

    pub fn live_count(&self) -> usize {
        self.len() - self.n_dead
    }

    /// Positions after the frozen graphs (in the delta graphs or scanned).
    pub fn tail_len(&self) -> usize {
        self.len() - self.frozen_n
    }

    /// Positions searched by an exact scan: after the frozen and delta graphs.
    pub fn exact_tail_len(&self) -> usize {
        self.len() - self.frozen_n - self.delta_n
    }

    /// Keeps the tail vectors of the named vectors `unsearched` (by index) in scratch files
    /// in `dir` from now on ([`SpillFile`]): those already in memory are moved there. A
    /// vector that cannot be (any I/O error) stays in memory.
    pub fn spill_unsearched(&mut self, dir: &std::path::Path, unsearched: &[bool]) {
        for (t, _) in self
            .tail
            .iter_mut()
            .zip(unsearched)
            .filter(|(t, u)| **u && t.spill.is_none() && t.skipped == 0)
        {
            let moved = SpillFile::create(dir).and_then(|mut f| {
                f.push(&t.values)?;
                Ok(f)
            });
            match moved {
                Ok(f) => {
                    t.spill = Some(f);
                    t.values = Vec::new();
                }
                Err(e) => {
                    tracing::warn!(dir = %dir.display(), error = %e, "tail vectors kept in memory: no scratch file");
                }
            }
        }
    }

    /// Installs delta graphs over the first `n` positions after the frozen graphs, unless
    /// they would not cover positions only the serving delta graphs hold (returns false: a
    /// build from an older snapshot). The tail lets go of the vectors a delta graph now holds.
    pub fn set_delta(&mut self, graphs: Vec<Graph>, n: usize) -> bool {
        let covers = |g: &Graph| g.has_edges() && g.n == n;
        if n > self.tail_len()
            || n < self.delta_n
            || self
                .tail
                .iter()
                .enumerate()
                .any(|(vi, t)| t.skipped > 0 && !graphs.get(vi).is_some_and(covers))
        {
            return false;
        }
        for (t, g) in self.tail.iter_mut().zip(&graphs) {
            if covers(g) && t.spill.is_none() {
                t.values.drain(..(n - t.skipped) * self.dim);
                t.skipped = n;
                // The tail past the delta is small (its exact-scan limit): give back what a
                // write burst made it hold.
                if t.values.capacity() > 2 * t.values.len() + (1 << 16) {
                    t.values.shrink_to_fit();
                }
            }
        }
        self.delta = graphs.into_iter().map(Arc::new).collect();
        self.delta_n = n;
        true
    }

    #[inline]
    pub fn is_dead(&self, pos: u32) -> bool {
        let p = pos as usize;
        self.dead
            .get(p / 64)
            .is_some_and(|w| w & (1u64 << (p % 64)) != 0)
    }

    /// Tombstones a position (idempotent) and lets go of its payload: nothing reads a dead
    /// position's payload (searches skip it, rebuilds copy live positions only), and a
    /// re-analysis would otherwise keep its old version's map (~1 KB for a job) until the
    /// next full rebuild. The payload index keeps its columns' entries; they are skipped
    /// with the position.
    pub fn kill(&mut self, pos: u32) {
        let p = pos as usize;
        if self.dead.len() <= p / 64 {
            self.dead.resize(p / 64 + 1, 0);
        }
        let bit = 1u64 << (p % 64);
        if self.dead[p / 64] & bit == 0 {
            self.dead[p / 64] |= bit;
            self.n_dead += 1;
        }
        if let Some(payload) = self.payload_of.get_mut(p) {
            *payload = Payload::none();
        }
    }

    /// Appends entity versions to the tail, tombstoning each entity's previous position; their
    /// payloads are indexed at once (see [`PayloadIndex::insert_many`]).
    pub fn push_many<V: AsRef<[f32]>>(
        &mut self,
        items: impl IntoIterator<Item = (u64, u64, Arc<Payload>, V)>,
    ) {
        let first = self.len();
        for (entity, slot, payload, vectors) in items {
            self.append(entity, slot, payload, vectors.as_ref());
        }
        let payloads = &self.payload_of[first..];
        self.payloads.insert_many(
            payloads
                .iter()
                .enumerate()
                .map(|(i, p)| ((first + i) as u32, &**p)),
        );
    }

    /// Appends one entity version without indexing its payload.
    fn append(&mut self, entity: u64, slot: u64, payload: Arc<Payload>, vectors: &[f32]) {
        let pos = self.len() as u32;
        if let Some(old) = self.live.insert(entity, pos) {
            self.kill(old);
        }
        self.entities.push(entity);
        self.slots.push(slot);
        self.payload_of.push(payload);
        if self.dead.len() <= pos as usize / 64 {
            self.dead.resize(pos as usize / 64 + 1, 0);
        }
        for (i, t) in self.tail.iter_mut().enumerate() {
            t.push(&vectors[i * self.dim..(i + 1) * self.dim]);
        }
    }

    /// Removes an entity; returns whether it was live.
    pub fn remove(&mut self, entity: u64) -> bool {
        match self.live.remove(&entity) {
            Some(pos) => {
                self.kill(pos);
                true
            }
            None => false,
        }
    }

    /// Bytes of vectors and edges (frozen and delta graphs, tail) in the process's memory,
    /// and in index files' pages.
    pub fn footprint(&self) -> (usize, usize) {
        let mut out = (0, 0);
        for g in self.frozen.iter().chain(&self.delta) {
            let (memory, file) = g.footprint();
            out.0 += memory;
            out.1 += file;
        }
        for t in &self.tail {
            out.0 += t.values.len() * 4;
            out.1 += t.spill.as_ref().map_or(0, |f| f.len() * 4);
        }
        out
    }

    #[inline]
    pub fn vector(&self, vi: usize, pos: u32) -> &[f32] {
        let p = pos as usize;
        if p < self.frozen_n {
            self.frozen[vi].vector(pos)
        } else {
            let rel = p - self.frozen_n;
            let t = &self.tail[vi];
            if rel < t.skipped {
                self.delta[vi].vector(rel as u32)
            } else {
                let s = (rel - t.skipped) * self.dim;
                &t.values()[s..s + self.dim]
            }
        }
    }

    /// All named vectors of a position, concatenated.
    pub fn vectors_of(&self, pos: u32) -> Vec<f32> {
        let nv = self.kind.vector_names().len();
        let mut out = Vec::with_capacity(nv * self.dim);
        for vi in 0..nv {
            out.extend_from_slice(self.vector(vi, pos));
        }
        out
    }

    fn exact(
        &self,
        vi: usize,
        query: &[f32],
        k: usize,
        positions: impl Iterator<Item = u32>,
    ) -> Vec<Scored> {
        // Keyed by (distance, entity id): among equal distances the smaller id wins, so the
        // answer does not depend on positions (a store rebuilt elsewhere answers the same).
        #[derive(PartialEq)]
        struct Key(f32, u64, u32);
        impl Eq for Key {}
        impl PartialOrd for Key {
            fn partial_cmp(&self, o: &Self) -> Option<std::cmp::Ordering> {
                Some(self.cmp(o))
            }
        }
        impl Ord for Key {
            fn cmp(&self, o: &Self) -> std::cmp::Ordering {
                self.0.total_cmp(&o.0).then(self.1.cmp(&o.1))
            }
        }
        let mut heap: BinaryHeap<Key> = BinaryHeap::with_capacity(k + 1);
        // Positions are scanned through a ring of the next few, each fetched on entering it
        // (a filter's positions are scattered: each vector is a cache miss). The heap's keys
        // are distinct, so the answer does not depend on the scan order.
        const AHEAD: usize = 4;
        let fetch = |pos: u32| {
            prefetch_all(self.vector(vi, pos));
            prefetch(self.entities.as_ptr().wrapping_add(pos as usize));
        };
        let mut positions = positions;
        let mut ring = [0u32; AHEAD];
        let mut filled = 0;
        for (slot, pos) in ring.iter_mut().zip(positions.by_ref()) {
            fetch(pos);
            *slot = pos;
            filled += 1;
        }
        let (mut left, mut slot) = (filled, 0);
        while left > 0 {
            let pos = ring[slot];
            match positions.next() {
                Some(next) => {
                    fetch(next);
                    ring[slot] = next;
                }
                None => left -= 1,
            }
            slot = (slot + 1) % filled;
            let d = cosine_distance(query, self.vector(vi, pos));
            let key = Key(d, self.entities[pos as usize], pos);
            if heap.len() < k {
                heap.push(key);
            } else if heap.peek().is_some_and(|top| key < *top) {
                heap.pop();
                heap.push(key);
            }
        }
        heap.into_sorted_vec()
            .into_iter()
            .map(|Key(dist, _, pos)| Scored { dist, pos })
            .collect()
    }

    /// Answers a search: `(entity id, cosine distance)` ascending, and the path taken.
    ///
    /// `pool`: the caller re-ranks the hits itself, so a graph traversal keeps the beam of
    /// `ef` instead of widening it to `k`, and returns the `k` nearest nodes it visited (see
    /// [`Graph::search`]); should that give fewer than `k`, the `k`-wide beam is run.
    #[allow(clippy::too_many_arguments)]
    pub fn search(
        &self,
        vi: usize,
        query: &[f32],
        k: usize,
        ef: Option<usize>,
        filter: Option<&Compiled<'_>>,
        params: &PlannerParams,
        pool: bool,
    ) -> (Vec<SearchHit>, SearchPath) {
        let full_ef = ef.unwrap_or(params.ef).max(k);
        let ef = if pool {
            ef.unwrap_or(params.ef)
        } else {
            full_ef
        };
        let n = self.len();
        if !self.frozen.get(vi).is_some_and(|g| g.has_edges()) {
            // No graph for this vector (tail only, or a vector kept without edges): scan.
            let hits = match filter {
                None => self.exact(vi, query, k, (0..n as u32).filter(|p| !self.is_dead(*p))),
                Some(f) => {
                    let mut c = Vec::new();
                    f.candidates(&mut c);
                    if f.is_or() {
                        c.sort_unstable();
                        c.dedup();
                    }
                    let matching = c.into_iter().filter(|p| !self.is_dead(*p) && f.matches(*p));
                    self.exact(vi, query, k, matching)
                }
            };
            return (
                hits.into_iter().map(|s| self.hit(s)).collect(),
                SearchPath::Exact,
            );
        }
        let (hits, path) = match filter {
            None if self.live_count().saturating_mul(self.dim) <= params.full_scan_budget => {
                // Small enough that a scan of every live point costs less than the graph.
                let all = (0..n as u32).filter(|p| !self.is_dead(*p));
                (self.exact(vi, query, k, all), SearchPath::Exact)
            }
            None => {
                let want = k.min(self.live_count());
                let live = |p: u32| !self.is_dead(p);
                let mut hits = self.graph_search(vi, query, k, ef, &live);
                if hits.len() < want && ef < full_ef {
                    hits = self.graph_search(vi, query, k, full_ef, &live);
                }
                if hits.len() < want {
                    let all = (0..n as u32).filter(|p| !self.is_dead(*p));
                    (self.exact(vi, query, k, all), SearchPath::ExactFallback)
                } else {
                    (hits, SearchPath::Graph)
                }
            }
            Some(f) => {
                let accept = |p: u32| !self.is_dead(p) && f.matches(p);
                let exact_cap = (params.exact_budget / self.dim.max(1)).max(k);
                let candidates = f.candidate_count().unwrap_or(usize::MAX);
                // Materialise the matches when the candidate set is small enough that the exact
                // path is plausible; a huge candidate set goes straight to the graph with its
                // size as the selectivity estimate (counting 50k matches costs ~100 µs).
                let worth_counting =
                    candidates <= params.count_limit.min(exact_cap.saturating_mul(4));
                let matches: Option<Vec<u32>> = worth_counting.then(|| {
                    let mut c = Vec::with_capacity(candidates);
                    f.candidates(&mut c);
                    if f.is_or() {
                        c.sort_unstable();
                        c.dedup();
                    }
                    c.retain(|p| accept(*p));
                    c
                });
                match matches {
                    Some(m) if m.len() <= exact_cap => {
                        (self.exact(vi, query, k, m.into_iter()), SearchPath::Exact)
                    }
                    m => {
                        let estimate = m.as_ref().map_or(candidates, |m| m.len()).max(1);
                        let selectivity = (estimate as f64 / n.max(1) as f64).min(1.0);
                        // Widen the beam as the filter gets more selective (capped), so the
                        // accepted results fill up before the traversal gives up.
                        let widen =
                            |ef: usize| ((ef as f64 / selectivity.sqrt()) as usize).min(ef * 8);
                        let mut hits = self.graph_search(vi, query, k, widen(ef), &accept);
                        let want = k.min(m.as_ref().map_or(k, |m| m.len()));
                        if hits.len() < want && ef < full_ef {
                            hits = self.graph_search(vi, query, k, widen(full_ef), &accept);
                        }
                        if hits.len() < want {
                            let all: Box<dyn Iterator<Item = u32>> = match m {
                                Some(m) => Box::new(m.into_iter()),
                                None => Box::new((0..n as u32).filter(|p| accept(*p))),
                            };
                            (self.exact(vi, query, k, all), SearchPath::ExactFallback)
                        } else {
                            (hits, SearchPath::GraphFiltered)
                        }
                    }
                }
            }
        };
        let mut hits = hits;
        hits.sort_unstable();
        hits.dedup_by_key(|s| s.pos);
        hits.truncate(k);
        (hits.into_iter().map(|s| self.hit(s)).collect(), path)
    }

    /// The accepted positions nearest to `query` by graph: the frozen graph's, the delta
    /// graph's and an exact scan of the positions after both (unsorted, at most `k` of each).
    fn graph_search(
        &self,
        vi: usize,
        query: &[f32],
        k: usize,
        ef: usize,
        accept: &dyn Fn(u32) -> bool,
    ) -> Vec<Scored> {
        let mut hits = match self.frozen.get(vi) {
            Some(g) if self.frozen_n > 0 => g.search(query, k, ef, accept),
            _ => Vec::new(),
        };
        let base = self.frozen_n as u32;
        let scanned_from = match self.delta.get(vi) {
            Some(d) if self.delta_n > 0 && d.has_edges() => {
                let found = d.search(query, k, ef, &|p| accept(base + p));
                hits.extend(found.into_iter().map(|s| Scored {
                    dist: s.dist,
                    pos: base + s.pos,
                }));
                base + self.delta_n as u32
            }
            _ => base,
        };
        let tail = (scanned_from..self.len() as u32).filter(|p| accept(*p));
        hits.extend(self.exact(vi, query, k, tail));
        hits
    }

    /// Exact top-k over every live position.
    pub fn exact_all(&self, vi: usize, query: &[f32], k: usize) -> Vec<SearchHit> {
        let all = (0..self.len() as u32).filter(|p| !self.is_dead(*p));
        self.exact(vi, query, k, all)
            .into_iter()
            .map(|s| self.hit(s))
            .collect()
    }

    /// The hit of a scored position: its entity and the version it holds.
    #[inline]
    fn hit(&self, s: Scored) -> SearchHit {
        SearchHit {
            id: self.entities[s.pos as usize],
            version: self.slots[s.pos as usize],
            distance: s.dist,
        }
    }

    /// Positions of live entities in position order, for a rebuild.
    pub fn live_positions(&self) -> Vec<u32> {
        (0..self.len() as u32)
            .filter(|p| !self.is_dead(*p))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::vector::filter::Filter;

    fn version(c: &mut CollectionState, entity: u64, slot: u64, city: &str) -> Arc<Payload> {
        let p = Arc::new(Payload::new().with("city", city).with("salary_max", 1.0));
        let v = vec![0.5f32; c.dim * c.kind.vector_names().len()];
        c.push_many([(entity, slot, p.clone(), v)]);
        p
    }

    fn matching(c: &CollectionState, city: &str) -> Vec<u64> {
        let f = Filter::Eq {
            field: "city".into(),
            value: city.into(),
        };
        let compiled = c.payloads.compile(&f);
        (0..c.len() as u32)
            .filter(|p| !c.is_dead(*p) && compiled.matches(*p))
            .map(|p| c.entities[p as usize])
            .collect()
    }

    #[test]
    fn replaced_and_removed_versions_let_go_of_their_payload() {
        let mut c = CollectionState::empty(Collection::Jobs, 4, None, 0);
        let old = version(&mut c, 1, 1, "深圳市");
        let other = version(&mut c, 2, 2, "深圳市");
        assert_eq!(Arc::strong_count(&old), 2, "held by the state while live");
        let new = version(&mut c, 1, 3, "北京市");
        assert_eq!(
            Arc::strong_count(&old),
            1,
            "a replaced version's payload is freed"
        );
        assert_eq!(Arc::strong_count(&new), 2);
        assert!(c.payload_of[0].0.is_empty());
        assert_eq!(matching(&c, "深圳市"), vec![2]);
        assert_eq!(matching(&c, "北京市"), vec![1]);

        assert!(c.remove(2));
        assert_eq!(
            Arc::strong_count(&other),
            1,
            "a deleted entity's payload is freed"
        );
        assert!(matching(&c, "深圳市").is_empty());
        // The live version's payload is untouched.
        assert_eq!(c.payload_of[c.live.get(&1).copied().unwrap() as usize], new);

        // The same entity twice in one batch: only the second is indexed and kept.
        let a = Arc::new(Payload::new().with("city", "上海市"));
        let b = Arc::new(Payload::new().with("city", "杭州市"));
        let v = vec![0.5f32; 4 * 4];
        c.push_many([(3, 4, a.clone(), v.clone()), (3, 5, b.clone(), v)]);
        assert_eq!(Arc::strong_count(&a), 1);
        assert!(matching(&c, "上海市").is_empty());
        assert_eq!(matching(&c, "杭州市"), vec![3]);
    }
}
