#!/usr/bin/env bash
# log.format json: every line `tollgate run` writes to stderr is a JSON
# object, at debug level (libbpf's own messages included) through a start,
# traffic, quota denials, reloads good and bad (SIGHUP and POST /v1/reload)
# and a stop; so are a start that fails (a missing interface) and a config
# the agent rejects, whose lines keep the check-config text in "msg". A
# config whose log.format is not json gets the plain FILE: $.path: reason
# lines.
source "$(dirname "$0")/../lib/e2e.sh"
require_root

PORT=18197
API_LISTEN=127.0.0.1:19497
KEY=sk-logs-$(head -c 8 /dev/urandom | od -An -tx1 | tr -d ' \n')
export TG_E2E_LOGS_KEY=$KEY
[ -z "$(ss -Hltn "sport = :$PORT")" ] || die "port $PORT is already in use"
start_nginx $PORT

# all_json FILE: every line parses as a JSON object with ts, level and msg
all_json() {
  python3 - "$1" <<'PY'
import json, sys
bad = 0
lines = open(sys.argv[1], encoding="utf-8", errors="replace").read().splitlines()
for n, line in enumerate(lines, 1):
    try:
        o = json.loads(line)
        assert isinstance(o, dict) and {"ts", "level", "msg"} <= o.keys()
    except Exception:
        bad += 1
        print(f"#   line {n} is not a JSON log line: {line[:200]}")
print(f"{len(lines)} {bad}")
PY
}
# json_check DESCRIPTION FILE: all lines JSON, at least one
json_check() {
  local res total bad
  res=$(all_json "$2")
  grep '^#' <<<"$res" || true
  read -r total bad < <(tail -1 <<<"$res")
  [ "$bad" = 0 ] && [ "$total" -gt 0 ] && ok "$1: $total lines, all JSON" || fail "$1: $bad of $total lines not JSON"
}

cat > "$WORK/json.json" <<JSON
{ "instance": "$E2E_TAG", "mode": "enforce",
  "gateway": { "interfaces": ["lo"], "ports": [$PORT] },
  "quotas": { "clients": [ { "name": "slow", "api_key_env": "TG_E2E_LOGS_KEY", "requests_per_sec": 1, "burst": 1 } ] },
  "api": { "listen": "$API_LISTEN" },
  "log": { "level": "debug", "format": "json" } }
JSON
start_agent "$WORK/json.json"
# before any traffic: a scan of empty maps is a scan, not a failure
for _ in $(seq 30); do grep -q '"msg":"scan"' "$AGENT_LOG" && break; sleep 0.1; done
grep -q '"msg":"scan"' "$AGENT_LOG" && ok "a scan of empty maps succeeds" || fail "no scan before traffic"
for i in 1 2 3 4; do
  curl -s -o /dev/null --max-time 1 -H "Authorization: Bearer $KEY" "http://127.0.0.1:$PORT/k/$i" || true
done
for i in 1 2 3; do curl -fsS -o /dev/null "http://127.0.0.1:$PORT/a/$i"; done
for _ in $(seq 50); do grep -q 'quota exceeded' "$AGENT_LOG" && break; sleep 0.2; done
kill -HUP "$AGENT_PID"
sleep 0.5
curl -fsS -o /dev/null -X POST "http://$API_LISTEN/v1/reload"
cp "$WORK/json.json" "$WORK/good.json"
printf '{"gateway": {"ports": [0]}, "api": {"listen": "%s"}, "log": {"format": "json"}}' "$API_LISTEN" > "$WORK/bad.json"
mv "$WORK/bad.json" "$WORK/json.json"
sleep 0.5
curl -s -o /dev/null -X POST "http://$API_LISTEN/v1/reload"
mv "$WORK/good.json" "$WORK/json.json"
sleep 0.5
stop_agent TERM
check "the agent stops cleanly" 0 "$AGENT_RC"
check "no scan failed" 0 "$(grep -c '"msg":"scan failed"' "$AGENT_LOG")"
json_check "a run with log.format json" "$AGENT_LOG"
grep -q '"msg":"libbpf"' "$AGENT_LOG" && ok "libbpf's messages are among them" || fail "no libbpf line"
grep -q '"msg":"quota exceeded' "$AGENT_LOG" && ok "a denial is among them" || fail "no denial line"
grep -q '"msg":"reload rejected, old config kept"' "$AGENT_LOG" && ok "a rejected reload is among them" || fail "no rejected reload"
check "reloads logged" 1 "$([ "$(grep -c '"msg":"reloaded"' "$AGENT_LOG")" -ge 2 ] && echo 1 || echo 0)"

# A start that fails after the config parsed: the same format.
cat > "$WORK/noif.json" <<JSON
{ "instance": "${E2E_TAG}x", "gateway": { "interfaces": ["${E2E_TAG}none"] },
  "api": { "listen": "127.0.0.1:19498" }, "log": { "format": "json" } }
JSON
rc=0; "$TOLLGATE" run --config "$WORK/noif.json" 2> "$WORK/noif.log" || rc=$?
check "a missing interface exits 1" 1 "$rc"
json_check "a failed start" "$WORK/noif.log"
grep -q "interface ${E2E_TAG}none not found" "$WORK/noif.log" && ok "the failure says what to do" || fail "no failure line"

# A config the agent rejects: JSON lines keeping the check-config text.
printf '{"log": {"format": "json"}, "mode": "fast", "gateway": {"ports": ["x"]}}' > "$WORK/reject.json"
rc=0; "$TOLLGATE" run --config "$WORK/reject.json" 2> "$WORK/reject.log" || rc=$?
check "a rejected config exits 2" 2 "$rc"
json_check "a rejected config with log.format json" "$WORK/reject.log"
check "its msg is the check-config line" "$WORK/reject.json: \$.mode: must be one of monitor|enforce" \
  "$(jq -r 'select(.path == "$.mode") | .msg' "$WORK/reject.log")"
check "path and reason are members" "must be an integer in 1..65535" \
  "$(jq -r 'select(.path == "$.gateway.ports[0]") | .reason' "$WORK/reject.log")"
# The same config without log.format json: the contract's plain lines.
printf '{"mode": "fast"}' > "$WORK/plain.json"
rc=0; "$TOLLGATE" run --config "$WORK/plain.json" 2> "$WORK/plain.log" || rc=$?
check "a rejected config (logfmt) exits 2" 2 "$rc"
check "plain FILE: \$.path: reason" "$WORK/plain.json: \$.mode: must be one of monitor|enforce" "$(cat "$WORK/plain.log")"
