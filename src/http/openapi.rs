//! `GET /openapi.json`: an OpenAPI 3.1 document generated from the router's route table
//! ([`super::routes`]) plus a description per operation kept here. A route without a
//! description is still listed (marked undocumented) and fails the tests below, so the
//! document always lists exactly what the router serves. No UI, no assets.
//!
//! The document is precise enough for property-based testing (`scripts/schemathesis.sh`):
//! request bodies carry the real field names, types, required fields and limits (the same
//! constants the handlers check), every operation lists exactly the statuses its handler and
//! the layers around it can answer, each error with the `{"error", "code"}` body, and the
//! responses that create something link to the operations that read it (stateful testing).

use serde_json::{json, Map, Value};

use super::auth::PUBLIC_PATHS;
use super::Route;
use crate::entity::MAX_ID;
use crate::service::{
    MAX_CONTENT_CHARS, MAX_FIELD_CHARS, MAX_MESSAGE_CHARS, MAX_OCCUPATION_TITLE_CHARS,
};

/// Most results a search or recommendation may ask for (`service::search::MAX_LIMIT`).
const MAX_LIMIT: u64 = 100;
/// Longest text query (`service::search`).
const MAX_QUERY_CHARS: usize = 2_000;
/// Longest `profile_text` of a recommendation (`service::recommend`).
const MAX_PROFILE_CHARS: usize = 20_000;
/// Most items of a chat page (`service::chat`).
const MAX_PAGE: u64 = 200;
/// Highest salary accepted (`service::analyze`).
const MAX_SALARY: f64 = 10_000_000.0;
/// Longest value stored as a filterable keyword is 512 bytes (`vector::schema`): in
/// characters, what any UTF-8 text of this many characters fits in.
const MAX_KEYWORD_CHARS: usize = 512 / 4;
/// Longest `file_name` / `file_type` of a resume (`service::analyze`).
const MAX_FILE_NAME_CHARS: usize = 1_000;
const MAX_FILE_TYPE_CHARS: usize = 100;
/// A sample id that exists on a data dir with the sample data (`service::sample`).
const SAMPLE_ID: u64 = crate::service::sample::SAMPLE_ID_BASE + 1;

/// What the document says about one operation.
struct Op {
    summary: &'static str,
    tag: &'static str,
    /// Schema name in `components.schemas` of the JSON body, if any.
    request: Option<&'static str>,
    /// Schema name of the 200 body.
    response: &'static str,
    /// The error statuses the operation answers besides those every operation can (503
    /// while starting, 504 after the timeout) and 401 (every protected operation).
    errors: &'static [u16],
}

const fn op(
    summary: &'static str,
    tag: &'static str,
    request: Option<&'static str>,
    response: &'static str,
    errors: &'static [u16],
) -> Op {
    Op {
        summary,
        tag,
        request,
        response,
        errors,
    }
}

/// A body that is analysed and written: bad JSON, access, size, validation, the embedder or
/// disk.
const WRITE_BODY: &[u16] = &[400, 403, 413, 422, 507];
const GET_ENTITY: &[u16] = &[400, 404];
const GET_OWNED: &[u16] = &[400, 403, 404];
const DELETE: &[u16] = &[400, 403, 404, 507];
const SEARCH: &[u16] = &[400, 413, 422];
const RECOMMEND: &[u16] = &[400, 403, 404, 413, 422];
const CHAT_READ: &[u16] = &[400, 403, 422];

fn describe(r: &Route) -> Option<Op> {
    Some(match (r.method, r.path) {
        ("GET", "/health") => op(
            "Service health and component checks",
            "ops",
            None,
            "Health",
            &[],
        ),
        ("GET", "/metrics") => op("Prometheus metrics (text format)", "ops", None, "Text", &[]),
        ("GET", "/openapi.json") => op("This document", "ops", None, "Object", &[]),
        ("POST", "/api/v1/analyze/resume") => op(
            "Analyse a resume and store its vectors",
            "analysis",
            Some("ResumeRequest"),
            "ResumeAnalysis",
            WRITE_BODY,
        ),
        ("POST", "/api/v1/analyze/job") => op(
            "Analyse a job posting and store its vectors (recruiter, admin or service role)",
            "analysis",
            Some("JobRequest"),
            "JobAnalysis",
            WRITE_BODY,
        ),
        ("POST", "/api/v1/analyze/company") => op(
            "Analyse a company and store its vectors (recruiter, admin or service role)",
            "analysis",
            Some("CompanyRequest"),
            "CompanyAnalysis",
            WRITE_BODY,
        ),
        ("POST", "/api/v1/analyze/occupation") => op(
            "The five standard occupations (CSCO 2022) that fit a job title best, the optional text breaking near-ties; rules only, nothing stored (422 empty_title, text_too_long)",
            "analysis",
            Some("OccupationRequest"),
            "OccupationAnswer",
            &[400, 413, 422],
        ),
        ("POST", "/api/v1/vectors/search") => op(
            "Nearest resumes to a vector or a text query (a user's own resumes unless admin/service)",
            "search",
            Some("ResumeSearch"),
            "ResumeSearchResults",
            &[400, 403, 413, 422],
        ),
        ("GET", "/api/v1/vectors/{resume_id}") => op(
            "A resume's vectors (owner, admin or service)",
            "search",
            None,
            "ResumeVectors",
            GET_OWNED,
        ),
        ("POST", "/api/v1/search/jobs") => op(
            "Jobs for a text query: BM25F and the title and overall vectors, fused",
            "search",
            Some("JobSearch"),
            "JobSearchResults",
            SEARCH,
        ),
        ("POST", "/api/v1/search/companies") => op(
            "Companies for a text query: BM25F and the overall vector, fused",
            "search",
            Some("CompanySearch"),
            "CompanySearchResults",
            SEARCH,
        ),
        ("GET", "/api/v1/jobs/{id}") => op(
            "A stored job and its latest analysis",
            "entities",
            None,
            "JobEntity",
            GET_ENTITY,
        ),
        ("DELETE", "/api/v1/jobs/{id}") => op(
            "Delete a job (admin or service role)",
            "entities",
            None,
            "JobDeleted",
            DELETE,
        ),
        ("GET", "/api/v1/companies/{id}") => op(
            "A stored company and its latest analysis",
            "entities",
            None,
            "CompanyEntity",
            GET_ENTITY,
        ),
        ("DELETE", "/api/v1/companies/{id}") => op(
            "Delete a company (admin or service role)",
            "entities",
            None,
            "CompanyDeleted",
            DELETE,
        ),
        ("GET", "/api/v1/resumes/{id}") => op(
            "A stored resume and its latest analysis (owner, admin or service)",
            "entities",
            None,
            "ResumeEntity",
            GET_OWNED,
        ),
        ("DELETE", "/api/v1/resumes/{id}") => op(
            "Delete a resume (owner, admin or service)",
            "entities",
            None,
            "ResumeDeleted",
            DELETE,
        ),
        ("POST", "/api/v1/recommend/jobs") => op(
            "Jobs for a user: filtered ANN + explained re-rank (own user_id unless admin/service); 404 profile_not_found without a resume or profile_text",
            "recommend",
            Some("RecommendRequest"),
            "JobRecommendations",
            RECOMMEND,
        ),
        ("POST", "/api/v1/recommend/companies") => op(
            "Companies for a user, from their own vectors and their open jobs that fit; 404 profile_not_found without a resume or profile_text",
            "recommend",
            Some("RecommendRequest"),
            "CompanyRecommendations",
            RECOMMEND,
        ),
        ("POST", "/api/v1/recommend/candidates") => op(
            "Best resumes for a job, one per user (recruiter, admin or service role); 404 for an unknown job",
            "recommend",
            Some("CandidatesRequest"),
            "Candidates",
            RECOMMEND,
        ),
        ("POST", "/api/v1/ai/job-matching") => op(
            "Jobs for a resume in the job service's Go types (resume owner or an admin role); limit 0 or absent: 10; 400 missing_resume_id, 404 for an unknown resume",
            "recommend",
            Some("JobMatchingRequest"),
            "JobMatching",
            RECOMMEND,
        ),
        ("POST", "/api/v1/ai/enhanced-job-matching") => op(
            "Job matching with education as a factor of its own (breakdown semantic_similarity, skills_match, experience_match, education_match, cultural_fit)",
            "recommend",
            Some("JobMatchingRequest"),
            "EnhancedJobMatching",
            RECOMMEND,
        ),
        ("GET", "/api/v1/ai/matching/recommendations/{resume_id}") => op(
            "A resume's best jobs with personalised suggestions (skills to learn, resume fixes, career advice) computed from them",
            "recommend",
            None,
            "MatchingRecommendations",
            GET_OWNED,
        ),
        ("GET", "/api/v1/ai/matching/analysis/{resume_id}") => op(
            "A resume against the index: strengths, weaknesses, matching trends, skill gaps, salaries and competition",
            "recommend",
            None,
            "MatchingAnalysis",
            GET_OWNED,
        ),
        ("GET", "/api/v1/ai/features") => op(
            "AI features this service offers (public), their points, endpoints and whether each works now",
            "ai",
            None,
            "Features",
            &[],
        ),
        ("POST", "/api/v1/ai/start-analysis") => op(
            "Queue a feature's analysis (1 resume optimisation, 2 job matching, 3 interview preparation) of a text or a stored resume (durable, bounded: 429 queue_full); answers a taskId at once",
            "ai",
            Some("StartAnalysis"),
            "TaskStarted",
            &[400, 403, 413, 422, 429, 507],
        ),
        ("GET", "/api/v1/ai/analysis-result/{task_id}") => op(
            "An analysis task: processing, then completed with the analysis or failed",
            "ai",
            None,
            "Task",
            GET_OWNED,
        ),
        ("POST", "/api/v1/chat") => op(
            "One chat turn (own user_id unless admin/service); SSE with stream:true or Accept: text/event-stream; 503 llm_unavailable without an LLM (the message is stored)",
            "chat",
            Some("ChatRequest"),
            "ChatResponse",
            &[400, 403, 413, 422, 507],
        ),
        ("GET", "/api/v1/chat/sessions") => op(
            "The caller's chat sessions, newest activity first",
            "chat",
            None,
            "ChatSessions",
            CHAT_READ,
        ),
        ("GET", "/api/v1/chat/sessions/{session_id}/messages") => op(
            "A session's messages, oldest first (the caller's own sessions only: another's is 404)",
            "chat",
            None,
            "ChatMessages",
            &[400, 403, 404, 422],
        ),
        ("POST", "/api/v1/ai/chat") => op(
            "The gateway's chat: one turn in the user's default session; 503 llm_unavailable without an LLM",
            "chat",
            Some("GatewayChat"),
            "GatewayChatAnswer",
            &[400, 403, 413, 422, 507],
        ),
        ("GET", "/api/v1/ai/chat-history") => op(
            "The gateway's chat history (the user's default session)",
            "chat",
            None,
            "GatewayChatHistory",
            CHAT_READ,
        ),
        _ => return None,
    })
}

/// Query parameters of the chat reads.
fn chat_query(path: &str) -> Vec<Value> {
    let q = |name: &str, description: &str, schema: Value| {
        json!({"name": name, "in": "query", "required": false, "description": description,
               "schema": schema})
    };
    let page = |default: u64| json!({"type": "integer", "minimum": 1, "maximum": MAX_PAGE, "default": default});
    let user = q(
        "user_id",
        "whose chats: required with auth off (400 missing_user_id); defaults to the token's user; another user's needs admin/service (403)",
        json!({"type": "integer", "minimum": 1, "maximum": MAX_ID, "example": SAMPLE_ID}),
    );
    match path {
        "/api/v1/chat/sessions" => vec![
            user,
            q("limit", "sessions per page (422 outside 1..=200)", page(20)),
            q(
                "offset",
                "sessions to skip",
                json!({"type": "integer", "minimum": 0, "maximum": u32::MAX}),
            ),
        ],
        "/api/v1/chat/sessions/{session_id}/messages" => vec![
            user,
            q("limit", "messages per page (422 outside 1..=200)", page(50)),
            q(
                "before",
                "a message's seq: the page of messages before it",
                json!({"type": "integer", "minimum": 0, "maximum": u32::MAX}),
            ),
        ],
        "/api/v1/ai/chat-history" => {
            vec![user, q("limit", "messages (422 outside 1..=200)", page(50))]
        }
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

/// The operationId of a route: `get_api_v1_jobs__id_`.
fn operation_id(method: &str, path: &str) -> String {
    format!(
        "{}_{}",
        method.to_lowercase(),
        path.trim_start_matches('/')
            .replace(['/', '.', '{', '}', '-'], "_")
    )
}

fn error_response(status: u16, path: &str) -> Value {
    let description = match status {
        400 => "malformed JSON, wrong types, a bad id, path or query parameter, or a missing field (invalid_json, invalid_request, invalid_id, missing_user_id, ...)",
        401 => "missing, expired or invalid bearer token (only with JWT_SECRET set)",
        403 => "another user's data, or a role that may not do this (forbidden)",
        404 => "unknown id (not_found, profile_not_found, session_not_found)",
        413 => "body over AI_MAX_BODY_BYTES (payload_too_large)",
        422 => "well-formed but invalid input: a limit, length, range, filter or vector the operation cannot use",
        429 => "the analysis queue is full (queue_full); retry later",
        503 => "starting (every route answers 503 `starting` until the index is ready), or a dependency of this call is down (embedder_unavailable, model_mismatch, storage_unavailable, tasks_unavailable, llm_unavailable)",
        504 => "request timed out (timeout, after AI_REQUEST_TIMEOUT_SECS: 25 s by default)",
        507 => "the data dir's disk is full: nothing was written (insufficient_storage)",
        _ => "error",
    };
    let schema = match (status, path) {
        (503, "/health") => "Starting",
        (503, "/api/v1/chat" | "/api/v1/ai/chat") => "ChatUnavailable",
        _ => "Error",
    };
    json!({"description": description,
           "content": {"application/json": {"schema": schema_ref(schema)}}})
}

fn path_parameter(name: &str) -> Value {
    match name {
        "session_id" => json!({"name": name, "in": "path", "required": true,
            "description": "1-128 characters of letters, digits, - _ . :",
            "schema": schema_ref("SessionId"), "example": "default"}),
        "task_id" => json!({"name": name, "in": "path", "required": true,
            "description": "the taskId start-analysis answered (task_<seq>_<8 hex>)",
            "schema": {"type": "string", "pattern": "^task_[0-9]{1,19}_[0-9a-f]{8}$", "maxLength": 64},
            "example": "task_1_0123abcd"}),
        _ => json!({"name": name, "in": "path", "required": true,
            "description": "positive integer id",
            "schema": {"type": "integer", "minimum": 1, "maximum": MAX_ID},
            "example": SAMPLE_ID}),
    }
}

/// Links from a 200 answer to the operations that read what it created (stateful testing).
fn links(r: &Route) -> Option<Value> {
    let link = |method: &str, path: &str, parameters: Value| json!({"operationId": operation_id(method, path), "parameters": parameters});
    let entity = |id_key: &str, path: &str| {
        let id = json!({"id": format!("$response.body#/{id_key}")});
        json!({
            "Get": link("GET", path, id.clone()),
            "Delete": link("DELETE", path, id),
        })
    };
    Some(match (r.method, r.path) {
        ("POST", "/api/v1/analyze/resume") => {
            let mut l = entity("resume_id", "/api/v1/resumes/{id}");
            l["GetVectors"] = link(
                "GET",
                "/api/v1/vectors/{resume_id}",
                json!({"resume_id": "$response.body#/resume_id"}),
            );
            l
        }
        ("POST", "/api/v1/analyze/job") => entity("job_id", "/api/v1/jobs/{id}"),
        ("POST", "/api/v1/analyze/company") => entity("company_id", "/api/v1/companies/{id}"),
        ("POST", "/api/v1/ai/start-analysis") => json!({"GetResult": link(
            "GET",
            "/api/v1/ai/analysis-result/{task_id}",
            json!({"task_id": "$response.body#/data/taskId"}),
        )}),
        ("GET", "/api/v1/chat/sessions") => json!({"GetMessages": link(
            "GET",
            "/api/v1/chat/sessions/{session_id}/messages",
            json!({"session_id": "$response.body#/sessions/0/session_id",
                   "user_id": "$response.body#/user_id"}),
        )}),
        _ => return None,
    })
}

fn operation(r: &Route) -> Value {
    let public = PUBLIC_PATHS.contains(&r.path);
    let d = describe(r);
    let mut o = Map::new();
    o.insert("operationId".into(), json!(operation_id(r.method, r.path)));
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
        .map(path_parameter)
        .chain(chat_query(r.path))
        .collect();
    if !params.is_empty() {
        o.insert("parameters".into(), Value::Array(params));
    }
    if let Some(req) = d.as_ref().and_then(|d| d.request) {
        o.insert(
            "requestBody".into(),
            json!({"required": true,
                   "description": "JSON (the Content-Type is not checked)",
                   "content": {"application/json": {"schema": schema_ref(req)}}}),
        );
    }
    let response = d.as_ref().map_or("Object", |d| d.response);
    let mut ok = if response == "Text" {
        json!({"description": "OK",
               "content": {"text/plain": {"schema": {"type": "string"}}}})
    } else if response == "ChatResponse" {
        json!({"description": "OK: the answer, or with stream:true Server-Sent Events (start, token..., then done with these fields, or error)",
               "content": {"application/json": {"schema": schema_ref(response)},
                           "text/event-stream": {"schema": {"type": "string"}}}})
    } else {
        json!({"description": "OK",
               "content": {"application/json": {"schema": schema_ref(response)}}})
    };
    if let Some(l) = links(r) {
        ok["links"] = l;
    }
    let mut statuses: Vec<u16> = d.as_ref().map_or(&[][..], |d| d.errors).to_vec();
    statuses.extend([503, 504]);
    if !public {
        statuses.push(401);
        o.insert("security".into(), json!([{"bearerAuth": []}]));
    }
    statuses.sort_unstable();
    statuses.dedup();
    let mut responses = Map::new();
    responses.insert("200".into(), ok);
    for s in statuses {
        responses.insert(s.to_string(), error_response(s, r.path));
    }
    o.insert("responses".into(), Value::Object(responses));
    Value::Object(o)
}

/// A string of at most `max` characters.
fn text(max: usize) -> Value {
    json!({"type": "string", "maxLength": max})
}

/// A string of at most `max` characters with something besides whitespace.
fn non_blank(max: usize) -> Value {
    json!({"type": "string", "minLength": 1, "maxLength": max, "pattern": "\\S"})
}

/// An array of numbers (a vector).
fn vector() -> Value {
    json!({"type": "array", "items": {"type": "number"}})
}

/// An object with every named vector of a collection.
fn named_vectors(names: &[&str]) -> Value {
    let names: Vec<String> = names.iter().map(|n| format!("{n}_vector")).collect();
    let props: Map<String, Value> = names.iter().map(|n| (n.clone(), vector())).collect();
    json!({"type": "object", "required": names, "properties": props})
}

fn limit() -> Value {
    json!({"type": "integer", "minimum": 1, "maximum": MAX_LIMIT, "default": 10,
           "description": "1..=100 (422 outside)"})
}

/// Simple filter values.
fn keyword() -> Value {
    json!({"description": "a value, or any of several values",
        "oneOf": [text(MAX_KEYWORD_CHARS),
                  {"type": "array", "minItems": 1, "maxItems": 20, "items": text(MAX_KEYWORD_CHARS)},
                  {"type": "null"}]})
}
fn number_filter() -> Value {
    json!({"description": "a number (or a numeric string)",
        "oneOf": [{"type": "number", "minimum": -1.0e12, "maximum": 1.0e12},
                  {"type": "string", "pattern": "^[0-9]{1,9}(\\.[0-9]{1,3})?$"},
                  {"type": "null"}]})
}

/// The simple filters a collection accepts (their conjunction), or one engine filter. An
/// unknown key is 422 invalid_filter.
fn filters(keys: &[(&str, Value)], description: &str) -> Value {
    let props: Map<String, Value> = keys
        .iter()
        .map(|(k, v)| (k.to_string(), v.clone()))
        .collect();
    json!({"description": description,
    "anyOf": [
        {"type": "object", "additionalProperties": false, "properties": props},
        schema_ref("EngineFilter"),
    ]})
}

fn job_filters() -> Value {
    filters(
        &[
            ("location", keyword()),
            ("city", keyword()),
            ("industry", keyword()),
            ("company_size", keyword()),
            ("size", keyword()),
            ("job_type", keyword()),
            ("education", keyword()),
            ("company_id", json!({"oneOf": [schema_ref("Id"), {"type": "null"}]})),
            ("salary_min", number_filter()),
            ("salary_max", number_filter()),
            ("experience_years", number_filter()),
            (
                "experience",
                json!({"description": "\"3-5年\" (jobs asking 3 to 5 years) or a number N (at most N)",
                       "oneOf": [{"type": "number", "minimum": 0, "maximum": 100},
                                 {"type": "string", "enum": ["1-3年", "3-5年", "5-10年", "10年以上", "3"]},
                                 {"type": "null"}]}),
            ),
        ],
        "job filters: location/city, industry, company_size/size, job_type, education, company_id, salary_min, salary_max, experience, experience_years; or one engine filter",
    )
}

fn company_filters() -> Value {
    filters(
        &[
            ("location", keyword()),
            ("city", keyword()),
            ("industry", keyword()),
            ("company_size", keyword()),
            ("size", keyword()),
        ],
        "company filters: location/city, industry, company_size/size; or one engine filter",
    )
}

fn resume_filters() -> Value {
    filters(
        &[
            ("location", keyword()),
            ("city", keyword()),
            ("education", keyword()),
            (
                "user_id",
                json!({"oneOf": [schema_ref("Id"), {"type": "null"}]}),
            ),
            ("experience_years", number_filter()),
            ("min_experience_years", number_filter()),
        ],
        "resume filters: location/city, education, user_id, experience_years/min_experience_years; or one engine filter",
    )
}

/// A query vector: of the embedder's dimension when known, at most 4096 numbers otherwise;
/// not all zero (422 zero_vector).
fn query_vector(dimension: Option<usize>) -> Value {
    let mut v = json!({"type": "array",
        "items": {"type": "number", "minimum": -1.0e6, "maximum": 1.0e6},
        "minItems": 1, "maxItems": 4096,
        "description": "the collection's dimension (422 dimension_mismatch otherwise); a zero vector is 422 zero_vector"});
    if let Some(d) = dimension {
        v["minItems"] = json!(d);
        v["maxItems"] = json!(d);
    }
    v
}

/// Schemas of requests.
fn request_schemas(dimension: Option<usize>) -> Value {
    let id = schema_ref("Id");
    let field = text(MAX_FIELD_CHARS);
    let short = text(MAX_KEYWORD_CHARS);
    let salary = json!({"type": ["number", "null"], "minimum": 0, "maximum": MAX_SALARY,
                        "description": "monthly CNY; 422 when salary_min > salary_max"});
    json!({
        "Id": {"description": "positive integer id; a numeric string is accepted",
            "oneOf": [{"type": "integer", "minimum": 1, "maximum": MAX_ID},
                      {"type": "string", "pattern": "^[1-9][0-9]{0,14}$"}]},
        "ResumeRequest": {"type": "object", "required": ["resume_id", "content"],
            "additionalProperties": false,
            "description": "user_id: with a token it defaults to the token's user; naming another user is 403 unless admin/service",
            "properties": {
                "resume_id": id, "content": non_blank(MAX_CONTENT_CHARS),
                "file_type": text(MAX_FILE_TYPE_CHARS), "file_name": text(MAX_FILE_NAME_CHARS),
                "user_id": id},
            "example": {"resume_id": 1, "user_id": 1, "file_type": "txt", "file_name": "cv.txt",
                "content": "张三 Rust 后端工程师，5年经验，熟悉 Rust、Go、PostgreSQL、Kubernetes。本科 计算机科学。期望城市：深圳"}},
        "JobRequest": {"type": "object", "required": ["job_id", "job_data"],
            "additionalProperties": false, "properties": {
            "job_id": id, "job_data": {"type": "object", "additionalProperties": false,
                "description": "every field may be absent (empty); a job with no text at all cannot be embedded (422)",
                "properties": {
                "title": field, "company": field, "company_id": id,
                "location": field, "description": field, "requirements": field,
                "salary_min": salary, "salary_max": salary,
                "industry": short, "experience": field, "education": field,
                "job_type": short, "company_size": short}}},
            "example": {"job_id": 1, "job_data": {"title": "Rust 后端工程师", "company": "示例科技",
                "location": "深圳", "description": "负责推荐系统后端开发", "requirements": "3-5年经验，熟悉 Rust 与 PostgreSQL",
                "salary_min": 20000, "salary_max": 35000, "industry": "互联网"}}},
        "CompanyRequest": {"type": "object", "required": ["company_id", "company_data"],
            "additionalProperties": false, "properties": {
            "company_id": id, "company_data": {"type": "object", "additionalProperties": false,
                "properties": {
                "name": field, "industry": short, "size": short, "location": field,
                "description": field, "website": field}}},
            "example": {"company_id": 1, "company_data": {"name": "示例科技", "industry": "互联网",
                "size": "500-999人", "location": "深圳", "description": "扁平管理，弹性工作，六险一金", "website": "https://example.com"}}},
        "OccupationRequest": {"type": "object", "required": ["title"], "additionalProperties": false,
            "properties": {"title": non_blank(MAX_OCCUPATION_TITLE_CHARS),
                "text": {"description": "a description (optional): breaks near-ties",
                    "oneOf": [text(MAX_FIELD_CHARS), {"type": "null"}]}},
            "example": {"title": "高级Java开发工程师", "text": "负责交易系统后端服务开发，熟悉Spring Boot、MySQL"}},
        "ResumeSearch": {"type": "object", "additionalProperties": false,
            "description": "query_vector or query (422 missing_query without either); a non-privileged caller only finds their own resumes",
            "properties": {
            "query_vector": query_vector(dimension),
            "query": non_blank(MAX_QUERY_CHARS), "limit": limit(),
            "vector_type": {"enum": ["content", "skills", "experience", "overall"], "default": "content"},
            "mode": search_mode(),
            "filters": resume_filters()},
            "example": {"query": "Rust 后端", "limit": 5, "filters": {"location": "深圳"}}},
        "JobSearch": {"type": "object", "required": ["query"], "additionalProperties": false,
            "properties": {"query": non_blank(MAX_QUERY_CHARS), "limit": limit(), "filters": job_filters(), "mode": search_mode()},
            "example": {"query": "Rust 后端工程师", "limit": 5, "filters": {"location": "深圳", "salary_min": 15000}}},
        "CompanySearch": {"type": "object", "required": ["query"], "additionalProperties": false,
            "properties": {"query": non_blank(MAX_QUERY_CHARS), "limit": limit(), "filters": company_filters(), "mode": search_mode()},
            "example": {"query": "互联网 科技公司", "limit": 5}},
        "RecommendRequest": {"type": "object", "required": ["user_id"], "additionalProperties": false,
            "properties": {
            "user_id": id, "limit": limit(),
            "filters": job_filters(),
            "profile_text": {"description": "resume-like text used when the user has no analysed resume (alias: profile)",
                "oneOf": [non_blank(MAX_PROFILE_CHARS), {"type": "null"}]}},
            "example": {"user_id": SAMPLE_ID, "limit": 5, "filters": {"location": "深圳"}}},
        "CandidatesRequest": {"type": "object", "required": ["job_id"], "additionalProperties": false,
            "properties": {"job_id": id, "limit": limit(), "filters": resume_filters()},
            "example": {"job_id": SAMPLE_ID, "limit": 5}},
        "JobMatchingRequest": {"type": "object", "required": ["resume_id"], "additionalProperties": false,
            "properties": {"resume_id": id, "limit": limit(), "filters": job_filters()},
            "example": {"resume_id": SAMPLE_ID, "limit": 5}},
    })
}

/// The engine's filter language (`vector::Filter`), recursive through `and` / `or`.
fn engine_filter_schemas() -> Value {
    let field = json!({"type": "string", "pattern": "^[a-z_]{1,64}$",
        "examples": ["city", "industry", "salary_min", "salary_max", "experience_years", "education", "user_id", "company_id"]});
    let value = json!({"oneOf": [text(MAX_KEYWORD_CHARS), {"type": "number"}]});
    let bound = json!({"type": "number"});
    json!({
        "EngineFilter": {"description": "one engine filter: eq, any_of, range, and, or (at most 256 conditions nested at most 8 deep; 422 invalid_filter otherwise)",
            "oneOf": [
            {"type": "object", "required": ["eq"], "additionalProperties": false, "properties": {
                "eq": {"type": "object", "required": ["field", "value"], "additionalProperties": false,
                       "properties": {"field": field, "value": value}}}},
            {"type": "object", "required": ["any_of"], "additionalProperties": false, "properties": {
                "any_of": {"type": "object", "required": ["field", "values"], "additionalProperties": false,
                           "properties": {"field": field, "values": {"type": "array", "items": value, "minItems": 1, "maxItems": 256}}}}},
            {"type": "object", "required": ["range"], "additionalProperties": false, "properties": {
                "range": {"type": "object", "required": ["field"], "additionalProperties": false,
                          "properties": {"field": field, "gte": bound, "gt": bound, "lte": bound, "lt": bound}}}},
            {"type": "object", "required": ["and"], "additionalProperties": false, "properties": {
                "and": {"type": "array", "minItems": 1, "maxItems": 8, "items": schema_ref("EngineFilter")}}},
            {"type": "object", "required": ["or"], "additionalProperties": false, "properties": {
                "or": {"type": "array", "minItems": 1, "maxItems": 8, "items": schema_ref("EngineFilter")}}}]}
    })
}

/// The `mode` of a text search.
fn search_mode() -> Value {
    json!({"enum": ["hybrid", "lexical", "vector"], "default": "hybrid",
        "description": "arms answering a text query: BM25F and vectors fused, BM25F only, vectors only"})
}

/// Schemas of the analyses, entities, searches and errors.
fn response_schemas() -> Value {
    let ts = json!({"type": "string", "format": "date-time"});
    let strings = json!({"type": "array", "items": {"type": "string"}});
    let id = json!({"type": "integer", "minimum": 1});
    let source = json!({"enum": ["llm", "llm+rules", "fallback"],
        "description": "llm: every field the model wrote grounded in the input; llm+rules: some did, the rules filled the rest; fallback: the rules answered"});
    let fields = json!({"type": "object", "description": "Where each field of the analysis came from",
        "additionalProperties": {"enum": ["llm", "rules", "llm+rules"]}});
    let dropped = json!({"type": "array", "maxItems": 32, "description": "Fields and list items of the model's answer that did not ground in the input",
        "items": {"type": "object", "required": ["field", "reason", "value"], "properties": {
            "field": {"type": "string"}, "reason": {"type": "string"}, "value": {"type": "string"}}}});
    let unit = json!({"type": "number", "minimum": 0, "maximum": 1});
    let occupation = json!({"description": "the standard occupation (CSCO 2022) the rules read from the title (a resume: the position sought or last held); null when none fits well enough; never the model's",
        "oneOf": [{"type": "object", "required": ["code", "name", "confidence"], "properties": {
            "code": {"type": "string", "pattern": "^[0-9]-[0-9]{2}-[0-9]{2}-[0-9]{2}$"},
            "name": {"type": "string"}, "confidence": unit}},
            {"type": "null"}]});
    let analysed = |id_key: &str, vectors_key: &str, analysis: &str, names: &[&str]| {
        json!({"type": "object",
            "required": [id_key, "status", "analysis", vectors_key, "source", "fields", "dropped", "model", "embedding_model", "created_at"],
            "properties": {
                id_key: id, "status": {"const": "completed"}, "analysis": schema_ref(analysis),
                vectors_key: named_vectors(names), "source": source, "fields": fields,
                "dropped": dropped, "model": {"type": "string"},
                "embedding_model": {"type": "string"}, "created_at": ts}})
    };
    let entity = |id_key: &str, data_key: &str| {
        json!({"type": "object",
            "required": [id_key, data_key, "analysis", "source", "model", "embedding_model", "created_at"],
            "properties": {
                id_key: id, data_key: {"type": ["object", "null"]},
                "analysis": {"type": ["object", "null"]}, "source": {"type": ["string", "null"]},
                "model": {"type": ["string", "null"]}, "embedding_model": {"type": ["string", "null"]},
                "created_at": {"type": ["string", "null"]}}})
    };
    let deleted = |id_key: &str| {
        json!({"type": "object", "required": [id_key, "status", "deleted_at"], "properties": {
            id_key: id, "status": {"const": "deleted"}, "deleted_at": ts}})
    };
    let results = |id_key: &str| {
        json!({"type": "object", "required": ["results", "total"], "properties": {
            "results": {"type": "array", "description": "best first: by the fused score for a text query, by distance for a query_vector",
                "items": {"type": "object", "required": [id_key],
                "properties": {id_key: id,
                    "distance": {"type": "number", "description": "cosine distance of the overall (or asked) vector; absent in lexical mode"},
                    "score": {"type": "number", "description": "fused score of a text query (higher is better)"},
                    "scores": {"type": "object", "description": "per arm: lexical (BM25F, null: no query term), vector (overall) and title (jobs) cosine similarities",
                        "additionalProperties": {"type": ["number", "null"]}},
                    "matched": {"type": "array", "items": {"type": "string"}, "description": "parts of the query the entity holds"},
                    "title": {"type": "string"}, "company": {"type": "string"}, "name": {"type": "string"},
                    "city": {"type": "string"}, "industry": {"type": "string"}, "company_size": {"type": "string"},
                    "salary_min": {"type": "number"}, "salary_max": {"type": "number"}, "company_id": {"type": "number"}}}},
            "total": {"type": "integer", "minimum": 0}}})
    };

    let mut all = json!({
        "Error": {"type": "object", "required": ["error", "message", "code", "success"], "properties": {
            "error": {"type": "string"}, "message": {"type": "string"},
            "code": {"type": "string", "pattern": "^[a-z0-9_]+$"}, "success": {"const": false}}},
        "Starting": {"type": "object", "required": ["status", "code", "error", "message"], "properties": {
            "status": {"const": "starting"}, "code": {"const": "starting"}, "error": {"type": "string"},
            "message": {"type": "string"}, "success": {"const": false}}},
        "Object": {"type": "object", "additionalProperties": true},
        "Health": {"type": "object", "required": ["status", "service", "version", "timestamp", "uptime_seconds", "components"],
            "properties": {
            "status": {"enum": ["healthy", "degraded", "starting"]},
            "degraded": {"type": "array", "items": {"enum": ["index", "storage", "llm", "postgres", "mysql"]}},
            "service": {"const": "ai-service"}, "version": {"type": "string"}, "timestamp": ts,
            "uptime_seconds": {"type": "integer", "minimum": 0},
            "components": {"type": "object", "required": ["index", "embedder", "llm"],
                "additionalProperties": {"type": "object", "required": ["status"],
                    "properties": {"status": {"type": "string"}}}}}},
        "ResumeAnalysis": analysed("resume_id", "vectors", "ResumeAnalysisBody", &["content", "skills", "experience", "overall"]),
        "JobAnalysis": analysed("job_id", "embeddings", "JobAnalysisBody", &["title", "description", "requirements", "overall"]),
        "CompanyAnalysis": analysed("company_id", "embeddings", "CompanyAnalysisBody", &["description", "culture", "benefits", "overall"]),
        "ResumeAnalysisBody": {"type": "object",
            "required": ["skills", "experience", "education", "summary", "score", "score_detail", "suggestions", "occupation"], "properties": {
            "skills": strings, "experience": strings, "education": strings, "summary": {"type": "string"},
            "score": {"type": "integer", "minimum": 0, "maximum": 100},
            "score_detail": {"type": "object", "required": ["facts", "model", "adjustment"], "properties": {
                "facts": {"type": "integer", "minimum": 0, "maximum": 100},
                "model": {"type": ["integer", "null"], "minimum": 0, "maximum": 100},
                "adjustment": {"type": "integer", "minimum": -5, "maximum": 0}}},
            "suggestions": strings, "occupation": occupation}},
        "JobAnalysisBody": {"type": "object", "required": ["enhanced_description", "extracted_skills",
            "salary_prediction", "experience_requirements", "company_culture_fit", "confidence_score", "occupation"], "properties": {
            "enhanced_description": {"type": "string"}, "extracted_skills": strings,
            "salary_prediction": {"type": "object", "required": ["min", "max", "currency", "period", "method", "sample_size", "confidence"],
                "properties": {
                "min": {"type": ["number", "null"]}, "max": {"type": ["number", "null"]},
                "currency": {"type": "string"}, "period": {"type": "string"},
                "method": {"enum": ["posted", "similar_jobs", "unknown"]},
                "sample_size": {"type": "integer", "minimum": 0},
                "confidence": {"type": "number", "minimum": 0, "maximum": 1}}},
            "experience_requirements": {"type": "string"}, "company_culture_fit": {"type": "string"},
            "confidence_score": {"type": "number", "minimum": 0, "maximum": 1},
            "occupation": occupation}},
        "CompanyAnalysisBody": {"type": "object", "required": ["company_profile", "culture_analysis",
            "benefits_analysis", "growth_potential", "industry_position", "confidence_score"], "properties": {
            "company_profile": {"type": "string"}, "culture_analysis": {"type": "string"},
            "benefits_analysis": {"type": "string"}, "growth_potential": {"type": "string"},
            "industry_position": {"type": "string"},
            "confidence_score": {"type": "number", "minimum": 0, "maximum": 1}}},
        "OccupationAnswer": {"type": "object", "required": ["occupations"], "properties": {
            "occupations": {"type": "array", "maxItems": 5, "description": "best first; empty when nothing fits",
                "items": {"type": "object", "required": ["code", "name", "level", "confidence"], "properties": {
                    "code": {"type": "string", "pattern": "^[0-9]-[0-9]{2}-[0-9]{2}-[0-9]{2}$"},
                    "name": {"type": "string"}, "level": {"enum": [3, 4]}, "confidence": unit}}}}},
        "ResumeSearchResults": results("resume_id"),
        "JobSearchResults": results("job_id"),
        "CompanySearchResults": results("company_id"),
        "ResumeVectors": {"type": "object", "required": ["resume_id", "vectors"], "properties": {
            "resume_id": id, "vectors": named_vectors(&["content", "skills", "experience", "overall"])}},
        "JobEntity": entity("job_id", "job_data"),
        "CompanyEntity": entity("company_id", "company_data"),
        "ResumeEntity": entity("resume_id", "resume_data"),
        "JobDeleted": deleted("job_id"),
        "CompanyDeleted": deleted("company_id"),
        "ResumeDeleted": deleted("resume_id"),
    });
    if let (Value::Object(all), Value::Object(more)) = (&mut all, recommend_schemas()) {
        all.extend(more);
    }
    all
}

fn recommend_schemas() -> Value {
    let id = json!({"type": "integer", "minimum": 1});
    let ts = json!({"type": "string", "format": "date-time"});
    let score = json!({"type": "number", "minimum": 0, "maximum": 1});
    let reasons = json!({"type": "array", "items": {"type": "string"}});
    // The six factors in 0..1; a company's also counts its matching open jobs.
    let factors = json!({"type": "object",
        "required": ["semantic", "skills", "experience", "basic", "culture", "occupation"],
        "properties": {"semantic": score, "skills": score, "experience": score, "basic": score,
                       "culture": score, "occupation": score,
                       "matching_jobs": {"type": "integer", "minimum": 0}},
        "additionalProperties": {"type": "number"}});
    let recommendations = |id_key: &str| {
        json!({"type": "object",
            "required": ["user_id", "recommendations", "total", "generated_at"], "properties": {
            "user_id": id,
            "recommendations": {"type": "array", "items": {"type": "object",
                "required": [id_key, "recommendation_score", "match_reasons", "match_factors"], "properties": {
                id_key: id, "recommendation_score": score,
                "match_reasons": reasons, "match_factors": factors}}},
            "total": {"type": "integer", "minimum": 0}, "generated_at": ts}})
    };
    json!({
        "JobRecommendations": recommendations("job_id"),
        "CompanyRecommendations": recommendations("company_id"),
        "Candidates": {"type": "object",
            "required": ["job_id", "candidates", "total", "generated_at"], "properties": {
            "job_id": id,
            "candidates": {"type": "array", "items": {"type": "object",
                "required": ["resume_id", "recommendation_score", "match_reasons", "match_factors"],
                "properties": {
                "resume_id": id, "user_id": id, "recommendation_score": score,
                "match_reasons": reasons, "match_factors": factors}}},
            "total": {"type": "integer", "minimum": 0}, "generated_at": ts}},
        "JobMatching": matching_envelope(json!({"type": "array", "items": match_result(&[
            "semantic", "skills", "experience", "basic", "cultural"])})),
        "EnhancedJobMatching": matching_envelope(json!({"type": "array", "items": match_result(&[
            "semantic_similarity", "skills_match", "experience_match", "education_match", "cultural_fit"])})),
        "MatchingRecommendations": matching_envelope(json!({"type": "object",
            "required": ["user_id", "resume_id", "recommendations", "personalized_suggestions", "generated_at"],
            "properties": {
            "user_id": {"type": ["integer", "null"]}, "resume_id": id,
            "recommendations": {"type": "array", "items": match_result(&[
                "semantic", "skills", "experience", "basic", "cultural"])},
            "personalized_suggestions": {"type": "object",
                "required": ["skill_improvements", "resume_optimizations", "career_advice"], "properties": {
                "skill_improvements": {"type": "array", "items": {"type": "string"}},
                "resume_optimizations": {"type": "array", "items": {"type": "string"}},
                "career_advice": {"type": "array", "items": {"type": "string"}}}},
            "generated_at": ts}})),
        "MatchingAnalysis": matching_envelope(json!({"type": "object",
            "required": ["user_id", "resume_id", "analysis", "generated_at"], "properties": {
            "user_id": {"type": ["integer", "null"]}, "resume_id": id, "generated_at": ts,
            "analysis": {"type": "object",
                "required": ["resume_analysis", "matching_trends", "improvement_areas", "market_insights"],
                "properties": {
                "resume_analysis": {"type": "object", "required": ["strengths", "weaknesses", "completeness_score"]},
                "matching_trends": {"type": "object", "required": ["average_match_score", "top_matching_industries", "skill_gaps"]},
                "improvement_areas": {"type": "object", "required": ["priority_skills", "experience_gaps", "education_opportunities"]},
                "market_insights": {"type": "object", "required": ["demand_trends", "salary_expectations", "competition_analysis"]}}}}})),
    })
}

/// The job service's `AIJobMatchingResponse` envelope around `data`.
fn matching_envelope(data: Value) -> Value {
    json!({"type": "object", "required": ["success", "data", "message", "timestamp", "metadata"],
        "properties": {
        "success": {"const": true}, "data": data, "message": {"type": "string"},
        "timestamp": {"type": "string", "format": "date-time"},
        "metadata": {"type": "object"}}})
}

/// The job service's `AIMatchResult` with its `Job` and `CompanyInfo` (integers where Go has
/// integer fields) and the breakdown's keys.
fn match_result(breakdown: &[&str]) -> Value {
    let int = json!({"type": "integer", "minimum": 0});
    let text = json!({"type": "string"});
    let score = json!({"type": "number", "minimum": 0, "maximum": 1});
    let ts = json!({"type": "string", "format": "date-time"});
    let company = json!({"type": "object",
        "required": ["id", "name", "short_name", "logo_url", "industry", "location"], "properties": {
        "id": int, "name": text, "short_name": text, "logo_url": text, "industry": text, "location": text}});
    let factors: Map<String, Value> = breakdown
        .iter()
        .map(|k| (k.to_string(), score.clone()))
        .collect();
    json!({"type": "object",
        "required": ["job_id", "match_score", "breakdown", "confidence", "job_info", "company_info", "reason"],
        "properties": {
        "job_id": int, "match_score": score,
        "breakdown": {"type": "object", "required": breakdown, "properties": factors},
        "confidence": score,
        "job_info": {"type": "object", "required": ["id", "title", "description", "requirements", "company_id",
            "industry", "location", "salary_min", "salary_max", "experience", "education", "job_type", "status",
            "view_count", "apply_count", "created_by", "created_at", "updated_at", "company"], "properties": {
            "id": int, "title": text, "description": text, "requirements": text, "company_id": int,
            "industry": text, "location": text, "salary_min": int, "salary_max": int, "experience": text,
            "education": text, "job_type": text, "status": text, "view_count": int, "apply_count": int,
            "created_by": int, "created_at": ts, "updated_at": ts, "company": company}},
        "company_info": company, "reason": text,
        "matched_skills": {"type": "array", "items": text}, "missing_skills": {"type": "array", "items": text}}})
}

/// Schemas of the gateway's AI routes (`/api/v1/ai/features`, start-analysis, analysis-result).
fn task_schemas() -> Value {
    let id = schema_ref("Id");
    let ts = json!({"type": "string", "format": "date-time"});
    let nullable_ts = json!({"type": ["string", "null"], "format": "date-time"});
    let task_id = json!({"type": "string", "pattern": "^task_[0-9]+_[0-9a-f]{8}$"});
    json!({
        "Features": {"type": "object", "required": ["status", "data"], "properties": {
            "status": {"const": "success"},
            "data": {"type": "array", "items": {"type": "object",
                "required": ["id", "points", "key", "title", "description", "icon", "available", "status", "features", "endpoints", "llm"],
                "properties": {
                "id": {"type": "integer"}, "points": {"type": "integer", "minimum": 0},
                "key": {"type": "string"},
                "title": {"type": "string"}, "description": {"type": "string"},
                "icon": {"type": "string"}, "available": {"type": "boolean"},
                "status": {"enum": ["available", "unavailable"]},
                "reason": {"type": "string"},
                "features": {"type": "array", "items": {"type": "string"}},
                "endpoints": {"type": "array", "minItems": 1, "items": {"type": "object",
                    "required": ["method", "path"], "properties": {
                    "method": {"enum": ["GET", "POST", "DELETE", "PUT", "PATCH"]}, "path": {"type": "string"}}}},
                "llm": {"enum": ["none", "optional", "required"]},
                "mode": {"enum": ["llm", "rules"]},
                "taskQueue": {"type": "object", "properties": {
                    "queued": {"type": "integer"}, "running": {"type": "integer"},
                    "capacity": {"type": "integer"}, "workers": {"type": "integer"},
                    "accepting": {"type": "boolean"}}}}}}}},
        "StartAnalysis": {"type": "object", "additionalProperties": false,
            "description": "the platform's {featureId, content, type}: content analysed for the feature without being stored; or a stored resume (resumeId, or the snake_case names of ResumeRequest; not both spellings of one field: 400), whose content defaults to the stored one. Without resumeId, content is required (400 missing_content)",
            "properties": {
            "featureId": {"description": "1 resume optimisation, 2 job matching, 3 interview preparation (422 unsupported_feature otherwise); default 1",
                "oneOf": [{"type": "integer", "minimum": 1, "maximum": 3}, {"type": "string", "pattern": "^[1-3]$"}]},
            "resumeId": id, "content": non_blank(MAX_CONTENT_CHARS),
            "fileName": text(MAX_FILE_NAME_CHARS), "fileType": text(MAX_FILE_TYPE_CHARS),
            "userId": id,
            "type": {"description": "ignored with featureId; without it names the feature (resume, job_matching, interview; 422 unsupported_analysis_type otherwise)",
                "enum": ["resume", "job_matching", "interview"]}},
            "example": {"featureId": 1, "content": "张三 5年Java后端开发经验 熟悉Spring Boot、MySQL", "type": "resume"}},
        "TaskStarted": {"type": "object", "required": ["status", "data"], "properties": {
            "status": {"const": "success"},
            "data": {"type": "object", "required": ["taskId", "status", "state", "resumeId", "createdAt", "message"],
                "properties": {
                "taskId": task_id, "status": {"const": "processing"}, "featureId": {"type": "integer"},
                "state": {"const": "queued"}, "resumeId": {"type": ["integer", "null"]},
                "createdAt": ts, "message": {"type": "string"}}}}},
        "Task": {"type": "object", "required": ["status", "data"], "properties": {
            "status": {"const": "success"},
            "data": {"type": "object", "required": ["taskId", "status", "state", "resumeId", "attempts", "createdAt"],
                "properties": {
                "taskId": task_id,
                "status": {"enum": ["processing", "completed", "failed"]},
                "state": {"enum": ["queued", "running", "completed", "failed"]},
                "featureId": {"type": "integer"},
                "resumeId": {"type": ["integer", "null"]}, "attempts": {"type": "integer", "minimum": 0},
                "createdAt": ts, "startedAt": nullable_ts, "finishedAt": nullable_ts,
                "result": {"type": "object"},
                "industryMatch": {"type": "object", "additionalProperties": {"type": "number", "minimum": 0, "maximum": 1}},
                "competitiveness": {"type": "integer", "minimum": 0, "maximum": 100},
                "competitivenessBasis": {"type": "integer", "minimum": 0},
                "questions": {"type": "array", "items": {"type": "string"}},
                "matches": {"type": "array"},
                "error": {"type": "string"}, "code": {"type": "string"},
                "id": {"type": "string"}, "title": {"type": "string"},
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
    let ts = json!({"type": "string", "format": "date-time"});
    let message = non_blank(MAX_MESSAGE_CHARS);
    json!({
        "SessionId": {"type": "string", "pattern": "^[A-Za-z0-9_.:-]{1,128}$"},
        "ChatRequest": {"type": "object", "required": ["message"], "additionalProperties": false,
            "description": "user_id: required with auth off (400 missing_user_id); an unknown conversation_type or a bad session_id is 400; an empty or too long message 422",
            "properties": {
            "user_id": id, "message": message,
            "conversation_type": types, "session_id": session,
            "stream": {"type": "boolean", "default": false}},
            "example": {"user_id": SAMPLE_ID, "message": "我想转行做 Rust 后端，有什么建议？",
                "conversation_type": "career_advice", "session_id": "st-session-1"}},
        "ChatResponse": {"type": "object", "required": ["conversation_id", "session_id",
            "response", "metadata", "tokens_used", "processing_time_ms", "created_at"], "properties": {
            "conversation_id": {"type": "integer"}, "session_id": {"type": "string"},
            "response": {"type": "string"}, "metadata": {"type": "object"},
            "tokens_used": {"type": "integer"}, "processing_time_ms": {"type": "integer"},
            "created_at": ts}},
        "ChatUnavailable": {"type": "object", "required": ["error", "code"], "properties": {
            "error": {"type": "string"}, "code": {"type": "string"},
            "reason": {"type": "string"}, "conversation_id": {"type": "integer"},
            "session_id": {"type": "string"}, "message_stored": {"type": "boolean"}}},
        "ChatMessage": {"type": "object", "required": ["message_id", "seq", "message_type", "content", "created_at"],
            "properties": {
            "message_id": {"type": "string"}, "seq": {"type": "integer"},
            "message_type": {"enum": ["user", "assistant", "system"]},
            "content": {"type": "string"}, "metadata": {},
            "tokens_used": {"type": ["integer", "null"]},
            "processing_time_ms": {"type": ["integer", "null"]}, "created_at": ts}},
        "ChatMessages": {"type": "object",
            "required": ["conversation_id", "user_id", "session_id", "conversation_type", "messages", "has_more", "next_before"],
            "properties": {
            "conversation_id": {"type": "integer"}, "user_id": {"type": "integer"},
            "session_id": {"type": "string"}, "conversation_type": types,
            "messages": {"type": "array", "items": schema_ref("ChatMessage")},
            "has_more": {"type": "boolean"}, "next_before": {"type": ["integer", "null"]}}},
        "ChatSessions": {"type": "object", "required": ["user_id", "sessions", "total"], "properties": {
            "user_id": {"type": "integer"}, "total": {"type": "integer", "minimum": 0},
            "sessions": {"type": "array", "items": {"type": "object",
                "required": ["conversation_id", "session_id", "conversation_type", "message_count", "started_at", "last_activity_at"],
                "properties": {
                "conversation_id": {"type": "integer"}, "session_id": {"type": "string"},
                "conversation_type": types, "model": {"type": ["string", "null"]},
                "message_count": {"type": "integer", "minimum": 0}, "started_at": ts,
                "last_activity_at": ts}}}}},
        "GatewayChat": {"type": "object", "required": ["message"], "additionalProperties": false,
            "properties": {
            "message": message,
            "history": {"type": ["array", "null"], "maxItems": 50,
                "description": "accepted, not used: the stored history is the truth"},
            "user_id": id},
            "example": {"message": "帮我看看简历怎么改", "user_id": SAMPLE_ID}},
        "GatewayChatAnswer": {"type": "object", "required": ["status", "data"], "properties": {
            "status": {"const": "success"},
            "data": {"type": "object", "required": ["message", "timestamp"], "properties": {
                "message": {"type": "string"}, "timestamp": ts,
                "session_id": {"type": "string"}, "conversation_id": {"type": "integer"},
                "tokens_used": {"type": "integer"}}}}},
        "GatewayChatHistory": {"type": "object", "required": ["status", "data"], "properties": {
            "status": {"const": "success"},
            "data": {"type": "array", "items": {"type": "object",
                "required": ["id", "message", "type", "timestamp"], "properties": {
                "id": {"type": "string"}, "message": {"type": "string"},
                "type": {"enum": ["user", "ai"]}, "timestamp": ts}}}}}
    })
}

fn schemas(dimension: Option<usize>) -> Value {
    let mut all = Map::new();
    for part in [
        request_schemas(dimension),
        engine_filter_schemas(),
        response_schemas(),
        task_schemas(),
        chat_schemas(),
    ] {
        if let Value::Object(m) = part {
            all.extend(m);
        }
    }
    Value::Object(all)
}

/// The document for a route table.
pub fn document(routes: &[Route]) -> Value {
    document_for(routes, None)
}

/// The document for a route table served by an embedder of `dimension` (the length a
/// `query_vector` must have; any other is 422 `dimension_mismatch`).
pub fn document_for(routes: &[Route], dimension: Option<usize>) -> Value {
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
            "schemas": schemas(dimension),
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

    #[test]
    fn every_link_names_an_operation_and_its_parameters() {
        let doc = document(&super::super::routes());
        let mut ops = std::collections::HashMap::new();
        for item in doc["paths"].as_object().unwrap().values() {
            for o in item.as_object().unwrap().values() {
                ops.insert(o["operationId"].as_str().unwrap().to_string(), o.clone());
            }
        }
        let mut links = 0;
        for o in ops.values() {
            let Some(ls) = o["responses"]["200"]["links"].as_object() else {
                continue;
            };
            for l in ls.values() {
                let target = &ops[l["operationId"].as_str().unwrap()];
                let names: Vec<&str> = target["parameters"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|p| p["name"].as_str().unwrap())
                    .collect();
                for p in l["parameters"].as_object().unwrap().keys() {
                    assert!(names.contains(&p.as_str()), "{p} of {l}");
                }
                links += 1;
            }
        }
        assert!(links >= 8, "{links}");
    }

    #[test]
    fn query_vectors_have_the_embedders_dimension() {
        let routes = super::super::routes();
        let qv = |doc: &Value| {
            doc["components"]["schemas"]["ResumeSearch"]["properties"]["query_vector"].clone()
        };
        let generic = qv(&document(&routes));
        assert_eq!(
            (generic["minItems"].as_u64(), generic["maxItems"].as_u64()),
            (Some(1), Some(4096))
        );
        let fixed = qv(&document_for(&routes, Some(384)));
        assert_eq!(
            (fixed["minItems"].as_u64(), fixed["maxItems"].as_u64()),
            (Some(384), Some(384))
        );
    }

    #[test]
    fn operation_ids_are_unique() {
        let routes = super::super::routes();
        let mut ids: Vec<String> = routes
            .iter()
            .map(|r| operation_id(r.method, r.path))
            .collect();
        ids.sort();
        ids.dedup();
        assert_eq!(ids.len(), routes.len());
    }

    #[test]
    fn every_error_status_has_the_error_body() {
        let doc = document(&super::super::routes());
        for (path, item) in doc["paths"].as_object().unwrap() {
            for (method, o) in item.as_object().unwrap() {
                let responses = o["responses"].as_object().unwrap();
                for s in ["503", "504"] {
                    assert!(responses.contains_key(s), "{method} {path} lacks {s}");
                }
                let public = PUBLIC_PATHS.contains(&path.as_str());
                assert_eq!(responses.contains_key("401"), !public, "{method} {path}");
                for (status, r) in responses {
                    if status != "200" {
                        assert!(
                            r["content"]["application/json"]["schema"]["$ref"].is_string(),
                            "{method} {path} {status}"
                        );
                    }
                }
                // A body means 400 (malformed), 413 (too large) and 422 (invalid).
                if o["requestBody"].is_object() {
                    for s in ["400", "413", "422"] {
                        assert!(responses.contains_key(s), "{method} {path} lacks {s}");
                    }
                }
            }
        }
    }
}
