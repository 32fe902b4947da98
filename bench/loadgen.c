/*
 * bench/loadgen: many simulated agents checking in against real mamori-servers (part (b)
 * of issue 3's benchmark; with PostgreSQL and two servers, issue 7's).
 *
 * Setup (not timed): a temporary state directory with a CA made by the server's own code
 * (ca_open); N hosts enrolled straight through the store API (store_enroll, each with its
 * own certificate signed by the CA for one shared key — distinct certificates, one key
 * file, so setup costs no key generation per agent), each given an initial inventory
 * (ingest_inventory) so check-ins can be followed by deltas. Then one or two
 * mamori-servers start on that store, sharing the CA files as docs/operations.md says.
 *
 * The load: N agents, each with the agent's own uplink (agent/uplink.c: libcurl multi on
 * an epoll loop, mutual TLS, one connection per agent, gzip over 1 KiB), agent i talking
 * to server i mod K. Each checks in once per cycle — the agent's 5-minute check-in
 * compressed into --cycle seconds — at an offset spread evenly over the cycle, and after a
 * check-in, with probability --delta, uploads an inventory delta (a package version
 * change). The figures are check-ins per second held against those offered, and the
 * check-in latency (p50, p99) beside the goal p99 < 100 ms; deltas are counted apart.
 *
 *   bench-loadgen [--agents N] [--cycle S] [--cycles C] [--delta P] [--store URL]
 *                 [--servers K] [--server PATH] [--threads T]
 *
 * Run it from a release build (the sanitizers slow both sides several times) and raise
 * the open-files limit: each agent holds a socket and a timer.
 */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>
#include <gnutls/x509.h>

#include "agent/daemon.h"
#include "lib/fileio.h"
#include "lib/invdiff.h"
#include "lib/jsonw.h"
#include "lib/log.h"
#include "lib/mm.h"
#include "lib/str.h"
#include "server/server.h"
#include "server/store.h"

#define SERVERS_MAX 2
#define PACKAGES    40

struct opts {
	const char *server, *store;
	unsigned agents, cycle, cycles, servers, threads;
	double delta;
};

struct sim {
	struct uplink *up;
	unsigned id;
	unsigned version; /* of its inventory: the bench-tool package's */
	char digest[65];
	double due;     /* monotonic seconds of the next check-in */
	double started; /* of the request in flight */
	bool delta_pending;
};

static char dir[] = "/tmp/mamori-loadgen-XXXXXX";
static pid_t server_pid[SERVERS_MAX] = {-1, -1};
static char agent_url[SERVERS_MAX][64];
static struct opts o;
static double *lat;
static size_t n_lat, cap_lat;
static unsigned n_checkins, n_deltas, n_failed, n_delta_failed, inflight;
static double t_end;

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

/* Agent i's inventory at version v: a software section of PACKAGES packages, one of which
 * (bench-tool) changes version with v. */
static json_t *make_doc(unsigned i, unsigned v)
{
	json_t *pk = json_array();
	char ver[32];

	for (unsigned k = 0; k < PACKAGES; k++) {
		char name[32];

		(void) snprintf(name, sizeof(name), "lib-bench%u", k);
		(void) snprintf(ver, sizeof(ver), "2.%u.%u-1", k, i % 7);
		if (jsonw_append(pk, json_pack("{ssssssss}", "manager", "dpkg", "name", name,
					       "arch", "amd64", "version", ver)) < 0)
			return NULL;
	}
	(void) snprintf(ver, sizeof(ver), "1.%u", v);
	if (jsonw_append(pk, json_pack("{ssssssss}", "manager", "dpkg", "name", "bench-tool",
				       "arch", "amd64", "version", ver)) < 0)
		return NULL;
	return json_pack("{sis{so}}", "schema", 1, "software", "packages", pk);
}

/* ---- setup: CA, hosts and inventories through the store API ---- */

static int make_key_csr(const char *key_path, char **ret_csr)
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

struct signer {
	struct ca *ca;
	const char *csr;
};

static int sign_cb(uint64_t serial, const char *host_id, void *userdata, char **ret)
{
	struct signer *s = userdata;
	char err[256];

	return ca_sign_csr(s->ca, s->csr, serial, host_id, (int64_t) time(NULL), ret, err,
			   sizeof(err));
}

static int setup(struct sim *sims)
{
	static const char *const names[] = {"127.0.0.1", "localhost"};
	_cleanup_(freep) char *state = mm_asprintf("%s/s1", dir), *csr = NULL, *key = NULL;
	struct store_enroll_token t = {.created = (int64_t) time(NULL),
				       .expires = (int64_t) time(NULL) + 86400,
				       .max_uses = o.agents,
				       .created_by = "loadgen"};
	struct ca *ca = NULL;
	struct store *st = NULL;
	char err[256], id[STORE_ID_MAX];
	double t0 = now_s();
	int r = -EIO;

	key = mm_asprintf("%s/agent.key", dir);
	if (!state || !key || mkdir(state, 0700) < 0)
		return -ENOMEM;
	if (ca_open(state, names, ARRAY_SIZE(names), (int64_t) time(NULL), &ca, err, sizeof(err)) <
	    0) {
		fprintf(stderr, "bench-loadgen: CA: %s\n", err);
		return -EIO;
	}
	if (make_key_csr(key, &csr) < 0 || store_open(o.store, &st) < 0)
		goto out;
	memset(t.hash, 0x5a, sizeof(t.hash));
	if (store_enroll_token_create(st, &t, id) < 0)
		goto out;
	for (unsigned i = 0; i < o.agents; i++) {
		_cleanup_(json_decrefp) json_t *facts = json_pack("{ss}", "hostname", "sim");
		_cleanup_(json_decrefp) json_t *doc = make_doc(i, 0);
		struct signer s = {ca, csr};
		struct store_enroll_result res = {0};
		struct api_agent_inventory in = {.delta = false};
		char path[128], digest[STORE_DIGEST_HEX];
		const char *code = NULL;
		size_t changes;

		if (store_enroll(st, t.hash, (int64_t) time(NULL), facts, "127.0.0.1", sign_cb, &s,
				 &res) < 0 ||
		    res.verdict != STORE_TOKEN_OK) {
			fprintf(stderr, "bench-loadgen: enrolment %u failed\n", i);
			goto out;
		}
		(void) snprintf(path, sizeof(path), "%s/c%u.crt", dir, i);
		r = fileio_write_atomic(path, res.cert_pem, strlen(res.cert_pem), 0644);
		mm_free(res.cert_pem);
		if (r < 0 || !doc || invdiff_digest(doc, sims[i].digest) < 0)
			goto fail;
		in.digest = sims[i].digest;
		in.document = doc;
		if (ingest_inventory(st, res.host_id, &in, (int64_t) time(NULL), digest, &changes,
				     &code, err, sizeof(err)) < 0) {
			fprintf(stderr, "bench-loadgen: inventory %u: %s\n", i, err);
			goto fail;
		}
		sims[i].id = i;
		if ((i + 1) % 1000 == 0)
			fprintf(stderr, "  enrolled %u hosts (%.0f s)\n", i + 1, now_s() - t0);
	}
	printf("setup: %u hosts enrolled with an inventory each in %.1f s\n", o.agents,
	       now_s() - t0);
	r = 0;
	goto out;
fail:
	r = -EIO;
out:
	store_free(st);
	(void) ca_free(ca);
	return r;
}

/* ---- the servers ---- */

static int copy_file(const char *from, const char *to)
{
	_cleanup_(freep) char *text = NULL;
	size_t len;

	if (fileio_read(NULL, from, 1 << 20, &text, &len) < 0)
		return -EIO;
	return fileio_write_atomic(to, text, len, 0600);
}

static int start_server(unsigned k)
{
	char state[96], log_path[96], conf_path[96], conf[160], *text = NULL;
	const char *p;
	int fd;

	(void) snprintf(state, sizeof(state), "%s/s%u", dir, k + 1);
	(void) snprintf(log_path, sizeof(log_path), "%s/server%u.log", dir, k + 1);
	(void) snprintf(conf_path, sizeof(conf_path), "%s/server.conf", dir);
	if (k > 0) {
		static const char *const files[] = {"ca.key", "ca.crt", "server.key", "server.crt"};

		(void) mkdir(state, 0700);
		for (size_t i = 0; i < ARRAY_SIZE(files); i++) {
			char from[128], to[128];

			(void) snprintf(from, sizeof(from), "%s/s1/%s", dir, files[i]);
			(void) snprintf(to, sizeof(to), "%s/%s", state, files[i]);
			if (copy_file(from, to) < 0)
				return -EIO;
		}
	}
	(void) snprintf(conf, sizeof(conf),
			"threads = %u\nagent_max_inflight = 100000\nmax_connections = 100000\n"
			"connection_timeout = 1h\n",
			o.threads);
	if (fileio_write_atomic(conf_path, conf, strlen(conf), 0600) < 0)
		return -EIO;
	server_pid[k] = fork();
	if (server_pid[k] < 0)
		return -errno;
	if (server_pid[k] == 0) {
		fd = open(log_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
		if (fd < 0 || dup2(fd, STDERR_FILENO) < 0 || dup2(fd, STDOUT_FILENO) < 0)
			_exit(127);
		execl(o.server, o.server, "--config", conf_path, "--state-dir", state, "--store",
		      o.store, "--agent-listen", "127.0.0.1:0", "--api-listen", "127.0.0.1:0",
		      "--name", "127.0.0.1", "--name", "localhost", "--log-level", "notice",
		      (char *) NULL);
		_exit(127);
	}
	for (int i = 0; i < 600; i++) {
		struct timespec tick = {.tv_nsec = 100000000L};

		mm_free(text);
		text = NULL;
		if (fileio_read(NULL, log_path, 1 << 20, &text, NULL) == 0 &&
		    strstr(text, "(M3000)"))
			break;
		if (waitpid(server_pid[k], NULL, WNOHANG) == server_pid[k]) {
			server_pid[k] = -1;
			break;
		}
		(void) nanosleep(&tick, NULL);
	}
	if (!text || !strstr(text, "(M3000)")) {
		fprintf(stderr, "bench-loadgen: server %u did not start:\n%s\n", k + 1,
			text ? text : "");
		mm_free(text);
		return -EIO;
	}
	p = strstr(text, "agent API listening on ");
	if (p)
		(void) snprintf(agent_url[k], sizeof(agent_url[k]), "https://%.*s",
				(int) strcspn(p + 23, "\n"), p + 23);
	mm_free(text);
	return 0;
}

static void stop_servers(void)
{
	for (unsigned k = 0; k < SERVERS_MAX; k++)
		if (server_pid[k] > 0) {
			(void) kill(server_pid[k], SIGTERM);
			(void) waitpid(server_pid[k], NULL, 0);
			server_pid[k] = -1;
		}
}

/* ---- the load ---- */

static void checkin_done(const struct uplink_reply *reply, void *userdata);

static void start_checkin(struct sim *s)
{
	char body[256];
	int len;

	len = snprintf(body, sizeof(body),
		       "{\"agent_version\":\"0.1.0\",\"time\":%lld,\"inventory_digest\":\"%s\","
		       "\"last_seq\":0}",
		       (long long) time(NULL), s->digest);
	s->started = now_s();
	if (uplink_post(s->up, "/agent/v1/checkin", body, (size_t) len, checkin_done, s) < 0) {
		n_failed++;
		return;
	}
	inflight++;
}

static void delta_done(const struct uplink_reply *reply, void *userdata)
{
	struct sim *s = userdata;

	inflight--;
	if (reply->err < 0 || reply->status != 200) {
		if (n_delta_failed++ < 3)
			fprintf(stderr, "bench-loadgen: delta: HTTP %ld %s %.200s\n", reply->status,
				reply->errtext, reply->body ? reply->body : "");
		return;
	}
	n_deltas++;
	s->version++;
}

static void send_delta(struct sim *s)
{
	_cleanup_(json_decrefp) json_t *old_doc = make_doc(s->id, s->version);
	_cleanup_(json_decrefp) json_t *new_doc = make_doc(s->id, s->version + 1);
	_cleanup_(json_decrefp) json_t *delta = NULL, *body = NULL;
	_cleanup_(freep) char *text = NULL;
	char digest[65];

	if (!old_doc || !new_doc || invdiff_compute(old_doc, new_doc, &delta) < 0 ||
	    invdiff_digest(new_doc, digest) < 0)
		return;
	body = json_pack("{sssssssO}", "kind", "delta", "base_digest", s->digest, "digest", digest,
			 "delta", delta);
	text = body ? jsonw_dump(body) : NULL;
	if (!text ||
	    uplink_post(s->up, "/agent/v1/inventory", text, strlen(text), delta_done, s) < 0) {
		n_delta_failed++;
		return;
	}
	memcpy(s->digest, digest, sizeof(digest));
	inflight++;
}

static void checkin_done(const struct uplink_reply *reply, void *userdata)
{
	struct sim *s = userdata;
	double t = now_s();

	inflight--;
	if (reply->err < 0 || reply->status != 200) {
		if (n_failed++ < 3)
			fprintf(stderr, "bench-loadgen: check-in: HTTP %ld %s %.200s\n",
				reply->status, reply->errtext, reply->body ? reply->body : "");
		return;
	}
	n_checkins++;
	if (n_lat < cap_lat)
		lat[n_lat++] = t - s->started;
	if (t < t_end && (double) random() / RAND_MAX < o.delta)
		send_delta(s);
}

static int run(struct sim *sims)
{
	int epfd = epoll_create1(EPOLL_CLOEXEC);
	double t0, offered;
	_cleanup_(freep) char *crt = NULL, *key = NULL, *ca = NULL;
	int r = 0;

	if (epfd < 0)
		return -errno;
	ca = mm_asprintf("%s/s1/ca.crt", dir);
	key = mm_asprintf("%s/agent.key", dir);
	if (!ca || !key)
		return -ENOMEM;
	for (unsigned i = 0; i < o.agents; i++) {
		char cert[128];
		struct uplink_tls tls = {.ca_file = ca, .cert_file = cert, .key_file = key};

		(void) snprintf(cert, sizeof(cert), "%s/c%u.crt", dir, i);
		if (uplink_new(epfd, agent_url[i % o.servers], &tls, &sims[i].up) < 0) {
			fprintf(stderr, "bench-loadgen: uplink %u failed (open files limit?)\n", i);
			return -EIO;
		}
	}
	t0 = now_s();
	t_end = t0 + (double) o.cycle * o.cycles;
	for (unsigned i = 0; i < o.agents; i++)
		sims[i].due = t0 + (double) o.cycle * i / o.agents;
	while (now_s() < t_end || inflight > 0) {
		/* One event per wait, as the daemon does: a dispatch may free another source
		 * (curl closes sockets). */
		struct epoll_event ev[1];
		double t = now_s();
		int n;

		if (t < t_end)
			for (unsigned i = 0; i < o.agents; i++)
				if (sims[i].due <= t && !uplink_busy(sims[i].up)) {
					sims[i].due += o.cycle;
					start_checkin(&sims[i]);
				}
		if (t > t_end + 60)
			break;
		n = epoll_wait(epfd, ev, ARRAY_SIZE(ev), 5);
		for (int k = 0; k < n; k++) {
			struct loop_source *src = ev[k].data.ptr;

			src->dispatch(src, ev[k].events);
		}
	}
	offered = (double) o.agents / o.cycle;
	qsort(lat, n_lat, sizeof(*lat), cmp_double);
	printf("agents %u, servers %u, store %s, cycle %u s (the 5-minute check-in, "
	       "compressed), %u cycles\n",
	       o.agents, o.servers, strncmp(o.store, "sqlite:", 7) == 0 ? "sqlite" : "postgres",
	       o.cycle, o.cycles);
	printf("check-ins: %u done, %u failed; %.0f/s held of %.0f/s offered\n", n_checkins,
	       n_failed, n_checkins / (now_s() - t0 > t_end - t0 ? t_end - t0 : now_s() - t0),
	       offered);
	printf("inventory deltas: %u stored, %u failed\n", n_deltas, n_delta_failed);
	if (n_lat)
		printf("check-in latency: p50 %.1f ms, p99 %.1f ms, max %.1f ms "
		       "(goal: p99 < 100 ms) %s\n",
		       lat[n_lat / 2] * 1e3, lat[(size_t) ((double) n_lat * 0.99)] * 1e3,
		       lat[n_lat - 1] * 1e3,
		       lat[(size_t) ((double) n_lat * 0.99)] < 0.1 ? "MET" : "MISSED");
	for (unsigned i = 0; i < o.agents; i++)
		(void) uplink_free(sims[i].up);
	(void) close(epfd);
	if (n_failed > n_checkins / 100)
		r = -EIO;
	return r;
}

static int remove_entry(const char *path, const struct stat *st _unused_, int flag _unused_,
			struct FTW *ftw _unused_)
{
	(void) remove(path);
	return 0;
}

static void remove_tree(const char *path)
{
	(void) nftw(path, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
}

int main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{"agents", required_argument, NULL, 'a'},
		{"cycle", required_argument, NULL, 'c'},
		{"cycles", required_argument, NULL, 'n'},
		{"delta", required_argument, NULL, 'd'},
		{"store", required_argument, NULL, 's'},
		{"servers", required_argument, NULL, 'k'},
		{"server", required_argument, NULL, 'S'},
		{"threads", required_argument, NULL, 't'},
		{0},
	};
	_cleanup_(freep) struct sim *sims = NULL;
	_cleanup_(freep) char *sqlite_url = NULL;
	struct rlimit rl;
	bool servers_given = false;
	int c, rc = 1;

	o = (struct opts){.server = MAMORI_SERVER_PATH,
			  .agents = 10000,
			  .cycle = 10,
			  .cycles = 3,
			  .servers = 1,
			  .threads = 2,
			  .delta = 0.05};
	mm_setup_jansson();
	log_setup("bench-loadgen", LOG_WARNING);
	setvbuf(stdout, NULL, _IOLBF, 0);
	while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		switch (c) {
		case 'a':
			o.agents = (unsigned) strtoul(optarg, NULL, 10);
			break;
		case 'c':
			o.cycle = (unsigned) strtoul(optarg, NULL, 10);
			break;
		case 'n':
			o.cycles = (unsigned) strtoul(optarg, NULL, 10);
			break;
		case 'd':
			o.delta = strtod(optarg, NULL);
			break;
		case 's':
			o.store = optarg;
			break;
		case 'k':
			o.servers = (unsigned) strtoul(optarg, NULL, 10);
			servers_given = true;
			break;
		case 'S':
			o.server = optarg;
			break;
		case 't':
			o.threads = (unsigned) strtoul(optarg, NULL, 10);
			break;
		default:
			fprintf(stderr,
				"usage: bench-loadgen [--agents N] [--cycle S] [--cycles C] "
				"[--delta P] [--store URL] [--servers K] [--server PATH] "
				"[--threads T]\n");
			return 2;
		}
	}
	if (o.store && !servers_given && strncmp(o.store, "sqlite:", 7) != 0)
		o.servers = 2;
	if (o.agents == 0 || o.cycle == 0 || o.cycles == 0 || o.servers == 0 ||
	    o.servers > SERVERS_MAX || o.threads == 0) {
		fprintf(stderr, "bench-loadgen: bad arguments\n");
		return 2;
	}
	if (!mkdtemp(dir))
		return 1;
	if (!o.store) {
		sqlite_url = mm_asprintf("sqlite:%s/store.db", dir);
		o.store = sqlite_url;
	}
	if (o.servers > 1 && strncmp(o.store, "sqlite:", 7) == 0) {
		fprintf(stderr, "bench-loadgen: several servers need a PostgreSQL --store\n");
		return 2;
	}
	/* Each simulated agent holds a socket and a timer. */
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0) {
		rl.rlim_cur = rl.rlim_max;
		(void) setrlimit(RLIMIT_NOFILE, &rl);
	}
	sims = mm_calloc(o.agents, sizeof(*sims));
	cap_lat = (size_t) o.agents * (o.cycles + 1);
	lat = mm_calloc(cap_lat, sizeof(*lat));
	if (!sims || !lat || curl_global_init(CURL_GLOBAL_DEFAULT) != 0)
		goto out;
	if (setup(sims) < 0)
		goto out;
	for (unsigned k = 0; k < o.servers; k++)
		if (start_server(k) < 0)
			goto out;
	rc = run(sims) < 0 ? 1 : 0;
out:
	stop_servers();
	mm_free(lat);
	remove_tree(dir);
	return rc;
}
