#!/usr/bin/env bash
# Build the release binaries and start the rmq stack on defaults:
#   mqnamesrv on :9876, then mqbroker (registered to it) on :10911 when it builds.
# Data, logs and PID files live under ./data (override with RMQ_DATA=dir).
# Runs in the foreground; Ctrl-C (or SIGTERM) stops everything it started.
#   -d / --detach   start and return; stop later with scripts/stop-stack.sh
# RMQ_PROFILE=debug uses a debug build (faster to compile).
set -euo pipefail

cd "$(dirname "$0")/.."
ROOT=$(pwd)
DATA=${RMQ_DATA:-$ROOT/data}
PROFILE=${RMQ_PROFILE:-release}
DETACH=false
for arg in "$@"; do
  case "$arg" in
    -d|--detach) DETACH=true ;;
    -h|--help) sed -n '2,9p' "$0"; exit 0 ;;
    *) echo "start-stack: unknown argument '$arg'" >&2; exit 2 ;;
  esac
done

if [ "$PROFILE" = release ]; then CARGO_FLAGS=(--release); BIN=target/release; else CARGO_FLAGS=(); BIN=target/debug; fi
mkdir -p "$DATA/logs" "$DATA/namesrv" "$DATA/store"

echo "building mqnamesrv ($PROFILE)..."
cargo build "${CARGO_FLAGS[@]}" -p mq-namesrv --bin mqnamesrv
HAVE_BROKER=false
echo "building mqbroker ($PROFILE)..."
if cargo build "${CARGO_FLAGS[@]}" -p mq-broker --bin mqbroker; then HAVE_BROKER=true; else
  echo "start-stack: mqbroker does not build yet; starting the name server only" >&2
fi

PIDS=()
stop_all() {
  # Stop in reverse order (broker first, so it unregisters from a live name server).
  for ((i=${#PIDS[@]}-1; i>=0; i--)); do kill -TERM "${PIDS[i]}" 2>/dev/null || true; done
  for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
  rm -f "$DATA"/*.pid
}

wait_for_port() { # port name pid
  for _ in $(seq 1 100); do
    if (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; then return 0; fi
    if ! kill -0 "$3" 2>/dev/null; then echo "start-stack: $2 exited; see $DATA/logs/$2.log" >&2; tail -5 "$DATA/logs/$2.log" >&2; return 1; fi
    sleep 0.1
  done
  echo "start-stack: $2 is not listening on :$1 after 10 s; see $DATA/logs/$2.log" >&2
  return 1
}

NAMESRV_ARGS=(-c conf/namesrv.conf --set "kvConfigPath=$DATA/namesrv/kvConfig.json")
"$BIN/mqnamesrv" "${NAMESRV_ARGS[@]}" >"$DATA/logs/mqnamesrv.log" 2>&1 &
PIDS+=($!); echo $! >"$DATA/mqnamesrv.pid"
$DETACH || trap 'echo; echo "stopping..."; stop_all; exit 0' INT TERM
wait_for_port 9876 mqnamesrv "${PIDS[0]}" || { stop_all; exit 1; }
echo "mqnamesrv  pid ${PIDS[0]}  127.0.0.1:9876   log $DATA/logs/mqnamesrv.log"

if $HAVE_BROKER; then
  BROKER_ARGS=(-n 127.0.0.1:9876 --set "storePathRootDir=$DATA/store")
  [ -f conf/broker.conf ] && BROKER_ARGS=(-c conf/broker.conf "${BROKER_ARGS[@]}")
  "$BIN/mqbroker" "${BROKER_ARGS[@]}" >"$DATA/logs/mqbroker.log" 2>&1 &
  PIDS+=($!); echo $! >"$DATA/mqbroker.pid"
  if wait_for_port 10911 mqbroker "${PIDS[1]}"; then
    echo "mqbroker   pid ${PIDS[1]}  127.0.0.1:10911  log $DATA/logs/mqbroker.log"
  else
    stop_all; exit 1
  fi
fi

if $DETACH; then
  echo "running in the background; stop with scripts/stop-stack.sh"
  exit 0
fi
echo "stack running; Ctrl-C stops it"
wait
