//! HTTP/2 frame layout (RFC 9113 §4.1, §6): the 9-byte frame header, the frame types and
//! flags the client uses, and writers of the small control frames it sends.

use bytes::{BufMut, BytesMut};

/// Bytes of a frame header.
pub const HEAD_LEN: usize = 9;
/// The client connection preface (§3.4), sent before the client's SETTINGS.
pub const PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
/// SETTINGS_MAX_FRAME_SIZE's initial value (§6.5.2): the largest frame either side may send
/// until the other says otherwise; the client never raises its own.
pub const DEFAULT_MAX_FRAME: usize = 16_384;
/// The initial flow-control window of a stream and of the connection (§6.9.2).
pub const DEFAULT_WINDOW: i64 = 65_535;
/// The largest flow-control window (§6.9.1).
pub const MAX_WINDOW: i64 = (1 << 31) - 1;

/// Frame types (§6).
pub mod ty {
    pub const DATA: u8 = 0x0;
    pub const HEADERS: u8 = 0x1;
    pub const PRIORITY: u8 = 0x2;
    pub const RST_STREAM: u8 = 0x3;
    pub const SETTINGS: u8 = 0x4;
    pub const PUSH_PROMISE: u8 = 0x5;
    pub const PING: u8 = 0x6;
    pub const GOAWAY: u8 = 0x7;
    pub const WINDOW_UPDATE: u8 = 0x8;
    pub const CONTINUATION: u8 = 0x9;
}

/// Frame flags (§6).
pub mod flag {
    /// DATA, HEADERS: the sender's last frame on the stream.
    pub const END_STREAM: u8 = 0x1;
    /// SETTINGS, PING: an acknowledgement.
    pub const ACK: u8 = 0x1;
    /// HEADERS, CONTINUATION: the header block ends with this frame.
    pub const END_HEADERS: u8 = 0x4;
    /// DATA, HEADERS: a pad length byte and padding surround the payload.
    pub const PADDED: u8 = 0x8;
    /// HEADERS: 5 bytes of priority fields precede the header block fragment.
    pub const PRIORITY: u8 = 0x20;
}

/// SETTINGS identifiers (§6.5.2).
pub mod setting {
    pub const HEADER_TABLE_SIZE: u16 = 0x1;
    pub const ENABLE_PUSH: u16 = 0x2;
    pub const MAX_CONCURRENT_STREAMS: u16 = 0x3;
    pub const INITIAL_WINDOW_SIZE: u16 = 0x4;
    pub const MAX_FRAME_SIZE: u16 = 0x5;
}

/// Error codes (§7).
pub mod code {
    pub const PROTOCOL_ERROR: u32 = 0x1;
    pub const FLOW_CONTROL_ERROR: u32 = 0x3;
    pub const FRAME_SIZE_ERROR: u32 = 0x6;
    pub const CANCEL: u32 = 0x8;
    pub const COMPRESSION_ERROR: u32 = 0x9;
}

/// A parsed frame header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Head {
    /// Payload length.
    pub len: usize,
    /// Frame type ([`ty`]).
    pub ty: u8,
    /// Flags ([`flag`]).
    pub flags: u8,
    /// Stream identifier (the reserved bit cleared, as §4.1 says to ignore it).
    pub stream: u32,
}

impl Head {
    /// The header at the start of `b` (at least [`HEAD_LEN`] bytes).
    pub fn parse(b: &[u8]) -> Head {
        Head {
            len: (b[0] as usize) << 16 | (b[1] as usize) << 8 | b[2] as usize,
            ty: b[3],
            flags: b[4],
            stream: u32::from_be_bytes([b[5], b[6], b[7], b[8]]) & 0x7fff_ffff,
        }
    }

    /// Whether `f` is set.
    pub fn has(&self, f: u8) -> bool {
        self.flags & f != 0
    }
}

/// A frame header's bytes.
pub fn head(len: usize, ty: u8, flags: u8, stream: u32) -> [u8; HEAD_LEN] {
    debug_assert!(len < 1 << 24);
    let [_, l0, l1, l2] = (len as u32).to_be_bytes();
    let [s0, s1, s2, s3] = (stream & 0x7fff_ffff).to_be_bytes();
    [l0, l1, l2, ty, flags, s0, s1, s2, s3]
}

/// Append a frame header.
pub fn put_head(out: &mut BytesMut, len: usize, ty: u8, flags: u8, stream: u32) {
    out.put_slice(&head(len, ty, flags, stream));
}

/// Append a SETTINGS frame carrying `values`.
pub fn put_settings(out: &mut BytesMut, values: &[(u16, u32)]) {
    put_head(out, values.len() * 6, ty::SETTINGS, 0, 0);
    for &(id, v) in values {
        out.put_u16(id);
        out.put_u32(v);
    }
}

/// Append a SETTINGS acknowledgement.
pub fn put_settings_ack(out: &mut BytesMut) {
    put_head(out, 0, ty::SETTINGS, flag::ACK, 0);
}

/// Append a PING acknowledgement echoing `data`.
pub fn put_ping_ack(out: &mut BytesMut, data: &[u8]) {
    put_head(out, 8, ty::PING, flag::ACK, 0);
    out.put_slice(data);
}

/// Append a WINDOW_UPDATE of `stream` (0: the connection).
pub fn put_window_update(out: &mut BytesMut, stream: u32, increment: u32) {
    put_head(out, 4, ty::WINDOW_UPDATE, 0, stream);
    out.put_u32(increment & 0x7fff_ffff);
}

/// Append an RST_STREAM.
pub fn put_rst(out: &mut BytesMut, stream: u32, code: u32) {
    put_head(out, 4, ty::RST_STREAM, 0, stream);
    out.put_u32(code);
}

/// Append a GOAWAY (the client accepts no streams: its last stream id is 0).
pub fn put_goaway(out: &mut BytesMut, code: u32) {
    put_head(out, 8, ty::GOAWAY, 0, 0);
    out.put_u32(0);
    out.put_u32(code);
}

/// The payload of a PADDED frame without its pad length byte and padding, or `None` if the
/// padding is longer than the payload (a PROTOCOL_ERROR, §6.1).
pub fn unpad(payload: &[u8], padded: bool) -> Option<&[u8]> {
    if !padded {
        return Some(payload);
    }
    let (&pad, rest) = payload.split_first()?;
    rest.len().checked_sub(pad as usize).map(|n| &rest[..n])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn head_round_trip() {
        let mut b = BytesMut::new();
        put_head(
            &mut b,
            0x01_02_03,
            ty::HEADERS,
            flag::END_HEADERS | flag::END_STREAM,
            0x7fff_fffd,
        );
        assert_eq!(&b[..], &[1, 2, 3, 1, 5, 0x7f, 0xff, 0xff, 0xfd]);
        let h = Head::parse(&b);
        assert_eq!(h, Head { len: 0x01_02_03, ty: ty::HEADERS, flags: 5, stream: 0x7fff_fffd });
        assert!(h.has(flag::END_STREAM) && h.has(flag::END_HEADERS) && !h.has(flag::PADDED));
    }

    #[test]
    fn reserved_bit_is_ignored() {
        let h = Head::parse(&[0, 0, 4, ty::WINDOW_UPDATE, 0, 0x80, 0, 0, 3]);
        assert_eq!(h.stream, 3);
        assert_eq!(h.len, 4);
    }

    #[test]
    fn control_frames() {
        let mut b = BytesMut::new();
        put_settings(&mut b, &[(setting::ENABLE_PUSH, 0), (setting::INITIAL_WINDOW_SIZE, 1 << 21)]);
        assert_eq!(Head::parse(&b), Head { len: 12, ty: ty::SETTINGS, flags: 0, stream: 0 });
        assert_eq!(&b[9..], &[0, 2, 0, 0, 0, 0, 0, 4, 0, 0x20, 0, 0]);
        b.clear();
        put_window_update(&mut b, 5, 1000);
        assert_eq!(&b[..], &[0, 0, 4, 8, 0, 0, 0, 0, 5, 0, 0, 0x03, 0xe8]);
        b.clear();
        put_goaway(&mut b, code::PROTOCOL_ERROR);
        assert_eq!(&b[..], &[0, 0, 8, 7, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1]);
    }

    #[test]
    fn padding() {
        assert_eq!(unpad(b"abc", false), Some(&b"abc"[..]));
        assert_eq!(unpad(&[2, b'x', b'y', 0, 0], true), Some(&b"xy"[..]));
        assert_eq!(unpad(&[3, b'x', 0], true), None);
        assert_eq!(unpad(&[], true), None);
    }
}
