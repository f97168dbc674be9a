#!/usr/bin/env bash
# Interop test with a third real client: rocketmq-client-rust 1.0 from crates.io (the Rust
# port's client, written against Java 5.x servers and decoding strictly), unmodified, against
# our mqnamesrv + mqbroker.
#
#   scripts/interop-rust.sh       # build, start a stack on free ports, run, exit 0 on success
#
# The client is driven by interop/rust-client (its own Cargo.lock, outside the workspace; built
# into target/interop-rust-client so CI's cache of target/ covers it). Cases, in order:
# sync/async/oneway sends with tags, keys and a property; a clustering push consumer; an
# orderly consumer over key-selected queues; a consumer restart that continues from the
# group's committed offset; a SQL92-filtered consumer (broker started with
# enablePropertyFilter=true); the admin API reading every admin body (strict 5.x decoding).
#
#   scripts/interop-rust.sh secure   # the same with ACL and TLS on
#
# Modes: `plain` (default) runs the cases in plaintext against a name server and broker in
# tlsMode=permissive with a certificate, then a send + push consumer with the client's TLS on
# (both on the same ports). `secure`: aclEnable=true and tlsMode=enforcing on both (the
# broker registers over TLS, signed by the admin account); every case runs over TLS, signed
# by a non-admin account limited to its topics (the admin case by the admin account); a
# plaintext client and a wrong secret are refused. The driver reads RMQ_TLS_CA and
# RMQ_ACCESS_KEY/RMQ_SECRET_KEY (interop/rust-client/src/main.rs).
# Env: RMQ_PROFILE=debug|release (default release), RMQ_SKIP_BUILD=1 (our binaries are built),
# TIMEOUT_S (60 per wait), INTEROP_KEEP=1 (keep the temp dir).
set -euo pipefail
# shellcheck source=scripts/lib.sh
. "$(dirname "$0")/lib.sh"

RMQ_KEEP=${RMQ_KEEP:-${INTEROP_KEEP:+1}}
failed=1
rmq_on_exit() {
  [ "$failed" != 0 ] || return 0
  rmq_tail_logs "$RMQ_WORK/namesrv.log" "$RMQ_WORK/broker.log"
}
rmq_install_traps
rmq_workdir rmq-interop-rust
mode=${1:-plain}
case $mode in plain | secure) ;; *) echo "usage: $0 [plain|secure]" >&2; exit 2 ;; esac

rmq_build

client_dir="$RMQ_ROOT/interop/rust-client"
client_target="$RMQ_ROOT/target/interop-rust-client"
t0=$SECONDS
echo "== building rocketmq-client-rust 1.0 driver (interop/rust-client, --locked)"
(cd "$client_dir" && cargo build --locked --quiet --target-dir "$client_target")
echo "== built in $((SECONDS - t0)) s"
client="$client_target/debug/rmq-interop-rust-client"

pki="$RMQ_WORK/pki"
rmq_make_pki "$pki"
tls_files=(--set "tlsCertPath=$pki/cert.pem" --set "tlsKeyPath=$pki/key.pem")
topics=(RustInteropTopic RustOrderTopic RustRestartTopic RustSqlTopic RustTlsTopic)
admin=("$RMQ_BIN/mqadmin")
client_env=() admin_env=()
if [ "$mode" = secure ]; then
  ADMIN_AK=rustAdmin01 ADMIN_SK=rust-admin-secret
  USER_AK=rustUser001 USER_SK=rust-user-secret
  acl="$RMQ_WORK/plain_acl.yml"
  {
    printf 'accounts:\n  - accessKey: %s\n    secretKey: %s\n    admin: true\n' "$ADMIN_AK" "$ADMIN_SK"
    printf '  - accessKey: %s\n    secretKey: %s\n    admin: false\n' "$USER_AK" "$USER_SK"
    printf '    defaultTopicPerm: DENY\n    defaultGroupPerm: SUB\n    topicPerms:\n'
    printf '      - %s=PUB|SUB\n' "${topics[@]}"
  } >"$acl"
  sec=(--set aclEnable=true --set "aclFilePath=$acl" --set tlsMode=enforcing "${tls_files[@]}")
  rmq_start_namesrv "" "${sec[@]}"
  rmq_start_broker "" -c "$RMQ_ROOT/conf/broker.conf" --set brokerName=broker-rust \
    --set enablePropertyFilter=true "${sec[@]}" --set "accessKey=$ADMIN_AK" \
    --set "secretKey=$ADMIN_SK" --set tlsEnable=true --set "tlsTrustCertPath=$pki/ca.pem"
  export RMQ_TLS_CA=$pki/ca.pem # mqadmin's and the driver's TLS
  admin+=(--ak "$ADMIN_AK" --sk "$ADMIN_SK")
  client_env=("RMQ_ACCESS_KEY=$USER_AK" "RMQ_SECRET_KEY=$USER_SK")
  admin_env=("RMQ_ACCESS_KEY=$ADMIN_AK" "RMQ_SECRET_KEY=$ADMIN_SK")
else
  rmq_start_namesrv "" --set tlsMode=permissive "${tls_files[@]}"
  rmq_start_broker "" -c "$RMQ_ROOT/conf/broker.conf" --set brokerName=broker-rust \
    --set enablePropertyFilter=true --set tlsMode=permissive "${tls_files[@]}"
fi
echo "== mode $mode: mqnamesrv on $NAMESRV, mqbroker on $BROKER (data in $RMQ_WORK)"

# The broker is in the cluster once its first registration reached the name server.
rmq_wait_for 30 sh -c '"$@" clusterList | grep -q broker-rust' _ "${admin[@]}"
for topic in "${topics[@]}"; do
  "${admin[@]}" updateTopic -c DefaultCluster -t "$topic" -r 4 -w 4 >/dev/null
done
# Routes reach the name server with the broker's next registration; wait for the last one.
rmq_wait_for 30 "${admin[@]}" topicRoute -t RustTlsTopic

run() { # [VAR=value...] scenario args...: the client's logs go to RMQ_WORK, its verdict to stdout
  local env=("${client_env[@]}")
  while [[ $1 == *=* ]]; do env+=("$1"); shift; done
  echo "== $1"
  (cd "$RMQ_WORK" && env "${env[@]}" timeout $((${TIMEOUT_S:-60} * 3)) "$client" "$@" --timeout "${TIMEOUT_S:-60}" \
    2>>"$RMQ_WORK/client.log") || { echo "FAILED: $1 (client log: $RMQ_WORK/client.log)"; tail -n 30 "$RMQ_WORK/client.log"; return 1; }
}
refused() { # why VAR=value... scenario args...: the client must fail, within a short timeout
  local why=$1
  shift
  if (cd "$RMQ_WORK" && env "${client_env[@]}" "$@" >/dev/null 2>>"$RMQ_WORK/client.log"); then
    echo "FAILED: $why was accepted"
    return 1
  fi
  echo "ok: refused: $why"
}

run send "$NAMESRV" RustInteropTopic 90
run push "$NAMESRV" RustInteropTopic rust_interop_cg 90
run orderly "$NAMESRV" RustOrderTopic rust_interop_order_cg 80
# Restart: the first consumer commits offsets up to restart-20; the second (a new process, same
# group) must get restart-20..40 and none of the first twenty.
run consume "$NAMESRV" RustRestartTopic rust_interop_restart_cg 0 20
run consume "$NAMESRV" RustRestartTopic rust_interop_restart_cg 20 40
run sql "$NAMESRV" RustSqlTopic rust_interop_sql_cg
# Admin bodies (cluster info, route, topic stats, topic/group configs, runtime info, consumer
# connections, consume stats) through the client's strict 5.x decoders.
run "${admin_env[@]}" admin "$NAMESRV" RustInteropTopic rust_interop_cg
if [ "$mode" = secure ]; then
  short=(timeout 30 "$client" send "$NAMESRV" RustTlsTopic 1 --timeout 5)
  refused "a plaintext client (tlsMode=enforcing)" RMQ_TLS_CA= "${short[@]}"
  refused "a wrong secret" RMQ_SECRET_KEY=wrong-secret "${short[@]}"
else
  # TLS on the same ports that just served plaintext (tlsMode=permissive).
  run RMQ_TLS_CA="$pki/ca.pem" send "$NAMESRV" RustTlsTopic 30
  run RMQ_TLS_CA="$pki/ca.pem" push "$NAMESRV" RustTlsTopic rust_tls_cg 30
fi
failed=0
echo "interop-rust $mode ok"
