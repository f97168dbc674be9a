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
# shellcheck source=scripts/lib.sh
. "$(dirname "$0")/lib.sh"

RMQ_KEEP=${RMQ_KEEP:-${INTEROP_KEEP:+1}}
failed=1
rmq_on_exit() {
  [ "$failed" != 0 ] || return 0
  rmq_tail_logs "$RMQ_WORK/namesrv.log" "$RMQ_WORK/broker.log"
  local f
  f=$(find "$RMQ_WORK/home/logs/rocketmq-cpp" -type f -printf '%T@ %p\n' 2>/dev/null | sort -rn | head -1 | cut -d' ' -f2-)
  if [ -n "$f" ]; then echo "----- errors in $f"; grep -E '\((error|warning)\)' "$f" | tail -n 20; fi
}
rmq_install_traps
rmq_workdir rmq-interop-cpp

rmq_build

venv="$RMQ_ROOT/interop/cpp/.venv"
if [ ! -x "$venv/bin/python" ] || ! "$venv/bin/python" -c 'import rocketmq.client' 2>/dev/null; then
  echo "== installing rocketmq==0.4.4 (rocketmq-client-cpp) into $venv"
  rm -rf "$venv"
  python3 -m venv "$venv"
  "$venv/bin/pip" install -q --disable-pip-version-check rocketmq==0.4.4
fi

rmq_start_namesrv
rmq_start_broker "" -c "$RMQ_ROOT/conf/broker.conf" --set brokerName=broker-cpp
echo "== mqnamesrv on $NAMESRV, mqbroker on $BROKER (data in $RMQ_WORK)"

topic="CppInteropTopic"
"$RMQ_BIN/mqadmin" updateTopic -c DefaultCluster -t "$topic" -r 4 -w 4 >/dev/null
# The route reaches the name server with the broker's next registration; wait for it.
rmq_wait_for 30 "$RMQ_BIN/mqadmin" topicRoute -t "$topic"

echo "== rocketmq-client-cpp cases"
# The C++ client logs under $HOME/logs/rocketmq-cpp: keep that inside the temp dir.
mkdir -p "$RMQ_WORK/home"
HOME="$RMQ_WORK/home" timeout $((${TIMEOUT_S:-60} * 6)) "$venv/bin/python" "$RMQ_ROOT/interop/cpp/cpp_client.py" "$NAMESRV" "$topic"
failed=0
echo "interop-cpp ok"
