#!/usr/bin/env bash
# Runs the per-packet cost benchmark (pktcost, built first if needed) and
# writes its section of BENCHMARKS.md at the repository root: the conditions
# and the table, every figure in ns and as a ratio to the trivial program
# measured in the same run. Other sections of an existing BENCHMARKS.md
# (enforcement accuracy, cost with enforcement) are kept as they are.
#
#   sudo ./bench/run.sh            # BUILD_DIR=build by default
#   PKTCOST_ARGS="--sizes 1000" sudo -E ./bench/run.sh
#
# Needs root (BPF_PROG_TEST_RUN). Takes well under 3 minutes on 2 cores;
# other work on the machine shows up as noise, so run it on a quiet host.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
build=${BUILD_DIR:-build}
out=${BENCHMARKS_MD:-$root/BENCHMARKS.md}

if [ "$(id -u)" -ne 0 ]; then
  echo "bench/run.sh: needs root (BPF_PROG_TEST_RUN); run it with sudo" >&2
  exit 1
fi

# Build pktcost: configure only when there is no build yet (or the tests,
# which pktcost belongs with, are off), then build just that target.
if [ ! -f "$build/CMakeCache.txt" ]; then
  cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DTG_TESTS=ON >/dev/null
elif grep -q '^TG_TESTS:BOOL=OFF' "$build/CMakeCache.txt"; then
  cmake -S . -B "$build" -DTG_TESTS=ON >/dev/null
fi
cmake --build "$build" --target pktcost -j"$(nproc)" >/dev/null

tmp=$(mktemp -d /tmp/tollgate-bench.XXXXXX)
trap 'rm -rf "$tmp"' EXIT

first() { "$@" 2>&1 | head -n1 || true; }
load_before=$(cut -d' ' -f1-3 /proc/loadavg)
echo "bench/run.sh: running pktcost (about 20-60 s)..." >&2
# shellcheck disable=SC2086
timeout 200 "$build/pktcost" --json-out "$tmp/pktcost.json" ${PKTCOST_ARGS:-} > "$tmp/table.md"
load_after=$(cut -d' ' -f1-3 /proc/loadavg)
cp "$tmp/pktcost.json" "$build/pktcost.json"

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
| virtualisation | ${virt:-unknown} |
| SRSO mitigation | $srso |
| clang | $clang_ver |
| libbpf | $libbpf_ver${libbpf_pkg:+ (libbpf-dev $libbpf_pkg)} |
| bpftool | $bpftool_ver |
| build | $build_type, commit $commit$dirty |
| load average | $load_before before, $load_after after |

## Per-packet cost

\`$build/pktcost\` (bench/pktcost.c) runs the TC program \`tg_tc_ingress\` and the
trivial program \`trivial_tc\` (bench/trivial.bpf.c: one per-CPU array
increment, the floor any TC program pays) on crafted packets with
BPF_PROG_TEST_RUN, in monitor mode, one gateway port, with the client table
(\`tg_clients\`, sized clients + 1/8) pre-populated with that many zeroed
clients (198.18.0.0/15, then fd00:198:18::/64 addresses with
\`identity.ipv6_prefix\` 128). \`tg_conns\` holds 262144 entries throughout.
The tables are loaded side by side and every round of a measurement goes
through all of them in turn, so a slow spell of the machine weighs on every
size alike. Every figure is ns per packet and its ratio to the trivial
program measured in the same run.

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
} > "$tmp/section.md"

if [ -f "$out" ] && grep -q '^<!-- pktcost:begin' "$out" && grep -q '^<!-- pktcost:end' "$out"; then
  # Replace only our section.
  awk -v sec="$tmp/section.md" '
    /^<!-- pktcost:begin/ { while ((getline l < sec) > 0) print l; skip = 1; next }
    /^<!-- pktcost:end/ { skip = 0; next }
    !skip { print }' "$out" > "$tmp/new.md"
else
  {
    echo "# Benchmarks"
    echo
    echo "Regenerate the per-packet cost section with \`sudo ./bench/run.sh\`."
    echo
    cat "$tmp/section.md"
    cat <<'EOF'

## Enforcement accuracy

_Not measured yet: filled in when kernel enforcement lands (offered load from
tests/e2e/loadgen.py at fixed rates against configured limits; admitted rate
versus the limit)._

## Per-packet cost with enforcement

_Not measured yet: filled in when kernel enforcement lands (the paths above
with a token bucket per key, in monitor and enforce modes)._
EOF
  } > "$tmp/new.md"
fi
cp "$tmp/new.md" "$out"
echo "bench/run.sh: wrote $out" >&2
cat "$tmp/table.md"
