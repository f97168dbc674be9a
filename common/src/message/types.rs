//! Message types: the producer-side [`Message`] and the broker-side [`MessageExtBrokerInner`].

use std::collections::BTreeMap;
use std::net::{Ipv4Addr, SocketAddr};

use bytes::Bytes;

use super::property::{
    self, DELAY, KEYS, TAGS, TIMER_DELAY_MS, TIMER_DELAY_SEC, TIMER_DELIVER_MS, UNIQ_KEY, WAIT,
};
use super::record::{record_len, EncodeError, RecordFields};
use super::util::tags_code;

/// A message as a producer builds it (Java `Message`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Message {
    /// target topic
    pub topic: String,
    /// user flag
    pub flag: i32,
    /// properties (ordered, so the encoded string is deterministic)
    pub properties: BTreeMap<String, String>,
    /// body
    pub body: Bytes,
}

impl Message {
    /// A message with a topic and body.
    pub fn new(topic: impl Into<String>, body: impl Into<Bytes>) -> Self {
        Message { topic: topic.into(), body: body.into(), ..Default::default() }
    }

    /// Property value.
    pub fn property(&self, key: &str) -> Option<&str> {
        self.properties.get(key).map(String::as_str)
    }

    /// Set a property.
    pub fn put_property(&mut self, key: impl Into<String>, value: impl Into<String>) {
        self.properties.insert(key.into(), value.into());
    }

    /// Remove a property, returning its value.
    pub fn remove_property(&mut self, key: &str) -> Option<String> {
        self.properties.remove(key)
    }

    /// TAGS.
    pub fn tags(&self) -> Option<&str> {
        self.property(TAGS)
    }

    /// Set TAGS.
    pub fn set_tags(&mut self, tags: impl Into<String>) {
        self.put_property(TAGS, tags);
    }

    /// KEYS split on spaces.
    pub fn keys(&self) -> Vec<&str> {
        self.property(KEYS)
            .map(|k| k.split(' ').filter(|s| !s.is_empty()).collect())
            .unwrap_or_default()
    }

    /// Set KEYS (joined with spaces).
    pub fn set_keys<I: IntoIterator<Item = S>, S: AsRef<str>>(&mut self, keys: I) {
        let v: Vec<String> = keys.into_iter().map(|k| k.as_ref().to_owned()).collect();
        self.put_property(KEYS, v.join(" "));
    }

    /// DELAY level (0 when absent or invalid).
    pub fn delay_level(&self) -> i32 {
        self.property(DELAY).and_then(|v| v.parse().ok()).unwrap_or(0)
    }

    /// Set DELAY level.
    pub fn set_delay_level(&mut self, level: i32) {
        self.put_property(DELAY, level.to_string());
    }

    /// Deliver at this absolute time, ms since the epoch (`TIMER_DELIVER_MS`, Java
    /// `setDeliverTimeMs`): a RocketMQ 5 timer message. The broker refuses times further ahead
    /// than its `timerMaxDelaySec` (3 days by default); a time in the past delivers at once.
    pub fn set_deliver_time_ms(&mut self, at_ms: i64) {
        self.put_property(TIMER_DELIVER_MS, at_ms.to_string());
    }

    /// `TIMER_DELIVER_MS`, if set and numeric.
    pub fn deliver_time_ms(&self) -> Option<i64> {
        self.property(TIMER_DELIVER_MS).and_then(|v| v.parse().ok())
    }

    /// Deliver this many seconds after the broker stores it (`TIMER_DELAY_SEC`, Java
    /// `setDelayTimeSec`).
    pub fn set_delay_time_sec(&mut self, secs: i64) {
        self.put_property(TIMER_DELAY_SEC, secs.to_string());
    }

    /// Deliver this many ms after the broker stores it (`TIMER_DELAY_MS`, Java
    /// `setDelayTimeMs`).
    pub fn set_delay_time_ms(&mut self, ms: i64) {
        self.put_property(TIMER_DELAY_MS, ms.to_string());
    }

    /// WAIT (default true).
    pub fn wait_store_msg_ok(&self) -> bool {
        self.property(WAIT).map(|v| v != "false").unwrap_or(true)
    }

    /// Set WAIT.
    pub fn set_wait_store_msg_ok(&mut self, wait: bool) {
        self.put_property(WAIT, if wait { "true" } else { "false" });
    }

    /// The encoded properties string (§3.4).
    pub fn encoded_properties(&self) -> String {
        property::encode_properties(self.properties.iter())
    }
}

/// A message about to be appended to the commit log (Java `MessageExtBrokerInner`).
///
/// `properties` is kept encoded because that is what is stored; helpers edit it in place.
/// QUEUEOFFSET, PHYSICALOFFSET and STORETIMESTAMP are assigned by the store at append time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MessageExtBrokerInner {
    /// topic
    pub topic: String,
    /// queue id
    pub queue_id: i32,
    /// user flag
    pub flag: i32,
    /// SYSFLAG (V6 host bits are recomputed from the addresses when encoding)
    pub sys_flag: i32,
    /// producer timestamp, ms
    pub born_timestamp: i64,
    /// producer address
    pub born_host: SocketAddr,
    /// broker address clients can reach (`brokerIP1:listenPort`)
    pub store_host: SocketAddr,
    /// reconsume times
    pub reconsume_times: i32,
    /// commit-log offset of the half message (COMMIT/ROLLBACK records), else 0
    pub prepared_transaction_offset: i64,
    /// body as received (possibly compressed)
    pub body: Bytes,
    /// encoded properties string
    pub properties: String,
    /// tagsCode hint. The store derives the consume-queue tagsCode from the stored TAGS property
    /// (so recovery reproduces it); this field is informational.
    pub tags_code: i64,
}

impl Default for MessageExtBrokerInner {
    fn default() -> Self {
        let any = SocketAddr::new(Ipv4Addr::UNSPECIFIED.into(), 0);
        MessageExtBrokerInner {
            topic: String::new(),
            queue_id: 0,
            flag: 0,
            sys_flag: 0,
            born_timestamp: 0,
            born_host: any,
            store_host: any,
            reconsume_times: 0,
            prepared_transaction_offset: 0,
            body: Bytes::new(),
            properties: String::new(),
            tags_code: 0,
        }
    }
}

impl MessageExtBrokerInner {
    /// Property value from the encoded string.
    pub fn property(&self, key: &str) -> Option<&str> {
        property::get_property(&self.properties, key)
    }

    /// Set a property (replacing any previous value).
    pub fn set_property(&mut self, key: &str, value: &str) {
        property::set_property(&mut self.properties, key, value);
    }

    /// Remove a property; returns whether it was present.
    pub fn remove_property(&mut self, key: &str) -> bool {
        property::remove_property(&mut self.properties, key)
    }

    /// TAGS.
    pub fn tags(&self) -> Option<&str> {
        self.property(TAGS)
    }

    /// KEYS split on spaces.
    pub fn keys(&self) -> impl Iterator<Item = &str> {
        self.property(KEYS).unwrap_or("").split(' ').filter(|s| !s.is_empty())
    }

    /// UNIQ_KEY.
    pub fn uniq_key(&self) -> Option<&str> {
        self.property(UNIQ_KEY)
    }

    /// DELAY level (0 when absent or invalid).
    pub fn delay_level(&self) -> i32 {
        self.property(DELAY).and_then(|v| v.trim().parse().ok()).unwrap_or(0)
    }

    /// WAIT (default true).
    pub fn wait_store_msg_ok(&self) -> bool {
        self.property(WAIT).map(|v| v != "false").unwrap_or(true)
    }

    /// Recompute `tags_code` from TAGS.
    pub fn refresh_tags_code(&mut self) {
        self.tags_code = tags_code(self.tags());
    }

    /// Length of the record this message encodes to.
    pub fn encoded_len(&self) -> usize {
        record_len(
            self.body.len(),
            self.topic.len(),
            self.properties.len(),
            self.born_host.is_ipv6(),
            self.store_host.is_ipv6(),
        )
    }

    /// The record fields with the append-time values filled in.
    pub fn record_fields(
        &self,
        body_crc: i32,
        queue_offset: i64,
        physical_offset: i64,
        store_timestamp: i64,
    ) -> RecordFields<'_> {
        RecordFields {
            queue_id: self.queue_id,
            flag: self.flag,
            queue_offset,
            physical_offset,
            sys_flag: self.sys_flag,
            born_timestamp: self.born_timestamp,
            born_host: self.born_host,
            store_timestamp,
            store_host: self.store_host,
            reconsume_times: self.reconsume_times,
            prepared_transaction_offset: self.prepared_transaction_offset,
            body: &self.body,
            body_crc,
            topic: &self.topic,
            properties: &self.properties,
        }
    }

    /// Validate the format limits (topic ≤ 127 bytes, properties ≤ 32767 bytes).
    pub fn check_format(&self) -> Result<usize, EncodeError> {
        self.record_fields(0, 0, 0, 0).encoded_len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inner_helpers() {
        let mut m = MessageExtBrokerInner {
            topic: "T".into(),
            properties: property::encode_properties([
                ("TAGS", "a"),
                ("KEYS", "k1  k2"),
                ("DELAY", "3"),
            ]),
            ..Default::default()
        };
        assert_eq!(m.keys().collect::<Vec<_>>(), vec!["k1", "k2"]);
        assert_eq!(m.delay_level(), 3);
        assert!(m.wait_store_msg_ok());
        m.set_property(WAIT, "false");
        assert!(!m.wait_store_msg_ok());
        m.refresh_tags_code();
        assert_eq!(m.tags_code, 97);
        assert_eq!(m.check_format().unwrap(), m.encoded_len());
    }

    #[test]
    fn message_helpers() {
        let mut m = Message::new("T", &b"x"[..]);
        m.set_tags("t");
        m.set_keys(["a", "b"]);
        m.set_delay_level(2);
        assert_eq!(m.keys(), vec!["a", "b"]);
        assert_eq!(m.delay_level(), 2);
        assert_eq!(m.encoded_properties(), "DELAY\u{1}2\u{2}KEYS\u{1}a b\u{2}TAGS\u{1}t\u{2}");
    }
}
