/*
 * The spool: everything the agent will send goes here first, in an SQLite database in WAL
 * mode (STATE/spool.db), and leaves only when the server has acknowledged it. This is the
 * only file of the agent that includes <sqlite3.h> (STYLE.md).
 *
 * Invariants (docs/internals/spool.md explains each):
 *  - Sequence numbers are given at spool time from meta.next_seq, in the same transaction
 *    as the insert, so they are monotonic, persisted, and never reused — not after an
 *    eviction, a crash or a restart. The server is idempotent on (host, seq), so sending a
 *    batch again after a crash never stores anything twice.
 *  - synchronous=FULL: a committed transaction is on disk before the call returns, so
 *    neither kill -9 nor a power cut loses a spooled event or rolls the numbering back
 *    (which would reuse numbers the server already holds: a silent loss).
 *  - The accounted size (meta.bytes, the sum of entries.bytes) never exceeds the bound.
 *    Making room evicts the lowest priority first, oldest first, and never an entry of
 *    higher priority than the one being added; what cannot be made room for is itself
 *    counted as evicted. Every eviction is counted (persisted) and later reported to the
 *    server as one agent.spool_evicted event: never silent.
 *  - Several processes may use the spool at once (the daemon, `emit`, `status`): writers
 *    take the write lock up front (BEGIN IMMEDIATE) and wait up to 5 s for each other.
 */
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <string.h>
#include <sys/stat.h>

#include <sqlite3.h>

#include "agent/daemon.h"
#include "lib/evchain.h"
#include "lib/limits.h"
#include "lib/log.h"
#include "lib/mm.h"
#include "lib/str.h"

#define SCHEMA_VERSION 2
/* What a row costs beyond its text, roughly: the row header, the index entries. */
#define ROW_OVERHEAD   48u
#define KIND_EVENT     0
#define KIND_INVENTORY 1
#define FLAG_FULL      1

struct spool {
	sqlite3 *db;
	uint64_t max_bytes;
	bool read_only;
	/* Evictions made by the current transaction, logged once it commits. */
	uint64_t tx_evicted;
	uint64_t tx_evicted_bytes;
};

static const char schema_sql[] =
	"CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value INTEGER NOT NULL) STRICT;"
	"CREATE TABLE IF NOT EXISTS entries ("
	" id INTEGER PRIMARY KEY,"
	" kind INTEGER NOT NULL,"
	" seq INTEGER UNIQUE,"
	" prio INTEGER NOT NULL,"
	" time_ms INTEGER NOT NULL,"
	" type TEXT NOT NULL,"
	" body TEXT NOT NULL,"
	" bytes INTEGER NOT NULL,"
	" flags INTEGER NOT NULL DEFAULT 0,"
	" mono INTEGER,"
	" prev TEXT,"
	" hash TEXT) STRICT;"
	"CREATE INDEX IF NOT EXISTS entries_evict ON entries (prio, id);"
	"CREATE TABLE IF NOT EXISTS chain (id INTEGER PRIMARY KEY CHECK (id = 1),"
	" host_id TEXT NOT NULL, head TEXT NOT NULL) STRICT;"
	"CREATE TABLE IF NOT EXISTS evicted_runs (first INTEGER PRIMARY KEY,"
	" last INTEGER NOT NULL, prev TEXT NOT NULL, hash TEXT NOT NULL) STRICT;"
	"CREATE INDEX IF NOT EXISTS evicted_runs_last ON evicted_runs (last);"
	"INSERT OR IGNORE INTO meta VALUES ('schema', 2), ('next_seq', 1), ('acked_seq', 0),"
	" ('bytes', 0), ('evicted_total', 0), ('evicted_bytes_total', 0), ('pend_count', 0),"
	" ('pend_bytes', 0), ('pend_oldest', 0), ('pend_newest', 0);";

static const struct {
	const char *prefix;
	enum spool_prio prio;
} prio_table[] = {
	/* Test traffic is as expendable as bulk file events. */
	{"agent.test", SPOOL_PRIO_LOW},  {"agent.", SPOOL_PRIO_HIGH},
	{"usb.", SPOOL_PRIO_HIGH},       {"policy.", SPOOL_PRIO_HIGH},
	{"security.", SPOOL_PRIO_HIGH},  {"av.", SPOOL_PRIO_HIGH},
	{"login.", SPOOL_PRIO_NORMAL},   {"process.", SPOOL_PRIO_NORMAL},
	{"network.", SPOOL_PRIO_NORMAL}, {"wifi.", SPOOL_PRIO_NORMAL},
	{"file.", SPOOL_PRIO_LOW},
};

enum spool_prio spool_priority(const char *type)
{
	for (size_t i = 0; i < ARRAY_SIZE(prio_table); i++)
		if (str_startswith(type, prio_table[i].prefix))
			return prio_table[i].prio;
	return SPOOL_PRIO_NORMAL;
}

static int db_fail(struct spool *sp, const char *what)
{
	log_error("(M2001) spool: %s: %s", what, sqlite3_errmsg(sp->db));
	return -EIO;
}

static int exec(struct spool *sp, const char *sql)
{
	char *msg = NULL;
	int rc = sqlite3_exec(sp->db, sql, NULL, NULL, &msg);

	if (rc != SQLITE_OK) {
		log_error("(M2001) spool: %s: %s", sql, msg ? msg : sqlite3_errstr(rc));
		sqlite3_free(msg);
		return rc == SQLITE_NOMEM ? -ENOMEM : -EIO;
	}
	return 0;
}

static void finalizep(sqlite3_stmt **st)
{
	if (*st)
		(void) sqlite3_finalize(*st);
}

static int prepare(struct spool *sp, const char *sql, sqlite3_stmt **ret)
{
	if (sqlite3_prepare_v2(sp->db, sql, -1, ret, NULL) != SQLITE_OK)
		return db_fail(sp, "prepare");
	return 0;
}

static int meta_get(struct spool *sp, const char *key, int64_t def, int64_t *ret)
{
	_cleanup_(finalizep) sqlite3_stmt *st = NULL;
	int rc;

	if (prepare(sp, "SELECT value FROM meta WHERE key = ?", &st) < 0)
		return -EIO;
	(void) sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW)
		*ret = sqlite3_column_int64(st, 0);
	else if (rc == SQLITE_DONE)
		*ret = def;
	else
		return db_fail(sp, "read meta");
	return 0;
}

static int meta_set(struct spool *sp, const char *key, int64_t value)
{
	_cleanup_(finalizep) sqlite3_stmt *st = NULL;

	if (prepare(sp,
		    "INSERT INTO meta VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value ="
		    " excluded.value",
		    &st) < 0)
		return -EIO;
	(void) sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);
	(void) sqlite3_bind_int64(st, 2, value);
	if (sqlite3_step(st) != SQLITE_DONE)
		return db_fail(sp, "write meta");
	return 0;
}

static int meta_add(struct spool *sp, const char *key, int64_t delta)
{
	int64_t v;

	if (meta_get(sp, key, 0, &v) < 0)
		return -EIO;
	return meta_set(sp, key, v + delta);
}

static int begin(struct spool *sp)
{
	sp->tx_evicted = 0;
	sp->tx_evicted_bytes = 0;
	return exec(sp, "BEGIN IMMEDIATE");
}

static int commit(struct spool *sp)
{
	int r = exec(sp, "COMMIT");

	if (r < 0) {
		(void) exec(sp, "ROLLBACK");
		return r;
	}
	if (sp->tx_evicted)
		log_warning("(M2002) spool full (bound %" PRIu64 " bytes): evicted %" PRIu64
			    " entries, %" PRIu64 " bytes; they will be reported to the server",
			    sp->max_bytes, sp->tx_evicted, sp->tx_evicted_bytes);
	return 0;
}

static int rollback(struct spool *sp, int r)
{
	(void) exec(sp, "ROLLBACK");
	return r;
}

static int make_room(struct spool *sp, uint64_t need, int prio);

/* Column i as a hash, or "" when it holds none (entries spooled before the chain). */
static void copy_hash(char out[EVCHAIN_HEX], sqlite3_stmt *st, int i)
{
	const char *h = (const char *) sqlite3_column_text(st, i);

	if (evchain_is_hash(h))
		memcpy(out, h, EVCHAIN_HEX);
	else
		out[0] = '\0';
}

/*
 * The bound is the spool's, not each writer's: the daemon sets it (from --spool-max or
 * agent.conf) and other writers (`emit`) open with 0 and use what it set. A lowered bound
 * takes effect at once: the excess is evicted (and counted) here.
 */
static int adopt_bound(struct spool *sp)
{
	int64_t stored;
	int r;

	if (sp->max_bytes == 0 || sp->read_only) {
		if (meta_get(sp, "max_bytes", (int64_t) AGENT_SPOOL_MAX_DEFAULT, &stored) < 0)
			return -EIO;
		sp->max_bytes = (uint64_t) stored;
		return 0;
	}
	r = begin(sp);
	if (r < 0)
		return r;
	r = meta_set(sp, "max_bytes", (int64_t) sp->max_bytes);
	if (r == 0)
		r = make_room(sp, 0, SPOOL_PRIO_HIGH);
	if (r < 0)
		return rollback(sp, r);
	return commit(sp);
}

int spool_open(const char *path, uint64_t max_bytes, bool read_only, struct spool **ret)
{
	_cleanup_(spool_freep) struct spool *sp = NULL;
	int flags = read_only ? SQLITE_OPEN_READONLY : SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE;
	struct stat st;
	int64_t schema;
	int r;

	if (read_only && stat(path, &st) < 0)
		return -errno;
	sp = mm_calloc(1, sizeof(*sp));
	if (!sp)
		return -ENOMEM;
	sp->max_bytes = max_bytes;
	sp->read_only = read_only;
	if (sqlite3_open_v2(path, &sp->db, flags | SQLITE_OPEN_NOMUTEX, NULL) != SQLITE_OK) {
		if (!sp->db)
			return -ENOMEM;
		return db_fail(sp, path);
	}
	(void) sqlite3_extended_result_codes(sp->db, 1);
	(void) sqlite3_busy_timeout(sp->db, 5000);
	/* A small page cache: the agent's memory budget is a few MiB (docs/agent.md). */
	if (exec(sp, "PRAGMA cache_size = -256") < 0)
		return -EIO;
	if (!read_only) {
		/* auto_vacuum only takes effect before the first table exists. */
		if (exec(sp, "PRAGMA auto_vacuum = INCREMENTAL") < 0 ||
		    exec(sp, "PRAGMA journal_mode = WAL") < 0 ||
		    exec(sp, "PRAGMA synchronous = FULL") < 0 ||
		    exec(sp, "PRAGMA journal_size_limit = 1048576") < 0 ||
		    exec(sp, "PRAGMA wal_autocheckpoint = 256") < 0 || exec(sp, schema_sql) < 0)
			return -EIO;
	}
	if (meta_get(sp, "schema", 0, &schema) < 0)
		return -EIO;
	/* 1 → 2: the event chain's columns (entries spooled before it are linked when the
	 * chain starts: spool_chain_start) */
	if (schema == 1 && !read_only) {
		if (exec(sp, "BEGIN IMMEDIATE") < 0)
			return -EIO;
		if (exec(sp, "ALTER TABLE entries ADD COLUMN mono INTEGER;"
			     "ALTER TABLE entries ADD COLUMN prev TEXT;"
			     "ALTER TABLE entries ADD COLUMN hash TEXT;"
			     "UPDATE meta SET value = 2 WHERE key = 'schema'") < 0) {
			(void) exec(sp, "ROLLBACK");
			return -EIO;
		}
		if (exec(sp, "COMMIT") < 0)
			return -EIO;
		schema = SCHEMA_VERSION;
	}
	if (schema != SCHEMA_VERSION && !(read_only && schema == 1)) {
		log_error("(M2003) spool %s has schema %" PRId64 ", this agent knows %d", path,
			  schema, SCHEMA_VERSION);
		return -EPROTO;
	}
	r = adopt_bound(sp);
	if (r < 0)
		return r;
	*ret = TAKE_PTR(sp);
	return 0;
}

struct spool *spool_free(struct spool *sp)
{
	if (!sp)
		return NULL;
	(void) sqlite3_close_v2(sp->db);
	mm_free(sp);
	return NULL;
}

/*
 * Inside a transaction: records that event seq (which linked to prev and hashed to hash)
 * was evicted, in the runs the next agent.spool_evicted report names, so the server can
 * follow the chain across the gap. Adjacent numbers make one run: eviction takes the
 * oldest first, so runs stay few.
 */
static int add_run(struct spool *sp, int64_t seq, const char *prev, const char *hash)
{
	_cleanup_(finalizep) sqlite3_stmt *before = NULL, *after = NULL, *q = NULL;
	bool joined = false;
	int64_t after_last = 0;
	char after_hash[EVCHAIN_HEX] = "";

	if (prepare(sp, "SELECT last, hash FROM evicted_runs WHERE first = ?", &after) < 0)
		return -EIO;
	(void) sqlite3_bind_int64(after, 1, seq + 1);
	if (sqlite3_step(after) == SQLITE_ROW) {
		const char *h = (const char *) sqlite3_column_text(after, 1);

		after_last = sqlite3_column_int64(after, 0);
		if (evchain_is_hash(h))
			memcpy(after_hash, h, EVCHAIN_HEX);
	}
	/* extend the run ending just before seq */
	if (prepare(sp, "UPDATE evicted_runs SET last = ?, hash = ? WHERE last = ?", &before) < 0)
		return -EIO;
	(void) sqlite3_bind_int64(before, 1, after_last ? after_last : seq);
	(void) sqlite3_bind_text(before, 2, after_last ? after_hash : hash, -1, SQLITE_STATIC);
	(void) sqlite3_bind_int64(before, 3, seq - 1);
	if (sqlite3_step(before) != SQLITE_DONE)
		return db_fail(sp, "extend an evicted run");
	joined = sqlite3_changes(sp->db) > 0;
	if (joined && after_last) {
		if (prepare(sp, "DELETE FROM evicted_runs WHERE first = ?", &q) < 0)
			return -EIO;
		(void) sqlite3_bind_int64(q, 1, seq + 1);
	} else if (!joined && after_last) {
		/* or the run starting just after it */
		if (prepare(sp, "UPDATE evicted_runs SET first = ?, prev = ? WHERE first = ?", &q) <
		    0)
			return -EIO;
		(void) sqlite3_bind_int64(q, 1, seq);
		(void) sqlite3_bind_text(q, 2, prev, -1, SQLITE_STATIC);
		(void) sqlite3_bind_int64(q, 3, seq + 1);
	} else if (!joined) {
		if (prepare(sp, "INSERT INTO evicted_runs VALUES (?, ?, ?, ?)", &q) < 0)
			return -EIO;
		(void) sqlite3_bind_int64(q, 1, seq);
		(void) sqlite3_bind_int64(q, 2, seq);
		(void) sqlite3_bind_text(q, 3, prev, -1, SQLITE_STATIC);
		(void) sqlite3_bind_text(q, 4, hash, -1, SQLITE_STATIC);
	}
	if (q && sqlite3_step(q) != SQLITE_DONE)
		return db_fail(sp, "record an evicted run");
	return 0;
}

static int count_eviction(struct spool *sp, int64_t seq, int64_t bytes, const char *prev,
			  const char *hash)
{
	int64_t oldest, newest;

	if (meta_add(sp, "evicted_total", 1) < 0 ||
	    meta_add(sp, "evicted_bytes_total", bytes) < 0 || meta_add(sp, "pend_count", 1) < 0 ||
	    meta_add(sp, "pend_bytes", bytes) < 0)
		return -EIO;
	if (seq > 0) {
		if (meta_get(sp, "pend_oldest", 0, &oldest) < 0 ||
		    meta_get(sp, "pend_newest", 0, &newest) < 0)
			return -EIO;
		if (oldest == 0 || seq < oldest)
			if (meta_set(sp, "pend_oldest", seq) < 0)
				return -EIO;
		if (seq > newest)
			if (meta_set(sp, "pend_newest", seq) < 0)
				return -EIO;
	}
	if (seq > 0 && evchain_is_hash(prev) && evchain_is_hash(hash) &&
	    add_run(sp, seq, prev, hash) < 0)
		return -EIO;
	sp->tx_evicted++;
	sp->tx_evicted_bytes += (uint64_t) bytes;
	return 0;
}

/*
 * Inside a transaction: evicts entries of priority <= prio, lowest first, oldest first,
 * until `need` more bytes fit. -ENOSPC when they cannot be made to fit.
 */
static int make_room(struct spool *sp, uint64_t need, int prio)
{
	_cleanup_(finalizep) sqlite3_stmt *pick = NULL, *del = NULL;
	int64_t bytes;

	if (need > sp->max_bytes)
		return -ENOSPC;
	if (meta_get(sp, "bytes", 0, &bytes) < 0)
		return -EIO;
	if ((uint64_t) bytes + need <= sp->max_bytes)
		return 0;
	if (prepare(sp,
		    "SELECT id, seq, bytes, prev, hash FROM entries WHERE prio <= ?"
		    " ORDER BY prio, id LIMIT 1",
		    &pick) < 0 ||
	    prepare(sp, "DELETE FROM entries WHERE id = ?", &del) < 0)
		return -EIO;
	(void) sqlite3_bind_int(pick, 1, prio);
	while ((uint64_t) bytes + need > sp->max_bytes) {
		char prev[EVCHAIN_HEX], hash[EVCHAIN_HEX];
		int64_t id, seq, b;
		int rc = sqlite3_step(pick);

		if (rc == SQLITE_DONE)
			break;
		if (rc != SQLITE_ROW)
			return db_fail(sp, "pick an entry to evict");
		id = sqlite3_column_int64(pick, 0);
		seq = sqlite3_column_type(pick, 1) == SQLITE_NULL ? 0
								  : sqlite3_column_int64(pick, 1);
		b = sqlite3_column_int64(pick, 2);
		copy_hash(prev, pick, 3);
		copy_hash(hash, pick, 4);
		(void) sqlite3_reset(pick);
		(void) sqlite3_bind_int64(del, 1, id);
		if (sqlite3_step(del) != SQLITE_DONE)
			return db_fail(sp, "evict");
		(void) sqlite3_reset(del);
		if (count_eviction(sp, seq, b, prev, hash) < 0)
			return -EIO;
		bytes -= b;
	}
	if (meta_set(sp, "bytes", bytes) < 0)
		return -EIO;
	return (uint64_t) bytes + need <= sp->max_bytes ? 0 : -ENOSPC;
}

static bool valid_type(const char *t)
{
	size_t n = strlen(t);

	if (n == 0 || n > LIMIT_EVENT_TYPE)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!((t[i] >= 'a' && t[i] <= 'z') || (t[i] >= '0' && t[i] <= '9') || t[i] == '.' ||
		      t[i] == '_'))
			return false;
	return true;
}

static int valid_data(const char *data)
{
	_cleanup_(json_decrefp) json_t *v = NULL;
	size_t n = strlen(data);
	int r;

	if (n > LIMIT_EVENT_SIZE)
		return -EINVAL;
	r = jsonw_parse(data, n, LIMIT_EVENT_SIZE, &v, NULL);
	if (r == -ENOMEM)
		return r;
	if (r < 0 || !json_is_object(v))
		return -EINVAL;
	return 0;
}

/* A link of the chain: what an event linked to, its hash and its monotonic time. */
struct link {
	int64_t mono;
	char prev[EVCHAIN_HEX];
	char hash[EVCHAIN_HEX];
};

/*
 * Inside a transaction: inserts one event with the next number, returning 1, or counts it
 * evicted when it does not fit, returning 0.
 */
static int add_event(struct spool *sp, sqlite3_stmt *ins, const struct spool_event *e, int64_t seq,
		     const struct link *l)
{
	int prio = (int) (e->evidence ? SPOOL_PRIO_HIGH : spool_priority(e->type));
	uint64_t bytes = strlen(e->type) + strlen(e->data) + ROW_OVERHEAD;
	int r = make_room(sp, bytes, prio);

	if (r == -ENOSPC)
		return count_eviction(sp, seq, (int64_t) bytes, l->prev, l->hash);
	if (r < 0)
		return r;
	(void) sqlite3_bind_int(ins, 1, KIND_EVENT);
	(void) sqlite3_bind_int64(ins, 2, seq);
	(void) sqlite3_bind_int(ins, 3, prio);
	(void) sqlite3_bind_int64(ins, 4, e->time_ms);
	(void) sqlite3_bind_text(ins, 5, e->type, -1, SQLITE_STATIC);
	(void) sqlite3_bind_text(ins, 6, e->data, -1, SQLITE_STATIC);
	(void) sqlite3_bind_int64(ins, 7, (int64_t) bytes);
	(void) sqlite3_bind_int(ins, 8, 0);
	(void) sqlite3_bind_int64(ins, 9, l->mono);
	(void) sqlite3_bind_text(ins, 10, l->prev, -1, SQLITE_STATIC);
	(void) sqlite3_bind_text(ins, 11, l->hash, -1, SQLITE_STATIC);
	if (sqlite3_step(ins) != SQLITE_DONE)
		return db_fail(sp, "insert an event");
	(void) sqlite3_reset(ins);
	r = meta_add(sp, "bytes", (int64_t) bytes);
	return r < 0 ? r : 1;
}

/* Inside a transaction: the chain's head (the hash the next event links to). Before the
 * chain was started for a host, the head is the genesis value of no host (""). */
static int chain_head(struct spool *sp, char head[EVCHAIN_HEX])
{
	_cleanup_(finalizep) sqlite3_stmt *st = NULL;
	int rc;

	if (prepare(sp, "SELECT head FROM chain WHERE id = 1", &st) < 0)
		return -EIO;
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		copy_hash(head, st, 0);
		if (head[0])
			return 0;
	} else if (rc != SQLITE_DONE) {
		return db_fail(sp, "read the chain's head");
	}
	return evchain_genesis("", head);
}

static int chain_set(struct spool *sp, const char *host_id, const char *head)
{
	_cleanup_(finalizep) sqlite3_stmt *st = NULL;

	if (prepare(sp,
		    "INSERT INTO chain VALUES (1, coalesce(?, ''), ?) ON CONFLICT (id) DO UPDATE"
		    " SET host_id = coalesce(?1, host_id), head = excluded.head",
		    &st) < 0)
		return -EIO;
	(void) sqlite3_bind_text(st, 1, host_id, -1, SQLITE_STATIC);
	(void) sqlite3_bind_text(st, 2, head, -1, SQLITE_STATIC);
	if (sqlite3_step(st) != SQLITE_DONE)
		return db_fail(sp, "write the chain's head");
	return 0;
}

/* Links the event that gets number seq (at monotonic time mono) to the head, moving it. */
static int chain_link(char head[EVCHAIN_HEX], const struct spool_event *e, int64_t seq,
		      int64_t mono, struct link *l)
{
	l->mono = mono;
	memcpy(l->prev, head, EVCHAIN_HEX);
	return evchain_link(head, (uint64_t) seq, e->time_ms, mono, e->type, e->data, l->hash);
}

static const char insert_sql[] =
	"INSERT INTO entries (kind, seq, prio, time_ms, type, body, bytes, flags, mono, prev, hash)"
	" VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)";

int spool_add_events(struct spool *sp, const struct spool_event *ev, size_t n,
		     uint64_t *ret_first_seq)
{
	_cleanup_(finalizep) sqlite3_stmt *ins = NULL;
	char head[EVCHAIN_HEX];
	int64_t next;
	int r;

	if (sp->read_only)
		return -EROFS;
	for (size_t i = 0; i < n; i++) {
		if (!valid_type(ev[i].type))
			return -EINVAL;
		r = valid_data(ev[i].data);
		if (r < 0)
			return r;
	}
	if (prepare(sp, insert_sql, &ins) < 0)
		return -EIO;
	r = begin(sp);
	if (r < 0)
		return r;
	r = meta_get(sp, "next_seq", 1, &next);
	if (r == 0)
		r = chain_head(sp, head);
	if (r < 0)
		return rollback(sp, r);
	for (size_t i = 0; i < n; i++) {
		struct link l;

		r = chain_link(head, &ev[i], next + (int64_t) i,
			       ev[i].mono_ms ? ev[i].mono_ms : evchain_mono_ms(), &l);
		if (r == 0)
			r = add_event(sp, ins, &ev[i], next + (int64_t) i, &l);
		if (r < 0)
			return rollback(sp, r);
	}
	r = meta_set(sp, "next_seq", next + (int64_t) n);
	if (r == 0)
		r = chain_set(sp, NULL, head);
	if (r < 0)
		return rollback(sp, r);
	finalizep(&ins);
	ins = NULL;
	r = commit(sp);
	if (r < 0)
		return r;
	if (ret_first_seq)
		*ret_first_seq = (uint64_t) next;
	return 0;
}

int spool_has_events(struct spool *sp)
{
	_cleanup_(finalizep) sqlite3_stmt *st = NULL;
	int rc;

	if (prepare(sp, "SELECT 1 FROM entries WHERE kind = 0 LIMIT 1", &st) < 0)
		return -EIO;
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW)
		return 1;
	if (rc == SQLITE_DONE)
		return 0;
	return db_fail(sp, "look for events");
}

int spool_events_batch(struct spool *sp, size_t max_n, size_t max_bytes, struct buf *out,
		       uint64_t *ret_last_seq, size_t *ret_n)
{
	_cleanup_(finalizep) sqlite3_stmt *st = NULL;
	size_t n = 0, start = out->len;
	int64_t last = 0;
	int rc = SQLITE_DONE, r;

	if (prepare(sp,
		    "SELECT seq, time_ms, type, body, mono, prev, hash FROM entries WHERE kind = 0"
		    " ORDER BY seq LIMIT ?",
		    &st) < 0)
		return -EIO;
	(void) sqlite3_bind_int64(st, 1, (int64_t) MIN(max_n, (size_t) INT_MAX));
	r = buf_adds(out, "{\"events\":[");
	while (r == 0 && (rc = sqlite3_step(st)) == SQLITE_ROW) {
		char prev[EVCHAIN_HEX], hash[EVCHAIN_HEX];
		const char *type = (const char *) sqlite3_column_text(st, 2);
		const char *data = (const char *) sqlite3_column_text(st, 3);

		if (!type || !data)
			return -ENOMEM;
		/* The first event always goes, so one large event cannot block the spool. */
		if (n > 0 && out->len - start + strlen(data) + 128 > max_bytes)
			break;
		last = sqlite3_column_int64(st, 0);
		/* Types were checked at spool time ([a-z0-9_.]) and data is a JSON object. */
		r = buf_addf(out,
			     "%s{\"seq\":%" PRId64 ",\"time\":%" PRId64
			     ",\"type\":\"%s\",\"data\":",
			     n ? "," : "", last, (int64_t) sqlite3_column_int64(st, 1), type);
		if (r == 0)
			r = buf_adds(out, data);
		/* the chain's fields; an entry spooled before the chain goes without them */
		copy_hash(prev, st, 5);
		copy_hash(hash, st, 6);
		if (r == 0 && prev[0] && hash[0])
			r = buf_addf(out, ",\"mono\":%" PRId64 ",\"prev\":\"%s\",\"hash\":\"%s\"",
				     (int64_t) sqlite3_column_int64(st, 4), prev, hash);
		if (r == 0)
			r = buf_addc(out, '}');
		n++;
	}
	if (r == 0 && rc != SQLITE_ROW && rc != SQLITE_DONE)
		r = db_fail(sp, "read events");
	if (r == 0)
		r = buf_adds(out, "]}");
	if (r < 0) {
		out->len = start;
		return r;
	}
	*ret_last_seq = (uint64_t) last;
	*ret_n = n;
	return 0;
}

/* Gives free pages back to the file system once there are enough to matter. */
static void maybe_vacuum(struct spool *sp)
{
	_cleanup_(finalizep) sqlite3_stmt *st = NULL;
	int64_t free_pages = 0, page_size = 4096;

	if (prepare(sp,
		    "SELECT freelist_count, page_size FROM pragma_freelist_count,"
		    " pragma_page_size",
		    &st) < 0)
		return;
	if (sqlite3_step(st) == SQLITE_ROW) {
		free_pages = sqlite3_column_int64(st, 0);
		page_size = sqlite3_column_int64(st, 1);
	}
	if ((uint64_t) (free_pages * page_size) > MIN(sp->max_bytes / 4, (uint64_t) 1 << 20))
		(void) exec(sp, "PRAGMA incremental_vacuum");
}

int spool_ack(struct spool *sp, uint64_t acked_seq)
{
	_cleanup_(finalizep) sqlite3_stmt *sum = NULL, *del = NULL;
	int64_t acked, next, bytes = 0;
	int deleted, r;

	if (sp->read_only)
		return -EROFS;
	if (acked_seq > INT64_MAX)
		return -EINVAL;
	r = begin(sp);
	if (r < 0)
		return r;
	if (meta_get(sp, "acked_seq", 0, &acked) < 0 || meta_get(sp, "next_seq", 1, &next) < 0)
		return rollback(sp, -EIO);
	if ((int64_t) acked_seq >= next) {
		log_warning("(M2004) the server holds events up to %" PRIu64 " but this agent only"
			    " numbered up to %" PRId64 " (state restored from a backup?); numbering"
			    " continues after the server's so no number is reused",
			    acked_seq, next - 1);
		if (meta_set(sp, "next_seq", (int64_t) acked_seq + 1) < 0)
			return rollback(sp, -EIO);
	}
	if ((int64_t) acked_seq > acked && meta_set(sp, "acked_seq", (int64_t) acked_seq) < 0)
		return rollback(sp, -EIO);
	if (prepare(sp, "SELECT COALESCE(SUM(bytes), 0) FROM entries WHERE kind = 0 AND seq <= ?",
		    &sum) < 0 ||
	    prepare(sp, "DELETE FROM entries WHERE kind = 0 AND seq <= ?", &del) < 0)
		return rollback(sp, -EIO);
	(void) sqlite3_bind_int64(sum, 1, (int64_t) acked_seq);
	(void) sqlite3_bind_int64(del, 1, (int64_t) acked_seq);
	if (sqlite3_step(sum) == SQLITE_ROW)
		bytes = sqlite3_column_int64(sum, 0);
	if (sqlite3_step(del) != SQLITE_DONE)
		return rollback(sp, db_fail(sp, "delete acknowledged events"));
	deleted = sqlite3_changes(sp->db);
	if (meta_add(sp, "bytes", -bytes) < 0)
		return rollback(sp, -EIO);
	finalizep(&sum);
	finalizep(&del);
	sum = del = NULL;
	r = commit(sp);
	if (r < 0)
		return r;
	if (deleted > 0)
		maybe_vacuum(sp);
	return deleted;
}

/* Inside a transaction: takes (reads and deletes) the lowest runs, at most `max`. */
static int take_runs(struct spool *sp, struct evchain_run *runs, size_t max, size_t *ret_n)
{
	_cleanup_(finalizep) sqlite3_stmt *st = NULL, *del = NULL;
	size_t n = 0;
	int rc;

	if (prepare(sp, "SELECT first, last, prev, hash FROM evicted_runs ORDER BY first LIMIT ?",
		    &st) < 0 ||
	    prepare(sp, "DELETE FROM evicted_runs WHERE first = ?", &del) < 0)
		return -EIO;
	(void) sqlite3_bind_int64(st, 1, (int64_t) max);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		runs[n].first = (uint64_t) sqlite3_column_int64(st, 0);
		runs[n].last = (uint64_t) sqlite3_column_int64(st, 1);
		copy_hash(runs[n].prev, st, 2);
		copy_hash(runs[n].hash, st, 3);
		if (runs[n].prev[0] && runs[n].hash[0] && runs[n].first >= 1 &&
		    runs[n].first <= runs[n].last)
			n++;
	}
	if (rc != SQLITE_DONE)
		return db_fail(sp, "read the evicted runs");
	for (size_t i = 0; i < n; i++) {
		(void) sqlite3_reset(del);
		(void) sqlite3_bind_int64(del, 1, (int64_t) runs[i].first);
		if (sqlite3_step(del) != SQLITE_DONE)
			return db_fail(sp, "clear the evicted runs");
	}
	*ret_n = n;
	return 0;
}

#define REPORTS_MAX 16 /* reports spooled by one call: 16 x 256 runs */

int spool_report_evictions(struct spool *sp, int64_t now_ms)
{
	_cleanup_(finalizep) sqlite3_stmt *ins = NULL, *runs_left = NULL;
	_cleanup_(freep) struct evchain_run *runs = NULL;
	int64_t count, bytes, oldest, newest, next, first_report;
	char head[EVCHAIN_HEX];
	int r;

	if (sp->read_only)
		return -EROFS;
	runs = mm_calloc(EVCHAIN_RUNS_MAX, sizeof(*runs));
	if (!runs)
		return -ENOMEM;
	if (prepare(sp, insert_sql, &ins) < 0 ||
	    prepare(sp, "SELECT count(*) FROM evicted_runs", &runs_left) < 0)
		return -EIO;
	r = begin(sp);
	if (r < 0)
		return r;
	if (meta_get(sp, "pend_count", 0, &count) < 0 ||
	    meta_get(sp, "pend_bytes", 0, &bytes) < 0 ||
	    meta_get(sp, "pend_oldest", 0, &oldest) < 0 ||
	    meta_get(sp, "pend_newest", 0, &newest) < 0 || meta_get(sp, "next_seq", 1, &next) < 0 ||
	    sqlite3_step(runs_left) != SQLITE_ROW)
		return rollback(sp, -EIO);
	if (count == 0 && sqlite3_column_int64(runs_left, 0) == 0)
		return rollback(sp, 0);
	/* Clear first: what making room for the report evicts goes into the next report. */
	if (meta_set(sp, "pend_count", 0) < 0 || meta_set(sp, "pend_bytes", 0) < 0 ||
	    meta_set(sp, "pend_oldest", 0) < 0 || meta_set(sp, "pend_newest", 0) < 0)
		return rollback(sp, -EIO);
	r = chain_head(sp, head);
	if (r < 0)
		return rollback(sp, r);
	first_report = next;
	/* One report per EVCHAIN_RUNS_MAX runs; the first carries the counts. */
	for (int k = 0; k < REPORTS_MAX; k++) {
		_cleanup_(freep) char *data = NULL;
		struct spool_event ev = {.type = EVCHAIN_EVICTED_TYPE, .time_ms = now_ms};
		struct link l;
		size_t n = 0;

		r = take_runs(sp, runs, EVCHAIN_RUNS_MAX, &n);
		if (r < 0)
			return rollback(sp, r);
		if (k > 0 && n == 0)
			break;
		r = evchain_evicted_format(k ? 0 : (uint64_t) count, k ? 0 : (uint64_t) bytes,
					   k ? 0 : (uint64_t) oldest, k ? 0 : (uint64_t) newest,
					   runs, n, &data);
		if (r < 0)
			return rollback(sp, r);
		ev.data = data;
		r = chain_link(head, &ev, next, evchain_mono_ms(), &l);
		if (r == 0)
			r = add_event(sp, ins, &ev, next, &l);
		if (r < 0)
			return rollback(sp, r);
		next++;
		if (n < EVCHAIN_RUNS_MAX)
			break;
	}
	if (meta_set(sp, "next_seq", next) < 0 || chain_set(sp, NULL, head) < 0)
		return rollback(sp, -EIO);
	finalizep(&ins);
	finalizep(&runs_left);
	ins = runs_left = NULL;
	r = commit(sp);
	if (r < 0)
		return r;
	log_warning("(M2005) reporting %" PRId64 " evicted spool entries (%" PRId64 " bytes%s) to"
		    " the server as event %" PRId64,
		    count, bytes, oldest > 0 ? ", some events among them" : "", first_report);
	return 1;
}

int spool_chain_start(struct spool *sp, const char *host_id)
{
	_cleanup_(finalizep) sqlite3_stmt *cur = NULL, *pend = NULL, *upd = NULL, *drop = NULL;
	char head[EVCHAIN_HEX];
	int rc, r;

	if (sp->read_only)
		return -EROFS;
	if (!host_id || !*host_id)
		return -EINVAL;
	if (prepare(sp, "SELECT host_id = ? FROM chain WHERE id = 1", &cur) < 0 ||
	    prepare(sp,
		    "SELECT id, seq, time_ms, coalesce(mono, 0), type, body FROM entries"
		    " WHERE kind = 0 ORDER BY seq",
		    &pend) < 0 ||
	    prepare(sp, "UPDATE entries SET mono = ?, prev = ?, hash = ? WHERE id = ?", &upd) < 0 ||
	    prepare(sp, "DELETE FROM evicted_runs", &drop) < 0)
		return -EIO;
	r = begin(sp);
	if (r < 0)
		return r;
	(void) sqlite3_bind_text(cur, 1, host_id, -1, SQLITE_STATIC);
	rc = sqlite3_step(cur);
	if (rc == SQLITE_ROW && sqlite3_column_int(cur, 0))
		return rollback(sp, 0); /* started for this host already */
	/* A new chain: what waits unsent was linked for no host (spooled before enrolment)
	 * or another one; it is linked again from this host's genesis value. Runs of
	 * evicted events chained for the other host are dropped (their count is still
	 * reported). */
	r = evchain_genesis(host_id, head);
	if (r < 0)
		return rollback(sp, r);
	while ((rc = sqlite3_step(pend)) == SQLITE_ROW) {
		struct spool_event e = {
			.type = (const char *) sqlite3_column_text(pend, 4),
			.time_ms = sqlite3_column_int64(pend, 2),
			.mono_ms = sqlite3_column_int64(pend, 3),
			.data = (const char *) sqlite3_column_text(pend, 5),
		};
		struct link l;

		if (!e.type || !e.data)
			return rollback(sp, -ENOMEM);
		/* an entry spooled before the chain has no monotonic time: 0 says so */
		r = chain_link(head, &e, sqlite3_column_int64(pend, 1), e.mono_ms, &l);
		if (r < 0)
			return rollback(sp, r);
		(void) sqlite3_reset(upd);
		(void) sqlite3_bind_int64(upd, 1, l.mono);
		(void) sqlite3_bind_text(upd, 2, l.prev, -1, SQLITE_TRANSIENT);
		(void) sqlite3_bind_text(upd, 3, l.hash, -1, SQLITE_TRANSIENT);
		(void) sqlite3_bind_int64(upd, 4, sqlite3_column_int64(pend, 0));
		if (sqlite3_step(upd) != SQLITE_DONE)
			return rollback(sp, db_fail(sp, "link a spooled event"));
	}
	if (rc != SQLITE_DONE)
		return rollback(sp, db_fail(sp, "read spooled events"));
	if (sqlite3_step(drop) != SQLITE_DONE)
		return rollback(sp, db_fail(sp, "drop evicted runs"));
	r = chain_set(sp, host_id, head);
	if (r < 0)
		return rollback(sp, r);
	finalizep(&cur);
	finalizep(&pend);
	finalizep(&upd);
	finalizep(&drop);
	cur = pend = upd = drop = NULL;
	return commit(sp);
}

int spool_inventory_put(struct spool *sp, const char *doc, size_t len, bool full)
{
	_cleanup_(finalizep) sqlite3_stmt *old = NULL, *del = NULL, *ins = NULL;
	uint64_t bytes = len + ROW_OVERHEAD;
	int64_t freed = 0;
	int r;

	if (sp->read_only)
		return -EROFS;
	if (prepare(sp, "SELECT COALESCE(SUM(bytes), 0) FROM entries WHERE kind = 1", &old) < 0 ||
	    prepare(sp, "DELETE FROM entries WHERE kind = 1", &del) < 0 ||
	    prepare(sp, insert_sql, &ins) < 0)
		return -EIO;
	r = begin(sp);
	if (r < 0)
		return r;
	if (sqlite3_step(old) == SQLITE_ROW)
		freed = sqlite3_column_int64(old, 0);
	if (sqlite3_step(del) != SQLITE_DONE)
		return rollback(sp, db_fail(sp, "replace the inventory upload"));
	if (meta_add(sp, "bytes", -freed) < 0)
		return rollback(sp, -EIO);
	r = make_room(sp, bytes, SPOOL_PRIO_NORMAL);
	if (r == -ENOSPC) {
		r = count_eviction(sp, 0, (int64_t) bytes, NULL, NULL);
		if (r == 0)
			r = commit(sp);
		return r < 0 ? r : -ENOSPC;
	}
	if (r < 0)
		return rollback(sp, r);
	(void) sqlite3_bind_int(ins, 1, KIND_INVENTORY);
	(void) sqlite3_bind_null(ins, 2);
	(void) sqlite3_bind_int(ins, 3, SPOOL_PRIO_NORMAL);
	(void) sqlite3_bind_int64(ins, 4, 0);
	(void) sqlite3_bind_text(ins, 5, full ? "inventory.full" : "inventory", -1, SQLITE_STATIC);
	(void) sqlite3_bind_text(ins, 6, doc, (int) MIN(len, (size_t) INT_MAX), SQLITE_STATIC);
	(void) sqlite3_bind_int64(ins, 7, (int64_t) bytes);
	(void) sqlite3_bind_int(ins, 8, full ? FLAG_FULL : 0);
	if (sqlite3_step(ins) != SQLITE_DONE)
		return rollback(sp, db_fail(sp, "spool the inventory"));
	if (meta_add(sp, "bytes", (int64_t) bytes) < 0)
		return rollback(sp, -EIO);
	finalizep(&old);
	finalizep(&del);
	finalizep(&ins);
	old = del = ins = NULL;
	return commit(sp);
}

int spool_inventory_get(struct spool *sp, int64_t *ret_id, char **ret_doc, size_t *ret_len,
			bool *ret_full)
{
	_cleanup_(finalizep) sqlite3_stmt *st = NULL;
	const char *doc;
	char *copy;
	int rc, len;

	if (prepare(sp,
		    "SELECT id, body, flags FROM entries WHERE kind = 1 ORDER BY id DESC"
		    " LIMIT 1",
		    &st) < 0)
		return -EIO;
	rc = sqlite3_step(st);
	if (rc == SQLITE_DONE)
		return -ENOENT;
	if (rc != SQLITE_ROW)
		return db_fail(sp, "read the inventory upload");
	doc = (const char *) sqlite3_column_text(st, 1);
	len = sqlite3_column_bytes(st, 1);
	if (!doc)
		return -ENOMEM;
	copy = mm_strndup(doc, (size_t) len);
	if (!copy)
		return -ENOMEM;
	*ret_id = sqlite3_column_int64(st, 0);
	*ret_doc = copy;
	*ret_len = (size_t) len;
	*ret_full = sqlite3_column_int(st, 2) & FLAG_FULL;
	return 0;
}

int spool_inventory_set_full(struct spool *sp, int64_t id)
{
	_cleanup_(finalizep) sqlite3_stmt *st = NULL;

	if (prepare(sp, "UPDATE entries SET flags = flags | 1 WHERE id = ? AND kind = 1", &st) < 0)
		return -EIO;
	(void) sqlite3_bind_int64(st, 1, id);
	if (sqlite3_step(st) != SQLITE_DONE)
		return db_fail(sp, "mark the inventory upload full");
	return 0;
}

int spool_inventory_done(struct spool *sp, int64_t id)
{
	_cleanup_(finalizep) sqlite3_stmt *sum = NULL, *del = NULL;
	int64_t bytes = 0;
	int r;

	if (prepare(sp, "SELECT COALESCE(SUM(bytes), 0) FROM entries WHERE id = ? AND kind = 1",
		    &sum) < 0 ||
	    prepare(sp, "DELETE FROM entries WHERE id = ? AND kind = 1", &del) < 0)
		return -EIO;
	(void) sqlite3_bind_int64(sum, 1, id);
	(void) sqlite3_bind_int64(del, 1, id);
	r = begin(sp);
	if (r < 0)
		return r;
	if (sqlite3_step(sum) == SQLITE_ROW)
		bytes = sqlite3_column_int64(sum, 0);
	if (sqlite3_step(del) != SQLITE_DONE)
		return rollback(sp, db_fail(sp, "remove the inventory upload"));
	if (meta_add(sp, "bytes", -bytes) < 0)
		return rollback(sp, -EIO);
	finalizep(&sum);
	finalizep(&del);
	sum = del = NULL;
	r = commit(sp);
	if (r == 0)
		maybe_vacuum(sp);
	return r;
}

void spool_release_memory(struct spool *sp)
{
	(void) sqlite3_db_release_memory(sp->db);
}

int spool_stats(struct spool *sp, struct spool_stats *ret)
{
	_cleanup_(finalizep) sqlite3_stmt *st = NULL;
	struct spool_stats s = {.max_bytes = sp->max_bytes};
	int64_t v[6];
	static const char *const keys[] = {
		"bytes",     "next_seq", "acked_seq", "evicted_total", "evicted_bytes_total",
		"pend_count"};

	/* One read transaction, so the figures agree with each other. */
	if (exec(sp, "BEGIN") < 0)
		return -EIO;
	for (size_t i = 0; i < ARRAY_SIZE(keys); i++)
		if (meta_get(sp, keys[i], 0, &v[i]) < 0)
			return rollback(sp, -EIO);
	if (prepare(sp, "SELECT COUNT(*), COALESCE(SUM(kind = 0), 0) FROM entries", &st) < 0)
		return rollback(sp, -EIO);
	if (sqlite3_step(st) != SQLITE_ROW)
		return rollback(sp, db_fail(sp, "count entries"));
	s.depth = (uint64_t) sqlite3_column_int64(st, 0);
	s.events = (uint64_t) sqlite3_column_int64(st, 1);
	finalizep(&st);
	st = NULL;
	(void) exec(sp, "COMMIT");
	s.bytes = (uint64_t) v[0];
	s.last_seq = v[1] > 0 ? (uint64_t) v[1] - 1 : 0;
	s.acked_seq = (uint64_t) v[2];
	s.evicted_total = (uint64_t) v[3];
	s.evicted_bytes_total = (uint64_t) v[4];
	s.evicted_unreported = (uint64_t) v[5];
	*ret = s;
	return 0;
}

int spool_meta_get(struct spool *sp, const char *key, int64_t def, int64_t *ret)
{
	_cleanup_(freep) char *k = mm_asprintf("d.%s", key);

	if (!k)
		return -ENOMEM;
	return meta_get(sp, k, def, ret);
}

int spool_meta_set(struct spool *sp, const char *key, int64_t value)
{
	_cleanup_(freep) char *k = mm_asprintf("d.%s", key);

	if (!k)
		return -ENOMEM;
	if (sp->read_only)
		return -EROFS;
	return meta_set(sp, k, value);
}
