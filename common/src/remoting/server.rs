//! The server side: accept loop with a connection limit and graceful shutdown.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use super::channel::{Channel, ChannelEvents};
use super::reply::Reply;
use super::tls::{Accepted, TlsServer};
use crate::acl::AclValidator;
use crate::log_limit::LogLimiter;
use crate::protocol::codes::response;
use crate::protocol::frame::DEFAULT_MAX_FRAME;
use crate::protocol::RemotingCommand;

/// Server settings.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// Maximum simultaneous connections; further connections wait in the accept backlog.
    pub max_connections: usize,
    /// Maximum frame size (16 MiB, as Java).
    pub max_frame: usize,
    /// Close a connection that sent nothing for this long (Java: 120 s).
    pub idle_timeout: Option<Duration>,
    /// On shutdown, how long to wait for queued responses to be written.
    pub drain_timeout: Duration,
    /// Access control: every request is checked before the handler sees it (`aclEnable`);
    /// a denied request gets Java's error response and never reaches the handler.
    pub acl: Option<Arc<AclValidator>>,
    /// TLS (`tlsMode` with a certificate): connections are sniffed and TLS ones terminated;
    /// `None` = plaintext only, with no per-connection cost.
    pub tls: Option<Arc<TlsServer>>,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            max_connections: 10_000,
            max_frame: DEFAULT_MAX_FRAME,
            idle_timeout: Some(Duration::from_secs(120)),
            drain_timeout: Duration::from_secs(3),
            acl: None,
            tls: None,
        }
    }
}

/// What a server does with requests: one implementation per server (namesrv, broker), which
/// dispatches on `request.code` (answer unknown codes with
/// [`RequestHandler::not_supported`]).
pub trait RequestHandler: Send + Sync + 'static {
    /// Handle one request (see [`Reply`]: the server fills in opaque and the response flag of
    /// the response sent now, and drops it for oneway requests). Runs inline on the
    /// connection's reader: requests of one connection are handled in order, so a handler that
    /// must wait long (long polling, SYNC_FLUSH) should answer later with [`Channel::respond`]
    /// instead of awaiting here.
    fn handle(
        &self,
        channel: &Channel,
        request: RemotingCommand,
    ) -> impl Future<Output = Reply> + Send;

    /// A connection was accepted.
    fn on_connected(&self, _channel: &Channel) {}

    /// A connection closed (peer closed, error, idle timeout or shutdown).
    fn on_disconnected(&self, _channel: &Channel) {}

    /// The standard answer to an unknown request code.
    fn not_supported(request: &RemotingCommand) -> RemotingCommand
    where
        Self: Sized,
    {
        RemotingCommand::error(
            response::REQUEST_CODE_NOT_SUPPORTED,
            format!(" request type {} not supported", request.code),
        )
    }
}

struct Events<H> {
    handler: Arc<H>,
    acl: Option<Arc<AclValidator>>,
}

/// One warning per 10 s for denied requests (a client retrying with a wrong key must not
/// flood the log); the count of the others is in the next line.
static DENIAL_LOG: LogLimiter = LogLimiter::new(Duration::from_secs(10));

impl<H: RequestHandler> ChannelEvents for Events<H> {
    fn on_request(
        &self,
        channel: &Channel,
        request: RemotingCommand,
    ) -> impl Future<Output = Option<RemotingCommand>> + Send {
        let denied = match &self.acl {
            Some(v) => v.check(&request, channel.peer_addr().ip()).err(),
            None => None,
        };
        async move {
            if let Some(d) = denied {
                if let Some(suppressed) = DENIAL_LOG.allow() {
                    tracing::warn!(peer = %channel.peer_addr(), code = request.code, reason = %d, suppressed, "request denied by ACL");
                }
                return Some(d.response());
            }
            self.handler.handle(channel, request).await.unwrap_or_else(Some)
        }
    }
}

/// A running server bound to an address.
pub struct RemotingServer {
    local_addr: SocketAddr,
    shutdown: CancellationToken,
    task: tokio::task::JoinHandle<()>,
}

impl RemotingServer {
    /// Bind `addr` (port 0 for a free port) and start serving with `handler`.
    pub async fn bind<H: RequestHandler>(
        addr: &str,
        handler: Arc<H>,
        config: ServerConfig,
    ) -> std::io::Result<Self> {
        let listener = TcpListener::bind(addr).await?;
        Ok(Self::start(listener, handler, config))
    }

    /// Serve on an already bound listener.
    pub fn start<H: RequestHandler>(
        listener: TcpListener,
        handler: Arc<H>,
        config: ServerConfig,
    ) -> Self {
        let local_addr = listener.local_addr().expect("bound listener has an address");
        let shutdown = CancellationToken::new();
        let task = tokio::spawn(accept_loop(listener, handler, config, shutdown.clone()));
        RemotingServer { local_addr, shutdown, task }
    }

    /// The bound address.
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// A token that, when cancelled, shuts the server down.
    pub fn shutdown_token(&self) -> CancellationToken {
        self.shutdown.clone()
    }

    /// Stop accepting, let in-flight requests finish and their responses be written, close
    /// every connection, and return when all are gone.
    pub async fn shutdown(self) {
        self.shutdown.cancel();
        let _ = self.task.await;
    }
}

async fn accept_loop<H: RequestHandler>(
    listener: TcpListener,
    handler: Arc<H>,
    config: ServerConfig,
    shutdown: CancellationToken,
) {
    let limit = Arc::new(Semaphore::new(config.max_connections));
    let events = Arc::new(Events { handler: handler.clone(), acl: config.acl.clone() });
    let mut conns = JoinSet::new();
    loop {
        // Wait for a connection slot first, so excess clients queue in the backlog instead of
        // being accepted and starved.
        let permit = tokio::select! {
            biased;
            _ = shutdown.cancelled() => break,
            p = limit.clone().acquire_owned() => p.expect("semaphore never closed"),
        };
        let accepted = tokio::select! {
            biased;
            _ = shutdown.cancelled() => break,
            a = listener.accept() => a,
        };
        // Reap finished connection tasks so the set does not grow without bound.
        while conns.try_join_next().is_some() {}
        let (stream, peer) = match accepted {
            Ok(a) => a,
            Err(e) => {
                // Typically EMFILE: back off briefly rather than spin.
                tracing::warn!(error = %e, "accept failed");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        let local_addr = stream.local_addr().unwrap_or(peer);
        let handler = handler.clone();
        let events = events.clone();
        let shutdown = shutdown.clone();
        let config = config.clone();
        conns.spawn(async move {
            // TLS sniffing waits for the first byte: here, not in the accept loop.
            let accepted = match &config.tls {
                None => Some(Accepted::Plain(stream)),
                Some(tls) => tls.accept(stream, peer).await,
            };
            let spawned = match accepted {
                None => return,
                Some(Accepted::Plain(s)) => Channel::spawn(
                    s,
                    events,
                    config.max_frame,
                    config.idle_timeout,
                    Some(shutdown),
                    config.drain_timeout,
                ),
                Some(Accepted::Tls(local)) => Ok(Channel::spawn_local(
                    local,
                    (peer, local_addr),
                    events,
                    config.max_frame,
                    config.idle_timeout,
                    Some(shutdown),
                    config.drain_timeout,
                )),
            };
            let (channel, done) = match spawned {
                Ok(c) => c,
                Err(e) => {
                    tracing::debug!(error = %e, "connection setup failed");
                    return;
                }
            };
            tracing::debug!(peer = %channel.peer_addr(), "connection accepted");
            handler.on_connected(&channel);
            let _ = done.await;
            handler.on_disconnected(&channel);
            drop(permit);
        });
    }
    drop(listener);
    while conns.join_next().await.is_some() {}
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::remoting::client::{ClientConfig, RemotingClient};

    struct Echo;
    impl RequestHandler for Echo {
        async fn handle(&self, channel: &Channel, req: RemotingCommand) -> Reply {
            match req.code {
                1 => Ok(Some(RemotingCommand::success().with_body(req.body))),
                2 => {
                    // Deferred answer.
                    let ch = channel.clone();
                    let opaque = req.opaque;
                    tokio::spawn(async move {
                        tokio::time::sleep(Duration::from_millis(20)).await;
                        ch.respond(opaque, RemotingCommand::success().with_ext("late", true));
                    });
                    Ok(None)
                }
                3 => Ok(None), // never answers
                _ => Err(Self::not_supported(&req)),
            }
        }
    }

    #[tokio::test]
    async fn request_response_deferred_unknown_and_timeout() {
        let server = RemotingServer::bind("127.0.0.1:0", Arc::new(Echo), ServerConfig::default())
            .await
            .unwrap();
        let addr = server.local_addr().to_string();
        let client = RemotingClient::new(ClientConfig::default());
        let r = client
            .invoke(&addr, RemotingCommand::request(1).with_body(&b"x"[..]), Duration::from_secs(3))
            .await
            .unwrap();
        assert_eq!(&r.body[..], b"x");
        let r = client
            .invoke(&addr, RemotingCommand::request(2), Duration::from_secs(3))
            .await
            .unwrap();
        assert_eq!(r.ext("late"), Some("true"));
        let r = client
            .invoke(&addr, RemotingCommand::request(99), Duration::from_secs(3))
            .await
            .unwrap();
        assert_eq!(r.code, response::REQUEST_CODE_NOT_SUPPORTED);
        let e = client
            .invoke(&addr, RemotingCommand::request(3), Duration::from_millis(50))
            .await
            .unwrap_err();
        assert!(matches!(e, crate::remoting::RemotingError::Timeout { .. }));
        // Many in flight on one connection.
        let mut set = JoinSet::new();
        for i in 0..200u32 {
            let c = client.clone();
            let a = addr.clone();
            set.spawn(async move {
                let r = c
                    .invoke(
                        &a,
                        RemotingCommand::request(1).with_body(i.to_string()),
                        Duration::from_secs(5),
                    )
                    .await
                    .unwrap();
                assert_eq!(r.body, i.to_string());
            });
        }
        while let Some(r) = set.join_next().await {
            r.unwrap();
        }
        server.shutdown().await;
    }

    #[tokio::test]
    async fn garbage_closes_only_that_connection() {
        use tokio::io::AsyncWriteExt;
        let server = RemotingServer::bind("127.0.0.1:0", Arc::new(Echo), ServerConfig::default())
            .await
            .unwrap();
        let addr = server.local_addr().to_string();
        let mut bad = tokio::net::TcpStream::connect(&addr).await.unwrap();
        bad.write_all(&[0x7f, 0xff, 0xff, 0xff, 1, 2, 3, 4]).await.unwrap();
        let mut b = [0u8; 1];
        use tokio::io::AsyncReadExt;
        let n = tokio::time::timeout(Duration::from_secs(3), bad.read(&mut b))
            .await
            .unwrap()
            .unwrap_or(0);
        assert_eq!(n, 0, "server closes a connection that sent an oversized frame");
        let client = RemotingClient::new(ClientConfig::default());
        let r = client
            .invoke(&addr, RemotingCommand::request(1), Duration::from_secs(3))
            .await
            .unwrap();
        assert_eq!(r.code, 0);
        server.shutdown().await;
    }
}
