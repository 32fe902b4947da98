/*
 * mamori-usb-enforce: USB control on its own, for tests, benchmarks and a machine without
 * the daemon. It runs the enforcer (enf_usb.c) and the removable-media monitor
 * (mon_removable.c) in a small event loop with an in-memory sink that prints every event as
 * one JSON line on stdout: {"type": …, "time_ms": …, "data": {…}}. `mamori-agent run`
 * drives the same monitors through the spool.
 *
 *   mamori-usb-enforce --state-dir DIR [--policy FILE] [--root DIR] [--sys-root DIR]
 *                      [--dev-root DIR] [--net-root DIR] [--host NAME] [--removable]
 *                      [--no-audit] [--once]
 *   mamori-usb-enforce --udev-block DEVPATH [--root DIR] [--sys-root DIR] [--dev-root DIR]
 *
 * SIGHUP reads the network facts (and --policy) again; SIGTERM and SIGINT stop it.
 * --udev-block is what the udev rule (dist/udev/72-mamori-usb.rules) runs for a block or sg
 * device under a USB device; it prints MAMORI_USB_READONLY=1 when the device is marked
 * read-only (docs/usb-control.md).
 */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <time.h>
#include <unistd.h>

#include "agent/enf_usb.h"
#include "lib/fileio.h"
#include "lib/jsonw.h"
#include "lib/log.h"
#include "lib/mm.h"

#define EXIT_USAGE 2

struct printer {
	struct mon_sink sink;
	unsigned long n;
};

static int print_event(struct mon_sink *sink, const char *type, json_t *data)
{
	struct printer *p = sink->userdata;
	struct timespec ts;
	_cleanup_(json_decrefp) json_t *o = NULL;
	_cleanup_(freep) char *s = NULL;

	(void) clock_gettime(CLOCK_REALTIME, &ts);
	o = json_pack("{s:s, s:I, s:O}", "type", type, "time_ms",
		      (json_int_t) ts.tv_sec * 1000 + ts.tv_nsec / 1000000, "data", data);
	if (!o)
		return -ENOMEM;
	s = jsonw_dump(o);
	if (!s)
		return -ENOMEM;
	printf("%s\n", s);
	(void) fflush(stdout);
	p->n++;
	return 0;
}

static int network_facts(const char *net_root, struct usbnet *ret)
{
	_cleanup_(json_decrefp) json_t *section = json_object();
	struct col_ctx ctx = {.root = net_root, .now = (int64_t) time(NULL)};

	if (!section)
		return -ENOMEM;
	if (col_network_collect(&ctx, section) < 0)
		return -ENOMEM;
	usbdoc_network(section, ret);
	return 0;
}

static int load_policy(struct monitor *enf, const char *file)
{
	_cleanup_(json_decrefp) json_t *doc = NULL;
	_cleanup_(freep) char *text = NULL;
	struct jsonw_error err = {{0}};
	size_t len;
	int r;

	r = fileio_read(NULL, file, LIMIT_USB_POLICY_DOC, &text, &len);
	if (r < 0) {
		fprintf(stderr, "mamori-usb-enforce: cannot read %s: %s\n", file, strerror(-r));
		return r;
	}
	r = jsonw_parse(text, len, LIMIT_USB_POLICY_DOC, &doc, &err);
	if (r < 0) {
		fprintf(stderr, "mamori-usb-enforce: %s: %s\n", file, err.text);
		return r;
	}
	r = enf->configure(enf, doc);
	if (r < 0)
		fprintf(stderr, "mamori-usb-enforce: %s: refused (see the log)\n", file);
	return r;
}

struct options {
	struct enf_usb_options enf;
	const char *policy, *net_root, *udev_block;
	bool once, removable, no_audit;
};

static int run(const struct options *o)
{
	struct printer pr = {.sink = {.emit = print_event}};
	struct monitor *enf = NULL, *rm = NULL;
	_cleanup_(closep) int epfd = -1, sfd = -1;
	struct usbnet net;
	sigset_t mask;
	int r, status = EXIT_FAILURE;

	pr.sink.userdata = &pr;
	sigemptyset(&mask);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGINT);
	sigaddset(&mask, SIGHUP);
	if (sigprocmask(SIG_BLOCK, &mask, NULL) < 0)
		return EXIT_FAILURE;
	sfd = signalfd(-1, &mask, SFD_CLOEXEC | SFD_NONBLOCK);
	epfd = epoll_create1(EPOLL_CLOEXEC);
	if (sfd < 0 || epfd < 0)
		return EXIT_FAILURE;

	r = enf_usb_new(&o->enf, &enf);
	if (r < 0) {
		fprintf(stderr, "mamori-usb-enforce: cannot start USB control: %s\n", strerror(-r));
		return EXIT_FAILURE;
	}
	if (o->removable) {
		int fd = mon_removable_open_privileged();

		if (fd < 0 || mon_removable_new(fd, o->enf.root, &rm) < 0) {
			fprintf(stderr, "mamori-usb-enforce: cannot watch removable media: %s\n",
				strerror(fd < 0 ? -fd : ENOMEM));
			if (fd >= 0)
				(void) close(fd);
			goto out;
		}
		enf_usb_set_removable(enf, rm);
	}
	if (!o->no_audit) {
		struct enf_usb_audit *a = NULL;

		r = enf_usb_audit_open(&a);
		if (r < 0)
			log_notice("(M1432) USB control: no audit records (%s): refused writes are "
				   "refused but not recorded",
				   strerror(-r));
		else if (enf_usb_set_audit(enf, a) < 0)
			goto out;
	}
	if (o->net_root && network_facts(o->net_root, &net) == 0)
		enf_usb_set_network(enf, &net);
	if (o->policy && load_policy(enf, o->policy) < 0)
		goto out;
	{
		struct epoll_event a = {.events = EPOLLIN, .data.ptr = enf};
		struct epoll_event b = {.events = EPOLLIN, .data.ptr = NULL};
		struct epoll_event c = {.events = EPOLLIN, .data.ptr = rm};

		if (epoll_ctl(epfd, EPOLL_CTL_ADD, enf->fd, &a) < 0 ||
		    epoll_ctl(epfd, EPOLL_CTL_ADD, sfd, &b) < 0 ||
		    (rm && epoll_ctl(epfd, EPOLL_CTL_ADD, rm->fd, &c) < 0))
			goto out;
	}
	r = enf->dispatch(enf, &pr.sink);
	if (r < 0)
		goto out;
	{
		_cleanup_(json_decrefp) json_t *ready =
			json_pack("{s:s}", "policy_version", enf_usb_policy_version(enf));

		if (!ready || print_event(&pr.sink, "driver.ready", ready) < 0)
			goto out;
	}
	while (!o->once) {
		struct epoll_event ev[4];
		int n = epoll_wait(epfd, ev, ARRAY_SIZE(ev), -1);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			goto out;
		for (int i = 0; i < n; i++) {
			struct monitor *m = ev[i].data.ptr;
			struct signalfd_siginfo si;

			if (m) {
				r = m->dispatch(m, &pr.sink);
				if (r < 0) {
					fprintf(stderr, "mamori-usb-enforce: %s failed: %s\n",
						m->name, strerror(-r));
					goto out;
				}
				continue;
			}
			if (read(sfd, &si, sizeof(si)) != sizeof(si))
				continue;
			if (si.ssi_signo != SIGHUP) {
				status = EXIT_SUCCESS;
				goto out;
			}
			if (o->net_root && network_facts(o->net_root, &net) == 0)
				enf_usb_set_network(enf, &net);
			if (o->policy)
				(void) load_policy(enf, o->policy);
		}
	}
	status = EXIT_SUCCESS;
out:
	if (rm)
		rm->free(rm);
	enf->free(enf);
	return status;
}

static _printf_(1, 2) int usage(const char *fmt, ...)
{
	va_list ap;

	fputs("mamori-usb-enforce: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	return EXIT_USAGE;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{"state-dir", required_argument, NULL, 's'},
		{"policy", required_argument, NULL, 'p'},
		{"root", required_argument, NULL, 'r'},
		{"sys-root", required_argument, NULL, 'y'},
		{"dev-root", required_argument, NULL, 'd'},
		{"net-root", required_argument, NULL, 'n'},
		{"host", required_argument, NULL, 'H'},
		{"removable", no_argument, NULL, 'R'},
		{"no-audit", no_argument, NULL, 'A'},
		{"once", no_argument, NULL, 'o'},
		{"udev-block", required_argument, NULL, 'u'},
		{"help", no_argument, NULL, 'h'},
		{0},
	};
	struct options o = {.enf = {.sys_root = "/", .dev_root = "/", .root = "/"}};
	char host[256] = "";
	int c;

	mm_setup_jansson();
	log_setup("mamori-usb-enforce", LOG_INFO);
	opterr = 0;
	while ((c = getopt_long(argc, argv, "+:", opts, NULL)) != -1) {
		switch (c) {
		case 's':
			o.enf.state_dir = optarg;
			break;
		case 'p':
			o.policy = optarg;
			break;
		case 'r':
			o.enf.root = optarg;
			break;
		case 'y':
			o.enf.sys_root = optarg;
			break;
		case 'd':
			o.enf.dev_root = optarg;
			break;
		case 'n':
			o.net_root = optarg;
			break;
		case 'H':
			o.enf.host = optarg;
			break;
		case 'R':
			o.removable = true;
			break;
		case 'A':
			o.no_audit = true;
			break;
		case 'o':
			o.once = true;
			break;
		case 'u':
			o.udev_block = optarg;
			break;
		case 'h':
			printf("Usage: mamori-usb-enforce --state-dir DIR [--policy FILE] [--root "
			       "DIR]\n"
			       "         [--sys-root DIR] [--dev-root DIR] [--net-root DIR] "
			       "[--host "
			       "NAME]\n"
			       "         [--removable] [--no-audit] [--once]\n"
			       "       mamori-usb-enforce --udev-block DEVPATH\n");
			return EXIT_SUCCESS;
		case ':':
			return usage("option '%s' needs a value", argv[optind - 1]);
		default:
			return usage("unknown option '%s' (see --help)", argv[optind - 1]);
		}
	}
	if (optind < argc)
		return usage("unexpected argument '%s'", argv[optind]);
	if (o.udev_block) {
		int r = enf_usb_block_udev(&o.enf, o.udev_block);

		if (r < 0) {
			fprintf(stderr, "mamori-usb-enforce: %s: %s\n", o.udev_block, strerror(-r));
			return EXIT_FAILURE;
		}
		/* for the rule's IMPORT{program}: the device's node loses write permission */
		if (r > 0)
			printf("MAMORI_USB_READONLY=1\n");
		return EXIT_SUCCESS;
	}
	if (!o.enf.state_dir)
		return usage("--state-dir is needed");
	if (!o.enf.host) {
		if (gethostname(host, sizeof(host) - 1) < 0)
			host[0] = '\0';
		o.enf.host = host;
	}
	return run(&o);
}
