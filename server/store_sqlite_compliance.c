/*
 * The guideline scorecard in the SQLite store: per-host results with their evidence, the
 * roll-ups kept in step with them, the daily snapshots and status changes for trends, the
 * per-host event summaries, host owners and attestations (store.h, "compliance").
 *
 * compliance_results holds one row per (host, measure), with the measure's category and
 * role copied in, so roll-ups never need the catalogue. compliance_rollup holds, per
 * organisation (id ''), category, role and measure, the count of results in each status;
 * store_compliance_apply() moves these counts by exactly the deltas it writes, in the
 * same transaction, so SUM over compliance_results always equals the roll-up (the unit
 * test checks this). A host leaves the roll-ups when it is revoked or deleted
 * (store_sqlite_compliance_forget(), called by those operations).
 *
 * Evaluation reads only the inventory items the checks need, one point lookup on the
 * (host, section, list) prefix of inventory_items' primary key per item, never a host's
 * software packages. Everything here is recomputable from the inventory, events and
 * attestations, so writes use synchronous=NORMAL; attestations, which are an admin's word,
 * use FULL.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <gnutls/crypto.h>

#include "lib/checks.h"
#include "lib/jsonw.h"
#include "lib/log.h"
#include "lib/mm.h"
#include "lib/str.h"
#include "server/store_sqlite.h"

#define DAY         86400
#define MAX_ITEMS   32
#define RESULTS_MAX 10000

static const char *const status_columns[CHECKS_STATUS_MAX] = {"met", "not_met", "unknown",
							      "not_applicable"};

/* ---- the host's facts ---- */

static int live_host(struct store_sqlite_conn *c, const char *host_id, int64_t *ret)
{
	_cleanup_(store_sqlite_resetp) sqlite3_stmt *q = NULL;
	int r = store_sqlite_stmt(c,
				  "SELECT num FROM hosts"
				  " WHERE id = ?1 AND deleted IS NULL AND revoked_at IS NULL",
				  &q);

	if (r < 0)
		return r;
	(void) store_sqlite_bind_text(q, 1, host_id);
	r = store_sqlite_step(c, q, "finding a host");
	if (r <= 0)
		return r < 0 ? r : -ENOENT;
	*ret = sqlite3_column_int64(q, 0);
	return 0;
}

/*
 * Loads each item into the partial document through checks_item_parse(), which copies
 * out of the stored text only the members the checks read before jansson parses it: most
 * of an item's JSON is never parsed (the drop lists, meant for stores that can cut in SQL,
 * add nothing to that, and json_remove() would cost SQLite a parse and a rewrite per
 * item).
 */
static int load_items(struct store_sqlite_conn *c, int64_t host, const struct checks_item *items,
		      json_t **ret_doc)
{
	_cleanup_(store_sqlite_resetp) sqlite3_stmt *q = NULL;
	_cleanup_(json_decrefp) json_t *doc = json_object();
	int r = store_sqlite_stmt(c,
				  "SELECT value FROM inventory_items"
				  " WHERE host = ?1 AND section = ?2 AND list = ?3 ORDER BY key",
				  &q);

	if (r < 0)
		return r;
	if (!doc)
		return -ENOMEM;
	for (size_t i = 0; items && items[i].section && i < MAX_ITEMS; i++) {
		const char *list = items[i].list ? items[i].list : "";

		(void) sqlite3_reset(q);
		(void) sqlite3_bind_int64(q, 1, host);
		(void) store_sqlite_bind_text(q, 2, items[i].section);
		(void) store_sqlite_bind_text(q, 3, list);
		while ((r = store_sqlite_step(c, q, "reading inventory items")) > 0) {
			const char *text = (const char *) sqlite3_column_text(q, 0);
			json_error_t e;
			json_t *v;

			if (!text)
				return -ENOMEM;
			v = checks_item_parse(&items[i], text, (size_t) sqlite3_column_bytes(q, 0),
					      &e);
			if (!v) {
				if (json_error_code(&e) == json_error_out_of_memory ||
				    strstr(e.text, "memory"))
					return -ENOMEM;
				log_error("(M4012) store: a stored JSON value is corrupt: %s",
					  e.text);
				return -EIO;
			}
			r = store_prep_add_item_value(doc, items[i].section, list, v);
			if (r < 0)
				return r;
		}
		if (r < 0)
			return r;
	}
	*ret_doc = TAKE_PTR(doc);
	return 0;
}

static int fill_host(struct store_sqlite_conn *c, int64_t host, const char *host_id,
		     const struct checks_item *items, struct store_compliance_host *h)
{
	_cleanup_(store_sqlite_resetp) sqlite3_stmt *q = NULL;
	int r;

	*h = (struct store_compliance_host){.last_inventory = -1, .policy_version = -1};
	if (strlen(host_id) >= sizeof(h->host_id))
		return -EIO;
	memcpy(h->host_id, host_id, strlen(host_id) + 1);
	r = load_items(c, host, items, &h->doc);
	if (r < 0)
		return r;
	/* The agent reports the USB policy document it holds as "P-DIGEST", P the policy's
	 * version (CAST keeps the leading integer), or 0 / "" for none (protocol.md); an
	 * integer is taken as it is. usb_policy_version when the agent reports it apart from
	 * the whole policy's version: an agent without USB control holds a policy but
	 * enforces none. */
	r = store_sqlite_stmt(
		c,
		"SELECT h.inventory_time, h.owner,"
		"   CAST(coalesce(json_extract(h.last_state, '$.usb_policy_version'),"
		"                 json_extract(h.last_state, '$.policy_version')) AS INTEGER),"
		"   coalesce(json_type(h.last_state, '$.usb_policy_version'),"
		"            json_type(h.last_state, '$.policy_version')) IN ('integer', 'text'),"
		"   f.events"
		" FROM hosts h LEFT JOIN compliance_facts f ON f.host = h.num"
		" WHERE h.num = ?1",
		&q);
	if (r < 0)
		return r;
	(void) sqlite3_bind_int64(q, 1, host);
	r = store_sqlite_step(c, q, "reading a host's compliance facts");
	if (r <= 0)
		return r < 0 ? r : -ENOENT;
	if (sqlite3_column_type(q, 0) == SQLITE_INTEGER)
		h->last_inventory = sqlite3_column_int64(q, 0);
	if (sqlite3_column_type(q, 1) != SQLITE_NULL) {
		h->owner = mm_strdup((const char *) sqlite3_column_text(q, 1));
		if (!h->owner)
			return -ENOMEM;
	}
	if (sqlite3_column_int(q, 3) == 1)
		h->policy_version = sqlite3_column_int64(q, 2);
	h->events = sqlite3_column_type(q, 4) == SQLITE_NULL ? json_object()
							     : store_sqlite_column_json(q, 4);
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

int store_sqlite_compliance_host_get(struct store *st, const char *host_id,
				     const struct checks_item *items,
				     struct store_compliance_host *ret)
{
	struct store_sqlite *s = store_sqlite_of(st);
	struct store_compliance_host h = {0};
	struct store_sqlite_conn *c;
	int64_t num;
	int r;

	if (!host_id || !ret)
		return -EINVAL;
	r = store_sqlite_begin_read(s, &c);
	if (r < 0)
		return r;
	r = live_host(c, host_id, &num);
	if (r >= 0)
		r = fill_host(c, num, host_id, items, &h);
	r = store_sqlite_end(s, c, r);
	if (r < 0) {
		store_compliance_host_done(&h);
		return r;
	}
	*ret = h;
	return 0;
}

struct scan_args {
	const struct checks_item *items;
	const char *after;
	size_t limit;
	store_compliance_scan_fn fn;
	void *userdata;
	size_t count;
};

static int scan(struct store_sqlite_conn *c, struct scan_args *a)
{
	_cleanup_(store_sqlite_resetp) sqlite3_stmt *q = NULL;
	int r = store_sqlite_stmt(c,
				  "SELECT num, id FROM hosts"
				  " WHERE deleted IS NULL AND revoked_at IS NULL AND id > ?1"
				  " ORDER BY id LIMIT ?2",
				  &q);

	if (r < 0)
		return r;
	(void) store_sqlite_bind_text(q, 1, a->after ? a->after : "");
	(void) sqlite3_bind_int64(q, 2, (int64_t) a->limit);
	while ((r = store_sqlite_step(c, q, "listing hosts to score")) > 0) {
		struct store_compliance_host h = {0};
		char id[STORE_ID_MAX];
		const char *text = (const char *) sqlite3_column_text(q, 1);

		/* the id is NOT NULL: no text is SQLite out of memory */
		if (!text)
			return -ENOMEM;
		if (strlen(text) >= sizeof(id))
			return -EIO;
		memcpy(id, text, strlen(text) + 1);
		r = fill_host(c, sqlite3_column_int64(q, 0), id, a->items, &h);
		if (r >= 0)
			r = a->fn(&h, a->userdata);
		store_compliance_host_done(&h);
		if (r < 0)
			return r;
		a->count++;
	}
	return r;
}

int store_sqlite_compliance_scan(struct store *st, const struct checks_item *items,
				 const char *after, size_t limit, store_compliance_scan_fn fn,
				 void *userdata, size_t *ret_count)
{
	struct store_sqlite *s = store_sqlite_of(st);
	struct scan_args a = {
		.items = items, .after = after, .limit = limit, .fn = fn, .userdata = userdata};
	struct store_sqlite_conn *c;
	int r;

	if (!fn || limit < 1 || limit > INT64_MAX)
		return -EINVAL;
	r = store_sqlite_begin_read(s, &c);
	if (r < 0)
		return r;
	r = store_sqlite_end(s, c, scan(c, &a));
	if (r >= 0 && ret_count)
		*ret_count = a.count;
	return r;
}

/* ---- roll-up deltas ---- */

static int deltas_write(struct store_sqlite_conn *c, const struct store_rollup_deltas *ds)
{
	_cleanup_(store_sqlite_resetp) sqlite3_stmt *q = NULL;
	int r = store_sqlite_stmt(
		c,
		"INSERT INTO compliance_rollup (kind, id, met, not_met, unknown, not_applicable)"
		" VALUES (?1, ?2, ?3, ?4, ?5, ?6) ON CONFLICT (kind, id) DO UPDATE SET"
		"   met = met + excluded.met, not_met = not_met + excluded.not_met,"
		"   unknown = unknown + excluded.unknown,"
		"   not_applicable = not_applicable + excluded.not_applicable",
		&q);

	if (r < 0)
		return r;
	for (size_t i = 0; i < ds->n; i++) {
		if (store_prep_rollup_zero(&ds->v[i]))
			continue;
		(void) sqlite3_reset(q);
		(void) store_sqlite_bind_text(q, 1, store_rollup_kinds[ds->v[i].kind]);
		(void) store_sqlite_bind_text(q, 2, ds->v[i].id);
		for (int k = 0; k < CHECKS_STATUS_MAX; k++)
			(void) sqlite3_bind_int64(q, 3 + k, ds->v[i].d[k]);
		r = store_sqlite_step(c, q, "updating the compliance roll-ups");
		if (r < 0)
			return r;
	}
	return 0;
}

/* Today's snapshot of the roll-ups: what the history shows for this day. */
static int snapshot(struct store_sqlite_conn *c, int64_t now)
{
	_cleanup_(store_sqlite_resetp) sqlite3_stmt *d = NULL, *q = NULL;
	int r = store_sqlite_stmt(c, "DELETE FROM compliance_daily WHERE day = ?1", &d);

	if (r < 0)
		return r;
	(void) sqlite3_bind_int64(d, 1, now / DAY);
	r = store_sqlite_step(c, d, "replacing today's compliance snapshot");
	if (r < 0)
		return r;
	r = store_sqlite_stmt(c,
			      "INSERT INTO compliance_daily"
			      "   (day, kind, id, met, not_met, unknown, not_applicable)"
			      " SELECT ?1, kind, id, met, not_met, unknown, not_applicable"
			      " FROM compliance_rollup",
			      &q);
	if (r < 0)
		return r;
	(void) sqlite3_bind_int64(q, 1, now / DAY);
	return store_sqlite_step(c, q, "taking today's compliance snapshot");
}

static int record_change(struct store_sqlite_conn *c, int64_t host, const char *measure,
			 int64_t now, const char *old_status, const char *new_status)
{
	_cleanup_(store_sqlite_resetp) sqlite3_stmt *q = NULL;
	int r = store_sqlite_stmt(c,
				  "INSERT INTO compliance_changes"
				  "   (host, measure, time, old_status, new_status)"
				  " VALUES (?1, ?2, ?3, ?4, ?5)",
				  &q);

	if (r < 0)
		return r;
	(void) sqlite3_bind_int64(q, 1, host);
	(void) store_sqlite_bind_text(q, 2, measure);
	(void) sqlite3_bind_int64(q, 3, now);
	(void) store_sqlite_bind_text(q, 4, old_status);
	(void) store_sqlite_bind_text(q, 5, new_status);
	return store_sqlite_step(c, q, "recording a compliance change");
}

/* ---- applying results ---- */

/* A stored row that differs from the new set, or is not in it: copied out of the
 * statement, since the row is rewritten or deleted afterwards. */
struct old_row {
	char *measure, *category, *role;
	int status;
	const struct store_compliance_row *now; /* its new row, NULL when it is dropped */
};

static void old_rows_free(struct old_row *v, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		mm_free(v[i].measure);
		mm_free(v[i].category);
		mm_free(v[i].role);
	}
	mm_free(v);
}

static bool column_is(sqlite3_stmt *q, int i, const char *s)
{
	const char *v = (const char *) sqlite3_column_text(q, i);

	return v && streq(v, s);
}

/*
 * Reads the host's stored rows and sorts them out against `rows` (may be NULL): a stored
 * row identical to its new one only marks that new row in same[] (the common case costs
 * no allocation); every other stored row is copied to *ret with its new row, if any.
 */
static int load_rows(struct store_sqlite_conn *c, int64_t host,
		     const struct store_compliance_row *rows, size_t n, bool *same,
		     struct old_row **ret, size_t *ret_n)
{
	_cleanup_(store_sqlite_resetp) sqlite3_stmt *q = NULL;
	struct old_row *v = NULL;
	size_t nv = 0;
	int r = store_sqlite_stmt(c,
				  "SELECT measure, category, role, status, evidence"
				  " FROM compliance_results WHERE host = ?1",
				  &q);

	if (r < 0)
		return r;
	(void) sqlite3_bind_int64(q, 1, host);
	while ((r = store_sqlite_step(c, q, "reading compliance results")) > 0) {
		const struct store_compliance_row *w = NULL;
		struct old_row *grown, *o;
		enum checks_status st;

		for (size_t k = 0; k < n && !w; k++)
			if (!same[k] && column_is(q, 0, rows[k].measure))
				w = &rows[k];
		if (w && column_is(q, 3, w->status) && column_is(q, 1, w->category) &&
		    column_is(q, 2, w->role) && column_is(q, 4, w->evidence)) {
			same[w - rows] = true;
			continue;
		}
		grown = mm_reallocarray(v, nv + 1, sizeof(*v));
		if (!grown) {
			r = -ENOMEM;
			break;
		}
		v = grown;
		o = &v[nv++];
		*o = (struct old_row){.now = w};
		o->measure = mm_strdup((const char *) sqlite3_column_text(q, 0));
		o->category = mm_strdup((const char *) sqlite3_column_text(q, 1));
		o->role = mm_strdup((const char *) sqlite3_column_text(q, 2));
		if (!o->measure || !o->category || !o->role) {
			r = -ENOMEM;
			break;
		}
		if (checks_status_from_name((const char *) sqlite3_column_text(q, 3), &st) < 0) {
			r = -EIO;
			break;
		}
		o->status = (int) st;
	}
	if (r < 0) {
		old_rows_free(v, nv);
		return r;
	}
	*ret = v;
	*ret_n = nv;
	return 0;
}

static int write_row(struct store_sqlite_conn *c, int64_t host,
		     const struct store_compliance_row *w, int64_t now)
{
	_cleanup_(store_sqlite_resetp) sqlite3_stmt *q = NULL;
	int r = store_sqlite_stmt(
		c,
		"INSERT INTO compliance_results"
		"   (host, measure, category, role, status, evidence, since)"
		" VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7) ON CONFLICT (host, measure) DO UPDATE SET"
		"   category = excluded.category, role = excluded.role,"
		"   evidence = excluded.evidence,"
		"   since = CASE WHEN status = excluded.status THEN since ELSE excluded.since END,"
		"   status = excluded.status",
		&q);

	if (r < 0)
		return r;
	(void) sqlite3_bind_int64(q, 1, host);
	(void) store_sqlite_bind_text(q, 2, w->measure);
	(void) store_sqlite_bind_text(q, 3, w->category);
	(void) store_sqlite_bind_text(q, 4, w->role);
	(void) store_sqlite_bind_text(q, 5, w->status);
	(void) store_sqlite_bind_text(q, 6, w->evidence);
	(void) sqlite3_bind_int64(q, 7, now);
	return store_sqlite_step(c, q, "writing a compliance result");
}

static int delete_row(struct store_sqlite_conn *c, int64_t host, const char *measure)
{
	_cleanup_(store_sqlite_resetp) sqlite3_stmt *q = NULL;
	int r = store_sqlite_stmt(
		c, "DELETE FROM compliance_results WHERE host = ?1 AND measure = ?2", &q);

	if (r < 0)
		return r;
	(void) sqlite3_bind_int64(q, 1, host);
	(void) store_sqlite_bind_text(q, 2, measure);
	return store_sqlite_step(c, q, "deleting a compliance result");
}

static int apply_host(struct store_sqlite_conn *c, const struct store_compliance_result *h,
		      int64_t now, struct store_rollup_deltas *ds, size_t *changed)
{
	_cleanup_(freep) bool *same = mm_calloc(h->n ? h->n : 1, sizeof(bool));
	struct old_row *old = NULL;
	size_t n_old = 0;
	int64_t host;
	int r;

	if (!same)
		return -ENOMEM;
	r = live_host(c, h->host_id, &host);
	if (r == -ENOENT)
		return 0;
	if (r < 0)
		return r;
	r = load_rows(c, host, h->rows, h->n, same, &old, &n_old);
	if (r < 0)
		return r;
	/* new or changed rows */
	for (size_t i = 0; r >= 0 && i < h->n; i++) {
		const struct store_compliance_row *w = &h->rows[i];
		const struct old_row *o = NULL;
		enum checks_status st = CHECKS_UNKNOWN;

		if (same[i])
			continue;
		(void) !checks_status_from_name(w->status, &st); /* validated by the caller */
		for (size_t k = 0; k < n_old && !o; k++)
			if (old[k].now == w)
				o = &old[k];
		if (o)
			r = store_prep_rollup_move(ds, o->measure, o->category, o->role, o->status,
						   -1);
		if (r >= 0)
			r = store_prep_rollup_move(ds, w->measure, w->category, w->role, (int) st,
						   +1);
		if (r >= 0)
			r = write_row(c, host, w, now);
		/* a first evaluation is not a change: history holds transitions only */
		if (r >= 0 && o && o->status != (int) st)
			r = record_change(c, host, w->measure, now, status_columns[o->status],
					  w->status);
		(*changed)++;
	}
	/* stored rows of measures no longer evaluated */
	for (size_t k = 0; r >= 0 && k < n_old; k++) {
		if (old[k].now)
			continue;
		r = store_prep_rollup_move(ds, old[k].measure, old[k].category, old[k].role,
					   old[k].status, -1);
		if (r >= 0)
			r = delete_row(c, host, old[k].measure);
		(*changed)++;
	}
	old_rows_free(old, n_old);
	return r;
}

int store_sqlite_compliance_apply(struct store *st, const struct store_compliance_result *hosts,
				  size_t n, int64_t now, size_t *ret_changed)
{
	struct store_sqlite *s = store_sqlite_of(st);
	struct store_rollup_deltas ds = {0};
	struct store_sqlite_conn *c;
	size_t changed = 0;
	int r = 0;

	for (size_t i = 0; i < n; i++)
		if (!store_prep_compliance_result_ok(&hosts[i]))
			return -EINVAL;
	r = store_sqlite_begin_write(s, STORE_SQLITE_NORMAL, &c);
	if (r < 0)
		return r;
	for (size_t i = 0; r >= 0 && i < n; i++)
		r = apply_host(c, &hosts[i], now, &ds, &changed);
	if (r >= 0 && changed)
		r = deltas_write(c, &ds);
	if (r >= 0 && changed)
		r = snapshot(c, now);
	store_prep_rollup_done(&ds);
	r = store_sqlite_end(s, c, r);
	if (r >= 0 && ret_changed)
		*ret_changed = changed;
	return r;
}

int store_sqlite_compliance_forget(struct store_sqlite_conn *c, int64_t host, int64_t now,
				   bool history)
{
	static const char *const sql[] = {
		"DELETE FROM compliance_results WHERE host = ?1",
		"DELETE FROM compliance_facts WHERE host = ?1",
		"DELETE FROM compliance_changes WHERE host = ?1",
	};
	struct old_row *old = NULL;
	struct store_rollup_deltas ds = {0};
	size_t n_old = 0;
	int r = load_rows(c, host, NULL, 0, NULL, &old, &n_old);

	if (r < 0)
		return r;
	for (size_t k = 0; r >= 0 && k < n_old; k++)
		r = store_prep_rollup_move(&ds, old[k].measure, old[k].category, old[k].role,
					   old[k].status, -1);
	for (size_t i = 0; r >= 0 && i < ARRAY_SIZE(sql) - (history ? 0 : 1); i++) {
		_cleanup_(store_sqlite_resetp) sqlite3_stmt *q = NULL;

		r = store_sqlite_stmt(c, sql[i], &q);
		if (r < 0)
			break;
		(void) sqlite3_bind_int64(q, 1, host);
		r = store_sqlite_step(c, q, "removing a host from the scorecard");
	}
	if (r >= 0 && n_old)
		r = deltas_write(c, &ds);
	if (r >= 0 && n_old)
		r = snapshot(c, now);
	store_prep_rollup_done(&ds);
	old_rows_free(old, n_old);
	return r;
}

/* ---- events ---- */

/*
 * The chain's findings for the summary (checks_events_chain): the host's gaps and breaks
 * detected within the summary's reach, newest first, one row past CHECKS_CHAIN_ROWS to
 * tell that there were more. Read in the same transaction as the summary is written, after
 * the batch's ingestion committed, so a gap found in a batch is in the summary that batch
 * leaves behind.
 */
static int chain_findings(struct store_sqlite_conn *c, int64_t host, json_t *summary, int64_t now)
{
	static const char *const sql[2] = {
		"SELECT reason, first_seq, last_seq, detected FROM event_gaps"
		" WHERE host = ?1 AND detected > ?2 ORDER BY detected DESC, first_seq DESC"
		" LIMIT ?3",
		"SELECT kind, first_seq, last_seq, detected FROM chain_evidence"
		" WHERE host = ?1 AND kind != 'unchained' AND detected > ?2"
		" ORDER BY detected DESC, id DESC LIMIT ?3",
	};
	static const char *const kind_key[2] = {"reason", "kind"};
	_cleanup_(json_decrefp) json_t *gaps = json_array(), *breaks = json_array();
	json_t *rows[2] = {gaps, breaks};
	bool truncated = false;
	int r = 0;

	if (!gaps || !breaks)
		return -ENOMEM;
	for (int k = 0; k < 2; k++) {
		_cleanup_(store_sqlite_resetp) sqlite3_stmt *q = NULL;

		r = store_sqlite_stmt(c, sql[k], &q);
		if (r < 0)
			return r;
		(void) sqlite3_bind_int64(q, 1, host);
		(void) sqlite3_bind_int64(q, 2, now - (int64_t) CHECKS_EVENT_DAYS * DAY);
		(void) sqlite3_bind_int64(q, 3, CHECKS_CHAIN_ROWS + 1);
		while ((r = store_sqlite_step(c, q, "reading the event chain's findings")) > 0) {
			if (json_array_size(rows[k]) >= CHECKS_CHAIN_ROWS) {
				truncated = true;
				break;
			}
			if (jsonw_append(
				    rows[k],
				    json_pack("{s:o, s:I, s:I, s:I}", kind_key[k],
					      store_sqlite_column_string(q, 0), "first_seq",
					      (json_int_t) sqlite3_column_int64(q, 1), "last_seq",
					      (json_int_t) sqlite3_column_int64(q, 2), "detected",
					      (json_int_t) sqlite3_column_int64(q, 3))) < 0)
				return -ENOMEM;
		}
		if (r < 0)
			return r;
	}
	return checks_events_chain(summary, gaps, breaks, truncated, now);
}

static int events(struct store_sqlite_conn *c, const char *host_id, const json_t *batch,
		  int64_t now)
{
	_cleanup_(store_sqlite_resetp) sqlite3_stmt *q = NULL, *w = NULL;
	_cleanup_(json_decrefp) json_t *summary = NULL;
	_cleanup_(freep) char *text = NULL;
	int64_t host;
	int r = store_sqlite_host_num(c, host_id, &host);

	if (r < 0)
		return r;
	r = store_sqlite_stmt(c, "SELECT events FROM compliance_facts WHERE host = ?1", &q);
	if (r < 0)
		return r;
	(void) sqlite3_bind_int64(q, 1, host);
	r = store_sqlite_step(c, q, "reading an event summary");
	if (r < 0)
		return r;
	summary = r ? store_sqlite_column_json(q, 0) : json_object();
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
	r = store_sqlite_stmt(c,
			      "INSERT INTO compliance_facts (host, events) VALUES (?1, ?2)"
			      " ON CONFLICT (host) DO UPDATE SET events = excluded.events",
			      &w);
	if (r < 0)
		return r;
	(void) sqlite3_bind_int64(w, 1, host);
	(void) store_sqlite_bind_text(w, 2, text);
	return store_sqlite_step(c, w, "writing an event summary");
}

int store_sqlite_compliance_events(struct store *st, const char *host_id, const json_t *batch,
				   int64_t now)
{
	struct store_sqlite *s = store_sqlite_of(st);
	struct store_sqlite_conn *c;
	int r;

	if (!host_id || !json_is_array(batch))
		return -EINVAL;
	r = store_sqlite_begin_write(s, STORE_SQLITE_NORMAL, &c);
	if (r < 0)
		return r;
	return store_sqlite_end(s, c, events(c, host_id, batch, now));
}

/* ---- owners ---- */

int store_sqlite_compliance_set_owner(struct store *st, const char *host_id, const char *owner)
{
	struct store_sqlite *s = store_sqlite_of(st);
	_cleanup_(store_sqlite_resetp) sqlite3_stmt *q = NULL;
	struct store_sqlite_conn *c;
	int r;

	if (!host_id)
		return -EINVAL;
	r = store_sqlite_begin_write(s, STORE_SQLITE_FULL, &c);
	if (r < 0)
		return r;
	r = store_sqlite_stmt(c, "UPDATE hosts SET owner = ?2 WHERE id = ?1 AND deleted IS NULL",
			      &q);
	if (r >= 0) {
		(void) store_sqlite_bind_text(q, 1, host_id);
		(void) store_sqlite_bind_text(q, 2, owner && *owner ? owner : NULL);
		r = store_sqlite_step(c, q, "setting a host's owner");
	}
	if (r >= 0 && sqlite3_changes(c->db) != 1)
		r = -ENOENT;
	if (q) {
		(void) sqlite3_reset(q);
		(void) sqlite3_clear_bindings(q);
		q = NULL;
	}
	return store_sqlite_end(s, c, r);
}

/* ---- reading the scorecard ---- */

static json_t *counts_json(sqlite3_stmt *q, int first)
{
	return json_pack("{s:I, s:I, s:I, s:I}", "met", (json_int_t) sqlite3_column_int64(q, first),
			 "not_met", (json_int_t) sqlite3_column_int64(q, first + 1), "unknown",
			 (json_int_t) sqlite3_column_int64(q, first + 2), "not_applicable",
			 (json_int_t) sqlite3_column_int64(q, first + 3));
}

static json_t *result_json(sqlite3_stmt *q)
{
	json_t *ev = store_sqlite_column_json(q, 7);

	if (!ev)
		return NULL;
	return json_pack("{s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o}", "host_id",
			 store_sqlite_column_string(q, 0), "hostname",
			 store_sqlite_column_string(q, 1), "owner",
			 store_sqlite_column_string(q, 2), "measure",
			 store_sqlite_column_string(q, 3), "category",
			 store_sqlite_column_string(q, 4), "role", store_sqlite_column_string(q, 5),
			 "status", store_sqlite_column_string(q, 6), "evidence", ev, "since",
			 store_sqlite_column_int(q, 8));
}

#define RESULT_COLUMNS                                                               \
	"SELECT h.id, h.hostname, h.owner, r.measure, r.category, r.role, r.status," \
	"   r.evidence, r.since FROM compliance_results r JOIN hosts h ON h.num = r.host"

static int results(struct store_sqlite_conn *c, const struct store_compliance_query *qy,
		   json_t **ret)
{
	static const char by_host[] = RESULT_COLUMNS
		" WHERE r.host = (SELECT num FROM hosts WHERE id = ?1 AND deleted IS NULL)"
		"   AND (?3 IS NULL OR r.status = ?3)"
		" ORDER BY r.measure LIMIT ?4 OFFSET ?5";
	static const char by_measure[] =
		RESULT_COLUMNS " WHERE r.measure = ?2 AND (?3 IS NULL OR r.status = ?3)"
			       " ORDER BY h.hostname, h.id LIMIT ?4 OFFSET ?5";
	static const char all[] = RESULT_COLUMNS " WHERE (?3 IS NULL OR r.status = ?3)"
						 " ORDER BY h.hostname, h.id, r.measure"
						 " LIMIT ?4 OFFSET ?5";
	static const char count_host[] =
		"SELECT count(*) FROM compliance_results r"
		" WHERE r.host = (SELECT num FROM hosts WHERE id = ?1 AND deleted IS NULL)"
		"   AND (?3 IS NULL OR r.status = ?3)";
	static const char count_measure[] =
		"SELECT count(*) FROM compliance_results r"
		" WHERE r.measure = ?2 AND (?3 IS NULL OR r.status = ?3)";
	static const char count_all[] =
		"SELECT count(*) FROM compliance_results r WHERE (?3 IS NULL OR r.status = ?3)";
	_cleanup_(store_sqlite_resetp) sqlite3_stmt *q = NULL, *n = NULL;
	_cleanup_(json_decrefp) json_t *out = json_pack("{s:[], s:i}", "results", "total", 0);
	json_t *list;
	int r;

	if (!out)
		return -ENOMEM;
	list = json_object_get(out, "results");
	if (qy->host_id && qy->measure)
		return -EINVAL;
	r = store_sqlite_stmt(c, qy->host_id ? by_host : qy->measure ? by_measure : all, &q);
	if (r >= 0)
		r = store_sqlite_stmt(c,
				      qy->host_id   ? count_host
				      : qy->measure ? count_measure
						    : count_all,
				      &n);
	if (r < 0)
		return r;
	(void) store_sqlite_bind_text(q, 1, qy->host_id);
	(void) store_sqlite_bind_text(q, 2, qy->measure);
	(void) store_sqlite_bind_text(q, 3, qy->status);
	(void) sqlite3_bind_int64(q, 4, (int64_t) qy->limit);
	(void) sqlite3_bind_int64(q, 5, (int64_t) qy->offset);
	while ((r = store_sqlite_step(c, q, "listing compliance results")) > 0)
		if (jsonw_append(list, result_json(q)) < 0)
			return -ENOMEM;
	if (r < 0)
		return r;
	(void) store_sqlite_bind_text(n, 1, qy->host_id);
	(void) store_sqlite_bind_text(n, 2, qy->measure);
	(void) store_sqlite_bind_text(n, 3, qy->status);
	r = store_sqlite_step(c, n, "counting compliance results");
	if (r < 0)
		return r;
	if (jsonw_set(out, "total", json_integer(sqlite3_column_int64(n, 0))) < 0)
		return -ENOMEM;
	*ret = TAKE_PTR(out);
	return 0;
}

typedef int (*read_fn)(struct store_sqlite_conn *c, const void *arg, json_t **ret);

static int run_read(struct store *st, read_fn fn, const void *arg, json_t **ret)
{
	struct store_sqlite *s = store_sqlite_of(st);
	struct store_sqlite_conn *c;
	json_t *v = NULL;
	int r;

	r = store_sqlite_begin_read(s, &c);
	if (r < 0)
		return r;
	r = store_sqlite_end(s, c, fn(c, arg, &v));
	if (r < 0) {
		json_decref(v);
		return r;
	}
	*ret = v;
	return 0;
}

static int results_fn(struct store_sqlite_conn *c, const void *arg, json_t **ret)
{
	return results(c, arg, ret);
}

int store_sqlite_compliance_results(struct store *st, const struct store_compliance_query *q,
				    json_t **ret)
{
	if (!q || !ret || q->limit < 1 || q->limit > RESULTS_MAX)
		return -EINVAL;
	return run_read(st, results_fn, q, ret);
}

/* Files one roll-up row into {"organisation": COUNTS, "category": {ID: COUNTS} …}. */
static int file_rollup(json_t *into, sqlite3_stmt *q, int first)
{
	const char *kind = (const char *) sqlite3_column_text(q, first);
	const char *id = (const char *) sqlite3_column_text(q, first + 1);
	json_t *counts = counts_json(q, first + 2), *group;

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

static int rollups(struct store_sqlite_conn *c, const void *arg, json_t **ret)
{
	_cleanup_(store_sqlite_resetp) sqlite3_stmt *q = NULL, *h = NULL;
	_cleanup_(json_decrefp) json_t *out = empty_rollups();
	int r;

	(void) arg;
	if (!out)
		return -ENOMEM;
	r = store_sqlite_stmt(c,
			      "SELECT kind, id, met, not_met, unknown, not_applicable"
			      " FROM compliance_rollup ORDER BY kind, id",
			      &q);
	if (r < 0)
		return r;
	while ((r = store_sqlite_step(c, q, "reading the compliance roll-ups")) > 0) {
		r = file_rollup(out, q, 0);
		if (r < 0)
			return r;
	}
	if (r < 0)
		return r;
	r = store_sqlite_stmt(c,
			      "SELECT count(*) FROM hosts WHERE deleted IS NULL"
			      " AND revoked_at IS NULL AND EXISTS"
			      " (SELECT 1 FROM compliance_results r WHERE r.host = hosts.num)",
			      &h);
	if (r < 0)
		return r;
	r = store_sqlite_step(c, h, "counting scored hosts");
	if (r < 0)
		return r;
	if (jsonw_set(out, "hosts", json_integer(sqlite3_column_int64(h, 0))) < 0)
		return -ENOMEM;
	*ret = TAKE_PTR(out);
	return 0;
}

int store_sqlite_compliance_rollups(struct store *st, json_t **ret)
{
	if (!ret)
		return -EINVAL;
	return run_read(st, rollups, NULL, ret);
}

static int history(struct store_sqlite_conn *c, const void *arg, json_t **ret)
{
	int64_t since = *(const int64_t *) arg;
	_cleanup_(store_sqlite_resetp) sqlite3_stmt *q = NULL, *ch = NULL;
	_cleanup_(json_decrefp) json_t *out = json_pack("{s:[], s:[]}", "days", "changes");
	json_t *days, *day = NULL;
	int64_t current = -1;
	int r;

	if (!out)
		return -ENOMEM;
	days = json_object_get(out, "days");
	r = store_sqlite_stmt(c,
			      "SELECT day, kind, id, met, not_met, unknown, not_applicable"
			      " FROM compliance_daily WHERE day >= ?1 ORDER BY day, kind, id",
			      &q);
	if (r < 0)
		return r;
	(void) sqlite3_bind_int64(q, 1, since);
	while ((r = store_sqlite_step(c, q, "reading the compliance history")) > 0) {
		if (!day || sqlite3_column_int64(q, 0) != current) {
			current = sqlite3_column_int64(q, 0);
			day = empty_rollups();
			if (jsonw_append(days, day) < 0 ||
			    jsonw_set(day, "day", json_integer(current)) < 0)
				return -ENOMEM;
		}
		r = file_rollup(day, q, 1);
		if (r < 0)
			return r;
	}
	if (r < 0)
		return r;
	r = store_sqlite_stmt(c,
			      "SELECT time / 86400, count(*), sum(new_status = 'met'),"
			      "   sum(new_status = 'not_met'), sum(new_status = 'unknown'),"
			      "   sum(new_status = 'not_applicable')"
			      " FROM compliance_changes WHERE time >= ?1 * 86400"
			      " GROUP BY time / 86400 ORDER BY 1",
			      &ch);
	if (r < 0)
		return r;
	(void) sqlite3_bind_int64(ch, 1, since);
	while ((r = store_sqlite_step(c, ch, "reading compliance changes")) > 0)
		if (jsonw_append(json_object_get(out, "changes"),
				 json_pack("{s:I, s:I, s:I, s:I, s:I, s:I}", "day",
					   (json_int_t) sqlite3_column_int64(ch, 0), "total",
					   (json_int_t) sqlite3_column_int64(ch, 1), "to_met",
					   (json_int_t) sqlite3_column_int64(ch, 2), "to_not_met",
					   (json_int_t) sqlite3_column_int64(ch, 3), "to_unknown",
					   (json_int_t) sqlite3_column_int64(ch, 4),
					   "to_not_applicable",
					   (json_int_t) sqlite3_column_int64(ch, 5))) < 0)
			return -ENOMEM;
	if (r < 0)
		return r;
	*ret = TAKE_PTR(out);
	return 0;
}

int store_sqlite_compliance_history(struct store *st, int64_t since_day, json_t **ret)
{
	if (!ret)
		return -EINVAL;
	return run_read(st, history, &since_day, ret);
}

/* ---- attestations ---- */

int store_sqlite_attestation_add(struct store *st, const struct store_attestation *a,
				 char ret_id[STORE_ID_MAX])
{
	struct store_sqlite *s = store_sqlite_of(st);
	_cleanup_(store_sqlite_resetp) sqlite3_stmt *q = NULL;
	struct store_sqlite_conn *c;
	uint8_t rnd[8];
	char hex[17], id[STORE_ID_MAX];
	int r;

	if (!store_prep_attestation_ok(a) || !ret_id)
		return -EINVAL;
	if (gnutls_rnd(GNUTLS_RND_NONCE, rnd, sizeof(rnd)) < 0) {
		log_error("(M4013) store: the random generator failed");
		return -EIO;
	}
	str_hex(rnd, sizeof(rnd), hex);
	(void) snprintf(id, sizeof(id), "att_%s", hex);
	r = store_sqlite_begin_write(s, STORE_SQLITE_FULL, &c);
	if (r < 0)
		return r;
	r = store_sqlite_stmt(
		c,
		"INSERT INTO attestations (id, measure, status, evidence, link, owner,"
		"   date, review_days, created, created_by)"
		" VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
		&q);
	if (r >= 0) {
		(void) store_sqlite_bind_text(q, 1, id);
		(void) store_sqlite_bind_text(q, 2, a->measure);
		(void) store_sqlite_bind_text(q, 3, a->status);
		(void) store_sqlite_bind_text(q, 4, a->evidence);
		(void) store_sqlite_bind_text(q, 5, a->link);
		(void) store_sqlite_bind_text(q, 6, a->owner);
		(void) sqlite3_bind_int64(q, 7, a->date);
		(void) sqlite3_bind_int64(q, 8, a->review_days);
		(void) sqlite3_bind_int64(q, 9, a->created);
		(void) store_sqlite_bind_text(q, 10, a->created_by);
		r = store_sqlite_step(c, q, "recording an attestation");
		(void) sqlite3_reset(q);
		(void) sqlite3_clear_bindings(q);
		q = NULL;
	}
	r = store_sqlite_end(s, c, r);
	if (r >= 0)
		memcpy(ret_id, id, sizeof(id));
	return r;
}

static int attestations(struct store_sqlite_conn *c, const void *arg, json_t **ret)
{
	_cleanup_(store_sqlite_resetp) sqlite3_stmt *q = NULL;
	_cleanup_(json_decrefp) json_t *out = json_pack("{s:[]}", "attestations");
	int r;

	if (!out)
		return -ENOMEM;
	r = store_sqlite_stmt(
		c,
		"SELECT id, measure, status, evidence, link, owner, date, review_days,"
		"   created, created_by FROM attestations"
		" WHERE ?1 IS NULL OR measure = ?1"
		" ORDER BY measure, date DESC, created DESC, id",
		&q);
	if (r < 0)
		return r;
	(void) store_sqlite_bind_text(q, 1, arg);
	while ((r = store_sqlite_step(c, q, "listing attestations")) > 0)
		if (jsonw_append(json_object_get(out, "attestations"),
				 json_pack("{s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o}",
					   "id", store_sqlite_column_string(q, 0), "measure",
					   store_sqlite_column_string(q, 1), "status",
					   store_sqlite_column_string(q, 2), "evidence",
					   store_sqlite_column_string(q, 3), "link",
					   store_sqlite_column_string(q, 4), "owner",
					   store_sqlite_column_string(q, 5), "date",
					   store_sqlite_column_int(q, 6), "review_days",
					   store_sqlite_column_int(q, 7), "created",
					   store_sqlite_column_int(q, 8), "created_by",
					   store_sqlite_column_string(q, 9))) < 0)
			return -ENOMEM;
	if (r < 0)
		return r;
	*ret = TAKE_PTR(out);
	return 0;
}

int store_sqlite_attestation_list(struct store *st, const char *measure, json_t **ret)
{
	if (!ret)
		return -EINVAL;
	return run_read(st, attestations, measure, ret);
}
