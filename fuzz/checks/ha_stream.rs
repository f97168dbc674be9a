//! Fuzz the slave's side of the classic HA stream (docs/ha-protocol.md §2, §4): `data` is
//! what a hostile or buggy master sends. It is cut into frames with the slave's own scanner
//! (`ha::wire::next_frame`), CONFIRM frames are parsed as the slave does, and every data frame
//! goes to a fresh replica store through `append_replicated` at the offset the frame names,
//! after the slave's checks (the tail it already holds is compared and skipped; any other
//! offset but the log's end is refused).
//!
//! Properties: no panic; the store's end moves only by what an append accepted (a refused
//! one leaves it where it was); after the run, reopening the store (recovery, as after a
//! crash) gives an end at or below the one it reported, and every record below that end
//! decodes with a valid body CRC and names its own offset.
//!
//! A refused frame ends the slave's connection; the next connection continues from the same
//! store, so the run goes on with the next frame (what a reconnect sees, without the wait).
//!
//! Shared by the libFuzzer target `fuzz_targets/ha_stream.rs` and the CI replay test
//! `broker/tests/fuzz_replay_ha.rs` (seeds plus bounded mutations on every test run).

use std::path::Path;

use mq_broker::ha::wire::{confirm_offset, next_frame, CONFIRM, FRAME_HEADER};
use mq_broker::store::{MessageStore, StoreConfig};
use mq_common::message::{DecodeError, RecordView};

/// Commit-log file size of the fuzzed store: the smallest the store takes, so a short input
/// reaches a file boundary (blank tails, the next file) and one run stays in milliseconds.
pub const FILE_SIZE: u64 = 4096;

/// A small store rooted at `root` (the seed generator's master uses the same).
pub fn store_config(root: &Path) -> StoreConfig {
    let mut c = StoreConfig::with_root(root);
    c.mapped_file_size_commit_log = FILE_SIZE;
    c.mapped_file_size_consume_queue = 20 * 20;
    c.max_hash_slot_num = 64;
    c.max_index_num = 400;
    c
}

/// A temp dir for one input's store, in RAM when `/dev/shm` exists: the store's fsyncs
/// (abort file, checkpoint) cost ~10 ms each on a loaded disk and nothing on tmpfs.
fn temp_dir() -> tempfile::TempDir {
    let shm = Path::new("/dev/shm");
    let b = tempfile::Builder::new().prefix("rmq-ha-fuzz").tempdir_in(shm);
    b.or_else(|_| tempfile::tempdir()).expect("temp dir")
}

/// One input: must not panic (asserts state the properties).
pub fn check(data: &[u8]) {
    let dir = temp_dir();
    let store = MessageStore::open(store_config(dir.path())).expect("open a fresh store");
    store.set_follower(true);
    let mut rest = data;
    // A torn last frame (`Ok(None)`) waits for bytes that never come; a refused size ends the
    // connection. Either way nothing more of this input is applied.
    while let Ok(Some((h, frame))) = next_frame(rest) {
        rest = &rest[FRAME_HEADER + frame.len()..];
        if h.offset == CONFIRM {
            if let Ok(c) = confirm_offset(frame) {
                store.set_confirmed_offset(c);
            }
            continue;
        }
        apply(&store, h.offset, frame);
    }
    let reported = store.get_max_phy_offset();
    drop(store);
    let store = MessageStore::open(store_config(dir.path())).expect("reopen (recover)");
    let max = store.get_max_phy_offset();
    assert!(max <= reported, "recovered end {max} is past the reported {reported}");
    all_records_valid(&store, max);
}

/// A data frame, as the slave applies it (this session began on an empty store, so the
/// slave asked from 0 and verifies any offset below its end).
fn apply(store: &MessageStore, offset: i64, frame: &[u8]) {
    let before = store.get_max_phy_offset();
    let (mut at, mut body) = (offset, frame);
    if (0..before).contains(&at) {
        // The master resends the tail the slave holds: compare, then skip it.
        let n = ((before - at) as usize).min(body.len());
        let mine = store.read_raw(at, n).unwrap_or_default();
        if mine.len() != n || mine[..] != body[..n] {
            return; // diverged: the slave refuses this master
        }
        (at, body) = (at + n as i64, &body[n..]);
        if body.is_empty() && at < before {
            return;
        }
    }
    let slave_refuses = before != 0 && before != at;
    let r = store.append_replicated(at, body);
    let after = store.get_max_phy_offset();
    match r {
        Ok(r) => {
            assert!(
                !slave_refuses,
                "the store took {} bytes at {at}, its end is {before}",
                body.len()
            );
            let expect = if body.is_empty() { before } else { at.wrapping_add(body.len() as i64) };
            assert_eq!((r.end, after), (expect, expect), "append of {} bytes at {at}", body.len());
        }
        Err(e) => assert_eq!(after, before, "a refused append at {at} moved the end: {e}"),
    }
}

/// Every record below `max` decodes with a valid CRC at the offset it names; a file ends in
/// a blank marker reaching exactly its end.
fn all_records_valid(store: &MessageStore, max: i64) {
    let mut at = store.get_min_phy_offset();
    while at < max {
        let raw = store.read_raw(at, FILE_SIZE as usize).expect("stored below the end");
        assert!(!raw.is_empty(), "nothing stored at {at} below the end {max}");
        let mut p = 0usize;
        while p < raw.len() {
            let here = at + p as i64;
            match RecordView::parse(&raw[p..], true) {
                Ok(v) => {
                    assert_eq!(v.physical_offset, here, "record at {here} names another offset");
                    p += v.total_size as usize;
                }
                Err(DecodeError::Blank { size }) => {
                    let end = here + size as i64;
                    assert!(end % FILE_SIZE as i64 == 0, "blank at {here} ends at {end}");
                    p = raw.len();
                }
                Err(e) => panic!("record at {here}, below the recovered end {max}: {e}"),
            }
        }
        at += raw.len() as i64;
    }
}
