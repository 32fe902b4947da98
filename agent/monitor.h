/*
 * Monitors (mon_*.c) and enforcers (enf_*.c) as the agent's event loop sees them.
 *
 * Each watches one kernel or system source (the process connector, fanotify, udev, wtmp,
 * NetworkManager …) through one file descriptor. The daemon adds that descriptor to its
 * epoll set and calls dispatch() when it is readable; dispatch() reads what is waiting
 * without blocking, turns it into events and hands each to the sink, which spools it
 * (assigning the sequence number and times). No monitor polls or sleeps: a monitor that
 * needs a timer owns a timerfd and exposes it as its fd.
 *
 * Privilege separation (docs/internals/privsep.md): descriptors that need root to open
 * (fanotify, the process connector, udev's authorized files) are opened by the privileged
 * parent and passed to the unprivileged worker, which constructs the monitor around the
 * descriptor it received and does all the parsing. So constructors take an open fd, and a
 * separate function (named *_open_privileged) opens it, for the parent to call.
 */
#pragma once

#include <jansson.h>

#include "lib/macro.h"

struct mon_sink {
	/*
	 * Spools one event of `type` ("process.start", "file.write", "usb.plug" …) with
	 * `data` (borrowed; the sink copies what it keeps). Returns 0, -ENOSPC when the spool
	 * refused it (the sink counts that itself), or -ENOMEM.
	 */
	int (*emit)(struct mon_sink *sink, const char *type, json_t *data);
	void *userdata;
};

struct monitor {
	const char *name; /* "proc", "fanotify", "login", "net", "usb" … */
	int fd;           /* watched by the daemon's epoll; -1 when idle */
	/* Drains what is readable on fd, emitting events. Returns 0, or -errno when the
	 * source broke (the daemon logs it, emits agent.monitor_failed and drops it). */
	int (*dispatch)(struct monitor *m, struct mon_sink *sink);
	/* Applies the policy's settings for this monitor (collection profile, watched
	 * folders, device rules). May be NULL. Returns 0 or -errno (policy kept as before). */
	int (*configure)(struct monitor *m, const json_t *policy);
	/* Frees the monitor and closes its descriptors. */
	void (*free)(struct monitor *m);
};
