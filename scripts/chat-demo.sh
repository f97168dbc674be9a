#!/usr/bin/env bash
# Chat demo: mqnamesrv + mqbroker + 2 chat-observers + 2 chat-gateways on loopback, with the
# demo page and dev login enabled. Open the printed gateway URLs in two browser tabs, log in as
# two users (e.g. alice and bob), open "r_general" or a DM (type the other user's id) and chat:
# each tab may use a different gateway; messages go gateway → broker → observer → broker →
# every gateway. Ctrl-C (or SIGTERM) stops everything this script started.
#
# Ports (override with env): NAMESRV_PORT=19876 BROKER_PORT=20911 GATEWAY_PORTS="3000 3001"
# OBSERVER_PORTS="3010 3011". CHAT_PROFILE=release builds optimised binaries (default debug).
# Data and logs: CHAT_DATA (default a new temp dir, removed on exit unless KEEP_DATA=1).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
PROFILE=${CHAT_PROFILE:-debug}
NAMESRV_PORT=${NAMESRV_PORT:-19876}
BROKER_PORT=${BROKER_PORT:-20911}
read -r -a GW_PORTS <<<"${GATEWAY_PORTS:-3000 3001}"
read -r -a OBS_PORTS <<<"${OBSERVER_PORTS:-3010 3011}"
DATA=${CHAT_DATA:-$(mktemp -d /tmp/chat-demo.XXXXXX)}
SECRET=${JWT_SECRET:-demo-secret-$(date +%s)}
mkdir -p "$DATA/logs"

if [ "$PROFILE" = release ]; then FLAGS=(--release); BIN=target/release; else FLAGS=(); BIN=target/debug; fi
echo "building ($PROFILE)..."
cargo build "${FLAGS[@]}" -p mq-namesrv -p mq-broker -p chat-ddp-streamer

PIDS=()
stop_all() {
  for ((i=${#PIDS[@]}-1; i>=0; i--)); do kill -TERM "${PIDS[i]}" 2>/dev/null || true; done
  for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
  if [ "${KEEP_DATA:-0}" != 1 ] && [ -z "${CHAT_DATA:-}" ]; then rm -rf "$DATA"; fi
}
trap 'echo; echo "stopping..."; stop_all; exit 0' INT TERM

wait_http() { # url name pid
  for _ in $(seq 1 600); do
    if curl -fsS -o /dev/null "$1" 2>/dev/null; then return 0; fi
    if ! kill -0 "$3" 2>/dev/null; then echo "chat-demo: $2 exited; see $DATA/logs/$2.log" >&2; tail -5 "$DATA/logs/$2.log" >&2; stop_all; exit 1; fi
    sleep 0.1
  done
  echo "chat-demo: $2 not ready after 60 s; see $DATA/logs/$2.log" >&2; stop_all; exit 1
}
wait_port() { # port name pid
  for _ in $(seq 1 300); do
    if (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; then return 0; fi
    if ! kill -0 "$3" 2>/dev/null; then echo "chat-demo: $2 exited; see $DATA/logs/$2.log" >&2; tail -5 "$DATA/logs/$2.log" >&2; stop_all; exit 1; fi
    sleep 0.1
  done
  echo "chat-demo: $2 not listening on :$1" >&2; stop_all; exit 1
}

"$BIN/mqnamesrv" --listen "127.0.0.1:$NAMESRV_PORT" --set "kvConfigPath=$DATA/kv.json" >"$DATA/logs/namesrv.log" 2>&1 &
PIDS+=($!); wait_port "$NAMESRV_PORT" namesrv "${PIDS[-1]}"
cat >"$DATA/broker.conf" <<CONF
brokerClusterName=ChatDemo
brokerName=broker-a
brokerId=0
namesrvAddr=127.0.0.1:$NAMESRV_PORT
brokerIP1=127.0.0.1
listenPort=$BROKER_PORT
haListenPort=$((BROKER_PORT + 1))
storePathRootDir=$DATA/store
rocketmqHome=$DATA
autoCreateTopicEnable=true
CONF
"$BIN/mqbroker" -c "$DATA/broker.conf" >"$DATA/logs/broker.log" 2>&1 &
PIDS+=($!); wait_port "$BROKER_PORT" broker "${PIDS[-1]}"

export NAMESRV_ADDR="127.0.0.1:$NAMESRV_PORT" JWT_SECRET="$SECRET" RUST_LOG=${RUST_LOG:-info}
for i in "${!OBS_PORTS[@]}"; do
  INSTANCE_ID="observer-$i" HEALTH_CHECK_PORT="${OBS_PORTS[$i]}" "$BIN/chat-observer" >"$DATA/logs/observer-$i.log" 2>&1 &
  PIDS+=($!); wait_http "http://127.0.0.1:${OBS_PORTS[$i]}/ready" "observer-$i" "${PIDS[-1]}"
  echo "chat-observer $i  pid ${PIDS[-1]}  health http://127.0.0.1:${OBS_PORTS[$i]}/metrics"
done
for i in "${!GW_PORTS[@]}"; do
  INSTANCE_ID="gw-$i" PORT="${GW_PORTS[$i]}" BIND_ADDR=127.0.0.1 DEV_LOGIN=1 "$BIN/chat-gateway" >"$DATA/logs/gateway-$i.log" 2>&1 &
  PIDS+=($!); wait_http "http://127.0.0.1:${GW_PORTS[$i]}/ready" "gateway-$i" "${PIDS[-1]}"
  echo "chat-gateway  $i  pid ${PIDS[-1]}  open http://127.0.0.1:${GW_PORTS[$i]}/   (ws://127.0.0.1:${GW_PORTS[$i]}/websocket)"
done
echo "logs in $DATA/logs; JWT_SECRET=$SECRET; Ctrl-C stops everything"
wait
