#!/usr/bin/env bash
# /v1/check under load, and what the auth_request hook costs a gateway.
#
# - /v1/check: wrk -t1 -c32 on loopback against the real agent's /v1/check
#   (X-Real-IP of a client with a quota far above the offered rate, so
#   every check charges a bucket through the kernel program and is
#   allowed), against the same agent's /healthz (the API server without
#   the check's work) as the baseline. The agent is one thread: one core.
#   Targets: >= 20,000 checks/s, p99 <= 1 ms.
# - Gateway, three variants side by side in each round, through one nginx
#   (worker_processes 1) to a backend on the same nginx:
#     tollgate    gateway-hooks/nginx/tollgate.conf + tollgate-upstream.conf
#                 as shipped: auth_request to the agent's check socket
#                 (api.check_listen), connections kept alive;
#     trivial     the same snippet, its upstream a second nginx (one worker,
#                 like the agent: a process of its own) answering 204 on a
#                 Unix socket: the floor of any auth hook;
#     none        no hook.
#   Target: tollgate >= 0.9x trivial's requests/s.
#
#   sudo ./bench/check.sh SECTION.md [RAW.json]
#
# nginx and the agent are removed on exit, pass or fail (tests/lib/e2e.sh).
# Ports 18095-18098, API port 19485, sockets under /run/tollgate-bench-*.
# About two minutes.
set -euo pipefail
BENCH_NAME=check.sh
source "$(dirname "$0")/common.sh" "$@"
E2E_TAG=${E2E_TAG:-tgk$$}
D=${CHECK_SECONDS:-6}
ROUNDS=${CHECK_ROUNDS:-3}
API_PORT=19485 HOOKED=18095 PLAIN=18096 BACKEND=18097 TRIVIAL=18098
LOAD0=$(cut -d' ' -f1-3 /proc/loadavg)
# shellcheck disable=SC1091 # tests/lib/e2e.sh
source "$ROOT/tests/lib/e2e.sh"
require_root
for c in nginx wrk jq; do
  command -v "$c" >/dev/null || die "$c is needed (apt-get install $c)"
done
[ -x "$TOLLGATE" ] || die "no agent binary at $TOLLGATE"

# The sockets: where nginx's workers (nobody:nogroup under a root master)
# can reach them.
RUN=/run/tollgate-bench-$E2E_TAG
SOCK=$RUN/check.sock TSOCK=$RUN/trivial.sock
defer "rm -rf $RUN"

cat > "$WORK/agent.json" <<JSON
{
  "instance": "$E2E_TAG",
  "gateway": { "interfaces": [], "ports": [$HOOKED] },
  "mode": "enforce",
  "quotas": { "default": { "requests_per_sec": 1000000, "burst": 1000000 } },
  "api": { "listen": "127.0.0.1:$API_PORT", "check_listen": "unix:$SOCK", "check_group": "nogroup",
           "check_deny_status": 403 },
  "log": { "level": "warn" }
}
JSON
mkdir -p "$WORK/nginx/tollgate"
HOOK=$ROOT/gateway-hooks/nginx
cp "$HOOK/tollgate.conf" "$WORK/nginx/tollgate/tollgate.conf"
sed "s#unix:/run/tollgate/check.sock#unix:$SOCK#" "$HOOK/tollgate-upstream.conf" \
  > "$WORK/nginx/tollgate/upstream.conf"
# trivial: the same snippet and upstream settings, another upstream name
# and server
sed "s#http://tollgate_check/#http://trivial_check/#" "$HOOK/tollgate.conf" \
  > "$WORK/nginx/tollgate/trivial.conf"
sed "s#upstream tollgate_check#upstream trivial_check#; s#unix:/run/tollgate/check.sock#unix:$TSOCK#" \
  "$HOOK/tollgate-upstream.conf" > "$WORK/nginx/tollgate/trivial-upstream.conf"
for f in upstream.conf trivial.conf trivial-upstream.conf; do
  grep -q "$RUN\|trivial_check" "$WORK/nginx/tollgate/$f" || die "nothing replaced in $f"
done
{
  nginx_head 4096
  cat <<NGX
  access_log off;
  include $WORK/nginx/tollgate/upstream.conf;
  include $WORK/nginx/tollgate/trivial-upstream.conf;
  upstream backend { server 127.0.0.1:$BACKEND; keepalive 64; }
  server { listen 127.0.0.1:$BACKEND; location / { return 200 "ok\n"; } }
  server {
    listen 127.0.0.1:$HOOKED;
    include $WORK/nginx/tollgate/tollgate.conf;
    location / { proxy_pass http://backend; proxy_http_version 1.1; proxy_set_header Connection ""; }
  }
  server {
    listen 127.0.0.1:$TRIVIAL;
    include $WORK/nginx/tollgate/trivial.conf;
    location / { proxy_pass http://backend; proxy_http_version 1.1; proxy_set_header Connection ""; }
  }
  server {
    listen 127.0.0.1:$PLAIN;
    location / { proxy_pass http://backend; proxy_http_version 1.1; proxy_set_header Connection ""; }
  }
}
NGX
} > "$WORK/nginx.conf"
# The trivial auth target: its own nginx, one worker, a 204 with no body.
mkdir -p "$RUN" "$WORK/trivial"
cat > "$WORK/trivial.conf" <<NGX
worker_processes 1;
pid $WORK/trivial/nginx.pid;
error_log $WORK/trivial/error.log warn;
daemon off;
events { worker_connections 4096; }
http {
  access_log off;
  client_body_temp_path $WORK/trivial/body; proxy_temp_path $WORK/trivial/proxy;
  fastcgi_temp_path $WORK/trivial/fastcgi; uwsgi_temp_path $WORK/trivial/uwsgi;
  scgi_temp_path $WORK/trivial/scgi;
  keepalive_requests 1000000;
  server { listen unix:$TSOCK; location / { return 204; } }
}
NGX
nginx -c "$WORK/trivial.conf" -e "$WORK/trivial/error.log" &
TRIVIAL_PID=$!
defer "kill $TRIVIAL_PID; wait $TRIVIAL_PID"
for _ in $(seq 100); do [ -S "$TSOCK" ] && break; sleep 0.1; done
[ -S "$TSOCK" ] || die "the trivial auth target did not come up"
start_agent "$WORK/agent.json"
run_nginx "$WORK/nginx.conf" $HOOKED

WRK=(wrk -t1 -c32 "-d${D}s" --timeout 2s --latency)
run() { # run NAME URL [wrk args]: one wrk run into $WORK/NAME.txt
  local name=$1 url=$2
  shift 2
  timeout $((D + 20)) "${WRK[@]}" "$@" "$url" > "$WORK/$name.txt" || die "wrk $name failed"
  [ "$(errors_of "$WORK/$name.txt")" = 0 ] || { cat "$WORK/$name.txt"; die "$name: errors or non-2xx"; }
}
median() { printf '%s\n' "$@" | sort -g | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }
# The agent's CPU time (utime + stime, in clock ticks) and the check
# listener's accepted connections, before and after the gateway rows.
ticks_of() { awk '{ print $14 + $15 }' "/proc/$1/stat"; }
agent_ticks() { ticks_of "$AGENT_PID"; }
TRIVIAL_WORKER=$(pgrep -P "$TRIVIAL_PID" | head -1)
[ -n "$TRIVIAL_WORKER" ] || die "no worker of the trivial auth target"
check_conns() {
  api /metrics | awk -v i="$E2E_TAG" \
    '$1 == "tollgate_api_connections_accepted_total{instance=\"" i "\",listener=\"check\"}" { print $2 }'
}

timeout 20 wrk -t1 -c32 -d2s -H "X-Real-IP: 198.18.70.2" "http://127.0.0.1:$API_PORT/v1/check" >/dev/null
timeout 20 wrk -t1 -c32 -d2s "http://127.0.0.1:$HOOKED/v1/models" >/dev/null
timeout 20 wrk -t1 -c32 -d2s "http://127.0.0.1:$TRIVIAL/v1/models" >/dev/null
declare -a ck_rps ck_p99 hz_rps hz_p99 gw_rps gw_p99 tr_rps tr_p99 pl_rps pl_p99 one_p99 one_rps
gw_ticks=0 gw_reqs=0 tr_ticks=0 tr_reqs=0
conns0=$(check_conns)
for r in $(seq "$ROUNDS"); do
  log "round $r: /v1/check, /healthz; nginx with tollgate's hook, with the trivial hook, with none"
  run check "http://127.0.0.1:$API_PORT/v1/check" -H "X-Real-IP: 198.18.70.2"
  ck_rps+=("$(rps_of "$WORK/check.txt")"); ck_p99+=("$(p99_ms "$WORK/check.txt")")
  # one connection: the latency of a check itself, without queueing
  timeout $((D + 20)) wrk -t1 -c1 "-d${D}s" --timeout 2s --latency -H "X-Real-IP: 198.18.70.3" \
    "http://127.0.0.1:$API_PORT/v1/check" > "$WORK/one.txt" || die "wrk -c1 failed"
  one_rps+=("$(rps_of "$WORK/one.txt")"); one_p99+=("$(p99_ms "$WORK/one.txt")")
  run healthz "http://127.0.0.1:$API_PORT/healthz"
  hz_rps+=("$(rps_of "$WORK/healthz.txt")"); hz_p99+=("$(p99_ms "$WORK/healthz.txt")")
  # the two hooks in turn, each first in every other round: what runs
  # first on a busy host should not decide their ratio
  for hook in $([ $((r % 2)) = 1 ] && echo "hooked trivial" || echo "trivial hooked"); do
    if [ "$hook" = hooked ]; then
      t0=$(agent_ticks)
      run hooked "http://127.0.0.1:$HOOKED/v1/models"
      gw_ticks=$((gw_ticks + $(agent_ticks) - t0)); gw_reqs=$((gw_reqs + $(reqs_of "$WORK/hooked.txt")))
      gw_rps+=("$(rps_of "$WORK/hooked.txt")"); gw_p99+=("$(p99_ms "$WORK/hooked.txt")")
    else
      t0=$(ticks_of "$TRIVIAL_WORKER")
      run trivial "http://127.0.0.1:$TRIVIAL/v1/models"
      tr_ticks=$((tr_ticks + $(ticks_of "$TRIVIAL_WORKER") - t0)); tr_reqs=$((tr_reqs + $(reqs_of "$WORK/trivial.txt")))
      tr_rps+=("$(rps_of "$WORK/trivial.txt")"); tr_p99+=("$(p99_ms "$WORK/trivial.txt")")
    fi
  done
  run plain "http://127.0.0.1:$PLAIN/v1/models"
  pl_rps+=("$(rps_of "$WORK/plain.txt")"); pl_p99+=("$(p99_ms "$WORK/plain.txt")")
done
conns=$(( $(check_conns) - conns0 ))
# every check went through the kernel program and was allowed
allowed=$(api /metrics | awk -v i="$E2E_TAG" '$1 == "tollgate_checks_total{instance=\"" i "\",result=\"allowed\"}" { print $2 }')
errors=$(api /metrics | awk -v i="$E2E_TAG" '$1 == "tollgate_checks_total{instance=\"" i "\",result=\"error\"}" { print $2 }')
[ "${errors:-1}" = 0 ] || die "checks failed: $errors"
charged=$(api /v1/keys/default | jq .state.allowed)
stop_agent TERM

ck=$(median "${ck_rps[@]}") ckp=$(median "${ck_p99[@]}")
one=$(median "${one_rps[@]}") onep=$(median "${one_p99[@]}")
hz=$(median "${hz_rps[@]}") hzp=$(median "${hz_p99[@]}")
gw=$(median "${gw_rps[@]}") gwp=$(median "${gw_p99[@]}")
tr=$(median "${tr_rps[@]}") trp=$(median "${tr_p99[@]}")
pl=$(median "${pl_rps[@]}") plp=$(median "${pl_p99[@]}")
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / b }'; }
# The two hooks run back to back in each round: their ratio within a round
# is what this host's drift between rounds leaves alone. The target is on
# the median of those; the ratio of the medians is given too.
declare -a pair
for i in "${!gw_rps[@]}"; do pair+=("$(ratio "${gw_rps[$i]}" "${tr_rps[$i]}")"); done
gw_tr=$(median "${pair[@]}")
gw_tr_medians=$(ratio "$gw" "$tr")
verdict=$(awk -v r="$gw_tr" 'BEGIN { print (r >= 0.9 ? "met" : "**missed**") }')
# the auth targets' CPU per request, in µs
us_of() { awk -v t="$1" -v n="$2" -v hz="$(getconf CLK_TCK)" 'BEGIN { printf "%.1f", n ? t / hz * 1e6 / n : 0 }'; }
us_per=$(us_of "$gw_ticks" "$gw_reqs") tr_us_per=$(us_of "$tr_ticks" "$tr_reqs")
cpu_model=$(grep -m1 '^model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//')
cat > "$OUT" <<MD
<!-- check:begin — written by bench/run.sh; edit outside these markers -->
## /v1/check and the gateway hook

Machine: ${cpu_model:-$(uname -m)}, $(nproc) cores, kernel $(uname -r), $(nginx -v 2>&1 | sed 's|.*: ||'); $(date -u +%Y-%m-%d), load average before the run $LOAD0.
\`bench/check.sh\`: wrk -t1 -c32 -d${D}s (keep-alive; one row -c1) on loopback, $ROUNDS
alternating rounds (the two hooks in turn, each first in every other
round), medians. The agent is one thread (one core). Every
check charged the client's bucket through the kernel program
(\`tg_check\`, BPF_PROG_TEST_RUN) and was allowed: $allowed checks
allowed, $charged charged to the bucket, 0 errors.

| | requests/s | p99 ms | ratio (requests/s) |
|---|---|---|---|
| agent \`/healthz\` (baseline: the API server alone) | $hz | $hzp | 1.00 |
| agent \`/v1/check\` | $ck | $ckp | $(ratio "$ck" "$hz") |
| agent \`/v1/check\`, one connection (-c1: no queueing) | $one | $onep | $(ratio "$one" "$hz") |

The gateway: one nginx (worker_processes 1) in front of a backend on
itself, wrk through it; three variants side by side in every round.

| nginx → backend | requests/s | p99 ms | ÷ trivial hook | ÷ no hook |
|---|---|---|---|---|
| with tollgate's hook (\`tollgate.conf\` + \`tollgate-upstream.conf\` as shipped: the agent's check socket, keepalive) | $gw | $gwp | **$gw_tr** (rounds: ${pair[*]}) | $(ratio "$gw" "$pl") |
| with \`auth_request\` to a trivial upstream (a second nginx, one worker, \`return 204\` on a Unix socket; the same snippet) | $tr | $trp | 1.00 | $(ratio "$tr" "$pl") |
| no hook | $pl | $plp | $(ratio "$pl" "$tr") | 1.00 |

Targets: /v1/check ≥ 20,000 checks/s on one core, p99 ≤ 1 ms on loopback;
nginx with tollgate's hook ≥ 0.9× the trivial hook's requests/s: $gw_tr,
$verdict (the median of the rounds' ratios, each round running the two
hooks back to back; the ratio of the medians: $gw_tr_medians).

Over the tollgate rows nginx opened $conns connections to the agent for
$gw_reqs checks (kept alive). CPU per check: the agent $us_per µs, the
trivial target's worker $tr_us_per µs. The hook adds one subrequest per
request (nginx → auth target → nginx); nginx's one worker, the auth
target and wrk share this machine's cores.
<!-- check:end -->
MD
if [ -n "$RAW" ]; then
  jq -n --arg ck "${ck_rps[*]}" --arg hz "${hz_rps[*]}" --arg gw "${gw_rps[*]}" --arg pl "${pl_rps[*]}" \
    --arg tr "${tr_rps[*]}" --arg ckp "${ck_p99[*]}" --arg gwp "${gw_p99[*]}" --arg trp "${tr_p99[*]}" \
    --argjson conns "$conns" --argjson reqs "$gw_reqs" --arg pair "${pair[*]}" \
    '{check_rps: ($ck | split(" ") | map(tonumber)), healthz_rps: ($hz | split(" ") | map(tonumber)),
      hooked_rps: ($gw | split(" ") | map(tonumber)), trivial_rps: ($tr | split(" ") | map(tonumber)),
      plain_rps: ($pl | split(" ") | map(tonumber)),
      check_p99_ms: ($ckp | split(" ") | map(tonumber)), hooked_p99_ms: ($gwp | split(" ") | map(tonumber)),
      trivial_p99_ms: ($trp | split(" ") | map(tonumber)), hook_connections: $conns, hook_checks: $reqs,
      hooked_per_trivial: ($pair | split(" ") | map(tonumber))}' > "$RAW"
fi
log "wrote $OUT"
