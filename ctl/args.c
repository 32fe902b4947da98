/*
 * Arguments of mamorictl's sub-commands: "--name VALUE", "--name=VALUE", "--flag" and
 * positional words, in any order. Table-driven so each command states what it takes, and
 * every mistake is reported in one line naming the option.
 */
#include <stdio.h>
#include <string.h>

#include "ctl/ctl.h"
#include "lib/str.h"

int ctl_args_parse(int argc, char **argv, const struct ctl_opt *opts, const char **positional,
		   size_t n_positional, size_t n_required, bool *json)
{
	size_t npos = 0;

	for (int i = 0; i < argc; i++) {
		const char *a = argv[i], *name, *eq;
		const struct ctl_opt *o = NULL;
		size_t namelen;

		if (!str_startswith(a, "--")) {
			if (npos >= n_positional) {
				fprintf(stderr, "mamorictl: unexpected argument '%s'\n", a);
				return -1;
			}
			positional[npos++] = a;
			continue;
		}
		name = a + 2;
		eq = strchr(name, '=');
		namelen = eq ? (size_t) (eq - name) : strlen(name);
		if (namelen == 4 && strncmp(name, "json", 4) == 0 && !eq) {
			*json = true;
			continue;
		}
		for (const struct ctl_opt *p = opts; p && p->name; p++)
			if (strlen(p->name) == namelen && strncmp(p->name, name, namelen) == 0)
				o = p;
		if (!o) {
			fprintf(stderr, "mamorictl: unknown option '%s' (see --help)\n", a);
			return -1;
		}
		if (o->list) {
			const char *v = eq ? eq + 1 : i + 1 < argc ? argv[++i] : NULL;

			if (!v) {
				fprintf(stderr, "mamorictl: option '--%s' needs a value\n",
					o->name);
				return -1;
			}
			if (o->list->n >= CTL_LIST_MAX) {
				fprintf(stderr,
					"mamorictl: option '--%s' given more than %d times\n",
					o->name, CTL_LIST_MAX);
				return -1;
			}
			o->list->v[o->list->n++] = v;
			continue;
		}
		if (o->flag) {
			if (eq) {
				fprintf(stderr, "mamorictl: option '--%s' takes no value\n",
					o->name);
				return -1;
			}
			*o->flag = true;
			continue;
		}
		if (eq) {
			*o->value = eq + 1;
		} else if (i + 1 < argc) {
			*o->value = argv[++i];
		} else {
			fprintf(stderr, "mamorictl: option '--%s' needs a value\n", o->name);
			return -1;
		}
	}
	if (npos < n_required) {
		fprintf(stderr, "mamorictl: missing argument (see --help)\n");
		return -1;
	}
	return 0;
}
