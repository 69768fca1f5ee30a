#!/usr/bin/env bash
# Behind a real load balancer: haproxy (send-proxy-v2 and send-proxy) in
# front of nginx (listen ... proxy_protocol), the agent on loopback with
# identity.proxy_protocol. Each client's requests are counted exactly, to
# the client the PROXY header names; the balancer's own address gets none,
# whether haproxy sends the header in a segment of its own or not.
source "$(dirname "$0")/../lib/e2e.sh"
require_root
command -v haproxy >/dev/null || die "haproxy is not installed (scripts/install-deps.sh test)"
LOADGEN="python3 $TESTLIB/loadgen.py"

NGX_PORT=8084     # nginx, PROXY protocol listener on loopback (a gateway port)
FE_V2=18401       # haproxy frontends: send-proxy-v2, send-proxy (v1)
FE_V1=18402
API_ADDR=127.0.0.1:19476
N=25              # requests per client and frontend, one connection each

make_client "${E2E_TAG}a" "${E2E_TAG}h1" "${E2E_TAG}c1" 198.18.0.1 198.18.0.2
make_client "${E2E_TAG}b" "${E2E_TAG}h2" "${E2E_TAG}c2" 198.18.1.1 198.18.1.2

# nginx: only the PROXY listener, on loopback
{
  nginx_head
  cat <<NGX
  log_format tg '\$msec \$remote_addr \$status \$proxy_protocol_addr';
  access_log $WORK/nginx/access.log tg;
  server {
    listen 127.0.0.1:$NGX_PORT proxy_protocol;
    location / { return 200 "ok\n"; }
  }
}
NGX
} > "$WORK/nginx.conf"
run_nginx "$WORK/nginx.conf" "$NGX_PORT"

# haproxy: one server connection per client request (no reuse, closed after
# each response), so every connection to nginx starts with a PROXY header.
cat > "$WORK/haproxy.cfg" <<HAP
global
  maxconn 256
  pidfile $WORK/haproxy.pid
defaults
  mode http
  option http-server-close
  http-reuse never
  timeout connect 2s
  timeout client 5s
  timeout server 5s
frontend fe_v2
  bind 198.18.0.1:$FE_V2
  bind 198.18.1.1:$FE_V2
  default_backend be_v2
frontend fe_v1
  bind 198.18.0.1:$FE_V1
  bind 198.18.1.1:$FE_V1
  default_backend be_v1
backend be_v2
  server ngx 127.0.0.1:$NGX_PORT send-proxy-v2
backend be_v1
  server ngx 127.0.0.1:$NGX_PORT send-proxy
HAP
haproxy -c -q -f "$WORK/haproxy.cfg" || die "haproxy rejects its config"
haproxy -db -f "$WORK/haproxy.cfg" >"$WORK/haproxy.log" 2>&1 &
HAP_PID=$!
defer "kill $HAP_PID; wait $HAP_PID"
wait_port "$FE_V2"
wait_port "$FE_V1"

cat > "$WORK/agent.json" <<JSON
{
  "instance": "$E2E_TAG",
  "gateway": { "interfaces": ["lo"], "ports": [$NGX_PORT] },
  "identity": { "proxy_protocol": true },
  "mode": "monitor",
  "quotas": { "default": { "requests_per_sec": 1000, "burst": 1000 } },
  "api": { "listen": "$API_ADDR" }
}
JSON
start_agent "$WORK/agent.json"

# load NS URL: N requests, one connection each; prints how many were answered
load() {
  ip netns exec "$1" $LOADGEN --url "$2" --rate 50 --duration "$(echo "$N / 50" | bc -l)" \
    --new-conn-per-request --timeout 2 --json | jq .ok
}
check "client 198.18.0.2 through v2: all answered" "$N" "$(load "${E2E_TAG}a" "http://198.18.0.1:$FE_V2/a2")"
check "client 198.18.1.2 through v2: all answered" "$N" "$(load "${E2E_TAG}b" "http://198.18.1.1:$FE_V2/b2")"
check "client 198.18.0.2 through v1: all answered" "$N" "$(load "${E2E_TAG}a" "http://198.18.0.1:$FE_V1/a1")"
check "client 198.18.1.2 through v1: all answered" "$N" "$(load "${E2E_TAG}b" "http://198.18.1.1:$FE_V1/b1")"

check "nginx logged each client's requests with its PROXY address" "$((2 * N)) $((2 * N))" \
  "$(awk '$4 == "198.18.0.2"' "$WORK/nginx/access.log" | wc -l) $(awk '$4 == "198.18.1.2"' "$WORK/nginx/access.log" | wc -l)"
check "client 198.18.0.2: exactly its requests" "$((2 * N))" "$(wait_field 198.18.0.2 requests "$((2 * N))")"
check "client 198.18.1.2: exactly its requests" "$((2 * N))" "$(wait_field 198.18.1.2 requests "$((2 * N))")"
lb=$(client_jq 127.0.0.1 .requests)
[ "$lb" = absent ] && lb=0
check "the balancer 127.0.0.1: no requests" 0 "$lb"
