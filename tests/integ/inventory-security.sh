#!/usr/bin/env bash
# The security section against the fixture trees, against a ClamAV database built for
# real by sigtool, and against this machine. Ground truth comes from outside the agent:
# `sigtool --info` for database headers, `date` for ages, dpkg-query for packages, and
# `sshd -T` for sshd's effective settings when an sshd is installed.
. "$(dirname "$0")/lib.sh"
need_cmd jq

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# Runs the agent on a root: $doc is the security section, $t0 and $t1 the clock before and
# after, so ages can be checked exactly (a day boundary may pass in between).
run() {
	local s
	t0=$(date +%s)
	doc=$("$AGENT" inventory --root "$1" 2>"$tmp/stderr" | jq -c '.security')
	s=$?
	t1=$(date +%s)
	return $s
}
q() { jq -r "$2" <<<"$1"; }      # document, jq filter → raw value
is() { # description, got, expected
	[ "$2" = "$3" ]
	local s=$?
	[ $s -eq 0 ] || diag "$1: got '$2', expected '$3'"
	ok $s "$1"
}
within() { # description, got, low, high
	[ "$2" -ge "$3" ] && [ "$2" -le "$4" ]
	local s=$?
	[ $s -eq 0 ] || diag "$1: got $2, expected $3..$4"
	ok $s "$1"
}
age_days() { echo $((($1 - $2) / 86400)); } # now, then → whole days between
line_of() { grep -n -m1 -- "$2" "$1" | cut -d: -f1; } # file, pattern → its line number

# sigtool --info prints a header's fields (and then fails verification for a bare header)
sigtool_field() { sigtool --info "$1" 2>/dev/null | sed -n "s/^$2: //p" | head -1; }

check_definitions() { # what, section JSON, root: each database as sigtool reads it
	local what=$1 doc=$2 root=$3 dir n i file name stime
	dir=$(q "$doc" '.antivirus.clamav.database_directory')
	[ "$dir" = / ] || dir=${dir%/}
	n=$(q "$doc" '.antivirus.clamav.definitions | length')
	for ((i = 0; i < n; i++)); do
		file=$(q "$doc" ".antivirus.clamav.definitions[$i].file")
		name=$(basename "$file")
		is "$what: $name is in the database directory" "$(dirname "$file")" "$dir"
		if command -v sigtool >/dev/null; then
			is "$what: $name version as sigtool reads it" \
				"$(q "$doc" ".antivirus.clamav.definitions[$i].version")" \
				"$(sigtool_field "$root$file" Version)"
			is "$what: $name signatures as sigtool reads it" \
				"$(q "$doc" ".antivirus.clamav.definitions[$i].signatures")" \
				"$(sigtool_field "$root$file" Signatures)"
			is "$what: $name functionality level as sigtool reads it" \
				"$(q "$doc" ".antivirus.clamav.definitions[$i].functionality_level")" \
				"$(sigtool_field "$root$file" 'Functionality level')"
		fi
		stime=$(head -c 512 "$root$file" | cut -d: -f9 | tr -d ' ')
		is "$what: $name build time is the header's stime" \
			"$(q "$doc" ".antivirus.clamav.definitions[$i].build_time")" "$stime"
		within "$what: $name age in days" "$(q "$doc" ".antivirus.clamav.definitions[$i].age_days")" \
			"$(age_days "$t0" "$stime")" "$(age_days "$t1" "$stime")"
	done
	is "$what: newest build time is the largest" \
		"$(q "$doc" '.antivirus.clamav.definitions_newest_build_time')" \
		"$(q "$doc" '[.antivirus.clamav.definitions[].build_time] | max')"
	is "$what: minimum age is the smallest" \
		"$(q "$doc" '.antivirus.clamav.definitions_min_age_days')" \
		"$(q "$doc" '[.antivirus.clamav.definitions[].age_days] | min')"
}

# --- the laptop fixture -----------------------------------------------------------------
L=$FIXTURES/laptop
run "$L"
ok $? "laptop: inventory runs"
is "laptop: no errors in the security section" "$(q "$doc" '.errors // [] | length')" 0
is "laptop: ClamAV installed" "$(q "$doc" '.antivirus.clamav.installed')" true
if [ -f "$L/var/lib/dpkg/status" ]; then
	want=$(awk '/^Package: clamav$/{p=1} p&&/^Version:/{print $2; exit} /^$/{p=0}' \
		"$L/var/lib/dpkg/status")
	is "laptop: ClamAV version from dpkg" "$(q "$doc" '.antivirus.clamav.version')" "${want:-null}"
else
	diag "laptop: no var/lib/dpkg/status in this tree yet (status.security-part is merged into it)"
	is "laptop: without dpkg, ClamAV is found by its binary" \
		"$(q "$doc" '.antivirus.clamav.installed_evidence')" /usr/bin/clamscan
fi
is "laptop: clamd runs with the fixture's pid" "$(q "$doc" '.antivirus.clamav.clamd_pid')" \
	"$(basename "$(dirname "$(grep -lx clamd "$L"/proc/*/comm)")")"
is "laptop: freshclam runs" "$(q "$doc" '.antivirus.clamav.freshclam_running')" true
is "laptop: clamonacc does not run" "$(q "$doc" '.antivirus.clamav.clamonacc_running')" false
is "laptop: on-access scanning configured" \
	"$(q "$doc" '.antivirus.clamav.clamd_conf.on_access_configured')" true
is "laptop: on-access paths, quotes removed" \
	"$(q "$doc" '.antivirus.clamav.clamd_conf.on_access_include_paths | join(",")')" \
	"$(sed -n 's/^OnAccessIncludePath "\{0,1\}\([^"]*\)"\{0,1\}$/\1/p' "$L/etc/clamav/clamd.conf" | paste -sd,)"
is "laptop: OnAccessPrevention" "$(q "$doc" '.antivirus.clamav.clamd_conf.on_access_prevention')" true
is "laptop: database directory from clamd.conf" \
	"$(q "$doc" '.antivirus.clamav.database_directory_source')" \
	"/etc/clamav/clamd.conf:$(line_of "$L/etc/clamav/clamd.conf" '^DatabaseDirectory')"
is "laptop: three databases" "$(q "$doc" '.antivirus.clamav.definitions | length')" \
	"$(find "$L/var/lib/clamav" -name '*.c[vlu]d' | wc -l)"
check_definitions laptop "$doc" "$L"
is "laptop: no other antivirus product" "$(q "$doc" '.antivirus.other_products | length')" 0

is "laptop: ufw enabled" "$(q "$doc" '.firewall.ufw.enabled')" true
is "laptop: ufw's source line" "$(q "$doc" '.firewall.ufw.source')" \
	"/etc/ufw/ufw.conf:$(line_of "$L/etc/ufw/ufw.conf" '^ENABLED=')"
is "laptop: Debian's empty nftables.conf has no rules" \
	"$(q "$doc" '.firewall.nftables.config.rules')" 0
is "laptop: firewall configured" "$(q "$doc" '.firewall.firewall_configured')" true
is "laptop: with one piece of evidence" "$(q "$doc" '.firewall.evidence | length')" 1

A=$L/etc/apt/apt.conf.d
is "laptop: unattended-upgrades installed" \
	"$(q "$doc" '.auto_updates.unattended_upgrades_installed')" true
is "laptop: Unattended-Upgrade from 20auto-upgrades, not the .dpkg-old file" \
	"$(q "$doc" '.auto_updates.unattended_upgrade | "\(.value) \(.source)"')" \
	"1 /etc/apt/apt.conf.d/20auto-upgrades:$(line_of "$A/20auto-upgrades" Unattended-Upgrade)"
is "laptop: the nested form is read" \
	"$(q "$doc" '.auto_updates.download_upgradeable_packages | "\(.value) \(.source)"')" \
	"1 /etc/apt/apt.conf.d/10periodic:$(line_of "$A/10periodic" Download-Upgradeable)"
is "laptop: automatic updates configured" "$(q "$doc" '.auto_updates.auto_updates_configured')" true

S=$L/etc/ssh/sshd_config
is "laptop: PermitRootLogin from sshd_config" \
	"$(q "$doc" '.ssh.permit_root_login | "\(.value) \(.source)"')" \
	"no /etc/ssh/sshd_config:$(line_of "$S" '^PermitRootLogin')"
is "laptop: the included drop-in's PasswordAuthentication wins" \
	"$(q "$doc" '.ssh.password_authentication | "\(.value) \(.source)"')" \
	"false /etc/ssh/sshd_config.d/50-telework.conf:$(line_of "$S.d/50-telework.conf" Password)"
is "laptop: unset PubkeyAuthentication is sshd's default" \
	"$(q "$doc" '.ssh.pubkey_authentication | "\(.value) \(.source)"')" "true default"
is "laptop: the Match block is counted" "$(q "$doc" '.ssh.match_blocks')" \
	"$(grep -c '^Match' "$S")"

is "laptop: timesyncd enabled" "$(q "$doc" '.time_sync.timesyncd.enabled')" true
is "laptop: timesyncd runs (comm cut to 15 bytes)" "$(q "$doc" '.time_sync.timesyncd.running')" true
is "laptop: configured NTP server" \
	"$(q "$doc" '[.time_sync.servers[] | select(.kind == "ntp") | .name] | join(",")')" \
	"$(sed -n 's/^NTP=//p' "$L/etc/systemd/timesyncd.conf" | tr ' ' ,)"
is "laptop: time sync configured" "$(q "$doc" '.time_sync.time_sync_configured')" true

D=$L/etc/dconf/db/local.d/00-screensaver
is "laptop: screen lock enabled, locked, from the dconf keyfile" \
	"$(q "$doc" '.screen_lock.gnome.lock_enabled | "\(.value) \(.locked) \(.source)"')" \
	"true true /etc/dconf/db/local.d/00-screensaver:$(line_of "$D" lock-enabled)"
is "laptop: idle delay" "$(q "$doc" '.screen_lock.idle_delay_seconds')" \
	"$(sed -n 's/^idle-delay=uint32 //p' "$D")"
is "laptop: screen lock state found" "$(q "$doc" '.screen_lock.state')" found

# --- the vm fixture -----------------------------------------------------------------------
V=$FIXTURES/vm
run "$V"
ok $? "vm: inventory runs"
is "vm: no errors in the security section" "$(q "$doc" '.errors // [] | length')" 0
is "vm: no ClamAV" "$(q "$doc" '.antivirus.clamav.installed')" false
is "vm: no definitions" "$(q "$doc" '.antivirus.clamav.definitions | length')" 0
is "vm: PermitRootLogin yes" "$(q "$doc" '.ssh.permit_root_login | "\(.value) \(.source)"')" \
	"yes /etc/ssh/sshd_config:$(line_of "$V/etc/ssh/sshd_config" '^PermitRootLogin')"
is "vm: no firewall" "$(q "$doc" '.firewall.firewall_configured')" false
is "vm: no automatic updates (apt's defaults)" \
	"$(q "$doc" '.auto_updates | "\(.auto_updates_configured) \(.unattended_upgrade.source)"')" \
	"false default"
is "vm: no time sync" "$(q "$doc" '.time_sync.time_sync_configured')" false
is "vm: screen lock unknown" "$(q "$doc" '.screen_lock | "\(.state) \(.lock_enabled)"')" \
	"unknown null"

# --- sshd itself as the oracle, when one is installed ---------------------------------
if command -v sshd >/dev/null && [ "$(id -u)" -eq 0 ] && getent passwd sshd >/dev/null; then
	declare -A field=([permitrootlogin]=permit_root_login
		[passwordauthentication]=password_authentication
		[kbdinteractiveauthentication]=kbd_interactive_authentication
		[pubkeyauthentication]=pubkey_authentication
		[permitemptypasswords]=permit_empty_passwords)
	ssh-keygen -q -t ed25519 -N '' -f "$tmp/hostkey"
	for f in laptop vm; do
		mkdir -p "$tmp/$f.d"
		cp "$FIXTURES/$f"/etc/ssh/sshd_config.d/* "$tmp/$f.d/" 2>/dev/null
		sed "s|/etc/ssh/sshd_config.d|$tmp/$f.d|" "$FIXTURES/$f/etc/ssh/sshd_config" >"$tmp/$f.conf"
		run "$FIXTURES/$f"
		if ! sshd -T -f "$tmp/$f.conf" -h "$tmp/hostkey" >"$tmp/$f.T" 2>&1; then
			diag "$f: sshd -T failed, not used as an oracle: $(head -1 "$tmp/$f.T")"
			continue
		fi
		for k in "${!field[@]}"; do
			got=$(q "$doc" ".ssh.${field[$k]}.value" | sed 's/^true$/yes/; s/^false$/no/')
			is "$f: $k as sshd -T says" "$got" "$(sed -n "s/^$k //p" "$tmp/$f.T")"
		done
	done
else
	diag "no sshd (openssh-server) here: sshd -T not used as an oracle"
fi

# --- the broken fixture: damage reported, the rest still read ----------------------------
B=$FIXTURES/broken
run "$B"
ok $? "broken: inventory runs (no crash)"
has_error() { q "$doc" "[.errors // [] | .[].source | select(. == \"$1\" or startswith(\"$1:\"))] | length > 0"; }
for src in /var/lib/clamav/daily.cvd /var/lib/clamav/main.cvd /var/lib/clamav/bytecode.cld \
	/etc/clamav/clamd.conf /etc/nftables.conf /etc/apt/apt.conf.d/30nested; do
	is "broken: $src reported" "$(has_error "$src")" true
done
is "broken: binary junk in apt.conf.d reported at its line" \
	"$(q "$doc" '[.errors[] | select(.source | startswith("/etc/apt/apt.conf.d/20auto-upgrades:"))] | length')" 1
is "broken: the Include loop is reported once" \
	"$(q "$doc" '[.errors[] | select(.message | contains("Include loop"))] | length')" 1
is "broken: a setting after the loop is still read" \
	"$(q "$doc" '.ssh.pubkey_authentication | "\(.value) \(.source)"')" \
	"false /etc/ssh/sshd_config:$(line_of "$B/etc/ssh/sshd_config" Pubkey)"
is "broken: the truncated main.cvd is listed as truncated" \
	"$(q "$doc" '.antivirus.clamav.definitions[] | select(.name == "main") | .truncated')" true
is "broken: a header without stime is dated from its date text" \
	"$(q "$doc" '.antivirus.clamav.definitions[] | select(.name == "safebrowsing") | .build_time')" \
	"$(date -u -d '03 Mar 2019 10:00 +0000' +%s)"
is "broken: the example clamd.conf is noted" \
	"$(q "$doc" '.antivirus.clamav.clamd_conf.example')" true

# --- a real ClamAV database, built offline by sigtool under a fake clock ----------------
if command -v sigtool >/dev/null && command -v faketime >/dev/null; then
	R=$tmp/root
	mkdir -p "$tmp/db" "$tmp/empty" "$R/var/lib/clamav" "$R/var/lib/dpkg" "$R/etc/clamav"
	(
		cd "$tmp/db" || exit 1
		echo "mamori integration test sample" >sample.txt
		sigtool --md5 sample.txt >daily.hdb
		echo "ClamAV test database, built by tests/integ/inventory-security.sh" >COPYING
		# sigtool asks for the builder's name on stdin; TZ pins the fake clock to UTC
		echo mamori | TZ=UTC faketime '2024-01-01 00:00:00' sigtool --build=daily.cud \
			--unsigned --cvd-version=27100 --datadir="$tmp/empty" >build.log 2>&1
		rm -f daily.info
		mv daily.hdb main.hdb
		date +%s >built
		echo mamori | sigtool --build=main.cvd --unsigned --cvd-version=63 \
			--datadir="$tmp/empty" >>build.log 2>&1
	)
	ok $? "sigtool builds an old daily.cud and a fresh main.cvd"
	if command -v clamscan >/dev/null; then
		clamscan --no-summary -d "$tmp/db/daily.cud" "$tmp/db/sample.txt" >/dev/null 2>&1
		is "clamscan loads the database and finds the sample in it" $? 1
	fi
	cp "$tmp/db/daily.cud" "$tmp/db/main.cvd" "$R/var/lib/clamav/"
	cp "$tmp/db/daily.cud" "$R/var/lib/clamav/daily.cld" # a .cld of the same name as well
	printf 'Package: clamav\nStatus: install ok installed\nVersion: 1.4.6+dfsg-0+deb12u1\n\n' \
		>"$R/var/lib/dpkg/status"
	# a trailing slash, as administrators write it: file names must not get "//"
	printf 'LocalSocket /run/clamav/clamd.ctl\nDatabaseDirectory /var/lib/clamav/\n' \
		>"$R/etc/clamav/clamd.conf"
	mkdir -p "$R/proc"
	built=$(cat "$tmp/db/built")
	run "$R"
	ok $? "the temp root's inventory runs"
	is "no errors" "$(q "$doc" '.errors // [] | length')" 0
	is "ClamAV version from the dpkg status" "$(q "$doc" '.antivirus.clamav.version')" \
		1.4.6+dfsg-0+deb12u1
	is "daily.cld and daily.cud both reported" \
		"$(q "$doc" '[.antivirus.clamav.definitions[] | select(.name == "daily")] | length')" 2
	d='.antivirus.clamav.definitions[] | select(.file == "/var/lib/clamav/daily.cud")'
	is "daily.cud version" "$(q "$doc" "$d | .version")" 27100
	is "daily.cud signatures as sigtool counts them" "$(q "$doc" "$d | .signatures")" \
		"$(sigtool_field "$R/var/lib/clamav/daily.cud" Signatures)"
	is "daily.cud builder" "$(q "$doc" "$d | .builder")" mamori
	is "daily.cud build time: 2024-01-01T00:00:00Z" "$(q "$doc" "$d | .build_time")" \
		"$(date -u -d 2024-01-01 +%s)"
	then=$(date -u -d 2024-01-01 +%s)
	within "daily.cud age: the days since 2024-01-01" "$(q "$doc" "$d | .age_days")" \
		"$(age_days "$t0" "$then")" "$(age_days "$t1" "$then")"
	is "the fresh main.cvd makes the minimum age 0" \
		"$(q "$doc" '.antivirus.clamav.definitions_min_age_days')" 0
	within "and the newest build time is today's build" \
		"$(q "$doc" '.antivirus.clamav.definitions_newest_build_time')" "$built" "$t1"
	check_definitions sigtool "$doc" "$R"
else
	diag "no sigtool or faketime: the real-database test is skipped (tools/deps test installs them)"
fi

# --- other products, by path and by process ---------------------------------------------
P=$tmp/products
mkdir -p "$P/opt/microsoft/mdatp" "$P/proc/3001" "$P/proc/3002" "$P/proc/3003"
echo wdavdaemon >"$P/proc/3001/comm"
echo startd >"$P/proc/3002/comm"
ln -s /usr/bin/startd "$P/proc/3002/exe" # some other program's "startd"
echo startd >"$P/proc/3003/comm"
ln -s /opt/eset/eea/lib/startd "$P/proc/3003/exe"
run "$P"
is "Defender found by path and process, running" \
	"$(q "$doc" '.antivirus.other_products[] | select(.vendor == "Microsoft") | "\(.running) \(.evidence | length)"')" \
	"true 2"
is "ESET found by its own startd only" \
	"$(q "$doc" '.antivirus.other_products[] | select(.vendor == "ESET") | .evidence[0].pid')" 3003
is "two products" "$(q "$doc" '.antivirus.other_products | length')" 2

# --- this machine ----------------------------------------------------------------------
run /
ok $? "this machine: inventory runs"
installed() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q ' installed$' && echo true || echo false; }
if command -v dpkg-query >/dev/null; then
	want=$(installed clamav)
	[ "$want" = false ] && [ -e /usr/bin/clamscan ] && want=true
	is "this machine: ClamAV installed as dpkg says" "$(q "$doc" '.antivirus.clamav.installed')" "$want"
	if [ "$(installed clamav)" = true ]; then
		is "this machine: ClamAV version as dpkg says" "$(q "$doc" '.antivirus.clamav.version')" \
			"$(dpkg-query -W -f='${Version}' clamav)"
	fi
	want=$(installed unattended-upgrades)
	[ "$want" = false ] && [ -e /usr/bin/unattended-upgrade ] && want=true
	is "this machine: unattended-upgrades as dpkg says" \
		"$(q "$doc" '.auto_updates.unattended_upgrades_installed')" "$want"
fi
dir=$(q "$doc" '.antivirus.clamav.database_directory')
is "this machine: one entry per database file in $dir" \
	"$(q "$doc" '.antivirus.clamav.definitions | length')" \
	"$(find "$dir" -maxdepth 1 -name '*.c[vlu]d' 2>/dev/null | wc -l)"
check_definitions "this machine" "$doc" ""
pgrep -x clamd >/dev/null && want=true || want=false
is "this machine: clamd running as pgrep says" "$(q "$doc" '.antivirus.clamav.clamd_running')" "$want"
ls /etc/systemd/system/*.wants/systemd-timesyncd.service >/dev/null 2>&1 && want=true || want=false
is "this machine: timesyncd enabled as its link says" "$(q "$doc" '.time_sync.timesyncd.enabled')" "$want"
if [ -f /etc/ssh/sshd_config ]; then
	if command -v sshd >/dev/null && [ "$(id -u)" -eq 0 ]; then
		sshd -T >"$tmp/real.T" 2>&1
		is "this machine: PermitRootLogin as sshd -T says" \
			"$(q "$doc" '.ssh.permit_root_login.value')" "$(sed -n 's/^permitrootlogin //p' "$tmp/real.T")"
		is "this machine: PasswordAuthentication as sshd -T says" \
			"$(q "$doc" '.ssh.password_authentication.value' | sed 's/true/yes/; s/false/no/')" \
			"$(sed -n 's/^passwordauthentication //p' "$tmp/real.T")"
	else
		is "this machine: sshd_config read" "$(q "$doc" '.ssh.config_files[0]')" /etc/ssh/sshd_config
	fi
else
	diag "this machine has no /etc/ssh/sshd_config"
	is "this machine: no sshd_config, sshd's defaults" \
		"$(q "$doc" '.ssh | "\(.config_files | length) \(.permit_root_login.source)"')" "0 default"
fi
finish
