#!/usr/bin/env bash
# bench/grpc-pop.sh — issue 20's performance rows, A/B in one run on one broker:
#   1. send, 1 KiB, 1 sender with 256 in flight: remoting (async256) vs gRPC SendMessage;
#   2. drain a backlog of BACKLOG_MSGS x 1 KiB (default 1 Mi = 1 GiB), fresh group each:
#      pull (push consumer), POP over remoting (SimpleConsumer, POP_MESSAGE + BATCH_ACK) and
#      POP over gRPC (ReceiveMessage + AckMessage), with the broker's CPU time per message
#      (utime + stime from /proc/<pid>/stat around each drain).
#
#   bench/grpc-pop.sh                 # release binaries (built if missing)
#
# Env: BACKLOG_MSGS (1048576), SEND_SECS (15), POP_CONC (8, receive loops), RMQ_PROFILE
# (release), RMQ_SKIP_BUILD, RMQ_BIN (a directory of other binaries to run, e.g. a base build
# for an A/B; skips the build), PERF_OUT (a directory: `perf record` of the broker during the
# gRPC send and the gRPC drain, `perf-send.data` and `perf-pop.data`). Every process is
# stopped by PID on exit; the store lives in a temp dir that is removed.
set -euo pipefail
BENCH_BIN=${RMQ_BIN:-}
# shellcheck source=scripts/lib.sh
. "$(dirname "$0")/../scripts/lib.sh"
RMQ_PROFILE=${RMQ_PROFILE:-release}
N=${BACKLOG_MSGS:-1048576}
SEND_SECS=${SEND_SECS:-15}
CONC=${POP_CONC:-8}
# Measured with the broker's default commit-log file size (lib.sh uses 64 MiB for tests).
export RMQ_COMMIT_LOG_FILE_SIZE=${RMQ_COMMIT_LOG_FILE_SIZE:-1073741824}
rmq_install_traps
rmq_workdir rmq-grpc-pop
if [ -n "$BENCH_BIN" ]; then RMQ_BIN=$BENCH_BIN; else rmq_build; fi
rmq_start_namesrv
GRPC_PORT=$(rmq_free_port)
rmq_start_broker "" --set flushDiskType=ASYNC_FLUSH --set "grpcServerPort=$GRPC_PORT"
rmq_wait_port "$GRPC_PORT" 30 "$BROKER_PID"
GRPC=127.0.0.1:$GRPC_PORT
TICK=$(getconf CLK_TCK)
PERF_PID=
perf_start() { # name
  [ -n "${PERF_OUT:-}" ] || return 0
  mkdir -p "$PERF_OUT"
  perf record -q --call-graph dwarf,16384 -F 499 -p "$BROKER_PID" -o "$PERF_OUT/perf-$1.data" \
    2>>"$RMQ_WORK/perf.err" &
  PERF_PID=$!
  rmq_track "$PERF_PID"
}
perf_stop() {
  [ -n "$PERF_PID" ] || return 0
  kill -INT "$PERF_PID" 2>/dev/null || true
  wait "$PERF_PID" 2>/dev/null || true
  PERF_PID=
}
cpu() { awk '{print $14 + $15}' "/proc/$BROKER_PID/stat"; }
report() { # label json msgs cpu-ticks
  python3 -c '
import json, sys
r = json.loads(sys.argv[2]); n = r["msgs"]; ticks = float(sys.argv[3]); hz = float(sys.argv[4])
cpu = "" if ticks < 0 else "  broker CPU %.2f us/msg" % (ticks / hz * 1e6 / max(n, 1))
p99 = (" p99 %.2f ms" % (r["p99_us"] / 1000)) if r.get("p99_us") else ""
load = open("/proc/loadavg").read().split()[0]
print("%-18s %9d msgs  %10.0f msg/s%s%s  load %s" % (sys.argv[1], n, r["msgs_s"], p99, cpu, load))' \
    "$1" "$2" "$3" "$TICK"
}
# Wait (up to 60 s) until the broker is idle: < 2 ticks of CPU per 500 ms. A load leaves dirty
# commit-log pages that the broker's flush thread writes back afterwards; without this the next
# row's CPU per message would carry that flush (the pull drain after the backlog's load did).
settle() {
  local a b i
  for ((i = 0; i < 120; i++)); do
    a=$(cpu); sleep 0.5; b=$(cpu)
    [ $((b - a)) -lt 2 ] && return 0
  done
  echo "warning: the broker did not settle" >&2
}
echo "== send 1 KiB, 1 sender x 256 in flight, ${SEND_SECS} s each (load $(cut -d' ' -f1-3 /proc/loadavg))"
for proto in remoting grpc; do
  settle
  args=()
  [ "$proto" = grpc ] && args=(--grpc "$GRPC") && perf_start send
  # The broker's CPU from the end of the 2 s warm-up to the end of the run.
  "$RMQ_BIN/mqbench" producer -n "$NAMESRV" -t BenchGrpcSend -s 1024 -w 1 --inflight 256 \
    --warmup 2 --duration "$SEND_SECS" --json "${args[@]}" >"$RMQ_WORK/send-$proto.json" \
    2>>"$RMQ_WORK/send.err" &
  bench_pid=$!
  rmq_track "$bench_pid"
  sleep 2
  c0=$(cpu)
  wait "$bench_pid"
  c1=$(cpu)
  perf_stop
  report "send $proto" "$(tail -1 "$RMQ_WORK/send-$proto.json")" $((c1 - c0))
done
echo "== backlog: $N x 1 KiB"
"$RMQ_BIN/mqbench" producer -n "$NAMESRV" -t BenchPop -s 1024 -w 1 -b 32 --inflight 16 \
  --duration 900 --count "$N" >/dev/null 2>"$RMQ_WORK/load.err"
drain() { # label mqbench-args...
  local label=$1 json c0 c1
  shift
  settle
  c0=$(cpu)
  json=$("$RMQ_BIN/mqbench" consumer -n "$NAMESRV" -t BenchPop --from-first --duration 900 \
    --idle-exit 5 --count "$N" --json "$@" 2>>"$RMQ_WORK/drain.err" | tail -1)
  c1=$(cpu)
  report "$label" "$json" $((c1 - c0))
}
drain "drain pull"
drain "drain pop" --pop --concurrency "$CONC"
perf_start pop
drain "drain grpc pop" --pop --grpc "$GRPC" --concurrency "$CONC"
perf_stop
echo "grpc-pop ok"
