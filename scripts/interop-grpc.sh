#!/usr/bin/env bash
# The official RocketMQ 5.x SDKs against rmq's gRPC endpoint (mqbroker grpcServerPort):
# PyPI rocketmq-python-client 5.1.2 and npm rocketmq-client-nodejs 1.0.8, unmodified.
#
#   scripts/interop-grpc.sh          # build, start a stack on free ports, run both SDKs
#
# Cases (interop/grpc/python/sdk5_cases.py, interop/grpc/node/cases.js, same list for both):
# producer normal + simple consumer with ack; simple consumer nack (ChangeInvisibleDuration)
# redelivered with attempt 2; FIFO push consumer on an orderly group (per-group order kept, one
# local failure retried); push consumer failure → redelivery with attempt 2; delay
# (delivery_timestamp); transactions: commit, rollback and an open one resolved by the
# broker's check through the Telemetry stream. Mixed (interop/grpc/mixed.js): the Node SDK
# produces and ali-ons (remoting) consumes the same topic, and the reverse.
# Installs: the Python SDK into interop/grpc/python/.venv from requirements.txt (exact pins),
# the Node SDK with `npm ci` from interop/grpc/node/package-lock.json.
# Env: RMQ_PROFILE=debug|release (default release), RMQ_SKIP_BUILD=1, INTEROP_KEEP=1,
# SDKS="python node" (which to run).
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
rmq_workdir rmq-interop-grpc

rmq_build

sdks=${SDKS:-python node}
venv="$RMQ_ROOT/interop/grpc/python/.venv"
req="$RMQ_ROOT/interop/grpc/python/requirements.txt"
if [[ " $sdks " == *" python "* ]]; then
  if [ ! -x "$venv/bin/python" ] || ! cmp -s "$req" "$venv/requirements.txt"; then
    echo "== installing rocketmq-python-client (pinned) into $venv"
    rm -rf "$venv"
    python3 -m venv "$venv"
    "$venv/bin/pip" install -q --disable-pip-version-check --no-deps -r "$req"
    cp "$req" "$venv/requirements.txt"
  fi
fi
if [[ " $sdks " == *" node "* ]] && [ ! -d "$RMQ_ROOT/interop/grpc/node/node_modules/rocketmq-client-nodejs" ]; then
  echo "== installing rocketmq-client-nodejs (npm ci)"
  (cd "$RMQ_ROOT/interop/grpc/node" && npm ci --no-audit --no-fund --loglevel=error)
fi

if [[ " $sdks " == *" node "* ]] && [ ! -d "$RMQ_ROOT/interop/node_modules/ali-ons" ]; then
  echo "== installing ali-ons (npm ci, for the mixed case)"
  (cd "$RMQ_ROOT/interop" && npm ci --no-audit --no-fund --loglevel=error)
fi

rmq_start_namesrv
GRPC_PORT=$(rmq_free_port)
# Transaction checks within a second or two, so the open-transaction case runs in seconds.
# Long polls of 5 s, not 20: a 5.x push consumer's shutdown waits for its in-flight receive,
# which made each Node push case take ~22 s.
rmq_start_broker "" --set brokerName=broker-grpc --set "grpcServerPort=$GRPC_PORT" \
  --set transactionTimeOut=1000 --set transactionCheckInterval=1000 \
  --set grpcClientConsumerMaxLongPollingTimeoutMillis=5000
rmq_wait_port "$GRPC_PORT" 30 "$BROKER_PID"
echo "== mqnamesrv on $NAMESRV, mqbroker on $BROKER, gRPC on 127.0.0.1:$GRPC_PORT (data in $RMQ_WORK)"
# The broker is in the cluster once its first registration reached the name server.
rmq_wait_for 30 sh -c "\"$RMQ_BIN/mqadmin\" clusterList | grep -q broker-grpc"

for prefix in Py Node; do
  for t in Normal Fifo Delay Tx Push; do
    "$RMQ_BIN/mqadmin" updateTopic -c DefaultCluster -t "${prefix}_$t" -r 2 -w 2 >/dev/null
  done
  "$RMQ_BIN/mqadmin" updateSubGroup -c DefaultCluster -g "${prefix}_GFifo" -o true >/dev/null
done
"$RMQ_BIN/mqadmin" updateTopic -c DefaultCluster -t Mixed -r 2 -w 2 >/dev/null
# QueryRoute asks the name server: wait until the broker's registration carries the topics.
rmq_wait_for 30 "$RMQ_BIN/mqadmin" topicRoute -t Node_Push

# The SDKs log under $HOME/logs: keep that inside the temp dir.
mkdir -p "$RMQ_WORK/home"
rc=0
if [[ " $sdks " == *" python "* ]]; then
  echo "== rocketmq-python-client 5.1.2"
  HOME="$RMQ_WORK/home" timeout 600 "$venv/bin/python" "$RMQ_ROOT/interop/grpc/python/sdk5_cases.py" \
    "127.0.0.1:$GRPC_PORT" Py || rc=1
fi
if [[ " $sdks " == *" node "* ]]; then
  echo "== rocketmq-client-nodejs 1.0.8"
  (cd "$RMQ_ROOT/interop/grpc/node" && HOME="$RMQ_WORK/home" timeout 600 node cases.js "127.0.0.1:$GRPC_PORT" Node) || rc=1
  echo "== mixed: rocketmq-client-nodejs (gRPC) <-> ali-ons (remoting)"
  HOME="$RMQ_WORK/home" timeout 120 node "$RMQ_ROOT/interop/grpc/mixed.js" "127.0.0.1:$GRPC_PORT" "$NAMESRV" Mixed || rc=1
fi
[ "$rc" = 0 ] || exit 1
failed=0
echo "interop-grpc ok"
