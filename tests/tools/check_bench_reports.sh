#!/usr/bin/env bash
# The benchmarks' report writers on fixed figures, without running a
# benchmark: bench/livecost_report.py, bench/flood_report.py,
# bench/integrity_cost_report.py,
# bench/timing.py and bench/plots.sh (gnuplot). Checks the sections'
# markers, the derived figures and verdicts, the run-time merge and total,
# and that every figure is drawn.
#
#   check_bench_reports.sh SOURCE_DIR
set -euo pipefail
SRC=${1:?usage: check_bench_reports.sh SOURCE_DIR}
T=$(mktemp -d /tmp/tollgate-benchreports.XXXXXX)
trap 'rm -rf "$T"' EXIT
fails=0
ok() { echo "ok - $*"; }
bad() { echo "not ok - $*"; fails=$((fails + 1)); }
has() { # has FILE TEXT DESCRIPTION
  if grep -qF -- "$2" "$1"; then ok "$3"; else bad "$3: no '$2' in $1"; fi
}

# --- livecost: 100 % request starts derive to the measured figure; with ACKs
# the plain-segment figure is taken out
printf '%s\n' \
  $'telemetry\tplain segment\t1000\t1000\t300.0\t100.0\t0' \
  $'enforce\tplain segment\t1000\t1000\t150.0\t100.0\t0' \
  $'enforce\trequest start, address bucket\t1000\t1000\t400.0\t100.0\t1000' \
  $'key\trequest start, API key at byte 100\t1000\t2000\t400.0\t100.0\t1000' \
  > "$T/live.tsv"
python3 "$SRC/bench/livecost_report.py" "$T/live.tsv" "$T/live.md" "$T/livecost.json" \
  --seconds 3 --keyreqs 7 --pktcost /nonexistent
has "$T/live.md" "<!-- livecost:begin" "livecost: begin marker"
has "$T/live.md" "<!-- livecost:end -->" "livecost: end marker"
has "$T/live.md" "| telemetry | plain segment | 1000 | 1000 | ≈ 100 % | 100.0 | 300.0 | 3.00 | – | ≤ 2× trivial | **missed** |" \
  "livecost: plain segment 3× trivial misses ≤ 2×"
has "$T/live.md" "| 400.0 (4.00×) | ≤ 5× trivial | met |" "livecost: address bucket 4× meets ≤ 5×"
# 2000 packets, 1000 requests: (400·2000 − 1000·150) / 1000 = 650 ns
has "$T/live.md" "| 50 % request starts | 100.0 | 400.0 | 4.00 | 650.0 (6.50×) | ≤ 600 ns | **missed** |" \
  "livecost: ACKs charged at the plain-segment figure"
has "$T/live.md" "Targets met on 2 of 4 rows." "livecost: the count of met targets"

# --- flood: medians over rounds, verdicts against the baseline and limit_req
: > "$T/flood.tsv"
for r in 1 2 3; do
  printf '%s\n' \
    "baseline	10.0	2.0	600	600	0	0	0" \
    "none	50.0	3.0	600	600	70000	70000	12000" \
    "limit_req	40.0	3.0	600	600	1400	90000	15000" \
    "drop	$((10 + r)).0	2.0	600	600	1450	1450	230" \
    "gateway	60.0	4.0	590	600	1300	20000	3000" \
    "gateway_delay	14.0	2.5	600	600	1300	5000	800" >> "$T/flood.tsv"
done
python3 "$SRC/bench/flood_report.py" "$T/flood.tsv" "$T/flood.md" "$T/flood.json" \
  --seconds 6 --rate 100 --quota 200 --rounds 3 --abuse "wrk -c64" --dropped 9 --checks-denied 9 \
  --deny-delay-ms 100
has "$T/flood.md" "<!-- flood:end -->" "flood: end marker"
# drop: p99 median of 11, 12, 13 = 12 → 1.2× the baseline's 10
has "$T/flood.md" "| flood, tollgate: kernel drop (enforce, action drop) | 12.00 | **1.20** |" "flood: p99 median and ratio"
has "$T/flood.md" "kernel drop (enforce, action drop): p99 1.20× the baseline, below limit_req's (12.00 ms against 40.00 ms): **met**" \
  "flood: the kernel drop meets the target"
has "$T/flood.md" "p99 6.00× the baseline (60.00 ms), 30 legitimate requests not answered 2xx over the rounds: **missed**" \
  "flood: the hook misses it"
has "$T/flood.md" "429 held 100 ms (api.check_deny_delay_ms): p99 1.40× the baseline (14.00 ms), every legitimate request answered: **met**" \
  "flood: the hook with held denials meets it"
# R·t + burst = 200·6 + 200 = 1400
has "$T/flood.md" "| 90000 | 1400 | 1.00 |" "flood: the abuser's requests through against R·t + burst"

# --- timing: this run's rows replace theirs, the others stay, the total adds up
cat > "$T/doc.md" <<'EOF'
# Benchmarks
<!-- timing:begin -->
| `pktcost` | 100 | 2026-01-01T00:00Z |
| `flood` | 50 | 2026-01-01T00:00Z |
<!-- timing:end -->
EOF
printf 'flood 70\nlivecost 30\n' > "$T/took.txt"
python3 "$SRC/bench/timing.py" "$T/doc.md" "$T/took.txt" 110 2 > "$T/timing.md"
has "$T/timing.md" "| \`pktcost\` | 100 | 2026-01-01T00:00Z |" "timing: a row not run is kept"
has "$T/timing.md" "| \`flood\` | 70 |" "timing: a row run is replaced"
has "$T/timing.md" "| **total** | **200** (3.3 min, within the 20-minute budget) | |" "timing: the total"

# --- integrity cost: quotients of the ×trivial multiples, medians over the
# rounds; the first start of a connection against a later one
mkjson() { # FILE TRIVIAL NEW_NS [FIRST_NS]
  python3 - "$@" <<'PY'
import json, sys
f, triv, new = sys.argv[1], float(sys.argv[2]), float(sys.argv[3])
res = [{"path": "request start (new)", "program": "tg_tc_ingress", "clients": 1000,
        "config": "enforcement", "method": "loop", "ns": 999.0, "kernel_timed_ns": new},
       {"path": "plain segment (1400 B)", "program": "tg_tc_ingress", "clients": 1000,
        "config": "enforcement", "method": "repeat", "ns": 30.0}]
if len(sys.argv) > 4:
    res.append({"path": "request start, first of its connection", "program": "tg_tc_ingress",
                "clients": 1000, "config": "enforcement", "method": "loop", "ns": 999.0,
                "kernel_timed_ns": float(sys.argv[4])})
json.dump({"trivial_ns": triv, "results": res}, open(f, "w"))
PY
}
mkdir -p "$T/ic"
mkjson "$T/ic/before.1.json" 10 200
mkjson "$T/ic/after.1.json" 20 500
mkjson "$T/ic/current.1.json" 10 300 360
python3 "$SRC/bench/integrity_cost_report.py" "$T/ic" 1 aaa bbb ccc 2 6.18 "0 0 0" "1 1 1" \
  > "$T/ic.md"
# before 200 ns = 20x, after 500 ns = 25x: 1.25, +300 ns
has "$T/ic.md" "| request start (new) | 1000 | enforcement | loop: cold, kernel-timed | 200.0 (20.00) | 500.0 (25.00) | 1.25 | +300.0 |" \
  "integrity cost: after ÷ before on the ×trivial multiples"
has "$T/ic.md" "| plain segment (1400 B) | 1000 | enforcement | repeat: warm | 30.0 (3.00) | 30.0 (1.50) | 0.50 | +0.0 |" \
  "integrity cost: a control row"
has "$T/ic.md" "| first of its connection (ISN proof) | enforcement | 1000 | loop: cold, kernel-timed | 300.0 (30.00) | 360.0 (36.00) | 1.20 | +60.0 |" \
  "integrity cost: the first start against a later one"

# --- plots: every figure from the raw figures
if command -v gnuplot >/dev/null; then
  cat > "$T/gateway.json" <<'EOF'
{"median": {"none": {"requests_per_sec": 100, "p99_ms": 1, "rps_ratio": 1, "p99_ratio": 1},
            "tc": {"requests_per_sec": 98, "p99_ms": 1.02, "rps_ratio": 0.98, "p99_ratio": 1.02}}}
EOF
  cat > "$T/accuracy.json" <<'EOF'
{"runs": [{"R": 10, "accepted": 109, "expected": 110, "ratio": 0.991}]}
EOF
  cat > "$T/fleet.json" <<'EOF'
{"runs": [{"nodes": 1, "sync_interval_ms": 100, "ratio": 0.98},
          {"nodes": 2, "sync_interval_ms": 100, "ratio": 0.99},
          {"nodes": 1, "sync_interval_ms": 1000, "ratio": 0.94}]}
EOF
  cat > "$T/footprint.json" <<'EOF'
{"rows": [{"tracked": 1000, "active": 1000, "rss_kib": 16000, "cpu_pct": 0.3,
           "fresh_median_ms": 490, "fresh_max_ms": 950},
          {"tracked": 1000000, "active": 10000, "rss_kib": 82000, "cpu_pct": 7.4,
           "fresh_median_ms": 530, "fresh_max_ms": 999}]}
EOF
  bash "$SRC/bench/plots.sh" "$T" "$T/plots" 2>/dev/null
  for f in livecost gateway flood accuracy fleet footprint; do
    if [ -s "$T/plots/$f.svg" ] && grep -q '<svg' "$T/plots/$f.svg"; then ok "plots: $f.svg"; else bad "plots: no $f.svg"; fi
  done
elif [ "${CI:-}" = true ]; then
  bad "plots: gnuplot is not installed (scripts/install-deps.sh bench)"
else
  echo "# plots: gnuplot not installed, not checked"
fi

echo "$fails failed"
[ "$fails" = 0 ]
