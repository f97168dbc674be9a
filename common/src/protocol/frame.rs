//! Frame encode/decode (spec §1.1), pure and sans-IO.
//!
//! `[i32 length][i32 serializeType<<24 | headerLen][header][body]`, big-endian, where `length`
//! excludes itself. Decoding is check-then-parse: [`decode`] returns `Ok(None)` until a whole
//! frame is buffered (incomplete is not an error), and validates every length taken from the
//! peer before allocating or slicing.

use bytes::{Buf, BufMut, BytesMut};

use super::command::{RemotingCommand, SerializeType};
use super::{binary_header, json_header};

/// Java's default `com.rocketmq.remoting.frameMaxLength`: 16 MiB.
pub const DEFAULT_MAX_FRAME: usize = 16 * 1024 * 1024;

/// Why bytes on a connection are not a valid frame. Any of these closes the connection.
#[derive(Debug, thiserror::Error)]
pub enum FrameError {
    /// The length field exceeds the limit.
    #[error("frame of {len} bytes exceeds the limit of {max} bytes")]
    TooLarge {
        /// Announced length.
        len: usize,
        /// Limit.
        max: usize,
    },
    /// The length field is too small to hold the header-length word.
    #[error("frame length {0} is smaller than the 4-byte header-length word")]
    TooSmall(i32),
    /// The header length does not fit in the frame.
    #[error("header length {header} exceeds the frame length {frame}")]
    HeaderOverflow {
        /// Announced header length.
        header: usize,
        /// Frame length.
        frame: usize,
    },
    /// Unknown serialize type byte.
    #[error("unknown header serialize type {0}")]
    UnknownSerializeType(u8),
    /// The JSON header does not parse.
    #[error("malformed JSON header: {0}")]
    Json(#[from] serde_json::Error),
    /// The binary header does not parse.
    #[error("malformed binary header: {0}")]
    Binary(#[from] binary_header::BinaryHeaderError),
}

/// Decode one frame from the front of `src`, consuming it. `Ok(None)` = need more bytes
/// (nothing consumed). On `Err` the stream is unrecoverable and the connection must be closed.
/// The body is split off `src` without copying.
pub fn decode(src: &mut BytesMut, max_frame: usize) -> Result<Option<RemotingCommand>, FrameError> {
    if src.len() < 4 {
        return Ok(None);
    }
    let len = i32::from_be_bytes(src[0..4].try_into().unwrap());
    if len < 4 {
        return Err(FrameError::TooSmall(len));
    }
    let len = len as usize;
    if len > max_frame {
        return Err(FrameError::TooLarge { len, max: max_frame });
    }
    if src.len() < 4 + len {
        // Nothing is reserved here: the announced length is the peer's claim, and memory
        // follows the bytes that actually arrive (the reader grows its buffer, see
        // [`missing_len`]).
        return Ok(None);
    }
    let word = u32::from_be_bytes(src[4..8].try_into().unwrap());
    let ser = (word >> 24) as u8;
    let header_len = (word & 0x00FF_FFFF) as usize;
    if header_len > len - 4 {
        return Err(FrameError::HeaderOverflow { header: header_len, frame: len });
    }
    let ser = SerializeType::from_code(ser).ok_or(FrameError::UnknownSerializeType(ser))?;
    let mut frame = src.split_to(4 + len);
    frame.advance(8);
    let header = frame.split_to(header_len);
    let mut cmd = match ser {
        SerializeType::Json => json_header::decode_shared(&header.freeze())?,
        SerializeType::RocketMq => binary_header::decode(&header)?,
    };
    cmd.body = frame.freeze();
    Ok(Some(cmd))
}

/// How many more bytes the frame at the front of `src` needs, once its length word is in
/// (`None` before that). Only meaningful after [`decode`] returned `Ok(None)` (the length was
/// validated then).
pub fn missing_len(src: &[u8]) -> Option<usize> {
    let len = i32::from_be_bytes(src.get(0..4)?.try_into().ok()?);
    Some((4 + len.max(0) as usize).saturating_sub(src.len()))
}

/// Encode `cmd` as one frame appended to `dst`, header always JSON (spec §1.1: replies are JSON
/// whatever the request used; ali-ons parses nothing else).
pub fn encode(cmd: &RemotingCommand, dst: &mut BytesMut) {
    // The header is written in place after an 8-byte placeholder, then the two length words
    // are patched: no intermediate header buffer.
    dst.reserve(8 + 256 + cmd.body.len());
    let start = dst.len();
    dst.put_bytes(0, 8);
    json_header::encode_into(cmd, dst);
    let header_len = dst.len() - start - 8;
    dst.put_slice(&cmd.body);
    let total = (4 + header_len + cmd.body.len()) as i32;
    dst[start..start + 4].copy_from_slice(&total.to_be_bytes());
    let word = ((SerializeType::Json.code() as u32) << 24) | (header_len as u32 & 0x00FF_FFFF);
    dst[start + 4..start + 8].copy_from_slice(&word.to_be_bytes());
}

/// Encode `cmd` with a ROCKETMQ binary header (tests and fixtures).
pub fn encode_binary(cmd: &RemotingCommand, dst: &mut BytesMut) {
    let mut header = Vec::with_capacity(128);
    binary_header::encode(cmd, &mut header);
    put_frame(dst, SerializeType::RocketMq, &header, &cmd.body);
}

fn put_frame(dst: &mut BytesMut, ser: SerializeType, header: &[u8], body: &[u8]) {
    dst.reserve(8 + header.len() + body.len());
    dst.put_i32((4 + header.len() + body.len()) as i32);
    dst.put_u32(((ser.code() as u32) << 24) | (header.len() as u32 & 0x00FF_FFFF));
    dst.put_slice(header);
    dst.put_slice(body);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_incremental() {
        let cmd =
            RemotingCommand::request(34).with_opaque(5).with_body(&b"hello"[..]).with_ext("k", 1);
        let mut buf = BytesMut::new();
        encode(&cmd, &mut buf);
        let whole = buf.clone();
        for cut in 0..whole.len() {
            let mut part = BytesMut::from(&whole[..cut]);
            assert!(decode(&mut part, DEFAULT_MAX_FRAME).unwrap().is_none());
            assert_eq!(part.len(), cut);
        }
        let got = decode(&mut buf, DEFAULT_MAX_FRAME).unwrap().unwrap();
        assert!(buf.is_empty());
        assert_eq!(got.code, 34);
        assert_eq!(got.opaque, 5);
        assert_eq!(&got.body[..], b"hello");
        assert_eq!(got.ext("k"), Some("1"));
    }

    #[test]
    fn an_announced_length_reserves_nothing() {
        // A 16 MiB claim followed by nothing: the buffer keeps its size (issue 16, B3).
        let mut b = BytesMut::with_capacity(64);
        b.extend_from_slice(&(DEFAULT_MAX_FRAME as i32).to_be_bytes());
        assert!(decode(&mut b, DEFAULT_MAX_FRAME).unwrap().is_none());
        assert!(b.capacity() < 1024, "capacity {}", b.capacity());
        assert_eq!(missing_len(&b), Some(DEFAULT_MAX_FRAME));
        assert_eq!(missing_len(&b[..3]), None);
    }

    #[test]
    fn rejects_oversized_and_bad_lengths() {
        let mut b = BytesMut::from(&[0x7f, 0, 0, 0][..]);
        assert!(matches!(decode(&mut b, DEFAULT_MAX_FRAME), Err(FrameError::TooLarge { .. })));
        let mut b = BytesMut::from(&[0, 0, 0, 2, 0, 0][..]);
        assert!(matches!(decode(&mut b, DEFAULT_MAX_FRAME), Err(FrameError::TooSmall(2))));
        let mut b = BytesMut::from(&[0, 0, 0, 6, 0, 0, 0, 9, 0, 0][..]);
        assert!(matches!(
            decode(&mut b, DEFAULT_MAX_FRAME),
            Err(FrameError::HeaderOverflow { .. })
        ));
        let mut b = BytesMut::from(&[0, 0, 0, 6, 5, 0, 0, 0, 0, 0][..]);
        assert!(matches!(
            decode(&mut b, DEFAULT_MAX_FRAME),
            Err(FrameError::UnknownSerializeType(5))
        ));
    }

    #[test]
    fn binary_header_round_trip() {
        let mut cmd = RemotingCommand::request(11).with_opaque(9).with_ext("topic", "T");
        cmd.remark = Some("r".into());
        let mut buf = BytesMut::new();
        encode_binary(&cmd, &mut buf);
        let got = decode(&mut buf, DEFAULT_MAX_FRAME).unwrap().unwrap();
        assert_eq!(got.serialize_type, SerializeType::RocketMq);
        assert_eq!(got.language, "RUST");
        assert_eq!(got.ext("topic"), Some("T"));
        assert_eq!(got.remark.as_deref(), Some("r"));
    }
}
