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
 *   bench-compliance [--hosts N] [--runs R]
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <sys/stat.h>
#include <time.h>

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

static double median(double *v, unsigned n)
{
	qsort(v, n, sizeof(*v), cmp_double);
	return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
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

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{"hosts", required_argument, NULL, 'n'},
		{"runs", required_argument, NULL, 'r'},
		{0},
	};
	unsigned hosts = 10000, runs = 31;
	struct tmpstore t;
	struct store *st = NULL;
	struct compliance *e = NULL;
	struct catalog *cat = NULL;
	struct diag d;
	json_t *docs[3], *events;
	char(*ids)[STORE_ID_MAX] = NULL, tok[STORE_ID_MAX];
	double one[MAX_RUNS], one_cpu[MAX_RUNS], commit[MAX_RUNS], full[MAX_RUNS],
		full_cpu[MAX_RUNS];
	double t0, c0, first, first_cpu;
	size_t changed = 0, visited = 0;
	struct stat sb;
	int c, r;

	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		if (c == 'n' && str_to_uint(optarg, 10, &hosts) == 0 && hosts >= 3)
			continue;
		if (c == 'r' && str_to_uint(optarg, 10, &runs) == 0 && runs >= 1 &&
		    runs <= MAX_RUNS)
			continue;
		fprintf(stderr, "usage: bench-compliance [--hosts N>=3] [--runs 1..%d]\n",
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

	(void) snprintf(t.dir, sizeof(t.dir), "%s",
			stat("/dev/shm", &sb) == 0 ? "/dev/shm/mamori-bench-XXXXXX"
						   : "/tmp/mamori-bench-XXXXXX");
	if (!mkdtemp(t.dir))
		return fail("making the store's directory", errno);
	(void) snprintf(t.path, sizeof(t.path), "%s/store.db", t.dir);
	(void) snprintf(t.url, sizeof(t.url), "sqlite:%s", t.path);
	diag_init(&d);
	r = compliance_catalog_load(NULL, 0, &cat, &d);
	diag_done(&d);
	if (r < 0)
		return fail("loading the catalogue", r);
	r = store_open(t.url, &st);
	if (r >= 0)
		r = compliance_new(st, cat, &e);
	if (r >= 0)
		r = make_token(st, "mtk_bench", NOW - 100, NOW + 86400, hosts, NULL, tok);
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
		r = enroll_host(st, "mtk_bench", NOW - 86400, name, &log, &res);
		if (r < 0 || res.verdict != STORE_TOKEN_OK)
			return fail("enrolling", r < 0 ? r : EPERM);
		memcpy(ids[i], res.host_id, STORE_ID_MAX);
		mm_free(res.cert_pem);
		r = commit_doc(st, ids[i], docs[i % 3], NOW - 3600);
		if (r >= 0)
			r = checkin_policy(st, ids[i], NOW - 600, i % 3 == 1 ? 0 : 2);
		if (r >= 0 && i % 3 == 0)
			r = store_compliance_events(st, ids[i], events, NOW - 600);
		if (r >= 0 && i % 3 != 1)
			r = store_host_set_owner(st, ids[i], "owner");
		if (r < 0)
			return fail("storing a host", r);
	}
	printf("setup: %.1f s\n\n", now_s() - t0);

	t0 = now_s();
	c0 = cpu_s();
	r = compliance_recompute(e, NOW, &visited, &changed);
	first = now_s() - t0;
	first_cpu = cpu_s() - c0;
	if (r < 0)
		return fail("the first full recompute", r);
	printf("first full recompute: %zu hosts, %zu result rows written: %.3f s\n", visited,
	       changed, first);

	for (unsigned k = 0; k < runs; k++) {
		unsigned i = (k * 7919u) % hosts; /* spread over the store */
		json_t *doc = firewall_doc(docs[i % 3], k % 2 == 0);
		size_t ch = 0;

		t0 = now_s();
		r = commit_doc(st, ids[i], doc, NOW);
		commit[k] = now_s() - t0;
		json_decref(doc);
		if (r < 0)
			return fail("committing a changed inventory", r);
		t0 = now_s();
		c0 = cpu_s();
		r = compliance_host_changed(e, ids[i], NOW, &ch);
		one[k] = now_s() - t0;
		one_cpu[k] = cpu_s() - c0;
		if (r < 0)
			return fail("re-evaluating one host", r);
	}
	/* put the changed hosts back as they were, so the steady recomputes write nothing */
	r = compliance_recompute(e, NOW, NULL, NULL);
	for (unsigned k = 0; r >= 0 && k < MIN(runs, 5u); k++) {
		t0 = now_s();
		c0 = cpu_s();
		r = compliance_recompute(e, NOW, &visited, &changed);
		full[k] = now_s() - t0;
		full_cpu[k] = cpu_s() - c0;
	}
	if (r < 0)
		return fail("a full recompute", r);

	printf("hosts stored: %u; figures are medians, wall clock (CPU time of this process)\n",
	       hosts);
	printf("one host changes, engine re-evaluation:      %8.2f ms (%.2f ms CPU)  goal < 10 "
	       "ms\n",
	       median(one, runs) * 1e3, median(one_cpu, runs) * 1e3);
	printf("  beside it, that host's inventory commit:   %8.2f ms (the store's part)\n",
	       median(commit, runs) * 1e3);
	printf("full recompute, nothing to write (%zu rows): %8.3f s  (%.3f s CPU)   goal < 2 s\n",
	       changed, median(full, MIN(runs, 5u)), median(full_cpu, MIN(runs, 5u)));
	printf("full recompute, every row written (once):   %8.3f s  (%.3f s CPU)   goal < 2 s\n",
	       first, first_cpu);
	{
		double load[3];

		if (getloadavg(load, 3) == 3)
			printf("load average during the run: %.2f (the machine's cores are "
			       "shared)\n",
			       load[0]);
	}

	compliance_free(e);
	store_free(st);
	tmpstore_remove(&t);
	mm_free(ids);
	for (int i = 0; i < 3; i++)
		json_decref(docs[i]);
	json_decref(events);
	return 0;
}
