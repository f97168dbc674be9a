//! libFuzzer entry for `checks/ha_stream.rs` (what is fuzzed and why is documented there).
#![no_main]

#[path = "../checks/ha_stream.rs"]
mod check;

libfuzzer_sys::fuzz_target!(|data: &[u8]| check::check(data));
