/*
 * A test helper for the API tests: links events into the event chain with the library the
 * agent's spool uses (lib/evchain), so the tests need no second implementation of it.
 *   evtool chain HOST_ID [PREV]   reads events {"seq", "time", "type", "data"[, "mono"]},
 *                                 one per line, and prints them chained, one per line,
 *                                 starting from PREV (default: the host's genesis value)
 *   evtool genesis HOST_ID        prints the host's genesis value
 */
#include <stdio.h>
#include <string.h>

#include "lib/evchain.h"
#include "lib/jsonw.h"
#include "lib/limits.h"
#include "lib/mm.h"

static int chain(const char *host, const char *prev)
{
	char head[EVCHAIN_HEX], hash[EVCHAIN_HEX], line[LIMIT_EVENT_SIZE + 2];

	if (prev) {
		if (!evchain_is_hash(prev))
			return 2;
		memcpy(head, prev, EVCHAIN_HEX);
	} else if (evchain_genesis(host, head) < 0) {
		return 1;
	}
	while (fgets(line, sizeof(line), stdin)) {
		json_t *e = NULL;
		char *data = NULL, *out = NULL, before[EVCHAIN_HEX];
		json_t *mono;
		int64_t m;

		if (line[0] == '\n')
			continue;
		if (jsonw_parse(line, strlen(line), LIMIT_EVENT_SIZE, &e, NULL) < 0) {
			fprintf(stderr, "evtool: not JSON: %s", line);
			return 1;
		}
		mono = json_object_get(e, "mono");
		m = json_is_integer(mono) ? json_integer_value(mono)
					  : json_integer_value(json_object_get(e, "seq")) * 10;
		data = jsonw_dump(json_object_get(e, "data"));
		memcpy(before, head, EVCHAIN_HEX);
		if (!data ||
		    evchain_link(head, (uint64_t) json_integer_value(json_object_get(e, "seq")),
				 json_integer_value(json_object_get(e, "time")), m,
				 json_string_value(json_object_get(e, "type")), data, hash) < 0) {
			fprintf(stderr, "evtool: cannot link: %s", line);
			return 1;
		}
		json_object_set_new(e, "mono", json_integer(m));
		json_object_set_new(e, "prev", json_string(before));
		json_object_set_new(e, "hash", json_string(hash));
		out = jsonw_dump(e);
		if (!out)
			return 1;
		puts(out);
		mm_free(out);
		mm_free(data);
		json_decref(e);
	}
	return 0;
}

int main(int argc, char **argv)
{
	char g[EVCHAIN_HEX];

	mm_setup_jansson();
	if (argc >= 3 && strcmp(argv[1], "chain") == 0)
		return chain(argv[2], argc >= 4 ? argv[3] : NULL);
	if (argc == 3 && strcmp(argv[1], "genesis") == 0 && evchain_genesis(argv[2], g) == 0) {
		puts(g);
		return 0;
	}
	fprintf(stderr, "usage: evtool chain HOST_ID [PREV] | evtool genesis HOST_ID\n");
	return 2;
}
