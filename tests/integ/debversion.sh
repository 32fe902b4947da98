#!/usr/bin/env bash
# Debian version order (lib/debversion.c) against the oracle, `dpkg --compare-versions`:
# pairs of this machine's installed versions (each against its neighbours in a sorted
# list, and against itself with a suffix, a ~pre-release and a bumped epoch), and pairs
# generated at random from the pieces versions are made of (digits, leading zeros, '~',
# '+', '.', '-', letters, epochs), a fixed seed so a failure can be replayed. Every pair
# must give the same answer, including which versions dpkg refuses ("--" lets versions
# that start with "-" through dpkg's option parser).
. "$(dirname "$0")/lib.sh"
need_cmd dpkg dpkg-query awk

VERCMP=$BUILD/tests/integ/vercmp
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# installed versions: sorted, unique; each against the next two, and mutated
dpkg-query -W -f='${Version}\n' | sort -u >"$tmp/installed"
n_installed=$(wc -l <"$tmp/installed")
[ "$n_installed" -gt 10 ]
ok $? "this machine has installed versions to compare ($n_installed)"
awk 'NR % 3 == 0 { v[++n] = $0 } END {
	for (i = 1; i + 2 <= n; i++) { print v[i] "\t" v[i+1]; print v[i+2] "\t" v[i] }
	for (i = 1; i <= n; i += 4) {
		print v[i] "\t" v[i] "+b1"; print v[i] "~rc1\t" v[i]; print v[i] "\t" v[i]
		print "1:" v[i] "\t" v[i]
	}
}' "$tmp/installed" | grep -v '^[^	]*:[^	]*:' >"$tmp/pairs"

# generated: pieces glued at random (seed fixed)
awk -v seed="${MAMORI_VERCMP_SEED:-20251125}" 'BEGIN {
	srand(seed)
	split("0 1 2 9 10 00 007 123 4294967296 ~ ~~ + . - a b z A Z ~a +b .0 -1 -0 dfsg deb12u ubuntu ~rc", p, " ")
	np = length(p)
	for (k = 0; k < 1200; k++) {
		for (side = 0; side < 2; side++) {
			s = ""
			if (rand() < 0.15) s = int(rand() * 3) ":"
			m = 1 + int(rand() * 6)
			for (j = 0; j < m; j++) s = s p[1 + int(rand() * np)]
			if (rand() < 0.5) s = int(rand() * 20) s
			w[side] = s
		}
		if (rand() < 0.3) w[1] = w[0] p[1 + int(rand() * np)]
		print w[0] "\t" w[1]
	}
}' >>"$tmp/pairs"
n=$(wc -l <"$tmp/pairs")

"$VERCMP" <"$tmp/pairs" >"$tmp/ours"
ok $? "vercmp ran over $n pairs"
while IFS=$'\t' read -r a b; do
	if dpkg --compare-versions -- "$a" lt "$b" 2>/dev/null; then
		echo lt
	else
		case $? in
		1) if dpkg --compare-versions -- "$a" eq "$b" 2>/dev/null; then echo eq; else echo gt; fi ;;
		*) echo bad ;;
		esac
	fi
done <"$tmp/pairs" >"$tmp/dpkg"
paste "$tmp/pairs" "$tmp/ours" "$tmp/dpkg" | awk -F'\t' '$3 != $4' >"$tmp/diff"
[ ! -s "$tmp/diff" ]
ok $? "every pair is ordered as dpkg orders it ($n pairs)"
head -20 "$tmp/diff" | while IFS=$'\t' read -r a b ours theirs; do
	diag "'$a' vs '$b': ours $ours, dpkg $theirs"
done
for r in lt eq gt bad; do
	c=$(grep -c "^$r\$" "$tmp/dpkg")
	[ "$c" -gt 0 ]
	ok $? "the pairs include '$r' answers ($c)"
done
finish
