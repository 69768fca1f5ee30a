#!/usr/bin/env python3
"""Writes the live per-packet cost section of BENCHMARKS.md from the rows
bench/livecost.sh measured (a TSV: config, path, clients, packets,
tg_tc_ingress ns/packet, trivial ns/packet, requests), and its raw JSON.

  livecost_report.py ROWS.tsv SECTION.md RAW.json --seconds S ...
"""
import argparse
import datetime
import json
import platform

TARGET_PLAIN = 2.0    # plain segment, × trivial
TARGET_BUCKET = 5.0   # request start with an address bucket, × trivial
TARGET_KEY_NS = 600.0  # request start with the key within its first 512 bytes


def main():
    p = argparse.ArgumentParser()
    p.add_argument("rows")
    p.add_argument("out")
    p.add_argument("raw", nargs="?", default="")
    p.add_argument("--seconds", type=float, required=True)
    p.add_argument("--keyreqs", type=int, required=True)
    p.add_argument("--nginx", default="?")
    p.add_argument("--wrk", default="?")
    p.add_argument("--stats-before", default="?")
    p.add_argument("--pktcost", default="", help="the pktcost.json of the per-packet cost section, for comparison")
    a = p.parse_args()

    rows = []
    with open(a.rows) as f:
        for line in f:
            conf, path, n, pk, tg, tr, rq = line.rstrip("\n").split("\t")
            rows.append({"config": conf, "path": path, "clients": int(n), "packets": int(pk),
                         "ns": float(tg), "trivial_ns": float(tr), "requests": int(rq or 0)})
    plain = {(r["config"], r["clients"]): r["ns"] for r in rows if r["path"] == "plain segment"}
    for r in rows:
        r["ratio"] = r["ns"] / r["trivial_ns"]
        if r["path"].startswith("request start") and r["requests"] > 0:
            # the run's other packets are the client's bare ACKs: charge them
            # at the plain-segment figure of the same table (enforce's for
            # the key configuration, which has no plain-segment run)
            ack_ns = plain.get((r["config"], r["clients"]), plain.get(("enforce", r["clients"])))
            reqs = min(r["requests"], r["packets"])
            acks = r["packets"] - reqs
            r["share"] = reqs / r["packets"]
            r["ack_ns"] = ack_ns
            r["derived_ns"] = (r["ns"] * r["packets"] - acks * ack_ns) / reqs
            r["derived_ratio"] = r["derived_ns"] / r["trivial_ns"]
        # the figure each target is judged on
        fig_ns = r.get("derived_ns", r["ns"])
        fig_ratio = fig_ns / r["trivial_ns"]
        r["target"], r["met"] = "", None
        if r["path"] == "plain segment":
            r["target"], r["met"] = "≤ %.0f× trivial" % TARGET_PLAIN, r["ratio"] <= TARGET_PLAIN
        elif r["path"] == "request start, address bucket":
            r["target"], r["met"] = "≤ %.0f× trivial" % TARGET_BUCKET, fig_ratio <= TARGET_BUCKET
        elif r["path"] == "request start, API key at byte 100":
            r["target"], r["met"] = "≤ %.0f ns" % TARGET_KEY_NS, fig_ns <= TARGET_KEY_NS

    def verdict(r):
        return "–" if r["met"] is None else ("met" if r["met"] else "**missed**")

    def share(r):
        if "share" in r:
            return "%.0f %% request starts" % (100 * r["share"])
        return "≈ 100 %"

    lines = []
    for r in rows:
        derived = "–"
        if "derived_ns" in r:
            derived = "%.1f (%.2f×)" % (r["derived_ns"], r["derived_ratio"])
        lines.append("| %s | %s | %d | %d | %s | %.1f | %.1f | %.2f | %s | %s | %s |" % (
            r["config"], r["path"], r["clients"], r["packets"], share(r), r["trivial_ns"], r["ns"],
            r["ratio"], derived, r["target"] or "–", verdict(r)))
    # the same paths under BPF_PROG_TEST_RUN, warm and cold, when known
    cmp_lines = []
    pk = None
    if a.pktcost:
        try:
            pk = json.load(open(a.pktcost))
        except (OSError, ValueError):
            pk = None
        if pk:
            def pkt(path, method, n):
                r = [x for x in pk["results"] if x["path"] == path and x.get("method") == method and
                     x.get("config") == "telemetry" and x.get("program") == "tg_tc_ingress" and
                     x.get("clients") == n]
                return r[0]["ns"] if r else None
            for n in sorted({r["clients"] for r in rows}):
                warm = pkt("plain segment (1400 B)", "repeat", n)
                cold = pkt("plain segment (1400 B)", "loop", n)
                live = [r["ns"] for r in rows if r["path"] == "plain segment" and
                        r["config"] == "telemetry" and r["clients"] == n]
                if warm and cold and live:
                    cmp_lines.append("%d clients: %.0f ns warm, %.0f ns cold (BPF_PROG_TEST_RUN), "
                                     "%.0f ns live" % (n, warm, cold, live[0]))
    # the targets on the BPF_PROG_TEST_RUN figures too
    pk_lines = []
    if a.pktcost and pk:
        for label, path, conf, method, kind, limit in [
                ("plain segment", "plain segment (1400 B)", "telemetry", "repeat", "ratio", TARGET_PLAIN),
                ("plain segment", "plain segment (1400 B)", "telemetry", "loop", "ratio", TARGET_PLAIN),
                ("request start, address bucket", "request start (new)", "enforcement-no-key", "derived",
                 "ratio", TARGET_BUCKET),
                ("request start, API key at byte 100", "request start, API key at byte 100 (new)",
                 "enforcement", "derived", "ns", TARGET_KEY_NS)]:
            for x in pk["results"]:
                if (x["path"], x.get("config"), x.get("method"), x.get("program")) != \
                        (path, conf, method, "tg_tc_ingress"):
                    continue
                val = x["ratio"] if kind == "ratio" else x["ns"]
                pk_lines.append("| %s | %d | %s | %.1f | %.2f | %s | %s |" % (
                    label, x["clients"], {"repeat": "warm", "loop": "cold", "derived": "derived warm"}[method],
                    x["ns"], x["ratio"], ("≤ %g× trivial" if kind == "ratio" else "≤ %g ns") % limit,
                    "met" if val <= limit else "**missed**"))
    judged = [r for r in rows if r["met"] is not None]
    missed = [r for r in judged if not r["met"]]
    date = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    text = f"""<!-- livecost:begin — written by bench/run.sh (bench/livecost.sh); edit outside these markers -->
## Per-packet cost on live traffic (bpf_stats)

`bench/livecost.sh`, {date}, kernel {platform.release()}, on the machine of the
conditions above. The kernel's own statistics (`kernel.bpf_stats_enabled` = 1
for the run, {a.stats_before} before and after): `run_time_ns` ÷ `run_cnt` of
`tg_tc_ingress`, attached by the real agent to the host side of a client's
veth pair, and of the trivial program (tests/lib/trivial.bpf.c, one per-CPU
counter) attached on the same TC hook in front of it, so both ran on the
same packets of the same run: it is the baseline of every row. It runs
first, so on request/response traffic it also pays for bringing the
packet's path back into cache, and pass-through can come out below 1×. Statistics
add two clock reads to every run of each program, so the ns figures here
are higher than BPF_PROG_TEST_RUN's above, and the ratios lower. nginx
{a.nginx} (one worker, `return 200`) behind it; TSO and GSO off on the client
(MSS-sized segments); {a.seconds:g} s of traffic a row, from the client's
namespace:

- **pass-through**: `{a.wrk}` to a port that is not a gateway port;
- **plain segment**: one POST whose body streams for the whole run
  (bench/livetraffic.py upload), 1448-byte segments;
- **SYN**: non-blocking connects to a gateway port nothing listens on, each
  a new source port (bench/livetraffic.py syn): SYNs of new connections only,
  from a second address of the client's namespace, because those
  connections stay half-open in the agent's table and their client's
  "needs attention" hint would send its later plain segments through a
  connection lookup;
- **request start**: `{a.wrk}` to the gateway port, keep-alive, `GET /`
  with a Host header; with the API key, a wrk Lua request whose
  `Authorization: Bearer` line starts at byte 100 or 900 of the request (a
  padding header before it), the request ending 56 bytes later.

The request-start runs also carry the client's bare ACKs. Their number is
packets − requests (wrk's count), so the request start's own cost is derived:
(all ns − ACKs × the plain-segment figure of the same table) ÷ requests.
Configurations: **telemetry** (monitor, no quotas); **enforce**
(`quotas.default` 1,000,000 req/s and burst, an address bucket charged on
every request start, none denied); **key** (enforce with one API-key
entry, so every request start is scanned; its bucket counted {a.keyreqs}
requests: the key was found). Both checked on the smallest table, where
the agent's API answers promptly; the agent moves between the
configurations by reload, which keeps its tables. Clients tracked: synthetic entries
written into the running agent's `tg_clients` and `tg_addr_buckets`
(`build/populate`). Targets: plain segment ≤ {TARGET_PLAIN:g}× trivial; request start
with an address bucket ≤ {TARGET_BUCKET:g}× trivial; request start with the key within
its first 512 bytes ≤ {TARGET_KEY_NS:.0f} ns (the derived figure for request starts).

| configuration | path | clients | packets | packets on the path | trivial ns/packet (baseline) | `tg_tc_ingress` ns/packet | × trivial | request start alone, derived: ns (× trivial) | target | |
|---|---|---:|---:|---|---:|---:|---:|---:|---|---|
""" + "\n".join(lines) + f"""

Targets met on {len(judged) - len(missed)} of {len(judged)} rows.

""" + ("""The same targets on the BPF_PROG_TEST_RUN figures of the per-packet cost
section (`build/pktcost.json`: """ + ("telemetry for the plain segment, enforcement without and with the API-key entry for the request starts") + """):

| path | clients | pktcost method | ns | × trivial | target | |
|---|---:|---|---:|---:|---|---|
""" + "\n".join(pk_lines) + "\n\n" if pk_lines else "") + """What the misses come from, as far as this machine lets us see:

- **Plain segment.** On this path the program parses the headers, looks up
  the gateway port and the client (one per-CPU hash lookup), reads the
  first payload bytes and adds to three counters: nothing else. The same
  path under BPF_PROG_TEST_RUN, telemetry, plain segment:
  """ + ("; ".join(cmp_lines) if cmp_lines else "(no pktcost.json)") + """.
  So the instructions are cheap and the live figure is what they cost
  cold, after the TCP stack, nginx and the sender have run in between.
  It did not shrink with tables sized for 2,048 clients instead of a
  million (the table size is not the cause), and guest-side `perf`
  sampling of such a run attributes far less time to the program and its
  helpers than bpf_stats does. The rest is time the guest cannot sample
  (this machine is a container in a paravirtualised PVM guest: it exposes
  no hardware counters to count cache or TLB misses, and time spent in its
  hypervisor is invisible inside it). A trivial program touching one counter is a floor the
  real program cannot approach here. Not fixed: the remedy within reach
  is to touch fewer cache lines per plain segment, and whether that pays
  has to be measured on bare metal.
- **Request start with an address bucket.** When it misses, it is the same
  cold cost as above, plus the bucket's lookup, a clock read and a
  compare-and-swap (the enforcement table of the per-packet cost splits
  the extra cost under BPF_PROG_TEST_RUN).
- **Request start with the key.** The key scan (kern/scan.bpf.h) copies the
  request-start segment (up to `identity.header_scan_bytes`), searches it
  for line ends 8 bytes at a time, matches each header line as it finds
  it and stops at the configured key: past the copy, its cost follows
  where the key sits (~13 words to search at byte 100, ~113 at 900), not
  the segment's length.

Raw figures: `build/livecost.json`.
<!-- livecost:end -->
"""
    with open(a.out, "w") as f:
        f.write(text)
    if a.raw:
        with open(a.raw, "w") as f:
            json.dump({"seconds": a.seconds, "wrk": a.wrk, "key_requests": a.keyreqs,
                       "rows": rows}, f, indent=1)


if __name__ == "__main__":
    main()
