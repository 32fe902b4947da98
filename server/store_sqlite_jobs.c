/*
 * Background jobs' state in the SQLite store: named durable positions (the SIEM
 * forwarder's place in the event stream) and leases that let one server of several run a
 * job (retention, forwarding). A lease is a row (name, holder, expires): taking it is one
 * UPSERT that succeeds only when the row is absent, already ours, or expired, so two
 * servers racing cannot both hold it. Positions are written with synchronous=FULL: a
 * position that went back after a power cut would send events twice, one that went forward
 * would skip them, and only the first is acceptable.
 */
#include <errno.h>
#include <string.h>

#include "lib/mm.h"
#include "server/store_sqlite.h"

#define NAME_MAX_LEN 64

static bool valid_name(const char *name)
{
	return name && *name && strlen(name) <= NAME_MAX_LEN;
}

static int cursor_get(struct store_sqlite_conn *c, const char *name, int64_t *ret)
{
	_cleanup_(store_sqlite_resetp) sqlite3_stmt *q = NULL;
	int r = store_sqlite_stmt(c, "SELECT position FROM cursors WHERE name = ?1", &q);

	if (r < 0)
		return r;
	(void) store_sqlite_bind_text(q, 1, name);
	r = store_sqlite_step(c, q, "reading a cursor");
	if (r <= 0)
		return r < 0 ? r : -ENOENT;
	*ret = sqlite3_column_int64(q, 0);
	return 0;
}

int store_sqlite_jobs_cursor_get(struct store *st, const char *name, int64_t *ret)
{
	struct store_sqlite *s = store_sqlite_of(st);
	struct store_sqlite_conn *c;
	int64_t v = 0;
	int r;

	if (!valid_name(name) || !ret)
		return -EINVAL;
	r = store_sqlite_begin_read(s, &c);
	if (r < 0)
		return r;
	r = store_sqlite_end(s, c, cursor_get(c, name, &v));
	if (r >= 0)
		*ret = v;
	return r;
}

static int cursor_set(struct store_sqlite_conn *c, const char *name, int64_t position, int64_t now)
{
	_cleanup_(store_sqlite_resetp) sqlite3_stmt *q = NULL;
	int r = store_sqlite_stmt(
		c,
		"INSERT INTO cursors (name, position, updated) VALUES (?1, ?2, ?3)"
		" ON CONFLICT (name) DO UPDATE SET position = excluded.position,"
		"   updated = excluded.updated",
		&q);

	if (r < 0)
		return r;
	(void) store_sqlite_bind_text(q, 1, name);
	(void) sqlite3_bind_int64(q, 2, position);
	(void) sqlite3_bind_int64(q, 3, now);
	return store_sqlite_step(c, q, "writing a cursor");
}

int store_sqlite_jobs_cursor_set(struct store *st, const char *name, int64_t position, int64_t now)
{
	struct store_sqlite *s = store_sqlite_of(st);
	struct store_sqlite_conn *c;
	int r;

	if (!valid_name(name))
		return -EINVAL;
	r = store_sqlite_begin_write(s, STORE_SQLITE_FULL, &c);
	if (r < 0)
		return r;
	return store_sqlite_end(s, c, cursor_set(c, name, position, now));
}

static int try_lock(struct store_sqlite_conn *c, const char *name, const char *holder, int64_t now,
		    int64_t ttl, bool *ret)
{
	_cleanup_(store_sqlite_resetp) sqlite3_stmt *q = NULL;
	int r = store_sqlite_stmt(
		c,
		"INSERT INTO jobs (name, holder, expires) VALUES (?1, ?2, ?3 + ?4)"
		" ON CONFLICT (name) DO UPDATE SET holder = excluded.holder,"
		"   expires = excluded.expires"
		"   WHERE jobs.holder = excluded.holder OR jobs.expires <= ?3",
		&q);

	if (r < 0)
		return r;
	(void) store_sqlite_bind_text(q, 1, name);
	(void) store_sqlite_bind_text(q, 2, holder);
	(void) sqlite3_bind_int64(q, 3, now);
	(void) sqlite3_bind_int64(q, 4, ttl);
	r = store_sqlite_step(c, q, "taking a job lease");
	if (r < 0)
		return r;
	*ret = sqlite3_changes(c->db) == 1;
	return 0;
}

int store_sqlite_jobs_try_lock(struct store *st, const char *name, const char *holder, int64_t now,
			       int64_t ttl, bool *ret_held)
{
	struct store_sqlite *s = store_sqlite_of(st);
	struct store_sqlite_conn *c;
	bool held = false;
	int r;

	if (!valid_name(name) || !valid_name(holder) || ttl < 1 || !ret_held)
		return -EINVAL;
	r = store_sqlite_begin_write(s, STORE_SQLITE_NORMAL, &c);
	if (r < 0)
		return r;
	r = store_sqlite_end(s, c, try_lock(c, name, holder, now, ttl, &held));
	if (r >= 0)
		*ret_held = held;
	return r;
}

static int unlock(struct store_sqlite_conn *c, const char *name, const char *holder)
{
	_cleanup_(store_sqlite_resetp) sqlite3_stmt *q = NULL;
	int r = store_sqlite_stmt(c, "UPDATE jobs SET expires = 0 WHERE name = ?1 AND holder = ?2",
				  &q);

	if (r < 0)
		return r;
	(void) store_sqlite_bind_text(q, 1, name);
	(void) store_sqlite_bind_text(q, 2, holder);
	return store_sqlite_step(c, q, "giving a job lease up");
}

int store_sqlite_jobs_unlock(struct store *st, const char *name, const char *holder)
{
	struct store_sqlite *s = store_sqlite_of(st);
	struct store_sqlite_conn *c;
	int r;

	if (!valid_name(name) || !valid_name(holder))
		return -EINVAL;
	r = store_sqlite_begin_write(s, STORE_SQLITE_NORMAL, &c);
	if (r < 0)
		return r;
	return store_sqlite_end(s, c, unlock(c, name, holder));
}
