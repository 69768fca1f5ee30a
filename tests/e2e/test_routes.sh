#!/usr/bin/env bash
# Routes end to end: a real nginx, curl clients from two loopback
# addresses with two API keys, requests on three of the default routes
# (chat, embeddings, models) and on paths no route matches, some of them
# on kept-alive connections. /v1/keys, /v1/clients and /metrics show per
# (key, route) and (client, route) counts exactly as the clients sent
# them, and /metrics still passes promtool.
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

echo "passed $PASS, failed $FAIL"
[ "$FAIL" -eq 0 ]
