/*
 * mamorictl's commands for the guideline scorecard and the telework-method advisor:
 *   compliance summary | host ID | measure ID [--status S]
 *   attest MEASURE --status S --evidence TEXT [--link URL] --owner NAME [--review-days N]
 *          [--date YYYY-MM-DD]
 *   attestations list [--measure ID]
 *   catalog check FILE…          (offline: no server needed)
 *   advisor [--answer QUESTION=ANSWER]… [--lang ja|en]
 * Each takes --json to print the API's answer. Texts come in the language of LANG
 * (ja… is Japanese) unless --lang says otherwise.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "ctl/ctl.h"
#include "lib/advisor.h"
#include "lib/buf.h"
#include "lib/catalog_builtin.h"
#include "lib/jsonw.h"
#include "lib/mm.h"
#include "lib/str.h"

#define MAX_ANSWERS 32
#define LINE_MAX_IN 256

static const char *lang_env(void)
{
	static const char *const vars[] = {"LC_ALL", "LC_MESSAGES", "LANG"};

	for (size_t i = 0; i < ARRAY_SIZE(vars); i++) {
		const char *v = getenv(vars[i]);

		if (v && *v)
			return str_startswith(v, "ja") ? "ja" : "en";
	}
	return "en";
}

/* A {"ja", "en"} text in the language, falling back to the other one. */
static const char *text(const json_t *pair, const char *lang)
{
	const char *v = json_string_value(json_object_get(pair, lang));

	if (!v)
		v = json_string_value(json_object_get(pair, streq(lang, "ja") ? "en" : "ja"));
	return v ? v : "";
}

static const char *or_else(const char *a, const char *b)
{
	return a ? a : b;
}

/* An id fit for a URL path: letters, digits, '-', '_' and '.'. */
static bool plain_id(const char *id)
{
	return *id && strlen(id) < 64 &&
	       strspn(id, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.") ==
		       strlen(id);
}

static int get(struct ctl *c, const char *path, json_t **ret)
{
	return ctl_call(c, "GET", path, NULL, ret) < 0 ? -EPROTO : 0;
}

static const char *status_word(const char *status, const char *lang)
{
	static const char *const words[][3] = {
		{"met", "実施済み", "met"},
		{"not_met", "未実施", "not met"},
		{"unknown", "不明", "unknown"},
		{"not_applicable", "対象外", "n/a"},
	};

	for (size_t i = 0; status && i < ARRAY_SIZE(words); i++)
		if (streq(status, words[i][0]))
			return words[i][streq(lang, "ja") ? 1 : 2];
	return status ? status : "?";
}

static json_t *pct(const json_t *v)
{
	char b[16];

	if (!json_is_number(v))
		return json_string("-");
	(void) snprintf(b, sizeof(b), "%.1f%%", json_number_value(v));
	return json_string(b);
}

/* One row of the summary's tables, flattened for ctl_print_table(). */
static json_t *score_row(const json_t *g, const char *lang)
{
	const json_t *ch = json_object_get(g, "checks"), *at = json_object_get(g, "attestations");

	return json_pack("{s:O?, s:s, s:O, s:O, s:O, s:O, s:O, s:O, s:o}", "id",
			 json_object_get(g, "id"), "name", text(json_object_get(g, "name"), lang),
			 "met", json_object_get(ch, "met"), "not_met",
			 json_object_get(ch, "not_met"), "unknown", json_object_get(ch, "unknown"),
			 "na", json_object_get(ch, "not_applicable"), "attested",
			 json_object_get(at, "met"), "overdue", json_object_get(at, "overdue"),
			 "percent", pct(json_object_get(g, "percent")));
}

static void print_summary(const json_t *s, const char *lang)
{
	static const char *const cols[] = {"ID",  "NAME",         "MET",     "NOT MET", "UNKNOWN",
					   "N/A", "ATTESTED MET", "OVERDUE", "PERCENT", NULL};
	static const char *const keys[] = {"id", "name",     "met",     "not_met", "unknown",
					   "na", "attested", "overdue", "percent", NULL};
	const json_t *org = json_object_get(s, "organisation");
	_cleanup_(json_decrefp) json_t *cats = json_array(), *roles = json_array(), *p = NULL;
	const json_t *g;
	size_t i;

	p = pct(json_object_get(org, "percent"));
	printf("%s: %s  (%lld hosts; checks: %lld met, %lld not met, %lld unknown; "
	       "attestations overdue: %lld)\n\n",
	       streq(lang, "ja") ? "組織全体" : "Organisation", json_string_value(p),
	       (long long) json_integer_value(json_object_get(s, "hosts")),
	       (long long) json_integer_value(
		       json_object_get(json_object_get(org, "checks"), "met")),
	       (long long) json_integer_value(
		       json_object_get(json_object_get(org, "checks"), "not_met")),
	       (long long) json_integer_value(
		       json_object_get(json_object_get(org, "checks"), "unknown")),
	       (long long) json_integer_value(
		       json_object_get(json_object_get(org, "attestations"), "overdue")));
	json_array_foreach (json_object_get(s, "categories"), i, g)
		(void) !jsonw_append(cats, score_row(g, lang));
	json_array_foreach (json_object_get(s, "roles"), i, g)
		(void) !jsonw_append(roles, score_row(g, lang));
	ctl_print_table(cats, cols, keys);
	putchar('\n');
	ctl_print_table(roles, cols, keys);
}

static char *evidence_text(const json_t *ev)
{
	struct buf b;
	const char *key;
	const json_t *v;

	buf_init(&b, 4096);
	json_object_foreach ((json_t *) ev, key, v) {
		_cleanup_(freep) char *s = jsonw_dump(v);

		if (buf_addf(&b, "%s%s=%s", b.len ? ", " : "", key, s ? s : "?") < 0)
			break;
	}
	if (!b.len)
		(void) !buf_adds(&b, "-");
	return buf_take(&b, NULL);
}

static void print_host(const json_t *h, const char *lang)
{
	static const char *const cols[] = {"MEASURE", "STATUS", "TITLE", NULL};
	static const char *const keys[] = {"measure", "status", "title", NULL};
	_cleanup_(json_decrefp) json_t *rows = json_array();
	const json_t *r;
	size_t i;

	printf("%s (%s), %s: %s\n\n", json_string_value(json_object_get(h, "hostname")),
	       json_string_value(json_object_get(h, "host_id")),
	       streq(lang, "ja") ? "利用者" : "owner",
	       or_else(json_string_value(json_object_get(h, "owner")),
		       streq(lang, "ja") ? "(未登録)" : "(none)"));
	json_array_foreach (json_object_get(h, "results"), i, r)
		(void) !jsonw_append(
			rows, json_pack("{s:O, s:s, s:s}", "measure", json_object_get(r, "measure"),
					"status",
					status_word(json_string_value(json_object_get(r, "status")),
						    lang),
					"title", text(json_object_get(r, "title"), lang)));
	ctl_print_table(rows, cols, keys);
	json_array_foreach (json_object_get(h, "results"), i, r) {
		_cleanup_(freep) char *ev = NULL;

		if (!streq(or_else(json_string_value(json_object_get(r, "status")), ""), "not_met"))
			continue;
		ev = evidence_text(json_object_get(r, "evidence"));
		printf("\n%s %s\n  %s: %s\n  %s: %s\n",
		       json_string_value(json_object_get(r, "measure")),
		       status_word("not_met", lang), streq(lang, "ja") ? "根拠" : "evidence",
		       ev ? ev : "?", streq(lang, "ja") ? "対処" : "what to do",
		       text(json_object_get(r, "fix"), lang));
	}
}

static void print_measure(const json_t *m, const char *lang)
{
	static const char *const cols[] = {"HOST", "HOSTNAME", "OWNER", "EVIDENCE", NULL};
	static const char *const keys[] = {"host_id", "hostname", "owner", "evidence", NULL};
	const json_t *def = json_object_get(m, "measure"), *h;
	_cleanup_(json_decrefp) json_t *rows = json_array(),
				       *p = pct(json_object_get(m, "percent"));
	size_t i;

	printf("%s%s%s%s: %s\n", json_string_value(json_object_get(def, "id")),
	       json_object_get(def, "guideline_id") ? " (" : "",
	       or_else(json_string_value(json_object_get(def, "guideline_id")), ""),
	       json_object_get(def, "guideline_id") ? ")" : "",
	       text(json_object_get(def, "title"), lang));
	printf("%s: %s\n", streq(lang, "ja") ? "実施率" : "percent", json_string_value(p));
	if (json_object_get(m, "state")) {
		const json_t *st = json_object_get(m, "state");

		printf("%s: %s%s\n", streq(lang, "ja") ? "申告" : "attestation",
		       status_word(json_string_value(json_object_get(st, "status")), lang),
		       json_is_true(json_object_get(st, "overdue"))
			       ? (streq(lang, "ja") ? " (見直し期限切れ)" : " (overdue)")
			       : "");
		return;
	}
	printf("%s: %lld\n\n", status_word(json_string_value(json_object_get(m, "status")), lang),
	       (long long) json_integer_value(json_object_get(m, "total")));
	json_array_foreach (json_object_get(m, "hosts"), i, h) {
		_cleanup_(freep) char *ev = evidence_text(json_object_get(h, "evidence"));

		(void) !jsonw_append(rows, json_pack("{s:O, s:O, s:O, s:s}", "host_id",
						     json_object_get(h, "host_id"), "hostname",
						     json_object_get(h, "hostname"), "owner",
						     json_object_get(h, "owner"), "evidence",
						     ev ? ev : "?"));
	}
	ctl_print_table(rows, cols, keys);
}

int ctl_cmd_compliance(struct ctl *c, int argc, char **argv)
{
	const char *verb = argc > 1 ? argv[1] : NULL, *id = NULL, *status = NULL, *lang = NULL;
	const struct ctl_opt opts[] = {{"status", &status, NULL}, {"lang", &lang, NULL}, {0}};
	const struct ctl_opt lang_opt[] = {{"lang", &lang, NULL}, {0}};
	_cleanup_(json_decrefp) json_t *answer = NULL;
	struct buf path;
	int r;

	if (!verb) {
		fprintf(stderr, "mamorictl: compliance needs a verb: summary, host, measure\n");
		return EXIT_USAGE;
	}
	argc -= 2;
	argv += 2;
	buf_init(&path, 512);
	if (streq(verb, "summary")) {
		if (ctl_args_parse(argc, argv, lang_opt, NULL, 0, 0, &c->json) < 0)
			return EXIT_USAGE;
		r = buf_adds(&path, "/api/v1/compliance/summary");
	} else if (streq(verb, "host") || streq(verb, "measure")) {
		if (ctl_args_parse(argc, argv, streq(verb, "measure") ? opts : lang_opt, &id, 1, 1,
				   &c->json) < 0)
			return EXIT_USAGE;
		if (!plain_id(id)) {
			fprintf(stderr, "mamorictl: '%s' is not an id\n", id);
			return EXIT_USAGE;
		}
		r = streq(verb, "host") ? buf_addf(&path, "/api/v1/hosts/%s/compliance", id)
					: buf_addf(&path, "/api/v1/compliance/measures/%s", id);
		if (r == 0 && status)
			r = buf_adds(&path, "?") < 0 ? -ENOMEM
						     : ctl_query_add(&path, "status", status);
	} else {
		fprintf(stderr,
			"mamorictl: unknown verb 'compliance %s' (summary, host, measure)\n", verb);
		return EXIT_USAGE;
	}
	if (lang && !streq(lang, "ja") && !streq(lang, "en")) {
		buf_done(&path);
		fprintf(stderr, "mamorictl: --lang must be ja or en\n");
		return EXIT_USAGE;
	}
	if (!lang)
		lang = lang_env();
	r = r < 0 ? r : get(c, buf_str(&path), &answer);
	buf_done(&path);
	if (r < 0)
		return r == -ENOMEM ? EXIT_FAILURE : EXIT_API;
	if (c->json)
		ctl_print_json(answer);
	else if (streq(verb, "summary"))
		print_summary(answer, lang);
	else if (streq(verb, "host"))
		print_host(answer, lang);
	else
		print_measure(answer, lang);
	return EXIT_SUCCESS;
}

int ctl_cmd_attest(struct ctl *c, int argc, char **argv)
{
	const char *measure = NULL, *status = NULL, *evidence = NULL, *link = NULL, *owner = NULL,
		   *review = NULL, *date = NULL;
	const struct ctl_opt opts[] = {
		{"status", &status, NULL},
		{"evidence", &evidence, NULL},
		{"link", &link, NULL},
		{"owner", &owner, NULL},
		{"review-days", &review, NULL},
		{"date", &date, NULL},
		{0},
	};
	_cleanup_(json_decrefp) json_t *body = NULL, *answer = NULL;
	unsigned days = 0;

	if (ctl_args_parse(argc - 1, argv + 1, opts, &measure, 1, 1, &c->json) < 0)
		return EXIT_USAGE;
	if (!status || !evidence || !owner) {
		fprintf(stderr, "mamorictl: attest needs --status met|not_met|not_applicable, "
				"--evidence TEXT and --owner NAME\n");
		return EXIT_USAGE;
	}
	if (review && (str_to_uint(review, 10, &days) < 0 || days == 0)) {
		fprintf(stderr, "mamorictl: --review-days needs a whole number of days, not '%s'\n",
			review);
		return EXIT_USAGE;
	}
	body = json_pack("{s:s, s:s, s:s, s:s, s:s?, s:s?}", "measure", measure, "status", status,
			 "evidence", evidence, "owner", owner, "link", link, "date", date);
	if (!body || (days && jsonw_set(body, "review_days", json_integer(days)) < 0))
		return EXIT_FAILURE;
	if (!link)
		(void) json_object_del(body, "link");
	if (!date)
		(void) json_object_del(body, "date");
	if (ctl_call(c, "POST", "/api/v1/attestations", body, &answer) < 0)
		return EXIT_API;
	if (c->json) {
		ctl_print_json(answer);
	} else {
		char tb[32];

		printf("attestation %s recorded: %s %s by %s; review due %s UTC\n",
		       json_string_value(json_object_get(answer, "id")), measure, status, owner,
		       ctl_time(json_object_get(json_object_get(answer, "state"), "review_due"),
				tb));
	}
	return EXIT_SUCCESS;
}

int ctl_cmd_attestations(struct ctl *c, int argc, char **argv)
{
	static const char *const cols[] = {"MEASURE",    "STATUS", "OVERDUE", "CHECKED",
					   "REVIEW DUE", "OWNER",  "TITLE",   NULL};
	static const char *const keys[] = {"measure",    "status", "overdue", "date",
					   "review_due", "owner",  "title",   NULL};
	const char *verb = argc > 1 ? argv[1] : NULL, *measure = NULL, *lang = NULL;
	const struct ctl_opt opts[] = {{"measure", &measure, NULL}, {"lang", &lang, NULL}, {0}};
	_cleanup_(json_decrefp) json_t *answer = NULL, *rows = json_array();
	const json_t *m;
	struct buf path;
	size_t i;
	int r;

	if (!verb || !streq(verb, "list")) {
		fprintf(stderr, "mamorictl: attestations needs the verb list\n");
		return EXIT_USAGE;
	}
	if (ctl_args_parse(argc - 2, argv + 2, opts, NULL, 0, 0, &c->json) < 0)
		return EXIT_USAGE;
	if (measure && !plain_id(measure)) {
		fprintf(stderr, "mamorictl: '%s' is not a measure id\n", measure);
		return EXIT_USAGE;
	}
	if (!lang)
		lang = lang_env();
	buf_init(&path, 256);
	r = buf_adds(&path, "/api/v1/attestations");
	if (r == 0 && measure)
		r = buf_adds(&path, "?") < 0 ? -ENOMEM : ctl_query_add(&path, "measure", measure);
	r = r < 0 ? r : get(c, buf_str(&path), &answer);
	buf_done(&path);
	if (r < 0)
		return r == -ENOMEM ? EXIT_FAILURE : EXIT_API;
	if (c->json) {
		ctl_print_json(answer);
		return EXIT_SUCCESS;
	}
	json_array_foreach (json_object_get(answer, "measures"), i, m) {
		const json_t *a = json_object_get(m, "attestation");
		char d1[32], d2[32];

		(void) !jsonw_append(
			rows,
			json_pack(
				"{s:O, s:s, s:s, s:s, s:s, s:O, s:s}", "measure",
				json_object_get(m, "measure"), "status",
				status_word(json_string_value(json_object_get(m, "status")), lang),
				"overdue",
				json_is_true(json_object_get(m, "overdue")) ? "overdue" : "-",
				"date", ctl_time(json_object_get(a, "date"), d1), "review_due",
				ctl_time(json_object_get(m, "review_due"), d2), "owner",
				a ? json_object_get(a, "owner") : json_null(), "title",
				text(json_object_get(m, "title"), lang)));
	}
	ctl_print_table(rows, cols, keys);
	return EXIT_SUCCESS;
}

int ctl_cmd_catalog(int argc, char **argv)
{
	const char *verb = argc > 1 ? argv[1] : NULL;
	const char *files[16];
	size_t n = 0, measures = 0, automated = 0, cats = 0;
	bool json = false;
	struct catalog cat;
	struct diag d;
	int r;

	if (!verb || !streq(verb, "check")) {
		fprintf(stderr, "mamorictl: catalog needs the verb check: catalog check FILE…\n");
		return EXIT_USAGE;
	}
	for (int i = 2; i < argc; i++) {
		if (streq(argv[i], "--json")) {
			json = true;
			continue;
		}
		if (str_startswith(argv[i], "--") || n >= ARRAY_SIZE(files)) {
			fprintf(stderr,
				"mamorictl: catalog check takes up to %zu files and --json\n",
				ARRAY_SIZE(files));
			return EXIT_USAGE;
		}
		files[n++] = argv[i];
	}
	catalog_init(&cat);
	diag_init(&d);
	r = catalog_builtin_load(&cat, files, n, &d);
	for (size_t i = 0; i < cat.n; i++) {
		const struct catalog_stanza *s = &cat.stanzas[i];
		const char *kind = catalog_get(s, "Kind");

		cats += streq(s->kind, "Category");
		if (!streq(s->kind, "Measure") || catalog_disabled(s))
			continue;
		measures++;
		automated += kind && streq(kind, "automated");
	}
	if (json) {
		_cleanup_(json_decrefp) json_t *out =
			json_pack("{s:b, s:[], s:I, s:I, s:I}", "ok", r == 0, "errors", "measures",
				  (json_int_t) measures, "automated", (json_int_t) automated,
				  "categories", (json_int_t) cats);

		for (size_t i = 0; out && i < d.n; i++)
			(void) !jsonw_append(
				json_object_get(out, "errors"),
				json_pack("{s:s?, s:I, s:I, s:s, s:s}", "file", d.entries[i].file,
					  "line", (json_int_t) d.entries[i].line, "column",
					  (json_int_t) d.entries[i].column, "severity",
					  d.entries[i].severity == DIAG_ERROR ? "error" : "warning",
					  "message", d.entries[i].message));
		ctl_print_json(out);
	} else {
		for (size_t i = 0; i < d.n; i++) {
			_cleanup_(freep) char *s = diag_format(&d.entries[i]);

			fprintf(stderr, "%s\n", s ? s : "out of memory");
		}
		if (r == 0)
			printf("ok: %zu measures in force (%zu automated, %zu manual), %zu "
			       "categories\n",
			       measures, automated, measures - automated, cats);
		else
			fprintf(stderr,
				"mamorictl: %zu error(s): the server would refuse this "
				"catalogue\n",
				d.n_errors);
	}
	diag_done(&d);
	catalog_done(&cat);
	if (r == -ENOMEM)
		return EXIT_FAILURE;
	return r == 0 ? EXIT_SUCCESS : EXIT_API;
}

/* ---- advisor ---- */

static int ask(const json_t *questions, const char *lang, json_t *answers)
{
	const json_t *q;
	size_t i;

	json_array_foreach (json_object_get(questions, "questions"), i, q) {
		const json_t *as = json_object_get(q, "answers"), *a;
		char line[LINE_MAX_IN];
		unsigned pick;
		size_t k;

		printf("\n%s\n", text(json_object_get(q, "text"), lang));
		json_array_foreach (as, k, a)
			printf("  %zu) %s\n", k + 1, text(json_object_get(a, "text"), lang));
		for (;;) {
			printf(streq(lang, "ja") ? "番号 (空欄で省略): "
						 : "number (empty to skip): ");
			(void) fflush(stdout);
			if (!fgets(line, sizeof(line), stdin))
				return 0;
			if (!*str_strip(line))
				break;
			if (str_to_uint(line, 10, &pick) == 0 && pick >= 1 &&
			    pick <= json_array_size(as)) {
				if (jsonw_set(answers, json_string_value(json_object_get(q, "id")),
					      json_incref(json_object_get(
						      json_array_get(as, pick - 1), "id"))) < 0)
					return -ENOMEM;
				break;
			}
		}
	}
	return 0;
}

static void print_advice(const json_t *out, const char *lang)
{
	const json_t *cmp = json_object_get(out, "comparison"), *m, *r, *ax;
	size_t i, k;

	printf("\n%s\n",
	       streq(lang, "ja") ? "推奨するテレワーク方式:" : "Recommended telework methods:");
	if (!json_array_size(json_object_get(out, "recommended")))
		printf("  %s\n", streq(lang, "ja") ? "(回答が足りません)" : "(not enough answers)");
	json_array_foreach (json_object_get(out, "methods"), i, m) {
		if (!json_is_true(json_object_get(m, "recommended")))
			continue;
		printf("\n* %s (%lld)\n  %s\n", text(json_object_get(m, "name"), lang),
		       (long long) json_integer_value(json_object_get(m, "score")),
		       text(json_object_get(m, "summary"), lang));
		json_array_foreach (json_object_get(m, "reasons"), k, r)
			printf("  %+lld  %s\n",
			       (long long) json_integer_value(json_object_get(r, "points")),
			       text(json_object_get(r, "text"), lang));
		printf("  %s\n  %s\n", text(json_object_get(m, "reason"), lang),
		       streq(lang, "ja") ? "重要な対策:" : "Measures that matter most:");
		json_array_foreach (json_object_get(m, "key_measures"), k, r)
			printf("    %s  %s\n", json_string_value(json_object_get(r, "id")),
			       text(json_object_get(r, "title"), lang));
	}
	printf("\n%s\n%-24s", json_string_value(json_object_get(cmp, "title")), "");
	json_array_foreach (json_object_get(cmp, "axes"), k, ax)
		printf("  %s", json_string_value(json_object_get(ax, "id")));
	putchar('\n');
	json_array_foreach (json_object_get(out, "methods"), i, m) {
		const json_t *g = json_object_get(json_object_get(cmp, "grades"),
						  json_string_value(json_object_get(m, "id")));

		printf("%-24s", json_string_value(json_object_get(m, "id")));
		json_array_foreach (json_object_get(cmp, "axes"), k, ax) {
			const char *axis = json_string_value(json_object_get(ax, "id"));

			printf("  %*s", (int) strlen(axis),
			       or_else(json_string_value(json_object_get(g, axis)), "-"));
		}
		putchar('\n');
	}
}

int ctl_cmd_advisor(struct ctl *c, int argc, char **argv)
{
	_cleanup_(json_decrefp) json_t *answers = json_object(), *questions = NULL, *body = NULL,
				       *out = NULL;
	const char *lang = NULL;
	size_t given = 0;

	if (!answers)
		return EXIT_FAILURE;
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i], *v = NULL, *eq;

		if (streq(a, "--json")) {
			c->json = true;
			continue;
		}
		if ((v = str_startswith(a, "--answer=")) || (v = str_startswith(a, "--lang="))) {
			/* --name=value form */
		} else if ((streq(a, "--answer") || streq(a, "--lang")) && i + 1 < argc) {
			v = argv[++i];
		} else {
			fprintf(stderr,
				"mamorictl: advisor takes --answer QUESTION=ANSWER, --lang "
				"ja|en and --json, not '%s'\n",
				a);
			return EXIT_USAGE;
		}
		if (str_startswith(a, "--lang")) {
			lang = v;
			continue;
		}
		eq = strchr(v, '=');
		if (!eq || eq == v || !eq[1] || given >= MAX_ANSWERS) {
			fprintf(stderr, "mamorictl: --answer needs QUESTION=ANSWER, not '%s'\n", v);
			return EXIT_USAGE;
		}
		{
			_cleanup_(freep) char *qid = mm_strndup(v, (size_t) (eq - v));

			if (!qid || jsonw_set(answers, qid, json_string(eq + 1)) < 0)
				return EXIT_FAILURE;
		}
		given++;
	}
	if (lang && !streq(lang, "ja") && !streq(lang, "en")) {
		fprintf(stderr, "mamorictl: --lang must be ja or en\n");
		return EXIT_USAGE;
	}
	if (!lang)
		lang = lang_env();
	if (!given) {
		if (!isatty(STDIN_FILENO)) {
			fprintf(stderr,
				"mamorictl: advisor: give --answer QUESTION=ANSWER … or run "
				"it on a terminal to be asked\n");
			return EXIT_USAGE;
		}
		if (get(c, "/api/v1/advisor/questions", &questions) < 0)
			return EXIT_API;
		printf("%s\n", text(json_object_get(questions, "note"), lang));
		if (ask(questions, lang, answers) < 0)
			return EXIT_FAILURE;
	}
	body = json_pack("{s:O}", "answers", answers);
	if (!body)
		return EXIT_FAILURE;
	if (ctl_call(c, "POST", "/api/v1/advisor/recommend", body, &out) < 0)
		return EXIT_API;
	if (c->json)
		ctl_print_json(out);
	else
		print_advice(out, lang);
	return EXIT_SUCCESS;
}
