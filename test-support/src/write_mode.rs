//! The commit-log write mode of every broker the tests start (processes through [`crate::cluster`]
//! and [`crate::stack`], in-process ones through `broker/tests/common`):
//! `BROKER_TEST_COMMIT_LOG_WRITE=pwrite` or `mmap` (`scripts/test-all.sh` runs the HA suites
//! once more in the non-default mode, `mmap`), else the broker's default (pwrite). The store tests have their own switch
//! (`STORE_TEST_COMMIT_LOG_WRITE`, `store-tests/src/lib.rs`).

/// The environment variable.
pub const ENV: &str = "BROKER_TEST_COMMIT_LOG_WRITE";

/// Settings to put first in a test broker's configuration (a test's own settings come after
/// and win).
pub fn broker_settings() -> Vec<(&'static str, &'static str)> {
    match std::env::var(ENV).ok().as_deref() {
        None | Some("") => Vec::new(),
        Some("pwrite") => vec![("commitLogPwriteEnable", "true")],
        Some("mmap") => vec![("commitLogPwriteEnable", "false")],
        Some(other) => panic!("{ENV}={other}: expected pwrite or mmap"),
    }
}
