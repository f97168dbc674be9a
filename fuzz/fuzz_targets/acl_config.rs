//! libFuzzer entry for `checks/acl_config.rs` (what is fuzzed and why is documented there).
#![no_main]

#[path = "../checks/acl_config.rs"]
mod check;

libfuzzer_sys::fuzz_target!(|data: &[u8]| check::check(data));
