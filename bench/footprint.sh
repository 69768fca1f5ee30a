#!/usr/bin/env bash
# The agent's footprint with many tracked clients of which few are active:
# 1M, 100k and 1k tracked (gateway.max_clients the same), 10k active (all,
# if fewer), the default 1 s scan (FOOTPRINT_SCAN_MS). For each: the agent's RSS, its CPU over
# a fixed interval, how fresh an active client's figures are (a packet to
# the API showing it), and the kernel map memory per tracked client. Each
# figure also as a ratio to the 1k run (the baseline, same run).
#
# The clients are IPv6 addresses in fd00:198:18::/64 (identity.ipv6_prefix
# 128: each its own client) run through the agent's attached tg_tc_ingress
# with BPF_PROG_TEST_RUN (build/tgflood): the agent's own maps fill without
# sockets. The agent runs in a namespace of its own, attached to its lo.
#
#   sudo ./bench/footprint.sh SECTION.md [RAW.json]   (bench/run.sh footprint)
#   sudo ./bench/footprint.sh                         (writes BENCHMARKS.md itself)
#
# API port 19522 inside the namespace; namespace and instance tgprsf<pid>.
# About 3 minutes; everything it made is removed on exit. Freshness probes
# run with bench/freshness.py in the namespace (python3).
set -euo pipefail
standalone=0
if [ $# -eq 0 ]; then
  standalone=1
  _fp_tmp=$(mktemp -d /tmp/tollgate-footprint.XXXXXX)
  set -- "$_fp_tmp/footprint.md" "$_fp_tmp/footprint.json"
fi
BENCH_NAME=footprint.sh
source "$(dirname "$0")/common.sh" "$@"
E2E_TAG=${E2E_TAG:-tgprsf$$}
# shellcheck disable=SC1091 # tests/lib/e2e.sh
source "$ROOT/tests/lib/e2e.sh"
require_root
TGFLOOD=${TGFLOOD:-$(dirname "$TOLLGATE")/tgflood}
[ -x "$TOLLGATE" ] || die "no agent binary at $TOLLGATE"
[ -x "$TGFLOOD" ] || die "no tgflood at $TGFLOOD (cmake --build build --target tgflood)"
command -v bpftool >/dev/null || die "bpftool is needed"
SIZES=${FOOTPRINT_SIZES:-1000 100000 1000000}
ACTIVE=${FOOTPRINT_ACTIVE:-10000}
MEASURE_S=${FOOTPRINT_SECONDS:-15}
FRESH_S=${FOOTPRINT_FRESH_SECONDS:-12}
FRESH_PROBERS=${FOOTPRINT_FRESH_PROBERS:-4}
FRESH_LIMIT_S=${FOOTPRINT_FRESH_LIMIT_S:-8}
SCAN_MS=${FOOTPRINT_SCAN_MS:-1000} # anomaly.scan_interval_ms; 1000 is the default
PORT=8080
API_LISTEN=127.0.0.1:19522
NS=$E2E_TAG
ip netns add "$NS"
defer "ip netns del $NS"
ip -n "$NS" link set lo up
IN_NS="nsenter --net=/run/netns/$NS"
hz=$(getconf CLK_TCK)

napi() { $IN_NS curl -fsS --max-time 10 "http://$API_LISTEN$1"; }
nmetric() { napi /metrics | awk -v n="tollgate_$1{" 'index($0, n) == 1 && !v { v = $2 } END { print v }'; }
cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat"; }
now_ms() { echo $((${EPOCHREALTIME/./} / 1000)); }

results=()
run_size() {
  local n=$1 active=$ACTIVE dir=$WORK/n$1 prog pid t0 c0 c1 rss hwm i
  [ "$active" -le "$n" ] || active=$n
  local max=$n
  [ "$max" -ge 1024 ] || max=1024 # gateway.max_clients' floor
  mkdir -p "$dir"
  cat > "$dir/agent.json" <<JSON
{ "instance": "$E2E_TAG", "gateway": { "interfaces": ["lo"], "ports": [$PORT], "max_clients": $max },
  "identity": { "ipv6_prefix": 128 }, "api": { "listen": "$API_LISTEN" }, "state_dir": "$dir/state",
  "anomaly": { "scan_interval_ms": $SCAN_MS } }
JSON
  $IN_NS "$TOLLGATE" run --config "$dir/agent.json" > "$dir/agent.log" 2>&1 &
  pid=$!
  defer "kill $pid 2>/dev/null; wait $pid"
  for _ in $(seq 300); do
    napi /healthz >/dev/null 2>&1 && break
    kill -0 $pid 2>/dev/null || { cat "$dir/agent.log"; die "agent exited"; }
    sleep 0.1
  done
  prog=$($IN_NS tc filter show dev lo ingress | sed -n 's/.* id \([0-9]*\) name tg_tc_ingress.*/\1/p' | head -n1)
  [ -n "$prog" ] || die "no tg_tc_ingress on lo in $NS"
  echo "footprint: $n tracked: filling..." >&2
  # two injectors, one per core
  "$TGFLOOD" --prog-id "$prog" --port $PORT --count $((n / 2)) --first 0 >&2 &
  local f0=$!
  "$TGFLOOD" --prog-id "$prog" --port $PORT --count $((n - n / 2)) --first $((n / 2)) >&2
  wait $f0
  # settled: the active set drained and a sweep counted them
  local s0
  s0=$(nmetric sweeps_total)
  for _ in $(seq 120); do
    [ "$(nmetric scan_active_backlog)" = 0 ] && [ "$(nmetric sweeps_total)" -ge $((s0 + 1)) ] && break
    sleep 0.25
  done
  # active: one segment per active client per second, in the background
  "$TGFLOOD" --prog-id "$prog" --port $PORT --count "$active" --first 0 --passes 1000000 \
    --period-ms 1000 --seconds $((MEASURE_S + FRESH_S + FRESH_LIMIT_S + 10)) > "$dir/active.txt" 2>&1 &
  local fa=$!
  defer "kill $fa 2>/dev/null"
  sleep 3 # a few scans with the active clients in
  t0=$(now_ms)
  c0=$(cpu_ticks $pid)
  sleep "$MEASURE_S"
  c1=$(cpu_ticks $pid)
  local t1 cpu
  t1=$(now_ms)
  cpu=$(awk -v d=$((c1 - c0)) -v hz="$hz" -v ms=$((t1 - t0)) 'BEGIN { printf "%.2f", 100 * d / hz / (ms / 1000) }')
  rss=$(awk '/^VmRSS/ { print $2 }' "/proc/$pid/status")
  hwm=$(awk '/^VmHWM/ { print $2 }' "/proc/$pid/status")
  local scan_ms act clients
  scan_ms=$(nmetric scan_duration_seconds)
  act=$(nmetric scan_active_clients)
  clients=$(nmetric clients)
  # freshness: probes of active clients (so in the agent's snapshot), each
  # one segment with 100 payload bytes at a random point of the scan
  # interval (the active loop sends none), timed from the traffic to the
  # API answer that shows it (bench/freshness.py)
  local fresh=()
  mapfile -t fresh < <($IN_NS python3 "$ROOT/bench/freshness.py" --api "$API_LISTEN" \
    --tgflood "$TGFLOOD" --prog-id "$prog" --port $PORT --active "$active" \
    --seconds "$FRESH_S" --probers "$FRESH_PROBERS" --limit-s "$FRESH_LIMIT_S" --interval-s "$SCAN_MS"e-3)
  [ "${#fresh[@]}" -gt 0 ] || die "no freshness samples"
  kill $fa 2>/dev/null || true
  wait $fa 2>/dev/null || true
  # kernel map memory: every map the agent pinned, and tg_clients alone
  local pin=/sys/fs/bpf/tollgate/$E2E_TAG mem_all=0 mem_cl=0 m
  for f in "$pin"/v*/*; do
    m=$(bpftool -j map show pinned "$f" 2>/dev/null | jq '.bytes_memlock // 0')
    mem_all=$((mem_all + m))
    [ "$(basename "$f")" != tg_clients ] || mem_cl=$m
  done
  kill $pid
  wait $pid 2>/dev/null || true
  local fs
  fs=$(printf '%s\n' "${fresh[@]}" | sort -n | awk '{ a[NR] = $1 } END { printf "%d samples, median %s, max %s", NR, a[int((NR + 1) / 2)], a[NR] }')
  echo "footprint: $n tracked, $active active: RSS ${rss} KiB (peak $hwm), CPU $cpu%, fresh ms $fs, clients $clients, scan $scan_ms s, active/scan $act, maps $mem_all B (tg_clients $mem_cl B)" >&2
  results+=("$n $active $rss $hwm $cpu $mem_all $mem_cl $clients $scan_ms $act ${fresh[*]}")
}

for n in $SIZES; do run_size "$n"; done

SCAN_MS=$SCAN_MS python3 - "$OUT" "${RAW:-/dev/null}" "$MEASURE_S" "$(nproc)" "$(grep -c ^processor /proc/cpuinfo)" \
  "$(cut -d' ' -f1-3 /proc/loadavg)" "${results[@]}" <<'PY'
import json, math, os, statistics, sys
scan_ms = int(os.environ["SCAN_MS"])
scan = "default 1 s scan" if scan_ms == 1000 else f"a scan every {scan_ms} ms (`anomaly.scan_interval_ms`)"
def pct(v, q):  # nearest rank
    v = sorted(v)
    return v[max(0, math.ceil(q / 100 * len(v)) - 1)]
out, raw, measure_s, nproc, ncpu, load = sys.argv[1:7]
rows = []
for r in sys.argv[7:]:
    f = r.split()
    fresh = [float(x) for x in f[10:]]
    rows.append(dict(tracked=int(f[0]), active=int(f[1]), rss_kib=int(f[2]), hwm_kib=int(f[3]),
                     cpu_pct=float(f[4]), map_bytes=int(f[5]), clients_map_bytes=int(f[6]),
                     live=int(float(f[7])), scan_s=float(f[8]), active_per_scan=int(float(f[9])),
                     fresh_ms=fresh, fresh_median_ms=statistics.median(fresh), fresh_p99_ms=pct(fresh, 99),
                     fresh_max_ms=max(fresh)))
base = min(rows, key=lambda x: x["tracked"])
def ratio(a, b):
    return a / b if b else float("nan")
for x in rows:
    x["per_client_bytes"] = x["map_bytes"] / x["tracked"]
    x["clients_map_per_client_bytes"] = x["clients_map_bytes"] / x["tracked"]
big = max(rows, key=lambda x: x["tracked"])
targets = [
    ("RSS ≤ 128 MiB", big["rss_kib"] <= 128 * 1024, f'{big["rss_kib"] / 1024:.1f} MiB (peak {big["hwm_kib"] / 1024:.1f} MiB)'),
    ("CPU ≤ 10% of a core", big["cpu_pct"] <= 10, f'{big["cpu_pct"]:.2f}%'),
    ("active clients fresh within 1 s", big["fresh_max_ms"] <= 1000, f'median {big["fresh_median_ms"]:.0f} ms, p99 {big["fresh_p99_ms"]:.0f} ms, max {big["fresh_max_ms"]:.0f} ms of {len(big["fresh_ms"])}'),
]
L = []
L.append("<!-- footprint:begin — written by bench/run.sh (bench/footprint.sh); edit outside these markers -->")
L.append("## Agent footprint")
L.append("")
L.append(f"""`bench/footprint.sh`: the real agent ({scan}, monitor mode) in a
namespace of its own, attached to its `lo`, with `gateway.max_clients` equal to
the tracked clients (1,024 at least); the clients are IPv6 addresses (`identity.ipv6_prefix`
128) run through the agent's attached `tg_tc_ingress` with BPF_PROG_TEST_RUN
(`build/tgflood`), so the agent's own maps hold them. Once filled, the active
clients (10k, or all when fewer) each send one segment a second for
{measure_s} s: CPU is the agent's user + system time over that interval, RSS
is VmRSS at its end (peak: VmHWM). Freshness (`bench/freshness.py`): {len(big["fresh_ms"])} probes of active
clients, 4 at a time on different clients, each at a random point of the scan interval:
one segment with 100 payload bytes (the active clients' own carry none), timed
from the traffic (`tgflood --stamp`) to the answer of `/v1/clients/{{address}}`
(the agent's snapshot, polled every 10 ms on a kept-alive connection) that
shows it; an upper bound by one poll. A probe not seen within 8 s counts as
8 s (a miss). A packet waits for the next scan, 0 to one interval: when
every scan reads every active client the median is about half the interval
and the maximum the interval plus the time the scan takes to reach the
client and finish, so with a 1 s scan "within 1 s" at the maximum is at the
edge of what the interval allows. Map
memory is the `bytes_memlock` of every map the agent pinned (the kernel
memory the agent holds beside its RSS; the two are summed too), and per
tracked client (`tg_clients` alone is shown too; {ncpu} possible CPUs; since
layout v3 no per-client map grows with the CPU count: see "Kernel memory").
The baseline of each ratio is the {base["tracked"]:,}-client run of the same
invocation. Load average at the end: {load}.
""")
L.append("| tracked | active | RSS MiB (× base) | peak RSS MiB | kernel maps MiB | RSS + maps MiB | CPU % of a core (× base) | fresh ms median / p99 / max (× base) | map bytes / client (× base) | tg_clients bytes / client | active read per scan | scan ms |")
L.append("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
for x in sorted(rows, key=lambda x: -x["tracked"]):
    L.append(f'| {x["tracked"]:,} | {x["active"]:,} | {x["rss_kib"]/1024:.1f} ({ratio(x["rss_kib"], base["rss_kib"]):.2f}) '
             f'| {x["hwm_kib"]/1024:.1f} | {x["map_bytes"]/2**20:.1f} | {x["rss_kib"]/1024 + x["map_bytes"]/2**20:.1f} '
             f'| {x["cpu_pct"]:.2f} ({ratio(x["cpu_pct"], base["cpu_pct"]):.2f}) '
             f'| {x["fresh_median_ms"]:.0f} / {x["fresh_p99_ms"]:.0f} / {x["fresh_max_ms"]:.0f} ({ratio(x["fresh_median_ms"], base["fresh_median_ms"]):.2f}) '
             f'| {x["per_client_bytes"]:.0f} ({ratio(x["per_client_bytes"], base["per_client_bytes"]):.2f}) '
             f'| {x["clients_map_per_client_bytes"]:.0f} | {x["active_per_scan"]:,} | {x["scan_s"]*1000:.1f} |')
L.append("")
L.append(f'Targets at {big["tracked"]:,} tracked, {big["active"]:,} active:')
L.append("")
for name, met, val in targets:
    L.append(f'- {name}: {val} — {"met" if met else "**missed**"}')
L.append("")
L.append("Raw figures: `build/footprint.json`.")
L.append("<!-- footprint:end -->")
open(out, "w").write("\n".join(L) + "\n")
json.dump(dict(rows=rows, baseline=base["tracked"], measure_s=int(measure_s),
               targets=[dict(name=n, met=m, value=v) for n, m, v in targets]),
          open(raw, "w"), indent=1)
print("\n".join(L[L.index("| tracked | active | RSS MiB (× base) | peak RSS MiB | kernel maps MiB | RSS + maps MiB | CPU % of a core (× base) | fresh ms median / p99 / max (× base) | map bytes / client (× base) | tg_clients bytes / client | active read per scan | scan ms |"):]), file=sys.stderr)
PY

if [ $standalone = 1 ]; then
  replace_section footprint "Agent footprint" "$OUT" "$ROOT/BENCHMARKS.md"
  cp "$RAW" "$ROOT/build/footprint.json" 2>/dev/null || true
  rm -rf "$_fp_tmp"
  echo "footprint: wrote $ROOT/BENCHMARKS.md" >&2
fi
