#!/usr/bin/env bash
# Anomaly events: how fast they arrive, how many the delivery sustains, and
# what the agent costs while idle.
#
# - Detect-to-delivery latency: the real agent (enforce mode, a 1 s scan,
#   quota_exhausted critical, so sent at once) and a real receiver
#   (tests/lib/receiver.py). Each round, a fresh source address in a client
#   namespace sends one request its quota admits, then one beyond it
#   (bench/abuse.py notes when); latency = the receiver's arrival time of the
#   event naming that address minus that send time (one host, one clock).
#   The baseline is the scan interval: the latency a scan-driven detector
#   would have at best.
# - Delivery throughput: build/deliver_rate (bench/deliver_rate.c): events
#   to 2xx at a local receiver, every event received once, against bare
#   libcurl on the same loop and receiver.
# - Idle CPU: the agent with 5 webhooks and every detector on, no traffic,
#   against the same agent with no webhook and every detector off; CPU time
#   from /proc/PID/stat over the same interval.
#
#   sudo ./bench/alerts.sh SECTION.md [RAW.json]
#
# Namespaces, nginx, receivers and the agent are removed on exit, pass or
# fail (tests/lib/e2e.sh). Addresses in 198.18.0.0/15; gateway port 18183,
# API port 19490, receiver 19491. About 2 minutes.
set -euo pipefail
BENCH_NAME=alerts.sh
source "$(dirname "$0")/common.sh" "$@"
E2E_TAG=${E2E_TAG:-tgl$$}
ROUNDS=${ALERT_ROUNDS:-20}
IDLE_S=${ALERT_IDLE_S:-10}
PORT=18183
RX_PORT=19491
# shellcheck disable=SC1091 # tests/lib/e2e.sh
source "$ROOT/tests/lib/e2e.sh"
require_root
for c in nginx jq python3 ss; do
  command -v "$c" >/dev/null || die "$c is needed (apt-get install $c)"
done
python3 -c 'import jsonschema' 2>/dev/null || die "python3-jsonschema is needed"
[ -x "$TOLLGATE" ] || die "no agent binary at $TOLLGATE"
DELIVER_RATE=$(dirname "$TOLLGATE")/deliver_rate
[ -x "$DELIVER_RATE" ] || die "no $DELIVER_RATE (cmake --build build --target deliver_rate)"

make_client "${E2E_TAG}a" "${E2E_TAG}h1" "${E2E_TAG}c1" 198.18.20.1 198.18.20.2
# One source address per round: each is a new client, so each denial is new.
for i in $(seq 1 "$ROUNDS"); do
  ip -n "${E2E_TAG}a" addr add "198.18.21.$i/32" dev "${E2E_TAG}c1"
done
ip route add 198.18.21.0/24 dev "${E2E_TAG}h1" # goes with the veth
start_nginx $PORT

cat > "$WORK/agent.json" <<JSON
{
  "instance": "$E2E_TAG",
  "gateway": { "interfaces": ["${E2E_TAG}h1"], "ports": [$PORT] },
  "mode": "enforce",
  "quotas": { "clients": [
    { "name": "abusers", "cidr": "198.18.21.0/24", "share": "per_address", "requests_per_sec": 1, "burst": 1 }
  ] },
  "anomaly": { "scan_interval_ms": 1000, "window_ms": 10000,
               "quota_exhausted": { "severity": "critical" } },
  "webhooks": [ { "name": "rx", "url": "http://127.0.0.1:$RX_PORT/hook", "format": "generic" } ],
  "state_dir": "$WORK/state",
  "api": { "listen": "127.0.0.1:19490" }
}
JSON
start_receiver hook $RX_PORT
start_agent "$WORK/agent.json"

# --- detect-to-delivery latency ----------------------------------------------
: > "$WORK/lat.txt"
for i in $(seq 1 "$ROUNDS"); do
  addr=198.18.21.$i
  t=$(ip netns exec "${E2E_TAG}a" python3 "$BENCH/abuse.py" "$addr" 198.18.20.1 $PORT)
  arrived=""
  for _ in $(seq 50); do
    arrived=$(jq -r --arg a "$addr" 'select(.body.anomalies? and any(.body.anomalies[]; .type == "quota_exhausted" and .client.address == $a)) | .t' "$WORK/rx_hook.jsonl" | head -n1)
    [ -n "$arrived" ] && break
    sleep 0.1
  done
  [ -n "$arrived" ] || die "round $i: no event for $addr within 5 s"
  echo "$arrived $t" | awk '{ printf "%.6f\n", $1 - $2 }' >> "$WORK/lat.txt"
  sleep 0.2
done
invalid=$(jq -s '[.[] | select(.schema_ok == false)] | length' "$WORK/rx_hook.jsonl")
[ "$invalid" = 0 ] || die "$invalid events failed schema validation"
read -r lat_p50 lat_p99 lat_max < <(sort -n "$WORK/lat.txt" | awk '{ v[NR] = $1 } END {
  p50 = v[int((NR + 1) * 0.50)]; i99 = int(NR * 0.99 + 0.999); if (i99 > NR) i99 = NR
  printf "%.1f %.1f %.1f\n", p50 * 1000, v[i99] * 1000, v[NR] * 1000 }')
log "latency over $ROUNDS rounds: p50 $lat_p50 ms, p99 $lat_p99 ms"
stop_agent TERM

# --- delivery throughput ------------------------------------------------------
"$DELIVER_RATE" --burst 20000 --seconds 5 --json "$WORK/deliver.json" > "$WORK/deliver.txt" ||
  { cat "$WORK/deliver.txt"; die "deliver_rate lost or duplicated events"; }
cat "$WORK/deliver.txt" >&2

# --- idle CPU -------------------------------------------------------------------
# cpu_ms PID: utime + stime of a process, in ms
cpu_ms() { awk -v hz="$(getconf CLK_TCK)" '{ printf "%.0f\n", ($14 + $15) * 1000 / hz }' "/proc/$1/stat"; }
idle_run() { # idle_run CONFIG: CPU ms the agent uses over IDLE_S seconds, idle
  start_agent "$1"
  sleep 2 # past start-up and the first scans
  local c0 c1
  c0=$(cpu_ms "$AGENT_PID")
  sleep "$IDLE_S"
  c1=$(cpu_ms "$AGENT_PID")
  stop_agent TERM
  echo $((c1 - c0))
}
hooks=""
for n in 1 2 3 4 5; do
  hooks+="${hooks:+,} { \"name\": \"idle$n\", \"url\": \"http://127.0.0.1:$RX_PORT/idle$n\", \"format\": \"generic\" }"
done
jq --argjson h "[$hooks]" '.webhooks = $h | .anomaly.scan_interval_ms = 1000' "$WORK/agent.json" > "$WORK/idle_on.json"
jq '.webhooks = [] | .anomaly = (.anomaly | with_entries(if (.value | type) == "object" then .value.enabled = false else . end))' \
  "$WORK/agent.json" > "$WORK/idle_off.json"
"$TOLLGATE" check-config "$WORK/idle_on.json" >/dev/null && "$TOLLGATE" check-config "$WORK/idle_off.json" >/dev/null
cpu_on=$(idle_run "$WORK/idle_on.json")
cpu_off=$(idle_run "$WORK/idle_off.json")
log "idle CPU over ${IDLE_S} s: $cpu_on ms with detectors and webhooks, $cpu_off ms without"

# --- report -----------------------------------------------------------------------
d=$WORK/deliver.json
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "n/a" }'; }
ratio4() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.4f", a / b }'; }
pct() { awk -v ms="$1" -v s="$IDLE_S" 'BEGIN { printf "%.2f", ms / (s * 10) }'; }
cpu_model=$(grep -m1 '^model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//')
cat > "$OUT" <<EOF
<!-- alerts:begin — written by bench/run.sh; edit outside these markers -->
## Anomaly events: latency, delivery rate, idle cost

Machine: ${cpu_model:-$(uname -m)}, $(nproc) cores, kernel $(uname -r); $(date -u +%Y-%m-%d).
\`bench/alerts.sh\`: the real agent, nginx, a client namespace and a real
webhook receiver (\`tests/lib/receiver.py\`, which also validated every event
against \`schema/\`).

**Detect-to-delivery latency**, $ROUNDS rounds: a fresh client sends the
first request beyond its quota (\`quota_exhausted\`, critical, so sent at
once); from that send to the webhook's arrival of the event naming it.
Scan interval 1 s, the baseline (what a scan-driven detector would need at
best). Target: p50 ≤ 1 s.

| | p50 | p99 | max |
|---|---|---|---|
| latency (ms) | $lat_p50 | $lat_p99 | $lat_max |
| ratio to the 1 s scan interval | $(ratio4 "$lat_p50" 1000) | $(ratio4 "$lat_p99" 1000) | $(ratio4 "$lat_max" 1000) |

**Delivery throughput** (\`build/deliver_rate\`): one signed generic webhook
to a local receiver (a forked libuv process, 200 to all, keep-alive), which
counted every event once ($(jq .distinct "$d") distinct of $(jq .expected "$d"): no loss, no
duplicate). Baseline: the same bodies POSTed by bare libcurl multi on the
same loop to the same receiver, 16 in flight (no spool, format or signature).
Target: ≥ 5,000 events/s.

| | events/s | ratio to bare libcurl |
|---|---|---|
| bare libcurl (baseline) | $(jq '.baseline_rps | floor' "$d") | 1.00 |
| steady: $(jq .steady_events "$d") events over $(jq .steady_seconds "$d") s, spool files reused | $(jq '.steady_eps | floor' "$d") | $(ratio "$(jq .steady_eps "$d")" "$(jq .baseline_rps "$d")") |
| burst: $(jq .burst_events "$d") events queued at once, each a new spool file | $(jq '.burst_eps | floor' "$d") | $(ratio "$(jq .burst_eps "$d")" "$(jq .baseline_rps "$d")") |

The burst row is bound by creating files in the spool directory (ext4);
the steady row is the sustained rate once delivered files are reused.

**Agent CPU while idle**, over $IDLE_S s without traffic, scan 1 s: every
detector on with 5 webhooks, against every detector off and no webhook.

| | CPU ms | % of one core | ratio |
|---|---|---|---|
| detectors off, no webhook (baseline) | $cpu_off | $(pct "$cpu_off") | 1.00 |
| every detector on, 5 webhooks | $cpu_on | $(pct "$cpu_on") | $(ratio "$cpu_on" "$cpu_off") |
<!-- alerts:end -->
EOF
if [ -n "$RAW" ]; then
  jq -n --slurpfile d "$d" --argjson rounds "$ROUNDS" --arg lat "$(paste -sd, "$WORK/lat.txt")" \
    --argjson cpu_on "$cpu_on" --argjson cpu_off "$cpu_off" --argjson idle_s "$IDLE_S" \
    '{latency_s: ($lat | split(",") | map(tonumber)), rounds: $rounds, deliver: $d[0],
      idle: {seconds: $idle_s, cpu_ms_on: $cpu_on, cpu_ms_off: $cpu_off}}' > "$RAW"
fi
log "wrote $OUT"
