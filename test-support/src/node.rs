//! The Node.js side of the interop tests: `interop/` with its pinned ali-ons installed.

use std::path::{Path, PathBuf};

/// The `interop/` directory, after `npm ci` of the pinned ali-ons (interop/package-lock.json)
/// unless it is installed, as scripts/interop.sh does; node and npm are required (CI installs
/// them).
pub fn ensure_ali_ons() -> PathBuf {
    let interop = Path::new(env!("CARGO_MANIFEST_DIR")).join("../interop");
    if !interop.join("node_modules/ali-ons").exists() {
        let st = std::process::Command::new("npm")
            .args(["ci", "--no-audit", "--no-fund", "--loglevel=error"])
            .current_dir(&interop)
            .status()
            .expect("npm is required for the ali-ons tests");
        assert!(st.success(), "npm ci failed in {}", interop.display());
    }
    interop
}
