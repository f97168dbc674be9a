//! The SEND_BATCH_MESSAGE body (§3.6): concatenated inner records
//! `TOTALSIZE i32 ‖ MAGIC i32 (0) ‖ BODYCRC i32 (0) ‖ FLAG i32 ‖ BODYLEN i32 ‖ BODY ‖ PROPLEN i16 ‖ PROPS`.

use bytes::Bytes;

use super::property::PROPERTY_SEPARATOR;
use super::record::{read_i32, DecodeError};

/// One message of a batch body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BatchItem {
    /// user flag
    pub flag: i32,
    /// body (zero-copy slice of the batch buffer when decoded)
    pub body: Bytes,
    /// encoded properties string of this message
    pub properties: String,
}

/// One message of a batch body, its properties borrowed from the body (the broker's batch
/// path: it merges them into a new string anyway, so an owned copy here is wasted).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BatchItemRef<'a> {
    /// user flag
    pub flag: i32,
    /// body (zero-copy slice of the batch buffer)
    pub body: Bytes,
    /// encoded properties string of this message
    pub properties: &'a str,
}

const INNER_FIXED: usize = 4 + 4 + 4 + 4 + 4 + 2;

/// Decode a batch body. Errors on any inconsistency (sizes that disagree, truncation, invalid
/// UTF-8); allocation is bounded by the buffer.
pub fn decode_batch(buf: &Bytes) -> Result<Vec<BatchItem>, DecodeError> {
    Ok(decode_batch_refs(buf)?
        .into_iter()
        .map(|i| BatchItem { flag: i.flag, body: i.body, properties: i.properties.to_owned() })
        .collect())
}

/// [`decode_batch`] without copying the properties strings.
pub fn decode_batch_refs(buf: &Bytes) -> Result<Vec<BatchItemRef<'_>>, DecodeError> {
    let mut out = Vec::new();
    let mut at = 0usize;
    while at < buf.len() {
        let rest = &buf[at..];
        if rest.len() < INNER_FIXED {
            return Err(DecodeError::Truncated { needed: INNER_FIXED, have: rest.len() });
        }
        let total = read_i32(rest, 0).unwrap_or(-1);
        if total < INNER_FIXED as i32 {
            return Err(DecodeError::BadSize { total: total as i64, computed: INNER_FIXED as i64 });
        }
        let total = total as usize;
        if total > rest.len() {
            return Err(DecodeError::Truncated { needed: total, have: rest.len() });
        }
        let flag = read_i32(rest, 12).unwrap_or(0);
        let body_len = read_i32(rest, 16).unwrap_or(-1);
        if body_len < 0 || 20 + body_len as usize + 2 > total {
            return Err(DecodeError::Malformed("batch body length"));
        }
        let body_end = 20 + body_len as usize;
        let props_len = i16::from_be_bytes([rest[body_end], rest[body_end + 1]]);
        if props_len < 0 || body_end + 2 + props_len as usize != total {
            return Err(DecodeError::BadSize {
                total: total as i64,
                computed: (body_end + 2) as i64 + props_len as i64,
            });
        }
        let props = std::str::from_utf8(&rest[body_end + 2..total])
            .map_err(|_| DecodeError::Malformed("batch properties are not UTF-8"))?;
        out.push(BatchItemRef { flag, body: buf.slice(at + 20..at + body_end), properties: props });
        at += total;
    }
    Ok(out)
}

/// Encode a batch body (client side).
pub fn encode_batch(items: &[BatchItem]) -> Vec<u8> {
    let mut v = Vec::with_capacity(
        items.iter().map(|i| INNER_FIXED + i.body.len() + i.properties.len()).sum(),
    );
    for i in items {
        let total = INNER_FIXED + i.body.len() + i.properties.len();
        v.extend_from_slice(&(total as i32).to_be_bytes());
        v.extend_from_slice(&0i32.to_be_bytes());
        v.extend_from_slice(&0i32.to_be_bytes());
        v.extend_from_slice(&i.flag.to_be_bytes());
        v.extend_from_slice(&(i.body.len() as i32).to_be_bytes());
        v.extend_from_slice(&i.body);
        v.extend_from_slice(&(i.properties.len() as i16).to_be_bytes());
        v.extend_from_slice(i.properties.as_bytes());
    }
    v
}

/// Properties of one batch member as stored: inner properties, a `0x02` if they do not end with
/// one, then the batch-level properties (e.g. `CLUSTER`).
pub fn merge_batch_properties(inner: &str, batch: &str) -> String {
    let mut s = String::with_capacity(inner.len() + batch.len() + 1);
    s.push_str(inner);
    if !inner.is_empty() && !inner.ends_with(PROPERTY_SEPARATOR) && !batch.is_empty() {
        s.push(PROPERTY_SEPARATOR);
    }
    s.push_str(batch);
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_fixture() {
        let items = vec![
            BatchItem {
                flag: 1,
                body: Bytes::from_static(b"ab"),
                properties: "K\u{1}v\u{2}".into(),
            },
            BatchItem { flag: 0, body: Bytes::new(), properties: String::new() },
        ];
        let enc = encode_batch(&items);
        let mut exp = Vec::new();
        exp.extend_from_slice(&(22i32 + 2 + 4).to_be_bytes());
        exp.extend_from_slice(&[0; 8]);
        exp.extend_from_slice(&1i32.to_be_bytes());
        exp.extend_from_slice(&2i32.to_be_bytes());
        exp.extend_from_slice(b"ab");
        exp.extend_from_slice(&4i16.to_be_bytes());
        exp.extend_from_slice(b"K\x01v\x02");
        exp.extend_from_slice(&22i32.to_be_bytes());
        exp.extend_from_slice(&[0; 12]);
        exp.extend_from_slice(&[0; 6]);
        assert_eq!(enc, exp);
        assert_eq!(decode_batch(&Bytes::from(enc.clone())).unwrap(), items);
        for cut in (1..enc.len()).filter(|&c| c != 28) {
            assert!(decode_batch(&Bytes::from(enc[..cut].to_vec())).is_err());
        }
    }

    #[test]
    fn merge() {
        assert_eq!(merge_batch_properties("A\u{1}1", "C\u{1}x\u{2}"), "A\u{1}1\u{2}C\u{1}x\u{2}");
        assert_eq!(
            merge_batch_properties("A\u{1}1\u{2}", "C\u{1}x\u{2}"),
            "A\u{1}1\u{2}C\u{1}x\u{2}"
        );
        assert_eq!(merge_batch_properties("", "C\u{1}x\u{2}"), "C\u{1}x\u{2}");
    }
}
