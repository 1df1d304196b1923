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
mod load;
mod read;
mod rebuild;
mod spill;
mod write;

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
use load::{index_path, lexical_fields, load_collection, load_lexical};

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
}
