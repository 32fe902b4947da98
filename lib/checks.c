/*
 * The automated checks (lib/checks.h): a registry of named checks, each a pure function
 * from a host's facts to a verdict and the evidence it used, with the parameters each one
 * takes; and the event summary the server keeps per host for the checks that look at
 * events (evidence gaps, open Wi-Fi joins).
 *
 * Invariants: a check reads only its input and the measure's parameters; absent or
 * ill-typed facts are "unknown" (an inventory from an older agent, a section that failed,
 * arbitrary JSON from a fuzzer) and never a crash or a guess; evidence holds copies, never
 * references into the document. Limits: evidence lists (unexpected listeners, unexpected
 * administrators) stop at EVIDENCE_LIST_MAX entries and say how many there were in all.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "lib/buf.h"
#include "lib/checks.h"
#include "lib/jsonw.h"
#include "lib/limits.h"
#include "lib/mm.h"
#include "lib/str.h"

#define EVIDENCE_LIST_MAX 32
#define DAY               86400
#define VPN_TRACKED       16  /* VPN interfaces the event summary follows */
#define SSID_KEPT         128 /* bytes of an SSID kept for evidence (32 bytes, escaped) */

static const char *const status_names[CHECKS_STATUS_MAX] = {
	[CHECKS_MET] = "met",
	[CHECKS_NOT_MET] = "not_met",
	[CHECKS_UNKNOWN] = "unknown",
	[CHECKS_NOT_APPLICABLE] = "not_applicable",
};

const char *checks_status_name(enum checks_status s)
{
	return s < CHECKS_STATUS_MAX ? status_names[s] : "unknown";
}

int checks_status_from_name(const char *name, enum checks_status *ret)
{
	for (size_t i = 0; i < CHECKS_STATUS_MAX; i++)
		if (name && streq(name, status_names[i])) {
			*ret = (enum checks_status) i;
			return 0;
		}
	return -EINVAL;
}

/* ---- reading facts ---- */

/* The value at a path of object keys (NULL-terminated), or NULL when any step is missing
 * or not an object. */
static const json_t *get_path(const json_t *v, ...)
{
	va_list ap;
	const char *key;

	va_start(ap, v);
	while (v && (key = va_arg(ap, const char *)))
		v = json_is_object(v) ? json_object_get(v, key) : NULL;
	va_end(ap);
	return v;
}
#define GET(...) get_path(__VA_ARGS__, (const char *) NULL)

/* 1 true, 0 false, -1 unknown (absent, null or not a boolean). */
static int tri(const json_t *v)
{
	return json_is_true(v) ? 1 : json_is_false(v) ? 0 : -1;
}

static const char *str_of(const json_t *v)
{
	return json_string_value(v);
}

/* ---- one run of a check ---- */

struct run {
	const struct checks_input *in;
	const struct catalog_stanza *measure;
	json_t *ev; /* the evidence being built */
	bool oom;
};

static void put(struct run *r, const char *key, json_t *v)
{
	if (!v || jsonw_set(r->ev, key, v) < 0)
		r->oom = true;
}

/* A copy of a fact (JSON null when absent). */
static void put_copy(struct run *r, const char *key, const json_t *v)
{
	put(r, key, v ? json_deep_copy(v) : json_null());
}

static void put_tri(struct run *r, const char *key, int v)
{
	put(r, key, v < 0 ? json_null() : json_boolean(v));
}

static void put_int(struct run *r, const char *key, int64_t v)
{
	put(r, key, json_integer(v));
}

static void put_str(struct run *r, const char *key, const char *v)
{
	put(r, key, v ? json_string(v) : json_null());
}

static enum checks_status unknown_because(struct run *r, const char *why)
{
	put_str(r, "reason", why);
	return CHECKS_UNKNOWN;
}

/* The text of parameter Param-NAME, or def. */
static const char *param_text(const struct run *r, const char *name, const char *def)
{
	char field[64] = "Param-";
	size_t n = strlen(name);
	const char *v;

	/* not snprintf: this runs for every check of every host of a full recompute */
	if (n >= sizeof(field) - 6)
		return def;
	memcpy(field + 6, name, n + 1);
	v = catalog_get(r->measure, field);
	return v ? v : def;
}

/* A numeric parameter; checks_validate() refused malformed ones, so a bad value here (a
 * catalogue loaded without validation) falls back to the default. */
static int64_t param_int(const struct run *r, const char *name, int64_t def)
{
	const char *v = param_text(r, name, NULL);
	int64_t n;

	if (!v || str_to_i64(v, 10, &n) < 0 || n < 0)
		return def;
	return n;
}

/* Whether `word` is one of the space-separated words of `list`. */
static bool in_words(const char *list, const char *word)
{
	size_t n = strlen(word);

	if (!list)
		return false;
	for (const char *p = list; *p;) {
		const char *end;

		while (*p == ' ')
			p++;
		end = strchr(p, ' ');
		if (!end)
			end = p + strlen(p);
		if ((size_t) (end - p) == n && n > 0 && memcmp(p, word, n) == 0)
			return true;
		p = end;
	}
	return false;
}

/* The words of a list as a JSON array of strings. */
static json_t *words_json(const char *list)
{
	json_t *a = json_array();

	if (!a || !list)
		return a;
	for (const char *p = list; *p;) {
		const char *end;

		while (*p == ' ')
			p++;
		end = strchr(p, ' ');
		if (!end)
			end = p + strlen(p);
		if (end > p && jsonw_append(a, json_stringn(p, (size_t) (end - p))) < 0) {
			json_decref(a);
			return NULL;
		}
		p = end;
	}
	return a;
}

/* ---- the checks ---- */

static enum checks_status server_only(struct run *r)
{
	return unknown_because(r, "decided by the server");
}

static enum checks_status inventory_fresh(struct run *r)
{
	const struct checks_host *h = r->in->host;
	int64_t max = param_int(r, "max-age-hours", 24);

	if (!h)
		return server_only(r);
	put_int(r, "max_age_hours", max);
	if (h->last_inventory < 0) {
		put(r, "last_inventory", json_null());
		return CHECKS_NOT_MET;
	}
	put_int(r, "last_inventory", h->last_inventory);
	put_int(r, "age_hours", (r->in->now - h->last_inventory) / 3600);
	return r->in->now - h->last_inventory <= max * 3600 ? CHECKS_MET : CHECKS_NOT_MET;
}

static enum checks_status owner_assigned(struct run *r)
{
	const struct checks_host *h = r->in->host;

	if (!h)
		return server_only(r);
	if (!h->owner)
		return unknown_because(r, "the owner is not known");
	put_str(r, "owner", *h->owner ? h->owner : NULL);
	return *h->owner ? CHECKS_MET : CHECKS_NOT_MET;
}

/* Whether the identity section's errors name a DMI file readable by root only. */
static bool serial_refused(const json_t *id)
{
	const json_t *errors = GET(id, "errors"), *e;
	size_t i;

	json_array_foreach (errors, i, e) {
		const char *src = str_of(GET(e, "source"));

		if (src && strstr(src, "product_serial"))
			return true;
	}
	return false;
}

static enum checks_status serial_known(struct run *r)
{
	const json_t *id = GET(r->in->doc, "identity");
	const char *serial = str_of(GET(id, "dmi", "serial"));
	const char *chassis = str_of(GET(id, "chassis"));
	const char *container = str_of(GET(id, "container"));

	if (!json_is_object(id))
		return unknown_because(r, "no identity facts");
	if (serial && *serial) {
		put_str(r, "serial", serial);
		return CHECKS_MET;
	}
	put(r, "serial", json_null());
	if (container) {
		put_str(r, "container", container);
		return CHECKS_NOT_APPLICABLE;
	}
	if (chassis && streq(chassis, "vm")) {
		put_str(r, "chassis", chassis);
		return CHECKS_NOT_APPLICABLE;
	}
	if (serial_refused(id))
		return unknown_because(r, "the serial is readable by root only");
	put_tri(r, "dmi_available", tri(GET(id, "dmi_available")));
	if (tri(GET(id, "dmi_available")) != 1)
		return unknown_because(r, "no firmware (DMI) facts");
	return CHECKS_NOT_MET;
}

/* The names of the pending security updates the inventory lists, at most
 * EVIDENCE_LIST_MAX of them. */
static void pending_names(struct run *r, const json_t *su)
{
	const json_t *list = GET(su, "packages"), *e;
	json_t *names = json_array();
	size_t i;

	put(r, "packages", names);
	if (r->oom)
		return;
	json_array_foreach (list, i, e) {
		const char *name = str_of(GET(e, "name"));

		if (name && json_array_size(names) < EVIDENCE_LIST_MAX &&
		    jsonw_append(names, json_string(name)) < 0)
			r->oom = true;
	}
}

static enum checks_status updates_pending(struct run *r)
{
	const json_t *sw = GET(r->in->doc, "software");
	const json_t *v = GET(sw, "security_updates_pending");
	const json_t *su = GET(sw, "security_updates");
	const json_t *total = GET(su, "total");
	int64_t max = param_int(r, "max-pending", 0);

	if (!json_is_integer(v) && !json_is_object(su))
		return unknown_because(r, "the agent does not report pending security updates");
	put_int(r, "max_pending", max);
	if (json_is_integer(v)) {
		put_int(r, "pending", json_integer_value(v));
		if (json_integer_value(v) > 0)
			pending_names(r, su);
		return json_integer_value(v) <= max ? CHECKS_MET : CHECKS_NOT_MET;
	}
	/* the count is unknown (a list unreadable, no security source …), but what was found
	 * may already be too much */
	if (json_is_integer(total) && json_integer_value(total) > max) {
		put_int(r, "pending_at_least", json_integer_value(total));
		pending_names(r, su);
		put_copy(r, "incomplete", GET(su, "reason"));
		return CHECKS_NOT_MET;
	}
	return unknown_because(r, str_of(GET(su, "reason"))
					  ? str_of(GET(su, "reason"))
					  : "the pending security updates are not known");
}

static enum checks_status auto_updates(struct run *r)
{
	const json_t *au = GET(r->in->doc, "security", "auto_updates");
	int configured = tri(GET(au, "auto_updates_configured"));

	if (configured < 0)
		return unknown_because(r, "no automatic-update facts");
	put_tri(r, "auto_updates_configured", configured);
	put_tri(r, "unattended_upgrades_installed", tri(GET(au, "unattended_upgrades_installed")));
	put_copy(r, "unattended_upgrade", GET(au, "unattended_upgrade", "value"));
	put_copy(r, "update_package_lists", GET(au, "update_package_lists", "value"));
	return configured ? CHECKS_MET : CHECKS_NOT_MET;
}

static enum checks_status vuln_none(struct run *r)
{
	const struct checks_host *h = r->in->host;

	if (!h)
		return server_only(r);
	if (h->vuln_matches < 0)
		return unknown_because(r, "software is not matched against vulnerabilities yet");
	put_int(r, "matches", h->vuln_matches);
	return h->vuln_matches == 0 ? CHECKS_MET : CHECKS_NOT_MET;
}

static bool json_array_has_string(const json_t *a, const char *s)
{
	size_t i;
	const json_t *e;

	json_array_foreach (a, i, e)
		if (json_is_string(e) && streq(json_string_value(e), s))
			return true;
	return false;
}

static enum checks_status admins_allowed(struct run *r)
{
	static const char *const groups[] = {"sudo", "wheel", "adm"};
	const json_t *am = GET(r->in->doc, "users", "admin_members");
	const char *allowed = param_text(r, "allowed", "root");
	json_t *unexpected;
	size_t total = 0;

	if (!json_is_object(am))
		return unknown_because(r, "no administrator-group facts");
	unexpected = json_array();
	put(r, "unexpected", unexpected);
	put(r, "allowed", words_json(allowed));
	if (r->oom)
		return CHECKS_UNKNOWN;
	for (size_t g = 0; g < ARRAY_SIZE(groups); g++) {
		const json_t *members = GET(am, groups[g]), *m;
		size_t i;

		json_array_foreach (members, i, m) {
			const char *name = str_of(m);

			if (!name || in_words(allowed, name) ||
			    json_array_has_string(unexpected, name))
				continue;
			total++;
			if (json_array_size(unexpected) < EVIDENCE_LIST_MAX &&
			    jsonw_append(unexpected, json_string(name)) < 0)
				r->oom = true;
		}
	}
	put_copy(r, "admin_members", am);
	put_int(r, "unexpected_total", (int64_t) total);
	return total ? CHECKS_NOT_MET : CHECKS_MET;
}

/* The ssh object, or NULL after deciding (not applicable or unknown) into *ret. */
static const json_t *sshd(struct run *r, enum checks_status *ret)
{
	const json_t *ssh = GET(r->in->doc, "security", "ssh");
	int installed = tri(GET(ssh, "sshd_installed"));

	if (installed < 0) {
		*ret = unknown_because(r, "no ssh server facts");
		return NULL;
	}
	put_tri(r, "sshd_installed", installed);
	if (!installed) {
		*ret = CHECKS_NOT_APPLICABLE;
		return NULL;
	}
	put_copy(r, "match_blocks", GET(ssh, "match_blocks"));
	return ssh;
}

static enum checks_status ssh_root_login(struct run *r)
{
	enum checks_status st = CHECKS_UNKNOWN;
	const json_t *ssh = sshd(r, &st);
	const char *v;

	if (!ssh)
		return st;
	v = str_of(GET(ssh, "permit_root_login", "value"));
	put_str(r, "permit_root_login", v);
	put_copy(r, "source", GET(ssh, "permit_root_login", "source"));
	if (!v)
		return unknown_because(r, "PermitRootLogin not known");
	return streq(v, "no") ? CHECKS_MET : CHECKS_NOT_MET;
}

static enum checks_status ssh_password_auth(struct run *r)
{
	enum checks_status st = CHECKS_UNKNOWN;
	const json_t *ssh = sshd(r, &st);
	int pw, kbd;

	if (!ssh)
		return st;
	pw = tri(GET(ssh, "password_authentication", "value"));
	kbd = tri(GET(ssh, "kbd_interactive_authentication", "value"));
	put_tri(r, "password_authentication", pw);
	put_copy(r, "password_authentication_source",
		 GET(ssh, "password_authentication", "source"));
	put_tri(r, "kbd_interactive_authentication", kbd);
	if (pw == 1 || kbd == 1)
		return CHECKS_NOT_MET;
	if (pw == 0 && kbd == 0)
		return CHECKS_MET;
	return unknown_because(r, "password authentication settings not known");
}

static enum checks_status removable_media(struct run *r)
{
	const struct checks_host *h = r->in->host;

	if (!h)
		return server_only(r);
	if (h->policy_version < 0)
		return unknown_because(r, "the agent has not reported its policy");
	put_int(r, "policy_version", h->policy_version);
	return h->policy_version > 0 ? CHECKS_MET : CHECKS_NOT_MET;
}

static enum checks_status encrypted(struct run *r)
{
	const json_t *st = GET(r->in->doc, "storage");
	const char *chassis = str_of(GET(r->in->doc, "identity", "chassis"));
	const char *applies = param_text(r, "chassis", "laptop tablet");
	int root, home;

	if (!chassis || streq(chassis, "unknown"))
		return unknown_because(r, "the chassis is not known");
	put_str(r, "chassis", chassis);
	if (!in_words(applies, chassis)) {
		put(r, "applies_to", words_json(applies));
		return CHECKS_NOT_APPLICABLE;
	}
	root = tri(GET(st, "root_encrypted"));
	home = tri(GET(st, "home_encrypted"));
	put_tri(r, "root_encrypted", root);
	put_tri(r, "home_encrypted", home);
	put_copy(r, "root_device", GET(st, "root_device"));
	put_copy(r, "home_device", GET(st, "home_device"));
	if (root == 0 || home == 0)
		return CHECKS_NOT_MET;
	if (root == 1 && home == 1)
		return CHECKS_MET;
	return unknown_because(r, "the disk under / or /home could not be told");
}

/* A commercial product that runs: met on its word (its own console keeps definitions). */
static const json_t *running_product(const json_t *others, bool *ret_any)
{
	size_t i;
	const json_t *p;

	*ret_any = false;
	json_array_foreach (others, i, p) {
		if (!json_is_object(p) || !str_of(GET(p, "name")))
			continue;
		*ret_any = true;
		if (tri(GET(p, "running")) == 1)
			return p;
	}
	return NULL;
}

static void add_word(struct run *r, json_t *list, const char *word)
{
	if (jsonw_append(list, json_string(word)) < 0)
		r->oom = true;
}

static enum checks_status antivirus(struct run *r)
{
	const json_t *av = GET(r->in->doc, "security", "antivirus");
	const json_t *cl = GET(av, "clamav"), *probe = GET(cl, "clamd_probe"), *product;
	int64_t max = param_int(r, "max-definitions-age-days", 3), build_time = -1;
	int installed = tri(GET(cl, "installed")), clamd, onacc, clamonacc, realtime;
	json_t *failed, *unknown;
	bool any_product;

	if (!json_is_object(av))
		return unknown_because(r, "no antivirus facts");
	product = running_product(GET(av, "other_products"), &any_product);
	if (product && installed != 1) {
		put_copy(r, "product", GET(product, "name"));
		put_tri(r, "running", 1);
		put_str(r, "definitions", "managed by the product");
		return CHECKS_MET;
	}
	if (installed == 0) {
		put_tri(r, "installed", 0);
		put_tri(r, "other_product_installed", any_product);
		return CHECKS_NOT_MET;
	}
	if (installed < 0)
		return unknown_because(r, "whether ClamAV is installed is not known");
	put_tri(r, "installed", 1);
	failed = json_array();
	unknown = json_array();
	put(r, "failed", failed);
	put(r, "unknown", unknown);
	if (r->oom)
		return CHECKS_UNKNOWN;

	/* clamd: the live probe when the agent made one, else the process list */
	if (json_is_object(probe) && tri(GET(probe, "running")) >= 0) {
		clamd = tri(GET(probe, "running"));
		put_str(r, "clamd_checked_by", "probe");
		put_copy(r, "clamd_version", GET(probe, "version"));
		put_copy(r, "daily_version", GET(probe, "daily_version"));
		if (clamd == 1 && json_is_integer(GET(probe, "daily_build_time")))
			build_time = json_integer_value(GET(probe, "daily_build_time"));
	} else {
		clamd = tri(GET(cl, "clamd_running"));
		put_str(r, "clamd_checked_by", "process list");
	}
	put_tri(r, "clamd_running", clamd);
	if (clamd == 0)
		add_word(r, failed, "clamd_not_running");
	else if (clamd < 0)
		add_word(r, unknown, "clamd_running");

	/* definitions: what clamd has loaded, else the newest database file */
	if (build_time < 0 && json_is_integer(GET(cl, "definitions_newest_build_time")))
		build_time = json_integer_value(GET(cl, "definitions_newest_build_time"));
	put_int(r, "max_definitions_age_days", max);
	if (build_time >= 0) {
		int64_t age = r->in->now > build_time ? (r->in->now - build_time) / DAY : 0;

		put_int(r, "definitions_age_days", age);
		put_int(r, "definitions_build_time", build_time);
		if (age > max)
			add_word(r, failed, "definitions_too_old");
	} else if (json_is_array(GET(cl, "definitions")) &&
		   json_array_size(GET(cl, "definitions")) == 0) {
		put_int(r, "definitions", 0);
		add_word(r, failed, "no_definitions");
	} else {
		put(r, "definitions_age_days", json_null());
		add_word(r, unknown, "definitions_age");
	}

	/* real-time scanning: on-access configured in clamd.conf and clamonacc running */
	onacc = json_is_null(GET(cl, "clamd_conf"))
			? 0
			: tri(GET(cl, "clamd_conf", "on_access_configured"));
	clamonacc = tri(GET(cl, "clamonacc_running"));
	realtime = onacc == 0 || clamonacc == 0 ? 0 : onacc == 1 && clamonacc == 1 ? 1 : -1;
	put_tri(r, "on_access_configured", onacc);
	put_tri(r, "clamonacc_running", clamonacc);
	put_tri(r, "realtime", realtime);
	if (realtime == 0)
		add_word(r, failed, "realtime_off");
	else if (realtime < 0)
		add_word(r, unknown, "realtime");
	put_tri(r, "freshclam_running", tri(GET(cl, "freshclam_running")));

	if (json_array_size(failed))
		return CHECKS_NOT_MET;
	return json_array_size(unknown) ? CHECKS_UNKNOWN : CHECKS_MET;
}

static enum checks_status antivirus_reported(struct run *r)
{
	const struct checks_host *h = r->in->host;
	int64_t max = param_int(r, "max-age-hours", 24);
	bool facts = json_is_object(GET(r->in->doc, "security", "antivirus", "clamav"));

	if (!h)
		return server_only(r);
	put_tri(r, "antivirus_facts", facts);
	put_int(r, "max_age_hours", max);
	put(r, "last_inventory",
	    h->last_inventory < 0 ? json_null() : json_integer(h->last_inventory));
	if (!facts || h->last_inventory < 0)
		return CHECKS_NOT_MET;
	return r->in->now - h->last_inventory <= max * 3600 ? CHECKS_MET : CHECKS_NOT_MET;
}

/*
 * The sum over the `days` days up to now of one day-keyed map of the event summary:
 * summary[map] is {"DAY": {counter: N}}, or {"DAY": N} when counter is NULL.
 */
static int64_t window_sum(const json_t *summary, const char *map, const char *counter, int64_t now,
			  int64_t days)
{
	const json_t *by_day = GET(summary, map), *v;
	int64_t today = now / DAY, sum = 0;
	const char *key;

	json_object_foreach ((json_t *) by_day, key, v) {
		const json_t *n = counter ? GET(v, counter) : v;
		int64_t day;

		if (str_to_i64(key, 10, &day) < 0 || day <= today - days || day > today)
			continue;
		if (json_is_integer(n) && json_integer_value(n) > 0)
			sum += json_integer_value(n);
	}
	return sum;
}

static enum checks_status open_wifi(struct run *r)
{
	const struct checks_host *h = r->in->host;
	const json_t *ifs = GET(r->in->doc, "network", "interfaces"), *e;
	int64_t days = param_int(r, "days", 30), wireless = -1, joins = 0;
	size_t i;

	if (json_is_array(ifs)) {
		wireless = 0;
		json_array_foreach (ifs, i, e)
			wireless += tri(GET(e, "wireless")) == 1;
		put_int(r, "wireless_interfaces", wireless);
	}
	put_int(r, "days", days);
	if (h && h->events) {
		const json_t *pending = GET(h->events, "open_pending");
		const json_t *since = GET(pending, "time");

		joins = window_sum(h->events, "days", "open_wifi", r->in->now, days);
		/* an open join no VPN followed within the grace time, nothing reported since */
		if (json_is_integer(since) &&
		    r->in->now - json_integer_value(since) > CHECKS_VPN_GRACE &&
		    json_integer_value(since) > r->in->now - days * DAY) {
			joins++;
			put_copy(r, "last_open_join", pending);
		} else if (joins > 0) {
			put_copy(r, "last_open_join", GET(h->events, "open_last"));
		}
	}
	if (joins > 0) {
		put_int(r, "open_wifi_without_vpn", joins);
		return CHECKS_NOT_MET;
	}
	if (wireless == 0)
		return CHECKS_NOT_APPLICABLE;
	if (!h)
		return server_only(r);
	if (tri(GET(h->events, "wifi_monitored")) == 1) {
		put_int(r, "open_wifi_without_vpn", 0);
		return CHECKS_MET;
	}
	return unknown_because(r, "no Wi-Fi joins have been reported by this endpoint");
}

static enum checks_status firewall(struct run *r)
{
	const json_t *fw = GET(r->in->doc, "security", "firewall");
	int configured = tri(GET(fw, "firewall_configured"));

	if (configured < 0)
		return unknown_because(r, "no firewall facts");
	put_tri(r, "firewall_configured", configured);
	put_copy(r, "evidence", GET(fw, "evidence"));
	return configured ? CHECKS_MET : CHECKS_NOT_MET;
}

static enum checks_status no_empty_passwords(struct run *r)
{
	const json_t *users = GET(r->in->doc, "users"), *e;
	const json_t *empty = GET(users, "empty_password_accounts");
	int64_t unknown_states = 0;
	size_t i;

	if (!json_is_array(empty))
		return unknown_because(r, "no account facts");
	put_copy(r, "empty_password_accounts", empty);
	if (json_array_size(empty))
		return CHECKS_NOT_MET;
	json_array_foreach (GET(users, "accounts"), i, e) {
		const char *state = str_of(GET(e, "password_state"));

		unknown_states += state && streq(state, "unknown");
	}
	if (unknown_states) {
		put_int(r, "accounts_unknown", unknown_states);
		return unknown_because(r, "the shadow file could not be read");
	}
	return CHECKS_MET;
}

static enum checks_status screen_lock(struct run *r)
{
	const json_t *sl = GET(r->in->doc, "security", "screen_lock");
	const json_t *idle = GET(sl, "idle_delay_seconds");
	const char *state = str_of(GET(sl, "state"));
	const char *chassis = str_of(GET(r->in->doc, "identity", "chassis"));
	int64_t max = param_int(r, "max-minutes", 10);
	int enabled = tri(GET(sl, "lock_enabled"));

	if (!json_is_object(sl))
		return unknown_because(r, "no screen-lock facts");
	put_int(r, "max_minutes", max);
	put_tri(r, "lock_enabled", enabled);
	put_copy(r, "idle_delay_seconds", idle);
	if (state && streq(state, "unknown") && enabled < 0) {
		if (chassis && (streq(chassis, "server") || streq(chassis, "vm"))) {
			put_str(r, "chassis", chassis);
			return CHECKS_NOT_APPLICABLE;
		}
		return unknown_because(r, "no system-wide screen-lock setting was found");
	}
	if (enabled == 0)
		return CHECKS_NOT_MET;
	if (json_is_integer(idle) &&
	    (json_integer_value(idle) <= 0 || json_integer_value(idle) > max * 60))
		return CHECKS_NOT_MET;
	if (enabled == 1 && json_is_integer(idle))
		return CHECKS_MET;
	return unknown_because(r, enabled == 1 ? "the idle delay is not set system-wide"
					       : "whether the lock is on is not set system-wide");
}

static bool loopback_address(const char *a)
{
	return str_startswith(a, "127.") || streq(a, "::1") || str_startswith(a, "::ffff:127.");
}

static enum checks_status listening_allowed(struct run *r)
{
	const json_t *list = GET(r->in->doc, "network", "listening"), *e;
	const char *allowed = param_text(r, "allowed", "");
	bool loopback_ok = streq(param_text(r, "loopback-ok", "yes"), "yes");
	json_t *unexpected;
	int64_t total = 0;
	size_t i;

	if (!json_is_array(list))
		return unknown_because(r, "no listening-socket facts");
	unexpected = json_array();
	put(r, "unexpected", unexpected);
	put(r, "allowed", words_json(allowed));
	put_tri(r, "loopback_ok", loopback_ok);
	if (r->oom)
		return CHECKS_UNKNOWN;
	json_array_foreach (list, i, e) {
		const char *proto = str_of(GET(e, "protocol")), *addr = str_of(GET(e, "address"));
		const json_t *port = GET(e, "port");
		char want[32];

		if (!proto || !addr || !json_is_integer(port))
			continue;
		if (loopback_ok && loopback_address(addr))
			continue;
		(void) snprintf(want, sizeof(want), "%lld/%s", (long long) json_integer_value(port),
				str_startswith(proto, "tcp") ? "tcp" : "udp");
		if (in_words(allowed, want))
			continue;
		total++;
		if (json_array_size(unexpected) < EVIDENCE_LIST_MAX &&
		    jsonw_append(unexpected, json_pack("{s:s, s:s, s:O?}", "port", want, "address",
						       addr, "comm", GET(e, "comm"))) < 0)
			r->oom = true;
	}
	put_int(r, "unexpected_total", total);
	return total ? CHECKS_NOT_MET : CHECKS_MET;
}

/* The chain's ranges of one kind detected within the window, for evidence. */
static void chain_ranges(struct run *r, const char *key, const json_t *ranges, int64_t days)
{
	json_t *out = json_array();
	const json_t *e;
	size_t i;

	put(r, key, out);
	if (r->oom)
		return;
	json_array_foreach (ranges, i, e) {
		const json_t *detected = GET(e, "detected");

		if (json_is_integer(detected) &&
		    json_integer_value(detected) > r->in->now - days * DAY &&
		    jsonw_append(out, json_deep_copy(e)) < 0)
			r->oom = true;
	}
}

static enum checks_status logs_flowing(struct run *r)
{
	const struct checks_host *h = r->in->host;
	const json_t *last, *chain;
	int64_t days = param_int(r, "days", 7), gaps, breaks;

	if (!h)
		return server_only(r);
	last = GET(h->events, "last_event");
	chain = GET(h->events, "chain");
	put_int(r, "days", days);
	if (!json_is_integer(last))
		return unknown_because(r, "no events have been received from this endpoint");
	put_int(r, "last_event", json_integer_value(last));
	if (!json_is_object(chain))
		return unknown_because(r,
				       "the event chain's findings are not known for this "
				       "endpoint (not verified by this store, or no batch since)");
	gaps = window_sum(chain, "gap_days", NULL, r->in->now, days);
	breaks = window_sum(chain, "break_days", NULL, r->in->now, days);
	put_int(r, "gaps", gaps);
	put_int(r, "breaks", breaks);
	if (gaps > 0)
		chain_ranges(r, "gap_ranges", GET(chain, "gaps"), days);
	if (breaks > 0)
		chain_ranges(r, "break_ranges", GET(chain, "breaks"), days);
	if (tri(GET(chain, "truncated")) == 1)
		put(r, "counts_at_least", json_true());
	if (gaps > 0 || breaks > 0)
		return CHECKS_NOT_MET;
	return r->in->now - json_integer_value(last) <= days * DAY ? CHECKS_MET : CHECKS_NOT_MET;
}

static enum checks_status time_sync(struct run *r)
{
	static const char *const daemons[] = {"timesyncd", "chrony", "ntpd"};
	const json_t *ts = GET(r->in->doc, "security", "time_sync");
	int configured = tri(GET(ts, "time_sync_configured"));
	json_t *active;

	if (configured < 0)
		return unknown_because(r, "no time-synchronisation facts");
	put_tri(r, "time_sync_configured", configured);
	active = json_array();
	put(r, "daemons", active);
	if (r->oom)
		return CHECKS_UNKNOWN;
	for (size_t i = 0; i < ARRAY_SIZE(daemons); i++)
		if (tri(GET(ts, daemons[i], "enabled")) == 1 ||
		    tri(GET(ts, daemons[i], "running")) == 1)
			add_word(r, active, daemons[i]);
	put_int(r, "servers", (int64_t) json_array_size(GET(ts, "servers")));
	return configured ? CHECKS_MET : CHECKS_NOT_MET;
}

/* ---- the registry ---- */

enum param_kind {
	PARAM_UINT,    /* a whole number in [min, max] */
	PARAM_WORDS,   /* space-separated words (names) */
	PARAM_PORTS,   /* space-separated PORT/tcp or PORT/udp */
	PARAM_CHASSIS, /* space-separated chassis classes (docs/inventory.md, identity) */
	PARAM_YESNO,
};

struct param_def {
	const char *name;
	enum param_kind kind;
	int64_t min, max;
};

struct check_def {
	const char *name;
	enum checks_status (*fn)(struct run *r);
	bool local; /* decidable from the inventory alone */
	struct param_def params[3];
};

static const struct check_def registry[] = {
	{"host.inventory_fresh", inventory_fresh, false, {{"max-age-hours", PARAM_UINT, 1, 8760}}},
	{"host.owner_assigned", owner_assigned, false, {{0}}},
	{"host.serial_known", serial_known, true, {{0}}},
	{"software.security_updates_pending",
	 updates_pending,
	 true,
	 {{"max-pending", PARAM_UINT, 0, 100000}}},
	{"security.auto_updates", auto_updates, true, {{0}}},
	{"vuln.none_known", vuln_none, false, {{0}}},
	{"users.admins_allowed", admins_allowed, true, {{"allowed", PARAM_WORDS, 0, 0}}},
	{"ssh.root_login_off", ssh_root_login, true, {{0}}},
	{"ssh.password_auth_off", ssh_password_auth, true, {{0}}},
	{"policy.removable_media", removable_media, false, {{0}}},
	{"storage.encrypted", encrypted, true, {{"chassis", PARAM_CHASSIS, 0, 0}}},
	{"antivirus.protected",
	 antivirus,
	 true,
	 {{"max-definitions-age-days", PARAM_UINT, 1, 365}}},
	{"antivirus.reported", antivirus_reported, false, {{"max-age-hours", PARAM_UINT, 1, 8760}}},
	{"network.open_wifi_without_vpn",
	 open_wifi,
	 false,
	 {{"days", PARAM_UINT, 1, CHECKS_EVENT_DAYS}}},
	{"security.firewall", firewall, true, {{0}}},
	{"users.no_empty_passwords", no_empty_passwords, true, {{0}}},
	{"security.screen_lock", screen_lock, true, {{"max-minutes", PARAM_UINT, 1, 1440}}},
	{"network.listening_allowed",
	 listening_allowed,
	 true,
	 {{"allowed", PARAM_PORTS, 0, 0}, {"loopback-ok", PARAM_YESNO, 0, 0}}},
	{"logs.flowing", logs_flowing, false, {{"days", PARAM_UINT, 1, CHECKS_EVENT_DAYS}}},
	{"security.time_sync", time_sync, true, {{0}}},
};

/* What each check reads of the inventory; checks_item_parse() keeps nothing else. A path
 * missing here makes a check see less than it reads: the test holding keep against the
 * whole documents (tests/unit/test-checks.c) fails then. */
const struct checks_item checks_inventory_items[] = {
	{"identity",
	 NULL,
	 {NULL},
	 {"$.errors[].source", "$.dmi.serial", "$.chassis", "$.container", "$.dmi_available",
	  NULL}},
	{"security",
	 NULL,
	 {"$.antivirus.clamav.freshclam_conf",
	  "$.antivirus.clamav.clamd_conf.on_access_include_paths", "$.screen_lock.gnome",
	  "$.screen_lock.kde", "$.screen_lock.lockers", "$.firewall.nftables",
	  "$.firewall.firewalld", "$.firewall.netfilter_persistent", NULL},
	 {"$.antivirus.clamav.installed",
	  "$.antivirus.clamav.clamd_probe",
	  "$.antivirus.clamav.clamd_running",
	  "$.antivirus.clamav.definitions_newest_build_time",
	  "$.antivirus.clamav.definitions[]",
	  "$.antivirus.clamav.clamd_conf.on_access_configured",
	  "$.antivirus.clamav.clamonacc_running",
	  "$.antivirus.clamav.freshclam_running",
	  "$.antivirus.other_products[].name",
	  "$.antivirus.other_products[].running",
	  "$.firewall.firewall_configured",
	  "$.firewall.evidence",
	  "$.auto_updates.auto_updates_configured",
	  "$.auto_updates.unattended_upgrades_installed",
	  "$.auto_updates.unattended_upgrade.value",
	  "$.auto_updates.update_package_lists.value",
	  "$.ssh.sshd_installed",
	  "$.ssh.match_blocks",
	  "$.ssh.permit_root_login.value",
	  "$.ssh.permit_root_login.source",
	  "$.ssh.password_authentication.value",
	  "$.ssh.password_authentication.source",
	  "$.ssh.kbd_interactive_authentication.value",
	  "$.time_sync.time_sync_configured",
	  "$.time_sync.timesyncd.enabled",
	  "$.time_sync.timesyncd.running",
	  "$.time_sync.chrony.enabled",
	  "$.time_sync.chrony.running",
	  "$.time_sync.ntpd.enabled",
	  "$.time_sync.ntpd.running",
	  "$.time_sync.servers[]",
	  "$.screen_lock.idle_delay_seconds",
	  "$.screen_lock.state",
	  "$.screen_lock.lock_enabled",
	  NULL}},
	{"software",
	 NULL,
	 {"$.counts", "$.apt", "$.security_updates.lists", NULL},
	 {"$.security_updates_pending", "$.security_updates.total", "$.security_updates.reason",
	  "$.security_updates.packages[].name", NULL}},
	{"storage",
	 NULL,
	 {NULL},
	 {"$.root_encrypted", "$.home_encrypted", "$.root_device", "$.home_device", NULL}},
	{"users", NULL, {NULL}, {"$.admin_members", "$.empty_password_accounts", NULL}},
	{"network",
	 "interfaces",
	 {"$.addresses", "$.flags", "$.driver", "$.mac", NULL},
	 {"$.wireless", NULL}},
	{"network",
	 "listening",
	 {"$.inode", "$.exe", NULL},
	 {"$.protocol", "$.address", "$.port", "$.comm", NULL}},
	{"users",
	 "accounts",
	 {"$.gecos", "$.full_name", "$.home", "$.shell", "$.last_login", NULL},
	 {"$.password_state", NULL}},
	{NULL, NULL, {NULL}, {NULL}},
};

/* ---- loading items: only what the checks read ---- */

enum keep_match {
	KEEP_NONE,
	KEEP_INSIDE,
	KEEP_WHOLE
};

/* The keep paths still in play below some path: indices into the item's keep list. */
struct cands {
	unsigned char i[CHECKS_ITEM_KEEP_MAX];
	size_t n;
};

struct filter {
	const char *p, *e;
	const char *const *keep;
	size_t lens[CHECKS_ITEM_KEEP_MAX];
	struct buf *out;
	char path[256];
};

/*
 * How the value at `path` (such as "$.antivirus.clamav" or "$.servers[]") stands against
 * the keep paths in `in` (those that go through its parent): copied whole, filtered
 * inside, or left out; *ret (when inside) gets the paths that go on below it. A path
 * that ends in "[]" empties what it names: inside, with nothing below it.
 */
static enum keep_match keep_match(const struct filter *f, const struct cands *in, const char *path,
				  size_t len, struct cands *ret)
{
	enum keep_match m = KEEP_NONE;

	ret->n = 0;
	for (size_t j = 0; j < in->n; j++) {
		const char *k = f->keep[in->i[j]];
		size_t kl = f->lens[in->i[j]];

		if (kl < len || memcmp(k, path, len) != 0)
			continue;
		if (kl == len) {
			if (len < 2 || memcmp(k + len - 2, "[]", 2) != 0)
				return KEEP_WHOLE;
			m = KEEP_INSIDE;
		} else if (k[len] == '.' || k[len] == '[') {
			m = KEEP_INSIDE;
			ret->i[ret->n++] = in->i[j];
		}
	}
	return m;
}

static void skip_ws(struct filter *f)
{
	while (f->p < f->e && (*f->p == ' ' || *f->p == '\t' || *f->p == '\n' || *f->p == '\r'))
		f->p++;
}

/* The end of the string starting at p (its opening quote), or NULL. */
static const char *string_end(const char *p, const char *e, bool *ret_escaped)
{
	for (p++; p < e;) {
		const char *q = memchr(p, '"', (size_t) (e - p));
		const char *b;

		if (!q)
			return NULL;
		b = memchr(p, '\\', (size_t) (q - p));
		if (!b)
			return q + 1;
		*ret_escaped = true;
		p = b + 2; /* past the escaped character, which may be that quote */
	}
	return NULL;
}

/* The bytes value_end() stops at inside a value: strings' quotes and brackets. */
static const bool json_special[256] = {
	['"'] = true, ['{'] = true, ['}'] = true, ['['] = true, [']'] = true};

/* The end of the value starting at f->p, or NULL when the text is not JSON there. Nested
 * values are stepped over with a counter, not recursion. */
static const char *value_end(const struct filter *f)
{
	const char *p = f->p;
	size_t depth = 0;
	bool escaped;

	if (p >= f->e)
		return NULL;
	if (*p != '"' && *p != '{' && *p != '[') { /* a number or a literal */
		while (p < f->e && *p != ',' && *p != '}' && *p != ']' && *p != ' ' && *p != '\t' &&
		       *p != '\n' && *p != '\r')
			p++;
		return p > f->p ? p : NULL;
	}
	do {
		/* step over what cannot open or close anything, many bytes at a time */
		while (p < f->e && !json_special[(unsigned char) *p])
			p++;
		if (p >= f->e)
			return NULL;
		switch (*p) {
		case '"':
			p = string_end(p, f->e, &escaped);
			if (!p)
				return NULL;
			break;
		case '{':
		case '[':
			depth++;
			p++;
			break;
		case '}':
		case ']':
			if (depth == 0)
				return NULL;
			depth--;
			p++;
			break;
		default:
			p++;
			break;
		}
	} while (depth > 0);
	return p;
}

static int filter_value(struct filter *f, size_t plen, const struct cands *c);

/* Copies the object at f->p, with the members the keep paths in c name below
 * path[0..plen). */
static int filter_object(struct filter *f, size_t plen, const struct cands *c)
{
	bool first = true;
	int r;

	f->p++; /* '{' */
	if ((r = buf_addc(f->out, '{')) < 0)
		return r;
	skip_ws(f);
	if (f->p < f->e && *f->p == '}') {
		f->p++;
		return buf_addc(f->out, '}');
	}
	for (;;) {
		const char *key, *key_end, *val_end;
		bool escaped = false;
		enum keep_match m;
		struct cands below;
		size_t klen;

		skip_ws(f);
		if (f->p >= f->e || *f->p != '"')
			return -EBADMSG;
		key = f->p;
		key_end = string_end(key, f->e, &escaped);
		if (!key_end)
			return -EBADMSG;
		f->p = key_end;
		skip_ws(f);
		if (f->p >= f->e || *f->p != ':')
			return -EBADMSG;
		f->p++;
		skip_ws(f);
		klen = (size_t) (key_end - key - 2);
		/* a key with escapes cannot be told cheaply: kept whole, which only keeps more */
		if (escaped || plen + 1 + klen >= sizeof(f->path)) {
			m = KEEP_WHOLE;
		} else {
			f->path[plen] = '.';
			memcpy(f->path + plen + 1, key + 1, klen);
			m = keep_match(f, c, f->path, plen + 1 + klen, &below);
		}
		if (m == KEEP_NONE) {
			val_end = value_end(f);
			if (!val_end)
				return -EBADMSG;
			f->p = val_end;
		} else {
			if ((!first && (r = buf_addc(f->out, ',')) < 0) ||
			    (r = buf_add(f->out, key, (size_t) (key_end - key))) < 0 ||
			    (r = buf_addc(f->out, ':')) < 0)
				return r;
			first = false;
			if (m == KEEP_WHOLE) {
				val_end = value_end(f);
				if (!val_end)
					return -EBADMSG;
				if ((r = buf_add(f->out, f->p, (size_t) (val_end - f->p))) < 0)
					return r;
				f->p = val_end;
			} else if ((r = filter_value(f, plen + 1 + klen, &below)) < 0) {
				return r;
			}
		}
		skip_ws(f);
		if (f->p < f->e && *f->p == ',') {
			f->p++;
			continue;
		}
		if (f->p < f->e && *f->p == '}') {
			f->p++;
			return buf_addc(f->out, '}');
		}
		return -EBADMSG;
	}
}

/* Copies the array at f->p, each element filtered as path[0..plen) + "[]". */
static int filter_array(struct filter *f, size_t plen, const struct cands *c)
{
	struct cands below;
	bool first = true;
	int r;

	f->p++; /* '[' */
	if ((r = buf_addc(f->out, '[')) < 0)
		return r;
	skip_ws(f);
	if (f->p < f->e && *f->p == ']') {
		f->p++;
		return buf_addc(f->out, ']');
	}
	if (plen + 2 >= sizeof(f->path))
		return -EBADMSG;
	memcpy(f->path + plen, "[]", 2);
	(void) keep_match(f, c, f->path, plen + 2, &below);
	for (;;) {
		skip_ws(f);
		if (!first && (r = buf_addc(f->out, ',')) < 0)
			return r;
		first = false;
		if ((r = filter_value(f, plen + 2, &below)) < 0)
			return r;
		skip_ws(f);
		if (f->p < f->e && *f->p == ',') {
			f->p++;
			continue;
		}
		if (f->p < f->e && *f->p == ']') {
			f->p++;
			return buf_addc(f->out, ']');
		}
		return -EBADMSG;
	}
}

/* Copies the value at f->p whose path is path[0..plen): filtered inside when it is an
 * object or an array, as it is otherwise. */
static int filter_value(struct filter *f, size_t plen, const struct cands *c)
{
	const char *end;
	int r;

	skip_ws(f);
	if (f->p < f->e && *f->p == '{')
		return filter_object(f, plen, c);
	if (f->p < f->e && *f->p == '[')
		return filter_array(f, plen, c);
	end = value_end(f);
	if (!end)
		return -EBADMSG;
	r = buf_add(f->out, f->p, (size_t) (end - f->p));
	f->p = end;
	return r;
}

/*
 * Appends the kept part of an item's text to out: 0, or -EBADMSG when the text cannot be
 * filtered (not an object, or not JSON where it was looked at: the caller parses it whole
 * to know), -ENOMEM, -E2BIG. On -EBADMSG, out is as it was.
 */
static int item_filter(const struct checks_item *item, const char *text, size_t len,
		       struct buf *out)
{
	struct filter f = {.p = text, .e = text + len, .keep = item->keep, .out = out};
	struct cands all = {.n = 0};
	size_t before = out->len;
	int r = -EBADMSG;

	for (size_t i = 0; i < CHECKS_ITEM_KEEP_MAX && item->keep[i]; i++) {
		f.lens[i] = strlen(item->keep[i]);
		all.i[all.n++] = (unsigned char) i;
	}
	f.path[0] = '$';
	skip_ws(&f);
	if (f.p < f.e && *f.p == '{')
		r = filter_object(&f, 1, &all);
	if (r >= 0) {
		skip_ws(&f);
		if (f.p != f.e)
			r = -EBADMSG;
	}
	if (r < 0) {
		out->len = before;
		if (out->data)
			out->data[before] = '\0';
	}
	return r;
}

json_t *checks_item_parse(const struct checks_item *item, const char *text, size_t len,
			  json_error_t *ret_error)
{
	struct buf out;
	json_error_t e;
	json_t *v = NULL;
	int r;

	if (!ret_error)
		ret_error = &e;
	if (!item->keep[0])
		return json_loadb(text, len, JSON_DECODE_ANY, ret_error);
	buf_init(&out, len + 1);
	r = item_filter(item, text, len, &out);
	if (r >= 0)
		v = json_loadb(buf_str(&out), out.len, JSON_DECODE_ANY, ret_error);
	buf_done(&out);
	if (r == -ENOMEM) {
		/* what jansson says of its own allocation failures: callers look for "memory" */
		*ret_error = (json_error_t){.line = -1, .column = -1};
		(void) snprintf(ret_error->text, sizeof(ret_error->text), "out of memory");
		ret_error->text[JSON_ERROR_TEXT_LENGTH - 1] = (char) json_error_out_of_memory;
		return NULL;
	}
	/* not an object, or not JSON: jansson says what (or parses it) on the whole text */
	return r < 0 ? json_loadb(text, len, JSON_DECODE_ANY, ret_error) : v;
}

static const struct check_def *find(const char *name)
{
	for (size_t i = 0; name && i < ARRAY_SIZE(registry); i++)
		if (streq(registry[i].name, name))
			return &registry[i];
	return NULL;
}

bool checks_known(const char *name)
{
	return find(name) != NULL;
}

bool checks_local(const char *name)
{
	const struct check_def *d = find(name);

	return d && d->local;
}

int checks_run(const struct catalog_stanza *measure, const struct checks_input *in,
	       enum checks_status *ret_status, json_t **ret_evidence)
{
	const struct check_def *d = find(catalog_get(measure, "Check"));
	struct run r = {.in = in, .measure = measure};
	enum checks_status st;

	if (!d)
		return -ENOENT;
	r.ev = json_object();
	if (!r.ev)
		return -ENOMEM;
	st = d->fn(&r);
	if (r.oom) {
		json_decref(r.ev);
		return -ENOMEM;
	}
	*ret_status = st;
	*ret_evidence = r.ev;
	return 0;
}

/* ---- validation of parameters ---- */

static const char *const chassis_classes[] = {"laptop", "desktop", "server", "tablet",
					      "other",  "vm",      "unknown"};

static bool valid_port_word(const char *w)
{
	const char *slash = strchr(w, '/');
	char num[8];
	unsigned port;

	if (!slash || (size_t) (slash - w) >= sizeof(num) || slash == w ||
	    (!streq(slash + 1, "tcp") && !streq(slash + 1, "udp")))
		return false;
	memcpy(num, w, (size_t) (slash - w));
	num[slash - w] = '\0';
	return str_to_uint(num, 10, &port) == 0 && port >= 1 && port <= 65535;
}

static void check_param(const struct catalog_stanza *s, const struct catalog_field *f,
			const struct param_def *p, struct diag *d)
{
	_cleanup_(freep) char *copy = NULL;
	char *save = NULL;
	int64_t n;

	switch (p->kind) {
	case PARAM_UINT:
		if (str_to_i64(f->value, 10, &n) < 0 || n < p->min || n > p->max)
			diag_error(d, f->file, f->line, 1,
				   "Measure %s: %s must be a whole number from %" PRId64
				   " to %" PRId64 ", not '%s'",
				   s->id, f->name, p->min, p->max, f->value);
		return;
	case PARAM_YESNO:
		if (!streq(f->value, "yes") && !streq(f->value, "no"))
			diag_error(d, f->file, f->line, 1,
				   "Measure %s: %s must be yes or no, not '%s'", s->id, f->name,
				   f->value);
		return;
	case PARAM_WORDS:
		return;
	case PARAM_PORTS:
	case PARAM_CHASSIS:
		break;
	}
	copy = mm_strdup(f->value);
	if (!copy) {
		d->oom = true;
		return;
	}
	for (char *w = strtok_r(copy, " ", &save); w; w = strtok_r(NULL, " ", &save)) {
		bool ok = false;

		if (p->kind == PARAM_PORTS)
			ok = valid_port_word(w);
		for (size_t i = 0; p->kind == PARAM_CHASSIS && i < ARRAY_SIZE(chassis_classes); i++)
			ok = ok || streq(w, chassis_classes[i]);
		if (!ok)
			diag_error(
				d, f->file, f->line, 1, "Measure %s: %s: '%s' is not %s", s->id,
				f->name, w,
				p->kind == PARAM_PORTS
					? "PORT/tcp or PORT/udp"
					: "a chassis class (laptop desktop server tablet other vm "
					  "unknown)");
	}
}

int checks_validate(const struct catalog *c, struct diag *d)
{
	size_t before = d->n_errors;

	for (size_t i = 0; i < c->n; i++) {
		const struct catalog_stanza *s = &c->stanzas[i];
		const struct check_def *def;

		if (!streq(s->kind, "Measure"))
			continue;
		def = find(catalog_get(s, "Check"));
		for (size_t k = 0; k < s->n_fields; k++) {
			const struct catalog_field *f = &s->fields[k];
			const char *pname = str_startswith(f->name, "Param-");
			const struct param_def *p = NULL;

			if (!pname)
				continue;
			if (!def) {
				diag_error(
					d, f->file, f->line, 1,
					"Measure %s: %s given, but the measure has no known check",
					s->id, f->name);
				continue;
			}
			for (size_t j = 0; j < ARRAY_SIZE(def->params) && def->params[j].name; j++)
				if (streq(def->params[j].name, pname))
					p = &def->params[j];
			if (!p) {
				diag_error(
					d, f->file, f->line, 1,
					"Measure %s: check %s takes no parameter '%s' (it takes: "
					"%s%s%s)",
					s->id, def->name, pname,
					def->params[0].name ? def->params[0].name : "none",
					def->params[1].name ? " " : "",
					def->params[1].name ? def->params[1].name : "");
				continue;
			}
			check_param(s, f, p, d);
		}
	}
	if (d->oom)
		return -ENOMEM;
	return d->n_errors > before ? -EINVAL : 0;
}

/* ---- the event summary ---- */

static int bump(json_t *summary, int64_t day, const char *counter)
{
	json_t *days = json_object_get(summary, "days"), *b;
	char key[24];

	if (!json_is_object(days)) {
		days = json_object();
		if (jsonw_set(summary, "days", days) < 0)
			return -ENOMEM;
	}
	(void) snprintf(key, sizeof(key), "%" PRId64, day);
	b = json_object_get(days, key);
	if (!json_is_object(b)) {
		b = json_pack("{s:i}", "open_wifi", 0);
		if (jsonw_set(days, key, b) < 0)
			return -ENOMEM;
	}
	return jsonw_set(b, counter,
			 json_integer(json_integer_value(json_object_get(b, counter)) + 1));
}

/* At most max bytes of a JSON string's text, cut on a UTF-8 character boundary ("" for
 * NULL); NULL only on allocation failure. */
static json_t *text_prefix(const char *s, size_t max)
{
	size_t n = s ? strlen(s) : 0;

	if (n > max) {
		n = max;
		while (n > 0 && ((unsigned char) s[n] & 0xC0) == 0x80)
			n--;
	}
	return json_stringn(s ? s : "", n);
}

/* Whether a net.wifi_join's network has no encryption at all. */
static bool join_is_open(const json_t *data)
{
	const char *sec = str_of(GET(data, "security"));

	return tri(GET(data, "open")) == 1 || (sec && (streq(sec, "open") || streq(sec, "none")));
}

/* The VPN interfaces the summary holds as up (from net.vpn_up and net.vpn_down). */
static int vpn_track(json_t *summary, const char *iface, bool up)
{
	json_t *set = json_object_get(summary, "vpn_up");
	size_t i;
	json_t *v;

	if (!json_is_array(set)) {
		set = json_array();
		if (jsonw_set(summary, "vpn_up", set) < 0)
			return -ENOMEM;
	}
	json_array_foreach (set, i, v)
		if (json_is_string(v) && streq(json_string_value(v), iface)) {
			if (!up)
				(void) json_array_remove(set, i);
			return 0;
		}
	if (!up || json_array_size(set) >= VPN_TRACKED)
		return 0;
	return jsonw_append(set, json_string(iface));
}

/* Counts the pending open join (one no VPN followed) on its day, and keeps it as the last
 * one for evidence. */
static int settle_open_join(json_t *summary)
{
	json_t *p = json_object_get(summary, "open_pending");
	int64_t t = json_integer_value(json_object_get(p, "time"));
	int r;

	if (!json_is_object(p))
		return 0;
	r = bump(summary, t / DAY, "open_wifi");
	if (r >= 0)
		r = jsonw_set(summary, "open_last", json_incref(p));
	if (r >= 0)
		r = json_object_del(summary, "open_pending") == 0 ? 0 : -ENOMEM;
	return r;
}

/* One network event, in the order of the batch. */
static int network_event(json_t *summary, const char *type, const json_t *data, int64_t secs)
{
	json_t *pending = json_object_get(summary, "open_pending");
	int64_t since = json_integer_value(json_object_get(pending, "time"));
	const char *iface = str_of(GET(data, "interface"));
	int r, vpn;

	/* an open join that no VPN followed within the grace time counts */
	if (json_is_object(pending) && secs > since + CHECKS_VPN_GRACE &&
	    (r = settle_open_join(summary)) < 0)
		return r;
	if (streq(type, "agent.start")) /* the agent's view of its links starts afresh */
		return jsonw_set(summary, "vpn_up", json_array());
	if ((streq(type, "net.vpn_up") || streq(type, "net.vpn_down")) && iface) {
		r = vpn_track(summary, iface, streq(type, "net.vpn_up"));
		if (r >= 0 && streq(type, "net.vpn_up") &&
		    json_is_object(json_object_get(summary, "open_pending")) && secs >= since)
			r = json_object_del(summary, "open_pending") == 0 ? 0 : -ENOMEM;
		return r;
	}
	if (!streq(type, "net.wifi_join"))
		return 0;
	if (jsonw_set(summary, "wifi_monitored", json_true()) < 0)
		return -ENOMEM;
	/* a new join ends the previous network's time: it went without a VPN */
	if ((r = settle_open_join(summary)) < 0)
		return r;
	if (!join_is_open(data))
		return 0;
	/* the agent says whether a VPN was up (its links); older agents do not, and then the
	 * VPN events seen so far tell */
	vpn = tri(GET(data, "vpn"));
	if (vpn < 0)
		vpn = json_array_size(json_object_get(summary, "vpn_up")) > 0;
	if (vpn)
		return 0;
	return jsonw_set(summary, "open_pending",
			 json_pack("{s:I, s:o}", "time", (json_int_t) secs, "ssid",
				   text_prefix(str_of(GET(data, "ssid")), SSID_KEPT)));
}

int checks_events_summarise(json_t *summary, const json_t *events, int64_t now)
{
	int64_t today = now / DAY, last = -1;
	const json_t *e, *days;
	size_t i;
	int r;

	if (json_is_integer(json_object_get(summary, "last_event")))
		last = json_integer_value(json_object_get(summary, "last_event"));
	json_array_foreach (events, i, e) {
		const json_t *t = GET(e, "time");
		const char *type = str_of(GET(e, "type"));
		int64_t secs, day;

		if (!json_is_integer(t) || !type || json_integer_value(t) < 0)
			continue;
		secs = json_integer_value(t) / 1000;
		/* a clock ahead of ours counts today; older than the window counts nowhere */
		day = MIN(secs / DAY, today);
		if (secs > last)
			last = MIN(secs, now);
		if (day <= today - CHECKS_EVENT_DAYS)
			continue;
		if ((r = network_event(summary, type, GET(e, "data"), MIN(secs, now))) < 0)
			return r;
	}
	if (last >= 0 && jsonw_set(summary, "last_event", json_integer(last)) < 0)
		return -ENOMEM;
	days = json_object_get(summary, "days");
	if (json_is_object(days)) {
		const char *key;
		json_t *v;
		void *tmp;

		json_object_foreach_safe ((json_t *) days, tmp, key, v) {
			int64_t day;

			if (str_to_i64(key, 10, &day) < 0 || day <= today - CHECKS_EVENT_DAYS)
				(void) json_object_del((json_t *) days, key);
		}
	}
	return 0;
}

/* Drops the keys of a day-keyed map older than the summary's reach. */
static void prune_days(json_t *map, int64_t now)
{
	const char *key;
	json_t *v;
	void *tmp;

	json_object_foreach_safe (map, tmp, key, v) {
		int64_t day;

		if (str_to_i64(key, 10, &day) < 0 || day <= now / DAY - CHECKS_EVENT_DAYS)
			(void) json_object_del(map, key);
	}
}

/* Counts rows per day of detection into by_day and keeps the newest CHECKS_CHAIN_RANGES
 * in ranges, each as {kind_key: …, "first_seq", "last_seq", "detected"}. */
static int chain_rows(const json_t *rows, const char *kind_key, json_t *by_day, json_t *ranges,
		      int64_t now)
{
	const json_t *e;
	size_t i;

	json_array_foreach (rows, i, e) {
		const json_t *first = GET(e, "first_seq"), *last = GET(e, "last_seq");
		const json_t *detected = GET(e, "detected");
		const char *kind = str_of(GET(e, kind_key));
		char key[24];
		int64_t day;

		if (i >= CHECKS_CHAIN_ROWS || !json_is_integer(first) || !json_is_integer(last) ||
		    !json_is_integer(detected) || !kind)
			continue;
		day = MIN(json_integer_value(detected), now) / DAY;
		if (day <= now / DAY - CHECKS_EVENT_DAYS)
			continue;
		(void) snprintf(key, sizeof(key), "%" PRId64, day);
		if (jsonw_set(by_day, key,
			      json_integer(json_integer_value(json_object_get(by_day, key)) + 1)) <
		    0)
			return -ENOMEM;
		if (json_array_size(ranges) < CHECKS_CHAIN_RANGES &&
		    jsonw_append(ranges,
				 json_pack("{s:s, s:O, s:O, s:O}", kind_key, kind, "first_seq",
					   first, "last_seq", last, "detected", detected)) < 0)
			return -ENOMEM;
	}
	return 0;
}

int checks_events_chain(json_t *summary, const json_t *gaps, const json_t *breaks, bool truncated,
			int64_t now)
{
	json_t *chain = json_object(), *gap_days = json_object(), *break_days = json_object();
	json_t *gap_list = json_array(), *break_list = json_array();
	int r;

	if (jsonw_set(chain, "gap_days", gap_days) < 0 ||
	    jsonw_set(chain, "break_days", break_days) < 0 ||
	    jsonw_set(chain, "gaps", gap_list) < 0 || jsonw_set(chain, "breaks", break_list) < 0 ||
	    jsonw_set(chain, "truncated", json_boolean(truncated)) < 0) {
		json_decref(chain);
		return -ENOMEM;
	}
	r = chain_rows(gaps, "reason", gap_days, gap_list, now);
	if (r >= 0)
		r = chain_rows(breaks, "kind", break_days, break_list, now);
	if (r < 0) {
		json_decref(chain);
		return r;
	}
	prune_days(gap_days, now);
	prune_days(break_days, now);
	return jsonw_set(summary, "chain", chain);
}
