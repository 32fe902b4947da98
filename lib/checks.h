/*
 * The automated checks of the guideline catalogue (docs/catalog.md, "Checks"): pure
 * functions over one host's facts — its inventory document and a few facts only the server
 * knows — that decide met, not met, unknown or not applicable and say which fact values
 * they used. Shared by the agent (the teleworker's self-check, with no server facts) and
 * the server (the scorecard).
 *
 * A check never reads files, the clock or the store: everything comes in through
 * struct checks_input, so the same facts always give the same answer and tests pin time
 * with `now`. Missing facts give "unknown", never a guess. Thresholds come from the
 * measure's Param-* fields, which an organisation may override (checks_validate() says
 * which parameters each check takes).
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include <jansson.h>

#include "lib/catalog.h"
#include "lib/diag.h"
#include "lib/macro.h"

enum checks_status {
	CHECKS_MET,
	CHECKS_NOT_MET,
	CHECKS_UNKNOWN,
	CHECKS_NOT_APPLICABLE,
	CHECKS_STATUS_MAX,
};

/* "met", "not_met", "unknown", "not_applicable". */
const char *checks_status_name(enum checks_status s);
/* The inverse of checks_status_name(); -EINVAL for any other text. */
int checks_status_from_name(const char *name, enum checks_status *ret) _wur_;

/* The days of events a summary keeps, and so the longest window a check may ask for. */
#define CHECKS_EVENT_DAYS 92

/*
 * What the server knows about a host beyond its inventory. Unknown values are -1 (times,
 * counts) or NULL. On the agent there is none: checks_input.host is NULL and checks that
 * need it answer "unknown" with the reason in their evidence.
 */
struct checks_host {
	int64_t last_inventory; /* Unix seconds of the last inventory upload; -1: never */
	const char *owner;      /* NULL: not known; "": nobody assigned */
	int64_t policy_version; /* device-control policy version the agent reports; -1 unknown */
	int64_t vuln_matches;   /* vulnerability matches of its software; -1 unknown */
	/* The host's event summary (checks_events_summarise()); NULL: none kept. */
	const json_t *events;
};

struct checks_input {
	const json_t *doc;              /* the inventory document; may be partial, empty or NULL */
	const struct checks_host *host; /* NULL on the agent */
	int64_t now;                    /* Unix seconds */
};

/*
 * Runs the check the automated `measure` names, with the measure's parameters. On success
 * *ret_status is the verdict and *ret_evidence a new object holding the fact values used
 * (the caller's). -ENOENT when the measure names no known check (or none), -ENOMEM.
 */
int checks_run(const struct catalog_stanza *measure, const struct checks_input *in,
	       enum checks_status *ret_status, json_t **ret_evidence) _wur_;

/* Whether `name` is a known check: catalog_validate()'s `known` callback. */
bool checks_known(const char *name);

/* Whether the check can decide from the inventory alone (the agent's self-check), or
 * needs what only the server records (events, owner, policy, vulnerability matches). */
bool checks_local(const char *name);

/*
 * Checks every automated measure's Param-* fields against what its check takes: unknown
 * parameters, numbers out of range, malformed lists. Errors go to d with file:line.
 * Returns 0, -EINVAL when it found any, -ENOMEM.
 */
int checks_validate(const struct catalog *c, struct diag *d) _wur_;

/* The most JSON paths one item may drop or keep (struct checks_item). */
#define CHECKS_ITEM_DROP_MAX 8
#define CHECKS_ITEM_KEEP_MAX 48

/*
 * An inventory item the checks read: a section's attributes item (list NULL) or the
 * elements of a keyed list. What the checks read of it is named twice, for two kinds of
 * loaders:
 *   - keep: the paths the checks read, for checks_item_parse(), which copies only those
 *     out of the stored text before parsing it ("$.a.b": member b of object a, whole;
 *     "$.a[].b": member b of each element of array a; "$.a[]": array a with the objects in
 *     it emptied, for checks that only count them). Members of objects on the way that no
 *     path names are left out; anything else (absent members, values that are not
 *     objects where a path expects one, null) is exactly as stored.
 *   - drop: members at these "$.a.b" paths (NULL-terminated), which the checks never look
 *     at: a store may remove them before handing the value over (SQLite's json_remove),
 *     leaving the rest for checks_item_parse().
 * Both may be applied; keep alone gives the checks the same answers and evidence as the
 * whole item (tests/unit/test-checks.c holds the two against each other).
 */
struct checks_item {
	const char *section;
	const char *list;
	const char *drop[CHECKS_ITEM_DROP_MAX + 1];
	const char *keep[CHECKS_ITEM_KEEP_MAX + 1];
};

/*
 * Parses one stored item's JSON text (len bytes) as the checks need it: only the members
 * at item->keep (all of it when keep is empty), then jansson. Returns the value, or NULL
 * when the text is not JSON (*ret_error, optional, then holds jansson's words) or memory
 * ran out. The members left out are stepped over, not validated.
 */
json_t *checks_item_parse(const struct checks_item *item, const char *text, size_t len,
			  json_error_t *ret_error);

/*
 * Every item the checks read, ended by one whose section is NULL. The server loads only
 * these for evaluation: never a host's software packages (thousands of items), never the
 * members listed in drop.
 */
extern const struct checks_item checks_inventory_items[];

/* How long after joining an open Wi-Fi network a VPN may come up and still cover the
 * join (seconds): the network must be up before a VPN can connect over it. */
#define CHECKS_VPN_GRACE 300

/*
 * Folds a batch of events (an array of {"seq", "time" (ms), "type", "data"}, in sequence
 * order) into a host's event summary `summary` (an object, possibly empty), keeping
 * CHECKS_EVENT_DAYS days before `now`:
 *   {"last_event": SECONDS, "wifi_monitored": BOOL, "vpn_up": [INTERFACE…],
 *    "open_pending": {"time", "ssid"}, "open_last": {"time", "ssid"},
 *    "days": {"DAY": {"open_wifi": N}}}   (DAY: Unix day number, as text)
 * What counts, by the types and fields the agent's network monitor emits (agent/mon_net.c,
 * docs/events.md): every event moves last_event; "net.wifi_join" shows Wi-Fi joins are
 * monitored; "net.vpn_up" and "net.vpn_down" follow which VPN interfaces are up
 * ("agent.start" forgets them). A join of an open network (data.open true, or
 * data.security "open"/"none") with no VPN up (data.vpn, which the agent reports, else
 * the VPN interfaces followed) is pending: a "net.vpn_up" within CHECKS_VPN_GRACE seconds
 * covers it; otherwise it counts as an open Wi-Fi join without VPN on its day, once an
 * event past the grace time or another join arrives (and the check counts one still
 * pending past the grace time). Evidence gaps are not guessed from events: they are the
 * event chain's findings (checks_events_chain()). Malformed events are skipped. Returns 0
 * or -ENOMEM (the summary may then be partly updated: callers work on a copy).
 */
int checks_events_summarise(json_t *summary, const json_t *events, int64_t now) _wur_;

/* Rows of the chain's findings a store hands to checks_events_chain(), of each kind, and
 * the ranges of each a summary keeps to name in evidence. */
#define CHECKS_CHAIN_ROWS   1000
#define CHECKS_CHAIN_RANGES 16

/*
 * Replaces the event-chain findings in a host's event summary with what the store's
 * verification of the chain holds now (docs/protocol.md, "Event chain"), so the checks
 * decide evidence gaps from the chain and nothing else:
 *   gaps:   [{"first_seq", "last_seq", "reason" ("missing" or "evicted"), "detected"}]
 *   breaks: [{"kind" ("altered", "link", "genesis", "conflict", …; never "unchained"),
 *            "first_seq", "last_seq", "detected"}]
 * each the rows detected (Unix seconds) within CHECKS_EVENT_DAYS days before now, newest
 * first, at most CHECKS_CHAIN_ROWS; `truncated` says there were more (the counts are then
 * lower bounds). The summary gets
 *   "chain": {"gap_days": {"DAY": N}, "break_days": {"DAY": N}, "truncated": BOOL,
 *             "gaps": [newest CHECKS_CHAIN_RANGES gaps], "breaks": [… breaks]}
 * Ill-shaped rows are skipped. A store that does not verify the chain never calls this,
 * and the checks then say the findings are unknown. Returns 0 or -ENOMEM.
 */
int checks_events_chain(json_t *summary, const json_t *gaps, const json_t *breaks, bool truncated,
			int64_t now) _wur_;
