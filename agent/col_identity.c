/*
 * The identity section: who this endpoint is. Hostname, machine-id, the DMI/SMBIOS facts
 * the firmware publishes in /sys/class/dmi/id (vendor, product, serial, UUID, BIOS, chassis
 * type), and virtualisation. The chassis type is reduced to what an asset register needs:
 * laptop, desktop, server, tablet, vm or other.
 *
 * DMI serials and UUIDs are readable by root only; as another user they are recorded as
 * unreadable, not as absent.
 */
#include <errno.h>
#include <string.h>

#include "agent/agent.h"
#include "lib/fileio.h"
#include "lib/jsonw.h"
#include "lib/limits.h"
#include "lib/mm.h"
#include "lib/str.h"

static const struct {
	const char *attr;
	const char *field;
} dmi_attrs[] = {
	{"sys_vendor", "system_vendor"},
	{"product_name", "product_name"},
	{"product_version", "product_version"},
	{"product_serial", "serial"},
	{"product_uuid", "uuid"},
	{"board_vendor", "board_vendor"},
	{"board_name", "board_name"},
	{"board_serial", "board_serial"},
	{"bios_vendor", "bios_vendor"},
	{"bios_version", "bios_version"},
	{"bios_date", "bios_date"},
	{"chassis_type", "chassis_type_code"},
	{"chassis_serial", "chassis_serial"},
	{"chassis_asset_tag", "asset_tag"},
};

/* Placeholders firmware vendors leave in DMI strings; they mean "unknown". */
static const char *const dmi_placeholders[] = {
	"To Be Filled By O.E.M.",
	"To be filled by O.E.M.",
	"Default string",
	"Not Specified",
	"Not Applicable",
	"System Serial Number",
	"Chassis Serial Number",
	"No Asset Information", /* Lenovo */
	"No Asset Tag",
	"Not Available",
	"0123456789",
	"None",
	"N/A",
	"",
};

/* SMBIOS 3.x chassis types (DSP0134 table 17) reduced to asset classes. */
const char *col_identity_chassis_class(unsigned code)
{
	switch (code) {
	case 8:  /* portable */
	case 9:  /* laptop */
	case 10: /* notebook */
	case 14: /* sub notebook */
	case 31: /* convertible */
	case 32: /* detachable */
		return "laptop";
	case 11: /* hand held */
	case 30: /* tablet */
		return "tablet";
	case 3:  /* desktop */
	case 4:  /* low profile desktop */
	case 5:  /* pizza box */
	case 6:  /* mini tower */
	case 7:  /* tower */
	case 13: /* all in one */
	case 15: /* space-saving */
	case 16: /* lunch box */
	case 34: /* embedded PC */
	case 35: /* mini PC */
	case 36: /* stick PC */
		return "desktop";
	case 17: /* main server chassis */
	case 23: /* rack mount */
	case 25: /* multi-system chassis */
	case 28: /* blade */
	case 29: /* blade enclosure */
		return "server";
	default:
		return "other";
	}
}

/*
 * Virtualisation from DMI strings, as systemd-detect-virt reads them: a field that *starts*
 * with a known vendor string, product name first. Returns a short name ("kvm", "qemu",
 * "vmware" …) or NULL for bare metal.
 *
 * QEMU's machine types say "QEMU" in sys_vendor whether the guest runs under KVM or under
 * QEMU's own emulator (TCG); only CPUID tells the two apart, and collectors read files.
 * So DMI "QEMU" gives "qemu"; "kvm" comes only from firmware that says "KVM" itself (older
 * and RHEL machine types, OpenStack Nova, KubeVirt).
 */
const char *col_identity_virt_from_dmi(const char *vendor, const char *product,
				       const char *bios_vendor)
{
	static const struct {
		const char *prefix;
		const char *virt;
	} table[] = {
		{"KVM", "kvm"},           {"OpenStack", "kvm"},
		{"KubeVirt", "kvm"},      {"Amazon EC2", "amazon"},
		{"QEMU", "qemu"},         {"VMware", "vmware"},
		{"VMW", "vmware"},        {"innotek GmbH", "oracle"},
		{"VirtualBox", "oracle"}, {"Xen", "xen"},
		{"Bochs", "bochs"},       {"Parallels", "parallels"},
		{"BHYVE", "bhyve"},       {"Google Compute Engine", "google"},
	};
	const char *fields[] = {product, vendor, bios_vendor};

	for (size_t f = 0; f < ARRAY_SIZE(fields); f++) {
		if (!fields[f])
			continue;
		for (size_t i = 0; i < ARRAY_SIZE(table); i++)
			if (str_startswith(fields[f], table[i].prefix))
				return table[i].virt;
	}
	if (vendor && streq(vendor, "Microsoft Corporation") && product &&
	    streq(product, "Virtual Machine"))
		return "microsoft";
	return NULL;
}

static bool is_placeholder(const char *v)
{
	for (size_t i = 0; i < ARRAY_SIZE(dmi_placeholders); i++)
		if (streq(v, dmi_placeholders[i]))
			return true;
	return false;
}

static int read_first_line(const struct col_ctx *ctx, const char *path, char **ret)
{
	char *v;
	int r = col_read_attr(ctx, path, &v);

	if (r < 0)
		return r;
	v[strcspn(v, "\n")] = '\0';
	if (!*v || !str_is_clean_utf8(v, strlen(v))) {
		mm_free(v);
		return -EBADMSG;
	}
	*ret = v;
	return 0;
}

static int collect_hostname(const struct col_ctx *ctx, json_t *section)
{
	static const char *const paths[] = {"/proc/sys/kernel/hostname", "/etc/hostname"};

	for (size_t i = 0; i < ARRAY_SIZE(paths); i++) {
		_cleanup_(freep) char *v = NULL;
		int r = read_first_line(ctx, paths[i], &v);

		if (r == 0)
			return jsonw_set(section, "hostname", json_string(v));
		if (r == -ENOMEM)
			return r;
		if (r != -ENOENT && col_error(section, paths[i], r, NULL) < 0)
			return -ENOMEM;
	}
	return col_error(section, "hostname", -ENOENT, "no readable hostname");
}

static int collect_machine_id(const struct col_ctx *ctx, json_t *section)
{
	_cleanup_(freep) char *v = NULL;
	int r = read_first_line(ctx, "/etc/machine-id", &v);
	size_t n;

	if (r == -ENOMEM)
		return r;
	if (r < 0)
		return col_error(section, "/etc/machine-id", r, NULL);
	n = strlen(v);
	if (n != 32 || strspn(v, "0123456789abcdef") != 32)
		return col_error(section, "/etc/machine-id", 0, "not 32 lower-case hex digits");
	return jsonw_set(section, "machine_id", json_string(v));
}

/*
 * One DMI attribute that could not be read. A missing attribute is normal (firmware leaves
 * many out) and says nothing; a dangling symlink, a directory or an unreadable file is
 * recorded, so a damaged /sys tree is visible rather than silently thinner.
 */
static int dmi_read_error(const struct col_ctx *ctx, json_t *section, const char *path, int r)
{
	_cleanup_(freep) char *target = NULL;

	if (r == -ENOENT) {
		r = fileio_readlink(ctx->root, path, &target);
		if (r == -ENOMEM)
			return r;
		if (r < 0)
			return 0;
		return col_error(section, path, 0, "dangling symbolic link");
	}
	if (r == -EACCES || r == -EPERM)
		return col_error(section, path, r, "readable by root only");
	return col_error(section, path, r, NULL);
}

static int collect_dmi(const struct col_ctx *ctx, json_t *section, json_t *dmi)
{
	bool any = false;

	for (size_t i = 0; i < ARRAY_SIZE(dmi_attrs); i++) {
		_cleanup_(freep) char *path =
			mm_asprintf("/sys/class/dmi/id/%s", dmi_attrs[i].attr);
		_cleanup_(freep) char *v = NULL;
		int r;

		if (!path)
			return -ENOMEM;
		r = col_read_attr(ctx, path, &v);
		if (r == -ENOMEM)
			return r;
		if (r < 0) {
			/* no DMI at all (ARM boards, containers, this test machine) is the
			 * ENOENT case for every attribute: dmi_available says it once */
			if (dmi_read_error(ctx, section, path, r) < 0)
				return -ENOMEM;
			continue;
		}
		any = true;
		if (is_placeholder(v))
			continue;
		if (!str_is_clean_utf8(v, strlen(v))) {
			if (col_error(section, path, 0, "not text") < 0)
				return -ENOMEM;
			continue;
		}
		if (streq(dmi_attrs[i].field, "chassis_type_code")) {
			unsigned code;

			if (str_to_uint(v, 10, &code) < 0) {
				if (col_error(section, path, 0, "not a chassis type number") < 0)
					return -ENOMEM;
				continue;
			}
			if (jsonw_set(dmi, "chassis_type_code", json_integer(code)) < 0 ||
			    jsonw_set(section, "chassis",
				      json_string(col_identity_chassis_class(code))) < 0)
				return -ENOMEM;
			continue;
		}
		if (jsonw_set(dmi, dmi_attrs[i].field, json_string(v)) < 0)
			return -ENOMEM;
	}
	return jsonw_set(section, "dmi_available", json_boolean(any));
}

static const char *field(json_t *obj, const char *key)
{
	return json_string_value(json_object_get(obj, key));
}

/* Whether the cpuinfo text has a "flags" line naming the hypervisor bit. */
static bool cpuinfo_has_hypervisor_flag(char *text)
{
	static const char flag[] = "hypervisor";
	const size_t n = sizeof(flag) - 1;
	char *cursor = text, *line;

	while ((line = str_next_line(&cursor))) {
		const char *v = str_startswith(line, "flags");
		const char *p;

		if (!v || !(p = strchr(v, ':')))
			continue;
		/* a whole word: p[-1] is at worst the colon */
		for (p++; (p = strstr(p, flag)); p += n)
			if (p[-1] == ' ' && (p[n] == ' ' || p[n] == '\0' || p[n] == '\r'))
				return true;
	}
	return false;
}

/* The container manager named by `container=` in the init process' environment (systemd's
 * convention), or NULL. Returns a pointer into text. */
static const char *container_from_environ(const char *text, size_t len)
{
	for (size_t off = 0; off < len; off += strlen(text + off) + 1) {
		const char *v = str_startswith(text + off, "container=");

		if (v && *v && str_is_clean_utf8(v, strlen(v)))
			return v;
	}
	return NULL;
}

static int collect_virtualization(const struct col_ctx *ctx, json_t *section, json_t *dmi)
{
	_cleanup_(freep) char *hv = NULL, *environ_text = NULL, *cpuinfo = NULL;
	const char *virt = col_identity_virt_from_dmi(
		field(dmi, "system_vendor"), field(dmi, "product_name"), field(dmi, "bios_vendor"));
	const char *container = NULL;
	size_t len = 0;
	int r;

	if (!virt) {
		/* Xen (and a few others) say so here even when DMI is cloaked */
		r = col_read_attr(ctx, "/sys/hypervisor/type", &hv);
		if (r == -ENOMEM)
			return r;
		if (r == 0 && *hv && str_is_clean_utf8(hv, strlen(hv)))
			virt = hv;
	}
	if (!virt) {
		r = col_read_file(ctx, "/proc/cpuinfo", LIMIT_LARGE_FILE, &cpuinfo, NULL);
		if (r == -ENOMEM)
			return r;
		if (r == 0 && cpuinfo_has_hypervisor_flag(cpuinfo))
			virt = "vm-other";
	}
	r = col_read_file(ctx, "/proc/1/environ", LIMIT_SMALL_FILE, &environ_text, &len);
	if (r == -ENOMEM)
		return r;
	if (r == 0)
		container = container_from_environ(environ_text, len);
	if (!container) {
		_cleanup_(freep) char *p1 = fileio_path(ctx->root, "/.dockerenv");
		_cleanup_(freep) char *p2 = fileio_path(ctx->root, "/run/.containerenv");

		if (!p1 || !p2)
			return -ENOMEM;
		if (access(p1, F_OK) == 0)
			container = "docker";
		else if (access(p2, F_OK) == 0)
			container = "podman";
	}
	if (jsonw_set(section, "virtualization", virt ? json_string(virt) : json_null()) < 0 ||
	    jsonw_set(section, "container", container ? json_string(container) : json_null()) < 0)
		return -ENOMEM;
	if (virt && jsonw_set(section, "chassis", json_string("vm")) < 0)
		return -ENOMEM;
	if (!json_object_get(section, "chassis") &&
	    jsonw_set(section, "chassis", json_string("unknown")) < 0)
		return -ENOMEM;
	return 0;
}

int col_identity_collect(const struct col_ctx *ctx, json_t *section)
{
	json_t *dmi = json_object();
	int r;

	if (jsonw_set(section, "dmi", dmi) < 0)
		return -ENOMEM;
	r = collect_hostname(ctx, section);
	if (r < 0)
		return r;
	r = collect_machine_id(ctx, section);
	if (r < 0)
		return r;
	r = collect_dmi(ctx, section, dmi);
	if (r < 0)
		return r;
	return collect_virtualization(ctx, section, dmi);
}
