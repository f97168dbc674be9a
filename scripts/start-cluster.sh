#!/usr/bin/env bash
# Start a replicated cluster on this machine: two name servers and two broker groups, each a
# master and a slave (conf/2m-2s-sync: SYNC_MASTER; --async: conf/2m-2s-async):
#   mqnamesrv  127.0.0.1:9876, 127.0.0.1:9877
#   broker-a   master 127.0.0.1:10911 (HA 10912), slave 127.0.0.1:10921
#   broker-b   master 127.0.0.1:10931 (HA 10932), slave 127.0.0.1:10941
# Data, logs and PID files live under ./data/cluster (override with RMQ_DATA=dir).
# Runs in the foreground; Ctrl-C (or SIGTERM) stops everything it started.
#   -d / --detach   start and return; stop later with scripts/stop-cluster.sh
#   --async         ASYNC_MASTER groups instead of SYNC_MASTER
# Then: target/release/mqadmin clusterList -n '127.0.0.1:9876;127.0.0.1:9877'
set -euo pipefail
# shellcheck source=scripts/lib.sh
. "$(dirname "$0")/lib.sh"
cd "$RMQ_ROOT"
DATA=${RMQ_DATA:-$RMQ_ROOT/data/cluster}
DETACH=false
CONF=conf/2m-2s-sync
for arg in "$@"; do
  case "$arg" in
    -d|--detach) DETACH=true ;;
    --async) CONF=conf/2m-2s-async ;;
    -h|--help) sed -n '2,12p' "$0"; exit 0 ;;
    *) echo "start-cluster: unknown argument '$arg'" >&2; exit 2 ;;
  esac
done
mkdir -p "$DATA/logs"
for port in 9876 9877 10911 10912 10921 10931 10932 10941; do
  if rmq_port_open "$port"; then
    echo "start-cluster: port $port is already in use (scripts/stop-cluster.sh stops ours)" >&2
    exit 1
  fi
done

rmq_build

PIDS=()
stop_all() {
  for ((i=${#PIDS[@]}-1; i>=0; i--)); do rmq_stop_pid "${PIDS[i]}" 30; done
  rm -f "$DATA"/*.pid
}
start() { # name port binary args...
  local name=$1 port=$2 bin=$3; shift 3
  "$RMQ_BIN/$bin" "$@" >"$DATA/logs/$name.log" 2>&1 &
  local pid=$!
  PIDS+=("$pid"); echo "$pid" >"$DATA/$name.pid"
  rmq_wait_port "$port" 30 "$pid" || { tail -5 "$DATA/logs/$name.log" >&2; stop_all; exit 1; }
  echo "$name  pid $pid  127.0.0.1:$port  log $DATA/logs/$name.log"
}
$DETACH || trap 'echo; echo "stopping..."; stop_all; exit 0' INT TERM

for port in 9876 9877; do
  mkdir -p "$DATA/namesrv-$port"
  start "namesrv-$port" "$port" mqnamesrv -c conf/namesrv.conf --set "listenPort=$port" \
    --set "kvConfigPath=$DATA/namesrv-$port/kvConfig.json"
done
# Masters first: slaves learn their master's HA address from the name servers.
for b in broker-a broker-b broker-a-s broker-b-s; do
  port=$(sed -n 's/^listenPort=//p' "$CONF/$b.properties")
  start "$b" "$port" mqbroker -c "$CONF/$b.properties" --set "storePathRootDir=$DATA/$b"
done

if $DETACH; then
  echo "running in the background; stop with scripts/stop-cluster.sh"
  exit 0
fi
echo "cluster running ($CONF); Ctrl-C stops it"
wait
