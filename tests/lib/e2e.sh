# Shared by the end-to-end tests (tests/e2e/) and the benchmarks
# (bench/): network namespaces with veth pairs, a real nginx, the real
# agent, the webhook receiver. Everything created is registered for
# removal in an EXIT trap, so a failing test leaves nothing behind.
# Addresses: 198.18.0.0/15 and fd00:198:18::/64 only.

set -euo pipefail

TOLLGATE=${TOLLGATE:?path to the tollgate binary}
E2E_TAG=${E2E_TAG:-tge$$}
# This directory: loadgen.py, receiver.py and fleet.sh live beside this file.
TESTLIB=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# The pin layout the binary uses: pins are under <bpffs>/tollgate/<instance>/v$TG_LAYOUT.
TG_LAYOUT=$(sed -n 's/^#define TG_LAYOUT_VERSION \([0-9]*\).*/\1/p' \
  "$TESTLIB/../../kern/shared.h")
WORK=$(mktemp -d /tmp/tollgate-e2e.XXXXXX)
PASS=0
FAIL=0
_cleanup=()

on_exit() {
  local rc=$?
  for ((i = ${#_cleanup[@]} - 1; i >= 0; i--)); do
    eval "${_cleanup[$i]}" >/dev/null 2>&1 || true
  done
  rm -rf "$WORK"
  echo "$PASS passed, $FAIL failed"
  if [ "$FAIL" -gt 0 ] || [ "$rc" -ne 0 ]; then exit 1; fi
  exit 0
}
trap on_exit EXIT
# A watchdog's TERM (timeout(1), ctest) or Ctrl-C: exit through on_exit, so
# the cleanup runs (a shell killed by a signal skips its EXIT trap).
trap 'exit 143' TERM
trap 'exit 130' INT
defer() { _cleanup+=("$*"); }

log() { echo "# $*"; }
ok() { PASS=$((PASS + 1)); echo "ok - $*"; }
fail() { FAIL=$((FAIL + 1)); echo "not ok - $*"; }
check() { # check "description" expected actual
  if [ "$2" = "$3" ]; then ok "$1 ($3)"; else fail "$1: expected '$2', got '$3'"; fi
}
die() { echo "FATAL: $*" >&2; FAIL=$((FAIL + 1)); exit 1; }

require_root() {
  if [ "$(id -u)" -ne 0 ]; then
    die "end-to-end tests need root (network namespaces, eBPF)"
  fi
  mountpoint -q /sys/fs/bpf || mount -t bpf bpf /sys/fs/bpf
}

# make_client NAME HOSTIF CLIENTIF HOST_V4 CLIENT_V4 [HOST_V6 CLIENT_V6]
# A namespace NAME whose veth CLIENTIF faces HOSTIF on the host side.
make_client() {
  local ns=$1 hif=$2 cif=$3 h4=$4 c4=$5 h6=${6:-} c6=${7:-}
  ip netns add "$ns"
  defer "ip netns del $ns"
  ip link add "$hif" type veth peer name "$cif"
  defer "ip link del $hif"
  ip link set "$cif" netns "$ns"
  ip addr add "$h4/30" dev "$hif"
  ip link set "$hif" up
  ip -n "$ns" addr add "$c4/30" dev "$cif"
  ip -n "$ns" link set "$cif" up
  ip -n "$ns" link set lo up
  if [ -n "$h6" ]; then
    ip addr add "$h6/64" dev "$hif" nodad
    ip -n "$ns" addr add "$c6/64" dev "$cif" nodad
  fi
}

# nginx_head [WORKER_CONNECTIONS]: prints the top of a config for a test's
# own nginx: one worker, its files under $WORK/nginx, the http block opened
# with its temp paths. The caller writes the rest of the http block and its
# closing brace.
nginx_head() {
  mkdir -p "$WORK/nginx"
  cat <<NGX
worker_processes 1;
pid $WORK/nginx/nginx.pid;
error_log $WORK/nginx/error.log warn;
daemon off;
events { worker_connections ${1:-1024}; }
http {
  client_body_temp_path $WORK/nginx/body;
  proxy_temp_path $WORK/nginx/proxy;
  fastcgi_temp_path $WORK/nginx/fastcgi;
  uwsgi_temp_path $WORK/nginx/uwsgi;
  scgi_temp_path $WORK/nginx/scgi;
NGX
}

# run_nginx CONF PORT [CGROUP]: nginx on CONF in the background (stopped
# at exit); returns once something listens on PORT. With CGROUP, started
# inside it: the shell moves itself into the cgroup, then becomes nginx,
# so every socket nginx creates belongs to the cgroup.
run_nginx() {
  if [ -n "${3:-}" ]; then
    # shellcheck disable=SC2016 # $$ is the inner shell's
    bash -c 'echo $$ > "$1/cgroup.procs" && exec nginx -c "$2" -e "$3"' \
      nginx "$3" "$1" "$WORK/nginx/error.log" &
  else
    nginx -c "$1" -e "$WORK/nginx/error.log" &
  fi
  NGINX_PID=$!
  defer "kill $NGINX_PID; wait $NGINX_PID"
  wait_port "$2"
}

# nginx_in_cgroup CONF PORT: run_nginx inside $CG (make_cgroup first), then
# checks that its master and its worker are there.
nginx_in_cgroup() {
  run_nginx "$1" "$2" "$CG"
  check "nginx master and worker run inside $CG" 2 "$(grep -c . "$CG/cgroup.procs")"
}

# start_nginx PORT... : nginx answering 200 on every port, v4 and v6.
start_nginx() {
  local conf=$WORK/nginx.conf listen=""
  for p in "$@"; do
    listen+="    listen $p reuseport; listen [::]:$p reuseport;"$'\n'
  done
  # H2C_PORT: a cleartext HTTP/2 (prior knowledge) listener as well
  [ -z "${H2C_PORT:-}" ] || listen+="    listen $H2C_PORT http2;"$'\n'
  # PROXY_PORT: a listener that expects a PROXY protocol header
  [ -z "${PROXY_PORT:-}" ] || listen+="    listen $PROXY_PORT proxy_protocol;"$'\n'
  {
    nginx_head
    cat <<NGX
  log_format tg '\$msec \$remote_addr \$status \$server_protocol \$request_uri \$proxy_protocol_addr';
  access_log $WORK/nginx/access.log tg;
  client_max_body_size 64m;
  keepalive_requests 10000;
  server {
$listen
    location / { return 200 "ok\n"; }
  }
}
NGX
  } > "$conf"
  NGINX_LOG=$WORK/nginx/access.log
  run_nginx "$conf" "$1"
}

# start_receiver NAME PORT [ARGS...]: receiver.py on 127.0.0.1:PORT with
# the repository's event schemas, one JSON line per request in
# $WORK/rx_NAME.jsonl (its own output in $WORK/rx_NAME.out); ARGS are
# receiver.py's (--secret, --plan, --openai, --delay-ms). Stopped at exit;
# returns once it listens. Its pid is in RX_NAME.
start_receiver() {
  local name=$1 port=$2
  shift 2
  python3 "$TESTLIB/receiver.py" --port "$port" --log "$WORK/rx_$name.jsonl" \
    --schema-dir "$TESTLIB/../../schema" "$@" >"$WORK/rx_$name.out" 2>&1 &
  printf -v "RX_$name" %s "$!"
  defer "kill $!; wait $!"
  wait_port "$port"
}

stop_receiver() { # stop_receiver NAME: the receiver start_receiver NAME started
  local v="RX_$1"
  kill "${!v}"
  wait "${!v}" 2>/dev/null || true
}

wait_port() { # wait_port PORT: until something listens on it (10 s)
  for _ in $(seq 100); do
    ss -Hltn "sport = :$1" | grep -q . && return 0
    sleep 0.1
  done
  die "nothing listens on port $1"
}

# start_agent CONFIG [SECONDS]: runs the agent in the background, waits
# for its API (10 s, or SECONDS: large tables take a while to allocate).
start_agent() {
  local cfg=$1
  AGENT_LOG=$WORK/agent.log
  "$TOLLGATE" run --config "$cfg" >"$AGENT_LOG" 2>&1 &
  AGENT_PID=$!
  defer "kill $AGENT_PID; wait $AGENT_PID"
  API=$(jq -r '.api.listen // "127.0.0.1:9470"' "$cfg")
  for _ in $(seq $((${2:-10} * 10))); do
    curl -fsS "http://$API/healthz" >/dev/null 2>&1 && return 0
    kill -0 "$AGENT_PID" 2>/dev/null || { cat "$AGENT_LOG"; die "agent exited"; }
    sleep 0.1
  done
  cat "$AGENT_LOG"
  die "agent API did not come up"
}

stop_agent() { # stop_agent [SIGNAL]: sets AGENT_RC to the agent's exit code
  kill "-${1:-TERM}" "$AGENT_PID"
  AGENT_RC=0
  wait "$AGENT_PID" || AGENT_RC=$?
}

api() { curl -fsS --max-time 5 "http://$API$1"; }

# client_field ADDRESS FIELD: one field of one client from /v1/clients
client_field() {
  api "/v1/clients?limit=100000" |
    jq -r --arg a "$1" --arg f "$2" '(.clients[] | select(.address == $a) | .[$f]) // "absent"'
}

# wait_field ADDRESS FIELD VALUE: polls until it matches (15 s), prints the last value
wait_field() {
  local v=""
  for _ in $(seq 75); do
    v=$(client_field "$1" "$2")
    [ "$v" = "$3" ] && break
    sleep 0.2
  done
  echo "$v"
}

# make_cgroup NAME: a child cgroup NAME under the cgroup2 mount; sets CG to
# its path. Removed at exit: its processes are killed first (bounded wait).
make_cgroup() {
  local root
  root=$(awk '$3 == "cgroup2" { print $2; exit }' /proc/mounts)
  [ -n "$root" ] || die "no cgroup2 mount in /proc/mounts"
  CG=$root/$1
  mkdir "$CG"
  defer "remove_cgroup $CG"
}

remove_cgroup() { # remove_cgroup PATH: kill what is left inside, then rmdir
  local pids
  for _ in $(seq 50); do
    pids=$(cat "$1/cgroup.procs" 2>/dev/null || true)
    [ -z "$pids" ] && break
    kill -KILL $pids 2>/dev/null || true
    sleep 0.1
  done
  rmdir "$1"
}

# client_jq ADDRESS FILTER: a jq filter applied to one client of
# /v1/clients; "absent" when the client is not listed.
client_jq() {
  api "/v1/clients?limit=100000" |
    jq -r --arg a "$1" "[.clients[] | select(.address == \$a)] |
      if length == 0 then \"absent\" else (.[0] | $2) end"
}

# wait_jq ADDRESS FILTER VALUE [SECONDS]: polls client_jq until it prints
# VALUE (default 15 s), prints the last value.
wait_jq() {
  local v="" end=$((${EPOCHREALTIME/./} + ${4:-15} * 1000000))
  while :; do
    v=$(client_jq "$1" "$2")
    [ "$v" = "$3" ] && break
    [ "${EPOCHREALTIME/./}" -lt "$end" ] || break
    sleep 0.2
  done
  echo "$v"
}
