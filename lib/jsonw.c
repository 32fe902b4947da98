/*
 * jansson behind mamori's limits. jansson's own maximum depth is 2048; ours is lower
 * (LIMIT_JSON_DEPTH) and checked after parsing by a bounded walk, since jansson offers no
 * per-call depth limit.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "lib/buf.h"
#include "lib/jsonw.h"
#include "lib/limits.h"
#include "lib/mm.h"

int jsonw_fail(struct jsonw_error *err, const char *fmt, ...)
{
	va_list ap;

	if (err) {
		va_start(ap, fmt);
		(void) vsnprintf(err->text, sizeof(err->text), fmt, ap);
		va_end(ap);
	}
	return -EBADMSG;
}

static bool too_deep(json_t *v, unsigned depth)
{
	const char *key;
	json_t *child;
	size_t i;

	if (depth > LIMIT_JSON_DEPTH)
		return true;
	if (json_is_object(v)) {
		json_object_foreach (v, key, child)
			if (too_deep(child, depth + 1))
				return true;
	} else if (json_is_array(v)) {
		json_array_foreach (v, i, child)
			if (too_deep(child, depth + 1))
				return true;
	}
	return false;
}

int jsonw_parse(const char *data, size_t len, size_t max_size, json_t **ret,
		struct jsonw_error *err)
{
	json_error_t je;
	json_t *v;

	if (len > max_size) {
		if (err)
			(void) snprintf(err->text, sizeof(err->text),
					"body is %zu bytes, over the limit of %zu bytes", len,
					max_size);
		return -E2BIG;
	}
	if (len == 0)
		return jsonw_fail(err, "empty body: expected a JSON document");
	v = json_loadb(data, len, JSON_DECODE_ANY | JSON_REJECT_DUPLICATES, &je);
	if (!v) {
		if (json_error_code(&je) == json_error_out_of_memory)
			return -ENOMEM;
		return jsonw_fail(err, "malformed JSON at line %d, column %d: %s", je.line,
				  je.column, je.text);
	}
	if (too_deep(v, 0)) {
		json_decref(v);
		return jsonw_fail(err, "JSON nested deeper than %u levels", LIMIT_JSON_DEPTH);
	}
	*ret = v;
	return 0;
}

static int get(json_t *obj, const char *key, bool required, json_t **ret, struct jsonw_error *err)
{
	json_t *v;

	if (!json_is_object(obj))
		return jsonw_fail(err, "expected a JSON object");
	v = json_object_get(obj, key);
	if (!v || json_is_null(v)) {
		if (required)
			return jsonw_fail(err, "field '%s' is missing", key);
		return -ENOENT;
	}
	*ret = v;
	return 0;
}

int jsonw_get_string(json_t *obj, const char *key, bool required, const char **ret,
		     struct jsonw_error *err)
{
	json_t *v = NULL;
	int r = get(obj, key, required, &v, err);

	if (r < 0)
		return r;
	if (!json_is_string(v))
		return jsonw_fail(err, "field '%s': expected a string", key);
	if (strlen(json_string_value(v)) != json_string_length(v))
		return jsonw_fail(err, "field '%s': string contains a NUL character", key);
	*ret = json_string_value(v);
	return 0;
}

int jsonw_get_int(json_t *obj, const char *key, bool required, int64_t min, int64_t max,
		  int64_t *ret, struct jsonw_error *err)
{
	json_t *v = NULL;
	int64_t i;
	int r = get(obj, key, required, &v, err);

	if (r < 0)
		return r;
	if (!json_is_integer(v))
		return jsonw_fail(err, "field '%s': expected an integer", key);
	i = json_integer_value(v);
	if (i < min || i > max)
		return jsonw_fail(
			err, "field '%s': %" PRId64 " is out of range [%" PRId64 ", %" PRId64 "]",
			key, i, min, max);
	*ret = i;
	return 0;
}

int jsonw_get_bool(json_t *obj, const char *key, bool required, bool *ret, struct jsonw_error *err)
{
	json_t *v = NULL;
	int r = get(obj, key, required, &v, err);

	if (r < 0)
		return r;
	if (!json_is_boolean(v))
		return jsonw_fail(err, "field '%s': expected true or false", key);
	*ret = json_is_true(v);
	return 0;
}

int jsonw_get_object(json_t *obj, const char *key, bool required, json_t **ret,
		     struct jsonw_error *err)
{
	json_t *v = NULL;
	int r = get(obj, key, required, &v, err);

	if (r < 0)
		return r;
	if (!json_is_object(v))
		return jsonw_fail(err, "field '%s': expected an object", key);
	*ret = v;
	return 0;
}

int jsonw_get_array(json_t *obj, const char *key, bool required, json_t **ret,
		    struct jsonw_error *err)
{
	json_t *v = NULL;
	int r = get(obj, key, required, &v, err);

	if (r < 0)
		return r;
	if (!json_is_array(v))
		return jsonw_fail(err, "field '%s': expected an array", key);
	*ret = v;
	return 0;
}

char *jsonw_dump(const json_t *v)
{
	return json_dumps(v, JSON_COMPACT | JSON_SORT_KEYS | JSON_ENCODE_ANY);
}

int jsonw_set(json_t *obj, const char *key, json_t *v)
{
	if (!v)
		return -ENOMEM;
	return json_object_set_new(obj, key, v) < 0 ? -ENOMEM : 0;
}

int jsonw_append(json_t *arr, json_t *v)
{
	if (!v)
		return -ENOMEM;
	return json_array_append_new(arr, v) < 0 ? -ENOMEM : 0;
}

/* ---- compact serialisation, as jansson's ---- */

/*
 * The length of the UTF-8 sequence at s[0..n) that starts with a byte >= 0x80, as jansson
 * accepts it (no overlong forms, no surrogates, nothing above U+10FFFF), or 0.
 */
static size_t utf8_seq(const unsigned char *s, size_t n)
{
	unsigned c = s[0], len, cp;

	if (c >= 0xC2 && c <= 0xDF)
		len = 2, cp = c & 0x1F;
	else if (c >= 0xE0 && c <= 0xEF)
		len = 3, cp = c & 0x0F;
	else if (c >= 0xF0 && c <= 0xF4)
		len = 4, cp = c & 0x07;
	else
		return 0;
	if (len > n)
		return 0;
	for (unsigned k = 1; k < len; k++) {
		if ((s[k] & 0xC0) != 0x80)
			return 0;
		cp = cp << 6 | (s[k] & 0x3F);
	}
	if ((len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000) || cp > 0x10FFFF ||
	    (cp >= 0xD800 && cp <= 0xDFFF))
		return 0;
	return len;
}

/* One pass: checks the UTF-8 and writes the escapes jansson writes. */
static int dump_string(const char *s, size_t n, struct buf *out)
{
	static const char hex[] = "0123456789ABCDEF";
	const unsigned char *u = (const unsigned char *) s;
	size_t from = 0, i = 0;
	int r;

	if ((r = buf_reserve(out, n + 2)) < 0 || (r = buf_addc(out, '"')) < 0)
		return r;
	while (i < n) {
		unsigned char c = u[i];
		char esc[6] = {'\\'};
		size_t elen = 2;

		if (c >= 0x20 && c < 0x80 && c != '"' && c != '\\') {
			i++;
			continue;
		}
		if (c >= 0x80) {
			size_t len = utf8_seq(u + i, n - i);

			if (!len)
				return -EINVAL;
			i += len;
			continue;
		}
		switch (c) {
		case '"':
		case '\\':
			esc[1] = (char) c;
			break;
		case '\b':
			esc[1] = 'b';
			break;
		case '\f':
			esc[1] = 'f';
			break;
		case '\n':
			esc[1] = 'n';
			break;
		case '\r':
			esc[1] = 'r';
			break;
		case '\t':
			esc[1] = 't';
			break;
		default:
			memcpy(esc + 1, "u00", 3);
			esc[4] = hex[c >> 4];
			esc[5] = hex[c & 15];
			elen = 6;
			break;
		}
		if ((r = buf_add(out, s + from, i - from)) < 0 || (r = buf_add(out, esc, elen)) < 0)
			return r;
		from = ++i;
	}
	if ((r = buf_add(out, s + from, n - from)) < 0)
		return r;
	return buf_addc(out, '"');
}

/* An integer in decimal, as "%" JSON_INTEGER_FORMAT writes it. */
static int dump_integer(json_int_t v, struct buf *out)
{
	char d[24], *p = d + sizeof(d);
	unsigned long long m = v < 0 ? 0ULL - (unsigned long long) v : (unsigned long long) v;

	do
		*--p = (char) ('0' + m % 10);
	while ((m /= 10) != 0);
	if (v < 0)
		*--p = '-';
	return buf_add(out, p, (size_t) (d + sizeof(d) - p));
}

static int dump_compact(const json_t *v, struct buf *out, unsigned depth)
{
	const char *key;
	json_t *m;
	size_t i;
	int r;

	if (depth > LIMIT_JSON_DEPTH)
		return -EINVAL;
	switch (json_typeof(v)) {
	case JSON_OBJECT:
		if ((r = buf_addc(out, '{')) < 0)
			return r;
		i = 0;
		json_object_foreach ((json_t *) v, key, m) {
			if ((i++ && (r = buf_addc(out, ',')) < 0) ||
			    (r = dump_string(key, strlen(key), out)) < 0 ||
			    (r = buf_addc(out, ':')) < 0 ||
			    (r = dump_compact(m, out, depth + 1)) < 0)
				return r;
		}
		return buf_addc(out, '}');
	case JSON_ARRAY:
		if ((r = buf_addc(out, '[')) < 0)
			return r;
		json_array_foreach (v, i, m)
			if ((i && (r = buf_addc(out, ',')) < 0) ||
			    (r = dump_compact(m, out, depth + 1)) < 0)
				return r;
		return buf_addc(out, ']');
	case JSON_STRING:
		return dump_string(json_string_value(v), json_string_length(v), out);
	case JSON_INTEGER:
		return dump_integer(json_integer_value(v), out);
	case JSON_TRUE:
		return buf_adds(out, "true");
	case JSON_FALSE:
		return buf_adds(out, "false");
	case JSON_NULL:
		return buf_adds(out, "null");
	default: /* reals: jansson's own formatting */
		return -EINVAL;
	}
}

int jsonw_dump_compact(const json_t *v, struct buf *out)
{
	if (!v)
		return -EINVAL;
	return dump_compact(v, out, 0);
}
