/*
 * The collection profile: what the policy lets the agent record on an endpoint, and how it
 * is told, in plain words, to the person using it (`mamori-agent status --collection`).
 *
 * A profile ("minimal", "standard", "detailed") sets defaults for every monitor; the
 * policy's "collection" object may then override each setting (docs/events.md,
 * "Collection profiles"). Keystrokes, screen contents, the clipboard and the contents of
 * documents are never collected, whatever a policy says: no setting exists for them.
 *
 * The policy arrives from the server, so it is outside input: every error is recorded in
 * one pass and the whole object is refused (the monitors keep their previous settings);
 * unknown keys are warnings, so an older agent still applies a newer server's policy.
 */
#include <errno.h>
#include <getopt.h>
#include <stdlib.h>
#include <string.h>

#include "agent/monitors.h"
#include "lib/fileio.h"
#include "lib/jsonw.h"
#include "lib/limits.h"
#include "lib/mm.h"
#include "lib/str.h"

#define POLICY_FILE "policy.json" /* in the state directory, as the daemon saves it */

static const struct profile {
	const char *name;
	bool process, cmdline, hash, files, removable, login, network;
} profiles[] = {
	{"minimal", false, false, false, false, true, true, true},
	{"standard", true, false, true, true, true, true, true},
	{"detailed", true, true, true, true, true, true, true},
};

static void strv_free(char **v)
{
	if (!v)
		return;
	for (char **p = v; *p; p++)
		mm_free(*p);
	mm_free(v);
}

void collection_done(struct collection *c)
{
	strv_free(c->folders);
	strv_free(c->exclude);
	c->folders = c->exclude = NULL;
}

static void apply_profile(struct collection *c, const struct profile *p)
{
	(void) snprintf(c->profile, sizeof(c->profile), "%s", p->name);
	c->process = p->process;
	c->process_cmdline = p->cmdline;
	c->process_hash = p->hash;
	c->files = p->files;
	c->removable = p->removable;
	c->login = p->login;
	c->network = p->network;
}

int collection_init_default(struct collection *ret)
{
	struct collection c = {.hash_rate = COLLECTION_HASH_RATE_DEFAULT};

	apply_profile(&c, &profiles[1]);
	c.folders = mm_calloc(1, sizeof(char *));
	c.exclude = mm_calloc(1, sizeof(char *));
	if (!c.folders || !c.exclude) {
		collection_done(&c);
		return -ENOMEM;
	}
	*ret = c;
	return 0;
}

/* Reads obj[key] as a boolean into *out when present. */
static void get_bool(const json_t *obj, const char *where, const char *key, bool *out,
		     struct diag *d)
{
	json_t *v = json_object_get(obj, key);

	if (!v)
		return;
	if (!json_is_boolean(v)) {
		diag_error(d, NULL, 0, 0, "collection.%s.%s: expected true or false", where, key);
		return;
	}
	*out = json_is_true(v);
}

/* Warns about keys of obj not in known (NULL-terminated). */
static void check_keys(const json_t *obj, const char *where, const char *const *known,
		       struct diag *d)
{
	const char *key;
	json_t *v;

	json_object_foreach ((json_t *) obj, key, v) {
		bool found = false;

		for (const char *const *k = known; *k && !found; k++)
			found = streq(*k, key);
		if (!found)
			diag_warning(d, NULL, 0, 0, "%s: unknown setting '%s' ignored", where, key);
	}
}

/* Whether a folder pattern is acceptable: absolute, no "." or ".." components, no control
 * characters. */
static bool valid_folder(const char *s)
{
	size_t len = strlen(s);

	if (len == 0 || len >= LIMIT_PATH || s[0] != '/')
		return false;
	for (const char *p = s; *p; p++)
		if ((unsigned char) *p < 0x20 || *p == 0x7f)
			return false;
	for (const char *p = s; (p = strchr(p, '/'));) {
		p++;
		if ((p[0] == '.' && (p[1] == '/' || !p[1])) ||
		    (p[0] == '.' && p[1] == '.' && (p[2] == '/' || !p[2])))
			return false;
	}
	return true;
}

/* Reads a list of strings (at most max, each checked by valid, NULL = any non-empty
 * string under LIMIT_PATH bytes) into *out, replacing it. */
static int get_strv(const json_t *obj, const char *where, const char *key, size_t max,
		    bool (*valid)(const char *), char ***out, struct diag *d)
{
	json_t *arr = json_object_get(obj, key), *v;
	char **list;
	size_t i, n = 0;
	bool bad = false;

	if (!arr)
		return 0;
	if (!json_is_array(arr)) {
		diag_error(d, NULL, 0, 0, "collection.%s.%s: expected a list of strings", where,
			   key);
		return 0;
	}
	if (json_array_size(arr) > max) {
		diag_error(d, NULL, 0, 0, "collection.%s.%s: %zu entries, at most %zu allowed",
			   where, key, json_array_size(arr), max);
		return 0;
	}
	json_array_foreach (arr, i, v) {
		const char *s = json_string_value(v);

		if (!s || (valid ? !valid(s) : (!*s || strlen(s) >= LIMIT_PATH))) {
			diag_error(d, NULL, 0, 0, "collection.%s.%s[%zu]: %s", where, key, i,
				   !s      ? "expected a string"
				   : valid ? "expected an absolute path without '.' or '..'"
					   : "expected a non-empty pattern");
			bad = true;
		}
	}
	if (bad)
		return 0;
	list = mm_calloc(json_array_size(arr) + 1, sizeof(char *));
	if (!list)
		return -ENOMEM;
	json_array_foreach (arr, i, v) {
		list[n] = mm_strdup(json_string_value(v));
		if (!list[n]) {
			strv_free(list);
			return -ENOMEM;
		}
		n++;
	}
	strv_free(*out);
	*out = list;
	return 0;
}

static json_t *section(const json_t *coll, const char *key, struct diag *d)
{
	json_t *v = json_object_get(coll, key);

	if (v && !json_is_object(v)) {
		diag_error(d, NULL, 0, 0, "collection.%s: expected an object", key);
		return NULL;
	}
	return v;
}

int collection_parse(const json_t *policy, struct collection *ret, struct diag *d)
{
	static const char *const top_keys[] = {"profile", "process", "files",
					       "login",   "network", NULL};
	static const char *const proc_keys[] = {"enabled", "command_line", "hash", "hash_rate_mib",
						NULL};
	static const char *const file_keys[] = {"enabled", "folders", "exclude", "removable", NULL};
	static const char *const on_keys[] = {"enabled", NULL};
	struct collection c;
	json_t *coll, *s, *v;
	size_t errors = d->n_errors;
	int r;

	r = collection_init_default(&c);
	if (r < 0)
		return r;
	coll = policy ? json_object_get(policy, "collection") : NULL;
	if (policy && !json_is_object(policy)) {
		diag_error(d, NULL, 0, 0, "the policy is not a JSON object");
		coll = NULL;
	}
	if (coll && !json_is_object(coll)) {
		diag_error(d, NULL, 0, 0, "collection: expected an object");
		coll = NULL;
	}
	if (coll) {
		check_keys(coll, "collection", top_keys, d);
		v = json_object_get(coll, "profile");
		if (v) {
			const struct profile *p = NULL;

			for (size_t i = 0; i < ARRAY_SIZE(profiles); i++)
				if (json_is_string(v) &&
				    streq(json_string_value(v), profiles[i].name))
					p = &profiles[i];
			if (p)
				apply_profile(&c, p);
			else
				diag_error(d, NULL, 0, 0,
					   "collection.profile: expected \"minimal\", \"standard\""
					   " or \"detailed\"");
		}
		if ((s = section(coll, "process", d))) {
			check_keys(s, "collection.process", proc_keys, d);
			get_bool(s, "process", "enabled", &c.process, d);
			get_bool(s, "process", "command_line", &c.process_cmdline, d);
			get_bool(s, "process", "hash", &c.process_hash, d);
			v = json_object_get(s, "hash_rate_mib");
			if (v) {
				if (!json_is_integer(v) || json_integer_value(v) < 1 ||
				    json_integer_value(v) > 4096)
					diag_error(d, NULL, 0, 0,
						   "collection.process.hash_rate_mib: expected a"
						   " whole number from 1 to 4096");
				else
					c.hash_rate =
						(uint64_t) json_integer_value(v) * 1024 * 1024;
			}
		}
		if ((s = section(coll, "files", d))) {
			check_keys(s, "collection.files", file_keys, d);
			get_bool(s, "files", "enabled", &c.files, d);
			get_bool(s, "files", "removable", &c.removable, d);
			r = get_strv(s, "files", "folders", LIMIT_WATCHED_FOLDERS, valid_folder,
				     &c.folders, d);
			if (r >= 0)
				r = get_strv(s, "files", "exclude", LIMIT_EXCLUDES, NULL,
					     &c.exclude, d);
			if (r < 0) {
				collection_done(&c);
				return r;
			}
		}
		if ((s = section(coll, "login", d))) {
			check_keys(s, "collection.login", on_keys, d);
			get_bool(s, "login", "enabled", &c.login, d);
		}
		if ((s = section(coll, "network", d))) {
			check_keys(s, "collection.network", on_keys, d);
			get_bool(s, "network", "enabled", &c.network, d);
		}
	}
	if (d->oom) {
		collection_done(&c);
		return -ENOMEM;
	}
	if (d->n_errors > errors) {
		collection_done(&c);
		return -EINVAL;
	}
	/* a process monitor without processes has nothing to hash or quote */
	if (!c.process)
		c.process_cmdline = c.process_hash = false;
	*ret = c;
	return 0;
}

const char *collection_lang_from_env(void)
{
	static const char *const vars[] = {"LC_ALL", "LC_MESSAGES", "LANG"};

	for (size_t i = 0; i < ARRAY_SIZE(vars); i++) {
		const char *v = getenv(vars[i]);

		if (v && *v)
			return str_startswith(v, "ja") ? "ja" : "en";
	}
	return "en";
}

/* The words, in both languages. */
struct words {
	const char *title, *title_end, *collected, *not_collected, *never;
	const char *process, *cmdline_yes, *cmdline_no, *hash;
	const char *files, *files_none, *except, *removable;
	const char *login, *network;
	const char *never_list;
	const char *where;
};

static const struct words words_en = {
	.title = "What mamori records on this computer (profile: ",
	.title_end = ")",
	.collected = "Recorded:",
	.not_collected = "Not recorded under this policy:",
	.never = "Never recorded, whatever the policy says:",
	.process = "Programs started: which program, by which user, started from which program",
	.cmdline_yes = "with their command lines (the words typed after the program name)",
	.cmdline_no = "command lines (the words typed after a program's name)",
	.hash = "a fingerprint (SHA-256) of each program file, to recognise known software",
	.files = "Files created, changed, renamed or deleted in these folders",
	.files_none = "Files in your folders (no folder is watched)",
	.except = "except",
	.removable = "Files written to USB sticks and other removable media: name and program",
	.login = "Logins and logouts, failed logins, use of sudo and su",
	.network = "Network changes: Wi-Fi networks joined (name, security), VPN on and off, "
		   "default gateway and DNS server changes",
	.never_list = "keystrokes, the screen, the clipboard, the contents of your files, "
		      "passwords",
	.where = "Records go to your organisation's mamori server; the administrator can see "
		 "them.",
};

static const struct words words_ja = {
	.title = "このコンピューターで mamori が記録する内容（プロファイル: ",
	.title_end = "）",
	.collected = "記録するもの:",
	.not_collected = "このポリシーでは記録しないもの:",
	.never = "ポリシーに関係なく、決して記録しないもの:",
	.process = "起動したプログラム: "
		   "どのプログラムを、どのユーザーが、どのプログラムから起動したか",
	.cmdline_yes = "コマンドライン（プログラム名の後に付けた引数）も記録します",
	.cmdline_no = "コマンドライン（プログラム名の後に付けた引数）",
	.hash = "既知のソフトウェアを識別するためのプログラムファイルの指紋（SHA-256）",
	.files = "次のフォルダー内のファイルの作成・変更・名前変更・削除",
	.files_none = "フォルダー内のファイル操作（監視するフォルダーはありません）",
	.except = "除外",
	.removable =
		"USB メモリなどのリムーバブルメディアに書き込まれたファイル（名前とプログラム）",
	.login = "ログイン・ログアウト、ログインの失敗、sudo と su の使用",
	.network = "ネットワークの変化: 接続した Wi-Fi（名前と暗号化の種類）、VPN の接続と切断、"
		   "デフォルトゲートウェイと DNS サーバーの変更",
	.never_list = "キー入力、画面、クリップボード、ファイルの中身、パスワード",
	.where = "記録は組織の mamori サーバーに送られ、管理者が閲覧できます。",
};

static void print_item(FILE *f, const char *text)
{
	fprintf(f, "  - %s\n", text);
}

static void print_folders(FILE *f, const struct collection *c, const struct words *w)
{
	fprintf(f, "  - %s:\n", w->files);
	for (char **p = c->folders; *p; p++)
		fprintf(f, "      %s\n", *p);
	if (c->exclude[0]) {
		fprintf(f, "    (%s:", w->except);
		for (char **p = c->exclude; *p; p++)
			fprintf(f, " %s", *p);
		fputs(")\n", f);
	}
}

int collection_print(const struct collection *c, const char *lang, FILE *f)
{
	const struct words *w = lang && streq(lang, "ja") ? &words_ja : &words_en;
	bool folders = c->files && c->folders && c->folders[0];
	bool any_off;

	fprintf(f, "%s%s%s\n\n", w->title, c->profile, w->title_end);
	fprintf(f, "%s\n", w->collected);
	if (c->process) {
		print_item(f, w->process);
		if (c->process_cmdline)
			fprintf(f, "    %s\n", w->cmdline_yes);
		if (c->process_hash)
			fprintf(f, "    %s\n", w->hash);
	}
	if (folders)
		print_folders(f, c, w);
	if (c->removable)
		print_item(f, w->removable);
	if (c->login)
		print_item(f, w->login);
	if (c->network)
		print_item(f, w->network);

	any_off = !c->process || !c->process_cmdline || !folders || !c->removable || !c->login ||
		  !c->network;
	if (any_off) {
		fprintf(f, "\n%s\n", w->not_collected);
		if (!c->process)
			print_item(f, w->process);
		else if (!c->process_cmdline)
			print_item(f, w->cmdline_no);
		if (!folders)
			print_item(f, w->files_none);
		if (!c->removable)
			print_item(f, w->removable);
		if (!c->login)
			print_item(f, w->login);
		if (!c->network)
			print_item(f, w->network);
	}
	fprintf(f, "\n%s\n", w->never);
	print_item(f, w->never_list);
	fprintf(f, "\n%s\n", w->where);
	return ferror(f) ? -EIO : 0;
}

int collection_status_main(int argc, char **argv)
{
	static const struct option opts[] = {
		{"collection", no_argument, NULL, 'c'},
		{"state-dir", required_argument, NULL, 'd'},
		{"policy", required_argument, NULL, 'p'},
		{"lang", required_argument, NULL, 'l'},
		{"json", no_argument, NULL, 'j'},
		{0},
	};
	_cleanup_(freep) char *path = NULL, *text = NULL;
	_cleanup_(json_decrefp) json_t *policy = NULL;
	const char *dir = NULL, *file = NULL, *lang = collection_lang_from_env();
	struct collection c;
	struct jsonw_error err;
	struct diag d;
	size_t len;
	int opt, r;

	opterr = 0;
	optind = 1;
	while ((opt = getopt_long(argc, argv, "+:", opts, NULL)) != -1) {
		switch (opt) {
		case 'c':
		case 'j': /* the status verb's; this report is words only */
			break;
		case 'd':
			dir = optarg;
			break;
		case 'p':
			file = optarg;
			break;
		case 'l':
			lang = optarg;
			if (!streq(lang, "ja") && !streq(lang, "en")) {
				fprintf(stderr, "mamori-agent: --lang must be ja or en\n");
				return 2;
			}
			break;
		default:
			fprintf(stderr, "mamori-agent: status --collection [--state-dir DIR]"
					" [--policy FILE] [--lang ja|en]\n");
			return 2;
		}
	}
	if (!file && dir) {
		path = mm_asprintf("%s/%s", dir, POLICY_FILE);
		if (!path)
			return EXIT_FAILURE;
		file = path;
	}
	if (file) {
		r = fileio_read(NULL, file, LIMIT_CONFIG_FILE, &text, &len);
		if (r == -ENOENT && path) {
			file = NULL; /* no policy received yet: the standard profile applies */
		} else if (r < 0) {
			fprintf(stderr, "mamori-agent: cannot read %s: %s\n", file, strerror(-r));
			return EXIT_FAILURE;
		} else if (jsonw_parse(text, len, LIMIT_CONFIG_FILE, &policy, &err) < 0) {
			fprintf(stderr, "mamori-agent: %s: %s\n", file, err.text);
			return EXIT_FAILURE;
		}
	}
	diag_init(&d);
	r = collection_parse(policy, &c, &d);
	for (size_t i = 0; i < d.n; i++) {
		_cleanup_(freep) char *msg = diag_format(&d.entries[i]);

		fprintf(stderr, "mamori-agent: %s: %s\n", file ? file : "policy",
			msg ? msg : "(out of memory)");
	}
	diag_done(&d);
	if (r < 0)
		return EXIT_FAILURE;
	r = collection_print(&c, lang, stdout);
	collection_done(&c);
	if (r < 0 || fflush(stdout) != 0)
		return EXIT_FAILURE;
	return EXIT_SUCCESS;
}
