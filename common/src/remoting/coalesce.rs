//! Write coalescing for HTTP/2 (gRPC) connections, the counterpart of the remoting writer
//! task's one-`write`-per-batch ([`super::Channel`]).
//!
//! h2 (under hyper and tonic) keeps at most one "chained" DATA frame (a payload of 256 bytes
//! or more) in its write buffer and flushes the socket before it takes the next one: with
//! 1 KiB messages that is one `writev` per request on a gRPC client and one per streamed
//! message on a server, whatever the concurrency (a 256-in-flight send made ~13 k syscalls/s
//! on each side). [`CoalescingIo`] copies every write into its own buffer and turns a flush
//! after new data into a yield: it wakes the task and reports the flush done, so the
//! connection task runs again, buffers whatever frames became ready in between, and writes
//! them all in one syscall at its first flush after a read. The buffer is also written out
//! once it holds [`MAX_BUFFERED`] bytes. A flush is therefore delayed by one pass of the
//! task, never stranded: the wake guarantees the pass, every pass of an h2 connection reads
//! (until the socket has nothing more) before it writes, and every pass ends with a flush.
//! The read marks the pass: the flushes h2 makes within one pass (one before each large DATA
//! frame) stay deferred — writing at the second of them made ~3 `sendto` of ≈ 12 KiB per
//! POP receive-and-ack on one connection. Only by one pass: deferring every flush that
//! followed new data (as this once did) held a busy server's small answers until it ran out
//! of requests, so the client got a whole window of answers at once and sent its next window
//! at once — the two sides took turns instead of working together (a single gRPC connection
//! stayed at ≈ 35 k sends/s whatever the window).
//!
//! Reads are gathered too: h2's frame reader asks for at most its 8 KiB buffer's spare room,
//! which with 256 sends of 1 KiB in flight was ~13 k `recvfrom`/s on the broker. A small read
//! is served from a [`READ_CHUNK`] buffer filled by one `read` of whatever has arrived.
//!
//! And reads are paced: after [`READ_BUDGET`] bytes without a flush in between, the next read
//! yields once (wakes the task, reports nothing ready). An h2 connection task reads for as
//! long as data is there, and the request tasks it spawns run only once it stops; on one
//! thread, a window of 256 sends in flight was then read, handled and answered as one burst,
//! the client idle while the broker worked and the other way round. With the budget the
//! connection answers the requests read so far (its pass ends with a flush) before it reads
//! more, so the two sides work at the same time.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::{Buf, BytesMut};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// Bytes buffered before a write goes to the socket without waiting for a flush.
pub const MAX_BUFFERED: usize = 64 * 1024;

/// Bytes handed to the reader between two flushes before a read yields (see the module doc).
pub const READ_BUDGET: usize = 32 * 1024;

/// Reads asking for less than this go through the read buffer, which one `read` fills with
/// up to this much.
pub const READ_CHUNK: usize = 64 * 1024;

/// An I/O object whose writes are gathered and written on flush (see the module doc).
#[derive(Debug)]
pub struct CoalescingIo<T> {
    io: T,
    buf: BytesMut,
    /// Read buffer (empty until the first small read); `rpos..rend` not yet handed out.
    rbuf: Box<[u8]>,
    rpos: usize,
    rend: usize,
    /// Bytes handed to the reader since the last flush or yield.
    handed: usize,
    /// A flush was deferred: the first flush after the next read writes.
    deferred: bool,
    /// The task read since the flush was deferred (a new pass began).
    read_since: bool,
}

impl<T> CoalescingIo<T> {
    /// Wrap `io`.
    pub fn new(io: T) -> CoalescingIo<T> {
        CoalescingIo {
            io,
            buf: BytesMut::with_capacity(MAX_BUFFERED),
            rbuf: Box::default(),
            rpos: 0,
            rend: 0,
            handed: 0,
            deferred: false,
            read_since: false,
        }
    }

    /// The wrapped object.
    pub fn get_ref(&self) -> &T {
        &self.io
    }
}

impl<T: AsyncWrite + Unpin> CoalescingIo<T> {
    /// Write the buffer out until at most `keep` bytes remain.
    fn drain(&mut self, cx: &mut Context<'_>, keep: usize) -> Poll<io::Result<()>> {
        while self.buf.len() > keep {
            let n = std::task::ready!(Pin::new(&mut self.io).poll_write(cx, &self.buf))?;
            if n == 0 {
                return Poll::Ready(Err(io::ErrorKind::WriteZero.into()));
            }
            self.buf.advance(n);
        }
        Poll::Ready(Ok(()))
    }

    /// Make room for more data: once [`MAX_BUFFERED`] bytes wait, write them out first.
    fn reserve(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        if self.buf.len() >= MAX_BUFFERED {
            std::task::ready!(self.drain(cx, 0))?;
        }
        Poll::Ready(Ok(()))
    }
}

impl<T: AsyncRead + Unpin> AsyncRead for CoalescingIo<T> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = &mut *self;
        this.read_since = true;
        if this.handed >= READ_BUDGET {
            this.handed = 0;
            cx.waker().wake_by_ref();
            return Poll::Pending;
        }
        if this.rpos == this.rend {
            if buf.remaining() >= READ_CHUNK {
                let before = buf.filled().len();
                std::task::ready!(Pin::new(&mut this.io).poll_read(cx, buf))?;
                this.handed += buf.filled().len() - before;
                return Poll::Ready(Ok(()));
            }
            if this.rbuf.is_empty() {
                this.rbuf = vec![0; READ_CHUNK].into_boxed_slice(); // first use
            }
            let mut rb = ReadBuf::new(&mut this.rbuf);
            std::task::ready!(Pin::new(&mut this.io).poll_read(cx, &mut rb))?;
            (this.rpos, this.rend) = (0, rb.filled().len());
            if this.rend == 0 {
                return Poll::Ready(Ok(())); // end of stream
            }
        }
        let n = (this.rend - this.rpos).min(buf.remaining());
        buf.put_slice(&this.rbuf[this.rpos..this.rpos + n]);
        this.rpos += n;
        this.handed += n;
        Poll::Ready(Ok(()))
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for CoalescingIo<T> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<io::Result<usize>> {
        std::task::ready!(self.reserve(cx))?;
        self.buf.extend_from_slice(data);
        Poll::Ready(Ok(data.len()))
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        std::task::ready!(self.reserve(cx))?;
        let mut n = 0;
        for b in bufs {
            self.buf.extend_from_slice(b);
            n += b.len();
        }
        Poll::Ready(Ok(n))
    }

    /// Vectored, so h2 hands over its header buffer and a chained payload in one call.
    fn is_write_vectored(&self) -> bool {
        true
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.handed = 0;
        let waits = !self.buf.is_empty() && self.buf.len() < MAX_BUFFERED;
        if waits && !(self.deferred && self.read_since) {
            // Defer to the next pass of the task (see the module doc); the wake makes it.
            if !self.deferred {
                (self.deferred, self.read_since) = (true, false);
                cx.waker().wake_by_ref();
            }
            return Poll::Ready(Ok(()));
        }
        self.deferred = false;
        std::task::ready!(self.drain(cx, 0))?;
        Pin::new(&mut self.io).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.deferred = false;
        std::task::ready!(self.drain(cx, 0))?;
        Pin::new(&mut self.io).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    /// A flush after new data is deferred, and so is every flush until the task reads (a new
    /// pass); the first flush after a read writes everything, and nothing is lost.
    #[tokio::test]
    async fn the_first_flush_after_a_read_writes_everything() {
        let (a, mut b) = tokio::io::duplex(1 << 20);
        let mut w = CoalescingIo::new(a);
        w.write_all(b"hello ").await.unwrap();
        w.flush().await.unwrap();
        w.write_all(b"world").await.unwrap();
        w.flush().await.unwrap();
        assert_eq!(w.buf.len(), 11, "flushes of one pass stay deferred");
        let mut none = [0u8; 1];
        let read = tokio::time::timeout(Duration::from_millis(1), w.read(&mut none)).await;
        assert!(read.is_err(), "nothing to read: the pass ends");
        w.flush().await.unwrap();
        assert!(w.buf.is_empty(), "the flush after a read writes, new data or not");
        w.write_all(b"!").await.unwrap();
        w.flush().await.unwrap();
        assert_eq!(w.buf.len(), 1, "a flush after a writing one defers again");
        let _ = tokio::time::timeout(Duration::from_millis(1), w.read(&mut none)).await;
        w.flush().await.unwrap();
        assert!(w.buf.is_empty());
        let mut got = [0u8; 12];
        b.read_exact(&mut got).await.unwrap();
        assert_eq!(&got, b"hello world!");
    }

    /// A deferring flush wakes the task once (the pass that will write); flushes deferred
    /// after it within the same pass do not wake it again.
    #[test]
    fn a_deferral_wakes_the_task_once() {
        use std::sync::atomic::{AtomicUsize, Ordering};
        use std::sync::Arc;
        struct Count(AtomicUsize);
        impl std::task::Wake for Count {
            fn wake(self: Arc<Self>) {
                self.0.fetch_add(1, Ordering::Relaxed);
            }
        }
        let count = Arc::new(Count(AtomicUsize::new(0)));
        let waker = std::task::Waker::from(count.clone());
        let mut cx = Context::from_waker(&waker);
        let (a, _b) = tokio::io::duplex(1 << 20);
        let mut w = CoalescingIo::new(a);
        for _ in 0..3 {
            assert!(Pin::new(&mut w).poll_write(&mut cx, b"x").is_ready());
            assert!(Pin::new(&mut w).poll_flush(&mut cx).is_ready());
        }
        assert_eq!(count.0.load(Ordering::Relaxed), 1);
        assert_eq!(w.buf.len(), 3);
    }

    /// Past MAX_BUFFERED the data goes out without a flush; shutdown writes the rest.
    #[tokio::test]
    async fn large_writes_drain_and_shutdown_flushes() {
        let (a, mut b) = tokio::io::duplex(4 << 20);
        let mut w = CoalescingIo::new(a);
        let chunk = vec![7u8; 1000];
        for _ in 0..200 {
            w.write_all(&chunk).await.unwrap();
        }
        assert!(w.buf.len() < MAX_BUFFERED + chunk.len());
        w.shutdown().await.unwrap();
        let mut got = Vec::new();
        b.read_to_end(&mut got).await.unwrap();
        assert_eq!(got.len(), 200_000);
    }

    /// Small reads are served from the read buffer: every byte arrives once, in order, and
    /// the end of the stream is seen.
    #[tokio::test]
    async fn small_reads_see_every_byte_in_order() {
        let (a, mut b) = tokio::io::duplex(1 << 20);
        let data: Vec<u8> = (0..300_000u32).map(|i| (i % 251) as u8).collect();
        let sent = data.clone();
        let mut writer = Some(tokio::spawn(async move {
            for c in sent.chunks(7_001) {
                b.write_all(c).await.unwrap();
            }
        }));
        let mut r = CoalescingIo::new(a);
        let mut got = Vec::new();
        let mut small = [0u8; 9_000];
        loop {
            let n = r.read(&mut small).await.unwrap();
            if n == 0 {
                break;
            }
            got.extend_from_slice(&small[..n]);
            if let (true, Some(w)) = (got.len() == data.len(), writer.take()) {
                w.await.unwrap(); // the writer's end drops: end of stream next
            }
        }
        assert_eq!(got, data);
    }
}
