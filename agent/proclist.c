/*
 * The process list: which programs run on the endpoint, read once per collection from
 * /proc/[0-9]* under the root, so every check that asks "is clamd running?" shares one scan.
 *
 * For each process we keep its pid, its comm (the kernel's name for it, cut to 15 bytes:
 * "sophos_threat_detector" appears as "sophos_threat_d") and, when readable, the target of
 * its exe link. As another user than root most exe links are unreadable, and kernel
 * threads have none, so matching falls back to comm alone. A process that exits between
 * listing and reading is skipped. The list is bounded (max); past it, `truncated` is set.
 */
#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "agent/agent.h"
#include "lib/fileio.h"
#include "lib/limits.h"
#include "lib/mm.h"
#include "lib/str.h"

void proclist_done(struct proclist *pl)
{
	if (!pl)
		return;
	for (size_t i = 0; i < pl->n; i++)
		mm_free(pl->v[i].exe);
	mm_free(pl->v);
	pl->v = NULL;
	pl->n = 0;
}

static int cmp_pid(const void *a, const void *b)
{
	const struct proc_entry *x = a, *y = b;

	return (x->pid > y->pid) - (x->pid < y->pid);
}

static bool is_pid_name(const char *s, int *ret)
{
	unsigned v;

	if (!isdigit((unsigned char) *s) || str_to_uint(s, 10, &v) < 0 || v == 0 || v > INT32_MAX)
		return false;
	*ret = (int) v;
	return true;
}

int proclist_load(const struct col_ctx *ctx, size_t max, struct proclist *ret)
{
	struct dirlist dl = {0};
	struct proclist pl = {0};
	int r;

	/* /proc holds tens of non-pid entries besides the processes themselves */
	r = dirlist_read(ctx, "/proc", max + 1024, &dl);
	if (r < 0)
		return r;
	pl.v = mm_calloc(dl.n ? dl.n : 1, sizeof(*pl.v));
	if (!pl.v) {
		dirlist_done(&dl);
		return -ENOMEM;
	}
	for (size_t i = 0; i < dl.n; i++) {
		_cleanup_(freep) char *path = NULL, *comm = NULL, *exe = NULL;
		struct proc_entry *e;
		int pid;

		if (!is_pid_name(dl.names[i], &pid))
			continue;
		if (pl.n >= max) {
			pl.truncated = true;
			break;
		}
		path = mm_asprintf("/proc/%d/comm", pid);
		if (!path) {
			r = -ENOMEM;
			break;
		}
		r = col_read_attr(ctx, path, &comm);
		if (r == -ENOMEM)
			break;
		if (r < 0 || !*comm || !str_is_clean_utf8(comm, strlen(comm))) {
			r = 0;
			continue; /* gone, or not a process directory */
		}
		mm_free(path);
		path = mm_asprintf("/proc/%d/exe", pid);
		if (!path) {
			r = -ENOMEM;
			break;
		}
		r = fileio_readlink(ctx->root, path, &exe);
		if (r == -ENOMEM)
			break;
		if (r == 0 && !str_is_clean_utf8(exe, strlen(exe))) {
			mm_free(exe);
			exe = NULL;
		}
		r = 0;
		e = &pl.v[pl.n++];
		e->pid = pid;
		(void) snprintf(e->comm, sizeof(e->comm), "%s", comm);
		e->exe = TAKE_PTR(exe);
	}
	dirlist_done(&dl);
	if (r < 0) {
		proclist_done(&pl);
		return r;
	}
	qsort(pl.v, pl.n, sizeof(*pl.v), cmp_pid);
	*ret = pl;
	return 0;
}

bool proclist_comm_matches(const char *comm, const char *name)
{
	size_t n = strlen(name);

	if (n < PROCLIST_COMM_LEN)
		return streq(comm, name);
	return strlen(comm) == PROCLIST_COMM_LEN - 1 &&
	       strncmp(comm, name, PROCLIST_COMM_LEN - 1) == 0;
}

static const char *basename_of(const char *path)
{
	const char *slash = strrchr(path, '/');

	return slash ? slash + 1 : path;
}

/* Whether exe ("/opt/x/bin/y", maybe with " (deleted)") lies under dir ("/opt/x"). */
static bool under(const char *exe, const char *dir)
{
	size_t n = strlen(dir);

	return strncmp(exe, dir, n) == 0 && (exe[n] == '/' || exe[n] == '\0' || exe[n] == ' ');
}

const struct proc_entry *proclist_find(const struct proclist *pl, const char *name,
				       const char *const *exe_dirs)
{
	for (size_t i = 0; i < pl->n; i++) {
		const struct proc_entry *e = &pl->v[i];
		bool named = proclist_comm_matches(e->comm, name);

		if (!named && e->exe) {
			/* a process may rename itself (comm); its exe still names the program */
			const char *b = basename_of(e->exe);
			size_t n = strlen(name);

			named = strncmp(b, name, n) == 0 && (b[n] == '\0' || b[n] == ' ');
		}
		if (!named)
			continue;
		if (exe_dirs && e->exe) {
			bool inside = false;

			for (size_t k = 0; exe_dirs[k] && !inside; k++)
				inside = under(e->exe, exe_dirs[k]);
			if (!inside)
				continue;
		}
		return e;
	}
	return NULL;
}
