#!/usr/bin/env bash
# Build the release binaries and start the whole rmq stack on defaults:
#   mqnamesrv  127.0.0.1:9876
#   mqbroker   127.0.0.1:10911 (and the fast port 10909), registered to the name server
#   mqconsole  http://127.0.0.1:8180 (web console)
# Data, logs and PID files live under ./data (override with RMQ_DATA=dir).
# Runs in the foreground; Ctrl-C (or SIGTERM) stops everything it started.
#   -d / --detach   start and return; stop later with scripts/stop-stack.sh
# RMQ_PROFILE=debug uses a debug build (faster to compile, slower to run).
set -euo pipefail
# shellcheck source=scripts/lib.sh
. "$(dirname "$0")/lib.sh"
cd "$RMQ_ROOT"
DATA=${RMQ_DATA:-$RMQ_ROOT/data}
DETACH=false
for arg in "$@"; do
  case "$arg" in
    -d|--detach) DETACH=true ;;
    -h|--help) sed -n '2,10p' "$0"; exit 0 ;;
    *) echo "start-stack: unknown argument '$arg'" >&2; exit 2 ;;
  esac
done

mkdir -p "$DATA/logs" "$DATA/namesrv" "$DATA/store" "$DATA/console"

for port in 9876 10911 10909 8180; do
  if rmq_port_open "$port"; then
    echo "start-stack: port $port is already in use (another stack running? scripts/stop-stack.sh stops ours)" >&2
    exit 1
  fi
done

rmq_build

PIDS=()
stop_all() {
  # Stop in reverse order (console, then broker so it unregisters from a live name server).
  for ((i=${#PIDS[@]}-1; i>=0; i--)); do rmq_stop_pid "${PIDS[i]}" 30; done
  rm -f "$DATA"/*.pid
}

start() { # name port args...
  local name=$1 port=$2; shift 2
  "$RMQ_BIN/$name" "$@" >"$DATA/logs/$name.log" 2>&1 &
  local pid=$!
  PIDS+=("$pid"); echo "$pid" >"$DATA/$name.pid"
  rmq_wait_port "$port" 15 "$pid" || { tail -5 "$DATA/logs/$name.log" >&2; stop_all; exit 1; }
}

$DETACH || trap 'echo; echo "stopping..."; stop_all; exit 0' INT TERM

start mqnamesrv 9876 -c conf/namesrv.conf --set "kvConfigPath=$DATA/namesrv/kvConfig.json"
echo "mqnamesrv  pid ${PIDS[0]}  127.0.0.1:9876         log $DATA/logs/mqnamesrv.log"

# brokerIP1=127.0.0.1: advertise loopback so local clients reach it on any machine; set your
# host's address in conf/broker.conf (or --set brokerIP1=...) for remote clients.
start mqbroker 10911 -c conf/broker.conf -n 127.0.0.1:9876 \
  --set "storePathRootDir=$DATA/store" --set brokerIP1=127.0.0.1 --set brokerIP2=127.0.0.1
echo "mqbroker   pid ${PIDS[1]}  127.0.0.1:10911        log $DATA/logs/mqbroker.log"

start mqconsole 8180 -c conf/console.conf -n 127.0.0.1:9876 --data-path "$DATA/console"
echo "mqconsole  pid ${PIDS[2]}  http://127.0.0.1:8180  log $DATA/logs/mqconsole.log"
if pw=$(grep -o 'generated admin password: .*' "$DATA/logs/mqconsole.log"); then
  echo "console login: admin / ${pw#generated admin password: } (shown once; set adminPassword in conf/console.conf to choose your own)"
fi

if $DETACH; then
  echo "running in the background; stop with scripts/stop-stack.sh"
  exit 0
fi
echo "stack running; Ctrl-C stops it"
wait
