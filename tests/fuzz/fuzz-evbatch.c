/*
 * Fuzzes the server's event-chain verification over arbitrary JSON: an event batch (an
 * array of events, {"events": [...]}, or an array of such batches, ingested one after the
 * other) goes through store_chain_prepare() and store_chain_ingest() over an in-memory
 * store, and the store's invariants are checked after each batch: gaps are well formed,
 * disjoint and never cover a held event, nothing lies past the highest sequence number, and
 * the primitives are only asked for what makes sense (a gap deleted exists). A violation
 * traps.
 */
#include <errno.h>
#include <stdint.h>
#include <string.h>

#include "lib/jsonw.h"
#include "lib/limits.h"
#include "lib/mm.h"
#include "server/store_chain.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define BATCHES_MAX 8

struct held {
	int64_t seq;
	struct store_chain_held h;
};

struct mem {
	struct held *ev;
	size_t n_ev, cap_ev;
	struct store_chain_gap *gaps;
	size_t n_gaps, cap_gaps;
	size_t evidence;
};

static struct held *find(struct mem *m, int64_t seq)
{
	for (size_t i = 0; i < m->n_ev; i++)
		if (m->ev[i].seq == seq)
			return &m->ev[i];
	return NULL;
}

static int get_event(void *ctx, int64_t seq, struct store_chain_held *ret)
{
	struct held *h = find(ctx, seq);

	if (!h)
		return 0;
	*ret = h->h;
	return 1;
}

static int insert_event(void *ctx, const struct store_event *e, unsigned flags)
{
	struct mem *m = ctx;
	struct held *h;

	if (find(m, e->seq))
		__builtin_trap(); /* (host, seq) is unique */
	if (m->n_ev == m->cap_ev) {
		size_t cap = m->cap_ev ? 2 * m->cap_ev : 64;
		struct held *p = mm_reallocarray(m->ev, cap, sizeof(*p));

		if (!p)
			return -ENOMEM;
		m->ev = p;
		m->cap_ev = cap;
	}
	h = &m->ev[m->n_ev++];
	h->seq = e->seq;
	memcpy(h->h.hash, e->hash, EVCHAIN_HEX);
	memcpy(h->h.prev, e->prev, EVCHAIN_HEX);
	h->h.flags = flags;
	return 0;
}

static int set_flags(void *ctx, int64_t seq, unsigned flags)
{
	struct held *h = find(ctx, seq);

	if (!h)
		__builtin_trap(); /* only stored events are flagged */
	h->h.flags = flags;
	return 0;
}

static int gap_from(void *ctx, int64_t seq, struct store_chain_gap *ret)
{
	struct mem *m = ctx;
	const struct store_chain_gap *best = NULL;

	for (size_t i = 0; i < m->n_gaps; i++) {
		const struct store_chain_gap *g = &m->gaps[i];

		if (g->last >= seq && (!best || g->first < best->first))
			best = g;
	}
	if (!best)
		return 0;
	*ret = *best;
	return 1;
}

static int gap_insert(void *ctx, const struct store_chain_gap *g)
{
	struct mem *m = ctx;

	if (g->first < 1 || g->first > g->last)
		__builtin_trap();
	for (size_t i = 0; i < m->n_gaps; i++)
		if (!(g->last < m->gaps[i].first || g->first > m->gaps[i].last))
			__builtin_trap(); /* gaps never overlap */
	if (m->n_gaps == m->cap_gaps) {
		size_t cap = m->cap_gaps ? 2 * m->cap_gaps : 64;
		struct store_chain_gap *p = mm_reallocarray(m->gaps, cap, sizeof(*p));

		if (!p)
			return -ENOMEM;
		m->gaps = p;
		m->cap_gaps = cap;
	}
	m->gaps[m->n_gaps++] = *g;
	return 0;
}

static int gap_delete(void *ctx, int64_t first)
{
	struct mem *m = ctx;

	for (size_t i = 0; i < m->n_gaps; i++)
		if (m->gaps[i].first == first) {
			m->gaps[i] = m->gaps[--m->n_gaps];
			return 0;
		}
	__builtin_trap(); /* only existing gaps are deleted */
}

static int evidence(void *ctx, const char *kind, int64_t first, int64_t last, json_t *detail)
{
	struct mem *m = ctx;

	(void) detail;
	if (!kind || !*kind || first > last)
		__builtin_trap();
	m->evidence++;
	return 0;
}

static void check(struct mem *m, int64_t max_seq)
{
	for (size_t i = 0; i < m->n_gaps; i++) {
		const struct store_chain_gap *g = &m->gaps[i];

		if (g->last > max_seq)
			__builtin_trap();
		/* a gap holds no stored event (a short scan: gaps can be huge) */
		for (size_t k = 0; k < m->n_ev; k++)
			if (m->ev[k].seq >= g->first && m->ev[k].seq <= g->last)
				__builtin_trap();
	}
	for (size_t k = 0; k < m->n_ev; k++)
		if (m->ev[k].seq > max_seq)
			__builtin_trap();
}

static void ingest(struct mem *m, json_t *batch, int64_t *max_seq)
{
	const struct store_chain_io io = {
		.ctx = m,
		.get_event = get_event,
		.insert_event = insert_event,
		.set_flags = set_flags,
		.gap_from = gap_from,
		.gap_insert = gap_insert,
		.gap_delete = gap_delete,
		.evidence = evidence,
	};
	struct store_ingest_result res = {0};
	struct store_event *ev = NULL;
	size_t n = 0;

	if (json_is_object(batch))
		batch = json_object_get(batch, "events");
	if (store_chain_prepare(batch, &ev, &n) < 0)
		return;
	if (store_chain_ingest(&io, "7f7c0000-0000-4000-8000-000000000001", ev, n, max_seq, &res) ==
	    0)
		check(m, *max_seq);
	store_chain_events_free(ev, n);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct mem m = {0};
	json_t *v = NULL, *b;
	int64_t max_seq = 0;
	char *text;
	size_t i;

	if (size > LIMIT_AGENT_BODY)
		return 0;
	mm_setup_jansson();
	text = mm_malloc(size + 1);
	if (!text)
		return 0;
	memcpy(text, data, size);
	text[size] = '\0';
	if (jsonw_parse(text, size, LIMIT_AGENT_BODY, &v, NULL) == 0) {
		/* several batches: an array whose first member is an array or a batch object */
		b = json_array_get(v, 0);
		if (json_is_array(b) || json_is_object(json_object_get(b, "events")) ||
		    json_is_array(json_object_get(b, "events"))) {
			json_array_foreach (v, i, b) {
				if (i >= BATCHES_MAX)
					break;
				ingest(&m, b, &max_seq);
			}
		} else {
			ingest(&m, v, &max_seq);
		}
		json_decref(v);
	}
	mm_free(m.ev);
	mm_free(m.gaps);
	mm_free(text);
	return 0;
}
