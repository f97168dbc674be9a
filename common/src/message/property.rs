//! Message properties: well-known keys (Java `MessageConst`) and the properties string (§3.4).
//!
//! The string is `key 0x01 value 0x02 key 0x01 value 0x02 …` with a trailing `0x02`. Besides
//! map encode/decode there are helpers that work directly on the encoded string, which is what
//! the broker stores and forwards; they avoid building a map on the hot path.

use std::collections::BTreeMap;

/// Separator between a key and its value.
pub const NAME_VALUE_SEPARATOR: char = '\u{1}';
/// Separator after each key/value pair.
pub const PROPERTY_SEPARATOR: char = '\u{2}';

/// User keys, space separated; indexed by the broker.
pub const KEYS: &str = "KEYS";
/// Tag; its Java hash is the consume-queue tagsCode.
pub const TAGS: &str = "TAGS";
/// Client-generated unique id (the msgId users see); indexed by the broker.
pub const UNIQ_KEY: &str = "UNIQ_KEY";
/// `"true"`/`"false"`: producer waits for flush/replication (default true).
pub const WAIT: &str = "WAIT";
/// Delay level 1..N.
pub const DELAY: &str = "DELAY";
/// Original topic of a retried message.
pub const RETRY_TOPIC: &str = "RETRY_TOPIC";
/// Original topic of a delayed or half message.
pub const REAL_TOPIC: &str = "REAL_TOPIC";
/// Original queue id of a delayed or half message.
pub const REAL_QID: &str = "REAL_QID";
/// `"true"` marks a transactional half message.
pub const TRAN_MSG: &str = "TRAN_MSG";
/// Producer group (transactions).
pub const PGROUP: &str = "PGROUP";
/// Queue min offset, set client-side from a pull response.
pub const MIN_OFFSET: &str = "MIN_OFFSET";
/// Queue max offset, set client-side from a pull response.
pub const MAX_OFFSET: &str = "MAX_OFFSET";
/// Buyer id (legacy).
pub const BUYER_ID: &str = "BUYER_ID";
/// Original offsetMsgId of a retried/DLQ message.
pub const ORIGIN_MESSAGE_ID: &str = "ORIGIN_MESSAGE_ID";
/// Transfer flag (legacy).
pub const TRANSFER_FLAG: &str = "TRANSFER_FLAG";
/// Correction flag (legacy).
pub const CORRECTION_FLAG: &str = "CORRECTION_FLAG";
/// Message queue offset (legacy).
pub const MQ2_FLAG: &str = "MQ2_FLAG";
/// Retry bookkeeping: reconsume times.
pub const RECONSUME_TIME: &str = "RECONSUME_TIME";
/// Retry bookkeeping: max reconsume times.
pub const MAX_RECONSUME_TIMES: &str = "MAX_RECONSUME_TIMES";
/// Region of the message (trace).
pub const MSG_REGION: &str = "MSG_REGION";
/// Whether trace is on.
pub const TRACE_ON: &str = "TRACE_ON";
/// Broker cluster name, added by the broker.
pub const CLUSTER: &str = "CLUSTER";
/// Consume start time, client-side.
pub const CONSUME_START_TIME: &str = "CONSUME_START_TIME";
/// Transaction: prepared queue offset.
pub const TRAN_PREPARED_QUEUE_OFFSET: &str = "TRAN_PREPARED_QUEUE_OFFSET";
/// Transaction: number of checks done.
pub const TRANSACTION_CHECK_TIMES: &str = "TRANSACTION_CHECK_TIMES";
/// Transaction: check immunity time.
pub const CHECK_IMMUNITY_TIME_IN_SECONDS: &str = "CHECK_IMMUNITY_TIME_IN_SECONDS";
/// Transaction id.
pub const TRANSACTION_ID: &str = "__transactionId__";
/// Request/reply: instance id.
pub const INSTANCE_ID: &str = "INSTANCE_ID";
/// Request/reply: correlation id.
pub const CORRELATION_ID: &str = "CORRELATION_ID";
/// Request/reply: reply-to client.
pub const REPLY_TO_CLIENT: &str = "REPLY_TO_CLIENT";
/// Request/reply: time to live.
pub const TTL: &str = "TTL";
/// Request/reply: arrive time.
pub const ARRIVE_TIME: &str = "ARRIVE_TIME";
/// Request/reply: message type.
pub const MSG_TYPE: &str = "MSG_TYPE";
/// 5.x ordered sharding key.
pub const SHARDING_KEY: &str = "__SHARDINGKEY";
/// 5.x timer: delay in seconds from the time the broker stores the message.
pub const TIMER_DELAY_SEC: &str = "TIMER_DELAY_SEC";
/// 5.x timer: delay in ms from the time the broker stores the message.
pub const TIMER_DELAY_MS: &str = "TIMER_DELAY_MS";
/// 5.x timer: absolute delivery time, ms since the epoch.
pub const TIMER_DELIVER_MS: &str = "TIMER_DELIVER_MS";
/// 5.x timer, set by the broker: the wheel slot (delivery time rounded to the timer precision,
/// minus one precision step when it was already a multiple); its presence marks a message the
/// timer has already handled.
pub const TIMER_OUT_MS: &str = "TIMER_OUT_MS";
/// 5.x timer, set on the delivered copy: when the message entered the timer wheel.
pub const TIMER_ENQUEUE_MS: &str = "TIMER_ENQUEUE_MS";
/// 5.x timer, set on the delivered copy: when the timer delivered it.
pub const TIMER_DEQUEUE_MS: &str = "TIMER_DEQUEUE_MS";
/// 5.x timer: how often a long timer was re-wheeled (Java's roll; rmq never rolls).
pub const TIMER_ROLL_TIMES: &str = "TIMER_ROLL_TIMES";
/// 5.x timer: marks a recall (delete) record for a pending timer message.
pub const TIMER_DEL_UNIQKEY: &str = "TIMER_DEL_UNIQKEY";
/// Aliyun ONS clients' absolute delivery time in ms (`Message.setStartDeliverTime`); rmq treats
/// it as [`TIMER_DELIVER_MS`].
pub const START_DELIVER_TIME: &str = "__STARTDELIVERTIME";
/// 5.x DLQ: original topic.
pub const DLQ_ORIGIN_TOPIC: &str = "DLQ_ORIGIN_TOPIC";
/// 5.x DLQ: original message id.
pub const DLQ_ORIGIN_MESSAGE_ID: &str = "DLQ_ORIGIN_MESSAGE_ID";
/// Prefix of properties that are never persisted.
pub const TRANSIENT_PREFIX: &str = "__RMQ.TRANSIENT.";

/// Encode pairs into a properties string (each pair followed by `0x02`).
///
/// Pairs with an empty key are skipped; keys/values are written as given (callers must not put
/// separators in them).
pub fn encode_properties<'a, I, K, V>(pairs: I) -> String
where
    I: IntoIterator<Item = (K, V)>,
    K: AsRef<str> + 'a,
    V: AsRef<str> + 'a,
{
    let mut s = String::new();
    for (k, v) in pairs {
        let (k, v) = (k.as_ref(), v.as_ref());
        if k.is_empty() {
            continue;
        }
        s.push_str(k);
        s.push(NAME_VALUE_SEPARATOR);
        s.push_str(v);
        s.push(PROPERTY_SEPARATOR);
    }
    s
}

/// Iterate the `(key, value)` pairs of an encoded properties string, in order, skipping malformed
/// segments like Java does (shorter than 3 chars, no `0x01`, empty key or empty value).
pub fn iter_properties(s: &str) -> impl Iterator<Item = (&str, &str)> {
    // Byte-wise: both separators are ASCII, so every split point is a char boundary.
    s.as_bytes().split(|&b| b == 2).filter_map(move |seg| {
        if seg.len() < 3 {
            return None;
        }
        // Java: key and value must both be non-empty.
        let i = seg.iter().position(|&b| b == 1)?;
        if i == 0 || i + 1 >= seg.len() {
            return None;
        }
        let start = seg.as_ptr() as usize - s.as_ptr() as usize;
        Some((&s[start..start + i], &s[start + i + 1..start + seg.len()]))
    })
}

/// Values of several keys in one pass (last occurrence wins). `out[i]` receives `keys[i]`.
pub fn get_properties<'a, const N: usize>(s: &'a str, keys: [&str; N]) -> [Option<&'a str>; N] {
    let mut out = [None; N];
    if keys.iter().any(|k| k.is_empty() || k.contains(['\u{1}', '\u{2}'])) {
        for (k, v) in iter_properties(s) {
            for (i, want) in keys.iter().enumerate() {
                if k == *want {
                    out[i] = Some(v);
                }
            }
        }
        return out;
    }
    // Hot (every put asks for DELAY and WAIT; timer messages for more): the segment-prefix
    // test of `get_property`, for all keys in one walk over the string.
    let b = s.as_bytes();
    let mut at = 0;
    while at <= b.len() {
        let end = b[at..].iter().position(|&c| c == 2).map_or(b.len(), |i| at + i);
        let seg = &b[at..end];
        for (i, k) in keys.iter().enumerate() {
            let kb = k.as_bytes();
            if seg.len() > kb.len() + 1 && seg[kb.len()] == 1 && seg.starts_with(kb) {
                out[i] = s.get(at + kb.len() + 1..end);
            }
        }
        at = end + 1;
    }
    out
}

/// Decode a properties string into a map (later duplicates win, as with Java's HashMap).
pub fn decode_properties(s: &str) -> BTreeMap<String, String> {
    iter_properties(s).map(|(k, v)| (k.to_owned(), v.to_owned())).collect()
}

/// Value of `key` in an encoded properties string (last occurrence wins), without allocating.
pub fn get_property<'a>(s: &'a str, key: &str) -> Option<&'a str> {
    let kb = key.as_bytes();
    if kb.is_empty() || kb.contains(&1) || kb.contains(&2) {
        // Keys that cannot match the fast test below: the general rules decide.
        let mut found = None;
        for (k, v) in iter_properties(s) {
            if k == key {
                found = Some(v);
            }
        }
        return found;
    }
    // Hot (several lookups per stored message): test each segment's prefix for `key\x01`
    // instead of splitting every segment at its first 0x01. Equivalent to the loop above for
    // keys without separators: the segment's first 0x01 is then exactly after the key, and a
    // non-empty value means the segment is at least 3 bytes long.
    let b = s.as_bytes();
    let mut found = None;
    let mut at = 0;
    while at <= b.len() {
        let end = b[at..].iter().position(|&c| c == 2).map_or(b.len(), |i| at + i);
        let seg = &b[at..end];
        if seg.len() > kb.len() + 1 && seg[kb.len()] == 1 && seg.starts_with(kb) {
            found = s.get(at + kb.len() + 1..end);
        }
        at = end + 1;
    }
    found
}

/// Remove every occurrence of `key` from an encoded properties string. Returns whether any was
/// removed.
pub fn remove_property(s: &mut String, key: &str) -> bool {
    if get_property(s, key).is_none() {
        return false;
    }
    let kept: Vec<(String, String)> = iter_properties(s)
        .filter(|(k, _)| *k != key)
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
    *s = encode_properties(kept.iter().map(|(k, v)| (k.as_str(), v.as_str())));
    true
}

/// Set `key` to `value` in an encoded properties string (replacing earlier values).
pub fn set_property(s: &mut String, key: &str, value: &str) {
    remove_property(s, key);
    append_property(s, key, value);
}

/// Append `key`/`value` without looking for an earlier value of `key` (the caller knows there
/// is none, or that the later one wins).
pub fn append_property(s: &mut String, key: &str, value: &str) {
    if !s.is_empty() && !s.ends_with(PROPERTY_SEPARATOR) {
        s.push(PROPERTY_SEPARATOR);
    }
    s.push_str(key);
    s.push(NAME_VALUE_SEPARATOR);
    s.push_str(value);
    s.push(PROPERTY_SEPARATOR);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encode_decode() {
        let s = encode_properties([("TAGS", "a"), ("KEYS", "k1 k2")]);
        assert_eq!(s, "TAGS\u{1}a\u{2}KEYS\u{1}k1 k2\u{2}");
        let m = decode_properties(&s);
        assert_eq!(m["TAGS"], "a");
        assert_eq!(m["KEYS"], "k1 k2");
        assert_eq!(get_property(&s, "KEYS"), Some("k1 k2"));
        assert_eq!(get_property(&s, "X"), None);
    }

    #[test]
    fn malformed_segments_skipped() {
        let m = decode_properties("a\u{2}\u{2}nosep\u{2}k\u{1}v\u{2}x\u{1}\u{2}");
        assert_eq!(m.len(), 1);
        assert_eq!(m["k"], "v");
    }

    #[test]
    fn set_and_remove() {
        let mut s = encode_properties([("A", "1"), ("B", "2")]);
        set_property(&mut s, "A", "3");
        assert_eq!(get_property(&s, "A"), Some("3"));
        assert_eq!(s, "B\u{1}2\u{2}A\u{1}3\u{2}");
        assert!(remove_property(&mut s, "B"));
        assert!(!remove_property(&mut s, "B"));
        assert_eq!(s, "A\u{1}3\u{2}");
        let mut t = String::from("K\u{1}v");
        set_property(&mut t, "Z", "1");
        assert_eq!(t, "K\u{1}v\u{2}Z\u{1}1\u{2}");
    }

    /// The fast lookup agrees with the segment-splitting rules on every short string over an
    /// alphabet of key bytes and both separators (exhaustive up to length 7).
    #[test]
    fn fast_lookup_matches_general_rules() {
        fn reference<'a>(s: &'a str, key: &str) -> Option<&'a str> {
            iter_properties(s).filter(|(k, _)| *k == key).last().map(|(_, v)| v)
        }
        let alphabet = ['A', 'B', '\u{1}', '\u{2}'];
        let mut strings = vec![String::new()];
        let mut layer = vec![String::new()];
        for _ in 0..7 {
            layer = layer
                .iter()
                .flat_map(|s| alphabet.iter().map(move |c| format!("{s}{c}")))
                .collect();
            strings.extend(layer.iter().cloned());
        }
        for s in &strings {
            for key in ["A", "AB", "B", "BA", "AA"] {
                assert_eq!(get_property(s, key), reference(s, key), "{s:?} {key}");
            }
            let many = get_properties(s, ["A", "AB", "B", "BA", "AA"]);
            for (i, key) in ["A", "AB", "B", "BA", "AA"].iter().enumerate() {
                assert_eq!(many[i], reference(s, key), "get_properties {s:?} {key}");
            }
        }
    }
}
