/*
 * The teleworker's self-check: `mamori-agent status --check [--lang ja|en] [--root DIR]
 * [--catalog FILE]… [--json]`. Collects the inventory here and now (no server, works
 * offline), evaluates the catalogue's teleworker measures with the same checks the server
 * uses (lib/checks.h), and prints each with its status in the glossary's words, what to
 * do about a failure (Fix-ja / Fix-en), and the measures the teleworker must check
 * themselves (manual ones).
 *
 * The catalogue is the one built into the binary, plus the --catalog override files; a
 * catalogue with errors is reported with file:line and the self-check stops (exit 2).
 * Language: --lang, else the first of LC_ALL, LC_MESSAGES, LANG that is set ("ja…" is
 * Japanese, anything else English). Exit status: 0 when every automated teleworker measure
 * that can be decided on this machine is met or does not apply; 1 when one is not met or
 * unknown; 2 for bad use. Measures that only the server can decide (they need its event
 * records) are shown as such and do not count.
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
#include "lib/catalog_builtin.h"
#include "lib/checks.h"
#include "lib/jsonw.h"
#include "lib/mm.h"
#include "lib/str.h"

#define EXIT_USAGE    2
#define MAX_OVERRIDES 16

enum lang {
	LANG_JA,
	LANG_EN
};

/* The glossary's words (/work/shared/glossary.md: 対策状況). */
static const char *const status_words[2][CHECKS_STATUS_MAX] = {
	[LANG_JA] = {"実施済み", "未実施", "不明", "対象外"},
	[LANG_EN] = {"met", "not met", "unknown", "not applicable"},
};

struct words {
	const char *title, *manual_head, *fix, *evidence, *reason, *server, *summary, *check_box;
};

static const struct words words[2] = {
	[LANG_JA] = {"mamori セルフチェック — テレワーク勤務者の対策",
		     "自分で確認してください:", "対処", "根拠", "理由",
		     "この項目は管理サーバーが判定します", "自動判定", "[ ]"},
	[LANG_EN] = {"mamori self-check — the teleworker's measures",
		     "Check these yourself:", "What to do", "Evidence", "Why",
		     "the management server decides this one", "Automated checks", "[ ]"},
};

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

bool selfcheck_wanted(int argc, char **argv)
{
	for (int i = 1; i < argc; i++)
		if (streq(argv[i], "--check"))
			return true;
	return false;
}

static enum lang lang_from_env(void)
{
	static const char *const vars[] = {"LC_ALL", "LC_MESSAGES", "LANG"};

	for (size_t i = 0; i < ARRAY_SIZE(vars); i++) {
		const char *v = getenv(vars[i]);

		if (v && *v)
			return str_startswith(v, "ja") ? LANG_JA : LANG_EN;
	}
	return LANG_EN;
}

static void print_help(void)
{
	printf("Usage: mamori-agent status --check [--lang ja|en] [--root DIR] [--catalog FILE]…"
	       " [--json]\n"
	       "Checks this endpoint against the teleworker's measures of the MIC telework "
	       "security\n"
	       "guidelines, as mamori's catalogue states them, and says what to fix. Works "
	       "offline.\n"
	       "Exit status: 0 all automated measures met, 1 some not met or unknown, 2 bad "
	       "use.\n");
}

/* One evaluated measure. */
struct item {
	const struct catalog_stanza *m;
	bool automated, local;
	enum checks_status status;
	json_t *evidence;
};

/* The measure's text in the language, falling back to the other one. */
static const char *text_of(const struct catalog_stanza *m, const char *base, enum lang lang)
{
	char name[32];
	const char *v;

	(void) snprintf(name, sizeof(name), "%s-%s", base, lang == LANG_JA ? "ja" : "en");
	v = catalog_get(m, name);
	if (v)
		return v;
	(void) snprintf(name, sizeof(name), "%s-%s", base, lang == LANG_JA ? "en" : "ja");
	return catalog_get(m, name);
}

/* The checks' reasons (lib/checks.c) in Japanese; English is the checks' own text. */
static const char *const reasons_ja[][2] = {
	{"the owner is not known", "利用者が分かりません"},
	{"no identity facts", "端末の識別情報がありません"},
	{"the serial is readable by root only", "製造番号は root 権限でのみ読めます"},
	{"no firmware (DMI) facts", "ファームウェア(DMI)の情報がありません"},
	{"the agent does not report pending security updates",
	 "未適用のセキュリティ更新の数は、まだエージェントが調べていません"},
	{"no automatic-update facts", "自動更新の設定が分かりません"},
	{"no administrator-group facts", "管理者グループの情報がありません"},
	{"no ssh server facts", "SSH サーバーの情報がありません"},
	{"PermitRootLogin not known", "PermitRootLogin の設定が分かりません"},
	{"password authentication settings not known", "パスワード認証の設定が分かりません"},
	{"the chassis is not known", "端末の種類(ノートPC など)が分かりません"},
	{"the disk under / or /home could not be told", "/ や /home のディスクを判別できません"},
	{"no antivirus facts", "ウイルス対策ソフトの情報がありません"},
	{"whether ClamAV is installed is not known", "ClamAV が導入されているか分かりません"},
	{"no firewall facts", "ファイアウォールの情報がありません"},
	{"no account facts", "アカウントの情報がありません"},
	{"the shadow file could not be read",
	 "/etc/shadow を読めません(root 権限で実行すると確認できます)"},
	{"no system-wide screen-lock setting was found",
	 "システム全体の画面ロック設定が見つかりません"},
	{"the idle delay is not set system-wide",
	 "画面ロックまでの時間がシステム全体で設定されていません"},
	{"whether the lock is on is not set system-wide",
	 "画面ロックの有効・無効がシステム全体で設定されていません"},
	{"no listening-socket facts", "待ち受けポートの情報がありません"},
	{"no time-synchronisation facts", "時刻同期の情報がありません"},
};

static const char *reason_text(const char *reason, enum lang lang)
{
	for (size_t i = 0; lang == LANG_JA && i < ARRAY_SIZE(reasons_ja); i++)
		if (streq(reason, reasons_ja[i][0]))
			return reasons_ja[i][1];
	return reason;
}

/* What the antivirus check found wrong, in words (its evidence's "failed" list). */
static void print_failures(const json_t *ev, enum lang lang)
{
	const json_t *failed = json_object_get(ev, "failed"), *f;
	long long age = json_integer_value(json_object_get(ev, "definitions_age_days"));
	long long max = json_integer_value(json_object_get(ev, "max_definitions_age_days"));
	size_t i;

	json_array_foreach (failed, i, f) {
		const char *w = json_string_value(f);

		if (!w)
			continue;
		printf("      - ");
		if (streq(w, "definitions_too_old"))
			printf(lang == LANG_JA
				       ? "定義ファイルが %lld 日前のものです(上限 %lld 日)\n"
				       : "the definitions are %lld days old (at most %lld "
					 "allowed)\n",
			       age, max);
		else if (streq(w, "no_definitions"))
			puts(lang == LANG_JA ? "定義ファイルがありません"
					     : "there are no definitions");
		else if (streq(w, "realtime_off"))
			puts(lang == LANG_JA
				     ? "リアルタイムスキャンが無効です(clamonacc "
				       "が動作していません)"
				     : "real-time scanning is off (clamonacc is not running)");
		else if (streq(w, "clamd_not_running"))
			puts(lang == LANG_JA ? "clamd が動作していません" : "clamd is not running");
		else
			puts(w);
	}
}

static void print_evidence(const json_t *ev, enum lang lang)
{
	const char *key;
	const json_t *v;
	bool first = true;

	if (!json_object_size(ev) || (json_object_size(ev) == 1 && json_object_get(ev, "reason")))
		return;
	printf("      %s: ", words[lang].evidence);
	json_object_foreach ((json_t *) ev, key, v) {
		char *s;

		if (streq(key, "reason"))
			continue;
		s = jsonw_dump(v);
		printf("%s%s=%s", first ? "" : ", ", key, s ? s : "?");
		mm_free(s);
		first = false;
	}
	putchar('\n');
}

static void print_text(const struct item *items, size_t n, const json_t *doc, enum lang lang,
		       int64_t now)
{
	const char *host =
		json_string_value(json_object_get(json_object_get(doc, "identity"), "hostname"));
	size_t counts[CHECKS_STATUS_MAX] = {0};
	bool any_manual = false;
	char when[32];
	time_t t = (time_t) now;
	struct tm tm;

	(void) localtime_r(&t, &tm);
	(void) strftime(when, sizeof(when), "%Y-%m-%d %H:%M", &tm);
	printf("%s (%s, %s)\n\n", words[lang].title, host ? host : "?", when);
	for (size_t i = 0; i < n; i++) {
		const struct item *it = &items[i];
		const char *reason = json_string_value(json_object_get(it->evidence, "reason"));

		if (!it->automated) {
			any_manual = true;
			continue;
		}
		if (it->local)
			counts[it->status]++;
		printf("[%s] %s (%s)\n", status_words[lang][it->status],
		       text_of(it->m, "Title", lang), it->m->id);
		if (!it->local && it->status == CHECKS_UNKNOWN) {
			printf("      %s: %s\n", words[lang].reason, words[lang].server);
			continue;
		}
		if (it->status == CHECKS_NOT_MET && text_of(it->m, "Fix", lang))
			printf("      %s: %s\n", words[lang].fix, text_of(it->m, "Fix", lang));
		print_failures(it->evidence, lang);
		if (reason)
			printf("      %s: %s\n", words[lang].reason, reason_text(reason, lang));
		print_evidence(it->evidence, lang);
	}
	if (any_manual) {
		printf("\n%s\n", words[lang].manual_head);
		for (size_t i = 0; i < n; i++)
			if (!items[i].automated)
				printf("  %s %s (%s)\n      %s\n", words[lang].check_box,
				       text_of(items[i].m, "Title", lang), items[i].m->id,
				       text_of(items[i].m, "Detail", lang));
	}
	printf("\n%s: %s %zu / %s %zu / %s %zu / %s %zu\n", words[lang].summary,
	       status_words[lang][CHECKS_MET], counts[CHECKS_MET],
	       status_words[lang][CHECKS_NOT_MET], counts[CHECKS_NOT_MET],
	       status_words[lang][CHECKS_UNKNOWN], counts[CHECKS_UNKNOWN],
	       status_words[lang][CHECKS_NOT_APPLICABLE], counts[CHECKS_NOT_APPLICABLE]);
}

static json_t *to_json(const struct item *items, size_t n, const json_t *doc, enum lang lang,
		       int64_t now, bool ok)
{
	json_t *out =
		json_pack("{s:s, s:O?, s:I, s:b, s:[]}", "lang", lang == LANG_JA ? "ja" : "en",
			  "hostname", json_object_get(json_object_get(doc, "identity"), "hostname"),
			  "generated", (json_int_t) now, "all_met", ok, "measures");
	json_t *list = json_object_get(out, "measures");

	for (size_t i = 0; out && i < n; i++) {
		const struct item *it = &items[i];
		json_t *m = json_pack("{s:s, s:s, s:s?, s:s?, s:s?}", "id", it->m->id, "kind",
				      it->automated ? "automated" : "manual", "category",
				      catalog_get(it->m, "Category"), "title",
				      text_of(it->m, "Title", lang), "detail",
				      text_of(it->m, "Detail", lang));

		if (jsonw_append(list, m) < 0) {
			json_decref(out);
			return NULL;
		}
		if (!it->automated)
			continue;
		if (jsonw_set(m, "status", json_string(checks_status_name(it->status))) < 0 ||
		    jsonw_set(m, "status_text", json_string(status_words[lang][it->status])) < 0 ||
		    jsonw_set(m, "decided_here", json_boolean(it->local)) < 0 ||
		    jsonw_set(m, "evidence", json_deep_copy(it->evidence)) < 0 ||
		    (it->status == CHECKS_NOT_MET && text_of(it->m, "Fix", lang) &&
		     jsonw_set(m, "fix", json_string(text_of(it->m, "Fix", lang))) < 0)) {
			json_decref(out);
			return NULL;
		}
	}
	return out;
}

static int evaluate(const struct catalog *cat, const json_t *doc, int64_t now, struct item **ret,
		    size_t *ret_n)
{
	struct checks_input in = {.doc = doc, .host = NULL, .now = now};
	struct item *items = mm_reallocarray(NULL, cat->n ? cat->n : 1, sizeof(*items));
	size_t n = 0;

	if (!items)
		return -ENOMEM;
	for (size_t i = 0; i < cat->n; i++) {
		const struct catalog_stanza *m = &cat->stanzas[i];
		const char *role = catalog_get(m, "Role"), *kind = catalog_get(m, "Kind");
		struct item *it;
		int r;

		if (!streq(m->kind, "Measure") || catalog_disabled(m) || !role ||
		    !streq(role, "teleworker"))
			continue;
		it = &items[n++];
		*it = (struct item){.m = m, .automated = kind && streq(kind, "automated")};
		if (!it->automated)
			continue;
		it->local = checks_local(catalog_get(m, "Check"));
		r = checks_run(m, &in, &it->status, &it->evidence);
		if (r < 0) {
			for (size_t k = 0; k < n - 1; k++)
				json_decref(items[k].evidence);
			mm_free(items);
			return r;
		}
	}
	*ret = items;
	*ret_n = n;
	return 0;
}

int selfcheck_run(int argc, char **argv)
{
	static const struct option opts[] = {
		{"check", no_argument, NULL, 'c'},
		{"lang", required_argument, NULL, 'l'},
		{"root", required_argument, NULL, 'r'},
		{"catalog", required_argument, NULL, 'C'},
		{"clamd-socket", required_argument, NULL, 's'},
		{"json", no_argument, NULL, 'j'},
		{"help", no_argument, NULL, 'h'},
		{0},
	};
	const char *overrides[MAX_OVERRIDES], *root = "/", *clamd_socket = NULL;
	_cleanup_(json_decrefp) json_t *doc = NULL;
	struct item *items = NULL;
	size_t n_overrides = 0, n_items = 0;
	enum lang lang = lang_from_env();
	struct catalog cat;
	struct diag d;
	struct col_ctx ctx;
	struct stat st;
	bool json = false, ok = true;
	int c, r;

	opterr = 0;
	optind = 1;
	while ((c = getopt_long(argc, argv, "+:", opts, NULL)) != -1) {
		switch (c) {
		case 'c':
			break;
		case 'l':
			if (!streq(optarg, "ja") && !streq(optarg, "en"))
				return usage_error("--lang must be ja or en, not '%s'", optarg);
			lang = streq(optarg, "ja") ? LANG_JA : LANG_EN;
			break;
		case 'r':
			root = optarg;
			break;
		case 'C':
			if (n_overrides >= MAX_OVERRIDES)
				return usage_error("at most %d --catalog files", MAX_OVERRIDES);
			overrides[n_overrides++] = optarg;
			break;
		case 's':
			clamd_socket = optarg;
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
			return usage_error("unknown option '%s' (see status --check --help)",
					   argv[optind - 1]);
		}
	}
	if (optind < argc)
		return usage_error("unexpected argument '%s'", argv[optind]);
	if (stat(root, &st) < 0 || !S_ISDIR(st.st_mode))
		return usage_error("cannot use --root %s: %s", root,
				   errno ? strerror(errno) : "not a directory");

	catalog_init(&cat);
	diag_init(&d);
	r = catalog_builtin_load(&cat, overrides, n_overrides, &d);
	for (size_t i = 0; i < d.n; i++) {
		char *s = diag_format(&d.entries[i]);

		fprintf(stderr, "mamori-agent: %s\n", s ? s : "out of memory");
		mm_free(s);
	}
	diag_done(&d);
	if (r < 0) {
		catalog_done(&cat);
		if (r == -ENOMEM)
			return usage_error("out of memory while loading the catalogue");
		return usage_error("the catalogue has errors (above): nothing was checked");
	}

	ctx = (struct col_ctx){
		.root = root, .now = (int64_t) time(NULL), .clamd_socket = clamd_socket};
	doc = inventory_collect(&ctx, NULL);
	r = doc ? evaluate(&cat, doc, ctx.now, &items, &n_items) : -ENOMEM;
	if (r < 0) {
		catalog_done(&cat);
		fputs("mamori-agent: out of memory while checking\n", stderr);
		return EXIT_FAILURE;
	}
	for (size_t i = 0; i < n_items; i++)
		if (items[i].automated && items[i].local && items[i].status != CHECKS_MET &&
		    items[i].status != CHECKS_NOT_APPLICABLE)
			ok = false;
	if (json) {
		json_t *out = to_json(items, n_items, doc, lang, ctx.now, ok);

		if (!out || json_dumpf(out, stdout, JSON_INDENT(2) | JSON_SORT_KEYS) < 0)
			r = -ENOMEM;
		else
			fputc('\n', stdout);
		json_decref(out);
	} else {
		print_text(items, n_items, doc, lang, ctx.now);
	}
	for (size_t i = 0; i < n_items; i++)
		json_decref(items[i].evidence);
	mm_free(items);
	catalog_done(&cat);
	if (r < 0 || fflush(stdout) != 0)
		return EXIT_FAILURE;
	return ok ? EXIT_SUCCESS : EXIT_FAILURE;
}
