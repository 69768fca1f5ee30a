#!/usr/bin/env python3
"""The integrity cost table (bench/integrity_cost.sh) from the pktcost JSON
files of both builds: DIR/{before,after}.R.json for R in 1..ROUNDS.

usage: integrity_cost_report.py DIR ROUNDS BEFORE_REV AFTER_REV CURRENT_REV CPUS KERNEL
                                LOAD_BEFORE LOAD_AFTER
"""
import json
import statistics
import sys

PATHS = [
    ("plain segment (1400 B)", "repeat"),
    ("request start, retransmitted", "repeat"),
    ("request start (new)", "loop"),
    ("request start (new)", "derived"),
    ("request start, API key at byte 100 (new)", "loop"),
    ("request start, API key at byte 100 (new)", "derived"),
    ("request start, API key at byte 900 (new)", "loop"),
    ("request start, API key at byte 900 (new)", "derived"),
]
CONFIGS = ["telemetry", "enforcement"]
METHOD_LABEL = {"repeat": "repeat: warm", "loop": "loop: cold, kernel-timed",
                "derived": "derived: warm estimate"}


def figures(doc):
    """{(path, method, clients, config): (ns, x trivial)}; loop rows
    kernel-timed, as pktcost's enforcement table."""
    out = {}
    triv = doc["trivial_ns"]
    for r in doc["results"]:
        if r["program"] != "tg_tc_ingress":
            continue
        ns = r.get("kernel_timed_ns", r["ns"]) if r["method"] == "loop" else r["ns"]
        out[(r["path"], r["method"], r["clients"], r["config"])] = (ns, ns / triv)
    return out


def main():
    d, rounds, brev, arev, crev, cpus, kernel, load_b, load_a = sys.argv[1:10]
    rounds = int(rounds)
    sides = ("before", "after", "current")
    runs = {side: [figures(json.load(open(f"{d}/{side}.{r}.json")))
                   for r in range(1, rounds + 1)] for side in sides}
    trivial = {side: [json.load(open(f"{d}/{side}.{r}.json"))["trivial_ns"]
                      for r in range(1, rounds + 1)] for side in sides}
    sizes = sorted({k[2] for k in runs["after"][0]})
    med = statistics.median
    print("## What quota integrity costs per request start\n")
    print(f"`bench/integrity_cost.sh`: pktcost built at `{brev}` (before: FNV-1a key "
          f"hash, every request start charged) and at `{arev}` (after: SipHash-2-4 "
          "under the agent's random key, and a request start charged only once its "
          "client proved the handshake: the tg_handshake record of the server's ISN, "
          "or an established socket found with bpf_skc_lookup_tcp), "
          f"{rounds} rounds alternating the builds. Machine: Debian 12, {cpus} vCPU, "
          f"kernel {kernel}; load average {load_b} before, {load_a} after. "
          "The trivial program (one per-CPU array increment) measured "
          f"{med(trivial['before']):.1f} ns (before) and {med(trivial['after']):.1f} ns "
          "(after), median of the rounds; each figure is also given as a multiple "
          "of its own run's trivial program, and **after ÷ before** compares those "
          "multiples (median of the per-round quotients). Enforcement: enforce mode, "
          "one CIDR entry and one API-key entry (new starts are scanned for the key "
          "and hashed); telemetry: no quota entry (no bucket, and with the key detectors off no scan).\n")
    print("| path | clients | config | method | before: ns (× trivial) | after: ns (× trivial) "
          "| after ÷ before | after − before: ns |")
    print("|---|---:|---|---|---:|---:|---:|---:|")
    for path, method in PATHS:
        for conf in CONFIGS:
            for n in sizes:
                k = (path, method, n, conf)
                if not all(k in f for f in runs["before"] + runs["after"]):
                    continue
                b = [f[k] for f in runs["before"]]
                a = [f[k] for f in runs["after"]]
                q = med([a[i][1] / b[i][1] for i in range(rounds)])
                bns, ans = med(x[0] for x in b), med(x[0] for x in a)
                print(f"| {path} | {n} | {conf} | {METHOD_LABEL[method]} | "
                      f"{bns:.1f} ({med(x[1] for x in b):.2f}) | {ans:.1f} "
                      f"({med(x[1] for x in a):.2f}) | {q:.2f} | {ans - bns:+.1f} |")
    print("\nThe plain segment and the retransmitted start are controls: neither "
          "runs the new steps, so their quotient shows what the rest of the two "
          "builds differs by. The new request starts of these rows are later "
          "requests of a proven connection: they pay a flag test for the proof, "
          "and a keyed one hashes the key's value (SipHash-2-4 where FNV-1a was).\n")
    print(f"The proof itself is paid by a connection's first request start (the "
          f"tg_handshake record of the server's ISN looked up and deleted). pktcost at "
          f"`{crev}` (the current layout) times that start after its connection's "
          "handshake (and, in telemetry, one whose handshake it never saw, proven "
          "or not by a socket lookup), against a later request start of a proven "
          f"connection, in the same runs (trivial program {med(trivial['current']):.1f} ns):\n")
    print("| start | config | clients | method | later start: ns (× trivial) | this start: ns "
          "(× trivial) | ÷ later | − later: ns |")
    print("|---|---|---:|---|---:|---:|---:|---:|")
    cur = runs["current"]
    firsts = [("request start, first of its connection", "first of its connection (ISN proof)"),
              ("request start, first of its connection, its handshake unseen (socket lookup)",
               "first of its connection, handshake unseen (socket lookup, no socket)")]
    for fpath, label in firsts:
        for method in ("loop", "derived"):
            for conf in CONFIGS:
                for n in sizes:
                    lk = ("request start (new)", method, n, conf)
                    fk = (fpath, method, n, conf)
                    if not all(lk in f and fk in f for f in cur):
                        continue
                    q = med([f[fk][1] / f[lk][1] for f in cur])
                    lns, fns = med(f[lk][0] for f in cur), med(f[fk][0] for f in cur)
                    print(f"| {label} | {conf} | {n} | {METHOD_LABEL[method]} | {lns:.1f} "
                          f"({med(f[lk][1] for f in cur):.2f}) | {fns:.1f} "
                          f"({med(f[fk][1] for f in cur):.2f}) | {q:.2f} | {fns - lns:+.1f} |")

if __name__ == "__main__":
    main()
