#!/usr/bin/env bash
# The compose file, brought up for real: podman's Docker-compatible API
# service, Debian's docker-compose (v1) talking to it, images built from a
# Debian 12 base made locally with debootstrap, then a client in a network
# namespace sending more than its quota through the gateway. Passes when
# the agent's quota_exhausted event for that client reaches the receiver.
# Everything it starts is torn down at exit, pass or fail; images stay
# cached (the base image and the build layers).
#
#   sudo tests/compose/run.sh            (Debian 12, as root)
#
# Environment: MIRROR, SECURITY_MIRROR (default: those apt uses here),
# KEEP_BASE=0 to rebuild the base image.
set -euo pipefail
cd "$(dirname "$0")/../.."
SRC=$(pwd)

BASE_IMAGE=localhost/debian:bookworm-slim
PROJECT=tgcompose
WORK=$(mktemp -d /tmp/tollgate-compose.XXXXXX)
SOCK=$WORK/podman.sock
T0=$SECONDS
PASS=0 FAIL=0
_cleanup=()
_timings=()

defer() { _cleanup+=("$*"); }
log() { echo "# $*"; }
ok() { PASS=$((PASS + 1)); echo "ok - $*"; }
fail() { FAIL=$((FAIL + 1)); echo "not ok - $*"; }
die() { echo "FATAL: $*" >&2; FAIL=$((FAIL + 1)); exit 1; }
# step NAME SECONDS CMD...: runs CMD bounded in time, records how long it took
step() {
  local name=$1 limit=$2 t=$SECONDS rc=0
  shift 2
  log "$name (at most ${limit}s)"
  timeout --kill-after=10 "$limit" "$@" || rc=$?
  _timings+=("$(printf '%-34s %4ds' "$name" $((SECONDS - t)))")
  [ "$rc" -ne 124 ] || die "$name timed out after ${limit}s"
  [ "$rc" -eq 0 ] || die "$name failed (exit $rc)"
}

on_exit() {
  local rc=$?
  for ((i = ${#_cleanup[@]} - 1; i >= 0; i--)); do
    timeout 120 bash -c "${_cleanup[$i]}" >/dev/null 2>&1 || true
  done
  rm -rf "$WORK"
  echo "# timings"
  for t in "${_timings[@]}"; do echo "#   $t"; done
  echo "#   total                              $((SECONDS - T0))s"
  echo "$PASS passed, $FAIL failed"
  [ "$FAIL" -eq 0 ] && [ "$rc" -eq 0 ] || exit 1
}
trap on_exit EXIT

[ "$(id -u)" -eq 0 ] || die "needs root (podman, network namespaces, eBPF)"
step "install packages" 900 ./scripts/install-deps.sh compose
mountpoint -q /sys/fs/bpf || mount -t bpf bpf /sys/fs/bpf
for p in 9470 18080 18081 19499; do
  ! ss -Hltn "sport = :$p" | grep -q . || die "port $p is in use: the compose services need it"
done

# --- podman's Docker API, on a socket of our own ------------------------------
podman --runtime runc system service --time=0 "unix://$SOCK" >"$WORK/podman.log" 2>&1 &
PODMAN_PID=$!
defer "kill $PODMAN_PID; wait $PODMAN_PID"
export DOCKER_HOST=unix://$SOCK
for _ in $(seq 100); do
  curl -fs --unix-socket "$SOCK" http://d/_ping >/dev/null 2>&1 && break
  kill -0 "$PODMAN_PID" 2>/dev/null || { cat "$WORK/podman.log"; die "podman system service exited"; }
  sleep 0.1
done
curl -fs --unix-socket "$SOCK" http://d/_ping >/dev/null || die "podman's API does not answer on $SOCK"
compose() { docker-compose -p "$PROJECT" -f "$SRC/docker-compose.yml" "$@"; }

# --- the base image: debootstrap from the mirror apt uses -----------------------
mirrors() { # the Debian archive and security URLs apt uses here
  local all m s
  all=$(grep -hE '^(deb |URIs:)' /etc/apt/sources.list /etc/apt/sources.list.d/*.list \
          /etc/apt/sources.list.d/*.sources 2>/dev/null | grep -oE 'https?://[^ ]+' || true)
  m=$(echo "$all" | grep -E '/debian/?$' | head -1)
  s=$(echo "$all" | grep -E '/debian-security/?$' | head -1)
  echo "${m:-http://deb.debian.org/debian} ${s:-http://deb.debian.org/debian-security}"
}
make_base() {
  local root=$WORK/rootfs m=$1 sec=$2
  debootstrap --variant=minbase bookworm "$root" "$m" >"$WORK/debootstrap.log" 2>&1 ||
    { tail -20 "$WORK/debootstrap.log"; return 1; }
  printf 'deb %s bookworm main\ndeb %s bookworm-updates main\ndeb %s bookworm-security main\n' \
    "$m" "$m" "$sec" > "$root/etc/apt/sources.list"
  rm -rf "$root"/var/cache/apt/archives/*.deb "$root"/var/lib/apt/lists/*
  tar -C "$root" -c . | podman import - "$BASE_IMAGE" >/dev/null
  rm -rf "$root"
}
if [ "${KEEP_BASE:-1}" = 1 ] && podman image exists "$BASE_IMAGE"; then
  log "base image $BASE_IMAGE is cached"
else
  read -r m sec < <(mirrors)
  MIRROR=${MIRROR:-$m} SECURITY_MIRROR=${SECURITY_MIRROR:-$sec}
  step "debootstrap the base image ($MIRROR)" 1200 bash -c \
    "$(declare -f make_base); WORK=$WORK BASE_IMAGE=$BASE_IMAGE make_base $MIRROR $SECURITY_MIRROR"
fi
export BASE=$BASE_IMAGE

step "build the images" 2400 docker-compose -p "$PROJECT" -f "$SRC/docker-compose.yml" build
defer "docker-compose -p $PROJECT -f $SRC/docker-compose.yml down -v -t 20"

# --- clients: one namespace per quota entry, behind host-side veths -----------
client_ns() { # client_ns N: namespace tgc<N>, 198.18.N.2 -> host 198.18.N.1
  local n=$1
  ip netns add "tgc$n"
  defer "ip netns del tgc$n"
  ip link add "tgc-h$n" type veth peer name "tgc-c$n"
  defer "ip link del tgc-h$n"
  ip link set "tgc-c$n" netns "tgc$n"
  ip addr add "198.18.$n.1/24" dev "tgc-h$n"
  ip link set "tgc-h$n" up
  ip -n "tgc$n" addr add "198.18.$n.2/24" dev "tgc-c$n"
  ip -n "tgc$n" link set "tgc-c$n" up
  ip -n "tgc$n" link set lo up
}
client_ns 40
client_ns 41

# --- the config: features this agent does not have yet are left out ----------
CONFIG_DIR=$SRC/config
# (podman itself: docker-compose run attaches through an upgrade that
# podman's API refuses.)
if ! out=$(timeout 120 podman --runtime runc run --rm --network none --ulimit nofile=20000:20000 --ulimit nproc=32768:32768 \
             -v "$SRC/config:/etc/tollgate:ro" localhost/tollgate:latest \
             check-config /etc/tollgate/compose.json 2>&1); then
  if echo "$out" | grep -q 'not supported yet'; then
    log "this agent lacks: $(echo "$out" | grep -o '\$[^:]*: not supported yet' | tr '\n' ' ')"
    log "running without api.check_deny_status and with action monitor for the gateway entry"
    mkdir -p "$WORK/config"
    jq 'del(.api.check_deny_status) | .quotas.clients |= map(if .action == "gateway" then .action = "monitor" else . end)' \
      "$SRC/config/compose.json" > "$WORK/config/compose.json"
    CONFIG_DIR=$WORK/config
  else
    echo "$out"
    die "config/compose.json is rejected"
  fi
fi
export TOLLGATE_CONFIG_DIR=$CONFIG_DIR

step "compose up" 300 docker-compose -p "$PROJECT" -f "$SRC/docker-compose.yml" up -d

wait_http() { # wait_http URL SECONDS
  local end=$((SECONDS + $2))
  while [ $SECONDS -lt $end ]; do
    curl -s -o /dev/null --max-time 2 "$1" && return 0
    sleep 0.5
  done
  return 1
}
t=$SECONDS
wait_http http://127.0.0.1:9470/healthz 90 || { compose logs --no-color agent | tail -30; die "the agent's API did not come up"; }
wait_http http://127.0.0.1:19499/ 30 || { compose logs --no-color receiver | tail -30; die "the receiver did not come up"; }
wait_http http://127.0.0.1:18080/ 30 || { compose logs --no-color gateway | tail -30; die "the gateway did not come up"; }
_timings+=("$(printf '%-34s %4ds' "services answering" $((SECONDS - t)))")
ok "agent, gateway and receiver answer"
check_attached=$(curl -s http://127.0.0.1:9470/healthz | jq -r '[.interfaces[] | select(.attached)] | length')
[ "$check_attached" = 2 ] && ok "the agent is attached to both client interfaces" \
  || fail "attached interfaces: $check_attached (healthz: $(curl -s http://127.0.0.1:9470/healthz))"

# --- over quota through the gateway: the kernel drops, the agent reports -------
t=$SECONDS
timeout 30 ip netns exec tgc40 python3 "$SRC/tests/lib/loadgen.py" \
  --url http://198.18.40.1:18080/v1/chat/completions --rate 50 --duration 3 \
  --new-conn-per-request --timeout 0.5 --json > "$WORK/load40.json" || true
log "load from 198.18.40.2: $(jq -c '{offered, ok, status, timeouts}' "$WORK/load40.json" 2>/dev/null)"
QE='select(.body.schema? == "tollgate.anomaly.v1") | .body.anomalies[]
    | select(.type == "quota_exhausted" and .client.address == "198.18.40.2")'
events() { compose logs --no-color receiver 2>/dev/null | sed -n 's/^[^{]*\({.*}\)$/\1/p'; }
found=
for _ in $(seq 60); do
  if [ -n "$(events | jq -c "$QE" 2>/dev/null | head -1)" ]; then found=1; break; fi
  sleep 0.5
done
_timings+=("$(printf '%-34s %4ds' "traffic until the event" $((SECONDS - t)))")
if [ -n "$found" ]; then
  ok "the receiver got quota_exhausted for 198.18.40.2 ($(events | jq -c "$QE | {key: .client.key, denied: .observed.denied, severity}" | head -1))"
else
  fail "no quota_exhausted event for 198.18.40.2"
  compose logs --no-color agent | tail -30
  events | tail -5
fi
bad=$(events | jq -c 'select(.schema_ok == false)' | head -3)
[ -z "$bad" ] && ok "every event validates against schema/" || fail "invalid events: $bad"
denied=$(curl -s http://127.0.0.1:9470/v1/keys/compose-drop | jq '.state.denied')
[ "${denied:-0}" -ge 1 ] && ok "the kernel denied $denied request starts of compose-drop" || fail "compose-drop denied: $denied"

# --- the gateway's own 429, once the agent answers /v1/check -------------------
code=$(curl -s -o /dev/null -w '%{http_code}' -H 'X-Real-IP: 198.18.41.2' http://127.0.0.1:9470/v1/check || true)
if [ "$code" = 404 ] || [ "$CONFIG_DIR" != "$SRC/config" ]; then
  log "skip: nginx's 429 (this agent has no /v1/check or no gateway action)"
else
  for _ in $(seq 20); do
    ip netns exec tgc41 curl -s -o /dev/null -D - --max-time 2 http://198.18.41.1:18080/v1/models
  done > "$WORK/h41.txt" 2>&1 || true
  n429=$(grep -c '^HTTP/1.1 429' "$WORK/h41.txt" || true)
  [ "$n429" -ge 1 ] && ok "nginx answers 429 beyond the quota ($n429 of 20)" || fail "no 429 from nginx: $(grep '^HTTP' "$WORK/h41.txt" | sort | uniq -c | tr '\n' ' ')"
  grep -qi '^Retry-After: [1-9]' "$WORK/h41.txt" && ok "with Retry-After" || fail "no Retry-After on the 429"
fi

# --- down: the agent detaches and leaves no pin ---------------------------------
step "compose down" 120 docker-compose -p "$PROJECT" -f "$SRC/docker-compose.yml" down -v -t 20
left=$(tc filter show dev tgc-h40 ingress 2>/dev/null | grep -c bpf || true)
[ "$left" = 0 ] && ok "no TC filter left on tgc-h40" || fail "$left TC filters left on tgc-h40"
[ ! -e /sys/fs/bpf/tollgate/compose ] && ok "no pins left" || fail "pins left in /sys/fs/bpf/tollgate/compose"
