#!/usr/bin/env bash
# The operator's commands from an admin shell that lacks the agent's
# secrets, as under the shipped systemd unit (they live in its environment
# file): the agent runs with an API token and a quota whose api_key_env the
# shell does not have.
#  1. status, top --once, reload and detach with --config get past the
#     config (no exit 2): they read only its instance, api.listen and
#     api.token_env; without the token the message names the unset variable;
#     TOLLGATE_API_TOKEN is the fallback; a wrong token is called wrong;
#  2. reload: the new generation, a rejected config as FILE: $.path: reason
#     lines (exit 2) with the old one kept, keys that wait for a restart;
#     POST /v1/reload without the token is a 401, GET a 405;
#  3. one client form: status and top print 127.0.0.1 and ::/64, and
#     /v1/clients takes them back; the README's status header is status's;
#     every family of the live /metrics is in docs/reference/metrics.md;
#  4. detach --config refuses while the instance answers (and says why when
#     it cannot read which instance it is), and cleans up after a kill -9.
source "$(dirname "$0")/../lib/e2e.sh"
require_root

PORT=18196
API_LISTEN=127.0.0.1:19496
TOKEN_VAR=TG_E2E_OPS_TOKEN
KEY_VAR=TG_E2E_OPS_KEY
TOKEN=tg-ops-$(head -c 12 /dev/urandom | od -An -tx1 | tr -d ' \n')
KEY=sk-ops-$(head -c 8 /dev/urandom | od -An -tx1 | tr -d ' \n')
unset TOLLGATE_API_TOKEN "$TOKEN_VAR" "$KEY_VAR"
for p in $PORT 19496; do
  [ -z "$(ss -Hltn "sport = :$p")" ] || die "port $p is already in use"
done
PINS=/sys/fs/bpf/tollgate/$E2E_TAG
# whatever happens, nothing of this instance stays attached to lo
defer "'$TOLLGATE' detach --instance $E2E_TAG --api 127.0.0.1:9 --force; rm -rf $PINS; rmdir /sys/fs/bpf/tollgate"
start_nginx $PORT

CFG=$WORK/ops.json
write_cfg() { # write_cfg PORTS MAX_CLIENTS
  cat > "$CFG" <<JSON
{ "instance": "$E2E_TAG",
  "gateway": { "interfaces": ["lo"], "ports": [$1], "max_clients": $2 },
  "quotas": { "clients": [ { "name": "team", "api_key_env": "$KEY_VAR", "requests_per_sec": 100 } ] },
  "api": { "listen": "$API_LISTEN", "token_env": "$TOKEN_VAR" } }
JSON
}
write_cfg $PORT 4096
# The agent has its secrets (its unit's environment); this shell has none.
AGENT_LOG=$WORK/agent.log
env "$TOKEN_VAR=$TOKEN" "$KEY_VAR=$KEY" "$TOLLGATE" run --config "$CFG" > "$AGENT_LOG" 2>&1 &
AGENT_PID=$!
defer "kill $AGENT_PID; wait $AGENT_PID"
api() { curl -fsS --max-time 5 -H "X-Tollgate-Token: $TOKEN" "http://$API_LISTEN$1"; }
code() { local u=$1; shift; curl -s -o /dev/null -w '%{http_code}' --max-time 5 "$@" "http://$API_LISTEN$u"; }
for _ in $(seq 100); do
  api /healthz >/dev/null 2>&1 && break
  kill -0 "$AGENT_PID" 2>/dev/null || { cat "$AGENT_LOG"; die "agent exited"; }
  sleep 0.1
done
api /healthz >/dev/null || { cat "$AGENT_LOG"; die "agent API did not come up"; }

for i in 1 2 3; do curl -fsS -o /dev/null "http://127.0.0.1:$PORT/ops/$i"; done
curl -fsS -g -o /dev/null "http://[::1]:$PORT/ops/six"
for _ in $(seq 75); do
  [ "$(api /v1/clients | jq '[.clients[] | select(.address == "127.0.0.1" or .address == "::")] | length')" = 2 ] && break
  sleep 0.2
done

# --- 1. the commands get past the config ---------------------------------------
rc=0; "$TOLLGATE" check-config "$CFG" > /dev/null 2>&1 || rc=$?
check "check-config (the full parser) wants the secrets: exit 2" 2 "$rc"
rc=0; "$TOLLGATE" status --config "$CFG" > "$WORK/out.txt" 2> "$WORK/err.txt" || rc=$?
check "status --config without the secrets: not a config error, the agent wants its token" 1 "$rc"
grep -q "asks for an API token (the config's api.token_env, $TOKEN_VAR, is not set here)" "$WORK/err.txt" \
  && ok "the message names the unset variable" || { cat "$WORK/err.txt"; fail "missing token message"; }
rc=0; TOLLGATE_API_TOKEN=$TOKEN "$TOLLGATE" status --config "$CFG" > "$WORK/status.txt" 2> "$WORK/err.txt" || rc=$?
check "status --config with TOLLGATE_API_TOKEN (the fallback)" 0 "$rc"
rc=0; TOLLGATE_API_TOKEN=${TOKEN}x "$TOLLGATE" status --config "$CFG" > /dev/null 2> "$WORK/err.txt" || rc=$?
check "a wrong token: exit 1" 1 "$rc"
grep -q "refused the API token from TOLLGATE_API_TOKEN" "$WORK/err.txt" \
  && ok "a wrong token is called wrong" || { cat "$WORK/err.txt"; fail "wrong token message"; }
rc=0; TOLLGATE_API_TOKEN=$TOKEN "$TOLLGATE" top --once --config "$CFG" > "$WORK/top.txt" 2> "$WORK/err.txt" || rc=$?
check "top --once --config without the secrets" 0 "$rc"
rc=0; env "$TOKEN_VAR=$TOKEN" "$TOLLGATE" status --config "$CFG" --json > "$WORK/status.json" || rc=$?
check "status --config with the config's own variable" 0 "$rc"

# --- 3. one client form ----------------------------------------------------------
grep -Eq '^CLIENT +REQUESTS +REQ/S +BYTES +BYTES/S +NEW CONNS +LAST SEEN$' "$WORK/status.txt" \
  && ok "status: the column titles" || { cat "$WORK/status.txt"; fail "status header"; }
grep -Eq '^127\.0\.0\.1 +3 ' "$WORK/status.txt" && ok "status names 127.0.0.1" || { cat "$WORK/status.txt"; fail "status v4 row"; }
grep -Eq '^::/64 +1 ' "$WORK/status.txt" && ok "status names ::/64" || { cat "$WORK/status.txt"; fail "status v6 row"; }
grep -Eq '^127\.0\.0\.1 ' "$WORK/top.txt" && ok "top names 127.0.0.1" || { cat "$WORK/top.txt"; fail "top v4 row"; }
grep -Eq '^::/64 ' "$WORK/top.txt" && ok "top names ::/64" || { cat "$WORK/top.txt"; fail "top v6 row"; }
for c in $(awk 'NR > 1 && $1 ~ /[.:]/ { print $1 }' "$WORK/status.txt"); do
  check "/v1/clients/$c (as status prints it)" 200 "$(code "/v1/clients/$c" -H "X-Tollgate-Token: $TOKEN")"
done

# The README's tour shows status's header as it is.
SRC=$(cd "$TESTLIB/../.." && pwd)
check "the README's status header is status's" "$(head -1 "$WORK/status.txt")" \
  "$(grep -m1 '^CLIENT  ' "$SRC/README.md")"
# Every family a live /metrics renders is in the metrics reference.
api /metrics > "$WORK/metrics.txt"
python3 "$SRC/tests/tools/reference_docs.py" "$SRC" --metrics-file "$WORK/metrics.txt" > "$WORK/ref.txt" 2>&1 \
  && ok "the live /metrics families are in docs/reference/metrics.md" \
  || { sed 's/^/#   /' "$WORK/ref.txt"; fail "metrics reference"; }

# --- 2. reload ------------------------------------------------------------------------
gen() { api /healthz | jq .generation; }
g0=$(gen)
rc=0; "$TOLLGATE" reload --config "$CFG" > /dev/null 2> "$WORK/err.txt" || rc=$?
check "reload without the token: exit 1" 1 "$rc"
check "no reload happened" "$g0" "$(gen)"
check "POST /v1/reload without the token: 401" 401 "$(code /v1/reload -X POST)"
check "GET /v1/reload: 405" 405 "$(code /v1/reload -H "X-Tollgate-Token: $TOKEN")"
rc=0; TOLLGATE_API_TOKEN=$TOKEN "$TOLLGATE" reload --config "$CFG" > "$WORK/out.txt" 2> "$WORK/err.txt" || rc=$?
check "reload --config without the secrets" 0 "$rc"
g1=$(gen)
[ "$g1" -gt "$g0" ] && ok "the generation went up ($g0 -> $g1)" || fail "generation $g0 -> $g1"
grep -qx "reloaded $CFG: generation $g1" "$WORK/out.txt" && ok "reload prints the new generation" \
  || { cat "$WORK/out.txt" "$WORK/err.txt"; fail "reload output"; }
# A bad file: the watcher rejects it too; either way the old config stays.
cp "$CFG" "$WORK/good.json"
printf '{"instance": "%s", "gateway": {"ports": [0]}, "api": {"listen": "%s", "token_env": "%s"}}' \
  "$E2E_TAG" "$API_LISTEN" "$TOKEN_VAR" > "$WORK/bad.json"
mv "$WORK/bad.json" "$CFG"
sleep 0.5
rc=0; TOLLGATE_API_TOKEN=$TOKEN "$TOLLGATE" reload --config "$CFG" > "$WORK/out.txt" 2> "$WORK/err.txt" || rc=$?
check "reload of a bad config: exit 2" 2 "$rc"
grep -qx "$CFG: \$.gateway.ports\[0\]: must be an integer in 1..65535" "$WORK/err.txt" \
  && ok "the agent's reasons, as check-config prints them" || { cat "$WORK/err.txt"; fail "rejection lines"; }
grep -q "kept its config (generation $g1)" "$WORK/err.txt" && ok "the old generation stays" || fail "kept line"
check "the agent runs its old config" "$g1" "$(gen)"
mv "$WORK/good.json" "$CFG"
write_cfg $PORT 8192
sleep 0.5
rc=0; TOLLGATE_API_TOKEN=$TOKEN "$TOLLGATE" reload --config "$CFG" > "$WORK/out.txt" 2> "$WORK/err.txt" || rc=$?
check "reload with a restart-only change" 0 "$rc"
grep -q "these keys take effect after a restart (old values kept): gateway.max_clients" "$WORK/out.txt" \
  && ok "reload names the keys that wait for a restart" || { cat "$WORK/out.txt"; fail "restart keys"; }

# --- 4. detach --------------------------------------------------------------------------
rc=0; "$TOLLGATE" detach --config "$CFG" > "$WORK/out.txt" 2> "$WORK/err.txt" || rc=$?
check "detach --config while the agent answers, without the token: exit 1" 1 "$rc"
grep -q "an agent answers on $API_LISTEN, but which instance it is cannot be read" "$WORK/err.txt" \
  && ok "detach says why it cannot tell" || { cat "$WORK/err.txt"; fail "detach 401 message"; }
rc=0; TOLLGATE_API_TOKEN=$TOKEN "$TOLLGATE" detach --config "$CFG" > "$WORK/out.txt" 2> "$WORK/err.txt" || rc=$?
check "detach --config with the token: refused, exit 1" 1 "$rc"
grep -q "instance $E2E_TAG is running: its agent answers on $API_LISTEN" "$WORK/err.txt" \
  && ok "detach names the running instance" || { cat "$WORK/err.txt"; fail "detach refusal"; }
check "the filter on lo stays" 1 "$(tc filter show dev lo ingress | grep -c tg_tc_ingress || true)"
stop_agent KILL
rc=0; "$TOLLGATE" detach --config "$CFG" > "$WORK/out.txt" 2> "$WORK/err.txt" || rc=$?
check "detach --config after kill -9, without the secrets" 0 "$rc"
grep -q "^removed filter ingress on lo " "$WORK/out.txt" && ok "the filter on lo is removed" \
  || { cat "$WORK/out.txt" "$WORK/err.txt"; fail "detach output"; }
check "no filter of ours on lo" 0 "$(tc filter show dev lo ingress | grep -c tg_tc_ingress || true)"
check "the pins are gone" absent "$([ -e "$PINS" ] && echo present || echo absent)"
