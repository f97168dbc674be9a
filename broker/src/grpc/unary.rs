//! The hot RPCs served without tonic's codec. SendMessage and AckMessage: the request
//! body is read whole (usually one DATA frame, kept as it is), decoded with prost, handed to
//! the handler the `MessagingService` trait method delegates to (`send_message_rpc`,
//! `ack_message_rpc`: not boxed, unlike a call through the trait), and the answer goes back
//! as one length-prefixed message and `grpc-status: 0` trailers. ReceiveMessage (server
//! streaming) has its request read the same way and answers with the body its handler makes
//! ([`serve_streamed`]: frames written once from the stored records, `consume::ReceiveBody`).
//!
//! Why: under 256 sends in flight on one connection, tonic's unary machinery (a streaming
//! decoder and its buffer per request, an encoder stream with an 8 KiB buffer per answer,
//! boxed bodies) was a tenth of the broker's CPU per gRPC send, on the one worker thread a
//! connection lives on (`workers`), which is what caps one connection's rate. The wire is the
//! same as tonic's: compressed requests are refused as tonic refuses them (we never enable
//! compression), a malformed body is INTERNAL, an oversized one RESOURCE_EXHAUSTED.

use std::convert::Infallible;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::{Bytes, BytesMut};
use hyper::body::{Body, Frame, Incoming};
use tonic::codegen::http::{self, HeaderMap, HeaderValue};
use tonic::Status;

/// The paths served here (the listener routes them before tonic sees them).
pub(crate) const SEND_MESSAGE: &str = "/apache.rocketmq.v2.MessagingService/SendMessage";
pub(crate) const ACK_MESSAGE: &str = "/apache.rocketmq.v2.MessagingService/AckMessage";
/// ReceiveMessage (server streaming) is served here too, its request as a unary one's, its
/// answer a body of frames the call made (`consume::ReceiveBody`).
pub(crate) const RECEIVE_MESSAGE: &str = "/apache.rocketmq.v2.MessagingService/ReceiveMessage";

type HttpResponse = http::Response<tonic::body::Body>;

/// Serve one unary call: decode `req`'s message, run `call`, encode its answer. Never fails
/// at the HTTP level: every error is a gRPC status, as tonic answers it.
pub(crate) async fn serve<Req, Resp, F, Fut>(
    req: http::Request<Incoming>,
    max_size: usize,
    call: F,
) -> Result<HttpResponse, Infallible>
where
    Req: prost::Message + Default,
    Resp: prost::Message,
    F: FnOnce(tonic::Request<Req>) -> Fut,
    Fut: std::future::Future<Output = Result<tonic::Response<Resp>, Status>>,
{
    let req = match read_request::<Req>(req, max_size).await {
        Ok(r) => r,
        Err(st) => return Ok(st.into_http()),
    };
    match call(req).await {
        Ok(resp) => Ok(answer(resp.get_ref())),
        Err(st) => Ok(st.into_http()),
    }
}

/// Serve a call whose answer streams: decode `req`'s message, and answer with the body
/// `call` makes of it (gRPC frames and trailers).
pub(crate) async fn serve_streamed<Req, B, F>(
    req: http::Request<Incoming>,
    max_size: usize,
    call: F,
) -> Result<HttpResponse, Infallible>
where
    Req: prost::Message + Default,
    B: Body<Data = Bytes, Error = Infallible> + Send + 'static,
    F: FnOnce(tonic::Request<Req>) -> B,
{
    match read_request::<Req>(req, max_size).await {
        Ok(r) => Ok(grpc_response(call(r))),
        Err(st) => Ok(st.into_http()),
    }
}

/// `req` with its body's one gRPC message decoded, as tonic hands it to a handler (headers
/// as metadata, extensions kept).
async fn read_request<Req: prost::Message + Default>(
    req: http::Request<Incoming>,
    max_size: usize,
) -> Result<tonic::Request<Req>, Status> {
    let (parts, body) = req.into_parts();
    let message = read_message::<Req>(body, max_size).await?;
    Ok(tonic::Request::from_http(http::Request::from_parts(parts, message)))
}

/// The request body's one gRPC message.
async fn read_message<Req: prost::Message + Default>(
    mut body: Incoming,
    max_size: usize,
) -> Result<Req, Status> {
    // One DATA frame is the usual case: kept as is; several are joined.
    let mut first: Option<Bytes> = None;
    let mut joined = BytesMut::new();
    while let Some(frame) = std::future::poll_fn(|cx| Pin::new(&mut body).poll_frame(cx)).await {
        let frame = frame.map_err(|e| Status::internal(format!("reading the request: {e}")))?;
        let Ok(data) = frame.into_data() else { continue }; // trailers: none expected
        let len = first.as_ref().map_or(0, Bytes::len) + joined.len() + data.len();
        if len > max_size + 5 {
            return Err(Status::resource_exhausted(format!(
                "request larger than the limit ({max_size} bytes)"
            )));
        }
        match first.take() {
            None if joined.is_empty() => first = Some(data),
            None => joined.extend_from_slice(&data),
            Some(f) => {
                joined.extend_from_slice(&f);
                joined.extend_from_slice(&data);
            }
        }
    }
    let mut buf = first.unwrap_or_else(|| joined.freeze());
    if buf.len() < 5 {
        return Err(Status::internal("the request has no complete gRPC message"));
    }
    match buf[0] {
        0 => {}
        1 => return Err(Status::unimplemented("compressed requests are not supported")),
        // Not a gRPC frame at all (tonic answers the same).
        f => {
            return Err(Status::internal(format!(
                "invalid compression flag {f} (valid flags are 0 and 1): not a gRPC message"
            )))
        }
    }
    let len = u32::from_be_bytes([buf[1], buf[2], buf[3], buf[4]]) as usize;
    if buf.len() != 5 + len {
        return Err(Status::internal("the request is not exactly one gRPC message"));
    }
    let _ = buf.split_to(5);
    Req::decode(buf).map_err(|e| Status::internal(format!("failed to decode the request: {e}")))
}

/// `resp` as a gRPC answer: `content-type`, one length-prefixed message, OK trailers.
fn answer(resp: &impl prost::Message) -> HttpResponse {
    grpc_response(Answer { data: Some(mq_grpc_proto::frame(resp)), trailers_sent: false })
}

/// An HTTP answer of gRPC content with `body`.
fn grpc_response(
    body: impl Body<Data = Bytes, Error = Infallible> + Send + 'static,
) -> HttpResponse {
    let mut r = http::Response::new(tonic::body::Body::new(body));
    r.headers_mut()
        .insert(http::header::CONTENT_TYPE, HeaderValue::from_static("application/grpc"));
    r
}

/// The trailers of a call that succeeded: `grpc-status: 0`.
pub(crate) fn ok_trailers() -> Frame<Bytes> {
    let mut t = HeaderMap::with_capacity(1);
    t.insert(Status::GRPC_STATUS, HeaderValue::from_static("0"));
    Frame::trailers(t)
}

/// The body of an answer: its message, then `grpc-status: 0`, then the end.
struct Answer {
    data: Option<Bytes>,
    trailers_sent: bool,
}

impl Body for Answer {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        if let Some(d) = self.data.take() {
            return Poll::Ready(Some(Ok(Frame::data(d))));
        }
        if std::mem::replace(&mut self.trailers_sent, true) {
            return Poll::Ready(None);
        }
        Poll::Ready(Some(Ok(ok_trailers())))
    }

    fn is_end_stream(&self) -> bool {
        self.trailers_sent
    }

    // No exact `size_hint`: hyper would turn it into a `content-length` header, which h2
    // never indexes (a Huffman-coded literal in every answer, for both ends to code) and gRPC
    // does not use.
}
