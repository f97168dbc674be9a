//! The gRPC port's connections: plaintext h2c and TLS on one port as Apache's proxy
//! (`tls.server.mode`), with the remoting ports' settings (`tlsMode`, `tlsCertPath`,
//! `tlsKeyPath`, reload). The first byte decides (0x16 = TLS handshake, see
//! `mq_common::remoting::TlsServer`); a TLS connection is terminated (ALPN `h2`, which gRPC
//! clients require) and tonic serves the plaintext side. The peer address stays with each
//! connection (`Request::remote_addr`, which the ACL white lists need). Writes are coalesced
//! ([`CoalescingIo`]): one syscall per pass of the connection task, not one per streamed
//! message.
//!
//! Each connection lives on one of the gRPC worker threads ([`super::workers`]) and is
//! served by hyper's HTTP/2 server calling the generated `MessagingServiceServer` directly
//! ([`serve`]), without tonic's `transport::Server`: its router, boxed per-request service
//! clones and layers were per-request work for one service that routes by path itself
//! (unknown paths answer UNIMPLEMENTED there); SendMessage, AckMessage and ReceiveMessage
//! skip tonic's codec too ([`super::unary`]). What tonic's layers did that matters is done
//! here: the peer address in each request's extensions, HTTP/2 keepalive, graceful close on
//! shutdown. Not done: tonic's `grpc-timeout` layer, which dropped a unary handler at the
//! caller's deadline (a put then ran to its end anyway or not at
//! all); handlers now finish and the late answer is discarded by the client. ReceiveMessage
//! reads the deadline itself (`consume::parse_grpc_timeout`).

use std::convert::Infallible;
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use mq_common::remoting::{accept_backing_off, Accepted, CoalescingIo, TlsServer};
use mq_grpc_proto::MessagingServiceServer;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream, UnixStream};
use tokio_util::either::Either;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tonic::codegen::Service as _;
use tonic::transport::server::TcpConnectInfo;

use super::workers::Workers;
use super::{unary, GrpcService, MAX_DECODING};

/// One accepted gRPC connection: the TCP socket itself, or the plaintext end of a terminated
/// TLS connection.
pub(crate) struct GrpcConn {
    io: CoalescingIo<Either<TcpStream, UnixStream>>,
    info: TcpConnectInfo,
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

/// How often an idle connection is pinged (HTTP/2 keepalive).
const KEEPALIVE: Duration = Duration::from_secs(60);

/// Accept on `listener` and serve each connection with `svc` until `stop`; with `tls`,
/// classify and handshake each connection in its own task (a slow client holds up no one
/// else). Returns when `stop` fired and the open connections closed gracefully (in-flight
/// requests answered), or after `drain` if some did not.
pub(crate) async fn serve(
    listener: TcpListener,
    workers: Workers,
    tls: Option<Arc<TlsServer>>,
    svc: GrpcService,
    stop: CancellationToken,
    drain: Duration,
) {
    let mut http2 = hyper::server::conn::http2::Builder::new(TokioExecutor::new());
    // No cap on concurrent streams (hyper's default is 200): as tonic's server did and as
    // grpc-java's (Apache's proxy) does; a client keeping 256 sends in flight on one
    // connection would otherwise queue the rest.
    http2.timer(TokioTimer::new()).keep_alive_interval(KEEPALIVE).max_concurrent_streams(None);
    let conns = TaskTracker::new();
    loop {
        let (tcp, peer) = tokio::select! {
            _ = stop.cancelled() => break,
            a = accept_backing_off(&listener, "gRPC") => a,
        };
        let _ = tcp.set_nodelay(true);
        // Moved to its worker's reactor (see `workers`).
        let tcp = match tcp.into_std() {
            Ok(t) => t,
            Err(e) => {
                tracing::warn!(%peer, error = %e, "cannot hand a gRPC connection to a worker");
                continue;
            }
        };
        let (tls, svc, http2, stop) = (tls.clone(), svc.clone(), http2.clone(), stop.clone());
        workers.spawn(&conns, async move {
            let Ok(tcp) = TcpStream::from_std(tcp) else { return };
            let info =
                TcpConnectInfo { local_addr: tcp.local_addr().ok(), remote_addr: Some(peer) };
            let Some(io) = classify(tls.as_deref(), tcp, peer).await else { return };
            let io = GrpcConn { io: CoalescingIo::new(io), info };
            serve_conn(io, svc, &http2, stop).await;
        });
    }
    conns.close();
    let _ = tokio::time::timeout(drain, conns.wait()).await;
    workers.stop().await;
}

/// One connection until it ends, or closes gracefully once `stop` fires.
async fn serve_conn(
    io: GrpcConn,
    svc: GrpcService,
    http2: &hyper::server::conn::http2::Builder<TokioExecutor>,
    stop: CancellationToken,
) {
    let info = io.info.clone();
    let tonic_svc = MessagingServiceServer::new(svc.clone())
        .max_decoding_message_size(MAX_DECODING)
        .max_encoding_message_size(MAX_DECODING);
    let handler =
        hyper::service::service_fn(move |mut req: tonic::codegen::http::Request<Incoming>| {
            // What `Request::remote_addr` reads (the ACL white lists, sessions).
            req.extensions_mut().insert(info.clone());
            type Answer = Result<tonic::codegen::http::Response<tonic::body::Body>, Infallible>;
            let fut: Pin<Box<dyn Future<Output = Answer> + Send>> = match req.uri().path() {
                // The hot unary calls skip tonic's codec (see `unary`).
                unary::SEND_MESSAGE => {
                    let svc = svc.clone();
                    Box::pin(unary::serve(req, MAX_DECODING, move |r| async move {
                        svc.send_message_rpc(r).await
                    }))
                }
                unary::ACK_MESSAGE => {
                    let svc = svc.clone();
                    Box::pin(unary::serve(req, MAX_DECODING, move |r| async move {
                        svc.ack_message_rpc(r).await
                    }))
                }
                unary::RECEIVE_MESSAGE => {
                    let svc = svc.clone();
                    Box::pin(unary::serve_streamed(req, MAX_DECODING, move |r| svc.receive_body(r)))
                }
                _ => Box::pin(tonic_svc.clone().call(req)),
            };
            fut
        });
    let conn = http2.serve_connection(TokioIo::new(io), handler);
    tokio::pin!(conn);
    tokio::select! {
        r = conn.as_mut() => return log_end(r),
        _ = stop.cancelled() => conn.as_mut().graceful_shutdown(),
    }
    log_end(conn.await);
}

fn log_end(r: Result<(), hyper::Error>) {
    if let Err(e) = r {
        tracing::debug!(error = %e, "gRPC connection ended");
    }
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
