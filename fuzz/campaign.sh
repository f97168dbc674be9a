#!/usr/bin/env bash
# A libFuzzer campaign over the fuzz targets, with a summary table for fuzz/README.md.
#
#   fuzz/campaign.sh [SECONDS_PER_TARGET] [TARGET...]     (default 3600 s, every target)
#
# JOBS=N runs N targets at once (default 1). FUZZ_OUT=<dir> keeps corpora, logs and
# artifacts there (default: a new temp dir, printed). Everything runs under SCHED_IDLE and
# nice 19, so a campaign only takes CPU nobody else wants; the table reports executions, so
# runs on a busy machine are comparable. A non-empty artifacts dir is a finding: replay it
# with `RUSTC_BOOTSTRAP=1 cargo fuzz run <target> <file>`.
set -euo pipefail
cd "$(dirname "$0")"
SECS="${1:-3600}"
shift || true
TARGETS=("$@")
[ ${#TARGETS[@]} -gt 0 ] || TARGETS=(frame_decode record_decode client_bodies sql_filter acl_config ha_stream)
JOBS="${JOBS:-1}"
OUT="${FUZZ_OUT:-$(mktemp -d /tmp/rmq-fuzz.XXXXXX)}"
mkdir -p "$OUT"
echo "campaign: ${TARGETS[*]}, ${SECS} s each, ${JOBS} at once, output in $OUT"
export RUSTC_BOOTSTRAP=1
chrt -i 0 nice -n 19 cargo fuzz build

one() { # target
  local t=$1
  mkdir -p "$OUT/corpus/$t" "$OUT/artifacts/$t"
  # The scratch corpus first: libFuzzer adds new inputs to the first dir; seeds stay as committed.
  chrt -i 0 nice -n 19 cargo fuzz run "$t" "$OUT/corpus/$t" "seeds/$t" -- \
    -max_total_time="$SECS" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
    -artifact_prefix="$OUT/artifacts/$t/" >"$OUT/$t.log" 2>&1 || echo "$t: libFuzzer exit $?" >>"$OUT/$t.log"
}

running=0
for t in "${TARGETS[@]}"; do
  one "$t" &
  running=$((running + 1))
  if [ "$running" -ge "$JOBS" ]; then wait -n || true; running=$((running - 1)); fi
done
wait || true

echo
echo "| Target | Seconds | Executions | Coverage (cov / ft) | Corpus | Peak RSS MB | Findings |"
echo "|---|---|---|---|---|---|---|"
for t in "${TARGETS[@]}"; do
  log="$OUT/$t.log"
  execs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | awk '{print $NF}' | tail -1)
  rss=$(grep -o 'stat::peak_rss_mb: *[0-9]*' "$log" | awk '{print $NF}' | tail -1)
  last=$(grep -E '^#[0-9]+' "$log" | tail -1)
  cov=$(sed -n 's/.*cov: \([0-9]*\).*/\1/p' <<<"$last")
  ft=$(sed -n 's/.*ft: \([0-9]*\).*/\1/p' <<<"$last")
  corp=$(ls "$OUT/corpus/$t" | wc -l)
  found=$(ls "$OUT/artifacts/$t" | wc -l)
  findings=none; [ "$found" -eq 0 ] || findings="**$found** in $OUT/artifacts/$t"
  grep -q "libFuzzer exit" "$log" && findings="$findings; $(grep 'libFuzzer exit' "$log")"
  echo "| \`$t\` | $SECS | ${execs:-?} | ${cov:-?} / ${ft:-?} | $corp inputs | ${rss:-?} | $findings |"
done
