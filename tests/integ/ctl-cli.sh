#!/usr/bin/env bash
# mamorictl's command line, without a server: bad use gives one clear line and exit 2;
# no insecure default; a token file readable by others is refused; `policy check` works
# offline and reports every error of a file with its line and column.
. "$(dirname "$0")/lib.sh"
export HOME=$(mktemp -d)
unset MAMORI_SERVER MAMORI_TOKEN MAMORI_CA MAMORI_CONFIG
trap 'rm -rf "$HOME"' EXIT

out=$("$CTL" hosts list 2>&1); rc=$?
ok $(( rc != 2 )) "no server configured exits 2"
printf '%s' "$out" | grep -q "no server"; ok $? "and says so"

"$CTL" --server http://127.0.0.1:1 --token t hosts list >/dev/null 2>&1; rc=$?
ok $(( rc != 2 )) "a plain-http server URL is refused"

out=$("$CTL" --server https://127.0.0.1:1 --token t hosts list --bogus 2>&1); rc=$?
ok $(( rc != 2 )) "unknown sub-command option exits 2"
printf '%s' "$out" | grep -q -- "--bogus"; ok $? "naming it"

"$CTL" --server https://127.0.0.1:1 --token t tokens create --uses 0 >/dev/null 2>&1; rc=$?
ok $(( rc != 2 )) "--uses 0 refused"
"$CTL" --server https://127.0.0.1:1 --token t tokens create --expires 3x >/dev/null 2>&1; rc=$?
ok $(( rc != 2 )) "a bad duration refused"
"$CTL" --server https://127.0.0.1:1 --token t frobnicate >/dev/null 2>&1; rc=$?
ok $(( rc != 2 )) "unknown command exits 2"

out=$("$CTL" --server https://127.0.0.1:1 --token t hosts list 2>&1); rc=$?
ok $(( rc != 1 )) "an unreachable server exits 1"
printf '%s' "$out" | grep -q "cannot reach"; ok $? "and says why"

mkdir -p "$HOME/.config/mamori"
printf 'server = https://127.0.0.1:1\ntoken = secret\n' >"$HOME/.config/mamori/ctl.conf"
chmod 644 "$HOME/.config/mamori/ctl.conf"
out=$("$CTL" hosts list 2>&1); rc=$?
ok $(( rc != 2 )) "a world-readable config holding a token is refused"
printf '%s' "$out" | grep -q "chmod 600"; ok $? "with the fix named"
chmod 600 "$HOME/.config/mamori/ctl.conf"
out=$("$CTL" hosts list 2>&1); rc=$?
ok $(( rc != 1 )) "a private config file is used (server unreachable: exit 1)"

# policy check needs no server: none is configured here
cat >"$HOME/good.rules" <<'EOF'
# sales laptops
default block
network office: ssid "CORP-WLAN", subnet 10.20.0.0/16
read-only class mass-storage tag company-issued
block class any
EOF
cat >"$HOME/bad.rules" <<'EOF'
default bloc
allow class mass-storage colour blue
read-only class mass-storagee
network office: ssid
allow id 0781:55811 until 2020-01-01
block serial "unterminated
EOF
rm -f "$HOME/.config/mamori/ctl.conf"
out=$("$CTL" policy check "$HOME/good.rules" 2>&1); rc=$?
ok $rc "policy check: a good policy passes (exit 0), offline"
printf '%s' "$out" | grep -q "good.rules: valid, 2 rules, 1 warning"; ok $? "saying so"
printf '%s' "$out" | grep -q "good.rules:5:1: warning: this rule blocks keyboards"
ok $? "and showing its warning with line and column"
out=$("$CTL" policy check "$HOME/bad.rules" 2>&1); rc=$?
[ $rc = 1 ]; ok $? "policy check: a bad policy exits 1"
for e in "bad.rules:1:9: error" "bad.rules:2:26: error: unknown condition 'colour'" \
	"bad.rules:3:17: error: unknown class" "bad.rules:4:9: error: a network needs" \
	"bad.rules:5:10: error: '0781:55811' is not VENDOR:PRODUCT" \
	"bad.rules:6:14: error: unterminated string" "bad.rules: error: the policy must say its default"; do
	printf '%s' "$out" | grep -qF "$e"; ok $? "reports $e"
done
[ "$(printf '%s\n' "$out" | grep -c ': error: ')" = 7 ]; ok $? "every error, and only those"
printf '%s' "$out" | grep -q "7 errors: the server would refuse this policy"; ok $? "with a count"
"$CTL" policy check --json "$HOME/bad.rules" | python3 -c '
import json, sys
d = json.load(sys.stdin)
assert d["valid"] is False and len(d["errors"]) == 7, d'
ok $? "policy check --json"
"$CTL" policy check "$HOME/nothing.rules" >/dev/null 2>&1; rc=$?
[ $rc = 2 ]; ok $? "a file that does not exist: exit 2"
"$CTL" policy check >/dev/null 2>&1; rc=$?
[ $rc = 2 ]; ok $? "no file: exit 2"
"$CTL" policy frobnicate >/dev/null 2>&1; rc=$?
[ $rc = 2 ]; ok $? "an unknown policy verb: exit 2"
"$CTL" --help | grep -q "policy check FILE" && "$CTL" --help | grep -q "devices import" &&
	"$CTL" --help | grep -q "grants create"
ok $? "the help names the new commands"

printf 'server = https://x\nbogus = 1\nno equals here\n' >"$HOME/.config/mamori/ctl.conf"
out=$("$CTL" hosts list 2>&1); rc=$?
ok $(( rc != 2 )) "a bad config file exits 2"
printf '%s' "$out" | grep -q "ctl.conf:2: unknown key 'bogus'"; ok $? "reporting line 2"
printf '%s' "$out" | grep -q "ctl.conf:3: expected"; ok $? "and line 3 in the same run"
finish
