#!/usr/bin/env bash
# bench/failover.sh [TRIALS]: controller-mode failover time over TRIALS (default 20) kill -9
# trials: 3 mqcontroller + 1 mqnamesrv + a 3-replica group with every controller and broker
# timing at its default (RMQ_FAILOVER_FAST=1: the short test timings), our producer sending
# SYNC with allAckInSyncStateSet and refreshing routes every 300 ms.
# Each trial kills the master, times kill -> first acknowledged send, restarts the old master
# as a replica and waits for the in-sync set to be whole again. Prints p50 / p99.
# Runs the ignored test `failover_trials` in broker/tests/controller_mode.rs (debug build).
set -euo pipefail
cd "$(dirname "$0")/.."
TRIALS=${1:-20}
RMQ_FAILOVER_TRIALS=$TRIALS nice -n 19 cargo test --workspace --test controller_mode \
  -- --ignored failover_trials --nocapture 2>&1 | grep -E '^(trial|failover|new master)|panicked|FAILED|test result'
