//! The embedded vector engine: companies, jobs and resumes with named vectors, HNSW search
//! with filters, and their BM25F text indexes, over the [`crate::store::Store`] (redb, the
//! truth) and memory-mapped index files derived from it.
//!
//! Read path: [`Engine::search`] takes a read lock on one collection, compiles the filter,
//! lets the planner pick exact scan or graph traversal, and returns `(id, cosine distance)`
//! ascending. Write path: [`Engine::upsert`] / [`Engine::delete`] commit to redb first, then
//! apply to memory under a short write lock; the write is acknowledged after both. A
//! background rebuild freezes the tail and drops tombstones, swapping the new graphs in.

pub mod ann;
mod collection;
pub mod distance;
mod error;
pub mod filter;
mod graph;
pub(crate) use graph::prefetch;
mod index_file;
mod spill;

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Instant;

use parking_lot::{Mutex, RwLock};
use rayon::prelude::*;
use serde::Serialize;

pub use collection::{PlannerParams, SearchPath};
pub use error::{Result, VectorError};
pub use filter::Filter;
pub use graph::GraphParams;
pub use index_file::FORMAT_VERSION;

use crate::store::{Collection, NewRecord, Payload, Store, StoreError};
use collection::{CollectionState, Frozen, PathCounters};
use graph::{Graph, Seed};

use crate::lexical::{self, DocTerms, Field, LexHit, LexicalIndex};

/// Largest vector dimension accepted.
pub const MAX_DIMENSION: usize = 4096;
/// Largest k a search may ask for.
pub const MAX_K: usize = 1000;
/// Largest beam width a search may ask for.
pub const MAX_EF: usize = 4096;
/// Most entities in one batch write.
pub const MAX_BATCH: usize = 10_000;
/// Default [`EngineOptions::reserve_bytes`]: 1 MiB.
pub const DEFAULT_RESERVE_BYTES: u64 = 1 << 20;
/// Default [`EngineOptions::store_cache_bytes`]: 64 MiB (redb's own default is 1 GiB).
pub const DEFAULT_STORE_CACHE_BYTES: usize = 64 << 20;

/// Which named vectors get an HNSW graph; the others keep their vectors only and are searched
/// by exact scan. Each graph costs a full build, so a deployment that only runs ANN on
/// `overall` (recommendations) can skip three quarters of the build time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IndexedVectors([u8; 3]);

impl IndexedVectors {
    /// Every named vector of every collection (the default).
    pub const ALL: IndexedVectors = IndexedVectors([0xff; 3]);

    /// Only the `overall` vector of each collection.
    pub fn overall_only() -> Self {
        let mut bits = [0u8; 3];
        for c in Collection::ALL {
            bits[c.index()] = 1 << (c.vector_names().len() - 1);
        }
        IndexedVectors(bits)
    }

    /// Exactly the listed (collection, vector name) pairs.
    pub fn only(list: &[(Collection, &str)]) -> Result<Self> {
        let mut bits = [0u8; 3];
        for (c, name) in list {
            bits[c.index()] |= 1 << c.vector_index(name)?;
        }
        Ok(IndexedVectors(bits))
    }

    /// Per named vector of `c`, whether it has no graph (its tail vectors are kept in a
    /// scratch file, see `spill.rs`).
    fn unsearched(&self, c: Collection) -> Vec<bool> {
        (0..c.vector_names().len())
            .map(|vi| !self.is_indexed(c, vi))
            .collect()
    }

    pub fn is_indexed(&self, c: Collection, vi: usize) -> bool {
        self.0[c.index()] & (1 << vi) != 0
    }

    /// One graph per named vector; `seeds` (per named vector) continue a build started ahead.
    fn build(
        &self,
        c: Collection,
        vectors: Vec<Vec<f32>>,
        dim: usize,
        params: GraphParams,
        seeds: Option<Vec<Option<Seed>>>,
    ) -> Vec<Graph> {
        let mut seeds = seeds.unwrap_or_default();
        seeds.resize_with(vectors.len(), || None);
        vectors
            .into_par_iter()
            .zip(seeds)
            .enumerate()
            .map(|(vi, (v, seed))| {
                if self.is_indexed(c, vi) {
                    Graph::build_seeded(v, dim, params, seed)
                } else {
                    Graph::vectors_only(v, dim)
                }
            })
            .collect()
    }
}

impl Default for IndexedVectors {
    fn default() -> Self {
        Self::ALL
    }
}

/// Engine tunables.
#[derive(Debug, Clone, Copy)]
pub struct EngineOptions {
    /// Which named vectors get a graph (default: all).
    pub indexed: IndexedVectors,
    pub graph: GraphParams,
    pub planner: PlannerParams,
    /// Index the writes since the last full rebuild (a delta graph, or a full rebuild) once
    /// this many sit in the exact-scanned tail.
    pub tail_limit: usize,
    /// Largest delta graph: once more positions than this (or than a quarter of the frozen
    /// graph, whichever is more) follow the frozen graph, a full rebuild folds them in.
    pub delta_limit: usize,
    /// Threads of a background rebuild or delta build (the others keep serving).
    pub rebuild_threads: usize,
    /// Nice value (0–19) of those threads: a build takes whatever CPU the requests leave and
    /// gives it back as soon as a request thread wakes (0: same priority as requests).
    pub rebuild_nice: i32,
    /// Rebuild once this fraction of positions are tombstones.
    pub tombstone_ratio: f64,
    /// Run rebuilds on a background thread when the limits are crossed (off: only
    /// [`Engine::rebuild`] rebuilds).
    pub background_rebuild: bool,
    /// Log every write of [`Engine::upsert_batch`] and [`Engine::delete`] to the outbox, in
    /// the same transaction (on when databases are configured).
    pub outbox: bool,
    /// Bytes kept in reserve in the data dir (`space.reserve`): deleted when the disk fills so
    /// the store can recover its failed commit and keep serving reads, written again before
    /// writes are accepted again. 0: none.
    pub reserve_bytes: u64,
    /// redb's page cache. Pages it does not hold are read through the OS page cache, which
    /// the kernel can reclaim; redb's own is the process's for good once filled.
    pub store_cache_bytes: usize,
    /// Which fields of the stored documents the lexical index reads, per collection (none:
    /// no lexical index).
    pub lexical: Option<LexicalSchema>,
}

/// The document fields the lexical index reads, per collection (in [`Collection::index`]
/// order). An empty list: that collection has no lexical index.
#[derive(Debug, Clone, Copy)]
pub struct LexicalSchema(pub [&'static [Field]; 3]);

impl LexicalSchema {
    pub fn fields(&self, c: Collection) -> &'static [Field] {
        self.0[c.index()]
    }
}

impl Default for EngineOptions {
    fn default() -> Self {
        EngineOptions {
            indexed: IndexedVectors::ALL,
            graph: GraphParams::default(),
            planner: PlannerParams::default(),
            tail_limit: 2_048,
            delta_limit: 16_384,
            rebuild_threads: 1,
            rebuild_nice: 10,
            tombstone_ratio: 0.2,
            background_rebuild: true,
            outbox: false,
            reserve_bytes: DEFAULT_RESERVE_BYTES,
            store_cache_bytes: DEFAULT_STORE_CACHE_BYTES,
            lexical: None,
        }
    }
}

/// An entity to write: every named vector of its collection, and its payload.
#[derive(Debug, Clone)]
pub struct EntityUpsert {
    pub id: u64,
    pub vectors: HashMap<String, Vec<f32>>,
    pub payload: Payload,
    /// Any JSON document stored with this version (the service keeps the input data and its
    /// analysis here); `Null` for none. Read back with [`Engine::document`].
    pub document: serde_json::Value,
}

/// An entity as stored (vectors L2-normalised).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Entity {
    pub id: u64,
    pub payload: Payload,
    pub vectors: BTreeMap<String, Vec<f32>>,
}

/// A search: a query vector against one named vector of a collection.
#[derive(Debug, Clone)]
pub struct SearchRequest<'a> {
    pub collection: Collection,
    pub vector: &'a str,
    pub query: &'a [f32],
    pub k: usize,
    pub filter: Option<&'a Filter>,
    /// Beam width; the engine's default when `None`.
    pub ef: Option<usize>,
}

#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct SearchHit {
    pub id: u64,
    /// The entity's version the search read (not part of a search's JSON answer).
    #[serde(skip)]
    pub version: u64,
    /// Cosine distance, 0 = identical.
    pub distance: f32,
}

#[derive(Debug, Clone, Serialize)]
pub struct SearchResult {
    pub hits: Vec<SearchHit>,
    pub path: SearchPath,
}

#[derive(Debug, Clone, Serialize)]
pub struct PathCounts {
    pub graph: u64,
    pub graph_filtered: u64,
    pub exact: u64,
    pub exact_fallback: u64,
}

#[derive(Debug, Clone, Serialize)]
pub struct CollectionStats {
    pub name: &'static str,
    pub dimension: usize,
    pub model: Option<String>,
    pub epoch: u64,
    pub live: usize,
    pub tombstones: usize,
    pub frozen: usize,
    /// Positions after the frozen graphs…
    pub tail: usize,
    /// … of which searched through the delta graphs (the rest are scanned).
    pub delta: usize,
    pub searches: PathCounts,
    pub rebuilds: u64,
    /// Points inserted into delta graphs since the engine opened.
    pub delta_inserts: u64,
    pub last_rebuild_ms: u64,
    pub rebuilding: bool,
    /// Whether the graphs came from the index file at open (no rebuild needed).
    pub loaded_from_file: bool,
    /// Bytes of vectors and graph edges in the process's memory…
    pub memory_bytes: usize,
    /// … and served from the index file's pages (resident only once read, reclaimable).
    pub file_bytes: usize,
}

struct Slot {
    state: RwLock<CollectionState>,
    counters: PathCounters,
    rebuilding: AtomicBool,
    rebuild_lock: Mutex<()>,
    rebuilds: AtomicU64,
    delta_inserts: AtomicU64,
    last_rebuild_ms: AtomicU64,
    loaded_from_file: AtomicBool,
    /// Graph builds started ahead of the next rebuild ([`Engine::seed_graphs`]), per named
    /// vector: over positions `0..len` while the collection is all tail without tombstones.
    seeds: Mutex<Option<Vec<Option<Seed>>>>,
    /// BM25F index of the documents' text, keyed by entity: built from redb at open, updated
    /// by every write after its commit (like the in-memory vectors).
    lexical: RwLock<LexicalIndex>,
}

struct Inner {
    dir: PathBuf,
    store: Store,
    options: EngineOptions,
    collections: [Slot; 3],
    /// Serialises writes so memory applies them in commit order.
    write_lock: Mutex<()>,
    /// Whether writes start background rebuilds ([`EngineOptions::background_rebuild`] at
    /// open; see [`Engine::set_background_rebuild`]).
    background: AtomicBool,
    /// Set when the last caller handle is dropped: no new background rebuilds.
    closing: AtomicBool,
    /// Background threads alive (each decrements after dropping its engine).
    threads: Arc<std::sync::atomic::AtomicUsize>,
}

/// The vector engine. Cheap to clone; all clones share one store. Dropping the last clone
/// waits for a running background rebuild to finish, so the data directory can be reopened
/// at once.
#[derive(Clone)]
pub struct Engine {
    inner: Arc<Inner>,
    /// Shared by the caller's clones only (not by background threads): its drop is the
    /// engine's close.
    _handle: Option<Arc<Handle>>,
}

struct Handle {
    inner: Arc<Inner>,
}

impl Drop for Handle {
    fn drop(&mut self) {
        self.inner.closing.store(true, Ordering::Release);
        // Wait until every background thread has dropped its reference to the store.
        while self.inner.threads.load(Ordering::Acquire) > 0 {
            std::thread::sleep(std::time::Duration::from_millis(2));
        }
    }
}

impl Engine {
    /// Opens (or creates) the engine in `dir`: redb at `dir/vectors.redb`, index files in
    /// `dir/index/`. Valid index files are mapped; missing, stale or damaged ones are rebuilt
    /// from redb.
    pub fn open(dir: &Path, options: EngineOptions) -> Result<Engine> {
        std::fs::create_dir_all(dir).map_err(|e| VectorError::io(dir, e))?;
        let store = Store::open(
            &dir.join("vectors.redb"),
            options.reserve_bytes,
            options.store_cache_bytes,
            options.outbox,
        )?;
        let mut slots = Vec::with_capacity(3);
        let mut loaded = Vec::with_capacity(3);
        for c in Collection::ALL {
            let (mut state, from_file) = load_collection(dir, &store, c, &options)?;
            state.spill_unsearched(&dir.join("index"), &options.indexed.unsearched(c));
            let lexical = load_lexical(&store, &state, lexical_fields(&options, c))?;
            loaded.push(from_file);
            slots.push(Slot {
                state: RwLock::new(state),
                counters: PathCounters::default(),
                rebuilding: AtomicBool::new(false),
                rebuild_lock: Mutex::new(()),
                rebuilds: AtomicU64::new(0),
                last_rebuild_ms: AtomicU64::new(0),
                delta_inserts: AtomicU64::new(0),
                loaded_from_file: AtomicBool::new(from_file),
                seeds: Mutex::new(None),
                lexical: RwLock::new(lexical),
            });
        }
        let collections: [Slot; 3] = match slots.try_into() {
            Ok(s) => s,
            Err(_) => unreachable!("three collections"),
        };
        let inner = Arc::new(Inner {
            dir: dir.to_path_buf(),
            store,
            options,
            collections,
            write_lock: Mutex::new(()),
            background: AtomicBool::new(options.background_rebuild),
            closing: AtomicBool::new(false),
            threads: Arc::new(std::sync::atomic::AtomicUsize::new(0)),
        });
        let engine = Engine {
            _handle: Some(Arc::new(Handle {
                inner: inner.clone(),
            })),
            inner,
        };
        for c in Collection::ALL {
            engine.maybe_rebuild(c);
        }
        Ok(engine)
    }

    /// The options the engine was opened with (`background_rebuild` as at open; see
    /// [`Engine::set_background_rebuild`]).
    pub fn options(&self) -> &EngineOptions {
        &self.inner.options
    }

    /// Turns background rebuilds on or off (a bulk load runs with them off, then turns them
    /// on to serve with the same engine). Turning them on starts any rebuild now due.
    pub fn set_background_rebuild(&self, on: bool) {
        self.inner.background.store(on, Ordering::Release);
        if on {
            for c in Collection::ALL {
                self.maybe_rebuild(c);
            }
        }
    }

    /// The store under the engine: entities' truth, outbox, chat log, task records.
    pub fn store(&self) -> &Store {
        &self.inner.store
    }

    fn slot(&self, c: Collection) -> &Slot {
        &self.inner.collections[c.index()]
    }

    /// Writes one entity (all its named vectors and payload) atomically.
    pub fn upsert(&self, c: Collection, model: &str, entity: EntityUpsert) -> Result<()> {
        self.upsert_batch(c, model, vec![entity])
    }

    /// Writes a batch of entities in one transaction: all or none.
    pub fn upsert_batch(&self, c: Collection, model: &str, batch: Vec<EntityUpsert>) -> Result<()> {
        self.write_batch(c, model, batch, None, self.inner.options.outbox)
    }

    /// Writes entities replicated from elsewhere, each with the revision it had there, in one
    /// transaction, without logging them to the outbox.
    pub fn upsert_replicated(
        &self,
        c: Collection,
        model: &str,
        batch: Vec<(EntityUpsert, String)>,
    ) -> Result<()> {
        let (batch, revs): (Vec<_>, Vec<_>) = batch.into_iter().unzip();
        self.write_batch(c, model, batch, Some(revs), false)
    }

    fn write_batch(
        &self,
        c: Collection,
        model: &str,
        batch: Vec<EntityUpsert>,
        revs: Option<Vec<String>>,
        log: bool,
    ) -> Result<()> {
        if batch.is_empty() {
            return Ok(());
        }
        if batch.len() > MAX_BATCH {
            return Err(StoreError::BadPayload(format!(
                "batch of {} entities, at most {MAX_BATCH}",
                batch.len()
            ))
            .into());
        }
        let names = c.vector_names();
        let fields = lexical_fields(&self.inner.options, c);
        let texts: Vec<DocTerms> = if fields.is_empty() {
            Vec::new()
        } else {
            batch
                .iter()
                .map(|e| lexical::analyse(fields, &e.document))
                .collect()
        };
        let _w = self.inner.write_lock.lock();
        let known_dim = self.slot(c).state.read().dim;
        // Validate and normalise everything before touching the store.
        let mut prepared = Vec::with_capacity(batch.len());
        let mut dim = known_dim;
        for e in &batch {
            if e.id == 0 {
                return Err(StoreError::BadId(0).into());
            }
            e.payload.validate()?;
            for name in e.vectors.keys() {
                c.vector_index(name)?;
            }
            let mut flat = Vec::new();
            for name in names {
                let v = e
                    .vectors
                    .get(*name)
                    .ok_or_else(|| VectorError::MissingVector(name.to_string()))?;
                if dim == 0 {
                    if v.is_empty() || v.len() > MAX_DIMENSION {
                        return Err(VectorError::BadDimension(v.len()));
                    }
                    dim = v.len();
                }
                flat.extend(distance::normalized(name, v, dim)?);
            }
            prepared.push((e.id, flat));
        }
        let records: Vec<NewRecord<'_>> = batch
            .iter()
            .zip(&prepared)
            .enumerate()
            .map(|(i, (e, (id, flat)))| NewRecord {
                entity: *id,
                rev: revs.as_ref().map(|r| r[i].as_str()),
                payload: &e.payload,
                vectors: flat,
                document: &e.document,
            })
            .collect();
        let (written, epoch) = self.inner.store.upsert(c, dim, model, &records, log)?;
        if !fields.is_empty() {
            let docs: Vec<(u64, DocTerms)> = batch.iter().map(|e| e.id).zip(texts).collect();
            self.slot(c).lexical.write().insert_batch(&docs);
        }
        {
            let mut st = self.slot(c).state.write();
            if st.dim == 0 {
                st.dim = dim;
                st.model = Some(model.to_string());
            }
            st.push_many(
                written
                    .iter()
                    .zip(batch.into_iter().zip(prepared))
                    .map(|(w, (e, (_, flat)))| (w.entity, w.slot, Arc::new(e.payload), flat)),
            );
            st.epoch = epoch;
        }
        drop(_w);
        self.maybe_rebuild(c);
        Ok(())
    }

    /// Deletes an entity. Returns whether it existed. It is never returned by a search again.
    pub fn delete(&self, c: Collection, id: u64) -> Result<bool> {
        self.delete_with(c, id, self.inner.options.outbox, None)
    }

    /// Deletes an entity replicated from elsewhere (not logged to the outbox).
    pub fn delete_replicated(&self, c: Collection, id: u64, rev: &str) -> Result<bool> {
        self.delete_with(c, id, false, Some(rev))
    }

    fn delete_with(&self, c: Collection, id: u64, log: bool, rev: Option<&str>) -> Result<bool> {
        let _w = self.inner.write_lock.lock();
        let (removed, epoch) = self.inner.store.delete(c, id, log, rev)?;
        if removed.is_some() {
            let mut st = self.slot(c).state.write();
            st.remove(id);
            st.epoch = epoch;
            drop(st);
            self.slot(c).lexical.write().remove(id);
        }
        drop(_w);
        self.maybe_rebuild(c);
        Ok(removed.is_some())
    }

    /// The stored entity, or `None`.
    pub fn get(&self, c: Collection, id: u64) -> Result<Option<Entity>> {
        let st = self.slot(c).state.read();
        let Some(&pos) = st.live.get(&id) else {
            return Ok(None);
        };
        let mut vectors = BTreeMap::new();
        for (vi, name) in c.vector_names().iter().enumerate() {
            vectors.insert(name.to_string(), st.vector(vi, pos).to_vec());
        }
        Ok(Some(Entity {
            id,
            payload: (*st.payload_of[pos as usize]).clone(),
            vectors,
        }))
    }

    /// The JSON document stored with the entity's live version (`Null` if none was given),
    /// or `None` if the entity does not exist. Read from redb.
    pub fn document(&self, c: Collection, id: u64) -> Result<Option<serde_json::Value>> {
        // Hold the read lock while reading redb: the slot cannot be replaced (write lock) and
        // therefore cannot be compacted away meanwhile.
        let st = self.slot(c).state.read();
        match st.live.get(&id) {
            Some(&pos) => self
                .inner
                .store
                .document(c, st.slots[pos as usize])
                .map(Some)
                .map_err(Into::into),
            None => Ok(None),
        }
    }

    /// The version of an entity's live write — its redb slot, which grows with every write and
    /// is never reused — or `None` when it does not exist. Lets caches keyed by entity know
    /// whether what they hold is still the live version. In memory, no I/O.
    pub fn version(&self, c: Collection, id: u64) -> Option<u64> {
        let st = self.slot(c).state.read();
        st.live.get(&id).map(|&pos| st.slots[pos as usize])
    }

    /// The live version and payload of an entity (one lock, no I/O), or `None`.
    pub fn payload(&self, c: Collection, id: u64) -> Option<(u64, Arc<Payload>)> {
        let st = self.slot(c).state.read();
        st.live
            .get(&id)
            .map(|&pos| (st.slots[pos as usize], st.payload_of[pos as usize].clone()))
    }

    /// One named vector of an entity (L2-normalised, as stored), or `None`.
    pub fn vector(&self, c: Collection, id: u64, name: &str) -> Result<Option<Vec<f32>>> {
        let vi = c.vector_index(name)?;
        let st = self.slot(c).state.read();
        Ok(st.live.get(&id).map(|&pos| st.vector(vi, pos).to_vec()))
    }

    /// Cosine distances from `query` to the named vector of each entity in `ids` (`None` for
    /// an entity that does not exist). `query` must have the collection's dimension.
    pub fn distances(
        &self,
        c: Collection,
        name: &str,
        query: &[f32],
        ids: &[u64],
    ) -> Result<Vec<Option<f32>>> {
        let vi = c.vector_index(name)?;
        let st = self.slot(c).state.read();
        if st.dim == 0 {
            return Ok(vec![None; ids.len()]);
        }
        let q = distance::normalized("query", query, st.dim)?;
        Ok(ids
            .iter()
            .map(|id| {
                st.live
                    .get(id)
                    .map(|&pos| distance::cosine_distance(&q, st.vector(vi, pos)))
            })
            .collect())
    }

    /// Live entities whose payload matches `filter` (at most `limit`), as `(id, version)`
    /// pairs in no particular order. Uses the payload index: cost follows the smallest posting
    /// list of the filter, not the collection.
    pub fn find(&self, c: Collection, filter: &Filter, limit: usize) -> Result<Vec<(u64, u64)>> {
        filter.validate()?;
        let st = self.slot(c).state.read();
        let compiled = st.payloads.compile(filter);
        let mut cands = Vec::new();
        compiled.candidates(&mut cands);
        cands.sort_unstable();
        cands.dedup();
        let mut out = Vec::new();
        for pos in cands {
            if out.len() >= limit {
                break;
            }
            if st.is_dead(pos) || !compiled.matches(pos) {
                continue;
            }
            out.push((st.entities[pos as usize], st.slots[pos as usize]));
        }
        Ok(out)
    }

    /// Ids of every live entity (unordered).
    pub fn ids(&self, c: Collection) -> Vec<u64> {
        self.slot(c).state.read().live.keys().copied().collect()
    }

    /// Nearest neighbours of `req.query`, ascending by cosine distance. Never fewer than
    /// `min(k, number of live entities matching the filter)` results.
    pub fn search(&self, req: &SearchRequest<'_>) -> Result<SearchResult> {
        self.search_with(req, false)
    }

    /// Candidates for a caller that re-ranks them (recommendations): like [`Engine::search`],
    /// but a graph traversal keeps the beam of `ef` (the engine's default when `None`) instead
    /// of widening it to `k`, and returns the `k` nearest of the nodes that beam visited —
    /// exact up to about rank `ef`, approximate past it, at a fraction of a `k`-wide beam's
    /// cost. Filters, tombstones and the planner's paths are as in [`Engine::search`].
    pub fn search_candidates(&self, req: &SearchRequest<'_>) -> Result<SearchResult> {
        self.search_with(req, true)
    }

    fn search_with(&self, req: &SearchRequest<'_>, pool: bool) -> Result<SearchResult> {
        let c = req.collection;
        let vi = validate(req)?;
        let slot = self.slot(c);
        let st = slot.state.read();
        if st.dim == 0 {
            // Nothing stored yet: any well-formed query has no neighbours.
            if req.query.is_empty() || req.query.len() > MAX_DIMENSION {
                return Err(VectorError::BadDimension(req.query.len()));
            }
            distance::normalized("query", req.query, req.query.len())?;
            return Ok(SearchResult {
                hits: Vec::new(),
                path: SearchPath::Exact,
            });
        }
        let query = distance::normalized("query", req.query, st.dim)?;
        let compiled = req.filter.map(|f| st.payloads.compile(f));
        let (hits, path) = st.search(
            vi,
            &query,
            req.k,
            req.ef,
            compiled.as_ref(),
            &self.inner.options.planner,
            pool,
        );
        slot.counters.count(path);
        Ok(SearchResult {
            hits: by_distance_then_id(hits),
            path,
        })
    }

    /// The `k` best documents of `c` for a text query by BM25F (see [`crate::lexical`]), best
    /// first, among the live entities matching `filter`. A filter with few matches is
    /// answered by scoring its matches term at a time ([`lexical::LexicalIndex::search_among`]);
    /// otherwise matches are checked only for documents that would enter the top `k`.
    pub fn search_text(
        &self,
        c: Collection,
        query: &lexical::Query,
        k: usize,
        filter: Option<&Filter>,
    ) -> Result<Vec<LexHit>> {
        self.search_text_above(c, query, k, filter, 0.0)
    }

    /// [`Engine::search_text`] knowing that at least `k` live entities matching `filter`
    /// score above `floor` ([`lexical::LexicalIndex::search_above`]).
    pub fn search_text_above(
        &self,
        c: Collection,
        query: &lexical::Query,
        k: usize,
        filter: Option<&Filter>,
        floor: f32,
    ) -> Result<Vec<LexHit>> {
        if let Some(f) = filter {
            f.validate()?;
        }
        let slot = self.slot(c);
        let st = slot.state.read();
        let lx = slot.lexical.read();
        let Some(f) = filter else {
            return Ok(lx.search_above(query, k, |_| true, floor));
        };
        let compiled = st.payloads.compile(f);
        // Lookups per match against a pass over the terms' postings.
        let lookups = compiled.candidate_count().unwrap_or(usize::MAX);
        if lookups.saturating_mul(query.terms.len().max(1)) < lx.postings_of(query) {
            let mut cands = Vec::new();
            compiled.candidates(&mut cands);
            cands.sort_unstable();
            cands.dedup();
            let ids: Vec<u64> = cands
                .into_iter()
                .filter(|p| !st.is_dead(*p) && compiled.matches(*p))
                .map(|p| st.entities[p as usize])
                .collect();
            return Ok(lx.search_among(query, k, &ids, floor));
        }
        Ok(lx.search_above(
            query,
            k,
            |id| st.live.get(&id).is_some_and(|&pos| compiled.matches(pos)),
            floor,
        ))
    }

    /// The highest BM25F score an entity of `c` holding every term of `query` could reach.
    pub fn text_bound(&self, c: Collection, query: &lexical::Query) -> f32 {
        self.slot(c).lexical.read().bound_of(query)
    }

    /// BM25F scores of the given entities for `query` (`None`: not indexed or not live), for
    /// results another arm found.
    pub fn text_scores(
        &self,
        c: Collection,
        query: &lexical::Query,
        ids: &[u64],
    ) -> Vec<Option<LexHit>> {
        let lx = self.slot(c).lexical.read();
        lx.scores_of(query, ids)
    }

    /// The text of the stored fields of an entity's document (`(field, text)` in field
    /// order), from memory; `None` when it has none.
    pub fn stored_text(&self, c: Collection, id: u64) -> Option<Vec<(&'static str, String)>> {
        let lx = self.slot(c).lexical.read();
        let texts = lx.stored(id)?;
        Some(
            lx.fields()
                .iter()
                .filter(|f| f.stored)
                .zip(texts)
                .map(|(f, t)| (f.name, t.to_string()))
                .collect(),
        )
    }

    /// Live documents, distinct terms and bytes of a collection's lexical index.
    pub fn lexical_stats(&self, c: Collection) -> (usize, usize, usize) {
        let lx = self.slot(c).lexical.read();
        (lx.len(), lx.term_count(), lx.memory_bytes())
    }

    /// Exact nearest neighbours (a full scan), for recall tests and evaluation.
    pub fn search_exact(&self, req: &SearchRequest<'_>) -> Result<Vec<SearchHit>> {
        let mut planner = self.inner.options.planner;
        planner.exact_budget = usize::MAX;
        planner.count_limit = usize::MAX;
        let c = req.collection;
        let vi = validate(req)?;
        let st = self.slot(c).state.read();
        if st.dim == 0 {
            return Ok(Vec::new());
        }
        let query = distance::normalized("query", req.query, st.dim)?;
        let compiled = req.filter.map(|f| st.payloads.compile(f));
        let hits = match compiled {
            Some(f) => {
                st.search(vi, &query, req.k, None, Some(&f), &planner, false)
                    .0
            }
            None => st.exact_all(vi, &query, req.k),
        };
        Ok(by_distance_then_id(hits))
    }

    pub fn stats(&self) -> Vec<CollectionStats> {
        Collection::ALL
            .iter()
            .map(|c| {
                let slot = self.slot(*c);
                let st = slot.state.read();
                let ctr = &slot.counters;
                let (memory_bytes, file_bytes) = st.footprint();
                CollectionStats {
                    name: c.name(),
                    dimension: st.dim,
                    model: st.model.clone(),
                    epoch: st.epoch,
                    live: st.live_count(),
                    tombstones: st.n_dead,
                    frozen: st.frozen_n,
                    tail: st.tail_len(),
                    delta: st.delta_n,
                    searches: PathCounts {
                        graph: ctr.graph.load(Ordering::Relaxed),
                        graph_filtered: ctr.graph_filtered.load(Ordering::Relaxed),
                        exact: ctr.exact.load(Ordering::Relaxed),
                        exact_fallback: ctr.exact_fallback.load(Ordering::Relaxed),
                    },
                    rebuilds: slot.rebuilds.load(Ordering::Relaxed),
                    last_rebuild_ms: slot.last_rebuild_ms.load(Ordering::Relaxed),
                    delta_inserts: slot.delta_inserts.load(Ordering::Relaxed),
                    rebuilding: slot.rebuilding.load(Ordering::Relaxed),
                    loaded_from_file: slot.loaded_from_file.load(Ordering::Relaxed),
                    memory_bytes,
                    file_bytes,
                }
            })
            .collect()
    }

    pub fn collection_stats(&self, c: Collection) -> CollectionStats {
        self.stats().swap_remove(c.index())
    }

    fn maybe_rebuild(&self, c: Collection) {
        if !self.inner.background.load(Ordering::Acquire)
            || self.inner.closing.load(Ordering::Acquire)
        {
            return;
        }
        let slot = self.slot(c);
        let o = &self.inner.options;
        let due = {
            let st = slot.state.read();
            let tombstones =
                st.len() > 64 && st.n_dead as f64 > o.tombstone_ratio * st.len() as f64;
            if st.exact_tail_len() <= o.tail_limit && !tombstones {
                None
            } else if tombstones
                || st.frozen_n == 0
                || st.tail_len() > o.delta_limit.max(st.frozen_n / 4)
            {
                Some(false)
            } else {
                Some(true)
            }
        };
        let bg = Some(Background {
            threads: o.rebuild_threads,
            nice: o.rebuild_nice,
        });
        // Not started: a job of this collection is running (it checks again when done).
        match due {
            None => {}
            Some(true) => {
                let _ = self.spawn_job(c, "delta", move |engine: &Engine| {
                    if let Err(e) = engine.build_delta_on(c, bg) {
                        tracing::error!(collection = %c, error = %e, "background delta build failed");
                    }
                });
            }
            Some(false) => {
                let _ = self.spawn_job(c, "rebuild", move |engine: &Engine| {
                    if let Err(e) = engine.rebuild_on(c, bg) {
                        tracing::error!(collection = %c, error = %e, "background rebuild failed");
                    }
                });
            }
        }
    }

    /// Indexes the positions written since the last full rebuild (the delta) in graphs, so
    /// that searches stop scanning them; a full rebuild later folds them into the frozen
    /// graphs. Incremental: the serving delta graph is copied and only the positions written
    /// since it was built are inserted ([`Graph::extended`]).
    pub fn build_delta(&self, c: Collection) -> Result<()> {
        self.build_delta_on(c, None)
    }

    /// [`Engine::build_delta`], its inserts on the background pool `bg` (if any).
    fn build_delta_on(&self, c: Collection, bg: Option<Background>) -> Result<()> {
        let slot = self.slot(c);
        let _one = slot.rebuild_lock.lock();
        let started = Instant::now();
        let nv = c.vector_names().len();
        let indexed = self.inner.options.indexed;
        let params = self.inner.options.graph.for_delta();
        // The delta graphs serving now (they hold the first `from` positions after the frozen
        // graphs), and how many positions there are: within one state positions are only
        // appended, so the graphs are grown by the positions `from..n`.
        let (id, dim, n, from, first, serving) = {
            let st = slot.state.read();
            let serving: Vec<Option<Arc<Graph>>> = (0..nv)
                .map(|vi| {
                    let g = st
                        .delta
                        .get(vi)
                        .filter(|g| g.n == st.delta_n && g.has_edges());
                    g.cloned()
                })
                .collect();
            // Every indexed vector's graph must be there to be grown; else all are built anew.
            let whole = (0..nv).all(|vi| !indexed.is_indexed(c, vi) || serving[vi].is_some());
            let from = if whole { st.delta_n } else { 0 };
            (st.id, st.dim, st.tail_len(), from, st.frozen_n, serving)
        };
        if dim == 0 || n == 0 || from == n {
            return Ok(());
        }
        let which: Vec<bool> = (0..nv).map(|vi| indexed.is_indexed(c, vi)).collect();
        let positions = (first + from..first + n).map(|p| p as u32);
        let Some(vectors) = self.copy_vectors(c, id, dim, &which, positions) else {
            return Ok(());
        };
        let graphs: Vec<Graph> = on(bg, || {
            serving
                .iter()
                .zip(vectors)
                .map(|(g, v)| match v {
                    Some(v) => match g {
                        Some(g) if from > 0 => g.extended(&v, params),
                        _ => Graph::empty(dim, params).extended(&v, params),
                    },
                    None => Graph::vectors_only(Vec::new(), dim),
                })
                .collect()
        });
        drop(serving);
        slot.delta_inserts
            .fetch_add((n - from) as u64, Ordering::Relaxed);
        let mut st = slot.state.write();
        // A full rebuild or a reload replaced the state meanwhile: its positions differ.
        if st.id != id || !st.set_delta(graphs, n) {
            return Ok(());
        }
        drop(st);
        let built_ms = started.elapsed().as_millis() as u64;
        // The old delta graph is freed now, and the next build needs a larger block than it
        // left: glibc keeps such holes resident, so without this each delta build left its
        // predecessor's pages behind (the soak's RSS rose 7–11 MB per delta build of 2,049
        // points, against 3.5 MB those points hold; docs/decisions/0009).
        crate::memory::release_free();
        tracing::info!(
            collection = %c,
            points = n,
            inserted = n - from,
            ms = built_ms,
            trim_ms = started.elapsed().as_millis() as u64 - built_ms,
            "built delta graphs"
        );
        Ok(())
    }

    /// Copies the named vectors `which` (by index; `None` for the others) of `positions` of
    /// the collection's state `id` (of dimension `dim`), taking the read lock for a few
    /// hundred positions at a time: a snapshot of 100k positions copies ~600 MB, and a read
    /// lock held that long would stall every search behind the first write waiting for the
    /// lock. A position's vectors never change within a state, so copies made under different
    /// locks agree. `None` if the state was replaced meanwhile.
    fn copy_vectors(
        &self,
        c: Collection,
        id: u64,
        dim: usize,
        which: &[bool],
        positions: impl ExactSizeIterator<Item = u32>,
    ) -> Option<Vec<Option<Vec<f32>>>> {
        const CHUNK: usize = 256;
        let slot = self.slot(c);
        let n = positions.len();
        let mut positions = positions.peekable();
        let mut out: Vec<Option<Vec<f32>>> = which
            .iter()
            .map(|w| w.then(|| Vec::with_capacity(n * dim)))
            .collect();
        while positions.peek().is_some() {
            let st = slot.state.read();
            if st.id != id {
                return None;
            }
            for p in positions.by_ref().take(CHUNK) {
                for (vi, v) in out.iter_mut().enumerate() {
                    if let Some(v) = v {
                        v.extend_from_slice(st.vector(vi, p));
                    }
                }
            }
        }
        Some(out)
    }

    /// Runs `job` on a background thread as this collection's one rebuild job (unless one is
    /// running or the engine is closing): [`Engine::wait_idle`] and the engine's close wait
    /// for it, and once it is done any rebuild then due starts.
    /// Returns the job when it was not started (its thread failing to spawn drops it).
    fn spawn_job<F: FnOnce(&Engine) + Send + 'static>(
        &self,
        c: Collection,
        what: &str,
        job: F,
    ) -> Option<F> {
        let slot = self.slot(c);
        if self.inner.closing.load(Ordering::Acquire)
            || slot.rebuilding.swap(true, Ordering::AcqRel)
        {
            return Some(job);
        }
        let threads = self.inner.threads.clone();
        threads.fetch_add(1, Ordering::AcqRel);
        if self.inner.closing.load(Ordering::Acquire) {
            slot.rebuilding.store(false, Ordering::Release);
            threads.fetch_sub(1, Ordering::AcqRel);
            return Some(job);
        }
        // The thread's engine holds no caller handle, so dropping the caller's engine closes.
        let engine = Engine {
            inner: self.inner.clone(),
            _handle: None,
        };
        let thread_count = threads.clone();
        let spawned = std::thread::Builder::new()
            .name(format!("{what}-{c}"))
            .spawn(move || {
                job(&engine);
                engine.slot(c).rebuilding.store(false, Ordering::Release);
                // Writes made during the job may already be due for a rebuild.
                engine.maybe_rebuild(c);
                drop(engine);
                thread_count.fetch_sub(1, Ordering::AcqRel);
            });
        if let Err(e) = spawned {
            tracing::warn!(collection = %c, error = %e, "cannot start a {what} thread");
            slot.rebuilding.store(false, Ordering::Release);
            threads.fetch_sub(1, Ordering::AcqRel);
        }
        None
    }

    /// For a bulk load: inserts the vectors written to `c` since the last call (when at least
    /// `min_new` were) into graph builds for its next rebuild, on this thread, so the build
    /// overlaps the load and the rebuild only inserts the rest. Only while the collection is
    /// all tail without tombstones (its positions are then exactly what a rebuild snapshots);
    /// otherwise the seeds are dropped. Returns the points seeded so far.
    pub fn seed_graphs(&self, c: Collection, min_new: usize) -> usize {
        let nv = c.vector_names().len();
        let indexed: Vec<bool> = (0..nv)
            .map(|vi| self.inner.options.indexed.is_indexed(c, vi))
            .collect();
        if !indexed.contains(&true) {
            return 0;
        }
        let slot = self.slot(c);
        let mut seeds = slot.seeds.lock();
        let from = seeds
            .as_ref()
            .and_then(|s| s.iter().flatten().next())
            .map_or(0, |s| s.len());
        let (dim, to, chunk) = {
            let st = slot.state.read();
            if st.frozen_n != 0 || st.n_dead != 0 || st.dim == 0 || st.len() < from {
                *seeds = None;
                return 0;
            }
            let to = st.len();
            if to < from + min_new.max(1) {
                return from;
            }
            let chunk: Vec<Option<Vec<f32>>> = indexed
                .iter()
                .enumerate()
                .map(|(vi, on)| {
                    on.then(|| {
                        let mut v = Vec::with_capacity((to - from) * st.dim);
                        for p in from..to {
                            v.extend_from_slice(st.vector(vi, p as u32));
                        }
                        v
                    })
                })
                .collect();
            (st.dim, to, chunk)
        };
        let params = self.inner.options.graph;
        let list = seeds.get_or_insert_with(|| {
            indexed
                .iter()
                .map(|on| on.then(|| Seed::new(dim, to.max(1 << 16), params)))
                .collect()
        });
        for (seed, v) in list.iter_mut().zip(chunk) {
            if let (Some(seed), Some(v)) = (seed, v) {
                seed.extend(&v, false);
            }
        }
        to
    }

    /// Drops the graph builds [`Engine::seed_graphs`] started that no rebuild used.
    pub fn discard_seeds(&self) {
        for c in Collection::ALL {
            *self.slot(c).seeds.lock() = None;
        }
    }

    /// Waits until no background rebuild is running.
    pub fn wait_idle(&self) {
        for c in Collection::ALL {
            while self.slot(c).rebuilding.load(Ordering::Acquire) {
                std::thread::sleep(std::time::Duration::from_millis(5));
            }
            drop(self.slot(c).rebuild_lock.lock());
        }
    }

    /// Rebuilds a collection's graphs over its live entities, swaps them in, writes the index
    /// file and compacts redb. Searches and writes continue meanwhile.
    pub fn rebuild(&self, c: Collection) -> Result<()> {
        self.rebuild_on(c, None)
    }

    /// [`Engine::rebuild`], its graph build on the background pool `bg` (if any). Only the
    /// build runs there: the swap and the compaction hold locks requests wait for, and a
    /// thread at a lower priority holding them would make requests wait for the CPU it gets.
    fn rebuild_on(&self, c: Collection, bg: Option<Background>) -> Result<()> {
        let _one = self.slot(c).rebuild_lock.lock();
        match self.rebuild_graphs(c, self.inner.options.graph, bg) {
            Some(generation) => self.persist(c, generation),
            None => Ok(()),
        }
    }

    /// Like [`Engine::rebuild`], but returns as soon as the new graphs serve: the index file
    /// is written and redb compacted on a background thread (a bulk load does not wait for
    /// hundreds of MB to reach the disk before serving). [`Engine::wait_idle`] and the
    /// engine's close wait for that thread; a crash before it is done only costs a graph
    /// build at the next start.
    /// `params`: the graphs' build parameters for this rebuild (later ones use the engine's).
    pub fn rebuild_persisting_later(&self, c: Collection, params: GraphParams) -> Result<()> {
        let generation = {
            let _one = self.slot(c).rebuild_lock.lock();
            self.rebuild_graphs(c, params, None)
        };
        let Some(generation) = generation else {
            return Ok(());
        };
        let job = move |engine: &Engine| {
            let _one = engine.slot(c).rebuild_lock.lock();
            if let Err(e) = engine.persist(c, generation) {
                tracing::warn!(collection = %c, error = %e, "could not persist the rebuilt graphs");
            }
        };
        if let Some(job) = self.spawn_job(c, "persist", job) {
            // A job of this collection is running (or the engine is closing): persist now.
            job(self);
        }
        Ok(())
    }

    /// Builds new graphs over the live entities and swaps them in (the caller holds the
    /// rebuild lock); returns the generation to persist, `None` when there is nothing stored.
    fn rebuild_graphs(
        &self,
        c: Collection,
        params: GraphParams,
        bg: Option<Background>,
    ) -> Option<Generation> {
        let slot = self.slot(c);
        let started = Instant::now();
        let nv = c.vector_names().len();
        let mut seeds = slot.seeds.lock().take();
        // 1. Snapshot the live positions under a read lock, then copy their vectors a chunk
        // per read lock (below).
        let (id, dim, model, epoch, old_len, live, entities, slots, payloads) = {
            let st = slot.state.read();
            if st.frozen_n != 0 || st.n_dead != 0 {
                // Seeds hold positions 0..len of an all-tail generation without tombstones:
                // only then are they the first positions of this snapshot.
                seeds = None;
            }
            let live = st.live_positions();
            let entities: Vec<u64> = live.iter().map(|p| st.entities[*p as usize]).collect();
            let slots: Vec<u64> = live.iter().map(|p| st.slots[*p as usize]).collect();
            let payloads: Vec<Arc<Payload>> = live
                .iter()
                .map(|p| st.payload_of[*p as usize].clone())
                .collect();
            let (id, dim, model, epoch, len) =
                (st.id, st.dim, st.model.clone(), st.epoch, st.len());
            (id, dim, model, epoch, len, live, entities, slots, payloads)
        };
        if dim == 0 {
            return None;
        }
        let vectors: Vec<Vec<f32>> =
            match self.copy_vectors(c, id, dim, &vec![true; nv], live.iter().copied()) {
                Some(v) => v.into_iter().map(Option::unwrap_or_default).collect(),
                // Replaced meanwhile (a reload): a rebuild then due starts after this job.
                None => return None,
            };
        drop(live);
        let snapshot_ms = started.elapsed().as_millis() as u64;
        // 2. Build outside any lock.
        let indexed = self.inner.options.indexed;
        let mut next = on(bg, || {
            let graphs = indexed.build(c, vectors, dim, params, seeds);
            CollectionState::with_frozen(
                c,
                dim,
                model,
                epoch,
                Frozen {
                    graphs,
                    entities: entities.clone(),
                    slots: slots.clone(),
                    payloads,
                },
            )
        });
        next.spill_unsearched(&self.inner.dir.join("index"), &indexed.unsearched(c));
        let frozen: Vec<Arc<Graph>> = next.frozen.clone();
        // 3. Reconcile with writes made since the snapshot, and swap.
        let built_ms = started.elapsed().as_millis() as u64;
        let old = {
            let mut st = slot.state.write();
            for (pos, (e, s)) in entities.iter().zip(&slots).enumerate() {
                let still = st.live.get(e).is_some_and(|p| st.slots[*p as usize] == *s);
                if !still {
                    next.live.remove(e);
                    next.kill(pos as u32);
                }
            }
            next.push_many(
                (old_len..st.len())
                    .map(|p| p as u32)
                    .filter(|p| !st.is_dead(*p))
                    .map(|p| {
                        let i = p as usize;
                        (
                            st.entities[i],
                            st.slots[i],
                            st.payload_of[i].clone(),
                            st.vectors_of(p),
                        )
                    }),
            );
            next.epoch = st.epoch;
            next.model = st.model.clone();
            std::mem::replace(&mut *st, next)
        };
        tracing::debug!(
            collection = %c,
            snapshot_ms,
            build_ms = built_ms - snapshot_ms,
            swap_ms = started.elapsed().as_millis() as u64 - built_ms,
            "rebuild phases"
        );
        // Freeing the old generation (its tail vectors, payload index) takes ~1 s at 100k
        // points: not on the caller's time (a failed spawn drops it here).
        let _ = std::thread::Builder::new()
            .name(format!("drop-{c}"))
            .spawn(move || {
                drop(old);
                crate::memory::release_free();
            });
        slot.rebuilds.fetch_add(1, Ordering::Relaxed);
        slot.last_rebuild_ms
            .store(started.elapsed().as_millis() as u64, Ordering::Relaxed);
        tracing::info!(
            collection = %c,
            points = entities.len(),
            ms = started.elapsed().as_millis() as u64,
            "rebuilt graphs"
        );
        Some(Generation {
            epoch,
            dim,
            entities,
            slots,
            graphs: frozen,
        })
    }

    /// Writes a rebuilt generation's index file and drops the records of dead slots from redb
    /// (the caller holds the rebuild lock).
    fn persist(&self, c: Collection, generation: Generation) -> Result<()> {
        let started = Instant::now();
        // Derived data: a failure here loses nothing.
        let refs: Vec<&Graph> = generation.graphs.iter().map(|g| g.as_ref()).collect();
        if let Err(e) = index_file::write(
            &index_path(&self.inner.dir, c),
            self.inner.store.store_id,
            generation.epoch,
            generation.dim,
            &generation.entities,
            &generation.slots,
            &refs,
        ) {
            tracing::warn!(collection = %c, error = %e, "could not write the index file; it will be rebuilt at next start");
        } else {
            self.serve_unsearched_from_file(c, &generation);
        }
        drop(generation);
        let written_ms = started.elapsed().as_millis() as u64;
        // A chunk at a time under the write lock, then the lock goes to a waiting writer.
        let removed = self.inner.store.compact(c, |compact| {
            let w = self.inner.write_lock.lock();
            let done = compact();
            parking_lot::MutexGuard::unlock_fair(w);
            done
        });
        // One trim for the generation dropped above and the compaction's transactions, even
        // if the compaction failed: the rebuild's saw reaches its bottom now, not at the next
        // delta build's trim.
        crate::memory::release_free();
        let removed = removed?;
        tracing::debug!(
            collection = %c,
            written_ms,
            compact_ms = started.elapsed().as_millis() as u64 - written_ms,
            removed,
            "index file written, store compacted"
        );
        Ok(())
    }
}

impl Engine {
    /// Once a rebuilt generation's index file is written, the vectors no graph search reads
    /// (the named vectors without a graph, which only exact searches scan) are served from
    /// the file's pages instead of the heap copy the build made: the same bytes, but pages
    /// the kernel can reclaim and that cost no resident memory until scanned — 460 MB at
    /// 100k jobs, which a start from the file never held. Does nothing when the file does not
    /// read back as exactly this generation or the collection moved on to another one.
    fn serve_unsearched_from_file(&self, c: Collection, generation: &Generation) {
        let unsearched = |g: &Graph| g.n > 0 && !g.has_edges();
        if !generation.graphs.iter().any(|g| unsearched(g)) {
            return;
        }
        let file = match index_file::read(&index_path(&self.inner.dir, c)) {
            Ok(f) => f,
            Err(e) => {
                tracing::debug!(collection = %c, error = %e, "the index file just written does not read back");
                return;
            }
        };
        if file.store_id != self.inner.store.store_id
            || file.epoch != generation.epoch
            || file.dim != generation.dim
            || file.entities != generation.entities
            || file.slots != generation.slots
            || file.graphs.len() != generation.graphs.len()
        {
            return;
        }
        let mut freed = Vec::new();
        {
            let mut st = self.slot(c).state.write();
            for ((mine, from_file), serving) in generation
                .graphs
                .iter()
                .zip(file.graphs)
                .zip(st.frozen.iter_mut())
            {
                if unsearched(mine) && from_file.n == mine.n && Arc::ptr_eq(serving, mine) {
                    freed.push(std::mem::replace(serving, Arc::new(from_file)));
                }
            }
        }
        tracing::debug!(collection = %c, graphs = freed.len(), "unsearched vectors served from the index file");
    }
}

/// A rebuilt generation of a collection, as the index file records it.
struct Generation {
    /// The store's epoch at the snapshot the graphs were built from.
    epoch: u64,
    dim: usize,
    entities: Vec<u64>,
    slots: Vec<u64>,
    graphs: Vec<Arc<Graph>>,
}

/// Checks a search request's k, ef, vector name and filter; returns the vector's index.
fn validate(req: &SearchRequest<'_>) -> Result<usize> {
    let vi = req.collection.vector_index(req.vector)?;
    if req.k == 0 || req.k > MAX_K {
        return Err(VectorError::BadK { got: req.k });
    }
    if let Some(ef) = req.ef {
        if ef == 0 || ef > MAX_EF {
            return Err(VectorError::BadEf { got: ef });
        }
    }
    if let Some(f) = req.filter {
        f.validate()?;
    }
    Ok(vi)
}

/// Hits ordered by distance, equal distances by entity id: the order does not depend on where
/// entities happen to sit in memory, so a store rebuilt elsewhere answers identically.
fn by_distance_then_id(mut hits: Vec<SearchHit>) -> Vec<SearchHit> {
    hits.sort_by(|a, b| a.distance.total_cmp(&b.distance).then(a.id.cmp(&b.id)));
    hits
}

fn index_path(dir: &Path, c: Collection) -> PathBuf {
    dir.join("index").join(format!("{}.idx", c.name()))
}

/// Loads a collection: from its index file plus the redb tail when the file is valid,
/// otherwise from redb alone (building graphs when the collection is large enough).
fn lexical_fields(options: &EngineOptions, c: Collection) -> &'static [Field] {
    options.lexical.map_or(&[], |s| s.fields(c))
}

/// The lexical index of a collection's live documents, read from redb.
fn load_lexical(
    store: &Store,
    state: &CollectionState,
    fields: &'static [Field],
) -> Result<LexicalIndex> {
    if fields.is_empty() || state.live_count() == 0 {
        return Ok(LexicalIndex::new(fields));
    }
    let c = state.kind;
    // Live slot → entity.
    let owner: HashMap<u64, u64> = state
        .live
        .iter()
        .map(|(id, pos)| (state.slots[*pos as usize], *id))
        .collect();
    // Chunks parsed and tokenised in parallel, inserted, dropped: only a chunk's documents
    // are held at once.
    const CHUNK: usize = 4096;
    let mut index = LexicalIndex::new(fields);
    let mut raw: Vec<(u64, Vec<u8>)> = Vec::with_capacity(CHUNK);
    let analyse = |raw: &mut Vec<(u64, Vec<u8>)>, index: &mut LexicalIndex| {
        let done: Vec<(u64, DocTerms)> = raw
            .par_iter()
            .map(|(id, bytes)| {
                let doc = serde_json::from_slice(bytes).unwrap_or(serde_json::Value::Null);
                (*id, lexical::analyse(fields, &doc))
            })
            .collect();
        index.insert_batch(&done);
        raw.clear();
    };
    store.for_each_document(c, |slot, bytes| {
        if let Some(&id) = owner.get(&slot) {
            raw.push((id, bytes.to_vec()));
            if raw.len() == CHUNK {
                analyse(&mut raw, &mut index);
            }
        }
    })?;
    analyse(&mut raw, &mut index);
    Ok(index)
}

fn load_collection(
    dir: &Path,
    store: &Store,
    c: Collection,
    options: &EngineOptions,
) -> Result<(CollectionState, bool)> {
    let meta = store.meta(c)?;
    let Some(dim) = meta.dim else {
        return Ok((CollectionState::empty(c, 0, None, meta.epoch), false));
    };
    let live = store.live(c)?;
    let path = index_path(dir, c);
    let nv = c.vector_names().len();
    match index_file::read(&path) {
        Ok(file)
            if file.store_id == store.store_id
                && file.epoch <= meta.epoch
                && file.dim == dim
                && file.graphs.len() == nv
                && file.graphs.iter().enumerate().all(|(vi, g)| {
                    g.n == 0 || g.has_edges() == options.indexed.is_indexed(c, vi)
                }) =>
        {
            let min_slot = file.slots.first().copied().unwrap_or(0);
            let mut payload_map = store.payloads_from(c, min_slot)?;
            let payloads: Vec<Arc<Payload>> = file
                .entities
                .iter()
                .zip(&file.slots)
                .map(|(e, s)| {
                    if live.get(e) == Some(s) {
                        Arc::new(payload_map.remove(s).unwrap_or_default())
                    } else {
                        Payload::none()
                    }
                })
                .collect();
            // Only positions holding their entity's live version stand for a slot: a slot the
            // file gives to another entity (a crafted file) is still loaded from redb.
            let file_slots: std::collections::HashSet<u64> = file
                .entities
                .iter()
                .zip(&file.slots)
                .filter(|&(e, s)| live.get(e) == Some(s))
                .map(|(_, s)| *s)
                .collect();
            let mut state = CollectionState::with_frozen(
                c,
                dim,
                meta.model.clone(),
                meta.epoch,
                Frozen {
                    // Accepted: only now is it worth coding the graphs' vectors and moving them
                    // to huge pages.
                    graphs: file.graphs.into_iter().map(Graph::for_serving).collect(),
                    entities: file.entities.clone(),
                    slots: file.slots.clone(),
                    payloads,
                },
            );
            for (pos, (e, s)) in file.entities.iter().zip(&file.slots).enumerate() {
                if live.get(e) != Some(s) {
                    state.live.remove(e);
                    state.kill(pos as u32);
                }
            }
            let mut newer: Vec<u64> = live
                .values()
                .filter(|s| !file_slots.contains(s))
                .copied()
                .collect();
            newer.sort_unstable();
            state.push_many(
                store
                    .records(c, &newer)?
                    .into_iter()
                    .map(|r| (r.entity, r.slot, Arc::new(r.payload), r.vectors)),
            );
            tracing::info!(collection = %c, frozen = state.frozen_n, tail = state.tail_len(), "index file loaded");
            Ok((state, true))
        }
        other => {
            match &other {
                Ok(_) => {
                    tracing::warn!(collection = %c, path = %path.display(), "index file is stale (other store or newer epoch); rebuilding from redb")
                }
                Err(index_file::IndexFileProblem::Missing) if live.is_empty() => {}
                Err(problem) => {
                    tracing::warn!(collection = %c, path = %path.display(), %problem, "index file unusable; rebuilding from redb")
                }
            }
            drop(other);
            let mut slots: Vec<u64> = live.values().copied().collect();
            slots.sort_unstable();
            let records = store.records(c, &slots)?;
            let mut state = CollectionState::empty(c, dim, meta.model.clone(), meta.epoch);
            if records.len() <= options.tail_limit {
                state.push_many(
                    records
                        .into_iter()
                        .map(|r| (r.entity, r.slot, Arc::new(r.payload), r.vectors)),
                );
                return Ok((state, false));
            }
            let mut vectors: Vec<Vec<f32>> = vec![Vec::with_capacity(records.len() * dim); nv];
            let mut entities = Vec::with_capacity(records.len());
            let mut payloads = Vec::with_capacity(records.len());
            for r in records {
                for (vi, v) in vectors.iter_mut().enumerate() {
                    v.extend_from_slice(&r.vectors[vi * dim..(vi + 1) * dim]);
                }
                entities.push(r.entity);
                payloads.push(Arc::new(r.payload));
            }
            let graphs = options.indexed.build(c, vectors, dim, options.graph, None);
            let refs: Vec<&Graph> = graphs.iter().collect();
            if let Err(e) = index_file::write(
                &path,
                store.store_id,
                meta.epoch,
                dim,
                &entities,
                &slots,
                &refs,
            ) {
                tracing::warn!(collection = %c, error = %e, "could not write the index file");
            }
            drop(refs);
            let state = CollectionState::with_frozen(
                c,
                dim,
                meta.model.clone(),
                meta.epoch,
                Frozen {
                    graphs,
                    entities,
                    slots,
                    payloads,
                },
            );
            Ok((state, false))
        }
    }
}

/// Sets the calling thread's nice value (Linux: per thread). Raising it needs no privilege;
/// a failure only leaves the thread at the requests' priority.
fn lower_priority(nice: i32) {
    if nice <= 0 {
        return;
    }
    #[cfg(target_os = "linux")]
    // SAFETY: gettid and setpriority take plain integers and touch no memory of ours.
    unsafe {
        let tid = libc::gettid();
        if libc::setpriority(libc::PRIO_PROCESS, tid as libc::id_t, nice.min(19)) != 0 {
            tracing::debug!("cannot lower a rebuild thread's priority");
        }
    }
}

/// Where a background build runs its CPU-heavy part: a pool of `threads` at nice `nice`.
#[derive(Debug, Clone, Copy)]
struct Background {
    threads: usize,
    nice: i32,
}

/// Runs `f` on the background pool `bg`, or here (rayon work on the global pool) when `None`.
fn on<R: Send>(bg: Option<Background>, f: impl FnOnce() -> R + Send) -> R {
    match bg {
        Some(bg) => in_pool(bg.threads, bg.nice, f),
        None => f(),
    }
}

/// Runs `f` on a pool of `threads` threads at nice value `nice` (rayon work inside it stays
/// there), or on the global pool if that pool cannot be made.
fn in_pool<R: Send>(threads: usize, nice: i32, f: impl FnOnce() -> R + Send) -> R {
    match rayon::ThreadPoolBuilder::new()
        .num_threads(threads.max(1))
        .thread_name(|i| format!("rebuild-pool-{i}"))
        .start_handler(move |_| lower_priority(nice))
        .build()
    {
        Ok(pool) => pool.install(f),
        Err(_) => f(),
    }
}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    /// The calling thread's nice value.
    fn nice_here() -> i32 {
        // SAFETY: plain integer calls; errno is this thread's.
        unsafe {
            *libc::__errno_location() = 0;
            libc::getpriority(libc::PRIO_PROCESS, libc::gettid() as libc::id_t)
        }
    }

    #[test]
    fn background_pools_run_at_the_nice_value_given() {
        let base = nice_here();
        assert_eq!(super::in_pool(1, 7, nice_here), 7.max(base));
        assert_eq!(super::in_pool(2, 0, nice_here), base);
        // The calling thread keeps its own priority.
        assert_eq!(nice_here(), base);
    }
}
