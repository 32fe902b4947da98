/* The cpu section's parser: sockets, cores and threads from /proc/cpuinfo's topology lines. */
#include <errno.h>

#include "agent/agent.h"
#include "lib/buf.h"
#include "lib/mm.h"
#include "tests/tap.h"

static int cpuinfo(const char *text, json_t **ret)
{
	char *copy = mm_strdup(text);
	int r;

	*ret = json_object();
	r = col_cpu_parse_cpuinfo(copy, *ret);
	mm_free(copy);
	return r;
}

static long long get_int(json_t *s, const char *field)
{
	json_t *v = json_object_get(s, field);

	return json_is_integer(v) ? (long long) json_integer_value(v) : -1;
}

/* One processor block as x86 Linux prints it; topology lines only when socket >= 0. */
static void block(struct buf *b, unsigned n, int socket, unsigned core, unsigned siblings,
		  unsigned cores, const char *flags)
{
	int r = buf_addf(b,
			 "processor\t: %u\n"
			 "vendor_id\t: GenuineIntel\n"
			 "cpu family\t: 6\n"
			 "model\t\t: 85\n"
			 "model name\t: Intel(R) Xeon(R) Silver 4110 CPU @ 2.10GHz\n"
			 "stepping\t: 4\n"
			 "cpu MHz\t\t: 2100.000\n"
			 "cache size\t: 11264 KB\n",
			 n);

	if (r == 0 && socket >= 0)
		r = buf_addf(b,
			     "physical id\t: %d\n"
			     "siblings\t: %u\n"
			     "core id\t\t: %u\n"
			     "cpu cores\t: %u\n"
			     "apicid\t\t: %u\n",
			     socket, siblings, core, cores, n);
	if (r == 0)
		r = buf_addf(b,
			     "fpu\t\t: yes\n"
			     "flags\t\t: %s\n"
			     "bogomips\t: 4200.00\n"
			     "address sizes\t: 46 bits physical, 48 bits virtual\n"
			     "power management:\n\n",
			     flags);
	if (r < 0)
		abort();
}

static const char host_flags[] = "fpu vme de pse tsc msr pae mce cx8 apic sep mtrr ht vmx";
static const char guest_flags[] = "fpu vme de pse tsc msr pae hypervisor lahf_lm abm";

static void test_two_sockets(void)
{
	/* 2 sockets x 4 cores x 2 threads; core ids are not contiguous (0 1 8 9), as on
	 * many Xeons, and repeat on the second socket, so only (socket, core) pairs count */
	static const unsigned core_ids[] = {0, 1, 8, 9};
	struct buf b;
	unsigned n = 0;
	json_t *s;

	buf_init(&b, 1 << 20);
	for (unsigned thread = 0; thread < 2; thread++)
		for (int socket = 0; socket < 2; socket++)
			for (unsigned c = 0; c < 4; c++)
				block(&b, n++, socket, core_ids[c], 8, 4, host_flags);
	CHECK_INT(cpuinfo(buf_str(&b), &s), 0, "a 2-socket cpuinfo parses");
	CHECK_INT(get_int(s, "sockets"), 2, "2 sockets");
	CHECK_INT(get_int(s, "cores"), 8, "8 cores (4 per socket, same core ids on both)");
	CHECK_INT(get_int(s, "threads"), 16, "16 threads");
	CHECK_STR(json_string_value(json_object_get(s, "model")),
		  "Intel(R) Xeon(R) Silver 4110 CPU @ 2.10GHz", "model name");
	CHECK_STR(json_string_value(json_object_get(s, "vendor")), "GenuineIntel", "vendor");
	CHECK(json_is_false(json_object_get(s, "hypervisor_flag")), "bare metal: no flag");
	json_decref(s);
	buf_done(&b);
}

static void test_vm_without_topology(void)
{
	struct buf b;
	json_t *s;

	buf_init(&b, 1 << 20);
	for (unsigned n = 0; n < 4; n++)
		block(&b, n, -1, 0, 0, 0, guest_flags);
	CHECK_INT(cpuinfo(buf_str(&b), &s), 0, "a VM's cpuinfo without topology lines parses");
	CHECK_INT(get_int(s, "sockets"), 1, "one socket");
	CHECK_INT(get_int(s, "cores"), 4, "each processor counts as a core");
	CHECK_INT(get_int(s, "threads"), 4, "4 threads");
	CHECK(json_is_true(json_object_get(s, "hypervisor_flag")), "the hypervisor flag is seen");
	json_decref(s);
	buf_done(&b);
}

static void test_odd_shapes(void)
{
	json_t *s;

	CHECK_INT(cpuinfo("processor\t: 0\nphysical id\t: 0\ncore id\t\t: 3\n\n"
			  "processor\t: 1\nphysical id\t: 0\n\n",
			  &s),
		  0, "a block without a core id");
	CHECK_INT(get_int(s, "cores"), 2, "does not take the previous block's core id");
	json_decref(s);

	CHECK_INT(cpuinfo("processor\t: 0\nBogoMIPS\t: 48.00\nFeatures\t: fp asimd evtstrm\n"
			  "CPU implementer\t: 0x41\n\nprocessor\t: 1\nBogoMIPS\t: 48.00\n\n"
			  "Hardware\t: BCM2835\n",
			  &s),
		  0, "an arm64 cpuinfo (no model name, no topology) parses");
	CHECK_INT(get_int(s, "threads"), 2, "2 threads");
	CHECK(!json_object_get(s, "model"), "no model invented");
	json_decref(s);

	CHECK_INT(cpuinfo("processor : 0\nflags : fpu hypervisor_lite vme\n\n", &s), 0,
		  "a flag that only starts with 'hypervisor'");
	CHECK(json_is_false(json_object_get(s, "hypervisor_flag")), "is not the hypervisor flag");
	json_decref(s);
	CHECK_INT(cpuinfo("processor : 0\nflags : hypervisor\n", &s), 0, "flag alone on the line");
	CHECK(json_is_true(json_object_get(s, "hypervisor_flag")), "is seen");
	json_decref(s);

	CHECK_INT(cpuinfo("processor\t: 0\nmodel name\t: \xff\xfe junk\n"
			  "vendor_id\t: AuthenticAMD\nphysical id\t: x\ncore id\t: -1\n",
			  &s),
		  0, "junk values and a missing final blank line");
	CHECK(!json_object_get(s, "model"), "a model that is not UTF-8 is dropped");
	CHECK_INT(get_int(s, "sockets"), 1, "unparsable topology counts as none");
	CHECK_INT(get_int(s, "cores"), 1, "one core");
	json_decref(s);

	CHECK_INT(cpuinfo("", &s), -EBADMSG, "an empty cpuinfo: -EBADMSG");
	json_decref(s);
	CHECK_INT(cpuinfo("vendor_id : GenuineIntel\nflags : fpu\n", &s), -EBADMSG,
		  "no processor line: -EBADMSG");
	json_decref(s);
}

int main(void)
{
	mm_setup_jansson();
	test_two_sockets();
	test_vm_without_topology();
	test_odd_shapes();
	return tap_done();
}
