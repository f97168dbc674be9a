//! JSON bodies on the broker (design §4.4). Every body has `"v": 1` and a `"kind"`; unknown
//! fields are ignored so newer producers do not break older consumers.

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use crate::cursor::Cursor;
use crate::ddp::date;

/// Schema version written by this code.
pub const VERSION: u32 = 1;

fn v1() -> u32 {
    VERSION
}

/// A user reference as Rocket.Chat shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserRef {
    /// User id (the JWT `sub`).
    #[serde(rename = "_id")]
    pub id: String,
    /// Display name.
    #[serde(default)]
    pub username: String,
}

/// A chat message as accepted by a gateway (`chat_outgoing`, tag `msg`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OutgoingMsg {
    /// Schema version.
    #[serde(default = "v1")]
    pub v: u32,
    /// Client message id: the idempotency key.
    #[serde(rename = "_id")]
    pub id: String,
    /// Room id.
    pub rid: String,
    /// Text.
    pub msg: String,
    /// Thread parent id (passed through).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tmid: Option<String>,
    /// Sender, always taken from the verified JWT by the gateway (re-checked by the observer).
    pub u: UserRef,
    /// Accepting gateway.
    #[serde(default)]
    pub gw: String,
    /// Accepting connection (session id).
    #[serde(default)]
    pub conn: String,
    /// When the gateway received it (ms).
    #[serde(default)]
    pub recv_ts: i64,
}

/// A block or unblock request (`chat_outgoing` and `chat_inbox`, tags `block`/`unblock`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BlockBody {
    /// Schema version.
    #[serde(default = "v1")]
    pub v: u32,
    /// Event id.
    #[serde(rename = "_id")]
    pub id: String,
    /// The DM room.
    pub rid: String,
    /// Who blocks.
    pub blocker: String,
    /// Who is blocked.
    pub blocked: String,
    /// When the gateway received it (ms).
    #[serde(default)]
    pub recv_ts: i64,
    /// Inbox only: `[blocker, blocked]`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recipients: Option<Vec<String>>,
}

/// A read receipt (`chat_outgoing`/`chat_inbox`, tag `read`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReadBody {
    /// Schema version.
    #[serde(default = "v1")]
    pub v: u32,
    /// Event id.
    #[serde(rename = "_id")]
    pub id: String,
    /// Room.
    pub rid: String,
    /// Reader.
    pub u: UserRef,
    /// Everything up to this time is read (ms).
    pub until_ts: i64,
    /// Inbox only: who gets the receipt (`null` = every reader of the room).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recipients: Option<Vec<String>>,
}

/// Where an inbox event came from (traceability for the dedupe/order tests).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct Origin {
    /// Accepting gateway.
    #[serde(default)]
    pub gw: String,
    /// `chat_outgoing` queue.
    #[serde(default)]
    pub q: i32,
    /// `chat_outgoing` offset.
    #[serde(default)]
    pub offset: i64,
    /// Observer that published it.
    #[serde(default)]
    pub observer: String,
}

/// An accepted message (`chat_inbox`, tag `msg`): the stored message.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct InboxMsg {
    /// Schema version.
    #[serde(default = "v1")]
    pub v: u32,
    /// Client message id.
    #[serde(rename = "_id")]
    pub id: String,
    /// Room.
    pub rid: String,
    /// Room type, `d` or `c`.
    pub t: String,
    /// Text.
    pub msg: String,
    /// Thread parent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tmid: Option<String>,
    /// Sender (from the verified JWT).
    pub u: UserRef,
    /// Server timestamp (ms), stamped by the observer.
    pub ts: i64,
    /// Explicit recipients (DMs), or `None`: every socket that may read the room.
    pub recipients: Option<Vec<String>>,
    /// Provenance.
    #[serde(default)]
    pub origin: Origin,
}

impl InboxMsg {
    /// The Rocket.Chat-shaped message pushed to clients, with its `_cursor`.
    pub fn to_ddp(&self, cursor: Option<Cursor>) -> Value {
        let mut m = json!({
            "_id": self.id, "rid": self.rid, "msg": self.msg, "t": self.t,
            "u": {"_id": self.u.id, "username": self.u.username},
            "ts": date(self.ts), "_updatedAt": date(self.ts),
        });
        if let Some(t) = &self.tmid {
            m["tmid"] = json!(t);
        }
        if let Some(c) = cursor {
            m["_cursor"] = json!(c.to_string());
        }
        m
    }

    /// Whether `uid` is an explicit recipient (`None` when the room decides).
    pub fn addressed_to(&self, uid: &str) -> Option<bool> {
        self.recipients.as_ref().map(|r| r.iter().any(|x| x == uid))
    }
}

/// A request the observer refused, addressed to its sender.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RejectedBody {
    /// Schema version.
    #[serde(default = "v1")]
    pub v: u32,
    /// The refused message id.
    #[serde(rename = "_id")]
    pub id: String,
    /// Room.
    pub rid: String,
    /// `[sender]`.
    pub recipients: Vec<String>,
    /// `blocked`, `not-allowed`, `invalid-token`, `invalid-message`.
    pub reason: String,
}

/// Everything on `chat_outgoing`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum Outgoing {
    /// A message.
    Msg(OutgoingMsg),
    /// Block.
    Block(BlockBody),
    /// Unblock.
    Unblock(BlockBody),
    /// Read receipt.
    Read(ReadBody),
}

/// Everything on `chat_inbox`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum Inbox {
    /// An accepted message.
    Msg(InboxMsg),
    /// Block applied.
    Block(BlockBody),
    /// Unblock applied.
    Unblock(BlockBody),
    /// Read receipt.
    Read(ReadBody),
    /// Refused request.
    Rejected(RejectedBody),
}

impl Outgoing {
    /// Room of the event.
    pub fn rid(&self) -> &str {
        match self {
            Outgoing::Msg(m) => &m.rid,
            Outgoing::Block(b) | Outgoing::Unblock(b) => &b.rid,
            Outgoing::Read(r) => &r.rid,
        }
    }
    /// Id of the event.
    pub fn id(&self) -> &str {
        match self {
            Outgoing::Msg(m) => &m.id,
            Outgoing::Block(b) | Outgoing::Unblock(b) => &b.id,
            Outgoing::Read(r) => &r.id,
        }
    }
    /// The broker tag of the event.
    pub fn tag(&self) -> &'static str {
        match self {
            Outgoing::Msg(_) => crate::topics::TAG_MSG,
            Outgoing::Block(_) => crate::topics::TAG_BLOCK,
            Outgoing::Unblock(_) => crate::topics::TAG_UNBLOCK,
            Outgoing::Read(_) => crate::topics::TAG_READ,
        }
    }
}

impl Inbox {
    /// Room of the event.
    pub fn rid(&self) -> &str {
        match self {
            Inbox::Msg(m) => &m.rid,
            Inbox::Block(b) | Inbox::Unblock(b) => &b.rid,
            Inbox::Read(r) => &r.rid,
            Inbox::Rejected(r) => &r.rid,
        }
    }
    /// Id of the event.
    pub fn id(&self) -> &str {
        match self {
            Inbox::Msg(m) => &m.id,
            Inbox::Block(b) | Inbox::Unblock(b) => &b.id,
            Inbox::Read(r) => &r.id,
            Inbox::Rejected(r) => &r.id,
        }
    }
    /// The broker tag of the event.
    pub fn tag(&self) -> &'static str {
        match self {
            Inbox::Msg(_) => crate::topics::TAG_MSG,
            Inbox::Block(_) => crate::topics::TAG_BLOCK,
            Inbox::Unblock(_) => crate::topics::TAG_UNBLOCK,
            Inbox::Read(_) => crate::topics::TAG_READ,
            Inbox::Rejected(_) => crate::topics::TAG_REJECTED,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn outgoing_shape_matches_the_design() {
        let raw = r#"{"v":1,"kind":"msg","_id":"q9XkT2mB7aZpLw3Rc","rid":"d_alice_bob","msg":"hi","tmid":null,
            "u":{"_id":"alice","username":"alice"},"gw":"gw-1","conn":"9b1e","client_ts":null,"recv_ts":1}"#;
        let o: Outgoing = serde_json::from_str(raw).unwrap();
        assert_eq!(o.rid(), "d_alice_bob");
        assert_eq!(o.tag(), "msg");
        let back = serde_json::to_value(&o).unwrap();
        assert_eq!(back["kind"], "msg");
        assert_eq!(back["u"]["_id"], "alice");
    }

    #[test]
    fn inbox_round_trip_and_ddp_view() {
        let m = InboxMsg {
            v: 1,
            id: "abcdefgh1".into(),
            rid: "r_x".into(),
            t: "c".into(),
            msg: "hi".into(),
            tmid: None,
            u: UserRef { id: "a".into(), username: "a".into() },
            ts: 42,
            recipients: None,
            origin: Origin::default(),
        };
        let e = Inbox::Msg(m.clone());
        let s = serde_json::to_string(&e).unwrap();
        assert_eq!(serde_json::from_str::<Inbox>(&s).unwrap(), e);
        let d = m.to_ddp(Some(Cursor { queues: 8, queue: 1, offset: 3 }));
        assert_eq!(d["_cursor"], "8/1/3");
        assert_eq!(d["ts"]["$date"], 42);
        assert_eq!(m.addressed_to("a"), None);
        let b: Inbox = serde_json::from_str(r#"{"kind":"block","_id":"x","rid":"d_a_b","blocker":"a","blocked":"b","recipients":["a","b"]}"#).unwrap();
        assert_eq!(b.tag(), "block");
    }
}
