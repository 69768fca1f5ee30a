#!/usr/bin/env bash
# Fleet accuracy: how many requests a key with a global quota gets through
# a fleet of N agents sharing it through Redis, against what the quota
# allows. For N in {1, 2, 3} and cluster.sync_interval_ms in {100, 1000}:
# N agents (each in its own namespace with its own nginx, started with
# nsenter --net), one redis-server of our own, one API-key entry with
# "global": true at Q req/s, burst Q. A client offers 3 Q spread evenly
# over the N gateways for t seconds (tests/lib/loadgen.py, open loop, a new
# connection per request, 0.5 s timeout). accepted = requests answered 200;
# expected = Q × t' + burst, t' the span loadgen measured (the load's
# t plus the tail in which a dropped request's retransmission may still
# pass); accuracy = accepted / expected. Also the kernel's admitted count
# (tollgate_cluster_quota_admitted_total, summed over the nodes) and the
# Redis commands per second per agent (tollgate_cluster_redis_ops_total).
#
#   sudo ./bench/fleet.sh SECTION.md [RAW.json]
#
# Writes the "Fleet accuracy" section of BENCHMARKS.md (between its
# markers) to SECTION.md; bench/run.sh puts it in place. Addresses
# 198.18.145.0/24..198.18.147.0/24, gateway port 18145, API ports
# 19545..19547, Redis port 16385. About 2 minutes on a quiet machine, most
# of it the agents' start (BPF verification).
set -euo pipefail
BENCH_NAME=fleet.sh
source "$(dirname "$0")/common.sh" "$@"
E2E_TAG=${E2E_TAG:-tgfltb$$}
# shellcheck disable=SC1091 # tests/lib/e2e.sh
source "$ROOT/tests/lib/e2e.sh"
FLEET_NET=144 FLEET_PORT=18145 FLEET_API=19544 FLEET_REDIS_PORT=16385
# shellcheck disable=SC1091
source "$ROOT/tests/lib/fleet.sh"
require_root
for c in nginx redis-server redis-cli jq python3; do
  command -v "$c" >/dev/null || die "$c is needed (scripts/install-deps.sh bench)"
done
[ -x "$TOLLGATE" ] || die "no agent binary at $TOLLGATE (build it: cmake --build build --target tollgate)"

Q=${FLEET_Q:-40}
T=${FLEET_T:-8}
load_before=$(cut -d" " -f1-3 /proc/loadavg)
make_nodes
start_redis

runs_json=""
rows=""
for sync in 100 1000; do
  # One start of the three agents per sync interval: the quota of the
  # N-node run ("bench-<sync>-<N>", a key of its own) is configured on
  # nodes 1..N only, so only they share it (an agent without the entry
  # never reports it); the runs take turns.
  for i in 1 2 3; do
    entries=""
    for n in 1 2 3; do
      [ "$i" -le "$n" ] || continue
      entries+="${entries:+,}"'{ "name": "bench-'"$sync-$n"'", "api_key": "sk-fleet-bench-'"$sync-$n-$$"'",
        "requests_per_sec": '"$Q"', "burst": '"$Q"', "global": true }'
    done
    write_agent_cfg "$i" "$sync" "[$entries]"
  done
  start_agents 1 2 3
  wait_connected 1 2 3 || die "agents did not connect to redis ($sync ms)"
  for n in 1 2 3; do
    key="sk-fleet-bench-$sync-$n-$$"
    nodes=$(seq "$n")
    sleep 0.5 # a few rounds: the leases settle
    declare -A ops0=() to0=()
    for i in $nodes; do
      ops0[$i]=$(metric "$i" '^tollgate_cluster_redis_ops_total')
      to0[$i]=$(metric "$i" '^tollgate_cluster_errors_total')
    done
    t0=$(date +%s.%N)
    rate=$(awk -v q="$Q" -v n="$n" 'BEGIN { printf "%.3f", 3 * q / n }')
    # shellcheck disable=SC2086
    fleet_load "$rate" "$T" "$key" $nodes
    t1=$(date +%s.%N)
    # shellcheck disable=SC2086
    accepted=$(fleet_through $nodes)
    files=()
    for i in $nodes; do files+=("$WORK/lg$i.json"); done
    span=$(jq -s 'map(.duration_s) | add / length' "${files[@]}")
    offered=$(jq -s 'map(.offered) | add' "${files[@]}")
    expected=$(awk -v q="$Q" -v s="$span" 'BEGIN { printf "%.0f", q * s + q }')
    admitted=0 opsrate="" faults=0
    for i in $nodes; do
      a=$(napi "$i" /metrics | awk -v q="bench-$sync-$n" '$1 ~ "^tollgate_cluster_quota_admitted_total" && index($1, "quota=\"" q "\"") { print $2 }')
      admitted=$((admitted + ${a%.*}))
      o=$(metric "$i" '^tollgate_cluster_redis_ops_total')
      e=$(metric "$i" '^tollgate_cluster_errors_total')
      faults=$((faults + ${e%.*} - ${to0[$i]%.*}))
      # per global quota: node i has 4 - i of them (entries n >= i)
      opsrate+="${opsrate:+ }$(awk -v a="${ops0[$i]}" -v b="$o" -v t0="$t0" -v t1="$t1" -v k=$((4 - i)) \
        'BEGIN { printf "%.1f", (b - a) / (t1 - t0) / k }')"
    done
    ratio=$(awk -v a="$accepted" -v e="$expected" 'BEGIN { printf "%.3f", a / e }')
    kratio=$(awk -v a="$admitted" -v e="$expected" 'BEGIN { printf "%.3f", a / e }')
    opsmean=$(echo "$opsrate" | awk '{ for (i = 1; i <= NF; i++) s += $i; printf "%.1f", s / NF }')
    log "$n nodes, $sync ms: offered $offered, accepted $accepted, kernel $admitted, expected $expected ($ratio); redis ops/s per agent and global quota: $opsrate"
    target="—"
    if [ "$sync" = 100 ]; then
      if awk -v r="$ratio" 'BEGIN { exit !(r >= 0.95 && r <= 1.05) }'; then target=met; else target="**missed**"; fi
    fi
    rows+="| $n | $sync | $offered | $accepted | $admitted | $expected | $ratio | $kratio | $opsmean | $faults | $target |"$'\n'
    runs_json+="${runs_json:+,}$(jq -n --argjson n "$n" --argjson sync "$sync" --argjson q "$Q" \
      --argjson t "$T" --argjson span "$span" --argjson offered "$offered" \
      --argjson accepted "$accepted" --argjson admitted "$admitted" --argjson expected "$expected" \
      --arg ops "$opsrate" --argjson faults "$faults" \
      '{nodes: $n, sync_interval_ms: $sync, Q: $q, burst: $q, t: $t, span_s: $span,
        offered: $offered, accepted: $accepted, kernel_admitted: $admitted,
        expected: $expected, ratio: ($accepted / $expected), sync_faults: $faults,
        redis_ops_per_sec_per_agent_and_quota: ($ops | split(" ") | map(tonumber))}')"
  done
  stop_agents 1 2 3
done

if [ -n "$RAW" ]; then
  echo "{\"runs\":[$runs_json]}" | jq . > "$RAW"
fi

{
  echo "<!-- fleet:begin — written by bench/run.sh (bench/fleet.sh); edit outside these markers -->"
  cat <<EOF
## Fleet accuracy

\`bench/fleet.sh\`, $(date -u +%Y-%m-%dT%H:%M:%SZ), on the machine of the
conditions above: N real agents (\`$(basename "$TOLLGATE")\`, enforce mode), each
in its own network namespace with its own nginx (one worker) and started
with \`nsenter --net\`, and one redis-server $(redis-server --version | sed -n 's/.*v=\([^ ]*\).*/\1/p')
on the host, reached over the namespaces' veth pairs. One API key has a
global quota (\`"global": true\`) of Q = $Q req/s with burst Q; its
client offers 3 Q spread evenly over the N gateways for t = $T s
(\`tests/lib/loadgen.py\`, open loop, a new connection per request, 0.5 s
timeout). **Accepted**: requests answered 200; **kernel**: request starts
the agents' kernels admitted under the quota, summed over the nodes;
**expected**: Q·t' + burst, t' being the load's span as loadgen measured
it (t plus the tail in which a dropped request's retransmission may still
pass); **accuracy** = accepted / expected. The three agents are started
once per sync interval; the N-node run's quota (a key of its own) is
configured on nodes 1..N only, so only they share it. **Redis ops/s**:
commands each agent sent during the load (one EVALSHA per global quota per
sync interval, the quotas of the other runs included), divided by the
global quotas it has, the mean over the N agents. Target: accuracy
1.00 ± 0.05 at 100 ms. **Sync faults**: rounds that timed out or failed
during the load, summed over the agents (each one a short fallback to the
local share; see docs/guide/fleet.md). Load average: $load_before before,
$(cut -d" " -f1-3 /proc/loadavg) after (the machine is shared: the agents
and nginx compete with other work for its cores).

| nodes | sync ms | offered | accepted | kernel | expected | accuracy | kernel / expected | Redis ops/s per agent and global quota | sync faults | target |
|---|---|---|---|---|---|---|---|---|---|---|
$rows
At 1 s a node's lease covers a whole second of the rate, so what the
nodes still hold unused when the load stops (up to Q·T in all) is the
shortfall; docs/guide/fleet.md gives the bound.

Raw figures: \`build/fleet.json\`.
EOF
  echo "<!-- fleet:end -->"
} > "$OUT"
