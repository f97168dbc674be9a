#!/usr/bin/env bash
# Run mq-client's examples and mqadmin against another RocketMQ-protocol server, by default
# rocketmq-rust 1.0 (`rocketmq-namesrv-rust`, `rocketmq-broker-rust`) installed with
#   CARGO_TARGET_DIR=/tmp/peers/target-rmq cargo install rocketmq-namesrv@1.0.0 rocketmq-broker@1.0.0 --locked --root /tmp/peers/rmq-rust
#
#   client/scripts/peer-interop.sh                 # start the peer on free ports, run, stop
#   PEER_NAMESRV=127.0.0.1:9876 client/scripts/peer-interop.sh   # use an already running stack
#
# Env: PEER_BIN (/tmp/peers/rmq-rust/bin), PEER_NAMESRV_BIN, PEER_BROKER_BIN (override names),
#      PEER_NAMESRV_PORT_FLAG (--listenPort; our mqnamesrv takes --listen),
#      PEER_NAMESRV (skip starting servers), KEEP=1 (keep the temp dir).
# Prints one PASS/FAIL line per step and "N passed, M failed" at the end; exit 1 on a failure.
set -uo pipefail

RMQ_PROFILE=debug
# shellcheck source=scripts/lib.sh
. "$(dirname "$0")/../../scripts/lib.sh"
bin_dir=${PEER_BIN:-/tmp/peers/rmq-rust/bin}
ns_bin=${PEER_NAMESRV_BIN:-$bin_dir/rocketmq-namesrv-rust}
broker_bin=${PEER_BROKER_BIN:-$bin_dir/rocketmq-broker-rust}
RMQ_KEEP=${RMQ_KEEP:-${KEEP:+1}}
passed=0
failed=0

rmq_on_exit() { [ "$failed" = 0 ] || rmq_tail_logs "$work"/*.log "$work"/rmq/*.log; }
rmq_install_traps
rmq_workdir peer-interop
work=$RMQ_WORK

step() { # name, command...
  local name=$1; shift
  if "$@" >"$work/step.out" 2>&1; then
    passed=$((passed + 1)); echo "PASS $name"
  else
    failed=$((failed + 1)); echo "FAIL $name"; sed 's/^/    /' "$work/step.out" | tail -n 20
  fi
}

echo "== building mq-client examples and mqadmin"
rmq_build -q -p mq-client --examples --bins && rmq_build -q -p mq-broker || exit 1
ex="$RMQ_BIN/examples"
admin="$RMQ_BIN/mqadmin"

if [ -z "${PEER_NAMESRV:-}" ]; then
  if [ ! -x "$ns_bin" ] || [ ! -x "$broker_bin" ]; then echo "peer binaries not found in $bin_dir (set PEER_BIN)" >&2; exit 1; fi
  ns_port=$(rmq_free_port); broker_port=$(rmq_free_port -2 1)
  export ROCKETMQ_HOME="$work"
  # rocketmq-rust reads TOML (sections as in its broker.toml); ours and Java read properties.
  if [ "${PEER_BROKER_CONF:-$(case "$broker_bin" in *rocketmq-broker-rust*) echo toml;; *) echo properties;; esac)}" = toml ]; then
    conf="$work/broker.toml"
    cat >"$conf" <<TOML
[broker]
listenPort = $broker_port
brokerIp1 = "127.0.0.1"
storePathRootDir = "$work/store"
namesrvAddr = "127.0.0.1:$ns_port"
autoCreateTopicEnable = true

[broker.brokerServerConfig]
bindAddress = "127.0.0.1"

[broker.brokerIdentity]
brokerName = "peer-broker"
brokerClusterName = "DefaultCluster"
brokerId = 0

[store]
haListenAddress = "127.0.0.1"
haListenPort = $((broker_port + 1))
storePathRootDir = "$work/store"
TOML
  else
    conf="$work/broker.conf"
    printf 'brokerClusterName=DefaultCluster\nbrokerName=peer-broker\nbrokerId=0\nnamesrvAddr=127.0.0.1:%s\nbrokerIP1=127.0.0.1\nlistenPort=%s\nstorePathRootDir=%s/store\nautoCreateTopicEnable=true\n' \
      "$ns_port" "$broker_port" "$work" >"$conf"
  fi
  echo "== starting peer namesrv on $ns_port, broker on $broker_port"
  (cd "$work" && exec "$ns_bin" "${PEER_NAMESRV_PORT_FLAG:---listenPort}" "$ns_port" >"$work/namesrv.log" 2>&1) &
  rmq_track $!
  rmq_wait_port "$ns_port" 30 $! || { echo "peer namesrv did not listen on $ns_port" >&2; failed=1; exit 1; }
  (cd "$work" && exec "$broker_bin" -c "$conf" -n "127.0.0.1:$ns_port" >"$work/broker.log" 2>&1) &
  rmq_track $!
  rmq_wait_port "$broker_port" 60 $! || { echo "peer broker did not listen on $broker_port" >&2; failed=1; exit 1; }
  # The broker listens before its first registration reaches the name server.
  rmq_wait_for 30 bash -c "NAMESRV_ADDR=127.0.0.1:$ns_port '$admin' clusterList | grep -q DefaultCluster"
  ns="127.0.0.1:$ns_port"
else
  ns=$PEER_NAMESRV
fi
export NAMESRV_ADDR=$ns
topic="PeerTopic$$"
broker_name() { "$admin" topicRoute -t "$topic" | python3 -c 'import json,sys; print(json.load(sys.stdin)["brokerDatas"][0]["brokerName"])'; }

step "mqadmin clusterList" bash -c "$admin clusterList | grep -q DefaultCluster"
step "mqadmin updateTopic" "$admin" updateTopic -c DefaultCluster -t "$topic" -r 4 -w 4
sleep 2
step "mqadmin topicRoute" bash -c "$admin topicRoute -t $topic | grep -q brokerName"
step "example producer (10 sends)" bash -c "$ex/producer $ns $topic | grep -c 'status=SendOk' | grep -qx 10"
step "example batch" bash -c "$ex/batch $ns $topic | grep -q 'batch stored'"
step "example pull_consumer reads 20" bash -c "timeout 60 $ex/pull_consumer $ns $topic | grep -q 'read 20 messages'"
step "example push_consumer receives 20" bash -c "timeout -s INT 15 $ex/push_consumer $ns $topic peer_group_$$ | grep -c '$topic#' | awk '\$1 >= 20 {ok=1} END {exit !ok}'"
step "example ordered" bash -c "timeout 60 $ex/ordered $ns Ordered$$ | grep -q 'order-0: \[\"order-0 step-0\", \"order-0 step-1\", \"order-0 step-2\", \"order-0 step-3\", \"order-0 step-4\"\]'"
step "example broadcast" bash -c "timeout 60 $ex/broadcast $ns Bcast$$ | grep -c 'received 5' | grep -qx 2"
step "example delay" bash -c "timeout 90 $ex/delay $ns Delay$$ | grep -q 'received .* after'"
step "mqadmin topicStatus" bash -c "$admin topicStatus -t $topic | grep -q '#Max Offset'"
step "mqadmin brokerStatus" bash -c "$admin brokerStatus -c DefaultCluster | grep -q ':'"
step "mqadmin consumerProgress" bash -c "$admin consumerProgress -g peer_group_$$ | grep -q 'Diff Total'"
step "mqadmin sendMessage" bash -c "$admin sendMessage -t $topic -p peer-hello -k peerkey | grep -q SEND_OK"
step "mqadmin queryMsgByKey" bash -c "sleep 2; $admin queryMsgByKey -t $topic -k peerkey | grep -q '#Message ID'"
step "mqadmin getBrokerConfig" bash -c "$admin getBrokerConfig -c DefaultCluster | grep -Eq '^[a-zA-Z]+ +=  '"
step "mqadmin topicList" bash -c "$admin topicList | grep -qx $topic"
step "mqadmin queryMsgById (unique id)" bash -c "id=\$($admin sendMessage -t $topic -p by-id | awk '/SEND_OK/ {print \$4}'); $admin queryMsgById -t $topic -i \$id | grep -q 'OffsetID:'"
step "mqadmin queryMsgByOffset" bash -c "$admin queryMsgByOffset -t $topic -b $(broker_name) -i 0 -o 0 | grep -q 'OffsetID:'"
step "mqadmin updateSubGroup" "$admin" updateSubGroup -c DefaultCluster -g "peer_sub_$$"
step "mqadmin resetOffsetByTime" bash -c "$admin resetOffsetByTime -g peer_group_$$ -t $topic -s now | grep -q '#brokerName'"
step "mqadmin consumerConnection (answers)" bash -c "$admin consumerConnection -g peer_group_$$ 2>&1 | grep -Eq 'not online|#ClientId'"
step "mqadmin producerConnection (answers)" bash -c "$admin producerConnection -g peer_producer_$$ -t $topic 2>&1 | grep -Eq 'not exist|#ClientId|no producer'"
step "mqadmin updateBrokerConfig (answers)" bash -c "$admin updateBrokerConfig -c DefaultCluster -k brokerPermission -v 6 2>&1 | grep -Eq 'success|code'"
step "mqadmin deleteSubGroup" "$admin" deleteSubGroup -c DefaultCluster -g "peer_sub_$$"
step "mqadmin deleteTopic" "$admin" deleteTopic -c DefaultCluster -t "$topic"

# Mixed cluster: our mqbroker registers with the peer's name server (REGISTER_BROKER body in
# the 5.x form strict decoders need) and serves a topic through it.
NAMESRV=$ns
RMQ_BROKER_DIR=$work/rmq rmq_start_broker "" --set brokerClusterName=DefaultCluster \
  --set "brokerName=rmq-mixed-$$" || echo "our mqbroker did not listen on $BROKER_PORT"
our_port=$BROKER_PORT
registered() { rmq_wait_for 10 bash -c "'$admin' clusterList | grep -q rmq-mixed-$$"; }
step "our mqbroker registers with this name server" registered
step "mqadmin updateTopic on our broker" "$admin" updateTopic -b "127.0.0.1:$our_port" -t "Mixed$$" -r 2 -w 2
step "example producer -> our broker via this name server" bash -c "$ex/producer $ns Mixed$$ | grep 'status=SendOk' | grep -c 'rmq-mixed-$$' | grep -qx 10"

echo "$passed passed, $failed failed"
[ "$failed" = 0 ]
