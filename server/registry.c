/*
 * The device registry (管理デバイス) on the server: the check of one device's fields, shared
 * by the JSON API and the CSV import, and the registry's CSV form, parsed on import and
 * written on export so that an export imports back to the same registry.
 *
 * The CSV is RFC 4180 with a header row naming the columns, in any order: serial and
 * owner are required, vendor, product, tags and note optional; names are matched without
 * regard to case. Fields may be quoted ("a, b" and "say ""hi""") and quoted fields may
 * span lines; CRLF and LF both end a row; a UTF-8 byte order mark (Excel writes one) is
 * skipped; blank lines are skipped. Unquoted fields are trimmed of spaces, quoted ones
 * kept as written (the export quotes a value with spaces at an end, so it survives the
 * round trip). Tags inside their field are separated by ';'.
 *
 * The parser reads the whole text and reports every bad row in one pass, each as
 * FILE:LINE:COLUMN (the line and column where the bad field starts), and returns no
 * devices at all when there was any error: an import is all or nothing. Limits:
 * LIMIT_CSV_ROWS rows, LIMIT_CSV_FIELD bytes per field, LIMIT_CSV_ERRORS errors reported
 * (the rest are counted in a last message). The text itself is bounded by the API's body
 * limit.
 */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "lib/buf.h"
#include "lib/limits.h"
#include "lib/mm.h"
#include "lib/str.h"
#include "server/server.h"

/* ---- one device ---- */

static bool has_edge_space(const char *s)
{
	size_t n = strlen(s);

	return n && (isspace((unsigned char) s[0]) || isspace((unsigned char) s[n - 1]));
}

bool registry_serial_ok(const char *s)
{
	size_t n = s ? strlen(s) : 0;

	return n >= 1 && n <= REGISTRY_SERIAL_MAX && str_is_clean_utf8(s, n) && !has_edge_space(s);
}

bool registry_tag_ok(const char *s)
{
	size_t n = s ? strlen(s) : 0;

	/* a tag must be writable as a word of the rule language (docs/usb-rules.md) */
	return n >= 1 && n <= REGISTRY_TAG_MAX && str_is_clean_utf8(s, n) &&
	       !strpbrk(s, " \t,;\"#'\\");
}

/* 4 hex digits, as the rules write USB ids; "" and JSON null mean unknown. */
static int usb_id(json_t *v, int *ret)
{
	const char *s = json_string_value(v);
	unsigned x = 0;

	if (!v || json_is_null(v) || (s && !*s)) {
		*ret = -1;
		return 0;
	}
	if (!s || strlen(s) != 4 || strspn(s, "0123456789abcdefABCDEF") != 4)
		return -EINVAL;
	for (const char *p = s; *p; p++)
		x = x * 16 + (unsigned) (isdigit((unsigned char) *p)
						 ? *p - '0'
						 : tolower((unsigned char) *p) - 'a' + 10);
	*ret = (int) x;
	return 0;
}

static void say(const char **ret_field, const char *field, char *why, size_t whylen,
		const char *fmt, ...) _printf_(5, 6);

static void say(const char **ret_field, const char *field, char *why, size_t whylen,
		const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	(void) vsnprintf(why, whylen, fmt, ap);
	va_end(ap);
	*ret_field = field;
}

/* Records why a field is wrong and gives -EINVAL, in a form the static analyser sees
 * through (it does not follow variadic calls), so it knows a refusal is negative. */
#define fail(ret_field, field, why, whylen, ...) \
	((void) say(ret_field, field, why, whylen, __VA_ARGS__), -EINVAL)

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(const char *const *) a, *(const char *const *) b);
}

/* Replaces obj["tags"] with its strings sorted, each once. */
static int normalise_tags(json_t *obj, json_t *tags)
{
	_cleanup_(freep) const char **v = NULL;
	json_t *out = json_array();
	size_t n = json_array_size(tags);

	if (!out)
		return -ENOMEM;
	v = mm_calloc(n + 1, sizeof(*v));
	if (!v) {
		json_decref(out);
		return -ENOMEM;
	}
	for (size_t i = 0; i < n; i++)
		v[i] = json_string_value(json_array_get(tags, i));
	qsort(v, n, sizeof(*v), cmp_str);
	for (size_t i = 0; i < n; i++) {
		if (i > 0 && streq(v[i - 1], v[i]))
			continue;
		if (jsonw_append(out, json_string(v[i])) < 0) {
			json_decref(out);
			return -ENOMEM;
		}
	}
	return jsonw_set(obj, "tags", out);
}

int registry_device_check(json_t *obj, struct store_device *ret, const char **ret_field, char *why,
			  size_t whylen)
{
	static const char *const known[] = {"serial", "vendor", "product", "owner", "tags", "note"};
	const char *key, *serial, *owner, *note = NULL;
	json_t *v, *tags, *t;
	size_t i;
	int vendor, product, r;

	if (!json_is_object(obj))
		return fail(ret_field, "", why, whylen, "expected an object");
	json_object_foreach (obj, key, v) {
		bool ok = false;

		for (i = 0; i < ARRAY_SIZE(known); i++)
			ok = ok || streq(key, known[i]);
		if (!ok)
			return fail(ret_field, key, why, whylen,
				    "field '%.64s' is not known (known: serial, vendor, product, "
				    "owner, tags, note)",
				    key);
	}
	serial = json_string_value(json_object_get(obj, "serial"));
	if (!registry_serial_ok(serial))
		return fail(ret_field, "serial", why, whylen,
			    "field 'serial': 1 to %u bytes of text, without control characters "
			    "or spaces at either end",
			    REGISTRY_SERIAL_MAX);
	if (usb_id(json_object_get(obj, "vendor"), &vendor) < 0)
		return fail(ret_field, "vendor", why, whylen,
			    "field 'vendor': the USB vendor id as 4 hex digits (0781), or empty");
	if (usb_id(json_object_get(obj, "product"), &product) < 0)
		return fail(ret_field, "product", why, whylen,
			    "field 'product': the USB product id as 4 hex digits (5581), or empty");
	owner = json_string_value(json_object_get(obj, "owner"));
	if (!owner || !*owner || strlen(owner) > REGISTRY_OWNER_MAX ||
	    !str_is_clean_utf8(owner, strlen(owner)))
		return fail(ret_field, "owner", why, whylen,
			    "field 'owner': who the device was issued to, 1 to %u bytes of text",
			    REGISTRY_OWNER_MAX);
	v = json_object_get(obj, "note");
	if (v && !json_is_null(v)) {
		note = json_string_value(v);
		if (!note || strlen(note) > REGISTRY_NOTE_MAX ||
		    !str_is_clean_utf8(note, strlen(note)))
			return fail(ret_field, "note", why, whylen,
				    "field 'note': at most %u bytes of text on one line",
				    REGISTRY_NOTE_MAX);
		if (!*note)
			note = NULL;
	}
	tags = json_object_get(obj, "tags");
	if (!tags || json_is_null(tags)) {
		if (jsonw_set(obj, "tags", json_array()) < 0)
			return -ENOMEM;
		tags = json_object_get(obj, "tags");
	}
	if (!json_is_array(tags) || json_array_size(tags) > REGISTRY_TAGS_MAX)
		return fail(ret_field, "tags", why, whylen,
			    "field 'tags': a list of at most %u tags", REGISTRY_TAGS_MAX);
	json_array_foreach (tags, i, t)
		if (!registry_tag_ok(json_string_value(t)))
			return fail(ret_field, "tags", why, whylen,
				    "field 'tags': '%.64s' is not a tag (1 to %u bytes without "
				    "spaces, commas, semicolons, quotes or '#')",
				    json_is_string(t) ? json_string_value(t) : "?",
				    REGISTRY_TAG_MAX);
	r = normalise_tags(obj, tags);
	if (r < 0)
		return r;
	*ret = (struct store_device){
		.serial = serial,
		.vendor = vendor,
		.product = product,
		.owner = owner,
		.note = note,
		.tags = json_object_get(obj, "tags"),
	};
	return 0;
}

/* ---- CSV ---- */

enum column {
	COL_SERIAL,
	COL_VENDOR,
	COL_PRODUCT,
	COL_OWNER,
	COL_TAGS,
	COL_NOTE,
	COL_N,
};

static const char *const column_names[COL_N] = {"serial", "vendor", "product",
						"owner",  "tags",   "note"};

#define MAX_FIELDS 64 /* fields of one row: the header names six, spares are an error */

struct field {
	char *text;
	unsigned line, col;
	bool quoted; /* kept as written; an unquoted field is trimmed */
};

struct row {
	struct field f[MAX_FIELDS];
	size_t n;
	unsigned line;
	bool bad; /* an error was reported while reading it */
};

struct csv {
	const char *file;
	const char *p, *end;
	unsigned line, col;
	struct diag *d;
	size_t errors; /* all of them, reported or not */
};

static void row_done(struct row *r)
{
	for (size_t i = 0; i < r->n; i++)
		mm_free(r->f[i].text);
	r->n = 0;
}

static void csv_error(struct csv *c, unsigned line, unsigned col, const char *fmt, ...)
	_printf_(4, 5);

static void csv_error(struct csv *c, unsigned line, unsigned col, const char *fmt, ...)
{
	char msg[512];
	va_list ap;

	c->errors++;
	if (c->errors > LIMIT_CSV_ERRORS)
		return;
	va_start(ap, fmt);
	(void) vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	diag_error(c->d, c->file, line, col, "%s", msg);
}

static void advance(struct csv *c)
{
	if (*c->p == '\n') {
		c->line++;
		c->col = 1;
	} else {
		c->col++;
	}
	c->p++;
}

/* Skips to the start of the next physical line: after an error, reading goes on there. */
static void skip_line(struct csv *c)
{
	while (c->p < c->end && *c->p != '\n')
		advance(c);
	if (c->p < c->end)
		advance(c);
}

/* Reads one field into b; 0, or -EINVAL after reporting (the row is then skipped), or
 * -ENOMEM. */
static int read_field(struct csv *c, struct buf *b, struct field *f)
{
	f->line = c->line;
	f->col = c->col;
	f->quoted = c->p < c->end && *c->p == '"';
	if (f->quoted) {
		advance(c);
		for (;;) {
			if (c->p >= c->end) {
				csv_error(c, f->line, f->col, "a quoted field is never closed");
				return -EINVAL;
			}
			if (*c->p == '"') {
				if (c->p + 1 < c->end && c->p[1] == '"') {
					advance(c);
				} else {
					advance(c);
					break;
				}
			}
			if (buf_addc(b, *c->p) < 0)
				goto too_long;
			advance(c);
		}
		if (c->p < c->end && *c->p != ',' && *c->p != '\n' && *c->p != '\r') {
			csv_error(c, c->line, c->col,
				  "text after the closing quote of a field: a quote inside a "
				  "quoted field is written twice (\"\")");
			skip_line(c);
			return -EINVAL;
		}
	} else {
		while (c->p < c->end && *c->p != ',' && *c->p != '\n' && *c->p != '\r') {
			if (*c->p == '"') {
				csv_error(c, c->line, c->col,
					  "a quote inside an unquoted field: quote the whole field "
					  "and write the quote twice");
				skip_line(c);
				return -EINVAL;
			}
			if (buf_addc(b, *c->p) < 0)
				goto too_long;
			advance(c);
		}
	}
	if (c->p < c->end && *c->p == '\r' && c->p + 1 < c->end && c->p[1] != '\n') {
		csv_error(c, c->line, c->col, "a carriage return alone ends no row");
		skip_line(c);
		return -EINVAL;
	}
	f->text = buf_take(b, NULL);
	return f->text ? 0 : -ENOMEM;
too_long:
	if (b->len < b->max)
		return -ENOMEM;
	csv_error(c, f->line, f->col, "a field longer than %u bytes", LIMIT_CSV_FIELD);
	skip_line(c);
	return -EINVAL;
}

/* Reads one row. 1 for a row (r->bad when an error was reported in it), 0 at the end,
 * -ENOMEM. */
static int read_row(struct csv *c, struct row *r)
{
	struct buf b;
	int k;

	r->n = 0;
	r->bad = false;
	r->line = c->line;
	if (c->p >= c->end)
		return 0;
	buf_init(&b, LIMIT_CSV_FIELD);
	for (;;) {
		if (r->n >= MAX_FIELDS) {
			csv_error(c, c->line, c->col, "more than %d fields in one row", MAX_FIELDS);
			skip_line(c);
			r->bad = true;
			break;
		}
		k = read_field(c, &b, &r->f[r->n]);
		buf_reset(&b);
		if (k == -ENOMEM) {
			buf_done(&b);
			return k;
		}
		if (k < 0) {
			r->bad = true;
			break;
		}
		r->n++;
		if (c->p < c->end && *c->p == ',') {
			advance(c);
			continue;
		}
		if (c->p < c->end && *c->p == '\r')
			advance(c);
		if (c->p < c->end && *c->p == '\n')
			advance(c);
		break;
	}
	buf_done(&b);
	return 1;
}

static bool row_blank(const struct row *r)
{
	return !r->bad && r->n == 1 && !*str_strip(r->f[0].text);
}

/*
 * Reads the header row into cols (column index → enum column, or -1 for a column that is
 * not read: unknown, or named twice, both reported). Returns whether the rows can be
 * checked: the required columns are there. Errors in the header fail the import anyway,
 * but the rows are still checked so one pass reports everything.
 */
static bool read_header(struct csv *c, struct row *r, int *cols)
{
	bool seen[COL_N] = {false}, usable = true;

	for (size_t i = 0; i < r->n; i++) {
		const char *name = str_strip(r->f[i].text);
		int k = -1;

		cols[i] = -1;
		for (int j = 0; j < COL_N; j++)
			if (strcasecmp(name, column_names[j]) == 0)
				k = j;
		if (k < 0)
			csv_error(c, r->f[i].line, r->f[i].col,
				  "unknown column '%.64s' (serial, vendor, product, owner, tags, "
				  "note)",
				  name);
		else if (seen[k])
			csv_error(c, r->f[i].line, r->f[i].col, "column '%s' is named twice",
				  column_names[k]);
		else
			seen[k] = true, cols[i] = k;
	}
	for (int k = 0; k < COL_N; k++)
		if ((k == COL_SERIAL || k == COL_OWNER) && !seen[k]) {
			csv_error(c, r->line, 1, "the header row has no '%s' column (needed)",
				  column_names[k]);
			usable = false;
		}
	return usable;
}

/* "a; b ;c" → ["a", "b", "c"]: split on ';', trimmed, empty items dropped. */
static json_t *split_tags(char *s)
{
	json_t *arr = json_array();
	char *save = NULL;

	if (!arr)
		return NULL;
	for (char *t = strtok_r(s, ";", &save); t; t = strtok_r(NULL, ";", &save)) {
		t = str_strip(t);
		if (*t && jsonw_append(arr, json_string(t)) < 0) {
			json_decref(arr);
			return NULL;
		}
	}
	return arr;
}

/* One data row → a device object (the API's shape), checked; errors reported. */
static int take_row(struct csv *c, struct row *r, const int *cols, size_t ncols, json_t *seen,
		    json_t *devices)
{
	_cleanup_(json_decrefp) json_t *obj = json_object();
	unsigned colpos[COL_N] = {0};
	struct store_device dev;
	const char *field = NULL;
	char why[256];
	json_t *first;
	int k;

	if (!obj)
		return -ENOMEM;
	if (r->n != ncols) {
		csv_error(c, r->line, 1, "%zu fields, but the header names %zu columns", r->n,
			  ncols);
		return -EINVAL;
	}
	for (size_t i = 0; i < r->n; i++) {
		char *v = r->f[i].quoted ? r->f[i].text : str_strip(r->f[i].text);

		if (cols[i] < 0)
			continue; /* a column the header could not name: reported there */
		colpos[cols[i]] = r->f[i].col;
		if (cols[i] == COL_TAGS)
			k = jsonw_set(obj, "tags", split_tags(v));
		else if (*v)
			k = jsonw_set(obj, column_names[cols[i]], json_string(v));
		else
			k = 0;
		if (k < 0)
			return -ENOMEM;
	}
	k = registry_device_check(obj, &dev, &field, why, sizeof(why));
	if (k == -ENOMEM)
		return k;
	if (k < 0) {
		unsigned col = 1;

		for (int i = 0; i < COL_N; i++)
			if (streq(field, column_names[i]) && colpos[i])
				col = colpos[i];
		csv_error(c, r->line, col, "%s", why);
		return -EINVAL;
	}
	first = json_object_get(seen, dev.serial);
	if (first) {
		csv_error(c, r->line, colpos[COL_SERIAL] ? colpos[COL_SERIAL] : 1,
			  "serial '%.128s' is listed twice (first on line %lld)", dev.serial,
			  (long long) json_integer_value(first));
		return -EINVAL;
	}
	if (json_object_set_new(seen, dev.serial, json_integer(r->line)) < 0)
		return -ENOMEM;
	return jsonw_append(devices, TAKE_PTR(obj));
}

/* Whether the text is UTF-8 without control characters other than tab, CR and LF. A
 * multi-byte sequence never holds an ASCII byte, so the text is checked in the pieces
 * between those three. */
static bool utf8_text(const char *s, size_t len)
{
	size_t start = 0;

	for (size_t i = 0; i <= len; i++)
		if (i == len || s[i] == '\t' || s[i] == '\r' || s[i] == '\n') {
			if (!str_is_clean_utf8(s + start, i - start))
				return false;
			start = i + 1;
		}
	return true;
}

int registry_csv_parse(const char *file, const char *text, size_t len, struct diag *d,
		       json_t **ret_devices)
{
	_cleanup_(json_decrefp) json_t *devices = json_array(), *seen = json_object();
	struct csv c = {.file = file, .p = text, .end = text + len, .line = 1, .col = 1, .d = d};
	struct row r = {.n = 0};
	int cols[MAX_FIELDS];
	size_t ncols = 0, rows = 0;
	bool header = false, header_ok = false;
	int k = 0;

	if (!devices || !seen)
		return -ENOMEM;
	if (len >= 3 && memcmp(text, "\xef\xbb\xbf", 3) == 0)
		c.p += 3;
	if (!utf8_text(text, len)) {
		csv_error(&c, 0, 0, "not UTF-8 text (save the file as CSV UTF-8)");
		return -EINVAL;
	}
	while ((k = read_row(&c, &r)) > 0) {
		if (row_blank(&r)) {
			row_done(&r);
			continue;
		}
		if (!header) {
			header = true;
			if (!r.bad) {
				header_ok = read_header(&c, &r, cols);
				ncols = r.n;
			}
		} else if (!r.bad && header_ok) {
			if (++rows > LIMIT_CSV_ROWS) {
				csv_error(&c, r.line, 1,
					  "more than %u devices in one import: split the file",
					  LIMIT_CSV_ROWS);
				row_done(&r);
				break;
			}
			k = take_row(&c, &r, cols, ncols, seen, devices);
			if (k == -ENOMEM) {
				row_done(&r);
				return k;
			}
		}
		row_done(&r);
	}
	if (k < 0)
		return k;
	if (!header)
		csv_error(&c, 0, 0,
			  "no header row: the first line names the columns, e.g. "
			  "serial,vendor,product,owner,tags,note");
	if (c.errors > LIMIT_CSV_ERRORS)
		diag_error(d, file, 0, 0, "and %zu more errors", c.errors - LIMIT_CSV_ERRORS);
	if (d->oom)
		return -ENOMEM;
	if (c.errors)
		return -EINVAL;
	*ret_devices = TAKE_PTR(devices);
	return 0;
}

/* Appends one field, quoted when it must be. */
static int csv_field(struct buf *b, const char *s, bool last)
{
	int r = 0;

	if (!s)
		s = "";
	if (strpbrk(s, ",\"\r\n") || has_edge_space(s)) {
		r = buf_addc(b, '"');
		for (const char *p = s; *p && r >= 0; p++)
			r = *p == '"' ? buf_adds(b, "\"\"") : buf_addc(b, *p);
		if (r >= 0)
			r = buf_addc(b, '"');
	} else {
		r = buf_adds(b, s);
	}
	if (r >= 0)
		r = buf_adds(b, last ? "\r\n" : ",");
	return r;
}

int registry_csv_format(json_t *devices, bool bom, char **ret)
{
	struct buf b;
	json_t *dev, *t;
	size_t i, k;
	int r;

	buf_init(&b, LIMIT_CSV_EXPORT);
	r = buf_adds(&b, bom ? "\xef\xbb\xbfserial,vendor,product,owner,tags,note\r\n"
			     : "serial,vendor,product,owner,tags,note\r\n");
	json_array_foreach (devices, i, dev) {
		_cleanup_(freep) char *tags = NULL;
		struct buf tb;

		if (r < 0)
			break;
		buf_init(&tb, (size_t) REGISTRY_TAGS_MAX * (REGISTRY_TAG_MAX + 1));
		json_array_foreach (json_object_get(dev, "tags"), k, t)
			if (r >= 0)
				r = buf_addf(&tb, "%s%s", k ? ";" : "", json_string_value(t));
		tags = buf_take(&tb, NULL);
		if (r < 0 || !tags) {
			r = -ENOMEM;
			break;
		}
		r = csv_field(&b, json_string_value(json_object_get(dev, "serial")), false);
		if (r >= 0)
			r = csv_field(&b, json_string_value(json_object_get(dev, "vendor")), false);
		if (r >= 0)
			r = csv_field(&b, json_string_value(json_object_get(dev, "product")),
				      false);
		if (r >= 0)
			r = csv_field(&b, json_string_value(json_object_get(dev, "owner")), false);
		if (r >= 0)
			r = csv_field(&b, tags, false);
		if (r >= 0)
			r = csv_field(&b, json_string_value(json_object_get(dev, "note")), true);
	}
	if (r < 0) {
		buf_done(&b);
		return r;
	}
	*ret = buf_take(&b, NULL);
	return *ret ? 0 : -ENOMEM;
}
