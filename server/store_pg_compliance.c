/*
 * The guideline scorecard in the PostgreSQL store: per-host results with their evidence,
 * the roll-ups kept in step with them, the daily snapshots and status changes, the per-host
 * event summaries, host owners and attestations — the same tables, rules and results as
 * store_sqlite_compliance.c, whose comment explains them; the roll-up arithmetic and the
 * validation of results and attestations are store_prep.c's, shared with it.
 *
 * What differs is the number of round trips, and that several servers write at once.
 *
 * Round trips. SQLite is in-process and reads a host's items with eight point lookups;
 * here a page of up to PAGE hosts is read with one statement (the hosts with their facts,
 * each followed by every item the checks read of it, ordered by host, item and key), and
 * one host's facts are that statement without a transaction around it (its own
 * snapshot). Storing results is two statements whatever the page holds: the page's live
 * hosts are locked, then one statement (data-modifying CTEs over the new rows sent as
 * arrays) compares them with the stored rows, writes the rows that differ, deletes the
 * rows of measures no longer evaluated, records the status transitions, and returns what
 * it changed, from which the roll-up deltas are computed. Only when something changed do
 * two more follow: the roll-up lock, then one statement moving the roll-ups and
 * refreshing today's snapshot.
 *
 * Concurrency. Every writer of a host's results first locks the host's row (FOR UPDATE, a
 * page's hosts in id order), so two servers scoring the same host take turns, and the
 * second compares against what the first wrote instead of both computing deltas from the
 * same old rows; revocation and deletion hold the same lock. The roll-ups and the daily
 * snapshot are shared by every host: their writers serialise on a transaction-level
 * advisory lock (1835101551, 4), taken after the host rows and only just before the
 * roll-ups are written, so the counters never deadlock and a snapshot always copies
 * roll-ups holding every change committed before it. Scoring itself (reading facts,
 * running the checks) happens outside any write transaction, as with SQLite: two servers
 * scoring one host from different facts store whichever result commits last, and the
 * host's next trigger corrects it.
 *
 * The members of an item the checks never read (checks_item.drop) are removed after
 * parsing, not by SQL: jsonb would remove them but reorder every object's members, and
 * the evidence copies some facts verbatim, so the same facts would give another evidence
 * text than SQLite's (and a store copied from SQLite would rewrite every such row).
 *
 * Writes of results use synchronous_commit off (all of it is recomputable, as SQLite's
 * NORMAL); owners and attestations, an administrator's word, wait for the WAL flush.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "lib/buf.h"
#include "lib/checks.h"
#include "lib/jsonw.h"
#include "lib/mm.h"
#include "lib/str.h"
#include "server/store_pg.h"

#define PAGE        256 /* hosts read per pair of statements by a scan */
#define MAX_ITEMS   32
#define RESULTS_MAX 10000
#define PATH_MAX_   128 /* a drop path of checks_item, "$.a.b.c" */

/* The roll-ups' lock: advisory key (1835101551 'mamo', 4). */
static const char lock_rollups[] = "SELECT pg_advisory_xact_lock(1835101551, 4)";

/* ---- reading a host's facts ---- */

/*
 * Hosts with their facts and the items the checks read, in one statement: the CTE hs picks
 * the hosts; each gets one row of its own (item ordinal 0: id, last inventory, owner,
 * USB policy version — an integer, or the leading number of the agent's "P-DIGEST" text (0
 * when it has none), as SQLite's CAST gives them; a fraction is not one; read from
 * usb_policy_version when the agent reports it apart, since an agent without USB control
 * holds a policy but enforces none — and event summary), followed by the values of the
 * items named by ($1 sections, $2 lists), by item, then key.
 */
#define HOST_FACTS                                                                         \
	" h.num, h.id, h.inventory_time, h.owner,"                                         \
	"   CASE json_typeof(pv.v)"                                                        \
	"     WHEN 'number' THEN pv.v #>> '{}'"                                            \
	"     WHEN 'string' THEN coalesce(substring(pv.v #>> '{}' from '^[0-9]+'), '0')"   \
	"   END AS policy,"                                                                \
	"   f.events"                                                                      \
	" FROM hosts h LEFT JOIN compliance_facts f ON f.host = h.num"                     \
	" CROSS JOIN LATERAL (SELECT coalesce(h.last_state::json -> 'usb_policy_version'," \
	"   h.last_state::json -> 'policy_version') AS v) pv"                              \
	" WHERE h.deleted IS NULL AND h.revoked_at IS NULL"
#define WITH_ITEMS                                                                              \
	" SELECT hs.ord, 0::bigint, NULL::text, hs.id, hs.inventory_time, hs.owner, hs.policy," \
	"   hs.events, NULL::text COLLATE \"C\" FROM hs"                                        \
	" UNION ALL"                                                                            \
	" SELECT hs.ord, x.ord, i.value, NULL, NULL, NULL, NULL, NULL, i.key FROM hs"           \
	"   CROSS JOIN unnest($1::text[], $2::text[]) WITH ORDINALITY AS x(section, list, ord)" \
	"   JOIN inventory_items i ON i.host = hs.num AND i.section = x.section"                \
	"     AND i.list = x.list"                                                              \
	" ORDER BY 1, 2, 9"

/* The columns of a HOST_FACTS … WITH_ITEMS result. */
enum {
	COL_HOST,  /* the host's ordinal in the result */
	COL_ITEM,  /* the item's ordinal in checks_item (from 1); 0: the host's own row */
	COL_VALUE, /* the item's value */
	COL_ID,
	COL_INVENTORY_TIME,
	COL_OWNER,
	COL_POLICY,
	COL_EVENTS,
};

static const char one_host[] =
	"WITH hs AS (SELECT 1::bigint AS ord," HOST_FACTS " AND h.id = $3)" WITH_ITEMS;
static const char page_hosts[] =
	"WITH hs AS (SELECT row_number() OVER (ORDER BY h.id) AS ord," HOST_FACTS
	"   AND h.id > $3 ORDER BY h.id LIMIT $4)" WITH_ITEMS;

/* The items to read as two array parameters, built once per operation. */
struct item_params {
	const struct checks_item *items;
	size_t n;
	struct buf sections, lists;
};

static void item_params_done(struct item_params *ip)
{
	buf_done(&ip->sections);
	buf_done(&ip->lists);
}

static int item_params_init(struct item_params *ip, const struct checks_item *items)
{
	int r = 0;

	*ip = (struct item_params){.items = items};
	store_pg_array_init(&ip->sections);
	store_pg_array_init(&ip->lists);
	for (; items && items[ip->n].section && ip->n < MAX_ITEMS && r >= 0; ip->n++) {
		r = store_pg_array_add(&ip->sections, items[ip->n].section);
		if (r >= 0)
			r = store_pg_array_add(&ip->lists,
					       items[ip->n].list ? items[ip->n].list : "");
	}
	if (r >= 0)
		r = store_pg_array_end(&ip->sections);
	if (r >= 0)
		r = store_pg_array_end(&ip->lists);
	return r;
}

/* Removes the member at path ("$.a.b", member names only, as checks_item's) from v, if
 * it is there: what SQLite's json_remove() does with such a path. */
static void drop_member(json_t *v, const char *path)
{
	char buf[PATH_MAX_];
	char *name = buf, *dot;

	if (!str_startswith(path, "$.") || strlen(path) >= sizeof(buf))
		return;
	memcpy(buf, path + 2, strlen(path + 2) + 1);
	while ((dot = strchr(name, '.'))) {
		*dot = '\0';
		v = json_object_get(v, name);
		name = dot + 1;
	}
	if (json_is_object(v))
		(void) json_object_del(v, name);
}

/* Fills h from a host's own row i (the document stays empty). */
static int fill_host(const PGresult *res, int i, struct store_compliance_host *h)
{
	const char *policy = store_pg_get(res, i, COL_POLICY);
	int64_t v;
	int r;

	*h = (struct store_compliance_host){.last_inventory = -1, .policy_version = -1};
	r = store_pg_get_copy(res, i, COL_ID, h->host_id, sizeof(h->host_id));
	if (r < 0)
		return r;
	h->doc = json_object();
	if (!h->doc)
		return -ENOMEM;
	if (!store_pg_is_null(res, i, COL_INVENTORY_TIME))
		h->last_inventory = store_pg_get_int(res, i, COL_INVENTORY_TIME);
	if (!store_pg_is_null(res, i, COL_OWNER)) {
		h->owner = mm_strdup(store_pg_get(res, i, COL_OWNER));
		if (!h->owner)
			return -ENOMEM;
	}
	if (policy && str_to_i64(policy, 10, &v) == 0)
		h->policy_version = v;
	h->events = store_pg_is_null(res, i, COL_EVENTS) ? json_object()
							 : store_pg_json_value(res, i, COL_EVENTS);
	if (!h->events)
		return -ENOMEM;
	if (!json_is_object(h->events)) {
		json_decref(h->events);
		h->events = json_object();
		if (!h->events)
			return -ENOMEM;
	}
	return 0;
}

/* Adds item row k to the host's partial document. */
static int add_item(const PGresult *res, int k, const struct item_params *ip,
		    struct store_compliance_host *h)
{
	int64_t item = store_pg_get_int(res, k, COL_ITEM) - 1;
	const struct checks_item *it;
	json_t *v;

	if (item < 0 || (size_t) item >= ip->n)
		return -EIO;
	it = &ip->items[item];
	v = store_pg_json_value(res, k, COL_VALUE);
	if (!v)
		return -ENOMEM;
	for (int d = 0; d < CHECKS_ITEM_DROP_MAX && it->drop[d]; d++)
		drop_member(v, it->drop[d]);
	return store_prep_add_item_value(h->doc, it->section, it->list ? it->list : "", v);
}

/* Called for each host of a result; h is the callee's to keep (by zeroing it) or not. */
typedef int (*host_fn)(struct store_compliance_host *h, void *userdata);

/*
 * Calls fn for each host of a HOST_FACTS … WITH_ITEMS result, in order, with its facts and
 * partial document. *ret_hosts (optional) gets how many hosts it held and ret_last (of
 * STORE_ID_MAX bytes, optional) the last one's id.
 */
static int each_host(const PGresult *res, int n, const struct item_params *ip, host_fn fn,
		     void *userdata, size_t *ret_hosts, char *ret_last)
{
	size_t hosts = 0;
	int r = 0;

	for (int i = 0; i < n && r >= 0;) {
		struct store_compliance_host h;
		int k = i + 1;

		if (store_pg_get_int(res, i, COL_ITEM) != 0)
			return -EIO; /* items come after their host's own row */
		r = fill_host(res, i, &h);
		for (; r >= 0 && k < n && store_pg_get_int(res, k, COL_ITEM) != 0; k++)
			r = add_item(res, k, ip, &h);
		if (r >= 0 && ret_last)
			memcpy(ret_last, h.host_id, sizeof(h.host_id));
		if (r >= 0)
			r = fn(&h, userdata);
		store_compliance_host_done(&h);
		hosts++;
		i = k;
	}
	if (r >= 0 && ret_hosts)
		*ret_hosts = hosts;
	return r;
}

static int take_host(struct store_compliance_host *h, void *userdata)
{
	*(struct store_compliance_host *) userdata = *h;
	*h = (struct store_compliance_host){.doc = NULL};
	return 0;
}

static int host_get(struct store_pg_conn *c, const char *host_id, const struct item_params *ip,
		    struct store_compliance_host *ret)
{
	struct store_pg_params p = {.n = 0};
	_cleanup_(store_pg_clearp) PGresult *res = NULL;
	int n;

	store_pg_text(&p, buf_str(&ip->sections));
	store_pg_text(&p, buf_str(&ip->lists));
	store_pg_text(&p, host_id);
	n = store_pg_exec(c, one_host, &p, "reading a host's compliance facts", &res);
	if (n <= 0)
		return n < 0 ? n : -ENOENT;
	return each_host(res, n, ip, take_host, ret, NULL, NULL);
}

struct host_get_args {
	const char *host_id;
	const struct item_params *ip;
	struct store_compliance_host h;
};

static int host_get_one(struct store_pg_conn *c, void *userdata)
{
	struct host_get_args *a = userdata;

	store_compliance_host_done(&a->h); /* a second try starts afresh */
	return host_get(c, a->host_id, a->ip, &a->h);
}

int store_pg_compliance_host_get(struct store *st, const char *host_id,
				 const struct checks_item *items, struct store_compliance_host *ret)
{
	struct host_get_args a = {.host_id = host_id, .h = {.doc = NULL}};
	struct item_params ip;
	int r;

	if (!host_id || !ret)
		return -EINVAL;
	r = item_params_init(&ip, items);
	if (r < 0) {
		item_params_done(&ip);
		return r;
	}
	/* one statement, one snapshot: no transaction (a round trip each way) around it */
	a.ip = &ip;
	r = store_pg_one(store_pg_of(st), host_get_one, &a);
	item_params_done(&ip);
	if (r < 0) {
		store_compliance_host_done(&a.h);
		return r;
	}
	*ret = a.h;
	return 0;
}

struct scan_args {
	store_compliance_scan_fn fn;
	void *userdata;
	size_t count;
};

static int scan_one(struct store_compliance_host *h, void *userdata)
{
	struct scan_args *a = userdata;
	int r = a->fn(h, a->userdata);

	if (r >= 0)
		a->count++;
	return r;
}

static int scan(struct store_pg_conn *c, const struct item_params *ip, const char *after_id,
		size_t limit, struct scan_args *a)
{
	char after[STORE_ID_MAX] = "";

	if (after_id && strlen(after_id) >= sizeof(after))
		return -EINVAL;
	if (after_id)
		memcpy(after, after_id, strlen(after_id) + 1);
	/* pages of PAGE hosts, all in the operation's one snapshot */
	while (a->count < limit) {
		struct store_pg_params p = {.n = 0};
		_cleanup_(store_pg_clearp) PGresult *res = NULL;
		size_t want = MIN((size_t) PAGE, limit - a->count), hosts = 0;
		int n, r;

		store_pg_text(&p, buf_str(&ip->sections));
		store_pg_text(&p, buf_str(&ip->lists));
		store_pg_text(&p, after);
		store_pg_int(&p, (int64_t) want);
		n = store_pg_exec(c, page_hosts, &p, "reading hosts to score", &res);
		if (n < 0)
			return n;
		r = each_host(res, n, ip, scan_one, a, &hosts, after);
		if (r < 0)
			return r;
		if (hosts < want)
			break;
	}
	return 0;
}

int store_pg_compliance_scan(struct store *st, const struct checks_item *items, const char *after,
			     size_t limit, store_compliance_scan_fn fn, void *userdata,
			     size_t *ret_count)
{
	struct store_pg *s = store_pg_of(st);
	struct scan_args a = {.fn = fn, .userdata = userdata};
	struct item_params ip;
	struct store_pg_conn *c;
	int r;

	if (!fn || limit < 1 || limit > INT64_MAX)
		return -EINVAL;
	r = item_params_init(&ip, items);
	if (r >= 0)
		r = store_pg_begin(s, STORE_PG_READ, &c);
	if (r < 0) {
		item_params_done(&ip);
		return r;
	}
	r = store_pg_end(s, c, scan(c, &ip, after, limit, &a));
	item_params_done(&ip);
	if (r >= 0 && ret_count)
		*ret_count = a.count;
	return r;
}

/* ---- the roll-ups ---- */

/*
 * Moves the roll-ups by ds and refreshes today's snapshot, under the roll-ups' lock, in
 * one statement: the upsert's RETURNING gives the rows it moved, the rows it did not move
 * are as the statement's snapshot shows them (taken after the lock, so nothing committed
 * since is missed), and roll-up rows are never deleted, so upserting them all into today's
 * snapshot replaces it.
 */
static int rollups_write(struct store_pg_conn *c, const struct store_rollup_deltas *ds, int64_t now)
{
	static const char move[] =
		"WITH up AS (INSERT INTO compliance_rollup"
		"     (kind, id, met, not_met, unknown, not_applicable)"
		"   SELECT * FROM unnest($1::text[], $2::text[], $3::bigint[], $4::bigint[],"
		"     $5::bigint[], $6::bigint[]) AS u(kind, id, a, b, c, d)"
		"   ORDER BY kind, id"
		"   ON CONFLICT (kind, id) DO UPDATE SET"
		"     met = compliance_rollup.met + excluded.met,"
		"     not_met = compliance_rollup.not_met + excluded.not_met,"
		"     unknown = compliance_rollup.unknown + excluded.unknown,"
		"     not_applicable = compliance_rollup.not_applicable + excluded.not_applicable"
		"   RETURNING kind, id, met, not_met, unknown, not_applicable),"
		" cur AS (SELECT * FROM up UNION ALL"
		"   SELECT r.kind, r.id, r.met, r.not_met, r.unknown, r.not_applicable"
		"   FROM compliance_rollup r"
		"   WHERE NOT EXISTS (SELECT 1 FROM up WHERE up.kind = r.kind AND up.id = r.id))"
		" INSERT INTO compliance_daily"
		"   (day, kind, id, met, not_met, unknown, not_applicable)"
		" SELECT $7, * FROM cur"
		" ON CONFLICT (day, kind, id) DO UPDATE SET met = excluded.met,"
		"   not_met = excluded.not_met, unknown = excluded.unknown,"
		"   not_applicable = excluded.not_applicable";
	struct store_pg_params p = {.n = 0};
	struct buf col[2 + CHECKS_STATUS_MAX];
	int r;

	r = store_pg_exec(c, lock_rollups, NULL, "waiting for the compliance roll-ups", NULL);
	if (r < 0)
		return r;
	for (size_t k = 0; k < ARRAY_SIZE(col); k++)
		store_pg_array_init(&col[k]);
	r = 0;
	for (size_t i = 0; i < ds->n && r >= 0; i++) {
		if (store_prep_rollup_zero(&ds->v[i]))
			continue;
		r = store_pg_array_add(&col[0], store_rollup_kinds[ds->v[i].kind]);
		if (r >= 0)
			r = store_pg_array_add(&col[1], ds->v[i].id);
		for (int k = 0; k < CHECKS_STATUS_MAX && r >= 0; k++)
			r = store_pg_array_add_int(&col[2 + k], ds->v[i].d[k]);
	}
	for (size_t k = 0; k < ARRAY_SIZE(col) && r >= 0; k++)
		r = store_pg_array_end(&col[k]);
	if (r >= 0) {
		for (size_t k = 0; k < ARRAY_SIZE(col); k++)
			store_pg_text(&p, buf_str(&col[k]));
		store_pg_int(&p, now / 86400);
		r = store_pg_exec(c, move, &p, "updating the compliance roll-ups", NULL);
	}
	for (size_t k = 0; k < ARRAY_SIZE(col); k++)
		buf_done(&col[k]);
	return r < 0 ? r : 0;
}

/* ---- applying results ---- */

/*
 * The difference between the new rows ($2…$7: host, measure, category, role, status,
 * evidence) of the hosts $1 and their stored rows, written: changed and new rows upserted
 * (a row keeps `since` while its status stays), rows of measures not in the new set
 * deleted, status transitions recorded at $8. Returns one row per row written or deleted:
 * measure, the new category, role and status (NULL when deleted), the old ones (NULL when
 * new). The hosts are locked, so nothing else writes their rows meanwhile.
 */
static const char apply_sql[] =
	"WITH n AS (SELECT * FROM unnest($2::bigint[], $3::text[], $4::text[], $5::text[],"
	"     $6::text[], $7::text[]) AS n(host, measure, category, role, status, evidence)),"
	" o AS (SELECT host, measure, category, role, status, evidence"
	"   FROM compliance_results WHERE host = ANY($1::bigint[])),"
	" d AS (SELECT n.*, o.category AS o_category, o.role AS o_role, o.status AS o_status"
	"   FROM n LEFT JOIN o ON o.host = n.host AND o.measure = n.measure"
	"   WHERE o.host IS NULL OR o.status <> n.status OR o.category <> n.category"
	"     OR o.role <> n.role OR o.evidence <> n.evidence),"
	" g AS (SELECT o.* FROM o WHERE NOT EXISTS"
	"   (SELECT 1 FROM n WHERE n.host = o.host AND n.measure = o.measure)),"
	" w AS (INSERT INTO compliance_results"
	"     (host, measure, category, role, status, evidence, since)"
	"   SELECT host, measure, category, role, status, evidence, $8 FROM d"
	"   ON CONFLICT (host, measure) DO UPDATE SET"
	"     category = excluded.category, role = excluded.role, evidence = excluded.evidence,"
	"     since = CASE WHEN compliance_results.status = excluded.status"
	"       THEN compliance_results.since ELSE excluded.since END,"
	"     status = excluded.status),"
	" x AS (DELETE FROM compliance_results r USING g"
	"   WHERE r.host = g.host AND r.measure = g.measure),"
	/* a first evaluation is not a change: history holds transitions only */
	" c AS (INSERT INTO compliance_changes (host, measure, time, old_status, new_status)"
	"   SELECT host, measure, $8, o_status, status FROM d"
	"   WHERE o_status IS NOT NULL AND o_status <> status ORDER BY host, measure)"
	" SELECT measure, category, role, status, o_category, o_role, o_status FROM d"
	" UNION ALL"
	" SELECT measure, NULL, NULL, NULL, category, role, status FROM g";

/* The live hosts of one apply, locked, by id (their order in the lock result). */
struct locked {
	PGresult *res;
	int n;
};

/* The row number of host_id if it is live and locked, else -1. */
static int64_t locked_num(const struct locked *l, const char *host_id)
{
	int lo = 0, hi = l->n;

	/* ids are sorted byte-wise (COLLATE "C"), as strcmp() compares */
	while (lo < hi) {
		int mid = lo + (hi - lo) / 2, cmp = strcmp(PQgetvalue(l->res, mid, 1), host_id);

		if (cmp == 0)
			return store_pg_get_int(l->res, mid, 0);
		if (cmp < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return -1;
}

/* Locks the live hosts among those of hosts[0..n), in id order. */
static int lock_hosts(struct store_pg_conn *c, const struct store_compliance_result *hosts,
		      size_t n, struct locked *ret)
{
	struct store_pg_params p = {.n = 0};
	struct buf ids;
	int r = 0;

	store_pg_array_init(&ids);
	for (size_t i = 0; i < n && r >= 0; i++)
		r = store_pg_array_add(&ids, hosts[i].host_id);
	if (r >= 0)
		r = store_pg_array_end(&ids);
	if (r >= 0) {
		store_pg_text(&p, buf_str(&ids));
		r = store_pg_exec(c,
				  "SELECT num, id FROM hosts WHERE id = ANY($1::text[])"
				  "   AND deleted IS NULL AND revoked_at IS NULL"
				  " ORDER BY id FOR UPDATE",
				  &p, "locking hosts to score", &ret->res);
		ret->n = r;
	}
	buf_done(&ids);
	return r < 0 ? r : 0;
}

/* Folds the rows apply_sql returned into the roll-up deltas. */
static int deltas_of(const PGresult *res, int n, struct store_rollup_deltas *ds)
{
	for (int i = 0; i < n; i++) {
		const char *measure = store_pg_get(res, i, 0);
		enum checks_status st;
		int r = 0;

		if (!store_pg_is_null(res, i, 6)) {
			if (checks_status_from_name(store_pg_get(res, i, 6), &st) < 0)
				return -EIO;
			r = store_prep_rollup_move(ds, measure, store_pg_get(res, i, 4),
						   store_pg_get(res, i, 5), (int) st, -1);
		}
		if (r >= 0 && !store_pg_is_null(res, i, 3)) {
			if (checks_status_from_name(store_pg_get(res, i, 3), &st) < 0)
				return -EIO;
			r = store_prep_rollup_move(ds, measure, store_pg_get(res, i, 1),
						   store_pg_get(res, i, 2), (int) st, +1);
		}
		if (r < 0)
			return r;
	}
	return 0;
}

#define APPLY_COLS 6 /* host, measure, category, role, status, evidence */

/* Writes the difference for hosts[from..to) (distinct ids) and folds it into ds. */
static int apply_segment(struct store_pg_conn *c, const struct locked *l,
			 const struct store_compliance_result *hosts, size_t from, size_t to,
			 int64_t now, struct store_rollup_deltas *ds, size_t *changed)
{
	struct store_pg_params p = {.n = 0};
	_cleanup_(store_pg_clearp) PGresult *res = NULL;
	struct buf nums, col[APPLY_COLS];
	bool any = false;
	int r = 0;

	store_pg_array_init(&nums);
	for (size_t k = 0; k < APPLY_COLS; k++)
		store_pg_array_init(&col[k]);
	for (size_t i = from; i < to && r >= 0; i++) {
		int64_t num = locked_num(l, hosts[i].host_id);

		if (num < 0)
			continue; /* unknown, deleted or revoked: skipped */
		any = true;
		r = store_pg_array_add_int(&nums, num);
		for (size_t k = 0; k < hosts[i].n && r >= 0; k++) {
			const struct store_compliance_row *w = &hosts[i].rows[k];

			r = store_pg_array_add_int(&col[0], num);
			if (r >= 0)
				r = store_pg_array_add(&col[1], w->measure);
			if (r >= 0)
				r = store_pg_array_add(&col[2], w->category);
			if (r >= 0)
				r = store_pg_array_add(&col[3], w->role);
			if (r >= 0)
				r = store_pg_array_add(&col[4], w->status);
			if (r >= 0)
				r = store_pg_array_add(&col[5], w->evidence);
		}
	}
	if (r >= 0 && any) {
		r = store_pg_array_end(&nums);
		for (size_t k = 0; k < APPLY_COLS && r >= 0; k++)
			r = store_pg_array_end(&col[k]);
	}
	if (r >= 0 && any) {
		store_pg_text(&p, buf_str(&nums));
		for (size_t k = 0; k < APPLY_COLS; k++)
			store_pg_text(&p, buf_str(&col[k]));
		store_pg_int(&p, now);
		r = store_pg_exec(c, apply_sql, &p, "writing compliance results", &res);
		if (r > 0) {
			*changed += (size_t) r;
			r = deltas_of(res, r, ds);
		}
	}
	buf_done(&nums);
	for (size_t k = 0; k < APPLY_COLS; k++)
		buf_done(&col[k]);
	return r < 0 ? r : 0;
}

static int apply(struct store_pg_conn *c, const struct store_compliance_result *hosts, size_t n,
		 int64_t now, size_t *ret_changed)
{
	struct locked l = {.res = NULL};
	struct store_rollup_deltas ds = {0};
	size_t changed = 0, from = 0;
	int r = lock_hosts(c, hosts, n, &l);

	/* one statement per run of distinct hosts: a host named twice is applied twice, in
	 * order, as SQLite does */
	for (size_t i = 1; r >= 0 && i <= n; i++) {
		bool repeat = false;

		for (size_t k = from; i < n && k < i && !repeat; k++)
			repeat = streq(hosts[k].host_id, hosts[i].host_id);
		if (i < n && !repeat)
			continue;
		r = apply_segment(c, &l, hosts, from, i, now, &ds, &changed);
		from = i;
	}
	if (r >= 0 && changed)
		r = rollups_write(c, &ds, now);
	store_prep_rollup_done(&ds);
	if (l.res)
		PQclear(l.res);
	if (r >= 0)
		*ret_changed = changed;
	return r;
}

int store_pg_compliance_apply(struct store *st, const struct store_compliance_result *hosts,
			      size_t n, int64_t now, size_t *ret_changed)
{
	struct store_pg *s = store_pg_of(st);
	struct store_pg_conn *c;
	size_t changed = 0;
	int r;

	for (size_t i = 0; i < n; i++)
		if (!store_prep_compliance_result_ok(&hosts[i]))
			return -EINVAL;
	if (n == 0) {
		if (ret_changed)
			*ret_changed = 0;
		return 0;
	}
	r = store_pg_begin(s, STORE_PG_WRITE_ASYNC, &c);
	if (r < 0)
		return r;
	r = store_pg_end(s, c, apply(c, hosts, n, now, &changed));
	if (r >= 0 && ret_changed)
		*ret_changed = changed;
	return r;
}

int store_pg_compliance_forget(struct store_pg_conn *c, int64_t host, int64_t now, bool history)
{
	struct store_pg_params p = {.n = 0};
	_cleanup_(store_pg_clearp) PGresult *res = NULL;
	struct store_rollup_deltas ds = {0};
	int n, r;

	store_pg_int(&p, host);
	n = store_pg_exec(c,
			  "DELETE FROM compliance_results WHERE host = $1"
			  " RETURNING measure, NULL, NULL, NULL, category, role, status",
			  &p, "removing a host from the scorecard", &res);
	if (n < 0)
		return n;
	r = deltas_of(res, n, &ds);
	if (r >= 0)
		r = store_pg_exec(c, "DELETE FROM compliance_facts WHERE host = $1", &p,
				  "removing a host from the scorecard", NULL);
	if (r >= 0 && history)
		r = store_pg_exec(c, "DELETE FROM compliance_changes WHERE host = $1", &p,
				  "removing a host from the scorecard", NULL);
	if (r >= 0 && n)
		r = rollups_write(c, &ds, now);
	store_prep_rollup_done(&ds);
	return r < 0 ? r : 0;
}

/* ---- events ---- */

/*
 * The chain's findings for the summary (checks_events_chain), as the SQLite store reads
 * them: the host's gaps and breaks detected within the summary's reach, newest first, one
 * row past CHECKS_CHAIN_ROWS to tell that there were more. Read after the batch's
 * ingestion committed, under the host's row lock, so a gap found in a batch is in the
 * summary that batch leaves behind.
 */
static int chain_findings(struct store_pg_conn *c, int64_t host, json_t *summary, int64_t now)
{
	static const char *const sql[2] = {
		"SELECT reason, first_seq, last_seq, detected FROM event_gaps"
		" WHERE host = $1 AND detected > $2 ORDER BY detected DESC, first_seq DESC"
		" LIMIT $3",
		"SELECT kind, first_seq, last_seq, detected FROM chain_evidence"
		" WHERE host = $1 AND kind <> 'unchained' AND detected > $2"
		" ORDER BY detected DESC, id DESC LIMIT $3",
	};
	static const char *const kind_key[2] = {"reason", "kind"};
	_cleanup_(json_decrefp) json_t *gaps = json_array(), *breaks = json_array();
	json_t *rows[2] = {gaps, breaks};
	bool truncated = false;

	if (!gaps || !breaks)
		return -ENOMEM;
	for (int k = 0; k < 2; k++) {
		_cleanup_(store_pg_clearp) PGresult *res = NULL;
		struct store_pg_params p = {.n = 0};
		int n;

		store_pg_int(&p, host);
		store_pg_int(&p, now - (int64_t) CHECKS_EVENT_DAYS * 86400);
		store_pg_int(&p, CHECKS_CHAIN_ROWS + 1);
		n = store_pg_exec(c, sql[k], &p, "reading the event chain's findings", &res);
		if (n < 0)
			return n;
		for (int i = 0; i < n; i++) {
			if (json_array_size(rows[k]) >= CHECKS_CHAIN_ROWS) {
				truncated = true;
				break;
			}
			if (jsonw_append(
				    rows[k],
				    json_pack("{s:s, s:I, s:I, s:I}", kind_key[k],
					      store_pg_get(res, i, 0), "first_seq",
					      (json_int_t) store_pg_get_int(res, i, 1), "last_seq",
					      (json_int_t) store_pg_get_int(res, i, 2), "detected",
					      (json_int_t) store_pg_get_int(res, i, 3))) < 0)
				return -ENOMEM;
		}
	}
	return checks_events_chain(summary, gaps, breaks, truncated, now);
}

static int events(struct store_pg_conn *c, const char *host_id, const json_t *batch, int64_t now)
{
	struct store_pg_params p = {.n = 0}, w = {.n = 0};
	_cleanup_(store_pg_clearp) PGresult *res = NULL;
	_cleanup_(json_decrefp) json_t *summary = NULL;
	_cleanup_(freep) char *text = NULL;
	int64_t host;
	/* the host's row lock makes read-fold-write one step for concurrent batches */
	int r = store_pg_host_num(c, host_id, true, &host);

	if (r < 0)
		return r;
	store_pg_int(&p, host);
	r = store_pg_exec(c, "SELECT events FROM compliance_facts WHERE host = $1", &p,
			  "reading an event summary", &res);
	if (r < 0)
		return r;
	summary = r ? store_pg_json_value(res, 0, 0) : json_object();
	if (!summary)
		return -ENOMEM;
	if (!json_is_object(summary)) {
		json_decref(summary);
		summary = json_object();
		if (!summary)
			return -ENOMEM;
	}
	r = checks_events_summarise(summary, batch, now);
	if (r >= 0)
		r = chain_findings(c, host, summary, now);
	if (r < 0)
		return r;
	text = jsonw_dump(summary);
	if (!text)
		return -ENOMEM;
	store_pg_int(&w, host);
	store_pg_text(&w, text);
	r = store_pg_exec(c,
			  "INSERT INTO compliance_facts (host, events) VALUES ($1, $2)"
			  " ON CONFLICT (host) DO UPDATE SET events = excluded.events",
			  &w, "writing an event summary", NULL);
	return r < 0 ? r : 0;
}

int store_pg_compliance_events(struct store *st, const char *host_id, const json_t *batch,
			       int64_t now)
{
	struct store_pg *s = store_pg_of(st);
	struct store_pg_conn *c;
	int r;

	if (!host_id || !json_is_array(batch))
		return -EINVAL;
	r = store_pg_begin(s, STORE_PG_WRITE_ASYNC, &c);
	if (r < 0)
		return r;
	return store_pg_end(s, c, events(c, host_id, batch, now));
}

/* ---- owners ---- */

int store_pg_compliance_set_owner(struct store *st, const char *host_id, const char *owner)
{
	struct store_pg *s = store_pg_of(st);
	struct store_pg_params p = {.n = 0};
	struct store_pg_conn *c;
	int r;

	if (!host_id)
		return -EINVAL;
	store_pg_text(&p, host_id);
	store_pg_text(&p, owner && *owner ? owner : NULL);
	r = store_pg_begin(s, STORE_PG_WRITE, &c);
	if (r < 0)
		return r;
	r = store_pg_exec(c, "UPDATE hosts SET owner = $2 WHERE id = $1 AND deleted IS NULL", &p,
			  "setting a host's owner", NULL);
	if (r == 0)
		r = -ENOENT;
	r = store_pg_end(s, c, r);
	return r < 0 ? r : 0;
}

/* ---- reading the scorecard ---- */

static json_t *counts_json(const PGresult *res, int i, int first)
{
	return json_pack("{s:o, s:o, s:o, s:o}", "met", store_pg_json_int(res, i, first), "not_met",
			 store_pg_json_int(res, i, first + 1), "unknown",
			 store_pg_json_int(res, i, first + 2), "not_applicable",
			 store_pg_json_int(res, i, first + 3));
}

static json_t *result_json(const PGresult *res, int i)
{
	json_t *ev = store_pg_json_value(res, i, 7);

	if (!ev)
		return NULL;
	return json_pack("{s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o}", "host_id",
			 store_pg_json_string(res, i, 0), "hostname",
			 store_pg_json_string(res, i, 1), "owner", store_pg_json_string(res, i, 2),
			 "measure", store_pg_json_string(res, i, 3), "category",
			 store_pg_json_string(res, i, 4), "role", store_pg_json_string(res, i, 5),
			 "status", store_pg_json_string(res, i, 6), "evidence", ev, "since",
			 store_pg_json_int(res, i, 8));
}

#define RESULT_COLUMNS                                                               \
	"SELECT h.id, h.hostname, h.owner, r.measure, r.category, r.role, r.status," \
	"   r.evidence, r.since FROM compliance_results r JOIN hosts h ON h.num = r.host"
#define OF_HOST " r.host = (SELECT num FROM hosts WHERE id = $1 AND deleted IS NULL)"

static int results(struct store_pg_conn *c, const struct store_compliance_query *qy, json_t **ret)
{
	/* $1 the host or measure (none for all), then the status, limit and offset */
	static const char by_host[] =
		RESULT_COLUMNS " WHERE" OF_HOST "   AND ($2::text IS NULL OR r.status = $2)"
			       " ORDER BY r.measure LIMIT $3 OFFSET $4";
	static const char by_measure[] =
		RESULT_COLUMNS " WHERE r.measure = $1 AND ($2::text IS NULL OR r.status = $2)"
			       " ORDER BY h.hostname, h.id LIMIT $3 OFFSET $4";
	static const char all[] = RESULT_COLUMNS " WHERE ($1::text IS NULL OR r.status = $1)"
						 " ORDER BY h.hostname, h.id, r.measure"
						 " LIMIT $2 OFFSET $3";
	static const char count_host[] = "SELECT count(*) FROM compliance_results r WHERE" OF_HOST
					 "   AND ($2::text IS NULL OR r.status = $2)";
	static const char count_measure[] =
		"SELECT count(*) FROM compliance_results r"
		" WHERE r.measure = $1 AND ($2::text IS NULL OR r.status = $2)";
	static const char count_all[] = "SELECT count(*) FROM compliance_results r WHERE ($1::text "
					"IS NULL OR r.status = $1)";
	struct store_pg_params p = {.n = 0}, pn = {.n = 0};
	_cleanup_(store_pg_clearp) PGresult *q = NULL, *n = NULL;
	_cleanup_(json_decrefp) json_t *out = json_pack("{s:[], s:i}", "results", "total", 0);
	const char *key = qy->host_id ? qy->host_id : qy->measure;
	json_t *list;
	int r;

	if (!out)
		return -ENOMEM;
	list = json_object_get(out, "results");
	if (qy->host_id && qy->measure)
		return -EINVAL;
	if (key) {
		store_pg_text(&p, key);
		store_pg_text(&pn, key);
	}
	store_pg_text(&p, qy->status);
	store_pg_text(&pn, qy->status);
	store_pg_int(&p, (int64_t) qy->limit);
	store_pg_int(&p, (int64_t) qy->offset);
	r = store_pg_exec(c,
			  qy->host_id   ? by_host
			  : qy->measure ? by_measure
					: all,
			  &p, "listing compliance results", &q);
	if (r < 0)
		return r;
	for (int i = 0; i < r; i++)
		if (jsonw_append(list, result_json(q, i)) < 0)
			return -ENOMEM;
	r = store_pg_exec(c,
			  qy->host_id   ? count_host
			  : qy->measure ? count_measure
					: count_all,
			  &pn, "counting compliance results", &n);
	if (r < 0)
		return r;
	if (jsonw_set(out, "total", store_pg_json_int(n, 0, 0)) < 0)
		return -ENOMEM;
	*ret = TAKE_PTR(out);
	return 0;
}

typedef int (*read_fn)(struct store_pg_conn *c, const void *arg, json_t **ret);

static int run_read(struct store *st, read_fn fn, const void *arg, json_t **ret)
{
	struct store_pg *s = store_pg_of(st);
	struct store_pg_conn *c;
	json_t *v = NULL;
	int r;

	r = store_pg_begin(s, STORE_PG_READ, &c);
	if (r < 0)
		return r;
	r = store_pg_end(s, c, fn(c, arg, &v));
	if (r < 0) {
		json_decref(v);
		return r;
	}
	*ret = v;
	return 0;
}

static int results_fn(struct store_pg_conn *c, const void *arg, json_t **ret)
{
	return results(c, arg, ret);
}

int store_pg_compliance_results(struct store *st, const struct store_compliance_query *q,
				json_t **ret)
{
	if (!q || !ret || q->limit < 1 || q->limit > RESULTS_MAX || q->offset > INT64_MAX)
		return -EINVAL;
	return run_read(st, results_fn, q, ret);
}

/* Files roll-up row i (kind, id, four counts from column `first`) into {"organisation":
 * COUNTS, "category": {ID: COUNTS} …}. */
static int file_rollup(json_t *into, const PGresult *res, int i, int first)
{
	const char *kind = store_pg_get(res, i, first);
	const char *id = store_pg_get(res, i, first + 1);
	json_t *counts = counts_json(res, i, first + 2), *group;

	if (!kind || !id || !counts) {
		json_decref(counts);
		return counts ? -EIO : -ENOMEM;
	}
	if (streq(kind, store_rollup_kinds[0]))
		return jsonw_set(into, "organisation", counts);
	group = json_object_get(into, kind);
	if (!group) {
		group = json_object();
		if (jsonw_set(into, kind, group) < 0) {
			json_decref(counts);
			return -ENOMEM;
		}
	}
	return jsonw_set(group, id, counts);
}

static json_t *empty_rollups(void)
{
	return json_pack("{s:{s:i, s:i, s:i, s:i}, s:{}, s:{}, s:{}}", "organisation", "met", 0,
			 "not_met", 0, "unknown", 0, "not_applicable", 0, "category", "role",
			 "measure");
}

static int rollups(struct store_pg_conn *c, const void *arg, json_t **ret)
{
	_cleanup_(store_pg_clearp) PGresult *q = NULL, *h = NULL;
	_cleanup_(json_decrefp) json_t *out = empty_rollups();
	int n, r;

	(void) arg;
	if (!out)
		return -ENOMEM;
	n = store_pg_exec(c,
			  "SELECT kind, id, met, not_met, unknown, not_applicable"
			  " FROM compliance_rollup ORDER BY kind, id",
			  NULL, "reading the compliance roll-ups", &q);
	if (n < 0)
		return n;
	for (int i = 0; i < n; i++) {
		r = file_rollup(out, q, i, 0);
		if (r < 0)
			return r;
	}
	r = store_pg_exec(c,
			  "SELECT count(*) FROM hosts WHERE deleted IS NULL"
			  " AND revoked_at IS NULL AND EXISTS"
			  " (SELECT 1 FROM compliance_results r WHERE r.host = hosts.num)",
			  NULL, "counting scored hosts", &h);
	if (r < 0)
		return r;
	if (jsonw_set(out, "hosts", store_pg_json_int(h, 0, 0)) < 0)
		return -ENOMEM;
	*ret = TAKE_PTR(out);
	return 0;
}

int store_pg_compliance_rollups(struct store *st, json_t **ret)
{
	if (!ret)
		return -EINVAL;
	return run_read(st, rollups, NULL, ret);
}

static int history(struct store_pg_conn *c, const void *arg, json_t **ret)
{
	struct store_pg_params p = {.n = 0};
	_cleanup_(store_pg_clearp) PGresult *q = NULL, *ch = NULL;
	_cleanup_(json_decrefp) json_t *out = json_pack("{s:[], s:[]}", "days", "changes");
	json_t *days, *day = NULL;
	int64_t current = -1;
	int n, r;

	if (!out)
		return -ENOMEM;
	days = json_object_get(out, "days");
	store_pg_int(&p, *(const int64_t *) arg);
	n = store_pg_exec(c,
			  "SELECT day, kind, id, met, not_met, unknown, not_applicable"
			  " FROM compliance_daily WHERE day >= $1 ORDER BY day, kind, id",
			  &p, "reading the compliance history", &q);
	if (n < 0)
		return n;
	for (int i = 0; i < n; i++) {
		if (!day || store_pg_get_int(q, i, 0) != current) {
			current = store_pg_get_int(q, i, 0);
			day = empty_rollups();
			if (jsonw_append(days, day) < 0 ||
			    jsonw_set(day, "day", json_integer(current)) < 0)
				return -ENOMEM;
		}
		r = file_rollup(day, q, i, 1);
		if (r < 0)
			return r;
	}
	n = store_pg_exec(c,
			  "SELECT time / 86400, count(*),"
			  "   count(*) FILTER (WHERE new_status = 'met'),"
			  "   count(*) FILTER (WHERE new_status = 'not_met'),"
			  "   count(*) FILTER (WHERE new_status = 'unknown'),"
			  "   count(*) FILTER (WHERE new_status = 'not_applicable')"
			  " FROM compliance_changes WHERE time >= $1::bigint * 86400"
			  " GROUP BY time / 86400 ORDER BY 1",
			  &p, "reading compliance changes", &ch);
	if (n < 0)
		return n;
	for (int i = 0; i < n; i++)
		if (jsonw_append(json_object_get(out, "changes"),
				 json_pack("{s:o, s:o, s:o, s:o, s:o, s:o}", "day",
					   store_pg_json_int(ch, i, 0), "total",
					   store_pg_json_int(ch, i, 1), "to_met",
					   store_pg_json_int(ch, i, 2), "to_not_met",
					   store_pg_json_int(ch, i, 3), "to_unknown",
					   store_pg_json_int(ch, i, 4), "to_not_applicable",
					   store_pg_json_int(ch, i, 5))) < 0)
			return -ENOMEM;
	*ret = TAKE_PTR(out);
	return 0;
}

int store_pg_compliance_history(struct store *st, int64_t since_day, json_t **ret)
{
	if (!ret)
		return -EINVAL;
	return run_read(st, history, &since_day, ret);
}

/* ---- attestations ---- */

int store_pg_attestation_add(struct store *st, const struct store_attestation *a,
			     char ret_id[STORE_ID_MAX])
{
	struct store_pg *s = store_pg_of(st);
	struct store_pg_params p = {.n = 0};
	struct store_pg_conn *c;
	char id[STORE_ID_MAX];
	int r;

	if (!store_prep_attestation_ok(a) || !ret_id)
		return -EINVAL;
	r = store_prep_token_id("att_", id);
	if (r < 0)
		return r;
	store_pg_text(&p, id);
	store_pg_text(&p, a->measure);
	store_pg_text(&p, a->status);
	store_pg_text(&p, a->evidence);
	store_pg_text(&p, a->link);
	store_pg_text(&p, a->owner);
	store_pg_int(&p, a->date);
	store_pg_int(&p, a->review_days);
	store_pg_int(&p, a->created);
	store_pg_text(&p, a->created_by);
	r = store_pg_begin(s, STORE_PG_WRITE, &c);
	if (r < 0)
		return r;
	r = store_pg_exec(c,
			  "INSERT INTO attestations (id, measure, status, evidence, link, owner,"
			  "   date, review_days, created, created_by)"
			  " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
			  &p, "recording an attestation", NULL);
	r = store_pg_end(s, c, r);
	if (r < 0)
		return r;
	memcpy(ret_id, id, sizeof(id));
	return 0;
}

static int attestations(struct store_pg_conn *c, const void *arg, json_t **ret)
{
	struct store_pg_params p = {.n = 0};
	_cleanup_(store_pg_clearp) PGresult *q = NULL;
	_cleanup_(json_decrefp) json_t *out = json_pack("{s:[]}", "attestations");
	int n;

	if (!out)
		return -ENOMEM;
	store_pg_text(&p, arg);
	n = store_pg_exec(c,
			  "SELECT id, measure, status, evidence, link, owner, date, review_days,"
			  "   created, created_by FROM attestations"
			  " WHERE $1::text IS NULL OR measure = $1"
			  " ORDER BY measure, date DESC, created DESC, id",
			  &p, "listing attestations", &q);
	if (n < 0)
		return n;
	for (int i = 0; i < n; i++)
		if (jsonw_append(json_object_get(out, "attestations"),
				 json_pack("{s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o}",
					   "id", store_pg_json_string(q, i, 0), "measure",
					   store_pg_json_string(q, i, 1), "status",
					   store_pg_json_string(q, i, 2), "evidence",
					   store_pg_json_string(q, i, 3), "link",
					   store_pg_json_string(q, i, 4), "owner",
					   store_pg_json_string(q, i, 5), "date",
					   store_pg_json_int(q, i, 6), "review_days",
					   store_pg_json_int(q, i, 7), "created",
					   store_pg_json_int(q, i, 8), "created_by",
					   store_pg_json_string(q, i, 9))) < 0)
			return -ENOMEM;
	*ret = TAKE_PTR(out);
	return 0;
}

int store_pg_attestation_list(struct store *st, const char *measure, json_t **ret)
{
	if (!ret)
		return -EINVAL;
	return run_read(st, attestations, measure, ret);
}
