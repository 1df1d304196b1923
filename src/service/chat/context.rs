//! What a turn tells the model besides the conversation: the user's latest resume and the
//! jobs the engine matches to it and to the question.

use serde_json::Value;

use super::prompts::{self, Context, JobFact};
use crate::entity::Id;
use crate::service::{AiService, EntitySearch, RecommendRequest};
use crate::store::Collection;

/// Jobs cited per source (the resume's recommendations, the question's nearest jobs).
const JOBS_PER_SOURCE: usize = 3;
/// A job found by the question's text must be at most this far (cosine distance) to be cited:
/// a greeting has no nearest job worth citing.
const MAX_QUESTION_JOB_DISTANCE: f32 = 0.8;

impl AiService {
    /// The facts the model is given: the user's latest resume (for the types that review
    /// it) and jobs matching the resume and the question (for career questions).
    pub(super) async fn gather_context(&self, user: Id, kind: &str, question: &str) -> Context {
        let mut ctx = Context::default();
        let (wants_resume, wants_jobs) = prompts::needs(kind);
        if !wants_resume && !wants_jobs {
            return ctx;
        }
        match self.latest_resume(user) {
            Ok(Some(id)) => {
                ctx.resume_id = Some(id);
                match self.engine.document(Collection::Resumes, id) {
                    Ok(Some(doc)) if wants_resume => ctx.resume = Some(doc),
                    Ok(_) => {}
                    Err(e) => tracing::warn!(error = %e, "resume not read for chat"),
                }
            }
            Ok(None) => {}
            Err(e) => tracing::warn!(error = %e, "resume not found for chat"),
        }
        if !wants_jobs {
            return ctx;
        }
        let mut ids: Vec<(u64, &'static str)> = Vec::new();
        if ctx.resume_id.is_some() {
            let req = RecommendRequest {
                user_id: user,
                limit: Some(JOBS_PER_SOURCE),
                filters: None,
                profile_text: None,
            };
            match self.recommend_jobs_unsaved(req).await {
                Ok(r) => ids.extend(
                    r.recommendations
                        .iter()
                        .filter_map(|x| x.job_id)
                        .map(|id| (id.0, "resume")),
                ),
                Err(e) => tracing::debug!(error = %e, "no recommendations for chat"),
            }
        }
        let search = EntitySearch {
            query: question.chars().take(2_000).collect(),
            limit: Some(JOBS_PER_SOURCE),
            filters: None,
            mode: None,
        };
        match self.search_entities(Collection::Jobs, search).await {
            Ok(r) => {
                for hit in r.results {
                    let id = hit.get("job_id").and_then(Value::as_u64);
                    let d = hit.get("distance").and_then(Value::as_f64);
                    // A job holding words of the question, or close to it in meaning.
                    let words = hit
                        .get("scores")
                        .and_then(|s| s.get("lexical"))
                        .is_some_and(|l| !l.is_null());
                    if let (Some(id), Some(d)) = (id, d) {
                        if (words || d <= f64::from(MAX_QUESTION_JOB_DISTANCE))
                            && !ids.iter().any(|(x, _)| *x == id)
                        {
                            ids.push((id, "question"));
                        }
                    }
                }
            }
            Err(e) => tracing::debug!(error = %e, "no jobs for the chat question"),
        }
        for (id, why) in ids {
            if let Ok(Some(doc)) = self.engine.document(Collection::Jobs, id) {
                ctx.jobs.push(JobFact::from_document(id, why, &doc));
            }
        }
        ctx
    }
}
