/*
 * The cpu section, from /proc/cpuinfo: model, vendor, and the counts of sockets (distinct
 * "physical id"), cores (distinct physical id + core id) and threads (processor entries).
 * Virtual machines often omit the topology lines; then every processor counts as one core
 * of one socket, which is what the guest is told.
 */
#include <errno.h>
#include <string.h>

#include "agent/agent.h"
#include "lib/fileio.h"
#include "lib/jsonw.h"
#include "lib/limits.h"
#include "lib/mm.h"
#include "lib/str.h"

#define MAX_CPUS 8192

struct topo {
	unsigned socket, core;
};

static bool seen(const struct topo *t, size_t n, struct topo x, bool socket_only)
{
	for (size_t i = 0; i < n; i++)
		if (t[i].socket == x.socket && (socket_only || t[i].core == x.core))
			return true;
	return false;
}

/* Whether the space-separated list `list` holds `word` as a whole item. */
static bool has_word(const char *list, const char *word)
{
	size_t n = strlen(word);

	for (const char *p = list; (p = strstr(p, word)); p += n)
		if ((p == list || p[-1] == ' ') && (p[n] == ' ' || p[n] == '\0'))
			return true;
	return false;
}

/* Parses cpuinfo text into the section. Returns 0, -EBADMSG when no processor was found,
 * or -ENOMEM. */
int col_cpu_parse_cpuinfo(char *text, json_t *section)
{
	_cleanup_(freep) struct topo *t = mm_reallocarray(NULL, MAX_CPUS, sizeof(*t));
	char *cursor = text, *line;
	unsigned threads = 0, sockets = 0, cores = 0;
	struct topo cur = {0, 0};
	bool have_topo = false, in_cpu = false, hypervisor = false;
	size_t nt = 0, ns = 0;
	_cleanup_(freep) struct topo *s = mm_reallocarray(NULL, MAX_CPUS, sizeof(*s));

	if (!t || !s)
		return -ENOMEM;
	for (;;) {
		char *colon, *key, *value;

		line = str_next_line(&cursor);
		if (!line || !*str_strip(line)) {
			/* end of one processor block */
			if (in_cpu && have_topo && nt < MAX_CPUS) {
				if (!seen(t, nt, cur, false))
					t[nt++] = cur;
				if (!seen(s, ns, cur, true))
					s[ns++] = cur;
			}
			in_cpu = false;
			have_topo = false;
			/* a block without "core id" must not inherit the previous one's */
			cur = (struct topo){0, 0};
			if (!line)
				break;
			continue;
		}
		colon = strchr(line, ':');
		if (!colon)
			continue;
		*colon = '\0';
		key = str_strip(line);
		value = str_strip(colon + 1);
		if (!str_is_clean_utf8(value, strlen(value)))
			continue;
		if (streq(key, "processor")) {
			threads++;
			in_cpu = true;
		} else if (streq(key, "physical id")) {
			have_topo = str_to_uint(value, 10, &cur.socket) == 0;
		} else if (streq(key, "core id")) {
			if (str_to_uint(value, 10, &cur.core) < 0)
				have_topo = false;
		} else if (streq(key, "model name") && !json_object_get(section, "model")) {
			if (jsonw_set(section, "model", json_string(value)) < 0)
				return -ENOMEM;
		} else if (streq(key, "vendor_id") && !json_object_get(section, "vendor")) {
			if (jsonw_set(section, "vendor", json_string(value)) < 0)
				return -ENOMEM;
		} else if (streq(key, "flags") && !hypervisor) {
			hypervisor = has_word(value, "hypervisor");
		}
	}
	if (threads == 0)
		return -EBADMSG;
	sockets = ns ? (unsigned) ns : 1;
	cores = nt ? (unsigned) nt : threads;
	if (json_object_set_new(section, "sockets", json_integer(sockets)) < 0 ||
	    json_object_set_new(section, "cores", json_integer(cores)) < 0 ||
	    json_object_set_new(section, "threads", json_integer(threads)) < 0 ||
	    json_object_set_new(section, "hypervisor_flag", json_boolean(hypervisor)) < 0)
		return -ENOMEM;
	return 0;
}

int col_cpu_collect(const struct col_ctx *ctx, json_t *section)
{
	_cleanup_(freep) char *text = NULL;
	size_t len = 0;
	bool truncated;
	int r = col_read_file(ctx, "/proc/cpuinfo", LIMIT_LARGE_FILE, &text, &len);

	if (r < 0)
		return col_error(section, "/proc/cpuinfo", r, NULL);
	/* the kernel ends every line with a newline: without one, the counts are a floor */
	truncated = len > 0 && text[len - 1] != '\n';
	r = col_cpu_parse_cpuinfo(text, section);
	if (r == -EBADMSG)
		return col_error(section, "/proc/cpuinfo", 0, "no processor entries");
	if (r < 0)
		return r;
	if (truncated)
		return col_error(section, "/proc/cpuinfo", 0,
				 "truncated: the last line is incomplete");
	return 0;
}
