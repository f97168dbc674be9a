//! Message ids (§3.7): the broker's offsetMsgId and the client's UNIQ_KEY.

use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::atomic::{AtomicU16, Ordering};

use parking_lot::Mutex;

use crate::protocol::now_millis;

fn push_hex(s: &mut String, bytes: &[u8]) {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    for &b in bytes {
        s.push(HEX[(b >> 4) as usize] as char);
        s.push(HEX[(b & 0xF) as usize] as char);
    }
}

/// offsetMsgId: `store IP ‖ port i32 ‖ commit-log offset i64` as uppercase hex
/// (32 chars for IPv4, 56 for IPv6).
pub fn encode_offset_msg_id(store_host: SocketAddr, offset: i64) -> String {
    let mut s = String::with_capacity(56);
    match store_host.ip() {
        IpAddr::V4(ip) => push_hex(&mut s, &ip.octets()),
        IpAddr::V6(ip) => push_hex(&mut s, &ip.octets()),
    }
    push_hex(&mut s, &(store_host.port() as i32).to_be_bytes());
    push_hex(&mut s, &offset.to_be_bytes());
    s
}

/// Errors of [`decode_offset_msg_id`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MsgIdError {
    /// Length is neither 32 (IPv4) nor 56 (IPv6).
    #[error("offsetMsgId must be 32 or 56 hex chars, got {0}")]
    BadLength(usize),
    /// Not hexadecimal.
    #[error("offsetMsgId is not hex")]
    NotHex,
}

fn unhex(s: &str) -> Result<Vec<u8>, MsgIdError> {
    let b = s.as_bytes();
    let nib = |c: u8| match c {
        b'0'..=b'9' => Ok(c - b'0'),
        b'a'..=b'f' => Ok(c - b'a' + 10),
        b'A'..=b'F' => Ok(c - b'A' + 10),
        _ => Err(MsgIdError::NotHex),
    };
    b.chunks(2).map(|p| Ok(nib(p[0])? << 4 | nib(*p.get(1).ok_or(MsgIdError::NotHex)?)?)).collect()
}

/// Parse an offsetMsgId back into (store host, commit-log offset). Accepts lower case too.
pub fn decode_offset_msg_id(id: &str) -> Result<(SocketAddr, i64), MsgIdError> {
    let raw = match id.len() {
        32 | 56 => unhex(id)?,
        n => return Err(MsgIdError::BadLength(n)),
    };
    let (ip, rest): (IpAddr, &[u8]) = if raw.len() == 16 {
        (Ipv4Addr::new(raw[0], raw[1], raw[2], raw[3]).into(), &raw[4..])
    } else {
        let mut a = [0u8; 16];
        a.copy_from_slice(&raw[..16]);
        (Ipv6Addr::from(a).into(), &raw[16..])
    };
    let port = i32::from_be_bytes([rest[0], rest[1], rest[2], rest[3]]);
    let mut off = [0u8; 8];
    off.copy_from_slice(&rest[4..12]);
    Ok((SocketAddr::new(ip, port as u16), i64::from_be_bytes(off)))
}

/// Days since 1970-01-01 of a civil date (Howard Hinnant's algorithm).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146097 + doe - 719468
}

/// Civil (year, month) of a day count since the epoch.
fn civil_from_days(z: i64) -> (i64, i64) {
    let z = z + 719468;
    let era = z.div_euclid(146097);
    let doe = z - era * 146097;
    let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + if m <= 2 { 1 } else { 0 };
    (y, m)
}

/// (start of this UTC month, start of next UTC month) in ms for `now_ms`.
fn month_bounds(now_ms: i64) -> (i64, i64) {
    let (y, m) = civil_from_days(now_ms.div_euclid(86_400_000));
    let start = days_from_civil(y, m, 1) * 86_400_000;
    let (ny, nm) = if m == 12 { (y + 1, 1) } else { (y, m + 1) };
    (start, days_from_civil(ny, nm, 1) * 86_400_000)
}

/// Client-side UNIQ_KEY generator (Java `MessageClientIDSetter`):
/// `IP ‖ pid (2) ‖ random "class-loader hash" (4) ‖ ms since month start i32 ‖ counter i16`,
/// uppercase hex (32 chars for IPv4, 56 for IPv6). Thread-safe.
pub struct UniqIdGenerator {
    prefix: String,
    month: Mutex<(i64, i64)>,
    counter: AtomicU16,
}

impl UniqIdGenerator {
    /// A generator for a client at `ip`.
    pub fn new(ip: IpAddr) -> Self {
        let mut raw = Vec::with_capacity(22);
        match ip {
            IpAddr::V4(a) => raw.extend_from_slice(&a.octets()),
            IpAddr::V6(a) => raw.extend_from_slice(&a.octets()),
        }
        raw.extend_from_slice(&(std::process::id() as u16).to_be_bytes());
        let mut h = RandomState::new().build_hasher();
        h.write_i64(now_millis());
        raw.extend_from_slice(&(h.finish() as u32).to_be_bytes());
        let mut prefix = String::with_capacity(44);
        push_hex(&mut prefix, &raw);
        let seed = (h.finish() >> 32) as u16;
        UniqIdGenerator {
            prefix,
            month: Mutex::new(month_bounds(now_millis())),
            counter: AtomicU16::new(seed),
        }
    }

    /// Next id.
    pub fn next_id(&self) -> String {
        let mut s = String::with_capacity(self.prefix.len() + 12);
        self.next_id_into(&mut s);
        s
    }

    /// Append the next id to `out` (no allocation of its own: the batch encoder writes ids
    /// straight into the batch body and the joined id list).
    pub fn next_id_into(&self, out: &mut String) {
        let now = now_millis();
        let start = {
            let mut m = self.month.lock();
            if now >= m.1 || now < m.0 {
                *m = month_bounds(now);
            }
            m.0
        };
        out.push_str(&self.prefix);
        push_hex(out, &((now - start) as i32).to_be_bytes());
        push_hex(out, &self.counter.fetch_add(1, Ordering::Relaxed).to_be_bytes());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offset_msg_id_round_trip() {
        let a: SocketAddr = "10.1.2.3:10911".parse().unwrap();
        let id = encode_offset_msg_id(a, 0x1234_5678_9ABC);
        assert_eq!(id, "0A01020300002A9F0000123456789ABC");
        assert_eq!(decode_offset_msg_id(&id).unwrap(), (a, 0x1234_5678_9ABC));
        assert_eq!(decode_offset_msg_id(&id.to_lowercase()).unwrap().1, 0x1234_5678_9ABC);
        let b: SocketAddr = "[fe80::1]:9".parse().unwrap();
        let id = encode_offset_msg_id(b, 7);
        assert_eq!(id.len(), 56);
        assert_eq!(decode_offset_msg_id(&id).unwrap(), (b, 7));
        assert!(decode_offset_msg_id("XYZ").is_err());
        assert!(decode_offset_msg_id(&"G".repeat(32)).is_err());
        assert!(decode_offset_msg_id("é".repeat(16).as_str()).is_err());
    }

    #[test]
    fn month_bounds_are_right() {
        // 2024-02-15T00:00:00Z = 1707955200000; Feb 2024 starts 1706745600000, March 1709251200000.
        assert_eq!(month_bounds(1_707_955_200_000), (1_706_745_600_000, 1_709_251_200_000));
        // December rolls into next year.
        let (s, e) = month_bounds(1_703_030_400_000); // 2023-12-20
        assert_eq!(s, 1_701_388_800_000);
        assert_eq!(e, 1_704_067_200_000);
    }

    #[test]
    fn uniq_ids_are_unique_and_well_formed() {
        let g = UniqIdGenerator::new("192.168.0.1".parse().unwrap());
        let a = g.next_id();
        let b = g.next_id();
        assert_ne!(a, b);
        assert_eq!(a.len(), 32);
        assert!(a.starts_with("C0A80001"));
        assert!(a.chars().all(|c| c.is_ascii_hexdigit() && !c.is_ascii_lowercase()));
        let g6 = UniqIdGenerator::new("::1".parse().unwrap());
        assert_eq!(g6.next_id().len(), 56);
    }
}
