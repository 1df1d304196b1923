//! The read path: entities and documents by id, vector and text searches (through the
//! planner), exact scans and statistics.

use super::*;

impl Engine {
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

    pub(super) fn search_with(&self, req: &SearchRequest<'_>, pool: bool) -> Result<SearchResult> {
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
}

/// Checks a search request's k, ef, vector name and filter; returns the vector's index.
pub(super) fn validate(req: &SearchRequest<'_>) -> Result<usize> {
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
pub(super) fn by_distance_then_id(mut hits: Vec<SearchHit>) -> Vec<SearchHit> {
    hits.sort_by(|a, b| a.distance.total_cmp(&b.distance).then(a.id.cmp(&b.id)));
    hits
}
