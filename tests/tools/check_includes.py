#!/usr/bin/env python3
"""The house, checked from the #include lines of agent/ and
gateway-hooks/formats/:

  1. no include circle between modules (a module is x.c with x.h);
  2. no circle between subsystems (the folders): a file never includes a
     header of a subsystem that depends on its own;
  3. agent/lib/ includes nothing of the agent;
  4. a folder's *_int.h is included only from inside that folder.

A *_int.h (curl's pattern: what a subsystem's own files share) may include
its folder's public header for the types: that edge is not a circle.

Usage: check_includes.py SOURCE_DIR. Prints each violation; exit 1 on any.
"""
import os
import re
import sys

INC = re.compile(r'^\s*#\s*include\s+"([^"]+)"', re.M)


def sources(root):
    for top in ("agent", "gateway-hooks/formats"):
        for d, _, files in os.walk(os.path.join(root, top)):
            for f in files:
                if f.endswith((".c", ".h")):
                    yield os.path.relpath(os.path.join(d, f), root)


def subsystem(path):
    """agent/config/config.c -> config; agent/main.c -> main;
    gateway-hooks/formats/x.c -> formats."""
    parts = path.split("/")
    if parts[0] == "gateway-hooks":
        return "formats"
    return parts[1] if len(parts) > 2 else os.path.splitext(parts[1])[0]


def resolve(root, src, name):
    """The included file as a path under root, or None (kern/, generated,
    system)."""
    for base in (os.path.dirname(src), "agent", "gateway-hooks"):
        p = os.path.normpath(os.path.join(base, name))
        if os.path.exists(os.path.join(root, p)) and p.startswith(("agent/", "gateway-hooks/formats/")):
            return p
    return None


def cycles(graph):
    """Strongly connected components with more than one node (Tarjan)."""
    index, low, stack, on, out, n = {}, {}, [], set(), [], [0]

    def visit(v):
        index[v] = low[v] = n[0]
        n[0] += 1
        stack.append(v)
        on.add(v)
        for w in sorted(graph.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    sys.setrecursionlimit(10000)
    for v in sorted(graph):
        if v not in index:
            visit(v)
    return out


def main():
    root = sys.argv[1] if len(sys.argv) > 1 else "."
    bad = []
    modules, folders, why = {}, {}, {}
    for src in sorted(sources(root)):
        text = open(os.path.join(root, src)).read()
        mod = os.path.splitext(src)[0]
        sub = subsystem(src)
        for name in INC.findall(text):
            dst = resolve(root, src, name)
            if not dst:
                continue
            dmod = os.path.splitext(dst)[0]
            dsub = subsystem(dst)
            internal_types = src.endswith("_int.h") and os.path.dirname(dst) == os.path.dirname(src)
            if dmod != mod and not internal_types:
                modules.setdefault(mod, set()).add(dmod)
            if dsub != sub:
                folders.setdefault(sub, set()).add(dsub)
                why.setdefault((sub, dsub), "%s includes %s" % (src, dst))
            if sub == "lib" and dsub != "lib":
                bad.append("%s: lib/ includes %s (lib includes nothing of the agent)" % (src, dst))
            if dst.endswith("_int.h") and os.path.dirname(dst) != os.path.dirname(src):
                bad.append("%s: includes %s, internal to %s/" % (src, dst, os.path.dirname(dst)))
    for comp in cycles(modules):
        bad.append("include circle between modules: " + " -> ".join(comp))
    for comp in cycles(folders):
        edges = ["%s (%s)" % (a + "->" + b, why[(a, b)]) for a in comp for b in comp
                 if b in folders.get(a, ())]
        bad.append("subsystems depend on each other: " + ", ".join(comp) + ": " + "; ".join(edges))
    for b in bad:
        print(b)
    if not bad:
        print("ok: %d modules, %d subsystems, no circles" % (len(modules), len(set(folders) | {d for v in folders.values() for d in v})))
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
