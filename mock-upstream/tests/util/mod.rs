//! Test helper: start the mock on 127.0.0.1:0, and a small raw HTTP/1.1 client over TcpStream
//! (raw sockets see resets, truncation and per-connection delays exactly as they happen).
#![allow(dead_code)]

use mock_upstream::{MockConfig, MockHandle, MockServer};
use std::io;
use std::net::SocketAddr;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Upper bound on any single wait in a test, so a broken feature fails instead of hanging.
pub const WAIT: Duration = Duration::from_secs(10);

pub async fn start(config: MockConfig) -> MockHandle {
    MockServer::start("127.0.0.1:0".parse().unwrap(), config)
        .await
        .expect("mock starts")
}

pub fn seeded() -> MockConfig {
    MockConfig {
        seed: Some(7),
        ..MockConfig::default()
    }
}

pub const CHAT: &str =
    r#"{"model":"gpt-4o-mini","messages":[{"role":"user","content":"Say hello"}]}"#;
pub const CHAT_STREAM: &str = r#"{"model":"gpt-4o-mini","messages":[{"role":"user","content":"Say hello"}],"stream":true,"stream_options":{"include_usage":true}}"#;

/// A parsed response.
#[derive(Debug, Clone)]
pub struct Reply {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Reply {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| {
            panic!(
                "body is not JSON ({e}): {}",
                String::from_utf8_lossy(&self.body)
            )
        })
    }
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// How reading a response ended when it did not end well.
#[derive(Debug)]
pub enum Broken {
    /// The peer reset the connection (ECONNRESET), after `got` bytes.
    Reset {
        got: usize,
    },
    /// EOF before the response was complete, after `got` bytes.
    Truncated {
        got: usize,
    },
    /// Nothing arrived within the wait.
    TimedOut,
    Other(io::Error),
}

/// One keep-alive HTTP/1.1 connection.
pub struct Conn {
    pub stream: TcpStream,
    buf: Vec<u8>,
}

impl Conn {
    pub async fn open(addr: SocketAddr) -> Conn {
        let stream = TcpStream::connect(addr).await.expect("connect");
        stream.set_nodelay(true).unwrap();
        Conn {
            stream,
            buf: Vec::new(),
        }
    }

    pub async fn send(&mut self, method: &str, path: &str, headers: &[(&str, &str)], body: &str) {
        let mut req = format!(
            "{method} {path} HTTP/1.1\r\nhost: mock\r\ncontent-length: {}\r\n",
            body.len()
        );
        let has_type = headers
            .iter()
            .any(|(k, _)| k.eq_ignore_ascii_case("content-type"));
        if !has_type && !body.is_empty() {
            req.push_str("content-type: application/json\r\n");
        }
        for (k, v) in headers {
            req.push_str(&format!("{k}: {v}\r\n"));
        }
        req.push_str("\r\n");
        req.push_str(body);
        self.stream
            .write_all(req.as_bytes())
            .await
            .expect("write request");
    }

    pub async fn request(
        &mut self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: &str,
    ) -> Result<Reply, Broken> {
        self.send(method, path, headers, body).await;
        self.read_reply(WAIT).await
    }

    pub async fn post(&mut self, path: &str, body: &str) -> Reply {
        self.request("POST", path, &[], body)
            .await
            .unwrap_or_else(|e| panic!("POST {path}: {e:?}"))
    }

    pub async fn get(&mut self, path: &str) -> Reply {
        self.request("GET", path, &[], "")
            .await
            .unwrap_or_else(|e| panic!("GET {path}: {e:?}"))
    }

    async fn fill(&mut self, deadline: Instant) -> Result<usize, Broken> {
        let mut chunk = [0u8; 16 * 1024];
        let left = deadline.saturating_duration_since(Instant::now());
        match tokio::time::timeout(left, self.stream.read(&mut chunk)).await {
            Err(_) => Err(Broken::TimedOut),
            Ok(Ok(n)) => {
                self.buf.extend_from_slice(&chunk[..n]);
                Ok(n)
            }
            Ok(Err(e)) if e.kind() == io::ErrorKind::ConnectionReset => Err(Broken::Reset {
                got: self.buf.len(),
            }),
            Ok(Err(e)) => Err(Broken::Other(e)),
        }
    }

    /// Reads one response (content-length, chunked, or until close).
    pub async fn read_reply(&mut self, wait: Duration) -> Result<Reply, Broken> {
        let deadline = Instant::now() + wait;
        let head_end = loop {
            if let Some(i) = find(&self.buf, b"\r\n\r\n") {
                break i;
            }
            if self.fill(deadline).await? == 0 {
                return Err(Broken::Truncated {
                    got: self.buf.len(),
                });
            }
        };
        let head = String::from_utf8_lossy(&self.buf[..head_end]).into_owned();
        let mut lines = head.split("\r\n");
        let status_line = lines.next().unwrap_or_default();
        assert!(
            status_line.starts_with("HTTP/1."),
            "bad status line {status_line:?}"
        );
        let status: u16 = status_line
            .split(' ')
            .nth(1)
            .and_then(|s| s.parse().ok())
            .expect("status code");
        let headers: Vec<(String, String)> = lines
            .filter_map(|l| l.split_once(':'))
            .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
            .collect();
        self.buf.drain(..head_end + 4);
        let get = |n: &str| headers.iter().find(|(k, _)| k == n).map(|(_, v)| v.clone());
        let body = if let Some(len) = get("content-length").and_then(|v| v.parse::<usize>().ok()) {
            while self.buf.len() < len {
                if self.fill(deadline).await? == 0 {
                    return Err(Broken::Truncated {
                        got: self.buf.len(),
                    });
                }
            }
            self.buf.drain(..len).collect()
        } else if get("transfer-encoding").is_some_and(|v| v.contains("chunked")) {
            self.read_chunked(deadline).await?
        } else if status == 204 || status == 304 {
            Vec::new()
        } else {
            while self.fill(deadline).await? > 0 {}
            std::mem::take(&mut self.buf)
        };
        Ok(Reply {
            status,
            headers,
            body,
        })
    }

    async fn read_chunked(&mut self, deadline: Instant) -> Result<Vec<u8>, Broken> {
        let mut body = Vec::new();
        loop {
            let line_end = loop {
                if let Some(i) = find(&self.buf, b"\r\n") {
                    break i;
                }
                if self.fill(deadline).await? == 0 {
                    return Err(Broken::Truncated { got: body.len() });
                }
            };
            let size =
                usize::from_str_radix(String::from_utf8_lossy(&self.buf[..line_end]).trim(), 16)
                    .expect("chunk size");
            self.buf.drain(..line_end + 2);
            while self.buf.len() < size + 2 {
                if self.fill(deadline).await? == 0 {
                    return Err(Broken::Truncated {
                        got: body.len() + self.buf.len(),
                    });
                }
            }
            body.extend(self.buf.drain(..size));
            self.buf.drain(..2);
            if size == 0 {
                return Ok(body);
            }
        }
    }

    /// True when the server closed the connection (EOF) within `wait`.
    pub async fn closed_by_server(&mut self, wait: Duration) -> bool {
        let mut b = [0u8; 64];
        matches!(
            tokio::time::timeout(wait, self.stream.read(&mut b)).await,
            Ok(Ok(0)) | Ok(Err(_))
        )
    }
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

/// Polls `f` until it holds or `WAIT` passes.
pub async fn eventually(mut f: impl FnMut() -> bool) -> bool {
    let end = Instant::now() + WAIT;
    while Instant::now() < end {
        if f() {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    f()
}

/// One server-sent event: its `event:` name (when it has one) and its `data:` text.
#[derive(Debug, Clone)]
pub struct Event {
    pub name: Option<String>,
    pub data: String,
}

impl Event {
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.data)
            .unwrap_or_else(|e| panic!("event data is not JSON ({e}): {}", self.data))
    }
}

/// The events of an SSE body, in order.
pub fn sse_events(body: &str) -> Vec<Event> {
    body.split("\n\n")
        .filter(|block| !block.trim().is_empty())
        .map(|block| {
            let mut event = Event {
                name: None,
                data: String::new(),
            };
            for line in block.lines() {
                if let Some(name) = line.strip_prefix("event: ") {
                    event.name = Some(name.to_string());
                } else if let Some(data) = line.strip_prefix("data: ") {
                    event.data.push_str(data);
                } else {
                    panic!("not an SSE line: {line:?}");
                }
            }
            event
        })
        .collect()
}

/// Runs `tests/<script>` with python3 against `mock` and returns the JSON line it prints; `None`
/// (skipped) only when RELAYBENCH_SKIP_PYTHON=1. Fails, naming the fix, when `module` is not
/// importable.
pub async fn python_check(
    mock: &MockHandle,
    module: &str,
    script: &str,
) -> Option<serde_json::Value> {
    if std::env::var("RELAYBENCH_SKIP_PYTHON").as_deref() == Ok("1") {
        eprintln!("RELAYBENCH_SKIP_PYTHON=1: skipping the {module} SDK check");
        return None;
    }
    let probe = tokio::process::Command::new("python3")
        .args(["-c", &format!("import {module}")])
        .output()
        .await;
    match probe {
        Ok(o) if o.status.success() => {}
        Ok(o) => panic!(
            "the {module} Python SDK is not importable: run `pip install {module}` (or set RELAYBENCH_SKIP_PYTHON=1).\n{}",
            String::from_utf8_lossy(&o.stderr)
        ),
        Err(e) => panic!("python3 is not runnable ({e}): install Python 3 and `pip install {module}`, or set RELAYBENCH_SKIP_PYTHON=1"),
    }
    let script = format!("{}/tests/{script}", env!("CARGO_MANIFEST_DIR"));
    let child = tokio::process::Command::new("python3")
        .arg("-B") // the scripts import `mock_control.py`: leave no __pycache__ in tests/
        .arg(script)
        .arg(mock.base_url())
        .kill_on_drop(true)
        .output();
    let out = tokio::time::timeout(Duration::from_secs(60), child)
        .await
        .expect("SDK check finishes within 60 s")
        .expect("python3 runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{module} SDK check failed\nstdout: {stdout}\nstderr: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    Some(serde_json::from_str(stdout.trim()).expect("one JSON line"))
}
