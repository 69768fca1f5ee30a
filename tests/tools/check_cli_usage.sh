#!/usr/bin/env bash
# The command line without an agent: every command's --help (exit 0, its
# own usage and options, the --sort keys where it sorts), `tollgate help
# COMMAND`, --version, and the usage errors the contract makes exit 2
# (unknown options and --sort keys, --api without a port or with one out of
# range, --config with --api, extra arguments).
# Usage: check_cli_usage.sh TOLLGATE
set -uo pipefail
tg=${1:?path to the tollgate binary}
fails=0
ok() { echo "ok - $*"; }
fail() { echo "not ok - $*"; fails=$((fails + 1)); }
out=$(mktemp)
trap 'rm -f "$out"' EXIT

# expect RC DESCRIPTION -- ARGS...: the exit code of tollgate ARGS
expect() {
  local want=$1 what=$2 rc=0
  shift 3
  "$tg" "$@" >"$out" 2>&1 || rc=$?
  if [ "$rc" = "$want" ]; then ok "$what ($rc)"; else fail "$what: exit $rc, expected $want"; sed 's/^/#   /' "$out"; fi
}

# The commands the overview lists, each with its options.
declare -A options=(
  [run]="--config"
  [check-config]="FILE"
  [status]="--json --sort --limit --config --api --token-env"
  [top]="--sort --limit --once --config --api --token-env"
  [reload]="--config --api --token-env"
  [detach]="--instance --force --config --api --token-env"
)
listed=$("$tg" --help | awk '/^commands:/ { on = 1; next } on && /^  [a-z]/ { print $1 }')
for cmd in "${!options[@]}"; do
  grep -qx -- "$cmd" <<<"$listed" && ok "--help lists $cmd" || fail "--help does not list $cmd"
done
for cmd in $listed; do
  [ -n "${options[$cmd]:-}" ] || fail "$cmd is listed but not checked here"
done

for cmd in "${!options[@]}"; do
  expect 0 "$cmd --help" -- "$cmd" --help
  head -1 "$out" | grep -q "^usage: tollgate $cmd" && ok "$cmd --help: its own usage line" \
    || fail "$cmd --help: usage line"
  for o in ${options[$cmd]}; do
    grep -q -- "$o" "$out" && ok "$cmd --help names $o" || fail "$cmd --help does not name $o"
  done
  expect 0 "help $cmd" -- help "$cmd"
  expect 0 "$cmd -h" -- "$cmd" -h
done
for cmd in status top; do
  "$tg" "$cmd" --help | grep -q "requests, bytes, requests_per_sec, bytes_per_sec, last_seen, address" \
    && ok "$cmd --help lists the --sort keys" || fail "$cmd --help: --sort keys"
done

expect 0 "--version" -- --version
grep -Eq '^tollgate [0-9]+\.[0-9]+\.[0-9]+$' "$out" && ok "--version: the version" || fail "--version line"
grep -Eq '^pin layout v[0-9]+$' "$out" && ok "--version: the pin layout" || fail "--version: pin layout"
grep -Eq '^libbpf [0-9]+\.[0-9]+$' "$out" && ok "--version: libbpf" || fail "--version: libbpf"

# Usage errors: exit 2 before any agent is asked (none runs on port 9).
expect 2 "no command" --
expect 2 "unknown command" -- frobnicate
expect 2 "help of an unknown command" -- help frobnicate
expect 2 "check-config without FILE" -- check-config
expect 2 "check-config with two files" -- check-config a.json b.json
expect 2 "check-config with an unknown option" -- check-config --bogus x.json
expect 2 "run with an operand" -- run extra
for cmd in status top; do
  expect 2 "$cmd: unknown --sort key" -- "$cmd" --sort nope --api 127.0.0.1:9
  expect 2 "$cmd: --limit 0" -- "$cmd" --limit 0 --api 127.0.0.1:9
  expect 2 "$cmd: --limit without a value" -- "$cmd" --limit
done
for cmd in status top reload detach; do
  expect 2 "$cmd: --api without a port" -- "$cmd" --api 127.0.0.1
  expect 2 "$cmd: --api port 0" -- "$cmd" --api 127.0.0.1:0
  expect 2 "$cmd: --api port 65536" -- "$cmd" --api 127.0.0.1:65536
  expect 2 "$cmd: --api and --config" -- "$cmd" --api 127.0.0.1:9 --config /nonexistent.json
  expect 2 "$cmd: an unknown option" -- "$cmd" --bogus
  expect 2 "$cmd: an extra argument" -- "$cmd" extra
  expect 2 "$cmd: --token-env of an unset variable" -- "$cmd" --api 127.0.0.1:9 --token-env TG_CLI_USAGE_UNSET
  expect 2 "$cmd: a config that is not JSON" -- "$cmd" --config /proc/self/cmdline
done
expect 2 "status --json takes no value" -- status --json=1
expect 2 "detach: a bad --instance" -- detach --instance 'a/b'
grep -q -- "--api 127.0.0.1: needs a port" <(env -u TOLLGATE_API_TOKEN "$tg" status --api 127.0.0.1 2>&1) \
  && ok "the --api error says what is missing" || fail "--api message"
# The messages name the option as it was typed.
msg() { # msg EXPECTED ARGS...: the first stderr line of tollgate ARGS
  local want=$1; shift
  local got; got=$("$tg" "$@" 2>&1 >/dev/null | head -1)
  [ "$got" = "$want" ] && ok "message: $want" || fail "message of $*: '$got', expected '$want'"
}
msg "tollgate status: --json takes no value" status --json=1
msg "tollgate status: --instance is not an option of this command" status --instance x
msg "tollgate status: --bogus is not an option of this command" status --bogus
msg "tollgate top: -x is not an option of this command" top -x
msg "tollgate status: --sort needs a value" status --sort
msg "tollgate status: --sort must be one of requests, bytes, requests_per_sec, bytes_per_sec, last_seen, address" status --sort nope
msg "tollgate status: --api 127.0.0.1:0: the port must be a number in 1..65535" status --api 127.0.0.1:0
msg "tollgate reload: --config and --api both name the agent: give one" reload --api 127.0.0.1:9 --config x.json
# Nothing listens on port 9: a runtime failure (1), not a usage error.
expect 1 "status with nobody at the address" -- status --api 127.0.0.1:9
expect 1 "reload with nobody at the address" -- reload --api 127.0.0.1:9

echo "$fails failed"
[ "$fails" -eq 0 ]
