#!/usr/bin/env bash
# The cost of the TLS uprobes (gateway.tls): nginx terminating TLS
# (worker_processes 1, `return 200`, self-signed certificate) inside a
# child cgroup; wrk -t1 over loopback, kept-alive connections (-c16) and
# a new connection per request (Connection: close, -c4). Alternating
# rounds of the agent without gateway.tls (the baseline: the same TC
# program) and with it, by cgroup and by pids (nginx's master and
# worker). Median requests/s and p99 of each, the ratio against the
# baseline, and each probe's cost from kernel.bpf_stats_enabled (ns per
# call, over the last run with probes). Note: wrk links libssl too; with
# the cgroup the probes sit on the library for every process, so wrk
# takes the uprobe trap on each of its SSL calls (the program returns at
# once for it); with pids only nginx's processes carry the breakpoints.
#
#   sudo ./bench/tls_cost.sh SECTION.md [RAW.json]
#   TLS_ROUNDS=2 TLS_SECONDS=4
#
# Port 18135, API port 19535. Removes nginx, the cgroup and the agent on
# exit (tests/lib/e2e.sh's EXIT trap).
set -euo pipefail
BENCH_NAME=tls_cost.sh
source "$(dirname "$0")/common.sh" "$@"
E2E_TAG=${E2E_TAG:-tgbtls$$}
PORT=18135
ROUNDS=${TLS_ROUNDS:-2}
D=${TLS_SECONDS:-4}
# shellcheck disable=SC1091
source "$ROOT/tests/lib/e2e.sh"
require_root
for c in nginx wrk jq openssl bpftool; do
  command -v "$c" >/dev/null || die "$c is needed"
done
openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj /CN=localhost \
  -keyout "$WORK/key.pem" -out "$WORK/cert.pem" 2>/dev/null
make_cgroup "tg-tlsbench-$$"
{
  nginx_head 4096
  cat <<NGX
  access_log off;
  keepalive_requests 1000000;
  server {
    listen 127.0.0.1:$PORT ssl;
    ssl_certificate $WORK/cert.pem;
    ssl_certificate_key $WORK/key.pem;
    location / { return 200 "ok\n"; }
  }
}
NGX
} > "$WORK/nginx.conf"
nginx_in_cgroup "$WORK/nginx.conf" $PORT
read -r -a NGX_PIDS < <(tr '\n' ' ' < "$CG/cgroup.procs")
PIDS_JSON=$(printf '%s\n' "${NGX_PIDS[@]}" | jq -s -c .)

config() { # config none|cgroup|pids
  local tls=null
  case $1 in
    cgroup) tls="{\"cgroup\": \"$CG\"}" ;;
    pids) tls="{\"pids\": $PIDS_JSON}" ;;
  esac
  cat > "$WORK/agent-$1.json" <<JSON
{ "instance": "$E2E_TAG", "gateway": { "interfaces": ["lo"], "ports": [$PORT], "tls": $tls },
  "quotas": { "clients": [ { "name": "k", "api_key": "sk-bench" } ] },
  "api": { "listen": "127.0.0.1:19535" }, "state_dir": "$WORK/state" }
JSON
}
defer "rm -rf /sys/fs/bpf/tollgate/$E2E_TAG"
defer "sysctl -qw kernel.bpf_stats_enabled=0"

# wrk_run ka|new: "req/s p99_ms"
wrk_run() {
  local out
  if [ "$1" = ka ]; then
    out=$(wrk -t1 -c16 -d"${D}s" --latency -H 'Authorization: Bearer sk-bench' \
      "https://127.0.0.1:$PORT/v1/chat/completions")
  else
    out=$(wrk -t1 -c4 -d"${D}s" --latency -H 'Connection: close' \
      -H 'Authorization: Bearer sk-bench' "https://127.0.0.1:$PORT/v1/chat/completions")
  fi
  echo "$out" >> "$WORK/wrk.txt"
  local rps p99
  rps=$(awk '/^Requests\/sec:/ { print $2 }' <<< "$out")
  p99=$(awk '$1 == "99%" { v = $2; if (v ~ /us$/) { sub(/us/, "", v); v /= 1000 }
    else if (v ~ /ms$/) { sub(/ms/, "", v) } else if (v ~ /s$/) { sub(/s/, "", v); v *= 1000 }
    print v }' <<< "$out")
  echo "$rps $p99"
}

RES=$WORK/results.txt
: > "$RES"
sysctl -qw kernel.bpf_stats_enabled=1
for r in $(seq "$ROUNDS"); do
  for cfg in none cgroup pids; do
    config "$cfg"
    start_agent "$WORK/agent-$cfg.json" 20
    for mode in ka new; do
      echo "$cfg $mode $(wrk_run $mode)" >> "$RES"
    done
    if [ "$cfg" != none ]; then
      bpftool -j prog show | jq -r '.[] | select(.name | startswith("tg_ssl") or . == "tg_tls_recvmsg")
        | "\(.name) \(.run_time_ns // 0) \(.run_cnt // 0)"' > "$WORK/stats-$cfg.txt"
    fi
    stop_agent TERM
  done
done
cat "$RES"

med() { sort -n | awk '{ a[NR] = $1 } END { print (NR % 2) ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2 }'; }
val() { awk -v c="$1" -v m="$2" -v f="$3" '$1 == c && $2 == m { print $f }' "$RES" | med; }
{
  echo "<!-- tls:begin -->"
  echo "## TLS uprobes: nginx TLS with and without them"
  echo
  echo "bench/tls_cost.sh, $(date -u +%F), Debian 12, 2 vCPU, kernel $(uname -r | cut -d- -f1)"
  echo "(shared machine, load $(cut -d' ' -f1 /proc/loadavg) at the end), $ROUNDS alternating"
  echo "rounds of ${D} s per run. nginx 1 worker, TLS 1.3, \`return 200\`; wrk -t1"
  echo "over loopback: kept alive -c16, new connection per request -c4. Baseline: the"
  echo "agent without gateway.tls (the same TC program). Medians."
  echo
  echo "| config | kept-alive req/s | ratio | p99 ms | new-conn req/s | ratio | p99 ms |"
  echo "|---|---|---|---|---|---|---|"
  bka=$(val none ka 3) bnew=$(val none new 3)
  for cfg in none cgroup pids; do
    ka=$(val $cfg ka 3) nw=$(val $cfg new 3)
    printf '| %s | %.0f | %.3f | %s | %.0f | %.3f | %s |\n' "$cfg" "$ka" \
      "$(echo "$ka / $bka" | bc -l)" "$(val $cfg ka 4)" "$nw" "$(echo "$nw / $bnew" | bc -l)" \
      "$(val $cfg new 4)"
  done
  echo
  echo "Per call, kernel.bpf_stats_enabled (run_time_ns / run_cnt over the last round's"
  echo "two runs of each config; the uprobe trap itself is not in these figures):"
  echo
  echo "| program | cgroup: ns/call (calls) | pids: ns/call (calls) |"
  echo "|---|---|---|"
  for p in tg_ssl_read tg_ssl_read_ret tg_ssl_read_ex tg_ssl_read_ex_ret tg_ssl_write_ret \
    tg_ssl_write_ex tg_ssl_write_ex_ret tg_tls_recvmsg; do
    c=$(awk -v p=$p '$1 == p { printf "%.0f (%d)", ($3 ? $2 / $3 : 0), $3 }' "$WORK/stats-cgroup.txt")
    q=$(awk -v p=$p '$1 == p { printf "%.0f (%d)", ($3 ? $2 / $3 : 0), $3 }' "$WORK/stats-pids.txt")
    echo "| $p | ${c:--} | ${q:--} |"
  done
  echo "<!-- tls:end -->"
} > "$OUT"
[ -z "$RAW" ] || cp "$RES" "$RAW"
cat "$OUT"
