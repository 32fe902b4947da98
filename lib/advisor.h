/*
 * The telework-method advisor (テレワーク方式): from the catalogue's Question and Method
 * stanzas (catalog/methods.txt), the questionnaire, a recommendation for a set of answers,
 * and the five-axis comparison of the methods.
 *
 * Honesty: the questions and the grades are mamori's design and mamori's assessment (or
 * the organisation's, when an override says Grades-by: organisation), never the
 * guideline's: every answer carries that label. Shared by the server (API) and mamorictl.
 */
#pragma once

#include <stddef.h>

#include <jansson.h>

#include "lib/catalog.h"
#include "lib/macro.h"

/* Recommended methods at most (the ranking lists them all). */
#define ADVISOR_RECOMMEND_MAX 3

/*
 * The questionnaire, in Order: {"note": {ja, en}, "questions": [{"id", "order", "text":
 * {ja, en}, "answers": [{"id", "text": {ja, en}}]}]}. Returns 0 or -ENOMEM; *ret is new.
 */
int advisor_questions(const struct catalog *c, json_t **ret) _wur_;

/*
 * The methods and the comparison: {"methods": [{"id", "order", "name", "summary",
 * "reason", "key_measures": [{"id", "title"}]}], "comparison": {…}} (see
 * advisor_recommend() for the comparison's shape). Returns 0 or -ENOMEM.
 */
int advisor_methods(const struct catalog *c, json_t **ret) _wur_;

/*
 * Scores every method for `answers`, an object {QUESTION: ANSWER}: each answer adds its
 * Answer-adds points; unanswered questions add nothing. Methods are ranked by score, ties
 * broken by Order; the best ADVISOR_RECOMMEND_MAX with a positive score are recommended.
 * *ret = {"answers", "note", "recommended": [ids], "methods": [{…, "score", "recommended",
 * "reasons": [{"question", "answer", "points", "text"}], "key_measures"}],
 * "comparison": {"label": {ja, en}, "title", "grades_by", "axes": [{"id", "name",
 * "note"}], "grades": {METHOD: {AXIS: "S"…"D"}}}}.
 * -EINVAL when answers is not an object of strings naming questions and their answers,
 * with errbuf saying which; -ENOMEM.
 */
int advisor_recommend(const struct catalog *c, const json_t *answers, json_t **ret, char *errbuf,
		      size_t errlen) _wur_;
