//! `GET /openapi.json`: an OpenAPI 3.1 document generated from the router's route table
//! ([`super::routes`]) plus a description per operation kept here. A route without a
//! description is still listed (marked undocumented) and fails the tests below, so the
//! document always lists exactly what the router serves. No UI, no assets.

use serde_json::{json, Map, Value};

use super::auth::PUBLIC_PATHS;
use super::Route;

/// What the document says about one operation.
struct Op {
    summary: &'static str,
    tag: &'static str,
    /// Schema name in `components.schemas` of the JSON body, if any.
    request: Option<&'static str>,
    /// Schema name of the 200 body.
    response: &'static str,
}

const fn op(
    summary: &'static str,
    tag: &'static str,
    request: Option<&'static str>,
    response: &'static str,
) -> Op {
    Op {
        summary,
        tag,
        request,
        response,
    }
}

fn describe(r: &Route) -> Option<Op> {
    Some(match (r.method, r.path) {
        ("GET", "/health") => op("Service health and component checks", "ops", None, "Health"),
        ("GET", "/metrics") => op("Prometheus metrics (text format)", "ops", None, "Text"),
        ("GET", "/openapi.json") => op("This document", "ops", None, "Object"),
        ("POST", "/api/v1/analyze/resume") => op(
            "Analyse a resume and store its vectors",
            "analysis",
            Some("ResumeRequest"),
            "Analysis",
        ),
        ("POST", "/api/v1/analyze/job") => op(
            "Analyse a job posting and store its vectors",
            "analysis",
            Some("JobRequest"),
            "Analysis",
        ),
        ("POST", "/api/v1/analyze/company") => op(
            "Analyse a company and store its vectors",
            "analysis",
            Some("CompanyRequest"),
            "Analysis",
        ),
        ("POST", "/api/v1/vectors/search") => op(
            "Nearest resumes to a vector or a text query",
            "search",
            Some("ResumeSearch"),
            "SearchResults",
        ),
        ("GET", "/api/v1/vectors/{resume_id}") => {
            op("A resume's vectors", "search", None, "ResumeVectors")
        }
        ("POST", "/api/v1/search/jobs") => op(
            "Jobs nearest to a text query",
            "search",
            Some("EntitySearch"),
            "SearchResults",
        ),
        ("POST", "/api/v1/search/companies") => op(
            "Companies nearest to a text query",
            "search",
            Some("EntitySearch"),
            "SearchResults",
        ),
        ("GET", "/api/v1/jobs/{id}") => op(
            "A stored job and its latest analysis",
            "entities",
            None,
            "Entity",
        ),
        ("DELETE", "/api/v1/jobs/{id}") => op(
            "Delete a job (admin or service role)",
            "entities",
            None,
            "Deleted",
        ),
        ("GET", "/api/v1/companies/{id}") => op(
            "A stored company and its latest analysis",
            "entities",
            None,
            "Entity",
        ),
        ("DELETE", "/api/v1/companies/{id}") => op(
            "Delete a company (admin or service role)",
            "entities",
            None,
            "Deleted",
        ),
        ("GET", "/api/v1/resumes/{id}") => op(
            "A stored resume and its latest analysis (owner, admin or service)",
            "entities",
            None,
            "Entity",
        ),
        ("DELETE", "/api/v1/resumes/{id}") => op(
            "Delete a resume (owner, admin or service)",
            "entities",
            None,
            "Deleted",
        ),
        ("POST", "/api/v1/recommend/jobs") => op(
            "Jobs for a user: filtered ANN + explained re-rank (own user_id unless admin/service)",
            "recommend",
            Some("RecommendRequest"),
            "Recommendations",
        ),
        ("POST", "/api/v1/recommend/companies") => op(
            "Companies for a user, from their own vectors and their open jobs that fit",
            "recommend",
            Some("RecommendRequest"),
            "Recommendations",
        ),
        ("POST", "/api/v1/recommend/candidates") => op(
            "Best resumes for a job, one per user (recruiter, admin or service role)",
            "recommend",
            Some("CandidatesRequest"),
            "Candidates",
        ),
        ("POST", "/api/v1/ai/job-matching") => op(
            "Jobs for a resume in the job service's format (resume owner, admin or service)",
            "recommend",
            Some("JobMatchingRequest"),
            "JobMatching",
        ),
        _ => return None,
    })
}

/// Routes the document has no description for (must be empty).
pub fn undocumented(routes: &[Route]) -> Vec<Route> {
    routes
        .iter()
        .filter(|r| describe(r).is_none())
        .copied()
        .collect()
}

fn schema_ref(name: &str) -> Value {
    json!({"$ref": format!("#/components/schemas/{name}")})
}

fn error_response(description: &str) -> Value {
    json!({"description": description,
           "content": {"application/json": {"schema": schema_ref("Error")}}})
}

fn operation(r: &Route) -> Value {
    let public = PUBLIC_PATHS.contains(&r.path);
    let d = describe(r);
    let mut o = Map::new();
    o.insert(
        "operationId".into(),
        json!(format!(
            "{}_{}",
            r.method.to_lowercase(),
            r.path
                .trim_start_matches('/')
                .replace(['/', '.', '{', '}'], "_")
        )),
    );
    o.insert(
        "summary".into(),
        json!(d.as_ref().map_or("undocumented", |d| d.summary)),
    );
    o.insert(
        "tags".into(),
        json!([d.as_ref().map_or("undocumented", |d| d.tag)]),
    );
    let params: Vec<Value> = r
        .path
        .split('/')
        .filter_map(|seg| seg.strip_prefix('{')?.strip_suffix('}'))
        .map(|name| {
            json!({"name": name, "in": "path", "required": true,
                   "description": "positive integer id (a numeric string is accepted)",
                   "schema": schema_ref("Id")})
        })
        .collect();
    let has_params = !params.is_empty();
    if has_params {
        o.insert("parameters".into(), Value::Array(params));
    }
    if let Some(req) = d.as_ref().and_then(|d| d.request) {
        o.insert(
            "requestBody".into(),
            json!({"required": true,
                   "content": {"application/json": {"schema": schema_ref(req)}}}),
        );
    }
    let response = d.as_ref().map_or("Object", |d| d.response);
    let ok = if response == "Text" {
        json!({"description": "OK", "content": {"text/plain": {"schema": {"type": "string"}}}})
    } else {
        json!({"description": "OK",
               "content": {"application/json": {"schema": schema_ref(response)}}})
    };
    let mut responses = Map::new();
    responses.insert("200".into(), ok);
    if !public {
        responses.insert(
            "400".into(),
            error_response("malformed JSON, wrong types or a bad id"),
        );
        responses.insert(
            "401".into(),
            error_response("missing, expired or invalid token"),
        );
        responses.insert("403".into(), error_response("another user's data"));
        if has_params {
            responses.insert("404".into(), error_response("unknown id"));
        }
        if d.as_ref().is_some_and(|d| d.request.is_some()) {
            responses.insert("413".into(), error_response("body too large"));
            responses.insert(
                "422".into(),
                error_response("well-formed but invalid input"),
            );
        }
        responses.insert(
            "503".into(),
            error_response("a dependency of this call is down"),
        );
        responses.insert("504".into(), error_response("request timed out"));
        o.insert("security".into(), json!([{"bearerAuth": []}]));
    }
    o.insert("responses".into(), Value::Object(responses));
    Value::Object(o)
}

fn schemas() -> Value {
    let id = schema_ref("Id");
    let vector = json!({"type": "array", "items": {"type": "number"}});
    let filters = json!({"type": "object", "additionalProperties": true,
        "description": "simple filters (location, salary_min, industry, user_id, ...) or one engine filter (eq, any_of, range, and, or)"});
    let limit = json!({"type": "integer", "minimum": 1, "maximum": 100, "default": 10});
    json!({
        "Id": {"oneOf": [{"type": "integer", "minimum": 1}, {"type": "string", "pattern": "^[0-9]+$"}]},
        "Error": {"type": "object", "required": ["error", "code"], "properties": {
            "error": {"type": "string"}, "code": {"type": "string"}}},
        "Object": {"type": "object", "additionalProperties": true},
        "Health": {"type": "object", "required": ["status", "service", "timestamp"], "properties": {
            "status": {"enum": ["healthy", "degraded", "starting"]},
            "service": {"type": "string"}, "timestamp": {"type": "string"},
            "components": {"type": "object"}}},
        "ResumeRequest": {"type": "object", "required": ["resume_id", "content", "file_type", "file_name"], "properties": {
            "resume_id": id, "content": {"type": "string"}, "file_type": {"type": "string"},
            "file_name": {"type": "string"}, "user_id": id}},
        "JobRequest": {"type": "object", "required": ["job_id", "job_data"], "properties": {
            "job_id": id, "job_data": {"type": "object", "properties": {
                "title": {"type": "string"}, "company": {"type": "string"}, "company_id": id,
                "location": {"type": "string"}, "description": {"type": "string"},
                "requirements": {"type": "string"}, "salary_min": {"type": "number"},
                "salary_max": {"type": "number"}, "industry": {"type": "string"},
                "experience": {"type": "string"}, "education": {"type": "string"},
                "job_type": {"type": "string"}}}}},
        "CompanyRequest": {"type": "object", "required": ["company_id", "company_data"], "properties": {
            "company_id": id, "company_data": {"type": "object", "properties": {
                "name": {"type": "string"}, "industry": {"type": "string"}, "size": {"type": "string"},
                "location": {"type": "string"}, "description": {"type": "string"},
                "website": {"type": "string"}}}}},
        "Analysis": {"type": "object", "required": ["status", "analysis", "created_at"], "properties": {
            "status": {"const": "completed"}, "analysis": {"type": "object"},
            "vectors": {"type": "object"}, "embeddings": {"type": "object"},
            "source": {"enum": ["llm", "fallback"]}, "model": {"type": "string"},
            "created_at": {"type": "string"}}},
        "ResumeSearch": {"type": "object", "properties": {
            "query_vector": vector, "query": {"type": "string"}, "limit": limit,
            "vector_type": {"enum": ["content", "skills", "experience"]}, "filters": filters}},
        "EntitySearch": {"type": "object", "required": ["query"], "properties": {
            "query": {"type": "string"}, "limit": limit, "filters": filters}},
        "RecommendRequest": {"type": "object", "required": ["user_id"], "properties": {
            "user_id": {"$ref": "#/components/schemas/Id"}, "limit": limit,
            "filters": filters,
            "profile_text": {"type": "string",
                "description": "resume-like text used when the user has no analysed resume"}}},
        "CandidatesRequest": {"type": "object", "required": ["job_id"], "properties": {
            "job_id": {"$ref": "#/components/schemas/Id"}, "limit": limit, "filters": filters}},
        "JobMatchingRequest": {"type": "object", "required": ["resume_id"], "properties": {
            "resume_id": {"$ref": "#/components/schemas/Id"}, "limit": limit, "filters": filters}},
        "Recommendations": {"type": "object",
            "required": ["user_id", "recommendations", "total", "generated_at"], "properties": {
            "user_id": {"type": "integer"},
            "recommendations": {"type": "array", "items": {"type": "object",
                "required": ["recommendation_score", "match_reasons", "match_factors"], "properties": {
                "job_id": {"type": "integer"}, "company_id": {"type": "integer"},
                "recommendation_score": {"type": "number", "minimum": 0, "maximum": 1},
                "match_reasons": {"type": "array", "items": {"type": "string"}},
                "match_factors": {"type": "object", "additionalProperties": {"type": "number"}}}}},
            "total": {"type": "integer"}, "generated_at": {"type": "string"}}},
        "Candidates": {"type": "object",
            "required": ["job_id", "candidates", "total", "generated_at"], "properties": {
            "job_id": {"type": "integer"},
            "candidates": {"type": "array", "items": {"type": "object",
                "required": ["resume_id", "recommendation_score", "match_reasons", "match_factors"],
                "properties": {
                "resume_id": {"type": "integer"}, "user_id": {"type": "integer"},
                "recommendation_score": {"type": "number"},
                "match_reasons": {"type": "array", "items": {"type": "string"}},
                "match_factors": {"type": "object", "additionalProperties": {"type": "number"}}}}},
            "total": {"type": "integer"}, "generated_at": {"type": "string"}}},
        "JobMatching": {"type": "object", "required": ["success", "data", "message", "timestamp"],
            "properties": {
            "success": {"type": "boolean"},
            "data": {"type": "array", "items": {"type": "object", "properties": {
                "job_id": {"type": "integer"}, "match_score": {"type": "number"},
                "breakdown": {"type": "object", "properties": {
                    "semantic": {"type": "number"}, "skills": {"type": "number"},
                    "experience": {"type": "number"}, "basic": {"type": "number"},
                    "cultural": {"type": "number"}}},
                "confidence": {"type": "number"}, "job_info": {"type": "object"},
                "company_info": {"type": "object"}, "reason": {"type": "string"}}}},
            "message": {"type": "string"}, "timestamp": {"type": "string"},
            "metadata": {"type": "object"}}},
        "SearchResults": {"type": "object", "required": ["results", "total"], "properties": {
            "results": {"type": "array", "items": {"type": "object", "properties": {
                "distance": {"type": "number", "description": "cosine distance, ascending"}},
                "additionalProperties": true}},
            "total": {"type": "integer"}}},
        "ResumeVectors": {"type": "object", "required": ["resume_id", "vectors"], "properties": {
            "resume_id": id, "vectors": {"type": "object", "properties": {
                "content_vector": vector, "skills_vector": vector, "experience_vector": vector}}}},
        "Entity": {"type": "object", "additionalProperties": true, "properties": {
            "analysis": {"type": "object"}, "source": {"type": "string"},
            "model": {"type": "string"}, "created_at": {"type": "string"}}},
        "Deleted": {"type": "object", "required": ["status", "deleted_at"], "properties": {
            "status": {"const": "deleted"}, "deleted_at": {"type": "string"}},
            "additionalProperties": true}
    })
}

/// The document for a route table.
pub fn document(routes: &[Route]) -> Value {
    let mut paths = Map::new();
    for r in routes {
        let item = paths
            .entry(r.path.to_string())
            .or_insert_with(|| Value::Object(Map::new()));
        if let Value::Object(m) = item {
            m.insert(r.method.to_lowercase(), operation(r));
        }
    }
    json!({
        "openapi": "3.1.0",
        "info": {
            "title": "jobfirst-ai",
            "version": env!("CARGO_PKG_VERSION"),
            "description": env!("CARGO_PKG_DESCRIPTION"),
        },
        "paths": paths,
        "components": {
            "schemas": schemas(),
            "securitySchemes": {"bearerAuth": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}},
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_route_is_documented() {
        assert_eq!(undocumented(&super::super::routes()), Vec::<Route>::new());
    }

    #[test]
    fn the_document_lists_exactly_the_route_table() {
        let routes = super::super::routes();
        let doc = document(&routes);
        let mut listed: Vec<(String, String)> = Vec::new();
        for (path, item) in doc["paths"].as_object().unwrap() {
            for method in item.as_object().unwrap().keys() {
                listed.push((method.to_uppercase(), path.clone()));
            }
        }
        let mut expected: Vec<(String, String)> = routes
            .iter()
            .map(|r| (r.method.to_string(), r.path.to_string()))
            .collect();
        listed.sort();
        expected.sort();
        assert_eq!(listed, expected);
    }

    #[test]
    fn every_schema_reference_resolves() {
        let doc = document(&super::super::routes());
        let text = doc.to_string();
        let schemas = doc["components"]["schemas"].as_object().unwrap();
        for part in text.split("#/components/schemas/").skip(1) {
            let name: String = part.chars().take_while(|c| c.is_alphanumeric()).collect();
            assert!(schemas.contains_key(&name), "dangling $ref {name}");
        }
    }
}
