#!/usr/bin/env bash
# The test command: installs what the build and the tests need (Debian 12,
# as root), builds, and runs every tier: unit (also under ASan+UBSan and
# valgrind memcheck), BPF (BPF_PROG_TEST_RUN, under ASan+UBSan) and end-to-end (namespaces,
# nginx, the real agent).
set -euo pipefail
cd "$(dirname "$0")/.."

"$(pwd)/scripts/install-deps.sh" test

build=${BUILD_DIR:-build}
# -Werror here, not in a user's build: warnings differ between
# optimisation levels and compilers.
cmake -S . -B "$build" -DTG_SANITIZE=ON -DTG_WERROR=ON -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build "$build" -j"$(nproc)"
# A Release build (gcc -O3) of the whole tree, compiled but not run: -O3
# sees warnings (format truncation, overflow) that -O2 does not.
# TG_RELEASE_BUILD=0 skips it.
if [ "${TG_RELEASE_BUILD:-1}" != 0 ]; then
  cmake -S . -B "$build-release" -DTG_WERROR=ON -DCMAKE_BUILD_TYPE=Release >/dev/null
  cmake --build "$build-release" -j"$(nproc)"
fi

# bpffs is where the agent pins its maps; BPF tests need it mounted.
mountpoint -q /sys/fs/bpf || mount -t bpf bpf /sys/fs/bpf

cd "$build"
# Two at a time: the unit, sanitizer and valgrind tiers share the cores;
# BPF and end-to-end tests (fixed ports, namespaces, pins) run alone
# (RUN_SERIAL).
ctest --output-on-failure --timeout 900 -j"$(nproc)" "$@"
