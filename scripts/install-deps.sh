#!/usr/bin/env bash
# Installs tollgate's build and run dependencies from Debian 12's archive.
# Usage: install-deps.sh [run|test|bench|compose]   (test adds what the test
# tiers need, libFuzzer, valgrind and haproxy included; bench adds the load generator and gnuplot on top of that; compose adds
# podman and docker-compose for tests/compose/run.sh)
set -euo pipefail
what=${1:-run}

pkgs=(build-essential cmake pkg-config clang llvm bpftool libbpf-dev libelf-dev
      zlib1g-dev libuv1-dev libcurl4-openssl-dev libcjson-dev libhttp-parser-dev
      libssl-dev libsystemd-dev libcap-dev libhiredis-dev iproute2 curl)
if [ "$what" = test ] || [ "$what" = bench ] || [ "$what" = compose ]; then
  pkgs+=(libcriterion-dev libclang-rt-14-dev nginx ethtool jq python3 python3-jsonschema python3-yaml procps bc util-linux tmux valgrind redis-server prometheus haproxy)
fi
if [ "$what" = bench ]; then
  pkgs+=(wrk gnuplot-nox)
fi
if [ "$what" = compose ]; then
  pkgs+=(podman runc docker-compose debootstrap)
fi

missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" -ne 0 ]; then
    echo "install-deps: missing packages (${missing[*]}); run as root" >&2
    exit 1
  fi
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  # policy-rc.d keeps package scripts from starting services (nginx) that
  # would take ports the tests use.
  made_policy=
  if [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d && chmod +x /usr/sbin/policy-rc.d
    made_policy=1
  fi
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  [ -z "$made_policy" ] || rm -f /usr/sbin/policy-rc.d
fi
