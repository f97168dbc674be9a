//! The RocketMQ 5.x gRPC endpoint (`apache.rocketmq.v2.MessagingService`, Apache's proxy in
//! "local mode"): served by `mqbroker` on `grpcServerPort` (8081; 0 = off) with tonic, calling
//! the broker core directly. Application status travels in each response body; the gRPC status
//! stays OK for every handled request (`docs/grpc.md` §1; "spec §N" in this module means that
//! file). One file per RPC family: `route` (QueryRoute, QueryAssignment), `send`,
//! `transaction`, `telemetry`, `consume` (Receive/Ack/ChangeInvisibleDuration/ForwardToDLQ over
//! `crate::pop`); `session` keeps the clients, `convert` turns stored records into gRPC
//! messages.

mod auth;
pub mod consume;
pub mod convert;
pub mod digest;
mod encode;
mod listener;
pub mod route;
pub mod send;
pub mod session;
pub mod status;
pub mod telemetry;
pub mod transaction;
mod unary;
mod workers;

use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use futures::Stream;
use mq_common::acl::AclValidator;
use mq_common::remoting::TlsServer;
use mq_grpc_proto::v2::*;
use mq_grpc_proto::MessagingService;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tokio_stream::wrappers::ReceiverStream;
use tonic::{Request, Response};

use self::session::{Session, Sessions};
use self::status::{ok, status, RpcCounters};
use crate::broker::Broker;

/// gRPC state the rest of the broker reaches (checker, admin views).
#[derive(Default)]
pub struct GrpcState {
    /// Client sessions.
    pub sessions: Sessions,
    /// Pending transactions.
    pub transactions: transaction::TxTable,
    /// Answers per (RPC, code).
    pub counters: RpcCounters,
    /// Body digests of recently delivered records.
    pub digests: digest::DigestCache,
}

/// Largest request accepted (Apache `grpcMaxInboundMessageSize` is 130 MiB; a 4 MiB body plus
/// headers must fit).
const MAX_DECODING: usize = 130 << 20;

/// How long a stopping server waits for its connections to close.
const STOP_WAIT: Duration = Duration::from_secs(3);

/// The service.
#[derive(Clone)]
pub struct GrpcService {
    pub(crate) b: Arc<Broker>,
    /// The port actually bound (advertised in routes when the client's access point is unknown).
    pub(crate) port: u16,
    pub(crate) endpoints: Arc<route::EndpointCache>,
    /// The broker's ACL check (`aclEnable`), shared with the remoting ports; `None` = off.
    pub(crate) acl: Option<Arc<AclValidator>>,
}

/// A running gRPC server.
pub struct GrpcServer {
    addr: SocketAddr,
    task: JoinHandle<()>,
}

impl GrpcServer {
    /// Serve on `listener` until the broker shuts down, checking every request with `acl`
    /// when it is set (see `auth`) and accepting TLS beside plaintext with `tls` (see
    /// `listener`).
    pub fn start(
        b: Arc<Broker>,
        listener: TcpListener,
        acl: Option<Arc<AclValidator>>,
        tls: Option<Arc<TlsServer>>,
    ) -> std::io::Result<GrpcServer> {
        let addr = listener.local_addr()?;
        let svc =
            GrpcService { b: b.clone(), port: addr.port(), endpoints: Default::default(), acl };
        let workers = workers::Workers::start(b.cfg.grpc_worker_loop_num)?;
        let threads = workers.len();
        let task = tokio::spawn(listener::serve(
            listener,
            workers,
            tls,
            svc,
            b.shutdown.clone(),
            STOP_WAIT,
        ));
        tokio::spawn(expire_sessions(b));
        tracing::info!(%addr, threads, "gRPC endpoint (RocketMQ 5.x) listening");
        Ok(GrpcServer { addr, task })
    }

    /// Bound address.
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// Wait (bounded) for the server to stop after the broker's shutdown token fired.
    pub async fn stopped(self) {
        // The server drains its connections for up to STOP_WAIT, then stops its workers.
        let _ = tokio::time::timeout(STOP_WAIT + Duration::from_secs(2), self.task).await;
    }
}

/// Drop sessions silent for `clientChannelExpiredTime` (every 10 s).
async fn expire_sessions(b: Arc<Broker>) {
    loop {
        tokio::select! {
            _ = b.shutdown.cancelled() => return,
            _ = tokio::time::sleep(Duration::from_secs(10)) => {}
        }
        let deadline =
            mq_common::protocol::now_millis() - b.live.client_channel_expired_time() as i64;
        for s in b.grpc.sessions.expire(deadline) {
            tracing::info!(client = %s.client_id, "gRPC client session expired");
            forget_client(&b, &s);
        }
    }
}

/// Remove a session's registrations.
fn forget_client(b: &Broker, s: &Session) {
    b.producers.remove_channel(s.id);
    b.consumers.remove_channel(s.id);
}

fn meta<'a, T>(req: &'a Request<T>, key: &str) -> &'a str {
    req.metadata().get(key).and_then(|v| v.to_str().ok()).unwrap_or("")
}

type Reply<T> = Result<Response<T>, tonic::Status>;
type BoxStream<T> = Pin<Box<dyn Stream<Item = Result<T, tonic::Status>> + Send + 'static>>;

impl GrpcService {
    /// The caller's session, or the CLIENT_ID_REQUIRED status.
    fn session<T>(&self, req: &Request<T>) -> Result<Arc<Session>, Option<Status>> {
        let id = meta(req, "x-mq-client-id");
        if id.trim().is_empty() {
            return Err(status(Code::ClientIdRequired, "x-mq-client-id header is required"));
        }
        let peer = req.remote_addr().unwrap_or_else(|| SocketAddr::from(([0, 0, 0, 0], 0)));
        Ok(self.b.grpc.sessions.touch(
            id,
            peer,
            meta(req, "x-mq-language"),
            meta(req, "x-mq-client-version"),
        ))
    }
}

macro_rules! unary {
    ($self:ident, $req:ident, $rpc:literal, $resp:ident, |$s:ident, $inner:ident| $body:expr) => {{
        // ACL first (an unauthenticated caller gets no session), then the session.
        let caller = $self.caller(&$req);
        let answer = match caller.and_then(|c| $self.session(&$req).map(|s| (c, s))) {
            #[allow(clippy::needless_update)]
            Err(st) => $resp { status: st, ..Default::default() },
            Ok((caller, $s)) => {
                let $inner = $req.into_inner();
                match $self.authorize(&caller, &$inner) {
                    #[allow(clippy::needless_update)]
                    Err(st) => $resp { status: st, ..Default::default() },
                    Ok(()) => $body,
                }
            }
        };
        $self.b.grpc.counters.count($rpc, &answer.status);
        Ok(Response::new(answer))
    }};
}

/// The RPCs the listener serves without tonic (`unary`), as plain async methods: called
/// through the `MessagingService` trait, `async_trait` would box each call's future (≈ 1.7 KB
/// allocated and moved per send); the listener's own future holds them inline.
impl GrpcService {
    /// SendMessage.
    pub(crate) async fn send_message_rpc(
        &self,
        req: Request<SendMessageRequest>,
    ) -> Reply<SendMessageResponse> {
        let peer = req.remote_addr().unwrap_or_else(|| SocketAddr::from(([0, 0, 0, 0], 0)));
        unary!(self, req, "SendMessage", SendMessageResponse, |_s, r| self
            .send_message(r, peer)
            .await)
    }

    /// AckMessage.
    pub(crate) async fn ack_message_rpc(
        &self,
        req: Request<AckMessageRequest>,
    ) -> Reply<AckMessageResponse> {
        unary!(self, req, "AckMessage", AckMessageResponse, |_s, r| self.ack(r))
    }
}

#[tonic::async_trait]
impl MessagingService for GrpcService {
    async fn query_route(&self, req: Request<QueryRouteRequest>) -> Reply<QueryRouteResponse> {
        unary!(self, req, "QueryRoute", QueryRouteResponse, |_s, r| self.query_route(r).await)
    }

    async fn heartbeat(&self, req: Request<HeartbeatRequest>) -> Reply<HeartbeatResponse> {
        unary!(self, req, "Heartbeat", HeartbeatResponse, |s, _r| {
            // Refresh the registrations the Settings made (their expiry clock).
            if let Some(settings) = s.settings() {
                self.apply_settings(&s, settings);
            }
            HeartbeatResponse { status: ok() }
        })
    }

    async fn send_message(&self, req: Request<SendMessageRequest>) -> Reply<SendMessageResponse> {
        self.send_message_rpc(req).await
    }

    async fn query_assignment(
        &self,
        req: Request<QueryAssignmentRequest>,
    ) -> Reply<QueryAssignmentResponse> {
        unary!(self, req, "QueryAssignment", QueryAssignmentResponse, |_s, r| self
            .query_assignment(r)
            .await)
    }

    /// Served by the listener, not through tonic (`unary::RECEIVE_MESSAGE`: the answer is
    /// framed once, from the stored records, and streamed in chunks); tonic's service never
    /// sees this path.
    async fn receive_message(
        &self,
        _req: Request<ReceiveMessageRequest>,
    ) -> Reply<BoxStream<ReceiveMessageResponse>> {
        Err(tonic::Status::internal("ReceiveMessage is served by the gRPC listener"))
    }

    async fn ack_message(&self, req: Request<AckMessageRequest>) -> Reply<AckMessageResponse> {
        self.ack_message_rpc(req).await
    }

    async fn forward_message_to_dead_letter_queue(
        &self,
        req: Request<ForwardMessageToDeadLetterQueueRequest>,
    ) -> Reply<ForwardMessageToDeadLetterQueueResponse> {
        unary!(
            self,
            req,
            "ForwardMessageToDeadLetterQueue",
            ForwardMessageToDeadLetterQueueResponse,
            |_s, r| self.forward_to_dlq(r)
        )
    }

    async fn end_transaction(
        &self,
        req: Request<EndTransactionRequest>,
    ) -> Reply<EndTransactionResponse> {
        unary!(self, req, "EndTransaction", EndTransactionResponse, |_s, r| self
            .end_transaction(r)
            .await)
    }

    async fn telemetry(
        &self,
        req: Request<tonic::Streaming<TelemetryCommand>>,
    ) -> Reply<BoxStream<TelemetryCommand>> {
        // The Settings on the stream name topics and groups, but every send, receive and ack
        // they lead to is checked on its own RPC: authentication is enough here.
        if let Err(st) = self.caller(&req) {
            let msg = st.map(|s| s.message).unwrap_or_default();
            return Err(tonic::Status::unauthenticated(msg));
        }
        let s = match self.session(&req) {
            Ok(s) => s,
            Err(_) => {
                return Err(tonic::Status::invalid_argument("x-mq-client-id header is required"))
            }
        };
        let rx = self.serve_telemetry(s, req.into_inner());
        Ok(Response::new(Box::pin(ReceiverStream::new(rx))))
    }

    async fn notify_client_termination(
        &self,
        req: Request<NotifyClientTerminationRequest>,
    ) -> Reply<NotifyClientTerminationResponse> {
        unary!(self, req, "NotifyClientTermination", NotifyClientTerminationResponse, |s, _r| {
            if let Some(s) = self.b.grpc.sessions.remove(&s.client_id) {
                forget_client(&self.b, &s);
            }
            NotifyClientTerminationResponse { status: ok() }
        })
    }

    async fn change_invisible_duration(
        &self,
        req: Request<ChangeInvisibleDurationRequest>,
    ) -> Reply<ChangeInvisibleDurationResponse> {
        unary!(self, req, "ChangeInvisibleDuration", ChangeInvisibleDurationResponse, |_s, r| self
            .change_invisible(r))
    }

    async fn update_offset(
        &self,
        req: Request<UpdateOffsetRequest>,
    ) -> Reply<UpdateOffsetResponse> {
        unary!(self, req, "UpdateOffset", UpdateOffsetResponse, |_s, _r| not_implemented())
    }

    async fn get_offset(&self, req: Request<GetOffsetRequest>) -> Reply<GetOffsetResponse> {
        unary!(self, req, "GetOffset", GetOffsetResponse, |_s, _r| GetOffsetResponse {
            status: status(Code::NotImplemented, "offset-based consumption is not supported"),
            offset: 0,
        })
    }

    async fn query_offset(&self, req: Request<QueryOffsetRequest>) -> Reply<QueryOffsetResponse> {
        unary!(self, req, "QueryOffset", QueryOffsetResponse, |_s, _r| QueryOffsetResponse {
            status: status(Code::NotImplemented, "offset-based consumption is not supported"),
            offset: 0,
        })
    }

    async fn recall_message(
        &self,
        req: Request<RecallMessageRequest>,
    ) -> Reply<RecallMessageResponse> {
        unary!(self, req, "RecallMessage", RecallMessageResponse, |_s, _r| RecallMessageResponse {
            status: status(Code::NotImplemented, "recalling delay messages is not supported"),
            message_id: String::new(),
        })
    }

    async fn sync_lite_subscription(
        &self,
        req: Request<SyncLiteSubscriptionRequest>,
    ) -> Reply<SyncLiteSubscriptionResponse> {
        unary!(self, req, "SyncLiteSubscription", SyncLiteSubscriptionResponse, |_s, _r| {
            SyncLiteSubscriptionResponse {
                status: status(Code::NotImplemented, "lite topics are not supported"),
            }
        })
    }
}

fn not_implemented() -> UpdateOffsetResponse {
    UpdateOffsetResponse {
        status: status(Code::NotImplemented, "offset-based consumption is not supported"),
    }
}
