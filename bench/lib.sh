# shellcheck shell=bash disable=SC2030,SC2031  # the peer env is set in subshells on purpose
# bench/lib.sh — helpers shared by compare.sh, startup.sh and ha.sh (sourced, not run).
#
# Starting and stopping rmq (ours) and rocketmq-rust 1.0 (the peer) on free loopback ports,
# each with all its state under one directory. The caller sets BIN (our release binaries),
# PEER_BIN (rocketmq-rust binaries), the array PIDS (every started PID is appended, for the
# caller's exit trap) and optionally the array SRV_PIN (e.g. `taskset -c 0`). The system
# `rmq-base` is rmq from another build, BASE_BIN (a before/after A/B of our own code).
#
# rocketmq-rust 1.0 specifics handled here (see also /work/shared/peers/rocketmq-rust/start.sh):
#   * config is TOML: the name server's `-c namesrv.toml`, the broker's `-c broker.toml` with
#     [broker], [broker.brokerServerConfig], [broker.brokerIdentity] and [store] tables
#     (store keys are camelCase and unknown keys are rejected); flushDiskType takes
#     "ASYNC_FLUSH" / "SYNC_FLUSH";
#   * ROCKETMQ_SECURITY_PROFILE=development-insecure-loopback (else it refuses to start without
#     TLS/ACL settings) and ROCKETMQ_HOME; HOME is pointed into the run directory;
#   * readiness is the log line `Broker lifecycle transition ... state="ready"` (ANSI-coloured);
#     ours logs "boot success";
#   * it needs the header field serializeTypeCurrentRPC, which mq-client always sends, so no
#     header shim is used.

# Free ports, port waits and stopping one PID come from scripts/lib.sh (sourcing it defines
# functions only). Polls every 50 ms: startup.sh times how fast a server comes up.
RMQ_POLL_S=${RMQ_POLL_S:-0.05}
# shellcheck source=scripts/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/../scripts/lib.sh"

log() { echo "[$(date -u +%H:%M:%S)] $*" >&2; }
loadavg() { cut -d' ' -f1-3 /proc/loadavg; }
now_ms() { date +%s%3N; }
rss_kib() { awk '/VmRSS/{print $2}' "/proc/$1/status"; }

# A base port P below the ephemeral range with P-2, P, P+1 and P+10 free (broker fast port,
# main port, HA port, name server).
pick_ports() { rmq_free_port -2 1 5 10; }
wait_port() { rmq_wait_port "$1" "$2"; } # port timeout_s
# SIGTERM, wait up to 60 s for a clean exit, then SIGKILL.
stop_pid() { rmq_stop_pid "$1" 60; }

# rmq_bin SYSTEM: the directory holding that rmq system's server binaries.
rmq_bin() { if [ "$1" = rmq-base ]; then echo "${BASE_BIN:?rmq-base needs BASE_BIN}"; else echo "$BIN"; fi; }

# PAGECACHE=cold|steady and FILLER (compare.sh's and ha.sh's help); the caller removes FILLER on
# exit unless KEEP_FILLER is set.
PAGECACHE=${PAGECACHE:-cold}
FILLER=${FILLER:-/var/tmp/mqbench-pagecache-filler}
# steady_pagecache: make free memory small by reading a sparse file (reading a hole puts a clean
# zero page in the page cache without disk I/O or disk space). A run then gets its new pages by
# reclaiming clean cache, i.e. memory the hypervisor already backs, instead of fresh guest pages
# (the free-page-reporting balloon returns freed guest memory to the host within seconds, and
# touching it again costs a host fault: dd into tmpfs runs at 0.3 GB/s cold vs 1.9 GB/s warm).
steady_pagecache() {
  [ "$PAGECACHE" = steady ] || return 0
  local total_kib; total_kib=$(awk '/MemTotal/{print $2}' /proc/meminfo)
  local size=$(( (total_kib / 1024 - ${FILLER_HEADROOM_MIB:-3072}) * 1024 * 1024 ))
  [ -f "$FILLER" ] || truncate -s "$size" "$FILLER"
  cat "$FILLER" >/dev/null
  log "page cache filled: MemFree $(awk '/MemFree/{print int($2/1024)}' /proc/meminfo) MiB"
}

# start_namesrv SYSTEM DIR PORT -> NS_PID
start_namesrv() {
  local sys=$1 dir=$2 ns=$3
  mkdir -p "$dir"
  if [[ $sys == rmq || $sys == rmq-* ]]; then
    "${SRV_PIN[@]}" "$(rmq_bin "$sys")/mqnamesrv" --listen "127.0.0.1:$ns" ${RMQ_NAMESRV_SETS[@]+"${RMQ_NAMESRV_SETS[@]}"} \
      >>"$dir/namesrv.log" 2>&1 & NS_PID=$!
  else
    mkdir -p "$dir/home/conf" "$dir/namesrv"
    cat >"$dir/namesrv.toml" <<TOML
rocketmqHome = "$dir/home"
kvConfigPath = "$dir/namesrv/kvConfig.json"
configStorePath = "$dir/namesrv/rocketmq-namesrv.properties"
TOML
    ( export ROCKETMQ_HOME="$dir/home" ROCKETMQ_SECURITY_PROFILE=development-insecure-loopback HOME="$dir"
      exec "${SRV_PIN[@]}" "$PEER_BIN/rocketmq-namesrv-rust" -c "$dir/namesrv.toml" --listenPort "$ns" --bindAddress 127.0.0.1 ) \
      >>"$dir/namesrv.log" 2>&1 & NS_PID=$!
  fi
  PIDS+=("$NS_PID")
  wait_port "$ns" 20
}

# start_broker SYSTEM DIR NS_PORT BROKER_PORT FLUSH -> BROKER_PID (log appended to DIR/broker.log)
# Ours also takes the caller's arrays RMQ_BROKER_SETS and RMQ_NAMESRV_SETS (`--set key=value`).
start_broker() {
  local sys=$1 dir=$2 ns=$3 bp=$4 flush=$5
  mkdir -p "$dir/store"
  if [[ $sys == rmq || $sys == rmq-* ]]; then
    # rmq-metrics: the same broker with the Prometheus endpoint on BROKER_PORT+5 (the
    # compare.sh peer that measures what metrics cost).
    local metrics=()
    [ "$sys" = rmq-metrics ] && metrics=(--set metricsExporterType=PROM --set "metricsPromExporterPort=$((bp + 5))")
    # rmq-alt: the same build with ALT_SETS ("key=value ...") on top: an A/B of a setting.
    if [ "$sys" = rmq-alt ]; then local kv; for kv in ${ALT_SETS:?rmq-alt needs ALT_SETS}; do metrics+=(--set "$kv"); done; fi
    "${SRV_PIN[@]}" "$(rmq_bin "$sys")/mqbroker" -n "127.0.0.1:$ns" --set listenPort="$bp" --set brokerIP1=127.0.0.1 \
      --set storePathRootDir="$dir/store" --set flushDiskType="$flush" "${metrics[@]}" ${RMQ_BROKER_SETS[@]+"${RMQ_BROKER_SETS[@]}"} \
      >>"$dir/broker.log" 2>&1 & BROKER_PID=$!
  else
    mkdir -p "$dir/home/conf"
    cat >"$dir/home/conf/broker.toml" <<TOML
[broker]
namesrvAddr = "127.0.0.1:$ns"
brokerIp1 = "127.0.0.1"
listenPort = $bp
storePathRootDir = "$dir/store"
autoCreateTopicEnable = true

[broker.brokerServerConfig]
bindAddress = "127.0.0.1"

[broker.brokerIdentity]
brokerName = "broker-a"
brokerClusterName = "DefaultCluster"
brokerId = 0

[store]
storeType = "LocalFile"
brokerRole = "ASYNC_MASTER"
flushDiskType = "$flush"
storePathRootDir = "$dir/store"
haListenAddress = "127.0.0.1"
haListenPort = $((bp + 1))
# serde(default) would make these 0 (its Default impl, i.e. Java's defaults, has 10 / 600000)
deleteFileBatchMax = 10
putMsgIndexHightWater = 600000
TOML
    ( export ROCKETMQ_HOME="$dir/home" ROCKETMQ_SECURITY_PROFILE=development-insecure-loopback HOME="$dir"
      exec "${SRV_PIN[@]}" "$PEER_BIN/rocketmq-broker-rust" -c "$dir/home/conf/broker.toml" -n "127.0.0.1:$ns" ) \
      >>"$dir/broker.log" 2>&1 & BROKER_PID=$!
  fi
  PIDS+=("$BROKER_PID")
}

# broker_ready_count SYSTEM DIR: how many times the broker logged readiness in DIR/broker.log.
broker_ready_count() {
  if [[ $1 == rmq || $1 == rmq-* ]]; then grep -c "boot success" "$2/broker.log" 2>/dev/null || true
  else sed 's/\x1b\[[0-9;]*m//g' "$2/broker.log" 2>/dev/null | grep -c 'Broker lifecycle transition.*state="ready"' || true
  fi
}

# wait_ready SYSTEM DIR BEFORE_COUNT TIMEOUT_S: wait until a new readiness line appears.
wait_ready() {
  local deadline=$((SECONDS + $4)) n
  while [ $SECONDS -lt "$deadline" ]; do
    n=$(broker_ready_count "$1" "$2"); [ "${n:-0}" -gt "$3" ] && return 0
    kill -0 "$BROKER_PID" 2>/dev/null || { echo "broker exited: $(tail -c 400 "$2/broker.log")" >&2; return 1; }
    sleep 0.002
  done
  echo "broker not ready within $4 s" >&2; return 1
}
