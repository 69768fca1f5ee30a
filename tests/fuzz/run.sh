#!/usr/bin/env bash
# Builds the libFuzzer targets with clang (ASan + UBSan) straight from the
# sources, then runs each for FUZZ_SECONDS on a scratch copy of its seed
# corpus. Fails when a target does not build or finds a crash.
#
#   tests/fuzz/run.sh [target...]     FUZZ_SECONDS=60 FUZZ_JOBS=2 FUZZ_OUT=dir
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
FUZZ_SECONDS=${FUZZ_SECONDS:-60}
FUZZ_JOBS=${FUZZ_JOBS:-2}
CC=${FUZZ_CC:-clang}
OUT=${FUZZ_OUT:-}
keep=${OUT:+1}
[ -n "$OUT" ] || OUT=$(mktemp -d /tmp/tg-fuzz.XXXXXX)
mkdir -p "$OUT"

CONFIG_SRC="agent/config/config.c agent/config/config_util.c agent/config/config_anomaly.c agent/config/config_cluster.c agent/config/config_routes.c agent/config/config_sublimits.c agent/config/config_reqlog.c agent/config/config_tls.c
	    agent/config/config_quotas.c agent/config/config_values.c agent/config/config_webhooks.c
	    agent/telemetry/rates.c"
FORMAT_SRC="gateway-hooks/formats/formats.c gateway-hooks/formats/fmt_generic.c
	    gateway-hooks/formats/fmt_alertmanager.c gateway-hooks/formats/fmt_slack.c
	    gateway-hooks/formats/fmt_openai.c"
# agent/lib is the bottom layer every module may use: link all of it, so a
# helper moved there never leaves a target unlinkable.
LIB_SRC=$(cd "$ROOT" && echo agent/lib/*.c)
declare -A SRC=(
	[fuzz_config]="$CONFIG_SRC agent/api/http_util.c $LIB_SRC"
	[fuzz_proxy]=""
	[fuzz_http_token]="agent/lib/keyhash.c"
	[fuzz_webhook_reply]="$FORMAT_SRC agent/deliver/retry.c $LIB_SRC"
	# api.c is compiled into the harness itself (its libuv calls stubbed)
	[fuzz_api]="agent/api/api_conns.c agent/api/api_listen.c agent/api/api_hdrs.c agent/api/http_util.c $LIB_SRC"
	[fuzz_usage]="agent/tokens/usage.c"
	[fuzz_api_socket]="agent/api/api.c agent/api/api_conns.c agent/api/api_listen.c agent/api/api_hdrs.c agent/api/http_util.c $LIB_SRC"
)
ALL="fuzz_config fuzz_proxy fuzz_http_token fuzz_webhook_reply fuzz_api fuzz_api_socket fuzz_usage"
TARGETS=${*:-$ALL}

if ! command -v "$CC" >/dev/null; then
	echo "fuzz: $CC not found" >&2
	exit 1
fi

build() {
	local t=$1 srcs
	# shellcheck disable=SC2206 # word splitting of the list is the point
	srcs=(${SRC[$t]})
	(cd "$ROOT" && "$CC" -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined \
		-g -O1 -std=gnu11 -D_GNU_SOURCE -DTG_FUZZ -Wall -Wextra -Wno-unused-parameter \
		-I agent -I kern -I gateway-hooks -I "$OUT/gen" \
		"tests/fuzz/$t.c" "${srcs[@]}" \
		-o "$OUT/$t" -lcjson -luv -lcurl -lcrypto -lhttp_parser -lcap -ldl -lm -lpthread)
}

run() {
	local t=$1 dir="$OUT/corpus/$t" dict=()
	rm -rf "$dir"
	mkdir -p "$dir" "$OUT/artifacts/$t"
	if [ -d "$ROOT/tests/fuzz/corpus/$t" ]; then
		cp "$ROOT/tests/fuzz/corpus/$t/." "$dir/" -r
	fi
	# the socket harness speaks the same requests: fuzz_api's dictionary
	if [ -f "$ROOT/tests/fuzz/${t%_socket}.dict" ]; then
		dict=(-dict="$ROOT/tests/fuzz/${t%_socket}.dict")
	fi
	# -rss_limit_mb: ASan's shadow counts; leaks are bugs too (detect_leaks on).
	"$OUT/$t" -max_total_time="$FUZZ_SECONDS" -timeout=10 -rss_limit_mb=2048 \
		-print_final_stats=1 -artifact_prefix="$OUT/artifacts/$t/" "${dict[@]}" "$dir" \
		>"$OUT/$t.log" 2>&1
}

mkdir -p "$OUT/gen"
for t in $TARGETS; do
	echo "fuzz: building $t"
	build "$t"
done

fail=0
pids=()
names=()
wait_one() {
	local pid=${pids[0]} name=${names[0]}
	pids=("${pids[@]:1}")
	names=("${names[@]:1}")
	if wait "$pid"; then
		echo "fuzz: $name ok, $(awk '/average_exec_per_sec/ { print $2 }' "$OUT/$name.log") exec/s"
	else
		echo "fuzz: $name FAILED, see $OUT/$name.log and $OUT/artifacts/$name/" >&2
		tail -n 40 "$OUT/$name.log" >&2
		fail=1
	fi
}
for t in $TARGETS; do
	run "$t" &
	pids+=($!)
	names+=("$t")
	if [ "${#pids[@]}" -ge "$FUZZ_JOBS" ]; then
		wait_one
	fi
done
while [ "${#pids[@]}" -gt 0 ]; do
	wait_one
done
# A scratch directory goes once all passed; crashes stay for a look.
if [ "$fail" = 0 ] && [ -z "$keep" ]; then
	rm -rf "$OUT"
fi
exit $fail
