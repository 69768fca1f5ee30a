#!/usr/bin/env python3
"""The "Run time" section of BENCHMARKS.md: how long each benchmark took
when it last ran, and their total. Rows of the benchmarks this run did
replace their old rows; the others are kept from DOC's section as they were.

  timing.py DOC TOOK.txt RUN_SECONDS CORES > SECTION.md
  (TOOK.txt: "name seconds" lines, this run's benchmarks)
"""
import datetime
import re
import sys

BUDGET_S = 20 * 60

doc, took_path, run_s, cores = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
now = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%MZ")
rows = {}  # name -> (seconds, when)
text = open(doc).read()
m = re.search(r"<!-- timing:begin.*?<!-- timing:end -->", text, re.S)
if m:
    for name, secs, when in re.findall(r"^\| `(\w+)` \| (\d+) \| ([^|]+?) \|$", m.group(0), re.M):
        rows[name] = (int(secs), when.replace(" (this run)", ""))
ran = []
for line in open(took_path):
    if line.strip():
        name, secs = line.split()
        rows[name] = (int(secs), now + " (this run)")
        ran.append(name)
total = sum(s for s, _ in rows.values())
order = ["pktcost", "accuracy", "livecost", "gateway", "flood", "alerts", "check"]
names = [n for n in order if n in rows] + sorted(n for n in rows if n not in order)

print("<!-- timing:begin — written by bench/run.sh (bench/timing.py); edit outside these markers -->")
print("## Run time\n")
print("Wall time of each benchmark in `sudo ./bench/run.sh` when it last ran, on")
print("this machine (%s cores), and the total: what one run of every benchmark" % cores)
print("takes, without the build. Budget: %d minutes for everything.\n" % (BUDGET_S // 60))
print("| benchmark | seconds | ran |")
print("|---|---:|---|")
for n in names:
    print("| `%s` | %d | %s |" % (n, rows[n][0], rows[n][1]))
print("| **total** | **%d** (%.1f min, %s the %d-minute budget) | |" % (
    total, total / 60, "within" if total <= BUDGET_S else "**over**", BUDGET_S // 60))
print()
print("The latest invocation ran %s in %d s, the figures and this file included." % (
    ", ".join("`%s`" % n for n in sorted(ran)) if ran else "no benchmark", run_s))
missing = [n for n in order if n not in rows]
if missing:
    print("Not timed yet (no complete run recorded here), so not in the total: %s." %
          ", ".join("`%s`" % n for n in missing))
print("<!-- timing:end -->")
