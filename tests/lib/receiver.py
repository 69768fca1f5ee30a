#!/usr/bin/env python3
"""The webhook receiver of the end-to-end tests, the benchmarks and the
compose file (tests/lib/e2e.sh: start_receiver).

Answers requests with scripted statuses, checks Standard Webhooks
signatures and validates tollgate events against the published JSON
Schemas, and logs every request as one JSON line. With --openai it also
plays an OpenAI-compatible /v1/chat/completions endpoint; with --delay-ms
it answers every request that much later (a slow upstream for a gateway).

  receiver.py --port P --log FILE [--secret S] [--schema-dir D]
              [--plan 500,500,200] [--openai] [--delay-ms MS]

--plan: the statuses of successive requests; the last one repeats. A
status may carry a Retry-After value: 429:1.
"""
import argparse
import base64
import hashlib
import hmac
import json
import os
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

try:
    import jsonschema
except ImportError:  # the tests install python3-jsonschema; say so if not
    jsonschema = None


def hmac_key(secret):
    if secret.startswith("whsec_"):
        return base64.b64decode(secret[len("whsec_"):])
    return secret.encode()


class State:
    def __init__(self, args):
        self.args = args
        self.lock = threading.Lock()
        self.plan = []
        for item in (args.plan or "200").split(","):
            code, _, retry = item.partition(":")
            self.plan.append((int(code), retry or None))
        self.n = 0
        self.log = open(args.log, "a", buffering=1)
        self.schemas = {}
        if args.schema_dir:
            for name in os.listdir(args.schema_dir):
                if name.endswith(".schema.json"):
                    with open(os.path.join(args.schema_dir, name)) as f:
                        s = json.load(f)
                    self.schemas[name[: -len(".schema.json")]] = s

    def next_status(self):
        with self.lock:
            code, retry = self.plan[min(self.n, len(self.plan) - 1)]
            self.n += 1
            return code, retry

    def validate(self, ev):
        """(ok, error) for a tollgate event; (None, None) for other bodies."""
        if not isinstance(ev, dict) or not str(ev.get("schema", "")).startswith("tollgate."):
            return None, None
        schema = self.schemas.get(ev["schema"])
        if schema is None or jsonschema is None:
            return False, "no schema or no jsonschema module for " + ev["schema"]
        try:
            jsonschema.validate(ev, schema, format_checker=jsonschema.FormatChecker())
            return True, None
        except jsonschema.ValidationError as e:
            return False, "%s at %s" % (e.message, list(e.absolute_path))


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt, *a):
        pass

    def answer(self):
        st = self.server.state
        n = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(n)
        rec = {"t": time.time(), "path": self.path,
               "id": self.headers.get("webhook-id"),
               "content_type": self.headers.get("Content-Type"),
               "user_agent": self.headers.get("User-Agent"),
               "authorization": self.headers.get("Authorization"),
               "x_team": self.headers.get("X-Team")}
        sig = self.headers.get("webhook-signature")
        ts = self.headers.get("webhook-timestamp")
        if st.args.secret:
            rec["sig_ok"] = False
            if sig and ts and rec["id"]:
                msg = ("%s.%s." % (rec["id"], ts)).encode() + raw
                want = base64.b64encode(
                    hmac.new(hmac_key(st.args.secret), msg, hashlib.sha256).digest()).decode()
                rec["sig_ok"] = any(s.partition(",")[2] == want for s in sig.split())
                rec["ts_skew"] = abs(time.time() - int(ts))
        else:
            rec["sig_ok"] = None if sig is None else "unexpected"
        try:
            body = json.loads(raw)
        except ValueError:
            body = raw.decode("utf-8", "replace")
        rec["body"] = body
        rec["schema_ok"], rec["schema_error"] = st.validate(body)
        # The openai format wraps the event in the user message.
        if isinstance(body, dict) and "messages" in body:
            try:
                inner = json.loads(body["messages"][-1]["content"])
                rec["schema_ok"], rec["schema_error"] = st.validate(inner)
                rec["inner_id"] = inner.get("id")
            except (ValueError, KeyError, IndexError, TypeError):
                rec["schema_ok"], rec["schema_error"] = False, "no event in the chat request"
        code, retry = st.next_status()
        rec["status"] = code
        out = b'{"ok":true}'
        if st.args.openai and self.path.endswith("/chat/completions") and code == 200:
            out = json.dumps({
                "id": "chatcmpl-test", "object": "chat.completion", "created": int(time.time()),
                "model": (body.get("model") if isinstance(body, dict) else None) or "stub",
                "choices": [{"index": 0, "finish_reason": "stop", "message": {
                    "role": "assistant",
                    "content": "Likely cause: one client exceeding its quota. Risk: low. "
                               "Action: none, tollgate limits it."}}],
            }).encode()
        st.log.write(json.dumps(rec) + "\n")
        if st.args.delay_ms:
            time.sleep(st.args.delay_ms / 1000)
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(out)))
        if retry:
            self.send_header("Retry-After", retry)
        self.end_headers()
        self.wfile.write(out)

    do_GET = do_POST = answer


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--log", required=True)
    p.add_argument("--secret")
    p.add_argument("--schema-dir")
    p.add_argument("--plan")
    p.add_argument("--openai", action="store_true")
    p.add_argument("--delay-ms", type=float, default=0)
    args = p.parse_args()
    srv = ThreadingHTTPServer(("127.0.0.1", args.port), Handler)
    srv.daemon_threads = True
    srv.state = State(args)
    print("listening", args.port, flush=True)
    srv.serve_forever()


if __name__ == "__main__":
    sys.exit(main())
