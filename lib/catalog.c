/*
 * Catalogue files: a stanza reader, the merge of overrides, and validation.
 *
 * The format is deliberately the one Debian administrators know from control files:
 * "Field: value" lines, stanzas separated by blank lines, '#' comment lines. Unlike
 * control files there are no continuation lines: a value is one line, which keeps every
 * error's line number exact. Limits: a file is at most LIMIT_CONFIG_FILE bytes, a line
 * LIMIT_LINE; anything past them is an error, never a truncation.
 */
#include <ctype.h>
#include <errno.h>
#include <string.h>

#include "lib/catalog.h"
#include "lib/fileio.h"
#include "lib/limits.h"
#include "lib/mm.h"
#include "lib/str.h"

#define MAX_STANZAS 4096
#define MAX_FIELDS  256

void catalog_init(struct catalog *c)
{
	*c = (struct catalog){0};
}

static void stanza_done(struct catalog_stanza *s)
{
	for (size_t i = 0; i < s->n_fields; i++) {
		mm_free(s->fields[i].name);
		mm_free(s->fields[i].value);
		mm_free(s->fields[i].file);
	}
	mm_free(s->fields);
	mm_free(s->kind);
	mm_free(s->id);
	mm_free(s->file);
	*s = (struct catalog_stanza){0};
}

void catalog_done(struct catalog *c)
{
	for (size_t i = 0; i < c->n; i++)
		stanza_done(&c->stanzas[i]);
	mm_free(c->stanzas);
	*c = (struct catalog){0};
}

const char *catalog_get(const struct catalog_stanza *s, const char *name)
{
	for (size_t i = 0; i < s->n_fields; i++)
		if (streq(s->fields[i].name, name))
			return s->fields[i].value;
	return NULL;
}

const struct catalog_stanza *catalog_find(const struct catalog *c, const char *kind, const char *id)
{
	for (size_t i = 0; i < c->n; i++)
		if (streq(c->stanzas[i].kind, kind) && streq(c->stanzas[i].id, id))
			return &c->stanzas[i];
	return NULL;
}

bool catalog_disabled(const struct catalog_stanza *s)
{
	const char *v = catalog_get(s, "Disabled");

	return v && streq(v, "yes");
}

static const char *const kinds[] = {"Category", "Measure", "Axis", "Method", "Question"};

static bool is_kind(const char *name)
{
	for (size_t i = 0; i < ARRAY_SIZE(kinds); i++)
		if (streq(name, kinds[i]))
			return true;
	return false;
}

static int add_field(struct catalog_stanza *s, const char *name, const char *value,
		     const char *file, unsigned line)
{
	struct catalog_field *f;

	if (s->n_fields >= MAX_FIELDS)
		return -E2BIG;
	f = mm_reallocarray(s->fields, s->n_fields + 1, sizeof(*f));
	if (!f)
		return -ENOMEM;
	s->fields = f;
	f = &s->fields[s->n_fields];
	f->name = mm_strdup(name);
	f->value = mm_strdup(value);
	f->file = mm_strdup(file);
	f->line = line;
	if (!f->name || !f->value || !f->file) {
		mm_free(f->name);
		mm_free(f->value);
		mm_free(f->file);
		return -ENOMEM;
	}
	s->n_fields++;
	return 0;
}

/* Fields that may repeat within a stanza (a question's answers); all others replace. */
static bool repeatable(const char *name)
{
	return str_startswith(name, "Answer") != NULL;
}

/* Merges parsed stanza `s` into c (taking its contents). */
static int merge(struct catalog *c, struct catalog_stanza *s)
{
	struct catalog_stanza *old = NULL, *grown;

	for (size_t i = 0; i < c->n; i++)
		if (streq(c->stanzas[i].kind, s->kind) && streq(c->stanzas[i].id, s->id))
			old = &c->stanzas[i];
	if (!old) {
		if (c->n >= MAX_STANZAS)
			return -E2BIG;
		grown = mm_reallocarray(c->stanzas, c->n + 1, sizeof(*grown));
		if (!grown)
			return -ENOMEM;
		c->stanzas = grown;
		c->stanzas[c->n++] = *s;
		*s = (struct catalog_stanza){0};
		return 0;
	}
	/* An override: the answers of a question are replaced as a block; other fields one
	 * by one. The stanza keeps its original location for messages about it. */
	bool has_answers = false;

	for (size_t i = 0; i < s->n_fields; i++)
		if (repeatable(s->fields[i].name))
			has_answers = true;
	if (has_answers) {
		size_t k = 0;

		for (size_t i = 0; i < old->n_fields; i++) {
			if (repeatable(old->fields[i].name)) {
				mm_free(old->fields[i].name);
				mm_free(old->fields[i].value);
				mm_free(old->fields[i].file);
			} else {
				old->fields[k++] = old->fields[i];
			}
		}
		old->n_fields = k;
	}
	for (size_t i = 0; i < s->n_fields; i++) {
		struct catalog_field *f = &s->fields[i];
		bool replaced = false;

		if (streq(f->name, s->kind))
			continue;
		if (!repeatable(f->name))
			for (size_t j = 0; j < old->n_fields; j++)
				if (streq(old->fields[j].name, f->name)) {
					char *v = f->value, *fl = f->file;

					f->value = old->fields[j].value;
					old->fields[j].value = v;
					f->file = old->fields[j].file;
					old->fields[j].file = fl;
					old->fields[j].line = f->line;
					replaced = true;
					break;
				}
		if (!replaced) {
			int r = add_field(old, f->name, f->value, f->file, f->line);

			if (r < 0)
				return r;
		}
	}
	stanza_done(s);
	return 0;
}

static bool valid_name(const char *s)
{
	if (!isupper((unsigned char) *s))
		return false;
	for (; *s; s++)
		if (!isalnum((unsigned char) *s) && *s != '-')
			return false;
	return true;
}

int catalog_parse(struct catalog *c, const char *file, const char *text, struct diag *d)
{
	_cleanup_(freep) char *copy = mm_strdup(text);
	struct catalog_stanza cur = {0};
	char *cursor = copy, *line;
	unsigned lineno = 0;
	bool in_stanza = false, skip = false;
	int r = 0;

	if (!copy)
		return -ENOMEM;
	for (;;) {
		char *colon, *name, *value;

		line = str_next_line(&cursor);
		if (line)
			lineno++;
		if (!line || !*str_strip(line)) {
			if (in_stanza && !skip) {
				r = merge(c, &cur);
				if (r == -E2BIG) {
					diag_error(d, file, cur.line, 0,
						   "too many stanzas (limit %d)", MAX_STANZAS);
					r = 0;
				}
				if (r < 0)
					goto out;
			}
			stanza_done(&cur);
			in_stanza = skip = false;
			if (!line)
				break;
			continue;
		}
		if (line[0] == '#')
			continue;
		if (strlen(line) > LIMIT_LINE) {
			diag_error(d, file, lineno, 0, "line longer than %zu bytes", LIMIT_LINE);
			skip = in_stanza = true;
			continue;
		}
		if (!str_is_clean_utf8(line, strlen(line))) {
			diag_error(d, file, lineno, 0, "not valid UTF-8 text");
			skip = in_stanza = true;
			continue;
		}
		colon = strchr(line, ':');
		if (!colon) {
			diag_error(d, file, lineno, 1, "expected 'Field: value'");
			skip = in_stanza = true;
			continue;
		}
		*colon = '\0';
		name = line;
		value = str_strip(colon + 1);
		if (!valid_name(name)) {
			diag_error(d, file, lineno, 1, "'%s' is not a field name", name);
			skip = in_stanza = true;
			continue;
		}
		if (!in_stanza) {
			in_stanza = true;
			if (!is_kind(name)) {
				diag_error(d, file, lineno, 1,
					   "a stanza must start with Category, Measure, Axis, "
					   "Method or Question, not '%s'",
					   name);
				skip = true;
				continue;
			}
			if (!*value ||
			    strspn(value, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrst"
					  "uvwxyz0123456789-_.") != strlen(value)) {
				diag_error(d, file, lineno, (unsigned) (value - line) + 1,
					   "'%s' is not a valid id (letters, digits, - _ .)",
					   value);
				skip = true;
				continue;
			}
			cur.kind = mm_strdup(name);
			cur.id = mm_strdup(value);
			cur.file = mm_strdup(file);
			cur.line = lineno;
			if (!cur.kind || !cur.id || !cur.file) {
				r = -ENOMEM;
				goto out;
			}
		} else if (skip) {
			continue;
		} else if (!repeatable(name) && catalog_get(&cur, name)) {
			diag_error(d, file, lineno, 1, "field '%s' given twice in this stanza",
				   name);
			continue;
		}
		r = add_field(&cur, name, value, file, lineno);
		if (r == -E2BIG) {
			diag_error(d, file, lineno, 1, "too many fields in one stanza");
			skip = true;
			r = 0;
		}
		if (r < 0)
			goto out;
	}
out:
	stanza_done(&cur);
	return r;
}

int catalog_load_file(struct catalog *c, const char *path, struct diag *d)
{
	_cleanup_(freep) char *text = NULL;
	size_t len;
	int r = fileio_read(NULL, path, LIMIT_CONFIG_FILE, &text, &len);

	if (r == -ENOMEM)
		return r;
	if (r < 0) {
		diag_error(d, path, 0, 0, "cannot read: %s",
			   r == -E2BIG ? "larger than the limit" : strerror(-r));
		return 0;
	}
	if (strlen(text) != len) {
		diag_error(d, path, 0, 0, "contains a NUL byte: not a text file");
		return 0;
	}
	return catalog_parse(c, path, text, d);
}

/* ---- validation ---- */

struct field_rule {
	const char *name;
	bool required;
	const char *const *values; /* allowed values, NULL-terminated; NULL for any */
};

static const char *const v_status[] = {"confirmed", "likely", NULL};
static const char *const v_role[] = {"management", "admin", "teleworker", NULL};
static const char *const v_level[] = {"basic", "advanced", NULL};
static const char *const v_kind[] = {"automated", "manual", NULL};
static const char *const v_yesno[] = {"yes", "no", NULL};
static const char *const v_by[] = {"mamori", "organisation", NULL};

static const struct field_rule category_rules[] = {
	{"Letter", true, NULL},  {"Status", true, v_status}, {"Status-note", false, NULL},
	{"Name-ja", true, NULL}, {"Name-en", true, NULL},    {"Order", true, NULL},
	{NULL, false, NULL},
};
static const struct field_rule measure_rules[] = {
	{"Guideline-id", false, NULL}, {"Guideline-note", false, NULL},
	{"Category", true, NULL},      {"Role", true, v_role},
	{"Level", true, v_level},      {"Kind", true, v_kind},
	{"Check", false, NULL},        {"Review-days", false, NULL},
	{"Title-ja", true, NULL},      {"Title-en", true, NULL},
	{"Detail-ja", true, NULL},     {"Detail-en", true, NULL},
	{"Fix-ja", false, NULL},       {"Fix-en", false, NULL},
	{"Disabled", false, v_yesno},  {NULL, false, NULL},
};
static const struct field_rule axis_rules[] = {
	{"Name-ja", true, NULL},  {"Name-en", true, NULL}, {"Note-ja", false, NULL},
	{"Note-en", false, NULL}, {NULL, false, NULL},
};
static const struct field_rule method_rules[] = {
	{"Order", true, NULL},      {"Name-ja", true, NULL},      {"Name-en", true, NULL},
	{"Summary-ja", true, NULL}, {"Summary-en", true, NULL},   {"Grades-by", true, v_by},
	{"Grades", true, NULL},     {"Key-measures", true, NULL}, {"Reason-ja", false, NULL},
	{"Reason-en", false, NULL}, {NULL, false, NULL},
};
static const struct field_rule question_rules[] = {
	{"Order", true, NULL},        {"Text-ja", true, NULL},    {"Text-en", true, NULL},
	{"Answer", false, NULL},      {"Answer-ja", false, NULL}, {"Answer-en", false, NULL},
	{"Answer-adds", false, NULL}, {NULL, false, NULL},
};

static const struct field_rule *rules_for(const char *kind)
{
	if (streq(kind, "Category"))
		return category_rules;
	if (streq(kind, "Measure"))
		return measure_rules;
	if (streq(kind, "Axis"))
		return axis_rules;
	if (streq(kind, "Method"))
		return method_rules;
	return question_rules;
}

static const struct catalog_field *field_of(const struct catalog_stanza *s, const char *name)
{
	for (size_t i = 0; i < s->n_fields; i++)
		if (streq(s->fields[i].name, name))
			return &s->fields[i];
	return NULL;
}

static bool in_list(const char *v, const char *const *list)
{
	for (; *list; list++)
		if (streq(v, *list))
			return true;
	return false;
}

static void check_schema(const struct catalog_stanza *s, struct diag *d)
{
	const struct field_rule *rules = rules_for(s->kind);

	for (size_t i = 0; i < s->n_fields; i++) {
		const struct catalog_field *f = &s->fields[i];
		const struct field_rule *rule = NULL;

		if (streq(f->name, s->kind))
			continue;
		for (const struct field_rule *r = rules; r->name; r++)
			if (streq(r->name, f->name))
				rule = r;
		if (!rule && streq(s->kind, "Measure") && str_startswith(f->name, "Param-"))
			continue;
		if (!rule) {
			diag_error(d, f->file, f->line, 1, "%s %s: unknown field '%s'", s->kind,
				   s->id, f->name);
			continue;
		}
		if (!*f->value)
			diag_error(d, f->file, f->line, 1, "%s %s: field '%s' is empty", s->kind,
				   s->id, f->name);
		else if (rule->values && !in_list(f->value, rule->values))
			diag_error(d, f->file, f->line, 1, "%s %s: '%s' is not a valid %s", s->kind,
				   s->id, f->value, f->name);
	}
	for (const struct field_rule *r = rules; r->name; r++)
		if (r->required && !field_of(s, r->name))
			diag_error(d, s->file, s->line, 0, "%s %s: field '%s' is missing", s->kind,
				   s->id, r->name);
}

static void check_number(const struct catalog_stanza *s, const char *name, struct diag *d)
{
	const struct catalog_field *f = field_of(s, name);
	unsigned v;

	if (f && *f->value && (str_to_uint(f->value, 10, &v) < 0 || v == 0 || v > 100000))
		diag_error(d, f->file, f->line, 1,
			   "%s %s: %s must be a whole number from 1, not '%s'", s->kind, s->id,
			   name, f->value);
}

static void check_measure(const struct catalog *c, const struct catalog_stanza *s,
			  catalog_check_known_fn known, struct diag *d)
{
	const struct catalog_field *cat = field_of(s, "Category");
	const struct catalog_field *check = field_of(s, "Check");
	const char *kind = catalog_get(s, "Kind");

	if (cat && *cat->value && !catalog_find(c, "Category", cat->value))
		diag_error(d, cat->file, cat->line, 1, "Measure %s: no category '%s'", s->id,
			   cat->value);
	if (kind && streq(kind, "automated")) {
		if (!check)
			diag_error(d, s->file, s->line, 0,
				   "Measure %s: an automated measure needs a Check", s->id);
		else if (known && !known(check->value))
			diag_error(d, check->file, check->line, 1, "Measure %s: unknown check '%s'",
				   s->id, check->value);
	}
	if (kind && streq(kind, "manual")) {
		if (check)
			diag_error(d, check->file, check->line, 1,
				   "Measure %s: a manual measure has no Check", s->id);
		if (!field_of(s, "Review-days"))
			diag_error(d, s->file, s->line, 0,
				   "Measure %s: a manual measure needs Review-days", s->id);
	}
	check_number(s, "Review-days", d);
}

/* "a=S b=C …": every axis graded once, with S, A, B, C or D. */
static void check_grades(const struct catalog *c, const struct catalog_stanza *s, struct diag *d)
{
	const struct catalog_field *f = field_of(s, "Grades");
	_cleanup_(freep) char *copy = NULL;
	char *save = NULL, *tok;
	size_t graded = 0, axes = 0;

	if (!f)
		return;
	copy = mm_strdup(f->value);
	if (!copy)
		return;
	for (size_t i = 0; i < c->n; i++)
		if (streq(c->stanzas[i].kind, "Axis"))
			axes++;
	for (tok = strtok_r(copy, " ", &save); tok; tok = strtok_r(NULL, " ", &save)) {
		char *eq = strchr(tok, '=');

		if (!eq || eq[1] == '\0' || eq[2] != '\0' || !strchr("SABCD", eq[1])) {
			diag_error(d, f->file, f->line, 1,
				   "Method %s: grade '%s' must be AXIS=S, A, B, C or D", s->id,
				   tok);
			continue;
		}
		*eq = '\0';
		if (!catalog_find(c, "Axis", tok))
			diag_error(d, f->file, f->line, 1, "Method %s: no axis '%s'", s->id, tok);
		else
			graded++;
	}
	if (graded != axes)
		diag_error(d, f->file, f->line, 1, "Method %s: %zu of %zu axes graded", s->id,
			   graded, axes);
}

static void check_refs(const struct catalog *c, const struct catalog_stanza *s, const char *field,
		       const char *kind, struct diag *d)
{
	const struct catalog_field *f = field_of(s, field);
	_cleanup_(freep) char *copy = NULL;
	char *save = NULL, *tok;

	if (!f)
		return;
	copy = mm_strdup(f->value);
	if (!copy)
		return;
	for (tok = strtok_r(copy, " ", &save); tok; tok = strtok_r(NULL, " ", &save))
		if (!catalog_find(c, kind, tok))
			diag_error(d, f->file, f->line, 1, "%s %s: no %s '%s'", s->kind, s->id,
				   streq(kind, "Measure") ? "measure" : "method", tok);
}

static void check_question(const struct catalog *c, const struct catalog_stanza *s, struct diag *d)
{
	size_t answers = 0;

	for (size_t i = 0; i < s->n_fields; i++) {
		const struct catalog_field *f = &s->fields[i];
		_cleanup_(freep) char *copy = NULL;
		char *save = NULL, *tok;

		if (streq(f->name, "Answer"))
			answers++;
		else if (str_startswith(f->name, "Answer-") && answers == 0)
			diag_error(d, f->file, f->line, 1, "Question %s: %s before any Answer",
				   s->id, f->name);
		if (!streq(f->name, "Answer-adds"))
			continue;
		copy = mm_strdup(f->value);
		if (!copy)
			return;
		for (tok = strtok_r(copy, " ", &save); tok; tok = strtok_r(NULL, " ", &save)) {
			char *eq = strchr(tok, '=');
			int64_t v;

			if (!eq || str_to_i64(eq + 1, 10, &v) < 0 || v < -10 || v > 10) {
				diag_error(
					d, f->file, f->line, 1,
					"Question %s: '%s' must be METHOD=N with N from -10 to 10",
					s->id, tok);
				continue;
			}
			*eq = '\0';
			if (!catalog_find(c, "Method", tok))
				diag_error(d, f->file, f->line, 1, "Question %s: no method '%s'",
					   s->id, tok);
		}
	}
	if (answers < 2)
		diag_error(d, s->file, s->line, 0, "Question %s: needs at least two answers",
			   s->id);
}

int catalog_validate(const struct catalog *c, catalog_check_known_fn known, struct diag *d)
{
	size_t before = d->n_errors;

	for (size_t i = 0; i < c->n; i++) {
		const struct catalog_stanza *s = &c->stanzas[i];

		check_schema(s, d);
		check_number(s, "Order", d);
		if (streq(s->kind, "Measure"))
			check_measure(c, s, known, d);
		else if (streq(s->kind, "Method")) {
			check_grades(c, s, d);
			check_refs(c, s, "Key-measures", "Measure", d);
		} else if (streq(s->kind, "Question"))
			check_question(c, s, d);
	}
	if (d->oom)
		return -ENOMEM;
	return d->n_errors > before ? -EINVAL : 0;
}
