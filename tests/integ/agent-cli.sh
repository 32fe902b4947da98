#!/usr/bin/env bash
# mamori-agent's command line: bad use gives one clear line and exit status 2.
. "$(dirname "$0")/lib.sh"

out=$("$AGENT" inventory --bogus 2>&1 >/dev/null); rc=$?
ok $(( rc != 2 )) "unknown option exits 2"
ok $(( $(printf '%s\n' "$out" | wc -l) != 1 )) "with one line"
printf '%s' "$out" | grep -q -- "--bogus"; ok $? "naming the option"

out=$("$AGENT" inventory --root /nonexistent-root 2>&1 >/dev/null); rc=$?
ok $(( rc != 2 )) "missing --root exits 2"
printf '%s' "$out" | grep -q "/nonexistent-root"; ok $? "naming the directory"

"$AGENT" inventory --root "$0" >/dev/null 2>&1; rc=$?
ok $(( rc != 2 )) "a file as --root exits 2"

"$AGENT" inventory --format yaml >/dev/null 2>&1; rc=$?
ok $(( rc != 2 )) "unknown format exits 2"

"$AGENT" frobnicate >/dev/null 2>&1; rc=$?
ok $(( rc != 2 )) "unknown command exits 2"

"$AGENT" inventory --diff only-one.json >/dev/null 2>&1; rc=$?
ok $(( rc != 2 )) "--diff with one file exits 2"

empty=$(mktemp -d)
"$AGENT" inventory --root "$empty" >/dev/null 2>&1; rc=$?
ok $(( rc == 0 || rc == 2 )) "an empty root (nothing readable) exits non-zero, not as bad use"
rmdir "$empty"

"$AGENT" inventory --format json >/dev/null 2>&1; rc=$?
ok $rc "the real machine's inventory succeeds"
finish
