#!/usr/bin/env bash
# bench/startup.sh — broker start time (empty store, after a clean stop, after kill -9) and
# memory (idle RSS, RSS per idle connection). Prints one line per figure.
#
#   LOG_MSGS=1048576 CONNS=1000 bench/startup.sh
#
# LOG_MSGS x 1 KiB messages are written before the restart measurements (1 Mi = ~1.1 GiB of
# commit log; 10 GiB = 10485760). Start time = from exec to the listen port accepting.
# Every process started here is killed by PID on exit.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BIN=${RMQ_BIN:-$ROOT/target/release}
LOG_MSGS=${LOG_MSGS:-1048576}
CONNS=${CONNS:-1000}
WORK=$(mktemp -d /tmp/mqstartup.XXXXXX)
PIDS=()
cleanup() { for p in "${PIDS[@]:-}"; do [ -n "$p" ] && kill -9 "$p" 2>/dev/null || true; done; rm -rf "$WORK"; }
trap cleanup EXIT
port_free() { ! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
pick() { local p; for _ in $(seq 1 200); do p=$((20000 + RANDOM % 30000)); port_free $((p-2)) && port_free "$p" && port_free $((p+1)) && port_free $((p+10)) && { echo "$p"; return; }; done; exit 1; }
now_ms() { date +%s%3N; }
rss_kib() { awk '/VmRSS/{print $2}' "/proc/$1/status"; }

BP=$(pick); NS=$((BP + 10))
"$BIN/mqnamesrv" --listen "127.0.0.1:$NS" >"$WORK/ns.log" 2>&1 & PIDS+=($!)
for _ in $(seq 1 200); do port_free "$NS" || break; sleep 0.02; done

# Ready = the "boot success" log line (the broker listens before it opens the store, so an open
# port is not readiness): store recovered, servers started, registered with the name server.
start_broker() { # sets BROKER; prints ms from exec to "boot success"
  local t0 t1 n
  n=$(grep -c "boot success" "$WORK/broker.log" 2>/dev/null || true)
  t0=$(now_ms)
  "$BIN/mqbroker" -n "127.0.0.1:$NS" --set listenPort="$BP" --set brokerIP1=127.0.0.1 \
    --set storePathRootDir="$WORK/store" >>"$WORK/broker.log" 2>&1 & BROKER=$!; PIDS+=("$BROKER")
  while [ "$(grep -c "boot success" "$WORK/broker.log" || true)" -le "${n:-0}" ]; do
    sleep 0.002; kill -0 "$BROKER" || { echo "broker died" >&2; tail "$WORK/broker.log" >&2; exit 1; }
  done
  t1=$(now_ms)
  echo "$((t1 - t0)) (store recovery $(grep -o 'elapsed_ms=[0-9]*' "$WORK/broker.log" | tail -1))"
}
stop_broker() { kill "$1"; local d=$((SECONDS + 60)); while kill -0 "$1" 2>/dev/null && [ $SECONDS -lt $d ]; do sleep 0.05; done; wait "$1" 2>/dev/null || true; }

echo "load $(cut -d' ' -f1-3 /proc/loadavg)"
start_broker >"$WORK/t"; echo "start_empty_ms $(cat "$WORK/t")"
sleep 2; echo "idle_rss_kib $(rss_kib "$BROKER")"
python3 - "$BP" "$CONNS" "$BROKER" <<'PY'
import socket, sys, time
port, n, pid = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
rss = lambda: int([l for l in open(f"/proc/{pid}/status") if l.startswith("VmRSS")][0].split()[1])
before = rss()
socks = []
for _ in range(n):
    s = socket.create_connection(("127.0.0.1", port)); socks.append(s)
time.sleep(2)
after = rss()
print(f"idle_conn_rss_kib_each {(after - before) / n:.1f} ({n} connections, {before} -> {after} KiB)")
for s in socks: s.close()
PY
"$BIN/mqbench" producer -n "127.0.0.1:$NS" -t BenchLog -s 1024 -w 1 --inflight 256 --count "$LOG_MSGS" --duration 900 2>&1 | grep "TPS" | sed 's/^/fill: /'
stop_broker "$BROKER"
start_broker >"$WORK/t"; echo "start_after_clean_stop_ms $(cat "$WORK/t") log $(du -sh "$WORK/store/commitlog" | cut -f1)"
kill -9 "$BROKER"; wait "$BROKER" 2>/dev/null || true
start_broker >"$WORK/t"; echo "start_after_kill9_ms $(cat "$WORK/t")"
stop_broker "$BROKER"
