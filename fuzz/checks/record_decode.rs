//! Fuzz the stored-message record decoders (spec §3): single records with and without CRC
//! checks, a run of records, the zero-copy view, and batch bodies. They must never panic on
//! torn, truncated or hostile bytes (recovery and PULL parsing read such data).
//!
//! Shared by the libFuzzer target `fuzz_targets/record_decode.rs` and the CI replay test
//! `common/tests/fuzz_replay.rs` (seeds plus bounded mutations on every test run).

use bytes::Bytes;
use mq_common::message::{decode_all, decode_batch, decode_properties, MessageExt, RecordView};

/// One input: must not panic (asserts state the properties).
pub fn check(data: &[u8]) {
    let bytes = Bytes::copy_from_slice(data);
    for check_crc in [false, true] {
        if let Ok((msg, len)) = MessageExt::decode(&bytes, check_crc) {
            assert!(len <= data.len(), "a record cannot be longer than its input");
            let _ = msg;
        }
        let _ = RecordView::parse(data, check_crc);
        let _ = decode_all(&bytes, check_crc);
    }
    let _ = decode_batch(&bytes);
    if let Ok(s) = std::str::from_utf8(data) {
        let _ = decode_properties(s);
    }
}
