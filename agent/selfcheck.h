/*
 * The teleworker's self-check (セルフチェック): `mamori-agent status --check`. Kept apart
 * from main.c so the `status` verb of the daemon and this one merge as two lines.
 */
#pragma once

#include <stdbool.h>

/* Whether the arguments after the verb ask for the self-check (contain --check). */
bool selfcheck_wanted(int argc, char **argv);

/*
 * Runs the self-check: argv[0] is "status", then the options (see selfcheck.c). Prints the
 * result and returns the exit status: 0 when every automated teleworker measure this
 * machine can decide is met or does not apply, 1 otherwise, 2 for bad use.
 */
int selfcheck_run(int argc, char **argv);
