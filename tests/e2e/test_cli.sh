#!/usr/bin/env bash
# The command line and the agent's life cycle: check-config, exit codes and
# messages, the embedded default config on lo with `tollgate status`,
# SIGHUP reload (ports changed in place, counters kept, bad config
# rejected), coexistence with another TC filter, SIGINT.
source "$(dirname "$0")/../lib/e2e.sh"
require_root

# --- check-config -----------------------------------------------------------
rc=0; "$TOLLGATE" check-config "$(dirname "$0")/../../config/default.json" >/dev/null || rc=$?
check "check-config on the default config exits 0" 0 "$rc"
rc=0; TOLLGATE_KEY_TEAM_A=sk-example "$TOLLGATE" check-config "$(dirname "$0")/../../config/example-quotas.json" > "$WORK/eff.json" || rc=$?
check "the example quota config is valid" 0 "$rc"
grep -q sk-example "$WORK/eff.json" && fail "check-config printed a key from the environment" || ok "keys from the environment are not printed"
check "inline keys are redacted" 1 "$(grep -c '"<redacted>"' "$WORK/eff.json")"
# a fleet-wide byte limit is a feature that has not landed
printf '{"gateway":{"ports":[8080,"x"]},"mode":"fast","cluster":{"redis":"redis://127.0.0.1:6379"},"quotas":{"clients":[{"name":"g","api_key":"sk-x","global":true,"requests_per_sec":5,"bytes_per_sec":1000}]}}' > "$WORK/bad.json"
rc=0; "$TOLLGATE" check-config "$WORK/bad.json" 2> "$WORK/err.txt" || rc=$?
check "check-config on a bad config exits 2" 2 "$rc"
grep -qx "$WORK/bad.json: \$.gateway.ports\[1\]: must be an integer in 1..65535" "$WORK/err.txt" \
  && ok "error names the JSON path" || { cat "$WORK/err.txt"; fail "path error line"; }
grep -q "^$WORK/bad.json: \$.quotas.clients\[0\].global: not supported yet with bytes_per_sec" "$WORK/err.txt" \
  && ok "a key whose feature has not landed is rejected" || fail "not supported yet line"
printf '{"gateway": [' > "$WORK/broken.json"
rc=0; "$TOLLGATE" check-config "$WORK/broken.json" 2> "$WORK/err.txt" || rc=$?
check "malformed JSON exits 2" 2 "$rc"
grep -q '^.*broken.json: \$: ' "$WORK/err.txt" && ok "malformed JSON reported at \$" || fail "malformed JSON message"
rc=0; "$TOLLGATE" run --config "$WORK/bad.json" 2>/dev/null || rc=$?
check "run with a bad config exits 2" 2 "$rc"
rc=0; "$TOLLGATE" frobnicate 2>/dev/null || rc=$?
check "unknown command exits 2" 2 "$rc"
"$TOLLGATE" --version | grep -Eq '^tollgate [0-9]+\.[0-9]+\.[0-9]+$' && ok "--version" || fail "--version"
"$TOLLGATE" --version | grep -qx "pin layout v$TG_LAYOUT" && ok "--version names the pin layout" || fail "--version layout"

# --- runtime failures say what to do -----------------------------------------
cat > "$WORK/noif.json" <<JSON
{ "instance": "${E2E_TAG}x", "gateway": { "interfaces": ["${E2E_TAG}none"] }, "api": { "listen": "127.0.0.1:19472" } }
JSON
rc=0; "$TOLLGATE" run --config "$WORK/noif.json" 2> "$WORK/err.txt" || rc=$?
check "missing interface exits 1" 1 "$rc"
grep -q "interface ${E2E_TAG}none not found: fix gateway.interfaces" "$WORK/err.txt" \
  && ok "missing interface message says what to do" || { cat "$WORK/err.txt"; fail "missing interface message"; }
check "no pins left after a failed start" absent "$([ -e "/sys/fs/bpf/tollgate/${E2E_TAG}x" ] && echo present || echo absent)"
if command -v setpriv >/dev/null; then
  chmod 755 "$WORK"; chmod 644 "$WORK/noif.json"
  rc=0; setpriv --reuid=65534 --regid=65534 --clear-groups "$TOLLGATE" run --config "$WORK/noif.json" 2> "$WORK/err.txt" || rc=$?
  check "not root exits 1" 1 "$rc"
  grep -q "must run as root" "$WORK/err.txt" && ok "not-root message" || { cat "$WORK/err.txt"; fail "not-root message"; }
fi

# --- the embedded default on lo, read with tollgate status --------------------
start_nginx 8080 8081
"$TOLLGATE" run > "$WORK/default.log" 2>&1 &
AGENT_PID=$!
defer "kill $AGENT_PID; wait $AGENT_PID"
API=127.0.0.1:9470
for _ in $(seq 100); do curl -fsS "http://$API/healthz" >/dev/null 2>&1 && break; sleep 0.1; done
for i in $(seq 6); do curl -fsS -o /dev/null "http://127.0.0.1:8080/default/$i"; done
check "default config counts lo traffic to 127.0.0.1:8080" 6 "$(wait_field 127.0.0.1 requests 6)"
"$TOLLGATE" status > "$WORK/status.txt"
grep -Eq '^127\.0\.0\.1 +6 ' "$WORK/status.txt" && ok "tollgate status (default config) shows 127.0.0.1" \
  || { cat "$WORK/status.txt"; fail "tollgate status table"; }
"$TOLLGATE" status --json | jq -e '.clients[] | select(.address=="127.0.0.1") | .requests == 6' >/dev/null \
  && ok "tollgate status --json" || fail "status --json"
stop_agent INT
check "SIGINT exits 0" 0 "$AGENT_RC"
grep -q 'msg=stopped' "$WORK/default.log" && ok "shutdown logged" || fail "no shutdown line"
check "no filter left on lo" "" "$(tc filter show dev lo ingress | grep -i 0x7467 || true)"

# --- reload ------------------------------------------------------------------
make_client "${E2E_TAG}a" "${E2E_TAG}h1" "${E2E_TAG}c1" 198.18.0.1 198.18.0.2
# Another tool's filter on the same hook, installed before us: it must
# survive our start and stop, and so must its qdisc.
# tc's bpf loader makes its own directories in bpffs: remove those it made here
for d in tc ip xdp; do
  [ -e "/sys/fs/bpf/$d" ] || defer "rmdir /sys/fs/bpf/$d/globals; [ -L /sys/fs/bpf/$d ] && rm -f /sys/fs/bpf/$d; rmdir /sys/fs/bpf/$d"
done
tc qdisc add dev "${E2E_TAG}h1" clsact
tc filter add dev "${E2E_TAG}h1" ingress prio 1 bpf da obj "$(dirname "$TOLLGATE")/gen/trivial.bpf.o" sec tc
write_cfg() {
  cat > "$WORK/reload.json" <<JSON
{ "instance": "$E2E_TAG", "gateway": { "interfaces": ["${E2E_TAG}h1"], "ports": [$1], "max_clients": $2 },
  "api": { "listen": "127.0.0.1:19473" } }
JSON
}
write_cfg 8080 4096
start_agent "$WORK/reload.json"
for i in 1 2 3; do ip netns exec "${E2E_TAG}a" curl -fsS -o /dev/null "http://198.18.0.1:8080/r/$i"; done
ip netns exec "${E2E_TAG}a" curl -fsS -o /dev/null "http://198.18.0.1:8081/not-a-gateway-port"
check "port 8081 not counted before the reload" 3 "$(wait_field 198.18.0.2 requests 3)"
gen() { api /healthz | jq .generation; }
wait_gen_above() { # wait_gen_above N: until the generation exceeds N (5 s)
  for _ in $(seq 50); do [ "$(gen)" -gt "$1" ] && return 0; sleep 0.1; done
  return 1
}
# A change to the file reloads it by itself (no signal).
g0=$(gen)
write_cfg "8080, 8081" 4096
wait_gen_above "$g0" && ok "a changed config file is reloaded without a signal" || fail "file change not reloaded"
ip netns exec "${E2E_TAG}a" curl -fsS -o /dev/null "http://198.18.0.1:8081/now-counted"
check "port 8081 counted after the reload, earlier counts kept" 4 "$(wait_field 198.18.0.2 requests 4)"
sleep 0.5 # let the watcher settle
g1=$(gen)
kill -HUP "$AGENT_PID"
wait_gen_above "$g1" && ok "SIGHUP reloads" || fail "SIGHUP did not reload"
g2=$(gen)
printf '{"gateway": {"ports": [0]}}' > "$WORK/reload.json"
kill -HUP "$AGENT_PID"
sleep 1
check "a bad config on reload keeps the old one" "$g2" "$(gen)"
grep -q 'reload rejected' "$AGENT_LOG" && ok "bad reload logged" || fail "bad reload not logged"
write_cfg "8080, 8081" 8192
kill -HUP "$AGENT_PID"
sleep 0.5
grep -q 'keys=gateway.max_clients\|keys="gateway.max_clients"' "$AGENT_LOG" && ok "restart-only key change is reported" \
  || { grep reload "$AGENT_LOG"; fail "restart-only key not reported"; }
ip netns exec "${E2E_TAG}a" curl -fsS -o /dev/null "http://198.18.0.1:8080/after"
check "counting goes on after reloads" 5 "$(wait_field 198.18.0.2 requests 5)"
stop_agent TERM
check "SIGTERM exits 0" 0 "$AGENT_RC"
check "the other tool's filter survives" 1 "$(tc filter show dev "${E2E_TAG}h1" ingress | grep -c trivial_tc)"
check "our filter is gone" 0 "$(tc filter show dev "${E2E_TAG}h1" ingress | grep -c 'tg_tc_ingress' || true)"
check "the qdisc we did not create stays" 1 "$(tc qdisc show dev "${E2E_TAG}h1" | grep -c clsact)"
