#!/usr/bin/env bash
# /v1/check end to end with the real nginx and gateway-hooks/nginx/tollgate.conf
# (auth_request) through tollgate-upstream.conf to the agent's check socket
# (api.check_listen): an over-quota client gets a 429 from nginx with
# Retry-After and the rate-limit headers, the others get 200, and nginx
# keeps its connections to the agent between checks. A client whose
# requests the kernel saw (plain HTTP through the TC program) is answered
# with the kernel's own verdict, counted once; a client the kernel does not
# see (loopback, not a gateway interface: as with TLS ended at nginx) is
# charged by the check itself, on the same bucket.
source "$(dirname "$0")/../lib/e2e.sh"
require_root
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
SNIPPET=${TG_NGINX_SNIPPET:-$ROOT/gateway-hooks/nginx/tollgate.conf}
UPSTREAM=$(dirname "$SNIPPET")/tollgate-upstream.conf
[ -f "$SNIPPET" ] && [ -f "$UPSTREAM" ] || die "no nginx snippet at $SNIPPET"
# The agent makes the socket's directory; nginx's workers (nobody:nogroup
# when the master is root) reach it through the socket's group.
SOCK_DIR=/run/tollgate-$E2E_TAG
SOCK=$SOCK_DIR/check.sock
defer "rm -rf $SOCK_DIR"

PORT=18070 BACKEND=18071 API_PORT=19486
make_client "${E2E_TAG}a" "${E2E_TAG}h1" "${E2E_TAG}c1" 198.18.60.1 198.18.60.2
make_client "${E2E_TAG}b" "${E2E_TAG}h2" "${E2E_TAG}c2" 198.18.61.1 198.18.61.2

export TG_TEST_GW_KEY="sk-gw-$$"
cat > "$WORK/agent.json" <<JSON
{
  "instance": "$E2E_TAG",
  "gateway": { "interfaces": ["${E2E_TAG}h1", "${E2E_TAG}h2"], "ports": [$PORT] },
  "mode": "enforce",
  "quotas": { "clients": [
    { "name": "limited", "cidr": "198.18.60.0/24", "requests_per_sec": 1, "burst": 2, "action": "gateway" },
    { "name": "team-gw", "api_key_env": "TG_TEST_GW_KEY", "requests_per_sec": 1, "burst": 3, "action": "gateway" },
    { "name": "one-shot", "cidr": "198.18.62.0/24", "requests_per_sec": 1, "burst": 1, "action": "gateway" }
  ] },
  "api": { "listen": "127.0.0.1:$API_PORT", "check_listen": "unix:$SOCK", "check_group": "nogroup",
           "check_deny_status": 403 }
}
JSON

# nginx: the client-facing server with the snippet, proxying to a backend.
mkdir -p "$WORK/nginx/tollgate"
cp "$SNIPPET" "$WORK/nginx/tollgate/tollgate.conf"
sed "s#unix:/run/tollgate/check.sock#unix:$SOCK#" "$UPSTREAM" > "$WORK/nginx/tollgate/upstream.conf"
grep -q "unix:$SOCK" "$WORK/nginx/tollgate/upstream.conf" || die "the upstream names no socket to replace"
{
  nginx_head
  cat <<NGX
  access_log $WORK/nginx/access.log;
  include $WORK/nginx/tollgate/upstream.conf;
  server {
    listen 127.0.0.1:$BACKEND;
    location / { return 200 "ok\n"; }
  }
  server {
    listen $PORT;
    include $WORK/nginx/tollgate/tollgate.conf;
    location / { proxy_pass http://127.0.0.1:$BACKEND; }
  }
}
NGX
} > "$WORK/nginx.conf"
nginx -t -c "$WORK/nginx.conf" -e "$WORK/nginx/error.log" >/dev/null 2>&1 || { nginx -t -c "$WORK/nginx.conf"; die "nginx rejects the snippet"; }
run_nginx "$WORK/nginx.conf" $PORT
start_agent "$WORK/agent.json"
check "the check socket: mode 0660, group nogroup" "srw-rw---- nogroup" "$(stat -c '%A %G' "$SOCK")"
# listener="check": the check socket's counters in /metrics
check_metric() {
  api /metrics | awk -v i="$E2E_TAG" -v m="$1" \
    '$1 == "tollgate_" m "{instance=\"" i "\",listener=\"check\"}" { print $2 }'
}

# burst NS URL N [curl args]: N requests over one kept-alive connection,
# each response's status and headers into $WORK/NAME.txt
burst() {
  local ns=$1 url=$2 n=$3 out=$4
  shift 4
  local urls=()
  for _ in $(seq "$n"); do urls+=("$url"); done
  if [ -n "$ns" ]; then
    ip netns exec "$ns" curl -s -D - -o /dev/null --max-time 10 "$@" "${urls[@]}" > "$out"
  else
    curl -s -D - -o /dev/null --max-time 10 "$@" "${urls[@]}" > "$out"
  fi
}
statuses() { awk '/^HTTP\//{printf "%s ", $2}' "$1" | sed 's/ $//'; }
# header FILE N NAME: header NAME of the N-th response
header() {
  awk -v n="$2" -v h="$(echo "$3" | tr 'A-Z' 'a-z')" 'BEGIN{IGNORECASE=1}
    /^HTTP\//{i++} i==n { split($0, kv, ": "); if (tolower(kv[1]) == h) { sub(/\r$/, "", kv[2]); print kv[2]; exit } }' "$1"
}
key_field() { api "/v1/keys/$1" | jq -r ".state.$2"; }

# --- a client over its quota, plain HTTP: the kernel's verdict ---------------
burst "${E2E_TAG}a" "http://198.18.60.1:$PORT/v1/chat/completions" 6 "$WORK/a.txt"
check "over-quota client: burst of 2, then 429" "200 200 429 429 429 429" "$(statuses "$WORK/a.txt")"
check "429 carries Retry-After" 1 "$(header "$WORK/a.txt" 3 Retry-After)"
check "429 carries RateLimit-Policy" '"limited";q=2;w=2' "$(header "$WORK/a.txt" 3 RateLimit-Policy)"
check "429 carries X-RateLimit-Remaining" 0 "$(header "$WORK/a.txt" 3 X-RateLimit-Remaining)"
check "429 carries x-ratelimit-limit-requests" 2 "$(header "$WORK/a.txt" 3 x-ratelimit-limit-requests)"
[ -n "$(header "$WORK/a.txt" 3 RateLimit)" ] && ok "429 carries RateLimit" || fail "no RateLimit header"
check "an allowed answer carries the budget" 1 "$(header "$WORK/a.txt" 1 X-RateLimit-Remaining)"
check "each request counted once (allowed)" 2 "$(key_field limited allowed)"
check "each request counted once (denied)" 4 "$(key_field limited denied)"
kv=$(api /metrics | awk -v i="$E2E_TAG" '$1 == "tollgate_checks_kernel_verdict_total{instance=\"" i "\"}" {print $2}')
[ "${kv:-0}" -ge 6 ] && ok "answers came from the kernel's verdicts ($kv)" || fail "kernel verdicts used: '$kv'"

# --- another client: 200 ---------------------------------------------------------
burst "${E2E_TAG}b" "http://198.18.61.1:$PORT/v1/models" 5 "$WORK/b.txt"
check "a client within its quota gets 200" "200 200 200 200 200" "$(statuses "$WORK/b.txt")"

# --- a client the kernel does not see: the check charges the key ------------------
burst "" "http://127.0.0.1:$PORT/v1/chat/completions" 5 "$WORK/k.txt" -H "Authorization: Bearer $TG_TEST_GW_KEY"
check "API key over quota through the check alone: 3 then 429" "200 200 200 429 429" "$(statuses "$WORK/k.txt")"
check "its 429 names the key" '"team-gw";q=3;w=3' "$(header "$WORK/k.txt" 4 RateLimit-Policy)"
check "the key's bucket counted 3 allowed" 3 "$(key_field team-gw allowed)"
check "... and 2 denied" 2 "$(key_field team-gw denied)"

# --- bad checks get a 4xx, not a pass --------------------------------------------
check "a check without X-Real-IP is a 400" 400 "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$API_PORT/v1/check")"
check "a check with a bad address is a 400" 400 \
  "$(curl -s -o /dev/null -w '%{http_code}' -H 'X-Real-IP: 999.1.1.1' "http://127.0.0.1:$API_PORT/v1/check")"

# --- the answer itself: a head without a body -----------------------------------
# nginx's auth subrequest reads only the head; a body would cost it its
# connection to the agent. What a body said is in the headers.
ask() { # ask OUT: one check of 198.18.62.9, head into OUT.h, body into OUT.b
  curl -s -D "$1.h" -o "$1.b" -H 'X-Real-IP: 198.18.62.9' "http://127.0.0.1:$API_PORT/v1/check"
}
ask "$WORK/one"
ask "$WORK/two"
check "allowed: 204" 204 "$(awk 'NR == 1 { print $2 }' "$WORK/one.h")"
check "allowed: no body" 0 "$(wc -c < "$WORK/one.b")"
check "allowed: no Content-Length on a 204" "" "$(header "$WORK/one.h" 1 Content-Length)"
check "allowed: the key in X-Tollgate-Key" one-shot "$(header "$WORK/one.h" 1 X-Tollgate-Key)"
check "denied: the deny status" 403 "$(awk 'NR == 1 { print $2 }' "$WORK/two.h")"
check "denied: Content-Length 0" 0 "$(header "$WORK/two.h" 1 Content-Length)"
check "denied: no body" 0 "$(wc -c < "$WORK/two.b")"
check "denied: the key in X-Tollgate-Key" one-shot "$(header "$WORK/two.h" 1 X-Tollgate-Key)"
check "denied: Retry-After" 1 "$(header "$WORK/two.h" 1 Retry-After)"
check "a client without a quota: 204" 204 \
  "$(curl -s -o /dev/null -w '%{http_code}' -H 'X-Real-IP: 198.18.99.9' "http://127.0.0.1:$API_PORT/v1/check")"

# --- nginx kept its connections to the agent ------------------------------------
checks=$(api /metrics | awk -v i="$E2E_TAG" '$1 == "tollgate_checks_total{instance=\"" i "\",result=\"allowed\"}" || $1 == "tollgate_checks_total{instance=\"" i "\",result=\"denied\"}" { n += $2 } END { print n + 0 }')
conns=$(check_metric api_connections_accepted_total)
[ "$checks" -ge 16 ] && [ "${conns:-99}" -le 2 ] &&
  ok "nginx's checks came over kept-alive connections ($checks checks, $conns connections)" ||
  fail "nginx's checks came over $conns connections for $checks checks"

stop_agent TERM
check "agent exits 0" 0 "$AGENT_RC"
[ -e "$SOCK" ] && fail "the check socket is left after the agent stopped" || ok "the check socket is removed on exit"
# With the agent gone, nginx fails closed (500), never open.
check "agent down: nginx fails closed" 500 "$(curl -s -o /dev/null -w '%{http_code}' --max-time 5 "http://127.0.0.1:$PORT/x")"
