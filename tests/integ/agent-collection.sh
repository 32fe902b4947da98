#!/usr/bin/env bash
# `mamori-agent status --collection`: the teleworker's view of what their machine's policy
# records, in plain words, in English and Japanese; a policy the agent refuses says why.
. "$(dirname "$0")/lib.sh"

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

out=$("$AGENT" status --collection --lang en --state-dir "$tmp")
ok $? "no policy received yet: the report still works"
grep -q "profile: standard" <<<"$out"
ok $? "  the standard profile applies"
grep -A3 "Not recorded" <<<"$out" | grep -q "command lines"
ok $? "  and it says command lines are not recorded"
grep -A1 "Never recorded" <<<"$out" | grep -q "keystrokes"
ok $? "  and what is never recorded"

cat >"$tmp/policy.json" <<'P'
{"collection": {"profile": "detailed", "files": {"folders": ["/home/*/Documents"]},
 "network": {"enabled": false}}}
P
out=$("$AGENT" status --collection --lang en --state-dir "$tmp")
grep -q "with their command lines" <<<"$out"
ok $? "the saved policy's command lines are reported"
grep -q "/home/\*/Documents" <<<"$out"
ok $? "  and its watched folders"
grep -A10 "Not recorded" <<<"$out" | grep -q "Network changes"
ok $? "  and what it turned off"

out=$(LANG=ja_JP.UTF-8 LC_ALL= LC_MESSAGES= "$AGENT" status --collection --state-dir "$tmp")
grep -q "記録するもの" <<<"$out" && grep -q "コマンドライン" <<<"$out"
ok $? "a Japanese locale gets Japanese"
out=$(LANG=ja_JP.UTF-8 "$AGENT" status --collection --lang en --state-dir "$tmp")
grep -q "Recorded:" <<<"$out"
ok $? "--lang overrides the locale"

echo '{"collection": {"profile": "everything", "process": {"enabled": "yes"}}}' >"$tmp/policy.json"
err=$("$AGENT" status --collection --state-dir "$tmp" 2>&1 >/dev/null)
[ $? -eq 1 ] && grep -q "collection.profile" <<<"$err" && grep -q "collection.process.enabled" <<<"$err"
ok $? "a bad policy fails, naming every wrong field"
"$AGENT" status --collection --lang fr >/dev/null 2>&1
[ $? -eq 2 ]
ok $? "an unknown language is a usage error"
finish
