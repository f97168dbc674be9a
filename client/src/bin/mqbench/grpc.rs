//! The gRPC side of the benchmark (`--grpc HOST:PORT`): sends as a 5.x SDK producer does
//! (SendMessage, one message per request), receives and acks as a simple consumer does
//! (ReceiveMessage + AckMessage of the whole batch).

use std::time::Duration;

use bytes::{BufMut, Bytes, BytesMut};
use h2::client::SendRequest;
use http::{HeaderValue, Method, Request, Uri};
use mq_client::Message;
use mq_common::remoting::CoalescingIo;
use mq_grpc_proto::v2::{
    receive_message_response::Content, AckMessageEntry, AckMessageRequest, AckMessageResponse,
    Code, Digest, DigestType, FilterExpression, FilterType, MessageQueue, ReceiveMessageRequest,
    ReceiveMessageResponse, Resource, SendMessageRequest, SendMessageResponse, SystemProperties,
};

/// A connected gRPC client: one HTTP/2 connection driven by `h2` directly, with write
/// coalescing (the broker's side does the same, see `CoalescingIo`). A call is a request
/// stream opened from the caller's own task, its one message sent as one DATA frame, the
/// answer read on the same task: no dispatch channel or body-piping task per request as
/// hyper's client has (and tonic's `Channel` adds a buffer task on top), CPU that on a
/// shared machine the broker under test would not get.
#[derive(Clone)]
pub struct Grpc {
    h2: SendRequest<Bytes>,
    send_uri: Uri,
    receive_uri: Uri,
    ack_uri: Uri,
    /// Every call's headers but `grpc-timeout`, built once (`x-mq-client-id` among them).
    headers: http::HeaderMap,
    /// `grpc-timeout` of a send and an ack ([`SEND_TIMEOUT`]), built once: the others are
    /// formatted per call.
    send_timeout: HeaderValue,
}

/// A send's (and an ack's) deadline.
const SEND_TIMEOUT: Duration = Duration::from_secs(10);

/// `grpc-timeout` for `t` (milliseconds).
fn grpc_timeout(t: Duration) -> HeaderValue {
    HeaderValue::from_str(&format!("{}m", t.as_millis())).expect("digits and a unit")
}

fn res(name: &str) -> Option<Resource> {
    Some(Resource { resource_namespace: String::new(), name: name.to_string() })
}

static GRPC_TIMEOUT: http::HeaderName = http::HeaderName::from_static("grpc-timeout");

/// A message in gRPC's length-prefixed framing (uncompressed).
fn frame(m: &impl prost::Message) -> Bytes {
    let len = m.encoded_len();
    let mut b = BytesMut::with_capacity(5 + len);
    b.put_u8(0);
    b.put_u32(len as u32);
    m.encode(&mut b).expect("capacity reserved");
    b.freeze()
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

/// The call's gRPC status (from the trailers, or from the headers of a trailers-only answer).
fn grpc_status(h: &http::HeaderMap) -> Option<(i32, String)> {
    let code = h.get("grpc-status")?.to_str().ok()?.parse().ok()?;
    let msg = h.get("grpc-message").and_then(|v| v.to_str().ok()).unwrap_or("").to_string();
    Some((code, msg))
}

impl Grpc {
    /// Connect to `addr` (`host:port`, plaintext).
    pub async fn connect(addr: &str) -> anyhow::Result<Grpc> {
        let tcp = tokio::net::TcpStream::connect(addr).await?;
        tcp.set_nodelay(true)?;
        let (h2, conn) = h2::client::Builder::new()
            .initial_window_size(2 << 20)
            .initial_connection_window_size(8 << 20)
            .handshake(CoalescingIo::new(tcp))
            .await?;
        tokio::spawn(async move {
            if let Err(e) = conn.await {
                tracing::warn!(error = %e, "gRPC connection ended");
            }
        });
        let base = format!("http://{addr}/apache.rocketmq.v2.MessagingService/");
        let mut headers = http::HeaderMap::new();
        headers.insert(http::header::CONTENT_TYPE, HeaderValue::from_static("application/grpc"));
        headers.insert(http::header::TE, HeaderValue::from_static("trailers"));
        headers.insert("x-mq-client-id", format!("mqbench@{}", std::process::id()).parse()?);
        // The body digest the broker picks follows the language, as for an SDK.
        headers.insert("x-mq-language", HeaderValue::from_static("RUST"));
        let uri = |m: &str| -> anyhow::Result<Uri> { Ok(format!("{base}{m}").parse()?) };
        Ok(Grpc {
            h2: h2.ready().await?,
            send_uri: uri("SendMessage")?,
            receive_uri: uri("ReceiveMessage")?,
            ack_uri: uri("AckMessage")?,
            headers,
            send_timeout: grpc_timeout(SEND_TIMEOUT),
        })
    }

    /// One call: `msg` to `uri`, every message of the answer once the call ends with OK.
    async fn call<Resp: prost::Message + Default>(
        &self,
        uri: &Uri,
        msg: &impl prost::Message,
        timeout: Duration,
    ) -> anyhow::Result<Vec<Resp>> {
        // Built from parts made once: no header name is parsed per call.
        let mut req = Request::new(());
        *req.method_mut() = Method::POST;
        *req.uri_mut() = uri.clone();
        *req.headers_mut() = self.headers.clone();
        let timeout_header = match timeout {
            SEND_TIMEOUT => self.send_timeout.clone(),
            t => grpc_timeout(t),
        };
        req.headers_mut().insert(&GRPC_TIMEOUT, timeout_header);
        let call = async {
            let mut h2 = self.h2.clone().ready().await?;
            let (resp, mut stream) = h2.send_request(req, false)?;
            stream.send_data(frame(msg), true)?;
            let resp = resp.await?;
            anyhow::ensure!(resp.status() == 200, "HTTP status {}", resp.status());
            if let Some((code, m)) = grpc_status(resp.headers()) {
                anyhow::ensure!(code == 0, "{} answered gRPC status {code}: {m}", uri.path());
            }
            let mut body = resp.into_body();
            // Usually one DATA frame: kept as it is, concatenated only if more follow.
            let mut chunks: Vec<Bytes> = Vec::new();
            while let Some(chunk) = body.data().await {
                let chunk = chunk?;
                let _ = body.flow_control().release_capacity(chunk.len());
                chunks.push(chunk);
            }
            let trailers = body.trailers().await?.unwrap_or_default();
            if let Some((code, m)) = grpc_status(&trailers) {
                anyhow::ensure!(code == 0, "{} answered gRPC status {code}: {m}", uri.path());
            }
            messages(match chunks.len() {
                1 => chunks.pop().unwrap_or_default(),
                _ => chunks.concat().into(),
            })
        };
        tokio::time::timeout(timeout, call)
            .await
            .map_err(|_| anyhow::anyhow!("{} timed out", uri.path()))?
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
        let req = SendMessageRequest { messages: vec![msg] };
        let r: Vec<SendMessageResponse> = self.call(&self.send_uri, &req, SEND_TIMEOUT).await?;
        let code = r.first().and_then(|r| r.status.as_ref()).map(|s| s.code).unwrap_or(-1);
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
        let timeout = poll + Duration::from_secs(10);
        let answers: Vec<ReceiveMessageResponse> =
            self.call(&self.receive_uri, &r, timeout).await?;
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
            let r: Vec<AckMessageResponse> = self.call(&self.ack_uri, &a, SEND_TIMEOUT).await?;
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
