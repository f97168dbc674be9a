//! libFuzzer entry for `checks/client_bodies.rs` (what is fuzzed and why is documented there).
#![no_main]

#[path = "../checks/client_bodies.rs"]
mod check;

libfuzzer_sys::fuzz_target!(|data: &[u8]| check::check(data));
