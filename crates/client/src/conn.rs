//! One upstream connection: dialling (TCP + TLS under the connect timeout), then our HTTP/1.1 connection or the HTTP/2 handshake (`h2`) on a socket wrapped in [`TimedIo`] (the write timeout).

use super::{
    h1::{H1Conn, OwnConn},
    h1_hyper::HyperConn,
    h2::{ConnWatcher, H2Conn},
    origin::Origin,
    settings::{Http1Engine, HttpVersion},
    stats::PoolCounters,
    timed_io::{TimedIo, WriteProbe},
};
use std::{
    sync::{Arc, Weak},
    time::{Duration, Instant},
};
use tokio::{
    io::{AsyncRead, AsyncWrite},
    net::TcpStream,
};

/// Why a connection could not be made.
#[derive(Debug, thiserror::Error)]
pub enum DialError {
    /// The connect timeout fired (TCP + TLS + HTTP handshake).
    #[error("connect timed out after {0:?}")]
    Timeout(Duration),
    /// TCP (or TLS) failed.
    #[error("connect failed: {0}")]
    Failed(String),
}

/// What a dialled connection needs to know besides the origin.
#[derive(Clone)]
pub struct DialConfig {
    /// TCP + TLS handshake limit.
    pub connect_timeout: Duration,
    /// Longest stall of a write.
    pub write_timeout: Duration,
    /// HTTP version asked for.
    pub http: HttpVersion,
    /// Which implementation speaks HTTP/1.1.
    pub engine: Http1Engine,
    /// TLS configuration for `https` origins.
    pub tls: Option<Arc<rustls::ClientConfig>>,
}

/// How requests go out on a connection, by protocol.
pub enum Sender {
    /// HTTP/1.1 (relaybench's own connection or hyper's), carrying one request at a time.
    H1(H1Conn),
    /// HTTP/2: streams opened by any number of requests at once.
    H2(H2Conn),
}

/// Keeps a connection counted open in the pool's counters until dropped, with its id.
pub struct Opened {
    /// Unique per pool, in opening order, so reports can tell reuse apart.
    pub id: u64,
    /// The pool's counters, told when the connection closes.
    counters: Arc<PoolCounters>,
}

impl Drop for Opened {
    fn drop(&mut self) {
        self.counters.on_close();
    }
}

/// An open connection. Dropping it closes it and updates the pool's counters.
pub struct Conn {
    /// Counts it open; its id.
    pub opened: Opened,
    /// How requests go out on it.
    pub sender: Sender,
    /// When the connection was last returned to the idle list.
    pub idle_since: Instant,
}

impl Conn {
    /// Opens a connection to `origin`: TCP, TLS when `https`, then the HTTP handshake; all under the connect timeout.
    /// An HTTP/2 connection tells `watcher` (the pool) when its capacity may have changed.
    pub async fn dial(
        origin: &Origin,
        config: &DialConfig,
        counters: &Arc<PoolCounters>,
        watcher: Weak<dyn ConnWatcher>,
    ) -> Result<Conn, DialError> {
        let limit = config.connect_timeout;
        let dialled = Self::dial_inner(origin, config, counters, watcher);
        match tokio::time::timeout(limit, dialled).await {
            Err(_) => Err(DialError::Timeout(limit)),
            Ok(result) => result,
        }
    }

    async fn dial_inner(
        origin: &Origin,
        config: &DialConfig,
        counters: &Arc<PoolCounters>,
        watcher: Weak<dyn ConnWatcher>,
    ) -> Result<Conn, DialError> {
        let failed = |e: &dyn std::fmt::Display| DialError::Failed(e.to_string());
        let stream = TcpStream::connect((origin.host.as_str(), origin.port))
            .await
            .map_err(|e| failed(&e))?;
        // Latency tools must not wait for Nagle's algorithm.
        let _ = stream.set_nodelay(true);
        if !origin.tls {
            let h2 = config.http == HttpVersion::Http2;
            return Self::handshake(
                stream,
                origin,
                false,
                h2.then_some(watcher),
                config,
                counters,
            )
            .await;
        }
        let tls = config
            .tls
            .clone()
            .ok_or_else(|| DialError::Failed("https origin without TLS configuration".into()))?;
        let name =
            rustls::pki_types::ServerName::try_from(origin.host.clone()).map_err(|e| failed(&e))?;
        let stream = tokio_rustls::TlsConnector::from(tls)
            .connect(name, stream)
            .await
            .map_err(|e| failed(&format!("TLS handshake: {e}")))?;
        let h2 = stream.get_ref().1.alpn_protocol() == Some(b"h2");
        if config.http == HttpVersion::Http2 && !h2 {
            return Err(DialError::Failed(
                "http = \"2\" but the server did not negotiate h2 via ALPN".into(),
            ));
        }
        Self::handshake(
            stream,
            origin,
            true,
            h2.then_some(watcher),
            config,
            counters,
        )
        .await
    }

    /// Wraps `stream` in [`TimedIo`] (`tls`: whether a flush writes TLS records) and starts
    /// HTTP/2 on it when there is a `watcher` for it (only HTTP/2 connections have one), else
    /// HTTP/1.1 by the configured engine. Only hyper's HTTP/1.1 engine writes from a task of
    /// its own, so only its socket gets a write probe (its read timeout needs one).
    async fn handshake<T>(
        stream: T,
        origin: &Origin,
        tls: bool,
        h2_watcher: Option<Weak<dyn ConnWatcher>>,
        config: &DialConfig,
        counters: &Arc<PoolCounters>,
    ) -> Result<Conn, DialError>
    where
        T: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    {
        let sender = if let Some(watcher) = h2_watcher {
            let io = TimedIo::new(stream, config.write_timeout);
            let h2 = super::h2::handshake(io, origin, watcher)
                .await
                .map_err(|e| DialError::Failed(format!("HTTP/2 handshake: {e}")))?;
            Sender::H2(h2)
        } else if config.engine == Http1Engine::Hyper {
            let probe = WriteProbe::shared();
            let io = TimedIo::with_probe(stream, config.write_timeout, probe.clone(), tls);
            let conn = HyperConn::handshake(io, probe)
                .await
                .map_err(|e| DialError::Failed(format!("HTTP handshake: {e}")))?;
            Sender::H1(H1Conn::Hyper(conn))
        } else {
            let io = TimedIo::new(stream, config.write_timeout);
            Sender::H1(H1Conn::Own(OwnConn::new(Box::new(io))))
        };
        let opened = Opened {
            id: counters.on_open(),
            counters: counters.clone(),
        };
        Ok(Conn {
            opened,
            sender,
            idle_since: Instant::now(),
        })
    }

    /// The connection's id (unique per pool).
    pub fn id(&self) -> u64 {
        self.opened.id
    }

    /// Whether the connection can still carry a request, as far as is known without looking
    /// at the socket (the pool's idle check looks: `H1Conn::check_idle`).
    pub fn is_usable(&self) -> bool {
        match &self.sender {
            Sender::H1(c) => c.is_reusable(),
            Sender::H2(c) => !c.is_closed(),
        }
    }
}

#[cfg(test)]
impl Conn {
    /// An HTTP/1.1 connection over `io` (an in-memory pipe in tests), counted in `counters`.
    pub fn h1_for_test(io: Box<dyn super::h1::Io>, counters: &Arc<PoolCounters>) -> Conn {
        Conn {
            opened: Opened {
                id: counters.on_open(),
                counters: counters.clone(),
            },
            sender: Sender::H1(H1Conn::Own(OwnConn::new(io))),
            idle_since: Instant::now(),
        }
    }
}
