//! DDP methods (design §4.2 "Methods"). Each call answers `result` then `updated`.

use std::sync::Arc;

use chat_proto::bodies::{BlockBody, Outgoing, OutgoingMsg, ReadBody, UserRef};
use chat_proto::ddp::{close, date, server, MeteorError};
use chat_proto::ids::{dm_rid, random_id, validate_msg_id, Room};
use chat_proto::jwt::{self, JwtError};
use chat_proto::topics::{conversation_key, CHAT_OUTGOING, PROP_GW, PROP_JWT, PROP_RID, PROP_V};
use mq_client::Message;
use mq_common::protocol::now_millis;
use serde_json::{json, Value};

use super::conn::{Auth, Conn};
use super::state::Gateway;
use crate::broker::ShardSelector;

type MethodResult = Result<Value, MeteorError>;

/// Run method `method` for `conn` and send its `result` + `updated` frames.
pub async fn run(gw: &Arc<Gateway>, conn: &Arc<Conn>, id: &str, method: &str, params: Vec<Value>) {
    let started = std::time::Instant::now();
    let r = dispatch(gw, conn, method, &params).await;
    match &r {
        Ok(v) => {
            conn.send(&server::result(id, v.clone()));
        }
        Err(e) => {
            gw.metrics.inc(&format!(
                "ddp_method_errors_total{{method=\"{}\",error=\"{}\"}}",
                metric_name(method),
                e.reason
            ));
            conn.send(&server::result_error(id, e));
        }
    }
    conn.send(&server::updated(id));
    gw.metrics.add(
        &format!("ddp_method_duration_us_total{{method=\"{}\"}}", metric_name(method)),
        started.elapsed().as_micros() as i64,
    );
    gw.metrics.inc(&format!("ddp_method_calls_total{{method=\"{}\"}}", metric_name(method)));
    if method == "logout" && r.is_ok() {
        conn.close(close::PROTOCOL_ERROR, "logout");
    }
}

/// Keep metric label values bounded: unknown method names are folded together.
fn metric_name(m: &str) -> &str {
    match m {
        "login"
        | "logout"
        | "sendMessage"
        | "createDirectMessage"
        | "loadHistory"
        | "loadMissedMessages"
        | "readMessages"
        | "blockUser"
        | "unblockUser" => m,
        _ => "other",
    }
}

async fn dispatch(
    gw: &Arc<Gateway>,
    conn: &Arc<Conn>,
    method: &str,
    params: &[Value],
) -> MethodResult {
    if method == "login" {
        return login(gw, conn, params);
    }
    let known = matches!(
        method,
        "logout"
            | "sendMessage"
            | "createDirectMessage"
            | "loadHistory"
            | "loadMissedMessages"
            | "readMessages"
            | "blockUser"
            | "unblockUser"
    );
    if !known {
        for ext in &gw.extensions {
            if let Some(fut) = ext.method(conn, method, params) {
                return fut.await;
            }
        }
        return Err(MeteorError::new(404, format!("Method '{method}' not found")));
    }
    let Some(auth) = conn.auth() else {
        return Err(MeteorError::new(401, "not-logged-in"));
    };
    match method {
        "logout" => {
            logout(gw, conn);
            Ok(Value::Null)
        }
        "sendMessage" => send_message(gw, conn, &auth, params).await,
        "createDirectMessage" => {
            let other = params
                .first()
                .and_then(Value::as_str)
                .ok_or_else(|| MeteorError::new(400, "invalid-params"))?;
            let rid = dm_rid(&auth.claims.sub, other)
                .map_err(|_| MeteorError::new(400, "invalid-user"))?;
            if !auth.claims.can_write(&rid) {
                return Err(MeteorError::new(403, "not-allowed"));
            }
            Ok(json!({"rid": rid, "_id": rid, "t": "d", "usernames": [auth.claims.sub, other]}))
        }
        "loadHistory" => super::history::load_history(gw, &auth, params).await,
        "loadMissedMessages" => super::history::load_missed(gw, &auth, params).await,
        "readMessages" => {
            let rid = readable_rid(&auth, params.first())?;
            let body = Outgoing::Read(ReadBody {
                v: 1,
                id: new_id(),
                rid: rid.clone(),
                u: user_ref(&auth),
                until_ts: now_millis(),
                recipients: None,
            });
            publish(gw, &auth, conn, &body).await?;
            Ok(Value::Null)
        }
        "blockUser" | "unblockUser" => block(gw, conn, &auth, method == "blockUser", params).await,
        _ => unreachable!("filtered by `known`"),
    }
}

fn login(gw: &Arc<Gateway>, conn: &Arc<Conn>, params: &[Value]) -> MethodResult {
    let token = params
        .first()
        .and_then(|p| p.get("resume"))
        .and_then(Value::as_str)
        .ok_or_else(|| MeteorError::new(400, "invalid-params"))?;
    let claims = jwt::verify(
        token,
        &gw.cfg.common.jwt_secret,
        &gw.cfg.common.jwt_audience,
        now_millis() / 1000,
        0,
    )
    .map_err(|e| match e {
        JwtError::Expired => MeteorError::new(403, "token-expired"),
        JwtError::Invalid => MeteorError::new(403, "invalid-token"),
    })?;
    // A second login replaces the binding: the old user logs out first.
    if conn.auth().is_some() {
        logout(gw, conn);
    }
    let uid = claims.sub.clone();
    let exp = claims.exp;
    conn.state.lock().auth = Some(Auth { claims, token: token.to_string() });
    gw.bind_user(&uid, conn.id);
    let info = conn.info();
    for ext in &gw.extensions {
        ext.on_login(&info);
    }
    Ok(json!({"id": uid, "token": token, "tokenExpires": date(exp * 1000), "type": "resume"}))
}

fn logout(gw: &Arc<Gateway>, conn: &Arc<Conn>) {
    let info = conn.info();
    let old = conn.state.lock().auth.take();
    if let Some(a) = old {
        gw.unbind_user(&a.claims.sub, conn.id);
        for ext in &gw.extensions {
            ext.on_logout(&info);
        }
    }
}

fn user_ref(auth: &Auth) -> UserRef {
    UserRef { id: auth.claims.sub.clone(), username: auth.claims.username().to_string() }
}

fn new_id() -> String {
    random_id(&rand::random())
}

fn readable_rid(auth: &Auth, v: Option<&Value>) -> Result<String, MeteorError> {
    let rid = v.and_then(Value::as_str).ok_or_else(|| MeteorError::new(400, "invalid-params"))?;
    Room::parse(rid).map_err(|_| MeteorError::new(400, "invalid-room"))?;
    if !auth.claims.can_read(rid) {
        return Err(MeteorError::new(403, "not-allowed"));
    }
    Ok(rid.to_string())
}

async fn send_message(
    gw: &Arc<Gateway>,
    conn: &Arc<Conn>,
    auth: &Auth,
    params: &[Value],
) -> MethodResult {
    let p = params
        .first()
        .and_then(Value::as_object)
        .ok_or_else(|| MeteorError::new(400, "invalid-message"))?;
    let rid = p
        .get("rid")
        .and_then(Value::as_str)
        .ok_or_else(|| MeteorError::new(400, "invalid-message"))?;
    Room::parse(rid).map_err(|_| MeteorError::new(400, "invalid-room"))?;
    if !auth.claims.can_write(rid) {
        return Err(MeteorError::new(403, "not-allowed"));
    }
    let text = p
        .get("msg")
        .and_then(Value::as_str)
        .ok_or_else(|| MeteorError::new(400, "invalid-message"))?;
    if text.chars().count() > gw.cfg.max_message_length {
        return Err(MeteorError::new(400, "invalid-message"));
    }
    let id = match p.get("_id").and_then(Value::as_str) {
        Some(id) => {
            validate_msg_id(id).map_err(|_| MeteorError::new(400, "invalid-message"))?;
            id.to_string()
        }
        None => {
            // Without a client id a retry cannot be recognised; count it.
            gw.metrics.inc("chat_missing_client_id_total");
            new_id()
        }
    };
    let tmid = p.get("tmid").and_then(Value::as_str).map(str::to_string);
    // The sender is the verified JWT subject; a client-supplied `u` is ignored.
    let m = OutgoingMsg {
        v: 1,
        id: id.clone(),
        rid: rid.to_string(),
        msg: text.to_string(),
        tmid,
        u: user_ref(auth),
        gw: gw.cfg.common.instance_id.clone(),
        conn: conn.session.clone(),
        recv_ts: now_millis(),
    };
    let recv_ts = m.recv_ts;
    let u = m.u.clone();
    publish(gw, auth, conn, &Outgoing::Msg(m)).await?;
    Ok(
        json!({"_id": id, "rid": rid, "msg": text, "u": {"_id": u.id, "username": u.username}, "ts": date(recv_ts)}),
    )
}

async fn block(
    gw: &Arc<Gateway>,
    conn: &Arc<Conn>,
    auth: &Auth,
    on: bool,
    params: &[Value],
) -> MethodResult {
    let p = params
        .first()
        .and_then(Value::as_object)
        .ok_or_else(|| MeteorError::new(400, "invalid-params"))?;
    let rid = p
        .get("rid")
        .and_then(Value::as_str)
        .ok_or_else(|| MeteorError::new(400, "invalid-params"))?;
    let blocked = p
        .get("blocked")
        .and_then(Value::as_str)
        .ok_or_else(|| MeteorError::new(400, "invalid-params"))?;
    let room = Room::parse(rid).map_err(|_| MeteorError::new(400, "invalid-room"))?;
    // DM only, the caller a party and `blocked` the other one.
    if room.other_party(&auth.claims.sub) != Some(blocked) || !auth.claims.can_write(rid) {
        return Err(MeteorError::new(403, "not-allowed"));
    }
    let b = BlockBody {
        v: 1,
        id: new_id(),
        rid: rid.to_string(),
        blocker: auth.claims.sub.clone(),
        blocked: blocked.to_string(),
        recv_ts: now_millis(),
        recipients: None,
    };
    publish(gw, auth, conn, &if on { Outgoing::Block(b) } else { Outgoing::Unblock(b) }).await?;
    Ok(json!(true))
}

/// Publish to `chat_outgoing` on the conversation's queue, with the raw JWT as a property so
/// the observer can re-verify it.
async fn publish(
    gw: &Arc<Gateway>,
    auth: &Auth,
    conn: &Arc<Conn>,
    body: &Outgoing,
) -> Result<(), MeteorError> {
    let bytes =
        serde_json::to_vec(body).map_err(|_| MeteorError::new(500, "Internal server error"))?;
    let mut msg = Message::new(CHAT_OUTGOING, bytes);
    msg.set_tags(body.tag());
    msg.set_keys([body.id().to_string(), conversation_key(body.rid())]);
    msg.put_property(PROP_JWT, auth.token.clone());
    msg.put_property(PROP_GW, gw.cfg.common.instance_id.clone());
    msg.put_property(PROP_RID, body.rid().to_string());
    msg.put_property(PROP_V, "1");
    match gw.producer.send_with_selector(msg, &ShardSelector, body.rid()).await {
        Ok(_) => {
            gw.metrics.inc("chat_outgoing_published_total");
            Ok(())
        }
        Err(e) => {
            tracing::warn!(conn = conn.id, error = %e, "publish to chat_outgoing failed");
            gw.metrics.inc("broker_send_failures_total");
            Err(MeteorError::new(503, "broker-unavailable"))
        }
    }
}
