/*
 * The HTTPS client: one libcurl easy handle per call (mamorictl makes a handful of calls
 * per run). The server's certificate is always verified — against --ca when given, else
 * the system trust store; there is no switch to turn verification off.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <curl/curl.h>

#include "ctl/ctl.h"
#include "lib/buf.h"
#include "lib/jsonw.h"
#include "lib/limits.h"
#include "lib/mm.h"

#define CTL_ANSWER_MAX ((size_t) 64 * 1024 * 1024)

static size_t on_data(char *p, size_t size, size_t n, void *userdata)
{
	struct buf *b = userdata;

	if (buf_add(b, p, size * n) < 0)
		return 0; /* makes curl fail with CURLE_WRITE_ERROR */
	return size * n;
}

int ctl_query_add(struct buf *b, const char *name, const char *value)
{
	char *esc;
	int r;

	if (!value)
		return 0;
	esc = curl_easy_escape(NULL, value, 0);
	if (!esc)
		return -ENOMEM;
	r = buf_addf(b, "%c%s=%s", b->len && strchr(buf_str(b), '?') ? '&' : '?', name, esc);
	curl_free(esc);
	return r;
}

/*
 * One HTTPS call: method, path, an optional body of a content type. On return *ret_status
 * is the HTTP status and answer holds the body. -EIO (printed) when the server could not
 * be reached, -ENOMEM.
 */
static int perform(const struct ctl *c, const char *method, const char *path, const char *ctype,
		   const char *payload, size_t len, struct buf *answer, long *ret_status)
{
	_cleanup_(freep) char *url = NULL, *auth = NULL, *ctype_header = NULL;
	struct curl_slist *headers = NULL;
	char errbuf[CURL_ERROR_SIZE] = "";
	long status = 0;
	CURLcode cr;
	CURL *h;

	url = mm_asprintf("%s%s", c->server, path);
	auth = mm_asprintf("Authorization: Bearer %s", c->token ? c->token : "");
	ctype_header = ctype ? mm_asprintf("Content-Type: %s", ctype) : NULL;
	h = curl_easy_init();
	if (!url || !auth || (ctype && !ctype_header) || !h) {
		curl_easy_cleanup(h);
		return -ENOMEM;
	}
	headers = curl_slist_append(headers, auth);
	headers = curl_slist_append(headers, "Accept: application/json, text/csv");
	if (payload)
		headers = curl_slist_append(headers, ctype_header);
	(void) curl_easy_setopt(h, CURLOPT_URL, url);
	(void) curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, method);
	(void) curl_easy_setopt(h, CURLOPT_HTTPHEADER, headers);
	(void) curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_data);
	(void) curl_easy_setopt(h, CURLOPT_WRITEDATA, answer);
	(void) curl_easy_setopt(h, CURLOPT_ERRORBUFFER, errbuf);
	(void) curl_easy_setopt(h, CURLOPT_SSL_VERIFYPEER, 1L);
	(void) curl_easy_setopt(h, CURLOPT_SSL_VERIFYHOST, 2L);
	(void) curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "https");
	(void) curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT, 10L);
	(void) curl_easy_setopt(h, CURLOPT_TIMEOUT, 120L);
	(void) curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
	if (c->ca)
		(void) curl_easy_setopt(h, CURLOPT_CAINFO, c->ca);
	if (payload) {
		(void) curl_easy_setopt(h, CURLOPT_POSTFIELDS, payload);
		(void) curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t) len);
	}
	cr = curl_easy_perform(h);
	if (cr == CURLE_OK)
		(void) curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
	curl_slist_free_all(headers);
	curl_easy_cleanup(h);
	if (cr != CURLE_OK) {
		fprintf(stderr, "mamorictl: cannot reach %s: %s\n", c->server,
			errbuf[0] ? errbuf : curl_easy_strerror(cr));
		return -EIO;
	}
	*ret_status = status;
	return 0;
}

/* Prints an error answer: its words, then each of its "errors" (a policy's or a CSV's
 * lines with their line and column), one per line. */
static void print_error(long status, const struct buf *answer)
{
	struct jsonw_error jerr = {{0}};
	json_t *v = NULL, *e;
	const char *msg = NULL;
	size_t i;

	if (answer->len && jsonw_parse(answer->data, answer->len, CTL_ANSWER_MAX, &v, &jerr) == 0)
		msg = json_string_value(json_object_get(v, "error"));
	fprintf(stderr, "mamorictl: %ld: %s\n", status, msg ? msg : "request failed");
	json_array_foreach (json_object_get(v, "errors"), i, e)
		if (json_is_string(e))
			fprintf(stderr, "%s\n", json_string_value(e));
	json_decref(v);
}

int ctl_call(const struct ctl *c, const char *method, const char *path, json_t *body, json_t **ret)
{
	_cleanup_(freep) char *payload = NULL;
	struct jsonw_error jerr = {{0}};
	struct buf answer;
	json_t *v = NULL;
	long status = 0;
	int r;

	if (body) {
		payload = jsonw_dump(body);
		if (!payload)
			return -ENOMEM;
	}
	buf_init(&answer, CTL_ANSWER_MAX);
	r = perform(c, method, path, "application/json", payload, payload ? strlen(payload) : 0,
		    &answer, &status);
	if (r < 0) {
		buf_done(&answer);
		return r;
	}
	if (status < 200 || status > 299) {
		print_error(status, &answer);
		buf_done(&answer);
		return -EPROTO;
	}
	if (answer.len == 0) {
		v = json_null();
	} else {
		r = jsonw_parse(answer.data, answer.len, CTL_ANSWER_MAX, &v, &jerr);
		if (r < 0) {
			fprintf(stderr, "mamorictl: %ld: the server's answer is not JSON (%s)\n",
				status, jerr.text);
			buf_done(&answer);
			return -EPROTO;
		}
	}
	buf_done(&answer);
	*ret = v;
	return 0;
}

int ctl_call_text(const struct ctl *c, const char *method, const char *path, const char *ctype,
		  const char *body, size_t len, char **ret_text, json_t **ret_json)
{
	struct jsonw_error jerr = {{0}};
	struct buf answer;
	long status = 0;
	int r;

	buf_init(&answer, CTL_ANSWER_MAX);
	r = perform(c, method, path, ctype, body, len, &answer, &status);
	if (r < 0) {
		buf_done(&answer);
		return r;
	}
	if (status < 200 || status > 299) {
		print_error(status, &answer);
		buf_done(&answer);
		return -EPROTO;
	}
	if (ret_json) {
		r = jsonw_parse(answer.len ? answer.data : "null", answer.len ? answer.len : 4,
				CTL_ANSWER_MAX, ret_json, &jerr);
		buf_done(&answer);
		if (r < 0) {
			fprintf(stderr, "mamorictl: %ld: the server's answer is not JSON (%s)\n",
				status, jerr.text);
			return -EPROTO;
		}
		return 0;
	}
	*ret_text = buf_take(&answer, NULL);
	return *ret_text ? 0 : -ENOMEM;
}

/* Writes what arrives to the output file; fails the transfer (CURLE_WRITE_ERROR) when the
 * file does not take it. */
static size_t on_download(char *p, size_t size, size_t n, void *userdata)
{
	FILE *f = userdata;

	return fwrite(p, size, n, f) == n ? size * n : 0;
}

int ctl_download(const struct ctl *c, const char *path, const char *output)
{
	_cleanup_(freep) char *url = NULL, *auth = NULL;
	struct curl_slist *headers = NULL;
	char errbuf[CURL_ERROR_SIZE] = "";
	FILE *out = stdout;
	long status = 0;
	CURLcode cr;
	CURL *h;
	int r = 0;

	url = mm_asprintf("%s%s", c->server, path);
	auth = mm_asprintf("Authorization: Bearer %s", c->token ? c->token : "");
	h = curl_easy_init();
	if (!url || !auth || !h) {
		curl_easy_cleanup(h);
		return -ENOMEM;
	}
	if (output) {
		out = fopen(output, "we");
		if (!out) {
			fprintf(stderr, "mamorictl: cannot write %s: %s\n", output,
				strerror(errno));
			curl_easy_cleanup(h);
			return -EIO;
		}
	}
	headers = curl_slist_append(headers, auth);
	(void) curl_easy_setopt(h, CURLOPT_URL, url);
	(void) curl_easy_setopt(h, CURLOPT_HTTPHEADER, headers);
	(void) curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_download);
	(void) curl_easy_setopt(h, CURLOPT_WRITEDATA, out);
	(void) curl_easy_setopt(h, CURLOPT_ERRORBUFFER, errbuf);
	(void) curl_easy_setopt(h, CURLOPT_SSL_VERIFYPEER, 1L);
	(void) curl_easy_setopt(h, CURLOPT_SSL_VERIFYHOST, 2L);
	(void) curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "https");
	(void) curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT, 10L);
	(void) curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
	/* an error answer is JSON, not the export: do not write it into the file */
	(void) curl_easy_setopt(h, CURLOPT_FAILONERROR, 1L);
	if (c->ca)
		(void) curl_easy_setopt(h, CURLOPT_CAINFO, c->ca);
	cr = curl_easy_perform(h);
	(void) curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
	curl_slist_free_all(headers);
	curl_easy_cleanup(h);
	if (cr != CURLE_OK) {
		if (status >= 400)
			fprintf(stderr, "mamorictl: %ld: the server refused the export (%s)\n",
				status, errbuf[0] ? errbuf : curl_easy_strerror(cr));
		else
			fprintf(stderr, "mamorictl: the export from %s failed: %s\n", c->server,
				errbuf[0] ? errbuf : curl_easy_strerror(cr));
		r = status >= 400 ? -EPROTO : -EIO;
	}
	if (fflush(out) != 0 && r == 0) {
		fprintf(stderr, "mamorictl: cannot write the export: %s\n", strerror(errno));
		r = -EIO;
	}
	if (output && fclose(out) != 0 && r == 0)
		r = -EIO;
	return r;
}
