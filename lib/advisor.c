/*
 * The telework-method advisor (lib/advisor.h). Everything is read from the catalogue on
 * each call, so an organisation's override (other grades, another question, other points)
 * takes effect with the catalogue that carries it. The catalogue is assumed validated
 * (catalog_validate: Answer-adds are METHOD=N, grades AXIS=S…D); anything else is skipped
 * rather than trusted. Limits: at most MAX_METHODS methods are ranked.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/advisor.h"
#include "lib/jsonw.h"
#include "lib/mm.h"
#include "lib/str.h"

#define MAX_METHODS 64

static const char note_ja[] =
	"質問と採点は mamori 独自の設計です。ガイドラインのフローチャートと同じく三つの目的から"
	"始めますが、その分岐は mamori が作成したものです。";
static const char note_en[] =
	"The questions and points are mamori's own design. Like the guideline's flowchart they "
	"start from three goals, but the branches are mamori's.";

static json_t *texts(const struct catalog_stanza *s, const char *base)
{
	char ja[64], en[64];
	const char *vja, *ven;

	(void) snprintf(ja, sizeof(ja), "%s-ja", base);
	(void) snprintf(en, sizeof(en), "%s-en", base);
	vja = catalog_get(s, ja);
	ven = catalog_get(s, en);
	return json_pack("{s:s?, s:s?}", "ja", vja, "en", ven);
}

static unsigned order_of(const struct catalog_stanza *s)
{
	const char *v = catalog_get(s, "Order");
	unsigned n;

	return v && str_to_uint(v, 10, &n) == 0 ? n : 0;
}

/* A stanza in a sorted list (a struct, so arrays of them are arrays of aggregates). */
struct sref {
	const struct catalog_stanza *s;
};

/* The stanzas of a kind, sorted by Order then id, into a new array. */
static int sorted(const struct catalog *c, const char *kind, struct sref **ret, size_t *ret_n)
{
	struct sref *v = mm_reallocarray(NULL, c->n ? c->n : 1, sizeof(*v));
	size_t n = 0;

	if (!v)
		return -ENOMEM;
	for (size_t i = 0; i < c->n; i++)
		if (streq(c->stanzas[i].kind, kind))
			v[n++].s = &c->stanzas[i];
	/* insertion sort: a handful of stanzas */
	for (size_t i = 1; i < n; i++)
		for (size_t j = i; j > 0; j--) {
			unsigned a = order_of(v[j - 1].s), b = order_of(v[j].s);
			struct sref t;

			if (a < b || (a == b && strcmp(v[j - 1].s->id, v[j].s->id) <= 0))
				break;
			t = v[j];
			v[j] = v[j - 1];
			v[j - 1] = t;
		}
	*ret = v;
	*ret_n = n;
	return 0;
}

/* One answer of a question: its fields from "Answer" up to the next "Answer". */
struct answer {
	const char *id, *ja, *en, *adds;
};

/* The k-th answer of question q; false when there is none. */
static bool answer_at(const struct catalog_stanza *q, size_t k, struct answer *ret)
{
	size_t seen = 0;

	*ret = (struct answer){0};
	for (size_t i = 0; i < q->n_fields; i++) {
		const struct catalog_field *f = &q->fields[i];

		if (streq(f->name, "Answer")) {
			if (ret->id)
				return true;
			if (seen++ == k)
				ret->id = f->value;
			continue;
		}
		if (!ret->id)
			continue;
		if (streq(f->name, "Answer-ja"))
			ret->ja = f->value;
		else if (streq(f->name, "Answer-en"))
			ret->en = f->value;
		else if (streq(f->name, "Answer-adds"))
			ret->adds = f->value;
	}
	return ret->id != NULL;
}

int advisor_questions(const struct catalog *c, json_t **ret)
{
	_cleanup_(freep) struct sref *qs = NULL;
	_cleanup_(json_decrefp) json_t *out = NULL;
	json_t *list;
	size_t n;

	if (sorted(c, "Question", &qs, &n) < 0)
		return -ENOMEM;
	out = json_pack("{s:{s:s, s:s}, s:[]}", "note", "ja", note_ja, "en", note_en, "questions");
	if (!out)
		return -ENOMEM;
	list = json_object_get(out, "questions");
	for (size_t i = 0; i < n; i++) {
		json_t *answers = json_array(), *q;
		struct answer a;

		q = json_pack("{s:s, s:I, s:o, s:o}", "id", qs[i].s->id, "order",
			      (json_int_t) order_of(qs[i].s), "text", texts(qs[i].s, "Text"),
			      "answers", answers);
		if (jsonw_append(list, q) < 0)
			return -ENOMEM;
		for (size_t k = 0; answer_at(qs[i].s, k, &a); k++)
			if (jsonw_append(answers, json_pack("{s:s, s:{s:s?, s:s?}}", "id", a.id,
							    "text", "ja", a.ja, "en", a.en)) < 0)
				return -ENOMEM;
	}
	*ret = TAKE_PTR(out);
	return 0;
}

/* The points an answer's Answer-adds gives `method`. */
static int points_for(const char *adds, const char *method)
{
	size_t n = strlen(method);
	int total = 0;

	if (!adds)
		return 0;
	for (const char *p = adds; *p;) {
		const char *end, *eq;
		int64_t v;
		char num[8];

		while (*p == ' ')
			p++;
		end = strchr(p, ' ');
		if (!end)
			end = p + strlen(p);
		eq = memchr(p, '=', (size_t) (end - p));
		if (eq && (size_t) (eq - p) == n && memcmp(p, method, n) == 0 &&
		    (size_t) (end - eq - 1) < sizeof(num)) {
			memcpy(num, eq + 1, (size_t) (end - eq - 1));
			num[end - eq - 1] = '\0';
			if (str_to_i64(num, 10, &v) == 0 && v >= -10 && v <= 10)
				total += (int) v;
		}
		p = end;
	}
	return total;
}

static json_t *key_measures(const struct catalog *c, const struct catalog_stanza *m)
{
	_cleanup_(freep) char *copy = NULL;
	const char *list = catalog_get(m, "Key-measures");
	json_t *a = json_array();
	char *save = NULL;

	copy = mm_strdup(list ? list : "");
	if (!a || !copy) {
		json_decref(a);
		return NULL;
	}
	for (char *id = strtok_r(copy, " ", &save); id; id = strtok_r(NULL, " ", &save)) {
		const struct catalog_stanza *s = catalog_find(c, "Measure", id);

		if (!s || catalog_disabled(s))
			continue;
		if (jsonw_append(a, json_pack("{s:s, s:s?, s:s?, s:o}", "id", id, "category",
					      catalog_get(s, "Category"), "role",
					      catalog_get(s, "Role"), "title", texts(s, "Title"))) <
		    0) {
			json_decref(a);
			return NULL;
		}
	}
	return a;
}

static json_t *method_json(const struct catalog *c, const struct catalog_stanza *m)
{
	return json_pack("{s:s, s:I, s:o, s:o, s:o, s:o, s:s?}", "id", m->id, "order",
			 (json_int_t) order_of(m), "name", texts(m, "Name"), "summary",
			 texts(m, "Summary"), "reason", texts(m, "Reason"), "key_measures",
			 key_measures(c, m), "grades_by", catalog_get(m, "Grades-by"));
}

static int comparison(const struct catalog *c, const struct sref *ms, size_t n, json_t **ret)
{
	_cleanup_(freep) struct sref *axes = NULL;
	_cleanup_(json_decrefp) json_t *out = NULL;
	json_t *axes_json, *grades;
	bool by_org = false;
	size_t n_axes;

	for (size_t i = 0; i < n; i++) {
		const char *by = catalog_get(ms[i].s, "Grades-by");

		by_org = by_org || (by && streq(by, "organisation"));
	}
	if (sorted(c, "Axis", &axes, &n_axes) < 0)
		return -ENOMEM;
	/* the label never says "the guideline": the guideline's own grades were not available */
	out = by_org ? json_pack("{s:{s:s, s:s}, s:s, s:s, s:[], s:{}}", "label", "ja",
				 "組織による評価(mamori の評価を一部変更)", "en",
				 "your organisation's assessment (partly changed from mamori's)",
				 "title",
				 "your organisation's assessment (組織による評価) — not the "
				 "guideline's",
				 "grades_by", "organisation", "axes", "grades")
		     : json_pack("{s:{s:s, s:s}, s:s, s:s, s:[], s:{}}", "label", "ja",
				 "mamoriによる評価", "en", "mamori's assessment", "title",
				 "mamori's assessment (mamoriによる評価) — not the guideline's",
				 "grades_by", "mamori", "axes", "grades");
	if (!out)
		return -ENOMEM;
	axes_json = json_object_get(out, "axes");
	grades = json_object_get(out, "grades");
	for (size_t i = 0; i < n_axes; i++)
		if (jsonw_append(axes_json, json_pack("{s:s, s:o, s:o}", "id", axes[i].s->id,
						      "name", texts(axes[i].s, "Name"), "note",
						      texts(axes[i].s, "Note"))) < 0)
			return -ENOMEM;
	for (size_t i = 0; i < n; i++) {
		const char *gr = catalog_get(ms[i].s, "Grades");
		_cleanup_(freep) char *copy = mm_strdup(gr ? gr : "");
		json_t *g = json_object();
		char *save = NULL;

		if (!copy || jsonw_set(grades, ms[i].s->id, g) < 0)
			return -ENOMEM;
		for (char *t = strtok_r(copy, " ", &save); t; t = strtok_r(NULL, " ", &save)) {
			char *eq = strchr(t, '=');

			if (!eq || !eq[1])
				continue;
			*eq = '\0';
			if (jsonw_set(g, t, json_string(eq + 1)) < 0)
				return -ENOMEM;
		}
	}
	*ret = TAKE_PTR(out);
	return 0;
}

int advisor_methods(const struct catalog *c, json_t **ret)
{
	_cleanup_(freep) struct sref *ms = NULL;
	_cleanup_(json_decrefp) json_t *out = NULL, *cmp = NULL;
	json_t *list;
	size_t n;

	if (sorted(c, "Method", &ms, &n) < 0 || comparison(c, ms, n, &cmp) < 0)
		return -ENOMEM;
	out = json_pack("{s:[], s:O}", "methods", "comparison", cmp);
	if (!out)
		return -ENOMEM;
	list = json_object_get(out, "methods");
	for (size_t i = 0; i < n; i++)
		if (jsonw_append(list, method_json(c, ms[i].s)) < 0)
			return -ENOMEM;
	*ret = TAKE_PTR(out);
	return 0;
}

static int fail(char *errbuf, size_t errlen, const char *fmt, ...) _printf_(3, 4);
static int fail(char *errbuf, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	(void) vsnprintf(errbuf, errlen, fmt, ap);
	va_end(ap);
	return -EINVAL;
}

/* Checks answers against the questionnaire; the message names the first bad one. */
static int check_answers(const struct catalog *c, const json_t *answers, char *errbuf,
			 size_t errlen)
{
	const char *qid;
	const json_t *v;

	if (!json_is_object(answers))
		return fail(errbuf, errlen, "answers must be an object {QUESTION: ANSWER}");
	json_object_foreach ((json_t *) answers, qid, v) {
		const struct catalog_stanza *q = catalog_find(c, "Question", qid);
		struct answer a;
		bool found = false;
		char list[256] = "";

		if (!q)
			return fail(errbuf, errlen, "no question '%.64s'", qid);
		if (!json_is_string(v))
			return fail(errbuf, errlen, "the answer to '%.64s' must be a string", qid);
		for (size_t k = 0; answer_at(q, k, &a); k++) {
			found = found || streq(a.id, json_string_value(v));
			if (strlen(list) + strlen(a.id) + 3 < sizeof(list)) {
				if (*list)
					(void) strncat(list, ", ", sizeof(list) - strlen(list) - 1);
				(void) strncat(list, a.id, sizeof(list) - strlen(list) - 1);
			}
		}
		if (!found)
			return fail(errbuf, errlen,
				    "question '%.64s' has no answer '%.64s' (it has: %s)", qid,
				    json_string_value(v), list);
	}
	return 0;
}

struct scored {
	const struct catalog_stanza *m;
	int score;
};

static int by_score(const void *a, const void *b)
{
	const struct scored *x = a, *y = b;
	unsigned ox = order_of(x->m), oy = order_of(y->m);

	if (x->score != y->score)
		return x->score > y->score ? -1 : 1;
	if (ox != oy)
		return ox < oy ? -1 : 1;
	return strcmp(x->m->id, y->m->id);
}

static int reasons_for(const struct catalog *c, const json_t *answers, const char *method,
		       json_t **ret)
{
	_cleanup_(freep) struct sref *qs = NULL;
	_cleanup_(json_decrefp) json_t *out = json_array();
	size_t n;

	if (!out || sorted(c, "Question", &qs, &n) < 0)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++) {
		const char *given = json_string_value(json_object_get(answers, qs[i].s->id));
		struct answer a;

		for (size_t k = 0; given && answer_at(qs[i].s, k, &a); k++) {
			int pts;

			if (!streq(a.id, given))
				continue;
			pts = points_for(a.adds, method);
			if (pts != 0 &&
			    jsonw_append(out, json_pack("{s:s, s:s, s:i, s:o, s:{s:s?, s:s?}}",
							"question", qs[i].s->id, "answer", a.id,
							"points", pts, "question_text",
							texts(qs[i].s, "Text"), "text", "ja", a.ja,
							"en", a.en)) < 0)
				return -ENOMEM;
		}
	}
	*ret = TAKE_PTR(out);
	return 0;
}

int advisor_recommend(const struct catalog *c, const json_t *answers, json_t **ret, char *errbuf,
		      size_t errlen)
{
	_cleanup_(freep) struct sref *ms = NULL;
	_cleanup_(freep) struct scored *sc = NULL;
	_cleanup_(json_decrefp) json_t *out = NULL, *cmp = NULL;
	json_t *list, *rec;
	size_t n, n_rec = 0;
	int r;

	r = check_answers(c, answers, errbuf, errlen);
	if (r < 0)
		return r;
	if (sorted(c, "Method", &ms, &n) < 0)
		return -ENOMEM;
	n = MIN(n, (size_t) MAX_METHODS);
	sc = mm_reallocarray(NULL, n ? n : 1, sizeof(*sc));
	if (!sc)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++) {
		const char *qid;
		const json_t *v;

		sc[i] = (struct scored){.m = ms[i].s};
		json_object_foreach ((json_t *) answers, qid, v) {
			const struct catalog_stanza *q = catalog_find(c, "Question", qid);
			struct answer a;

			for (size_t k = 0; answer_at(q, k, &a); k++)
				if (streq(a.id, json_string_value(v)))
					sc[i].score += points_for(a.adds, ms[i].s->id);
		}
	}
	qsort(sc, n, sizeof(*sc), by_score);
	if (comparison(c, ms, n, &cmp) < 0)
		return -ENOMEM;
	out = json_pack("{s:O, s:{s:s, s:s}, s:[], s:[], s:O}", "answers", answers, "note", "ja",
			note_ja, "en", note_en, "recommended", "methods", "comparison", cmp);
	if (!out)
		return -ENOMEM;
	rec = json_object_get(out, "recommended");
	list = json_object_get(out, "methods");
	for (size_t i = 0; i < n; i++) {
		bool recommended = sc[i].score > 0 && n_rec < ADVISOR_RECOMMEND_MAX;
		json_t *m = method_json(c, sc[i].m), *reasons = NULL;

		if (jsonw_append(list, m) < 0 ||
		    reasons_for(c, answers, sc[i].m->id, &reasons) < 0 ||
		    jsonw_set(m, "reasons", reasons) < 0 ||
		    jsonw_set(m, "score", json_integer(sc[i].score)) < 0 ||
		    jsonw_set(m, "recommended", json_boolean(recommended)) < 0)
			return -ENOMEM;
		if (recommended) {
			n_rec++;
			if (jsonw_append(rec, json_string(sc[i].m->id)) < 0)
				return -ENOMEM;
		}
	}
	*ret = TAKE_PTR(out);
	return 0;
}
