# shellcheck shell=bash
# bench/peers.sh — the peer brokers of bench/compare.sh (sourced by it, not run): NATS JetStream,
# Redis Streams and RabbitMQ streams, each installed from Debian when absent (as root), started
# on free loopback ports with all state under the run's temp dir, driven in mqbench's shapes
# and stopped by PID. The caller sets ROOT, WORK, OUT, PIDS, SRV_PIN, CLI_PIN, PLACEMENT,
# WARMUP, DURATION, BACKLOG_MSGS and has sourced bench/lib.sh.
#
# Each run_<peer> SCENARIO ROUND prints one JSON record (and appends it to $OUT/results.jsonl)
# or returns 1 when the peer has no equivalent of SCENARIO. Records carry `durability` (what an
# acknowledgement means on that peer) and `equal_durability` (false where it is weaker than
# rmq's for the scenario: summary.py then leaves the row out of "best peer").
#
# Equivalents (rmq: mqbench, see compare.sh's help):
#   async256     nats: 256 acked publishes in flight; redis: redis-benchmark XADD -c 1 -P 256;
#                rabbitmq: 256 unconfirmed sends (the client batches them on the wire itself)
#   batch32      nats: 512 publishes in flight (JetStream 2.9 has no batch publish);
#                redis: 16 connections x 32 pipelined XADD; rabbitmq: batch_send of 32, 16 in flight
#   sync1        one at a time on each
#   syncflush64  64 in flight on one connection; redis: appendfsync always (equal durability);
#                nats 2.9 and rabbitmq 3.10 streams have no per-message fsync (not equal)
#   consume      load BACKLOG_MSGS, then drain from the start with one reader
#   e2e10k       10k msgs/s, latency send -> receipt (body stamp), 64 sends in flight at most
#   X-ab         (async256-ab, e2e10k-ab: rmq with its producer's --auto-batch) the peers run X

NATS_BENCH=$ROOT/bench/peers/nats-bench/target/release/nats-bench
PEER_BENCH=$ROOT/bench/peers/peer-bench/target/release/peer-bench
PEER_DATA=$(head -c 1024 /dev/zero | tr '\0' a)

# apt_install PKG: install a Debian package when running as root; otherwise say how and fail.
apt_install() {
  if [ "$(id -u)" != 0 ]; then log "$1 is not installed and this is not root: skipping (apt-get install $1)"; return 1; fi
  log "installing $1 from Debian"
  apt-get install -y -q "$1" >/dev/null || { log "apt-get install $1 failed"; return 1; }
  # Debian may start a system-wide instance on the default port: this script runs its own.
  case $1 in
    redis-server) service redis-server stop >/dev/null 2>&1 || true ;;
    nats-server) systemctl disable --now nats-server >/dev/null 2>&1 || true ;;
    rabbitmq-server) service rabbitmq-server stop >/dev/null 2>&1 || true ;;
  esac
}

# build_driver MANIFEST_DIR: release-build one of bench/peers/* on first use.
build_driver() {
  [ -x "$ROOT/bench/peers/$1/target/release/$1" ] && return 0
  log "building bench/peers/$1"
  nice -n 19 cargo build -q --release --manifest-path "$ROOT/bench/peers/$1/Cargo.toml"
}

# ensure_peer PEER: the server, its tools and its driver are here (installs/builds them).
ensure_peer() {
  case $1 in
    nats) command -v nats-server >/dev/null || apt_install nats-server || return 1
          build_driver nats-bench ;;
    redis) command -v redis-server >/dev/null && command -v redis-benchmark >/dev/null || apt_install redis-server || return 1
           build_driver peer-bench ;;
    rabbitmq) [ -x /usr/lib/rabbitmq/bin/rabbitmq-server ] || apt_install rabbitmq-server || return 1
              command -v epmd >/dev/null || { log "rabbitmq: no epmd"; return 1; }
              build_driver peer-bench ;;
    *) log "unknown peer $1"; return 1 ;;
  esac
}

# client_cpu FILE: user+sys seconds of the client run that /usr/bin/time wrote to FILE (0 if none).
CLI_TIME=()
command -v /usr/bin/time >/dev/null && CLI_TIME=(/usr/bin/time -f '%U %S' -o)
client_cpu() { [ -s "$1" ] && awk 'END { print $1 + $2 }' "$1" || echo 0; }
# timed FILE CMD...: run CMD (pinned as the client) with its CPU time written to FILE.
timed() { local f=$1; shift; if [ ${#CLI_TIME[@]} -gt 0 ]; then "${CLI_TIME[@]}" "$f" "${CLI_PIN[@]}" "$@"; else "${CLI_PIN[@]}" "$@"; fi; }

# proc_cpu PID: user+sys clock ticks of a process so far.
proc_cpu() { awk '{print $14+$15}' "/proc/$1/stat" 2>/dev/null || echo 0; }

# emit JSON SYSTEM SCENARIO ROUND LA0 LA1 CPU0 CPU1 CLIENT_TIME_FILE DURABILITY EQUAL: the
# driver's record with the run's context added, printed and appended to results.jsonl.
emit() {
  python3 -c 'import json,sys; a=sys.argv; r=json.loads(a[1]) if a[1] else {"msgs_s":0,"failed":-1}
r.update(system=a[2], scenario=a[3], round=int(a[4]), placement=a[5], load_before=a[6], load_after=a[7],
 broker_cpu_s=(int(a[9])-int(a[8]))/int(a[10]), client_cpu_s=float(a[11]), durability=a[12], equal_durability=a[13]=="yes")
print(json.dumps(r))' "$1" "$2" "$3" "$4" "$PLACEMENT" "$5" "$6" "$7" "$8" "$(getconf CLK_TCK)" "$(client_cpu "$9")" "${10}" "${11}" \
    | tee -a "$OUT/results.jsonl"
}

# Redis Streams: XADD of a 1 KiB field, AOF everysec (~ ASYNC_FLUSH) or always (SYNC_FLUSH).
# Sends are measured by redis-benchmark (Redis's own tool, pipelined), reads and e2e by
# bench/peers/peer-bench (XREAD COUNT 1000).
run_redis() {
  local sc=$1 r=$2 dir="$WORK/redis-$1-$2" port fsync=everysec c=1 P=1 n="" la0 la1 cpu0 cpu1 pid json csv
  case "${sc%-ab}" in
    # redis-benchmark runs a count, not a time: about DURATION seconds at the rates seen here.
    async256) P=256; n=${REDIS_N:-$((150000 * DURATION))} ;;
    batch32) c=16; P=32; n=${REDIS_N:-$((150000 * DURATION))} ;;
    sync1) n=${REDIS_N:-$((15000 * DURATION))} ;;
    syncflush64) c=64; n=${REDIS_N:-$((20000 * DURATION))}; fsync=always ;;
    consume|e2e10k) ;;
    *) return 1 ;;
  esac
  mkdir -p "$dir"; port=$(pick_ports)
  "${SRV_PIN[@]}" redis-server --bind 127.0.0.1 --port "$port" --save '' --appendonly yes --appendfsync "$fsync" --dir "$dir" >"$dir/redis.log" 2>&1 & pid=$!
  PIDS+=("$pid"); wait_port "$port" 20
  if [ "$sc" = consume ]; then
    "${CLI_PIN[@]}" redis-benchmark -h 127.0.0.1 -p "$port" -c 1 -P 256 -n "$BACKLOG_MSGS" XADD s '*' f "$PEER_DATA" >/dev/null 2>"$dir/load.err"
  fi
  la0=$(loadavg); cpu0=$(proc_cpu "$pid")
  case "${sc%-ab}" in
    consume) json=$(timed "$dir/client.time" "$PEER_BENCH" --port "$port" --stream s redis consume --count "$BACKLOG_MSGS" 2>"$dir/bench.err" | tail -1) ;;
    e2e10k) json=$(timed "$dir/client.time" "$PEER_BENCH" --port "$port" --stream s redis e2e -s 1024 --rate 10000 --inflight 64 --warmup "$WARMUP" --duration "$DURATION" 2>"$dir/bench.err" | tail -1) ;;
    *)
      csv=$(timed "$dir/client.time" redis-benchmark -h 127.0.0.1 -p "$port" -c "$c" -P "$P" -n "$n" --csv XADD s '*' f "$PEER_DATA" 2>/dev/null | tail -1)
      # CSV: "test","rps","avg_latency_ms","min_latency_ms","p50_latency_ms","p95_latency_ms","p99_latency_ms","max_latency_ms"
      json=$(python3 -c 'import csv,json,sys; row=next(csv.reader([sys.argv[1]])); f=lambda i: float(row[i]); print(json.dumps(dict(msgs_s=f(1), p50_us=int(f(4)*1000), p99_us=int(f(6)*1000), max_us=int(f(7)*1000), msgs=int(sys.argv[2]), failed=0)))' "$csv" "$n" 2>/dev/null || true) ;;
  esac
  cpu1=$(proc_cpu "$pid"); la1=$(loadavg)
  stop_pid "$pid"
  emit "$json" redis "$sc" "$r" "$la0" "$la1" "$cpu0" "$cpu1" "$dir/client.time" "AOF appendfsync $fsync" yes
  rm -rf "$dir"
}

# NATS JetStream (Debian's 2.9): file storage, default flushing. nats-server 2.9 has no
# per-message fsync setting (`sync_interval` is rejected as an unknown field: it came in 2.10),
# so its syncflush64 row is not at equal durability.
run_nats() {
  local sc=$1 r=$2 dir="$WORK/nats-$1-$2" port pid url json la0 la1 cpu0 cpu1 args equal=yes
  case "${sc%-ab}" in
    async256) args=(produce -s 1024 --inflight 256 --warmup "$WARMUP" --duration "$DURATION") ;;
    batch32) args=(produce -s 1024 --inflight 512 --warmup "$WARMUP" --duration "$DURATION") ;;
    sync1) args=(produce -s 1024 --inflight 1 --warmup "$WARMUP" --duration "$DURATION") ;;
    syncflush64) args=(produce -s 1024 --inflight 64 --warmup "$WARMUP" --duration "$DURATION"); equal=no ;;
    consume) args=(consume --count "$BACKLOG_MSGS") ;;
    e2e10k) args=(e2e -s 1024 --rate 10000 --inflight 64 --warmup "$WARMUP" --duration "$DURATION") ;;
    *) return 1 ;;
  esac
  mkdir -p "$dir"; port=$(pick_ports); url="nats://127.0.0.1:$port"
  "${SRV_PIN[@]}" nats-server -a 127.0.0.1 -p "$port" -js -sd "$dir" >"$dir/nats.log" 2>&1 & pid=$!
  PIDS+=("$pid"); wait_port "$port" 20
  if [ "$sc" = consume ]; then
    "${CLI_PIN[@]}" "$NATS_BENCH" --url "$url" produce -s 1024 --inflight 256 --warmup 0 --count "$BACKLOG_MSGS" --duration 900 >/dev/null 2>"$dir/load.err"
  fi
  la0=$(loadavg); cpu0=$(proc_cpu "$pid")
  json=$(timed "$dir/client.time" "$NATS_BENCH" --url "$url" "${args[@]}" 2>"$dir/bench.err" | tail -1)
  cpu1=$(proc_cpu "$pid"); la1=$(loadavg)
  stop_pid "$pid"
  emit "$json" nats "$sc" "$r" "$la0" "$la1" "$cpu0" "$cpu1" "$dir/client.time" "page cache (2.9: no fsync setting)" "$equal"
  rm -rf "$dir"
}

# RabbitMQ 3.10 streams through the stream protocol (rabbitmq_stream plugin). One node per run
# with its own node name, Erlang cookie (HOME), epmd (own port, started here in the foreground
# so it has a PID), distribution port bound to 127.0.0.1, AMQP and stream listeners on free
# loopback ports, and mnesia/stream data, logs and config in the run directory: nothing of a
# system-wide instance is used. Stream confirms mean "written" (3.10's osiris 1.3.1 log
# imports neither file:sync nor file:datasync), so syncflush64 is not at equal durability.
RABBIT_HOME=/usr/lib/rabbitmq/bin

# start_rabbitmq DIR -> RABBIT_ENV, RABBIT_STREAM_PORT, RABBIT_PID (the beam), RABBIT_PIDS
start_rabbitmq() {
  local dir=$1 amqp stream dist epmd_port spid epmd_pid node="mqbench$$-$RANDOM"
  mkdir -p "$dir/log"
  amqp=$(rmq_free_port); stream=$(rmq_free_port); dist=$(rmq_free_port); epmd_port=$(rmq_free_port)
  printf '[rabbitmq_stream].\n' >"$dir/enabled_plugins"
  : >"$dir/rabbitmq-env.conf"
  cat >"$dir/rabbitmq.conf" <<CONF
listeners.tcp.1 = 127.0.0.1:$amqp
stream.listeners.tcp.1 = 127.0.0.1:$stream
stream.advertised_host = 127.0.0.1
stream.advertised_port = $stream
CONF
  RABBIT_ENV=(HOME="$dir" RABBITMQ_NODENAME="$node@localhost" RABBITMQ_NODE_IP_ADDRESS=127.0.0.1
    RABBITMQ_NODE_PORT="$amqp" RABBITMQ_DIST_PORT="$dist" ERL_EPMD_PORT="$epmd_port" ERL_EPMD_ADDRESS=127.0.0.1
    RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS="-kernel inet_dist_use_interface {127,0,0,1}"
    RABBITMQ_MNESIA_BASE="$dir/mnesia" RABBITMQ_LOG_BASE="$dir/log" RABBITMQ_ENABLED_PLUGINS_FILE="$dir/enabled_plugins"
    RABBITMQ_CONFIG_FILE="$dir/rabbitmq.conf" RABBITMQ_CONF_ENV_FILE="$dir/rabbitmq-env.conf"
    RABBITMQ_ADVANCED_CONFIG_FILE="$dir/advanced.config" RABBITMQ_PID_FILE="$dir/rabbit.pid")
  env "${RABBIT_ENV[@]}" epmd -port "$epmd_port" -address 127.0.0.1 >"$dir/epmd.log" 2>&1 & epmd_pid=$!
  PIDS+=("$epmd_pid")
  env "${RABBIT_ENV[@]}" "${SRV_PIN[@]}" "$RABBIT_HOME/rabbitmq-server" >"$dir/server.log" 2>&1 & spid=$!
  PIDS+=("$spid")
  RABBIT_PIDS="$spid $epmd_pid"; RABBIT_STREAM_PORT=$stream
  # The stream listener opens before the boot ends (connections are closed until then): wait for
  # the boot's last line.
  rmq_wait_log "$dir/log/$node@localhost.log" 'Server startup complete' 120 "$spid" ||
    { log "rabbitmq: $(tail -c 400 "$dir/server.log")"; return 1; }
  RABBIT_PID=$(pgrep -P "$spid" -x beam.smp | head -1)
  [ -n "$RABBIT_PID" ] || { log "rabbitmq: no beam.smp under $spid"; return 1; }
  PIDS+=("$RABBIT_PID")
}
# stop_rabbitmq: SIGTERM to the beam (Erlang's graceful init:stop, what `rabbitmqctl stop` asks
# for without starting a second VM), then the script and epmd, each by PID.
stop_rabbitmq() {
  local p; for p in ${RABBIT_PID:-} $RABBIT_PIDS; do stop_pid "$p"; done
}

run_rabbitmq() {
  local sc=$1 r=$2 dir="$WORK/rabbitmq-$1-$2" json la0 la1 cpu0 cpu1 args equal=yes cli
  case "${sc%-ab}" in
    async256) args=(produce -s 1024 --inflight 256 --warmup "$WARMUP" --duration "$DURATION") ;;
    batch32) args=(produce -s 1024 -b 32 --inflight 16 --warmup "$WARMUP" --duration "$DURATION") ;;
    sync1) args=(produce -s 1024 --inflight 1 --warmup "$WARMUP" --duration "$DURATION") ;;
    syncflush64) args=(produce -s 1024 --inflight 64 --warmup "$WARMUP" --duration "$DURATION"); equal=no ;;
    consume) args=(consume --count "$BACKLOG_MSGS") ;;
    e2e10k) args=(e2e -s 1024 --rate 10000 --inflight 64 --warmup "$WARMUP" --duration "$DURATION") ;;
    *) return 1 ;;
  esac
  start_rabbitmq "$dir" || { stop_rabbitmq; return 1; }
  cli=("$PEER_BENCH" --port "$RABBIT_STREAM_PORT" --stream "bench-$sc" rabbitmq)
  if [ "$sc" = consume ]; then
    "${CLI_PIN[@]}" "${cli[@]}" produce -s 1024 -b 32 --inflight 16 --warmup 0 --count "$BACKLOG_MSGS" --duration 900 >/dev/null 2>"$dir/load.err"
  fi
  la0=$(loadavg); cpu0=$(proc_cpu "$RABBIT_PID")
  json=$(timed "$dir/client.time" "${cli[@]}" "${args[@]}" 2>"$dir/bench.err" | tail -1)
  cpu1=$(proc_cpu "$RABBIT_PID"); la1=$(loadavg)
  stop_rabbitmq
  emit "$json" rabbitmq "$sc" "$r" "$la0" "$la1" "$cpu0" "$cpu1" "$dir/client.time" "page cache (3.10 streams: no fsync)" "$equal"
  rm -rf "$dir"
}
