//! A single frozen index over one vector set, with the engine's payload filters and planner,
//! but no redb: what `eval-ann` and the benches measure. It runs exactly the code that
//! [`super::Engine::search`] runs once it holds the collection's read lock.

use std::sync::Arc;

use super::collection::{CollectionState, Frozen, PathCounters, PlannerParams, SearchPath};
use super::distance;
use super::error::{Result, VectorError};
use super::graph::{Graph, GraphParams};
use super::{Filter, PathCounts, SearchHit};
use crate::store::{Collection, Payload, StoreError};

pub struct AnnIndex {
    state: CollectionState,
    planner: PlannerParams,
    counters: PathCounters,
}

impl AnnIndex {
    /// Builds over `vectors` (`n * dim`; normalised here), id of point `i` is `i`.
    pub fn build(
        mut vectors: Vec<f32>,
        dim: usize,
        payloads: Vec<Payload>,
        graph: GraphParams,
        planner: PlannerParams,
    ) -> Result<AnnIndex> {
        if dim == 0 || dim > super::MAX_DIMENSION || !vectors.len().is_multiple_of(dim) {
            return Err(VectorError::BadDimension(dim));
        }
        let n = vectors.len() / dim;
        if payloads.len() != n {
            return Err(StoreError::BadPayload(format!(
                "{} payloads for {n} vectors",
                payloads.len()
            ))
            .into());
        }
        for (i, v) in vectors.chunks_exact_mut(dim).enumerate() {
            let u = distance::normalized(&format!("point {i}"), v, dim)?;
            v.copy_from_slice(&u);
        }
        let g = Graph::build(vectors, dim, graph);
        let ids: Vec<u64> = (0..n as u64).collect();
        let state = CollectionState::with_frozen(
            Collection::Jobs,
            dim,
            None,
            0,
            Frozen {
                graphs: vec![g],
                entities: ids.clone(),
                slots: ids,
                payloads: payloads.into_iter().map(Arc::new).collect(),
            },
        );
        Ok(AnnIndex {
            state,
            planner,
            counters: PathCounters::default(),
        })
    }

    pub fn len(&self) -> usize {
        self.state.len()
    }

    pub fn is_empty(&self) -> bool {
        self.state.len() == 0
    }

    /// Bytes held by the graph (vectors and adjacency) and the position tables.
    pub fn memory_bytes(&self) -> usize {
        self.state
            .frozen
            .iter()
            .map(|g| g.memory_bytes())
            .sum::<usize>()
            + self.state.len() * (8 + 8 + 8)
    }

    pub fn dim(&self) -> usize {
        self.state.dim
    }

    /// Planner-driven search (graph, filtered graph or exact), as the engine does it.
    pub fn search(
        &self,
        query: &[f32],
        k: usize,
        ef: Option<usize>,
        filter: Option<&Filter>,
    ) -> Result<(Vec<SearchHit>, SearchPath)> {
        self.search_planned(&self.planner, query, k, ef, filter)
    }

    /// [`AnnIndex::search`] under other planner tunables than the index's own: one index
    /// measured under several.
    pub fn search_planned(
        &self,
        planner: &PlannerParams,
        query: &[f32],
        k: usize,
        ef: Option<usize>,
        filter: Option<&Filter>,
    ) -> Result<(Vec<SearchHit>, SearchPath)> {
        let q = distance::normalized("query", query, self.state.dim)?;
        let compiled = filter.map(|f| self.state.payloads.compile(f));
        let (hits, path) = self
            .state
            .search(0, &q, k, ef, compiled.as_ref(), planner, false);
        self.counters.count(path);
        Ok((hits, path))
    }

    pub fn path_counts(&self) -> PathCounts {
        use std::sync::atomic::Ordering::Relaxed;
        PathCounts {
            graph: self.counters.graph.load(Relaxed),
            graph_filtered: self.counters.graph_filtered.load(Relaxed),
            exact: self.counters.exact.load(Relaxed),
            exact_fallback: self.counters.exact_fallback.load(Relaxed),
        }
    }

    pub fn reset_counts(&self) {
        use std::sync::atomic::Ordering::Relaxed;
        self.counters.graph.store(0, Relaxed);
        self.counters.graph_filtered.store(0, Relaxed);
        self.counters.exact.store(0, Relaxed);
        self.counters.exact_fallback.store(0, Relaxed);
    }
}
