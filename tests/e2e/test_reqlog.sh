#!/usr/bin/env bash
# The request log end to end: a real nginx and the real agent with
# log.requests on. Clients with two API keys on three routes: exactly one
# line per request, with its key, route, method and status, every line
# valid against schema/tollgate.request.v1.schema.json. logrotate's way
# (rename, then SIGHUP or SIGUSR1): the agent writes to a new file and no
# line is lost. sample 0.5: about half the requests, within 6 sigma of
# the binomial.
source "$(dirname "$0")/../lib/e2e.sh"
require_root

PORT=18093
start_nginx $PORT
KA=sk-reqlog-a-$$ KB=sk-reqlog-b-$$
LOG=$WORK/requests.log
write_config() { # write_config SAMPLE
  cat > "$WORK/agent.json" <<JSON
{
  "instance": "$E2E_TAG",
  "gateway": { "interfaces": ["lo"], "ports": [$PORT] },
  "quotas": { "clients": [
      { "name": "team-a", "api_key": "$KA" },
      { "name": "team-b", "api_key": "$KB" } ] },
  "api": { "listen": "127.0.0.1:19499" },
  "state_dir": "$WORK/state",
  "log": { "requests": { "sample": $1, "max_per_sec": 0, "file": "$LOG" } }
}
JSON
}
write_config 1
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
lines() { cat "$@" 2>/dev/null | grep -c . || true; }
wait_lines() { # wait_lines N FILE...: until the files hold N lines (10 s)
  local n=$1
  shift
  for _ in $(seq 100); do
    [ "$(lines "$@")" -ge "$n" ] && break
    sleep 0.1
  done
  sleep 0.3 # and nothing more comes
  lines "$@"
}

# 1. 20 requests: team-a chat 4x2 on kept-alive connections, team-a
#    embeddings 3; team-b models 5, team-b other 2; no key: chat 2.
send 127.0.0.1 "$KA" 4 /v1/chat/completions /v1/chat/completions
send 127.0.0.1 "$KA" 3 /v1/embeddings
send 127.0.0.2 "$KB" 5 /v1/models
send 127.0.0.2 "$KB" 2 /admin
curl -fsS --interface 127.0.0.2 -o /dev/null -o /dev/null "$U/v1/chat/completions" \
  "$U/v1/chat/completions" || fail "curl without key"
check "nginx got 20 requests" 20 "$(grep -c . "$NGINX_LOG")"
check "20 lines" 20 "$(wait_lines 20 "$LOG")"
python3 "$TESTLIB/../tools/validate_events.py" --schema tollgate.request.v1 \
  "$TESTLIB/../../schema" "$LOG" && ok "every line valid against tollgate.request.v1" ||
  fail "lines invalid: $(head -3 "$LOG")"
per() { # per KEY ROUTE: lines of KEY on ROUTE, status 200, allowed, POST or GET
  jq -r --arg k "$1" --arg r "$2" 'select(.key == $k and .route == $r and .status == 200
    and .verdict == "allowed" and .ttfb_ms != null and .request_bytes > 0) | .client' "$LOG" | grep -c . || true
}
for want in "team-a chat 8" "team-a embeddings 3" "team-b models 5" "team-b other 2" "other chat 2"; do
  set -- $want
  check "lines of $1 on $2" "$3" "$(per "$1" "$2")"
done
check "team-b's lines from 127.0.0.2" 7 "$(jq -r 'select(.key == "team-b") | .client' "$LOG" | grep -c '^127\.0\.0\.2$')"
check "methods: POST 18, GET 2" "18 2" \
  "$(jq -r .method "$LOG" | grep -c POST) $(jq -r .method "$LOG" | grep -c GET)"
check "one client port per connection (15)" 15 "$(jq -r .client_port "$LOG" | sort -u | grep -c .)"

# 2. logrotate: rename, requests, SIGHUP, requests: the first go to the
#    renamed file, the rest to a new one; nothing lost. Then SIGUSR1.
mv "$LOG" "$LOG.1"
send 127.0.0.1 "$KA" 5 /v1/chat/completions
wait_lines 25 "$LOG.1" >/dev/null
kill -HUP "$AGENT_PID"
for _ in $(seq 50); do [ -e "$LOG" ] && break; sleep 0.1; done
[ -e "$LOG" ] && ok "SIGHUP reopened the log (a new file)" || fail "no new file after SIGHUP"
send 127.0.0.1 "$KA" 7 /v1/embeddings
check "after SIGHUP: 7 lines in the new file" 7 "$(wait_lines 7 "$LOG")"
check "the renamed file has the 25 before" 25 "$(lines "$LOG.1")"
mv "$LOG" "$LOG.2"
kill -USR1 "$AGENT_PID"
for _ in $(seq 50); do [ -e "$LOG" ] && break; sleep 0.1; done
send 127.0.0.2 "$KB" 4 /v1/models
check "after SIGUSR1: 4 lines in the new file" 4 "$(wait_lines 4 "$LOG")"
check "no line lost: 36 in all" 36 "$(lines "$LOG" "$LOG.1" "$LOG.2")"
kill -0 "$AGENT_PID" && ok "the agent runs on after the signals" || fail "agent gone"
grep -q 'reloaded' "$AGENT_LOG" && ok "SIGHUP still reloads the config" || fail "no reload logged"

# 3. sample 0.5 (a reload): 400 requests on kept-alive connections; the
#    lines are Binomial(400, 0.5): 200 +- 6 sigma (sigma 10).
write_config 0.5
kill -HUP "$AGENT_PID"
for _ in $(seq 50); do grep -c 'reloaded' "$AGENT_LOG" | grep -q 2 && break; sleep 0.1; done
before=$(lines "$LOG")
for _ in 1 2 3 4; do
  curl -fsS --interface 127.0.0.1 -H "Authorization: Bearer $KA" "$U/v1/models?n=[1-100]" \
    >/dev/null || fail "curl glob"
done
sleep 1
n=$(( $(wait_lines 0 "$LOG") - before ))
log "sample 0.5: $n of 400 requests logged"
[ "$n" -ge 140 ] && [ "$n" -le 260 ] && ok "sample 0.5: $n lines, within 140..260" ||
  fail "sample 0.5: $n lines, outside 140..260"

api /metrics > "$WORK/metrics.txt"
m() { awk -v s="$1" '$1 == s { print $2 }' "$WORK/metrics.txt"; }
I="instance=\"$E2E_TAG\""
check "metrics: lines written" $((36 + n)) "$(m "tollgate_request_log_lines_total{$I}")"
check "metrics: nothing lost" 0 "$(m "tollgate_request_log_lost_total{$I}")"
check "metrics: nothing dropped" 0 "$(m "tollgate_request_log_dropped_total{$I}")"

echo "passed $PASS, failed $FAIL"
[ "$FAIL" -eq 0 ]
