#!/usr/bin/env bash
# Pending security updates (software.security_updates, agent/col_apt.c) against ground
# truth. On this machine, when apt has a security source: the list equals what apt's own
# library computes from the same files (python3-apt: for each installed package, the
# newest version in a security archive above the installed one), and every upgrade
# `apt-get -s dist-upgrade` would take from a security archive is in it. On the fixtures:
# the laptop's 11 (lz4, i386 and gzip lists, a held package, epochs, ~), the vm's unknown
# (no security source; 0 once a copy has one), the broken tree's damage reported with the
# count unknown; and on copies of the laptop: a source that is not a security one, a plain
# Release instead of an InRelease, no lists.
. "$(dirname "$0")/lib.sh"
need_cmd jq

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

inv() { "$AGENT" inventory --root "$1" 2>"$tmp/stderr"; }
# the pending list as "name:arch installed candidate[ held]" lines, sorted
pending() {
	jq -r '.software.security_updates.packages[] |
		"\(.name):\(.arch) \(.installed) \(.candidate)\(if .held then " held" else "" end)"' |
		LC_ALL=C sort
}
is() { # description, got, expected
	[ "$2" = "$3" ]
	local s=$?
	[ $s -eq 0 ] || diag "$1: got '$2', expected '$3'"
	ok $s "$1"
}

# ---- the laptop fixture ----
inv "$FIXTURES/laptop" >"$tmp/laptop.json"
ok $? "laptop: the inventory runs"
is "laptop: 11 security updates pending" \
	"$(jq .software.security_updates_pending "$tmp/laptop.json")" 11
cat >"$tmp/want" <<'EOF'
apt:amd64 2.6.1 2.6.2
libc6:i386 2.36-9+deb12u14 2.36-9+deb12u15
libssl3:amd64 3.0.19-1~deb12u2 3.0.19-1~deb12u3
openssh-server:amd64 1:9.2p1-2+deb12u6 1:9.2p1-2+deb12u7
openssl:amd64 3.0.19-1~deb12u2 3.0.19-1~deb12u3
sensible-utils:all 0.0.17+nmu1 0.0.17+nmu2 held
thunderbird:amd64 1:115.12.0-1~deb12u1 1:128.5.0esr-1~deb12u1
ufw:all 0.36.2-1 0.36.2-1+deb12u1
vim-common:all 2:9.0.1378-2+deb12u2 2:9.0.1378-2+deb12u3
vim-runtime:all 2:9.0.1378-2+deb12u2 2:9.0.1378-2+deb12u3
vim:amd64 2:9.0.1378-2+deb12u2 2:9.0.1378-2+deb12u3
EOF
LC_ALL=C sort -o "$tmp/want" "$tmp/want"
pending <"$tmp/laptop.json" >"$tmp/got"
cmp -s "$tmp/got" "$tmp/want"
ok $? "laptop: exactly the packages, versions and hold the fixture lists offer"
[ -s "$tmp/got" ] && ! cmp -s "$tmp/got" "$tmp/want" && diff "$tmp/got" "$tmp/want" | sed 's/^/# /'
is "laptop: three security lists read (lz4 amd64, lz4 i386, gzip)" \
	"$(jq '.software.security_updates.lists | length' "$tmp/laptop.json")" 3
is "laptop: complete, not truncated" \
	"$(jq -c '.software.security_updates | [.complete, .truncated, .total]' "$tmp/laptop.json")" \
	'[true,false,11]'
is "laptop: the source is named" \
	"$(jq -r '[.software.security_updates.packages[].suite] | unique | join(",")' "$tmp/laptop.json")" \
	bookworm-security
is "laptop: no errors in the software section" "$(jq '.software.errors // [] | length' "$tmp/laptop.json")" 0

# ---- vm: no security source; a copy with one, uncompressed, offering nothing newer ----
inv "$FIXTURES/vm" >"$tmp/vm.json"
is "vm: no security source, the count is unknown" \
	"$(jq -c '[.software.security_updates_pending, .software.security_updates.reason]' "$tmp/vm.json")" \
	'[null,"no security source is configured in apt"]'
mkdir -p "$tmp/vm-sec/var/lib"
cp -r "$FIXTURES/vm/var/lib/dpkg" "$FIXTURES/vm/var/lib/apt" "$tmp/vm-sec/var/lib/"
lists=$tmp/vm-sec/var/lib/apt/lists/deb.debian.org_debian-security_dists_bookworm-security
printf 'Origin: Debian\nLabel: Debian-Security\nSuite: stable-security\nCodename: bookworm-security\n' \
	>"${lists}_Release"
printf 'Package: bash\nVersion: 5.2.15-2+b8\nArchitecture: amd64\n\nPackage: base-files\nVersion: 12.4+deb12u10\nArchitecture: amd64\n' \
	>"${lists}_main_binary-amd64_Packages"
is "vm with a security source offering nothing newer: 0 pending, complete" \
	"$(inv "$tmp/vm-sec" | jq -c '[.software.security_updates_pending, .software.security_updates.complete]')" \
	'[0,true]'

# ---- broken: damage reported, the count unknown, what was found still listed ----
inv "$FIXTURES/broken" >"$tmp/broken.json"
ok $? "broken: exit 0"
grep -q -e Sanitizer -e 'runtime error' "$tmp/stderr"
ok $((!$?)) "broken: no sanitizer report"
is "broken: the count is unknown (null)" "$(jq .software.security_updates_pending "$tmp/broken.json")" null
is "broken: with the reason" "$(jq -r .software.security_updates.reason "$tmp/broken.json")" \
	"a security list could not be read"
is "broken: what the readable list offers is still listed" \
	"$(pending <"$tmp/broken.json")" "latin1-source:amd64 1.0 2.0"
errs() { jq -r --arg s "$1" '.software.errors[] | select(.source | endswith($s)) | .message' "$tmp/broken.json"; }
errs main_binary-amd64_Packages.lz4 | grep -q "corrupt or truncated"
ok $? "broken: the cut lz4 list is reported"
errs contrib_binary-amd64_Packages.xz | grep -q "format the agent does not read"
ok $? "broken: the .xz list is reported as not read"
errs non-free_binary-amd64_Packages | grep -q "ends mid-line.*4 malformed stanzas and 1 malformed"
ok $? "broken: the junk list's cut and malformed stanzas are counted"
errs /var/lib/apt/lists | grep -q "1 versions of installed packages"
ok $? "broken: a version that does not parse is counted"

# ---- copies of the laptop ----
copy() { # NAME: a root with the laptop's dpkg status and apt lists
	mkdir -p "$tmp/$1/var/lib"
	cp -r "$FIXTURES/laptop/var/lib/dpkg" "$FIXTURES/laptop/var/lib/apt" "$tmp/$1/var/lib/"
	echo "$tmp/$1"
}
root=$(copy plain-release)
rel=$root/var/lib/apt/lists/mirror.example.jp_debian-sec_dists_bookworm-security
sed -n '/^Origin/,/^Description/p' "${rel}_InRelease" >"${rel}_Release"
rm "${rel}_InRelease"
is "a plain Release file works as well" "$(inv "$root" | jq .software.security_updates_pending)" 11

root=$(copy not-security)
rel=$root/var/lib/apt/lists/mirror.example.jp_debian-sec_dists_bookworm-security_InRelease
sed -i -e 's/^Label: .*/Label: Example/' -e 's/^Suite: .*/Suite: stable/' \
	-e 's/^Codename: .*/Codename: bookworm/' "$rel"
inv "$root" >"$tmp/ns.json"
is "a source whose Release is not a security one is not read: the count is unknown" \
	"$(jq -c '[.software.security_updates_pending, .software.security_updates.reason]' "$tmp/ns.json")" \
	'[null,"no security source is configured in apt"]'

root=$(copy no-i386)
rm "$root"/var/lib/apt/lists/*binary-i386_Packages.lz4
is "without the i386 list, libc6:i386 is not pending (10)" \
	"$(inv "$root" | jq .software.security_updates_pending)" 10

root=$(copy no-lists)
rm -r "$root/var/lib/apt/lists"
is "no lists at all: unknown, and why" \
	"$(inv "$root" | jq -c '[.software.security_updates_pending, .software.security_updates.reason]')" \
	'[null,"apt has no package lists"]'

# ---- this machine, against apt itself ----
"$AGENT" inventory >"$tmp/machine.json" 2>/dev/null
if [ "$(jq '.software.security_updates.lists | length' "$tmp/machine.json")" -eq 0 ]; then
	diag "this machine has no security list in /var/lib/apt/lists: compared on fixtures only"
elif ! /usr/bin/python3 -c 'import apt_pkg' 2>/dev/null; then
	skip_all "needs python3-apt to hold this machine's figure against apt"
else
	# apt's library on the same files: the newest security version above the installed one
	/usr/bin/python3 - >"$tmp/apt-truth" <<'EOF'
import apt_pkg
apt_pkg.init()
cache = apt_pkg.Cache(None)
def security(pf):
    return ((pf.archive or "").endswith("-security") or (pf.codename or "").endswith("-security")
            or pf.label == "Debian-Security")
for pkg in cache.packages:
    cur = pkg.current_ver
    if not cur:
        continue
    best = None
    for v in pkg.version_list:
        if any(security(pf) for pf, _ in v.file_list) and \
                apt_pkg.version_compare(v.ver_str, cur.ver_str) > 0 and \
                (best is None or apt_pkg.version_compare(v.ver_str, best) > 0):
            best = v.ver_str
    if best:
        print(f"{pkg.name}:{cur.arch} {cur.ver_str} {best}")
EOF
	LC_ALL=C sort -o "$tmp/apt-truth" "$tmp/apt-truth"
	jq -r '.software.security_updates.packages[] | "\(.name):\(.arch) \(.installed) \(.candidate)"' \
		"$tmp/machine.json" | LC_ALL=C sort >"$tmp/machine"
	n=$(wc -l <"$tmp/apt-truth")
	cmp -s "$tmp/machine" "$tmp/apt-truth"
	ok $? "this machine: the pending list equals apt's ($n packages)"
	diff "$tmp/machine" "$tmp/apt-truth" | head -10 | sed 's/^/# /'
	is "this machine: the count is the list's length" \
		"$(jq .software.security_updates_pending "$tmp/machine.json")" "$n"
	# every upgrade apt-get takes from a security archive is among them
	apt-get -s -o Debug::NoLocking=1 dist-upgrade 2>/dev/null |
		awk '/^Inst / && /-security/ { print $2 }' | LC_ALL=C sort -u >"$tmp/apt-get"
	cut -d' ' -f1 "$tmp/machine" | sed 's/:.*//' | LC_ALL=C sort -u >"$tmp/names"
	missing=$(LC_ALL=C comm -23 "$tmp/apt-get" "$tmp/names")
	[ -z "$missing" ]
	ok $? "this machine: every security upgrade of apt-get -s dist-upgrade is listed ($(wc -l <"$tmp/apt-get"))"
	[ -z "$missing" ] || diag "missing: $missing"
fi
finish
