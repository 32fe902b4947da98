/* The device-control rule language: parsing with line:column errors, lint warnings, and
 * decisions — first match wins, input devices are never locked out by accident. */
#include <errno.h>

#include "lib/mm.h"
#include "lib/str.h"
#include "lib/usbpolicy.h"
#include "tests/tap.h"

static const struct usb_interface storage_if[] = {{0x08, 0x06, 0x50, NULL}};
static const struct usb_interface kbd_if[] = {{0x03, 0x01, 0x01, NULL}};
static const struct usb_interface mtp_if[] = {{0xff, 0xff, 0x00, (char *) "MTP"}};
static const struct usb_interface cam_if[] = {{0x06, 0x01, 0x01, NULL}};

static struct usb_device_facts stick(const char *serial, const char *const *tags)
{
	return (struct usb_device_facts){.vendor_id = 0x0781,
					 .product_id = 0x5581,
					 .serial = serial,
					 .product = "Ultra",
					 .interfaces = storage_if,
					 .n_interfaces = 1,
					 .tags = tags,
					 .user = "taro",
					 .netctx = NET_HOME,
					 .now = 1800000000};
}

static bool has(const struct diag *d, enum diag_severity sev, const char *needle, unsigned line,
		unsigned col)
{
	for (size_t i = 0; i < d->n; i++)
		if (d->entries[i].severity == sev && strstr(d->entries[i].message, needle) &&
		    d->entries[i].line == line && (!col || d->entries[i].column == col))
			return true;
	return false;
}

static void dump(const struct diag *d)
{
	for (size_t i = 0; i < d->n; i++) {
		char *s = diag_format(&d->entries[i]);

		printf("#   %s\n", s);
		mm_free(s);
	}
}

static const char *policy_text =
	"# sales laptops\n"
	"default block\n"
	"network office: ssid \"CORP-WLAN\", subnet 10.20.0.0/16\n"
	"network home: ssid taro-home\n"
	"allow serial 4C530001230512114295\n"
	"read-only class mass-storage tag company-issued\n"
	"allow class mass-storage tag company-issued network office\n" /* never: above wins */
	"block class mtp,ptp\n"
	"allow id 0781:* class mass-storage user hanako until 2030-01-01T00:00Z\n"
	"block class mass-storage network untrusted,open-wifi\n";

int main(void)
{
	static const char *const company[] = {"company-issued", NULL};
	_cleanup_(usb_policy_freep) struct usb_policy *p = NULL;
	struct usb_decision dec;
	struct usb_device_facts dev;
	struct diag d;

	diag_init(&d);
	CHECK_INT(usb_policy_parse("p", policy_text, &d, &p), 0, "a good policy parses");
	dump(&d);
	CHECK_INT(usb_policy_rule_count(p), 6, "six rules");

	{
		_cleanup_(usb_policy_freep) struct usb_policy *q = NULL;
		_cleanup_(freep) const char **tags = NULL;

		CHECK_INT(usb_policy_tags(p, &tags), 0, "the tags the rules name");
		CHECK(tags && tags[0] && streq(tags[0], "company-issued") && !tags[1],
		      "one tag, named twice, listed once");
		mm_free(TAKE_PTR(tags));
		CHECK_INT(usb_policy_parse("q",
					   "default block\n"
					   "allow tag zeta,alpha user x\n"
					   "block tag beta,alpha\n",
					   &d, &q),
			  0, "a policy with several tags");
		CHECK_INT(usb_policy_tags(q, &tags), 0, "its tags");
		CHECK(tags && tags[0] && tags[1] && tags[2] && !tags[3] &&
			      streq(tags[0], "alpha") && streq(tags[1], "beta") &&
			      streq(tags[2], "zeta"),
		      "each once, sorted");
	}

	dev = stick("4C530001230512114295", NULL);
	usb_policy_decide(p, &dev, &dec);
	CHECK(dec.verdict == USB_ALLOW && dec.rule_line == 5, "a stick allowed by serial");

	dev = stick("OTHER", company);
	usb_policy_decide(p, &dev, &dec);
	CHECK(dec.verdict == USB_READ_ONLY && dec.rule_line == 6,
	      "a registered stick made read-only by its tag");

	dev = stick("OTHER", NULL);
	usb_policy_decide(p, &dev, &dec);
	CHECK(dec.verdict == USB_BLOCK && dec.rule_line == 0, "an unknown stick: the default");

	dev.user = "hanako";
	usb_policy_decide(p, &dev, &dec);
	CHECK(dec.verdict == USB_ALLOW && dec.rule_line == 9, "a time-limited exception applies");
	dev.now = 1900000000; /* 2030-03 */
	usb_policy_decide(p, &dev, &dec);
	CHECK(dec.verdict == USB_BLOCK, "and stops applying when it expires");

	dev = stick("OTHER", NULL);
	dev.netctx = NET_UNTRUSTED | NET_OPEN_WIFI;
	usb_policy_decide(p, &dev, &dec);
	CHECK(dec.verdict == USB_BLOCK && dec.rule_line == 10, "network context decides");

	dev.interfaces = mtp_if;
	usb_policy_decide(p, &dev, &dec);
	CHECK(dec.verdict == USB_BLOCK && dec.rule_line == 8, "an MTP phone is blocked by class");
	dev.interfaces = cam_if;
	usb_policy_decide(p, &dev, &dec);
	CHECK(dec.verdict == USB_BLOCK && dec.rule_line == 8, "a PTP camera too");

	dev.interfaces = kbd_if;
	usb_policy_decide(p, &dev, &dec);
	CHECK(dec.verdict == USB_ALLOW, "a keyboard is allowed although the default blocks");
	CHECK_STR(dec.reason, "input device protected", "and the reason says why");

	/* network contexts from facts */
	{
		static const char *const ssids[] = {"CORP-WLAN", NULL};
		static const char *const none[] = {NULL};
		uint32_t ip = (10u << 24) | (20u << 16) | 5;
		struct usb_network_facts n = {
			.ssids = none, .gateways = none, .dns_domains = none, .online = true};

		CHECK_INT(usb_policy_network_context(p, &n), NET_UNTRUSTED,
			  "an unknown network is untrusted");
		n.ssids = ssids;
		CHECK_INT(usb_policy_network_context(p, &n), NET_OFFICE, "office by SSID");
		n.ssids = none;
		n.ipv4 = &ip;
		n.n_ipv4 = 1;
		CHECK_INT(usb_policy_network_context(p, &n), NET_OFFICE, "office by subnet");
		n.n_ipv4 = 0;
		n.open_wifi = true;
		CHECK_INT(usb_policy_network_context(p, &n), NET_UNTRUSTED | NET_OPEN_WIFI,
			  "open Wi-Fi flagged");
		n.online = false;
		CHECK_INT(usb_policy_network_context(p, &n), NET_OFFLINE, "offline");
	}
	diag_done(&d);

	/* Composite devices: the keyboard part stays, the storage part gets its own verdict. */
	{
		static const struct usb_interface ducky_if[] = {{0x03, 0x01, 0x01, NULL},
								{0x08, 0x06, 0x50, NULL}};
		_cleanup_(usb_policy_freep) struct usb_policy *q = NULL;
		struct usb_part_decision pd;

		diag_init(&d);
		CHECK_INT(usb_policy_parse("q",
					   "default allow\n"
					   "block class mass-storage\n"
					   "allow class hid until 2030-01-01\n"
					   "read-only class mass-storage until 2029-01-01\n",
					   &d, &q),
			  0, "a policy with a class block parses");
		dev = stick("S1", NULL);
		dev.interfaces = ducky_if;
		dev.n_interfaces = 2;
		usb_policy_decide(q, &dev, &dec);
		CHECK(dec.verdict == USB_ALLOW && dec.rule_line == 3,
		      "as a whole, a keyboard-and-stick is allowed by the hid rule");
		usb_policy_decide_parts(q, &dev, &pd);
		CHECK(pd.split && pd.device.verdict == USB_ALLOW, "it is split: the device stays");
		CHECK(pd.rest.verdict == USB_BLOCK && pd.rest.rule_line == 2,
		      "and its storage interface is blocked by the class rule");
		dev.interfaces = kbd_if;
		dev.n_interfaces = 1;
		usb_policy_decide_parts(q, &dev, &pd);
		CHECK(!pd.split && pd.device.verdict == USB_ALLOW, "a plain keyboard is not split");
		dev.interfaces = storage_if;
		usb_policy_decide_parts(q, &dev, &pd);
		CHECK(!pd.split && pd.device.verdict == USB_BLOCK && pd.rest.verdict == USB_BLOCK,
		      "a plain stick is blocked as a whole");
		CHECK_INT(usb_policy_next_expiry(q, 1800000000), 1861920000,
			  "the earliest exception still ahead expires first");
		CHECK_INT(usb_policy_next_expiry(q, 1861920000), 1893456000, "then the next one");
		CHECK_INT(usb_policy_next_expiry(q, 1893456000), 0, "then none");
		diag_done(&d);
	}
	{
		_cleanup_(usb_policy_freep) struct usb_policy *q = NULL;
		static const struct usb_interface ducky_if[] = {{0x03, 0x01, 0x01, NULL},
								{0x08, 0x06, 0x50, NULL}};
		struct usb_part_decision pd;

		diag_init(&d);
		CHECK_INT(
			usb_policy_parse("q", "default allow\nblock id 1234:* class hid\n", &d, &q),
			0, "a policy naming input devices parses");
		dev = stick("S1", NULL);
		dev.vendor_id = 0x1234;
		dev.interfaces = ducky_if;
		dev.n_interfaces = 2;
		usb_policy_decide_parts(q, &dev, &pd);
		CHECK(!pd.split && pd.device.verdict == USB_BLOCK,
		      "a rule that names input devices blocks the whole composite device");
		diag_done(&d);
	}

	/* Keyboards can be blocked only by naming them, with a warning. */
	{
		_cleanup_(usb_policy_freep) struct usb_policy *q = NULL;

		diag_init(&d);
		CHECK_INT(usb_policy_parse("q",
					   "default allow\nblock class hid\nblock class any\n"
					   "allow serial X\n",
					   &d, &q),
			  0, "a policy blocking input devices still parses");
		CHECK(has(&d, DIAG_WARNING, "blocks keyboards and mice", 2, 1),
		      "with a lock-out warning on line 2");
		CHECK(has(&d, DIAG_WARNING, "never reached", 4, 1),
		      "and an unreachable rule warned on line 4");
		dev = stick("X", NULL);
		dev.interfaces = kbd_if;
		usb_policy_decide(q, &dev, &dec);
		CHECK(dec.verdict == USB_BLOCK && dec.rule_line == 2, "a rule naming hid applies");
		diag_done(&d);
	}

	/* Every error in one pass, with line and column. */
	{
		_cleanup_(usb_policy_freep) struct usb_policy *q = NULL;

		diag_init(&d);
		CHECK_INT(usb_policy_parse("bad.rules",
					   "allow class usb-stick\n"       /* 1:13 */
					   "permit serial x\n"             /* 2:1  */
					   "block id 0781\n"               /* 3:10 */
					   "allow serial \"unterminated\n" /* 4:14 */
					   "block colour red\n"            /* 5:7  */
					   "allow until yesterday\n"       /* 6:13 */
					   "allow interface 08:zz:*\n"     /* 7:17 */
					   "block network moon\n"          /* 8:15 */
					   "allow class\n",                /* 9:7  */
					   &d, &q),
			  -EINVAL, "a bad policy is refused");
		dump(&d);
		CHECK(q == NULL, "and yields no policy");
		CHECK(has(&d, DIAG_ERROR, "unknown class 'usb-stick'", 1, 13), "1:13 class");
		CHECK(has(&d, DIAG_ERROR, "expected a verdict", 2, 1), "2:1 verdict");
		CHECK(has(&d, DIAG_ERROR, "VENDOR:PRODUCT", 3, 10), "3:10 id");
		CHECK(has(&d, DIAG_ERROR, "unterminated string", 4, 14), "4:14 string");
		CHECK(has(&d, DIAG_ERROR, "unknown condition 'colour'", 5, 7), "5:7 condition");
		CHECK(has(&d, DIAG_ERROR, "not a time", 6, 13), "6:13 time");
		CHECK(has(&d, DIAG_ERROR, "CLASS:SUBCLASS:PROTOCOL", 7, 17), "7:17 interface");
		CHECK(has(&d, DIAG_ERROR, "unknown network 'moon'", 8, 15), "8:15 network");
		CHECK(has(&d, DIAG_ERROR, "needs a value", 9, 7), "9:7 missing value");
		CHECK(has(&d, DIAG_ERROR, "must say its default", 0, 0), "missing default");
		CHECK_INT(d.n_errors, 10, "ten errors in one pass");
		diag_done(&d);
	}

	/* Allocation failures while parsing never crash or leak. */
	{
		unsigned long k;
		bool ok = true;

		for (k = 1; k < 100000; k++) {
			struct usb_policy *q = NULL;
			bool fired;
			int r;

			diag_init(&d);
			(void) mm_fail_at(k, false);
			r = usb_policy_parse("p", policy_text, &d, &q);
			fired = mm_fail_fired();
			(void) mm_fail_at(0, false);
			usb_policy_free(q);
			diag_done(&d);
			if (r != 0 && r != -ENOMEM)
				ok = false;
			if (!fired)
				break;
		}
		CHECK(ok, "each of %lu allocation failures gives 0 or -ENOMEM", k - 1);
	}
	return tap_done();
}
