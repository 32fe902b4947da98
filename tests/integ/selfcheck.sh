#!/usr/bin/env bash
# The teleworker's self-check (`mamori-agent status --check`) as a teleworker runs it:
# the fixture laptop in Japanese and English, the language from LANG or --lang, override
# files (--catalog) and their errors with file:line, the exit status, and antivirus F-1
# against a REAL clamd: a daemon started here on a temporary LocalSocket with a signature
# database built offline by sigtool N days in the past. The self-check must say "clamd
# running (asked over its socket), definitions N days old", which clamdscan confirms.
. "$(dirname "$0")/lib.sh"
need_cmd jq

tmp=$(mktemp -d)
clamd_pid=
cleanup() {
	[ -n "$clamd_pid" ] && kill "$clamd_pid" 2>/dev/null && wait "$clamd_pid" 2>/dev/null
	rm -rf "$tmp"
}
trap cleanup EXIT

is() { # description, got, expected
	[ "$2" = "$3" ]
	local s=$?
	[ $s -eq 0 ] || diag "$1: got '$2', expected '$3'"
	ok $s "$1"
}
has() { # description, haystack, needle
	grep -qF -- "$3" <<<"$2"
	local s=$?
	[ $s -eq 0 ] || diag "$1: '$3' not in: $(head -c 400 <<<"$2")"
	ok $s "$1"
}
measure() { jq -r --arg id "$2" ".measures[] | select(.id == \$id) | $3" <<<"$1"; }

L=$FIXTURES/laptop

# --- the fixture laptop, as text in both languages ---------------------------------------
out=$(LANG=ja_JP.UTF-8 "$AGENT" status --check --root "$L")
is "laptop: exit 1 (anti-malware not met)" $? 1
has "LANG=ja_JP: Japanese, the glossary's word for not met" "$out" "[未実施]"
has "the Japanese title of mm-F-T1" "$out" "端末にウイルス対策ソフトが入っていて"
has "what to do, in Japanese (Fix-ja)" "$out" "対処: 定義ファイルが古い場合は"
has "the failure in words: how old the definitions are" "$out" "定義ファイルが"
has "the manual measures to check yourself" "$out" "自分で確認してください"
has "a manual measure's title" "$out" "パスワードを端末にメモしていない"
has "met, in the glossary's word" "$out" "[実施済み] 離席時に画面がロックされる"
out=$(LC_ALL=C LANG=ja_JP.UTF-8 "$AGENT" status --check --root "$L")
has "LC_ALL=C wins over LANG: English" "$out" "[not met] Your endpoint has anti-malware"
out=$(LANG=en_US.UTF-8 "$AGENT" status --check --root "$L" --lang ja)
has "--lang ja wins over the environment" "$out" "[未実施]"
out=$(LANG=ja_JP.UTF-8 "$AGENT" status --check --root "$L" --lang en)
has "--lang en: English" "$out" "What to do: If the definitions are old"
has "the server-decided Wi-Fi measure says so" "$out" "the management server decides this one"

# --- JSON, and the counts agree with the text --------------------------------------------
json=$("$AGENT" status --check --root "$L" --json)
is "JSON: mm-F-T1 not met" "$(measure "$json" mm-F-T1 .status)" not_met
is "JSON: its evidence: definitions age from the database header" \
	"$(measure "$json" mm-F-T1 .evidence.definitions_age_days)" \
	"$(( ($(date +%s) - $(jq -r '.security.antivirus.clamav.definitions_newest_build_time' \
		<<<"$("$AGENT" inventory --root "$L")")) / 86400 ))"
is "JSON: the screen lock is met (300 s ≤ 10 min)" "$(measure "$json" mm-H-T1 .status)" met
is "JSON: only teleworker measures" \
	"$(jq '[.measures[].id] | map(select(test("-T[0-9]+$") | not)) | length' <<<"$json")" 0
is "JSON: manual measures carry no status" "$(measure "$json" mm-H-T2 '.status // "none"')" none
is "JSON: all_met false" "$(jq .all_met <<<"$json")" false

# --- an organisation's override file -----------------------------------------------------
cat >"$tmp/org.txt" <<'EOF'
# our laptops run without ClamAV real-time scanning; we track updates elsewhere
Measure: mm-F-T1
Disabled: yes

Measure: mm-C-T1
Disabled: yes
EOF
json=$("$AGENT" status --check --root "$L" --catalog "$tmp/org.txt" --json)
is "override: exit 0 once the failing and undecidable measures are disabled" $? 0
is "override: disabled measures are gone" "$(measure "$json" mm-F-T1 .id)" ""
is "override: all_met true" "$(jq .all_met <<<"$json")" true
printf 'Measure: mm-H-T1\nParam-max-minutes: 2\n' >"$tmp/strict.txt"
json=$("$AGENT" status --check --root "$L" --catalog "$tmp/org.txt" --catalog "$tmp/strict.txt" \
	--json)
is "a second override tightens the screen-lock threshold: exit 1" $? 1
is "  and H-T1 is not met at 300 s against 2 minutes" "$(measure "$json" mm-H-T1 .status)" not_met
printf '# bad\nMeasure: mm-H-T1\nParam-max-minutes: soon\nColour: blue\n' >"$tmp/bad.txt"
err=$("$AGENT" status --check --root "$L" --catalog "$tmp/bad.txt" 2>&1 >/dev/null)
is "a bad override: exit 2, nothing checked" $? 2
has "  its errors come with file:line" "$err" "$tmp/bad.txt:3:1: error: Measure mm-H-T1: Param-max-minutes"
has "  every error in one pass" "$err" "$tmp/bad.txt:4:1: error: Measure mm-H-T1: unknown field 'Colour'"
"$AGENT" status --check --lang fr >/dev/null 2>&1
is "--lang fr is bad use" $? 2

# --- a real clamd ------------------------------------------------------------------------
if ! command -v clamd >/dev/null || ! command -v sigtool >/dev/null ||
	! command -v faketime >/dev/null; then
	diag "clamd, sigtool or faketime missing: the real-clamd part is skipped"
	[ -n "${MAMORI_REQUIRE_ALL:-}" ] && ok 1 "clamd, sigtool and faketime are needed"
	finish
fi
N=10
R=$tmp/root
mkdir -p "$tmp/db" "$tmp/empty" "$R/var/lib/clamav" "$R/var/lib/dpkg" "$R/etc/clamav" "$R/proc/2101" \
	"$R/proc/2103"
(
	cd "$tmp/db" || exit 1
	echo "mamori self-check sample" >sample.txt
	sigtool --md5 sample.txt >daily.hdb
	echo "ClamAV test database, built by tests/integ/selfcheck.sh" >COPYING
	# sigtool asks for the builder's name on stdin; the fake clock is N days back
	echo mamori | TZ=UTC faketime -f "-${N}d" sigtool --build=daily.cud --unsigned \
		--cvd-version=27100 --datadir="$tmp/empty" >build.log 2>&1
)
ok $? "sigtool builds a daily.cud $N days old"
cp "$tmp/db/daily.cud" "$R/var/lib/clamav/"
printf 'Package: clamav\nStatus: install ok installed\nVersion: 1.4.6+dfsg-0+deb12u1\n\n' \
	>"$R/var/lib/dpkg/status"
printf 'LocalSocket %s\nDatabaseDirectory /var/lib/clamav\nOnAccessIncludePath /home\n' \
	"$tmp/clamd.sock" >"$R/etc/clamav/clamd.conf"
echo clamd >"$R/proc/2101/comm"
echo clamonacc >"$R/proc/2103/comm"
cat >"$tmp/clamd.conf" <<EOF
LocalSocket $tmp/clamd.sock
DatabaseDirectory $tmp/clamav-db
Foreground yes
LogFile $tmp/clamd.log
EOF
mkdir -p "$tmp/clamav-db"
cp "$tmp/db/daily.cud" "$tmp/clamav-db/"
clamd -c "$tmp/clamd.conf" >"$tmp/clamd.out" 2>&1 &
clamd_pid=$!
for _ in $(seq 1 150); do
	[ -S "$tmp/clamd.sock" ] && break
	sleep 0.2
done
[ -S "$tmp/clamd.sock" ]
ok $? "clamd listens on a temporary LocalSocket"
truth=$(clamdscan -c "$tmp/clamd.conf" --version 2>/dev/null) # "ClamAV 1.4.6/27100/…"
diag "clamdscan says: $truth"

json=$("$AGENT" status --check --root "$R" --clamd-socket "$tmp/clamd.sock" --json)
is "with clamd running: exit 1 (definitions too old)" $? 1
ev() { measure "$json" mm-F-T1 ".evidence.$1"; }
is "the probe decided whether clamd runs" "$(ev clamd_checked_by)" probe
is "clamd answers PING: running" "$(ev clamd_running)" true
is "its engine version, as clamdscan reports it" "$(ev clamd_version)" \
	"$(sed -n 's|^ClamAV \([^/]*\)/.*|\1|p' <<<"$truth")"
is "the daily database version clamd loaded, as clamdscan reports it" "$(ev daily_version)" \
	"$(cut -d/ -f2 <<<"$truth")"
is "definitions $N days old" "$(ev definitions_age_days)" "$N"
is "F-1's verdict: not met, the definitions are too old" "$(measure "$json" mm-F-T1 .status)" \
	not_met
is "  and only that: real-time scanning is on" "$(ev 'failed | join(",")')" definitions_too_old
printf 'Measure: mm-F-T1\nParam-max-definitions-age-days: %d\n' "$N" >"$tmp/n.txt"
json=$("$AGENT" status --check --root "$R" --clamd-socket "$tmp/clamd.sock" --catalog "$tmp/n.txt" \
	--json)
is "with N = $N allowed, the same clamd and database: met" "$(measure "$json" mm-F-T1 .status)" met

kill "$clamd_pid" && wait "$clamd_pid" 2>/dev/null
clamd_pid=
json=$("$AGENT" status --check --root "$R" --clamd-socket "$tmp/clamd.sock" --catalog "$tmp/n.txt" \
	--json)
is "clamd stopped (its pid still listed): the probe says not running" "$(ev clamd_running)" false
is "  and F-1 is not met for that" "$(ev 'failed | join(",")')" clamd_not_running
finish
