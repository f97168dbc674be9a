#!/usr/bin/env bash
# Chat and presence at scale (issue 23 item 3): builds the workspace's release binaries, then
# runs `chatbench` (services/e2e/src/bin/chatbench), which starts namesrv + broker + 2 observers
# + 2 gateways + presence-service on 127.0.0.1 (temp dir, free ports), logs USERS users in,
# offers RATE msgs/s of DMs and room messages with CHURN re-logins/s for DURATION s, prints
# delivery p50/p99/p999 (from the scheduled send time), delivered/expected, CPU per message of
# every process (chatbench's own too) and gateway RSS per idle connection, and stops every
# process it started.
#
#   scripts/chat-scale.sh                                  # 10,000 users, 1,000 msgs/s, 100 logins/s, 60 s
#   USERS=1000 RATE=250 CHURN=10 DURATION=20 scripts/chat-scale.sh
#
# Knobs (env): USERS (10000), RATE (1000), CHURN (100), DURATION (60), LOGIN_RATE (500),
# ROOM_SHARE (0.5), ROOM_SIZE (5), CHURN_POOL, WATCH_EVERY (10), SERVICES_LOG (warn);
# RMQ_SKIP_BUILD=1 to use the binaries as built; RMQ_PROFILE=debug for a quick functional run.
# Needs a hard RLIMIT_NOFILE above USERS + 2000 (chatbench raises its soft limit itself).
set -euo pipefail
# shellcheck source=scripts/lib.sh
. "$(dirname "$0")/lib.sh"
rmq_build
# The binaries are fresh: the harness must not rebuild them (it would check every source).
RMQ_SKIP_BUILD=1 exec "$RMQ_BIN/chatbench"
