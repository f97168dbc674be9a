//! Body digests of delivered messages (spec §9.7). Every 5.x SDK that checks one verifies
//! MD5 (uppercase hex), which is all Apache's proxy ever sends — and hashing 1 KiB with MD5
//! costs more than a pull's whole per-message work. CRC32 (IEEE) is ~20× cheaper, but the
//! SDKs disagree on its text: Java, Go and C# compare unpadded uppercase hex, Python and C++
//! zero-padded 8-digit uppercase hex, Node the unsigned decimal; Rust checks nothing. So the
//! digest follows the client's `x-mq-language` ([`DigestStyle`]): each SDK gets CRC32 as it
//! writes it (Node announces `HTTP`); a client whose language is not known here gets MD5, as
//! from Apache's proxy. MD5 digests of recently delivered records are kept: a redelivery
//! (invisible time over, nack) or another consumer group's delivery of the same stored
//! message reuses it.
//!
//! Sources (apache/rocketmq-clients): Java `misc/Utilities.java` `crc32CheckSum`, Go
//! `message.go`, C# `MessageView.cs`, C++ `MixAll.cpp`, Python `v5/util/misc.py`, Node
//! `src/util/index.ts`.

use md5::{Digest as _, Md5};
use mq_common::message::RecordView;
use mq_grpc_proto::v2::{Digest, DigestType};
use parking_lot::Mutex;

/// Which body digest a client gets (see the module doc).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DigestStyle {
    /// MD5, uppercase hex (Apache's proxy; every checking SDK accepts it).
    Md5,
    /// CRC32 as uppercase hex without leading zeros (Java, Go, C#).
    Crc32Hex,
    /// CRC32 as 8 uppercase hex digits (Python, C++).
    Crc32Hex8,
    /// CRC32 as an unsigned decimal (the Node SDK).
    Crc32Decimal,
}

impl DigestStyle {
    /// The style for a client's `x-mq-language` header.
    pub fn of_language(language: &str) -> DigestStyle {
        match language {
            "JAVA" | "GOLANG" | "DOTNET" => DigestStyle::Crc32Hex,
            // Rust's SDK checks nothing; any CRC32 text will do.
            "CPP" | "PYTHON" | "RUST" => DigestStyle::Crc32Hex8,
            // rocketmq-client-nodejs (1.0.x) announces itself as HTTP.
            "HTTP" | "NODE_JS" => DigestStyle::Crc32Decimal,
            _ => DigestStyle::Md5,
        }
    }
}

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
    /// The digest of the record's body as stored, in `style`.
    pub fn digest(&self, v: &RecordView<'_>, style: DigestStyle) -> Digest {
        let (ty, text) = self.text(v, style);
        Digest { r#type: ty as i32, checksum: text.as_str().to_string() }
    }

    /// The digest's type and text, without allocating.
    pub fn text(&self, v: &RecordView<'_>, style: DigestStyle) -> (DigestType, DigestText) {
        const HEX: &[u8; 16] = b"0123456789ABCDEF";
        let crc = || crc32fast::hash(v.body);
        let mut t = DigestText { buf: [0; 32], len: 0 };
        match style {
            DigestStyle::Crc32Decimal => {
                let mut n = itoa::Buffer::new();
                let s = n.format(crc());
                t.buf[..s.len()].copy_from_slice(s.as_bytes());
                t.len = s.len() as u8;
            }
            DigestStyle::Crc32Hex | DigestStyle::Crc32Hex8 => {
                let c = crc();
                let digits = match style {
                    DigestStyle::Crc32Hex8 => 8,
                    _ => (8 - c.leading_zeros() as usize / 4).max(1),
                };
                for i in 0..digits {
                    t.buf[i] = HEX[((c >> (4 * (digits - 1 - i))) & 15) as usize];
                }
                t.len = digits as u8;
            }
            DigestStyle::Md5 => {
                t.buf = self.md5_bytes(v);
                t.len = 32;
                return (DigestType::Md5, t);
            }
        }
        (DigestType::Crc32, t)
    }

    fn md5_bytes(&self, v: &RecordView<'_>) -> [u8; 32] {
        let key = Key::of(v);
        // Fibonacci hashing: consecutive offsets (records of one size) spread over all slots.
        let i = (key.offset as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15) >> (64 - SLOTS_LOG2);
        let slot = &self.slots[i as usize];
        if let Some((k, hex)) = *slot.lock() {
            if k == key {
                return hex;
            }
        }
        // Hash outside the lock.
        let hex = md5_hex_bytes(v.body);
        *slot.lock() = Some((key, hex));
        hex
    }

    /// MD5 of the record's body as stored, uppercase hex (tests read the cache through it).
    #[cfg(test)]
    fn md5_hex(&self, v: &RecordView<'_>) -> String {
        hex_string(&self.md5_bytes(v))
    }
}

/// A digest's text (at most 32 ASCII characters: MD5 as hex), on the stack.
pub struct DigestText {
    buf: [u8; 32],
    len: u8,
}

impl DigestText {
    /// The text.
    pub fn as_str(&self) -> &str {
        // Always ASCII digits and letters.
        std::str::from_utf8(&self.buf[..self.len as usize]).unwrap_or_default()
    }
}

#[cfg(test)]
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
    fn crc32_text_per_style() {
        let c = DigestCache::default();
        // crc32("123456789") = 0xCBF43926 (3421780262): 8 hex digits, CRC32 for hex SDKs.
        let d = c.digest(&view(b"123456789", 0, 1), DigestStyle::Crc32Hex);
        assert_eq!((d.r#type, d.checksum.as_str()), (DigestType::Crc32 as i32, "CBF43926"));
        let d = c.digest(&view(b"123456789", 0, 1), DigestStyle::Crc32Decimal);
        assert_eq!((d.r#type, d.checksum.as_str()), (DigestType::Crc32 as i32, "3421780262"));
        let d = c.digest(&view(b"123456789", 0, 1), DigestStyle::Crc32Hex8);
        assert_eq!((d.r#type, d.checksum.as_str()), (DigestType::Crc32 as i32, "CBF43926"));
        // A CRC32 with a leading zero nibble: as Java's `Long.toHexString` (no padding) and
        // as Python's `format(c, "08X")`.
        let body = (0u32..)
            .map(|i| i.to_string().into_bytes())
            .find(|b| crc32fast::hash(b) < 0x1000_0000)
            .unwrap();
        let crc = crc32fast::hash(&body);
        let d = c.digest(&view(&body, 8, 1), DigestStyle::Crc32Hex);
        assert_eq!((d.r#type, d.checksum.len()), (DigestType::Crc32 as i32, 7));
        assert_eq!(u32::from_str_radix(&d.checksum, 16), Ok(crc));
        let d = c.digest(&view(&body, 8, 1), DigestStyle::Crc32Hex8);
        assert_eq!(
            d.checksum,
            format!("0{}", c.digest(&view(&body, 8, 1), DigestStyle::Crc32Hex).checksum)
        );
        let d = c.digest(&view(b"hello", 16, 1), DigestStyle::Md5);
        assert_eq!((d.r#type, d.checksum), (DigestType::Md5 as i32, md5_hex(b"hello")));
        assert_eq!(DigestStyle::of_language("JAVA"), DigestStyle::Crc32Hex);
        assert_eq!(DigestStyle::of_language("PYTHON"), DigestStyle::Crc32Hex8);
        assert_eq!(DigestStyle::of_language("HTTP"), DigestStyle::Crc32Decimal);
        assert_eq!(DigestStyle::of_language("PHP"), DigestStyle::Md5);
        assert_eq!(DigestStyle::of_language(""), DigestStyle::Md5);
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
