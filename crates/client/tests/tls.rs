//! The client over real TLS: a rustls server on 127.0.0.1:0 with a CA and certificate generated at test time, serving HTTP/1.1 and h2 (hyper-util's auto builder, ALPN). Checks verification (unknown issuer, `ca_file`, `insecure`), ALPN-negotiated h2 sharing connections as streams, `http = "1"` staying on HTTP/1.1, and `http = "2"` refusing a server that does not pick h2.

mod support;

use bytes::Bytes;
use http_body_util::Full;
use hyper::{body::Incoming, service::service_fn, Request, Response, Version};
use hyper_util::{
    rt::{TokioExecutor, TokioIo},
    server::conn::auto,
};
use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair};
use relaybench_client::Outcome;
use relaybench_client::{Client, ClientSettings, HttpVersion, Origin};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use std::{
    convert::Infallible,
    io::Write,
    sync::{
        atomic::{AtomicUsize, Ordering::Relaxed},
        Arc, Mutex,
    },
    time::Duration,
};
use support::{
    h2server::CHAT_BODY,
    scripted::{Event, Reply, Scripted, Then},
    *,
};
use tokio::{net::TcpListener, task::JoinHandle};

/// A test CA and a server certificate for 127.0.0.1 signed by it.
struct Pki {
    /// The CA certificate, PEM (what `ca_file` points at).
    ca_pem: String,
    /// The server's certificate chain.
    chain: Vec<CertificateDer<'static>>,
    /// The server's key (PKCS#8 DER).
    key: Vec<u8>,
}

fn pki() -> Pki {
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params
        .distinguished_name
        .push(DnType::CommonName, "relaybench test CA");
    let ca_key = KeyPair::generate().unwrap();
    let ca_cert = ca_params.self_signed(&ca_key).unwrap();
    let leaf_key = KeyPair::generate().unwrap();
    let leaf = CertificateParams::new(vec!["127.0.0.1".to_string(), "localhost".to_string()])
        .unwrap()
        .signed_by(&leaf_key, &Issuer::new(ca_params, ca_key))
        .unwrap();
    Pki {
        ca_pem: ca_cert.pem(),
        chain: vec![leaf.der().clone(), ca_cert.der().clone()],
        key: leaf_key.serialize_der(),
    }
}

/// What the server saw.
#[derive(Default)]
struct Seen {
    /// TLS connections accepted (handshake completed).
    connections: AtomicUsize,
    /// HTTP version of every request served.
    versions: Mutex<Vec<Version>>,
}

/// A TLS server on 127.0.0.1:0 offering `alpn`; each response is delayed by `delay` so
/// concurrent requests overlap. Stops when the handle is aborted (or the runtime ends).
struct TlsServer {
    url: String,
    seen: Arc<Seen>,
    task: JoinHandle<()>,
}

impl Drop for TlsServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// A TLS acceptor with the test certificate, offering `alpn`.
fn acceptor(pki: &Pki, alpn: &[&[u8]]) -> tokio_rustls::TlsAcceptor {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(
            pki.chain.clone(),
            PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(pki.key.clone())),
        )
        .unwrap();
    config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
    tokio_rustls::TlsAcceptor::from(Arc::new(config))
}

async fn serve(pki: &Pki, alpn: &[&[u8]], delay: Duration) -> TlsServer {
    serve_slow_handshake(pki, alpn, delay, Duration::ZERO).await
}

/// Like `serve`, but every TLS handshake waits `handshake_delay` before the server answers.
async fn serve_slow_handshake(
    pki: &Pki,
    alpn: &[&[u8]],
    delay: Duration,
    handshake_delay: Duration,
) -> TlsServer {
    let acceptor = acceptor(pki, alpn);
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("https://{}", listener.local_addr().unwrap());
    let seen = Arc::new(Seen::default());
    let delays = (handshake_delay, delay);
    let task = tokio::spawn(accept_loop(listener, acceptor, seen.clone(), delays));
    TlsServer { url, seen, task }
}

async fn accept_loop(
    listener: TcpListener,
    acceptor: tokio_rustls::TlsAcceptor,
    seen: Arc<Seen>,
    (handshake_delay, delay): (Duration, Duration),
) {
    let mut conns = tokio::task::JoinSet::new();
    while let Ok((tcp, _)) = listener.accept().await {
        let (acceptor, seen) = (acceptor.clone(), seen.clone());
        conns.spawn(async move {
            tokio::time::sleep(handshake_delay).await;
            // A client that rejects the certificate aborts the handshake: not a connection.
            let Ok(tls) = acceptor.accept(tcp).await else {
                return;
            };
            seen.connections.fetch_add(1, Relaxed);
            let service = service_fn(move |req: Request<Incoming>| {
                let seen = seen.clone();
                async move {
                    seen.versions.lock().unwrap().push(req.version());
                    tokio::time::sleep(delay).await;
                    Ok::<_, Infallible>(Response::new(Full::new(Bytes::from_static(CHAT_ANSWER))))
                }
            });
            let _ = auto::Builder::new(TokioExecutor::new())
                .serve_connection(TokioIo::new(tls), service)
                .await;
        });
    }
}

fn client(server: &TlsServer, settings: ClientSettings) -> Client {
    Client::new(Origin::parse(&server.url).unwrap(), settings).expect("client builds")
}

const BOTH: &[&[u8]] = &[b"h2", b"http/1.1"];

#[tokio::test]
async fn an_unknown_issuer_is_a_connect_error_that_says_so() {
    let pki = pki();
    let server = serve(&pki, BOTH, Duration::ZERO).await;
    let ex = client(&server, quiet()).execute(&chat()).await;
    assert_eq!(ex.outcome, Outcome::ConnectError, "{:?}", ex.detail);
    let detail = ex.detail.unwrap_or_default();
    let squashed = detail.to_lowercase().replace([' ', '_'], "");
    assert!(squashed.contains("unknownissuer"), "{detail}");
    assert_eq!(server.seen.versions.lock().unwrap().len(), 0);
}

#[tokio::test]
async fn the_ca_file_makes_the_server_trusted() {
    let pki = pki();
    let dir = tempfile::tempdir().unwrap();
    let ca_file = dir.path().join("ca.pem");
    std::fs::write(&ca_file, &pki.ca_pem).unwrap();
    let server = serve(&pki, BOTH, Duration::ZERO).await;
    let settings = ClientSettings {
        ca_file: Some(ca_file.display().to_string()),
        ..quiet()
    };
    let ex = client(&server, settings).execute(&chat()).await;
    assert_eq!(ex.outcome, Outcome::Ok, "{:?}", ex.detail);
}

/// Captures formatted log lines.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[tokio::test]
async fn insecure_accepts_the_self_signed_server_and_warns_once() {
    let logs = Captured::default();
    let sink = logs.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_writer(move || sink.clone())
        .with_max_level(tracing::Level::WARN)
        .with_ansi(false)
        .finish();
    // Current-thread runtime: every task of this test logs through this thread's default.
    let _log = tracing::subscriber::set_default(subscriber);
    let pki = pki();
    let server = serve(&pki, BOTH, Duration::ZERO).await;
    let settings = ClientSettings {
        insecure: true,
        ..quiet()
    };
    let client = client(&server, settings);
    let worker = client.for_worker(2, 2);
    for c in [&client, &worker, &client] {
        let ex = c.execute(&chat()).await;
        assert_eq!(ex.outcome, Outcome::Ok, "{:?}", ex.detail);
    }
    let text = String::from_utf8(logs.0.lock().unwrap().clone()).unwrap();
    assert_eq!(
        text.matches("insecure").count(),
        1,
        "one warning per client, not per connection or worker:\n{text}"
    );
    assert!(text.contains("WARN"), "{text}");
}

fn trusting(pki: &Pki, dir: &tempfile::TempDir, http: HttpVersion) -> ClientSettings {
    let ca_file = dir.path().join("ca.pem");
    std::fs::write(&ca_file, &pki.ca_pem).unwrap();
    ClientSettings {
        ca_file: Some(ca_file.display().to_string()),
        http,
        ..quiet()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn auto_negotiates_h2_and_shares_connections_as_streams() {
    let pki = pki();
    let dir = tempfile::tempdir().unwrap();
    let server = serve(&pki, BOTH, Duration::from_millis(300)).await;
    let settings = ClientSettings {
        max_connections: 10,
        http2_max_streams: 10,
        ..trusting(&pki, &dir, HttpVersion::Auto)
    };
    let client = client(&server, settings);
    let requests = (0..20).map(|_| {
        let client = client.clone();
        tokio::spawn(async move { client.execute(&chat()).await })
    });
    let mut conn_ids = Vec::new();
    for request in requests.collect::<Vec<_>>() {
        let ex = request.await.unwrap();
        assert_eq!(ex.outcome, Outcome::Ok, "{:?}", ex.detail);
        conn_ids.push(ex.conn_id.unwrap());
    }
    conn_ids.sort_unstable();
    conn_ids.dedup();
    let accepted = server.seen.connections.load(Relaxed);
    // With one request per connection, 20 concurrent requests would open 10 connections.
    assert!(
        (1..=2).contains(&accepted),
        "server accepted {accepted} connections; versions {:?}",
        server.seen.versions.lock().unwrap()
    );
    assert!(conn_ids.len() <= 2, "client used {conn_ids:?}");
    assert!(client.pool_stats().peak_open <= 2);
    let versions = server.seen.versions.lock().unwrap();
    assert_eq!(versions.len(), 20);
    assert!(
        versions.iter().all(|v| *v == Version::HTTP_2),
        "{versions:?}"
    );
}

#[tokio::test]
async fn http1_stays_on_http1_against_an_h2_server() {
    let pki = pki();
    let dir = tempfile::tempdir().unwrap();
    let server = serve(&pki, BOTH, Duration::ZERO).await;
    let client = client(&server, trusting(&pki, &dir, HttpVersion::Http1));
    for _ in 0..3 {
        let ex = client.execute(&chat()).await;
        assert_eq!(ex.outcome, Outcome::Ok, "{:?}", ex.detail);
    }
    let versions = server.seen.versions.lock().unwrap();
    assert_eq!(*versions, vec![Version::HTTP_11; 3]);
    // Keep-alive: the three requests went over one connection.
    assert_eq!(server.seen.connections.load(Relaxed), 1);
}

#[tokio::test]
async fn auto_falls_back_to_http1_with_one_request_per_connection() {
    let pki = pki();
    let dir = tempfile::tempdir().unwrap();
    let server = serve(&pki, &[b"http/1.1"], Duration::from_millis(200)).await;
    let settings = ClientSettings {
        max_connections: 3,
        ..trusting(&pki, &dir, HttpVersion::Auto)
    };
    let client = client(&server, settings);
    let requests: Vec<_> = (0..6)
        .map(|_| {
            let client = client.clone();
            tokio::spawn(async move { client.execute(&chat()).await })
        })
        .collect();
    for request in requests {
        let ex = request.await.unwrap();
        assert_eq!(ex.outcome, Outcome::Ok, "{:?}", ex.detail);
    }
    let versions = server.seen.versions.lock().unwrap();
    assert!(
        versions.iter().all(|v| *v == Version::HTTP_11),
        "{versions:?}"
    );
    assert_eq!(versions.len(), 6, "every request reached the server");
    let accepted = server.seen.connections.load(Relaxed);
    // Six concurrent 200 ms requests on HTTP/1.1 need more than one connection, never above the cap.
    assert!((2..=3).contains(&accepted), "accepted {accepted}");
    assert!(client.pool_stats().peak_open <= 3);
}

#[tokio::test]
async fn http2_refuses_a_server_that_does_not_pick_h2() {
    let pki = pki();
    let dir = tempfile::tempdir().unwrap();
    // No ALPN on the server: it picks nothing, so the connection would be HTTP/1.1.
    let server = serve(&pki, &[], Duration::ZERO).await;
    let ex = client(&server, trusting(&pki, &dir, HttpVersion::Http2))
        .execute(&chat())
        .await;
    assert_eq!(ex.outcome, Outcome::ConnectError, "{:?}", ex.detail);
    let detail = ex.detail.unwrap_or_default();
    assert!(detail.contains("h2") && detail.contains("ALPN"), "{detail}");
    assert!(server.seen.versions.lock().unwrap().is_empty());
}

#[tokio::test]
async fn auto_over_http1_does_not_lend_a_connection_the_server_closed_while_idle() {
    // ALPN picks HTTP/1.1 under `http = "auto"`; the server closes a keep-alive connection
    // after 100 ms idle. That connection must get the idle check every HTTP/1.1 connection
    // gets, not be lent again and fail as if the server had cut an answer.
    let pki = pki();
    let dir = tempfile::tempdir().unwrap();
    let idle_close = Then::CloseWhenIdle(Duration::from_millis(100));
    let server = Scripted::start_tls(acceptor(&pki, &[b"http/1.1"]), move |_, _| {
        Some(Reply::json(CHAT_BODY).then(idle_close))
    })
    .await;
    let origin = Origin::parse(&format!("https://{}", server.addr)).unwrap();
    let client = Client::new(origin, trusting(&pki, &dir, HttpVersion::Auto)).unwrap();
    let first = client.execute(&chat()).await;
    assert_eq!(first.outcome, Outcome::Ok, "{:?}", first.detail);
    let closed = Event::Closed {
        conn: 0,
        reset: false,
    };
    assert!(eventually(|| server.events().contains(&closed)).await);
    let second = client.execute(&chat()).await;
    assert_eq!(second.outcome, Outcome::Ok, "{:?}", second.detail);
    assert!(!second.reused, "a connection the server closed is not lent");
    // The healthy part: the new connection is kept alive and reused.
    let third = client.execute(&chat()).await;
    assert_eq!(third.outcome, Outcome::Ok, "{:?}", third.detail);
    assert!(third.reused);
    assert_eq!(third.conn_id, second.conn_id);
    assert_eq!(
        server.events(),
        vec![
            Event::Accepted { conn: 0 },
            Event::Request { conn: 0, index: 0 },
            Event::Replied { conn: 0, index: 0 },
            closed,
            Event::Accepted { conn: 1 },
            Event::Request { conn: 1, index: 1 },
            Event::Replied { conn: 1, index: 1 },
            Event::Request { conn: 1, index: 2 },
            Event::Replied { conn: 1, index: 2 },
        ]
    );
}

#[tokio::test]
async fn a_request_cancelled_while_dialling_leaves_its_connection_to_the_pool() {
    // `http = "auto"`: nobody else dials while the first connection finds out the protocol.
    // Its request gives up (cancelled) during the slow handshake; the connection must still
    // count as dialled and serve the next request, not hold its room forever.
    let pki = pki();
    let dir = tempfile::tempdir().unwrap();
    let slow = Duration::from_millis(300);
    let server = serve_slow_handshake(&pki, &[b"http/1.1"], Duration::ZERO, slow).await;
    let settings = ClientSettings {
        max_connections: 1,
        ..trusting(&pki, &dir, HttpVersion::Auto)
    };
    let client = client(&server, settings);
    let gave_up = tokio::time::timeout(Duration::from_millis(50), client.execute(&chat())).await;
    assert!(gave_up.is_err(), "cancelled while dialling");
    let next = client.execute(&chat()).await;
    assert_eq!(next.outcome, Outcome::Ok, "{:?}", next.detail);
    assert!(
        next.reused,
        "served by the connection dialled for the cancelled request"
    );
    assert_eq!(server.seen.connections.load(Relaxed), 1);
    assert_eq!(
        *server.seen.versions.lock().unwrap(),
        vec![Version::HTTP_11]
    );
}
