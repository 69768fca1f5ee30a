#!/usr/bin/env bash
# /v1/check under load, and what the auth_request hook costs a gateway.
#
# - /v1/check: wrk -t1 -c32 on loopback against the real agent's /v1/check
#   (X-Real-IP of a client with a quota far above the offered rate, so
#   every check charges a bucket through the kernel program and is
#   allowed), against the same agent's /healthz (the API server without
#   the check's work) as the baseline. The agent is one thread: one core.
#   Targets: >= 20,000 checks/s, p99 <= 1 ms.
# - Gateway: wrk through nginx (worker_processes 1) to a backend on the
#   same nginx, with gateway-hooks/nginx/tollgate.conf's auth_request hook
#   against the same server without it, alternating rounds, medians.
#
#   sudo ./bench/check.sh SECTION.md [RAW.json]
#
# nginx and the agent are removed on exit, pass or fail (tests/lib/e2e.sh).
# Ports 18095-18097, API port 19485. About a minute.
set -euo pipefail
BENCH_NAME=check.sh
source "$(dirname "$0")/common.sh" "$@"
E2E_TAG=${E2E_TAG:-tgk$$}
D=${CHECK_SECONDS:-6}
ROUNDS=${CHECK_ROUNDS:-3}
API_PORT=19485 HOOKED=18095 PLAIN=18096 BACKEND=18097
# shellcheck disable=SC1091 # tests/lib/e2e.sh
source "$ROOT/tests/lib/e2e.sh"
require_root
for c in nginx wrk jq; do
  command -v "$c" >/dev/null || die "$c is needed (apt-get install $c)"
done
[ -x "$TOLLGATE" ] || die "no agent binary at $TOLLGATE"

cat > "$WORK/agent.json" <<JSON
{
  "instance": "$E2E_TAG",
  "gateway": { "interfaces": [], "ports": [$HOOKED] },
  "mode": "enforce",
  "quotas": { "default": { "requests_per_sec": 1000000, "burst": 1000000 } },
  "api": { "listen": "127.0.0.1:$API_PORT", "check_deny_status": 403 },
  "log": { "level": "warn" }
}
JSON
mkdir -p "$WORK/nginx/tollgate"
sed "s#127.0.0.1:9470#127.0.0.1:$API_PORT#" "$ROOT/gateway-hooks/nginx/tollgate.conf" \
  > "$WORK/nginx/tollgate/tollgate.conf"
{
  nginx_head 4096
  cat <<NGX
  access_log off;
  upstream backend { server 127.0.0.1:$BACKEND; keepalive 64; }
  server { listen 127.0.0.1:$BACKEND; location / { return 200 "ok\n"; } }
  server {
    listen 127.0.0.1:$HOOKED;
    include $WORK/nginx/tollgate/tollgate.conf;
    location / { proxy_pass http://backend; proxy_http_version 1.1; proxy_set_header Connection ""; }
  }
  server {
    listen 127.0.0.1:$PLAIN;
    location / { proxy_pass http://backend; proxy_http_version 1.1; proxy_set_header Connection ""; }
  }
}
NGX
} > "$WORK/nginx.conf"
run_nginx "$WORK/nginx.conf" $HOOKED
start_agent "$WORK/agent.json"

WRK=(wrk -t1 -c32 "-d${D}s" --timeout 2s --latency)
run() { # run NAME URL [wrk args]: one wrk run into $WORK/NAME.txt
  local name=$1 url=$2
  shift 2
  timeout $((D + 20)) "${WRK[@]}" "$@" "$url" > "$WORK/$name.txt" || die "wrk $name failed"
  [ "$(errors_of "$WORK/$name.txt")" = 0 ] || { cat "$WORK/$name.txt"; die "$name: errors or non-2xx"; }
}
median() { printf '%s\n' "$@" | sort -g | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }

timeout 20 wrk -t1 -c32 -d2s -H "X-Real-IP: 198.18.70.2" "http://127.0.0.1:$API_PORT/v1/check" >/dev/null
declare -a ck_rps ck_p99 hz_rps hz_p99 gw_rps gw_p99 pl_rps pl_p99 one_p99 one_rps
for r in $(seq "$ROUNDS"); do
  log "round $r: /v1/check, /healthz, gateway with and without the hook"
  run check "http://127.0.0.1:$API_PORT/v1/check" -H "X-Real-IP: 198.18.70.2"
  ck_rps+=("$(rps_of "$WORK/check.txt")"); ck_p99+=("$(p99_ms "$WORK/check.txt")")
  # one connection: the latency of a check itself, without queueing
  timeout $((D + 20)) wrk -t1 -c1 "-d${D}s" --timeout 2s --latency -H "X-Real-IP: 198.18.70.3" \
    "http://127.0.0.1:$API_PORT/v1/check" > "$WORK/one.txt" || die "wrk -c1 failed"
  one_rps+=("$(rps_of "$WORK/one.txt")"); one_p99+=("$(p99_ms "$WORK/one.txt")")
  run healthz "http://127.0.0.1:$API_PORT/healthz"
  hz_rps+=("$(rps_of "$WORK/healthz.txt")"); hz_p99+=("$(p99_ms "$WORK/healthz.txt")")
  run hooked "http://127.0.0.1:$HOOKED/v1/models"
  gw_rps+=("$(rps_of "$WORK/hooked.txt")"); gw_p99+=("$(p99_ms "$WORK/hooked.txt")")
  run plain "http://127.0.0.1:$PLAIN/v1/models"
  pl_rps+=("$(rps_of "$WORK/plain.txt")"); pl_p99+=("$(p99_ms "$WORK/plain.txt")")
done
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
pl=$(median "${pl_rps[@]}") plp=$(median "${pl_p99[@]}")
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / b }'; }
cpu_model=$(grep -m1 '^model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//')
cat > "$OUT" <<MD
<!-- check:begin — written by bench/run.sh; edit outside these markers -->
## /v1/check and the gateway hook

Machine: ${cpu_model:-$(uname -m)}, $(nproc) cores, kernel $(uname -r), $(nginx -v 2>&1 | sed 's|.*: ||'); $(date -u +%Y-%m-%d).
\`bench/check.sh\`: wrk -t1 -c32 -d${D}s (keep-alive; one row -c1) on loopback, $ROUNDS
alternating rounds, medians. The agent is one thread (one core). Every
check charged the client's bucket through the kernel program
(\`tg_check\`, BPF_PROG_TEST_RUN) and was allowed: $allowed checks
allowed, $charged charged to the bucket, 0 errors.

| | requests/s | p99 ms | ratio (requests/s) |
|---|---|---|---|
| agent \`/healthz\` (baseline: the API server alone) | $hz | $hzp | 1.00 |
| agent \`/v1/check\` | $ck | $ckp | $(ratio "$ck" "$hz") |
| agent \`/v1/check\`, one connection (-c1: no queueing) | $one | $onep | $(ratio "$one" "$hz") |
| nginx → backend, no hook (baseline) | $pl | $plp | 1.00 |
| nginx → backend with the \`auth_request\` hook | $gw | $gwp | $(ratio "$gw" "$pl") |

Targets: /v1/check ≥ 20,000 checks/s on one core, p99 ≤ 1 ms on loopback.
The hook adds one subrequest per request (nginx → agent → nginx); nginx's
one worker and the agent share this machine's cores with wrk.
<!-- check:end -->
MD
if [ -n "$RAW" ]; then
  jq -n --arg ck "${ck_rps[*]}" --arg hz "${hz_rps[*]}" --arg gw "${gw_rps[*]}" --arg pl "${pl_rps[*]}" \
    --arg ckp "${ck_p99[*]}" --arg gwp "${gw_p99[*]}" \
    '{check_rps: ($ck | split(" ") | map(tonumber)), healthz_rps: ($hz | split(" ") | map(tonumber)),
      hooked_rps: ($gw | split(" ") | map(tonumber)), plain_rps: ($pl | split(" ") | map(tonumber)),
      check_p99_ms: ($ckp | split(" ") | map(tonumber)), hooked_p99_ms: ($gwp | split(" ") | map(tonumber))}' > "$RAW"
fi
log "wrote $OUT"
