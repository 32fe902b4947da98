/*
 * `mamori-agent enroll`: joins this endpoint to a server (docs/agent.md, "Enrolment").
 *
 *  1. GET /agent/v1/ca without verifying the server — there is nothing to verify against
 *     yet — and check the CA certificate's SHA-256 fingerprint against --ca-fingerprint, or
 *     against the CA already pinned in the state directory, or pin it on first use (as SSH
 *     does) and print the fingerprint so the administrator can compare it.
 *  2. Generate an ECDSA P-256 key with GnuTLS. It never leaves the host: only a CSR signed
 *     with it is sent.
 *  3. POST /agent/v1/enroll with the one-time token, the CSR and a few facts, verifying the
 *     server against the CA from step 1 only (never the system store).
 *  4. Check the certificate the server issued (signed by that CA, for our key) and store
 *     agent.key (0600), agent.crt, ca.crt and agent.conf, each atomically; agent.conf last,
 *     since its presence is what "enrolled" means.
 * Enrolling an enrolled state directory is refused without --force.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <curl/curl.h>
#include <gnutls/gnutls.h>
#include <gnutls/x509.h>

#include "agent/daemon.h"
#include "config.h"
#include "lib/buf.h"
#include "lib/fileio.h"
#include "lib/limits.h"
#include "lib/mm.h"
#include "lib/str.h"

#define EXIT_USAGE 2

struct http_answer {
	long status;
	struct buf body;
};

static size_t on_write(char *p, size_t size, size_t n, void *userp)
{
	struct buf *b = userp;

	return buf_add(b, p, size * n) < 0 ? 0 : size * n;
}

/*
 * One blocking request (enrolment is a one-shot command, not the daemon). With ca_file
 * NULL the server is not verified — only for fetching the CA itself.
 */
static int http(const char *url, const char *body, const char *ca_file, struct http_answer *ret)
{
	struct curl_slist *headers = NULL;
	char errbuf[CURL_ERROR_SIZE] = "";
	CURL *e = curl_easy_init();
	CURLcode rc;

	if (!e)
		return -ENOMEM;
	buf_init(&ret->body, LIMIT_AGENT_REPLY);
	(void) curl_easy_setopt(e, CURLOPT_URL, url);
	(void) curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "https");
	(void) curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
	(void) curl_easy_setopt(e, CURLOPT_USERAGENT, "mamori-agent/" MAMORI_VERSION);
	(void) curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_write);
	(void) curl_easy_setopt(e, CURLOPT_WRITEDATA, &ret->body);
	(void) curl_easy_setopt(e, CURLOPT_ERRORBUFFER, errbuf);
	(void) curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT, 30L);
	(void) curl_easy_setopt(e, CURLOPT_TIMEOUT, 120L);
	(void) curl_easy_setopt(e, CURLOPT_CAPATH, NULL);
	if (ca_file) {
		(void) curl_easy_setopt(e, CURLOPT_CAINFO, ca_file);
		(void) curl_easy_setopt(e, CURLOPT_SSL_VERIFYPEER, 1L);
		(void) curl_easy_setopt(e, CURLOPT_SSL_VERIFYHOST, 2L);
	} else {
		(void) curl_easy_setopt(e, CURLOPT_SSL_VERIFYPEER, 0L);
		(void) curl_easy_setopt(e, CURLOPT_SSL_VERIFYHOST, 0L);
	}
	if (body) {
		headers = curl_slist_append(NULL, "Content-Type: application/json");
		if (!headers) {
			curl_easy_cleanup(e);
			return -ENOMEM;
		}
		(void) curl_easy_setopt(e, CURLOPT_HTTPHEADER, headers);
		(void) curl_easy_setopt(e, CURLOPT_POSTFIELDS, body);
		(void) curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t) strlen(body));
	}
	rc = curl_easy_perform(e);
	if (rc == CURLE_OK)
		(void) curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &ret->status);
	else
		fprintf(stderr, "mamori-agent: %s: %s\n", url,
			errbuf[0] ? errbuf : curl_easy_strerror(rc));
	curl_easy_cleanup(e);
	curl_slist_free_all(headers);
	if (rc != CURLE_OK) {
		buf_done(&ret->body);
		return -EIO;
	}
	return 0;
}

static void print_fingerprint(FILE *f, const char *hex)
{
	for (size_t i = 0; i < 64; i += 2)
		fprintf(f, "%s%c%c", i ? ":" : "", hex[i] - (hex[i] >= 'a' ? 32 : 0),
			hex[i + 1] - (hex[i + 1] >= 'a' ? 32 : 0));
	fputc('\n', f);
}

static int check_ca(const char *pem, size_t len)
{
	gnutls_x509_crt_t crt;
	gnutls_datum_t d = {(unsigned char *) pem, (unsigned) len};
	unsigned critical;
	int r = -EBADMSG;

	if (gnutls_x509_crt_init(&crt) < 0)
		return -ENOMEM;
	if (gnutls_x509_crt_import(crt, &d, GNUTLS_X509_FMT_PEM) >= 0 &&
	    gnutls_x509_crt_get_ca_status(crt, &critical) > 0)
		r = 0;
	gnutls_x509_crt_deinit(crt);
	return r;
}

/* Step 1: the CA, and whether to trust it. *ret is its PEM. */
static int fetch_ca(const struct enroll_options *o, char **ret, char fp[65])
{
	_cleanup_(freep) char *url = mm_asprintf("%s/agent/v1/ca", o->server);
	_cleanup_(freep) char *pinned_path = state_path(o->state_dir, STATE_CA);
	_cleanup_(freep) char *pinned = NULL;
	struct http_answer a = {0};
	char want[65], pinned_fp[65];
	size_t len;
	int r;

	if (!url || !pinned_path)
		return -ENOMEM;
	if (http(url, NULL, NULL, &a) < 0)
		return -EIO;
	if (a.status != 200) {
		fprintf(stderr, "mamori-agent: %s answered HTTP %ld, not the CA certificate\n", url,
			a.status);
		buf_done(&a.body);
		return -EPROTO;
	}
	len = a.body.len;
	*ret = buf_take(&a.body, NULL);
	if (!*ret)
		return -ENOMEM;
	r = state_cert_fingerprint(*ret, len, fp);
	if (r == 0)
		r = check_ca(*ret, len);
	if (r < 0) {
		fprintf(stderr, "mamori-agent: %s did not answer with a CA certificate\n", url);
		return -EPROTO;
	}
	if (o->ca_fingerprint) {
		if (state_fingerprint_normalize(o->ca_fingerprint, want) < 0)
			return -EINVAL; /* checked by the caller already */
		if (!streq(want, fp)) {
			fprintf(stderr,
				"mamori-agent: refusing to enrol: the server's CA certificate has"
				" SHA-256 fingerprint\n  ");
			print_fingerprint(stderr, fp);
			fprintf(stderr, "not the one given with --ca-fingerprint:\n  ");
			print_fingerprint(stderr, want);
			fprintf(stderr, "Either the URL names another server or something between"
					" this host and the server is impersonating it.\n");
			return -EPERM;
		}
		printf("The server's CA certificate matches the fingerprint given.\n");
		return 0;
	}
	r = fileio_read(NULL, pinned_path, LIMIT_PEM, &pinned, &len);
	if (r == 0) {
		if (state_cert_fingerprint(pinned, len, pinned_fp) == 0 && streq(pinned_fp, fp)) {
			printf("The server's CA certificate is the one pinned in %s.\n",
			       pinned_path);
			return 0;
		}
		fprintf(stderr,
			"mamori-agent: refusing to enrol: the server's CA certificate (SHA-256 ");
		print_fingerprint(stderr, fp);
		fprintf(stderr,
			") differs from the one pinned in %s.\nIf the server's CA really changed,"
			" enrol with --ca-fingerprint set to the new fingerprint.\n",
			pinned_path);
		return -EPERM;
	}
	printf("The server's CA certificate has SHA-256 fingerprint\n  ");
	print_fingerprint(stdout, fp);
	printf("Compare it with the fingerprint the server shows; it is pinned from now on.\n");
	return 0;
}

static void privkey_deinitp(gnutls_x509_privkey_t *k)
{
	if (*k)
		gnutls_x509_privkey_deinit(*k);
}

static void crt_deinitp(gnutls_x509_crt_t *c)
{
	if (*c)
		gnutls_x509_crt_deinit(*c);
}

/* A copy of a GnuTLS datum in mm memory, wiping and freeing the datum. */
static char *take_datum(gnutls_datum_t *d)
{
	char *s = mm_strndup((const char *) d->data, d->size);

	explicit_bzero(d->data, d->size);
	gnutls_free(d->data);
	d->data = NULL;
	return s;
}

/* Step 2: the key (PEM, secret) and a CSR for it. */
static int make_key(gnutls_x509_privkey_t *ret_key, char **ret_key_pem, char **ret_csr)
{
	_cleanup_(privkey_deinitp) gnutls_x509_privkey_t key = NULL;
	gnutls_x509_crq_t crq = NULL;
	gnutls_datum_t d = {0};
	char host[256] = "mamori-agent";
	char *csr = NULL, *pem;
	int r = -EIO;

	(void) gethostname(host, sizeof(host) - 1);
	if (gnutls_x509_privkey_init(&key) < 0)
		return -ENOMEM;
	if (gnutls_x509_privkey_generate(key, GNUTLS_PK_ECDSA,
					 GNUTLS_CURVE_TO_BITS(GNUTLS_ECC_CURVE_SECP256R1), 0) < 0)
		return -EIO;
	if (gnutls_x509_privkey_export2(key, GNUTLS_X509_FMT_PEM, &d) < 0)
		return -EIO;
	pem = take_datum(&d);
	if (!pem)
		return -ENOMEM;
	if (gnutls_x509_crq_init(&crq) < 0) {
		mm_free_secret(pem, strlen(pem));
		return -ENOMEM;
	}
	/* The server chooses the subject (CN=<host id>); the hostname is a courtesy. */
	if (gnutls_x509_crq_set_version(crq, 1) >= 0 &&
	    gnutls_x509_crq_set_dn_by_oid(crq, GNUTLS_OID_X520_COMMON_NAME, 0, host,
					  (unsigned) strlen(host)) >= 0 &&
	    gnutls_x509_crq_set_key(crq, key) >= 0 &&
	    gnutls_x509_crq_set_key_usage(crq, GNUTLS_KEY_DIGITAL_SIGNATURE) >= 0 &&
	    gnutls_x509_crq_sign2(crq, key, GNUTLS_DIG_SHA256, 0) >= 0 &&
	    gnutls_x509_crq_export2(crq, GNUTLS_X509_FMT_PEM, &d) >= 0) {
		csr = mm_strndup((const char *) d.data, d.size);
		gnutls_free(d.data);
		r = csr ? 0 : -ENOMEM;
	}
	gnutls_x509_crq_deinit(crq);
	if (r < 0) {
		mm_free_secret(pem, strlen(pem));
		return r;
	}
	*ret_key = TAKE_PTR(key);
	*ret_key_pem = pem;
	*ret_csr = csr;
	return 0;
}

static int read_fact(const char *path, const char *prefix, char **ret)
{
	_cleanup_(freep) char *text = NULL;
	char *cursor, *line;
	int r = fileio_read(NULL, path, LIMIT_SMALL_FILE, &text, NULL);

	if (r < 0)
		return r;
	cursor = text;
	while ((line = str_next_line(&cursor))) {
		const char *v = prefix ? str_startswith(line, prefix) : line;
		size_t n;

		if (!v)
			continue;
		n = strlen(v);
		if (n >= 2 && v[0] == '"' && v[n - 1] == '"') {
			v++;
			n -= 2;
		}
		*ret = mm_strndup(v, n);
		if (!*ret)
			return -ENOMEM;
		str_strip(*ret);
		return str_is_clean_utf8(*ret, strlen(*ret)) ? 0 : -EBADMSG;
	}
	return -ENOENT;
}

static int enroll_body(const struct enroll_options *o, const char *csr, char **ret)
{
	_cleanup_(json_decrefp) json_t *body = NULL;
	_cleanup_(freep) char *machine_id = NULL, *os = NULL;
	char host[256] = "";

	(void) gethostname(host, sizeof(host) - 1);
	if (read_fact("/etc/machine-id", NULL, &machine_id) < 0) {
		mm_free(machine_id);
		machine_id = NULL;
	}
	if (read_fact("/etc/os-release", "PRETTY_NAME=", &os) < 0) {
		mm_free(os);
		os = NULL;
	}
	body = json_pack("{s:s, s:s, s:{s:s, s:s?, s:s?, s:s}}", "token", o->token, "csr", csr,
			 "facts", "hostname", host, "machine_id", machine_id, "os", os,
			 "agent_version", MAMORI_VERSION);
	if (!body)
		return -ENOMEM;
	*ret = jsonw_dump(body);
	return *ret ? 0 : -ENOMEM;
}

/* Step 4: the certificate must be issued by the pinned CA and be for our key. */
static int check_certificate(const char *cert_pem, const char *ca_pem, gnutls_x509_privkey_t key)
{
	_cleanup_(crt_deinitp) gnutls_x509_crt_t crt = NULL, ca = NULL;
	gnutls_datum_t d;
	unsigned char id1[64], id2[64];
	size_t n1 = sizeof(id1), n2 = sizeof(id2);
	unsigned status = 0;

	if (gnutls_x509_crt_init(&crt) < 0 || gnutls_x509_crt_init(&ca) < 0)
		return -ENOMEM;
	d = (gnutls_datum_t){(unsigned char *) cert_pem, (unsigned) strlen(cert_pem)};
	if (gnutls_x509_crt_import(crt, &d, GNUTLS_X509_FMT_PEM) < 0)
		return -EBADMSG;
	d = (gnutls_datum_t){(unsigned char *) ca_pem, (unsigned) strlen(ca_pem)};
	if (gnutls_x509_crt_import(ca, &d, GNUTLS_X509_FMT_PEM) < 0)
		return -EBADMSG;
	if (gnutls_x509_crt_verify(crt, &ca, 1, 0, &status) < 0 || status != 0)
		return -EPERM;
	if (gnutls_x509_crt_get_key_id(crt, 0, id1, &n1) < 0 ||
	    gnutls_x509_privkey_get_key_id(key, 0, id2, &n2) < 0 || n1 != n2 ||
	    memcmp(id1, id2, n1) != 0)
		return -EKEYREJECTED;
	return 0;
}

static int write_state(const struct enroll_options *o, const char *key_pem, const char *cert,
		       const char *ca, const char *fp, const char *host_id)
{
	_cleanup_(freep) char *conf_text = NULL, *acked = state_path(o->state_dir, STATE_ACKED);
	struct agent_conf conf = {.server = (char *) o->server,
				  .host_id = (char *) host_id,
				  .ca_fingerprint = (char *) fp};
	int r;

	if (!acked)
		return -ENOMEM;
	r = state_write_atomic(o->state_dir, STATE_KEY, key_pem, strlen(key_pem), 0600, true);
	if (r == 0)
		r = state_write_atomic(o->state_dir, STATE_CERT, cert, strlen(cert), 0644, true);
	if (r == 0)
		r = state_write_atomic(o->state_dir, STATE_CA, ca, strlen(ca), 0644, true);
	/* A new host on the server holds no inventory yet. */
	if (r == 0 && unlink(acked) < 0 && errno != ENOENT)
		r = -errno;
	if (r == 0)
		r = state_conf_format(&conf, &conf_text);
	if (r == 0)
		r = state_write_atomic(o->state_dir, STATE_CONF, conf_text, strlen(conf_text), 0644,
				       true);
	return r;
}

static int enroll(const struct enroll_options *o)
{
	_cleanup_(privkey_deinitp) gnutls_x509_privkey_t key = NULL;
	_cleanup_(freep) char *ca = NULL, *csr = NULL, *url = NULL;
	char *body = NULL; /* holds the token: wiped */
	_cleanup_(freep) char *ca_tmp = NULL;
	struct proto_enroll_reply rep = {0};
	struct http_answer a = {0};
	struct jsonw_error err;
	char *key_pem = NULL;
	char fp[65], rep_fp[65];
	int r;

	r = fetch_ca(o, &ca, fp);
	if (r < 0)
		return r;
	/* curl reads trust anchors from a file: a temporary one until enrolment succeeds. */
	r = state_write_atomic(o->state_dir, ".ca.crt.enroll", ca, strlen(ca), 0644, false);
	ca_tmp = state_path(o->state_dir, ".ca.crt.enroll");
	if (r < 0 || !ca_tmp)
		return r < 0 ? r : -ENOMEM;
	r = make_key(&key, &key_pem, &csr);
	if (r == 0)
		r = enroll_body(o, csr, &body);
	url = mm_asprintf("%s/agent/v1/enroll", o->server);
	if (r == 0 && !url)
		r = -ENOMEM;
	if (r == 0)
		r = http(url, body, ca_tmp, &a);
	(void) unlink(ca_tmp);
	if (r < 0)
		goto out;
	if (a.status != 200) {
		char code[64], text[256];

		proto_parse_error(buf_str(&a.body), a.body.len, code, text);
		fprintf(stderr,
			"mamori-agent: the server refused the enrolment: HTTP %ld%s%s%s%s\n",
			a.status, *code ? " " : "", code, *text ? ": " : "", text);
		r = -EPERM;
		goto out;
	}
	r = proto_parse_enroll_reply(buf_str(&a.body), a.body.len, &rep, &err);
	if (r < 0) {
		fprintf(stderr, "mamori-agent: the server's answer is not an enrolment: %s\n",
			r == -EBADMSG ? err.text : strerror(-r));
		goto out;
	}
	if (rep.ca &&
	    (state_cert_fingerprint(rep.ca, strlen(rep.ca), rep_fp) < 0 || !streq(rep_fp, fp))) {
		fprintf(stderr, "mamori-agent: the server names another CA in its answer than"
				" the one it presented: refusing\n");
		r = -EPERM;
		goto out;
	}
	r = check_certificate(rep.certificate, ca, key);
	if (r < 0) {
		fprintf(stderr, "mamori-agent: the certificate the server issued is %s: refusing\n",
			r == -EKEYREJECTED ? "not for this agent's key"
					   : "not signed by the server's CA");
		goto out;
	}
	r = write_state(o, key_pem, rep.certificate, ca, fp, rep.host_id);
	if (r < 0) {
		fprintf(stderr, "mamori-agent: cannot write the state in %s: %s\n", o->state_dir,
			strerror(-r));
		goto out;
	}
	printf("Enrolled with %s as host %s (state in %s).\n", o->server, rep.host_id,
	       o->state_dir);
out:
	if (key_pem)
		mm_free_secret(key_pem, strlen(key_pem));
	if (body)
		mm_free_secret(body, strlen(body));
	proto_enroll_reply_done(&rep);
	buf_done(&a.body);
	return r;
}

static bool valid_token(const char *t)
{
	size_t n = strlen(t);

	if (n == 0 || n > 512)
		return false;
	for (size_t i = 0; i < n; i++)
		if ((unsigned char) t[i] <= ' ' || (unsigned char) t[i] >= 0x7f)
			return false;
	return true;
}

int enroll_main(const struct enroll_options *o)
{
	_cleanup_(freep) char *conf_path = NULL;
	struct enroll_options opt = *o;
	_cleanup_(freep) char *server = NULL;
	char fp[65];
	size_t n;
	int r;

	if (!o->server || !o->token || !o->state_dir) {
		fprintf(stderr, "mamori-agent: enroll needs --server, --token and --state-dir\n");
		return EXIT_USAGE;
	}
	server = mm_strdup(o->server);
	if (!server)
		return EXIT_FAILURE;
	n = strlen(server);
	while (n > 8 && server[n - 1] == '/')
		server[--n] = '\0';
	if (!str_startswith(server, "https://") || n <= 8 || n > LIMIT_URL) {
		fprintf(stderr, "mamori-agent: --server must be an https:// URL, not '%s'\n",
			o->server);
		return EXIT_USAGE;
	}
	opt.server = server;
	if (!valid_token(o->token)) {
		fprintf(stderr, "mamori-agent: --token must be the enrolment token as given (no"
				" spaces)\n");
		return EXIT_USAGE;
	}
	if (o->ca_fingerprint && state_fingerprint_normalize(o->ca_fingerprint, fp) < 0) {
		fprintf(stderr, "mamori-agent: --ca-fingerprint must be a SHA-256 fingerprint (64"
				" hex digits, ':' allowed)\n");
		return EXIT_USAGE;
	}
	r = state_dir_prepare(o->state_dir);
	if (r < 0) {
		fprintf(stderr, "mamori-agent: cannot use --state-dir %s: %s\n", o->state_dir,
			strerror(-r));
		return EXIT_USAGE;
	}
	conf_path = state_path(o->state_dir, STATE_CONF);
	if (!conf_path)
		return EXIT_FAILURE;
	if (access(conf_path, F_OK) == 0 && !o->force) {
		struct agent_conf c = {0};

		if (state_conf_load(o->state_dir, &c) == 0)
			fprintf(stderr,
				"mamori-agent: %s is already enrolled with %s as host %s; use"
				" --force to enrol again (a new key and a new host on the "
				"server)\n",
				o->state_dir, c.server, c.host_id);
		else
			fprintf(stderr,
				"mamori-agent: %s is already enrolled; use --force to enrol "
				"again\n",
				o->state_dir);
		state_conf_done(&c);
		return EXIT_FAILURE;
	}
	if (uplink_global_init() < 0)
		return EXIT_FAILURE;
	r = enroll(&opt);
	curl_global_cleanup();
	return r < 0 ? EXIT_FAILURE : EXIT_SUCCESS;
}
