//! The frozen search graph: an HNSW graph built by hnsw_rs, refined, and laid out flat
//! (contiguous vectors, fixed-width level-0 adjacency, small upper layers) for our own search
//! loop with SIMD distances, a per-thread visited bitset and prefetching.
//!
//! hnsw_rs is used only to build: its own search costs a hash-map insert, an `Arc` and a lock
//! per visited node, and its graph keeps reverse edges by distance alone. After the build we
//! re-prune every level-0 list with the HNSW diversity heuristic over its forward and reverse
//! edges (what hnswlib does on insert), which restores recall at low ef.

use std::cell::RefCell;
use std::cmp::Ordering;
use std::collections::BinaryHeap;
use std::sync::Arc;

use hnsw_rs::prelude::Hnsw;
use memmap2::Mmap;
use rayon::prelude::*;

use super::distance::{cosine_distance, dot_i8, SimdDot};

/// Graph construction parameters.
#[derive(Debug, Clone, Copy)]
pub struct GraphParams {
    /// Neighbours per node on upper layers; level 0 keeps `2 * m`.
    pub m: usize,
    /// Beam width during construction.
    pub ef_construction: usize,
    /// Refinement passes after the hnsw_rs build (0 = use hnsw_rs's graph as built, with
    /// the full `ef_construction`).
    pub refine_passes: usize,
}

impl GraphParams {
    /// Beam of the hnsw_rs seed build: the refinement passes do the fine work.
    fn seed_ef(&self) -> usize {
        if self.refine_passes == 0 {
            self.ef_construction
        } else {
            (self.ef_construction / 5).max(2 * self.m)
        }
    }
    /// Parameters of a delta graph, grown point by point between full rebuilds: hnsw_rs's
    /// graph at a full construction beam, level 0 re-pruned, no refinement passes (each would
    /// search the whole delta again).
    pub fn for_delta(&self) -> GraphParams {
        GraphParams {
            refine_passes: 0,
            ..*self
        }
    }
    /// Beam of each refinement search.
    fn refine_ef(&self) -> usize {
        (self.ef_construction / 4).max(2 * self.m)
    }
}

impl Default for GraphParams {
    fn default() -> Self {
        GraphParams {
            m: 16,
            ef_construction: 200,
            refine_passes: 2,
        }
    }
}

/// The hnsw_rs seed graph of a [`Graph::build`], started ahead of it: points can be inserted
/// as they arrive (a bulk load seeds while it reads), and the build inserts the rest.
pub(crate) struct Seed {
    hnsw: Hnsw<'static, f32, SimdDot>,
    dim: usize,
    m: usize,
    /// Points inserted: positions `0..len`.
    len: usize,
}

impl Seed {
    /// An empty seed for about `capacity` points (a hint).
    pub fn new(dim: usize, capacity: usize, params: GraphParams) -> Seed {
        let m = params.m.clamp(2, 128);
        Seed {
            hnsw: Hnsw::new(m, capacity.max(1), 16, params.seed_ef().max(m), SimdDot),
            dim,
            m,
            len: 0,
        }
    }

    /// Points inserted so far (positions `0..len`).
    pub fn len(&self) -> usize {
        self.len
    }

    /// Inserts `vectors` (`k * dim`, L2-normalised) as positions `len..len + k`, on the rayon
    /// pool when `parallel`, else on this thread.
    pub fn extend(&mut self, vectors: &[f32], parallel: bool) {
        let data: Vec<(&[f32], usize)> = vectors
            .chunks_exact(self.dim)
            .enumerate()
            .map(|(i, v)| (v, self.len + i))
            .collect();
        if parallel {
            self.hnsw.parallel_insert_slice(&data);
        } else {
            for d in &data {
                self.hnsw.insert_slice(*d);
            }
        }
        self.len += data.len();
    }
}

/// Memory holding a flat array: owned after a build, or a window of a mapping — of an index
/// file (`file`), or anonymous memory on huge pages.
pub(crate) enum Region<T: bytemuck::Pod> {
    Owned(Vec<T>),
    Mapped {
        map: Arc<Mmap>,
        offset: usize,
        len: usize,
        file: bool,
    },
}

impl<T: bytemuck::Pod> Region<T> {
    #[inline]
    pub fn as_slice(&self) -> &[T] {
        match self {
            Region::Owned(v) => v,
            Region::Mapped {
                map, offset, len, ..
            } => {
                let bytes = &map[*offset..*offset + *len * std::mem::size_of::<T>()];
                // Alignment and bounds were checked when the file was opened.
                bytemuck::cast_slice(bytes)
            }
        }
    }

    /// Bytes of the values, and whether they are an index file's pages (which the kernel can
    /// reclaim and which count as resident only once read) rather than the process's memory.
    pub fn footprint(&self) -> (usize, bool) {
        let file = matches!(self, Region::Mapped { file: true, .. });
        (std::mem::size_of_val(self.as_slice()), file)
    }
}

impl<T: bytemuck::Pod> Region<T> {
    /// The values as an owned vector to change, copied out of a mapping first if need be.
    pub fn make_owned(&mut self) -> &mut Vec<T> {
        if let Region::Mapped { .. } = self {
            *self = Region::Owned(self.as_slice().to_vec());
        }
        match self {
            Region::Owned(v) => v,
            Region::Mapped { .. } => unreachable!("replaced by an owned copy above"),
        }
    }
}

/// Regions smaller than this stay where they are (a huge page is 2 MiB on x86-64).
const HUGE_MIN_BYTES: usize = 4 << 20;

impl<T: bytemuck::Pod> Region<T> {
    /// The same values in anonymous memory the kernel is asked to back with transparent huge
    /// pages (`MADV_HUGEPAGE`; honoured when THP is `always` or `madvise`). A graph search
    /// reads a few hundred vectors scattered over the whole region: with 4 KiB pages nearly
    /// each is a TLB miss, costly under virtualisation (BENCHMARKS.md: −16% on the candidates'
    /// search). A mapped file's pages cannot be collapsed (`MADV_COLLAPSE` refuses them), so
    /// they are copied; the file's page cache stays reclaimable. Small regions, and any
    /// failure to map, keep the region as it is.
    pub fn into_huge(self) -> Region<T> {
        let src = self.as_slice();
        let bytes = std::mem::size_of_val(src);
        if bytes < HUGE_MIN_BYTES {
            return self;
        }
        let Ok(mut anon) = memmap2::MmapMut::map_anon(bytes) else {
            return self;
        };
        // Advice only: without THP the copy still works, on ordinary pages.
        let _ = anon.advise(memmap2::Advice::HugePage);
        anon.copy_from_slice(bytemuck::cast_slice(src));
        let len = src.len();
        if let Region::Mapped { map, offset, .. } = &self {
            // SAFETY: a read-only mapping of a file only ever replaced by rename: dropping
            // its page-table entries loses nothing (a later read faults the same bytes back
            // in), and keeps the copied pages from counting twice in the process's memory.
            let _ = unsafe {
                map.unchecked_advise_range(memmap2::UncheckedAdvice::DontNeed, *offset, bytes)
            };
        }
        match anon.make_read_only() {
            Ok(map) => Region::Mapped {
                map: Arc::new(map),
                offset: 0,
                len,
                file: false,
            },
            Err(_) => self,
        }
    }
}

/// One upper layer: its member nodes (ascending) and their neighbour lists.
#[derive(Clone)]
pub(crate) struct UpperLayer {
    pub nodes: Vec<u32>,
    /// `nodes.len() * (m + 1)` words: count, then up to `m` neighbours.
    pub adj: Vec<u32>,
}

/// A frozen HNSW graph over positions `0..n` of one named vector.
pub(crate) struct Graph {
    pub dim: usize,
    pub n: usize,
    /// Capacity of a level-0 list.
    pub m0: usize,
    /// Capacity of an upper-layer list.
    pub m: usize,
    pub entry: u32,
    pub vectors: Region<f32>,
    /// `n * (m0 + 1)` words: count, then up to `m0` neighbours.
    pub level0: Region<u32>,
    /// Layers 1..=max_level.
    pub upper: Vec<UpperLayer>,
    /// 8-bit codes of the vectors, which the traversal reads instead of them ([`Codes`]);
    /// `None` while the graph is being built and refined.
    pub codes: Option<Codes>,
}

/// Each vector's components as signed bytes, `round(x * scale)` clamped to ±127: a quarter of
/// the bytes a traversal reads (it is bound by fetching vectors from memory, BENCHMARKS.md).
/// Each component is off by at most half a step (`0.5 / scale`), so the inner product of two
/// unit vectors is off by about `0.4 / scale` (≈ 0.0006 for a clip of 0.2). The traversal
/// compares coded distances; its results are re-scored exactly, so no caller ever sees one.
pub(crate) struct Codes {
    pub values: Region<i8>,
    pub scale: f32,
}

impl Codes {
    /// Largest coded magnitude: the 99.99th percentile of the components' magnitudes (a
    /// sample of up to a million of them), so that a rare large component saturates instead
    /// of coarsening every other one.
    const CLIP_QUANTILE: f64 = 0.9999;

    pub fn of(vectors: &[f32]) -> Codes {
        let step = (vectors.len() / 1_000_000).max(1);
        let mut sample: Vec<f32> = vectors.iter().step_by(step).map(|x| x.abs()).collect();
        let clip = if sample.is_empty() {
            1.0
        } else {
            let i = ((sample.len() - 1) as f64 * Self::CLIP_QUANTILE) as usize;
            *sample.select_nth_unstable_by(i, f32::total_cmp).1
        };
        let scale = if clip > 0.0 && clip.is_finite() {
            127.0 / clip
        } else {
            1.0
        };
        let mut values = vec![0i8; vectors.len()];
        values
            .par_chunks_mut(1 << 16)
            .zip(vectors.par_chunks(1 << 16))
            .for_each(|(out, v)| {
                for (o, x) in out.iter_mut().zip(v) {
                    *o = Self::code(*x, scale);
                }
            });
        Codes {
            values: Region::Owned(values),
            scale,
        }
    }

    /// `x * scale` rounded half away from zero, clamped to ±127 (`f32::round` is a libm call
    /// on baseline x86-64: this is not, and vectorises).
    #[inline]
    fn code(x: f32, scale: f32) -> i8 {
        let y = (x * scale).clamp(-127.0, 127.0);
        // `as` truncates toward zero (and maps NaN to 0).
        (y + 0.5f32.copysign(y)) as i8
    }

    /// `query`'s codes at this scale.
    fn encode(&self, query: &[f32]) -> Vec<i8> {
        query.iter().map(|x| Self::code(*x, self.scale)).collect()
    }

    #[inline]
    fn row(&self, pos: u32, dim: usize) -> &[i8] {
        let s = pos as usize * dim;
        &self.values.as_slice()[s..s + dim]
    }
}

#[derive(Clone, Copy, PartialEq)]
pub(crate) struct Scored {
    pub dist: f32,
    pub pos: u32,
}
impl Eq for Scored {}
impl PartialOrd for Scored {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Scored {
    fn cmp(&self, other: &Self) -> Ordering {
        self.dist
            .total_cmp(&other.dist)
            .then(self.pos.cmp(&other.pos))
    }
}

/// Per-thread visited marks, cleared at the start of each search.
struct Visited {
    /// One bit per position: 100k positions fit in 12.5 KB (L1), where a mark per position
    /// would spread the checks over 400 KB; clearing it for each search costs less than the
    /// misses it saves.
    bits: Vec<u64>,
}

impl Visited {
    fn start(&mut self, n: usize) {
        let words = n.div_ceil(64);
        self.bits.clear();
        self.bits.resize(words, 0);
    }

    /// Marks `pos`; true if it was not yet visited in this search.
    #[inline]
    fn insert(&mut self, pos: u32) -> bool {
        let w = &mut self.bits[pos as usize >> 6];
        let b = 1u64 << (pos & 63);
        let fresh = *w & b == 0;
        *w |= b;
        fresh
    }
}

thread_local! {
    static VISITED: RefCell<Visited> = const { RefCell::new(Visited { bits: Vec::new() }) };
}

/// How many vectors ahead of the one being compared the level-0 search fetches.
const FETCH_AHEAD: usize = 2;
/// How many vectors ahead the exact re-scoring of a coded search's results fetches.
const RESCORE_AHEAD: usize = 6;

/// A hint to fetch every cache line of `v` ([`prefetch`] two lines at a time).
#[inline]
pub(crate) fn prefetch_all<T>(v: &[T]) {
    let p = v.as_ptr().cast::<u8>();
    for off in (0..std::mem::size_of_val(v)).step_by(128) {
        prefetch(p.wrapping_add(off));
    }
}

/// A hint to fetch the two cache lines at `ptr` (never faults, whatever the address).
#[inline]
pub(crate) fn prefetch<T>(ptr: *const T) {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: prefetch is a hint; it never faults, whatever the address.
    unsafe {
        use std::arch::x86_64::{_mm_prefetch, _MM_HINT_T0};
        _mm_prefetch(ptr as *const i8, _MM_HINT_T0);
        _mm_prefetch((ptr as *const i8).wrapping_add(64), _MM_HINT_T0);
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = ptr;
}

impl Graph {
    /// Bytes of vectors and adjacency.
    pub fn memory_bytes(&self) -> usize {
        self.vectors.as_slice().len() * 4
            + self.level0.as_slice().len() * 4
            + self.codes.as_ref().map_or(0, |c| c.values.as_slice().len())
            + self
                .upper
                .iter()
                .map(|l| (l.nodes.len() + l.adj.len()) * 4)
                .sum::<usize>()
    }

    #[inline]
    pub fn vector(&self, pos: u32) -> &[f32] {
        let s = pos as usize * self.dim;
        &self.vectors.as_slice()[s..s + self.dim]
    }

    #[inline]
    fn neighbours0(&self, pos: u32) -> &[u32] {
        let w = self.m0 + 1;
        let row = &self.level0.as_slice()[pos as usize * w..(pos as usize + 1) * w];
        let c = (row[0] as usize).min(self.m0);
        &row[1..1 + c]
    }

    fn neighbours_upper(&self, layer: usize, pos: u32) -> &[u32] {
        let l = &self.upper[layer - 1];
        match l.nodes.binary_search(&pos) {
            Ok(i) => {
                let w = self.m + 1;
                let row = &l.adj[i * w..(i + 1) * w];
                let c = (row[0] as usize).min(self.m);
                &row[1..1 + c]
            }
            Err(_) => &[],
        }
    }

    /// Approximate nearest neighbours of `query` among positions accepted by `accept`,
    /// ascending by distance, at most `k`. Rejected nodes are traversed but never returned,
    /// so tombstones and filters cannot disconnect the graph.
    ///
    /// `ef` below `k` is allowed: the traversal is then the one of a beam of `ef` (exact up to
    /// about rank `ef`), and the `k` results are the nearest of every node it computed a
    /// distance for — a candidate list for a re-ranker at a fraction of a `k`-wide beam's cost.
    pub fn search(
        &self,
        query: &[f32],
        k: usize,
        ef: usize,
        accept: &dyn Fn(u32) -> bool,
    ) -> Vec<Scored> {
        if !self.has_edges() || k == 0 {
            return Vec::new();
        }
        let Some(codes) = &self.codes else {
            let mut hits = self.traverse(
                k,
                ef,
                accept,
                |p| cosine_distance(query, self.vector(p)),
                |p| prefetch_all(self.vector(p)),
            );
            hits.sort_unstable();
            return hits;
        };
        let coded = codes.encode(query);
        let unit = 1.0 / (codes.scale * codes.scale);
        let dim = self.dim;
        // At least the beam's worth of results is re-scored: the coded order is off by about
        // a code step's error, enough to swap near-ties at the k-th rank (recall@10 at beam
        // 48 was 0.972 re-scoring 10, 0.997 re-scoring 48; BENCHMARKS.md).
        let mut hits = self.traverse(
            k.max(ef),
            ef,
            accept,
            |p| 1.0 - dot_i8(&coded, codes.row(p, dim)) * unit,
            |p| prefetch_all(codes.row(p, dim)),
        );
        // The exact distances of the results, their vectors fetched a few places ahead (more
        // than in the traversal: nothing here waits on a distance to choose what to read).
        for s in hits.iter().take(RESCORE_AHEAD) {
            prefetch_all(self.vector(s.pos));
        }
        for i in 0..hits.len() {
            if let Some(next) = hits.get(i + RESCORE_AHEAD) {
                prefetch_all(self.vector(next.pos));
            }
            hits[i].dist = cosine_distance(query, self.vector(hits[i].pos));
        }
        hits.sort_unstable();
        hits.truncate(k);
        hits
    }

    /// Greedy descent from `ep` through the upper layers down to layer `lowest` (at least 1):
    /// the node nearest by `dist` it ends on, and its distance.
    #[inline]
    fn descend(&self, lowest: usize, mut ep: u32, dist: &impl Fn(u32) -> f32) -> (u32, f32) {
        let mut ep_d = dist(ep);
        for layer in (lowest.max(1)..=self.upper.len()).rev() {
            loop {
                let mut changed = false;
                for &nb in self.neighbours_upper(layer, ep) {
                    let d = dist(nb);
                    if d < ep_d {
                        ep_d = d;
                        ep = nb;
                        changed = true;
                    }
                }
                if !changed {
                    break;
                }
            }
        }
        (ep, ep_d)
    }

    /// [`Graph::search`], unsorted, by the distance `dist` to a position (`fetch`: a hint to fetch what
    /// `dist` will read of it).
    fn traverse(
        &self,
        k: usize,
        ef: usize,
        accept: &dyn Fn(u32) -> bool,
        dist: impl Fn(u32) -> f32,
        fetch: impl Fn(u32),
    ) -> Vec<Scored> {
        let ef = ef.max(1);
        let (ep, ep_d) = self.descend(1, self.entry, &dist);
        VISITED.with(|v| {
            let mut visited = v.borrow_mut();
            visited.start(self.n);
            self.search_level0(ep, ep_d, k, ef, accept, &mut visited, &dist, &fetch)
        })
    }

    /// Beam search on level 0. The beam (`top`, all visited nodes, size `ef`) bounds the
    /// traversal exactly as in unfiltered HNSW; accepted nodes are collected on the side. A
    /// node outside the beam is still followed while it is closer than the k-th accepted
    /// result (or fewer than `k` are known), so a filter or tombstones cost extra visits only
    /// where they can still change the answer. Unsorted.
    #[allow(clippy::too_many_arguments)]
    fn search_level0(
        &self,
        ep: u32,
        ep_d: f32,
        k: usize,
        ef: usize,
        accept: &dyn Fn(u32) -> bool,
        visited: &mut Visited,
        dist: &impl Fn(u32) -> f32,
        fetch: &impl Fn(u32),
    ) -> Vec<Scored> {
        use std::cmp::Reverse;
        let mut candidates: BinaryHeap<Reverse<Scored>> = BinaryHeap::with_capacity(ef * 4);
        let mut top: BinaryHeap<Scored> = BinaryHeap::with_capacity(ef + 1);
        let mut results: BinaryHeap<Scored> = BinaryHeap::with_capacity(k + 1);
        // The traversal answers for the nearest `explore` accepted nodes; with `ef < k` the
        // results past that rank are collected from what the beam visits anyway.
        let explore = k.min(ef);
        let mut near: BinaryHeap<Scored> =
            BinaryHeap::with_capacity(if k > ef { ef + 1 } else { 0 });
        let mut fresh: Vec<u32> = Vec::with_capacity(self.m0);
        let start = Scored {
            dist: ep_d,
            pos: ep,
        };
        visited.insert(ep);
        candidates.push(Reverse(start));
        top.push(start);
        if accept(ep) {
            results.push(start);
            if k > ef {
                near.push(start);
            }
        }
        // Distance of the `explore`-th accepted result so far (infinite until that many are
        // known): any node closer than it could still improve the answer, inside the beam or
        // not.
        let kth = |r: &BinaryHeap<Scored>, near: &BinaryHeap<Scored>| {
            let r = if k > ef { near } else { r };
            if r.len() >= explore {
                r.peek().map_or(f32::INFINITY, |s| s.dist)
            } else {
                f32::INFINITY
            }
        };
        while let Some(Reverse(cur)) = candidates.pop() {
            let bound = if top.len() >= ef {
                top.peek().map_or(f32::INFINITY, |s| s.dist)
            } else {
                f32::INFINITY
            };
            if cur.dist > bound && cur.dist > kth(&results, &near) {
                break;
            }
            // The neighbours not yet visited, then their distances, with each vector fetched
            // whole a few places ahead: the visited marks are checked first, so only vectors
            // that are read are fetched, and the fetches of several overlap.
            fresh.clear();
            for &nb in self.neighbours0(cur.pos) {
                if visited.insert(nb) {
                    fresh.push(nb);
                }
            }
            for &nb in fresh.iter().take(FETCH_AHEAD) {
                fetch(nb);
            }
            for (i, &nb) in fresh.iter().enumerate() {
                if let Some(&next) = fresh.get(i + FETCH_AHEAD) {
                    fetch(next);
                }
                let d = dist(nb);
                let s = Scored { dist: d, pos: nb };
                let in_beam = top.len() < ef || d < top.peek().map_or(f32::INFINITY, |t| t.dist);
                if in_beam {
                    top.push(s);
                    if top.len() > ef {
                        top.pop();
                    }
                }
                if in_beam || d < kth(&results, &near) {
                    candidates.push(Reverse(s));
                }
                if accept(nb) {
                    if results.len() < k || d < results.peek().map_or(f32::INFINITY, |r| r.dist) {
                        results.push(s);
                        if results.len() > k {
                            results.pop();
                        }
                    }
                    if k > ef
                        && (near.len() < ef || d < near.peek().map_or(f32::INFINITY, |r| r.dist))
                    {
                        near.push(s);
                        if near.len() > ef {
                            near.pop();
                        }
                    }
                }
            }
        }
        results.into_vec()
    }

    /// Vectors only, no edges: a named vector that is never searched by ANN (searches on it
    /// scan exactly). Costs no build time and one word per point of adjacency.
    pub fn vectors_only(vectors: Vec<f32>, dim: usize) -> Graph {
        let n = vectors.len().checked_div(dim).unwrap_or(0);
        Graph {
            dim,
            n,
            m0: 0,
            m: 0,
            entry: 0,
            vectors: Region::Owned(vectors),
            level0: Region::Owned(vec![0; n]),
            upper: Vec::new(),
            codes: None,
        }
    }

    /// Whether this graph has edges to traverse.
    pub fn has_edges(&self) -> bool {
        self.m0 > 0 && self.n > 0
    }

    /// Bytes of vectors and edges in the process's memory, and in an index file's pages.
    pub fn footprint(&self) -> (usize, usize) {
        let mut out = (0, 0);
        let codes = self.codes.as_ref().map(|c| c.values.footprint());
        for (bytes, file) in [self.vectors.footprint(), self.level0.footprint()]
            .into_iter()
            .chain(codes)
        {
            if file {
                out.1 += bytes;
            } else {
                out.0 += bytes;
            }
        }
        for l in &self.upper {
            out.0 +=
                std::mem::size_of_val(l.nodes.as_slice()) + std::mem::size_of_val(l.adj.as_slice());
        }
        out
    }

    /// Builds a graph over `vectors` (`n * dim`, L2-normalised) with hnsw_rs, then freezes it.
    pub fn build(vectors: Vec<f32>, dim: usize, params: GraphParams) -> Graph {
        Self::build_seeded(vectors, dim, params, None)
    }

    /// [`Graph::build`] continuing `seed`, which must hold exactly the first `seed.len()` of
    /// `vectors` (a seed of another shape is ignored).
    pub fn build_seeded(
        vectors: Vec<f32>,
        dim: usize,
        params: GraphParams,
        seed: Option<Seed>,
    ) -> Graph {
        let n = vectors.len().checked_div(dim).unwrap_or(0);
        let m = params.m.clamp(2, 128);
        let m0 = 2 * m;
        if n == 0 {
            return Graph {
                dim,
                n: 0,
                m0,
                m,
                entry: 0,
                vectors: Region::Owned(vectors),
                level0: Region::Owned(Vec::new()),
                upper: Vec::new(),
                codes: None,
            };
        }
        let mut seed = seed
            .filter(|s| s.dim == dim && s.m == m && s.len <= n)
            .unwrap_or_else(|| Seed::new(dim, n, params));
        let t0 = std::time::Instant::now();
        let seeded = seed.len;
        seed.extend(&vectors[seeded * dim..n * dim], true);
        tracing::debug!(
            n,
            seeded,
            secs = t0.elapsed().as_secs_f64(),
            "hnsw_rs insert"
        );
        let mut g = Self::from_hnsw(&seed.hnsw, vectors, dim, m, params.refine_passes > 0);
        drop(seed);
        for _ in 0..params.refine_passes {
            let t0 = std::time::Instant::now();
            let lists = g.refine_by_search(params.refine_ef());
            let lists = refine_level0(g.vectors.as_slice(), dim, lists, m0);
            g.level0 = Region::Owned(flatten(&lists, m0));
            tracing::debug!(n, secs = t0.elapsed().as_secs_f64(), "search refine pass");
        }
        let t0 = std::time::Instant::now();
        let (linked_in, linked_out) = g.connect_level0();
        tracing::debug!(
            n,
            linked_in,
            linked_out,
            secs = t0.elapsed().as_secs_f64(),
            "level-0 connectivity"
        );
        g.for_serving()
    }

    /// Makes level 0 strongly connected through the entry point: every node reachable from
    /// it, and it reachable from every node. Near-duplicate vectors (the same job title posted
    /// by many companies) fill each other's candidate lists during the build, so a group
    /// larger than the build's beam can end up an island: a search that descends into it
    /// finds only its members (a short list, then an exact scan of the collection), and a
    /// search from outside never reaches it. Each island gets an edge in from, and an edge
    /// out to, its nearest connected node, in a slot with room or in place of the row's last
    /// (least useful) neighbour. The edges needed, in and out.
    fn connect_level0(&mut self) -> (usize, usize) {
        let n = self.n;
        if n < 2 || !self.has_edges() {
            return (0, 0);
        }
        let w = self.m0 + 1;
        let rows = |g: &Graph| -> Vec<Vec<u32>> {
            (0..n as u32).map(|p| g.neighbours0(p).to_vec()).collect()
        };
        let mut fwd = rows(self);
        let mut rev: Vec<Vec<u32>> = vec![Vec::new(); n];
        for (p, l) in fwd.iter().enumerate() {
            for &q in l {
                rev[q as usize].push(p as u32);
            }
        }
        // Marks every node reachable from `from` over `adj` that is not yet marked.
        fn flood(adj: &[Vec<u32>], mark: &mut [bool], from: u32) {
            let mut stack = vec![from];
            mark[from as usize] = true;
            while let Some(p) = stack.pop() {
                for &q in &adj[p as usize] {
                    if !mark[q as usize] {
                        mark[q as usize] = true;
                        stack.push(q);
                    }
                }
            }
        }
        let m0 = self.m0;
        // Adds the edge `from → to`, in a free slot or over the row's last neighbour (in the
        // lists and in the flat rows the search reads).
        let link = |g: &mut Graph,
                    fwd: &mut Vec<Vec<u32>>,
                    rev: &mut Vec<Vec<u32>>,
                    from: u32,
                    to: u32| {
            let row = &mut fwd[from as usize];
            if row.len() >= m0 {
                // The neighbour with the most other edges in gives its slot.
                let victim = (0..row.len())
                    .rev()
                    .max_by_key(|&i| rev[row[i] as usize].len())
                    .unwrap_or(row.len() - 1);
                let old = row.remove(victim);
                rev[old as usize].retain(|&x| x != from);
            }
            row.push(to);
            rev[to as usize].push(from);
            let flat = &mut g.level0.make_owned()[from as usize * w..(from as usize + 1) * w];
            flat[0] = row.len() as u32;
            flat[1..1 + row.len()].copy_from_slice(row);
        };
        let mut linked = (0, 0);
        for pass in 0..2 {
            // Pass 0: reachable from the entry (edges in); pass 1: reaching it (edges out).
            let mut mark = vec![false; n];
            flood(if pass == 0 { &fwd } else { &rev }, &mut mark, self.entry);
            if mark.iter().all(|m| *m) {
                continue;
            }
            for u in 0..n as u32 {
                if mark[u as usize] {
                    continue;
                }
                // The nearest marked node, found by the graph as it stands.
                let Some(r) = self.nearest_accepted(u, &|p| mark[p as usize]) else {
                    continue;
                };
                if pass == 0 {
                    link(self, &mut fwd, &mut rev, r, u);
                    linked.0 += 1;
                    flood(&fwd, &mut mark, u);
                } else {
                    link(self, &mut fwd, &mut rev, u, r);
                    linked.1 += 1;
                    flood(&rev, &mut mark, u);
                }
            }
        }
        linked
    }

    /// The accepted node nearest to position `u`'s vector by a graph search (exact
    /// distances), or by a scan when the search finds none.
    fn nearest_accepted(&self, u: u32, accept: &dyn Fn(u32) -> bool) -> Option<u32> {
        let q = self.vector(u).to_vec();
        let found = self
            .traverse(
                1,
                32,
                accept,
                |p| cosine_distance(&q, self.vector(p)),
                |_| {},
            )
            .into_iter()
            .min();
        found.map(|s| s.pos).or_else(|| {
            (0..self.n as u32)
                .filter(|p| accept(*p))
                .map(|p| Scored {
                    dist: cosine_distance(&q, self.vector(p)),
                    pos: p,
                })
                .min()
                .map(|s| s.pos)
        })
    }

    /// The graph made ready to serve searches: its vectors' [`Codes`] made, and those codes,
    /// the vectors and level 0 (what a search reads at random) moved to huge pages
    /// ([`Region::into_huge`]); a graph without edges is never traversed and stays as it is.
    pub fn for_serving(mut self) -> Graph {
        if self.has_edges() {
            let codes = Codes::of(self.vectors.as_slice());
            self.codes = Some(Codes {
                values: codes.values.into_huge(),
                scale: codes.scale,
            });
            self.vectors = self.vectors.into_huge();
            self.level0 = self.level0.into_huge();
        }
        self
    }

    /// Freezes hnsw_rs's graph over `vectors` (`n * dim`: the points it holds at positions
    /// `0..n`), re-pruning level 0 with the heuristic over forward and reverse edges when
    /// `prune`.
    fn from_hnsw(
        hnsw: &Hnsw<'static, f32, SimdDot>,
        vectors: Vec<f32>,
        dim: usize,
        m: usize,
        prune: bool,
    ) -> Graph {
        let n = vectors.len().checked_div(dim).unwrap_or(0);
        let m0 = 2 * m;
        // Extract every point's neighbour lists, by our position (hnsw_rs's origin id).
        let mut levels = vec![0usize; n];
        let mut lists: Vec<Vec<Vec<u32>>> = vec![Vec::new(); n];
        let mut entry = 0u32;
        let mut top = 0usize;
        for point in hnsw.get_point_indexation() {
            let pos = point.get_origin_id();
            let level = point.get_point_id().0 as usize;
            if pos >= n {
                continue;
            }
            levels[pos] = level;
            if level > top || (level == top && entry == 0) {
                top = level;
                entry = pos as u32;
            }
            lists[pos] = point
                .get_neighborhood_id()
                .into_iter()
                .take(level + 1)
                .map(|layer| {
                    layer
                        .into_iter()
                        .map(|nb| nb.get_origin_id() as u32)
                        .filter(|p| (*p as usize) < n && *p as usize != pos)
                        .collect()
                })
                .collect();
        }

        let mut level0: Vec<Vec<u32>> = lists
            .iter_mut()
            .map(|l| {
                if l.is_empty() {
                    Vec::new()
                } else {
                    std::mem::take(&mut l[0])
                }
            })
            .collect();
        if prune {
            let t0 = std::time::Instant::now();
            level0 = refine_level0(&vectors, dim, level0, m0);
            tracing::debug!(n, secs = t0.elapsed().as_secs_f64(), "level-0 refine");
        }
        let flat0 = flatten(&level0, m0);
        let mut upper = Vec::with_capacity(top);
        for layer in 1..=top {
            let nodes: Vec<u32> = (0..n as u32)
                .filter(|p| levels[*p as usize] >= layer)
                .collect();
            let mut adj = vec![0u32; nodes.len() * (m + 1)];
            for (i, p) in nodes.iter().enumerate() {
                let list = lists[*p as usize]
                    .get(layer)
                    .map(|v| v.as_slice())
                    .unwrap_or(&[]);
                let row = &mut adj[i * (m + 1)..(i + 1) * (m + 1)];
                let c = list.len().min(m);
                row[0] = c as u32;
                row[1..1 + c].copy_from_slice(&list[..c]);
            }
            upper.push(UpperLayer { nodes, adj });
        }
        Graph {
            dim,
            n,
            m0,
            m,
            entry,
            vectors: Region::Owned(vectors),
            level0: Region::Owned(flat0),
            upper,
            codes: None,
        }
    }

    /// New level-0 candidate lists: each node's own neighbours found by searching the graph
    /// with its vector (beam `ef`), merged with its current list, heuristic-pruned.
    fn refine_by_search(&self, ef: usize) -> Vec<Vec<u32>> {
        (0..self.n as u32)
            .into_par_iter()
            .map(|p| {
                let vp = self.vector(p);
                let mut scored = self.search(vp, ef, ef, &|x| x != p);
                for &q in self.neighbours0(p) {
                    if !scored.iter().any(|s| s.pos == q) {
                        scored.push(Scored {
                            dist: cosine_distance(vp, self.vector(q)),
                            pos: q,
                        });
                    }
                }
                sort_for(p, &mut scored);
                heuristic(&scored, self.m0, |a, b| {
                    cosine_distance(self.vector(a), self.vector(b))
                })
            })
            .collect()
    }
}

/// Level of the `pos`-th inserted point in an incrementally grown graph: `l` with
/// probability `(1 - 1/m) * m^-l`, HNSW's distribution, drawn from a hash of the position (so a
/// graph grown from the same points is the same graph).
fn insert_level(pos: u32, m: usize) -> usize {
    let mut z = (pos as u64).wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^= z >> 31;
    // Uniform in (0, 1].
    let u = ((z >> 11) + 1) as f64 / (1u64 << 53) as f64;
    ((-u.ln() / (m as f64).ln()) as usize).min(16)
}

impl Graph {
    /// An empty graph of `dim`-dimensional vectors, to grow with [`Graph::extended`].
    pub fn empty(dim: usize, params: GraphParams) -> Graph {
        let m = params.m.clamp(2, 128);
        Graph {
            dim,
            n: 0,
            m0: 2 * m,
            m,
            entry: 0,
            vectors: Region::Owned(Vec::new()),
            level0: Region::Owned(Vec::new()),
            upper: Vec::new(),
            codes: None,
        }
    }

    /// A copy of this graph with `new` (`k * dim`, L2-normalised) inserted as positions
    /// `n..n + k`, one at a time as HNSW inserts: a level drawn at random, a beam search of
    /// width `ef_construction` at each of its layers, neighbours chosen by the diversity
    /// heuristic, and each chosen neighbour's list given the reverse edge (re-pruned by the
    /// heuristic when full). `self` is untouched, so searches go on reading it meanwhile.
    ///
    /// This is how delta graphs grow between full rebuilds: each written point is inserted
    /// once, and a delta costs one copy of its vectors and fixed-width edges — no hnsw_rs graph
    /// kept beside it (its per-point allocations and second copy of the vector were ~5 KB of
    /// every write until the next full rebuild; RELIABILITY.md). `self` must have edges or be
    /// empty ([`Graph::empty`]); a graph without edges is returned as it is.
    pub fn extended(&self, new: &[f32], params: GraphParams) -> Graph {
        let dim = self.dim;
        let k = new.len().checked_div(dim).unwrap_or(0);
        let w = self.m0 + 1;
        if self.m0 == 0 || self.level0.as_slice().len() != self.n * w {
            return Graph::vectors_only(self.vectors.as_slice().to_vec(), dim);
        }
        let n = self.n + k;
        let mut vectors = Vec::with_capacity(n * dim);
        vectors.extend_from_slice(self.vectors.as_slice());
        vectors.extend_from_slice(&new[..k * dim]);
        let mut level0 = Vec::with_capacity(n * w);
        level0.extend_from_slice(self.level0.as_slice());
        level0.resize(n * w, 0);
        let mut g = Graph {
            dim,
            n: self.n,
            m0: self.m0,
            m: self.m,
            entry: self.entry,
            vectors: Region::Owned(vectors),
            level0: Region::Owned(level0),
            upper: self.upper.clone(),
            codes: None,
        };
        let ef = params.ef_construction.max(g.m0);
        for p in self.n..n {
            g.insert(p as u32, ef);
        }
        g
    }

    /// Inserts position `p`, whose vector is already in place (`p == self.n`).
    fn insert(&mut self, p: u32, ef: usize) {
        let level = insert_level(p, self.m);
        let top = self.upper.len();
        let (m, m0, dim) = (self.m, self.m0, self.dim);
        // Distances read the vectors field only, so the adjacency can be written meanwhile.
        let vectors = self.vectors.as_slice();
        let v = |q: u32| &vectors[q as usize * dim..(q as usize + 1) * dim];
        let dist = |a: u32, b: u32| cosine_distance(v(a), v(b));
        if self.n > 0 {
            let to_p = |q: u32| dist(p, q);
            // Greedy descent through the layers above the new point's, then a beam at each of
            // its layers that exist (linking it there), then level 0.
            let (mut ep, mut ep_d) = self.descend(level + 1, self.entry, &to_p);
            let mut chosen_upper = Vec::new();
            for layer in (1..=level.min(top)).rev() {
                let found = self.beam_upper(layer, v(p), ep, ep_d, ef);
                if let Some(best) = found.first() {
                    (ep, ep_d) = (best.pos, best.dist);
                }
                chosen_upper.push((layer, heuristic(&found, m, dist)));
            }
            let mut found = VISITED.with(|visited| {
                let mut visited = visited.borrow_mut();
                visited.start(self.n);
                self.search_level0(ep, ep_d, ef, ef, &|_| true, &mut visited, &to_p, &|q| {
                    prefetch_all(v(q))
                })
            });
            found.sort_unstable();
            let chosen0 = heuristic(&found, m0, dist);
            for (layer, chosen) in chosen_upper {
                let l = &mut self.upper[layer - 1];
                l.nodes.push(p);
                l.adj.resize(l.nodes.len() * (m + 1), 0);
                set_row(&mut l.adj, l.nodes.len() - 1, m, &chosen);
                for &q in &chosen {
                    if let Ok(i) = l.nodes.binary_search(&q) {
                        add_edge(&mut l.adj, i, q, m, p, dist);
                    }
                }
            }
            let level0 = self.level0.make_owned();
            set_row(level0, p as usize, m0, &chosen0);
            for &q in &chosen0 {
                add_edge(level0, q as usize, q, m0, p, dist);
            }
        }
        // Layers above the graph's top hold only the new point, which becomes the entry (the
        // first point of an empty graph too: an empty graph has no layers).
        for _ in top + 1..=level {
            self.upper.push(UpperLayer {
                nodes: vec![p],
                adj: vec![0; m + 1],
            });
        }
        if level > top || self.n == 0 {
            self.entry = p;
        }
        self.n = p as usize + 1;
    }

    /// Beam search of width `ef` on upper layer `layer` from `ep`: the nearest nodes found,
    /// ascending. Upper layers hold a small share of the points, so visits are kept in a set.
    fn beam_upper(&self, layer: usize, q: &[f32], ep: u32, ep_d: f32, ef: usize) -> Vec<Scored> {
        use std::cmp::Reverse;
        let mut seen = std::collections::HashSet::from([ep]);
        let start = Scored {
            dist: ep_d,
            pos: ep,
        };
        let mut candidates = BinaryHeap::from([Reverse(start)]);
        let mut top = BinaryHeap::from([start]);
        while let Some(Reverse(cur)) = candidates.pop() {
            if top.len() >= ef && top.peek().is_some_and(|t| cur.dist > t.dist) {
                break;
            }
            for &nb in self.neighbours_upper(layer, cur.pos) {
                if !seen.insert(nb) {
                    continue;
                }
                let s = Scored {
                    dist: cosine_distance(q, self.vector(nb)),
                    pos: nb,
                };
                if top.len() < ef || top.peek().is_some_and(|t| s.dist < t.dist) {
                    candidates.push(Reverse(s));
                    top.push(s);
                    if top.len() > ef {
                        top.pop();
                    }
                }
            }
        }
        top.into_sorted_vec()
    }
}

/// Sets row `row` of fixed-width rows of `width` neighbours to `list` (at most `width`).
fn set_row(rows: &mut [u32], row: usize, width: usize, list: &[u32]) {
    let r = &mut rows[row * (width + 1)..(row + 1) * (width + 1)];
    let c = list.len().min(width);
    r[0] = c as u32;
    r[1..1 + c].copy_from_slice(&list[..c]);
}

/// Adds neighbour `p` to row `row` (the list of node `node`): appended while there is room,
/// else the row and `p` re-pruned by the heuristic around `node`.
fn add_edge(
    rows: &mut [u32],
    row: usize,
    node: u32,
    width: usize,
    p: u32,
    dist: impl Fn(u32, u32) -> f32,
) {
    let r = &mut rows[row * (width + 1)..(row + 1) * (width + 1)];
    let c = (r[0] as usize).min(width);
    if r[1..1 + c].contains(&p) {
        return;
    }
    if c < width {
        r[1 + c] = p;
        r[0] = c as u32 + 1;
        return;
    }
    let mut scored: Vec<Scored> = r[1..1 + c]
        .iter()
        .chain([&p])
        .map(|&q| Scored {
            dist: dist(node, q),
            pos: q,
        })
        .collect();
    sort_for(node, &mut scored);
    let kept = heuristic(&scored, width, dist);
    r[0] = kept.len() as u32;
    r[1..1 + kept.len()].copy_from_slice(&kept);
}

/// Fixed-width rows: count, then up to `width` neighbours.
fn flatten(lists: &[Vec<u32>], width: usize) -> Vec<u32> {
    let mut flat = vec![0u32; lists.len() * (width + 1)];
    for (pos, list) in lists.iter().enumerate() {
        let row = &mut flat[pos * (width + 1)..(pos + 1) * (width + 1)];
        let c = list.len().min(width);
        row[0] = c as u32;
        row[1..1 + c].copy_from_slice(&list[..c]);
    }
    flat
}

/// Sorts `node`'s candidate neighbours by distance, ties in an order of their own per node:
/// among identical vectors every node would otherwise pick the same lowest positions, and
/// the rest of the group would have no edge in.
fn sort_for(node: u32, scored: &mut [Scored]) {
    let mix = |q: u32| {
        let x = (u64::from(node) << 32 | u64::from(q)).wrapping_mul(0x9E37_79B9_7F4A_7C15);
        x ^ (x >> 29)
    };
    scored.sort_unstable_by(|a, b| a.dist.total_cmp(&b.dist).then(mix(a.pos).cmp(&mix(b.pos))));
}

/// The HNSW neighbour-selection heuristic over candidates sorted by distance: keep a
/// candidate only if it is closer to the node than to every neighbour already kept; then fill
/// the remaining room with the closest pruned candidates (more edges help recall at level 0).
fn heuristic(sorted: &[Scored], cap: usize, dist: impl Fn(u32, u32) -> f32) -> Vec<u32> {
    let mut kept: Vec<u32> = Vec::with_capacity(cap);
    let mut skipped: Vec<u32> = Vec::new();
    for s in sorted {
        if kept.len() >= cap {
            break;
        }
        if kept.iter().all(|&k| dist(s.pos, k) > s.dist) {
            kept.push(s.pos);
        } else {
            skipped.push(s.pos);
        }
    }
    for q in skipped {
        if kept.len() >= cap {
            break;
        }
        kept.push(q);
    }
    kept
}

/// Re-prunes every level-0 list over its forward and reverse edges with the HNSW heuristic:
/// keep a candidate only if it is closer to the node than to every neighbour already kept.
fn refine_level0(vectors: &[f32], dim: usize, lists: Vec<Vec<u32>>, m0: usize) -> Vec<Vec<u32>> {
    let n = lists.len();
    let v = |p: u32| &vectors[p as usize * dim..(p as usize + 1) * dim];
    let mut reverse: Vec<Vec<u32>> = vec![Vec::new(); n];
    for (p, list) in lists.iter().enumerate() {
        for &q in list {
            reverse[q as usize].push(p as u32);
        }
    }
    let pruned: Vec<Vec<u32>> = (0..n)
        .into_par_iter()
        .map(|p| {
            let mut cand: Vec<u32> = lists[p].iter().chain(&reverse[p]).copied().collect();
            cand.sort_unstable();
            cand.dedup();
            let vp = v(p as u32);
            let mut scored: Vec<Scored> = cand
                .into_iter()
                .map(|q| Scored {
                    dist: cosine_distance(vp, v(q)),
                    pos: q,
                })
                .collect();
            sort_for(p as u32, &mut scored);
            heuristic(&scored, m0, |a, b| cosine_distance(v(a), v(b)))
        })
        .collect();
    pruned
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::vector::distance::normalized;

    #[test]
    fn regions_moved_to_huge_pages_hold_the_same_values() {
        let big: Vec<u32> = (0..(HUGE_MIN_BYTES / 4 + 1000) as u32).collect();
        let moved = Region::Owned(big.clone()).into_huge();
        assert!(matches!(moved, Region::Mapped { file: false, .. }));
        assert_eq!(moved.footprint(), (big.len() * 4, false));
        assert_eq!(moved.as_slice(), big.as_slice());
        // From a window of a mapped file, at an offset that is not page-aligned.
        let mut f = tempfile::tempfile().unwrap();
        std::io::Write::write_all(&mut f, &[7u8; 12]).unwrap();
        std::io::Write::write_all(&mut f, bytemuck::cast_slice(&big)).unwrap();
        let map = Arc::new(unsafe { Mmap::map(&f) }.unwrap());
        let window = Region::<u32>::Mapped {
            map: map.clone(),
            offset: 12,
            len: big.len(),
            file: true,
        };
        assert_eq!(window.footprint(), (big.len() * 4, true));
        let moved = window.into_huge();
        assert_eq!(moved.as_slice(), big.as_slice());
        assert_eq!(moved.footprint(), (big.len() * 4, false));
        // The file's mapping still reads the same bytes after its pages were let go.
        assert_eq!(&map[..12], &[7u8; 12]);
        assert_eq!(&map[12..16], &0u32.to_le_bytes());
        // Small regions stay as they are.
        let small = Region::Owned(vec![1u32, 2, 3]).into_huge();
        assert!(matches!(small, Region::Owned(_)));
        assert_eq!(small.as_slice(), &[1, 2, 3]);
    }

    /// Groups of identical vectors larger than the build's beam (a job title posted by many
    /// companies): every node is reachable from the entry and reaches it, so a search for a
    /// group's vector gets a full list from the graph, however the upper layers led it.
    #[test]
    fn duplicate_groups_do_not_become_islands() {
        let (groups, copies, dim) = (60, 70, 16);
        let centres = random_unit(groups, dim, 21);
        let mut data = Vec::with_capacity(groups * copies * dim);
        for c in 0..copies {
            for g in 0..groups {
                // Most copies identical, every tenth a slight variant (a seniority prefix).
                let v = &centres[g * dim..(g + 1) * dim];
                if c % 10 == 0 {
                    let mut v: Vec<f32> = v
                        .iter()
                        .enumerate()
                        .map(|(i, x)| x + 0.01 * (i % 3) as f32)
                        .collect();
                    let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt();
                    v.iter_mut().for_each(|x| *x /= norm);
                    data.extend(v);
                } else {
                    data.extend_from_slice(v);
                }
            }
        }
        let n = groups * copies;
        let g = Graph::build(data.clone(), dim, GraphParams::default());
        let reach = |adj: &dyn Fn(u32) -> Vec<u32>| {
            let mut seen = vec![false; n];
            let mut stack = vec![g.entry];
            seen[g.entry as usize] = true;
            while let Some(p) = stack.pop() {
                for q in adj(p) {
                    if !seen[q as usize] {
                        seen[q as usize] = true;
                        stack.push(q);
                    }
                }
            }
            seen.iter().filter(|s| **s).count()
        };
        assert_eq!(
            reach(&|p| g.neighbours0(p).to_vec()),
            n,
            "reachable from the entry"
        );
        let mut rev = vec![Vec::new(); n];
        for p in 0..n as u32 {
            for &q in g.neighbours0(p) {
                rev[q as usize].push(p);
            }
        }
        assert_eq!(reach(&|p| rev[p as usize].clone()), n, "reaching the entry");
        for gi in 0..groups {
            let q = &centres[gi * dim..(gi + 1) * dim];
            let hits = g.search(q, 100, 100, &|_| true);
            assert_eq!(hits.len(), 100, "group {gi}: a short list");
        }
    }

    #[test]
    fn coded_traversal_returns_exact_distances_and_the_same_neighbours() {
        let (n, dim) = (3000, 64);
        let data = random_unit(n, dim, 11);
        let queries = random_unit(40, dim, 12);
        let mut g = Graph::build(data.clone(), dim, GraphParams::default());
        let codes = g.codes.as_ref().expect("a built graph has codes");
        // Each code is its component at the scale, within half a step (saturating past the
        // clip, which a 99.99th percentile leaves to a handful of components).
        let saturated = data
            .iter()
            .zip(codes.values.as_slice())
            .filter(|(x, c)| ((**x * codes.scale) - **c as f32).abs() > 0.5 + 1e-4)
            .count();
        assert!(saturated <= n * dim / 1000, "{saturated} saturated");
        // The same graph traversed on the f32 vectors.
        let codes = g.codes.take();
        let plain: Vec<Vec<Scored>> = queries
            .chunks(dim)
            .map(|q| g.search(q, 50, 32, &|p| p % 3 != 0))
            .collect();
        g.codes = codes;
        let (mut same, mut total) = (0, 0);
        for (q, want) in queries.chunks(dim).zip(&plain) {
            let got = g.search(q, 50, 32, &|p| p % 3 != 0);
            assert_eq!(got.len(), 50);
            for s in &got {
                assert_ne!(s.pos % 3, 0, "a rejected position was returned");
                let v = &data[s.pos as usize * dim..(s.pos as usize + 1) * dim];
                assert_eq!(
                    s.dist,
                    cosine_distance(q, v),
                    "distance of {} not exact",
                    s.pos
                );
            }
            assert!(got.windows(2).all(|w| w[0] <= w[1]), "not sorted");
            same += got.iter().filter(|s| want.contains(s)).count();
            total += 50;
        }
        assert!(
            same as f64 / total as f64 >= 0.95,
            "{same} of {total} alike"
        );
    }

    fn random_unit(n: usize, dim: usize, seed: u64) -> Vec<f32> {
        let mut s = seed;
        let mut out = Vec::with_capacity(n * dim);
        for _ in 0..n {
            let v: Vec<f32> = (0..dim)
                .map(|_| {
                    s = s
                        .wrapping_mul(6364136223846793005)
                        .wrapping_add(1442695040888963407);
                    ((s >> 33) as f32 / (1u64 << 31) as f32) - 0.5
                })
                .collect();
            out.extend(normalized("v", &v, dim).unwrap());
        }
        out
    }

    #[test]
    fn graph_finds_true_neighbours() {
        let (n, dim) = (2000, 32);
        let data = random_unit(n, dim, 7);
        let queries = random_unit(50, dim, 99);
        let g = Graph::build(data.clone(), dim, GraphParams::default());
        let r = recall_10(&g, &data, &queries, 64);
        assert!(r >= 0.95, "recall {r}");
    }

    /// Recall of the exact top 10 of `queries` among positions `0..n` of `data`.
    fn recall_10(g: &Graph, data: &[f32], queries: &[f32], ef: usize) -> f64 {
        let (dim, n) = (g.dim, g.n);
        let mut hits = 0;
        for q in queries.chunks(dim) {
            let mut exact: Vec<Scored> = (0..n as u32)
                .map(|p| Scored {
                    dist: cosine_distance(q, &data[p as usize * dim..(p as usize + 1) * dim]),
                    pos: p,
                })
                .collect();
            exact.sort_unstable();
            let got = g.search(q, 10, ef, &|_| true);
            assert_eq!(got.len(), 10.min(n));
            hits += got
                .iter()
                .filter(|s| exact[..10.min(n)].iter().any(|e| e.pos == s.pos))
                .count();
        }
        hits as f64 / (queries.len() / dim * 10.min(n)) as f64
    }

    #[test]
    fn a_graph_grown_point_by_point_finds_true_neighbours_and_keeps_its_old_self() {
        let (n, dim) = (3000, 32);
        let data = random_unit(n, dim, 11);
        let queries = random_unit(50, dim, 12);
        let params = GraphParams::default();
        // Grown in uneven batches, as delta builds grow a delta graph between full rebuilds.
        let mut g = Graph::empty(dim, params);
        let mut sizes = Vec::new();
        for end in [1, 2, 40, 700, 2048, 3000] {
            let before = g.vectors.as_slice().to_vec();
            let old = (g.n, g.entry, g.level0.as_slice().to_vec());
            let next = g.extended(&data[g.n * dim..end * dim], params);
            // The graph it grew from is untouched (searches keep reading it meanwhile).
            assert_eq!(
                (g.n, g.entry, g.level0.as_slice()),
                (old.0, old.1, &old.2[..])
            );
            assert_eq!(g.vectors.as_slice(), &before[..]);
            g = next;
            assert_eq!(g.n, end);
            assert_eq!(g.vectors.as_slice(), &data[..end * dim]);
            sizes.push(g.n);
        }
        // Every list is well formed: ids of existing points, no self-loops, no duplicates,
        // within capacity; upper layers' nodes ascending; the entry on the top layer.
        for p in 0..n as u32 {
            let nb = g.neighbours0(p);
            assert!(nb.len() <= g.m0 && !nb.is_empty(), "node {p}: {nb:?}");
            assert!(nb.iter().all(|&q| (q as usize) < n && q != p));
            let mut d = nb.to_vec();
            d.sort_unstable();
            d.dedup();
            assert_eq!(d.len(), nb.len());
        }
        for (i, l) in g.upper.iter().enumerate() {
            assert!(l.nodes.windows(2).all(|w| w[0] < w[1]));
            assert_eq!(l.adj.len(), l.nodes.len() * (g.m + 1));
            for &p in &l.nodes {
                assert!(g
                    .neighbours_upper(i + 1, p)
                    .iter()
                    .all(|q| l.nodes.contains(q)));
            }
        }
        if let Some(top) = g.upper.last() {
            assert!(top.nodes.contains(&g.entry));
        }
        assert!(
            !g.upper.is_empty(),
            "3,000 points at m 16 have an upper layer"
        );
        let r = recall_10(&g, &data, &queries, 64);
        assert!(r >= 0.95, "recall {r}");
        // At a narrow beam, where the graph's quality shows.
        let (r, rb) = (
            recall_10(&g, &data, &queries, 10),
            recall_10(
                &Graph::build(data.clone(), dim, params),
                &data,
                &queries,
                10,
            ),
        );
        // As good as a graph built at once by hnsw_rs and refined (within noise).
        eprintln!("recall@10 at ef 10: grown {r}, built {rb}");
        assert!(r >= rb - 0.03, "grown {r}, built {rb}");
        // The same points give the same graph.
        let again = Graph::empty(dim, params).extended(&data, params);
        assert_eq!(again.level0.as_slice(), {
            let mut one = Graph::empty(dim, params);
            for end in sizes {
                one = one.extended(&data[one.n * dim..end * dim], params);
            }
            one.level0.as_slice().to_vec()
        });
    }

    #[test]
    fn tiny_graphs() {
        let data = random_unit(1, 8, 1);
        let g = Graph::build(data, 8, GraphParams::default());
        assert_eq!(g.search(&random_unit(1, 8, 2), 5, 10, &|_| true).len(), 1);
        assert!(g
            .search(&random_unit(1, 8, 2), 5, 10, &|_| false)
            .is_empty());
        let empty = Graph::build(Vec::new(), 8, GraphParams::default());
        assert!(empty
            .search(&random_unit(1, 8, 2), 5, 10, &|_| true)
            .is_empty());
    }
}
