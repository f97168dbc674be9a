#!/usr/bin/env bash
# Interop test with a second real client: rocketmq-client-cpp 1.x through PyPI `rocketmq`
# 0.4.4 (its wheel bundles librocketmq.so), against our mqnamesrv + mqbroker.
#
#   scripts/interop-cpp.sh        # build, start a stack on free ports, run, exit 0 on success
#
# Cases (interop/cpp/cpp_client.py): sync / oneway / batch / orderly sends with tags, keys and
# properties; push consumer with a tag filter; delay level; redelivery after a failing handler;
# pull consumer. The client sends enum ordinals and string numbers in its heartbeat, which the
# broker must read as Java does.
# Needs: cargo, python3 with venv, PyPI reachable for the first run (the venv is cached in
# interop/cpp/.venv). Env: RMQ_PROFILE=debug|release (default release), RMQ_SKIP_BUILD=1,
# TIMEOUT_S (60), INTEROP_KEEP=1 (keep the temp dir).
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
work=$(mktemp -d "${TMPDIR:-/tmp}/rmq-interop-cpp.XXXXXX")
pids=()
failed=1

cleanup() {
  for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do
    for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
  done
  if [ "$failed" != 0 ]; then
    for f in "$work"/namesrv.log "$work"/broker.log; do
      [ -f "$f" ] && { echo "----- tail of $f"; tail -n 40 "$f"; }
    done
    f=$(ls -t "$work"/home/logs/rocketmq-cpp/* 2>/dev/null | head -1 || true)
    [ -n "$f" ] && { echo "----- errors in $f"; grep -E '\((error|warning)\)' "$f" | tail -n 20; }
  fi
  if [ -z "${INTEROP_KEEP:-}" ]; then rm -rf "$work"; else echo "kept $work"; fi
}
trap cleanup EXIT INT TERM

profile=${RMQ_PROFILE:-release}
if [ "$profile" = release ]; then cargo_flags=(--release); else cargo_flags=(); fi
if [ -z "${RMQ_SKIP_BUILD:-}" ]; then
  echo "== building $profile binaries"
  (cd "$root" && cargo build "${cargo_flags[@]}" -p mq-namesrv -p mq-broker -p mq-client --bin mqnamesrv --bin mqbroker --bin mqadmin)
fi
bin="$root/target/$profile"

venv="$root/interop/cpp/.venv"
if [ ! -x "$venv/bin/python" ] || ! "$venv/bin/python" -c 'import rocketmq.client' 2>/dev/null; then
  echo "== installing rocketmq==0.4.4 (rocketmq-client-cpp) into $venv"
  rm -rf "$venv"
  python3 -m venv "$venv"
  "$venv/bin/pip" install -q --disable-pip-version-check rocketmq==0.4.4
fi

# A free loopback port p whose p-2 (the broker's fast port) and p+1 are free too.
free_port() {
  python3 - <<'PY'
import random, socket
for _ in range(200):
    p = random.randint(20000, 60000)
    ok = True
    for q in (p, p - 2, p + 1):
        s = socket.socket()
        try:
            s.bind(("127.0.0.1", q))
        except OSError:
            ok = False
        finally:
            s.close()
    if ok:
        print(p)
        break
PY
}

wait_port() { # port timeout_s
  local deadline=$((SECONDS + $2))
  until (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; do
    [ $SECONDS -lt $deadline ] || { echo "interop-cpp: nothing listening on 127.0.0.1:$1 after $2 s" >&2; return 1; }
    sleep 0.2
  done
}

ns_port=$(free_port)
broker_port=$(free_port)
namesrv="127.0.0.1:$ns_port"
echo "== starting mqnamesrv on $namesrv, mqbroker on 127.0.0.1:$broker_port (data in $work)"
"$bin/mqnamesrv" --listen "$namesrv" --set "kvConfigPath=$work/kvConfig.json" >"$work/namesrv.log" 2>&1 &
pids+=($!)
wait_port "$ns_port" 30
"$bin/mqbroker" -c "$root/conf/broker.conf" -n "$namesrv" \
  --set brokerIP1=127.0.0.1 --set brokerIP2=127.0.0.1 --set brokerName=broker-cpp \
  --set "listenPort=$broker_port" --set "storePathRootDir=$work/store" \
  >"$work/broker.log" 2>&1 &
pids+=($!)
wait_port "$broker_port" 60

topic="CppInteropTopic"
NAMESRV_ADDR=$namesrv "$bin/mqadmin" updateTopic -c DefaultCluster -t "$topic" -r 4 -w 4 >/dev/null
# The route reaches the name server with the broker's next registration; wait for it.
deadline=$((SECONDS + 30))
until NAMESRV_ADDR=$namesrv "$bin/mqadmin" topicRoute -t "$topic" >/dev/null 2>&1; do
  [ $SECONDS -lt $deadline ] || { echo "interop-cpp: no route for $topic" >&2; exit 1; }
  sleep 0.2
done

echo "== rocketmq-client-cpp cases"
# The C++ client logs under $HOME/logs/rocketmq-cpp: keep that inside the temp dir.
mkdir -p "$work/home"
HOME="$work/home" timeout $((${TIMEOUT_S:-60} * 6)) "$venv/bin/python" "$root/interop/cpp/cpp_client.py" "$namesrv" "$topic"
failed=0
echo "interop-cpp ok"
