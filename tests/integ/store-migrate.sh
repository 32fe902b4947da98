#!/usr/bin/env bash
# mamorictl store migrate: copies a SQLite store into an empty one — SQLite, or PostgreSQL
# when MAMORI_STORE_URL names a server (store-migrate-pg runs this under
# tests/pg-cluster.sh) — prints what it copied, refuses a non-empty target unless --force,
# and says what was wrong in words. The copy itself is checked row for row through the
# store API by tests/unit/test-store-copy.c; this checks the command around it.
. "$(dirname "$0")/lib.sh"
need_cmd sqlite3

dir=$(mktemp -d /tmp/mamori-migrate-XXXXXX)
cleanup() {
	if [ -n "${pg_db:-}" ]; then
		psql "$MAMORI_STORE_URL" -qc "DROP DATABASE IF EXISTS $pg_db WITH (FORCE)" >/dev/null 2>&1
	fi
	rm -rf "$dir"
}
trap cleanup EXIT

src="sqlite:$dir/src.db"
case "${MAMORI_STORE_URL:-}" in
postgres*)
	need_cmd psql
	pg_db="mamori_migrate_$$"
	psql "$MAMORI_STORE_URL" -qc "CREATE DATABASE $pg_db" >/dev/null
	dst=$(printf '%s' "$MAMORI_STORE_URL" | sed "s|///[^?]*|///$pg_db|")
	query() { psql "$dst" -Atc "$1"; }
	diag "target: PostgreSQL"
	;;
*)
	dst="sqlite:$dir/dst.db"
	query() { sqlite3 "$dir/dst.db" "$1"; }
	diag "target: SQLite"
	;;
esac

"$CTL" store migrate --from "$src" --to "sqlite:$dir/first.db" >"$dir/out" 2>"$dir/err"
ok $? "an empty store migrates (and both get the schema)"

sqlite3 "$dir/src.db" "
INSERT INTO api_tokens (id, hash, name, role, created) VALUES ('at_1', randomblob(32), 'ops', 'admin', 1);
INSERT INTO ca_serials VALUES (7, '11111111-1111-4111-8111-111111111111', 1);
INSERT INTO hosts (id, hostname, machine_id, os, agent_version, facts, enrolled, cert_serial, cert_pem)
  VALUES ('11111111-1111-4111-8111-111111111111', 'pc-1', 'm', 'Debian', '0.1', '{}', 1, 7, 'pem');
INSERT INTO events (id, host, seq, time_ms, type, data, text, received, rx)
  VALUES (1048576, 1, 1, 1, 't', '{\"k\":\"経理\"}', '経理', 1795650000, 1);
INSERT INTO events (id, host, seq, time_ms, type, data, text, received, rx)
  VALUES (2097152, 1, 2, 2, 't', '{}', '', 1795650000, 2);
"
ok $? "the source holds a token, a host and two events"

"$CTL" store migrate --from "$src" --to "$dst" >"$dir/out" 2>"$dir/err"
ok $? "it migrates"
grep -Eq '^hosts +1$' "$dir/out"
ok $? "the report counts the host"
grep -Eq '^events +2$' "$dir/out"
ok $? "and the events"
grep -q '1 hosts verified' "$dir/out"
ok $? "and says each host was verified"
[ "$(query "SELECT hostname FROM hosts")" = "pc-1" ]
ok $? "the target holds the host"
[ "$(query "SELECT data FROM events WHERE seq = 1")" = '{"k":"経理"}' ]
ok $? "and the events, byte for byte"

"$CTL" store migrate --from "$src" --to "$dst" >"$dir/out" 2>"$dir/err"
[ $? -eq 1 ] && grep -q 'not empty; --force' "$dir/err"
ok $? "a second migration into it is refused: the target is not empty"
if [ -z "${pg_db:-}" ]; then
	# the scorecard of the target's hosts (SQLite only) is not copied, and goes with them
	sqlite3 "$dir/dst.db" "INSERT INTO compliance_facts VALUES (1, '{}');
INSERT INTO compliance_results VALUES (1, 'mic-E-4', 'E', 'admin', 'met', '{}', 1);"
fi
"$CTL" --json store migrate --from "$src" --to "$dst" --force >"$dir/out" 2>"$dir/err"
ok $? "--force replaces it"
[ "$(jq -r '.tables.hosts' "$dir/out")" = 1 ]
ok $? "--json prints the report as JSON"
[ "$(query "SELECT count(*) FROM hosts")" = 1 ]
ok $? "still one host, not two"

"$CTL" store migrate --from "$src" >"$dir/out" 2>"$dir/err"
[ $? -eq 2 ] && grep -q 'needs --from URL and --to URL' "$dir/err"
ok $? "without --to: usage error (exit 2)"
"$CTL" store migrate --from "$src" --to "postgresql://u:secret@/x?host=/nonexistent" \
	>"$dir/out" 2>"$dir/err"
[ $? -eq 1 ] && grep -q 'cannot open the target store' "$dir/err"
ok $? "an unreachable target: exit 1 with a reason"
! grep -q secret "$dir/err"
ok $? "and the password in its URL is not printed"
finish
