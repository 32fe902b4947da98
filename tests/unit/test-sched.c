/*
 * The scheduling arithmetic, driven by a fake clock (plain numbers) and a seeded random
 * source: jitter stays within its bounds and actually spreads, back-off doubles from 1 s
 * to 15 min with ±25 %, Retry-After is honoured, the drain rate spaces batches and gives
 * no burst after idling, and intervals from the server are clamped.
 */
#include "agent/daemon.h"
#include "tests/tap.h"

static void test_jitter(void)
{
	struct sched_rng r;
	uint64_t lo = UINT64_MAX, hi = 0;
	bool in = true;

	sched_rng_seed(&r, 42);
	for (int i = 0; i < 10000; i++) {
		uint64_t v = sched_jitter(&r, 300000, 10);

		in = in && v >= 270000 && v <= 330000;
		lo = MIN(lo, v);
		hi = MAX(hi, v);
	}
	CHECK(in, "a 300 s interval with ±10 %% stays within 270..330 s");
	CHECK(lo < 273000 && hi > 327000, "and uses the whole range (%llu..%llu ms)",
	      (unsigned long long) lo, (unsigned long long) hi);
	CHECK_INT(sched_jitter(&r, 5, 10), 5, "too small to jitter is left alone");
	CHECK(sched_jitter(&r, UINT64_MAX / 2, 25) >= UINT64_MAX / 2 / 100 * 75,
	      "huge values do not overflow");
}

static void test_backoff(void)
{
	struct sched_rng r;
	struct sched_backoff b = {0};
	uint64_t now = 1000000, expect = 1000;
	bool ok = true;

	sched_rng_seed(&r, 7);
	for (int i = 0; i < 14; i++) {
		uint64_t d = sched_backoff_fail(&b, &r, now, 0);

		if (d < expect * 3 / 4 || d > expect * 5 / 4 || b.until_ms != now + d) {
			printf("# failure %d: delay %llu, expected %llu ±25 %%\n", i + 1,
			       (unsigned long long) d, (unsigned long long) expect);
			ok = false;
		}
		expect = MIN(expect * 2, (uint64_t) SCHED_BACKOFF_MAX_MS);
		now += d;
	}
	CHECK(ok, "delays double from 1 s to 15 min, each within ±25 %%, from the clock given");
	CHECK_INT(b.failures, 14, "failures are counted");
	sched_backoff_reset(&b);
	CHECK(b.failures == 0 && b.until_ms == 0, "a success resets the back-off");
	{
		uint64_t d = sched_backoff_fail(&b, &r, now, 0);

		CHECK(d >= 750 && d <= 1250, "and the next failure waits about 1 s again (%llu)",
		      (unsigned long long) d);
	}
	{
		uint64_t d = sched_backoff_fail(&b, &r, now, 30000);

		CHECK(d >= 30000 && d <= 33000, "Retry-After: 30 is honoured (%llu ms)",
		      (unsigned long long) d);
	}
	{
		uint64_t d = sched_backoff_fail(&b, &r, now, 36000000);

		CHECK(d >= SCHED_RETRY_AFTER_MAX_MS && d <= SCHED_RETRY_AFTER_MAX_MS / 10 * 11,
		      "a Retry-After of 10 h is capped at 1 h (%llu ms)", (unsigned long long) d);
	}
	{
		struct sched_rng a, c;
		struct sched_backoff ba = {0}, bc = {0};
		int same = 0;

		sched_rng_seed(&a, 1);
		sched_rng_seed(&c, 2);
		for (int i = 0; i < 20; i++)
			same += sched_backoff_fail(&ba, &a, 0, 0) ==
				sched_backoff_fail(&bc, &c, 0, 0);
		CHECK(same < 3, "two agents failing together come back apart (%d equal)", same);
	}
}

static void test_rate(void)
{
	struct sched_rate r;

	sched_rate_init(&r, 2);
	CHECK_INT(sched_rate_wait(&r, 1000), 0, "the first batch goes at once");
	sched_rate_take(&r, 1000);
	CHECK_INT(sched_rate_wait(&r, 1000), 500, "2 per second: the next waits 500 ms");
	CHECK_INT(sched_rate_wait(&r, 1499), 1, "1 ms before");
	CHECK_INT(sched_rate_wait(&r, 1500), 0, "and goes at 1500");
	sched_rate_take(&r, 1500);
	sched_rate_take(&r, 1500);
	CHECK_INT(sched_rate_wait(&r, 1500), 1000, "two more push the next to 2500");
	CHECK_INT(sched_rate_wait(&r, 100000), 0, "after a long idle");
	sched_rate_take(&r, 100000);
	CHECK_INT(sched_rate_wait(&r, 100000), 500, "there is no burst credit");
	sched_rate_init(&r, 1000);
	CHECK_INT(r.interval_ms, 1, "1000 per second is 1 ms apart");
	sched_rate_init(&r, 0);
	CHECK_INT(r.interval_ms, 1000, "0 is treated as 1 per second");
}

static void test_clamp(void)
{
	CHECK_INT(sched_clamp_checkin(0), 1, "a check-in interval of 0 becomes 1 s");
	CHECK_INT(sched_clamp_checkin(300), 300, "300 s is kept");
	CHECK_INT(sched_clamp_checkin(10000000), 86400, "a year becomes a day");
	CHECK_INT(sched_clamp_inventory(1), 10, "an inventory interval of 1 s becomes 10 s");
	CHECK_INT(sched_clamp_inventory(3600), 3600, "an hour is kept");
	CHECK_INT(sched_clamp_inventory(100000000), 7 * 86400, "years become a week");
}

int main(void)
{
	test_jitter();
	test_backoff();
	test_rate();
	test_clamp();
	return tap_done();
}
