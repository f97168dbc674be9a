//! The replication surface: a slave store fed with raw frames read from a master store (as the
//! classic HA protocol does) ends up byte-identical, with the same consume queues and index;
//! bad frames are refused without a trace; truncation cuts log, queues and index back to a
//! record boundary; the confirmed offset limits what consumers read.

use std::path::Path;

use bytes::Bytes;
use mq_broker::store::*;
use mq_common::message::decode_all;
use mq_store_tests::{msg, small_config};

const FILE: i64 = 64 * 1024;

fn open(dir: &Path) -> std::sync::Arc<MessageStore> {
    MessageStore::open(small_config(dir, FlushDiskType::Async)).unwrap()
}

/// A store that follows a master (only a follower takes replicated bytes).
fn replica(dir: &Path) -> std::sync::Arc<MessageStore> {
    let s = open(dir);
    s.set_follower(true);
    s
}

/// A master with `n` messages of varied size over several files; returns their offsets.
fn master(dir: &Path, n: usize) -> (std::sync::Arc<MessageStore>, Vec<i64>) {
    let m = open(dir);
    let offs = (0..n)
        .map(|i| {
            let body = vec![(i % 251) as u8; 200 + (i * 97) % 3000];
            let r = m.put_message(msg("Rep", (i % 3) as i32, "t", &format!("k{i}"), body)).result;
            assert_eq!(r.status, PutMessageStatus::PutOk);
            r.wrote_offset
        })
        .collect();
    (m, offs)
}

/// Copy from `m` into `s` in frames of at most `frame` bytes (never crossing a file), from
/// where `s` ends (or `start` for an empty `s`), until `s` has everything.
fn replicate(m: &MessageStore, s: &MessageStore, start: i64, frame: usize) -> usize {
    let mut frames = 0;
    let mut at = if s.get_max_phy_offset() == 0 { start } else { s.get_max_phy_offset() };
    while at < m.get_max_phy_offset() {
        let data = m.read_raw(at, frame).expect("stored");
        assert!(!data.is_empty());
        assert!(at / FILE == (at + data.len() as i64 - 1) / FILE, "a frame crossed a file");
        let r = s.append_replicated(at, &data).unwrap();
        assert_eq!(r.end, at + data.len() as i64);
        at = r.end;
        frames += 1;
    }
    frames
}

fn same_log(a: &Path, b: &Path, from: i64) {
    let names = |d: &Path| {
        let mut v: Vec<_> = std::fs::read_dir(d.join("commitlog"))
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .filter(|n| n.parse::<i64>().is_ok_and(|o| o >= from))
            .collect();
        v.sort();
        v
    };
    assert_eq!(names(a), names(b));
    for n in names(a) {
        let (x, y) = (
            std::fs::read(a.join("commitlog").join(&n)),
            std::fs::read(b.join("commitlog").join(&n)),
        );
        assert!(x.unwrap() == y.unwrap(), "commit-log file {n} differs");
    }
}

fn bodies(s: &MessageStore, q: i32, from: i64) -> Vec<Bytes> {
    let r = s.get_message("g", "Rep", q, from, 1000, 64 << 20, None);
    decode_all(&r.concat(), true).unwrap().into_iter().map(|m| m.body).collect()
}

#[test]
fn a_slave_fed_split_frames_matches_its_master() {
    let (md, sd) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let (m, offs) = master(md.path(), 200);
    assert!(m.get_max_phy_offset() > 3 * FILE);
    let s = replica(sd.path());
    // Small frames: records arrive split over several frames and are checked once complete.
    let frames = replicate(&m, &s, 0, 1000);
    assert!(frames > m.get_max_phy_offset() as usize / 1000);
    assert_eq!(s.get_max_phy_offset(), m.get_max_phy_offset());
    m.checkpoint_now().unwrap();
    s.checkpoint_now().unwrap();
    same_log(md.path(), sd.path(), 0);
    for q in 0..3 {
        assert_eq!(s.get_max_offset_in_queue("Rep", q), m.get_max_offset_in_queue("Rep", q));
        assert_eq!(bodies(&s, q, 0), bodies(&m, q, 0));
    }
    assert_eq!(s.query_message("Rep", "k77", 5, 0, i64::MAX).phy_offsets, vec![offs[77]]);
    // A heartbeat (empty frame) at the end is fine; anywhere else is a mismatch.
    let end = s.get_max_phy_offset();
    assert_eq!(s.append_replicated(end, &[]).unwrap().end, end);
    assert!(matches!(
        s.append_replicated(end - 10, b"xx"),
        Err(ReplicationError::OffsetMismatch { expected, got }) if expected == end && got == end - 10
    ));
    // Restart after a crash: the replicated log recovers like any other.
    s.halt();
    drop(s);
    let s = replica(sd.path());
    assert_eq!(s.get_max_phy_offset(), m.get_max_phy_offset());
    assert_eq!(bodies(&s, 1, 0), bodies(&m, 1, 0));
    s.shutdown().unwrap();
    m.shutdown().unwrap();
}

#[test]
fn an_empty_slave_starts_at_the_masters_last_file() {
    let (md, sd) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let (m, _) = master(md.path(), 200);
    let last_file = m.get_max_phy_offset() / FILE * FILE;
    let s = replica(sd.path());
    assert!(s.append_replicated(last_file + 8, b"x").is_err(), "not a file boundary");
    replicate(&m, &s, last_file, 32 * 1024);
    assert_eq!(s.get_min_phy_offset(), last_file);
    assert_eq!(s.get_max_phy_offset(), m.get_max_phy_offset());
    m.checkpoint_now().unwrap();
    s.checkpoint_now().unwrap();
    same_log(md.path(), sd.path(), last_file);
    // Its queues start where the master's records in that file are.
    for q in 0..3 {
        let (min, max) = (s.get_min_offset_in_queue("Rep", q), s.get_max_offset_in_queue("Rep", q));
        assert_eq!(max, m.get_max_offset_in_queue("Rep", q));
        assert!(min > 0);
        assert_eq!(bodies(&s, q, min), bodies(&m, q, min));
    }
    s.shutdown().unwrap();
    m.shutdown().unwrap();
}

#[test]
fn bad_frames_are_refused_and_leave_nothing_behind() {
    let (md, sd) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let (m, offs) = master(md.path(), 20);
    let s = replica(sd.path());
    replicate(&m, &s, 0, 100_000);
    let _ = m.put_message(msg("Rep", 0, "t", "extra", vec![9u8; 500])).result;
    let end = s.get_max_phy_offset();
    let good = m.read_raw(end, 100_000).unwrap();
    // A flipped body byte: CRC mismatch, refused, nothing published.
    let mut bad = good.to_vec();
    bad[good.len() - 3] ^= 0xFF;
    assert!(
        matches!(s.append_replicated(end, &bad), Err(ReplicationError::Corrupt { at, .. }) if at == end)
    );
    assert_eq!(s.get_max_phy_offset(), end);
    // Bytes claiming another position: refused.
    let mut moved = good.to_vec();
    moved[28..36].copy_from_slice(&(end + 8).to_be_bytes()); // PHYSICALOFFSET field
    assert!(s.append_replicated(end, &moved).is_err());
    // A frame running past its file: refused.
    let file_end = (end / FILE + 1) * FILE;
    assert!(matches!(
        s.append_replicated(end, &vec![0u8; (file_end - end + 1) as usize]),
        Err(ReplicationError::CrossesFile { .. })
    ));
    // The good frame still applies, and a restart finds no trace of the bad ones.
    s.append_replicated(end, &good).unwrap();
    assert_eq!(s.get_max_phy_offset(), m.get_max_phy_offset());
    s.halt();
    drop(s);
    let s = replica(sd.path());
    assert_eq!(s.get_max_phy_offset(), m.get_max_phy_offset());
    assert_eq!(s.query_message("Rep", "k7", 5, 0, i64::MAX).phy_offsets, vec![offs[7]]);
    assert_eq!(s.query_message("Rep", "extra", 5, 0, i64::MAX).phy_offsets.len(), 1);
    s.shutdown().unwrap();
    m.shutdown().unwrap();
}

/// Found by the `ha_stream` fuzz target: a record that had only partly arrived sat in the mapped
/// file, so after a crash recovery scanned it with its missing tail read as zeros and, the body
/// CRC not covering the properties after the body, took it for whole (a log past what was
/// received, which the master's next stream then contradicts). Its bytes are now held in
/// memory until the record is complete.
#[test]
fn a_partly_arrived_record_is_not_recovered_after_a_crash() {
    let (md, sd) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let (m, offs) = master(md.path(), 20);
    assert!(m.get_max_phy_offset() < FILE, "one file");
    let s = replica(sd.path());
    // Everything up to one byte short of record 6's end: records 0..=5 whole, 6 all but one.
    let cut = offs[7] - 1;
    let data = m.read_raw(0, cut as usize).unwrap();
    assert_eq!(s.append_replicated(0, &data).unwrap(), ReplicaAppend { end: cut, records: 6 });
    // The slave's end is what it received, and raw reads (a resent tail's comparison) see the
    // held bytes as the master sent them, from anywhere below the end.
    assert_eq!(s.get_max_phy_offset(), cut);
    let want = m.read_raw(offs[4], (cut - offs[4]) as usize).unwrap();
    assert_eq!(s.read_raw(offs[4], 1 << 20).unwrap(), want);
    assert_eq!(s.read_raw(offs[6] + 5, 10).unwrap(), m.read_raw(offs[6] + 5, 10).unwrap());
    assert!(s.read_raw(cut, 10).unwrap().is_empty());
    // Consumers see the whole records only.
    assert_eq!(s.query_message("Rep", "k6", 5, 0, i64::MAX).phy_offsets, Vec::<i64>::new());
    assert_eq!(s.query_message("Rep", "k5", 5, 0, i64::MAX).phy_offsets, vec![offs[5]]);
    // Crash: the recovered log ends at the last whole record; the stream resumes from there
    // in frames so small that even a record's TOTALSIZE arrives split.
    s.halt();
    drop(s);
    let s = replica(sd.path());
    assert_eq!(s.get_max_phy_offset(), offs[6]);
    replicate(&m, &s, 0, 7);
    assert_eq!(s.get_max_phy_offset(), m.get_max_phy_offset());
    m.checkpoint_now().unwrap();
    s.checkpoint_now().unwrap();
    same_log(md.path(), sd.path(), 0);
    assert_eq!(s.query_message("Rep", "k6", 5, 0, i64::MAX).phy_offsets, vec![offs[6]]);
    // A partly arrived record is dropped by a truncation (a promotion cuts it, too).
    let _ = m.put_message(msg("Rep", 0, "t", "late", vec![3u8; 900])).result;
    let end = s.get_max_phy_offset();
    let late = m.read_raw(end, 100).unwrap();
    s.append_replicated(end, &late).unwrap();
    assert_eq!((s.get_max_phy_offset(), s.cut_partial_record().unwrap()), (end + 100, end));
    assert_eq!(s.get_max_phy_offset(), end);
    s.shutdown().unwrap();
    m.shutdown().unwrap();
}

/// Found by the `ha_stream` fuzz target: a bad first frame into an empty log left the file it
/// created, so the log started (empty) where the frame said and the slave reported that end.
#[test]
fn a_refused_first_frame_leaves_an_empty_log_empty() {
    let (md, sd) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let (m, _) = master(md.path(), 3);
    let good = m.read_raw(0, 100_000).unwrap();
    let s = replica(sd.path());
    let mut bad = good.to_vec();
    bad[4] ^= 0xFF; // magic code
    for (at, data) in
        [(FILE * 1024, &bad[..10]), (0, &bad[..]), (FILE, &vec![0u8; FILE as usize + 1])]
    {
        assert!(s.append_replicated(at, data).is_err(), "{at}");
        assert_eq!((s.get_min_phy_offset(), s.get_max_phy_offset()), (0, 0), "{at}");
    }
    // Offsets no log holds: negative, or a file that would end past i64::MAX.
    for at in [-FILE, i64::MAX / FILE * FILE] {
        assert!(s.append_replicated(at, &good).is_err(), "{at}");
    }
    assert_eq!(s.get_max_phy_offset(), 0);
    // The real first frame still applies.
    s.append_replicated(0, &good).unwrap();
    assert_eq!(s.get_max_phy_offset(), m.get_max_phy_offset());
    s.shutdown().unwrap();
    m.shutdown().unwrap();
}

/// Found by the `ha_stream` fuzz target: QUEUEOFFSET is not under the body CRC, and a far-off
/// one made the consume queue blank-fill the gap until memory or disk ran out.
#[test]
fn a_queue_offset_that_does_not_continue_its_queue_is_refused() {
    let (md, sd) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let (m, _) = master(md.path(), 6);
    let s = replica(sd.path());
    replicate(&m, &s, 0, 100_000);
    let _ = m.put_message(msg("Rep", 0, "t", "next", vec![7u8; 300])).result;
    let end = s.get_max_phy_offset();
    let good = m.read_raw(end, 100_000).unwrap();
    for qo in [1_000_000_000i64, -1, i64::MAX] {
        let mut bad = good.to_vec();
        bad[20..28].copy_from_slice(&qo.to_be_bytes()); // QUEUEOFFSET field
        let r = s.append_replicated(end, &bad);
        assert!(matches!(r, Err(ReplicationError::Corrupt { at, .. }) if at == end), "{qo}: {r:?}");
        assert_eq!(s.get_max_phy_offset(), end);
    }
    s.append_replicated(end, &good).unwrap();
    assert_eq!(s.get_max_offset_in_queue("Rep", 0), m.get_max_offset_in_queue("Rep", 0));
    s.shutdown().unwrap();
    m.shutdown().unwrap();
}

/// Found by the `ha_stream` fuzz target: the topic names the consume queue's directory, and a
/// hostile master's topic `/2` created `/2/<queue>/...` at the file-system root.
#[test]
fn a_topic_that_is_a_path_is_refused() {
    let (md, sd) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let (m, _) = master(md.path(), 1);
    let good = m.read_raw(0, 100_000).unwrap();
    let s = replica(sd.path());
    let at = good.windows(4).position(|w| w == b"\x03Rep").unwrap() + 1; // TOPIC field
    let mut bad = good.to_vec();
    bad[at..at + 3].copy_from_slice(b"R/p");
    let r = s.append_replicated(0, &bad);
    assert!(matches!(r, Err(ReplicationError::Corrupt { at: 0, .. })), "{r:?}");
    assert!(!sd.path().join("consumequeue/R").exists());
    s.append_replicated(0, &good).unwrap();
    s.shutdown().unwrap();
    m.shutdown().unwrap();
}

#[test]
fn truncation_cuts_log_queues_and_index_back_to_a_record() {
    let (md, sd) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let (m, offs) = master(md.path(), 200);
    let s = replica(sd.path());
    replicate(&m, &s, 0, 32 * 1024);
    let cut = offs[120];
    assert!(matches!(s.truncate_to(cut + 1), Err(ReplicationError::NotABoundary(_))));
    // A reader holding bytes past the cut keeps them (the file is replaced, not zeroed).
    let held = s.look_message_by_offset(offs[150]).unwrap();
    let held_copy = held.to_vec();
    s.truncate_to(cut).unwrap();
    assert_eq!(&held[..], &held_copy[..]);
    assert_eq!(s.get_max_phy_offset(), cut);
    // No read limit was set: the cut must not become one (reads of what is replicated next).
    assert_eq!(s.confirmed_offset(), i64::MAX);
    for q in 0..3 {
        // Message i is queue offset i / 3 in queue i % 3; 120 messages remain.
        let want = (0..120).filter(|i| i % 3 == q as usize).count() as i64;
        assert_eq!(s.get_max_offset_in_queue("Rep", q), want, "queue {q}");
    }
    assert!(s.look_message_by_offset(offs[150]).is_none());
    assert!(s.query_message("Rep", "k150", 5, 0, i64::MAX).messages.is_empty());
    assert_eq!(s.query_message("Rep", "k119", 5, 0, i64::MAX).phy_offsets, vec![offs[119]]);
    // Following the master again gives the same log.
    replicate(&m, &s, 0, 32 * 1024);
    m.checkpoint_now().unwrap();
    s.checkpoint_now().unwrap();
    same_log(md.path(), sd.path(), 0);
    assert_eq!(s.query_message("Rep", "k150", 5, 0, i64::MAX).phy_offsets, vec![offs[150]]);
    // And it survives a crash and restart.
    s.halt();
    drop(s);
    let s = replica(sd.path());
    assert_eq!(bodies(&s, 0, 0), bodies(&m, 0, 0));
    s.shutdown().unwrap();
    m.shutdown().unwrap();
}

#[test]
fn reads_stop_at_the_confirmed_offset() {
    let dir = tempfile::tempdir().unwrap();
    let (m, offs) = master(dir.path(), 30);
    assert_eq!(m.confirmed_offset(), i64::MAX);
    // Messages 0..10 confirmed: queue 0 holds messages 0, 3, 6, 9 of them.
    m.set_confirmed_offset(offs[10]);
    let r = m.get_message("g", "Rep", 0, 0, 100, 64 << 20, None);
    assert_eq!(r.msg_count, 4);
    assert_eq!(r.next_begin_offset, 4);
    let r = m.get_message("g", "Rep", 0, 4, 100, 64 << 20, None);
    assert_eq!(r.status, GetMessageStatus::OffsetOverflowOne);
    m.set_confirmed_offset(i64::MAX);
    assert_eq!(m.get_message("g", "Rep", 0, 0, 100, 64 << 20, None).msg_count, 10);
    m.shutdown().unwrap();
}

/// A truncation keeps "no limit" as no limit (it used to cap every later read at the cut
/// point: a truncated replica, once promoted, served nothing it stored after the cut) and
/// lowers a limit in force to the new end.
#[test]
fn truncation_leaves_an_unlimited_confirmed_offset_unlimited() {
    let (md, sd) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let (m, offs) = master(md.path(), 60);
    let s = replica(sd.path());
    replicate(&m, &s, 0, 32 * 1024);
    s.truncate_to(offs[30]).unwrap();
    assert_eq!(s.confirmed_offset(), i64::MAX);
    // Promoted: what it stores after the cut is read.
    s.set_follower(false);
    for i in 0..9 {
        let r = s.put_message(msg("Rep", 0, "t", &format!("after{i}"), vec![1u8; 100])).result;
        assert_eq!(r.status, PutMessageStatus::PutOk);
    }
    // Queue 0 held messages 0, 3, .., 27 (10) before the cut, then the 9 new ones.
    assert_eq!(s.get_message("g", "Rep", 0, 0, 100, 64 << 20, None).msg_count, 19);
    // A limit in force comes down to the cut.
    s.set_confirmed_offset(offs[25]);
    s.set_follower(true);
    s.truncate_to(offs[20]).unwrap();
    assert_eq!(s.confirmed_offset(), offs[20]);
    s.shutdown().unwrap();
    m.shutdown().unwrap();
}
