/*
 * Screen lock: what the system-wide desktop configuration says about locking an idle
 * session, with where it says it, or "unknown".
 *
 *  - GNOME: dconf keyfiles in /etc/dconf/db/NAME.d/ * (lock-enabled, lock-delay and
 *    idle-activation-enabled in [org/gnome/desktop/screensaver], idle-delay in
 *    [org/gnome/desktop/session], disable-lock-screen in [org/gnome/desktop/lockdown]),
 *    and the keys listed in NAME.d/locks/ *, which users cannot override. The system
 *    databases that apply are those named by "system-db:NAME" in /etc/dconf/profile/user,
 *    first one winning; without that profile, every NAME.d but gdm.d (the login screen's)
 *    is read and `dconf_profile` is null — such keyfiles take effect only once a profile
 *    names them. Within one NAME.d, later files override earlier ones, as `dconf update`
 *    merges them. Values are GVariant text ("true", "uint32 300").
 *  - KDE: /etc/xdg/kscreenlockerrc, [Daemon] Autolock, Timeout (minutes), LockOnResume;
 *    "[$i]" marks a setting users cannot change.
 *  - Lockers present: light-locker, xscreensaver, xss-lock, xautolock, by package, binary
 *    or running process.
 *
 * Per-user settings (~/.config/dconf/user) are binary GVariant databases and are out of
 * scope: a user may have changed an unlocked setting, which is why `locked` matters.
 */
#include <errno.h>
#include <string.h>
#include <strings.h>

#include "agent/agent.h"
#include "lib/jsonw.h"
#include "lib/limits.h"
#include "lib/mm.h"
#include "lib/str.h"

#define DCONF_DB      "/etc/dconf/db"
#define DCONF_PROFILE "/etc/dconf/profile/user"
#define KDE_CONF      "/etc/xdg/kscreenlockerrc"

static const struct {
	const char *group;
	const char *key;
	const char *field;
	bool boolean;
} gnome_keys[SCREENLOCK_GNOME_KEYS] = {
	{"org/gnome/desktop/screensaver", "lock-enabled", "lock_enabled", true},
	{"org/gnome/desktop/screensaver", "lock-delay", "lock_delay_seconds", false},
	{"org/gnome/desktop/session", "idle-delay", "idle_delay_seconds", false},
	{"org/gnome/desktop/screensaver", "idle-activation-enabled", "idle_activation_enabled",
	 true},
	{"org/gnome/desktop/lockdown", "disable-lock-screen", "disable_lock_screen", true},
};

static const struct {
	const char *name;
	enum sec_pkg_id pkg; /* SEC_PKG_MAX: none to ask dpkg about */
	const char *binary;
} lockers[] = {
	{"light-locker", SEC_PKG_LIGHT_LOCKER, "/usr/bin/light-locker"},
	{"xscreensaver", SEC_PKG_XSCREENSAVER, "/usr/bin/xscreensaver"},
	{"xss-lock", SEC_PKG_MAX, "/usr/bin/xss-lock"},
	{"xautolock", SEC_PKG_MAX, "/usr/bin/xautolock"},
};

int col_screenlock_parse_gvariant_bool(const char *v, bool *ret)
{
	v = str_startswith(v, "boolean ") ? v + 8 : v;
	if (streq(v, "true"))
		*ret = true;
	else if (streq(v, "false"))
		*ret = false;
	else
		return -EBADMSG;
	return 0;
}

int col_screenlock_parse_gvariant_uint(const char *v, uint64_t *ret)
{
	static const char *const types[] = {"uint32 ", "int32 ", "uint64 ", "int64 ",
					    "uint16 ", "int16 ", "byte "};

	for (size_t i = 0; i < ARRAY_SIZE(types); i++) {
		const char *rest = str_startswith(v, types[i]);

		if (rest) {
			v = rest + strspn(rest, " ");
			break;
		}
	}
	return str_to_u64(v, 10, ret) < 0 ? -EBADMSG : 0;
}

int col_screenlock_parse_dconf_locks(char *text, bool locked[SCREENLOCK_GNOME_KEYS])
{
	char *cursor = text, *line;
	int n = 0;

	while ((line = str_next_line(&cursor))) {
		str_strip(line);
		if (*line != '/')
			continue; /* comments and blank lines */
		for (size_t i = 0; i < SCREENLOCK_GNOME_KEYS; i++) {
			size_t g = strlen(gnome_keys[i].group);

			if (strncmp(line + 1, gnome_keys[i].group, g) == 0 && line[1 + g] == '/' &&
			    streq(line + 2 + g, gnome_keys[i].key) && !locked[i]) {
				locked[i] = true;
				n++;
			}
		}
	}
	return n;
}

/* What one system database says about the GNOME keys. */
struct gnome_db {
	const char *file;
	char *value[SCREENLOCK_GNOME_KEYS];
	char *source[SCREENLOCK_GNOME_KEYS];
	bool locked[SCREENLOCK_GNOME_KEYS];
};

static void gnome_db_done(struct gnome_db *db)
{
	for (size_t i = 0; i < SCREENLOCK_GNOME_KEYS; i++) {
		mm_free(db->value[i]);
		mm_free(db->source[i]);
	}
}

static int gnome_key(const char *group, const char *key, const char *value, unsigned line,
		     void *userdata)
{
	struct gnome_db *db = userdata;

	for (size_t i = 0; i < SCREENLOCK_GNOME_KEYS; i++) {
		char *v, *src;

		if (!streq(group, gnome_keys[i].group) || !streq(key, gnome_keys[i].key))
			continue;
		v = mm_strdup(value);
		src = col_security_source(db->file, line);
		if (!v || !src) {
			mm_free(v);
			mm_free(src);
			return -ENOMEM;
		}
		mm_free(db->value[i]);
		mm_free(db->source[i]);
		db->value[i] = v;
		db->source[i] = src;
	}
	return 0;
}

static int read_gnome_db(struct sec_ctx *s, const char *name, struct gnome_db *db)
{
	_cleanup_(freep) char *dir = mm_asprintf(DCONF_DB "/%s.d", name);
	_cleanup_(freep) char *locks = mm_asprintf(DCONF_DB "/%s.d/locks", name);
	struct dirlist dl = {0};
	int r;

	if (!dir || !locks)
		return -ENOMEM;
	r = dirlist_read(s->col, dir, LIMIT_CONF_DIR_ENTRIES, &dl);
	if (r == -ENOMEM)
		return r;
	if (r < 0)
		return r == -ENOENT ? 0 : col_error(s->section, dir, r, NULL);
	for (size_t i = 0; r >= 0 && i < dl.n; i++) {
		_cleanup_(freep) char *path = mm_asprintf("%s/%s", dir, dl.names[i]);
		_cleanup_(freep) char *text = NULL;

		if (!path) {
			r = -ENOMEM;
			break;
		}
		if (streq(dl.names[i], "locks"))
			continue;
		r = col_read_file(s->col, path, LIMIT_CONFIG_FILE, &text, NULL);
		if (r == -ENOMEM)
			break;
		if (r < 0) {
			r = col_error(s->section, path, r, NULL);
			continue;
		}
		db->file = path;
		r = keyfile_parse(text, gnome_key, db);
		db->file = NULL;
		if (r > 0)
			r = col_error(s->section, path, -EBADMSG, "%d malformed lines", r);
	}
	dirlist_done(&dl);
	if (r < 0)
		return r;
	r = dirlist_read(s->col, locks, LIMIT_CONF_DIR_ENTRIES, &dl);
	if (r == -ENOMEM)
		return r;
	for (size_t i = 0; r >= 0 && i < dl.n; i++) {
		_cleanup_(freep) char *path = mm_asprintf("%s/%s", locks, dl.names[i]);
		_cleanup_(freep) char *text = NULL;

		if (!path) {
			r = -ENOMEM;
			break;
		}
		r = col_read_file(s->col, path, LIMIT_CONFIG_FILE, &text, NULL);
		if (r == -ENOMEM)
			break;
		if (r < 0) {
			r = col_error(s->section, path, r, NULL);
			continue;
		}
		(void) col_screenlock_parse_dconf_locks(text, db->locked);
	}
	dirlist_done(&dl);
	return r == -ENOMEM ? r : 0;
}

/* The system databases that apply: the profile's system-db lines, or NULL (no profile)
 * with *ret_all set to every NAME.d but gdm.d. */
static int dconf_databases(struct sec_ctx *s, json_t **ret_profile, json_t **ret_dbs)
{
	_cleanup_(json_decrefp) json_t *dbs = json_array();
	_cleanup_(freep) char *text = NULL;
	struct dirlist dl = {0};
	char *cursor, *line;
	int r;

	if (!dbs)
		return -ENOMEM;
	r = col_read_file(s->col, DCONF_PROFILE, LIMIT_CONFIG_FILE, &text, NULL);
	if (r == -ENOMEM)
		return r;
	if (r == 0) {
		cursor = text;
		while ((line = str_next_line(&cursor))) {
			const char *name = str_startswith(str_strip(line), "system-db:");

			if (name && *name && !strchr(name, '/') &&
			    str_is_clean_utf8(name, strlen(name)) &&
			    jsonw_append(dbs, json_string(name)) < 0)
				return -ENOMEM;
		}
		*ret_profile = json_incref(dbs);
		*ret_dbs = TAKE_PTR(dbs);
		return 0;
	}
	if (r != -ENOENT && col_error(s->section, DCONF_PROFILE, r, NULL) < 0)
		return -ENOMEM;
	r = dirlist_read(s->col, DCONF_DB, LIMIT_CONF_DIR_ENTRIES, &dl);
	if (r == -ENOMEM)
		return r;
	for (size_t i = 0; r >= 0 && i < dl.n; i++) {
		_cleanup_(freep) char *name = NULL;

		if (!str_endswith(dl.names[i], ".d") || streq(dl.names[i], "gdm.d") ||
		    strlen(dl.names[i]) < 3 || !str_is_clean_utf8(dl.names[i], strlen(dl.names[i])))
			continue;
		name = mm_strndup(dl.names[i], strlen(dl.names[i]) - 2);
		r = name ? jsonw_append(dbs, json_string(name)) : -ENOMEM;
	}
	dirlist_done(&dl);
	if (r == -ENOMEM)
		return r;
	*ret_profile = json_null();
	*ret_dbs = TAKE_PTR(dbs);
	return 0;
}

static int report_gnome_key(struct sec_ctx *s, json_t *gnome, size_t k, const char *value,
			    const char *source, bool locked)
{
	json_t *v;

	if (gnome_keys[k].boolean) {
		bool b;

		if (col_screenlock_parse_gvariant_bool(value, &b) < 0)
			return col_error(s->section, source, -EBADMSG, "%s: not a boolean",
					 gnome_keys[k].key);
		v = json_boolean(b);
	} else {
		uint64_t u;

		if (col_screenlock_parse_gvariant_uint(value, &u) < 0 || u > INT32_MAX)
			return col_error(s->section, source, -EBADMSG,
					 "%s: not a number of seconds", gnome_keys[k].key);
		v = json_integer((json_int_t) u);
	}
	return jsonw_set(
		gnome, gnome_keys[k].field,
		json_pack("{s:o, s:s, s:b}", "value", v, "source", source, "locked", locked));
}

static int collect_gnome(struct sec_ctx *s, json_t *out, bool *found)
{
	json_t *profile = NULL, *dbs = NULL, *gnome = json_object(), *name;
	struct gnome_db merged = {0};
	size_t i;
	int r;

	if (jsonw_set(out, "gnome", gnome) < 0)
		return -ENOMEM;
	r = dconf_databases(s, &profile, &dbs);
	if (r < 0)
		return r;
	if (jsonw_set(gnome, "dconf_profile", profile) < 0) {
		json_decref(dbs);
		return -ENOMEM;
	}
	json_array_foreach (dbs, i, name) {
		struct gnome_db db = {0};

		r = read_gnome_db(s, json_string_value(name), &db);
		for (size_t k = 0; r >= 0 && k < SCREENLOCK_GNOME_KEYS; k++) {
			/* the first database that sets a key wins; a lock anywhere holds */
			merged.locked[k] = merged.locked[k] || db.locked[k];
			if (!merged.value[k] && db.value[k]) {
				merged.value[k] = TAKE_PTR(db.value[k]);
				merged.source[k] = TAKE_PTR(db.source[k]);
			}
		}
		gnome_db_done(&db);
		if (r < 0)
			break;
	}
	json_decref(dbs);
	for (size_t k = 0; r >= 0 && k < SCREENLOCK_GNOME_KEYS; k++) {
		if (!merged.value[k])
			continue;
		*found = true;
		r = report_gnome_key(s, gnome, k, merged.value[k], merged.source[k],
				     merged.locked[k]);
	}
	gnome_db_done(&merged);
	return r < 0 ? r : 0;
}

struct kde_read {
	const char *file;
	json_t *kde;
	json_t *errsink;
};

static int kde_key(const char *group, const char *key, const char *value, unsigned line,
		   void *userdata)
{
	static const struct {
		const char *key;
		const char *field;
		bool boolean;
	} keys[] = {
		{"Autolock", "autolock", true},
		{"Timeout", "timeout_minutes", false},
		{"LockOnResume", "lock_on_resume", true},
	};
	struct kde_read *kr = userdata;
	const char *g = str_startswith(group, "Daemon");
	bool immutable = false;
	size_t klen = strcspn(key, "[");
	_cleanup_(freep) char *src = NULL;

	if (!g || (*g && !streq(g, "][$i")))
		return 0;
	immutable = *g != '\0' || streq(key + klen, "[$i]");
	for (size_t i = 0; i < ARRAY_SIZE(keys); i++) {
		json_t *v;

		if (strlen(keys[i].key) != klen || strncmp(key, keys[i].key, klen) != 0)
			continue;
		src = col_security_source(kr->file, line);
		if (!src)
			return -ENOMEM;
		if (keys[i].boolean) {
			if (strcasecmp(value, "true") != 0 && strcasecmp(value, "false") != 0)
				return col_error(kr->errsink, src, -EBADMSG,
						 "%s: not true or false", keys[i].key);
			v = json_boolean(!strcasecmp(value, "true"));
		} else {
			unsigned u;

			if (str_to_uint(value, 10, &u) < 0 || u > 100000)
				return col_error(kr->errsink, src, -EBADMSG, "%s: not a number",
						 keys[i].key);
			v = json_integer(u);
		}
		return jsonw_set(kr->kde, keys[i].field,
				 json_pack("{s:o, s:s, s:b}", "value", v, "source", src,
					   "immutable", immutable));
	}
	return 0;
}

static int collect_kde(struct sec_ctx *s, json_t *out, bool *found)
{
	_cleanup_(freep) char *text = NULL;
	struct kde_read kr = {.file = KDE_CONF, .errsink = s->section};
	int r = col_read_file(s->col, KDE_CONF, LIMIT_CONFIG_FILE, &text, NULL);

	if (r == -ENOMEM)
		return r;
	if (r == -ENOENT)
		return jsonw_set(out, "kde", json_null());
	if (r < 0) {
		if (col_error(s->section, KDE_CONF, r, NULL) < 0)
			return -ENOMEM;
		return jsonw_set(out, "kde", json_null());
	}
	kr.kde = json_pack("{s:s}", "source", KDE_CONF);
	if (jsonw_set(out, "kde", kr.kde) < 0)
		return -ENOMEM;
	*found = true;
	r = keyfile_parse(text, kde_key, &kr);
	if (r > 0 && col_error(s->section, KDE_CONF, -EBADMSG, "%d malformed lines", r) < 0)
		return -ENOMEM;
	return r < 0 ? r : 0;
}

static int collect_lockers(struct sec_ctx *s, json_t *out, bool *found)
{
	json_t *list = json_array();

	if (jsonw_set(out, "lockers", list) < 0)
		return -ENOMEM;
	for (size_t i = 0; i < ARRAY_SIZE(lockers); i++) {
		const struct proc_entry *p = col_security_proc(s, lockers[i].name, NULL);
		bool pkg = lockers[i].pkg != SEC_PKG_MAX && s->pkgs[lockers[i].pkg].installed;
		bool bin = col_security_exists(s->col, lockers[i].binary);
		json_t *e;

		if (!pkg && !bin && !p)
			continue;
		*found = true;
		e = json_pack("{s:s, s:s?}", "name", lockers[i].name, "evidence",
			      pkg   ? "dpkg"
			      : bin ? lockers[i].binary
				    : NULL);
		if (jsonw_append(list, e) < 0 ||
		    col_security_set_running(s, e, "running", "pid", p) < 0)
			return -ENOMEM;
	}
	return 0;
}

/* The summary a rule can use whatever the desktop: GNOME's value, else KDE's. */
static int summarise(json_t *out, bool found)
{
	json_t *gnome = json_object_get(out, "gnome"), *kde = json_object_get(out, "kde");
	json_t *lock = json_object_get(json_object_get(gnome, "lock_enabled"), "value");
	json_t *idle = json_object_get(json_object_get(gnome, "idle_delay_seconds"), "value");
	json_t *kde_lock = json_object_get(json_object_get(kde, "autolock"), "value");
	json_t *kde_min = json_object_get(json_object_get(kde, "timeout_minutes"), "value");
	json_int_t idle_s = -1;

	if (idle)
		idle_s = json_integer_value(idle);
	else if (kde_min)
		idle_s = json_integer_value(kde_min) * 60;
	if (!lock)
		lock = kde_lock;
	if (jsonw_set(out, "state", json_string(found ? "found" : "unknown")) < 0 ||
	    jsonw_set(out, "lock_enabled", lock ? json_incref(lock) : json_null()) < 0 ||
	    jsonw_set(out, "idle_delay_seconds", idle_s >= 0 ? json_integer(idle_s) : json_null()) <
		    0)
		return -ENOMEM;
	return 0;
}

int col_screenlock_collect(struct sec_ctx *s, json_t *out)
{
	bool found = false;
	int r = collect_gnome(s, out, &found);

	if (r >= 0)
		r = collect_kde(s, out, &found);
	if (r >= 0)
		r = collect_lockers(s, out, &found);
	if (r >= 0)
		r = summarise(out, found);
	return r < 0 ? r : 0;
}
