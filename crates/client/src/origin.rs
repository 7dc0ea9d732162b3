//! Where requests go: scheme, host and port of one upstream, parsed from a base URL.

use std::fmt;

/// One origin (scheme + host + port) plus the base path requests are joined to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Origin {
    /// `true` for `https`.
    pub tls: bool,
    /// Host name or IP literal (without brackets).
    pub host: String,
    /// TCP port (defaulted from the scheme).
    pub port: u16,
    /// Path prefix of the base URL without a trailing slash, e.g. `/v1` or empty.
    pub base_path: String,
}

impl Origin {
    /// Parses `http://host[:port][/path]` or `https://...`.
    pub fn parse(url: &str) -> Result<Origin, String> {
        let uri: http::Uri = url.parse().map_err(|e| {
            format!("`{url}` is not a URL ({e}); expected e.g. \"http://127.0.0.1:8080\"")
        })?;
        let tls = match uri.scheme_str() {
            Some("http") => false,
            Some("https") => true,
            Some(other) => {
                return Err(format!(
                    "`{url}`: scheme `{other}` is not supported; use http:// or https://"
                ))
            }
            None => {
                return Err(format!(
                    "`{url}` has no scheme; write e.g. \"http://{url}\""
                ))
            }
        };
        let host = uri
            .host()
            .filter(|h| !h.is_empty())
            .ok_or_else(|| format!("`{url}` has no host"))?
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_string();
        let port = uri.port_u16().unwrap_or(if tls { 443 } else { 80 });
        let base_path = uri.path().trim_end_matches('/').to_string();
        Ok(Origin {
            tls,
            host,
            port,
            base_path,
        })
    }

    /// The `Host` header value.
    pub fn authority(&self) -> String {
        let default_port = if self.tls { 443 } else { 80 };
        let host = if self.host.contains(':') {
            format!("[{}]", self.host)
        } else {
            self.host.clone()
        };
        if self.port == default_port {
            host
        } else {
            format!("{host}:{}", self.port)
        }
    }

    /// Joins a request path onto the base path.
    pub fn path(&self, path: &str) -> String {
        if path.starts_with('/') {
            format!("{}{path}", self.base_path)
        } else {
            format!("{}/{path}", self.base_path)
        }
    }
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let scheme = if self.tls { "https" } else { "http" };
        write!(f, "{scheme}://{}{}", self.authority(), self.base_path)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_base_urls() {
        let o = Origin::parse("http://127.0.0.1:8080/v1/").unwrap();
        assert_eq!(
            (o.tls, o.host.as_str(), o.port, o.base_path.as_str()),
            (false, "127.0.0.1", 8080, "/v1")
        );
        assert_eq!(o.path("/chat/completions"), "/v1/chat/completions");
        let o = Origin::parse("https://api.example.com").unwrap();
        assert_eq!(
            (o.port, o.authority()),
            (443, "api.example.com".to_string())
        );
        let o = Origin::parse("http://[::1]:9000").unwrap();
        assert_eq!(
            (o.host.as_str(), o.authority()),
            ("::1", "[::1]:9000".to_string())
        );
        assert!(Origin::parse("ftp://x").unwrap_err().contains("scheme"));
        assert!(Origin::parse("localhost:80").is_err());
    }
}
