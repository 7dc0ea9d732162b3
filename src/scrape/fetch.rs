//! One scrape: `GET` a metrics URL over a fresh HTTP/1.1 connection (plain `http://`) and return its body as text.

use bytes::Bytes;
use http_body_util::{BodyExt, Empty, Limited};
use hyper_util::rt::TokioIo;

/// Largest exposition read; a larger one is a failed scrape (a runaway endpoint must not eat memory).
const MAX_BODY: usize = 16 * 1024 * 1024;

/// A checked scrape URL: host, port, path.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ScrapeUrl {
    /// `host:port`.
    authority: String,
    /// Path and query.
    path: String,
}

impl ScrapeUrl {
    /// Accepts `http://host[:port]/path` (no credentials: they would end up in reports).
    pub fn parse(url: &str) -> Result<ScrapeUrl, String> {
        let uri: http::Uri = url.parse().map_err(|e| {
            format!("`{url}` is not a URL ({e}); expected `http://host:port/metrics`")
        })?;
        match uri.scheme_str() {
            Some("http") => {}
            Some(other) => {
                return Err(format!(
                    "`{url}`: scheme `{other}` is not supported; metrics are scraped over plain `http://`"
                ))
            }
            None => return Err(format!("`{url}` needs `http://`")),
        }
        let authority = uri
            .authority()
            .ok_or_else(|| format!("`{url}` has no host"))?;
        if authority.as_str().contains('@') {
            return Err("the metrics URL must not carry credentials".into());
        }
        Ok(ScrapeUrl {
            authority: format!(
                "{}:{}",
                authority.host(),
                authority.port_u16().unwrap_or(80)
            ),
            path: uri
                .path_and_query()
                .map_or("/".into(), |p| p.as_str().to_string()),
        })
    }

    /// `http://host:port/path`, for results and messages.
    pub fn display(&self) -> String {
        format!("http://{}{}", self.authority, self.path)
    }
}

/// Fetches the exposition text.
pub async fn get(url: &ScrapeUrl) -> Result<String, String> {
    let stream = tokio::net::TcpStream::connect(&url.authority)
        .await
        .map_err(|e| format!("connect: {e}"))?;
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .map_err(|e| format!("handshake: {e}"))?;
    let conn = tokio::spawn(conn);
    let request = http::Request::get(url.path.as_str())
        .header(http::header::HOST, url.authority.as_str())
        .header(
            http::header::ACCEPT,
            "application/openmetrics-text;version=1.0.0,text/plain;version=0.0.4;q=0.5",
        )
        .body(Empty::<Bytes>::new())
        .map_err(|e| format!("request: {e}"))?;
    let result = async {
        let response = sender
            .send_request(request)
            .await
            .map_err(|e| format!("request: {e}"))?;
        if !response.status().is_success() {
            return Err(format!("status {}", response.status().as_u16()));
        }
        let body = Limited::new(response.into_body(), MAX_BODY)
            .collect()
            .await
            .map_err(|e| format!("body: {e}"))?
            .to_bytes();
        String::from_utf8(body.to_vec()).map_err(|_| "the body is not UTF-8".to_string())
    }
    .await;
    conn.abort();
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_are_plain_http_without_credentials() {
        let u = ScrapeUrl::parse("http://127.0.0.1:9090/metrics?x=1").unwrap();
        assert_eq!(u.display(), "http://127.0.0.1:9090/metrics?x=1");
        assert_eq!(
            ScrapeUrl::parse("http://relay/metrics").unwrap().display(),
            "http://relay:80/metrics"
        );
        assert!(ScrapeUrl::parse("https://relay/metrics")
            .unwrap_err()
            .contains("http://"));
        assert!(ScrapeUrl::parse("relay:9090/metrics").is_err());
        assert!(ScrapeUrl::parse("not a url").is_err());
        assert!(ScrapeUrl::parse("http://user:secret@relay/metrics")
            .unwrap_err()
            .contains("credentials"));
    }
}
