#!/usr/bin/env bash
# A local attacker against the agent, end to end, as root. Each attack is
# performed for real and must fail:
#  1. the agent's user (`user`, here nobody) was compromised during a run
#     and prepared the state tree for the next start as root: the
#     dead-letter file made a symlink to a file of root's (think
#     /etc/ld.so.preload) with a junk spool entry whose text would be
#     appended to it; the dead-letter directory swapped for a symlink to a
#     directory of root's; a symlink and a hard link to files of root's
#     inside the tree that giving the tree to the user would chown. The
#     targets stay byte for byte (and owner) as they were;
#  2. `tollgate detach` on a pin directory with a symlink planted in it and
#     a directory swapped for one: only the pins go;
#  3. a format plugin in a directory anyone may write: check-config and run
#     exit 2 naming it, and its code (a constructor that leaves a file)
#     never runs;
#  4. /v1/clients?limit=100000 with thousands of clients: at most 1000 are
#     listed, in a bounded answer;
#  5. a hostile Redis (fleet mode) answering a 1 GB bulk string streamed
#     without end, an array of 2^31-1 elements and a tree of hundreds of
#     small arrays: each connection is dropped into the fallback, the
#     agent's memory stays flat and its API answers;
#  6. a webhook receiver whose TLS certificate the agent cannot verify (a
#     man in the middle, say): the event is not sent to it.
source "$(dirname "$0")/../lib/e2e.sh"
require_root
TGFLOOD=${TGFLOOD:?path to the tgflood binary}
MARKER_PLUGIN=${TG_MARKER_PLUGIN:?path to the marker plugin (tests/unit/plugin_marker.c)}
E=$E2E_TAG
USER_NAME=nobody
UID_N=$(id -u $USER_NAME)
GID_N=$(id -g $USER_NAME)
PORT=18150
API_PORT=19550
HOOK_PORT=19551 # nothing listens: events stay spooled
PIN=/sys/fs/bpf/tollgate/$E
defer "rm -rf $PIN; rmdir /sys/fs/bpf/tollgate"
make_client "${E}a" "${E}h" "${E}c" 198.18.150.1 198.18.150.2
filter_on() { tc filter show dev "${E}h" ingress | grep -q 'tg_tc_ingress'; }
as_user() { setpriv --reuid="$UID_N" --regid="$GID_N" --clear-groups -- bash -c "$1"; }

chmod 755 "$WORK" # the user searches it, as a state_dir's parent
STATE=$WORK/state
write_cfg() { # write_cfg USER(json) [EXTRA WEBHOOK JSON]
  cat > "$WORK/agent.json" <<JSON
{
  "instance": "$E",
  "gateway": { "interfaces": ["${E}h"], "ports": [$PORT] },
  "webhooks": [ { "name": "w", "url": "http://127.0.0.1:$HOOK_PORT/hook", "format": "generic",
                  "timeout_ms": 200 }${2:-} ],
  "api": { "listen": "127.0.0.1:$API_PORT" },
  "state_dir": "$STATE",
  "user": $1
}
JSON
  chmod 644 "$WORK/agent.json"
}
# run_refused WHAT MESSAGE: a start that must fail with exit 1, MESSAGE in
# its log, and nothing left attached
run_refused() {
  local rc=0
  "$TOLLGATE" run --config "$WORK/agent.json" > "$WORK/run.log" 2>&1 || rc=$?
  check "$1: the start is refused (exit 1)" 1 "$rc"
  grep -qF -- "$2" "$WORK/run.log" && ok "$1: the log says why" \
    || { cat "$WORK/run.log"; fail "$1: no '$2' in the log"; }
  filter_on && fail "$1: a filter is left" || ok "$1: nothing left attached"
}
# The files of root's the attacks aim at, and copies to compare with.
ROOTDIR=$WORK/root
mkdir -m 0755 "$ROOTDIR"
printf '/usr/lib/preloaded.so\n' > "$ROOTDIR/ld.so.preload"
printf 'root data\n' > "$ROOTDIR/w.jsonl"
printf 'hard-linked\n' > "$ROOTDIR/hl"
chmod 644 "$ROOTDIR"/*
cp -a "$ROOTDIR" "$WORK/root.orig"
unchanged() { # unchanged WHAT FILE: same bytes, same owner as the copy
  if cmp -s "$ROOTDIR/$2" "$WORK/root.orig/$2" &&
     [ "$(stat -c %u:%g "$ROOTDIR/$2")" = 0:0 ]; then
    ok "$1: $2 is byte for byte as it was, root's"
  else
    fail "$1: $2 changed: $(stat -c %U "$ROOTDIR/$2") $(head -c 200 "$ROOTDIR/$2" | tr '\n' '|')"
  fi
}

# --- 1. the state tree a compromised user prepared ----------------------------
write_cfg "\"$USER_NAME\""
start_agent "$WORK/agent.json"
stop_agent TERM
check "a first run as the user" "$USER_NAME $USER_NAME" \
  "$(stat -c %U "$STATE/$E/deadletter") $(stat -c %U "$STATE/$E/spool/w")"

# 1a. deadletter/w.jsonl -> a file of root's, and a junk "spool entry"
JUNK=00000000000000000001-1-evt.ev
as_user "ln -s '$ROOTDIR/ld.so.preload' '$STATE/$E/deadletter/w.jsonl' &&
         printf '%s\n' /tmp/evil.so > '$STATE/$E/spool/w/$JUNK'"
run_refused "dead-letter symlink" "$STATE/$E/deadletter/w.jsonl: a symbolic link: refused"
unchanged "dead-letter symlink" ld.so.preload
[ -e "$STATE/$E/spool/w/$JUNK" ] && ok "the junk entry is left for a person to look at" \
  || fail "the junk entry was consumed"
as_user "rm '$STATE/$E/deadletter/w.jsonl'"

# 1b. the dead-letter directory swapped for a symlink to a directory of
# root's that holds a w.jsonl
as_user "mv '$STATE/$E/deadletter' '$STATE/$E/deadletter.old' &&
         ln -s '$ROOTDIR' '$STATE/$E/deadletter'"
run_refused "dead-letter directory swapped" "$STATE/$E/deadletter is a symbolic link: refused"
unchanged "dead-letter directory swapped" w.jsonl
as_user "rm '$STATE/$E/deadletter' && mv '$STATE/$E/deadletter.old' '$STATE/$E/deadletter'"

# 1c. links inside the tree to files of root's: a start as root gives the
# tree to the user (chown), and must not give those away. A hard link to a
# file of root's is what fs.protected_hardlinks=0 would let the user make;
# root makes it here.
as_user "ln -s '$ROOTDIR/ld.so.preload' '$STATE/$E/spool/w/link'"
ln "$ROOTDIR/hl" "$STATE/$E/spool/w/hard"
start_agent "$WORK/agent.json"
check "the start with links in the tree goes on" "$USER_NAME" "$(stat -c %U "$STATE/$E/spool/w")"
stop_agent TERM
check "it stops cleanly" 0 "$AGENT_RC"
unchanged "symlink in the tree" ld.so.preload
unchanged "hard link in the tree" hl
rm -f "$STATE/$E/spool/w/link" "$STATE/$E/spool/w/hard"

# --- 2. detach on a pin directory with links planted ---------------------------
# With `user` the pins are the user's: it may plant a symlink there, or swap
# the layout directory for one. detach removes what is there, nothing more.
mkdir -p "$PIN/v0"
ln -s "$ROOTDIR/ld.so.preload" "$PIN/v0/tg_clients" 2>/dev/null \
  || die "bpffs here takes no symlinks: cannot plant one"
ln -s "$ROOTDIR" "$PIN/v9"
rc=0; "$TOLLGATE" detach --config "$WORK/agent.json" > "$WORK/detach.txt" 2>&1 || rc=$?
check "detach with planted links: exit 0" 0 "$rc"
check "detach removed the pin directory" absent "$([ -e "$PIN" ] || [ -L "$PIN" ] && echo present || echo absent)"
unchanged "detach" ld.so.preload
unchanged "detach" w.jsonl
check "detach left the directory a link pointed at" present "$([ -d "$ROOTDIR" ] && echo present)"

# --- 3. a plugin in a directory anyone may write --------------------------------
# Under /run (root's, 0755): the directory below it is the only weak link.
rm -rf "$STATE" # the runs above as nobody: a fresh tree for runs without user
PLUGDIR=$(mktemp -d /run/tollgate-e2e-plugin.XXXXXX)
defer "rm -rf $PLUGDIR"
chmod 0777 "$PLUGDIR"
cp "$MARKER_PLUGIN" "$PLUGDIR/hook.so"
chmod 0755 "$PLUGDIR/hook.so"
export TG_PLUGIN_MARKER=$WORK/plugin-ran
write_cfg null ", { \"name\": \"p\", \"url\": \"http://127.0.0.1:$HOOK_PORT/p\", \"format\": \"plugin\",
                    \"plugin\": \"$PLUGDIR/hook.so\" }"
WANT="$WORK/agent.json: \$.webhooks[1].plugin: $PLUGDIR/hook.so: $PLUGDIR is writable by group or others (mode 0777)"
rc=0; "$TOLLGATE" check-config "$WORK/agent.json" > /dev/null 2> "$WORK/err.txt" || rc=$?
check "check-config with a world-writable plugin directory: exit 2" 2 "$rc"
grep -qxF -- "$WANT" "$WORK/err.txt" && ok "check-config names the plugin and the directory" \
  || { cat "$WORK/err.txt"; fail "plugin message"; }
rc=0; "$TOLLGATE" run --config "$WORK/agent.json" > /dev/null 2> "$WORK/err.txt" || rc=$?
check "run with it: exit 2" 2 "$rc"
grep -qxF -- "$WANT" "$WORK/err.txt" && ok "run names the plugin and the directory" \
  || { cat "$WORK/err.txt"; fail "run plugin message"; }
check "the plugin's code never ran" absent "$([ -e "$TG_PLUGIN_MARKER" ] && echo ran || echo absent)"
check "nothing attached" absent "$(filter_on && echo attached || echo absent)"
# The control: once only root can change the directory, the same file is
# loaded (its constructor runs, then its ABI version is refused).
chmod 0755 "$PLUGDIR"
rc=0; "$TOLLGATE" check-config "$WORK/agent.json" > /dev/null 2>&1 || rc=$?
check "control: check-config accepts a plugin only root can change" 0 "$rc"
rc=0; "$TOLLGATE" run --config "$WORK/agent.json" > "$WORK/run.log" 2>&1 || rc=$?
check "control: run loads it (and refuses its ABI): exit 1" 1 "$rc"
check "control: the plugin's code ran" ran "$([ -e "$TG_PLUGIN_MARKER" ] && echo ran || echo absent)"
unset TG_PLUGIN_MARKER

# --- 4. /v1/clients cannot be asked for everything -------------------------------
write_cfg null
start_agent "$WORK/agent.json"
prog=$(tc filter show dev "${E}h" ingress | sed -n 's/.* id \([0-9]*\) name tg_tc_ingress.*/\1/p' | head -n1)
[ -n "$prog" ] || die "no tg_tc_ingress on ${E}h"
# 3000 clients, each sending a segment every 200 ms: all active, all in
# the agent's snapshot
"$TGFLOOD" --prog-id "$prog" --port $PORT --count 3000 --v4 198.19.150.0 --passes 1000 \
  --period-ms 200 --seconds 40 > "$WORK/flood.txt" 2>&1 &
FLOOD_PID=$!
defer "kill $FLOOD_PID"
n=0
for _ in $(seq 100); do
  n=$(api "/v1/clients?limit=1000" | jq '.clients | length')
  [ "$n" -ge 1000 ] && [ "$(api "/v1/clients?limit=1" | jq .total_clients)" -ge 3000 ] && break
  sleep 0.2
done
[ "$n" -ge 1000 ] && ok "3000 flood clients active ($(api "/v1/clients?limit=1" | jq .total_clients) tracked)" \
  || fail "only $n clients listed"
curl -fsS --max-time 5 -o "$WORK/all.json" "http://$API/v1/clients?limit=100000"
check "limit=100000 lists at most 1000" "1000 1000" "$(jq '"\(.clients | length) \(.limit)"' -r "$WORK/all.json")"
size=$(stat -c %s "$WORK/all.json")
[ "$size" -lt 2000000 ] && ok "the answer is bounded ($size bytes)" || fail "the answer is $size bytes"
check "no limit: 100" 100 "$(api /v1/clients | jq '.clients | length')"
check "limit=99999999999999999999 (overflow): capped too" 1000 \
  "$(api '/v1/clients?limit=99999999999999999999' | jq '.clients | length')"
check "limit=0: 400" 400 "$(curl -s -o /dev/null -w '%{http_code}' "http://$API/v1/clients?limit=0")"
rc=0; "$TOLLGATE" status --api "$API" --limit 1001 > /dev/null 2> "$WORK/err.txt" || rc=$?
check "status --limit 1001 is a usage error" 2 "$rc"
kill -0 "$AGENT_PID" && ok "the agent is alive" || fail "the agent died"
kill "$FLOOD_PID"; wait "$FLOOD_PID" 2>/dev/null || true
stop_agent TERM
check "it stops cleanly" 0 "$AGENT_RC"

# --- 5. a hostile Redis ---------------------------------------------------------
REDIS_PORT=19552
cat > "$WORK/hostile_redis.py" <<'PY'
import socket, sys, time
port, log = int(sys.argv[1]), sys.argv[2]
tree = b"*16\r\n" + (b"*16\r\n" + b":1\r\n" * 16) * 16
srv = socket.socket()
srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
srv.bind(("127.0.0.1", port))
srv.listen(4)
n = 0
while True:
    c, _ = srv.accept()
    c.settimeout(5)
    try:
        c.recv(65536)  # the agent's first command (SCRIPT LOAD)
        mode = n % 3
        sent = 0
        if mode == 0:  # a bulk string of 1 GB, streamed until the agent hangs up
            c.sendall(b"$1000000000\r\n")
            chunk = b"x" * 65536
            end = time.time() + 10
            while sent < 1000000000 and time.time() < end:
                sent += c.send(chunk)
        elif mode == 1:
            c.sendall(b"*2147483647\r\n")
        else:
            c.sendall(tree)
        with open(log, "a") as f:
            f.write("%d %d\n" % (mode, sent))
        c.recv(1)  # until the agent closes
    except OSError:
        with open(log, "a") as f:
            f.write("%d closed\n" % (n % 3))
    c.close()
    n += 1
PY
python3 "$WORK/hostile_redis.py" $REDIS_PORT "$WORK/redis.log" > "$WORK/redis.out" 2>&1 &
defer "kill $!"
wait_port $REDIS_PORT
cat > "$WORK/fleet.json" <<JSON
{
  "instance": "$E",
  "gateway": { "interfaces": ["${E}h"], "ports": [$PORT] },
  "quotas": { "clients": [ { "name": "g", "api_key": "sk-global-0123456789", "requests_per_sec": 10,
                             "global": true } ] },
  "cluster": { "redis": "redis://127.0.0.1:$REDIS_PORT", "node_id": "n1", "sync_interval_ms": 100,
               "fallback": "local_share" },
  "api": { "listen": "127.0.0.1:$API_PORT" },
  "state_dir": "$STATE",
  "log": { "level": "debug" }
}
JSON
start_agent "$WORK/fleet.json"
rss0=$(awk '$1 == "VmRSS:" { print $2 }' "/proc/$AGENT_PID/status")
for _ in $(seq 100); do # each reason once (20 s): the server cycles through them
  grep -q 'reason="reply from redis too large"' "$AGENT_LOG" &&
    grep -q 'reason="array reply from redis too long"' "$AGENT_LOG" &&
    grep -q 'reason="reply from redis has too many objects"' "$AGENT_LOG" && break
  sleep 0.2
done
grep -q 'reason="reply from redis too large"' "$AGENT_LOG" \
  && ok "a streamed 1 GB bulk string: the connection is dropped" || fail "bulk string not refused"
grep -q 'reason="array reply from redis too long"' "$AGENT_LOG" \
  && ok "an array of 2^31-1 elements: refused" || fail "huge array not refused"
grep -q 'reason="reply from redis has too many objects"' "$AGENT_LOG" \
  && ok "a tree of 273 objects: refused" || fail "object tree not refused"
hwm=$(awk '$1 == "VmHWM:" { print $2 }' "/proc/$AGENT_PID/status")
log "agent RSS ${rss0} kB at start, peak ${hwm} kB; the hostile server: $(tr '\n' ' ' < "$WORK/redis.log")"
[ "$hwm" -lt $((rss0 + 65536)) ] && ok "the agent's memory stayed flat (peak $hwm kB, start $rss0 kB)" \
  || fail "the agent's peak memory grew to $hwm kB from $rss0 kB"
check "in the fallback, the API answers" fallback \
  "$(api /metrics | awk '$1 ~ /^tollgate_cluster_state\{/ && $2 == 1 { sub(/.*state="/, "", $1); sub(/".*/, "", $1); print $1 }')"
kill -0 "$AGENT_PID" && ok "the agent is alive" || fail "the agent died"
stop_agent TERM
check "it stops cleanly" 0 "$AGENT_RC"

# --- 6. a receiver whose certificate cannot be verified -------------------------
TLS_PORT=19553
openssl req -x509 -newkey rsa:2048 -nodes -keyout "$WORK/tls.key" -out "$WORK/tls.crt" \
  -subj /CN=127.0.0.1 -days 1 2> /dev/null
openssl s_server -accept $TLS_PORT -cert "$WORK/tls.crt" -key "$WORK/tls.key" -www \
  > "$WORK/tls.out" 2>&1 < /dev/null &
defer "kill $!"
wait_port $TLS_PORT
cat > "$WORK/tls.json" <<JSON
{
  "instance": "$E",
  "gateway": { "interfaces": ["${E}h"], "ports": [$PORT] },
  "webhooks": [ { "name": "mitm", "url": "https://127.0.0.1:$TLS_PORT/hook", "format": "generic" } ],
  "api": { "listen": "127.0.0.1:$API_PORT" },
  "state_dir": "$STATE"
}
JSON
# an event waiting in the spool (the format spool.c documents), replayed
# at start
mkdir -p -m 0700 "$STATE/$E/spool/mitm"
printf '{"v":1,"id":"evt_tls","severity":2,"content_type":"application/json","created_ns":1,"len":2}\n{}' \
  > "$STATE/$E/spool/mitm/00000000000000000001-2-evt_tls.ev"
start_agent "$WORK/tls.json"
for _ in $(seq 50); do grep -q 'webhook attempt failed' "$AGENT_LOG" && break; sleep 0.2; done
grep 'webhook attempt failed' "$AGENT_LOG" | grep -q 'webhook=mitm id=evt_tls .*err="SSL peer certificate' \
  && ok "an unverifiable certificate: the delivery fails" || { cat "$AGENT_LOG"; fail "no TLS verification failure"; }
check "the event stays spooled, not sent" 1 "$(api /v1/webhooks | jq '.webhooks[0] | .queued - .sent')"
stop_agent TERM
check "it stops cleanly" 0 "$AGENT_RC"
