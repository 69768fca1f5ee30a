#!/usr/bin/env python3
"""Writes the under-flood section of BENCHMARKS.md from bench/flood.sh's
rows (a TSV: row, legit p99 ms, legit p50 ms, legit ok, legit offered,
abuser 200s, abuser answered, abuser wrk req/s), and its raw JSON."""
import argparse
import datetime
import json

TARGET_P99 = 1.2       # the kernel drop: and below limit_req's
TARGET_P99_HOOK = 1.5  # the auth_request hook: and every legitimate request answered
LABEL = {
    "baseline": "baseline: the legitimate client alone, no limiter",
    "none": "flood, no limiting",
    "limit_req": "flood, nginx `limit_req` (user space)",
    "drop": "flood, tollgate: kernel drop (enforce, action drop)",
    "gateway": "flood, tollgate: `auth_request` hook, 429 (action gateway)",
    "gateway_delay": "flood, tollgate: `auth_request` hook, 429 held %g ms (api.check_deny_delay_ms)",
}


def main():
    p = argparse.ArgumentParser()
    p.add_argument("rows")
    p.add_argument("out")
    p.add_argument("raw", nargs="?", default="")
    for k in ("seconds", "rate", "quota", "rounds"):
        p.add_argument("--" + k, type=float, required=True)
    p.add_argument("--abuse", required=True)
    p.add_argument("--dropped", default="0")
    p.add_argument("--checks-denied", default="0")
    p.add_argument("--nginx", default="?")
    p.add_argument("--deny-delay-ms", type=float, default=0)
    a = p.parse_args()
    LABEL["gateway_delay"] = LABEL["gateway_delay"] % a.deny_delay_ms

    runs = {}
    for line in open(a.rows):
        name, p99, p50, ok, offered, a_ok, a_all, a_rps = line.rstrip("\n").split("\t")
        runs.setdefault(name, []).append({
            "p99_ms": float(p99), "p50_ms": float(p50), "ok": int(ok), "offered": int(offered),
            "abuser_ok": int(a_ok), "abuser_answered": int(a_all), "abuser_wrk_rps": float(a_rps)})

    def median(v):
        v = sorted(v)
        n = len(v)
        return v[n // 2] if n % 2 else (v[n // 2 - 1] + v[n // 2]) / 2

    # each figure: the median over the rounds
    rows = {}
    for name, rs in runs.items():
        rows[name] = {k: median([r[k] for r in rs]) for k in rs[0]}
        rows[name]["rounds"] = rs
    base = rows["baseline"]
    allowed = a.quota * a.seconds + a.quota  # R·t + burst
    for r in rows.values():
        r["p99_ratio"] = r["p99_ms"] / base["p99_ms"]
        r["throughput"] = r["ok"] / a.seconds
        r["throughput_ratio"] = r["ok"] / base["ok"] if base["ok"] else 0.0
    lines = []
    for name, r in rows.items():
        if name == "baseline":
            abuser = "– | – | –"
        else:
            abuser = "%g | %g | %.2f" % (r["abuser_answered"], r["abuser_ok"], r["abuser_ok"] / allowed)
        lines.append("| %s | %.2f | **%.2f** | %.2f | %.1f (%g of %g) | %.2f | %s | %s |" % (
            LABEL[name], r["p99_ms"], r["p99_ratio"], r["p50_ms"], r["throughput"], r["ok"],
            r["offered"], r["throughput_ratio"], abuser,
            " / ".join("%.1f" % x["p99_ms"] for x in r["rounds"])))
    lr = rows["limit_req"]["p99_ms"]
    verdicts = []
    r = rows["drop"]
    met = r["p99_ratio"] <= TARGET_P99 and r["p99_ms"] < lr
    r["target_met"] = met
    verdicts.append("%s: p99 %.2f× the baseline, %s limit_req's (%.2f ms against %.2f ms): **%s**" % (
        LABEL["drop"].split(": ", 1)[1], r["p99_ratio"],
        "below" if r["p99_ms"] < lr else "not below", r["p99_ms"], lr,
        "met" if met else "missed"))
    # the hook: every round must answer every legitimate request
    for name in ("gateway", "gateway_delay"):
        if name not in rows:
            continue
        r = rows[name]
        lost = sum(x["offered"] - x["ok"] for x in r["rounds"])
        met = r["p99_ratio"] <= TARGET_P99_HOOK and lost == 0
        r["target_met"] = met
        verdicts.append("%s: p99 %.2f× the baseline (%.2f ms), %s: **%s**" % (
            LABEL[name].split(": ", 1)[1], r["p99_ratio"], r["p99_ms"],
            "every legitimate request answered" if lost == 0
            else "%d legitimate requests not answered 2xx over the rounds" % lost,
            "met" if met else "missed"))
    asks = rows["none"]["abuser_wrk_rps"] / a.quota
    date = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    text = f"""<!-- flood:begin — written by bench/run.sh (bench/flood.sh); edit outside these markers -->
## Under flood: a legitimate client beside an abusive one

`bench/flood.sh`, {date}, on the machine of the conditions above (nginx,
both clients and the agent share its cores). nginx {a.nginx}, one worker,
proxies to a backend on itself (keep-alive upstream). Two clients, each in
its own network namespace behind its own veth pair, each with the same
quota: {a.quota:g} req/s, burst {a.quota:g}, per address.

- **Legitimate client**: `tests/lib/loadgen.py`, {a.rate:g} req/s for
  {a.seconds:g} s, keep-alive, open loop: latency is counted from each
  request's scheduled start, so a stall shows in full. Debian's wrk has
  no constant-rate mode (`-R` is wrk2's), hence loadgen.py.
- **Abuser**: `{a.abuse}`, closed loop, as fast as the limiter lets it.
  With no limiter it answered {rows["none"]["abuser_wrk_rps"]:.0f} req/s,
  {asks:.0f}× its quota (the target asks ≥ 20×). Against a limiter it
  keeps 64 requests in flight: a kernel drop holds a connection until TCP
  retransmits the request start; a 429 comes back at once and the next
  request follows.""" + ("""
- **Held denials** (the last row): the agent holds each denied check's
  answer """ + f"{a.deny_delay_ms:g}" + """ ms (`api.check_deny_delay_ms`), so each of the
  abuser's connections waits that long for its 429 before it asks again."""
  if "gateway_delay" in rows else "") + f"""

Every row ran once in each of {a.rounds:g} rounds, in the order of the
table; figures are medians over the rounds. The baseline of every ratio is
the legitimate client alone in the same run. "Through" counts the abuser's requests nginx answered 200 during its
{a.seconds:g} s, against what its quota allows, R·t + burst =
{allowed:.0f}. Kernel drops of the abuser's request starts in the drop rows: {a.dropped}
(a retransmitted start is dropped again, so this exceeds the requests);
checks denied in
the gateway rows: {a.checks_denied}; the legitimate client was never
denied (checked).

| | legitimate p99 ms | p99 ÷ baseline | p50 ms | legitimate answered/s (ok of sent) | ÷ baseline | abuser answered | abuser through (200) | through ÷ (R·t + burst) | p99 per round (ms) |
|---|---:|---:|---:|---:|---:|---:|---:|---:|---|
""" + "\n".join(lines) + """

Targets: with the kernel drop, the legitimate client's p99 ≤ """ + f"{TARGET_P99:g}" + """× its
baseline and below limit_req's; with the hook, ≤ """ + f"{TARGET_P99_HOOK:g}" + """× with every
legitimate request answered.

""" + "\n".join("- " + v for v in verdicts) + """

Raw figures: `build/flood.json`.
<!-- flood:end -->
"""
    with open(a.out, "w") as f:
        f.write(text)
    if a.raw:
        with open(a.raw, "w") as f:
            json.dump({"seconds": a.seconds, "rounds": a.rounds, "legit_rate": a.rate, "quota": a.quota,
                       "abuser": a.abuse, "allowed": allowed, "rows": rows}, f, indent=1)


if __name__ == "__main__":
    main()
