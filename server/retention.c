/*
 * Retention of events: each event type is kept for its own period (retention.TYPE in the
 * configuration) or the default (retention.default, 180 days), and what is older goes.
 * A run purges in bounded batches (RETENTION_BATCH events per transaction, a short pause
 * between them) so the store's write lock is never held long and agents' uploads go on
 * meanwhile; it stops early when asked to (shutdown). Every run that deleted anything is
 * one record in the admin audit trail (action "events.purge", actor "server:retention",
 * with the counts per type and the cut-off of each), so an investigator can tell events
 * that were purged by policy from events that never arrived.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "lib/jsonw.h"
#include "lib/log.h"
#include "lib/mm.h"
#include "server/server.h"

#define RETENTION_PAUSE_NS 2000000L /* 2 ms between batches: other writers get the lock */
#define RETENTION_ACTOR    "server:retention"

/* Purges one rule to its end; adds what it deleted to *total and to by_type. */
static int purge_rule(struct store *st, const char *type, json_t *except, int64_t cutoff_ms,
		      size_t batch, const atomic_bool *stop, json_t *by_type, size_t *total)
{
	const struct timespec pause = {.tv_nsec = RETENTION_PAUSE_NS};
	int64_t key = 0;
	size_t sum = 0;
	int r;

	do {
		size_t deleted = 0;

		r = store_events_purge(st, type, except, cutoff_ms, &key, batch, &deleted);
		if (r < 0)
			return r;
		sum += deleted;
		if (r > 0)
			(void) nanosleep(&pause, NULL);
	} while (r > 0 && !(stop && atomic_load(stop)));
	*total += sum;
	if (sum == 0)
		return 0;
	return jsonw_set(by_type, type ? type : "(default)",
			 json_pack("{sIsI}", "deleted", (json_int_t) sum, "before_ms",
				   (json_int_t) cutoff_ms));
}

int retention_run(struct store *st, const struct config *cfg, int64_t now, size_t batch,
		  const atomic_bool *stop, size_t *ret_deleted)
{
	_cleanup_(json_decrefp) json_t *by_type = json_object(), *except = json_array();
	_cleanup_(json_decrefp) json_t *details = NULL;
	size_t total = 0;
	int r;

	if (!by_type || !except)
		return -ENOMEM;
	for (size_t i = 0; i < cfg->n_retention; i++) {
		const struct config_retention *rule = &cfg->retention[i];

		if (jsonw_append(except, json_string(rule->type)) < 0)
			return -ENOMEM;
		if (rule->seconds == 0)
			continue; /* forever */
		r = purge_rule(st, rule->type, NULL, (now - rule->seconds) * 1000, batch, stop,
			       by_type, &total);
		if (r < 0)
			goto fail;
	}
	if (cfg->retention_default > 0) {
		r = purge_rule(st, NULL, except, (now - cfg->retention_default) * 1000, batch, stop,
			       by_type, &total);
		if (r < 0)
			goto fail;
	}
	if (total > 0) {
		details = json_pack("{sIsO}", "deleted", (json_int_t) total, "by_type", by_type);
		if (!details)
			return -ENOMEM;
		log_info("(M4200) retention: purged %zu events past their retention", total);
		r = store_audit_append(st, now, RETENTION_ACTOR, "events.purge", NULL, details,
				       NULL);
		if (r < 0)
			log_error("(M5102) cannot record events.purge in the audit trail: %s",
				  strerror(-r));
	}
	*ret_deleted = total;
	return 0;
fail:
	if (r == -EOPNOTSUPP)
		return r; /* the store has no event store: nothing to purge, nothing to say */
	log_error("(M4201) retention: a purge failed: %s; the next run continues", strerror(-r));
	if (total > 0) {
		/* what was deleted before the failure is on record all the same */
		details = json_pack("{sIsOss}", "deleted", (json_int_t) total, "by_type", by_type,
				    "error", strerror(-r));
		if (details && store_audit_append(st, now, RETENTION_ACTOR, "events.purge", NULL,
						  details, NULL) < 0)
			log_error("(M5102) cannot record events.purge in the audit trail");
	}
	return r;
}
