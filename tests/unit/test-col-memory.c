/* The memory section's parser: /proc/meminfo in kB, converted to bytes with overflow checks. */
#include <errno.h>

#include "agent/agent.h"
#include "lib/mm.h"
#include "tests/tap.h"

static int meminfo(const char *text, json_t **ret)
{
	char *copy = mm_strdup(text);
	int r;

	*ret = json_object();
	r = col_memory_parse_meminfo(copy, *ret);
	mm_free(copy);
	return r;
}

static long long get(json_t *s, const char *field)
{
	json_t *v = json_object_get(s, field);

	return json_is_integer(v) ? (long long) json_integer_value(v) : -1;
}

int main(void)
{
	json_t *s;

	mm_setup_jansson();
	CHECK_INT(meminfo("MemTotal:       16006432 kB\n"
			  "MemFree:         9123456 kB\n"
			  "MemAvailable:   12870212 kB\n"
			  "SwapCached:            0 kB\n"
			  "SwapTotal:       1000444 kB\n"
			  "SwapFree:         999424 kB\n"
			  "HugePages_Total:       0\n"
			  "Hugepagesize:       2048 kB\n",
			  &s),
		  0, "a laptop's meminfo parses");
	CHECK_INT(get(s, "total_bytes"), 16006432LL * 1024, "MemTotal in bytes");
	CHECK_INT(get(s, "available_bytes"), 12870212LL * 1024, "MemAvailable in bytes");
	CHECK_INT(get(s, "swap_total_bytes"), 1000444LL * 1024, "SwapTotal in bytes");
	CHECK_INT(get(s, "swap_free_bytes"), 999424LL * 1024, "SwapFree in bytes");
	CHECK_INT(json_object_size(s), 4, "only the four documented fields");
	json_decref(s);

	CHECK_INT(meminfo("MemFree: 812344 kB\nMemAvailable: 1412008 kB\n", &s), -EBADMSG,
		  "no MemTotal: -EBADMSG");
	CHECK_INT(get(s, "available_bytes"), 1412008LL * 1024, "what was there is still filled");
	json_decref(s);

	CHECK_INT(meminfo("MemTotal: 18446744073709551615 kB\n", &s), -EBADMSG,
		  "a total that overflows when converted to bytes is refused");
	json_decref(s);
	CHECK_INT(meminfo("MemTotal: 9007199254740992 kB\n", &s), -EBADMSG,
		  "a total past INT64_MAX bytes is refused");
	json_decref(s);
	CHECK_INT(meminfo("MemTotal: 99999999999999999999999 kB\n", &s), -EBADMSG,
		  "a total past 64 bits is refused");
	json_decref(s);
	CHECK_INT(meminfo("MemTotal: 16 MB\n", &s), -EBADMSG, "a unit other than kB is refused");
	json_decref(s);
	CHECK_INT(meminfo("MemTotal: -5 kB\nMemTotal: 12x kB\n", &s), -EBADMSG,
		  "signs and junk are refused");
	json_decref(s);
	CHECK_INT(meminfo("", &s), -EBADMSG, "an empty file has no MemTotal");
	json_decref(s);
	CHECK_INT(meminfo(" MemTotal: 5 kB\nMemTotalX: 6 kB\n", &s), -EBADMSG,
		  "keys match exactly");
	json_decref(s);
	CHECK_INT(meminfo("MemTotal:\t2014192 kB", &s), 0, "a tab and no final newline are fine");
	CHECK_INT(get(s, "total_bytes"), 2014192LL * 1024, "value read");
	json_decref(s);
	return tap_done();
}
