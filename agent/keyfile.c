/*
 * INI-style key files, as GLib's GKeyFile, KDE's KConfig and systemd's drop-ins write
 * them: "[group]" headers, "key=value" lines, comments starting with '#' or ';'. One
 * tolerant reader serves dconf keyfiles, kscreenlockerrc, timesyncd.conf and ufw.conf
 * (which has no groups: its keys come with group "").
 *
 * The reader does not interpret values (a dconf value is GVariant text, a KDE value plain
 * text); it hands each assignment to a callback with its line number. Lines that are
 * neither comment, group nor assignment are counted as malformed and skipped. KDE's
 * immutability marker "[$i]" after a group or key is kept in the name for the caller.
 */
#include <ctype.h>
#include <errno.h>
#include <string.h>

#include "agent/agent.h"
#include "lib/str.h"

int keyfile_parse(char *text, keyfile_fn fn, void *userdata)
{
	char *cursor = text, *line;
	const char *group = "";
	unsigned lineno = 0;
	int bad = 0;

	while ((line = str_next_line(&cursor))) {
		char *eq, *key, *value;
		int r;

		lineno++;
		str_strip(line);
		if (!*line || *line == '#' || *line == ';')
			continue;
		if (*line == '[') {
			char *end = strrchr(line, ']');

			if (!end || end == line + 1) {
				bad++;
				continue;
			}
			/* "[Daemon][$i]": keep the marker, strip only the outer brackets */
			*end = '\0';
			group = line + 1;
			continue;
		}
		eq = strchr(line, '=');
		if (!eq || eq == line) {
			bad++;
			continue;
		}
		*eq = '\0';
		key = str_strip(line);
		value = str_strip(eq + 1);
		if (!*key) {
			bad++;
			continue;
		}
		r = fn(group, key, value, lineno, userdata);
		if (r < 0)
			return r;
	}
	return bad;
}
