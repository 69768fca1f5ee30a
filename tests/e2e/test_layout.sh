#!/usr/bin/env bash
# Upgrading across a layout version. An agent with keep leaves its programs
# attached and its maps pinned under v<layout>/; renaming that directory to
# v0 makes it the state an older tollgate left. The agent then migrates:
# counters and buckets are copied into the current layout's maps, a map
# whose value size changed is recreated empty (one log line says so), the
# old filters are removed where the new ones did not replace them, and the
# v0 directory goes. A layout newer than the agent's makes it refuse to
# start, touching nothing.
E2E_TAG=${E2E_TAG:-tgmig$$}
source "$(dirname "$0")/../lib/e2e.sh"
require_root
HERE=$(cd "$(dirname "$0")" && pwd)
LOADGEN="python3 $TESTLIB/loadgen.py"

PORT=18101
INST=$E2E_TAG
H1=${E2E_TAG}h1 H2=${E2E_TAG}h2
ROOT=/sys/fs/bpf/tollgate
PIN=$ROOT/$INST
CUR=$(sed -n 's/^#define TG_LAYOUT_VERSION \([0-9]*\).*/\1/p' "$HERE/../../kern/shared.h")
[ -n "$CUR" ] && [ "$CUR" -ge 1 ] || die "cannot read TG_LAYOUT_VERSION (>= 1) from kern/shared.h"
NEWER=v$((CUR + 1))
log "current layout v$CUR"

make_client "${E2E_TAG}a" "$H1" "${E2E_TAG}c1" 198.18.101.1 198.18.101.2
# A second interface the old agent was attached to and the new one is not.
ip link add "$H2" type veth peer name "${E2E_TAG}c2"
defer "ip link del $H2"
ip link set "$H2" up
for d in "$H1" "$H2"; do
  for dir in ingress egress; do
    defer "tc filter del dev $d $dir handle 0x7467 prio 0x7467 bpf"
  done
done
defer "rm -rf $PIN; rmdir $ROOT"
start_nginx $PORT

write_cfg() { # write_cfg KEEP IFACES
  cat > "$WORK/agent.json" <<JSON
{
  "instance": "$INST",
  "gateway": { "interfaces": [$2], "ports": [$PORT] },
  "mode": "enforce",
  "quotas": { "clients": [
    { "name": "held", "cidr": "198.18.101.2", "requests_per_sec": 1, "burst": 5,
      "bytes_per_sec": 64, "bytes_burst": 1000000 }
  ] },
  "api": { "listen": "127.0.0.1:19501" },
  "keep": $1
}
JSON
}
reqs() { # reqs N: N POSTs of 20 kB at 50/s, one connection each; prints how many were answered
  ip netns exec "${E2E_TAG}a" $LOADGEN --url "http://198.18.101.1:$PORT/layout" --rate 50 --body-bytes 20000 \
    --duration "$(echo "scale=2; $1 / 50" | bc)" --new-conn-per-request --timeout 0.5 --json > "$WORK/lg.json"
  jq .ok "$WORK/lg.json"
}
tg_filters() { # tg_filters DEV: tollgate filters on both hooks of DEV
  { tc filter show dev "$1" ingress; tc filter show dev "$1" egress; } | grep -c 'tg_tc_' || true
}
key() { api /v1/keys/held | jq -r ".state.$1"; }

# --- the "old" agent: attached to two interfaces, stopped with keep -----------
write_cfg true "\"$H1\", \"$H2\""
start_agent "$WORK/agent.json"
got=$(reqs 20)
log "20 requests, $got answered"
check "the client's 20 requests are counted" 20 "$(wait_field 198.18.101.2 requests 20)"
allowed=$(key allowed) denied=$(key denied) bytes_left=$(key bytes_left)
log "before: allowed=$allowed denied=$denied bytes_left=$bytes_left"
[ "$denied" -ge 10 ] && ok "the bucket denied most of them ($denied)" || fail "denied before: $denied"
stop_agent TERM
check "the agent with keep exits 0" 0 "$AGENT_RC"
check "filters stay on both interfaces" "2 2" "$(tg_filters "$H1") $(tg_filters "$H2")"

# Make it an older layout: the directory renamed, and one map of another
# shape (tg_key_use with 8 more bytes of value) standing in for a map whose
# struct grew.
mv "$PIN/v$CUR" "$PIN/v0" && ok "bpffs renames the pin directory to v0" || die "rename in bpffs failed"
read -r ks vs ents < <(bpftool -j map show pinned "$PIN/v0/tg_key_use" | jq -r '"\(.bytes_key) \(.bytes_value) \(.max_entries)"')
rm "$PIN/v0/tg_key_use"
bpftool map create "$PIN/v0/tg_key_use" type lru_hash key "$ks" value $((vs + 8)) entries "$ents" name tg_key_use
log "tg_key_use in v0: key $ks, value $((vs + 8)) (current: $vs)"

# --- the migration --------------------------------------------------------------
write_cfg true "\"$H1\""
start_agent "$WORK/agent.json"
line=$(grep "layout v0 found, migrated to v$CUR" "$AGENT_LOG" || true)
log "log: $line"
[ -n "$line" ] && ok "one line says what was migrated" || { cat "$AGENT_LOG"; fail "no migration line"; }
check "the migration line appears once" 1 "$(grep -c 'layout v0 found' "$AGENT_LOG")"
for m in tg_clients tg_buckets tg_quotas tg_conns; do
  echo "$line" | grep -Eq "[:;] ([a-z_]+, )*$m(, [a-z_]+)* copied" && ok "$m copied" || fail "$m not listed as copied"
done
echo "$line" | grep -q "tg_key_use recreated (value size $((vs + 8)) -> $vs)" \
  && ok "the reshaped map is recreated, with the reason" || fail "no recreate of tg_key_use in: $line"
echo "$line" | grep -Eq "tg_events(, [a-z_]+)* skipped" && ok "the ring buffer is not copied" || fail "tg_events not skipped"

check "counters survive: requests" 20 "$(client_field 198.18.101.2 requests)"
check "buckets survive: allowed" "$allowed" "$(key allowed)"
check "buckets survive: denied" "$denied" "$(key denied)"
# 64 bytes/s refill: a fresh bucket would show the full 1000000, the
# copied one what was left plus 64 bytes a second since (10 minutes allowed)
bl=$(key bytes_left)
[ "$bytes_left" -le 950000 ] || fail "the requests did not spend the byte bucket ($bytes_left left)"
[ "$bl" -lt 1000000 ] && [ "$bl" -le $((bytes_left + 64 * 600)) ] \
  && ok "the byte bucket's debt survives ($bytes_left -> $bl)" || fail "bytes_left $bytes_left -> $bl"

check "the old directory is gone" absent "$([ -e "$PIN/v0" ] && echo present || echo absent)"
[ -e "$PIN/v$CUR/tg_clients" ] && ok "the current layout is pinned" || fail "no pins in v$CUR"
check "the old filters on the interface no longer configured are removed" 0 "$(tg_filters "$H2")"
check "the configured interface has the new filters" 2 "$(tg_filters "$H1")"
# tg_tc_ifaces (interfaces whose packets the cgroup programs leave to TC)
# came over with h2 in it: the attach prunes it to h1
ifx=$(cat "/sys/class/net/$H1/ifindex")
want=$(printf '0x%02x 0x%02x 0x%02x 0x%02x' $((ifx & 255)) $((ifx >> 8 & 255)) $((ifx >> 16 & 255)) $((ifx >> 24)))
got=$(bpftool -j map dump pinned "$PIN/v$CUR/tg_tc_ifaces" |
  jq -r '[.[] | .key | if type == "array" then join(" ") else tostring end] | join(",")')
[ "$got" = "$want" ] || [ "$got" = "$ifx" ] && ok "the interfaces the cgroup programs skip are only $H1 ($got)" \
  || fail "tg_tc_ifaces holds '$got', want '$want' ($H1)"
check "one removal logged per old filter" 2 "$(grep -c 'old layout: filter removed' "$AGENT_LOG")"
grep -q 'msg="old layout removed"' "$AGENT_LOG" && ok "the removal of v0 is logged" || fail "no removal line"

# The migrated maps are the live ones: new traffic adds to them.
got=$(reqs 10)
check "requests after the migration add up" 30 "$(wait_field 198.18.101.2 requests 30)"
stop_agent TERM
check "the migrated agent exits 0" 0 "$AGENT_RC"

# --- an old layout beside pins of the current one (an upgrade cut short after
# the copy): the current maps are the newer state, the old one only goes ------
mkdir "$PIN/v0"
bpftool map create "$PIN/v0/tg_clients" type hash key 4 value 4 entries 4 name tg_clients
start_agent "$WORK/agent.json"
grep -q 'old layout found, not migrated' "$AGENT_LOG" && ok "an old layout beside current pins is not copied" \
  || fail "no 'not migrated' line"
check "the current counters are kept" 30 "$(client_field 198.18.101.2 requests)"
check "and the old directory is removed" absent "$([ -e "$PIN/v0" ] && echo present || echo absent)"
stop_agent TERM

# --- a newer layout is never touched --------------------------------------------
mkdir "$PIN/$NEWER"
bpftool map create "$PIN/$NEWER/tg_clients" type hash key 4 value 4 entries 4 name tg_clients
rc=0; timeout 30 "$TOLLGATE" run --config "$WORK/agent.json" > "$WORK/newer.log" 2>&1 || rc=$?
check "a newer layout makes the agent refuse to start (exit 1)" 1 "$rc"
sed 's/^/#   /' "$WORK/newer.log"
grep -q "$PIN/$NEWER holds the maps of a newer tollgate" "$WORK/newer.log" && ok "the refusal names the directory" \
  || fail "refusal message"
grep -q "tollgate detach --instance $INST" "$WORK/newer.log" && ok "the refusal says how to clear it" \
  || fail "no detach hint"
[ -e "$PIN/$NEWER/tg_clients" ] && ok "the newer layout's pins are untouched" || fail "newer pins touched"
[ -e "$PIN/v$CUR/tg_clients" ] && ok "the current layout's pins are untouched" || fail "current pins touched"
check "the filters stay attached" 2 "$(tg_filters "$H1")"
rm -rf "${PIN:?}/$NEWER"

# --- without keep, nothing is left ----------------------------------------------
write_cfg false "\"$H1\""
start_agent "$WORK/agent.json"
check "restarted after the refusal, the counters are still there" 30 "$(wait_field 198.18.101.2 requests 30)"
stop_agent TERM
check "the last agent exits 0" 0 "$AGENT_RC"
check "no tollgate filter left" "0 0" "$(tg_filters "$H1") $(tg_filters "$H2")"
check "no pin directory left" absent "$([ -e "$PIN" ] && echo present || echo absent)"
