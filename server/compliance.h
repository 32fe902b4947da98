/*
 * The compliance engine: the guideline as a live scorecard (docs/compliance.md). It holds
 * the loaded catalogue, evaluates a host's automated measures when that host's facts
 * change (an inventory commit, a check-in, an event batch — that host only), stores the
 * results and roll-ups through the store, and answers the scorecard's reads: the
 * organisation's summary, a category, a measure with the hosts that fail it, a host,
 * history, and attestations for the manual measures.
 *
 * Threads: every function may be called from several threads at once. The catalogue is
 * swapped under a write lock (a reload) and read under a read lock, so an evaluation
 * always sees one whole catalogue. Time is always passed in (`now`): the server passes
 * the request's time, tests a fake clock.
 */
#pragma once

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "lib/catalog.h"
#include "lib/diag.h"
#include "lib/macro.h"
#include "server/store.h"

struct compliance;

/*
 * Loads the catalogue as the server uses it: the built-in files, then `files` (the
 * --catalog flags and `catalog =` settings, in order), validated. On success *ret is a new
 * catalogue for compliance_new() or compliance_set_catalog(). Every problem goes to d with
 * file:line; -EINVAL when there was any, -ENOMEM.
 */
int compliance_catalog_load(const char *const *files, size_t n, struct catalog **ret,
			    struct diag *d) _wur_;
/* Frees a catalogue from compliance_catalog_load(); NULL is fine. */
void compliance_catalog_free(struct catalog *c);

/* A new engine over st with catalogue cat (taken, also on failure). -ENOMEM. */
int compliance_new(struct store *st, struct catalog *cat, struct compliance **ret) _wur_;
struct compliance *compliance_free(struct compliance *e);
DEFINE_POINTER_CLEANUP(struct compliance, compliance_free)

/*
 * Replaces the catalogue (taking cat, also on failure) and recomputes every host, since
 * measures, categories or thresholds may have changed. The old catalogue stays in force
 * until the new one is swapped in; a failed recompute leaves the new catalogue in force
 * and the stored results as far as they got (the next recompute finishes the job).
 */
int compliance_set_catalog(struct compliance *e, struct catalog *cat, int64_t now) _wur_;

/*
 * Re-evaluates one host after its facts changed (inventory commit, check-in, owner) and
 * stores what differs. *ret_changed (optional) counts result rows written. A host that is
 * unknown, deleted or revoked is not an error: nothing happens (0).
 */
int compliance_host_changed(struct compliance *e, const char *host_id, int64_t now,
			    size_t *ret_changed) _wur_;

/* Folds a stored event batch into the host's event summary, then re-evaluates it. */
int compliance_events(struct compliance *e, const char *host_id, const json_t *events, int64_t now)
	_wur_;

/* Re-evaluates every host, a page at a time. *ret_hosts / *ret_changed are optional. */
int compliance_recompute(struct compliance *e, int64_t now, size_t *ret_hosts, size_t *ret_changed)
	_wur_;

/* ---- reads (shapes in docs/api.md, "Compliance") ---- */

/* The organisation's scorecard: per category and per role, counts and percentage. */
int compliance_summary(struct compliance *e, int64_t now, json_t **ret) _wur_;
/* One category with its measures. -ENOENT for an unknown category. */
int compliance_category(struct compliance *e, const char *id, int64_t now, json_t **ret) _wur_;
/* One measure: its counts and, for an automated one, the hosts with `status` (NULL:
 * "not_met") with their evidence; for a manual one, its attestations. -ENOENT. */
int compliance_measure(struct compliance *e, const char *id, const char *status, size_t limit,
		       size_t offset, int64_t now, json_t **ret) _wur_;
/* One host's results, and the organisation's attested measures. -ENOENT. */
int compliance_host(struct compliance *e, const char *host_id, int64_t now, json_t **ret) _wur_;
/* The organisation's daily scorecard for the last `days` days (1..366). */
int compliance_history(struct compliance *e, unsigned days, int64_t now, json_t **ret) _wur_;
/* The loaded catalogue; lang "ja", "en" or NULL for both. */
int compliance_catalog_json(struct compliance *e, const char *lang, json_t **ret) _wur_;

/* ---- attestations ---- */

/*
 * Records an attestation from an API body {"measure", "status", "evidence", "link"?,
 * "owner", "date"? (Unix seconds or "YYYY-MM-DD"; default now), "review_days"? (default:
 * the measure's Review-days)} by `actor`. -EINVAL with errbuf saying what is wrong (an
 * unknown or automated measure, a bad status …); *ret is the stored attestation with its
 * state.
 */
int compliance_attest(struct compliance *e, const json_t *body, const char *actor, int64_t now,
		      json_t **ret, char *errbuf, size_t errlen) _wur_;
/* Every manual measure with its current attestation and state, and all attestations. */
int compliance_attestations(struct compliance *e, const char *measure, int64_t now, json_t **ret)
	_wur_;

/* Runs fn with the engine's catalogue under its read lock (the advisor's calls). */
int compliance_with_catalog(struct compliance *e,
			    int (*fn)(const struct catalog *c, void *userdata, json_t **ret),
			    void *userdata, json_t **ret) _wur_;
