//! SEND_MESSAGE (10), SEND_MESSAGE_V2 (310), SEND_BATCH_MESSAGE (320), spec §2.3.
//!
//! Handled inline on the connection's task through to the commit-log append; under SYNC_FLUSH
//! the response is sent with `ch.respond` by the store's flusher once the record is durable.
//! The sends that arrived in one read of a connection are stored together
//! ([`process_group`]: one put-lock hold, one commit-log write) and answered one by one.

use std::net::IpAddr;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use bytes::Bytes;
use mq_common::message::property::{self, CLUSTER, REAL_QID, REAL_TOPIC, TRAN_MSG};
use mq_common::message::{
    decode_batch_refs, merge_batch_properties, sysflag, MessageExtBrokerInner,
};
use mq_common::protocol::body::{system_topics, validate_topic, PERM_READ, PERM_WRITE};
use mq_common::protocol::codes::{request as rq, response};
use mq_common::protocol::ext_fields::push_int;
use mq_common::protocol::header::{SendMessageRequestHeader, SendMessageRequestHeaderV2};
use mq_common::protocol::CommandHeader;
use mq_common::protocol::{ExtFields, RemotingCommand};
use mq_common::remoting::Channel;

use super::{err, Reply};
use crate::broker::Broker;
use crate::metrics::{MessageType, TopicIn};
use crate::store::{Put, PutMessageResult, PutMessageStatus, PutSet};
use crate::timer::intercept as timer_intercept;
use crate::topic_manager::{AutoCreateRefused, SendInfo};

/// Entry point for the three send codes, one request: a group of one.
pub fn process(b: &Arc<Broker>, ch: &Channel, req: RemotingCommand) -> Reply {
    let (ready, set) = prepare(b, ch, req)?;
    let mut puts = b.store.put_group(vec![set]);
    answer(b, ch, ready, puts.pop())
}

/// A run of sends that arrived in one read of a connection: each checked as
/// [`process`] checks it (a refused one is answered at once and not stored), the rest stored
/// with one [`MessageStore::put_group`] (one commit-log write), then each answered as
/// [`process`] answers. One reply per request, in order.
///
/// [`MessageStore::put_group`]: crate::store::MessageStore::put_group
pub fn process_group(b: &Arc<Broker>, ch: &Channel, reqs: Vec<RemotingCommand>) -> Vec<Reply> {
    let mut replies: Vec<Option<Reply>> = (0..reqs.len()).map(|_| None).collect();
    let mut ready = Vec::with_capacity(reqs.len());
    let mut sets = Vec::with_capacity(reqs.len());
    for (i, req) in reqs.into_iter().enumerate() {
        match prepare(b, ch, req) {
            Ok((r, set)) => {
                sets.push(set);
                ready.push((i, r));
            }
            Err(e) => replies[i] = Some(Err(e)),
        }
    }
    if !sets.is_empty() {
        let puts = b.store.put_group(sets);
        for ((i, r), put) in ready.into_iter().zip(puts.into_iter().map(Some)) {
            replies[i] = Some(answer(b, ch, r, put));
        }
    }
    replies
        .into_iter()
        .map(|r| r.unwrap_or_else(|| Err(err(response::SYSTEM_ERROR, "send not answered"))))
        .collect()
}

/// A send checked and built, waiting for the store: what its answer needs.
struct Ready {
    opaque: i32,
    oneway: bool,
    queue_id: i32,
    /// `messages_in` counters, message type, body bytes (None when metrics are off)
    counted: Option<(Arc<TopicIn>, MessageType, usize)>,
    /// messages in the set
    n: usize,
}

/// Everything a send does before the store: header, checks (§2.3 steps 1–5), the message or
/// batch built: what to store, and what its answer needs. An `Err` is the answer to send now.
fn prepare(
    b: &Broker,
    ch: &Channel,
    req: RemotingCommand,
) -> Result<(Ready, PutSet), RemotingCommand> {
    // A V2 request without long names is decoded as V2 so a missing field is named by its
    // short key ('b'), not by the V1 name.
    let v2_only = (req.code == rq::SEND_MESSAGE_V2 || req.code == rq::SEND_BATCH_MESSAGE)
        && !req.ext_fields.contains_key("topic");
    let decoded = if v2_only {
        SendMessageRequestHeaderV2::read(&req.ext_fields).map(Into::into)
    } else {
        SendMessageRequestHeader::read_any(req.code, &req.ext_fields)
    };
    let h = match decoded {
        Ok(h) => h,
        Err(e) => return Err(err(response::SYSTEM_ERROR, format!("bad send request header: {e}"))),
    };
    // rocketmq-client-cpp 1.x sends batches as SEND_MESSAGE with "batch":"1" (its bug #189;
    // Apache's broker then stores the packed batch as one message, issue #363 there). The
    // flag is only set on packed bodies, so honouring it unpacks them as the client meant.
    let batch = req.code == rq::SEND_BATCH_MESSAGE || h.batch == Some(true);
    let (h, queue_id, multi, counters) = check(b, h, ch.peer_addr().ip())?;
    let (opaque, oneway) = (req.opaque, req.is_oneway());
    let body = req.body;
    // Classified before the header moves into the store (None when metrics are off).
    let counted = counters
        .map(|t| (t, MessageType::of_send(h.sys_flag, h.properties.as_deref()), body.len()));
    let (set, n) = if batch {
        let msgs = batch_messages(b, ch, &h, queue_id, multi, body)?;
        (PutSet::Batch(msgs.0), msgs.1)
    } else {
        (PutSet::One(one_message(b, ch, h, queue_id, multi, body)?), 1)
    };
    Ok((Ready { opaque, oneway, queue_id, counted, n }, set))
}

/// Count and answer a stored (or refused) send.
fn answer(b: &Arc<Broker>, ch: &Channel, r: Ready, put: Option<Put>) -> Reply {
    // The store answers every set of a group.
    let put = put.ok_or_else(|| err(response::SYSTEM_ERROR, "send not answered by the store"))?;
    if let Some((t, ty, bytes)) = r.counted {
        if put.result.status.is_stored() {
            t.add(ty, r.n, bytes);
        }
    }
    finish(b, ch, (r.opaque, r.oneway), r.queue_id, put, r.n)
}

/// A checked send: the header (possibly rerouted), queue id, multi-tag, `messages_in` counters.
pub(crate) type Checked = (SendMessageRequestHeader, i32, bool, Option<Arc<TopicIn>>);

/// Validate the request and resolve topic + queue (steps 1–5 of §2.3). Returns the possibly
/// rerouted header (DLQ), the queue id to write, whether the topic is multi-tag and its
/// `messages_in` counters (metrics on, not a retry/DLQ topic). `client` is the sender's
/// address (its auto-create budget).
pub(crate) fn check(
    b: &Broker,
    mut h: SendMessageRequestHeader,
    client: IpAddr,
) -> Result<Checked, RemotingCommand> {
    if !b.ha.accepts_writes() {
        // Refused before anything (a topic) is created here; the store refuses every other
        // put path of a slave the same way.
        let (code, remark) = status_code(PutMessageStatus::ServiceNotAvailable);
        return Err(err(code, remark.unwrap_or_default()));
    }
    if b.ha.in_sync_replicas_not_enough() {
        // Java answers IN_SYNC_REPLICAS_NOT_ENOUGH this way, before anything is stored.
        return Err(err(response::SYSTEM_ERROR, "in-sync replicas not enough"));
    }
    if !b.writable() {
        return Err(err(
            response::NO_PERMISSION,
            format!("the broker[{}] sending message is forbidden", b.cfg.broker_ip1),
        ));
    }
    if let Err(why) = validate_topic(&h.topic) {
        return Err(err(response::SYSTEM_ERROR, why));
    }
    if h.topic == b.cfg.broker_cluster_name {
        return Err(err(
            response::SYSTEM_ERROR,
            format!("the topic[{}] is conflict with system reserved words (cluster name)", h.topic),
        ));
    }
    if system_topics::is_not_allowed_to_send(&h.topic) {
        return Err(err(
            response::NO_PERMISSION,
            format!("Sending message to topic[{}] is forbidden.", h.topic),
        ));
    }
    let metrics = b.metrics.enabled();
    let mut info = b.topics.send_info(&h.topic, metrics);
    if info.is_none() {
        let created = b
            .topics
            .create_from_default(&h.topic, &h.default_topic, h.default_topic_queue_nums, client)
            .or_else(|why| {
                // As Java: a retry topic is made with one queue when the template refuses.
                if h.topic.starts_with(system_topics::RETRY_PREFIX) {
                    Ok(b.topics.ensure(&h.topic, 1, PERM_READ | PERM_WRITE))
                } else {
                    Err(why)
                }
            });
        match created {
            Ok(_) => {}
            Err(AutoCreateRefused::NoTemplate) => {
                return Err(err(
                    response::TOPIC_NOT_EXIST,
                    format!("topic[{}] not exist, apply first please!", h.topic),
                ))
            }
            Err(AutoCreateRefused::OverLimit { max }) => {
                return Err(err(
                    response::TOPIC_NOT_EXIST,
                    format!(
                        "topic[{}] not exist, apply first please! (auto-create refused: client \
                         {client} already auto-created {max} topics in the last minute, \
                         autoCreateTopicMaxPerClientPerMinute={max})",
                        h.topic
                    ),
                ))
            }
        }
        info = b.topics.send_info(&h.topic, metrics);
    }
    let Some(SendInfo {
        write_queues: write_q,
        read_queues: read_q,
        perm,
        multi_tag: multi,
        counters,
    }) = info
    else {
        return Err(err(
            response::TOPIC_NOT_EXIST,
            format!("topic[{}] not exist, apply first please!", h.topic),
        ));
    };
    if perm & PERM_WRITE == 0 {
        return Err(err(
            response::NO_PERMISSION,
            format!("the topic[{}] sending message is forbidden", h.topic),
        ));
    }
    let mut queue_id = h.queue_id;
    if queue_id < 0 {
        queue_id = rand::random_range(0..write_q.max(1));
    }
    if queue_id >= write_q.max(read_q) {
        return Err(err(response::SYSTEM_ERROR, format!("request queueId[{queue_id}] is illegal, topic:{} writeQueueNums:{write_q} readQueueNums:{read_q}", h.topic)));
    }
    // Retried messages past their budget go to the group's dead-letter queue.
    if let Some(group) = h.topic.strip_prefix(system_topics::RETRY_PREFIX) {
        let Some(gc) = b.groups.find_or_create(group) else {
            return Err(err(
                response::SUBSCRIPTION_GROUP_NOT_EXIST,
                format!("subscription group not exist, {group}"),
            ));
        };
        let max = h.max_reconsume_times.unwrap_or(gc.retry_max_times);
        if h.reconsume_times.unwrap_or(0) >= max {
            let dlq = system_topics::dlq_topic(group);
            b.topics.ensure(&dlq, 1, PERM_READ | PERM_WRITE);
            tracing::info!(
                group,
                reconsume = h.reconsume_times,
                "send to %RETRY% past max reconsume times → DLQ"
            );
            b.metrics.sent_to_dlq(group);
            h.topic = dlq;
            queue_id = 0;
        }
    }
    Ok((h, queue_id, multi, counters))
}

fn base_inner(
    b: &Broker,
    ch: &Channel,
    h: &SendMessageRequestHeader,
    topic: String,
    queue_id: i32,
    multi_tag: bool,
) -> MessageExtBrokerInner {
    let mut sys_flag = h.sys_flag;
    if multi_tag {
        sys_flag |= sysflag::MULTI_TAGS_FLAG;
    }
    MessageExtBrokerInner {
        topic,
        queue_id,
        flag: h.flag,
        sys_flag,
        born_timestamp: h.born_timestamp,
        born_host: ch.peer_addr(),
        store_host: b.store_host,
        reconsume_times: h.reconsume_times.unwrap_or(0),
        ..Default::default()
    }
}

/// Append `CLUSTER=<brokerClusterName>` (Java adds it to every stored message) in place.
pub(crate) fn add_cluster(b: &Broker, mut s: String) -> String {
    if property::get_property(&s, CLUSTER).is_none() {
        s.reserve(b.cfg.broker_cluster_name.len() + 10);
        if !s.is_empty() && !s.ends_with(property::PROPERTY_SEPARATOR) {
            s.push(property::PROPERTY_SEPARATOR);
        }
        s.push_str(CLUSTER);
        s.push(property::NAME_VALUE_SEPARATOR);
        s.push_str(&b.cfg.broker_cluster_name);
        s.push(property::PROPERTY_SEPARATOR);
    }
    s
}

fn one_message(
    b: &Broker,
    ch: &Channel,
    mut h: SendMessageRequestHeader,
    queue_id: i32,
    multi: bool,
    body: Bytes,
) -> Result<MessageExtBrokerInner, RemotingCommand> {
    let topic = std::mem::take(&mut h.topic);
    let mut m = base_inner(b, ch, &h, topic, queue_id, multi);
    m.body = body;
    m.properties = add_cluster(b, h.properties.take().unwrap_or_default());
    for_store(b, m)
}

/// Store one message for the gRPC send path, prepared as a remoting send is (see
/// [`for_store`]) and joined with the puts other tasks make at the same moment (the gRPC port
/// runs one task per request; remoting stores its reader's groups through `process_group`).
pub(crate) async fn put_inner(
    b: &Broker,
    m: MessageExtBrokerInner,
) -> Result<Put, RemotingCommand> {
    let m = for_store(b, m)?;
    Ok(b.store.put_joined(PutSet::One(m)).await)
}

/// A message as the send paths store it: a transactional one becomes a half message in the
/// internal half topic, a timed one goes to the timer; put statistics (the store checks size
/// and format).
fn for_store(
    b: &Broker,
    mut m: MessageExtBrokerInner,
) -> Result<MessageExtBrokerInner, RemotingCommand> {
    if m.property(TRAN_MSG) == Some("true") {
        if b.live.reject_transaction_message() {
            return Err(err(
                response::NO_PERMISSION,
                format!(
                    "the broker[{}] sending transaction message is forbidden",
                    b.cfg.broker_ip1
                ),
            ));
        }
        // Half message: parked in the internal half topic until END_TRANSACTION.
        let real_topic =
            std::mem::replace(&mut m.topic, system_topics::TRANS_HALF_TOPIC.to_string());
        m.set_property(REAL_TOPIC, &real_topic);
        m.set_property(REAL_QID, &m.queue_id.to_string());
        m.queue_id = 0;
        m.sys_flag = sysflag::reset_transaction_value(m.sys_flag, sysflag::TRANSACTION_NOT_TYPE);
        b.topics.ensure(system_topics::TRANS_HALF_TOPIC, 1, PERM_READ | PERM_WRITE);
    } else {
        // A half message is timed when it is committed (transaction.rs), not now.
        b.timer.intercept(&mut m).map_err(|e| err(e.code(), e.to_string()))?;
    }
    // Size and format are checked by the store, the one place that does it for every put.
    b.stats.put_bytes.fetch_add(m.body.len() as u64, Ordering::Relaxed);
    Ok(m)
}

/// The messages of a batch send (SEND_BATCH, or the cpp client's flagged SEND_MESSAGE) and
/// their count.
fn batch_messages(
    b: &Broker,
    ch: &Channel,
    h: &SendMessageRequestHeader,
    queue_id: i32,
    multi: bool,
    body: Bytes,
) -> Result<(Vec<MessageExtBrokerInner>, usize), RemotingCommand> {
    if h.topic.starts_with(system_topics::RETRY_PREFIX) {
        return Err(err(
            response::MESSAGE_ILLEGAL,
            "batch message is not supported for retry topics",
        ));
    }
    let items = decode_batch_refs(&body)
        .map_err(|e| err(response::MESSAGE_ILLEGAL, format!("bad batch body: {e}")))?;
    if items.is_empty() {
        return Err(err(response::MESSAGE_ILLEGAL, "empty batch"));
    }
    let batch_props = add_cluster(b, h.properties.clone().unwrap_or_default());
    let mut msgs = Vec::with_capacity(items.len());
    for it in items {
        let mut m = base_inner(b, ch, h, h.topic.clone(), queue_id, multi);
        m.flag = it.flag;
        m.body = it.body;
        m.properties = merge_batch_properties(it.properties, &batch_props);
        // Java's broker ignores timer properties in a batch and delivers at once; refusing
        // says so instead of silently dropping the requested time.
        if timer_intercept::may_be_timer(&m.properties)
            && timer_intercept::requested_deliver_ms(&m.properties, 0) != Ok(None)
        {
            return Err(err(
                response::MESSAGE_ILLEGAL,
                "batch message does not support timer messages (TIMER_DELIVER_MS, TIMER_DELAY_SEC, TIMER_DELAY_MS, __STARTDELIVERTIME); send them one by one",
            ));
        }
        b.stats.put_bytes.fetch_add(m.body.len() as u64, Ordering::Relaxed);
        msgs.push(m);
    }
    let n = msgs.len();
    Ok((msgs, n))
}

/// Map a put status to (code, remark) — §2.3 step 9.
pub(crate) fn status_code(s: PutMessageStatus) -> (i32, Option<String>) {
    match s {
        PutMessageStatus::PutOk => (response::SUCCESS, None),
        PutMessageStatus::FlushDiskTimeout => (response::FLUSH_DISK_TIMEOUT, None),
        PutMessageStatus::SlaveNotAvailable => (response::SLAVE_NOT_AVAILABLE, None),
        PutMessageStatus::FlushSlaveTimeout => (response::FLUSH_SLAVE_TIMEOUT, None),
        PutMessageStatus::MessageIllegal | PutMessageStatus::PropertiesSizeExceeded => (
            response::MESSAGE_ILLEGAL,
            Some(format!(
                "the message is illegal, maybe msg body or properties length not matched: {s:?}"
            )),
        ),
        PutMessageStatus::ServiceNotAvailable
        | PutMessageStatus::Poisoned
        | PutMessageStatus::DiskFull => (
            response::SERVICE_NOT_AVAILABLE,
            Some(
                "service not available now. It may be caused by one of the following reasons: \
                 the broker's disk is full, messages are put to the slave, message store has \
                 been shut down, etc."
                    .into(),
            ),
        ),
        PutMessageStatus::OsPageCacheBusy => (
            response::SYSTEM_ERROR,
            Some("[PC_SYNCHRONIZED]broker busy, start flow control for a while".into()),
        ),
        PutMessageStatus::UnknownError => (response::SYSTEM_ERROR, Some("UNKNOWN_ERROR".into())),
    }
}

fn build_response(
    b: &Broker,
    status: PutMessageStatus,
    queue_id: i32,
    r: &PutMessageResult,
) -> RemotingCommand {
    let (code, remark) = status_code(status);
    if !status.is_stored() {
        b.stats.put_failures.fetch_add(1, Ordering::Relaxed);
        let remark = match remark {
            Some(m) if !r.remark.is_empty() => Some(format!("{m}: {}", r.remark)),
            Some(m) => Some(m),
            None => Some(r.remark.clone()),
        };
        return RemotingCommand::response(code, remark);
    }
    // The `SendMessageResponseHeader` fields written straight into the response (hot: one
    // per send; building the typed header first cost three string allocations).
    let mut resp = RemotingCommand::response(code, None);
    let f = &mut resp.ext_fields;
    *f = ExtFields::with_capacity(8);
    f.insert_str("msgId", &r.msg_id);
    f.insert_with("queueId", |o| push_int(o, queue_id as i64));
    f.insert_with("queueOffset", |o| push_int(o, r.queue_offset));
    f.insert_str("MSG_REGION", "DefaultRegion");
    f.insert_str("TRACE_ON", "true");
    resp.remark = remark;
    resp
}

/// Answer a send: at once, or (SYNC_FLUSH) from the store's flusher after the group commit
/// that covers the record, then (SYNC_MASTER) once a slave holds it: the connection keeps
/// reading meanwhile (no task per send). The same contract as `answer_when_durable`, written
/// out so the common case clones nothing.
fn finish(
    b: &Arc<Broker>,
    ch: &Channel,
    (opaque, oneway): (i32, bool),
    queue_id: i32,
    put: Put,
    n: usize,
) -> Reply {
    let Put { result: r, ticket } = put;
    if r.status.is_stored() {
        b.stats.put_msgs.fetch_add(n as u64, Ordering::Relaxed);
    }
    if !ticket.is_pending() && !b.ha.needs_slave(&r) {
        return Ok(Some(build_response(b, r.status, queue_id, &r)));
    }
    let (b2, ch) = (b.clone(), ch.clone());
    let answer = move |r: PutMessageResult| {
        if !oneway {
            ch.respond(opaque, build_response(&b2, r.status, queue_id, &r));
        }
    };
    if !ticket.is_pending() {
        b.ha.after_put(r, answer);
        return Ok(None);
    }
    let ha = b.clone();
    ticket.on_durable(Box::new(move |outcome| {
        ha.ha.after_put(r.with_durability(outcome), answer);
    }));
    Ok(None)
}
