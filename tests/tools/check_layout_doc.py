#!/usr/bin/env python3
"""The layout page (docs/layout.md) names every source file: each file of
agent/, kern/, gateway-hooks/formats/, cmake/ and tests/lib/ appears in it
by name (x.c and x.h may be named together as x). Usage:
check_layout_doc.py SOURCE_DIR; prints what is missing, exit 1 when
anything is."""
import os
import re
import sys


def main():
    root = sys.argv[1] if len(sys.argv) > 1 else "."
    text = open(os.path.join(root, "docs", "layout.md")).read()
    words = set(re.findall(r"[A-Za-z0-9_.]+", text))
    missing = []
    for top in ("agent", "kern", "gateway-hooks/formats", "cmake", "tests/lib"):
        for d, _, files in os.walk(os.path.join(root, top)):
            for f in sorted(files):
                if not f.endswith((".c", ".h", ".cmake", ".sh", ".py")):
                    continue
                stem = f.rsplit(".", 1)[0]
                if f in words or (f.endswith((".c", ".h")) and stem in words):
                    continue
                missing.append(os.path.relpath(os.path.join(d, f), root))
    for p in missing:
        print("not in docs/layout.md: " + p)
    if not missing:
        print("ok: every source file is in docs/layout.md")
    return 1 if missing else 0


if __name__ == "__main__":
    sys.exit(main())
