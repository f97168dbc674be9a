# Sourced by the container acceptance tests (scripts/containers-test.sh, the classic stack;
# scripts/containers-controller-test.sh, controller mode) after scripts/lib.sh and
# deploy/lib.sh. The sourcing script sets $project (the compose project, also this run's image
# tag), $services (its service names), $images (the images it built), the `compose` array
# (deploy/compose.py with its -p and -f) and a `health_port SERVICE` function (a port with
# /health, or `tcp:PORT` for a plain listener); it calls containers_on_exit from rmq_on_exit.
# shellcheck shell=bash

reason=""
# fail MESSAGE: stop the test; the reason is printed again last, after the containers' logs.
fail() { reason="$* (at $SECONDS s)"; echo "$(basename "$0" .sh): $*" >&2; exit 1; }
step() { echo "== $* [${SECONDS} s]"; }

# containers_on_exit RC: on failure a few log lines per container (more for brokers and
# controllers), then the reason; always the compose project down (containers, volumes) and
# this run's image tags removed (an image another tag still names stays).
containers_on_exit() {
  local c n s
  if [ "$1" != 0 ]; then
    for s in $services; do
      c="${project}_${s}_1"
      podman container exists "$c" 2>/dev/null || continue
      n=4
      case $s in broker-*) n=15 ;; controller-*) n=8 ;; esac
      echo "----- last $n lines of $c ($(podman inspect -f '{{.State.Status}}, exit code {{.State.ExitCode}}' "$c" 2>&1))"
      podman logs --tail "$n" "$c" 2>&1 | cut -c1-400
    done
    [ -z "$reason" ] || echo "$(basename "$0" .sh) FAILED: $reason" >&2
  fi
  "${compose[@]}" down -v >/dev/null 2>&1 || true
  for i in $images; do podman rmi "localhost/rmq/$i:$RMQ_IMAGE_TAG" >/dev/null 2>&1 || true; done
}

# A container that is not running: its state, last lines and, when it could not bind, who
# holds that port now; then fail.
not_running() {
  local c=$1 state p
  state=$(podman inspect -f '{{.State.Status}}, exit code {{.State.ExitCode}}' "$c" 2>&1)
  echo "   $c is not running ($state); its last lines:" >&2
  podman logs --tail 8 "$c" 2>&1 | cut -c1-400 | sed 's/^/     /' >&2
  for p in $(podman logs "$c" 2>&1 | grep -i 'in use' | grep -oE ':[0-9]{4,5}\b' | tr -d : | sort -u); do
    echo "   port $p is held by:" >&2
    ss -Htanp "( sport = :$p )" 2>&1 | sed 's/^/     /' >&2 || true
  done
  fail "$c exited before it was healthy ($state)"
}

# wait_healthy SECS: every service of $services is running and healthy. Start time per
# service: from the container's start (podman's StartedAt) to its first answer, polled from
# the host (a podman call per container and round took seconds on the loaded CI VM); then
# the image's own health check (mqhealth inside it) must pass too.
wait_healthy() {
  local secs=$1 s c st started user pending deadline states
  pending=" $services "
  declare -A seen
  deadline=$((SECONDS + secs))
  while [ -n "${pending// /}" ]; do
    # One podman call for every state; a failed call (loaded machine) is no verdict.
    states=$(podman ps -a --filter "label=io.podman.compose.project=$project" --format '{{.Names}} {{.State}}' 2>/dev/null) || states=""
    for s in $pending; do
      c="${project}_${s}_1"
      st=$(awk -v c="$c" '$1 == c { print $2 }' <<<"$states") # podman 4.3: "Up 2 seconds ago"
      case ${st:-unknown} in Up | running | unknown | Created | created) ;; *) not_running "$c" ;; esac
      [ -n "${seen[$s]:-}" ] || ! health_probe "$(health_port "$s")" || seen[$s]=$(date +%s%N)
      if [ -n "${seen[$s]:-}" ] && podman healthcheck run "$c" >/dev/null 2>&1; then
        started=$(podman inspect -f '{{.State.StartedAt.UnixNano}}' "$c")
        user=$(podman inspect -f '{{.Config.User}}' "$c")
        printf '   %-16s healthy (answered %5d ms after its start), user %s\n' "$s" $(( (seen[$s] - started) / 1000000 )) "$user"
        [ "$user" = "10001:10001" ] || fail "$c does not run as 10001"
        pending=${pending/ $s / }
      fi
    done
    [ $SECONDS -lt $deadline ] || fail "not healthy after $secs s:$pending"
    sleep 0.05
  done
}

# health_probe PORT|tcp:PORT: the service answers on the host (GET /health, or a TCP connect).
health_probe() {
  case $1 in
    tcp:*) timeout 2 bash -c "exec 3<>/dev/tcp/127.0.0.1/${1#tcp:}" 2>/dev/null ;;
    *) curl -fsS -o /dev/null --max-time 2 "http://127.0.0.1:$1/health" 2>/dev/null ;;
  esac
}

metric() { # PORT NAME LABEL-FILTER... -> sum of matching samples, "absent" if none
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
# wait_metric SECS OP WANT PORT NAME FILTER...: until the metric is = (or >=) WANT; the last
# value seen is kept in $got (counters are read after the traffic, never exactly at its end).
wait_metric() {
  local secs=$1 op=$2 want=$3 deadline=$((SECONDS + $1))
  shift 3
  until got=$(metric "$@" 2>/dev/null) &&
    awk -v g="$got" -v w="$want" -v op="$op" 'BEGIN { exit !(g != "absent" && (op == "=" ? g == w : g >= w)) }'; do
    [ $SECONDS -lt $deadline ] || fail "metric $2 ${*:3} on :$1 is ${got:-unreadable} after $secs s, expected $op $want"
    sleep 0.2
  done
}
broker_stop() { # SERVICE: podman stop, which must end in exit code 0 within the grace period
  local c="${project}_$1_1" t0 out code
  t0=$(date +%s%N)
  out=$(podman stop -t 30 "$c" 2>&1) || fail "podman stop $c: $out"
  code=$(podman inspect -f '{{.State.ExitCode}}' "$c")
  echo "   $1 stopped in $(( ($(date +%s%N) - t0) / 1000000 )) ms, exit code $code"
  [ "$code" = 0 ] || fail "$1 did not exit 0 on SIGTERM (exit code $code)"
}

