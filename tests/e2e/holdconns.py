#!/usr/bin/env python3
"""Holds connections to a server the way a local attacker would starve it.

  holdconns.py HOST PORT --idle N --slow M --seconds S

N idle connections (connected, nothing sent) and M slowloris connections (a
request head that never ends: one more byte every 0.5 s), each reopened as
soon as the server closes it, for S seconds. Prints JSON: "connects",
"closed_by_server", "held_avg" (connections open on our side, sampled
every 0.1 s), "answered" (bytes from the server on a slowloris connection:
an answer to an unfinished request, which must not happen).
"""
import argparse
import json
import selectors
import socket
import time

SLOW_HEAD = b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: "


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("host")
    ap.add_argument("port", type=int)
    ap.add_argument("--idle", type=int, default=0)
    ap.add_argument("--slow", type=int, default=0)
    ap.add_argument("--seconds", type=float, required=True)
    a = ap.parse_args()

    sel = selectors.DefaultSelector()
    conns = {}  # socket -> {"slow": bool, "next": time of the next byte}
    st = {"connects": 0, "closed_by_server": 0, "answered": 0}
    samples = []

    def open_one(slow):
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.setblocking(False)
        s.connect_ex((a.host, a.port))
        conns[s] = {"slow": slow, "sent": False, "next": time.monotonic()}
        sel.register(s, selectors.EVENT_READ)
        st["connects"] += 1

    def drop(s):
        sel.unregister(s)
        del conns[s]
        s.close()

    end = time.monotonic() + a.seconds
    next_sample = time.monotonic()
    while time.monotonic() < end:
        slow_n = sum(1 for c in conns.values() if c["slow"])
        for _ in range(a.idle - (len(conns) - slow_n)):
            open_one(False)
        for _ in range(a.slow - slow_n):
            open_one(True)
        for key, _ in sel.select(timeout=0.05):
            s = key.fileobj
            try:
                data = s.recv(4096)
            except (BlockingIOError, InterruptedError):
                continue
            except OSError:
                data = b""
            if data:
                if conns[s]["slow"]:
                    st["answered"] += 1
                continue
            st["closed_by_server"] += 1
            drop(s)
        now = time.monotonic()
        for s, c in list(conns.items()):
            if not c["slow"] or now < c["next"]:
                continue
            try:
                s.send(b"a" if c["sent"] else SLOW_HEAD)
                c["sent"] = True
            except (BlockingIOError, InterruptedError):
                pass
            except OSError:
                st["closed_by_server"] += 1
                drop(s)
                continue
            c["next"] = now + 0.5
        if now >= next_sample:
            samples.append(len(conns))
            next_sample = now + 0.1
    for s in list(conns):
        drop(s)
    st["held_avg"] = round(sum(samples) / len(samples), 1) if samples else 0
    print(json.dumps(st))


if __name__ == "__main__":
    main()
