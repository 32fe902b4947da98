/*
 * mamori-server: startup, signals and shutdown. The order matters: configuration (file,
 * then flags over it), the state directory, the CA and server certificate (refusing
 * world-readable keys), the store, the bootstrap admin token, and only then the
 * listening sockets, so a server that cannot work never accepts a connection.
 *
 * Signals are blocked before any thread starts and taken by sigwaitinfo() here, so
 * libmicrohttpd's workers and the job thread (jobs.c) never see them. SIGTERM or SIGINT: stop
 * accepting, let requests already received finish (up to shutdown_timeout), stop the listeners,
 * close the store, exit 0. SIGHUP: reload the guideline catalogue (the built-in one and the
 * catalogue files of the configuration); on any error the previous catalogue stays in force
 * and every error is logged with its file:line. Bad use of the command line prints one line
 * and exits 2.
 */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "config.h"
#include "lib/log.h"
#include "lib/mm.h"
#include "lib/str.h"
#include "server/compliance.h"
#include "server/server.h"

#define EXIT_USAGE 2

static _printf_(1, 2) int usage_error(const char *fmt, ...)
{
	va_list ap;

	fputs("mamori-server: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	return EXIT_USAGE;
}

static void print_help(void)
{
	printf("Usage: mamori-server [--config FILE] [--state-dir DIR] [--agent-listen HOST:PORT]\n"
	       "                     [--api-listen HOST:PORT] [--store URL] [--name NAME]...\n"
	       "                     [--log-level LEVEL] [--catalog FILE]...\n"
	       "       mamori-server --version | --help\n"
	       "\n"
	       "  --config FILE           read settings from FILE (flags override it)\n"
	       "  --state-dir DIR         CA, keys, admin token, default store "
	       "(/var/lib/mamori-server)\n"
	       "  --agent-listen ADDR     agent API, mutual TLS (0.0.0.0:8443)\n"
	       "  --api-listen ADDR       admin API (127.0.0.1:8444)\n"
	       "  --store URL             sqlite:PATH or postgresql://… (sqlite:DIR/store.db)\n"
	       "  --name NAME             a name of the server certificate; repeatable\n"
	       "                          (localhost, 127.0.0.1, ::1 and the host name)\n"
	       "  --log-level LEVEL       error, warning, notice, info or debug (info)\n"
	       "  --catalog FILE          a guideline catalogue override, after the built-in "
	       "one;\n"
	       "                          repeatable (docs/catalog.md); SIGHUP reloads them\n"
	       "See docs/server.md, docs/protocol.md and docs/api.md.\n");
}

static int default_names(struct config *cfg)
{
	const char *names[] = {"localhost", "127.0.0.1", "::1"};
	char host[256], err[256];

	for (size_t i = 0; i < ARRAY_SIZE(names); i++)
		if (config_set(cfg, "name", names[i], err, sizeof(err)) < 0)
			return -ENOMEM;
	if (gethostname(host, sizeof(host)) == 0) {
		host[sizeof(host) - 1] = '\0';
		/* A host name that is no valid DNS name is simply left out. */
		if (config_set(cfg, "name", host, err, sizeof(err)) == -ENOMEM)
			return -ENOMEM;
	}
	return 0;
}

static int prepare_state_dir(const char *dir)
{
	struct stat st;

	if (mkdir(dir, 0700) < 0 && errno != EEXIST) {
		log_error("(M3002) cannot create the state directory %s: %s", dir, strerror(errno));
		return -errno;
	}
	if (stat(dir, &st) < 0 || !S_ISDIR(st.st_mode)) {
		log_error("(M3002) the state directory %s is not a directory", dir);
		return -ENOTDIR;
	}
	return 0;
}

/*
 * Loads the catalogue: built-in, then the configuration's files. Every problem is logged
 * with file:line. Returns 0 with *ret, or -EINVAL / -ENOMEM (nothing to use).
 */
static int load_catalog(const struct config *cfg, struct catalog **ret)
{
	struct diag d;
	int r;

	diag_init(&d);
	r = compliance_catalog_load((const char *const *) cfg->catalogs, cfg->n_catalogs, ret, &d);
	for (size_t i = 0; i < d.n; i++) {
		_cleanup_(freep) char *line = diag_format(&d.entries[i]);

		if (d.entries[i].severity == DIAG_ERROR)
			log_error("(M3040) catalogue: %s", line ? line : "out of memory");
		else
			log_warning("(M3040) catalogue: %s", line ? line : "out of memory");
	}
	if (r < 0)
		log_error("(M3040) catalogue: %zu error(s)%s", d.n_errors,
			  r == -ENOMEM ? " (out of memory)" : "");
	diag_done(&d);
	return r;
}

/* SIGHUP: a new catalogue replaces the old one only when it loads without an error. */
static void reload_catalog(struct server *srv)
{
	struct catalog *cat = NULL;
	size_t n = 0;
	int r = load_catalog(srv->cfg, &cat);

	if (r < 0) {
		log_error("(M3042) SIGHUP: the catalogue was not reloaded; the previous one stays "
			  "in force");
		return;
	}
	for (size_t i = 0; i < cat->n; i++)
		n += streq(cat->stanzas[i].kind, "Measure") && !catalog_disabled(&cat->stanzas[i]);
	r = compliance_set_catalog(srv->compliance, cat, (int64_t) time(NULL));
	if (r < 0)
		log_error(
			"(M3043) SIGHUP: the catalogue (%zu measures) is in force, but re-scoring "
			"the hosts failed: %s",
			n, strerror(-r));
	else
		log_notice("(M3041) SIGHUP: catalogue reloaded, %zu measures in force; hosts "
			   "re-scored",
			   n);
}

/* Waits for SIGTERM or SIGINT; SIGHUP reloads the catalogue. */
static int wait_for_signal(struct server *srv, const sigset_t *set)
{
	for (;;) {
		siginfo_t si;
		int sig = sigwaitinfo(set, &si);

		if (sig < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if (sig == SIGHUP) {
			reload_catalog(srv);
			continue;
		}
		return sig;
	}
}

static void drain(struct server *srv)
{
	struct timespec tick = {.tv_nsec = 20000000L};
	unsigned ticks = srv->cfg->shutdown_timeout * 50;

	for (unsigned i = 0; atomic_load(&srv->inflight) > 0; i++) {
		if (i >= ticks) {
			log_warning("(M3008) %u requests did not finish within %us; closing them",
				    atomic_load(&srv->inflight), srv->cfg->shutdown_timeout);
			return;
		}
		(void) nanosleep(&tick, NULL);
	}
}

struct flag {
	const char *key; /* a config_set() key */
	const char *value;
};

static int run(struct config *cfg)
{
	_cleanup_(store_freep) struct store *store = NULL;
	_cleanup_(ca_freep) struct ca *ca = NULL;
	_cleanup_(compliance_freep) struct compliance *engine = NULL;
	struct catalog *cat = NULL;
	_cleanup_(freep) char *store_url = NULL, *token_path = NULL;
	struct http_daemon *agent = NULL, *admin = NULL;
	struct jobs *jobs = NULL;
	struct server srv = {.cfg = cfg};
	char err[512], bound[96];
	sigset_t set;
	int r, sig;

	if (prepare_state_dir(cfg->state_dir) < 0)
		return EXIT_FAILURE;
	token_path = mm_asprintf("%s/admin.token", cfg->state_dir);
	if (!token_path)
		return EXIT_FAILURE;
	if (access(token_path, F_OK) == 0 && ca_check_secrecy(token_path, err, sizeof(err)) < 0) {
		log_error("(M3023) refusing to start: %s", err);
		return EXIT_FAILURE;
	}
	r = ca_open(cfg->state_dir, (const char *const *) cfg->names, cfg->n_names,
		    (int64_t) time(NULL), &ca, err, sizeof(err));
	if (r == -EPERM) {
		log_error("(M3023) refusing to start: %s", err);
		return EXIT_FAILURE;
	}
	if (r < 0) {
		log_error("(M3020) cannot set up the certificate authority: %s",
			  r == -ENOMEM ? "out of memory" : err);
		return EXIT_FAILURE;
	}
	log_info("(M3021) CA certificate fingerprint (SHA-256): %s", ca_fingerprint(ca));
	store_url = cfg->store_url ? mm_strdup(cfg->store_url)
				   : mm_asprintf("sqlite:%s/store.db", cfg->state_dir);
	if (!store_url)
		return EXIT_FAILURE;
	r = store_open(store_url, &store);
	if (r < 0) {
		log_error("(M3030) cannot open the store %s: %s", store_url, strerror(-r));
		return EXIT_FAILURE;
	}
	srv.store = store;
	srv.ca = ca;
	if (auth_bootstrap(&srv) < 0)
		return EXIT_FAILURE;
	if (load_catalog(cfg, &cat) < 0) {
		log_error("(M3040) refusing to start: fix the catalogue files named above");
		return EXIT_FAILURE;
	}
	if (compliance_new(store, cat, &engine) < 0)
		return EXIT_FAILURE;
	srv.compliance = engine;
	{
		/* the stored scores may come from another catalogue or an older server */
		size_t hosts = 0;
		time_t t0 = time(NULL);

		r = compliance_recompute(engine, (int64_t) t0, &hosts, NULL);
		if (r < 0)
			log_warning("(M3044) scoring the hosts at startup failed: %s",
				    strerror(-r));
		else
			log_info("(M3044) %zu hosts scored against the catalogue in %llds", hosts,
				 (long long) (time(NULL) - t0));
	}

	/* Block the signals before libmicrohttpd starts its threads, which inherit the mask. */
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGHUP);
	(void) pthread_sigmask(SIG_BLOCK, &set, NULL);
	(void) signal(SIGPIPE, SIG_IGN);

	r = http_start(&srv, HTTP_API_AGENT, cfg->agent_listen, &agent, bound, sizeof(bound), err,
		       sizeof(err));
	if (r < 0) {
		log_error("(M3004) agent API: %s", err);
		return EXIT_FAILURE;
	}
	log_notice("(M3003) agent API listening on %s", bound);
	r = http_start(&srv, HTTP_API_ADMIN, cfg->api_listen, &admin, bound, sizeof(bound), err,
		       sizeof(err));
	if (r < 0) {
		log_error("(M3004) admin API: %s", err);
		(void) http_stop(agent);
		return EXIT_FAILURE;
	}
	log_notice("(M3003) admin API listening on %s", bound);
	r = jobs_start(&srv, &jobs);
	if (r < 0) {
		log_error("(M3041) cannot start the background jobs: %s", strerror(-r));
		(void) http_stop(agent);
		(void) http_stop(admin);
		return EXIT_FAILURE;
	}
	log_notice("(M3000) mamori-server %s ready", MAMORI_VERSION);

	sig = wait_for_signal(&srv, &set);
	log_notice("(M3006) %s: stopping; finishing the requests in progress",
		   sig > 0 ? strsignal(sig) : "signal wait failed");
	http_quiesce(agent);
	http_quiesce(admin);
	drain(&srv);
	(void) http_stop(agent);
	(void) http_stop(admin);
	(void) jobs_stop(jobs);
	log_notice("(M3007) stopped");
	return sig > 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{"config", required_argument, NULL, 'c'},
		{"state-dir", required_argument, NULL, 's'},
		{"agent-listen", required_argument, NULL, 'a'},
		{"api-listen", required_argument, NULL, 'p'},
		{"store", required_argument, NULL, 'S'},
		{"name", required_argument, NULL, 'n'},
		{"log-level", required_argument, NULL, 'l'},
		{"catalog", required_argument, NULL, 'C'},
		{"help", no_argument, NULL, 'h'},
		{"version", no_argument, NULL, 'V'},
		{0},
	};
	_cleanup_(freep) struct flag *flags = NULL;
	const char *config_path = NULL;
	struct config cfg;
	struct diag d;
	size_t n_flags = 0;
	bool names_given = false;
	char err[512];
	int c, r;

	mm_setup_jansson();
	log_setup("mamori-server", LOG_INFO);
	flags = mm_calloc((size_t) argc + 1, sizeof(*flags));
	if (!flags)
		return EXIT_FAILURE;
	opterr = 0;
	while ((c = getopt_long(argc, argv, ":h", opts, NULL)) != -1) {
		const char *key = NULL;

		switch (c) {
		case 'c':
			config_path = optarg;
			break;
		case 's':
			key = "state_dir";
			break;
		case 'a':
			key = "agent_listen";
			break;
		case 'p':
			key = "api_listen";
			break;
		case 'S':
			key = "store";
			break;
		case 'n':
			key = "name";
			break;
		case 'l':
			key = "log_level";
			break;
		case 'C':
			key = "catalog";
			break;
		case 'h':
			print_help();
			return EXIT_SUCCESS;
		case 'V':
			printf("mamori-server %s\n", MAMORI_VERSION);
			return EXIT_SUCCESS;
		case ':':
			return usage_error("option '%s' needs a value", argv[optind - 1]);
		default:
			return usage_error("unknown option '%s' (see --help)", argv[optind - 1]);
		}
		if (key)
			flags[n_flags++] = (struct flag){key, optarg};
	}
	if (optind < argc)
		return usage_error("unexpected argument '%s' (see --help)", argv[optind]);

	if (config_init(&cfg) < 0)
		return EXIT_FAILURE;
	diag_init(&d);
	if (config_path) {
		r = config_load(&cfg, config_path, &d);
		for (size_t i = 0; i < d.n; i++) {
			_cleanup_(freep) char *line = diag_format(&d.entries[i]);

			log_error("(M3001) %s", line ? line : "out of memory");
		}
		if (r < 0) {
			log_error("(M3001) %zu error(s) in %s: not starting", d.n_errors,
				  config_path);
			diag_done(&d);
			config_done(&cfg);
			return EXIT_FAILURE;
		}
	}
	diag_done(&d);
	for (size_t i = 0; i < n_flags; i++) {
		if (streq(flags[i].key, "name") && !names_given) {
			config_clear_names(&cfg);
			names_given = true;
		}
		r = config_set(&cfg, flags[i].key, flags[i].value, err, sizeof(err));
		if (r < 0) {
			char opt[32];
			size_t k;

			/* The flag's name is the setting's with '-' for '_'. */
			for (k = 0; flags[i].key[k] && k + 1 < sizeof(opt); k++)
				opt[k] = flags[i].key[k] == '_' ? '-' : flags[i].key[k];
			opt[k] = '\0';
			config_done(&cfg);
			return r == -ENOMEM ? EXIT_FAILURE : usage_error("--%s: %s", opt, err);
		}
	}
	if (cfg.n_names == 0 && default_names(&cfg) < 0) {
		config_done(&cfg);
		return EXIT_FAILURE;
	}
	log_setup("mamori-server", cfg.log_level);
	r = run(&cfg);
	config_done(&cfg);
	return r;
}
