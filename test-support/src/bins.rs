//! Locating the workspace's binaries from a test executable, building missing ones.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Mutex;

/// `target/<profile>`: integration-test executables live in `target/<profile>/deps`.
/// `RMQ_BIN_DIR` points the process tests at other binaries instead (e.g. a copy of an older
/// build, to measure a "before" with the same test).
pub fn target_dir() -> PathBuf {
    if let Some(d) = std::env::var_os("RMQ_BIN_DIR").filter(|d| !d.is_empty()) {
        return PathBuf::from(d);
    }
    let exe = std::env::current_exe().expect("current exe");
    exe.parent().and_then(Path::parent).expect("target dir").to_path_buf()
}

/// Make sure every binary of `bins` exists in [`target_dir`], running
/// `cargo build -p <packages...>` once if any is missing; returns the directory.
///
/// Callers that build several packages should name all of them in one call (as the scripts
/// do) so that cargo's feature unification matches theirs and nothing is rebuilt twice.
pub fn ensure_bins(bins: &[&str], packages: &[&str]) -> PathBuf {
    // Serialised: two tests of one binary building at once would only wait on cargo's lock.
    static BUILD: Mutex<()> = Mutex::new(());
    let _g = BUILD.lock().unwrap_or_else(|e| e.into_inner());
    let dir = target_dir();
    if bins.iter().any(|b| !dir.join(b).exists()) {
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let mut cmd = Command::new(cargo);
        cmd.arg("build");
        for p in packages {
            cmd.args(["-p", p]);
        }
        let st = cmd.status().expect("run cargo build");
        assert!(st.success(), "building {packages:?} failed");
    }
    dir
}

/// The server binaries and the packages that build them.
pub(crate) const SERVER_BINS: [&str; 2] = ["mqnamesrv", "mqbroker"];
pub(crate) const SERVER_PACKAGES: [&str; 2] = ["mq-namesrv", "mq-broker"];
