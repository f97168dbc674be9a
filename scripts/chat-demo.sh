#!/usr/bin/env bash
# Chat demo: mqnamesrv + mqbroker + 2 chat-observers + 2 chat-gateways on loopback, with the
# demo page and dev login enabled. Open the printed gateway URLs in two browser tabs, log in as
# two users (e.g. alice and bob), open "r_general" or a DM (type the other user's id) and chat:
# each tab may use a different gateway; messages go gateway → broker → observer → broker →
# every gateway. Ctrl-C (or SIGTERM) stops everything this script started.
#
# Ports (override with env): NAMESRV_PORT=19876 BROKER_PORT=20911 GATEWAY_PORTS="3000 3001"
# OBSERVER_PORTS="3010 3011". CHAT_PROFILE=release builds optimised binaries (default debug).
# Data and logs: CHAT_DATA (default a new temp dir, removed on exit unless KEEP_DATA=1); the
# gateways keep their broadcast offsets there too (OFFSETS_DIR).
set -euo pipefail
RMQ_PROFILE=${CHAT_PROFILE:-debug}
# shellcheck source=scripts/lib.sh
. "$(dirname "$0")/lib.sh"
NAMESRV_PORT=${NAMESRV_PORT:-19876}
BROKER_PORT=${BROKER_PORT:-20911}
read -r -a GW_PORTS <<<"${GATEWAY_PORTS:-3000 3001}"
read -r -a OBS_PORTS <<<"${OBSERVER_PORTS:-3010 3011}"
SECRET=${JWT_SECRET:-demo-secret-$(date +%s)}
if [ -n "${CHAT_DATA:-}" ]; then RMQ_KEEP=1; else RMQ_KEEP=${KEEP_DATA:-0}; fi

rmq_on_exit() { # rc
  [ "$1" -eq 0 ] || { echo "chat-demo failed; logs:"; rmq_tail_logs "$RMQ_WORK"/*.log; }
}
trap rmq_exit_trap EXIT
# Ctrl-C is how the demo ends: stop everything and exit 0.
trap 'echo; echo "stopping..."; exit 0' INT TERM
if [ -n "${CHAT_DATA:-}" ]; then RMQ_WORK=$CHAT_DATA; mkdir -p "$RMQ_WORK"; else rmq_workdir chat-demo; fi

rmq_build

rmq_start_namesrv "$NAMESRV_PORT"
rmq_start_broker "$BROKER_PORT" --set brokerClusterName=ChatDemo --set brokerName=broker-a \
  --set "rocketmqHome=$RMQ_WORK" --set autoCreateTopicEnable=true

export NAMESRV_ADDR=$NAMESRV JWT_SECRET="$SECRET" OFFSETS_DIR=$RMQ_WORK RUST_LOG=${RUST_LOG:-info}
for i in "${!OBS_PORTS[@]}"; do
  INSTANCE_ID="observer-$i" HEALTH_CHECK_PORT="${OBS_PORTS[$i]}" "$RMQ_BIN/chat-observer" >"$RMQ_WORK/observer-$i.log" 2>&1 &
  rmq_track $!
  rmq_wait_http "http://127.0.0.1:${OBS_PORTS[$i]}/ready" 60 $!
  echo "chat-observer $i  pid $!  health http://127.0.0.1:${OBS_PORTS[$i]}/metrics"
done
for i in "${!GW_PORTS[@]}"; do
  INSTANCE_ID="gw-$i" PORT="${GW_PORTS[$i]}" BIND_ADDR=127.0.0.1 DEV_LOGIN=1 "$RMQ_BIN/chat-gateway" >"$RMQ_WORK/gateway-$i.log" 2>&1 &
  rmq_track $!
  rmq_wait_http "http://127.0.0.1:${GW_PORTS[$i]}/ready" 60 $!
  echo "chat-gateway  $i  pid $!  open http://127.0.0.1:${GW_PORTS[$i]}/   (ws://127.0.0.1:${GW_PORTS[$i]}/websocket)"
done
echo "logs in $RMQ_WORK; JWT_SECRET=$SECRET; Ctrl-C stops everything"
wait
