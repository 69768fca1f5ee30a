#!/usr/bin/env python3
"""README.md is an entry page (at most 250 lines, the two commands), the
relative links of README.md and docs/ resolve, and the reference pages name everything there is: every config key of
config/tollgate.schema.json in docs/reference/config.md, every metric
family the agent renders in docs/reference/metrics.md, every API route in
docs/reference/api.md.

Usage:
  reference_docs.py SOURCE_DIR [--metrics-file FILE]
      check; exit 1 naming what is missing. FILE: a /metrics answer of a
      running agent, whose `# TYPE tollgate_*` families are checked too.
  reference_docs.py SOURCE_DIR --write
      rewrite the generated tables of config.md and metrics.md (between
      their <!-- generated --> markers) from the schema and the source.

Metric families are found in the source as the {"name", "type", "help"}
triples the exposition code is written with; routes as the {"METHOD",
"/path", ...} rows of the route tables in agent/api/."""
import glob
import json
import os
import re
import sys

BEGIN = "<!-- generated: do not edit; tests/tools/reference_docs.py --write -->"
END = "<!-- end generated -->"


def schema_keys(root):
    """[(dotted path, merged schema node)] in schema order."""
    schema = json.load(open(os.path.join(root, "config/tollgate.schema.json")))
    defs = schema.get("$defs", {})
    out = []

    def resolve(node):
        node = dict(node)
        while "$ref" in node:
            ref = defs[node.pop("$ref").split("/")[-1]]
            merged = dict(ref)
            merged.update(node)
            props = dict(ref.get("properties", {}))
            props.update(node.get("properties", {}))
            if props:
                merged["properties"] = props
            node = merged
        return node

    def walk(node, path):
        node = resolve(node)
        for key, sub in node.get("properties", {}).items():
            p = path + "." + key if path else key
            subr = resolve(sub)
            if not any(q == p for q, _ in out):
                out.append((p, subr))
            walk(subr, p)
        if "items" in node:
            walk(node["items"], path + "[]")
        for kw in ("oneOf", "anyOf", "allOf"):
            for sub in node.get(kw, []):
                walk(sub, path)

    walk(schema, "")
    return out


def metric_families(root):
    """{name: (type, help)} from the exposition code."""
    fams = {}
    pat = re.compile(r'"([a-z0-9_]+)",\s*"(counter|gauge|histogram|summary)",\s*"((?:[^"\\]|\\.)*)"')
    for f in sorted(glob.glob(os.path.join(root, "agent/**/*.c"), recursive=True)):
        for m in pat.finditer(open(f).read()):
            fams.setdefault(m.group(1), (m.group(2), m.group(3).replace('\\"', '"')))
    return fams


def routes(root):
    """[(method, path)] of the route tables."""
    out = []
    pat = re.compile(r'\{\s*"(GET|POST|HEAD|PUT|DELETE|\*)",\s*"(/[^"]*)"')
    for f in sorted(glob.glob(os.path.join(root, "agent/api/*.c"))):
        out += pat.findall(open(f).read())
    return out


def cell(s):
    return str(s).replace("|", "\\|").replace("\n", " ")


def type_of(node):
    if "enum" in node:
        return " | ".join("`%s`" % json.dumps(v) for v in node["enum"])
    t = node.get("type")
    if t is None and "anyOf" in node:
        t = sorted({x.get("type") for x in node["anyOf"] if x.get("type")})
    if isinstance(t, list):
        t = " or ".join(t)
    rng = ""
    if "minimum" in node or "maximum" in node:
        rng = " %s..%s" % (node.get("minimum", ""), node.get("maximum", ""))
    return (t or "") + rng


def config_table(root):
    rows = ["| key | type | default | meaning |", "|---|---|---|---|"]
    for path, node in schema_keys(root):
        default = json.dumps(node["default"]) if "default" in node else ""
        desc = node.get("description", "")
        if node.get("x-restart"):
            desc += " (restart)"
        if node.get("x-status"):
            desc += " Not supported yet: " + node["x-status"] + "."
        rows.append("| `%s` | %s | %s | %s |" % (path, cell(type_of(node)),
                                                 cell("`%s`" % default if default else ""),
                                                 cell(desc)))
    return "\n".join(rows)


def metrics_table(root):
    rows = ["| family | type | what it counts |", "|---|---|---|"]
    for name, (typ, help_) in sorted(metric_families(root).items()):
        rows.append("| `tollgate_%s` | %s | %s |" % (name, typ, cell(help_)))
    return "\n".join(rows)


def rewrite(path, table):
    text = open(path).read()
    a, b = text.index(BEGIN), text.index(END)
    text = text[: a + len(BEGIN)] + "\n" + table + "\n" + text[b:]
    open(path, "w").write(text)


def main(argv):
    root = argv[1] if len(argv) > 1 and not argv[1].startswith("--") else "."
    ref = os.path.join(root, "docs/reference")
    if "--write" in argv:
        rewrite(os.path.join(ref, "config.md"), config_table(root))
        rewrite(os.path.join(ref, "metrics.md"), metrics_table(root))
        print("rewrote the generated tables of docs/reference/config.md and metrics.md")
        return 0
    missing = []
    readme = open(os.path.join(root, "README.md")).read()
    if readme.count("\n") > 250:
        missing.append("README.md has %d lines: at most 250 (the rest goes in docs/)" % readme.count("\n"))
    for cmd in ("sudo ./scripts/run.sh", "sudo ./tests/run.sh"):
        if cmd not in readme:
            missing.append("README.md does not give the command %s" % cmd)
    pages = ["README.md"] + sorted(os.path.relpath(f, root) for f in
                                   glob.glob(os.path.join(root, "docs/**/*.md"), recursive=True))
    for page in pages:
        text = open(os.path.join(root, page)).read()
        for link in re.findall(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", text):
            if re.match(r"[a-z]+:", link):
                continue
            if not os.path.exists(os.path.join(root, os.path.dirname(page), link)):
                missing.append("%s links to %s, which does not exist" % (page, link))
    config = open(os.path.join(ref, "config.md")).read()
    for path, _ in schema_keys(root):
        if "`%s`" % path not in config:
            missing.append("config key %s (config/tollgate.schema.json) is not in docs/reference/config.md" % path)
    metrics = open(os.path.join(ref, "metrics.md")).read()
    fams = set(metric_families(root))
    if "--metrics-file" in argv:
        dump = open(argv[argv.index("--metrics-file") + 1]).read()
        fams |= set(re.findall(r"^# TYPE tollgate_([a-z0-9_]+) ", dump, re.M))
    for name in sorted(fams):
        if not re.search(r"`tollgate_%s`" % re.escape(name), metrics):
            missing.append("metric family tollgate_%s is not in docs/reference/metrics.md" % name)
    api = open(os.path.join(ref, "api.md")).read()
    for method, path in routes(root):
        # a prefix route (/v1/keys/) is documented with its parameter: /v1/keys/{name}
        want = re.escape(path) + (r"\{" if path.endswith("/") else r"(?![A-Za-z0-9_/-])")
        if not re.search(want, api):
            missing.append("API route %s %s is not in docs/reference/api.md" % (method, path))
    for m in missing:
        print(m)
    if missing:
        print("(after a schema or metrics change: tests/tools/reference_docs.py . --write, then describe the new rows)")
        return 1
    print("ok: %d config keys, %d metric families, %d routes in the reference pages"
          % (len(schema_keys(root)), len(fams), len(routes(root))))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
