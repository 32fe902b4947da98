/*
 * bench/compliance: the compliance engine with many hosts stored (issue 6).
 *
 * N hosts (default 10,000) are enrolled into a fresh SQLite store, each with the inventory
 * of a fixture tree (tests/fixtures: every third host a good laptop, a bad laptop or a
 * server, from the merge patches in tests/fixtures/compliance/) and an event summary. Then:
 *
 *   - one host changes: its inventory is committed with one fact flipped, and the engine
 *     re-evaluates that host (compliance_host_changed: load its facts, run every check,
 *     write the rows that differ, move the roll-ups, refresh today's snapshot). Goal: the
 *     engine's part under 10 ms. The commit itself (the store's, not the engine's) is
 *     printed beside it.
 *   - a full recompute of every host (compliance_recompute): the first one, which writes
 *     every result, and then steady ones, where nothing changed and nothing is written.
 *     Goal: under 2 s.
 *
 * Medians of several runs. The store lives in /dev/shm when it exists, so the figures are
 * the engine's and SQLite's, not the disk's (the store syncs with synchronous=NORMAL for
 * these writes either way). Run it from a release build.
 *
 * With --store postgresql://… the same is measured on PostgreSQL too, in a new database
 * made through that URL, and both columns are printed side by side. The PostgreSQL store
 * is filled by copying the SQLite one into it (store_copy(), before anything is scored),
 * so both hold the same hosts, inventories and event summaries. The CPU time printed is
 * this process's: PostgreSQL's own work runs in its server processes, beside it.
 *
 *   bench-compliance [--hosts N] [--runs R] [--store URL]
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "lib/jsonw.h"
#include "lib/log.h"
#include "lib/str.h"
#include "server/compliance.h"
#include "tests/compliancetest.h"

#define NOW      ((int64_t) 1800000000)
#define MAX_RUNS 101

static double now_s(void)
{
	struct timespec ts;

	(void) clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double) ts.tv_sec + (double) ts.tv_nsec / 1e9;
}

/* CPU time of this process: on a shared machine, what the work cost, whoever else ran. */
static double cpu_s(void)
{
	struct timespec ts;

	(void) clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
	return (double) ts.tv_sec + (double) ts.tv_nsec / 1e9;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *) a, y = *(const double *) b;

	return x < y ? -1 : x > y;
}

static double median(const double *v, unsigned n)
{
	double sorted[MAX_RUNS];

	memcpy(sorted, v, n * sizeof(*v));
	qsort(sorted, n, sizeof(*sorted), cmp_double);
	return n % 2 ? sorted[n / 2] : (sorted[n / 2 - 1] + sorted[n / 2]) / 2;
}

static int fail(const char *what, int r)
{
	fprintf(stderr, "bench-compliance: %s: %s\n", what, strerror(r < 0 ? -r : r));
	return 1;
}

static json_t *firewall_doc(const json_t *doc, bool on)
{
	json_t *d = json_deep_copy(doc);
	json_t *fw = json_object_get(json_object_get(d, "security"), "firewall");

	(void) json_object_set_new(fw, "firewall_configured", json_boolean(on));
	return d;
}

/* What one store measured. */
struct figures {
	double one[MAX_RUNS], one_cpu[MAX_RUNS], commit[MAX_RUNS], full[MAX_RUNS],
		full_cpu[MAX_RUNS];
	double first, first_cpu;
	/* PostgreSQL: its backends' CPU time for the same recomputes; -1 when unknown */
	double full_srv[MAX_RUNS], first_srv;
	size_t visited, written, steady_written;
};

/*
 * CPU time of the PostgreSQL backends connected to the database at url (a libpq URL),
 * from /proc: the server's own share of the work, which this process's CPU time does not
 * include. -1 when it cannot be read (no url, a server on another machine).
 */
static double pg_cpu_s(const char *url)
{
	double total = -1;
#if HAVE_POSTGRES
	PGconn *pg = url ? PQconnectdb(url) : NULL;
	PGresult *res = NULL;
	long tck = sysconf(_SC_CLK_TCK);

	if (pg && PQstatus(pg) == CONNECTION_OK && tck > 0)
		res = PQexec(pg, "SELECT pid FROM pg_stat_activity"
				 " WHERE datname = current_database() AND pid <> pg_backend_pid()");
	for (int i = 0; PQresultStatus(res) == PGRES_TUPLES_OK && i < PQntuples(res); i++) {
		char path[64], line[1024];
		const char *end;
		unsigned long ut = 0, stime = 0;
		FILE *f;

		(void) snprintf(path, sizeof(path), "/proc/%s/stat", PQgetvalue(res, i, 0));
		f = fopen(path, "re");
		if (!f)
			continue;
		if (fgets(line, sizeof(line), f) && (end = strrchr(line, ')')) &&
		    sscanf(end + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu", &ut,
			   &stime) == 2)
			total = (total < 0 ? 0 : total) + (double) (ut + stime) / (double) tck;
		(void) fclose(f);
	}
	PQclear(res);
	PQfinish(pg);
#else
	(void) url;
#endif
	return total;
}

/* The engine over st: the first full recompute, one host at a time, steady recomputes. */
static int measure(struct store *st, struct compliance *e, const char (*ids)[STORE_ID_MAX],
		   json_t *const *docs, unsigned hosts, unsigned runs, const char *name,
		   const char *pg_url, struct figures *f)
{
	double t0, c0, s0;
	int r;

	s0 = pg_cpu_s(pg_url);
	t0 = now_s();
	c0 = cpu_s();
	r = compliance_recompute(e, NOW, &f->visited, &f->written);
	f->first = now_s() - t0;
	f->first_cpu = cpu_s() - c0;
	f->first_srv = s0 < 0 ? -1 : pg_cpu_s(pg_url) - s0;
	if (r < 0)
		return fail("the first full recompute", r);
	printf("%s: first full recompute: %zu hosts, %zu result rows written: %.3f s\n", name,
	       f->visited, f->written, f->first);

	for (unsigned k = 0; k < runs; k++) {
		unsigned i = (k * 7919u) % hosts; /* spread over the store */
		json_t *doc = firewall_doc(docs[i % 3], k % 2 == 0);
		size_t ch = 0;

		t0 = now_s();
		r = commit_doc(st, ids[i], doc, NOW);
		f->commit[k] = now_s() - t0;
		json_decref(doc);
		if (r < 0)
			return fail("committing a changed inventory", r);
		t0 = now_s();
		c0 = cpu_s();
		r = compliance_host_changed(e, ids[i], NOW, &ch);
		f->one[k] = now_s() - t0;
		f->one_cpu[k] = cpu_s() - c0;
		if (r < 0)
			return fail("re-evaluating one host", r);
	}
	/* put the changed hosts back as they were, so the steady recomputes write nothing */
	r = compliance_recompute(e, NOW, NULL, NULL);
	for (unsigned k = 0; r >= 0 && k < MIN(runs, 5u); k++) {
		s0 = pg_cpu_s(pg_url);
		t0 = now_s();
		c0 = cpu_s();
		r = compliance_recompute(e, NOW, &f->visited, &f->steady_written);
		f->full[k] = now_s() - t0;
		f->full_cpu[k] = cpu_s() - c0;
		f->full_srv[k] = s0 < 0 ? -1 : pg_cpu_s(pg_url) - s0;
	}
	if (r < 0)
		return fail("a full recompute", r);
	return 0;
}

/* One line of the table: a figure in each store's column. */
static void row(const char *what, const struct figures *f, size_t n, double scale, const char *unit,
		const char *goal, double (*get)(const struct figures *, int, unsigned),
		unsigned runs)
{
	printf("%-44s", what);
	for (size_t i = 0; i < n; i++) {
		double wall = get(&f[i], 0, runs), cpu = get(&f[i], 1, runs);
		int prec = scale > 1 ? 2 : 3;
		char cell[64];

		if (wall < 0)
			(void) snprintf(cell, sizeof(cell), "-");
		else if (cpu >= 0)
			(void) snprintf(cell, sizeof(cell), "%.*f %s (%.*f CPU)", prec,
					wall * scale, unit, prec, cpu * scale);
		else
			(void) snprintf(cell, sizeof(cell), "%.*f %s", prec, wall * scale, unit);
		printf(" %-26s", cell);
	}
	printf(" %s\n", goal);
}

static double get_one(const struct figures *f, int cpu, unsigned runs)
{
	return median(cpu ? f->one_cpu : f->one, runs);
}

static double get_commit(const struct figures *f, int cpu, unsigned runs)
{
	return cpu ? -1 : median(f->commit, runs);
}

static double get_full(const struct figures *f, int cpu, unsigned runs)
{
	return median(cpu ? f->full_cpu : f->full, MIN(runs, 5u));
}

static double get_first(const struct figures *f, int cpu, unsigned runs)
{
	(void) runs;
	return cpu ? f->first_cpu : f->first;
}

static double get_full_srv(const struct figures *f, int cpu, unsigned runs)
{
	return cpu ? -1 : median(f->full_srv, MIN(runs, 5u));
}

static double get_first_srv(const struct figures *f, int cpu, unsigned runs)
{
	(void) runs;
	return cpu ? -1 : f->first_srv;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{"hosts", required_argument, NULL, 'n'},
		{"runs", required_argument, NULL, 'r'},
		{"store", required_argument, NULL, 's'},
		{0},
	};
	unsigned hosts = 10000, runs = 31;
	const char *pg_url = NULL;
	struct tmpstore t, tpg;
	struct store *st[2] = {NULL, NULL};
	struct compliance *e[2] = {NULL, NULL};
	static struct figures fig[2];
	const char *names[2] = {"SQLite", "PostgreSQL"};
	size_t n_stores = 1;
	json_t *docs[3], *events;
	char(*ids)[STORE_ID_MAX] = NULL, tok[STORE_ID_MAX];
	double t0;
	struct stat sb;
	int c, r;

	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		if (c == 'n' && str_to_uint(optarg, 10, &hosts) == 0 && hosts >= 3)
			continue;
		if (c == 'r' && str_to_uint(optarg, 10, &runs) == 0 && runs >= 1 &&
		    runs <= MAX_RUNS)
			continue;
		if (c == 's' && (str_startswith(optarg, "postgres://") ||
				 str_startswith(optarg, "postgresql://"))) {
			pg_url = optarg;
			continue;
		}
		fprintf(stderr,
			"usage: bench-compliance [--hosts N>=3] [--runs 1..%d] "
			"[--store postgresql://…]\n",
			MAX_RUNS);
		return 2;
	}
	mm_setup_jansson();
	log_setup("bench-compliance", LOG_WARNING);
	if (!getenv("MAMORI_SOURCE_ROOT"))
		(void) setenv("MAMORI_SOURCE_ROOT", ".", 0);
	docs[0] = fixture_doc("laptop", "good-laptop.json", NOW - 3600);
	docs[1] = fixture_doc("laptop", "bad-laptop.json", NOW - 3600);
	docs[2] = fixture_doc("vm", "server.json", NOW - 3600);
	events = json_loads(
		"[{\"seq\": 1, \"time\": 1799990000000, \"type\": \"net.wifi_join\","
		" \"data\": {\"ssid\": \"home\", \"security\": \"wpa2\", \"open\": false,"
		" \"vpn\": false, \"source\": \"networkmanager\"}}]",
		0, NULL);
	if (!docs[0] || !docs[1] || !docs[2] || !events)
		return fail("building the fixture documents (run from the source tree)", EIO);

	memset(&t, 0, sizeof(t));
	(void) snprintf(t.dir, sizeof(t.dir), "%s",
			stat("/dev/shm", &sb) == 0 ? "/dev/shm/mamori-bench-XXXXXX"
						   : "/tmp/mamori-bench-XXXXXX");
	if (!mkdtemp(t.dir))
		return fail("making the store's directory", errno);
	(void) snprintf(t.path, sizeof(t.path), "%s/store.db", t.dir);
	(void) snprintf(t.url, sizeof(t.url), "sqlite:%s", t.path);
	r = store_open(t.url, &st[0]);
	if (r >= 0)
		r = make_token(st[0], "mtk_bench", NOW - 100, NOW + 86400, hosts, NULL, tok);
	ids = mm_calloc(hosts, sizeof(*ids));
	if (r < 0 || !ids)
		return fail("opening the store", r < 0 ? r : ENOMEM);

	printf("setting up %u hosts in %s …\n", hosts, t.dir);
	t0 = now_s();
	for (unsigned i = 0; i < hosts; i++) {
		struct store_enroll_result res = {0};
		struct sign_log log = {0};
		char name[32];

		(void) snprintf(name, sizeof(name), "pc-%05u", i);
		r = enroll_host(st[0], "mtk_bench", NOW - 86400, name, &log, &res);
		if (r < 0 || res.verdict != STORE_TOKEN_OK)
			return fail("enrolling", r < 0 ? r : EPERM);
		memcpy(ids[i], res.host_id, STORE_ID_MAX);
		mm_free(res.cert_pem);
		r = commit_doc(st[0], ids[i], docs[i % 3], NOW - 3600);
		if (r >= 0)
			r = checkin_policy(st[0], ids[i], NOW - 600, i % 3 == 1 ? 0 : 2);
		if (r >= 0 && i % 3 == 0)
			r = store_compliance_events(st[0], ids[i], events, NOW - 600);
		if (r >= 0 && i % 3 != 1)
			r = store_host_set_owner(st[0], ids[i], "owner");
		if (r < 0)
			return fail("storing a host", r);
	}
	printf("setup: %.1f s\n", now_s() - t0);
	if (pg_url) {
		json_t *report = NULL;

		t0 = now_s();
		r = tmpstore_init_at(&tpg, pg_url, NULL);
		if (r >= 0)
			r = store_open(tpg.url, &st[1]);
		if (r >= 0)
			r = store_copy(st[0], st[1], false, &report);
		if (r < 0)
			return fail("copying the hosts into PostgreSQL", r);
		printf("copied into PostgreSQL (database %s): %lld inventory items, %.1f s\n",
		       tpg.db,
		       (long long) json_integer_value(json_object_get(
			       json_object_get(report, "tables"), "inventory_items")),
		       now_s() - t0);
		json_decref(report);
		n_stores = 2;
	}
	printf("\n");

	for (size_t i = 0; i < n_stores; i++) {
		struct catalog *cat = NULL;
		struct diag d;

		diag_init(&d);
		r = compliance_catalog_load(NULL, 0, &cat, &d);
		diag_done(&d);
		if (r < 0)
			return fail("loading the catalogue", r);
		r = compliance_new(st[i], cat, &e[i]);
		if (r < 0)
			return fail("starting the engine", r);
		if (measure(st[i], e[i], (const char(*)[STORE_ID_MAX]) ids, docs, hosts, runs,
			    names[i], i ? tpg.rawurl : NULL, &fig[i]) != 0)
			return 1;
	}

	printf("\nhosts stored: %u; figures are medians, wall clock (CPU time of this process)\n",
	       hosts);
	printf("%-44s", "");
	for (size_t i = 0; i < n_stores; i++)
		printf(" %-26s", names[i]);
	printf("\n");
	row("one host changes, engine re-evaluation:", fig, n_stores, 1e3, "ms", "goal < 10 ms",
	    get_one, runs);
	row("  beside it, that host's inventory commit:", fig, n_stores, 1e3, "ms",
	    "(the store's part)", get_commit, runs);
	row("full recompute, nothing to write:", fig, n_stores, 1, "s", "goal < 2 s", get_full,
	    runs);
	if (n_stores > 1)
		row("  PostgreSQL's own CPU for it (backends):", fig, n_stores, 1, "s", "",
		    get_full_srv, runs);
	row("full recompute, every row written (once):", fig, n_stores, 1, "s", "goal < 2 s",
	    get_first, runs);
	if (n_stores > 1)
		row("  PostgreSQL's own CPU for it (backends):", fig, n_stores, 1, "s", "",
		    get_first_srv, runs);
	printf("rows written by the first recompute:        ");
	for (size_t i = 0; i < n_stores; i++)
		printf(" %-26zu", fig[i].written);
	printf("\n");
	{
		double load[3];

		if (getloadavg(load, 3) == 3)
			printf("load average during the run: %.2f (the machine's cores are "
			       "shared)\n",
			       load[0]);
	}

	for (size_t i = 0; i < n_stores; i++) {
		compliance_free(e[i]);
		store_free(st[i]);
	}
	tmpstore_remove(&t);
	if (pg_url)
		tmpstore_remove(&tpg);
	mm_free(ids);
	for (int i = 0; i < 3; i++)
		json_decref(docs[i]);
	json_decref(events);
	return 0;
}
