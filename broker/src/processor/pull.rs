//! PULL_MESSAGE (11) / LITE_PULL_MESSAGE (361), spec §2.4: subscription lookup, filters (tags
//! on tagsCode, SQL92 on the record's properties when `enablePropertyFilter` is on), status →
//! code mapping, long polling, commit-offset side effect.

use std::collections::BTreeSet;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use bytes::BytesMut;
use mq_common::filter::MessageFilter;
use mq_common::protocol::body::{SubscriptionData, PERM_READ, SUB_ALL};
use mq_common::protocol::codes::response;
use mq_common::protocol::header::{
    PullMessageRequestHeader, PullMessageResponseHeader, PULL_FLAG_COMMIT_OFFSET,
    PULL_FLAG_SUBSCRIPTION, PULL_FLAG_SUSPEND,
};
use mq_common::protocol::RemotingCommand;
use mq_common::remoting::Channel;

use super::{header, Reply};
use crate::broker::Broker;
use crate::long_polling::ParkSlot;
use crate::store::{GetMessageStatus, ReadFilter};

/// In-memory transfer limits (Java: 256 KiB / 32 messages per pull for page-cache data).
const MAX_TRANSFER_BYTES: i32 = 256 * 1024;
/// Upper bound on messages per pull whatever the client asks.
const MAX_TRANSFER_COUNT: i32 = 1024;
/// Upper bound on a pull response's bytes whatever `maxMsgBytes` asks: half the frame limit,
/// so the response (a first message may exceed the bound, up to `maxMessageSize`) stays a
/// frame every client accepts (issue 16, R4: 2^31-1 asked for more than an i32 frame holds).
const MAX_RESPONSE_BYTES: i32 = (mq_common::protocol::frame::DEFAULT_MAX_FRAME / 2) as i32;

fn reply(code: i32, remark: Option<String>, next: i64, min: i64, max: i64) -> RemotingCommand {
    reply_suggesting(code, remark, next, min, max, 0)
}

fn reply_suggesting(
    code: i32,
    remark: Option<String>,
    next: i64,
    min: i64,
    max: i64,
    suggest: i64,
) -> RemotingCommand {
    let hdr = PullMessageResponseHeader {
        suggest_which_broker_id: suggest,
        next_begin_offset: next,
        min_offset: min,
        max_offset: max,
    };
    let mut r = RemotingCommand::success_with_header(&hdr);
    r.code = code;
    r.remark = remark;
    r
}

/// Start of Java's remark for a SQL92 subscription on a broker without `enablePropertyFilter`.
const NOT_SUPPORTED: &str = "The broker does not support consumer to filter message by";

/// Java answers a non-TAG subscription with SYSTEM_ERROR and this remark unless
/// `enablePropertyFilter` is on.
pub(crate) fn sql_allowed(b: &Broker, sd: &SubscriptionData) -> Result<(), String> {
    if sd.is_tag_type() || b.live.enable_property_filter() {
        Ok(())
    } else {
        Err(format!("{NOT_SUPPORTED} {}", sd.expression_type))
    }
}

/// Error reply that still carries the four required header fields.
fn fail(h_offset: i64, code: i32, remark: String) -> RemotingCommand {
    reply(code, Some(remark), h_offset, 0, 0)
}

/// Process a pull. `allow_suspend` is false when re-running a parked pull.
pub fn process(b: &Arc<Broker>, ch: &Channel, req: RemotingCommand, allow_suspend: bool) -> Reply {
    let h: PullMessageRequestHeader = match header(&req) {
        Ok(h) => h,
        Err(mut e) => {
            let offset = req.ext("queueOffset").and_then(|v| v.parse().ok()).unwrap_or(0);
            let hdr = PullMessageResponseHeader {
                suggest_which_broker_id: 0,
                next_begin_offset: offset,
                min_offset: 0,
                max_offset: 0,
            };
            e.ext_fields.clear();
            mq_common::protocol::CommandHeader::write(&hdr, &mut e.ext_fields);
            return Err(e);
        }
    };
    if !b.readable() {
        return Err(fail(
            h.queue_offset,
            response::NO_PERMISSION,
            format!("the broker[{}] pulling message is forbidden", b.cfg.broker_ip1),
        ));
    }
    let Some(consume_enable) = b.groups.consume_enabled(&h.consumer_group) else {
        return Err(fail(
            h.queue_offset,
            response::SUBSCRIPTION_GROUP_NOT_EXIST,
            format!("subscription group [{}] does not exist", h.consumer_group),
        ));
    };
    if !consume_enable {
        return Err(fail(
            h.queue_offset,
            response::NO_PERMISSION,
            format!("subscription group no permission, {}", h.consumer_group),
        ));
    }
    let Some((_wq, read_q, perm, _)) = b.topics.queue_info(&h.topic) else {
        return Err(fail(
            h.queue_offset,
            response::TOPIC_NOT_EXIST,
            format!("topic[{}] not exist, apply first please!", h.topic),
        ));
    };
    if perm & PERM_READ == 0 {
        return Err(fail(
            h.queue_offset,
            response::NO_PERMISSION,
            format!("the topic[{}] pulling message is forbidden", h.topic),
        ));
    }
    if h.queue_id < 0 || h.queue_id >= read_q {
        return Err(fail(h.queue_offset, response::SYSTEM_ERROR, format!("queueId[{}] is illegal, topic:[{}] topicConfig.readQueueNums:[{read_q}] consumer:[{}]", h.queue_id, h.topic, ch.peer_addr())));
    }
    // The subscription's compiled filter: from the header (compiled through the shared cache)
    // or from the group's registration (compiled when its heartbeat changed it).
    let filter: MessageFilter = if h.sys_flag & PULL_FLAG_SUBSCRIPTION != 0
        && h.subscription.is_some()
    {
        // Same normalisation as the heartbeat path (common `SubscriptionData::normalize`).
        let parsed = SubscriptionData::from_expression(
            &h.topic,
            h.subscription.as_deref().unwrap_or(SUB_ALL),
            h.expression_type.as_deref(),
            h.sub_version.unwrap_or(0),
        )
        .map_err(|e| e.to_string())
        .and_then(|s| {
            sql_allowed(b, &s)?;
            MessageFilter::compile(&s).map_err(|e| e.to_string())
        });
        match parsed {
            Ok(f) => f,
            Err(e) if e.starts_with(NOT_SUPPORTED) => {
                return Err(fail(h.queue_offset, response::SYSTEM_ERROR, e))
            }
            Err(e) => {
                return Err(fail(
                    h.queue_offset,
                    response::SUBSCRIPTION_PARSE_FAILED,
                    format!(
                        "parse the consumer's subscription[{}] failed, group: {}: {e}",
                        h.subscription.as_deref().unwrap_or_default(),
                        h.consumer_group
                    ),
                ))
            }
        }
    } else {
        if !b.consumers.is_online(&h.consumer_group) {
            return Err(fail(
                h.queue_offset,
                response::SUBSCRIPTION_NOT_EXIST,
                format!("the consumer's group info not exist, group: {}", h.consumer_group),
            ));
        }
        let Some(sub) = b.consumers.subscription(&h.consumer_group, &h.topic) else {
            return Err(fail(
                h.queue_offset,
                response::SUBSCRIPTION_NOT_EXIST,
                format!(
                    "the consumer's subscription not exist, group: {} topic: {}",
                    h.consumer_group, h.topic
                ),
            ));
        };
        if sub.sub_version < h.sub_version.unwrap_or(0) {
            return Err(fail(
                h.queue_offset,
                response::SUBSCRIPTION_NOT_LATEST,
                "the consumer's subscription not latest".into(),
            ));
        }
        if let Err(e) = sql_allowed(b, &sub) {
            return Err(fail(h.queue_offset, response::SYSTEM_ERROR, e));
        }
        match &sub.filter {
                Ok(f) => f.clone(),
                // Java: the heartbeat registered no filter data for a bad expression.
                Err(e) => {
                    return Err(fail(
                        h.queue_offset,
                        response::FILTER_DATA_NOT_EXIST,
                        format!(
                            "The broker's consumer filter data is not exist! Your expression may be wrong! group: {} topic: {}: {e}",
                            h.consumer_group, h.topic
                        ),
                    ))
                }
            }
    };

    let max_nums = h.max_msg_nums.clamp(1, MAX_TRANSFER_COUNT);
    let max_bytes =
        h.max_msg_bytes.filter(|v| *v > 0).unwrap_or(MAX_TRANSFER_BYTES).min(MAX_RESPONSE_BYTES);
    let r = b.store.get_message(
        &h.consumer_group,
        &h.topic,
        h.queue_id,
        h.queue_offset,
        max_nums.max(1) as usize,
        max_bytes.max(1) as usize,
        (!matches!(filter, MessageFilter::All)).then_some(&filter as &dyn ReadFilter),
    );

    // Slaves keep the requested offset; masters correct it (§2.4 "corrected X").
    let corrected = |x: i64| if b.is_slave() { h.queue_offset } else { x };
    let (code, next) = match r.status {
        GetMessageStatus::Found => (response::SUCCESS, r.next_begin_offset),
        GetMessageStatus::NoMatchedMessage | GetMessageStatus::MessageWasRemoving => {
            (response::PULL_RETRY_IMMEDIATELY, r.next_begin_offset)
        }
        GetMessageStatus::NoMatchedLogicQueue | GetMessageStatus::NoMessageInQueue => {
            if h.queue_offset != 0 {
                (response::PULL_OFFSET_MOVED, corrected(0))
            } else {
                (response::PULL_NOT_FOUND, 0)
            }
        }
        GetMessageStatus::OffsetFoundNull => (response::PULL_NOT_FOUND, r.next_begin_offset),
        GetMessageStatus::OffsetOverflowOne => (response::PULL_NOT_FOUND, h.queue_offset),
        GetMessageStatus::OffsetOverflowBadly => {
            (response::PULL_OFFSET_MOVED, corrected(r.max_offset))
        }
        GetMessageStatus::OffsetTooSmall => (response::PULL_OFFSET_MOVED, corrected(r.min_offset)),
    };
    let code = if code == response::PULL_OFFSET_MOVED && b.is_slave() {
        response::PULL_RETRY_IMMEDIATELY
    } else {
        code
    };
    // Which replica the consumer should pull from next (docs/ha-protocol.md §8).
    let (code, suggest) = suggest_broker(b, &h.consumer_group, code, &r.messages);

    // Commit-offset side effect: first execution only, masters only.
    if allow_suspend && h.sys_flag & PULL_FLAG_COMMIT_OFFSET != 0 && !b.is_slave() {
        if let Some(off) = h.commit_offset {
            b.offsets.commit(&h.consumer_group, &h.topic, h.queue_id, off);
        }
    }

    if code == response::SUCCESS {
        // A woken pull answers from its own task, outside the reader's backpressure: when its
        // connection already holds more unwritten output than the high-water mark, the
        // messages are not copied and the client is told to pull the same offset again (which
        // it can only send once it drains). Thousands of parked pulls woken at once on a
        // connection that does not read cannot queue thousands of full responses.
        // PULL_NOT_FOUND, not PULL_RETRY_IMMEDIATELY: the latter re-parks a filtered pull
        // (`park`), which here would wake at once and spin.
        if !allow_suspend && ch.unwritten_bytes() > b.cfg.write_buffer_high_water_mark {
            return Ok(Some(reply(
                response::PULL_NOT_FOUND,
                Some("connection output above writeBufferHighWaterMark".into()),
                h.queue_offset,
                r.min_offset,
                r.max_offset,
            )));
        }
        let mut body = BytesMut::with_capacity(r.total_bytes);
        for m in &r.messages {
            body.extend_from_slice(m);
        }
        b.stats.get_msgs.fetch_add(r.messages.len() as u64, Ordering::Relaxed);
        b.stats.add_group_gets(&h.consumer_group, r.messages.len() as u64);
        b.stats.get_bytes.fetch_add(body.len() as u64, Ordering::Relaxed);
        let n = r.messages.len();
        b.metrics.pulled(&h.consumer_group, &h.topic, h.queue_id, n, body.len(), next);
        return Ok(Some(
            reply_suggesting(code, None, next, r.min_offset, r.max_offset, suggest)
                .with_body(body.freeze()),
        ));
    }
    if code == response::PULL_NOT_FOUND && allow_suspend && h.sys_flag & PULL_FLAG_SUSPEND != 0 {
        let hold_ms = if b.live.long_polling_enable() {
            h.suspend_timeout_millis.unwrap_or(15_000).max(0) as u64
        } else {
            b.live.short_polling_time_mills()
        };
        let Some(slot) = b.pull_hold.reserve(ch.id(), b.cfg.max_parked_pulls_per_connection) else {
            // Java clients retry a failed pull after 3 s: backoff, not a busy loop.
            return Err(fail(
                h.queue_offset,
                response::SYSTEM_BUSY,
                format!(
                    "too many parked pulls on this connection (maxParkedPullsPerConnection={})",
                    b.cfg.max_parked_pulls_per_connection
                ),
            ));
        };
        park(b, ch, req, &h, &filter, hold_ms, slot);
        return Ok(None);
    }
    let remark = match code {
        response::PULL_OFFSET_MOVED => {
            Some(format!("offset {} moved: {:?}", h.queue_offset, r.status))
        }
        response::PULL_RETRY_IMMEDIATELY | response::PULL_NOT_FOUND => {
            Some(format!("{:?}", r.status))
        }
        _ => None,
    };
    Ok(Some(reply_suggesting(code, remark, next, r.min_offset, r.max_offset, suggest)))
}

/// Java's `suggestWhichBrokerId`: with `slaveReadEnable`, the group's
/// `whichBrokerWhenConsumeSlowly` when the data read is probably no longer in the page cache
/// (further than `accessMessageInMemoryMaxRatio` % of RAM behind the log's end), else the
/// group's `brokerId`; without it, the master. A slave without `slaveReadEnable` answers
/// PULL_RETRY_IMMEDIATELY whatever it found.
fn suggest_broker(b: &Broker, group: &str, code: i32, msgs: &[bytes::Bytes]) -> (i32, i64) {
    if !b.live.slave_read_enable() {
        let code = if b.is_slave() { response::PULL_RETRY_IMMEDIATELY } else { code };
        return (code, 0);
    }
    let Some(g) = b.groups.get(group) else { return (code, 0) };
    // PHYSICALOFFSET of the first record read (offset 28 of the record layout).
    let first = msgs
        .first()
        .and_then(|m| m.get(28..36))
        .map(|x| i64::from_be_bytes(x.try_into().unwrap_or_default()));
    let behind = first.map(|p| b.store.get_max_phy_offset() - p).unwrap_or(0);
    let slow = behind > in_memory_limit(b.cfg.access_message_in_memory_max_ratio);
    (code, if slow { g.which_broker_when_consume_slowly } else { g.broker_id })
}

/// Bytes of data assumed to be in the page cache: `ratio` % of physical RAM.
fn in_memory_limit(ratio: u64) -> i64 {
    static RAM: std::sync::OnceLock<i64> = std::sync::OnceLock::new();
    let ram = *RAM.get_or_init(|| {
        std::fs::read_to_string("/proc/meminfo")
            .ok()
            .and_then(|s| {
                s.lines()
                    .find_map(|l| l.strip_prefix("MemTotal:"))
                    .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<i64>().ok())
            })
            .map(|kb| kb * 1024)
            .unwrap_or(i64::MAX / 100)
    });
    ram / 100 * ratio as i64
}

/// Park a pull that found nothing; answer on arrival or when `hold_ms` is up.
///
/// Tag filters wake only on a matching tagsCode. A SQL92 filter cannot be checked on arrival
/// (the hook sees the tagsCode only, and reading properties there would slow every append),
/// so any arrival wakes it; when the re-run finds nothing that matches, the pull parks again
/// from where that scan stopped (until its time is up) instead of sending the client an
/// empty PULL_RETRY_IMMEDIATELY for every non-matching arrival.
fn park(
    b: &Arc<Broker>,
    ch: &Channel,
    req: RemotingCommand,
    h: &PullMessageRequestHeader,
    filter: &MessageFilter,
    hold_ms: u64,
    slot: ParkSlot,
) {
    let codes = filter.tag_codes();
    let refilter = filter.needs_record();
    let deadline = tokio::time::Instant::now() + Duration::from_millis(hold_ms);
    let first = park_at(b, &h.topic, h.queue_id, h.queue_offset, codes.clone());
    let b = b.clone();
    let ch = ch.clone();
    let topic = h.topic.clone();
    let queue_id = h.queue_id;
    tokio::spawn(async move {
        // Held until the pull is answered or its connection closes.
        let _slot = slot;
        let opaque = req.opaque;
        let mut req = req;
        let mut parked = first;
        loop {
            let woken = tokio::select! {
                r = parked.rx => r.is_ok(),
                _ = tokio::time::sleep_until(deadline) => false,
                _ = ch.closed() => { b.pull_hold.forget(&topic, queue_id, parked.id); return; }
            };
            if !woken {
                b.pull_hold.forget(&topic, queue_id, parked.id);
            }
            let Some(resp) = process(&b, &ch, req.clone(), false).unwrap_or_else(Some) else {
                return;
            };
            let next = resp.ext("nextBeginOffset").and_then(|v| v.parse::<i64>().ok());
            if let (true, true, Some(next)) =
                (woken && refilter, resp.code == response::PULL_RETRY_IMMEDIATELY, next)
            {
                if tokio::time::Instant::now() < deadline {
                    req.ext_fields.insert("queueOffset".into(), next.to_string());
                    parked = park_at(&b, &topic, queue_id, next, codes.clone());
                    continue;
                }
            }
            ch.respond(opaque, resp);
            return;
        }
    });
}

/// Register a waiter for offset ≥ `offset`, woken at once if a message is already there.
fn park_at(
    b: &Broker,
    topic: &str,
    queue_id: i32,
    offset: i64,
    codes: Option<Arc<BTreeSet<i32>>>,
) -> crate::long_polling::Parked {
    let parked = b.pull_hold.park(topic, queue_id, offset, codes);
    // A message may have arrived between the read and the park: check once more.
    if b.store.get_max_offset_in_queue(topic, queue_id) > offset {
        b.pull_hold.wake(topic, queue_id, parked.id);
    }
    parked
}
