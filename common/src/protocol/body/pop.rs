//! POP consumption bodies: BATCH_ACK_MESSAGE's `BatchAckMessageRequestBody` (Java 5.x).

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// The acks of one pop answer's messages from one queue: the offsets are bits above
/// `start_offset` (the first field of their receipt handles). Java writes the short names
/// (`c`, `t`, ...) and reads both.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct BatchAck {
    /// Consumer group.
    #[serde(rename = "c", alias = "consumerGroup")]
    pub consumer_group: String,
    /// Topic (the original one also for messages of the POP retry topic).
    #[serde(rename = "t", alias = "topic")]
    pub topic: String,
    /// `"1"` when the messages came from the group's POP retry topic.
    #[serde(rename = "r", alias = "retry")]
    pub retry: String,
    /// Check-point offset of the pop (bit 0).
    #[serde(rename = "so", alias = "startOffset")]
    pub start_offset: i64,
    /// Queue id.
    #[serde(rename = "q", alias = "queueId")]
    pub queue_id: i32,
    /// Revive queue id (unused here).
    #[serde(rename = "rq", alias = "reviveQueueId")]
    pub revive_queue_id: i32,
    /// Pop time of the handles, ms.
    #[serde(rename = "pt", alias = "popTime")]
    pub pop_time: i64,
    /// Invisible time of the handles, ms.
    #[serde(rename = "it", alias = "invisibleTime")]
    pub invisible_time: i64,
    /// Offsets acked, as bit `offset - start_offset` of a Java `BitSet` (written as the
    /// base64 of `BitSet.toByteArray()`).
    #[serde(rename = "b", alias = "bitSet", with = "java_bitset")]
    pub bits: Vec<u8>,
}

impl BatchAck {
    /// The queue offsets acked.
    pub fn offsets(&self) -> impl Iterator<Item = i64> + '_ {
        self.bits.iter().enumerate().flat_map(move |(i, byte)| {
            (0..8)
                .filter(move |b| byte & (1 << b) != 0)
                .map(move |b| self.start_offset.saturating_add((i * 8 + b) as i64))
        })
    }

    /// Mark `offset` (≥ `start_offset`) as acked.
    pub fn set(&mut self, offset: i64) {
        let bit = (offset - self.start_offset) as usize;
        if self.bits.len() <= bit / 8 {
            self.bits.resize(bit / 8 + 1, 0);
        }
        self.bits[bit / 8] |= 1 << (bit % 8);
    }
}

/// BATCH_ACK_MESSAGE's body.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct BatchAckMessageRequestBody {
    /// Broker the handles name.
    pub broker_name: String,
    /// One entry per (topic, retry, queue, pop).
    pub acks: Vec<BatchAck>,
}

mod java_bitset {
    use super::*;

    pub fn serialize<S: Serializer>(bits: &[u8], s: S) -> Result<S::Ok, S::Error> {
        // Java's toByteArray() has no trailing zero bytes.
        let n = bits.iter().rposition(|b| *b != 0).map_or(0, |i| i + 1);
        s.serialize_str(&STANDARD.encode(&bits[..n]))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
        let s: Option<String> = Option::deserialize(d)?;
        match s {
            None => Ok(Vec::new()),
            Some(s) => STANDARD.decode(s.trim()).map_err(serde::de::Error::custom),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn java_shape_round_trip() {
        // Offsets 101, 103, 105 above 100: Java's BitSet {1, 3, 5} = byte 0b0010_1010 = "Kg==".
        let json = r#"{"acks":[{"b":"Kg==","c":"G","it":5000,"pt":1700000000000,"q":1,"r":"0","rq":2,"so":100,"t":"T"}],"brokerName":"b1"}"#;
        let body: BatchAckMessageRequestBody = serde_json::from_str(json).unwrap();
        assert_eq!(body.broker_name, "b1");
        let a = &body.acks[0];
        assert_eq!((a.consumer_group.as_str(), a.topic.as_str(), a.queue_id), ("G", "T", 1));
        assert_eq!(a.offsets().collect::<Vec<_>>(), vec![101, 103, 105]);
        let mut b = BatchAck { start_offset: 100, ..a.clone() };
        b.bits.clear();
        for o in [101, 103, 105] {
            b.set(o);
        }
        assert_eq!(&b, a);
        let back: serde_json::Value = serde_json::to_value(&body).unwrap();
        assert_eq!(back, serde_json::from_str::<serde_json::Value>(json).unwrap());
        // The long names Java also reads.
        let long =
            r#"{"acks":[{"consumerGroup":"G","topic":"T","startOffset":7,"bitSet":"AQ=="}]}"#;
        let body: BatchAckMessageRequestBody = serde_json::from_str(long).unwrap();
        assert_eq!(body.acks[0].offsets().collect::<Vec<_>>(), vec![7]);
    }
}
