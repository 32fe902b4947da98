/*
 * The SQLite store: one database file in WAL mode, the schema and its migrations, the
 * connections and transactions every operation runs in, and the operations on tokens,
 * enrolment and check-ins. Inventory, events, the admin's host views, the audit trail and
 * USB control live in store_sqlite_{inventory,events,hosts,audit,policy}.c;
 * docs/internals/store.md describes the schema.
 *
 * Concurrency. The HTTP server calls from several threads. There is one writer connection,
 * guarded by a mutex held from BEGIN IMMEDIATE to COMMIT, and a small pool of reader
 * connections (URL parameter readers=N, default 4). WAL lets readers work on their
 * snapshot while the writer commits, so an admin listing 5,000 hosts never stalls event
 * ingestion, and a slow writer never stalls the certificate lookup every agent request
 * makes. Writers are serialised in this process anyway (SQLite allows one writer at a
 * time), so taking our own mutex first costs nothing and avoids SQLITE_BUSY between our
 * own threads; busy_timeout only matters if another process (sqlite3 shell, a backup)
 * holds the lock. With readers=0 everything shares the writer: bench/ingest measures both.
 * Connections are opened SQLITE_OPEN_NOMUTEX because our locks already give each
 * connection to one thread at a time.
 *
 * Durability. WAL with synchronous=NORMAL never corrupts the database and survives any
 * crash of the server; a power cut or kernel crash may undo the last transactions since
 * the previous checkpoint. That is right for check-ins and inventory: an undone inventory
 * commit leaves the server's digest behind the agent's, and the next check-in asks for a
 * delta or a full snapshot. It is wrong where somebody forgets their copy because we said
 * "stored": acknowledged events (the agent drops them from its spool), enrolment (a
 * certificate went out with that serial, a token use was consumed), revocations and
 * deletions (a revoked host must stay revoked) and the audit trail. Those transactions
 * switch the writer to synchronous=FULL, which syncs the WAL at commit.
 *
 * Every operation is one transaction: begin → work → end, where end commits only if the
 * work succeeded and rolls back otherwise, so a failure anywhere (SQL, I/O, allocation,
 * a misfit delta, the signing callback) leaves the store as it was.
 */
#include <errno.h>
#include <inttypes.h>
#include <string.h>
#include <time.h>

#include "lib/jsonw.h"
#include "lib/log.h"
#include "lib/mm.h"
#include "lib/str.h"
#include "server/store_sqlite.h"

#define BUSY_TIMEOUT_MS    5000
#define SERIAL_ATTEMPTS    8
#define MIN_SQLITE_VERSION 3037000 /* STRICT tables */

/*
 * The migrations, in order: migrations[i] takes the schema from version i to i + 1. Never
 * edit one that has shipped; append a new one. Each runs in its own transaction together
 * with the schema_version row recording it.
 */
static const char *const migrations[] = {
	/* 1: the first schema */
	"CREATE TABLE ca_serials ("
	"  serial INTEGER PRIMARY KEY CHECK (serial > 0),"
	"  host_id TEXT NOT NULL,"
	"  issued INTEGER NOT NULL"
	") STRICT;"

	"CREATE TABLE enroll_tokens ("
	"  id TEXT PRIMARY KEY,"
	"  hash BLOB NOT NULL UNIQUE CHECK (length(hash) = 32),"
	"  comment TEXT,"
	"  group_name TEXT,"
	"  created INTEGER NOT NULL,"
	"  expires INTEGER NOT NULL CHECK (expires > created),"
	"  max_uses INTEGER NOT NULL CHECK (max_uses >= 1),"
	"  uses INTEGER NOT NULL DEFAULT 0 CHECK (uses BETWEEN 0 AND max_uses),"
	"  revoked INTEGER,"
	"  created_by TEXT NOT NULL"
	") STRICT;"
	"CREATE INDEX enroll_tokens_created ON enroll_tokens(created);"

	"CREATE TABLE hosts ("
	"  num INTEGER PRIMARY KEY,"
	"  id TEXT NOT NULL UNIQUE,"
	"  hostname TEXT NOT NULL,"
	"  machine_id TEXT NOT NULL,"
	"  os TEXT NOT NULL,"
	"  agent_version TEXT NOT NULL,"
	"  group_name TEXT,"
	"  facts TEXT NOT NULL,"
	"  enrolled INTEGER NOT NULL,"
	"  enroll_token TEXT REFERENCES enroll_tokens(id),"
	"  last_seen INTEGER,"
	"  last_remote TEXT,"
	"  last_state TEXT,"
	"  revoked_at INTEGER,"
	"  deleted INTEGER,"
	"  cert_serial INTEGER NOT NULL UNIQUE REFERENCES ca_serials(serial),"
	"  cert_pem TEXT NOT NULL,"
	"  inventory_digest TEXT NOT NULL DEFAULT '',"
	"  inventory_time INTEGER,"
	"  serial_number TEXT,"
	"  chassis TEXT,"
	"  max_seq INTEGER NOT NULL DEFAULT 0"
	") STRICT;"
	"CREATE INDEX hosts_hostname ON hosts(hostname, id) WHERE deleted IS NULL;"
	"CREATE INDEX hosts_last_seen ON hosts(last_seen, id) WHERE deleted IS NULL;"
	"CREATE INDEX hosts_enrolled ON hosts(enrolled, id) WHERE deleted IS NULL;"
	"CREATE INDEX hosts_group ON hosts(group_name, hostname) WHERE deleted IS NULL;"

	"CREATE TABLE token_uses ("
	"  id INTEGER PRIMARY KEY,"
	"  token_id TEXT NOT NULL REFERENCES enroll_tokens(id),"
	"  time INTEGER NOT NULL,"
	"  host INTEGER NOT NULL REFERENCES hosts(num),"
	"  remote TEXT"
	") STRICT;"
	"CREATE INDEX token_uses_token ON token_uses(token_id, time);"

	"CREATE TABLE api_tokens ("
	"  id TEXT PRIMARY KEY,"
	"  hash BLOB NOT NULL UNIQUE CHECK (length(hash) = 32),"
	"  name TEXT NOT NULL,"
	"  role TEXT NOT NULL,"
	"  created INTEGER NOT NULL,"
	"  expires INTEGER NOT NULL DEFAULT 0,"
	"  revoked INTEGER,"
	"  last_used INTEGER"
	") STRICT;"

	"CREATE TABLE inventory_items ("
	"  host INTEGER NOT NULL REFERENCES hosts(num),"
	"  section TEXT NOT NULL,"
	"  list TEXT NOT NULL,"
	"  key TEXT NOT NULL,"
	"  value TEXT NOT NULL,"
	"  changed INTEGER NOT NULL,"
	"  PRIMARY KEY (host, section, list, key)"
	") STRICT;"

	"CREATE TABLE inventory_changes ("
	"  id INTEGER PRIMARY KEY,"
	"  host INTEGER NOT NULL REFERENCES hosts(num),"
	"  time INTEGER NOT NULL,"
	"  section TEXT NOT NULL,"
	"  list TEXT NOT NULL,"
	"  key TEXT NOT NULL,"
	"  op TEXT NOT NULL CHECK (op IN ('added', 'removed', 'changed')),"
	"  old TEXT,"
	"  new TEXT"
	") STRICT;"
	"CREATE INDEX inventory_changes_host ON inventory_changes(host, time, id);"

	"CREATE TABLE software ("
	"  host INTEGER NOT NULL REFERENCES hosts(num),"
	"  item_key TEXT NOT NULL,"
	"  manager TEXT NOT NULL,"
	"  name TEXT NOT NULL,"
	"  arch TEXT NOT NULL,"
	"  version TEXT,"
	"  source TEXT,"
	"  source_version TEXT,"
	"  PRIMARY KEY (host, item_key)"
	") STRICT;"
	"CREATE INDEX software_host_name ON software(host, name, arch);"
	"CREATE INDEX software_source ON software(source, source_version);"
	"CREATE INDEX software_name ON software(name, version);"

	"CREATE TABLE events ("
	"  host INTEGER NOT NULL REFERENCES hosts(num),"
	"  seq INTEGER NOT NULL CHECK (seq >= 1),"
	"  time_ms INTEGER NOT NULL,"
	"  type TEXT NOT NULL,"
	"  data TEXT NOT NULL,"
	"  extra TEXT,"
	"  received INTEGER NOT NULL,"
	"  PRIMARY KEY (host, seq)"
	") STRICT, WITHOUT ROWID;"

	"CREATE TABLE audit ("
	"  id INTEGER PRIMARY KEY,"
	"  time INTEGER NOT NULL,"
	"  actor TEXT NOT NULL,"
	"  action TEXT NOT NULL,"
	"  target TEXT,"
	"  details TEXT,"
	"  remote TEXT,"
	"  prev_hash TEXT NOT NULL,"
	"  hash TEXT NOT NULL"
	") STRICT;"
	"CREATE TRIGGER audit_no_update BEFORE UPDATE ON audit"
	"  BEGIN SELECT RAISE(ABORT, 'the audit trail is append-only'); END;"
	"CREATE TRIGGER audit_no_delete BEFORE DELETE ON audit"
	"  BEGIN SELECT RAISE(ABORT, 'the audit trail is append-only'); END;",

	/* 2: the guideline scorecard and attestations (store_sqlite_compliance.c) */
	"ALTER TABLE hosts ADD COLUMN owner TEXT;"

	"CREATE TABLE compliance_facts ("
	"  host INTEGER PRIMARY KEY REFERENCES hosts(num),"
	"  events TEXT NOT NULL"
	") STRICT;"

	"CREATE TABLE compliance_results ("
	"  host INTEGER NOT NULL REFERENCES hosts(num),"
	"  measure TEXT NOT NULL,"
	"  category TEXT NOT NULL,"
	"  role TEXT NOT NULL,"
	"  status TEXT NOT NULL"
	"    CHECK (status IN ('met', 'not_met', 'unknown', 'not_applicable')),"
	"  evidence TEXT NOT NULL,"
	"  since INTEGER NOT NULL,"
	"  PRIMARY KEY (host, measure)"
	") STRICT, WITHOUT ROWID;"
	"CREATE INDEX compliance_results_measure ON compliance_results(measure, status);"

	"CREATE TABLE compliance_rollup ("
	"  kind TEXT NOT NULL CHECK (kind IN ('organisation', 'category', 'role', 'measure')),"
	"  id TEXT NOT NULL,"
	"  met INTEGER NOT NULL DEFAULT 0,"
	"  not_met INTEGER NOT NULL DEFAULT 0,"
	"  unknown INTEGER NOT NULL DEFAULT 0,"
	"  not_applicable INTEGER NOT NULL DEFAULT 0,"
	"  PRIMARY KEY (kind, id)"
	") STRICT, WITHOUT ROWID;"

	"CREATE TABLE compliance_daily ("
	"  day INTEGER NOT NULL,"
	"  kind TEXT NOT NULL,"
	"  id TEXT NOT NULL,"
	"  met INTEGER NOT NULL,"
	"  not_met INTEGER NOT NULL,"
	"  unknown INTEGER NOT NULL,"
	"  not_applicable INTEGER NOT NULL,"
	"  PRIMARY KEY (day, kind, id)"
	") STRICT, WITHOUT ROWID;"

	"CREATE TABLE compliance_changes ("
	"  id INTEGER PRIMARY KEY,"
	"  host INTEGER NOT NULL REFERENCES hosts(num),"
	"  measure TEXT NOT NULL,"
	"  time INTEGER NOT NULL,"
	"  old_status TEXT,"
	"  new_status TEXT"
	") STRICT;"
	"CREATE INDEX compliance_changes_time ON compliance_changes(time);"
	"CREATE INDEX compliance_changes_host ON compliance_changes(host, time);"

	"CREATE TABLE attestations ("
	"  id TEXT PRIMARY KEY,"
	"  measure TEXT NOT NULL,"
	"  status TEXT NOT NULL CHECK (status IN ('met', 'not_met', 'not_applicable')),"
	"  evidence TEXT NOT NULL,"
	"  link TEXT,"
	"  owner TEXT NOT NULL,"
	"  date INTEGER NOT NULL,"
	"  review_days INTEGER NOT NULL CHECK (review_days >= 1),"
	"  created INTEGER NOT NULL,"
	"  created_by TEXT NOT NULL"
	") STRICT;"
	"CREATE INDEX attestations_measure ON attestations(measure, date);",

	/*
	 * 3: the event store. Events get a time-ordered key (id = event time in ms << 20 plus
	 * a counter, so the primary key is the time index and full-text matches come back in
	 * time order), the chain's columns, indexes for the admin's filters, an external-content
	 * FTS5 trigram index over their strings (indexed per batch, not per row: FTS5 flushes
	 * its pending terms at every statement, so one statement per batch is one segment
	 * instead of hundreds), the chain's gaps and evidence, the insertion
	 * position the SIEM forwarder follows and named cursors. Events stored
	 * before it came without chain fields: they are flagged unchained (4).
	 */
	"CREATE TABLE events_v2 ("
	"  id INTEGER PRIMARY KEY,"
	"  host INTEGER NOT NULL REFERENCES hosts(num),"
	"  seq INTEGER NOT NULL CHECK (seq >= 1),"
	"  time_ms INTEGER NOT NULL,"
	"  mono_ms INTEGER,"
	"  type TEXT NOT NULL,"
	"  user_name TEXT,"
	"  data TEXT NOT NULL,"
	"  extra TEXT,"
	"  text TEXT NOT NULL,"
	"  prev TEXT,"
	"  hash TEXT,"
	"  chain INTEGER NOT NULL DEFAULT 0,"
	"  received INTEGER NOT NULL,"
	"  rx INTEGER NOT NULL"
	") STRICT;"
	"INSERT INTO events_v2 (id, host, seq, time_ms, type, user_name, data, extra, text, chain,"
	"   received, rx)"
	" SELECT (k << 20) + row_number() OVER (PARTITION BY k ORDER BY host, seq) - 1,"
	"   host, seq, time_ms, type,"
	"   CASE WHEN json_type(data, '$.user') = 'text' THEN json_extract(data, '$.user') END,"
	"   data, extra,"
	"   coalesce((SELECT group_concat(value, char(10)) FROM json_tree(e.data)"
	"             WHERE json_tree.type = 'text'), ''),"
	"   4, received, row_number() OVER (ORDER BY received, host, seq)"
	" FROM (SELECT *, max(0, min(time_ms, 8796093022207)) AS k FROM events) e;"
	"DROP TABLE events;"
	"ALTER TABLE events_v2 RENAME TO events;"
	"CREATE UNIQUE INDEX events_host_seq ON events(host, seq);"
	"CREATE INDEX events_host_time ON events(host, id);"
	"CREATE INDEX events_type_time ON events(type, id);"
	"CREATE INDEX events_host_type_time ON events(host, type, id);"
	"CREATE INDEX events_user_time ON events(user_name, id) WHERE user_name IS NOT NULL;"
	"CREATE INDEX events_rx ON events(rx);"
	"CREATE INDEX events_flagged ON events(host, seq) WHERE chain != 0;"
	"CREATE VIRTUAL TABLE events_fts USING fts5(text, content='events', content_rowid='id',"
	"   tokenize='trigram');"
	"INSERT INTO events_fts(events_fts) VALUES ('rebuild');"
	"CREATE TRIGGER events_fts_delete AFTER DELETE ON events"
	"  BEGIN INSERT INTO events_fts(events_fts, rowid, text) VALUES ('delete', old.id, "
	"old.text);"
	"  END;"
	"CREATE TRIGGER events_fixed BEFORE UPDATE OF id, host, seq, text ON events"
	"  BEGIN SELECT RAISE(ABORT, 'an event''s key and text never change'); END;"

	"CREATE TABLE event_gaps ("
	"  host INTEGER NOT NULL REFERENCES hosts(num),"
	"  first_seq INTEGER NOT NULL CHECK (first_seq >= 1),"
	"  last_seq INTEGER NOT NULL CHECK (last_seq >= first_seq),"
	"  reason TEXT NOT NULL CHECK (reason IN ('missing', 'evicted')),"
	"  report_seq INTEGER,"
	"  run_prev TEXT,"
	"  run_hash TEXT,"
	"  detected INTEGER NOT NULL,"
	"  PRIMARY KEY (host, first_seq)"
	") STRICT, WITHOUT ROWID;"

	"CREATE TABLE chain_evidence ("
	"  id INTEGER PRIMARY KEY,"
	"  host INTEGER NOT NULL REFERENCES hosts(num),"
	"  kind TEXT NOT NULL,"
	"  first_seq INTEGER NOT NULL,"
	"  last_seq INTEGER NOT NULL,"
	"  detected INTEGER NOT NULL,"
	"  detail TEXT"
	") STRICT;"
	"CREATE INDEX chain_evidence_host ON chain_evidence(host, first_seq, id);"
	"CREATE INDEX chain_evidence_run ON chain_evidence(host, kind, last_seq)"
	"  WHERE detail IS NULL;"

	"CREATE TABLE counters (name TEXT PRIMARY KEY, value INTEGER NOT NULL) STRICT;"
	"INSERT INTO counters VALUES ('events_rx', (SELECT coalesce(max(rx), 0) FROM events));"
	"CREATE TABLE cursors ("
	"  name TEXT PRIMARY KEY,"
	"  position INTEGER NOT NULL,"
	"  updated INTEGER NOT NULL"
	") STRICT;",

	/* 4: USB control — policies, the device registry, grants (store_sqlite_policy.c) */
	"CREATE TABLE policies ("
	"  version INTEGER PRIMARY KEY,"
	"  scope TEXT NOT NULL CHECK (scope = 'all' OR scope LIKE 'group:_%'"
	"                              OR scope LIKE 'host:_%'),"
	"  rules TEXT NOT NULL,"
	"  tags TEXT NOT NULL,"
	"  rule_count INTEGER NOT NULL,"
	"  comment TEXT,"
	"  created INTEGER NOT NULL,"
	"  created_by TEXT NOT NULL"
	") STRICT;"
	"CREATE INDEX policies_scope ON policies(scope, version);"
	"CREATE TRIGGER policies_no_update BEFORE UPDATE ON policies"
	"  BEGIN SELECT RAISE(ABORT, 'a policy version is never changed'); END;"
	"CREATE TRIGGER policies_no_delete BEFORE DELETE ON policies"
	"  BEGIN SELECT RAISE(ABORT, 'a policy version is never deleted'); END;"

	"CREATE TABLE devices ("
	"  serial TEXT PRIMARY KEY,"
	"  vendor INTEGER CHECK (vendor BETWEEN 0 AND 65535),"
	"  product INTEGER CHECK (product BETWEEN 0 AND 65535),"
	"  owner TEXT NOT NULL,"
	"  note TEXT,"
	"  tags TEXT NOT NULL,"
	"  created INTEGER NOT NULL,"
	"  updated INTEGER NOT NULL,"
	"  updated_by TEXT NOT NULL"
	") STRICT, WITHOUT ROWID;"
	"CREATE TABLE device_tags ("
	"  tag TEXT NOT NULL,"
	"  serial TEXT NOT NULL REFERENCES devices(serial) ON DELETE CASCADE,"
	"  PRIMARY KEY (tag, serial)"
	") STRICT, WITHOUT ROWID;"
	"CREATE INDEX device_tags_serial ON device_tags(serial);"
	"CREATE TABLE tag_revisions ("
	"  tag TEXT PRIMARY KEY,"
	"  rev INTEGER NOT NULL"
	") STRICT, WITHOUT ROWID;"

	"CREATE TABLE grants ("
	"  id TEXT PRIMARY KEY,"
	"  serial TEXT NOT NULL,"
	"  host_id TEXT,"
	"  user_name TEXT,"
	"  reason TEXT NOT NULL,"
	"  created INTEGER NOT NULL,"
	"  expires INTEGER NOT NULL CHECK (expires > created),"
	"  created_by TEXT NOT NULL,"
	"  revoked INTEGER,"
	"  revoked_by TEXT,"
	"  CHECK ((host_id IS NULL) <> (user_name IS NULL))"
	") STRICT;"
	"CREATE INDEX grants_live ON grants(expires) WHERE revoked IS NULL;"
	"CREATE INDEX grants_created ON grants(created, id);",

	/* 5: collection profiles (store_sqlite_collection.c) */
	"CREATE TABLE collection_profiles ("
	"  version INTEGER PRIMARY KEY,"
	"  scope TEXT NOT NULL CHECK (scope = 'all' OR scope LIKE 'group:_%'"
	"                              OR scope LIKE 'host:_%'),"
	"  profile TEXT NOT NULL,"
	"  name TEXT NOT NULL,"
	"  comment TEXT,"
	"  created INTEGER NOT NULL,"
	"  created_by TEXT NOT NULL"
	") STRICT;"
	"CREATE INDEX collection_profiles_scope ON collection_profiles(scope, version);"
	"CREATE TRIGGER collection_profiles_no_update BEFORE UPDATE ON collection_profiles"
	"  BEGIN SELECT RAISE(ABORT, 'a collection profile version is never changed'); END;"
	"CREATE TRIGGER collection_profiles_no_delete BEFORE DELETE ON collection_profiles"
	"  BEGIN SELECT RAISE(ABORT, 'a collection profile version is never deleted'); END;",
};

/* ---- connections ---- */

int store_sqlite_error(struct store_sqlite_conn *c, int rc, const char *what)
{
	switch (rc & 0xff) {
	case SQLITE_NOMEM:
		return -ENOMEM;
	case SQLITE_CONSTRAINT:
		/* a duplicate is the caller's -EEXIST; a violated CHECK or foreign key is a bug */
		if (rc == SQLITE_CONSTRAINT_UNIQUE || rc == SQLITE_CONSTRAINT_PRIMARYKEY)
			return -EEXIST;
		break;
	case SQLITE_BUSY:
	case SQLITE_LOCKED:
		log_warning("(M4011) store: %s: database busy past %d ms: %s", what,
			    BUSY_TIMEOUT_MS,
			    c && c->db ? sqlite3_errmsg(c->db) : sqlite3_errstr(rc));
		return -EBUSY;
	default:
		break;
	}
	log_error("(M4010) store: %s: %s (%d)", what,
		  c && c->db ? sqlite3_errmsg(c->db) : sqlite3_errstr(rc), rc);
	return -EIO;
}

int store_sqlite_step(struct store_sqlite_conn *c, sqlite3_stmt *q, const char *what)
{
	int rc = sqlite3_step(q);

	if (rc == SQLITE_ROW)
		return 1;
	if (rc == SQLITE_DONE)
		return 0;
	return store_sqlite_error(c, rc, what);
}

int store_sqlite_bind_text(sqlite3_stmt *q, int i, const char *s)
{
	return s ? sqlite3_bind_text(q, i, s, -1, SQLITE_STATIC) : sqlite3_bind_null(q, i);
}

static int exec(struct store_sqlite_conn *c, const char *sql, const char *what)
{
	int rc = sqlite3_exec(c->db, sql, NULL, NULL, NULL);

	return rc == SQLITE_OK ? 0 : store_sqlite_error(c, rc, what);
}

static size_t slot_of(const char *sql)
{
	/* Fibonacci hashing of the literal's address: the top 8 bits pick one of 256 slots */
	return (size_t) (((uint64_t) (uintptr_t) sql * UINT64_C(11400714819323198485)) >> 56);
}

int store_sqlite_stmt(struct store_sqlite_conn *c, const char *sql, sqlite3_stmt **ret)
{
	size_t i = slot_of(sql);

	for (size_t n = 0; n < STORE_SQLITE_STMT_SLOTS;
	     n++, i = (i + 1) % STORE_SQLITE_STMT_SLOTS) {
		int rc;

		if (c->sql[i] == sql) {
			*ret = c->stmt[i];
			return 0;
		}
		if (c->sql[i])
			continue;
		rc = sqlite3_prepare_v3(c->db, sql, -1, SQLITE_PREPARE_PERSISTENT, &c->stmt[i],
					NULL);
		if (rc != SQLITE_OK)
			return store_sqlite_error(c, rc, "preparing a statement");
		c->sql[i] = sql;
		*ret = c->stmt[i];
		return 0;
	}
	log_error("(M4010) store: more than %d distinct statements", STORE_SQLITE_STMT_SLOTS);
	return -EIO;
}

static void conn_close(struct store_sqlite_conn *c)
{
	for (size_t i = 0; i < STORE_SQLITE_STMT_SLOTS; i++) {
		(void) sqlite3_finalize(c->stmt[i]);
		c->stmt[i] = NULL;
		c->sql[i] = NULL;
	}
	if (c->db && sqlite3_close(c->db) != SQLITE_OK)
		log_error("(M4010) store: closing the database: %s", sqlite3_errmsg(c->db));
	c->db = NULL;
}

/*
 * Opens one connection. The writer sets the file's journal mode to WAL (persistent in the
 * file) and enforces foreign keys; readers are query_only so a mistake cannot write
 * through them.
 */
static int conn_open(struct store_sqlite *s, struct store_sqlite_conn *c, bool writer)
{
	int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX | SQLITE_OPEN_EXRESCODE |
		    (writer ? SQLITE_OPEN_CREATE : 0);
	int rc;

	c->durable = false;
	rc = sqlite3_open_v2(s->path, &c->db, flags, s->vfs);
	if (rc != SQLITE_OK) {
		log_error("(M4003) store: cannot open %s: %s", s->path,
			  c->db ? sqlite3_errmsg(c->db) : sqlite3_errstr(rc));
		conn_close(c);
		return rc == SQLITE_NOMEM ? -ENOMEM : -EIO;
	}
	(void) sqlite3_busy_timeout(c->db, BUSY_TIMEOUT_MS);
	(void) sqlite3_extended_result_codes(c->db, 1);
	if (writer)
		rc = exec(c,
			  "PRAGMA journal_mode = WAL;"
			  "PRAGMA synchronous = NORMAL;"
			  "PRAGMA foreign_keys = ON;"
			  "PRAGMA temp_store = MEMORY;"
			  "PRAGMA cache_size = -16384;"
			  "PRAGMA journal_size_limit = 67108864;",
			  "setting up the writer connection");
	else
		rc = exec(c, "PRAGMA query_only = ON; PRAGMA temp_store = MEMORY;",
			  "setting up a reader connection");
	if (rc < 0) {
		conn_close(c);
		return rc;
	}
	if (writer) {
		/* journal_mode answers with the mode it got: refuse to run without WAL */
		sqlite3_stmt *q = NULL;
		bool wal = false;

		if (sqlite3_prepare_v2(c->db, "PRAGMA journal_mode", -1, &q, NULL) == SQLITE_OK &&
		    sqlite3_step(q) == SQLITE_ROW)
			wal = sqlite3_stricmp((const char *) sqlite3_column_text(q, 0), "wal") == 0;
		(void) sqlite3_finalize(q);
		if (!wal) {
			log_error("(M4003) store: %s: cannot use WAL mode", s->path);
			conn_close(c);
			return -EIO;
		}
	}
	return 0;
}

/* ---- transactions ---- */

static void release(struct store_sqlite *s, struct store_sqlite_conn *c)
{
	if (c == &s->writer) {
		(void) pthread_mutex_unlock(&s->write_lock);
		return;
	}
	(void) pthread_mutex_lock(&s->pool_lock);
	s->free_readers[s->n_free++] = (size_t) (c - s->readers);
	(void) pthread_cond_signal(&s->pool_cond);
	(void) pthread_mutex_unlock(&s->pool_lock);
}

int store_sqlite_begin_write(struct store_sqlite *s, enum store_sqlite_sync sync,
			     struct store_sqlite_conn **ret)
{
	struct store_sqlite_conn *c = &s->writer;
	bool durable = sync == STORE_SQLITE_FULL;
	int r;

	(void) pthread_mutex_lock(&s->write_lock);
	if (c->durable != durable) {
		r = exec(c, durable ? "PRAGMA synchronous = FULL" : "PRAGMA synchronous = NORMAL",
			 "setting synchronous");
		if (r < 0)
			goto fail;
		c->durable = durable;
	}
	r = exec(c, "BEGIN IMMEDIATE", "starting a write transaction");
	if (r < 0)
		goto fail;
	*ret = c;
	return 0;
fail:
	release(s, c);
	return r;
}

int store_sqlite_begin_read(struct store_sqlite *s, struct store_sqlite_conn **ret)
{
	struct store_sqlite_conn *c;
	int r;

	if (s->n_readers == 0) {
		(void) pthread_mutex_lock(&s->write_lock);
		c = &s->writer;
	} else {
		(void) pthread_mutex_lock(&s->pool_lock);
		while (s->n_free == 0)
			(void) pthread_cond_wait(&s->pool_cond, &s->pool_lock);
		c = &s->readers[s->free_readers[--s->n_free]];
		(void) pthread_mutex_unlock(&s->pool_lock);
	}
	r = exec(c, "BEGIN", "starting a read transaction");
	if (r < 0) {
		release(s, c);
		return r;
	}
	*ret = c;
	return 0;
}

int store_sqlite_end(struct store_sqlite *s, struct store_sqlite_conn *c, int r)
{
	if (r >= 0 && !sqlite3_get_autocommit(c->db)) {
		int r2 = exec(c, "COMMIT", "committing");

		if (r2 < 0)
			r = r2;
	}
	/* after a failed COMMIT SQLite may or may not have rolled back already */
	if (r < 0 && !sqlite3_get_autocommit(c->db))
		(void) sqlite3_exec(c->db, "ROLLBACK", NULL, NULL, NULL);
	release(s, c);
	return r;
}

/* ---- small helpers shared by the operations ---- */

int store_sqlite_host_num(struct store_sqlite_conn *c, const char *host_id, int64_t *ret)
{
	_cleanup_(store_sqlite_resetp) sqlite3_stmt *q = NULL;
	int r;

	r = store_sqlite_stmt(c, "SELECT num FROM hosts WHERE id = ?1 AND deleted IS NULL", &q);
	if (r < 0)
		return r;
	(void) store_sqlite_bind_text(q, 1, host_id);
	r = store_sqlite_step(c, q, "finding a host");
	if (r <= 0)
		return r < 0 ? r : -ENOENT;
	*ret = sqlite3_column_int64(q, 0);
	return 0;
}

json_t *store_sqlite_column_json(sqlite3_stmt *q, int i)
{
	const char *text = (const char *) sqlite3_column_text(q, i);
	json_error_t e;
	json_t *v;

	if (sqlite3_column_type(q, i) == SQLITE_NULL || !text)
		return json_null();
	v = json_loadb(text, (size_t) sqlite3_column_bytes(q, i), JSON_DECODE_ANY, &e);
	if (!v && !strstr(e.text, "memory"))
		log_error("(M4012) store: a stored JSON value is corrupt: %s", e.text);
	return v;
}

json_t *store_sqlite_column_string(sqlite3_stmt *q, int i)
{
	if (sqlite3_column_type(q, i) == SQLITE_NULL)
		return json_null();
	return json_stringn((const char *) sqlite3_column_text(q, i),
			    (size_t) sqlite3_column_bytes(q, i));
}

json_t *store_sqlite_column_int(sqlite3_stmt *q, int i)
{
	if (sqlite3_column_type(q, i) == SQLITE_NULL)
		return json_null();
	return json_integer(sqlite3_column_int64(q, i));
}

/* ---- opening, migrating, closing ---- */

static int schema_version(struct store_sqlite_conn *c, int *ret)
{
	_cleanup_(store_sqlite_resetp) sqlite3_stmt *q = NULL;
	int r = store_sqlite_stmt(c, "SELECT coalesce(max(version), 0) FROM schema_version", &q);

	if (r < 0)
		return r;
	r = store_sqlite_step(c, q, "reading the schema version");
	if (r < 0)
		return r;
	*ret = sqlite3_column_int(q, 0);
	return 0;
}

/* Applies migration `to` (1-based) unless another process did meanwhile. */
static int migrate_one(struct store_sqlite_conn *c, int to, int64_t now)
{
	_cleanup_(store_sqlite_resetp) sqlite3_stmt *q = NULL;
	int version, r;

	r = schema_version(c, &version);
	if (r < 0 || version >= to)
		return r;
	r = exec(c, migrations[to - 1], "migrating the schema");
	if (r < 0)
		return r;
	r = store_sqlite_stmt(c, "INSERT INTO schema_version (version, applied) VALUES (?1, ?2)",
			      &q);
	if (r < 0)
		return r;
	(void) sqlite3_bind_int(q, 1, to);
	(void) sqlite3_bind_int64(q, 2, now);
	r = store_sqlite_step(c, q, "recording the schema version");
	if (r < 0)
		return r;
	log_info("(M4005) store: schema migrated to version %d", to);
	return 0;
}

static int migrate(struct store_sqlite *s)
{
	const int latest = (int) ARRAY_SIZE(migrations);
	struct store_sqlite_conn *c;
	int version = 0, r;

	r = exec(&s->writer,
		 "CREATE TABLE IF NOT EXISTS schema_version ("
		 "  version INTEGER PRIMARY KEY, applied INTEGER NOT NULL) STRICT",
		 "creating schema_version");
	if (r < 0)
		return r;
	r = store_sqlite_begin_write(s, STORE_SQLITE_FULL, &c);
	if (r < 0)
		return r;
	r = store_sqlite_end(s, c, schema_version(c, &version));
	if (r < 0)
		return r;
	if (version > latest) {
		log_error("(M4004) store: %s is at schema version %d, newer than this program's "
			  "%d: upgrade mamori-server",
			  s->path, version, latest);
		return -EPROTO;
	}
	for (int to = version + 1; to <= latest; to++) {
		r = store_sqlite_begin_write(s, STORE_SQLITE_FULL, &c);
		if (r < 0)
			return r;
		r = store_sqlite_end(s, c, migrate_one(c, to, time(NULL)));
		if (r < 0)
			return r;
	}
	return 0;
}

static void sqlite_free(struct store *st)
{
	struct store_sqlite *s = store_sqlite_of(st);

	for (size_t i = 0; s->readers && i < s->n_readers; i++)
		conn_close(&s->readers[i]);
	conn_close(&s->writer);
	(void) pthread_mutex_destroy(&s->write_lock);
	(void) pthread_mutex_destroy(&s->pool_lock);
	(void) pthread_cond_destroy(&s->pool_cond);
	(void) pthread_mutex_destroy(&s->jobs_lock);
	for (size_t i = 0; i < STORE_JOBS_MAX; i++)
		mm_free(s->jobs[i]);
	mm_free(s->readers);
	mm_free(s->free_readers);
	mm_free(s->path);
	mm_free(s->vfs);
	mm_free(s);
}

static int sqlite_schema_version(struct store *st, int *ret)
{
	struct store_sqlite *s = store_sqlite_of(st);
	struct store_sqlite_conn *c;
	int version = 0, r;

	r = store_sqlite_begin_read(s, &c);
	if (r < 0)
		return r;
	r = store_sqlite_end(s, c, schema_version(c, &version));
	if (r >= 0)
		*ret = version;
	return r;
}

/* ---- admin API tokens ---- */

static int api_token_create(struct store_sqlite_conn *c, const uint8_t hash[32], const char *name,
			    const char *role, int64_t now, int64_t expires, const char *id)
{
	_cleanup_(store_sqlite_resetp) sqlite3_stmt *q = NULL;
	int r = store_sqlite_stmt(c,
				  "INSERT INTO api_tokens (id, hash, name, role, created, expires)"
				  " VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
				  &q);

	if (r < 0)
		return r;
	(void) store_sqlite_bind_text(q, 1, id);
	(void) sqlite3_bind_blob(q, 2, hash, 32, SQLITE_STATIC);
	(void) store_sqlite_bind_text(q, 3, name);
	(void) store_sqlite_bind_text(q, 4, role);
	(void) sqlite3_bind_int64(q, 5, now);
	(void) sqlite3_bind_int64(q, 6, expires);
	return store_sqlite_step(c, q, "creating an API token");
}

static int sqlite_api_token_create(struct store *st, const uint8_t hash[32], const char *name,
				   const char *role, int64_t now, int64_t expires,
				   char ret_id[STORE_ID_MAX])
{
	struct store_sqlite *s = store_sqlite_of(st);
	struct store_sqlite_conn *c;
	char id[STORE_ID_MAX];
	int r;

	if (!hash || !name || !*name || !role ||
	    (!streq(role, "admin") && !streq(role, "auditor")) || expires < 0 ||
	    (expires != 0 && expires <= now))
		return -EINVAL;
	r = store_prep_token_id("at_", id);
	if (r < 0)
		return r;
	r = store_sqlite_begin_write(s, STORE_SQLITE_FULL, &c);
	if (r < 0)
		return r;
	r = store_sqlite_end(s, c, api_token_create(c, hash, name, role, now, expires, id));
	if (r >= 0)
		memcpy(ret_id, id, sizeof(id));
	return r;
}

static int api_token_check(struct store_sqlite_conn *c, const uint8_t hash[32], int64_t now,
			   json_t **ret)
{
	_cleanup_(store_sqlite_resetp) sqlite3_stmt *q = NULL;
	_cleanup_(json_decrefp) json_t *v = NULL;
	int r = store_sqlite_stmt(c,
				  "UPDATE api_tokens SET last_used = ?2"
				  " WHERE hash = ?1 AND revoked IS NULL"
				  "   AND (expires = 0 OR expires > ?2)"
				  " RETURNING id, name, role",
				  &q);

	if (r < 0)
		return r;
	(void) sqlite3_bind_blob(q, 1, hash, 32, SQLITE_STATIC);
	(void) sqlite3_bind_int64(q, 2, now);
	r = store_sqlite_step(c, q, "checking an API token");
	if (r <= 0)
		return r < 0 ? r : -ENOENT;
	v = json_object();
	if (!v || jsonw_set(v, "id", store_sqlite_column_string(q, 0)) < 0 ||
	    jsonw_set(v, "name", store_sqlite_column_string(q, 1)) < 0 ||
	    jsonw_set(v, "role", store_sqlite_column_string(q, 2)) < 0)
		return -ENOMEM;
	r = store_sqlite_step(c, q, "checking an API token"); /* run the statement to its end */
	if (r < 0)
		return r;
	*ret = TAKE_PTR(v);
	return 0;
}

static int sqlite_api_token_check(struct store *st, const uint8_t hash[32], int64_t now,
				  json_t **ret)
{
	struct store_sqlite *s = store_sqlite_of(st);
	struct store_sqlite_conn *c;
	json_t *v = NULL;
	int r;

	if (!hash)
		return -EINVAL;
	r = store_sqlite_begin_write(s, STORE_SQLITE_NORMAL, &c);
	if (r < 0)
		return r;
	r = store_sqlite_end(s, c, api_token_check(c, hash, now, &v));
	if (r < 0) {
		json_decref(v);
		return r;
	}
	*ret = v;
	return 0;
}

static int count_rows(struct store_sqlite_conn *c, const char *sql, size_t *ret)
{
	_cleanup_(store_sqlite_resetp) sqlite3_stmt *q = NULL;
	int r = store_sqlite_stmt(c, sql, &q);

	if (r < 0)
		return r;
	r = store_sqlite_step(c, q, "counting");
	if (r < 0)
		return r;
	*ret = (size_t) sqlite3_column_int64(q, 0);
	return 0;
}

static int sqlite_api_token_count(struct store *st, size_t *ret)
{
	struct store_sqlite *s = store_sqlite_of(st);
	struct store_sqlite_conn *c;
	size_t n = 0;
	int r;

	r = store_sqlite_begin_read(s, &c);
	if (r < 0)
		return r;
	r = store_sqlite_end(s, c, count_rows(c, "SELECT count(*) FROM api_tokens", &n));
	if (r >= 0)
		*ret = n;
	return r;
}

/* ---- enrolment tokens ---- */

static int enroll_token_create(struct store_sqlite_conn *c, const struct store_enroll_token *t,
			       const char *id)
{
	_cleanup_(store_sqlite_resetp) sqlite3_stmt *q = NULL;
	int r = store_sqlite_stmt(
		c,
		"INSERT INTO enroll_tokens (id, hash, comment, group_name, created,"
		"   expires, max_uses, created_by)"
		" VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
		&q);

	if (r < 0)
		return r;
	(void) store_sqlite_bind_text(q, 1, id);
	(void) sqlite3_bind_blob(q, 2, t->hash, 32, SQLITE_STATIC);
	(void) store_sqlite_bind_text(q, 3, t->comment);
	(void) store_sqlite_bind_text(q, 4, t->group);
	(void) sqlite3_bind_int64(q, 5, t->created);
	(void) sqlite3_bind_int64(q, 6, t->expires);
	(void) sqlite3_bind_int64(q, 7, t->max_uses);
	(void) store_sqlite_bind_text(q, 8, t->created_by);
	return store_sqlite_step(c, q, "creating an enrolment token");
}

static int sqlite_enroll_token_create(struct store *st, const struct store_enroll_token *t,
				      char ret_id[STORE_ID_MAX])
{
	struct store_sqlite *s = store_sqlite_of(st);
	struct store_sqlite_conn *c;
	char id[STORE_ID_MAX];
	int r;

	if (!t || t->expires <= t->created || t->max_uses < 1 || !t->created_by)
		return -EINVAL;
	r = store_prep_token_id("et_", id);
	if (r < 0)
		return r;
	r = store_sqlite_begin_write(s, STORE_SQLITE_FULL, &c);
	if (r < 0)
		return r;
	r = store_sqlite_end(s, c, enroll_token_create(c, t, id));
	if (r >= 0)
		memcpy(ret_id, id, sizeof(id));
	return r;
}

static int enroll_token_list(struct store_sqlite_conn *c, int64_t now, json_t **ret)
{
	_cleanup_(store_sqlite_resetp) sqlite3_stmt *q = NULL, *u = NULL;
	_cleanup_(json_decrefp) json_t *tokens = json_array(), *by_id = json_object();
	int r;

	if (!tokens || !by_id)
		return -ENOMEM;
	r = store_sqlite_stmt(c,
			      "SELECT id, comment, group_name, created, expires, max_uses, uses,"
			      "   revoked"
			      " FROM enroll_tokens ORDER BY created DESC, id",
			      &q);
	if (r < 0)
		return r;
	while ((r = store_sqlite_step(c, q, "listing enrolment tokens")) > 0) {
		bool revoked = sqlite3_column_type(q, 7) != SQLITE_NULL;
		enum store_token_verdict v = store_prep_token_verdict(
			revoked, sqlite3_column_int64(q, 6), sqlite3_column_int64(q, 5),
			sqlite3_column_int64(q, 4), now);
		json_t *t = json_object();

		if (jsonw_append(tokens, t) < 0 || jsonw_set(t, "uses_detail", json_array()) < 0 ||
		    jsonw_set(t, "id", store_sqlite_column_string(q, 0)) < 0 ||
		    jsonw_set(t, "comment", store_sqlite_column_string(q, 1)) < 0 ||
		    jsonw_set(t, "group", store_sqlite_column_string(q, 2)) < 0 ||
		    jsonw_set(t, "created", store_sqlite_column_int(q, 3)) < 0 ||
		    jsonw_set(t, "expires", store_sqlite_column_int(q, 4)) < 0 ||
		    jsonw_set(t, "max_uses", store_sqlite_column_int(q, 5)) < 0 ||
		    jsonw_set(t, "uses", store_sqlite_column_int(q, 6)) < 0 ||
		    jsonw_set(t, "revoked", json_boolean(revoked)) < 0 ||
		    jsonw_set(t, "state", json_string(store_prep_token_states[v])) < 0 ||
		    json_object_set(by_id, (const char *) sqlite3_column_text(q, 0), t) < 0)
			return -ENOMEM;
	}
	if (r < 0)
		return r;
	r = store_sqlite_stmt(c,
			      "SELECT u.token_id, u.time, h.id, u.remote"
			      " FROM token_uses u JOIN hosts h ON h.num = u.host"
			      " ORDER BY u.token_id, u.time, u.id",
			      &u);
	if (r < 0)
		return r;
	while ((r = store_sqlite_step(c, u, "listing enrolment token uses")) > 0) {
		json_t *t = json_object_get(by_id, (const char *) sqlite3_column_text(u, 0));
		json_t *use;

		if (!t)
			continue; /* cannot happen: token_uses.token_id is a foreign key */
		use = json_object();
		if (jsonw_append(json_object_get(t, "uses_detail"), use) < 0 ||
		    jsonw_set(use, "time", store_sqlite_column_int(u, 1)) < 0 ||
		    jsonw_set(use, "host_id", store_sqlite_column_string(u, 2)) < 0 ||
		    jsonw_set(use, "remote", store_sqlite_column_string(u, 3)) < 0)
			return -ENOMEM;
	}
	if (r < 0)
		return r;
	*ret = json_pack("{sO}", "tokens", tokens);
	return *ret ? 0 : -ENOMEM;
}

static int sqlite_enroll_token_list(struct store *st, int64_t now, json_t **ret)
{
	struct store_sqlite *s = store_sqlite_of(st);
	struct store_sqlite_conn *c;
	json_t *v = NULL;
	int r;

	r = store_sqlite_begin_read(s, &c);
	if (r < 0)
		return r;
	r = store_sqlite_end(s, c, enroll_token_list(c, now, &v));
	if (r < 0) {
		json_decref(v);
		return r;
	}
	*ret = v;
	return 0;
}

static int enroll_token_revoke(struct store_sqlite_conn *c, const char *id, int64_t now)
{
	_cleanup_(store_sqlite_resetp) sqlite3_stmt *q = NULL;
	int r = store_sqlite_stmt(c,
				  "UPDATE enroll_tokens SET revoked = coalesce(revoked, ?2)"
				  " WHERE id = ?1",
				  &q);

	if (r < 0)
		return r;
	(void) store_sqlite_bind_text(q, 1, id);
	(void) sqlite3_bind_int64(q, 2, now);
	r = store_sqlite_step(c, q, "revoking an enrolment token");
	if (r < 0)
		return r;
	return sqlite3_changes(c->db) == 1 ? 0 : -ENOENT;
}

static int sqlite_enroll_token_revoke(struct store *st, const char *id, int64_t now)
{
	struct store_sqlite *s = store_sqlite_of(st);
	struct store_sqlite_conn *c;
	int r;

	if (!id)
		return -EINVAL;
	r = store_sqlite_begin_write(s, STORE_SQLITE_FULL, &c);
	if (r < 0)
		return r;
	return store_sqlite_end(s, c, enroll_token_revoke(c, id, now));
}

/* ---- enrolment ---- */

/* A random serial in 1..2^63-1 that no certificate of this store ever had. */
static int allocate_serial(struct store_sqlite_conn *c, int64_t *ret)
{
	_cleanup_(store_sqlite_resetp) sqlite3_stmt *q = NULL;
	int r = store_sqlite_stmt(c, "SELECT 1 FROM ca_serials WHERE serial = ?1", &q);

	if (r < 0)
		return r;
	for (int attempt = 0; attempt < SERIAL_ATTEMPTS; attempt++) {
		uint64_t v;
		int64_t serial;

		r = store_prep_random(&v, sizeof(v));
		if (r < 0)
			return r;
		serial = (int64_t) (v & INT64_MAX);
		if (serial == 0)
			continue;
		(void) sqlite3_reset(q);
		(void) sqlite3_bind_int64(q, 1, serial);
		r = store_sqlite_step(c, q, "allocating a serial");
		if (r < 0)
			return r;
		if (r == 0) {
			*ret = serial;
			return 0;
		}
	}
	log_error("(M4014) store: no free certificate serial after %d attempts", SERIAL_ATTEMPTS);
	return -EIO;
}

struct token_row {
	char id[STORE_ID_MAX];
	char *group;
	enum store_token_verdict verdict;
};

static int find_token(struct store_sqlite_conn *c, const uint8_t hash[32], int64_t now,
		      struct token_row *t)
{
	_cleanup_(store_sqlite_resetp) sqlite3_stmt *q = NULL;
	const char *id;
	int r = store_sqlite_stmt(c,
				  "SELECT id, group_name, expires, max_uses, uses, revoked"
				  " FROM enroll_tokens WHERE hash = ?1",
				  &q);

	if (r < 0)
		return r;
	(void) sqlite3_bind_blob(q, 1, hash, 32, SQLITE_STATIC);
	r = store_sqlite_step(c, q, "finding an enrolment token");
	if (r < 0)
		return r;
	if (r == 0) {
		t->verdict = STORE_TOKEN_UNKNOWN;
		return 0;
	}
	id = (const char *) sqlite3_column_text(q, 0);
	if (!id || strlen(id) >= sizeof(t->id))
		return -EIO;
	memcpy(t->id, id, strlen(id) + 1);
	if (sqlite3_column_type(q, 1) != SQLITE_NULL) {
		t->group = mm_strdup((const char *) sqlite3_column_text(q, 1));
		if (!t->group)
			return -ENOMEM;
	}
	t->verdict = store_prep_token_verdict(
		sqlite3_column_type(q, 5) != SQLITE_NULL, sqlite3_column_int64(q, 4),
		sqlite3_column_int64(q, 3), sqlite3_column_int64(q, 2), now);
	return 0;
}

static const char *fact(json_t *facts, const char *name)
{
	const char *v = json_string_value(json_object_get(facts, name));

	return v ? v : "";
}

static int insert_host(struct store_sqlite_conn *c, const char *host_id, json_t *facts,
		       const struct token_row *t, int64_t now, int64_t serial, const char *pem,
		       const char *remote)
{
	_cleanup_(store_sqlite_resetp) sqlite3_stmt *q1 = NULL, *q2 = NULL, *q3 = NULL, *q4 = NULL;
	_cleanup_(freep) char *facts_text = jsonw_dump(facts);
	int r;

	if (!facts_text)
		return -ENOMEM;
	r = store_sqlite_stmt(c,
			      "UPDATE enroll_tokens SET uses = uses + 1"
			      " WHERE id = ?1 AND uses < max_uses AND revoked IS NULL",
			      &q1);
	if (r < 0)
		return r;
	(void) store_sqlite_bind_text(q1, 1, t->id);
	r = store_sqlite_step(c, q1, "consuming a token use");
	if (r < 0)
		return r;
	if (sqlite3_changes(c->db) != 1)
		return -EIO; /* checked above in this very transaction */

	r = store_sqlite_stmt(
		c, "INSERT INTO ca_serials (serial, host_id, issued) VALUES (?1, ?2, ?3)", &q2);
	if (r < 0)
		return r;
	(void) sqlite3_bind_int64(q2, 1, serial);
	(void) store_sqlite_bind_text(q2, 2, host_id);
	(void) sqlite3_bind_int64(q2, 3, now);
	r = store_sqlite_step(c, q2, "recording a certificate serial");
	if (r < 0)
		return r;

	r = store_sqlite_stmt(c,
			      "INSERT INTO hosts (id, hostname, machine_id, os, agent_version,"
			      "   group_name, facts, enrolled, enroll_token, cert_serial, cert_pem)"
			      " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
			      &q3);
	if (r < 0)
		return r;
	(void) store_sqlite_bind_text(q3, 1, host_id);
	(void) store_sqlite_bind_text(q3, 2, fact(facts, "hostname"));
	(void) store_sqlite_bind_text(q3, 3, fact(facts, "machine_id"));
	(void) store_sqlite_bind_text(q3, 4, fact(facts, "os"));
	(void) store_sqlite_bind_text(q3, 5, fact(facts, "agent_version"));
	(void) store_sqlite_bind_text(q3, 6, t->group);
	(void) store_sqlite_bind_text(q3, 7, facts_text);
	(void) sqlite3_bind_int64(q3, 8, now);
	(void) store_sqlite_bind_text(q3, 9, t->id);
	(void) sqlite3_bind_int64(q3, 10, serial);
	(void) store_sqlite_bind_text(q3, 11, pem);
	r = store_sqlite_step(c, q3, "creating a host");
	if (r < 0)
		return r;

	r = store_sqlite_stmt(c,
			      "INSERT INTO token_uses (token_id, time, host, remote)"
			      " VALUES (?1, ?2, ?3, ?4)",
			      &q4);
	if (r < 0)
		return r;
	(void) store_sqlite_bind_text(q4, 1, t->id);
	(void) sqlite3_bind_int64(q4, 2, now);
	(void) sqlite3_bind_int64(q4, 3, sqlite3_last_insert_rowid(c->db));
	(void) store_sqlite_bind_text(q4, 4, remote);
	return store_sqlite_step(c, q4, "recording a token use");
}

static int enroll(struct store_sqlite_conn *c, const uint8_t hash[32], int64_t now, json_t *facts,
		  const char *remote, store_sign_fn sign, void *userdata,
		  struct store_enroll_result *res)
{
	struct token_row t = {.group = NULL};
	_cleanup_(freep) char *pem = NULL;
	int64_t serial;
	int r;

	r = find_token(c, hash, now, &t);
	res->verdict = t.verdict;
	if (r < 0 || t.verdict != STORE_TOKEN_OK)
		goto out;
	r = store_prep_uuid(res->host_id);
	if (r < 0)
		goto out;
	r = allocate_serial(c, &serial);
	if (r < 0)
		goto out;
	r = sign((uint64_t) serial, res->host_id, userdata, &pem);
	if (r < 0)
		goto out;
	if (!pem) {
		r = -EINVAL;
		goto out;
	}
	r = insert_host(c, res->host_id, facts, &t, now, serial, pem, remote);
	if (r < 0)
		goto out;
	res->serial = (uint64_t) serial;
	res->cert_pem = TAKE_PTR(pem);
out:
	mm_free(t.group);
	return r;
}

static int sqlite_enroll(struct store *st, const uint8_t token_hash[32], int64_t now, json_t *facts,
			 const char *remote, store_sign_fn sign, void *userdata,
			 struct store_enroll_result *ret)
{
	struct store_sqlite *s = store_sqlite_of(st);
	struct store_enroll_result res = {.verdict = STORE_TOKEN_UNKNOWN};
	_cleanup_(json_decrefp) json_t *no_facts = NULL;
	struct store_sqlite_conn *c;
	bool refused;
	int r;

	if (!token_hash || !sign || !ret || (facts && !json_is_object(facts)))
		return -EINVAL;
	if (!facts) {
		no_facts = json_object();
		if (!no_facts)
			return -ENOMEM;
		facts = no_facts;
	}
	r = store_sqlite_begin_write(s, STORE_SQLITE_FULL, &c);
	if (r < 0)
		return r;
	r = enroll(c, token_hash, now, facts, remote, sign, userdata, &res);
	/* a refused token changes nothing: roll back rather than commit an empty transaction */
	refused = r >= 0 && res.verdict != STORE_TOKEN_OK;
	r = store_sqlite_end(s, c, refused ? -ECANCELED : r);
	if (refused && r == -ECANCELED)
		r = 0;
	if (r < 0) {
		mm_free(res.cert_pem);
		return r;
	}
	*ret = res;
	return 0;
}

/* ---- agents' requests ---- */

static int host_by_serial(struct store_sqlite_conn *c, int64_t serial, struct store_host_auth *a)
{
	_cleanup_(store_sqlite_resetp) sqlite3_stmt *q = NULL;
	const char *id;
	int r = store_sqlite_stmt(c,
				  "SELECT id, revoked_at IS NOT NULL OR deleted IS NOT NULL"
				  " FROM hosts WHERE cert_serial = ?1",
				  &q);

	if (r < 0)
		return r;
	(void) sqlite3_bind_int64(q, 1, serial);
	r = store_sqlite_step(c, q, "finding a host by serial");
	if (r <= 0)
		return r < 0 ? r : -ENOENT;
	id = (const char *) sqlite3_column_text(q, 0);
	if (!id || strlen(id) >= sizeof(a->host_id))
		return -EIO;
	memcpy(a->host_id, id, strlen(id) + 1);
	a->revoked = sqlite3_column_int(q, 1) != 0;
	return 0;
}

static int sqlite_host_by_serial(struct store *st, uint64_t serial, struct store_host_auth *ret)
{
	struct store_sqlite *s = store_sqlite_of(st);
	struct store_host_auth a;
	struct store_sqlite_conn *c;
	int r;

	if (serial == 0 || serial > INT64_MAX)
		return -ENOENT; /* never allocated */
	r = store_sqlite_begin_read(s, &c);
	if (r < 0)
		return r;
	r = store_sqlite_end(s, c, host_by_serial(c, (int64_t) serial, &a));
	if (r >= 0)
		*ret = a;
	return r;
}

static int checkin(struct store_sqlite_conn *c, const char *host_id, int64_t now,
		   const char *remote, json_t *state, struct store_checkin_result *res)
{
	_cleanup_(store_sqlite_resetp) sqlite3_stmt *q = NULL;
	_cleanup_(freep) char *state_text = state ? jsonw_dump(state) : NULL;
	const char *digest;
	int r;

	if (state && !state_text)
		return -ENOMEM;
	/* The policy version held before, to tell the caller whether it moved. */
	r = store_sqlite_stmt(c,
			      "SELECT json_extract(last_state, '$.policy_version') IS"
			      "   json_extract(?2, '$.policy_version')"
			      " AND json_extract(last_state, '$.usb_policy_version') IS"
			      "   json_extract(?2, '$.usb_policy_version')"
			      " FROM hosts WHERE id = ?1 AND deleted IS NULL",
			      &q);
	if (r < 0)
		return r;
	(void) store_sqlite_bind_text(q, 1, host_id);
	(void) store_sqlite_bind_text(q, 2, state_text);
	r = store_sqlite_step(c, q, "recording a check-in");
	if (r <= 0)
		return r < 0 ? r : -ENOENT;
	res->policy_changed = sqlite3_column_int(q, 0) == 0;
	store_sqlite_resetp(&q);
	q = NULL;
	r = store_sqlite_stmt(c,
			      "UPDATE hosts SET last_seen = ?2, last_remote = ?3, last_state = ?4,"
			      "   agent_version = coalesce(?5, agent_version)"
			      " WHERE id = ?1 AND deleted IS NULL"
			      " RETURNING inventory_digest, max_seq",
			      &q);
	if (r < 0)
		return r;
	(void) store_sqlite_bind_text(q, 1, host_id);
	(void) sqlite3_bind_int64(q, 2, now);
	(void) store_sqlite_bind_text(q, 3, remote);
	(void) store_sqlite_bind_text(q, 4, state_text);
	(void) store_sqlite_bind_text(q, 5,
				      json_string_value(json_object_get(state, "agent_version")));
	r = store_sqlite_step(c, q, "recording a check-in");
	if (r <= 0)
		return r < 0 ? r : -ENOENT;
	digest = (const char *) sqlite3_column_text(q, 0);
	if (!digest || strlen(digest) >= sizeof(res->inventory_digest))
		return -EIO;
	memcpy(res->inventory_digest, digest, strlen(digest) + 1);
	res->acked_seq = (uint64_t) sqlite3_column_int64(q, 1);
	return store_sqlite_step(c, q, "recording a check-in");
}

static int sqlite_checkin(struct store *st, const char *host_id, int64_t now, const char *remote,
			  json_t *state, struct store_checkin_result *ret)
{
	struct store_sqlite *s = store_sqlite_of(st);
	struct store_checkin_result res;
	struct store_sqlite_conn *c;
	int r;

	if (!host_id || !ret || (state && !json_is_object(state)))
		return -EINVAL;
	r = store_sqlite_begin_write(s, STORE_SQLITE_NORMAL, &c);
	if (r < 0)
		return r;
	r = store_sqlite_end(s, c, checkin(c, host_id, now, remote, state, &res));
	if (r >= 0)
		*ret = res;
	return r;
}

/* ---- maintenance and job locks ---- */

static int sqlite_maintain(struct store *st, int64_t now)
{
	(void) st;
	(void) now;
	return 0; /* nothing to prepare ahead: one file, no partitions */
}

/*
 * One server uses a SQLite store, so a job lock only has to keep this handle from running
 * a job twice at once: a list of the names held.
 */
static int sqlite_job_try_lock(struct store *st, const char *name, bool *ret_held)
{
	struct store_sqlite *s = store_sqlite_of(st);
	size_t free_slot = STORE_JOBS_MAX;
	int r = 0;

	(void) pthread_mutex_lock(&s->jobs_lock);
	for (size_t i = 0; i < STORE_JOBS_MAX; i++) {
		if (!s->jobs[i]) {
			free_slot = MIN(free_slot, i);
			continue;
		}
		if (streq(s->jobs[i], name)) {
			*ret_held = false;
			goto out;
		}
	}
	if (free_slot == STORE_JOBS_MAX) {
		r = -E2BIG;
		goto out;
	}
	s->jobs[free_slot] = mm_strdup(name);
	if (!s->jobs[free_slot]) {
		r = -ENOMEM;
		goto out;
	}
	*ret_held = true;
out:
	(void) pthread_mutex_unlock(&s->jobs_lock);
	return r;
}

static int sqlite_job_unlock(struct store *st, const char *name)
{
	struct store_sqlite *s = store_sqlite_of(st);
	int r = -ENOENT;

	(void) pthread_mutex_lock(&s->jobs_lock);
	for (size_t i = 0; i < STORE_JOBS_MAX; i++)
		if (s->jobs[i] && streq(s->jobs[i], name)) {
			mm_free(s->jobs[i]);
			s->jobs[i] = NULL;
			r = 0;
			break;
		}
	(void) pthread_mutex_unlock(&s->jobs_lock);
	return r;
}

static const struct store_ops sqlite_ops = {
	.name = "sqlite",
	.free = sqlite_free,
	.schema_version = sqlite_schema_version,
	.api_token_create = sqlite_api_token_create,
	.api_token_check = sqlite_api_token_check,
	.api_token_count = sqlite_api_token_count,
	.enroll_token_create = sqlite_enroll_token_create,
	.enroll_token_list = sqlite_enroll_token_list,
	.enroll_token_revoke = sqlite_enroll_token_revoke,
	.enroll = sqlite_enroll,
	.host_by_serial = sqlite_host_by_serial,
	.checkin = sqlite_checkin,
	.inventory_get = store_sqlite_inventory_get,
	.inventory_commit = store_sqlite_inventory_commit,
	.events_ingest = store_sqlite_events_ingest,
	.events_search = store_sqlite_search_events,
	.events_counts = store_sqlite_search_counts,
	.host_evidence = store_sqlite_events_evidence,
	.events_purge = store_sqlite_events_purge,
	.events_since = store_sqlite_events_since,
	.events_position = store_sqlite_events_position,
	.cursor_get = store_sqlite_jobs_cursor_get,
	.cursor_set = store_sqlite_jobs_cursor_set,
	.hosts_list = store_sqlite_hosts_list,
	.host_get = store_sqlite_hosts_get,
	.host_software = store_sqlite_inventory_software,
	.host_history = store_sqlite_inventory_history,
	.host_events = store_sqlite_events_list,
	.host_revoke = store_sqlite_hosts_revoke,
	.host_delete = store_sqlite_hosts_delete,
	.audit_append = store_sqlite_audit_append,
	.audit_list = store_sqlite_audit_list,
	.policy_create = store_sqlite_policy_create,
	.policy_list = store_sqlite_policy_list,
	.policy_get = store_sqlite_policy_get,
	.policy_inputs = store_sqlite_policy_inputs,
	.devices_put = store_sqlite_policy_devices_put,
	.device_delete = store_sqlite_policy_device_delete,
	.devices_list = store_sqlite_policy_devices_list,
	.grant_create = store_sqlite_policy_grant_create,
	.grants_list = store_sqlite_policy_grants_list,
	.grant_revoke = store_sqlite_policy_grant_revoke,
	.collection_create = store_sqlite_collection_create,
	.collection_list = store_sqlite_collection_list,
	.collection_get = store_sqlite_collection_get,
	.collection_inputs = store_sqlite_collection_inputs,
	.maintain = sqlite_maintain,
	.job_try_lock = sqlite_job_try_lock,
	.job_unlock = sqlite_job_unlock,
	.bulk_begin = store_sqlite_bulk_begin,
	.bulk_read = store_sqlite_bulk_read,
	.bulk_write = store_sqlite_bulk_write,
	.bulk_clear = store_sqlite_bulk_clear,
	.bulk_end = store_sqlite_bulk_end,
	.host_set_owner = store_sqlite_compliance_set_owner,
	.compliance_host_get = store_sqlite_compliance_host_get,
	.compliance_scan = store_sqlite_compliance_scan,
	.compliance_apply = store_sqlite_compliance_apply,
	.compliance_events = store_sqlite_compliance_events,
	.compliance_results = store_sqlite_compliance_results,
	.compliance_rollups = store_sqlite_compliance_rollups,
	.compliance_history = store_sqlite_compliance_history,
	.attestation_add = store_sqlite_attestation_add,
	.attestation_list = store_sqlite_attestation_list,
};

int store_sqlite_open(const char *path, const struct store_params *p, struct store **ret)
{
	struct store_sqlite *s;
	int r;

	if (sqlite3_libversion_number() < MIN_SQLITE_VERSION) {
		log_error("(M4003) store: SQLite %s is too old (3.37 or newer needed)",
			  sqlite3_libversion());
		return -EPROTONOSUPPORT;
	}
	s = mm_calloc(1, sizeof(*s));
	if (!s)
		return -ENOMEM;
	s->base.ops = &sqlite_ops;
	(void) pthread_mutex_init(&s->write_lock, NULL);
	(void) pthread_mutex_init(&s->pool_lock, NULL);
	(void) pthread_cond_init(&s->pool_cond, NULL);
	(void) pthread_mutex_init(&s->jobs_lock, NULL);
	s->path = mm_strdup(path);
	s->vfs = p->vfs ? mm_strdup(p->vfs) : NULL;
	if (p->readers) {
		s->readers = mm_calloc(p->readers, sizeof(*s->readers));
		s->free_readers = mm_calloc(p->readers, sizeof(*s->free_readers));
	}
	if (!s->path || (p->vfs && !s->vfs) || (p->readers && (!s->readers || !s->free_readers))) {
		r = -ENOMEM;
		goto fail;
	}
	if (s->vfs && !sqlite3_vfs_find(s->vfs)) {
		log_error("(M4002) store URL: no SQLite VFS named '%s'", s->vfs);
		r = -EINVAL;
		goto fail;
	}
	r = conn_open(s, &s->writer, true);
	if (r < 0)
		goto fail;
	r = migrate(s);
	if (r < 0)
		goto fail;
	for (; s->n_readers < p->readers; s->n_readers++) {
		r = conn_open(s, &s->readers[s->n_readers], false);
		if (r < 0)
			goto fail;
		s->free_readers[s->n_free++] = s->n_readers;
	}
	*ret = &s->base;
	return 0;
fail:
	sqlite_free(&s->base);
	return r;
}
