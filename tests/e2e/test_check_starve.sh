#!/usr/bin/env bash
# The gateway's checks while someone on the host holds the agent's API:
# 200 idle and 50 slowloris connections to api.listen, reopened as soon as
# the agent closes them (tests/e2e/holdconns.py). nginx (auth_request,
# gateway-hooks/nginx/tollgate.conf and tollgate-upstream.conf as shipped)
# asks the agent on its own check socket (api.check_listen): allowed
# requests still get 200, an over-quota key still gets 429, and the check's
# p99 (nginx's own timing of each auth subrequest) stays under 50 ms. The
# agent runs as nobody (privilege drop) and gives the socket to nginx's
# workers' group; the socket is removed on a clean stop, and one left by a
# kill -9 does not stop the next start.
source "$(dirname "$0")/../lib/e2e.sh"
require_root
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
HOOK=$ROOT/gateway-hooks/nginx
PORT=18151 BACKEND=18152 API_PORT=19551
LOADGEN="python3 $TESTLIB/loadgen.py"

SOCK_DIR=/run/tollgate-$E2E_TAG
SOCK=$SOCK_DIR/check.sock
defer "rm -rf $SOCK_DIR"
PIN=/sys/fs/bpf/tollgate/$E2E_TAG
defer "rm -rf $PIN"
# The agent reads its config as nobody after the drop; state_dir under it.
chmod 755 "$WORK"

export TG_TEST_STARVE_KEY="sk-starve-$$"
cat > "$WORK/agent.json" <<JSON
{
  "instance": "$E2E_TAG",
  "gateway": { "interfaces": [], "ports": [$PORT] },
  "mode": "enforce",
  "quotas": { "clients": [
    { "name": "capped", "api_key_env": "TG_TEST_STARVE_KEY", "requests_per_sec": 1, "burst": 5,
      "action": "gateway" }
  ] },
  "api": { "listen": "127.0.0.1:$API_PORT", "check_listen": "unix:$SOCK", "check_group": "nogroup",
           "check_deny_status": 403 },
  "state_dir": "$WORK/state",
  "user": "nobody"
}
JSON
chmod 644 "$WORK/agent.json"

# nginx: workers as nobody:nogroup (a root master's default); each auth
# subrequest logged with the agent's answer time.
mkdir -p "$WORK/nginx/tollgate"
cp "$HOOK/tollgate.conf" "$WORK/nginx/tollgate/tollgate.conf"
sed "s#unix:/run/tollgate/check.sock#unix:$SOCK#" "$HOOK/tollgate-upstream.conf" \
  > "$WORK/nginx/tollgate/upstream.conf"
grep -q "unix:$SOCK" "$WORK/nginx/tollgate/upstream.conf" || die "the upstream names no socket to replace"
{
  nginx_head
  cat <<NGX
  log_format tg '\$uri \$status \$upstream_response_time';
  access_log $WORK/nginx/access.log tg;
  log_subrequest on;
  include $WORK/nginx/tollgate/upstream.conf;
  upstream backend { server 127.0.0.1:$BACKEND; keepalive 16; }
  server { listen 127.0.0.1:$BACKEND; access_log off; location / { return 200 "ok\n"; } }
  server {
    listen 127.0.0.1:$PORT;
    include $WORK/nginx/tollgate/tollgate.conf;
    location / { proxy_pass http://backend; proxy_http_version 1.1; proxy_set_header Connection ""; }
  }
}
NGX
} > "$WORK/nginx.conf"
run_nginx "$WORK/nginx.conf" $PORT
start_agent "$WORK/agent.json"
check "the agent runs as nobody" 65534 "$(awk '$1 == "Uid:" { print $3 }' "/proc/$AGENT_PID/status")"
check "the check socket: nobody:nogroup, 0660" "srw-rw---- nobody:nogroup" "$(stat -c '%A %U:%G' "$SOCK")"

url=http://127.0.0.1:$PORT/v1/chat/completions
check "before: an allowed request" 200 "$(curl -s -o /dev/null -w '%{http_code}' --max-time 5 "$url")"

# --- the main listener under a hold ------------------------------------------------
python3 "$HERE/holdconns.py" 127.0.0.1 $API_PORT --idle 200 --slow 50 --seconds 14 > "$WORK/hold.json" &
HOLD=$!
defer "kill $HOLD"
sleep 3 # every slot of api.listen taken, and taken again as it is freed
: > "$WORK/nginx/access.log"
$LOADGEN --url "$url" --rate 100 --duration 5 --conns 16 --timeout 2 --json > "$WORK/lg.json" &
LG=$!
# a key over its quota: the burst of 5, then 429 (one connection, keep-alive)
urls=()
for _ in $(seq 8); do urls+=(-o /dev/null "$url"); done
curl -s -w '%{http_code} ' --max-time 10 -H "Authorization: Bearer $TG_TEST_STARVE_KEY" \
  "${urls[@]}" > "$WORK/capped.txt"
wait "$LG"
wait "$HOLD" || true
cat "$WORK/hold.json"
log "client side: $(jq -c '{ok, offered, status, latency_ms}' "$WORK/lg.json")"

check "allowed requests during the hold: every one 200" "$(jq .offered "$WORK/lg.json")" "$(jq .ok "$WORK/lg.json")"
[ "$(jq .offered "$WORK/lg.json")" -ge 450 ] && ok "the load ran ($(jq .offered "$WORK/lg.json") requests)" ||
  fail "the load sent only $(jq .offered "$WORK/lg.json")"
check "an over-quota key during the hold: 5, then 429" "200 200 200 200 200 429 429 429" "$(sed 's/ $//' "$WORK/capped.txt")"
# the checks as nginx timed them: the auth subrequests' upstream time
awk '$1 == "/_tollgate_check" && $3 ~ /^[0-9.]+$/ { print $3 * 1000 }' "$WORK/nginx/access.log" | sort -g > "$WORK/check_ms.txt"
n=$(wc -l < "$WORK/check_ms.txt")
p99=$(awk -v n="$n" '{ v[NR] = $1 } END { i = int(n * 0.99 + 0.999); if (i < 1) i = 1; print v[i] + 0 }' "$WORK/check_ms.txt")
log "checks answered during the hold: $n, p99 ${p99} ms, max $(tail -1 "$WORK/check_ms.txt") ms"
[ "$n" -ge 450 ] && ok "nginx's checks were answered during the hold ($n)" || fail "only $n checks answered"
awk -v p="$p99" 'BEGIN { exit !(p < 50) }' && ok "the check's p99 under 50 ms (${p99} ms)" ||
  fail "the check's p99 is ${p99} ms"

# The hold was real: the agent kept closing the attacker's connections to
# make room for the ones it reopened.
check "the attacker got no answer to an unfinished request" 0 "$(jq .answered "$WORK/hold.json")"
metric() { # metric NAME LISTENER
  api /metrics | awk -v i="$E2E_TAG" -v m="$1" -v l="$2" \
    '$1 == "tollgate_" m "{instance=\"" i "\",listener=\"" l "\"}" { print $2 }'
}
ev=$(metric api_connections_evicted_total api)
[ "${ev:-0}" -ge 200 ] && ok "api.listen made room for newcomers ($ev evicted)" || fail "api.listen evicted '$ev'"
check "the check listener evicted nothing" 0 "$(metric api_connections_evicted_total check)"
check "the check listener refused nothing" 0 "$(metric api_connections_refused_total check)"
# Under that churn a slow head is displaced before its deadline; alone,
# it meets the deadline (2 s from its connection).
to0=$(metric api_request_timeouts_total api)
python3 "$HERE/holdconns.py" 127.0.0.1 $API_PORT --slow 1 --seconds 3.5 > "$WORK/slow.json"
to=$(( $(metric api_request_timeouts_total api) - ${to0:-0} ))
[ "$(jq .closed_by_server "$WORK/slow.json")" -ge 1 ] && [ "$to" -ge 1 ] &&
  ok "a slowloris connection is closed at the head deadline ($to in 3.5 s)" ||
  fail "slowloris alone: $(cat "$WORK/slow.json"), $to timeouts"

# --- a client gone before its answer ------------------------------------------------
# Writing the answer then fails with EPIPE: an error for that connection,
# not a signal that ends the agent (the first such write on a Unix socket
# raises SIGPIPE).
python3 - "$SOCK" <<'PY'
import socket, sys
for _ in range(50):
    s = socket.socket(socket.AF_UNIX)
    s.connect(sys.argv[1])
    s.sendall(b"GET /v1/check HTTP/1.1\r\nHost: x\r\nX-Real-IP: 198.18.0.9\r\n\r\n")
    s.close()
PY
sleep 0.5
kill -0 "$AGENT_PID" 2>/dev/null && ok "clients that close before their answer do not stop the agent" ||
  fail "the agent died when a client closed before its answer"

# --- a socket left by kill -9 does not stop the next start --------------------------
stop_agent KILL
[ -S "$SOCK" ] && ok "kill -9 leaves the socket file" || fail "no socket file after kill -9"
start_agent "$WORK/agent.json"
check "after kill -9: the next start replaced the socket" 200 \
  "$(curl -s -o /dev/null -w '%{http_code}' --max-time 5 "$url")"
stop_agent TERM
check "agent exits 0" 0 "$AGENT_RC"
[ -e "$SOCK" ] && fail "the check socket is left after a clean stop" || ok "the check socket is removed on exit"
check "agent down: nginx fails closed" 500 "$(curl -s -o /dev/null -w '%{http_code}' --max-time 5 "$url")"
