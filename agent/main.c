/*
 * mamori-agent: the endpoint program. One binary, several verbs:
 *   inventory   print this endpoint's inventory (or the difference of two)
 *   enroll      join a server (enroll.c)
 *   run         the daemon (daemon.c)
 *   status      what the daemon and its spool are doing
 *   emit        spool test events (an event source for tests)
 * Bad use prints one line saying what is wrong and exits 2 (docs/agent.md).
 */
#include <ctype.h>
#include <errno.h>
#include <getopt.h>
#include <grp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <inttypes.h>
#include <signal.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "agent/agent.h"
#include "agent/daemon.h"
#include "agent/monitors.h"
#include "agent/selfcheck.h"
#include "config.h"
#include "lib/fileio.h"
#include "lib/invdiff.h"
#include "lib/jsonw.h"
#include "lib/limits.h"
#include "lib/log.h"
#include "lib/mm.h"
#include "lib/str.h"

#define EXIT_USAGE 2

static _printf_(1, 2) int usage_error(const char *fmt, ...)
{
	va_list ap;

	fputs("mamori-agent: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	return EXIT_USAGE;
}

static void print_help(void)
{
	printf("Usage: mamori-agent inventory [--root DIR] [--format json|text]\n"
	       "       mamori-agent inventory --diff OLD.json NEW.json\n"
	       "       mamori-agent enroll --server URL --token TOKEN --state-dir DIR\n"
	       "                           [--ca-fingerprint SHA256] [--force]\n"
	       "       mamori-agent run --state-dir DIR [--root DIR] [--spool-max SIZE]\n"
	       "                        [--log-level LEVEL]\n"
	       "       mamori-agent status --state-dir DIR [--json]\n"
	       "       mamori-agent status --collection [--state-dir DIR] [--lang ja|en]\n"
	       "       mamori-agent emit --state-dir DIR --type TYPE [--count N] [--data JSON]\n"
	       "       mamori-agent --version\n");
}

static int load_doc(const char *path, json_t **ret)
{
	_cleanup_(freep) char *text = NULL;
	struct jsonw_error err = {{0}};
	size_t len;
	int r;

	r = fileio_read(NULL, path, LIMIT_INVENTORY_DOC, &text, &len);
	if (r < 0) {
		fprintf(stderr, "mamori-agent: cannot read %s: %s\n", path, strerror(-r));
		return r;
	}
	r = jsonw_parse(text, len, LIMIT_INVENTORY_DOC, ret, &err);
	if (r < 0) {
		fprintf(stderr, "mamori-agent: %s: %s\n", path,
			r == -ENOMEM ? "out of memory" : err.text);
		return r;
	}
	return 0;
}

static int cmd_diff(const char *old_path, const char *new_path)
{
	_cleanup_(json_decrefp) json_t *old_doc = NULL, *new_doc = NULL, *delta = NULL;
	int r;

	if (load_doc(old_path, &old_doc) < 0 || load_doc(new_path, &new_doc) < 0)
		return EXIT_USAGE;
	r = invdiff_compute(old_doc, new_doc, &delta);
	if (r < 0) {
		fprintf(stderr, "mamori-agent: cannot compare the documents: %s\n", strerror(-r));
		return EXIT_FAILURE;
	}
	if (json_dumpf(delta, stdout, JSON_INDENT(2) | JSON_SORT_KEYS) < 0)
		return EXIT_FAILURE;
	fputc('\n', stdout);
	return EXIT_SUCCESS;
}

static int cmd_inventory(int argc, char **argv)
{
	static const struct option opts[] = {
		{"root", required_argument, NULL, 'r'},
		{"format", required_argument, NULL, 'f'},
		{"diff", no_argument, NULL, 'd'},
		{"help", no_argument, NULL, 'h'},
		{0},
	};
	const char *root = "/", *format = "json";
	_cleanup_(json_decrefp) json_t *doc = NULL;
	struct col_ctx ctx;
	struct stat st;
	bool diff = false, readable;
	int c;

	opterr = 0;
	while ((c = getopt_long(argc, argv, "+:", opts, NULL)) != -1) {
		switch (c) {
		case 'r':
			root = optarg;
			break;
		case 'f':
			format = optarg;
			break;
		case 'd':
			diff = true;
			break;
		case 'h':
			print_help();
			return EXIT_SUCCESS;
		case ':':
			return usage_error("option '%s' needs a value", argv[optind - 1]);
		default:
			return usage_error("unknown option '%s' (see --help)", argv[optind - 1]);
		}
	}
	if (diff) {
		if (argc - optind != 2)
			return usage_error("--diff needs two files: OLD.json NEW.json");
		return cmd_diff(argv[optind], argv[optind + 1]);
	}
	if (optind < argc)
		return usage_error("unexpected argument '%s'", argv[optind]);
	if (!streq(format, "json") && !streq(format, "text"))
		return usage_error("--format must be json or text, not '%s'", format);
	if (stat(root, &st) < 0)
		return usage_error("cannot use --root %s: %s", root, strerror(errno));
	if (!S_ISDIR(st.st_mode))
		return usage_error("cannot use --root %s: not a directory", root);
	if (access(root, R_OK | X_OK) < 0)
		return usage_error("cannot use --root %s: %s", root, strerror(errno));

	ctx = (struct col_ctx){.root = root, .now = (int64_t) time(NULL)};
	doc = inventory_collect(&ctx, &readable);
	if (!doc) {
		fputs("mamori-agent: out of memory while collecting the inventory\n", stderr);
		return EXIT_FAILURE;
	}
	if (streq(format, "text")) {
		if (inventory_print_text(doc, stdout) < 0)
			return EXIT_FAILURE;
	} else {
		if (json_dumpf(doc, stdout, JSON_INDENT(2) | JSON_SORT_KEYS) < 0)
			return EXIT_FAILURE;
		fputc('\n', stdout);
	}
	if (fflush(stdout) != 0)
		return EXIT_FAILURE;
	if (!readable) {
		fprintf(stderr, "mamori-agent: nothing could be read under %s\n", root);
		return EXIT_FAILURE;
	}
	return EXIT_SUCCESS;
}

static int cmd_enroll(int argc, char **argv)
{
	static const struct option opts[] = {
		{"server", required_argument, NULL, 's'},
		{"token", required_argument, NULL, 't'},
		{"state-dir", required_argument, NULL, 'd'},
		{"ca-fingerprint", required_argument, NULL, 'f'},
		{"force", no_argument, NULL, 'F'},
		{"help", no_argument, NULL, 'h'},
		{0},
	};
	struct enroll_options o = {0};
	int c;

	opterr = 0;
	while ((c = getopt_long(argc, argv, "+:", opts, NULL)) != -1) {
		switch (c) {
		case 's':
			o.server = optarg;
			break;
		case 't':
			o.token = optarg;
			break;
		case 'd':
			o.state_dir = optarg;
			break;
		case 'f':
			o.ca_fingerprint = optarg;
			break;
		case 'F':
			o.force = true;
			break;
		case 'h':
			print_help();
			return EXIT_SUCCESS;
		case ':':
			return usage_error("option '%s' needs a value", argv[optind - 1]);
		default:
			return usage_error("unknown option '%s' (see --help)", argv[optind - 1]);
		}
	}
	if (optind < argc)
		return usage_error("unexpected argument '%s'", argv[optind]);
	if (!o.server || !o.token || !o.state_dir)
		return usage_error("enroll needs --server, --token and --state-dir");
	return enroll_main(&o);
}

static int cmd_run(int argc, char **argv)
{
	static const struct option opts[] = {
		{"state-dir", required_argument, NULL, 'd'},
		{"root", required_argument, NULL, 'r'},
		{"spool-max", required_argument, NULL, 'm'},
		{"log-level", required_argument, NULL, 'l'},
		{"help", no_argument, NULL, 'h'},
		{0},
	};
	struct daemon_options o = {.root = "/", .log_level = -1};
	int c;

	opterr = 0;
	while ((c = getopt_long(argc, argv, "+:", opts, NULL)) != -1) {
		switch (c) {
		case 'd':
			o.state_dir = optarg;
			break;
		case 'r':
			o.root = optarg;
			break;
		case 'm':
			if (state_size_parse(optarg, &o.spool_max) < 0 ||
			    o.spool_max < AGENT_SPOOL_MAX_MIN || o.spool_max > AGENT_SPOOL_MAX_MAX)
				return usage_error("--spool-max must be a size between 16K and 64G,"
						   " like 256M, not '%s'",
						   optarg);
			break;
		case 'l':
			o.log_level = log_level_from_string(optarg);
			if (o.log_level < 0)
				return usage_error(
					"--log-level must be error, warning, notice, info"
					" or debug");
			break;
		case 'h':
			print_help();
			return EXIT_SUCCESS;
		case ':':
			return usage_error("option '%s' needs a value", argv[optind - 1]);
		default:
			return usage_error("unknown option '%s' (see --help)", argv[optind - 1]);
		}
	}
	if (optind < argc)
		return usage_error("unexpected argument '%s'", argv[optind]);
	if (!o.state_dir)
		return usage_error("run needs --state-dir");
	return daemon_main(&o);
}

static void print_time(const char *label, int64_t t, int64_t now)
{
	char when[32];
	struct tm tm;
	time_t tt = (time_t) t;

	if (t <= 0) {
		printf("%-16s never\n", label);
		return;
	}
	(void) localtime_r(&tt, &tm);
	(void) strftime(when, sizeof(when), "%Y-%m-%d %H:%M:%S", &tm);
	if (t <= now)
		printf("%-16s %s (%" PRId64 " s ago)\n", label, when, now - t);
	else
		printf("%-16s %s (in %" PRId64 " s)\n", label, when, t - now);
}

static void print_fingerprint(const char *hex)
{
	for (size_t i = 0; i < 64; i += 2)
		printf("%s%c%c", i ? ":" : "", toupper((unsigned char) hex[i]),
		       toupper((unsigned char) hex[i + 1]));
}

static int cmd_status(int argc, char **argv)
{
	static const struct option opts[] = {
		{"state-dir", required_argument, NULL, 'd'},
		{"json", no_argument, NULL, 'j'},
		{"help", no_argument, NULL, 'h'},
		{0},
	};
	_cleanup_(freep) char *ca_path = NULL, *status_path = NULL, *spool_path = NULL;
	_cleanup_(freep) char *ca = NULL, *text = NULL;
	_cleanup_(spool_freep) struct spool *sp = NULL;
	_cleanup_(json_decrefp) json_t *out = NULL;
	struct agent_conf conf = {0};
	struct agent_status st = {0};
	struct spool_stats ss = {0};
	struct jsonw_error err;
	const char *dir = NULL;
	bool json = false, enrolled, have_status = false, have_spool = false, running = false;
	char fp[65] = "";
	int64_t now = (int64_t) time(NULL);
	size_t len;
	int c, r;

	opterr = 0;
	while ((c = getopt_long(argc, argv, "+:", opts, NULL)) != -1) {
		switch (c) {
		case 'd':
			dir = optarg;
			break;
		case 'j':
			json = true;
			break;
		case 'h':
			print_help();
			return EXIT_SUCCESS;
		case ':':
			return usage_error("option '%s' needs a value", argv[optind - 1]);
		default:
			return usage_error("unknown option '%s' (see --help)", argv[optind - 1]);
		}
	}
	if (optind < argc)
		return usage_error("unexpected argument '%s'", argv[optind]);
	if (!dir)
		return usage_error("status needs --state-dir");
	if (access(dir, R_OK | X_OK) < 0) {
		fprintf(stderr,
			"mamori-agent: cannot read %s: %s (run as root or as the agent's user)\n",
			dir, strerror(errno));
		return EXIT_FAILURE;
	}
	ca_path = state_path(dir, STATE_CA);
	status_path = state_path(dir, STATE_STATUS);
	spool_path = state_path(dir, STATE_SPOOL);
	if (!ca_path || !status_path || !spool_path)
		return EXIT_FAILURE;

	enrolled = state_conf_load(dir, &conf) == 0;
	if (fileio_read(NULL, ca_path, LIMIT_PEM, &ca, &len) == 0 &&
	    state_cert_fingerprint(ca, len, fp) < 0)
		fp[0] = '\0';
	if (fileio_read(NULL, status_path, LIMIT_CONFIG_FILE, &text, &len) == 0) {
		r = state_status_parse(text, len, &st, &err);
		if (r < 0)
			fprintf(stderr, "mamori-agent: %s: %s\n", status_path,
				r == -EBADMSG ? err.text : strerror(-r));
		have_status = r == 0;
	}
	/* running = the daemon said so and its process is still there. */
	running = have_status && st.running && st.pid > 0 &&
		  (kill((pid_t) st.pid, 0) == 0 || errno == EPERM);
	if (spool_open(spool_path, 0, true, &sp) == 0 && spool_stats(sp, &ss) == 0)
		have_spool = true;

	if (json) {
		out = json_pack("{s:b, s:s?, s:s?, s:s?, s:b}", "enrolled", enrolled, "server",
				conf.server, "host_id", conf.host_id, "ca_fingerprint",
				fp[0] ? fp : NULL, "running", running);
		if (out && have_status &&
		    jsonw_set(out, "daemon",
			      json_pack("{s:I, s:I, s:I, s:I, s:I, s:I, s:s, s:I}", "pid",
					(json_int_t) st.pid, "last_checkin",
					(json_int_t) st.last_checkin, "last_upload",
					(json_int_t) st.last_upload, "next_checkin",
					(json_int_t) (running ? st.next_checkin : 0),
					"backoff_until", (json_int_t) st.backoff_until, "failures",
					(json_int_t) st.failures, "last_error", st.last_error,
					"updated", (json_int_t) st.updated)) < 0)
			return EXIT_FAILURE;
		if (out && have_spool &&
		    jsonw_set(out, "spool",
			      json_pack("{s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I}", "depth",
					(json_int_t) ss.depth, "events", (json_int_t) ss.events,
					"bytes", (json_int_t) ss.bytes, "max_bytes",
					(json_int_t) ss.max_bytes, "last_seq",
					(json_int_t) ss.last_seq, "acked_seq",
					(json_int_t) ss.acked_seq, "evicted_total",
					(json_int_t) ss.evicted_total, "evicted_bytes_total",
					(json_int_t) ss.evicted_bytes_total, "evicted_unreported",
					(json_int_t) ss.evicted_unreported)) < 0)
			return EXIT_FAILURE;
		if (!out || json_dumpf(out, stdout, JSON_INDENT(2) | JSON_SORT_KEYS) < 0)
			return EXIT_FAILURE;
		fputc('\n', stdout);
	} else {
		if (enrolled)
			printf("%-16s yes, as host %s\n%-16s %s\n", "enrolled:", conf.host_id,
			       "server:", conf.server);
		else
			printf("%-16s no (run `mamori-agent enroll`)\n", "enrolled:");
		if (fp[0]) {
			printf("%-16s ", "CA (SHA-256):");
			print_fingerprint(fp);
			printf("\n");
		}
		if (!have_status)
			printf("%-16s has never run with this state directory\n", "daemon:");
		else if (running)
			printf("%-16s running (pid %" PRId64 ")\n", "daemon:", st.pid);
		else
			printf("%-16s not running\n", "daemon:");
		if (have_status) {
			print_time("last check-in:", st.last_checkin, now);
			print_time("last upload:", st.last_upload, now);
			if (running)
				print_time("next check-in:", st.next_checkin, now);
			if (st.failures > 0)
				printf("%-16s %" PRId64 " failures in a row; last: %s\n",
				       "trouble:", st.failures, st.last_error);
		}
		if (have_spool) {
			printf("%-16s %" PRIu64 " entries (%" PRIu64 " events), %" PRIu64
			       " bytes of %" PRIu64 "\n",
			       "spool:", ss.depth, ss.events, ss.bytes, ss.max_bytes);
			printf("%-16s last %" PRIu64 ", acknowledged up to %" PRIu64 "\n",
			       "sequence:", ss.last_seq, ss.acked_seq);
			printf("%-16s %" PRIu64 " entries, %" PRIu64 " bytes in all; %" PRIu64
			       " not yet reported\n",
			       "evicted:", ss.evicted_total, ss.evicted_bytes_total,
			       ss.evicted_unreported);
		} else {
			printf("%-16s empty (no spool yet)\n", "spool:");
		}
	}
	state_conf_done(&conf);
	return enrolled ? EXIT_SUCCESS : EXIT_FAILURE;
}

/* emit writes the spool as the state directory's owner, so that SQLite's files stay the
 * worker's when the daemon runs privilege-separated (docs/internals/privsep.md). */
static int become_owner(const char *dir)
{
	struct stat st;

	if (geteuid() != 0 || stat(dir, &st) < 0 || st.st_uid == 0)
		return 0;
	if (setgroups(0, NULL) < 0 || setresgid(st.st_gid, st.st_gid, st.st_gid) < 0 ||
	    setresuid(st.st_uid, st.st_uid, st.st_uid) < 0)
		return -errno;
	return 0;
}

/* Wakes the daemon, if it runs; it would find the events at its next check-in anyway. */
static void poke(const char *dir)
{
	_cleanup_(freep) char *path = state_path(dir, STATE_CONTROL);
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	_cleanup_(closep) int fd = -1;

	if (!path || strlen(path) >= sizeof(sa.sun_path))
		return;
	memcpy(sa.sun_path, path, strlen(path) + 1);
	fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd >= 0)
		(void) sendto(fd, "events", 6, MSG_NOSIGNAL, (struct sockaddr *) &sa, sizeof(sa));
}

static int cmd_emit(int argc, char **argv)
{
	static const struct option opts[] = {
		{"state-dir", required_argument, NULL, 'd'},
		{"type", required_argument, NULL, 't'},
		{"count", required_argument, NULL, 'n'},
		{"data", required_argument, NULL, 'D'},
		{"spool-max", required_argument, NULL, 'm'},
		{"help", no_argument, NULL, 'h'},
		{0},
	};
	_cleanup_(spool_freep) struct spool *sp = NULL;
	_cleanup_(json_decrefp) json_t *base = NULL;
	_cleanup_(freep) char *spool_path = NULL;
	struct spool_event *ev = NULL;
	char **texts = NULL;
	const char *dir = NULL, *type = NULL, *data = NULL;
	uint64_t max = 0, first = 0;
	unsigned count = 1;
	struct stat st;
	int c, r, rc = EXIT_FAILURE;

	opterr = 0;
	while ((c = getopt_long(argc, argv, "+:", opts, NULL)) != -1) {
		switch (c) {
		case 'd':
			dir = optarg;
			break;
		case 't':
			type = optarg;
			break;
		case 'n':
			if (str_to_uint(optarg, 10, &count) < 0 || count < 1 || count > 100000)
				return usage_error("--count must be 1 to 100000");
			break;
		case 'D':
			data = optarg;
			break;
		case 'm':
			if (state_size_parse(optarg, &max) < 0 || max < AGENT_SPOOL_MAX_MIN)
				return usage_error("--spool-max must be a size of at least 16K");
			break;
		case 'h':
			print_help();
			return EXIT_SUCCESS;
		case ':':
			return usage_error("option '%s' needs a value", argv[optind - 1]);
		default:
			return usage_error("unknown option '%s' (see --help)", argv[optind - 1]);
		}
	}
	if (optind < argc)
		return usage_error("unexpected argument '%s'", argv[optind]);
	if (!dir || !type)
		return usage_error("emit needs --state-dir and --type");
	if (stat(dir, &st) < 0 || !S_ISDIR(st.st_mode))
		return usage_error("cannot use --state-dir %s: not a directory", dir);
	if (data) {
		base = json_loads(data, 0, NULL);
		if (!json_is_object(base))
			return usage_error("--data must be a JSON object");
	} else {
		base = json_object();
		if (!base)
			return EXIT_FAILURE;
	}
	if (become_owner(dir) < 0) {
		fprintf(stderr, "mamori-agent: cannot become the owner of %s: %s\n", dir,
			strerror(errno));
		return EXIT_FAILURE;
	}
	/* max 0: the bound the daemon set (--spool-max only for tests without a daemon). */
	spool_path = state_path(dir, STATE_SPOOL);
	if (!spool_path)
		return EXIT_FAILURE;
	r = spool_open(spool_path, max, false, &sp);
	if (r < 0) {
		fprintf(stderr, "mamori-agent: cannot open the spool in %s: %s\n", dir,
			strerror(-r));
		return EXIT_FAILURE;
	}
	{
		/* an enrolled state directory: the events chain to its host (unenrolled, they
		 * are linked again when the daemon first starts) */
		struct agent_conf conf = {0};

		if (access(dir, F_OK) == 0 && state_conf_load(dir, &conf) == 0) {
			r = spool_chain_start(sp, conf.host_id);
			state_conf_done(&conf);
			if (r < 0) {
				fprintf(stderr, "mamori-agent: cannot start the event chain: %s\n",
					strerror(-r));
				return EXIT_FAILURE;
			}
		}
	}
	ev = mm_calloc(count, sizeof(*ev));
	texts = mm_calloc(count, sizeof(*texts));
	if (!ev || !texts)
		goto out;
	for (unsigned i = 0; i < count; i++) {
		struct timespec ts;

		if (jsonw_set(base, "n", json_integer(i + 1)) < 0)
			goto out;
		texts[i] = jsonw_dump(base);
		if (!texts[i])
			goto out;
		(void) clock_gettime(CLOCK_REALTIME, &ts);
		ev[i] = (struct spool_event){.type = type,
					     .time_ms = (int64_t) ts.tv_sec * 1000 +
							ts.tv_nsec / 1000000,
					     .data = texts[i]};
	}
	r = spool_add_events(sp, ev, count, &first);
	if (r == -EINVAL) {
		fprintf(stderr, "mamori-agent: --type must be [a-z0-9_.], at most %u bytes\n",
			LIMIT_EVENT_TYPE);
		rc = EXIT_USAGE;
		goto out;
	}
	if (r < 0) {
		fprintf(stderr, "mamori-agent: cannot spool the events: %s\n", strerror(-r));
		goto out;
	}
	printf("spooled %u events, seq %" PRIu64 "-%" PRIu64 "\n", count, first, first + count - 1);
	poke(dir);
	rc = EXIT_SUCCESS;
out:
	if (texts)
		for (unsigned i = 0; i < count; i++)
			mm_free(texts[i]);
	mm_free(texts);
	mm_free(ev);
	return rc;
}

int main(int argc, char **argv)
{
	const char *verb;

	mm_setup_jansson();
	log_setup("mamori-agent", LOG_INFO);
	if (argc < 2)
		return usage_error("a command is needed: inventory, enroll, run, status or emit"
				   " (see --help)");
	verb = argv[1];
	if (streq(verb, "--help") || streq(verb, "-h") || streq(verb, "help")) {
		print_help();
		return EXIT_SUCCESS;
	}
	if (streq(verb, "--version")) {
		printf("mamori-agent %s\n", MAMORI_VERSION);
		return EXIT_SUCCESS;
	}
	if (streq(verb, "status") && selfcheck_wanted(argc - 1, argv + 1))
		return selfcheck_run(argc - 1, argv + 1);
	if (streq(verb, "inventory"))
		return cmd_inventory(argc - 1, argv + 1);
	/* what this machine's policy collects, in plain words (agent/collection.c) */
	for (int i = 2; streq(verb, "status") && i < argc; i++)
		if (streq(argv[i], "--collection"))
			return collection_status_main(argc - 1, argv + 1);
	if (streq(verb, "enroll"))
		return cmd_enroll(argc - 1, argv + 1);
	if (streq(verb, "run"))
		return cmd_run(argc - 1, argv + 1);
	if (streq(verb, "status"))
		return cmd_status(argc - 1, argv + 1);
	if (streq(verb, "emit"))
		return cmd_emit(argc - 1, argv + 1);
	return usage_error("unknown command '%s' (see --help)", verb);
}
