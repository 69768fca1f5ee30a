#!/usr/bin/env bash
# Per-client telemetry end to end: two clients in their own namespaces send
# requests to a real nginx through veth pairs the agent's TC program sees.
# /v1/clients must show exactly the requests sent and the exact payload
# bytes curl reports; IPv6 is grouped by prefix; SIGTERM leaves nothing.
source "$(dirname "$0")/../lib/e2e.sh"
require_root

PORT=8080
make_client "${E2E_TAG}a" "${E2E_TAG}h1" "${E2E_TAG}c1" 198.18.0.1 198.18.0.2 fd00:198:18::1 fd00:198:18::2
make_client "${E2E_TAG}b" "${E2E_TAG}h2" "${E2E_TAG}c2" 198.18.1.1 198.18.1.2
start_nginx $PORT

cat > "$WORK/agent.json" <<JSON
{
  "instance": "$E2E_TAG",
  "gateway": { "interfaces": ["${E2E_TAG}h1", "${E2E_TAG}h2"], "ports": [$PORT] },
  "api": { "listen": "127.0.0.1:19471" },
  "log": { "level": "debug" }
}
JSON
start_agent "$WORK/agent.json"

# Client A: 10 GETs on one kept-alive connection, 3 POSTs with bodies of
# many segments, 5 GETs on connections of their own.
head -c 200000 /dev/urandom > "$WORK/body.bin"
out=$WORK/curl_a.txt
urls=()
for i in $(seq 10); do urls+=("http://198.18.0.1:$PORT/keepalive/$i"); done
ip netns exec "${E2E_TAG}a" curl -sS -o /dev/null -w '%{http_code} %{size_request} %{size_upload} %{num_connects}\n' \
  --max-time 10 "${urls[@]}" > "$out"
for i in 1 2 3; do
  ip netns exec "${E2E_TAG}a" curl -sS -o /dev/null -w '%{http_code} %{size_request} %{size_upload} %{num_connects}\n' \
    --max-time 10 -H 'Expect:' --data-binary @"$WORK/body.bin" "http://198.18.0.1:$PORT/v1/chat/completions" >> "$out"
done
for i in $(seq 5); do
  ip netns exec "${E2E_TAG}a" curl -sS -o /dev/null -w '%{http_code} %{size_request} %{size_upload} %{num_connects}\n' \
    --max-time 10 "http://198.18.0.1:$PORT/single/$i" >> "$out"
done
check "client A: every request answered 200" 18 "$(grep -c '^200 ' "$out")"
check "client A: 10 requests shared one connection" 1 "$(head -10 "$out" | awk '{s+=$4} END {print s}')"
want_req=18
want_payload=$(awk '{s += $2 + $3} END {print s}' "$out")
want_conns=$(awk '{s += $4} END {print s}' "$out")

# Client B: 7 GETs, each on its own connection.
for i in $(seq 7); do
  ip netns exec "${E2E_TAG}b" curl -sS -o /dev/null --max-time 10 "http://198.18.1.1:$PORT/b/$i"
done

# Client A over IPv6: 4 requests on one connection.
ip netns exec "${E2E_TAG}a" curl -sS -o /dev/null -w '%{size_request}\n' --max-time 10 \
  "http://[fd00:198:18::1]:$PORT/6/1" "http://[fd00:198:18::1]:$PORT/6/2" \
  "http://[fd00:198:18::1]:$PORT/6/3" "http://[fd00:198:18::1]:$PORT/6/4" > "$WORK/curl6.txt"
want6_payload=$(awk '{s += $1} END {print s}' "$WORK/curl6.txt")

check "client A requests" "$want_req" "$(wait_field 198.18.0.2 requests "$want_req")"
check "client A payload bytes" "$want_payload" "$(wait_field 198.18.0.2 payload_bytes "$want_payload")"
check "client A connections (SYN)" "$want_conns" "$(client_field 198.18.0.2 syns)"
check "client B requests" 7 "$(wait_field 198.18.1.2 requests 7)"
check "client B connections (SYN)" 7 "$(client_field 198.18.1.2 syns)"
check "IPv6 client grouped under its /64" 4 "$(wait_field fd00:198:18:: requests 4)"
check "IPv6 payload bytes" "$want6_payload" "$(client_field fd00:198:18:: payload_bytes)"
check "IPv6 prefix reported" 64 "$(client_field fd00:198:18:: prefix)"

# bytes = payload + the IP/TCP headers of every segment: strictly more
bytes=$(client_field 198.18.0.2 bytes)
[ "$bytes" -gt "$want_payload" ] && ok "bytes ($bytes) exceed payload bytes" || fail "bytes $bytes <= payload $want_payload"
pkts=$(client_field 198.18.0.2 packets)
[ "$pkts" -ge 18 ] && ok "packets ($pkts) at least one per request" || fail "packets $pkts"
first=$(client_field 198.18.0.2 first_seen)
[[ "$first" =~ ^20[0-9][0-9]-[0-9][0-9]-[0-9][0-9]T.*Z$ ]] && ok "first_seen is RFC 3339 ($first)" || fail "first_seen '$first'"

# the three 200 kB POSTs land in the 128-256 KiB size bucket
hist=$(api "/v1/clients?limit=100" | jq -r '.clients[] | select(.address=="198.18.0.2") | .request_size_hist[12]')
check "request size histogram: 3 bodies of ~200 kB in bucket 12" 3 "$hist"

# sorting and limits
check "sort by requests puts client A first" 198.18.0.2 "$(api '/v1/clients?sort=requests&limit=1' | jq -r '.clients[0].address')"
check "limit=1 returns one" 1 "$(api '/v1/clients?limit=1' | jq '.clients | length')"
code=$(curl -s -o /dev/null -w '%{http_code}' "http://$API/v1/clients?sort=bogus")
check "bad sort key is a 400" 400 "$code"

# metrics
metrics=$(api /metrics)
grep -q "^tollgate_client_requests_total{instance=\"$E2E_TAG\",client=\"198.18.0.2\"} $want_req\$" <<<"$metrics" \
  && ok "metrics carry the per-client series" || fail "metrics: no client series for 198.18.0.2"
grep -q '^tollgate_clients_evicted_total' <<<"$metrics" && ok "metrics export evictions" || fail "no eviction metric"

# tollgate status reads the same
"$TOLLGATE" status --api "$API" > "$WORK/status.txt"
grep -Eq '^198\.18\.0\.2 +18 ' "$WORK/status.txt" && ok "tollgate status shows client A" || { cat "$WORK/status.txt"; fail "status table"; }

# a malformed API request gets a 400 and the agent lives on
printf 'GARBAGE\x01\x02 / HTTP/9\r\n\r\n' | timeout 5 bash -c "exec 3<>/dev/tcp/${API%:*}/${API#*:}; cat >&3; head -c 12 <&3" > "$WORK/bad.txt" || true
check "malformed request answered 400" "HTTP/1.1 400" "$(cat "$WORK/bad.txt")"
curl -fsS "http://$API/healthz" >/dev/null && ok "agent alive after the malformed request" || fail "agent died"

# clean shutdown: exit 0, no filter, no qdisc we created, no pins
stop_agent TERM
check "SIGTERM exits 0" 0 "$AGENT_RC"
check "no TC filter left on ${E2E_TAG}h1" "" "$(tc filter show dev "${E2E_TAG}h1" ingress)"
check "clsact qdisc we created is gone" "" "$(tc qdisc show dev "${E2E_TAG}h1" | grep clsact || true)"
check "no pins left" absent "$([ -e "/sys/fs/bpf/tollgate/$E2E_TAG" ] && echo present || echo absent)"
