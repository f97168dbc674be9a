//! One plaintext HTTP/2 connection (RFC 9113, "h2c" with prior knowledge) for gRPC unary and
//! server-streaming calls, built for mqbench's load: many small calls in flight at once.
//!
//! A general client (the `h2` crate) spent ≈ 3× nghttp2's `h2load` CPU per call on per-stream
//! bookkeeping (stream slab, priority queue, stream reference locks, header maps, HPACK
//! hashing). Here a call is: under one lock, a stream id, a header block of a few indexed
//! bytes ([`hpack`]), the DATA frame appended to a shared write buffer, and a oneshot
//! channel registered under the stream id; then the caller awaits the oneshot. No task per
//! call. A writer task writes the whole buffer per wake-up (one syscall for every call that
//! queued meanwhile); a reader task parses the server's frames ([`read`]) and completes calls.
//!
//! Flow control, MAX_CONCURRENT_STREAMS, MAX_FRAME_SIZE and HEADER_TABLE_SIZE of the server
//! are honoured ([`state`]); a connection error fails every pending call and every later one.

mod frame;
mod hpack;
mod read;
mod state;
#[cfg(test)]
mod tests;

use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use parking_lot::Mutex;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::sync::Notify;
use tokio::task::AbortHandle;

use read::Reader;
use state::{Done, State, TIMED_OUT};

/// Spare room the reader keeps for each `read` (many answers per syscall).
const READ_CHUNK: usize = 64 << 10;
/// How often calls past their deadline are failed: deadlines are this coarse, and no call
/// registers a timer of its own (a tokio timer per call was ~6 % of the client's CPU).
const SWEEP: Duration = Duration::from_millis(20);

/// State shared by the callers and the two tasks.
struct Shared {
    state: Mutex<State>,
    /// Wakes the writer when the write buffer stops being empty.
    wake: Notify,
}

/// One HTTP/2 connection making gRPC calls to the paths given at [`Conn::connect`].
pub struct Conn {
    shared: Arc<Shared>,
    paths: Vec<String>,
    /// The `grpc-timeout` that most calls carry (kept in the HPACK table), and its value.
    usual_timeout: Duration,
    usual_timeout_value: String,
    tasks: [AbortHandle; 3],
}

impl Drop for Conn {
    fn drop(&mut self) {
        for t in &self.tasks {
            t.abort();
        }
    }
}

/// What a call's header block carries besides the paths.
pub struct Headers<'a> {
    /// `:authority` (`host:port`).
    pub authority: &'a str,
    /// Fields sent on every call after `content-type` and `te` (e.g. the client id).
    pub extra: &'a [(&'a str, &'a str)],
    /// The deadline of most calls: its `grpc-timeout` is indexed once and then one byte.
    pub usual_timeout: Duration,
}

impl Conn {
    /// Connect to `addr` (TCP, no delay) for calls to `paths`.
    pub async fn connect(addr: &str, paths: &[&str], h: Headers<'_>) -> anyhow::Result<Conn> {
        let tcp = tokio::net::TcpStream::connect(addr).await?;
        tcp.set_nodelay(true)?;
        let (rd, wr) = tcp.into_split();
        Ok(Conn::start(rd, wr, paths, h))
    }

    /// Run the connection over `rd` and `wr` (the two halves of a byte stream to the server):
    /// the client's preface is written at once, the server's is read as it comes.
    pub fn start<R, W>(rd: R, wr: W, paths: &[&str], h: Headers<'_>) -> Conn
    where
        R: AsyncRead + Unpin + Send + 'static,
        W: AsyncWrite + Unpin + Send + 'static,
    {
        let paths: Vec<String> = paths.iter().map(|p| p.to_string()).collect();
        let usual_timeout_value = grpc_timeout(h.usual_timeout);
        let enc = hpack::Encoder::new(h.authority, &paths, h.extra, &usual_timeout_value);
        let shared = Arc::new(Shared { state: Mutex::new(State::new(enc)), wake: Notify::new() });
        shared.wake.notify_one();
        let reader = tokio::spawn(read_loop(shared.clone(), rd)).abort_handle();
        let writer = tokio::spawn(write_loop(shared.clone(), wr)).abort_handle();
        let sweeper = tokio::spawn(sweep_loop(shared.clone())).abort_handle();
        Conn {
            shared,
            paths,
            usual_timeout: h.usual_timeout,
            usual_timeout_value,
            tasks: [reader, writer, sweeper],
        }
    }

    /// Call `paths[path]` with `body` (gRPC-framed messages) and deadline `timeout`; the
    /// answer's body once the call ended with HTTP 200 and gRPC status 0.
    pub async fn call(&self, path: usize, body: Bytes, timeout: Duration) -> anyhow::Result<Bytes> {
        let other;
        let value = if timeout == self.usual_timeout {
            &self.usual_timeout_value
        } else {
            other = grpc_timeout(timeout);
            &other
        };
        let name = &self.paths[path];
        let (ticket, id, rx) = {
            let mut st = self.shared.state.lock();
            let wake = st.out.is_empty();
            let r = st.call(path, value, body, Instant::now() + timeout);
            if wake && !st.out.is_empty() {
                self.shared.wake.notify_one();
            }
            r.map_err(|e| anyhow::anyhow!("{name}: {e}"))?
        };
        // Resets the stream if the caller stops waiting (its future dropped).
        let mut guard = Cancel { shared: &self.shared, ticket, id, armed: true };
        let answer = rx.await;
        guard.armed = false;
        let answer = answer.map_err(|_| anyhow::anyhow!("{name}: connection closed"))?;
        let a = answer.map_err(|e| match e.as_str() {
            TIMED_OUT => anyhow::anyhow!("{name} timed out"),
            _ => anyhow::anyhow!("{name}: {e}"),
        })?;
        anyhow::ensure!(a.status == 200, "{name}: HTTP status {}", a.status);
        match a.grpc {
            Some((0, _)) => Ok(a.body),
            Some((code, m)) => anyhow::bail!("{name} answered gRPC status {code}: {m}"),
            None => anyhow::bail!("{name}: an answer without grpc-status"),
        }
    }
}

/// Abandons a call whose caller stopped waiting.
struct Cancel<'a> {
    shared: &'a Shared,
    ticket: u64,
    id: Option<u32>,
    armed: bool,
}

impl Drop for Cancel<'_> {
    fn drop(&mut self) {
        if self.armed {
            let mut st = self.shared.state.lock();
            let wake = st.out.is_empty();
            st.cancel(self.ticket, self.id);
            if wake && !st.out.is_empty() {
                self.shared.wake.notify_one();
            }
        }
    }
}

/// `grpc-timeout` for `t`: at most 8 digits (gRPC over HTTP/2), in the finest unit that fits.
fn grpc_timeout(t: Duration) -> String {
    let ms = t.as_millis();
    if ms < 100_000_000 {
        return format!("{ms}m");
    }
    let s = t.as_secs();
    if s < 100_000_000 {
        return format!("{s}S");
    }
    format!("{}H", (s / 3600).min(99_999_999))
}

/// Tell the ended calls (outside the lock: a wake-up is not free).
fn tell(done: &mut Vec<(tokio::sync::oneshot::Sender<Done>, Done)>) {
    for (tx, d) in done.drain(..) {
        let _ = tx.send(d);
    }
}

/// Release the lock, then tell the calls that ended and wake the writer if frames were queued.
fn settle(
    shared: &Shared,
    mut st: parking_lot::MutexGuard<'_, State>,
    done: &mut Vec<(tokio::sync::oneshot::Sender<Done>, Done)>,
) {
    std::mem::swap(&mut st.done, done);
    let wake = !st.out.is_empty();
    drop(st);
    tell(done);
    if wake {
        shared.wake.notify_one();
    }
}

/// The reader task: frames in, calls completed; at the end (EOF, error) every call failed.
async fn read_loop<R: AsyncRead + Unpin>(shared: Arc<Shared>, mut rd: R) {
    let mut reader = Reader::new();
    let mut buf = BytesMut::with_capacity(2 * READ_CHUNK);
    let mut done = Vec::new();
    let why = loop {
        buf.reserve(READ_CHUNK);
        match rd.read_buf(&mut buf).await {
            Ok(0) => break "connection closed by the server".to_string(),
            Err(e) => break format!("connection read failed: {e}"),
            Ok(_) => {}
        }
        let mut st = shared.state.lock();
        let r = reader.consume(&mut st, &mut buf);
        if let Err(e) = &r {
            frame::put_goaway(&mut st.out, e.code);
            st.fail_all(e.to_string());
        }
        settle(&shared, st, &mut done);
        if let Err(e) = r {
            tracing::warn!(error = %e, "gRPC connection failed");
            return;
        }
    };
    let mut st = shared.state.lock();
    st.fail_all(why);
    std::mem::swap(&mut st.done, &mut done);
    drop(st);
    tell(&mut done);
    shared.wake.notify_one();
}

/// The deadline task: fails the calls past their deadline every [`SWEEP`].
async fn sweep_loop(shared: Arc<Shared>) {
    let mut tick = tokio::time::interval(SWEEP);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut done = Vec::new();
    loop {
        tick.tick().await;
        let mut st = shared.state.lock();
        if st.dead.is_some() {
            return; // every call has been failed
        }
        st.expire(Instant::now());
        settle(&shared, st, &mut done);
    }
}

/// The writer task: the whole write buffer per pass; ends once the connection is dead and
/// everything queued (a GOAWAY) is written.
async fn write_loop<W: AsyncWrite + Unpin>(shared: Arc<Shared>, mut wr: W) {
    let mut buf = BytesMut::with_capacity(64 << 10);
    loop {
        let dead = {
            let mut st = shared.state.lock();
            std::mem::swap(&mut st.out, &mut buf);
            st.dead.is_some()
        };
        if buf.is_empty() {
            if dead {
                break;
            }
            shared.wake.notified().await;
            continue;
        }
        if let Err(e) = wr.write_all(&buf).await {
            let mut st = shared.state.lock();
            st.fail_all(format!("connection write failed: {e}"));
            let mut done = std::mem::take(&mut st.done);
            drop(st);
            tell(&mut done);
            return;
        }
        buf.clear();
    }
    let _ = wr.shutdown().await;
}
