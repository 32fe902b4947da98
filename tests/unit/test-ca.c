/*
 * The built-in CA: created once with secret key files, reloaded unchanged, the server
 * certificate reissued when the names change, refusal of readable keys, and CSR signing:
 * the subject is the server's, the chain verifies, nothing but the key comes from the CSR.
 */
#include <errno.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <gnutls/abstract.h>
#include <gnutls/x509.h>

#include "lib/fileio.h"
#include "lib/limits.h"
#include "lib/mm.h"
#include "server/server.h"
#include "tests/tap.h"

static char dir[] = "/tmp/mamori-test-ca-XXXXXX";

/* A path in the test directory; two buffers, so two paths can be arguments of one call. */
static char *path(const char *name)
{
	static char p[2][256];
	static unsigned k;

	k = (k + 1) % 2;
	(void) snprintf(p[k], sizeof(p[k]), "%s/%s", dir, name);
	return p[k];
}

static char *slurp(const char *name)
{
	char *s = NULL;

	if (fileio_read(NULL, path(name), LIMIT_SMALL_FILE, &s, NULL) < 0)
		return NULL;
	return s;
}

static unsigned mode_of(const char *name)
{
	struct stat st;

	return stat(path(name), &st) == 0 ? (unsigned) (st.st_mode & 07777) : 0;
}

/* A CSR for a new key of the given kind, with a subject and a SAN the CA must ignore. */
static char *make_csr(gnutls_pk_algorithm_t alg, unsigned bits, gnutls_x509_privkey_t *ret_key)
{
	gnutls_x509_privkey_t key;
	gnutls_x509_crq_t crq;
	gnutls_datum_t out = {0};
	char *pem = NULL;

	if (gnutls_x509_privkey_init(&key) < 0 ||
	    gnutls_x509_privkey_generate(key, alg, bits, 0) < 0)
		return NULL;
	if (gnutls_x509_crq_init(&crq) < 0)
		return NULL;
	if (gnutls_x509_crq_set_version(crq, 1) < 0 ||
	    gnutls_x509_crq_set_dn(crq, "CN=evil,O=Attacker", NULL) < 0 ||
	    gnutls_x509_crq_set_subject_alt_name(crq, GNUTLS_SAN_DNSNAME, "evil.example", 12,
						 GNUTLS_FSAN_SET) < 0 ||
	    gnutls_x509_crq_set_basic_constraints(crq, 1, -1) < 0 ||
	    gnutls_x509_crq_set_key(crq, key) < 0 ||
	    gnutls_x509_crq_sign2(crq, key, GNUTLS_DIG_SHA256, 0) < 0 ||
	    gnutls_x509_crq_export2(crq, GNUTLS_X509_FMT_PEM, &out) < 0)
		return NULL;
	pem = mm_strndup((const char *) out.data, out.size);
	gnutls_free(out.data);
	gnutls_x509_crq_deinit(crq);
	if (ret_key)
		*ret_key = key;
	else
		gnutls_x509_privkey_deinit(key);
	return pem;
}

/* The same CSR with one bit of its signature flipped. */
static char *tamper(const char *pem)
{
	gnutls_datum_t in = {(unsigned char *) pem, (unsigned) strlen(pem)}, der = {0}, out = {0};
	char *s;

	if (gnutls_pem_base64_decode2("NEW CERTIFICATE REQUEST", &in, &der) < 0 &&
	    gnutls_pem_base64_decode2("CERTIFICATE REQUEST", &in, &der) < 0)
		return NULL;
	der.data[der.size - 1] ^= 0x01;
	if (gnutls_pem_base64_encode2("CERTIFICATE REQUEST", &der, &out) < 0)
		return NULL;
	s = mm_strndup((const char *) out.data, out.size);
	gnutls_free(der.data);
	gnutls_free(out.data);
	return s;
}

static gnutls_x509_crt_t load(const char *pem)
{
	gnutls_datum_t d = {(unsigned char *) pem, (unsigned) strlen(pem)};
	gnutls_x509_crt_t crt;

	if (gnutls_x509_crt_init(&crt) < 0 ||
	    gnutls_x509_crt_import(crt, &d, GNUTLS_X509_FMT_PEM) < 0)
		return NULL;
	return crt;
}

static void test_create_and_reload(void)
{
	const char *names[] = {"localhost", "127.0.0.1", "::1"};
	const char *names2[] = {"mamori.example.org", "192.0.2.1"};
	struct ca *ca = NULL;
	char err[512] = "", fp[128];
	char *crt1, *crt2, *ca1;
	int64_t now = (int64_t) time(NULL);

	CHECK_INT(ca_open(dir, names, 3, now, &ca, err, sizeof(err)), 0, "CA created");
	if (!ca) {
		tap_diag("%s", err);
		return;
	}
	CHECK_INT(mode_of("ca.key"), 0600, "ca.key is 0600");
	CHECK_INT(mode_of("server.key"), 0600, "server.key is 0600");
	CHECK_INT(mode_of("ca.crt"), 0644, "ca.crt is 0644");
	CHECK_INT(strlen(ca_fingerprint(ca)), 95, "SHA-256 fingerprint with colons");
	(void) snprintf(fp, sizeof(fp), "%s", ca_fingerprint(ca));
	ca = ca_free(ca);
	crt1 = slurp("server.crt");
	ca1 = slurp("ca.crt");

	CHECK_INT(ca_open(dir, names, 3, now, &ca, err, sizeof(err)), 0, "CA reloaded");
	CHECK_STR(ca ? ca_fingerprint(ca) : "", fp, "the same CA");
	ca = ca_free(ca);
	crt2 = slurp("server.crt");
	CHECK_STR(crt2, crt1, "the server certificate is kept when the names are the same");
	mm_free(crt2);

	CHECK_INT(ca_open(dir, names2, 2, now, &ca, err, sizeof(err)), 0, "reopened, new names");
	CHECK_STR(ca ? ca_fingerprint(ca) : "", fp, "still the same CA");
	crt2 = slurp("server.crt");
	CHECK(crt2 && crt1 && strcmp(crt1, crt2) != 0, "the server certificate was reissued");
	{
		gnutls_x509_crt_t s = load(crt2), c = load(ca1);
		unsigned status = 1;

		CHECK(s && c, "certificates decode");
		CHECK(s && gnutls_x509_crt_check_hostname(s, "mamori.example.org"),
		      "it names the new DNS name");
		CHECK(s && gnutls_x509_crt_check_ip(s, (const unsigned char *) "\xc0\x00\x02\x01",
						    4, 0),
		      "and the new IP address");
		CHECK(s && !gnutls_x509_crt_check_hostname(s, "localhost"), "not the old names");
		CHECK(s && c && gnutls_x509_crt_verify(s, &c, 1, 0, &status) == 0 && status == 0,
		      "and is signed by the CA");
		if (s)
			gnutls_x509_crt_deinit(s);
		if (c)
			gnutls_x509_crt_deinit(c);
	}
	mm_free(crt1);
	mm_free(crt2);
	mm_free(ca1);
	ca_free(ca);
}

static void test_sign(void)
{
	const char *names[] = {"localhost"};
	struct ca *ca = NULL;
	gnutls_x509_privkey_t key = NULL;
	gnutls_x509_crt_t crt = NULL, cacrt = NULL;
	char err[512] = "", *csr, *bad, *pem = NULL;
	unsigned char serial[16], id1[64], id2[64];
	size_t slen = sizeof(serial), l1 = sizeof(id1), l2 = sizeof(id2);
	char dn[256];
	size_t dnlen = sizeof(dn);
	unsigned status = 1, critical = 0;
	int64_t now = (int64_t) time(NULL);

	CHECK_INT(ca_open(dir, names, 1, now, &ca, err, sizeof(err)), 0, "CA opened");
	if (!ca)
		return;
	csr = make_csr(GNUTLS_PK_ECDSA, GNUTLS_CURVE_TO_BITS(GNUTLS_ECC_CURVE_SECP256R1), &key);
	CHECK(csr != NULL, "CSR made");
	CHECK_INT(ca_csr_check(csr, err, sizeof(err)), 0, "a good CSR passes");
	CHECK_INT(ca_sign_csr(ca, csr, 0x8000000000000001ull, "host-1234", now, &pem, err,
			      sizeof(err)),
		  0, "CSR signed");
	crt = pem ? load(pem) : NULL;
	cacrt = load(ca_cert_pem(ca));
	CHECK(crt != NULL, "the certificate decodes");
	if (crt && cacrt) {
		CHECK_INT(gnutls_x509_crt_get_dn(crt, dn, &dnlen), 0, "subject read");
		CHECK_STR(dn, "CN=host-1234", "the subject is the server's choice, not the CSR's");
		CHECK_INT(gnutls_x509_crt_get_serial(crt, serial, &slen), 0, "serial read");
		CHECK(slen == 9 && serial[0] == 0 && serial[1] == 0x80 && serial[8] == 1,
		      "the serial is the store's, as a positive INTEGER");
		CHECK(gnutls_x509_crt_verify(crt, &cacrt, 1, 0, &status) == 0 && status == 0,
		      "the chain verifies against the CA");
		CHECK_INT(gnutls_x509_crt_get_subject_alt_name(crt, 0, dn, &dnlen, NULL),
			  GNUTLS_E_REQUESTED_DATA_NOT_AVAILABLE, "no SAN copied from the CSR");
		CHECK_INT(gnutls_x509_crt_get_basic_constraints(crt, &critical, NULL, NULL), 0,
			  "not a CA, although the CSR asked for it");
		dnlen = sizeof(dn);
		CHECK(gnutls_x509_crt_get_key_purpose_oid(crt, 0, dn, &dnlen, NULL) == 0 &&
			      strcmp(dn, GNUTLS_KP_TLS_WWW_CLIENT) == 0,
		      "extKeyUsage clientAuth");
		CHECK(gnutls_x509_crt_get_key_id(crt, GNUTLS_KEYID_USE_SHA256, id1, &l1) == 0 &&
			      gnutls_x509_privkey_get_key_id(key, GNUTLS_KEYID_USE_SHA256, id2,
							     &l2) == 0 &&
			      l1 == l2 && memcmp(id1, id2, l1) == 0,
		      "the certificate carries the CSR's public key");
		CHECK(gnutls_x509_crt_get_expiration_time(crt) >= now + 364L * 86400 &&
			      gnutls_x509_crt_get_expiration_time(crt) <= now + 366L * 86400,
		      "valid for one year");
	}
	if (crt)
		gnutls_x509_crt_deinit(crt);
	if (cacrt)
		gnutls_x509_crt_deinit(cacrt);
	mm_free(pem);
	pem = NULL;

	bad = tamper(csr);
	CHECK(bad != NULL, "tampered CSR made");
	CHECK_INT(ca_csr_check(bad, err, sizeof(err)), -EBADMSG, "a bad signature is refused");
	CHECK(strstr(err, "signature") != NULL, "saying so");
	CHECK_INT(ca_sign_csr(ca, bad, 7, "host-x", now, &pem, err, sizeof(err)), -EBADMSG,
		  "and never signed");
	mm_free(bad);
	CHECK_INT(ca_csr_check("-----BEGIN CERTIFICATE REQUEST-----\nAAAA\n"
			       "-----END CERTIFICATE REQUEST-----\n",
			       err, sizeof(err)),
		  -EBADMSG, "garbage refused");
	CHECK_INT(ca_csr_check("hello", err, sizeof(err)), -EBADMSG, "not PEM refused");
	mm_free(csr);
	gnutls_x509_privkey_deinit(key);

	csr = make_csr(GNUTLS_PK_RSA, 1024, NULL);
	CHECK_INT(ca_csr_check(csr, err, sizeof(err)), -EBADMSG, "a 1024-bit RSA key is refused");
	CHECK(strstr(err, "RSA") != NULL, "naming the key");
	mm_free(csr);
	ca_free(ca);
}

static void test_secrecy(void)
{
	const char *names[] = {"localhost"};
	struct ca *ca = NULL;
	char err[512] = "";
	int64_t now = (int64_t) time(NULL);

	CHECK_INT(chmod(path("ca.key"), 0644), 0, "chmod ca.key 0644");
	CHECK_INT(ca_open(dir, names, 1, now, &ca, err, sizeof(err)), -EPERM,
		  "a readable CA key stops the server");
	CHECK(strstr(err, "ca.key") && strstr(err, "0644"), "naming the file and its mode");
	CHECK_INT(chmod(path("ca.key"), 0600), 0, "chmod back");
	CHECK_INT(chmod(path("server.key"), 0640), 0, "chmod server.key 0640");
	CHECK_INT(ca_open(dir, names, 1, now, &ca, err, sizeof(err)), -EPERM,
		  "a group-readable server key stops the server");
	CHECK(strstr(err, "server.key") != NULL, "naming it");
	CHECK_INT(chmod(path("server.key"), 0600), 0, "chmod back");
	if (geteuid() == 0) {
		CHECK_INT(chown(path("server.key"), 1, 1), 0, "give server.key away");
		CHECK_INT(ca_open(dir, names, 1, now, &ca, err, sizeof(err)), -EPERM,
			  "a key owned by another user stops the server");
		CHECK(strstr(err, "owned by uid 1") != NULL, "saying so");
		CHECK_INT(chown(path("server.key"), 0, 0), 0, "take it back");
	} else {
		tap_diag("not root: the ownership check is not exercised");
	}
	CHECK_INT(ca_open(dir, names, 1, now, &ca, err, sizeof(err)), 0, "fine again");
	ca = ca_free(ca);

	CHECK_INT(symlink("ca.key", path("link.key")), 0, "symlink");
	CHECK_INT(ca_check_secrecy(path("link.key"), err, sizeof(err)), -EPERM,
		  "a symlink is no secret file");
	CHECK_INT(rename(path("ca.crt"), path("ca.crt.bak")), 0, "hide ca.crt");
	CHECK(ca_open(dir, names, 1, now, &ca, err, sizeof(err)) < 0,
	      "a CA key without its certificate is refused, not overwritten");
	CHECK(strstr(err, "ca.crt") != NULL, "naming what is missing");
	CHECK_INT(rename(path("ca.crt.bak"), path("ca.crt")), 0, "restore ca.crt");
}

int main(void)
{
	mm_setup_jansson();
	if (!mkdtemp(dir))
		tap_skip_all("cannot make a temporary directory");
	test_create_and_reload();
	test_sign();
	test_secrecy();
	{
		static const char *const files[] = {"ca.key", "ca.crt", "server.key", "server.crt",
						    "link.key"};

		for (size_t i = 0; i < ARRAY_SIZE(files); i++)
			(void) unlink(path(files[i]));
		(void) rmdir(dir);
	}
	return tap_done();
}
