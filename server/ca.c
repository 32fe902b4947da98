/*
 * The built-in certificate authority (GnuTLS). On first start it creates, in the state
 * directory, an ECDSA P-256 CA (ca.key, ca.crt; ten years) and a server key and
 * certificate signed by it (server.key, server.crt; 825 days) whose subject alternative
 * names are the configured names. Enrolment signs agents' certificate requests; each
 * agent request's client certificate is verified against this CA.
 *
 * Invariants: key files are written with mode 0600 through a temporary file and rename(),
 * so a crash never leaves half a key; a key file readable by group or others, or owned by
 * another user, stops the server (OpenSMTPD's check_file_secrecy). An issued certificate
 * takes nothing from the request but its public key: the subject is CN=<host id>, chosen
 * by the server. The CA's private key is used from several threads; signing is serialised
 * by a mutex (enrolment is rare), verification needs no lock.
 *
 * Limits: agent certificates last one year and are not renewed yet (docs/protocol.md);
 * there is no CRL: revocation is the store's (the host's serial is refused).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <gnutls/abstract.h>
#include <gnutls/crypto.h>
#include <gnutls/x509.h>

#include "lib/fileio.h"
#include "lib/limits.h"
#include "lib/mm.h"
#include "lib/str.h"
#include "server/server.h"

#define CA_LIFETIME     ((int64_t) 10 * 365 * 86400)
#define SERVER_LIFETIME ((int64_t) 825 * 86400)
#define AGENT_LIFETIME  ((int64_t) 365 * 86400)
#define RENEW_BEFORE    ((int64_t) 30 * 86400)
#define BACKDATE        300 /* seconds, for agents whose clocks run a little behind */
#define PEM_MAX         ((size_t) 64 * 1024)

struct ca {
	gnutls_x509_crt_t crt;
	gnutls_x509_privkey_t key;
	gnutls_privkey_t signer;
	unsigned char key_id[64];
	size_t key_id_len;
	char *crt_pem;
	char *server_crt_pem;
	char *server_key_pem;
	size_t server_key_len;
	char fingerprint[32 * 3];
	pthread_mutex_t lock;
};

static _printf_(3, 4) int fail(char *errbuf, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	(void) vsnprintf(errbuf, errlen, fmt, ap);
	va_end(ap);
	return -EINVAL;
}

static void free_datum_secret(gnutls_datum_t *d)
{
	if (d->data) {
		explicit_bzero(d->data, d->size);
		gnutls_free(d->data);
	}
	d->data = NULL;
	d->size = 0;
}

static void free_datum(gnutls_datum_t *d)
{
	gnutls_free(d->data);
	d->data = NULL;
	d->size = 0;
}

static void crt_freep(gnutls_x509_crt_t *c)
{
	if (*c)
		gnutls_x509_crt_deinit(*c);
}

static void privkey_freep(gnutls_x509_privkey_t *k)
{
	if (*k)
		gnutls_x509_privkey_deinit(*k);
}

static void crq_freep(gnutls_x509_crq_t *c)
{
	if (*c)
		gnutls_x509_crq_deinit(*c);
}

static void pubkey_freep(gnutls_pubkey_t *k)
{
	if (*k)
		gnutls_pubkey_deinit(*k);
}

int ca_check_secrecy(const char *path, char *errbuf, size_t errlen)
{
	struct stat st;

	if (lstat(path, &st) < 0) {
		int r = -errno;

		(void) snprintf(errbuf, errlen, "cannot examine %s: %s", path, strerror(errno));
		return r;
	}
	if (!S_ISREG(st.st_mode)) {
		(void) snprintf(errbuf, errlen, "%s is not a regular file", path);
		return -EPERM;
	}
	if (st.st_uid != geteuid()) {
		(void) snprintf(errbuf, errlen,
				"%s is owned by uid %u, not by this server's user (uid %u)", path,
				(unsigned) st.st_uid, (unsigned) geteuid());
		return -EPERM;
	}
	if (st.st_mode & (S_IRWXG | S_IRWXO)) {
		(void) snprintf(errbuf, errlen,
				"%s has mode %04o: a secret must not be accessible to group or "
				"others (chmod 600 it)",
				path, (unsigned) (st.st_mode & 07777));
		return -EPERM;
	}
	return 0;
}

static int read_pem(const char *path, char **ret)
{
	return fileio_read(NULL, path, PEM_MAX, ret, NULL);
}

static int export_crt(gnutls_x509_crt_t crt, char **ret)
{
	gnutls_datum_t out = {0};
	char *s;

	if (gnutls_x509_crt_export2(crt, GNUTLS_X509_FMT_PEM, &out) < 0)
		return -EIO;
	s = mm_strndup((const char *) out.data, out.size);
	free_datum(&out);
	if (!s)
		return -ENOMEM;
	*ret = s;
	return 0;
}

static int export_key(gnutls_x509_privkey_t key, char **ret, size_t *ret_len)
{
	gnutls_datum_t out = {0};
	char *s;

	if (gnutls_x509_privkey_export2_pkcs8(key, GNUTLS_X509_FMT_PEM, NULL, GNUTLS_PKCS_PLAIN,
					      &out) < 0)
		return -EIO;
	s = mm_strndup((const char *) out.data, out.size);
	*ret_len = out.size;
	free_datum_secret(&out);
	if (!s)
		return -ENOMEM;
	*ret = s;
	return 0;
}

static int new_key(gnutls_x509_privkey_t *ret)
{
	gnutls_x509_privkey_t key;

	if (gnutls_x509_privkey_init(&key) < 0)
		return -ENOMEM;
	if (gnutls_x509_privkey_generate(key, GNUTLS_PK_ECDSA,
					 GNUTLS_CURVE_TO_BITS(GNUTLS_ECC_CURVE_SECP256R1), 0) < 0) {
		gnutls_x509_privkey_deinit(key);
		return -EIO;
	}
	*ret = key;
	return 0;
}

static int load_key(const char *path, gnutls_x509_privkey_t *ret, char **ret_pem, size_t *ret_len)
{
	_cleanup_(freep) char *pem = NULL;
	gnutls_x509_privkey_t key;
	gnutls_datum_t d;
	size_t len;
	int r;

	r = fileio_read(NULL, path, PEM_MAX, &pem, &len);
	if (r < 0)
		return r;
	d = (gnutls_datum_t){.data = (unsigned char *) pem, .size = (unsigned) len};
	if (gnutls_x509_privkey_init(&key) < 0) {
		explicit_bzero(pem, len);
		return -ENOMEM;
	}
	r = gnutls_x509_privkey_import2(key, &d, GNUTLS_X509_FMT_PEM, NULL, 0);
	if (r < 0) {
		explicit_bzero(pem, len);
		gnutls_x509_privkey_deinit(key);
		return -EBADMSG;
	}
	if (ret_pem) {
		*ret_pem = TAKE_PTR(pem);
		*ret_len = len;
	} else {
		explicit_bzero(pem, len);
	}
	*ret = key;
	return 0;
}

static int load_crt(const char *path, gnutls_x509_crt_t *ret)
{
	_cleanup_(freep) char *pem = NULL;
	gnutls_x509_crt_t crt;
	gnutls_datum_t d;
	int r;

	r = read_pem(path, &pem);
	if (r < 0)
		return r;
	d = (gnutls_datum_t){.data = (unsigned char *) pem, .size = (unsigned) strlen(pem)};
	if (gnutls_x509_crt_init(&crt) < 0)
		return -ENOMEM;
	if (gnutls_x509_crt_import(crt, &d, GNUTLS_X509_FMT_PEM) < 0) {
		gnutls_x509_crt_deinit(crt);
		return -EBADMSG;
	}
	*ret = crt;
	return 0;
}

/* A random positive 16-byte serial number, for the CA and server certificates. */
static int random_serial(unsigned char serial[16])
{
	if (gnutls_rnd(GNUTLS_RND_NONCE, serial, 16) < 0)
		return -EIO;
	serial[0] &= 0x7f;
	serial[0] |= 0x40; /* never a leading zero byte, never negative */
	return 0;
}

/* The common part of every certificate: version, serial, validity, key, constraints. */
static int crt_begin(gnutls_x509_crt_t crt, const unsigned char *serial, size_t serial_len,
		     int64_t now, int64_t lifetime, gnutls_x509_privkey_t key,
		     gnutls_pubkey_t pubkey)
{
	unsigned char id[64];
	size_t id_len = sizeof(id);

	if (gnutls_x509_crt_set_version(crt, 3) < 0 ||
	    gnutls_x509_crt_set_serial(crt, serial, serial_len) < 0 ||
	    gnutls_x509_crt_set_activation_time(crt, (time_t) (now - BACKDATE)) < 0 ||
	    gnutls_x509_crt_set_expiration_time(crt, (time_t) (now + lifetime)) < 0)
		return -EIO;
	if (key ? gnutls_x509_crt_set_key(crt, key) < 0
		: gnutls_x509_crt_set_pubkey(crt, pubkey) < 0)
		return -EIO;
	if (gnutls_x509_crt_get_key_id(crt, GNUTLS_KEYID_USE_SHA1, id, &id_len) < 0 ||
	    gnutls_x509_crt_set_subject_key_id(crt, id, id_len) < 0)
		return -EIO;
	return 0;
}

static int set_cn(gnutls_x509_crt_t crt, const char *cn)
{
	return gnutls_x509_crt_set_dn_by_oid(crt, GNUTLS_OID_X520_COMMON_NAME, 0, cn,
					     (unsigned) strlen(cn)) < 0
		       ? -EIO
		       : 0;
}

static int sign_crt(struct ca *ca, gnutls_x509_crt_t crt)
{
	int r;

	if (gnutls_x509_crt_set_authority_key_id(crt, ca->key_id, ca->key_id_len) < 0)
		return -EIO;
	(void) pthread_mutex_lock(&ca->lock);
	r = gnutls_x509_crt_privkey_sign(crt, ca->crt, ca->signer, GNUTLS_DIG_SHA256, 0);
	(void) pthread_mutex_unlock(&ca->lock);
	return r < 0 ? -EIO : 0;
}

static int create_ca(const char *key_path, const char *crt_path, int64_t now, char *errbuf,
		     size_t errlen)
{
	_cleanup_(privkey_freep) gnutls_x509_privkey_t key = NULL;
	_cleanup_(crt_freep) gnutls_x509_crt_t crt = NULL;
	_cleanup_(freep) char *crt_pem = NULL;
	char *key_pem = NULL;
	unsigned char serial[16];
	char cn[64], hex[9];
	size_t key_len = 0;
	int r;

	r = new_key(&key);
	if (r < 0)
		return fail(errbuf, errlen, "cannot generate the CA key");
	if (random_serial(serial) < 0 || gnutls_x509_crt_init(&crt) < 0)
		return fail(errbuf, errlen, "cannot create the CA certificate");
	str_hex(serial + 8, 4, hex);
	(void) snprintf(cn, sizeof(cn), "mamori CA %s", hex);
	if (crt_begin(crt, serial, sizeof(serial), now, CA_LIFETIME, key, NULL) < 0 ||
	    set_cn(crt, cn) < 0 || gnutls_x509_crt_set_basic_constraints(crt, 1, 0) < 0 ||
	    gnutls_x509_crt_set_key_usage(crt, GNUTLS_KEY_KEY_CERT_SIGN | GNUTLS_KEY_CRL_SIGN) <
		    0 ||
	    gnutls_x509_crt_sign2(crt, crt, key, GNUTLS_DIG_SHA256, 0) < 0)
		return fail(errbuf, errlen, "cannot sign the CA certificate");
	if (export_crt(crt, &crt_pem) < 0 || export_key(key, &key_pem, &key_len) < 0)
		return fail(errbuf, errlen, "cannot encode the CA");
	r = fileio_write_atomic(key_path, key_pem, key_len, 0600);
	mm_free_secret(key_pem, key_len);
	if (r < 0)
		return fail(errbuf, errlen, "cannot write %s: %s", key_path, strerror(-r));
	r = fileio_write_atomic(crt_path, crt_pem, strlen(crt_pem), 0644);
	if (r < 0)
		return fail(errbuf, errlen, "cannot write %s: %s", crt_path, strerror(-r));
	return 0;
}

/* The configured names in canonical text: IP addresses as inet_ntop writes them, DNS
 * names in lower case. */
static void canonical_name(const char *name, char *out, size_t outlen)
{
	unsigned char addr[16];

	if (inet_pton(AF_INET, name, addr) == 1)
		(void) inet_ntop(AF_INET, addr, out, (socklen_t) outlen);
	else if (inet_pton(AF_INET6, name, addr) == 1)
		(void) inet_ntop(AF_INET6, addr, out, (socklen_t) outlen);
	else {
		size_t i;

		for (i = 0; name[i] && i + 1 < outlen; i++)
			out[i] = (char) ((name[i] >= 'A' && name[i] <= 'Z') ? name[i] + 32
									    : name[i]);
		out[i] = '\0';
	}
}

/* Whether crt's subject alternative names are exactly `names`. */
static bool names_match(gnutls_x509_crt_t crt, const char *const *names, size_t n_names)
{
	size_t found = 0;

	for (unsigned seq = 0;; seq++) {
		unsigned char san[512];
		size_t len = sizeof(san) - 1;
		char text[INET6_ADDRSTRLEN + 256];
		bool known = false;
		int type = gnutls_x509_crt_get_subject_alt_name(crt, seq, san, &len, NULL);

		if (type == GNUTLS_E_REQUESTED_DATA_NOT_AVAILABLE)
			break;
		if (type == GNUTLS_SAN_DNSNAME) {
			san[len] = '\0';
			canonical_name((const char *) san, text, sizeof(text));
		} else if (type == GNUTLS_SAN_IPADDRESS && (len == 4 || len == 16)) {
			(void) inet_ntop(len == 4 ? AF_INET : AF_INET6, san, text, sizeof(text));
		} else {
			return false;
		}
		for (size_t i = 0; i < n_names; i++) {
			char want[INET6_ADDRSTRLEN + 256];

			canonical_name(names[i], want, sizeof(want));
			if (streq(want, text)) {
				known = true;
				break;
			}
		}
		if (!known)
			return false;
		found++;
	}
	return found == n_names;
}

static int issue_server_crt(struct ca *ca, gnutls_x509_privkey_t key, const char *const *names,
			    size_t n_names, int64_t now, const char *crt_path, char *errbuf,
			    size_t errlen)
{
	_cleanup_(crt_freep) gnutls_x509_crt_t crt = NULL;
	_cleanup_(freep) char *pem = NULL;
	unsigned char serial[16];
	int r;

	if (random_serial(serial) < 0 || gnutls_x509_crt_init(&crt) < 0)
		return fail(errbuf, errlen, "cannot create the server certificate");
	if (crt_begin(crt, serial, sizeof(serial), now, SERVER_LIFETIME, key, NULL) < 0 ||
	    set_cn(crt, names[0]) < 0 || gnutls_x509_crt_set_basic_constraints(crt, 0, -1) < 0 ||
	    gnutls_x509_crt_set_key_usage(crt, GNUTLS_KEY_DIGITAL_SIGNATURE) < 0 ||
	    gnutls_x509_crt_set_key_purpose_oid(crt, GNUTLS_KP_TLS_WWW_SERVER, 0) < 0)
		return fail(errbuf, errlen, "cannot fill in the server certificate");
	for (size_t i = 0; i < n_names; i++) {
		unsigned char addr[16];

		if (inet_pton(AF_INET, names[i], addr) == 1)
			r = gnutls_x509_crt_set_subject_alt_name(crt, GNUTLS_SAN_IPADDRESS, addr, 4,
								 GNUTLS_FSAN_APPEND);
		else if (inet_pton(AF_INET6, names[i], addr) == 1)
			r = gnutls_x509_crt_set_subject_alt_name(crt, GNUTLS_SAN_IPADDRESS, addr,
								 16, GNUTLS_FSAN_APPEND);
		else
			r = gnutls_x509_crt_set_subject_alt_name(crt, GNUTLS_SAN_DNSNAME, names[i],
								 (unsigned) strlen(names[i]),
								 GNUTLS_FSAN_APPEND);
		if (r < 0)
			return fail(errbuf, errlen, "cannot put the name '%s' in the certificate",
				    names[i]);
	}
	if (sign_crt(ca, crt) < 0 || export_crt(crt, &pem) < 0)
		return fail(errbuf, errlen, "cannot sign the server certificate");
	r = fileio_write_atomic(crt_path, pem, strlen(pem), 0644);
	if (r < 0)
		return fail(errbuf, errlen, "cannot write %s: %s", crt_path, strerror(-r));
	mm_free(ca->server_crt_pem);
	ca->server_crt_pem = TAKE_PTR(pem);
	return 0;
}

/* Whether the server certificate at path can be kept: issued by this CA, for these
 * names, not expiring within RENEW_BEFORE, and for this key. */
static bool server_crt_usable(struct ca *ca, const char *path, gnutls_x509_privkey_t key,
			      const char *const *names, size_t n_names, int64_t now)
{
	_cleanup_(crt_freep) gnutls_x509_crt_t crt = NULL;
	unsigned char a[64], b[64];
	size_t alen = sizeof(a), blen = sizeof(b);
	unsigned status = 0;

	if (load_crt(path, &crt) < 0)
		return false;
	if (gnutls_x509_crt_verify(crt, &ca->crt, 1, 0, &status) < 0 || status != 0)
		return false;
	if ((int64_t) gnutls_x509_crt_get_expiration_time(crt) < now + RENEW_BEFORE)
		return false;
	if (gnutls_x509_crt_get_key_id(crt, GNUTLS_KEYID_USE_SHA256, a, &alen) < 0 ||
	    gnutls_x509_privkey_get_key_id(key, GNUTLS_KEYID_USE_SHA256, b, &blen) < 0 ||
	    alen != blen || memcmp(a, b, alen) != 0)
		return false;
	return names_match(crt, names, n_names);
}

static int open_server(struct ca *ca, const char *dir, const char *const *names, size_t n_names,
		       int64_t now, char *errbuf, size_t errlen)
{
	_cleanup_(freep) char *key_path = mm_asprintf("%s/server.key", dir);
	_cleanup_(freep) char *crt_path = mm_asprintf("%s/server.crt", dir);
	_cleanup_(privkey_freep) gnutls_x509_privkey_t key = NULL;
	struct stat st;
	int r;

	if (!key_path || !crt_path)
		return -ENOMEM;
	if (lstat(key_path, &st) < 0) {
		if (errno != ENOENT)
			return fail(errbuf, errlen, "cannot examine %s: %s", key_path,
				    strerror(errno));
		r = new_key(&key);
		if (r < 0)
			return fail(errbuf, errlen, "cannot generate the server key");
		r = export_key(key, &ca->server_key_pem, &ca->server_key_len);
		if (r < 0)
			return fail(errbuf, errlen, "cannot encode the server key");
		r = fileio_write_atomic(key_path, ca->server_key_pem, ca->server_key_len, 0600);
		if (r < 0)
			return fail(errbuf, errlen, "cannot write %s: %s", key_path, strerror(-r));
		(void) unlink(crt_path);
	} else {
		r = ca_check_secrecy(key_path, errbuf, errlen);
		if (r < 0)
			return r;
		r = load_key(key_path, &key, &ca->server_key_pem, &ca->server_key_len);
		if (r < 0)
			return fail(errbuf, errlen, "cannot load %s: %s", key_path,
				    r == -EBADMSG ? "not a PEM private key" : strerror(-r));
	}
	if (server_crt_usable(ca, crt_path, key, names, n_names, now))
		return read_pem(crt_path, &ca->server_crt_pem) < 0
			       ? fail(errbuf, errlen, "cannot read %s", crt_path)
			       : 0;
	r = issue_server_crt(ca, key, names, n_names, now, crt_path, errbuf, errlen);
	return r < 0 ? r : 1;
}

int ca_open(const char *state_dir, const char *const *names, size_t n_names, int64_t now,
	    struct ca **ret, char *errbuf, size_t errlen)
{
	_cleanup_(freep) char *key_path = mm_asprintf("%s/ca.key", state_dir);
	_cleanup_(freep) char *crt_path = mm_asprintf("%s/ca.crt", state_dir);
	_cleanup_(ca_freep) struct ca *ca = NULL;
	unsigned char fp[32];
	size_t fplen = sizeof(fp);
	struct stat st;
	bool have_key, have_crt;
	int r;

	if (!key_path || !crt_path)
		return -ENOMEM;
	if (n_names == 0)
		return fail(errbuf, errlen, "the server certificate needs at least one name");
	have_key = lstat(key_path, &st) == 0;
	have_crt = lstat(crt_path, &st) == 0;
	if (have_key != have_crt)
		return fail(errbuf, errlen,
			    "%s exists but %s does not: restore it, or remove both to make a new "
			    "CA (every agent must then enrol again)",
			    have_key ? key_path : crt_path, have_key ? crt_path : key_path);
	if (!have_key) {
		r = create_ca(key_path, crt_path, now, errbuf, errlen);
		if (r < 0)
			return r;
	}
	r = ca_check_secrecy(key_path, errbuf, errlen);
	if (r < 0)
		return r;

	ca = mm_calloc(1, sizeof(*ca));
	if (!ca)
		return -ENOMEM;
	(void) pthread_mutex_init(&ca->lock, NULL);
	r = load_key(key_path, &ca->key, NULL, NULL);
	if (r < 0)
		return fail(errbuf, errlen, "cannot load %s: %s", key_path,
			    r == -EBADMSG ? "not a PEM private key" : strerror(-r));
	r = load_crt(crt_path, &ca->crt);
	if (r < 0)
		return fail(errbuf, errlen, "cannot load %s: %s", crt_path,
			    r == -EBADMSG ? "not a PEM certificate" : strerror(-r));
	if (gnutls_privkey_init(&ca->signer) < 0 ||
	    gnutls_privkey_import_x509(ca->signer, ca->key, 0) < 0)
		return -ENOMEM;
	{
		unsigned char a[64], b[64];
		size_t alen = sizeof(a), blen = sizeof(b);

		if (gnutls_x509_crt_get_key_id(ca->crt, GNUTLS_KEYID_USE_SHA256, a, &alen) < 0 ||
		    gnutls_x509_privkey_get_key_id(ca->key, GNUTLS_KEYID_USE_SHA256, b, &blen) <
			    0 ||
		    alen != blen || memcmp(a, b, alen) != 0)
			return fail(errbuf, errlen, "%s does not belong to %s", key_path, crt_path);
	}
	ca->key_id_len = sizeof(ca->key_id);
	if (gnutls_x509_crt_get_subject_key_id(ca->crt, ca->key_id, &ca->key_id_len, NULL) < 0) {
		ca->key_id_len = sizeof(ca->key_id);
		if (gnutls_x509_crt_get_key_id(ca->crt, GNUTLS_KEYID_USE_SHA1, ca->key_id,
					       &ca->key_id_len) < 0)
			return fail(errbuf, errlen, "cannot read the CA's key id");
	}
	r = read_pem(crt_path, &ca->crt_pem);
	if (r < 0)
		return fail(errbuf, errlen, "cannot read %s", crt_path);
	if (gnutls_x509_crt_get_fingerprint(ca->crt, GNUTLS_DIG_SHA256, fp, &fplen) < 0)
		return fail(errbuf, errlen, "cannot fingerprint the CA");
	for (size_t i = 0, pos = 0; i < fplen && pos < sizeof(ca->fingerprint); i++)
		pos += (size_t) snprintf(ca->fingerprint + pos, sizeof(ca->fingerprint) - pos,
					 i ? ":%02x" : "%02x", fp[i]);
	r = open_server(ca, state_dir, names, n_names, now, errbuf, errlen);
	if (r < 0)
		return r;
	*ret = TAKE_PTR(ca);
	return 0;
}

struct ca *ca_free(struct ca *ca)
{
	if (!ca)
		return NULL;
	if (ca->signer)
		gnutls_privkey_deinit(ca->signer);
	if (ca->key)
		gnutls_x509_privkey_deinit(ca->key);
	if (ca->crt)
		gnutls_x509_crt_deinit(ca->crt);
	mm_free(ca->crt_pem);
	mm_free(ca->server_crt_pem);
	if (ca->server_key_pem)
		mm_free_secret(ca->server_key_pem, ca->server_key_len);
	(void) pthread_mutex_destroy(&ca->lock);
	mm_free(ca);
	return NULL;
}

const char *ca_cert_pem(const struct ca *ca)
{
	return ca->crt_pem;
}

const char *ca_server_cert_pem(const struct ca *ca)
{
	return ca->server_crt_pem;
}

const char *ca_server_key_pem(const struct ca *ca)
{
	return ca->server_key_pem;
}

const char *ca_fingerprint(const struct ca *ca)
{
	return ca->fingerprint;
}

static int import_csr(const char *csr_pem, gnutls_x509_crq_t *ret, char *errbuf, size_t errlen)
{
	gnutls_x509_crq_t crq;
	gnutls_datum_t d;
	size_t len = strlen(csr_pem);

	if (len > PEM_MAX) {
		(void) fail(errbuf, errlen, "the certificate request is too long");
		return -EBADMSG;
	}
	if (!strstr(csr_pem, "-----BEGIN CERTIFICATE REQUEST-----") &&
	    !strstr(csr_pem, "-----BEGIN NEW CERTIFICATE REQUEST-----")) {
		(void) fail(errbuf, errlen, "the certificate request is not PEM");
		return -EBADMSG;
	}
	d = (gnutls_datum_t){.data = (unsigned char *) csr_pem, .size = (unsigned) len};
	if (gnutls_x509_crq_init(&crq) < 0)
		return -ENOMEM;
	if (gnutls_x509_crq_import(crq, &d, GNUTLS_X509_FMT_PEM) < 0) {
		gnutls_x509_crq_deinit(crq);
		(void) fail(errbuf, errlen, "the certificate request cannot be decoded");
		return -EBADMSG;
	}
	*ret = crq;
	return 0;
}

static int check_crq(gnutls_x509_crq_t crq, gnutls_pubkey_t *ret_pub, char *errbuf, size_t errlen)
{
	_cleanup_(pubkey_freep) gnutls_pubkey_t pub = NULL;
	unsigned bits = 0;
	int alg;

	if (gnutls_x509_crq_verify(crq, 0) < 0) {
		(void) fail(errbuf, errlen,
			    "the certificate request's signature does not verify: it was not made "
			    "with the key it carries");
		return -EBADMSG;
	}
	if (gnutls_pubkey_init(&pub) < 0)
		return -ENOMEM;
	if (gnutls_pubkey_import_x509_crq(pub, crq, 0) < 0) {
		(void) fail(errbuf, errlen, "the certificate request's key cannot be read");
		return -EBADMSG;
	}
	alg = gnutls_pubkey_get_pk_algorithm(pub, &bits);
	if (!((alg == GNUTLS_PK_ECDSA && bits >= 256) || alg == GNUTLS_PK_EDDSA_ED25519 ||
	      (alg == GNUTLS_PK_RSA && bits >= 2048 && bits <= 8192))) {
		(void) fail(errbuf, errlen,
			    "the certificate request's key (%s, %u bits) is not accepted: use "
			    "ECDSA P-256 or stronger, Ed25519, or RSA of 2048 bits or more",
			    gnutls_pk_get_name((gnutls_pk_algorithm_t) alg), bits);
		return -EBADMSG;
	}
	if (ret_pub)
		*ret_pub = TAKE_PTR(pub);
	return 0;
}

int ca_csr_check(const char *csr_pem, char *errbuf, size_t errlen)
{
	_cleanup_(crq_freep) gnutls_x509_crq_t crq = NULL;
	int r = import_csr(csr_pem, &crq, errbuf, errlen);

	if (r < 0)
		return r;
	return check_crq(crq, NULL, errbuf, errlen);
}

int ca_sign_csr(struct ca *ca, const char *csr_pem, uint64_t serial, const char *host_id,
		int64_t now, char **ret_pem, char *errbuf, size_t errlen)
{
	_cleanup_(crq_freep) gnutls_x509_crq_t crq = NULL;
	_cleanup_(pubkey_freep) gnutls_pubkey_t pub = NULL;
	_cleanup_(crt_freep) gnutls_x509_crt_t crt = NULL;
	unsigned char sbytes[9];
	size_t n = 0;
	int r;

	if (serial == 0) {
		(void) fail(errbuf, errlen, "serial number 0 is not allowed");
		return -EINVAL;
	}
	r = import_csr(csr_pem, &crq, errbuf, errlen);
	if (r < 0)
		return r;
	r = check_crq(crq, &pub, errbuf, errlen);
	if (r < 0)
		return r;
	/* Big-endian, minimal, with a leading zero when the top bit is set: a positive
	 * INTEGER, as RFC 5280 requires. */
	for (int shift = 56; shift >= 0; shift -= 8) {
		unsigned char b = (unsigned char) (serial >> shift);

		if (n == 0 && b == 0)
			continue;
		if (n == 0 && (b & 0x80))
			sbytes[n++] = 0;
		sbytes[n++] = b;
	}
	if (gnutls_x509_crt_init(&crt) < 0)
		return -ENOMEM;
	if (crt_begin(crt, sbytes, n, now, AGENT_LIFETIME, NULL, pub) < 0 ||
	    set_cn(crt, host_id) < 0 || gnutls_x509_crt_set_basic_constraints(crt, 0, -1) < 0 ||
	    gnutls_x509_crt_set_key_usage(crt, GNUTLS_KEY_DIGITAL_SIGNATURE) < 0 ||
	    gnutls_x509_crt_set_key_purpose_oid(crt, GNUTLS_KP_TLS_WWW_CLIENT, 0) < 0 ||
	    sign_crt(ca, crt) < 0) {
		(void) fail(errbuf, errlen, "cannot issue the certificate");
		return -EIO;
	}
	return export_crt(crt, ret_pem);
}

int ca_peer_serial(gnutls_session_t session, uint64_t *ret_serial, char *errbuf, size_t errlen)
{
	_cleanup_(crt_freep) gnutls_x509_crt_t crt = NULL;
	gnutls_typed_vdata_st purpose = {
		.type = GNUTLS_DT_KEY_PURPOSE_OID,
		.data = (unsigned char *) GNUTLS_KP_TLS_WWW_CLIENT,
	};
	const gnutls_datum_t *peers;
	unsigned char sbytes[32];
	size_t slen = sizeof(sbytes), i;
	unsigned n = 0, status = 0;
	uint64_t serial = 0;
	int r;

	if (!session || gnutls_certificate_type_get(session) != GNUTLS_CRT_X509)
		return -ENOKEY;
	peers = gnutls_certificate_get_peers(session, &n);
	if (!peers || n == 0)
		return -ENOKEY;
	r = gnutls_certificate_verify_peers(session, &purpose, 1, &status);
	if (r < 0) {
		(void) fail(errbuf, errlen, "the client certificate cannot be verified: %s",
			    gnutls_strerror(r));
		return -EPERM;
	}
	if (status != 0) {
		gnutls_datum_t out = {0};

		if (gnutls_certificate_verification_status_print(status, GNUTLS_CRT_X509, &out,
								 0) >= 0) {
			size_t len = out.size;

			/* GnuTLS ends its sentences with a space. */
			while (len > 0 && (out.data[len - 1] == ' ' || out.data[len - 1] == '\0'))
				len--;
			(void) fail(errbuf, errlen, "%.*s", (int) len, out.data);
			free_datum(&out);
		} else {
			(void) fail(errbuf, errlen, "the client certificate does not verify");
		}
		return -EPERM;
	}
	if (gnutls_x509_crt_init(&crt) < 0)
		return -ENOMEM;
	if (gnutls_x509_crt_import(crt, &peers[0], GNUTLS_X509_FMT_DER) < 0 ||
	    gnutls_x509_crt_get_serial(crt, sbytes, &slen) < 0) {
		(void) fail(errbuf, errlen, "the client certificate cannot be decoded");
		return -EPERM;
	}
	for (i = 0; i < slen && sbytes[i] == 0; i++)
		;
	if (slen - i > 8 || slen == i) {
		(void) fail(errbuf, errlen, "the client certificate's serial number is not ours");
		return -EPERM;
	}
	for (; i < slen; i++)
		serial = (serial << 8) | sbytes[i];
	*ret_serial = serial;
	return 0;
}
