#!/usr/bin/env bash
# The run command: installs dependencies (Debian 12, as root), builds the
# agent and runs it in the foreground. Arguments go to `tollgate run`, e.g.
#   sudo ./scripts/run.sh                       (embedded default config)
#   sudo TOLLGATE_KEY_TEAM_A=sk-test ./scripts/run.sh --config config/example-quotas.json
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/install-deps.sh run
build=${BUILD_DIR:-build-run}
cmake -S . -B "$build" -DTG_TESTS=OFF -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build "$build" -j"$(nproc)" --target tollgate >/dev/null
exec "$build/tollgate" run "$@"
