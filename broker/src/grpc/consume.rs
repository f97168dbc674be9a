//! ReceiveMessage (server stream, long polling), AckMessage, ChangeInvisibleDuration and
//! ForwardMessageToDeadLetterQueue (spec §9) over the shared POP engine (`crate::pop`).

use std::collections::VecDeque;
use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use hyper::body::{Body, Frame};
use mq_common::filter::MessageFilter;
use mq_common::protocol::body::SubscriptionData;
use mq_common::protocol::now_millis;
use mq_grpc_proto::put_frame;
use mq_grpc_proto::v2::{
    receive_message_response::Content, AckMessageRequest, AckMessageResponse,
    AckMessageResultEntry, ChangeInvisibleDurationRequest, ChangeInvisibleDurationResponse, Code,
    FilterType, ForwardMessageToDeadLetterQueueRequest, ForwardMessageToDeadLetterQueueResponse,
    ReceiveMessageRequest, ReceiveMessageResponse,
};

use super::convert::{dur_ms, ts};
use super::digest::DigestStyle;
use super::encode::encode_framed_message;
use super::route::{check_topic, name};
use super::status::{ok, overall, status};
use super::GrpcService;
use crate::broker::Broker;
use crate::pop::{revive, HandleError, PopRequest, ReceiptHandle, MAX_BATCH};

/// Invisible time bounds of a simple consumer's receive (Apache's defaults).
const MIN_INVISIBLE_MS: i64 = 10_000;
const MAX_INVISIBLE_MS: i64 = 12 * 3600 * 1000;
/// Shortest long-polling hold (Apache's proxy's minimum); the longest is the broker's
/// `grpcClientConsumerMaxLongPollingTimeoutMillis` ([`max_poll_ms`]).
const MIN_POLL_MS: i64 = 5_000;

/// The longest long-polling hold (`grpcClientConsumerMaxLongPollingTimeoutMillis`, never
/// below [`MIN_POLL_MS`]).
pub fn max_poll_ms(b: &crate::broker::Broker) -> i64 {
    (b.cfg.grpc_client_consumer_max_long_polling_timeout_millis as i64).max(MIN_POLL_MS)
}

/// Parse a `grpc-timeout` header value (`<digits><unit>`).
pub fn parse_grpc_timeout(v: &str) -> Option<Duration> {
    let (num, unit) = v.split_at(v.len().checked_sub(1)?);
    let n: u64 = num.parse().ok()?;
    Some(match unit {
        "H" => Duration::from_secs(n.saturating_mul(3600)),
        "M" => Duration::from_secs(n.saturating_mul(60)),
        "S" => Duration::from_secs(n),
        "m" => Duration::from_millis(n),
        "u" => Duration::from_micros(n),
        "n" => Duration::from_nanos(n),
        _ => return None,
    })
}

fn handle_code(e: &HandleError) -> Code {
    match e {
        HandleError::Invalid(_) | HandleError::Expired => Code::InvalidReceiptHandle,
        HandleError::Io(_) => Code::InternalServerError,
    }
}

/// The filter of a receive's `FilterExpression` (none = every message). SQL92 needs
/// `enablePropertyFilter`, as on the remoting pull and pop paths.
fn receive_filter(
    b: &crate::broker::Broker,
    topic: &str,
    f: Option<&mq_grpc_proto::v2::FilterExpression>,
) -> Result<MessageFilter, String> {
    let Some(f) = f else { return Ok(MessageFilter::All) };
    let ty = if f.r#type == FilterType::Sql as i32 { "SQL92" } else { "TAG" };
    let sd = SubscriptionData::from_expression(topic, &f.expression, Some(ty), 0)
        .map_err(|e| format!("bad filter expression: {e}"))?;
    crate::processor::pull::sql_allowed(b, &sd)?;
    MessageFilter::compile(&sd).map_err(|e| format!("bad filter expression: {e}"))
}

/// Bytes of framed messages per chunk of a ReceiveMessage answer: the unit handed to the
/// connection, and so the unit released when the client goes away mid-answer (about one
/// HTTP/2 DATA frame at the default 16 KiB frame size).
const CHUNK: usize = 16 * 1024;

/// A piece of a ReceiveMessage answer: whole gRPC frames and the handles of the messages in
/// them.
struct Chunk {
    data: Bytes,
    handles: Vec<ReceiptHandle>,
}

/// The answer of one ReceiveMessage, already framed: its status, the messages, the delivery
/// timestamp, in chunks of about [`CHUNK`] bytes. The messages of chunks not yet handed to
/// the connection when it is dropped (the client went away mid-answer) come back after a
/// second instead of after their invisible time.
pub(crate) struct Answer {
    chunks: VecDeque<Chunk>,
    /// To release what was not handed out: the broker, group and topic.
    release: Option<(Arc<Broker>, String, String)>,
}

impl Answer {
    /// A status-only answer (an error, or no message): the status, then the delivery time.
    pub(crate) fn finished(st: Option<mq_grpc_proto::v2::Status>) -> Answer {
        let mut b = BytesMut::new();
        put_frame(&mut b, &ReceiveMessageResponse { content: st.map(Content::Status) });
        put_frame(&mut b, &delivery_timestamp());
        let chunk = Chunk { data: b.freeze(), handles: Vec::new() };
        Answer { chunks: VecDeque::from([chunk]), release: None }
    }
}

fn delivery_timestamp() -> ReceiveMessageResponse {
    ReceiveMessageResponse { content: Some(Content::DeliveryTimestamp(ts(now_millis()))) }
}

impl Drop for Answer {
    fn drop(&mut self) {
        let Some((b, group, topic)) = &self.release else { return };
        for h in self.chunks.drain(..).flat_map(|c| c.handles) {
            let _ = b.pop.change_invisible(group, topic, &h, 1000);
        }
    }
}

/// The HTTP body of a ReceiveMessage answer: the long poll (dropped with the body when the
/// client goes away: the wait ends), then the answer's chunks, then `grpc-status: 0`.
pub(crate) enum ReceiveBody {
    Waiting(Pin<Box<dyn Future<Output = Answer> + Send>>),
    Sending(Answer),
    Done,
}

impl Body for ReceiveBody {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        loop {
            match &mut *self {
                ReceiveBody::Waiting(f) => {
                    let answer = std::task::ready!(f.as_mut().poll(cx));
                    *self = ReceiveBody::Sending(answer);
                }
                ReceiveBody::Sending(a) => {
                    if let Some(c) = a.chunks.pop_front() {
                        return Poll::Ready(Some(Ok(Frame::data(c.data))));
                    }
                    *self = ReceiveBody::Done;
                    return Poll::Ready(Some(Ok(super::unary::ok_trailers())));
                }
                ReceiveBody::Done => return Poll::Ready(None),
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        matches!(self, ReceiveBody::Done)
    }
}

impl GrpcService {
    /// ReceiveMessage as the listener serves it (without tonic, see `unary`): the caller
    /// checked (credentials, ACL, session), then a body that waits and streams the answer.
    pub(crate) fn receive_body(&self, req: tonic::Request<ReceiveMessageRequest>) -> ReceiveBody {
        let checked = self.caller(&req).and_then(|c| {
            self.authorize(&c, req.get_ref())?;
            self.session(&req)
        });
        match checked {
            Err(st) => {
                self.b.grpc.counters.count("ReceiveMessage", &st);
                ReceiveBody::Sending(Answer::finished(st))
            }
            Ok(s) => {
                let deadline = parse_grpc_timeout(super::meta(&req, "grpc-timeout"));
                let svc = self.clone();
                let style = DigestStyle::of_language(&s.language);
                let req = req.into_inner();
                ReceiveBody::Waiting(Box::pin(async move {
                    svc.receive(req, s.id, style, deadline).await
                }))
            }
        }
    }

    /// ReceiveMessage: waits (long polling) for messages; the answer to stream. Dropping
    /// the future (the client went away while it waited) ends the wait.
    pub(crate) async fn receive(
        &self,
        req: ReceiveMessageRequest,
        session: u64,
        style: DigestStyle,
        deadline: Option<Duration>,
    ) -> Answer {
        let b = &self.b;
        let group = name(&req.group).to_string();
        let topic =
            req.message_queue.as_ref().map(|q| name(&q.topic).to_string()).unwrap_or_default();
        let fail = |code: Code, msg: String| (code, msg);
        let checked = (|| {
            if group.is_empty() {
                return Err(fail(Code::IllegalConsumerGroup, "consumer group is empty".into()));
            }
            check_topic(&topic).map_err(|e| fail(Code::IllegalTopic, e))?;
            if !b.topics.contains(&topic) {
                return Err(fail(
                    Code::TopicNotFound,
                    format!("topic '{topic}' not found on this broker"),
                ));
            }
            let gc = b.groups.find_or_create(&group).ok_or_else(|| {
                fail(Code::ConsumerGroupNotFound, format!("consumer group '{group}' not found"))
            })?;
            if !gc.consume_enable {
                return Err(fail(
                    Code::Forbidden,
                    format!("consumer group '{group}' may not consume"),
                ));
            }
            let filter = receive_filter(b, &topic, req.filter_expression.as_ref())
                .map_err(|e| fail(Code::IllegalFilterExpression, e))?;
            let invisible = if req.auto_renew {
                b.cfg.default_invisible_time_mills as i64
            } else {
                let ms = req.invisible_duration.as_ref().map(dur_ms).unwrap_or(-1);
                if !(MIN_INVISIBLE_MS..=MAX_INVISIBLE_MS).contains(&ms) {
                    return Err(fail(
                        Code::IllegalInvisibleTime,
                        format!("invisible duration {ms} ms is outside [10 s, 12 h]"),
                    ));
                }
                ms
            };
            Ok((gc, filter, invisible))
        })();
        let (gc, filter, invisible) = match checked {
            Ok(v) => v,
            Err((code, msg)) => {
                b.grpc.counters.count("ReceiveMessage", &status(code, ""));
                return Answer::finished(status(code, msg));
            }
        };
        let max_poll = max_poll_ms(b);
        let poll_ms = req
            .long_polling_timeout
            .as_ref()
            .map(dur_ms)
            .unwrap_or(max_poll)
            .clamp(MIN_POLL_MS, max_poll);
        // Never hold the stream past the caller's deadline: answer a little before it.
        let poll_ms = match deadline {
            Some(d) => poll_ms.min((d.as_millis() as i64 - 1000).max(0)),
            None => poll_ms,
        };
        let until = tokio::time::Instant::now() + Duration::from_millis(poll_ms as u64);
        let fifo = gc.consume_message_orderly;
        let pop_req = PopRequest {
            group: &group,
            topic: &topic,
            queue_id: None,
            max: (req.batch_size.max(1) as usize).min(MAX_BATCH),
            invisible_ms: invisible,
            filter: &filter,
            fifo,
            max_attempts: gc.retry_max_times + 1,
            // Push consumers (`auto_renew`): the broker keeps the messages invisible while
            // the session lives, as Apache's proxy renews their receipt handles.
            owner: if req.auto_renew { session } else { 0 },
            attempt_id: req.attempt_id.as_deref().filter(|a| !a.is_empty()),
        };
        let popped = match b.pop.pop_wait(b, &pop_req, until, std::future::pending()).await {
            Ok(v) if !v.is_empty() => v,
            Ok(_) => {
                b.grpc.counters.count("ReceiveMessage", &status(Code::MessageNotFound, ""));
                return Answer::finished(status(Code::MessageNotFound, "no new message"));
            }
            Err(e) => {
                b.grpc.counters.count("ReceiveMessage", &status(Code::InternalServerError, ""));
                return Answer::finished(status(Code::InternalServerError, e.to_string()));
            }
        };
        b.grpc.counters.count("ReceiveMessage", &ok());
        let n = popped.len() as u64;
        b.stats.get_msgs.fetch_add(n, std::sync::atomic::Ordering::Relaxed);
        b.stats.add_group_gets(&group, n);
        // Every message framed into one buffer, cut into chunks of whole frames.
        let size: usize = popped.iter().map(|p| p.record.len() + 512).sum();
        let mut buf = BytesMut::with_capacity(size + 64);
        put_frame(
            &mut buf,
            &ReceiveMessageResponse { content: Some(Content::Status(ok().unwrap())) },
        );
        let mut chunks = VecDeque::new();
        let mut handles = Vec::new();
        for p in popped {
            // A record that no longer parses stays in flight until its invisible time ends.
            if encode_framed_message(
                &p.record,
                Some(&p),
                invisible,
                &b.grpc.digests,
                style,
                &mut buf,
            )
            .is_none()
            {
                continue;
            }
            handles.push(p.handle);
            if buf.len() >= CHUNK {
                let data = buf.split().freeze();
                chunks.push_back(Chunk { data, handles: std::mem::take(&mut handles) });
            }
        }
        put_frame(&mut buf, &delivery_timestamp());
        chunks.push_back(Chunk { data: buf.freeze(), handles });
        Answer { chunks, release: Some((b.clone(), group, topic)) }
    }

    /// AckMessage: one result per entry, in order, each echoing the entry's message id and
    /// handle (moved from the request, not copied).
    pub(crate) fn ack(&self, req: AckMessageRequest) -> AckMessageResponse {
        let (group, topic) = (name(&req.group), name(&req.topic));
        let mut statuses: Vec<Option<mq_grpc_proto::v2::Status>> = vec![None; req.entries.len()];
        let mut handles = Vec::with_capacity(req.entries.len());
        let mut slots = Vec::with_capacity(req.entries.len());
        for (i, e) in req.entries.iter().enumerate() {
            match ReceiptHandle::decode(&e.receipt_handle) {
                Some(h) => {
                    handles.push(h);
                    slots.push(i);
                }
                None => {
                    statuses[i] = status(Code::InvalidReceiptHandle, "malformed receipt handle")
                }
            }
        }
        let outcome = self.b.pop.ack(&self.b, group, topic, &handles);
        for (slot, r) in slots.into_iter().zip(outcome) {
            statuses[slot] = match r {
                Ok(()) => ok(),
                Err(err) => status(handle_code(&err), err.to_string()),
            };
        }
        if req.entries.is_empty() {
            return AckMessageResponse {
                status: status(Code::BadRequest, "no entry to ack"),
                entries: Vec::new(),
            };
        }
        let entries: Vec<AckMessageResultEntry> = req
            .entries
            .into_iter()
            .zip(statuses)
            .map(|(e, status)| AckMessageResultEntry {
                message_id: e.message_id,
                receipt_handle: e.receipt_handle,
                status,
            })
            .collect();
        AckMessageResponse { status: overall(entries.iter().map(|e| &e.status)), entries }
    }

    /// ChangeInvisibleDuration.
    pub(crate) fn change_invisible(
        &self,
        req: ChangeInvisibleDurationRequest,
    ) -> ChangeInvisibleDurationResponse {
        let ms = req.invisible_duration.as_ref().map(dur_ms).unwrap_or(-1);
        if !(0..=MAX_INVISIBLE_MS).contains(&ms) {
            return ChangeInvisibleDurationResponse {
                status: status(
                    Code::IllegalInvisibleTime,
                    format!("invisible duration {ms} ms is outside [0, 12 h]"),
                ),
                receipt_handle: String::new(),
            };
        }
        let Some(h) = ReceiptHandle::decode(&req.receipt_handle) else {
            return ChangeInvisibleDurationResponse {
                status: status(Code::InvalidReceiptHandle, "malformed receipt handle"),
                receipt_handle: String::new(),
            };
        };
        match self.b.pop.change_invisible(name(&req.group), name(&req.topic), &h, ms) {
            Ok(nh) => ChangeInvisibleDurationResponse { status: ok(), receipt_handle: nh.encode() },
            Err(e) => ChangeInvisibleDurationResponse {
                status: status(handle_code(&e), e.to_string()),
                receipt_handle: String::new(),
            },
        }
    }

    /// ForwardMessageToDeadLetterQueue: store the message in `%DLQ%{group}`, then ack it.
    pub(crate) fn forward_to_dlq(
        &self,
        req: ForwardMessageToDeadLetterQueueRequest,
    ) -> ForwardMessageToDeadLetterQueueResponse {
        let (group, topic) = (name(&req.group), name(&req.topic));
        let Some(h) = ReceiptHandle::decode(&req.receipt_handle) else {
            return ForwardMessageToDeadLetterQueueResponse {
                status: status(Code::InvalidReceiptHandle, "malformed receipt handle"),
            };
        };
        let (rec, attempt) = match self.b.pop.peek(&self.b, group, topic, &h) {
            Ok(v) => v,
            Err(e) => {
                return ForwardMessageToDeadLetterQueueResponse {
                    status: status(handle_code(&e), e.to_string()),
                }
            }
        };
        if !revive::to_dlq(&self.b, group, &rec, attempt.max(req.delivery_attempt)) {
            return ForwardMessageToDeadLetterQueueResponse {
                status: status(Code::InternalServerError, "storing the message in the DLQ failed"),
            };
        }
        match self.b.pop.ack(&self.b, group, topic, std::slice::from_ref(&h)).pop() {
            Some(Err(HandleError::Io(e))) => ForwardMessageToDeadLetterQueueResponse {
                status: status(Code::InternalServerError, e),
            },
            _ => ForwardMessageToDeadLetterQueueResponse { status: ok() },
        }
    }
}
