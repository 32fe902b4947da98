/*
 * The network section: interfaces from /sys/class/net, addresses and routes (parsed in
 * col_network_ip.c), name servers from resolv.conf, and listening sockets
 * (col_network_sockets.c), all read from files under the root — no netlink, no `ip` — so
 * fixture trees can stand in for a machine.
 *
 * Each interface's facts come from its sysfs attributes: the hardware type and uevent's
 * DEVTYPE tell loopback, Ethernet, WireGuard, tun and tap, bridges and Wi-Fi apart; a
 * "device" link means hardware, a "phy80211" entry means Wi-Fi. Addresses found for names
 * sysfs does not show still get an interface entry of their own, so none is lost.
 *
 * /etc/resolv.conf is often a symlink (systemd-resolved, resolvconf, NetworkManager); it is
 * followed inside the root as a chrooted process would see it, never outside. When it
 * names systemd-resolved's stub (127.0.0.53), the servers behind the stub are read from
 * /run/systemd/resolve/resolv.conf as well.
 */
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>

#include "agent/agent.h"
#include "lib/buf.h"
#include "lib/fileio.h"
#include "lib/jsonw.h"
#include "lib/limits.h"
#include "lib/mm.h"
#include "lib/str.h"

#define IFF_LOOPBACK_ 0x8u
#define ARPHRD_LOOP_  772u
#define ARPHRD_NONE_  65534u
#define IFNAME_MAX    15u /* IFNAMSIZ - 1 */
#define MAX_LINK_HOPS 32u

/* The next white-space separated word of *p (terminated in place), or NULL. */
static char *next_token(char **p)
{
	char *t = *p + strspn(*p, " \t"), *end;

	if (!*t)
		return NULL;
	end = t + strcspn(t, " \t");
	*p = *end ? end + 1 : end;
	*end = '\0';
	return t;
}

/*
 * Parses resolv.conf(5): "nameserver ADDR" lines are appended to `servers`; the last
 * "search" or "domain" line sets `search`. Unknown keywords are ignored, as the resolver
 * does. Returns the number of malformed lines (a name server that is not an address, a
 * line that is not text), -E2BIG or -ENOMEM.
 */
int col_network_parse_resolv_conf(char *text, json_t *servers, json_t *search)
{
	char *cursor = text, *line;
	int bad = 0;

	while ((line = str_next_line(&cursor))) {
		char *p = str_strip(line), *kw, *arg;

		if (!*p || *p == '#' || *p == ';')
			continue;
		if (!str_is_clean_utf8(p, strlen(p))) {
			bad++;
			continue;
		}
		kw = next_token(&p);
		if (kw && (streq(kw, "search") || streq(kw, "domain"))) {
			/* the last search or domain line wins; domain names one domain */
			bool domain = streq(kw, "domain");

			if (json_array_clear(search) < 0)
				return -ENOMEM;
			while ((arg = next_token(&p))) {
				if (strlen(arg) > 253) { /* longer than any DNS name */
					bad++;
					continue;
				}
				if (json_array_size(search) >= LIMIT_NET_ITEMS)
					return -E2BIG;
				if (jsonw_append(search, json_string(arg)) < 0)
					return -ENOMEM;
				if (domain)
					break;
			}
		} else if (kw && streq(kw, "nameserver")) {
			unsigned char buf[sizeof(struct in6_addr)];
			char addr[INET6_ADDRSTRLEN];
			size_t len;

			/* one address; an IPv6 one may carry a zone: fe80::1%eth0 */
			arg = next_token(&p);
			if (!arg || next_token(&p) || (len = strcspn(arg, "%")) >= sizeof(addr) ||
			    strlen(arg + len) > IFNAME_MAX + 1) {
				bad++;
				continue;
			}
			memcpy(addr, arg, len);
			addr[len] = '\0';
			if (inet_pton(AF_INET, addr, buf) != 1 &&
			    inet_pton(AF_INET6, addr, buf) != 1) {
				bad++;
				continue;
			}
			if (json_array_size(servers) >= LIMIT_NET_ITEMS)
				return -E2BIG;
			if (jsonw_append(servers, json_string(arg)) < 0)
				return -ENOMEM;
		}
	}
	return bad;
}

/* Records a parser's result for `path`: malformed lines, a ceiling, or nothing. */
static int report_parse(json_t *section, const char *path, int r)
{
	if (r == -ENOMEM)
		return r;
	if (r == -E2BIG)
		return col_error(section, path, r, "more than %u entries: the rest were skipped",
				 LIMIT_NET_ITEMS);
	if (r > 0)
		return col_error(section, path, 0, "%d malformed lines skipped", r);
	return 0;
}

/* Text with a NUL byte inside is parsed up to it (parsers see C strings); says so. */
static int report_nul(json_t *section, const char *path, const char *text, size_t len)
{
	const char *nul = memchr(text, '\0', len);

	if (!nul)
		return 0;
	return col_error(section, path, 0,
			 "binary data (a NUL byte) at offset %zu: the rest was ignored",
			 (size_t) (nul - text));
}

/* Reads one /proc/net file and runs its parser; unreadable files become errors, except a
 * missing IPv6 file (`ipv6`) on a kernel booted without IPv6. */
static int read_parse(const struct col_ctx *ctx, json_t *section, const char *path,
		      int (*parse)(char *, json_t *), json_t *into, bool ipv6)
{
	_cleanup_(freep) char *text = NULL;
	size_t len;
	int r = col_read_file(ctx, path, LIMIT_LARGE_FILE, &text, &len);

	if (r == -ENOMEM || (r == -ENOENT && ipv6))
		return r == -ENOMEM ? r : 0;
	if (r < 0)
		return col_error(section, path, r, NULL);
	r = report_nul(section, path, text, len);
	if (r < 0)
		return r;
	return report_parse(section, path, parse(text, into));
}

/* Whether root + path exists as a directory entry (a dangling link counts). */
static int exists(const struct col_ctx *ctx, const char *path, bool *ret)
{
	_cleanup_(freep) char *full = fileio_path(ctx->root, path);
	struct stat st;

	if (!full)
		return -ENOMEM;
	*ret = lstat(full, &st) == 0;
	return 0;
}

static const char *arphrd_name(unsigned type)
{
	static const struct {
		unsigned type;
		const char *name;
	} names[] = {
		{1, "ether"},
		{24, "ieee1394"},
		{32, "infiniband"},
		{256, "slip"},
		{512, "ppp"},
		{519, "rawip"},
		{768, "tunnel"},
		{769, "tunnel6"},
		{772, "loopback"},
		{776, "sit"},
		{778, "gre"},
		{801, "ieee802.11"},
		{803, "ieee802.11/radiotap"},
		{804, "ieee802.15.4"},
		{823, "ip6gre"},
		{280, "can"},
		{65534, "none"},
		{65535, "void"},
	};

	for (size_t i = 0; i < ARRAY_SIZE(names); i++)
		if (names[i].type == type)
			return names[i].name;
	return "other";
}

static int flags_array(uint32_t flags, json_t **ret)
{
	static const char *const names[] = {
		"UP",        "BROADCAST", "DEBUG",     "LOOPBACK", "POINTOPOINT", "NOTRAILERS",
		"RUNNING",   "NOARP",     "PROMISC",   "ALLMULTI", "MASTER",      "SLAVE",
		"MULTICAST", "PORTSEL",   "AUTOMEDIA", "DYNAMIC",
	};
	json_t *arr = json_array();

	if (!arr)
		return -ENOMEM;
	for (size_t i = 0; i < ARRAY_SIZE(names); i++)
		if ((flags & (1u << i)) && jsonw_append(arr, json_string(names[i])) < 0) {
			json_decref(arr);
			return -ENOMEM;
		}
	*ret = arr;
	return 0;
}

/* An attribute that could not be read (r < 0) or was not a number (r == 0). */
static int attr_error(json_t *section, const char *path, int r)
{
	if (r < 0)
		return col_error(section, path, r, NULL);
	return col_error(section, path, 0, "not a number");
}

/* One interface from /sys/class/net/NAME. *ret is NULL when its directory is unusable
 * (a dangling link), which is recorded as an error. */
static int read_interface(const struct col_ctx *ctx, json_t *section, const char *name,
			  json_t **ret)
{
	_cleanup_(json_decrefp) json_t *ifc = NULL;
	_cleanup_(freep) char *dir = mm_asprintf("/sys/class/net/%s", name);
	_cleanup_(freep) char *full = NULL, *devtype = NULL;
	static const char *const ints[] = {"ifindex", "mtu"};
	const char *type_name;
	bool wireless = false, physical = false, tun = false, b;
	unsigned type = 0;
	uint32_t flags = 0;
	struct stat st;
	int r;

	*ret = NULL;
	if (!dir || !(full = fileio_path(ctx->root, dir)))
		return -ENOMEM;
	if (stat(full, &st) < 0 || !S_ISDIR(st.st_mode))
		return col_error(section, dir, -errno, "interface entry unusable (dangling link?)");
	ifc = json_pack("{s:s}", "name", name);
	if (!ifc)
		return -ENOMEM;
	for (size_t i = 0; i < ARRAY_SIZE(ints); i++) {
		_cleanup_(freep) char *path = mm_asprintf("%s/%s", dir, ints[i]), *v = NULL;
		unsigned u;

		if (!path)
			return -ENOMEM;
		r = col_read_attr(ctx, path, &v);
		if (r == -ENOMEM)
			return r;
		if (r < 0 || str_to_uint(v, 10, &u) < 0) {
			if (attr_error(section, path, r) < 0)
				return -ENOMEM;
			continue;
		}
		if (jsonw_set(ifc, ints[i], json_integer(u)) < 0)
			return -ENOMEM;
	}
	{
		static const struct {
			const char *attr, *field;
		} strs[] = {{"address", "mac"}, {"operstate", "state"}};

		for (size_t i = 0; i < ARRAY_SIZE(strs); i++) {
			_cleanup_(freep) char *path = mm_asprintf("%s/%s", dir, strs[i].attr);
			_cleanup_(freep) char *v = NULL;

			if (!path)
				return -ENOMEM;
			r = col_read_attr(ctx, path, &v);
			if (r == -ENOMEM)
				return r;
			if (r < 0) {
				if (col_error(section, path, r, NULL) < 0)
					return -ENOMEM;
				continue;
			}
			/* a device without a link-layer address (wireguard, tun) has an
			 * empty address file */
			if (!*v || strlen(v) > 64 || !str_is_clean_utf8(v, strlen(v)))
				continue;
			if (jsonw_set(ifc, strs[i].field, json_string(v)) < 0)
				return -ENOMEM;
		}
	}
	{
		_cleanup_(freep) char *path = mm_asprintf("%s/flags", dir), *v = NULL;
		uint64_t f64;
		json_t *arr;

		if (!path)
			return -ENOMEM;
		r = col_read_attr(ctx, path, &v);
		if (r == -ENOMEM)
			return r;
		if (r == 0 && str_to_u64(v, 0, &f64) == 0) {
			flags = (uint32_t) f64;
			if (flags_array(flags, &arr) < 0 || jsonw_set(ifc, "flags", arr) < 0)
				return -ENOMEM;
		} else if (attr_error(section, path, r) < 0) {
			return -ENOMEM;
		}
	}
	{
		_cleanup_(freep) char *path = mm_asprintf("%s/type", dir), *v = NULL;

		if (!path)
			return -ENOMEM;
		r = col_read_attr(ctx, path, &v);
		if (r == -ENOMEM)
			return r;
		if (r < 0 || str_to_uint(v, 10, &type) < 0) {
			type = 0;
			if (attr_error(section, path, r) < 0)
				return -ENOMEM;
		}
	}
	{
		_cleanup_(freep) char *path = mm_asprintf("%s/uevent", dir), *v = NULL;
		char *cursor, *line;

		if (!path)
			return -ENOMEM;
		r = col_read_file(ctx, path, LIMIT_SMALL_FILE, &v, NULL);
		if (r == -ENOMEM)
			return r;
		for (cursor = r == 0 ? v : NULL; cursor && (line = str_next_line(&cursor));) {
			const char *t = str_startswith(line, "DEVTYPE=");

			if (t && *t && strlen(t) < 32 && str_is_clean_utf8(t, strlen(t))) {
				devtype = mm_strdup(t);
				if (!devtype)
					return -ENOMEM;
			}
		}
	}
	{
		static const char *const wireless_entries[] = {"wireless", "phy80211"};
		_cleanup_(freep) char *p_dev = mm_asprintf("%s/device", dir);
		_cleanup_(freep) char *p_tun = mm_asprintf("%s/tun_flags", dir);

		if (!p_dev || !p_tun || exists(ctx, p_dev, &physical) < 0 ||
		    exists(ctx, p_tun, &tun) < 0)
			return -ENOMEM;
		for (size_t i = 0; i < ARRAY_SIZE(wireless_entries); i++) {
			_cleanup_(freep) char *p = mm_asprintf("%s/%s", dir, wireless_entries[i]);

			if (!p || exists(ctx, p, &b) < 0)
				return -ENOMEM;
			wireless = wireless || b;
		}
		if (devtype && streq(devtype, "wlan"))
			wireless = true;
	}
	if (physical) {
		_cleanup_(freep) char *path = mm_asprintf("%s/device/driver", dir), *link = NULL;

		if (!path)
			return -ENOMEM;
		r = col_readlink(ctx, path, &link);
		if (r == -ENOMEM)
			return r;
		if (r == 0) {
			const char *base = strrchr(link, '/');

			base = base ? base + 1 : link;
			if (*base && str_is_clean_utf8(base, strlen(base)) &&
			    jsonw_set(ifc, "driver", json_string(base)) < 0)
				return -ENOMEM;
		}
	}
	type_name = arphrd_name(type);
	if (type == ARPHRD_NONE_ && devtype && streq(devtype, "wireguard"))
		type_name = "wireguard";
	else if (type == ARPHRD_NONE_ && tun)
		type_name = "tun";
	else if (type == ARPHRD_NONE_ && !devtype && str_startswith(name, "wg"))
		type_name = "wireguard";
	else if (type == 1 && tun)
		type_name = "tap";
	if (jsonw_set(ifc, "type", json_integer(type)) < 0 ||
	    jsonw_set(ifc, "type_name", json_string(type_name)) < 0 ||
	    (devtype && jsonw_set(ifc, "devtype", json_string(devtype)) < 0) ||
	    jsonw_set(ifc, "wireless", json_boolean(wireless)) < 0 ||
	    jsonw_set(ifc, "physical", json_boolean(physical)) < 0 ||
	    jsonw_set(ifc, "vpn",
		      json_boolean(streq(type_name, "wireguard") || streq(type_name, "tun") ||
				   streq(type_name, "ppp"))) < 0 ||
	    jsonw_set(ifc, "loopback",
		      json_boolean(type == ARPHRD_LOOP_ || (flags & IFF_LOOPBACK_))) < 0)
		return -ENOMEM;
	*ret = TAKE_PTR(ifc);
	return 0;
}

/* An interface being read, in an array to sort by ifindex. */
struct ifc_slot {
	json_t *ifc;
};

static int cmp_ifc(const void *a, const void *b)
{
	json_t *x = ((const struct ifc_slot *) a)->ifc, *y = ((const struct ifc_slot *) b)->ifc;
	json_t *ix = json_object_get(x, "ifindex"), *iy = json_object_get(y, "ifindex");

	if (ix && iy && json_integer_value(ix) != json_integer_value(iy))
		return json_integer_value(ix) < json_integer_value(iy) ? -1 : 1;
	if (!ix != !iy)
		return ix ? -1 : 1;
	return strcmp(json_string_value(json_object_get(x, "name")),
		      json_string_value(json_object_get(y, "name")));
}

/* Fills `interfaces` from /sys/class/net, in ifindex order. */
static int read_interfaces(const struct col_ctx *ctx, json_t *section, json_t *interfaces)
{
	_cleanup_(freep) char *full = fileio_path(ctx->root, "/sys/class/net");
	_cleanup_(freep) struct ifc_slot *list = NULL;
	size_t n = 0, cap = 0;
	struct dirent *de;
	DIR *d;
	int r = 0;

	if (!full)
		return -ENOMEM;
	d = opendir(full);
	if (!d)
		return col_error(section, "/sys/class/net", -errno, NULL);
	while ((de = readdir(d))) {
		json_t *ifc;

		if (de->d_name[0] == '.')
			continue;
		if (!col_network_ip_valid_ifname(de->d_name)) {
			r = col_error(section, "/sys/class/net", 0, "odd entry skipped");
			if (r < 0)
				break;
			continue;
		}
		if (n >= LIMIT_NET_ITEMS) {
			r = report_parse(section, "/sys/class/net", -E2BIG);
			break;
		}
		r = read_interface(ctx, section, de->d_name, &ifc);
		if (r < 0)
			break;
		if (!ifc)
			continue;
		if (n == cap) {
			struct ifc_slot *nl =
				mm_reallocarray(list, cap ? cap * 2 : 16, sizeof(*nl));

			if (!nl) {
				json_decref(ifc);
				r = -ENOMEM;
				break;
			}
			list = nl;
			cap = cap ? cap * 2 : 16;
		}
		list[n++].ifc = ifc;
	}
	(void) closedir(d);
	if (r >= 0 && n > 1)
		qsort(list, n, sizeof(*list), cmp_ifc);
	for (size_t i = 0; i < n; i++)
		if (r >= 0)
			r = jsonw_append(interfaces, list[i].ifc);
		else
			json_decref(list[i].ifc);
	return r < 0 ? r : 0;
}

/* Moves the addresses of by_ifname into the interfaces; names sysfs did not show get an
 * interface of their own. */
static int merge_addresses(json_t *interfaces, json_t *by_ifname)
{
	const char *name;
	json_t *addrs;
	size_t i;
	json_t *ifc;

	json_array_foreach (interfaces, i, ifc) {
		const char *n = json_string_value(json_object_get(ifc, "name"));
		json_t *a = json_object_get(by_ifname, n);

		if (jsonw_set(ifc, "addresses", a ? json_incref(a) : json_array()) < 0)
			return -ENOMEM;
		if (a && json_object_del(by_ifname, n) < 0)
			return -ENOMEM;
	}
	json_object_foreach (by_ifname, name, addrs)
		if (jsonw_append(interfaces,
				 json_pack("{s:s, s:O}", "name", name, "addresses", addrs)) < 0)
			return -ENOMEM;
	return 0;
}

/*
 * Addresses of both families, keyed by interface, and the IPv4 ones that could not be
 * placed. Needs the routes already parsed.
 */
static int read_addresses(const struct col_ctx *ctx, json_t *section, json_t *routes,
			  const char *loopback, json_t *by_ifname, json_t *unassigned)
{
	_cleanup_(json_decrefp) json_t *fib = json_object();
	_cleanup_(freep) char *text = NULL;
	size_t i, len;
	json_t *e;
	int r;

	if (!fib)
		return -ENOMEM;
	r = col_read_file(ctx, "/proc/net/fib_trie", LIMIT_LARGE_FILE, &text, &len);
	if (r == -ENOMEM)
		return r;
	if (r < 0) {
		r = col_error(section, "/proc/net/fib_trie", r, NULL);
	} else {
		r = report_nul(section, "/proc/net/fib_trie", text, len);
		if (r >= 0)
			r = report_parse(section, "/proc/net/fib_trie",
					 col_network_ip_parse_fib_trie(text, fib));
		if (r >= 0)
			r = col_network_ip_assign_ipv4(fib, routes, loopback, by_ifname,
						       unassigned);
	}
	if (r < 0)
		return r;
	json_array_foreach (unassigned, i, e) {
		const char *a = json_string_value(json_object_get(e, "address"));

		if (col_error(section, "/proc/net/fib_trie", 0,
			      "%s: no single interface has a route for it (%zu candidates)", a,
			      json_array_size(json_object_get(e, "candidates"))) < 0)
			return -ENOMEM;
	}
	return read_parse(ctx, section, "/proc/net/if_inet6", col_network_ip_parse_if_inet6,
			  by_ifname, true);
}

/*
 * Resolves `path` inside the root the way a process chrooted there would: symlinks are
 * followed, absolute ones from the root, and ".." stops at the root, so nothing outside it
 * is ever read. *ret is the resolved absolute path (inside the root).
 */
static int chase_in_root(const struct col_ctx *ctx, const char *path, char **ret)
{
	_cleanup_(freep) char *todo = mm_strdup(path);
	struct buf done;
	unsigned hops = 0;
	int r = 0;

	if (!todo)
		return -ENOMEM;
	buf_init(&done, LIMIT_PATH);
	for (char *rest = todo; *rest && r >= 0;) {
		char *comp = rest + strspn(rest, "/");
		size_t len = strcspn(comp, "/");
		_cleanup_(freep) char *full = NULL, *link = NULL;
		size_t keep = done.len;
		struct stat st;

		rest = comp + len;
		if (len == 0 || (len == 1 && comp[0] == '.'))
			continue;
		if (len == 2 && comp[0] == '.' && comp[1] == '.') {
			char *slash = memrchr(buf_str(&done), '/', done.len);

			done.len = slash ? (size_t) (slash - done.data) : 0;
			if (done.data)
				done.data[done.len] = '\0';
			continue;
		}
		r = buf_addc(&done, '/');
		if (r >= 0)
			r = buf_add(&done, comp, len);
		if (r < 0)
			break;
		full = fileio_path(ctx->root, buf_str(&done));
		if (!full) {
			r = -ENOMEM;
			break;
		}
		if (lstat(full, &st) < 0) {
			r = -errno;
			break;
		}
		if (!S_ISLNK(st.st_mode))
			continue;
		if (++hops > MAX_LINK_HOPS) {
			r = -ELOOP;
			break;
		}
		r = col_readlink(ctx, buf_str(&done), &link);
		if (r < 0)
			break;
		{
			char *next = mm_asprintf("%s/%s", link, rest);

			if (!next) {
				r = -ENOMEM;
				break;
			}
			done.len = link[0] == '/' ? 0 : keep;
			if (done.data)
				done.data[done.len] = '\0';
			mm_free(todo);
			todo = next;
			rest = todo;
		}
	}
	if (r < 0) {
		buf_done(&done);
		return r;
	}
	if (done.len == 0 && buf_addc(&done, '/') < 0) {
		buf_done(&done);
		return -ENOMEM;
	}
	*ret = buf_take(&done, NULL);
	return *ret ? 0 : -ENOMEM;
}

/* Reads one resolv.conf-format file (following links within the root) into servers and
 * search. *ret_path is the file read. -ENOENT and other read errors are returned. */
static int read_resolv(const struct col_ctx *ctx, json_t *section, const char *path,
		       json_t *servers, json_t *search, char **ret_path)
{
	_cleanup_(freep) char *real = NULL, *text = NULL;
	size_t len;
	int r = chase_in_root(ctx, path, &real);

	if (r < 0)
		return r;
	r = col_read_file(ctx, real, LIMIT_SMALL_FILE, &text, &len);
	if (r < 0)
		return r;
	r = report_nul(section, real, text, len);
	if (r < 0)
		return r;
	r = report_parse(section, real, col_network_parse_resolv_conf(text, servers, search));
	if (r < 0)
		return r;
	*ret_path = TAKE_PTR(real);
	return 0;
}

static int read_dns(const struct col_ctx *ctx, json_t *section)
{
	_cleanup_(json_decrefp) json_t *servers = json_array(), *search = json_array();
	_cleanup_(json_decrefp) json_t *upstream = NULL, *up_search = NULL;
	_cleanup_(freep) char *real = NULL, *up_real = NULL;
	bool stub = false;
	size_t i;
	json_t *e;
	int r;

	if (!servers || !search)
		return -ENOMEM;
	r = read_resolv(ctx, section, "/etc/resolv.conf", servers, search, &real);
	if (r == -ENOMEM)
		return r;
	if (r < 0)
		return col_error(section, "/etc/resolv.conf", r, NULL);
	if (jsonw_set(section, "dns", json_incref(servers)) < 0 ||
	    jsonw_set(section, "search", json_incref(search)) < 0 ||
	    jsonw_set(section, "resolv_conf", json_string(real)) < 0)
		return -ENOMEM;
	json_array_foreach (servers, i, e) {
		const char *s = json_string_value(e);

		/* systemd-resolved's stub listeners: the real servers are elsewhere */
		if (streq(s, "127.0.0.53") || streq(s, "127.0.0.54"))
			stub = true;
	}
	if (!stub)
		return 0;
	upstream = json_array();
	up_search = json_array();
	if (!upstream || !up_search)
		return -ENOMEM;
	r = read_resolv(ctx, section, "/run/systemd/resolve/resolv.conf", upstream, up_search,
			&up_real);
	if (r == -ENOMEM)
		return r;
	if (r == -ENOENT)
		return 0;
	if (r < 0)
		return col_error(section, "/run/systemd/resolve/resolv.conf", r, NULL);
	return jsonw_set(section, "dns_upstream", json_incref(upstream));
}

int col_network_collect(const struct col_ctx *ctx, json_t *section)
{
	json_t *interfaces, *routes, *unassigned;
	_cleanup_(json_decrefp) json_t *by_ifname = json_object();
	const char *loopback = "lo";
	size_t i;
	json_t *e;
	int r;

	/* the section owns each list as soon as it exists, also on failure; jsonw_set()
	 * takes the reference even when it fails, so nothing is left unowned */
	if (jsonw_set(section, "interfaces", interfaces = json_array()) < 0 ||
	    jsonw_set(section, "routes", routes = json_array()) < 0 ||
	    jsonw_set(section, "unassigned_addresses", unassigned = json_array()) < 0 || !by_ifname)
		return -ENOMEM;
	r = read_interfaces(ctx, section, interfaces);
	if (r < 0)
		return r;
	json_array_foreach (interfaces, i, e)
		if (json_is_true(json_object_get(e, "loopback")))
			loopback = json_string_value(json_object_get(e, "name"));
	r = read_parse(ctx, section, "/proc/net/route", col_network_ip_parse_route, routes, false);
	if (r < 0)
		return r;
	r = read_parse(ctx, section, "/proc/net/ipv6_route", col_network_ip_parse_ipv6_route,
		       routes, true);
	if (r < 0)
		return r;
	r = read_addresses(ctx, section, routes, loopback, by_ifname, unassigned);
	if (r < 0)
		return r;
	r = merge_addresses(interfaces, by_ifname);
	if (r < 0)
		return r;
	r = read_dns(ctx, section);
	if (r < 0)
		return r;
	return col_network_sockets_collect(ctx, section);
}
