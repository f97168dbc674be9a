#!/usr/bin/env bash
# History soak (docs/history.md): a fault schedule for ROUNDS rounds (CI runs 1), then
# `mqhistory check` over the histories it kept. Not part of CI.
#
#   scripts/history-soak.sh 50                  # classic: SYNC_MASTER and ASYNC_MASTER pairs
#                                               # (history/tests/classic_schedule.rs)
#   scripts/history-soak.sh --controller 20     # controller mode: 3 controllers, 3 replicas
#                                               # (history/tests/controller_schedule.rs)
#   HISTORY_KEEP=/tmp/h scripts/history-soak.sh 10   # keep the histories there
#   HISTORY_SECONDS=3600 scripts/history-soak.sh --controller 1000   # as many rounds as
#                                               # start within an hour
#
# Classic: about 8 s per round and schedule on a 2-core machine (debug build); controller
# mode: about 25 s per round. Exits non-zero if a test or the checker fails; the histories
# stay in HISTORY_KEEP (default ./history-<date>), one directory per schedule (sync, async,
# controller), for `target/debug/mqhistory check DIR/<schedule>/*.jsonl`; the checker's
# report is DIR/<schedule>/report.txt.
set -euo pipefail
RMQ_PROFILE=debug
# shellcheck source=scripts/lib.sh
. "$(dirname "$0")/lib.sh"
cd "$RMQ_ROOT"

TEST=classic_schedule
if [[ ${1:-} == --controller ]]; then
  TEST=controller_schedule
  shift
fi
ROUNDS=${1:?usage: scripts/history-soak.sh [--controller] ROUNDS}
[[ $ROUNDS =~ ^[1-9][0-9]*$ ]] || { rmq_log "ROUNDS must be a positive number, not '$ROUNDS'"; exit 2; }
export HISTORY_ROUNDS=$ROUNDS
export HISTORY_KEEP=${HISTORY_KEEP:-$RMQ_ROOT/history-$(date +%Y%m%d-%H%M%S)}

rmq_log "$TEST: $ROUNDS rounds; histories in $HISTORY_KEEP"
rmq_build
rc=0
cargo test --workspace --test "$TEST" -- --nocapture || rc=$?
for d in "$HISTORY_KEEP"/*/; do
  [[ -e $d/faults.jsonl ]] || continue
  target/debug/mqhistory check "$d"*.jsonl >"$d/report.txt" || rc=$?
  rmq_log "${d%/}: $(head -n 1 "$d/report.txt")"
  head -n 200 "$d/report.txt"
done
exit "$rc"
