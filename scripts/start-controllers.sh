#!/usr/bin/env bash
# Start a 3-replica controller group (controller mode, conf/controller-3n):
#   mqcontroller n0 127.0.0.1:9878, n1 127.0.0.1:9868, n2 127.0.0.1:9858
# Data, logs and PID files live under ./data/controllers (override with RMQ_DATA=dir).
# Runs in the foreground; Ctrl-C (or SIGTERM) stops everything it started.
#   -d / --detach   start and return; stop later with scripts/stop-controllers.sh
#   --brokers       also mqnamesrv 127.0.0.1:9876 and group broker-a in controller mode: replicas
#                   r0 :10911, r1 :10921, r2 :10931 (conf/controller-3n/broker-r*.conf)
# Then: target/release/mqadmin getControllerMetaData -a '127.0.0.1:9878;127.0.0.1:9868;127.0.0.1:9858'
set -euo pipefail
# shellcheck source=scripts/lib.sh
. "$(dirname "$0")/lib.sh"
cd "$RMQ_ROOT"
DATA=${RMQ_DATA:-$RMQ_ROOT/data/controllers}
DETACH=false
BROKERS=false
for arg in "$@"; do
  case "$arg" in
    -d|--detach) DETACH=true ;;
    --brokers) BROKERS=true ;;
    -h|--help) sed -n '2,10p' "$0"; exit 0 ;;
    *) echo "start-controllers: unknown argument '$arg'" >&2; exit 2 ;;
  esac
done
mkdir -p "$DATA/logs"
PORTS=(9878 9868 9858)
BROKER_PORTS=(10911 10921 10931)
CHECK=("${PORTS[@]}")
$BROKERS && CHECK+=(9876 "${BROKER_PORTS[@]}")
for port in "${CHECK[@]}"; do
  if rmq_port_open "$port"; then
    echo "start-controllers: port $port is already in use (scripts/stop-controllers.sh stops ours)" >&2
    exit 1
  fi
done

rmq_build

PIDS=()
stop_all() {
  for ((i=${#PIDS[@]}-1; i>=0; i--)); do rmq_stop_pid "${PIDS[i]}" 30; done
  rm -f "$DATA"/*.pid
}
$DETACH || trap 'echo; echo "stopping..."; stop_all; exit 0' INT TERM
for i in 0 1 2; do
  name=controller-n$i port=${PORTS[i]}
  "$RMQ_BIN/mqcontroller" -c "conf/controller-3n/$name.conf" --set "controllerStorePath=$DATA/n$i" \
    >"$DATA/logs/$name.log" 2>&1 &
  pid=$!
  PIDS+=("$pid"); echo "$pid" >"$DATA/$name.pid"
  rmq_wait_port "$port" 30 "$pid" || { tail -5 "$DATA/logs/$name.log" >&2; stop_all; exit 1; }
  echo "$name  pid $pid  127.0.0.1:$port  log $DATA/logs/$name.log"
done

if $BROKERS; then
  start() { # name port binary args...
    local name=$1 port=$2 bin=$3; shift 3
    "$RMQ_BIN/$bin" "$@" >"$DATA/logs/$name.log" 2>&1 &
    local pid=$!
    PIDS+=("$pid"); echo "$pid" >"$DATA/$name.pid"
    rmq_wait_port "$port" 60 "$pid" || { tail -5 "$DATA/logs/$name.log" >&2; stop_all; exit 1; }
    echo "$name  pid $pid  127.0.0.1:$port  log $DATA/logs/$name.log"
  }
  mkdir -p "$DATA/namesrv"
  start namesrv 9876 mqnamesrv -c conf/namesrv.conf --set "kvConfigPath=$DATA/namesrv/kvConfig.json"
  for i in 0 1 2; do
    start "broker-r$i" "${BROKER_PORTS[i]}" mqbroker -c "conf/controller-3n/broker-r$i.conf" \
      --set "storePathRootDir=$DATA/broker-r$i"
  done
  echo "group broker-a in controller mode; its master: $RMQ_BIN/mqadmin clusterList -n 127.0.0.1:9876"
fi

if $DETACH; then
  echo "running in the background; stop with scripts/stop-controllers.sh"
  exit 0
fi
echo "controllers running (conf/controller-3n); Ctrl-C stops them"
wait
