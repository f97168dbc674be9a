//! The server side: accept loop with a connection cap (refusing past it), graceful shutdown,
//! and the per-connection bounds of [`ServerConfig`].

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use super::channel::{Channel, ChannelEvents, ChannelOptions, OutputLimits};
use super::reply::Reply;
use super::stats::ConnectionStats;
use super::tls::{Accepted, TlsServer};
use crate::acl::AclValidator;
use crate::log_limit::LogLimiter;
use crate::protocol::codes::response;
use crate::protocol::frame::DEFAULT_MAX_FRAME;
use crate::protocol::RemotingCommand;

/// Default connection cap of a server (`serverMaxConnections`).
pub const DEFAULT_MAX_CONNECTIONS: usize = 10_000;
/// Default `writeBufferHighWaterMark`: 4 MiB of unwritten responses per connection. Java leaves
/// it to Netty (64 KiB); ours is larger because the reader writes its responses in batches of
/// up to 256 KiB and a pull response alone can be 256 KiB.
pub const DEFAULT_WRITE_HIGH_WATER: usize = 4 * 1024 * 1024;
/// Default `writeBufferLowWaterMark`: 1 MiB.
pub const DEFAULT_WRITE_LOW_WATER: usize = 1024 * 1024;

/// Server settings.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// Maximum simultaneous connections; a connection past it is accepted and closed at once
    /// (counted as refused), so a client learns it instead of waiting in the accept backlog.
    pub max_connections: usize,
    /// Maximum frame size (16 MiB, as Java).
    pub max_frame: usize,
    /// Close a connection that sent nothing for this long (Java: 120 s); also how long a
    /// connection whose peer stopped reading may make no write progress.
    pub idle_timeout: Option<Duration>,
    /// On shutdown, how long to wait for queued responses to be written.
    pub drain_timeout: Duration,
    /// Per-connection output bounds (read backpressure), see [`OutputLimits`].
    pub output: OutputLimits,
    /// Counters; pass the same `Arc` to several servers to count them together.
    pub stats: Arc<ConnectionStats>,
    /// Access control: every request is checked before the handler sees it (`aclEnable`);
    /// a denied request gets Java's error response and never reaches the handler.
    pub acl: Option<Arc<AclValidator>>,
    /// TLS (`tlsMode` with a certificate): connections are sniffed and TLS ones terminated;
    /// `None` = plaintext only, with no per-connection cost.
    pub tls: Option<Arc<TlsServer>>,
    /// Times every request (`rocketmq_rpc_latency` when metrics are on); `None` = no clock
    /// read on the request path.
    pub timer: Option<Arc<dyn super::RequestTimer>>,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            max_connections: DEFAULT_MAX_CONNECTIONS,
            max_frame: DEFAULT_MAX_FRAME,
            idle_timeout: Some(Duration::from_secs(120)),
            drain_timeout: Duration::from_secs(3),
            output: OutputLimits { high: DEFAULT_WRITE_HIGH_WATER, low: DEFAULT_WRITE_LOW_WATER },
            stats: Arc::default(),
            acl: None,
            tls: None,
            timer: None,
        }
    }
}

impl ServerConfig {
    /// A configuration from the Java-style keys shared by the broker and the name server:
    /// `serverMaxConnections`, `serverChannelMaxIdleTimeSeconds` (0 = never idle-close),
    /// `writeBufferHighWaterMark` / `writeBufferLowWaterMark` and the frame limit. The error
    /// names the key whose value cannot work.
    pub fn from_keys(
        max_connections: usize,
        idle_seconds: u64,
        write_high: usize,
        write_low: usize,
        max_frame: usize,
    ) -> Result<ServerConfig, String> {
        if max_connections == 0 {
            return Err("serverMaxConnections must be at least 1".into());
        }
        if write_high == 0 {
            return Err("writeBufferHighWaterMark must be > 0".into());
        }
        if write_low > write_high {
            return Err(format!(
                "writeBufferLowWaterMark ({write_low}) must not exceed writeBufferHighWaterMark ({write_high})"
            ));
        }
        Ok(ServerConfig {
            max_connections,
            max_frame,
            idle_timeout: Some(Duration::from_secs(idle_seconds)).filter(|d| !d.is_zero()),
            output: OutputLimits { high: write_high, low: write_low },
            ..Default::default()
        })
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

    /// Whether `request` may be handled in a run with the requests of the same read around it
    /// ([`RequestHandler::handle_group`]). Default: no request is.
    fn groupable(&self, _request: &RemotingCommand) -> bool {
        false
    }

    /// Handle a run of consecutive groupable requests that arrived in one read, in order:
    /// exactly one [`Reply`] per request, in the same order. Default: one by one with
    /// [`RequestHandler::handle`].
    fn handle_group(
        &self,
        channel: &Channel,
        requests: Vec<RemotingCommand>,
    ) -> impl Future<Output = Vec<Reply>> + Send {
        async move {
            let mut replies = Vec::with_capacity(requests.len());
            for r in requests {
                replies.push(self.handle(channel, r).await);
            }
            replies
        }
    }

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

    fn groupable(&self, request: &RemotingCommand) -> bool {
        self.handler.groupable(request)
    }

    fn on_request_group(
        &self,
        channel: &Channel,
        requests: Vec<RemotingCommand>,
    ) -> impl Future<Output = Vec<Option<RemotingCommand>>> + Send {
        // ACL first, per request, as for a lone request; the denied get their answer in their
        // place and the rest go to the handler as one run.
        let mut answers: Vec<Option<Option<RemotingCommand>>> = Vec::with_capacity(requests.len());
        let mut allowed = Vec::with_capacity(requests.len());
        for request in requests {
            let denied = match &self.acl {
                Some(v) => v.check(&request, channel.peer_addr().ip()).err(),
                None => None,
            };
            match denied {
                Some(d) => {
                    if let Some(suppressed) = DENIAL_LOG.allow() {
                        tracing::warn!(peer = %channel.peer_addr(), code = request.code, reason = %d, suppressed, "request denied by ACL");
                    }
                    answers.push(Some(Some(d.response())));
                }
                None => {
                    answers.push(None);
                    allowed.push(request);
                }
            }
        }
        async move {
            let mut replies = self.handler.handle_group(channel, allowed).await.into_iter();
            answers
                .into_iter()
                .map(|a| match a {
                    Some(denied) => denied,
                    // The handler answers every request; a missing answer is an error
                    // response rather than a client left waiting.
                    None => replies.next().map_or_else(
                        || {
                            Some(RemotingCommand::error(
                                response::SYSTEM_ERROR,
                                "request not answered",
                            ))
                        },
                        |r| r.unwrap_or_else(Some),
                    ),
                })
                .collect()
        }
    }
}

/// A running server bound to an address.
pub struct RemotingServer {
    local_addr: SocketAddr,
    stats: Arc<ConnectionStats>,
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
        let stats = config.stats.clone();
        let task = tokio::spawn(accept_loop(listener, handler, config, shutdown.clone()));
        RemotingServer { local_addr, stats, shutdown, task }
    }

    /// The bound address.
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// The server's connection counters.
    pub fn stats(&self) -> &Arc<ConnectionStats> {
        &self.stats
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
    let events = Arc::new(Events { handler: handler.clone(), acl: config.acl.clone() });
    let stats = config.stats.clone();
    let opts = ChannelOptions {
        max_frame: config.max_frame,
        idle: config.idle_timeout,
        shutdown: Some(shutdown.clone()),
        drain: config.drain_timeout,
        output: Some(config.output),
        stats: Some(stats.clone()),
        timer: config.timer.clone(),
    };
    let mut conns = JoinSet::new();
    loop {
        let (stream, peer) = tokio::select! {
            biased;
            _ = shutdown.cancelled() => break,
            a = accept_backing_off(&listener, "remoting") => a,
        };
        // Reap finished connection tasks so the set does not grow without bound.
        while conns.try_join_next().is_some() {}
        // At the cap: close at once. Waiting for a slot instead left the client connected by
        // the kernel but never served (issue 16, R3); a closed connection makes it retry or
        // fail over to another broker.
        if conns.len() >= config.max_connections {
            let n = stats.refused();
            if n == 1 || n.is_multiple_of(1000) {
                tracing::warn!(%peer, max = config.max_connections, refused_total = n, "connection cap reached (serverMaxConnections); refusing connections");
            }
            drop(stream);
            continue;
        }
        stats.opened();
        let local_addr = stream.local_addr().unwrap_or(peer);
        let handler = handler.clone();
        let events = events.clone();
        let opts = opts.clone();
        let tls = config.tls.clone();
        let stats = stats.clone();
        conns.spawn(async move {
            // TLS sniffing waits for the first byte: here, not in the accept loop.
            let accepted = match &tls {
                None => Some(Accepted::Plain(stream)),
                Some(tls) => tls.accept(stream, peer).await,
            };
            let spawned = match accepted {
                None => {
                    stats.closed();
                    return;
                }
                Some(Accepted::Plain(s)) => Channel::spawn(s, events, opts),
                Some(Accepted::Tls(local)) => {
                    Ok(Channel::spawn_local(local, (peer, local_addr), events, opts))
                }
            };
            let (channel, done) = match spawned {
                Ok(c) => c,
                Err(e) => {
                    stats.closed();
                    tracing::debug!(error = %e, "connection setup failed");
                    return;
                }
            };
            tracing::debug!(peer = %channel.peer_addr(), "connection accepted");
            handler.on_connected(&channel);
            let _ = done.await;
            handler.on_disconnected(&channel);
            stats.closed();
        });
    }
    drop(listener);
    while conns.join_next().await.is_some() {}
}

/// How long an accept loop waits after a failed accept before trying again.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(100);

/// The next connection on `listener`. A failed accept (typically EMFILE: out of descriptors)
/// is logged and retried after [`ACCEPT_BACKOFF`] rather than in a spinning loop. Cancel-safe:
/// every accept loop (remoting, HA, gRPC, HTTPS) selects it against its shutdown signal.
pub async fn accept_backing_off(
    listener: &TcpListener,
    what: &str,
) -> (tokio::net::TcpStream, SocketAddr) {
    loop {
        match listener.accept().await {
            Ok(a) => return a,
            Err(e) => {
                tracing::warn!(error = %e, listener = what, "accept failed; retrying");
                tokio::time::sleep(ACCEPT_BACKOFF).await;
            }
        }
    }
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

    /// Code 5 is groupable; every handling is logged: `(true, n)` a run of n, `(false, code)`
    /// a lone request.
    #[derive(Default)]
    struct Grouping(parking_lot::Mutex<Vec<(bool, i32)>>);
    impl RequestHandler for Grouping {
        async fn handle(&self, _: &Channel, req: RemotingCommand) -> Reply {
            self.0.lock().push((false, req.code));
            Ok(Some(RemotingCommand::success().with_body(req.body)))
        }
        fn groupable(&self, req: &RemotingCommand) -> bool {
            req.code == 5
        }
        async fn handle_group(&self, _: &Channel, reqs: Vec<RemotingCommand>) -> Vec<Reply> {
            self.0.lock().push((true, reqs.len() as i32));
            let mut replies = Vec::with_capacity(reqs.len());
            for r in reqs {
                replies.push(Ok(Some(RemotingCommand::success().with_body(r.body))));
            }
            replies
        }
    }

    #[tokio::test]
    async fn runs_of_groupable_requests_are_handled_together_in_order() {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let handler = Arc::new(Grouping::default());
        let server = RemotingServer::bind("127.0.0.1:0", handler.clone(), ServerConfig::default())
            .await
            .unwrap();
        // One write: three groupable, one not, two groupable.
        let codes = [5, 5, 5, 1, 5, 5];
        let mut out = bytes::BytesMut::new();
        for (i, code) in codes.iter().enumerate() {
            let mut c = RemotingCommand::request(*code).with_body(i.to_string());
            c.opaque = i as i32 + 1;
            crate::protocol::frame::encode(&c, &mut out);
        }
        let mut sock = tokio::net::TcpStream::connect(server.local_addr()).await.unwrap();
        sock.write_all(&out).await.unwrap();
        let mut inbuf = bytes::BytesMut::new();
        let mut answers = Vec::new();
        while answers.len() < codes.len() {
            while let Some(r) = crate::protocol::frame::decode(&mut inbuf, 1 << 20).unwrap() {
                answers.push(r);
            }
            if answers.len() < codes.len() {
                let n = tokio::time::timeout(Duration::from_secs(5), sock.read_buf(&mut inbuf))
                    .await
                    .expect("answers in time")
                    .unwrap();
                assert!(n > 0, "closed after {} answers", answers.len());
            }
        }
        // Answered in request order, each with its own body.
        for (i, a) in answers.iter().enumerate() {
            assert_eq!((a.opaque, &a.body[..]), (i as i32 + 1, i.to_string().as_bytes()));
        }
        // The lone request ended the first run and was handled between the runs (one read
        // brings all six small frames).
        assert_eq!(*handler.0.lock(), vec![(true, 3), (false, 1), (true, 2)]);
        server.shutdown().await;
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

    async fn wait_for(what: &str, mut f: impl FnMut() -> bool) {
        let end = tokio::time::Instant::now() + Duration::from_secs(10);
        while !f() {
            assert!(tokio::time::Instant::now() < end, "timed out waiting for {what}");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    #[tokio::test]
    async fn connections_past_the_cap_are_closed_at_once() {
        use tokio::io::AsyncReadExt;
        let cfg = ServerConfig { max_connections: 3, ..Default::default() };
        let server = RemotingServer::bind("127.0.0.1:0", Arc::new(Echo), cfg).await.unwrap();
        let addr = server.local_addr().to_string();
        let stats = server.stats().clone();
        let mut held = Vec::new();
        for _ in 0..3 {
            held.push(tokio::net::TcpStream::connect(&addr).await.unwrap());
        }
        wait_for("3 accepted", || stats.active() == 3).await;
        let mut extra = tokio::net::TcpStream::connect(&addr).await.unwrap();
        let mut b = [0u8; 1];
        let n = tokio::time::timeout(Duration::from_secs(5), extra.read(&mut b))
            .await
            .expect("the 4th connection is closed, not left waiting")
            .unwrap_or(0);
        assert_eq!(n, 0);
        assert_eq!(stats.snapshot().refused, 1);
        // A freed slot serves the next client.
        held.pop();
        wait_for("slot freed", || stats.active() == 2).await;
        let client = RemotingClient::new(ClientConfig::default());
        let r = client
            .invoke(&addr, RemotingCommand::request(1), Duration::from_secs(3))
            .await
            .unwrap();
        assert_eq!(r.code, 0);
        server.shutdown().await;
    }

    #[tokio::test]
    async fn a_peer_that_stops_reading_is_paused_then_closed() {
        use std::sync::atomic::{AtomicUsize, Ordering};
        use tokio::io::AsyncWriteExt;
        struct Big(AtomicUsize);
        impl RequestHandler for Big {
            async fn handle(&self, _: &Channel, _: RemotingCommand) -> Reply {
                self.0.fetch_add(1, Ordering::SeqCst);
                Ok(Some(RemotingCommand::success().with_body(vec![7u8; 1 << 20])))
            }
        }
        let handler = Arc::new(Big(AtomicUsize::new(0)));
        let cfg = ServerConfig {
            idle_timeout: Some(Duration::from_millis(500)),
            output: OutputLimits { high: 2 << 20, low: 1 << 20 },
            ..Default::default()
        };
        let server = RemotingServer::bind("127.0.0.1:0", handler.clone(), cfg).await.unwrap();
        let addr = server.local_addr().to_string();
        let stats = server.stats().clone();
        // 300 pipelined requests, each answered with 1 MiB, and never a read.
        let mut wire = bytes::BytesMut::new();
        for i in 0..300 {
            crate::protocol::frame::encode(&RemotingCommand::request(1).with_opaque(i), &mut wire);
        }
        let mut hostile = tokio::net::TcpStream::connect(&addr).await.unwrap();
        hostile.write_all(&wire).await.unwrap();
        wait_for("the stalled connection to be closed", || stats.snapshot().stalled_closed == 1)
            .await;
        let s = stats.snapshot();
        assert!(s.read_paused >= 1, "{s:?}");
        let handled = handler.0.load(Ordering::SeqCst);
        eprintln!("handled {handled} of 300 pipelined 1 MiB requests; {s:?}");
        // Socket buffers absorb some megabytes; the rest of the 300 were never read.
        assert!(handled < 100, "handled {handled} of 300 requests for a peer that never reads");
        // Other clients are served meanwhile and after.
        let client = RemotingClient::new(ClientConfig::default());
        let r = client
            .invoke(&addr, RemotingCommand::request(1), Duration::from_secs(3))
            .await
            .unwrap();
        assert_eq!(r.body.len(), 1 << 20);
        drop(hostile);
        server.shutdown().await;
    }
}
