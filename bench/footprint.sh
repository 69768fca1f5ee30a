#!/usr/bin/env bash
# The agent's footprint with many tracked clients of which few are active:
# 1M, 100k and 1k tracked (gateway.max_clients the same), 10k active (all,
# if fewer), the default 1 s scan. For each: the agent's RSS, its CPU over
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
# About 3 minutes; everything it made is removed on exit.
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
# shellcheck disable=SC1091 # tests/e2e/lib.sh
source "$ROOT/tests/e2e/lib.sh"
require_root
TGFLOOD=${TGFLOOD:-$(dirname "$TOLLGATE")/tgflood}
[ -x "$TOLLGATE" ] || die "no agent binary at $TOLLGATE"
[ -x "$TGFLOOD" ] || die "no tgflood at $TGFLOOD (cmake --build build --target tgflood)"
command -v bpftool >/dev/null || die "bpftool is needed"
SIZES=${FOOTPRINT_SIZES:-1000 100000 1000000}
ACTIVE=${FOOTPRINT_ACTIVE:-10000}
MEASURE_S=${FOOTPRINT_SECONDS:-15}
FRESH_ROUNDS=${FOOTPRINT_FRESH_ROUNDS:-5}
FRESH_LIMIT_S=${FOOTPRINT_FRESH_LIMIT_S:-8}
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
# addr_of I: the flood's address of client I (tgflood: prefix + I)
addr_of() { printf 'fd00:198:18::%x:%x' $(($1 >> 16)) $(($1 & 0xffff)); }

results=()
run_size() {
  local n=$1 active=$ACTIVE dir=$WORK/n$1 prog pid t0 c0 c1 rss hwm i
  [ "$active" -le "$n" ] || active=$n
  local max=$n
  [ "$max" -ge 1024 ] || max=1024 # gateway.max_clients' floor
  mkdir -p "$dir"
  cat > "$dir/agent.json" <<JSON
{ "instance": "$E2E_TAG", "gateway": { "interfaces": ["lo"], "ports": [$PORT], "max_clients": $max },
  "identity": { "ipv6_prefix": 128 }, "api": { "listen": "$API_LISTEN" }, "state_dir": "$dir/state" }
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
    --period-ms 1000 --seconds $((MEASURE_S + FRESH_ROUNDS * 3 + 10)) > "$dir/active.txt" 2>&1 &
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
  # freshness: a client of the active set (so in the agent's snapshot)
  # gets one segment with 100 payload bytes (the active loop sends none);
  # then its payload_bytes is polled in the API every 10 ms
  local probe=0 addr fresh=() p0 p1 ts te
  addr=$(addr_of $probe)
  for ((i = 0; i < FRESH_ROUNDS; i++)); do
    sleep 0.$((RANDOM % 9 + 1)) # somewhere within a scan interval
    p0=$(napi "/v1/clients/$addr" | jq .payload_bytes)
    ts=$(now_ms)
    "$TGFLOOD" --prog-id "$prog" --port $PORT --count 1 --first $probe --payload 100 >/dev/null
    te=""
    while [ $(($(now_ms) - ts)) -lt $((FRESH_LIMIT_S * 1000)) ]; do
      p1=$(napi "/v1/clients/$addr" | jq .payload_bytes)
      if [ "$p1" -gt "$p0" ]; then te=$(now_ms); break; fi
      sleep 0.01
    done
    # not seen within the limit: recorded as the limit (a miss)
    fresh+=($((${te:-$(now_ms)} - ts)))
  done
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
  fs=$(printf '%s\n' "${fresh[@]}" | sort -n | tr '\n' ' ')
  echo "footprint: $n tracked, $active active: RSS ${rss} KiB (peak $hwm), CPU $cpu%, fresh ms $fs, clients $clients, scan $scan_ms s, active/scan $act, maps $mem_all B (tg_clients $mem_cl B)" >&2
  results+=("$n $active $rss $hwm $cpu $mem_all $mem_cl $clients $scan_ms $act ${fresh[*]}")
}

for n in $SIZES; do run_size "$n"; done

python3 - "$OUT" "${RAW:-/dev/null}" "$MEASURE_S" "$(nproc)" "$(grep -c ^processor /proc/cpuinfo)" \
  "$(cut -d' ' -f1-3 /proc/loadavg)" "${results[@]}" <<'PY'
import json, statistics, sys
out, raw, measure_s, nproc, ncpu, load = sys.argv[1:7]
rows = []
for r in sys.argv[7:]:
    f = r.split()
    fresh = [int(x) for x in f[10:]]
    rows.append(dict(tracked=int(f[0]), active=int(f[1]), rss_kib=int(f[2]), hwm_kib=int(f[3]),
                     cpu_pct=float(f[4]), map_bytes=int(f[5]), clients_map_bytes=int(f[6]),
                     live=int(float(f[7])), scan_s=float(f[8]), active_per_scan=int(float(f[9])),
                     fresh_ms=fresh, fresh_median_ms=statistics.median(fresh), fresh_max_ms=max(fresh)))
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
    ("active clients fresh within 1 s", big["fresh_max_ms"] <= 1000, f'max {big["fresh_max_ms"]} ms of {len(big["fresh_ms"])}'),
]
L = []
L.append("<!-- footprint:begin — written by bench/run.sh (bench/footprint.sh); edit outside these markers -->")
L.append("## Agent footprint")
L.append("")
L.append(f"""`bench/footprint.sh`: the real agent (default 1 s scan, monitor mode) in a
namespace of its own, attached to its `lo`, with `gateway.max_clients` equal to
the tracked clients (1,024 at least); the clients are IPv6 addresses (`identity.ipv6_prefix`
128) run through the agent's attached `tg_tc_ingress` with BPF_PROG_TEST_RUN
(`build/tgflood`), so the agent's own maps hold them. Once filled, the active
clients (10k, or all when fewer) each send one segment a second for
{measure_s} s: CPU is the agent's user + system time over that interval, RSS
is VmRSS at its end (peak: VmHWM). Freshness: a packet of one active client,
then its figures polled on `/v1/clients/{{address}}` (the agent's snapshot) every
10 ms (a segment with 100 payload bytes; the active clients' own carry none), {len(big["fresh_ms"])} times at random points of the scan interval, each given 8 s at most (a miss counts as the time given). The time includes starting
`tgflood` and each poll's `nsenter` + `curl`. Map
memory is the `bytes_memlock` of every map the agent pinned, per tracked
client (the per-CPU `tg_clients` alone is shown too; {ncpu} possible CPUs).
The baseline of each ratio is the {base["tracked"]:,}-client run of the same
invocation. Load average at the end: {load}.
""")
L.append("| tracked | active | RSS MiB (× base) | peak RSS MiB | CPU % of a core (× base) | fresh ms median / max (× base) | map bytes / client (× base) | tg_clients bytes / client | active read per scan | scan ms |")
L.append("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
for x in sorted(rows, key=lambda x: -x["tracked"]):
    L.append(f'| {x["tracked"]:,} | {x["active"]:,} | {x["rss_kib"]/1024:.1f} ({ratio(x["rss_kib"], base["rss_kib"]):.2f}) '
             f'| {x["hwm_kib"]/1024:.1f} | {x["cpu_pct"]:.2f} ({ratio(x["cpu_pct"], base["cpu_pct"]):.2f}) '
             f'| {x["fresh_median_ms"]:.0f} / {x["fresh_max_ms"]} ({ratio(x["fresh_median_ms"], base["fresh_median_ms"]):.2f}) '
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
print("\n".join(L[L.index("| tracked | active | RSS MiB (× base) | peak RSS MiB | CPU % of a core (× base) | fresh ms median / max (× base) | map bytes / client (× base) | tg_clients bytes / client | active read per scan | scan ms |"):]), file=sys.stderr)
PY

if [ $standalone = 1 ]; then
  replace_section footprint "Agent footprint" "$OUT" "$ROOT/BENCHMARKS.md"
  cp "$RAW" "$ROOT/build/footprint.json" 2>/dev/null || true
  rm -rf "$_fp_tmp"
  echo "footprint: wrote $ROOT/BENCHMARKS.md" >&2
fi
