//! `spawn_app()`: the service on 127.0.0.1 port 0 with a temp data dir, and a JSON client.

pub mod data;
pub mod db;
pub mod process;
pub mod proxy;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use jobfirst_ai::config::ServeArgs;
use jobfirst_ai::service::AiService;
use serde_json::Value;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

pub struct TestApp {
    pub addr: SocketAddr,
    /// The running service (for `metrics()` and other calls that have no route).
    pub service: AiService,
    pub client: reqwest::Client,
    /// Kept alive for the app's lifetime (and across restarts).
    pub dir: Arc<tempfile::TempDir>,
    stop: Option<oneshot::Sender<()>>,
    server: Option<JoinHandle<()>>,
}

/// A response: status and parsed JSON body (`Value::Null` when the body is not JSON).
pub struct Reply {
    pub status: u16,
    pub body: Value,
    pub content_type: String,
}

pub async fn spawn_app() -> TestApp {
    spawn_app_with(Arc::new(tempfile::tempdir().expect("temp dir")), false).await
}

pub async fn spawn_app_with(dir: Arc<tempfile::TempDir>, sample: bool) -> TestApp {
    spawn_app_configured(dir, |args| args.sample_data = Some(sample)).await
}

/// The app on `dir` with the test defaults changed by `configure`.
pub async fn spawn_app_configured(
    dir: Arc<tempfile::TempDir>,
    configure: impl FnOnce(&mut ServeArgs),
) -> TestApp {
    let mut args = ServeArgs::for_tests(PathBuf::from(dir.path()));
    configure(&mut args);
    let config = args.validate().expect("valid test config");
    let service = AiService::open(config).await.expect("service opens");
    serve_service(dir, service).await
}

/// Serves an opened service on 127.0.0.1 port 0.
pub async fn serve_service(dir: Arc<tempfile::TempDir>, service: AiService) -> TestApp {
    let app_service = service.clone();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let (tx, rx) = oneshot::channel::<()>();
    let server = tokio::spawn(async move {
        jobfirst_ai::http::serve(listener, service, async {
            let _ = rx.await;
        })
        .await
        .expect("server runs");
    });
    TestApp {
        addr,
        service: app_service,
        client: reqwest::Client::builder()
            .pool_max_idle_per_host(0)
            .build()
            .expect("client"),
        dir,
        stop: Some(tx),
        server: Some(server),
    }
}

impl TestApp {
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.addr, path)
    }

    async fn reply(r: reqwest::Response) -> Reply {
        let status = r.status().as_u16();
        let content_type = r
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_string();
        let bytes = r.bytes().await.expect("body");
        Reply {
            status,
            body: serde_json::from_slice(&bytes).unwrap_or(Value::Null),
            content_type,
        }
    }

    /// `method path` with a bearer token (or none) and a JSON body (or none).
    pub async fn call(
        &self,
        method: &str,
        path: &str,
        token: Option<&str>,
        body: Option<&Value>,
    ) -> Reply {
        let method = reqwest::Method::from_bytes(method.as_bytes()).expect("method");
        let mut req = self.client.request(method, self.url(path));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        if let Some(b) = body {
            req = req.json(b);
        }
        Self::reply(req.send().await.expect("request")).await
    }

    pub async fn get(&self, path: &str) -> Reply {
        Self::reply(self.client.get(self.url(path)).send().await.expect("GET")).await
    }

    pub async fn delete(&self, path: &str) -> Reply {
        Self::reply(
            self.client
                .delete(self.url(path))
                .send()
                .await
                .expect("DELETE"),
        )
        .await
    }

    pub async fn post(&self, path: &str, body: &Value) -> Reply {
        self.post_raw(path, serde_json::to_vec(body).expect("json"))
            .await
    }

    pub async fn post_raw(&self, path: &str, body: Vec<u8>) -> Reply {
        let r = self
            .client
            .post(self.url(path))
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await
            .expect("POST");
        Self::reply(r).await
    }

    /// Stops the server and waits until the store is released.
    pub async fn stop(mut self) -> Arc<tempfile::TempDir> {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
        if let Some(h) = self.server.take() {
            h.await.expect("server task");
        }
        self.dir.clone()
    }
}

/// A bearer token signed with `secret` for `user_id` in `role`, valid for an hour (the claims
/// the platform's auth service puts in every token).
pub fn token(secret: &str, user_id: u64, role: &str) -> String {
    jobfirst_ai::http::auth::JwtKey::new(secret).sign(&serde_json::json!({
        "user_id": user_id, "username": format!("u{user_id}"), "role": role,
        "exp": chrono::Utc::now().timestamp() + 3600
    }))
}
