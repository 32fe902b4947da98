/*
 * Private to the store (store*.c): events as the backends take them, and the event-chain
 * verification every backend runs inside its ingest transaction. The verification is
 * written once here, over a handful of primitives a backend supplies (struct
 * store_chain_io), so SQLite and PostgreSQL cannot disagree about what a gap or a break is.
 * docs/protocol.md ("Event chain") defines the chain; docs/internals/store.md the tables.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "lib/evchain.h"
#include "lib/macro.h"
#include "server/store.h"

/* Chain flags of a stored event (events.chain; store_chain_flags_string names them). */
enum {
	STORE_CHAIN_ALTERED = 1 << 0,   /* the record is not the one its hash was made for */
	STORE_CHAIN_LINK = 1 << 1,      /* its prev is not its predecessor's hash */
	STORE_CHAIN_UNCHAINED = 1 << 2, /* it came without chain fields */
	STORE_CHAIN_PENDING = 1 << 3,   /* its predecessor never arrived: link not verifiable */
};

#define STORE_EVENT_TEXT_MAX ((size_t) 8192) /* bytes of searchable text kept per event */
#define STORE_EVENT_USER_MAX ((size_t) 256)

/* One event, validated and serialised before a backend takes its write lock. */
struct store_event {
	int64_t seq, time_ms, mono_ms; /* mono_ms is meaningful only when chained */
	const char *type;              /* borrowed from the batch */
	char *data;                    /* compact JSON text */
	char *extra;                   /* members beyond the record's, as JSON text, or NULL */
	char *text;                    /* the searchable strings of data, '\n'-separated */
	char *user;                    /* data.user, or NULL */
	char prev[EVCHAIN_HEX];        /* "" when unchained */
	char hash[EVCHAIN_HEX];        /* the hash the agent claims; "" when unchained */
	char computed[EVCHAIN_HEX];    /* the hash the record has; "" when unchained */
	unsigned flags;                /* STORE_CHAIN_ALTERED / _UNCHAINED from the record alone */
	struct evchain_run *runs;      /* agent.spool_evicted: the runs it names */
	size_t n_runs;
	bool bad_report; /* agent.spool_evicted whose runs do not parse */
	size_t order;    /* position in the batch, to sort stably */
};

/*
 * Validates a batch (an array of at most LIMIT_EVENT_BATCH event objects) into a new array
 * of events sorted by seq (the caller frees it with store_chain_events_free). -EINVAL when
 * an event is out of shape, -E2BIG past the limit, -ENOMEM. Nothing is touched.
 */
int store_chain_prepare(json_t *events, struct store_event **ret, size_t *ret_n) _wur_;
void store_chain_events_free(struct store_event *ev, size_t n);

/* A stored event as the verification sees it. */
struct store_chain_held {
	char hash[EVCHAIN_HEX]; /* "" when it came unchained */
	char prev[EVCHAIN_HEX];
	unsigned flags;
};

/* A stored gap: sequence numbers never received, first..last. */
struct store_chain_gap {
	int64_t first, last;
	bool evicted;           /* explained by an eviction report */
	int64_t report_seq;     /* that report's seq (evicted only) */
	char prev[EVCHAIN_HEX]; /* evicted: what `first` linked to ("" when not known) */
	char hash[EVCHAIN_HEX]; /* evicted: the hash of `last` ("" when not known) */
};

/*
 * What a backend supplies, all inside its write transaction for one host. Each returns
 * >= 0 or -errno; lookups return 1 when found and 0 when not.
 */
struct store_chain_io {
	void *ctx;
	int (*get_event)(void *ctx, int64_t seq, struct store_chain_held *ret);
	int (*insert_event)(void *ctx, const struct store_event *e, unsigned flags);
	int (*set_flags)(void *ctx, int64_t seq, unsigned flags);
	/* The gap holding seq, else the first gap starting after it. */
	int (*gap_from)(void *ctx, int64_t seq, struct store_chain_gap *ret);
	int (*gap_insert)(void *ctx, const struct store_chain_gap *g);
	int (*gap_delete)(void *ctx, int64_t first);
	/* Records evidence; a row of the same kind without detail that ends at first - 1 is
	 * extended to `last` instead (runs of unchained events make one row). detail may be
	 * NULL; it is not consumed. */
	int (*evidence)(void *ctx, const char *kind, int64_t first, int64_t last, json_t *detail);
};

/*
 * Verifies and stores a prepared batch for one host whose highest stored seq is *io_max_seq
 * (updated). Events already held with the same record are skipped; everything else is
 * stored, flagged where the chain does not hold, with gaps and evidence recorded
 * (docs/protocol.md). Counts go to ret (acked_seq is left to the caller). A failure is
 * -errno from the primitives: the caller rolls the transaction back.
 */
int store_chain_ingest(const struct store_chain_io *io, const char *host_id,
		       const struct store_event *ev, size_t n, int64_t *io_max_seq,
		       struct store_ingest_result *ret) _wur_;

/* The names of the flags, comma-separated, or "ok" (a static string). */
const char *store_chain_flags_string(unsigned flags);
