//! The stored-message record (spec §3.1): encoder, bounded decoder, decoded views.
//!
//! A record is what the commit log holds and what PULL/QUERY/VIEW responses carry, byte for
//! byte. The decoder never panics and never allocates based on a length field it has not
//! checked against the buffer: clients feed it bytes from the network.

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use bytes::Bytes;

use super::property;
use super::sysflag::{self, BORNHOST_V6_FLAG, STOREHOSTADDRESS_V6_FLAG};
use super::util::{crc32_masked, zlib_decompress, DecompressError};

/// Magic of a V1 record (1-byte topic length); the only version we write.
pub const MESSAGE_MAGIC_CODE_V1: i32 = 0xDAA3_20A7_u32 as i32;
/// Magic of a V2 record (2-byte topic length); accepted on read.
pub const MESSAGE_MAGIC_CODE_V2: i32 = 0xDAA3_20AB_u32 as i32;
/// Magic of the end-of-file blank marker (§3.2).
pub const BLANK_MAGIC_CODE: i32 = 0xCBD4_3194_u32 as i32;

/// Longest topic a V1 record can carry (Java reads the length as a signed byte).
pub const MAX_TOPIC_LEN_V1: usize = 127;
/// Longest properties string (the length is a signed 16-bit field).
pub const MAX_PROPERTIES_LEN: usize = i16::MAX as usize;
/// Smallest possible record: V1, IPv4 hosts, empty body/topic/properties.
pub const MIN_RECORD_LEN: usize = 91;

/// Fixed byte positions inside a record, valid for every record (they precede the hosts).
pub mod pos {
    /// TOTALSIZE i32.
    pub const TOTAL_SIZE: usize = 0;
    /// MAGICCODE i32.
    pub const MAGIC: usize = 4;
    /// BODYCRC i32.
    pub const BODY_CRC: usize = 8;
    /// QUEUEID i32.
    pub const QUEUE_ID: usize = 12;
    /// FLAG i32.
    pub const FLAG: usize = 16;
    /// QUEUEOFFSET i64.
    pub const QUEUE_OFFSET: usize = 20;
    /// PHYSICALOFFSET i64.
    pub const PHYSICAL_OFFSET: usize = 28;
    /// SYSFLAG i32.
    pub const SYS_FLAG: usize = 36;
    /// BORNTIMESTAMP i64.
    pub const BORN_TIMESTAMP: usize = 40;
    /// BORNHOST (8 or 20 bytes).
    pub const BORN_HOST: usize = 48;

    /// Position of STORETIMESTAMP, which depends on the born host's address family.
    pub fn store_timestamp(sys_flag: i32) -> usize {
        BORN_HOST + super::host_len_flag(sys_flag & super::BORNHOST_V6_FLAG != 0)
    }

    /// Position of RECONSUMETIMES, after both hosts.
    pub fn reconsume_times(sys_flag: i32) -> usize {
        store_timestamp(sys_flag)
            + 8
            + super::host_len_flag(sys_flag & super::STOREHOSTADDRESS_V6_FLAG != 0)
    }
}

/// A stored record's PHYSICALOFFSET and RECONSUMETIMES read from their places, without
/// decoding the rest: for a path that hands out whole records and needs only these (a POP
/// delivering a batch), where [`RecordView::parse`] (hosts, topic and properties checked as
/// UTF-8) was a tenth of the work. `None` unless `buf` starts with a message record (magic
/// V1/V2) whose TOTALSIZE is at least [`MIN_RECORD_LEN`] and fits in `buf`.
pub fn physical_offset_and_reconsume_times(buf: &[u8]) -> Option<(i64, i32)> {
    let total = read_i32(buf, pos::TOTAL_SIZE)?;
    let magic = read_i32(buf, pos::MAGIC)?;
    if (magic != MESSAGE_MAGIC_CODE_V1 && magic != MESSAGE_MAGIC_CODE_V2)
        || total < MIN_RECORD_LEN as i32
        || total as usize > buf.len()
    {
        return None;
    }
    let sys_flag = read_i32(buf, pos::SYS_FLAG)?;
    Some((read_i64(buf, pos::PHYSICAL_OFFSET)?, read_i32(buf, pos::reconsume_times(sys_flag))?))
}

fn host_len_flag(v6: bool) -> usize {
    if v6 {
        20
    } else {
        8
    }
}

/// Encoded length of a host address field (IP bytes + i32 port).
pub fn host_len(addr: &SocketAddr) -> usize {
    host_len_flag(addr.is_ipv6())
}

/// Length of a V1 record with these component sizes.
pub fn record_len(
    body_len: usize,
    topic_len: usize,
    properties_len: usize,
    born_v6: bool,
    store_v6: bool,
) -> usize {
    MIN_RECORD_LEN - 16
        + host_len_flag(born_v6)
        + host_len_flag(store_v6)
        + body_len
        + topic_len
        + properties_len
}

/// Errors of the encoder.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EncodeError {
    /// Topic longer than 127 bytes cannot be written as V1.
    #[error("topic is {0} bytes, max 127")]
    TopicTooLong(usize),
    /// Properties longer than 32767 bytes.
    #[error("properties are {0} bytes, max 32767")]
    PropertiesTooLong(usize),
    /// Record would exceed i32 range.
    #[error("record of {0} bytes is too large")]
    TooLarge(usize),
    /// Destination slice too small.
    #[error("buffer too small: need {need}, have {have}")]
    BufferTooSmall {
        /// bytes needed
        need: usize,
        /// bytes available
        have: usize,
    },
}

/// Errors of the decoder. Never produced by a panic path; every length is checked.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    /// The buffer ends before the record does (`needed` bytes in total would be required).
    #[error("truncated record: need {needed} bytes, have {have}")]
    Truncated {
        /// total bytes the record claims (or the header needs)
        needed: usize,
        /// bytes available
        have: usize,
    },
    /// The position holds an end-of-file blank marker covering `size` bytes.
    #[error("blank end-of-file marker of {size} bytes")]
    Blank {
        /// the marker's TOTALSIZE field
        size: i32,
    },
    /// Unknown magic code.
    #[error("bad magic code {0:#010x}")]
    BadMagic(i32),
    /// TOTALSIZE is impossible or disagrees with the fields.
    #[error("bad record size: total {total}, fields {computed}")]
    BadSize {
        /// TOTALSIZE field
        total: i64,
        /// length computed from the fields (0 if unknown)
        computed: i64,
    },
    /// Body CRC mismatch.
    #[error("body CRC mismatch: stored {stored}, computed {computed}")]
    BadCrc {
        /// BODYCRC field
        stored: i32,
        /// CRC of the body
        computed: i32,
    },
    /// A field is malformed (negative length, invalid UTF-8, ...).
    #[error("malformed record: {0}")]
    Malformed(&'static str),
}

/// All fields of a record to encode, by reference. Host families decide the SYSFLAG V6 bits:
/// the encoder sets/clears bits 4 and 5 itself so the flag always matches the bytes.
#[derive(Debug, Clone, Copy)]
pub struct RecordFields<'a> {
    /// QUEUEID
    pub queue_id: i32,
    /// FLAG
    pub flag: i32,
    /// QUEUEOFFSET
    pub queue_offset: i64,
    /// PHYSICALOFFSET
    pub physical_offset: i64,
    /// SYSFLAG (V6 bits are recomputed)
    pub sys_flag: i32,
    /// BORNTIMESTAMP
    pub born_timestamp: i64,
    /// BORNHOST
    pub born_host: SocketAddr,
    /// STORETIMESTAMP
    pub store_timestamp: i64,
    /// STOREHOSTADDRESS
    pub store_host: SocketAddr,
    /// RECONSUMETIMES
    pub reconsume_times: i32,
    /// PREPARED TRANSACTION OFFSET
    pub prepared_transaction_offset: i64,
    /// BODY (as stored, possibly compressed)
    pub body: &'a [u8],
    /// BODYCRC (masked CRC32 of `body`; pass `crc32_masked(body)`)
    pub body_crc: i32,
    /// TOPIC (≤ 127 bytes)
    pub topic: &'a str,
    /// encoded properties string (≤ 32767 bytes)
    pub properties: &'a str,
}

impl RecordFields<'_> {
    /// Encoded length in bytes, or an error if a component is too large for the format.
    pub fn encoded_len(&self) -> Result<usize, EncodeError> {
        if self.topic.len() > MAX_TOPIC_LEN_V1 {
            return Err(EncodeError::TopicTooLong(self.topic.len()));
        }
        if self.properties.len() > MAX_PROPERTIES_LEN {
            return Err(EncodeError::PropertiesTooLong(self.properties.len()));
        }
        let n = record_len(
            self.body.len(),
            self.topic.len(),
            self.properties.len(),
            self.born_host.is_ipv6(),
            self.store_host.is_ipv6(),
        );
        if n > i32::MAX as usize {
            return Err(EncodeError::TooLarge(n));
        }
        Ok(n)
    }

    /// SYSFLAG as written: the given flag with V6 bits matching the host families.
    pub fn effective_sys_flag(&self) -> i32 {
        let mut f = self.sys_flag & !(BORNHOST_V6_FLAG | STOREHOSTADDRESS_V6_FLAG);
        if self.born_host.is_ipv6() {
            f |= BORNHOST_V6_FLAG;
        }
        if self.store_host.is_ipv6() {
            f |= STOREHOSTADDRESS_V6_FLAG;
        }
        f
    }
}

fn put_host(dst: &mut [u8], at: usize, addr: &SocketAddr) -> usize {
    match addr.ip() {
        IpAddr::V4(ip) => {
            dst[at..at + 4].copy_from_slice(&ip.octets());
            dst[at + 4..at + 8].copy_from_slice(&(addr.port() as i32).to_be_bytes());
            at + 8
        }
        IpAddr::V6(ip) => {
            dst[at..at + 16].copy_from_slice(&ip.octets());
            dst[at + 16..at + 20].copy_from_slice(&(addr.port() as i32).to_be_bytes());
            at + 20
        }
    }
}

/// Encode a V1 record into the front of `dst`; returns the number of bytes written.
pub fn encode_record_into(dst: &mut [u8], f: &RecordFields<'_>) -> Result<usize, EncodeError> {
    let len = f.encoded_len()?;
    if dst.len() < len {
        return Err(EncodeError::BufferTooSmall { need: len, have: dst.len() });
    }
    let dst = &mut dst[..len];
    let mut p = 0usize;
    macro_rules! put {
        ($v:expr) => {{
            let b = $v.to_be_bytes();
            dst[p..p + b.len()].copy_from_slice(&b);
            p += b.len();
        }};
    }
    put!(len as i32);
    put!(MESSAGE_MAGIC_CODE_V1);
    put!(f.body_crc);
    put!(f.queue_id);
    put!(f.flag);
    put!(f.queue_offset);
    put!(f.physical_offset);
    put!(f.effective_sys_flag());
    put!(f.born_timestamp);
    p = put_host(dst, p, &f.born_host);
    put!(f.store_timestamp);
    p = put_host(dst, p, &f.store_host);
    put!(f.reconsume_times);
    put!(f.prepared_transaction_offset);
    put!(f.body.len() as i32);
    dst[p..p + f.body.len()].copy_from_slice(f.body);
    p += f.body.len();
    dst[p] = f.topic.len() as u8;
    p += 1;
    dst[p..p + f.topic.len()].copy_from_slice(f.topic.as_bytes());
    p += f.topic.len();
    put!(f.properties.len() as i16);
    dst[p..p + f.properties.len()].copy_from_slice(f.properties.as_bytes());
    p += f.properties.len();
    debug_assert_eq!(p, len);
    Ok(len)
}

/// Encode a V1 record into a new vector.
pub fn encode_record(f: &RecordFields<'_>) -> Result<Vec<u8>, EncodeError> {
    let mut v = vec![0u8; f.encoded_len()?];
    encode_record_into(&mut v, f)?;
    Ok(v)
}

/// Bounds-checked big-endian reader over one record.
struct Cursor<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Cursor<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], DecodeError> {
        let end = self.pos.checked_add(n).filter(|&e| e <= self.buf.len()).ok_or(
            DecodeError::BadSize {
                total: self.buf.len() as i64,
                computed: (self.pos as i64).saturating_add(n as i64),
            },
        )?;
        let s = &self.buf[self.pos..end];
        self.pos = end;
        Ok(s)
    }
    fn u8(&mut self) -> Result<u8, DecodeError> {
        Ok(self.take(1)?[0])
    }
    fn i16(&mut self) -> Result<i16, DecodeError> {
        let b = self.take(2)?;
        Ok(i16::from_be_bytes([b[0], b[1]]))
    }
    fn i32(&mut self) -> Result<i32, DecodeError> {
        let b = self.take(4)?;
        Ok(i32::from_be_bytes([b[0], b[1], b[2], b[3]]))
    }
    fn i64(&mut self) -> Result<i64, DecodeError> {
        let b = self.take(8)?;
        let mut a = [0u8; 8];
        a.copy_from_slice(b);
        Ok(i64::from_be_bytes(a))
    }
    fn host(&mut self, v6: bool) -> Result<SocketAddr, DecodeError> {
        let ip = if v6 {
            let b = self.take(16)?;
            let mut a = [0u8; 16];
            a.copy_from_slice(b);
            IpAddr::V6(Ipv6Addr::from(a))
        } else {
            let b = self.take(4)?;
            IpAddr::V4(Ipv4Addr::new(b[0], b[1], b[2], b[3]))
        };
        let port = self.i32()?;
        Ok(SocketAddr::new(ip, port as u16))
    }
}

/// Read a big-endian i32 at `at`, if in bounds.
pub fn read_i32(buf: &[u8], at: usize) -> Option<i32> {
    let b = buf.get(at..at.checked_add(4)?)?;
    Some(i32::from_be_bytes([b[0], b[1], b[2], b[3]]))
}

/// Read a big-endian i64 at `at`, if in bounds.
pub fn read_i64(buf: &[u8], at: usize) -> Option<i64> {
    let b = buf.get(at..at.checked_add(8)?)?;
    let mut a = [0u8; 8];
    a.copy_from_slice(b);
    Some(i64::from_be_bytes(a))
}

/// A decoded record borrowing from the buffer (no allocation). Used by the store's dispatcher
/// and recovery, and as the basis of [`MessageExt`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RecordView<'a> {
    /// TOTALSIZE
    pub total_size: i32,
    /// MAGICCODE (V1 or V2)
    pub magic: i32,
    /// BODYCRC
    pub body_crc: i32,
    /// QUEUEID
    pub queue_id: i32,
    /// FLAG
    pub flag: i32,
    /// QUEUEOFFSET
    pub queue_offset: i64,
    /// PHYSICALOFFSET
    pub physical_offset: i64,
    /// SYSFLAG
    pub sys_flag: i32,
    /// BORNTIMESTAMP
    pub born_timestamp: i64,
    /// BORNHOST
    pub born_host: SocketAddr,
    /// STORETIMESTAMP
    pub store_timestamp: i64,
    /// STOREHOSTADDRESS
    pub store_host: SocketAddr,
    /// RECONSUMETIMES
    pub reconsume_times: i32,
    /// PREPARED TRANSACTION OFFSET
    pub prepared_transaction_offset: i64,
    /// BODY as stored
    pub body: &'a [u8],
    /// TOPIC
    pub topic: &'a str,
    /// encoded properties string
    pub properties: &'a str,
}

impl<'a> RecordView<'a> {
    /// Decode the record at the start of `buf`. `check_crc` verifies BODYCRC.
    ///
    /// Returns [`DecodeError::Blank`] for an end-of-file marker and
    /// [`DecodeError::Truncated`] when `buf` is shorter than the record claims.
    pub fn parse(buf: &'a [u8], check_crc: bool) -> Result<Self, DecodeError> {
        if buf.len() < 8 {
            return Err(DecodeError::Truncated { needed: 8, have: buf.len() });
        }
        let total_size = read_i32(buf, 0).unwrap_or(0);
        let magic = read_i32(buf, 4).unwrap_or(0);
        if magic == BLANK_MAGIC_CODE {
            return Err(DecodeError::Blank { size: total_size });
        }
        if magic != MESSAGE_MAGIC_CODE_V1 && magic != MESSAGE_MAGIC_CODE_V2 {
            return Err(DecodeError::BadMagic(magic));
        }
        if total_size < MIN_RECORD_LEN as i32 {
            return Err(DecodeError::BadSize { total: total_size as i64, computed: 0 });
        }
        let total = total_size as usize;
        if total > buf.len() {
            return Err(DecodeError::Truncated { needed: total, have: buf.len() });
        }
        let mut c = Cursor { buf: &buf[..total], pos: 8 };
        let body_crc = c.i32()?;
        let queue_id = c.i32()?;
        let flag = c.i32()?;
        let queue_offset = c.i64()?;
        let physical_offset = c.i64()?;
        let sys_flag = c.i32()?;
        let born_timestamp = c.i64()?;
        let born_host = c.host(sys_flag & BORNHOST_V6_FLAG != 0)?;
        let store_timestamp = c.i64()?;
        let store_host = c.host(sys_flag & STOREHOSTADDRESS_V6_FLAG != 0)?;
        let reconsume_times = c.i32()?;
        let prepared_transaction_offset = c.i64()?;
        let body_len = c.i32()?;
        if body_len < 0 {
            return Err(DecodeError::Malformed("negative body length"));
        }
        let body = c.take(body_len as usize)?;
        let topic_len = if magic == MESSAGE_MAGIC_CODE_V1 {
            c.u8()? as usize
        } else {
            let l = c.i16()?;
            if l < 0 {
                return Err(DecodeError::Malformed("negative topic length"));
            }
            l as usize
        };
        let topic = std::str::from_utf8(c.take(topic_len)?)
            .map_err(|_| DecodeError::Malformed("topic is not UTF-8"))?;
        let props_len = c.i16()?;
        if props_len < 0 {
            return Err(DecodeError::Malformed("negative properties length"));
        }
        let properties = std::str::from_utf8(c.take(props_len as usize)?)
            .map_err(|_| DecodeError::Malformed("properties are not UTF-8"))?;
        if c.pos != total {
            return Err(DecodeError::BadSize { total: total as i64, computed: c.pos as i64 });
        }
        if check_crc {
            let computed = crc32_masked(body);
            if computed != body_crc {
                return Err(DecodeError::BadCrc { stored: body_crc, computed });
            }
        }
        Ok(RecordView {
            total_size,
            magic,
            body_crc,
            queue_id,
            flag,
            queue_offset,
            physical_offset,
            sys_flag,
            born_timestamp,
            born_host,
            store_timestamp,
            store_host,
            reconsume_times,
            prepared_transaction_offset,
            body,
            topic,
            properties,
        })
    }

    /// Value of a property, without building a map.
    pub fn property(&self, key: &str) -> Option<&'a str> {
        property::get_property(self.properties, key)
    }

    /// The fields of this record, for re-encoding (always as V1).
    pub fn fields(&self) -> RecordFields<'a> {
        RecordFields {
            queue_id: self.queue_id,
            flag: self.flag,
            queue_offset: self.queue_offset,
            physical_offset: self.physical_offset,
            sys_flag: self.sys_flag,
            born_timestamp: self.born_timestamp,
            born_host: self.born_host,
            store_timestamp: self.store_timestamp,
            store_host: self.store_host,
            reconsume_times: self.reconsume_times,
            prepared_transaction_offset: self.prepared_transaction_offset,
            body: self.body,
            body_crc: self.body_crc,
            topic: self.topic,
            properties: self.properties,
        }
    }

    /// Whether this record is dispatched to a consume queue (NOT_TYPE or COMMIT).
    pub fn is_dispatchable(&self) -> bool {
        sysflag::is_dispatchable(self.sys_flag)
    }
}

/// A fully decoded, owned message (Java `MessageExt`), as a client sees it after a pull.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MessageExt {
    /// TOTALSIZE
    pub store_size: i32,
    /// MAGICCODE the record had
    pub magic: i32,
    /// BODYCRC
    pub body_crc: i32,
    /// QUEUEID
    pub queue_id: i32,
    /// FLAG
    pub flag: i32,
    /// QUEUEOFFSET
    pub queue_offset: i64,
    /// PHYSICALOFFSET (commit-log offset)
    pub commit_log_offset: i64,
    /// SYSFLAG
    pub sys_flag: i32,
    /// BORNTIMESTAMP
    pub born_timestamp: i64,
    /// BORNHOST
    pub born_host: SocketAddr,
    /// STORETIMESTAMP
    pub store_timestamp: i64,
    /// STOREHOSTADDRESS
    pub store_host: SocketAddr,
    /// RECONSUMETIMES
    pub reconsume_times: i32,
    /// PREPARED TRANSACTION OFFSET
    pub prepared_transaction_offset: i64,
    /// body as stored (possibly compressed; see [`MessageExt::body_uncompressed`])
    pub body: Bytes,
    /// topic
    pub topic: String,
    /// decoded properties
    pub properties: BTreeMap<String, String>,
    /// offsetMsgId computed from store host and commit-log offset (§3.7)
    pub offset_msg_id: String,
}

impl MessageExt {
    /// Decode one record at the start of `buf`; the body is a zero-copy slice of `buf`.
    /// Returns the message and the bytes consumed.
    pub fn decode(buf: &Bytes, check_crc: bool) -> Result<(MessageExt, usize), DecodeError> {
        let v = RecordView::parse(buf, check_crc)?;
        let body_start = v.body.as_ptr() as usize - buf.as_ptr() as usize;
        let m = MessageExt {
            store_size: v.total_size,
            magic: v.magic,
            body_crc: v.body_crc,
            queue_id: v.queue_id,
            flag: v.flag,
            queue_offset: v.queue_offset,
            commit_log_offset: v.physical_offset,
            sys_flag: v.sys_flag,
            born_timestamp: v.born_timestamp,
            born_host: v.born_host,
            store_timestamp: v.store_timestamp,
            store_host: v.store_host,
            reconsume_times: v.reconsume_times,
            prepared_transaction_offset: v.prepared_transaction_offset,
            body: buf.slice(body_start..body_start + v.body.len()),
            topic: v.topic.to_owned(),
            properties: property::decode_properties(v.properties),
            offset_msg_id: super::msg_id::encode_offset_msg_id(v.store_host, v.physical_offset),
        };
        Ok((m, v.total_size as usize))
    }

    /// A property value.
    pub fn property(&self, key: &str) -> Option<&str> {
        self.properties.get(key).map(String::as_str)
    }

    /// TAGS property.
    pub fn tags(&self) -> Option<&str> {
        self.property(property::TAGS)
    }

    /// KEYS property split on spaces.
    pub fn keys(&self) -> Vec<&str> {
        self.property(property::KEYS)
            .map(|k| k.split(' ').filter(|s| !s.is_empty()).collect())
            .unwrap_or_default()
    }

    /// The user-visible message id: UNIQ_KEY if present, else the offsetMsgId.
    pub fn msg_id(&self) -> &str {
        self.property(property::UNIQ_KEY).unwrap_or(self.offset_msg_id.as_str())
    }

    /// The body, decompressed if SYSFLAG says so (zlib only), limited to `max_len` bytes.
    pub fn body_uncompressed(&self, max_len: usize) -> Result<Bytes, DecompressError> {
        if self.sys_flag & sysflag::COMPRESSED_FLAG == 0 {
            return Ok(self.body.clone());
        }
        match self.sys_flag & sysflag::COMPRESSION_TYPE_MASK {
            0 | sysflag::COMPRESSION_ZLIB => Ok(Bytes::from(zlib_decompress(&self.body, max_len)?)),
            other => Err(DecompressError::Unsupported(other >> 8)),
        }
    }

    /// Re-encode as a V1 record (CHECK_TRANSACTION_STATE body, §3.8). BODYCRC is recomputed.
    pub fn encode(&self) -> Result<Vec<u8>, EncodeError> {
        let props = property::encode_properties(self.properties.iter());
        encode_record(&RecordFields {
            queue_id: self.queue_id,
            flag: self.flag,
            queue_offset: self.queue_offset,
            physical_offset: self.commit_log_offset,
            sys_flag: self.sys_flag,
            born_timestamp: self.born_timestamp,
            born_host: self.born_host,
            store_timestamp: self.store_timestamp,
            store_host: self.store_host,
            reconsume_times: self.reconsume_times,
            prepared_transaction_offset: self.prepared_transaction_offset,
            body: &self.body,
            body_crc: crc32_masked(&self.body),
            topic: &self.topic,
            properties: &props,
        })
    }
}

/// Decode a buffer of concatenated records (a PULL/QUERY response body).
///
/// Any trailing garbage or truncated record is an error; the whole buffer must decode.
pub fn decode_all(buf: &Bytes, check_crc: bool) -> Result<Vec<MessageExt>, DecodeError> {
    let mut out = Vec::new();
    let mut at = 0usize;
    while at < buf.len() {
        let rest = buf.slice(at..);
        let (m, n) = MessageExt::decode(&rest, check_crc)?;
        out.push(m);
        at += n;
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v4(a: [u8; 4], port: u16) -> SocketAddr {
        SocketAddr::new(IpAddr::V4(Ipv4Addr::from(a)), port)
    }

    /// Build the §3.1 table by hand and compare with the encoder, byte for byte.
    #[test]
    fn byte_exact_fixture_v1_ipv4() {
        let body = b"hello";
        let topic = "TopicTest";
        let props = "TAGS\u{1}TagA\u{2}";
        let mut exp = Vec::new();
        let total = 91 + body.len() + topic.len() + props.len();
        exp.extend_from_slice(&(total as i32).to_be_bytes()); // TOTALSIZE
        exp.extend_from_slice(&[0xDA, 0xA3, 0x20, 0xA7]); // MAGIC V1
        exp.extend_from_slice(&crc32_masked(body).to_be_bytes()); // BODYCRC
        exp.extend_from_slice(&3i32.to_be_bytes()); // QUEUEID
        exp.extend_from_slice(&7i32.to_be_bytes()); // FLAG
        exp.extend_from_slice(&42i64.to_be_bytes()); // QUEUEOFFSET
        exp.extend_from_slice(&4096i64.to_be_bytes()); // PHYSICALOFFSET
        exp.extend_from_slice(&1i32.to_be_bytes()); // SYSFLAG (compressed bit kept)
        exp.extend_from_slice(&1_700_000_000_000i64.to_be_bytes()); // BORNTIMESTAMP
        exp.extend_from_slice(&[10, 0, 0, 1, 0, 0, 0x30, 0x39]); // BORNHOST 10.0.0.1:12345
        exp.extend_from_slice(&1_700_000_000_123i64.to_be_bytes()); // STORETIMESTAMP
        exp.extend_from_slice(&[192, 168, 1, 2, 0, 0, 0x2A, 0x9F]); // STOREHOST :10911
        exp.extend_from_slice(&2i32.to_be_bytes()); // RECONSUMETIMES
        exp.extend_from_slice(&0i64.to_be_bytes()); // PREPARED TX OFFSET
        exp.extend_from_slice(&(body.len() as i32).to_be_bytes());
        exp.extend_from_slice(body);
        exp.push(topic.len() as u8);
        exp.extend_from_slice(topic.as_bytes());
        exp.extend_from_slice(&(props.len() as i16).to_be_bytes());
        exp.extend_from_slice(props.as_bytes());
        assert_eq!(exp.len(), total);

        let f = RecordFields {
            queue_id: 3,
            flag: 7,
            queue_offset: 42,
            physical_offset: 4096,
            sys_flag: 1 | BORNHOST_V6_FLAG, // wrong V6 bit is corrected by the encoder
            born_timestamp: 1_700_000_000_000,
            born_host: v4([10, 0, 0, 1], 12345),
            store_timestamp: 1_700_000_000_123,
            store_host: v4([192, 168, 1, 2], 10911),
            reconsume_times: 2,
            prepared_transaction_offset: 0,
            body,
            body_crc: crc32_masked(body),
            topic,
            properties: props,
        };
        let enc = encode_record(&f).unwrap();
        assert_eq!(enc, exp);

        let v = RecordView::parse(&enc, true).unwrap();
        assert_eq!(v.total_size as usize, total);
        assert_eq!(v.queue_offset, 42);
        assert_eq!(v.physical_offset, 4096);
        assert_eq!(v.sys_flag, 1);
        assert_eq!(v.born_host, f.born_host);
        assert_eq!(v.store_host, f.store_host);
        assert_eq!(v.body, body);
        assert_eq!(v.topic, topic);
        assert_eq!(v.property("TAGS"), Some("TagA"));
        assert_eq!(read_i64(&enc, pos::store_timestamp(v.sys_flag)), Some(1_700_000_000_123));
        assert_eq!(physical_offset_and_reconsume_times(&enc), Some((4096, 2)));
        assert_eq!(physical_offset_and_reconsume_times(&enc[..total - 1]), None);
        let mut blank = enc.clone();
        blank[4..8].copy_from_slice(&BLANK_MAGIC_CODE.to_be_bytes());
        assert_eq!(physical_offset_and_reconsume_times(&blank), None);

        let b = Bytes::from(enc.clone());
        let (m, n) = MessageExt::decode(&b, true).unwrap();
        assert_eq!(n, total);
        assert_eq!(m.offset_msg_id, "C0A8010200002A9F0000000000001000");
        assert_eq!(m.tags(), Some("TagA"));
        assert_eq!(m.encode().unwrap(), enc);
    }

    #[test]
    fn ipv6_hosts_and_v2_magic() {
        let born: SocketAddr = "[2001:db8::1]:5000".parse().unwrap();
        let store: SocketAddr = "[::1]:10911".parse().unwrap();
        let f = RecordFields {
            queue_id: 0,
            flag: 0,
            queue_offset: 1,
            physical_offset: 2,
            sys_flag: 0,
            born_timestamp: 3,
            born_host: born,
            store_timestamp: 4,
            store_host: store,
            reconsume_times: 5,
            prepared_transaction_offset: 0,
            body: b"x",
            body_crc: crc32_masked(b"x"),
            topic: "T",
            properties: "",
        };
        let enc = encode_record(&f).unwrap();
        assert_eq!(enc.len(), 91 + 24 + 2);
        let v = RecordView::parse(&enc, true).unwrap();
        assert_eq!(v.sys_flag, BORNHOST_V6_FLAG | STOREHOSTADDRESS_V6_FLAG);
        assert_eq!(v.born_host, born);
        assert_eq!(v.store_host, store);
        assert_eq!(read_i64(&enc, pos::store_timestamp(v.sys_flag)), Some(4));
        assert_eq!(physical_offset_and_reconsume_times(&enc), Some((2, 5)));
        let id = crate::message::encode_offset_msg_id(store, 2);
        assert_eq!(id.len(), 56);

        // Hand-build V2: magic V2, topic length as i16, one byte longer.
        let topic_pos = enc.len() - 2 - 1 - 1; // props len(2) + topic(1) + topic len(1)
        let mut v2 = Vec::new();
        v2.extend_from_slice(&((enc.len() + 1) as i32).to_be_bytes());
        v2.extend_from_slice(&MESSAGE_MAGIC_CODE_V2.to_be_bytes());
        v2.extend_from_slice(&enc[8..topic_pos]);
        v2.extend_from_slice(&1i16.to_be_bytes());
        v2.extend_from_slice(&enc[topic_pos + 1..]);
        let v = RecordView::parse(&v2, true).unwrap();
        assert_eq!(v.magic, MESSAGE_MAGIC_CODE_V2);
        assert_eq!(v.topic, "T");
        assert_eq!(v.body, b"x");
    }

    #[test]
    fn garbage_and_truncation_are_errors() {
        let f = RecordFields {
            queue_id: 0,
            flag: 0,
            queue_offset: 0,
            physical_offset: 0,
            sys_flag: 0,
            born_timestamp: 0,
            born_host: v4([1, 2, 3, 4], 1),
            store_timestamp: 0,
            store_host: v4([1, 2, 3, 4], 2),
            reconsume_times: 0,
            prepared_transaction_offset: 0,
            body: b"body",
            body_crc: crc32_masked(b"body"),
            topic: "T",
            properties: "a\u{1}b\u{2}",
        };
        let enc = encode_record(&f).unwrap();
        for cut in 0..enc.len() {
            assert!(RecordView::parse(&enc[..cut], true).is_err());
        }
        let mut bad = enc.clone();
        *bad.last_mut().unwrap() ^= 0xFF; // properties byte: still decodes, CRC is of body only
        let _ = RecordView::parse(&bad, true);
        let mut bad = enc.clone();
        let body_at = 88;
        bad[body_at] ^= 1;
        assert!(matches!(RecordView::parse(&bad, true), Err(DecodeError::BadCrc { .. })));
        assert!(RecordView::parse(&bad, false).is_ok());
        let mut bad = enc.clone();
        bad[84..88].copy_from_slice(&i32::MAX.to_be_bytes()); // body length lies
        assert!(RecordView::parse(&bad, false).is_err());
        let mut bad = enc.clone();
        bad[84..88].copy_from_slice(&(-1i32).to_be_bytes());
        assert!(RecordView::parse(&bad, false).is_err());
        let mut blank = vec![0u8; 8];
        blank[0..4].copy_from_slice(&100i32.to_be_bytes());
        blank[4..8].copy_from_slice(&BLANK_MAGIC_CODE.to_be_bytes());
        assert_eq!(RecordView::parse(&blank, true), Err(DecodeError::Blank { size: 100 }));
        assert!(decode_all(&Bytes::from(vec![0u8; 200]), true).is_err());
        let mut two = enc.clone();
        two.extend_from_slice(&enc);
        assert_eq!(decode_all(&Bytes::from(two.clone()), true).unwrap().len(), 2);
        two.push(0);
        assert!(decode_all(&Bytes::from(two), true).is_err());
    }

    #[test]
    fn limits() {
        let long = "t".repeat(128);
        let f = RecordFields {
            queue_id: 0,
            flag: 0,
            queue_offset: 0,
            physical_offset: 0,
            sys_flag: 0,
            born_timestamp: 0,
            born_host: v4([1, 2, 3, 4], 1),
            store_timestamp: 0,
            store_host: v4([1, 2, 3, 4], 2),
            reconsume_times: 0,
            prepared_transaction_offset: 0,
            body: b"",
            body_crc: 0,
            topic: &long,
            properties: "",
        };
        assert_eq!(encode_record(&f), Err(EncodeError::TopicTooLong(128)));
        let mut small = [0u8; 10];
        let f2 = RecordFields { topic: "t", ..f };
        assert!(matches!(
            encode_record_into(&mut small, &f2),
            Err(EncodeError::BufferTooSmall { .. })
        ));
    }
}
