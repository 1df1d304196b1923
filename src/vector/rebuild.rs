//! Rebuilds: delta graphs over the tail, full rebuilds that drop tombstones, their background
//! threads (one pool at a lower priority), and persisting a generation to its index file.

use super::*;

impl Engine {
    pub(super) fn maybe_rebuild(&self, c: Collection) {
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
    pub(super) fn build_delta_on(&self, c: Collection, bg: Option<Background>) -> Result<()> {
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
    pub(super) fn copy_vectors(
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
    pub(super) fn spawn_job<F: FnOnce(&Engine) + Send + 'static>(
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
    pub(super) fn rebuild_on(&self, c: Collection, bg: Option<Background>) -> Result<()> {
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
    pub(super) fn rebuild_graphs(
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
    pub(super) fn persist(&self, c: Collection, generation: Generation) -> Result<()> {
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
    pub(super) fn serve_unsearched_from_file(&self, c: Collection, generation: &Generation) {
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
pub(super) struct Generation {
    /// The store's epoch at the snapshot the graphs were built from.
    epoch: u64,
    dim: usize,
    entities: Vec<u64>,
    slots: Vec<u64>,
    graphs: Vec<Arc<Graph>>,
}

/// Sets the calling thread's nice value (Linux: per thread). Raising it needs no privilege;
/// a failure only leaves the thread at the requests' priority.
pub(super) fn lower_priority(nice: i32) {
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
pub(super) struct Background {
    threads: usize,
    nice: i32,
}

/// Runs `f` on the background pool `bg`, or here (rayon work on the global pool) when `None`.
pub(super) fn on<R: Send>(bg: Option<Background>, f: impl FnOnce() -> R + Send) -> R {
    match bg {
        Some(bg) => in_pool(bg.threads, bg.nice, f),
        None => f(),
    }
}

/// Runs `f` on a pool of `threads` threads at nice value `nice` (rayon work inside it stays
/// there), or on the global pool if that pool cannot be made.
pub(super) fn in_pool<R: Send>(threads: usize, nice: i32, f: impl FnOnce() -> R + Send) -> R {
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
