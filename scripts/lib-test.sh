#!/usr/bin/env bash
# Self-test of scripts/lib.sh: free ports, the waits, PID tracking/stopping, process groups and
# the exit trap, with throw-away python3 listeners and sleeps on loopback. Builds nothing; takes
# a few seconds.  Usage: scripts/lib-test.sh   (prints "lib-test: N passed" or the failure)
set -euo pipefail
# shellcheck source=scripts/lib.sh
. "$(dirname "$0")/lib.sh"
rmq_install_traps
rmq_workdir rmq-lib-test
n=0
ok() { n=$((n + 1)); }
fail() { echo "lib-test: FAIL: $*" >&2; exit 1; }

# A listener on PORT until killed.
listen() {
  python3 -c 'import socket,sys,time; s=socket.socket(); s.bind(("127.0.0.1",int(sys.argv[1]))); s.listen(); time.sleep(600)' "$1" &
  rmq_track $!
}

# Free ports: in range, below the ephemeral range, offsets free too.
low=$(cut -f1 /proc/sys/net/ipv4/ip_local_port_range)
p=$(rmq_free_port -2 1 10)
if [ "$p" -lt 20002 ] || [ $((p + 10)) -ge "$low" ]; then fail "rmq_free_port gave $p (ephemeral from $low)"; fi
ok

# rmq_wait_port: succeeds once a listener is up; fails fast when the watched PID is gone.
listen "$p"
rmq_wait_port "$p" 10 || fail "no listener seen on $p"
! rmq_port_free_or_fail "$p" 2>/dev/null || fail "port $p in use not detected"
ok
q=$(rmq_free_port)
sleep 0.1 &
dead=$!
wait "$dead"
t0=$SECONDS
! rmq_wait_port "$q" 20 "$dead" 2>/dev/null || fail "rmq_wait_port succeeded on a closed port"
[ $((SECONDS - t0)) -lt 5 ] || fail "rmq_wait_port did not notice the dead PID"
! rmq_wait_port "$q" 1 2>/dev/null || fail "rmq_wait_port ignored its deadline"
ok

# rmq_wait_log: sees a line written later; times out otherwise.
(sleep 0.3; echo "broker boot success" >>"$RMQ_WORK/x.log") &
rmq_wait_log "$RMQ_WORK/x.log" 'boot success' 10 || fail "rmq_wait_log missed the line"
! rmq_wait_log "$RMQ_WORK/x.log" 'never' 1 2>/dev/null || fail "rmq_wait_log ignored its deadline"
ok

# rmq_hold_ports: a held port looks taken to another script's pick, yet a server binding with
# SO_REUSEADDR (as ours do) listens there; a port already taken cannot be held.
h=$(rmq_free_port)
rmq_hold_ports "$h" || fail "cannot hold the free port $h"
python3 -c 'import socket,sys; socket.socket().bind(("127.0.0.1",int(sys.argv[1])))' "$h" 2>/dev/null \
  && fail "held port $h looks free to a plain bind"
python3 -c 'import socket,sys
s=socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1",int(sys.argv[1]))); s.listen()' "$h" || fail "a server cannot bind the held port $h"
rmq_release_ports
! rmq_hold_ports "$p" 2>/dev/null || fail "held port $p that a listener has"
ok

# rmq_stop_pid: SIGKILL after the grace period when SIGTERM is ignored.
bash -c 'trap "" TERM; sleep 600' &
stubborn=$!
sleep 0.2
rmq_stop_pid "$stubborn" 1
! kill -0 "$stubborn" 2>/dev/null || fail "stubborn process survived"
rmq_stop_pid "$stubborn" 1 # again: must not fail (under set -e a reaped status ended the script)
ok

# rmq_run_group: returns the command's status and kills what it left in its group.
marker="$RMQ_WORK/left"
set +e
RMQ_GROUP_TIMEOUT_S=20 rmq_run_group bash -c "sleep 600 & echo \$! >'$marker'; exit 3"
rc=$?
set -e
[ "$rc" = 3 ] || fail "rmq_run_group returned $rc"
left=$(cat "$marker")
rmq_wait_for 5 bash -c "! kill -0 $left" || fail "rmq_run_group left $left running"
ok

# The exit trap stops tracked PIDs and removes the work dir, in a child script.
child_out=$(bash -c '. "$1"; rmq_install_traps; rmq_workdir rmq-lib-child; sleep 600 & rmq_track $!; echo "$! $RMQ_WORK"; exit 4' _ "$RMQ_ROOT/scripts/lib.sh") && fail "child exit status lost"
read -r child_pid child_work <<<"$child_out"
! kill -0 "$child_pid" 2>/dev/null || fail "exit trap left $child_pid running"
[ ! -e "$child_work" ] || fail "exit trap left $child_work"
ok

echo "lib-test: $n passed"
