#!/usr/bin/env bash
# Quota integrity on the wire, with the real agent in enforce mode and a
# real nginx:
#  1. a client over its quota (10 req/s, burst 10) offers 50 req/s for 5 s
#     and gives up on each request after 0.4 s: its kernel retransmits the
#     dropped starts for up to ~100 s after it closed (orphan sockets);
#     once abandoned they are never admitted, so at most 5 reach nginx in
#     the 20 s after the load (today's main: ~100);
#  2. a blind spoofer in another namespace sends 300 request starts with
#     the victim's address: the victim's bucket is not charged, and its own
#     burst of 10 passes whole.
source "$(dirname "$0")/../lib/e2e.sh"
require_root
HERE=$(cd "$(dirname "$0")" && pwd)
LOADGEN="python3 $TESTLIB/loadgen.py"
RAW="python3 $HERE/rawclient.py"

PORT=18103
make_client "${E2E_TAG}a" "${E2E_TAG}h1" "${E2E_TAG}c1" 198.18.103.1 198.18.103.2
make_client "${E2E_TAG}b" "${E2E_TAG}h2" "${E2E_TAG}c2" 198.18.104.1 198.18.104.2
start_nginx $PORT
cat > "$WORK/agent.json" <<JSON
{
  "instance": "$E2E_TAG",
  "gateway": { "interfaces": ["${E2E_TAG}h1", "${E2E_TAG}h2"], "ports": [$PORT] },
  "mode": "enforce",
  "quotas": { "default": { "requests_per_sec": 10, "burst": 10 } },
  "api": { "listen": "127.0.0.1:19503" }
}
JSON
defer "rm -rf /sys/fs/bpf/tollgate/$E2E_TAG"
start_agent "$WORK/agent.json"
# the first sample of a family (awk reads all of it: an early exit would
# leave curl writing into a closed pipe, a failure under pipefail)
metric() { api /metrics | awk -v m="$1" '$1 ~ m && !n++ { print $2 }'; }
# arrivals of a client at nginx after a time (msec in its access log)
arrived_after() {
  awk -v a="$1" -v t="$2" '$2 == a && $1 > t { n++ } END { print n + 0 }' "$NGINX_LOG"
}

# --- 1. abandoned requests ------------------------------------------------------
t0=$(date +%s.%N)
ip netns exec "${E2E_TAG}a" $LOADGEN --url "http://198.18.103.1:$PORT/abandon" --rate 50 \
  --duration 5 --new-conn-per-request --timeout 0.4 --graceful-close --json > "$WORK/lg.json"
# the last request was given up at t0 + 5 + 0.4 s: anything later is late
t_end=$(echo "$t0 + 5.4" | bc)
log "load: $(jq -c '{offered, ok, timeouts}' "$WORK/lg.json")"
sleep 20
late=$(arrived_after 198.18.103.2 "$t_end")
log "late arrivals in the 20 s after the load: $late"
[ "$late" -le 5 ] && ok "abandoned requests do not reach the gateway ($late late, at most 5)" \
  || fail "$late abandoned requests reached nginx after the load"
ab=$(metric '^tollgate_requests_abandoned_total')
[ "${ab%.*}" -ge 50 ] && ok "abandoned requests are counted ($ab)" || fail "abandoned: $ab"
ka=$(api /v1/keys/default | jq .state.abandoned)
check "counted for the key too" "${ab%.*}" "$ka"
# what the load got through is still the quota's: 10 a second and the burst
got=$(jq .ok "$WORK/lg.json")
[ "$got" -le $((10 * 6 + 10)) ] && ok "the load itself stayed within the quota ($got)" \
  || fail "the load got $got through"

# --- 2. spoofed request starts ------------------------------------------------------
sleep 2 # the victim's bucket is full again
before=$(metric '^tollgate_requests_unverified_total')
ip netns exec "${E2E_TAG}b" $RAW spoof 198.18.103.2 198.18.104.1 $PORT 300 >/dev/null
for _ in $(seq 50); do # the next scan reads the kernel's count (scan_interval_ms)
  after=$(metric '^tollgate_requests_unverified_total')
  [ "$(( ${after%.*} - ${before%.*} ))" -ge 300 ] && break
  sleep 0.1
done
[ "$(( ${after%.*} - ${before%.*} ))" -ge 300 ] \
  && ok "the spoofed starts are seen, unverified ($(( ${after%.*} - ${before%.*} )))" \
  || fail "unverified went $before -> $after"
codes=$(for _ in $(seq 10); do
  ip netns exec "${E2E_TAG}a" curl -s -o /dev/null -w '%{http_code}\n' --max-time 1 \
    "http://198.18.103.1:$PORT/victim" &
done; wait)
check "the victim's burst of 10 passes whole after 300 spoofed starts" 10 "$(echo "$codes" | grep -c '^200$')"
