//! The HTTP/1.1 connection against a scripted server on a loopback socket: what goes on the wire, every body framing, interim heads, keep-alive and close, and malformed or cut responses — with each engine (`client.engine`), which must behave alike.

mod support;

use bytes::Bytes;
use http::{HeaderMap, HeaderValue, Method};
use relaybench_client::units::Dur;
use relaybench_client::{
    BodyKind, Client, ClientSettings, Exchange, Http1Engine, Origin, RequestSpec,
};
use relaybench_client::{IoKind, Outcome, Phase};
use std::time::Duration;
use support::quiet;
use support::scripted::{Reply, Scripted, Then};

fn reply(pieces: &[&[u8]]) -> Reply {
    Reply::new(pieces)
}

fn closing(pieces: &[&[u8]]) -> Reply {
    Reply::new(pieces).then(Then::Close)
}

/// Every test runs once per engine.
macro_rules! on_both_engines {
    ($($test:ident),* $(,)?) => {
        mod relaybench_engine {
            $(#[tokio::test]
            async fn $test() {
                super::$test(super::Http1Engine::Relaybench).await
            })*
        }
        mod hyper_engine {
            $(#[tokio::test]
            async fn $test() {
                super::$test(super::Http1Engine::Hyper).await
            })*
        }
    };
}

on_both_engines!(
    the_request_goes_out_as_http_1_1_with_host_length_and_headers,
    chunked_bodies_with_extensions_and_trailers_are_decoded_and_the_connection_reused,
    a_length_body_in_pieces_an_interim_head_and_bodiless_statuses_keep_the_connection,
    close_and_read_to_end_bodies_end_the_connection_and_the_next_request_dials,
    a_connection_the_server_closed_while_idle_is_not_lent_again,
    the_read_timeout_holds_for_every_request_of_a_kept_alive_connection,
    malformed_heads_are_protocol_errors_and_cut_responses_truncated,
    an_error_status_keeps_its_headers_and_body_excerpt,
    a_message_with_both_framings_is_read_by_its_coding,
);

/// Serves `replies` in order, one per request, over however many connections the client opens.
async fn scripted(engine: Http1Engine, replies: Vec<Reply>) -> (Client, Scripted) {
    scripted_with(replies, ClientSettings { engine, ..quiet() }).await
}

async fn scripted_with(replies: Vec<Reply>, settings: ClientSettings) -> (Client, Scripted) {
    let server = Scripted::replies(replies).await;
    let client = Client::new(Origin::parse(&server.url()).unwrap(), settings).unwrap();
    (client, server)
}

fn get(path: &str) -> RequestSpec {
    RequestSpec {
        method: Method::GET,
        path: path.into(),
        headers: HeaderMap::new(),
        body: Bytes::new(),
        // These tests are about framing, not about answers: any body is fine.
        body_kind: BodyKind::Opaque,
        expect: None,
        keep_text: false,
        record_headers: None,
    }
}

fn ok(ex: &Exchange) {
    assert_eq!(ex.outcome, Outcome::Ok, "{:?}", ex.detail);
}

async fn the_request_goes_out_as_http_1_1_with_host_length_and_headers(engine: Http1Engine) {
    let (client, seen) = scripted(
        engine,
        vec![
            reply(&[b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n"]),
            reply(&[b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n"]),
        ],
    )
    .await;
    let mut headers = HeaderMap::new();
    headers.insert("x-trace", HeaderValue::from_static("abc"));
    headers.append("x-trace", HeaderValue::from_static("def"));
    // A user's own length or host must not produce a second, conflicting header.
    headers.insert("content-length", HeaderValue::from_static("999"));
    let post = RequestSpec {
        method: Method::POST,
        path: "/v1/x?q=1".into(),
        headers,
        body: Bytes::from_static(b"{\"a\":1}"),
        body_kind: BodyKind::Opaque,
        expect: None,
        keep_text: false,
        record_headers: None,
    };
    ok(&client.execute(&post).await);
    ok(&client.execute(&get("/models")).await);
    let requests = seen.requests();
    let first = String::from_utf8(requests[0].clone()).unwrap();
    let lines: Vec<&str> = first.split("\r\n").collect();
    assert_eq!(lines[0], "POST /v1/x?q=1 HTTP/1.1");
    assert!(lines[1].starts_with("host: 127.0.0.1:"), "{first}");
    assert!(lines.contains(&"x-trace: abc") && lines.contains(&"x-trace: def"));
    assert_eq!(
        lines
            .iter()
            .filter(|l| l.starts_with("content-length"))
            .count(),
        1,
        "{first}"
    );
    assert!(lines.contains(&"content-length: 7"), "{first}");
    assert!(first.ends_with("\r\n\r\n{\"a\":1}"), "{first}");
    let second = String::from_utf8(requests[1].clone()).unwrap();
    assert!(second.starts_with("GET /models HTTP/1.1\r\n"), "{second}");
    assert!(
        !second.contains("content-length"),
        "a GET without a body has no length: {second}"
    );
    assert_eq!(
        seen.connections(),
        1,
        "keep-alive: both requests on one connection"
    );
}

async fn chunked_bodies_with_extensions_and_trailers_are_decoded_and_the_connection_reused(
    engine: Http1Engine,
) {
    let (client, seen) = scripted(
        engine,
        vec![
            reply(&[
                b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n5;ext=1\r\n{\"a\"",
                b":\r\n3\r\n12}\r",
                b"\n0\r\nx-checksum: 1\r\n\r\n",
            ]),
            reply(&[
                b"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n2\r\nok\r\n0\r\n\r\n",
            ]),
        ],
    )
    .await;
    let first = client.execute(&get("/a")).await;
    ok(&first);
    assert_eq!(first.body_bytes, 8, "chunk framing is not body");
    let second = client.execute(&get("/b")).await;
    ok(&second);
    assert_eq!(second.body_bytes, 2);
    assert!(second.reused && second.conn_id == first.conn_id);
    assert_eq!(seen.connections(), 1);
}

async fn a_length_body_in_pieces_an_interim_head_and_bodiless_statuses_keep_the_connection(
    engine: Http1Engine,
) {
    let (client, seen) = scripted(engine, vec![
        reply(&[
            b"HTTP/1.1 103 Early Hints\r\nlink: </a>\r\n\r\nHTTP/1.1 200 OK\r\ncontent-length: 10\r\n\r\n0123",
            b"456",
            b"789",
        ]),
        reply(&[b"HTTP/1.1 204 No Content\r\n\r\n"]),
        reply(&[b"HTTP/1.1 200 OK\r\ncontent-length: 1000\r\n\r\n"]),
        reply(&[b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nhi"]),
    ])
    .await;
    let first = client.execute(&get("/a")).await;
    ok(&first);
    assert_eq!(first.body_bytes, 10);
    ok(&client.execute(&get("/b")).await);
    let head = RequestSpec {
        method: Method::HEAD,
        ..get("/c")
    };
    let third = client.execute(&head).await;
    ok(&third);
    assert_eq!(
        third.body_bytes, 0,
        "a HEAD answer has no body whatever its length says"
    );
    let fourth = client.execute(&get("/d")).await;
    ok(&fourth);
    assert_eq!(fourth.body_bytes, 2);
    assert_eq!(seen.connections(), 1);
}

async fn close_and_read_to_end_bodies_end_the_connection_and_the_next_request_dials(
    engine: Http1Engine,
) {
    let (client, seen) = scripted(
        engine,
        vec![
            reply(&[b"HTTP/1.1 200 OK\r\nconnection: close\r\ncontent-length: 2\r\n\r\nhi"]),
            closing(&[b"HTTP/1.1 200 OK\r\n\r\nuntil the ", b"end"]),
            reply(&[b"HTTP/1.0 200 OK\r\ncontent-length: 1\r\n\r\n!"]),
            reply(&[b"HTTP/1.1 200 OK\r\ncontent-length: 1\r\n\r\n?"]),
        ],
    )
    .await;
    let first = client.execute(&get("/a")).await;
    ok(&first);
    let second = client.execute(&get("/b")).await;
    ok(&second);
    assert_eq!(
        second.body_bytes, 13,
        "the body ran to the end of the connection"
    );
    assert!(!second.reused);
    let third = client.execute(&get("/c")).await;
    ok(&third);
    let fourth = client.execute(&get("/d")).await;
    ok(&fourth);
    assert!(!fourth.reused, "HTTP/1.0 without keep-alive closes");
    assert_eq!(seen.connections(), 4);
}

async fn a_connection_the_server_closed_while_idle_is_not_lent_again(engine: Http1Engine) {
    let (client, seen) = scripted(
        engine,
        vec![
            closing(&[b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nhi"]),
            reply(&[b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nhi"]),
        ],
    )
    .await;
    ok(&client.execute(&get("/a")).await);
    // The server closes without saying so; the FIN arrives while the connection is idle.
    tokio::time::sleep(Duration::from_millis(100)).await;
    let second = client.execute(&get("/b")).await;
    ok(&second);
    assert!(!second.reused);
    assert_eq!(seen.connections(), 2);
}

async fn the_read_timeout_holds_for_every_request_of_a_kept_alive_connection(engine: Http1Engine) {
    let ok_reply = |after| reply(&[b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nhi"]).after(after);
    let hang = Reply::hang();
    let mut settings = ClientSettings { engine, ..quiet() };
    settings.timeouts.read = Dur::ms(400);
    let (client, seen) = scripted_with(
        vec![
            ok_reply(Duration::ZERO),
            ok_reply(Duration::from_millis(250)),
            ok_reply(Duration::from_millis(250)),
            hang,
        ],
        settings,
    )
    .await;
    ok(&client.execute(&get("/a")).await);
    // Slow answers within the limit, once right after the previous one and once after the
    // connection sat idle past the limit, do not time out.
    ok(&client.execute(&get("/b")).await);
    tokio::time::sleep(Duration::from_millis(600)).await;
    ok(&client.execute(&get("/c")).await);
    let hung = client.execute(&get("/d")).await;
    assert_eq!(hung.outcome, Outcome::Timeout(Phase::Read));
    let waited = hung.finished - hung.sent.unwrap();
    assert!(
        waited >= Duration::from_millis(400) && waited < Duration::from_secs(3),
        "{waited:?}"
    );
    assert!(hung.reused);
    assert_eq!(seen.connections(), 1);
}

async fn malformed_heads_are_protocol_errors_and_cut_responses_truncated(engine: Http1Engine) {
    let protocol = Outcome::Io(IoKind::Protocol);
    let truncated = Outcome::Io(IoKind::Truncated);
    let cases = [
        (reply(&[b"HTTP/1.1 2x0 OK\r\n\r\n"]), protocol),
        (
            reply(&[b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\ncontent-length: 3\r\n\r\nhi"]),
            protocol,
        ),
        (
            reply(&[b"HTTP/1.1 200 OK\r\ncontent-length: -1\r\n\r\n"]),
            protocol,
        ),
        (
            reply(&[b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\nzz\r\n"]),
            protocol,
        ),
        (
            reply(&[b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n2\r\nhiXX0\r\n\r\n"]),
            protocol,
        ),
        (reply(&[b"SMTP ready\r\n\r\n"]), protocol),
        (closing(&[b"HTTP/1.1 200 OK\r\ncontent-le"]), truncated),
        (
            closing(&[b"HTTP/1.1 200 OK\r\ncontent-length: 10\r\n\r\n01234"]),
            truncated,
        ),
        (
            closing(&[b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n5\r\n012"]),
            truncated,
        ),
        (
            closing(&[b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n5\r\n01234\r\n"]),
            truncated,
        ),
    ];
    for (answer, expected) in cases {
        let shown = String::from_utf8_lossy(&answer.pieces.concat()).into_owned();
        let (client, _server) = scripted(engine, vec![answer]).await;
        assert_eq!(client.execute(&get("/")).await.outcome, expected, "{shown}");
    }
}

async fn an_error_status_keeps_its_headers_and_body_excerpt(engine: Http1Engine) {
    let (client, _server) = scripted(engine, vec![reply(&[
        b"HTTP/1.1 429 Too Many Requests\r\nretry-after: 0\r\ncontent-length: 17\r\n\r\n{\"error\":\"slow\"}\n",
    ])])
    .await;
    let ex = client.execute(&get("/")).await;
    assert_eq!(ex.outcome, Outcome::Status(429));
    assert_eq!(ex.detail.as_deref(), Some("{\"error\":\"slow\"}"));
}

async fn a_message_with_both_framings_is_read_by_its_coding(engine: Http1Engine) {
    let both = b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\ncontent-length: 99\r\n\r\n2\r\nhi\r\n0\r\n\r\n";
    let (client, seen) = scripted(
        engine,
        vec![
            reply(&[both]),
            reply(&[b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nhi"]),
        ],
    )
    .await;
    let first = client.execute(&get("/a")).await;
    ok(&first);
    assert_eq!(
        first.body_bytes, 2,
        "Transfer-Encoding overrides Content-Length"
    );
    ok(&client.execute(&get("/b")).await);
    // The one difference the engines keep at this interface (see h1_differential): relaybench
    // does not reuse a connection after a possible smuggling attempt (RFC 9112 §6.3), hyper does.
    let expected = match engine {
        Http1Engine::Relaybench => 2,
        Http1Engine::Hyper => 1,
    };
    assert_eq!(seen.connections(), expected);
}
