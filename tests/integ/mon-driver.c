/*
 * A standalone driver for the monitors: builds the ones asked for around descriptors it
 * opens itself (as root, with the in-process mon_priv), runs an epoll loop over them and
 * prints every event the sink receives as one JSON line, {"type": …, "data": {…}}, on
 * stdout. The integration tests run it against this machine's kernel and compare with
 * what they did. It stops on SIGTERM or SIGINT, or after --seconds.
 *
 *   mon-driver [--proc] [--fanotify] [--login] [--net] [--policy FILE]
 *              [--removable MOUNT[=DEVICE-JSON]]… [--ready FILE] [--seconds N]
 *              [--utmp F] [--wtmp F] [--btmp F] [--auth-log F] [--resolv-conf F] [--wpa-dir D]
 *              [--dbus-address A] [--no-rename] [--refuse-fs-marks] [--flush-ms N]
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <time.h>
#include <unistd.h>

#include "agent/monitors.h"
#include "lib/fileio.h"
#include "lib/jsonw.h"
#include "lib/log.h"
#include "lib/mm.h"

#define MAX_MONITORS  4
#define MAX_REMOVABLE 8

static int sink_emit(struct mon_sink *sink, const char *type, json_t *data)
{
	_cleanup_(freep) char *text = NULL;
	json_t *ev;

	(void) sink;
	ev = json_pack("{s:s, s:O}", "type", type, "data", data);
	if (!ev)
		return -ENOMEM;
	text = jsonw_dump(ev);
	json_decref(ev);
	if (!text)
		return -ENOMEM;
	printf("%s\n", text);
	fflush(stdout);
	return 0;
}

static void die(const char *what, int r)
{
	fprintf(stderr, "mon-driver: %s: %s\n", what, strerror(-r));
	exit(1);
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{"proc", no_argument, NULL, 'P'},
		{"fanotify", no_argument, NULL, 'F'},
		{"login", no_argument, NULL, 'L'},
		{"net", no_argument, NULL, 'N'},
		{"policy", required_argument, NULL, 'p'},
		{"removable", required_argument, NULL, 'r'},
		{"ready", required_argument, NULL, 'y'},
		{"seconds", required_argument, NULL, 's'},
		{"utmp", required_argument, NULL, 'u'},
		{"wtmp", required_argument, NULL, 'w'},
		{"btmp", required_argument, NULL, 'b'},
		{"auth-log", required_argument, NULL, 'a'},
		{"resolv-conf", required_argument, NULL, 'R'},
		{"wpa-dir", required_argument, NULL, 'W'},
		{"dbus-address", required_argument, NULL, 'D'},
		{"no-rename", no_argument, NULL, 'n'},
		{"refuse-fs-marks", no_argument, NULL, 'f'},
		{"flush-ms", required_argument, NULL, 'm'},
		{0},
	};
	bool want_proc = false, want_fan = false, want_login = false, want_net = false;
	bool no_rename = false, refuse_fs = false;
	const char *policy_file = NULL, *ready = NULL, *removable[MAX_REMOVABLE];
	struct mon_login_paths lp = {0};
	struct mon_net_paths np = {0};
	struct monitor *mons[MAX_MONITORS];
	struct mon_sink sink = {.emit = sink_emit};
	struct mon_priv *priv;
	json_t *policy = NULL;
	size_t n_mons = 0, n_rm = 0;
	unsigned seconds = 0, flush_ms = 0;
	int c, r, ep, sfd, fan_fd = -1;
	sigset_t mask;

	mm_setup_jansson();
	log_setup("mon-driver", LOG_DEBUG);
	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (c) {
		case 'P':
			want_proc = true;
			break;
		case 'F':
			want_fan = true;
			break;
		case 'L':
			want_login = true;
			break;
		case 'N':
			want_net = true;
			break;
		case 'p':
			policy_file = optarg;
			break;
		case 'r':
			if (n_rm < MAX_REMOVABLE)
				removable[n_rm++] = optarg;
			break;
		case 'y':
			ready = optarg;
			break;
		case 's':
			seconds = (unsigned) strtoul(optarg, NULL, 10);
			break;
		case 'u':
			lp.utmp = optarg;
			break;
		case 'w':
			lp.wtmp = optarg;
			break;
		case 'b':
			lp.btmp = optarg;
			break;
		case 'a':
			lp.auth_log = optarg;
			break;
		case 'R':
			np.resolv_conf = optarg;
			break;
		case 'W':
			np.wpa_dir = optarg;
			break;
		case 'D':
			np.dbus_address = optarg;
			break;
		case 'n':
			no_rename = true;
			break;
		case 'f':
			refuse_fs = true;
			break;
		case 'm':
			flush_ms = (unsigned) strtoul(optarg, NULL, 10);
			break;
		default:
			return 2;
		}
	}
	if (policy_file) {
		_cleanup_(freep) char *text = NULL;
		struct jsonw_error err;
		size_t len;

		r = fileio_read(NULL, policy_file, LIMIT_CONFIG_FILE, &text, &len);
		if (r < 0)
			die(policy_file, r);
		if (jsonw_parse(text, len, LIMIT_CONFIG_FILE, &policy, &err) < 0) {
			fprintf(stderr, "mon-driver: %s: %s\n", policy_file, err.text);
			return 1;
		}
	}
	if (want_fan) {
		r = mon_fanotify_open_privileged(&fan_fd);
		if (r < 0)
			die("fanotify", r);
	}
	priv = mon_priv_direct_new(fan_fd);
	if (!priv)
		die("mon_priv", -ENOMEM);
	if (refuse_fs)
		mon_priv_direct_refuse_fs_marks(priv, true);
	if (want_proc) {
		int fd;

		r = mon_proc_open_privileged(&fd);
		if (r < 0)
			die("process connector", r);
		r = mon_proc_new(fd, "/proc", priv, &mons[n_mons]);
		if (r < 0)
			die("process monitor", r);
		n_mons++;
	}
	if (want_fan) {
		r = mon_fanotify_new(fan_fd, "/proc", priv, &mons[n_mons]);
		if (r < 0)
			die("file monitor", r);
		if (no_rename)
			mon_fanotify_test_no_rename(mons[n_mons]);
		if (flush_ms)
			mon_fanotify_set_flush(mons[n_mons], flush_ms, 10 * flush_ms);
		n_mons++;
	}
	if (want_login) {
		r = mon_login_new(&lp, priv, &mons[n_mons]);
		if (r < 0)
			die("login monitor", r);
		n_mons++;
	}
	if (want_net) {
		r = mon_net_new(&np, &mons[n_mons]);
		if (r < 0)
			die("network monitor", r);
		n_mons++;
	}
	for (size_t i = 0; i < n_mons; i++)
		if (mons[i]->configure) {
			r = mons[i]->configure(mons[i], policy);
			if (r < 0)
				die("configure", r);
		}
	for (size_t i = 0; i < n_rm; i++) {
		struct monitor *fan = NULL;
		_cleanup_(freep) char *mount = mm_strdup(removable[i]);
		char *eq = mount ? strchr(mount, '=') : NULL;
		json_t *dev = NULL;

		for (size_t k = 0; k < n_mons; k++)
			if (streq(mons[k]->name, "fanotify"))
				fan = mons[k];
		if (!fan || !mount)
			die("--removable needs --fanotify", -EINVAL);
		if (eq) {
			*eq = '\0';
			dev = json_loads(eq + 1, 0, NULL);
		}
		r = mon_fanotify_add_removable(fan, mount, dev);
		json_decref(dev);
		if (r < 0)
			die(mount, r);
	}

	sigemptyset(&mask);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGINT);
	sigprocmask(SIG_BLOCK, &mask, NULL);
	sfd = signalfd(-1, &mask, SFD_CLOEXEC);
	ep = epoll_create1(EPOLL_CLOEXEC);
	if (sfd < 0 || ep < 0)
		die("epoll", -errno);
	{
		struct epoll_event ev = {.events = EPOLLIN, .data.ptr = NULL};

		epoll_ctl(ep, EPOLL_CTL_ADD, sfd, &ev);
		for (size_t i = 0; i < n_mons; i++) {
			ev.data.ptr = mons[i];
			if (epoll_ctl(ep, EPOLL_CTL_ADD, mons[i]->fd, &ev) < 0)
				die("epoll_ctl", -errno);
		}
	}
	if (ready) {
		int fd = open(ready, O_WRONLY | O_CREAT | O_CLOEXEC, 0644);

		if (fd >= 0)
			close(fd);
	}
	{
		time_t end = seconds ? time(NULL) + seconds : 0;
		bool stop = false;

		while (!stop) {
			struct epoll_event evs[8];
			int n = epoll_wait(ep, evs, 8, 200);

			for (int i = 0; i < n; i++) {
				struct monitor *m = evs[i].data.ptr;

				if (!m) {
					stop = true;
					continue;
				}
				r = m->dispatch(m, &sink);
				if (r < 0) {
					fprintf(stderr, "mon-driver: monitor %s failed: %s\n",
						m->name, strerror(-r));
					stop = true;
				}
			}
			if (end && time(NULL) >= end)
				stop = true;
		}
	}
	/* what waits (files still being written) is reported on the way out */
	for (size_t i = 0; i < n_mons; i++)
		(void) mons[i]->dispatch(mons[i], &sink);
	for (size_t i = 0; i < n_mons; i++)
		mons[i]->free(mons[i]);
	mon_priv_direct_free(priv);
	json_decref(policy);
	close(ep);
	close(sfd);
	return 0;
}
