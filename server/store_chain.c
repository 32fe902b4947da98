/*
 * The event chain at ingest, for every backend: a batch is validated and serialised here
 * (store_chain_prepare, before any lock), then verified and stored event by event inside
 * the backend's write transaction (store_chain_ingest) through the primitives of struct
 * store_chain_io. docs/protocol.md ("Event chain") is the definition; this is what the
 * server does with it.
 *
 * For each event N of a host, in sequence order:
 *  - held already: the same record (same claimed hash, content intact) is a duplicate and
 *    skipped; anything else is a conflict, kept as evidence and not stored;
 *  - its hash is recomputed: a mismatch flags it ALTERED (evidence "altered");
 *  - its prev is compared with the hash of N-1: the event before it in the batch, a stored
 *    event, or the end of an evicted run an eviction report named; for N = 1 the host's
 *    genesis value. A mismatch flags it LINK (evidence "link" or "genesis"); when N-1 never
 *    arrived the link cannot be checked yet and N is flagged PENDING;
 *  - numbers skipped become a gap ("missing"); a late event fills its gap (split in two);
 *  - an event arriving into a gap is checked against the stored event after it, too;
 *  - an agent.spool_evicted event's runs turn the missing numbers they name into "evicted"
 *    gaps, and their edges are checked: the run's prev against the event before it, the
 *    run's hash against the prev of the event after it (clearing PENDING when it holds).
 * Events are stored whatever the verdict: an investigator needs what arrived and how it
 * failed. A link is checked with the hash the previous record claims (not the one
 * recomputed), so one altered record is reported once, at itself, and not again at its
 * successor. Limits: LIMIT_EVENT_BATCH events per batch; STORE_EVENT_TEXT_MAX bytes of
 * searchable text per event; EVCHAIN_RUNS_MAX runs per eviction report.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "lib/buf.h"
#include "lib/jsonw.h"
#include "lib/limits.h"
#include "lib/mm.h"
#include "lib/str.h"
#include "server/store_chain.h"

/* ---- preparing a batch ---- */

static bool record_member(const char *name)
{
	static const char *const names[] = {"seq", "time", "mono", "type", "data", "prev", "hash"};

	for (size_t i = 0; i < ARRAY_SIZE(names); i++)
		if (streq(name, names[i]))
			return true;
	return false;
}

/* Appends s to the text, '\n'-separated; stops (returning 1) once the ceiling is reached,
 * cutting at a character boundary. */
static int text_add(struct buf *b, const char *s)
{
	size_t room, n = strlen(s);

	if (n == 0)
		return 0;
	if (b->len + (b->len ? 1 : 0) >= STORE_EVENT_TEXT_MAX)
		return 1;
	if (b->len && buf_addc(b, '\n') < 0)
		return -ENOMEM;
	room = STORE_EVENT_TEXT_MAX - b->len;
	if (n <= room)
		return buf_add(b, s, n) < 0 ? -ENOMEM : 0;
	while (room > 0 && ((unsigned char) s[room] & 0xc0) == 0x80)
		room--;
	return buf_add(b, s, room) < 0 ? -ENOMEM : 1;
}

/* Every string in v, depth first, into b: paths, command lines, user names, SSIDs … */
static int collect_text(json_t *v, struct buf *b, unsigned depth)
{
	const char *key;
	json_t *child;
	size_t i;
	int r = 0;

	if (depth > LIMIT_JSON_DEPTH)
		return 0;
	if (json_is_string(v))
		return text_add(b, json_string_value(v));
	if (json_is_object(v)) {
		json_object_foreach (v, key, child)
			if ((r = collect_text(child, b, depth + 1)) != 0)
				return r;
	} else if (json_is_array(v)) {
		json_array_foreach (v, i, child)
			if ((r = collect_text(child, b, depth + 1)) != 0)
				return r;
	}
	return r;
}

static int prepare_one(json_t *v, size_t order, struct store_event *e)
{
	json_t *seq = json_object_get(v, "seq"), *t = json_object_get(v, "time");
	json_t *data = json_object_get(v, "data"), *m;
	_cleanup_(json_decrefp) json_t *extra = NULL, *empty = NULL;
	const char *name, *user;
	struct buf text;
	int r;

	e->order = order;
	e->type = json_string_value(json_object_get(v, "type"));
	if (!json_is_object(v) || !json_is_integer(seq) || json_integer_value(seq) < 1 ||
	    !json_is_integer(t) || !e->type || !*e->type || (data && !json_is_object(data)))
		return -EINVAL;
	e->seq = json_integer_value(seq);
	e->time_ms = json_integer_value(t);
	if (!data) {
		data = empty = json_object();
		if (!empty)
			return -ENOMEM;
	}
	json_object_foreach (v, name, m) {
		if (record_member(name))
			continue;
		if (!extra && !(extra = json_object()))
			return -ENOMEM;
		if (json_object_set(extra, name, m) < 0)
			return -ENOMEM;
	}
	/* events are stored as sent, not canonical: skipping the key sort is measurably faster */
	e->data = json_dumps(data, JSON_COMPACT);
	if (!e->data)
		return -ENOMEM;
	if (extra && !(e->extra = json_dumps(extra, JSON_COMPACT)))
		return -ENOMEM;
	buf_init(&text, STORE_EVENT_TEXT_MAX);
	r = collect_text(data, &text, 0);
	if (r < 0) {
		buf_done(&text);
		return r;
	}
	e->text = buf_take(&text, NULL);
	if (!e->text)
		return -ENOMEM;
	user = json_string_value(json_object_get(data, "user"));
	if (user && *user && strlen(user) <= STORE_EVENT_USER_MAX && !(e->user = mm_strdup(user)))
		return -ENOMEM;

	r = empty ? EVCHAIN_UNCHAINED : evchain_check(v, e->computed);
	if (r < 0)
		return r;
	if (r == EVCHAIN_UNCHAINED) {
		e->flags |= STORE_CHAIN_UNCHAINED;
		e->computed[0] = '\0';
	} else {
		e->mono_ms = json_integer_value(json_object_get(v, "mono"));
		memcpy(e->prev, json_string_value(json_object_get(v, "prev")), EVCHAIN_HEX);
		memcpy(e->hash, json_string_value(json_object_get(v, "hash")), EVCHAIN_HEX);
		if (r == EVCHAIN_ALTERED)
			e->flags |= STORE_CHAIN_ALTERED;
	}
	if (streq(e->type, EVCHAIN_EVICTED_TYPE)) {
		r = evchain_evicted_parse(data, &e->runs, &e->n_runs);
		if (r == -ENOMEM)
			return r;
		e->bad_report = r < 0;
	}
	return 0;
}

static int by_seq(const void *a, const void *b)
{
	const struct store_event *x = a, *y = b;

	if (x->seq != y->seq)
		return x->seq < y->seq ? -1 : 1;
	return x->order < y->order ? -1 : x->order > y->order;
}

void store_chain_events_free(struct store_event *ev, size_t n)
{
	if (!ev)
		return;
	for (size_t i = 0; i < n; i++) {
		mm_free(ev[i].data);
		mm_free(ev[i].extra);
		mm_free(ev[i].text);
		mm_free(ev[i].user);
		mm_free(ev[i].runs);
	}
	mm_free(ev);
}

int store_chain_prepare(json_t *events, struct store_event **ret, size_t *ret_n)
{
	struct store_event *ev;
	size_t n, i;
	json_t *v;
	int r;

	if (!json_is_array(events))
		return -EINVAL;
	n = json_array_size(events);
	if (n > LIMIT_EVENT_BATCH)
		return -E2BIG;
	ev = mm_calloc(n ? n : 1, sizeof(*ev));
	if (!ev)
		return -ENOMEM;
	json_array_foreach (events, i, v) {
		r = prepare_one(v, i, &ev[i]);
		if (r < 0) {
			store_chain_events_free(ev, n);
			return r;
		}
	}
	qsort(ev, n, sizeof(*ev), by_seq);
	*ret = ev;
	*ret_n = n;
	return 0;
}

const char *store_chain_flags_string(unsigned flags)
{
	static const char *const names[] = {
		[0] = "ok",
		[STORE_CHAIN_ALTERED] = "altered",
		[STORE_CHAIN_LINK] = "link",
		[STORE_CHAIN_ALTERED | STORE_CHAIN_LINK] = "altered,link",
		[STORE_CHAIN_UNCHAINED] = "unchained",
		[STORE_CHAIN_PENDING] = "unverified",
		[STORE_CHAIN_ALTERED | STORE_CHAIN_PENDING] = "altered,unverified",
	};

	flags &= 15;
	if (flags < ARRAY_SIZE(names) && names[flags])
		return names[flags];
	return "inconsistent"; /* combinations ingestion never makes */
}

/* ---- verifying and storing ---- */

struct engine {
	const struct store_chain_io *io;
	struct store_ingest_result *res;
	char genesis[EVCHAIN_HEX];
	int64_t max_seq;
	/* the event handled last in this batch: a contiguous batch looks nothing up */
	bool have_last;
	int64_t last_seq;
	char last_hash[EVCHAIN_HEX];
	/* the run of unchained events not yet recorded (0: none) */
	int64_t unchained_first, unchained_last;
};

static int evidence(struct engine *en, const char *kind, int64_t first, int64_t last,
		    json_t *detail);

static int flush_unchained(struct engine *en)
{
	int64_t first = en->unchained_first;

	if (!first)
		return 0;
	en->unchained_first = 0;
	return evidence(en, "unchained", first, en->unchained_last, NULL);
}

enum pred {
	PRED_HASH,      /* the predecessor's hash is known */
	PRED_UNCHAINED, /* the predecessor is held but came without a hash */
	PRED_MISSING,   /* the predecessor never arrived */
};

/* What seq's predecessor hashes to (into hash). */
static int pred_of(struct engine *en, int64_t seq, char hash[EVCHAIN_HEX])
{
	struct store_chain_held h;
	struct store_chain_gap g;
	int r;

	if (seq == 1) {
		memcpy(hash, en->genesis, EVCHAIN_HEX);
		return PRED_HASH;
	}
	if (en->have_last && en->last_seq == seq - 1) {
		memcpy(hash, en->last_hash, EVCHAIN_HEX);
		return hash[0] ? PRED_HASH : PRED_UNCHAINED;
	}
	r = en->io->get_event(en->io->ctx, seq - 1, &h);
	if (r < 0)
		return r;
	if (r > 0) {
		memcpy(hash, h.hash, EVCHAIN_HEX);
		return hash[0] ? PRED_HASH : PRED_UNCHAINED;
	}
	r = en->io->gap_from(en->io->ctx, seq - 1, &g);
	if (r < 0)
		return r;
	if (r > 0 && g.evicted && g.last == seq - 1 && g.hash[0]) {
		memcpy(hash, g.hash, EVCHAIN_HEX);
		return PRED_HASH;
	}
	return PRED_MISSING;
}

static int evidence(struct engine *en, const char *kind, int64_t first, int64_t last,
		    json_t *detail)
{
	return en->io->evidence(en->io->ctx, kind, first, last, detail);
}

/* Evidence with a two-hash detail {"expected", "prev"} (a link that does not hold). */
static int evidence_link(struct engine *en, const char *kind, int64_t seq, const char *expected,
			 const char *prev, const char *why)
{
	_cleanup_(json_decrefp) json_t *d =
		json_pack("{ssssss}", "expected", expected, "prev", prev, "why", why);

	if (!d)
		return -ENOMEM;
	return evidence(en, kind, seq, seq, d);
}

/* The event as received, for conflict evidence. */
static json_t *as_received(const struct store_event *e)
{
	_cleanup_(json_decrefp) json_t *data = json_loads(e->data, 0, NULL);

	if (!data)
		return NULL;
	return json_pack("{sIsIsIsssOssss}", "seq", (json_int_t) e->seq, "time",
			 (json_int_t) e->time_ms, "mono", (json_int_t) e->mono_ms, "type", e->type,
			 "data", data, "prev", e->prev, "hash", e->hash);
}

/* A record for a seq already held: a duplicate (0) or a conflict (recorded, 1). */
static int held_again(struct engine *en, const struct store_event *e,
		      const struct store_chain_held *h)
{
	_cleanup_(json_decrefp) json_t *d = NULL;

	if (!(e->flags & STORE_CHAIN_ALTERED) && streq(h->hash, e->hash))
		return 0; /* the same record, or both unchained: a retry */
	d = json_pack("{sssss{}}", "stored_hash", h->hash, "why",
		      e->flags & STORE_CHAIN_ALTERED
			      ? "a second copy of a stored event arrived altered"
			      : "a different record arrived for a sequence number already stored",
		      "received");
	if (!d || jsonw_set(d, "received", as_received(e)) < 0)
		return -ENOMEM;
	en->res->conflicts++;
	return evidence(en, "conflict", e->seq, e->seq, d) < 0 ? -ENOMEM : 1;
}

/* Splits the gap holding seq around it; a late event arrived into it. */
static int fill_gap(struct engine *en, const struct store_event *e)
{
	struct store_chain_gap g, left, right;
	int r = en->io->gap_from(en->io->ctx, e->seq, &g);

	if (r <= 0 || g.first > e->seq)
		return r; /* below the numbering's start, or purged: nothing to fill */
	r = en->io->gap_delete(en->io->ctx, g.first);
	if (r < 0)
		return r;
	left = g;
	left.last = e->seq - 1;
	left.hash[0] = '\0';
	right = g;
	right.first = e->seq + 1;
	right.prev[0] = '\0';
	if (left.first <= left.last && (r = en->io->gap_insert(en->io->ctx, &left)) < 0)
		return r;
	if (right.first <= right.last && (r = en->io->gap_insert(en->io->ctx, &right)) < 0)
		return r;
	if (g.evicted) {
		_cleanup_(json_decrefp) json_t *d =
			json_pack("{sIss}", "report_seq", (json_int_t) g.report_seq, "why",
				  "an event its agent had reported evicted arrived after all");

		if (!d)
			return -ENOMEM;
		en->res->conflicts++;
		return evidence(en, "conflict", e->seq, e->seq, d);
	}
	return 0;
}

/* Checks the stored event after seq against hash (the hash seq's record claims). */
static int check_successor(struct engine *en, int64_t seq, const char *hash, const char *why)
{
	struct store_chain_held s;
	int r = en->io->get_event(en->io->ctx, seq + 1, &s);

	if (r <= 0 || !s.hash[0] || !hash[0])
		return r;
	if (streq(s.prev, hash))
		return s.flags & STORE_CHAIN_PENDING
			       ? en->io->set_flags(en->io->ctx, seq + 1,
						   s.flags & ~(unsigned) STORE_CHAIN_PENDING)
			       : 0;
	if (s.flags & STORE_CHAIN_LINK)
		return 0;
	r = en->io->set_flags(en->io->ctx, seq + 1,
			      (s.flags | STORE_CHAIN_LINK) & ~(unsigned) STORE_CHAIN_PENDING);
	if (r < 0)
		return r;
	en->res->broken++;
	return evidence_link(en, "link", seq + 1, hash, s.prev, why);
}

/* The eviction report names numbers at or after its own: not a report of evictions. */
static int run_past_report(struct engine *en, int64_t first, int64_t last, int64_t report)
{
	_cleanup_(json_decrefp) json_t *d =
		json_pack("{sIss}", "report_seq", (json_int_t) report, "why",
			  "an eviction report names numbers at or after its own");

	if (!d)
		return -ENOMEM;
	return evidence(en, "bad_report", first, last, d);
}

/* Turns the missing numbers of one run into an evicted gap, then checks its edges. */
static int apply_run(struct engine *en, const struct evchain_run *run, int64_t report)
{
	int64_t a = (int64_t) run->first, b = (int64_t) run->last, cur = a;
	struct store_chain_gap g;
	char hash[EVCHAIN_HEX];
	int r;

	if (run->last >= (uint64_t) report)
		return run_past_report(en, a, b, report);
	/* Numbers of the run the server holds are stepped over: an event uploaded and then
	 * evicted before its acknowledgement came back is in the store and in the report,
	 * which hides nothing. */
	while (cur <= b) {
		struct store_chain_gap part;
		int64_t end;

		r = en->io->gap_from(en->io->ctx, cur, &g);
		if (r < 0)
			return r;
		if (r == 0 || g.first > b)
			break;
		if (g.first > cur)
			cur = g.first;
		end = MIN(g.last, b);
		if (!g.evicted) {
			r = en->io->gap_delete(en->io->ctx, g.first);
			if (r < 0)
				return r;
			if (g.first < cur) {
				part = g;
				part.last = cur - 1;
				if ((r = en->io->gap_insert(en->io->ctx, &part)) < 0)
					return r;
			}
			part = (struct store_chain_gap){
				.first = cur, .last = end, .evicted = true, .report_seq = report};
			if (cur == a)
				memcpy(part.prev, run->prev, EVCHAIN_HEX);
			if (end == b)
				memcpy(part.hash, run->hash, EVCHAIN_HEX);
			if ((r = en->io->gap_insert(en->io->ctx, &part)) < 0)
				return r;
			if (end < g.last) {
				part = g;
				part.first = end + 1;
				if ((r = en->io->gap_insert(en->io->ctx, &part)) < 0)
					return r;
			}
			en->res->explained += (size_t) (end - cur + 1);
		}
		cur = end + 1;
	}

	/* The run's start: what it says it linked to must be what the server holds. */
	r = pred_of(en, a, hash);
	if (r < 0)
		return r;
	if (r == PRED_HASH && !streq(hash, run->prev)) {
		r = evidence_link(en, "eviction_edge", a, hash, run->prev,
				  "the evicted run does not start where the stored events end");
		if (r < 0)
			return r;
	} else if (r == PRED_MISSING && a > 1 && streq(run->prev, en->genesis)) {
		/* the host's numbering starts with this run (enrolled after numbering began) */
		r = en->io->gap_from(en->io->ctx, 1, &g);
		if (r < 0)
			return r;
		if (r > 0 && g.first == 1 && g.last == a - 1 && !g.evicted &&
		    (r = en->io->gap_delete(en->io->ctx, 1)) < 0)
			return r;
	}
	/* Its end: the event after it must link to the run's last hash. */
	return check_successor(en, b, run->hash,
			       "the event after an evicted run does not link to the run's end");
}

static int report_runs(struct engine *en, const struct store_event *e)
{
	int r;

	if (e->bad_report || (e->flags & (STORE_CHAIN_ALTERED | STORE_CHAIN_UNCHAINED))) {
		_cleanup_(json_decrefp) json_t *d = json_pack(
			"{ss}", "why",
			e->bad_report ? "the eviction report's runs are malformed"
				      : "the eviction report is not intact: its runs are not used");

		if (!d)
			return -ENOMEM;
		return e->n_runs || e->bad_report ? evidence(en, "bad_report", e->seq, e->seq, d)
						  : 0;
	}
	for (size_t i = 0; i < e->n_runs; i++)
		if ((r = apply_run(en, &e->runs[i], e->seq)) < 0)
			return r;
	return 0;
}

static int ingest_one(struct engine *en, const struct store_event *e)
{
	struct store_chain_held h;
	int64_t old_max = en->max_seq;
	unsigned flags = e->flags;
	char hash[EVCHAIN_HEX] = "";
	int pred = PRED_UNCHAINED, r;

	if (e->seq <= en->max_seq) {
		r = en->io->get_event(en->io->ctx, e->seq, &h);
		if (r < 0)
			return r;
		if (r > 0) {
			r = held_again(en, e, &h);
			if (r == 0)
				en->res->duplicates++;
			return r < 0 ? r : 0;
		}
	}
	if (!(flags & STORE_CHAIN_UNCHAINED)) {
		pred = pred_of(en, e->seq, hash);
		if (pred < 0)
			return pred;
	}

	/* The numbering: a jump opens a gap, a late event fills one. */
	if (e->seq > en->max_seq) {
		bool start =
			en->max_seq == 0 && pred == PRED_MISSING && streq(e->prev, en->genesis);

		if (e->seq > en->max_seq + 1 && !start) {
			struct store_chain_gap g = {.first = en->max_seq + 1, .last = e->seq - 1};

			r = en->io->gap_insert(en->io->ctx, &g);
			if (r < 0)
				return r;
			en->res->gaps++;
			en->res->missing += (uint64_t) (g.last - g.first + 1);
		}
		if (start) { /* the host's numbering starts here (enrolled after it began) */
			pred = PRED_HASH;
			memcpy(hash, en->genesis, EVCHAIN_HEX);
		}
		en->max_seq = e->seq;
	} else if ((r = fill_gap(en, e)) < 0) {
		return r;
	}

	if (pred == PRED_HASH && !streq(hash, e->prev))
		flags |= STORE_CHAIN_LINK;
	else if (pred == PRED_MISSING)
		flags |= STORE_CHAIN_PENDING;
	r = en->io->insert_event(en->io->ctx, e, flags);
	if (r < 0)
		return r;
	en->res->stored++;

	if (flags & STORE_CHAIN_ALTERED) {
		_cleanup_(json_decrefp) json_t *d =
			json_pack("{ssssss}", "hash", e->hash, "computed", e->computed, "why",
				  "the event is not the record its hash was computed for");

		en->res->altered++;
		if (!d || (r = evidence(en, "altered", e->seq, e->seq, d)) < 0)
			return r < 0 ? r : -ENOMEM;
	}
	if (flags & STORE_CHAIN_LINK) {
		en->res->broken++;
		r = evidence_link(en, e->seq == 1 ? "genesis" : "link", e->seq, hash, e->prev,
				  e->seq == 1 ? "the first event does not link to the host's "
						"genesis value"
					      : "the event does not link to the one before it");
		if (r < 0)
			return r;
	}
	if (flags & STORE_CHAIN_UNCHAINED) {
		en->res->unchained++;
		/* a run of them makes one evidence row, written when the run ends */
		if (en->unchained_first && en->unchained_last == e->seq - 1) {
			en->unchained_last = e->seq;
		} else {
			r = flush_unchained(en);
			if (r < 0)
				return r;
			en->unchained_first = en->unchained_last = e->seq;
		}
	}
	if (e->seq < old_max) {
		r = check_successor(en, e->seq, e->hash,
				    "a stored event does not link to the late event before it");
		if (r < 0)
			return r;
	}
	en->have_last = true;
	en->last_seq = e->seq;
	memcpy(en->last_hash, e->hash, EVCHAIN_HEX);
	if (streq(e->type, EVCHAIN_EVICTED_TYPE))
		return report_runs(en, e);
	return 0;
}

int store_chain_ingest(const struct store_chain_io *io, const char *host_id,
		       const struct store_event *ev, size_t n, int64_t *io_max_seq,
		       struct store_ingest_result *ret)
{
	struct engine en = {.io = io, .res = ret, .max_seq = *io_max_seq};
	int r = evchain_genesis(host_id, en.genesis);

	if (r < 0)
		return r;
	for (size_t i = 0; i < n; i++) {
		r = ingest_one(&en, &ev[i]);
		if (r < 0)
			return r;
	}
	r = flush_unchained(&en);
	if (r < 0)
		return r;
	*io_max_seq = en.max_seq;
	return 0;
}
