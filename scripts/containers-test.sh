#!/usr/bin/env bash
# Container acceptance test: the images of every binary (deploy/images.sh, FROM scratch) run as
# the compose stack (deploy/compose.yaml: 2 name servers, broker group broker-a as a SYNC_MASTER
# and its SLAVE, console, 2 chat gateways, observer, presence) with podman + runc (through
# deploy/compose.py), on free loopback ports.
#
#   scripts/containers-test.sh                 # release binaries (built if needed)
#   RMQ_PROFILE=debug RMQ_SKIP_BUILD=1 scripts/containers-test.sh   # CI: what `cargo test` built
#
# Checks: every container becomes healthy (its image's mqhealth check) and runs as uid 10001;
# the slave replicates (its rmq_ha_slave_connected, the master's rmq_replica_in_sync, both in
# `mqadmin clusterList` from its image); mqadmin creates a topic; the third-party client ali-ons
# (npm) sends COUNT messages and consumes them back through the stack; the master's and both
# name servers' /metrics show the traffic (rocketmq_messages_in_total / _out_total, live
# brokers) and the slave holds all of it (rmq_replica_lag_bytes 0); the logs are JSON lines;
# then `podman stop` of the master: it exits 0 within its grace period, the name servers list
# only the slave, the slave sees its master gone, the master's endpoint is gone and the
# console's overview shows broker-a without a master; then the slave stops the same way and
# the name servers report 0 live brokers. Everything is torn down (containers, volumes, this
# run's image tags) on exit. Prints each image's size and each service's start time.
#
# Robust on a shared, loaded machine: the images carry a tag of this run only (a concurrent
# build cannot swap them), the picked ports are held (rmq_hold_ports) until every service
# listens, and every wait is bounded and says what it waited for. On failure: a few log lines
# per container (more for the brokers), then the reason, last.
# Needs: podman, runc, python3-yaml (Debian), node + npm, curl.
set -euo pipefail
# shellcheck source=scripts/lib.sh
. "$(dirname "$0")/lib.sh"
# shellcheck source=deploy/lib.sh
. "$RMQ_ROOT/deploy/lib.sh"
# shellcheck source=scripts/containers-lib.sh
. "$RMQ_ROOT/scripts/containers-lib.sh"

count=${COUNT:-100}
project="rmqct$$x$RANDOM" # PIDs repeat across CI runs: a leftover of another run is never ours
export RMQ_IMAGE_TAG=$project
compose=("$RMQ_ROOT/deploy/compose.py" -p "$project" -f "$RMQ_ROOT/deploy/compose.yaml")
services="namesrv-1 namesrv-2 broker-a broker-a-s console chat-gateway-1 chat-gateway-2 chat-observer presence"
rmq_on_exit() { containers_on_exit "$1"; }
images=""
rmq_install_traps
rmq_workdir rmq-containers

for tool in podman runc node npm curl; do
  command -v "$tool" >/dev/null || fail "$tool is required (.ci/run installs it)"
done
others=$(podman ps --filter label=io.podman.compose.project --format '{{.Names}}' 2>/dev/null | grep -c . || true)
[ "$others" = 0 ] || echo "   note: $others containers of other compose projects are running on this podman"

step "images ($RMQ_PROFILE binaries, tag $RMQ_IMAGE_TAG)"
t0=$SECONDS
export RMQ_PROFILE
images="mqnamesrv mqbroker mqconsole mqadmin chat-gateway chat-observer presence-service"
deploy_out=$(IMAGES=$images "$RMQ_ROOT/deploy/images.sh") || fail "deploy/images.sh failed"
echo "$deploy_out" | grep -v '^built ' || true
echo "   images built in $((SECONDS - t0)) s"

# Free ports for everything the compose file publishes (a broker's fast port is PORT-2, its HA
# port PORT+1), held until every service listens.
ports=()
for v in NAMESRV1_PORT NAMESRV2_PORT NAMESRV1_METRICS_PORT NAMESRV2_METRICS_PORT \
  BROKER_A_METRICS_PORT BROKER_A_GRPC_PORT BROKER_A_S_METRICS_PORT BROKER_A_S_GRPC_PORT \
  CONSOLE_PORT GATEWAY1_PORT GATEWAY2_PORT OBSERVER_HEALTH_PORT PRESENCE_PORT; do
  p=$(rmq_free_port)
  export "$v=$p"
  ports+=("$p")
done
for v in BROKER_A_PORT BROKER_A_S_PORT; do
  p=$(rmq_free_port -2 1)
  export "$v=$p"
  ports+=("$((p - 2))" "$p" "$((p + 1))")
done
export JWT_SECRET=containers-test-secret LOG_FORMAT=json
# Small commit-log files: each is reserved on disk when created (CI's disk is small).
export COMMIT_LOG_FILE_SIZE=67108864
NS="127.0.0.1:$NAMESRV1_PORT;127.0.0.1:$NAMESRV2_PORT"
rmq_hold_ports "${ports[@]}" || fail "a picked port was taken before it could be held"

step "compose up (project $project)"
"${compose[@]}" down -v >/dev/null 2>&1 || true # nothing of this name may be left over
"${compose[@]}" up -d >"$RMQ_WORK/compose-up.log" 2>&1 || { cat "$RMQ_WORK/compose-up.log"; fail "compose up failed"; }

health_port() {
  case $1 in
    namesrv-1) echo "$NAMESRV1_METRICS_PORT" ;; namesrv-2) echo "$NAMESRV2_METRICS_PORT" ;;
    broker-a) echo "$BROKER_A_METRICS_PORT" ;; broker-a-s) echo "$BROKER_A_S_METRICS_PORT" ;;
    console) echo "$CONSOLE_PORT" ;; chat-gateway-1) echo "$GATEWAY1_PORT" ;;
    chat-gateway-2) echo "$GATEWAY2_PORT" ;; chat-observer) echo "$OBSERVER_HEALTH_PORT" ;;
    presence) echo "$PRESENCE_PORT" ;;
  esac
}
wait_healthy 90
rmq_release_ports

# console_lists SECS yes|no FILTER: until the console's overview does (not) show a broker row
# of broker-a matching the python FILTER on the row (r).
console_lists() {
  local secs=$1 want=$2 filter=$3 deadline=$((SECONDS + $1)) ov
  while :; do
    ov=$(curl -fsS --max-time 5 "http://127.0.0.1:$CONSOLE_PORT/api/overview" 2>&1) || ov=""
    if [ -n "$ov" ] && python3 -c '
import json, sys
rows = [r for r in json.loads(sys.argv[1])["brokers"] if r["brokerName"] == "broker-a"]
hit = any(eval(sys.argv[2], {}, {"r": r}) for r in rows)
sys.exit(0 if hit == (sys.argv[3] == "yes") else 1)' "$ov" "$filter" "$want" 2>/dev/null; then
      return 0
    fi
    [ $SECONDS -lt $deadline ] || fail "console overview after $secs s: broker-a row with $filter expected: $want; got ${ov:0:300}"
    sleep 0.5
  done
}
step "broker-a (master + slave) registered with both name servers; the slave replicates"
wait_metric 60 = 2 "$NAMESRV1_METRICS_PORT" rmq_namesrv_live_brokers 'broker_cluster="DefaultCluster"'
wait_metric 60 = 2 "$NAMESRV2_METRICS_PORT" rmq_namesrv_live_brokers 'broker_cluster="DefaultCluster"'
# A SYNC_MASTER answers SLAVE_NOT_AVAILABLE until its slave is connected (docs/replication.md):
# the slave connects once a registration answer names its master, within seconds.
wait_metric 60 = 1 "$BROKER_A_S_METRICS_PORT" rmq_ha_slave_connected
wait_metric 60 = 1 "$BROKER_A_METRICS_PORT" rmq_replica_in_sync
podman run --rm --network=host "localhost/rmq/mqadmin:$RMQ_IMAGE_TAG" clusterList -n "$NS" --json \
  >"$RMQ_WORK/cluster.json" 2>"$RMQ_WORK/cluster.err" || { cat "$RMQ_WORK/cluster.err"; fail "mqadmin clusterList failed"; }
python3 - "$RMQ_WORK/cluster.json" "$BROKER_A_PORT" "$BROKER_A_S_PORT" <<'PY' || fail "mqadmin clusterList does not show broker-a's master and slave: $(head -c 600 "$RMQ_WORK/cluster.json")"
import json, sys
rows = {(r["brokerName"], int(r["brokerId"])): r["addr"] for r in json.load(open(sys.argv[1]))}
assert rows.get(("broker-a", 0)) == f"127.0.0.1:{sys.argv[2]}", rows
assert rows.get(("broker-a", 1)) == f"127.0.0.1:{sys.argv[3]}", rows
PY
echo "   slave connected, in sync; clusterList shows broker-a ids 0 and 1"

topic=ContainerTopic
step "mqadmin (its image) creates $topic"
podman run --rm --network=host "localhost/rmq/mqadmin:$RMQ_IMAGE_TAG" updateTopic -n "$NS" -c DefaultCluster \
  -t "$topic" -r 4 -w 4 >"$RMQ_WORK/update.log" 2>&1 || { tail -5 "$RMQ_WORK/update.log"; fail "mqadmin updateTopic failed"; }
tail -1 "$RMQ_WORK/update.log"

step "ali-ons sends and consumes $count messages through the stack"
if [ ! -d "$RMQ_ROOT/interop/node_modules/ali-ons" ]; then
  (cd "$RMQ_ROOT/interop" && npm ci --no-audit --no-fund --loglevel=error)
fi
(cd "$RMQ_ROOT/interop" && node produce_consume.js "127.0.0.1:$NAMESRV1_PORT" "$topic" "$count" 90) >"$RMQ_WORK/ali-ons.log" 2>&1 \
  || { tail -20 "$RMQ_WORK/ali-ons.log"; fail "ali-ons round trip failed (its last line: $(tail -1 "$RMQ_WORK/ali-ons.log"))"; }
tail -2 "$RMQ_WORK/ali-ons.log"

step "metrics"
# At least COUNT: a client may resend a message whose answer came late (at-least-once), and
# ali-ons then reports it as a duplicate anyway.
wait_metric 10 '>=' "$count" "$BROKER_A_METRICS_PORT" rocketmq_messages_in_total "topic=\"$topic\""
in=$got
wait_metric 10 '>=' "$count" "$BROKER_A_METRICS_PORT" rocketmq_messages_out_total "topic=\"$topic\""
echo "   master: rocketmq_messages_in_total=$in rocketmq_messages_out_total=$got (topic $topic)"
wait_metric 10 = 0 "$BROKER_A_METRICS_PORT" rmq_replica_lag_bytes
echo "   slave holds everything (rmq_replica_lag_bytes 0 on the master)"
for p in "$CONSOLE_PORT" "$GATEWAY1_PORT" "$OBSERVER_HEALTH_PORT" "$PRESENCE_PORT"; do
  curl -fsS --max-time 5 "http://127.0.0.1:$p/metrics" >/dev/null || fail "no /metrics on :$p"
done
for s in broker-a broker-a-s; do
  podman logs "${project}_${s}_1" >"$RMQ_WORK/$s.log" 2>/dev/null
  python3 - "$RMQ_WORK/$s.log" <<'PY' || fail "$s's logs are not JSON lines with level and message"
import json, sys
recs = []
for l in open(sys.argv[1]):
    if not l.strip(): continue
    try:
        r = json.loads(l)
    except ValueError:
        sys.exit(f"not JSON: {l[:300]}")
    if not (r.get("level") and "message" in r): sys.exit(f"no level/message: {l[:300]}")
    recs.append(r)
if not any("boot success" in r["message"] for r in recs): sys.exit("no 'boot success' line")
PY
done
console_lists 30 yes 'r["brokerId"] == 0'

step "podman stop broker-a (the master)"
broker_stop broker-a
wait_metric 30 = 1 "$NAMESRV1_METRICS_PORT" rmq_namesrv_live_brokers 'broker_cluster="DefaultCluster"'
wait_metric 30 = 1 "$NAMESRV2_METRICS_PORT" rmq_namesrv_live_brokers 'broker_cluster="DefaultCluster"'
! curl -fsS --max-time 3 "http://127.0.0.1:$BROKER_A_METRICS_PORT/metrics" >/dev/null 2>&1 \
  || fail "the stopped master's metrics endpoint still answers"
wait_metric 30 = 1 "$NAMESRV1_METRICS_PORT" rmq_namesrv_broker_groups_without_master 'broker_cluster="DefaultCluster"'
wait_metric 30 = 0 "$BROKER_A_S_METRICS_PORT" rmq_ha_slave_connected
console_lists 30 no 'r["brokerId"] == 0'
echo "   name servers list only the slave (a group without master); it sees its master gone; the console shows no master"

step "podman stop broker-a-s (the slave)"
broker_stop broker-a-s
wait_metric 30 = 0 "$NAMESRV1_METRICS_PORT" rmq_namesrv_live_brokers 'broker_cluster="DefaultCluster"'
wait_metric 30 = 0 "$NAMESRV2_METRICS_PORT" rmq_namesrv_live_brokers 'broker_cluster="DefaultCluster"'
console_lists 30 no 'True'
echo "   name servers report 0 live brokers; the console no longer lists broker-a"

echo "containers ok (${SECONDS} s, then the teardown)"
