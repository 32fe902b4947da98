/*
 * Fuzzes the DMI interpretation: the input's lines are a chassis_type value, sys_vendor,
 * product_name and bios_vendor, as the identity collector reads them from
 * /sys/class/dmi/id. The chassis class and the virtualisation are always from their fixed
 * vocabularies.
 */
#include "agent/agent.h"
#include "lib/str.h"
#include "tests/fuzz/fuzz.h"

static const char *const classes[] = {"laptop", "tablet", "desktop", "server", "other"};
static const char *const virts[] = {"kvm",   "amazon",    "qemu",  "vmware", "oracle",    "xen",
				    "bochs", "parallels", "bhyve", "google", "microsoft", NULL};

static bool in(const char *s, const char *const *set, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (set[i] == s || (set[i] && s && streq(set[i], s)))
			return true;
	return false;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	_cleanup_(freep) char *text = fuzz_text(data, size);
	char *cursor = text, *line[4] = {NULL, NULL, NULL, NULL};
	unsigned code;

	if (!text)
		return 0;
	for (size_t i = 0; i < ARRAY_SIZE(line); i++)
		line[i] = str_next_line(&cursor);
	if (line[0] && str_to_uint(str_strip(line[0]), 10, &code) == 0)
		FUZZ_ASSERT(in(col_identity_chassis_class(code), classes, ARRAY_SIZE(classes)));
	if (size >= 4) {
		memcpy(&code, data, sizeof(code));
		FUZZ_ASSERT(in(col_identity_chassis_class(code), classes, ARRAY_SIZE(classes)));
	}
	FUZZ_ASSERT(in(col_identity_virt_from_dmi(line[1], line[2], line[3]), virts,
		       ARRAY_SIZE(virts)));
	return 0;
}
