/*
 * The identity section: chassis classes from SMBIOS codes, virtualisation from DMI strings,
 * and the collector on the fixture roots (ThinkPad, QEMU guest, damaged tree).
 */
#include <errno.h>

#include "agent/agent.h"
#include "lib/mm.h"
#include "tests/tap.h"

static void test_chassis(void)
{
	static const struct {
		unsigned code;
		const char *class;
	} cases[] = {
		{3, "desktop"},  {4, "desktop"}, {6, "desktop"}, {7, "desktop"},  {13, "desktop"},
		{35, "desktop"}, {8, "laptop"},  {9, "laptop"},  {10, "laptop"},  {14, "laptop"},
		{31, "laptop"},  {32, "laptop"}, {11, "tablet"}, {30, "tablet"},  {17, "server"},
		{23, "server"},  {28, "server"}, {1, "other"},   {2, "other"},    {0, "other"},
		{12, "other"},   {24, "other"},  {37, "other"},  {4096, "other"},
	};

	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		char what[64];

		(void) snprintf(what, sizeof(what), "chassis type %u is %s", cases[i].code,
				cases[i].class);
		CHECK_STR(col_identity_chassis_class(cases[i].code), cases[i].class, what);
	}
}

static void test_virt(void)
{
	static const struct {
		const char *vendor, *product, *bios_vendor, *virt;
	} cases[] = {
		{"QEMU", "Standard PC (Q35 + ICH9, 2009)", "SeaBIOS", "qemu"},
		{"QEMU", "Standard PC (i440FX + PIIX, 1996)", "EFI Development Kit II / OVMF",
		 "qemu"},
		{"Red Hat", "KVM", "SeaBIOS", "kvm"},
		{"OpenStack Foundation", "OpenStack Nova", "SeaBIOS", "kvm"},
		{"VMware, Inc.", "VMware Virtual Platform", "Phoenix Technologies LTD", "vmware"},
		{"VMware, Inc.", "VMware20,1", "VMware, Inc.", "vmware"},
		{"innotek GmbH", "VirtualBox", "innotek GmbH", "oracle"},
		{"Xen", "HVM domU", "Xen", "xen"},
		{"Amazon EC2", "m5.large", "Amazon EC2", "amazon"},
		{"Google", "Google Compute Engine", "Google", "google"},
		{"Microsoft Corporation", "Virtual Machine", "Microsoft Corporation", "microsoft"},
		{"Parallels Software International Inc.", "Parallels Virtual Platform",
		 "Parallels Software International Inc.", "parallels"},
		{"LENOVO", "20XWCTO1WW", "LENOVO", NULL},
		{"Dell Inc.", "XPS 13 9310", "Dell Inc.", NULL},
		{"Microsoft Corporation", "Surface Laptop 4", "Microsoft Corporation", NULL},
		/* a real server whose product name mentions KVM (the remote console) */
		{"Supermicro", "X11SCL-F with IPMI KVM", "American Megatrends Inc.", NULL},
		{NULL, NULL, NULL, NULL},
	};

	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		const char *got = col_identity_virt_from_dmi(cases[i].vendor, cases[i].product,
							     cases[i].bios_vendor);
		char what[160];

		(void) snprintf(what, sizeof(what), "'%s' / '%s' is %s",
				cases[i].vendor ? cases[i].vendor : "(none)",
				cases[i].product ? cases[i].product : "(none)",
				cases[i].virt ? cases[i].virt : "bare metal");
		if (cases[i].virt)
			CHECK_STR(got, cases[i].virt, what);
		else if (!CHECK(!got, "%s", what))
			tap_diag("got %s", got);
	}
}

static json_t *collect(const char *tree)
{
	const char *src = getenv("MAMORI_SOURCE_ROOT");
	char *root = mm_asprintf("%s/tests/fixtures/%s", src, tree);
	struct col_ctx ctx = {.root = root, .now = 1800000000};
	json_t *section = json_object();

	if (!root || !section || col_identity_collect(&ctx, section) < 0) {
		json_decref(section);
		section = NULL;
	}
	mm_free(root);
	return section;
}

static const char *str(json_t *obj, const char *a, const char *b)
{
	json_t *v = json_object_get(obj, a);

	return json_string_value(b ? json_object_get(v, b) : v);
}

/* Whether the section's errors name `source` with a message containing `words`. */
static bool has_error(json_t *section, const char *source, const char *words)
{
	size_t i;
	json_t *e;

	json_array_foreach (json_object_get(section, "errors"), i, e)
		if (streq(json_string_value(json_object_get(e, "source")), source) &&
		    strstr(json_string_value(json_object_get(e, "message")), words))
			return true;
	return false;
}

static void test_fixtures(void)
{
	json_t *s;

	if (!getenv("MAMORI_SOURCE_ROOT")) {
		tap_diag("MAMORI_SOURCE_ROOT unset: fixture checks skipped (run through meson)");
		return;
	}
	s = collect("laptop");
	CHECK(s, "laptop: identity collected");
	CHECK_STR(str(s, "chassis", NULL), "laptop", "laptop: chassis type 10 is a laptop");
	CHECK_STR(str(s, "dmi", "system_vendor"), "LENOVO", "laptop: vendor");
	CHECK_STR(str(s, "dmi", "product_name"), "20XWCTO1WW", "laptop: product (machine type)");
	CHECK_STR(str(s, "dmi", "serial"), "PF2XK7QM", "laptop: serial");
	CHECK_STR(str(s, "dmi", "uuid"), "4c4c4544-0031-3410-8057-b4c04f4d3233", "laptop: UUID");
	CHECK_STR(str(s, "dmi", "bios_version"), "N32ET86W (1.62 )", "laptop: BIOS version");
	CHECK(!json_object_get(json_object_get(s, "dmi"), "asset_tag"),
	      "laptop: Lenovo's 'No Asset Information' placeholder is no asset tag");
	CHECK(json_is_null(json_object_get(s, "virtualization")), "laptop: bare metal");
	CHECK_STR(str(s, "hostname", NULL), "tanaka-x1", "laptop: hostname");
	CHECK_STR(str(s, "machine_id", NULL), "5f0c3a9e8d4b4c2a9b1e7d6f3a2c1b0e",
		  "laptop: machine-id");
	CHECK(!json_object_get(s, "errors"), "laptop: no errors");
	json_decref(s);

	s = collect("vm");
	CHECK_STR(str(s, "chassis", NULL), "vm", "vm: chassis vm");
	CHECK_STR(str(s, "virtualization", NULL), "qemu", "vm: QEMU's DMI says qemu");
	CHECK(!json_object_get(json_object_get(s, "dmi"), "serial"), "vm: no serial");
	CHECK(!json_object_get(s, "errors"), "vm: no errors");
	json_decref(s);

	s = collect("broken");
	CHECK(s, "broken: identity still collected");
	CHECK(has_error(s, "/etc/hostname", "directory"), "broken: a directory as hostname");
	CHECK(has_error(s, "/etc/machine-id", "hex"), "broken: a machine-id that is not hex");
	CHECK(has_error(s, "/sys/class/dmi/id/sys_vendor", "dangling"),
	      "broken: the dangling DMI link is reported");
	CHECK(has_error(s, "/sys/class/dmi/id/bios_vendor", "not text"),
	      "broken: binary junk in a DMI string is reported");
	CHECK(has_error(s, "/sys/class/dmi/id/chassis_type", "number"),
	      "broken: a chassis type that is not a number is reported");
	CHECK_STR(str(s, "dmi", "product_name"), "ThinkPad T14 Gen 3",
		  "broken: the readable DMI string is still there");
	CHECK_STR(str(s, "chassis", NULL), "unknown", "broken: chassis unknown");
	json_decref(s);

	s = collect("does-not-exist");
	CHECK(s, "a root without any file: identity still collected");
	CHECK(json_is_false(json_object_get(s, "dmi_available")), "no DMI");
	CHECK(has_error(s, "hostname", "no readable hostname"), "no hostname is an error");
	CHECK(!has_error(s, "/sys/class/dmi/id/sys_vendor", ""), "absent DMI is not an error");
	json_decref(s);
}

int main(void)
{
	mm_setup_jansson();
	test_chassis();
	test_virt();
	test_fixtures();
	return tap_done();
}
