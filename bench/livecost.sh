#!/usr/bin/env bash
# Per-packet cost of tg_tc_ingress on live traffic, from the kernel's own
# BPF statistics (kernel.bpf_stats_enabled: run_time_ns and run_cnt of each
# program, read with bpftool), against a trivial counting program
# (tests/lib/trivial.bpf.c) attached on the same hook in front of it, so both
# see the same packets in the same run.
#
# The real agent attaches tg_tc_ingress to the host side of a client's veth
# pair; nginx (one worker, `return 200`) listens behind it. Each path is
# driven by traffic that is (nearly) all of that path, for a few seconds:
#   pass-through   wrk keep-alive to a port that is not a gateway port;
#   plain segment  one POST streaming its body (TSO/GSO off on the client,
#                  so MSS-sized segments): all but the first are plain;
#   SYN            connects to a gateway port nothing listens on: SYNs only
#                  (bench/livetraffic.py);
#   request start  wrk keep-alive to the gateway port; the remainder of the
#                  packets are the client's bare ACKs, whose count is known
#                  (packets − requests), so the request start's own cost is
#                  derived with the ACKs charged at the plain-segment figure;
#   with the API key at byte 100 / 900: the same with a wrk Lua request that
#                  puts the configured key's Authorization line there.
# Three agent configurations: telemetry (monitor, no quotas), enforce with
# quotas.default at 1,000,000 req/s (an address bucket charged on every
# request start, never denied), and the same with one API-key entry. The
# client table holds 1k, 100k and 1M clients (bench's populate: synthetic
# entries in tg_clients and tg_addr_buckets of the running agent).
# kernel.bpf_stats_enabled is restored at exit.
#
#   sudo ./bench/livecost.sh SECTION.md [RAW.json]
#   LIVECOST_SECONDS=3 LIVECOST_SIZES="1000 100000 1000000"
#
# Namespace, veth, programs, nginx and the agent are removed on exit, pass
# or fail. Addresses 198.18.131.0/30, ports 18131-18133, API port 19531.
# About 2 minutes.
set -euo pipefail
BENCH_NAME=livecost.sh
source "$(dirname "$0")/common.sh" "$@"
E2E_TAG=${E2E_TAG:-tgbnl$$}
SECS=${LIVECOST_SECONDS:-2}
read -r -a SIZES <<< "${LIVECOST_SIZES:-1000 100000 1000000}"
GW=18131 OTHER=18132 CLOSED=18133
API_LISTEN=127.0.0.1:19531
H4=198.18.131.1 C4=198.18.131.2
# The SYN run's source: its half-open connections leave the client a
# "connection needs attention" hint that would send every later plain
# segment of that client through a connection lookup.
SYN_SRC=198.18.131.6
KEY=tgbn-live-key-0123456789abcdef
BUILD=$(dirname "$TOLLGATE")
# shellcheck disable=SC1091 # tests/lib/e2e.sh
source "$ROOT/tests/lib/e2e.sh"
require_root
for c in nginx wrk jq bpftool tc ethtool python3; do
  command -v "$c" >/dev/null || die "$c is needed (bash scripts/install-deps.sh bench)"
done
for f in "$TOLLGATE" "$BUILD/populate" "$BUILD/gen/trivial.bpf.o"; do
  [ -e "$f" ] || die "no $f (build: cmake --build build --target tollgate populate)"
done

NS=${E2E_TAG}n HIF=${E2E_TAG}h CIF=${E2E_TAG}c
make_client "$NS" "$HIF" "$CIF" $H4 $C4
ip -n "$NS" addr add $SYN_SRC/32 dev "$CIF"
ip route add $SYN_SRC/32 dev "$HIF"
# MSS-sized segments, as a NIC without offloads would deliver them
ip netns exec "$NS" ethtool -K "$CIF" tso off gso off >/dev/null

{
  nginx_head
  cat <<NGX
  access_log off;
  keepalive_requests 1000000;
  client_max_body_size 0;
  server {
    listen $H4:$GW;
    listen $H4:$OTHER;
    location / { return 200 "ok\n"; }
  }
}
NGX
} > "$WORK/nginx.conf"
run_nginx "$WORK/nginx.conf" $GW

# --- statistics on, the trivial program in front ------------------------------
STATS_BEFORE=$(sysctl -n kernel.bpf_stats_enabled)
sysctl -qw kernel.bpf_stats_enabled=1
defer "sysctl -qw kernel.bpf_stats_enabled=$STATS_BEFORE"
tc qdisc add dev "$HIF" clsact
TRIV_PIN=/sys/fs/bpf/${E2E_TAG}_trivial
bpftool prog load "$BUILD/gen/trivial.bpf.o" "$TRIV_PIN"
defer "rm -f $TRIV_PIN"
# priority 1 runs before the agent's filter; it returns "continue"
tc filter add dev "$HIF" ingress prio 1 handle 1 bpf da pinned "$TRIV_PIN"
TRIV_ID=$(bpftool -j prog show pinned "$TRIV_PIN" | jq .id)

prog_stats() { # prog_stats ID: "run_time_ns run_cnt"
  bpftool -j prog show id "$1" | jq -r '"\(.run_time_ns // 0) \(.run_cnt // 0)"'
}

# --- the agent ------------------------------------------------------------------
agent_conf() { # agent_conf MODE QUOTAS
  cat > "$WORK/agent.json" <<JSON
{
  "instance": "$E2E_TAG",
  "mode": "$1",
  "gateway": { "interfaces": ["$HIF"], "ports": [$GW, $CLOSED], "max_clients": ${LIVECOST_MAX_CLIENTS:-1000000} },
  "quotas": $2,
  "api": { "listen": "$API_LISTEN" },
  "log": { "level": "info" }
}
JSON
}
# One agent for the whole run (a 1M-client table takes a while to
# allocate); the configurations follow by reload (the agent watches its
# config file), which keeps the tables.
TG_ID=""
start_config() { # start_config NAME MODE QUOTAS
  log "configuration $1"
  agent_conf "$2" "$3"
  if [ -z "$TG_ID" ]; then
    start_agent "$WORK/agent.json" 120
    TG_ID=$(tc -j filter show dev "$HIF" ingress |
      jq -r '[.[].options.prog? | select(.name == "tg_tc_ingress") | .id][0] // empty')
    [ -n "$TG_ID" ] || { cat "$AGENT_LOG"; die "tg_tc_ingress is not attached to $HIF"; }
    PIN_DIR=$(ls -d /sys/fs/bpf/tollgate/"$E2E_TAG"/v* | head -n1)
    return
  fi
  # By the agent's log: with a million clients its API can be too busy
  # to answer within seconds on a loaded machine.
  local before
  before=$(grep -c '"reloaded"\|msg=reloaded\| reloaded ' "$AGENT_LOG" || true)
  kill -HUP "$AGENT_PID"
  for _ in $(seq 300); do
    grep -q 'reload rejected' "$AGENT_LOG" && { cat "$AGENT_LOG"; die "the agent rejected configuration $1"; }
    if [ "$(grep -c '"reloaded"\|msg=reloaded\| reloaded ' "$AGENT_LOG" || true)" -gt "$before" ]; then
      sleep 1 # the config file's watcher may reload it once more
      return
    fi
    sleep 0.1
  done
  cat "$AGENT_LOG"
  die "the agent did not reload into configuration $1"
}
populate_to() { # populate_to N: the table tracks N clients
  local n=$1 t0 t1 resident
  t0=${EPOCHREALTIME/./}
  resident=$("$BUILD/populate" "$PIN_DIR" "$n")
  t1=${EPOCHREALTIME/./}
  log "  $n clients: $resident resident in tg_clients ($(((t1 - t0) / 1000)) ms)"
  [ "$resident" -ge "$n" ] || die "tg_clients holds $resident entries, wanted $n"
}

# Requests wrk sends: GET / with nothing else, or with the configured key's
# Authorization line starting at byte OFFSET of the request (a padding
# header before it).
wrk_script() { # wrk_script OFFSET > FILE.lua
  python3 - "$1" "$KEY" "$H4:$GW" <<'PY'
import sys
off, key, host = int(sys.argv[1]), sys.argv[2], sys.argv[3]
head = "GET / HTTP/1.1\r\nHost: %s\r\n" % host
pad = off - len(head) - len("X-Pad: \r\n")
req = head + "X-Pad: " + "p" * pad + "\r\n"
assert len(req) == off
req += "Authorization: Bearer %s\r\n\r\n" % key
print('local req = "%s"' % req.replace("\r\n", "\\r\\n"))
print("request = function() return req end")
PY
}
wrk_script 100 > "$WORK/key100.lua"
wrk_script 900 > "$WORK/key900.lua"

ROWS="$WORK/rows.tsv" # config path clients packets tg_ns triv_ns requests bytes
: > "$ROWS"
# measure CONFIG PATH CLIENTS CMD...: runs CMD in the client namespace, reads
# both programs' statistics before and after.
measure() {
  local conf=$1 path=$2 n=$3 out="$WORK/out.txt" t0 c0 u0 d0 t1 c1 u1 d1 reqs=0
  shift 3
  read -r t0 c0 < <(prog_stats "$TG_ID")
  read -r u0 d0 < <(prog_stats "$TRIV_ID")
  timeout $((SECS + 20)) ip netns exec "$NS" "$@" > "$out" || die "$path: traffic failed: $*"
  read -r t1 c1 < <(prog_stats "$TG_ID")
  read -r u1 d1 < <(prog_stats "$TRIV_ID")
  [ "$c1" -gt "$c0" ] || die "$path: tg_tc_ingress ran 0 times (bpf_stats off?)"
  case $1 in wrk) reqs=$(reqs_of "$out"); [ "$(errors_of "$out")" = 0 ] || die "$path: wrk errors" ;; esac
  printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$conf" "$path" "$n" $((c1 - c0)) \
    "$(awk -v a=$((t1 - t0)) -v b=$((c1 - c0)) 'BEGIN { printf "%.1f", a / b }')" \
    "$(awk -v a=$((u1 - u0)) -v b=$((d1 - d0)) 'BEGIN { printf "%.1f", a / b }')" "$reqs" >> "$ROWS"
  log "  $conf / $path / $n clients: $(tail -n1 "$ROWS" | cut -f4-7 | tr '\t' ' ') (packets, ns, trivial ns, requests)"
}
WRK=(wrk -t1 -c8 "-d${SECS}s" --timeout 2s)

KEYQ="{ \"default\": { \"requests_per_sec\": 1000000, \"burst\": 1000000 },
  \"clients\": [ { \"name\": \"bench\", \"api_key\": \"$KEY\", \"requests_per_sec\": 1000000, \"burst\": 1000000 } ] }"
# Sizes outermost: the table only grows.
for n in "${SIZES[@]}"; do
  start_config telemetry monitor '{}'
  populate_to "$n"
  measure telemetry "pass-through" "$n" "${WRK[@]}" "http://$H4:$OTHER/"
  measure telemetry "plain segment" "$n" python3 "$BENCH/livetraffic.py" upload $H4 $GW --seconds "$SECS"
  measure telemetry "SYN" "$n" python3 "$BENCH/livetraffic.py" syn $H4 $CLOSED --seconds "$SECS" --src $SYN_SRC
  measure telemetry "request start" "$n" "${WRK[@]}" "http://$H4:$GW/"
  start_config enforce enforce '{ "default": { "requests_per_sec": 1000000, "burst": 1000000 } }'
  measure enforce "plain segment" "$n" python3 "$BENCH/livetraffic.py" upload $H4 $GW --seconds "$SECS"
  measure enforce "request start, address bucket" "$n" "${WRK[@]}" "http://$H4:$GW/"
  start_config key enforce "$KEYQ"
  measure key "request start, API key at byte 100" "$n" "${WRK[@]}" -s "$WORK/key100.lua" "http://$H4:$GW/"
  measure key "request start, API key at byte 900" "$n" "${WRK[@]}" -s "$WORK/key900.lua" "http://$H4:$GW/"
  # Checked on the smallest table, while the API answers promptly
  if [ "$n" = "${SIZES[0]}" ]; then
    denied=$(api /v1/keys | jq '[.keys[].state.denied // 0] | add // 0')
    [ "$denied" = 0 ] || die "the enforce configurations denied $denied requests"
    keyreqs=$(api /v1/keys | jq '[.keys[] | select(.name == "bench") | .state.allowed] | add // 0')
    [ "$keyreqs" -gt 0 ] || die "the key's bucket counted no request (the key was not found in the requests)"
    log "the key's entry counted $keyreqs requests"
  fi
done
stop_agent TERM

[ "$FAIL" = 0 ] || die "checks failed; section not written"
python3 "$BENCH/livecost_report.py" "$ROWS" "$OUT" "${RAW:-}" \
  --seconds "$SECS" --keyreqs "$keyreqs" --nginx "$(nginx -v 2>&1 | sed 's|.*/||')" \
  --wrk "${WRK[*]}" --stats-before "$STATS_BEFORE" --pktcost "$BUILD/pktcost.json"
log "wrote $OUT"
