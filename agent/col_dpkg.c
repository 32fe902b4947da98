/*
 * The dpkg backend of the software section, and apt's facts about its package lists.
 *
 * Packages come from ROOT/var/lib/dpkg/status, dpkg's database: RFC 822-style stanzas
 * separated by empty lines, "Field: value" lines (field names are case-insensitive), and
 * continuation lines starting with a space or a tab, which only multi-line fields
 * (Description, Conffiles) use and which are skipped. The file is parsed in place over the
 * read buffer: a desktop's 5,000 packages are 3 MB of text, and nothing is allocated but
 * the JSON values.
 *
 * A package is listed exactly when `dpkg-query -W` lists it: every stanza whose state is
 * not "not-installed" (such stanzas only remember a selection, e.g. after a purge), so
 * "config-files" and "half-installed" packages appear with installed = false. Source and
 * source version are derived as dpkg derives ${source:Package} and ${source:Version}, and
 * versions are printed as dpkg prints them (a zero epoch is dropped), so the section can be
 * checked against dpkg-query line for line (tests/integ/inventory-software.sh).
 *
 * Limits: the status file is read in pieces of whole stanzas, up to LIMIT_LARGE_FILE in all
 * (so the file and the packages' JSON are never both whole in memory). A file that does not end
 * with a newline was cut short: its last stanza is dropped (a cut Version line would give
 * a wrong version) and the cut is reported. The journal in ROOT/var/lib/dpkg/updates,
 * left by an interrupted dpkg run, is not applied; its presence is reported instead
 * ("dpkg_journal_pending"), because dpkg-query would show those changes.
 *
 * apt: whether a security source is configured (names and headers of the lists in
 * ROOT/var/lib/apt/lists) and when the lists were last updated (modification times).
 */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "agent/agent.h"
#include "lib/jsonw.h"
#include "lib/limits.h"
#include "lib/mm.h"
#include "lib/str.h"

#define STATUS_PATH  "/var/lib/dpkg/status"
#define STATUS_PIECE ((size_t) 128 * 1024) /* bytes read and parsed at a time */
#define UPDATES_PATH "/var/lib/dpkg/updates"
#define APT_LISTS    "/var/lib/apt/lists"
#define APT_STAMP    "/var/lib/apt/periodic/update-success-stamp"
#define RELEASE_PEEK 4096 /* bytes of an InRelease file holding its Origin/Suite header */

/* The fields of one stanza this backend uses. */
enum {
	F_PACKAGE,
	F_STATUS,
	F_VERSION,
	F_ARCH,
	F_SOURCE,
	F_MULTI_ARCH,
	F_INSTALLED_SIZE,
	F_COUNT,
};

/* One stanza: the values of those fields, pointing into the status text, or NULL. */
struct stanza {
	const char *f[F_COUNT];
};

static const struct {
	const char *name;
	size_t len;
} stanza_fields[F_COUNT] = {
	[F_PACKAGE] = {"Package", 7},
	[F_STATUS] = {"Status", 6},
	[F_VERSION] = {"Version", 7},
	[F_ARCH] = {"Architecture", 12},
	[F_SOURCE] = {"Source", 6},
	[F_MULTI_ARCH] = {"Multi-Arch", 10},
	[F_INSTALLED_SIZE] = {"Installed-Size", 14},
};

/* The words of dpkg's Status field: want, error flag and state (dpkg-query(1)). */
static const char *const status_want[] = {"unknown", "install", "hold", "deinstall", "purge"};
static const char *const status_eflag[] = {"ok", "reinstreq"};
static const char *const status_state[] = {
	"not-installed",   "config-files",     "half-installed",   "unpacked",
	"half-configured", "triggers-awaited", "triggers-pending", "installed",
};

static bool in_list(const char *w, size_t n, const char *const *list, size_t list_n)
{
	for (size_t i = 0; i < list_n; i++)
		if (strlen(list[i]) == n && memcmp(list[i], w, n) == 0)
			return true;
	return false;
}

/* A token usable as a package name or architecture: printable, no white space. */
static bool is_token(const char *s, size_t n)
{
	if (n == 0)
		return false;
	for (size_t i = 0; i < n; i++)
		if ((unsigned char) s[i] <= ' ' || (unsigned char) s[i] >= 0x7f)
			return false;
	return true;
}

/*
 * A version as dpkg prints it (varbufversion with vdew_nonambig): an epoch of zero is
 * dropped unless the rest holds a colon of its own. Returns a pointer into v.
 */
static const char *version_nonambig(const char *v, size_t *len)
{
	size_t digits = strspn(v, "0");

	if (digits > 0 && digits < *len && v[digits] == ':' &&
	    !memchr(v + digits + 1, ':', *len - digits - 1)) {
		*len -= digits + 1;
		return v + digits + 1;
	}
	return v;
}

void col_dpkg_parse_source(const char *field, struct col_dpkg_source *ret)
{
	const char *open = strchr(field, '(');

	/* dpkg: the name ends at the first space; the version is what follows the first '('
	 * up to ')' or the end (pkg_source_version in lib/dpkg/pkg-show.c). */
	ret->name = field;
	ret->name_len = strcspn(field, " ");
	if (open) {
		ret->version = open + 1;
		ret->version_len = strcspn(open + 1, ")");
	} else {
		ret->version = NULL;
		ret->version_len = 0;
	}
}

/* Splits the Status value into its three words; false when it is not three known ones. */
static bool parse_status(const char *v, char *out, size_t outlen, bool *ret_installed,
			 bool *ret_not_installed)
{
	const char *w[3];
	size_t n[3];
	const char *p = v;

	for (int i = 0; i < 3; i++) {
		p += strspn(p, " \t");
		w[i] = p;
		n[i] = strcspn(p, " \t");
		if (n[i] == 0)
			return false;
		p += n[i];
	}
	if (p[strspn(p, " \t")] != '\0')
		return false;
	if (!in_list(w[0], n[0], status_want, ARRAY_SIZE(status_want)) ||
	    !in_list(w[1], n[1], status_eflag, ARRAY_SIZE(status_eflag)) ||
	    !in_list(w[2], n[2], status_state, ARRAY_SIZE(status_state)))
		return false;
	(void) snprintf(out, outlen, "%.*s %.*s %.*s", (int) n[0], w[0], (int) n[1], w[1],
			(int) n[2], w[2]);
	*ret_installed = streq(out, "install ok installed");
	*ret_not_installed =
		n[2] == strlen("not-installed") && memcmp(w[2], "not-installed", n[2]) == 0;
	return true;
}

static int set_stringn(json_t *obj, const char *key, const char *s, size_t n)
{
	return jsonw_set(obj, key, s ? json_stringn(s, n) : json_null());
}

/* Keeps a field only when it is what it should be; counts it otherwise. */
static const char *valid(const char *v, bool token, unsigned *bad)
{
	if (!v || (token ? is_token(v, strlen(v)) : str_is_clean_utf8(v, strlen(v))))
		return v;
	(*bad)++;
	return NULL;
}

/*
 * Adds one stanza to packages. A stanza needs a package name and a valid Status to be a
 * package; a junk version, architecture or source only nulls that field (and is counted),
 * because hiding an installed package would be worse than showing it incompletely.
 * Returns 1 when added, 0 when skipped (counted), -ENOMEM.
 */
static int emit(const struct stanza *s, json_t *packages, struct col_dpkg_stats *st)
{
	_cleanup_(json_decrefp) json_t *pkg = NULL;
	struct col_dpkg_source src = {0};
	const char *package = s->f[F_PACKAGE], *version, *arch, *multi_arch, *source;
	const char *src_version = NULL;
	size_t version_len, src_version_len = 0;
	char status[64];
	bool installed, not_installed;
	uint64_t size;

	if (!package || !s->f[F_STATUS] || !is_token(package, strlen(package)) ||
	    !parse_status(s->f[F_STATUS], status, sizeof(status), &installed, &not_installed)) {
		st->malformed++;
		return 0;
	}
	if (not_installed) {
		st->not_installed++;
		return 0;
	}
	version = valid(s->f[F_VERSION], true, &st->bad_fields);
	arch = valid(s->f[F_ARCH], true, &st->bad_fields);
	multi_arch = valid(s->f[F_MULTI_ARCH], true, &st->bad_fields);
	source = valid(s->f[F_SOURCE], false, &st->bad_fields);
	version_len = version ? strlen(version) : 0;
	if (version)
		version = version_nonambig(version, &version_len);
	if (source && *source) {
		col_dpkg_parse_source(source, &src);
	} else if (!s->f[F_SOURCE] || !*s->f[F_SOURCE]) {
		/* no Source field: the source package is the binary package */
		src.name = package;
		src.name_len = strlen(package);
	}
	if (src.version) {
		src_version_len = src.version_len;
		src_version = version_nonambig(src.version, &src_version_len);
	} else if (src.name) {
		src_version = version;
		src_version_len = version_len;
	}

	pkg = json_object();
	if (!pkg || jsonw_set(pkg, "manager", json_string("dpkg")) < 0 ||
	    jsonw_set(pkg, "name", json_string(package)) < 0 ||
	    jsonw_set(pkg, "arch", json_string(arch ? arch : "")) < 0 ||
	    set_stringn(pkg, "version", version, version_len) < 0 ||
	    jsonw_set(pkg, "status", json_string(status)) < 0 ||
	    jsonw_set(pkg, "installed", json_boolean(installed)) < 0 ||
	    set_stringn(pkg, "source", src.name, src.name_len) < 0 ||
	    set_stringn(pkg, "source_version", src_version, src_version_len) < 0 ||
	    jsonw_set(pkg, "multi_arch", json_string(multi_arch ? multi_arch : "no")) < 0)
		return -ENOMEM;
	if (s->f[F_INSTALLED_SIZE] && str_to_u64(s->f[F_INSTALLED_SIZE], 10, &size) == 0 &&
	    size <= INT64_MAX &&
	    jsonw_set(pkg, "installed_size_kib", json_integer((json_int_t) size)) < 0)
		return -ENOMEM;
	if (jsonw_append(packages, TAKE_PTR(pkg)) < 0)
		return -ENOMEM;
	st->listed++;
	if (installed)
		st->installed++;
	/* dpkg itself is always of the native architecture */
	if (streq(package, "dpkg") && arch)
		(void) snprintf(st->native_arch, sizeof(st->native_arch), "%s", arch);
	return 1;
}

/* Where the text ends once a stanza cut short by truncation is dropped. */
static char *complete_end(char *text, size_t len)
{
	char *p;

	if (len == 0 || text[len - 1] == '\n')
		return text + len;
	for (p = text + len - 1; p > text; p--)
		if (p[0] == '\n' && p[-1] == '\n')
			return p + 1;
	return text;
}

int col_dpkg_parse_status(char *text, size_t len, json_t *packages, struct col_dpkg_stats *ret)
{
	struct col_dpkg_stats st = {0};
	struct stanza s = {0};
	bool in_stanza = false;
	char *p = text, *end = complete_end(text, len);
	int r;

	st.truncated = end != text + len;
	/* a NUL inside would silently cut a value short: make it junk that fails validation */
	(void) str_replace_nul(text, (size_t) (end - text), '\x7f');
	while (p < end) {
		char *nl = memchr(p, '\n', (size_t) (end - p));
		char *eol = nl ? nl : end, *next = nl ? nl + 1 : end, *colon;
		size_t name_len;

		if (eol == p || (eol == p + 1 && *p == '\r')) {
			if (in_stanza) {
				r = emit(&s, packages, &st);
				if (r < 0)
					return r;
				s = (struct stanza){0};
				in_stanza = false;
			}
			p = next;
			continue;
		}
		in_stanza = true;
		if (*p == ' ' || *p == '\t') { /* continuation of a multi-line field */
			p = next;
			continue;
		}
		colon = memchr(p, ':', (size_t) (eol - p));
		if (!colon || colon == p) {
			st.bad_lines++;
			p = next;
			continue;
		}
		name_len = (size_t) (colon - p);
		for (size_t i = 0; i < ARRAY_SIZE(stanza_fields); i++) {
			char *v = colon + 1, *ve = eol;

			if (name_len != stanza_fields[i].len ||
			    strncasecmp(p, stanza_fields[i].name, name_len) != 0)
				continue;
			while (v < ve && (*v == ' ' || *v == '\t'))
				v++;
			while (ve > v && isspace((unsigned char) ve[-1]))
				ve--;
			*ve = '\0'; /* at most the line's '\n', or the text's final NUL */
			s.f[i] = v;
			break;
		}
		p = next;
	}
	if (in_stanza) {
		r = emit(&s, packages, &st);
		if (r < 0)
			return r;
	}
	*ret = st;
	return 0;
}

/* Whether the dpkg journal holds records: files named by digits in updates/. */
static int journal_pending(const struct col_ctx *ctx, bool *ret)
{
	_cleanup_(col_names_freep) char **names = NULL;
	int r = col_list_dir(ctx, UPDATES_PATH, LIMIT_DIR_ENTRIES, &names, NULL);

	*ret = false;
	if (r == -ENOMEM)
		return r;
	if (r < 0)
		return 0;
	for (char **n = names; *n; n++)
		if (**n && strspn(*n, "0123456789") == strlen(*n))
			*ret = true;
	return 0;
}

/* Adds the counts of one parsed piece of the status file to the running total. */
static void add_stats(struct col_dpkg_stats *total, const struct col_dpkg_stats *part)
{
	total->listed += part->listed;
	total->installed += part->installed;
	total->not_installed += part->not_installed;
	total->malformed += part->malformed;
	total->bad_lines += part->bad_lines;
	total->bad_fields += part->bad_fields;
	total->truncated = part->truncated;
	if (!total->native_arch[0])
		memcpy(total->native_arch, part->native_arch, sizeof(total->native_arch));
}

/*
 * Reads and parses the status file in pieces that end at a stanza boundary (an empty
 * line), so the whole file is never in memory at once: a desktop's status file is several
 * megabytes, the packages' JSON about as much again, and the agent's peak heap is bounded
 * by the larger of the two, not their sum. A stanza longer than a piece grows the buffer
 * (up to LIMIT_LARGE_FILE).
 */
static int parse_status_file(const struct col_ctx *ctx, json_t *packages,
			     struct col_dpkg_stats *ret)
{
	_cleanup_(closep) int fd = -1;
	_cleanup_(freep) char *buf = NULL;
	struct col_dpkg_stats total = {0}, part;
	size_t cap = STATUS_PIECE, len = 0, total_read = 0;
	bool eof = false;
	int r = col_open(ctx, STATUS_PATH, &fd);

	if (r < 0)
		return r;
	buf = mm_malloc(cap + 1);
	if (!buf)
		return -ENOMEM;
	while (!eof) {
		char *cut;
		ssize_t n;

		if (len == cap) {
			char *g;

			if (cap >= LIMIT_LARGE_FILE)
				return -E2BIG;
			g = mm_reallocarray(buf, cap * 2 + 1, 1);
			if (!g)
				return -ENOMEM;
			buf = g;
			cap *= 2;
		}
		n = read(fd, buf + len, cap - len);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		total_read += (size_t) n;
		if (total_read > LIMIT_LARGE_FILE)
			return -E2BIG;
		len += (size_t) n;
		eof = n == 0;
		buf[len] = '\0';
		/* parse up to the last empty line; at the end of the file, everything */
		cut = NULL;
		if (!eof)
			for (char *q = buf + len; q > buf + 1; q--)
				if (q[-1] == '\n' && q[-2] == '\n') {
					cut = q;
					break;
				}
		if (!eof && !cut)
			continue;
		if (eof) {
			r = col_dpkg_parse_status(buf, len, packages, &part);
			if (r < 0)
				return r;
			add_stats(&total, &part);
			break;
		}
		{
			size_t done = (size_t) (cut - buf), rest = len - done;
			char saved = *cut;

			*cut = '\0';
			r = col_dpkg_parse_status(buf, done, packages, &part);
			*cut = saved;
			if (r < 0)
				return r;
			part.truncated = false;
			add_stats(&total, &part);
			memmove(buf, cut, rest);
			len = rest;
		}
	}
	*ret = total;
	return 0;
}

int col_dpkg_collect(const struct col_ctx *ctx, json_t *section, json_t *packages)
{
	struct col_dpkg_stats st = {0};
	bool pending;
	int r;

	r = parse_status_file(ctx, packages, &st);
	if (r == -ENOENT)
		return -ENOENT;
	if (r == -ENOMEM)
		return r;
	if (r < 0)
		return col_error(section, STATUS_PATH, r, NULL) < 0 ? -ENOMEM : r;
	if (st.truncated && col_error(section, STATUS_PATH, 0,
				      "file ends mid-line: its last stanza was dropped") < 0)
		return -ENOMEM;
	if ((st.malformed || st.bad_lines) &&
	    col_error(section, STATUS_PATH, 0,
		      "%u malformed stanzas and %u malformed lines skipped", st.malformed,
		      st.bad_lines) < 0)
		return -ENOMEM;
	if (st.bad_fields &&
	    col_error(section, STATUS_PATH, 0, "%u fields not valid text: shown as null",
		      st.bad_fields) < 0)
		return -ENOMEM;
	r = journal_pending(ctx, &pending);
	if (r < 0)
		return r;
	if (jsonw_set(section, "dpkg_installed", json_integer(st.installed)) < 0 ||
	    jsonw_set(section, "dpkg_journal_pending", json_boolean(pending)) < 0 ||
	    jsonw_set(section, "dpkg_native_arch",
		      st.native_arch[0] ? json_string(st.native_arch) : json_null()) < 0)
		return -ENOMEM;
	return (int) st.listed;
}

/* Whether the head of an InRelease file names a security suite or label: 1 or 0, or
 * -ENOMEM (an unreadable file is simply not a security source). */
static int release_is_security(const struct col_ctx *ctx, const char *path)
{
	_cleanup_(closep) int fd = -1;
	char head[RELEASE_PEEK + 1];
	ssize_t n;
	int r = col_open(ctx, path, &fd);

	if (r == -ENOMEM)
		return r;
	if (r < 0)
		return 0;
	n = pread(fd, head, RELEASE_PEEK, 0);
	if (n <= 0)
		return 0;
	head[n] = '\0';
	for (char *cursor = head, *line; (line = str_next_line(&cursor));) {
		const char *v = str_startswith(line, "Suite:");

		if (!v)
			v = str_startswith(line, "Codename:");
		if (!v)
			v = str_startswith(line, "Label:");
		if (v && (strstr(v, "-security") || strstr(v, "-Security")))
			return 1;
	}
	return 0;
}

/* A list file apt fetched: …_Packages (possibly compressed: .lz4, .gz, .xz) or …_InRelease. */
static bool is_packages_list(const char *name)
{
	const char *p = strstr(name, "_Packages");

	return p && (p[9] == '\0' || p[9] == '.');
}

int col_dpkg_collect_apt(const struct col_ctx *ctx, json_t *section)
{
	_cleanup_(col_names_freep) char **names = NULL;
	json_t *apt = json_object();
	bool security = false;
	int64_t newest = 0;
	const char *newest_source = NULL;
	struct stat st;
	int r;

	if (jsonw_set(section, "apt", apt) < 0)
		return -ENOMEM;
	r = col_list_dir(ctx, APT_LISTS, LIMIT_DIR_ENTRIES, &names, NULL);
	if (r == -ENOMEM)
		return r;
	if (r == -ENOENT)
		return jsonw_set(apt, "present", json_false());
	if (r < 0)
		return col_error(section, APT_LISTS, r, NULL) < 0 ? -ENOMEM : 0;
	if (jsonw_set(apt, "present", json_true()) < 0)
		return -ENOMEM;

	for (char **n = names; *n; n++) {
		_cleanup_(freep) char *path = mm_asprintf(APT_LISTS "/%s", *n);
		bool release = str_endswith(*n, "_InRelease") || str_endswith(*n, "_Release");

		if (!path)
			return -ENOMEM;
		if (!release && !is_packages_list(*n))
			continue;
		if (strstr(*n, "security")) {
			security = true;
		} else if (release && !security) {
			r = release_is_security(ctx, path);
			if (r < 0)
				return r;
			security = r > 0;
		}
		if (release && col_stat(ctx, path, &st) == 0 && st.st_mtime > newest) {
			newest = st.st_mtime;
			newest_source = APT_LISTS "/*_InRelease";
		}
	}
	/* apt sets a list's mtime to the server's Last-Modified; partial/ and the periodic
	 * stamp are touched by the update itself, so they win when newer. */
	if (col_stat(ctx, APT_LISTS "/partial", &st) == 0 && st.st_mtime > newest) {
		newest = st.st_mtime;
		newest_source = APT_LISTS "/partial";
	}
	if (col_stat(ctx, APT_STAMP, &st) == 0 && st.st_mtime > newest) {
		newest = st.st_mtime;
		newest_source = APT_STAMP;
	}
	if (jsonw_set(apt, "security_source", json_boolean(security)) < 0 ||
	    jsonw_set(apt, "last_update", newest ? json_integer(newest) : json_null()) < 0 ||
	    jsonw_set(apt, "last_update_source",
		      newest_source ? json_string(newest_source) : json_null()) < 0)
		return -ENOMEM;
	return 0;
}
