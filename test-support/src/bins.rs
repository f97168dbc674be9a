//! Locating the workspace's binaries from a test executable, building missing or stale ones.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Mutex;
use std::time::SystemTime;

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

/// Make sure every binary of `bins` exists in [`target_dir`] and is newer than every workspace
/// source file, building the workspace's binaries if not; returns the directory.
///
/// Staleness matters: a test that spawns last week's `mqbroker` passes or fails for the wrong
/// reason. Set `RMQ_SKIP_BUILD=1` to use the binaries as they are (the CI scripts build first).
///
/// The build is [`BUILD_ARGS`], the one build of binaries every script and test uses: a build
/// of a subset of packages resolves features differently and compiles a second copy of most
/// dependencies (CI ran out of disk with four), while the whole workspace's binaries reuse
/// what `cargo test --workspace` compiled.
pub fn ensure_bins(bins: &[&str]) -> PathBuf {
    // Serialised: two tests of one binary building at once would only wait on cargo's lock.
    static BUILD: Mutex<()> = Mutex::new(());
    let _g = BUILD.lock().unwrap_or_else(|e| e.into_inner());
    let dir = target_dir();
    let skip = std::env::var_os("RMQ_SKIP_BUILD").is_some_and(|v| !v.is_empty() && v != "0");
    let newest_source = if skip { None } else { newest_source_mtime() };
    let needs_build = bins.iter().any(|b| match std::fs::metadata(dir.join(b)) {
        Err(_) => true,
        Ok(m) => match (m.modified(), newest_source) {
            (Ok(built), Some(src)) => built < src,
            _ => false,
        },
    });
    if needs_build {
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let mut cmd = Command::new(cargo);
        cmd.args(BUILD_ARGS);
        if dir.file_name().is_some_and(|p| p == "release") {
            cmd.arg("--release");
        }
        let st = cmd.status().expect("run cargo build");
        assert!(st.success(), "cargo {} failed", BUILD_ARGS.join(" "));
    }
    dir
}

/// The arguments of the one build of the workspace's binaries (`scripts/lib.sh`'s `rmq_build`
/// runs the same).
pub const BUILD_ARGS: [&str; 4] = ["build", "--workspace", "--bins", "--examples"];

/// The newest modification time of the workspace's Rust sources, manifests and protos.
fn newest_source_mtime() -> Option<SystemTime> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).parent()?;
    let mut newest = None;
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else { continue };
        for e in entries.flatten() {
            let name = e.file_name();
            let name = name.to_string_lossy();
            let Ok(ft) = e.file_type() else { continue };
            if ft.is_dir() {
                let skip = name.starts_with('.')
                    || matches!(&*name, "target" | "node_modules" | "data" | "interop" | "fuzz");
                if !skip {
                    stack.push(e.path());
                }
            } else if name.ends_with(".rs") || name == "Cargo.toml" || name.ends_with(".proto") {
                let modified = e.metadata().and_then(|m| m.modified()).ok();
                newest = newest.max(modified);
            }
        }
    }
    newest
}

/// The server binaries.
pub(crate) const SERVER_BINS: [&str; 2] = ["mqnamesrv", "mqbroker"];
