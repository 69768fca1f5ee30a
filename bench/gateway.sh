#!/usr/bin/env bash
# Gateway overhead: requests/s and p99 latency with the agent attached
# against without it, in the same run. nginx (worker_processes 1, `return
# 200`) runs inside a child cgroup of the cgroup2 mount; wrk -t1 -c32
# (keep-alive) from a client in a network namespace behind a veth pair.
# Alternating rounds of no agent (the baseline) and three configurations:
#   tc       the agent, telemetry, TC ingress on the host side of the veth;
#   enforce  the same in enforce mode with quotas that never trigger
#            (quotas.default 1,000,000 req/s and burst: every request start
#            charges an address bucket);
#   socket   the agent attached to nginx's cgroup only (gateway.interfaces
#            [], gateway.cgroup: sockops and cgroup_skb ingress/egress,
#            telemetry, no TC program).
# Median requests/s and p99 latency of each; the ratios agent ÷ no agent
# (targets: requests/s ≥ 0.97, p99 ≤ 1.05). Each agent run checks that the
# agent counted the requests wrk sent in it.
#
#   sudo ./bench/gateway.sh SECTION.md [RAW.json]
#   GATEWAY_ROUNDS=3 GATEWAY_SECONDS=6 GATEWAY_CONFIGS="tc enforce socket"
#
# Writes the "Gateway overhead" section of BENCHMARKS.md (between its
# markers) to SECTION.md; bench/run.sh puts it in place. Namespace, veth
# pair, cgroup, nginx and the agent are removed on exit, pass or fail
# (tests/lib/e2e.sh's EXIT trap; the cgroup after nginx has exited).
# Addresses 198.18.134.0/30, port 18134, API port 19534. About 2 minutes.
set -euo pipefail
BENCH_NAME=gateway.sh
source "$(dirname "$0")/common.sh" "$@"
E2E_TAG=${E2E_TAG:-tgbng$$}
PORT=${GATEWAY_PORT:-18134}
API_LISTEN=127.0.0.1:19534
ROUNDS=${GATEWAY_ROUNDS:-3} # alternating; single rounds vary by ±20% on a shared VM
D=${GATEWAY_SECONDS:-5}     # seconds of each wrk run
read -r -a CONFIGS <<< "${GATEWAY_CONFIGS:-tc enforce socket}"
WRK_ARGS=(-t1 -c32 "-d${D}s" --timeout 2s --latency)
TARGET=0.97 TARGET_P99=1.05
H4=198.18.134.1 # the gateway, host side of the veth
C4=198.18.134.2 # the client
# shellcheck disable=SC1091 # tests/lib/e2e.sh
source "$ROOT/tests/lib/e2e.sh"
require_root
for c in nginx wrk jq curl ss; do
  command -v "$c" >/dev/null || die "$c is needed (apt-get install $c)"
done
[ -x "$TOLLGATE" ] || die "no agent binary at $TOLLGATE (build it: cmake --build build --target tollgate)"
[ -z "$(ss -Hltn "sport = :$PORT")" ] || die "port $PORT is already in use"

NS=${E2E_TAG}a
make_client "$NS" "${E2E_TAG}h1" "${E2E_TAG}c1" $H4 $C4

# --- the cgroup, a child of the cgroup2 mount (removed at exit) ---------------------
make_cgroup "tollgate-bench-$$"

# --- nginx, inside the cgroup ---------------------------------------------------------
{
  nginx_head
  cat <<NGX
  access_log off;
  keepalive_requests 1000000;
  server {
    listen $PORT;
    location / { return 200 "ok\n"; }
  }
}
NGX
} > "$WORK/nginx.conf"
nginx_in_cgroup "$WORK/nginx.conf" $PORT

agent_conf() { # agent_conf CONFIG: the agent's config file for one configuration
  local gw mode=monitor quotas='{}'
  case $1 in
    tc) gw="\"interfaces\": [\"${E2E_TAG}h1\"]" ;;
    enforce)
      gw="\"interfaces\": [\"${E2E_TAG}h1\"]" mode=enforce
      quotas='{ "default": { "requests_per_sec": 1000000, "burst": 1000000 } }' ;;
    socket) gw="\"interfaces\": [], \"cgroup\": \"$CG\"" ;;
    *) die "unknown configuration $1" ;;
  esac
  cat > "$WORK/agent.json" <<JSON
{
  "instance": "$E2E_TAG",
  "mode": "$mode",
  "gateway": { $gw, "ports": [$PORT] },
  "quotas": $quotas,
  "api": { "listen": "$API_LISTEN" }
}
JSON
}

URL="http://$H4:$PORT/"
# wrk_run FILE: one wrk run from the client namespace (bounded)
wrk_run() { # fails the run when wrk fails or hangs
  timeout $((D + 20)) ip netns exec "$NS" wrk "${WRK_ARGS[@]}" "$URL" > "$1"
}
median3() { printf '%s\n' "$@" | sort -g | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }
agent_requests() { # requests the agent counted from the client (0 when absent)
  local v
  v=$(client_jq $C4 '.requests // 0')
  [ "$v" = absent ] && v=0
  echo "$v"
}

log "warm-up: wrk -t1 -c32 -d2s, no agent"
timeout 20 ip netns exec "$NS" wrk -t1 -c32 -d2s "$URL" > "$WORK/warmup.txt" || die "warm-up: wrk failed or hung"

declare -A RPS P99
rounds_json=""
for r in $(seq "$ROUNDS"); do
  log "round $r: no agent"
  wrk_run "$WORK/none_$r.txt"
  RPS[none]+=" $(rps_of "$WORK/none_$r.txt")"
  P99[none]+=" $(p99_ms "$WORK/none_$r.txt")"
  check "round $r, no agent: no errors" 0 "$(errors_of "$WORK/none_$r.txt")"
  round_json=$(jq -n --arg o "$(cat "$WORK/none_$r.txt")" --argjson rps "$(rps_of "$WORK/none_$r.txt")" \
    --argjson p99 "$(p99_ms "$WORK/none_$r.txt")" '{none: {requests_per_sec: $rps, p99_ms: $p99, output: $o}}')
  for c in "${CONFIGS[@]}"; do
    log "round $r: agent, $c"
    agent_conf "$c"
    start_agent "$WORK/agent.json" 30
    if [ "$r" = 1 ]; then
      case $c in
        socket)
          grep -q "attached.*cgroup=$CG" "$AGENT_LOG" || { cat "$AGENT_LOG"; die "no 'attached ... cgroup=$CG' in the agent log"; }
          check "socket: no TC filter on the client's veth" "" "$(tc filter show dev "${E2E_TAG}h1" ingress)" ;;
        *)
          check "$c: tg_tc_ingress on the client's veth" tg_tc_ingress \
            "$(tc -j filter show dev "${E2E_TAG}h1" ingress | jq -r '[.[].options.prog.name? // empty][0]')" ;;
      esac
    fi
    before=$(agent_requests)
    wrk_run "$WORK/${c}_$r.txt"
    RPS[$c]+=" $(rps_of "$WORK/${c}_$r.txt")"
    P99[$c]+=" $(p99_ms "$WORK/${c}_$r.txt")"
    check "round $r, $c: no errors" 0 "$(errors_of "$WORK/${c}_$r.txt")"
    sent=$(reqs_of "$WORK/${c}_$r.txt")
    # the agent reads its maps periodically: wait for the count (10 s at most)
    for _ in $(seq 50); do
      counted=$(($(agent_requests) - before))
      [ "$counted" -lt "$sent" ] || break
      sleep 0.2
    done
    # wrk counts only answered requests: a request in flight at the end is sent, not counted
    if [ "$counted" -ge "$sent" ] && [ "$counted" -le $((sent + 32)) ]; then
      ok "round $r, $c: the agent counted the requests ($counted for wrk's $sent)"
    else
      fail "round $r, $c: the agent counted $counted requests, wrk answered $sent"
    fi
    if [ "$c" = enforce ]; then
      check "round $r, enforce: nothing denied" 0 "$(api /v1/keys/default | jq .state.denied)"
    fi
    stop_agent TERM
    [ "$AGENT_RC" = 0 ] || fail "agent exit code $AGENT_RC"
    round_json=$(jq --arg c "$c" --arg o "$(cat "$WORK/${c}_$r.txt")" \
      --argjson rps "$(rps_of "$WORK/${c}_$r.txt")" --argjson p99 "$(p99_ms "$WORK/${c}_$r.txt")" \
      --argjson sent "$sent" --argjson counted "$counted" \
      '.[$c] = {requests_per_sec: $rps, p99_ms: $p99, requests_answered: $sent,
                requests_counted: $counted, output: $o}' <<< "$round_json")
  done
  rounds_json+="${rounds_json:+,}$(jq --argjson r "$r" '.round = $r' <<< "$round_json")"
done
[ "$FAIL" = 0 ] || die "checks failed; section not written"

declare -A MRPS MP99
for c in none "${CONFIGS[@]}"; do
  # shellcheck disable=SC2086 # space-separated numbers
  MRPS[$c]=$(median3 ${RPS[$c]})
  # shellcheck disable=SC2086
  MP99[$c]=$(median3 ${P99[$c]})
done
summary_json=$(for c in none "${CONFIGS[@]}"; do
  jq -n --arg c "$c" --argjson rps "${MRPS[$c]}" --argjson p99 "${MP99[$c]}" \
    --argjson rr "$(awk -v a="${MRPS[$c]}" -v b="${MRPS[none]}" 'BEGIN { printf "%.4f", a / b }')" \
    --argjson pr "$(awk -v a="${MP99[$c]}" -v b="${MP99[none]}" 'BEGIN { printf "%.4f", a / b }')" \
    '{($c): {requests_per_sec: $rps, p99_ms: $p99, rps_ratio: $rr, p99_ratio: $pr}}'
done | jq -s add)
if [ -n "$RAW" ]; then
  jq -n --argjson rounds "[$rounds_json]" --argjson median "$summary_json" --arg cg "$CG" \
    --arg wrk "${WRK_ARGS[*]}" '{wrk: $wrk, cgroup: $cg, median: $median, rounds: $rounds}' > "$RAW"
fi

fmt_rps() { for v in "$@"; do printf '%.0f\n' "$v"; done | paste -sd/ | sed 's|/| / |g'; }
fmt_ms() { for v in "$@"; do printf '%.2f\n' "$v"; done | paste -sd/ | sed 's|/| / |g'; }
declare -A LABEL=([none]="no agent (baseline)" [tc]="TC, telemetry"
  [enforce]="TC, enforce, quotas that never trigger" [socket]="socket level (cgroup), telemetry")
rows="" verdicts=""
for c in none "${CONFIGS[@]}"; do
  rr=$(jq -r --arg c "$c" '.[$c].rps_ratio' <<< "$summary_json")
  pr=$(jq -r --arg c "$c" '.[$c].p99_ratio' <<< "$summary_json")
  # shellcheck disable=SC2086
  rows+="| ${LABEL[$c]} | $(printf '%.0f' "${MRPS[$c]}") | $(printf '%.3f' "$rr") | $(printf '%.2f' "${MP99[$c]}") | $(printf '%.2f' "$pr") | $(fmt_rps ${RPS[$c]}) | $(fmt_ms ${P99[$c]}) |"$'\n'
  [ "$c" = none ] && continue
  m1=$(awk -v r="$rr" -v t=$TARGET 'BEGIN { print (r >= t) ? "met" : "**missed**" }')
  m2=$(awk -v r="$pr" -v t=$TARGET_P99 'BEGIN { print (r <= t) ? "met" : "**missed**" }')
  verdicts+="- ${LABEL[$c]}: requests/s ratio $(printf '%.3f' "$rr") (≥ $TARGET: $m1), p99 ratio $(printf '%.2f' "$pr") (≤ $TARGET_P99: $m2)."$'\n'
  log "$c: requests/s ratio $rr ($m1), p99 ratio $pr ($m2)"
done
{
  echo "<!-- gateway:begin — written by bench/run.sh (bench/gateway.sh); edit outside these markers -->"
  cat <<EOF
## Gateway overhead

\`bench/gateway.sh\`, $(date -u +%Y-%m-%dT%H:%M:%SZ), on the machine of the
conditions above ($(nproc) cores; nginx, wrk and the agent share them):
nginx $(nginx -v 2>&1 | sed 's|.*/||') (\`worker_processes 1\`, \`return 200\`, no access
log) inside a child cgroup of the cgroup2 mount (\`${CG%/*}\`), \`wrk ${WRK_ARGS[*]}\`
(keep-alive) from a client in a network namespace behind a veth pair.
$ROUNDS alternating rounds of **no agent** and each configuration of the
real agent (\`$(basename "$TOLLGATE")\`), started before and stopped after each
of its runs: **TC, telemetry** (\`tg_tc_ingress\` on the host side of the
veth, monitor mode); **TC, enforce** (the same in enforce mode,
\`quotas.default\` 1,000,000 req/s and burst: every request start charges an
address bucket, and none was denied: checked); **socket level**
(\`{"interfaces": [], "cgroup": CG}\`: sockops and cgroup_skb on nginx's
cgroup, no TC program). Each agent run checks that the agent counted the
requests wrk had answered (up to the 32 in flight at the end). Figures:
median of the $ROUNDS rounds; the baseline of every ratio is the no-agent
median of the same run.

| | requests/s (median) | ÷ no agent | p99 latency ms (median) | ÷ no agent | requests/s per round | p99 per round (ms) |
|---|---:|---:|---:|---:|---|---|
${rows}
Targets: requests/s ratio ≥ $TARGET, p99 ratio ≤ $TARGET_P99.

${verdicts}
Raw figures (wrk's output, the agent's counts per round): \`build/gateway.json\`.
<!-- gateway:end -->
EOF
} > "$OUT"
log "wrote $OUT"
