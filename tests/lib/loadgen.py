#!/usr/bin/env python3
"""Open-loop HTTP/1.1 load generator (python3 stdlib only).

Request starts are scheduled at exactly --rate per second for --duration
seconds, whatever the server does: an outstanding request never delays the
schedule. At most --conns requests are in flight; a request that finds every
slot busy waits for one, and its latency and its --timeout both count from
its scheduled start (no coordinated omission). Keep-alive connections are
pooled, or --new-conn-per-request opens one per request (Connection: close).
The whole run ends by duration + timeout + 1 s, every socket closed.

  loadgen.py --url http://198.18.0.1:8080/v1/models --rate 100 --duration 5 --json

JSON: {"offered", "ok" (2xx), "status": {"200": n, ...}, "errors",
"timeouts", "latency_ms": {"p50", "p90", "p99", "max"} (of answered
requests), "retries" (requests sent again because the server had closed a
pooled keep-alive connection), "duration_s", "rate", "conns"}.
Exit 0, or 2 on a usage error.
"""
import argparse
import asyncio
import socket
import struct
import json
import math
import sys
import time
import urllib.parse


class BadResponse(Exception):
    pass


class Closed(BadResponse):
    """The connection closed before any byte of a response."""


def parse_args(argv):
    ap = argparse.ArgumentParser(description="open-loop HTTP/1.1 load generator")
    ap.add_argument("--url", required=True)
    ap.add_argument("--rate", type=float, required=True, help="request starts per second")
    ap.add_argument("--duration", type=float, required=True, help="seconds of offered load")
    ap.add_argument("--conns", type=int, default=64, help="max concurrent requests (64)")
    ap.add_argument("--new-conn-per-request", action="store_true")
    ap.add_argument("--header", action="append", default=[], help="'Name: value', repeatable")
    ap.add_argument("--body-bytes", type=int, default=0, help="POST a body of N bytes")
    ap.add_argument("--method", default=None, help="default GET, or POST with a body")
    ap.add_argument("--timeout", type=float, default=2.0, help="per request, seconds")
    ap.add_argument("--graceful-close", action="store_true",
                    help="close a request given up on with a FIN, as most clients do "
                         "(its orphaned socket keeps retransmitting it), not a RST")
    ap.add_argument("--json", action="store_true")
    a = ap.parse_args(argv)
    u = urllib.parse.urlsplit(a.url)
    if u.scheme != "http" or not u.hostname:
        ap.error("--url must be http://host[:port]/path")
    if not (0 < a.rate <= 1e6) or not (0 < a.duration <= 86400):
        ap.error("--rate and --duration must be positive")
    if a.conns < 1 or a.timeout <= 0 or a.body_bytes < 0:
        ap.error("--conns >= 1, --timeout > 0, --body-bytes >= 0")
    for h in a.header:
        if ":" not in h or "\r" in h or "\n" in h:
            ap.error("--header must be 'Name: value': %r" % h)
    a.host, a.port = u.hostname, u.port or 80
    a.path = (u.path or "/") + ("?" + u.query if u.query else "")
    return a


def build_request(a):
    host = "[%s]" % a.host if ":" in a.host else a.host
    if a.port != 80:
        host += ":%d" % a.port
    method = a.method or ("POST" if a.body_bytes else "GET")
    lines = ["%s %s HTTP/1.1" % (method, a.path), "Host: " + host,
             "User-Agent: tollgate-loadgen"]
    lines += [h.strip() for h in a.header]
    if a.body_bytes or method in ("POST", "PUT", "PATCH"):
        lines.append("Content-Length: %d" % a.body_bytes)
    if a.new_conn_per_request:
        lines.append("Connection: close")
    head = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
    return head + b"x" * a.body_bytes, method == "HEAD"


async def read_response(reader, head_only):
    """Reads one response; returns (status, keep_alive)."""
    line = await reader.readline()
    if not line:
        raise Closed("closed before the response")
    parts = line.split(None, 2)
    if len(parts) < 2 or not parts[0].startswith(b"HTTP/1."):
        raise BadResponse("bad status line %r" % line[:80])
    status = int(parts[1])
    keep = parts[0] == b"HTTP/1.1"
    length, chunked = None, False
    while True:
        h = await reader.readline()
        if not h.endswith(b"\n"):
            raise BadResponse("headers cut short")
        if h in (b"\r\n", b"\n"):
            break
        name, _, value = h.partition(b":")
        name, value = name.strip().lower(), value.strip().lower()
        if name == b"content-length":
            length = int(value)
        elif name == b"transfer-encoding":
            chunked = b"chunked" in value
        elif name == b"connection":
            keep = b"close" not in value if keep else b"keep-alive" in value
    if head_only or status in (204, 304) or 100 <= status < 200:
        return status, keep
    if chunked:
        while True:
            size = int((await reader.readline()).split(b";")[0].strip() or b"x", 16)
            if size == 0:
                while (await reader.readline()) not in (b"\r\n", b"\n", b""):
                    pass
                break
            await reader.readexactly(size + 2)
    elif length is not None:
        await reader.readexactly(length)
    else:
        await reader.read()  # delimited by the connection's close
        keep = False
    return status, keep


class Runner:
    def __init__(self, a):
        self.a = a
        self.request, self.head_only = build_request(a)
        self.slots = asyncio.Semaphore(a.conns)
        self.idle = []          # pooled keep-alive (reader, writer)
        self.open = set()       # every writer not yet closed
        self.status, self.latencies = {}, []
        self.offered = self.errors = self.timeouts = self.retries = 0

    def close(self, writer):
        self.open.discard(writer)
        if self.a.graceful_close:
            writer.close()
            return
        # An abortive close (RST): a request given up on must not live on
        # as an orphaned socket that retransmits it into a later test.
        sock = writer.get_extra_info("socket")
        if sock is not None:
            try:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                                struct.pack("ii", 1, 0))
            except OSError:
                pass
        writer.transport.abort()

    async def connect(self):
        r, w = await asyncio.open_connection(self.a.host, self.a.port)
        self.open.add(w)
        return r, w

    async def exchange(self):
        """One request and its response; a pooled connection the server
        closed meanwhile is retried once on a fresh one."""
        pooled = not self.a.new_conn_per_request and bool(self.idle)
        r, w = self.idle.pop() if pooled else await self.connect()
        try:
            w.write(self.request)
            await w.drain()
            status, keep = await read_response(r, self.head_only)
        except (ConnectionError, Closed):
            self.close(w)
            if pooled:
                self.retries += 1
                return await self.exchange()
            raise
        except BaseException:
            self.close(w)
            raise
        if keep and not self.a.new_conn_per_request and not r.at_eof():
            self.idle.append((r, w))
        else:
            self.close(w)
        return status

    async def in_slot(self):
        async with self.slots:
            return await self.exchange()

    async def one(self, sched):
        try:
            left = sched + self.a.timeout - time.monotonic()
            if left <= 0:
                raise asyncio.TimeoutError
            status = await asyncio.wait_for(self.in_slot(), left)
        except asyncio.TimeoutError:
            self.timeouts += 1
            return
        except asyncio.CancelledError:
            self.timeouts += 1  # still unanswered when the run ended
            raise
        except (OSError, EOFError, ValueError, BadResponse, asyncio.IncompleteReadError):
            self.errors += 1
            return
        key = str(status)
        self.status[key] = self.status.get(key, 0) + 1
        self.latencies.append((time.monotonic() - sched) * 1000.0)

    async def run(self):
        a = self.a
        total = int(round(a.rate * a.duration))
        tasks = set()
        t0 = time.monotonic()
        hard_end = t0 + a.duration + a.timeout + 1.0
        for i in range(total):
            sched = t0 + i / a.rate
            delay = sched - time.monotonic()
            await asyncio.sleep(max(0.0, delay))  # yields even when behind
            self.offered += 1
            t = asyncio.ensure_future(self.one(sched))
            tasks.add(t)
            t.add_done_callback(tasks.discard)
        if tasks:
            left = max(0.0, hard_end - time.monotonic())
            _, pending = await asyncio.wait(set(tasks), timeout=left)
            for t in pending:
                t.cancel()
            if pending:
                await asyncio.wait(pending, timeout=0.5)
        for w in list(self.open):
            self.close(w)
        self.idle.clear()
        return time.monotonic() - t0


def percentile(sorted_vals, p):
    if not sorted_vals:
        return None
    k = min(len(sorted_vals) - 1, max(0, math.ceil(p / 100.0 * len(sorted_vals)) - 1))
    return round(sorted_vals[k], 3)


def main(argv):
    a = parse_args(argv)
    runner = Runner(a)
    elapsed = asyncio.run(runner.run())
    lat = sorted(runner.latencies)
    ok = sum(n for s, n in runner.status.items() if s.startswith("2"))
    out = {
        "offered": runner.offered, "ok": ok,
        "status": dict(sorted(runner.status.items())),
        "errors": runner.errors, "timeouts": runner.timeouts,
        "latency_ms": {"p50": percentile(lat, 50), "p90": percentile(lat, 90),
                       "p99": percentile(lat, 99), "max": percentile(lat, 100)},
        "retries": runner.retries, "duration_s": round(elapsed, 3), "rate": a.rate, "conns": a.conns,
    }
    if a.json:
        print(json.dumps(out))
    else:
        print("offered %d  ok %d  errors %d  timeouts %d  status %s" %
              (out["offered"], ok, out["errors"], out["timeouts"], out["status"]))
        print("latency ms  p50 %s  p90 %s  p99 %s  max %s  (%.2f s)" %
              (out["latency_ms"]["p50"], out["latency_ms"]["p90"],
               out["latency_ms"]["p99"], out["latency_ms"]["max"], elapsed))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
