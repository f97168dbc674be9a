#!/usr/bin/env bash
# bench/startup.sh — broker start time (empty store, after a clean stop, after kill -9) and
# memory (idle RSS, RSS per idle connection, RSS for many topics), for rmq and rocketmq-rust.
# Prints one line per figure and appends JSON records to $OUT/startup.jsonl.
#
#   SYSTEMS="rmq rmq-rust" LOG_MSGS=1048576 CONNS=1000 TOPICS=10000 bench/startup.sh
#
# Phases (PHASES, default all, run per system in this order, each on a fresh store):
#   empty    START_ROUNDS starts on an empty store: ms from exec to readiness (ours: the
#            "boot success" line; rocketmq-rust: `Broker lifecycle transition state="ready"`),
#            i.e. store opened, servers listening, registered with the name server;
#            then idle RSS 5 s after the last start and idle CPU over those 5 s
#   conns    CONNS idle TCP connections to the broker port: RSS delta per connection
#   topics   TOPICS topics (4 queues each) created with `mqbench topics` (UPDATE_AND_CREATE_TOPIC
#            on the broker): RSS before/after, create rate
#   restart  fill LOG_MSGS x 1 KiB with batch sends (32 per request; 1 Mi = ~1.1 GiB of commit log; 10 GiB = 10485760), clean stop
#            (SIGTERM), time to readiness; then kill -9 and time to readiness again
# Every process started here is killed by PID on exit; the stores are deleted.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BIN=${RMQ_BIN:-$ROOT/target/release}
PEER_BIN=${RMQ_RUST_BIN:-/tmp/peers/rmq-rust/bin}
SYSTEMS=${SYSTEMS:-rmq rmq-rust}
PHASES=${PHASES:-empty conns topics restart}
LOG_MSGS=${LOG_MSGS:-1048576}
CONNS=${CONNS:-1000}
TOPICS=${TOPICS:-10000}
START_ROUNDS=${START_ROUNDS:-3}
OUT=${OUT:-$ROOT/bench/out/$(date -u +%Y%m%dT%H%M%SZ)}
mkdir -p "$OUT"
WORK=$(mktemp -d /tmp/mqstartup.XXXXXX)
PIDS=()
SRV_PIN=()
cleanup() { for p in "${PIDS[@]:-}"; do [ -n "$p" ] && kill -9 "$p" 2>/dev/null || true; done; [ -n "${KEEP:-}" ] || rm -rf "$WORK"; }
trap cleanup EXIT
. "$ROOT/bench/lib.sh"

# emit SYSTEM METRIC VALUE [NOTE]: one printed line + one JSON record.
emit() {
  echo "$1 $2 $3 ${4:-} (load $(loadavg))"
  python3 -c 'import json,sys; print(json.dumps(dict(system=sys.argv[1], metric=sys.argv[2], value=float(sys.argv[3]), note=sys.argv[4], load=sys.argv[5])))' \
    "$1" "$2" "$3" "${4:-}" "$(loadavg)" >>"$OUT/startup.jsonl"
}

# timed_start SYSTEM DIR -> ms from exec to readiness in $START_MS, broker in BROKER_PID
timed_start() {
  local n t0
  n=$(broker_ready_count "$1" "$2"); t0=$(now_ms)
  start_broker "$1" "$2" "$NS" "$BP" ASYNC_FLUSH
  wait_ready "$1" "$2" "${n:-0}" 900
  START_MS=$(( $(now_ms) - t0 ))
}

for sys in $SYSTEMS; do
  dir="$WORK/$sys"; BP=$(pick_ports); NS=$((BP + 10))
  start_namesrv "$sys" "$dir" "$NS"
  NSPID=$NS_PID
  for phase in $PHASES; do
    case "$phase" in
      empty)
        for i in $(seq 1 "$START_ROUNDS"); do
          rm -rf "$dir/store"; timed_start "$sys" "$dir"
          emit "$sys" start_empty_ms "$START_MS" "round $i"
          [ "$i" -lt "$START_ROUNDS" ] && stop_pid "$BROKER_PID"
        done
        c0=$(awk '{print $14+$15}' "/proc/$BROKER_PID/stat"); sleep 5; c1=$(awk '{print $14+$15}' "/proc/$BROKER_PID/stat")
        emit "$sys" idle_rss_kib "$(rss_kib "$BROKER_PID")" "5 s after start, empty store"
        emit "$sys" idle_cpu_pct "$(awk -v a="$c0" -v b="$c1" -v hz="$(getconf CLK_TCK)" 'BEGIN{printf "%.1f", (b-a)*100/hz/5}')" "broker CPU while idle, 5 s"
        stop_pid "$BROKER_PID" ;;
      conns)
        rm -rf "$dir/store"; timed_start "$sys" "$dir"; sleep 2
        per=$(python3 - "$BP" "$CONNS" "$BROKER_PID" <<'PY'
import socket, sys, time
port, n, pid = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
rss = lambda: int([l for l in open(f"/proc/{pid}/status") if l.startswith("VmRSS")][0].split()[1])
before = rss()
socks = [socket.create_connection(("127.0.0.1", port)) for _ in range(n)]
time.sleep(2)
after = rss()
print(f"{(after - before) / n:.2f} {n}_connections_{before}->{after}_KiB")
for s in socks: s.close()
PY
)
        emit "$sys" idle_conn_rss_kib_each ${per}
        stop_pid "$BROKER_PID" ;;
      topics)
        rm -rf "$dir/store"; timed_start "$sys" "$dir"; sleep 2
        before=$(rss_kib "$BROKER_PID")
        "$BIN/mqbench" topics -n "127.0.0.1:$NS" -b "127.0.0.1:$BP" --count "$TOPICS" --queues 4 2>"$dir/topics.err" || true
        sed 's/^/  /' "$dir/topics.err"
        sleep 2; after=$(rss_kib "$BROKER_PID")
        emit "$sys" topics_rss_delta_kib $((after - before)) "$TOPICS topics x 4 queues: RSS $before -> $after KiB; $(tail -1 "$dir/topics.err")"
        emit "$sys" topics_rss_kib "$after" "RSS with $TOPICS topics"
        stop_pid "$BROKER_PID" ;;
      restart)
        rm -rf "$dir/store"; timed_start "$sys" "$dir"
        log "$sys: filling $LOG_MSGS x 1 KiB (df: $(df -h / | awk 'NR==2{print $4}') free)"
        "$BIN/mqbench" producer -n "127.0.0.1:$NS" -t BenchLog -s 1024 -w 1 -b 32 --inflight 16 --count "$LOG_MSGS" --duration 3600 2>&1 \
          | grep "TPS" | tail -1 | sed "s/^/  $sys fill: /" || true
        t0=$(now_ms); stop_pid "$BROKER_PID"; emit "$sys" clean_stop_ms $(( $(now_ms) - t0 )) "SIGTERM to exit"
        timed_start "$sys" "$dir"
        emit "$sys" start_after_clean_stop_ms "$START_MS" "log $(du -sh "$dir/store/commitlog" | cut -f1), store $(du -sh "$dir/store" | cut -f1)"
        sleep 1; kill -9 "$BROKER_PID"; wait "$BROKER_PID" 2>/dev/null || true
        timed_start "$sys" "$dir"
        emit "$sys" start_after_kill9_ms "$START_MS" "log $(du -sh "$dir/store/commitlog" | cut -f1)"
        stop_pid "$BROKER_PID"; rm -rf "$dir/store" ;;
      *) echo "unknown phase $phase" >&2; exit 2 ;;
    esac
  done
  stop_pid "$NSPID"
done
