/*
 * The compliance engine (server/compliance.h, docs/compliance.md).
 *
 * Evaluation is incremental: a trigger for one host loads that host's facts (only the
 * inventory items the checks read), runs every enabled automated measure's check, and
 * hands the complete set of results to store_compliance_apply(), which rewrites only the
 * rows that differ and moves the roll-ups by the same deltas. Nothing ever rescans the
 * fleet except compliance_recompute() (a new catalogue, or an operator's request), which
 * pages through the hosts RECOMPUTE_PAGE at a time, writing each page before reading the
 * next.
 *
 * Manual measures are answered by attestations (organisation-wide, not per host). The
 * newest attestation of a measure is its state; when its date plus its review interval is
 * past, it is overdue (見直し期限切れ) and counts as *unknown*: mamori no longer holds
 * current evidence either way, and unknown scores like not met in the percentage.
 *
 * Percentages: a measure's score is met / (met + not met + unknown) over the hosts it
 * applies to (automated), or 1 for a current "met" attestation and 0 otherwise (manual);
 * not-applicable results and attestations are left out. A category's, role's or the
 * organisation's percentage is the mean of its measures' scores, so a manual measure
 * weighs as much as an automated one however many hosts there are.
 */
#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "lib/buf.h"
#include "lib/catalog_builtin.h"
#include "lib/checks.h"
#include "lib/jsonw.h"
#include "lib/mm.h"
#include "lib/str.h"
#include "server/compliance.h"

#define DAY                     86400
#define RECOMPUTE_PAGE          256
#define RECOMPUTE_WORKERS       2 /* the hosts split by the first hex digit of their ids */
#define EVIDENCE_TEXT_MAX       4096
#define EVIDENCE_TEXT_MAX_BYTES ((size_t) 256 * 1024) /* the store's own limit for one row */
#define LINK_MAX                2048
#define OWNER_MAX               256
#define REVIEW_DAYS_MAX         3650
#define MEASURE_HOSTS_MAX       10000

/* A measure in force (not disabled), in catalogue order. */
struct mref {
	const struct catalog_stanza *s;
	const char *id, *category, *role;
	bool automated;
	unsigned review_days;
};

/* A catalogue with the index the engine reads it through. */
struct ecat {
	struct catalog *cat;
	struct mref *m;
	size_t n;
	struct cref {
		const struct catalog_stanza *s;
	} * cats; /* categories by Order */
	size_t n_cats;
};

struct compliance {
	struct store *st;
	pthread_rwlock_t lock;
	struct ecat *ec;
};

static const struct {
	const char *id, *ja, *en;
} roles[] = {
	{"management", "経営者", "management"},
	{"admin", "システム・セキュリティ管理者", "system and security administrator"},
	{"teleworker", "テレワーク勤務者", "teleworker"},
};

/* A JSON string's text, or "" for anything else. */
static const char *sv(const json_t *v)
{
	const char *s = json_string_value(v);

	return s ? s : "";
}

/* ---- the catalogue ---- */

void compliance_catalog_free(struct catalog *c)
{
	if (!c)
		return;
	catalog_done(c);
	mm_free(c);
}

int compliance_catalog_load(const char *const *files, size_t n, struct catalog **ret,
			    struct diag *d)
{
	struct catalog *c = mm_malloc(sizeof(*c));
	int r;

	if (!c)
		return -ENOMEM;
	catalog_init(c);
	r = catalog_builtin_load(c, files, n, d);
	if (r < 0) {
		compliance_catalog_free(c);
		return r;
	}
	*ret = c;
	return 0;
}

static unsigned uint_field(const struct catalog_stanza *s, const char *name, unsigned def)
{
	const char *v = catalog_get(s, name);
	unsigned n;

	return v && str_to_uint(v, 10, &n) == 0 ? n : def;
}

static void ecat_free(struct ecat *ec)
{
	if (!ec)
		return;
	compliance_catalog_free(ec->cat);
	mm_free(ec->m);
	mm_free(ec->cats);
	mm_free(ec);
}

static struct ecat *ecat_new(struct catalog *cat)
{
	struct ecat *ec = mm_calloc(1, sizeof(*ec));

	if (!ec) {
		compliance_catalog_free(cat);
		return NULL;
	}
	ec->cat = cat;
	ec->m = mm_reallocarray(NULL, cat->n ? cat->n : 1, sizeof(*ec->m));
	ec->cats = mm_reallocarray(NULL, cat->n ? cat->n : 1, sizeof(*ec->cats));
	if (!ec->m || !ec->cats) {
		ecat_free(ec);
		return NULL;
	}
	for (size_t i = 0; i < cat->n; i++) {
		const struct catalog_stanza *s = &cat->stanzas[i];
		const char *kind = catalog_get(s, "Kind");

		if (streq(s->kind, "Category")) {
			size_t j = ec->n_cats++;

			/* insertion by Order: thirteen categories */
			while (j > 0 && uint_field(ec->cats[j - 1].s, "Order", 0) >
						uint_field(s, "Order", 0)) {
				ec->cats[j] = ec->cats[j - 1];
				j--;
			}
			ec->cats[j].s = s;
			continue;
		}
		if (!streq(s->kind, "Measure") || catalog_disabled(s))
			continue;
		ec->m[ec->n++] = (struct mref){
			.s = s,
			.id = s->id,
			.category = catalog_get(s, "Category") ? catalog_get(s, "Category") : "",
			.role = catalog_get(s, "Role") ? catalog_get(s, "Role") : "",
			.automated = kind && streq(kind, "automated"),
			.review_days = uint_field(s, "Review-days", 365),
		};
	}
	return ec;
}

static const struct mref *measure_of(const struct ecat *ec, const char *id)
{
	for (size_t i = 0; i < ec->n; i++)
		if (streq(ec->m[i].id, id))
			return &ec->m[i];
	return NULL;
}

int compliance_new(struct store *st, struct catalog *cat, struct compliance **ret)
{
	struct compliance *e = mm_calloc(1, sizeof(*e));

	if (!e) {
		compliance_catalog_free(cat);
		return -ENOMEM;
	}
	e->st = st;
	e->ec = ecat_new(cat);
	if (!e->ec) {
		mm_free(e);
		return -ENOMEM;
	}
	(void) pthread_rwlock_init(&e->lock, NULL);
	*ret = e;
	return 0;
}

struct compliance *compliance_free(struct compliance *e)
{
	if (!e)
		return NULL;
	ecat_free(e->ec);
	(void) pthread_rwlock_destroy(&e->lock);
	mm_free(e);
	return NULL;
}

int compliance_set_catalog(struct compliance *e, struct catalog *cat, int64_t now)
{
	struct ecat *ec = ecat_new(cat), *old;

	if (!ec)
		return -ENOMEM;
	(void) pthread_rwlock_wrlock(&e->lock);
	old = e->ec;
	e->ec = ec;
	(void) pthread_rwlock_unlock(&e->lock);
	ecat_free(old);
	return compliance_recompute(e, now, NULL, NULL);
}

int compliance_with_catalog(struct compliance *e,
			    int (*fn)(const struct catalog *c, void *userdata, json_t **ret),
			    void *userdata, json_t **ret)
{
	int r;

	(void) pthread_rwlock_rdlock(&e->lock);
	r = fn(e->ec->cat, userdata, ret);
	(void) pthread_rwlock_unlock(&e->lock);
	return r;
}

/* ---- evaluation ---- */

/* One host's results, ready for store_compliance_apply(). */
struct host_eval {
	char host_id[STORE_ID_MAX];
	struct store_compliance_row *rows;
	char **texts; /* the rows' evidence, owned */
	size_t n;
};

static void host_eval_done(struct host_eval *h)
{
	for (size_t i = 0; h->texts && i < h->n; i++)
		mm_free(h->texts[i]);
	mm_free(h->texts);
	mm_free(h->rows);
	*h = (struct host_eval){{0}};
}

/*
 * The evidence as stored: json_dumps(ev, JSON_COMPACT)'s text, written by
 * jsonw_dump_compact(), which gives the same text at a fraction of the cost (a full
 * recompute serialises some 240,000 of them), or by jansson for what it leaves to it.
 * NULL when memory runs out.
 */
static char *evidence_text(const json_t *ev)
{
	struct buf b;
	int r;

	buf_init(&b, EVIDENCE_TEXT_MAX_BYTES);
	r = jsonw_dump_compact(ev, &b);
	if (r == -EINVAL || r == -E2BIG) {
		buf_done(&b);
		return json_dumps(ev, JSON_COMPACT);
	}
	if (r < 0) {
		buf_done(&b);
		return NULL;
	}
	return buf_take(&b, NULL);
}

static int evaluate(const struct ecat *ec, const struct store_compliance_host *h, int64_t now,
		    struct host_eval *out)
{
	struct checks_host facts = {
		.last_inventory = h->last_inventory,
		.owner = h->owner ? h->owner : "",
		.policy_version = h->policy_version,
		.vuln_matches = -1, /* no vulnerability matching yet: unknown, never "none" */
		.events = h->events,
	};
	struct checks_input in = {.doc = h->doc, .host = &facts, .now = now};

	*out = (struct host_eval){{0}};
	memcpy(out->host_id, h->host_id, sizeof(out->host_id));
	out->rows = mm_reallocarray(NULL, ec->n ? ec->n : 1, sizeof(*out->rows));
	out->texts = mm_reallocarray(NULL, ec->n ? ec->n : 1, sizeof(*out->texts));
	if (!out->rows || !out->texts) {
		host_eval_done(out);
		return -ENOMEM;
	}
	for (size_t i = 0; i < ec->n; i++) {
		const struct mref *m = &ec->m[i];
		enum checks_status st;
		json_t *ev = NULL;
		char *text;
		int r;

		if (!m->automated)
			continue;
		r = checks_run(m->s, &in, &st, &ev);
		if (r == -ENOENT)
			continue; /* validated catalogues name known checks only */
		if (r < 0) {
			host_eval_done(out);
			return r;
		}
		/* the check builds its evidence in a fixed order: no need to sort the keys */
		text = evidence_text(ev);
		json_decref(ev);
		if (!text) {
			host_eval_done(out);
			return -ENOMEM;
		}
		out->texts[out->n] = text;
		out->rows[out->n++] = (struct store_compliance_row){
			.measure = m->id,
			.category = m->category,
			.role = m->role,
			.status = checks_status_name(st),
			.evidence = text,
		};
	}
	return 0;
}

static int apply(struct compliance *e, struct host_eval *hs, size_t n, int64_t now,
		 size_t *ret_changed)
{
	struct store_compliance_result *res = mm_reallocarray(NULL, n ? n : 1, sizeof(*res));
	int r;

	if (!res)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++)
		res[i] = (struct store_compliance_result){
			.host_id = hs[i].host_id, .rows = hs[i].rows, .n = hs[i].n};
	r = store_compliance_apply(e->st, res, n, now, ret_changed);
	mm_free(res);
	return r;
}

int compliance_host_changed(struct compliance *e, const char *host_id, int64_t now,
			    size_t *ret_changed)
{
	struct store_compliance_host h = {0};
	struct host_eval he = {{0}};
	size_t changed = 0;
	int r;

	(void) pthread_rwlock_rdlock(&e->lock);
	r = store_compliance_host_get(e->st, host_id, checks_inventory_items, &h);
	if (r >= 0)
		r = evaluate(e->ec, &h, now, &he);
	if (r >= 0)
		r = apply(e, &he, 1, now, &changed);
	(void) pthread_rwlock_unlock(&e->lock);
	host_eval_done(&he);
	store_compliance_host_done(&h);
	if (r == -ENOENT)
		return 0;
	if (r >= 0 && ret_changed)
		*ret_changed = changed;
	return r;
}

int compliance_events(struct compliance *e, const char *host_id, const json_t *events, int64_t now)
{
	int r = store_compliance_events(e->st, host_id, events, now);

	if (r == -ENOENT)
		return 0;
	if (r < 0)
		return r;
	return compliance_host_changed(e, host_id, now, NULL);
}

/* One worker of a recompute: the hosts whose ids sort in [from, to) ("" to: the end). */
struct page {
	struct compliance *e;
	const struct ecat *ec;
	int64_t now;
	char from[STORE_ID_MAX];
	const char *to;
	struct host_eval *hs;
	size_t n;
	bool past_end;
	size_t hosts, changed;
	int r;
};

static int page_add(const struct store_compliance_host *h, void *userdata)
{
	struct page *p = userdata;

	if (*p->to && strcmp(h->host_id, p->to) >= 0) {
		p->past_end = true;
		return -ECANCELED; /* the next worker's hosts */
	}
	if (p->n >= RECOMPUTE_PAGE)
		return -EIO; /* the store gave more than asked */
	return evaluate(p->ec, h, p->now, &p->hs[p->n++]) < 0 ? (p->n--, -ENOMEM) : 0;
}

static void *recompute_range(void *arg)
{
	struct page *p = arg;
	char after[STORE_ID_MAX];
	int r = 0;

	memcpy(after, p->from, sizeof(after));
	while (!p->past_end) {
		size_t count = 0, ch = 0;

		p->n = 0;
		r = store_compliance_scan(p->e->st, checks_inventory_items, after, RECOMPUTE_PAGE,
					  page_add, p, &count);
		if (r == -ECANCELED && p->past_end)
			r = 0;
		if (r >= 0 && p->n)
			r = apply(p->e, p->hs, p->n, p->now, &ch);
		if (r >= 0 && p->n)
			memcpy(after, p->hs[p->n - 1].host_id, sizeof(after));
		for (size_t i = 0; i < p->n; i++)
			host_eval_done(&p->hs[i]);
		if (r < 0)
			break;
		p->hosts += p->n;
		p->changed += ch;
		if (count < RECOMPUTE_PAGE)
			break;
	}
	p->r = r;
	return NULL;
}

/*
 * Host ids are random UUIDs, so splitting the id space by its first hex digit gives each
 * worker about as many hosts. Each worker reads and evaluates on its own (reads run in
 * parallel on the store's reader connections; writes take turns on the writer).
 */
int compliance_recompute(struct compliance *e, int64_t now, size_t *ret_hosts, size_t *ret_changed)
{
	/* ids are lower-case hex: "7~" sorts after every "7…" id and before every "8…" one */
	static const char *const from[RECOMPUTE_WORKERS] = {"", "7~"};
	static const char *const to[RECOMPUTE_WORKERS] = {"8", ""};
	struct page pages[RECOMPUTE_WORKERS] = {0};
	pthread_t th[RECOMPUTE_WORKERS];
	bool started[RECOMPUTE_WORKERS] = {false};
	size_t hosts = 0, changed = 0;
	int r = 0;

	(void) pthread_rwlock_rdlock(&e->lock);
	for (size_t w = 0; w < RECOMPUTE_WORKERS; w++) {
		struct page *p = &pages[w];

		*p = (struct page){.e = e, .ec = e->ec, .now = now, .to = to[w]};
		(void) snprintf(p->from, sizeof(p->from), "%s", from[w]);
		p->hs = mm_calloc(RECOMPUTE_PAGE, sizeof(*p->hs));
		if (!p->hs) {
			r = -ENOMEM;
			break;
		}
	}
	for (size_t w = 0; r >= 0 && w < RECOMPUTE_WORKERS; w++)
		started[w] = w > 0 && pthread_create(&th[w], NULL, recompute_range, &pages[w]) == 0;
	if (r >= 0)
		(void) recompute_range(&pages[0]);
	for (size_t w = 0; w < RECOMPUTE_WORKERS; w++) {
		if (started[w])
			(void) pthread_join(th[w], NULL);
		else if (r >= 0 && w > 0)
			(void) recompute_range(&pages[w]); /* no thread: do it here */
		if (r >= 0 && pages[w].r < 0)
			r = pages[w].r;
		hosts += pages[w].hosts;
		changed += pages[w].changed;
		mm_free(pages[w].hs);
	}
	(void) pthread_rwlock_unlock(&e->lock);
	if (r >= 0) {
		if (ret_hosts)
			*ret_hosts = hosts;
		if (ret_changed)
			*ret_changed = changed;
	}
	return r;
}

/* ---- presenting the catalogue ---- */

/* A text field in one language (falling back to the other), or {ja, en} for lang NULL. */
static json_t *text_json(const struct catalog_stanza *s, const char *base, const char *lang)
{
	char ja[48], en[48];
	const char *vja, *ven;

	(void) snprintf(ja, sizeof(ja), "%s-ja", base);
	(void) snprintf(en, sizeof(en), "%s-en", base);
	vja = catalog_get(s, ja);
	ven = catalog_get(s, en);
	if (!lang)
		return json_pack("{s:s?, s:s?}", "ja", vja, "en", ven);
	if (streq(lang, "ja"))
		return vja ? json_string(vja) : ven ? json_string(ven) : json_null();
	return ven ? json_string(ven) : vja ? json_string(vja) : json_null();
}

static json_t *params_json(const struct catalog_stanza *s)
{
	json_t *p = json_object();

	for (size_t i = 0; p && i < s->n_fields; i++) {
		const char *name = str_startswith(s->fields[i].name, "Param-");

		if (name && jsonw_set(p, name, json_string(s->fields[i].value)) < 0) {
			json_decref(p);
			return NULL;
		}
	}
	return p;
}

static json_t *measure_json(const struct mref *m, const char *lang)
{
	const struct catalog_stanza *s = m->s;
	char source[512];

	(void) snprintf(source, sizeof(source), "%s:%u", s->file, s->line);
	return json_pack("{s:s, s:s?, s:s?, s:s, s:s, s:s?, s:s, s:s?, s:o, s:o?, s:o, s:o, s:o, "
			 "s:s}",
			 "id", m->id, "guideline_id", catalog_get(s, "Guideline-id"),
			 "guideline_note", catalog_get(s, "Guideline-note"), "category",
			 m->category, "role", m->role, "level", catalog_get(s, "Level"), "kind",
			 m->automated ? "automated" : "manual", "check", catalog_get(s, "Check"),
			 "params", params_json(s), "review_days",
			 m->automated ? NULL : json_integer(m->review_days), "title",
			 text_json(s, "Title", lang), "detail", text_json(s, "Detail", lang), "fix",
			 text_json(s, "Fix", lang), "source", source);
}

static json_t *category_json(const struct catalog_stanza *s, const char *lang)
{
	return json_pack("{s:s, s:s?, s:s?, s:s?, s:o, s:I}", "id", s->id, "letter",
			 catalog_get(s, "Letter"), "status", catalog_get(s, "Status"),
			 "status_note", catalog_get(s, "Status-note"), "name",
			 text_json(s, "Name", lang), "order",
			 (json_int_t) uint_field(s, "Order", 0));
}

static json_t *role_json(size_t i, const char *lang)
{
	if (!lang)
		return json_pack("{s:s, s:{s:s, s:s}}", "id", roles[i].id, "name", "ja",
				 roles[i].ja, "en", roles[i].en);
	return json_pack("{s:s, s:s}", "id", roles[i].id, "name",
			 streq(lang, "ja") ? roles[i].ja : roles[i].en);
}

struct catalog_args {
	const struct ecat *ec;
	const char *lang;
};

int compliance_catalog_json(struct compliance *e, const char *lang, json_t **ret)
{
	_cleanup_(json_decrefp) json_t *out = NULL;
	json_t *cats, *ms, *rs;
	int r = 0;

	(void) pthread_rwlock_rdlock(&e->lock);
	out = json_pack("{s:[], s:[], s:[], s:s}", "categories", "roles", "measures", "note",
			"The texts are mamori's own words. A measure cites a guideline ID "
			"(guideline_id) only where that ID was confirmed in the guideline.");
	if (!out)
		r = -ENOMEM;
	cats = json_object_get(out, "categories");
	rs = json_object_get(out, "roles");
	ms = json_object_get(out, "measures");
	for (size_t i = 0; r >= 0 && i < e->ec->n_cats; i++)
		r = jsonw_append(cats, category_json(e->ec->cats[i].s, lang));
	for (size_t i = 0; r >= 0 && i < ARRAY_SIZE(roles); i++)
		r = jsonw_append(rs, role_json(i, lang));
	for (size_t i = 0; r >= 0 && i < e->ec->n; i++)
		r = jsonw_append(ms, measure_json(&e->ec->m[i], lang));
	(void) pthread_rwlock_unlock(&e->lock);
	if (r < 0)
		return r;
	*ret = TAKE_PTR(out);
	return 0;
}

/* ---- scores ---- */

struct counts {
	int64_t v[CHECKS_STATUS_MAX];
};

static void counts_read(const json_t *obj, struct counts *c)
{
	*c = (struct counts){{0}};
	for (int k = 0; k < CHECKS_STATUS_MAX; k++)
		c->v[k] = json_integer_value(
			json_object_get(obj, checks_status_name((enum checks_status) k)));
}

static json_t *counts_json(const struct counts *c)
{
	return json_pack("{s:I, s:I, s:I, s:I}", "met", (json_int_t) c->v[CHECKS_MET], "not_met",
			 (json_int_t) c->v[CHECKS_NOT_MET], "unknown",
			 (json_int_t) c->v[CHECKS_UNKNOWN], "not_applicable",
			 (json_int_t) c->v[CHECKS_NOT_APPLICABLE]);
}

/* The state of a manual measure from its newest attestation. */
struct att_state {
	enum checks_status status; /* unknown when none, or overdue */
	bool present, overdue;
	int64_t review_due;
	const json_t *att;
};

static void manual_state(const json_t *att, int64_t now, struct att_state *s)
{
	enum checks_status st;

	*s = (struct att_state){.status = CHECKS_UNKNOWN, .att = att, .review_due = -1};
	if (!att)
		return;
	s->present = true;
	s->review_due = json_integer_value(json_object_get(att, "date")) +
			json_integer_value(json_object_get(att, "review_days")) * DAY;
	if (checks_status_from_name(json_string_value(json_object_get(att, "status")), &st) < 0)
		return;
	s->overdue = s->review_due < now;
	s->status = s->overdue ? CHECKS_UNKNOWN : st;
}

static json_t *state_json(const struct att_state *s)
{
	return json_pack("{s:s, s:b, s:b, s:o, s:O?}", "status", checks_status_name(s->status),
			 "attested", s->present, "overdue", s->overdue, "review_due",
			 s->review_due >= 0 ? json_integer(s->review_due) : json_null(),
			 "attestation", s->att);
}

/* The newest attestation of each measure, as of `at` (attestations dated or recorded
 * later are ignored: the history's view of a past day). Borrowed from `list`. */
static const json_t *newest(const json_t *list, const char *measure, int64_t at)
{
	const json_t *a;
	size_t i;

	/* the store lists them by measure, newest date first */
	json_array_foreach (json_object_get(list, "attestations"), i, a)
		if (streq(sv(json_object_get(a, "measure")), measure) &&
		    json_integer_value(json_object_get(a, "date")) <= at &&
		    json_integer_value(json_object_get(a, "created")) <= at)
			return a;
	return NULL;
}

struct score {
	double sum;
	size_t n;
	struct counts checks;
	int64_t att[CHECKS_STATUS_MAX];
	int64_t overdue, measures;
};

static void score_auto(struct score *sc, const struct counts *c)
{
	int64_t den = c->v[CHECKS_MET] + c->v[CHECKS_NOT_MET] + c->v[CHECKS_UNKNOWN];

	for (int k = 0; k < CHECKS_STATUS_MAX; k++)
		sc->checks.v[k] += c->v[k];
	sc->measures++;
	if (den > 0) {
		sc->sum += (double) c->v[CHECKS_MET] / (double) den;
		sc->n++;
	}
}

static void score_manual(struct score *sc, const struct att_state *s)
{
	sc->att[s->status]++;
	sc->overdue += s->overdue;
	sc->measures++;
	if (s->status == CHECKS_NOT_APPLICABLE)
		return;
	sc->sum += s->status == CHECKS_MET ? 1.0 : 0.0;
	sc->n++;
}

static json_t *percent_json(const struct score *sc)
{
	return sc->n ? json_real(round(sc->sum / (double) sc->n * 1000.0) / 10.0) : json_null();
}

static json_t *score_json(const struct score *sc)
{
	return json_pack(
		"{s:o, s:{s:I, s:I, s:I, s:I, s:I}, s:I, s:o}", "checks", counts_json(&sc->checks),
		"attestations", "met", (json_int_t) sc->att[CHECKS_MET], "not_met",
		(json_int_t) sc->att[CHECKS_NOT_MET], "unknown",
		(json_int_t) sc->att[CHECKS_UNKNOWN], "not_applicable",
		(json_int_t) sc->att[CHECKS_NOT_APPLICABLE], "overdue", (json_int_t) sc->overdue,
		"measures", (json_int_t) sc->measures, "percent", percent_json(sc));
}

/* Adds measure m to sc, from the roll-ups' measure counts or its attestation. */
static void score_measure(struct score *sc, const struct mref *m, const json_t *by_measure,
			  const json_t *atts, int64_t at)
{
	if (m->automated) {
		struct counts c;

		counts_read(json_object_get(by_measure, m->id), &c);
		score_auto(sc, &c);
	} else {
		struct att_state s;

		manual_state(newest(atts, m->id, at), at, &s);
		score_manual(sc, &s);
	}
}

/* The organisation, each category and each role scored from roll-ups `ru` and attestations
 * `atts` as of `at`, into out ("organisation", "categories", "roles"); with `measures`,
 * every measure's line as well. */
static int scorecard(const struct ecat *ec, const json_t *ru, const json_t *atts, int64_t at,
		     bool measures, json_t *out)
{
	const json_t *by_measure = json_object_get(ru, "measure");
	struct score org = {0};
	json_t *cats = json_array(), *rs = json_array(), *ms = NULL;

	if (jsonw_set(out, "categories", cats) < 0 || jsonw_set(out, "roles", rs) < 0)
		return -ENOMEM;
	if (measures) {
		ms = json_array();
		if (jsonw_set(out, "measures", ms) < 0)
			return -ENOMEM;
	}
	for (size_t i = 0; i < ec->n; i++)
		score_measure(&org, &ec->m[i], by_measure, atts, at);
	if (jsonw_set(out, "organisation", score_json(&org)) < 0)
		return -ENOMEM;
	for (size_t c = 0; c < ec->n_cats; c++) {
		struct score sc = {0};
		json_t *j = category_json(ec->cats[c].s, NULL);

		for (size_t i = 0; i < ec->n; i++)
			if (streq(ec->m[i].category, ec->cats[c].s->id))
				score_measure(&sc, &ec->m[i], by_measure, atts, at);
		if (jsonw_append(cats, j) < 0 || json_object_update_new(j, score_json(&sc)) < 0)
			return -ENOMEM;
	}
	for (size_t k = 0; k < ARRAY_SIZE(roles); k++) {
		struct score sc = {0};
		json_t *j = role_json(k, NULL);

		for (size_t i = 0; i < ec->n; i++)
			if (streq(ec->m[i].role, roles[k].id))
				score_measure(&sc, &ec->m[i], by_measure, atts, at);
		if (jsonw_append(rs, j) < 0 || json_object_update_new(j, score_json(&sc)) < 0)
			return -ENOMEM;
	}
	for (size_t i = 0; measures && i < ec->n; i++) {
		const struct mref *m = &ec->m[i];
		struct score sc = {0};
		json_t *j =
			json_pack("{s:s, s:s, s:s, s:s, s:o}", "id", m->id, "category", m->category,
				  "role", m->role, "kind", m->automated ? "automated" : "manual",
				  "title", text_json(m->s, "Title", NULL));

		score_measure(&sc, m, by_measure, atts, at);
		if (jsonw_append(ms, j) < 0 || jsonw_set(j, "percent", percent_json(&sc)) < 0 ||
		    (m->automated
			     ? jsonw_set(j, "counts", counts_json(&sc.checks))
			     : jsonw_set(j, "attestations",
					 json_pack("{s:I, s:I, s:I, s:I, s:I}", "met",
						   (json_int_t) sc.att[CHECKS_MET], "not_met",
						   (json_int_t) sc.att[CHECKS_NOT_MET], "unknown",
						   (json_int_t) sc.att[CHECKS_UNKNOWN],
						   "not_applicable",
						   (json_int_t) sc.att[CHECKS_NOT_APPLICABLE],
						   "overdue", (json_int_t) sc.overdue))) < 0)
			return -ENOMEM;
	}
	return 0;
}

int compliance_summary(struct compliance *e, int64_t now, json_t **ret)
{
	_cleanup_(json_decrefp) json_t *ru = NULL, *atts = NULL, *out = NULL;
	int r;

	r = store_compliance_rollups(e->st, &ru);
	if (r >= 0)
		r = store_attestation_list(e->st, NULL, &atts);
	if (r < 0)
		return r;
	out = json_pack("{s:I, s:O}", "generated", (json_int_t) now, "hosts",
			json_object_get(ru, "hosts"));
	if (!out)
		return -ENOMEM;
	(void) pthread_rwlock_rdlock(&e->lock);
	r = scorecard(e->ec, ru, atts, now, true, out);
	(void) pthread_rwlock_unlock(&e->lock);
	if (r < 0)
		return r;
	*ret = TAKE_PTR(out);
	return 0;
}

int compliance_category(struct compliance *e, const char *id, int64_t now, json_t **ret)
{
	_cleanup_(json_decrefp) json_t *ru = NULL, *atts = NULL, *card = NULL, *out = NULL;
	const json_t *c, *m;
	size_t i;
	int r;

	r = store_compliance_rollups(e->st, &ru);
	if (r >= 0)
		r = store_attestation_list(e->st, NULL, &atts);
	if (r < 0)
		return r;
	card = json_object();
	if (!card)
		return -ENOMEM;
	(void) pthread_rwlock_rdlock(&e->lock);
	r = scorecard(e->ec, ru, atts, now, true, card);
	(void) pthread_rwlock_unlock(&e->lock);
	if (r < 0)
		return r;
	json_array_foreach (json_object_get(card, "categories"), i, c)
		if (streq(sv(json_object_get(c, "id")), id))
			out = json_deep_copy(c);
	if (!out)
		return -ENOENT;
	if (jsonw_set(out, "measures", json_array()) < 0)
		return -ENOMEM;
	json_array_foreach (json_object_get(card, "measures"), i, m)
		if (streq(sv(json_object_get(m, "category")), id) &&
		    jsonw_append(json_object_get(out, "measures"), json_deep_copy(m)) < 0)
			return -ENOMEM;
	*ret = TAKE_PTR(out);
	return 0;
}

int compliance_measure(struct compliance *e, const char *id, const char *status, size_t limit,
		       size_t offset, int64_t now, json_t **ret)
{
	_cleanup_(json_decrefp) json_t *ru = NULL, *atts = NULL, *hosts = NULL, *out = NULL;
	const struct mref *m;
	enum checks_status st;
	struct score sc = {0};
	bool automated;
	int r;

	if (status && checks_status_from_name(status, &st) < 0)
		return -EINVAL;
	r = store_compliance_rollups(e->st, &ru);
	if (r >= 0)
		r = store_attestation_list(e->st, id, &atts);
	if (r < 0)
		return r;
	(void) pthread_rwlock_rdlock(&e->lock);
	m = measure_of(e->ec, id);
	if (m) {
		score_measure(&sc, m, json_object_get(ru, "measure"), atts, now);
		out = json_pack("{s:o, s:o}", "measure", measure_json(m, NULL), "percent",
				percent_json(&sc));
		automated = m->automated;
	}
	(void) pthread_rwlock_unlock(&e->lock);
	if (!m)
		return -ENOENT;
	if (!out)
		return -ENOMEM;
	if (!automated) {
		struct att_state s;

		manual_state(newest(atts, id, now), now, &s);
		if (jsonw_set(out, "state", state_json(&s)) < 0 ||
		    jsonw_set(out, "attestations",
			      json_incref(json_object_get(atts, "attestations"))) < 0)
			return -ENOMEM;
		*ret = TAKE_PTR(out);
		return 0;
	}
	{
		struct store_compliance_query q = {
			.measure = id,
			.status = status ? status : "not_met",
			.limit = limit ? MIN(limit, (size_t) MEASURE_HOSTS_MAX) : 100,
			.offset = offset,
		};

		r = store_compliance_results(e->st, &q, &hosts);
		if (r < 0)
			return r;
		if (jsonw_set(out, "counts", counts_json(&sc.checks)) < 0 ||
		    jsonw_set(out, "status", json_string(q.status)) < 0 ||
		    jsonw_set(out, "hosts", json_incref(json_object_get(hosts, "results"))) < 0 ||
		    jsonw_set(out, "total", json_incref(json_object_get(hosts, "total"))) < 0)
			return -ENOMEM;
	}
	*ret = TAKE_PTR(out);
	return 0;
}

int compliance_host(struct compliance *e, const char *host_id, int64_t now, json_t **ret)
{
	struct store_compliance_query q = {.host_id = host_id, .limit = 10000};
	_cleanup_(json_decrefp) json_t *host = NULL, *res = NULL, *atts = NULL, *out = NULL;
	struct counts c = {{0}};
	json_t *list, *attested, *row;
	size_t i;
	int r;

	r = store_host_get(e->st, host_id, &host);
	if (r >= 0)
		r = store_compliance_results(e->st, &q, &res);
	if (r >= 0)
		r = store_attestation_list(e->st, NULL, &atts);
	if (r < 0)
		return r;
	out = json_pack("{s:s, s:O?, s:O?, s:b, s:[], s:[]}", "host_id", host_id, "hostname",
			json_object_get(host, "hostname"), "owner", json_object_get(host, "owner"),
			"revoked", json_is_true(json_object_get(host, "revoked")), "results",
			"attested");
	if (!out)
		return -ENOMEM;
	list = json_object_get(out, "results");
	attested = json_object_get(out, "attested");
	(void) pthread_rwlock_rdlock(&e->lock);
	json_array_foreach (json_object_get(res, "results"), i, row) {
		const struct mref *m = measure_of(e->ec, sv(json_object_get(row, "measure")));
		enum checks_status st;
		json_t *j;

		if (checks_status_from_name(json_string_value(json_object_get(row, "status")),
					    &st) == 0)
			c.v[st]++;
		j = json_pack(
			"{s:O, s:O, s:O, s:O, s:O, s:O, s:o}", "measure",
			json_object_get(row, "measure"), "category",
			json_object_get(row, "category"), "role", json_object_get(row, "role"),
			"status", json_object_get(row, "status"), "evidence",
			json_object_get(row, "evidence"), "since", json_object_get(row, "since"),
			"title", m ? text_json(m->s, "Title", NULL) : json_null());
		if (m && j && streq(sv(json_object_get(row, "status")), "not_met"))
			r = jsonw_set(j, "fix", text_json(m->s, "Fix", NULL));
		if (r >= 0)
			r = jsonw_append(list, j);
		if (r < 0)
			break;
	}
	for (size_t k = 0; r >= 0 && k < e->ec->n; k++) {
		const struct mref *m = &e->ec->m[k];
		struct att_state s;
		json_t *j;

		if (m->automated)
			continue;
		manual_state(newest(atts, m->id, now), now, &s);
		j = state_json(&s);
		r = jsonw_append(attested, j);
		if (r >= 0)
			r = jsonw_set(j, "measure", json_string(m->id));
		if (r >= 0)
			r = jsonw_set(j, "role", json_string(m->role));
		if (r >= 0)
			r = jsonw_set(j, "title", text_json(m->s, "Title", NULL));
	}
	(void) pthread_rwlock_unlock(&e->lock);
	if (r < 0 || jsonw_set(out, "counts", counts_json(&c)) < 0)
		return -ENOMEM;
	*ret = TAKE_PTR(out);
	return 0;
}

int compliance_history(struct compliance *e, unsigned days, int64_t now, json_t **ret)
{
	_cleanup_(json_decrefp) json_t *h = NULL, *atts = NULL, *out = NULL;
	int64_t today = now / DAY;
	const json_t *d;
	json_t *list;
	size_t i;
	int r;

	if (days < 1 || days > 366)
		return -EINVAL;
	r = store_compliance_history(e->st, today - (int64_t) days + 1, &h);
	if (r >= 0)
		r = store_attestation_list(e->st, NULL, &atts);
	if (r < 0)
		return r;
	out = json_pack("{s:i, s:[], s:O}", "days", days, "snapshots", "changes",
			json_object_get(h, "changes"));
	if (!out)
		return -ENOMEM;
	list = json_object_get(out, "snapshots");
	(void) pthread_rwlock_rdlock(&e->lock);
	json_array_foreach (json_object_get(h, "days"), i, d) {
		int64_t day = json_integer_value(json_object_get(d, "day"));
		time_t t = (time_t) (day * DAY);
		json_t *card = json_object(), *j;
		char date[16];
		struct tm tm;

		(void) gmtime_r(&t, &tm);
		(void) strftime(date, sizeof(date), "%Y-%m-%d", &tm);
		/* the day as it ended: attestations as of its last second */
		r = card ? scorecard(e->ec, d, atts, day * DAY + DAY - 1, false, card) : -ENOMEM;
		j = r >= 0 ? json_pack("{s:I, s:s, s:O, s:O, s:{}}", "day", (json_int_t) day,
				       "date", date, "organisation",
				       json_object_get(card, "organisation"), "counts",
				       json_object_get(d, "organisation"), "categories")
			   : NULL;
		if (j) {
			const json_t *c;
			size_t k;

			json_array_foreach (json_object_get(card, "categories"), k, c)
				if (jsonw_set(json_object_get(j, "categories"),
					      json_string_value(json_object_get(c, "id")),
					      json_incref(json_object_get(c, "percent"))) < 0)
					r = -ENOMEM;
		}
		json_decref(card);
		if (r >= 0)
			r = jsonw_append(list, j);
		if (r < 0)
			break;
	}
	(void) pthread_rwlock_unlock(&e->lock);
	if (r < 0)
		return r;
	*ret = TAKE_PTR(out);
	return 0;
}

/* ---- attestations ---- */

static int fail(char *errbuf, size_t errlen, const char *fmt, ...) _printf_(3, 4);
static int fail(char *errbuf, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	(void) vsnprintf(errbuf, errlen, fmt, ap);
	va_end(ap);
	return -EINVAL;
}

static bool clean_text(const char *s, size_t max)
{
	return s && strlen(s) <= max && str_is_clean_utf8(s, strlen(s));
}

/* "YYYY-MM-DD" (midnight UTC) or Unix seconds. */
static int parse_date(const json_t *v, int64_t *ret)
{
	const char *s = json_string_value(v), *end;
	struct tm tm = {0};

	if (json_is_integer(v) && json_integer_value(v) >= 0) {
		*ret = json_integer_value(v);
		return 0;
	}
	if (!s || strlen(s) != 10)
		return -EINVAL;
	end = strptime(s, "%Y-%m-%d", &tm);
	if (!end || *end)
		return -EINVAL;
	*ret = (int64_t) timegm(&tm);
	return 0;
}

int compliance_attest(struct compliance *e, const json_t *body, const char *actor, int64_t now,
		      json_t **ret, char *errbuf, size_t errlen)
{
	struct store_attestation a = {.created = now, .created_by = actor, .date = now};
	struct jsonw_error err = {{0}};
	_cleanup_(json_decrefp) json_t *list = NULL;
	const json_t *date;
	const struct mref *m;
	char id[STORE_ID_MAX];
	int64_t review = 0;
	json_t *b = (json_t *) body;
	const json_t *att;
	size_t i;
	int r;

	static const char *const fields[] = {"measure", "status", "evidence",   "link",
					     "owner",   "date",   "review_days"};
	const char *key;
	const json_t *val;

	if (!json_is_object(body))
		return fail(errbuf, errlen, "the body must be a JSON object");
	json_object_foreach ((json_t *) body, key, val) {
		bool known = false;

		for (size_t k = 0; k < ARRAY_SIZE(fields); k++)
			known = known || streq(key, fields[k]);
		if (!known)
			return fail(errbuf, errlen, "unknown field '%.64s'", key);
	}
	if (jsonw_get_string(b, "measure", true, &a.measure, &err) < 0 ||
	    jsonw_get_string(b, "status", true, &a.status, &err) < 0 ||
	    jsonw_get_string(b, "evidence", true, &a.evidence, &err) < 0 ||
	    jsonw_get_string(b, "owner", true, &a.owner, &err) < 0 ||
	    jsonw_get_string(b, "link", false, &a.link, &err) == -EBADMSG ||
	    jsonw_get_int(b, "review_days", false, 1, REVIEW_DAYS_MAX, &review, &err) == -EBADMSG)
		return fail(errbuf, errlen, "%s", err.text);
	if (!streq(a.status, "met") && !streq(a.status, "not_met") &&
	    !streq(a.status, "not_applicable"))
		return fail(errbuf, errlen,
			    "field 'status': must be met, not_met or not_applicable, not '%.32s'",
			    a.status);
	if (!*a.evidence || !clean_text(a.evidence, EVIDENCE_TEXT_MAX))
		return fail(errbuf, errlen, "field 'evidence': 1 to %d bytes of text",
			    EVIDENCE_TEXT_MAX);
	if (!*a.owner || !clean_text(a.owner, OWNER_MAX))
		return fail(errbuf, errlen, "field 'owner': 1 to %d bytes of text", OWNER_MAX);
	if (a.link && (!clean_text(a.link, LINK_MAX) || strchr(a.link, ' ') ||
		       (!str_startswith(a.link, "https://") && !str_startswith(a.link, "http://"))))
		return fail(errbuf, errlen, "field 'link': an http(s) URL of at most %d bytes",
			    LINK_MAX);
	date = json_object_get(body, "date");
	if (date && !json_is_null(date) && parse_date(date, &a.date) < 0)
		return fail(errbuf, errlen, "field 'date': expected YYYY-MM-DD or Unix seconds");
	if (a.date > now + DAY)
		return fail(errbuf, errlen, "field 'date': in the future");

	(void) pthread_rwlock_rdlock(&e->lock);
	m = measure_of(e->ec, a.measure);
	if (m && !m->automated)
		a.review_days = review ? (unsigned) review : m->review_days;
	(void) pthread_rwlock_unlock(&e->lock);
	if (!m)
		return fail(errbuf, errlen, "field 'measure': no measure '%.64s' in the catalogue",
			    a.measure);
	if (!a.review_days)
		return fail(errbuf, errlen,
			    "field 'measure': %.64s is automated: mamori checks it on every host; "
			    "attestations are for manual measures",
			    a.measure);
	r = store_attestation_add(e->st, &a, id);
	if (r < 0)
		return r;
	r = store_attestation_list(e->st, a.measure, &list);
	if (r < 0)
		return r;
	json_array_foreach (json_object_get(list, "attestations"), i, att)
		if (streq(sv(json_object_get(att, "id")), id)) {
			struct att_state s;

			manual_state(att, now, &s);
			*ret = json_deep_copy(att);
			if (!*ret || jsonw_set(*ret, "state", state_json(&s)) < 0) {
				json_decref(*ret);
				return -ENOMEM;
			}
			return 0;
		}
	return -EIO;
}

int compliance_attestations(struct compliance *e, const char *measure, int64_t now, json_t **ret)
{
	_cleanup_(json_decrefp) json_t *atts = NULL, *out = NULL;
	json_t *ms;
	int r;

	r = store_attestation_list(e->st, measure, &atts);
	if (r < 0)
		return r;
	out = json_pack("{s:[], s:O}", "measures", "attestations",
			json_object_get(atts, "attestations"));
	if (!out)
		return -ENOMEM;
	ms = json_object_get(out, "measures");
	(void) pthread_rwlock_rdlock(&e->lock);
	for (size_t i = 0; r >= 0 && i < e->ec->n; i++) {
		const struct mref *m = &e->ec->m[i];
		struct att_state s;
		json_t *j;

		if (m->automated || (measure && !streq(measure, m->id)))
			continue;
		manual_state(newest(atts, m->id, now), now, &s);
		j = state_json(&s);
		r = jsonw_append(ms, j);
		if (r >= 0)
			r = json_object_update_new(
				    j, json_pack("{s:s, s:s, s:s, s:I, s:o}", "measure", m->id,
						 "category", m->category, "role", m->role,
						 "review_days", (json_int_t) m->review_days,
						 "title", text_json(m->s, "Title", NULL))) < 0
				    ? -ENOMEM
				    : 0;
	}
	(void) pthread_rwlock_unlock(&e->lock);
	if (r < 0)
		return r;
	*ret = TAKE_PTR(out);
	return 0;
}
