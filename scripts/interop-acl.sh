#!/usr/bin/env bash
# ACL interop: real signing clients against our mqnamesrv + mqbroker with aclEnable=true on
# both (one plain_acl.yml, reloaded on change; the broker signs its registrations with the
# admin account): ali-ons 3.12 (`accessKeyId`/`accessKeySecret`, interop/acl.js) and
# rocketmq-client-cpp 1.x through PyPI `rocketmq` 0.4.4 (`set_session_credentials`,
# interop/cpp/cpp_acl.py), and the 5.x gRPC endpoint with rocketmq-python-client 5.1.2 and
# rocketmq-client-nodejs 1.0.8 (`Credentials(ak, sk)` / `sessionCredentials`: the
# MQv2-HMAC-SHA1 `authorization` header; interop/grpc/python/sdk5_acl.py,
# interop/grpc/node/acl.js). Each is allowed and refused exactly as the file says: signed
# send/consume, DENY topic, wrong secret, unknown or missing key, non-admin admin request, and
# (ali-ons) an unsigned client allowed only while its address is on the global white list.
#
#   scripts/interop-acl.sh        # build, start, run both clients, exit 0 on success
#
# Needs what scripts/interop.sh and scripts/interop-cpp.sh need (node + npm, python3 venv;
# the clients are installed on first use). Env: RMQ_PROFILE, RMQ_SKIP_BUILD=1, TIMEOUT_S (60),
# INTEROP_KEEP=1 (keep the temp dir), ACL_SKIP_CPP=1 / ACL_SKIP_NODE=1 / ACL_SKIP_GRPC=1.
set -euo pipefail
# shellcheck source=scripts/lib.sh
. "$(dirname "$0")/lib.sh"

RMQ_KEEP=${RMQ_KEEP:-${INTEROP_KEEP:+1}}
failed=1
rmq_on_exit() { [ "$failed" = 0 ] || rmq_tail_logs "$RMQ_WORK/namesrv.log" "$RMQ_WORK/broker.log"; }
rmq_install_traps
rmq_workdir rmq-interop-acl

rmq_build

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
# A throw-away CA and a certificate for 127.0.0.1: the broker runs tlsMode=permissive, so
# its remoting and gRPC ports take TLS and plaintext alike (the remoting clients below use
# plaintext, the 5.x SDKs both).
pki="$RMQ_WORK/pki"
rmq_make_pki "$pki"
sec=(--set aclEnable=true --set "aclFilePath=$acl" --set aclReloadIntervalMillis=200)
rmq_start_namesrv "" "${sec[@]}"
GRPC_PORT=$(rmq_free_port)
rmq_start_broker "" -c "$RMQ_ROOT/conf/broker.conf" --set brokerName=broker-acl "${sec[@]}" \
  --set "accessKey=$ADMIN_AK" --set "secretKey=$ADMIN_SK" --set "grpcServerPort=$GRPC_PORT" \
  --set tlsMode=permissive --set "tlsCertPath=$pki/cert.pem" --set "tlsKeyPath=$pki/key.pem"
echo "== mqnamesrv on $NAMESRV, mqbroker on $BROKER with aclEnable=true (data in $RMQ_WORK)"

admin=("$RMQ_BIN/mqadmin" --ak "$ADMIN_AK" --sk "$ADMIN_SK")
# The broker is in the cluster once its first (signed) registration reached the name server.
rmq_wait_for 30 sh -c "\"$RMQ_BIN/mqadmin\" clusterList | grep -q broker-acl"
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
  echo "== ali-ons unsigned: refused; allowed while 127.0.0.1 is on the global white list (file reloaded)"
  white() { (cd "$RMQ_ROOT/interop" && timeout "${TIMEOUT_S:-60}" node acl_white.js "$NAMESRV" "$topic" "$1"); }
  white refused
  cp "$acl" "$acl.orig"
  { printf 'globalWhiteRemoteAddresses:\n  - 127.0.0.1\n'; cat "$acl.orig"; } >"$acl.new"
  mv "$acl.new" "$acl"
  rmq_wait_for 60 white allowed || { echo "FAIL the white-listed address was still refused" >&2; exit 1; }
  white allowed
  mv "$acl.orig" "$acl"
  rmq_wait_for 60 white refused || { echo "FAIL the address was still allowed after the list was restored" >&2; exit 1; }
  white refused
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
if [ -z "${ACL_SKIP_GRPC:-}" ]; then
  venv="$RMQ_ROOT/interop/grpc/python/.venv"
  req="$RMQ_ROOT/interop/grpc/python/requirements.txt"
  if [ ! -x "$venv/bin/python" ] || ! cmp -s "$req" "$venv/requirements.txt"; then
    rm -rf "$venv"
    python3 -m venv "$venv"
    "$venv/bin/pip" install -q --disable-pip-version-check --no-deps -r "$req"
    cp "$req" "$venv/requirements.txt"
  fi
  rmq_wait_port "$GRPC_PORT" 30 "$BROKER_PID"
  echo "== rocketmq-python-client 5.1.2 over gRPC (Credentials(ak, sk)), plaintext then TLS"
  mkdir -p "$RMQ_WORK/home"
  py_acl=("$venv/bin/python" "$RMQ_ROOT/interop/grpc/python/sdk5_acl.py" "127.0.0.1:$GRPC_PORT"
    "$topic" "$deny" "$USER_AK" "$USER_SK")
  HOME="$RMQ_WORK/home" timeout $((${TIMEOUT_S:-60} * 4)) "${py_acl[@]}"
  HOME="$RMQ_WORK/home" GRPC_DEFAULT_SSL_ROOTS_FILE_PATH="$pki/ca.pem" \
    timeout $((${TIMEOUT_S:-60} * 4)) "${py_acl[@]}" "$pki/ca.pem"
  if [ ! -d "$RMQ_ROOT/interop/grpc/node/node_modules/rocketmq-client-nodejs" ]; then
    (cd "$RMQ_ROOT/interop/grpc/node" && npm ci --no-audit --no-fund --loglevel=error)
  fi
  echo "== rocketmq-client-nodejs 1.0.8 over gRPC (sessionCredentials, sslEnabled)"
  (cd "$RMQ_ROOT/interop/grpc/node" && HOME="$RMQ_WORK/home" GRPC_DEFAULT_SSL_ROOTS_FILE_PATH="$pki/ca.pem" \
    timeout $((${TIMEOUT_S:-60} * 4)) node acl.js "127.0.0.1:$GRPC_PORT" "$topic" "$deny" "$USER_AK" "$USER_SK" tls)
fi
failed=0
echo "interop-acl ok"
