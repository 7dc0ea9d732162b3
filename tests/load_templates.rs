//! Body templating end to end: every request's body is rendered with its own sequence number and random values, and an unknown placeholder is a scenario error naming the key.

mod util;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use relaybench::scenario;
use std::{
    path::Path,
    sync::{Arc, Mutex},
};

/// A loopback HTTP/1 server that keeps every request body and answers `{}`; stops with the runtime.
async fn recording_server() -> (String, Arc<Mutex<Vec<String>>>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let bodies = Arc::new(Mutex::new(Vec::new()));
    let kept = bodies.clone();
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let kept = kept.clone();
            tokio::spawn(async move {
                let service = hyper::service::service_fn(
                    move |req: hyper::Request<hyper::body::Incoming>| {
                        let kept = kept.clone();
                        async move {
                            let body = req.into_body().collect().await?.to_bytes();
                            kept.lock()
                                .unwrap()
                                .push(String::from_utf8_lossy(&body).into_owned());
                            Ok::<_, hyper::Error>(hyper::Response::new(Full::new(
                                Bytes::from_static(b"{}"),
                            )))
                        }
                    },
                );
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(hyper_util::rt::TokioIo::new(stream), service)
                    .await;
            });
        }
    });
    (url, bodies)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fifty_bodies_carry_fifty_distinct_indexes_and_random_values_in_range() {
    let (url, bodies) = recording_server().await;
    let text = format!(
        r#"
[[target]]
name = "echo"
url = "{url}"
[workload]
users = 4
threads = 2
requests = 50
[[workload.mix]]
kind = "http"
method = "POST"
path = "/echo"
body = '{{"n": {{{{index}}}}, "r": {{{{random:1-3}}}}}}'
"#
    );
    let run = &util::run_first(&text).await;
    assert_eq!(run.scheduled, 50);
    assert_eq!(run.outcomes.get("ok"), Some(&50), "{:?}", run.outcomes);
    let bodies = bodies.lock().unwrap().clone();
    assert_eq!(bodies.len(), 50);
    let mut indexes = Vec::new();
    for body in &bodies {
        let v: serde_json::Value =
            serde_json::from_str(body).unwrap_or_else(|e| panic!("`{body}` is JSON: {e}"));
        indexes.push(v["n"].as_u64().expect("n is a number"));
        let r = v["r"].as_u64().expect("r is a number");
        assert!((1..=3).contains(&r), "r = {r} in `{body}`");
    }
    indexes.sort_unstable();
    assert_eq!(
        indexes,
        (0..50).collect::<Vec<u64>>(),
        "distinct indexes 0..49"
    );
}

#[test]
fn unknown_placeholders_are_scenario_errors_naming_the_key() {
    let base = "[[target]]\nname = \"m\"\n[target.mock]\n[workload]\nusers = 1\nrequests = 1\n";
    let e = scenario::parse(
        Path::new("t.toml"),
        &format!("{base}[[workload.mix]]\nkind = \"http\"\nbody = \"{{{{nope}}}}\"\n"),
    )
    .expect_err("unknown placeholder");
    assert_eq!(e.key.as_deref(), Some("workload.mix[0].body"), "{e:?}");
    assert!(e.message.contains("{{nope}}"), "{e:?}");
    let e = scenario::parse(
        Path::new("t.toml"),
        &format!("{base}[[workload.mix]]\nprompts = [\"ok\", \"{{{{random:5-1}}}}\"]\n"),
    )
    .expect_err("bad range");
    assert_eq!(
        e.key.as_deref(),
        Some("workload.mix[0].prompts[1]"),
        "{e:?}"
    );
}
