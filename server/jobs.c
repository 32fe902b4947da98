/*
 * Background jobs of mamori-server. Several servers may share one PostgreSQL store behind
 * a load balancer; a job such as store maintenance, the retention purge (retention.c) or
 * the SIEM forwarder (siem.c) must then run on exactly one of them at a time. The store's
 * job lock decides which: a PostgreSQL session advisory lock, released by PostgreSQL when
 * the holder's connection closes — also when the holder is killed — so the job moves to
 * another server at that server's next try.
 *
 * One thread, woken by a timerfd every job_retry_interval seconds (first at once) and by
 * an eventfd to stop. At each wake-up it tries to take each job it does not hold, and runs
 * each job it holds whose interval has passed since it last ran here; a job just taken
 * runs at once (the previous holder's last run is not known here, and every job is
 * idempotent). A lock taken is kept until jobs_stop(): the job stays where it is.
 * A job runs on this thread, so a slow job delays the others, never a request; a purge
 * checks `stopping` between its batches, so a stop does not wait for the whole of it.
 *
 * The SIEM forwarder is the exception: it looks for new events every few seconds and may
 * wait on the network, so it has a thread of its own (started when siem_target is set)
 * with its own lock "siem", taken and kept the same way.
 * Limits: JOBS_MAX jobs (below STORE_JOBS_MAX locks).
 */
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

#include "lib/log.h"
#include "lib/mm.h"
#include "server/server.h"

#define JOBS_MAX        8
#define RETENTION_BATCH 2000 /* events per purge transaction */

struct job {
	const char *name;
	unsigned interval; /* seconds between runs */
	int (*run)(struct jobs *j, int64_t now);
	bool held;
	int64_t last_run; /* Unix seconds; 0: not run here yet */
};

struct jobs {
	struct server *srv;
	pthread_t thread;
	bool started;
	atomic_bool stopping;
	struct siem *siem; /* NULL: no forwarding */
	pthread_t siem_thread;
	bool siem_started;
	int timerfd;
	int stopfd;
	struct job job[JOBS_MAX];
	size_t n;
};

static int job_maintain(struct jobs *j, int64_t now)
{
	return store_maintain(j->srv->store, now);
}

static int job_retention(struct jobs *j, int64_t now)
{
	size_t deleted = 0;
	int r = retention_run(j->srv->store, j->srv->cfg, now, RETENTION_BATCH, &j->stopping,
			      &deleted);

	/* a store without the event store (PostgreSQL, for now) has nothing to purge */
	return r == -EOPNOTSUPP ? 0 : r;
}

static void tick(struct jobs *j)
{
	int64_t now = (int64_t) time(NULL);

	for (size_t i = 0; i < j->n; i++) {
		struct job *job = &j->job[i];
		int r;

		if (!job->held) {
			bool held = false;

			r = store_job_try_lock(j->srv->store, job->name, &held);
			if (r < 0) {
				log_warning("(M3041) job %s: cannot take its lock: %s", job->name,
					    strerror(-r));
				continue;
			}
			if (!held) {
				log_debug("(M3042) job %s: runs on another server", job->name);
				continue;
			}
			job->held = true;
			log_notice("(M3040) job %s: taken; it runs on this server", job->name);
		}
		if (job->last_run != 0 && now - job->last_run < (int64_t) job->interval)
			continue;
		job->last_run = now;
		r = job->run(j, now);
		if (r < 0)
			log_warning("(M3043) job %s failed: %s", job->name, strerror(-r));
		else
			log_info("(M3044) job %s done", job->name);
	}
}

static void *jobs_thread(void *userdata)
{
	struct jobs *j = userdata;
	struct pollfd fds[2] = {{.fd = j->timerfd, .events = POLLIN},
				{.fd = j->stopfd, .events = POLLIN}};

	for (;;) {
		uint64_t n;

		if (poll(fds, 2, -1) < 0) {
			if (errno == EINTR)
				continue;
			log_error("(M3041) jobs: poll: %s; background jobs stop", strerror(errno));
			return NULL;
		}
		if (fds[1].revents)
			return NULL;
		if (fds[0].revents && read(j->timerfd, &n, sizeof(n)) == (ssize_t) sizeof(n))
			tick(j);
	}
}

/* The SIEM forwarder's thread: forwards while it holds the lock "siem", at once again
 * while a backlog remains, else every siem_interval; stops when stopfd is readable. */
static void *siem_thread(void *userdata)
{
	struct jobs *j = userdata;
	struct pollfd stop = {.fd = j->stopfd, .events = POLLIN};
	unsigned retry = j->srv->cfg->job_retry_interval ? j->srv->cfg->job_retry_interval : 30;
	bool held = false;

	while (!atomic_load(&j->stopping)) {
		unsigned wait_s = j->srv->cfg->siem_interval;
		int more = 0;

		if (!held) {
			int r = store_job_try_lock(j->srv->store, "siem", &held);

			if (r < 0)
				log_warning("(M3041) job siem: cannot take its lock: %s",
					    strerror(-r));
			if (held)
				log_notice("(M3040) job siem: taken; it runs on this server");
		}
		if (held) {
			size_t sent = 0;

			more = siem_forward(j->siem, j->srv->store, (int64_t) time(NULL), &sent);
		} else {
			wait_s = retry;
		}
		if (more > 0)
			continue; /* a backlog: on at once */
		if (poll(&stop, 1, (int) wait_s * 1000) != 0)
			break;
	}
	if (held)
		(void) !store_job_unlock(j->srv->store, "siem");
	return NULL;
}

static void jobs_add(struct jobs *j, const char *name, unsigned interval,
		     int (*run)(struct jobs *, int64_t))
{
	if (j->n < JOBS_MAX)
		j->job[j->n++] = (struct job){.name = name, .interval = interval, .run = run};
}

int jobs_start(struct server *srv, struct jobs **ret)
{
	unsigned retry = srv->cfg->job_retry_interval ? srv->cfg->job_retry_interval : 30;
	struct itimerspec its = {
		.it_value = {.tv_nsec = 1},
		.it_interval = {.tv_sec = (time_t) retry},
	};
	struct jobs *j;
	int r;

	j = mm_calloc(1, sizeof(*j));
	if (!j)
		return -ENOMEM;
	j->srv = srv;
	atomic_init(&j->stopping, false);
	j->stopfd = -1;
	j->timerfd = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC);
	if (j->timerfd < 0)
		goto fail_errno;
	j->stopfd = eventfd(0, EFD_CLOEXEC);
	if (j->stopfd < 0)
		goto fail_errno;
	if (timerfd_settime(j->timerfd, 0, &its, NULL) < 0)
		goto fail_errno;
	jobs_add(j, "maintain", srv->cfg->maintain_interval ? srv->cfg->maintain_interval : 3600,
		 job_maintain);
	jobs_add(j, "retention", srv->cfg->retention_interval ? srv->cfg->retention_interval : 3600,
		 job_retention);
	if (srv->cfg->siem_target) {
		char err[512];
		int64_t pos;

		if (store_events_position(srv->store, &pos) == -EOPNOTSUPP) {
			log_error("(M4215) cannot start the SIEM forwarder: this store backend has "
				  "no event store yet (use SQLite)");
			(void) jobs_stop(j);
			return -EOPNOTSUPP;
		}
		r = siem_new(srv->cfg, &j->siem, err, sizeof(err));
		if (r < 0) {
			log_error("(M4215) cannot start the SIEM forwarder: %s",
				  r == -ENOMEM ? "out of memory" : err);
			(void) jobs_stop(j);
			return r;
		}
	}
	r = pthread_create(&j->thread, NULL, jobs_thread, j);
	if (r != 0) {
		(void) jobs_stop(j);
		return -r;
	}
	j->started = true;
	if (j->siem) {
		r = pthread_create(&j->siem_thread, NULL, siem_thread, j);
		if (r != 0) {
			(void) jobs_stop(j);
			return -r;
		}
		j->siem_started = true;
		log_notice("(M4214) forwarding events to the SIEM at %s", srv->cfg->siem_target);
	}
	*ret = j;
	return 0;

fail_errno:
	r = -errno;
	(void) jobs_stop(j);
	return r;
}

struct jobs *jobs_stop(struct jobs *j)
{
	if (!j)
		return NULL;
	atomic_store(&j->stopping, true);
	if (j->started || j->siem_started) {
		uint64_t one = 1;

		if (write(j->stopfd, &one, sizeof(one)) != (ssize_t) sizeof(one)) {
			/* The thread may still use j: leaving it is the safe way out. */
			log_error("(M3041) jobs: cannot stop the job thread: %s", strerror(errno));
			return NULL;
		}
		if (j->started)
			(void) pthread_join(j->thread, NULL);
		if (j->siem_started)
			(void) pthread_join(j->siem_thread, NULL);
	}
	siem_free(j->siem);
	for (size_t i = 0; i < j->n; i++)
		if (j->job[i].held)
			(void) !store_job_unlock(j->srv->store, j->job[i].name);
	if (j->timerfd >= 0)
		(void) close(j->timerfd);
	if (j->stopfd >= 0)
		(void) close(j->stopfd);
	mm_free(j);
	return NULL;
}
