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
        ("GET", "/api/v1/ai/features") => op(
            "AI features this service offers, their endpoints and whether each works now",
            "ai",
            None,
            "Features",
        ),
        ("POST", "/api/v1/ai/start-analysis") => op(
            "Queue a resume analysis (durable, bounded: 429 queue_full); answers a taskId at once",
            "ai",
            Some("StartAnalysis"),
            "TaskStarted",
        ),
        ("GET", "/api/v1/ai/analysis-result/{task_id}") => op(
            "An analysis task: processing, then completed with the analysis or failed",
            "ai",
            None,
            "Task",
        ),
        ("POST", "/api/v1/chat") => op(
            "One chat turn (own user_id unless admin/service); SSE with stream:true or Accept: text/event-stream; 503 llm_unavailable without an LLM",
            "chat",
            Some("ChatRequest"),
            "ChatResponse",
        ),
        ("GET", "/api/v1/chat/sessions") => {
            op("The caller's chat sessions, newest activity first", "chat", None, "ChatSessions")
        }
        ("GET", "/api/v1/chat/sessions/{session_id}/messages") => op(
            "A session's messages, oldest first (the caller's own sessions only)",
            "chat",
            None,
            "ChatMessages",
        ),
        ("POST", "/api/v1/ai/chat") => op(
            "The gateway's chat: one turn in the user's default session",
            "chat",
            Some("GatewayChat"),
            "GatewayChatAnswer",
        ),
        ("GET", "/api/v1/ai/chat-history") => op(
            "The gateway's chat history (the user's default session)",
            "chat",
            None,
            "GatewayChatHistory",
        ),
        _ => return None,
    })
}

/// Query parameters of the chat reads.
fn chat_query(path: &str) -> Vec<Value> {
    let q = |name: &str, description: &str| {
        json!({"name": name, "in": "query", "required": false, "description": description,
               "schema": {"type": "integer", "minimum": 0}})
    };
    let user = q(
        "user_id",
        "whose chats: required with auth off; another user's needs admin/service",
    );
    match path {
        "/api/v1/chat/sessions" => vec![
            user,
            q("limit", "1..=200, default 20"),
            q("offset", "sessions to skip"),
        ],
        "/api/v1/chat/sessions/{session_id}/messages" => vec![
            user,
            q("limit", "1..=200, default 50"),
            q("before", "a message's seq: the page of messages before it"),
        ],
        "/api/v1/ai/chat-history" => vec![user, q("limit", "1..=200, default 50")],
        _ => Vec::new(),
    }
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
            if name == "session_id" {
                return json!({"name": name, "in": "path", "required": true,
                    "description": "1-128 characters of letters, digits, - _ . :",
                    "schema": schema_ref("SessionId")});
            }
            if name == "task_id" {
                return json!({"name": name, "in": "path", "required": true,
                    "description": "the taskId start-analysis answered",
                    "schema": {"type": "string"}});
            }
            json!({"name": name, "in": "path", "required": true,
                   "description": "positive integer id (a numeric string is accepted)",
                   "schema": schema_ref("Id")})
        })
        .collect();
    let has_params = !params.is_empty();
    let params: Vec<Value> = params.into_iter().chain(chat_query(r.path)).collect();
    if !params.is_empty() {
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
    } else if response == "ChatResponse" {
        json!({"description": "OK: the answer, or with stream:true Server-Sent Events (start, token..., then done with these fields, or error)",
               "content": {"application/json": {"schema": schema_ref(response)},
                           "text/event-stream": {"schema": {"type": "string"}}}})
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
        if r.path == "/api/v1/ai/start-analysis" {
            responses.insert(
                "429".into(),
                error_response("the analysis queue is full (queue_full)"),
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
    let mut all = json!({
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
    });
    if let (Value::Object(all), Value::Object(more)) = (&mut all, task_schemas()) {
        all.extend(more);
    }
    if let (Value::Object(all), Value::Object(more)) = (&mut all, chat_schemas()) {
        all.extend(more);
    }
    all
}

/// Schemas of the gateway's AI routes (`/api/v1/ai/features`, start-analysis, analysis-result),
/// apart from the main list (one `json!` of everything exceeds the macro recursion limit).
fn task_schemas() -> Value {
    let id = schema_ref("Id");
    json!({
        "Features": {"type": "object", "required": ["status", "data"], "properties": {
            "status": {"const": "success"},
            "data": {"type": "array", "items": {"type": "object",
                "required": ["id", "key", "title", "available", "endpoints"], "properties": {
                "id": {"type": "integer"}, "key": {"type": "string"},
                "title": {"type": "string"}, "description": {"type": "string"},
                "icon": {"type": "string"}, "available": {"type": "boolean"},
                "status": {"enum": ["available", "unavailable"]},
                "reason": {"type": "string"},
                "features": {"type": "array", "items": {"type": "string"}},
                "endpoints": {"type": "array", "items": {"type": "object", "properties": {
                    "method": {"type": "string"}, "path": {"type": "string"}}}},
                "llm": {"enum": ["none", "optional", "required"]},
                "mode": {"enum": ["llm", "rules"]},
                "taskQueue": {"type": "object"}}}}}},
        "StartAnalysis": {"type": "object", "required": ["resumeId"],
            "description": "camelCase or the snake_case of ResumeRequest; without content the stored resume is analysed again",
            "properties": {
            "resumeId": id, "resume_id": id, "content": {"type": "string"},
            "fileName": {"type": "string"}, "file_name": {"type": "string"},
            "fileType": {"type": "string"}, "file_type": {"type": "string"},
            "userId": id, "user_id": id, "type": {"const": "resume"}}},
        "TaskStarted": {"type": "object", "required": ["status", "data"], "properties": {
            "status": {"const": "success"},
            "data": {"type": "object", "required": ["taskId", "status"], "properties": {
                "taskId": {"type": "string"}, "status": {"const": "processing"},
                "state": {"const": "queued"}, "resumeId": {"type": "integer"},
                "createdAt": {"type": "string"}, "message": {"type": "string"}}}}},
        "Task": {"type": "object", "required": ["status", "data"], "properties": {
            "status": {"const": "success"},
            "data": {"type": "object", "required": ["taskId", "status"], "properties": {
                "taskId": {"type": "string"},
                "status": {"enum": ["processing", "completed", "failed"]},
                "state": {"enum": ["queued", "running", "completed", "failed"]},
                "resumeId": {"type": "integer"}, "attempts": {"type": "integer"},
                "createdAt": {"type": "string"}, "startedAt": {"type": ["string", "null"]},
                "finishedAt": {"type": ["string", "null"]},
                "result": {"$ref": "#/components/schemas/Analysis"},
                "error": {"type": "string"}, "code": {"type": "string"},
                "score": {"type": "integer"},
                "suggestions": {"type": "array", "items": {"type": "string"}},
                "keywords": {"type": "array", "items": {"type": "string"}}}}}}
    })
}

/// Schemas of the chat routes.
fn chat_schemas() -> Value {
    let id = schema_ref("Id");
    let session = schema_ref("SessionId");
    let types = json!({"enum": crate::service::CONVERSATION_TYPES});
    json!({
        "SessionId": {"type": "string", "pattern": "^[A-Za-z0-9_.:-]{1,128}$"},
        "ChatRequest": {"type": "object", "required": ["message"], "properties": {
            "user_id": id, "message": {"type": "string", "maxLength": crate::service::MAX_MESSAGE_CHARS},
            "conversation_type": types, "session_id": session,
            "stream": {"type": "boolean", "default": false}}},
        "ChatResponse": {"type": "object", "required": ["conversation_id", "session_id",
            "response", "metadata", "tokens_used", "processing_time_ms", "created_at"], "properties": {
            "conversation_id": {"type": "integer"}, "session_id": {"type": "string"},
            "response": {"type": "string"}, "metadata": {"type": "object"},
            "tokens_used": {"type": "integer"}, "processing_time_ms": {"type": "integer"},
            "created_at": {"type": "string"}}},
        "ChatMessage": {"type": "object", "properties": {
            "message_id": {"type": "string"}, "seq": {"type": "integer"},
            "message_type": {"enum": ["user", "assistant", "system"]},
            "content": {"type": "string"}, "metadata": {},
            "tokens_used": {"type": ["integer", "null"]},
            "processing_time_ms": {"type": ["integer", "null"]}, "created_at": {"type": "string"}}},
        "ChatMessages": {"type": "object", "required": ["conversation_id", "session_id", "messages", "has_more"],
            "properties": {
            "conversation_id": {"type": "integer"}, "user_id": {"type": "integer"},
            "session_id": {"type": "string"}, "conversation_type": types,
            "messages": {"type": "array", "items": schema_ref("ChatMessage")},
            "has_more": {"type": "boolean"}, "next_before": {"type": ["integer", "null"]}}},
        "ChatSessions": {"type": "object", "required": ["user_id", "sessions", "total"], "properties": {
            "user_id": {"type": "integer"}, "total": {"type": "integer"},
            "sessions": {"type": "array", "items": {"type": "object", "properties": {
                "conversation_id": {"type": "integer"}, "session_id": {"type": "string"},
                "conversation_type": types, "model": {"type": ["string", "null"]},
                "message_count": {"type": "integer"}, "started_at": {"type": "string"},
                "last_activity_at": {"type": "string"}}}}}},
        "GatewayChat": {"type": "object", "required": ["message"], "properties": {
            "message": {"type": "string"},
            "history": {"type": "array", "description": "accepted, not used: the stored history is the truth"},
            "user_id": id}},
        "GatewayChatAnswer": {"type": "object", "required": ["status", "data"], "properties": {
            "status": {"const": "success"},
            "data": {"type": "object", "required": ["message", "timestamp"], "properties": {
                "message": {"type": "string"}, "timestamp": {"type": "string"},
                "session_id": {"type": "string"}, "conversation_id": {"type": "integer"},
                "tokens_used": {"type": "integer"}}}}},
        "GatewayChatHistory": {"type": "object", "required": ["status", "data"], "properties": {
            "status": {"const": "success"},
            "data": {"type": "array", "items": {"type": "object", "properties": {
                "id": {"type": "string"}, "message": {"type": "string"},
                "type": {"enum": ["user", "ai"]}, "timestamp": {"type": "string"}}}}}}
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
