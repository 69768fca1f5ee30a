#!/usr/bin/env bash
# Runs the benchmarks and writes their sections of BENCHMARKS.md at the
# repository root, each between its markers (other text is kept as it is):
#
#   pktcost      the conditions and the per-packet cost of the TC program
#                (build/pktcost, bench/pktcost.c), every figure in ns and as a
#                ratio to the trivial program measured in the same run;
#   enforcecost  the per-packet cost with enforcement: the same program in an
#                enforce-mode configuration with quotas, side by side with the
#                telemetry-only one, from the same pktcost run;
#   socketcost   the per-packet cost of the socket-level path (cgroup_skb)
#                against the TC path, and of responses (TC and cgroup
#                egress), from the same pktcost run;
#   accuracy     enforcement accuracy: bench/accuracy.sh, the real agent and
#                nginx with clients in network namespaces, accepted requests
#                against R·t + burst;
#   livecost     the per-packet cost on live traffic: kernel.bpf_stats of
#                tg_tc_ingress beside a trivial program on the same hook,
#                wrk and streams through a veth, 1k/100k/1M clients
#                tracked: bench/livecost.sh;
#   gateway      gateway requests/s and p99 latency with the agent (TC
#                telemetry, TC enforce, socket level) against without it:
#                bench/gateway.sh, nginx in a cgroup, wrk from a client
#                namespace;
#   flood        a legitimate client's p99 and throughput beside an abusive
#                client, with no limiter, nginx limit_req, tollgate's kernel
#                drop and tollgate's auth_request hook: bench/flood.sh;
#   alerts       anomaly events: detect-to-delivery latency (the real agent
#                and receiver), delivery throughput (build/deliver_rate)
#                against bare libcurl, and the agent's idle CPU:
#                bench/alerts.sh;
#   check        /v1/check under wrk against the API's /healthz, and nginx
#                with the auth_request hook against without: bench/check.sh;
#   fleet        global-quota accuracy across 1, 2 and 3 agents sharing one
#                Redis, at sync intervals of 100 ms and 1 s, and Redis
#                commands per second per agent: bench/fleet.sh;
#   footprint    the agent's RSS, CPU, freshness and map memory per client
#                with 1M, 100k and 1k tracked clients, 10k active:
#                bench/footprint.sh.
#
# Then the figures (bench/plots.sh: gnuplot, SVG in bench/plots/) from the
# raw figures in the build directory, and the "Run time" section: how long
# each benchmark took when it last ran, and their total.
#
#   sudo ./bench/run.sh                  # every benchmark; BUILD_DIR=build
#   sudo ./bench/run.sh pktcost gateway  # or some (names above)
#   PKTCOST_ARGS="--sizes 1000" sudo -E ./bench/run.sh
#
# Needs root (BPF_PROG_TEST_RUN, namespaces, cgroups). Builds pktcost, the
# agent and the helpers first if needed. Each benchmark has a watchdog (the
# table below); the total is measured and written to BENCHMARKS.md. Other work on the machine shows up as noise, so run it on a
# quiet host.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)

# ---- the benchmarks ----------------------------------------------------------
# bench NAME RUNS WATCHDOG ABOUT TARGETS REPORT SECTION...: one benchmark.
# They run in the order of this table, and write their sections and report
# in it.
#   NAME      what `bench/run.sh NAME` selects; its raw figures are kept in
#             the build directory as NAME.json
#   RUNS      bench/NAME.sh (arguments SECTION.md RAW.json: bench/common.sh),
#             or pktcost: the build's pktcost (bench/pktcost.c, run_pktcost)
#   WATCHDOG  seconds before timeout(1) stops it
#   ABOUT     how long it takes, for the progress line
#   TARGETS   the build targets it needs
#   REPORT    what of its results is printed at the end (run in $tmp)
#   SECTION   MARKER=HEADING: a section of BENCHMARKS.md it writes, from
#             $tmp/MARKER.md (bench/common.sh: replace_section)
names=()
declare -A runs watchdog about needs report sections
bench() {
  local n=$1
  names+=("$n")
  runs[$n]=$2 watchdog[$n]=$3 about[$n]=$4 needs[$n]=$5 report[$n]=$6
  shift 6
  sections[$n]=$(printf '%s\n' "$@")
}
bench pktcost   pktcost            300 "about 1.5 minutes" "pktcost" \
  "cat table.md enforce.md socket.md" \
  "pktcost=Conditions" \
  "enforcecost=Per-packet cost with enforcement" \
  "socketcost=Per-packet cost of the socket-level path"
bench accuracy  bench/accuracy.sh  150 "about 1 minute" "tollgate" \
  "sed -n '/^| R /,/^\$/p' accuracy.md" \
  "accuracy=Enforcement accuracy"
bench livecost  bench/livecost.sh  420 "about 3 minutes" "tollgate populate" \
  "grep '^| ' livecost.md" \
  "livecost=Per-packet cost on live traffic (bpf_stats)"
bench gateway   bench/gateway.sh   360 "about 2.5 minutes" "tollgate" \
  "sed -n '/^| no agent/,/^Raw/p' gateway.md" \
  "gateway=Gateway overhead"
bench flood     bench/flood.sh     420 "about 2.5 minutes" "tollgate" \
  "sed -n '/^| baseline/,/^Raw/p' flood.md" \
  "flood=Under flood: a legitimate client beside an abusive one"
bench alerts    bench/alerts.sh    300 "about 2 minutes" "tollgate deliver_rate" \
  "grep '^| ' alerts.md" \
  "alerts=Anomaly events: latency, delivery rate, idle cost"
bench check     bench/check.sh     240 "about 2 minutes" "tollgate" \
  "grep '^| ' check.md" \
  "check=/v1/check and the gateway hook"
bench fleet     bench/fleet.sh     240 "about 3 minutes" "tollgate" \
  "grep '^| ' fleet.md" \
  "fleet=Fleet accuracy"
bench footprint bench/footprint.sh 480 "about 3 minutes, more on a busy host" "tollgate tgflood" \
  "sed -n '/^| tracked/,/^Raw/p' footprint.md" \
  "footprint=Agent footprint"

"$root/scripts/install-deps.sh" bench
build=${BUILD_DIR:-build}
# The directory as given names it in BENCHMARKS.md; scripts get its full path.
case $build in /*) build_abs=$build ;; *) build_abs=$root/$build ;; esac
out=${BENCHMARKS_MD:-$root/BENCHMARKS.md}
declare -A want # the benchmarks this run does
for a in "$@"; do
  known=
  for n in "${names[@]}"; do [ "$a" != "$n" ] || known=1; done
  if [ -z "$known" ]; then
    echo "usage: bench/run.sh$(printf ' [%s]' "${names[@]}")" >&2
    exit 2
  fi
  want[$a]=1
done
selected=() # in the table's order; no name given: every benchmark
for n in "${names[@]}"; do
  if [ $# -eq 0 ] || [ -n "${want[$n]:-}" ]; then
    want[$n]=1
    selected+=("$n")
  fi
done

if [ "$(id -u)" -ne 0 ]; then
  echo "bench/run.sh: needs root (BPF_PROG_TEST_RUN, network namespaces); run it with sudo" >&2
  exit 1
fi

# Build: configure only when there is no build yet (or the tests, which
# pktcost belongs with, are off), then build just the targets needed.
if [ ! -f "$build/CMakeCache.txt" ]; then
  cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DTG_TESTS=ON >/dev/null
elif grep -q '^TG_TESTS:BOOL=OFF' "$build/CMakeCache.txt"; then
  cmake -S . -B "$build" -DTG_TESTS=ON >/dev/null
fi
targets=()
declare -A target_in
for n in "${selected[@]}"; do
  for t in ${needs[$n]}; do
    [ -n "${target_in[$t]:-}" ] || targets+=(--target "$t")
    target_in[$t]=1
  done
done
cmake --build "$build" "${targets[@]}" -j"$(nproc)" >/dev/null

tmp=$(mktemp -d /tmp/tollgate-bench.XXXXXX)
trap 'rm -rf "$tmp"' EXIT

first() { "$@" 2>&1 | head -n1 || true; }
loadavg() { cut -d' ' -f1-3 /proc/loadavg; }
load_before=$(loadavg)
run_start=$SECONDS
declare -A took       # seconds each benchmark took in this run
declare -A load_after # the load average after each

# run_pktcost: the per-packet cost tables into $tmp/{table,enforce,socket}.md
run_pktcost() {
  # shellcheck disable=SC2086
  timeout "${watchdog[pktcost]}" "$build/pktcost" --json-out "$tmp/pktcost.json" \
    --enforce-md "$tmp/enforce.md" --socket-md "$tmp/socket.md" ${PKTCOST_ARGS:-} > "$tmp/table.md"
  cp "$tmp/pktcost.json" "$build/pktcost.json"
}
# run_script NAME: bench/NAME.sh into $tmp/NAME.{md,json}, with the agent
# (and tgflood, when it needs it) in its environment. Each script bounds
# its own steps; the watchdog is a last resort, and tests/lib/e2e.sh's EXIT
# trap still removes what the script created.
run_script() {
  local env=(TOLLGATE="$build_abs/tollgate")
  [[ " ${needs[$1]} " != *" tgflood "* ]] || env+=(TGFLOOD="$build_abs/tgflood")
  if ! env "${env[@]}" timeout "${watchdog[$1]}" \
    bash "${runs[$1]}" "$tmp/$1.md" "$tmp/$1.json" >&2; then
    echo "bench/run.sh: ${runs[$1]} failed; BENCHMARKS.md not written" >&2
    exit 1
  fi
  cp "$tmp/$1.json" "$build/$1.json"
}
for n in "${selected[@]}"; do
  t0=$SECONDS
  echo "bench/run.sh: running ${runs[$n]} (${about[$n]})..." >&2
  if [ "${runs[$n]}" = pktcost ]; then run_pktcost; else run_script "$n"; fi
  took[$n]=$((SECONDS - t0))
  load_after[$n]=$(loadavg)
done

# pktcost's three sections around its tables, with the conditions of the run.
if [ -n "${want[pktcost]:-}" ]; then
  cpu_model=$(grep -m1 '^model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//')
  cpu_model=${cpu_model:-$(uname -m)}
  pin_cpu=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["cpu"])' "$tmp/pktcost.json" 2>/dev/null || echo "?")
  virt=$(systemd-detect-virt 2>/dev/null || true)
  srso=$(cat /sys/devices/system/cpu/vulnerabilities/spec_rstack_overflow 2>/dev/null || echo "n/a")
  libbpf_ver=$(pkg-config --modversion libbpf 2>/dev/null || echo "?")
  libbpf_pkg=$(dpkg-query -W -f '${Version}' libbpf-dev 2>/dev/null || true)
  bpftool_ver=$(first bpftool version)
  clang_ver=$(first clang --version)
  build_type=$(sed -n 's/^CMAKE_BUILD_TYPE:STRING=//p' "$build/CMakeCache.txt")
  commit=$(git -C "$root" rev-parse --short HEAD 2>/dev/null || echo "?")
  dirty=""
  if [ -n "$(git -C "$root" status --porcelain 2>/dev/null)" ]; then dirty=" (with uncommitted changes)"; fi
  mem=$(awk '/^MemTotal/ { printf "%.1f GiB", $2 / 1048576 }' /proc/meminfo)
  load_row="$load_before before, ${load_after[pktcost]} after pktcost"
  [ -z "${want[accuracy]:-}" ] || load_row+=", ${load_after[accuracy]} after accuracy"

  {
    cat <<EOF
<!-- pktcost:begin — written by bench/run.sh; edit outside these markers -->
## Conditions

| | |
|---|---|
| date | $(date -u +%Y-%m-%dT%H:%M:%SZ) |
| kernel | $(uname -r) |
| CPU | $cpu_model |
| cores | $(nproc) online, $(cat /sys/devices/system/cpu/possible) possible; pktcost pinned to CPU $pin_cpu |
| memory | $mem |
| virtualisation | ${virt:-unknown} |
| SRSO mitigation | $srso |
| clang | $clang_ver |
| libbpf | $libbpf_ver${libbpf_pkg:+ (libbpf-dev $libbpf_pkg)} |
| bpftool | $bpftool_ver |
| nginx, wrk, Python, gnuplot | $(nginx -v 2>&1 | sed 's|.*: ||'), $(first wrk --version | cut -d' ' -f1-2), $(python3 --version 2>&1), $(gnuplot --version 2>&1) |
| build | $build_type, commit $commit$dirty |
| load average | $load_row |

## Per-packet cost

\`$build/pktcost\` (bench/pktcost.c) runs the TC program \`tg_tc_ingress\` and the
trivial program \`trivial_tc\` (tests/lib/trivial.bpf.c: one per-CPU array
increment, the floor any TC program pays) on crafted packets with
BPF_PROG_TEST_RUN, in monitor mode, one gateway port, with the client table
(\`tg_clients\`, sized clients + 1/8) pre-populated with that many zeroed
clients (198.18.0.0/15, then fd00:198:18::/64 addresses with
\`identity.ipv6_prefix\` 128), and \`tg_addr_buckets\` (sized alike, as the
agent sizes it) with a quotas.default bucket for each, as a running agent's
would hold once every client has sent a request. \`tg_conns\` holds 262144
entries throughout. The tables are loaded side by side and every round of a
measurement goes through all of them in turn, so a slow spell of the machine
weighs on every size alike. Every figure is ns per packet and its ratio to
the trivial program measured in the same run.

- **repeat: warm** — \`repeat\` = 1,000,000 runs of one packet, the kernel's
  average; median of 9 rounds. Caches and branch predictors are warm. A
  repeated SYN or request start is the same packet again: that measures the
  retransmission path.
- **loop: cold, one packet per run** — 6,000 separate runs (\`repeat\` = 1)
  of distinct packets: a new source port per SYN, a new sequence number per
  request start, another client per plain segment. Timed with
  \`clock_gettime\` in blocks of 50 that alternate with the same blocks
  through the trivial program; the difference (trimmed mean of the block
  pairs, median of 9 rounds) is added to the trivial program's warm figure.
  Each packet runs after a syscall, with cold caches and predictors, as the
  identical-packet control rows (plain segment, retransmitted SYN and request
  start under "loop") show. Expect tens of ns of noise on these rows.
- **derived: warm estimate** — for the paths only the loop can drive: the
  warm figure of the control (the same path with a repeated packet) plus
  what the path costs over that control in the loop, from the kernel's own
  per-run durations (steadier than the wall clock, which adds syscall noise).

The pass-through row is a segment to a non-gateway port; the plain segment
is an ACK with 1400 bytes of payload on a connection that has already sent
its request; a request start is \`GET /v1/models HTTP/1.1\` (37 bytes).
"Another client each packet" picks clients spread over the whole table,
so the hash lookup misses the caches (and, at 100k+ clients, the TLB) as it
would for traffic from many clients interleaved.

EOF
    cat "$tmp/table.md"
    echo
    echo "Raw figures (per-round samples, kernel-timed cross-check of the loop rows): \`$build/pktcost.json\`."
    echo "<!-- pktcost:end -->"
  } > "$tmp/pktcost.md"

  {
    cat <<EOF
<!-- enforcecost:begin — written by bench/run.sh; edit outside these markers -->
## Per-packet cost with enforcement

The same pktcost run, the same program and methods as the per-packet cost
above, on the conditions above, with each client table loaded three times
over: **telemetry only** (the configuration above: monitor mode, no quota
entries), **enforcement** (enforce mode; \`quotas.default\` at
\`requests_per_sec\` 1,000,000 and \`burst\` 1,000,000, so nothing is
dropped; one CIDR entry, 198.19.255.0/24, which holds none of the bench's
clients, so the lookup runs and misses; one API-key entry, so every new
request start is scanned for the key headers), and enforcement **without
the API-key entry** (no header scan), which splits the extra cost between
the quota bucket and the scan. Quotas and settings are written with the
agent's own \`tg_quota_build\` / \`tg_settings_build\`. A request start without
a key is charged to its address's quotas.default bucket, one with the key to
the key's bucket. pktcost exits non-zero unless, in both enforcement
configurations, every packet passed (TC_ACT_UNSPEC), no bucket counted a
denial or would-be denial, no denial event was sent, and each bucket was
charged exactly once per new request start (the key's bucket with every
keyed one). The baseline of each row is the telemetry-only figure measured
in the same run; the target is enforcement ≤ 1.5× telemetry. The loop rows
of this table are kernel-timed: the trivial program's warm figure plus the
kernel's own per-run durations over the trivial program's, for the same runs
the main table times by the wall clock, whose syscall noise (it can differ
by a hundred ns and more from round to round: \`over_trivial_samples\` in the
raw figures) would otherwise decide a ratio of two cold figures.

EOF
    cat "$tmp/enforce.md"
    echo
    echo "Raw figures: \`$build/pktcost.json\` (\`config\`: telemetry, enforcement, enforcement-no-key)."
    echo "<!-- enforcecost:end -->"
  } > "$tmp/enforcecost.md"

  {
    cat <<EOF
<!-- socketcost:begin — written by bench/run.sh; edit outside these markers -->
## Per-packet cost of the socket-level path

The same pktcost run, methods and conditions as the per-packet cost above,
on the telemetry-only tables. **Ingress**: \`tg_cgroup_ingress\`
(\`cgroup_skb/ingress\`, what the agent attaches to the gateway's cgroup:
the same counting code as TC, the data starting at the IP header) next to
\`tg_tc_ingress\` on the same packets. BPF_PROG_TEST_RUN builds the skb
from the same Ethernet frame and hands the cgroup_skb program its IP
header; the run's \`__sk_buff\` has an \`ingress_ifindex\` that is not in
\`tg_tc_ifaces\`, so the program counts the packet instead of leaving it to
TC. The cgroup_skb request starts run on a connection of their own
(198.18.0.4:40003; the same client as the TC ones), so a "new" one is new
to it. The baseline of each row is \`tg_tc_ingress\` measured in the same
run; loop rows are kernel-timed, as in the enforcement table. **Responses**:
gateway-to-client segments from the gateway port through \`tg_tc_egress\`
and \`tg_cgroup_egress\`, against the trivial program (and one against the
other). pktcost exits non-zero unless every packet passed, every socket-level
request start was counted once, the egress programs counted every
response packet and the connection's one pending request as one 2xx
response (a repeated status line is a retransmission, not a second one).

EOF
    cat "$tmp/socket.md"
    echo
    echo "Raw figures: \`$build/pktcost.json\` (\`program\`: tg_cgroup_ingress, tg_tc_egress, tg_cgroup_egress)."
    echo "<!-- socketcost:end -->"
  } > "$tmp/socketcost.md"
fi

# replace_section (bench/common.sh) writes each section between its markers.
# shellcheck source=bench/common.sh
source bench/common.sh

if [ -f "$out" ]; then
  cp "$out" "$tmp/new.md"
else
  # shellcheck disable=SC2016 # backquotes are Markdown
  printf '# Benchmarks\n\nRegenerate every section with `sudo ./bench/run.sh`.\n\n' > "$tmp/new.md"
fi
for n in "${selected[@]}"; do
  while IFS= read -r s; do
    replace_section "${s%%=*}" "${s#*=}" "$tmp/${s%%=*}.md" "$tmp/new.md"
  done <<< "${sections[$n]}"
done
# The figures, from the raw figures of each benchmark's latest run.
if bash "$root/bench/plots.sh" "$build" "$root/bench/plots"; then
  cat > "$tmp/plots.md" <<'EOF'
<!-- plots:begin — written by bench/run.sh (bench/plots.sh); edit outside these markers -->
## Figures

Drawn by `bench/plots.sh` (gnuplot) from the raw figures of the sections
below, each with the absolute value and its ratio to the baseline of the
same run: [per-packet cost, BPF_PROG_TEST_RUN](bench/plots/pktcost.svg) ·
[per-packet cost on live traffic](bench/plots/livecost.svg) ·
[gateway overhead](bench/plots/gateway.svg) ·
[under flood](bench/plots/flood.svg) ·
[enforcement accuracy](bench/plots/accuracy.svg) ·
[fleet accuracy](bench/plots/fleet.svg) ·
[agent footprint](bench/plots/footprint.svg)

![per-packet cost, BPF_PROG_TEST_RUN](bench/plots/pktcost.svg)
![per-packet cost on live traffic](bench/plots/livecost.svg)
![gateway overhead](bench/plots/gateway.svg)
![under flood](bench/plots/flood.svg)
![enforcement accuracy](bench/plots/accuracy.svg)
![fleet accuracy](bench/plots/fleet.svg)
![agent footprint](bench/plots/footprint.svg)
<!-- plots:end -->
EOF
  replace_section plots "Figures" "$tmp/plots.md" "$tmp/new.md"
else
  echo "bench/run.sh: bench/plots.sh failed; figures not redrawn" >&2
fi

# How long each benchmark took: this run's figures replace the rows of the
# benchmarks it ran; the others keep the figure of their latest run.
for name in "${!took[@]}"; do echo "$name ${took[$name]}"; done > "$tmp/took.txt"
python3 "$root/bench/timing.py" "$tmp/new.md" "$tmp/took.txt" $((SECONDS - run_start)) \
  "$(nproc)" > "$tmp/timing.md"
replace_section timing "Run time" "$tmp/timing.md" "$tmp/new.md"

# no run of blank lines at the end
awk 'NF { while (blank-- > 0) print ""; print; blank = 0; next } { blank++ }' "$tmp/new.md" > "$out"
echo "bench/run.sh: wrote $out" >&2
for n in "${selected[@]}"; do (cd "$tmp" && eval "${report[$n]}"); done
sed -n '/^| /p' "$tmp/timing.md"
