//! The DDP v1 subset spoken at `/websocket` (design §4.2): parsing client frames and building
//! server frames. Frames are JSON text; dates are EJSON `{"$date": ms}`.

use serde_json::{json, Map, Value};

/// WebSocket close codes used by the gateway (Rocket.Chat's DDP Streamer values).
pub mod close {
    /// Graceful shutdown.
    pub const GOING_AWAY: u16 = 1001;
    /// Protocol error: first frame not `connect`, `method`/`sub` without `id`, logout, and
    /// WebSocket-level violations (unmasked client frame, bad opcode or reserved bits).
    pub const PROTOCOL_ERROR: u16 = 1002;
    /// Invalid payload: unparseable, binary or non-UTF-8 frame.
    pub const UNSUPPORTED_DATA: u16 = 1007;
    /// Policy violation: not logged in within `LOGIN_TIMEOUT`.
    pub const POLICY_VIOLATION: u16 = 1008;
    /// A message larger than the gateway accepts (1 MiB).
    pub const MESSAGE_TOO_BIG: u16 = 1009;
    /// Slow consumer: the outbound buffer overflowed.
    pub const TRY_AGAIN_LATER: u16 = 1013;
    /// No frame from the client for `CONNECTION_TIMEOUT`.
    pub const TIMEOUT: u16 = 4000;
    /// The login token expired while connected.
    pub const TOKEN_EXPIRED: u16 = 4001;
}

/// A frame received from a client.
#[derive(Debug, Clone, PartialEq)]
pub enum ClientFrame {
    /// `connect {version, support}`.
    Connect {
        /// Proposed version.
        version: String,
        /// Supported versions.
        support: Vec<String>,
    },
    /// `ping {id?}`.
    Ping(Option<Value>),
    /// `pong {id?}`.
    Pong,
    /// `method {id, method, params}`.
    Method {
        /// Call id.
        id: String,
        /// Method name.
        method: String,
        /// Parameters (empty when absent).
        params: Vec<Value>,
    },
    /// `sub {id, name, params}`.
    Sub {
        /// Subscription id.
        id: String,
        /// Publication name.
        name: String,
        /// Parameters.
        params: Vec<Value>,
    },
    /// `unsub {id}`.
    Unsub {
        /// Subscription id.
        id: String,
    },
    /// A JSON object with an unknown or missing `msg`: answered with an `error` frame.
    Unknown(Value),
}

/// Why a frame could not be turned into a [`ClientFrame`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FrameError {
    /// Not a JSON object: close 1007.
    #[error("unparseable frame")]
    Unparseable,
    /// A `method`/`sub`/`unsub` lacking a required field: close 1002.
    #[error("malformed {0}")]
    Malformed(&'static str),
}

fn string_id(v: Option<&Value>) -> Option<String> {
    match v? {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

fn params(v: Option<&Value>) -> Vec<Value> {
    match v {
        Some(Value::Array(a)) => a.clone(),
        _ => Vec::new(),
    }
}

/// Parse one text frame.
pub fn parse_client(text: &str) -> Result<ClientFrame, FrameError> {
    let v: Value = serde_json::from_str(text).map_err(|_| FrameError::Unparseable)?;
    let Value::Object(o) = &v else { return Err(FrameError::Unparseable) };
    let msg = o.get("msg").and_then(Value::as_str).unwrap_or("");
    Ok(match msg {
        "connect" => ClientFrame::Connect {
            version: o.get("version").and_then(Value::as_str).unwrap_or("").to_string(),
            support: params(o.get("support"))
                .iter()
                .filter_map(|s| s.as_str().map(str::to_string))
                .collect(),
        },
        "ping" => ClientFrame::Ping(o.get("id").cloned()),
        "pong" => ClientFrame::Pong,
        "method" => {
            let id = string_id(o.get("id")).ok_or(FrameError::Malformed("method"))?;
            let method = o
                .get("method")
                .and_then(Value::as_str)
                .ok_or(FrameError::Malformed("method"))?
                .to_string();
            ClientFrame::Method { id, method, params: params(o.get("params")) }
        }
        "sub" => {
            let id = string_id(o.get("id")).ok_or(FrameError::Malformed("sub"))?;
            let name = o
                .get("name")
                .and_then(Value::as_str)
                .ok_or(FrameError::Malformed("sub"))?
                .to_string();
            ClientFrame::Sub { id, name, params: params(o.get("params")) }
        }
        "unsub" => {
            ClientFrame::Unsub { id: string_id(o.get("id")).ok_or(FrameError::Malformed("unsub"))? }
        }
        _ => ClientFrame::Unknown(v.clone()),
    })
}

/// A Meteor.Error: `{error, reason, message, errorType:"Meteor.Error"}`.
#[derive(Debug, Clone, PartialEq)]
pub struct MeteorError {
    /// Numeric (HTTP-like) or string code.
    pub error: Value,
    /// Short machine-readable reason.
    pub reason: String,
}

impl MeteorError {
    /// An error with a numeric code.
    pub fn new(code: u16, reason: impl Into<String>) -> Self {
        MeteorError { error: json!(code), reason: reason.into() }
    }

    /// The JSON shape.
    pub fn to_json(&self) -> Value {
        let code = match &self.error {
            Value::String(s) => s.clone(),
            other => other.to_string(),
        };
        json!({
            "isClientSafe": true,
            "error": self.error,
            "reason": self.reason,
            "message": format!("{} [{}]", self.reason, code),
            "errorType": "Meteor.Error",
        })
    }
}

/// EJSON date.
pub fn date(ms: i64) -> Value {
    json!({ "$date": ms })
}

/// Read an EJSON date (`{"$date": ms}`) or a bare number of ms.
pub fn parse_date(v: &Value) -> Option<i64> {
    match v {
        Value::Number(n) => n.as_i64(),
        Value::Object(o) => o.get("$date").and_then(Value::as_i64),
        _ => None,
    }
}

/// Server frames.
pub mod server {
    use super::*;

    /// `connected {session}`.
    pub fn connected(session: &str) -> Value {
        json!({"msg": "connected", "session": session})
    }
    /// `failed {version:"1"}`.
    pub fn failed() -> Value {
        json!({"msg": "failed", "version": "1"})
    }
    /// `ping`.
    pub fn ping() -> Value {
        json!({"msg": "ping"})
    }
    /// `pong {id?}`.
    pub fn pong(id: Option<Value>) -> Value {
        match id {
            Some(id) => json!({"msg": "pong", "id": id}),
            None => json!({"msg": "pong"}),
        }
    }
    /// `result {id, result}`.
    pub fn result(id: &str, result: Value) -> Value {
        json!({"msg": "result", "id": id, "result": result})
    }
    /// `result {id, error}`.
    pub fn result_error(id: &str, err: &MeteorError) -> Value {
        json!({"msg": "result", "id": id, "error": err.to_json()})
    }
    /// `updated {methods:[id]}`.
    pub fn updated(id: &str) -> Value {
        json!({"msg": "updated", "methods": [id]})
    }
    /// `ready {subs:[id]}`.
    pub fn ready(id: &str) -> Value {
        json!({"msg": "ready", "subs": [id]})
    }
    /// `nosub {id, error?}`.
    pub fn nosub(id: &str, err: Option<&MeteorError>) -> Value {
        match err {
            Some(e) => json!({"msg": "nosub", "id": id, "error": e.to_json()}),
            None => json!({"msg": "nosub", "id": id}),
        }
    }
    /// A stream event: `changed` on the pseudo-collection `collection`.
    pub fn stream_event(collection: &str, event_name: &str, args: Vec<Value>) -> Value {
        let mut fields = Map::new();
        fields.insert("eventName".into(), json!(event_name));
        fields.insert("args".into(), Value::Array(args));
        json!({"msg": "changed", "collection": collection, "id": "id", "fields": fields})
    }
    /// Top-level `error {reason, offendingMessage}`.
    pub fn error(reason: &str, offending: Value) -> Value {
        json!({"msg": "error", "reason": reason, "offendingMessage": offending})
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_subset() {
        assert_eq!(
            parse_client(r#"{"msg":"connect","version":"1","support":["1","pre2"]}"#).unwrap(),
            ClientFrame::Connect { version: "1".into(), support: vec!["1".into(), "pre2".into()] }
        );
        assert_eq!(
            parse_client(r#"{"msg":"ping","id":"7"}"#).unwrap(),
            ClientFrame::Ping(Some(json!("7")))
        );
        assert_eq!(
            parse_client(r#"{"msg":"method","id":1,"method":"m"}"#).unwrap(),
            ClientFrame::Method { id: "1".into(), method: "m".into(), params: vec![] }
        );
        assert_eq!(
            parse_client(r#"{"msg":"sub","id":"s","name":"n","params":[1]}"#).unwrap(),
            ClientFrame::Sub { id: "s".into(), name: "n".into(), params: vec![json!(1)] }
        );
        assert!(matches!(parse_client(r#"{"msg":"nope"}"#).unwrap(), ClientFrame::Unknown(_)));
    }

    #[test]
    fn errors() {
        assert_eq!(parse_client("garbage"), Err(FrameError::Unparseable));
        assert_eq!(parse_client("[1]"), Err(FrameError::Unparseable));
        assert_eq!(
            parse_client(r#"{"msg":"method","method":"m"}"#),
            Err(FrameError::Malformed("method"))
        );
        assert_eq!(parse_client(r#"{"msg":"sub","id":"1"}"#), Err(FrameError::Malformed("sub")));
    }

    #[test]
    fn frames() {
        let e = MeteorError::new(404, "Method 'x' not found");
        let r = server::result_error("1", &e);
        assert_eq!(r["error"]["error"], json!(404));
        assert_eq!(r["error"]["errorType"], json!("Meteor.Error"));
        let ev = server::stream_event("stream-room-messages", "r_x", vec![json!({"a":1})]);
        assert_eq!(ev["fields"]["eventName"], json!("r_x"));
        assert_eq!(parse_date(&date(5)), Some(5));
        assert_eq!(parse_date(&json!(6)), Some(6));
        assert_eq!(parse_date(&json!(null)), None);
    }
}
