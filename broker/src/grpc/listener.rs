//! The gRPC port's connections: plaintext h2c and TLS on one port as Apache's proxy
//! (`tls.server.mode`), with the remoting ports' settings (`tlsMode`, `tlsCertPath`,
//! `tlsKeyPath`, reload). The first byte decides (0x16 = TLS handshake, see
//! `mq_common::remoting::TlsServer`); a TLS connection is terminated (ALPN `h2`, which gRPC
//! clients require) and tonic serves the plaintext side. The peer address stays with each
//! connection (`Request::remote_addr`, which the ACL white lists need). Writes are coalesced
//! ([`CoalescingIo`]): one syscall per pass of the connection task, not one per streamed
//! message.

use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use mq_common::remoting::{Accepted, CoalescingIo, TlsServer};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream, UnixStream};
use tokio_stream::wrappers::ReceiverStream;
use tokio_util::either::Either;
use tokio_util::sync::CancellationToken;
use tonic::transport::server::{Connected, TcpConnectInfo};

/// One accepted gRPC connection: the TCP socket itself, or the plaintext end of a terminated
/// TLS connection.
pub(crate) struct GrpcConn {
    io: CoalescingIo<Either<TcpStream, UnixStream>>,
    info: TcpConnectInfo,
}

impl Connected for GrpcConn {
    type ConnectInfo = TcpConnectInfo;
    fn connect_info(&self) -> TcpConnectInfo {
        self.info.clone()
    }
}

impl AsyncRead for GrpcConn {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_read(cx, buf)
    }
}

impl AsyncWrite for GrpcConn {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.io).poll_write(cx, buf)
    }
    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.io).poll_write_vectored(cx, bufs)
    }
    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }
    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_flush(cx)
    }
    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_shutdown(cx)
    }
}

/// Accept on `listener` until `stop`; with `tls`, classify and handshake each connection in
/// its own task (a slow client holds up no one else).
pub(crate) fn incoming(
    listener: TcpListener,
    tls: Option<Arc<TlsServer>>,
    stop: CancellationToken,
) -> ReceiverStream<io::Result<GrpcConn>> {
    let (tx, rx) = tokio::sync::mpsc::channel(64);
    tokio::spawn(async move {
        loop {
            let (tcp, peer) = tokio::select! {
                _ = stop.cancelled() => return,
                a = listener.accept() => match a {
                    Ok(a) => a,
                    Err(e) => {
                        // Out of descriptors and the like: back off instead of spinning.
                        tracing::warn!(error = %e, "gRPC accept failed");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    }
                },
            };
            let _ = tcp.set_nodelay(true);
            let tx = tx.clone();
            let tls = tls.clone();
            tokio::spawn(async move {
                let info =
                    TcpConnectInfo { local_addr: tcp.local_addr().ok(), remote_addr: Some(peer) };
                let io = match classify(tls.as_deref(), tcp, peer).await {
                    Some(io) => io,
                    None => return,
                };
                let _ = tx.send(Ok(GrpcConn { io: CoalescingIo::new(io), info })).await;
            });
        }
    });
    ReceiverStream::new(rx)
}

async fn classify(
    tls: Option<&TlsServer>,
    tcp: TcpStream,
    peer: SocketAddr,
) -> Option<Either<TcpStream, UnixStream>> {
    let Some(tls) = tls else { return Some(Either::Left(tcp)) };
    match tls.accept(tcp, peer).await? {
        Accepted::Plain(t) => Some(Either::Left(t)),
        Accepted::Tls(u) => Some(Either::Right(u)),
    }
}
