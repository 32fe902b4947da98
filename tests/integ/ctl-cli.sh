#!/usr/bin/env bash
# mamorictl's command line, without a server: bad use gives one clear line and exit 2;
# no insecure default; a token file readable by others is refused.
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

printf 'server = https://x\nbogus = 1\nno equals here\n' >"$HOME/.config/mamori/ctl.conf"
out=$("$CTL" hosts list 2>&1); rc=$?
ok $(( rc != 2 )) "a bad config file exits 2"
printf '%s' "$out" | grep -q "ctl.conf:2: unknown key 'bogus'"; ok $? "reporting line 2"
printf '%s' "$out" | grep -q "ctl.conf:3: expected"; ok $? "and line 3 in the same run"
finish
