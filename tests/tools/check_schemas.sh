#!/usr/bin/env bash
# Validates what the code produces against the published JSON Schemas:
# every event the summary and anomaly unit tests render (schema/), and the
# example configs plus the effective default config (config/).
# Usage: check_schemas.sh SOURCE_DIR BUILD_DIR
set -euo pipefail
src=$1 build=$2
dump=$(mktemp -d /tmp/tollgate-events.XXXXXX)
trap 'rm -rf "$dump"' EXIT
python3 -c 'import jsonschema' 2>/dev/null || { echo "python3-jsonschema is missing" >&2; exit 1; }

TG_EVENT_DUMP_DIR=$dump "$build/unit_test_summary" --jobs 1 >/dev/null
TG_EVENT_DUMP_DIR=$dump "$build/unit_test_anomaly" --jobs 1 >/dev/null
n=$(find "$dump" -type f | wc -l)
[ "$n" -ge 5 ] || { echo "only $n events were dumped" >&2; exit 1; }
python3 "$src/tests/tools/validate_events.py" "$src/schema" "$dump"/*
echo "$n events valid"

# The request log's lines (no schema field: checked against its schema).
TG_REQLOG_DUMP_DIR=$dump "$build/unit_test_reqlog_fmt" --jobs 1 >/dev/null
n=$(wc -l < "$dump/requests.jsonl")
[ "$n" -ge 20 ] || { echo "only $n request log lines were dumped" >&2; exit 1; }
python3 "$src/tests/tools/validate_events.py" --schema tollgate.request.v1 "$src/schema" "$dump/requests.jsonl"
echo "$n request log lines valid"

"$build/tollgate" check-config "$src/config/default.json" > "$dump/effective.json"
python3 - "$src/config/tollgate.schema.json" "$dump/effective.json" "$src"/config/*.json <<'PY'
import json, sys, jsonschema
schema = json.load(open(sys.argv[1]))
jsonschema.Draft202012Validator.check_schema(schema)
for f in sys.argv[2:]:
    if f.endswith(".schema.json"):
        continue
    jsonschema.validate(json.load(open(f)), schema)
    print("config valid:", f)
PY
