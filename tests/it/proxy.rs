//! Tests of the test-support `FaultProxy` itself: against an echo server started here, and
//! against the real PostgreSQL at 127.0.0.1:5432 (see `.ci/run`, which makes sure it is up).

use crate::support::proxy;

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use proxy::FaultProxy;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;
use tokio::time::timeout;

/// An echo server on 127.0.0.1:0; dropping the handle does not stop it, aborting does.
async fn echo_server() -> (SocketAddr, JoinHandle<()>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let task = tokio::spawn(async move {
        loop {
            let Ok((mut conn, _)) = listener.accept().await else {
                continue;
            };
            tokio::spawn(async move {
                let (mut r, mut w) = conn.split();
                if tokio::io::copy(&mut r, &mut w).await.is_ok() {
                    let _ = w.shutdown().await;
                }
            });
        }
    });
    (addr, task)
}

async fn start_echo_proxy() -> (FaultProxy, JoinHandle<()>) {
    let (echo, task) = echo_server().await;
    (FaultProxy::start(&echo.to_string()).await, task)
}

/// Writes `msg` and reads the same number of bytes back, within 5 s.
async fn round_trip(conn: &mut TcpStream, msg: &[u8]) -> Vec<u8> {
    conn.write_all(msg).await.unwrap();
    let mut back = vec![0u8; msg.len()];
    timeout(Duration::from_secs(5), conn.read_exact(&mut back))
        .await
        .expect("echo through the proxy timed out")
        .expect("echo through the proxy failed");
    back
}

/// The connection must be closed (EOF or an error) within 1 s, without delivering data.
async fn assert_closed(conn: &mut TcpStream, what: &str) {
    let mut buf = [0u8; 64];
    match timeout(Duration::from_secs(1), conn.read(&mut buf)).await {
        Ok(Ok(0)) | Ok(Err(_)) => {}
        Ok(Ok(n)) => panic!("{what}: expected a closed connection, read {n} bytes"),
        Err(_) => panic!("{what}: still open after 1 s"),
    }
}

/// A new connection must fail, or be closed at once.
async fn assert_connect_fails(addr: SocketAddr, what: &str) {
    match timeout(Duration::from_secs(1), TcpStream::connect(addr)).await {
        Err(_) => panic!("{what}: connect hung"),
        Ok(Err(_)) => {}
        Ok(Ok(mut conn)) => assert_closed(&mut conn, what).await,
    }
}

async fn bytes_flow() {
    let (proxy, _echo) = start_echo_proxy().await;
    assert_eq!(proxy.accepted(), 0);
    assert_eq!(proxy.addr().port(), proxy.port());

    let mut conn = TcpStream::connect(proxy.addr()).await.unwrap();
    assert_eq!(round_trip(&mut conn, b"hello").await, b"hello");

    // 1 MiB in both directions at once (more than any socket buffer).
    let payload: Vec<u8> = (0..1 << 20).map(|i: u32| (i % 251) as u8).collect();
    let (mut r, mut w) = conn.into_split();
    let sent = payload.clone();
    let writer = tokio::spawn(async move {
        w.write_all(&sent).await.unwrap();
        w.shutdown().await.unwrap(); // half-close travels through the proxy ...
        w
    });
    let mut back = Vec::new();
    timeout(Duration::from_secs(10), r.read_to_end(&mut back))
        .await
        .expect("1 MiB echo timed out")
        .unwrap(); // ... and the echo server's EOF comes back
    assert_eq!(back.len(), payload.len());
    assert!(back == payload, "payload corrupted through the proxy");
    drop(writer.await.unwrap());

    let mut second = TcpStream::connect(proxy.addr()).await.unwrap();
    assert_eq!(round_trip(&mut second, b"again").await, b"again");
    assert_eq!(proxy.accepted(), 2);
}

#[tokio::test]
async fn bytes_flow_current_thread() {
    bytes_flow().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bytes_flow_multi_thread() {
    bytes_flow().await;
}

async fn cut_and_restore() {
    let (proxy, _echo) = start_echo_proxy().await;
    let mut open = TcpStream::connect(proxy.addr()).await.unwrap();
    let mut other = TcpStream::connect(proxy.addr()).await.unwrap();
    assert_eq!(round_trip(&mut open, b"ping").await, b"ping");
    assert_eq!(round_trip(&mut other, b"pong").await, b"pong");

    proxy.cut();
    let started = Instant::now();
    assert_closed(&mut open, "open connection after cut").await;
    assert_closed(&mut other, "second open connection after cut").await;
    assert!(started.elapsed() < Duration::from_secs(1));
    // Writing to a cut connection does not bring anything back either.
    let _ = open.write_all(b"anyone?").await;
    assert_closed(&mut open, "written-to connection after cut").await;

    for i in 0..3 {
        assert_connect_fails(proxy.addr(), &format!("new connection {i} during cut")).await;
    }
    let accepted_during_cut = proxy.accepted();
    assert_eq!(accepted_during_cut, 5, "2 before the cut, 3 during it");

    proxy.restore();
    let mut fresh = TcpStream::connect(proxy.addr()).await.unwrap();
    assert_eq!(round_trip(&mut fresh, b"back").await, b"back");
    assert_eq!(proxy.accepted(), accepted_during_cut + 1);
    // Connections cut before stay dead.
    assert_closed(&mut other, "cut connection after restore").await;

    // A second outage works the same way.
    proxy.cut();
    assert_closed(&mut fresh, "connection after the second cut").await;
    assert_connect_fails(proxy.addr(), "new connection during the second cut").await;
    proxy.restore();
    let mut last = TcpStream::connect(proxy.addr()).await.unwrap();
    assert_eq!(round_trip(&mut last, b"ok").await, b"ok");
}

#[tokio::test]
async fn cut_and_restore_current_thread() {
    cut_and_restore().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cut_and_restore_multi_thread() {
    cut_and_restore().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn delay_applies_to_open_and_new_connections() {
    let (proxy, _echo) = start_echo_proxy().await;
    let mut open = TcpStream::connect(proxy.addr()).await.unwrap();
    assert_eq!(round_trip(&mut open, b"warm").await, b"warm");

    proxy.set_delay(Duration::from_millis(200));
    let started = Instant::now();
    assert_eq!(round_trip(&mut open, b"slow").await, b"slow");
    let open_rtt = started.elapsed();
    assert!(open_rtt >= Duration::from_millis(200), "{open_rtt:?}");

    let mut new = TcpStream::connect(proxy.addr()).await.unwrap();
    let started = Instant::now();
    assert_eq!(round_trip(&mut new, b"slow too").await, b"slow too");
    let new_rtt = started.elapsed();
    assert!(new_rtt >= Duration::from_millis(200), "{new_rtt:?}");

    proxy.set_delay(Duration::ZERO);
    assert_eq!(round_trip(&mut open, b"fast").await, b"fast");
}

#[tokio::test]
async fn blackhole_hangs_until_restore() {
    let (proxy, _echo) = start_echo_proxy().await;
    let mut open = TcpStream::connect(proxy.addr()).await.unwrap();
    assert_eq!(round_trip(&mut open, b"before").await, b"before");

    proxy.blackhole();
    let mut buf = [0u8; 16];
    open.write_all(b"held").await.unwrap();
    assert!(
        timeout(Duration::from_millis(500), open.read(&mut buf))
            .await
            .is_err(),
        "a blackholed connection answered"
    );
    // New connections are accepted, but nothing comes back.
    let mut new = TcpStream::connect(proxy.addr()).await.unwrap();
    new.write_all(b"hello?").await.unwrap();
    assert!(
        timeout(Duration::from_millis(500), new.read(&mut buf))
            .await
            .is_err(),
        "a new blackholed connection answered"
    );
    assert_eq!(proxy.accepted(), 2);

    // The held bytes are delivered after restore, on both connections.
    proxy.restore();
    let mut back = [0u8; 4];
    timeout(Duration::from_secs(2), open.read_exact(&mut back))
        .await
        .expect("held bytes not delivered after restore")
        .unwrap();
    assert_eq!(&back, b"held");
    let mut back = [0u8; 6];
    timeout(Duration::from_secs(2), new.read_exact(&mut back))
        .await
        .expect("held bytes not delivered after restore")
        .unwrap();
    assert_eq!(&back, b"hello?");

    // A cut during a blackhole closes the hung connections.
    proxy.blackhole();
    open.write_all(b"x").await.unwrap();
    proxy.cut();
    assert_closed(&mut open, "blackholed connection after cut").await;
}

#[tokio::test]
async fn drop_stops_listener_and_connections() {
    let (proxy, _echo) = start_echo_proxy().await;
    let addr = proxy.addr();
    let mut open = TcpStream::connect(addr).await.unwrap();
    assert_eq!(round_trip(&mut open, b"hi").await, b"hi");
    drop(proxy);
    assert_closed(&mut open, "connection after drop").await;
    // The listener goes away as soon as the runtime has run the abort.
    let deadline = Instant::now() + Duration::from_secs(1);
    loop {
        match TcpStream::connect(addr).await {
            Err(_) => break,
            Ok(_) if Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(10)).await
            }
            Ok(_) => panic!("the proxy still accepts connections 1 s after drop"),
        }
    }
}

/// PostgreSQL's SSLRequest: length 8, code 80877103. The server answers one byte, 'N' or 'S'.
const SSL_REQUEST: [u8; 8] = [0, 0, 0, 8, 0x04, 0xd2, 0x16, 0x2f];

async fn ssl_request(conn: &mut TcpStream) -> std::io::Result<u8> {
    conn.write_all(&SSL_REQUEST).await?;
    let mut answer = [0u8; 1];
    match timeout(Duration::from_secs(2), conn.read(&mut answer)).await {
        Err(_) => Err(std::io::Error::new(
            std::io::ErrorKind::TimedOut,
            "no answer to SSLRequest",
        )),
        Ok(Ok(0)) => Err(std::io::ErrorKind::UnexpectedEof.into()),
        Ok(Ok(_)) => Ok(answer[0]),
        Ok(Err(e)) => Err(e),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_through_the_proxy_and_cut() {
    const PG: &str = "127.0.0.1:5432";
    let mut direct = TcpStream::connect(PG)
        .await
        .unwrap_or_else(|e| panic!("PostgreSQL is not reachable at {PG} ({e}); see .ci/run"));
    let direct_answer = ssl_request(&mut direct).await.unwrap();
    assert!(matches!(direct_answer, b'N' | b'S'), "{direct_answer}");

    let proxy = FaultProxy::start(PG).await;
    let mut conn = TcpStream::connect(proxy.addr()).await.unwrap();
    let answer = ssl_request(&mut conn).await.unwrap();
    assert_eq!(
        answer, direct_answer,
        "PostgreSQL answers the same via the proxy"
    );
    assert_eq!(proxy.accepted(), 1);

    proxy.cut();
    assert_closed(&mut conn, "PostgreSQL connection after cut").await;
    match TcpStream::connect(proxy.addr()).await {
        Err(_) => {}
        Ok(mut next) => {
            let result = ssl_request(&mut next).await;
            assert!(
                matches!(&result, Err(e) if e.kind() != std::io::ErrorKind::TimedOut),
                "a connect during the cut must fail at once, got {result:?}"
            );
        }
    }

    proxy.restore();
    let mut again = TcpStream::connect(proxy.addr()).await.unwrap();
    assert_eq!(ssl_request(&mut again).await.unwrap(), direct_answer);
}
