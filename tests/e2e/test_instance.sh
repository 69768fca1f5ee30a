#!/usr/bin/env bash
# One agent per instance. A second agent with the same `instance` (a copied
# config, a second gateway on the host) refuses to start, exit 1, naming
# the instance and the agent that holds it; the first keeps running
# untouched. Two started at the same moment: exactly one runs. After a
# kill -9 of the holder, the next agent adopts the pins as before.
source "$(dirname "$0")/../lib/e2e.sh"
require_root

PORT=18087
make_client "${E2E_TAG}a" "${E2E_TAG}h1" "${E2E_TAG}c1" 198.18.97.1 198.18.97.2
start_nginx $PORT
write_cfg() { # write_cfg FILE API_PORT
  cat > "$1" <<JSON
{
  "instance": "$E2E_TAG",
  "gateway": { "interfaces": ["${E2E_TAG}h1"], "ports": [$PORT] },
  "api": { "listen": "127.0.0.1:$2" },
  "state_dir": "$WORK/state-$2"
}
JSON
}
PIN=/sys/fs/bpf/tollgate/$E2E_TAG
defer "rm -rf $PIN; tc filter del dev ${E2E_TAG}h1 ingress handle 0x7467 prio 0x7467 bpf 2>/dev/null"
write_cfg "$WORK/a.json" 19495
write_cfg "$WORK/b.json" 19496
filter_id() { tc filter show dev "${E2E_TAG}h1" ingress | sed -n 's/.*tg_tc_ingress.* id \([0-9]*\).*/\1/p'; }
reqs() { # reqs N: N requests from the client, each on its own connection
  for _ in $(seq "$1"); do
    ip netns exec "${E2E_TAG}a" curl -s -o /dev/null --max-time 2 "http://198.18.97.1:$PORT/"
  done
}
# run_second CONFIG LOG: a second agent, 20 s at most; prints its exit code
run_second() {
  local rc=0
  timeout 20 "$TOLLGATE" run --config "$1" >"$2" 2>&1 || rc=$?
  echo "$rc"
}

# --- one after the other ----------------------------------------------------
start_agent "$WORK/a.json"
A=$AGENT_PID
reqs 3
check "the first agent counts" 3 "$(wait_field 198.18.97.2 requests 3)"
fid=$(filter_id)
rc=$(run_second "$WORK/b.json" "$WORK/b.log")
check "a second agent of the same instance exits 1" 1 "$rc"
grep -q "instance $E2E_TAG is already run by another agent, pid $A " "$WORK/b.log" \
  && ok "its message names the instance and the holder's pid" \
  || fail "message: $(cat "$WORK/b.log")"
grep -q "own \`instance\`" "$WORK/b.log" && ok "and says what to do" || fail "no advice: $(cat "$WORK/b.log")"
grep -q "failed to pin" "$WORK/b.log" && fail "it reached the pins" || ok "it touched no pin"
kill -0 "$A" && ok "the first agent keeps running" || fail "the first agent died"
check "the first agent's TC filter is untouched" "$fid" "$(filter_id)"
reqs 2
check "the first agent still counts" 5 "$(wait_field 198.18.97.2 requests 5)"
stop_agent TERM
check "the first agent stops cleanly" 0 "$AGENT_RC"

# --- at the same moment -----------------------------------------------------
"$TOLLGATE" run --config "$WORK/a.json" >"$WORK/a2.log" 2>&1 &
P1=$!
"$TOLLGATE" run --config "$WORK/b.json" >"$WORK/b2.log" 2>&1 &
P2=$!
defer "kill $P1 $P2; wait $P1 $P2"
up=""
for _ in $(seq 100); do
  for a in 19495 19496; do curl -fsS "http://127.0.0.1:$a/healthz" >/dev/null 2>&1 && up=$a; done
  [ -n "$up" ] && ! { kill -0 $P1 2>/dev/null && kill -0 $P2 2>/dev/null; } && break
  sleep 0.2
done
alive=0
for p in $P1 $P2; do kill -0 $p 2>/dev/null && alive=$((alive + 1)); done
check "two agents started together: exactly one runs" 1 "$alive"
if kill -0 $P1 2>/dev/null; then win=$P1 lose=$P2 llog=$WORK/b2.log; else win=$P2 lose=$P1 llog=$WORK/a2.log; fi
rc=0; wait $lose || rc=$?
check "the other exits 1" 1 "$rc"
grep -q "already run by another agent, pid $win " "$llog" && ok "naming the winner" \
  || fail "loser's message: $(cat "$llog")"
grep -q "failed to pin" "$WORK/a2.log" "$WORK/b2.log" && fail "libbpf pin clash" || ok "no pin clash"
reqs 2
API=127.0.0.1:$up
# the first agent stopped without keep: the winner starts from new maps
check "the winner counts" 2 "$(wait_field 198.18.97.2 requests 2)"

# --- kill -9, then adoption -------------------------------------------------
kill -KILL $win; wait $win 2>/dev/null || true
start_agent "$WORK/b.json"
check "after kill -9 the next agent starts and adopts the counters" 2 \
  "$(wait_field 198.18.97.2 requests 2)"
reqs 1
check "and counts on" 3 "$(wait_field 198.18.97.2 requests 3)"
stop_agent TERM
check "it stops cleanly" 0 "$AGENT_RC"
[ -e "$PIN" ] && fail "pins left: $(ls -R "$PIN" | head)" || ok "no pins left"
