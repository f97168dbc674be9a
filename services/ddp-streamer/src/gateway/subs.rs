//! DDP subscriptions (design §4.2 "Subscriptions"): `stream-room-messages` and
//! `stream-notify-user`; other names go to extensions, then `nosub` 404.

use std::sync::Arc;

use chat_proto::ddp::{server, MeteorError};
use chat_proto::ids::Room;
use serde_json::Value;

use super::conn::{Conn, Sub};
use super::state::Gateway;

/// `stream-room-messages` event name for every message addressed to the user.
pub const MY_MESSAGES: &str = "__my_messages__";

/// Handle `sub`.
pub fn subscribe(gw: &Arc<Gateway>, conn: &Arc<Conn>, id: &str, name: &str, params: &[Value]) {
    let r = match name {
        "stream-room-messages" | "stream-notify-user" => chat_sub(conn, name, params),
        _ => {
            let mut r = Err(MeteorError::new(404, format!("Subscription '{name}' not found")));
            for ext in &gw.extensions {
                if let Some(x) = ext.subscribe(conn, id, name, params) {
                    r = x.map(|_| Sub::Extension);
                    break;
                }
            }
            r
        }
    };
    match r {
        Ok(sub) => {
            if let Sub::Room(rid) = &sub {
                gw.join_room(rid, conn.id);
            }
            // Re-using a sub id replaces the old subscription.
            let old = conn.state.lock().subs.insert(id.to_string(), sub);
            if let Some(Sub::Room(rid)) = old {
                leave_if_unsubscribed(gw, conn, &rid);
            }
            conn.send(&server::ready(id));
        }
        Err(e) => {
            conn.send(&server::nosub(id, Some(&e)));
        }
    }
}

fn chat_sub(conn: &Arc<Conn>, name: &str, params: &[Value]) -> Result<Sub, MeteorError> {
    let Some(auth) = conn.auth() else {
        return Err(MeteorError::new(401, "not-logged-in"));
    };
    let event = params
        .first()
        .and_then(Value::as_str)
        .ok_or_else(|| MeteorError::new(400, "invalid-params"))?;
    if name == "stream-room-messages" {
        if event == MY_MESSAGES {
            return Ok(Sub::MyMessages);
        }
        Room::parse(event).map_err(|_| MeteorError::new(400, "invalid-room"))?;
        if !auth.claims.can_read(event) {
            return Err(MeteorError { error: "not-allowed".into(), reason: "not-allowed".into() });
        }
        return Ok(Sub::Room(event.to_string()));
    }
    // stream-notify-user: "<uid>/<event>", only for oneself.
    let (uid, ev) = event.split_once('/').ok_or_else(|| MeteorError::new(400, "invalid-params"))?;
    if uid != auth.claims.sub || ev.is_empty() {
        return Err(MeteorError { error: "not-allowed".into(), reason: "not-allowed".into() });
    }
    Ok(Sub::NotifyUser(event.to_string()))
}

/// Handle `unsub`: always answered with `nosub`.
pub fn unsubscribe(gw: &Arc<Gateway>, conn: &Arc<Conn>, id: &str) {
    let old = conn.state.lock().subs.remove(id);
    match old {
        Some(Sub::Extension) => {
            for ext in &gw.extensions {
                ext.unsubscribe(conn, id);
            }
        }
        Some(Sub::Room(rid)) => leave_if_unsubscribed(gw, conn, &rid),
        _ => {}
    }
    conn.send(&server::nosub(id, None));
}

/// Drop `conn` from room `rid`'s index unless another of its subscriptions is to that room.
fn leave_if_unsubscribed(gw: &Gateway, conn: &Conn, rid: &str) {
    let still = conn.state.lock().subs.values().any(|s| matches!(s, Sub::Room(r) if r == rid));
    if !still {
        gw.leave_room(rid, conn.id);
    }
}

/// Drop a closing socket from every room index entry it is in.
pub fn leave_all_rooms(gw: &Gateway, conn: &Conn) {
    let rooms: Vec<String> = conn
        .state
        .lock()
        .subs
        .values()
        .filter_map(|s| match s {
            Sub::Room(r) => Some(r.clone()),
            _ => None,
        })
        .collect();
    for rid in rooms {
        gw.leave_room(&rid, conn.id);
    }
}
