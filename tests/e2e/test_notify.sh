#!/usr/bin/env bash
# Service manager notifications (systemd Type=notify) without systemd: a
# datagram listener on NOTIFY_SOCKET records what the agent sends. READY=1
# must come once the API answers (the listener connects to it the moment
# READY=1 arrives), RELOADING=1 then READY=1 around a SIGHUP, STOPPING=1 on
# SIGTERM, and the agent must still exit 0.
source "$(dirname "$0")/../lib/e2e.sh"
require_root

API_ADDR=127.0.0.1:19489
SOCK=$WORK/notify.sock
NLOG=$WORK/notify.jsonl

python3 - "$SOCK" "$NLOG" "${API_ADDR%:*}" "${API_ADDR#*:}" <<'PY' &
import json, socket, sys, time
path, log, host, port = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(path)
with open(log, "a", buffering=1) as out:
    while True:
        msg = s.recv(4096).decode("utf-8", "replace")
        rec = {"t": time.time(), "fields": dict(l.split("=", 1) for l in msg.split("\n") if "=" in l)}
        if rec["fields"].get("READY") == "1":
            # Is the API already listening when the agent says it is ready?
            try:
                socket.create_connection((host, port), timeout=1).close()
                rec["api_up"] = True
            except OSError:
                rec["api_up"] = False
        out.write(json.dumps(rec) + "\n")
PY
LISTENER=$!
defer "kill $LISTENER"
for _ in $(seq 50); do [ -S "$SOCK" ] && break; sleep 0.1; done
[ -S "$SOCK" ] || die "the notify listener did not bind $SOCK"
touch "$NLOG"

cat > "$WORK/agent.json" <<JSON
{
  "instance": "${E2E_TAG}n",
  "gateway": { "interfaces": ["lo"] },
  "state_dir": "$WORK/state",
  "api": { "listen": "$API_ADDR" }
}
JSON

# notes JQ: the listener's records as one array, filtered
notes() { jq -s "$1" "$NLOG"; }
# wait_notes JQ SECONDS: until JQ (on the array) is true
wait_notes() {
  local end=$((SECONDS + $2))
  while [ $SECONDS -lt $end ]; do
    [ "$(notes "$1")" = true ] && return 0
    sleep 0.1
  done
  return 1
}

export NOTIFY_SOCKET=$SOCK
start_agent "$WORK/agent.json"
unset NOTIFY_SOCKET

if wait_notes '[.[] | select(.fields.READY == "1")] | length >= 1' 10; then
  ok "READY=1 arrives"
else
  fail "no READY=1 (notifications: $(jq -sc . "$NLOG"))"
fi
check "the API answers when READY=1 arrives" true "$(notes '[.[] | select(.fields.READY == "1")][0].api_up')"
check "READY=1 comes once at start" 1 "$(notes '[.[] | select(.fields.READY == "1")] | length')"

kill -HUP "$AGENT_PID"
if wait_notes '[.[] | select(.fields.READY == "1")] | length >= 2' 10; then
  ok "READY=1 again after a reload"
else
  fail "no READY=1 after SIGHUP (notifications: $(jq -sc . "$NLOG"))"
fi
check "RELOADING=1 precedes it" true \
  "$(notes '(map(.fields.RELOADING == "1") | index(true)) as $r | ([.[] | .fields.READY == "1"] | indices(true) | .[1]) as $k | $r != null and $r < $k')"
check "RELOADING=1 carries MONOTONIC_USEC" true \
  "$(notes '[.[] | select(.fields.RELOADING == "1") | .fields.MONOTONIC_USEC | test("^[0-9]+$")] | all')"

stop_agent TERM
check "the agent exits 0" 0 "$AGENT_RC"
if wait_notes '[.[] | select(.fields.STOPPING == "1")] | length == 1' 5; then
  ok "STOPPING=1 on SIGTERM"
else
  fail "no STOPPING=1 (notifications: $(jq -sc . "$NLOG"))"
fi
check "STOPPING=1 is the last state" true \
  "$(notes '[.[] | select(.fields.READY or .fields.RELOADING or .fields.STOPPING)] | last | .fields.STOPPING == "1"')"
