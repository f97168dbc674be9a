#!/usr/bin/env bash
# bench/compare.sh — run the same scenario against rmq and one or more peer brokers, alternately
# (A B A B ..., or A B C D A B C D ... with several peers; ROUNDS rounds, each system on a fresh
# store), and print per-round figures, the median ours/peer ratio and its min–max, with
# /proc/loadavg before and after every run.
#
#   bench/compare.sh [SCENARIO ...]          # default: every scenario below
#
# Scenarios (1 KiB bodies unless stated):
#   async256     one producer, 256 sends in flight on one connection, ASYNC_FLUSH
#   batch32      batch send, 32 x 1 KiB per request, 16 requests in flight
#   sync1        one sender, one message at a time (pair with PLACEMENT=one-core)
#   syncflush64  SYNC_FLUSH broker, 64 concurrent send-and-wait senders (group commit)
#   consume      pre-load BACKLOG_MSGS (default 1 Mi = 1 GiB, batch sends) then drain it with one consumer
#   e2e10k       fixed 10k msgs/s, send -> receipt latency (CO-corrected schedule)
#   async256-ab, e2e10k-ab   the same with mqbench's --auto-batch (the producer merges
#                concurrent sends into batch requests, Java 5.x's setAutoBatch); the peers run
#                async256 / e2e10k (the plain rows stay: report both). AUTO_BATCH_ARGS adds
#                knobs, e.g. "--batch-java-flush" or "--batch-max-bytes 65536"
#
# Environment:
#   PEER="P ..."            the systems run after rmq in every round, in this order (default
#                           rmq-rust); PEER=all is "nats redis rabbitmq":
#     rmq-rust              rocketmq-rust 1.0 from $RMQ_RUST_BIN, driven by mqbench
#     nats, redis, rabbitmq NATS JetStream 2.9, Redis 7 Streams, RabbitMQ 3.10 streams, installed
#                           from Debian when absent (as root) and driven in mqbench's shapes;
#                           see bench/peers.sh for each scenario's equivalent and durability.
#                           The run ends with summary.py's side-by-side table.
#     rmq-metrics           rmq with metricsExporterType=PROM scraped every SCRAPE_S (1) s
#     rmq-acl, rmq-tls      rmq with aclEnable=true (mqbench signing as an admin account with
#                           explicit topic permissions) / with a certificate (tlsMode=permissive,
#                           mqbench over TLS): the A/Bs of what metrics, ACL and TLS cost
#     rmq-alt               the same rmq build with ALT_SETS="key=value ..." added (an A/B of a
#                           setting, e.g. ALT_SETS=commitLogPwriteEnable=false)
#     rmq-base              the name server and broker of another rmq build in BASE_BIN, driven
#                           by this build's mqbench: a before/after A/B of a change
#     none                  rmq alone
#   ROUNDS=5 DURATION=10 WARMUP=2 BACKLOG_MSGS=1048576
#   PLACEMENT=unpinned|one-core|split   (one-core: broker+namesrv+client on cpu0 with taskset;
#                                        split: broker+namesrv on cpu1, client on cpu0)
#   RMQ_BIN=target/release  RMQ_RUST_BIN=/tmp/peers/rmq-rust/bin  OUT=bench/out/<time>
#   PAGECACHE=cold|steady   cold: as the machine is (on this VM, page-cache pages the guest
#                           has not touched recently cost a hypervisor fault: ~0.3 GB/s);
#                           steady: before every run, fill the page cache with a sparse
#                           filler file (FILLER, default /var/tmp/mqbench-pagecache-filler,
#                           MemTotal - FILLER_HEADROOM_MIB [3072]) so new pages come from
#                           reclaimed cache, as on any broker box that has run for a while  [cold]
#   READ_AHEAD_KB=N         set the store device's read_ahead_kb to N for the run (root; the
#                           old value is put back on exit). This VM's disk says 8192; the Linux
#                           default is 128, and at 8192 pre-faulting the commit log stalls a CPU
#                           13-27 ms per 8 MiB (bench/RESULTS.md, e2e10k)       [unchanged]
#   PERF_OUT=DIR            a system-wide `perf record -a -g` of each rmq run's measured phase
#                           into DIR/<scenario>-<system>-r<round>.data (PERF_HZ, default 999)
#
# Every process started here is killed by PID on exit. Ports are picked free on 127.0.0.1.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BIN=${RMQ_BIN:-$ROOT/target/release}
PEER_BIN=${RMQ_RUST_BIN:-/tmp/peers/rmq-rust/bin}
PEER=${PEER:-rmq-rust}
ROUNDS=${ROUNDS:-5}
DURATION=${DURATION:-10}
WARMUP=${WARMUP:-2}
BACKLOG_MSGS=${BACKLOG_MSGS:-1048576}
PLACEMENT=${PLACEMENT:-unpinned}
OUT=${OUT:-$ROOT/bench/out/$(date -u +%Y%m%dT%H%M%SZ)}
mkdir -p "$OUT"
WORK=$(mktemp -d /tmp/mqcompare.XXXXXX)
PIDS=()

cleanup() {
  for p in "${PIDS[@]:-}"; do [ -n "$p" ] && kill "$p" 2>/dev/null || true; done
  for p in "${PIDS[@]:-}"; do [ -n "$p" ] && wait "$p" 2>/dev/null || true; done
  [ -n "${KEEP:-}" ] || rm -rf "$WORK"
  # The filler only holds page cache (sparse: no disk blocks); drop it unless asked to keep it.
  [ "${PAGECACHE:-cold}" != steady ] || [ -n "${KEEP_FILLER:-}" ] || rm -f "${FILLER:-}"
  [ -z "${RA_FILE:-}" ] || [ -z "${RA_OLD:-}" ] || echo "$RA_OLD" > "$RA_FILE" || true
}
trap cleanup EXIT

case "$PLACEMENT" in
  unpinned) SRV_PIN=(); CLI_PIN=() ;;
  one-core) SRV_PIN=(taskset -c 0); CLI_PIN=(taskset -c 0) ;;
  split)    SRV_PIN=(taskset -c 1); CLI_PIN=(taskset -c 0) ;;
  *) echo "unknown PLACEMENT=$PLACEMENT" >&2; exit 2 ;;
esac

. "$ROOT/bench/lib.sh"
# shellcheck source=bench/peers.sh
. "$ROOT/bench/peers.sh"

# rmq-acl / rmq-tls: one account file and one test PKI for the whole run.
SEC="$WORK/security"
if [[ " $PEER " == *" rmq-acl "* || " $PEER " == *" rmq-tls "* ]]; then
  rmq_make_pki "$SEC/pki"
  printf 'accounts:\n  - accessKey: benchAdmin1\n    secretKey: bench-admin-secret\n    admin: true\n    defaultTopicPerm: PUB|SUB\n    defaultGroupPerm: SUB\n    topicPerms: [BenchAsync=PUB|SUB, BenchBatch=PUB|SUB, BenchSync=PUB|SUB, BenchFlush=PUB|SUB, BenchBacklog=PUB|SUB, BenchE2e=PUB|SUB]\n' >"$SEC/plain_acl.yml"
fi

# security_for SYSTEM: RMQ_NAMESRV_SETS, RMQ_BROKER_SETS and BENCH_ENV for that system.
security_for() {
  RMQ_NAMESRV_SETS=() RMQ_BROKER_SETS=() BENCH_ENV=()
  case $1 in
    rmq-acl)
      RMQ_BROKER_SETS=(--set aclEnable=true --set "aclFilePath=$SEC/plain_acl.yml")
      BENCH_ENV=(RMQ_ACCESS_KEY=benchAdmin1 RMQ_SECRET_KEY=bench-admin-secret) ;;
    rmq-tls)
      RMQ_NAMESRV_SETS=(--set "tlsCertPath=$SEC/pki/cert.pem" --set "tlsKeyPath=$SEC/pki/key.pem")
      RMQ_BROKER_SETS=("${RMQ_NAMESRV_SETS[@]}")
      BENCH_ENV=("RMQ_TLS_CA=$SEC/pki/ca.pem") ;;
  esac
}

# start_system SYSTEM DIR FLUSH -> sets NS_ADDR, SRV_PIDS, BROKER_PID
start_system() {
  local sys=$1 dir=$2 flush=$3 base ns bp
  security_for "$sys"
  base=$(pick_ports); ns=$((base + 10)); bp=$base
  start_namesrv "$sys" "$dir" "$ns"
  start_broker "$sys" "$dir" "$ns" "$bp" "$flush"
  NS_ADDR="127.0.0.1:$ns"; SRV_PIDS="$BROKER_PID $NS_PID"
  wait_ready "$sys" "$dir" 0 60 || true
  if [ "$sys" = rmq-metrics ]; then
    # A Prometheus-like scraper for the whole run (stopped first by stop_system).
    ( while sleep "${SCRAPE_S:-1}"; do curl -fsS -o /dev/null --max-time 5 "http://127.0.0.1:$((bp + 5))/metrics" || true; done ) &
    PIDS+=("$!"); SRV_PIDS="$! $SRV_PIDS"
  fi
  # Readiness includes the name-server registration for both; leave the route a moment.
  sleep 0.5
}
stop_system() { for p in $SRV_PIDS; do stop_pid "$p"; done; }

# mqbench ARGS: the client, pinned; with /usr/bin/time writing its CPU seconds to MQBENCH_TIME
# (run_one's client.time: the last, measured, invocation of a run overwrites the load phase's).
mqbench() {
  local t=(); [ ${#CLI_TIME[@]} -gt 0 ] && [ -n "${MQBENCH_TIME:-}" ] && t=("${CLI_TIME[@]}" "$MQBENCH_TIME")
  env ${BENCH_ENV[@]+"${BENCH_ENV[@]}"} ${t[@]+"${t[@]}"} "${CLI_PIN[@]}" "$BIN/mqbench" "$@"
}

# The store device's read_ahead_kb (runs keep their stores under $WORK).
RA_FILE=""; RA_OLD=""
RA_DEV=$(findmnt -no MAJ:MIN -T "$WORK" 2>/dev/null | tr -d ' ')
for f in "/sys/dev/block/$RA_DEV/queue/read_ahead_kb" "/sys/dev/block/$RA_DEV/../queue/read_ahead_kb"; do
  [ -f "$f" ] && { RA_FILE=$f; break; }
done
READ_AHEAD=$( [ -n "$RA_FILE" ] && cat "$RA_FILE" || echo unknown)
if [ -n "${READ_AHEAD_KB:-}" ]; then
  [ -n "$RA_FILE" ] || { echo "READ_AHEAD_KB: cannot find the store device's read_ahead_kb" >&2; exit 2; }
  RA_OLD=$READ_AHEAD
  echo "$READ_AHEAD_KB" > "$RA_FILE" || { echo "READ_AHEAD_KB: cannot write $RA_FILE (root needed)" >&2; RA_OLD=""; exit 2; }
  READ_AHEAD=$READ_AHEAD_KB
fi

# PERF_OUT=DIR: a system-wide profile (`perf record -a -g`, PERF_HZ [999]) of each run's measured
# phase (after a consume's load), DIR/<scenario>-<system>-r<round>.data; read it with
# `perf report -i F --no-children --sort comm,dso,symbol`.
PERF_PID=""
perf_start() { # NAME
  [ -n "${PERF_OUT:-}" ] || return 0
  mkdir -p "$PERF_OUT"
  perf record -a -g -F "${PERF_HZ:-999}" -o "$PERF_OUT/$1.data" >"$PERF_OUT/$1.log" 2>&1 &
  PERF_PID=$!; PIDS+=("$PERF_PID")
}
perf_stop() {
  [ -n "$PERF_PID" ] || return 0
  kill -INT "$PERF_PID" 2>/dev/null || true; wait "$PERF_PID" 2>/dev/null || true; PERF_PID=""
}

# run_one SCENARIO SYSTEM ROUND -> prints one JSON line (the main record) to stdout
run_one() {
  local sc=$1 sys=$2 r=$3 dir="$WORK/$2-$1-$3" flush=ASYNC_FLUSH json rec la0 la1 cpu0 cpu1
  [ "$sc" = syncflush64 ] && flush=SYNC_FLUSH
  steady_pagecache
  start_system "$sys" "$dir" "$flush"
  if ! kill -0 "$BROKER_PID" 2>/dev/null; then
    log "$sys broker exited at startup: $(tail -c 300 "$dir/broker.log" | tr '\n' ' ')"; stop_system; return 1
  fi
  local common=(-n "$NS_ADDR" --json --system "$sys" --scenario "$sc")
  # X-ab: scenario X with the producer's auto-batching.
  local ab=() base=${sc%-ab}
  # shellcheck disable=SC2206
  if [ "$base" != "$sc" ]; then ab=(--auto-batch ${AUTO_BATCH_ARGS:-}); fi
  MQBENCH_TIME="$dir/client.time"
  la0=$(loadavg)
  cpu0=$(awk '{print $14+$15}' "/proc/$BROKER_PID/stat")
  [ "$base" = consume ] || perf_start "$sc-$sys-r$r"
  case "$base" in
    async256)    json=$(mqbench producer "${common[@]}" ${ab[@]+"${ab[@]}"} -t BenchAsync -s 1024 -w 1 --inflight 256 --warmup "$WARMUP" --duration "$DURATION" 2>"$dir/bench.err") ;;
    batch32)     json=$(mqbench producer "${common[@]}" -t BenchBatch -s 1024 -w 1 -b 32 --inflight 16 --warmup "$WARMUP" --duration "$DURATION" 2>"$dir/bench.err") ;;
    sync1)       json=$(mqbench producer "${common[@]}" -t BenchSync -s 1024 -w 1 --sync --warmup "$WARMUP" --duration "$DURATION" 2>"$dir/bench.err") ;;
    syncflush64) json=$(mqbench producer "${common[@]}" -t BenchFlush -s 1024 -w 64 --sync --warmup "$WARMUP" --duration "$DURATION" 2>"$dir/bench.err") ;;
    consume)
      # Pre-load with batch sends (32 x 1 KiB per request): rocketmq-rust takes ~1 ms per
      # request, so loading 1 Mi single sends would take ~15 min there.
      mqbench producer -n "$NS_ADDR" -t BenchBacklog -s 1024 -w 1 -b 32 --inflight 16 --duration 900 --count "$BACKLOG_MSGS" >/dev/null 2>"$dir/load.err"
      la0=$(loadavg); cpu0=$(awk '{print $14+$15}' "/proc/$BROKER_PID/stat")
      perf_start "$sc-$sys-r$r"
      json=$(mqbench consumer "${common[@]}" -t BenchBacklog --from-first --count "$BACKLOG_MSGS" --duration 300 --idle-exit 10 2>"$dir/bench.err") ;;
    e2e10k)      json=$(mqbench e2e "${common[@]}" ${ab[@]+"${ab[@]}"} -t BenchE2e -s 1024 -w 4 --rate 10000 --inflight 64 --warmup "$WARMUP" --duration "$DURATION" 2>"$dir/bench.err" | tail -1) ;;
    *) echo "unknown scenario $sc" >&2; exit 2 ;;
  esac
  cpu1=$(awk '{print $14+$15}' "/proc/$BROKER_PID/stat")
  perf_stop
  la1=$(loadavg)
  local rss; rss=$(awk '/VmRSS/{print $2}' "/proc/$BROKER_PID/status")
  stop_system
  rec=$(printf '%s' "$json" | tail -1)
  [ -z "$rec" ] && rec='{"msgs_s":0,"failed":-1}'
  local hz; hz=$(getconf CLK_TCK)
  rec=$(python3 -c 'import json,sys; r=json.loads(sys.argv[1]); r.update(round=int(sys.argv[2]), placement=sys.argv[3], pagecache=sys.argv[10], read_ahead_kb=sys.argv[11], load_before=sys.argv[4], load_after=sys.argv[5], broker_cpu_s=(int(sys.argv[7])-int(sys.argv[6]))/int(sys.argv[8]), broker_rss_kib=int(sys.argv[9] or 0), client_cpu_s=float(sys.argv[12]), durability=sys.argv[13], equal_durability=True); print(json.dumps(r))' \
    "$rec" "$r" "$PLACEMENT" "$la0" "$la1" "$cpu0" "$cpu1" "$hz" "${rss:-0}" "$PAGECACHE" "$READ_AHEAD" "$(client_cpu "$dir/client.time")" "$flush")
  echo "$rec" | tee -a "$OUT/results.jsonl"
  rm -rf "$dir/store"
}

summarise() { # scenario
  python3 - "$OUT/results.jsonl" "$1" "$PLACEMENT" <<'PY'
import json, statistics, sys
path, sc, placement = sys.argv[1:4]
rows = [json.loads(l) for l in open(path) if l.strip()]
rows = [r for r in rows if r.get("scenario") == sc and r.get("placement") == placement]
by = {}
for r in rows:
    by.setdefault(r["round"], {})[r["system"]] = r
def cell(r):
    s = f'{r["msgs_s"]:>9.0f} msg/s p50 {r.get("p50_us",0)} p99 {r.get("p99_us",0)} µs'
    if r.get("failed"): s += f' failed {r["failed"]}'
    cpu = r.get("broker_cpu_s", 0); n = r.get("msgs", 0)
    if n: s += f' | broker {cpu*1e6/n:.1f} µs CPU/msg'
    if n and r.get("client_cpu_s"): s += f', client {r["client_cpu_s"]*1e6/n:.1f}'
    if not r.get("equal_durability", True): s += ' | weaker durability'
    return s + f' | load {r["load_before"].split()[0]}→{r["load_after"].split()[0]}'
ratios = []
print(f"== {sc} ({placement}) ==")
for k in sorted(by):
    a = by[k].get("rmq")
    print(f"round {k}: rmq {cell(a) if a else 'not measured'}")
    peers = {s: v for s, v in by[k].items() if s != "rmq"}
    for s, v in sorted(peers.items()):
        print(f"         {s} {cell(v)}")
    # Ratio against the fastest peer of the round at equal durability (e2e10k: msgs/s is the
    # fixed rate; summary.py compares its p99).
    eq = [v for v in peers.values() if v.get("equal_durability", True) and v["msgs_s"] > 0]
    if a and eq and not sc.startswith("e2e10k"):
        best = max(eq, key=lambda v: v["msgs_s"])
        ratios.append(a["msgs_s"] / best["msgs_s"]); print(f"         ratio rmq/{best['system']} {ratios[-1]:.2f}")
if ratios:
    print(f"median ratio rmq/best peer {statistics.median(ratios):.2f} (min {min(ratios):.2f}, max {max(ratios):.2f}, {len(ratios)} rounds)")
ours = [by[k]["rmq"]["msgs_s"] for k in by if "rmq" in by[k]]
if ours:
    print(f"rmq median {statistics.median(ours):.0f} msg/s (min {min(ours):.0f}, max {max(ours):.0f})")
PY
}

SCENARIOS=("$@")
[ ${#SCENARIOS[@]} -eq 0 ] && SCENARIOS=(async256 batch32 sync1 syncflush64 consume e2e10k)
[ -x "$BIN/mqbench" ] && [ -x "$BIN/mqbroker" ] && [ -x "$BIN/mqnamesrv" ] || { echo "build first: cargo build --release --workspace --bins --examples" >&2; exit 2; }
[ "$PEER" = all ] && PEER="nats redis rabbitmq"
# The peer list: each round runs rmq, then every peer in this order.
PEER_LIST=()
for p in $PEER; do
  case $p in
    rmq-rust)
      if [ -x "$PEER_BIN/rocketmq-broker-rust" ]; then PEER_LIST+=("$p")
      else log "peer binaries not found in $PEER_BIN: rmq-rust columns will be 'not measured'"; fi ;;
    nats|redis|rabbitmq)
      if ensure_peer "$p"; then PEER_LIST+=("$p"); else log "PEER $p: could not install or build it: skipped"; fi ;;
    rmq-base)
      [ -x "${BASE_BIN:-}/mqbroker" ] || { echo "PEER=rmq-base: no mqbroker in BASE_BIN=${BASE_BIN:-} (build the base with cargo build --release)" >&2; exit 2; }
      PEER_LIST+=("$p") ;;
    rmq-metrics|rmq-acl|rmq-tls|rmq-alt) PEER_LIST+=("$p") ;;
    none) ;;
    *) echo "unknown PEER $p" >&2; exit 2 ;;
  esac
done
log "out=$OUT placement=$PLACEMENT pagecache=$PAGECACHE read_ahead_kb=$READ_AHEAD rounds=$ROUNDS peers=${PEER_LIST[*]:-none} load=$(loadavg)"
for sc in "${SCENARIOS[@]}"; do
  for r in $(seq 1 "$ROUNDS"); do
    log "$sc round $r: rmq"; run_one "$sc" rmq "$r" >/dev/null || log "rmq run failed"
    for p in ${PEER_LIST[@]+"${PEER_LIST[@]}"}; do
      log "$sc round $r: $p"
      case $p in
        nats|redis|rabbitmq) "run_$p" "$sc" "$r" >/dev/null || log "$p: no equivalent for $sc (or the run failed)" ;;
        *) run_one "$sc" "$p" "$r" >/dev/null || log "$p run failed" ;;
      esac
    done
  done
  summarise "$sc" | tee -a "$OUT/summary.txt"
done
# The side-by-side table of every system run (and the machine's limits beside it).
[ ${#PEER_LIST[@]} -eq 0 ] || python3 "$ROOT/bench/summary.py" --table "$OUT/results.jsonl" | tee -a "$OUT/summary.txt"
