/*
 * What every store backend does the same outside SQL: random ids, the state of an
 * enrolment token, the audit trail's record hash, LIKE patterns, the key range of an event
 * search, and the validation and serialisation of inventory deltas before a transaction
 * starts (event batches: store_chain.c).
 *
 * Keeping these in one place is what makes the backends behave identically: a token is
 * "used" by the same rule, an event's extra members are kept the same way, a delta entry
 * is refused for the same reasons, and the audit chain written by one backend verifies in
 * the other (store_copy moves it between them unchanged).
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <gnutls/crypto.h>

#include "lib/invdiff.h"
#include "lib/jsonw.h"
#include "lib/limits.h"
#include "lib/log.h"
#include "lib/mm.h"
#include "lib/str.h"
#include "server/store_backend.h"

int store_prep_random(void *p, size_t n)
{
	if (gnutls_rnd(GNUTLS_RND_RANDOM, p, n) < 0) {
		log_error("(M4013) store: the random generator failed");
		return -EIO;
	}
	return 0;
}

int store_prep_uuid(char ret[STORE_ID_MAX])
{
	uint8_t b[16];
	char hex[33];
	int r = store_prep_random(b, sizeof(b));

	if (r < 0)
		return r;
	b[6] = (uint8_t) ((b[6] & 0x0f) | 0x40);
	b[8] = (uint8_t) ((b[8] & 0x3f) | 0x80);
	str_hex(b, sizeof(b), hex);
	(void) snprintf(ret, STORE_ID_MAX, "%.8s-%.4s-%.4s-%.4s-%.12s", hex, hex + 8, hex + 12,
			hex + 16, hex + 20);
	return 0;
}

int store_prep_token_id(const char *prefix, char ret[STORE_ID_MAX])
{
	uint8_t b[8];
	char hex[17];
	int r = store_prep_random(b, sizeof(b));

	if (r < 0)
		return r;
	str_hex(b, sizeof(b), hex);
	(void) snprintf(ret, STORE_ID_MAX, "%s%s", prefix, hex);
	return 0;
}

enum store_token_verdict store_prep_token_verdict(bool revoked, int64_t uses, int64_t max_uses,
						  int64_t expires, int64_t now)
{
	if (revoked)
		return STORE_TOKEN_REVOKED;
	if (uses >= max_uses)
		return STORE_TOKEN_USED;
	if (now >= expires)
		return STORE_TOKEN_EXPIRED;
	return STORE_TOKEN_OK;
}

const char *const store_prep_token_states[] = {
	[STORE_TOKEN_OK] = "active",       [STORE_TOKEN_UNKNOWN] = "unknown",
	[STORE_TOKEN_EXPIRED] = "expired", [STORE_TOKEN_USED] = "used",
	[STORE_TOKEN_REVOKED] = "revoked",
};

const char store_prep_audit_genesis[STORE_DIGEST_HEX] =
	"0000000000000000000000000000000000000000000000000000000000000000";

int store_prep_audit_hash(const char *prev, int64_t id, int64_t time, const char *actor,
			  const char *action, const char *target, json_t *details,
			  const char *remote, char ret[STORE_DIGEST_HEX])
{
	_cleanup_(json_decrefp) json_t *rec = NULL;
	_cleanup_(freep) char *text = NULL;
	gnutls_hash_hd_t h;
	uint8_t md[32];

	rec = json_pack("{sIsIssssss?sOss?}", "id", (json_int_t) id, "time", (json_int_t) time,
			"actor", actor, "action", action, "target", target, "details",
			details ? details : json_null(), "remote", remote);
	if (!rec)
		return -ENOMEM;
	text = jsonw_dump(rec);
	if (!text)
		return -ENOMEM;
	if (gnutls_hash_init(&h, GNUTLS_DIG_SHA256) < 0)
		return -ENOMEM;
	if (gnutls_hash(h, prev, strlen(prev)) < 0 || gnutls_hash(h, text, strlen(text)) < 0) {
		gnutls_hash_deinit(h, NULL);
		return -EIO;
	}
	gnutls_hash_deinit(h, md);
	str_hex(md, sizeof(md), ret);
	return 0;
}

char *store_prep_like_pattern(const char *text)
{
	size_t n = strlen(text);
	char *p = mm_reallocarray(NULL, 2, n + 2); /* worst case every byte escaped, 2 '%' */
	size_t j = 0;

	if (!p)
		return NULL;
	p[j++] = '%';
	for (size_t i = 0; i < n; i++) {
		if (text[i] == '%' || text[i] == '_' || text[i] == '\\')
			p[j++] = '\\';
		p[j++] = text[i];
	}
	p[j++] = '%';
	p[j] = '\0';
	return p;
}

/* ---- event searches ---- */

void store_prep_event_range(const struct store_event_query *q, bool paged, int64_t *ret_lo,
			    int64_t *ret_hi)
{
	int64_t lo = store_event_key(q->from_ms), hi = INT64_MAX;

	if (q->to_ms > 0)
		hi = q->to_ms > STORE_EVENT_KEY_TIME_MAX ? INT64_MAX
							 : store_event_key(q->to_ms) - 1;
	if (paged && q->cursor > 0) {
		if (q->ascending)
			lo = MAX(lo, q->cursor < INT64_MAX ? q->cursor + 1 : INT64_MAX);
		else
			hi = MIN(hi, q->cursor - 1);
	}
	*ret_lo = lo;
	*ret_hi = hi;
}

bool store_prep_text_indexed(const char *text)
{
	size_t n = 0;

	for (; *text; text++)
		n += ((unsigned char) *text & 0xc0) != 0x80;
	return n >= STORE_PREP_TRIGRAM;
}

/* ---- inventory deltas ---- */

const char *const store_item_ops[] = {"removed", "changed", "added"};

static void entry_done(struct store_item_entry *e)
{
	mm_free(e->key);
	mm_free(e->old_text);
	mm_free(e->new_text);
}

static int entry_parse(const char *section, enum store_item_op op, json_t *v,
		       struct store_item_entry *e)
{
	json_t *list = json_object_get(v, "list");

	e->section = section;
	e->list = "";
	e->op = op;
	if (!json_is_object(v))
		return -EBADMSG;
	if (list) {
		json_t *key = json_object_get(v, "key");

		e->list = json_string_value(list);
		if (!e->list || !*e->list || !invdiff_is_keyed_list(section, e->list) ||
		    !json_is_array(key))
			return -EBADMSG;
		e->key = jsonw_dump(key);
	} else {
		e->list = "";
		e->key = mm_strdup("");
	}
	if (!e->key)
		return -ENOMEM;
	e->old_v = op == STORE_ITEM_ADDED ? NULL : json_object_get(v, "old");
	e->new_v = json_object_get(v, op == STORE_ITEM_ADDED ? "value" : "new");
	if ((op != STORE_ITEM_ADDED && !e->old_v) || (op != STORE_ITEM_REMOVED && !e->new_v))
		return -EBADMSG;
	if (!*e->list && ((e->old_v && !json_is_object(e->old_v)) ||
			  (op != STORE_ITEM_REMOVED && !json_is_object(e->new_v))))
		return -EBADMSG;
	if (e->old_v && !(e->old_text = jsonw_dump(e->old_v)))
		return -ENOMEM;
	if (op != STORE_ITEM_REMOVED && !(e->new_text = jsonw_dump(e->new_v)))
		return -ENOMEM;
	return 0;
}

void store_prep_delta_done(struct store_item_entries *es)
{
	for (size_t i = 0; i < es->n; i++)
		entry_done(&es->v[i]);
	mm_free(es->v);
	es->v = NULL;
	es->n = 0;
}

int store_prep_delta(const json_t *delta, struct store_item_entries *es)
{
	const char *section;
	size_t total = 0;
	json_t *sd;

	es->v = NULL;
	es->n = 0;
	if (!json_is_object(delta))
		return -EINVAL;
	json_object_foreach ((json_t *) delta, section, sd) {
		if (!json_is_object(sd))
			return -EBADMSG;
		for (enum store_item_op op = STORE_ITEM_REMOVED; op <= STORE_ITEM_ADDED; op++) {
			json_t *entries = json_object_get(sd, store_item_ops[op]);

			if (entries && !json_is_array(entries))
				return -EBADMSG;
			total += json_array_size(entries);
		}
	}
	es->v = mm_calloc(total ? total : 1, sizeof(*es->v));
	if (!es->v)
		return -ENOMEM;
	json_object_foreach ((json_t *) delta, section, sd)
		for (enum store_item_op op = STORE_ITEM_REMOVED; op <= STORE_ITEM_ADDED; op++) {
			json_t *v;
			size_t i;

			json_array_foreach (json_object_get(sd, store_item_ops[op]), i, v) {
				int r = entry_parse(section, op, v, &es->v[es->n++]);

				if (r < 0)
					return r;
			}
		}
	return 0;
}

/* ---- the scorecard ---- */

const char *const store_rollup_kinds[STORE_ROLLUP_KINDS] = {"organisation", "category", "role",
							    "measure"};

void store_prep_rollup_done(struct store_rollup_deltas *ds)
{
	for (size_t i = 0; i < ds->n; i++)
		mm_free(ds->v[i].id);
	mm_free(ds->v);
	*ds = (struct store_rollup_deltas){0};
}

static int rollup_one(struct store_rollup_deltas *ds, int kind, const char *id, int status, int by)
{
	struct store_rollup_delta *grown;

	for (size_t i = 0; i < ds->n; i++)
		if (ds->v[i].kind == kind && streq(ds->v[i].id, id)) {
			ds->v[i].d[status] += by;
			return 0;
		}
	grown = mm_reallocarray(ds->v, ds->n + 1, sizeof(*grown));
	if (!grown)
		return -ENOMEM;
	ds->v = grown;
	ds->v[ds->n] = (struct store_rollup_delta){.kind = kind, .id = mm_strdup(id)};
	if (!ds->v[ds->n].id)
		return -ENOMEM;
	ds->v[ds->n++].d[status] = by;
	return 0;
}

int store_prep_rollup_move(struct store_rollup_deltas *ds, const char *measure,
			   const char *category, const char *role, int status, int by)
{
	const char *ids[STORE_ROLLUP_KINDS] = {"", category, role, measure};
	int r = 0;

	if (status < 0 || status >= CHECKS_STATUS_MAX)
		return -EINVAL;
	for (int k = 0; r >= 0 && k < STORE_ROLLUP_KINDS; k++)
		r = rollup_one(ds, k, ids[k], status, by);
	return r;
}

bool store_prep_rollup_zero(const struct store_rollup_delta *d)
{
	for (int k = 0; k < CHECKS_STATUS_MAX; k++)
		if (d->d[k])
			return false;
	return true;
}

bool store_prep_compliance_row_ok(const struct store_compliance_row *w)
{
	enum checks_status st;

	return w->measure && *w->measure && w->category && w->role && w->evidence &&
	       checks_status_from_name(w->status, &st) == 0 &&
	       strlen(w->evidence) < STORE_EVIDENCE_MAX;
}

bool store_prep_attestation_ok(const struct store_attestation *a)
{
	return a && a->measure && *a->measure && a->status &&
	       (streq(a->status, "met") || streq(a->status, "not_met") ||
		streq(a->status, "not_applicable")) &&
	       a->evidence && a->owner && *a->owner && a->created_by && a->review_days >= 1;
}

bool store_prep_compliance_result_ok(const struct store_compliance_result *h)
{
	if (!h->host_id || (h->n && !h->rows))
		return false;
	for (size_t i = 0; i < h->n; i++) {
		if (!store_prep_compliance_row_ok(&h->rows[i]))
			return false;
		/* a measure twice would leave the roll-ups counting the first one forever */
		for (size_t k = 0; k < i; k++)
			if (streq(h->rows[k].measure, h->rows[i].measure))
				return false;
	}
	return true;
}

int store_prep_add_item_value(json_t *doc, const char *section, const char *list, json_t *value)
{
	json_t *sec = json_object_get(doc, section), *arr;

	if (!sec) {
		sec = json_object();
		if (jsonw_set(doc, section, sec) < 0) {
			json_decref(value);
			return -ENOMEM;
		}
	}
	if (!*list) {
		int r = !json_is_object(value)               ? -EIO
			: json_object_update(sec, value) < 0 ? -ENOMEM
							     : 0;

		json_decref(value);
		return r;
	}
	arr = json_object_get(sec, list);
	if (!json_is_array(arr)) {
		arr = json_array();
		if (jsonw_set(sec, list, arr) < 0) {
			json_decref(value);
			return -ENOMEM;
		}
	}
	return jsonw_append(arr, value);
}
