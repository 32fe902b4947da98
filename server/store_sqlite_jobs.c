/*
 * Background jobs' durable positions in the SQLite store (the SIEM forwarder's place in
 * the event stream). Positions are written with synchronous=FULL: a position that went
 * back after a power cut would send events twice, one that went forward would skip them,
 * and only the first is acceptable. (Which server runs a job is store_job_try_lock's.)
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
