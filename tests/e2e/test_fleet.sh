#!/usr/bin/env bash
# Fleet mode end to end: a real redis-server started here, three agents,
# each with its own nginx in its own namespace (run with nsenter --net, so
# bpffs and cgroup2 stay visible), one API key with a global quota Q.
# A client spread over the three gateways at 3×Q must get Q×t + burst
# through (±10%). Then Redis is killed mid-load (the agents enforce their
# local share, never stall), restarted (they converge again).
export E2E_TAG=${E2E_TAG:-tgflt$$}
source "$(dirname "$0")/lib.sh"
require_root
HERE=$(dirname "$0")
LOADGEN="python3 $HERE/loadgen.py"
command -v redis-server >/dev/null || die "redis-server missing (scripts/install-deps.sh test)"

PORT=18141
RPORT=16379
Q=30; BURST=30; T=8
export TGFLT_KEY="sk-fleet-$$"

# --- Redis: our own config and dir, bound to the host ends of the veths ------
start_redis() {
  mkdir -p "$WORK/redis"
  cat > "$WORK/redis/redis.conf" <<CONF
port $RPORT
bind 127.0.0.1 198.18.141.1 198.18.142.1 198.18.143.1
protected-mode no
dir $WORK/redis
save ""
appendonly no
daemonize no
logfile $WORK/redis/redis.log
CONF
  redis-server "$WORK/redis/redis.conf" &
  REDIS_PID=$!
  defer "kill -9 $REDIS_PID; wait $REDIS_PID"
  for _ in $(seq 50); do
    redis-cli -p $RPORT ping 2>/dev/null | grep -q PONG && return 0
    sleep 0.1
  done
  die "redis-server did not come up"
}

# --- three nodes: namespace, gateway, agent ----------------------------------
declare -a NS API_PORT AGENT_PIDS
for i in 1 2 3; do
  ns="${E2E_TAG}n$i"
  NS[$i]=$ns
  API_PORT[$i]=$((19540 + i))
  make_client "$ns" "${E2E_TAG}h$i" "${E2E_TAG}c$i" "198.18.14$i.1" "198.18.14$i.2"
  mkdir -p "$WORK/node$i/nginx" "$WORK/node$i/state"
  cat > "$WORK/node$i/nginx.conf" <<NGX
worker_processes 1;
pid $WORK/node$i/nginx/nginx.pid;
error_log $WORK/node$i/nginx/error.log warn;
daemon off;
events { worker_connections 1024; }
http {
  client_body_temp_path $WORK/node$i/nginx/body;
  proxy_temp_path $WORK/node$i/nginx/proxy;
  fastcgi_temp_path $WORK/node$i/nginx/fastcgi;
  uwsgi_temp_path $WORK/node$i/nginx/uwsgi;
  scgi_temp_path $WORK/node$i/nginx/scgi;
  log_format tg '\$msec \$remote_addr \$status';
  access_log $WORK/node$i/nginx/access.log tg;
  server { listen 198.18.14$i.2:$PORT; location / { return 200 "ok\n"; } }
}
NGX
  nsenter --net=/run/netns/$ns nginx -c "$WORK/node$i/nginx.conf" -e "$WORK/node$i/nginx/error.log" &
  pid=$!
  defer "kill $pid; wait $pid"
done
start_redis

write_agent_cfg() { # write_agent_cfg I SYNC_MS
  cat > "$WORK/node$1/agent.json" <<JSON
{
  "instance": "${E2E_TAG}n$1",
  "gateway": { "interfaces": ["${E2E_TAG}c$1"], "ports": [$PORT] },
  "mode": "enforce",
  "quotas": { "clients": [
    { "name": "fleet-key", "api_key_env": "TGFLT_KEY", "requests_per_sec": $Q, "burst": $BURST, "global": true }
  ] },
  "api": { "listen": "127.0.0.1:${API_PORT[$1]}" },
  "state_dir": "$WORK/node$1/state",
  "cluster": { "redis": "redis://198.18.14$1.1:$RPORT", "node_id": "node$1",
               "sync_interval_ms": $2, "expected_nodes": 3, "fallback": "local_share" }
}
JSON
}

napi() { # napi I PATH
  nsenter --net=/run/netns/${NS[$1]} curl -fsS --max-time 2 "http://127.0.0.1:${API_PORT[$1]}$2"
}
metric() { # metric I NAME_REGEX: the first sample's value
  napi "$1" /metrics 2>/dev/null | awk -v m="$2" '$1 ~ m && !v { v = $2 } END { print v }'
}

for i in 1 2 3; do
  write_agent_cfg $i 100
  nsenter --net=/run/netns/${NS[$i]} "$TOLLGATE" run --config "$WORK/node$i/agent.json" \
    > "$WORK/node$i/agent.log" 2>&1 &
  AGENT_PIDS[$i]=$!
  defer "kill ${AGENT_PIDS[$i]}; wait ${AGENT_PIDS[$i]}"
done
for i in 1 2 3; do
  up=""
  for _ in $(seq 100); do
    napi $i /healthz >/dev/null 2>&1 && { up=1; break; }
    kill -0 "${AGENT_PIDS[$i]}" 2>/dev/null || break
    sleep 0.1
  done
  [ -n "$up" ] || { cat "$WORK/node$i/agent.log"; die "agent $i did not come up"; }
done

wait_connected() { # all three report cluster_connected 1 (20 s)
  local n
  for _ in $(seq 100); do
    n=0
    for i in 1 2 3; do
      [ "$(metric $i '^tollgate_cluster_connected')" = 1 ] && n=$((n + 1))
    done
    [ $n = 3 ] && return 0
    sleep 0.2
  done
  return 1
}
wait_connected && ok "three agents connected to redis" || fail "agents did not connect"

# --- two instances on one host: own pin paths --------------------------------
pins=0
for i in 1 2 3; do
  [ -e "/sys/fs/bpf/tollgate/${E2E_TAG}n$i/v1/tg_fleet" ] && pins=$((pins + 1))
done
check "each instance pins its own maps" 3 "$pins"

# through: requests the client got answered (200) over the three gateways
through() { jq -s 'map(.ok) | add' "$WORK"/lg?.json; }
within() { # within VALUE EXPECTED PCT
  awk -v v="$1" -v e="$2" -v p="$3" 'BEGIN { d = v - e; if (d < 0) d = -d; exit !(d <= e * p / 100) }'
}
# load T: Q req/s with the key toward each of the three gateways, new
# connection per request (a dropped request start costs its connection)
load() {
  local pids=()
  for i in 1 2 3; do
    $LOADGEN --url "http://198.18.14$i.2:$PORT/v1/chat" --rate $Q --duration "$1" \
      --new-conn-per-request --timeout 0.5 --header "Authorization: Bearer $TGFLT_KEY" \
      --json > "$WORK/lg$i.json" &
    pids+=($!)
  done
  wait "${pids[@]}" || true
}

# --- 3×Q spread over the fleet: Q×t + burst through -------------------------
load $T
got=$(through)
want=$((Q * T + BURST))
offered=$(jq -s 'map(.offered) | add' "$WORK"/lg?.json)
log "fleet: offered $offered over 3 gateways, through $got, expected $want"
within "$got" "$want" 10 && ok "fleet admits Q×t+burst ($got of $want, ±10%)" \
  || fail "fleet admitted $got, expected $want ±10%"
if [ -n "${FLEET_DEBUG:-}" ]; then
  for i in 1 2 3; do napi $i /metrics | grep -E '^tollgate_cluster|fleet'; napi $i /v1/keys; done
  redis-cli -p $RPORT hgetall 'tollgate:{fleet-key}:bucket'
  cat "$WORK"/lg?.json
  [ "$FLEET_DEBUG" = 2 ] && exit 1
fi
nodes=$(metric 1 '^tollgate_cluster_quota_nodes')
check "the fleet counts three active nodes" 3 "$nodes"
check "three nodes in the quota's node set" 3 "$(redis-cli -p $RPORT zcard 'tollgate:{fleet-key}:nodes')"
ops=$(metric 1 '^tollgate_cluster_redis_ops_total')
[ "${ops%.*}" -gt 0 ] && ok "redis ops counted ($ops)" || fail "no redis ops counted"
napi 1 /v1/config | jq -e '.cluster.redis == "redis://198.18.141.1:16379" and .cluster.expected_nodes == 3' \
  >/dev/null && ok "/v1/config shows the cluster settings" || fail "/v1/config lacks cluster"

# --- Redis killed mid-load: local share, no stall ---------------------------
sleep 2 # let the buckets refill
load $T &
loadpid=$!
sleep 2
kill -9 $REDIS_PID; wait $REDIS_PID 2>/dev/null || true
fb=0
for _ in $(seq 20); do
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
    s=$(nsenter --net=/run/netns/${NS[$i]} curl -s -o /dev/null -w '%{time_total}' --max-time 2 \
      "http://127.0.0.1:${API_PORT[$i]}/healthz" || echo 9)
    awk -v s="$s" 'BEGIN { exit !(s > 1) }' && slow=$((slow + 1))
  done
  sleep 0.2
done
check "API answers within 1 s while redis is down" 0 "$slow"
wait $loadpid || true
# after the fallback settled: each node admits its local share (Q/3)
load 4
got=$(through)
# each node's local bucket: rate Q/3, burst BURST/3
want=$((Q * 4 + BURST))
log "fallback: through $got, expected about $want (local shares)"
within "$got" "$want" 15 && ok "local shares hold the fleet near Q ($got of $want, ±15%)" \
  || fail "fallback admitted $got, expected $want ±15%"
alive=0
for i in 1 2 3; do kill -0 "${AGENT_PIDS[$i]}" 2>/dev/null && alive=$((alive + 1)); done
check "no agent crashed" 3 "$alive"
n=$(grep -c 'cluster fallback' "$WORK/node1/agent.log" || true)
check "the fallback is logged once" 1 "$n"

# --- Redis back: they converge again ----------------------------------------
start_redis
wait_connected && ok "agents reconnect after redis restarts" || fail "agents did not reconnect"
sleep 1
load $T
got=$(through)
want=$((Q * T + BURST))
log "after restart: through $got, expected $want"
within "$got" "$want" 10 && ok "converged again ($got of $want, ±10%)" \
  || fail "after restart $got, expected $want ±10%"
for i in 1 2 3; do
  grep -q 'cluster connected' "$WORK/node$i/agent.log" || fail "node $i: no 'cluster connected' log"
done
