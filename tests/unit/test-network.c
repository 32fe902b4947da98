/*
 * The network collector's parsers: address decoding of the /proc/net tables, the socket,
 * route, if_inet6 and resolv.conf parsers, and the assignment of fib_trie's IPv4
 * addresses to interfaces through the routes (the part `ip addr` gets from netlink and
 * the agent has to derive).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/socket.h>

#include "agent/agent.h"
#include "lib/mm.h"
#include "tests/tap.h"

/* A mutable copy of a literal, for parsers that work in place. */
static char *dup_text(const char *s)
{
	char *t = mm_strdup(s);

	if (!t)
		abort();
	return t;
}

static const char *words(const char *hex, int family, char *out)
{
	unsigned char a[16];

	if (col_network_ip_decode_words(hex, family, a) < 0)
		return "(error)";
	return inet_ntop(family, a, out, INET6_ADDRSTRLEN);
}

static void test_decode(void)
{
	char out[INET6_ADDRSTRLEN];
	unsigned char a[16];

#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
	/* what a little-endian kernel writes: the in-memory words printed as integers */
	CHECK_STR(words("0100007F", AF_INET, out), "127.0.0.1", "tcp 0100007F is 127.0.0.1");
	CHECK_STR(words("000200C0", AF_INET, out), "192.0.2.0", "route 000200C0 is 192.0.2.0");
	CHECK_STR(words("0101A8C0", AF_INET, out), "192.168.1.1", "gateway 0101A8C0");
	CHECK_STR(words("00000000000000000000000001000000", AF_INET6, out), "::1",
		  "tcp6 ::1 is four host-order words");
	CHECK_STR(words("0000000000000000FFFF00000100007F", AF_INET6, out), "::ffff:127.0.0.1",
		  "tcp6 v4-mapped address");
	CHECK_STR(words("B80D0120000000000000000005000000", AF_INET6, out), "2001:db8::5",
		  "tcp6 2001:db8::5");
	CHECK_STR(words("b80d0120000000000000000005000000", AF_INET6, out), "2001:db8::5",
		  "lower-case hex too");
#else
	tap_diag("big-endian machine: the little-endian samples do not apply");
#endif
	CHECK_STR(words("00000000", AF_INET, out), "0.0.0.0", "zero is zero in any order");
	CHECK_INT(col_network_ip_decode_words("0100007", AF_INET, a), -EBADMSG, "7 digits refused");
	CHECK_INT(col_network_ip_decode_words("0100007G", AF_INET, a), -EBADMSG, "non-hex refused");
	CHECK_INT(col_network_ip_decode_words("0100007F00", AF_INET, a), -EBADMSG,
		  "10 digits refused");
	CHECK_INT(col_network_ip_decode_words("0100007F", AF_UNIX, a), -EBADMSG,
		  "unknown family refused");
	CHECK_INT(col_network_ip_decode_words("", AF_INET6, a), -EBADMSG, "empty refused");

	CHECK_INT(col_network_ip_decode_bytes6("20010db8000000000000000000000005", a), 0,
		  "if_inet6 address decodes");
	CHECK_STR(inet_ntop(AF_INET6, a, out, sizeof(out)), "2001:db8::5",
		  "if_inet6 prints bytes in order, not words");
	CHECK_INT(col_network_ip_decode_bytes6("fe80", a), -EBADMSG, "short address refused");
	CHECK_INT(col_network_ip_decode_bytes6("20010db800000000000000000000000x", a), -EBADMSG,
		  "non-hex refused");
}

static const char *str_at(json_t *arr, size_t i, const char *key)
{
	return json_string_value(json_object_get(json_array_get(arr, i), key));
}

static long long int_at(json_t *arr, size_t i, const char *key)
{
	return json_integer_value(json_object_get(json_array_get(arr, i), key));
}

static void test_sockets(void)
{
	char *tcp = dup_text(
		"  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   "
		"uid  timeout inode\n"
		"   0: 0100007F:0277 00000000:0000 0A 00000000:00000000 00:00000000 00000000     "
		"0        0 41530 1 0000000067e8968e 100 0 0 10 0\n"
		"   1: 00000000:0016 00000000:0000 0A 00000000:00000000 00:00000000 00000000   "
		"108        0 41528 1 000000000844ac39 100 0 0 10 0\n"
		"   2: 0100007F:8170 0100007F:0277 01 00000000:00000000 00:00000000 00000000     "
		"0        0 41535 2 000000002afb6fab 20 0 0 10 -1\n"
		"   3: 0100007F:0277 0100007F:8170 06 00000000:00000000 00:00000000 00000000     "
		"0        0 0 2\n"
		"   4: 0100007F:0016 00000000:0000 0A 00000000:000\n");
	char *udp = dup_text(
		"   sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   "
		"uid  timeout inode ref pointer drops\n"
		"  655: 00000000:14E9 00000000:0000 07 00000000:00000000 00:00000000 00000000   "
		"108        0 41532 2 000000003b5bcf60 0\n"
		" 4631: 1701A8C0:A471 0101A8C0:0035 01 00000000:00000000 00:00000000 00000000     "
		"0        0 41537 2 00000000c35a5855 0\n");
	char *tcp6 = dup_text(
		"  sl  local_address                         remote_address                        "
		"st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n"
		"   0: 00000000000000000000000001000000:0277 00000000000000000000000000000000:0000 "
		"0A 00000000:00000000 00:00000000 00000000     0        0 41531 1 00000000fff2a390 "
		"100 0 0 10 0\n");
	json_t *l = json_array();

	CHECK_INT(col_network_sockets_parse(tcp, "tcp", l), 1, "one truncated tcp line counted");
	CHECK_INT(json_array_size(l), 2,
		  "two listening tcp sockets (established, time-wait "
		  "and the truncated line left out)");
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
	CHECK_STR(str_at(l, 0, "address"), "127.0.0.1", "loopback listener address");
#endif
	CHECK_INT(int_at(l, 0, "port"), 631, "port 0277 is 631");
	CHECK_INT(int_at(l, 0, "inode"), 41530, "inode");
	CHECK_STR(str_at(l, 1, "address"), "0.0.0.0", "wildcard listener");
	CHECK_INT(int_at(l, 1, "port"), 22, "port 22");
	CHECK_INT(int_at(l, 1, "uid"), 108, "uid");
	CHECK_STR(str_at(l, 1, "protocol"), "tcp", "protocol");
	json_array_clear(l);
	CHECK_INT(col_network_sockets_parse(udp, "udp", l), 0, "udp table parses");
	CHECK_INT(json_array_size(l), 1, "bound udp kept, connected udp left out");
	CHECK_INT(int_at(l, 0, "port"), 5353, "mdns port");
	json_array_clear(l);
	CHECK_INT(col_network_sockets_parse(tcp6, "tcp6", l), 0, "tcp6 table parses");
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
	CHECK_STR(str_at(l, 0, "address"), "::1", "tcp6 address");
#endif
	CHECK_STR(str_at(l, 0, "protocol"), "tcp6", "tcp6 protocol");
	CHECK_INT(col_network_sockets_parse(tcp6, "sctp", l), -EINVAL, "unknown protocol refused");
	json_decref(l);
	mm_free(tcp);
	mm_free(udp);
	mm_free(tcp6);
}

static void test_routes(void)
{
	char *v4 = dup_text(
		"Iface\tDestination\tGateway "
		"\tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT"
		"          \n"
		"wlp2s0\t00000000\t0101A8C0\t0003\t0\t0\t600\t00000000\t0\t0\t0          \n"
		"wlp2s0\t0001A8C0\t00000000\t0001\t0\t0\t600\t00FFFFFF\t0\t0\t0          \n"
		"*\t0000000A\t00000000\t0201\t0\t0\t0\t000000FF\t0\t0\t0\n"
		"tun0\t0000000A\t00000000\t0001\t0\t0\t-1\t000000FF\t0\t0\t0\n"
		"eth0\t0000000A\t00000000\t0001\t0\t0\t0\t00FF00FF\t0\t0\t0\n"
		"eth0\t0100000A\t00000000\t0001\t0\t0\t0\t000000FF\t0\t0\t0\n");
	char *v6 = dup_text(
		"20010db8000100000000000000000000 40 00000000000000000000000000000000 00 "
		"00000000000000000000000000000000 00000258 00000001 00000000 00000001   wlp2s0\n"
		"00000000000000000000000000000000 00 00000000000000000000000000000000 00 "
		"fe800000000000000000000000000001 00000258 00000001 00000000 00000003   wlp2s0\n"
		"00000000000000000000000000000001 80 00000000000000000000000000000000 00 "
		"00000000000000000000000000000000 00000000 00000003 00000000 80200001       lo\n"
		"ff000000000000000000000000000000 08 00000000000000000000000000000000 00 "
		"00000000000000000000000000000000 00000100 00000004 00000000 00000001   wlp2s0\n"
		"00000000000000000000000000000000 00 00000000000000000000000000000000 00 "
		"00000000000000000000000000000000 ffffffff 00000001 00000000 00200200       lo\n"
		"2001 40 garbage\n");
	json_t *r = json_array();

	CHECK_INT(col_network_ip_parse_route(v4, r), 2,
		  "non-contiguous mask and host bits under the mask are malformed");
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
	CHECK_INT(json_array_size(r), 3, "reject route without device left out");
	CHECK_STR(str_at(r, 0, "destination"), "0.0.0.0/0", "default route destination");
	CHECK_STR(str_at(r, 0, "gateway"), "192.168.1.1", "default route gateway");
	CHECK(json_is_true(json_object_get(json_array_get(r, 0), "default")), "default is true");
	CHECK_INT(int_at(r, 0, "metric"), 600, "metric");
	CHECK_STR(str_at(r, 1, "destination"), "192.168.1.0/24", "prefix route");
	CHECK(json_is_null(json_object_get(json_array_get(r, 1), "gateway")),
	      "a device route has a null gateway");
	CHECK_STR(str_at(r, 2, "destination"), "10.0.0.0/8", "tun route");
	CHECK_INT(int_at(r, 2, "metric"), 4294967295LL, "a priority printed with %d is unsigned");
#endif
	json_array_clear(r);
	CHECK_INT(col_network_ip_parse_ipv6_route(v6, r), 1, "one malformed ipv6_route line");
	CHECK_INT(json_array_size(r), 2, "local, multicast and reject routes left out");
	CHECK_STR(str_at(r, 0, "destination"), "2001:db8:1::/64", "ipv6 prefix route");
	CHECK_STR(str_at(r, 1, "destination"), "::/0", "ipv6 default");
	CHECK_STR(str_at(r, 1, "gateway"), "fe80::1", "ipv6 gateway");
	CHECK_STR(str_at(r, 1, "family"), "inet6", "ipv6 family");
	json_decref(r);
	mm_free(v4);
	mm_free(v6);
}

static void test_if_inet6(void)
{
	char *t = dup_text("20010db8000100007eb27dfffeaabbcc 03 40 00 00   wlp2s0\n"
			   "00000000000000000000000000000001 01 80 10 80       lo\n"
			   "20010db800010000d1e53f2a9b4c1a2b 03 40 00 21   wlp2s0\n"
			   "fe800000000000007eb27dfffeaabbcc 03 40 20 80   wlp2s0\n"
			   "fe800000000000007eb27dfffeaabbcc 103 40 20 80   verylonginterfacename\n"
			   "short 03 40 20 80 x\n");
	json_t *by = json_object(), *w, *fl;

	CHECK_INT(col_network_ip_parse_if_inet6(t, by), 2, "bad name and bad address counted");
	w = json_object_get(by, "wlp2s0");
	CHECK_INT(json_array_size(w), 3, "three wlp2s0 addresses");
	CHECK_STR(str_at(w, 0, "address"), "2001:db8:1:0:7eb2:7dff:feaa:bbcc", "global address");
	CHECK_INT(int_at(w, 0, "prefixlen"), 64, "prefix length is hex 40");
	CHECK_STR(str_at(w, 0, "scope"), "global", "scope 00 is global");
	CHECK_STR(str_at(w, 2, "scope"), "link", "scope 20 is link");
	fl = json_object_get(json_array_get(w, 1), "flags");
	CHECK(json_array_size(fl) == 2 &&
		      streq(json_string_value(json_array_get(fl, 0)), "temporary"),
	      "flags 21: temporary, deprecated");
	CHECK_STR(str_at(json_object_get(by, "lo"), 0, "scope"), "host", "::1 has host scope");
	json_decref(by);
	mm_free(t);
}

/* Runs the fib_trie parser and the assignment; returns the number unassigned. */
static int assign(const char *fib_text, json_t *routes, json_t **ret_by, json_t **ret_un)
{
	char *t = dup_text(fib_text);
	json_t *fib = json_object();
	int r;

	*ret_by = json_object();
	*ret_un = json_array();
	r = col_network_ip_parse_fib_trie(t, fib);
	if (r != 0)
		tap_diag("fib_trie parse gave %d", r);
	r = col_network_ip_assign_ipv4(fib, routes, "lo", *ret_by, *ret_un);
	json_decref(fib);
	mm_free(t);
	return r;
}

static json_t *route(json_t *routes, const char *dst, const char *gw, const char *dev)
{
	json_array_append_new(
		routes, json_pack("{s:s, s:s, s:o, s:s}", "family", "inet", "destination", dst,
				  "gateway", gw ? json_string(gw) : json_null(), "interface", dev));
	return routes;
}

/* "ADDR/PLEN" of the only address of interface name, or NULL. */
static const char *addr_of(json_t *by, const char *name, char *buf, size_t n)
{
	json_t *a = json_object_get(by, name);

	if (json_array_size(a) != 1)
		return NULL;
	snprintf(buf, n, "%s/%lld", str_at(a, 0, "address"), int_at(a, 0, "prefixlen"));
	return buf;
}

/* The laptop fixture's trie, as the kernel printed it (merged main and local tables). */
static const char laptop_fib[] = "Main:\n"
				 "  +-- 0.0.0.0/0 3 0 4\n"
				 "     +-- 0.0.0.0/4 2 0 2\n"
				 "        |-- 0.0.0.0\n"
				 "           /0 universe UNICAST\n"
				 "        +-- 10.8.0.0/30 2 0 2\n"
				 "           |-- 10.8.0.0\n"
				 "              /24 link UNICAST\n"
				 "           |-- 10.8.0.2\n"
				 "              /32 host LOCAL\n"
				 "     +-- 127.0.0.0/8 2 0 2\n"
				 "        +-- 127.0.0.0/31 1 0 0\n"
				 "           |-- 127.0.0.0\n"
				 "              /8 host LOCAL\n"
				 "           |-- 127.0.0.1\n"
				 "              /32 host LOCAL\n"
				 "        |-- 127.255.255.255\n"
				 "           /32 link BROADCAST\n"
				 "     +-- 172.17.0.0/16 2 0 2\n"
				 "        +-- 172.17.0.0/31 1 0 0\n"
				 "           |-- 172.17.0.0\n"
				 "              /16 link UNICAST\n"
				 "           |-- 172.17.0.1\n"
				 "              /32 host LOCAL\n"
				 "        |-- 172.17.255.255\n"
				 "           /32 link BROADCAST\n"
				 "     +-- 192.168.1.0/24 2 0 2\n"
				 "        +-- 192.168.1.0/27 2 0 2\n"
				 "           |-- 192.168.1.0\n"
				 "              /24 link UNICAST\n"
				 "           |-- 192.168.1.23\n"
				 "              /32 host LOCAL\n"
				 "        |-- 192.168.1.255\n"
				 "           /32 link BROADCAST\n"
				 "Local:\n"
				 "  +-- 0.0.0.0/0 3 0 4\n"
				 "     +-- 127.0.0.0/8 2 0 2\n"
				 "        +-- 127.0.0.0/31 1 0 0\n"
				 "           |-- 127.0.0.0\n"
				 "              /8 host LOCAL\n"
				 "           |-- 127.0.0.1\n"
				 "              /32 host LOCAL\n"
				 "        |-- 127.255.255.255\n"
				 "           /32 link BROADCAST\n";

static void test_assign(void)
{
	json_t *routes, *by, *un;
	char buf[64];
	int r;

	/* the laptop: wlp2s0 by its prefix route, docker0 by a route that is down, wg0 (a /32
	 * address) by the route to its peers, lo by the loopback LOCAL prefix */
	routes = json_array();
	route(routes, "0.0.0.0/0", "192.168.1.1", "wlp2s0");
	route(routes, "10.8.0.0/24", NULL, "wg0");
	route(routes, "169.254.0.0/16", NULL, "wlp2s0");
	route(routes, "172.17.0.0/16", NULL, "docker0");
	route(routes, "192.168.1.0/24", NULL, "wlp2s0");
	r = assign(laptop_fib, routes, &by, &un);
	CHECK_INT(r, 0, "laptop: every address placed");
	CHECK_STR(addr_of(by, "lo", buf, sizeof(buf)), "127.0.0.1/8", "lo: 127.0.0.1/8");
	CHECK_STR(addr_of(by, "wlp2s0", buf, sizeof(buf)), "192.168.1.23/24", "wlp2s0: /24");
	CHECK_STR(addr_of(by, "docker0", buf, sizeof(buf)), "172.17.0.1/16", "docker0: /16");
	CHECK_STR(addr_of(by, "wg0", buf, sizeof(buf)), "10.8.0.2/32",
		  "wg0: a /32 address is not given the /24 of the route beside it");
	CHECK_STR(str_at(json_object_get(by, "lo"), 0, "scope"), "host", "127.0.0.1 is host scope");
	CHECK_STR(str_at(json_object_get(by, "wlp2s0"), 0, "scope"), "global", "global scope");
	json_decref(by);
	json_decref(un);

	/* a route added by hand inside the subnet (no broadcast leaf for it) must not win
	 * over the prefix route the kernel added with the address */
	route(routes, "192.168.1.16/28", NULL, "tun0");
	r = assign(laptop_fib, routes, &by, &un);
	CHECK_INT(r, 0, "hand-added route: still placed");
	CHECK_STR(addr_of(by, "wlp2s0", buf, sizeof(buf)), "192.168.1.23/24",
		  "the broadcast-confirmed /24 beats a more specific route without one");
	CHECK(!json_object_get(by, "tun0"), "nothing assigned to tun0");
	json_decref(by);
	json_decref(un);
	json_decref(routes);

	/* two interfaces on one subnet: which address is whose cannot be told */
	routes = json_array();
	route(routes, "192.168.1.0/24", NULL, "eth0");
	route(routes, "192.168.1.0/24", NULL, "wlan0");
	r = assign("Local:\n"
		   "  +-- 192.168.1.0/24 2 0 2\n"
		   "     |-- 192.168.1.10\n"
		   "        /32 host LOCAL\n"
		   "     |-- 192.168.1.23\n"
		   "        /32 host LOCAL\n"
		   "     |-- 192.168.1.255\n"
		   "        /32 link BROADCAST\n",
		   routes, &by, &un);
	CHECK_INT(r, 2, "same subnet on two interfaces: both unassigned");
	CHECK_INT(json_object_size(by), 0, "nothing guessed");
	CHECK_INT(int_at(un, 0, "prefixlen"), 24, "the prefix length is still known");
	CHECK_INT(json_array_size(json_object_get(json_array_get(un, 0), "candidates")), 2,
		  "both interfaces named as candidates");
	json_decref(by);
	json_decref(un);
	json_decref(routes);

	/* an interface that is down keeps its LOCAL leaf but loses its routes */
	routes = json_array();
	route(routes, "0.0.0.0/0", "192.0.2.1", "eth0");
	route(routes, "192.0.2.0/24", NULL, "eth0");
	r = assign("Main:\n"
		   "  +-- 0.0.0.0/0 2 0 2\n"
		   "     |-- 192.0.2.2\n"
		   "        /32 host LOCAL\n"
		   "     |-- 192.0.2.255\n"
		   "        /32 link BROADCAST\n"
		   "     |-- 198.51.100.7\n"
		   "        /32 host LOCAL\n",
		   routes, &by, &un);
	CHECK_INT(r, 1, "address of a down interface unassigned");
	CHECK_STR(str_at(un, 0, "address"), "198.51.100.7", "the down interface's address");
	CHECK(json_is_null(json_object_get(json_array_get(un, 0), "prefixlen")),
	      "with an unknown prefix length");
	CHECK(json_array_size(json_object_get(json_array_get(un, 0), "candidates")) == 0,
	      "a default route through a gateway is no candidate");
	CHECK_STR(addr_of(by, "eth0", buf, sizeof(buf)), "192.0.2.2/24", "eth0 still placed");
	json_decref(by);
	json_decref(un);
	json_decref(routes);

	/* point-to-point: the address is outside every device route; a gateway route through
	 * the tunnel, or a default route without a gateway, names the interface */
	routes = json_array();
	route(routes, "0.0.0.0/0", "192.168.1.1", "wlp2s0");
	route(routes, "10.0.0.0/8", "10.64.0.5", "tun0");
	route(routes, "10.64.0.5/32", NULL, "tun0");
	route(routes, "0.0.0.0/0", NULL, "ppp0");
	r = assign("Local:\n"
		   "  +-- 0.0.0.0/0 2 0 2\n"
		   "     |-- 10.64.0.6\n"
		   "        /32 host LOCAL\n"
		   "     |-- 100.64.0.9\n"
		   "        /32 host LOCAL\n",
		   routes, &by, &un);
	CHECK_INT(r, 0, "point-to-point addresses placed");
	CHECK_STR(addr_of(by, "tun0", buf, sizeof(buf)), "10.64.0.6/32", "tun0 through its route");
	CHECK_STR(addr_of(by, "ppp0", buf, sizeof(buf)), "100.64.0.9/32",
		  "ppp0 through its default route without gateway");
	json_decref(by);
	json_decref(un);
	json_decref(routes);

	/* noprefixroute without a route, and a peer address outside every route: the default
	 * route through a gateway says nothing about where an address lives */
	routes = json_array();
	route(routes, "0.0.0.0/0", "192.168.1.1", "wlp2s0");
	route(routes, "10.0.0.2/32", NULL, "ppp0");
	r = assign("Local:\n"
		   "     |-- 10.0.0.1\n"
		   "        /32 host LOCAL\n"
		   "     |-- 203.0.113.9\n"
		   "        /32 host LOCAL\n"
		   "     |-- 203.0.113.15\n"
		   "        /32 link BROADCAST\n",
		   routes, &by, &un);
	CHECK_INT(r, 2, "noprefixroute and peer addresses without routes: unassigned");
	CHECK_INT(json_object_size(by), 0, "and not put on the default route's interface");
	json_decref(by);
	json_decref(un);
	json_decref(routes);

	/* a /31 has no broadcast address and needs none */
	routes = json_array();
	route(routes, "10.1.0.0/31", NULL, "eth1");
	r = assign("Local:\n"
		   "     |-- 10.1.0.1\n"
		   "        /32 host LOCAL\n",
		   routes, &by, &un);
	CHECK_INT(r, 0, "/31 placed");
	CHECK_STR(addr_of(by, "eth1", buf, sizeof(buf)), "10.1.0.1/31", "/31 prefix kept");
	json_decref(by);
	json_decref(un);
	json_decref(routes);
}

static void test_fib_parse(void)
{
	/* separate tables (policy routing in use), a VRF-like table, tos and junk */
	char *t = dup_text("Main:\n"
			   "  +-- 0.0.0.0/0 2 0 2\n"
			   "     |-- 0.0.0.0\n"
			   "        /0 universe UNICAST\n"
			   "     |-- 192.168.1.0\n"
			   "        /24 link UNICAST\n"
			   "Local:\n"
			   "  +-- 0.0.0.0/0 2 0 2\n"
			   "     |-- 192.168.1.23\n"
			   "        /32 host LOCAL tos=16\n"
			   "     |-- 192.168.1.255\n"
			   "        /32 link BROADCAST\n"
			   "Id 51820:\n"
			   "  +-- 0.0.0.0/0 2 0 2\n"
			   "     |-- 0.0.0.0\n"
			   "        /0 link UNICAST\n"
			   "     |-- 10.7.0.1\n"
			   "        /32 host LOCAL\n"
			   "     |-- 10.9.0.0\n"
			   "        /16 host LOCAL\n"
			   "     |-- 10.9.0.1\n"
			   "        /8 host LOCAL\n"
			   "        /99 host LOCAL\n"
			   "     |-- 300.1.1.1\n"
			   "        /32 host LOCAL\n"
			   "junk\n");
	json_t *fib = json_object();

	CHECK_INT(col_network_ip_parse_fib_trie(t, fib), 5,
		  "host bits under a prefix, /99, a bad leaf and its alias, junk");
	CHECK_INT(json_object_size(json_object_get(fib, "local")), 2, "two local addresses");
	CHECK(json_object_get(json_object_get(fib, "local"), "10.7.0.1") != NULL,
	      "other tables' local addresses read too");
	CHECK(json_object_get(json_object_get(fib, "local_prefixes"), "10.9.0.0/16") != NULL,
	      "a LOCAL prefix");
	CHECK(json_object_get(json_object_get(fib, "broadcast"), "192.168.1.255") != NULL,
	      "a broadcast leaf");
	json_decref(fib);
	mm_free(t);
}

static void test_resolv(void)
{
	char *t = dup_text("# generated\n"
			   "; also a comment\n"
			   "search first.example\n"
			   "nameserver 192.168.1.1\n"
			   "nameserver 2001:db8::53\n"
			   "nameserver fe80::1%wlp2s0\n"
			   "nameserver not-an-address\n"
			   "nameserver\n"
			   "options edns0 trust-ad\n"
			   "search home.arpa corp.example\n"
			   "searchx nothing\n"
			   "sortlist 130.155.160.0/255.255.240.0\n");
	char *t2 = dup_text("search a.example b.example\ndomain only.example extra\n");
	json_t *dns = json_array(), *search = json_array();

	CHECK_INT(col_network_parse_resolv_conf(t, dns, search), 2, "two bad nameserver lines");
	CHECK_INT(json_array_size(dns), 3, "three name servers");
	CHECK_STR(json_string_value(json_array_get(dns, 2)), "fe80::1%wlp2s0",
		  "a link-local server keeps its zone");
	CHECK_INT(json_array_size(search), 2, "the last search line wins");
	CHECK_STR(json_string_value(json_array_get(search, 1)), "corp.example", "search domain");
	json_array_clear(search);
	CHECK_INT(col_network_parse_resolv_conf(t2, dns, search), 0, "domain line");
	CHECK(json_array_size(search) == 1 &&
		      streq(json_string_value(json_array_get(search, 0)), "only.example"),
	      "a later domain line replaces search, one name");
	json_decref(dns);
	json_decref(search);
	mm_free(t);
	mm_free(t2);
}

int main(void)
{
	mm_setup_jansson();
	test_decode();
	test_sockets();
	test_routes();
	test_if_inet6();
	test_fib_parse();
	test_assign();
	test_resolv();
	return tap_done();
}
