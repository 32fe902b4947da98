/*
 * Where mamorictl finds the server, the token and the CA: flags first, then the
 * environment, then a config file. A config file holding a token must not be readable by
 * group or others; mamorictl refuses it otherwise (OpenSMTPD check_file_secrecy).
 */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "ctl/ctl.h"
#include "lib/fileio.h"
#include "lib/limits.h"
#include "lib/mm.h"
#include "lib/str.h"

static int set_from(char **field, const char *value)
{
	if (*field || !value || !*value)
		return 0;
	*field = mm_strdup(value);
	return *field ? 0 : -ENOMEM;
}

int ctl_config_parse(struct ctl *c, const char *path, char *text)
{
	char *cursor = text, *line;
	unsigned lineno = 0;
	int errors = 0;

	while ((line = str_next_line(&cursor))) {
		char *eq, *key, *value;
		int r = 0;

		lineno++;
		str_strip(line);
		if (!*line || *line == '#')
			continue;
		eq = strchr(line, '=');
		if (!eq) {
			fprintf(stderr, "%s:%u: expected 'key = value'\n", path, lineno);
			errors++;
			continue;
		}
		*eq = '\0';
		key = str_strip(line);
		value = str_strip(eq + 1);
		if (streq(key, "server"))
			r = set_from(&c->server, value);
		else if (streq(key, "token"))
			r = set_from(&c->token, value);
		else if (streq(key, "ca"))
			r = set_from(&c->ca, value);
		else {
			fprintf(stderr, "%s:%u: unknown key '%s' (server, token, ca)\n", path,
				lineno, key);
			errors++;
		}
		if (r < 0)
			return r;
	}
	return errors ? -EINVAL : 0;
}

static int load_file(struct ctl *c, const char *path, bool must_exist)
{
	_cleanup_(freep) char *text = NULL;
	size_t len;
	struct stat st;
	int r;

	if (stat(path, &st) < 0) {
		if (errno == ENOENT && !must_exist)
			return 0;
		fprintf(stderr, "mamorictl: cannot read %s: %s\n", path, strerror(errno));
		return -errno;
	}
	r = fileio_read(NULL, path, LIMIT_CONFIG_FILE, &text, &len);
	if (r < 0) {
		fprintf(stderr, "mamorictl: cannot read %s: %s\n", path, strerror(-r));
		return r;
	}
	if (strstr(text, "token") && (st.st_mode & 077)) {
		fprintf(stderr,
			"mamorictl: %s holds a token but is readable by others: chmod 600 it\n",
			path);
		mm_free_secret(TAKE_PTR(text), len);
		return -EPERM;
	}
	r = ctl_config_parse(c, path, text);
	mm_free_secret(TAKE_PTR(text), len);
	return r;
}

int ctl_config_load(struct ctl *c)
{
	const char *path = getenv("MAMORI_CONFIG");
	_cleanup_(freep) char *home_path = NULL;
	int r;

	if (set_from(&c->server, getenv("MAMORI_SERVER")) < 0 ||
	    set_from(&c->token, getenv("MAMORI_TOKEN")) < 0 ||
	    set_from(&c->ca, getenv("MAMORI_CA")) < 0)
		return -ENOMEM;
	if (path) {
		r = load_file(c, path, true);
	} else if (getenv("HOME")) {
		home_path = mm_asprintf("%s/.config/mamori/ctl.conf", getenv("HOME"));
		if (!home_path)
			return -ENOMEM;
		r = load_file(c, home_path, false);
	} else {
		r = 0;
	}
	if (r < 0)
		return r;
	if (!c->server) {
		fprintf(stderr, "mamorictl: no server: pass --server URL, set MAMORI_SERVER, or "
				"put 'server = URL' in the config file\n");
		return -EINVAL;
	}
	if (!str_startswith(c->server, "https://")) {
		fprintf(stderr, "mamorictl: the server URL must start with https://, not '%s'\n",
			c->server);
		return -EINVAL;
	}
	if (!c->token) {
		fprintf(stderr, "mamorictl: no API token: pass --token, set MAMORI_TOKEN, or put "
				"'token = …' in the config file\n");
		return -EINVAL;
	}
	while (strlen(c->server) > 8 && str_endswith(c->server, "/"))
		c->server[strlen(c->server) - 1] = '\0';
	return 0;
}

void ctl_done(struct ctl *c)
{
	mm_free(c->server);
	if (c->token)
		mm_free_secret(c->token, strlen(c->token));
	mm_free(c->ca);
	*c = (struct ctl){0};
}
