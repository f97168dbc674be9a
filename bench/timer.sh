#!/usr/bin/env bash
# bench/timer.sh — timer messages (issue 15 §4), rmq only: how fast timers are scheduled, what
# they cost the broker in memory, and how late they are delivered.
#
#   bench/timer.sh                                   # both phases with the defaults below
#   PHASES="baseline schedule baseline schedule" bench/timer.sh     # A/B, interleaved
#   PHASES=lateness LATE_MSGS=300000 LATE_WINDOW=30 PRECISION=1000 bench/timer.sh
#
# Phases (each on a fresh store; broker with timerPrecisionMs=$PRECISION, ASYNC_FLUSH):
#   schedule  TIMERS timers (SIZE-byte bodies) due uniformly over [now+LEAD, now+LEAD+WINDOW] s,
#             sent by `mqbench producer` with INFLIGHT requests in flight: its Send TPS is the
#             scheduling rate. Broker VmRSS / RssAnon / RssFile (KiB) before, right after the
#             sends and SETTLE s later, and the broker's timerCongestNum (timers in the wheel)
#             and timerOffsetBehind (records not yet taken in) from `mqadmin brokerStatus`.
#   baseline  the same as schedule with plain messages (no timer property): the scheduling
#             rate's reference and the memory any TIMERS messages cost the store (mapped commit
#             log and consume-queue pages, the pre-toucher's window) without the timer.
#   lateness  a consumer subscribes first; then LATE_MSGS timers due uniformly over
#             LATE_WINDOW s starting LATE_LEAD s after the sends begin (LATE_MSGS/LATE_WINDOW
#             deliveries per second). `mqbench consumer` reports timer_lateness = receipt time −
#             TIMER_DELIVER_MS (µs percentiles) and how many arrived before their time.
# Every process started here is killed by PID on exit; the stores are deleted (KEEP=1 keeps).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BIN=${RMQ_BIN:-$ROOT/target/release}
PHASES=${PHASES:-baseline schedule lateness}
TIMERS=${TIMERS:-1000000}
WINDOW=${WINDOW:-3600}
LEAD=${LEAD:-60}
SIZE=${SIZE:-128}
INFLIGHT=${INFLIGHT:-256}
SETTLE=${SETTLE:-10}
LATE_MSGS=${LATE_MSGS:-300000}
LATE_WINDOW=${LATE_WINDOW:-30}
LATE_LEAD=${LATE_LEAD:-40}
PRECISION=${PRECISION:-1000}
OUT=${OUT:-$ROOT/bench/out/$(date -u +%Y%m%dT%H%M%SZ)}
mkdir -p "$OUT"
WORK=$(mktemp -d /tmp/mqtimer.XXXXXX)
PIDS=()
SRV_PIN=()
RMQ_BROKER_SETS=(--set "timerPrecisionMs=$PRECISION")
cleanup() { for p in "${PIDS[@]:-}"; do [ -n "$p" ] && kill -9 "$p" 2>/dev/null || true; done; [ -n "${KEEP:-}" ] || rm -rf "$WORK"; }
trap cleanup EXIT
. "$ROOT/bench/lib.sh"

mem() { awk '/^(VmRSS|RssAnon|RssFile):/{printf "%s %s ", $1, $2}' "/proc/$1/status"; }
timer_keys() {
  "$BIN/mqadmin" brokerStatus -n "127.0.0.1:$NS" -b "127.0.0.1:$BP" 2>/dev/null \
    | grep -E '^(timerCongestNum|timerOffsetBehind|timerReadBehind)' | tr -s ' ' | tr '\n' ' '
}
fresh_stack() {
  local dir=$1
  BP=$(pick_ports); NS=$((BP + 10))
  start_namesrv rmq "$dir" "$NS"
  local n; n=$(broker_ready_count rmq "$dir")
  start_broker rmq "$dir" "$NS" "$BP" ASYNC_FLUSH
  wait_ready rmq "$dir" "${n:-0}" 60
  "$BIN/mqadmin" updateTopic -n "127.0.0.1:$NS" -b "127.0.0.1:$BP" -t "$TOPIC" -r 8 -w 8 >/dev/null
}

for phase in $PHASES; do
  dir="$WORK/$phase-$RANDOM"
  case "$phase" in
    schedule|baseline)
      TOPIC=TimerBench
      timer_args=(--timer-lead "$LEAD" --timer-window "$WINDOW")
      [ "$phase" = baseline ] && timer_args=()
      fresh_stack "$dir"
      sleep 2
      log "$phase: idle broker: $(mem "$BROKER_PID") load $(loadavg)"
      before=$(mem "$BROKER_PID")
      "$BIN/mqbench" producer -n "127.0.0.1:$NS" -t "$TOPIC" -s "$SIZE" --inflight "$INFLIGHT" \
        --count "$TIMERS" --duration 100000 ${timer_args[@]+"${timer_args[@]}"} \
        --json --scenario "timer-$phase" >>"$OUT/timer.jsonl" 2>"$OUT/$phase.err"
      tail -2 "$OUT/$phase.err" >&2
      after=$(mem "$BROKER_PID")
      sleep "$SETTLE"
      settled=$(mem "$BROKER_PID")
      log "$phase: broker memory (KiB) before: $before"
      log "$phase: right after $TIMERS messages: $after"
      log "$phase: ${SETTLE} s later: $settled; $(timer_keys); store $(du -sm "$dir/store" | cut -f1) MB; load $(loadavg)"
      python3 -c 'import json,sys; print(json.dumps(dict(scenario=sys.argv[1] + "-memory", before=sys.argv[2], after=sys.argv[3], settled=sys.argv[4], keys=sys.argv[5], load=sys.argv[6])))' \
        "timer-$phase" "$before" "$after" "$settled" "$(timer_keys)" "$(loadavg)" >>"$OUT/timer.jsonl"
      ;;
    lateness)
      TOPIC=TimerLate
      fresh_stack "$dir"
      "$BIN/mqbench" consumer -n "127.0.0.1:$NS" -t "$TOPIC" --count "$LATE_MSGS" \
        --duration 100000 --json --scenario "timer-lateness" >>"$OUT/timer.jsonl" 2>"$OUT/lateness.err" &
      CPID=$!; PIDS+=("$CPID")
      sleep 5
      "$BIN/mqbench" producer -n "127.0.0.1:$NS" -t "$TOPIC" -s "$SIZE" --inflight "$INFLIGHT" \
        --count "$LATE_MSGS" --duration 100000 --timer-lead "$LATE_LEAD" --timer-window "$LATE_WINDOW" \
        --json --scenario "timer-lateness-send" >>"$OUT/timer.jsonl" 2>"$OUT/lateness-send.err"
      tail -2 "$OUT/lateness-send.err" >&2
      log "lateness: $LATE_MSGS timers due over $LATE_WINDOW s from $LATE_LEAD s on; waiting; load $(loadavg)"
      wait "$CPID" || true
      tail -4 "$OUT/lateness.err" >&2
      log "lateness: broker $(mem "$BROKER_PID") $(timer_keys) load $(loadavg)"
      ;;
    *) echo "unknown phase $phase" >&2; exit 2 ;;
  esac
  stop_pid "$BROKER_PID"; stop_pid "$NS_PID"
  [ -n "${KEEP:-}" ] || rm -rf "$dir"
done
log "records in $OUT/timer.jsonl"
