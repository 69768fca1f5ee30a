#!/usr/bin/env bash
# Routes and models end to end: a real nginx, curl clients from two
# loopback addresses with two API keys, requests on three of the default
# routes (chat, embeddings, models) and on paths no route matches, some of
# them on kept-alive connections. /v1/keys, /v1/clients and /metrics show
# per (key, route) and (client, route) counts exactly as the clients sent
# them, and /metrics still passes promtool. Then the two keys send three
# models (and an unknown one, and a nested decoy), some from a client that
# writes the headers and the body apart, as SDKs do: /v1/keys and /metrics
# show exact counts per (key, model).
source "$(dirname "$0")/../lib/e2e.sh"
require_root
command -v promtool >/dev/null || die "promtool missing (scripts/install-deps.sh test installs prometheus)"

PORT=18091
start_nginx $PORT
KA=sk-routes-a-$$ KB=sk-routes-b-$$
cat > "$WORK/agent.json" <<JSON
{
  "instance": "$E2E_TAG",
  "gateway": { "interfaces": ["lo"], "ports": [$PORT] },
  "quotas": { "clients": [
      { "name": "team-a", "api_key": "$KA" },
      { "name": "team-b", "api_key": "$KB" } ] },
  "models": ["gpt-4o", "claude-3-5-haiku", "o3-mini"],
  "api": { "listen": "127.0.0.1:19498" },
  "state_dir": "$WORK/state"
}
JSON
defer "rm -rf /sys/fs/bpf/tollgate/$E2E_TAG"
start_agent "$WORK/agent.json"

U=http://127.0.0.1:$PORT
# send SOURCE KEY COUNT PATH...: COUNT curl runs, each requesting every
# PATH in turn on one kept-alive connection (a POST with a JSON body)
send() {
  local src=$1 key=$2 n=$3
  shift 3
  local urls=()
  for p in "$@"; do urls+=(-o /dev/null "$U$p"); done
  for _ in $(seq "$n"); do
    curl -fsS --interface "$src" \
      -H "Authorization: Bearer $key" -H 'Content-Type: application/json' \
      --data '{"model":"gpt-4o","messages":[]}' "${urls[@]}" || fail "curl $src $*"
  done
}
# 127.0.0.1, key A: chat 5, embeddings 3+3, models 2, other 1
send 127.0.0.1 "$KA" 5 /v1/chat/completions
send 127.0.0.1 "$KA" 3 /v1/embeddings "/v1/embeddings?x=1"
send 127.0.0.1 "$KA" 2 /v1/models
send 127.0.0.1 "$KA" 1 /v1/chat
# 127.0.0.2, key B: chat 1, embeddings 4, models 6 (2 x 3 on one
# connection), other 2
send 127.0.0.2 "$KB" 1 /v1/chat/completions/
send 127.0.0.2 "$KB" 4 /v1/embeddings
send 127.0.0.2 "$KB" 2 /v1/models /v1/models/gpt-4o "/v1/models?limit=1"
send 127.0.0.2 "$KB" 2 /admin
# 127.0.0.2 without a key: models 1 (quotas.default, "default")
curl -fsS --interface 127.0.0.2 -o /dev/null "$U/v1/models" || fail "curl without key"

check "all requests reached nginx" 28 "$(grep -c . "$NGINX_LOG")"
check "127.0.0.1 counted" 14 "$(wait_field 127.0.0.1 requests 14)"
check "127.0.0.2 counted" 14 "$(wait_field 127.0.0.2 requests 14)"

api /v1/keys > "$WORK/keys.json"
kr() { # kr KEY ROUTE: requests of KEY on ROUTE from /v1/keys
  jq -r --arg k "$1" --arg r "$2" '.keys[] | select(.name == $k) | .routes[$r].requests' "$WORK/keys.json"
}
for want in "team-a chat 5" "team-a embeddings 6" "team-a models 2" "team-a other 1" \
  "team-a completions 0" "team-a messages 0" "team-a responses 0" \
  "team-b chat 1" "team-b embeddings 4" "team-b models 6" "team-b other 2" \
  "default models 1" "default chat 0"; do
  set -- $want
  check "/v1/keys $1 $2" "$3" "$(kr "$1" "$2")"
done
check "/v1/keys: the six default routes and other" 7 \
  "$(jq -r '.keys[] | select(.name == "team-a") | .routes | length' "$WORK/keys.json")"

check "/v1/clients 127.0.0.1 routes" '{"chat":5,"embeddings":6,"models":2,"other":1}' \
  "$(client_jq 127.0.0.1 '.routes | map_values(.requests) | to_entries | sort_by(.key) | from_entries | tojson')"
check "/v1/clients 127.0.0.2 routes" '{"chat":1,"embeddings":4,"models":7,"other":2}' \
  "$(client_jq 127.0.0.2 '.routes | map_values(.requests) | to_entries | sort_by(.key) | from_entries | tojson')"
check "/v1/clients/127.0.0.2 routes" 7 "$(api /v1/clients/127.0.0.2 | jq -r '.routes.models.requests')"

api /metrics > "$WORK/metrics.txt"
out=$(promtool check metrics < "$WORK/metrics.txt" 2>&1) && rc=0 || rc=$?
check "promtool check metrics passes" 0 "$rc"
[ -z "$out" ] && ok "and reports no lint problem" || fail "promtool: $out"
m() { # m SERIES: its value in /metrics
  awk -v s="$1" '$1 == s { print $2 }' "$WORK/metrics.txt"
}
I="instance=\"$E2E_TAG\""
check "route chat" 6 "$(m "tollgate_route_requests_total{$I,route=\"chat\"}")"
check "route models" 9 "$(m "tollgate_route_requests_total{$I,route=\"models\"}")"
check "route other" 3 "$(m "tollgate_route_requests_total{$I,route=\"other\"}")"
check "route completions (none)" 0 "$(m "tollgate_route_requests_total{$I,route=\"completions\"}")"
check "key team-b embeddings" 4 "$(m "tollgate_key_route_requests_total{$I,key=\"team-b\",route=\"embeddings\"}")"
check "client 127.0.0.1 chat" 5 "$(m "tollgate_client_route_requests_total{$I,client=\"127.0.0.1\",route=\"chat\"}")"
check "no series for a route a key did not use" "" \
  "$(m "tollgate_key_route_requests_total{$I,key=\"team-a\",route=\"messages\"}")"
n=$(grep -c '^tollgate_client_route_requests_total' "$WORK/metrics.txt")
check "client series: routes used by the top clients" 8 "$n"

# top shows the most requested route of each client (a wide terminal)
top=$(COLUMNS=120 "$TOLLGATE" top --once --api "$API" 2>&1 || true)
echo "$top" | grep -q '127.0.0.2 .* models$' && ok "top: 127.0.0.2's top route is models" ||
  fail "top: $top"

# ---- models ----------------------------------------------------------------
# curlm SOURCE KEY COUNT BODY: COUNT POSTs to chat, headers and body in one
# segment (curl writes a small body with its headers)
curlm() {
  for _ in $(seq "$3"); do
    curl -fsS --interface "$1" -o /dev/null -H "Authorization: Bearer $2" \
      -H 'Content-Type: application/json' --data "$4" "$U/v1/chat/completions" ||
      fail "curl $1 $4"
  done
}
# split SOURCE KEY MODEL...: one connection, one request per MODEL, each
# written as two segments (headers, a pause, then the body: TCP_NODELAY,
# so the kernel does not merge them), each answer read before the next
split() {
  python3 - "$PORT" "$@" <<'PY' || fail "split client $*"
import socket, sys, time
port, src, key, models = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4:]
s = socket.socket()
s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
s.bind((src, 0))
s.connect(("127.0.0.1", port))
for m in models:
    body = ('{"model": "%s", "messages": [{"role": "user", "content": "hi"}], '
            '"max_tokens": 64, "stream": true}' % m).encode()
    s.sendall(("POST /v1/chat/completions HTTP/1.1\r\nHost: gw\r\n"
               "Authorization: Bearer %s\r\nContent-Type: application/json\r\n"
               "Content-Length: %d\r\n\r\n" % (key, len(body))).encode())
    time.sleep(0.05)
    s.sendall(body)
    buf = b""
    while b"\r\n\r\n" not in buf:
        buf += s.recv(4096)
    head, rest = buf.split(b"\r\n\r\n", 1)
    n = int([l.split(b":")[1] for l in head.split(b"\r\n") if l.lower().startswith(b"content-length")][0])
    while len(rest) < n:
        rest += s.recv(4096)
    assert head.startswith(b"HTTP/1.1 200"), head
s.close()
PY
}
before=$(grep -c . "$NGINX_LOG")
# key A, one segment: claude 2, o3-mini 3, an unknown model 1 (other)
curlm 127.0.0.1 "$KA" 2 '{"model":"claude-3-5-haiku","messages":[]}'
curlm 127.0.0.1 "$KA" 3 '{"messages":[{"role":"user","content":"say \"model\": \"gpt-4o\""}],"model":"o3-mini"}'
curlm 127.0.0.1 "$KA" 1 '{"model":"gpt-5","messages":[]}'
# key B, one segment: a nested decoy before its real model (claude) 1
curlm 127.0.0.2 "$KB" 1 '{"tools":[{"model":"gpt-4o"}],"model":"claude-3-5-haiku"}'
# key B, headers and body apart: gpt-4o 2, claude 1, o3-mini 2 (one
# kept-alive connection of three, then one of two)
split 127.0.0.2 "$KB" gpt-4o claude-3-5-haiku o3-mini
split 127.0.0.2 "$KB" gpt-4o o3-mini
# key A, headers and body apart: o3-mini 1, other 1
split 127.0.0.1 "$KA" o3-mini mistral-large
check "model requests reached nginx" 14 "$(( $(grep -c . "$NGINX_LOG") - before ))"
check "127.0.0.1 counted" 22 "$(wait_field 127.0.0.1 requests 22)"
check "127.0.0.2 counted" 20 "$(wait_field 127.0.0.2 requests 20)"

api /v1/keys > "$WORK/keys.json"
km() { # km KEY MODEL: requests of KEY with MODEL from /v1/keys
  jq -r --arg k "$1" --arg m "$2" '.keys[] | select(.name == $k) | .models[$m].requests' "$WORK/keys.json"
}
# the route phase's POSTs all named gpt-4o: team-a 14, team-b 13; the
# GET without a key named none
for want in "team-a gpt-4o 14" "team-a claude-3-5-haiku 2" "team-a o3-mini 4" "team-a other 2" \
  "team-b gpt-4o 15" "team-b claude-3-5-haiku 2" "team-b o3-mini 2" "team-b other 0" \
  "default gpt-4o 0" "default other 0"; do
  set -- $want
  check "/v1/keys $1 $2" "$3" "$(km "$1" "$2")"
done
check "/v1/keys: three models and other" 4 \
  "$(jq -r '.keys[] | select(.name == "team-b") | .models | length' "$WORK/keys.json")"
check "/v1/keys/team-b models" 2 "$(api /v1/keys/team-b | jq -r '.models["o3-mini"].requests')"
api /metrics > "$WORK/metrics.txt"
out=$(promtool check metrics < "$WORK/metrics.txt" 2>&1) && rc=0 || rc=$?
check "promtool check metrics passes (models)" 0 "$rc"
check "model gpt-4o" 29 "$(m "tollgate_model_requests_total{$I,model=\"gpt-4o\"}")"
check "model other" 2 "$(m "tollgate_model_requests_total{$I,model=\"other\"}")"
check "key team-a o3-mini" 4 "$(m "tollgate_key_model_requests_total{$I,key=\"team-a\",model=\"o3-mini\"}")"
check "no series for a model a key did not use" "" \
  "$(m "tollgate_key_model_requests_total{$I,key=\"team-b\",model=\"other\"}")"

echo "passed $PASS, failed $FAIL"
[ "$FAIL" -eq 0 ]
