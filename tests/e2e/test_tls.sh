#!/usr/bin/env bash
# Inside TLS (gateway.tls): Debian's nginx terminating TLS with a
# self-signed certificate and a Python ssl server, both in the gateway's
# cgroup; curl clients with two API keys on chat, embeddings, models and
# an unmatched path, some requests on kept-alive connections. /v1/keys
# shows exact per (key, route) counts and the keys' allowed counts, which
# the TC program alone (ciphertext) cannot see. A second Python ssl server
# outside the cgroup, on a gateway port, gets requests with the same key:
# they are counted nowhere. Stopping the agent removes the uprobes: its
# programs and perf links are gone.
source "$(dirname "$0")/../lib/e2e.sh"
require_root
command -v bpftool >/dev/null || die "bpftool missing"
command -v openssl >/dev/null || die "openssl missing"

P_NGX=18443 P_PY=18444 P_OUT=18445
openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj /CN=localhost \
  -keyout "$WORK/key.pem" -out "$WORK/cert.pem" 2>/dev/null || die "openssl req"

make_cgroup "tg-tls-$$"
{
  nginx_head
  cat <<NGX
  log_format tg '\$remote_addr \$request_uri';
  access_log $WORK/nginx/access.log tg;
  keepalive_requests 10000;
  server {
    listen 127.0.0.1:$P_NGX ssl;
    ssl_certificate $WORK/cert.pem;
    ssl_certificate_key $WORK/key.pem;
    location / { return 200 "ok\n"; }
  }
}
NGX
} > "$WORK/nginx.conf"
NGINX_LOG=$WORK/nginx/access.log
nginx_in_cgroup "$WORK/nginx.conf" $P_NGX

# py_server PORT LOG [CGROUP]
py_server() {
  if [ -n "${3:-}" ]; then
    # shellcheck disable=SC2016
    bash -c 'echo $$ > "$1/cgroup.procs" && shift && exec python3 "$@"' py "$3" \
      "$(dirname "$0")/tls_server.py" --port "$1" --cert "$WORK/cert.pem" \
      --key "$WORK/key.pem" --log "$2" &
  else
    python3 "$(dirname "$0")/tls_server.py" --port "$1" --cert "$WORK/cert.pem" \
      --key "$WORK/key.pem" --log "$2" &
  fi
  PY_PID=$!
  defer "kill $!; wait $!"
  wait_port "$1"
}
py_server $P_PY "$WORK/py.log" "$CG"
PY_IN=$PY_PID
py_server $P_OUT "$WORK/out.log"

KA=sk-tls-a-$$ KB=sk-tls-b-$$
cat > "$WORK/agent.json" <<JSON
{
  "instance": "$E2E_TAG",
  "gateway": { "interfaces": ["lo"], "ports": [$P_NGX, $P_PY, $P_OUT],
               "tls": { "cgroup": "$CG" } },
  "quotas": { "clients": [
      { "name": "team-a", "api_key": "$KA" },
      { "name": "team-b", "api_key": "$KB" } ] },
  "api": { "listen": "127.0.0.1:19497" },
  "state_dir": "$WORK/state"
}
JSON
defer "rm -rf /sys/fs/bpf/tollgate/$E2E_TAG"
start_agent "$WORK/agent.json"
grep -q 'attached.*tls=' "$AGENT_LOG" && ok "agent attached the TLS probes" ||
  fail "no TLS attach line: $(cat "$AGENT_LOG")"

# send PORT KEY COUNT PATH...: COUNT curl runs, each requesting every
# PATH in turn on one kept-alive TLS connection (a POST with a JSON body)
send() {
  local port=$1 key=$2 n=$3
  shift 3
  local urls=()
  for p in "$@"; do urls+=(-o /dev/null "https://127.0.0.1:$port$p"); done
  for _ in $(seq "$n"); do
    curl -fsSk --http1.1 -H "Authorization: Bearer $key" -H 'Content-Type: application/json' \
      --data '{"model":"gpt-4o","messages":[]}' "${urls[@]}" || fail "curl $port $*"
  done
}
# nginx: key A chat 4, embeddings 2x2 (kept alive), other 1; key B models 3
send $P_NGX "$KA" 4 /v1/chat/completions
send $P_NGX "$KA" 2 /v1/embeddings "/v1/embeddings?x=1"
send $P_NGX "$KA" 1 /admin
send $P_NGX "$KB" 3 /v1/models
# Python: key A chat 2; key B chat 1, embeddings 3 (3 on one connection)
send $P_PY "$KA" 2 /v1/chat/completions
send $P_PY "$KB" 1 /v1/chat/completions
send $P_PY "$KB" 1 /v1/embeddings /v1/embeddings /v1/embeddings/x
# outside the cgroup: key A chat 5, key B models 2: counted nowhere
send $P_OUT "$KA" 5 /v1/chat/completions
send $P_OUT "$KB" 2 /v1/models

check "nginx served its requests" 12 "$(grep -c . "$NGINX_LOG")"
check "the Python server in the cgroup served its requests" 6 "$(grep -c . "$WORK/py.log")"
check "the Python server outside served its requests" 7 "$(grep -c . "$WORK/out.log")"

kr() { # kr KEY ROUTE: requests of KEY on ROUTE from /v1/keys
  api /v1/keys | jq -r --arg k "$1" --arg r "$2" '.keys[] | select(.name == $k) | .routes[$r].requests'
}
# the uprobes count as the servers return the bytes: give them a moment
for _ in $(seq 50); do [ "$(kr team-b embeddings)" = 3 ] && break; sleep 0.1; done
for want in "team-a chat 6" "team-a embeddings 4" "team-a other 1" "team-a models 0" \
  "team-b models 3" "team-b chat 1" "team-b embeddings 3" "team-b other 0"; do
  set -- $want
  check "/v1/keys $1 $2 (TLS, both servers)" "$3" "$(kr "$1" "$2")"
done
ka() { api /v1/keys | jq -r --arg k "$1" '.keys[] | select(.name == $k) | .state.allowed'; }
check "team-a allowed (its bucket's count)" 11 "$(ka team-a)"
check "team-b allowed (its bucket's count)" 7 "$(ka team-b)"
check "127.0.0.1 chat by the client's route counts (TLS, in the cgroup only)" 7 \
  "$(client_jq 127.0.0.1 '.routes.chat.requests')"

# the uprobes and their programs, as bpftool sees them
bpftool -j perf show > "$WORK/perf.json" 2>/dev/null || echo '[]' > "$WORK/perf.json"
ids=$(jq -r --argjson p "$AGENT_PID" '[.[] | select(.pid == $p and (.filename // "" | test("libssl")))] | map(.prog_id) | unique | .[]' "$WORK/perf.json")
n=$(jq --argjson p "$AGENT_PID" '[.[] | select(.pid == $p and (.filename // "" | test("libssl")))] | length' "$WORK/perf.json")
check "the agent holds 7 uprobes on libssl (cgroup mode: one per probe)" 7 "$n"
check "their programs, seen by id" 7 "$(echo "$ids" | grep -c .)"
stop_agent TERM
check "agent exits cleanly" 0 "$AGENT_RC"
left=0
for id in $ids; do bpftool prog show id "$id" >/dev/null 2>&1 && left=$((left + 1)); done
check "no TLS program left after the agent stopped" 0 "$left"
n=$(bpftool -j perf show 2>/dev/null | jq '[.[] | select(.filename // "" | test("libssl")) | select(.prog_id as $i | ['"$(echo $ids | tr ' ' ',')"'] | index($i))] | length')
check "no uprobe of the agent's left" 0 "$n"

# pids: only the listed process (the Python server in the cgroup) is
# traced; nginx, in the same cgroup but not listed, is not
jq --argjson p "$PY_IN" '.gateway.tls = {pids: [$p]}' "$WORK/agent.json" > "$WORK/agent-pids.json"
start_agent "$WORK/agent-pids.json"
send $P_NGX "$KA" 2 /v1/chat/completions
send $P_PY "$KB" 2 /v1/models
for _ in $(seq 50); do [ "$(kr team-b models)" = 2 ] && break; sleep 0.1; done
check "pids: the listed server's requests counted" 2 "$(kr team-b models)"
check "pids: nginx (not listed) counted nowhere" 0 "$(kr team-a chat)"
n=$(bpftool -j perf show 2>/dev/null | jq --argjson p "$AGENT_PID" '[.[] | select(.pid == $p and (.filename // "" | test("libssl")))] | length')
check "pids: 7 uprobes for the one process" 7 "$n"
stop_agent TERM
check "agent exits cleanly (pids)" 0 "$AGENT_RC"

echo "passed $PASS, failed $FAIL"
[ "$FAIL" -eq 0 ]
