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
