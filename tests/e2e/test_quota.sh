#!/usr/bin/env bash
# Per-key call limits end to end: real nginx, clients in namespaces, the
# real agent in enforce mode. "Through" = requests nginx logged within
# [0, t + 1 s]. Rates are offered open-loop by loadgen.py.
source "$(dirname "$0")/../lib/e2e.sh"
require_root
HERE=$(dirname "$0")
LOADGEN="python3 $TESTLIB/loadgen.py"
RAW="python3 $HERE/rawclient.py"

PORT=8080
H2C_PORT=8082
make_client "${E2E_TAG}a" "${E2E_TAG}h1" "${E2E_TAG}c1" 198.18.0.1 198.18.0.2 fd00:198:18::1 fd00:198:18::2
make_client "${E2E_TAG}b" "${E2E_TAG}h2" "${E2E_TAG}c2" 198.18.1.1 198.18.1.2
make_client "${E2E_TAG}c" "${E2E_TAG}h3" "${E2E_TAG}c3" 198.18.2.1 198.18.2.2
PROXY_PORT=8084
H2C_PORT=$H2C_PORT PROXY_PORT=$PROXY_PORT start_nginx $PORT

export TG_TEST_KEY="sk-test-$$-team-a"
write_cfg() { # write_cfg MODE [EXTRA_PORT [EXTRA_ENTRY_NAME]]
  local extra=""
  [ -z "${3:-}" ] || extra=", { \"name\": \"$3\", \"cidr\": \"198.19.1.0/24\", \"requests_per_sec\": 5 }"
  cat > "$WORK/agent.json.tmp" <<JSON
{
  "instance": "$E2E_TAG",
  "gateway": { "interfaces": ["${E2E_TAG}h1", "${E2E_TAG}h2", "${E2E_TAG}h3"], "ports": [$PORT, $H2C_PORT, $PROXY_PORT${2:+, $2}] },
  "identity": { "proxy_protocol": true },
  "mode": "$1",
  "quotas": {
    "default": { "requests_per_sec": 1000, "burst": 1000 },
    "clients": [
      { "name": "limited", "cidr": "198.18.0.2/32", "requests_per_sec": 20, "burst": 10 },
      { "name": "team-a", "api_key_env": "TG_TEST_KEY", "requests_per_sec": 10, "burst": 5 },
      { "name": "v6", "cidr": "fd00:198:18::/64", "requests_per_sec": 10, "burst": 5 },
      { "name": "strict", "cidr": "198.18.2.2", "requests_per_sec": 1, "burst": 1 },
      { "name": "slow-key", "api_key": "sk-slow-$$", "requests_per_sec": 1, "burst": 30 },
      { "name": "behind-lb-deny", "cidr": "198.19.66.0/24", "action": "deny" }$extra
    ]
  },
  "api": { "listen": "127.0.0.1:19474" }
}
JSON
  mv "$WORK/agent.json.tmp" "$WORK/agent.json"
}
write_cfg enforce
start_agent "$WORK/agent.json"
gen() { api /healthz | jq .generation; }

# through ADDR_REGEX T0 T: requests nginx logged from ADDR in [T0, T0+T+1]
through() {
  awk -v a="$1" -v t0="$2" -v t1="$(echo "$2 + $3 + 1" | bc)" \
    '$2 ~ a && $1 >= t0 && $1 <= t1 && $3 == 200 {n++} END {print n+0}' "$NGINX_LOG"
}
# within VALUE EXPECTED PCT: |VALUE - EXPECTED| <= PCT% of EXPECTED
within() {
  awk -v v="$1" -v e="$2" -v p="$3" 'BEGIN { d = v - e; if (d < 0) d = -d; exit !(d <= e * p / 100) }'
}
now() { date +%s.%N; }

# --- a client at the default quota loses nothing ------------------------------
ip netns exec "${E2E_TAG}b" $LOADGEN --url "http://198.18.1.1:$PORT/default" --rate 50 --duration 3 \
  --timeout 2 --json > "$WORK/lg_default.json"
check "default-quota client: every request answered" "$(jq .offered "$WORK/lg_default.json")" "$(jq .ok "$WORK/lg_default.json")"
check "default-quota client: no errors or timeouts" 0 "$(jq '.errors + .timeouts' "$WORK/lg_default.json")"

# --- a client limited to R req/s offering 5R gets R*t + burst through ---------
R=20; BURST=10; T=8
t0=$(now)
ip netns exec "${E2E_TAG}a" $LOADGEN --url "http://198.18.0.1:$PORT/limited" --rate $((5 * R)) --duration $T \
  --new-conn-per-request --timeout 0.5 --json > "$WORK/lg_limited.json"
got=$(through '^198\.18\.0\.2$' "$t0" "$T")
want=$((R * T + BURST))
log "limited client: offered $(jq .offered "$WORK/lg_limited.json"), through $got, expected $want"
within "$got" "$want" 10 && ok "limited client gets R*t+burst through ($got of $want, ±10%)" \
  || fail "limited client: $got through, expected $want ±10%"
denied=$(api /v1/keys/limited | jq .state.denied)
[ "$denied" -gt 0 ] && ok "the kernel dropped request starts ($denied)" || fail "no drops counted"
grep -q 'quota exceeded: denied.*key=limited client=198.18.0.2' "$AGENT_LOG" \
  && ok "denial event logged for the key" || fail "no denial event in the log"

# --- an API key is limited by its key across two namespaces -------------------
RK=10; BK=5; TK=6
t0=$(now)
ip netns exec "${E2E_TAG}a" $LOADGEN --url "http://198.18.0.1:$PORT/key" --rate 25 --duration $TK \
  --new-conn-per-request --timeout 0.5 --header "Authorization: Bearer $TG_TEST_KEY" --json > "$WORK/lg_ka.json" &
pa=$!
ip netns exec "${E2E_TAG}b" $LOADGEN --url "http://198.18.1.1:$PORT/key" --rate 25 --duration $TK \
  --new-conn-per-request --timeout 0.5 --header "x-api-key: $TG_TEST_KEY" --json > "$WORK/lg_kb.json"
wait $pa
got=$(awk -v t0="$t0" -v t1="$(echo "$t0 + $TK + 1" | bc)" \
  '$5 ~ /^\/key/ && $1 >= t0 && $1 <= t1 && $3 == 200 {n++} END {print n+0}' "$NGINX_LOG")
want=$((RK * TK + BK))
log "API key over two namespaces: through $got, expected $want"
within "$got" "$want" 10 && ok "API key limited across addresses ($got of $want, ±10%)" \
  || fail "API key: $got through, expected $want ±10%"
all=$(awk '$5 ~ /^\/key/ {n++} END {print n+0}' "$NGINX_LOG")
check "the key's bucket counted every request nginx saw with the key" "$all" "$(api /v1/keys/team-a | jq .state.allowed)"

# --- IPv6 ----------------------------------------------------------------------
t0=$(now)
ip netns exec "${E2E_TAG}a" $LOADGEN --url "http://[fd00:198:18::1]:$PORT/v6" --rate 50 --duration 4 \
  --new-conn-per-request --timeout 0.5 --json > "$WORK/lg_v6.json"
got=$(through '^fd00:198:18::2$' "$t0" 4)
want=$((10 * 4 + 5))
within "$got" "$want" 10 && ok "IPv6 client limited ($got of $want, ±10%)" || fail "IPv6: $got through, expected $want ±10%"

# --- evasion: a split method, h2c, IP fragments ------------------------------
# "strict" admits one request a second. Over quota, an evasion attempt
# must be dropped like a plain request: its start is counted as denied and
# it is answered only once the bucket has a token again (by a TCP
# retransmission, 200 ms or more later).
C=198.18.2.1
in_c() { ip netns exec "${E2E_TAG}c" "$@"; }
spend() { in_c curl -s -o /dev/null --max-time 3 "http://$C:$PORT/spend"; }
denied() { api /v1/keys/strict | jq .state.denied; }
sleep 1.1
check "split method with a token left: answered" "HTTP/1.1 200 OK" "$(in_c $RAW split $C $PORT 3)"
spend
d0=$(denied)
s0=$(now)
answer=$(in_c $RAW split $C $PORT 3)
el=$(echo "$(now) - $s0" | bc)
[ "$(denied)" -gt "$d0" ] && ok "split method over quota: its start was dropped ($((  $(denied) - d0 )) drops)" \
  || fail "split method over quota passed without a drop"
awk -v e="$el" 'BEGIN { exit !(e >= 0.15) }' && ok "split method over quota waited for a token (${el}s, answer: $answer)" \
  || fail "split method over quota answered at once (${el}s)"
sleep 1.1
code=$(in_c curl -s -o /dev/null -w '%{http_code} %{http_version}' --http2-prior-knowledge --max-time 3 "http://$C:$H2C_PORT/h2c")
check "h2c with a token left: answered over HTTP/2" "200 2" "$code"
spend
d0=$(denied)
in_c curl -s -o /dev/null --http2-prior-knowledge --max-time 3 "http://$C:$H2C_PORT/h2c" || true
[ "$(denied)" -gt "$d0" ] && ok "h2c over quota: its preface was dropped as a request start" || fail "h2c over quota not dropped"

f0=$(api /metrics | awk '/^tollgate_fragments_dropped_total/ {print $2}')
in_c $RAW frag 198.18.2.2 $C $PORT >/dev/null
sleep 1.2
f1=$(api /metrics | awk '/^tollgate_fragments_dropped_total/ {print $2}')
check "a first fragment toward the gateway port is dropped" 1 "$((f1 - f0))"

drain() { # spends the "limited" bucket
  ip netns exec "${E2E_TAG}a" $LOADGEN --url "http://198.18.0.1:$PORT/drain" --rate 200 --duration 1 \
    --new-conn-per-request --timeout 0.3 --json >/dev/null
}

# --- PROXY protocol: the client named by a load balancer's header -------------
check "PROXY v1 client outside every entry: answered" "HTTP/1.1 200 OK" \
  "$(ip netns exec "${E2E_TAG}b" $RAW proxy 198.18.1.1 $PROXY_PORT 198.19.7.7)"
grep -q ' 200 .* 198.19.7.7$' "$NGINX_LOG" && ok "nginx saw the proxied client 198.19.7.7" || fail "nginx did not log the proxied client"
check "PROXY v1 client in a deny CIDR: dropped" timeout \
  "$(ip netns exec "${E2E_TAG}b" $RAW proxy 198.18.1.1 $PROXY_PORT 198.19.66.6 1)"
[ "$(api /v1/keys/behind-lb-deny | jq .state.denied)" -ge 1 ] && ok "the deny entry counted the proxied client" \
  || fail "deny entry did not count the proxied client"

# --- a reload keeps the running buckets ---------------------------------------
# slow-key: 30 of burst, 1 a second back. Spend it, reload, look.
ip netns exec "${E2E_TAG}b" $LOADGEN --url "http://198.18.1.1:$PORT/slow" --rate 100 --duration 0.4 \
  --header "x-api-key: sk-slow-$$" --timeout 1 --json > "$WORK/lg_slow.json"
a0=$(api /v1/keys/slow-key | jq .state.allowed)
[ "$a0" -ge 30 ] && [ "$a0" -le 32 ] && ok "slow-key: its burst admitted ($a0)" || fail "slow-key admitted $a0, expected 30..32"
g=$(gen)
write_cfg enforce 8083 added-on-reload
for _ in $(seq 50); do [ "$(gen)" -gt "$g" ] && break; sleep 0.05; done
[ "$(gen)" -gt "$g" ] && ok "reloaded (generation $(gen))" || fail "no reload"
check "an entry added on reload is served" cidr "$(api /v1/keys/added-on-reload | jq -r .match)"
tokens=$(api /v1/keys/slow-key | jq .state.tokens)
[ "$tokens" -le 5 ] && ok "the bucket survived the reload ($tokens tokens, not a fresh 30)" \
  || fail "bucket reset by the reload: $tokens tokens"
a1=$(api /v1/keys/slow-key | jq .state.allowed)
[ "$a1" -ge "$a0" ] && ok "its counters survived too ($a1)" || fail "counters reset: $a1 < $a0"

# --- monitor mode drops nothing and reports what it would deny ------------------
g=$(gen)
write_cfg monitor
for _ in $(seq 50); do [ "$(gen)" -gt "$g" ] && break; sleep 0.05; done
w0=$(api /v1/keys/limited | jq .state.would_deny)
ip netns exec "${E2E_TAG}a" $LOADGEN --url "http://198.18.0.1:$PORT/monitor" --rate 100 --duration 3 \
  --new-conn-per-request --timeout 1 --json > "$WORK/lg_mon.json"
check "monitor mode: every request answered" "$(jq .offered "$WORK/lg_mon.json")" "$(jq .ok "$WORK/lg_mon.json")"
w1=$(api /v1/keys/limited | jq .state.would_deny)
would=$((w1 - w0))
# 300 offered, about 20*3 + burst admitted: about 230 would be denied
[ "$would" -ge 200 ] && [ "$would" -le 260 ] && ok "monitor mode reports $would would-be denials" \
  || fail "monitor mode would_deny $would, expected about 230"
check "monitor mode: /healthz says monitor" monitor "$(api /healthz | jq -r .mode)"
check "an entry removed on reload is gone" 404 "$(curl -s -o /dev/null -w '%{http_code}' "http://$API/v1/keys/added-on-reload")"
a2=$(api /v1/keys/slow-key | jq .state.allowed)
[ "$a2" -ge "$a0" ] && ok "other keys' counters survived adding and removing entries ($a2)" || fail "slow-key reset: $a2"

stop_agent TERM
check "SIGTERM exits 0" 0 "$AGENT_RC"
