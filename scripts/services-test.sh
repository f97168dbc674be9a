#!/usr/bin/env bash
# Chat services test suite (issue 8): builds what it needs, runs the chat-proto/ddp-streamer unit
# tests, the Rust end-to-end tests (real mqnamesrv + mqbroker + chat-observer + chat-gateway
# processes on free loopback ports; T2 T3 T4 T7 T8 T9 T10 T14 T15) and the node conformance tests
# (T1 + T8 subset with the real ddp.js client, installed by `npm ci`).
#
# Each phase runs in its own process group; whatever a crashed test leaves behind is killed by
# that group's id when the phase ends, so nothing keeps running. OFFSETS_DIR points into a temp
# dir of this script (removed on exit), so killed services leave nothing under /tmp.
#
#   E2E_SCALE=0.5 scripts/services-test.sh   # scale the heavy tests (T3, T4, T9, T10)
#   SKIP_NODE=1 / SKIP_RUST=1                # run one half only
set -uo pipefail
RMQ_PROFILE=debug
# shellcheck source=scripts/lib.sh
. "$(dirname "$0")/lib.sh"
cd "$RMQ_ROOT" || exit 1
export E2E_SCALE=${E2E_SCALE:-1}
rmq_install_traps
rmq_workdir services-test
export OFFSETS_DIR=$RMQ_WORK

echo "== services-test: building mqnamesrv, mqbroker, chat-gateway, chat-observer (debug)"
rmq_build || exit 1

status=0
if [ "${SKIP_RUST:-0}" != 1 ]; then
  echo "== services-test: unit tests (chat-proto, chat-ddp-streamer)"
  cargo test -p chat-proto -p chat-ddp-streamer || status=1
  echo "== services-test: Rust end-to-end tests (E2E_SCALE=$E2E_SCALE)"
  # One test at a time: each starts a whole deployment on a 2-core machine.
  rmq_run_group cargo test -p chat-e2e -- --test-threads=1 --nocapture || status=1
fi

if [ "${SKIP_NODE:-0}" != 1 ]; then
  echo "== services-test: node conformance tests (ddp.js)"
  if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
    echo "services-test: node/npm not installed" >&2
    status=1
  else
    (cd services/e2e-js && npm ci --no-audit --no-fund --loglevel=error) || status=1
    (cd services/e2e-js && BIN_DIR="$RMQ_BIN" rmq_run_group node --test --test-concurrency=1 test/) || status=1
  fi
fi

if [ $status -eq 0 ]; then echo "== services-test: all passed"; else echo "== services-test: FAILED" >&2; fi
exit $status
