#!/usr/bin/env bash
# valgrind_unit.sh SUPPRESSIONS BINARY [ARGS...]: runs a Criterion test
# binary under valgrind memcheck. Criterion runs each test in a process of
# its own (fork + exec of the binary), so valgrind follows children; shells
# a test starts (popen) are not followed. Every process writes its own log;
# the run fails when the tests fail or any process reports an error or a
# definite or indirect leak. Without valgrind: skipped (77), or a failure
# when CI=true.
set -uo pipefail
supp=$1
shift
if ! command -v valgrind >/dev/null 2>&1; then
  if [ "${CI:-}" = true ]; then
    echo "valgrind is not installed (scripts/install-deps.sh test installs it)" >&2
    exit 1
  fi
  echo "valgrind is not installed: skipped (scripts/install-deps.sh test installs it)"
  exit 77
fi
logs=$(mktemp -d /tmp/tollgate-valgrind.XXXXXX)
trap 'rm -rf "$logs"' EXIT

rc=0
# A fork that execs a skipped program (popen's shell) leaves a log without
# a summary: --child-silent-after-fork keeps such children out of the logs
# (a traced exec starts a log of its own).
valgrind --tool=memcheck --trace-children=yes \
  --trace-children-skip='/bin/*,/usr/bin/*,/sbin/*,/usr/sbin/*' --child-silent-after-fork=yes \
  --leak-check=full --show-leak-kinds=definite,indirect \
  --errors-for-leak-kinds=definite,indirect --error-exitcode=99 \
  --suppressions="$supp" --gen-suppressions=all \
  --log-file="$logs/vg.%p.log" "$@" || rc=$?

bad=0
for f in "$logs"/vg.*.log; do
  [ -e "$f" ] || continue
  # the ERROR SUMMARY counts errors and (with --errors-for-leak-kinds)
  # the leaks that count as errors; a process without one died under it
  if ! grep -q 'ERROR SUMMARY: 0 errors' "$f"; then
    bad=$((bad + 1))
    echo "=== valgrind: $(basename "$f")"
    cat "$f"
  fi
done
n=$(find "$logs" -name 'vg.*.log' | wc -l)
echo "valgrind: $n processes, $bad with errors or leaks; tests exit code $rc"
[ "$rc" -eq 0 ] && [ "$bad" -eq 0 ] && [ "$n" -gt 0 ]
