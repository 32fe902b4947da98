/* Fuzzes what Wi-Fi sources report: the first 12 bytes are NetworkManager's Flags,
 * WpaFlags and RsnFlags of an access point, the rest a wpa_supplicant STATUS reply. Every
 * answer is one of the documented security classes. */
#include <errno.h>

#include "agent/monitors.h"
#include "tests/fuzz/fuzz.h"

static const char *const classes[] = {"open",
				      "owe",
				      "wep",
				      "wpa",
				      "wpa2",
				      "wpa3",
				      "wpa2-wpa3",
				      "wpa-enterprise",
				      "wpa2-enterprise",
				      "wpa3-enterprise",
				      "unknown"};

static void known(const char *s)
{
	bool ok = false;

	for (size_t i = 0; i < ARRAY_SIZE(classes); i++)
		ok = ok || strcmp(s, classes[i]) == 0;
	FUZZ_ASSERT(ok);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	_cleanup_(freep) char *text = NULL;
	uint32_t f[3] = {0};
	struct mon_wifi w;
	int r;

	memcpy(f, data, MIN(size, sizeof(f)));
	known(mon_net_nm_security(f[0], f[1], f[2]));
	if (size < sizeof(f))
		return 0;
	text = fuzz_text(data + sizeof(f), size - sizeof(f));
	if (!text)
		return 0;
	r = mon_net_parse_wpa_status(text, &w);
	FUZZ_ASSERT(r == 0 || r == 1 || r == -EBADMSG);
	if (r == 1) {
		known(w.security);
		FUZZ_ASSERT(w.ssid_len < sizeof(w.ssid) && strlen(w.bssid) < sizeof(w.bssid));
	}
	return 0;
}
