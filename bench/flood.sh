#!/usr/bin/env bash
# A legitimate client under an abusive one's flood, with each limiter.
#
# Two clients, each in its own network namespace behind its own veth pair:
# the legitimate one sends at a steady rate (tests/lib/loadgen.py: open
# loop, latency counted from each request's scheduled start, so a stall is
# not hidden), the abusive one as fast as wrk can (closed loop, far beyond
# its quota: its rate with no limiter is reported as the multiple of the
# quota it asks for). nginx (one worker) proxies to a backend on itself.
# Both clients' quota: R req/s, burst R, per address. Rows:
#   baseline           the legitimate client alone, no limiter;
#   no limiting        the flood, no limiter;
#   nginx limit_req    limit_req_zone $binary_remote_addr, rate R, burst R,
#                      nodelay, 429 (user space, the same quota);
#   tollgate, drop     the real agent, enforce, TC on both veths, action
#                      drop: the abuser's request starts beyond the quota
#                      are dropped in the kernel;
#   tollgate, gateway  the same with action gateway and nginx's auth_request
#                      hook (gateway-hooks/nginx/tollgate.conf and
#                      tollgate-upstream.conf as shipped: the agent's check
#                      socket, kept-alive connections): the kernel records
#                      each request start's verdict, /v1/check hands it to
#                      nginx, which answers 429;
#   tollgate, gateway, held denials
#                      the same with api.check_deny_delay_ms D: the agent
#                      holds each denial D ms, so the abuser, which asks
#                      again as soon as it is answered, waits that long.
# Recorded: the legitimate client's p99 latency and throughput, and the
# abuser's requests that got through (nginx's 200s) against R·t + burst.
# Targets: the kernel drop, legitimate p99 ≤ 1.2× the baseline's and below
# limit_req's; the hook, ≤ 1.5× with every legitimate request answered.
#
#   sudo ./bench/flood.sh SECTION.md [RAW.json]
#   FLOOD_SECONDS=6 FLOOD_ROUNDS=3 FLOOD_RATE=100 FLOOD_QUOTA=200 FLOOD_DENY_DELAY_MS=100
#
# Namespaces, veths, nginx and the agent are removed on exit, pass or fail.
# Addresses 198.18.135.0/30 and 198.18.136.0/30, ports 18135-18139, API
# port 19535, the check socket under /run/tollgate-bench-*. About 2 minutes.
set -euo pipefail
BENCH_NAME=flood.sh
source "$(dirname "$0")/common.sh" "$@"
E2E_TAG=${E2E_TAG:-tgbnf$$}
D=${FLOOD_SECONDS:-5}
ROUNDS=${FLOOD_ROUNDS:-3} # every row once per round, medians
LEGIT_RATE=${FLOOD_RATE:-100}
R=${FLOOD_QUOTA:-200}
DELAY=${FLOOD_DENY_DELAY_MS:-100}
PLAIN=18135 LIMITED=18137 HOOKED=18138 BACKEND=18139
API_PORT=19535
HL=198.18.135.1 CL=198.18.135.2 # legitimate client
HA=198.18.136.1 CA=198.18.136.2 # abuser
ABUSE_WRK=(wrk -t1 -c64 "-d${D}s" --timeout 2s)
# shellcheck disable=SC1091 # tests/lib/e2e.sh
source "$ROOT/tests/lib/e2e.sh"
require_root
for c in nginx wrk jq python3; do
  command -v "$c" >/dev/null || die "$c is needed (bash scripts/install-deps.sh bench)"
done
[ -x "$TOLLGATE" ] || die "no agent binary at $TOLLGATE"

NSL=${E2E_TAG}l NSA=${E2E_TAG}a
make_client "$NSL" "${E2E_TAG}hl" "${E2E_TAG}cl" $HL $CL
make_client "$NSA" "${E2E_TAG}ha" "${E2E_TAG}ca" $HA $CA

# The agent's check socket, where nginx's workers (nobody:nogroup under a
# root master) can reach it.
RUN=/run/tollgate-bench-$E2E_TAG
SOCK=$RUN/check.sock
defer "rm -rf $RUN"
mkdir -p "$WORK/nginx/tollgate"
cp "$ROOT/gateway-hooks/nginx/tollgate.conf" "$WORK/nginx/tollgate/tollgate.conf"
sed "s#unix:/run/tollgate/check.sock#unix:$SOCK#" "$ROOT/gateway-hooks/nginx/tollgate-upstream.conf" \
  > "$WORK/nginx/tollgate/upstream.conf"
grep -q "$SOCK" "$WORK/nginx/tollgate/upstream.conf" || die "the upstream names no socket to replace"
LOG=$WORK/nginx/access.log
PROXY='proxy_pass http://backend; proxy_http_version 1.1; proxy_set_header Connection "";'
{
  nginx_head 4096
  cat <<NGX
  log_format tg '\$remote_addr \$status';
  access_log $LOG tg;
  keepalive_requests 1000000;
  limit_req_zone \$binary_remote_addr zone=tgbn:1m rate=${R}r/s;
  limit_req_status 429;
  include $WORK/nginx/tollgate/upstream.conf;
  upstream backend { server 127.0.0.1:$BACKEND; keepalive 64; }
  server { listen 127.0.0.1:$BACKEND; access_log off; location / { return 200 "ok\n"; } }
  server { listen $PLAIN; location / { $PROXY } }
  server { listen $LIMITED; location / { limit_req zone=tgbn burst=$R nodelay; $PROXY } }
  server {
    listen $HOOKED;
    include $WORK/nginx/tollgate/tollgate.conf;
    location / { $PROXY }
  }
}
NGX
} > "$WORK/nginx.conf"
run_nginx "$WORK/nginx.conf" $PLAIN
wait_port $HOOKED

# Each client's quota as a per-address CIDR entry: quotas.default cannot
# take the gateway action.
agent_conf() { # agent_conf PORT ACTION [DENY_DELAY_MS]
  local q="\"share\": \"per_address\", \"requests_per_sec\": $R, \"burst\": $R, \"action\": \"$2\""
  cat > "$WORK/agent.json" <<JSON
{
  "instance": "$E2E_TAG",
  "mode": "enforce",
  "gateway": { "interfaces": ["${E2E_TAG}hl", "${E2E_TAG}ha"], "ports": [$1] },
  "quotas": { "clients": [
    { "name": "legit", "cidr": "$CL/32", $q },
    { "name": "abuser", "cidr": "$CA/32", $q } ] },
  "api": { "listen": "127.0.0.1:$API_PORT", "check_listen": "unix:$SOCK", "check_group": "nogroup",
           "check_deny_status": 403, "check_deny_delay_ms": ${3:-0} },
  "log": { "level": "warn" }
}
JSON
}
denied_of() { api /v1/keys | jq --arg k "$1" '[.keys[] | select(.name == $k) | .state.denied // 0] | add // 0'; }

ROWS=$WORK/rows.tsv
: > "$ROWS"
# one_run NAME PORT FLOOD: the legitimate client's steady load on PORT for D
# seconds, with the abuser's wrk beside it when FLOOD is 1.
one_run() {
  local name=$1 port=$2 flood=$3 from to apid=""
  log "$name"
  from=$(($(wc -l < "$LOG") + 1))
  if [ "$flood" = 1 ]; then
    timeout $((D + 20)) ip netns exec "$NSA" "${ABUSE_WRK[@]}" "http://$HA:$port/" \
      > "$WORK/$name.abuse.txt" 2>&1 &
    apid=$!
    sleep 0.5 # the flood is on before the measured load starts
  fi
  timeout $((D + 20)) ip netns exec "$NSL" python3 "$ROOT/tests/lib/loadgen.py" \
    --url "http://$HL:$port/" --rate "$LEGIT_RATE" --duration "$D" --conns 16 --json \
    > "$WORK/$name.legit.json" || die "$name: loadgen failed"
  [ -z "$apid" ] || wait "$apid" || true
  sleep 0.2
  to=$(wc -l < "$LOG")
  sed -n "${from},${to}p" "$LOG" > "$WORK/$name.log"
  # nginx appends (O_APPEND): emptied, the next run's lines start at 1
  # and no run rereads the ones before it.
  : > "$LOG"
  local a_ok a_all a_rps=0
  a_ok=$(awk -v a=$CA '$1 == a && $2 == 200' "$WORK/$name.log" | wc -l)
  a_all=$(awk -v a=$CA '$1 == a' "$WORK/$name.log" | wc -l)
  [ "$flood" = 0 ] || a_rps=$(rps_of "$WORK/$name.abuse.txt")
  printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$name" \
    "$(jq .latency_ms.p99 "$WORK/$name.legit.json")" "$(jq .latency_ms.p50 "$WORK/$name.legit.json")" \
    "$(jq .ok "$WORK/$name.legit.json")" "$(jq .offered "$WORK/$name.legit.json")" \
    "$a_ok" "$a_all" "${a_rps:-0}" >> "$ROWS"
  log "  legit p99 $(jq .latency_ms.p99 "$WORK/$name.legit.json") ms, ok $(jq .ok "$WORK/$name.legit.json")/$(jq .offered "$WORK/$name.legit.json"); abuser: $a_ok of $a_all answered 200, wrk ${a_rps:-0} req/s"
}

timeout 20 ip netns exec "$NSL" wrk -t1 -c8 -d2s "http://$HL:$PLAIN/" > /dev/null || die "warm-up failed"
dropped=0 checks_denied=0 legit_denied=0
for r in $(seq "$ROUNDS"); do
  log "round $r"
  one_run baseline $PLAIN 0
  one_run none $PLAIN 1
  one_run limit_req $LIMITED 1

  agent_conf $PLAIN drop
  start_agent "$WORK/agent.json" 30
  one_run drop $PLAIN 1
  dropped=$((dropped + $(denied_of abuser)))
  legit_denied=$((legit_denied + $(denied_of legit)))
  stop_agent TERM

  for row in gateway gateway_delay; do
    agent_conf $HOOKED gateway "$([ $row = gateway ] && echo 0 || echo "$DELAY")"
    start_agent "$WORK/agent.json" 30
    one_run $row $HOOKED 1
    c=$(api /metrics | awk -v i="$E2E_TAG" '$1 == "tollgate_checks_total{instance=\"" i "\",result=\"denied\"}" { print $2 }')
    checks_denied=$((checks_denied + ${c:-0}))
    legit_denied=$((legit_denied + $(denied_of legit)))
    stop_agent TERM
  done
done
log "kernel drops of the abuser (drop rows): $dropped; checks denied (gateway rows): $checks_denied; the legitimate client's denials: $legit_denied"
[ "$dropped" -gt 0 ] || die "the drop rows dropped nothing"
[ "$checks_denied" -gt 0 ] || die "the gateway rows denied no check"
[ "$legit_denied" = 0 ] || die "the legitimate client was denied $legit_denied times"

python3 "$BENCH/flood_report.py" "$ROWS" "$OUT" "${RAW:-}" --seconds "$D" --rate "$LEGIT_RATE" \
  --quota "$R" --rounds "$ROUNDS" --abuse "${ABUSE_WRK[*]}" --dropped "$dropped" --checks-denied "$checks_denied" \
  --deny-delay-ms "$DELAY" \
  --nginx "$(nginx -v 2>&1 | sed 's|.*/||')"
log "wrote $OUT"
