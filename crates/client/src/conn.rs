//! One upstream connection: dialling (TCP + TLS under the connect timeout), then the HTTP/1.1 connection or the HTTP/2 handshake on a socket wrapped in [`TimedIo`] (the write timeout).

use super::{
    h1::{H1Conn, OwnConn},
    h1_hyper::HyperConn,
    origin::Origin,
    settings::{Http1Engine, HttpVersion},
    stats::PoolCounters,
    timed_io::{TimedIo, WriteProbe},
};
use bytes::Bytes;
use http_body_util::Full;
use hyper::client::conn::http2;
use hyper_util::rt::{TokioExecutor, TokioIo};
use std::{
    sync::Arc,
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
    /// HTTP/2: hyper's sender; clones share the connection.
    H2(H2Sender),
    /// A shared-list HTTP/1.1 connection lent out to the request using it.
    Lent,
}

impl Sender {
    fn is_closed(&self) -> bool {
        match self {
            Sender::H1(c) => !c.is_reusable(),
            Sender::H2(s) => s.sender.is_closed(),
            Sender::Lent => false,
        }
    }
}

/// An HTTP/2 connection's request sender, with the write progress its read timeout needs.
#[derive(Clone)]
pub struct H2Sender {
    /// hyper's sender; clones share the connection.
    pub sender: http2::SendRequest<Full<Bytes>>,
    /// When the socket last accepted bytes (hyper writes from its connection task).
    pub probe: Arc<WriteProbe>,
}

/// An open connection. Dropping it closes it and updates the pool's counters.
pub struct Conn {
    /// Unique per pool, in opening order, so reports can tell reuse apart.
    pub id: u64,
    /// How requests go out on it.
    pub sender: Sender,
    /// When the connection was last returned to the idle list.
    pub idle_since: Instant,
    /// The pool's counters, told when this connection closes.
    counters: Arc<PoolCounters>,
}

impl Conn {
    /// Opens a connection to `origin`: TCP, TLS when `https`, then the HTTP handshake; all under the connect timeout.
    pub async fn dial(
        origin: &Origin,
        config: &DialConfig,
        counters: &Arc<PoolCounters>,
    ) -> Result<Conn, DialError> {
        let limit = config.connect_timeout;
        match tokio::time::timeout(limit, Self::dial_inner(origin, config, counters)).await {
            Err(_) => Err(DialError::Timeout(limit)),
            Ok(result) => result,
        }
    }

    async fn dial_inner(
        origin: &Origin,
        config: &DialConfig,
        counters: &Arc<PoolCounters>,
    ) -> Result<Conn, DialError> {
        let failed = |e: &dyn std::fmt::Display| DialError::Failed(e.to_string());
        let stream = TcpStream::connect((origin.host.as_str(), origin.port))
            .await
            .map_err(|e| failed(&e))?;
        // Latency tools must not wait for Nagle's algorithm.
        let _ = stream.set_nodelay(true);
        if !origin.tls {
            let h2 = config.http == HttpVersion::Http2;
            return Self::handshake(stream, false, h2, config, counters).await;
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
        Self::handshake(stream, true, h2, config, counters).await
    }

    /// Wraps `stream` in [`TimedIo`] (`tls`: whether a flush writes) and starts HTTP/2 on it
    /// when `h2`, else HTTP/1.1 by the configured engine. Only connections that hyper writes
    /// from a task of its own get a write probe (the read timeout needs it there).
    async fn handshake<T>(
        stream: T,
        tls: bool,
        h2: bool,
        config: &DialConfig,
        counters: &Arc<PoolCounters>,
    ) -> Result<Conn, DialError>
    where
        T: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    {
        let failed = |e: hyper::Error| DialError::Failed(format!("HTTP handshake: {e}"));
        let timed = |probe| TimedIo::new(stream, config.write_timeout, probe, tls);
        let sender = if h2 {
            let probe = WriteProbe::shared();
            let io = TokioIo::new(timed(Some(probe.clone())));
            let (sender, connection) = http2::handshake(TokioExecutor::new(), io)
                .await
                .map_err(failed)?;
            tokio::spawn(async move {
                let _ = connection.await;
            });
            Sender::H2(H2Sender { sender, probe })
        } else if config.engine == Http1Engine::Hyper {
            let probe = WriteProbe::shared();
            let io = timed(Some(probe.clone()));
            Sender::H1(H1Conn::Hyper(
                HyperConn::handshake(io, probe).await.map_err(failed)?,
            ))
        } else {
            Sender::H1(H1Conn::Own(OwnConn::new(Box::new(timed(None)))))
        };
        let id = counters.on_open();
        Ok(Conn {
            id,
            sender,
            idle_since: Instant::now(),
            counters: counters.clone(),
        })
    }

    /// Whether the connection can still carry a request (as far as is known without looking
    /// at the socket: see [`Conn::check_idle`]).
    pub fn is_usable(&self) -> bool {
        !self.sender.is_closed()
    }

    /// Whether an idle connection can carry a request, checking that the server has not
    /// closed an HTTP/1.1 connection while it sat in the pool (nobody reads an idle one).
    pub fn check_idle(&mut self) -> bool {
        match &mut self.sender {
            Sender::H1(c) => c.check_idle(),
            sender => !sender.is_closed(),
        }
    }

    /// Whether this is a multiplexed HTTP/2 connection.
    pub fn is_h2(&self) -> bool {
        matches!(self.sender, Sender::H2(_))
    }
}

impl Drop for Conn {
    fn drop(&mut self) {
        self.counters.on_close();
    }
}
