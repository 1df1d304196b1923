//! Opening a collection: its index file mapped and checked, or its graphs rebuilt from the
//! store, and its lexical index built from the stored documents.

use super::*;

pub(super) fn index_path(dir: &Path, c: Collection) -> PathBuf {
    dir.join("index").join(format!("{}.idx", c.name()))
}

/// Loads a collection: from its index file plus the redb tail when the file is valid,
/// otherwise from redb alone (building graphs when the collection is large enough).
pub(super) fn lexical_fields(options: &EngineOptions, c: Collection) -> &'static [Field] {
    options.lexical.map_or(&[], |s| s.fields(c))
}

/// The lexical index of a collection's live documents, read from redb.
pub(super) fn load_lexical(
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

pub(super) fn load_collection(
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
