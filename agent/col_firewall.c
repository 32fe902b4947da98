/*
 * Firewall facts for the security section, from files only (no iptables/nft commands):
 *
 *  - the kernel's loaded iptables tables (/proc/net/ip_tables_names, ip6_tables_names):
 *    a loaded table says a ruleset was touched, not that it filters anything, so it is
 *    reported but does not count as a configured firewall;
 *  - nftables: the service enabled at boot and whether /etc/nftables.conf holds rules
 *    beyond Debian's empty default (three base chains with no statements);
 *  - ufw: ENABLED=yes in /etc/ufw/ufw.conf;
 *  - firewalld: its unit enabled, or the daemon running;
 *  - netfilter-persistent: its unit enabled and rules in /etc/iptables/rules.v4/v6.
 *
 * `firewall_configured` is true when any framework is both switched on and has, or is
 * (ufw, firewalld), a ruleset; `evidence` lists, in words, what made it true.
 *
 * The nftables.conf reader is a counter, not an nft parser: it follows blocks (table,
 * chain, set …) by their braces and counts the statements inside chains, except the base
 * chain's "type … hook …" line; a "policy drop" counts as filtering too. Anonymous sets
 * ("tcp dport { 22, 80 } accept") are part of the rule they sit in.
 */
#include <errno.h>
#include <stdarg.h>
#include <string.h>
#include <strings.h>

#include "agent/agent.h"
#include "lib/buf.h"
#include "lib/jsonw.h"
#include "lib/limits.h"
#include "lib/mm.h"
#include "lib/str.h"

#define NFT_CONF  "/etc/nftables.conf"
#define UFW_CONF  "/etc/ufw/ufw.conf"
#define NFT_DEPTH 32

enum block {
	BLOCK_TOP,
	BLOCK_TABLE,
	BLOCK_CHAIN,
	BLOCK_ANON, /* an anonymous set inside a rule */
	BLOCK_OTHER,
};

/* Accounts for one statement (trimmed) ending in `block`. */
static void nft_statement(struct nft_summary *sum, enum block block, const char *stmt,
			  bool continuing)
{
	const char *v;

	if (!*stmt)
		return;
	if (block == BLOCK_TOP && str_startswith(stmt, "include"))
		sum->includes++;
	if (block != BLOCK_CHAIN || continuing)
		return;
	if (str_startswith(stmt, "type "))
		return; /* the base chain's hook declaration */
	if ((v = str_startswith(stmt, "policy "))) {
		v += strspn(v, " \t");
		if (str_startswith(v, "drop") || str_startswith(v, "reject"))
			sum->drop_policies++;
		return;
	}
	if (str_startswith(stmt, "comment ") || str_startswith(stmt, "devices "))
		return;
	sum->rules++;
}

static enum block opened_block(enum block in, const char *stmt, struct nft_summary *sum)
{
	if (in == BLOCK_TOP && str_startswith(stmt, "table")) {
		sum->tables++;
		return BLOCK_TABLE;
	}
	if (in == BLOCK_TABLE && str_startswith(stmt, "chain")) {
		sum->chains++;
		return BLOCK_CHAIN;
	}
	if (in == BLOCK_CHAIN || in == BLOCK_ANON)
		return BLOCK_ANON;
	return BLOCK_OTHER;
}

int col_firewall_parse_nft_conf(char *text, struct nft_summary *ret)
{
	struct nft_summary sum = {0};
	enum block stack[NFT_DEPTH] = {BLOCK_TOP};
	unsigned depth = 0;
	bool continuing = false, in_string = false;
	char *stmt = text;

	for (char *p = text;; p++) {
		char c = *p;

		if (in_string) {
			if (c == '"')
				in_string = false;
			if (c != '\0' && c != '\n')
				continue;
			in_string = false; /* an unterminated string ends with its line */
		}
		if (c == '"') {
			in_string = true;
			continue;
		}
		if (c == '#') {
			*p = '\0';
			nft_statement(&sum, stack[depth], str_strip(stmt), continuing);
			p += 1 + strcspn(p + 1, "\n");
			if (!*p)
				break;
			stmt = p + 1;
			continuing = false;
			continue;
		}
		if (c == '\\' && p[1] == '\n') {
			p[0] = p[1] = ' '; /* a continued line */
			continue;
		}
		if (c != '\0' && c != '\n' && c != ';' && c != '{' && c != '}')
			continue;
		*p = '\0';
		str_strip(stmt);
		if (c == '{') {
			enum block b = opened_block(stack[depth], stmt, &sum);

			if (b == BLOCK_ANON && stack[depth] == BLOCK_CHAIN && !continuing)
				sum.rules++;
			if (depth + 1 >= NFT_DEPTH)
				return -EBADMSG;
			stack[++depth] = b;
		} else {
			nft_statement(&sum, stack[depth], stmt, continuing);
			if (c == '}') {
				if (depth == 0)
					return -EBADMSG;
				/* the rest of a rule after its anonymous set is the same rule */
				continuing = stack[depth] == BLOCK_ANON;
				depth--;
			} else {
				continuing = false;
			}
		}
		if (c == '\0')
			break;
		stmt = p + 1;
	}
	if (depth != 0)
		return -EBADMSG;
	*ret = sum;
	return 0;
}

unsigned col_firewall_count_iptables_rules(char *text)
{
	char *cursor = text, *line;
	unsigned n = 0;

	while ((line = str_next_line(&cursor)))
		if (str_startswith(line, "-A "))
			n++;
	return n;
}

static _printf_(2, 3) int add_evidence(json_t *out, const char *fmt, ...)
{
	struct buf b;
	va_list ap;
	int r;

	buf_init(&b, (size_t) LIMIT_PATH * 2);
	va_start(ap, fmt);
	r = buf_vaddf(&b, fmt, ap);
	va_end(ap);
	if (r == 0)
		r = jsonw_append(json_object_get(out, "evidence"), col_security_text(buf_str(&b)));
	buf_done(&b);
	return r == -E2BIG ? 0 : r;
}

static int read_table_names(struct sec_ctx *s, const char *path, json_t *out, const char *field)
{
	_cleanup_(freep) char *text = NULL;
	json_t *list = json_array();
	char *cursor, *line;
	int r;

	if (jsonw_set(out, field, list) < 0)
		return -ENOMEM;
	r = col_read_file(s->col, path, LIMIT_SMALL_FILE, &text, NULL);
	if (r == -ENOMEM)
		return r;
	if (r == -ENOENT)
		return 0; /* the module is not loaded: no table */
	if (r < 0)
		return col_error(s->section, path, r, NULL);
	cursor = text;
	while ((line = str_next_line(&cursor))) {
		str_strip(line);
		if (*line && str_is_clean_utf8(line, strlen(line)) &&
		    jsonw_append(list, json_string(line)) < 0)
			return -ENOMEM;
	}
	return 0;
}

static int collect_nftables(struct sec_ctx *s, json_t *out, bool *configured)
{
	_cleanup_(freep) char *text = NULL;
	struct nft_summary sum = {0};
	bool enabled, masked, parsed = false;
	bool installed =
		s->pkgs[SEC_PKG_NFTABLES].installed || col_security_exists(s->col, "/usr/sbin/nft");
	json_t *nft;
	int r;

	r = col_security_unit(s, "nftables.service", &enabled, &masked);
	if (r < 0)
		return r;
	r = col_read_file(s->col, NFT_CONF, LIMIT_CONFIG_FILE, &text, NULL);
	if (r == -ENOMEM)
		return r;
	if (r < 0 && r != -ENOENT && col_error(s->section, NFT_CONF, r, NULL) < 0)
		return -ENOMEM;
	if (r == 0) {
		if (col_firewall_parse_nft_conf(text, &sum) == 0)
			parsed = true;
		else if (col_error(s->section, NFT_CONF, -EBADMSG, "unbalanced braces") < 0)
			return -ENOMEM;
	}
	nft = json_pack("{s:b, s:b, s:b}", "installed", installed, "enabled", enabled, "masked",
			masked);
	if (jsonw_set(out, "nftables", nft) < 0)
		return -ENOMEM;
	if (parsed) {
		if (jsonw_set(nft, "config",
			      json_pack("{s:s, s:i, s:i, s:i, s:i, s:i}", "source", NFT_CONF,
					"tables", sum.tables, "chains", sum.chains, "rules",
					sum.rules, "drop_policies", sum.drop_policies, "includes",
					sum.includes)) < 0)
			return -ENOMEM;
	} else if (jsonw_set(nft, "config", json_null()) < 0) {
		return -ENOMEM;
	}
	if (enabled && !masked && parsed && (sum.rules > 0 || sum.drop_policies > 0)) {
		*configured = true;
		return add_evidence(out, "nftables: service enabled, %s has rules", NFT_CONF);
	}
	return 0;
}

struct ufw_state {
	bool enabled;
	unsigned line;
};

static int ufw_key(const char *group, const char *key, const char *value, unsigned line,
		   void *userdata)
{
	struct ufw_state *st = userdata;
	size_t n = strlen(value);

	if (*group || !streq(key, "ENABLED"))
		return 0;
	/* shell syntax: ENABLED=yes or ENABLED="yes"; the last assignment wins */
	if (n >= 2 && (value[0] == '"' || value[0] == '\'') && value[n - 1] == value[0])
		st->enabled = n == 5 && !strncasecmp(value + 1, "yes", 3);
	else
		st->enabled = !strcasecmp(value, "yes");
	st->line = line;
	return 0;
}

static int collect_ufw(struct sec_ctx *s, json_t *out, bool *configured)
{
	_cleanup_(freep) char *text = NULL, *src = NULL;
	struct ufw_state st = {0};
	bool installed =
		s->pkgs[SEC_PKG_UFW].installed || col_security_exists(s->col, "/usr/sbin/ufw");
	int r = col_read_file(s->col, UFW_CONF, LIMIT_CONFIG_FILE, &text, NULL);

	if (r == -ENOMEM)
		return r;
	if (r < 0 && (r != -ENOENT || installed) && col_error(s->section, UFW_CONF, r, NULL) < 0)
		return -ENOMEM;
	if (r == 0) {
		r = keyfile_parse(text, ufw_key, &st);
		if (r < 0)
			return r;
	}
	if (st.line) {
		src = col_security_source(UFW_CONF, st.line);
		if (!src)
			return -ENOMEM;
	}
	if (jsonw_set(out, "ufw",
		      json_pack("{s:b, s:b, s:s?}", "installed", installed, "enabled", st.enabled,
				"source", src)) < 0)
		return -ENOMEM;
	if (!st.enabled)
		return 0;
	*configured = true;
	return add_evidence(out, "ufw: ENABLED=yes in %s", src);
}

static int collect_firewalld(struct sec_ctx *s, json_t *out, bool *configured)
{
	const struct proc_entry *p = col_security_proc(s, "firewalld", NULL);
	bool installed = s->pkgs[SEC_PKG_FIREWALLD].installed ||
			 col_security_exists(s->col, "/usr/sbin/firewalld");
	bool enabled, masked;
	json_t *fw;
	int r = col_security_unit(s, "firewalld.service", &enabled, &masked);

	if (r < 0)
		return r;
	fw = json_pack("{s:b, s:b, s:b}", "installed", installed, "enabled", enabled, "masked",
		       masked);
	if (jsonw_set(out, "firewalld", fw) < 0 ||
	    col_security_set_running(s, fw, "running", "pid", p) < 0)
		return -ENOMEM;
	if (p) {
		*configured = true;
		return add_evidence(out, "firewalld: running (pid %d)", p->pid);
	}
	if (enabled && !masked) {
		*configured = true;
		return add_evidence(out, "firewalld: enabled at boot");
	}
	return 0;
}

static int count_rules_file(struct sec_ctx *s, const char *path, unsigned *ret)
{
	_cleanup_(freep) char *text = NULL;
	int r = col_read_file(s->col, path, LIMIT_CONFIG_FILE, &text, NULL);

	*ret = 0;
	if (r == -ENOMEM)
		return r;
	if (r == -ENOENT)
		return 0;
	if (r < 0)
		return col_error(s->section, path, r, NULL);
	*ret = col_firewall_count_iptables_rules(text);
	return 0;
}

static int collect_persistent(struct sec_ctx *s, json_t *out, bool *configured)
{
	bool installed = s->pkgs[SEC_PKG_NETFILTER_PERSISTENT].installed;
	bool enabled, masked;
	unsigned v4, v6;
	int r = col_security_unit(s, "netfilter-persistent.service", &enabled, &masked);

	if (r >= 0)
		r = count_rules_file(s, "/etc/iptables/rules.v4", &v4);
	if (r >= 0)
		r = count_rules_file(s, "/etc/iptables/rules.v6", &v6);
	if (r < 0)
		return r;
	if (jsonw_set(out, "netfilter_persistent",
		      json_pack("{s:b, s:b, s:b, s:i, s:i}", "installed", installed, "enabled",
				enabled, "masked", masked, "rules_v4", v4, "rules_v6", v6)) < 0)
		return -ENOMEM;
	if (enabled && !masked && v4 + v6 > 0) {
		*configured = true;
		return add_evidence(out, "netfilter-persistent: enabled, %s has rules",
				    v4 ? "/etc/iptables/rules.v4" : "/etc/iptables/rules.v6");
	}
	return 0;
}

int col_firewall_collect(struct sec_ctx *s, json_t *out)
{
	bool configured = false;
	int r;

	if (jsonw_set(out, "evidence", json_array()) < 0)
		return -ENOMEM;
	r = read_table_names(s, "/proc/net/ip_tables_names", out, "iptables_tables");
	if (r >= 0)
		r = read_table_names(s, "/proc/net/ip6_tables_names", out, "ip6tables_tables");
	if (r >= 0)
		r = collect_nftables(s, out, &configured);
	if (r >= 0)
		r = collect_ufw(s, out, &configured);
	if (r >= 0)
		r = collect_firewalld(s, out, &configured);
	if (r >= 0)
		r = collect_persistent(s, out, &configured);
	if (r >= 0)
		r = jsonw_set(out, "firewall_configured", json_boolean(configured));
	return r < 0 ? r : 0;
}
