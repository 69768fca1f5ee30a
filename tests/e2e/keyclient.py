#!/usr/bin/env python3
"""Requests that carry an API key in a header line given byte for byte, over
plain HTTP or TLS, one connection per request or all on one kept-alive
connection, at a fixed rate. Prints one JSON object:
{"codes": [...], "elapsed": seconds from the first send to the last answer}.

  keyclient.py HOST PORT --header 'Authorization: Bearer\\tsk-..' [--tls]
               [--keepalive] [--n 30] [--rate 10] [--path /v1/x]

--header takes Python escapes (\\t, \\x20), so a test states exactly the
spacing it sends: curl and most libraries normalise it.
"""
import argparse
import json
import socket
import ssl
import sys
import time


def read_response(f):
    status = f.readline()
    if not status:
        raise ConnectionError("closed before an answer")
    code = int(status.split()[1])
    length, close = 0, False
    while True:
        line = f.readline()
        if line in (b"\r\n", b"\n", b""):
            break
        name, _, value = line.decode("latin-1").partition(":")
        name = name.strip().lower()
        if name == "content-length":
            length = int(value.strip())
        elif name == "connection" and value.strip().lower() == "close":
            close = True
    if length:
        f.read(length)
    return code, close


def connect(args, ctx):
    s = socket.create_connection((args.host, args.port), timeout=args.timeout)
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    if ctx:
        s = ctx.wrap_socket(s, server_hostname="gw.test")
    return s, s.makefile("rb")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("host")
    ap.add_argument("port", type=int)
    ap.add_argument("--header", required=True)
    ap.add_argument("--tls", action="store_true")
    ap.add_argument("--keepalive", action="store_true")
    ap.add_argument("--n", type=int, default=30)
    ap.add_argument("--rate", type=float, default=10.0)
    ap.add_argument("--path", default="/v1/chat/completions")
    ap.add_argument("--timeout", type=float, default=5.0)
    args = ap.parse_args()
    header = args.header.encode("latin-1").decode("unicode_escape").encode("latin-1")
    ctx = None
    if args.tls:
        ctx = ssl.create_default_context()
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
    body = b'{"model":"m"}'
    codes, conn = [], None
    t0 = time.monotonic()
    for i in range(args.n):
        due = t0 + i / args.rate
        now = time.monotonic()
        if due > now:
            time.sleep(due - now)
        if conn is None:
            conn = connect(args, ctx)
        last = i == args.n - 1 or not args.keepalive
        req = (b"POST " + args.path.encode() + b" HTTP/1.1\r\nHost: gw.test\r\n" + header +
               b"\r\nContent-Type: application/json\r\nContent-Length: " +
               str(len(body)).encode() + b"\r\n" +
               (b"Connection: close\r\n" if last else b"") + b"\r\n" + body)
        try:
            conn[0].sendall(req)
            code, close = read_response(conn[1])
        except (OSError, ConnectionError, ValueError) as e:
            print("request %d: %s" % (i, e), file=sys.stderr)
            code, close = 0, True
        codes.append(code)
        if last or close:
            conn[0].close()
            conn = None
    print(json.dumps({"codes": codes, "elapsed": round(time.monotonic() - t0, 3)}))


if __name__ == "__main__":
    main()
