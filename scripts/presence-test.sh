#!/usr/bin/env bash
# Presence test suite (issue 9): builds what it needs, runs the rules/engine unit tests (T11)
# and the presence end-to-end tests with real mqnamesrv + mqbroker + chat-gateway +
# presence-service processes on free loopback ports:
#   presence_t05_kill_gateway          T5 (+ /v1/stats convergence for 1,000 users, timings printed)
#   presence_t16_t06_gateway_restart   T16 (restart with the same INSTANCE_ID) + T6 (SIGTERM)
#   presence_t12_t13_restarts          T12 (presence SIGKILL + restart) + T13 (broker outage)
#   presence_cluster                   two instances split the queues; SIGKILL one, survivor takes over
#
# Each e2e phase runs in its own process group; whatever a crashed test leaves behind is killed
# by that group's id when the phase ends, so nothing keeps running. OFFSETS_DIR points into a
# temp dir of this script (removed on exit), so killed services leave nothing under /tmp.
# Budget: about 3-4 minutes on 2 cores with a warm target/ (first build extra).
#
#   E2E_SCALE=0.5 scripts/presence-test.sh   # fewer simulated users (default 1,000)
set -uo pipefail
RMQ_PROFILE=debug
# shellcheck source=scripts/lib.sh
. "$(dirname "$0")/lib.sh"
cd "$RMQ_ROOT" || exit 1
export E2E_SCALE=${E2E_SCALE:-1}
RMQ_GROUP_TIMEOUT_S=${PER_TEST_TIMEOUT:-240}
rmq_install_traps
rmq_workdir presence-test
export OFFSETS_DIR=$RMQ_WORK

start=$SECONDS
echo "== presence-test: building mqnamesrv, mqbroker, chat-gateway, presence-service (debug)"
rmq_build || exit 1
cargo test -p chat-e2e --no-run --test presence_t05_kill_gateway --test presence_t16_t06_gateway_restart --test presence_t12_t13_restarts --test presence_cluster || exit 1

status=0
echo "== presence-test: T11 rules table + engine unit tests"
cargo test -p chat-proto presence || status=1
cargo test -p presence-service || status=1
cargo test -p chat-ddp-streamer presence || status=1

for t in presence_t05_kill_gateway presence_t16_t06_gateway_restart presence_t12_t13_restarts presence_cluster; do
  echo "== presence-test: $t (E2E_SCALE=$E2E_SCALE)"
  rmq_run_group cargo test -q -p chat-e2e --test "$t" -- --test-threads=1 --nocapture || { echo "presence-test: $t FAILED" >&2; status=1; }
done

echo "== presence-test: took $((SECONDS - start)) s"
if [ $status -eq 0 ]; then echo "== presence-test: all passed"; else echo "== presence-test: FAILED" >&2; fi
exit $status
