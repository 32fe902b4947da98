/*
 * The administrators' view of hosts in the SQLite store: the paged, sorted, filtered host
 * list, one host's details, revocation and deletion.
 *
 * The list's ORDER BY is never built from the caller's text: the sort name and direction
 * pick one of six complete SQL literals below (so they are cached like every other
 * statement), and the filters are bound parameters. Each sort column has a partial index
 * over live hosts ending in id, which makes the order total, so paging is stable.
 *
 * Deleting a host keeps a tombstone: the hosts row loses everything but its id, name, serial
 * and the time of deletion, and every row stored for it elsewhere is deleted. The tombstone
 * makes its certificate answer "revoked" instead of "unknown", and keeps the serial taken.
 */
#include <errno.h>
#include <inttypes.h>
#include <string.h>

#include "lib/jsonw.h"
#include "lib/mm.h"
#include "server/store_sqlite.h"

#define HOST_FILTER                                                                    \
	" FROM hosts WHERE deleted IS NULL"                                            \
	"   AND (?1 IS NULL OR group_name = ?1)"                                       \
	"   AND (?2 IS NULL OR (?2 = 'revoked') = (revoked_at IS NOT NULL))"           \
	"   AND (?3 IS NULL OR hostname LIKE ?3 ESCAPE '\\' OR id LIKE ?3 ESCAPE '\\'" \
	"        OR serial_number LIKE ?3 ESCAPE '\\')"

#define HOST_LIST(order)                                                                \
	"SELECT id, hostname, group_name, os, agent_version, enrolled, last_seen,"      \
	"   inventory_time, revoked_at IS NOT NULL, serial_number, chassis" HOST_FILTER \
	" ORDER BY " order " LIMIT ?4 OFFSET ?5"

static const struct {
	const char *name;
	const char *sql[2]; /* ascending, descending */
} host_sorts[] = {
	{"hostname", {HOST_LIST("hostname, id"), HOST_LIST("hostname DESC, id DESC")}},
	{"last_seen", {HOST_LIST("last_seen, id"), HOST_LIST("last_seen DESC, id DESC")}},
	{"enrolled", {HOST_LIST("enrolled, id"), HOST_LIST("enrolled DESC, id DESC")}},
};

static void bind_filter(sqlite3_stmt *s, const struct store_host_query *q, const char *pattern)
{
	(void) store_sqlite_bind_text(s, 1, q->group);
	(void) store_sqlite_bind_text(s, 2, q->status);
	(void) store_sqlite_bind_text(s, 3, pattern);
}

static int hosts_list(struct store_sqlite_conn *c, const struct store_host_query *q,
		      const char *sql, json_t **ret)
{
	_cleanup_(store_sqlite_resetp) sqlite3_stmt *s = NULL, *n = NULL;
	_cleanup_(json_decrefp) json_t *hosts = json_array();
	_cleanup_(freep) char *pattern = q->search ? store_prep_like_pattern(q->search) : NULL;
	int r;

	if (!hosts || (q->search && !pattern))
		return -ENOMEM;
	r = store_sqlite_stmt(c, "SELECT count(*)" HOST_FILTER, &n);
	if (r < 0)
		return r;
	bind_filter(n, q, pattern);
	r = store_sqlite_step(c, n, "counting hosts");
	if (r < 0)
		return r;
	r = store_sqlite_stmt(c, sql, &s);
	if (r < 0)
		return r;
	bind_filter(s, q, pattern);
	(void) sqlite3_bind_int64(s, 4, (int64_t) q->limit);
	(void) sqlite3_bind_int64(s, 5, (int64_t) q->offset);
	while ((r = store_sqlite_step(c, s, "listing hosts")) > 0) {
		json_t *h = json_object();

		if (jsonw_append(hosts, h) < 0 ||
		    jsonw_set(h, "id", store_sqlite_column_string(s, 0)) < 0 ||
		    jsonw_set(h, "hostname", store_sqlite_column_string(s, 1)) < 0 ||
		    jsonw_set(h, "group", store_sqlite_column_string(s, 2)) < 0 ||
		    jsonw_set(h, "os", store_sqlite_column_string(s, 3)) < 0 ||
		    jsonw_set(h, "agent_version", store_sqlite_column_string(s, 4)) < 0 ||
		    jsonw_set(h, "enrolled", store_sqlite_column_int(s, 5)) < 0 ||
		    jsonw_set(h, "last_seen", store_sqlite_column_int(s, 6)) < 0 ||
		    jsonw_set(h, "last_inventory", store_sqlite_column_int(s, 7)) < 0 ||
		    jsonw_set(h, "revoked", json_boolean(sqlite3_column_int(s, 8))) < 0 ||
		    jsonw_set(h, "serial_number", store_sqlite_column_string(s, 9)) < 0 ||
		    jsonw_set(h, "chassis", store_sqlite_column_string(s, 10)) < 0)
			return -ENOMEM;
	}
	if (r < 0)
		return r;
	*ret = json_pack("{sOsI}", "hosts", hosts, "total",
			 (json_int_t) sqlite3_column_int64(n, 0));
	return *ret ? 0 : -ENOMEM;
}

int store_sqlite_hosts_list(struct store *st, const struct store_host_query *q, json_t **ret)
{
	struct store_sqlite *s = store_sqlite_of(st);
	struct store_sqlite_conn *c;
	const char *sql = NULL;
	json_t *v = NULL;
	int r;

	if (!q || q->limit < 1 || q->limit > 1000 || q->offset > INT64_MAX ||
	    (q->status && !streq(q->status, "active") && !streq(q->status, "revoked")))
		return -EINVAL;
	for (size_t i = 0; i < ARRAY_SIZE(host_sorts); i++)
		if (streq(q->sort ? q->sort : "hostname", host_sorts[i].name))
			sql = host_sorts[i].sql[q->descending];
	if (!sql)
		return -EINVAL;
	r = store_sqlite_begin_read(s, &c);
	if (r < 0)
		return r;
	r = store_sqlite_end(s, c, hosts_list(c, q, sql, &v));
	if (r < 0) {
		json_decref(v);
		return r;
	}
	*ret = v;
	return 0;
}

static int host_get(struct store_sqlite_conn *c, const char *host_id, json_t **ret)
{
	_cleanup_(store_sqlite_resetp) sqlite3_stmt *s = NULL;
	_cleanup_(json_decrefp) json_t *h = json_object(), *evidence = NULL;
	char serial[17];
	int r;

	if (!h)
		return -ENOMEM;
	r = store_sqlite_stmt(
		c,
		"SELECT id, hostname, machine_id, os, agent_version, group_name, facts,"
		"   enrolled, last_seen, last_remote, last_state, revoked_at,"
		"   cert_serial, cert_pem, inventory_digest, inventory_time,"
		"   serial_number, chassis, max_seq, num"
		" FROM hosts WHERE id = ?1 AND deleted IS NULL",
		&s);
	if (r < 0)
		return r;
	(void) store_sqlite_bind_text(s, 1, host_id);
	r = store_sqlite_step(c, s, "reading a host");
	if (r <= 0)
		return r < 0 ? r : -ENOENT;
	/* serials are 63-bit: as text, since JSON numbers past 2^53 lose digits in browsers */
	(void) snprintf(serial, sizeof(serial), "%016" PRIx64,
			(uint64_t) sqlite3_column_int64(s, 12));
	if (jsonw_set(h, "id", store_sqlite_column_string(s, 0)) < 0 ||
	    jsonw_set(h, "hostname", store_sqlite_column_string(s, 1)) < 0 ||
	    jsonw_set(h, "machine_id", store_sqlite_column_string(s, 2)) < 0 ||
	    jsonw_set(h, "os", store_sqlite_column_string(s, 3)) < 0 ||
	    jsonw_set(h, "agent_version", store_sqlite_column_string(s, 4)) < 0 ||
	    jsonw_set(h, "group", store_sqlite_column_string(s, 5)) < 0 ||
	    jsonw_set(h, "facts", store_sqlite_column_json(s, 6)) < 0 ||
	    jsonw_set(h, "enrolled", store_sqlite_column_int(s, 7)) < 0 ||
	    jsonw_set(h, "last_seen", store_sqlite_column_int(s, 8)) < 0 ||
	    jsonw_set(h, "last_remote", store_sqlite_column_string(s, 9)) < 0 ||
	    jsonw_set(h, "state", store_sqlite_column_json(s, 10)) < 0 ||
	    jsonw_set(h, "revoked", json_boolean(sqlite3_column_type(s, 11) != SQLITE_NULL)) < 0 ||
	    jsonw_set(h, "revoked_at", store_sqlite_column_int(s, 11)) < 0 ||
	    jsonw_set(h, "cert_serial", json_string(serial)) < 0 ||
	    jsonw_set(h, "certificate", store_sqlite_column_string(s, 13)) < 0 ||
	    jsonw_set(h, "inventory_digest", store_sqlite_column_string(s, 14)) < 0 ||
	    jsonw_set(h, "last_inventory", store_sqlite_column_int(s, 15)) < 0 ||
	    jsonw_set(h, "serial_number", store_sqlite_column_string(s, 16)) < 0 ||
	    jsonw_set(h, "chassis", store_sqlite_column_string(s, 17)) < 0 ||
	    jsonw_set(h, "acked_seq", store_sqlite_column_int(s, 18)) < 0)
		return -ENOMEM;
	r = store_sqlite_events_evidence_summary(c, sqlite3_column_int64(s, 19), &evidence);
	if (r < 0)
		return r;
	if (jsonw_set(h, "evidence", TAKE_PTR(evidence)) < 0)
		return -ENOMEM;
	*ret = TAKE_PTR(h);
	return 0;
}

int store_sqlite_hosts_get(struct store *st, const char *host_id, json_t **ret)
{
	struct store_sqlite *s = store_sqlite_of(st);
	struct store_sqlite_conn *c;
	json_t *v = NULL;
	int r;

	if (!host_id)
		return -EINVAL;
	r = store_sqlite_begin_read(s, &c);
	if (r < 0)
		return r;
	r = store_sqlite_end(s, c, host_get(c, host_id, &v));
	if (r < 0) {
		json_decref(v);
		return r;
	}
	*ret = v;
	return 0;
}

static int host_revoke(struct store_sqlite_conn *c, const char *host_id, int64_t now)
{
	_cleanup_(store_sqlite_resetp) sqlite3_stmt *s = NULL;
	int64_t host;
	int r = store_sqlite_stmt(c,
				  "UPDATE hosts SET revoked_at = coalesce(revoked_at, ?2)"
				  " WHERE id = ?1 AND deleted IS NULL",
				  &s);

	if (r < 0)
		return r;
	(void) store_sqlite_bind_text(s, 1, host_id);
	(void) sqlite3_bind_int64(s, 2, now);
	r = store_sqlite_step(c, s, "revoking a host");
	if (r < 0)
		return r;
	if (sqlite3_changes(c->db) != 1)
		return -ENOENT;
	/* a revoked host is no longer managed: it leaves the scorecard */
	r = store_sqlite_host_num(c, host_id, &host);
	if (r < 0)
		return r;
	return store_sqlite_compliance_forget(c, host, now, false);
}

int store_sqlite_hosts_revoke(struct store *st, const char *host_id, int64_t now)
{
	struct store_sqlite *s = store_sqlite_of(st);
	struct store_sqlite_conn *c;
	int r;

	if (!host_id)
		return -EINVAL;
	r = store_sqlite_begin_write(s, STORE_SQLITE_FULL, &c);
	if (r < 0)
		return r;
	return store_sqlite_end(s, c, host_revoke(c, host_id, now));
}

/* Every table holding rows of one host, by its number: what deleting a host empties. */
static const char *const host_rows[] = {
	"DELETE FROM events WHERE host = ?1",
	"DELETE FROM event_gaps WHERE host = ?1",
	"DELETE FROM chain_evidence WHERE host = ?1",
	"DELETE FROM software WHERE host = ?1",
	"DELETE FROM inventory_items WHERE host = ?1",
	"DELETE FROM inventory_changes WHERE host = ?1",
	"UPDATE hosts SET deleted = ?2, revoked_at = coalesce(revoked_at, ?2), machine_id = '',"
	"   os = '', agent_version = '', facts = '{}', last_remote = NULL, last_state = NULL,"
	"   cert_pem = '', inventory_digest = '', inventory_time = NULL, serial_number = NULL,"
	"   chassis = NULL"
	" WHERE num = ?1",
};

static int host_delete(struct store_sqlite_conn *c, const char *host_id, int64_t now)
{
	int64_t host;
	int r = store_sqlite_host_num(c, host_id, &host);

	if (r < 0)
		return r;
	r = store_sqlite_compliance_forget(c, host, now, true);
	if (r < 0)
		return r;
	for (size_t i = 0; i < ARRAY_SIZE(host_rows); i++) {
		_cleanup_(store_sqlite_resetp) sqlite3_stmt *s = NULL;

		r = store_sqlite_stmt(c, host_rows[i], &s);
		if (r < 0)
			return r;
		(void) sqlite3_bind_int64(s, 1, host);
		if (sqlite3_bind_parameter_count(s) >= 2)
			(void) sqlite3_bind_int64(s, 2, now);
		r = store_sqlite_step(c, s, "deleting a host");
		if (r < 0)
			return r;
	}
	return 0;
}

int store_sqlite_hosts_delete(struct store *st, const char *host_id, int64_t now)
{
	struct store_sqlite *s = store_sqlite_of(st);
	struct store_sqlite_conn *c;
	int r;

	if (!host_id)
		return -EINVAL;
	r = store_sqlite_begin_write(s, STORE_SQLITE_FULL, &c);
	if (r < 0)
		return r;
	return store_sqlite_end(s, c, host_delete(c, host_id, now));
}
