/*
 * Fuzzes the sysfs attribute parsers of USB control: hex ids and classes, device numbers
 * ("8:16"), trimming, and logind's KEY=VALUE state files (the active seat's user). The
 * first byte picks the number of hex digits and the key looked up.
 */
#include <string.h>

#include "agent/enf_usb.h"
#include "tests/fuzz/fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char *const keys[] = {"ACTIVE", "USER", "UID", "SESSIONS"};
	char *text, out[64];
	unsigned v = 0, maj = 0, min = 0, digits;
	size_t n;

	if (size < 1)
		return 0;
	digits = data[0] % 9;
	text = fuzz_text(data + 1, size - 1);
	if (!text)
		return 0;
	if (usbdev_parse_hex(text, digits, &v) == 0)
		FUZZ_ASSERT(digits == 8 || v < (1u << (4 * digits)));
	if (usbdev_parse_devnum(text, &maj, &min) == 0)
		FUZZ_ASSERT(maj <= 4095 && min < (1u << 20));
	if (usbdev_parse_env(text, keys[data[0] % 4], out, sizeof(out)))
		FUZZ_ASSERT(strlen(out) > 0 && strlen(out) < sizeof(out) && !strchr(out, '\n'));
	n = strlen(text);
	n = usbdev_trim(text, n);
	FUZZ_ASSERT(strlen(text) == n);
	FUZZ_ASSERT(n == 0 || (text[0] != ' ' && text[n - 1] != ' ' && text[n - 1] != '\n'));
	mm_free(text);
	return 0;
}
