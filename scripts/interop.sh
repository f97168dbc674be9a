#!/usr/bin/env bash
# Interop acceptance test: a real third-party RocketMQ client (ali-ons 3.12.0, pure JavaScript,
# classic remoting protocol) against our mqnamesrv + mqbroker.
#
#   scripts/interop.sh            # build release binaries, run everything, exit 0 on success
#
# Steps: build `mqnamesrv` and `mqbroker` (release), start both on free loopback ports with a
# temp data dir, `npm ci` the pinned client (interop/package-lock.json), create the topics with a
# raw UPDATE_AND_CREATE_TOPIC (ali-ons does not auto-create), run the produce/consume round trip
# (COUNT messages with tag + key, consumed from the first offset by a fresh group, each exactly
# once) and the extended cases (tag filter, consumer restart, retry, delay). Everything started
# is killed on exit; logs are printed when something fails.
# Needs: cargo, node >= 16 and npm (registry reachable for the first `npm ci`).
# Env: COUNT (200), TIMEOUT_S (90), RMQ_PROFILE=debug (use debug binaries; default release),
#      INTEROP_SKIP_BUILD=1 / RMQ_SKIP_BUILD=1 (binaries already built), INTEROP_KEEP=1 (keep the
#      temp dir), INTEROP_VERBOSE=1 (ali-ons info logs).
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
count=${COUNT:-200}
timeout_s=${TIMEOUT_S:-90}
work=$(mktemp -d "${TMPDIR:-/tmp}/rmq-interop.XXXXXX")
pids=()
failed=1

cleanup() {
  for pid in "${pids[@]}"; do
    kill -TERM "$pid" 2>/dev/null || true
  done
  for pid in "${pids[@]}"; do
    for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
  done
  if [ "$failed" != 0 ]; then
    for f in "$work"/namesrv.log "$work"/broker.log; do
      [ -f "$f" ] && { echo "----- tail of $f"; tail -n 40 "$f"; }
    done
  fi
  if [ -z "${INTEROP_KEEP:-}" ]; then rm -rf "$work"; else echo "kept $work"; fi
}
trap cleanup EXIT INT TERM

command -v node >/dev/null || { echo "interop: node is required" >&2; exit 1; }
command -v npm >/dev/null || { echo "interop: npm is required" >&2; exit 1; }

profile=${RMQ_PROFILE:-release}
if [ "$profile" = release ]; then cargo_flags=(--release); else cargo_flags=(); fi
if [ -z "${INTEROP_SKIP_BUILD:-}${RMQ_SKIP_BUILD:-}" ]; then
  echo "== building $profile binaries"
  (cd "$root" && cargo build "${cargo_flags[@]}" -p mq-namesrv -p mq-broker)
fi
bin="$root/target/$profile"

echo "== installing ali-ons (npm ci)"
if [ ! -d "$root/interop/node_modules/ali-ons" ]; then
  (cd "$root/interop" && npm ci --no-audit --no-fund --loglevel=error)
fi

# A free loopback port p whose p-2 (the broker's fast port) and p+1 are free too.
free_port() {
  node -e '
    const net = require("net");
    const probe = p => new Promise(r => { const s = net.createServer(); s.once("error", () => r(false)); s.listen(p, "127.0.0.1", () => s.close(() => r(true))); });
    (async () => {
      for (let i = 0; i < 200; i++) {
        const p = 20000 + Math.floor(Math.random() * 40000);
        if (await probe(p) && await probe(p - 2) && await probe(p + 1)) { console.log(p); return; }
      }
      process.exit(1);
    })();'
}

wait_port() { # host port timeout_s
  local deadline=$((SECONDS + $3))
  until node -e 'const s=require("net").connect(+process.argv[2],process.argv[1],()=>{s.end();process.exit(0)});s.on("error",()=>process.exit(1))' "$1" "$2" 2>/dev/null; do
    [ $SECONDS -lt $deadline ] || { echo "interop: nothing listening on $1:$2 after $3 s" >&2; return 1; }
    sleep 0.2
  done
}

ns_port=$(free_port)
broker_port=$(free_port)
namesrv="127.0.0.1:$ns_port"
broker="127.0.0.1:$broker_port"
echo "== starting mqnamesrv on $namesrv, mqbroker on $broker (data in $work)"
"$bin/mqnamesrv" --listen "$namesrv" --set "kvConfigPath=$work/kvConfig.json" >"$work/namesrv.log" 2>&1 &
pids+=($!)
wait_port 127.0.0.1 "$ns_port" 30
"$bin/mqbroker" -c "$root/conf/broker.conf" -n "$namesrv" \
  --set brokerIP1=127.0.0.1 --set brokerIP2=127.0.0.1 --set brokerName=broker-interop \
  --set "listenPort=$broker_port" --set "storePathRootDir=$work/store" \
  --set "messageDelayLevel=1s 1s 3s 1s 1s 1s 1s 1s 1s 1s 1s 1s 1s 1s 1s 1s 1s 1s" \
  >"$work/broker.log" 2>&1 &
pids+=($!)
wait_port 127.0.0.1 "$broker_port" 60

topic="InteropTopic"
echo "== creating topics"
for t in "$topic" "${topic}_tags" "${topic}_restart" "${topic}_retry" "${topic}_delay"; do
  node "$root/interop/create_topic.js" "$broker" "$t" 4
done

cd "$root/interop"
echo "== round trip: $count messages"
node produce_consume.js "$namesrv" "$topic" "$count" "$timeout_s"
echo "== extended cases"
node extended.js "$namesrv" "$topic" "$timeout_s"

# Clean shutdown must work too: SIGTERM the broker and expect exit status 0.
broker_pid=${pids[1]}
kill -TERM "$broker_pid"
status=0
wait "$broker_pid" || status=$?
if [ "$status" != 0 ]; then echo "interop: mqbroker exited with $status on SIGTERM" >&2; exit 1; fi
echo "== mqbroker shut down cleanly (exit 0)"
failed=0
echo "interop ok"
