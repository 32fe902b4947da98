/*
 * Bulk access to the SQLite store's tables for store_copy() (store_backend.h): every table
 * read whole in the canonical columns and order, and written row by row, inside one
 * transaction on one connection.
 *
 * Child tables name their host by id in the canonical form and by row number here, so
 * reads join hosts and writes look the number up with a subquery. Hashes are BLOBs here
 * and hex text in the canonical form. A session is a connection from
 * store_sqlite_begin_write() or store_sqlite_begin_read(); its transaction is the session.
 */
#include <errno.h>
#include <string.h>

#include "lib/jsonw.h"
#include "lib/mm.h"
#include "server/store_sqlite.h"

/* One SELECT and one INSERT per table, in store_tables' columns and order. */
/* Per table, in store_tables' columns and order: the SELECT reading it whole … */
static const char *const selects[STORE_T_COUNT] = {
	[STORE_T_API_TOKENS] =
		"SELECT id, lower(hex(hash)), name, role, created, expires, revoked, last_used"
		" FROM api_tokens ORDER BY id",
	[STORE_T_ENROLL_TOKENS] =
		"SELECT id, lower(hex(hash)), comment, group_name, created, expires, max_uses,"
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

/* … and the INSERT of one row. */
static const char *const inserts[STORE_T_COUNT] = {
	[STORE_T_API_TOKENS] =
		"INSERT INTO api_tokens (id, hash, name, role, created, expires, revoked,"
		"   last_used) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
	[STORE_T_ENROLL_TOKENS] =
		"INSERT INTO enroll_tokens (id, hash, comment, group_name, created, expires,"
		"   max_uses, uses, revoked, created_by)"
		" VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
	[STORE_T_CA_SERIALS] =
		"INSERT INTO ca_serials (serial, host_id, issued) VALUES (?1, ?2, ?3)",
	[STORE_T_HOSTS] =
		"INSERT INTO hosts (id, hostname, machine_id, os, agent_version, group_name, facts,"
		"   enrolled, enroll_token, last_seen, last_remote, last_state, revoked_at,"
		"   deleted, cert_serial, cert_pem, inventory_digest, inventory_time,"
		"   serial_number, chassis, max_seq, owner)"
		" VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16,"
		"   ?17, ?18, ?19, ?20, ?21, ?22)",
	[STORE_T_TOKEN_USES] = "INSERT INTO token_uses (host, id, token_id, time, remote)"
			       " VALUES ((SELECT num FROM hosts WHERE id = ?1), ?2, ?3, ?4, ?5)",
	[STORE_T_INVENTORY_ITEMS] =
		"INSERT INTO inventory_items (host, section, list, key, value, changed)"
		" VALUES ((SELECT num FROM hosts WHERE id = ?1), ?2, ?3, ?4, ?5, ?6)",
	[STORE_T_INVENTORY_CHANGES] =
		"INSERT INTO inventory_changes (host, id, time, section, list, key, op, old, new)"
		" VALUES ((SELECT num FROM hosts WHERE id = ?1), ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
	[STORE_T_SOFTWARE] =
		"INSERT INTO software (host, item_key, manager, name, arch, version, source,"
		"   source_version)"
		" VALUES ((SELECT num FROM hosts WHERE id = ?1), ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
	/* as store_sqlite_events.c keys and numbers an event, with its chain's fields and
	 * flags as they were; its searchable text and user (?12, ?13) are bulk_write's; the
	 * full-text index follows in bulk_write */
	[STORE_T_EVENTS] =
		"INSERT INTO events (id, host, seq, time_ms, mono_ms, type, user_name, data, extra,"
		"   text, prev, hash, chain, received, rx)"
		" SELECT coalesce((SELECT max(id) + 1 FROM events"
		"     WHERE id BETWEEN x.k AND x.k + 1048575), x.k),"
		"   (SELECT num FROM hosts WHERE id = ?1), ?2, ?3, ?4, ?5, ?13, ?6, ?7, ?12, ?9,"
		"   ?10, ?11, ?8, (SELECT coalesce(max(rx), 0) + 1 FROM events)"
		" FROM (SELECT max(0, min(?3, 8796093022207)) << 20 AS k) x",
	[STORE_T_EVENT_GAPS] =
		"INSERT INTO event_gaps (host, first_seq, last_seq, reason, report_seq, run_prev,"
		"   run_hash, detected)"
		" VALUES ((SELECT num FROM hosts WHERE id = ?1), ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
	[STORE_T_CHAIN_EVIDENCE] =
		"INSERT INTO chain_evidence (host, id, kind, first_seq, last_seq, detected, detail)"
		" VALUES ((SELECT num FROM hosts WHERE id = ?1), ?2, ?3, ?4, ?5, ?6, ?7)",
	[STORE_T_AUDIT] =
		"INSERT INTO audit (id, time, actor, action, target, details, remote, prev_hash,"
		"   hash) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
	[STORE_T_COMPLIANCE_FACTS] = "INSERT INTO compliance_facts (host, events)"
				     " VALUES ((SELECT num FROM hosts WHERE id = ?1), ?2)",
	[STORE_T_COMPLIANCE_RESULTS] =
		"INSERT INTO compliance_results"
		"   (host, measure, category, role, status, evidence, since)"
		" VALUES ((SELECT num FROM hosts WHERE id = ?1), ?2, ?3, ?4, ?5, ?6, ?7)",
	[STORE_T_COMPLIANCE_CHANGES] =
		"INSERT INTO compliance_changes (host, id, measure, time, old_status, new_status)"
		" VALUES ((SELECT num FROM hosts WHERE id = ?1), ?2, ?3, ?4, ?5, ?6)",
	[STORE_T_COMPLIANCE_ROLLUP] =
		"INSERT INTO compliance_rollup (kind, id, met, not_met, unknown, not_applicable)"
		" VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
	[STORE_T_COMPLIANCE_DAILY] = "INSERT INTO compliance_daily"
				     "   (day, kind, id, met, not_met, unknown, not_applicable)"
				     " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
	[STORE_T_ATTESTATIONS] =
		"INSERT INTO attestations (id, measure, status, evidence, link, owner, date,"
		"   review_days, created, created_by)"
		" VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
	[STORE_T_POLICIES] = "INSERT INTO policies (version, scope, rules, tags, rule_count,"
			     "   comment, created, created_by)"
			     " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
	[STORE_T_DEVICES] = "INSERT INTO devices (serial, vendor, product, owner, note, tags,"
			    "   created, updated, updated_by)"
			    " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
	[STORE_T_DEVICE_TAGS] = "INSERT INTO device_tags (serial, tag) VALUES (?1, ?2)",
	[STORE_T_TAG_REVISIONS] = "INSERT INTO tag_revisions (tag, rev) VALUES (?1, ?2)",
	[STORE_T_GRANTS] = "INSERT INTO grants (id, serial, host_id, user_name, reason, created,"
			   "   expires, created_by, revoked, revoked_by)"
			   " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
	[STORE_T_COLLECTION_PROFILES] = "INSERT INTO collection_profiles (version, scope, profile,"
					"   name, comment, created, created_by)"
					" VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
};

int store_sqlite_bulk_begin(struct store *st, bool write, void **ret)
{
	struct store_sqlite *s = store_sqlite_of(st);
	struct store_sqlite_conn *c;
	int r = write ? store_sqlite_begin_write(s, STORE_SQLITE_FULL, &c)
		      : store_sqlite_begin_read(s, &c);

	if (r < 0)
		return r;
	*ret = c;
	return 0;
}

int store_sqlite_bulk_end(struct store *st, void *session, int r)
{
	return store_sqlite_end(store_sqlite_of(st), session, r);
}

static json_t *column(sqlite3_stmt *q, int i)
{
	switch (sqlite3_column_type(q, i)) {
	case SQLITE_NULL:
		return json_null();
	case SQLITE_INTEGER:
		return json_integer(sqlite3_column_int64(q, i));
	default:
		return store_sqlite_column_string(q, i);
	}
}

int store_sqlite_bulk_read(struct store *st, void *session, int t, store_row_fn fn, void *userdata)
{
	struct store_sqlite_conn *c = session;
	_cleanup_(store_sqlite_resetp) sqlite3_stmt *q = NULL;
	int n, r;

	(void) st;
	if (t < 0 || t >= STORE_T_COUNT)
		return -EINVAL;
	r = store_sqlite_stmt(c, selects[t], &q);
	if (r < 0)
		return r;
	n = sqlite3_column_count(q);
	while ((r = store_sqlite_step(c, q, "reading a table")) > 0) {
		_cleanup_(json_decrefp) json_t *row = json_array();

		if (!row)
			return -ENOMEM;
		for (int i = 0; i < n; i++)
			if (jsonw_append(row, column(q, i)) < 0)
				return -ENOMEM;
		r = fn(row, userdata);
		if (r < 0)
			return r;
	}
	return r;
}

static int unhex(const char *hex, uint8_t out[32])
{
	if (!hex || strlen(hex) != 64)
		return -EINVAL;
	for (size_t i = 0; i < 64; i++) {
		char ch = hex[i];
		int v = ch >= '0' && ch <= '9'   ? ch - '0'
			: ch >= 'a' && ch <= 'f' ? ch - 'a' + 10
						 : -1;

		if (v < 0)
			return -EINVAL;
		out[i / 2] = (uint8_t) (i % 2 ? (out[i / 2] | v) : v << 4);
	}
	return 0;
}

/* Binds one canonical value as its column's type; -EINVAL when it is not of that type. */
static int bind(sqlite3_stmt *q, int i, char type, json_t *v, uint8_t hash[32])
{
	if (json_is_null(v))
		return sqlite3_bind_null(q, i) == SQLITE_OK ? 0 : -EIO;
	switch (type) {
	case 'i':
		if (!json_is_integer(v))
			return -EINVAL;
		return sqlite3_bind_int64(q, i, json_integer_value(v)) == SQLITE_OK ? 0 : -EIO;
	case 'h':
		if (unhex(json_string_value(v), hash) < 0)
			return -EINVAL;
		return sqlite3_bind_blob(q, i, hash, 32, SQLITE_TRANSIENT) == SQLITE_OK ? 0 : -EIO;
	default:
		if (!json_is_string(v))
			return -EINVAL;
		return sqlite3_bind_text(q, i, json_string_value(v), (int) json_string_length(v),
					 SQLITE_STATIC) == SQLITE_OK
			       ? 0
			       : -EIO;
	}
}

/* An event's searchable text and user (?12, ?13), from its data, as ingestion makes them. */
static int bind_searchable(sqlite3_stmt *q, json_t *data_text)
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
	if (r < 0)
		return r;
	if (sqlite3_bind_text(q, 12, text, -1, SQLITE_TRANSIENT) != SQLITE_OK ||
	    (user ? sqlite3_bind_text(q, 13, user, -1, SQLITE_TRANSIENT)
		  : sqlite3_bind_null(q, 13)) != SQLITE_OK)
		return -ENOMEM;
	return 0;
}

/* The highest insertion number of events (0 for none). */
static int events_rx(struct store_sqlite_conn *c, int64_t *ret)
{
	_cleanup_(store_sqlite_resetp) sqlite3_stmt *q = NULL;
	int r = store_sqlite_stmt(c, "SELECT coalesce(max(rx), 0) FROM events", &q);

	if (r < 0)
		return r;
	r = store_sqlite_step(c, q, "numbering events");
	if (r <= 0)
		return r < 0 ? r : -EIO;
	*ret = sqlite3_column_int64(q, 0);
	return 0;
}

/* After a chunk of copied events: their full-text index, and the insertion counter. */
static int events_done(struct store_sqlite_conn *c, int64_t rx_before)
{
	_cleanup_(store_sqlite_resetp) sqlite3_stmt *fts = NULL, *cnt = NULL;
	int64_t rx;
	int r = store_sqlite_stmt(c,
				  "INSERT INTO events_fts(rowid, text)"
				  " SELECT id, text FROM events WHERE rx > ?1 ORDER BY id",
				  &fts);

	if (r < 0)
		return r;
	(void) sqlite3_bind_int64(fts, 1, rx_before);
	r = store_sqlite_step(c, fts, "indexing copied events");
	if (r < 0)
		return r;
	r = events_rx(c, &rx);
	if (r < 0)
		return r;
	r = store_sqlite_stmt(c, "UPDATE counters SET value = ?1 WHERE name = 'events_rx'", &cnt);
	if (r < 0)
		return r;
	(void) sqlite3_bind_int64(cnt, 1, rx);
	return store_sqlite_step(c, cnt, "numbering events");
}

int store_sqlite_bulk_write(struct store *st, void *session, int t, json_t *rows)
{
	struct store_sqlite_conn *c = session;
	_cleanup_(store_sqlite_resetp) sqlite3_stmt *q = NULL;
	int64_t rx_before = 0;
	const char *types;
	size_t i, ncols;
	json_t *row;
	int r;

	(void) st;
	if (t < 0 || t >= STORE_T_COUNT || !json_is_array(rows))
		return -EINVAL;
	types = store_tables[t].types;
	ncols = strlen(types);
	r = store_sqlite_stmt(c, inserts[t], &q);
	if (r < 0)
		return r;
	if (t == STORE_T_EVENTS) {
		r = events_rx(c, &rx_before);
		if (r < 0)
			return r;
	}
	json_array_foreach (rows, i, row) {
		uint8_t hash[32];

		if (!json_is_array(row) || json_array_size(row) != ncols)
			return -EINVAL;
		(void) sqlite3_reset(q);
		for (size_t k = 0; k < ncols; k++) {
			r = bind(q, (int) k + 1, types[k], json_array_get(row, k), hash);
			if (r < 0)
				return r;
		}
		if (t == STORE_T_EVENTS) {
			r = bind_searchable(q, json_array_get(row, 5));
			if (r < 0)
				return r;
		}
		r = store_sqlite_step(c, q, "copying a row");
		if (r < 0)
			return r;
	}
	return t == STORE_T_EVENTS ? events_done(c, rx_before) : 0;
}

int store_sqlite_bulk_clear(struct store *st, void *session)
{
	static const char *const clear =
		"DROP TRIGGER audit_no_delete; DROP TRIGGER policies_no_delete;"
		"DROP TRIGGER collection_profiles_no_delete;"
		"DELETE FROM audit; DELETE FROM events; DELETE FROM event_gaps;"
		"DELETE FROM compliance_facts; DELETE FROM compliance_results;"
		"DELETE FROM compliance_changes; DELETE FROM compliance_rollup;"
		"DELETE FROM compliance_daily; DELETE FROM attestations;"
		"DELETE FROM chain_evidence; DELETE FROM cursors; DELETE FROM software;"
		"DELETE FROM inventory_changes; DELETE FROM inventory_items;"
		"DELETE FROM token_uses; DELETE FROM hosts; DELETE FROM ca_serials;"
		"DELETE FROM enroll_tokens; DELETE FROM api_tokens;"
		"DELETE FROM grants; DELETE FROM device_tags; DELETE FROM devices;"
		"DELETE FROM tag_revisions;"
		"DELETE FROM policies; DELETE FROM collection_profiles;"
		"CREATE TRIGGER audit_no_delete BEFORE DELETE ON audit"
		"  BEGIN SELECT RAISE(ABORT, 'the audit trail is append-only'); END;"
		"CREATE TRIGGER policies_no_delete BEFORE DELETE ON policies"
		"  BEGIN SELECT RAISE(ABORT, 'a policy version is never deleted'); END;"
		"CREATE TRIGGER collection_profiles_no_delete BEFORE DELETE ON collection_profiles"
		"  BEGIN SELECT RAISE(ABORT, 'a collection profile version is never deleted');"
		"  END;";
	struct store_sqlite_conn *c = session;
	int rc;

	(void) st;
	rc = sqlite3_exec(c->db, clear, NULL, NULL, NULL);
	return rc == SQLITE_OK ? 0 : store_sqlite_error(c, rc, "emptying the store");
}
