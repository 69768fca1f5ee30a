#!/usr/bin/env bash
# Anomaly events end to end: an abusive client in a namespace against real
# nginx, the real agent in enforce mode, and real webhook receivers
# (receiver.py) that check every signature and validate every event
# against schema/. Covers: the event naming the client and its counts, a
# receiver that is down and then up (nothing lost), 500 then 200 (retried,
# same id), 400 (dead letter), the agent killed with events queued (the
# spool is replayed), a client probing many unmatched paths (route_scan),
# an OpenAI-compatible stub whose triage answer
# comes back as a tollgate.triage.v1 event, and a webhook URL holding
# secrets (Slack's shape, user:password@, ?token=) that is used whole but
# never printed or logged.
source "$(dirname "$0")/../lib/e2e.sh"
require_root
LOADGEN="python3 $TESTLIB/loadgen.py"
python3 -c 'import jsonschema' 2>/dev/null || die "python3-jsonschema is missing (scripts/install-deps.sh test)"

PORT=8080
make_client "${E2E_TAG}a" "${E2E_TAG}h1" "${E2E_TAG}c1" 198.18.8.1 198.18.8.2
make_client "${E2E_TAG}b" "${E2E_TAG}h2" "${E2E_TAG}c2" 198.18.9.1 198.18.9.2
start_nginx $PORT

export TG_TEST_SECRET="whsec_$(head -c 24 /dev/urandom | base64)"
export TG_TEST_LLM_KEY="sk-llm-$$"
STATE=$WORK/state
P_OPS=19481 P_LATE=19482 P_RETRY=19483 P_REJECT=19484 P_LLM=19485
# The ops URL's secrets: its userinfo, the path after /hook, the query.
U_PW="pw-$$" U_PATH="T0001/B0002/slk$$" U_TOKEN="tok-$$"
cat > "$WORK/agent.json" <<JSON
{
  "instance": "$E2E_TAG",
  "gateway": { "interfaces": ["${E2E_TAG}h1", "${E2E_TAG}h2"], "ports": [$PORT] },
  "mode": "enforce",
  "quotas": { "clients": [
    { "name": "abuser", "cidr": "198.18.8.2", "requests_per_sec": 5, "burst": 5 }
  ] },
  "anomaly": {
    "scan_interval_ms": 500, "window_ms": 2000,
    "quota_exhausted": { "severity": "critical" },
    "rate_spike": { "warmup_intervals": 4, "min_requests_per_sec": 10 }
  },
  "webhooks": [
    { "name": "ops", "url": "http://tgops:$U_PW@127.0.0.1:$P_OPS/hook/$U_PATH?token=$U_TOKEN", "format": "generic",
      "secret_env": "TG_TEST_SECRET", "headers": { "X-Team": "sre" } },
    { "name": "late", "url": "http://127.0.0.1:$P_LATE/hook", "format": "generic",
      "secret_env": "TG_TEST_SECRET", "timeout_ms": 1000, "retry_max_ms": 2000 },
    { "name": "retry", "url": "http://127.0.0.1:$P_RETRY/hook", "format": "generic",
      "min_severity": "critical", "retry_max_ms": 2000 },
    { "name": "reject", "url": "http://127.0.0.1:$P_REJECT/hook", "format": "generic",
      "min_severity": "critical" },
    { "name": "llm", "url": "http://127.0.0.1:$P_LLM/v1/chat/completions", "format": "openai",
      "model": "stub-model", "api_key_env": "TG_TEST_LLM_KEY", "min_severity": "critical" }
  ],
  "state_dir": "$STATE",
  "api": { "listen": "127.0.0.1:19479" }
}
JSON
"$TOLLGATE" check-config "$WORK/agent.json" >/dev/null || die "config rejected"

# rx NAME JQ: the receiver's log as one array, filtered
rx() { touch "$WORK/rx_$1.jsonl"; jq -s "$2" "$WORK/rx_$1.jsonl"; }
# wait_rx NAME JQ SECONDS: until JQ (on the log array) is true
wait_rx() {
  local end=$((SECONDS + $3))
  while [ $SECONDS -lt $end ]; do
    [ "$(rx "$1" "$2")" = true ] && return 0
    sleep 0.2
  done
  return 1
}

start_receiver ops $P_OPS --secret "$TG_TEST_SECRET"
start_receiver retry $P_RETRY --plan 500,200
start_receiver reject $P_REJECT --plan 400
start_receiver llm $P_LLM --openai
# "late" is down for now.
start_agent "$WORK/agent.json"

# --- an abusive client: quota_exhausted, at once and named -------------------
t0=$(date +%s.%N)
ip netns exec "${E2E_TAG}a" $LOADGEN --url "http://198.18.8.1:$PORT/v1/chat/completions" \
  --rate 50 --duration 3 --new-conn-per-request --timeout 0.5 --json > "$WORK/lg_abuse.json"
QE='[.[] | select(.status == 200) | .body | select(.schema == "tollgate.anomaly.v1")
     | .anomalies[] | select(.type == "quota_exhausted")]'
if wait_rx ops "$QE | map(select(.client.address == \"198.18.8.2\" and .client.key == \"abuser\")) | length > 0" 10; then
  ok "quota_exhausted arrives naming 198.18.8.2 and key abuser"
else
  fail "no quota_exhausted event for 198.18.8.2"; rx ops . | head -c 3000
fi
# the anomaly event, not its triage (which can reach ops first when the
# LLM stub answers before ops has taken the event)
first=$(rx ops '[.[] | select(.body.schema == "tollgate.anomaly.v1" and .body.severity == "critical")][0]')
lat=$(echo "$first" | jq --argjson t0 "$t0" '.t - $t0')
log "first critical event $(echo "$first" | jq -r .body.id), $lat s after the load started"
check "the critical event's anomaly is quota_exhausted" quota_exhausted "$(echo "$first" | jq -r '.body.anomalies[0].type')"
check "its severity is critical" critical "$(echo "$first" | jq -r '.body.anomalies[0].type as $t | .body.severity')"
check "its quota names the limit" 5 "$(echo "$first" | jq -r '.body.anomalies[0].quota.requests_per_sec')"
denied_evt=$(echo "$first" | jq -r '.body.anomalies[0].observed.denied')
[ "$denied_evt" -ge 1 ] && ok "observed.denied counts drops ($denied_evt)" || fail "observed.denied: $denied_evt"

# The window summary: one entry with a count, not one event per denial.
if wait_rx ops "[.[] | .body.anomalies[]? | select(.type == \"quota_exhausted\" and .count >= 2)] | length > 0" 10; then
  ok "the window summary deduplicates: quota_exhausted with count >= 2"
else
  fail "no deduplicated quota_exhausted summary"
fi
denied_api=$(api /v1/keys/abuser | jq .state.denied)
max_evt=$(rx ops "[$QE[] | .observed.denied] | max")
[ "$max_evt" -ge 1 ] && [ "$max_evt" -le "$denied_api" ] \
  && ok "event counts agree with the kernel ($max_evt <= $denied_api denied)" \
  || fail "event denied $max_evt vs kernel $denied_api"

# --- a rate spike against a client's own baseline ------------------------------
ip netns exec "${E2E_TAG}b" $LOADGEN --url "http://198.18.9.1:$PORT/base" --rate 2 --duration 4 \
  --timeout 1 --json > /dev/null
ip netns exec "${E2E_TAG}b" $LOADGEN --url "http://198.18.9.1:$PORT/spike" --rate 100 --duration 2 \
  --timeout 1 --json > /dev/null
if wait_rx ops '[.[] | .body.anomalies[]? | select(.type == "rate_spike" and .client.address == "198.18.9.2")] | length > 0' 8; then
  ok "rate_spike fires for 198.18.9.2"
  rx ops '[.[] | .body.anomalies[]? | select(.type == "rate_spike")][0] | {observed, baseline}' | tr -d '\n '; echo
else
  fail "no rate_spike for 198.18.9.2"
fi

# --- route_scan: one client probing many paths no route matches ---------------
# 150 distinct paths over one kept-alive connection, well within a second:
# even split across two 2 s windows, one window holds 75 (> max_paths 20).
ip netns exec "${E2E_TAG}b" timeout 20 python3 - <<'PY' || fail "the probe client failed"
import http.client
c = http.client.HTTPConnection("198.18.9.1", 8080, timeout=2)
for i in range(150):
    c.request("GET", "/probe%d/admin?x=%d" % (i, i))
    c.getresponse().read()
PY
if wait_rx ops '[.[] | .body.anomalies[]? | select(.type == "route_scan" and .client.address == "198.18.9.2")] | length > 0' 8; then
  n_paths=$(rx ops '[.[] | .body.anomalies[]? | select(.type == "route_scan" and .client.address == "198.18.9.2") | .observed.distinct_paths] | max')
  [ "$n_paths" -gt 20 ] && [ "$n_paths" -le 190 ] \
    && ok "route_scan fires for 198.18.9.2 ($n_paths distinct unmatched paths estimated, 150 sent)" \
    || fail "route_scan distinct_paths $n_paths for 150 paths"
else
  fail "no route_scan for 198.18.9.2"
fi
check "no route_scan for a client on the API's own route" 0 \
  "$(rx ops '[.[] | .body.anomalies[]? | select(.type == "route_scan" and .client.address == "198.18.8.2")] | length')"

# --- every event signed, valid, with the configured header ---------------------
check "every event's signature verifies" 0 "$(rx ops '[.[] | select(.sig_ok != true)] | length')"
check "every event validates against its schema" 0 "$(rx ops '[.[] | select(.schema_ok != true)] | length')"
check "configured headers are sent" 0 "$(rx ops '[.[] | select(.x_team != "sre")] | length')"

# --- a URL that holds secrets: used whole, printed redacted -------------------
check "the whole URL is used: its path and query" 0 \
  "$(rx ops "[.[] | select(.path != \"/hook/$U_PATH?token=$U_TOKEN\")] | length")"
check "... and its userinfo (Basic auth)" 0 \
  "$(rx ops "[.[] | select(.authorization != \"Basic $(printf 'tgops:%s' "$U_PW" | base64)\")] | length")"
REDACTED_URL="http://<redacted>@127.0.0.1:$P_OPS/hook/<redacted>?<redacted>"
printed=$("$TOLLGATE" check-config "$WORK/agent.json")
check "check-config prints the URL redacted" "$REDACTED_URL" \
  "$(echo "$printed" | jq -r '.webhooks[] | select(.name == "ops") | .url')"
check "/v1/config shows it redacted" "$REDACTED_URL" \
  "$(api /v1/config | jq -r '.webhooks[] | select(.name == "ops") | .url')"
leaks() { grep -c -e "$U_PW" -e "slk$$" -e "$U_TOKEN" || true; }
check "no secret of the URL in check-config's output" 0 "$(echo "$printed" | leaks)"
check "... nor in /v1/config" 0 "$(api /v1/config | leaks)"

# --- 500 then 200: retried with the same id -------------------------------------
r_first=$(rx retry '[.[] | select(.status == 500)][0]')
check "the first attempt was answered 500" 500 "$(echo "$r_first" | jq .status)"
if wait_rx retry "[.[] | select(.id == $(echo "$r_first" | jq .id) and .status == 200)] | length == 1" 10; then
  ok "the event was retried and accepted with the same webhook-id"
else
  fail "no successful retry of $(echo "$r_first" | jq -r .id)"
fi
check "only critical events reach a min_severity critical webhook" 0 \
  "$(rx retry '[.[] | select(.body.severity != "critical")] | length')"

# --- 400: dead letter, not retried ---------------------------------------------
rej_id=$(rx reject '.[0].id')
sleep 1
check "a 400 is not retried" 1 "$(rx reject "[.[] | select(.id == $rej_id)] | length")"
DL=$STATE/$E2E_TAG/deadletter/reject.jsonl
if [ -f "$DL" ] && jq -s -e --argjson id "$rej_id" 'any(.[]; .id == $id)' "$DL" >/dev/null; then
  ok "the rejected event is in the dead-letter file"
else
  fail "no dead letter for $rej_id"; cut -c1-300 "$DL"
fi

# --- triage through an OpenAI-compatible endpoint ------------------------------
check "the chat request carries the bearer key" "Bearer $TG_TEST_LLM_KEY" "$(rx llm '.[0].authorization' | jq -r .)"
check "the chat request asks for the configured model" stub-model "$(rx llm '.[0].body.model' | jq -r .)"
check "the chat request holds a valid event" true "$(rx llm '.[0].schema_ok')"
llm_event=$(rx llm '.[0].inner_id')
if wait_rx ops "[.[] | select(.body.schema == \"tollgate.triage.v1\" and .body.event_id == $llm_event)] | length > 0" 10; then
  ok "the triage answer arrives as tollgate.triage.v1 for $llm_event"
  check "triage text is the model's answer" true \
    "$(rx ops "[.[] | select(.body.event_id == $llm_event)][0].body.triage | startswith(\"Likely cause\")")"
else
  fail "no triage event for $llm_event"
fi

# --- metrics ---------------------------------------------------------------------
m=$(api /metrics)
echo "$m" | grep -q '^tollgate_webhook_dead_letters_total{instance="'"$E2E_TAG"'",webhook="reject"} [1-9]' \
  && ok "metrics count the dead letter" || fail "no dead-letter metric"
echo "$m" | grep -q '^tollgate_webhook_retries_total{instance="'"$E2E_TAG"'",webhook="retry"} [1-9]' \
  && ok "metrics count the retry" || fail "no retry metric"
late_q=$(echo "$m" | awk -v w="webhook=\"late\"" 'index($0, "tollgate_webhook_queue_depth{") == 1 && index($0, w) {print $2}')
[ "${late_q:-0}" -ge 1 ] && ok "the down receiver's queue holds events ($late_q)" || fail "late queue depth: '$late_q'"

# --- the agent is killed with events queued: the spool is replayed ------------
n_spooled=$(ls "$STATE/$E2E_TAG/spool/late" | wc -l)
[ "$n_spooled" -ge 1 ] && ok "events for the down receiver are spooled ($n_spooled files)" || fail "nothing spooled"
kill -KILL "$AGENT_PID"; wait "$AGENT_PID" 2>/dev/null || true
cp "$AGENT_LOG" "$WORK/first-run.log"
start_agent "$WORK/agent.json"
start_receiver late $P_LATE --secret "$TG_TEST_SECRET"
OPS_IDS='[.[] | select(.status == 200 and .body.schema == "tollgate.anomaly.v1") | .id] | unique'
want=$(rx ops "$OPS_IDS")
if wait_rx late "([.[] | select(.status == 200) | .id] | unique) as \$got | ($want - \$got) | length == 0" 30; then
  ok "every anomaly event reached the receiver that was down, across a kill -9 ($(echo "$want" | jq length) events)"
else
  fail "events lost: $(rx late "([.[] | .id] | unique) as \$got | $want - \$got")"
fi
check "the webhook-id is the event id" 0 "$(rx late '[.[] | select(.body.id != null and .id != .body.id)] | length')"
check "replayed events validate" 0 "$(rx late '[.[] | select(.schema_ok != true or .sig_ok != true)] | length')"
sleep 1
check "the spool is empty once delivered" 0 "$(ls "$STATE/$E2E_TAG/spool/late" | wc -l)"

stop_agent TERM
check "agent exits 0" 0 "$AGENT_RC"
check "no secret of the ops URL in the agent's logs" 0 "$(cat "$WORK/first-run.log" "$AGENT_LOG" | leaks)"
