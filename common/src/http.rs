//! Serving an axum app the way every rmq HTTP listener must (issue 16, B11): a deadline for
//! each request's head and a cap on connections, so half-sent requests cannot pile up (3,000
//! of them held the console for 150 s and cost it 175 MB).
//!
//! HTTP/1.1 only (with upgrades, for WebSockets): none of the listeners negotiates HTTP/2,
//! and hyper's HTTP/1 connection is what enforces the header-read timeout.

use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use axum::serve::Listener;
use axum::Router;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use tokio::io::AsyncWriteExt;
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

/// Limits of one HTTP listener.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HttpLimits {
    /// A request's line and headers must have arrived this long after the connection opened
    /// (or after the previous response, so it also closes idle keep-alive connections).
    pub header_read_timeout: Duration,
    /// Connections served at once; one more gets `503 Service Unavailable` and is closed.
    /// Upgraded connections (WebSockets) no longer count: their server caps them itself.
    pub max_connections: usize,
}

impl Default for HttpLimits {
    fn default() -> Self {
        HttpLimits { header_read_timeout: Duration::from_secs(10), max_connections: 1024 }
    }
}

/// An axum listener that terminates TLS (rustls; PEM certificate chain and key, as
/// [`crate::remoting::tls::load_server_config`] reads them): the one way an rmq HTTP listener
/// serves HTTPS (console, chat gateway). Handshakes run in their own tasks, each bounded by
/// [`crate::remoting::tls::HANDSHAKE_TIMEOUT`], so a slow client holds up no one else; a
/// failed handshake just closes that connection.
pub struct TlsListener {
    rx: tokio::sync::mpsc::Receiver<(TlsIo, std::net::SocketAddr)>,
    local: std::net::SocketAddr,
}

/// One established server-side TLS connection.
pub type TlsIo = tokio_rustls::server::TlsStream<tokio::net::TcpStream>;

/// A served connection whose socket can switch off Nagle's algorithm.
///
/// Every HTTP and WebSocket connection [`serve`] accepts is set `TCP_NODELAY`: a DDP reply or a
/// pushed message is one small frame, and with Nagle on it waits for the peer's delayed ACK
/// (≈ 40 ms on Linux) whenever an earlier segment is still unacknowledged.
pub trait NoDelay {
    /// Set `TCP_NODELAY` on the underlying TCP socket (best effort: a socket that already
    /// failed is found out by its next read or write).
    fn set_nodelay(&self);
}

impl NoDelay for tokio::net::TcpStream {
    fn set_nodelay(&self) {
        let _ = tokio::net::TcpStream::set_nodelay(self, true);
    }
}

impl NoDelay for TlsIo {
    fn set_nodelay(&self) {
        NoDelay::set_nodelay(self.get_ref().0);
    }
}

/// Handshakes in flight at once: past this, new connections wait in the kernel's backlog.
const MAX_HANDSHAKES: usize = 256;

impl TlsListener {
    /// Wrap `listener`, serving the certificate chain `cert` with the private key `key`,
    /// re-read when the files change (checked every `reload_every`, see
    /// [`ReloadingAcceptor`](crate::remoting::ReloadingAcceptor)). Stops accepting once the
    /// `TlsListener` is dropped.
    pub fn bind(
        listener: tokio::net::TcpListener,
        cert: &std::path::Path,
        key: &std::path::Path,
        reload_every: Duration,
    ) -> Result<TlsListener, String> {
        let acceptor = crate::remoting::ReloadingAcceptor::start(
            cert,
            key,
            &[],
            reload_every,
            tokio_util::sync::CancellationToken::new(),
        )?;
        let local = listener.local_addr().map_err(|e| e.to_string())?;
        let (tx, rx) = tokio::sync::mpsc::channel(64);
        let handshakes = Arc::new(Semaphore::new(MAX_HANDSHAKES));
        tokio::spawn(async move {
            loop {
                let Ok(permit) = handshakes.clone().acquire_owned().await else { return };
                let (tcp, peer) = tokio::select! {
                    _ = tx.closed() => return,
                    a = crate::remoting::accept_backing_off(&listener, "HTTPS") => a,
                };
                let (acceptor, tx) = (acceptor.current(), tx.clone());
                tokio::spawn(async move {
                    let hs = acceptor.accept(tcp);
                    match tokio::time::timeout(crate::remoting::tls::HANDSHAKE_TIMEOUT, hs).await {
                        Ok(Ok(s)) => {
                            drop(permit);
                            let _ = tx.send((s, peer)).await;
                        }
                        Ok(Err(e)) => tracing::debug!(%peer, error = %e, "TLS handshake failed"),
                        Err(_) => tracing::debug!(%peer, "TLS handshake timed out"),
                    }
                });
            }
        });
        Ok(TlsListener { rx, local })
    }
}

impl Listener for TlsListener {
    type Io = TlsIo;
    type Addr = std::net::SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        match self.rx.recv().await {
            Some(x) => x,
            // The accept task ends only when this listener is dropped.
            None => std::future::pending().await,
        }
    }

    fn local_addr(&self) -> std::io::Result<Self::Addr> {
        Ok(self.local)
    }
}

/// How long shutdown waits for in-flight requests once `shutdown` fired.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);

const REFUSAL: &[u8] = b"HTTP/1.1 503 Service Unavailable\r\ncontent-type: text/plain\r\ncontent-length: 21\r\nconnection: close\r\n\r\ntoo many connections\n";

/// `app` with the peer's address in every request's extensions, as axum's
/// `ConnectInfo` extractor expects (the console's login lockout and audit log use it).
fn with_peer<A: Clone + Send + Sync + 'static>(app: &Router, peer: A) -> Router {
    app.clone().layer(axum::Extension(axum::extract::ConnectInfo(peer)))
}

/// Serve `app` on `listener` within `limits` until `shutdown` completes; then stop accepting,
/// let in-flight requests finish (up to 5 s) and return.
pub async fn serve<L>(
    mut listener: L,
    app: Router,
    limits: HttpLimits,
    shutdown: impl Future<Output = ()> + Send,
) where
    L: Listener,
    L::Io: NoDelay,
    L::Addr: Clone + Send + Sync + 'static,
{
    let permits = Arc::new(Semaphore::new(limits.max_connections.max(1)));
    let refused = Arc::new(AtomicU64::new(0));
    let stop = CancellationToken::new();
    let tracker = TaskTracker::new();
    let mut http = hyper::server::conn::http1::Builder::new();
    http.timer(TokioTimer::new()).header_read_timeout(limits.header_read_timeout);
    tokio::pin!(shutdown);
    loop {
        let (io, peer) = tokio::select! {
            biased;
            _ = &mut shutdown => break,
            accepted = listener.accept() => accepted,
        };
        io.set_nodelay();
        let Ok(permit) = permits.clone().try_acquire_owned() else {
            let n = refused.fetch_add(1, Ordering::Relaxed) + 1;
            if n == 1 || n.is_multiple_of(1000) {
                tracing::warn!(
                    max = limits.max_connections,
                    refused_total = n,
                    "HTTP connection cap reached; refusing connections"
                );
            }
            tokio::spawn(async move {
                let mut io = io;
                let _ = tokio::time::timeout(Duration::from_secs(1), io.write_all(REFUSAL)).await;
            });
            continue;
        };
        let conn = http
            .serve_connection(TokioIo::new(io), TowerToHyperService::new(with_peer(&app, peer)))
            .with_upgrades();
        let stop = stop.clone();
        tracker.spawn(async move {
            let _permit = permit;
            tokio::pin!(conn);
            let result = tokio::select! {
                r = conn.as_mut() => r,
                _ = stop.cancelled() => {
                    conn.as_mut().graceful_shutdown();
                    conn.await
                }
            };
            if let Err(e) = result {
                // Header-read timeouts land here, as do peers that vanish mid-request.
                tracing::debug!(error = %e, "HTTP connection ended with an error");
            }
        });
    }
    drop(listener);
    stop.cancel();
    tracker.close();
    let _ = tokio::time::timeout(SHUTDOWN_GRACE, tracker.wait()).await;
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::routing::get;
    use tokio::io::AsyncReadExt;

    async fn read_all(s: &mut tokio::net::TcpStream, within: Duration) -> Option<String> {
        let mut out = Vec::new();
        match tokio::time::timeout(within, s.read_to_end(&mut out)).await {
            Ok(_) => Some(String::from_utf8_lossy(&out).into_owned()),
            Err(_) => None,
        }
    }

    #[tokio::test]
    async fn half_sent_requests_are_closed_and_the_cap_refuses() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let limits =
            HttpLimits { header_read_timeout: Duration::from_millis(500), max_connections: 2 };
        let app = Router::new().route("/health", get(|| async { "ok" }));
        let stop = CancellationToken::new();
        let s2 = stop.clone();
        let server =
            tokio::spawn(serve(listener, app, limits, async move { s2.cancelled().await }));

        // Two half-sent requests hold both slots; a third connection is refused at once.
        let mut slow = Vec::new();
        for _ in 0..2 {
            let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
            s.write_all(b"GET /health HTTP/1.1\r\nHost: x\r\n").await.unwrap();
            slow.push(s);
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
        let mut third = tokio::net::TcpStream::connect(addr).await.unwrap();
        let got = read_all(&mut third, Duration::from_secs(2)).await.expect("refused at once");
        assert!(got.starts_with("HTTP/1.1 503"), "{got}");
        // The half-sent ones are closed after the header timeout...
        for s in &mut slow {
            let got = read_all(s, Duration::from_secs(5)).await.expect("closed");
            assert!(!got.contains("200 OK"), "{got}");
        }
        // ...which frees the slots.
        let mut ok = tokio::net::TcpStream::connect(addr).await.unwrap();
        ok.write_all(b"GET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            .await
            .unwrap();
        let got = read_all(&mut ok, Duration::from_secs(5)).await.unwrap();
        assert!(got.starts_with("HTTP/1.1 200"), "{got}");
        stop.cancel();
        server.await.unwrap();
    }
}
