#!/usr/bin/env bash
# History soak (docs/history.md): the classic fault schedule of
# history/tests/classic_schedule.rs for ROUNDS rounds (CI runs 2) — a SYNC_MASTER + SLAVE pair
# under continuous sends from mq-client and ali-ons while the slave is killed, paused and
# partitioned and the master killed, round after round — then `mqhistory check` over the
# histories it kept. Not part of CI. About 8 s per round on a 2-core machine (debug build).
#
#   scripts/history-soak.sh 50                       # 50 rounds
#   HISTORY_KEEP=/tmp/h scripts/history-soak.sh 10   # keep the histories there
#
# Exits non-zero if the test or the checker fails; the histories stay in HISTORY_KEEP
# (default ./history-<date>) for `target/debug/mqhistory check DIR/*.jsonl`;
# the checker's report is DIR/report.txt.
set -euo pipefail
# shellcheck source=scripts/lib.sh
. "$(dirname "$0")/lib.sh"
cd "$RMQ_ROOT"

ROUNDS=${1:?usage: scripts/history-soak.sh ROUNDS}
[[ $ROUNDS =~ ^[1-9][0-9]*$ ]] || { rmq_log "ROUNDS must be a positive number, not '$ROUNDS'"; exit 2; }
export HISTORY_ROUNDS=$ROUNDS
export HISTORY_KEEP=${HISTORY_KEEP:-$RMQ_ROOT/history-$(date +%Y%m%d-%H%M%S)}

rmq_log "$ROUNDS rounds; histories in $HISTORY_KEEP"
cargo build -p mq-history --bin mqhistory
cargo test -p mq-history --test classic_schedule -- --nocapture
rc=0
target/debug/mqhistory check "$HISTORY_KEEP"/*.jsonl >"$HISTORY_KEEP/report.txt" || rc=$?
head -n 200 "$HISTORY_KEEP/report.txt"
exit "$rc"
