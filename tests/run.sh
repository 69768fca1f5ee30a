#!/usr/bin/env bash
# The test command: installs what the build and the tests need (Debian 12,
# as root), builds, and runs every tier: unit (also under ASan+UBSan and
# valgrind memcheck), BPF (BPF_PROG_TEST_RUN, under ASan+UBSan) and end-to-end (namespaces,
# nginx, the real agent).
set -euo pipefail
cd "$(dirname "$0")/.."

"$(pwd)/scripts/install-deps.sh" test

build=${BUILD_DIR:-build}
cmake -S . -B "$build" -DTG_SANITIZE=ON -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build "$build" -j"$(nproc)"

# bpffs is where the agent pins its maps; BPF tests need it mounted.
mountpoint -q /sys/fs/bpf || mount -t bpf bpf /sys/fs/bpf

cd "$build"
# Two at a time: the unit, sanitizer and valgrind tiers share the cores;
# BPF and end-to-end tests (fixed ports, namespaces, pins) run alone
# (RUN_SERIAL).
ctest --output-on-failure --timeout 900 -j"$(nproc)" "$@"
