/*
 * The administrators' view of hosts in the PostgreSQL store: the paged, sorted, filtered
 * host list, one host's details, revocation and deletion — the same statements, indexes
 * and tombstones as store_sqlite_hosts.c, whose comment explains them.
 *
 * Search is ILIKE where SQLite has LIKE: SQLite's LIKE ignores ASCII case, and so does
 * ILIKE on the "C"-collated columns searched here (and only ASCII case, as in SQLite).
 * Deleting a host also deletes its event_seqs, the idempotency keys of its events.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "lib/jsonw.h"
#include "lib/mm.h"
#include "server/store_pg.h"

#define HOST_FILTER                                                                \
	" FROM hosts WHERE deleted IS NULL"                                        \
	"   AND ($1::text IS NULL OR group_name = $1)"                             \
	"   AND ($2::text IS NULL OR ($2 = 'revoked') = (revoked_at IS NOT NULL))" \
	"   AND ($3::text IS NULL OR hostname ILIKE $3 ESCAPE '\\'"                \
	"        OR id ILIKE $3 ESCAPE '\\' OR serial_number ILIKE $3 ESCAPE '\\')"

#define HOST_LIST(order)                                                                \
	"SELECT id, hostname, group_name, os, agent_version, enrolled, last_seen,"      \
	"   inventory_time, revoked_at IS NOT NULL, serial_number, chassis" HOST_FILTER \
	" ORDER BY " order " LIMIT $4 OFFSET $5"

/* NULLs sort first ascending and last descending, as in SQLite. */
static const struct {
	const char *name;
	const char *sql[2]; /* ascending, descending */
} host_sorts[] = {
	{"hostname", {HOST_LIST("hostname, id"), HOST_LIST("hostname DESC, id DESC")}},
	{"last_seen",
	 {HOST_LIST("last_seen NULLS FIRST, id"), HOST_LIST("last_seen DESC NULLS LAST, id DESC")}},
	{"enrolled", {HOST_LIST("enrolled, id"), HOST_LIST("enrolled DESC, id DESC")}},
};

static void filter_params(struct store_pg_params *p, const struct store_host_query *q,
			  const char *pattern)
{
	store_pg_text(p, q->group);
	store_pg_text(p, q->status);
	store_pg_text(p, pattern);
}

static int hosts_list(struct store_pg_conn *c, const struct store_host_query *q, const char *sql,
		      json_t **ret)
{
	struct store_pg_params pn = {.n = 0}, ps = {.n = 0};
	_cleanup_(store_pg_clearp) PGresult *s = NULL, *n = NULL;
	_cleanup_(json_decrefp) json_t *hosts = json_array();
	_cleanup_(freep) char *pattern = q->search ? store_prep_like_pattern(q->search) : NULL;
	int r;

	if (!hosts || (q->search && !pattern))
		return -ENOMEM;
	filter_params(&pn, q, pattern);
	r = store_pg_exec(c, "SELECT count(*)" HOST_FILTER, &pn, "counting hosts", &n);
	if (r < 0)
		return r;
	filter_params(&ps, q, pattern);
	store_pg_int(&ps, (int64_t) q->limit);
	store_pg_int(&ps, (int64_t) q->offset);
	r = store_pg_exec(c, sql, &ps, "listing hosts", &s);
	if (r < 0)
		return r;
	for (int i = 0; i < r; i++) {
		json_t *h = json_object();

		if (jsonw_append(hosts, h) < 0 ||
		    jsonw_set(h, "id", store_pg_json_string(s, i, 0)) < 0 ||
		    jsonw_set(h, "hostname", store_pg_json_string(s, i, 1)) < 0 ||
		    jsonw_set(h, "group", store_pg_json_string(s, i, 2)) < 0 ||
		    jsonw_set(h, "os", store_pg_json_string(s, i, 3)) < 0 ||
		    jsonw_set(h, "agent_version", store_pg_json_string(s, i, 4)) < 0 ||
		    jsonw_set(h, "enrolled", store_pg_json_int(s, i, 5)) < 0 ||
		    jsonw_set(h, "last_seen", store_pg_json_int(s, i, 6)) < 0 ||
		    jsonw_set(h, "last_inventory", store_pg_json_int(s, i, 7)) < 0 ||
		    jsonw_set(h, "revoked", json_boolean(streq(PQgetvalue(s, i, 8), "t"))) < 0 ||
		    jsonw_set(h, "serial_number", store_pg_json_string(s, i, 9)) < 0 ||
		    jsonw_set(h, "chassis", store_pg_json_string(s, i, 10)) < 0)
			return -ENOMEM;
	}
	*ret = json_pack("{sOsI}", "hosts", hosts, "total", (json_int_t) store_pg_get_int(n, 0, 0));
	return *ret ? 0 : -ENOMEM;
}

int store_pg_hosts_list(struct store *st, const struct store_host_query *q, json_t **ret)
{
	struct store_pg *s = store_pg_of(st);
	struct store_pg_conn *c;
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
	r = store_pg_begin(s, STORE_PG_READ, &c);
	if (r < 0)
		return r;
	r = store_pg_end(s, c, hosts_list(c, q, sql, &v));
	if (r < 0) {
		json_decref(v);
		return r;
	}
	*ret = v;
	return 0;
}

static int host_get(struct store_pg_conn *c, const char *host_id, json_t **ret)
{
	struct store_pg_params p = {.n = 0};
	_cleanup_(store_pg_clearp) PGresult *s = NULL;
	_cleanup_(json_decrefp) json_t *h = json_object();
	char serial[17];
	int r;

	if (!h)
		return -ENOMEM;
	store_pg_text(&p, host_id);
	r = store_pg_exec(c,
			  "SELECT id, hostname, machine_id, os, agent_version, group_name, facts,"
			  "   enrolled, last_seen, last_remote, last_state, revoked_at,"
			  "   cert_serial, cert_pem, inventory_digest, inventory_time,"
			  "   serial_number, chassis, max_seq"
			  " FROM hosts WHERE id = $1 AND deleted IS NULL",
			  &p, "reading a host", &s);
	if (r <= 0)
		return r < 0 ? r : -ENOENT;
	/* serials are 63-bit: as text, since JSON numbers past 2^53 lose digits in browsers */
	(void) snprintf(serial, sizeof(serial), "%016" PRIx64,
			(uint64_t) store_pg_get_int(s, 0, 12));
	if (jsonw_set(h, "id", store_pg_json_string(s, 0, 0)) < 0 ||
	    jsonw_set(h, "hostname", store_pg_json_string(s, 0, 1)) < 0 ||
	    jsonw_set(h, "machine_id", store_pg_json_string(s, 0, 2)) < 0 ||
	    jsonw_set(h, "os", store_pg_json_string(s, 0, 3)) < 0 ||
	    jsonw_set(h, "agent_version", store_pg_json_string(s, 0, 4)) < 0 ||
	    jsonw_set(h, "group", store_pg_json_string(s, 0, 5)) < 0 ||
	    jsonw_set(h, "facts", store_pg_json_value(s, 0, 6)) < 0 ||
	    jsonw_set(h, "enrolled", store_pg_json_int(s, 0, 7)) < 0 ||
	    jsonw_set(h, "last_seen", store_pg_json_int(s, 0, 8)) < 0 ||
	    jsonw_set(h, "last_remote", store_pg_json_string(s, 0, 9)) < 0 ||
	    jsonw_set(h, "state", store_pg_json_value(s, 0, 10)) < 0 ||
	    jsonw_set(h, "revoked", json_boolean(!store_pg_is_null(s, 0, 11))) < 0 ||
	    jsonw_set(h, "revoked_at", store_pg_json_int(s, 0, 11)) < 0 ||
	    jsonw_set(h, "cert_serial", json_string(serial)) < 0 ||
	    jsonw_set(h, "certificate", store_pg_json_string(s, 0, 13)) < 0 ||
	    jsonw_set(h, "inventory_digest", store_pg_json_string(s, 0, 14)) < 0 ||
	    jsonw_set(h, "last_inventory", store_pg_json_int(s, 0, 15)) < 0 ||
	    jsonw_set(h, "serial_number", store_pg_json_string(s, 0, 16)) < 0 ||
	    jsonw_set(h, "chassis", store_pg_json_string(s, 0, 17)) < 0 ||
	    jsonw_set(h, "acked_seq", store_pg_json_int(s, 0, 18)) < 0)
		return -ENOMEM;
	*ret = TAKE_PTR(h);
	return 0;
}

int store_pg_hosts_get(struct store *st, const char *host_id, json_t **ret)
{
	struct store_pg *s = store_pg_of(st);
	struct store_pg_conn *c;
	json_t *v = NULL;
	int r;

	if (!host_id)
		return -EINVAL;
	r = store_pg_begin(s, STORE_PG_READ, &c);
	if (r < 0)
		return r;
	r = store_pg_end(s, c, host_get(c, host_id, &v));
	if (r < 0) {
		json_decref(v);
		return r;
	}
	*ret = v;
	return 0;
}

int store_pg_hosts_revoke(struct store *st, const char *host_id, int64_t now)
{
	struct store_pg *s = store_pg_of(st);
	struct store_pg_params p = {.n = 0};
	struct store_pg_conn *c;
	int r;

	if (!host_id)
		return -EINVAL;
	store_pg_text(&p, host_id);
	store_pg_int(&p, now);
	r = store_pg_begin(s, STORE_PG_WRITE, &c);
	if (r < 0)
		return r;
	r = store_pg_exec(c,
			  "UPDATE hosts SET revoked_at = coalesce(revoked_at, $2)"
			  " WHERE id = $1 AND deleted IS NULL",
			  &p, "revoking a host", NULL);
	if (r == 0)
		r = -ENOENT;
	r = store_pg_end(s, c, r);
	return r < 0 ? r : 0;
}

/* Every table holding rows of one host, by its number: what deleting a host empties. */
static const char *const host_rows[] = {
	"DELETE FROM events WHERE host = $1",
	"DELETE FROM event_seqs WHERE host = $1",
	"DELETE FROM software WHERE host = $1",
	"DELETE FROM inventory_items WHERE host = $1",
	"DELETE FROM inventory_changes WHERE host = $1",
};

static int host_delete(struct store_pg_conn *c, const char *host_id, int64_t now)
{
	struct store_pg_params p = {.n = 0};
	int64_t host;
	int r = store_pg_host_num(c, host_id, true, &host);

	if (r < 0)
		return r;
	store_pg_int(&p, host);
	for (size_t i = 0; i < ARRAY_SIZE(host_rows); i++) {
		r = store_pg_exec(c, host_rows[i], &p, "deleting a host", NULL);
		if (r < 0)
			return r;
	}
	store_pg_int(&p, now);
	r = store_pg_exec(c,
			  "UPDATE hosts SET deleted = $2, revoked_at = coalesce(revoked_at, $2),"
			  "   machine_id = '', os = '', agent_version = '', facts = '{}',"
			  "   last_remote = NULL, last_state = NULL, cert_pem = '',"
			  "   inventory_digest = '', inventory_time = NULL, serial_number = NULL,"
			  "   chassis = NULL"
			  " WHERE num = $1",
			  &p, "deleting a host", NULL);
	return r < 0 ? r : 0;
}

int store_pg_hosts_delete(struct store *st, const char *host_id, int64_t now)
{
	struct store_pg *s = store_pg_of(st);
	struct store_pg_conn *c;
	int r;

	if (!host_id)
		return -EINVAL;
	r = store_pg_begin(s, STORE_PG_WRITE, &c);
	if (r < 0)
		return r;
	return store_pg_end(s, c, host_delete(c, host_id, now));
}
