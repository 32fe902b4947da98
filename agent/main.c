/*
 * mamori-agent: the endpoint program. One binary, several verbs:
 *   inventory   print this endpoint's inventory (or the difference of two)
 * Bad use prints one line saying what is wrong and exits 2 (docs/agent.md).
 */
#include <errno.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "agent/agent.h"
#include "agent/selfcheck.h"
#include "config.h"
#include "lib/fileio.h"
#include "lib/invdiff.h"
#include "lib/jsonw.h"
#include "lib/limits.h"
#include "lib/log.h"
#include "lib/mm.h"

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

int main(int argc, char **argv)
{
	const char *verb;

	mm_setup_jansson();
	log_setup("mamori-agent", LOG_INFO);
	if (argc < 2)
		return usage_error("a command is needed: inventory (see --help)");
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
	return usage_error("unknown command '%s' (see --help)", verb);
}
