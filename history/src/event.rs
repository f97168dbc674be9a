//! The history record: one JSON object per line (JSONL), one event per object.
//!
//! A send is an `invoke` followed by one outcome: `ok` (the broker acknowledged it: SEND_OK,
//! with the broker group, queue and offset it answered), `fail` (it definitely was not
//! stored) or `info` (unknown: a timeout, a closed connection, or a non-OK status such as
//! FLUSH_SLAVE_TIMEOUT, which RocketMQ answers *after* storing on the master). A `recv` is one
//! message seen at a (topic, broker group, queue, queue offset), from a consumer or a
//! read-back; a `read` opens one read-back pass over one replica (every message acknowledged
//! by that group before it must be in it); a `fault` is one edge (`start`/`end`) of an injected fault. The field names are
//! the ones `interop/history.js` writes too; docs/history.md describes the format.

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// What happened.
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    /// A send begins.
    #[default]
    Invoke,
    /// The send was acknowledged (SEND_OK).
    Ok,
    /// The send definitely did not happen.
    Fail,
    /// The send's outcome is unknown.
    Info,
    /// A message was read from a queue.
    Recv,
    /// A read-back pass over one replica begins (its `recv`s carry the same `pass`).
    Read,
    /// A fault began or ended.
    Fault,
}

/// Where a `recv` came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Via {
    /// A consumer's delivery.
    Consumer,
    /// A read-back during the run (e.g. from the slave while the master is down).
    Readback,
    /// A read-back during the run from a replica that may lag behind what its group
    /// acknowledged (an ASYNC_MASTER's slave): it must agree with every other read (no
    /// conflict, no corrupt body) but may miss the latest acknowledgements.
    Lagging,
    /// The final read-back of every queue of every broker: what "not lost" is judged on.
    Final,
}

/// One line of a history. Fields that do not apply to a kind are absent.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Event {
    /// Wall clock, ms since the epoch (the checker orders timelines by it).
    pub t: i64,
    /// Who wrote it (`rust-1`, `ali-ons-1234`, `readback`, `schedule`).
    pub client: String,
    /// What happened.
    #[serde(rename = "type")]
    pub kind: Kind,
    /// The message key (unique per send; `KEYS` property of the message).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
    /// [`body_hash`] of the body.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hash: Option<String>,
    /// Topic.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub topic: Option<String>,
    /// Broker group (`brokerName`), for `ok` and `recv`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub broker: Option<String>,
    /// Address of the replica a `recv` was read from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub addr: Option<String>,
    /// Queue id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub queue: Option<i32>,
    /// Queue (logical) offset.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub offset: Option<i64>,
    /// Message id the broker or client gave.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub msg_id: Option<String>,
    /// Error or non-OK status of a `fail` / `info`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// Source of a `recv`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub via: Option<Via>,
    /// Name of a `fault` (`kill`, `pause`, `partition`, ...).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fault: Option<String>,
    /// Target of a `fault` (a process or link name).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target: Option<String>,
    /// `start` or `end` of a `fault`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phase: Option<String>,
    /// Read-back pass of a `read` and of its `recv`s.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pass: Option<String>,
    /// Schedule round of a `fault`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub round: Option<usize>,
}

impl Event {
    /// An event of `kind` by `client` now.
    pub fn new(kind: Kind, client: &str) -> Event {
        Event { t: now_ms(), client: client.into(), kind, ..Default::default() }
    }

    /// The same event at time `t` (tests, synthetic histories).
    pub fn at(mut self, t: i64) -> Event {
        self.t = t;
        self
    }

    /// With key and body hash.
    pub fn msg(mut self, key: &str, hash: &str) -> Event {
        self.key = Some(key.into());
        self.hash = Some(hash.into());
        self
    }

    /// With the position a message was acknowledged at or read from.
    pub fn pos(mut self, topic: &str, broker: &str, queue: i32, offset: i64) -> Event {
        self.topic = Some(topic.into());
        self.broker = Some(broker.into());
        self.queue = Some(queue);
        self.offset = Some(offset);
        self
    }

    /// One line of JSON (no newline).
    pub fn to_line(&self) -> String {
        serde_json::to_string(self).expect("an event always serialises")
    }
}

/// The hash recorded for a body: the first 16 hex digits of its SHA-256 (what
/// `interop/history.js` computes with Node's `crypto`).
pub fn body_hash(body: &[u8]) -> String {
    Sha256::digest(body).iter().take(8).map(|b| format!("{b:02x}")).collect()
}

/// Milliseconds since the epoch.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_round_trip_and_omit_absent_fields() {
        let e = Event::new(Kind::Ok, "rust-1").at(5).msg("k1", "ab").pos("T", "broker-a", 2, 7);
        let line = e.to_line();
        assert!(line.contains(r#""type":"ok""#), "{line}");
        assert!(!line.contains("error"), "{line}");
        assert_eq!(serde_json::from_str::<Event>(&line).unwrap(), e);
        assert_eq!(body_hash(b"hello"), "2cf24dba5fb0a30e");
    }
}
