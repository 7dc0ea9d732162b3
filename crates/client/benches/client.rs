//! One request through the client against the in-process mock (zero latency), next to the same request over a raw hyper connection: the difference is the client's overhead per request (pool checkout, breaker, budget, retry bookkeeping, body handling).

use bytes::Bytes;
use criterion::{criterion_group, criterion_main, Criterion};
use http::{HeaderMap, HeaderValue, Method};
use http_body_util::{BodyExt, Full};
use mock_upstream::{MockConfig, MockServer};
use relaybench_client::{BodyKind, Client, ClientSettings, Origin, RequestSpec};

const BODY: &str =
    r#"{"model":"mock-1","messages":[{"role":"user","content":"hi"}],"max_tokens":8}"#;

fn bench(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let mock = rt.block_on(async {
        MockServer::start(
            "127.0.0.1:0".parse().unwrap(),
            MockConfig {
                seed: Some(1),
                ..MockConfig::default()
            },
        )
        .await
        .unwrap()
    });
    let mut headers = HeaderMap::new();
    headers.insert("content-type", HeaderValue::from_static("application/json"));
    let spec = RequestSpec {
        method: Method::POST,
        path: "/v1/chat/completions".into(),
        headers,
        body: Bytes::from_static(BODY.as_bytes()),
        body_kind: BodyKind::Json,
        expect: None,
        keep_text: false,
        record_headers: None,
    };
    let client = rt.block_on(async {
        Client::new(
            Origin::parse(&mock.base_url()).unwrap(),
            ClientSettings::default(),
        )
        .unwrap()
    });
    let mut group = c.benchmark_group("one_request");
    group.bench_function("relaybench_client", |b| {
        b.to_async(&rt).iter(|| async {
            let ex = client.execute(&spec).await;
            assert!(ex.outcome == relaybench_client::Outcome::Ok);
        })
    });
    // The baseline: a bare hyper HTTP/1.1 connection, kept alive, no policies.
    let addr = mock.addr();
    let mut sender = rt.block_on(async {
        let stream = tokio::net::TcpStream::connect(addr).await.unwrap();
        stream.set_nodelay(true).unwrap();
        let (sender, conn) =
            hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream))
                .await
                .unwrap();
        tokio::spawn(conn);
        sender
    });
    let authority = addr.to_string();
    group.bench_function("raw_hyper", |b| {
        b.to_async(&rt).iter(|| {
            let request = http::Request::post("/v1/chat/completions")
                .header("host", authority.as_str())
                .header("content-type", "application/json")
                .body(Full::new(Bytes::from_static(BODY.as_bytes())))
                .unwrap();
            let fut = sender.send_request(request);
            async move {
                let response = fut.await.unwrap();
                let body = response.into_body().collect().await.unwrap().to_bytes();
                assert!(!body.is_empty());
            }
        })
    });
    group.finish();
    rt.block_on(mock.shutdown());
}

criterion_group!(benches, bench);
criterion_main!(benches);
