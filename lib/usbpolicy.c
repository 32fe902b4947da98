/*
 * The device-control rule language: a line-oriented tokenizer, a parser that reports
 * every error with line and column in one pass, a lint for dangerous rules (blocking input
 * devices, unreachable rules, expired exceptions), and the decision procedure.
 *
 * Limits: LIMIT_CONFIG_FILE bytes of text, USB_MAX_RULES rules, USB_MAX_TOKENS tokens on
 * a line, LIMIT_LINE bytes per line. Strings are at most 255 bytes.
 */
#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <fnmatch.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "lib/limits.h"
#include "lib/mm.h"
#include "lib/str.h"
#include "lib/usbpolicy.h"

#define USB_MAX_RULES  4096
#define USB_MAX_TOKENS 64
#define USB_MAX_LIST   32
#define USB_MAX_STRING 255

struct idspec {
	int vendor;  /* -1 for any */
	int product; /* -1 for any */
};

struct ifspec {
	int cls, subclass, protocol; /* -1 for any */
};

struct rule {
	enum usb_verdict verdict;
	unsigned line;
	unsigned classes; /* 0: no class condition */
	bool names_hid;   /* the rule names input devices explicitly */
	struct ifspec *ifs;
	size_t n_ifs;
	struct idspec *ids;
	size_t n_ids;
	char **serials;
	size_t n_serials;
	char **names; /* product globs */
	size_t n_names;
	char **tags;
	size_t n_tags;
	char **users;
	size_t n_users;
	unsigned netctx; /* 0: no network condition */
	int64_t until;   /* 0: none */
	bool bad;        /* had errors: kept only to be freed, never linted */
};

struct netdef {
	char **ssids;
	size_t n_ssids;
	char **gateways;
	size_t n_gateways;
	char **domains;
	size_t n_domains;
	uint32_t *nets, *masks;
	size_t n_nets;
};

struct usb_policy {
	struct rule *rules;
	size_t n_rules;
	enum usb_verdict def;
	bool has_default;
	struct netdef office, home;
};

static const struct {
	const char *name;
	unsigned bit;
} class_names[] = {
	{"mass-storage", USBC_MASS_STORAGE},
	{"mtp", USBC_MTP},
	{"ptp", USBC_PTP},
	{"phone", USBC_MTP | USBC_PTP},
	{"camera", USBC_PTP},
	{"optical", USBC_OPTICAL},
	{"printer", USBC_PRINTER},
	{"wireless", USBC_WIRELESS},
	{"hid", USBC_HID},
	{"audio", USBC_AUDIO},
	{"video", USBC_VIDEO},
	{"smart-card", USBC_SMART_CARD},
	{"hub", USBC_HUB},
	{"network", USBC_NETWORK},
	{"any", ~0u},
};

static const struct {
	const char *name;
	unsigned bit;
} netctx_names[] = {
	{"office", NET_OFFICE},       {"home", NET_HOME},       {"untrusted", NET_UNTRUSTED},
	{"open-wifi", NET_OPEN_WIFI}, {"offline", NET_OFFLINE},
};

const char *usb_verdict_name(enum usb_verdict v)
{
	switch (v) {
	case USB_ALLOW:
		return "allow";
	case USB_READ_ONLY:
		return "read-only";
	default:
		return "block";
	}
}

static void strv_free(char **v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		mm_free(v[i]);
	mm_free(v);
}

static void netdef_done(struct netdef *n)
{
	strv_free(n->ssids, n->n_ssids);
	strv_free(n->gateways, n->n_gateways);
	strv_free(n->domains, n->n_domains);
	mm_free(n->nets);
	mm_free(n->masks);
}

struct usb_policy *usb_policy_free(struct usb_policy *p)
{
	if (!p)
		return NULL;
	for (size_t i = 0; i < p->n_rules; i++) {
		struct rule *r = &p->rules[i];

		mm_free(r->ifs);
		mm_free(r->ids);
		strv_free(r->serials, r->n_serials);
		strv_free(r->names, r->n_names);
		strv_free(r->tags, r->n_tags);
		strv_free(r->users, r->n_users);
	}
	mm_free(p->rules);
	netdef_done(&p->office);
	netdef_done(&p->home);
	mm_free(p);
	return NULL;
}

size_t usb_policy_rule_count(const struct usb_policy *p)
{
	return p->n_rules;
}

/* ---- tokenizer ---- */

struct token {
	char *text;   /* unquoted */
	unsigned col; /* 1-based */
	bool quoted;
};

struct lexed {
	struct token t[USB_MAX_TOKENS];
	size_t n;
};

static void lexed_done(struct lexed *l)
{
	for (size_t i = 0; i < l->n; i++)
		mm_free(l->t[i].text);
	l->n = 0;
}

/* Splits a line into tokens: words, "quoted strings", and ':' / ',' kept inside words.
 * A '#' outside quotes starts a comment. Returns 0, -EINVAL (error in d), -ENOMEM. */
static int lex(const char *file, unsigned lineno, const char *line, struct lexed *l, struct diag *d)
{
	const char *p = line;

	l->n = 0;
	while (*p) {
		char buf[USB_MAX_STRING + 1];
		size_t n = 0;
		unsigned col;
		bool quoted = false;

		while (*p == ' ' || *p == '\t')
			p++;
		if (!*p || *p == '#')
			break;
		col = (unsigned) (p - line) + 1;
		if (l->n >= USB_MAX_TOKENS) {
			diag_error(d, file, lineno, col, "too many words on one line (limit %d)",
				   USB_MAX_TOKENS);
			return -EINVAL;
		}
		if (*p == '"') {
			quoted = true;
			p++;
			while (*p && *p != '"') {
				if (*p == '\\' && (p[1] == '"' || p[1] == '\\'))
					p++;
				if (n >= USB_MAX_STRING) {
					diag_error(d, file, lineno, col,
						   "string longer than %d bytes", USB_MAX_STRING);
					return -EINVAL;
				}
				buf[n++] = *p++;
			}
			if (*p != '"') {
				diag_error(d, file, lineno, col, "unterminated string");
				return -EINVAL;
			}
			p++;
		} else {
			while (*p && *p != ' ' && *p != '\t' && *p != '#' && *p != '"') {
				if (n >= USB_MAX_STRING) {
					diag_error(d, file, lineno, col,
						   "word longer than %d bytes", USB_MAX_STRING);
					return -EINVAL;
				}
				buf[n++] = *p++;
			}
		}
		buf[n] = '\0';
		l->t[l->n].text = mm_strdup(buf);
		if (!l->t[l->n].text)
			return -ENOMEM;
		l->t[l->n].col = col;
		l->t[l->n].quoted = quoted;
		l->n++;
	}
	return 0;
}

/* ---- values ---- */

static int parse_verdict(const char *s, enum usb_verdict *ret)
{
	if (streq(s, "allow"))
		*ret = USB_ALLOW;
	else if (streq(s, "read-only"))
		*ret = USB_READ_ONLY;
	else if (streq(s, "block"))
		*ret = USB_BLOCK;
	else
		return -EINVAL;
	return 0;
}

/* A hex field of n digits or "*". */
static int hexfield(const char *s, size_t len, size_t digits, int *ret)
{
	unsigned v = 0;

	if (len == 1 && s[0] == '*') {
		*ret = -1;
		return 0;
	}
	if (len != digits)
		return -EINVAL;
	for (size_t i = 0; i < len; i++) {
		if (!isxdigit((unsigned char) s[i]))
			return -EINVAL;
		v = v * 16 + (unsigned) (isdigit((unsigned char) s[i])
						 ? s[i] - '0'
						 : (tolower((unsigned char) s[i]) - 'a' + 10));
	}
	*ret = (int) v;
	return 0;
}

/* "YYYY-MM-DD", "YYYY-MM-DDTHH:MM" or "YYYY-MM-DDTHH:MM:SS", with an optional Z: UTC. */
static int parse_time(const char *s, int64_t *ret)
{
	struct tm tm = {0};
	const char *end;
	time_t t;

	end = strptime(s, "%Y-%m-%dT%H:%M:%S", &tm);
	if (!end) {
		tm = (struct tm){0};
		end = strptime(s, "%Y-%m-%dT%H:%M", &tm);
	}
	if (!end) {
		tm = (struct tm){0};
		end = strptime(s, "%Y-%m-%d", &tm);
	}
	if (!end || (*end && !streq(end, "Z")))
		return -EINVAL;
	t = timegm(&tm);
	if (t == (time_t) -1)
		return -EINVAL;
	*ret = (int64_t) t;
	return 0;
}

/* Splits "a,b,c" into a new vector of n strings; empty items are an error. */
static int split_list(const char *s, char ***ret, size_t *ret_n)
{
	_cleanup_(freep) char *copy = mm_strdup(s);
	char **v = NULL, *save = NULL, *tok;
	size_t n = 0;

	if (!copy)
		return -ENOMEM;
	if (!*s || s[0] == ',' || s[strlen(s) - 1] == ',' || strstr(s, ",,"))
		return -EINVAL;
	for (tok = strtok_r(copy, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		char **g;

		if (n >= USB_MAX_LIST) {
			strv_free(v, n);
			return -E2BIG;
		}
		g = mm_reallocarray(v, n + 1, sizeof(*g));
		if (!g || !(g[n] = mm_strdup(tok))) {
			strv_free(g ? g : v, n);
			return -ENOMEM;
		}
		v = g;
		n++;
	}
	*ret = v;
	*ret_n = n;
	return 0;
}

static int push_str(char ***v, size_t *n, const char *s)
{
	char **g;

	if (*n >= USB_MAX_LIST)
		return -E2BIG;
	g = mm_reallocarray(*v, *n + 1, sizeof(*g));
	if (!g)
		return -ENOMEM;
	*v = g;
	g[*n] = mm_strdup(s);
	if (!g[*n])
		return -ENOMEM;
	(*n)++;
	return 0;
}

/* ---- the parser ---- */

struct parser {
	const char *file;
	unsigned line;
	struct diag *d;
	struct usb_policy *p;
};

#define PERR(ps, tok, ...) diag_error((ps)->d, (ps)->file, (ps)->line, (tok)->col, __VA_ARGS__)

/* Parses a rule's condition `key` with its value token; returns 0, -EINVAL (reported),
 * -ENOMEM. */
static int parse_condition(struct parser *ps, struct rule *r, const struct token *key,
			   const struct token *val)
{
	_cleanup_(freep) char **items = NULL;
	size_t n = 0;
	int k;

	if (streq(key->text, "serial") || streq(key->text, "name")) {
		bool serial = streq(key->text, "serial");

		k = serial ? push_str(&r->serials, &r->n_serials, val->text)
			   : push_str(&r->names, &r->n_names, val->text);
		if (k == -E2BIG)
			PERR(ps, val, "too many '%s' conditions in one rule", key->text);
		return k == -E2BIG ? -EINVAL : k;
	}
	k = split_list(val->text, &items, &n);
	if (k == -ENOMEM)
		return k;
	if (k < 0) {
		PERR(ps, val, "'%s' is not a comma-separated list (at most %d items)", val->text,
		     USB_MAX_LIST);
		return -EINVAL;
	}
	for (size_t i = 0; i < n; i++) {
		const char *it = items[i];
		bool found = false;

		if (streq(key->text, "class")) {
			for (size_t c = 0; c < ARRAY_SIZE(class_names); c++)
				if (streq(it, class_names[c].name)) {
					r->classes |= class_names[c].bit;
					found = true;
				}
			if (streq(it, "hid"))
				r->names_hid = true;
			if (!found) {
				PERR(ps, val,
				     "unknown class '%s' (mass-storage, mtp, ptp, phone, camera, "
				     "optical, printer, wireless, hid, audio, video, smart-card, "
				     "hub, "
				     "network, any)",
				     it);
				k = -EINVAL;
			}
		} else if (streq(key->text, "id")) {
			const char *colon = strchr(it, ':');
			struct idspec id, *g;

			if (!colon || hexfield(it, (size_t) (colon - it), 4, &id.vendor) < 0 ||
			    hexfield(colon + 1, strlen(colon + 1), 4, &id.product) < 0) {
				PERR(ps, val,
				     "'%s' is not VENDOR:PRODUCT (4 hex digits each, or *)", it);
				k = -EINVAL;
				continue;
			}
			g = mm_reallocarray(r->ids, r->n_ids + 1, sizeof(*g));
			if (!g)
				k = -ENOMEM;
			else {
				r->ids = g;
				g[r->n_ids++] = id;
			}
		} else if (streq(key->text, "interface")) {
			struct ifspec f, *g;
			const char *a = it, *b = strchr(a, ':'), *c = b ? strchr(b + 1, ':') : NULL;

			if (!b || !c || hexfield(a, (size_t) (b - a), 2, &f.cls) < 0 ||
			    hexfield(b + 1, (size_t) (c - b - 1), 2, &f.subclass) < 0 ||
			    hexfield(c + 1, strlen(c + 1), 2, &f.protocol) < 0) {
				PERR(ps, val,
				     "'%s' is not CLASS:SUBCLASS:PROTOCOL (2 hex digits each, or "
				     "*)",
				     it);
				k = -EINVAL;
				continue;
			}
			if (f.cls == 0x03)
				r->names_hid = true;
			g = mm_reallocarray(r->ifs, r->n_ifs + 1, sizeof(*g));
			if (!g)
				k = -ENOMEM;
			else {
				r->ifs = g;
				g[r->n_ifs++] = f;
			}
		} else if (streq(key->text, "tag") || streq(key->text, "user")) {
			bool tag = streq(key->text, "tag");
			int e = tag ? push_str(&r->tags, &r->n_tags, it)
				    : push_str(&r->users, &r->n_users, it);

			if (e == -ENOMEM)
				k = e;
		} else if (streq(key->text, "network")) {
			for (size_t c = 0; c < ARRAY_SIZE(netctx_names); c++)
				if (streq(it, netctx_names[c].name)) {
					r->netctx |= netctx_names[c].bit;
					found = true;
				}
			if (!found) {
				PERR(ps, val,
				     "unknown network '%s' (office, home, untrusted, open-wifi, "
				     "offline)",
				     it);
				k = -EINVAL;
			}
		} else if (streq(key->text, "until")) {
			if (n > 1 || parse_time(it, &r->until) < 0) {
				PERR(ps, val,
				     "'%s' is not a time (YYYY-MM-DD or YYYY-MM-DDTHH:MMZ, UTC)",
				     it);
				k = -EINVAL;
			}
		} else {
			PERR(ps, key,
			     "unknown condition '%s' (class, interface, id, serial, name, tag, "
			     "user, "
			     "network, until)",
			     key->text);
			strv_free(TAKE_PTR(items), n);
			return -EINVAL;
		}
		if (k == -ENOMEM)
			break;
	}
	strv_free(TAKE_PTR(items), n);
	return k < 0 ? k : 0;
}

static int parse_rule(struct parser *ps, const struct lexed *l)
{
	struct usb_policy *p = ps->p;
	struct rule r = {.line = ps->line}, *g;
	int result = 0;

	if (p->n_rules >= USB_MAX_RULES) {
		PERR(ps, &l->t[0], "too many rules (limit %d)", USB_MAX_RULES);
		return -EINVAL;
	}
	(void) parse_verdict(l->t[0].text, &r.verdict);
	for (size_t i = 1; i < l->n; i += 2) {
		int k;

		if (i + 1 >= l->n) {
			PERR(ps, &l->t[i], "condition '%s' needs a value", l->t[i].text);
			result = -EINVAL;
			break;
		}
		k = parse_condition(ps, &r, &l->t[i], &l->t[i + 1]);
		if (k == -ENOMEM) {
			result = k;
			break;
		}
		if (k < 0)
			result = -EINVAL;
	}
	g = mm_reallocarray(p->rules, p->n_rules + 1, sizeof(*g));
	if (!g) {
		result = -ENOMEM;
	} else {
		p->rules = g;
		r.bad = result < 0;
		p->rules[p->n_rules++] = r; /* kept even when bad, so it is freed once */
		return result;
	}
	mm_free(r.ifs);
	mm_free(r.ids);
	strv_free(r.serials, r.n_serials);
	strv_free(r.names, r.n_names);
	strv_free(r.tags, r.n_tags);
	strv_free(r.users, r.n_users);
	return result;
}

static int parse_cidr(const char *s, uint32_t *ret_net, uint32_t *ret_mask)
{
	char addr[64];
	const char *slash = strchr(s, '/');
	unsigned bits = 32;
	struct in_addr a;
	size_t n = slash ? (size_t) (slash - s) : strlen(s);

	if (n >= sizeof(addr))
		return -EINVAL;
	memcpy(addr, s, n);
	addr[n] = '\0';
	if (inet_pton(AF_INET, addr, &a) != 1)
		return -EINVAL;
	if (slash && (str_to_uint(slash + 1, 10, &bits) < 0 || bits > 32))
		return -EINVAL;
	*ret_mask = bits == 0 ? 0 : ~0u << (32 - bits);
	*ret_net = ntohl(a.s_addr) & *ret_mask;
	return 0;
}

/* "network office: ssid "Corp", subnet 10.0.0.0/8, gateway 10.0.0.1, domain corp.example" */
static int parse_network(struct parser *ps, const struct lexed *l)
{
	struct netdef *nd;
	size_t i = 2;
	int result = 0;

	if (l->n < 2 || (!streq(l->t[1].text, "office:") && !streq(l->t[1].text, "home:"))) {
		PERR(ps, l->n > 1 ? &l->t[1] : &l->t[0],
		     "expected 'network office:' or 'network home:' and their conditions");
		return -EINVAL;
	}
	nd = streq(l->t[1].text, "office:") ? &ps->p->office : &ps->p->home;
	if (l->n < 4) {
		PERR(ps, &l->t[1],
		     "a network needs at least one condition: ssid, subnet, "
		     "gateway or domain");
		return -EINVAL;
	}
	while (i < l->n) {
		const struct token *key = &l->t[i], *val = i + 1 < l->n ? &l->t[i + 1] : NULL;
		char value[USB_MAX_STRING + 1];
		size_t vlen;
		int k = 0;

		if (streq(key->text, ",")) {
			i++;
			continue;
		}
		if (!val) {
			PERR(ps, key, "'%s' needs a value", key->text);
			return -EINVAL;
		}
		vlen = strlen(val->text);
		memcpy(value, val->text, vlen + 1);
		if (!val->quoted && vlen && value[vlen - 1] == ',')
			value[--vlen] = '\0';
		if (streq(key->text, "ssid"))
			k = push_str(&nd->ssids, &nd->n_ssids, value);
		else if (streq(key->text, "gateway")) {
			struct in_addr a;
			struct in6_addr a6;

			if (inet_pton(AF_INET, value, &a) != 1 &&
			    inet_pton(AF_INET6, value, &a6) != 1) {
				PERR(ps, val, "'%s' is not an IP address", value);
				result = -EINVAL;
			} else {
				k = push_str(&nd->gateways, &nd->n_gateways, value);
			}
		} else if (streq(key->text, "domain"))
			k = push_str(&nd->domains, &nd->n_domains, value);
		else if (streq(key->text, "subnet")) {
			uint32_t net, mask, *g1, *g2;

			if (parse_cidr(value, &net, &mask) < 0) {
				PERR(ps, val, "'%s' is not an IPv4 subnet (10.0.0.0/8)", value);
				result = -EINVAL;
			} else if (nd->n_nets >= USB_MAX_LIST) {
				k = -E2BIG;
			} else {
				g1 = mm_reallocarray(nd->nets, nd->n_nets + 1, sizeof(*g1));
				if (g1)
					nd->nets = g1;
				g2 = g1 ? mm_reallocarray(nd->masks, nd->n_nets + 1, sizeof(*g2))
					: NULL;
				if (!g2)
					return -ENOMEM;
				nd->masks = g2;
				nd->nets[nd->n_nets] = net;
				nd->masks[nd->n_nets++] = mask;
			}
		} else {
			PERR(ps, key,
			     "unknown network condition '%s' (ssid, subnet, gateway, domain)",
			     key->text);
			result = -EINVAL;
		}
		if (k == -ENOMEM)
			return k;
		if (k == -E2BIG) {
			PERR(ps, key, "too many '%s' values (limit %d)", key->text, USB_MAX_LIST);
			result = -EINVAL;
		}
		i += 2;
	}
	return result;
}

static bool rule_is_unconditional(const struct rule *r)
{
	return (!r->classes || r->classes == ~0u) && !r->n_ifs && !r->n_ids && !r->n_serials &&
	       !r->n_names && !r->n_tags && !r->n_users && !r->netctx && !r->until;
}

static void lint(struct parser *ps, int64_t now)
{
	const struct usb_policy *p = ps->p;
	bool unreachable = false;

	for (size_t i = 0; i < p->n_rules; i++) {
		const struct rule *r = &p->rules[i];

		if (r->bad)
			continue;
		if (unreachable)
			diag_warning(ps->d, ps->file, r->line, 1,
				     "this rule is never reached: an earlier rule matches every "
				     "device");
		if (r->verdict == USB_BLOCK && (r->names_hid || r->classes == ~0u))
			diag_warning(ps->d, ps->file, r->line, 1,
				     "this rule blocks keyboards and mice: users can be locked out "
				     "of their own machines");
		if (r->verdict == USB_READ_ONLY && r->classes &&
		    !(r->classes & (USBC_MASS_STORAGE | USBC_OPTICAL | USBC_MTP | USBC_PTP)))
			diag_warning(ps->d, ps->file, r->line, 1,
				     "read-only only restricts storage; for these classes it means "
				     "allow");
		if (r->until && r->until < now)
			diag_warning(ps->d, ps->file, r->line, 1,
				     "this exception has expired and never matches");
		if (rule_is_unconditional(r))
			unreachable = true;
	}
}

int usb_policy_parse(const char *file, const char *text, struct diag *d, struct usb_policy **ret)
{
	_cleanup_(usb_policy_freep) struct usb_policy *p = mm_calloc(1, sizeof(*p));
	_cleanup_(freep) char *copy = mm_strdup(text);
	struct parser ps = {.file = file, .d = d};
	struct lexed l = {.n = 0};
	char *cursor, *line;
	size_t errors_before = d->n_errors;
	int r = 0;

	if (!p || !copy)
		return -ENOMEM;
	if (strlen(text) > LIMIT_CONFIG_FILE) {
		diag_error(d, file, 0, 0, "policy larger than %zu bytes", LIMIT_CONFIG_FILE);
		return -E2BIG;
	}
	ps.p = p;
	p->def = USB_BLOCK;
	cursor = copy;
	while ((line = str_next_line(&cursor))) {
		enum usb_verdict v;

		ps.line++;
		if (strlen(line) > LIMIT_LINE) {
			diag_error(d, file, ps.line, 1, "line longer than %zu bytes", LIMIT_LINE);
			continue;
		}
		for (char *c = line; *c; c++)
			if (*c == '\t' || *c == '\r')
				*c = ' ';
		if (!str_is_clean_utf8(line, strlen(line))) {
			diag_error(d, file, ps.line, 1, "not valid UTF-8 text");
			continue;
		}
		r = lex(file, ps.line, line, &l, d);
		if (r == -ENOMEM)
			goto out;
		if (r < 0 || l.n == 0) {
			lexed_done(&l);
			r = 0;
			continue;
		}
		if (streq(l.t[0].text, "default")) {
			if (l.n != 2 || parse_verdict(l.t[1].text, &v) < 0)
				PERR(&ps, l.n > 1 ? &l.t[1] : &l.t[0],
				     "expected 'default allow', 'default read-only' or "
				     "'default block'");
			else if (p->has_default)
				PERR(&ps, &l.t[0], "the default is given twice");
			else {
				p->def = v;
				p->has_default = true;
			}
		} else if (streq(l.t[0].text, "network")) {
			r = parse_network(&ps, &l);
		} else if (parse_verdict(l.t[0].text, &v) == 0) {
			r = parse_rule(&ps, &l);
		} else {
			PERR(&ps, &l.t[0],
			     "expected a verdict (allow, read-only, block), 'default' or "
			     "'network', not '%s'",
			     l.t[0].text);
		}
		lexed_done(&l);
		if (r == -ENOMEM)
			goto out;
		r = 0;
	}
	if (!p->has_default)
		diag_error(d, file, 0, 0,
			   "the policy must say its default: add 'default block' (or allow, "
			   "read-only)");
	lint(&ps, (int64_t) time(NULL));
out:
	lexed_done(&l);
	if (r < 0)
		return r;
	if (d->oom)
		return -ENOMEM;
	if (d->n_errors > errors_before)
		return -EINVAL;
	*ret = TAKE_PTR(p);
	return 0;
}

/* ---- deciding ---- */

static unsigned interface_classes(const struct usb_interface *i)
{
	bool mtp_name = i->name && strstr(i->name, "MTP");

	if (mtp_name)
		return USBC_MTP;
	switch (i->cls) {
	case 0x01:
		return USBC_AUDIO;
	case 0x02:
	case 0x0a:
		return USBC_NETWORK;
	case 0x03:
		return USBC_HID;
	case 0x06:
		return USBC_PTP;
	case 0x07:
		return USBC_PRINTER;
	case 0x08:
		/* subclass 02 (MMC-5, ATAPI) is how CD/DVD drives present themselves */
		return USBC_MASS_STORAGE | (i->subclass == 0x02 ? USBC_OPTICAL : 0);
	case 0x09:
		return USBC_HUB;
	case 0x0b:
		return USBC_SMART_CARD;
	case 0x0e:
		return USBC_VIDEO;
	case 0xe0:
		return USBC_WIRELESS;
	default:
		return 0;
	}
}

unsigned usb_policy_device_classes(const struct usb_device_facts *dev)
{
	unsigned c = 0;

	for (size_t i = 0; i < dev->n_interfaces; i++)
		c |= interface_classes(&dev->interfaces[i]);
	if (dev->n_interfaces == 0 && dev->device_class) {
		struct usb_interface pseudo = {.cls = dev->device_class};

		c |= interface_classes(&pseudo);
	}
	if (dev->optical)
		c |= USBC_OPTICAL | USBC_MASS_STORAGE;
	return c;
}

static bool any_str(char *const *v, size_t n, const char *s, bool glob)
{
	if (n == 0)
		return true;
	if (!s)
		return false;
	for (size_t i = 0; i < n; i++)
		if (glob ? fnmatch(v[i], s, 0) == 0 : streq(v[i], s))
			return true;
	return false;
}

static bool has_tag(const struct usb_device_facts *dev, char *const *tags, size_t n)
{
	if (n == 0)
		return true;
	for (size_t i = 0; i < n; i++)
		for (const char *const *t = dev->tags; t && *t; t++)
			if (streq(*t, tags[i]))
				return true;
	return false;
}

static bool field_ok(int want, unsigned have)
{
	return want < 0 || (unsigned) want == have;
}

static bool rule_matches(const struct rule *r, const struct usb_device_facts *dev, unsigned classes)
{
	if (r->classes && !(r->classes & classes))
		return false;
	if (r->n_ifs) {
		bool hit = false;

		for (size_t k = 0; k < r->n_ifs && !hit; k++)
			for (size_t i = 0; i < dev->n_interfaces && !hit; i++)
				hit = field_ok(r->ifs[k].cls, dev->interfaces[i].cls) &&
				      field_ok(r->ifs[k].subclass, dev->interfaces[i].subclass) &&
				      field_ok(r->ifs[k].protocol, dev->interfaces[i].protocol);
		if (!hit)
			return false;
	}
	if (r->n_ids) {
		bool hit = false;

		for (size_t k = 0; k < r->n_ids && !hit; k++)
			hit = field_ok(r->ids[k].vendor, dev->vendor_id) &&
			      field_ok(r->ids[k].product, dev->product_id);
		if (!hit)
			return false;
	}
	if (!any_str(r->serials, r->n_serials, dev->serial, false) ||
	    !any_str(r->names, r->n_names, dev->product, true) ||
	    !any_str(r->users, r->n_users, dev->user, false) || !has_tag(dev, r->tags, r->n_tags))
		return false;
	if (r->netctx && !(r->netctx & dev->netctx))
		return false;
	if (r->until && dev->now >= r->until)
		return false;
	return true;
}

void usb_policy_decide(const struct usb_policy *p, const struct usb_device_facts *dev,
		       struct usb_decision *ret)
{
	unsigned classes = usb_policy_device_classes(dev);

	for (size_t i = 0; i < p->n_rules; i++) {
		const struct rule *r = &p->rules[i];

		if (!rule_matches(r, dev, classes))
			continue;
		/* input devices are protected from rules that do not name them */
		if ((classes & USBC_HID) && r->verdict != USB_ALLOW && !r->names_hid)
			continue;
		*ret = (struct usb_decision){r->verdict, r->line, "rule"};
		return;
	}
	if ((classes & USBC_HID) && p->def != USB_ALLOW) {
		*ret = (struct usb_decision){USB_ALLOW, 0, "input device protected"};
		return;
	}
	*ret = (struct usb_decision){p->def, 0, "default"};
}

/* Whether the input-device protection covers this interface (keyboards, mice). */
static bool input_side(const struct usb_interface *i)
{
	unsigned c = interface_classes(i);

	return c == USBC_HID;
}

void usb_policy_decide_parts(const struct usb_policy *p, const struct usb_device_facts *dev,
			     struct usb_part_decision *ret)
{
	struct usb_interface rest_if[LIMIT_USB_INTERFACES];
	struct usb_device_facts rest = *dev;
	struct usb_decision whole, other;
	size_t n_input = 0;

	usb_policy_decide(p, dev, &whole);
	*ret = (struct usb_part_decision){.device = whole, .rest = whole};
	if (!(usb_policy_device_classes(dev) & USBC_HID) || whole.verdict == USB_BLOCK)
		return; /* no input to protect, or a rule that names input devices blocked it */
	rest.n_interfaces = 0;
	rest.interfaces = rest_if;
	for (size_t i = 0; i < dev->n_interfaces; i++) {
		if (input_side(&dev->interfaces[i]))
			n_input++;
		else if (rest.n_interfaces < ARRAY_SIZE(rest_if))
			rest_if[rest.n_interfaces++] = dev->interfaces[i];
	}
	if (n_input == 0 || (rest.n_interfaces == 0 && !dev->optical))
		return; /* all input (or input only by device class): nothing to split */
	rest.device_class = 0;
	usb_policy_decide(p, &rest, &other);
	if (other.verdict == whole.verdict)
		return;
	ret->device = (struct usb_decision){USB_ALLOW, whole.rule_line,
					    whole.verdict == USB_ALLOW ? whole.reason
								       : "input device protected"};
	ret->rest = other;
	ret->split = true;
}

int64_t usb_policy_next_expiry(const struct usb_policy *p, int64_t now)
{
	int64_t next = 0;

	for (size_t i = 0; i < p->n_rules; i++) {
		int64_t u = p->rules[i].until;

		if (u > now && (next == 0 || u < next))
			next = u;
	}
	return next;
}

static bool netdef_matches(const struct netdef *nd, const struct usb_network_facts *n)
{
	for (size_t i = 0; i < nd->n_ssids; i++)
		for (const char *const *s = n->ssids; s && *s; s++)
			if (streq(*s, nd->ssids[i]))
				return true;
	for (size_t i = 0; i < nd->n_gateways; i++)
		for (const char *const *s = n->gateways; s && *s; s++)
			if (streq(*s, nd->gateways[i]))
				return true;
	for (size_t i = 0; i < nd->n_domains; i++)
		for (const char *const *s = n->dns_domains; s && *s; s++)
			if (streq(*s, nd->domains[i]))
				return true;
	for (size_t i = 0; i < nd->n_nets; i++)
		for (size_t k = 0; k < n->n_ipv4; k++)
			if ((n->ipv4[k] & nd->masks[i]) == nd->nets[i])
				return true;
	return false;
}

unsigned usb_policy_network_context(const struct usb_policy *p, const struct usb_network_facts *n)
{
	unsigned ctx = 0;

	if (!n->online)
		return NET_OFFLINE;
	if (netdef_matches(&p->office, n))
		ctx |= NET_OFFICE;
	else if (netdef_matches(&p->home, n))
		ctx |= NET_HOME;
	else
		ctx |= NET_UNTRUSTED;
	if (n->open_wifi)
		ctx |= NET_OPEN_WIFI;
	return ctx;
}

/* ---- what the server needs to know of a policy ---- */

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(const char *const *) a, *(const char *const *) b);
}

int usb_policy_tags(const struct usb_policy *p, const char ***ret)
{
	const char **v;
	size_t total = 0, n = 0;

	for (size_t i = 0; i < p->n_rules; i++)
		total += p->rules[i].n_tags;
	v = mm_calloc(total + 1, sizeof(*v));
	if (!v)
		return -ENOMEM;
	for (size_t i = 0; i < p->n_rules; i++)
		for (size_t k = 0; k < p->rules[i].n_tags; k++)
			v[n++] = p->rules[i].tags[k];
	/* sorted, then duplicates dropped: linear in what the text can hold, never quadratic */
	qsort(v, n, sizeof(*v), cmp_str);
	total = n;
	n = 0;
	for (size_t i = 0; i < total; i++)
		if (n == 0 || !streq(v[n - 1], v[i]))
			v[n++] = v[i];
	v[n] = NULL;
	*ret = v;
	return 0;
}
