//! Analyse use-cases: validate → LLM (schema-constrained, parsed, validated, merged with the
//! facts the rules read) or, on any failure, the rule-based analysers → embed the entity's named
//! texts in one batch → commit vectors, payload and document → respond with `source` and
//! `model`. The payload (city, salaries, years, education, ids) always comes from the input and
//! the rules, never from model text. Re-analysing an id replaces its vectors, payload and
//! document.

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::llm::{Analyser, Fallback};
use super::{
    blocking, check_len, now_iso, AiService, Result, ServiceError, FALLBACK_MODEL,
    MAX_CONTENT_CHARS, MAX_FIELD_CHARS,
};
use crate::ai::llm::{LlmError, Validate};
use crate::analysis::company::{self, CompanyAnalysis};
use crate::analysis::grounding::Provenance;
use crate::analysis::job::{self, JobAnalysis, SalaryNeighbour};
use crate::analysis::llm as prompts;
use crate::analysis::resume::{self, ResumeAnalysis};
use crate::entity::{CompanyData, Id, JobData, ResumeData};
use crate::store::{Collection, Payload};
use crate::vector::{EntityUpsert, Filter, SearchRequest};

/// Longest title of `POST /api/v1/analyze/occupation` (characters).
pub const MAX_OCCUPATION_TITLE_CHARS: usize = crate::analysis::occupation::MAX_TITLE_CHARS;
/// Occupations answered by `POST /api/v1/analyze/occupation`.
const OCCUPATION_CANDIDATES: usize = 5;

/// `POST /api/v1/analyze/occupation`: a job title and, optionally, a description.
#[derive(Debug, Clone, Deserialize)]
pub struct OccupationRequest {
    pub title: String,
    #[serde(default)]
    pub text: Option<String>,
}

/// One occupation of an [`OccupationAnswer`].
#[derive(Debug, Clone, Serialize)]
pub struct OccupationCandidate {
    pub code: String,
    pub name: String,
    /// 4 (an occupation), or 3 (a group of occupations, when no finer one fits).
    pub level: u8,
    pub confidence: f64,
}

/// The occupations that fit a title, best first.
#[derive(Debug, Clone, Serialize)]
pub struct OccupationAnswer {
    pub occupations: Vec<OccupationCandidate>,
}

/// Highest monthly salary accepted (CNY).
const MAX_SALARY: f64 = 10_000_000.0;
/// Similar jobs consulted for a salary prediction.
const SALARY_NEIGHBOURS: usize = 10;

#[derive(Debug, Serialize)]
pub struct ResumeResponse {
    pub resume_id: Id,
    pub status: &'static str,
    pub analysis: ResumeAnalysis,
    pub vectors: NamedVectors,
    /// `llm` (every field the model wrote grounded), `llm+rules` (some did) or `fallback`.
    pub source: &'static str,
    /// `fields`: where each field came from; `dropped`: what grounding dropped and why.
    #[serde(flatten)]
    pub provenance: Provenance,
    pub model: String,
    pub embedding_model: String,
    pub created_at: String,
}

#[derive(Debug, Serialize)]
pub struct JobResponse {
    pub job_id: Id,
    pub status: &'static str,
    pub analysis: JobAnalysis,
    pub embeddings: NamedVectors,
    /// `llm` (every field the model wrote grounded), `llm+rules` (some did) or `fallback`.
    pub source: &'static str,
    /// `fields`: where each field came from; `dropped`: what grounding dropped and why.
    #[serde(flatten)]
    pub provenance: Provenance,
    pub model: String,
    pub embedding_model: String,
    pub created_at: String,
}

#[derive(Debug, Serialize)]
pub struct CompanyResponse {
    pub company_id: Id,
    pub status: &'static str,
    pub analysis: CompanyAnalysis,
    pub embeddings: NamedVectors,
    /// `llm` (every field the model wrote grounded), `llm+rules` (some did) or `fallback`.
    pub source: &'static str,
    /// `fields`: where each field came from; `dropped`: what grounding dropped and why.
    #[serde(flatten)]
    pub provenance: Provenance,
    pub model: String,
    pub embedding_model: String,
    pub created_at: String,
}

/// An analysis with where its fields came from.
struct Grounded<A> {
    analysis: A,
    provenance: Provenance,
    source: &'static str,
    model: String,
}

/// `{"<name>_vector": [...]}` for every named vector of a collection, in its order.
#[derive(Debug, Serialize)]
#[serde(transparent)]
pub struct NamedVectors(serde_json::Map<String, serde_json::Value>);

fn named(c: Collection, vectors: &[Vec<f32>]) -> NamedVectors {
    NamedVectors(
        c.vector_names()
            .iter()
            .zip(vectors)
            .map(|(n, v)| (format!("{n}_vector"), json!(v)))
            .collect(),
    )
}

fn upsert(
    c: Collection,
    id: Id,
    vectors: Vec<Vec<f32>>,
    payload: Payload,
    document: serde_json::Value,
) -> EntityUpsert {
    EntityUpsert {
        id: id.0,
        vectors: c
            .vector_names()
            .iter()
            .map(|n| n.to_string())
            .zip(vectors)
            .collect(),
        payload,
        document,
    }
}

fn with_opt(p: Payload, field: &str, value: Option<&str>) -> Payload {
    match value.map(str::trim).filter(|v| !v.is_empty()) {
        Some(v) => p.with(field, v),
        None => p,
    }
}

fn check_salary(job: &JobData) -> Result<()> {
    for (name, v) in [
        ("salary_min", job.salary_min),
        ("salary_max", job.salary_max),
    ] {
        if let Some(v) = v {
            if !v.is_finite() || !(0.0..=MAX_SALARY).contains(&v) {
                return Err(ServiceError::invalid(
                    "invalid_salary",
                    format!("{name} must be between 0 and {MAX_SALARY}"),
                ));
            }
        }
    }
    if let (Some(lo), Some(hi)) = (job.salary_min, job.salary_max) {
        if lo > hi {
            return Err(ServiceError::invalid(
                "invalid_salary",
                "salary_min is larger than salary_max",
            ));
        }
    }
    Ok(())
}

impl AiService {
    /// `POST /api/v1/analyze/resume`.
    pub async fn analyze_resume(&self, id: Id, data: ResumeData) -> Result<ResumeResponse> {
        self.analyze_resume_with(id, data, Analyser::Auto).await
    }

    /// [`AiService::analyze_resume`] with a choice of analysers (`Rules` for bulk imports).
    pub async fn analyze_resume_with(
        &self,
        id: Id,
        data: ResumeData,
        via: Analyser,
    ) -> Result<ResumeResponse> {
        let (resp, entity) = self.prepare_resume(id, data, via).await?;
        self.write(Collection::Resumes, vec![entity]).await?;
        Ok(resp)
    }

    pub(crate) async fn prepare_resume(
        &self,
        id: Id,
        data: ResumeData,
        via: Analyser,
    ) -> Result<(ResumeResponse, EntityUpsert)> {
        check_len("content", &data.content, MAX_CONTENT_CHARS)?;
        check_len("file_name", &data.file_name, 1_000)?;
        check_len("file_type", &data.file_type, 100)?;
        if data.content.trim().is_empty() {
            return Err(ServiceError::invalid("empty_content", "content is empty"));
        }
        let (rules, facts) = resume::analyze(&data.content, resume::now_year());
        let answer = self
            .ask(
                Collection::Resumes,
                via,
                || prompts::resume_task(&data.content, &data.file_name),
                |out| prompts::merge_resume(out, &data.content, &facts, rules.clone()).grounds(),
            )
            .await;
        let Grounded {
            analysis,
            provenance,
            source,
            model,
        } = self.ground(
            Collection::Resumes,
            answer.map(|(out, model)| {
                let merged = prompts::merge_resume(&out, &data.content, &facts, rules.clone());
                (merged, model)
            }),
            rules,
            &prompts::RESUME_ANALYSIS_FIELDS,
        );
        let texts = vec![
            data.content.clone(),
            analysis.skills.join(" "),
            analysis.experience.join("\n"),
            format!(
                "{}\n{}\n{}",
                analysis.summary,
                analysis.skills.join(" "),
                data.content
            ),
        ];
        let vectors = self.embed(texts).await?;
        let mut payload = Payload::new();
        if let Some(u) = data.user_id {
            payload = payload.with("user_id", u.0 as f64);
        }
        if let Some(y) = facts.years {
            payload = payload.with("experience_years", f64::from(y));
        }
        if let Some(e) = facts.education {
            payload = payload.with("education", e.label());
        }
        payload = with_opt(payload, "city", facts.city.as_deref());
        if let Some((lo, hi)) = facts.expected_salary {
            payload = payload
                .with("expected_salary_min", lo)
                .with("expected_salary_max", hi);
        }
        // Where a resume's score stands among the stored ones (the gateway's competitiveness).
        payload = payload.with("score", f64::from(analysis.score));
        let created_at = now_iso();
        let document = json!({
            "input": data, "analysis": analysis, "source": source, "model": model,
            "fields": provenance.fields, "dropped": provenance.dropped,
            "embedding_model": self.embedder.model_id(), "created_at": created_at,
        });
        let resp = ResumeResponse {
            resume_id: id,
            status: "completed",
            analysis,
            vectors: named(Collection::Resumes, &vectors),
            source,
            provenance,
            model,
            embedding_model: self.embedder.model_id().to_string(),
            created_at,
        };
        Ok((
            resp,
            upsert(Collection::Resumes, id, vectors, payload, document),
        ))
    }

    /// `POST /api/v1/analyze/job`.
    pub async fn analyze_job(&self, id: Id, data: JobData) -> Result<JobResponse> {
        self.analyze_job_with(id, data, Analyser::Auto).await
    }

    /// [`AiService::analyze_job`] with a choice of analysers (`Rules` for bulk imports).
    pub async fn analyze_job_with(
        &self,
        id: Id,
        data: JobData,
        via: Analyser,
    ) -> Result<JobResponse> {
        let (resp, entity) = self.prepare_job(id, data, via).await?;
        self.write(Collection::Jobs, vec![entity]).await?;
        Ok(resp)
    }

    pub(crate) async fn prepare_job(
        &self,
        id: Id,
        data: JobData,
        via: Analyser,
    ) -> Result<(JobResponse, EntityUpsert)> {
        for (name, text) in [
            ("title", &data.title),
            ("company", &data.company),
            ("location", &data.location),
            ("description", &data.description),
            ("requirements", &data.requirements),
        ] {
            check_len(name, text, MAX_FIELD_CHARS)?;
        }
        check_salary(&data)?;
        let facts = job::facts(&data);
        let skills_hint = crate::analysis::lexicon::Lexicon::bundled()
            .find_skills(&format!("{}\n{}", data.title, data.requirements))
            .join(" ");
        let texts = vec![
            data.title.clone(),
            data.description.clone(),
            data.requirements.clone(),
            format!(
                "{}\n{}\n{}\n{}\n{}",
                data.title,
                skills_hint,
                data.description,
                data.requirements,
                data.industry.as_deref().unwrap_or("")
            ),
        ];
        // The job's vectors do not depend on its analysis: embed while the model thinks.
        let (answer, embedded) = tokio::join!(
            self.ask(
                Collection::Jobs,
                via,
                || prompts::job_task(&data),
                |out| {
                    // Grounding does not depend on the salary: the posted one stands in.
                    let rules = job::analyze(&data, &facts, job::predict_salary(&data, &[]));
                    prompts::merge_job(out, &data, &facts, rules).grounds()
                }
            ),
            async {
                let vectors = self.embed(texts).await?;
                let neighbours = if data.salary_min.is_none() && data.salary_max.is_none() {
                    self.salary_neighbours(id, vectors[3].clone()).await?
                } else {
                    Vec::new()
                };
                Ok::<_, ServiceError>((vectors, neighbours))
            }
        );
        let (vectors, neighbours) = embedded?;
        let rules = job::analyze(&data, &facts, job::predict_salary(&data, &neighbours));
        let Grounded {
            analysis,
            provenance,
            source,
            model,
        } = self.ground(
            Collection::Jobs,
            answer.map(|(out, model)| {
                (
                    prompts::merge_job(&out, &data, &facts, rules.clone()),
                    model,
                )
            }),
            rules,
            &prompts::JOB_ANALYSIS_FIELDS,
        );
        let mut payload = Payload::new();
        payload = with_opt(payload, "city", facts.city.as_deref());
        payload = with_opt(payload, "industry", data.industry.as_deref());
        payload = with_opt(payload, "job_type", data.job_type.as_deref());
        payload = with_opt(payload, "company_size", data.company_size.as_deref());
        if let Some(c) = data.company_id {
            payload = payload.with("company_id", c.0 as f64);
        }
        // Only posted salaries are indexed: predictions must not feed later predictions.
        if let Some(v) = data.salary_min {
            payload = payload.with("salary_min", v);
        }
        if let Some(v) = data.salary_max {
            payload = payload.with("salary_max", v);
        }
        if let Some(y) = facts.years {
            payload = payload.with("experience_years", f64::from(y.min));
        }
        if let Some(e) = facts.education {
            payload = payload.with("education", e.label());
        }
        let created_at = now_iso();
        let document = json!({
            "input": data, "analysis": analysis, "source": source, "model": model,
            "fields": provenance.fields, "dropped": provenance.dropped,
            "embedding_model": self.embedder.model_id(), "created_at": created_at,
        });
        let resp = JobResponse {
            job_id: id,
            status: "completed",
            analysis,
            embeddings: named(Collection::Jobs, &vectors),
            source,
            provenance,
            model,
            embedding_model: self.embedder.model_id().to_string(),
            created_at,
        };
        Ok((
            resp,
            upsert(Collection::Jobs, id, vectors, payload, document),
        ))
    }

    /// Salaries of the jobs nearest to `overall` that posted one (the job itself excluded).
    async fn salary_neighbours(&self, id: Id, overall: Vec<f32>) -> Result<Vec<SalaryNeighbour>> {
        let engine = self.engine.clone();
        blocking(move || {
            let filter = Filter::range("salary_max", Some(1.0), None);
            let res = engine.search(&SearchRequest {
                collection: Collection::Jobs,
                vector: "overall",
                query: &overall,
                k: SALARY_NEIGHBOURS + 1,
                filter: Some(&filter),
                ef: None,
            });
            let hits = match res {
                Ok(r) => r.hits,
                // A dimension mismatch here is reported by the write that follows.
                Err(e) if e.is_caller_error() => return Ok(Vec::new()),
                Err(e) => return Err(e.into()),
            };
            let mut out = Vec::new();
            for h in hits
                .into_iter()
                .filter(|h| h.id != id.0)
                .take(SALARY_NEIGHBOURS)
            {
                let Some(e) = engine.get(Collection::Jobs, h.id)? else {
                    continue;
                };
                let num = |f: &str| match e.payload.get(f) {
                    Some(crate::store::PayloadValue::Number(x)) => Some(*x),
                    _ => None,
                };
                if let (Some(lo), Some(hi)) =
                    (num("salary_min").or(num("salary_max")), num("salary_max"))
                {
                    out.push(SalaryNeighbour {
                        distance: h.distance,
                        min: lo,
                        max: hi,
                    });
                }
            }
            Ok(out)
        })
        .await
    }

    /// `POST /api/v1/analyze/company`.
    pub async fn analyze_company(&self, id: Id, data: CompanyData) -> Result<CompanyResponse> {
        self.analyze_company_with(id, data, Analyser::Auto).await
    }

    /// [`AiService::analyze_company`] with a choice of analysers (`Rules` for bulk imports).
    pub async fn analyze_company_with(
        &self,
        id: Id,
        data: CompanyData,
        via: Analyser,
    ) -> Result<CompanyResponse> {
        let (resp, entity) = self.prepare_company(id, data, via).await?;
        self.write(Collection::Companies, vec![entity]).await?;
        Ok(resp)
    }

    pub(crate) async fn prepare_company(
        &self,
        id: Id,
        data: CompanyData,
        via: Analyser,
    ) -> Result<(CompanyResponse, EntityUpsert)> {
        for (name, text) in [
            ("name", &data.name),
            ("industry", &data.industry),
            ("size", &data.size),
            ("location", &data.location),
            ("description", &data.description),
            ("website", &data.website),
        ] {
            check_len(name, text, MAX_FIELD_CHARS)?;
        }
        let rules = company::analyze(&data);
        let answer = self
            .ask(
                Collection::Companies,
                via,
                || prompts::company_task(&data),
                |out| prompts::merge_company(out, &data, rules.clone()).grounds(),
            )
            .await;
        let Grounded {
            analysis,
            provenance,
            source,
            model,
        } = self.ground(
            Collection::Companies,
            answer.map(|(out, model)| (prompts::merge_company(&out, &data, rules.clone()), model)),
            rules,
            &prompts::COMPANY_ANALYSIS_FIELDS,
        );
        let texts = vec![
            format!("{} {} {}", data.name, data.industry, data.description),
            analysis.culture_analysis.clone(),
            analysis.benefits_analysis.clone(),
            format!(
                "{}\n{}\n{}\n{}",
                data.name, data.industry, data.description, analysis.company_profile
            ),
        ];
        let vectors = self.embed(texts).await?;
        let mut payload = Payload::new();
        payload = with_opt(payload, "city", company::city(&data).as_deref());
        payload = with_opt(payload, "industry", Some(&data.industry));
        payload = with_opt(
            payload,
            "company_size",
            company::size_label(&data.size).or(Some(data.size.as_str())),
        );
        let created_at = now_iso();
        let document = json!({
            "input": data, "analysis": analysis, "source": source, "model": model,
            "fields": provenance.fields, "dropped": provenance.dropped,
            "embedding_model": self.embedder.model_id(), "created_at": created_at,
        });
        let resp = CompanyResponse {
            company_id: id,
            status: "completed",
            analysis,
            embeddings: named(Collection::Companies, &vectors),
            source,
            provenance,
            model,
            embedding_model: self.embedder.model_id().to_string(),
            created_at,
        };
        Ok((
            resp,
            upsert(Collection::Companies, id, vectors, payload, document),
        ))
    }

    /// The grounded merge of an LLM answer, or the rules' analysis when there is none or when
    /// none of it grounded (then its dropped fields are still reported). Counts the path.
    fn ground<A>(
        &self,
        c: Collection,
        merged: Option<(prompts::Merged<A>, String)>,
        rules: A,
        fields: &[&'static str],
    ) -> Grounded<A> {
        let Some((
            prompts::Merged {
                analysis,
                provenance,
            },
            model,
        )) = merged
        else {
            return Grounded {
                analysis: rules,
                provenance: Provenance::rules(fields),
                source: "fallback",
                model: FALLBACK_MODEL.to_string(),
            };
        };
        self.paths.dropped(c, &provenance.dropped);
        let source = provenance.source();
        if source == "fallback" {
            tracing::warn!(
                collection = c.name(),
                dropped = provenance.dropped.len(),
                "no field of the LLM answer grounded in the input; the rule-based analysers answer"
            );
            self.paths.fallback(c, &Fallback::Ungrounded);
            let mut rules_only = Provenance::rules(fields);
            rules_only.dropped = provenance.dropped;
            return Grounded {
                analysis: rules,
                provenance: rules_only,
                source,
                model: FALLBACK_MODEL.to_string(),
            };
        }
        self.paths.llm(c);
        Grounded {
            analysis,
            provenance,
            source,
            model,
        }
    }

    /// The LLM's validated answer for one entity, or `None` when the rules must answer (no LLM,
    /// rules requested, call failed, output unusable). Counts the fallbacks; never fails.
    /// `grounds` says whether anything of an answer grounds (only such answers are cached).
    async fn ask<T: DeserializeOwned + Validate>(
        &self,
        c: Collection,
        via: Analyser,
        task: impl FnOnce() -> prompts::Task,
        grounds: impl Fn(&T) -> bool,
    ) -> Option<(T, String)> {
        let outcome = match (&self.llm, via) {
            (_, Analyser::Rules) => Err(Fallback::RulesRequested),
            (None, _) => Err(Fallback::Disabled),
            (Some(llm), _) => llm.run::<T>(task(), grounds).await,
        };
        match outcome {
            // Counted by `ground`, which knows whether anything of it survives.
            Ok(answer) => Some(answer),
            Err(why) => {
                match &why {
                    Fallback::Disabled
                    | Fallback::RulesRequested
                    | Fallback::Ungrounded
                    | Fallback::Llm(LlmError::CircuitOpen) => {}
                    Fallback::Llm(e) => {
                        tracing::warn!(collection = c.name(), error = %e,
                            "LLM analysis failed; the rule-based analysers answer");
                    }
                    Fallback::Output(e) => {
                        tracing::warn!(collection = c.name(), error = %e,
                            "LLM answer unusable; the rule-based analysers answer");
                    }
                }
                self.paths.fallback(c, &why);
                None
            }
        }
    }

    /// `POST /api/v1/analyze/occupation`: the five standard occupations (CSCO 2022) that fit
    /// a title best, the text breaking near-ties. Rules only, nothing stored; tens of
    /// microseconds, so it runs inline.
    pub fn classify_occupation(&self, req: &OccupationRequest) -> Result<OccupationAnswer> {
        check_len("title", &req.title, MAX_OCCUPATION_TITLE_CHARS)?;
        let text = req.text.as_deref().unwrap_or("");
        check_len("text", text, MAX_FIELD_CHARS)?;
        if req.title.trim().is_empty() {
            return Err(ServiceError::invalid("empty_title", "title is empty"));
        }
        let occupations = crate::analysis::occupation::Matcher::bundled()
            .classify(&req.title, text, OCCUPATION_CANDIDATES)
            .into_iter()
            .map(|m| OccupationCandidate {
                code: m.row.code.clone(),
                name: m.row.name.clone(),
                level: m.row.level,
                confidence: m.confidence,
            })
            .collect();
        Ok(OccupationAnswer { occupations })
    }

    /// Writes many prepared entities in one transaction (sample data, imports).
    pub(crate) async fn write_batch(&self, c: Collection, batch: Vec<EntityUpsert>) -> Result<()> {
        self.write(c, batch).await
    }
}
