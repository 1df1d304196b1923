//! The write path: upserts and deletes commit to the store first, then apply to memory (vectors,
//! lexical index) under a short write lock, in commit order.

use super::*;

impl Engine {
    /// Writes one entity (all its named vectors and payload) atomically.
    pub fn upsert(&self, c: Collection, model: &str, entity: EntityUpsert) -> Result<()> {
        self.upsert_batch(c, model, vec![entity])
    }

    /// Writes a batch of entities in one transaction: all or none.
    pub fn upsert_batch(&self, c: Collection, model: &str, batch: Vec<EntityUpsert>) -> Result<()> {
        self.write_batch(c, model, batch, None, self.inner.store.logs_outbox())
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

    pub(super) fn write_batch(
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
        self.delete_with(c, id, self.inner.store.logs_outbox(), None)
    }

    /// Deletes an entity replicated from elsewhere (not logged to the outbox).
    pub fn delete_replicated(&self, c: Collection, id: u64, rev: &str) -> Result<bool> {
        self.delete_with(c, id, false, Some(rev))
    }

    pub(super) fn delete_with(
        &self,
        c: Collection,
        id: u64,
        log: bool,
        rev: Option<&str>,
    ) -> Result<bool> {
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
}
