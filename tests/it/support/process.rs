//! The service binary as a child process, for tests that kill it, restart it or read its logs:
//! a free port, the base command (clean environment, loopback, a data dir, quiet logs), a guard
//! that `kill -9`s the process when dropped, and the wait until `/health` answers 200.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A port free on 127.0.0.1 at the time of the call.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// `jobfirst-ai` serving `data_dir` on 127.0.0.1:`port`, with an empty environment but for
/// `RUST_LOG=warn`, its output discarded; callers add their settings.
pub fn command(data_dir: &Path, port: u16) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_jobfirst-ai"));
    c.env_clear()
        .env("AI_SERVICE_HOST", "127.0.0.1")
        .env("AI_SERVICE_PORT", port.to_string())
        .env("AI_DATA_DIR", data_dir)
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    c
}

/// A running service; dropping it kills the process (SIGKILL).
pub struct Service {
    pub child: Child,
    pub port: u16,
}

impl Service {
    /// Spawns `command` (made by [`command`] for `port`) and waits until `/health` answers 200
    /// (at most 60 s).
    pub async fn start(mut command: Command, port: u16) -> Service {
        let child = command.spawn().unwrap();
        let mut s = Service { child, port };
        s.wait_ready().await;
        s
    }

    /// Waits until `/health` answers 200 (at most 60 s); panics if the process exits first.
    pub async fn wait_ready(&mut self) {
        let client = reqwest::Client::new();
        let t = Instant::now();
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                panic!("the service exited: {status}");
            }
            assert!(t.elapsed() < Duration::from_secs(60), "service never ready");
            if let Ok(r) = client.get(self.url("/health")).send().await {
                if r.status() == 200 {
                    return;
                }
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{}", self.port, path)
    }

    /// `kill -9`, and waits for the process to be gone.
    pub fn kill9(mut self) {
        self.child.kill().unwrap(); // SIGKILL
        self.child.wait().unwrap();
    }
}

impl Drop for Service {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
