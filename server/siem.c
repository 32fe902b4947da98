/*
 * Forwarding events to a SIEM: each stored event becomes one syslog message (RFC 5424)
 * whose MSG is the event as JSON, sent over TLS (RFC 5425) with octet-counting framing
 * ("LEN SP MSG"), to the receiver named by siem_target, whose certificate must chain to
 * siem_ca and name siem_name (or the target's host).
 *
 * Nothing is skipped: the forwarder follows the store's insertion order (rx), not event
 * time, so a laptop that uploads a week of events late is still forwarded; its position is
 * a durable cursor in the store ("siem"), moved only after a batch was written to the
 * connection, so after an outage (the receiver down, the network gone, the server
 * restarted) it resumes where it stopped. Delivery is at least once: RFC 5425 has no
 * acknowledgement, so a batch the receiver lost while it was failing may come again after
 * the reconnection; each message carries host_id and seq for de-duplication. Before each
 * batch the connection is checked for an end of stream (a syslog receiver never writes,
 * so anything readable means it hung up), which catches a restarted receiver before a
 * batch is written into a dead connection.
 *
 * Limits: SIEM_BATCH events per write, SIEM_ROUNDS batches per call (the caller polls
 * again at once when more is waiting), 10 s connect/handshake/write timeouts.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <netdb.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <gnutls/gnutls.h>
#include <gnutls/x509.h>

#include "lib/buf.h"
#include "lib/jsonw.h"
#include "lib/log.h"
#include "lib/mm.h"
#include "lib/str.h"
#include "server/server.h"

#define SIEM_CURSOR     "siem"
#define SIEM_BATCH      500
#define SIEM_ROUNDS     20
#define SIEM_TIMEOUT_MS 10000
#define SIEM_FACILITY   16 /* local0 */
#define SIEM_PRIORITIES "NORMAL:-VERS-ALL:+VERS-TLS1.3:+VERS-TLS1.2"
#define SIEM_MSG_MAX    ((size_t) 256 * 1024)

struct siem {
	char *host;
	char *port;
	char *name; /* verified in the receiver's certificate */
	bool from_start;
	gnutls_certificate_credentials_t cred;
	gnutls_session_t session;
	int fd;
	bool down_logged; /* the last failure was logged: log the next one only when it heals */
};

static void disconnect(struct siem *s)
{
	if (s->session) {
		gnutls_deinit(s->session);
		s->session = NULL;
	}
	if (s->fd >= 0)
		(void) close(s->fd);
	s->fd = -1;
}

struct siem *siem_free(struct siem *s)
{
	if (!s)
		return NULL;
	disconnect(s);
	if (s->cred)
		gnutls_certificate_free_credentials(s->cred);
	mm_free(s->host);
	mm_free(s->port);
	mm_free(s->name);
	mm_free(s);
	return NULL;
}

int siem_new(const struct config *cfg, struct siem **ret, char *errbuf, size_t errlen)
{
	_cleanup_(siem_freep) struct siem *s = NULL;
	const char *t = cfg->siem_target, *colon;
	int n;

	if (!t || !cfg->siem_ca) {
		(void) snprintf(errbuf, errlen, "siem_target and siem_ca are both needed");
		return -EINVAL;
	}
	s = mm_calloc(1, sizeof(*s));
	if (!s)
		return -ENOMEM;
	s->fd = -1;
	s->from_start = cfg->siem_from_start;
	colon = strrchr(t, ':');
	if (!colon)
		return -EINVAL; /* config_set checked it */
	if (t[0] == '[')
		s->host = mm_strndup(t + 1, (size_t) (colon - t - 2));
	else
		s->host = mm_strndup(t, (size_t) (colon - t));
	s->port = mm_strdup(colon + 1);
	s->name = mm_strdup(cfg->siem_name ? cfg->siem_name : s->host ? s->host : "");
	if (!s->host || !s->port || !s->name)
		return -ENOMEM;
	if (gnutls_certificate_allocate_credentials(&s->cred) < 0)
		return -ENOMEM;
	n = gnutls_certificate_set_x509_trust_file(s->cred, cfg->siem_ca, GNUTLS_X509_FMT_PEM);
	if (n <= 0) {
		(void) snprintf(errbuf, errlen, "siem_ca %s: %s", cfg->siem_ca,
				n == 0 ? "no certificate in it" : gnutls_strerror(n));
		return -EINVAL;
	}
	*ret = TAKE_PTR(s);
	return 0;
}

/* ---- formatting ---- */

static void utc_ms(int64_t ms, char out[64])
{
	time_t t = (time_t) (ms >= 0 ? ms / 1000 : 0);
	struct tm tm;

	if (ms < 0 || !gmtime_r(&t, &tm)) {
		(void) snprintf(out, 64, "-"); /* RFC 5424's NILVALUE */
		return;
	}
	(void) snprintf(out, 64, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900,
			tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
			(int) (ms % 1000));
}

/* A header field: PRINTUSASCII (33..126) only, at most max characters, "-" when empty. */
static void header_field(const char *s, size_t max, char *out)
{
	size_t n = 0;

	for (; s && *s && n < max; s++)
		if (*s >= 33 && *s <= 126)
			out[n++] = *s;
	if (n == 0)
		out[n++] = '-';
	out[n] = '\0';
}

int siem_format(const json_t *event, struct buf *out)
{
	_cleanup_(freep) char *msg = NULL, *head = NULL;
	const char *chain = json_string_value(json_object_get(event, "chain"));
	char when[64], host[256], msgid[33];
	int severity = chain && !streq(chain, "ok") ? 4 : 6; /* warning : informational */
	size_t len;

	if (!json_is_object(event))
		return -EINVAL;
	msg = jsonw_dump(event);
	if (!msg)
		return -ENOMEM;
	utc_ms(json_integer_value(json_object_get(event, "time")), when);
	header_field(json_string_value(json_object_get(event, "hostname")), 255, host);
	header_field(json_string_value(json_object_get(event, "type")), 32, msgid);
	head = mm_asprintf("<%d>1 %s %s mamori - %s - ", SIEM_FACILITY * 8 + severity, when, host,
			   msgid);
	if (!head)
		return -ENOMEM;
	len = strlen(head) + strlen(msg);
	if (len > SIEM_MSG_MAX)
		return -E2BIG;
	return buf_addf(out, "%zu %s%s", len, head, msg);
}

/* ---- the connection ---- */

static int connect_tcp(struct siem *s)
{
	struct addrinfo hints = {.ai_socktype = SOCK_STREAM, .ai_flags = AI_NUMERICSERV}, *res, *a;
	struct timeval tv = {.tv_sec = SIEM_TIMEOUT_MS / 1000};
	int r, fd = -1;

	r = getaddrinfo(s->host, s->port, &hints, &res);
	if (r != 0)
		return -EHOSTUNREACH;
	for (a = res; a; a = a->ai_next) {
		fd = socket(a->ai_family, a->ai_socktype | SOCK_CLOEXEC, a->ai_protocol);
		if (fd < 0)
			continue;
		(void) setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
		(void) setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
		if (connect(fd, a->ai_addr, a->ai_addrlen) == 0)
			break;
		(void) close(fd);
		fd = -1;
	}
	freeaddrinfo(res);
	if (fd < 0)
		return -ECONNREFUSED;
	s->fd = fd;
	return 0;
}

static int connect_tls(struct siem *s, char *errbuf, size_t errlen)
{
	int r;

	r = connect_tcp(s);
	if (r < 0) {
		(void) snprintf(errbuf, errlen, "cannot connect to %s:%s: %s", s->host, s->port,
				strerror(-r));
		return r;
	}
	if (gnutls_init(&s->session, GNUTLS_CLIENT) < 0) {
		disconnect(s);
		return -ENOMEM;
	}
	if (gnutls_priority_set_direct(s->session, SIEM_PRIORITIES, NULL) < 0 ||
	    gnutls_credentials_set(s->session, GNUTLS_CRD_CERTIFICATE, s->cred) < 0) {
		disconnect(s);
		return -EIO;
	}
	if (!str_startswith(s->name, "[") && strspn(s->name, "0123456789.:") != strlen(s->name))
		(void) gnutls_server_name_set(s->session, GNUTLS_NAME_DNS, s->name,
					      strlen(s->name));
	gnutls_session_set_verify_cert(s->session, s->name, 0);
	gnutls_transport_set_int(s->session, s->fd);
	gnutls_handshake_set_timeout(s->session, SIEM_TIMEOUT_MS);
	do {
		r = gnutls_handshake(s->session);
	} while (r < 0 && gnutls_error_is_fatal(r) == 0);
	if (r < 0) {
		(void) snprintf(errbuf, errlen, "TLS with %s:%s failed: %s", s->host, s->port,
				gnutls_strerror(r));
		disconnect(s);
		return -EPROTO;
	}
	return 0;
}

/* Whether the receiver hung up: it never writes, so anything readable is its end. */
static bool hung_up(struct siem *s)
{
	struct pollfd p = {.fd = s->fd, .events = POLLIN};

	if (gnutls_record_check_pending(s->session) > 0)
		return true;
	return poll(&p, 1, 0) != 0;
}

static int send_all(struct siem *s, const char *p, size_t n)
{
	while (n > 0) {
		ssize_t k = gnutls_record_send(s->session, p, n);

		if (k == GNUTLS_E_AGAIN || k == GNUTLS_E_INTERRUPTED)
			continue;
		if (k < 0)
			return -EPIPE;
		p += k;
		n -= (size_t) k;
	}
	return 0;
}

/* The cursor, set on the first start to the beginning or to what is stored now. */
static int start_position(struct siem *s, struct store *st, int64_t now, int64_t *ret)
{
	int r = store_cursor_get(st, SIEM_CURSOR, ret);

	if (r != -ENOENT)
		return r;
	*ret = 0;
	if (!s->from_start) {
		r = store_events_position(st, ret);
		if (r < 0)
			return r;
	}
	return store_cursor_set(st, SIEM_CURSOR, *ret, now);
}

static void went_down(struct siem *s, const char *why)
{
	if (!s->down_logged)
		log_warning("(M4211) SIEM forwarding: %s; retrying, nothing is skipped", why);
	s->down_logged = true;
	disconnect(s);
}

int siem_forward(struct siem *s, struct store *st, int64_t now, size_t *ret_sent)
{
	struct buf out;
	int64_t pos;
	size_t sent = 0;
	bool more = false;
	char why[512];
	int r;

	*ret_sent = 0;
	if (s->session && hung_up(s))
		disconnect(s);
	r = start_position(s, st, now, &pos);
	if (r < 0)
		return r;
	buf_init(&out, (size_t) SIEM_BATCH * (SIEM_MSG_MAX + 16));
	for (int round = 0; round < SIEM_ROUNDS; round++) {
		_cleanup_(json_decrefp) json_t *page = NULL;
		json_t *events, *e;
		int64_t last = pos;
		size_t i;

		r = store_events_since(st, pos, SIEM_BATCH, &page);
		if (r < 0)
			break;
		events = json_object_get(page, "events");
		if (json_array_size(events) == 0)
			break;
		if (!s->session) {
			r = connect_tls(s, why, sizeof(why));
			if (r < 0) {
				went_down(s, why);
				break;
			}
			if (s->down_logged)
				log_notice("(M4210) SIEM forwarding to %s:%s resumed", s->host,
					   s->port);
			s->down_logged = false;
		}
		buf_reset(&out);
		json_array_foreach (events, i, e) {
			r = siem_format(e, &out);
			if (r == -E2BIG) {
				log_warning("(M4212) SIEM forwarding: event %" PRId64
					    " of %s is over "
					    "%zu bytes as a syslog message; not forwarded",
					    (int64_t) json_integer_value(json_object_get(e, "seq")),
					    json_string_value(json_object_get(e, "host_id")),
					    SIEM_MSG_MAX);
				r = 0;
			}
			if (r < 0)
				break;
			last = json_integer_value(json_object_get(e, "rx"));
		}
		if (r < 0)
			break;
		r = send_all(s, out.data, out.len);
		if (r < 0) {
			(void) snprintf(why, sizeof(why), "the connection to %s:%s broke", s->host,
					s->port);
			went_down(s, why);
			break;
		}
		r = store_cursor_set(st, SIEM_CURSOR, last, now);
		if (r < 0)
			break;
		sent += json_array_size(events);
		pos = last;
		more = json_array_size(events) == SIEM_BATCH;
		if (!more)
			break;
	}
	buf_done(&out);
	*ret_sent = sent;
	if (sent)
		log_debug("(M4213) SIEM forwarding: %zu events sent", sent);
	return r < 0 ? r : more;
}
