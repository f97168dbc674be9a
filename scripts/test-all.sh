#!/usr/bin/env bash
# Run every test of the project, as CI does (after a few-second self-test of scripts/lib.sh and
# the hygiene gates: `cargo fmt --check` and `cargo clippy --workspace --all-targets -D warnings`):
#   1. cargo test --workspace: unit, property, integration and real-process tests of every crate
#      (protocol fixtures, namesrv, store crash/corruption/model tests, broker, client against a
#      real stack, console API, chat and presence end-to-end tests);
#   2. interop: third-party RocketMQ clients against mqnamesrv + mqbroker: ali-ons (npm, pure
#      JavaScript), rocketmq-client-cpp 1.x (PyPI `rocketmq`, C++ core) and rocketmq-client-rust
#      1.0 (crates.io; a 5.x-era client with strict decoding, built outside the workspace; also
#      over TLS, and again with aclEnable=true + tlsMode=enforcing: `interop-rust.sh secure`), then
#      ali-ons and the C++ client again signing requests against a stack with aclEnable=true
#      (scripts/interop-acl.sh); the 5.x SDKs (PyPI rocketmq-python-client, npm
#      rocketmq-client-nodejs) over the gRPC endpoint;
#   3. the chat gateway's DDP conformance tests with the real ddp.js client (node --test), then
#      again with ACL and TLS enforcing on name server and broker (the services sign over TLS);
#   4. the web console in headless Chromium (installed by the script if missing);
#   5. deployment files: Kubernetes schemas, Prometheus config/alert rules (+ their unit tests)
#      and the Grafana dashboard's queries (scripts/deploy-check.sh);
#   6. the container images and compose stack (broker-a master + slave) under podman
#      (scripts/containers-test.sh), and the controller-mode compose stack with a master
#      killed -9 (scripts/containers-controller-test.sh).
# Every suite runs even if an earlier one failed; the last line says how many passed.
# The process tests use the debug binaries `cargo test` just built (RMQ_PROFILE=release to
# test release builds instead). Extra arguments go to `cargo test` (e.g. -- --test-threads=1).
set -uo pipefail
cd "$(dirname "$0")/.." || exit 1
export RMQ_PROFILE=${RMQ_PROFILE:-debug}

passed=0
failed=0
failures=()
failed_outs=()
# Each suite's output is also kept, so the end of the run can repeat why a suite failed: CI
# shows the tail of the output, and a reason printed above the logs a suite dumps (and above
# the suites after it) would be cut off.
outs=$(mktemp -d "${TMPDIR:-/tmp}/test-all.XXXXXX")
trap 'rm -rf "$outs"' EXIT
suite() { # name command...
  local name=$1
  shift
  echo
  echo "=== suite: $name"
  local t0=$SECONDS out="$outs/$((passed + failed)).out"
  "$@" </dev/null 2>&1 | tee "$out"
  if [ "${PIPESTATUS[0]}" = 0 ]; then
    passed=$((passed + 1))
    echo "=== suite: $name ok ($((SECONDS - t0)) s)"
  else
    failed=$((failed + 1))
    failures+=("$name")
    failed_outs+=("$out")
    echo "=== suite: $name FAILED ($((SECONDS - t0)) s)"
  fi
}

suite "scripts/lib.sh self-test" scripts/lib-test.sh
suite "cargo fmt --check" cargo fmt --all -- --check
suite "cargo clippy -D warnings" cargo clippy --workspace --all-targets -- -D warnings
# --no-fail-fast: one failing test binary must not hide the results of all the others.
suite "cargo test --workspace" cargo test --workspace --no-fail-fast "$@"
# The store tests again with the commit log in the other (non-default) write mode, stores into
# a writable mapping (docs/store.md): ~30 s.
suite "store tests, commit log written through the mapping" env STORE_TEST_COMMIT_LOG_WRITE=mmap cargo test -p mq-store-tests --no-fail-fast "$@"
# The HA process suites again with every test broker's commit log written through the mapping
# (the non-default mode; test-support/src/write_mode.rs): ~3.5 min on 2 vCPUs (controller_mode
# ~3 min of it).
suite "HA suites, commit log written through the mapping" env BROKER_TEST_COMMIT_LOG_WRITE=mmap cargo test -p mq-broker --test replication --test ha_faults --test controller_mode --no-fail-fast "$@"
if [ "$RMQ_PROFILE" = release ]; then
  cargo build --release --workspace --bins --examples
fi
suite "interop (ali-ons)" env RMQ_SKIP_BUILD=1 scripts/interop.sh
suite "interop (rocketmq-client-cpp)" env RMQ_SKIP_BUILD=1 scripts/interop-cpp.sh
suite "interop (rocketmq-client-rust; TLS to permissive servers)" env RMQ_SKIP_BUILD=1 scripts/interop-rust.sh
suite "interop with ACL+TLS enforcing (rocketmq-client-rust)" env RMQ_SKIP_BUILD=1 scripts/interop-rust.sh secure
suite "interop with ACL (ali-ons + cpp signing, 5.x SDKs over gRPC)" env RMQ_SKIP_BUILD=1 scripts/interop-acl.sh
suite "interop (5.x SDKs over gRPC: Python, Node)" env RMQ_SKIP_BUILD=1 scripts/interop-grpc.sh
suite "chat DDP conformance (ddp.js)" env SKIP_RUST=1 scripts/services-test.sh
# The same with name server and broker at aclEnable=true + tlsMode=enforcing: the chat services
# sign over TLS with an account that has explicit permissions (services/e2e-js/lib/cluster.mjs,
# CHAT_JS_SECURE).
suite "chat DDP conformance with ACL + TLS enforcing (services sign over TLS)" env SKIP_RUST=1 CHAT_JS_SECURE=1 scripts/services-test.sh
suite "console in headless chromium" scripts/console-e2e.sh both
suite "deployment files (k8s schemas, topology, promtool, dashboard)" scripts/deploy-check.sh
suite "containers (podman: images, compose stack with a replica, ali-ons, metrics)" env RMQ_SKIP_BUILD=1 scripts/containers-test.sh
suite "containers in controller mode (3 controllers, 3 replicas, kill -9 the master, ali-ons)" env RMQ_SKIP_BUILD=1 scripts/containers-controller-test.sh

for i in "${!failures[@]}"; do
  echo
  echo "--- why '${failures[$i]}' failed: its panics, then its last lines without log lines"
  grep -a -A1 'panicked at' "${failed_outs[$i]}" | head -20
  grep -avE '^\s*\{"|^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9:.]+Z? +(TRACE|DEBUG|INFO|WARN|ERROR) |^ +[0-9]+: |^ +at ' \
    "${failed_outs[$i]}" | tail -25
done
echo
# Disk use, since CI's disk is small (a full disk fails suites in confusing ways).
echo "disk: target $(du -sh target 2>/dev/null | cut -f1); $(df -h --output=avail,target . "${TMPDIR:-/tmp}" 2>/dev/null | tail -n +2 | awk '{printf "%s free on %s; ", $1, $2}')"
[ "$failed" -eq 0 ] || echo "failed suites: ${failures[*]}"
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
