/*
 * A thin layer over jansson (no hand-written JSON parser in mamori): parsing with mamori's
 * limits, typed field access that says which field was wrong, and serialisation into
 * bounded buffers. Values are jansson's json_t; ownership follows jansson's rules.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "lib/macro.h"

/* Why a JSON input was refused, in words for the sender. */
struct jsonw_error {
	char text[256];
};

/*
 * Parses len bytes as one JSON value. Fails with -E2BIG when len exceeds max_size, and
 * with -EBADMSG for malformed text (with line and column), for nesting deeper than
 * LIMIT_JSON_DEPTH, or for a NUL byte inside. On success *ret owns a new reference.
 */
int jsonw_parse(const char *data, size_t len, size_t max_size, json_t **ret,
		struct jsonw_error *err) _wur_;

/*
 * Typed getters. `obj` must be an object. A missing key gives -ENOENT when !required
 * (the result is untouched) and -EBADMSG when required; a present key of the wrong type
 * gives -EBADMSG. The error text names the field: "field 'seq': expected an integer".
 * Strings returned are borrowed from obj.
 */
int jsonw_get_string(json_t *obj, const char *key, bool required, const char **ret,
		     struct jsonw_error *err) _wur_;
int jsonw_get_int(json_t *obj, const char *key, bool required, int64_t min, int64_t max,
		  int64_t *ret, struct jsonw_error *err) _wur_;
int jsonw_get_bool(json_t *obj, const char *key, bool required, bool *ret, struct jsonw_error *err)
	_wur_;
int jsonw_get_object(json_t *obj, const char *key, bool required, json_t **ret,
		     struct jsonw_error *err) _wur_;
int jsonw_get_array(json_t *obj, const char *key, bool required, json_t **ret,
		    struct jsonw_error *err) _wur_;

/* Sets err's text; returns -EBADMSG, for `return jsonw_fail(err, …);`. */
int jsonw_fail(struct jsonw_error *err, const char *fmt, ...) _printf_(2, 3);

/*
 * Appends v serialised exactly as json_dumps(v, JSON_COMPACT) would (members in their
 * order, no spaces, the same escapes), without jansson's per-value overhead: for texts
 * that are compared with stored ones, many times over (the compliance engine's
 * evidence). -EINVAL for what it leaves to jansson (a real number, a string that is not
 * valid UTF-8, nesting deeper than LIMIT_JSON_DEPTH); -E2BIG or -ENOMEM from the buffer.
 */
struct buf;
int jsonw_dump_compact(const json_t *v, struct buf *out) _wur_;

/* Serialises compactly with sorted keys into a new string; NULL on allocation failure. */
char *jsonw_dump(const json_t *v);

/* Sets obj[key] = v, taking v's reference (also on failure). Returns 0 or -ENOMEM. */
int jsonw_set(json_t *obj, const char *key, json_t *v) _wur_;
/* Appends v to arr, taking v's reference. Returns 0 or -ENOMEM. */
int jsonw_append(json_t *arr, json_t *v) _wur_;
