//! One upstream connection: dialling (TCP, with the connect timeout) and the hyper HTTP/1.1 handshake over it.

use super::{origin::Origin, stats::PoolCounters};
use bytes::Bytes;
use http_body_util::Full;
use hyper::client::conn::http1;
use hyper_util::rt::TokioIo;
use std::{
    sync::Arc,
    time::{Duration, Instant},
};
use tokio::net::TcpStream;

/// Why a connection could not be made.
#[derive(Debug, thiserror::Error)]
pub enum DialError {
    /// The connect timeout fired.
    #[error("connect timed out after {0:?}")]
    Timeout(Duration),
    /// TCP (or TLS) failed.
    #[error("connect failed: {0}")]
    Failed(String),
}

/// An open connection. Dropping it closes it and updates the pool's counters.
pub struct Conn {
    /// Unique per pool, in opening order, so reports can tell reuse apart.
    pub id: u64,
    /// hyper's request sender for this connection.
    pub sender: http1::SendRequest<Full<Bytes>>,
    /// When the connection was last returned to the idle list.
    pub idle_since: Instant,
    /// Requests sent on it so far.
    pub uses: u64,
    counters: Arc<PoolCounters>,
}

impl Conn {
    /// Opens a TCP connection to `origin` and performs the HTTP/1.1 handshake.
    pub async fn dial(
        origin: &Origin,
        connect_timeout: Duration,
        counters: &Arc<PoolCounters>,
    ) -> Result<Conn, DialError> {
        let target = (origin.host.as_str(), origin.port);
        let stream = match tokio::time::timeout(connect_timeout, TcpStream::connect(target)).await {
            Err(_) => return Err(DialError::Timeout(connect_timeout)),
            Ok(Err(e)) => return Err(DialError::Failed(e.to_string())),
            Ok(Ok(stream)) => stream,
        };
        // Latency tools must not wait for Nagle's algorithm.
        let _ = stream.set_nodelay(true);
        let (sender, connection) = http1::handshake(TokioIo::new(stream))
            .await
            .map_err(|e| DialError::Failed(e.to_string()))?;
        tokio::spawn(async move {
            let _ = connection.await;
        });
        let id = counters.on_open();
        Ok(Conn {
            id,
            sender,
            idle_since: Instant::now(),
            uses: 0,
            counters: counters.clone(),
        })
    }

    /// Whether the connection can still carry a request (the peer has not closed it).
    pub fn is_usable(&self) -> bool {
        !self.sender.is_closed()
    }
}

impl Drop for Conn {
    fn drop(&mut self) {
        self.counters.on_close();
    }
}
