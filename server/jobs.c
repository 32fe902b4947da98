/*
 * The server's background jobs: the retention purge (retention.c), every
 * retention_interval, and the SIEM forwarder (siem.c), every siem_interval or at once
 * while it has a backlog. Each runs in a thread of its own, so a slow receiver never
 * delays a purge and a long purge never delays forwarding; neither touches the HTTP
 * threads. Several servers may share one store (PostgreSQL): each job first takes its
 * lease in the store (store_job_try_lock), so one server runs it at a time and another
 * takes over when that one stops renewing. Stopping wakes both threads and waits for them;
 * a forwarder blocked on the network gives up within its 10 s timeouts.
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <gnutls/crypto.h>

#include "lib/log.h"
#include "lib/mm.h"
#include "server/server.h"

#define RETENTION_BATCH 2000
#define HOLDER_MAX      64

struct jobs {
	struct server *srv;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	atomic_bool stop;
	bool have_retention, have_siem;
	pthread_t retention_thread, siem_thread;
	struct siem *siem;
	char holder[HOLDER_MAX + 1];
};

/* Sleeps up to ms unless stopped; true when stopping. */
static bool wait_or_stop(struct jobs *j, unsigned ms)
{
	struct timespec until;

	(void) clock_gettime(CLOCK_REALTIME, &until);
	until.tv_sec += ms / 1000;
	until.tv_nsec += (long) (ms % 1000) * 1000000L;
	if (until.tv_nsec >= 1000000000L) {
		until.tv_sec++;
		until.tv_nsec -= 1000000000L;
	}
	(void) pthread_mutex_lock(&j->lock);
	while (!atomic_load(&j->stop))
		if (pthread_cond_timedwait(&j->cond, &j->lock, &until) == ETIMEDOUT)
			break;
	(void) pthread_mutex_unlock(&j->lock);
	return atomic_load(&j->stop);
}

static bool lease(struct jobs *j, const char *name, int64_t ttl)
{
	bool held = false;
	int r = store_job_try_lock(j->srv->store, name, j->holder, (int64_t) time(NULL), ttl,
				   &held);

	if (r < 0)
		log_warning("(M4202) job %s: cannot take its lease: %s", name, strerror(-r));
	return r >= 0 && held;
}

static void *retention_main(void *arg)
{
	struct jobs *j = arg;
	const struct config *cfg = j->srv->cfg;

	do {
		size_t deleted = 0;

		if (lease(j, "retention", (int64_t) cfg->retention_interval * 2 + 60))
			(void) !retention_run(j->srv->store, cfg, (int64_t) time(NULL),
					      RETENTION_BATCH, &j->stop, &deleted);
	} while (!wait_or_stop(j, cfg->retention_interval * 1000));
	return NULL;
}

static void *siem_main(void *arg)
{
	struct jobs *j = arg;
	const struct config *cfg = j->srv->cfg;
	int64_t ttl = MAX((int64_t) 30, (int64_t) cfg->siem_interval * 3);

	do {
		int more = 0;

		if (lease(j, "siem", ttl)) {
			size_t sent = 0;

			more = siem_forward(j->siem, j->srv->store, (int64_t) time(NULL), &sent);
		}
		if (more > 0 && !atomic_load(&j->stop))
			continue; /* a backlog: on at once */
	} while (!wait_or_stop(j, cfg->siem_interval * 1000));
	return NULL;
}

/* "HOSTNAME:PID:RANDOM": unique among servers sharing the store, readable in the jobs table. */
static void make_holder(char out[HOLDER_MAX + 1])
{
	char host[40] = "server";
	uint32_t rnd = 0;

	(void) gethostname(host, sizeof(host));
	host[sizeof(host) - 1] = '\0';
	(void) gnutls_rnd(GNUTLS_RND_NONCE, &rnd, sizeof(rnd));
	(void) snprintf(out, HOLDER_MAX + 1, "%s:%ld:%08x", host, (long) getpid(), (unsigned) rnd);
}

void jobs_stop(struct jobs *j)
{
	if (!j)
		return;
	(void) pthread_mutex_lock(&j->lock);
	atomic_store(&j->stop, true);
	(void) pthread_cond_broadcast(&j->cond);
	(void) pthread_mutex_unlock(&j->lock);
	if (j->have_retention) {
		(void) pthread_join(j->retention_thread, NULL);
		(void) !store_job_unlock(j->srv->store, "retention", j->holder);
	}
	if (j->have_siem) {
		(void) pthread_join(j->siem_thread, NULL);
		(void) !store_job_unlock(j->srv->store, "siem", j->holder);
	}
	siem_free(j->siem);
	(void) pthread_cond_destroy(&j->cond);
	(void) pthread_mutex_destroy(&j->lock);
	mm_free(j);
}

int jobs_start(struct server *srv, struct jobs **ret, char *errbuf, size_t errlen)
{
	struct jobs *j = mm_calloc(1, sizeof(*j));
	int r;

	if (!j)
		return -ENOMEM;
	j->srv = srv;
	atomic_init(&j->stop, false);
	(void) pthread_mutex_init(&j->lock, NULL);
	(void) pthread_cond_init(&j->cond, NULL);
	make_holder(j->holder);
	if (srv->cfg->siem_target) {
		r = siem_new(srv->cfg, &j->siem, errbuf, errlen);
		if (r < 0) {
			jobs_stop(j);
			return r;
		}
	}
	r = -pthread_create(&j->retention_thread, NULL, retention_main, j);
	if (r < 0) {
		(void) snprintf(errbuf, errlen, "cannot start the retention job: %s", strerror(-r));
		jobs_stop(j);
		return r;
	}
	j->have_retention = true;
	if (j->siem) {
		r = -pthread_create(&j->siem_thread, NULL, siem_main, j);
		if (r < 0) {
			(void) snprintf(errbuf, errlen, "cannot start the SIEM forwarder: %s",
					strerror(-r));
			jobs_stop(j);
			return r;
		}
		j->have_siem = true;
		log_notice("(M4214) forwarding events to the SIEM at %s", srv->cfg->siem_target);
	}
	*ret = j;
	return 0;
}
