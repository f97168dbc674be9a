//! The `ha_stream` fuzz target's check (`fuzz/checks/ha_stream.rs`: a hostile master's
//! stream into a replica store) on every test run: the seeds and a bounded number of
//! deterministic mutations (`fuzz/replay.rs`, shared with `common/tests/fuzz_replay.rs`).
//! It lives in the broker crate because the check drives the broker's store.
//!
//! The seeds are real streams: `cargo test -p mq-broker --test fuzz_replay_ha -- --ignored`
//! writes them again from records the store itself encodes (`write_seeds` below).

use std::path::PathBuf;
use std::time::Duration;

use mq_broker::ha::wire::{confirm_frame, FrameHeader};
use mq_broker::store::{MessageStore, PutMessageStatus};
use mq_common::message::property::{encode_properties, KEYS, TAGS};
use mq_common::message::MessageExtBrokerInner;

#[path = "../../fuzz/checks/ha_stream.rs"]
mod ha_stream;
#[path = "../../fuzz/replay.rs"]
mod replay;

/// Mutations (each input opens and recovers a store: ~0.7 ms in debug on tmpfs, so fewer than
/// the pure decoders' 20,000).
const MUTATIONS: usize = 10_000;
/// Wall-clock cap, so a slow debug build on a loaded machine stays bounded.
const BUDGET: Duration = Duration::from_secs(8);

#[test]
fn ha_stream_seeds_and_mutations() {
    replay::run("ha_stream", ha_stream::check, MUTATIONS, BUDGET);
}

/// A data frame as a master sends it.
fn frame(offset: i64, body: &[u8]) -> Vec<u8> {
    let mut f = FrameHeader { offset, size: body.len() as i32 }.encode().to_vec();
    f.extend_from_slice(body);
    f
}

/// `log[from..]` in frames of at most `max` bytes that never cross a file, as the master
/// reads them (`read_raw`).
fn frames(m: &MessageStore, from: i64, max: usize) -> Vec<u8> {
    let mut out = Vec::new();
    let mut at = from;
    while at < m.get_max_phy_offset() {
        let body = m.read_raw(at, max).expect("stored");
        out.extend(frame(at, &body));
        at += body.len() as i64;
    }
    out
}

/// Regenerate `fuzz/seeds/ha_stream/` from a master store with the fuzzed store's file size.
#[test]
#[ignore = "writes the checked-in seeds; run by hand"]
fn write_seeds() {
    let dir = tempfile::tempdir().unwrap();
    let m = MessageStore::open(ha_stream::store_config(dir.path())).unwrap();
    // Varied sizes, so the log crosses its first 4 KiB file (blank tail, second file).
    for i in 0..14usize {
        let msg = MessageExtBrokerInner {
            topic: format!("T{}", i % 2),
            queue_id: (i % 3) as i32,
            born_host: "10.0.0.1:5555".parse().unwrap(),
            store_host: "127.0.0.1:10911".parse().unwrap(),
            body: vec![b'a' + (i % 26) as u8; 40 + i * 37].into(),
            properties: encode_properties([(TAGS, "t"), (KEYS, format!("k{i}").as_str())]),
            ..Default::default()
        };
        assert_eq!(m.put_message(msg).result.status, PutMessageStatus::PutOk);
    }
    let end = m.get_max_phy_offset();
    let first = m.read_raw(0, 4096).unwrap();
    let heartbeat = |at: i64| FrameHeader { offset: at, size: 0 }.encode().to_vec();
    let out = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../fuzz/seeds/ha_stream");
    std::fs::create_dir_all(&out).unwrap();
    let write =
        |name: &str, parts: &[&[u8]]| std::fs::write(out.join(name), parts.concat()).unwrap();
    // The whole log as the master streams it (whole files), then a heartbeat at its end.
    write("stream_whole.bin", &[&frames(&m, 0, 4096), &heartbeat(end)]);
    // Small frames: records split over frames, a frame ending at the file boundary.
    write("stream_split.bin", &[&frames(&m, 0, 700)]);
    // Controller mode: a CONFIRM frame between data frames.
    let half = first.len() / 2;
    let (a, b) = (frame(0, &first[..half]), frame(half as i64, &first[half..]));
    write("confirm_between.bin", &[&a, &confirm_frame(half as i64), &b]);
    // A heartbeat alone (the master has nothing to send), and one into an empty log.
    write("heartbeat.bin", &[&heartbeat(0)]);
    // The tail resent (a reconnect verifies it), then the rest.
    write("resend_tail.bin", &[&a, &frame(0, &first), &frames(&m, first.len() as i64, 4096)]);
    // A frame torn mid-body: its header promises more than arrives.
    let torn = frame(half as i64, &first[half..]);
    write("torn_frame.bin", &[&a, &torn[..torn.len() - 9]]);
}
