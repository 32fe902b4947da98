/*
 * Copying a whole store into another, of any backend (mamorictl store migrate): the
 * canonical table descriptions every backend's bulk access speaks (store_backend.h), and
 * store_copy() over them.
 *
 * The copy reads the source in one snapshot and writes the target in one transaction, table
 * by table in reference order, CHUNK rows at a time, so memory stays bounded by a chunk
 * whatever the store's size. While reading, it counts each table's rows and hashes every
 * host's rows per table (SHA-256 over the canonical JSON of each row, in the canonical
 * order, which is byte-wise in both backends). Before committing, it reads the target back
 * inside the same transaction and computes the same counts and digests: any difference
 * rolls the whole copy back. What is compared is what the store API reads — the same rows
 * in the same columns — so a host whose digest matches lists the same inventory, history,
 * software and events on both sides.
 */
#include <errno.h>
#include <string.h>

#include <gnutls/crypto.h>

#include "lib/jsonw.h"
#include "lib/log.h"
#include "lib/mm.h"
#include "lib/str.h"
#include "server/store_backend.h"

#define CHUNK 1000

static const char *const api_tokens_cols[] = {
	"id", "hash", "name", "role", "created", "expires", "revoked", "last_used", NULL,
};
static const char *const enroll_tokens_cols[] = {
	"id",       "hash", "comment", "group_name", "created", "expires",
	"max_uses", "uses", "revoked", "created_by", NULL,
};
static const char *const ca_serials_cols[] = {"serial", "host_id", "issued", NULL};
static const char *const hosts_cols[] = {
	"id",
	"hostname",
	"machine_id",
	"os",
	"agent_version",
	"group_name",
	"facts",
	"enrolled",
	"enroll_token",
	"last_seen",
	"last_remote",
	"last_state",
	"revoked_at",
	"deleted",
	"cert_serial",
	"cert_pem",
	"inventory_digest",
	"inventory_time",
	"serial_number",
	"chassis",
	"max_seq",
	"owner",
	NULL,
};
static const char *const token_uses_cols[] = {
	"host_id", "id", "token_id", "time", "remote", NULL,
};
static const char *const items_cols[] = {
	"host_id", "section", "list", "key", "value", "changed", NULL,
};
static const char *const changes_cols[] = {
	"host_id", "id", "time", "section", "list", "key", "op", "old", "new", NULL,
};
static const char *const software_cols[] = {
	"host_id", "item_key", "manager",        "name", "arch",
	"version", "source",   "source_version", NULL,
};
/* the event chain's fields and flags travel with the events, and the evidence with them, so
 * a copy shows the same verdicts; keys and insertion positions are the target's own */
static const char *const events_cols[] = {
	"host_id", "seq",      "time_ms", "mono_ms", "type",  "data",
	"extra",   "received", "prev",    "hash",    "chain", NULL,
};
static const char *const gaps_cols[] = {
	"host_id",  "first_seq", "last_seq", "reason", "report_seq",
	"run_prev", "run_hash",  "detected", NULL,
};
static const char *const evidence_cols[] = {
	"host_id", "id", "kind", "first_seq", "last_seq", "detected", "detail", NULL,
};
static const char *const policies_cols[] = {
	"version", "scope", "rules", "tags", "rule_count", "comment", "created", "created_by", NULL,
};
static const char *const devices_cols[] = {
	"serial", "vendor",  "product", "owner",      "note",
	"tags",   "created", "updated", "updated_by", NULL,
};
static const char *const device_tags_cols[] = {"serial", "tag", NULL};
static const char *const tag_revisions_cols[] = {"tag", "rev", NULL};
static const char *const grants_cols[] = {
	"id",      "serial",     "host_id", "user_name",  "reason", "created",
	"expires", "created_by", "revoked", "revoked_by", NULL,
};
static const char *const collection_profiles_cols[] = {
	"version", "scope", "profile", "name", "comment", "created", "created_by", NULL,
};
static const char *const audit_cols[] = {
	"id", "time", "actor", "action", "target", "details", "remote", "prev_hash", "hash", NULL,
};
static const char *const compliance_facts_cols[] = {"host_id", "events", NULL};
static const char *const compliance_results_cols[] = {
	"host_id", "measure", "category", "role", "status", "evidence", "since", NULL,
};
static const char *const compliance_changes_cols[] = {
	"host_id", "id", "measure", "time", "old_status", "new_status", NULL,
};
static const char *const compliance_rollup_cols[] = {
	"kind", "id", "met", "not_met", "unknown", "not_applicable", NULL,
};
static const char *const compliance_daily_cols[] = {
	"day", "kind", "id", "met", "not_met", "unknown", "not_applicable", NULL,
};
static const char *const attestations_cols[] = {
	"id",   "measure",     "status",  "evidence",   "link", "owner",
	"date", "review_days", "created", "created_by", NULL,
};

const struct store_table_desc store_tables[STORE_T_COUNT] = {
	[STORE_T_API_TOKENS] = {"api_tokens", "thttiiii", api_tokens_cols, false},
	[STORE_T_ENROLL_TOKENS] = {"enroll_tokens", "thttiiiiit", enroll_tokens_cols, false},
	[STORE_T_CA_SERIALS] = {"ca_serials", "iti", ca_serials_cols, false},
	[STORE_T_HOSTS] = {"hosts", "tttttttitittiiittittit", hosts_cols, true},
	[STORE_T_TOKEN_USES] = {"token_uses", "titit", token_uses_cols, true},
	[STORE_T_INVENTORY_ITEMS] = {"inventory_items", "ttttti", items_cols, true},
	[STORE_T_INVENTORY_CHANGES] = {"inventory_changes", "tiitttttt", changes_cols, true},
	[STORE_T_SOFTWARE] = {"software", "tttttttt", software_cols, true},
	[STORE_T_EVENTS] = {"events", "tiiitttitti", events_cols, true},
	[STORE_T_EVENT_GAPS] = {"event_gaps", "tiititti", gaps_cols, true},
	[STORE_T_CHAIN_EVIDENCE] = {"chain_evidence", "titiiit", evidence_cols, true},
	[STORE_T_AUDIT] = {"audit", "iittttttt", audit_cols, false},
	[STORE_T_COMPLIANCE_FACTS] = {"compliance_facts", "tt", compliance_facts_cols, true},
	[STORE_T_COMPLIANCE_RESULTS] = {"compliance_results", "tttttti", compliance_results_cols,
					true},
	[STORE_T_COMPLIANCE_CHANGES] = {"compliance_changes", "tititt", compliance_changes_cols,
					true},
	[STORE_T_COMPLIANCE_ROLLUP] = {"compliance_rollup", "ttiiii", compliance_rollup_cols,
				       false},
	[STORE_T_COMPLIANCE_DAILY] = {"compliance_daily", "ittiiii", compliance_daily_cols, false},
	[STORE_T_ATTESTATIONS] = {"attestations", "ttttttiiit", attestations_cols, false},
	[STORE_T_POLICIES] = {"policies", "itttitit", policies_cols, false},
	[STORE_T_DEVICES] = {"devices", "tiitttiit", devices_cols, false},
	[STORE_T_DEVICE_TAGS] = {"device_tags", "tt", device_tags_cols, false},
	[STORE_T_TAG_REVISIONS] = {"tag_revisions", "ti", tag_revisions_cols, false},
	[STORE_T_GRANTS] = {"grants", "tttttiitit", grants_cols, false},
	[STORE_T_COLLECTION_PROFILES] = {"collection_profiles", "ittttit", collection_profiles_cols,
					 false},
};

/* What one side of the copy saw: rows per table, and per host a digest per table. */
struct tally {
	size_t rows[STORE_T_COUNT];
	json_t *hosts; /* {host_id: {table: hex digest}} */
	/* the host whose rows are being hashed in the current table */
	char host[STORE_ID_MAX];
	gnutls_hash_hd_t h;
	bool hashing;
	int table;
};

static int tally_flush(struct tally *ty)
{
	uint8_t md[32];
	char hex[STORE_DIGEST_HEX];
	json_t *per;

	if (!ty->hashing)
		return 0;
	gnutls_hash_deinit(ty->h, md);
	ty->hashing = false;
	str_hex(md, sizeof(md), hex);
	per = json_object_get(ty->hosts, ty->host);
	if (!per) {
		per = json_object();
		if (jsonw_set(ty->hosts, ty->host, per) < 0)
			return -ENOMEM;
	}
	return jsonw_set(per, store_tables[ty->table].name, json_string(hex));
}

static void tally_done(struct tally *ty)
{
	if (ty->hashing)
		gnutls_hash_deinit(ty->h, NULL);
	ty->hashing = false;
	json_decref(ty->hosts);
	ty->hosts = NULL;
}

/* Counts a row and, for a per-host table, adds it to its host's digest. */
static int tally_row(struct tally *ty, json_t *row)
{
	_cleanup_(freep) char *text = NULL;
	const char *host;

	ty->rows[ty->table]++;
	if (!store_tables[ty->table].per_host)
		return 0;
	host = json_string_value(json_array_get(row, 0));
	if (!host || strlen(host) >= sizeof(ty->host))
		return -EINVAL;
	if (!ty->hashing || !streq(host, ty->host)) {
		int r = tally_flush(ty);

		if (r < 0)
			return r;
		if (gnutls_hash_init(&ty->h, GNUTLS_DIG_SHA256) < 0)
			return -ENOMEM;
		ty->hashing = true;
		memcpy(ty->host, host, strlen(host) + 1);
	}
	text = json_dumps(row, JSON_COMPACT);
	if (!text)
		return -ENOMEM;
	/* the newline keeps rows apart: no two row sequences hash alike */
	if (gnutls_hash(ty->h, text, strlen(text)) < 0 || gnutls_hash(ty->h, "\n", 1) < 0)
		return -EIO;
	return 0;
}

struct copier {
	struct store *to;
	void *session; /* the target's */
	json_t *chunk;
	int table;
	struct tally tally;
};

static int flush_chunk(struct copier *cp)
{
	int r;

	if (json_array_size(cp->chunk) == 0)
		return 0;
	r = cp->to->ops->bulk_write(cp->to, cp->session, cp->table, cp->chunk);
	if (r < 0)
		return r;
	return json_array_clear(cp->chunk) < 0 ? -ENOMEM : 0;
}

static int copy_row(json_t *row, void *userdata)
{
	struct copier *cp = userdata;
	int r = tally_row(&cp->tally, row);

	if (r < 0)
		return r;
	if (json_array_append(cp->chunk, row) < 0)
		return -ENOMEM;
	return json_array_size(cp->chunk) >= CHUNK ? flush_chunk(cp) : 0;
}

static int count_row(json_t *row, void *userdata)
{
	return tally_row(userdata, row);
}

/* Reads every table of st in session into ty (used on the target after writing). */
static int tally_store(struct store *st, void *session, struct tally *ty)
{
	ty->hosts = json_object();
	if (!ty->hosts)
		return -ENOMEM;
	for (int t = 0; t < STORE_T_COUNT; t++) {
		int r;

		ty->table = t;
		r = st->ops->bulk_read(st, session, t, count_row, ty);
		if (r >= 0)
			r = tally_flush(ty);
		if (r < 0)
			return r;
	}
	return 0;
}

static int check_empty(struct store *to, void *session, bool *ret_empty)
{
	struct tally ty = {.hosts = NULL};
	int r = tally_store(to, session, &ty);

	if (r >= 0) {
		*ret_empty = true;
		for (int t = 0; t < STORE_T_COUNT; t++)
			if (ty.rows[t])
				*ret_empty = false;
	}
	tally_done(&ty);
	return r;
}

/* Compares what was read with what was written; logs the first difference. */
static int compare(const struct tally *src, const struct tally *dst)
{
	const char *host;
	json_t *v;

	for (int t = 0; t < STORE_T_COUNT; t++)
		if (src->rows[t] != dst->rows[t]) {
			log_error("(M4030) store copy: table %s: %zu rows read, %zu in the target",
				  store_tables[t].name, src->rows[t], dst->rows[t]);
			return -EIO;
		}
	json_object_foreach (src->hosts, host, v)
		if (!json_equal(v, json_object_get(dst->hosts, host))) {
			log_error("(M4030) store copy: host %s differs in the target", host);
			return -EIO;
		}
	if (json_object_size(src->hosts) != json_object_size(dst->hosts)) {
		log_error("(M4030) store copy: the target holds rows of other hosts");
		return -EIO;
	}
	return 0;
}

/* A digest per host over its per-table digests, for the report. */
static json_t *host_digests(json_t *hosts)
{
	json_t *out = json_object(), *per;
	const char *host;

	if (!out)
		return NULL;
	json_object_foreach (hosts, host, per) {
		_cleanup_(freep) char *text = jsonw_dump(per);
		uint8_t md[32];
		char hex[STORE_DIGEST_HEX];

		if (!text || gnutls_hash_fast(GNUTLS_DIG_SHA256, text, strlen(text), md) < 0) {
			json_decref(out);
			return NULL;
		}
		str_hex(md, sizeof(md), hex);
		if (jsonw_set(out, host, json_string(hex)) < 0) {
			json_decref(out);
			return NULL;
		}
	}
	return out;
}

static json_t *report(const struct tally *ty)
{
	_cleanup_(json_decrefp) json_t *tables = json_object(), *hosts = host_digests(ty->hosts);

	if (!tables || !hosts)
		return NULL;
	for (int t = 0; t < STORE_T_COUNT; t++)
		if (jsonw_set(tables, store_tables[t].name,
			      json_integer((json_int_t) ty->rows[t])) < 0)
			return NULL;
	return json_pack("{sOsO}", "tables", tables, "hosts", hosts);
}

static int copy(struct store *from, void *src, struct store *to, void *dst, bool force,
		json_t **ret_report)
{
	struct copier cp = {.to = to, .session = dst};
	struct tally check = {.hosts = NULL};
	bool empty = false;
	int r;

	r = check_empty(to, dst, &empty);
	if (r < 0)
		return r;
	if (!empty && !force)
		return -ENOTEMPTY;
	if (!empty) {
		r = to->ops->bulk_clear(to, dst);
		if (r < 0)
			return r;
	}
	cp.chunk = json_array();
	cp.tally.hosts = json_object();
	if (!cp.chunk || !cp.tally.hosts) {
		r = -ENOMEM;
		goto out;
	}
	for (int t = 0; t < STORE_T_COUNT; t++) {
		cp.table = t;
		cp.tally.table = t;
		r = from->ops->bulk_read(from, src, t, copy_row, &cp);
		if (r >= 0)
			r = flush_chunk(&cp);
		if (r >= 0)
			r = tally_flush(&cp.tally);
		if (r < 0)
			goto out;
	}
	r = tally_store(to, dst, &check);
	if (r >= 0)
		r = compare(&cp.tally, &check);
	if (r >= 0 && ret_report) {
		*ret_report = report(&cp.tally);
		if (!*ret_report)
			r = -ENOMEM;
	}
out:
	json_decref(cp.chunk);
	tally_done(&cp.tally);
	tally_done(&check);
	return r;
}

int store_copy(struct store *from, struct store *to, bool force, json_t **ret_report)
{
	json_t *rep = NULL;
	void *src = NULL, *dst = NULL;
	int r;

	if (!from || !to || from == to)
		return -EINVAL;
	r = from->ops->bulk_begin(from, false, &src);
	if (r < 0)
		return r;
	r = to->ops->bulk_begin(to, true, &dst);
	if (r < 0) {
		(void) !from->ops->bulk_end(from, src, r);
		return r;
	}
	r = copy(from, src, to, dst, force, ret_report ? &rep : NULL);
	r = to->ops->bulk_end(to, dst, r);
	(void) !from->ops->bulk_end(from, src, 0);
	if (r < 0) {
		json_decref(rep);
		return r;
	}
	if (ret_report)
		*ret_report = rep;
	return 0;
}
