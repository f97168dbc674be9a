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
//! the replay of that file.

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
    /// Messages popped (set in flight) and the cursor moved to at least `cursor`.
    Pop {
        /// Queue state.
        id: u32,
        /// Next offset to read.
        cursor: i64,
        /// Entries now in flight.
        entries: Vec<EntryRec>,
    },
    /// An in-flight entry resolved (acked, moved to retry / DLQ).
    Ack {
        /// Queue state.
        id: u32,
        /// Queue offset.
        offset: i64,
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

fn put_str(out: &mut Vec<u8>, s: &str) {
    out.extend_from_slice(&(s.len() as u16).to_le_bytes());
    out.extend_from_slice(s.as_bytes());
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
                out.push(T_POP);
                out.extend_from_slice(&id.to_le_bytes());
                out.extend_from_slice(&cursor.to_le_bytes());
                out.extend_from_slice(&(entries.len() as u32).to_le_bytes());
                for e in entries {
                    out.extend_from_slice(&e.offset.to_le_bytes());
                    out.extend_from_slice(&e.ck.to_le_bytes());
                    out.extend_from_slice(&e.deadline.to_le_bytes());
                    out.extend_from_slice(&e.attempt.to_le_bytes());
                    out.extend_from_slice(&e.phy.to_le_bytes());
                }
            }
            Record::Ack { id, offset } => {
                out.push(T_ACK);
                out.extend_from_slice(&id.to_le_bytes());
                out.extend_from_slice(&offset.to_le_bytes());
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

    fn decode_one(p: &[u8]) -> Option<Record> {
        let mut c = Cursor { p, at: 1 };
        Some(match *p.first()? {
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
            T_ACK => Record::Ack { id: c.u32()?, offset: c.i64()? },
            T_CHANGE => {
                Record::Change { id: c.u32()?, offset: c.i64()?, ck: c.i64()?, deadline: c.i64()? }
            }
            T_RENEW => Record::Renew { id: c.u32()?, offset: c.i64()?, deadline: c.i64()? },
            T_RESET => Record::Reset { id: c.u32()?, cursor: c.i64()? },
            _ => return None,
        })
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
    use super::*;

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
            Record::Ack { id: 1, offset: 8 },
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
        Record::Ack { id: 1, offset: 9 }.encode(&mut more);
        j.append(&more).unwrap();
        let mut snap = Vec::new();
        Record::Define { id: 1, group: "G".into(), topic: "T".into(), queue_id: 2 }
            .encode(&mut snap);
        write_snapshot(dir.path(), seq, &snap).unwrap();
        drop(j);
        let (_j, recs) = Journal::open(dir.path()).unwrap();
        assert_eq!(recs.len(), 2);
        assert_eq!(recs[1], Record::Ack { id: 1, offset: 9 });
    }
}
