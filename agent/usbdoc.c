/*
 * The USB policy document (docs/usb-control.md, "The policy document"): what the server
 * sends and the agent keeps in its state directory as the last good policy, so every
 * decision is taken locally, offline too.
 *
 *   {"version": "42", "rules_text": "default block\n…",
 *    "registry": [{"serial": "4C53…", "tags": ["company-issued"]}],
 *    "grants": [{"serial": "4C53…", "user": "hanako", "until": "2026-12-01T18:00:00Z"}]}
 *
 * A document is taken whole or not at all: any error (malformed JSON, a member of the wrong
 * type, a rule error, a duplicate serial) refuses it, every error reported in one pass, and
 * the policy in force stays. The registry is sorted by serial once, so a lookup on the
 * decision's hot path is a binary search.
 *
 * The network facts the policy's `network` conditions read are derived here too, from the
 * inventory's network section, so the collector and USB control agree on what the network
 * is.
 *
 * Limits: LIMIT_USB_POLICY_DOC bytes, LIMIT_USB_REGISTRY serials, LIMIT_USB_GRANTS grants,
 * USB_DOC_MAX_TAGS tags per serial, strings of USBDEV_STRING - 1 bytes.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "agent/enf_usb.h"
#include "lib/fileio.h"
#include "lib/jsonw.h"
#include "lib/mm.h"
#include "lib/str.h"

#define USB_DOC_MAX_TAGS 32u
#define DOC              "policy" /* the file name diagnostics give the document */

struct usbdoc *usbdoc_free(struct usbdoc *doc)
{
	if (!doc)
		return NULL;
	usb_policy_free(doc->rules);
	for (size_t i = 0; i < doc->n_registry; i++) {
		mm_free(doc->registry[i].serial);
		for (char **t = doc->registry[i].tags; t && *t; t++)
			mm_free(*t);
		mm_free(doc->registry[i].tags);
	}
	mm_free(doc->registry);
	for (size_t i = 0; i < doc->n_grants; i++) {
		mm_free(doc->grants[i].serial);
		mm_free(doc->grants[i].user);
		mm_free(doc->grants[i].host);
	}
	mm_free(doc->grants);
	mm_free(doc->text);
	mm_free(doc);
	return NULL;
}

/* A string member that must be non-empty clean text of at most max bytes. */
static int get_text(json_t *o, const char *key, size_t max, const char *where, struct diag *d,
		    const char **ret)
{
	json_t *v = json_object_get(o, key);
	const char *s;

	if (!v)
		return -ENOENT;
	s = json_string_value(v);
	if (!s || !*s || strlen(s) > max || !str_is_clean_utf8(s, strlen(s))) {
		diag_error(d, DOC, 0, 0, "%s: '%s' must be a non-empty string of at most %zu bytes",
			   where, key, max);
		return -EINVAL;
	}
	*ret = s;
	return 0;
}

/* "2026-12-01T18:00:00Z", "2026-12-01T18:00Z", "2026-12-01", or Unix seconds. */
static int parse_until(json_t *v, int64_t *ret)
{
	static const char *const formats[] = {"%Y-%m-%dT%H:%M:%SZ", "%Y-%m-%dT%H:%MZ", "%Y-%m-%d"};
	const char *s = json_string_value(v);

	if (json_is_integer(v) && json_integer_value(v) > 0) {
		*ret = json_integer_value(v);
		return 0;
	}
	if (!s)
		return -EINVAL;
	for (size_t i = 0; i < ARRAY_SIZE(formats); i++) {
		struct tm tm = {0};
		const char *end = strptime(s, formats[i], &tm);
		time_t t;

		if (!end || *end)
			continue;
		t = timegm(&tm);
		if (t == (time_t) -1)
			return -EINVAL;
		*ret = (int64_t) t;
		return 0;
	}
	return -EINVAL;
}

static int cmp_reg(const void *a, const void *b)
{
	return strcmp(((const struct usbdoc_reg *) a)->serial,
		      ((const struct usbdoc_reg *) b)->serial);
}

static int parse_registry(json_t *arr, struct usbdoc *doc, struct diag *d)
{
	json_t *e;
	size_t i;

	if (json_array_size(arr) > LIMIT_USB_REGISTRY) {
		diag_error(d, DOC, 0, 0, "registry: more than %u serials", LIMIT_USB_REGISTRY);
		return -E2BIG;
	}
	doc->registry = mm_calloc(json_array_size(arr) + 1, sizeof(*doc->registry));
	if (!doc->registry)
		return -ENOMEM;
	json_array_foreach (arr, i, e) {
		struct usbdoc_reg *reg = &doc->registry[doc->n_registry];
		char where[48];
		const char *serial = NULL;
		json_t *tags = json_object_get(e, "tags"), *t;
		size_t k, n = 0;

		(void) snprintf(where, sizeof(where), "registry[%zu]", i);
		if (!json_is_object(e)) {
			diag_error(d, DOC, 0, 0, "%s: expected an object {serial, tags}", where);
			continue;
		}
		if (get_text(e, "serial", USBDEV_STRING - 1, where, d, &serial) == -ENOENT)
			diag_error(d, DOC, 0, 0, "%s: 'serial' is missing", where);
		if (!json_is_array(tags) || json_array_size(tags) > USB_DOC_MAX_TAGS) {
			diag_error(d, DOC, 0, 0,
				   "%s: 'tags' must be an array of at most %u strings", where,
				   USB_DOC_MAX_TAGS);
			continue;
		}
		if (!serial)
			continue;
		reg->serial = mm_strdup(serial);
		reg->tags = mm_calloc(json_array_size(tags) + 1, sizeof(char *));
		if (!reg->serial || !reg->tags) {
			doc->n_registry++; /* freed with the document */
			return -ENOMEM;
		}
		doc->n_registry++;
		json_array_foreach (tags, k, t) {
			const char *s = json_string_value(t);

			if (!s || !*s || strlen(s) > 255 || !str_is_clean_utf8(s, strlen(s))) {
				diag_error(d, DOC, 0, 0, "%s: tags[%zu] must be a short string",
					   where, k);
				continue;
			}
			reg->tags[n] = mm_strdup(s);
			if (!reg->tags[n])
				return -ENOMEM;
			n++;
		}
	}
	qsort(doc->registry, doc->n_registry, sizeof(*doc->registry), cmp_reg);
	for (i = 1; i < doc->n_registry; i++)
		if (streq(doc->registry[i - 1].serial, doc->registry[i].serial))
			diag_error(d, DOC, 0, 0, "registry: serial '%s' is listed twice",
				   doc->registry[i].serial);
	return 0;
}

static int parse_grants(json_t *arr, struct usbdoc *doc, struct diag *d)
{
	json_t *e;
	size_t i;

	if (json_array_size(arr) > LIMIT_USB_GRANTS) {
		diag_error(d, DOC, 0, 0, "grants: more than %u grants", LIMIT_USB_GRANTS);
		return -E2BIG;
	}
	doc->grants = mm_calloc(json_array_size(arr) + 1, sizeof(*doc->grants));
	if (!doc->grants)
		return -ENOMEM;
	json_array_foreach (arr, i, e) {
		struct usbdoc_grant *g = &doc->grants[doc->n_grants];
		const char *serial = NULL, *user = NULL, *host = NULL;
		char where[48];
		int ru, rh;

		(void) snprintf(where, sizeof(where), "grants[%zu]", i);
		if (!json_is_object(e)) {
			diag_error(d, DOC, 0, 0,
				   "%s: expected an object {serial, user|host, until}", where);
			continue;
		}
		if (get_text(e, "serial", USBDEV_STRING - 1, where, d, &serial) == -ENOENT)
			diag_error(d, DOC, 0, 0, "%s: 'serial' is missing", where);
		ru = get_text(e, "user", 255, where, d, &user);
		rh = get_text(e, "host", 255, where, d, &host);
		if ((ru == -ENOENT) == (rh == -ENOENT))
			diag_error(d, DOC, 0, 0, "%s: give exactly one of 'user' and 'host'",
				   where);
		if (!json_object_get(e, "until") ||
		    parse_until(json_object_get(e, "until"), &g->until) < 0)
			diag_error(d, DOC, 0, 0,
				   "%s: 'until' must be a UTC time (2026-12-01T18:00:00Z) or Unix "
				   "seconds",
				   where);
		if (!serial || (!user && !host))
			continue;
		doc->n_grants++;
		g->serial = mm_strdup(serial);
		g->user = user ? mm_strdup(user) : NULL;
		g->host = host ? mm_strdup(host) : NULL;
		if (!g->serial || (user && !g->user) || (host && !g->host))
			return -ENOMEM;
	}
	return 0;
}

int usbdoc_parse(const char *text, size_t len, struct diag *d, struct usbdoc **ret)
{
	_cleanup_(usbdoc_freep) struct usbdoc *doc = NULL;
	_cleanup_(json_decrefp) json_t *root = NULL;
	struct jsonw_error err = {{0}};
	size_t errors_before = d->n_errors;
	const char *version = NULL, *rules = NULL;
	json_t *v;
	int r;

	r = jsonw_parse(text, len, LIMIT_USB_POLICY_DOC, &root, &err);
	if (r == -ENOMEM)
		return r;
	if (r < 0) {
		diag_error(d, DOC, 0, 0, "%s", err.text);
		return r == -E2BIG ? r : -EINVAL;
	}
	if (!json_is_object(root)) {
		diag_error(d, DOC, 0, 0,
			   "expected an object {version, rules_text, registry, grants}");
		return -EINVAL;
	}
	doc = mm_calloc(1, sizeof(*doc));
	if (!doc)
		return -ENOMEM;
	v = json_object_get(root, "version");
	if (json_is_integer(v) && json_integer_value(v) >= 0) {
		(void) snprintf(doc->version, sizeof(doc->version), "%" JSON_INTEGER_FORMAT,
				json_integer_value(v));
	} else if (!v) {
		diag_error(d, DOC, 0, 0, "'version' is missing");
	} else if (get_text(root, "version", USBDOC_VERSION - 1, "document", d, &version) == 0) {
		memcpy(doc->version, version, strlen(version) + 1);
	}
	/* the rule text is checked line by line by its own parser */
	v = json_object_get(root, "rules_text");
	rules = json_string_value(v);
	if (!v)
		diag_error(d, DOC, 0, 0, "'rules_text' is missing");
	else if (!rules || json_string_length(v) != strlen(rules))
		diag_error(d, DOC, 0, 0, "'rules_text' must be a string (without NUL bytes)");
	if (rules) {
		r = usb_policy_parse("rules_text", rules, d, &doc->rules);
		if (r == -ENOMEM)
			return r;
	}
	v = json_object_get(root, "registry");
	if (v && !json_is_array(v))
		diag_error(d, DOC, 0, 0, "'registry' must be an array");
	else if (v && (r = parse_registry(v, doc, d)) == -ENOMEM)
		return r;
	v = json_object_get(root, "grants");
	if (v && !json_is_array(v))
		diag_error(d, DOC, 0, 0, "'grants' must be an array");
	else if (v && (r = parse_grants(v, doc, d)) == -ENOMEM)
		return r;
	if (d->oom)
		return -ENOMEM;
	if (d->n_errors > errors_before)
		return -EINVAL;
	doc->text = mm_strndup(text, len);
	if (!doc->text)
		return -ENOMEM;
	*ret = TAKE_PTR(doc);
	return 0;
}

const char *const *usbdoc_tags(const struct usbdoc *doc, const char *serial)
{
	struct usbdoc_reg key = {.serial = (char *) serial};
	const struct usbdoc_reg *hit;

	if (!doc || !serial || !*serial || doc->n_registry == 0)
		return NULL;
	hit = bsearch(&key, doc->registry, doc->n_registry, sizeof(key), cmp_reg);
	return hit ? (const char *const *) hit->tags : NULL;
}

const struct usbdoc_grant *usbdoc_grant(const struct usbdoc *doc, const char *serial,
					const char *user, const char *host, int64_t now)
{
	if (!doc || !serial || !*serial)
		return NULL;
	for (size_t i = 0; i < doc->n_grants; i++) {
		const struct usbdoc_grant *g = &doc->grants[i];

		if (now >= g->until || !streq(g->serial, serial))
			continue;
		if ((g->user && user && streq(g->user, user)) ||
		    (g->host && host && streq(g->host, host)))
			return g;
	}
	return NULL;
}

int64_t usbdoc_next_expiry(const struct usbdoc *doc, int64_t now)
{
	int64_t next = doc && doc->rules ? usb_policy_next_expiry(doc->rules, now) : 0;

	for (size_t i = 0; doc && i < doc->n_grants; i++)
		if (doc->grants[i].until > now && (next == 0 || doc->grants[i].until < next))
			next = doc->grants[i].until;
	return next;
}

/* ---- the state directory ---- */

int usbdoc_save(const struct usbdoc *doc, const char *state_dir)
{
	_cleanup_(freep) char *tmp = mm_asprintf("%s/.%s.XXXXXX", state_dir, USBDOC_STATE_FILE);
	_cleanup_(freep) char *path = mm_asprintf("%s/%s", state_dir, USBDOC_STATE_FILE);
	_cleanup_(closep) int fd = -1, dfd = -1;
	size_t len = strlen(doc->text), off = 0;
	int r = 0;

	if (!tmp || !path)
		return -ENOMEM;
	fd = mkostemp(tmp, O_CLOEXEC);
	if (fd < 0)
		return -errno;
	while (off < len) {
		ssize_t k = write(fd, doc->text + off, len - off);

		if (k < 0 && errno == EINTR)
			continue;
		if (k < 0) {
			r = -errno;
			break;
		}
		off += (size_t) k;
	}
	/* after a crash the name holds the old policy or the new one, whole */
	if (r == 0 && (fchmod(fd, 0600) < 0 || fsync(fd) < 0 || rename(tmp, path) < 0))
		r = -errno;
	if (r < 0) {
		(void) unlink(tmp);
		return r;
	}
	dfd = open(state_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd >= 0)
		(void) fsync(dfd);
	return 0;
}

int usbdoc_load(const char *state_dir, struct diag *d, struct usbdoc **ret)
{
	_cleanup_(freep) char *path = mm_asprintf("%s/%s", state_dir, USBDOC_STATE_FILE);
	_cleanup_(freep) char *text = NULL;
	size_t len;
	int r;

	if (!path)
		return -ENOMEM;
	r = fileio_read(NULL, path, LIMIT_USB_POLICY_DOC, &text, &len);
	if (r < 0)
		return r;
	return usbdoc_parse(text, len, d, ret);
}

/* ---- network facts ---- */

static bool add_unique(char (*list)[64], size_t *n, const char *s)
{
	if (!s || !*s || strlen(s) >= 64 || *n >= USBNET_MAX)
		return false;
	for (size_t i = 0; i < *n; i++)
		if (streq(list[i], s))
			return false;
	memcpy(list[*n], s, strlen(s) + 1);
	(*n)++;
	return true;
}

void usbdoc_network(const json_t *network, struct usbnet *ret)
{
	json_t *routes = json_object_get(network, "routes"), *ifs, *e, *a;
	json_t *search = json_object_get(network, "search"), *wifi;
	struct usbnet n = {0};
	size_t i, k;

	json_array_foreach (routes, i, e) {
		if (!json_is_true(json_object_get(e, "default")))
			continue;
		n.online = true;
		(void) add_unique(n.gateways, &n.n_gateways,
				  json_string_value(json_object_get(e, "gateway")));
	}
	ifs = json_object_get(network, "interfaces");
	json_array_foreach (ifs, i, e) {
		json_array_foreach (json_object_get(e, "addresses"), k, a) {
			const char *fam = json_string_value(json_object_get(a, "family"));
			const char *scope = json_string_value(json_object_get(a, "scope"));
			const char *addr = json_string_value(json_object_get(a, "address"));
			struct in_addr in;

			if (!fam || !scope || !addr || !streq(scope, "global"))
				continue;
			n.online = true;
			if (streq(fam, "inet") && inet_pton(AF_INET, addr, &in) == 1 &&
			    n.n_ipv4 < USBNET_MAX)
				n.ipv4[n.n_ipv4++] = ntohl(in.s_addr);
		}
	}
	json_array_foreach (search, i, e) {
		const char *s = json_string_value(e);

		if (s && strlen(s) < sizeof(n.domains[0]) && n.n_domains < USBNET_MAX)
			memcpy(n.domains[n.n_domains++], s, strlen(s) + 1);
	}
	wifi = json_object_get(network, "wifi");
	json_array_foreach (wifi, i, e) {
		if (add_unique(n.ssids, &n.n_ssids,
			       json_string_value(json_object_get(e, "ssid"))) &&
		    json_is_false(json_object_get(e, "encrypted")))
			n.open_wifi = true;
	}
	*ret = n;
}

const struct usb_network_facts *usbdoc_network_view(const struct usbnet *n, struct usbnet_view *v)
{
	for (size_t i = 0; i <= USBNET_MAX; i++) {
		v->ssids[i] = i < n->n_ssids ? n->ssids[i] : NULL;
		v->gateways[i] = i < n->n_gateways ? n->gateways[i] : NULL;
		v->domains[i] = i < n->n_domains ? n->domains[i] : NULL;
	}
	v->facts = (struct usb_network_facts){
		.ssids = v->ssids,
		.gateways = v->gateways,
		.dns_domains = v->domains,
		.ipv4 = n->ipv4,
		.n_ipv4 = n->n_ipv4,
		.open_wifi = n->open_wifi,
		.online = n->online,
	};
	return &v->facts;
}
