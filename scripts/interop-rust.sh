#!/usr/bin/env bash
# Interop test with a third real client: rocketmq-client-rust 1.0 from crates.io (the Rust
# port's client, written against Java 5.x servers and decoding strictly), unmodified, against
# our mqnamesrv + mqbroker.
#
#   scripts/interop-rust.sh       # build, start a stack on free ports, run, exit 0 on success
#
# The client is driven by interop/rust-client (its own Cargo.lock, outside the workspace; built
# into target/interop-rust-client so CI's cache of target/ covers it). Cases, in order:
# sync/async/oneway sends with tags, keys and a property; a clustering push consumer; an
# orderly consumer over key-selected queues; a consumer restart that continues from the
# group's committed offset; a SQL92-filtered consumer (broker started with
# enablePropertyFilter=true); the admin API reading every admin body (strict 5.x decoding).
# Env: RMQ_PROFILE=debug|release (default release), RMQ_SKIP_BUILD=1 (our binaries are built),
# TIMEOUT_S (60 per wait), INTEROP_KEEP=1 (keep the temp dir).
set -euo pipefail
# shellcheck source=scripts/lib.sh
. "$(dirname "$0")/lib.sh"

RMQ_KEEP=${RMQ_KEEP:-${INTEROP_KEEP:+1}}
failed=1
rmq_on_exit() {
  [ "$failed" != 0 ] || return 0
  rmq_tail_logs "$RMQ_WORK/namesrv.log" "$RMQ_WORK/broker.log"
}
rmq_install_traps
rmq_workdir rmq-interop-rust

rmq_build -p mq-namesrv -p mq-broker -p mq-client --bin mqnamesrv --bin mqbroker --bin mqadmin

client_dir="$RMQ_ROOT/interop/rust-client"
client_target="$RMQ_ROOT/target/interop-rust-client"
t0=$SECONDS
echo "== building rocketmq-client-rust 1.0 driver (interop/rust-client, --locked)"
(cd "$client_dir" && cargo build --locked --quiet --target-dir "$client_target")
echo "== built in $((SECONDS - t0)) s"
client="$client_target/debug/rmq-interop-rust-client"

rmq_start_namesrv
rmq_start_broker "" -c "$RMQ_ROOT/conf/broker.conf" --set brokerName=broker-rust \
  --set enablePropertyFilter=true
echo "== mqnamesrv on $NAMESRV, mqbroker on $BROKER (data in $RMQ_WORK)"

for topic in RustInteropTopic RustOrderTopic RustRestartTopic RustSqlTopic; do
  "$RMQ_BIN/mqadmin" updateTopic -c DefaultCluster -t "$topic" -r 4 -w 4 >/dev/null
done
# Routes reach the name server with the broker's next registration; wait for the last one.
rmq_wait_for 30 "$RMQ_BIN/mqadmin" topicRoute -t RustSqlTopic

run() { # scenario args...: the client's logs go to RMQ_WORK, its verdict to stdout
  echo "== $1"
  (cd "$RMQ_WORK" && timeout $((${TIMEOUT_S:-60} * 3)) "$client" "$@" --timeout "${TIMEOUT_S:-60}" \
    2>>"$RMQ_WORK/client.log") || { echo "FAILED: $1 (client log: $RMQ_WORK/client.log)"; tail -n 30 "$RMQ_WORK/client.log"; return 1; }
}

run send "$NAMESRV" RustInteropTopic 90
run push "$NAMESRV" RustInteropTopic rust_interop_cg 90
run orderly "$NAMESRV" RustOrderTopic rust_interop_order_cg 80
# Restart: the first consumer commits offsets up to restart-20; the second (a new process, same
# group) must get restart-20..40 and none of the first twenty.
run consume "$NAMESRV" RustRestartTopic rust_interop_restart_cg 0 20
run consume "$NAMESRV" RustRestartTopic rust_interop_restart_cg 20 40
run sql "$NAMESRV" RustSqlTopic rust_interop_sql_cg
# Admin bodies (cluster info, route, topic stats, topic/group configs, runtime info, consumer
# connections, consume stats) through the client's strict 5.x decoders.
run admin "$NAMESRV" RustInteropTopic rust_interop_cg
failed=0
echo "interop-rust ok"
