//! [`Channel`]: one remoting connection, shared by the server and client sides.

use std::collections::HashMap;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicI32, AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bytes::Buf;
use bytes::BytesMut;
use parking_lot::Mutex;
use tokio::io::AsyncReadExt;
use tokio::net::{tcp, unix, TcpStream, UnixStream};
use tokio::sync::{oneshot, Notify};
use tokio_util::sync::CancellationToken;

use super::stats::ConnectionStats;
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

    /// Whether `request` may join a run of requests handled together
    /// ([`ChannelEvents::on_request_group`]). Default: none may.
    fn groupable(&self, _request: &RemotingCommand) -> bool {
        false
    }

    /// Handle a run of consecutive groupable requests decoded from one read (at most
    /// [`GROUP_MAX_REQUESTS`] requests or about [`GROUP_MAX_BYTES`] of bodies), in order:
    /// exactly one answer per request, in the same order, each as
    /// [`ChannelEvents::on_request`] would give it. Default: one by one.
    fn on_request_group(
        &self,
        channel: &Channel,
        requests: Vec<RemotingCommand>,
    ) -> impl Future<Output = Vec<Option<RemotingCommand>>> + Send {
        async move {
            let mut answers = Vec::with_capacity(requests.len());
            for r in requests {
                answers.push(self.on_request(channel, r).await);
            }
            answers
        }
    }
}

/// Most requests in one run handed to [`ChannelEvents::on_request_group`].
pub const GROUP_MAX_REQUESTS: usize = 256;
/// A run is handed over once its bodies reach this many bytes.
pub const GROUP_MAX_BYTES: usize = 256 * 1024;

static NEXT_CHANNEL_ID: AtomicU64 = AtomicU64::new(1);

/// Bounds on a connection's queued output (Java's `writeBufferHighWaterMark` /
/// `writeBufferLowWaterMark`): above `high` unwritten bytes the channel stops reading requests
/// from the peer (no new responses are produced) until the peer has drained the queue to
/// `low`, as Netty's auto-read switch in Java's `NettyServerHandler.channelWritabilityChanged`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OutputLimits {
    /// Pause reading above this many unwritten bytes.
    pub high: usize,
    /// Resume reading at or below this many.
    pub low: usize,
}

/// How a [`Channel`] treats its peer.
#[derive(Clone, Default)]
pub struct ChannelOptions {
    /// Largest accepted incoming frame.
    pub max_frame: usize,
    /// Close a connection that received nothing for this long (None = never). It is also how
    /// long a connection whose reading is paused ([`OutputLimits`]) may go without any write
    /// progress before it is closed (Java's all-idle timeout covers both).
    pub idle: Option<Duration>,
    /// When cancelled the channel stops reading, waits (up to `drain`) until every queued
    /// response is written, then closes: graceful shutdown.
    pub shutdown: Option<CancellationToken>,
    /// See `shutdown`.
    pub drain: Duration,
    /// Output bounds with read backpressure (servers); `None` = unbounded (clients: a client
    /// that stopped reading responses because of its own queued requests could deadlock with
    /// a server doing the same).
    pub output: Option<OutputLimits>,
    /// Counters to update (idle, stalled and bad-frame closes, read pauses).
    pub stats: Option<Arc<ConnectionStats>>,
    /// Times every request the reader dispatches (servers with metrics on); `None` = no
    /// clock read at all.
    pub timer: Option<Arc<dyn super::RequestTimer>>,
}

struct Inner {
    id: u64,
    peer: SocketAddr,
    local: SocketAddr,
    /// Encoded frames waiting to be written, and who writes them (see [`Out`]).
    out: Mutex<Out>,
    /// Wakes the writer task when it has to take over writing.
    wake_writer: Notify,
    /// Bytes queued but not yet written (graceful shutdown waits for 0; backpressure compares
    /// it with the [`OutputLimits`]).
    unwritten: AtomicUsize,
    /// The reader is waiting for the output to drain: the writer signals `drained` on progress.
    reader_paused: AtomicBool,
    drained: Notify,
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
    /// Start reader and writer tasks on `stream`. `events` handles incoming requests; `opts`
    /// bounds frames, idleness and output (see [`ChannelOptions`]). Returns the channel and a
    /// handle that completes when the connection is gone.
    pub fn spawn<E: ChannelEvents>(
        stream: TcpStream,
        events: Arc<E>,
        opts: ChannelOptions,
    ) -> std::io::Result<(Channel, tokio::task::JoinHandle<()>)> {
        stream.set_nodelay(true)?;
        let peer = stream.peer_addr()?;
        let local = stream.local_addr()?;
        let (rx_half, tx_half) = stream.into_split();
        Ok(Self::spawn_halves(
            (OwnedReadHalf::Tcp(rx_half), OwnedWriteHalf::Tcp(tx_half)),
            (peer, local),
            events,
            opts,
        ))
    }

    /// [`Channel::spawn`] over the local end of a socket pair whose other end carries the
    /// connection's plaintext (a TLS terminator); `peer` and `local` are the real TCP
    /// connection's addresses (ACL checks the peer's IP).
    pub fn spawn_local<E: ChannelEvents>(
        stream: UnixStream,
        (peer, local): (SocketAddr, SocketAddr),
        events: Arc<E>,
        opts: ChannelOptions,
    ) -> (Channel, tokio::task::JoinHandle<()>) {
        let (rx_half, tx_half) = stream.into_split();
        Self::spawn_halves(
            (OwnedReadHalf::Unix(rx_half), OwnedWriteHalf::Unix(tx_half)),
            (peer, local),
            events,
            opts,
        )
    }

    fn spawn_halves<E: ChannelEvents>(
        (rx_half, tx_half): (OwnedReadHalf, OwnedWriteHalf),
        (peer, local): (SocketAddr, SocketAddr),
        events: Arc<E>,
        opts: ChannelOptions,
    ) -> (Channel, tokio::task::JoinHandle<()>) {
        let wr = Arc::new(tx_half);
        let closed = CancellationToken::new();
        let shutdown = opts.shutdown.clone().unwrap_or_default();
        let drain = opts.drain;
        let ch = Channel {
            inner: Arc::new(Inner {
                id: NEXT_CHANNEL_ID.fetch_add(1, Ordering::Relaxed),
                peer,
                local,
                out: Mutex::new(Out {
                    buf: BytesMut::new(),
                    writer_active: false,
                    wr: Some(wr.clone()),
                }),
                wake_writer: Notify::new(),
                unwritten: AtomicUsize::new(0),
                reader_paused: AtomicBool::new(false),
                drained: Notify::new(),
                pending: Mutex::new(HashMap::new()),
                next_opaque: AtomicI32::new(1),
                closed,
            }),
        };
        let writer = tokio::spawn(write_loop(wr, ch.clone()));
        let reader_ch = ch.clone();
        let handle = tokio::spawn(async move {
            read_loop(rx_half, reader_ch.clone(), events, &opts, &shutdown).await;
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
        self.encode_queued(&mut o, &cmd);
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
        self.encode_queued(&mut o, cmd);
        if o.buf.len() >= INLINE_FLUSH_BYTES {
            self.write_inline(&mut o);
        }
    }

    /// Append `cmd` to the output queue and count its bytes as unwritten.
    fn encode_queued(&self, o: &mut Out, cmd: &RemotingCommand) {
        let before = o.buf.len();
        frame::encode(cmd, &mut o.buf);
        self.inner.unwritten.fetch_add(o.buf.len() - before, Ordering::AcqRel);
    }

    /// Bytes queued and not yet written to the socket.
    pub fn unwritten_bytes(&self) -> usize {
        self.inner.unwritten.load(Ordering::Acquire)
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
                Ok(n) => {
                    o.buf.advance(n);
                    self.inner.unwritten.fetch_sub(n, Ordering::AcqRel);
                }
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

/// Spare room below which the reader grows its buffer before a read.
const MIN_READ_SPARE: usize = 4 * 1024;
/// A new connection's read buffer: room for its first requests, and for a lone frame header
/// without growing.
const INITIAL_READ_BUF: usize = 2 * MIN_READ_SPARE;
/// Smallest growth step once a connection fills its buffer (busy connections then read up to
/// 48 KiB+ per syscall). What a connection pins grows with the bytes it actually sent, never
/// with a length it only announced (issue 16, B3).
const READ_GROWTH_STEP: usize = 48 * 1024;

/// Make room for the next read. The buffer grows with the bytes that actually arrived
/// (doubling, so a large frame is still copied O(1) times per byte), never towards a length
/// the peer only announced, and never past the end of the frame being read.
fn reserve_for_read(buf: &mut BytesMut) {
    if buf.capacity() - buf.len() >= MIN_READ_SPARE {
        return;
    }
    let mut add = buf.len().max(READ_GROWTH_STEP);
    if let Some(missing) = frame::missing_len(buf) {
        add = add.min(missing.max(MIN_READ_SPARE));
    }
    buf.reserve(add);
}

/// The read side's idle timeout: one timer per connection, re-armed only when it fires
/// early. A `tokio::time::timeout` around every read would register and cancel a timer-wheel
/// entry per read (per request on a one-at-a-time connection), which cost ~1-2 % of broker CPU.
struct IdleTimer {
    idle: Duration,
    /// When the current wait for input began.
    since: tokio::time::Instant,
    sleep: std::pin::Pin<Box<tokio::time::Sleep>>,
}

impl IdleTimer {
    fn new(idle: Duration) -> Self {
        let since = tokio::time::Instant::now();
        IdleTimer { idle, since, sleep: Box::pin(tokio::time::sleep_until(since + idle)) }
    }

    /// A wait for input begins now.
    fn touch(&mut self) {
        self.since = tokio::time::Instant::now();
    }

    /// Resolves once nothing has arrived for `idle` since the last [`IdleTimer::touch`].
    async fn expired(&mut self) {
        loop {
            self.sleep.as_mut().await;
            let due = self.since + self.idle;
            if tokio::time::Instant::now() >= due {
                return;
            }
            self.sleep.as_mut().reset(due);
        }
    }
}

async fn read_loop<E: ChannelEvents>(
    mut rd: OwnedReadHalf,
    ch: Channel,
    events: Arc<E>,
    opts: &ChannelOptions,
    shutdown: &CancellationToken,
) {
    // Small until the connection proves busy: idle connections (10k consumers) should not pin
    // 64 KiB each.
    let mut buf = BytesMut::with_capacity(INITIAL_READ_BUF);
    let stats = opts.stats.as_deref();
    let mut idle = opts.idle.map(IdleTimer::new);
    let timer = opts.timer.as_deref();
    loop {
        // Where the next request's time starts: now, after a read; then each answer's reading
        // (see `RequestTimer`).
        let mut last = timer.map_or(0, |t| t.now());
        // Consecutive groupable requests waiting to be handled as one run.
        let mut run: Vec<RemotingCommand> = Vec::new();
        let mut run_bytes = 0usize;
        // Handle every complete frame already buffered before reading again.
        loop {
            match frame::decode(&mut buf, opts.max_frame) {
                Ok(Some(cmd)) => {
                    if cmd.is_response() {
                        ch.complete(cmd);
                        continue;
                    }
                    let alone = if events.groupable(&cmd) {
                        run_bytes += cmd.body.len();
                        run.push(cmd);
                        if run.len() < GROUP_MAX_REQUESTS && run_bytes < GROUP_MAX_BYTES {
                            continue;
                        }
                        None
                    } else {
                        Some(cmd)
                    };
                    // A run ends at its cap or at a request that cannot join it, which is
                    // answered after the run: answers keep the order of the requests.
                    let take = std::mem::take(&mut run);
                    run_bytes = 0;
                    if !answer_run(&ch, &*events, take, (opts, shutdown), &mut last).await {
                        return;
                    }
                    if let Some(cmd) = alone {
                        if !answer_one(&ch, &*events, cmd, (opts, shutdown), &mut last).await {
                            return;
                        }
                    }
                }
                Ok(None) => {
                    let take = std::mem::take(&mut run);
                    if !answer_run(&ch, &*events, take, (opts, shutdown), &mut last).await {
                        return;
                    }
                    // One write for every response of this batch.
                    ch.flush_from_reader();
                    break;
                }
                Err(e) => {
                    // The frames before the bad one are requests like any other.
                    let take = std::mem::take(&mut run);
                    if answer_run(&ch, &*events, take, (opts, shutdown), &mut last).await {
                        ch.flush_from_reader();
                    }
                    if let Some(s) = stats {
                        s.bad_frame();
                    }
                    log_bad_frame(&ch, &e);
                    return;
                }
            }
        }
        // Responses answered later (long polling) also count against the output bounds.
        if !backpressure(&ch, opts, shutdown).await {
            return;
        }
        reserve_for_read(&mut buf);
        if let Some(t) = idle.as_mut() {
            t.touch();
        }
        let expired = async {
            match idle.as_mut() {
                Some(t) => t.expired().await,
                None => std::future::pending().await,
            }
        };
        let n = tokio::select! {
            biased;
            _ = ch.inner.closed.cancelled() => return,
            _ = shutdown.cancelled() => return,
            r = rd.read_buf(&mut buf) => Some(r),
            _ = expired => None,
        };
        match n {
            None => {
                if let Some(s) = stats {
                    s.idle_closed();
                }
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

/// Handle one request on the reader: queue its answer for the batch's write, time it (from
/// `last`, which becomes now), then apply read backpressure. False: the connection must close.
async fn answer_one<E: ChannelEvents>(
    ch: &Channel,
    events: &E,
    cmd: RemotingCommand,
    (opts, shutdown): (&ChannelOptions, &CancellationToken),
    last: &mut u64,
) -> bool {
    let (code, opaque, oneway) = (cmd.code, cmd.opaque, cmd.is_oneway());
    let mut resp = events.on_request(ch, cmd).await;
    if let Some(resp) = resp.as_mut().filter(|_| !oneway) {
        resp.mark_response_to(opaque);
        ch.queue_from_reader(resp);
    }
    let timer = opts.timer.as_deref();
    if let Some(t) = timer {
        let end = t.now();
        t.observe(code, resp.as_ref(), *last, end);
        *last = end;
    }
    after_answers(ch, (opts, shutdown), last).await
}

/// Handle a run of groupable requests with one [`ChannelEvents::on_request_group`] call (a run
/// of one as a lone request), queue the answers in order, and time each request with an equal
/// share of the run's time (the run's work is shared, so each request's own time is not
/// measurable; the shares add up to the run). False: the connection must close.
async fn answer_run<E: ChannelEvents>(
    ch: &Channel,
    events: &E,
    mut run: Vec<RemotingCommand>,
    (opts, shutdown): (&ChannelOptions, &CancellationToken),
    last: &mut u64,
) -> bool {
    if run.len() <= 1 {
        return match run.pop() {
            Some(cmd) => answer_one(ch, events, cmd, (opts, shutdown), last).await,
            None => true,
        };
    }
    let heads: Vec<(i32, i32, bool)> =
        run.iter().map(|c| (c.code, c.opaque, c.is_oneway())).collect();
    let n = heads.len() as u64;
    let mut answers = events.on_request_group(ch, run).await.into_iter();
    let timer = opts.timer.as_deref();
    let (start, end) = (*last, timer.map_or(0, |t| t.now()));
    for (i, (code, opaque, oneway)) in heads.into_iter().enumerate() {
        // One answer per request is the contract; a missing one is an error, not a hang.
        let mut resp = answers.next().unwrap_or_else(|| {
            Some(RemotingCommand::error(
                crate::protocol::codes::response::SYSTEM_ERROR,
                "request not answered",
            ))
        });
        if let Some(resp) = resp.as_mut().filter(|_| !oneway) {
            resp.mark_response_to(opaque);
            ch.queue_from_reader(resp);
        }
        if let Some(t) = timer {
            let share = |k: u64| start + end.saturating_sub(start) * k / n;
            t.observe(code, resp.as_ref(), share(i as u64), share(i as u64 + 1));
        }
    }
    *last = end;
    after_answers(ch, (opts, shutdown), last).await
}

/// Read backpressure after answers were queued (checked per request or run: one read can
/// carry hundreds of pipelined requests, each with a large response). A pause is nobody's
/// request time: `last` restarts after it. False: the connection must close.
async fn after_answers(
    ch: &Channel,
    (opts, shutdown): (&ChannelOptions, &CancellationToken),
    last: &mut u64,
) -> bool {
    let timer = opts.timer.as_deref();
    let paused = timer.is_some()
        && opts.output.is_some_and(|l| ch.inner.unwritten.load(Ordering::Acquire) > l.high);
    if !backpressure(ch, opts, shutdown).await {
        return false;
    }
    if paused {
        *last = timer.map_or(0, |t| t.now());
    }
    true
}

/// Read backpressure: when the connection's unwritten output is above the high-water mark,
/// write what the socket takes now, then stop reading until the peer has drained it to the
/// low-water mark. Returns false when the connection must close instead: the peer made no
/// write progress for the idle timeout (it stopped reading), or the connection is closing.
/// One atomic load when below the mark (the common case).
async fn backpressure(ch: &Channel, opts: &ChannelOptions, shutdown: &CancellationToken) -> bool {
    let Some(limits) = opts.output else { return true };
    let inner = &ch.inner;
    if inner.unwritten.load(Ordering::Acquire) <= limits.high {
        return true;
    }
    ch.flush_from_reader();
    let mut last = inner.unwritten.load(Ordering::Acquire);
    if last <= limits.high {
        return true;
    }
    if let Some(s) = opts.stats.as_deref() {
        s.read_paused();
    }
    tracing::debug!(peer = %ch.peer_addr(), unwritten = last, "output above the high-water mark, reading paused");
    inner.reader_paused.store(true, Ordering::Release);
    let mut deadline = opts.idle.map(|d| tokio::time::Instant::now() + d);
    let resumed = loop {
        let drained = inner.drained.notified();
        tokio::pin!(drained);
        // Registered before the check, so progress made in between is not missed.
        drained.as_mut().enable();
        let now = inner.unwritten.load(Ordering::Acquire);
        if now <= limits.low {
            break true;
        }
        if now < last {
            last = now;
            deadline = opts.idle.map(|d| tokio::time::Instant::now() + d);
        }
        let stalled = async {
            match deadline {
                Some(d) => tokio::time::sleep_until(d).await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            _ = inner.closed.cancelled() => break false,
            _ = shutdown.cancelled() => break false,
            _ = drained => {}
            _ = stalled => {
                if inner.unwritten.load(Ordering::Acquire) >= last {
                    if let Some(s) = opts.stats.as_deref() {
                        s.stalled_closed();
                    }
                    tracing::warn!(peer = %ch.peer_addr(), unwritten = last, "peer stopped reading its responses; closing the connection");
                    break false;
                }
            }
        }
    };
    inner.reader_paused.store(false, Ordering::Release);
    resumed
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
            {
                let mut o = ch.inner.out.lock();
                if o.buf.is_empty() {
                    o.writer_active = false;
                    break;
                }
                chunk.clear();
                std::mem::swap(&mut o.buf, &mut chunk);
            }
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
                    Ok(n) => {
                        chunk.advance(n);
                        ch.inner.unwritten.fetch_sub(n, Ordering::AcqRel);
                        if ch.inner.reader_paused.load(Ordering::Acquire) {
                            ch.inner.drained.notify_waiters();
                        }
                    }
                    Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
                    Err(_) => {
                        closed.cancel();
                        break 'run;
                    }
                }
            }
        }
    }
    // Drop our handles on the write half: the socket is shut down for writing once the last
    // one goes (tokio's OwnedWriteHalf shuts down on drop).
    ch.inner.out.lock().wr = None;
    drop(wr);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn idle_timer_counts_from_the_last_touch() {
        let idle = Duration::from_millis(150);
        let mut t = IdleTimer::new(idle);
        tokio::time::sleep(Duration::from_millis(100)).await;
        t.touch();
        let touched = tokio::time::Instant::now();
        // The first deadline (150 ms after creation) passes without expiring: re-armed.
        tokio::time::timeout(Duration::from_secs(10), t.expired()).await.unwrap();
        assert!(touched.elapsed() >= idle, "expired {:?} after the touch", touched.elapsed());
        // Expired and not touched again: still expired.
        tokio::time::timeout(Duration::from_millis(50), t.expired()).await.unwrap();
    }

    #[test]
    fn read_buffer_follows_arrived_bytes_not_announced_length() {
        // Only a 16 MiB length word arrived: the buffer does not grow.
        let mut buf = BytesMut::with_capacity(INITIAL_READ_BUF);
        buf.extend_from_slice(&(16i32 * 1024 * 1024).to_be_bytes());
        reserve_for_read(&mut buf);
        assert_eq!(buf.capacity(), INITIAL_READ_BUF);
        // Once it is full, it grows by at most one step.
        buf.resize(INITIAL_READ_BUF, 0);
        reserve_for_read(&mut buf);
        assert!(buf.capacity() <= 64 * 1024, "capacity {}", buf.capacity());
        assert!(buf.capacity() - buf.len() >= MIN_READ_SPARE);
        // Bytes keep arriving: growth doubles with them, bounded by the frame's end.
        let mut grown = 0;
        while buf.len() < 4 * 1024 * 1024 {
            let fill = buf.capacity() - buf.len();
            buf.extend_from_slice(&vec![0u8; fill]);
            reserve_for_read(&mut buf);
            grown += 1;
            assert!(buf.capacity() <= 2 * buf.len() + READ_GROWTH_STEP + MIN_READ_SPARE);
        }
        assert!(grown < 12, "grew {grown} times for 4 MiB");
        // A small frame whose end is near: no more than what it still needs (at least 4 KiB).
        let mut small = BytesMut::with_capacity(8);
        small.extend_from_slice(&100i32.to_be_bytes());
        reserve_for_read(&mut small);
        assert!(small.capacity() <= 2 * MIN_READ_SPARE, "capacity {}", small.capacity());
    }
}
