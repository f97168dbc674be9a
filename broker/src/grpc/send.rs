//! SendMessage (spec §8): each gRPC message is validated, turned into a stored message (the
//! remoting property names, producer group = topic) and put through the same core as a
//! remoting send (`processor::send::{check, put_inner}`, then the put's durability ticket).

use std::net::SocketAddr;

use mq_common::message::property::{
    self, CHECK_IMMUNITY_TIME_IN_SECONDS, DELAY, KEYS, PGROUP, SHARDING_KEY, TAGS,
    TIMER_DELIVER_MS, TRAN_MSG, UNIQ_KEY,
};
use mq_common::message::{sysflag, util::java_hash, MessageExtBrokerInner};
use mq_common::protocol::codes::response;
use mq_common::protocol::header::SendMessageRequestHeader;
use mq_common::protocol::now_millis;
use mq_grpc_proto::v2::{
    Code, Encoding, Message, MessageType, SendMessageRequest, SendMessageResponse, SendResultEntry,
    SystemProperties,
};

use super::convert::{dur_ms, is_system_property, ms_of, TRACE_CONTEXT};
use super::route::{accepted_types, check_topic};
use super::status::{ok, overall, status};
use super::GrpcService;
use crate::broker::Broker;
use crate::metrics::MessageType as StoredType;
use crate::processor::send::{add_cluster, check, put_inner};
use crate::store::PutMessageStatus;

/// Longest delay a delivery timestamp may ask for (Apache `maxDelayTimeMills`, 1 day).
const MAX_DELAY_MS: i64 = 24 * 3600 * 1000;
/// Longest orphaned-transaction recovery duration (1 h).
const MAX_RECOVERY_MS: i64 = 3600 * 1000;
const MAX_USER_PROPERTIES: usize = 128;
const MAX_USER_PROPERTIES_BYTES: usize = 16 * 1024;

type Refusal = (Code, String);

fn has_control(s: &str) -> bool {
    s.chars().any(char::is_control)
}

/// The remoting code of a refused put → gRPC code.
pub fn code_of_remoting(code: i32) -> Code {
    match code {
        response::TOPIC_NOT_EXIST => Code::TopicNotFound,
        response::NO_PERMISSION => Code::Forbidden,
        response::MESSAGE_ILLEGAL => Code::BadRequest,
        response::SYSTEM_BUSY => Code::TooManyRequests,
        response::SUBSCRIPTION_GROUP_NOT_EXIST => Code::ConsumerGroupNotFound,
        response::REQUEST_CODE_NOT_SUPPORTED => Code::NotImplemented,
        response::FLUSH_DISK_TIMEOUT => Code::MasterPersistenceTimeout,
        response::SLAVE_NOT_AVAILABLE => Code::HaNotAvailable,
        _ => Code::InternalServerError,
    }
}

fn code_of_put(s: PutMessageStatus) -> Code {
    match s {
        PutMessageStatus::PutOk => Code::Ok,
        PutMessageStatus::FlushDiskTimeout => Code::MasterPersistenceTimeout,
        PutMessageStatus::SlaveNotAvailable => Code::HaNotAvailable,
        PutMessageStatus::FlushSlaveTimeout => Code::SlavePersistenceTimeout,
        PutMessageStatus::MessageIllegal | PutMessageStatus::PropertiesSizeExceeded => {
            Code::BadRequest
        }
        PutMessageStatus::OsPageCacheBusy => Code::TooManyRequests,
        _ => Code::InternalServerError,
    }
}

/// The delay level Apache falls back to: the smallest whose delay is strictly greater than
/// `remaining_ms` (the last if none).
pub fn delay_level_for(levels_ms: &[i64], remaining_ms: i64) -> usize {
    levels_ms.iter().position(|l| *l > remaining_ms).map(|i| i + 1).unwrap_or(levels_ms.len())
}

/// A validated message ready to store.
struct Prepared {
    inner: MessageExtBrokerInner,
    message_id: String,
    transactional: bool,
}

fn validate(b: &Broker, m: &Message, peer: SocketAddr) -> Result<Prepared, Refusal> {
    let topic = m.topic.as_ref().map(|t| t.name.clone()).unwrap_or_default();
    check_topic(&topic).map_err(|e| (Code::IllegalTopic, e))?;
    // No auto-create over gRPC (as Apache's proxy: a send needs the topic's route first).
    if !b.topics.contains(&topic) {
        return Err((Code::TopicNotFound, format!("topic '{topic}' not found on this broker")));
    }
    let none = SystemProperties::default();
    let sp = m.system_properties.as_ref().unwrap_or(&none);
    if sp.message_id.trim().is_empty() {
        return Err((Code::IllegalMessageId, "message id is empty".into()));
    }
    if m.body.is_empty() {
        return Err((Code::MessageBodyEmpty, "message body is empty".into()));
    }
    let max = b.store.live_config().max_message_size();
    if m.body.len() > max {
        return Err((
            Code::MessageBodyTooLarge,
            format!("message body size {} exceeds {max}", m.body.len()),
        ));
    }
    if let Some(t) = &sp.tag {
        if t.trim().is_empty() || t.contains('|') || has_control(t) {
            return Err((Code::IllegalMessageTag, format!("tag '{t}' is not allowed")));
        }
    }
    for k in &sp.keys {
        if has_control(k) {
            return Err((Code::IllegalMessageKey, "a key contains control characters".into()));
        }
    }
    if let Some(g) = &sp.message_group {
        if g.trim().is_empty() || g.len() >= 64 || has_control(g) {
            return Err((Code::IllegalMessageGroup, format!("message group '{g}' is not allowed")));
        }
    }
    if m.user_properties.len() > MAX_USER_PROPERTIES {
        return Err((Code::MessagePropertiesTooLarge, "more than 128 user properties".into()));
    }
    let mut size = 0usize;
    for (k, v) in &m.user_properties {
        if k.is_empty() || is_system_property(k) || has_control(k) {
            return Err((
                Code::IllegalMessagePropertyKey,
                format!("property key '{k}' is reserved or illegal"),
            ));
        }
        size += k.len() + v.len();
    }
    if size > MAX_USER_PROPERTIES_BYTES {
        return Err((Code::MessagePropertiesTooLarge, "user properties exceed 16 KiB".into()));
    }
    let ty = MessageType::try_from(sp.message_type).unwrap_or(MessageType::Unspecified);
    let ty = match ty {
        MessageType::Unspecified if sp.message_group.is_some() => MessageType::Fifo,
        MessageType::Unspecified if sp.delivery_timestamp.is_some() => MessageType::Delay,
        MessageType::Unspecified => MessageType::Normal,
        t => t,
    };
    if !accepted_types(b, &topic).contains(&ty) {
        return Err((
            Code::MessagePropertyConflictWithType,
            format!("topic '{topic}' does not accept {} messages", ty.as_str_name()),
        ));
    }
    // Properties, in the remoting names.
    let mut props = String::new();
    let mut set = |k: &str, v: &str| property::set_property(&mut props, k, v);
    for (k, v) in &m.user_properties {
        set(k, v);
    }
    set(UNIQ_KEY, &sp.message_id);
    if let Some(t) = &sp.tag {
        set(TAGS, t);
    }
    if !sp.keys.is_empty() {
        set(KEYS, &sp.keys.join(" "));
    }
    if let Some(g) = &sp.message_group {
        set(SHARDING_KEY, g);
    }
    if let Some(t) = &sp.trace_context {
        if !t.is_empty() {
            set(TRACE_CONTEXT, t);
        }
    }
    if let Some(dt) = &sp.delivery_timestamp {
        let at = ms_of(dt);
        let remaining = at.saturating_sub(now_millis());
        let timer = b.timer.config();
        // Apache's proxy bound (1 day) and, with the timer, the broker's timerMaxDelaySec.
        let max_ms =
            if timer.enable { MAX_DELAY_MS.min(timer.max_delay_ms()) } else { MAX_DELAY_MS };
        if remaining > max_ms {
            return Err((
                Code::IllegalDeliveryTime,
                format!("delivery time is more than {} s ahead", max_ms / 1000),
            ));
        }
        if remaining > 0 {
            // The timer (put_inner's intercept) delivers at this millisecond.
            set(TIMER_DELIVER_MS, &at.to_string());
            if !timer.enable {
                // timerWheelEnable=false: the nearest delay level instead (a DELAY property
                // takes precedence over the TIMER_* ones).
                let level = delay_level_for(&b.cfg.delay_levels_ms(), remaining);
                set(DELAY, &level.to_string());
            }
        }
    }
    let transactional = ty == MessageType::Transaction;
    let mut sys_flag = 0;
    if transactional {
        set(TRAN_MSG, "true");
        set(PGROUP, &topic);
        sys_flag = sysflag::TRANSACTION_PREPARED_TYPE;
        if let Some(d) = &sp.orphaned_transaction_recovery_duration {
            let ms = dur_ms(d);
            if !(0..=MAX_RECOVERY_MS).contains(&ms) {
                return Err((
                    Code::BadRequest,
                    "orphaned transaction recovery duration above 1 h".into(),
                ));
            }
            set(CHECK_IMMUNITY_TIME_IN_SECONDS, &(ms / 1000).to_string());
        }
    }
    if sp.body_encoding == Encoding::Gzip as i32 {
        sys_flag |= sysflag::COMPRESSED_FLAG;
    }
    let born = sp.born_timestamp.as_ref().map(ms_of).unwrap_or_else(now_millis);
    let inner = MessageExtBrokerInner {
        topic,
        queue_id: -1,
        flag: 0,
        sys_flag,
        born_timestamp: born,
        born_host: peer,
        store_host: b.store_host,
        reconsume_times: sp.delivery_attempt.unwrap_or(1).saturating_sub(1).max(0),
        body: m.body.clone(),
        properties: add_cluster(b, props),
        ..Default::default()
    };
    Ok(Prepared { inner, message_id: sp.message_id.clone(), transactional })
}

impl GrpcService {
    async fn send_one(&self, m: &Message, peer: SocketAddr) -> SendResultEntry {
        let b = &self.b;
        let refuse = |(code, msg): Refusal| SendResultEntry {
            status: status(code, msg),
            ..Default::default()
        };
        let p = match validate(b, m, peer) {
            Ok(p) => p,
            Err(r) => return refuse(r),
        };
        let Prepared { mut inner, message_id, transactional } = p;
        // Message groups hash to one queue (order kept); others go round robin via check().
        let group = property::get_property(&inner.properties, SHARDING_KEY).map(java_hash);
        let queue_id = match (group, b.topics.queue_info(&inner.topic)) {
            (Some(h), Some((w, _, _, _))) if w > 0 => (h.unsigned_abs() % w as u32) as i32,
            _ => -1,
        };
        let h = SendMessageRequestHeader {
            producer_group: inner.topic.clone(),
            topic: std::mem::take(&mut inner.topic),
            default_topic: mq_common::protocol::body::system_topics::TBW102.into(),
            default_topic_queue_nums: 4,
            queue_id,
            sys_flag: inner.sys_flag,
            born_timestamp: inner.born_timestamp,
            flag: 0,
            properties: None,
            reconsume_times: Some(inner.reconsume_times),
            unit_mode: None,
            batch: None,
            max_reconsume_times: None,
            broker_name: None,
        };
        let (h, queue_id, multi, counters) = match check(b, h, peer.ip()) {
            Ok(v) => v,
            Err(resp) => {
                return refuse((code_of_remoting(resp.code), resp.remark.unwrap_or_default()))
            }
        };
        inner.topic = h.topic;
        inner.queue_id = queue_id;
        if multi {
            inner.sys_flag |= sysflag::MULTI_TAGS_FLAG;
        }
        let topic = inner.topic.clone();
        // Counted as a remoting send is (None when metrics are off or for retry/DLQ topics).
        let counted = counters.map(|t| {
            (t, StoredType::of_send(inner.sys_flag, Some(&inner.properties)), inner.body.len())
        });
        let put = match put_inner(b, inner).await {
            Ok(p) => p,
            Err(resp) => {
                return refuse((code_of_remoting(resp.code), resp.remark.unwrap_or_default()))
            }
        };
        // Durable, then (SYNC_MASTER) held by a slave, as a remoting send.
        let r = b.ha.replicated(put.durable().await).await;
        let st = r.status;
        if !st.is_stored() {
            b.stats.put_failures.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            return refuse((code_of_put(st), format!("{st:?} {}", r.remark)));
        }
        b.stats.put_msgs.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        if let Some((t, ty, bytes)) = counted {
            t.add(ty, 1, bytes);
        }
        let tx = if transactional {
            let id = super::transaction::tx_id(&message_id, r.wrote_offset, r.queue_offset);
            self.b.grpc.transactions.remember(&id, &topic, r.wrote_offset, r.queue_offset);
            id
        } else {
            String::new()
        };
        SendResultEntry {
            status: if st == PutMessageStatus::PutOk {
                ok()
            } else {
                status(code_of_put(st), format!("{st:?}"))
            },
            message_id: message_id.clone(),
            transaction_id: tx,
            offset: r.queue_offset,
            recall_handle: String::new(),
        }
    }

    /// SendMessage.
    pub(crate) async fn send_message(
        &self,
        req: SendMessageRequest,
        peer: SocketAddr,
    ) -> SendMessageResponse {
        if req.messages.is_empty() {
            return SendMessageResponse {
                status: status(Code::BadRequest, "no message to send"),
                entries: vec![],
            };
        }
        let mut entries = Vec::with_capacity(req.messages.len());
        for m in &req.messages {
            entries.push(self.send_one(m, peer).await);
        }
        SendMessageResponse { status: overall(entries.iter().map(|e| &e.status)), entries }
    }
}

#[cfg(test)]
mod tests {
    use super::delay_level_for;

    #[test]
    fn delay_level_rounds_up_strictly() {
        let levels = [1000, 5000, 10_000];
        assert_eq!(delay_level_for(&levels, 500), 1);
        assert_eq!(delay_level_for(&levels, 1000), 2);
        assert_eq!(delay_level_for(&levels, 3000), 2);
        assert_eq!(delay_level_for(&levels, 60_000), 3);
    }
}
