/*
 * The admin API's device registry (管理デバイス, docs/api.md): company-issued devices
 * registered by serial, with their USB ids, owner, note and tags, which policies name
 * (`tag company-issued`). Listing with filters, registering one device, unregistering
 * one, and the CSV import and export.
 *
 * An import is all or nothing: the whole file is parsed and checked first and every bad
 * line is reported in one answer (400 invalid_csv, FILE:LINE:COLUMN: message); only a
 * file without errors is stored, in one transaction. Registering a serial that is
 * registered already replaces its entry (a re-import of the company's asset list updates
 * it). Every change is in the audit trail.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "lib/limits.h"
#include "lib/mm.h"
#include "lib/str.h"
#include "server/server.h"

#define PAGE_DEFAULT 100
#define PAGE_MAX     1000
#define FILE_MAX     128u

static int query_text(struct http_request *req, const char *name, size_t max, const char **ret)
{
	const char *s = http_query(req, name);

	if (s && (strlen(s) > max || !str_is_clean_utf8(s, strlen(s))))
		return http_fail(req, -EINVAL, "malformed",
				 "query parameter '%s': at most %zu bytes of text", name, max);
	*ret = s && *s ? s : NULL;
	return 0;
}

static int handle_list(struct http_request *req)
{
	struct store_device_query q = {.limit = PAGE_DEFAULT};
	json_t *out = NULL;
	int64_t limit, offset;
	int r;

	if (query_text(req, "serial", REGISTRY_SERIAL_MAX, &q.serial) < 0 ||
	    query_text(req, "tag", REGISTRY_TAG_MAX, &q.tag) < 0 ||
	    query_text(req, "search", 256, &q.search) < 0 ||
	    http_query_int(req, "limit", PAGE_DEFAULT, 1, PAGE_MAX, &limit) < 0 ||
	    http_query_int(req, "offset", 0, 0, INT32_MAX, &offset) < 0)
		return -EINVAL;
	q.limit = (size_t) limit;
	q.offset = (size_t) offset;
	r = store_devices_list(req->srv->store, &q, &out);
	if (r < 0)
		return http_fail_store(req, r, "devices");
	return http_reply_json(req, 200, out);
}

static int handle_put(struct http_request *req)
{
	_cleanup_(json_decrefp) json_t *dev = NULL, *details = NULL;
	struct store_device d;
	const char *field = NULL;
	char why[256], actor[STORE_ID_MAX + 8];
	size_t created = 0;
	json_t *body;
	int r;

	r = http_body_json(req, &body);
	if (r < 0)
		return r;
	dev = json_deep_copy(body);
	if (!dev)
		return http_fail(req, -ENOMEM, NULL, "the server is short of memory");
	r = registry_device_check(dev, &d, &field, why, sizeof(why));
	if (r == -EINVAL)
		return http_fail(req, r, "malformed", "%s", why);
	if (r < 0)
		return http_fail(req, r, NULL, "the server is short of memory");
	(void) snprintf(actor, sizeof(actor), "token:%s", auth_actor_id(req));
	r = store_devices_put(req->srv->store, &d, 1, req->now, actor, &created, NULL);
	if (r < 0)
		return http_fail_store(req, r, "device");
	details = json_pack("{s:b, s:s, s:O}", "created", created == 1, "owner", d.owner, "tags",
			    d.tags);
	auth_audit(req, "device.put", d.serial, details);
	if (jsonw_set(dev, "created", json_boolean(created == 1)) < 0)
		return http_fail(req, -ENOMEM, NULL, "the server is short of memory");
	return http_reply_json(req, created ? 201 : 200, TAKE_PTR(dev));
}

static int handle_delete(struct http_request *req)
{
	const char *serial = http_query(req, "serial");
	int r;

	if (!registry_serial_ok(serial))
		return http_fail(req, -EINVAL, "malformed",
				 "query parameter 'serial': the serial of the device to remove");
	r = store_device_delete(req->srv->store, serial);
	if (r == -ENOENT)
		return http_fail(req, r, "not_found", "no device is registered with serial %s",
				 serial);
	if (r < 0)
		return http_fail_store(req, r, "device");
	auth_audit(req, "device.delete", serial, NULL);
	return http_reply_json(req, 200, json_pack("{s:s, s:b}", "serial", serial, "deleted", 1));
}

/* Whether a Content-Type names CSV: "text/csv", parameters (charset) allowed. */
static bool is_csv(const char *ctype)
{
	size_t n = ctype ? strcspn(ctype, "; ") : 0;

	return n == 8 && strncasecmp(ctype, "text/csv", 8) == 0;
}

static json_t *diag_errors(const struct diag *d)
{
	json_t *arr = json_array();

	for (size_t i = 0; arr && i < d->n; i++) {
		_cleanup_(freep) char *s = diag_format(&d->entries[i]);

		if (jsonw_append(arr, s ? json_string(s) : NULL) < 0) {
			json_decref(arr);
			return NULL;
		}
	}
	return arr;
}

static int handle_import(struct http_request *req)
{
	_cleanup_(json_decrefp) json_t *devices = NULL, *details = NULL;
	_cleanup_(freep) struct store_device *devs = NULL;
	const char *text, *file = NULL;
	char actor[STORE_ID_MAX + 8];
	size_t len, n, created = 0, updated = 0;
	struct diag d;
	json_t *dev;
	int r;

	if (!is_csv(http_header(req, "Content-Type")))
		return http_fail(req, -EOPNOTSUPP, "unsupported_media_type",
				 "send the CSV with 'Content-Type: text/csv'");
	if (query_text(req, "file", FILE_MAX, &file) < 0 || http_body_text(req, &text, &len) < 0)
		return -EINVAL;
	diag_init(&d);
	r = registry_csv_parse(file ? file : "devices.csv", text, len, &d, &devices);
	if (r == -EINVAL) {
		r = http_fail_extra(req, -EINVAL, "invalid_csv",
				    json_pack("{s:o}", "errors", diag_errors(&d)),
				    "the CSV has %zu error%s; nothing was imported", d.n_errors,
				    d.n_errors == 1 ? "" : "s");
		diag_done(&d);
		return r;
	}
	diag_done(&d);
	if (r < 0)
		return http_fail(req, r, NULL, "the server is short of memory");
	n = json_array_size(devices);
	devs = mm_calloc(n + 1, sizeof(*devs));
	if (!devs)
		return http_fail(req, -ENOMEM, NULL, "the server is short of memory");
	for (size_t i = 0; i < n; i++) {
		const char *field;
		char why[256];

		dev = json_array_get(devices, i);
		/* checked by the parser already; this only points devs[i] into it */
		r = registry_device_check(dev, &devs[i], &field, why, sizeof(why));
		if (r < 0)
			return http_fail(req, r == -ENOMEM ? r : -EIO, NULL,
					 "a checked device failed its check: %s", why);
	}
	(void) snprintf(actor, sizeof(actor), "token:%s", auth_actor_id(req));
	r = store_devices_put(req->srv->store, devs, n, req->now, actor, &created, &updated);
	if (r < 0)
		return http_fail_store(req, r, "device import");
	details = json_pack("{s:s?, s:I, s:I}", "file", file, "created", (json_int_t) created,
			    "updated", (json_int_t) updated);
	auth_audit(req, "devices.import", NULL, details);
	return http_reply_json(req, 200,
			       json_pack("{s:I, s:I, s:I}", "created", (json_int_t) created,
					 "updated", (json_int_t) updated, "total", (json_int_t) n));
}

static int handle_export(struct http_request *req)
{
	struct store_device_query q = {.limit = 0};
	_cleanup_(json_decrefp) json_t *out = NULL;
	_cleanup_(freep) char *csv = NULL;
	const char *bom = http_query(req, "bom");
	int r;

	r = store_devices_list(req->srv->store, &q, &out);
	if (r < 0)
		return http_fail_store(req, r, "devices");
	r = registry_csv_format(json_object_get(out, "devices"),
				bom && (streq(bom, "1") || streq(bom, "true")), &csv);
	if (r == -E2BIG)
		return http_fail(req, r, "too_large",
				 "the registry is over %zu bytes as CSV: list it in pages with GET "
				 "/api/v1/devices",
				 LIMIT_CSV_EXPORT);
	if (r < 0)
		return http_fail(req, r, NULL, "the server is short of memory");
	return http_reply_text(req, 200, "text/csv; charset=utf-8", csv);
}

const struct http_route api_devices_routes[] = {
	{"GET", "/api/v1/devices", handle_list, 0},
	{"POST", "/api/v1/devices", handle_put, HTTP_WRITE},
	{"DELETE", "/api/v1/devices", handle_delete, HTTP_WRITE},
	{"POST", "/api/v1/devices/import", handle_import, HTTP_WRITE},
	{"GET", "/api/v1/devices/export", handle_export, 0},
};
const size_t api_devices_n_routes = ARRAY_SIZE(api_devices_routes);
