/*
 * The collection profile's parser (lib/collection.h), shared by the agent, the server and
 * mamorictl.
 *
 * A profile ("minimal", "standard", "detailed") sets defaults for every monitor; the
 * policy's "collection" object may then override each setting. Keystrokes, screen contents,
 * the clipboard and the contents of documents are never collected, whatever a policy says:
 * no setting exists for them.
 *
 * The policy is outside input (the server's answer to the agent, an administrator's file
 * to the server): every error is recorded in one pass, its message opening with the
 * member's path, and the whole object is refused; unknown keys are warnings, so an older
 * agent still applies a newer server's policy. Lists are bounded by LIMIT_WATCHED_FOLDERS
 * and LIMIT_EXCLUDES, each path or pattern by LIMIT_PATH.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "lib/collection.h"
#include "lib/jsonw.h"
#include "lib/limits.h"
#include "lib/mm.h"
#include "lib/str.h"

static const struct profile {
	const char *name;
	bool process, cmdline, hash, files, removable, login, network;
} profiles[] = {
	{"minimal", false, false, false, false, true, true, true},
	{"standard", true, false, true, true, true, true, true},
	{"detailed", true, true, true, true, true, true, true},
};

static void strv_free(char **v)
{
	if (!v)
		return;
	for (char **p = v; *p; p++)
		mm_free(*p);
	mm_free(v);
}

void collection_done(struct collection *c)
{
	strv_free(c->folders);
	strv_free(c->exclude);
	c->folders = c->exclude = NULL;
}

static void apply_profile(struct collection *c, const struct profile *p)
{
	(void) snprintf(c->profile, sizeof(c->profile), "%s", p->name);
	c->process = p->process;
	c->process_cmdline = p->cmdline;
	c->process_hash = p->hash;
	c->files = p->files;
	c->removable = p->removable;
	c->login = p->login;
	c->network = p->network;
}

int collection_init_default(struct collection *ret)
{
	struct collection c = {.hash_rate = COLLECTION_HASH_RATE_DEFAULT};

	apply_profile(&c, &profiles[1]);
	c.folders = mm_calloc(1, sizeof(char *));
	c.exclude = mm_calloc(1, sizeof(char *));
	if (!c.folders || !c.exclude) {
		collection_done(&c);
		return -ENOMEM;
	}
	*ret = c;
	return 0;
}

/* Reads obj[key] as a boolean into *out when present. */
static void get_bool(const json_t *obj, const char *where, const char *key, bool *out,
		     struct diag *d)
{
	json_t *v = json_object_get(obj, key);

	if (!v)
		return;
	if (!json_is_boolean(v)) {
		diag_error(d, NULL, 0, 0, "collection.%s.%s: expected true or false", where, key);
		return;
	}
	*out = json_is_true(v);
}

/* Warns about keys of obj not in known (NULL-terminated). */
static void check_keys(const json_t *obj, const char *where, const char *const *known,
		       struct diag *d)
{
	const char *key;
	json_t *v;

	json_object_foreach ((json_t *) obj, key, v) {
		bool found = false;

		for (const char *const *k = known; *k && !found; k++)
			found = streq(*k, key);
		if (!found)
			diag_warning(d, NULL, 0, 0, "%s: unknown setting '%s' ignored", where, key);
	}
}

/* Whether a folder pattern is acceptable: absolute, no "." or ".." components, no control
 * characters. */
static bool valid_folder(const char *s)
{
	size_t len = strlen(s);

	if (len == 0 || len >= LIMIT_PATH || s[0] != '/')
		return false;
	for (const char *p = s; *p; p++)
		if ((unsigned char) *p < 0x20 || *p == 0x7f)
			return false;
	for (const char *p = s; (p = strchr(p, '/'));) {
		p++;
		if ((p[0] == '.' && (p[1] == '/' || !p[1])) ||
		    (p[0] == '.' && p[1] == '.' && (p[2] == '/' || !p[2])))
			return false;
	}
	return true;
}

/* Reads a list of strings (at most max, each checked by valid, NULL = any non-empty
 * string under LIMIT_PATH bytes) into *out, replacing it. */
static int get_strv(const json_t *obj, const char *where, const char *key, size_t max,
		    bool (*valid)(const char *), char ***out, struct diag *d)
{
	json_t *arr = json_object_get(obj, key), *v;
	char **list;
	size_t i, n = 0;
	bool bad = false;

	if (!arr)
		return 0;
	if (!json_is_array(arr)) {
		diag_error(d, NULL, 0, 0, "collection.%s.%s: expected a list of strings", where,
			   key);
		return 0;
	}
	if (json_array_size(arr) > max) {
		diag_error(d, NULL, 0, 0, "collection.%s.%s: %zu entries, at most %zu allowed",
			   where, key, json_array_size(arr), max);
		return 0;
	}
	json_array_foreach (arr, i, v) {
		const char *s = json_string_value(v);

		if (!s || (valid ? !valid(s) : (!*s || strlen(s) >= LIMIT_PATH))) {
			diag_error(d, NULL, 0, 0, "collection.%s.%s[%zu]: %s", where, key, i,
				   !s      ? "expected a string"
				   : valid ? "expected an absolute path without '.' or '..'"
					   : "expected a non-empty pattern");
			bad = true;
		}
	}
	if (bad)
		return 0;
	list = mm_calloc(json_array_size(arr) + 1, sizeof(char *));
	if (!list)
		return -ENOMEM;
	json_array_foreach (arr, i, v) {
		list[n] = mm_strdup(json_string_value(v));
		if (!list[n]) {
			strv_free(list);
			return -ENOMEM;
		}
		n++;
	}
	strv_free(*out);
	*out = list;
	return 0;
}

static json_t *section(const json_t *coll, const char *key, struct diag *d)
{
	json_t *v = json_object_get(coll, key);

	if (v && !json_is_object(v)) {
		diag_error(d, NULL, 0, 0, "collection.%s: expected an object", key);
		return NULL;
	}
	return v;
}

int collection_parse(const json_t *policy, struct collection *ret, struct diag *d)
{
	static const char *const top_keys[] = {"profile", "process", "files",
					       "login",   "network", NULL};
	static const char *const proc_keys[] = {"enabled", "command_line", "hash", "hash_rate_mib",
						NULL};
	static const char *const file_keys[] = {"enabled", "folders", "exclude", "removable", NULL};
	static const char *const on_keys[] = {"enabled", NULL};
	struct collection c;
	json_t *coll, *s, *v;
	size_t errors = d->n_errors;
	int r;

	r = collection_init_default(&c);
	if (r < 0)
		return r;
	coll = policy ? json_object_get(policy, "collection") : NULL;
	if (policy && !json_is_object(policy)) {
		diag_error(d, NULL, 0, 0, "the policy is not a JSON object");
		coll = NULL;
	}
	if (coll && !json_is_object(coll)) {
		diag_error(d, NULL, 0, 0, "collection: expected an object");
		coll = NULL;
	}
	if (coll) {
		check_keys(coll, "collection", top_keys, d);
		v = json_object_get(coll, "profile");
		if (v) {
			const struct profile *p = NULL;

			for (size_t i = 0; i < ARRAY_SIZE(profiles); i++)
				if (json_is_string(v) &&
				    streq(json_string_value(v), profiles[i].name))
					p = &profiles[i];
			if (p)
				apply_profile(&c, p);
			else
				diag_error(d, NULL, 0, 0,
					   "collection.profile: expected \"minimal\", \"standard\""
					   " or \"detailed\"");
		}
		if ((s = section(coll, "process", d))) {
			check_keys(s, "collection.process", proc_keys, d);
			get_bool(s, "process", "enabled", &c.process, d);
			get_bool(s, "process", "command_line", &c.process_cmdline, d);
			get_bool(s, "process", "hash", &c.process_hash, d);
			v = json_object_get(s, "hash_rate_mib");
			if (v) {
				if (!json_is_integer(v) || json_integer_value(v) < 1 ||
				    json_integer_value(v) > 4096)
					diag_error(d, NULL, 0, 0,
						   "collection.process.hash_rate_mib: expected a"
						   " whole number from 1 to 4096");
				else
					c.hash_rate =
						(uint64_t) json_integer_value(v) * 1024 * 1024;
			}
		}
		if ((s = section(coll, "files", d))) {
			check_keys(s, "collection.files", file_keys, d);
			get_bool(s, "files", "enabled", &c.files, d);
			get_bool(s, "files", "removable", &c.removable, d);
			r = get_strv(s, "files", "folders", LIMIT_WATCHED_FOLDERS, valid_folder,
				     &c.folders, d);
			if (r >= 0)
				r = get_strv(s, "files", "exclude", LIMIT_EXCLUDES, NULL,
					     &c.exclude, d);
			if (r < 0) {
				collection_done(&c);
				return r;
			}
		}
		if ((s = section(coll, "login", d))) {
			check_keys(s, "collection.login", on_keys, d);
			get_bool(s, "login", "enabled", &c.login, d);
		}
		if ((s = section(coll, "network", d))) {
			check_keys(s, "collection.network", on_keys, d);
			get_bool(s, "network", "enabled", &c.network, d);
		}
	}
	if (d->oom) {
		collection_done(&c);
		return -ENOMEM;
	}
	if (d->n_errors > errors) {
		collection_done(&c);
		return -EINVAL;
	}
	/* a process monitor without processes has nothing to hash or quote */
	if (!c.process)
		c.process_cmdline = c.process_hash = false;
	*ret = c;
	return 0;
}

static json_t *strv_json(char **v)
{
	json_t *arr = json_array();

	for (char **p = v; arr && p && *p; p++)
		if (jsonw_append(arr, json_string(*p)) < 0) {
			json_decref(arr);
			return NULL;
		}
	return arr;
}

json_t *collection_to_json(const struct collection *c)
{
	return json_pack("{s:s, s:{s:b, s:b, s:b, s:I}, s:{s:b, s:o, s:o, s:b}, s:{s:b}, s:{s:b}}",
			 "profile", c->profile, "process", "enabled", c->process, "command_line",
			 c->process_cmdline, "hash", c->process_hash, "hash_rate_mib",
			 (json_int_t) (c->hash_rate / ((uint64_t) 1024 * 1024)), "files", "enabled",
			 c->files, "folders", strv_json(c->folders), "exclude",
			 strv_json(c->exclude), "removable", c->removable, "login", "enabled",
			 c->login, "network", "enabled", c->network);
}
