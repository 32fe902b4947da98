/*
 * The collection profile told, in plain words, to the person using the endpoint
 * (`mamori-agent status --collection`): what is recorded, what is not under this policy,
 * and what never is. The profile itself is parsed by lib/collection.c, the code the server
 * and mamorictl check a profile with, so the words always describe what the monitors were
 * configured from (docs/events.md, "Collection profiles").
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
