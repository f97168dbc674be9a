#!/usr/bin/env bash
# Start and stop time of each image (built by deploy/images.sh), one container at a time on
# free loopback ports (host network): `podman run` → /health answers (polled from the host
# every 10 ms), then `podman stop` (SIGTERM) → exited. The name server and broker stay up
# while the console and the services are measured (they connect to them at start).
#   deploy/start-times.sh        # prints one line per image; used for the README table
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh
. deploy/lib.sh
ids=()
trap 'for i in "${ids[@]}"; do podman rm -f "$i" >/dev/null 2>&1 || true; done' EXIT
ms() { echo $(( $(date +%s%N) / 1000000 )); }
measure() { # NAME HEALTH_PORT PODMAN_RUN_ARGS... -> prints times, leaves the container running
  local name=$1 port=$2 t0 t1 id
  shift 2
  t0=$(ms)
  id=$(podman run -d --network host "$@" 2>/dev/null)
  ids+=("$id")
  until curl -fsS -o /dev/null --max-time 1 "http://127.0.0.1:$port/health" 2>/dev/null; do
    [ "$(podman inspect -f '{{.State.Running}}' "$id")" = true ] || { echo "$name exited" >&2; podman logs "$id" >&2; exit 1; }
    [ $(( $(ms) - t0 )) -lt 60000 ] || { echo "$name not healthy in 60 s" >&2; exit 1; }
    sleep 0.01
  done
  t1=$(ms)
  LAST_ID=$id
  printf '%-18s start → healthy %5d ms' "$name" $((t1 - t0))
}
stop_time() { # ID -> prints stop time and exit code
  local t0 t1
  t0=$(ms); podman stop -t 30 "$1" >/dev/null 2>&1; t1=$(ms)
  printf '   SIGTERM → exited %5d ms (exit %s)\n' $((t1 - t0)) "$(podman inspect -f '{{.State.ExitCode}}' "$1")"
}
ns=$(rmq_free_port); nsm=$(rmq_free_port); bp=$(rmq_free_port -2 1); bm=$(rmq_free_port)
measure mqnamesrv "$nsm" -e MQNAMESRV_BIND_ADDRESS=127.0.0.1 -e MQNAMESRV_LISTEN_PORT="$ns" \
  -e MQNAMESRV_METRICS_PROM_EXPORTER_PORT="$nsm" localhost/rmq/mqnamesrv:latest; NS_ID=$LAST_ID; echo
measure mqbroker "$bm" -e MQBROKER_BROKER_IP1=127.0.0.1 -e MQBROKER_LISTEN_PORT="$bp" \
  -e MQBROKER_NAMESRV_ADDR="127.0.0.1:$ns" -e MQBROKER_METRICS_PROM_EXPORTER_PORT="$bm" localhost/rmq/mqbroker:latest
B_ID=$LAST_ID; echo
cp=$(rmq_free_port)
measure mqconsole "$cp" -e NAMESRV_ADDR="127.0.0.1:$ns" localhost/rmq/mqconsole:latest --listen "127.0.0.1:$cp" --data-path /var/lib/rmq/console
stop_time "$LAST_ID"
gp=$(rmq_free_port)
measure chat-gateway "$gp" -e NAMESRV_ADDR="127.0.0.1:$ns" -e BIND_ADDR=127.0.0.1 -e PORT="$gp" -e JWT_SECRET=x localhost/rmq/chat-gateway:latest
stop_time "$LAST_ID"
op=$(rmq_free_port)
measure chat-observer "$op" -e NAMESRV_ADDR="127.0.0.1:$ns" -e BIND_ADDR=127.0.0.1 -e HEALTH_CHECK_PORT="$op" -e JWT_SECRET=x localhost/rmq/chat-observer:latest
stop_time "$LAST_ID"
pp=$(rmq_free_port)
measure presence-service "$pp" -e NAMESRV_ADDR="127.0.0.1:$ns" -e BIND_ADDR=127.0.0.1 -e PORT="$pp" localhost/rmq/presence-service:latest
stop_time "$LAST_ID"
printf '%-18s' mqbroker; printf '%27s' ''; stop_time "$B_ID"
printf '%-18s' mqnamesrv; printf '%27s' ''; stop_time "$NS_ID"
