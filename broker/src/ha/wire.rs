//! The classic HA wire format (docs/ha-protocol.md §2): the slave's 8-byte reports and the
//! master's `[offset i64][size i32][bytes]` frames, big-endian.

/// Bytes of a frame header.
pub const FRAME_HEADER: usize = 12;
/// Bytes of a slave report.
pub const REPORT: usize = 8;
/// A slave's read buffer (Java's 4 MiB): a frame larger than this is refused.
pub const READ_BUFFER: usize = 4 * 1024 * 1024;

/// A frame header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FrameHeader {
    /// commit-log offset of the first body byte (for a heartbeat: the next offset to send)
    pub offset: i64,
    /// body length (0: heartbeat)
    pub size: i32,
}

impl FrameHeader {
    /// Encode.
    pub fn encode(self) -> [u8; FRAME_HEADER] {
        let mut b = [0u8; FRAME_HEADER];
        b[..8].copy_from_slice(&self.offset.to_be_bytes());
        b[8..].copy_from_slice(&self.size.to_be_bytes());
        b
    }

    /// Decode the first 12 bytes of `b` (None if shorter).
    pub fn decode(b: &[u8]) -> Option<FrameHeader> {
        let offset = i64::from_be_bytes(b.get(..8)?.try_into().ok()?);
        let size = i32::from_be_bytes(b.get(8..12)?.try_into().ok()?);
        Some(FrameHeader { offset, size })
    }
}

/// The first frame in `buf` (what a slave has read and not yet applied): its header and
/// body, `Ok(None)` while it has not fully arrived, `Err` for a size no master sends
/// (negative, or more than fits the slave's [`READ_BUFFER`]): the slave drops the connection
/// rather than wait for bytes that can never fit. Sans-IO, so the fuzz target
/// (`fuzz/checks/ha_stream.rs`) scans streams exactly as the slave does.
pub fn next_frame(buf: &[u8]) -> Result<Option<(FrameHeader, &[u8])>, String> {
    let Some(h) = FrameHeader::decode(buf) else { return Ok(None) };
    let size = usize::try_from(h.size).ok().filter(|s| *s <= READ_BUFFER - FRAME_HEADER);
    let Some(size) = size else {
        return Err(format!("frame of {} bytes at {} refused", h.size, h.offset));
    };
    Ok(buf.get(FRAME_HEADER..FRAME_HEADER + size).map(|body| (h, body)))
}

/// The read limit a [`CONFIRM`] frame's body carries (exactly 8 bytes, else an error).
pub fn confirm_offset(body: &[u8]) -> Result<i64, String> {
    body.try_into().map(i64::from_be_bytes).map_err(|_| "bad confirm frame".to_string())
}

/// Controller mode, master → slave: a frame `[CONFIRM i64][8 i32][confirm offset i64]`, the
/// master's read limit (what every in-sync member holds), which bounds what the replica lets
/// its consumers read. Negative, so never a data frame; only a controller-mode master sends it
/// and only to a slave that opened with the controller-mode handshake.
pub const CONFIRM: i64 = -0x524D_5143_4346; // "RMQCCF"

/// A confirm frame carrying `offset`.
pub fn confirm_frame(offset: i64) -> [u8; FRAME_HEADER + 8] {
    let mut b = [0u8; FRAME_HEADER + 8];
    b[..FRAME_HEADER].copy_from_slice(&FrameHeader { offset: CONFIRM, size: 8 }.encode());
    b[FRAME_HEADER..].copy_from_slice(&offset.to_be_bytes());
    b
}

/// Encode a slave report.
pub fn report(offset: i64) -> [u8; REPORT] {
    offset.to_be_bytes()
}

/// The last complete report in `buf` (the master takes only the newest word, Java's
/// `pos - pos % 8`), and how many bytes were consumed.
pub fn last_report(buf: &[u8]) -> Option<(i64, usize)> {
    let whole = buf.len() - buf.len() % REPORT;
    if whole == 0 {
        return None;
    }
    let w = &buf[whole - REPORT..whole];
    Some((i64::from_be_bytes(w.try_into().ok()?), whole))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frame_header_round_trip_and_layout() {
        let h = FrameHeader { offset: 0x8000, size: 0x8000 };
        let b = h.encode();
        assert_eq!(b, [0, 0, 0, 0, 0, 0, 0x80, 0, 0, 0, 0x80, 0]);
        assert_eq!(FrameHeader::decode(&b), Some(h));
        assert_eq!(FrameHeader::decode(&b[..11]), None);
    }

    #[test]
    fn confirm_frame_layout() {
        let b = confirm_frame(0x0102);
        assert_eq!(FrameHeader::decode(&b), Some(FrameHeader { offset: CONFIRM, size: 8 }));
        assert_eq!(i64::from_be_bytes(b[FRAME_HEADER..].try_into().unwrap()), 0x0102);
    }

    #[test]
    fn next_frame_waits_for_the_body_and_refuses_bad_sizes() {
        let mut b = FrameHeader { offset: 64, size: 3 }.encode().to_vec();
        assert_eq!(next_frame(&b[..5]), Ok(None));
        assert_eq!(next_frame(&b), Ok(None));
        b.extend([1, 2, 3, 4]); // a body and the next frame's first byte
        assert_eq!(next_frame(&b), Ok(Some((FrameHeader { offset: 64, size: 3 }, &b[12..15]))));
        for size in [-1, i32::MAX, (READ_BUFFER - FRAME_HEADER + 1) as i32] {
            let h = FrameHeader { offset: 7, size }.encode();
            assert!(next_frame(&h).unwrap_err().contains("refused"), "{size}");
        }
        let h = FrameHeader { offset: 7, size: (READ_BUFFER - FRAME_HEADER) as i32 }.encode();
        assert_eq!(next_frame(&h), Ok(None), "the largest frame that fits is awaited");
        assert_eq!(confirm_offset(&confirm_frame(9)[FRAME_HEADER..]), Ok(9));
        assert!(confirm_offset(&[0; 7]).is_err());
    }

    #[test]
    fn coalesced_and_split_reports() {
        let mut buf = report(5).to_vec();
        buf.extend(report(9));
        buf.extend([0, 0]); // a split third report
        assert_eq!(last_report(&buf), Some((9, 16)));
        assert_eq!(last_report(&buf[..7]), None);
    }
}
