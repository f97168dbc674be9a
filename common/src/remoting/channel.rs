//! [`Channel`]: one remoting connection, shared by the server and client sides.

use std::collections::HashMap;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicI32, AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bytes::Buf;
use bytes::BytesMut;
use parking_lot::Mutex;
use tokio::io::AsyncReadExt;
use tokio::net::{tcp, unix, TcpStream, UnixStream};
use tokio::sync::{oneshot, Notify};
use tokio_util::sync::CancellationToken;

use crate::protocol::frame::{self, FrameError};
use crate::protocol::RemotingCommand;

/// Errors of remote calls.
#[derive(Debug, thiserror::Error)]
pub enum RemotingError {
    /// Could not connect.
    #[error("connect to {addr} failed: {source}")]
    Connect {
        /// Address tried.
        addr: String,
        /// Cause.
        source: std::io::Error,
    },
    /// No response in time.
    #[error("request to {addr} timed out after {millis} ms")]
    Timeout {
        /// Peer address.
        addr: String,
        /// Timeout used.
        millis: u64,
    },
    /// The connection closed before the response arrived.
    #[error("connection to {0} closed")]
    Closed(String),
    /// Bad address string.
    #[error("invalid address '{0}'")]
    BadAddress(String),
}

/// Callbacks of a connection's reader for incoming requests.
pub trait ChannelEvents: Send + Sync + 'static {
    /// Handle one incoming request (not a response). Return the response to send now, or
    /// `None` when there is none yet (answered later via [`Channel::respond`]) or the request
    /// was oneway.
    fn on_request(
        &self,
        channel: &Channel,
        request: RemotingCommand,
    ) -> impl Future<Output = Option<RemotingCommand>> + Send;
}

static NEXT_CHANNEL_ID: AtomicU64 = AtomicU64::new(1);

struct Inner {
    id: u64,
    peer: SocketAddr,
    local: SocketAddr,
    /// Encoded frames waiting to be written, and who writes them (see [`Out`]).
    out: Mutex<Out>,
    /// Wakes the writer task when it has to take over writing.
    wake_writer: Notify,
    /// Frames queued but not yet written (graceful shutdown waits for 0).
    unwritten: AtomicUsize,
    pending: Mutex<HashMap<i32, oneshot::Sender<RemotingCommand>>>,
    next_opaque: AtomicI32,
    closed: CancellationToken,
}

/// The outgoing side of a connection.
///
/// Responses to requests handled on the reader task are encoded into `buf` and written by the
/// reader itself with one non-blocking `write` after each batch of frames it decoded from one
/// `read` (so N pipelined requests cost one syscall and no task hand-off: waking a writer task
/// on the other vCPU costs ~60 µs on the project VM). Only when the socket would block, or when
/// another task sends, does the writer task take over (`writer_active`); while it is active it
/// alone writes, which keeps frames in order.
struct Out {
    buf: BytesMut,
    /// Frames in `buf`.
    frames: usize,
    /// The writer task owns writing until it finds `buf` empty.
    writer_active: bool,
    /// The socket's write half; `None` once the connection is closed.
    wr: Option<Arc<OwnedWriteHalf>>,
}

/// The write half of a connection: a TCP socket, or the local end of a socket pair whose
/// other end a TLS terminator drives (see `remoting::tls`). Both are non-blocking sockets,
/// so the channel's inline `try_write` path works the same on either.
enum OwnedWriteHalf {
    Tcp(tcp::OwnedWriteHalf),
    Unix(unix::OwnedWriteHalf),
}

impl OwnedWriteHalf {
    #[inline]
    fn try_write(&self, buf: &[u8]) -> std::io::Result<usize> {
        match self {
            OwnedWriteHalf::Tcp(w) => w.try_write(buf),
            OwnedWriteHalf::Unix(w) => w.try_write(buf),
        }
    }

    async fn writable(&self) -> std::io::Result<()> {
        match self {
            OwnedWriteHalf::Tcp(w) => w.writable().await,
            OwnedWriteHalf::Unix(w) => w.writable().await,
        }
    }
}

/// The read half, as [`OwnedWriteHalf`].
enum OwnedReadHalf {
    Tcp(tcp::OwnedReadHalf),
    Unix(unix::OwnedReadHalf),
}

impl OwnedReadHalf {
    async fn read_buf(&mut self, buf: &mut BytesMut) -> std::io::Result<usize> {
        match self {
            OwnedReadHalf::Tcp(r) => r.read_buf(buf).await,
            OwnedReadHalf::Unix(r) => r.read_buf(buf).await,
        }
    }
}

/// Above this many buffered bytes the reader writes before finishing its batch.
const INLINE_FLUSH_BYTES: usize = 256 * 1024;

/// A live connection: send responses, oneway commands and requests (with response matching).
/// Cheap to clone; equality is identity of the connection.
#[derive(Clone)]
pub struct Channel {
    inner: Arc<Inner>,
}

impl PartialEq for Channel {
    fn eq(&self, other: &Self) -> bool {
        self.inner.id == other.inner.id
    }
}
impl Eq for Channel {}
impl std::hash::Hash for Channel {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.inner.id.hash(state)
    }
}

impl std::fmt::Debug for Channel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Channel#{}({})", self.inner.id, self.inner.peer)
    }
}

impl Channel {
    /// Start reader and writer tasks on `stream`. `events` handles incoming requests;
    /// `max_frame` bounds incoming frames; `idle` closes a connection that received nothing for
    /// that long (None = never). When `shutdown` fires the channel stops reading, waits (up to
    /// `drain`) until every queued response is written, then closes: graceful shutdown.
    /// Returns the channel and a handle that completes when the connection is gone.
    pub fn spawn<E: ChannelEvents>(
        stream: TcpStream,
        events: Arc<E>,
        max_frame: usize,
        idle: Option<Duration>,
        shutdown: Option<CancellationToken>,
        drain: Duration,
    ) -> std::io::Result<(Channel, tokio::task::JoinHandle<()>)> {
        stream.set_nodelay(true)?;
        let peer = stream.peer_addr()?;
        let local = stream.local_addr()?;
        let (rx_half, tx_half) = stream.into_split();
        Ok(Self::spawn_halves(
            (OwnedReadHalf::Tcp(rx_half), OwnedWriteHalf::Tcp(tx_half)),
            (peer, local),
            events,
            max_frame,
            idle,
            shutdown,
            drain,
        ))
    }

    /// [`Channel::spawn`] over the local end of a socket pair whose other end carries the
    /// connection's plaintext (a TLS terminator); `peer` and `local` are the real TCP
    /// connection's addresses (ACL checks the peer's IP).
    pub fn spawn_local<E: ChannelEvents>(
        stream: UnixStream,
        (peer, local): (SocketAddr, SocketAddr),
        events: Arc<E>,
        max_frame: usize,
        idle: Option<Duration>,
        shutdown: Option<CancellationToken>,
        drain: Duration,
    ) -> (Channel, tokio::task::JoinHandle<()>) {
        let (rx_half, tx_half) = stream.into_split();
        Self::spawn_halves(
            (OwnedReadHalf::Unix(rx_half), OwnedWriteHalf::Unix(tx_half)),
            (peer, local),
            events,
            max_frame,
            idle,
            shutdown,
            drain,
        )
    }

    fn spawn_halves<E: ChannelEvents>(
        (rx_half, tx_half): (OwnedReadHalf, OwnedWriteHalf),
        (peer, local): (SocketAddr, SocketAddr),
        events: Arc<E>,
        max_frame: usize,
        idle: Option<Duration>,
        shutdown: Option<CancellationToken>,
        drain: Duration,
    ) -> (Channel, tokio::task::JoinHandle<()>) {
        let wr = Arc::new(tx_half);
        let closed = CancellationToken::new();
        let shutdown = shutdown.unwrap_or_default();
        let ch = Channel {
            inner: Arc::new(Inner {
                id: NEXT_CHANNEL_ID.fetch_add(1, Ordering::Relaxed),
                peer,
                local,
                out: Mutex::new(Out {
                    buf: BytesMut::new(),
                    frames: 0,
                    writer_active: false,
                    wr: Some(wr.clone()),
                }),
                wake_writer: Notify::new(),
                unwritten: AtomicUsize::new(0),
                pending: Mutex::new(HashMap::new()),
                next_opaque: AtomicI32::new(1),
                closed,
            }),
        };
        let writer = tokio::spawn(write_loop(wr, ch.clone()));
        let reader_ch = ch.clone();
        let handle = tokio::spawn(async move {
            read_loop(rx_half, reader_ch.clone(), events, max_frame, idle, &shutdown).await;
            if shutdown.is_cancelled() && !reader_ch.is_closed() {
                let deadline = tokio::time::Instant::now() + drain;
                while reader_ch.inner.unwritten.load(Ordering::Acquire) > 0
                    && tokio::time::Instant::now() < deadline
                {
                    tokio::time::sleep(Duration::from_millis(5)).await;
                }
            }
            reader_ch.close();
            // Fail every outstanding request now rather than at its timeout.
            reader_ch.inner.pending.lock().clear();
            let _ = writer.await;
        });
        (ch, handle)
    }

    /// Unique id of this connection within the process.
    pub fn id(&self) -> u64 {
        self.inner.id
    }

    /// Remote address.
    pub fn peer_addr(&self) -> SocketAddr {
        self.inner.peer
    }

    /// Local address.
    pub fn local_addr(&self) -> SocketAddr {
        self.inner.local
    }

    /// True once the connection is closed (or closing).
    pub fn is_closed(&self) -> bool {
        self.inner.closed.is_cancelled()
    }

    /// Close the connection (pending writes are dropped).
    pub fn close(&self) {
        self.inner.closed.cancel();
    }

    /// Completes when the connection closes.
    pub async fn closed(&self) {
        self.inner.closed.cancelled().await
    }

    /// Queue a command for writing as is. Returns false if the connection is closed.
    pub fn send(&self, cmd: RemotingCommand) -> bool {
        if self.is_closed() {
            return false;
        }
        let mut o = self.inner.out.lock();
        if o.wr.is_none() {
            return false;
        }
        frame::encode(&cmd, &mut o.buf);
        o.frames += 1;
        self.inner.unwritten.fetch_add(1, Ordering::AcqRel);
        if o.writer_active {
            return true; // the writer re-checks `buf` before it goes idle
        }
        o.writer_active = true;
        drop(o);
        self.inner.wake_writer.notify_one();
        true
    }

    /// Queue a response produced on the reader task; written by [`Channel::flush_from_reader`]
    /// at the end of the reader's batch (or now if a lot is buffered).
    fn queue_from_reader(&self, cmd: &RemotingCommand) {
        let mut o = self.inner.out.lock();
        if o.wr.is_none() {
            return;
        }
        frame::encode(cmd, &mut o.buf);
        o.frames += 1;
        self.inner.unwritten.fetch_add(1, Ordering::AcqRel);
        if o.buf.len() >= INLINE_FLUSH_BYTES {
            self.write_inline(&mut o);
        }
    }

    /// Write what the reader queued, unless the writer task is active (then it will).
    fn flush_from_reader(&self) {
        let mut o = self.inner.out.lock();
        if !o.buf.is_empty() {
            self.write_inline(&mut o);
        }
    }

    /// Non-blocking write of `o.buf` on the calling task; hands the rest to the writer task if
    /// the socket is full.
    fn write_inline(&self, o: &mut Out) {
        if o.writer_active {
            return;
        }
        let Some(wr) = o.wr.clone() else { return };
        while !o.buf.is_empty() {
            match wr.try_write(&o.buf) {
                Ok(n) => o.buf.advance(n),
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                    o.writer_active = true;
                    self.inner.wake_writer.notify_one();
                    return;
                }
                Err(e) => {
                    tracing::debug!(peer = %self.inner.peer, error = %e, "connection write error");
                    self.close();
                    return;
                }
            }
        }
        o.buf.clear();
        self.inner.unwritten.fetch_sub(std::mem::take(&mut o.frames), Ordering::AcqRel);
    }

    /// Send `resp` as the response to the request with `opaque`.
    pub fn respond(&self, opaque: i32, mut resp: RemotingCommand) -> bool {
        resp.mark_response_to(opaque);
        self.send(resp)
    }

    /// Send a oneway request (no response expected).
    pub fn send_oneway(&self, mut cmd: RemotingCommand) -> bool {
        cmd.opaque = self.inner.next_opaque.fetch_add(1, Ordering::Relaxed);
        cmd.flag = (cmd.flag | crate::protocol::command::FLAG_ONEWAY)
            & !crate::protocol::command::FLAG_RESPONSE;
        self.send(cmd)
    }

    /// Send a request and wait for its response (matched by opaque), up to `timeout`.
    pub async fn request(
        &self,
        mut cmd: RemotingCommand,
        timeout: Duration,
    ) -> Result<RemotingCommand, RemotingError> {
        let opaque = self.inner.next_opaque.fetch_add(1, Ordering::Relaxed);
        cmd.opaque = opaque;
        cmd.flag &=
            !(crate::protocol::command::FLAG_RESPONSE | crate::protocol::command::FLAG_ONEWAY);
        let (tx, rx) = oneshot::channel();
        self.inner.pending.lock().insert(opaque, tx);
        if !self.send(cmd) {
            self.inner.pending.lock().remove(&opaque);
            return Err(RemotingError::Closed(self.inner.peer.to_string()));
        }
        match tokio::time::timeout(timeout, rx).await {
            Ok(Ok(resp)) => Ok(resp),
            Ok(Err(_)) => Err(RemotingError::Closed(self.inner.peer.to_string())),
            Err(_) => {
                self.inner.pending.lock().remove(&opaque);
                Err(RemotingError::Timeout {
                    addr: self.inner.peer.to_string(),
                    millis: timeout.as_millis() as u64,
                })
            }
        }
    }

    fn complete(&self, resp: RemotingCommand) {
        let waiter = self.inner.pending.lock().remove(&resp.opaque);
        match waiter {
            Some(tx) => {
                let _ = tx.send(resp);
            }
            None => {
                tracing::debug!(peer = %self.inner.peer, opaque = resp.opaque, "response for unknown or timed-out request")
            }
        }
    }
}

async fn read_loop<E: ChannelEvents>(
    mut rd: OwnedReadHalf,
    ch: Channel,
    events: Arc<E>,
    max_frame: usize,
    idle: Option<Duration>,
    shutdown: &CancellationToken,
) {
    // Small until the connection proves busy (the reserve below grows it by 64 KiB): idle
    // connections (10k consumers) should not pin 64 KiB each.
    let mut buf = BytesMut::with_capacity(4 * 1024);
    loop {
        // Handle every complete frame already buffered before reading again.
        loop {
            match frame::decode(&mut buf, max_frame) {
                Ok(Some(cmd)) => {
                    if cmd.is_response() {
                        ch.complete(cmd);
                        continue;
                    }
                    let opaque = cmd.opaque;
                    let oneway = cmd.is_oneway();
                    if let Some(mut resp) = events.on_request(&ch, cmd).await {
                        if !oneway {
                            resp.mark_response_to(opaque);
                            ch.queue_from_reader(&resp);
                        }
                    }
                }
                Ok(None) => {
                    // One write for every response of this batch.
                    ch.flush_from_reader();
                    break;
                }
                Err(e) => {
                    ch.flush_from_reader();
                    log_bad_frame(&ch, &e);
                    return;
                }
            }
        }
        if buf.capacity() - buf.len() < 4096 {
            buf.reserve(64 * 1024);
        }
        let read = async {
            match idle {
                Some(d) => tokio::time::timeout(d, rd.read_buf(&mut buf)).await.ok(),
                None => Some(rd.read_buf(&mut buf).await),
            }
        };
        let n = tokio::select! {
            biased;
            _ = ch.inner.closed.cancelled() => return,
            _ = shutdown.cancelled() => return,
            r = read => r,
        };
        match n {
            None => {
                tracing::info!(peer = %ch.peer_addr(), "closing idle connection");
                return;
            }
            Some(Ok(0)) => {
                if !buf.is_empty() {
                    tracing::warn!(peer = %ch.peer_addr(), bytes = buf.len(), "connection closed mid-frame");
                }
                return;
            }
            Some(Ok(_)) => {}
            Some(Err(e)) => {
                tracing::debug!(peer = %ch.peer_addr(), error = %e, "connection read error");
                return;
            }
        }
    }
}

/// One warning per 10 s for malformed frames (a port scanner or a wrong protocol would
/// otherwise log a line per connection).
static BAD_FRAME_LOG: crate::log_limit::LogLimiter =
    crate::log_limit::LogLimiter::new(Duration::from_secs(10));

fn log_bad_frame(ch: &Channel, e: &FrameError) {
    match BAD_FRAME_LOG.allow() {
        Some(suppressed) => {
            tracing::warn!(peer = %ch.peer_addr(), error = %e, suppressed, "malformed frame, closing connection")
        }
        None => {
            tracing::debug!(peer = %ch.peer_addr(), error = %e, "malformed frame, closing connection")
        }
    }
}

async fn write_loop(wr: Arc<OwnedWriteHalf>, ch: Channel) {
    let closed = ch.inner.closed.clone();
    // Double buffering: the writer swaps its (empty) spare with the queue buffer and writes
    // the full one, so both keep their capacity. Splitting the queue buffer instead made every
    // refill a fresh allocation; for batch frames (~33 KiB each) that was the client's top
    // cost (fresh allocator pages, kernel page zeroing).
    let mut chunk = BytesMut::new();
    'run: loop {
        tokio::select! {
            biased;
            _ = ch.inner.wake_writer.notified() => {}
            _ = closed.cancelled() => break,
        }
        loop {
            // Take everything queued so far; writing stays ours until `buf` is found empty.
            let frames = {
                let mut o = ch.inner.out.lock();
                if o.buf.is_empty() {
                    o.writer_active = false;
                    break;
                }
                chunk.clear();
                std::mem::swap(&mut o.buf, &mut chunk);
                std::mem::take(&mut o.frames)
            };
            while !chunk.is_empty() {
                let ready = tokio::select! {
                    biased;
                    r = wr.writable() => r,
                    _ = closed.cancelled() => break 'run,
                };
                let res = match ready {
                    Ok(()) => wr.try_write(&chunk),
                    Err(e) => Err(e),
                };
                match res {
                    Ok(n) => chunk.advance(n),
                    Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
                    Err(_) => {
                        closed.cancel();
                        break 'run;
                    }
                }
            }
            ch.inner.unwritten.fetch_sub(frames, Ordering::AcqRel);
        }
    }
    // Drop our handles on the write half: the socket is shut down for writing once the last
    // one goes (tokio's OwnedWriteHalf shuts down on drop).
    ch.inner.out.lock().wr = None;
    drop(wr);
}
