/*
 * Bulk access to the PostgreSQL store's tables for store_copy() (store_backend.h): every
 * table read through a cursor in the canonical columns and order, and written a chunk at
 * a time with one INSERT … SELECT FROM unnest(…) per chunk, inside one transaction.
 *
 * Child tables name their host by id in the canonical form and by row number here, so
 * reads join hosts and writes join them back. Hashes are bytea here and hex text in the
 * canonical form (encode/decode). Writing events also fills event_seqs and creates the
 * monthly partitions the rows fall in, in the same transaction; writing rows with
 * explicit ids moves the identity sequences past them, so later inserts do not collide.
 * Events are keyed, numbered and made searchable as ingestion does (store_pg_events.c),
 * with the event chain's fields, flags and evidence as the source had them.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "lib/buf.h"
#include "lib/jsonw.h"
#include "lib/mm.h"
#include "server/store_pg.h"

#define FETCH 1000

/* Per table, in store_tables' columns and order: the SELECT read through a cursor … */
static const char *const selects[STORE_T_COUNT] = {
	[STORE_T_API_TOKENS] =
		"SELECT id, encode(hash, 'hex'), name, role, created, expires, revoked, last_used"
		" FROM api_tokens ORDER BY id",
	[STORE_T_ENROLL_TOKENS] =
		"SELECT id, encode(hash, 'hex'), comment, group_name, created, expires, max_uses,"
		"   uses, revoked, created_by FROM enroll_tokens ORDER BY id",
	[STORE_T_CA_SERIALS] = "SELECT serial, host_id, issued FROM ca_serials ORDER BY serial",
	[STORE_T_HOSTS] =
		"SELECT id, hostname, machine_id, os, agent_version, group_name, facts, enrolled,"
		"   enroll_token, last_seen, last_remote, last_state, revoked_at, deleted,"
		"   cert_serial, cert_pem, inventory_digest, inventory_time, serial_number,"
		"   chassis, max_seq, owner"
		" FROM hosts ORDER BY id",
	[STORE_T_TOKEN_USES] =
		"SELECT h.id, u.id, u.token_id, u.time, u.remote"
		" FROM token_uses u JOIN hosts h ON h.num = u.host ORDER BY h.id, u.id",
	[STORE_T_INVENTORY_ITEMS] = "SELECT h.id, i.section, i.list, i.key, i.value, i.changed"
				    " FROM inventory_items i JOIN hosts h ON h.num = i.host"
				    " ORDER BY h.id, i.section, i.list, i.key",
	[STORE_T_INVENTORY_CHANGES] =
		"SELECT h.id, c.id, c.time, c.section, c.list, c.key, c.op, c.old, c.new"
		" FROM inventory_changes c JOIN hosts h ON h.num = c.host ORDER BY h.id, c.id",
	[STORE_T_SOFTWARE] =
		"SELECT h.id, s.item_key, s.manager, s.name, s.arch, s.version, s.source,"
		"   s.source_version"
		" FROM software s JOIN hosts h ON h.num = s.host ORDER BY h.id, s.item_key",
	[STORE_T_EVENTS] = "SELECT h.id, e.seq, e.time_ms, e.mono_ms, e.type, e.data, e.extra,"
			   "   e.received, e.prev, e.hash, e.chain"
			   " FROM events e JOIN hosts h ON h.num = e.host ORDER BY h.id, e.seq",
	[STORE_T_EVENT_GAPS] =
		"SELECT h.id, g.first_seq, g.last_seq, g.reason, g.report_seq, g.run_prev,"
		"   g.run_hash, g.detected"
		" FROM event_gaps g JOIN hosts h ON h.num = g.host ORDER BY h.id, g.first_seq",
	[STORE_T_CHAIN_EVIDENCE] =
		"SELECT h.id, v.id, v.kind, v.first_seq, v.last_seq, v.detected, v.detail"
		" FROM chain_evidence v JOIN hosts h ON h.num = v.host ORDER BY h.id, v.id",
	[STORE_T_AUDIT] = "SELECT id, time, actor, action, target, details, remote, prev_hash, hash"
			  " FROM audit ORDER BY id",
	[STORE_T_COMPLIANCE_FACTS] = "SELECT h.id, f.events"
				     " FROM compliance_facts f JOIN hosts h ON h.num = f.host"
				     " ORDER BY h.id",
	[STORE_T_COMPLIANCE_RESULTS] =
		"SELECT h.id, r.measure, r.category, r.role, r.status, r.evidence, r.since"
		" FROM compliance_results r JOIN hosts h ON h.num = r.host"
		" ORDER BY h.id, r.measure",
	[STORE_T_COMPLIANCE_CHANGES] =
		"SELECT h.id, c.id, c.measure, c.time, c.old_status, c.new_status"
		" FROM compliance_changes c JOIN hosts h ON h.num = c.host ORDER BY h.id, c.id",
	[STORE_T_COMPLIANCE_ROLLUP] = "SELECT kind, id, met, not_met, unknown, not_applicable"
				      " FROM compliance_rollup ORDER BY kind, id",
	[STORE_T_COMPLIANCE_DAILY] = "SELECT day, kind, id, met, not_met, unknown, not_applicable"
				     " FROM compliance_daily ORDER BY day, kind, id",
	[STORE_T_ATTESTATIONS] =
		"SELECT id, measure, status, evidence, link, owner, date, review_days, created,"
		"   created_by FROM attestations ORDER BY id",
	[STORE_T_POLICIES] =
		"SELECT version, scope, rules, tags, rule_count, comment, created, created_by"
		" FROM policies ORDER BY version",
	[STORE_T_DEVICES] = "SELECT serial, vendor, product, owner, note, tags, created, updated,"
			    "   updated_by FROM devices ORDER BY serial",
	[STORE_T_DEVICE_TAGS] = "SELECT serial, tag FROM device_tags ORDER BY serial, tag",
	[STORE_T_TAG_REVISIONS] = "SELECT tag, rev FROM tag_revisions ORDER BY tag",
	[STORE_T_GRANTS] = "SELECT id, serial, host_id, user_name, reason, created, expires,"
			   "   created_by, revoked, revoked_by FROM grants ORDER BY id",
	[STORE_T_COLLECTION_PROFILES] = "SELECT version, scope, profile, name, comment, created,"
					"   created_by FROM collection_profiles ORDER BY version",
};

/* … the INSERT of a chunk ($1… are the columns as arrays) … */
static const char *const inserts[STORE_T_COUNT] = {
	[STORE_T_API_TOKENS] =
		"INSERT INTO api_tokens (id, hash, name, role, created, expires, revoked,"
		"   last_used)"
		" SELECT a, decode(b, 'hex'), c, d, e, f, g, h"
		" FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::bigint[],"
		"   $6::bigint[], $7::bigint[], $8::bigint[]) AS u(a, b, c, d, e, f, g, h)",
	[STORE_T_ENROLL_TOKENS] =
		"INSERT INTO enroll_tokens (id, hash, comment, group_name, created, expires,"
		"   max_uses, uses, revoked, created_by)"
		" SELECT a, decode(b, 'hex'), c, d, e, f, g, h, i, j"
		" FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::bigint[],"
		"   $6::bigint[], $7::bigint[], $8::bigint[], $9::bigint[], $10::text[])"
		"   AS u(a, b, c, d, e, f, g, h, i, j)",
	[STORE_T_CA_SERIALS] = "INSERT INTO ca_serials (serial, host_id, issued)"
			       " SELECT * FROM unnest($1::bigint[], $2::text[], $3::bigint[])",
	[STORE_T_HOSTS] =
		"INSERT INTO hosts (id, hostname, machine_id, os, agent_version, group_name, facts,"
		"   enrolled, enroll_token, last_seen, last_remote, last_state, revoked_at,"
		"   deleted, cert_serial, cert_pem, inventory_digest, inventory_time,"
		"   serial_number, chassis, max_seq, owner)"
		" SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[],"
		"   $6::text[], $7::text[], $8::bigint[], $9::text[], $10::bigint[], $11::text[],"
		"   $12::text[], $13::bigint[], $14::bigint[], $15::bigint[], $16::text[],"
		"   $17::text[], $18::bigint[], $19::text[], $20::text[], $21::bigint[],"
		"   $22::text[])",
	[STORE_T_TOKEN_USES] =
		"INSERT INTO token_uses (host, id, token_id, time, remote)"
		" SELECT h.num, u.id, u.token_id, u.time, u.remote"
		" FROM unnest($1::text[], $2::bigint[], $3::text[], $4::bigint[], $5::text[])"
		"   AS u(host_id, id, token_id, time, remote)"
		" JOIN hosts h ON h.id = u.host_id",
	[STORE_T_INVENTORY_ITEMS] =
		"INSERT INTO inventory_items (host, section, list, key, value, changed)"
		" SELECT h.num, u.section, u.list, u.key, u.value, u.changed"
		" FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[],"
		"   $6::bigint[]) AS u(host_id, section, list, key, value, changed)"
		" JOIN hosts h ON h.id = u.host_id",
	[STORE_T_INVENTORY_CHANGES] =
		"INSERT INTO inventory_changes (host, id, time, section, list, key, op, old, new)"
		" SELECT h.num, u.id, u.time, u.section, u.list, u.key, u.op, u.old, u.new"
		" FROM unnest($1::text[], $2::bigint[], $3::bigint[], $4::text[], $5::text[],"
		"   $6::text[], $7::text[], $8::text[], $9::text[])"
		"   AS u(host_id, id, time, section, list, key, op, old, new)"
		" JOIN hosts h ON h.id = u.host_id",
	[STORE_T_SOFTWARE] =
		"INSERT INTO software (host, item_key, manager, name, arch, version, source,"
		"   source_version)"
		" SELECT h.num, u.k, u.m, u.n, u.a, u.v, u.s, u.sv"
		" FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[],"
		"   $6::text[], $7::text[], $8::text[]) AS u(host_id, k, m, n, a, v, s, sv)"
		" JOIN hosts h ON h.id = u.host_id",
	/* keys as ingestion makes them, but the lowest free in their millisecond (one
	 * transaction writes, so no other writer competes), positions in the copy's order;
	 * $12 and $13 are the searchable text and user bulk_write adds */
	[STORE_T_EVENTS] =
		"WITH u AS (SELECT h.num, x.*, greatest(0, least(x.time_ms, 8796093022207)) << 20"
		"     AS base"
		"   FROM unnest($1::text[], $2::bigint[], $3::bigint[], $4::bigint[], $5::text[],"
		"     $6::text[], $7::text[], $8::bigint[], $9::text[], $10::text[], "
		"$11::smallint[],"
		"     $12::text[], $13::text[]) WITH ORDINALITY"
		"     AS x(host_id, seq, time_ms, mono_ms, type, data, extra, received, prev, hash,"
		"       chain, text, user_name, n)"
		"   JOIN hosts h ON h.id = x.host_id),"
		" w AS (SELECT u.*, base + coalesce((SELECT max(s.id) + 1 - base FROM event_seqs s"
		"       WHERE s.id BETWEEN base AND base + 1048575), 0)"
		"     + row_number() OVER (PARTITION BY base ORDER BY n) - 1 AS id,"
		"     (SELECT value FROM counters WHERE name = 'events_rx')"
		"     + row_number() OVER (ORDER BY n) AS rx FROM u),"
		" s AS (INSERT INTO event_seqs (host, seq, id, received, rx)"
		"   SELECT num, seq, id, received, rx FROM w)"
		" INSERT INTO events (id, host, seq, time_ms, mono_ms, type, user_name, data, "
		"extra,"
		"   text, prev, hash, chain, received)"
		" SELECT id, num, seq, time_ms, mono_ms, type, user_name, data, extra, text, prev,"
		"   hash, chain, received FROM w",
	[STORE_T_EVENT_GAPS] =
		"INSERT INTO event_gaps (host, first_seq, last_seq, reason, report_seq, run_prev,"
		"   run_hash, detected)"
		" SELECT h.num, u.f, u.l, u.r, u.rs, u.p, u.x, u.d"
		" FROM unnest($1::text[], $2::bigint[], $3::bigint[], $4::text[], $5::bigint[],"
		"   $6::text[], $7::text[], $8::bigint[]) AS u(host_id, f, l, r, rs, p, x, d)"
		" JOIN hosts h ON h.id = u.host_id",
	[STORE_T_CHAIN_EVIDENCE] =
		"INSERT INTO chain_evidence (host, id, kind, first_seq, last_seq, detected, detail)"
		" SELECT h.num, u.id, u.kind, u.f, u.l, u.d, u.detail"
		" FROM unnest($1::text[], $2::bigint[], $3::text[], $4::bigint[], $5::bigint[],"
		"   $6::bigint[], $7::text[]) AS u(host_id, id, kind, f, l, d, detail)"
		" JOIN hosts h ON h.id = u.host_id",
	[STORE_T_AUDIT] =
		"INSERT INTO audit (id, time, actor, action, target, details, remote, prev_hash,"
		"   hash)"
		" SELECT * FROM unnest($1::bigint[], $2::bigint[], $3::text[], $4::text[],"
		"   $5::text[], $6::text[], $7::text[], $8::text[], $9::text[])",
	[STORE_T_COMPLIANCE_FACTS] = "INSERT INTO compliance_facts (host, events)"
				     " SELECT h.num, u.events"
				     " FROM unnest($1::text[], $2::text[]) AS u(host_id, events)"
				     " JOIN hosts h ON h.id = u.host_id",
	[STORE_T_COMPLIANCE_RESULTS] =
		"INSERT INTO compliance_results"
		"   (host, measure, category, role, status, evidence, since)"
		" SELECT h.num, u.m, u.c, u.r, u.s, u.e, u.since"
		" FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[],"
		"   $6::text[], $7::bigint[]) AS u(host_id, m, c, r, s, e, since)"
		" JOIN hosts h ON h.id = u.host_id",
	[STORE_T_COMPLIANCE_CHANGES] =
		"INSERT INTO compliance_changes (host, id, measure, time, old_status, new_status)"
		" SELECT h.num, u.id, u.m, u.t, u.o, u.n"
		" FROM unnest($1::text[], $2::bigint[], $3::text[], $4::bigint[], $5::text[],"
		"   $6::text[]) AS u(host_id, id, m, t, o, n)"
		" JOIN hosts h ON h.id = u.host_id",
	[STORE_T_COMPLIANCE_ROLLUP] =
		"INSERT INTO compliance_rollup (kind, id, met, not_met, unknown, not_applicable)"
		" SELECT * FROM unnest($1::text[], $2::text[], $3::bigint[], $4::bigint[],"
		"   $5::bigint[], $6::bigint[])",
	[STORE_T_COMPLIANCE_DAILY] =
		"INSERT INTO compliance_daily"
		"   (day, kind, id, met, not_met, unknown, not_applicable)"
		" SELECT * FROM unnest($1::bigint[], $2::text[], $3::text[], $4::bigint[],"
		"   $5::bigint[], $6::bigint[], $7::bigint[])",
	[STORE_T_ATTESTATIONS] =
		"INSERT INTO attestations (id, measure, status, evidence, link, owner, date,"
		"   review_days, created, created_by)"
		" SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[],"
		"   $6::text[], $7::bigint[], $8::bigint[], $9::bigint[], $10::text[])",
	[STORE_T_POLICIES] =
		"INSERT INTO policies (version, scope, rules, tags, rule_count, comment, created,"
		"   created_by)"
		" SELECT * FROM unnest($1::bigint[], $2::text[], $3::text[], $4::text[],"
		"   $5::bigint[], $6::text[], $7::bigint[], $8::text[])",
	[STORE_T_DEVICES] =
		"INSERT INTO devices (serial, vendor, product, owner, note, tags, created, updated,"
		"   updated_by)"
		" SELECT * FROM unnest($1::text[], $2::bigint[], $3::bigint[], $4::text[],"
		"   $5::text[], $6::text[], $7::bigint[], $8::bigint[], $9::text[])",
	[STORE_T_DEVICE_TAGS] = "INSERT INTO device_tags (serial, tag)"
				" SELECT * FROM unnest($1::text[], $2::text[])",
	[STORE_T_TAG_REVISIONS] = "INSERT INTO tag_revisions (tag, rev)"
				  " SELECT * FROM unnest($1::text[], $2::bigint[])",
	[STORE_T_GRANTS] =
		"INSERT INTO grants (id, serial, host_id, user_name, reason, created, expires,"
		"   created_by, revoked, revoked_by)"
		" SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[],"
		"   $6::bigint[], $7::bigint[], $8::text[], $9::bigint[], $10::text[])",
	[STORE_T_COLLECTION_PROFILES] =
		"INSERT INTO collection_profiles (version, scope, profile, name, comment, created,"
		"   created_by)"
		" SELECT * FROM unnest($1::bigint[], $2::text[], $3::text[], $4::text[],"
		"   $5::text[], $6::bigint[], $7::text[])",
};

/* … and what runs after each INSERT, if anything. */
static const char *const afters[STORE_T_COUNT] = {
	[STORE_T_TOKEN_USES] = "SELECT setval(pg_get_serial_sequence('token_uses', 'id'),"
			       "   greatest((SELECT max(id) FROM token_uses), 1))",
	[STORE_T_INVENTORY_CHANGES] =
		"SELECT setval(pg_get_serial_sequence('inventory_changes', 'id'),"
		"   greatest((SELECT max(id) FROM inventory_changes), 1))",
	[STORE_T_EVENTS] =
		"UPDATE counters SET value = (SELECT coalesce(max(rx), 0) FROM event_seqs)"
		" WHERE name = 'events_rx'",
	[STORE_T_CHAIN_EVIDENCE] = "SELECT setval(pg_get_serial_sequence('chain_evidence', 'id'),"
				   "   greatest((SELECT max(id) FROM chain_evidence), 1))",
	[STORE_T_COMPLIANCE_CHANGES] =
		"SELECT setval(pg_get_serial_sequence('compliance_changes', 'id'),"
		"   greatest((SELECT max(id) FROM compliance_changes), 1))",
	[STORE_T_POLICIES] = "SELECT setval(pg_get_serial_sequence('policies', 'version'),"
			     "   greatest((SELECT max(version) FROM policies), 1))",
	[STORE_T_COLLECTION_PROFILES] =
		"SELECT setval(pg_get_serial_sequence('collection_profiles', 'version'),"
		"   greatest((SELECT max(version) FROM collection_profiles), 1))",
};

int store_pg_bulk_begin(struct store *st, bool write, void **ret)
{
	struct store_pg_conn *c;
	int r = store_pg_begin(store_pg_of(st), write ? STORE_PG_WRITE : STORE_PG_READ, &c);

	if (r < 0)
		return r;
	*ret = c;
	return 0;
}

int store_pg_bulk_end(struct store *st, void *session, int r)
{
	return store_pg_end(store_pg_of(st), session, r);
}

/* A cell as its canonical JSON type. */
static json_t *cell(const PGresult *res, int row, int col, char type)
{
	if (store_pg_is_null(res, row, col))
		return json_null();
	if (type == 'i')
		return store_pg_json_int(res, row, col);
	return store_pg_json_string(res, row, col);
}

static int read_rows(const PGresult *res, int n, const char *types, store_row_fn fn, void *userdata)
{
	size_t ncols = strlen(types);

	for (int i = 0; i < n; i++) {
		_cleanup_(json_decrefp) json_t *row = json_array();
		int r;

		if (!row)
			return -ENOMEM;
		for (size_t k = 0; k < ncols; k++)
			if (jsonw_append(row, cell(res, i, (int) k, types[k])) < 0)
				return -ENOMEM;
		r = fn(row, userdata);
		if (r < 0)
			return r;
	}
	return 0;
}

int store_pg_bulk_read(struct store *st, void *session, int t, store_row_fn fn, void *userdata)
{
	struct store_pg_conn *c = session;
	_cleanup_(freep) char *declare = NULL;
	char fetch[48];
	int r;

	(void) st;
	if (t < 0 || t >= STORE_T_COUNT)
		return -EINVAL;
	declare = mm_asprintf("DECLARE mamori_bulk NO SCROLL CURSOR FOR %s", selects[t]);
	if (!declare)
		return -ENOMEM;
	r = store_pg_simple(c, declare, "reading a table");
	if (r < 0)
		return r;
	(void) snprintf(fetch, sizeof(fetch), "FETCH %d FROM mamori_bulk", FETCH);
	for (;;) {
		PGresult *res = PQexec(c->pg, fetch);
		int n;

		if (PQresultStatus(res) != PGRES_TUPLES_OK) {
			r = store_pg_error(c, res, "reading a table");
			PQclear(res);
			return r;
		}
		n = PQntuples(res);
		r = read_rows(res, n, store_tables[t].types, fn, userdata);
		PQclear(res);
		if (r < 0)
			return r;
		if (n < FETCH)
			break;
	}
	return store_pg_simple(c, "CLOSE mamori_bulk", "reading a table");
}

/* Adds a canonical value to column array b; -EINVAL when it is not of the column's type. */
static int add_value(struct buf *b, char type, json_t *v)
{
	if (json_is_null(v))
		return store_pg_array_add(b, NULL);
	if (type == 'i')
		return json_is_integer(v) ? store_pg_array_add_int(b, json_integer_value(v))
					  : -EINVAL;
	if (!json_is_string(v) || (type == 'h' && json_string_length(v) != 64))
		return -EINVAL;
	return store_pg_array_add(b, json_string_value(v));
}

/* An event's searchable text and user, from its data (JSON text), as ingestion makes them. */
static int add_searchable(struct buf *text_col, struct buf *user_col, json_t *data_text)
{
	_cleanup_(json_decrefp) json_t *data = NULL;
	_cleanup_(freep) char *text = NULL, *user = NULL;
	json_error_t e;
	int r;

	if (!json_is_string(data_text))
		return -EINVAL;
	data = json_loadb(json_string_value(data_text), json_string_length(data_text), 0, &e);
	if (!json_is_object(data))
		return !data && strstr(e.text, "memory") ? -ENOMEM : -EINVAL;
	r = store_chain_searchable(data, &text, &user);
	if (r >= 0)
		r = store_pg_array_add(text_col, text);
	if (r >= 0)
		r = store_pg_array_add(user_col, user);
	return r;
}

/* The range of `received` in a chunk of events, for their partitions. */
static int received_range(json_t *rows, int64_t *ret_lo, int64_t *ret_hi)
{
	int64_t lo = INT64_MAX, hi = INT64_MIN;
	json_t *row;
	size_t i;

	json_array_foreach (rows, i, row) {
		json_t *v = json_array_get(row, 7);

		if (!json_is_integer(v))
			return -EINVAL;
		lo = MIN(lo, json_integer_value(v));
		hi = MAX(hi, json_integer_value(v));
	}
	*ret_lo = lo;
	*ret_hi = hi;
	return 0;
}

static int insert(struct store_pg_conn *c, int t, struct buf *cols, size_t ncols)
{
	struct store_pg_params p = {.n = 0};
	int r;

	for (size_t k = 0; k < ncols; k++)
		store_pg_text(&p, buf_str(&cols[k]));
	r = store_pg_exec(c, inserts[t], &p, "copying rows", NULL);
	if (r >= 0 && afters[t])
		r = store_pg_exec(c, afters[t], NULL, "moving a sequence", NULL);
	return r < 0 ? r : 0;
}

int store_pg_bulk_write(struct store *st, void *session, int t, json_t *rows)
{
	struct store_pg_conn *c = session;
	struct buf cols[STORE_PG_MAX_PARAMS];
	const char *types;
	size_t ncols, nparams, i;
	json_t *row;
	int r = 0;

	(void) st;
	if (t < 0 || t >= STORE_T_COUNT || !json_is_array(rows))
		return -EINVAL;
	if (json_array_size(rows) == 0)
		return 0;
	types = store_tables[t].types;
	ncols = strlen(types);
	if (t == STORE_T_EVENTS) {
		int64_t lo, hi;

		r = received_range(rows, &lo, &hi);
		if (r >= 0)
			r = store_pg_partitions_in(c, lo, hi);
		if (r < 0)
			return r;
	}
	/* events get two columns more: their searchable text and user */
	nparams = ncols + (t == STORE_T_EVENTS ? 2 : 0);
	for (size_t k = 0; k < nparams; k++)
		store_pg_array_init(&cols[k]);
	json_array_foreach (rows, i, row) {
		if (!json_is_array(row) || json_array_size(row) != ncols) {
			r = -EINVAL;
			break;
		}
		for (size_t k = 0; k < ncols && r >= 0; k++)
			r = add_value(&cols[k], types[k], json_array_get(row, k));
		if (r >= 0 && t == STORE_T_EVENTS)
			r = add_searchable(&cols[ncols], &cols[ncols + 1], json_array_get(row, 5));
		if (r < 0)
			break;
	}
	for (size_t k = 0; k < nparams && r >= 0; k++)
		r = store_pg_array_end(&cols[k]);
	if (r >= 0)
		r = insert(c, t, cols, nparams);
	for (size_t k = 0; k < nparams; k++)
		buf_done(&cols[k]);
	return r;
}

int store_pg_bulk_clear(struct store *st, void *session)
{
	(void) st;
	return store_pg_simple(
		session,
		"ALTER TABLE audit DISABLE TRIGGER USER;"
		"ALTER TABLE policies DISABLE TRIGGER USER;"
		"ALTER TABLE collection_profiles DISABLE TRIGGER USER;"
		"TRUNCATE audit, events, event_seqs, event_gaps, chain_evidence,"
		"  cursors, software, inventory_changes, inventory_items, token_uses,"
		"  hosts, ca_serials, enroll_tokens, api_tokens, compliance_facts,"
		"  compliance_results, compliance_changes, compliance_rollup,"
		"  compliance_daily, attestations, grants, device_tags, tag_revisions,"
		"  devices, policies, collection_profiles;"
		"UPDATE counters SET value = 0;"
		"ALTER TABLE audit ENABLE TRIGGER USER;"
		"ALTER TABLE policies ENABLE TRIGGER USER;"
		"ALTER TABLE collection_profiles ENABLE TRIGGER USER",
		"emptying the store");
}
