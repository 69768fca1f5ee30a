#!/usr/bin/env python3
"""Validates tollgate events against the JSON Schemas in a directory.

    validate_events.py SCHEMA_DIR FILE...
    validate_events.py --schema NAME SCHEMA_DIR FILE...

Each FILE holds one event (a JSON object), a JSON array of events, or JSON
lines (one event per line). The schema is picked by the event's "schema"
field: "tollgate.anomaly.v1" is checked against
SCHEMA_DIR/tollgate.anomaly.v1.schema.json. With --schema NAME every
event is checked against SCHEMA_DIR/NAME.schema.json, whatever it holds:
for records without a schema field (the request log's lines,
tollgate.request.v1). Every invalid event is listed
with every reason; the exit status is 0 when all are valid, 1 when any is
not, 2 on a usage error (missing schema directory, unreadable file).
"""
import json
import os
import sys

try:
    import jsonschema
except ImportError:
    sys.exit("validate_events.py: needs the python3 jsonschema module "
             "(apt-get install python3-jsonschema)")

SUFFIX = ".schema.json"


def load_schemas(directory):
    schemas = {}
    for name in sorted(os.listdir(directory)):
        if not name.endswith(SUFFIX):
            continue
        with open(os.path.join(directory, name), encoding="utf-8") as f:
            schema = json.load(f)
        cls = jsonschema.validators.validator_for(schema)
        cls.check_schema(schema)
        schemas[name[: -len(SUFFIX)]] = cls(schema, format_checker=cls.FORMAT_CHECKER
                                           if hasattr(cls, "FORMAT_CHECKER")
                                           else jsonschema.FormatChecker())
    return schemas


def read_events(path):
    """Yields (where, event or None, parse error or None)."""
    with open(path, encoding="utf-8") as f:
        text = f.read()
    try:
        doc = json.loads(text)
    except json.JSONDecodeError:
        doc = None
    if isinstance(doc, list):
        for i, ev in enumerate(doc):
            yield f"{path}[{i}]", ev, None
        return
    if doc is not None:
        yield path, doc, None
        return
    for n, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            yield f"{path}:{n}", json.loads(line), None
        except json.JSONDecodeError as e:
            yield f"{path}:{n}", None, f"not JSON: {e}"


def where_in(error):
    return "$" + "".join(f"[{p}]" if isinstance(p, int) else f".{p}"
                         for p in error.absolute_path)


def message(error):
    # oneOf over "required" alternatives would print the whole object
    if error.validator == "oneOf" and all(
            isinstance(alt, dict) and set(alt) == {"required"} for alt in error.validator_value):
        names = ", ".join(n for alt in error.validator_value for n in alt["required"])
        return f"needs exactly one of: {names}"
    return error.message


def main(argv):
    forced = None
    if len(argv) > 2 and argv[1] == "--schema":
        forced = argv[2]
        argv = argv[:1] + argv[3:]
    if len(argv) < 3:
        print(__doc__.strip(), file=sys.stderr)
        return 2
    if not os.path.isdir(argv[1]):
        print(f"validate_events.py: {argv[1]}: not a directory", file=sys.stderr)
        return 2
    schemas = load_schemas(argv[1])
    if not schemas:
        print(f"validate_events.py: {argv[1]}: no *{SUFFIX} files", file=sys.stderr)
        return 2
    if forced is not None and forced not in schemas:
        print(f"validate_events.py: no schema {forced}{SUFFIX} in {argv[1]}", file=sys.stderr)
        return 2
    total = invalid = 0
    for path in argv[2:]:
        try:
            events = list(read_events(path))
        except OSError as e:
            print(f"validate_events.py: {path}: {e.strerror}", file=sys.stderr)
            return 2
        for where, ev, err in events:
            total += 1
            reasons = []
            if err:
                reasons.append(err)
            elif not isinstance(ev, dict):
                reasons.append("not a JSON object")
            elif forced is None and ev.get("schema") not in schemas:
                reasons.append(f"unknown schema {ev.get('schema')!r}")
            else:
                for e in sorted(schemas[forced or ev["schema"]].iter_errors(ev),
                                key=lambda e: list(map(str, e.absolute_path))):
                    reasons.append(f"{where_in(e)}: {message(e)}")
            if reasons:
                invalid += 1
                ident = ev.get("id", "?") if isinstance(ev, dict) else "?"
                print(f"{where}: invalid event {ident}")
                for r in reasons:
                    print(f"  {r}")
    print(f"{total} events, {invalid} invalid", file=sys.stderr)
    return 1 if invalid else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
