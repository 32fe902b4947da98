/*
 * A test helper: a syslog receiver over TLS (RFC 5425), the SIEM the forwarder talks to in
 * tests/api/siem.sh. It serves one connection at a time, reads octet-counted frames
 * ("LEN SP MSG") and appends each MSG as one line to OUT (flushed at once, so a test can
 * wait for it); a frame that is not well formed is written as a line "BAD FRAME" and ends
 * the connection. The port it listens on (on 127.0.0.1; 0 lets the kernel choose) is
 * written to PORTFILE. It runs until killed.
 *   syslog-sink CERT KEY OUT PORTFILE [PORT]
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <gnutls/gnutls.h>

#define FRAME_MAX (1024 * 1024)

static char frame[FRAME_MAX + 1];

/* Reads exactly n bytes; 0 at a clean end before the first, -1 on failure. */
static int read_full(gnutls_session_t s, char *p, size_t n)
{
	size_t got = 0;

	while (got < n) {
		ssize_t k = gnutls_record_recv(s, p + got, n - got);

		if (k == GNUTLS_E_AGAIN || k == GNUTLS_E_INTERRUPTED)
			continue;
		if (k <= 0)
			return got == 0 && k == 0 ? 0 : -1;
		got += (size_t) k;
	}
	return 1;
}

static void serve(gnutls_session_t s, FILE *out)
{
	for (;;) {
		size_t len = 0;
		char c;
		int r, digits = 0;

		for (;;) {
			r = read_full(s, &c, 1);
			if (r <= 0)
				return;
			if (c == ' ')
				break;
			if (c < '0' || c > '9' || ++digits > 7) {
				fprintf(out, "BAD FRAME\n");
				fflush(out);
				return;
			}
			len = len * 10 + (size_t) (c - '0');
		}
		if (digits == 0 || len == 0 || len > FRAME_MAX || read_full(s, frame, len) != 1 ||
		    memchr(frame, '\n', len)) {
			fprintf(out, "BAD FRAME\n");
			fflush(out);
			return;
		}
		frame[len] = '\0';
		fprintf(out, "%s\n", frame);
		fflush(out);
	}
}

int main(int argc, char **argv)
{
	gnutls_certificate_credentials_t cred;
	struct sockaddr_in sa = {.sin_family = AF_INET};
	socklen_t slen = sizeof(sa);
	FILE *out, *pf;
	int fd, one = 1;

	if (argc < 5) {
		fprintf(stderr, "usage: syslog-sink CERT KEY OUT PORTFILE [PORT]\n");
		return 2;
	}
	signal(SIGPIPE, SIG_IGN);
	if (gnutls_certificate_allocate_credentials(&cred) < 0 ||
	    gnutls_certificate_set_x509_key_file(cred, argv[1], argv[2], GNUTLS_X509_FMT_PEM) < 0) {
		fprintf(stderr, "syslog-sink: cannot load %s / %s\n", argv[1], argv[2]);
		return 1;
	}
	out = fopen(argv[3], "ae");
	fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (!out || fd < 0)
		return 1;
	(void) setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	sa.sin_port = htons((uint16_t) (argc > 5 ? strtoul(argv[5], NULL, 10) : 0));
	if (bind(fd, (struct sockaddr *) &sa, sizeof(sa)) < 0 || listen(fd, 4) < 0 ||
	    getsockname(fd, (struct sockaddr *) &sa, &slen) < 0) {
		fprintf(stderr, "syslog-sink: cannot listen: %s\n", strerror(errno));
		return 1;
	}
	pf = fopen(argv[4], "we");
	if (!pf)
		return 1;
	fprintf(pf, "%u\n", ntohs(sa.sin_port));
	fclose(pf);
	for (;;) {
		gnutls_session_t s;
		int c = accept4(fd, NULL, NULL, SOCK_CLOEXEC), r;

		if (c < 0)
			continue;
		if (gnutls_init(&s, GNUTLS_SERVER) < 0) {
			close(c);
			continue;
		}
		(void) gnutls_set_default_priority(s);
		(void) gnutls_credentials_set(s, GNUTLS_CRD_CERTIFICATE, cred);
		gnutls_transport_set_int(s, c);
		do {
			r = gnutls_handshake(s);
		} while (r < 0 && gnutls_error_is_fatal(r) == 0);
		if (r == 0)
			serve(s, out);
		gnutls_deinit(s);
		close(c);
	}
}
