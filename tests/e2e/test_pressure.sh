#!/usr/bin/env bash
# Map pressure: 2M distinct clients against a per-client LRU of 65536, with
# the real kernel program and the real agent. The clients are IPv6
# addresses in fd00:198:18::/64 (identity.ipv6_prefix 128: each its own
# client), run through the agent's attached tg_tc_ingress with
# BPF_PROG_TEST_RUN (build/tgflood), so they land in the agent's own maps.
# Meanwhile a real client in a namespace goes over its API-key quota and
# its CIDR quota (both kept in maps that are never evicted) and must be
# denied during and after the flood. Evictions must be counted and
# exported, the scan must read only the active clients (a count, not a
# time), and the agent must survive.
E2E_TAG=${E2E_TAG:-tgprs$$}
source "$(dirname "$0")/../lib/e2e.sh"
require_root
TGFLOOD=${TGFLOOD:?path to the tgflood binary}
[ -x "$TGFLOOD" ] || die "tgflood not built: $TGFLOOD"

PORT=18121
API_LISTEN=127.0.0.1:19521
MAX=65536
FLOOD=2000000
H4=198.18.121.1 C4=198.18.121.2 H6=fd00:198:18::121:1 C6=fd00:198:18::121:2
make_client "${E2E_TAG}a" "${E2E_TAG}h" "${E2E_TAG}c" $H4 $C4 $H6 $C6
start_nginx $PORT
in_c() { ip netns exec "${E2E_TAG}a" "$@"; }

export TG_PRS_KEY="sk-pressure-$$"
cat > "$WORK/agent.json" <<JSON
{
  "instance": "$E2E_TAG",
  "gateway": { "interfaces": ["${E2E_TAG}h"], "ports": [$PORT], "max_clients": $MAX },
  "identity": { "ipv6_prefix": 128 },
  "mode": "enforce",
  "quotas": {
    "clients": [
      { "name": "prs-key", "api_key_env": "TG_PRS_KEY", "requests_per_sec": 1, "burst": 2 },
      { "name": "prs-cidr", "cidr": "$C6/128", "requests_per_sec": 1, "burst": 2 }
    ]
  },
  "anomaly": { "scan_interval_ms": 250 },
  "api": { "listen": "$API_LISTEN" },
  "state_dir": "$WORK/state"
}
JSON
start_agent "$WORK/agent.json"

metric() { # metric NAME: its value in /metrics (the unlabelled-by-client series)
  api /metrics | awk -v n="tollgate_$1{" 'index($0, n) == 1 && !v { v = $2 } END { print v }'
}
denied() { api "/v1/keys/$1" | jq .state.denied; }
# burst_of REQUESTS: that many requests at once with the key over IPv4,
# and as many without a key over IPv6 (quotas: 1/s, burst 2). A dropped
# request start times out.
burst_of() {
  local pids=()
  for _ in $(seq "$1"); do
    in_c curl -s -o /dev/null --max-time 2 -H "Authorization: Bearer $TG_PRS_KEY" \
      "http://$H4:$PORT/k" & pids+=($!)
    in_c curl -s -o /dev/null --max-time 2 "http://[$H6]:$PORT/c" & pids+=($!)
  done
  wait "${pids[@]}" || true
}

prog=$(tc filter show dev "${E2E_TAG}h" ingress | sed -n 's/.* id \([0-9]*\) name tg_tc_ingress.*/\1/p' | head -n1)
[ -n "$prog" ] || die "the agent's tg_tc_ingress is not on ${E2E_TAG}h"
log "tg_tc_ingress id $prog"

# --- the flood, two injectors (one per core) ----------------------------------
t0=$SECONDS
half=$((FLOOD / 2))
"$TGFLOOD" --prog-id "$prog" --port $PORT --count $half --first 0 > "$WORK/flood0.txt" 2>&1 &
f0=$!
defer "kill $f0"
"$TGFLOOD" --prog-id "$prog" --port $PORT --count $half --first $half > "$WORK/flood1.txt" 2>&1 &
f1=$!
defer "kill $f1"

# during: the configured keys still bite; the scan reads at most what the
# active set holds, never the whole map per scan
kd0=$(denied prs-key) cd0=$(denied prs-cidr)
max_active=0 samples=0
while kill -0 $f0 2>/dev/null || kill -0 $f1 2>/dev/null; do
  [ $((SECONDS - t0)) -lt 75 ] || die "the flood did not finish in 75 s"
  if [ $samples -eq 2 ]; then
    burst_of 6
    kd1=$(denied prs-key) cd1=$(denied prs-cidr)
  fi
  a=$(metric scan_active_clients)
  [ "${a%.*}" -le "$max_active" ] || max_active=${a%.*}
  samples=$((samples + 1))
  sleep 0.5
done
wait $f0 || die "injector 0 failed: $(cat "$WORK/flood0.txt")"
wait $f1 || die "injector 1 failed: $(cat "$WORK/flood1.txt")"
log "flood: $(cat "$WORK/flood0.txt"); $(cat "$WORK/flood1.txt"); $samples samples"
log "prs-key: $(api /v1/keys/prs-key | jq -c .state)"
log "prs-cidr: $(api /v1/keys/prs-cidr | jq -c .state)"
[ -n "${kd1:-}" ] || { burst_of 6; kd1=$(denied prs-key) cd1=$(denied prs-cidr); }
[ "$kd1" -gt "$kd0" ] && ok "API-key quota enforced during the flood (denied $kd0 -> $kd1)" \
  || fail "API-key quota not enforced during the flood ($kd0 -> $kd1)"
[ "$cd1" -gt "$cd0" ] && ok "CIDR quota enforced during the flood (denied $cd0 -> $cd1)" \
  || fail "CIDR quota not enforced during the flood ($cd0 -> $cd1)"
kill -0 "$AGENT_PID" 2>/dev/null && ok "the agent survived the flood" || die "the agent died: $(tail "$AGENT_LOG")"

# --- after: a complete sweep counts the evictions ------------------------------
cap=$(metric clients_map_capacity)
s0=$(metric sweeps_total)
for _ in $(seq 120); do
  [ "$(metric sweeps_total)" -ge $((s0 + 2)) ] && break
  sleep 0.25
done
created=$(metric clients_created_total) evicted=$(metric clients_evicted_total)
live=$(metric clients) sweep_entries=$(metric sweep_entries)
log "created $created, live $live (capacity $cap), evicted $evicted"
[ "$created" -ge "$FLOOD" ] && ok "every flood client was created ($created)" || fail "created $created < $FLOOD"
[ "$live" -le "$cap" ] && [ "$live" -ge $((MAX / 2)) ] && ok "the LRU holds $live of capacity $cap" \
  || fail "live $live, capacity $cap"
# created minus live, give or take what one sweep cannot tell apart
expect=$((created - live))
[ "$evicted" -ge $((expect - cap / 8)) ] && [ "$evicted" -le "$expect" ] \
  && ok "evictions exported: $evicted (created - live = $expect)" \
  || fail "evictions $evicted, expected about $expect"

# the scan reads what changed: with only the real client active, a scan
# drains a handful of clients while the map holds tens of thousands
burst_of 1
idle_max=0
for _ in $(seq 8); do
  sleep 0.3
  a=$(metric scan_active_clients)
  [ "${a%.*}" -le "$idle_max" ] || idle_max=${a%.*}
done
[ "$idle_max" -le 4 ] && ok "after the flood a scan reads $idle_max active clients of $live live" \
  || fail "after the flood a scan still reads $idle_max clients"
[ "$max_active" -le $((cap / 4)) ] && ok "during the flood a scan read at most $max_active clients of a $cap-entry map" \
  || fail "a scan read $max_active clients: more than a quarter of the map ($cap)"
slice=$(metric sweep_entries)
log "sweep entries $slice, active max $max_active, lost to a full set $(metric active_set_lost_total)"

# the real client's figures are the kernel's, fresh, and its quotas still bite
kd2=$(denied prs-key) cd2=$(denied prs-cidr)
burst_of 6
kd3=$(denied prs-key) cd3=$(denied prs-cidr)
[ "$kd3" -gt "$kd2" ] && ok "API-key quota enforced after the flood ($kd2 -> $kd3)" \
  || fail "API-key quota not enforced after the flood ($kd2 -> $kd3)"
[ "$cd3" -gt "$cd2" ] && ok "CIDR quota enforced after the flood ($cd2 -> $cd3)" \
  || fail "CIDR quota not enforced after the flood ($cd2 -> $cd3)"
seen=$(wait_jq $C4 '.requests > 0' true 5)
check "the real client is in /v1/clients after the flood" true "$seen"
r=$(api "/v1/clients/$C4" | jq .requests)
[ "$r" -ge 1 ] && ok "/v1/clients/$C4 shows its requests ($r)" || fail "/v1/clients/$C4: $r"
code=$(curl -s -o /dev/null -w '%{http_code}' "http://$API/v1/clients/fd00:198:18::1e:8480")
[ "$code" = 200 ] || [ "$code" = 404 ] && ok "/v1/clients of a flood client answers ($code)" \
  || fail "/v1/clients of a flood client: $code"
kill -0 "$AGENT_PID" 2>/dev/null && ok "the agent is alive at the end" || fail "the agent died"
log "took $((SECONDS - t0)) s from the flood's start"
