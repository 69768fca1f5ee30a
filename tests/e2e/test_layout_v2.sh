#!/usr/bin/env bash
# Upgrading from layout v2, whose client and response maps were per-CPU
# (LRU_PERCPU_HASH) and whose buckets had no drops field, to v3 (shared
# maps, drops). The v2 maps are made here with bpftool, as a v2 agent with
# keep would have left them (bpftool writes a per-CPU value on every CPU);
# the agent converts them: each client's per-CPU counters summed into one
# record, the pending hint kept once, buckets widened with drops = denied.
E2E_TAG=${E2E_TAG:-tgm2$$}
source "$(dirname "$0")/../lib/e2e.sh"
require_root

[ "$TG_LAYOUT" = 3 ] || { log "this test is the v2 -> v3 step (layout is v$TG_LAYOUT)"; fail "layout not v3"; exit 1; }
INST=$E2E_TAG
ROOT=/sys/fs/bpf/tollgate
PIN=$ROOT/$INST
NCPU=$(python3 -c 'import re; s=open("/sys/devices/system/cpu/possible").read().strip(); print(sum(int(b)-int(a)+1 if "-" in p else 1 for p in s.split(",") for a,b in [p.split("-") if "-" in p else (p,p)]))')
MAXC=1024
ENT=$((MAXC + MAXC / 8)) # tg_clients_map_size
defer "rm -rf $PIN; rmdir $ROOT"
mkdir -p "$PIN/v2"

le64() { python3 -c "import struct,sys; print(' '.join(str(b) for b in struct.pack('<Q', int(sys.argv[1]))))" "$1"; }
le32() { python3 -c "import struct,sys; print(' '.join(str(b) for b in struct.pack('<I', int(sys.argv[1]))))" "$1"; }
zeros() { python3 -c "import sys; print(' '.join(['0'] * int(sys.argv[1])))" "$1"; }
# 198.18.102.2 as ::ffff:198.18.102.2
KEY="0 0 0 0 0 0 0 0 0 0 255 255 198 18 102 2"

# tg_client v2, per CPU: packets 10, bytes 1000, payload 500, syns 2,
# requests 3, first_seen 0, last_seen 0, pending 1, wasted 0, epoch 9,
# size_hist[1] = 3
CLIENT="$(le64 10) $(le64 1000) $(le64 500) $(le64 2) $(le64 3) $(le64 0) $(le64 0) $(le32 1) 0 0 9 0 $(zeros 4) $(le32 3) $(zeros 56)"
bpftool map create "$PIN/v2/tg_clients" type lru_percpu_hash key 16 value 128 entries $ENT name tg_clients
bpftool map update pinned "$PIN/v2/tg_clients" key $KEY value $CLIENT
# tg_resp v2, per CPU: packets 4, bytes 400, responses 2, status 2xx 2
RESP="$(le64 4) $(le64 400) $(le64 2) $(le32 2) $(zeros 16) $(zeros 4) $(zeros 64)"
bpftool map create "$PIN/v2/tg_responses" type lru_percpu_hash key 16 value 112 entries $ENT name tg_responses
bpftool map update pinned "$PIN/v2/tg_responses" key $KEY value $RESP
# tg_bucket v2 (104 bytes) of quotas.default for the address: allowed 7,
# denied 5 (v2: each drop)
BUCKET="$(zeros 24) $(le64 7) $(le64 5) $(zeros 64)"
bpftool map create "$PIN/v2/tg_addr_buckets" type lru_hash key 24 value 104 entries $ENT name tg_addr_buckets
bpftool map update pinned "$PIN/v2/tg_addr_buckets" key 0 0 0 0 0 0 0 0 $KEY value $BUCKET
log "v2 layout made: $NCPU possible CPUs"

cat > "$WORK/agent.json" <<JSON
{
  "instance": "$INST",
  "gateway": { "interfaces": [], "ports": [18102], "max_clients": $MAXC },
  "api": { "listen": "127.0.0.1:19502" },
  "keep": false
}
JSON
start_agent "$WORK/agent.json"
line=$(grep "layout v2 found, migrated to v3" "$AGENT_LOG" || true)
log "log: $line"
[ -n "$line" ] && ok "one line says what was migrated" || { cat "$AGENT_LOG"; fail "no migration line"; }
for m in tg_clients tg_responses; do
  echo "$line" | grep -q "$m converted (type lru_percpu_hash -> lru_hash" \
    && ok "$m converted, with the reason" || fail "$m not converted in: $line"
done
echo "$line" | grep -q "tg_addr_buckets converted (value size 104 -> 112)" \
  && ok "tg_addr_buckets converted" || fail "tg_addr_buckets not converted in: $line"
check "the old directory is gone" absent "$([ -e "$PIN/v2" ] && echo present || echo absent)"

val() { # val MAP: the value bytes of the client's entry in the v3 map, as decimal
  bpftool -j map lookup pinned "$PIN/v3/$1" key $2 |
    jq -r '.value | map(if type == "string" then (.[2:] | ascii_downcase) else . end) | join(" ")'
}
u64_at() { # u64_at OFFSET BYTES...
  python3 -c "import sys,struct; b=bytes(int(x,16) for x in sys.argv[2:]); print(struct.unpack_from('<Q', b, int(sys.argv[1]))[0])" "$@"
}
u32_at() {
  python3 -c "import sys,struct; b=bytes(int(x,16) for x in sys.argv[2:]); print(struct.unpack_from('<i', b, int(sys.argv[1]))[0])" "$@"
}
# v3's record: packets 0 and xpackets 24 (summed: the owner's plus the
# other CPUs'), pending 52, requests 72, size_hist 96
c=$(val tg_clients "$KEY")
check "packets summed over the CPUs" $((10 * NCPU)) "$(( $(u64_at 0 $c) + $(u64_at 24 $c) ))"
check "requests summed over the CPUs" $((3 * NCPU)) "$(u64_at 72 $c)"
check "the pending hint once, not per CPU" 1 "$(u32_at 52 $c)"
check "the size histogram summed" $((3 * NCPU)) "$(u32_at 100 $c)"
check "the API reads the converted record" $((3 * NCPU)) "$(wait_field 198.18.102.2 requests $((3 * NCPU)))"
r=$(val tg_responses "$KEY")
check "responses summed" $((2 * NCPU)) "$(u64_at 16 $r)"
b=$(val tg_addr_buckets "0 0 0 0 0 0 0 0 $KEY")
check "bucket allowed kept" 7 "$(u64_at 24 $b)"
check "bucket denied kept" 5 "$(u64_at 32 $b)"
check "bucket drops from v2's denied" 5 "$(u64_at 104 $b)"
stop_agent TERM
check "the agent exits 0" 0 "$AGENT_RC"
