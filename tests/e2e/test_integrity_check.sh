#!/usr/bin/env bash
# Quota integrity through the gateway check, with real nginx and the shipped
# snippet (gateway-hooks/nginx/): one API-key quota of 4 req/s, burst 4,
# action "gateway".
#  1. nginx terminates TLS on a counted port: the kernel sees ClientHellos,
#     never the key. 30 requests at 10 req/s, one TLS connection each (as
#     many SDKs do), then 30 on one kept-alive connection: what nginx lets
#     through stays within rate x elapsed + burst (before the fix: 30 of 30,
#     the ClientHello's verdict was handed to the key's check).
#  2. the spacing table over plain HTTP: every variant RFC 9110 allows
#     (runs of SP/HTAB, the scheme in any case) is held to the same limit,
#     and on each the kernel and the agent resolve the same key, so the
#     kernel's verdict is handed over and each request is charged once.
#  3. a restart that adopts the pinned maps (keep) keeps the keyed hash:
#     the key's bucket carries on and the kernel and the agent still agree.
source "$(dirname "$0")/../lib/e2e.sh"
require_root
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
SNIPPET=$ROOT/gateway-hooks/nginx/tollgate.conf
UPSTREAM=$ROOT/gateway-hooks/nginx/tollgate-upstream.conf
KC="python3 $HERE/keyclient.py"
command -v openssl >/dev/null || die "openssl is needed (apt-get install openssl)"

TLS_PORT=18110 PLAIN_PORT=18111 BACKEND=18112 API_PORT=19510
SOCK_DIR=/run/tollgate-$E2E_TAG
defer "rm -rf $SOCK_DIR"
make_client "${E2E_TAG}a" "${E2E_TAG}h1" "${E2E_TAG}c1" 198.18.110.1 198.18.110.2
GW=198.18.110.1
export TG_TEST_KEY="sk-int-$$-0123456789"
RATE=4 BURST=4

check_listen=""
if [ -f "$UPSTREAM" ]; then
  check_listen="\"check_listen\": \"unix:$SOCK_DIR/check.sock\", \"check_group\": \"nogroup\","
fi
cat > "$WORK/agent.json" <<JSON
{
  "instance": "$E2E_TAG",
  "gateway": { "interfaces": ["${E2E_TAG}h1"], "ports": [$TLS_PORT, $PLAIN_PORT] },
  "mode": "enforce",
  "quotas": { "clients": [
    { "name": "team", "api_key_env": "TG_TEST_KEY", "requests_per_sec": $RATE, "burst": $BURST,
      "action": "gateway" }
  ] },
  "api": { "listen": "127.0.0.1:$API_PORT", $check_listen "check_deny_status": 403 },
  "keep": true
}
JSON
defer "rm -rf /sys/fs/bpf/tollgate/$E2E_TAG; tc filter del dev ${E2E_TAG}h1 ingress handle 0x7467 prio 0x7467 bpf; tc filter del dev ${E2E_TAG}h1 egress handle 0x7467 prio 0x7467 bpf"

openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj /CN=gw.test \
  -keyout "$WORK/key.pem" -out "$WORK/cert.pem" >/dev/null 2>&1 || die "openssl req failed"
mkdir -p "$WORK/nginx/tollgate"
cp "$SNIPPET" "$WORK/nginx/tollgate/tollgate.conf"
if [ -f "$UPSTREAM" ]; then
  sed "s#unix:/run/tollgate/check.sock#unix:$SOCK_DIR/check.sock#" "$UPSTREAM" \
    > "$WORK/nginx/tollgate/upstream.conf"
else
  sed -i "s#127.0.0.1:9470#127.0.0.1:$API_PORT#" "$WORK/nginx/tollgate/tollgate.conf"
  : > "$WORK/nginx/tollgate/upstream.conf"
fi
{
  nginx_head
  cat <<NGX
  access_log $WORK/nginx/access.log;
  include $WORK/nginx/tollgate/upstream.conf;
  log_format arrivals '\$msec \$http_authorization';
  server {
    listen 127.0.0.1:$BACKEND;
    access_log $WORK/nginx/backend.log arrivals;
    location / { return 200 "ok\n"; }
  }
  server {
    listen $GW:$TLS_PORT ssl;
    listen $GW:$PLAIN_PORT;
    ssl_certificate $WORK/cert.pem;
    ssl_certificate_key $WORK/key.pem;
    keepalive_requests 1000;
    include $WORK/nginx/tollgate/tollgate.conf;
    location / { proxy_pass http://127.0.0.1:$BACKEND; }
    # what nginx hands the check for each spacing variant
    location = /echo { auth_request off; return 200 "[\$http_authorization][\$http_x_api_key]\n"; }
  }
}
NGX
} > "$WORK/nginx.conf"
nginx -t -c "$WORK/nginx.conf" -e "$WORK/nginx/error.log" >/dev/null 2>&1 ||
  { nginx -t -c "$WORK/nginx.conf"; die "nginx rejects the config"; }
run_nginx "$WORK/nginx.conf" $PLAIN_PORT
start_agent "$WORK/agent.json"

key_total() { api /v1/keys/team | jq '.state.allowed + .state.denied'; }
kernel_verdicts() {
  api /metrics | awk -v i="$E2E_TAG" '$1 == "tollgate_checks_kernel_verdict_total{instance=\"" i "\"}" { print $2 }'
}
# bound ELAPSED: what a bucket of RATE/s and BURST may pass in ELAPSED seconds
bound() { awk -v e="$1" -v r=$RATE -v b=$BURST 'BEGIN { print int(r * e + b) }'; }
refill() { sleep "$(awk -v r=$RATE -v b=$BURST 'BEGIN { print b / r + 0.3 }')"; }
# held NAME JSON: the answers are 200 and 429 only, the 200s within the bound,
# the burst passed, and the key charged once per request
held() {
  local name=$1 out=$2 before=$3 n ok deny el b
  n=$(jq '.codes | length' <<<"$out")
  ok=$(jq '[.codes[] | select(. == 200)] | length' <<<"$out")
  deny=$(jq '[.codes[] | select(. == 429)] | length' <<<"$out")
  el=$(jq .elapsed <<<"$out")
  b=$(bound "$el")
  check "$name: every answer is a 200 or a 429" "$n" "$((ok + deny))"
  if [ "$ok" -le "$b" ] && [ "$ok" -ge "$BURST" ]; then
    ok "$name: $ok of $n passed in ${el}s (bucket bound $b, burst $BURST)"
  else
    fail "$name: $ok of $n passed in ${el}s, the bucket allows $BURST..$b"
  fi
  check "$name: the key charged once per request" "$((before + n))" "$(key_total)"
}

# --- 1. TLS ended at nginx ------------------------------------------------------
before=$(key_total)
out=$(ip netns exec "${E2E_TAG}a" $KC $GW $TLS_PORT --tls --n 30 --rate 10 \
  --header "Authorization: Bearer $TG_TEST_KEY")
log "TLS, a connection per request: $out"
held "TLS, a connection per request" "$out" "$before"
refill
before=$(key_total)
out=$(ip netns exec "${E2E_TAG}a" $KC $GW $TLS_PORT --tls --keepalive --n 30 --rate 10 \
  --header "Authorization: Bearer $TG_TEST_KEY")
log "TLS, kept alive: $out"
held "TLS, kept alive" "$out" "$before"

# --- 2. the spacing table, plain HTTP through the kernel ------------------------------
variants=(
  "Authorization: Bearer $TG_TEST_KEY"
  "Authorization: Bearer  $TG_TEST_KEY"
  "Authorization: Bearer\\t$TG_TEST_KEY"
  "Authorization: Bearer \\t \\t$TG_TEST_KEY"
  "Authorization:\\t  Bearer $TG_TEST_KEY"
  "Authorization: bearer $TG_TEST_KEY"
  "Authorization: BEARER $TG_TEST_KEY"
  "Authorization: Bearer $TG_TEST_KEY  "
  "X-API-Key:          $TG_TEST_KEY"
  "X-API-Key:\\t$TG_TEST_KEY"
)
for v in "${variants[@]}"; do
  shown=$(printf '%s' "$v" | sed "s/$TG_TEST_KEY/KEY/")
  echo_out=$(ip netns exec "${E2E_TAG}a" $KC $GW $PLAIN_PORT --n 1 --path /echo --header "$v")
  log "$shown: nginx passes $(curl -s --max-time 2 -H "$(printf "$v")" "http://$GW:$PLAIN_PORT/echo" |
    sed "s/$TG_TEST_KEY/KEY/g")"
  check "$shown: nginx answers it" '[200]' "$(jq -c .codes <<<"$echo_out")"
  refill
  before=$(key_total)
  kv0=$(kernel_verdicts)
  out=$(ip netns exec "${E2E_TAG}a" $KC $GW $PLAIN_PORT --keepalive --n 12 --rate 20 --header "$v")
  held "$shown" "$out" "$before"
  kv1=$(kernel_verdicts)
  check "$shown: the kernel resolved the key the check did, on every request" 12 \
    "$(awk -v a="${kv0:-0}" -v b="${kv1:-0}" 'BEGIN { print b - a }')"
done

# --- 3. a restart that adopts the maps keeps the hash key ----------------------------
total=$(key_total)
stop_agent TERM
check "the agent with keep exits 0" 0 "$AGENT_RC"
start_agent "$WORK/agent.json"
check "the key's bucket carries on after the restart (same hash)" "$total" "$(key_total)"
refill
kv0=$(kernel_verdicts)
out=$(ip netns exec "${E2E_TAG}a" $KC $GW $PLAIN_PORT --keepalive --n 12 --rate 20 \
  --header "Authorization: Bearer $TG_TEST_KEY")
held "after the restart" "$out" "$total"
check "after the restart: the kernel and the agent still resolve the same key" 12 \
  "$(awk -v a="${kv0:-0}" -v b="$(kernel_verdicts)" 'BEGIN { print b - a }')"
