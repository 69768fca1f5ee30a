#!/usr/bin/env bash
# A quota entry's per_route and per_model sub-limits end to end: the real
# nginx with the shipped snippet (auth_request, X-Original-URI from
# $request_uri, X-Model from $tollgate_model) and the agent's /v1/check.
# nginx listens on loopback, which is no gateway interface here, so every
# request is charged by the check (as with TLS ended at nginx). The entry
# has room to spare; its chat route (rate 5, burst 5) and the model gpt-4o
# (rate 4, burst 2, whatever the route) are the limits. What reached the
# backend must conform: in every window W, arrivals <= rate*W + burst (5%).
source "$(dirname "$0")/../lib/e2e.sh"
require_root
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
SNIPPET=$ROOT/gateway-hooks/nginx/tollgate.conf
UPSTREAM=$ROOT/gateway-hooks/nginx/tollgate-upstream.conf
SOCK_DIR=/run/tollgate-$E2E_TAG
SOCK=$SOCK_DIR/check.sock
defer "rm -rf $SOCK_DIR"
PORT=18090 BACKEND=18091 API_PORT=19490

export TG_TEST_SUB_KEY="sk-sub-$$"
cat > "$WORK/agent.json" <<JSON
{
  "instance": "$E2E_TAG",
  "gateway": { "interfaces": [], "ports": [$PORT] },
  "mode": "enforce",
  "models": ["gpt-4o", "gpt-4o-mini"],
  "quotas": { "clients": [
    { "name": "team-a", "api_key_env": "TG_TEST_SUB_KEY", "requests_per_sec": 1000, "burst": 1000,
      "action": "gateway",
      "per_route": { "chat": { "requests_per_sec": 5, "burst": 5 } },
      "per_model": { "gpt-4o": { "requests_per_sec": 4, "burst": 2 } } }
  ] },
  "api": { "listen": "127.0.0.1:$API_PORT", "check_listen": "unix:$SOCK", "check_group": "nogroup",
           "check_deny_status": 403 }
}
JSON

mkdir -p "$WORK/nginx/tollgate"
cp "$SNIPPET" "$WORK/nginx/tollgate/tollgate.conf"
# The snippet's socket, and a model map as a gateway that knows the model
# would set it (here from a header the test client sends).
sed -e "s#unix:/run/tollgate/check.sock#unix:$SOCK#" \
    -e 's#^map \$host \$tollgate_model {#map $http_x_test_model $tollgate_model {#' \
    -e 's#^    default "";#    default $http_x_test_model;#' "$UPSTREAM" > "$WORK/nginx/tollgate/upstream.conf"
grep -q 'default $http_x_test_model' "$WORK/nginx/tollgate/upstream.conf" || die "no model map to replace"
{
  nginx_head
  cat <<NGX
  include $WORK/nginx/tollgate/upstream.conf;
  log_format arrivals '\$msec \$uri \$http_x_test_model';
  server {
    listen 127.0.0.1:$BACKEND;
    access_log $WORK/nginx/backend.log arrivals;
    location / { return 200 "ok\n"; }
  }
  server {
    listen 127.0.0.1:$PORT;
    access_log off;
    include $WORK/nginx/tollgate/tollgate.conf;
    location / { proxy_set_header X-Test-Model \$http_x_test_model; proxy_pass http://127.0.0.1:$BACKEND; }
  }
}
NGX
} > "$WORK/nginx.conf"
nginx -t -c "$WORK/nginx.conf" -e "$WORK/nginx/error.log" >/dev/null 2>&1 || { nginx -t -c "$WORK/nginx.conf"; die "nginx rejects the snippet"; }
run_nginx "$WORK/nginx.conf" $PORT
start_agent "$WORK/agent.json"

URL=http://127.0.0.1:$PORT
AUTH="Authorization: Bearer $TG_TEST_SUB_KEY"

# --- the refusing bucket is named ---------------------------------------------
curl -s -D "$WORK/h.txt" -o /dev/null -H "$AUTH" "$URL/v1/chat/completions?n=1" \
  "$URL/v1/chat/completions?n=1" "$URL/v1/chat/completions?n=1" "$URL/v1/chat/completions?n=1" \
  "$URL/v1/chat/completions?n=1" "$URL/v1/chat/completions?n=1"
codes=$(awk '/^HTTP\//{printf "%s ", $2}' "$WORK/h.txt" | sed 's/ $//')
check "chat: its burst of 5, then 429 (the entry has 1000)" "200 200 200 200 200 429" "$codes"
hdr() { awk -v n="$2" -v h="$3" 'BEGIN{IGNORECASE=1} /^HTTP\//{i++} i==n { split($0, kv, ": "); if (tolower(kv[1]) == tolower(h)) { sub(/\r$/, "", kv[2]); print kv[2]; exit } }' "$1"; }
check "the 429 shows the route's bucket" '"team-a/route:chat";q=5;w=1' "$(hdr "$WORK/h.txt" 6 RateLimit-Policy)"
check "the 429 carries Retry-After" 1 "$(hdr "$WORK/h.txt" 6 Retry-After)"
# other routes are under the entry alone
code=$(curl -s -o /dev/null -w '%{http_code}' -H "$AUTH" "$URL/v1/embeddings")
check "embeddings: not limited by chat" 200 "$code"
sleep 1.2

# --- window conformance under load ---------------------------------------------
# Two loads at once for 4 s, each a bounded loop of kept-alive batches:
# chat without a model, and embeddings naming gpt-4o.
load() { # load PATH MODEL OUT
  local end=$((SECONDS + 4)) i=0 urls=()
  for _ in $(seq 20); do urls+=(-o /dev/null "$URL$1"); done # -o for each URL: no body in OUT
  while [ $SECONDS -lt $end ] && [ $i -lt 200 ]; do
    curl -s -w '%{http_code}\n' --max-time 5 -H "$AUTH" -H "X-Test-Model: $2" "${urls[@]}" >> "$3"
    i=$((i + 1))
  done
}
before=$(wc -l < "$WORK/nginx/backend.log")
load /v1/chat/completions "" "$WORK/chat.codes" &
L1=$!
load /v1/embeddings gpt-4o "$WORK/emb.codes" &
L2=$!
wait $L1 $L2
tail -n +$((before + 1)) "$WORK/nginx/backend.log" > "$WORK/arrivals.log"
sent_chat=$(wc -l < "$WORK/chat.codes") ok_chat=$(grep -c '^200$' "$WORK/chat.codes")
sent_emb=$(wc -l < "$WORK/emb.codes") ok_emb=$(grep -c '^200$' "$WORK/emb.codes")
log "chat: $ok_chat of $sent_chat admitted; embeddings/gpt-4o: $ok_emb of $sent_emb"
# grep -c exits 1 when it counts 0: that is the answer, not a failure
other=$(sort -u "$WORK/chat.codes" "$WORK/emb.codes" | grep -vc '^\(200\|429\)$' || true)
check "every answer is a 200 or a 429" 0 "$other"
[ "$sent_chat" -gt 100 ] && [ "$sent_emb" -gt 100 ] && ok "both loads ran well over their limits" \
  || fail "loads too small: $sent_chat, $sent_emb"
conform() { # conform URI MODEL RATE BURST: worst window, as "arrivals allowed"
  python3 - "$WORK/arrivals.log" "$1" "$2" "$3" "$4" <<'PY'
import sys
log, uri, model, rate, burst = sys.argv[1], sys.argv[2], sys.argv[3], float(sys.argv[4]), float(sys.argv[5])
t = sorted(float(l.split()[0]) for l in open(log) if l.split()[1] == uri)
worst = None
for w in (0.25, 0.5, 1.0, 2.0, 3.0, 4.0):
    j = 0
    for i in range(len(t)):
        while t[i] - t[j] > w:
            j += 1
        n = i - j + 1
        allowed = rate * w + burst
        if worst is None or n / allowed > worst[0]:
            worst = (n / allowed, n, allowed, w)
print("%d %.2f %.2f %d" % (worst[1], worst[2], worst[3], len(t)) if worst else "0 0 0 0")
PY
}
read -r n allowed w total <<< "$(conform /v1/chat/completions "" 5 5)"
log "chat: worst window ${w}s: $n arrivals, rate*W+burst = $allowed ($total in all)"
python3 -c "import sys; sys.exit(0 if $n <= $allowed * 1.05 else 1)" \
  && ok "per_route chat conforms in every window (worst $n <= $allowed)" || fail "chat: $n > $allowed in ${w}s"
check "chat: what nginx admitted reached the backend" "$ok_chat" "$total"
read -r n allowed w total <<< "$(conform /v1/embeddings gpt-4o 4 2)"
log "gpt-4o: worst window ${w}s: $n arrivals, rate*W+burst = $allowed ($total in all)"
python3 -c "import sys; sys.exit(0 if $n <= $allowed * 1.05 else 1)" \
  && ok "per_model gpt-4o conforms in every window (worst $n <= $allowed)" || fail "gpt-4o: $n > $allowed in ${w}s"
check "gpt-4o: what nginx admitted reached the backend" "$ok_emb" "$total"
# the limits were used, not just never reached: at least the burst and half
# of the rate over the 4 s load (a lower bound that holds on a busy machine
# too; the upper bound, conformance, is the one the design guarantees)
[ "$ok_chat" -ge 15 ] && ok "chat admitted $ok_chat (>= 15: 5 + half of 5/s x 4 s)" || fail "chat admitted only $ok_chat"
[ "$ok_emb" -ge 10 ] && ok "gpt-4o admitted $ok_emb (>= 10: 2 + half of 4/s x 4 s)" || fail "gpt-4o admitted only $ok_emb"
# refused requests took no token from the entry: its allowed count is what got through
check "the entry's bucket counts only the admitted ones" "$((ok_chat + ok_emb + 6))" \
  "$(api /v1/keys/team-a | jq -r .state.allowed)"
