//! Fuzz what a broker parses from client-supplied text: HEART_BEAT / LOCK bodies (fastjson
//! via `lenient_json`), the subscription normaliser every subscription goes through, and the
//! Java-properties parser behind UPDATE_BROKER_CONFIG. None may panic; a normalised
//! subscription must be a fixed point (normalising twice changes nothing).
//!
//! Shared by the libFuzzer target `fuzz_targets/client_bodies.rs` and the CI replay test
//! `common/tests/fuzz_replay.rs` (seeds plus bounded mutations on every test run).

use mq_common::config::parse_properties;
use mq_common::protocol::body::{HeartbeatData, LockBatchRequestBody, SubscriptionData};
use mq_common::protocol::lenient_json;

/// One input: must not panic (asserts state the properties).
pub fn check(data: &[u8]) {
    if let Ok(hb) = lenient_json::from_slice::<HeartbeatData>(data) {
        for cd in hb.consumer_data_set {
            for mut s in cd.subscription_data_set {
                let first = s.normalize();
                let once = s.clone();
                assert_eq!(s.normalize(), first);
                assert_eq!(s, once, "normalize is idempotent");
            }
        }
    }
    let _ = lenient_json::from_slice::<LockBatchRequestBody>(data);
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = parse_properties(text);
        // The same text as a pull header's subscription expression, with and without a type.
        let _ = SubscriptionData::from_expression("T", text, None, 0);
        let _ = SubscriptionData::from_expression("T", text, Some(text), 0);
    }
}
