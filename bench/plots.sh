#!/usr/bin/env bash
# Draws BENCHMARKS.md's figures with gnuplot, as SVG, from the raw figures
# the benchmarks wrote (RAW_DIR/NAME.json), into OUT_DIR (bench/plots):
#   pktcost.svg   per-packet cost by path and client count,
#                 BPF_PROG_TEST_RUN (pktcost.json)
#   livecost.svg  the same on live traffic, bpf_stats (livecost.json)
#   gateway.svg   gateway requests/s and p99 with the agent (gateway.json)
#   flood.svg     the legitimate client under flood, per limiter (flood.json)
#   accuracy.svg  accepted requests against R·t + burst (accuracy.json)
#   fleet.svg     global-quota accuracy by agents and sync interval
#                 (fleet.json)
#   footprint.svg the agent's RSS, CPU and freshness by tracked clients
#                 (footprint.json)
# Every figure shows the absolute value and its ratio to the baseline
# measured in the same run. A figure whose JSON is missing is left as it is.
#
#   bench/plots.sh RAW_DIR OUT_DIR
set -euo pipefail
RAW=${1:?usage: bench/plots.sh RAW_DIR OUT_DIR}
OUT=${2:?usage: bench/plots.sh RAW_DIR OUT_DIR}
command -v gnuplot >/dev/null || { echo "plots.sh: gnuplot is needed (apt-get install gnuplot-nox)" >&2; exit 1; }
mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)
dat=$(mktemp -d /tmp/tollgate-plots.XXXXXX)
trap 'rm -rf "$dat"' EXIT

# The data files: one per figure, written from the raw JSON by Python.
python3 - "$RAW" "$dat" <<'PY'
import json, os, sys
raw, dat = sys.argv[1], sys.argv[2]

def load(name):
    p = os.path.join(raw, name + ".json")
    return json.load(open(p)) if os.path.exists(p) else None

def q(s):
    return '"%s"' % s.replace('"', "'")

d = load("pktcost")
if d:
    # path label, the rows of tg_tc_ingress that stand for it
    paths = [("pass", "pass-through (non-gateway port)", "telemetry", "repeat"),
             ("plain", "plain segment (1400 B)", "telemetry", "repeat"),
             ("SYN", "SYN of a new connection", "telemetry", "derived"),
             ("req", "request start (new)", "telemetry", "derived"),
             ("req+bucket", "request start (new)", "enforcement-no-key", "derived"),
             ("key@100", "request start, API key at byte 100 (new)", "enforcement", "derived"),
             ("key@900", "request start, API key at byte 900 (new)", "enforcement", "derived")]
    sizes = sorted({r["clients"] for r in d["results"] if isinstance(r.get("clients"), int)})
    with open(os.path.join(dat, "pktcost.dat"), "w") as f:
        f.write("# path " + " ".join("ns_%d ratio_%d" % (n, n) for n in sizes) + "\n")
        f.write("%s %s\n" % (q("trivial"), " ".join("%s 1" % d["trivial_ns"] for _ in sizes)))
        for label, path, conf, method in paths:
            cells = []
            for n in sizes:
                r = [x for x in d["results"] if x["path"] == path and x.get("config") == conf and
                     x.get("method") == method and x.get("program") == "tg_tc_ingress" and x.get("clients") == n]
                cells.append("%s %s" % (r[0]["ns"], r[0]["ratio"]) if r else "NaN NaN")
            f.write("%s %s\n" % (q(label), " ".join(cells)))
    open(os.path.join(dat, "pktcost.sizes"), "w").write(" ".join(str(n) for n in sizes) + "\n")

d = load("livecost")
if d:
    sizes = sorted({r["clients"] for r in d["rows"]})
    keys = []
    for r in d["rows"]:
        k = (r["config"], r["path"])
        if k not in keys:
            keys.append(k)
    with open(os.path.join(dat, "livecost.dat"), "w") as f:
        f.write("# config/path " + " ".join("ns_%d ratio_%d" % (n, n) for n in sizes) + "\n")
        triv = [[r["trivial_ns"] for r in d["rows"] if r["clients"] == n] for n in sizes]
        f.write("%s %s\n" % (q("trivial"),
                             " ".join("%.1f 1" % (sum(t) / len(t)) for t in triv)))
        for conf, path in keys:
            cells = []
            for n in sizes:
                r = [x for x in d["rows"] if (x["config"], x["path"]) == (conf, path) and x["clients"] == n]
                if r:
                    ns = r[0].get("derived_ns", r[0]["ns"])
                    cells.append("%.1f %.3f" % (ns, ns / r[0]["trivial_ns"]))
                else:
                    cells.append("NaN NaN")
            short = {"pass-through": "pass", "plain segment": "plain", "SYN": "SYN",
                     "request start": "req", "request start, address bucket": "req+bucket",
                     "request start, API key at byte 100": "key@100",
                     "request start, API key at byte 900": "key@900"}.get(path, path)
            f.write("%s %s\n" % (q("%s %s" % (conf[0].upper(), short)), " ".join(cells)))
    open(os.path.join(dat, "livecost.sizes"), "w").write(" ".join(str(n) for n in sizes) + "\n")

d = load("gateway")
if d and "median" in d and "none" in d["median"]:
    names = {"none": "no agent", "tc": "TC, telemetry", "enforce": "TC, enforce",
             "socket": "socket level"}
    with open(os.path.join(dat, "gateway.dat"), "w") as f:
        f.write("# config rps rps_ratio p99 p99_ratio\n")
        for k, v in d["median"].items():
            f.write("%s %s %s %s %s\n" % (q(names.get(k, k)), v["requests_per_sec"], v["rps_ratio"],
                                         v["p99_ms"], v["p99_ratio"]))

d = load("flood")
if d:
    names = {"baseline": "alone (baseline)", "none": "flood, no limit", "limit_req": "flood, limit_req",
             "drop": "flood, tollgate drop", "gateway": "flood, tollgate 429",
             "gateway_delay": "flood, tollgate 429 held"}
    with open(os.path.join(dat, "flood.dat"), "w") as f:
        f.write("# row p99 p99_ratio abuser_through through_ratio\n")
        for k, v in d["rows"].items():
            through = v["abuser_ok"] if k != "baseline" else 0
            f.write("%s %s %.3f %d %.3f\n" % (q(names.get(k, k)), v["p99_ms"], v["p99_ratio"], through,
                                             through / d["allowed"]))

d = load("accuracy")
if d:
    with open(os.path.join(dat, "accuracy.dat"), "w") as f:
        f.write("# R accepted expected ratio\n")
        for r in d["runs"]:
            f.write("%s %d %d %.3f\n" % (q("R = %d/s" % r["R"]), r["accepted"], r["expected"], r["ratio"]))

d = load("fleet")
if d and d.get("runs"):
    # one row per agent count, one column per sync interval
    nodes = sorted({r["nodes"] for r in d["runs"]})
    syncs = sorted({r["sync_interval_ms"] for r in d["runs"]})
    with open(os.path.join(dat, "fleet.dat"), "w") as f:
        f.write("# agents " + " ".join("ratio_%d" % ms for ms in syncs) + "\n")
        for n in nodes:
            cells = []
            for ms in syncs:
                r = [x for x in d["runs"] if x["nodes"] == n and x["sync_interval_ms"] == ms]
                cells.append("%.3f" % r[0]["ratio"] if r else "NaN")
            f.write("%s %s\n" % (q("%d agent%s" % (n, "" if n == 1 else "s")), " ".join(cells)))
    open(os.path.join(dat, "fleet.syncs"), "w").write(" ".join(str(ms) for ms in syncs) + "\n")

d = load("footprint")
if d and d.get("rows"):
    rows = sorted(d["rows"], key=lambda r: r["tracked"])
    base = rows[0] # the smallest table is the baseline, as in the section
    def label(n):
        return "%gM" % (n / 1e6) if n >= 1000000 else "%gk" % (n / 1e3) if n >= 1000 else str(n)
    with open(os.path.join(dat, "footprint.dat"), "w") as f:
        f.write("# tracked rss_mib rss_ratio cpu_pct cpu_ratio fresh_median fresh_max\n")
        for r in rows:
            f.write("%s %.1f %.2f %.2f %.2f %.0f %.0f\n" % (
                q("%s / %s" % (label(r["tracked"]), label(r["active"]))),
                r["rss_kib"] / 1024, r["rss_kib"] / base["rss_kib"], r["cpu_pct"],
                r["cpu_pct"] / base["cpu_pct"] if base["cpu_pct"] else 0,
                r["fresh_median_ms"], r["fresh_max_ms"]))
PY

HEAD='set terminal svg size 1100,520 dynamic enhanced font "Helvetica,12" background "#ffffff"
set style data histograms
set style fill solid 0.85 border -1
set grid ytics
set key top left
set xtics scale 0 font ",9" noenhanced
set yrange [0:*]
set offsets 0, 0, graph 0.1, 0'

# gnuplot runs in the data directory and names its files relatively, so
# the SVGs (whose plot titles carry the file names) hold no temporary path.
gp() { (cd "$dat" && gnuplot); }

# clustered NAME TITLE YLABEL: two panels, ns and × baseline, one bar per
# client count
clustered() {
  local name=$1 title=$2 sizes cols_ns="" cols_r="" i=0
  read -r -a sizes < "$dat/$name.sizes"
  for n in "${sizes[@]}"; do
    local c=$((2 + 2 * i)) label
    label=$(awk -v n="$n" 'BEGIN { if (n >= 1000000) printf "%gM", n / 1e6; else if (n >= 1000) printf "%gk", n / 1e3; else print n }')
    [ $i = 0 ] && cols_ns+="'$name.dat' using $c:xtic(1) title '$label clients'" ||
      cols_ns+=", '' using $c title '$label clients'"
    [ $i = 0 ] && cols_r+="'$name.dat' using $((c + 1)):xtic(1) title '$label clients'" ||
      cols_r+=", '' using $((c + 1)) title '$label clients'"
    i=$((i + 1))
  done
  gp <<GP
$HEAD
set output '$OUT/$name.svg'
set style histogram clustered gap 1
set multiplot layout 1,2 title "$title"
set title "ns per packet"
set ylabel "ns"
plot $cols_ns
set title "× the trivial program (same run)"
set ylabel "× trivial"
plot $cols_r
unset multiplot
GP
}

if [ -f "$dat/pktcost.dat" ]; then
  clustered pktcost "tg\\\\_tc\\\\_ingress per packet, BPF\\\\_PROG\\\\_TEST\\\\_RUN: pass-through and plain segment warm; new SYN and request starts (telemetry; +bucket: enforce; key at byte 100/900) derived warm"
fi
if [ -f "$dat/livecost.dat" ]; then
  clustered livecost "tg\\\\_tc\\\\_ingress per packet on live traffic, bpf\\\\_stats. T telemetry, E enforce, K enforce with an API-key entry; request starts derived (ACKs removed)"
fi
if [ -f "$dat/gateway.dat" ]; then
  gp <<GP
$HEAD
set output '$OUT/gateway.svg'
set style histogram clustered gap 1
set key off
set multiplot layout 1,2 title "Gateway overhead: nginx, wrk keep-alive (medians; labels: ratio to no agent)"
set title "requests/s"
plot 'gateway.dat' using 2:xtic(1) lc rgb "#4477aa", '' using 0:2:(sprintf("%.3f×", \$3)) with labels offset 0,0.8
set title "p99 latency (ms)"
plot 'gateway.dat' using 4:xtic(1) lc rgb "#cc6677", '' using 0:4:(sprintf("%.2f×", \$5)) with labels offset 0,0.8
unset multiplot
GP
fi
if [ -f "$dat/flood.dat" ]; then
  gp <<GP
$HEAD
set output '$OUT/flood.svg'
set style histogram clustered gap 1
set key off
set multiplot layout 1,2 title "Under flood: the legitimate client beside an abuser"
set title "legitimate client p99 (ms; labels: ÷ alone)"
set logscale y
set yrange [*:*]
plot 'flood.dat' using 2:xtic(1) lc rgb "#4477aa", '' using 0:2:(sprintf("%.2f×", \$3)) with labels offset 0,0.8
set yrange [0.3:*]
set title "abuser requests through ÷ its quota R·t + burst (log; labels: requests, ratio)"
plot 'flood.dat' using 5:xtic(1) lc rgb "#cc6677", '' using 0:5:(sprintf("%d (%.2f×)", \$4, \$5)) with labels offset 0,0.8
unset multiplot
GP
fi
if [ -f "$dat/accuracy.dat" ]; then
  gp <<GP
$HEAD
set output '$OUT/accuracy.svg'
set terminal svg size 700,480 dynamic enhanced font "Helvetica,12" background "#ffffff"
set style histogram clustered gap 1
set title "Enforcement accuracy: accepted vs R·t + burst (labels: accepted ÷ expected)"
set logscale y
set yrange [10:*]
set ylabel "requests in t = 10 s"
set xtics rotate by 0
plot 'accuracy.dat' using 2:xtic(1) title "accepted" lc rgb "#4477aa", \
     '' using 3 title "expected R·t + burst" lc rgb "#bbbbbb", \
     '' using (\$0 - 0.12):2:(sprintf("%.3f", \$4)) with labels offset 0,0.8 notitle
GP
fi
if [ -f "$dat/fleet.dat" ]; then
  read -r -a syncs < "$dat/fleet.syncs"
  cols="" i=0
  for ms in "${syncs[@]}"; do
    c=$((2 + i))
    [ $i = 0 ] && cols+="'fleet.dat' using $c:xtic(1) title 'sync every $ms ms'" ||
      cols+=", '' using $c title 'sync every $ms ms'"
    cols+=", '' using (\$0 + $i * 0.25 - 0.12):$c:(sprintf('%.3f', \$$c)) with labels offset 0,0.8 notitle"
    i=$((i + 1))
  done
  gp <<GP
$HEAD
set output '$OUT/fleet.svg'
set terminal svg size 700,480 dynamic enhanced font "Helvetica,12" background "#ffffff"
set style histogram clustered gap 1
set title "Fleet: admitted ÷ R·t + burst of one global quota (target 1.00 ± 0.05 at 100 ms)"
set yrange [0:1.3]
set ylabel "accuracy"
set key top right
set arrow 1 from graph 0, first 0.95 to graph 1, first 0.95 nohead dt 2 lc rgb "#555555"
set arrow 2 from graph 0, first 1.05 to graph 1, first 1.05 nohead dt 2 lc rgb "#555555"
plot $cols
GP
fi
if [ -f "$dat/footprint.dat" ]; then
  gp <<GP
$HEAD
set output '$OUT/footprint.svg'
set terminal svg size 1300,480 dynamic enhanced font "Helvetica,12" background "#ffffff"
set style histogram clustered gap 1
set key off
set xlabel "clients tracked / active"
set multiplot layout 1,3 title "Agent footprint (labels: ratio to the smallest table; dashed: the target at 1M tracked)"
set title "RSS (MiB)"
set yrange [0:150]
set arrow 1 from graph 0, first 128 to graph 1, first 128 nohead dt 2 lc rgb "#555555"
plot 'footprint.dat' using 2:xtic(1) lc rgb "#4477aa", '' using 0:2:(sprintf("%.1f (%.2f×)", \$2, \$3)) with labels offset 0,0.8
set title "CPU (% of a core)"
set yrange [0:12]
set arrow 1 from graph 0, first 10 to graph 1, first 10 nohead dt 2 lc rgb "#555555"
plot 'footprint.dat' using 4:xtic(1) lc rgb "#cc6677", '' using 0:4:(sprintf("%.2f (%.1f×)", \$4, \$5)) with labels offset 0,0.8
set title "freshness of active clients (ms)"
set yrange [0:1400]
set key top left
set arrow 1 from graph 0, first 1000 to graph 1, first 1000 nohead dt 2 lc rgb "#555555"
plot 'footprint.dat' using 6:xtic(1) title "median" lc rgb "#44aa99", '' using 7 title "max" lc rgb "#999933"
unset multiplot
GP
fi
ls "$OUT"/*.svg 2>/dev/null | sed 's|^|plots.sh: |' >&2 || true
