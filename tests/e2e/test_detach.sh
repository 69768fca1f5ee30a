#!/usr/bin/env bash
# `tollgate detach`: after the agent is killed with SIGKILL its TC filters
# and pins stay behind; detach removes exactly those (not another tool's
# filter on the same hook, not a foreign program at tollgate's handle and
# priority, not another instance's), says "nothing attached" the second time, and refuses to pull
# the filters from under a running agent of that instance unless --force;
# an agent of another instance answering on the address does not stop it.
source "$(dirname "$0")/../lib/e2e.sh"
require_root

PINS=/sys/fs/bpf/tollgate/$E2E_TAG
TRIVIAL="$(dirname "$TOLLGATE")/gen/trivial.bpf.o"
[ -f "$TRIVIAL" ] || die "$TRIVIAL missing: build the trivial_skel target"
defer "rm -rf $PINS; rmdir /sys/fs/bpf/tollgate"

make_client "${E2E_TAG}a" "${E2E_TAG}h1" "${E2E_TAG}c1" 198.18.90.1 198.18.90.2
# tc's bpf loader makes its own directories in bpffs: remove those it made here
for d in tc ip xdp; do
  [ -e "/sys/fs/bpf/$d" ] || defer "rmdir /sys/fs/bpf/$d/globals; [ -L /sys/fs/bpf/$d ] && rm -f /sys/fs/bpf/$d; rmdir /sys/fs/bpf/$d"
done
# Another tool's filters on the hooks tollgate uses, installed first.
tc qdisc add dev "${E2E_TAG}h1" clsact
tc filter add dev "${E2E_TAG}h1" ingress prio 1 bpf da obj "$TRIVIAL" sec tc
tc filter add dev "${E2E_TAG}h1" egress prio 1 bpf da obj "$TRIVIAL" sec tc
# A foreign program at tollgate's very handle and priority, on an
# interface the agent does not use: the program name keeps it.
ip link add "${E2E_TAG}h2" type veth peer name "${E2E_TAG}c2"
defer "ip link del ${E2E_TAG}h2"
tc qdisc add dev "${E2E_TAG}h2" clsact
tc filter add dev "${E2E_TAG}h2" ingress prio 0x7467 handle 0x7467 bpf da obj "$TRIVIAL" sec tc

cat > "$WORK/cfg.json" <<JSON
{ "instance": "$E2E_TAG", "gateway": { "interfaces": ["${E2E_TAG}h1"], "ports": [18088] },
  "api": { "listen": "127.0.0.1:19492" } }
JSON

ours() { # ours DIR: tollgate filters on the hook
  tc filter show dev "${E2E_TAG}h1" "$1" | grep -c "tg_tc_$1" || true
}
theirs() { # theirs DEV DIR
  tc filter show dev "$1" "$2" | grep -c trivial_tc || true
}

# Another instance of tollgate on its own interface: its filter runs the
# same programs, its pinned maps tell it apart.
OTHER=${E2E_TAG}o
defer "rm -rf /sys/fs/bpf/tollgate/$OTHER; rmdir /sys/fs/bpf/tollgate"
ip link add "${E2E_TAG}h3" type veth peer name "${E2E_TAG}c3"
defer "ip link del ${E2E_TAG}h3"
ip link set "${E2E_TAG}h3" up
cat > "$WORK/other.json" <<JSON
{ "instance": "$OTHER", "gateway": { "interfaces": ["${E2E_TAG}h3"], "ports": [18089] },
  "api": { "listen": "127.0.0.1:19493" } }
JSON
"$TOLLGATE" run --config "$WORK/other.json" > "$WORK/other.log" 2>&1 &
OTHER_PID=$!
defer "kill $OTHER_PID; wait $OTHER_PID"
for _ in $(seq 100); do curl -fsS http://127.0.0.1:19493/healthz >/dev/null 2>&1 && break; sleep 0.1; done
other_filter() { tc filter show dev "${E2E_TAG}h3" ingress | grep -c tg_tc_ingress || true; }
check "the other instance is attached" 1 "$(other_filter)"
rc=0; "$TOLLGATE" detach --instance "$OTHER" --api 127.0.0.1:19493 > "$WORK/out.txt" 2> "$WORK/err.txt" || rc=$?
check "detach --instance refuses when that instance answers" 1 "$rc"
grep -q "instance $OTHER is running: its agent answers on 127.0.0.1:19493" "$WORK/err.txt" \
  && ok "the refusal names the instance" || { cat "$WORK/err.txt"; fail "refusal (other instance)"; }
check "the other instance is still attached" 1 "$(other_filter)"

# --- the state detach exists for: a killed agent -------------------------------
start_agent "$WORK/cfg.json"
check "agent attached on ingress" 1 "$(ours ingress)"
check "agent attached on egress" 1 "$(ours egress)"
stop_agent KILL
check "after SIGKILL the ingress filter stays" 1 "$(ours ingress)"
check "after SIGKILL the egress filter stays" 1 "$(ours egress)"
[ -d "$PINS" ] && ok "after SIGKILL the pins stay" || fail "no pins after SIGKILL"

rc=0; "$TOLLGATE" detach --instance "$E2E_TAG" > "$WORK/out.txt" 2> "$WORK/err.txt" || rc=$?
check "detach exits 0" 0 "$rc"
cat "$WORK/out.txt" "$WORK/err.txt" | sed 's/^/#   /'
grep -q "^removed filter ingress on ${E2E_TAG}h1 " "$WORK/out.txt" && ok "ingress removal reported" || fail "ingress line"
grep -q "^removed filter egress on ${E2E_TAG}h1 " "$WORK/out.txt" && ok "egress removal reported" || fail "egress line"
grep -q "^removed pins under $PINS\$" "$WORK/out.txt" && ok "pin removal reported" || fail "pins line"
check "our ingress filter is gone" 0 "$(ours ingress)"
check "our egress filter is gone" 0 "$(ours egress)"
check "the other tool's ingress filter survives" 1 "$(theirs "${E2E_TAG}h1" ingress)"
check "the other tool's egress filter survives" 1 "$(theirs "${E2E_TAG}h1" egress)"
check "a foreign program at our handle and priority survives" 1 "$(theirs "${E2E_TAG}h2" ingress)"
check "the other instance's filter survives" 1 "$(other_filter)"
grep -q "^kept filter ingress on ${E2E_TAG}h3: it belongs to instance $OTHER\$" "$WORK/out.txt" \
  && ok "the other instance's filter is reported as kept" || fail "kept (other instance) line"
[ -d "/sys/fs/bpf/tollgate/$OTHER" ] && ok "the other instance's pins survive" || fail "other pins gone"
grep -q "^kept filter ingress on ${E2E_TAG}h2: program trivial_tc is not tollgate's" "$WORK/out.txt" \
  && ok "the foreign program is reported as kept" || fail "kept line"
check "the clsact qdisc stays" 1 "$(tc qdisc show dev "${E2E_TAG}h1" | grep -c clsact)"
check "the pin directory is gone" absent "$([ -e "$PINS" ] && echo present || echo absent)"

rc=0; "$TOLLGATE" detach --instance "$E2E_TAG" > "$WORK/out.txt" 2>&1 || rc=$?
check "a second detach exits 0" 0 "$rc"
grep -q "nothing attached" "$WORK/out.txt" && ok "a second detach says nothing attached" \
  || { cat "$WORK/out.txt"; fail "nothing attached line"; }

rc=0; "$TOLLGATE" detach --instance 'bad/name' 2>/dev/null || rc=$?
check "a bad instance name exits 2" 2 "$rc"
rc=0; "$TOLLGATE" detach --instance "$E2E_TAG" extra 2>/dev/null || rc=$?
check "an extra argument exits 2" 2 "$rc"
if command -v setpriv >/dev/null; then
  rc=0; setpriv --reuid=65534 --regid=65534 --clear-groups "$TOLLGATE" detach --instance "$E2E_TAG" 2> "$WORK/err.txt" || rc=$?
  check "not root exits 1" 1 "$rc"
  grep -q "must run as root" "$WORK/err.txt" && ok "not-root message" || { cat "$WORK/err.txt"; fail "not-root message"; }
fi

# --- a running agent: refused without --force ---------------------------------
start_agent "$WORK/cfg.json"
rc=0; "$TOLLGATE" detach --config "$WORK/cfg.json" > "$WORK/out.txt" 2> "$WORK/err.txt" || rc=$?
check "detach refuses while the agent answers" 1 "$rc"
grep -q "instance $E2E_TAG is running: its agent answers on 127.0.0.1:19492" "$WORK/err.txt" \
  && ok "refusal names the instance that answers" || { cat "$WORK/err.txt"; fail "refusal message"; }
check "the running agent keeps its ingress filter" 1 "$(ours ingress)"
[ -d "$PINS" ] && ok "the running agent keeps its pins" || fail "pins gone under a running agent"
rc=0; "$TOLLGATE" detach --config "$WORK/cfg.json" --force > "$WORK/out.txt" 2>&1 || rc=$?
check "detach --force exits 0" 0 "$rc"
check "--force removed the ingress filter" 0 "$(ours ingress)"
check "--force removed the egress filter" 0 "$(ours egress)"
check "--force removed the pins" absent "$([ -e "$PINS" ] && echo present || echo absent)"
check "the other tool's filter still survives" 1 "$(theirs "${E2E_TAG}h1" ingress)"
stop_agent TERM
log "agent exit code after --force and SIGTERM: $AGENT_RC"
check "nothing of ours left after the agent stops" 0 "$(ours ingress)"
check "the other instance is still attached" 1 "$(other_filter)"

# --- another instance answers on the address: detach compares ----------------
# The other agent dies; ours runs on the address detach asks (cfg.json's):
# the answer names another instance, so the dead one's state goes.
kill -KILL "$OTHER_PID"; wait "$OTHER_PID" 2>/dev/null || true
check "after SIGKILL the other instance's filter stays" 1 "$(other_filter)"
start_agent "$WORK/cfg.json"
rc=0; "$TOLLGATE" detach --instance "$OTHER" --config "$WORK/cfg.json" > "$WORK/out.txt" 2> "$WORK/err.txt" || rc=$?
check "detach of a dead instance beside a live one exits 0" 0 "$rc"
cat "$WORK/out.txt" "$WORK/err.txt" | sed 's/^/#   /'
grep -q "^the agent answering on 127.0.0.1:19492 is instance $E2E_TAG, not $OTHER: going on\$" "$WORK/out.txt" \
  && ok "detach says which instance answered" || fail "answering instance line"
check "the dead instance's filter is gone" 0 "$(other_filter)"
check "the live agent keeps its filter" 1 "$(ours ingress)"
check "the dead instance's pins are gone" absent "$([ -e "/sys/fs/bpf/tollgate/$OTHER" ] && echo present || echo absent)"
stop_agent TERM
check "the live agent stops cleanly" 0 "$AGENT_RC"
