#!/usr/bin/env bash
# bench/sql92-drain.sh — the cost of a SQL92 filter on a backlog drain (issue 15): load
# BACKLOG_MSGS x 1 KiB (default 1 Mi = 1 GiB) with property n = seq mod 10, then drain it
# alternately (ROUNDS rounds, fresh group each) with no filter and with `--sql 'n = 0'`
# (matches 10 %). The figure of merit is the backlog covered per second: BACKLOG_MSGS / drain
# time, for both; the filtered drain should stay >= 50 % of the unfiltered one.
#
#   bench/sql92-drain.sh              # release binaries from target/release (built if missing)
#
# Env: BACKLOG_MSGS (1048576), ROUNDS (2), RMQ_BIN. Every process is stopped by PID on exit;
# the store lives in a temp dir that is removed.
set -euo pipefail
# shellcheck source=scripts/lib.sh
. "$(dirname "$0")/../scripts/lib.sh"
RMQ_PROFILE=release
N=${BACKLOG_MSGS:-1048576}
ROUNDS=${ROUNDS:-2}
# Measured with the broker's default commit-log file size (lib.sh uses 64 MiB for tests).
export RMQ_COMMIT_LOG_FILE_SIZE=${RMQ_COMMIT_LOG_FILE_SIZE:-1073741824}
rmq_install_traps
rmq_workdir rmq-sql92-drain
rmq_build
rmq_start_namesrv
rmq_start_broker "" --set enablePropertyFilter=true --set flushDiskType=ASYNC_FLUSH
echo "== load: $N x 1 KiB with n = seq mod 10 (load $(cut -d' ' -f1-3 /proc/loadavg))"
"$RMQ_BIN/mqbench" producer -n "$NAMESRV" -t BenchSql -s 1024 -w 1 -b 32 --inflight 16 \
  --prop-mod 10 --duration 900 --count "$N" >/dev/null 2>"$RMQ_WORK/load.err"
drain() { # label mqbench-args...
  local label=$1 json
  shift
  json=$("$RMQ_BIN/mqbench" consumer -n "$NAMESRV" -t BenchSql --from-first --duration 600 \
    --idle-exit 5 --json "$@" 2>>"$RMQ_WORK/drain.err" | tail -1)
  python3 -c '
import json, sys
r = json.loads(sys.argv[1]); n = int(sys.argv[2])
t = r["msgs"] / r["msgs_s"] if r["msgs_s"] else float("inf")
load = open("/proc/loadavg").read().split()[0]
print("%-10s received %8d in %6.2f s: backlog covered %9.0f msg/s (%.0f delivered/s) load %s"
      % (sys.argv[3], r["msgs"], t, n / t, r["msgs_s"], load))' \
    "$json" "$N" "$label"
}
for r in $(seq 1 "$ROUNDS"); do
  echo "== round $r"
  drain all --count "$N"
  drain "sql n=0" --count $((N / 10)) --sql 'n = 0'
done
echo "sql92-drain ok"
