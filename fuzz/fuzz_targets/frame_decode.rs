//! libFuzzer entry for `checks/frame_decode.rs` (what is fuzzed and why is documented there).
#![no_main]

#[path = "../checks/frame_decode.rs"]
mod check;

libfuzzer_sys::fuzz_target!(|data: &[u8]| check::check(data));
