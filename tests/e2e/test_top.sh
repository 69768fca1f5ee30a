#!/usr/bin/env bash
# The API token, the newer API endpoints and `tollgate top`, end to end:
#  1. check-config: a non-loopback api.listen needs api.token_env; the token
#     is never printed;
#  2. the agent listens on the veth's host address with a token: 401 (and
#     WWW-Authenticate) without it or with a wrong one, 200 with it as
#     Bearer or X-Tollgate-Token;
#  3. /v1/clients/{client} for an IPv4 client and for any address of an
#     IPv6 /64 (::1 on lo), as ADDRESS or ADDRESS/PREFIX; 404 and 400;
#     /v1/config without secrets;
#  4. status with the token (from --token-env, the config, or
#     TOLLGATE_API_TOKEN to loopback); TOLLGATE_API_TOKEN alone is not sent
#     to a non-loopback --api; a wrong token is reported as wrong;
#  5. `tollgate top` in a tmux pane of 120x30: the client and its rate show,
#     a resize drops columns, q quits and the terminal is restored; SIGTERM
#     as well; an unreachable agent is shown and retried;
#  6. `tollgate top --once` into a pipe: one plain table, no escapes.
source "$(dirname "$0")/../lib/e2e.sh"
require_root
command -v tmux >/dev/null || die "tmux is missing (scripts/install-deps.sh test)"

PORT=18190
API_PORT=19480
H4=198.18.30.1 # the gateway, host side of the veth (no other e2e test uses it)
C4=198.18.30.2 # the client
NS=${E2E_TAG}t
API_LISTEN=$H4:$API_PORT
TOKEN_VAR=TG_E2E_API_TOKEN
TOKEN=tg-e2e-$(head -c 12 /dev/urandom | od -An -tx1 | tr -d ' \n')
KEY=sk-e2e-$(head -c 8 /dev/urandom | od -An -tx1 | tr -d ' \n')
export "$TOKEN_VAR=$TOKEN" TG_E2E_QUOTA_KEY=$KEY
unset TOLLGATE_API_TOKEN
TMUX_SOCK=$WORK/tmux.sock # removed with WORK; a server of our own

for p in $PORT $API_PORT; do
  [ -z "$(ss -Hltn "sport = :$p")" ] || die "port $p is already in use"
done
make_client "$NS" "${E2E_TAG}h" "${E2E_TAG}c" $H4 $C4
in_ns() { ip netns exec "$NS" "$@"; }
start_nginx $PORT

# api with the token; code URL [curl args]: the status only
api() { curl -fsS --max-time 5 -H "X-Tollgate-Token: $TOKEN" "http://$API_LISTEN$1"; }
code() { local u=$1; shift; curl -s -o /dev/null -w '%{http_code}' --max-time 5 "$@" "http://$API_LISTEN$u"; }

# --- 1. check-config ---------------------------------------------------------
cat > "$WORK/open.json" <<JSON
{ "instance": "$E2E_TAG", "api": { "listen": "0.0.0.0:$API_PORT" } }
JSON
rc=0; "$TOLLGATE" check-config "$WORK/open.json" 2> "$WORK/err.txt" >/dev/null || rc=$?
check "a non-loopback listen without a token is refused" 2 "$rc"
grep -q '\$.api.listen: a non-loopback address needs api.token_env' "$WORK/err.txt" \
  && ok "the error names api.listen and api.token_env" || { cat "$WORK/err.txt"; fail "listen error"; }

cat > "$WORK/top.json" <<JSON
{ "instance": "$E2E_TAG",
  "gateway": { "interfaces": ["${E2E_TAG}h", "lo"], "ports": [$PORT] },
  "quotas": { "default": { "requests_per_sec": 1000 },
              "clients": [ { "name": "team", "api_key_env": "TG_E2E_QUOTA_KEY", "requests_per_sec": 100 } ] },
  "api": { "listen": "$API_LISTEN", "token_env": "$TOKEN_VAR" } }
JSON
rc=0; "$TOLLGATE" check-config "$WORK/top.json" > "$WORK/eff.json" || rc=$?
check "a non-loopback listen with a token is valid" 0 "$rc"
check "check-config prints the token's variable" "$TOKEN_VAR" "$(jq -r .api.token_env "$WORK/eff.json")"
grep -q -- "$TOKEN" "$WORK/eff.json" && fail "check-config printed the token" || ok "check-config does not print the token"
rc=0; env -u "$TOKEN_VAR" "$TOLLGATE" check-config "$WORK/top.json" 2> "$WORK/err.txt" >/dev/null || rc=$?
check "an unset token variable is a config error" 2 "$rc"
grep -q "\$.api.token_env: environment variable $TOKEN_VAR is not set" "$WORK/err.txt" \
  && ok "the error names the variable" || { cat "$WORK/err.txt"; fail "unset token message"; }

# --- 2. the agent, with a token ----------------------------------------------
AGENT_LOG=$WORK/agent.log
"$TOLLGATE" run --config "$WORK/top.json" > "$AGENT_LOG" 2>&1 &
AGENT_PID=$!
defer "kill $AGENT_PID; wait $AGENT_PID"
for _ in $(seq 100); do
  api /healthz >/dev/null 2>&1 && break
  kill -0 "$AGENT_PID" 2>/dev/null || { cat "$AGENT_LOG"; die "agent exited"; }
  sleep 0.1
done
api /healthz >/dev/null || { cat "$AGENT_LOG"; die "agent API did not come up"; }
grep -q -- "$TOKEN" "$AGENT_LOG" && fail "the agent logged the token" || ok "the token is not logged"

check "no token: 401" 401 "$(code /healthz)"
curl -s -D "$WORK/h401" -o "$WORK/b401" --max-time 5 "http://$API_LISTEN/v1/clients"
grep -qi '^WWW-Authenticate: Bearer' "$WORK/h401" && ok "401 says WWW-Authenticate: Bearer" || { cat "$WORK/h401"; fail "no WWW-Authenticate"; }
check "401 body is a JSON error" "missing or invalid API token" "$(jq -r .error "$WORK/b401")"
check "unknown path without the token: 401, not 404" 401 "$(code /nope)"
check "wrong token: 401" 401 "$(code /healthz -H "Authorization: Bearer ${TOKEN}x")"
check "wrong X-Tollgate-Token: 401" 401 "$(code /healthz -H "X-Tollgate-Token: nope")"
check "Authorization: Bearer: 200" 200 "$(code /healthz -H "Authorization: Bearer $TOKEN")"
check "X-Tollgate-Token: 200" 200 "$(code /healthz -H "X-Tollgate-Token: $TOKEN")"
check "reachable from the client's namespace with the token" 200 \
  "$(in_ns curl -s -o /dev/null -w '%{http_code}' --max-time 5 -H "X-Tollgate-Token: $TOKEN" "http://$API_LISTEN/healthz")"
check "unknown path with the token: 404" 404 "$(code /nope -H "X-Tollgate-Token: $TOKEN")"
check "bad method with the token: 405" 405 "$(code /healthz -X DELETE -H "X-Tollgate-Token: $TOKEN")"

# --- 3. /v1/clients/{address}, /v1/config ------------------------------------
for i in 1 2 3 4 5; do in_ns curl -fsS -o /dev/null "http://$H4:$PORT/t/$i"; done
for i in 1 2; do curl -fsS -g -o /dev/null "http://[::1]:$PORT/six/$i"; done
one() { api "/v1/clients/$1" 2>/dev/null | jq -r "$2" 2>/dev/null || echo absent; }
for _ in $(seq 75); do [ "$(one $C4 .requests)" = 5 ] && break; sleep 0.2; done
check "/v1/clients/$C4 requests" 5 "$(one $C4 .requests)"
check "/v1/clients/$C4 address" "$C4" "$(one $C4 .address)"
# /v1/clients/{address} reads the kernel's map for a client not yet in the
# snapshot; the list is the snapshot: wait for the next scan to have it
for _ in $(seq 75); do
  [ "$(api /v1/clients | jq --arg a $C4 '.clients[] | select(.address == $a) | .requests')" = 5 ] && break
  sleep 0.2
done
check "/v1/clients/$C4 is the object of /v1/clients" \
  "$(api /v1/clients | jq -c --arg a $C4 '.clients[] | select(.address == $a) | keys')" \
  "$(api /v1/clients/$C4 | jq -c keys)"
for _ in $(seq 75); do [ "$(one ::1 .requests)" = 2 ] && break; sleep 0.2; done
check "/v1/clients/::1: the /64 entry" "::/64 2" "$(one ::1 '"\(.address)/\(.prefix) \(.requests)"')"
check "/v1/clients/::abcd:1: any address of the /64" "::/64 2" "$(one ::abcd:1 '"\(.address)/\(.prefix) \(.requests)"')"
# the forms status and top print: ADDRESS, and ADDRESS/PREFIX with the client's own prefix
check "/v1/clients/$C4/32: the client as status names it" 5 "$(one $C4/32 .requests)"
check "/v1/clients/::/64: the network as status and top name it" "::/64 2" "$(one ::/64 '"\(.address)/\(.prefix) \(.requests)"')"
check "/v1/clients/::abcd:1/64: any address of the network" 2 "$(one ::abcd:1/64 .requests)"
check "another prefix than the client's: 400" 400 "$(code /v1/clients/$C4/24 -H "X-Tollgate-Token: $TOKEN")"
check "an IPv6 prefix other than identity.ipv6_prefix: 400" 400 "$(code /v1/clients/::1/128 -H "X-Tollgate-Token: $TOKEN")"
check "a malformed prefix: 400" 400 "$(code /v1/clients/$C4/3x -H "X-Tollgate-Token: $TOKEN")"
check "an address not tracked: 404" 404 "$(code /v1/clients/198.18.30.99 -H "X-Tollgate-Token: $TOKEN")"
check "an IPv6 address outside the /64: 404" 404 "$(code /v1/clients/fd00:198:18:30::1 -H "X-Tollgate-Token: $TOKEN")"
check "a malformed address: 400" 400 "$(code /v1/clients/198.18.30 -H "X-Tollgate-Token: $TOKEN")"
check "a malformed address: JSON error" true \
  "$(curl -s --max-time 5 -H "X-Tollgate-Token: $TOKEN" "http://$API_LISTEN/v1/clients/nope" | jq 'has("error")')"
api /v1/config > "$WORK/config.json"
check "/v1/config: the effective config" "$E2E_TAG $PORT $TOKEN_VAR" \
  "$(jq -r '"\(.instance) \(.gateway.ports[0]) \(.api.token_env)"' "$WORK/config.json")"
check "/v1/config: the key's variable, not the key" TG_E2E_QUOTA_KEY "$(jq -r '.quotas.clients[0].api_key_env' "$WORK/config.json")"
grep -q -e "$TOKEN" -e "$KEY" "$WORK/config.json" && fail "/v1/config holds a secret" || ok "/v1/config holds no secret"
check "/healthz has the total request rate" number "$(api /healthz | jq -r '.requests_per_sec | type')"

# --- 4. status sends the token --------------------------------------------------
rc=0; "$TOLLGATE" status --api "$API_LISTEN" > /dev/null 2> "$WORK/err.txt" || rc=$?
check "status without a token exits 1" 1 "$rc"
grep -q "asks for an API token" "$WORK/err.txt" && ok "status says a token is needed" || { cat "$WORK/err.txt"; fail "401 message"; }
"$TOLLGATE" status --api "$API_LISTEN" --token-env "$TOKEN_VAR" | grep -Eq "^$C4 +5 " \
  && ok "status --token-env" || fail "status --token-env"
"$TOLLGATE" status --config "$WORK/top.json" | grep -Eq "^$C4 +5 " \
  && ok "status --config finds the token through api.token_env" || fail "status --config"
# The token in the environment is not handed to whatever host --api names
# (the agent here, on a non-loopback address, answers 401 without it).
rc=0; TOLLGATE_API_TOKEN=$TOKEN "$TOLLGATE" status --api "$API_LISTEN" > /dev/null 2> "$WORK/err.txt" || rc=$?
check "TOLLGATE_API_TOKEN is not sent to a non-loopback --api: 401, exit 1" 1 "$rc"
grep -q "not sending the API token to $API_LISTEN (not loopback)" "$WORK/err.txt" \
  && ok "status says why the token stays home" || { cat "$WORK/err.txt"; fail "withheld token message"; }
TOLLGATE_API_TOKEN=$TOKEN "$TOLLGATE" status --api "$API_LISTEN" --token-env TOLLGATE_API_TOKEN \
  | grep -Eq "^$C4 +5 " && ok "status with TOLLGATE_API_TOKEN named by --token-env" \
  || fail "status --token-env TOLLGATE_API_TOKEN"
rc=0; TG_E2E_WRONG=${TOKEN}x "$TOLLGATE" status --api "$API_LISTEN" --token-env TG_E2E_WRONG > /dev/null 2> "$WORK/err.txt" || rc=$?
check "status with a wrong token exits 1" 1 "$rc"
grep -q "refused the API token from TG_E2E_WRONG" "$WORK/err.txt" && ok "a wrong token is called wrong, not missing" \
  || { cat "$WORK/err.txt"; fail "wrong token message"; }
rc=0; "$TOLLGATE" status --api "$API_LISTEN" --token-env TG_E2E_UNSET_VAR 2>/dev/null || rc=$?
check "status --token-env of an unset variable exits 2" 2 "$rc"

# --- 6. top --once into a pipe ------------------------------------------------
"$TOLLGATE" top --once --api "$API_LISTEN" --token-env "$TOKEN_VAR" | cat > "$WORK/once.txt"
check "top --once: no escape sequence" 0 "$(grep -c $'\x1b' "$WORK/once.txt" || true)"
head -1 "$WORK/once.txt" | grep -q "^tollgate top  instance $E2E_TAG  mode monitor" \
  && ok "top --once: title line" || { cat "$WORK/once.txt"; fail "top --once title"; }
grep -Eq '^CLIENT +REQ/S +BYTES/S +REQUESTS +WOULD-DENY +P50 +OPEN +TOP-ROUTE$' "$WORK/once.txt" \
  && ok "top --once: column titles" || { cat "$WORK/once.txt"; fail "top --once header"; }
grep -Eq "^$C4 +[0-9.]+k?/s +[0-9.]+ k?B/s +5 +0 " "$WORK/once.txt" \
  && ok "top --once: the client's row" || { cat "$WORK/once.txt"; fail "top --once row"; }
TOLLGATE_API_TOKEN=$TOKEN "$TOLLGATE" top --api "$API_LISTEN" --token-env TOLLGATE_API_TOKEN -n 1 -s requests \
  | cat > "$WORK/pipe.txt"
check "top into a pipe without --once: one frame, one row of -n 1" 4 "$(wc -l < "$WORK/pipe.txt")"
rc=0; "$TOLLGATE" top --once --api "$API_LISTEN" > /dev/null 2> "$WORK/err.txt" || rc=$?
check "top --once without a token exits 1" 1 "$rc"

# --- 5. top in tmux -----------------------------------------------------------
tm() { tmux -S "$TMUX_SOCK" "$@"; }
defer "tmux -S $TMUX_SOCK kill-server"
pane() { tm capture-pane -p -t top; }
wait_pane() { # wait_pane REGEX [SECONDS]: until the pane matches (default 10 s)
  local end=$((${EPOCHREALTIME/./} + ${2:-10} * 1000000))
  while :; do
    pane 2>/dev/null | grep -Eq -- "$1" && return 0
    [ "${EPOCHREALTIME/./}" -lt "$end" ] || return 1
    sleep 0.2
  done
}
# traffic all along, so that rates show
( for i in $(seq 300); do in_ns curl -fsS -o /dev/null "http://$H4:$PORT/live/$i" || true; sleep 0.1; done ) &
LOAD_PID=$!
defer "kill $LOAD_PID; wait $LOAD_PID"
# the shell's own terminal modes are printed after top, to see them restored
after='echo "TOP-EXIT=$?"; stty -a | tr " ;" "\n\n" | grep -Ex -- "-?(icanon|echo)" | tr "\n" " "; echo; sleep 120'
tm new-session -d -s top -x 120 -y 30 \
  "'$TOLLGATE' top --api $API_LISTEN --token-env $TOKEN_VAR; $after"
if wait_pane "^$C4 +[0-9.]+k?/s +[0-9.]+ k?B/s"; then
  ok "top shows the client with its rates"
else
  pane; fail "top: no row for $C4"
fi
pane > "$WORK/pane.txt"
grep -q "^tollgate top  instance $E2E_TAG  mode monitor  clients" "$WORK/pane.txt" && ok "top: title line" || fail "top: title"
grep -Eq '^CLIENT +REQ/S +BYTES/S +REQUESTS +WOULD-DENY +P50 +OPEN +TOP-ROUTE' "$WORK/pane.txt" && ok "top: every column at 120" || fail "top: columns at 120"
wait_pane "^$C4 +[1-9][0-9.]*k?/s" && ok "top: a non-zero request rate" || { pane; fail "top: rate stays 0"; }
tm resize-window -t top -x 70 -y 20
if wait_pane '^CLIENT +REQ/S +BYTES/S +REQUESTS +WOULD-DENY +P50 *$' 5; then
  ok "top: a narrower terminal drops columns"
else
  pane; fail "top: no relayout after a resize"
fi
check "top: no line wider than the terminal" 0 "$(pane | awk 'length > 70' | wc -l)"
tm send-keys -t top q
# the modes line comes after TOP-EXIT; wait for it, not only for TOP-EXIT
if wait_pane '^TOP-EXIT=' 5; then
  wait_pane '^-?icanon -?echo' 5 || true
  pane > "$WORK/after.txt"
  check "q: top exits 0" 1 "$(grep -c '^TOP-EXIT=0$' "$WORK/after.txt")"
  check "q: the terminal modes are restored" "icanon echo" "$(grep -Eo -- '^-?icanon -?echo' "$WORK/after.txt")"
  check "q: the alternate screen is left" 0 "$(grep -c 'REQ/S' "$WORK/after.txt" || true)"
else
  pane; fail "q did not end top"
fi
tm kill-session -t top

# SIGTERM restores the terminal too; the agent gone: the error shows, top goes on
tm new-session -d -s top -x 120 -y 30 \
  "'$TOLLGATE' top --api $API_LISTEN --token-env $TOKEN_VAR; $after"
wait_pane "^$C4 " || { pane; fail "top (second run): no row"; }
stop_agent TERM
check "the agent stops with SIGTERM" 0 "$AGENT_RC"
if wait_pane "^retrying: cannot reach the agent at $API_LISTEN" 5; then
  ok "top shows an unreachable agent"
else
  pane; fail "top: no error shown"
fi
sleep 1.5
pane | grep -q '^TOP-EXIT=' && fail "top exited when the agent went away" || ok "top keeps retrying"
top_pid=$(ps -o pid= --ppid "$(tm display-message -p -t top '#{pane_pid}')" | grep -Ev "^ *$" | head -1 | tr -d ' ')
[ -n "$top_pid" ] && [ "$(ps -o comm= -p "$top_pid")" = tollgate ] || die "top's pid not found"
kill -TERM "$top_pid"
if wait_pane '^TOP-EXIT=' 5; then
  wait_pane '^-?icanon -?echo' 5 || true
  check "SIGTERM: top exits 0" 1 "$(pane | grep -c '^TOP-EXIT=0$')"
  check "SIGTERM: the terminal modes are restored" "icanon echo" "$(pane | grep -Eo -- '^-?icanon -?echo')"
else
  pane; fail "SIGTERM did not end top"
fi
