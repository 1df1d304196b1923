//! `FaultProxy`: a TCP proxy for integration tests that simulates database outages.
//!
//! ```ignore
//! #[path = "support/proxy.rs"]
//! mod proxy;
//!
//! let proxy = proxy::FaultProxy::start("127.0.0.1:5432").await;
//! let url = format!("postgres://postgres@127.0.0.1:{}/test", proxy.port());
//! // ... use the service ...
//! proxy.cut();      // every open connection is closed, new ones are closed at once
//! proxy.restore();  // back to normal
//! ```
//!
//! Runtime: `start` spawns the listener and one task per connection with `tokio::spawn`, on
//! the runtime of the caller, so it works under `#[tokio::test]` with the current-thread or the
//! multi-thread flavour. Under the current-thread flavour the proxy only makes progress while
//! the test is awaiting something (which it is whenever it talks to the proxy). The control
//! methods (`cut`, `restore`, `set_delay`, `blackhole`) are plain synchronous calls and may be
//! made from any thread. Dropping the proxy stops the listener and all connection tasks.
//!
//! Semantics:
//! - `cut`: bumps a generation counter (a `tokio::sync::watch`) and aborts every live
//!   connection task (their `AbortHandle`s are kept), which drops both sockets of each proxied
//!   connection: the client and the upstream see the connection closed (FIN; RST if they keep
//!   writing). Until `restore`, new connections are accepted by the kernel and closed at once
//!   without ever reaching the upstream, so a client sees EOF (or a reset) on its first read —
//!   the way a crashed server looks. The listening port stays the same throughout.
//! - `blackhole`: connections are accepted but no byte is forwarded in either direction (new
//!   connections do not even reach the upstream) until `restore`; bytes already read are held,
//!   not lost, and forwarded after `restore` — a hung server or a partitioned network.
//! - `set_delay(d)`: every chunk is held for `d` before it is forwarded, in both directions, on
//!   open and new connections (so a request/response round trip takes at least `2 * d`).

use std::io;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::{AbortHandle, JoinHandle};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Mode {
    Forward,
    Cut,
    Blackhole,
}

#[derive(Clone, Copy, Debug)]
struct State {
    mode: Mode,
    /// Bumped by every `cut`; a connection task only forwards while it equals the generation
    /// it was accepted in.
    generation: u64,
    delay: Duration,
}

struct Shared {
    upstream: String,
    state: watch::Sender<State>,
    accepted: AtomicUsize,
    /// Live connection tasks. The listener registers a task and `cut` drains the list under
    /// this lock, so no connection accepted before a `cut` can escape it.
    conns: Mutex<Vec<AbortHandle>>,
}

impl Shared {
    fn conns(&self) -> std::sync::MutexGuard<'_, Vec<AbortHandle>> {
        self.conns.lock().unwrap_or_else(|e| e.into_inner())
    }
}

pub struct FaultProxy {
    addr: SocketAddr,
    shared: Arc<Shared>,
    listener: JoinHandle<()>,
}

impl FaultProxy {
    /// Listens on 127.0.0.1:0 and forwards every accepted connection to `upstream` (e.g.
    /// "127.0.0.1:5432"). Spawns its tasks on the current tokio runtime (panics outside one).
    pub async fn start(upstream: &str) -> FaultProxy {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("fault proxy: bind 127.0.0.1:0");
        let addr = listener.local_addr().expect("fault proxy: local_addr");
        let (state, _) = watch::channel(State {
            mode: Mode::Forward,
            generation: 0,
            delay: Duration::ZERO,
        });
        let shared = Arc::new(Shared {
            upstream: upstream.to_string(),
            state,
            accepted: AtomicUsize::new(0),
            conns: Mutex::new(Vec::new()),
        });
        let listener = tokio::spawn(accept_loop(listener, shared.clone()));
        FaultProxy {
            addr,
            shared,
            listener,
        }
    }

    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Outage: closes every open connection at once (both directions) and closes new ones
    /// immediately after accepting them, until `restore`.
    pub fn cut(&self) {
        let mut conns = self.shared.conns();
        self.shared.state.send_modify(|s| {
            s.mode = Mode::Cut;
            s.generation += 1;
        });
        for conn in conns.drain(..) {
            conn.abort();
        }
    }

    /// Ends a `cut` or a `blackhole`: new connections are forwarded again, and connections
    /// held by a blackhole resume. Leaves the delay as it is.
    pub fn restore(&self) {
        let _conns = self.shared.conns();
        self.shared.state.send_modify(|s| s.mode = Mode::Forward);
    }

    /// Adds `d` latency before forwarding each chunk (zero = none); applies to open and new
    /// connections.
    pub fn set_delay(&self, d: Duration) {
        self.shared.state.send_modify(|s| s.delay = d);
    }

    /// Accept connections but never forward bytes (a hung server) until `restore`.
    pub fn blackhole(&self) {
        let _conns = self.shared.conns();
        self.shared.state.send_modify(|s| s.mode = Mode::Blackhole);
    }

    /// Number of connections accepted so far (including those closed at once during a cut).
    pub fn accepted(&self) -> usize {
        self.shared.accepted.load(Ordering::SeqCst)
    }
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        self.listener.abort();
        for conn in self.shared.conns().drain(..) {
            conn.abort();
        }
    }
}

async fn accept_loop(listener: TcpListener, shared: Arc<Shared>) {
    loop {
        let client = match listener.accept().await {
            Ok((client, _)) => client,
            Err(_) => {
                // EMFILE and friends: back off instead of spinning.
                tokio::time::sleep(Duration::from_millis(10)).await;
                continue;
            }
        };
        shared.accepted.fetch_add(1, Ordering::SeqCst);
        let _ = client.set_nodelay(true);
        // Checked and registered under the lock `cut` takes (never held across an await).
        {
            let mut conns = shared.conns();
            let state = *shared.state.borrow();
            if state.mode == Mode::Cut {
                drop(client); // closed at once: the client reads EOF
                continue;
            }
            conns.retain(|c| !c.is_finished());
            let task = tokio::spawn(serve(client, shared.clone(), state.generation));
            conns.push(task.abort_handle());
        }
    }
}

/// Error that ends a connection task because of a `cut` or a dropped proxy.
fn cut_error() -> io::Error {
    io::Error::new(io::ErrorKind::ConnectionAborted, "fault proxy: cut")
}

/// Waits until bytes may be forwarded: not blackholed, and still the generation the connection
/// was accepted in.
async fn wait_forwarding(rx: &mut watch::Receiver<State>, generation: u64) -> io::Result<()> {
    loop {
        {
            let s = rx.borrow_and_update();
            if s.generation != generation || s.mode == Mode::Cut {
                return Err(cut_error());
            }
            if s.mode == Mode::Forward {
                return Ok(());
            }
        }
        rx.changed().await.map_err(|_| cut_error())?;
    }
}

async fn serve(client: TcpStream, shared: Arc<Shared>, generation: u64) {
    let mut rx = shared.state.subscribe();
    // A blackholed connection does not reach the upstream before `restore`.
    if wait_forwarding(&mut rx, generation).await.is_err() {
        return;
    }
    let Ok(upstream) = TcpStream::connect(shared.upstream.as_str()).await else {
        return; // the client sees its connection closed
    };
    let _ = upstream.set_nodelay(true);
    let (client_read, client_write) = client.into_split();
    let (upstream_read, upstream_write) = upstream.into_split();
    // Ends on EOF in both directions, or at the first error in either (then both sockets are
    // dropped, so neither side is left half-open).
    let _ = tokio::try_join!(
        pump(client_read, upstream_write, rx.clone(), generation),
        pump(upstream_read, client_write, rx, generation),
    );
}

async fn pump<R, W>(
    mut from: R,
    mut to: W,
    mut rx: watch::Receiver<State>,
    generation: u64,
) -> io::Result<()>
where
    R: AsyncRead + Unpin,
    W: AsyncWrite + Unpin,
{
    let mut buf = vec![0u8; 16 * 1024];
    loop {
        wait_forwarding(&mut rx, generation).await?;
        let n = from.read(&mut buf).await?;
        if n == 0 {
            to.shutdown().await?;
            return Ok(());
        }
        let delay = rx.borrow().delay;
        if !delay.is_zero() {
            tokio::time::sleep(delay).await;
        }
        wait_forwarding(&mut rx, generation).await?;
        to.write_all(&buf[..n]).await?;
    }
}
