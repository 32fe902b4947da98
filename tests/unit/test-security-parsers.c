/*
 * The security section's smaller parsers: ClamAV's config files, the dpkg status read,
 * key files and dconf values, nftables.conf and iptables-save counts, chrony/ntp server
 * lines, and process-name matching.
 */
#include <errno.h>
#include <string.h>

#include "agent/agent.h"
#include "lib/mm.h"
#include "tests/tap.h"

static char *text_dup(const char *s)
{
	return mm_strdup(s);
}

static void clamav_conf(void)
{
	_cleanup_(freep) char *text = text_dup("# comment\n"
					       "LocalSocket /run/clamav/clamd.ctl\n"
					       "LocalSocket /tmp/second.ctl\n"
					       "  TCPSocket 3310\n"
					       "OnAccessIncludePath /home\n"
					       "OnAccessIncludePath \"/srv/with space\"\n"
					       "OnAccessMountPath\t/\n"
					       "OnAccessPrevention YES\n"
					       "ScanOnAccess false\n"
					       "DatabaseDirectory /var/lib/clamav\n"
					       "localsocket /lower/case/is/another/option\n"
					       "MaxThreads 12\n");
	_cleanup_(freep) char *bad = text_dup("Example\nTCPSocket port\nLogFile\nLogFile \"\"\n"
					      "OnAccessPrevention maybe\nLocalSocket \"/open\n");
	json_t *c = json_object(), *inc;

	CHECK_INT(col_antivirus_parse_clamav_conf(text, c), 0, "clamd.conf parses cleanly");
	CHECK_STR(json_string_value(json_object_get(c, "local_socket")), "/run/clamav/clamd.ctl",
		  "first LocalSocket wins, as in clamd");
	CHECK_INT(json_integer_value(json_object_get(c, "tcp_socket")), 3310, "TCPSocket");
	inc = json_object_get(c, "on_access_include_paths");
	CHECK_INT(json_array_size(inc), 2, "both include paths");
	CHECK_STR(json_string_value(json_array_get(inc, 1)), "/srv/with space", "quotes removed");
	CHECK_INT(json_array_size(json_object_get(c, "on_access_mount_paths")), 1, "mount path");
	CHECK(json_is_true(json_object_get(c, "on_access_prevention")), "YES is yes");
	CHECK(json_is_false(json_object_get(c, "scan_on_access")), "false is no");
	CHECK_INT(json_integer_value(json_object_get(c, "database_directory_line")), 10,
		  "DatabaseDirectory line");
	json_decref(c);

	c = json_object();
	CHECK_INT(col_antivirus_parse_clamav_conf(bad, c), 5, "five malformed lines");
	CHECK(json_is_true(json_object_get(c, "example")), "the Example line is noted");
	CHECK(!json_object_get(c, "local_socket"), "an open quote sets nothing");
	json_decref(c);
}

static void dpkg_status(void)
{
	static const char *const names[] = {"clamav", "ufw", "chrony", "sshd-ghost"};
	_cleanup_(freep) char *text = text_dup(
		"Package: clamav\nStatus: install ok installed\nVersion: 1.4.6+dfsg-0+deb12u1\n"
		"Description: x\n Version: 9.9 (a continuation line, not a field)\n\n"
		"Package: ufw\nStatus: deinstall ok config-files\nVersion: 0.36\n\n"
		"Package: chrony\r\nStatus: hold ok installed\r\nVersion: 4.3-2\r\n\r\n"
		"Package: sshd-ghost\nVersion: 1\n");
	struct sec_pkg pkgs[4] = {0};

	CHECK_INT(col_security_parse_dpkg_status(text, names, 4, pkgs), 4, "four stanzas");
	CHECK(pkgs[0].installed, "clamav installed");
	CHECK_STR(pkgs[0].version, "1.4.6+dfsg-0+deb12u1", "its version, not the description's");
	CHECK(!pkgs[1].installed, "config-files only is not installed");
	CHECK(pkgs[2].installed, "a held package is installed (CRLF tolerated)");
	CHECK_STR(pkgs[2].version, "4.3-2", "held package's version");
	CHECK(!pkgs[3].installed, "no Status: not installed");
	col_security_pkgs_done(pkgs, 4);
}

struct kv {
	char seen[512];
};

static int collect_kv(const char *group, const char *key, const char *value, unsigned line,
		      void *userdata)
{
	struct kv *kv = userdata;
	size_t n = strlen(kv->seen);

	(void) snprintf(kv->seen + n, sizeof(kv->seen) - n, "[%s]%s=%s@%u;", group, key, value,
			line);
	return 0;
}

static void keyfiles(void)
{
	_cleanup_(freep) char *text =
		text_dup("ENABLED=yes\n# c\n; c\n[org/gnome/desktop/session]\n"
			 "idle-delay = uint32 300\n[Daemon][$i]\nTimeout[$i]=5\n"
			 "junk line\n[]\n=x\n");
	struct kv kv = {{0}};
	bool locked[SCREENLOCK_GNOME_KEYS] = {false};
	_cleanup_(freep) char *locks =
		text_dup("# locks\n/org/gnome/desktop/session/idle-delay\n"
			 "/org/gnome/desktop/screensaver/lock-enabled\n/org/gnome/desktop/session\n"
			 "/org/gnome/desktop/session/idle-delay\n");
	uint64_t u = 0;
	bool b = false;

	CHECK_INT(keyfile_parse(text, collect_kv, &kv), 3, "three malformed lines");
	CHECK_STR(kv.seen,
		  "[]ENABLED=yes@1;[org/gnome/desktop/session]idle-delay=uint32 300@5;"
		  "[Daemon][$i]Timeout[$i]=5@7;",
		  "groups, trimmed keys and values, KDE markers kept, line numbers");

	CHECK_INT(col_screenlock_parse_dconf_locks(locks, locked), 2, "two keys locked");
	CHECK(locked[0] && locked[2] && !locked[1], "lock-enabled and idle-delay, not lock-delay");

	CHECK_INT(col_screenlock_parse_gvariant_uint("uint32 300", &u), 0, "uint32 300");
	CHECK_INT(u, 300, "value");
	CHECK_INT(col_screenlock_parse_gvariant_uint("600", &u), 0, "bare number");
	CHECK_INT(col_screenlock_parse_gvariant_uint("uint32 -5", &u), -EBADMSG, "negative");
	CHECK_INT(col_screenlock_parse_gvariant_uint("'300'", &u), -EBADMSG, "a string");
	CHECK_INT(col_screenlock_parse_gvariant_bool("true", &b), 0, "true");
	CHECK(b, "is true");
	CHECK_INT(col_screenlock_parse_gvariant_bool("boolean false", &b), 0, "typed false");
	CHECK(!b, "is false");
	CHECK_INT(col_screenlock_parse_gvariant_bool("yes", &b), -EBADMSG, "yes is not GVariant");
}

static void nftables(void)
{
	_cleanup_(freep) char *empty =
		text_dup("#!/usr/sbin/nft -f\n\nflush ruleset\n\n"
			 "table inet filter {\n\tchain input {\n"
			 "\t\ttype filter hook input priority filter;\n\t}\n"
			 "\tchain output {\n\t\ttype filter hook output priority 0;\n"
			 "\t}\n}\n");
	_cleanup_(freep) char *rules =
		text_dup("include \"/etc/nftables.d/*.nft\"\n"
			 "table inet filter {\n"
			 "  set blocked { type ipv4_addr; elements = { 192.0.2.1 } }\n"
			 "  chain input {\n"
			 "    type filter hook input priority 0; policy drop;\n"
			 "    ct state established,related accept # keep sessions\n"
			 "    iif lo accept\n"
			 "    tcp dport { 22, 443 } ct state new \\\n      accept\n"
			 "    meta l4proto { tcp, udp } th dport 53 accept; counter\n"
			 "  }\n}\n");
	_cleanup_(freep) char *broken = text_dup("table inet f {\n chain c {\n  accept\n }\n");
	_cleanup_(freep) char *v4 =
		text_dup("*filter\n:INPUT DROP [0:0]\n-A INPUT -i lo -j ACCEPT\n"
			 "-A INPUT -p tcp --dport 22 -j ACCEPT\nCOMMIT\n");
	struct nft_summary s = {0};

	CHECK_INT(col_firewall_parse_nft_conf(empty, &s), 0, "Debian's default parses");
	CHECK_INT(s.tables, 1, "one table");
	CHECK_INT(s.chains, 2, "two chains");
	CHECK_INT(s.rules, 0, "and no rules: the empty default");
	CHECK_INT(col_firewall_parse_nft_conf(rules, &s), 0, "a real ruleset parses");
	CHECK_INT(s.rules, 5, "five rule statements (anonymous sets inside rules)");
	CHECK_INT(s.drop_policies, 1, "a drop policy");
	CHECK_INT(s.includes, 1, "an include");
	CHECK_INT(col_firewall_parse_nft_conf(broken, &s), -EBADMSG, "unbalanced braces");
	CHECK_INT(col_firewall_count_iptables_rules(v4), 2, "two -A lines");
}

static void ntp_conf(void)
{
	_cleanup_(freep) char *text = text_dup("# Debian chrony.conf\n"
					       "confdir /etc/chrony/conf.d\n"
					       "pool 2.debian.pool.ntp.org iburst\n"
					       "! server commented.example\n"
					       "server ntp.nict.jp iburst # JST\n"
					       "sourcedir /run/chrony-dhcp /etc/chrony/sources.d\n"
					       "server\n"
					       "peer\t10.0.0.2\n");
	json_t *servers = json_array(), *includes = json_array();

	CHECK_INT(col_timesync_parse_ntp_conf(text, "chrony", "/etc/chrony/chrony.conf", servers,
					      includes),
		  1, "one malformed line (server without a name)");
	CHECK_INT(json_array_size(servers), 3, "pool, server and peer");
	CHECK_STR(json_string_value(json_object_get(json_array_get(servers, 1), "name")),
		  "ntp.nict.jp", "server name without options");
	CHECK_STR(json_string_value(json_object_get(json_array_get(servers, 1), "source")),
		  "/etc/chrony/chrony.conf:5", "its source");
	CHECK_INT(json_array_size(includes), 3, "confdir and two sourcedirs");
	json_decref(servers);
	json_decref(includes);
}

static void processes(void)
{
	struct proc_entry v[] = {
		{.pid = 10, .comm = "startd", .exe = (char *) "/usr/bin/startd"},
		{.pid = 11, .comm = "startd", .exe = (char *) "/opt/eset/eea/lib/startd"},
		{.pid = 12, .comm = "sophos_threat_d", .exe = NULL},
		{.pid = 13, .comm = "python3", .exe = (char *) "/usr/sbin/firewalld (deleted)"},
	};
	struct proclist pl = {.v = v, .n = ARRAY_SIZE(v)};
	static const char *const eset[] = {"/opt/eset", NULL};
	const struct proc_entry *e;

	CHECK(proclist_comm_matches("systemd-timesyn", "systemd-timesyncd"), "comm is cut at 15");
	CHECK(!proclist_comm_matches("systemd-times", "systemd-timesyncd"), "but not shorter");
	CHECK(!proclist_comm_matches("clamd2", "clamd"), "exact for short names");
	e = proclist_find(&pl, "startd", eset);
	CHECK(e && e->pid == 11, "a generic name matches only under the product's directory");
	e = proclist_find(&pl, "sophos_threat_detector", NULL);
	CHECK(e && e->pid == 12, "a long name by its 15-byte comm");
	e = proclist_find(&pl, "firewalld", NULL);
	CHECK(e && e->pid == 13, "a renamed process by its exe");
	CHECK(proclist_find(&pl, "clamd", NULL) == NULL, "absent program");
}

int main(void)
{
	mm_setup_jansson();
	clamav_conf();
	dpkg_status();
	keyfiles();
	nftables();
	ntp_conf();
	processes();
	return tap_done();
}
