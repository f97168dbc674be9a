#!/usr/bin/env bash
# Run every test of the workspace (unit, integration, real-process, doc tests).
# The fuzz crate is a separate workspace and is not built here (see README, Fuzzing).
set -euo pipefail
cd "$(dirname "$0")/.."
cargo test --workspace "$@"
