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
