#!/usr/bin/env bash
# Interop acceptance test: a real third-party RocketMQ client (ali-ons 3.12.0, pure JavaScript,
# classic remoting protocol) against our mqnamesrv + mqbroker.
#
#   scripts/interop.sh            # build release binaries, run everything, exit 0 on success
#
# Steps: build `mqnamesrv` and `mqbroker` (release), start both on free loopback ports with a
# temp data dir, `npm ci` the pinned client (interop/package-lock.json), create the topics with a
# raw UPDATE_AND_CREATE_TOPIC (ali-ons does not auto-create), run the produce/consume round trip
# (COUNT messages with tag + key, consumed from the first offset by a fresh group, each exactly
# once) and the extended cases (tag filter, consumer restart, retry, delay). Everything started
# is killed on exit; logs are printed when something fails.
# Needs: cargo, node >= 16 and npm (registry reachable for the first `npm ci`).
# Env: COUNT (200), TIMEOUT_S (90), RMQ_PROFILE=debug (use debug binaries; default release),
#      INTEROP_SKIP_BUILD=1 / RMQ_SKIP_BUILD=1 (binaries already built), INTEROP_KEEP=1 (keep the
#      temp dir), INTEROP_VERBOSE=1 (ali-ons info logs).
set -euo pipefail
# shellcheck source=scripts/lib.sh
. "$(dirname "$0")/lib.sh"

count=${COUNT:-200}
timeout_s=${TIMEOUT_S:-90}
RMQ_KEEP=${RMQ_KEEP:-${INTEROP_KEEP:+1}}
RMQ_SKIP_BUILD=${INTEROP_SKIP_BUILD:-${RMQ_SKIP_BUILD:-}}
failed=1
rmq_on_exit() { [ "$failed" = 0 ] || rmq_tail_logs "$RMQ_WORK/namesrv.log" "$RMQ_WORK/broker.log"; }
rmq_install_traps
rmq_workdir rmq-interop

command -v node >/dev/null || { echo "interop: node is required" >&2; exit 1; }
command -v npm >/dev/null || { echo "interop: npm is required" >&2; exit 1; }

rmq_build

echo "== installing ali-ons (npm ci)"
if [ ! -d "$RMQ_ROOT/interop/node_modules/ali-ons" ]; then
  (cd "$RMQ_ROOT/interop" && npm ci --no-audit --no-fund --loglevel=error)
fi

rmq_start_namesrv
rmq_start_broker "" -c "$RMQ_ROOT/conf/broker.conf" --set brokerName=broker-interop \
  --set "messageDelayLevel=1s 1s 3s 1s 1s 1s 1s 1s 1s 1s 1s 1s 1s 1s 1s 1s 1s 1s"
echo "== mqnamesrv on $NAMESRV, mqbroker on $BROKER (data in $RMQ_WORK)"

topic="InteropTopic"
echo "== creating topics"
for t in "$topic" "${topic}_tags" "${topic}_restart" "${topic}_retry" "${topic}_delay"; do
  node "$RMQ_ROOT/interop/create_topic.js" "$BROKER" "$t" 4
done

cd "$RMQ_ROOT/interop"
echo "== round trip: $count messages"
node produce_consume.js "$NAMESRV" "$topic" "$count" "$timeout_s"
echo "== extended cases"
node extended.js "$NAMESRV" "$topic" "$timeout_s"

# Clean shutdown must work too: SIGTERM the broker and expect exit status 0.
kill -TERM "$BROKER_PID"
status=0
wait "$BROKER_PID" || status=$?
if [ "$status" != 0 ]; then echo "interop: mqbroker exited with $status on SIGTERM" >&2; exit 1; fi
echo "== mqbroker shut down cleanly (exit 0)"
failed=0
echo "interop ok"
