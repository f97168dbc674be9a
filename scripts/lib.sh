# shellcheck shell=bash
# shellcheck disable=SC2034  # NS_PORT, BROKER, ... are set for the scripts that source this
# scripts/lib.sh — shell helpers shared by the test and demo scripts (sourced, never run).
#
#   . "$(dirname "$0")/lib.sh"          # from scripts/; adjust the path elsewhere
#
# Sourcing only defines functions and a few RMQ_* variables: it installs no trap and starts
# nothing, so any script (bench/lib.sh too) can take just the parts it needs.
#
# Ports:     rmq_free_port [OFFSET...]        a free loopback port below the ephemeral range
# Waiting:   rmq_wait_port PORT SECS [PID]    until something listens (fails early if PID died)
#            rmq_wait_log FILE REGEX SECS [PID]  until a line matching REGEX is in FILE
#            rmq_wait_http URL SECS [PID]     until URL answers 2xx (fails early if PID died)
#            rmq_wait_for SECS CMD...         until CMD succeeds
# Processes: rmq_track PID                    register a PID to be stopped on exit
#            rmq_stop_pid PID [SECS]          SIGTERM, wait, then SIGKILL one process
#            rmq_stop_tracked                 stop every tracked PID, newest first
#            rmq_exit_trap                    EXIT trap: stop tracked PIDs, run rmq_on_exit RC
#                                             if the script defines it, remove RMQ_WORK
#            rmq_run_group CMD...             run CMD in its own process group, then kill that group
# Temp dir:  rmq_workdir NAME                 RMQ_WORK=$(mktemp -d .../NAME.XXXXXX)
# Building:  rmq_build                        the workspace's binaries in RMQ_PROFILE (release|debug), sets RMQ_BIN
# Stack:     rmq_start_namesrv [PORT] [ARG...] mqnamesrv on 127.0.0.1 → NS_PORT, NAMESRV, NS_PID
#            rmq_start_broker [PORT] [ARG...] mqbroker registered to $NAMESRV → BROKER_PORT, BROKER, BROKER_PID
#
# Variables: RMQ_ROOT (repository root), RMQ_PROFILE (release; debug for quick local runs),
# RMQ_SKIP_BUILD=1 (binaries already built), RMQ_BIN (target/<profile>), RMQ_WORK (the temp dir),
# RMQ_KEEP=1 (keep RMQ_WORK), RMQ_POLL_S (0.1: poll period of the waits).

RMQ_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
RMQ_PROFILE=${RMQ_PROFILE:-release}
RMQ_BIN=${RMQ_BIN:-$RMQ_ROOT/target/$RMQ_PROFILE}
RMQ_POLL_S=${RMQ_POLL_S:-0.1}
RMQ_PIDS=()

# rmq_log MSG...: a line on stderr, prefixed with the script's name.
rmq_log() { echo "[$(basename "$0" .sh)] $*" >&2; }

# rmq_free_port [OFFSET...]: print a port P such that P and P+OFFSET (for each OFFSET) are free
# on every address (multi-host tests listen on 127.0.0.x; checked on the wildcard address, never
# listening), e.g. `rmq_free_port -2 1` for a broker (P-2 is its fast port, P+1 its HA port).
# P is picked at random between 20000 and the start of the kernel's ephemeral range (usually
# 32768), so no outgoing connection can take it between this check and the server's bind.
# Checked by binding, not connecting: a port bound but not yet listening counts as taken.
# A script often picks several ports before starting anything: every port given out (with its
# offsets) is kept in RMQ_PORTS_FILE (shared with child scripts, removed on exit) and never
# given twice, since "free now" alone cannot tell two picks apart.
if [ -z "${RMQ_PORTS_FILE:-}" ]; then
  RMQ_PORTS_FILE="${TMPDIR:-/tmp}/rmq-ports.$$" # created by the first pick
  RMQ_PORTS_OWNER=$$
  export RMQ_PORTS_FILE
fi
rmq_free_port() {
  local low=32768
  read -r low _ </proc/sys/net/ipv4/ip_local_port_range 2>/dev/null || true
  python3 - "$low" "$RMQ_PORTS_FILE" "$@" <<'PY'
import fcntl, random, socket, sys
high = int(sys.argv[1]) - 1
given_file = open(sys.argv[2], "a+")
fcntl.flock(given_file, fcntl.LOCK_EX)
given_file.seek(0)
given = {int(l) for l in given_file.read().split()}
del sys.argv[2]
offsets = [0] + [int(o) for o in sys.argv[2:]]
lo = 20000 - min(offsets)
hi = min(high - max(offsets), 65535 - max(offsets))
if hi <= lo:  # an unusual ephemeral range: fall back to the ports above it
    lo, hi = max(1024, int(sys.argv[1])) - min(offsets), 65535 - max(offsets)

def free(p):
    s = socket.socket()
    try:
        s.bind(("0.0.0.0", p))
        return True
    except OSError:
        return False
    finally:
        s.close()

for _ in range(500):
    p = random.randint(lo, hi)
    if all(p + o not in given and free(p + o) for o in offsets):
        given_file.write("".join(f"{p + o}\n" for o in offsets))
        given_file.close()
        print(p)
        sys.exit(0)
sys.exit("rmq_free_port: no free port found")
PY
}

# rmq_hold_ports PORT...: keep PORTs reserved until rmq_release_ports (or exit), for ports
# picked long before the server that takes them starts (containers: seconds later, in another
# process). The RMQ_PORTS_FILE only keeps this script's own picks apart; other scripts on the
# machine (other runs, CI) pick from the same range. A background process binds each port with
# SO_REUSEADDR and never listens: rmq_free_port's check (a bind without SO_REUSEADDR) sees it
# taken everywhere, while our servers, which bind with SO_REUSEADDR (tokio and std do, as
# Node and Go), still bind and listen there. Fails if a port is already taken. Sets
# RMQ_HOLD_PID (tracked).
rmq_hold_ports() {
  local ready
  ready=$(mktemp "${TMPDIR:-/tmp}/rmq-hold.XXXXXX")
  python3 - "$ready" "$@" <<'PY' &
import signal, socket, sys
held, bad = [], []
for p in sys.argv[2:]:
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        s.bind(("127.0.0.1", int(p)))
        held.append(s)
    except OSError as e:
        bad.append(f"{p} ({e.strerror})")
with open(sys.argv[1], "w") as f:
    f.write(f"taken: {' '.join(bad)}\n" if bad else "held\n")
if bad:
    sys.exit(1)
signal.pause()  # until rmq_release_ports' SIGTERM
PY
  RMQ_HOLD_PID=$!
  rmq_track "$RMQ_HOLD_PID"
  rmq_wait_for 10 test -s "$ready" || { rm -f "$ready"; return 1; }
  if [ "$(cat "$ready")" != held ]; then
    rmq_log "cannot hold ports: $(cat "$ready")"
    rm -f "$ready"
    return 1
  fi
  rm -f "$ready"
}

# rmq_release_ports: end rmq_hold_ports' reservation (once the servers listen).
rmq_release_ports() {
  [ -n "${RMQ_HOLD_PID:-}" ] || return 0
  local keep=() p
  rmq_stop_pid "$RMQ_HOLD_PID" 5
  for p in "${RMQ_PIDS[@]}"; do [ "$p" = "$RMQ_HOLD_PID" ] || keep+=("$p"); done
  RMQ_PIDS=("${keep[@]}") # stopped: nothing left for the exit trap
  RMQ_HOLD_PID=
}

# rmq_alive PID: whether PID (empty = no process to watch) is still running.
rmq_alive() { [ -z "${1:-}" ] || kill -0 "$1" 2>/dev/null; }

# rmq_wait_for SECS CMD...: run CMD (output discarded) every RMQ_POLL_S until it succeeds;
# fail after SECS.
rmq_wait_for() {
  local secs=$1 deadline=$((SECONDS + $1))
  shift
  until "$@" >/dev/null 2>&1; do
    [ $SECONDS -lt $deadline ] || { rmq_log "timed out after $secs s waiting for: $*"; return 1; }
    sleep "$RMQ_POLL_S"
  done
}

# rmq_port_open PORT: whether something accepts TCP connections on 127.0.0.1:PORT.
rmq_port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# rmq_port_free_or_fail PORT: fail (with a message) when something already listens on PORT, so
# a wait for the port cannot be satisfied by another process's server.
rmq_port_free_or_fail() {
  ! rmq_port_open "$1" || { rmq_log "port $1 is already in use"; return 1; }
}

# rmq_wait_port PORT SECS [PID]: wait until 127.0.0.1:PORT accepts connections; fail after SECS,
# or at once when PID (the process that should listen) has exited.
rmq_wait_port() {
  local port=$1 secs=$2 pid=${3:-} deadline=$((SECONDS + $2))
  until rmq_port_open "$port"; do
    rmq_alive "$pid" || { rmq_log "process $pid exited before listening on :$port"; return 1; }
    [ $SECONDS -lt $deadline ] || { rmq_log "nothing listening on 127.0.0.1:$port after $secs s"; return 1; }
    sleep "$RMQ_POLL_S"
  done
}

# rmq_wait_http URL SECS [PID]: wait until an HTTP GET of URL succeeds (2xx); fail after SECS,
# or at once when PID has exited.
rmq_wait_http() {
  local url=$1 secs=$2 pid=${3:-} deadline=$((SECONDS + $2))
  until curl -fsS -o /dev/null --max-time 5 "$url" 2>/dev/null; do
    rmq_alive "$pid" || { rmq_log "process $pid exited before $url answered"; return 1; }
    [ $SECONDS -lt $deadline ] || { rmq_log "$url did not answer within $secs s"; return 1; }
    sleep "$RMQ_POLL_S"
  done
}

# rmq_wait_log FILE REGEX SECS [PID]: wait until FILE has a line matching the extended REGEX;
# fail after SECS, or at once when PID has exited.
rmq_wait_log() {
  local file=$1 re=$2 secs=$3 pid=${4:-} deadline=$((SECONDS + $3))
  until grep -Eq -- "$re" "$file" 2>/dev/null; do
    rmq_alive "$pid" || { rmq_log "process $pid exited before logging /$re/ in $file"; return 1; }
    [ $SECONDS -lt $deadline ] || { rmq_log "no /$re/ in $file after $secs s"; return 1; }
    sleep "$RMQ_POLL_S"
  done
}

# rmq_track PID...: remember PIDs so rmq_stop_tracked (and so rmq_exit_trap) stops them.
rmq_track() { RMQ_PIDS+=("$@"); }

# rmq_stop_pid PID [SECS]: SIGTERM PID, give it SECS (10) to exit, then SIGKILL; reap it if it
# is our child. Only this PID is signalled, never a group or a name. A SIGSTOPped process (a
# test freezing a broker) is resumed first, else the SIGTERM would stay pending.
rmq_stop_pid() {
  local pid=$1 deadline=$((SECONDS + ${2:-10}))
  kill -CONT "$pid" 2>/dev/null || true
  # Already gone (maybe stopped before): reap it if it is our child; its status is no failure.
  kill -TERM "$pid" 2>/dev/null || { wait "$pid" 2>/dev/null || true; return 0; }
  while kill -0 "$pid" 2>/dev/null && [ $SECONDS -lt $deadline ]; do sleep 0.05; done
  kill -KILL "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
}

# rmq_stop_pidfiles DIR NAME...: for each NAME in order, stop the PID in DIR/NAME.pid (as
# rmq_stop_pid, 30 s) and remove the file; what the --detach start scripts leave behind.
rmq_stop_pidfiles() {
  local dir=$1 name f pid
  shift
  for name in "$@"; do
    f="$dir/$name.pid"
    [ -f "$f" ] || continue
    pid=$(cat "$f")
    if kill -0 "$pid" 2>/dev/null; then
      rmq_stop_pid "$pid" 30
      echo "stopped $name (pid $pid)"
    fi
    rm -f "$f"
  done
}

# rmq_stop_tracked: stop every tracked PID, newest first (clients before the broker, the broker
# before the name server it unregisters from), and forget them.
rmq_stop_tracked() {
  local i
  for ((i = ${#RMQ_PIDS[@]} - 1; i >= 0; i--)); do rmq_stop_pid "${RMQ_PIDS[i]}"; done
  RMQ_PIDS=()
}

# rmq_run_group CMD...: run CMD in a new session (so a new process group whose id is its PID),
# wait for it, then SIGKILL whatever is still in that group, by the group's id: a crashed test
# cannot leave servers running, and nothing outside the group is touched. With
# RMQ_GROUP_TIMEOUT_S set, CMD is bounded by timeout(1). Ctrl-C / SIGTERM while waiting stops the
# group and exits 130. Returns CMD's status; the caller's INT/TERM traps are restored.
rmq_run_group() {
  local pid rc saved
  saved=$(trap -p INT TERM)
  if [ -n "${RMQ_GROUP_TIMEOUT_S:-}" ]; then
    setsid timeout --kill-after=10 "$RMQ_GROUP_TIMEOUT_S" "$@" &
  else
    setsid "$@" &
  fi
  pid=$!
  # shellcheck disable=SC2064  # expand $pid now: the trap must name this group
  trap "kill -TERM -- -$pid 2>/dev/null; sleep 1; kill -KILL -- -$pid 2>/dev/null; exit 130" INT TERM
  wait "$pid"
  rc=$?
  kill -KILL -- "-$pid" 2>/dev/null || true
  trap - INT TERM
  eval "$saved"
  return $rc
}

# rmq_exit_trap: install as `trap rmq_exit_trap EXIT` (with `trap 'exit 130' INT TERM` so a
# signal runs it too). Stops tracked PIDs, calls `rmq_on_exit RC` when the script defines it
# (to print logs on failure, say), removes RMQ_WORK unless RMQ_KEEP=1, and keeps the exit code.
rmq_exit_trap() {
  local rc=$?
  trap - EXIT
  rmq_stop_tracked
  [ "${RMQ_PORTS_OWNER:-}" != $$ ] || rm -f "$RMQ_PORTS_FILE"
  if declare -F rmq_on_exit >/dev/null; then rmq_on_exit "$rc" || true; fi
  # Last, so the reason is at the end of the output (after any logs rmq_on_exit dumped).
  [ "$rc" = 0 ] || [ -z "${RMQ_FAILED_AT:-}" ] || echo "$(basename "$0"): failed at $RMQ_FAILED_AT" >&2
  if [ -n "${RMQ_WORK:-}" ] && [ -d "$RMQ_WORK" ]; then
    if [ "${RMQ_KEEP:-0}" = 1 ]; then rmq_log "kept $RMQ_WORK"; else rm -rf "$RMQ_WORK"; fi
  fi
  exit "$rc"
}

# rmq_install_traps: the usual pair (EXIT runs rmq_exit_trap; INT/TERM exit 130/143 through it),
# and an ERR trap remembering the command that failed (under set -e), printed last on exit.
rmq_install_traps() {
  trap rmq_exit_trap EXIT
  trap 'RMQ_FAILED_AT="line $LINENO: $BASH_COMMAND"' ERR
  trap 'exit 130' INT
  trap 'exit 143' TERM
}

# rmq_workdir NAME: create RMQ_WORK=$(mktemp -d ${TMPDIR:-/tmp}/NAME.XXXXXX) (removed by
# rmq_exit_trap).
rmq_workdir() {
  RMQ_WORK=$(mktemp -d "${TMPDIR:-/tmp}/$1.XXXXXX")
}

# rmq_build: build the workspace's binaries and examples in RMQ_PROFILE (--release for release)
# unless RMQ_SKIP_BUILD=1, and point RMQ_BIN at target/<profile>. Always the whole workspace
# (test-support's ensure_bins runs the same build): a build of a subset of packages resolves
# features differently and compiles a second copy of most dependencies.
rmq_build() {
  RMQ_BIN=$RMQ_ROOT/target/$RMQ_PROFILE
  if [ -n "${RMQ_SKIP_BUILD:-}" ] && [ "${RMQ_SKIP_BUILD}" != 0 ]; then return 0; fi
  local flags=()
  [ "$RMQ_PROFILE" = release ] && flags=(--release)
  rmq_log "building the workspace's binaries ($RMQ_PROFILE)"
  (cd "$RMQ_ROOT" && cargo build "${flags[@]}" --workspace --bins --examples)
}

# rmq_start_namesrv [PORT] [MQNAMESRV_ARG...]: start $RMQ_BIN/mqnamesrv on 127.0.0.1:PORT
# (default or empty: a free port), its KV file and log (namesrv.log) in RMQ_WORK; track it and
# wait until it listens. Extra arguments (e.g. `--set aclEnable=true`) come first. Sets
# NS_PORT, NAMESRV (host:port) and NS_PID; exported NAMESRV_ADDR for mqadmin.
# shellcheck disable=SC2120  # the arguments are optional
rmq_start_namesrv() {
  NS_PORT=${1:-}
  [ $# -gt 0 ] && shift
  [ -n "$NS_PORT" ] || NS_PORT=$(rmq_free_port) || return 1
  rmq_port_free_or_fail "$NS_PORT" || return 1
  NAMESRV=127.0.0.1:$NS_PORT
  "$RMQ_BIN/mqnamesrv" "$@" --listen "$NAMESRV" --set "kvConfigPath=$RMQ_WORK/kvConfig.json" \
    >"$RMQ_WORK/namesrv.log" 2>&1 &
  NS_PID=$!
  rmq_track "$NS_PID"
  export NAMESRV_ADDR=$NAMESRV
  rmq_wait_port "$NS_PORT" 30 "$NS_PID"
}

# rmq_start_broker [PORT] [MQBROKER_ARG...]: start $RMQ_BIN/mqbroker on 127.0.0.1:PORT (default
# or empty: a free port whose fast port PORT-2 and HA port PORT+1 are free too), registered to
# $NAMESRV, store and log (broker.log) under RMQ_BROKER_DIR (default RMQ_WORK; give a second
# broker its own, e.g. `RMQ_BROKER_DIR=$RMQ_WORK/b2 rmq_start_broker`). The extra arguments come
# first; the settings here win over theirs (and over a `-c FILE` they name: command line beats
# file). Tracks it, waits until it listens. Sets BROKER_PORT, BROKER (host:port), BROKER_PID.
# Commit-log files are RMQ_COMMIT_LOG_FILE_SIZE bytes (default 64 MiB; an argument can set
# mappedFileSizeCommitLog itself): the broker reserves a file's blocks when it creates it, and
# the 1 GiB default per test broker filled CI's disk. Benchmarks set the real default.
rmq_start_broker() {
  local dir=${RMQ_BROKER_DIR:-$RMQ_WORK}
  mkdir -p "$dir"
  BROKER_PORT=${1:-}
  [ $# -gt 0 ] && shift
  [ -n "$BROKER_PORT" ] || BROKER_PORT=$(rmq_free_port -2 1) || return 1
  rmq_port_free_or_fail "$BROKER_PORT" || return 1
  BROKER=127.0.0.1:$BROKER_PORT
  "$RMQ_BIN/mqbroker" --set "mappedFileSizeCommitLog=${RMQ_COMMIT_LOG_FILE_SIZE:-67108864}" "$@" \
    -n "$NAMESRV" --set brokerIP1=127.0.0.1 --set brokerIP2=127.0.0.1 \
    --set "listenPort=$BROKER_PORT" --set "haListenPort=$((BROKER_PORT + 1))" \
    --set "storePathRootDir=$dir/store" >"$dir/broker.log" 2>&1 &
  BROKER_PID=$!
  rmq_track "$BROKER_PID"
  rmq_wait_port "$BROKER_PORT" 60 "$BROKER_PID"
}

# rmq_make_pki DIR: a throw-away CA (DIR/ca.pem) and a server certificate it signed for
# 127.0.0.1 and localhost (DIR/cert.pem, key DIR/key.pem), with openssl, valid 2 days: what
# tlsCertPath/tlsKeyPath take and what clients trust (RMQ_TLS_CA).
rmq_make_pki() {
  local d=$1
  mkdir -p "$d"
  {
    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
      -keyout "$d/ca.key" -out "$d/ca.pem" -days 2 -subj "/CN=rmq test CA" &&
      openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -keyout "$d/key.pem" \
        -out "$d/server.csr" -subj "/CN=127.0.0.1" &&
      printf 'basicConstraints=CA:FALSE\nsubjectAltName=IP:127.0.0.1,DNS:localhost\n' >"$d/ext.cnf" &&
      openssl x509 -req -in "$d/server.csr" -CA "$d/ca.pem" -CAkey "$d/ca.key" -CAcreateserial \
        -out "$d/cert.pem" -days 2 -extfile "$d/ext.cnf"
  } >"$d/openssl.log" 2>&1 || { cat "$d/openssl.log" >&2; return 1; }
}

# rmq_tail_logs FILE...: print the last 40 lines of each existing FILE (for failure reports).
rmq_tail_logs() {
  local f
  for f in "$@"; do
    [ -f "$f" ] && { echo "----- tail of $f"; tail -n 40 "$f"; }
  done
  return 0
}
