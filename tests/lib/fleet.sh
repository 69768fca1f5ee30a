# Fleet helpers for tests/e2e/test_fleet.sh and bench/fleet.sh (source after
# e2e.sh): a redis-server of our own, N nodes each with a namespace, an
# nginx gateway inside it and an agent run with nsenter --net (ip netns exec
# would remount /sys and hide bpffs and cgroup2).
#
# Set before sourcing: FLEET_NET (third octet base: node i gets
# 198.18.$((FLEET_NET + i)).0/30, .1 the host end, .2 the gateway),
# FLEET_PORT (gateway), FLEET_API (API port base: node i listens on
# FLEET_API + i), FLEET_REDIS_PORT.

FLEET_NODES=${FLEET_NODES:-3}
declare -a FLEET_AGENT_PIDS

fleet_host() { echo "198.18.$((FLEET_NET + $1)).1"; }
fleet_gw() { echo "198.18.$((FLEET_NET + $1)).2"; }
fleet_ns() { echo "${E2E_TAG}n$1"; }

# start_redis: our own config and dir, bound to loopback and the host ends
# of the nodes' veths; killed at exit.
start_redis() {
  local bind="127.0.0.1"
  for i in $(seq "$FLEET_NODES"); do bind+=" $(fleet_host "$i")"; done
  mkdir -p "$WORK/redis"
  cat > "$WORK/redis/redis.conf" <<CONF
port $FLEET_REDIS_PORT
bind $bind
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
    redis-cli -p "$FLEET_REDIS_PORT" ping 2>/dev/null | grep -q PONG && return 0
    sleep 0.1
  done
  die "redis-server did not come up"
}

kill_redis() { kill -9 "$REDIS_PID"; wait "$REDIS_PID" 2>/dev/null || true; }

# make_nodes: namespaces, veths and an nginx gateway in each.
make_nodes() {
  local i ns pid
  for i in $(seq "$FLEET_NODES"); do
    ns=$(fleet_ns "$i")
    make_client "$ns" "${E2E_TAG}h$i" "${E2E_TAG}c$i" "$(fleet_host "$i")" "$(fleet_gw "$i")"
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
  access_log off;
  server { listen $(fleet_gw "$i"):$FLEET_PORT; location / { return 200 "ok\n"; } }
}
NGX
    nsenter --net="/run/netns/$ns" nginx -c "$WORK/node$i/nginx.conf" \
      -e "$WORK/node$i/nginx/error.log" &
    pid=$!
    defer "kill $pid; wait $pid"
  done
}

# write_agent_cfg I SYNC_MS QUOTAS_JSON: node I's config, the global
# entries given as a JSON array
write_agent_cfg() {
  cat > "$WORK/node$1/agent.json" <<JSON
{
  "instance": "$(fleet_ns "$1")",
  "gateway": { "interfaces": ["${E2E_TAG}c$1"], "ports": [$FLEET_PORT] },
  "mode": "enforce",
  "quotas": { "clients": $3 },
  "api": { "listen": "127.0.0.1:$((FLEET_API + $1))" },
  "state_dir": "$WORK/node$1/state",
  "cluster": { "redis": "redis://$(fleet_host "$1"):$FLEET_REDIS_PORT", "node_id": "node$1",
               "sync_interval_ms": $2, "expected_nodes": $FLEET_NODES, "fallback": "local_share" }
}
JSON
}

napi() { # napi I PATH
  nsenter --net="/run/netns/$(fleet_ns "$1")" curl -fsS --max-time 2 \
    "http://127.0.0.1:$((FLEET_API + $1))$2"
}
metric() { # metric I NAME_REGEX: the first matching sample's value
  napi "$1" /metrics 2>/dev/null | awk -v m="$2" '$1 ~ m && v == "" { v = $2 } END { print v }'
}

# start_agents I...: runs node I's agent (its config written before);
# returns once every API answers.
start_agents() {
  local i up
  for i in "$@"; do
    nsenter --net="/run/netns/$(fleet_ns "$i")" "$TOLLGATE" run --config "$WORK/node$i/agent.json" \
      >> "$WORK/node$i/agent.log" 2>&1 &
    FLEET_AGENT_PIDS[$i]=$!
    defer "kill ${FLEET_AGENT_PIDS[$i]}; wait ${FLEET_AGENT_PIDS[$i]}"
  done
  for i in "$@"; do
    up=""
    for _ in $(seq 150); do
      napi "$i" /healthz >/dev/null 2>&1 && { up=1; break; }
      kill -0 "${FLEET_AGENT_PIDS[$i]}" 2>/dev/null || break
      sleep 0.1
    done
    [ -n "$up" ] || { cat "$WORK/node$i/agent.log"; die "agent $i did not come up"; }
  done
}

# stop_agents I...: SIGTERM, and the exit code must be 0
stop_agents() {
  local i rc
  for i in "$@"; do
    rc=0
    kill -TERM "${FLEET_AGENT_PIDS[$i]}" 2>/dev/null || true
    wait "${FLEET_AGENT_PIDS[$i]}" || rc=$?
    [ "$rc" = 0 ] || fail "agent $i exited with $rc"
  done
}

# wait_connected I...: every one reports tollgate_cluster_connected 1 (20 s)
wait_connected() {
  local n i
  for _ in $(seq 100); do
    n=0
    for i in "$@"; do
      [ "$(metric "$i" '^tollgate_cluster_connected')" = 1 ] && n=$((n + 1))
    done
    [ "$n" = $# ] && return 0
    sleep 0.2
  done
  return 1
}

# fleet_load RATE SECONDS KEY I...: RATE req/s with KEY toward each
# gateway I, a new connection per request (a dropped request start costs
# its connection); loadgen's JSON into $WORK/lgI.json
fleet_load() {
  local rate=$1 t=$2 key=$3 pids=() i
  shift 3
  for i in "$@"; do
    python3 "$TESTLIB/loadgen.py" --url "http://$(fleet_gw "$i"):$FLEET_PORT/v1/chat" \
      --rate "$rate" --duration "$t" --new-conn-per-request --timeout 0.5 \
      --header "Authorization: Bearer $key" --json > "$WORK/lg$i.json" &
    pids+=($!)
  done
  wait "${pids[@]}" || true
}
# fleet_through I...: requests answered 200 over those gateways' loads
fleet_through() {
  local files=()
  for i in "$@"; do files+=("$WORK/lg$i.json"); done
  jq -s 'map(.ok) | add' "${files[@]}"
}
