#!/usr/bin/env python3
"""How fresh an active client's figures are through the agent's API.

    freshness.py --api HOST:PORT --tgflood PATH --prog-id ID --port P
                 --active N [--seconds S] [--probers K] [--limit-s L]
                 [--interval-s I]

Run inside the agent's network namespace (bench/footprint.sh). K probers
run side by side, each on its own share of the active clients 0..N-1
(tgflood's addresses, prefix fd00:198:18::), so no two probe one client
at once. A prober waits a random time within the scan interval (I s),
reads the client's payload_bytes on /v1/clients/{address}, sends it one
segment with 100 payload bytes (tgflood --stamp: the wall-clock time of
the traffic), then polls that address every 10 ms on a kept-alive
connection until payload_bytes grows. A sample is the time of the answer
that shows it minus the time of the traffic: an upper bound, by the poll
period and one request at most. Not seen within L s: recorded as L (a
miss). Prints one sample per line (ms).
"""
import argparse
import http.client
import json
import random
import subprocess
import sys
import threading
import time

POLL_S = 0.010


def addr_of(i):
    return "fd00:198:18::%x:%x" % (i >> 16, i & 0xFFFF)


def payload_bytes(conn, addr):
    conn.request("GET", "/v1/clients/" + addr)
    r = conn.getresponse()
    body = r.read()
    if r.status != 200:
        raise RuntimeError("GET /v1/clients/%s: %d %s" % (addr, r.status, body[:200]))
    return json.loads(body)["payload_bytes"]


def prober(k, args, host, port, deadline, out, errors):
    rnd = random.Random(k * 7919 + int(time.time()))
    mine = list(range(k, args.active, args.probers))
    conn = http.client.HTTPConnection(host, port, timeout=10)
    try:
        while time.time() < deadline:
            time.sleep(rnd.uniform(0, args.interval_s))  # somewhere within a scan interval
            addr_i = rnd.choice(mine)
            addr = addr_of(addr_i)
            p0 = payload_bytes(conn, addr)
            r = subprocess.run([args.tgflood, "--prog-id", str(args.prog_id), "--port", str(args.port),
                                "--count", "1", "--first", str(addr_i), "--payload", "100", "--stamp"],
                               capture_output=True, text=True, check=True)
            t_pkt = int(next(l.split()[1] for l in r.stdout.splitlines() if l.startswith("at ")))
            limit_ns = int(args.limit_s * 1e9)
            while True:
                p1 = payload_bytes(conn, addr)
                t = time.time_ns()
                if p1 > p0:
                    out.append((t - t_pkt) / 1e6)
                    break
                if t - t_pkt >= limit_ns:
                    out.append(args.limit_s * 1e3)
                    break
                time.sleep(POLL_S)
    except Exception as e:  # reported, and the run fails
        errors.append("prober %d: %s" % (k, e))
    finally:
        conn.close()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--api", required=True)
    ap.add_argument("--tgflood", required=True)
    ap.add_argument("--prog-id", type=int, required=True)
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--active", type=int, required=True)
    ap.add_argument("--seconds", type=float, default=12)
    ap.add_argument("--probers", type=int, default=4)
    ap.add_argument("--limit-s", type=float, default=8)
    ap.add_argument("--interval-s", type=float, default=1.0)
    args = ap.parse_args()
    host, port = args.api.rsplit(":", 1)
    args.probers = max(1, min(args.probers, args.active))
    out, errors = [], []
    deadline = time.time() + args.seconds
    th = [threading.Thread(target=prober, args=(k, args, host, int(port), deadline, out, errors))
          for k in range(args.probers)]
    for t in th:
        t.start()
    for t in th:
        t.join()
    for e in errors:
        print("freshness: " + e, file=sys.stderr)
    if errors or not out:
        sys.exit(1)
    for v in out:
        print("%.1f" % v)


if __name__ == "__main__":
    main()
