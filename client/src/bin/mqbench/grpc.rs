//! The gRPC side of the benchmark (`--grpc HOST:PORT`): sends as a 5.x SDK producer does
//! (SendMessage, one message per request), receives and acks as a simple consumer does
//! (ReceiveMessage + AckMessage of the whole batch).

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use mq_client::Message;
use mq_grpc_proto::v2::{
    receive_message_response::Content, AckMessageEntry, AckMessageRequest, AckMessageResponse,
    Code, Digest, DigestType, FilterExpression, FilterType, MessageQueue, ReceiveMessageRequest,
    ReceiveMessageResponse, Resource, SendMessageRequest, SendMessageResponse, SystemProperties,
};

use crate::h2c;

/// A connected gRPC client: one HTTP/2 connection of our own minimal client ([`h2c`]), shared
/// by every clone. A call costs its caller's task a lock, a few hundred bytes appended to the
/// connection's write buffer and a oneshot wait: no task, request object or header map per
/// call, CPU that on a shared machine the broker under test would not get.
#[derive(Clone)]
pub struct Grpc {
    conn: Arc<h2c::Conn>,
}

/// The methods called, in [`Grpc::connect`]'s path order.
const SEND: usize = 0;
const RECEIVE: usize = 1;
const ACK: usize = 2;
const METHODS: [&str; 3] = ["SendMessage", "ReceiveMessage", "AckMessage"];

/// A send's (and an ack's) deadline.
const SEND_TIMEOUT: Duration = Duration::from_secs(10);

fn res(name: &str) -> Option<Resource> {
    Some(Resource { resource_namespace: String::new(), name: name.to_string() })
}

/// The messages of a gRPC response body (length-prefixed, uncompressed).
fn messages<M: prost::Message + Default>(mut body: Bytes) -> anyhow::Result<Vec<M>> {
    let mut out = Vec::new();
    while !body.is_empty() {
        anyhow::ensure!(body.len() >= 5, "truncated gRPC frame");
        anyhow::ensure!(body[0] == 0, "compressed gRPC message");
        let len = u32::from_be_bytes([body[1], body[2], body[3], body[4]]) as usize;
        anyhow::ensure!(body.len() >= 5 + len, "truncated gRPC message");
        let _ = body.split_to(5);
        out.push(M::decode(body.split_to(len))?);
    }
    Ok(out)
}

impl Grpc {
    /// Connect to `addr` (`host:port`, plaintext).
    pub async fn connect(addr: &str) -> anyhow::Result<Grpc> {
        let paths = METHODS.map(|m| format!("/apache.rocketmq.v2.MessagingService/{m}"));
        let paths: Vec<&str> = paths.iter().map(String::as_str).collect();
        let client_id = format!("mqbench@{}", std::process::id());
        // The body digest the broker picks follows the language, as for an SDK.
        let extra = [("x-mq-client-id", client_id.as_str()), ("x-mq-language", "RUST")];
        let headers = h2c::Headers { authority: addr, extra: &extra, usual_timeout: SEND_TIMEOUT };
        Ok(Grpc { conn: Arc::new(h2c::Conn::connect(addr, &paths, headers).await?) })
    }

    /// One call: `msg` to method `method`, every message of the answer once the call ends
    /// with OK.
    async fn call<Resp: prost::Message + Default>(
        &self,
        method: usize,
        msg: &impl prost::Message,
        timeout: Duration,
    ) -> anyhow::Result<Vec<Resp>> {
        messages(self.conn.call(method, mq_grpc_proto::frame(msg), timeout).await?)
    }

    /// Send one message (its id: `id`). The request is built and encoded before the returned
    /// future first runs: the future holds only the call, small to box and move.
    pub fn send(
        &self,
        m: Message,
        id: String,
    ) -> impl std::future::Future<Output = anyhow::Result<()>> + '_ {
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
        let body = mq_grpc_proto::frame(&SendMessageRequest { messages: vec![msg] });
        async move {
            let r: Vec<SendMessageResponse> =
                messages(self.conn.call(SEND, body, SEND_TIMEOUT).await?)?;
            let code = r.first().and_then(|r| r.status.as_ref()).map(|s| s.code).unwrap_or(-1);
            anyhow::ensure!(code == Code::Ok as i32, "send answered code {code}");
            Ok(())
        }
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
        let timeout = poll + Duration::from_secs(10);
        let answers: Vec<ReceiveMessageResponse> = self.call(RECEIVE, &r, timeout).await?;
        let mut bodies = Vec::new();
        let mut entries = Vec::new();
        for item in answers {
            if let Some(Content::Message(m)) = item.content {
                let sp = m.system_properties.unwrap_or_default();
                check_digest(sp.body_digest.as_ref(), &m.body)?;
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
            let r: Vec<AckMessageResponse> = self.call(ACK, &a, SEND_TIMEOUT).await?;
            let code = r.first().and_then(|r| r.status.as_ref()).map(|s| s.code).unwrap_or(-1);
            anyhow::ensure!(code == Code::Ok as i32, "ack answered code {code}");
        }
        Ok(bodies)
    }
}

/// Verify a received body's digest as the SDKs do (CRC32 as hex, padded or not; MD5 as hex),
/// so the benchmark pays what a checking client pays and a wrong digest fails it.
fn check_digest(d: Option<&Digest>, body: &[u8]) -> anyhow::Result<()> {
    use md5::Digest as _;
    let d = d.ok_or_else(|| anyhow::anyhow!("message without a body digest"))?;
    let ok = match DigestType::try_from(d.r#type) {
        Ok(DigestType::Crc32) => {
            u32::from_str_radix(&d.checksum, 16).ok() == Some(crc32fast::hash(body))
        }
        Ok(DigestType::Md5) => {
            let want: String = md5::Md5::digest(body).iter().map(|b| format!("{b:02X}")).collect();
            d.checksum == want
        }
        _ => anyhow::bail!("unsupported body digest type {}", d.r#type),
    };
    anyhow::ensure!(ok, "body digest mismatch ({:?} {})", d.r#type, d.checksum);
    Ok(())
}
