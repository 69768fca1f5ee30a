#!/usr/bin/env bash
# Fleet mode end to end: a real redis-server started here, three agents,
# each with its own nginx in its own namespace (run with nsenter --net, so
# bpffs and cgroup2 stay visible), one API key with a global quota Q.
# A client spread over the three gateways at 3×Q gets Q×t + burst through
# (±10%). Redis is killed mid-load: the agents enforce their local share
# and never stall. Redis is restarted: they converge again.
export E2E_TAG=${E2E_TAG:-tgflt$$}
source "$(dirname "$0")/../lib/e2e.sh"
FLEET_NET=140 FLEET_PORT=18141 FLEET_API=19540 FLEET_REDIS_PORT=16379
source "$(dirname "$0")/../lib/fleet.sh"
require_root
command -v redis-server >/dev/null || die "redis-server missing (scripts/install-deps.sh test)"

Q=30; BURST=30; T=${FLEET_T:-8}
export TGFLT_KEY="sk-fleet-$$"
within() { # within VALUE EXPECTED PCT
  awk -v v="$1" -v e="$2" -v p="$3" 'BEGIN { d = v - e; if (d < 0) d = -d; exit !(d <= e * p / 100) }'
}
# expected T: Q per second over the load's span as loadgen measured it, plus the burst
expected() {
  jq -s --argjson q $Q --argjson b "$1" 'map(.duration_s) | add / length * $q + $b | floor' \
    "$WORK"/lg?.json
}

make_nodes
start_redis
for i in 1 2 3; do
  write_agent_cfg $i 100 '[{ "name": "fleet-key", "api_key_env": "TGFLT_KEY",
    "requests_per_sec": '$Q', "burst": '$BURST', "global": true },
    { "name": "tiny", "api_key": "sk-tiny-'$$'", "requests_per_sec": 1, "burst": 3, "global": true }]'
done
start_agents 1 2 3
wait_connected 1 2 3 && ok "three agents connected to redis" || fail "agents did not connect"

# --- several instances on one host: each its own pins -----------------------
pins=0
for i in 1 2 3; do
  [ -e "/sys/fs/bpf/tollgate/$(fleet_ns $i)/v$TG_LAYOUT/tg_fleet" ] && pins=$((pins + 1))
done
check "each instance pins its own maps" 3 "$pins"

# --- 3×Q spread over the fleet: Q×t + burst through -------------------------
fleet_load $Q $T "$TGFLT_KEY" 1 2 3
got=$(fleet_through 1 2 3)
want=$(expected $BURST)
log "fleet: offered $(jq -s 'map(.offered) | add' "$WORK"/lg?.json) over 3 gateways, through $got, expected $want"
within "$got" "$want" 10 && ok "fleet admits Q×t+burst ($got of $want, ±10%)" \
  || fail "fleet admitted $got, expected $want ±10%"
check "the fleet counts three nodes" 3 "$(metric 1 '^tollgate_cluster_quota_nodes')"
check "three nodes in the quota's node set" 3 \
  "$(redis-cli -p $FLEET_REDIS_PORT zcard 'tollgate:{fleet-key}:nodes')"
ops=$(metric 1 '^tollgate_cluster_redis_ops_total')
[ "${ops%.*}" -gt 0 ] && ok "redis ops counted ($ops)" || fail "no redis ops counted"
napi 1 /v1/config | jq -e '.cluster.redis == "redis://198.18.141.1:16379" and
  .cluster.expected_nodes == 3 and .cluster.node_id == "node1" and
  .quotas.clients[0].global == true' >/dev/null \
  && ok "/v1/config shows the cluster settings" || fail "/v1/config lacks cluster"

# --- over quota: refused on every node within a sync interval --------------
# "tiny": 1 req/s, burst 3, so each node leases 1. One request per node
# takes the whole burst; a sync interval later every node refuses the key
# (its next token is a second away). A refused request start is dropped:
# curl times out (000) before TCP would retransmit it.
tiny() { # tiny MAX_TIME: one request to each node at once, prints the codes
  for i in 1 2 3; do
    curl -s -o /dev/null -w '%{http_code}\n' --max-time "$1" -H "x-api-key: sk-tiny-$$" \
      "http://$(fleet_gw $i):$FLEET_PORT/" &
  done
  wait
}
check "the burst passes on each node" 3 "$(tiny 2 | grep -c '^200$')"
sleep 0.15
check "a sync interval later every node refuses the key" 3 "$(tiny 0.15 | grep -c '^000$')"
credit=0
for i in 1 2 3; do
  c=$(metric $i '^tollgate_cluster_quota_credit.*quota="tiny"')
  [ "$c" -le 0 ] && credit=$((credit + 1))
done
check "no node holds credit for the exhausted key" 3 "$credit"

# --- Redis killed mid-load: local share, no stall ---------------------------
sleep 2 # the bucket refills
fleet_load $Q $T "$TGFLT_KEY" 1 2 3 &
loadpid=$!
sleep 2
kill_redis
fb=0
for _ in $(seq 30); do
  fb=0
  for i in 1 2 3; do
    [ "$(metric $i '^tollgate_cluster_state.*state="fallback"')" = 1 ] && fb=$((fb + 1))
  done
  [ $fb = 3 ] && break
  sleep 0.1
done
check "every agent falls back when redis dies" 3 "$fb"
# the API answers promptly throughout: the loop never waits on redis
slow=0
for _ in $(seq 10); do
  for i in 1 2 3; do
    s=$(nsenter --net=/run/netns/$(fleet_ns $i) curl -s -o /dev/null -w '%{time_total}' \
      --max-time 2 "http://127.0.0.1:$((FLEET_API + i))/healthz" || echo 9)
    awk -v s="$s" 'BEGIN { exit !(s > 1) }' && slow=$((slow + 1))
  done
  sleep 0.2
done
check "API answers within 1 s while redis is down" 0 "$slow"
wait $loadpid || true
# settled in the fallback: each node admits its local share (Q/3, burst/3)
fleet_load $Q 4 "$TGFLT_KEY" 1 2 3
got=$(fleet_through 1 2 3)
want=$(expected $BURST)
log "fallback: through $got, expected about $want (local shares)"
within "$got" "$want" 15 && ok "local shares hold the fleet near Q ($got of $want, ±15%)" \
  || fail "fallback admitted $got, expected $want ±15%"
alive=0
for i in 1 2 3; do kill -0 "${FLEET_AGENT_PIDS[$i]}" 2>/dev/null && alive=$((alive + 1)); done
check "no agent crashed" 3 "$alive"
check "the fallback is logged once" 1 "$(grep -c 'cluster fallback' "$WORK/node1/agent.log" || true)"
[ "$(metric 1 '^tollgate_cluster_errors_total')" -gt 0 ] && ok "errors counted while redis is down" \
  || fail "no errors counted"

# --- Redis back during a load: no debt, no second burst --------------------
# Bound across a Redis restart: the fleet bucket resumes from what the
# nodes' local buckets have left (each node's first report charges what its
# local bucket is below full), so over the whole load, fallback and
# reconnect included, the fleet admits Q×t + burst (±10%). Charging all a
# node admitted in the fallback left the fresh bucket (N-1) bursts in debt,
# and refusals below the quota for seconds after every restart.
sleep 1.5 # the local buckets refill (burst/N at Q/N: 1 s)
fleet_load $Q 10 "$TGFLT_KEY" 1 2 3 &
loadpid=$!
sleep 2
start_redis
wait $loadpid || true
wait_connected 1 2 3 && ok "agents reconnect after redis restarts" || fail "agents did not reconnect"
got=$(fleet_through 1 2 3)
want=$(expected $BURST)
log "across the restart: through $got, expected $want"
within "$got" "$want" 10 && ok "across the restart: Q×t+burst ($got of $want, ±10%)" \
  || fail "across the restart $got, expected $want ±10%"

# --- and in sync again: Q×t + burst -----------------------------------------
sleep 1
fleet_load $Q $T "$TGFLT_KEY" 1 2 3
got=$(fleet_through 1 2 3)
want=$(expected $BURST)
log "after restart: through $got, expected $want"
within "$got" "$want" 10 && ok "converged again ($got of $want, ±10%)" \
  || fail "after restart $got, expected $want ±10%"
check "fallback, then connected again, each logged once" "1 1" \
  "$(grep -c 'cluster fallback' "$WORK/node2/agent.log") $(grep -c 'cluster connected' "$WORK/node2/agent.log" | awk '{ print $1 - 1 }')"
stop_agents 1 2 3
