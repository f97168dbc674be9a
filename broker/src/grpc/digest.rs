//! Body digests of delivered messages: the MD5 hex every 5.x SDK verifies (spec §9.7), as
//! Apache's proxy computes it on each delivery. Hashing 1 KiB costs about as much as a pull's
//! whole per-message work, so the digests of recently delivered records are kept: a
//! redelivery (invisible time over, nack) or another consumer group's delivery of the same
//! stored message reuses it. A backlog drained once by one group still hashes each body once.

use md5::{Digest as _, Md5};
use mq_common::message::RecordView;
use parking_lot::Mutex;

/// Slots (direct-mapped by commit-log offset): 16 Ki × 64 bytes = 1 MiB.
const SLOTS_LOG2: u32 = 14;

/// What identifies a stored record for its digest. The commit-log offset alone is not enough:
/// a slave (or a demoted master) that truncates its log re-appends other records at the same
/// offsets, and those must not get the old record's digest. A different record matching the
/// offset, store time, stored body CRC and body length is not a practical case.
#[derive(Clone, Copy, PartialEq, Eq)]
struct Key {
    offset: i64,
    store_timestamp: i64,
    body_crc: i32,
    body_len: u32,
}

impl Key {
    fn of(v: &RecordView<'_>) -> Key {
        Key {
            offset: v.physical_offset,
            store_timestamp: v.store_timestamp,
            body_crc: v.body_crc,
            body_len: v.body.len() as u32,
        }
    }
}

/// A record's key and its digest as uppercase hex.
type Slot = Option<(Key, [u8; 32])>;

/// The cache (see the module doc).
pub struct DigestCache {
    slots: Box<[Mutex<Slot>]>,
}

impl Default for DigestCache {
    fn default() -> Self {
        DigestCache { slots: (0..1usize << SLOTS_LOG2).map(|_| Mutex::new(None)).collect() }
    }
}

impl DigestCache {
    /// MD5 of the record's body as stored, uppercase hex.
    pub fn md5_hex(&self, v: &RecordView<'_>) -> String {
        let key = Key::of(v);
        // Fibonacci hashing: consecutive offsets (records of one size) spread over all slots.
        let i = (key.offset as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15) >> (64 - SLOTS_LOG2);
        let slot = &self.slots[i as usize];
        if let Some((k, hex)) = *slot.lock() {
            if k == key {
                return hex_string(&hex);
            }
        }
        // Hash outside the lock.
        let hex = md5_hex_bytes(v.body);
        *slot.lock() = Some((key, hex));
        hex_string(&hex)
    }
}

fn hex_string(hex: &[u8; 32]) -> String {
    // Always ASCII hex digits.
    String::from_utf8_lossy(hex).into_owned()
}

fn md5_hex_bytes(body: &[u8]) -> [u8; 32] {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    let d = Md5::digest(body);
    let mut out = [0u8; 32];
    for (i, b) in d.iter().enumerate() {
        out[2 * i] = HEX[(b >> 4) as usize];
        out[2 * i + 1] = HEX[(b & 15) as usize];
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn md5_hex(body: &[u8]) -> String {
        hex_string(&md5_hex_bytes(body))
    }

    #[test]
    fn known_digest() {
        assert_eq!(md5_hex(b""), "D41D8CD98F00B204E9800998ECF8427E");
        assert_eq!(md5_hex(b"hello"), "5D41402ABC4B2A76B9719D911017C592");
    }

    fn view(body: &[u8], offset: i64, store_timestamp: i64) -> RecordView<'_> {
        let host = std::net::SocketAddr::from(([127, 0, 0, 1], 10911));
        RecordView {
            total_size: 0,
            magic: 0,
            body_crc: 7,
            queue_id: 0,
            flag: 0,
            queue_offset: 0,
            physical_offset: offset,
            sys_flag: 0,
            born_timestamp: 0,
            born_host: host,
            store_timestamp,
            store_host: host,
            reconsume_times: 0,
            prepared_transaction_offset: 0,
            body,
            topic: "T",
            properties: "",
        }
    }

    #[test]
    fn cached_digest_is_the_records_own() {
        let c = DigestCache::default();
        assert_eq!(c.md5_hex(&view(b"hello", 100, 1)), md5_hex(b"hello"));
        // Same slot key, served from the cache.
        assert_eq!(c.md5_hex(&view(b"hello", 100, 1)), md5_hex(b"hello"));
        // Another record at the same offset (a truncated and rewritten log) is hashed anew.
        assert_eq!(c.md5_hex(&view(b"world", 100, 2)), md5_hex(b"world"));
        assert_eq!(c.md5_hex(&view(b"hello", 100, 1)), md5_hex(b"hello"));
    }
}
