#!/usr/bin/env bash
# Container acceptance test of controller mode: deploy/compose-controller.yaml (3 mqcontroller,
# a name server, broker group broker-a as 3 replicas in controller mode, the console) with
# podman + runc, on free loopback ports.
#
#   scripts/containers-controller-test.sh                 # release binaries (built if needed)
#   RMQ_PROFILE=debug RMQ_SKIP_BUILD=1 scripts/containers-controller-test.sh   # CI
#
# Checks: every container becomes healthy and runs as uid 10001; the controllers elect a
# master with all 3 replicas in sync (the console's controller view, from its image; the name
# server routes it as brokerId 0); the third-party client ali-ons sends and consumes COUNT
# messages; `podman kill` (SIGKILL) of the master's container: another replica is routed as
# master within seconds, ali-ons round-trips again through it and every message of both rounds
# is in the topic's queues; `podman start` of the killed container: it rejoins as a replica
# and the in-sync set is back to 3. Everything (containers, volumes, this run's image tags) is
# removed on exit.
# Needs: podman, runc, python3-yaml (Debian), node + npm, curl.
set -euo pipefail
# shellcheck source=scripts/lib.sh
. "$(dirname "$0")/lib.sh"
# shellcheck source=deploy/lib.sh
. "$RMQ_ROOT/deploy/lib.sh"
# shellcheck source=scripts/containers-lib.sh
. "$RMQ_ROOT/scripts/containers-lib.sh"

count=${COUNT:-50}
project="rmqcc$$x$RANDOM" # PIDs repeat across CI runs: a leftover of another run is never ours
export RMQ_IMAGE_TAG=$project
compose=("$RMQ_ROOT/deploy/compose.py" -p "$project" -f "$RMQ_ROOT/deploy/compose-controller.yaml")
services="controller-n0 controller-n1 controller-n2 namesrv broker-r0 broker-r1 broker-r2 console"
images="mqnamesrv mqbroker mqcontroller mqconsole mqadmin"
rmq_on_exit() { containers_on_exit "$1"; }
rmq_install_traps
rmq_workdir rmq-containers-ctl

for tool in podman runc node npm curl; do
  command -v "$tool" >/dev/null || fail "$tool is required (.ci/run installs it)"
done

step "images ($RMQ_PROFILE binaries, tag $RMQ_IMAGE_TAG)"
t0=$SECONDS
export RMQ_PROFILE
IMAGES=$images "$RMQ_ROOT/deploy/images.sh" | grep -v '^built ' || fail "deploy/images.sh failed"
echo "   images built in $((SECONDS - t0)) s"

ports=()
for v in CONTROLLER0_PORT CONTROLLER1_PORT CONTROLLER2_PORT NAMESRV_PORT NAMESRV_METRICS_PORT \
  BROKER_R0_METRICS_PORT BROKER_R1_METRICS_PORT BROKER_R2_METRICS_PORT \
  BROKER_R0_GRPC_PORT BROKER_R1_GRPC_PORT BROKER_R2_GRPC_PORT CONSOLE_PORT; do
  p=$(rmq_free_port)
  export "$v=$p"
  ports+=("$p")
done
for r in 0 1 2; do
  p=$(rmq_free_port -2 1) # the fast port (listenPort - 2) and the HA port (+ 1) too
  export "BROKER_R${r}_PORT=$p" "BROKER_R${r}_HA_PORT=$((p + 1))"
  ports+=("$((p - 2))" "$p" "$((p + 1))")
done
export LOG_FORMAT=json COMMIT_LOG_FILE_SIZE=67108864
NS="127.0.0.1:$NAMESRV_PORT"
rmq_hold_ports "${ports[@]}" || fail "a picked port was taken before it could be held"

health_port() {
  case $1 in
    controller-n0) echo "tcp:$CONTROLLER0_PORT" ;; controller-n1) echo "tcp:$CONTROLLER1_PORT" ;;
    controller-n2) echo "tcp:$CONTROLLER2_PORT" ;; namesrv) echo "$NAMESRV_METRICS_PORT" ;;
    broker-r0) echo "$BROKER_R0_METRICS_PORT" ;; broker-r1) echo "$BROKER_R1_METRICS_PORT" ;;
    broker-r2) echo "$BROKER_R2_METRICS_PORT" ;; console) echo "$CONSOLE_PORT" ;;
  esac
}
service_of() { # broker address -> its service
  case ${1##*:} in
    "$BROKER_R0_PORT") echo broker-r0 ;; "$BROKER_R1_PORT") echo broker-r1 ;; "$BROKER_R2_PORT") echo broker-r2 ;;
    *) fail "no service listens at $1" ;;
  esac
}

step "compose up (project $project)"
"${compose[@]}" down -v >/dev/null 2>&1 || true
"${compose[@]}" up -d >"$RMQ_WORK/compose-up.log" 2>&1 || { cat "$RMQ_WORK/compose-up.log"; fail "compose up failed"; }
wait_healthy 90
rmq_release_ports

# group_state: broker-a as the console shows it (from the controllers): "MASTER_ADDR EPOCH
# IN_SYNC_COUNT REPLICAS", or nothing while there is no master.
group_state() {
  curl -fsS --max-time 5 "http://127.0.0.1:$CONSOLE_PORT/api/overview" 2>/dev/null | python3 -c '
import json, sys
for g in json.load(sys.stdin).get("controllerGroups", []):
    if g["brokerName"] == "broker-a" and g.get("masterAddr") and not g.get("error"):
        n = sum(1 for r in g["replicas"] if r["inSync"] and r["alive"])
        print(g["masterAddr"], g["masterEpoch"], n, len(g["replicas"]))' 2>/dev/null
}
# routed_master: the name server's brokerId 0 of broker-a (mqadmin clusterList, from its image).
routed_master() {
  podman run --rm --network=host "localhost/rmq/mqadmin:$RMQ_IMAGE_TAG" clusterList -n "$NS" --json 2>/dev/null |
    python3 -c '
import json, sys
for r in json.load(sys.stdin):
    if r["brokerName"] == "broker-a" and int(r["brokerId"]) == 0: print(r["addr"])' 2>/dev/null
}
# wait_group SECS PYTHON-CONDITION (on m = master address, e = epoch, n = in sync, k = replicas)
wait_group() {
  local secs=$1 cond=$2 deadline=$((SECONDS + $1)) st=""
  while :; do
    st=$(group_state) || st=""
    if [ -n "$st" ] && python3 -c "
import sys
m, e, n, k = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
sys.exit(0 if ($cond) else 1)" $st; then
      read -r g_master g_epoch g_in_sync _ <<<"$st"
      return 0
    fi
    [ $SECONDS -lt $deadline ] || fail "broker-a after $secs s: expected $cond, the console shows '${st:-no master}'"
    sleep 0.2
  done
}
wait_routed() { # SECS ADDR: the name server routes ADDR as broker-a's master
  local deadline=$((SECONDS + $1)) got=""
  until got=$(routed_master) && [ "$got" = "$2" ]; do
    [ $SECONDS -lt $deadline ] || fail "the name server routes '${got:-nothing}' as broker-a's master after $1 s, expected $2"
    sleep 0.3
  done
}
round_trip() { # LABEL
  (cd "$RMQ_ROOT/interop" && node produce_consume.js "$NS" "$topic" "$count" 90) >"$RMQ_WORK/ali-ons-$1.log" 2>&1 \
    || { tail -20 "$RMQ_WORK/ali-ons-$1.log"; fail "ali-ons round trip ($1) failed: $(tail -1 "$RMQ_WORK/ali-ons-$1.log")"; }
  echo "   ali-ons ($1): $(tail -1 "$RMQ_WORK/ali-ons-$1.log")"
}
queued() { # messages in the topic's queues (sum of max offsets), as mqadmin topicStatus reports
  podman run --rm --network=host "localhost/rmq/mqadmin:$RMQ_IMAGE_TAG" topicStatus -n "$NS" -t "$topic" --json 2>/dev/null |
    python3 -c '
import json, sys
print(sum(int(r["maxOffset"]) for r in json.load(sys.stdin)))'
}

step "the controllers elect a master of broker-a; all 3 replicas in sync"
wait_group 60 'n == 3 and k == 3'
master=$g_master
wait_routed 30 "$master"
echo "   master $master ($(service_of "$master")), epoch $g_epoch, 3 of 3 in sync; routed by the name server"

topic=ControllerContainerTopic
step "mqadmin creates $topic; ali-ons round trip through the master"
podman run --rm --network=host "localhost/rmq/mqadmin:$RMQ_IMAGE_TAG" updateTopic -n "$NS" -c DefaultCluster \
  -t "$topic" -r 4 -w 4 >"$RMQ_WORK/update.log" 2>&1 || { tail -5 "$RMQ_WORK/update.log"; fail "mqadmin updateTopic failed"; }
if [ ! -d "$RMQ_ROOT/interop/node_modules/ali-ons" ]; then
  (cd "$RMQ_ROOT/interop" && npm ci --no-audit --no-fund --loglevel=error)
fi
round_trip before

old=$(service_of "$master")
step "podman kill (SIGKILL) $old, the master"
t_kill=$(date +%s%N)
podman kill -s KILL "${project}_${old}_1" >/dev/null || fail "podman kill $old failed"
wait_group 30 "m != '$master'"
new=$g_master
wait_routed 30 "$new"
echo "   new master $new ($(service_of "$new")), epoch $g_epoch, routed $(( ($(date +%s%N) - t_kill) / 1000000 )) ms after the kill"
round_trip after
n=$(queued) || n=""
[ -n "$n" ] && [ "$n" -ge $((2 * count)) ] || fail "the topic holds ${n:-?} messages after the failover, expected at least $((2 * count))"
echo "   the topic holds $n messages (both rounds: at least $((2 * count)))"

step "podman start $old: it rejoins as a replica"
podman start "${project}_${old}_1" >"$RMQ_WORK/start.log" 2>&1 || { cat "$RMQ_WORK/start.log"; fail "podman start $old failed"; }
wait_group 60 "m == '$new' and n == 3 and k == 3"
echo "   master still $new, epoch $g_epoch, 3 of 3 in sync again"

echo "containers (controller mode) ok (${SECONDS} s, then the teardown)"
