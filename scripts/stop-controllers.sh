#!/usr/bin/env bash
# Stop controllers (and, with --brokers, the name server and brokers) started with
# scripts/start-controllers.sh --detach (PID files under ./data/controllers).
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=scripts/lib.sh
. scripts/lib.sh
rmq_stop_pidfiles "${RMQ_DATA:-$(pwd)/data/controllers}" broker-r2 broker-r1 broker-r0 namesrv \
  controller-n2 controller-n1 controller-n0
