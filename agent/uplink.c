/*
 * The uplink: HTTPS requests to the server with libcurl's multi interface, driven by the
 * daemon's epoll loop. curl tells us which sockets to watch (CURLMOPT_SOCKETFUNCTION) and
 * when to wake it (CURLMOPT_TIMERFUNCTION, a timerfd here); the loop hands readiness back
 * with curl_multi_socket_action(). Nothing polls and nothing sleeps: while idle the agent
 * waits in epoll_wait() with no timer but its own schedule.
 *
 * Trust: the pinned CA (STATE/ca.crt) is the only trust anchor (CURLOPT_CAINFO, no CA
 * path, so the system store is never loaded — that also saves memory), the server's name
 * is verified against its certificate (the CA also issues agents' certificates, so the
 * name check is what stops an agent's certificate from posing as the server), and the
 * agent authenticates with its own key and certificate (mutual TLS). Only https is allowed
 * and redirects are not followed.
 *
 * One request at a time: the daemon sends its batches in order and waits for each answer.
 * Bodies over 1 KiB are gzip-compressed; answers are capped at LIMIT_AGENT_REPLY.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include <curl/curl.h>
#include <zlib.h>

#include "agent/daemon.h"
#include "config.h"
#include "lib/limits.h"
#include "lib/log.h"
#include "lib/mm.h"

#define GZIP_THRESHOLD 1024u

struct sock_source {
	struct loop_source src; /* first: the loop hands us this pointer */
	struct uplink *u;
	struct sock_source *next;
};

struct uplink {
	int epfd;
	CURLM *multi;
	struct loop_source timer;
	struct sock_source *socks;
	char *server;
	char *ca_file, *cert_file, *key_file;

	/* The request in flight. */
	CURL *easy;
	void *body;
	struct curl_slist *headers;
	struct buf reply;
	bool over_limit;
	uplink_done_fn done;
	void *userdata;
	char errbuf[CURL_ERROR_SIZE];
};

int uplink_gzip(const void *in, size_t len, void **ret, size_t *ret_len)
{
	z_stream z = {0};
	void *out;
	uLong cap;
	int rc;

	if (len > LIMIT_AGENT_BODY)
		return -E2BIG;
	/* windowBits 15 + 16: a gzip wrapper, as Content-Encoding: gzip means. */
	if (deflateInit2(&z, Z_DEFAULT_COMPRESSION, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) !=
	    Z_OK)
		return -ENOMEM;
	cap = deflateBound(&z, (uLong) len);
	out = mm_malloc(cap);
	if (!out) {
		(void) deflateEnd(&z);
		return -ENOMEM;
	}
	z.next_in = (Bytef *) in;
	z.avail_in = (uInt) len;
	z.next_out = out;
	z.avail_out = (uInt) cap;
	rc = deflate(&z, Z_FINISH);
	(void) deflateEnd(&z);
	if (rc != Z_STREAM_END) {
		mm_free(out);
		return -EIO;
	}
	*ret = out;
	*ret_len = z.total_out;
	return 0;
}

static void sock_dispatch(struct loop_source *src, uint32_t events);

static void check_done(struct uplink *u);

static int on_socket(CURL *easy, curl_socket_t s, int what, void *userp, void *socketp)
{
	struct uplink *u = userp;
	struct sock_source *ss = socketp;
	struct epoll_event ev = {0};

	(void) easy;
	if (what == CURL_POLL_REMOVE) {
		if (ss) {
			struct sock_source **p;

			(void) epoll_ctl(u->epfd, EPOLL_CTL_DEL, s, NULL);
			for (p = &u->socks; *p; p = &(*p)->next)
				if (*p == ss) {
					*p = ss->next;
					break;
				}
			mm_free(ss);
			(void) curl_multi_assign(u->multi, s, NULL);
		}
		return 0;
	}
	ev.events = (what & CURL_POLL_IN ? EPOLLIN : 0) | (what & CURL_POLL_OUT ? EPOLLOUT : 0);
	if (!ss) {
		ss = mm_calloc(1, sizeof(*ss));
		if (!ss)
			return -1;
		ss->src = (struct loop_source){.dispatch = sock_dispatch, .fd = s};
		ss->u = u;
		ev.data.ptr = &ss->src;
		if (epoll_ctl(u->epfd, EPOLL_CTL_ADD, s, &ev) < 0) {
			log_error("(M2020) uplink: cannot watch a socket: %s", strerror(errno));
			mm_free(ss);
			return -1;
		}
		ss->next = u->socks;
		u->socks = ss;
		(void) curl_multi_assign(u->multi, s, ss);
		return 0;
	}
	ev.data.ptr = &ss->src;
	if (epoll_ctl(u->epfd, EPOLL_CTL_MOD, s, &ev) < 0) {
		log_error("(M2020) uplink: cannot watch a socket: %s", strerror(errno));
		return -1;
	}
	return 0;
}

static int on_timer(CURLM *multi, long timeout_ms, void *userp)
{
	struct uplink *u = userp;
	struct itimerspec its = {0};

	(void) multi;
	if (timeout_ms >= 0) {
		/* 0 means "now"; an all-zero it_value would disarm the timer instead. */
		its.it_value.tv_sec = timeout_ms / 1000;
		its.it_value.tv_nsec = timeout_ms % 1000 * 1000000L;
		if (timeout_ms == 0)
			its.it_value.tv_nsec = 1;
	}
	if (timerfd_settime(u->timer.fd, 0, &its, NULL) < 0)
		return -1;
	return 0;
}

static void sock_dispatch(struct loop_source *src, uint32_t events)
{
	struct sock_source *ss = (struct sock_source *) src;
	struct uplink *u = ss->u;
	int flags = 0, running;

	if (events & EPOLLIN)
		flags |= CURL_CSELECT_IN;
	if (events & EPOLLOUT)
		flags |= CURL_CSELECT_OUT;
	if (events & (EPOLLERR | EPOLLHUP))
		flags |= CURL_CSELECT_ERR;
	/* ss may be freed from here on (CURL_POLL_REMOVE). */
	(void) curl_multi_socket_action(u->multi, src->fd, flags, &running);
	check_done(u);
}

static void timer_dispatch(struct loop_source *src, uint32_t events)
{
	struct uplink *u = LOOP_OWNER(src, struct uplink, timer);
	uint64_t ticks;
	int running;

	(void) events;
	(void) !read(src->fd, &ticks, sizeof(ticks));
	(void) curl_multi_socket_action(u->multi, CURL_SOCKET_TIMEOUT, 0, &running);
	check_done(u);
}

int uplink_new(int epfd, const char *server, const struct uplink_tls *tls, struct uplink **ret)
{
	struct uplink *u;
	struct epoll_event ev = {.events = EPOLLIN};

	u = mm_calloc(1, sizeof(*u));
	if (!u)
		return -ENOMEM;
	u->epfd = epfd;
	u->timer.fd = -1;
	u->server = mm_strdup(server);
	u->ca_file = mm_strdup(tls->ca_file);
	u->cert_file = mm_strdup(tls->cert_file);
	u->key_file = mm_strdup(tls->key_file);
	u->multi = curl_multi_init();
	if (!u->server || !u->ca_file || !u->cert_file || !u->key_file || !u->multi) {
		uplink_free(u);
		return -ENOMEM;
	}
	u->timer = (struct loop_source){
		.dispatch = timer_dispatch,
		.fd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC)};
	ev.data.ptr = &u->timer;
	if (u->timer.fd < 0 || epoll_ctl(epfd, EPOLL_CTL_ADD, u->timer.fd, &ev) < 0) {
		log_error("(M2020) uplink: cannot set up its timer: %s", strerror(errno));
		uplink_free(u);
		return -EIO;
	}
	(void) curl_multi_setopt(u->multi, CURLMOPT_SOCKETFUNCTION, on_socket);
	(void) curl_multi_setopt(u->multi, CURLMOPT_SOCKETDATA, u);
	(void) curl_multi_setopt(u->multi, CURLMOPT_TIMERFUNCTION, on_timer);
	(void) curl_multi_setopt(u->multi, CURLMOPT_TIMERDATA, u);
	/* One server, one connection: keep the cache small. */
	(void) curl_multi_setopt(u->multi, CURLMOPT_MAXCONNECTS, 1L);
	*ret = u;
	return 0;
}

static void transfer_done(struct uplink *u)
{
	if (u->easy) {
		(void) curl_multi_remove_handle(u->multi, u->easy);
		curl_easy_cleanup(u->easy);
		u->easy = NULL;
	}
	curl_slist_free_all(u->headers);
	u->headers = NULL;
	mm_free(u->body);
	u->body = NULL;
	buf_done(&u->reply);
	u->done = NULL;
	u->userdata = NULL;
}

void uplink_abort(struct uplink *u)
{
	if (u && u->easy)
		transfer_done(u);
}

struct uplink *uplink_free(struct uplink *u)
{
	if (!u)
		return NULL;
	uplink_abort(u);
	if (u->multi)
		(void) curl_multi_cleanup(u->multi);
	while (u->socks) {
		struct sock_source *next = u->socks->next;

		(void) epoll_ctl(u->epfd, EPOLL_CTL_DEL, u->socks->src.fd, NULL);
		mm_free(u->socks);
		u->socks = next;
	}
	if (u->timer.fd >= 0) {
		(void) epoll_ctl(u->epfd, EPOLL_CTL_DEL, u->timer.fd, NULL);
		(void) close(u->timer.fd);
	}
	mm_free(u->server);
	mm_free(u->ca_file);
	mm_free(u->cert_file);
	mm_free(u->key_file);
	mm_free(u);
	return NULL;
}

bool uplink_busy(const struct uplink *u)
{
	return u->easy != NULL;
}

static size_t on_write(char *p, size_t size, size_t n, void *userp)
{
	struct uplink *u = userp;

	if (buf_add(&u->reply, p, size * n) < 0) {
		u->over_limit = true;
		return 0; /* curl aborts the transfer with CURLE_WRITE_ERROR */
	}
	return size * n;
}

static int map_curl_error(CURLcode rc, bool over_limit)
{
	switch (rc) {
	case CURLE_OK:
		return 0;
	case CURLE_WRITE_ERROR:
		return over_limit ? -E2BIG : -EIO;
	case CURLE_COULDNT_CONNECT:
		return -ECONNREFUSED;
	case CURLE_COULDNT_RESOLVE_HOST:
	case CURLE_COULDNT_RESOLVE_PROXY:
		return -EHOSTUNREACH;
	case CURLE_OPERATION_TIMEDOUT:
		return -ETIMEDOUT;
	case CURLE_OUT_OF_MEMORY:
		return -ENOMEM;
	case CURLE_SSL_CONNECT_ERROR:
	case CURLE_PEER_FAILED_VERIFICATION:
	case CURLE_SSL_CERTPROBLEM:
	case CURLE_SSL_CIPHER:
	case CURLE_SSL_CACERT_BADFILE:
	case CURLE_SSL_ISSUER_ERROR:
	case CURLE_UNSUPPORTED_PROTOCOL:
		return -EPROTO;
	default:
		return -EIO;
	}
}

static void check_done(struct uplink *u)
{
	CURLMsg *msg;
	int left;

	while ((msg = curl_multi_info_read(u->multi, &left))) {
		struct uplink_reply reply = {0};
		uplink_done_fn done = u->done;
		void *userdata = u->userdata;
		CURL *easy = u->easy;
		struct curl_slist *headers = u->headers;
		void *body = u->body;
		struct buf answer = u->reply;
		char errbuf[CURL_ERROR_SIZE];
		curl_off_t retry_after = 0;
		long status = 0;

		if (msg->msg != CURLMSG_DONE || msg->easy_handle != easy)
			continue;
		reply.err = map_curl_error(msg->data.result, u->over_limit);
		(void) snprintf(errbuf, sizeof(errbuf), "%s",
				u->errbuf[0] ? u->errbuf : curl_easy_strerror(msg->data.result));
		reply.errtext = reply.err < 0 ? errbuf : "";
		if (reply.err == 0) {
			(void) curl_easy_getinfo(easy, CURLINFO_RESPONSE_CODE, &status);
			(void) curl_easy_getinfo(easy, CURLINFO_RETRY_AFTER, &retry_after);
			reply.status = status;
			reply.retry_after_s = retry_after > 0 ? (int64_t) retry_after : 0;
			reply.body = buf_str(&answer);
			reply.len = answer.len;
		}
		/* Detach the finished transfer first: the callback may start the next one. */
		(void) curl_multi_remove_handle(u->multi, easy);
		u->easy = NULL;
		u->headers = NULL;
		u->body = NULL;
		buf_init(&u->reply, LIMIT_AGENT_REPLY);
		u->done = NULL;
		u->userdata = NULL;
		if (done)
			done(&reply, userdata);
		curl_easy_cleanup(easy);
		curl_slist_free_all(headers);
		mm_free(body);
		buf_done(&answer);
		return;
	}
}

int uplink_post(struct uplink *u, const char *path, const char *body, size_t len,
		uplink_done_fn done, void *userdata)
{
	_cleanup_(freep) char *url = NULL;
	void *data = NULL;
	size_t data_len = len;
	bool gz = len > GZIP_THRESHOLD;
	CURL *e;
	int r;

	if (u->easy)
		return -EBUSY;
	url = mm_asprintf("%s%s", u->server, path);
	if (!url)
		return -ENOMEM;
	if (gz)
		r = uplink_gzip(body, len, &data, &data_len);
	else {
		data = mm_memdup(body, len ? len : 1);
		r = data ? 0 : -ENOMEM;
	}
	if (r < 0)
		return r;
	e = curl_easy_init();
	if (!e) {
		mm_free(data);
		return -ENOMEM;
	}
	u->easy = e;
	u->body = data;
	u->done = done;
	u->userdata = userdata;
	u->over_limit = false;
	u->errbuf[0] = '\0';
	buf_init(&u->reply, LIMIT_AGENT_REPLY);
	u->headers = curl_slist_append(NULL, "Content-Type: application/json");
	if (u->headers && gz)
		u->headers = curl_slist_append(u->headers, "Content-Encoding: gzip");
	if (u->headers)
		u->headers = curl_slist_append(u->headers, "Expect:");
	if (!u->headers) {
		transfer_done(u);
		return -ENOMEM;
	}
	if (curl_easy_setopt(e, CURLOPT_URL, url) != CURLE_OK ||
	    curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "https") != CURLE_OK ||
	    curl_easy_setopt(e, CURLOPT_POST, 1L) != CURLE_OK ||
	    curl_easy_setopt(e, CURLOPT_POSTFIELDS, data) != CURLE_OK ||
	    curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t) data_len) != CURLE_OK ||
	    curl_easy_setopt(e, CURLOPT_HTTPHEADER, u->headers) != CURLE_OK ||
	    curl_easy_setopt(e, CURLOPT_USERAGENT, "mamori-agent/" MAMORI_VERSION) != CURLE_OK ||
	    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_write) != CURLE_OK ||
	    curl_easy_setopt(e, CURLOPT_WRITEDATA, u) != CURLE_OK ||
	    curl_easy_setopt(e, CURLOPT_ERRORBUFFER, u->errbuf) != CURLE_OK ||
	    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L) != CURLE_OK ||
	    curl_easy_setopt(e, CURLOPT_CAINFO, u->ca_file) != CURLE_OK ||
	    curl_easy_setopt(e, CURLOPT_CAPATH, NULL) != CURLE_OK ||
	    curl_easy_setopt(e, CURLOPT_SSL_VERIFYPEER, 1L) != CURLE_OK ||
	    curl_easy_setopt(e, CURLOPT_SSL_VERIFYHOST, 2L) != CURLE_OK ||
	    curl_easy_setopt(e, CURLOPT_SSLCERT, u->cert_file) != CURLE_OK ||
	    curl_easy_setopt(e, CURLOPT_SSLKEY, u->key_file) != CURLE_OK ||
	    curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT, 30L) != CURLE_OK ||
	    curl_easy_setopt(e, CURLOPT_TIMEOUT, 300L) != CURLE_OK ||
	    curl_easy_setopt(e, CURLOPT_LOW_SPEED_LIMIT, 100L) != CURLE_OK ||
	    curl_easy_setopt(e, CURLOPT_LOW_SPEED_TIME, 60L) != CURLE_OK) {
		transfer_done(u);
		return -EIO;
	}
	if (curl_multi_add_handle(u->multi, e) != CURLM_OK) {
		transfer_done(u);
		return -EIO;
	}
	return 0;
}
