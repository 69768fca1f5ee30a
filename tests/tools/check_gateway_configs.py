#!/usr/bin/env python3
"""Checks the gateway integration files and the packaging against what the
agent and the gateways expect.

  check_gateway_configs.py SOURCE_DIR [--metrics FILE]

- nginx (gateway-hooks/nginx/): every rate-limit header copied with
  auth_request_set and sent with `add_header ... always`, the check location
  per the /v1/check contract, the upstream (the agent's check socket, kept
  alive); `nginx -t` on the example server; then nginx itself against a stub
  agent and a stub backend: allowed, denied (429 with every header), checks
  on one kept-alive connection, a 403 not from the agent, an agent that is
  down.
- Envoy, Traefik, APISIX: the YAML's structure (filter names and @types,
  the agent's check listener and /v1/check, connections kept alive below
  the agent's idle limit, the headers sent and the response headers let
  through, the failure mode). Traefik: a model of its header handling, step
  by step from its source, run over the shipped file with a client that
  names a victim in X-Real-Ip and X-Forwarded-For.
- packaging/systemd/tollgate.service: the directives, and
  `systemd-analyze verify` when it is installed.
- packaging/grafana/tollgate-dashboard.json: the structure, and every metric
  name in its expressions exists in agent/**/*.c (or in a scraped /metrics
  given with --metrics); `promtool` checks the PromQL when installed.
- docker-compose.yml, Dockerfile, config/compose.json: the shape the compose
  test relies on.

Exit 0 when every check passes; a missing optional tool is a skip.
"""
import glob
import http.server
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request

try:
    import yaml
except ImportError:
    print("python3-yaml is missing (scripts/install-deps.sh test)", file=sys.stderr)
    sys.exit(1)

AGENT = "127.0.0.1:9470"
CHECK = "/v1/check"
CHECK_SOCKET = "unix:/run/tollgate/check.sock"  # the snippet's upstream server
UPSTREAM = "tollgate_check"
CHECK_TCP = "127.0.0.1:9471"  # api.check_listen for gateways that speak HTTP over TCP only
# The rate-limit headers of the /v1/check contract (Retry-After apart).
RATELIMIT = ["RateLimit-Policy", "RateLimit", "X-RateLimit-Limit", "X-RateLimit-Remaining",
             "X-RateLimit-Reset", "x-ratelimit-limit-requests", "x-ratelimit-remaining-requests",
             "x-ratelimit-reset-requests", "x-ratelimit-limit-tokens",
             "x-ratelimit-remaining-tokens", "x-ratelimit-reset-tokens"]
KEY_HEADERS = ["authorization", "x-api-key", "api-key"]

passed = failed = 0


def ok(msg):
    global passed
    passed += 1
    print("ok - " + msg)


def fail(msg):
    global failed
    failed += 1
    print("not ok - " + msg)


def check(cond, msg, detail=""):
    if cond:
        ok(msg)
    else:
        fail(msg + (": " + detail if detail else ""))
    return cond


def skip(msg):
    print("skip - " + msg)


def lower(names):
    return {n.lower() for n in names}


# --- nginx -------------------------------------------------------------------

def block(text, head):
    """The body of the `head { ... }` block in text (braces balanced)."""
    i = text.find(head)
    if i < 0:
        return None
    i = text.index("{", i) + 1
    depth = 1
    for j in range(i, len(text)):
        if text[j] == "{":
            depth += 1
        elif text[j] == "}":
            depth -= 1
            if depth == 0:
                return text[i:j]
    return None


def directives(text):
    """(name, args) of each directive, comments dropped."""
    out = []
    for line in re.sub(r"#[^\n]*", "", text).split(";"):
        words = line.split()
        if words:
            out.append((words[-len(words)], words[1:]))
    return out


def check_nginx_static(src):
    path = os.path.join(src, "gateway-hooks/nginx/tollgate.conf")
    text = open(path).read()
    nocomment = re.sub(r"#[^\n]*", "", text)
    loc = block(nocomment, "location = /_tollgate_check")
    named = block(nocomment, "location @tollgate_429")
    if not check(loc is not None and named is not None, "nginx: the check and @tollgate_429 locations exist"):
        return
    top = nocomment
    for b in (loc, named):
        top = top.replace(b, "")
    top_d = directives(top)
    check(("auth_request", ["/_tollgate_check"]) in top_d, "nginx: auth_request /_tollgate_check")
    check(("error_page", ["403", "=", "@tollgate_429"]) in top_d, "nginx: error_page 403 = @tollgate_429")

    loc_d = directives(loc)
    want = [("internal", []), ("proxy_pass", ["http://%s%s" % (UPSTREAM, CHECK)]),
            ("proxy_http_version", ["1.1"]), ("proxy_set_header", ["Connection", '""']),
            ("proxy_pass_request_body", ["off"]), ("proxy_set_header", ["Content-Length", '""']),
            ("proxy_set_header", ["X-Real-IP", "$remote_addr"]),
            ("proxy_set_header", ["X-Real-Port", "$remote_port"]),
            ("proxy_set_header", ["X-Server-Addr", "$server_addr"]),
            ("proxy_set_header", ["X-Server-Port", "$server_port"])]
    missing = [" ".join([n] + a) for n, a in want if (n, a) not in loc_d]
    check(not missing, "nginx: the check location follows the contract", "missing " + ", ".join(missing))
    passed_keys = {a[0].lower() for n, a in loc_d if n == "proxy_set_header"}
    check(all(k in passed_keys for k in KEY_HEADERS), "nginx: the API key headers reach the agent",
          "sets only " + ", ".join(sorted(passed_keys)))

    # auth_request_set $var $upstream_http_<name>, then add_header Name $var always
    var_of = {}
    for n, a in top_d:
        if n == "auth_request_set" and len(a) == 2 and a[1].startswith("$upstream_http_"):
            var_of[a[1][len("$upstream_http_"):]] = a[0]
    for name in ["Retry-After"] + RATELIMIT:
        v = var_of.get(name.lower().replace("-", "_"))
        if not check(v is not None, "nginx: auth_request_set keeps " + name):
            continue
        if name != "Retry-After":
            check(("add_header", [name, v, "always"]) in top_d,
                  "nginx: %s reaches allowed responses (add_header ... always)" % name)
        check(("add_header", [name, v, "always"]) in directives(named),
              "nginx: %s reaches the 429 (add_header ... always)" % name)
    check(re.search(r"\breturn\s+429\b", named) is not None, "nginx: @tollgate_429 returns 429")

    # The upstream: the agent's check socket, connections kept between checks
    up = open(os.path.join(src, "gateway-hooks/nginx/tollgate-upstream.conf")).read()
    ub = block(re.sub(r"#[^\n]*", "", up), "upstream " + UPSTREAM)
    if not check(ub is not None, "nginx: tollgate-upstream.conf has upstream " + UPSTREAM):
        return
    ud = directives(ub)
    check(("server", [CHECK_SOCKET]) in ud, "nginx: the upstream is the agent's check socket " + CHECK_SOCKET,
          str(ud))
    ka = [a for n, a in ud if n == "keepalive"]
    check(len(ka) == 1 and ka[0][0].isdigit() and int(ka[0][0]) > 0, "nginx: the upstream keeps connections alive",
          str(ka))
    kt = [a for n, a in ud if n == "keepalive_timeout"]
    check(len(kt) == 1 and kt[0][0].endswith("s") and int(kt[0][0][:-1]) < 10,
          "nginx: nginx closes idle connections before the agent does (keepalive_timeout < 10s)", str(kt))
    ex = open(os.path.join(src, "gateway-hooks/nginx/example-server.conf")).read()
    check(("include", ["tollgate/tollgate-upstream.conf"]) in directives(ex),
          "nginx: the example server includes tollgate-upstream.conf")


def nginx_prefix(src, tmp, agent_port=None, listen=None, extra_server=""):
    """A temporary nginx prefix with tollgate.conf and tollgate-upstream.conf
    (its server the stub agent on agent_port) and either the example server
    or a test server."""
    conf = os.path.join(tmp, "conf")
    os.makedirs(os.path.join(conf, "tollgate"), exist_ok=True)
    shutil.copy(os.path.join(src, "gateway-hooks/nginx/tollgate.conf"), os.path.join(conf, "tollgate"))
    up = open(os.path.join(src, "gateway-hooks/nginx/tollgate-upstream.conf")).read()
    if agent_port:
        up = up.replace("server %s;" % CHECK_SOCKET, "server 127.0.0.1:%d;" % agent_port)
    open(os.path.join(conf, "tollgate/tollgate-upstream.conf"), "w").write(up)
    if listen is None:
        shutil.copy(os.path.join(src, "gateway-hooks/nginx/example-server.conf"), conf)
        server = "include example-server.conf;"
    else:
        server = ("include tollgate/tollgate-upstream.conf; "
                  "server { listen 127.0.0.1:%d; include tollgate/tollgate.conf; %s }" % (listen, extra_server))
    t = tmp
    open(os.path.join(conf, "nginx.conf"), "w").write(f"""
worker_processes 1;
pid {t}/nginx.pid;
error_log {t}/error.log warn;
daemon off;
events {{ worker_connections 64; }}
http {{
  access_log off;
  client_body_temp_path {t}/body; proxy_temp_path {t}/proxy;
  fastcgi_temp_path {t}/fastcgi; uwsgi_temp_path {t}/uwsgi; scgi_temp_path {t}/scgi;
  {server}
}}
""")
    return os.path.join(conf, "nginx.conf")


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


class Stub(http.server.BaseHTTPRequestHandler):
    """The agent (answers by X-API-Key) or the backend, recording requests."""
    protocol_version = "HTTP/1.1"

    def log_message(self, *a):
        pass

    def setup(self):
        super().setup()
        self.server.conns.add(self.connection)

    def finish(self):
        super().finish()
        self.server.conns.discard(self.connection)

    def answer(self):
        srv = self.server
        n = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(n) if n else b""
        srv.seen.append({"method": self.command, "path": self.path, "peer": self.client_address,
                         "headers": {k.lower(): v for k, v in self.headers.items()}, "body": body})
        status, headers, out = srv.respond(self)
        self.send_response(status)
        for k, v in headers.items():
            self.send_header(k, v)
        if status != 204:
            self.send_header("Content-Length", str(len(out)))
        self.end_headers()
        self.wfile.write(out)

    do_GET = do_POST = do_HEAD = answer


LIMITS = {"RateLimit-Policy": '"team";q=5;w=1', "RateLimit": '"team";r=0;t=2',
          "X-RateLimit-Limit": "5", "X-RateLimit-Remaining": "0", "X-RateLimit-Reset": "2",
          "x-ratelimit-limit-requests": "5", "x-ratelimit-remaining-requests": "0",
          "x-ratelimit-reset-requests": "2s", "x-ratelimit-limit-tokens": "4096",
          "x-ratelimit-remaining-tokens": "0", "x-ratelimit-reset-tokens": "1500ms"}


def agent_respond(h):
    """The /v1/check contract: no body; 204, or the deny status."""
    key = h.headers.get("X-API-Key", "")
    if key == "deny":
        return 403, dict(LIMITS, **{"Retry-After": "2", "X-Tollgate-Key": "team"}), b""
    allowed = dict(LIMITS, **{"X-RateLimit-Remaining": "4", "x-ratelimit-remaining-requests": "4",
                              "X-Tollgate-Key": "team"})
    return 204, allowed, b""


def serve(respond):
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Stub)
    srv.daemon_threads = True
    srv.seen = []
    srv.conns = set()  # open connections: a stopped agent closes them too
    srv.respond = respond
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    return srv


def request(port, path, headers=None, data=None):
    req = urllib.request.Request("http://127.0.0.1:%d%s" % (port, path), data=data,
                                 headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=5) as r:
            return r.status, r.headers, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.headers, e.read()


def check_nginx_live(src, nginx):
    tmp = tempfile.mkdtemp(prefix="tollgate-nginx.")
    proc = None
    agent = backend = None
    try:
        conf = nginx_prefix(src, tmp)
        r = subprocess.run([nginx, "-t", "-p", tmp, "-c", conf, "-e", tmp + "/error.log"],
                           capture_output=True, text=True, timeout=30)
        check(r.returncode == 0, "nginx -t accepts the example server with tollgate.conf",
              r.stderr.strip())

        agent = serve(agent_respond)
        backend = serve(lambda h: (200, {"Content-Type": "application/json"}, b'{"ok":true}'))
        port = free_port()
        extra = ("location / { proxy_pass http://127.0.0.1:%d; } "
                 "location /forbidden { deny all; proxy_pass http://127.0.0.1:%d; }"
                 % (backend.server_address[1], backend.server_address[1]))
        conf = nginx_prefix(src, tmp, agent.server_address[1], port, extra)
        proc = subprocess.Popen([nginx, "-p", tmp, "-c", conf, "-e", tmp + "/error.log"],
                                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        for _ in range(100):
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                time.sleep(0.05)

        hdrs = {"X-API-Key": "team-key", "Authorization": "Bearer sk-test",
                "X-Real-IP": "203.0.113.9", "Cookie": "session=" + "x" * 2000}
        st, h, body = request(port, "/v1/chat/completions", hdrs, b'{"model":"m"}')
        check(st == 200 and json.loads(body) == {"ok": True}, "nginx: an allowed request reaches the backend",
              "%d %r" % (st, body[:200]))
        check(h.get("x-ratelimit-remaining-requests") == "4" and h.get("RateLimit") == LIMITS["RateLimit"],
              "nginx: an allowed response carries the key's rate-limit headers", str(dict(h)))
        seen = agent.seen[-1] if agent.seen else {"headers": {}, "path": "", "body": b"x"}
        sh = seen["headers"]
        check(seen["path"] == CHECK, "nginx: the check goes to " + CHECK, seen["path"])
        check(sh.get("x-real-ip") == "127.0.0.1", "nginx: X-Real-IP is the peer, not the client's header",
              str(sh.get("x-real-ip")))
        check((sh.get("x-real-port") or "").isdigit() and sh.get("x-server-addr") == "127.0.0.1"
              and sh.get("x-server-port") == str(port),
              "nginx: X-Real-Port, X-Server-Addr and X-Server-Port name the connection", str(sh))
        check(sh.get("authorization") == "Bearer sk-test" and sh.get("x-api-key") == "team-key",
              "nginx: the client's key headers reach the agent as sent")
        check(seen["body"] == b"" and sh.get("content-length") in (None, "0"),
              "nginx: the check carries no body")
        check("cookie" not in sh, "nginx: other client headers stay out of the check")

        n_backend = len(backend.seen)
        hdrs["X-API-Key"] = "deny"
        st, h, body = request(port, "/v1/chat/completions", hdrs, b'{"model":"m"}')
        check(st == 429, "nginx: the agent's 403 becomes a 429", str(st))
        check(h.get("Retry-After") == "2", "nginx: the 429 carries Retry-After", str(h.get("Retry-After")))
        wrong = [n for n in RATELIMIT if h.get(n) != LIMITS[n]]
        check(not wrong, "nginx: the 429 carries every rate-limit header", "wrong: " + ", ".join(wrong))
        try:
            err = json.loads(body)["error"]
            check(err["type"] == "rate_limit_exceeded" and "application/json" in h.get("Content-Type", ""),
                  "nginx: the 429 body is an OpenAI-style JSON error")
        except (ValueError, KeyError, TypeError):
            fail("nginx: the 429 body is JSON: %r" % body[:200])
        check(len(backend.seen) == n_backend, "nginx: a denied request never reaches the backend")

        # Answers without a body keep nginx's connection to the agent: the
        # next checks, allowed or denied, arrive on the same one.
        first = len(agent.seen)
        for key in ("team-key", "deny", "team-key", "team-key"):
            hdrs["X-API-Key"] = key
            request(port, "/v1/models", hdrs)
        peers = {str(x["peer"]) for x in agent.seen[first:]}
        check(len(agent.seen) == first + 4 and len(peers) == 1,
              "nginx: checks reuse one kept-alive connection to the agent",
              "%d checks on %d connections" % (len(agent.seen) - first, len(peers)))

        hdrs["X-API-Key"] = "team-key"
        st, h, _ = request(port, "/forbidden", hdrs)
        check(st == 403 and h.get("Retry-After") is None, "nginx: a 403 not from the agent stays a 403",
              str(st))

        agent.shutdown()
        agent.server_close()
        for conn in list(agent.conns):
            conn.shutdown(socket.SHUT_RDWR)
        agent = None
        st, _, _ = request(port, "/v1/chat/completions", hdrs, b"{}")
        check(st == 500, "nginx: with the agent down the request is refused (fail closed)", str(st))
    finally:
        if proc:
            proc.terminate()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
        for s in (agent, backend):
            if s:
                s.shutdown()
                s.server_close()
        shutil.rmtree(tmp, ignore_errors=True)


# --- Envoy ---------------------------------------------------------------------

def patterns(matcher):
    return {p.get("exact", "").lower() for p in (matcher or {}).get("patterns", [])}


def check_envoy(src):
    d = yaml.safe_load(open(os.path.join(src, "gateway-hooks/envoy/envoy.yaml")))
    sr = d["static_resources"]
    clusters = {c["name"]: c for c in sr["clusters"]}
    hcm = sr["listeners"][0]["filter_chains"][0]["filters"][0]
    check(hcm["name"] == "envoy.filters.network.http_connection_manager" and
          hcm["typed_config"]["@type"] == "type.googleapis.com/envoy.extensions.filters.network."
          "http_connection_manager.v3.HttpConnectionManager", "envoy: an HTTP connection manager")
    hc = hcm["typed_config"]
    filters = hc["http_filters"]
    names = [f["name"] for f in filters]
    check(names[0] == "envoy.filters.http.ext_authz" and names[-1] == "envoy.filters.http.router",
          "envoy: ext_authz first, the router last", str(names))
    ea = filters[0]["typed_config"]
    check(ea["@type"] == "type.googleapis.com/envoy.extensions.filters.http.ext_authz.v3.ExtAuthz",
          "envoy: ext_authz's typed_config is ExtAuthz v3")
    check(filters[-1]["typed_config"]["@type"] ==
          "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router", "envoy: the router's @type")
    check(ea.get("transport_api_version") == "V3", "envoy: transport_api_version V3")
    check(ea.get("failure_mode_allow") is False, "envoy: failure_mode_allow is set, to false")
    hs = ea["http_service"]
    su = hs["server_uri"]
    c = clusters.get(su.get("cluster"), {})
    addr = c.get("load_assignment", {}).get("endpoints", [{}])[0].get("lb_endpoints", [{}])[0] \
        .get("endpoint", {}).get("address", {})
    check(su.get("uri", "").startswith("http://") and "timeout" in su and
          "unix:" + addr.get("pipe", {}).get("path", "") == CHECK_SOCKET,
          "envoy: the check goes to the tollgate cluster at the check socket " + CHECK_SOCKET, str(addr))
    po = c.get("typed_extension_protocol_options", {}).get(
        "envoy.extensions.upstreams.http.v3.HttpProtocolOptions", {})
    idle = po.get("common_http_protocol_options", {}).get("idle_timeout", "")
    check(po.get("@type", "").endswith("upstreams.http.v3.HttpProtocolOptions") and idle.endswith("s") and
          0 < float(idle[:-1] or 0) < 10 and "http_protocol_options" in po.get("explicit_http_config", {}),
          "envoy: pooled connections to the agent idle out before its 10 s (HTTP/1.1)", str(po))
    check(hs.get("path_prefix") == CHECK, "envoy: path_prefix " + CHECK)
    req = hs.get("authorization_request", {})
    both = "allowed_headers" in ea and "allowed_headers" in req
    allowed = patterns(ea.get("allowed_headers") or req.get("allowed_headers"))
    check(not both and all(k in allowed for k in KEY_HEADERS),
          "envoy: the API key headers are allowed to the agent", str(sorted(allowed)))
    added = {h["key"].lower(): h["value"] for h in req.get("headers_to_add", [])}
    check(added.get("x-real-ip") == "%DOWNSTREAM_REMOTE_ADDRESS_WITHOUT_PORT%",
          "envoy: x-real-ip from %DOWNSTREAM_REMOTE_ADDRESS_WITHOUT_PORT%", str(added))
    resp = hs.get("authorization_response", {})
    deny = patterns(resp.get("allowed_client_headers"))
    check(lower(["Retry-After"] + RATELIMIT) <= deny, "envoy: a denial's headers reach the client",
          "missing " + str(lower(["Retry-After"] + RATELIMIT) - deny))
    okh = patterns(resp.get("allowed_client_headers_on_success"))
    check(lower(RATELIMIT) <= okh, "envoy: an allowed request's rate-limit headers reach the client",
          "missing " + str(lower(RATELIMIT) - okh))
    routes = hc["route_config"]["virtual_hosts"][0]["routes"]
    targets = [r["route"]["cluster"] for r in routes if "route" in r]
    check(targets and all(t in clusters for t in targets) and "tollgate" not in targets,
          "envoy: routes go to the upstream gateway cluster", str(targets))
    types = re.findall(r"type\.googleapis\.com/\S+", json.dumps(d))
    check(all(".v3." in t for t in types), "envoy: every @type is a v3 API type")
    envoy = shutil.which("envoy")
    if envoy:
        r = subprocess.run([envoy, "--mode", "validate", "-c",
                            os.path.join(src, "gateway-hooks/envoy/envoy.yaml")],
                           capture_output=True, text=True, timeout=60)
        check(r.returncode == 0, "envoy --mode validate", r.stdout[-500:] + r.stderr[-500:])
    else:
        skip("envoy --mode validate: envoy is not installed")


# --- Traefik, APISIX -----------------------------------------------------------

def check_traefik(src):
    d = yaml.safe_load(open(os.path.join(src, "gateway-hooks/traefik/tollgate.yml")))
    http_ = d["http"]
    mws = {n: m["forwardAuth"] for n, m in http_["middlewares"].items() if "forwardAuth" in m}
    if not check(len(mws) == 1, "traefik: one forwardAuth middleware"):
        return
    name, fa = next(iter(mws.items()))
    check(fa.get("address") == "http://%s%s" % (CHECK_TCP, CHECK),
          "traefik: address, the TCP check listener: " + fa.get("address", ""))
    check(fa.get("trustForwardHeader") is True, "traefik: trustForwardHeader")
    check(lower(RATELIMIT) <= lower(fa.get("authResponseHeaders", [])),
          "traefik: authResponseHeaders carry the rate-limit headers")
    sent = lower(fa.get("authRequestHeaders", []))
    check(set(KEY_HEADERS) <= sent, "traefik: the key headers reach the agent", str(sorted(sent)))
    check("x-real-ip" not in sent, "traefik: X-Real-Ip is not sent (a client's own survives Traefik)",
          str(sorted(sent)))
    used = [r for r in http_["routers"].values() if name in r.get("middlewares", [])]
    check(used and all(r["service"] in http_["services"] for r in used),
          "traefik: a router uses the middleware and names a service")
    check_traefik_identity(fa)


def traefik_forward(fa, peer, headers, entry_trusts_peer):
    """What Traefik's ForwardAuth sends to the agent, step by step from its
    source (v2 and v3, the same; gateway-hooks/GATEWAYS.md quotes it):
    pkg/middlewares/forwardedheaders/forwarded_header.go XForwarded.ServeHTTP
    and rewrite, then pkg/middlewares/auth/forward.go writeHeader."""
    h = {k.lower(): v for k, v in headers.items()}
    # entry point: an untrusted peer's X-Forwarded-* and X-Real-Ip go ...
    if not entry_trusts_peer:
        for k in list(h):
            if k.startswith("x-forwarded-") or k == "x-real-ip":
                del h[k]
    # ... and X-Real-Ip is the peer only when it is empty
    if not h.get("x-real-ip"):
        h["x-real-ip"] = peer
    # ForwardAuth: the request's headers filtered by authRequestHeaders ...
    allowed = lower(fa.get("authRequestHeaders", []))
    out = {k: v for k, v in h.items() if not allowed or k in allowed}
    # ... then X-Forwarded-For set to the peer, after the prior hops when
    # trustForwardHeader
    xff = peer
    if fa.get("trustForwardHeader") and "x-forwarded-for" in h:
        xff = h["x-forwarded-for"] + ", " + peer
    out["x-forwarded-for"] = xff
    return out


def agent_client(headers, trusted):
    """The agent's rule (agent/api/check.c, tg_check_client) for the two
    headers, trusted proxies as a set of addresses."""
    hops = [x.strip() for x in headers.get("x-forwarded-for", "").split(",")]
    real = headers.get("x-real-ip")
    if real and real not in trusted:
        return real
    client = real
    for hop in reversed(hops):
        client = hop
        if hop not in trusted:
            break
    return client


def check_traefik_identity(fa):
    """The attack: a client sends X-Real-Ip and X-Forwarded-For naming a
    victim, to spend the victim's quota. It must not work, with Traefik
    facing clients or behind a balancer that appends X-Forwarded-For."""
    client, victim, lb = "203.0.113.9", "198.19.66.6", "10.0.0.2"
    spoof = {"X-Real-Ip": victim, "X-Forwarded-For": victim, "Authorization": "Bearer sk-x"}
    # Traefik facing the client
    out = traefik_forward(fa, client, spoof, entry_trusts_peer=False)
    check("x-real-ip" not in out, "traefik facing clients: no X-Real-Ip reaches the agent", str(out))
    check(agent_client(out, set()) == client, "traefik facing clients: the agent sees the client",
          str(out))
    # behind a trusted balancer that appends the client to X-Forwarded-For
    # and passes the rest as it is
    via_lb = dict(spoof, **{"X-Forwarded-For": victim + ", " + client})
    out = traefik_forward(fa, lb, via_lb, entry_trusts_peer=True)
    check("x-real-ip" not in out, "traefik behind a balancer: the client's X-Real-Ip does not reach the agent",
          str(out))
    check(agent_client(out, {lb}) == client,
          "traefik behind a balancer: the agent sees the client, not its victim", str(out))
    # the balancer not listed: everyone is the balancer (coarse, not spoofable)
    check(agent_client(out, set()) == lb, "traefik behind an unlisted balancer: the balancer", str(out))
    # what the old file (X-Real-Ip in authRequestHeaders) let through
    old = dict(fa, authRequestHeaders=list(fa.get("authRequestHeaders", [])) + ["X-Real-Ip"])
    out = traefik_forward(old, lb, via_lb, entry_trusts_peer=True)
    check(out.get("x-real-ip") == victim,
          "the model reproduces the attack on a config that sends X-Real-Ip", str(out))


def check_apisix(src):
    path = os.path.join(src, "gateway-hooks/apisix/apisix.yaml")
    text = open(path).read()
    check(text.rstrip().endswith("#END"), "apisix: the standalone file ends with #END")
    d = yaml.safe_load(text)
    routes = [r for r in d["routes"] if "forward-auth" in r.get("plugins", {})]
    if not check(routes, "apisix: a route with forward-auth"):
        return
    r = routes[0]
    fa = r["plugins"]["forward-auth"]
    check(fa.get("uri") == "http://%s%s" % (CHECK_TCP, CHECK), "apisix: uri, the TCP check listener: " + fa.get("uri", ""))
    check(fa.get("keepalive") is True and fa.get("keepalive_pool", 5) >= 32 and
          1000 <= fa.get("keepalive_timeout", 60000) < 10000,
          "apisix: a pool of kept-alive connections that idle out before the agent's 10 s", str(fa))
    check(fa.get("allow_degradation") is False, "apisix: allow_degradation is set, to false")
    extra = fa.get("extra_headers", {})
    want = {"X-Real-IP": "$remote_addr", "X-Real-Port": "$remote_port",
            "X-Server-Addr": "$server_addr", "X-Server-Port": "$server_port"}
    check(all(extra.get(k) == v for k, v in want.items()), "apisix: extra_headers name the client and the connection",
          str(extra))
    check(set(KEY_HEADERS) <= lower(fa.get("request_headers", [])), "apisix: the key headers reach the agent")
    check(lower(["Retry-After"] + RATELIMIT) <= lower(fa.get("client_headers", [])),
          "apisix: a denial's headers reach the client")
    check("x-real-ip" not in lower(fa.get("request_headers", [])),
          "apisix: a client's own X-Real-IP is not forwarded")
    check(bool(r.get("upstream", {}).get("nodes")), "apisix: the route has an upstream")


# --- systemd -------------------------------------------------------------------

def unit_keys(text):
    keys = {}
    for line in text.splitlines():
        line = line.strip()
        if not line or line[0] in "#;[" or "=" not in line:
            continue
        k, v = line.split("=", 1)
        keys.setdefault(k.strip(), []).append(v.strip())
    return keys


def check_systemd(src):
    path = os.path.join(src, "packaging/systemd/tollgate.service")
    text = open(path).read()
    k = unit_keys(text)
    one = lambda n: (k.get(n) or [None])[-1]
    want = {"Type": "notify",
            "ExecStart": "/usr/local/bin/tollgate run --config /etc/tollgate/tollgate.json",
            "ExecReload": "/bin/kill -HUP $MAINPID", "Restart": "on-failure",
            "NoNewPrivileges": "yes", "ProtectSystem": "strict", "StateDirectory": "tollgate",
            "ProtectHome": "yes", "PrivateTmp": "yes", "ProtectKernelModules": "yes",
            "LockPersonality": "yes", "MemoryDenyWriteExecute": "yes",
            "SystemCallArchitectures": "native", "LimitMEMLOCK": "infinity",
            "EnvironmentFile": "-/etc/tollgate/env"}
    wrong = ["%s=%s" % (n, one(n)) for n, v in want.items() if one(n) != v]
    check(not wrong, "systemd: the unit's directives", "wrong: " + ", ".join(wrong))
    caps = {"CAP_BPF", "CAP_NET_ADMIN", "CAP_PERFMON", "CAP_SETPCAP"}
    check(set((one("CapabilityBoundingSet") or "").split()) == caps, "systemd: the capability bounding set")
    check(set((one("AmbientCapabilities") or "").split()) == caps, "systemd: the ambient set")
    check(one("User") == "tollgate" and one("Group") == "tollgate", "systemd: runs as the user tollgate")
    sysusers = open(os.path.join(src, "packaging/systemd/tollgate.sysusers")).read()
    check(any(l.split()[:2] == ["u", "tollgate"] for l in sysusers.splitlines() if l and l[0] != "#"),
          "systemd: sysusers.d makes the user tollgate")
    check(set((one("ReadWritePaths") or "").split()) >= {"/sys/fs/bpf", "/var/lib/tollgate"},
          "systemd: writable /sys/fs/bpf and /var/lib/tollgate")
    check(set((one("RestrictAddressFamilies") or "").split()) ==
          {"AF_UNIX", "AF_INET", "AF_INET6", "AF_NETLINK"}, "systemd: address families")
    check(one("ProtectControlGroups") in ("yes", "no"), "systemd: ProtectControlGroups is decided")
    sa = shutil.which("systemd-analyze")
    if not sa:
        skip("systemd-analyze verify: systemd-analyze is not installed")
        return
    tmp = tempfile.mkdtemp(prefix="tollgate-unit.")
    try:
        # verify wants the commands to exist: point them at one that does.
        unit = os.path.join(tmp, "tollgate.service")
        open(unit, "w").write(text.replace("/usr/local/bin/tollgate", shutil.which("true")))
        r = subprocess.run([sa, "verify", "--man=no", unit], capture_output=True, text=True,
                           timeout=60, cwd=tmp)
        said = [l for l in (r.stdout + r.stderr).splitlines() if "tollgate.service" in l]
        check(r.returncode == 0 and not said, "systemd-analyze verify", "\n".join(said) or r.stderr)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


# --- Grafana -------------------------------------------------------------------

def source_metrics(src):
    """tollgate_* names the agent can emit, from its string literals: whole
    names, and "tollgate_..._%s" prefixes joined with the bare names of the
    same file (the tables of metric() calls)."""
    names = set()
    for path in glob.glob(os.path.join(src, "agent/**/*.c"), recursive=True):
        lits = re.findall(r'"((?:[^"\\\n]|\\.)*)"', open(path).read())
        prefixes, bare = set(), set()
        for lit in lits:
            for m in re.finditer(r"tollgate_([a-z0-9_]*)", lit):
                rest = lit[m.end():m.end() + 2]
                if rest.startswith("%s"):
                    prefixes.add("tollgate_" + m.group(1))
                elif m.group(1):
                    names.add("tollgate_" + m.group(1))
            if re.fullmatch(r"[a-z][a-z0-9_]*", lit):
                bare.add(lit)
        names |= {p + b for p in prefixes for b in bare}
    return names


def scraped_metrics(path):
    """Names in a /metrics answer: samples, and # TYPE lines (families
    without a sample yet: no clients, no keys)."""
    names = set()
    for line in open(path):
        m = re.match(r"(tollgate_[a-z0-9_]+)[{ ]", line)
        if m:
            names.add(m.group(1))
        m = re.match(r"# TYPE (tollgate_[a-z0-9_]+) (\w+)", line)
        if m:
            names.add(m.group(1))
            if m.group(2) == "histogram":
                names |= {m.group(1) + s for s in ("_bucket", "_sum", "_count")}
    return names


def panels(d):
    for p in d["panels"]:
        yield p
        yield from p.get("panels", [])


def check_grafana(src, metrics_file):
    d = json.load(open(os.path.join(src, "packaging/grafana/tollgate-dashboard.json")))
    check(d.get("schemaVersion", 0) >= 36, "grafana: schemaVersion >= 36")
    tv = {v["name"]: v for v in d["templating"]["list"]}
    ds = tv.get("DS_PROMETHEUS", {})
    check(ds.get("type") == "datasource" and ds.get("query") == "prometheus",
          "grafana: a Prometheus data source variable")
    inst = tv.get("instance", {})
    q = inst.get("query")
    q = q.get("query") if isinstance(q, dict) else q
    check(q == "label_values(tollgate_clients, instance)", "grafana: instance from label_values(tollgate_clients, instance)")
    ps = [p for p in panels(d) if p["type"] != "row"]
    ids = [p["id"] for p in panels(d)]
    check(len(ids) == len(set(ids)), "grafana: panel ids are unique")
    boxes = [(p["gridPos"]["x"], p["gridPos"]["y"], p["gridPos"]["w"], p["gridPos"]["h"]) for p in panels(d)]
    overlap = [(a, b) for i, a in enumerate(boxes) for b in boxes[i + 1:]
               if a[0] < b[0] + b[2] and b[0] < a[0] + a[2] and a[1] < b[1] + b[3] and b[1] < a[1] + a[3]]
    check(all(x + w <= 24 for x, _, w, _ in boxes) and not overlap, "grafana: panels fit the grid without overlapping",
          str(overlap[:3]))
    exprs = [(p["title"], t["expr"]) for p in ps for t in p["targets"]]
    check(all(p["datasource"].get("uid") == "${DS_PROMETHEUS}" for p in ps) and
          all(t["datasource"].get("uid") == "${DS_PROMETHEUS}" for p in ps for t in p["targets"]),
          "grafana: every panel and query uses ${DS_PROMETHEUS}")
    check(all('instance=~"$instance"' in e for _, e in exprs), "grafana: every query is filtered by $instance")
    known = scraped_metrics(metrics_file) if metrics_file else source_metrics(src)
    where = "the scraped /metrics" if metrics_file else "agent/**/*.c"
    used = {m for _, e in exprs for m in re.findall(r"\btollgate_[a-z0-9_]+", e)}
    hist = lambda m: re.sub(r"_(bucket|sum|count)$", "", m)
    unknown = sorted(m for m in used if m not in known and not (metrics_file is None and hist(m) in known))
    check(not unknown, "grafana: the %d metric names used exist in %s" % (len(used), where),
          "unknown: " + ", ".join(unknown))
    must = {"tollgate_requests_total", "tollgate_bytes_total", "tollgate_clients",
            "tollgate_clients_evicted_total", "tollgate_client_requests_per_second",
            "tollgate_key_requests_denied_total", "tollgate_responses_total",
            "tollgate_open_connections", "tollgate_anomalies_total", "tollgate_webhook_queue_depth",
            "tollgate_webhook_sent_total", "tollgate_webhook_retries_total",
            "tollgate_webhook_dead_letters_total", "tollgate_webhook_delivery_seconds_bucket",
            "tollgate_scan_duration_seconds"}
    check(must <= used, "grafana: the dashboard covers traffic, quotas, anomalies and webhooks",
          "missing " + ", ".join(sorted(must - used)))
    promtool = shutil.which("promtool")
    if not promtool:
        skip("PromQL syntax: promtool is not installed")
        return
    tmp = tempfile.mkdtemp(prefix="tollgate-promql.")
    try:
        rules = {"groups": [{"name": "dashboard", "rules": [
            {"record": "tollgate_dashboard:expr%d" % i, "expr": e.replace("$instance", ".*")}
            for i, (_, e) in enumerate(exprs)]}]}
        path = os.path.join(tmp, "rules.yml")
        open(path, "w").write(yaml.safe_dump(rules))
        r = subprocess.run([promtool, "check", "rules", path], capture_output=True, text=True, timeout=60)
        check(r.returncode == 0, "grafana: promtool parses every expression", r.stdout[-800:] + r.stderr[-800:])
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


# --- compose, Dockerfile ---------------------------------------------------------

def check_compose(src):
    d = yaml.safe_load(open(os.path.join(src, "docker-compose.yml")))
    s = d["services"]
    check(set(s) >= {"agent", "gateway", "receiver"}, "compose: agent, gateway and receiver")
    check(all(v.get("network_mode") == "host" for v in s.values()), "compose: every service on the host network")
    a = s.get("agent", {})
    vols = a.get("volumes", [])
    check(a.get("privileged") is True, "compose: the agent is privileged")
    check("/sys/fs/bpf:/sys/fs/bpf" in vols and "/sys/kernel/btf:/sys/kernel/btf:ro" in vols
          and any(v.endswith(":/etc/tollgate:ro") for v in vols)
          and any(v.split(":")[1] == "/var/lib/tollgate" and v.split(":")[0] in d.get("volumes", {})
                  for v in vols), "compose: bpffs, BTF, the config and a named state volume", str(vols))
    check(a.get("command") == ["run", "--config", "/etc/tollgate/compose.json"], "compose: the agent runs compose.json")
    ul = a.get("ulimits", {})
    check(ul.get("nofile", {}).get("soft") == 20000 and ul.get("nproc") == 32768, "compose: ulimits")

    c = json.load(open(os.path.join(src, "config/compose.json")))
    check(c.get("api", {}).get("check_deny_status") == 403, "compose.json: check_deny_status 403 (nginx)")
    check(c.get("api", {}).get("listen", AGENT) == AGENT, "compose.json: the API where the nginx snippet looks")
    cidrs = {q.get("cidr"): q for q in c.get("quotas", {}).get("clients", [])}
    check(cidrs.get("198.18.40.0/24", {}).get("action") == "drop" and
          cidrs.get("198.18.41.0/24", {}).get("action") == "gateway",
          "compose.json: a drop and a gateway quota for the test clients")
    check(c.get("state_dir") == "/var/lib/tollgate", "compose.json: state_dir on the volume")
    hooks = [w["url"] for w in c.get("webhooks", [])]
    rx = s.get("receiver", {}).get("command", [])
    rx_port = rx[rx.index("--port") + 1] if "--port" in rx else None
    check(any(":%s/" % rx_port in u for u in hooks), "compose.json: the webhook goes to the receiver", str(hooks))
    ngx = open(os.path.join(src, "packaging/compose/nginx.conf")).read()
    listen = re.search(r"listen\s+(\d+);", ngx)
    check(listen and int(listen.group(1)) in c["gateway"]["ports"],
          "compose: the gateway's port is a gateway.ports entry")
    check("include /etc/nginx/tollgate/tollgate.conf;" in ngx and any(
        v.endswith(":/etc/nginx/tollgate/tollgate.conf:ro") and "gateway-hooks/nginx/tollgate.conf" in v
        for v in s.get("gateway", {}).get("volumes", [])), "compose: the gateway includes the nginx snippet")
    cup = block(re.sub(r"#[^\n]*", "", ngx), "upstream " + UPSTREAM)
    ck = c.get("api", {}).get("check_listen") or c.get("api", {}).get("listen", AGENT)
    check(cup is not None and ("server", [ck]) in directives(cup) and
          any(n == "keepalive" for n, _ in directives(cup)),
          "compose: the snippet's upstream is the agent's check listener, kept alive", str(cup))

    df = open(os.path.join(src, "Dockerfile")).read()
    first_from = df.index("\nFROM ")
    check(re.search(r"^ARG BASE=debian:bookworm-slim$", df[:first_from], re.M) is not None and
          df.count("FROM ${BASE}") >= 2, "Dockerfile: both stages FROM ${BASE} (default debian:bookworm-slim)")
    check("-DTG_TESTS=OFF" in df and "install-deps.sh run" in df, "Dockerfile: deps by package name, tests off")
    runtime = df[df.rindex("FROM ${BASE}"):]
    libs = ["libbpf1", "libuv1", "libcurl4", "libcjson1", "libhttp-parser2.9", "libssl3",
            "libsystemd0", "libelf1", "zlib1g", "iproute2", "ca-certificates"]
    check(all(re.search(r"\s%s\s" % re.escape(l), runtime) for l in libs) and "build-essential" not in runtime,
          "Dockerfile: the runtime stage installs only the runtime libraries")
    check('ENTRYPOINT ["tollgate"]' in runtime and 'CMD ["run"]' in runtime, "Dockerfile: ENTRYPOINT and CMD")


def main():
    args = sys.argv[1:]
    metrics = None
    if "--metrics" in args:
        i = args.index("--metrics")
        metrics = args[i + 1]
        del args[i:i + 2]
    if len(args) != 1:
        print(__doc__, file=sys.stderr)
        return 2
    src = os.path.abspath(args[0])
    check_nginx_static(src)
    nginx = shutil.which("nginx") or next((p for p in ("/usr/sbin/nginx", "/sbin/nginx") if os.access(p, os.X_OK)), None)
    if nginx:
        check_nginx_live(src, nginx)
    else:
        skip("nginx -t and the stub run: nginx is not installed")
    check_envoy(src)
    check_traefik(src)
    check_apisix(src)
    check_systemd(src)
    check_grafana(src, metrics)
    check_compose(src)
    print("%d passed, %d failed" % (passed, failed))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
