#!/usr/bin/env bash
# bench/ha.sh — issue 18's replication rows in one run, rounds alternating (bench/RESULTS.md
# "Replication"):
#
#   bench/ha.sh [sync] [catchup]          # default: both
#
# sync     async256 (mqbench producer -s 1024 -w 1 --inflight 256, ASYNC_FLUSH) against
#          (a) "single": one ASYNC_MASTER broker, no slave, and
#          (b) "sync":   a SYNC_MASTER with one SLAVE (brokerId=1, own store and ports,
#                        haMasterAddress set), the slave caught up before the run starts.
#          Per run: msgs/s, send p50/p99, failed sends, broker CPU (utime+stime from
#          /proc/PID/stat) per stored message (putMessageTimesTotal before/after) on the master
#          and, in (b), the slave; ratio b/a of each round. In both runs bench/ha_probe.py asks
#          the master for GET_BROKER_RUNTIME_INFO every SAMPLE_MS ms (the same cost in a and
#          b, so the CPU difference is replication's); in (b) its samples give the slave's lag
#          in time and bytes over the measured window (method: bench/ha_probe.py's docstring),
#          and its readings of the master's own per-report lag histogram
#          (haSlaveAckLagHistogram, broker/src/ha/lag.rs) the broker-side lag over the window.
#          Also per run: ms per second the broker threads spent runnable but waiting for a CPU
#          (schedstat; a loaded machine shows here). Odd rounds run a then b, even b then a.
#          With MODES=single,sync,controller also
#          (c) "controller": the same two brokers in controller mode (issue 19) with one
#                        mqcontroller: enableControllerMode, allAckInSyncStateSet=CTL_ALL_ACK
#                        (default true: sends wait for the slave, as under SYNC_MASTER; the
#                        key's own default, false, waits for inSyncReplicas-1 = 0 replicas),
#                        the first broker elected master, the run starts once the second is
#                        in the in-sync set; ratio c/b of each round (issue 19: >= 0.95).
# catchup  a slave CATCHUP_MSGS x 1 KiB behind (default 1 Mi messages, ~1.2 GiB of log):
#          master (ASYNC_MASTER) + slave replicate 1000 messages, the slave is stopped, the
#          master alone is filled with batch sends (32 x 1 KiB per request, 16 in flight),
#          then the slave is started again on its store and timed until the master has its
#          acknowledgement of the whole log (polled every SAMPLE_MS ms, deadline
#          CATCHUP_TIMEOUT s). MB/s = bytes behind / (caught up - slave exec), and from the
#          HA connection. The slave keeps its few replicated messages on purpose: an empty
#          slave (first report 0) is served from the start of the master's *last* commit-log
#          file (as Java), which after a 1.2 GiB fill is only the bytes past 1 GiB.
#
# Environment: ROUNDS=3 DURATION=8 WARMUP=2 SAMPLE_MS=5 CATCHUP_MSGS=1048576
#   MODES=single,sync (sync runs, in this order on odd rounds, reversed on even ones)
#   CTL_ALL_ACK=true (controller mode's allAckInSyncStateSet)
#   HA_SETS="key=value ..." (extra settings for every broker)
#   CATCHUP_TIMEOUT=300 PLACEMENT=unpinned|split (split: servers on cpu1, mqbench on cpu0)
#   RMQ_BIN=target/release (mqnamesrv, mqbroker, mqadmin, mqbench)  OUT=bench/out/ha-<time>
#   PAGECACHE=cold|steady (compare.sh's: steady fills the page cache with a sparse file before
#   every run, so new pages come from reclaimed cache; the filler is removed on exit)
#   KEEP=1 keeps the work directory (stores and logs).
#   SLAVE_NICE=N: renice the slave's threads to N (e.g. -10) once it is up: the slave stands
#   in for a broker on its own machine; here it competes with the master and mqbench.
#   SLAVE_PROBE=1: the probe also asks the slave for its log end each tick (sync runs), which
#   splits the lag into "not yet appended" and "not yet acknowledged" (bench/ha_probe.py).
#   HA_TRACE=1: brokers log the replication chain's per-frame timestamps (RUST_LOG
#   ha_trace=debug, broker/src/ha/trace.rs) and bench/ha_trace.py splits each sync/controller
#   run's round trips into steps (OUT/trace-<mode>-<round>.json); the logging adds load.
#   PERF_DIR=dir: also `perf record -e cpu-clock -F 2000 -g` the master for the measured
#   window of every sync run, and the slave and the master for PERF_S (4) s of each catch-up
#   (files dir/<mode>-<round>-<process>.data; perf adds its own load, so keep such runs apart).
# Every process started here is stopped by PID on exit; ports are picked free on 127.0.0.1.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BIN=${RMQ_BIN:-$ROOT/target/release}
ROUNDS=${ROUNDS:-3}
DURATION=${DURATION:-8}
WARMUP=${WARMUP:-2}
SAMPLE_MS=${SAMPLE_MS:-5}
CATCHUP_MSGS=${CATCHUP_MSGS:-1048576}
CATCHUP_TIMEOUT=${CATCHUP_TIMEOUT:-300}
PLACEMENT=${PLACEMENT:-unpinned}
IFS=, read -r -a MODES <<<"${MODES:-single,sync}"
CTL_ALL_ACK=${CTL_ALL_ACK:-true}
OUT=${OUT:-$ROOT/bench/out/ha-$(date -u +%Y%m%dT%H%M%SZ)}
mkdir -p "$OUT"
WORK=$(mktemp -d /tmp/mqha.XXXXXX)
PIDS=()
PROBE_PID="" S_PID="" M_PID="" NS_PID="" CTL_PID="" S_EXEC=0 S_PORT=""
cleanup() {
  for p in "${PIDS[@]:-}"; do [ -n "$p" ] && kill "$p" 2>/dev/null || true; done
  for p in "${PIDS[@]:-}"; do [ -n "$p" ] && wait "$p" 2>/dev/null || true; done
  [ -n "${KEEP:-}" ] || rm -rf "$WORK"
  [ "${PAGECACHE:-cold}" != steady ] || [ -n "${KEEP_FILLER:-}" ] || rm -f "${FILLER:-}"
}
trap cleanup EXIT

case "$PLACEMENT" in
  unpinned) SRV_PIN=(); CLI_PIN=() ;;
  split)    SRV_PIN=(taskset -c 1); CLI_PIN=(taskset -c 0) ;;
  *) echo "unknown PLACEMENT=$PLACEMENT" >&2; exit 2 ;;
esac

. "$ROOT/bench/lib.sh"

PROBE=(python3 "$ROOT/bench/ha_probe.py")
[ -z "${HA_TRACE:-}" ] || export RUST_LOG=info,ha_trace=debug
HZ=$(getconf CLK_TCK)
GROUP=benchha
TOPIC=BenchHa
mqbench() { "${CLI_PIN[@]}" "$BIN/mqbench" "$@"; }
# perf_bg NAME PID DELAY SECS: with PERF_DIR, record PID for SECS s after DELAY s, in the
# background (bounded by SECS; waited for by perf_wait).
PERF_PIDS=()
perf_bg() {
  [ -n "${PERF_DIR:-}" ] || return 0
  mkdir -p "$PERF_DIR"
  ( sleep "$3"; exec perf record -q -e cpu-clock -F 2000 -g -p "$2" -o "$PERF_DIR/$1.data" -- sleep "$4" ) \
    >/dev/null 2>&1 &
  PERF_PIDS+=("$!"); PIDS+=("$!")
}
perf_wait() { local p; for p in "${PERF_PIDS[@]:-}"; do [ -n "$p" ] && wait "$p" 2>/dev/null; done; PERF_PIDS=(); }
cpu_ticks() { awk '{print $14+$15}' "/proc/$1/stat"; }
# runq_ns PID: ns its threads have spent runnable but waiting for a CPU (schedstat field 2;
# threads that exited are not counted). Tells a loaded machine's waits from the broker's own.
runq_ns() { cat /proc/"$1"/task/*/schedstat 2>/dev/null | awk '{s += $2} END {printf "%.0f\n", s}'; }
now_s() { date +%s.%N; }
add_s() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.6f", a + b }'; }
# The sets every broker of the group shares (lib.sh's start_broker adds port, store, flush).
# HA_SETS="key=value ...": added to every broker of the run (e.g. commitLogPwriteEnable=false).
group_sets() {
  RMQ_BROKER_SETS=(--set "brokerName=$GROUP" --set brokerIP2=127.0.0.1 "$@")
  local kv; for kv in ${HA_SETS:-}; do RMQ_BROKER_SETS+=(--set "$kv"); done
}

# start_master DIR ROLE -> NS, BP (master port), M_PID; a fresh name server under DIR.
start_master() {
  local dir=$1 role=$2 base
  base=$(pick_ports); NS=$((base + 10)); BP=$base
  start_namesrv rmq "$dir" "$NS"
  group_sets --set "brokerRole=$role" --set "haListenPort=$((BP + 1))"
  start_broker rmq "$dir/master" "$NS" "$BP" ASYNC_FLUSH; M_PID=$BROKER_PID
  wait_ready rmq "$dir/master" 0 60
}

# start_slave DIR -> S_PID, S_EXEC (wall clock just before its exec); a SLAVE of the master
# at BP on its own free ports and DIR/slave.
start_slave() {
  local dir=$1 sp before
  sp=$(pick_ports)
  before=$(broker_ready_count rmq "$dir/slave"); before=${before:-0}
  group_sets --set brokerId=1 --set brokerRole=SLAVE --set "haListenPort=$((sp + 1))" \
    --set "haMasterAddress=127.0.0.1:$((BP + 1))"
  S_EXEC=$(now_s); S_PORT=$sp
  start_broker rmq "$dir/slave" "$NS" "$sp" ASYNC_FLUSH; S_PID=$BROKER_PID
  wait_ready rmq "$dir/slave" "$before" 60
  slave_nice
}

# slave_nice: SLAVE_NICE=N renices every thread of the slave (it stands in for a broker on its
# own machine; on one box it competes with the master and mqbench for the same two CPUs).
slave_nice() {
  [ -n "${SLAVE_NICE:-}" ] || return 0
  local t; for t in /proc/"$S_PID"/task/*; do renice -n "$SLAVE_NICE" -p "${t##*/}" >/dev/null; done
}

# start_controller_group DIR -> NS, BP, M_PID, S_PID, S_PORT, CTL_PID: a name server, one
# mqcontroller and the two brokers in controller mode; the first is elected master before the
# second starts, and this returns once the second is in the master's in-sync set.
start_controller_group() {
  local dir=$1 base cp sp
  base=$(pick_ports); NS=$((base + 10)); BP=$base; cp=$(rmq_free_port)
  start_namesrv rmq "$dir" "$NS"
  mkdir -p "$dir/controller"
  "${SRV_PIN[@]}" "$BIN/mqcontroller" --set controllerDLegerGroup=benchha \
    --set "controllerDLegerPeers=n0-127.0.0.1:$cp" --set controllerDLegerSelfId=n0 \
    --set "controllerStorePath=$dir/controller/store" >>"$dir/controller/controller.log" 2>&1 &
  CTL_PID=$!; PIDS+=("$CTL_PID")
  wait_port "$cp" 30
  local ctl=(--set enableControllerMode=true --set "controllerAddr=127.0.0.1:$cp"
    --set "allAckInSyncStateSet=$CTL_ALL_ACK")
  group_sets "${ctl[@]}" --set "haListenPort=$((BP + 1))"
  start_broker rmq "$dir/master" "$NS" "$BP" ASYNC_FLUSH; M_PID=$BROKER_PID
  wait_ready rmq "$dir/master" 0 60
  "${PROBE[@]}" wait-info "127.0.0.1:$BP" writable true 60 || return 1
  sp=$(pick_ports)
  group_sets "${ctl[@]}" --set "haListenPort=$((sp + 1))"
  S_EXEC=$(now_s); S_PORT=$sp
  start_broker rmq "$dir/slave" "$NS" "$sp" ASYNC_FLUSH; S_PID=$BROKER_PID
  wait_ready rmq "$dir/slave" 0 60
  "${PROBE[@]}" wait-info "127.0.0.1:$BP" syncStateSet '[0-9]+,[0-9]+' 60
}

# stop_run: stop whatever the current run started (after a failure too), slave first.
stop_run() {
  local p
  for p in "${PROBE_PID:-}" "${S_PID:-}" "${M_PID:-}" "${NS_PID:-}" "${CTL_PID:-}"; do [ -n "$p" ] && stop_pid "$p"; done
  PROBE_PID="" S_PID="" M_PID="" NS_PID="" CTL_PID=""
}

# create_topic: on the master, then wait (bounded) until the name server routes it.
create_topic() {
  "$BIN/mqadmin" updateTopic -n "127.0.0.1:$NS" -b "127.0.0.1:$BP" -t "$1" >/dev/null
  rmq_wait_for 20 "$BIN/mqadmin" topicRoute -n "127.0.0.1:$NS" -t "$1"
}

put_total() { "${PROBE[@]}" info "127.0.0.1:$BP" putMessageTimesTotal; }

# run_sync MODE ROUND: one async256 run against "single", "sync" or "controller"; one JSON
# line to stdout.
run_sync() {
  local mode=$1 r=$2 dir="$WORK/$1-$2" role=ASYNC_MASTER json la0 la1 m0 m1 s0=0 s1=0 p0 p1 t0 lag
  local mq0 mq1 sq0=0 sq1=0 t1
  [ "$mode" = sync ] && role=SYNC_MASTER
  steady_pagecache
  if [ "$mode" = controller ]; then
    start_controller_group "$dir" || return 1
  else
    start_master "$dir" "$role" || return 1
  fi
  if [ "$mode" = sync ]; then
    start_slave "$dir" || return 1
  fi
  if [ "$mode" != single ]; then
    "${PROBE[@]}" wait-slave "127.0.0.1:$BP" 30 || return 1
  fi
  create_topic "$TOPIC" || return 1
  # SLAVE_PROBE=1: also ask the slave for its own log end each tick (splits the lag into
  # "not yet appended" and "appended, not yet acknowledged"; adds the slave's load).
  local slave_addr=()
  [ -n "${SLAVE_PROBE:-}" ] && [ -n "$S_PID" ] && slave_addr=("127.0.0.1:$S_PORT")
  "${PROBE[@]}" sample "127.0.0.1:$BP" "$SAMPLE_MS" "$((WARMUP + DURATION + 2))" "$dir/lag.txt" ${slave_addr[@]+"${slave_addr[@]}"} &
  PROBE_PID=$!; PIDS+=("$PROBE_PID")
  la0=$(loadavg); p0=$(put_total); m0=$(cpu_ticks "$M_PID"); mq0=$(runq_ns "$M_PID")
  [ -n "$S_PID" ] && s0=$(cpu_ticks "$S_PID") && sq0=$(runq_ns "$S_PID")
  t0=$(now_s)
  perf_bg "$mode-$r-master" "$M_PID" "$WARMUP" "$DURATION"
  json=$(mqbench producer -n "127.0.0.1:$NS" -t "$TOPIC" -s 1024 -w 1 --inflight 256 --warmup "$WARMUP" \
    --duration "$DURATION" --json --system "rmq-$mode" --scenario ha-async256 2>"$dir/bench.err" | tail -1)
  m1=$(cpu_ticks "$M_PID"); p1=$(put_total); mq1=$(runq_ns "$M_PID")
  [ -n "$S_PID" ] && s1=$(cpu_ticks "$S_PID") && sq1=$(runq_ns "$S_PID")
  la1=$(loadavg); t1=$(now_s)
  wait "$PROBE_PID" || log "probe exited with an error (see $dir/lag.txt)"
  PROBE_PID=""; perf_wait
  lag=$("${PROBE[@]}" lag "$dir/lag.txt" "$(add_s "$t0" "$WARMUP")" "$(add_s "$t0" "$((WARMUP + DURATION))")")
  stop_run
  if [ -n "${HA_TRACE:-}" ] && [ "$mode" != single ]; then
    python3 "$ROOT/bench/ha_trace.py" "$dir/master/broker.log" "$dir/slave/broker.log" 5 \
      "$(add_s "$t0" "$WARMUP")" "$(add_s "$t0" "$((WARMUP + DURATION))")" >"$OUT/trace-$mode-$r.json" ||
      log "ha_trace.py failed"
  fi
  [ -n "$json" ] || json='{"msgs_s":0,"failed":-1}'
  python3 - "$json" "$lag" "$mode" "$r" "$PLACEMENT" "$la0" "$la1" "$HZ" "$m0" "$m1" "$s0" "$s1" "$p0" "$p1" "$PAGECACHE" "$mq0" "$mq1" "$sq0" "$sq1" "$t0" "$t1" <<'PY' | tee -a "$OUT/results.jsonl"
import json, sys
rec, lag = json.loads(sys.argv[1]), json.loads(sys.argv[2])
mode, r, placement, la0, la1 = sys.argv[3:8]
hz, m0, m1, s0, s1, p0, p1 = (int(x) for x in sys.argv[8:15])
puts = max(1, p1 - p0)
rec.update(part="sync", mode=mode, round=int(r), placement=placement, pagecache=sys.argv[15], load_before=la0,
           load_after=la1, puts=p1 - p0,
           master_cpu_us_msg=round((m1 - m0) / hz * 1e6 / puts, 2),
           slave_cpu_us_msg=round((s1 - s0) / hz * 1e6 / puts, 2) if mode != "single" else None)
# Waiting for a CPU, ms per second of the run, summed over the process's threads.
mq0, mq1, sq0, sq1 = (int(x) for x in sys.argv[16:20])
secs = float(sys.argv[21]) - float(sys.argv[20])
rec.update(master_runq_ms_s=round((mq1 - mq0) / 1e6 / secs, 1),
           slave_runq_ms_s=round((sq1 - sq0) / 1e6 / secs, 1) if mode != "single" else None)
if mode != "single":
    rec["lag"] = lag
else:
    rec["probe_rtt_us_p99"] = lag.get("probe_rtt_us_p99")
print(json.dumps(rec))
PY
  rm -rf "$dir/master/store" "$dir/slave/store"
}

# run_catchup ROUND: one slave catch-up; one JSON line to stdout.
run_catchup() {
  local r=$1 dir="$WORK/catchup-$1" end0 end1 fill0 fill1 res la0 la1 m0 m1 s1
  steady_pagecache
  start_master "$dir" ASYNC_MASTER || return 1
  start_slave "$dir" || return 1
  create_topic "$TOPIC" || return 1
  mqbench producer -n "127.0.0.1:$NS" -t "$TOPIC" -s 1024 -w 1 --inflight 16 --count 1000 --duration 60 \
    >/dev/null 2>"$dir/preload.err" || return 1
  "${PROBE[@]}" wait-slave "127.0.0.1:$BP" 30 || return 1
  end0=$("${PROBE[@]}" info "127.0.0.1:$BP" commitLogMaxOffset)
  stop_pid "$S_PID"; S_PID=""
  fill0=$(now_s)
  mqbench producer -n "127.0.0.1:$NS" -t "$TOPIC" -s 1024 -w 1 -b 32 --inflight 16 --count "$CATCHUP_MSGS" \
    --duration 900 >/dev/null 2>"$dir/fill.err" || return 1
  fill1=$(now_s)
  end1=$("${PROBE[@]}" info "127.0.0.1:$BP" commitLogMaxOffset)
  la0=$(loadavg); m0=$(cpu_ticks "$M_PID")
  # The probe first (it must see the connection), then the slave on its old store.
  "${PROBE[@]}" catchup "127.0.0.1:$BP" "$SAMPLE_MS" "$CATCHUP_TIMEOUT" >"$dir/catchup.json" 2>"$dir/catchup.err" &
  PROBE_PID=$!; PIDS+=("$PROBE_PID")
  start_slave "$dir" || return 1
  perf_bg "catchup-$r-slave" "$S_PID" 0 "${PERF_S:-4}"; perf_bg "catchup-$r-master" "$M_PID" 0 "${PERF_S:-4}"
  if wait "$PROBE_PID"; then res=$(cat "$dir/catchup.json"); else res='{}'; log "catch-up: $(cat "$dir/catchup.err")"; fi
  PROBE_PID=""
  m1=$(cpu_ticks "$M_PID"); s1=$(cpu_ticks "$S_PID"); la1=$(loadavg)
  perf_wait
  stop_run
  python3 - "$res" "$r" "$PLACEMENT" "$la0" "$la1" "$end0" "$end1" "$S_EXEC" "$fill0" "$fill1" "$HZ" "$m0" "$m1" "$s1" "$PAGECACHE" <<'PY' | tee -a "$OUT/results.jsonl"
import json, sys
res = json.loads(sys.argv[1])
r, placement, la0, la1 = sys.argv[2:6]
end0, end1 = int(sys.argv[6]), int(sys.argv[7])
t_exec, fill0, fill1 = (float(x) for x in sys.argv[8:11])
hz, m0, m1, s1 = (int(x) for x in sys.argv[11:15])
behind = end1 - end0
rec = dict(part="catchup", round=int(r), placement=placement, pagecache=sys.argv[15], load_before=la0, load_after=la1,
           behind_bytes=behind, fill_mb_s=round(behind / (fill1 - fill0) / 1e6, 1))
if "done_t" in res:
    secs = res["done_t"] - t_exec
    rec.update(catchup_s=round(secs, 3), mb_s=round(behind / secs / 1e6, 1),
               connect_s=round(res["connected_t"] - t_exec, 3),
               mb_s_from_connect=round(behind / (res["done_t"] - res["connected_t"]) / 1e6, 1),
               master_cpu_s=round((m1 - m0) / hz, 2), slave_cpu_s=round(s1 / hz, 2))
else:
    rec.update(catchup_s=None, mb_s=0)
print(json.dumps(rec))
PY
  rm -rf "$dir/master/store" "$dir/slave/store"
}

summarise() {
  python3 - "$OUT/results.jsonl" <<'PY'
import json, statistics as st, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
def med(xs):
    xs = [x for x in xs if x is not None]
    return (st.median(xs), min(xs), max(xs)) if xs else None
def fmt(t, f="{:.0f}"):
    return "n/a" if t is None else f"{f.format(t[0])} ({f.format(t[1])}–{f.format(t[2])})"
sync = [r for r in rows if r["part"] == "sync"]
by = {}
for r in sync:
    by.setdefault(r["round"], {})[r["mode"]] = r
ratios, dcpu, cratios = [], [], []
for k in sorted(by):
    a, b, c = by[k].get("single"), by[k].get("sync"), by[k].get("controller")
    for r in (a, b, c):
        if r:
            extra = ""
            if r["mode"] != "single":
                l = r["lag"]
                extra = (f" | slave {r['slave_cpu_us_msg']} µs/msg | lag p50 {l['lag_ms_p50']} p99 {l['lag_ms_p99']} "
                         f"max {l['lag_ms_max']} ms, bytes p99 {l['lag_bytes_p99']} ({l['samples']} samples, "
                         f"every {l['period_ms']} ms)")
                if l.get("appended_ms_p99") is not None:
                    extra += (f" | appended lag p50 {l['appended_ms_p50']} p99 {l['appended_ms_p99']} "
                              f"max {l['appended_ms_max']} ms")
                if l.get("broker_lag_ms_p99") is not None:
                    extra += (f" | broker-side lag p50 {l['broker_lag_ms_p50']} p99 {l['broker_lag_ms_p99']} "
                              f"max {l['broker_lag_ms_max']} ms ({l['broker_lag_count']} acks)")
            print(f"round {k} {r['mode']:>10}: {r['msgs_s']:>8.0f} msg/s p50 {r.get('p50_us')} p99 {r.get('p99_us')} µs "
                  f"failed {r.get('failed')} | master {r['master_cpu_us_msg']} µs/msg{extra} | runq wait ms/s master {r.get('master_runq_ms_s')} slave {r.get('slave_runq_ms_s')} | load {r['load_before'].split()[0]}→{r['load_after'].split()[0]}")
    if a and b and a["msgs_s"] > 0:
        ratios.append(b["msgs_s"] / a["msgs_s"]); dcpu.append(b["master_cpu_us_msg"] - a["master_cpu_us_msg"])
        print(f"round {k}  ratio sync/single {ratios[-1]:.2f}, master CPU +{dcpu[-1]:.2f} µs/msg")
    if b and c and b["msgs_s"] > 0:
        cratios.append(c["msgs_s"] / b["msgs_s"])
        print(f"round {k}  ratio controller/sync {cratios[-1]:.3f}, master CPU {c['master_cpu_us_msg'] - b['master_cpu_us_msg']:+.2f} µs/msg")
if sync:
    for m in ("single", "sync", "controller"):
        rs = [r for r in sync if r["mode"] == m]
        if not rs:
            continue
        print(f"{m}: {fmt(med([r['msgs_s'] for r in rs]))} msg/s, p99 {fmt(med([r.get('p99_us') for r in rs]))} µs, "
              f"master {fmt(med([r['master_cpu_us_msg'] for r in rs]), '{:.2f}')} µs/msg")
    if ratios:
        print(f"ratio sync/single median {st.median(ratios):.2f} (min {min(ratios):.2f}, max {max(ratios):.2f}); "
              f"master CPU added median {st.median(dcpu):.2f} µs/msg (min {min(dcpu):.2f}, max {max(dcpu):.2f})")
    if cratios:
        print(f"ratio controller/sync median {st.median(cratios):.3f} (min {min(cratios):.3f}, max {max(cratios):.3f})")
    for m in ("sync", "controller"):
        lags = [r["lag"] for r in sync if r["mode"] == m]
        if not lags:
            continue
        line = (f"{m} slave lag ms: p50 {fmt(med([l['lag_ms_p50'] for l in lags]), '{:.2f}')}, "
                f"p99 {fmt(med([l['lag_ms_p99'] for l in lags]), '{:.2f}')}, max {fmt(med([l['lag_ms_max'] for l in lags]), '{:.2f}')}")
        if any(l.get("broker_lag_ms_p99") is not None for l in lags):
            line += (f"; broker-side p50 {fmt(med([l.get('broker_lag_ms_p50') for l in lags]), '{:.2f}')}, "
                     f"p99 {fmt(med([l.get('broker_lag_ms_p99') for l in lags]), '{:.2f}')}, "
                     f"max {fmt(med([l.get('broker_lag_ms_max') for l in lags]), '{:.2f}')}")
        if any(l.get("appended_ms_p99") is not None for l in lags):
            line += (f"; appended p50 {fmt(med([l.get('appended_ms_p50') for l in lags]), '{:.2f}')}, "
                     f"p99 {fmt(med([l.get('appended_ms_p99') for l in lags]), '{:.2f}')}")
        print(line)
cu = [r for r in rows if r["part"] == "catchup"]
for r in cu:
    print(f"catch-up round {r['round']}: {r['behind_bytes']/2**30:.2f} GiB behind in {r['catchup_s']} s = {r['mb_s']} MB/s "
          f"(from HA connect {r.get('mb_s_from_connect')} MB/s, connect {r.get('connect_s')} s; fill {r['fill_mb_s']} MB/s; "
          f"CPU master {r.get('master_cpu_s')} s slave {r.get('slave_cpu_s')} s) | load {r['load_before'].split()[0]}→{r['load_after'].split()[0]}")
if cu:
    print(f"catch-up median {fmt(med([r['mb_s'] for r in cu]))} MB/s")
PY
}

PARTS=("$@")
[ ${#PARTS[@]} -eq 0 ] && PARTS=(sync catchup)
for part in "${PARTS[@]}"; do
  case $part in sync|catchup) ;; *) echo "unknown part '$part' (sync, catchup)" >&2; exit 2 ;; esac
done
for m in "${MODES[@]}"; do
  case $m in single|sync|controller) ;; *) echo "unknown mode '$m' (single, sync, controller)" >&2; exit 2 ;; esac
done
NEED=(mqnamesrv mqbroker mqadmin mqbench)
[[ ",${MODES[*]}," == *controller* ]] && NEED+=(mqcontroller)
for b in "${NEED[@]}"; do
  [ -x "$BIN/$b" ] || { echo "no $BIN/$b (RMQ_BIN=dir of release binaries)" >&2; exit 2; }
done
log "out=$OUT bin=$BIN placement=$PLACEMENT pagecache=$PAGECACHE rounds=$ROUNDS parts=${PARTS[*]} modes=${MODES[*]} load=$(loadavg)"
for r in $(seq 1 "$ROUNDS"); do
  for part in "${PARTS[@]}"; do
    if [ "$part" = sync ]; then
      order=("${MODES[@]}")
      if [ $((r % 2)) -eq 0 ]; then order=(); for m in "${MODES[@]}"; do order=("$m" ${order[@]+"${order[@]}"}); done; fi
      for m in "${order[@]}"; do log "round $r: $m"; run_sync "$m" "$r" >/dev/null || { log "$m run failed"; stop_run; }; done
    else
      log "round $r: catch-up"; run_catchup "$r" >/dev/null || { log "catch-up run failed"; stop_run; }
    fi
  done
done
summarise | tee "$OUT/summary.txt"
