//! Benchmark message bodies: the first 8 bytes carry the send time (µs since the Unix epoch) so
//! a consumer can measure send → receipt latency with µs resolution (born timestamps are ms).

use std::time::{SystemTime, UNIX_EPOCH};

use bytes::{BufMut, Bytes, BytesMut};

/// Magic in bytes 8..12 marking a timed benchmark body.
const MAGIC: u32 = 0x6D71_6231; // "mqb1"

/// Microseconds since the Unix epoch.
pub fn now_micros() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_micros() as u64).unwrap_or(0)
}

/// A body of `size` bytes stamped with `micros` (when there is room for the stamp).
pub fn body(size: usize, micros: u64, filler: &Bytes) -> Bytes {
    if size < 12 {
        return filler.slice(..size.min(filler.len()));
    }
    let mut b = BytesMut::with_capacity(size);
    b.put_u64(micros);
    b.put_u32(MAGIC);
    b.extend_from_slice(&filler[..size - 12]);
    b.freeze()
}

/// The send time stamped in a body, if it is a timed benchmark body.
pub fn stamp(body: &[u8]) -> Option<u64> {
    if body.len() >= 12 && u32::from_be_bytes(body[8..12].try_into().ok()?) == MAGIC {
        Some(u64::from_be_bytes(body[0..8].try_into().ok()?))
    } else {
        None
    }
}

/// Filler bytes (printable, so bodies are readable in the console).
pub fn filler(size: usize) -> Bytes {
    Bytes::from((0..size).map(|i| b'a' + (i % 26) as u8).collect::<Vec<u8>>())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stamp_round_trip() {
        let f = filler(2048);
        let b = body(1024, 42, &f);
        assert_eq!(b.len(), 1024);
        assert_eq!(stamp(&b), Some(42));
        assert_eq!(stamp(&f), None);
        assert_eq!(body(5, 1, &f).len(), 5);
    }
}
