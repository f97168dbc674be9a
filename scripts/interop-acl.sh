#!/usr/bin/env bash
# ACL interop: real signing clients against our mqnamesrv + mqbroker with aclEnable=true on
# both (one plain_acl.yml, reloaded on change; the broker signs its registrations with the
# admin account): ali-ons 3.12 (`accessKeyId`/`accessKeySecret`, interop/acl.js) and
# rocketmq-client-cpp 1.x through PyPI `rocketmq` 0.4.4 (`set_session_credentials`,
# interop/cpp/cpp_acl.py). Each is allowed and refused exactly as the file says: signed
# send/consume, DENY topic, wrong secret, unknown or missing key, non-admin admin request.
#
#   scripts/interop-acl.sh        # build, start, run both clients, exit 0 on success
#
# Needs what scripts/interop.sh and scripts/interop-cpp.sh need (node + npm, python3 venv;
# the clients are installed on first use). Env: RMQ_PROFILE, RMQ_SKIP_BUILD=1, TIMEOUT_S (60),
# INTEROP_KEEP=1 (keep the temp dir), ACL_SKIP_CPP=1 / ACL_SKIP_NODE=1.
set -euo pipefail
# shellcheck source=scripts/lib.sh
. "$(dirname "$0")/lib.sh"

RMQ_KEEP=${RMQ_KEEP:-${INTEROP_KEEP:+1}}
failed=1
rmq_on_exit() { [ "$failed" = 0 ] || rmq_tail_logs "$RMQ_WORK/namesrv.log" "$RMQ_WORK/broker.log"; }
rmq_install_traps
rmq_workdir rmq-interop-acl

rmq_build -p mq-namesrv -p mq-broker -p mq-client --bin mqnamesrv --bin mqbroker --bin mqadmin

ADMIN_AK=rmqAdmin01 ADMIN_SK=admin-secret-01
USER_AK=rmqUser001 USER_SK=user-secret-001
topic=AclInteropTopic deny=AclDenyTopic
acl="$RMQ_WORK/plain_acl.yml"
cat >"$acl" <<YML
accounts:
  - accessKey: $ADMIN_AK
    secretKey: $ADMIN_SK
    admin: true
  - accessKey: $USER_AK
    secretKey: $USER_SK
    admin: false
    defaultTopicPerm: DENY
    defaultGroupPerm: SUB
    topicPerms:
      - $topic=PUB|SUB
      - $deny=DENY
YML
sec=(--set aclEnable=true --set "aclFilePath=$acl")
rmq_start_namesrv "" "${sec[@]}"
rmq_start_broker "" -c "$RMQ_ROOT/conf/broker.conf" --set brokerName=broker-acl "${sec[@]}" \
  --set "accessKey=$ADMIN_AK" --set "secretKey=$ADMIN_SK"
echo "== mqnamesrv on $NAMESRV, mqbroker on $BROKER with aclEnable=true (data in $RMQ_WORK)"

admin=("$RMQ_BIN/mqadmin" --ak "$ADMIN_AK" --sk "$ADMIN_SK")
for t in "$topic" "$deny"; do
  "${admin[@]}" updateTopic -c DefaultCluster -t "$t" -r 4 -w 4 >/dev/null
  rmq_wait_for 30 "${admin[@]}" topicRoute -t "$t"
done
# mqadmin itself: a non-admin account may not create topics.
if out=$("$RMQ_BIN/mqadmin" --ak "$USER_AK" --sk "$USER_SK" updateTopic -c DefaultCluster -t NotAllowed -r 1 -w 1 2>&1); then
  echo "FAIL mqadmin updateTopic by a non-admin account was accepted: $out" >&2; exit 1
fi
case "$out" in *"Need admin permission"*) echo "PASS mqadmin non-admin updateTopic refused" ;;
  *) echo "FAIL mqadmin non-admin updateTopic: $out" >&2; exit 1 ;; esac

if [ -z "${ACL_SKIP_NODE:-}" ]; then
  if [ ! -d "$RMQ_ROOT/interop/node_modules/ali-ons" ]; then
    (cd "$RMQ_ROOT/interop" && npm ci --no-audit --no-fund --loglevel=error)
  fi
  echo "== ali-ons (accessKeyId/accessKeySecret)"
  (cd "$RMQ_ROOT/interop" && timeout $((${TIMEOUT_S:-60} * 4)) node acl.js "$NAMESRV" "$BROKER" "$topic" "$deny" \
    "$USER_AK" "$USER_SK" "$ADMIN_AK" "$ADMIN_SK")
fi

if [ -z "${ACL_SKIP_CPP:-}" ]; then
  venv="$RMQ_ROOT/interop/cpp/.venv"
  if [ ! -x "$venv/bin/python" ] || ! "$venv/bin/python" -c 'import rocketmq.client' 2>/dev/null; then
    rm -rf "$venv"
    python3 -m venv "$venv"
    "$venv/bin/pip" install -q --disable-pip-version-check rocketmq==0.4.4
  fi
  echo "== rocketmq-client-cpp (setSessionCredentials)"
  mkdir -p "$RMQ_WORK/home"
  HOME="$RMQ_WORK/home" timeout $((${TIMEOUT_S:-60} * 4)) "$venv/bin/python" "$RMQ_ROOT/interop/cpp/cpp_acl.py" \
    "$NAMESRV" "$topic" "$deny" "$USER_AK" "$USER_SK"
fi
failed=0
echo "interop-acl ok"
