/*
 * A list of parser diagnostics. Recording never fails from the caller's point of view, so a
 * parser's error path stays simple; an allocation failure marks the list incomplete.
 */
#include <stdarg.h>
#include <stdio.h>

#include "lib/buf.h"
#include "lib/diag.h"
#include "lib/mm.h"

void diag_init(struct diag *d)
{
	*d = (struct diag){0};
}

void diag_done(struct diag *d)
{
	for (size_t i = 0; i < d->n; i++) {
		mm_free(d->entries[i].file);
		mm_free(d->entries[i].message);
	}
	mm_free(d->entries);
	*d = (struct diag){0};
}

void diag_add(struct diag *d, enum diag_severity sev, const char *file, unsigned line,
	      unsigned column, const char *fmt, ...)
{
	struct diag_entry *e;
	struct buf msg;
	va_list ap;

	if (sev == DIAG_ERROR)
		d->n_errors++;
	e = mm_reallocarray(d->entries, d->n + 1, sizeof(*e));
	if (!e) {
		d->oom = true;
		return;
	}
	d->entries = e;
	buf_init(&msg, 4096);
	va_start(ap, fmt);
	if (buf_vaddf(&msg, fmt, ap) < 0 && msg.len == 0)
		d->oom = true;
	va_end(ap);
	e = &d->entries[d->n];
	*e = (struct diag_entry){.severity = sev, .line = line, .column = column};
	e->message = buf_take(&msg, NULL);
	e->file = file ? mm_strdup(file) : NULL;
	if (!e->message || (file && !e->file)) {
		mm_free(e->message);
		mm_free(e->file);
		d->oom = true;
		return;
	}
	d->n++;
}

char *diag_format(const struct diag_entry *e)
{
	const char *sev = e->severity == DIAG_ERROR ? "error" : "warning";

	if (e->line && e->column)
		return mm_asprintf("%s:%u:%u: %s: %s", e->file ? e->file : "<input>", e->line,
				   e->column, sev, e->message);
	if (e->line)
		return mm_asprintf("%s:%u: %s: %s", e->file ? e->file : "<input>", e->line, sev,
				   e->message);
	return mm_asprintf("%s: %s: %s", e->file ? e->file : "<input>", sev, e->message);
}
