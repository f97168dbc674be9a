#!/usr/bin/env bash
# bench/recovery.sh — broker start time on a big commit log: after kill -9 under write load,
# after a clean stop, and (for comparison) after kill -9 with the checkpoint removed, which makes
# recovery fall back to scanning the whole log.
#
#   LOG_MSGS=10485760 bench/recovery.sh        # 10 Mi x 1 KiB = ~10.7 GiB of commit log
#
# Start time = from exec to the broker's "boot success" log line (store recovered, servers up,
# registered with the name server). Needs ~1.1 x LOG_MSGS KiB of free disk under $TMPDIR.
# Every process started here is killed by PID on exit and the store is deleted.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BIN=${RMQ_BIN:-$ROOT/target/release}
LOG_MSGS=${LOG_MSGS:-1048576}
KILL_AFTER=${KILL_AFTER:-3}   # seconds of extra write load before the kill -9
WORK=$(mktemp -d "${TMPDIR:-/tmp}/mqrecovery.XXXXXX")
PIDS=()
cleanup() { for p in "${PIDS[@]:-}"; do [ -n "$p" ] && kill -9 "$p" 2>/dev/null || true; done; cp "$WORK/broker.log" "${LOG_COPY:-/tmp/mqrecovery-broker.log}" 2>/dev/null || true; rm -rf "$WORK"; }
trap cleanup EXIT
port_free() { ! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
pick() { local p; for _ in $(seq 1 200); do p=$((20000 + RANDOM % 30000)); port_free $((p-2)) && port_free "$p" && port_free $((p+1)) && port_free $((p+10)) && { echo "$p"; return; }; done; exit 1; }
now_ms() { date +%s%3N; }

BP=$(pick); NS=$((BP + 10))
"$BIN/mqnamesrv" --listen "127.0.0.1:$NS" >"$WORK/ns.log" 2>&1 & PIDS+=($!)
for _ in $(seq 1 200); do port_free "$NS" || break; sleep 0.02; done

start_broker() { # sets BROKER; prints ms from exec to "boot success" and the recovery report
  local t0 t1 n
  n=$(grep -c "boot success" "$WORK/broker.log" 2>/dev/null || true)
  t0=$(now_ms)
  "$BIN/mqbroker" -n "127.0.0.1:$NS" --set listenPort="$BP" --set brokerIP1=127.0.0.1 \
    --set storePathRootDir="$WORK/store" >>"$WORK/broker.log" 2>&1 & BROKER=$!; PIDS+=("$BROKER")
  while [ "$(grep -c "boot success" "$WORK/broker.log" || true)" -le "${n:-0}" ]; do
    sleep 0.002; kill -0 "$BROKER" || { echo "broker died" >&2; tail "$WORK/broker.log" >&2; exit 1; }
  done
  t1=$(now_ms)
  echo "$((t1 - t0)) ms; $(grep -o 'recovery report.*' "$WORK/broker.log" | tail -1 | sed 's/\x1b\[[0-9;]*m//g')"
}
stop_broker() { kill "$1"; local d=$((SECONDS + 120)); while kill -0 "$1" 2>/dev/null && [ $SECONDS -lt $d ]; do sleep 0.05; done; wait "$1" 2>/dev/null || true; }
kill9_under_load() { # kill -9 the broker KILL_AFTER s into a fresh write load
  "$BIN/mqbench" producer -n "127.0.0.1:$NS" -t BenchLog -s 1024 -w 1 --inflight 256 --duration 60 >"$WORK/load.log" 2>&1 & local P=$!; PIDS+=("$P")
  sleep "$KILL_AFTER"
  kill -9 "$BROKER"; wait "$BROKER" 2>/dev/null || true
  kill -9 "$P" 2>/dev/null || true; wait "$P" 2>/dev/null || true
}

echo "load $(cut -d' ' -f1-3 /proc/loadavg)"
start_broker >"$WORK/t"  # (not in $(...): BROKER and PIDS must be set in this shell)
"$BIN/mqbench" producer -n "127.0.0.1:$NS" -t BenchLog -s 1024 -w 1 --inflight 256 --count "$LOG_MSGS" --duration 3600 2>&1 | grep "TPS" | sed 's/^/fill: /'
kill9_under_load
echo "log $(du -sh "$WORK/store/commitlog" | cut -f1), load $(cut -d' ' -f1-3 /proc/loadavg)"
start_broker >"$WORK/t"; echo "start_after_kill9_under_load $(cat "$WORK/t")"
stop_broker "$BROKER"
start_broker >"$WORK/t"; echo "start_after_clean_stop $(cat "$WORK/t")"
kill9_under_load
rm -f "$WORK/store/checkpoint"
start_broker >"$WORK/t"; echo "start_after_kill9_without_checkpoint (full scan) $(cat "$WORK/t")"
stop_broker "$BROKER"
echo "load $(cut -d' ' -f1-3 /proc/loadavg)"
