/*
 * The collection profile (収集プロファイル): what the policy lets the agent record on an
 * endpoint (docs/events.md, "Collection profiles"). Parsed by the agent, which configures
 * its monitors from it, by the server, which refuses a profile an agent would refuse and
 * never stores or sends it, and by mamorictl (`collection check`, offline): all three link
 * this one parser, so they give the same errors, each named by its place in the policy
 * ("collection.files.folders[2]: …").
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include <jansson.h>

#include "lib/diag.h"
#include "lib/macro.h"

/*
 * What the policy lets the agent collect on this endpoint, after the profile's defaults
 * and the policy's overrides.
 */
struct collection {
	char profile[16];     /* "minimal", "standard" or "detailed" */
	bool process;         /* process starts */
	bool process_cmdline; /* … with their command lines */
	bool process_hash;    /* … with the executable's SHA-256 */
	uint64_t hash_rate;   /* bytes per second hashed at most */
	bool files;           /* file operations in watched folders */
	char **folders;       /* absolute paths, shell globs allowed; NULL-terminated */
	char **exclude;       /* fnmatch patterns; NULL-terminated */
	bool removable;       /* files written on removable media */
	bool login;           /* logins, logouts, failures, sudo and su */
	bool network;         /* Wi-Fi joins, VPN up/down, default route and DNS changes */
};

#define COLLECTION_HASH_RATE_DEFAULT ((uint64_t) 32 * 1024 * 1024)

/* Fills c with the "standard" profile's settings (what applies before any policy). */
int collection_init_default(struct collection *c) _wur_;
void collection_done(struct collection *c);

/*
 * Reads the policy's "collection" object (policy may be NULL or lack it: the standard
 * profile applies). Every error (unknown profile, wrong type, a relative folder, a list
 * over its limit) is recorded in d, all in one pass, its message opening with the member's
 * path; unknown keys are warnings, so an older agent accepts a newer server's policy.
 * Returns 0 and fills *ret (the caller's, released with collection_done()), -EINVAL when
 * d holds errors, or -ENOMEM.
 */
int collection_parse(const json_t *policy, struct collection *ret, struct diag *d) _wur_;

/*
 * The settings in force as a new JSON object, in the profile's own shape with every member
 * present ({"profile", "process": {"enabled", "command_line", "hash", "hash_rate_mib"},
 * "files": {"enabled", "folders", "exclude", "removable"}, "login": {"enabled"},
 * "network": {"enabled"}}), so an administrator sees what a profile's defaults filled in.
 * NULL on allocation failure.
 */
json_t *collection_to_json(const struct collection *c);
