/*
 * The IP layer of the network section: decoding the addresses /proc/net prints, parsing
 * the route tables, fib_trie and if_inet6, and placing IPv4 addresses on interfaces.
 *
 * IPv6 addresses come from /proc/net/if_inet6, one line per address with its interface.
 * IPv4 addresses have no such file: they are the "/32 host LOCAL" leaves of
 * /proc/net/fib_trie, which does not say which interface holds them, so each is assigned
 * through the routes the kernel adds with an address: the prefix route in the main table
 * (/proc/net/route) and, on a loopback device, the "LOCAL" prefix route in the local table
 * (fib_trie). A prefix route is believed only when the network's broadcast address is a
 * BROADCAST leaf of fib_trie too (or the prefix is /31 or /32), because the kernel adds
 * both together and a route added by hand has no broadcast leaf.
 * col_network_ip_assign_ipv4() has the exact rules; docs/inventory.md lists what they
 * cannot see (addresses on interfaces that are down, noprefixroute addresses without a
 * route, two interfaces on one subnet). Addresses it cannot place are returned as
 * unassigned, never dropped or guessed.
 *
 * The /proc/net tables print IPv4 addresses and the words of IPv6 addresses as host-order
 * 32-bit integers in hex (little-endian machines show 127.0.0.1 as 0100007F), while
 * if_inet6 and ipv6_route print IPv6 addresses as plain bytes: two decoders below.
 *
 * Every list is capped at LIMIT_NET_ITEMS entries; parsers return the number of malformed
 * lines they skipped, which the collector reports per file.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/socket.h>

#include "agent/agent.h"
#include "lib/jsonw.h"
#include "lib/limits.h"
#include "lib/mm.h"
#include "lib/str.h"

/* Route flags (linux/route.h, linux/ipv6_route.h), as /proc prints them. */
#define RTF_UP_        0x0001u
#define RTF_GATEWAY_   0x0002u
#define RTF_REJECT_    0x0200u
#define RTF_ANYCAST_   0x00100000u
#define RTF_CACHE_     0x01000000u
#define RTF_LOCAL_     0x80000000u
#define IFNAME_MAX     15u /* IFNAMSIZ - 1 */
#define MAX_CANDIDATES 8u

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* n (1..8) hex digits at s → value; -EBADMSG on any other character. */
static int hex_u32(const char *s, size_t n, uint32_t *ret)
{
	uint32_t v = 0;

	if (n == 0 || n > 8)
		return -EBADMSG;
	for (size_t i = 0; i < n; i++) {
		int d = hexval(s[i]);

		if (d < 0)
			return -EBADMSG;
		v = v << 4 | (uint32_t) d;
	}
	*ret = v;
	return 0;
}

/* A whole string of 1..8 hex digits. */
static int hex_field(const char *s, uint32_t *ret)
{
	return hex_u32(s, strlen(s), ret);
}

/*
 * Decodes an address as /proc/net/{tcp,udp,route}* print it: IPv4 (family AF_INET, 8 hex
 * digits) as one host-order 32-bit integer, IPv6 (AF_INET6, 32 digits) as four of them.
 * Writes a struct in_addr or in6_addr to *ret. Returns 0 or -EBADMSG.
 */
int col_network_ip_decode_words(const char *hex, int family, void *ret)
{
	size_t words = family == AF_INET ? 1 : family == AF_INET6 ? 4 : 0;
	uint32_t w[4];

	if (words == 0 || strlen(hex) != words * 8)
		return -EBADMSG;
	for (size_t i = 0; i < words; i++)
		if (hex_u32(hex + 8 * i, 8, &w[i]) < 0)
			return -EBADMSG;
	/* the kernel printed the in-memory words as integers: copying them back gives the
	 * address bytes in network order on any machine that reads its own /proc */
	memcpy(ret, w, words * 4);
	return 0;
}

/*
 * Decodes an IPv6 address as /proc/net/if_inet6 and ipv6_route print it: 32 hex digits,
 * the address bytes in order. Writes a struct in6_addr to *ret. Returns 0 or -EBADMSG.
 */
int col_network_ip_decode_bytes6(const char *hex, void *ret)
{
	unsigned char b[16];

	if (strlen(hex) != 32)
		return -EBADMSG;
	for (size_t i = 0; i < 16; i++) {
		int hi = hexval(hex[2 * i]), lo = hexval(hex[2 * i + 1]);

		if (hi < 0 || lo < 0)
			return -EBADMSG;
		b[i] = (unsigned char) (hi << 4 | lo);
	}
	memcpy(ret, b, sizeof(b));
	return 0;
}

/* Splits a line at white space in place; returns the number of fields (up to max kept). */
static size_t split_fields(char *line, char **f, size_t max)
{
	size_t n = 0;
	char *p = line;

	for (;;) {
		p += strspn(p, " \t\r");
		if (!*p)
			return n;
		if (n < max)
			f[n] = p;
		n++;
		p += strcspn(p, " \t\r");
		if (*p)
			*p++ = '\0';
	}
}

/* Whether s is a name the kernel accepts for an interface (its dev_valid_name()). */
bool col_network_ip_valid_ifname(const char *s)
{
	size_t n = strlen(s);

	if (n == 0 || n > IFNAME_MAX || streq(s, ".") || streq(s, ".."))
		return false;
	for (const char *p = s; *p; p++)
		if (*p == '/' || *p == ':' || (unsigned char) *p <= ' ' ||
		    (unsigned char) *p >= 0x7f)
			return false;
	return true;
}

static uint32_t plen_mask(unsigned plen)
{
	return plen == 0 ? 0 : 0xffffffffu << (32 - plen);
}

/* Prefix length of a contiguous host-order netmask, or -1. */
static int mask_plen(uint32_t mask)
{
	unsigned n = 0;

	while (n < 32 && (mask & (0x80000000u >> n)))
		n++;
	return plen_mask(n) == mask ? (int) n : -1;
}

static void format4(uint32_t host, char out[INET_ADDRSTRLEN])
{
	struct in_addr in = {.s_addr = htonl(host)};

	(void) inet_ntop(AF_INET, &in, out, INET_ADDRSTRLEN);
}

/* One IPv4 word of /proc/net/route → host-order value. */
static int word4(const char *hex, uint32_t *ret)
{
	struct in_addr in;

	if (col_network_ip_decode_words(hex, AF_INET, &in) < 0)
		return -EBADMSG;
	*ret = ntohl(in.s_addr);
	return 0;
}

/* "a.b.c.d/p" → host-order network and prefix length. */
static int parse_cidr4(const char *s, uint32_t *ret_net, unsigned *ret_plen)
{
	char addr[INET_ADDRSTRLEN];
	const char *slash = strchr(s, '/');
	struct in_addr in;
	unsigned plen;

	if (!slash || (size_t) (slash - s) >= sizeof(addr))
		return -EBADMSG;
	memcpy(addr, s, (size_t) (slash - s));
	addr[slash - s] = '\0';
	if (inet_pton(AF_INET, addr, &in) != 1 || str_to_uint(slash + 1, 10, &plen) < 0 ||
	    plen > 32)
		return -EBADMSG;
	*ret_net = ntohl(in.s_addr);
	*ret_plen = plen;
	return 0;
}

/*
 * Parses /proc/net/route (the IPv4 main table) and appends one object per usable route to
 * `routes`: family "inet", destination (CIDR), gateway (or null), interface, metric,
 * default. Reject routes (unreachable, prohibit) and routes without a device are skipped.
 * Returns the number of malformed lines, -E2BIG past LIMIT_NET_ITEMS routes (those before
 * are kept) or -ENOMEM.
 */
int col_network_ip_parse_route(char *text, json_t *routes)
{
	char *cursor = text, *line;
	int bad = 0;

	while ((line = str_next_line(&cursor))) {
		char *f[11], dst_s[INET_ADDRSTRLEN], gw_s[INET_ADDRSTRLEN], cidr[32];
		size_t n = split_fields(line, f, ARRAY_SIZE(f));
		uint32_t dst, gw, flags, mask;
		int64_t metric;
		int plen;

		if (n == 0 || streq(f[0], "Iface"))
			continue;
		if (n < 8 || word4(f[1], &dst) < 0 || word4(f[2], &gw) < 0 ||
		    hex_field(f[3], &flags) < 0 || str_to_i64(f[6], 10, &metric) < 0 ||
		    metric < INT32_MIN || metric > INT32_MAX || word4(f[7], &mask) < 0 ||
		    (plen = mask_plen(mask)) < 0 || (dst & ~mask) != 0) {
			bad++;
			continue;
		}
		if (!(flags & RTF_UP_) || (flags & RTF_REJECT_) || streq(f[0], "*"))
			continue;
		if (!col_network_ip_valid_ifname(f[0])) {
			bad++;
			continue;
		}
		if (json_array_size(routes) >= LIMIT_NET_ITEMS)
			return -E2BIG;
		if (metric < 0) /* the kernel prints its unsigned priority with %d */
			metric += (int64_t) UINT32_MAX + 1;
		format4(dst, dst_s);
		format4(gw, gw_s);
		(void) snprintf(cidr, sizeof(cidr), "%s/%d", dst_s, plen);
		if (jsonw_append(routes, json_pack("{s:s, s:s, s:o, s:s, s:I, s:b}", "family",
						   "inet", "destination", cidr, "gateway",
						   (flags & RTF_GATEWAY_) && gw ? json_string(gw_s)
										: json_null(),
						   "interface", f[0], "metric", (json_int_t) metric,
						   "default", plen == 0)) < 0)
			return -ENOMEM;
	}
	return bad;
}

static bool in6_is_zero(const struct in6_addr *a)
{
	static const struct in6_addr zero;

	return memcmp(a, &zero, sizeof(zero)) == 0;
}

/*
 * Parses /proc/net/ipv6_route and appends routes like col_network_ip_parse_route() (family
 * "inet6"; "source" when the route is source-specific). The file lists every table: local
 * and anycast routes of the host's own addresses, cached routes, multicast and the reject
 * entries are skipped, so what is left is the main table plus any policy-routing tables.
 * Returns the number of malformed lines, -E2BIG or -ENOMEM.
 */
int col_network_ip_parse_ipv6_route(char *text, json_t *routes)
{
	char *cursor = text, *line;
	int bad = 0;

	while ((line = str_next_line(&cursor))) {
		char *f[11], dst_s[INET6_ADDRSTRLEN], gw_s[INET6_ADDRSTRLEN];
		char cidr[INET6_ADDRSTRLEN + 8], src_cidr[INET6_ADDRSTRLEN + 8];
		size_t n = split_fields(line, f, ARRAY_SIZE(f));
		struct in6_addr dst, src, gw;
		uint32_t plen, splen, metric, flags;
		json_t *route;

		if (n == 0)
			continue;
		if (n < 10 || col_network_ip_decode_bytes6(f[0], &dst) < 0 ||
		    hex_field(f[1], &plen) < 0 || plen > 128 ||
		    col_network_ip_decode_bytes6(f[2], &src) < 0 || hex_field(f[3], &splen) < 0 ||
		    splen > 128 || col_network_ip_decode_bytes6(f[4], &gw) < 0 ||
		    hex_field(f[5], &metric) < 0 || hex_field(f[8], &flags) < 0 ||
		    !col_network_ip_valid_ifname(f[9])) {
			bad++;
			continue;
		}
		if (!(flags & RTF_UP_) ||
		    (flags & (RTF_REJECT_ | RTF_LOCAL_ | RTF_ANYCAST_ | RTF_CACHE_)) ||
		    dst.s6_addr[0] == 0xff)
			continue;
		if (json_array_size(routes) >= LIMIT_NET_ITEMS)
			return -E2BIG;
		(void) inet_ntop(AF_INET6, &dst, dst_s, sizeof(dst_s));
		(void) inet_ntop(AF_INET6, &gw, gw_s, sizeof(gw_s));
		(void) snprintf(cidr, sizeof(cidr), "%s/%u", dst_s, (unsigned) plen);
		route = json_pack("{s:s, s:s, s:o, s:s, s:I, s:b}", "family", "inet6",
				  "destination", cidr, "gateway",
				  in6_is_zero(&gw) ? json_null() : json_string(gw_s), "interface",
				  f[9], "metric", (json_int_t) metric, "default", plen == 0);
		if (!route)
			return -ENOMEM;
		if (splen > 0) {
			char src_s[INET6_ADDRSTRLEN];

			(void) inet_ntop(AF_INET6, &src, src_s, sizeof(src_s));
			(void) snprintf(src_cidr, sizeof(src_cidr), "%s/%u", src_s,
					(unsigned) splen);
			if (jsonw_set(route, "source", json_string(src_cidr)) < 0) {
				json_decref(route);
				return -ENOMEM;
			}
		}
		if (jsonw_append(routes, route) < 0)
			return -ENOMEM;
	}
	return bad;
}

/* obj[key], created as an empty object or array when missing; NULL on ENOMEM or when the
 * member has another type. */
static json_t *member(json_t *obj, const char *key, bool array)
{
	json_t *v = json_object_get(obj, key);

	if (v)
		return (array ? json_is_array(v) : json_is_object(v)) ? v : NULL;
	v = array ? json_array() : json_object();
	if (jsonw_set(obj, key, v) < 0)
		return NULL;
	return v;
}

/* Adds s to a set (a JSON object used as one). */
static int set_add(json_t *set, const char *s)
{
	if (json_object_get(set, s))
		return 0;
	if (json_object_size(set) >= LIMIT_NET_ITEMS)
		return -E2BIG;
	return jsonw_set(set, s, json_true());
}

/*
 * Parses /proc/net/fib_trie into `fib` (an object), as three sets (objects whose keys are
 * the members): "local", the host's IPv4 addresses ("/32 host LOCAL" leaves);
 * "local_prefixes", LOCAL routes shorter than /32 in CIDR form (what the kernel adds for
 * an address on a loopback device, e.g. 127.0.0.0/8); "broadcast", the "/32 BROADCAST"
 * leaves. Leaves of every table are read (Main and Local may print the same merged trie);
 * the sets keep one of each. Returns the number of malformed lines, -E2BIG or -ENOMEM.
 */
int col_network_ip_parse_fib_trie(char *text, json_t *fib)
{
	json_t *local = member(fib, "local", false);
	json_t *prefixes = member(fib, "local_prefixes", false);
	json_t *bcast = member(fib, "broadcast", false);
	char *cursor = text, *line;
	char leaf[INET_ADDRSTRLEN] = "";
	uint32_t leaf_addr = 0;
	int bad = 0, r;

	if (!local || !prefixes || !bcast)
		return -ENOMEM;
	while ((line = str_next_line(&cursor))) {
		bool indented = *line == ' ' || *line == '\t';
		char *p = str_strip(line), *f[4];
		const char *rest;
		struct in_addr in;
		unsigned plen;
		size_t n;

		if (!*p)
			continue;
		if (!indented) {
			/* a table: "Main:", "Local:", "Id 1000:" */
			if (!str_endswith(p, ":"))
				bad++;
			leaf[0] = '\0';
			continue;
		}
		if (str_startswith(p, "+-- "))
			continue; /* an inner node of the trie */
		if ((rest = str_startswith(p, "|-- "))) {
			leaf[0] = '\0';
			if (strlen(rest) >= sizeof(leaf) || inet_pton(AF_INET, rest, &in) != 1) {
				bad++;
				continue;
			}
			memcpy(leaf, rest, strlen(rest) + 1);
			leaf_addr = ntohl(in.s_addr);
			continue;
		}
		/* an alias of the current leaf: "/32 host LOCAL" [tos=N] */
		n = split_fields(p, f, ARRAY_SIZE(f));
		if (!leaf[0] || *p != '/' || n < 3 || str_to_uint(f[0] + 1, 10, &plen) < 0 ||
		    plen > 32) {
			bad++;
			continue;
		}
		if (streq(f[2], "LOCAL") && plen == 32) {
			r = set_add(local, leaf);
		} else if (streq(f[2], "LOCAL")) {
			char cidr[32];

			if ((leaf_addr & ~plen_mask(plen)) != 0) {
				bad++;
				continue;
			}
			(void) snprintf(cidr, sizeof(cidr), "%s/%u", leaf, plen);
			r = set_add(prefixes, cidr);
		} else if (streq(f[2], "BROADCAST") && plen == 32) {
			r = set_add(bcast, leaf);
		} else {
			continue;
		}
		if (r < 0)
			return r;
	}
	return bad;
}

static const char *inet6_scope(uint32_t scope)
{
	switch (scope) {
	case 0x00:
		return "global";
	case 0x10:
		return "host";
	case 0x20:
		return "link";
	case 0x40:
		return "site";
	case 0x80:
		return "compat";
	default:
		return "unknown";
	}
}

/*
 * Parses /proc/net/if_inet6 (address, ifindex, prefix length, scope, flags, name — hex but
 * the name) into by_ifname: NAME → array of {family "inet6", address, prefixlen, scope,
 * flags}. Returns the number of malformed lines, -E2BIG or -ENOMEM.
 */
int col_network_ip_parse_if_inet6(char *text, json_t *by_ifname)
{
	static const struct {
		uint32_t bit;
		const char *name;
	} flag_names[] = {
		{0x01, "temporary"}, {0x02, "nodad"},       {0x04, "optimistic"},
		{0x08, "dadfailed"}, {0x10, "homeaddress"}, {0x20, "deprecated"},
		{0x40, "tentative"}, {0x80, "permanent"},
	};
	char *cursor = text, *line;
	unsigned total = 0;
	int bad = 0;

	while ((line = str_next_line(&cursor))) {
		char *f[7], addr_s[INET6_ADDRSTRLEN];
		size_t n = split_fields(line, f, ARRAY_SIZE(f));
		uint32_t ifindex, plen, scope, flags;
		struct in6_addr a;
		json_t *list, *fl;

		if (n == 0)
			continue;
		if (n != 6 || col_network_ip_decode_bytes6(f[0], &a) < 0 ||
		    hex_field(f[1], &ifindex) < 0 || hex_field(f[2], &plen) < 0 || plen > 128 ||
		    hex_field(f[3], &scope) < 0 || hex_field(f[4], &flags) < 0 ||
		    !col_network_ip_valid_ifname(f[5])) {
			bad++;
			continue;
		}
		if (++total > LIMIT_NET_ITEMS)
			return -E2BIG;
		list = member(by_ifname, f[5], true);
		fl = json_array();
		if (!list || !fl) {
			json_decref(fl);
			return -ENOMEM;
		}
		for (size_t i = 0; i < ARRAY_SIZE(flag_names); i++)
			if ((flags & flag_names[i].bit) &&
			    jsonw_append(fl, json_string(flag_names[i].name)) < 0) {
				json_decref(fl);
				return -ENOMEM;
			}
		(void) inet_ntop(AF_INET6, &a, addr_s, sizeof(addr_s));
		if (jsonw_append(list, json_pack("{s:s, s:s, s:i, s:s, s:o}", "family", "inet6",
						 "address", addr_s, "prefixlen", (int) plen,
						 "scope", inet6_scope(scope), "flags", fl)) < 0)
			return -ENOMEM;
	}
	return bad;
}

/* A route as the IPv4 assignment sees it. */
struct route4 {
	uint32_t net;
	unsigned plen;
	bool gateway;
	const char *ifname;
};

static bool contains(const struct route4 *rt, uint32_t a)
{
	return ((a ^ rt->net) & plen_mask(rt->plen)) == 0;
}

/* The candidates of one pass: the longest prefix found and the distinct interfaces that
 * have a route of that length. */
struct pick {
	int plen; /* -1: none */
	const char *names[MAX_CANDIDATES];
	size_t n_names;
};

static void pick_add(struct pick *pk, const struct route4 *rt)
{
	if ((int) rt->plen < pk->plen)
		return;
	if ((int) rt->plen > pk->plen) {
		pk->plen = (int) rt->plen;
		pk->n_names = 0;
	}
	for (size_t i = 0; i < pk->n_names; i++)
		if (streq(pk->names[i], rt->ifname))
			return;
	if (pk->n_names < MAX_CANDIDATES)
		pk->names[pk->n_names++] = rt->ifname;
}

/* Whether the kernel added a broadcast leaf for address a with prefix plen, which it does
 * for every primary address shorter than /31, and a route added by hand never has. */
static bool has_broadcast(const json_t *bcast, uint32_t a, unsigned plen)
{
	char s[INET_ADDRSTRLEN];

	if (plen >= 31)
		return true;
	format4(a | ~plen_mask(plen), s);
	return json_object_get(bcast, s) != NULL;
}

static const char *scope4(uint32_t a)
{
	if ((a >> 24) == 127)
		return "host";
	if ((a >> 16) == 0xa9fe) /* 169.254/16 */
		return "link";
	return "global";
}

/* The routes of `routes` (family inet) and the loopback prefixes of fib as route4s. */
static int collect_route4(const json_t *fib, const json_t *routes, const char *loopback,
			  struct route4 **ret, size_t *ret_n)
{
	json_t *prefixes = json_object_get(fib, "local_prefixes");
	size_t cap = json_array_size(routes) + json_object_size(prefixes), n = 0, i;
	_cleanup_(freep) struct route4 *rt = mm_reallocarray(NULL, cap ? cap : 1, sizeof(*rt));
	const char *key;
	json_t *e;

	if (!rt)
		return -ENOMEM;
	json_array_foreach ((json_t *) routes, i, e) {
		const char *fam = json_string_value(json_object_get(e, "family"));
		const char *dst = json_string_value(json_object_get(e, "destination"));
		const char *dev = json_string_value(json_object_get(e, "interface"));

		if (!fam || !streq(fam, "inet") || !dst || !dev ||
		    parse_cidr4(dst, &rt[n].net, &rt[n].plen) < 0)
			continue;
		rt[n].gateway = !json_is_null(json_object_get(e, "gateway"));
		rt[n].ifname = dev;
		n++;
	}
	json_object_foreach ((json_t *) prefixes, key, e) {
		if (parse_cidr4(key, &rt[n].net, &rt[n].plen) < 0)
			continue;
		rt[n].gateway = false;
		rt[n].ifname = loopback;
		n++;
	}
	*ret = TAKE_PTR(rt);
	*ret_n = n;
	return 0;
}

/*
 * Assigns each IPv4 address of fib (from col_network_ip_parse_fib_trie()) to an interface and
 * a prefix length, using `routes` (family "inet" entries from col_network_ip_parse_route())
 * and fib's loopback prefixes, which belong to the interface named `loopback`:
 *   1. the longest device route (no gateway, not a default route) containing the address
 *      and confirmed by a broadcast leaf gives the interface and the prefix length;
 *   2. otherwise (a /32 address, a point-to-point peer) the longest non-default route of
 *      any kind containing it, or else a default route without a gateway, gives the
 *      interface, and the prefix length is 32;
 *   3. otherwise, or when two interfaces tie in 1 or 2, the address is appended to
 *      `unassigned` as {family, address, prefixlen (or null), candidates}.
 * Assigned addresses are appended to by_ifname: NAME → array of {family "inet", address,
 * prefixlen, scope}; the scope is derived from the address (127/8 host, 169.254/16 link,
 * else global) since fib_trie does not record it. Returns the number of unassigned
 * addresses or -ENOMEM.
 */
int col_network_ip_assign_ipv4(const json_t *fib, const json_t *routes, const char *loopback,
			       json_t *by_ifname, json_t *unassigned)
{
	_cleanup_(freep) struct route4 *rt = NULL;
	json_t *bcast = json_object_get(fib, "broadcast"), *v;
	const char *key;
	size_t n;
	int r, n_unassigned = 0;

	r = collect_route4(fib, routes, loopback, &rt, &n);
	if (r < 0)
		return r;
	json_object_foreach (json_object_get(fib, "local"), key, v) {
		struct pick pk = {.plen = -1}, fb = {.plen = -1}, dflt = {.plen = -1};
		struct pick *use = NULL;
		struct in_addr in;
		uint32_t a;
		int plen;

		if (inet_pton(AF_INET, key, &in) != 1)
			continue;
		a = ntohl(in.s_addr);
		for (size_t i = 0; i < n; i++) {
			if (!contains(&rt[i], a))
				continue;
			if (rt[i].plen == 0) {
				if (!rt[i].gateway)
					pick_add(&dflt, &rt[i]);
				continue;
			}
			if (!rt[i].gateway && has_broadcast(bcast, a, rt[i].plen))
				pick_add(&pk, &rt[i]);
			pick_add(&fb, &rt[i]);
		}
		use = pk.plen >= 0 ? &pk : fb.plen >= 0 ? &fb : dflt.plen >= 0 ? &dflt : NULL;
		plen = use == &pk ? pk.plen : 32;
		if (use && use->n_names == 1) {
			json_t *list = member(by_ifname, use->names[0], true);

			if (!list ||
			    jsonw_append(list, json_pack("{s:s, s:s, s:i, s:s}", "family", "inet",
							 "address", key, "prefixlen", plen, "scope",
							 scope4(a))) < 0)
				return -ENOMEM;
			continue;
		}
		{
			json_t *cands = json_array();

			if (!cands)
				return -ENOMEM;
			for (size_t i = 0; use && i < use->n_names; i++)
				if (jsonw_append(cands, json_string(use->names[i])) < 0) {
					json_decref(cands);
					return -ENOMEM;
				}
			if (jsonw_append(unassigned,
					 json_pack("{s:s, s:s, s:o, s:o}", "family", "inet",
						   "address", key, "prefixlen",
						   use == &pk ? json_integer(plen) : json_null(),
						   "candidates", cands)) < 0)
				return -ENOMEM;
			n_unassigned++;
		}
	}
	return n_unassigned;
}
