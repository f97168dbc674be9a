#!/usr/bin/env bash
# Container acceptance test: the images of every binary (deploy/images.sh, FROM scratch) run as
# the compose stack (deploy/compose.yaml: 2 name servers, broker-a, console, 2 chat gateways,
# observer, presence) with podman + runc (through deploy/compose.py), on free loopback ports.
#
#   scripts/containers-test.sh                 # release binaries (built if needed)
#   RMQ_PROFILE=debug RMQ_SKIP_BUILD=1 scripts/containers-test.sh   # CI: what `cargo test` built
#
# Checks: every container becomes healthy (its image's mqhealth check) and runs as uid 10001;
# mqadmin from its image creates a topic; the third-party client ali-ons (npm) sends COUNT
# messages and consumes them back through the stack; the broker's and both name servers'
# /metrics show the traffic (rocketmq_messages_in_total / _out_total, live brokers); the logs
# are JSON lines; then `podman stop` of the broker container: it exits 0 within its grace
# period, both name servers' metrics drop to 0 live brokers, the broker's endpoint is gone and
# the console's overview no longer lists it. Everything is torn down (containers, volumes) on
# exit. Prints each image's size and each service's start time (run → healthy).
# Needs: podman, runc, python3-yaml (Debian), node + npm, curl.
set -euo pipefail
# shellcheck source=scripts/lib.sh
. "$(dirname "$0")/lib.sh"
# shellcheck source=deploy/lib.sh
. "$RMQ_ROOT/deploy/lib.sh"

count=${COUNT:-100}
project="rmqct$$"
compose=("$RMQ_ROOT/deploy/compose.py" -p "$project" -f "$RMQ_ROOT/deploy/compose.yaml")
failed=1
rmq_on_exit() {
  if [ "$failed" != 0 ]; then
    for c in $(podman ps -a --filter "label=io.podman.compose.project=$project" --format '{{.Names}}' 2>/dev/null); do
      echo "----- logs of $c"; podman logs --tail 30 "$c" 2>&1 || true
    done
  fi
  "${compose[@]}" down -v >/dev/null 2>&1 || true
}
rmq_install_traps
rmq_workdir rmq-containers

for tool in podman runc node npm curl; do
  command -v "$tool" >/dev/null || { echo "containers-test: $tool is required (.ci/run installs it)" >&2; exit 1; }
done

echo "== images ($RMQ_PROFILE binaries)"
t0=$SECONDS
export RMQ_PROFILE
deploy_out=$("$RMQ_ROOT/deploy/images.sh")
echo "$deploy_out" | grep -v '^built ' || true
echo "   images built in $((SECONDS - t0)) s"

# Free ports for everything the compose file publishes (the broker's fast port is PORT-2).
for v in NAMESRV1_PORT NAMESRV2_PORT NAMESRV1_METRICS_PORT NAMESRV2_METRICS_PORT \
  BROKER_A_METRICS_PORT CONSOLE_PORT GATEWAY1_PORT GATEWAY2_PORT OBSERVER_HEALTH_PORT PRESENCE_PORT; do
  export "$v=$(rmq_free_port)"
done
BROKER_A_PORT=$(rmq_free_port -2 1)
export BROKER_A_PORT JWT_SECRET=containers-test-secret LOG_FORMAT=json
NS="127.0.0.1:$NAMESRV1_PORT;127.0.0.1:$NAMESRV2_PORT"

echo "== compose up (project $project)"
"${compose[@]}" up -d >"$RMQ_WORK/compose-up.log" 2>&1 || { cat "$RMQ_WORK/compose-up.log"; exit 1; }

# Start time per service: from the container's start (podman's StartedAt) to the first passing
# run of its health check, all services polled together.
services="namesrv-1 namesrv-2 broker-a console chat-gateway-1 chat-gateway-2 chat-observer presence"
pending=" $services "
deadline=$((SECONDS + 90))
while [ -n "${pending// /}" ]; do
  for s in $pending; do
    c="${project}_${s}_1"
    [ "$(podman inspect -f '{{.State.Running}}' "$c" 2>/dev/null)" = true ] || { echo "$c is not running" >&2; exit 1; }
    if podman healthcheck run "$c" >/dev/null 2>&1; then
      now=$(date +%s%N)
      started=$(podman inspect -f '{{.State.StartedAt.UnixNano}}' "$c")
      user=$(podman inspect -f '{{.Config.User}}' "$c")
      printf '   %-16s healthy (seen %5d ms after its start), user %s\n' "$s" $(( (now - started) / 1000000 )) "$user"
      [ "$user" = "10001:10001" ] || { echo "$c does not run as 10001" >&2; exit 1; }
      pending=${pending/ $s / }
    fi
  done
  [ $SECONDS -lt $deadline ] || { echo "not healthy after 90 s:$pending" >&2; exit 1; }
  sleep 0.05
done

metric() { # PORT NAME LABEL-FILTER... -> sum of matching samples
  local port=$1 name=$2
  shift 2
  curl -fsS --max-time 5 "http://127.0.0.1:$port/metrics" | python3 -c '
import sys
name, filters = sys.argv[1], sys.argv[2:]
total, found = 0.0, False
for line in sys.stdin:
    if line.startswith("#"): continue
    series, _, value = line.rstrip("\n").rpartition(" ")
    n = series.split("{", 1)[0]
    if n == name and all(f in series for f in filters):
        total += float(value); found = True
print(total if found else "absent")' "$name" "$@"
}
wait_metric() { # SECS EXPECTED PORT NAME FILTER...
  local secs=$1 want=$2 deadline=$((SECONDS + $1)) got
  shift 2
  until got=$(metric "$@" 2>/dev/null) && [ "$got" = "$want" ]; do
    [ $SECONDS -lt $deadline ] || { echo "metric $2 ${*:3} is ${got:-unreadable}, expected $want" >&2; return 1; }
    sleep 0.2
  done
}

echo "== broker-a registered with both name servers"
wait_metric 60 1.0 "$NAMESRV1_METRICS_PORT" rmq_namesrv_live_brokers 'broker_cluster="DefaultCluster"'
wait_metric 60 1.0 "$NAMESRV2_METRICS_PORT" rmq_namesrv_live_brokers 'broker_cluster="DefaultCluster"'

topic=ContainerTopic
echo "== mqadmin (its image) creates $topic"
podman run --rm --network=host localhost/rmq/mqadmin:latest updateTopic -n "$NS" -c DefaultCluster \
  -t "$topic" -r 4 -w 4 | tail -1

echo "== ali-ons sends and consumes $count messages through the stack"
if [ ! -d "$RMQ_ROOT/interop/node_modules/ali-ons" ]; then
  (cd "$RMQ_ROOT/interop" && npm ci --no-audit --no-fund --loglevel=error)
fi
(cd "$RMQ_ROOT/interop" && node produce_consume.js "127.0.0.1:$NAMESRV1_PORT" "$topic" "$count" 90) | tail -2

echo "== metrics"
in=$(metric "$BROKER_A_METRICS_PORT" rocketmq_messages_in_total "topic=\"$topic\"")
out=$(metric "$BROKER_A_METRICS_PORT" rocketmq_messages_out_total "topic=\"$topic\"")
echo "   broker: rocketmq_messages_in_total=$in rocketmq_messages_out_total=$out (topic $topic)"
[ "$in" = "$count.0" ] || { echo "messages_in $in != $count" >&2; exit 1; }
python3 -c "import sys; sys.exit(0 if float('$out') >= $count else 1)" || { echo "messages_out $out < $count" >&2; exit 1; }
for p in "$CONSOLE_PORT" "$GATEWAY1_PORT" "$OBSERVER_HEALTH_PORT" "$PRESENCE_PORT"; do
  curl -fsS --max-time 5 "http://127.0.0.1:$p/metrics" >/dev/null
done
podman logs "${project}_broker-a_1" >"$RMQ_WORK/broker.log" 2>/dev/null
python3 - "$RMQ_WORK/broker.log" <<'PY' || { echo "broker logs are not JSON lines" >&2; exit 1; }
import json, sys
lines = [l for l in open(sys.argv[1]) if l.strip()]
recs = [json.loads(l) for l in lines]  # every line parses
assert recs and all(r["level"] and "message" in r for r in recs), lines[:3]
assert any("boot success" in r["message"] for r in recs)
PY
curl -fsS --max-time 5 "http://127.0.0.1:$CONSOLE_PORT/api/overview" | grep -q '"brokerName":"broker-a"' \
  || { echo "console overview does not list broker-a" >&2; exit 1; }

echo "== podman stop broker-a"
t0=$(date +%s%N)
podman stop -t 30 "${project}_broker-a_1" >/dev/null 2>&1
echo "   stopped in $(( ($(date +%s%N) - t0) / 1000000 )) ms, exit code $(podman inspect -f '{{.State.ExitCode}}' "${project}_broker-a_1")"
[ "$(podman inspect -f '{{.State.ExitCode}}' "${project}_broker-a_1")" = 0 ] || { echo "broker did not exit 0 on SIGTERM" >&2; exit 1; }
wait_metric 30 0.0 "$NAMESRV1_METRICS_PORT" rmq_namesrv_live_brokers 'broker_cluster="DefaultCluster"'
wait_metric 30 0.0 "$NAMESRV2_METRICS_PORT" rmq_namesrv_live_brokers 'broker_cluster="DefaultCluster"'
! curl -fsS --max-time 3 "http://127.0.0.1:$BROKER_A_METRICS_PORT/metrics" >/dev/null 2>&1 \
  || { echo "the stopped broker's metrics endpoint still answers" >&2; exit 1; }
deadline=$((SECONDS + 30))
until ! curl -fsS --max-time 5 "http://127.0.0.1:$CONSOLE_PORT/api/overview" | grep -q '"brokerName":"broker-a"'; do
  [ $SECONDS -lt $deadline ] || { echo "console still lists broker-a" >&2; exit 1; }
  sleep 0.5
done
echo "   name servers report 0 live brokers; the console no longer lists broker-a"

failed=0
echo "containers ok"
