//! Push `chat_inbox` events to the sockets they concern (design §4.7).
//!
//! The gateway consumes `chat_inbox` in broadcasting + orderly mode: every gateway sees every
//! event, per queue in order, so every socket of a room sees one sequence. Duplicates are
//! dropped twice: by message id (gateway-wide) and by cursor (per socket and room).

use std::sync::Arc;

use chat_proto::bodies::{Inbox, InboxMsg};
use chat_proto::cursor::Cursor;
use chat_proto::ddp::server;
use mq_client::MessageExt;
use serde_json::{json, Value};

use super::conn::{Conn, Sub};
use super::state::Gateway;
use super::subs::MY_MESSAGES;

/// Handle one inbox record. Never fails: a bad body is logged and skipped (redelivering it
/// would not make it parse).
pub fn on_inbox(gw: &Arc<Gateway>, m: &MessageExt) {
    let body = match m.body_uncompressed(16 * 1024 * 1024) {
        Ok(b) => b,
        Err(e) => {
            tracing::warn!(error = %e, "undecodable inbox body");
            return;
        }
    };
    let ev: Inbox = match serde_json::from_slice(&body) {
        Ok(e) => e,
        Err(e) => {
            tracing::warn!(error = %e, "unparseable inbox event");
            gw.metrics.inc("chat_inbox_unparseable_total");
            return;
        }
    };
    let cursor =
        Cursor { queues: gw.cfg.common.chat_queues, queue: m.queue_id, offset: m.queue_offset };
    match ev {
        Inbox::Msg(msg) => push_message(gw, &msg, cursor),
        Inbox::Block(b) | Inbox::Unblock(b) => {
            let blocked = m.tags() == Some(chat_proto::topics::TAG_BLOCK);
            for uid in b.recipients.clone().unwrap_or_default() {
                let args = vec![
                    json!("updated"),
                    json!({"_id": b.rid, "rid": b.rid, "blocker": b.blocker, "blocked": b.blocked, "isBlocked": blocked}),
                ];
                notify_user(gw, &uid, "rooms-changed", args);
            }
        }
        Inbox::Read(r) => {
            for uid in r.recipients.clone().unwrap_or_default() {
                notify_user(
                    gw,
                    &uid,
                    "messagesRead",
                    vec![
                        json!({"rid": r.rid, "until": chat_proto::ddp::date(r.until_ts), "uid": r.u.id}),
                    ],
                );
            }
        }
        Inbox::Rejected(r) => {
            for uid in &r.recipients {
                notify_user(
                    gw,
                    uid,
                    "message",
                    vec![json!({"_id": r.id, "rid": r.rid, "rejected": true, "reason": r.reason})],
                );
            }
        }
    }
}

fn push_message(gw: &Arc<Gateway>, msg: &InboxMsg, cursor: Cursor) {
    if !gw.seen.lock().insert(&msg.id) {
        gw.metrics.inc("chat_dedupe_hits_total{layer=\"gateway\"}");
        return;
    }
    let candidates: Vec<Arc<Conn>> = match &msg.recipients {
        Some(r) => r.iter().flat_map(|u| gw.conns_of(u)).collect(),
        // A room message concerns only the sockets subscribed to its room.
        None => gw.conns_in_room(&msg.rid),
    };
    let mut frame: Option<Value> = None;
    let mut pushed = 0;
    for c in candidates {
        let event_name = {
            let mut st = c.state.lock();
            let Some(auth) = &st.auth else { continue };
            let allowed = match msg.addressed_to(&auth.claims.sub) {
                Some(x) => x,
                None => auth.claims.can_read(&msg.rid),
            };
            if !allowed {
                continue;
            }
            let on_room = st.subs.values().any(|s| matches!(s, Sub::Room(r) if *r == msg.rid));
            let on_mine =
                msg.recipients.is_some() && st.subs.values().any(|s| *s == Sub::MyMessages);
            if !on_room && !on_mine {
                continue;
            }
            if st.last_cursor.get(&msg.rid).is_some_and(|last| *last >= cursor) {
                continue;
            }
            st.last_cursor.insert(msg.rid.clone(), cursor);
            if on_room {
                msg.rid.clone()
            } else {
                MY_MESSAGES.to_string()
            }
        };
        let body = frame.get_or_insert_with(|| msg.to_ddp(Some(cursor))).clone();
        if c.send(&server::stream_event("stream-room-messages", &event_name, vec![body])) {
            pushed += 1;
        }
    }
    gw.metrics.add("chat_pushed_total", pushed);
    // Notifications to the other recipients.
    if let Some(rcpts) = &msg.recipients {
        for uid in rcpts.iter().filter(|u| **u != msg.u.id) {
            let args = vec![json!({
                "title": msg.u.username, "text": msg.msg,
                "payload": {"_id": msg.id, "rid": msg.rid, "sender": {"_id": msg.u.id, "username": msg.u.username}, "type": msg.t},
            })];
            notify_user(gw, uid, "notification", args);
        }
    }
}

/// Send a `stream-notify-user` `<uid>/<event>` to the user's sockets that subscribed to it.
pub fn notify_user(gw: &Arc<Gateway>, uid: &str, event: &str, args: Vec<Value>) {
    let name = format!("{uid}/{event}");
    for c in gw.conns_of(uid) {
        let subscribed =
            c.state.lock().subs.values().any(|s| matches!(s, Sub::NotifyUser(n) if *n == name));
        if subscribed {
            c.send(&server::stream_event("stream-notify-user", &name, args.clone()));
        }
    }
}
