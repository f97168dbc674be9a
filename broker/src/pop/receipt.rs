//! Receipt handles: what a popped message carries so that ack / change-invisible-time can find
//! its in-flight entry without a lookup table. Apache's space-separated layout (the remoting
//! POP clients parse it as `extraInfo`): `ckQueueOffset popTime invisibleTime reviveQid
//! topicType brokerName queueId queueOffset commitLogOffset`. The first field is, as in
//! Apache, the first queue offset the pop handed out from that queue (Java's client sends
//! batch acks as bits above it). A handle is valid only while its entry is in flight with the
//! same check-point offset and the deadline the handle names (`popTime + invisibleTime`): a
//! change of invisible time or a redelivery issues a new one.

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
    /// Broker that popped the message.
    pub broker_name: String,
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
        let kind = match self.kind {
            TopicKind::Normal => "0",
            TopicKind::Retry => "1",
        };
        // By hand (itoa) rather than `format!`: one handle per delivered message, and the
        // formatting machinery was a visible part of a POP's cost.
        let mut s = String::with_capacity(64 + self.broker_name.len());
        let mut n = itoa::Buffer::new();
        s.push_str(n.format(self.ck));
        s.push(' ');
        s.push_str(n.format(self.pop_time));
        s.push(' ');
        s.push_str(n.format(self.invisible_time));
        s.push_str(" 0 ");
        s.push_str(kind);
        s.push(' ');
        s.push_str(&self.broker_name);
        s.push(' ');
        s.push_str(n.format(self.queue_id));
        s.push(' ');
        s.push_str(n.format(self.queue_offset));
        s.push(' ');
        s.push_str(n.format(self.commit_log_offset));
        s
    }

    /// Parse the wire form; `None` for anything malformed.
    pub fn decode(s: &str) -> Option<ReceiptHandle> {
        // 9 fields as we write them; 8 as Java's remoting clients rebuild them (no
        // commit-log offset).
        // On the stack: a handle is decoded per acked message.
        let mut f = [""; 9];
        let mut n = 0;
        for part in s.split(' ') {
            *f.get_mut(n)? = part;
            n += 1;
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
            broker_name: f[5].to_string(),
            queue_id: f[6].parse().ok()?,
            queue_offset: f[7].parse().ok()?,
            commit_log_offset: if n == 9 { f[8].parse().ok()? } else { -1 },
        })
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
        ] {
            assert_eq!(ReceiptHandle::decode(bad), None, "{bad:?}");
        }
    }
}
