#!/usr/bin/env bash
# What quota integrity costs per request start: the keyed API-key hash
# (SipHash-2-4 under the agent's random key, where FNV-1a 64 was) and the
# proof of the handshake before a start is charged (the tg_handshake record,
# bpf_skc_lookup_tcp on TC), as pktcost measures them at two commits in one
# run:
#   BEFORE  the last commit before them (FNV-1a, every start charged)
#   AFTER   the commit that completed them (before the kernel memory layout
#           v3 changed the client maps, so that nothing else moved)
# Each build's pktcost times its own trivial program in the same process, so
# every figure is also a multiple of the trivial program; the rounds
# alternate the builds (and which goes first), so a slow spell of the
# machine weighs on them alike. The report compares the multiples:
# AFTER's ×trivial ÷ BEFORE's ×trivial, per path, client-table size and
# configuration, as the median over the rounds. The proof of the handshake
# is paid once per connection, by its first request start, a path only
# CURRENT's pktcost (HEAD by default) has: the report's second table sets
# it against a later start of a proven connection, in the same runs.
#
#   sudo bench/integrity_cost.sh [--md FILE] [ROUNDS]
#       BEFORE=rev AFTER=rev CURRENT=rev (defaults below); ROUNDS 3;
#       SIZES=1000,100000 (pktcost's client-table sizes)
#
# Needs root (BPF_PROG_TEST_RUN) and the git history (a clone, not an
# export). Builds in a scratch directory that it removes.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
BEFORE=${BEFORE:-1af78e1}
AFTER=${AFTER:-eaa0c63}
CURRENT=${CURRENT:-HEAD}
SIZES=${SIZES:-1000,100000}
SIDES="before after current"
md=
if [ "${1:-}" = "--md" ]; then
  md=$2
  shift 2
fi
ROUNDS=${1:-3}
case $ROUNDS in
  '' | *[!0-9]* | 0) echo "integrity_cost: ROUNDS must be a positive number" >&2; exit 2 ;;
esac
if [ "$(id -u)" -ne 0 ]; then
  echo "integrity_cost: needs root (BPF_PROG_TEST_RUN)" >&2
  exit 1
fi

tmp=$(mktemp -d /tmp/tollgate-integrity-cost.XXXXXX)
cleanup() {
  for side in $SIDES; do
    [ -d "$tmp/$side" ] && git -C "$ROOT" worktree remove --force "$tmp/$side" >/dev/null 2>&1 || true
  done
  rm -rf "$tmp"
}
trap cleanup EXIT

build() { # side rev
  local side=$1 rev=$2
  git -C "$ROOT" worktree add -q --detach "$tmp/$side" "$rev"
  cmake -S "$tmp/$side" -B "$tmp/$side/build" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DTG_TESTS=ON >/dev/null
  cmake --build "$tmp/$side/build" --target pktcost -j"$(nproc)" >/dev/null
  git -C "$ROOT" rev-parse --short "$rev" >"$tmp/$side.rev"
}
echo "integrity_cost: building pktcost at $BEFORE, $AFTER and $CURRENT" >&2
build before "$BEFORE"
build after "$AFTER"
build current "$CURRENT"

load_before=$(cut -d' ' -f1-3 /proc/loadavg)
for r in $(seq 1 "$ROUNDS"); do
  order=$SIDES
  [ $((r % 2)) -eq 0 ] && order="current after before"
  for side in $order; do
    echo "integrity_cost: round $r/$ROUNDS, $side" >&2
    (cd "$tmp/$side" && ./build/pktcost --sizes "$SIZES" --json-out "$tmp/$side.$r.json" >/dev/null)
  done
done
load_after=$(cut -d' ' -f1-3 /proc/loadavg)

python3 "$ROOT/bench/integrity_cost_report.py" "$tmp" "$ROUNDS" "$(cat "$tmp/before.rev")" \
  "$(cat "$tmp/after.rev")" "$(cat "$tmp/current.rev")" "$(nproc)" "$(uname -r)" "$load_before" "$load_after" >"$tmp/report.md"
if [ -n "$md" ]; then
  cp "$tmp/report.md" "$md"
else
  cat "$tmp/report.md"
fi
