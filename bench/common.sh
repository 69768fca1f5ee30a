# Shared by the benchmark scripts: the section writer bench/run.sh (and a
# script run on its own) uses for BENCHMARKS.md, and, for the scripts that
# run the real agent, their arguments (SECTION.md [RAW.json], made
# absolute) and the agent binary.
# Usage: BENCH_NAME=x.sh; source "$(dirname "$0")/common.sh" "$@"
#        (bench/run.sh sources it without BENCH_NAME: the writer only)

# replace_section NAME HEADING SECTION DOC: SECTION in place of what lies
# between NAME's markers in DOC; else in place of the section titled
# "## HEADING" (up to the next "## " heading or marked section); else at
# the end.
replace_section() {
  local name=$1 heading=$2 sec=$3 doc=$4
  if grep -q "^<!-- $name:begin" "$doc" && grep -q "^<!-- $name:end" "$doc"; then
    awk -v sec="$sec" -v b="^<!-- $name:begin" -v e="^<!-- $name:end" '
      $0 ~ b { while ((getline l < sec) > 0) print l; skip = 1; next }
      $0 ~ e { skip = 0; next }
      !skip { print }' "$doc" > "$doc.new"
  elif grep -qxF "## $heading" "$doc"; then
    awk -v sec="$sec" -v h="## $heading" '
      $0 == h { while ((getline l < sec) > 0) print l; print ""; skip = 1; next }
      skip && (/^## / || /^<!-- [a-z]+:begin/) { skip = 0 }
      !skip { print }' "$doc" > "$doc.new"
  else
    { cat "$doc"; echo; cat "$sec"; } > "$doc.new"
  fi
  mv "$doc.new" "$doc"
}

[ -n "${BENCH_NAME:-}" ] || return 0
BENCH=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(dirname "$BENCH")
OUT=${1:?usage: $BENCH_NAME SECTION.md [RAW.json]}
RAW=${2:-}
case "$OUT" in /*) ;; *) OUT=$PWD/$OUT ;; esac
case "$RAW" in /* | "") ;; *) RAW=$PWD/$RAW ;; esac
TOLLGATE=${TOLLGATE:-$ROOT/build/tollgate}
case "$TOLLGATE" in /*) ;; *) TOLLGATE=$ROOT/$TOLLGATE ;; esac
export TOLLGATE

# wrk's output, read back: requests/s, requests, errors (socket errors and
# non-2xx answers) and the p99 latency in ms (run wrk with --latency).
rps_of() { awk '/^Requests\/sec:/ { print $2 }' "$1"; }
reqs_of() { awk '/requests in/ { print $1 }' "$1"; }
errors_of() { # socket errors and non-2xx answers
  awk '/Socket errors/ { for (i = 3; i <= NF; i += 2) { v = $(i + 1); gsub(",", "", v); n += v } }
       /Non-2xx/ { n += $NF } END { print n + 0 }' "$1"
}
p99_ms() { # wrk's 99% latency line, in ms
  awk '$1 == "99%" { v = $2; u = v; sub(/[0-9.]+/, "", u); sub(/[a-z]+$/, "", v)
    f = u == "us" ? 0.001 : u == "ms" ? 1 : u == "s" ? 1000 : u == "m" ? 60000 : -1
    print v * f }' "$1"
}
