#!/usr/bin/env bash
# The software section against ground truth: on this machine and on the laptop fixture the
# dpkg packages equal what dpkg-query -W lists (same packages, versions, source packages,
# source versions and states); the fixtures' snaps, flatpaks and apt facts are what their
# files say; a truncated status file loses only its cut stanza, with an error.
. "$(dirname "$0")/lib.sh"
need_cmd jq

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# dpkg-query's view and ours as the same TSV lines:
#   binary:Package  Version  source:Package  source:Version  Status
# ${binary:Package} carries ":arch" for Multi-Arch: same packages and for foreign ones.
QUERY_FORMAT='${binary:Package}\t${Version}\t${source:Package}\t${source:Version}\t${Status}\n'
as_dpkg_query() { # inventory.json, native arch
	jq -r --arg native "$2" '.software.packages[] | select(.manager == "dpkg") |
		[ (if .multi_arch == "same" or (.arch != $native and .arch != "all" and .arch != "")
		   then .name + ":" + .arch else .name end),
		  (.version // ""), (.source // ""), (.source_version // ""), .status ] | @tsv' "$1" |
		LC_ALL=C sort
}
compare_dpkg() { # root, what
	local root=$1 what=$2 admindir=$1/var/lib/dpkg try
	for try in 1 2; do # another process may install a package between the two reads
		"$AGENT" inventory --root "$root" >"$tmp/inv.json" 2>/dev/null
		as_dpkg_query "$tmp/inv.json" "$(dpkg --print-architecture)" >"$tmp/ours"
		dpkg-query --admindir="$admindir" -W -f="$QUERY_FORMAT" | LC_ALL=C sort >"$tmp/theirs"
		cmp -s "$tmp/ours" "$tmp/theirs" && break
		sleep 2
	done
	if cmp -s "$tmp/ours" "$tmp/theirs"; then
		ok 0 "$what: software.packages (dpkg) equals dpkg-query -W ($(wc -l <"$tmp/ours") packages)"
	else
		ok 1 "$what: software.packages (dpkg) equals dpkg-query -W"
		diag "first differences (< inventory, > dpkg-query):"
		diff "$tmp/ours" "$tmp/theirs" | head -20 | while IFS= read -r l; do diag "$l"; done
	fi
}
pkg() { # inventory.json, manager, name, [arch] → the package object or null
	jq -c --arg m "$2" --arg n "$3" --arg a "${4:-}" \
		'[.software.packages[] | select(.manager == $m and .name == $n and
		  ($a == "" or .arch == $a))][0]' "$1"
}
val() { jq -r "$2" "$1"; }

# --- this machine -------------------------------------------------------------------------
if command -v dpkg-query >/dev/null && [ -f /var/lib/dpkg/status ]; then
	compare_dpkg / "this machine"
	start=$(date +%s%N)
	"$AGENT" inventory >/dev/null 2>&1
	end=$(date +%s%N)
	diag "whole inventory of this machine: $(((end - start) / 1000000)) ms (sanitizer build)"
else
	diag "no dpkg here: this machine's comparison skipped"
fi

# --- laptop fixture -----------------------------------------------------------------------
L=$FIXTURES/laptop
"$AGENT" inventory --root "$L" >"$tmp/laptop.json"
ok $? "laptop fixture: inventory succeeds"
if command -v dpkg-query >/dev/null && [ "$(dpkg --print-architecture)" = amd64 ]; then
	compare_dpkg "$L" "laptop fixture"
fi
for p in clamav clamav-base clamav-freshclam clamav-daemon; do
	[ "$(pkg "$tmp/laptop.json" dpkg $p | jq -r .installed)" = true ]
	ok $? "laptop: ClamAV package $p is installed"
done
[ "$(pkg "$tmp/laptop.json" dpkg bsdutils | jq -r '.source + " " + .source_version')" = \
	"util-linux 2.38.1-5+deb12u3" ]
ok $? "laptop: Source 'x (ver)' gives source x and version ver"
[ "$(pkg "$tmp/laptop.json" dpkg libc6 amd64 | jq -r '.source + " " + .source_version')" = \
	"glibc 2.36-9+deb12u14" ]
ok $? "laptop: Source 'x' gives source x and the binary's version"
[ "$(pkg "$tmp/laptop.json" dpkg libc6 i386 | jq -r .multi_arch)" = same ]
ok $? "laptop: libc6 is listed in its second architecture (i386)"
[ "$(pkg "$tmp/laptop.json" dpkg firefox-esr | jq -r '.status + " " + (.installed|tostring)')" = \
	"deinstall ok config-files false" ]
ok $? "laptop: a config-files package is listed as not installed"
[ "$(pkg "$tmp/laptop.json" dpkg telnet)" = null ]
ok $? "laptop: a not-installed stanza (purge ok not-installed) is not listed"
[ "$(val "$tmp/laptop.json" '.software.dpkg_native_arch')" = amd64 ]
ok $? "laptop: native architecture amd64"
[ "$(val "$tmp/laptop.json" '.software.counts | "\(.dpkg) \(.snap) \(.flatpak)"')" = "49 2 3" ]
ok $? "laptop: counts per manager (49 dpkg, 2 snaps, 3 flatpaks)"
[ "$(pkg "$tmp/laptop.json" snap firefox | jq -r '.version + " " + .revision + " " + .arch')" = \
	"126.0.1-1 4259 amd64" ]
ok $? "laptop: snap firefox: the current revision's version and architecture"
[ "$(pkg "$tmp/laptop.json" snap core22 | jq -r '.version + " " + .type')" = "20240408 base" ]
ok $? "laptop: snap core22: quoted version, inline architectures, type"
[ "$(pkg "$tmp/laptop.json" flatpak org.mozilla.firefox |
	jq -r '.version + " " + .origin + " " + .branch + " " + .arch')" = \
	"126.0.1 flathub stable x86_64" ]
ok $? "laptop: flatpak app: version from the deploy record, origin, branch"
[ "$(pkg "$tmp/laptop.json" flatpak org.freedesktop.Platform//23.08 | jq -r .version)" = 23.08.21 ]
ok $? "laptop: flatpak runtime branches are separate packages (ID//BRANCH)"
[ "$(val "$tmp/laptop.json" '.software.apt.security_source')" = true ]
ok $? "laptop: apt has a security source"
[ "$(val "$tmp/laptop.json" '.software.errors // [] | length')" = 0 ]
ok $? "laptop: no errors in the software section"

# apt's last update: the newest of partial/ and the lists' times
cp -a "$L" "$tmp/laptop"
touch -d @1700000000 "$tmp/laptop/var/lib/apt/lists/"*
touch -d @1714000000 "$tmp/laptop/var/lib/apt/lists/partial"
mkdir -p "$tmp/laptop/var/lib/rpm" && : >"$tmp/laptop/var/lib/rpm/rpmdb.sqlite"
"$AGENT" inventory --root "$tmp/laptop" >"$tmp/l2.json"
[ "$(val "$tmp/l2.json" '.software.apt.last_update')" = 1714000000 ]
ok $? "apt last update: the time apt last touched lists/partial"
val "$tmp/l2.json" '.software.errors[]?.source' | grep -qx /var/lib/rpm/rpmdb.sqlite
ok $? "an RPM database is reported as present but not read"

# an unreadable database is an error and no count (never "0 packages")
mkdir -p "$tmp/unreadable/var/lib/dpkg/status" "$tmp/unreadable/etc"
echo "root:x:0:0:root:/root:/bin/sh" >"$tmp/unreadable/etc/passwd"
"$AGENT" inventory --root "$tmp/unreadable" >"$tmp/u.json" 2>/dev/null
[ "$(val "$tmp/u.json" '.software.counts.dpkg')" = null ] &&
	val "$tmp/u.json" '.software.errors[].source' | grep -qx /var/lib/dpkg/status
ok $? "an unreadable status file: an error, and no dpkg count"

# --- vm fixture ---------------------------------------------------------------------------
"$AGENT" inventory --root "$FIXTURES/vm" >"$tmp/vm.json"
ok $? "vm fixture: inventory succeeds"
[ "$(val "$tmp/vm.json" '.software.counts | keys | join(",")')" = dpkg ]
ok $? "vm: only dpkg is counted (no snapd, no flatpak)"
[ "$(val "$tmp/vm.json" '.software.apt.security_source')" = false ]
ok $? "vm: no security source in apt's lists"

# --- broken fixture -----------------------------------------------------------------------
"$AGENT" inventory --root "$FIXTURES/broken" >"$tmp/broken.json" 2>/dev/null
ok $? "broken fixture: inventory succeeds"
val "$tmp/broken.json" '.software.errors[].message' | grep -q "ends mid-line"
ok $? "broken: the truncated status file is reported"
[ "$(pkg "$tmp/broken.json" dpkg coreutils)" = null ]
ok $? "broken: the cut stanza is dropped, not half-read"
[ "$(pkg "$tmp/broken.json" dpkg bash | jq -r .version)" = 5.2.15-2+b8 ]
ok $? "broken: whole stanzas before the cut are listed"
[ "$(pkg "$tmp/broken.json" dpkg junk | jq -r '.version')" = null ]
ok $? "broken: junk in a Version field gives null, and the package stays listed"
[ "$(val "$tmp/broken.json" '.software.apt.security_source')" = true ]
ok $? "broken: a security suite found in an InRelease header"
finish
