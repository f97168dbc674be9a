//! `loadHistory` and `loadMissedMessages`, answered from the broker only (design §4.6).
//!
//! All events of a room live in one `chat_inbox` queue (`shard(rid)`), so both can fall back
//! to scanning that queue by offset; `loadHistory` first tries the key index (`c:<rid>`), which
//! is exact whenever the broker did not cap the answer.

use std::sync::Arc;

use chat_proto::bodies::{Inbox, InboxMsg};
use chat_proto::cursor::Cursor;
use chat_proto::ddp::{parse_date, MeteorError};
use chat_proto::ids::{shard, Room};
use chat_proto::topics::{conversation_key, PROP_RID, TAG_MSG};
use mq_client::{MessageExt, MessageQueue};
use mq_common::protocol::now_millis;
use serde_json::{json, Value};

use super::conn::Auth;
use super::state::Gateway;

/// The broker's per-query cap (`maxMsgsNumBatch`): an answer this long may be truncated.
const QUERY_CAP: i32 = 64;
/// Messages per pull while scanning.
const PAGE: i32 = 32;

fn internal(e: anyhow::Error) -> MeteorError {
    tracing::warn!(error = %e, "history read failed");
    MeteorError::new(503, "broker-unavailable")
}

fn check_room(auth: &Auth, rid: Option<&Value>) -> Result<String, MeteorError> {
    let rid = rid.and_then(Value::as_str).ok_or_else(|| MeteorError::new(400, "invalid-params"))?;
    Room::parse(rid).map_err(|_| MeteorError::new(400, "invalid-room"))?;
    if !auth.claims.can_read(rid) {
        return Err(MeteorError::new(403, "not-allowed"));
    }
    Ok(rid.to_string())
}

/// The message of a record, if it is a `msg` event of `rid` visible to `auth`.
fn visible(auth: &Auth, rid: &str, m: &MessageExt) -> Option<InboxMsg> {
    if m.property(PROP_RID) != Some(rid) {
        return None;
    }
    let body = m.body_uncompressed(16 * 1024 * 1024).ok()?;
    match serde_json::from_slice::<Inbox>(&body).ok()? {
        Inbox::Msg(msg) if msg.rid == rid && msg.addressed_to(&auth.claims.sub).unwrap_or(true) => {
            Some(msg)
        }
        _ => None,
    }
}

/// The queue of a room and its broker address.
async fn room_queue(gw: &Gateway, rid: &str) -> Result<(MessageQueue, String), MeteorError> {
    let qs = gw.inbox.queues().await.map_err(internal)?;
    if qs.len() as i32 != gw.cfg.common.chat_queues {
        return Err(MeteorError::new(409, "cursor-epoch"));
    }
    let want = shard(rid, qs.len()) as i32;
    qs.into_iter()
        .find(|(q, _)| q.queue_id == want)
        .ok_or_else(|| MeteorError::new(503, "broker-unavailable"))
}

/// `loadHistory(rid, end, limit)`: newest first, `{messages, unreadNotLoaded:0}`.
pub async fn load_history(
    gw: &Arc<Gateway>,
    auth: &Auth,
    params: &[Value],
) -> Result<Value, MeteorError> {
    let rid = check_room(auth, params.first())?;
    let end = params.get(1).and_then(parse_date).unwrap_or_else(now_millis);
    let limit = params.get(2).and_then(Value::as_u64).unwrap_or(20).clamp(1, 500) as usize;
    let begin = end - gw.cfg.history_window.as_millis() as i64;
    let (mq, addr) = room_queue(gw, &rid).await?;
    let cursor_of = |m: &MessageExt| Cursor {
        queues: gw.cfg.common.chat_queues,
        queue: m.queue_id,
        offset: m.queue_offset,
    };

    // 1. The key index.
    let mut found: Vec<(Cursor, InboxMsg)> = Vec::new();
    let mut exact = false;
    if limit as i32 * 2 <= QUERY_CAP {
        // First the recent window; if that is short of `limit`, the whole retention.
        for from in [begin, 0] {
            let hits = gw
                .inbox
                .query_key(&conversation_key(&rid), QUERY_CAP, from, end)
                .await
                .map_err(internal)?;
            exact = (hits.len() as i32) < QUERY_CAP;
            found = hits
                .iter()
                .filter_map(|m| {
                    visible(auth, &rid, m).filter(|x| x.ts < end).map(|x| (cursor_of(m), x))
                })
                .collect();
            if !exact || found.len() >= limit {
                break;
            }
        }
    }
    // 2. Otherwise scan the room's queue backwards (exact, bounded by GAPFILL_MAX_SCAN).
    if !exact {
        found.clear();
        let min = gw.inbox.min_offset(&mq, &addr).await.map_err(internal)?;
        let mut hi = gw.inbox.max_offset(&mq, &addr).await.map_err(internal)?;
        let mut scanned = 0usize;
        while hi > min && found.len() < limit && scanned < gw.cfg.gapfill_max_scan {
            let lo = (hi - PAGE as i64).max(min);
            let page =
                gw.inbox.pull(&mq, &addr, TAG_MSG, lo, (hi - lo) as i32).await.map_err(internal)?;
            scanned += (hi - lo) as usize;
            let mut chunk: Vec<(Cursor, InboxMsg)> = page
                .messages
                .iter()
                .filter(|m| m.queue_offset < hi)
                .filter_map(|m| {
                    visible(auth, &rid, m).filter(|x| x.ts < end).map(|x| (cursor_of(m), x))
                })
                .collect();
            chunk.reverse();
            found.extend(chunk);
            hi = lo;
        }
    }
    found.sort_by_key(|x| std::cmp::Reverse(x.0));
    // The index may hold a duplicate published during an observer failover: keep the first.
    let mut seen = std::collections::HashSet::new();
    let messages: Vec<Value> = found
        .into_iter()
        .filter(|(_, m)| seen.insert(m.id.clone()))
        .take(limit)
        .map(|(c, m)| m.to_ddp(Some(c)))
        .collect();
    Ok(json!({"messages": messages, "unreadNotLoaded": 0}))
}

/// `loadMissedMessages(rid, start)`: oldest first, everything after a cursor or a date.
pub async fn load_missed(
    gw: &Arc<Gateway>,
    auth: &Auth,
    params: &[Value],
) -> Result<Value, MeteorError> {
    let rid = check_room(auth, params.first())?;
    let (mq, addr) = room_queue(gw, &rid).await?;
    let start = params.get(1).ok_or_else(|| MeteorError::new(400, "invalid-params"))?;
    let mut offset = if let Some(s) = start.as_str() {
        let c: Cursor = s.parse().map_err(|_| MeteorError::new(400, "invalid-cursor"))?;
        if c.queues != gw.cfg.common.chat_queues || c.queue != mq.queue_id {
            return Err(MeteorError::new(409, "cursor-epoch"));
        }
        c.offset + 1
    } else {
        let ts = parse_date(start).ok_or_else(|| MeteorError::new(400, "invalid-params"))?;
        gw.inbox.search_offset(&mq, &addr, ts).await.map_err(internal)?
    };
    let max = gw.inbox.max_offset(&mq, &addr).await.map_err(internal)?;
    let mut out = Vec::new();
    let mut seen = std::collections::HashSet::new();
    let mut scanned = 0usize;
    while offset < max {
        if scanned >= gw.cfg.gapfill_max_scan {
            return Err(MeteorError::new(413, "too-many-missed-messages"));
        }
        let page = gw.inbox.pull(&mq, &addr, TAG_MSG, offset, PAGE).await.map_err(internal)?;
        scanned += (page.next - offset).max(1) as usize;
        for m in &page.messages {
            if let Some(msg) = visible(auth, &rid, m) {
                if seen.insert(msg.id.clone()) {
                    out.push(msg.to_ddp(Some(Cursor {
                        queues: gw.cfg.common.chat_queues,
                        queue: m.queue_id,
                        offset: m.queue_offset,
                    })));
                }
            }
        }
        if page.next <= offset {
            break;
        }
        offset = page.next;
    }
    Ok(Value::Array(out))
}
