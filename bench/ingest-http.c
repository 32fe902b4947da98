/*
 * bench/ingest-http: event ingestion over HTTP (part (a) of the backbone benchmark, through
 * the whole server).
 *
 * It starts the real mamori-server on loopback ports in a temporary state directory,
 * enrols N simulated agents (keys and CSRs made here with GnuTLS, enrolment over the agent
 * API), then lets all N post B batches of S events each at the same time over mutual TLS
 * with keep-alive (one libcurl multi handle, one connection per agent), gzip-compressed as
 * the agent sends them. The figure is events per second and the request latency (median,
 * 99th percentile). The baseline, in the same run, is the same batches appended by N
 * threads straight into a store (store_events_append), without HTTP, TLS, JSON parsing or
 * validation; the ratio HTTP / store is the cost of the server around the store.
 *
 *   bench-ingest-http [--server PATH] [--agents N] [--batches B] [--batch S] [--threads T]
 *                     [--plain]
 *
 * --threads sets the server's worker threads per listener (its `threads` setting, 4 by
 * default); the in-flight cap is lifted so the figure is the server's, not its shedding.
 *
 * Run it from a release build: the test build's sanitizers slow the server several times.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>
#include <gnutls/x509.h>
#include <zlib.h>

#include "lib/buf.h"
#include "lib/fileio.h"
#include "lib/jsonw.h"
#include "lib/log.h"
#include "lib/mm.h"
#include "lib/str.h"
#include "server/store.h"

#define NOW 1795650000

struct opts {
	const char *server;
	unsigned agents, batches, batch, threads;
	bool gzip;
};

struct agent {
	char host_id[STORE_ID_MAX];
	char key_path[128], crt_path[128];
	CURL *easy;
	struct curl_slist *headers;
	struct buf answer;
	char **bodies; /* every batch, made before the clock starts */
	size_t *lens;
	unsigned next; /* the next batch to send */
	double started;
};

static char dir[] = "/tmp/mamori-bench-XXXXXX";
static pid_t server_pid = -1;
static char agent_url[64], api_url[64], ca_path[160];

static double now_s(void)
{
	struct timespec ts;

	(void) clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double) ts.tv_sec + (double) ts.tv_nsec / 1e9;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *) a, y = *(const double *) b;

	return x < y ? -1 : x > y;
}

/* The event bench/ingest uses: a process start, about 200 bytes of JSON. */
static json_t *event_data(unsigned host, unsigned seq)
{
	char cmdline[128];

	(void) snprintf(cmdline, sizeof(cmdline),
			"/usr/bin/curl -s https://intranet.example.jp/api/v1/items/%u", seq);
	return json_pack("{sisisisssssss{si}}", "pid", (int) (1000 + seq % 30000), "ppid", 1, "uid",
			 (int) (1000 + host % 50), "exe", "/usr/bin/curl", "cmdline", cmdline,
			 "cwd", "/home/user", "session", "id", (int) host);
}

static json_t *make_batch(unsigned host, unsigned first, unsigned n)
{
	json_t *a = json_array();

	for (unsigned s = first; s < first + n; s++)
		if (jsonw_append(a, json_pack("{sIsIssso}", "seq", (json_int_t) s, "time",
					      (json_int_t) NOW * 1000 + s, "type", "process.start",
					      "data", event_data(host, s))) < 0)
			return NULL;
	return a;
}

static int gzip_text(const char *text, char **ret, size_t *ret_len)
{
	uLongf cap = compressBound((uLong) strlen(text)) + 32, out_len;
	z_stream zs = {0};
	char *out = mm_malloc(cap);

	if (!out ||
	    deflateInit2(&zs, 6, Z_DEFLATED, 16 + MAX_WBITS, 8, Z_DEFAULT_STRATEGY) != Z_OK) {
		mm_free(out);
		return -ENOMEM;
	}
	zs.next_in = (Bytef *) text;
	zs.avail_in = (uInt) strlen(text);
	zs.next_out = (Bytef *) out;
	zs.avail_out = (uInt) cap;
	if (deflate(&zs, Z_FINISH) != Z_STREAM_END) {
		(void) deflateEnd(&zs);
		mm_free(out);
		return -EIO;
	}
	out_len = zs.total_out;
	(void) deflateEnd(&zs);
	*ret = out;
	*ret_len = out_len;
	return 0;
}

/* ---- the server ---- */

static int start_server(const char *path, unsigned threads)
{
	char state[96], log_path[96], conf_path[96], conf[64], *text = NULL;
	const char *p;
	int fd;

	(void) snprintf(state, sizeof(state), "%s/state", dir);
	(void) snprintf(log_path, sizeof(log_path), "%s/server.log", dir);
	(void) snprintf(ca_path, sizeof(ca_path), "%s/ca.crt", state);
	(void) snprintf(conf_path, sizeof(conf_path), "%s/server.conf", dir);
	(void) snprintf(conf, sizeof(conf), "threads = %u\nagent_max_inflight = 10000\n", threads);
	if (fileio_write_atomic(conf_path, conf, strlen(conf), 0600) < 0)
		return -EIO;
	server_pid = fork();
	if (server_pid < 0)
		return -errno;
	if (server_pid == 0) {
		fd = open(log_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
		if (fd < 0 || dup2(fd, STDERR_FILENO) < 0 || dup2(fd, STDOUT_FILENO) < 0)
			_exit(127);
		execl(path, path, "--config", conf_path, "--state-dir", state, "--agent-listen",
		      "127.0.0.1:0", "--api-listen", "127.0.0.1:0", "--log-level", "notice",
		      (char *) NULL);
		_exit(127);
	}
	for (int i = 0; i < 300; i++) {
		struct timespec tick = {.tv_nsec = 100000000L};

		mm_free(text);
		text = NULL;
		if (fileio_read(NULL, log_path, 1 << 20, &text, NULL) == 0 &&
		    strstr(text, "(M3000)"))
			break;
		if (waitpid(server_pid, NULL, WNOHANG) == server_pid) {
			server_pid = -1;
			break;
		}
		(void) nanosleep(&tick, NULL);
	}
	if (!text || !strstr(text, "(M3000)")) {
		fprintf(stderr, "bench-ingest-http: the server did not start:\n%s\n",
			text ? text : "");
		mm_free(text);
		return -EIO;
	}
	p = strstr(text, "agent API listening on ");
	if (p)
		(void) snprintf(agent_url, sizeof(agent_url), "https://%.*s",
				(int) strcspn(p + 23, "\n"), p + 23);
	p = strstr(text, "admin API listening on ");
	if (p)
		(void) snprintf(api_url, sizeof(api_url), "https://%.*s",
				(int) strcspn(p + 23, "\n"), p + 23);
	mm_free(text);
	return 0;
}

static int stop_server(void)
{
	int status = 0;

	if (server_pid <= 0)
		return -1;
	(void) kill(server_pid, SIGTERM);
	(void) waitpid(server_pid, &status, 0);
	server_pid = -1;
	return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

static size_t collect(char *p, size_t size, size_t n, void *userdata)
{
	struct buf *b = userdata;

	return buf_add(b, p, size * n) < 0 ? 0 : size * n;
}

/* One blocking request; *ret gets the answer's JSON. */
static int request(const char *url, const char *auth, const char *body, json_t **ret)
{
	CURL *c = curl_easy_init();
	struct curl_slist *h = NULL;
	struct jsonw_error err;
	struct buf answer;
	long code = 0;
	int r = -EIO;

	buf_init(&answer, 1 << 20);
	if (!c)
		return -ENOMEM;
	h = curl_slist_append(h, "Content-Type: application/json");
	if (auth)
		h = curl_slist_append(h, auth);
	(void) curl_easy_setopt(c, CURLOPT_URL, url);
	(void) curl_easy_setopt(c, CURLOPT_CAINFO, ca_path);
	(void) curl_easy_setopt(c, CURLOPT_CAPATH, NULL);
	(void) curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
	(void) curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
	(void) curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, collect);
	(void) curl_easy_setopt(c, CURLOPT_WRITEDATA, &answer);
	if (curl_easy_perform(c) == CURLE_OK &&
	    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &code) == CURLE_OK && code / 100 == 2 &&
	    jsonw_parse(buf_str(&answer), answer.len, 1 << 20, ret, &err) == 0)
		r = 0;
	else
		fprintf(stderr, "bench-ingest-http: %s: HTTP %ld %s\n", url, code,
			buf_str(&answer));
	curl_slist_free_all(h);
	curl_easy_cleanup(c);
	buf_done(&answer);
	return r;
}

static int make_csr(const char *key_path, char **ret_csr)
{
	gnutls_x509_privkey_t key = NULL;
	gnutls_x509_crq_t crq = NULL;
	gnutls_datum_t k = {0}, q = {0};
	int r = -EIO;

	if (gnutls_x509_privkey_init(&key) < 0 || gnutls_x509_crq_init(&crq) < 0 ||
	    gnutls_x509_privkey_generate(key, GNUTLS_PK_ECDSA,
					 GNUTLS_CURVE_TO_BITS(GNUTLS_ECC_CURVE_SECP256R1), 0) < 0 ||
	    gnutls_x509_crq_set_version(crq, 1) < 0 || gnutls_x509_crq_set_key(crq, key) < 0 ||
	    gnutls_x509_crq_sign2(crq, key, GNUTLS_DIG_SHA256, 0) < 0 ||
	    gnutls_x509_crq_export2(crq, GNUTLS_X509_FMT_PEM, &q) < 0 ||
	    gnutls_x509_privkey_export2(key, GNUTLS_X509_FMT_PEM, &k) < 0)
		goto out;
	if (fileio_write_atomic(key_path, k.data, k.size, 0600) < 0)
		goto out;
	*ret_csr = mm_strndup((const char *) q.data, q.size);
	r = *ret_csr ? 0 : -ENOMEM;
out:
	gnutls_free(k.data);
	gnutls_free(q.data);
	if (crq)
		gnutls_x509_crq_deinit(crq);
	if (key)
		gnutls_x509_privkey_deinit(key);
	return r;
}

static int enrol_all(struct agent *agents, unsigned n)
{
	_cleanup_(freep) char *admin_path = mm_asprintf("%s/state/admin.token", dir);
	_cleanup_(freep) char *token = NULL, *auth = NULL, *url = NULL;
	_cleanup_(json_decrefp) json_t *t = NULL;
	char body[64];
	const char *secret;

	if (!admin_path || fileio_read_attr(NULL, admin_path, &token) < 0)
		return -EIO;
	auth = mm_asprintf("Authorization: Bearer %s", token);
	url = mm_asprintf("%s/api/v1/enroll-tokens", api_url);
	(void) snprintf(body, sizeof(body), "{\"uses\": %u, \"expires_in\": \"1h\"}", n);
	if (!auth || !url || request(url, auth, body, &t) < 0)
		return -EIO;
	secret = json_string_value(json_object_get(t, "token"));
	for (unsigned i = 0; i < n; i++) {
		_cleanup_(freep) char *csr = NULL, *text = NULL, *enrol_url = NULL;
		_cleanup_(json_decrefp) json_t *req = NULL, *ans = NULL;
		char name[32];
		const char *crt;

		(void) snprintf(agents[i].key_path, sizeof(agents[i].key_path), "%s/a%u.key", dir,
				i);
		(void) snprintf(agents[i].crt_path, sizeof(agents[i].crt_path), "%s/a%u.crt", dir,
				i);
		(void) snprintf(name, sizeof(name), "bench-%04u", i);
		if (make_csr(agents[i].key_path, &csr) < 0)
			return -EIO;
		req = json_pack("{sssss{ss}}", "token", secret, "csr", csr, "facts", "hostname",
				name);
		text = req ? jsonw_dump(req) : NULL;
		enrol_url = mm_asprintf("%s/agent/v1/enroll", agent_url);
		if (!text || !enrol_url || request(enrol_url, NULL, text, &ans) < 0)
			return -EIO;
		crt = json_string_value(json_object_get(ans, "certificate"));
		if (!crt || fileio_write_atomic(agents[i].crt_path, crt, strlen(crt), 0644) < 0)
			return -EIO;
		(void) snprintf(agents[i].host_id, sizeof(agents[i].host_id), "%s",
				json_string_value(json_object_get(ans, "host_id")));
	}
	return 0;
}

/* ---- over HTTP ---- */

/* Makes agent a's batches, serialised and compressed as the agent would send them. */
static int prepare(struct agent *a, unsigned host, const struct opts *o)
{
	a->bodies = mm_calloc(o->batches, sizeof(*a->bodies));
	a->lens = mm_calloc(o->batches, sizeof(*a->lens));
	if (!a->bodies || !a->lens)
		return -ENOMEM;
	for (unsigned b = 0; b < o->batches; b++) {
		_cleanup_(json_decrefp) json_t *batch =
			make_batch(host, b * o->batch + 1, o->batch);
		_cleanup_(json_decrefp) json_t *body = NULL;
		_cleanup_(freep) char *text = NULL;

		body = batch ? json_pack("{sO}", "events", batch) : NULL;
		text = body ? jsonw_dump(body) : NULL;
		if (!text)
			return -ENOMEM;
		if (o->gzip) {
			if (gzip_text(text, &a->bodies[b], &a->lens[b]) < 0)
				return -ENOMEM;
		} else {
			a->lens[b] = strlen(text);
			a->bodies[b] = TAKE_PTR(text);
		}
	}
	return 0;
}

static void send_next(CURLM *m, struct agent *a)
{
	(void) curl_easy_setopt(a->easy, CURLOPT_POSTFIELDS, a->bodies[a->next]);
	(void) curl_easy_setopt(a->easy, CURLOPT_POSTFIELDSIZE, (long) a->lens[a->next]);
	a->started = now_s();
	(void) curl_multi_add_handle(m, a->easy);
}

static int run_http(struct agent *agents, const struct opts *o, double *ret_rate, double *lat,
		    size_t *ret_n)
{
	_cleanup_(freep) char *url = mm_asprintf("%s/agent/v1/events", agent_url);
	CURLM *m = curl_multi_init();
	unsigned active = 0, failed = 0, connects = 0;
	size_t n = 0;
	double t0;

	if (!url || !m)
		return -ENOMEM;
	for (unsigned i = 0; i < o->agents; i++) {
		struct agent *a = &agents[i];

		a->easy = curl_easy_init();
		a->headers = curl_slist_append(NULL, "Content-Type: application/json");
		if (o->gzip)
			a->headers = curl_slist_append(a->headers, "Content-Encoding: gzip");
		buf_init(&a->answer, 1 << 16);
		if (!a->easy || prepare(a, i, o) < 0)
			return -ENOMEM;
		(void) curl_easy_setopt(a->easy, CURLOPT_URL, url);
		/* Only the server's CA: without this libcurl-gnutls also loads every system CA
		 * for each new connection (about 75 ms here), and trusts them. */
		(void) curl_easy_setopt(a->easy, CURLOPT_CAINFO, ca_path);
		(void) curl_easy_setopt(a->easy, CURLOPT_CAPATH, NULL);
		(void) curl_easy_setopt(a->easy, CURLOPT_SSLCERT, a->crt_path);
		(void) curl_easy_setopt(a->easy, CURLOPT_SSLKEY, a->key_path);
		(void) curl_easy_setopt(a->easy, CURLOPT_HTTPHEADER, a->headers);
		(void) curl_easy_setopt(a->easy, CURLOPT_WRITEFUNCTION, collect);
		(void) curl_easy_setopt(a->easy, CURLOPT_WRITEDATA, &a->answer);
		(void) curl_easy_setopt(a->easy, CURLOPT_PRIVATE, a);
	}
	t0 = now_s();
	for (unsigned i = 0; i < o->agents; i++) {
		send_next(m, &agents[i]);
		active++;
	}
	while (active > 0) {
		CURLMsg *msg;
		int running, left;
		bool sent = false;

		(void) curl_multi_perform(m, &running);
		while ((msg = curl_multi_info_read(m, &left))) {
			struct agent *a = NULL;
			long code = 0;

			if (msg->msg != CURLMSG_DONE)
				continue;
			(void) curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **) &a);
			(void) curl_easy_getinfo(msg->easy_handle, CURLINFO_RESPONSE_CODE, &code);
			{
				long fresh = 0;

				(void) curl_easy_getinfo(msg->easy_handle, CURLINFO_NUM_CONNECTS,
							 &fresh);
				connects += (unsigned) fresh;
			}
			lat[n++] = now_s() - a->started;
			if (msg->data.result != CURLE_OK || code != 200) {
				if (failed++ < 3)
					fprintf(stderr, "bench-ingest-http: HTTP %ld %s %s\n", code,
						curl_easy_strerror(msg->data.result),
						buf_str(&a->answer));
			}
			(void) curl_multi_remove_handle(m, a->easy);
			buf_reset(&a->answer);
			if (++a->next >= o->batches) {
				active--;
				continue;
			}
			send_next(m, a);
			sent = true;
		}
		/* A handle just added has no socket to wait on yet: perform again at once. */
		if (active > 0 && !sent)
			(void) curl_multi_poll(m, NULL, 0, 100, NULL);
	}
	*ret_rate = (double) o->agents * o->batches * o->batch / (now_s() - t0);
	printf("connections opened: %u for %zu requests\n", connects, n);
	*ret_n = n;
	for (unsigned i = 0; i < o->agents; i++) {
		curl_easy_cleanup(agents[i].easy);
		curl_slist_free_all(agents[i].headers);
		buf_done(&agents[i].answer);
		for (unsigned b = 0; b < o->batches; b++)
			mm_free(agents[i].bodies[b]);
		mm_free(agents[i].bodies);
		mm_free(agents[i].lens);
	}
	(void) curl_multi_cleanup(m);
	return failed ? -EIO : 0;
}

/* ---- the baseline: the same batches straight into a store ---- */

struct host_thread {
	struct store *st;
	char host_id[STORE_ID_MAX];
	json_t **batches;
	unsigned n;
	int failures;
};

static void *host_main(void *p)
{
	struct host_thread *h = p;

	for (unsigned i = 0; i < h->n; i++) {
		uint64_t acked;
		size_t stored;

		if (store_events_append(h->st, h->host_id, h->batches[i], NOW, &acked, &stored) < 0)
			h->failures++;
	}
	return NULL;
}

static int sign_dummy(uint64_t serial _unused_, const char *host_id _unused_,
		      void *userdata _unused_, char **ret)
{
	*ret = mm_strdup("-----BEGIN CERTIFICATE-----\n-----END CERTIFICATE-----\n");
	return *ret ? 0 : -ENOMEM;
}

static double run_store(const struct opts *o)
{
	_cleanup_(freep) char *url = mm_asprintf("sqlite:%s/base.db", dir);
	_cleanup_(freep) struct host_thread *h = mm_calloc(o->agents, sizeof(*h));
	_cleanup_(freep) pthread_t *th = mm_calloc(o->agents, sizeof(*th));
	struct store_enroll_token t = {.created = NOW,
				       .expires = NOW + 3600,
				       .max_uses = o->agents,
				       .created_by = "bench"};
	struct store *st = NULL;
	char id[STORE_ID_MAX];
	double t0, rate = 0;
	int failures = 0;

	if (!url || !h || !th || store_open(url, &st) < 0)
		return 0;
	memset(t.hash, 7, sizeof(t.hash));
	if (store_enroll_token_create(st, &t, id) < 0)
		goto out;
	for (unsigned i = 0; i < o->agents; i++) {
		_cleanup_(json_decrefp) json_t *facts = json_pack("{ss}", "hostname", "base");
		struct store_enroll_result res = {0};

		if (store_enroll(st, t.hash, NOW, facts, "127.0.0.1", sign_dummy, NULL, &res) < 0 ||
		    res.verdict != STORE_TOKEN_OK)
			goto out;
		mm_free(res.cert_pem);
		h[i] = (struct host_thread){.st = st, .n = o->batches};
		(void) snprintf(h[i].host_id, sizeof(h[i].host_id), "%s", res.host_id);
		h[i].batches = mm_calloc(o->batches, sizeof(json_t *));
		if (!h[i].batches)
			goto out;
		for (unsigned b = 0; b < o->batches; b++)
			h[i].batches[b] = make_batch(i, b * o->batch + 1, o->batch);
	}
	t0 = now_s();
	for (unsigned i = 0; i < o->agents; i++)
		(void) pthread_create(&th[i], NULL, host_main, &h[i]);
	for (unsigned i = 0; i < o->agents; i++) {
		(void) pthread_join(th[i], NULL);
		failures += h[i].failures;
	}
	rate = failures ? 0 : (double) o->agents * o->batches * o->batch / (now_s() - t0);
out:
	for (unsigned i = 0; i < o->agents; i++) {
		for (unsigned b = 0; h[i].batches && b < o->batches; b++)
			json_decref(h[i].batches[b]);
		mm_free(h[i].batches);
	}
	store_free(st);
	return rate;
}

static void remove_dir(const char *path)
{
	static const char *const files[] = {
		"server.log",        "base.db",        "base.db-wal",        "base.db-shm",
		"state/ca.key",      "state/ca.crt",   "state/server.key",   "state/server.crt",
		"state/admin.token", "state/store.db", "state/store.db-wal", "state/store.db-shm",
	};
	char p[256];

	for (size_t i = 0; i < ARRAY_SIZE(files); i++) {
		(void) snprintf(p, sizeof(p), "%s/%s", path, files[i]);
		(void) unlink(p);
	}
	for (unsigned i = 0; i < 100000; i++) {
		(void) snprintf(p, sizeof(p), "%s/a%u.key", path, i);
		if (unlink(p) < 0)
			break;
		(void) snprintf(p, sizeof(p), "%s/a%u.crt", path, i);
		(void) unlink(p);
	}
	(void) snprintf(p, sizeof(p), "%s/state", path);
	(void) rmdir(p);
	(void) rmdir(path);
}

int main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{"server", required_argument, NULL, 's'},
		{"agents", required_argument, NULL, 'a'},
		{"batches", required_argument, NULL, 'b'},
		{"batch", required_argument, NULL, 'n'},
		{"plain", no_argument, NULL, 'p'},
		{"threads", required_argument, NULL, 't'},
		{0},
	};
	struct opts o = {.server = MAMORI_SERVER_PATH,
			 .agents = 32,
			 .batches = 20,
			 .batch = 100,
			 .threads = 4,
			 .gzip = true};
	_cleanup_(freep) struct agent *agents = NULL;
	_cleanup_(freep) double *lat = NULL;
	double http_rate = 0, store_rate;
	size_t n = 0;
	int c, rc = 1;

	mm_setup_jansson();
	log_setup("bench-ingest-http", LOG_WARNING);
	setvbuf(stdout, NULL, _IOLBF, 0);
	while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		unsigned *field = c == 'a'   ? &o.agents
				  : c == 'b' ? &o.batches
				  : c == 't' ? &o.threads
					     : &o.batch;

		if (c == 's')
			o.server = optarg;
		else if (c == 'p')
			o.gzip = false;
		else if (c == '?' || str_to_uint(optarg, 10, field) < 0 || *field == 0 ||
			 *field > 10000) {
			fprintf(stderr, "usage: bench-ingest-http [--server PATH] [--agents N] "
					"[--batches B] [--batch S] [--threads T] [--plain]\n");
			return 2;
		}
	}
	if (o.batch > 1000 || !mkdtemp(dir))
		return 2;
	agents = mm_calloc(o.agents, sizeof(*agents));
	lat = mm_calloc((size_t) o.agents * o.batches, sizeof(*lat));
	if (!agents || !lat || curl_global_init(CURL_GLOBAL_DEFAULT) != 0)
		goto out;
	if (start_server(o.server, o.threads) < 0 || enrol_all(agents, o.agents) < 0)
		goto out;
	printf("bench-ingest-http: %u agents x %u batches x %u events (%s), server %s, %u "
	       "threads\n",
	       o.agents, o.batches, o.batch, o.gzip ? "gzip" : "identity", o.server, o.threads);
	if (run_http(agents, &o, &http_rate, lat, &n) < 0)
		goto out;
	qsort(lat, n, sizeof(*lat), cmp_double);
	if (stop_server() != 0)
		fprintf(stderr, "bench-ingest-http: the server did not exit 0\n");
	store_rate = run_store(&o);
	printf("over HTTP (mTLS, %s):   %10.0f events/s   request p50 %.1f ms, p90 %.1f ms, "
	       "p99 %.1f ms, max %.1f ms\n",
	       o.gzip ? "gzip" : "identity", http_rate, lat[n / 2] * 1e3,
	       lat[(size_t) ((double) n * 0.9)] * 1e3, lat[(size_t) ((double) n * 0.99)] * 1e3,
	       lat[n - 1] * 1e3);
	printf("store_events_append:     %10.0f events/s   (baseline, %u threads, same batches)\n",
	       store_rate, o.agents);
	printf("ratio HTTP / store:      %10.2f\n", store_rate > 0 ? http_rate / store_rate : 0);
	rc = 0;
out:
	if (server_pid > 0)
		(void) stop_server();
	remove_dir(dir);
	curl_global_cleanup();
	return rc;
}
