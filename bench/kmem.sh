#!/usr/bin/env bash
# Kernel memory of the default config: starts the agent (TOLLGATE, or the
# build's) on the default config's map sizes (gateway.max_clients as in
# config/default.json; no interface, its own instance and API port, so it
# disturbs nothing), reads every pinned map's bytes_memlock with bpftool,
# and prints a Markdown table: bytes at this host's possible CPUs, and the
# same map's bytes at 64 and 192 CPUs (a per-CPU map's value is repeated
# per CPU: the per-CPU part scaled, the rest as measured).
#
#   sudo bench/kmem.sh [TOLLGATE]   (hold /tmp/tollgate-e2e.lock)
set -euo pipefail
ROOTDIR=$(cd "$(dirname "$0")/.." && pwd)
TOLLGATE=${1:-${TOLLGATE:-$ROOTDIR/build/tollgate}}
INST=tgkmem$$
PIN=/sys/fs/bpf/tollgate/$INST
WORK=$(mktemp -d /tmp/tg-kmem.XXXXXX)
MAXC=$(jq -r '.gateway.max_clients' "$ROOTDIR/config/default.json")
pid=
cleanup() {
  [ -z "$pid" ] || { kill "$pid" 2>/dev/null; wait "$pid" 2>/dev/null || true; }
  rm -rf "$PIN" "$WORK"
}
trap cleanup EXIT
cat > "$WORK/cfg.json" <<JSON
{ "instance": "$INST", "gateway": { "interfaces": [], "max_clients": $MAXC },
  "api": { "listen": "127.0.0.1:19479" }, "state_dir": "$WORK/state" }
JSON
"$TOLLGATE" run --config "$WORK/cfg.json" > "$WORK/log" 2>&1 &
pid=$!
for _ in $(seq 300); do
  curl -fsS http://127.0.0.1:19479/healthz >/dev/null 2>&1 && break
  kill -0 "$pid" 2>/dev/null || { cat "$WORK/log"; exit 1; }
  sleep 0.1
done
NCPU=$(python3 -c 'import os; print(len(os.sched_getaffinity(0)))')
POSS=$(python3 -c 's=open("/sys/devices/system/cpu/possible").read().strip(); print(sum(int(p.split("-")[1])-int(p.split("-")[0])+1 if "-" in p else 1 for p in s.split(",")))')
for f in "$PIN"/v*/*; do
  bpftool -j map show pinned "$f" 2>/dev/null || true
  echo
done | python3 -c '
import json, sys
poss = int(sys.argv[1]); ver = sys.argv[2]
rows = []
for line in sys.stdin:
    line = line.strip()
    if not line:
        continue
    m = json.loads(line)
    b = m.get("bytes_memlock", 0)
    per_cpu = 0
    if "percpu" in m["type"]:
        per_cpu = ((m["bytes_value"] + 7) // 8 * 8) * m["max_entries"]
    at = lambda n: b + per_cpu * (n - poss)
    rows.append((m["name"], m["type"], m["max_entries"], m["bytes_value"], b, at(64), at(192)))
rows.sort(key=lambda r: -r[4])
MiB = 1024 * 1024
print(f"| map ({ver}) | type | entries | value B | MiB here ({poss} CPUs) | MiB at 64 CPUs | MiB at 192 CPUs |")
print("|---|---|---|---|---|---|---|")
for r in rows:
    print(f"| {r[0]} | {r[1]} | {r[2]} | {r[3]} | {r[4]/MiB:.1f} | {r[5]/MiB:.1f} | {r[6]/MiB:.1f} |")
t = [sum(r[i] for r in rows) for i in (4, 5, 6)]
print(f"| **total** | | | | **{t[0]/MiB:.1f}** | **{t[1]/MiB:.1f}** | **{t[2]/MiB:.1f}** |")
' "$POSS" "$(ls "$PIN")"
