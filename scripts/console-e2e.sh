#!/usr/bin/env bash
# End-to-end test of the web console in a real headless browser.
#
#   scripts/console-e2e.sh [fake|real|both]   (default: both when the broker is built, else fake)
#
# fake: mqconsole --fake-backend (in-memory demo cluster): a fast UI smoke test.
# real: mqnamesrv + mqbroker + mqconsole on free loopback ports and temp dirs, plus a consumer
#       (mq-client example) so a group with lag exists; then a second broker (broker-b) joins
#       and is frozen (SIGSTOP: still registered, never answers) for a "one broker down" pass.
# Installs what it needs (Debian chromium, playwright-core from console/tests/e2e/package-lock.json),
# builds in release mode (E2E_PROFILE=debug or RMQ_PROFILE=debug for a quicker local run), always kills what it
# started, and saves screenshots under console/tests/screenshots/<mode>/ (git-ignored).
set -euo pipefail

RMQ_PROFILE="${E2E_PROFILE:-${RMQ_PROFILE:-release}}"
# shellcheck source=scripts/lib.sh
. "$(dirname "$0")/lib.sh"
ROOT=$RMQ_ROOT
MODE="${1:-auto}"
E2E_DIR="$ROOT/console/tests/e2e"
SHOTS_ROOT="$ROOT/console/tests/screenshots"
BIN="$RMQ_BIN"

rmq_on_exit() { # rc
  [ "$1" -eq 0 ] || rmq_tail_logs "$RMQ_WORK"/*.log "$RMQ_WORK"/*/*.log
}
rmq_install_traps
rmq_workdir rmq-console-e2e
WORK=$RMQ_WORK

log() { echo "[console-e2e] $*"; }

ensure_tools() {
  if ! command -v /usr/bin/chromium >/dev/null 2>&1; then
    log "installing chromium (Debian package)"
    if [ "$(id -u)" = 0 ]; then SUDO=""; else SUDO="sudo"; fi
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq chromium >/dev/null
  fi
  if [ ! -d "$E2E_DIR/node_modules/playwright-core" ]; then
    log "installing playwright-core (npm ci)"
    (cd "$E2E_DIR" && npm ci --no-audit --no-fund --silent)
  fi
}

start_console() { # $1 = extra args...; sets CONSOLE_URL
  local port; port="$(rmq_free_port)"
  ADMIN_PASSWORD="e2e-$(head -c 12 /dev/urandom | od -An -tx1 | tr -d ' \n')"
  mkdir -p "$WORK/console-data"
  cat > "$WORK/console.conf" <<CONF
adminPassword = $ADMIN_PASSWORD
sampleIntervalSecs = 1
clusterCacheMillis = 500
brokerTimeoutMillis = 1000
dataPath = $WORK/console-data
CONF
  "$BIN/mqconsole" -c "$WORK/console.conf" --listen "127.0.0.1:$port" "$@" > "$WORK/console.log" 2>&1 &
  local pid=$!
  rmq_track "$pid"
  CONSOLE_URL="http://127.0.0.1:$port"
  rmq_wait_http "$CONSOLE_URL/health" 60 "$pid"
  export ADMIN_PASSWORD CONSOLE_URL
}

run_browser() { # $1 = mode
  local shots="$SHOTS_ROOT/$1"
  rm -rf "$shots"; mkdir -p "$shots"
  log "browser test ($1) against $CONSOLE_URL"
  (cd "$E2E_DIR" && E2E_MODE="$1" SCREENSHOT_DIR="$shots" node console.e2e.mjs)
}

stop_all() { rmq_stop_tracked; }

run_fake() {
  start_console --fake-backend
  E2E_GROUP=GroupA E2E_DLQ_GROUP=GroupA E2E_PRODUCER_GROUP=ProducerGroupA E2E_PRODUCER_TOPIC=TopicTest run_browser fake
  stop_all
  # The same demo cluster with broker-b failing: partial results and named failures.
  start_console --fake-backend --fake-failing-broker broker-b
  run_browser partial
  stop_all
}

broker_available() {
  [ -x "$BIN/mqbroker" ] && [ -x "$BIN/mqnamesrv" ] && [ -x "$BIN/examples/push_consumer" ] && \
    "$BIN/mqbroker" --help 2>&1 | grep -q -- '-n'
}

# start_broker NAME: a broker NAME in DefaultCluster registered to $NAMESRV, with its own store
# and log under $WORK/NAME; sets BROKER_PID and BROKER_PORT.
start_broker() {
  RMQ_BROKER_DIR="$WORK/$1" rmq_start_broker "" --set brokerClusterName=DefaultCluster --set "brokerName=$1" \
    --set autoCreateTopicEnable=true --set autoCreateSubscriptionGroup=true \
    --set mappedFileSizeCommitLog=67108864
}

run_real() {
  rmq_start_namesrv
  start_broker broker-a
  local ns_port=$NS_PORT
  local topic="E2E_TOPIC_$$" group="E2E_GROUP_$$"
  start_console --namesrv "127.0.0.1:$ns_port"
  # A consumer group with members and offsets (and lag once the UI sends).
  # (mq-client's push_consumer example; it subscribes before the UI creates the topic and
  # picks the route up on its next refresh.)
  log "starting consumer group $group on $topic"
  "$BIN/examples/push_consumer" "127.0.0.1:$ns_port" "$topic" "$group" > "$WORK/consumer.log" 2>&1 &
  rmq_track $!
  E2E_TOPIC="$topic" E2E_GROUP="${E2E_GROUP_OVERRIDE:-$group}" E2E_DLQ_GROUP="" E2E_PRODUCER_GROUP="RMQ_CONSOLE_PRODUCER" E2E_PRODUCER_TOPIC="$topic" run_browser real
  # One broker down: broker-b joins, then freezes. It stays registered (its connection to the
  # nameserver stays open) while every request to it times out, as with a hung host.
  start_broker broker-b
  rmq_wait_for 60 bash -c "curl -fsS '$CONSOLE_URL/api/overview' | grep -q broker-b"
  log "freezing broker-b (pid $BROKER_PID, 127.0.0.1:$BROKER_PORT)"
  kill -STOP "$BROKER_PID"
  E2E_TOPIC="$topic" E2E_DEAD_BROKER="broker-b" run_browser real-partial
  kill -CONT "$BROKER_PID"
  stop_all
}

ensure_tools
rmq_build
if [ "$MODE" = auto ]; then
  if broker_available; then MODE=both; else MODE=fake; log "broker not available yet: fake backend only"; fi
fi
case "$MODE" in
  fake) run_fake ;;
  real) run_real ;;
  both) run_fake; run_real ;;
  *) echo "usage: $0 [fake|real|both]"; exit 2 ;;
esac
log "all browser tests passed; screenshots in $SHOTS_ROOT"
