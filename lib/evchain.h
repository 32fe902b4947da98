/*
 * The event chain (docs/protocol.md, "Event chain"): every event an agent spools carries
 * the SHA-256 of its predecessor, so an event altered or removed between the agent's spool
 * and the server's store is detected. One implementation for both ends: the agent's spool
 * links each event as it is spooled (evchain_link), the server checks each event it
 * receives (evchain_check) and the links between them (server/store_chain.c).
 *
 * A record is {"seq", "time", "mono", "type", "data", "prev"}; its hash is the SHA-256, in
 * lower-case hex, of its canonical text: jansson's compact serialisation with keys sorted
 * bytewise (JSON_COMPACT | JSON_SORT_KEYS). The first record of a host chains to
 * evchain_genesis(host_id). Hashes are never secret and the chain has no key: it proves
 * that what arrived is what was spooled, in order, with nothing removed, against anybody
 * who does not rewrite every record after the one they change (docs/protocol.md says what
 * that means in practice).
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "lib/macro.h"

#define EVCHAIN_HEX 65 /* a SHA-256 in lower-case hex and its NUL */

/* The event type an agent reports spool evictions with, and at most how many runs of
 * evicted sequence numbers one such event names (so it stays far below LIMIT_EVENT_SIZE). */
#define EVCHAIN_EVICTED_TYPE "agent.spool_evicted"
#define EVCHAIN_RUNS_MAX     256u

/* The fields of one record. data is a JSON object; prev is EVCHAIN_HEX - 1 hex digits. */
struct evchain_record {
	uint64_t seq; /* >= 1 */
	int64_t time_ms;
	int64_t mono_ms;
	const char *type;
	const json_t *data;
	const char *prev;
};

/* A run of consecutive sequence numbers first..last that an agent evicted unsent: prev is
 * the hash first linked to, hash the hash of `last`, so the chain continues across it. */
struct evchain_run {
	uint64_t first, last;
	char prev[EVCHAIN_HEX];
	char hash[EVCHAIN_HEX];
};

/* The value the first record of host_id links to: SHA-256("mamori.evchain.v1\n" host_id). */
int evchain_genesis(const char *host_id, char ret[EVCHAIN_HEX]) _wur_;

/* The hash of a record. -EINVAL when a field is out of shape, -ENOMEM. */
int evchain_hash(const struct evchain_record *rec, char ret[EVCHAIN_HEX]) _wur_;

/* Whether s is exactly EVCHAIN_HEX - 1 lower-case hex digits. */
bool evchain_is_hash(const char *s);

/* Milliseconds of CLOCK_BOOTTIME: the record's "mono", which keeps counting through
 * suspend and cannot be set, so an investigator can tell a wall clock that was moved. */
int64_t evchain_mono_ms(void);

/*
 * The agent's side. head holds the hash of the last record linked (the genesis value before
 * the first). evchain_link() makes the record seq/time/mono/type with data given as JSON
 * text (an object), links it to head, writes its hash to ret_hash and moves head on.
 * -EINVAL when data is not a JSON object (head unchanged), -ENOMEM.
 */
int evchain_link(char head[EVCHAIN_HEX], uint64_t seq, int64_t time_ms, int64_t mono_ms,
		 const char *type, const char *data, char ret_hash[EVCHAIN_HEX]) _wur_;

/* What evchain_check() found. */
enum evchain_verdict {
	EVCHAIN_OK,        /* prev and hash present and the hash is the record's */
	EVCHAIN_UNCHAINED, /* mono, prev or hash missing or out of shape: nothing to check */
	EVCHAIN_ALTERED,   /* the record is not the one its hash was computed for */
};

/*
 * The server's side, for one received event object {"seq", "time", "mono", "type", "data",
 * "prev", "hash", …} (other members are not part of the record). Returns the verdict, with
 * the hash the record really has in ret_computed (for EVCHAIN_OK and EVCHAIN_ALTERED), or
 * -EINVAL when seq, time, type or data are missing or out of shape, -ENOMEM.
 */
int evchain_check(const json_t *event, char ret_computed[EVCHAIN_HEX]) _wur_;

/*
 * Formats the data of an agent.spool_evicted event: {"count", "bytes", "oldest_seq",
 * "newest_seq", "runs": [{"first", "last", "prev", "hash"}, …]} as compact JSON text (the
 * caller's), with at most EVCHAIN_RUNS_MAX runs. oldest/newest 0 leave them out.
 */
int evchain_evicted_format(uint64_t count, uint64_t bytes, uint64_t oldest, uint64_t newest,
			   const struct evchain_run *runs, size_t n, char **ret) _wur_;

/*
 * Reads the runs of an agent.spool_evicted event's data into a new array (the caller's,
 * mm_free). A data object without "runs" gives 0 runs (agents before the chain). -EBADMSG
 * when runs is not an array of well-formed runs (first <= last, both >= 1, hex hashes) or
 * has more than EVCHAIN_RUNS_MAX, -ENOMEM.
 */
int evchain_evicted_parse(const json_t *data, struct evchain_run **ret, size_t *ret_n) _wur_;
