# Shared preamble of the benchmark scripts that run the real agent: their
# arguments (SECTION.md [RAW.json], made absolute) and the agent binary.
# Usage: BENCH_NAME=x.sh; source "$(dirname "$0")/common.sh" "$@"
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
