#!/usr/bin/env bash
# Least privilege. Once loaded and attached, the agent keeps only the
# capabilities it still uses (docs/guide/privileges.md: CAP_NET_ADMIN on this
# kernel) in its effective, permitted and bounding sets, none inheritable or
# ambient, with no_new_privs set, in every thread; with `user` it runs as
# that user. What it does after start must still work: enforcement, a
# SIGHUP reload that changes a quota and adds an interface, the spool, a
# clean stop that removes the TC filters and pins, keep + restart adoption,
# and a start as a service user given only the loading capabilities.
source "$(dirname "$0")/../lib/e2e.sh"
require_root
LOADGEN="python3 $TESTLIB/loadgen.py"
E=$E2E_TAG

# The documented set: CAP_NET_ADMIN (12). CAP_BPF joins it only on kernels
# that gate every bpf() command on it (before 6.5); this test runs on one
# that does not.
KEPT=0000000000001000
USER_NAME=nobody
UID_N=$(id -u $USER_NAME)
GID_N=$(id -g $USER_NAME)
PORT=18111
API_PORT=19511

make_client "${E}a" "${E}h1" "${E}c1" 198.18.111.1 198.18.111.2
make_client "${E}b" "${E}h2" "${E}c2" 198.18.111.5 198.18.111.6
start_nginx $PORT
PIN=/sys/fs/bpf/tollgate/$E
defer "rm -rf $PIN; for dv in h1 h2; do tc filter del dev ${E}\$dv ingress handle 0x7467 prio 0x7467 bpf; tc filter del dev ${E}\$dv egress handle 0x7467 prio 0x7467 bpf; done"
# The agent reads its config again on reload, as the user: readable.
chmod 755 "$WORK"
STATE=$WORK/state

write_cfg() { # write_cfg USER(json) KEEP RPS IFACES(json list body)
  cat > "$WORK/agent.json" <<JSON
{
  "instance": "$E",
  "gateway": { "interfaces": [$4], "ports": [$PORT] },
  "mode": "enforce",
  "quotas": { "clients": [
    { "name": "lim", "cidr": "198.18.111.2", "requests_per_sec": $3, "burst": $3 }
  ] },
  "webhooks": [ { "name": "down", "url": "http://127.0.0.1:19514/hook", "format": "generic",
                  "timeout_ms": 200 } ],
  "api": { "listen": "127.0.0.1:$API_PORT" },
  "state_dir": "$STATE",
  "user": $1,
  "keep": $2
}
JSON
  chmod 644 "$WORK/agent.json"
}
filter_on() { tc filter show dev "${E}$1" ingress | grep -q 'tg_tc_ingress'; }
reqs() { # reqs NS ADDR COUNT: COUNT requests on new connections, prints how many got through
  ip netns exec "$1" $LOADGEN --url "http://$2:$PORT/r" --rate 50 --duration "$(echo "$3 / 50" | bc -l)" \
    --new-conn-per-request --timeout 0.5 --json > "$WORK/lg.json"; jq .ok "$WORK/lg.json"; }
status_field() { awk -v f="$2:" '$1 == f { print $2 }' "/proc/$1/status"; }
ids() { awk '$1 == "Uid:" || $1 == "Gid:" { printf "%s%s", sep, $2 "," $3 "," $4 "," $5; sep = " " }' "/proc/$1/status"; }
# check_privs WHAT UID GID: the sets of every thread of the agent
check_privs() {
  local bad="" t
  for t in /proc/$AGENT_PID/task/*; do
    t=${t##*/}
    for f in CapEff CapPrm CapBnd; do
      [ "$(awk -v f="$f:" '$1 == f { print $2 }' "/proc/$AGENT_PID/task/$t/status")" = $KEPT ] || bad+=" $t:$f"
    done
    for f in CapInh CapAmb; do
      [ "$(awk -v f="$f:" '$1 == f { print $2 }' "/proc/$AGENT_PID/task/$t/status")" = 0000000000000000 ] || bad+=" $t:$f"
    done
    [ "$(awk '$1 == "NoNewPrivs:" { print $2 }' "/proc/$AGENT_PID/task/$t/status")" = 1 ] || bad+=" $t:NoNewPrivs"
  done
  check "$1: CapEff" $KEPT "$(status_field $AGENT_PID CapEff)"
  check "$1: CapPrm" $KEPT "$(status_field $AGENT_PID CapPrm)"
  check "$1: CapBnd" $KEPT "$(status_field $AGENT_PID CapBnd)"
  check "$1: CapInh and CapAmb" "0000000000000000 0000000000000000" \
    "$(status_field $AGENT_PID CapInh) $(status_field $AGENT_PID CapAmb)"
  check "$1: NoNewPrivs" 1 "$(status_field $AGENT_PID NoNewPrivs)"
  check "$1: the same in all $(ls /proc/$AGENT_PID/task | wc -l) threads" "" "$bad"
  check "$1: uid and gid (real, effective, saved, fs)" "$2,$2,$2,$2 $3,$3,$3,$3" "$(ids $AGENT_PID)"
}

# --- a user that does not exist ------------------------------------------------
write_cfg '"'"${E}-nosuch"'"' false 1 "\"${E}h1\""
rc=0; "$TOLLGATE" check-config "$WORK/agent.json" > /dev/null 2> "$WORK/err.txt" || rc=$?
check "check-config: an unknown user exits 2" 2 "$rc"
grep -qx "$WORK/agent.json: \$.user: no such user: ${E}-nosuch" "$WORK/err.txt" \
  && ok "the error names the user" || { cat "$WORK/err.txt"; fail "unknown user message"; }
rc=0; "$TOLLGATE" run --config "$WORK/agent.json" 2>/dev/null || rc=$?
check "run with an unknown user exits 2 before loading anything" "2 absent" \
  "$rc $([ -e "$PIN" ] && echo present || echo absent)"

# --- a state_dir the user cannot search is not chowned: the start fails -----
mkdir -m 0700 "$WORK/locked"
write_cfg "\"$USER_NAME\"" false 1 "\"${E}h1\""
sed -i "s|\"state_dir\": \"$STATE\"|\"state_dir\": \"$WORK/locked\"|" "$WORK/agent.json"
rc=0; "$TOLLGATE" run --config "$WORK/agent.json" > /dev/null 2> "$WORK/err.txt" || rc=$?
check "a state_dir the user cannot search: exit 1" 1 "$rc"
grep -q "state_dir $WORK/locked is not a directory user $USER_NAME can search" "$WORK/err.txt" \
  && ok "the message names the directory and the user" || { cat "$WORK/err.txt"; fail "state_dir message"; }
check "... and it stays root's, nothing left attached" "root absent" \
  "$(stat -c %U "$WORK/locked") $(filter_on h1 && echo attached || echo absent)"

# --- 1. as root with user: the drop, and what the agent does afterwards ------
write_cfg "\"$USER_NAME\"" false 1 "\"${E}h1\""
start_agent "$WORK/agent.json"
check_privs "with user" "$UID_N" "$GID_N"
grep -q "msg=\"privileges dropped\" user=$USER_NAME uid=$UID_N gid=$GID_N caps=cap_net_admin no_new_privs=1" \
  "$AGENT_LOG" && ok "the log says what was kept" || { grep privileges "$AGENT_LOG"; fail "privileges log line"; }
check "/v1/config shows the user" "$USER_NAME" "$(api /v1/config | jq -r .user)"

got=$(reqs "${E}a" 198.18.111.1 10)
denied=$(api /v1/keys/lim | jq .state.denied)
[ "$got" -lt 10 ] && [ "$denied" -ge 1 ] && ok "enforcement after the drop: $got of 10 through, $denied denied" \
  || fail "not enforced after the drop: $got of 10 through, $denied denied"
# The denial reached user space through the ring buffer and became an
# anomaly event, spooled for the receiver that is down: as the user.
spooled=""
for _ in $(seq 50); do
  spooled=$(find "$STATE/$E/spool/down" -name '*.ev' -printf '%u\n' 2>/dev/null | sort -u)
  [ -n "$spooled" ] && break; sleep 0.2
done
check "the spool takes the event, as the user" "$USER_NAME" "$spooled"

# Reload: a higher quota (map writes through held fds) and a second
# interface (a TC attach: CAP_NET_ADMIN).
write_cfg "\"$USER_NAME\"" false 1000 "\"${E}h1\", \"${E}h2\""
kill -HUP "$AGENT_PID"
for _ in $(seq 50); do grep -q 'reloaded generation=2' "$AGENT_LOG" && break; sleep 0.2; done
grep -q 'reloaded generation=2' "$AGENT_LOG" && ok "SIGHUP reload accepted" \
  || { grep -E 'reload|rejected' "$AGENT_LOG"; fail "reload"; }
check "reload wrote the new quota" 1000 "$(api /v1/keys/lim | jq .limits.requests_per_sec)"
sleep 0.1
check "the new quota takes effect: all through" 10 "$(reqs "${E}a" 198.18.111.1 10)"
filter_on h2 && ok "reload attached to the added interface" || fail "no filter on ${E}h2 after reload"
reqs "${E}b" 198.18.111.5 3 >/dev/null
check "the added interface counts" 3 "$(wait_field 198.18.111.6 requests 3)"

stop_agent TERM
check "clean stop exits 0" 0 "$AGENT_RC"
grep -Eq 'tc (egress )?detach failed|Operation not permitted' "$AGENT_LOG" \
  && { grep -E 'failed|not permitted' "$AGENT_LOG"; fail "errors at stop"; } || ok "no error at stop"
filter_on h1 || filter_on h2 && fail "a TC filter is left" || ok "clean stop removed the TC filters"
check "clean stop removed the pins" "" "$(ls -A "$PIN" 2>/dev/null)"

# --- 2. as root without user, keep: same capability set, uid 0 ----------------
# The state tree is the user's now (run 1): as uid 0 the agent refuses it
# rather than work in directories another user controls.
write_cfg null true 1000 "\"${E}h1\""
rc=0; "$TOLLGATE" run --config "$WORK/agent.json" > /dev/null 2> "$WORK/err.txt" || rc=$?
check "without user, a state tree of the user's: exit 1" 1 "$rc"
grep -q "$STATE is owned by uid $UID_N, not uid 0" "$WORK/err.txt" \
  && ok "the message names the directory and its owner" || { cat "$WORK/err.txt"; fail "state owner message"; }
check "... nothing left attached" absent "$(filter_on h1 && echo attached || echo absent)"
sed -i "s|\"state_dir\": \"$STATE\"|\"state_dir\": \"$WORK/state-root\"|" "$WORK/agent.json"
start_agent "$WORK/agent.json"
check_privs "without user" 0 0
reqs "${E}a" 198.18.111.1 4 > /dev/null
n=$(wait_field 198.18.111.2 requests 4)
check "counted" 4 "$n"
stop_agent TERM
check "keep: exits 0" 0 "$AGENT_RC"
filter_on h1 && ok "keep: the filter stays" || fail "keep: filter gone"
[ -e "$PIN/v$TG_LAYOUT/tg_clients" ] && ok "keep: the maps stay pinned" || fail "keep: pins gone"

# --- 3. with user, keep: adopts the pins, hands them to the user -------------
write_cfg "\"$USER_NAME\"" true 1000 "\"${E}h1\""
start_agent "$WORK/agent.json"
check_privs "adopting with user" "$UID_N" "$GID_N"
check "restart adoption: the counters carry on" 4 "$(wait_field 198.18.111.2 requests 4)"
stop_agent TERM
filter_on h1 && ok "keep as the user: the filter stays" || fail "keep as the user: filter gone"
check "keep as the user: pins stay, the user's" "$USER_NAME" "$(stat -c %U "$PIN/v$TG_LAYOUT/tg_clients" 2>/dev/null)"

# --- 4. a service user given only the loading capabilities -------------------
# As systemd's User= with AmbientCapabilities= would start it; the pin
# directory prepared for it (the unit's ExecStartPre=+). Its own bpffs in
# a private mount namespace, so the shared /sys/fs/bpf/tollgate is not
# touched; it goes away with the agent. Adopts nothing: new maps.
write_cfg "\"$USER_NAME\"" false 1000 "\"${E}h1\""
cat > "$WORK/svc.sh" <<SH
set -e
mount -t bpf bpf /sys/fs/bpf
chmod 0711 /sys/fs/bpf
install -d -m 0711 /sys/fs/bpf/tollgate
install -d -o $USER_NAME -g $(id -gn $USER_NAME) -m 0700 /sys/fs/bpf/tollgate/$E
exec setpriv --reuid=$UID_N --regid=$GID_N --init-groups \
  --inh-caps=+bpf,+perfmon,+net_admin,+setpcap --ambient-caps=+bpf,+perfmon,+net_admin,+setpcap \
  "$TOLLGATE" run --config "$WORK/agent.json"
SH
AGENT_LOG=$WORK/svc.log
unshare -m --propagation private bash "$WORK/svc.sh" > "$AGENT_LOG" 2>&1 &
AGENT_PID=$!
defer "kill $AGENT_PID; wait $AGENT_PID"
up=""
for _ in $(seq 150); do
  curl -fsS "http://127.0.0.1:$API_PORT/healthz" >/dev/null 2>&1 && { up=1; break; }
  kill -0 "$AGENT_PID" 2>/dev/null || break
  sleep 0.1
done
[ -n "$up" ] && ok "starts as a service user with CAP_BPF, CAP_PERFMON, CAP_NET_ADMIN, CAP_SETPCAP" \
  || { cat "$AGENT_LOG"; die "service-user agent did not come up"; }
check_privs "service user" "$UID_N" "$GID_N"
got=$(reqs "${E}a" 198.18.111.1 5)
check "service user: counts" 5 "$(wait_field 198.18.111.2 requests 5)"
stop_agent TERM
check "service user: clean stop exits 0" 0 "$AGENT_RC"
filter_on h1 && fail "service user: filter left" || ok "service user: clean stop removed the filter"

# --- clean up what keep left, through the agent as the user -------------------
write_cfg "\"$USER_NAME\"" false 1 "\"${E}h1\""
start_agent "$WORK/agent.json"
stop_agent TERM
filter_on h1 && fail "final stop: filter left" || ok "final stop as the user removed the filter"
check "final stop as the user removed the pins" "" "$(ls -A "$PIN" 2>/dev/null)"
