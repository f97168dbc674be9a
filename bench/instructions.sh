#!/usr/bin/env bash
# bench/instructions.sh — broker instructions per message (valgrind callgrind), a before/after
# figure that a loaded machine does not disturb.
#
#   bench/instructions.sh SCENARIO NAME=BINDIR [NAME=BINDIR ...]
#   e.g. bench/instructions.sh sync1 before=/tmp/base/target/release after=target/release
#
# SCENARIO: sync1 (one sender, one at a time), async256 (256 in flight), batch32.
# For each build (in the order given, ROUNDS times, alternating): a name server and a broker
# (under callgrind) from BINDIR, the topic created, a 3 s warm-up, counters zeroed, then
# COUNT messages from mqbench (the same client for every build: CLIENT_BIN, default
# target/release) and one dump. Prints "NAME round msgs Ir Ir/msg".
#
# What it counts: user-space instructions of every broker thread, the background ones
# (flusher, timers) included in proportion to the run's length; not kernel time, cache misses
# or waits. Use it to find out whether a change added work per message; use compare.sh for
# what that costs in throughput. Needs valgrind (`apt-get install valgrind`).
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/lib.sh

[ $# -ge 2 ] || { sed -n 2,18p "$0"; exit 2; }
scenario=$1
shift
case $scenario in
  sync1) mode=(--sync) ;;
  async256) mode=(--inflight 256) ;;
  batch32) mode=(-b 32 --inflight 16) ;;
  *) echo "unknown scenario $scenario" >&2; exit 2 ;;
esac
command -v valgrind >/dev/null || { echo "valgrind is not installed" >&2; exit 2; }
CLIENT_BIN=${CLIENT_BIN:-target/release}
ROUNDS=${ROUNDS:-1}
COUNT=${COUNT:-20000}
OUT=${OUT:-$(mktemp -d /tmp/rmq-instructions.XXXXXX)}
PIDS=()
trap 'for p in "${PIDS[@]}"; do kill -9 "$p" 2>/dev/null || true; done' EXIT

one() { # NAME BINDIR ROUND
  local name=$1 bin=$2 round=$3 dir port ns bp msgs ir
  dir=$OUT/$name-$round
  mkdir -p "$dir"
  port=$(pick_ports)
  ns=$((port + 10)) bp=$port
  "$bin/mqnamesrv" --listen "127.0.0.1:$ns" >"$dir/namesrv.log" 2>&1 &
  local np=$!
  PIDS+=("$np")
  wait_port "$ns" 20
  valgrind --tool=callgrind --callgrind-out-file="$dir/callgrind.out" "$bin/mqbroker" \
    -n "127.0.0.1:$ns" --set listenPort="$bp" --set brokerIP1=127.0.0.1 \
    --set storePathRootDir="$dir/store" --set flushDiskType=ASYNC_FLUSH >"$dir/broker.log" 2>&1 &
  local bpid=$!
  PIDS+=("$bpid")
  rmq_wait_port "$bp" 120 "$bpid"
  # Registered with the name server once the topic can be created there.
  rmq_wait_for 120 "$CLIENT_BIN/mqadmin" updateTopic -n "127.0.0.1:$ns" -c DefaultCluster -t BenchIr
  local bench=("$CLIENT_BIN/mqbench" producer -n "127.0.0.1:$ns" -t BenchIr -s 1024 -w 1 "${mode[@]}" --warmup 0 --duration 600)
  "${bench[@]}" --count 5000 >/dev/null 2>&1
  callgrind_control -z "$bpid" >/dev/null 2>&1
  "${bench[@]}" --count "$COUNT" >"$dir/bench.out" 2>"$dir/bench.err"
  callgrind_control -d "$bpid" >/dev/null 2>&1
  msgs=$(grep -o '([0-9]* msgs' "$dir/bench.err" | tr -dc 0-9)
  # The dump is written asynchronously by the broker's next scheduled instruction block.
  local deadline=$((SECONDS + 30)) f=""
  while [ $SECONDS -lt $deadline ]; do
    f=$(ls -t "$dir"/callgrind.out.* 2>/dev/null | head -1 || true)
    [ -n "$f" ] && grep -q '^totals:\|^summary:' "$f" && break
    sleep 0.2
  done
  ir=$(grep -m1 '^totals:\|^summary:' "$f" | awk '{print $2}')
  kill "$bpid" "$np" 2>/dev/null || true
  wait "$bpid" "$np" 2>/dev/null || true
  echo "$name $round $msgs $ir $((ir / msgs))"
}

echo "# $scenario, broker Ir per message (callgrind), client $CLIENT_BIN, load $(loadavg), $(date -u +%FT%TZ)"
echo "# name round msgs Ir Ir/msg"
for r in $(seq "$ROUNDS"); do
  for spec in "$@"; do
    one "${spec%%=*}" "${spec#*=}" "$r"
  done
done
