#!/usr/bin/env bash
# /metrics as Prometheus reads it: every family the agent can show (a key
# quota, a CIDR entry, a global quota in fleet fallback, a webhook that
# cannot be reached, clients with responses) passes `promtool check
# metrics` (the exposition format and its lint), and each family has one
# HELP and one TYPE line.
source "$(dirname "$0")/../lib/e2e.sh"
require_root
command -v promtool >/dev/null || die "promtool missing (scripts/install-deps.sh test installs prometheus)"

PORT=18089
start_nginx $PORT
cat > "$WORK/agent.json" <<JSON
{
  "instance": "$E2E_TAG",
  "gateway": { "interfaces": ["lo"], "ports": [$PORT] },
  "quotas": { "default": { "requests_per_sec": 1000, "burst": 1000 },
    "clients": [
      { "name": "k1", "api_key": "sk-metrics-$$", "requests_per_sec": 5, "burst": 5, "global": true },
      { "name": "net", "cidr": "198.18.0.0/15", "requests_per_sec": 5 } ] },
  "webhooks": [ { "name": "unreachable", "url": "http://127.0.0.1:1/hook", "format": "generic" } ],
  "api": { "listen": "127.0.0.1:19497" },
  "state_dir": "$WORK/state",
  "cluster": { "redis": "redis://127.0.0.1:1", "expected_nodes": 2 }
}
JSON
defer "rm -rf /sys/fs/bpf/tollgate/$E2E_TAG"
start_agent "$WORK/agent.json"
for _ in 1 2 3; do
  curl -s -o /dev/null -H "Authorization: Bearer sk-metrics-$$" "http://127.0.0.1:$PORT/"
done
check "requests counted" 3 "$(wait_field 127.0.0.1 requests 3)"
api /metrics > "$WORK/metrics.txt"
out=$(promtool check metrics < "$WORK/metrics.txt" 2>&1) && rc=0 || rc=$?
check "promtool check metrics passes" 0 "$rc"
[ -z "$out" ] && ok "and reports no lint problem" || fail "promtool: $out"
dup=$(awk '$1 == "#" { print $2, $3 }' "$WORK/metrics.txt" | sort | uniq -d)
[ -z "$dup" ] && ok "one HELP and one TYPE per family" || fail "repeated: $dup"
families=$(awk '$1 == "#" && $2 == "TYPE" { print $3 }' "$WORK/metrics.txt" | sort -u | wc -l)
helps=$(awk '$1 == "#" && $2 == "HELP" { print $3 }' "$WORK/metrics.txt" | sort -u | wc -l)
check "every family has its HELP" "$families" "$helps"
for f in tollgate_requests_total tollgate_key_requests_allowed_total tollgate_webhook_queue_depth \
  tollgate_cluster_state tollgate_checks_total tollgate_client_requests_total tollgate_anomalies_total; do
  grep -q "^# TYPE $f " "$WORK/metrics.txt" && ok "$f is there" || fail "$f missing"
done
# k1 is global with Redis out of reach: its local share, burst 5 / 2 nodes
# = 2, admits two of the three (monitor mode: the third would be denied)
for m in "allowed 2" "would_deny 1"; do
  grep -q '^tollgate_key_requests_'"${m% *}"'_total{instance="'"$E2E_TAG"'",key="k1"} '"${m#* }"'$' \
    "$WORK/metrics.txt" && ok "k1 $m" || fail "k1 $m: $(grep "key_requests_${m% *}" "$WORK/metrics.txt")"
done
