#!/usr/bin/env bash
# Gateway throughput with socket-level tracking attached against without
# it, in the same run. nginx (worker_processes 1, `return 200`) runs inside
# a child cgroup of the cgroup2 mount; wrk -t1 -c32 -d8s (keep-alive) from a
# client in a network namespace behind a veth pair. Three alternating
# rounds of: no agent; the agent attached to nginx's cgroup only
# (gateway.interfaces [], gateway.cgroup, port 8080: sockops and
# cgroup_skb ingress/egress, telemetry, no TC program). Median requests/s
# and p99 latency of each; the ratio agent ÷ no agent (target ≥ 0.97 on
# requests/s). Each agent round checks that the agent counted, through
# cgroup_skb alone, the requests wrk sent in it.
#
#   sudo ./bench/gateway.sh SECTION.md [RAW.json]
#
# Writes the "Gateway throughput with socket-level tracking" section of
# BENCHMARKS.md (between its markers) to SECTION.md; bench/run.sh puts it
# in place. Namespace, veth pair, cgroup, nginx and the agent are removed on
# exit, pass or fail (tests/e2e/lib.sh's EXIT trap; the cgroup after nginx
# has exited). Addresses in 198.18.0.0/15; API port 19478. About 70 s.
set -euo pipefail
BENCH_NAME=gateway.sh
source "$(dirname "$0")/common.sh" "$@"
E2E_TAG=${E2E_TAG:-tgg$$}
PORT=${GATEWAY_PORT:-8080} # GATEWAY_PORT when 8080 is taken
API_LISTEN=127.0.0.1:19478
ROUNDS=${GATEWAY_ROUNDS:-5} # alternating; single rounds vary by ±20% on a shared VM
D=8 # seconds of each wrk run
WRK_ARGS=(-t1 -c32 "-d${D}s" --timeout 2s --latency)
TARGET=0.97
H4=198.18.1.1 # the gateway, host side of the veth (away from the e2e tests' addresses)
C4=198.18.1.2 # the client
# shellcheck disable=SC1091 # tests/e2e/lib.sh
source "$ROOT/tests/e2e/lib.sh"
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
# The shell moves itself into the cgroup, then becomes nginx: every socket
# nginx creates belongs to the cgroup.
bash -c "echo \$\$ > $CG/cgroup.procs && exec nginx -c $WORK/nginx.conf -e $WORK/nginx/error.log" &
NGINX_PID=$!
defer "kill $NGINX_PID; wait $NGINX_PID"
wait_port $PORT
check "nginx master and worker run inside the cgroup" 2 "$(grep -c . "$CG/cgroup.procs")"

cat > "$WORK/agent.json" <<JSON
{
  "instance": "$E2E_TAG",
  "gateway": { "interfaces": [], "cgroup": "$CG", "ports": [$PORT] },
  "api": { "listen": "$API_LISTEN" }
}
JSON

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

declare -a RPS_NONE RPS_AGENT P99_NONE P99_AGENT
rounds_json=""
for r in $(seq $ROUNDS); do
  log "round $r: no agent"
  wrk_run "$WORK/none_$r.txt"
  RPS_NONE+=("$(rps_of "$WORK/none_$r.txt")")
  P99_NONE+=("$(p99_ms "$WORK/none_$r.txt")")
  check "round $r, no agent: no errors" 0 "$(errors_of "$WORK/none_$r.txt")"

  log "round $r: agent attached to the cgroup"
  start_agent "$WORK/agent.json"
  if [ "$r" = 1 ]; then
    if grep -q "attached.*cgroup=$CG" "$AGENT_LOG"; then
      ok "agent attached to the cgroup"
    else
      cat "$AGENT_LOG"
      die "no 'attached ... cgroup=$CG' in the agent log"
    fi
    check "no TC filter on the client's veth (socket level only)" "" \
      "$(tc filter show dev "${E2E_TAG}h1" ingress)"
  fi
  before=$(agent_requests)
  wrk_run "$WORK/agent_$r.txt"
  RPS_AGENT+=("$(rps_of "$WORK/agent_$r.txt")")
  P99_AGENT+=("$(p99_ms "$WORK/agent_$r.txt")")
  check "round $r, agent: no errors" 0 "$(errors_of "$WORK/agent_$r.txt")"
  sent=$(reqs_of "$WORK/agent_$r.txt")
  # the agent reads its maps periodically: wait for the count (10 s at most)
  for _ in $(seq 50); do
    counted=$(($(agent_requests) - before))
    [ "$counted" -lt "$sent" ] || break
    sleep 0.2
  done
  # wrk counts only answered requests: a request in flight at the end is sent, not counted
  if [ "$counted" -ge "$sent" ] && [ "$counted" -le $((sent + 32)) ]; then
    ok "round $r: the agent counted the requests through cgroup_skb ($counted for wrk's $sent)"
  else
    fail "round $r: the agent counted $counted requests, wrk answered $sent"
  fi
  stop_agent TERM
  [ "$AGENT_RC" = 0 ] || fail "agent exit code $AGENT_RC"
  rounds_json+="${rounds_json:+,}$(jq -n --argjson r "$r" \
    --argjson rn "${RPS_NONE[-1]}" --argjson pn "${P99_NONE[-1]}" \
    --argjson ra "${RPS_AGENT[-1]}" --argjson pa "${P99_AGENT[-1]}" \
    --argjson sent "$sent" --argjson counted "$counted" \
    --arg on "$(cat "$WORK/none_$r.txt")" --arg oa "$(cat "$WORK/agent_$r.txt")" \
    '{round: $r, no_agent: {requests_per_sec: $rn, p99_ms: $pn, output: $on},
      agent: {requests_per_sec: $ra, p99_ms: $pa, requests_answered: $sent,
              requests_counted: $counted, output: $oa}}')"
done
[ "$FAIL" = 0 ] || die "checks failed; section not written"

rn=$(median3 "${RPS_NONE[@]}")
ra=$(median3 "${RPS_AGENT[@]}")
pn=$(median3 "${P99_NONE[@]}")
pa=$(median3 "${P99_AGENT[@]}")
ratio=$(awk -v a="$ra" -v b="$rn" 'BEGIN { printf "%.3f", a / b }')
pratio=$(awk -v a="$pa" -v b="$pn" 'BEGIN { printf "%.2f", a / b }')
met=$(awk -v r="$ratio" -v t=$TARGET 'BEGIN { print (r >= t) ? "met" : "**missed**" }')
log "requests/s: no agent $rn, agent $ra (ratio $ratio, target >= $TARGET $met); p99 $pn ms vs $pa ms"

if [ -n "$RAW" ]; then
  jq -n --argjson rounds "[$rounds_json]" --argjson rn "$rn" --argjson ra "$ra" \
    --argjson pn "$pn" --argjson pa "$pa" --argjson ratio "$ratio" --arg cg "$CG" \
    --arg wrk "${WRK_ARGS[*]}" \
    '{wrk: $wrk, cgroup: $cg, median: {no_agent: {requests_per_sec: $rn, p99_ms: $pn},
      agent: {requests_per_sec: $ra, p99_ms: $pa}, rps_ratio: $ratio}, rounds: $rounds}' > "$RAW"
fi

fmt_rps() { for v in "$@"; do printf '%.0f\n' "$v"; done | paste -sd/ | sed 's|/| / |g'; }
fmt_ms() { for v in "$@"; do printf '%.2f\n' "$v"; done | paste -sd/ | sed 's|/| / |g'; }
{
  echo "<!-- gateway:begin — written by bench/run.sh (bench/gateway.sh); edit outside these markers -->"
  cat <<EOF
## Gateway throughput with socket-level tracking

\`bench/gateway.sh\`, $(date -u +%Y-%m-%dT%H:%M:%SZ), on the machine of the
conditions above ($(nproc) cores; nginx, wrk and the agent share them):
nginx $(nginx -v 2>&1 | sed 's|.*/||') (\`worker_processes 1\`, \`return 200\`, no access
log) inside a child cgroup of the cgroup2 mount (\`${CG%/*}\`), \`wrk ${WRK_ARGS[*]}\`
(keep-alive) from a client in a network namespace behind a veth pair.
$ROUNDS alternating rounds of **no agent** and **agent**: the real agent
(\`$(basename "$TOLLGATE")\`, telemetry) with \`{"gateway": {"interfaces": [],
"cgroup": CG, "ports": [$PORT]}}\`, so sockops and cgroup_skb
ingress/egress on nginx's cgroup and no TC program; started before and
stopped after each of its rounds. Each agent round checks that the agent
counted, through cgroup_skb alone, the requests wrk had answered (up to
the 32 in flight at the end). Figures: median of the $ROUNDS rounds; the
baseline is the no-agent median of the same run.

| | requests/s (median) | p99 latency (median) | requests/s per round | p99 per round (ms) |
|---|---:|---:|---|---|
| no agent (baseline) | $(printf '%.0f' "$rn") | $(printf '%.2f' "$pn") ms | $(fmt_rps "${RPS_NONE[@]}") | $(fmt_ms "${P99_NONE[@]}") |
| agent, socket-level tracking | $(printf '%.0f' "$ra") | $(printf '%.2f' "$pa") ms | $(fmt_rps "${RPS_AGENT[@]}") | $(fmt_ms "${P99_AGENT[@]}") |
| agent ÷ no agent | **$ratio** | $pratio | | |

Target requests/s ratio ≥ $TARGET: $met.

Raw figures (wrk's output, the agent's counts per round): \`build/gateway.json\`.
<!-- gateway:end -->
EOF
} > "$OUT"
log "wrote $OUT"
