//! Receipt handles: what a popped message carries so that ack / change-invisible-time can find
//! its in-flight entry without a lookup table. Apache's space-separated layout (the remoting
//! POP clients parse it as `extraInfo`): `ckQueueOffset popTime invisibleTime reviveQid
//! topicType brokerName queueId queueOffset commitLogOffset`. The first field is, as in
//! Apache, the first queue offset the pop handed out from that queue (Java's client sends
//! batch acks as bits above it). A handle is valid only while its entry is in flight with the
//! same check-point offset and the deadline the handle names (`popTime + invisibleTime`): a
//! change of invisible time or a redelivery issues a new one.

use std::sync::Arc;

use smallvec::SmallVec;

/// Which queue family a popped message came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TopicKind {
    /// The topic itself.
    Normal,
    /// The group's POP retry topic for it (`%RETRY%{group}_{topic}`, Apache's retry V1).
    Retry,
}

/// A decoded receipt handle.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReceiptHandle {
    /// Check-point offset: the first queue offset of the pop that delivered the message.
    pub ck: i64,
    /// Pop time, ms.
    pub pop_time: i64,
    /// Invisible time, ms (expiry = pop_time + invisible_time).
    pub invisible_time: i64,
    /// Normal or retry topic.
    pub kind: TopicKind,
    /// Broker that popped the message (shared: every popped message carries it).
    pub broker_name: Arc<str>,
    /// Queue id.
    pub queue_id: i32,
    /// Queue offset.
    pub queue_offset: i64,
    /// Commit-log offset of the record.
    pub commit_log_offset: i64,
}

impl ReceiptHandle {
    /// Deadline after which the handle is expired, ms.
    pub fn deadline(&self) -> i64 {
        self.pop_time.saturating_add(self.invisible_time)
    }

    /// The wire form.
    pub fn encode(&self) -> String {
        self.text().as_str().to_string()
    }

    /// The wire form on the stack (one per delivered message: the gRPC answer writes it
    /// straight into its frame).
    pub fn text(&self) -> HandleText {
        let kind: &[u8] = match self.kind {
            TopicKind::Normal => b"0",
            TopicKind::Retry => b"1",
        };
        // By hand (itoa) rather than `format!`: the formatting machinery was a visible part
        // of a POP's cost.
        let mut t = HandleText(SmallVec::new());
        let mut n = itoa::Buffer::new();
        let b = &mut t.0;
        b.extend_from_slice(n.format(self.ck).as_bytes());
        b.push(b' ');
        b.extend_from_slice(n.format(self.pop_time).as_bytes());
        b.push(b' ');
        b.extend_from_slice(n.format(self.invisible_time).as_bytes());
        b.extend_from_slice(b" 0 ");
        b.extend_from_slice(kind);
        b.push(b' ');
        b.extend_from_slice(self.broker_name.as_bytes());
        b.push(b' ');
        b.extend_from_slice(n.format(self.queue_id).as_bytes());
        b.push(b' ');
        b.extend_from_slice(n.format(self.queue_offset).as_bytes());
        b.push(b' ');
        b.extend_from_slice(n.format(self.commit_log_offset).as_bytes());
        t
    }

    /// Parse the wire form; `None` for anything malformed.
    pub fn decode(s: &str) -> Option<ReceiptHandle> {
        // 9 fields as we write them; 8 as Java's remoting clients rebuild them (no
        // commit-log offset). On the stack, split byte-wise (the separator is ASCII, so every
        // split point is a char boundary): a handle is decoded per acked message.
        let mut f = [""; 9];
        let mut n = 0;
        let mut from = 0;
        for (i, b) in s.bytes().chain(std::iter::once(b' ')).enumerate() {
            if b == b' ' {
                *f.get_mut(n)? = &s[from..i];
                n += 1;
                from = i + 1;
            }
        }
        if n != 9 && n != 8 {
            return None;
        }
        let kind = match f[4] {
            "0" => TopicKind::Normal,
            "1" => TopicKind::Retry,
            _ => return None,
        };
        if f[5].is_empty() {
            return None;
        }
        Some(ReceiptHandle {
            ck: f[0].parse().ok()?,
            pop_time: f[1].parse().ok()?,
            invisible_time: f[2].parse().ok()?,
            kind,
            broker_name: Arc::from(f[5]),
            queue_id: f[6].parse().ok()?,
            queue_offset: f[7].parse().ok()?,
            commit_log_offset: if n == 9 { f[8].parse().ok()? } else { -1 },
        })
    }
}

/// A receipt handle's wire form (ASCII), on the stack unless the broker name is long.
pub struct HandleText(SmallVec<[u8; 96]>);

impl HandleText {
    /// The text.
    pub fn as_str(&self) -> &str {
        // Digits, minus signs, spaces and the broker name (a `str`): always UTF-8.
        std::str::from_utf8(&self.0).unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_rejects() {
        let h = ReceiptHandle {
            ck: 42,
            pop_time: 1_700_000_000_000,
            invisible_time: 30_000,
            kind: TopicKind::Retry,
            broker_name: "broker-a".into(),
            queue_id: 3,
            queue_offset: 17,
            commit_log_offset: 123_456,
        };
        assert_eq!(h.encode(), "42 1700000000000 30000 0 1 broker-a 3 17 123456");
        let long = ReceiptHandle { broker_name: "b".repeat(300).into(), ..h.clone() };
        assert_eq!(ReceiptHandle::decode(&long.encode()), Some(long));
        assert_eq!(ReceiptHandle::decode(&h.encode()), Some(h.clone()));
        let neg = ReceiptHandle {
            queue_id: -1,
            commit_log_offset: -1,
            kind: TopicKind::Normal,
            ..h.clone()
        };
        assert_eq!(neg.encode(), "42 1700000000000 30000 0 0 broker-a -1 17 -1");
        assert_eq!(h.deadline(), 1_700_000_030_000);
        let java = ReceiptHandle::decode("42 1700000000000 30000 0 1 broker-a 3 17").unwrap();
        assert_eq!(java, ReceiptHandle { commit_log_offset: -1, ..h.clone() });
        for bad in [
            "",
            "1 2 3",
            "1 1 1 0 0 b 1 1 1 1",
            "x 1 1 0 0 b 1 1 1",
            "1 1 1 0 7 b 1 1 1",
            "1 1 1 0 0  1 1 1",
            "1 1 1 0 0 b 1 1 1 ",
            " 1 1 1 0 0 b 1 1 1",
        ] {
            assert_eq!(ReceiptHandle::decode(bad), None, "{bad:?}");
        }
    }
}
