#!/usr/bin/env bash
# Socket-level tracking end to end (issue 4): a real nginx started inside a
# cgroup of its own, the agent attached to that cgroup (sockops and
# cgroup_skb; no TC program), one client in a namespace behind a veth pair.
#  1. requests counted through cgroup_skb alone, exactly;
#  2. open connections during a bounded hold-open match `ss`, RST included;
#  3. max_connections = 3: the 4th connection is not established within 3 s
#     (or is reset); after one closes, a new one is;
#  4. the latency histogram moves for a location proxied to a slow upstream;
#  5. status classes 2xx, 4xx, 429, 5xx counted exactly;
#  6. response bytes equal what curl received;
#  7. TC and cgroup attached together: every request counted once.
source "$(dirname "$0")/../lib/e2e.sh"
require_root

PORT=8080
SLOW_PORT=18478 # the slow upstream, 127.0.0.1
BAD_PORT=18479  # nothing listens here: /bad is a 502
API_LISTEN=127.0.0.1:19477
NS=${E2E_TAG}a
HIF=${E2E_TAG}h1
H4=198.18.40.1 # the gateway, host side of the veth (a subnet no other e2e test uses)
C4=198.18.40.2 # the client
SLOW_MS=300

for p in $PORT $SLOW_PORT $BAD_PORT; do
  [ -z "$(ss -Hltn "sport = :$p")" ] || die "port $p is already in use"
done

make_client "$NS" "$HIF" "${E2E_TAG}c1" $H4 $C4
make_cgroup "tollgate-e2e-$$"
in_ns() { ip netns exec "$NS" "$@"; }

# --- the slow upstream: answers every request after SLOW_MS -------------------
start_receiver slow $SLOW_PORT --delay-ms $SLOW_MS

# --- nginx, inside its own cgroup ---------------------------------------------
mkdir -p "$WORK/nginx" "$WORK/www"
head -c 102400 /dev/urandom > "$WORK/www/big"
{
  echo "user root;"
  nginx_head
  cat <<NGX
  access_log $WORK/nginx/access.log;
  server {
    listen $PORT;
    location / { return 200 "ok\n"; }
    location = /notfound { return 404; }
    location = /limited { return 429; }
    location = /bad { proxy_pass http://127.0.0.1:$BAD_PORT; }
    location = /slow { proxy_pass http://127.0.0.1:$SLOW_PORT; }
    location = /big { root $WORK/www; }
  }
}
NGX
} > "$WORK/nginx.conf"
nginx_in_cgroup "$WORK/nginx.conf" $PORT

# --- the agent ------------------------------------------------------------------
write_cfg() { # write_cfg INTERFACES_JSON
  cat > "$WORK/agent.json" <<JSON
{
  "instance": "$E2E_TAG",
  "gateway": { "interfaces": $1, "cgroup": "$CG", "ports": [$PORT] },
  "mode": "enforce",
  "quotas": {
    "default": { "requests_per_sec": 10000, "burst": 10000 },
    "clients": [
      { "name": "conn-limited", "cidr": "$C4/32", "max_connections": 3, "action": "drop" }
    ]
  },
  "api": { "listen": "$API_LISTEN" }
}
JSON
}
write_cfg '[]'
start_agent "$WORK/agent.json"
grep -q "attached.*cgroup=$CG" "$AGENT_LOG" && ok "agent attached to the cgroup" \
  || { cat "$AGENT_LOG"; fail "no 'attached ... cgroup=$CG' in the agent log"; }
check "no TC filter on the client's veth (socket level only)" "" "$(tc filter show dev "$HIF" ingress)"

# req PATH...: one curl (one connection) per path from the client namespace;
# prints "code size_header size_download size_request" per request.
req() {
  for p in "$@"; do
    in_ns curl -sS -o /dev/null --max-time 10 \
      -w '%{http_code} %{size_header} %{size_download} %{size_request}\n' "http://$H4:$PORT$p"
  done
}
sum_col() { awk -v c="$1" '{ s += $c } END { print s + 0 }'; }
codes() { awk '{ printf "%s%s", sep, $1; sep = " " } END { print "" }'; }
val() { # a field of the client, 0 when the client or the field is absent
  local v
  v=$(client_jq $C4 "$1 // 0")
  [ "$v" = absent ] && v=0
  echo "$v"
}
settle() { sleep 2.5; }            # two agent scans: a late double count would show

# ss_open: established connections to the gateway port from the client, as
# the host's socket table shows them
ss_open() {
  ss -Htn state established "( sport = :$PORT )" |
    awk -v a="$C4:" '{ for (i = 1; i <= NF; i++) if (index($i, a) == 1) { n++; break } } END { print n + 0 }'
}

# ================================================================================
log "1. counting through cgroup_skb only"
N=10
req $(for i in $(seq $N); do echo "/count/$i"; done) > "$WORK/c1.txt"
check "case 1: nginx answered every request" "$N" "$(grep -c '^200 ' "$WORK/c1.txt")"
check "case 1: requests" "$N" "$(wait_jq $C4 '.requests' "$N")"
settle
check "case 1: requests, still exact after two more scans" "$N" "$(client_jq $C4 .requests)"
check "case 1: connections (SYN)" "$N" "$(client_jq $C4 .syns)"
check "case 1: payload bytes = curl's request bytes" "$(sum_col 4 < "$WORK/c1.txt")" "$(client_jq $C4 .payload_bytes)"
check "case 1: sockops saw every connection established" "$N" "$(wait_jq $C4 '.connections.established' "$N")"
check "case 1: responses counted on egress" "$N" "$(wait_jq $C4 '.responses.count' "$N")"

# --- a connection holder in the client namespace --------------------------------
# Commands on stdin, one answer line each: "open N", "close [rst]" (the
# oldest), "try SECONDS" (a connect() with that timeout: connected, timeout
# or reset), "exit". It exits by itself after MAXLIFE seconds whatever happens.
cat > "$WORK/connctl.py" <<'PY'
import select, socket, struct, sys, time
host, port, maxlife = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
deadline = time.monotonic() + maxlife
socks = []
def say(s):
    print(s, flush=True)
while True:
    left = deadline - time.monotonic()
    if left <= 0 or not select.select([sys.stdin], [], [], left)[0]:
        say("expired")
        break
    cmd = sys.stdin.readline().split()
    if not cmd or cmd[0] == "exit":
        break
    try:
        if cmd[0] == "open":
            for _ in range(int(cmd[1])):
                socks.append(socket.create_connection((host, port), timeout=10))
            say("opened %d" % len(socks))
        elif cmd[0] == "close":
            s = socks.pop(0)
            if cmd[1:] == ["rst"]:
                s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            s.close()
            say("closed, %d left" % len(socks))
        elif cmd[0] == "try":
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.settimeout(float(cmd[1]))
            t0 = time.monotonic()
            try:
                s.connect((host, port))
                socks.append(s)
                say("connected")
            except socket.timeout:
                s.close()
                say("timeout")
            except (ConnectionResetError, ConnectionRefusedError):
                s.close()
                say("reset")
        else:
            say("bad command")
    except Exception as e:
        say("error %s" % e)
for s in socks:
    s.close()
PY
start_holder() {
  coproc CTL { exec ip netns exec "$NS" python3 -u "$WORK/connctl.py" $H4 $PORT 60 2>&1; }
  HOLDER_PID=$CTL_PID
  defer "kill $HOLDER_PID"
}
holder() { # holder COMMAND: sends it, prints the answer
  local line="(no answer)"
  echo "$1" >&"${CTL[1]}"
  read -r -t 20 -u "${CTL[0]}" line || true
  echo "$line"
}
stop_holder() {
  echo exit >&"${CTL[1]}" || true
  wait "$HOLDER_PID" || true
}

# ================================================================================
log "2. open connections during a hold-open match ss"
check "case 2: nothing open before the hold" 0 "$(wait_jq $C4 '.connections.open' 0 5)"
e0=$(val .connections.established)
x0=$(val .connections.closed)
r0=$(val .requests)
start_holder
check "case 2: holder opened 3 connections" "opened 3" "$(holder 'open 3')"
api_open=$(wait_jq $C4 '.connections.open' 3)
ss_n=$(ss_open)
log "held open: API says $api_open, ss says $ss_n"
check "case 2: ss shows the 3 held connections" 3 "$ss_n"
check "case 2: connections.open equals ss" "$ss_n" "$api_open"
check "case 2: established counts them" $((e0 + 3)) "$(val .connections.established)"
check "case 2: connections without payload are no requests" "$r0" "$(val .requests)"
check "case 2: RST close" "closed, 2 left" "$(holder 'close rst')"
check "case 2: FIN close" "closed, 1 left" "$(holder 'close')"
check "case 2: FIN close" "closed, 0 left" "$(holder 'close')"
stop_holder
check "case 2: open back to 0 after the closes (5 s)" 0 "$(wait_jq $C4 '.connections.open' 0 5)"
check "case 2: ss shows none" 0 "$(ss_open)"
check "case 2: closed counts all three, the RST one included" $((x0 + 3)) "$(val .connections.closed)"

# ================================================================================
log "3. max_connections = 3"
cdenied() { api /v1/keys/conn-limited | jq '.state.connections_denied // 0'; }
d0=$(cdenied)
start_holder
check "case 3: 3 connections (the limit) established" "opened 3" "$(holder 'open 3')"
check "case 3: all three open" 3 "$(wait_jq $C4 '.connections.open' 3)"
fourth=$(holder 'try 3')
case $fourth in
  timeout | reset) ok "case 3: the 4th connect() not established within 3 s ($fourth)" ;;
  *) fail "case 3: the 4th connect(): expected timeout or reset, got '$fourth'" ;;
esac
check "case 3: the refused connection is not counted open" 3 "$(val .connections.open)"
check "case 3: ss shows 3" 3 "$(ss_open)"
# the SYN (and its retransmissions) dropped are counted against the key
d1=$d0
for _ in $(seq 75); do
  d1=$(cdenied)
  [ "$d1" -gt "$d0" ] && break
  sleep 0.2
done
[ "$d1" -gt "$d0" ] && ok "case 3: the key counted the refused SYNs (connections_denied +$((d1 - d0)))" \
  || fail "case 3: connections_denied of conn-limited stayed at $d0; state: $(api /v1/keys/conn-limited | jq -c .state)"
for _ in $(seq 25); do
  grep -q "quota exceeded: denied.*key=conn-limited client=$C4 on=max_connections" "$AGENT_LOG" && break
  sleep 0.2
done
grep -q "quota exceeded: denied.*key=conn-limited client=$C4 on=max_connections" "$AGENT_LOG" \
  && ok "case 3: the refusal is logged (on=max_connections)" \
  || fail "case 3: no 'quota exceeded ... on=connection' log line; got: $(grep 'quota exceeded' "$AGENT_LOG" || echo none)"
check "case 3: closing one" "closed, 2 left" "$(holder 'close')"
check "case 3: open down to 2" 2 "$(wait_jq $C4 '.connections.open' 2)"
check "case 3: a new connection then succeeds" connected "$(holder 'try 10')"
check "case 3: open back to 3" 3 "$(wait_jq $C4 '.connections.open' 3)"
stop_holder
check "case 3: open back to 0 after all close (5 s)" 0 "$(wait_jq $C4 '.connections.open' 0 5)"

# ================================================================================
log "4. latency histogram"
# bucket 0: < 1.05 ms; bucket i: [2^(i-1), 2^i) x 1.05 ms; 15 open-ended
B=$(awk -v ms=$SLOW_MS 'BEGIN { i = 0; while (i < 15 && ms >= 1.05 * 2 ^ i) i++; print i }')
log "$SLOW_MS ms falls in bucket $B: [$(awk -v b=$B 'BEGIN { print 1.05 * 2 ^ (b - 1) ", " 1.05 * 2 ^ b }')) ms"
hist() { client_jq $C4 '(.responses.latency_hist // [range(16) | 0]) | tojson'; }
# hdelta BEFORE AFTER FROM TO: the count added to buckets FROM..TO
hdelta() { jq -n --argjson a "$1" --argjson b "$2" "[range($3; $4 + 1) as \$i | \$b[\$i] - \$a[\$i]] | add"; }
K=4
n0=$(val .responses.count)
h0=$(hist)
req $(for i in $(seq $K); do echo /slow; done) > "$WORK/c4slow.txt"
check "case 4: the slow location answered 200" $K "$(grep -c '^200 ' "$WORK/c4slow.txt")"
check "case 4: slow responses counted" $((n0 + K)) "$(wait_jq $C4 '.responses.count' $((n0 + K)))"
h1=$(hist)
log "slow: histogram delta $(jq -nc --argjson a "$h0" --argjson b "$h1" '[range(16) as $i | $b[$i] - $a[$i]]')"
check "case 4: every slow response has a latency sample" $K "$(hdelta "$h0" "$h1" 0 15)"
check "case 4: no slow response below bucket $B (< $SLOW_MS ms is impossible)" 0 "$(hdelta "$h0" "$h1" 0 $((B - 1)))"
got=$(hdelta "$h0" "$h1" $B $B)
[ "$got" -ge 1 ] && ok "case 4: bucket $B (holding $SLOW_MS ms) moved (+$got of $K)" \
  || fail "case 4: bucket $B did not move"
req $(for i in $(seq $K); do echo /fast; done) > "$WORK/c4fast.txt"
check "case 4: fast responses counted" $((n0 + 2 * K)) "$(wait_jq $C4 '.responses.count' $((n0 + 2 * K)))"
h2=$(hist)
log "fast: histogram delta $(jq -nc --argjson a "$h1" --argjson b "$h2" '[range(16) as $i | $b[$i] - $a[$i]]')"
check "case 4: / stays in the low buckets (below $B)" $K "$(hdelta "$h1" "$h2" 0 $((B - 1)))"
check "case 4: / adds nothing from bucket $B up" 0 "$(hdelta "$h1" "$h2" $B 15)"

# ================================================================================
log "5. status classes"
st() { val ".responses.status[\"$1\"]"; }
s2=$(st 2xx); s3=$(st 3xx); s4=$(st 4xx); s9=$(st 429); s5=$(st 5xx); n0=$(val .responses.count)
req / / / /notfound /notfound /limited /limited /limited /limited /bad /bad > "$WORK/c5.txt"
check "case 5: nginx's answers" "200 200 200 404 404 429 429 429 429 502 502" "$(codes < "$WORK/c5.txt")"
check "case 5: responses" $((n0 + 11)) "$(wait_jq $C4 '.responses.count' $((n0 + 11)))"
check "case 5: 2xx" $((s2 + 3)) "$(wait_jq $C4 '.responses.status["2xx"]' $((s2 + 3)))"
check "case 5: 4xx (429 apart)" $((s4 + 2)) "$(wait_jq $C4 '.responses.status["4xx"]' $((s4 + 2)))"
check "case 5: 429" $((s9 + 4)) "$(wait_jq $C4 '.responses.status["429"]' $((s9 + 4)))"
check "case 5: 5xx" $((s5 + 2)) "$(wait_jq $C4 '.responses.status["5xx"]' $((s5 + 2)))"
check "case 5: 3xx" "$s3" "$(st 3xx)"

# ================================================================================
log "6. response bytes"
b0=$(val .responses.bytes); p0=$(val .responses.packets); n0=$(val .responses.count)
t0=$(val .connections.retransmits)
nstat_retrans() { nstat -az TcpRetransSegs TcpExtTCPLossProbes | awk 'NR > 1 { printf "%s=%s ", $1, $2 }'; }
rt0=$(nstat_retrans)
served() { awk -v a="$C4" '$1 == a { n++ } END { print n + 0 }' "$WORK/nginx/access.log"; }
a0=$(served)
req / /notfound /limited /bad /big /slow /big > "$WORK/c6.txt"
check "case 6: nginx's answers" "200 404 429 502 200 200 200" "$(codes < "$WORK/c6.txt")"
check "case 6: /big is 100 kB" 102400 "$(awk 'NR == 5 { print $3 }' "$WORK/c6.txt")"
want=$(awk '{ s += $2 + $3 } END { print s }' "$WORK/c6.txt")
check "case 6: responses" $((n0 + 7)) "$(wait_jq $C4 '.responses.count' $((n0 + 7)))"
got=$(wait_jq $C4 '.responses.bytes' $((b0 + want)))
check "case 6: response bytes = curl's header + body bytes" "$want" "$((got - b0))"
if [ "$((got - b0))" != "$want" ]; then
  log "per request (code header body request): $(tr '\n' ',' < "$WORK/c6.txt")"
  log "nginx served $(( $(served) - a0 )) requests from $C4 in this step"
  log "gateway retransmits (closed connections): +$(( $(val .connections.retransmits) - t0 )); host: $rt0-> $(nstat_retrans)"
fi
# at least one segment per response, and no segment carries more than an MSS
minpk=$(awk '{ s += int(($2 + $3 + 1447) / 1448) } END { print s }' "$WORK/c6.txt")
pk=$(( $(val .responses.packets) - p0 ))
[ "$pk" -ge "$minpk" ] && ok "case 6: response packets ($pk) at least the segments the bytes need ($minpk)" \
  || fail "case 6: response packets $pk < $minpk"
stop_receiver slow

# ================================================================================
log "7. TC and cgroup together"
stop_agent TERM
check "case 7: first agent exits 0" 0 "$AGENT_RC"
write_cfg "[\"$HIF\"]"
start_agent "$WORK/agent.json"
[ -n "$(tc filter show dev "$HIF" ingress)" ] && ok "case 7: TC program on $HIF" || fail "case 7: no TC filter on $HIF"
grep -q "attached.*cgroup=$CG" "$AGENT_LOG" && ok "case 7: cgroup attached too" || fail "case 7: cgroup not attached"
q0=$(val .requests); y0=$(val .syns); pb0=$(val .payload_bytes); e0=$(val .connections.established)
n0=$(val .responses.count); b0=$(val .responses.bytes)
N=8
req / /notfound / /limited / /big / /x > "$WORK/c7.txt"
check "case 7: nginx's answers" "200 404 200 429 200 200 200 200" "$(codes < "$WORK/c7.txt")"
check "case 7: requests" $((q0 + N)) "$(wait_jq $C4 '.requests' $((q0 + N)))"
check "case 7: responses" $((n0 + N)) "$(wait_jq $C4 '.responses.count' $((n0 + N)))"
check "case 7: connections established" $((e0 + N)) "$(wait_jq $C4 '.connections.established' $((e0 + N)))"
want=$(awk '{ s += $2 + $3 } END { print s }' "$WORK/c7.txt")
wait_jq $C4 '.responses.bytes' $((b0 + want)) >/dev/null
settle
check "case 7: requests counted once (after two more scans)" "$N" "$(( $(val .requests) - q0 ))"
check "case 7: SYNs counted once" "$N" "$(( $(val .syns) - y0 ))"
check "case 7: payload bytes counted once" "$(sum_col 4 < "$WORK/c7.txt")" "$(( $(val .payload_bytes) - pb0 ))"
check "case 7: responses counted once" "$N" "$(( $(val .responses.count) - n0 ))"
check "case 7: response bytes counted once" "$want" "$(( $(val .responses.bytes) - b0 ))"

stop_agent TERM
check "case 7: SIGTERM exits 0" 0 "$AGENT_RC"
check "no TC filter left on $HIF" "" "$(tc filter show dev "$HIF" ingress)"
check "no program left on the cgroup" "" "$(bpftool cgroup show "$CG" 2>/dev/null | tail -n +2)"
