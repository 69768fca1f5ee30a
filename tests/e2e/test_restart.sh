#!/usr/bin/env bash
# Restart without losing state. With keep, the agent leaves the TC programs
# attached and the maps pinned when it stops: enforcement and counting go on
# while it is down, and the next run adopts them without resetting buckets
# or counters. A kill -9 leaves the same state behind, and `tollgate run`
# works after it. Then a run without keep detaches and unpins everything.
source "$(dirname "$0")/../lib/e2e.sh"
require_root
LOADGEN="python3 $TESTLIB/loadgen.py"

PORT=18085
make_client "${E2E_TAG}a" "${E2E_TAG}h1" "${E2E_TAG}c1" 198.18.95.1 198.18.95.2
start_nginx $PORT
write_cfg() { # write_cfg KEEP
  cat > "$WORK/agent.json" <<JSON
{
  "instance": "$E2E_TAG",
  "gateway": { "interfaces": ["${E2E_TAG}h1"], "ports": [$PORT] },
  "mode": "enforce",
  "quotas": { "clients": [
    { "name": "held", "cidr": "198.18.95.2", "requests_per_sec": 1, "burst": 5 }
  ] },
  "api": { "listen": "127.0.0.1:19493" },
  "keep": $1
}
JSON
}
PIN=/sys/fs/bpf/tollgate/$E2E_TAG
defer "rm -rf $PIN; tc filter del dev ${E2E_TAG}h1 ingress handle 0x7467 prio 0x7467 bpf 2>/dev/null"
filter_there() { tc filter show dev "${E2E_TAG}h1" ingress | grep -q 'tg_tc_ingress'; }
reqs() { ip netns exec "${E2E_TAG}a" $LOADGEN --url "http://198.18.95.1:$PORT/r" --rate 50 --duration "$1" \
  --new-conn-per-request --timeout 0.5 --json > "$WORK/lg.json"; jq .ok "$WORK/lg.json"; }

write_cfg true
start_agent "$WORK/agent.json"
got=$(reqs 0.1)
check "five requests counted" 5 "$(wait_field 198.18.95.2 requests 5)"
log "sent 5, $got answered"
stop_agent TERM
check "agent with keep exits 0" 0 "$AGENT_RC"
grep -q 'detached=false' "$AGENT_LOG" && ok "it says it left the programs attached" || fail "no keep line in the log"
filter_there && ok "the TC filter stays attached" || fail "filter gone"
[ -e "$PIN/v$TG_LAYOUT/tg_clients" ] && ok "the maps stay pinned" || fail "pins gone"

# While the agent is down: the kernel still limits (burst 5 spent, 1/s).
through=$(reqs 1)
[ "$through" -lt 10 ] && ok "enforcement goes on without the agent ($through of 50 through)" \
  || fail "not limited while down: $through of 50"

# The next run adopts: counters and buckets carry on.
start_agent "$WORK/agent.json"
n=$(wait_field 198.18.95.2 requests 55)
check "requests counted before and while down are all there" 55 "$n"
d=$(api /v1/keys/held | jq .state.denied)
[ "$d" -ge 40 ] && ok "the bucket's denials survived the restart ($d)" || fail "denied after restart: $d"
check "the bucket's admissions carry on (before + while down)" $((5 + through)) "$(api /v1/keys/held | jq .state.allowed)"

# kill -9: the same state is left behind, and run works after it.
kill -KILL "$AGENT_PID"; wait "$AGENT_PID" 2>/dev/null || true
filter_there && ok "kill -9 leaves the filter attached" || fail "filter gone after kill -9"
start_agent "$WORK/agent.json"
n=$(wait_field 198.18.95.2 requests 55)
check "tollgate run after kill -9 adopts the counters" 55 "$n"

# Without keep, a stop detaches and unpins.
stop_agent TERM
write_cfg false
start_agent "$WORK/agent.json"
stop_agent TERM
check "agent without keep exits 0" 0 "$AGENT_RC"
filter_there && fail "filter left without keep" || ok "without keep the filter is removed"
[ -e "$PIN" ] && fail "pins left without keep: $(ls -R $PIN | head)" || ok "without keep the pins are removed"
