#!/usr/bin/env bash
# The request log under load: a real nginx on loopback and the real agent,
# wrk (closed loop, 1 thread, 32 kept-alive connections, 5 s) twice in a
# row: log.requests off, then on (sample 1, no cap, a file under /tmp).
# Prints the request rate of each run, the lines written, what the kernel
# lost (ring full) and the agent dropped, and the agent's CPU time (user +
# system from /proc) per run and per 1k lines.
#   TOLLGATE=build/tollgate sudo bash bench/reqlog_load.sh
# Run it under the global lock (flock -o /tmp/tollgate-e2e.lock).
source "$(dirname "$0")/../tests/lib/e2e.sh"
require_root
command -v wrk >/dev/null || die "wrk missing"

PORT=18095
start_nginx $PORT
LOG=$WORK/requests.log
write_config() { # write_config REQUESTS_JSON
  cat > "$WORK/agent.json" <<JSON
{
  "instance": "$E2E_TAG",
  "gateway": { "interfaces": ["lo"], "ports": [$PORT] },
  "api": { "listen": "127.0.0.1:19497" },
  "state_dir": "$WORK/state",
  "log": { "requests": $1 }
}
JSON
}
cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$AGENT_PID/stat"; }
metric() { api /metrics | awk -v s="tollgate_$1{instance=\"$E2E_TAG\"}" '$1 == s { print $2 }'; }
run() { # run NAME: one wrk run; prints NAME rate cpu_ms
  local t0 t1 rate
  t0=$(cpu_ticks)
  rate=$(wrk -t1 -c32 -d5s "http://127.0.0.1:$PORT/v1/models" | awk '/Requests\/sec/ { print $2 }')
  sleep 1 # the last records written
  t1=$(cpu_ticks)
  echo "$1 rate=$rate agent_cpu_ms=$(( (t1 - t0) * 1000 / $(getconf CLK_TCK) ))"
}
defer "rm -rf /sys/fs/bpf/tollgate/$E2E_TAG"
write_config null
start_agent "$WORK/agent.json"
run off
write_config "{\"sample\": 1, \"max_per_sec\": 0, \"file\": \"$LOG\"}"
kill -HUP "$AGENT_PID"
sleep 1
run on
lines=$(wc -l < "$LOG")
echo "lines=$lines sampled=$(metric request_log_sampled_total) lost=$(metric request_log_lost_total) dropped=$(metric request_log_dropped_total) written=$(metric request_log_lines_total)"
