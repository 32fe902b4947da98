/*
 * Background jobs' durable positions in the PostgreSQL store (the SIEM forwarder's place in
 * the event stream), as store_sqlite_jobs.c keeps them. A position is written with a commit
 * that waits for the WAL flush: a position that went back after a crash of the database
 * would send events twice, one that went forward would skip them, and only the first is
 * acceptable. Which server runs a job is store_job_try_lock's (store_pg.c).
 */
#include <errno.h>
#include <string.h>

#include "lib/mm.h"
#include "server/store_pg.h"

#define NAME_MAX_LEN 64

static bool valid_name(const char *name)
{
	return name && *name && strlen(name) <= NAME_MAX_LEN;
}

int store_pg_jobs_cursor_get(struct store *st, const char *name, int64_t *ret)
{
	struct store_pg *s = store_pg_of(st);
	struct store_pg_params p = {.n = 0};
	_cleanup_(store_pg_clearp) PGresult *res = NULL;
	struct store_pg_conn *c;
	int r;

	if (!valid_name(name) || !ret)
		return -EINVAL;
	store_pg_text(&p, name);
	r = store_pg_begin(s, STORE_PG_READ, &c);
	if (r < 0)
		return r;
	r = store_pg_exec(c, "SELECT position FROM cursors WHERE name = $1", &p, "reading a cursor",
			  &res);
	if (r == 0)
		r = -ENOENT;
	r = store_pg_end(s, c, r);
	if (r < 0)
		return r;
	*ret = store_pg_get_int(res, 0, 0);
	return 0;
}

int store_pg_jobs_cursor_set(struct store *st, const char *name, int64_t position, int64_t now)
{
	struct store_pg *s = store_pg_of(st);
	struct store_pg_params p = {.n = 0};
	struct store_pg_conn *c;
	int r;

	if (!valid_name(name))
		return -EINVAL;
	store_pg_text(&p, name);
	store_pg_int(&p, position);
	store_pg_int(&p, now);
	r = store_pg_begin(s, STORE_PG_WRITE, &c);
	if (r < 0)
		return r;
	r = store_pg_exec(c,
			  "INSERT INTO cursors (name, position, updated) VALUES ($1, $2, $3)"
			  " ON CONFLICT (name) DO UPDATE SET position = excluded.position,"
			  "   updated = excluded.updated",
			  &p, "writing a cursor", NULL);
	r = store_pg_end(s, c, r);
	return r < 0 ? r : 0;
}
