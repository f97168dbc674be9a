//! libFuzzer entry for `checks/record_decode.rs` (what is fuzzed and why is documented there).
#![no_main]

#[path = "../checks/record_decode.rs"]
mod check;

libfuzzer_sys::fuzz_target!(|data: &[u8]| check::check(data));
