/*
 * The arithmetic of when the agent talks to the server: interval jitter, exponential
 * back-off after failures, Retry-After, and the drain rate that spreads a backlog over
 * time. Nothing here reads a clock or sleeps: every function takes the time it is asked
 * about and a random source, so unit tests drive it with a fake clock and a fixed seed
 * (the seam), and the daemon with CLOCK_MONOTONIC and getrandom().
 *
 * Why jitter everywhere: thousands of agents that lost the server at the same moment would
 * otherwise come back at the same moment, every time (docs/agent.md, "Timers").
 */
#include "agent/daemon.h"

void sched_rng_seed(struct sched_rng *r, uint64_t seed)
{
	r->state = seed;
}

/* splitmix64: small, fast, and good enough to spread timers. */
uint64_t sched_rng_next(struct sched_rng *r)
{
	uint64_t z = (r->state += UINT64_C(0x9e3779b97f4a7c15));

	z = (z ^ (z >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
	z = (z ^ (z >> 27)) * UINT64_C(0x94d049bb133111eb);
	return z ^ (z >> 31);
}

uint64_t sched_jitter(struct sched_rng *r, uint64_t base_ms, unsigned pct)
{
	uint64_t span, off;

	if (pct > 100)
		pct = 100;
	span = base_ms / 100 * pct + base_ms % 100 * pct / 100; /* base * pct / 100, no overflow */
	if (span == 0)
		return base_ms;
	off = sched_rng_next(r) % (2 * span + 1); /* 0 … 2·span */
	return base_ms - span + off;
}

uint64_t sched_backoff_fail(struct sched_backoff *b, struct sched_rng *r, uint64_t now_ms,
			    uint64_t retry_after_ms)
{
	uint64_t delay = SCHED_BACKOFF_MIN_MS;

	for (unsigned i = 0; i < b->failures && delay < SCHED_BACKOFF_MAX_MS; i++)
		delay *= 2;
	if (delay > SCHED_BACKOFF_MAX_MS)
		delay = SCHED_BACKOFF_MAX_MS;
	delay = sched_jitter(r, delay, SCHED_BACKOFF_JITTER);
	if (retry_after_ms > 0) {
		uint64_t ra = MIN(retry_after_ms, (uint64_t) SCHED_RETRY_AFTER_MAX_MS);

		/* The server said when: at least that, spread over the next 10 %. */
		ra += sched_rng_next(r) % (ra / 10 + 1);
		delay = ra;
	}
	if (b->failures < 64)
		b->failures++;
	b->until_ms = now_ms + delay;
	return delay;
}

void sched_backoff_reset(struct sched_backoff *b)
{
	b->failures = 0;
	b->until_ms = 0;
}

void sched_rate_init(struct sched_rate *r, unsigned per_second)
{
	r->interval_ms = per_second ? 1000u / per_second : 1000u;
	r->next_ms = 0;
}

uint64_t sched_rate_wait(const struct sched_rate *r, uint64_t now_ms)
{
	return now_ms >= r->next_ms ? 0 : r->next_ms - now_ms;
}

void sched_rate_take(struct sched_rate *r, uint64_t now_ms)
{
	/* No credit for idle time: a backlog is drained at the rate, never in a burst. */
	r->next_ms = MAX(now_ms, r->next_ms) + r->interval_ms;
}

/* A broken server must not turn its agents into a busy loop, nor silence them for months. */
int64_t sched_clamp_checkin(int64_t s)
{
	return s < 1 ? 1 : s > 86400 ? 86400 : s;
}

int64_t sched_clamp_inventory(int64_t s)
{
	return s < 10 ? 10 : s > (int64_t) 7 * 86400 ? (int64_t) 7 * 86400 : s;
}
