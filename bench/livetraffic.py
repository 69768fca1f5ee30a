#!/usr/bin/env python3
"""Traffic of one kind for bench/livecost.sh, run in the client's
namespace, bounded by --seconds. Prints a JSON line of what it sent.

  livetraffic.py upload HOST PORT --seconds S
      one POST whose body streams for S seconds on one connection: after
      the request start, every segment toward the port is a plain segment
      (turn TSO/GSO off on the client's interface so they are MSS-sized).
  livetraffic.py syn HOST PORT --seconds S
      non-blocking connects to a port nothing listens on: each sends one
      SYN of a new connection (a new source port) and gets a RST back, so
      the only client-to-gateway segments are SYNs. --src ADDR sends them
      from another address of the client (its connections stay half-open
      in the agent's table: keep them away from the other runs' client).
"""
import argparse
import errno
import json
import socket
import time


def upload(host, port, seconds):
    s = socket.create_connection((host, port), timeout=5)
    huge = 1 << 40  # never reached: the stream stops on time
    s.sendall(b"POST /upload HTTP/1.1\r\nHost: gw\r\nContent-Length: %d\r\n\r\n" % huge)
    chunk = bytes(1 << 20)
    sent = 0
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        s.sendall(chunk)
        sent += len(chunk)
    s.close()
    return {"bytes": sent}


def syn(host, port, seconds, src):
    n = 0
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        for _ in range(100):
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.setblocking(False)
            if src:
                s.bind((src, 0))
            # the SYN leaves within connect(); closing a socket in SYN_SENT
            # sends nothing, and the host's RST finds no socket
            if s.connect_ex((host, port)) in (errno.EINPROGRESS, errno.ECONNREFUSED):
                n += 1
            s.close()
    return {"syns": n}


def main():
    p = argparse.ArgumentParser()
    p.add_argument("kind", choices=["upload", "syn"])
    p.add_argument("host")
    p.add_argument("port", type=int)
    p.add_argument("--seconds", type=float, default=3.0)
    p.add_argument("--src", default="", help="source address of the SYNs")
    a = p.parse_args()
    out = upload(a.host, a.port, a.seconds) if a.kind == "upload" else syn(a.host, a.port, a.seconds, a.src)
    print(json.dumps(out))


if __name__ == "__main__":
    main()
