#!/usr/bin/env bash
# Soak: a mixed hostile load against mqnamesrv + mqbroker + mqconsole for a configurable time,
# with a normal producer and consumer alongside, reporting every SOAK_SAMPLE_S seconds each
# server's RSS (total and anonymous), open fds, the store's disk use, error lines in the logs
# and the normal clients' failures. Not part of CI (issue 16: a documented command).
#
#   scripts/soak.sh                      # 300 s, release build
#   SOAK_SECS=3600 scripts/soak.sh       # an hour
#   RMQ_PROFILE=debug SOAK_SECS=60 scripts/soak.sh
#
# Hostile clients (scripts/soak_hostile.py, one process per mode, rounds until the end):
# stalled 16 MiB frame headers, pipelined requests never read, connection floods past the
# cap, 20,000 parked pulls per connection, 5,000-group heartbeats, malformed frames (against
# the broker), connection floods and malformed frames (against the name server), half-sent
# HTTP requests (against the console). Normal load: `mqbench producer` at SOAK_RATE msgs/s
# (200) and `mqbench consumer` on the same topic.
#
# Output: a table on stdout and CSV in $SOAK_OUT (default ./soak-<date>.csv); the last lines
# compare the first and last samples and the peaks. Exits 1 if a server died, the normal
# producer saw failures, or nothing was consumed. Knobs: SOAK_SECS (300), SOAK_SAMPLE_S (10),
# SOAK_RATE (200), SOAK_OUT, RMQ_PROFILE (release), RMQ_KEEP=1 (keep the temp dir).
set -euo pipefail
# shellcheck source=scripts/lib.sh
. "$(dirname "$0")/lib.sh"
cd "$RMQ_ROOT"

SOAK_SECS=${SOAK_SECS:-300}
SOAK_SAMPLE_S=${SOAK_SAMPLE_S:-10}
SOAK_RATE=${SOAK_RATE:-200}
SOAK_OUT=${SOAK_OUT:-$RMQ_ROOT/soak-$(date +%Y%m%d-%H%M%S).csv}

rmq_install_traps
rmq_workdir rmq-soak
rmq_build

rmq_on_exit() {
  [ "$1" -eq 0 ] || rmq_tail_logs "$RMQ_WORK/namesrv.log" "$RMQ_WORK/broker.log" "$RMQ_WORK/console.log"
}

# Servers: limits low enough that the hostile load reaches them in a short run.
MQNAMESRV_SERVER_MAX_CONNECTIONS=1000 rmq_start_namesrv
rmq_start_broker "" --set serverMaxConnections=1000 --set serverChannelMaxIdleTimeSeconds=30 \
  --set maxParkedPullsPerConnection=1000 --set mappedFileSizeCommitLog=67108864
rmq_wait_log "$RMQ_WORK/broker.log" "boot success" 60 "$BROKER_PID"
CONSOLE_PORT=$(rmq_free_port)
printf 'httpHeaderTimeoutSecs=5\nhttpMaxConnections=200\ndataPath=%s\nadminPassword=soak\n' \
  "$RMQ_WORK/console" >"$RMQ_WORK/console.conf"
"$RMQ_BIN/mqconsole" -c "$RMQ_WORK/console.conf" -n "$NAMESRV" --listen "127.0.0.1:$CONSOLE_PORT" \
  >"$RMQ_WORK/console.log" 2>&1 &
CONSOLE_PID=$!
rmq_track "$CONSOLE_PID"
rmq_wait_http "http://127.0.0.1:$CONSOLE_PORT/health" 60 "$CONSOLE_PID"
"$RMQ_BIN/mqadmin" updateTopic -n "$NAMESRV" -b "$BROKER" -t SoakTopic -r 4 -w 4 >/dev/null
"$RMQ_BIN/mqadmin" updateTopic -n "$NAMESRV" -b "$BROKER" -t SoakEmpty -r 1 -w 1 >/dev/null

# Normal load.
"$RMQ_BIN/mqbench" consumer -n "$NAMESRV" -t SoakTopic -g SoakConsumer --duration "$SOAK_SECS" \
  >"$RMQ_WORK/consumer.out" 2>&1 &
rmq_track $!
"$RMQ_BIN/mqbench" producer -n "$NAMESRV" -t SoakTopic --rate "$SOAK_RATE" --duration "$SOAK_SECS" \
  >"$RMQ_WORK/producer.out" 2>&1 &
PRODUCER_PID=$!
rmq_track "$PRODUCER_PID"

# Hostile load.
hostile() { # MODE ADDR
  python3 "$RMQ_ROOT/scripts/soak_hostile.py" "$1" "$2" "$SOAK_SECS" >>"$RMQ_WORK/hostile.log" 2>&1 &
  rmq_track $!
}
for mode in stalled-headers never-read conn-flood parked-pulls group-heartbeat garbage; do
  hostile "$mode" "$BROKER"
done
hostile conn-flood "$NAMESRV"
hostile garbage "$NAMESRV"
hostile http-slow "127.0.0.1:$CONSOLE_PORT"

# Sampling.
status_kb() { awk -v f="$2:" '$1 == f { print $2 }' "/proc/$1/status" 2>/dev/null || echo 0; }
fds() { find "/proc/$1/fd" -mindepth 1 -maxdepth 1 2>/dev/null | wc -l; }
errors() { grep -Ec ' ERROR |panicked' "$1" 2>/dev/null || true; }
header="secs,broker_rss_kb,broker_anon_kb,broker_fds,store_bytes,namesrv_rss_kb,namesrv_fds,console_rss_kb,console_fds,error_lines,producer_failed"
echo "$header" >"$SOAK_OUT"
printf '%6s %10s %10s %6s %12s %9s %5s %9s %5s %6s %6s\n' secs broker_rss anon fds store_bytes ns_rss fds con_rss fds errors failed
start=$SECONDS
died=""
while [ $((SECONDS - start)) -lt "$SOAK_SECS" ]; do
  sleep "$SOAK_SAMPLE_S"
  for p in "$NS_PID:namesrv" "$BROKER_PID:broker" "$CONSOLE_PID:console"; do
    kill -0 "${p%%:*}" 2>/dev/null || died="$died ${p#*:}"
  done
  [ -z "$died" ] || break
  failed=$(grep -Eo '[0-9]+ failed' "$RMQ_WORK/producer.out" | tail -1 | cut -d' ' -f1)
  errs=$(($(errors "$RMQ_WORK/broker.log") + $(errors "$RMQ_WORK/namesrv.log") + $(errors "$RMQ_WORK/console.log")))
  row="$((SECONDS - start)),$(status_kb "$BROKER_PID" VmRSS),$(status_kb "$BROKER_PID" RssAnon),$(fds "$BROKER_PID"),$(du -sb "$RMQ_WORK/store" | cut -f1),$(status_kb "$NS_PID" VmRSS),$(fds "$NS_PID"),$(status_kb "$CONSOLE_PID" VmRSS),$(fds "$CONSOLE_PID"),$errs,${failed:-0}"
  echo "$row" >>"$SOAK_OUT"
  # shellcheck disable=SC2086  # split the CSV row into printf's arguments
  printf '%6s %10s %10s %6s %12s %9s %5s %9s %5s %6s %6s\n' ${row//,/ }
done

wait "$PRODUCER_PID" 2>/dev/null || true
echo
echo "hostile rounds: $(wc -l <"$RMQ_WORK/hostile.log"); last of each mode:"
awk '{ last[$1] = $0 } END { for (m in last) print "  " last[m] }' "$RMQ_WORK/hostile.log"
echo "producer: $(tail -n 3 "$RMQ_WORK/producer.out" | tr '\n' ' ')"
echo "consumer: $(tail -n 3 "$RMQ_WORK/consumer.out" | tr '\n' ' ')"
python3 - "$SOAK_OUT" <<'EOF'
import csv, sys
rows = list(csv.DictReader(open(sys.argv[1])))
if rows:
    first, last = rows[0], rows[-1]
    print(f"{'metric':16} {'first':>12} {'last':>12} {'peak':>12}")
    for k in rows[0]:
        if k == "secs":
            continue
        peak = max(int(r[k] or 0) for r in rows)
        print(f"{k:16} {first[k]:>12} {last[k]:>12} {peak:>12}")
print(f"csv: {sys.argv[1]}")
EOF
rc=0
[ -z "$died" ] || { rmq_log "server(s) died:$died"; rc=1; }
failed=$(grep -Eo '[0-9]+ failed' "$RMQ_WORK/producer.out" | tail -1 | cut -d' ' -f1)
[ "${failed:-0}" -eq 0 ] || { rmq_log "the normal producer saw $failed failed sends"; rc=1; }
grep -Eq '[1-9][0-9]* msgs' "$RMQ_WORK/consumer.out" || { rmq_log "the normal consumer got nothing"; rc=1; }
exit $rc
