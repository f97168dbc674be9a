//! Small helpers shared by the codec: Java `String.hashCode`, masked CRC32, zlib.

use std::io::{Read, Write};

/// Java `String.hashCode`: `h = 31*h + c` over UTF-16 code units with wrapping `i32` arithmetic.
///
/// Must iterate UTF-16 (not bytes or chars) so tags and keys outside the BMP hash as in Java.
pub fn java_hash(s: &str) -> i32 {
    let mut h: i32 = 0;
    for c in s.encode_utf16() {
        h = h.wrapping_mul(31).wrapping_add(c as i32);
    }
    h
}

/// Consume-queue tagsCode of a message: Java hash of the TAGS value sign-extended, 0 without tag.
pub fn tags_code(tags: Option<&str>) -> i64 {
    match tags {
        Some(t) if !t.is_empty() => java_hash(t) as i64,
        _ => 0,
    }
}

/// CRC32 (IEEE) masked with `0x7FFF_FFFF`, as RocketMQ's `UtilAll.crc32`.
pub fn crc32_masked(data: &[u8]) -> i32 {
    (crc32fast::hash(data) & 0x7FFF_FFFF) as i32
}

/// zlib-compress `data` at `level` (0..=9; Java producers use 5).
pub fn zlib_compress(data: &[u8], level: u32) -> Vec<u8> {
    let mut enc = flate2::write::ZlibEncoder::new(
        Vec::with_capacity(data.len() / 2 + 16),
        flate2::Compression::new(level.min(9)),
    );
    // Writing into a Vec cannot fail.
    let _ = enc.write_all(data);
    enc.finish().unwrap_or_default()
}

/// Errors of [`zlib_decompress`].
#[derive(Debug, thiserror::Error)]
pub enum DecompressError {
    /// The input is not a valid zlib stream.
    #[error("invalid zlib data: {0}")]
    Invalid(#[from] std::io::Error),
    /// The output would exceed the caller's limit (guards against zip bombs).
    #[error("decompressed data exceeds {0} bytes")]
    TooLarge(usize),
    /// A compression type other than zlib (5.x LZ4/ZSTD), given as the type number.
    #[error("unsupported compression type {0}")]
    Unsupported(i32),
}

/// zlib-decompress `data`, refusing output larger than `max_len` bytes.
pub fn zlib_decompress(data: &[u8], max_len: usize) -> Result<Vec<u8>, DecompressError> {
    let dec = flate2::read::ZlibDecoder::new(data);
    let mut out = Vec::with_capacity((data.len() * 4).min(max_len));
    let n = dec.take(max_len as u64 + 1).read_to_end(&mut out)?;
    if n > max_len {
        return Err(DecompressError::TooLarge(max_len));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn java_hash_matches_java() {
        assert_eq!(java_hash(""), 0);
        assert_eq!(java_hash("a"), 97);
        assert_eq!(java_hash("TagA"), 2598919);
        assert_eq!(java_hash("hello"), 99162322);
        // Overflow wraps like Java: "polygenelubricants".hashCode() == Integer.MIN_VALUE
        assert_eq!(java_hash("polygenelubricants"), i32::MIN);
        // Outside the BMP: hashed as a surrogate pair.
        assert_eq!(java_hash("😀"), 0xD83D * 31 + 0xDE00);
    }

    #[test]
    fn crc_is_masked() {
        assert_eq!(crc32_masked(b"123456789"), (0xCBF43926u32 & 0x7FFF_FFFF) as i32);
    }

    #[test]
    fn zlib_round_trip_and_limit() {
        let data = vec![7u8; 10_000];
        let c = zlib_compress(&data, 5);
        assert!(c.len() < 200);
        assert_eq!(zlib_decompress(&c, 10_000).unwrap(), data);
        assert!(matches!(zlib_decompress(&c, 9_999), Err(DecompressError::TooLarge(_))));
        assert!(zlib_decompress(b"garbage", 100).is_err());
    }
}
