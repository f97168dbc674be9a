//! The gRPC side of the benchmark (`--grpc HOST:PORT`): sends as a 5.x SDK producer does
//! (SendMessage, one message per request), receives and acks as a simple consumer does
//! (ReceiveMessage + AckMessage of the whole batch).

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use hyper::client::conn::http2::SendRequest;
use hyper_util::rt::{TokioExecutor, TokioIo};
use mq_client::Message;
use mq_common::remoting::CoalescingIo;
use mq_grpc_proto::v2::{
    receive_message_response::Content, AckMessageEntry, AckMessageRequest, Code, FilterExpression,
    FilterType, MessageQueue, ReceiveMessageRequest, Resource, SendMessageRequest,
    SystemProperties,
};
use mq_grpc_proto::MessagingServiceClient;
use tonic::codegen::http::{self, uri};
use tonic::metadata::{Ascii, MetadataValue};

/// One HTTP/2 connection driven by hyper directly, with write coalescing (the broker's side
/// does the same, see `CoalescingIo`). tonic's `Channel` would add a buffer task, reconnect and
/// origin layers: a quarter of this client's CPU per request, which on a shared machine the
/// broker under test would not get.
#[derive(Clone)]
pub struct H2Conn {
    tx: SendRequest<tonic::body::Body>,
    origin: uri::Authority,
}

impl tower::Service<http::Request<tonic::body::Body>> for H2Conn {
    type Response = http::Response<hyper::body::Incoming>;
    type Error = hyper::Error;
    type Future =
        Pin<Box<dyn Future<Output = Result<Self::Response, Self::Error>> + Send + 'static>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.tx.poll_ready(cx)
    }

    fn call(&mut self, mut req: http::Request<tonic::body::Body>) -> Self::Future {
        // tonic's client sets only the path; h2 needs :scheme and :authority.
        let mut parts = std::mem::take(req.uri_mut()).into_parts();
        parts.scheme = Some(uri::Scheme::HTTP);
        parts.authority = Some(self.origin.clone());
        *req.uri_mut() = http::Uri::from_parts(parts).expect("path plus a valid origin");
        Box::pin(self.tx.send_request(req))
    }
}

/// A connected gRPC client with its client id.
#[derive(Clone)]
pub struct Grpc {
    c: MessagingServiceClient<H2Conn>,
    /// `x-mq-client-id`, parsed once (a header value clone is a reference count).
    client_id: MetadataValue<Ascii>,
}

fn res(name: &str) -> Option<Resource> {
    Some(Resource { resource_namespace: String::new(), name: name.to_string() })
}

impl Grpc {
    /// Connect to `addr` (`host:port`, plaintext).
    pub async fn connect(addr: &str) -> anyhow::Result<Grpc> {
        let tcp = tokio::net::TcpStream::connect(addr).await?;
        tcp.set_nodelay(true)?;
        let (tx, conn) = hyper::client::conn::http2::Builder::new(TokioExecutor::new())
            .handshake(TokioIo::new(CoalescingIo::new(tcp)))
            .await?;
        tokio::spawn(async move {
            if let Err(e) = conn.await {
                tracing::warn!(error = %e, "gRPC connection ended");
            }
        });
        let ch = H2Conn { tx, origin: addr.parse()? };
        let c = MessagingServiceClient::new(ch).max_decoding_message_size(64 << 20);
        let client_id = format!("mqbench@{}", std::process::id()).parse()?;
        Ok(Grpc { c, client_id })
    }

    fn req<T>(&self, m: T, timeout: Duration) -> tonic::Request<T> {
        let mut r = tonic::Request::new(m);
        r.metadata_mut().insert("x-mq-client-id", self.client_id.clone());
        r.set_timeout(timeout);
        r
    }

    /// Send one message (its id: `id`).
    pub async fn send(&self, m: Message, id: String) -> anyhow::Result<()> {
        let tag = m.tags().map(str::to_string);
        let keys = m.keys().iter().map(|k| k.to_string()).collect();
        let mut user = std::collections::HashMap::new();
        for (k, v) in &m.properties {
            if k != "TAGS" && k != "KEYS" {
                user.insert(k.clone(), v.clone());
            }
        }
        let msg = mq_grpc_proto::v2::Message {
            topic: res(&m.topic),
            user_properties: user,
            system_properties: Some(SystemProperties {
                tag,
                keys,
                message_id: id,
                ..Default::default()
            }),
            body: m.body,
        };
        let mut c = self.c.clone();
        let r = c
            .send_message(
                self.req(SendMessageRequest { messages: vec![msg] }, Duration::from_secs(10)),
            )
            .await?
            .into_inner();
        let code = r.status.map(|s| s.code).unwrap_or(-1);
        anyhow::ensure!(code == Code::Ok as i32, "send answered code {code}");
        Ok(())
    }

    /// Receive up to `batch` messages of `topic` for `group` (invisible 30 s, long polling
    /// `poll`) and ack them all in one AckMessage; the bodies received.
    pub async fn receive_and_ack(
        &self,
        group: &str,
        topic: &str,
        batch: i32,
        poll: Duration,
    ) -> anyhow::Result<Vec<bytes::Bytes>> {
        let r = ReceiveMessageRequest {
            group: res(group),
            message_queue: Some(MessageQueue { topic: res(topic), id: -1, ..Default::default() }),
            filter_expression: Some(FilterExpression {
                r#type: FilterType::Tag as i32,
                expression: "*".into(),
            }),
            batch_size: batch,
            invisible_duration: Some(mq_grpc_proto::Duration { seconds: 30, nanos: 0 }),
            auto_renew: false,
            long_polling_timeout: Some(mq_grpc_proto::Duration {
                seconds: poll.as_secs() as i64,
                nanos: 0,
            }),
            attempt_id: None,
        };
        let mut c = self.c.clone();
        let mut s =
            c.receive_message(self.req(r, poll + Duration::from_secs(10))).await?.into_inner();
        let mut bodies = Vec::new();
        let mut entries = Vec::new();
        while let Some(item) = s.message().await? {
            if let Some(Content::Message(m)) = item.content {
                let sp = m.system_properties.unwrap_or_default();
                entries.push(AckMessageEntry {
                    message_id: sp.message_id,
                    receipt_handle: sp.receipt_handle.unwrap_or_default(),
                    lite_topic: None,
                });
                bodies.push(m.body);
            }
        }
        if !entries.is_empty() {
            let a = AckMessageRequest { group: res(group), topic: res(topic), entries };
            let r = c.ack_message(self.req(a, Duration::from_secs(10))).await?.into_inner();
            let code = r.status.map(|s| s.code).unwrap_or(-1);
            anyhow::ensure!(code == Code::Ok as i32, "ack answered code {code}");
        }
        Ok(bodies)
    }
}
