/*
 * Pending security updates, from apt's own data under the root: the installed dpkg
 * packages (the software section's list, already parsed from the dpkg status) against the
 * versions in the package lists (ROOT/var/lib/apt/lists/…_Packages[.lz4|.gz]) of the
 * sources whose Release or InRelease file marks them as security (Suite or Codename ending
 * in -security, or Label Debian-Security). A package is pending when such a list offers a
 * version newer than the installed one, in dpkg's order (lib/debversion.c) — the security
 * fix is not installed, whichever version apt would pick to install it.
 *
 * A list belongs to the Release file whose name, without "InRelease" or "Release", is the
 * longest prefix of the list's name (apt names both after the source's URI and suite:
 * host_path_dists_SUITE_InRelease, host_path_dists_SUITE_main_binary-amd64_Packages).
 * Packages match by name and architecture, as dpkg records them.
 *
 * Not applied: apt's pinning (/etc/apt/preferences*). A pin may stop apt from installing a
 * security version, but the hole is there all the same, so the package counts; a package
 * dpkg holds counts too and is marked "held". Not read: lists compressed other than lz4
 * and gzip (apt keeps lists as lz4 when it keeps them compressed at all), which are
 * reported, and make the count unknown (null) rather than too small.
 *
 * Limits: lists are read and parsed in pieces of whole stanzas (LIMIT_APT_STANZA at most
 * each), through a streaming decompressor with a fixed window, so a list of any size
 * costs some 200 KiB at once; at most LIMIT_APT_LIST bytes of one list, LIMIT_APT_SOURCES
 * Release files, LIMIT_SECURITY_LISTED packages listed (all are counted).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "agent/agent.h"
#include "lib/debversion.h"
#include "lib/jsonw.h"
#include "lib/limits.h"
#include "lib/mm.h"
#include "lib/str.h"

#define APT_LISTS "/var/lib/apt/lists"
#define PIECE     ((size_t) 16 * 1024) /* bytes of a list read and parsed at a time */

/* ---- Release files ---- */

static void set_field(char *dst, size_t size, const char *v)
{
	(void) snprintf(dst, size, "%s", v);
}

int col_apt_parse_release(char *text, struct col_apt_release *ret)
{
	struct col_apt_release rel = {{0}};
	char *cursor = text, *line;
	bool armoured = false, any = false;

	line = str_next_line(&cursor);
	if (line && str_startswith(line, "-----BEGIN PGP SIGNED MESSAGE-----")) {
		/* the armour headers ("Hash: SHA512") end at the first empty line */
		armoured = true;
		while ((line = str_next_line(&cursor)) && *str_strip(line))
			;
		line = str_next_line(&cursor);
	}
	for (; line; line = str_next_line(&cursor)) {
		char *colon, *v;

		if (line[0] == ' ' || line[0] == '\t')
			continue; /* a continuation (the checksum lists) */
		(void) str_strip(line);
		if (!*line)
			break; /* the end of the first paragraph */
		if (armoured && str_startswith(line, "-----BEGIN PGP SIGNATURE-----"))
			break;
		colon = strchr(line, ':');
		if (!colon || colon == line)
			continue;
		*colon = '\0';
		v = str_strip(colon + 1);
		any = true;
		if (strcasecmp(line, "Origin") == 0)
			set_field(rel.origin, sizeof(rel.origin), v);
		else if (strcasecmp(line, "Label") == 0)
			set_field(rel.label, sizeof(rel.label), v);
		else if (strcasecmp(line, "Suite") == 0)
			set_field(rel.suite, sizeof(rel.suite), v);
		else if (strcasecmp(line, "Codename") == 0)
			set_field(rel.codename, sizeof(rel.codename), v);
	}
	if (!any)
		return -EBADMSG;
	*ret = rel;
	return 0;
}

bool col_apt_release_is_security(const struct col_apt_release *r)
{
	return str_endswith(r->suite, "-security") || str_endswith(r->codename, "-security") ||
	       streq(r->label, "Debian-Security");
}

/* ---- Packages lists ---- */

enum {
	P_PACKAGE,
	P_ARCH,
	P_VERSION,
	P_COUNT
};

static const struct {
	const char *name;
	size_t len;
} pkg_fields[P_COUNT] = {
	[P_PACKAGE] = {"Package", 7},
	[P_ARCH] = {"Architecture", 12},
	[P_VERSION] = {"Version", 7},
};

/* A package name, architecture or version: printable ASCII, no white space. */
static bool is_token(const char *s)
{
	if (!*s)
		return false;
	for (; *s; s++)
		if ((unsigned char) *s <= ' ' || (unsigned char) *s >= 0x7f)
			return false;
	return true;
}

/* Where the last empty line ("\n\n" or "\n\r\n") of text[0..len) ends; 0 when none. */
static size_t last_break(const char *text, size_t len)
{
	for (size_t i = len; i >= 2; i--) {
		if (text[i - 1] != '\n')
			continue;
		if (text[i - 2] == '\n' || (i >= 3 && text[i - 2] == '\r' && text[i - 3] == '\n'))
			return i;
	}
	return 0;
}

static int stanza_end(const char *const f[P_COUNT], col_apt_stanza_fn fn, void *userdata,
		      struct col_apt_packages_stats *st)
{
	if (!f[P_PACKAGE] || !f[P_ARCH] || !f[P_VERSION] || !is_token(f[P_PACKAGE]) ||
	    !is_token(f[P_ARCH]) || !is_token(f[P_VERSION])) {
		st->skipped++;
		return 0;
	}
	st->stanzas++;
	return fn(f[P_PACKAGE], f[P_ARCH], f[P_VERSION], userdata);
}

int col_apt_parse_packages(char *text, size_t len, bool at_end, col_apt_stanza_fn fn,
			   void *userdata, struct col_apt_packages_stats *st, size_t *ret_consumed)
{
	const char *f[P_COUNT] = {NULL};
	char *end = text + len, *p = text;
	bool in_stanza = false;
	int r;

	/* only whole stanzas: up to the last empty line, unless this is the end, where a
	 * text cut short (no final newline) loses its last stanza: a cut Version is wrong */
	if (!at_end) {
		end = text + last_break(text, len);
	} else if (len > 0 && text[len - 1] != '\n') {
		end = text + last_break(text, len);
		st->truncated = true;
	}
	/* a NUL inside would cut a value short: make it junk that fails validation */
	(void) str_replace_nul(text, (size_t) (end - text), '\x7f');
	while (p < end) {
		char *nl = memchr(p, '\n', (size_t) (end - p));
		char *eol = nl ? nl : end, *next = nl ? nl + 1 : end, *colon;
		size_t name_len;

		if (eol > p && eol[-1] == '\r')
			eol--;
		if (eol == p) {
			if (in_stanza && (r = stanza_end(f, fn, userdata, st)) < 0)
				return r;
			memset(f, 0, sizeof(f));
			in_stanza = false;
			p = next;
			continue;
		}
		in_stanza = true;
		if (*p == ' ' || *p == '\t') {
			p = next;
			continue;
		}
		colon = memchr(p, ':', (size_t) (eol - p));
		if (!colon || colon == p) {
			st->bad_lines++;
			p = next;
			continue;
		}
		name_len = (size_t) (colon - p);
		for (size_t i = 0; i < P_COUNT; i++) {
			char *v = colon + 1, *ve = eol;

			if (name_len != pkg_fields[i].len ||
			    strncasecmp(p, pkg_fields[i].name, name_len) != 0)
				continue;
			while (v < ve && (*v == ' ' || *v == '\t'))
				v++;
			while (ve > v && (ve[-1] == ' ' || ve[-1] == '\t'))
				ve--;
			*ve = '\0'; /* at most the line's '\r' or '\n', inside [text, end) */
			f[i] = v;
			break;
		}
		p = next;
	}
	if (in_stanza && (r = stanza_end(f, fn, userdata, st)) < 0)
		return r;
	*ret_consumed = (size_t) (end - text);
	return 0;
}

/* ---- the collector ---- */

/* An installed dpkg package; strings borrowed from the section's packages list. */
struct inst {
	const char *name, *arch, *version;
	bool held;
	char *candidate;   /* the newest security version above `version`, or NULL */
	const char *suite; /* the source it comes from (a struct source's) */
};

struct source {
	char *stem; /* the Release file's name without "InRelease"/"Release" */
	bool security;
	char suite[128]; /* Codename, else Suite */
};

struct apt_state {
	const struct col_ctx *ctx;
	json_t *section;
	struct inst *inst;
	size_t n_inst;
	struct source *src;
	size_t n_src;
	const struct source *current; /* the list being read */
	size_t odd_versions;          /* versions in a list that do not parse */
};

static int cmp_inst(const void *a, const void *b)
{
	const struct inst *x = a, *y = b;
	int r = strcmp(x->name, y->name);

	return r ? r : strcmp(x->arch, y->arch);
}

static void state_done(struct apt_state *s)
{
	for (size_t i = 0; i < s->n_inst; i++)
		mm_free(s->inst[i].candidate);
	mm_free(s->inst);
	for (size_t i = 0; i < s->n_src; i++)
		mm_free(s->src[i].stem);
	mm_free(s->src);
}

/* The state word of dpkg's status ("install ok installed" → "installed"). */
static const char *status_state(const char *status)
{
	const char *sp = strrchr(status, ' ');

	return sp ? sp + 1 : status;
}

/* Indexes the dpkg packages that have files on disk (apt's "current version"). */
static int index_installed(struct apt_state *s, const json_t *packages)
{
	const json_t *p;
	size_t i, n = json_array_size(packages);

	s->inst = mm_reallocarray(NULL, n ? n : 1, sizeof(*s->inst));
	if (!s->inst)
		return -ENOMEM;
	json_array_foreach (packages, i, p) {
		const char *manager = json_string_value(json_object_get(p, "manager"));
		const char *status = json_string_value(json_object_get(p, "status"));
		const char *state;
		struct debversion v;
		struct inst *e;

		if (!manager || !streq(manager, "dpkg") || !status)
			continue;
		state = status_state(status);
		if (streq(state, "not-installed") || streq(state, "config-files"))
			continue;
		e = &s->inst[s->n_inst];
		*e = (struct inst){
			.name = json_string_value(json_object_get(p, "name")),
			.arch = json_string_value(json_object_get(p, "arch")),
			.version = json_string_value(json_object_get(p, "version")),
			.held = str_startswith(status, "hold ") != NULL,
		};
		if (!e->name || !e->arch || !e->version || debversion_parse(e->version, &v) < 0)
			continue;
		s->n_inst++;
	}
	qsort(s->inst, s->n_inst, sizeof(*s->inst), cmp_inst);
	return 0;
}

static int on_stanza(const char *package, const char *arch, const char *version, void *userdata)
{
	struct apt_state *s = userdata;
	struct inst key = {.name = package, .arch = arch}, *e;
	struct debversion offered, have;

	e = bsearch(&key, s->inst, s->n_inst, sizeof(*s->inst), cmp_inst);
	if (!e)
		return 0;
	if (debversion_parse(version, &offered) < 0) {
		s->odd_versions++;
		return 0;
	}
	if (debversion_parse(e->candidate ? e->candidate : e->version, &have) < 0 ||
	    debversion_compare(&offered, &have) <= 0)
		return 0;
	mm_free(e->candidate);
	e->candidate = mm_strdup(version);
	if (!e->candidate)
		return -ENOMEM;
	e->suite = s->current->suite;
	return 0;
}

/* Reads one security list through the decompressor, a piece at a time. */
static int read_list(struct apt_state *s, const char *path, enum unpack_format format,
		     struct col_apt_packages_stats *st)
{
	_cleanup_(closep) int fd = -1;
	_cleanup_(unpack_freep) struct unpack *u = NULL;
	_cleanup_(freep) char *buf = NULL;
	size_t cap = PIECE, len = 0;
	bool eof = false;
	int r = col_open(s->ctx, path, &fd);

	if (r < 0)
		return r;
	r = unpack_new(fd, NULL, 0, format, LIMIT_APT_LIST, &u);
	if (r < 0)
		return r;
	buf = mm_malloc(cap + 1);
	if (!buf)
		return -ENOMEM;
	while (!eof) {
		size_t used;
		ssize_t n;

		if (len == cap) { /* one stanza fills the buffer: grow it, up to the limit */
			char *g;

			if (cap >= LIMIT_APT_STANZA)
				return -E2BIG;
			g = mm_reallocarray(buf, MIN(cap * 2, LIMIT_APT_STANZA) + 1, 1);
			if (!g)
				return -ENOMEM;
			buf = g;
			cap = MIN(cap * 2, LIMIT_APT_STANZA);
		}
		n = unpack_read(u, buf + len, cap - len);
		if (n < 0)
			return (int) n;
		eof = n == 0;
		len += (size_t) n;
		buf[len] = '\0';
		r = col_apt_parse_packages(buf, len, eof, on_stanza, s, st, &used);
		if (r < 0)
			return r;
		memmove(buf, buf + used, len - used);
		len -= used;
	}
	return 0;
}

/* The source (Release file) a list belongs to: the longest stem its name starts with. */
static const struct source *source_of(const struct apt_state *s, const char *name)
{
	const struct source *best = NULL;

	for (size_t i = 0; i < s->n_src; i++)
		if (str_startswith(name, s->src[i].stem) &&
		    (!best || strlen(s->src[i].stem) > strlen(best->stem)))
			best = &s->src[i];
	return best;
}

/* A list apt fetched: …_Packages, possibly compressed (…_Packages.lz4). */
static bool is_packages_list(const char *name)
{
	const char *p = strstr(name, "_Packages");

	return p && (p[9] == '\0' || p[9] == '.');
}

/* Reads the Release files: which sources are security ones. */
static int read_sources(struct apt_state *s, char **names)
{
	size_t n = 0;

	for (char **nm = names; *nm; n++, nm++)
		;
	s->src = mm_reallocarray(NULL, MIN(n, (size_t) LIMIT_APT_SOURCES) + 1, sizeof(*s->src));
	if (!s->src)
		return -ENOMEM;
	for (char **nm = names; *nm && s->n_src < LIMIT_APT_SOURCES; nm++) {
		_cleanup_(freep) char *path = NULL, *head = NULL;
		struct col_apt_release rel;
		const char *suffix = str_endswith(*nm, "_InRelease") ? "InRelease"
				     : str_endswith(*nm, "_Release") ? "Release"
								     : NULL;
		struct source *src;
		size_t stem_len, head_len;
		int r;

		if (!suffix)
			continue;
		stem_len = strlen(*nm) - strlen(suffix);
		/* InRelease and Release of one source: the first listed (InRelease) wins */
		for (size_t i = 0; i < s->n_src; i++)
			if (strlen(s->src[i].stem) == stem_len &&
			    strncmp(s->src[i].stem, *nm, stem_len) == 0)
				suffix = NULL;
		if (!suffix)
			continue;
		path = mm_asprintf(APT_LISTS "/%s", *nm);
		if (!path)
			return -ENOMEM;
		r = col_read_head(s->ctx, path, LIMIT_APT_RELEASE, &head, &head_len);
		if (r == -ENOMEM)
			return r;
		if (r < 0 || col_apt_parse_release(head, &rel) < 0) {
			if (col_error(s->section, path, r < 0 ? r : 0,
				      r < 0 ? NULL : "no Release fields: not a Release file") < 0)
				return -ENOMEM;
			continue;
		}
		src = &s->src[s->n_src];
		*src = (struct source){.security = col_apt_release_is_security(&rel)};
		set_field(src->suite, sizeof(src->suite),
			  rel.codename[0] ? rel.codename : rel.suite);
		src->stem = mm_strndup(*nm, stem_len);
		if (!src->stem)
			return -ENOMEM;
		s->n_src++;
	}
	return 0;
}

/* The result object: the packages with a candidate, sorted, bounded. */
static int report(struct apt_state *s, json_t *out, size_t *ret_total)
{
	json_t *list = json_array();
	size_t total = 0;

	if (jsonw_set(out, "packages", list) < 0)
		return -ENOMEM;
	for (size_t i = 0; i < s->n_inst; i++) {
		const struct inst *e = &s->inst[i];

		if (!e->candidate)
			continue;
		total++;
		if (json_array_size(list) >= LIMIT_SECURITY_LISTED)
			continue;
		if (jsonw_append(list,
				 json_pack("{s:s, s:s, s:s, s:s, s:s, s:b}", "name", e->name,
					   "arch", e->arch, "installed", e->version, "candidate",
					   e->candidate, "suite", e->suite, "held", e->held)) < 0)
			return -ENOMEM;
	}
	*ret_total = total;
	return jsonw_set(out, "truncated", json_boolean(total > json_array_size(list)));
}

static int collect(struct apt_state *s, json_t *out, const char **ret_reason)
{
	_cleanup_(col_names_freep) char **names = NULL;
	const json_t *counts = json_object_get(s->section, "counts");
	json_t *lists;
	int64_t newest = -1;
	bool complete = true, any_security = false;
	size_t total = 0;
	int r;

	if (!json_is_integer(json_object_get(counts, "dpkg"))) {
		*ret_reason = "the dpkg status could not be read";
		return 0;
	}
	r = index_installed(s, json_object_get(s->section, "packages"));
	if (r < 0)
		return r;
	r = col_list_dir(s->ctx, APT_LISTS, LIMIT_DIR_ENTRIES, &names, NULL);
	if (r == -ENOMEM)
		return r;
	if (r < 0) {
		*ret_reason = r == -ENOENT ? "apt has no package lists"
					   : "apt's package lists could not be listed";
		if (r != -ENOENT && col_error(s->section, APT_LISTS, r, NULL) < 0)
			return -ENOMEM;
		return 0;
	}
	r = read_sources(s, names);
	if (r < 0)
		return r;
	if (jsonw_set(out, "lists", lists = json_array()) < 0)
		return -ENOMEM;
	for (char **nm = names; *nm; nm++) {
		_cleanup_(freep) char *path = NULL;
		struct col_apt_packages_stats st = {0};
		enum unpack_format format;
		struct stat sb;

		if (!is_packages_list(*nm))
			continue;
		s->current = source_of(s, *nm);
		if (!s->current || !s->current->security)
			continue;
		any_security = true;
		path = mm_asprintf(APT_LISTS "/%s", *nm);
		if (!path || jsonw_append(lists, json_string(path)) < 0)
			return -ENOMEM;
		r = unpack_format_of(*nm, &format);
		if (r < 0) {
			complete = false;
			if (col_error(
				    s->section, path, 0,
				    "compressed in a format the agent does not read: not searched "
				    "for security updates") < 0)
				return -ENOMEM;
			continue;
		}
		r = read_list(s, path, format, &st);
		if (r == -ENOMEM)
			return r;
		if (r < 0) {
			complete = false;
			if (col_error(s->section, path, r,
				      r == -EBADMSG ? "corrupt or truncated: security updates "
						      "may be missing"
						    : NULL) < 0)
				return -ENOMEM;
			continue;
		}
		if ((st.truncated || st.skipped || st.bad_lines) &&
		    col_error(s->section, path, 0,
			      "%s%zu malformed stanzas and %zu malformed lines skipped",
			      st.truncated ? "ends mid-line (its last stanza was dropped); " : "",
			      st.skipped, st.bad_lines) < 0)
			return -ENOMEM;
		if (col_stat(s->ctx, path, &sb) == 0 && sb.st_mtime > newest)
			newest = sb.st_mtime;
	}
	if (s->odd_versions &&
	    col_error(s->section, APT_LISTS, 0,
		      "%zu versions of installed packages in security lists do not parse",
		      s->odd_versions) < 0)
		return -ENOMEM;
	r = report(s, out, &total);
	if (r < 0)
		return r;
	if (jsonw_set(out, "total", json_integer((json_int_t) total)) < 0 ||
	    jsonw_set(out, "complete", json_boolean(complete && any_security)) < 0 ||
	    jsonw_set(out, "lists_time", newest >= 0 ? json_integer(newest) : json_null()) < 0)
		return -ENOMEM;
	if (!any_security)
		*ret_reason = s->n_src ? "no security source is configured in apt"
				       : "apt has no package lists";
	else if (!complete)
		*ret_reason = "a security list could not be read";
	return 0;
}

int col_apt_collect(const struct col_ctx *ctx, json_t *section)
{
	struct apt_state s = {.ctx = ctx, .section = section};
	const char *reason = NULL;
	json_t *out = json_object();
	int r;

	if (jsonw_set(section, "security_updates", out) < 0)
		return -ENOMEM;
	r = collect(&s, out, &reason);
	if (r >= 0)
		r = jsonw_set(
			section, "security_updates_pending",
			reason ? json_null()
			       : json_integer(json_integer_value(json_object_get(out, "total"))));
	if (r >= 0 && reason)
		r = jsonw_set(out, "reason", json_string(reason));
	state_done(&s);
	return r < 0 ? -ENOMEM : 0;
}
