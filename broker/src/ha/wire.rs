//! The classic HA wire format (docs/ha-protocol.md §2): the slave's 8-byte reports and the
//! master's `[offset i64][size i32][bytes]` frames, big-endian.

/// Bytes of a frame header.
pub const FRAME_HEADER: usize = 12;
/// Bytes of a slave report.
pub const REPORT: usize = 8;

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
    fn coalesced_and_split_reports() {
        let mut buf = report(5).to_vec();
        buf.extend(report(9));
        buf.extend([0, 0]); // a split third report
        assert_eq!(last_report(&buf), Some((9, 16)));
        assert_eq!(last_report(&buf[..7]), None);
    }
}
