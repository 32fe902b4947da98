/*
 * bench/usb-decide: USB control's decision latency, from a device's uevent to the write
 * of its `authorized` file, over N simulated plugs under umockdev (run it with
 * umockdev-wrapper; bench/README.md).
 *
 * Each plug is a USB stick the policy blocks by class, behind 40 rules that do not match
 * and a registry of 10,000 serials, as a real policy has; it is unplugged again (remove
 * uevents) before the next. Two figures per plug:
 *
 * - in the agent: from the moment the enforcer starts receiving the uevent to the moment
 *   its write to `authorized` returned — the "latency_us" of its usb.plug record;
 * - end to end: from the start of the plug (umockdev creating the device's sysfs files,
 *   then sending the uevent) to the moment this program sees "0" in the file (inotify on
 *   umockdev's file; when the write came before the watch, when it is read back), which
 *   adds umockdev's own work and the delivery of the uevent; for the baseline, which
 *   writes nothing, until its record arrives.
 *
 * The machine's load average is printed with the figures: on a shared machine the tail is
 * mostly time spent waiting for a CPU. MAMORI_BENCH_NICE=N runs the enforcer at nice N,
 * as a service manager could (Nice= in the unit).
 *
 * Baseline, in the same run: the same plugs of an allowed stick under a policy of
 * "default allow" — reading and deciding, no write. Goal: p99 < 5 ms (issue 4).
 *
 *   umockdev-wrapper bench-usb-decide [PLUGS]
 */
#include <stdint.h>
#include <sys/inotify.h>
#include <sys/resource.h>

#include "tests/usb/usbbed.h"

#define MAX_PLUGS 100000

static int cmp_i64(const void *a, const void *b)
{
	int64_t x = *(const int64_t *) a, y = *(const int64_t *) b;

	return (x > y) - (x < y);
}

static void stats(int64_t *v, size_t n, double *ret_median_ms, double *ret_p99_ms)
{
	qsort(v, n, sizeof(*v), cmp_i64);
	*ret_median_ms = n ? (double) v[n / 2] / 1000.0 : 0;
	*ret_p99_ms = n ? (double) v[(n * 99 + 99) / 100 - 1] / 1000.0 : 0;
}

static char *policy_text(bool block)
{
	size_t size = 1 << 20, n = 0;
	char *p = calloc(1, size); /* checksrc: allow (benchmark scaffolding) */

	if (!p)
		exit(1);
	n += (size_t) snprintf(p + n, size - n,
			       "{\"version\": \"bench\", \"rules_text\": \"default allow\\n");
	for (int i = 0; block && i < 40; i++)
		n += (size_t) snprintf(p + n, size - n, "allow serial NOT-%04d id 0781:%04x\\n", i,
				       i);
	if (block)
		n += (size_t) snprintf(p + n, size - n, "block class mass-storage\\n");
	n += (size_t) snprintf(p + n, size - n, "\", \"registry\": [");
	for (int i = 0; block && i < 10000; i++)
		n += (size_t) snprintf(p + n, size - n,
				       "%s{\"serial\": \"REG-%05d\", \"tags\": [\"t\"]}",
				       i ? "," : "", i);
	snprintf(p + n, size - n, "], \"grants\": []}");
	return p;
}

/* One series of plugs: fills in-agent and end-to-end latencies (µs). */
static int series(const char *exe, bool block, unsigned plugs, int64_t *agent_us, int64_t *e2e_us,
		  size_t *ret_n)
{
	char policy[400], devpath[600], bus[32], serial[32];
	const char *args[] = {"--policy", policy, "--no-audit", NULL};
	struct bed b;
	size_t from = 0, n = 0;
	char *text = policy_text(block);

	int ifd = inotify_init1(IN_CLOEXEC | IN_NONBLOCK);
	char *sys_dir;

	setenv("MAMORI_USB_ENFORCE", exe, 1);
	bed_init(&b);
	sys_dir = umockdev_testbed_get_sys_dir(b.tb);
	snprintf(policy, sizeof(policy), "%s/policy.json", b.tmp);
	bed_write_file(policy, text);
	free(text); /* checksrc: allow */
	bed_start(&b, args);
	if (getenv("MAMORI_BENCH_NICE"))
		(void) setpriority(PRIO_PROCESS, (id_t) b.agent,
				   (int) strtol(getenv("MAMORI_BENCH_NICE"), NULL, 10));
	if (!bed_wait_event(&b, "driver.ready", NULL, &from, 20000)) {
		fprintf(stderr, "bench-usb-decide: the enforcer did not start\n");
		bed_done(&b);
		return -1;
	}
	for (unsigned i = 0; i < plugs; i++) {
		struct bed_dev d = {.vendor = 0x0781,
				    .product = 0x5581,
				    .manufacturer = "SanDisk",
				    .product_name = "Ultra",
				    .ifaces = {{0x08, 0x06, 0x50, NULL}},
				    .n_ifaces = 1};
		int64_t t0, t1 = 0;
		json_t *ev;
		char v[8];

		snprintf(bus, sizeof(bus), "1-%u", i + 2);
		snprintf(serial, sizeof(serial), "BENCH-%06u", i);
		d.bus_path = bus;
		d.serial = serial;
		t0 = bed_now_us();
		bed_plug(&b, &d, devpath, sizeof(devpath));
		if (block) {
			/* the file umockdev keeps for it, watched without spinning */
			char real[1200];
			int wd;

			snprintf(real, sizeof(real), "%s%s/authorized", sys_dir, devpath);
			wd = inotify_add_watch(ifd, real, IN_MODIFY | IN_CLOSE_WRITE);
			for (int tries = 0; tries < 100 && !t1; tries++) {
				struct pollfd pfd = {.fd = ifd, .events = POLLIN};
				char buf[4096];

				bed_attr(devpath, "authorized", v, sizeof(v));
				if (strcmp(v, "0") == 0)
					t1 = bed_now_us();
				else if (poll(&pfd, 1, 50) > 0 && read(ifd, buf, sizeof(buf)) < 0)
					break;
			}
			if (wd >= 0)
				inotify_rm_watch(ifd, wd);
		}
		ev = bed_wait_event(&b, "usb.plug", bus, &from, 5000);
		if (!block)
			t1 = bed_now_us(); /* nothing is written: until its record arrives */
		if (!ev || !t1) {
			fprintf(stderr, "bench-usb-decide: plug %u was not decided\n", i);
			break;
		}
		agent_us[n] = bed_int(ev, "latency_us");
		e2e_us[n] = t1 - t0;
		n++;
		bed_unplug(&b, devpath, 1);
		(void) bed_wait_event(&b, "usb.unplug", bus, &from, 5000);
	}
	bed_stop(&b);
	bed_done(&b);
	g_free(sys_dir);
	close(ifd);
	*ret_n = n;
	return n == plugs ? 0 : -1;
}

int main(int argc, char **argv)
{
	unsigned plugs = argc > 1 ? (unsigned) strtoul(argv[1], NULL, 10) : 1000;
	static int64_t a_block[MAX_PLUGS], e_block[MAX_PLUGS], a_base[MAX_PLUGS], e_base[MAX_PLUGS];
	const char *exe = getenv("MAMORI_USB_ENFORCE");
	char def[1024], load[128];
	size_t nb = 0, n0 = 0;
	double med, p99, bmed, bp99;

	if (!getenv("LD_PRELOAD")) {
		fprintf(stderr, "bench-usb-decide: run it under umockdev-wrapper\n");
		return 1;
	}
	if (plugs == 0 || plugs > MAX_PLUGS)
		plugs = 1000;
	if (!exe) {
		/* beside this program in the build tree: bench/ and agent/ */
		snprintf(def, sizeof(def), "%s", argv[0]);
		*strrchr(def, '/') = '\0';
		strncat(def, "/../agent/mamori-usb-enforce", sizeof(def) - strlen(def) - 1);
		exe = def;
	}
	{
		FILE *f = fopen("/proc/loadavg", "re");

		if (!f || !fgets(load, sizeof(load), f))
			snprintf(load, sizeof(load), "unknown\n");
		if (f)
			fclose(f);
	}
	if (series(exe, false, plugs, a_base, e_base, &n0) < 0 ||
	    series(exe, true, plugs, a_block, e_block, &nb) < 0)
		return 1;
	printf("usb-decide: %u plugs each (umockdev; uevent -> authorized write); load %s", plugs,
	       load);
	stats(a_block, nb, &med, &p99);
	stats(a_base, n0, &bmed, &bp99);
	printf("  in the agent, blocked stick:     median %.3f ms  p99 %.3f ms   (goal p99 < 5 "
	       "ms)\n",
	       med, p99);
	printf("  baseline, allowed (no write):    median %.3f ms  p99 %.3f ms\n", bmed, bp99);
	stats(e_block, nb, &med, &p99);
	stats(e_base, n0, &bmed, &bp99);
	printf("  end to end, blocked stick:       median %.3f ms  p99 %.3f ms\n", med, p99);
	printf("  end to end, baseline (allowed):  median %.3f ms  p99 %.3f ms\n", bmed, bp99);
	return 0;
}
