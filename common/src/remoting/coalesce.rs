//! Write coalescing for HTTP/2 (gRPC) connections, the counterpart of the remoting writer
//! task's one-`write`-per-batch ([`super::Channel`]).
//!
//! h2 (under hyper and tonic) keeps at most one "chained" DATA frame (a payload of 256 bytes
//! or more) in its write buffer and flushes the socket before it takes the next one: with
//! 1 KiB messages that is one `writev` per request on a gRPC client and one per streamed
//! message on a server, whatever the concurrency (a 256-in-flight send made ~13 k syscalls/s
//! on each side). [`CoalescingIo`] copies every write into its own buffer and turns the first
//! flush after new data into a yield: it wakes the task and reports the flush done, so the
//! connection task runs again, buffers whatever frames became ready in between, and its next
//! flush (one with nothing new since the last) writes them all in one syscall. The buffer is
//! also written out once it holds [`MAX_BUFFERED`] bytes. A flush is therefore delayed by one
//! pass of the task, never stranded: the wake guarantees the pass, and every pass of an h2
//! connection ends with a flush.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::{Buf, BytesMut};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// Bytes buffered before a write goes to the socket without waiting for a flush.
pub const MAX_BUFFERED: usize = 64 * 1024;

/// An I/O object whose writes are gathered and written on flush (see the module doc).
#[derive(Debug)]
pub struct CoalescingIo<T> {
    io: T,
    buf: BytesMut,
    /// Data was written since the last `poll_flush` (that flush is deferred by one pass).
    fresh: bool,
}

impl<T> CoalescingIo<T> {
    /// Wrap `io`.
    pub fn new(io: T) -> CoalescingIo<T> {
        CoalescingIo { io, buf: BytesMut::with_capacity(MAX_BUFFERED), fresh: false }
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
        Pin::new(&mut self.io).poll_read(cx, buf)
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
        self.fresh = true;
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
        self.fresh = true;
        Poll::Ready(Ok(n))
    }

    /// Vectored, so h2 hands over its header buffer and a chained payload in one call.
    fn is_write_vectored(&self) -> bool {
        true
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        if self.fresh && self.buf.len() < MAX_BUFFERED {
            // Defer by one pass of the task (see the module doc); the wake makes the pass.
            self.fresh = false;
            cx.waker().wake_by_ref();
            return Poll::Ready(Ok(()));
        }
        self.fresh = false;
        std::task::ready!(self.drain(cx, 0))?;
        Pin::new(&mut self.io).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.fresh = false;
        std::task::ready!(self.drain(cx, 0))?;
        Pin::new(&mut self.io).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    /// A flush right after new data is deferred; the next flush (no new data) writes all of
    /// it in one go, and nothing is lost.
    #[tokio::test]
    async fn second_flush_writes_everything() {
        let (a, mut b) = tokio::io::duplex(1 << 20);
        let mut w = CoalescingIo::new(a);
        w.write_all(b"hello ").await.unwrap();
        w.flush().await.unwrap();
        w.write_all(b"world").await.unwrap();
        w.flush().await.unwrap();
        assert_eq!(w.buf.len(), 11, "both flushes followed new data: still buffered");
        w.flush().await.unwrap();
        assert!(w.buf.is_empty());
        let mut got = [0u8; 11];
        b.read_exact(&mut got).await.unwrap();
        assert_eq!(&got, b"hello world");
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
}
