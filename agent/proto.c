/*
 * The agent's side of protocol v1 (docs/protocol.md): parsers of what the server answers.
 * A server's answer is outside input like any other: every field is checked for type and
 * range, nothing is trusted to be short, and anything off-contract is refused with a
 * message naming the field, so an operator can tell a broken proxy from a broken server.
 * Members the agent does not know are ignored (the server may add some).
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "agent/daemon.h"
#include "lib/limits.h"
#include "lib/mm.h"

bool proto_valid_host_id(const char *s)
{
	size_t n = strlen(s);

	if (n == 0 || n > LIMIT_HOST_ID)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= 'A' && s[i] <= 'Z') ||
		      (s[i] >= '0' && s[i] <= '9') || s[i] == '-'))
			return false;
	return true;
}

bool proto_valid_digest(const char *s)
{
	size_t n = strlen(s);

	if (n != 64)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
			return false;
	return true;
}

static int parse_object(const char *body, size_t len, json_t **ret, struct jsonw_error *err)
{
	json_t *v;
	int r = jsonw_parse(body, len, LIMIT_AGENT_REPLY, &v, err);

	if (r < 0)
		return r;
	if (!json_is_object(v)) {
		json_decref(v);
		return jsonw_fail(err, "the answer is not a JSON object");
	}
	*ret = v;
	return 0;
}

/* An optional interval in seconds: absent gives 0. */
static int get_interval(json_t *o, const char *key, int64_t *ret, struct jsonw_error *err)
{
	int r = jsonw_get_int(o, key, false, 1, (int64_t) 366 * 86400, ret, err);

	if (r == -ENOENT) {
		*ret = 0;
		return 0;
	}
	return r;
}

int proto_parse_checkin_reply(const char *body, size_t len, struct proto_checkin_reply *ret,
			      struct jsonw_error *err)
{
	_cleanup_(json_decrefp) json_t *o = NULL;
	struct proto_checkin_reply c = {0};
	const char *inv = "ok", *base = NULL;
	json_t *commands = NULL;
	int64_t acked = 0;
	int r;

	r = parse_object(body, len, &o, err);
	if (r < 0)
		return r;
	r = jsonw_get_int(o, "server_time", false, 0, INT64_MAX, &c.server_time, err);
	if (r < 0 && r != -ENOENT)
		return r;
	if (get_interval(o, "checkin_interval", &c.checkin_interval, err) < 0 ||
	    get_interval(o, "inventory_interval", &c.inventory_interval, err) < 0)
		return -EBADMSG;
	r = jsonw_get_string(o, "inventory", false, &inv, err);
	if (r < 0 && r != -ENOENT)
		return r;
	if (streq(inv, "ok"))
		c.inventory = PROTO_INVENTORY_OK;
	else if (streq(inv, "delta"))
		c.inventory = PROTO_INVENTORY_DELTA;
	else if (streq(inv, "full"))
		c.inventory = PROTO_INVENTORY_FULL;
	else
		return jsonw_fail(err, "field 'inventory': expected ok, delta or full");
	r = jsonw_get_string(o, "inventory_base", false, &base, err);
	if (r < 0 && r != -ENOENT)
		return r;
	if (r == 0 && *base) {
		if (!proto_valid_digest(base))
			return jsonw_fail(err, "field 'inventory_base': expected a SHA-256 in hex");
		memcpy(c.inventory_base, base, 65);
	}
	r = jsonw_get_int(o, "acked_seq", true, 0, INT64_MAX, &acked, err);
	if (r < 0)
		return r;
	c.acked_seq = (uint64_t) acked;
	r = jsonw_get_array(o, "commands", false, &commands, err);
	if (r < 0 && r != -ENOENT)
		return r;
	c.n_commands = commands ? json_array_size(commands) : 0;
	*ret = c;
	return 0;
}

static int get_pem(json_t *o, const char *key, bool required, char **ret, struct jsonw_error *err)
{
	const char *s;
	int r = jsonw_get_string(o, key, required, &s, err);

	if (r < 0)
		return r;
	if (strlen(s) > LIMIT_PEM || !strstr(s, "-----BEGIN CERTIFICATE-----"))
		return jsonw_fail(err, "field '%s': expected a PEM certificate", key);
	*ret = mm_strdup(s);
	return *ret ? 0 : -ENOMEM;
}

void proto_enroll_reply_done(struct proto_enroll_reply *r)
{
	mm_free(r->host_id);
	mm_free(r->certificate);
	mm_free(r->ca);
	*r = (struct proto_enroll_reply){0};
}

int proto_parse_enroll_reply(const char *body, size_t len, struct proto_enroll_reply *ret,
			     struct jsonw_error *err)
{
	_cleanup_(json_decrefp) json_t *o = NULL;
	struct proto_enroll_reply e = {0};
	const char *id;
	int r;

	r = parse_object(body, len, &o, err);
	if (r < 0)
		return r;
	r = jsonw_get_string(o, "host_id", true, &id, err);
	if (r < 0)
		return r;
	if (!proto_valid_host_id(id))
		return jsonw_fail(err,
				  "field 'host_id': expected letters, digits and '-', at most"
				  " %u",
				  LIMIT_HOST_ID);
	e.host_id = mm_strdup(id);
	if (!e.host_id)
		return -ENOMEM;
	r = get_pem(o, "certificate", true, &e.certificate, err);
	if (r == 0) {
		r = get_pem(o, "ca", false, &e.ca, err);
		if (r == -ENOENT)
			r = 0;
	}
	if (r == 0 && (get_interval(o, "checkin_interval", &e.checkin_interval, err) < 0 ||
		       get_interval(o, "inventory_interval", &e.inventory_interval, err) < 0))
		r = -EBADMSG;
	if (r < 0) {
		proto_enroll_reply_done(&e);
		return r;
	}
	*ret = e;
	return 0;
}

int proto_parse_events_reply(const char *body, size_t len, uint64_t *ret_acked_seq,
			     struct jsonw_error *err)
{
	_cleanup_(json_decrefp) json_t *o = NULL;
	int64_t acked;
	int r;

	r = parse_object(body, len, &o, err);
	if (r < 0)
		return r;
	r = jsonw_get_int(o, "acked_seq", true, 0, INT64_MAX, &acked, err);
	if (r < 0)
		return r;
	*ret_acked_seq = (uint64_t) acked;
	return 0;
}

int proto_parse_inventory_reply(const char *body, size_t len, char ret_digest[65],
				struct jsonw_error *err)
{
	_cleanup_(json_decrefp) json_t *o = NULL;
	const char *d;
	int r;

	r = parse_object(body, len, &o, err);
	if (r < 0)
		return r;
	r = jsonw_get_string(o, "digest", true, &d, err);
	if (r < 0)
		return r;
	if (!proto_valid_digest(d))
		return jsonw_fail(err, "field 'digest': expected a SHA-256 in hex");
	memcpy(ret_digest, d, 65);
	return 0;
}

/* Server text goes into log lines: no control characters (log injection). */
static void defang(char *s)
{
	for (; *s; s++)
		if ((unsigned char) *s < 0x20 || *s == 0x7f)
			*s = '?';
}

void proto_parse_error(const char *body, size_t len, char code[64], char text[256])
{
	_cleanup_(json_decrefp) json_t *o = NULL;
	const char *s;

	code[0] = text[0] = '\0';
	if (!body || parse_object(body, len, &o, NULL) < 0)
		return;
	if (jsonw_get_string(o, "code", false, &s, NULL) == 0)
		(void) snprintf(code, 64, "%s", s);
	if (jsonw_get_string(o, "error", false, &s, NULL) == 0)
		(void) snprintf(text, 256, "%s", s);
	defang(code);
	defang(text);
}
