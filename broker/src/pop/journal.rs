//! The POP state's durable form: an append-only journal of state changes plus a periodic
//! snapshot, under `<storePathRootDir>/pop/`.
//!
//! * `journal.<n>`: records appended with one `write(2)` per request *before* the request is
//!   answered, so a process crash (kill -9) loses nothing the client was told (the page cache
//!   survives the process); `fdatasync` runs every second and at shutdown.
//! * `snapshot.<n>`: the whole state, written to a temp file, fsynced and renamed. Compaction
//!   first rotates to `journal.<n>` and then snapshots; recovery loads the newest complete
//!   snapshot `n` and replays `journal.<n>` (and any later journal). Replaying records the
//!   snapshot already contains is harmless: every record *sets* state (see [`Record`]).
//!
//! Record framing: `len u32 | crc32 u32 | payload` (little-endian); a torn or corrupt tail ends
//! the replay of that file. The payload is a type byte, then the fields (`v`: LEB128 varint,
//! `z`: zigzag LEB128 varint, `s`: `u16` length + UTF-8):
//!
//! * 1 `Define`: `id u32, group s, topic s, queue_id i32`
//! * 2 `Pop`, fixed width (read, no longer written): `id u32, cursor i64, n u32`, then per entry
//!   `offset i64, ck i64, deadline i64, attempt i32, phy i64` (36 bytes)
//! * 3 `Ack` of one offset (read as [`Record::Acks`], no longer written): `id u32, offset i64`
//! * 4 `Change`: `id u32, offset i64, ck i64, deadline i64`
//! * 5 `Reset`: `id u32, cursor i64`
//! * 6 `Renew`: `id u32, offset i64, deadline i64`
//! * 7 `Pop`, compact: `id v, cursor z, n v`, then per entry `offset z` (delta from the previous
//!   entry's offset, the first from `cursor`), `ck z` (delta from the entry's offset),
//!   `deadline z` (delta from the previous entry's deadline, the first from 0), `attempt z`,
//!   `phy z` (delta from the previous entry's phy, the first from 0)
//! * 8 `Acks`: `id v, n v`, then `n` offsets `z` (each a delta from the previous, the first
//!   from 0)
//!
//! Why 7 and 8: the journal grows with every message popped and acked, and what that growth
//! costs is mostly the kernel allocating new page-cache pages for the file, not the copy. The
//! fixed-width forms took ~57 bytes per message (a 36-byte entry, and a whole framed 21-byte
//! record per ack); the compact ones take ~8, being delta coded against what a pop usually
//! is: consecutive offsets, one check-point offset (the first one), one deadline, small
//! attempts, commit-log offsets a message size apart. Deltas wrap (two's complement), so every
//! `i64` round-trips. Types 2 and 3 are still read, so a journal or snapshot written by an older
//! broker recovers.

use std::fs::{File, OpenOptions};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

/// One in-flight entry as journalled.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EntryRec {
    /// Queue offset.
    pub offset: i64,
    /// Check-point offset: the first queue offset of the pop that delivered it (the first
    /// field of its receipt handle).
    pub ck: i64,
    /// Invisible until, ms.
    pub deadline: i64,
    /// Delivery attempt this pop made (1 = first delivery).
    pub attempt: i32,
    /// Commit-log offset of the message.
    pub phy: i64,
}

/// A state change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Record {
    /// Names the queue state `id` (group, topic, queue id).
    Define {
        /// Id used by the other records.
        id: u32,
        /// Consumer group.
        group: String,
        /// Topic (a POP retry topic too).
        topic: String,
        /// Queue id.
        queue_id: i32,
    },
    /// Messages popped (set in flight) and the cursor moved to at least `cursor`. Written in
    /// the compact form (type 7); the fixed-width form (type 2) is still read.
    Pop {
        /// Queue state.
        id: u32,
        /// Next offset to read.
        cursor: i64,
        /// Entries now in flight.
        entries: Vec<EntryRec>,
    },
    /// In-flight entries resolved (acked, moved to retry / DLQ): one record for a run of
    /// offsets of one queue state, so an ack of a whole pop adds a byte or two per message
    /// rather than a framed record each. An old single-offset `Ack` (type 3) reads as one of
    /// these.
    Acks {
        /// Queue state.
        id: u32,
        /// Queue offsets, in any order (duplicates are harmless).
        offsets: Vec<i64>,
    },
    /// New invisible deadline of an in-flight entry and a new receipt handle for it (the
    /// handle names `ck` and `deadline`).
    Change {
        /// Queue state.
        id: u32,
        /// Queue offset.
        offset: i64,
        /// Check-point offset the new handle carries.
        ck: i64,
        /// New deadline, ms.
        deadline: i64,
    },
    /// The invisible time of an in-flight entry was extended by the broker (push consumers'
    /// auto-renewal): the deadline moves, the client's receipt handle stays valid.
    Renew {
        /// Queue state.
        id: u32,
        /// Queue offset.
        offset: i64,
        /// New deadline, ms.
        deadline: i64,
    },
    /// Offset reset: nothing in flight, cursor exactly here.
    Reset {
        /// Queue state.
        id: u32,
        /// New cursor.
        cursor: i64,
    },
}

const T_DEFINE: u8 = 1;
const T_POP: u8 = 2;
const T_ACK: u8 = 3;
const T_CHANGE: u8 = 4;
const T_RESET: u8 = 5;
const T_RENEW: u8 = 6;
const T_POP_V2: u8 = 7;
const T_ACKS: u8 = 8;

/// Smallest compact entry: five one-byte varints (bounds the capacity a count may reserve).
const MIN_ENTRY_V2: usize = 5;

fn put_str(out: &mut Vec<u8>, s: &str) {
    out.extend_from_slice(&(s.len() as u16).to_le_bytes());
    out.extend_from_slice(s.as_bytes());
}

/// LEB128: 7 bits a byte, low bits first, the high bit set on every byte but the last.
fn put_varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push(v as u8 | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

/// Zigzag (0, -1, 1, -2, … → 0, 1, 2, 3, …) so small negative numbers stay short too.
fn zigzag(v: i64) -> u64 {
    ((v << 1) ^ (v >> 63)) as u64
}

fn unzigzag(v: u64) -> i64 {
    ((v >> 1) as i64) ^ -((v & 1) as i64)
}

fn put_zigzag(out: &mut Vec<u8>, v: i64) {
    put_varint(out, zigzag(v));
}

impl Record {
    /// Append the framed record to `out`.
    pub fn encode(&self, out: &mut Vec<u8>) {
        let start = out.len();
        out.extend_from_slice(&[0u8; 8]);
        match self {
            Record::Define { id, group, topic, queue_id } => {
                out.push(T_DEFINE);
                out.extend_from_slice(&id.to_le_bytes());
                put_str(out, group);
                put_str(out, topic);
                out.extend_from_slice(&queue_id.to_le_bytes());
            }
            Record::Pop { id, cursor, entries } => {
                out.push(T_POP_V2);
                put_varint(out, u64::from(*id));
                put_zigzag(out, *cursor);
                put_varint(out, entries.len() as u64);
                let (mut offset, mut deadline, mut phy) = (*cursor, 0i64, 0i64);
                for e in entries {
                    put_zigzag(out, e.offset.wrapping_sub(offset));
                    put_zigzag(out, e.ck.wrapping_sub(e.offset));
                    put_zigzag(out, e.deadline.wrapping_sub(deadline));
                    put_zigzag(out, i64::from(e.attempt));
                    put_zigzag(out, e.phy.wrapping_sub(phy));
                    (offset, deadline, phy) = (e.offset, e.deadline, e.phy);
                }
            }
            Record::Acks { id, offsets } => {
                out.push(T_ACKS);
                put_varint(out, u64::from(*id));
                put_varint(out, offsets.len() as u64);
                let mut prev = 0i64;
                for &o in offsets {
                    put_zigzag(out, o.wrapping_sub(prev));
                    prev = o;
                }
            }
            Record::Change { id, offset, ck, deadline } => {
                out.push(T_CHANGE);
                out.extend_from_slice(&id.to_le_bytes());
                out.extend_from_slice(&offset.to_le_bytes());
                out.extend_from_slice(&ck.to_le_bytes());
                out.extend_from_slice(&deadline.to_le_bytes());
            }
            Record::Renew { id, offset, deadline } => {
                out.push(T_RENEW);
                out.extend_from_slice(&id.to_le_bytes());
                out.extend_from_slice(&offset.to_le_bytes());
                out.extend_from_slice(&deadline.to_le_bytes());
            }
            Record::Reset { id, cursor } => {
                out.push(T_RESET);
                out.extend_from_slice(&id.to_le_bytes());
                out.extend_from_slice(&cursor.to_le_bytes());
            }
        }
        let len = (out.len() - start - 8) as u32;
        let crc = crc32fast::hash(&out[start + 8..]);
        out[start..start + 4].copy_from_slice(&len.to_le_bytes());
        out[start + 4..start + 8].copy_from_slice(&crc.to_le_bytes());
    }

    /// Decode every whole, intact record of `buf`; stops at the first torn or corrupt one.
    pub fn decode_all(buf: &[u8]) -> Vec<Record> {
        let mut out = Vec::new();
        let mut pos = 0usize;
        while buf.len() - pos >= 8 {
            let len = u32::from_le_bytes(buf[pos..pos + 4].try_into().unwrap()) as usize;
            let crc = u32::from_le_bytes(buf[pos + 4..pos + 8].try_into().unwrap());
            let Some(payload) = buf.get(pos + 8..pos + 8 + len) else { break };
            if crc32fast::hash(payload) != crc {
                break;
            }
            match Self::decode_one(payload) {
                Some(r) => out.push(r),
                None => break,
            }
            pos += 8 + len;
        }
        out
    }

    /// One payload; `None` when it is malformed (unknown type, truncated field, value out of
    /// range, bytes left over).
    fn decode_one(p: &[u8]) -> Option<Record> {
        let mut c = Cursor { p, at: 1 };
        let r = match *p.first()? {
            T_DEFINE => Record::Define {
                id: c.u32()?,
                group: c.str()?,
                topic: c.str()?,
                queue_id: c.u32()? as i32,
            },
            T_POP => {
                let id = c.u32()?;
                let cursor = c.i64()?;
                let n = c.u32()? as usize;
                let mut entries = Vec::with_capacity(n.min(p.len() / 36));
                for _ in 0..n {
                    entries.push(EntryRec {
                        offset: c.i64()?,
                        ck: c.i64()?,
                        deadline: c.i64()?,
                        attempt: c.u32()? as i32,
                        phy: c.i64()?,
                    });
                }
                Record::Pop { id, cursor, entries }
            }
            T_POP_V2 => {
                let id = c.varint_u32()?;
                let cursor = c.zigzag()?;
                let n = c.varint()?;
                let mut entries = Vec::with_capacity(c.capacity(n, MIN_ENTRY_V2));
                let (mut offset, mut deadline, mut phy) = (cursor, 0i64, 0i64);
                for _ in 0..n {
                    offset = offset.wrapping_add(c.zigzag()?);
                    let ck = offset.wrapping_add(c.zigzag()?);
                    deadline = deadline.wrapping_add(c.zigzag()?);
                    let attempt = i32::try_from(c.zigzag()?).ok()?;
                    phy = phy.wrapping_add(c.zigzag()?);
                    entries.push(EntryRec { offset, ck, deadline, attempt, phy });
                }
                Record::Pop { id, cursor, entries }
            }
            T_ACK => Record::Acks { id: c.u32()?, offsets: vec![c.i64()?] },
            T_ACKS => {
                let id = c.varint_u32()?;
                let n = c.varint()?;
                let mut offsets = Vec::with_capacity(c.capacity(n, 1));
                let mut prev = 0i64;
                for _ in 0..n {
                    prev = prev.wrapping_add(c.zigzag()?);
                    offsets.push(prev);
                }
                Record::Acks { id, offsets }
            }
            T_CHANGE => {
                Record::Change { id: c.u32()?, offset: c.i64()?, ck: c.i64()?, deadline: c.i64()? }
            }
            T_RENEW => Record::Renew { id: c.u32()?, offset: c.i64()?, deadline: c.i64()? },
            T_RESET => Record::Reset { id: c.u32()?, cursor: c.i64()? },
            _ => return None,
        };
        (c.left() == 0).then_some(r)
    }
}

struct Cursor<'a> {
    p: &'a [u8],
    at: usize,
}

impl Cursor<'_> {
    fn take(&mut self, n: usize) -> Option<&[u8]> {
        let s = self.p.get(self.at..self.at + n)?;
        self.at += n;
        Some(s)
    }
    fn u32(&mut self) -> Option<u32> {
        Some(u32::from_le_bytes(self.take(4)?.try_into().ok()?))
    }
    fn i64(&mut self) -> Option<i64> {
        Some(i64::from_le_bytes(self.take(8)?.try_into().ok()?))
    }
    fn str(&mut self) -> Option<String> {
        let n = u16::from_le_bytes(self.take(2)?.try_into().ok()?) as usize;
        String::from_utf8(self.take(n)?.to_vec()).ok()
    }
    /// Bytes not read yet.
    fn left(&self) -> usize {
        self.p.len().saturating_sub(self.at)
    }
    /// Room to reserve for `n` items of at least `min` bytes each: no more than the bytes left
    /// can hold, whatever a corrupt or hostile `n` says.
    fn capacity(&self, n: u64, min: usize) -> usize {
        usize::try_from(n).unwrap_or(usize::MAX).min(self.left() / min)
    }
    /// A LEB128 varint; `None` when truncated or longer than a `u64`.
    fn varint(&mut self) -> Option<u64> {
        let mut v = 0u64;
        for shift in (0..64).step_by(7) {
            let b = *self.p.get(self.at)?;
            self.at += 1;
            // The tenth byte holds bit 63 only.
            if shift == 63 && b > 1 {
                return None;
            }
            v |= u64::from(b & 0x7f) << shift;
            if b < 0x80 {
                return Some(v);
            }
        }
        None
    }
    fn varint_u32(&mut self) -> Option<u32> {
        u32::try_from(self.varint()?).ok()
    }
    fn zigzag(&mut self) -> Option<i64> {
        Some(unzigzag(self.varint()?))
    }
}

/// The open journal file.
pub struct Journal {
    dir: PathBuf,
    seq: u64,
    file: File,
    len: u64,
}

fn numbered(dir: &Path, prefix: &str) -> Vec<u64> {
    let mut v: Vec<u64> = std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let name = e.file_name().into_string().ok()?;
            name.strip_prefix(prefix)?.parse().ok()
        })
        .collect();
    v.sort_unstable();
    v
}

fn read(path: &Path) -> std::io::Result<Vec<u8>> {
    let mut buf = Vec::new();
    File::open(path)?.read_to_end(&mut buf)?;
    Ok(buf)
}

impl Journal {
    /// Open `dir` (created if missing): returns the journal, positioned for appending, and
    /// every record to replay (newest complete snapshot, then the journals from its number on).
    pub fn open(dir: &Path) -> std::io::Result<(Journal, Vec<Record>)> {
        std::fs::create_dir_all(dir)?;
        let snaps = numbered(dir, "snapshot.");
        let base = snaps.last().copied().unwrap_or(0);
        let mut records = Vec::new();
        if base > 0 {
            records.extend(Record::decode_all(&read(&dir.join(format!("snapshot.{base}")))?));
        }
        let journals = numbered(dir, "journal.");
        for &n in journals.iter().filter(|n| **n >= base) {
            records.extend(Record::decode_all(&read(&dir.join(format!("journal.{n}")))?));
        }
        let seq = journals.last().copied().unwrap_or(0).max(base).max(1);
        // A torn tail is cut before new records follow it.
        let path = dir.join(format!("journal.{seq}"));
        let valid = match read(&path) {
            Ok(buf) => valid_prefix(&buf),
            Err(_) => 0,
        };
        let file =
            OpenOptions::new().create(true).truncate(false).read(true).write(true).open(&path)?;
        file.set_len(valid as u64)?;
        let mut j = Journal { dir: dir.to_path_buf(), seq, file, len: valid as u64 };
        j.seek_end()?;
        Ok((j, records))
    }

    fn seek_end(&mut self) -> std::io::Result<()> {
        use std::io::Seek;
        self.file.seek(std::io::SeekFrom::Start(self.len))?;
        Ok(())
    }

    /// Append encoded records (one `write`).
    pub fn append(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        if bytes.is_empty() {
            return Ok(());
        }
        self.file.write_all(bytes)?;
        self.len += bytes.len() as u64;
        Ok(())
    }

    /// Bytes in the current journal file.
    pub fn len(&self) -> u64 {
        self.len
    }

    /// True when the current journal file is empty.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// `fdatasync` the current file.
    pub fn sync(&self) -> std::io::Result<()> {
        self.file.sync_data()
    }

    /// Start `journal.<n+1>`; returns n+1, the number the following snapshot must carry.
    pub fn rotate(&mut self) -> std::io::Result<u64> {
        self.file.sync_data()?;
        let next = self.seq + 1;
        let path = self.dir.join(format!("journal.{next}"));
        self.file = OpenOptions::new().create(true).truncate(true).write(true).open(&path)?;
        self.seq = next;
        self.len = 0;
        Ok(next)
    }

    /// The directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }
}

/// Write `snapshot.<seq>` (temp file, fsync, rename) and delete older snapshots and journals.
pub fn write_snapshot(dir: &Path, seq: u64, bytes: &[u8]) -> std::io::Result<()> {
    let tmp = dir.join(format!("snapshot.{seq}.tmp"));
    {
        let mut f = File::create(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
    }
    std::fs::rename(&tmp, dir.join(format!("snapshot.{seq}")))?;
    File::open(dir)?.sync_all()?;
    for n in numbered(dir, "snapshot.").into_iter().filter(|n| *n < seq) {
        let _ = std::fs::remove_file(dir.join(format!("snapshot.{n}")));
    }
    for n in numbered(dir, "journal.").into_iter().filter(|n| *n < seq) {
        let _ = std::fs::remove_file(dir.join(format!("journal.{n}")));
    }
    Ok(())
}

fn valid_prefix(buf: &[u8]) -> usize {
    let mut pos = 0usize;
    while buf.len() - pos >= 8 {
        let len = u32::from_le_bytes(buf[pos..pos + 4].try_into().unwrap()) as usize;
        let crc = u32::from_le_bytes(buf[pos + 4..pos + 8].try_into().unwrap());
        match buf.get(pos + 8..pos + 8 + len) {
            Some(p) if crc32fast::hash(p) == crc => pos += 8 + len,
            _ => break,
        }
    }
    pos
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;
    use crate::pop::state::QueueState;

    fn sample() -> Vec<Record> {
        vec![
            Record::Define { id: 1, group: "G".into(), topic: "T".into(), queue_id: 2 },
            Record::Pop {
                id: 1,
                cursor: 10,
                entries: vec![EntryRec { offset: 8, ck: 5, deadline: 99, attempt: 1, phy: 7 }],
            },
            Record::Change { id: 1, offset: 8, ck: 6, deadline: 120 },
            Record::Renew { id: 1, offset: 8, deadline: 180 },
            Record::Acks { id: 1, offsets: vec![8] },
            Record::Reset { id: 1, cursor: 3 },
        ]
    }

    #[test]
    fn encode_decode_and_torn_tail() {
        let mut buf = Vec::new();
        for r in sample() {
            r.encode(&mut buf);
        }
        assert_eq!(Record::decode_all(&buf), sample());
        let cut = &buf[..buf.len() - 3];
        assert_eq!(Record::decode_all(cut).len(), 5);
        let mut flipped = buf.clone();
        let n = flipped.len();
        flipped[n - 1] ^= 0xff;
        assert_eq!(Record::decode_all(&flipped).len(), 5);
    }

    #[test]
    fn open_append_rotate_snapshot_recover() {
        let dir = tempfile::tempdir().unwrap();
        let (mut j, recs) = Journal::open(dir.path()).unwrap();
        assert!(recs.is_empty());
        let mut buf = Vec::new();
        for r in sample() {
            r.encode(&mut buf);
        }
        j.append(&buf).unwrap();
        // A torn half record at the end is cut on reopen.
        j.append(&[9, 0, 0, 0, 1]).unwrap();
        drop(j);
        let (mut j, recs) = Journal::open(dir.path()).unwrap();
        assert_eq!(recs, sample());
        let seq = j.rotate().unwrap();
        let mut more = Vec::new();
        Record::Acks { id: 1, offsets: vec![9] }.encode(&mut more);
        j.append(&more).unwrap();
        let mut snap = Vec::new();
        Record::Define { id: 1, group: "G".into(), topic: "T".into(), queue_id: 2 }
            .encode(&mut snap);
        write_snapshot(dir.path(), seq, &snap).unwrap();
        drop(j);
        let (_j, recs) = Journal::open(dir.path()).unwrap();
        assert_eq!(recs.len(), 2);
        assert_eq!(recs[1], Record::Acks { id: 1, offsets: vec![9] });
    }

    /// A framed record around a hand-made payload.
    fn frame(payload: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        out.extend_from_slice(&(payload.len() as u32).to_le_bytes());
        out.extend_from_slice(&crc32fast::hash(payload).to_le_bytes());
        out.extend_from_slice(payload);
        out
    }

    /// The payload of one encoded record.
    fn payload(r: &Record) -> Vec<u8> {
        let mut buf = Vec::new();
        r.encode(&mut buf);
        buf.split_off(8)
    }

    fn round_trip(r: &Record) {
        let mut buf = Vec::new();
        r.encode(&mut buf);
        assert_eq!(Record::decode_all(&buf), vec![r.clone()], "{r:?}");
    }

    fn entry(offset: i64, ck: i64, deadline: i64, attempt: i32, phy: i64) -> EntryRec {
        EntryRec { offset, ck, deadline, attempt, phy }
    }

    #[test]
    fn compact_pop_round_trips() {
        let d = 1_700_000_000_000;
        let entries = vec![
            entry(100, 100, d, 1, 5_000_000),
            entry(101, 100, d, 1, 5_000_300),
            // A gap, ck equal to / above the offset, another deadline, attempt 16, phy back.
            entry(250, 250, d + 7, 16, 4_000_000),
            entry(240, 300, d - 60_000, 2, 9_000_000_000),
            entry(0, 0, 0, 0, 0),
            entry(i64::MAX, i64::MIN, i64::MAX, i32::MAX, i64::MAX),
            entry(i64::MIN, i64::MAX, i64::MIN, i32::MIN, i64::MIN),
            entry(-1, -5, -1, -1, -1),
        ];
        assert_eq!(payload(&Record::Pop { id: 3, cursor: 5, entries: vec![] })[0], T_POP_V2);
        for id in [0, 1, 300, u32::MAX] {
            for cursor in [0, 102, -1, i64::MAX, i64::MIN] {
                round_trip(&Record::Pop { id, cursor, entries: vec![] });
                round_trip(&Record::Pop { id, cursor, entries: entries.clone() });
                for e in &entries {
                    round_trip(&Record::Pop { id, cursor, entries: vec![*e] });
                }
            }
        }
    }

    #[test]
    fn acks_round_trip() {
        assert_eq!(payload(&Record::Acks { id: 1, offsets: vec![7] })[0], T_ACKS);
        for offsets in [
            vec![],
            vec![7],
            (1_000..1_032).collect(),
            vec![9, 3, 12, 4, 0],
            vec![5, 5, 6, 5],
            vec![i64::MAX, i64::MIN, 0, -1, i64::MAX],
        ] {
            round_trip(&Record::Acks { id: 42, offsets });
        }
    }

    #[test]
    fn old_fixed_width_records_still_recover() {
        // The previous version's layout, byte by byte.
        let mut pop = vec![T_POP];
        pop.extend_from_slice(&7u32.to_le_bytes());
        pop.extend_from_slice(&12i64.to_le_bytes());
        pop.extend_from_slice(&2u32.to_le_bytes());
        for (offset, ck, deadline, attempt, phy) in
            [(10i64, 10i64, 500i64, 1i32, 64i64), (11, 10, 500, 3, 128)]
        {
            pop.extend_from_slice(&offset.to_le_bytes());
            pop.extend_from_slice(&ck.to_le_bytes());
            pop.extend_from_slice(&deadline.to_le_bytes());
            pop.extend_from_slice(&attempt.to_le_bytes());
            pop.extend_from_slice(&phy.to_le_bytes());
        }
        let mut ack = vec![T_ACK];
        ack.extend_from_slice(&7u32.to_le_bytes());
        ack.extend_from_slice(&10i64.to_le_bytes());
        let mut old = frame(&pop);
        old.extend(frame(&ack));
        let pop_rec = Record::Pop {
            id: 7,
            cursor: 12,
            entries: vec![entry(10, 10, 500, 1, 64), entry(11, 10, 500, 3, 128)],
        };
        let ack_rec = Record::Acks { id: 7, offsets: vec![10] };
        assert_eq!(Record::decode_all(&old), vec![pop_rec.clone(), ack_rec.clone()]);

        // Replayed, old and new forms give the same state.
        let replay = |buf: &[u8]| {
            let mut st = QueueState::new(7, "G".into(), "T".into(), 0, 0);
            for r in Record::decode_all(buf) {
                st.apply(&r);
            }
            (st.cursor, st.inflight)
        };
        let mut new = Vec::new();
        pop_rec.encode(&mut new);
        ack_rec.encode(&mut new);
        let (cursor, inflight) = replay(&old);
        assert_eq!((cursor, inflight.keys().copied().collect::<Vec<_>>()), (12, vec![11]));
        assert_eq!(inflight[&11].attempt, 3);
        assert_eq!(replay(&new), (cursor, inflight));
        // The fixed-width form is not written any more.
        assert!(new.len() < old.len());
    }

    #[test]
    fn torn_or_malformed_compact_records_end_replay() {
        let first = Record::Define { id: 1, group: "G".into(), topic: "T".into(), queue_id: 0 };
        let pop = Record::Pop {
            id: 1,
            cursor: 1 << 40,
            entries: (0..32).map(|i| entry(i, 0, 1 << 41, 1, 1 << 33)).collect(),
        };
        let acks = Record::Acks { id: 1, offsets: (0..32).map(|i| i << 30).collect() };
        for r in [pop, acks] {
            let mut buf = Vec::new();
            first.encode(&mut buf);
            let whole = buf.len();
            r.encode(&mut buf);
            // Torn anywhere in the frame: only what came before survives.
            for cut in whole..buf.len() {
                assert_eq!(Record::decode_all(&buf[..cut]), vec![first.clone()]);
            }
            // A truncated payload under an intact frame (a cut varint or a missing entry).
            let p = payload(&r);
            for cut in 0..p.len() {
                let mut b = buf[..whole].to_vec();
                b.extend(frame(&p[..cut]));
                assert_eq!(Record::decode_all(&b), vec![first.clone()], "cut {cut}");
            }
            // Bytes left over are corrupt too.
            let mut b = buf[..whole].to_vec();
            b.extend(frame(&[p.as_slice(), &[0]].concat()));
            assert_eq!(Record::decode_all(&b), vec![first.clone()]);
        }
    }

    #[test]
    fn hostile_counts_and_varints_are_refused_without_allocating() {
        let huge = [0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01];
        for t in [T_POP_V2, T_ACKS] {
            // id 1, (cursor 0,) a count of u64::MAX, then nothing / a few bytes.
            let head: Vec<u8> = if t == T_POP_V2 { vec![t, 1, 0] } else { vec![t, 1] };
            let p = [head.as_slice(), &huge, &[0; 7]].concat();
            assert!(Record::decode_all(&frame(&p)).is_empty());
        }
        // A varint longer than 64 bits, and one whose tenth byte overflows.
        let too_long = [&[T_ACKS][..], &[0x80; 11], &[0]].concat();
        assert!(Record::decode_all(&frame(&too_long)).is_empty());
        let overflow = [&[T_ACKS, 1, 1][..], &[0xff; 9], &[0x02]].concat();
        assert!(Record::decode_all(&frame(&overflow)).is_empty());
        let mut max = vec![T_ACKS, 1, 1];
        max.extend_from_slice(&huge);
        assert_eq!(
            Record::decode_all(&frame(&max)),
            vec![Record::Acks { id: 1, offsets: vec![i64::MIN] }]
        );
        // An id or attempt out of range.
        let id = [&[T_ACKS][..], &[0x80, 0x80, 0x80, 0x80, 0x10], &[0]].concat();
        assert!(Record::decode_all(&frame(&id)).is_empty());
        let attempt =
            [&[T_POP_V2, 1, 0, 1, 0, 0, 0][..], &[0x80, 0x80, 0x80, 0x80, 0x10], &[0]].concat();
        assert!(Record::decode_all(&frame(&attempt)).is_empty());
    }

    /// The point of the compact forms: a drain (32 messages popped in one request, acked in
    /// another) journals a few bytes per message, frames included.
    #[test]
    fn a_drain_costs_few_bytes_per_message() {
        let (first, deadline, mut phy) = (1_234_567i64, 1_700_000_060_000i64, 80_000_000_000i64);
        let entries: Vec<EntryRec> = (0..32)
            .map(|i| {
                phy += 1_100; // a 1 KiB body plus the record header
                entry(first + i, first, deadline, 1, phy)
            })
            .collect();
        let mut buf = Vec::new();
        Record::Pop { id: 17, cursor: first + 32, entries }.encode(&mut buf);
        let pop = buf.len();
        Record::Acks { id: 17, offsets: (first..first + 32).collect() }.encode(&mut buf);
        let per_message = buf.len() as f64 / 32.0;
        // Measured: 216 + 46 bytes, 8.2 per message (the fixed-width forms: 1177 + 672, 57.8).
        assert!(per_message < 10.0, "pop {pop} + acks {} bytes", buf.len() - pop);
    }

    fn entries() -> impl Strategy<Value = Vec<EntryRec>> {
        let e = (any::<i64>(), any::<i64>(), any::<i64>(), any::<i32>(), any::<i64>())
            .prop_map(|(o, c, d, a, p)| entry(o, c, d, a, p));
        // Realistic ones too: near each other, as a pop makes them.
        let near = (0i64..100, -40i64..40, 0i64..3, 1i32..20, 0i64..100_000)
            .prop_map(|(o, c, d, a, p)| entry(o, o + c, 1_700_000_000_000 + d, a, p));
        proptest::collection::vec(prop_oneof![e, near], 0..40)
    }

    /// `r` decodes back from its framed bytes, and every strict prefix of its payload is
    /// refused.
    fn round_trips_whole_only(r: Record) -> Result<(), TestCaseError> {
        let mut buf = Vec::new();
        r.encode(&mut buf);
        prop_assert_eq!(Record::decode_all(&buf), vec![r.clone()]);
        let p = payload(&r);
        for cut in 0..p.len() {
            prop_assert!(Record::decode_one(&p[..cut]).is_none());
        }
        Ok(())
    }

    proptest! {
        #[test]
        fn any_pop_round_trips(id in any::<u32>(), cursor in any::<i64>(), entries in entries()) {
            round_trips_whole_only(Record::Pop { id, cursor, entries })?;
        }

        #[test]
        fn any_acks_round_trip(id in any::<u32>(), offsets in proptest::collection::vec(any::<i64>(), 0..64)) {
            round_trips_whole_only(Record::Acks { id, offsets })?;
        }

        /// Garbage under a valid frame never panics.
        #[test]
        fn garbage_payloads_do_not_panic(t in 1u8..10, body in proptest::collection::vec(any::<u8>(), 0..64)) {
            let p = [&[t][..], &body].concat();
            let _ = Record::decode_all(&frame(&p));
        }
    }
}
