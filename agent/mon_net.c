/*
 * Network changes: "net.wifi_join", "net.vpn_up", "net.vpn_down", "net.route_change" and
 * "net.dns_change" events (docs/events.md), for the guideline's questions "which networks
 * did this laptop join, was the VPN on, where did its traffic go".
 *
 * Sources:
 *   - rtnetlink (RTMGRP_LINK, RTMGRP_IPV4_ROUTE, RTMGRP_IPV6_ROUTE): links and routes.
 *     The state at start comes from a dump on a second socket, so only changes are
 *     reported: a VPN link (tun, WireGuard, PPP, IPsec) going up or down, appearing up or
 *     vanishing; a default route (0/0, or the 0/1 + 128/1 pair full-tunnel VPNs install)
 *     added or removed in the main table. Datagrams are accepted from the kernel only.
 *   - resolv.conf: an inotify watch on its directory (and on its target's, when it is a
 *     symlink into /run, as with systemd-resolved and NetworkManager); the servers and
 *     search domains are compared with the last ones seen.
 *   - Wi-Fi: NetworkManager over D-Bus (sd-bus): a change of a wireless device's
 *     ActiveAccessPoint asks for that access point's properties (asynchronously, so the
 *     loop never waits on the bus); or, without NetworkManager, wpa_supplicant's control
 *     sockets: ATTACH, then STATUS on each CTRL-EVENT-CONNECTED. What either reports is
 *     decoded by mon_net_nm_security() and mon_net_parse_wpa_status(), which are tested on
 *     captured data since these machines have no Wi-Fi.
 *
 * The monitor's fd is an epoll set over all of these.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <linux/if_arp.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <arpa/inet.h>
#include <dirent.h>
#include <stdio.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/inotify.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <systemd/sd-bus.h>

#include "agent/agent.h"
#include "agent/monitors.h"
#include "lib/fileio.h"
#include "lib/jsonw.h"
#include "lib/log.h"
#include "lib/mm.h"
#include "lib/str.h"

#define TAG_RTNL    1
#define TAG_INOTIFY 2
#define TAG_BUS     3
#define TAG_WPA     4 /* + index */
#define MAX_WPA     8
#define RECV_BUF    ((size_t) 32 * 1024)
/* Links and default routes remembered: a laptop has a handful of each; past these, new
 * ones are not tracked (their changes not reported) rather than memory spent on them. */
#define KEEP_LINKS  1024
#define KEEP_ROUTES 64

#ifndef IFLA_INFO_KIND
#define IFLA_INFO_KIND 1
#endif

/* NetworkManager's NM80211ApFlags and NM80211ApSecurityFlags */
#define NM_AP_PRIVACY      0x1u
#define NM_SEC_PSK         0x100u
#define NM_SEC_8021X       0x200u
#define NM_SEC_SAE         0x400u
#define NM_SEC_OWE         0x800u
#define NM_SEC_OWE_TM      0x1000u
#define NM_SEC_SUITE_B_192 0x2000u

struct link_state {
	int index;
	char name[16];
	char kind[32];
	unsigned type;
	bool up;
};

struct route_state {
	struct mon_net_route r;
};

struct wpa_ctrl {
	int fd;
	char iface[64];
};

struct net_mon {
	struct monitor m;
	int rtnl_fd, ino_fd;
	bool enabled;
	struct link_state *links;
	size_t n_links;
	struct route_state *routes;
	size_t n_routes;
	char *resolv;
	char *resolv_target; /* where the symlink points, or NULL */
	int wd_resolv, wd_target;
	json_t *dns; /* {"servers": [...], "search": [...]} last seen */
	sd_bus *bus;
	sd_bus_slot *match;
	uint32_t bus_events;
	struct wpa_ctrl wpa[MAX_WPA];
	size_t n_wpa;
	struct mon_sink *sink;
	bool learning; /* reading the initial dump: no events */
};

/* ---- rtnetlink parsing ---- */

struct attr {
	unsigned type;
	const unsigned char *data;
	size_t len;
};

/* Iterates rtattrs in [p, p + len). Returns 1 with *a, 0 at the end, -EBADMSG. */
static int next_attr(const unsigned char **p, size_t *len, struct attr *a)
{
	struct rtattr rta;
	size_t step;

	if (*len == 0)
		return 0;
	if (*len < sizeof(rta))
		return -EBADMSG;
	memcpy(&rta, *p, sizeof(rta));
	if (rta.rta_len < sizeof(rta) || rta.rta_len > *len)
		return -EBADMSG;
	a->type = rta.rta_type & NLA_TYPE_MASK;
	a->data = *p + RTA_LENGTH(0);
	a->len = rta.rta_len - RTA_LENGTH(0);
	step = RTA_ALIGN(rta.rta_len);
	if (step > *len)
		step = *len;
	*p += step;
	*len -= step;
	return 1;
}

static void attr_string(const struct attr *a, char *out, size_t size)
{
	size_t n = strnlen((const char *) a->data, a->len);

	if (n >= size)
		n = size - 1;
	memcpy(out, a->data, n);
	out[n] = '\0';
}

static bool attr_u32(const struct attr *a, uint32_t *ret)
{
	if (a->len < 4)
		return false;
	memcpy(ret, a->data, 4);
	return true;
}

static int parse_link(const unsigned char *p, size_t len, bool deleted, struct mon_net_link *l)
{
	struct ifinfomsg ifi;
	struct attr a;
	int r;

	if (len < NLMSG_ALIGN(sizeof(ifi)))
		return -EBADMSG;
	memcpy(&ifi, p, sizeof(ifi));
	*l = (struct mon_net_link){.index = ifi.ifi_index,
				   .type = ifi.ifi_type,
				   .flags = ifi.ifi_flags,
				   .deleted = deleted};
	p += NLMSG_ALIGN(sizeof(ifi));
	len -= NLMSG_ALIGN(sizeof(ifi));
	while ((r = next_attr(&p, &len, &a)) > 0) {
		if (a.type == IFLA_IFNAME) {
			attr_string(&a, l->name, sizeof(l->name));
		} else if (a.type == IFLA_LINKINFO) {
			const unsigned char *q = a.data;
			size_t qlen = a.len;
			struct attr b;

			while ((r = next_attr(&q, &qlen, &b)) > 0)
				if (b.type == IFLA_INFO_KIND)
					attr_string(&b, l->kind, sizeof(l->kind));
			if (r < 0)
				return r;
		}
	}
	return r;
}

static void addr_text(int family, const struct attr *a, char *out, size_t size)
{
	if ((family == AF_INET && a->len == 4) || (family == AF_INET6 && a->len == 16))
		(void) inet_ntop(family, a->data, out, (socklen_t) size);
}

static int parse_route(const unsigned char *p, size_t len, bool deleted, struct mon_net_route *rt)
{
	struct rtmsg rtm;
	struct attr a;
	uint32_t v;
	int r;

	if (len < NLMSG_ALIGN(sizeof(rtm)))
		return -EBADMSG;
	memcpy(&rtm, p, sizeof(rtm));
	*rt = (struct mon_net_route){.family = rtm.rtm_family,
				     .table = rtm.rtm_table,
				     .dst_len = rtm.rtm_dst_len,
				     .deleted = deleted};
	if (rtm.rtm_type != RTN_UNICAST || (rtm.rtm_flags & RTM_F_CLONED))
		rt->table = 0; /* not a route anyone configured: filtered out by the caller */
	p += NLMSG_ALIGN(sizeof(rtm));
	len -= NLMSG_ALIGN(sizeof(rtm));
	while ((r = next_attr(&p, &len, &a)) > 0) {
		switch (a.type) {
		case RTA_TABLE:
			if (attr_u32(&a, &v) && rt->table != 0)
				rt->table = v;
			break;
		case RTA_OIF:
			if (attr_u32(&a, &v))
				rt->oif = (int) v;
			break;
		case RTA_PRIORITY:
			if (attr_u32(&a, &v))
				rt->metric = v;
			break;
		case RTA_GATEWAY:
			addr_text(rtm.rtm_family, &a, rt->gateway, sizeof(rt->gateway));
			break;
		case RTA_DST:
			addr_text(rtm.rtm_family, &a, rt->dst, sizeof(rt->dst));
			break;
		default:
			break;
		}
	}
	if (!rt->dst[0])
		(void) snprintf(rt->dst, sizeof(rt->dst), "%s",
				rt->family == AF_INET6 ? "::" : "0.0.0.0");
	return r;
}

int mon_net_parse_rtnl(const void *buf, size_t len, mon_net_fn fn, void *userdata)
{
	const unsigned char *p = buf;
	int n = 0, r;

	while (len > 0) {
		struct nlmsghdr nh;
		const unsigned char *body;
		size_t blen, step;
		struct mon_net_link link;
		struct mon_net_route route;

		if (len < sizeof(nh))
			return -EBADMSG;
		memcpy(&nh, p, sizeof(nh));
		if (nh.nlmsg_len < NLMSG_HDRLEN || nh.nlmsg_len > len)
			return -EBADMSG;
		body = p + NLMSG_HDRLEN;
		blen = nh.nlmsg_len - NLMSG_HDRLEN;
		step = NLMSG_ALIGN(nh.nlmsg_len);
		if (step > len)
			step = len;
		r = 0;
		switch (nh.nlmsg_type) {
		case RTM_NEWLINK:
		case RTM_DELLINK:
			r = parse_link(body, blen, nh.nlmsg_type == RTM_DELLINK, &link);
			if (r >= 0 && fn)
				r = fn(MON_NET_MSG_LINK, &link, NULL, userdata);
			break;
		case RTM_NEWROUTE:
		case RTM_DELROUTE:
			r = parse_route(body, blen, nh.nlmsg_type == RTM_DELROUTE, &route);
			if (r >= 0 && fn)
				r = fn(MON_NET_MSG_ROUTE, NULL, &route, userdata);
			break;
		case NLMSG_DONE:
			if (fn)
				r = fn(MON_NET_MSG_DONE, NULL, NULL, userdata);
			break;
		case NLMSG_ERROR: {
			int32_t err;

			if (blen < sizeof(err))
				return -EBADMSG;
			memcpy(&err, body, sizeof(err));
			link = (struct mon_net_link){.index = err};
			if (fn)
				r = fn(MON_NET_MSG_ERROR, &link, NULL, userdata);
			break;
		}
		default:
			if (fn)
				r = fn(MON_NET_MSG_OTHER, NULL, NULL, userdata);
			break;
		}
		if (r < 0)
			return r;
		n++;
		p += step;
		len -= step;
	}
	return n;
}

bool mon_net_link_is_vpn(const struct mon_net_link *l)
{
	static const char *const kinds[] = {"tun",  "wireguard", "ppp",  "xfrm",     "vti",
					    "vti6", "ipsec",     "l2tp", "amneziawg"};

	for (size_t i = 0; i < ARRAY_SIZE(kinds); i++)
		if (streq(l->kind, kinds[i]))
			return true;
	/* a tun device reports no kind before Linux 3.x and PPP never does */
	if (l->type == ARPHRD_PPP)
		return true;
	if (l->type == ARPHRD_NONE && !l->kind[0])
		return str_startswith(l->name, "tun") || str_startswith(l->name, "wg") ||
		       str_startswith(l->name, "utun");
	return false;
}

/* ---- Wi-Fi parsing ---- */

const char *mon_net_nm_security(uint32_t flags, uint32_t wpa_flags, uint32_t rsn_flags)
{
	uint32_t both = wpa_flags | rsn_flags;

	if (!wpa_flags && !rsn_flags)
		return (flags & NM_AP_PRIVACY) ? "wep" : "open";
	if (rsn_flags & NM_SEC_SUITE_B_192)
		return "wpa3-enterprise";
	if (both & NM_SEC_8021X)
		return rsn_flags ? "wpa2-enterprise" : "wpa-enterprise";
	if (rsn_flags & NM_SEC_SAE)
		return (rsn_flags & NM_SEC_PSK) ? "wpa2-wpa3" : "wpa3";
	if (rsn_flags & (NM_SEC_OWE | NM_SEC_OWE_TM))
		return "owe";
	if (rsn_flags & NM_SEC_PSK)
		return "wpa2";
	if (wpa_flags & NM_SEC_PSK)
		return "wpa";
	return "unknown";
}

static const char *wpa_key_mgmt_class(const char *km, const char *pairwise, const char *group)
{
	static const struct {
		const char *km, *cls;
	} table[] = {
		{"WPA2-PSK", "wpa2"},
		{"WPA2-PSK-SHA256", "wpa2"},
		{"FT-PSK", "wpa2"},
		{"WPA-PSK", "wpa"},
		{"SAE", "wpa3"},
		{"FT-SAE", "wpa3"},
		{"SAE-EXT-KEY", "wpa3"},
		{"FT-SAE-EXT-KEY", "wpa3"},
		{"OWE", "owe"},
		{"WPA2/IEEE 802.1X/EAP", "wpa2-enterprise"},
		{"FT/IEEE 802.1X/EAP", "wpa2-enterprise"},
		{"WPA2-EAP-SHA256", "wpa2-enterprise"},
		{"WPA/IEEE 802.1X/EAP", "wpa-enterprise"},
		{"802.1X-SUITE-B-192", "wpa3-enterprise"},
		{"WPA2-EAP-SUITE-B-192", "wpa3-enterprise"},
		{"IEEE 802.1X (no WPA)", "wep"},
	};

	if (!km || streq(km, "NONE"))
		return (pairwise && str_startswith(pairwise, "WEP")) ||
				       (group && str_startswith(group, "WEP"))
			       ? "wep"
			       : "open";
	for (size_t i = 0; i < ARRAY_SIZE(table); i++)
		if (streq(km, table[i].km))
			return table[i].cls;
	return "unknown";
}

int mon_net_parse_wpa_status(char *text, struct mon_wifi *ret)
{
	char *cursor = text, *line;
	const char *state = NULL, *km = NULL, *pairwise = NULL, *group = NULL;
	struct mon_wifi w = {0};

	while ((line = str_next_line(&cursor))) {
		char *eq = strchr(line, '=');
		const char *v;

		if (!eq)
			continue;
		*eq = '\0';
		v = eq + 1;
		if (streq(line, "wpa_state")) {
			state = v;
		} else if (streq(line, "ssid")) {
			w.ssid_len = MIN(strlen(v), sizeof(w.ssid) - 1);
			memcpy(w.ssid, v, w.ssid_len);
			w.ssid[w.ssid_len] = '\0';
		} else if (streq(line, "bssid")) {
			if (strlen(v) == 17)
				memcpy(w.bssid, v, 18);
		} else if (streq(line, "key_mgmt")) {
			km = v;
		} else if (streq(line, "pairwise_cipher")) {
			pairwise = v;
		} else if (streq(line, "group_cipher")) {
			group = v;
		} else if (streq(line, "freq")) {
			unsigned f;

			if (str_to_uint(v, 10, &f) == 0 && f < 100000)
				w.frequency = f;
		}
	}
	if (!state)
		return -EBADMSG;
	if (!streq(state, "COMPLETED"))
		return 0;
	w.security = wpa_key_mgmt_class(km, pairwise, group);
	*ret = w;
	return 1;
}

/* ---- the monitor ---- */

static struct net_mon *to_net(struct monitor *m)
{
	return (struct net_mon *) m;
}

static int emit(struct net_mon *n, const char *type, json_t *data)
{
	int r;

	if (!data) {
		log_warning("(M1231) network monitor: out of memory, an event was lost");
		return -ENOMEM;
	}
	r = n->enabled && !n->learning && n->sink ? n->sink->emit(n->sink, type, data) : 0;
	json_decref(data);
	return r == -ENOSPC ? 0 : r;
}

static struct link_state *link_find(struct net_mon *n, int index)
{
	for (size_t i = 0; i < n->n_links; i++)
		if (n->links[i].index == index)
			return &n->links[i];
	return NULL;
}

static const char *ifname(struct net_mon *n, int index)
{
	struct link_state *l = link_find(n, index);

	return l ? l->name : "";
}

static json_t *vpn_json(const struct link_state *l)
{
	return json_pack("{s:s, s:s, s:i}", "interface", l->name, "kind",
			 l->kind[0] ? l->kind : (l->type == ARPHRD_PPP ? "ppp" : "unknown"),
			 "index", l->index);
}

static void on_link(struct net_mon *n, const struct mon_net_link *ml)
{
	struct link_state *l = link_find(n, ml->index);
	struct mon_net_link merged = *ml;
	bool up = (ml->flags & IFF_UP) != 0, was_up = false;

	if (l && !merged.kind[0]) /* keep what an earlier message said */
		memcpy(merged.kind, l->kind, sizeof(merged.kind));
	if (ml->deleted) {
		if (l) {
			if (l->up && mon_net_link_is_vpn(&merged))
				(void) emit(n, "net.vpn_down", vpn_json(l));
			*l = n->links[--n->n_links];
		}
		return;
	}
	if (!l) {
		if (n->n_links >= KEEP_LINKS)
			return;
		l = &n->links[n->n_links++];
	} else {
		was_up = l->up;
	}
	*l = (struct link_state){.index = ml->index, .type = ml->type, .up = up};
	memcpy(l->name, merged.name, sizeof(l->name));
	memcpy(l->kind, merged.kind, sizeof(l->kind));
	if (up != was_up && mon_net_link_is_vpn(&merged))
		(void) emit(n, up ? "net.vpn_up" : "net.vpn_down", vpn_json(l));
}

/* Whether a route is a default one as VPNs and DHCP set them: 0/0, or 0/1 and 128/1. */
static bool default_like(const struct mon_net_route *r)
{
	return r->table == RT_TABLE_MAIN && r->dst_len <= 1;
}

static bool route_eq(const struct mon_net_route *a, const struct mon_net_route *b)
{
	return a->family == b->family && a->dst_len == b->dst_len && a->oif == b->oif &&
	       a->metric == b->metric && streq(a->gateway, b->gateway) && streq(a->dst, b->dst);
}

static void on_route(struct net_mon *n, const struct mon_net_route *r)
{
	size_t i;
	const char *dev;
	struct link_state *l;
	json_t *d;

	if (!default_like(r))
		return;
	for (i = 0; i < n->n_routes; i++)
		if (route_eq(&n->routes[i].r, r))
			break;
	if (r->deleted) {
		if (i == n->n_routes)
			return;
		n->routes[i] = n->routes[--n->n_routes];
	} else {
		if (i < n->n_routes || n->n_routes >= KEEP_ROUTES)
			return;
		n->routes[n->n_routes++].r = *r;
	}
	dev = ifname(n, r->oif);
	l = link_find(n, r->oif);
	d = json_pack("{s:s, s:s, s:s, s:i}", "action", r->deleted ? "removed" : "added", "family",
		      r->family == AF_INET6 ? "ipv6" : "ipv4", "destination", r->dst,
		      "prefix_length", (int) r->dst_len);
	if (d && ((r->gateway[0] && jsonw_set(d, "gateway", json_string(r->gateway)) < 0) ||
		  (dev[0] && jsonw_set(d, "interface", json_string(dev)) < 0) ||
		  jsonw_set(d, "metric", json_integer(r->metric)) < 0)) {
		json_decref(d);
		d = NULL;
	}
	if (d && l) {
		struct mon_net_link ml = {.type = l->type};

		memcpy(ml.name, l->name, sizeof(ml.name));
		memcpy(ml.kind, l->kind, sizeof(ml.kind));
		if (mon_net_link_is_vpn(&ml) && jsonw_set(d, "vpn", json_true()) < 0) {
			json_decref(d);
			d = NULL;
		}
	}
	(void) emit(n, "net.route_change", d);
}

static int on_rtnl(enum mon_net_msg_kind kind, const struct mon_net_link *link,
		   const struct mon_net_route *route, void *userdata)
{
	struct net_mon *n = userdata;

	if (kind == MON_NET_MSG_LINK)
		on_link(n, link);
	else if (kind == MON_NET_MSG_ROUTE)
		on_route(n, route);
	return 0;
}

/* Dumps links then routes into the state, without events. */
static int learn(struct net_mon *n)
{
	static const uint16_t kinds[] = {RTM_GETLINK, RTM_GETROUTE};
	_cleanup_(closep) int fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE);
	_cleanup_(freep) unsigned char *buf = mm_malloc(RECV_BUF);
	int r = 0;

	if (fd < 0)
		return -errno;
	if (!buf)
		return -ENOMEM;
	n->learning = true;
	for (size_t k = 0; k < ARRAY_SIZE(kinds) && r >= 0; k++) {
		struct {
			struct nlmsghdr nh;
			struct rtgenmsg g;
		} req = {.nh = {.nlmsg_len = sizeof(req),
				.nlmsg_type = kinds[k],
				.nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP,
				.nlmsg_seq = (uint32_t) k + 1},
			 .g = {.rtgen_family = AF_UNSPEC}};
		bool done = false;

		if (send(fd, &req, sizeof(req), 0) < 0) {
			r = -errno;
			break;
		}
		while (!done) {
			ssize_t len = recv(fd, buf, RECV_BUF, 0);
			const unsigned char *p = buf;
			size_t left;

			if (len < 0 && errno == EINTR)
				continue;
			if (len <= 0) {
				r = len < 0 ? -errno : -EIO;
				break;
			}
			/* NLMSG_DONE ends the dump: look for it before handing the rest on */
			for (left = (size_t) len; left >= sizeof(struct nlmsghdr);) {
				struct nlmsghdr nh;

				memcpy(&nh, p, sizeof(nh));
				if (nh.nlmsg_type == NLMSG_DONE || nh.nlmsg_type == NLMSG_ERROR)
					done = true;
				if (nh.nlmsg_len < sizeof(nh) || NLMSG_ALIGN(nh.nlmsg_len) >= left)
					break;
				p += NLMSG_ALIGN(nh.nlmsg_len);
				left -= NLMSG_ALIGN(nh.nlmsg_len);
			}
			if (mon_net_parse_rtnl(buf, (size_t) len, on_rtnl, n) < 0)
				done = true;
		}
	}
	n->learning = false;
	return r;
}

static void drain_rtnl(struct net_mon *n)
{
	_cleanup_(freep) unsigned char *buf = mm_malloc(RECV_BUF);

	if (!buf)
		return;
	for (;;) {
		struct sockaddr_nl from = {0};
		struct iovec iov = {.iov_base = buf, .iov_len = RECV_BUF};
		struct msghdr mh = {.msg_name = &from,
				    .msg_namelen = sizeof(from),
				    .msg_iov = &iov,
				    .msg_iovlen = 1};
		ssize_t len = recvmsg(n->rtnl_fd, &mh, MSG_DONTWAIT);

		if (len < 0 && errno == EINTR)
			continue;
		if (len < 0 && errno == ENOBUFS) {
			/* lost changes: what we hold may be stale, so learn it again quietly */
			(void) emit(n, "monitor.overflow",
				    json_pack("{s:s, s:s}", "monitor", "net", "reason",
					      "socket buffer full"));
			n->n_links = n->n_routes = 0;
			(void) learn(n);
			continue;
		}
		if (len <= 0)
			return;
		if (from.nl_pid != 0 || (mh.msg_flags & MSG_TRUNC))
			continue;
		(void) !mon_net_parse_rtnl(buf, (size_t) len, on_rtnl, n);
	}
}

/* ---- DNS ---- */

static json_t *read_dns(struct net_mon *n)
{
	_cleanup_(freep) char *text = NULL;
	json_t *servers = json_array(), *search = json_array();
	json_t *d;

	if (servers && search && fileio_read(NULL, n->resolv, LIMIT_SMALL_FILE, &text, NULL) == 0)
		(void) !col_network_parse_resolv_conf(text, servers, search);
	d = json_pack("{s:o, s:o}", "servers", servers, "search", search);
	return d;
}

/* Watches resolv.conf's directory, and its target's when it is a symlink. */
static void watch_resolv(struct net_mon *n)
{
	_cleanup_(freep) char *dir = mm_strdup(n->resolv), *target = NULL;
	char *slash;

	if (!dir || !(slash = strrchr(dir, '/')))
		return;
	*(slash == dir ? slash + 1 : slash) = '\0';
	n->wd_resolv = inotify_add_watch(n->ino_fd, dir,
					 IN_CLOSE_WRITE | IN_MOVED_TO | IN_CREATE | IN_DELETE |
						 IN_MODIFY | IN_ONLYDIR);
	if (n->wd_target >= 0) {
		(void) inotify_rm_watch(n->ino_fd, n->wd_target);
		n->wd_target = -1;
	}
	mm_free(n->resolv_target);
	n->resolv_target = NULL;
	target = realpath(n->resolv, NULL); /* checksrc: allow (libc allocates; freed below) */
	if (target && !streq(target, n->resolv)) {
		char *tdir = mm_strdup(target), *ts;

		if (tdir && (ts = strrchr(tdir, '/'))) {
			*(ts == tdir ? ts + 1 : ts) = '\0';
			n->wd_target = inotify_add_watch(n->ino_fd, tdir,
							 IN_CLOSE_WRITE | IN_MOVED_TO | IN_CREATE |
								 IN_MODIFY | IN_ONLYDIR);
			n->resolv_target = mm_strdup(target);
		}
		mm_free(tdir);
	}
	free(target); /* checksrc: allow (from realpath) */
	target = NULL;
}

static void check_dns(struct net_mon *n)
{
	json_t *now = read_dns(n), *d;

	if (!now)
		return;
	if (n->dns && json_equal(now, n->dns)) {
		json_decref(now);
		return;
	}
	d = json_pack("{s:O, s:O}", "servers", json_object_get(now, "servers"), "search",
		      json_object_get(now, "search"));
	if (d && n->dns &&
	    (jsonw_set(d, "previous_servers", json_incref(json_object_get(n->dns, "servers"))) <
		     0 ||
	     jsonw_set(d, "previous_search", json_incref(json_object_get(n->dns, "search"))) < 0)) {
		json_decref(d);
		d = NULL;
	}
	json_decref(n->dns);
	n->dns = now;
	(void) emit(n, "net.dns_change", d);
}

static void drain_inotify(struct net_mon *n)
{
	union {
		struct inotify_event ev;
		char raw[4096];
	} u;
	bool changed = false, relink = false;
	const char *base = strrchr(n->resolv, '/') + 1;

	for (;;) {
		ssize_t len = read(n->ino_fd, u.raw, sizeof(u.raw));

		if (len < 0 && errno == EINTR)
			continue;
		if (len <= 0)
			break;
		for (ssize_t off = 0; off + (ssize_t) sizeof(struct inotify_event) <= len;) {
			struct inotify_event ev;
			const char *name = u.raw + off + sizeof(ev); /* NUL-padded by the kernel */
			const char *tbase =
				n->resolv_target ? strrchr(n->resolv_target, '/') + 1 : "";

			memcpy(&ev, u.raw + off, sizeof(ev));
			if (off + (ssize_t) sizeof(ev) + ev.len > len)
				break;
			if (ev.len && ev.wd == n->wd_resolv && streq(name, base)) {
				changed = true;
				relink = true; /* the link itself may point elsewhere now */
			} else if (ev.len && ev.wd == n->wd_target && streq(name, tbase)) {
				changed = true;
			}
			if (ev.mask & IN_Q_OVERFLOW)
				changed = relink = true;
			off += (ssize_t) sizeof(ev) + ev.len;
		}
	}
	if (relink)
		watch_resolv(n);
	if (changed)
		check_dns(n);
}

/* ---- Wi-Fi ---- */

/* Whether a VPN link is up now, as far as the links learnt and followed tell. */
static bool vpn_is_up(struct net_mon *n)
{
	for (size_t i = 0; i < n->n_links; i++) {
		struct mon_net_link ml = {.type = n->links[i].type};

		memcpy(ml.name, n->links[i].name, sizeof(ml.name));
		memcpy(ml.kind, n->links[i].kind, sizeof(ml.kind));
		if (n->links[i].up && mon_net_link_is_vpn(&ml))
			return true;
	}
	return false;
}

/*
 * A join, with whether a VPN was up at that moment ("vpn"): the server cannot know that
 * from net.vpn_up events alone when the VPN came up before the agent started (the state
 * learnt at start is not reported).
 */
static void emit_wifi(struct net_mon *n, const struct mon_wifi *w, const char *iface,
		      const char *source)
{
	json_t *d = json_pack("{s:o, s:s, s:b, s:b, s:s}", "ssid",
			      col_json_text(w->ssid, w->ssid_len), "security", w->security, "open",
			      streq(w->security, "open"), "vpn", vpn_is_up(n), "source", source);

	if (d && ((w->bssid[0] && jsonw_set(d, "bssid", json_string(w->bssid)) < 0) ||
		  (iface && iface[0] && jsonw_set(d, "interface", json_string(iface)) < 0) ||
		  (w->frequency && jsonw_set(d, "frequency", json_integer(w->frequency)) < 0))) {
		json_decref(d);
		d = NULL;
	}
	(void) emit(n, "net.wifi_join", d);
}

/* The answer to GetAll on an AccessPoint. */
static int on_ap_props(sd_bus_message *m, void *userdata, sd_bus_error *err)
{
	struct net_mon *n = userdata;
	struct mon_wifi w = {0};
	uint32_t flags = 0, wpa = 0, rsn = 0;
	int r;

	(void) err;
	if (sd_bus_message_is_method_error(m, NULL))
		return 0;
	r = sd_bus_message_enter_container(m, 'a', "{sv}");
	while (r > 0 && (r = sd_bus_message_enter_container(m, 'e', "sv")) > 0) {
		const char *name;

		if (sd_bus_message_read(m, "s", &name) < 0)
			return 0;
		if (streq(name, "Ssid")) {
			const void *ssid;
			size_t len;

			if (sd_bus_message_enter_container(m, 'v', "ay") < 0 ||
			    sd_bus_message_read_array(m, 'y', &ssid, &len) < 0 ||
			    sd_bus_message_exit_container(m) < 0)
				return 0;
			w.ssid_len = MIN(len, (size_t) 32);
			memcpy(w.ssid, ssid, w.ssid_len);
		} else if (streq(name, "HwAddress")) {
			const char *s;

			if (sd_bus_message_read(m, "v", "s", &s) < 0)
				return 0;
			if (strlen(s) == 17)
				memcpy(w.bssid, s, 18);
		} else if (streq(name, "Flags") || streq(name, "WpaFlags") ||
			   streq(name, "RsnFlags") || streq(name, "Frequency")) {
			uint32_t v;

			if (sd_bus_message_read(m, "v", "u", &v) < 0)
				return 0;
			if (streq(name, "Flags"))
				flags = v;
			else if (streq(name, "WpaFlags"))
				wpa = v;
			else if (streq(name, "RsnFlags"))
				rsn = v;
			else
				w.frequency = v;
		} else if (sd_bus_message_skip(m, "v") < 0) {
			return 0;
		}
		if (sd_bus_message_exit_container(m) < 0)
			return 0;
	}
	w.security = mon_net_nm_security(flags, wpa, rsn);
	emit_wifi(n, &w, NULL, "networkmanager");
	return 0;
}

/* PropertiesChanged on a device: a new ActiveAccessPoint is a join. */
static int on_props_changed(sd_bus_message *m, void *userdata, sd_bus_error *err)
{
	struct net_mon *n = userdata;
	const char *iface, *ap = NULL;
	int r;

	(void) err;
	if (sd_bus_message_read(m, "s", &iface) < 0 ||
	    !streq(iface, "org.freedesktop.NetworkManager.Device.Wireless"))
		return 0;
	r = sd_bus_message_enter_container(m, 'a', "{sv}");
	while (r > 0 && (r = sd_bus_message_enter_container(m, 'e', "sv")) > 0) {
		const char *name;

		if (sd_bus_message_read(m, "s", &name) < 0)
			return 0;
		if (streq(name, "ActiveAccessPoint")) {
			if (sd_bus_message_read(m, "v", "o", &ap) < 0)
				return 0;
		} else if (sd_bus_message_skip(m, "v") < 0) {
			return 0;
		}
		if (sd_bus_message_exit_container(m) < 0)
			return 0;
	}
	if (!ap || streq(ap, "/"))
		return 0;
	(void) sd_bus_call_method_async(n->bus, NULL, sd_bus_message_get_sender(m), ap,
					"org.freedesktop.DBus.Properties", "GetAll", on_ap_props, n,
					"s", "org.freedesktop.NetworkManager.AccessPoint");
	return 0;
}

static void bus_update_events(struct net_mon *n)
{
	struct epoll_event ev = {.data.u32 = TAG_BUS};
	int e = sd_bus_get_events(n->bus);

	if (e < 0)
		return;
	ev.events = ((e & POLLIN) ? EPOLLIN : 0) | ((e & POLLOUT) ? EPOLLOUT : 0);
	if (ev.events != n->bus_events &&
	    epoll_ctl(n->m.fd, EPOLL_CTL_MOD, sd_bus_get_fd(n->bus), &ev) == 0)
		n->bus_events = ev.events;
}

static void drain_bus(struct net_mon *n)
{
	while (sd_bus_process(n->bus, NULL) > 0)
		;
	bus_update_events(n);
}

static int open_bus(struct net_mon *n, const char *address)
{
	struct epoll_event ev = {.events = EPOLLIN, .data.u32 = TAG_BUS};
	int r;

	if (address) {
		r = sd_bus_new(&n->bus);
		if (r >= 0)
			r = sd_bus_set_address(n->bus, address);
		if (r >= 0)
			r = sd_bus_set_bus_client(n->bus, 1);
		if (r >= 0)
			r = sd_bus_start(n->bus);
	} else {
		r = sd_bus_open_system(&n->bus);
	}
	if (r >= 0)
		r = sd_bus_add_match(n->bus, &n->match,
				     "type='signal',interface='org.freedesktop.DBus.Properties',"
				     "member='PropertiesChanged',"
				     "arg0='org.freedesktop.NetworkManager.Device.Wireless'",
				     on_props_changed, n);
	if (r < 0) {
		n->match = sd_bus_slot_unref(n->match);
		n->bus = sd_bus_flush_close_unref(n->bus);
		return r;
	}
	if (epoll_ctl(n->m.fd, EPOLL_CTL_ADD, sd_bus_get_fd(n->bus), &ev) < 0)
		return -errno;
	n->bus_events = EPOLLIN;
	bus_update_events(n);
	return 0;
}

/* Attaches to every wpa_supplicant control socket in dir. */
static void open_wpa(struct net_mon *n, const char *dir)
{
	_cleanup_(fileio_strv_freep) char **names = NULL;

	if (fileio_list_dir(NULL, dir, 64, &names) < 0)
		return;
	for (char **p = names; *p && n->n_wpa < MAX_WPA; p++) {
		struct sockaddr_un sa = {.sun_family = AF_UNIX};
		struct sockaddr_un self = {.sun_family = AF_UNIX};
		struct epoll_event ev = {.events = EPOLLIN};
		struct stat st;
		int fd;

		if (snprintf(sa.sun_path, sizeof(sa.sun_path), "%s/%s", dir, *p) >=
			    (int) sizeof(sa.sun_path) ||
		    stat(sa.sun_path, &st) < 0 || !S_ISSOCK(st.st_mode))
			continue;
		fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
		if (fd < 0)
			continue;
		/* autobind to an abstract address, so the supplicant can answer */
		if (bind(fd, (struct sockaddr *) &self, sizeof(sa_family_t)) < 0 ||
		    connect(fd, (struct sockaddr *) &sa, sizeof(sa)) < 0 ||
		    send(fd, "ATTACH", 6, 0) != 6) {
			(void) close(fd);
			continue;
		}
		ev.data.u32 = TAG_WPA + (uint32_t) n->n_wpa;
		if (epoll_ctl(n->m.fd, EPOLL_CTL_ADD, fd, &ev) < 0) {
			(void) close(fd);
			continue;
		}
		n->wpa[n->n_wpa].fd = fd;
		(void) snprintf(n->wpa[n->n_wpa].iface, sizeof(n->wpa[0].iface), "%s", *p);
		n->n_wpa++;
	}
}

static void drain_wpa(struct net_mon *n, struct wpa_ctrl *w)
{
	char buf[4096];

	for (;;) {
		ssize_t len = recv(w->fd, buf, sizeof(buf) - 1, 0);
		struct mon_wifi wifi;

		if (len < 0 && errno == EINTR)
			continue;
		if (len <= 0)
			return;
		buf[len] = '\0';
		if (buf[0] == '<') {
			/* "<3>CTRL-EVENT-CONNECTED - Connection to … completed": ask what */
			char *gt = strchr(buf, '>');

			if (gt && str_startswith(gt + 1, "CTRL-EVENT-CONNECTED"))
				(void) !send(w->fd, "STATUS", 6, 0);
		} else if (mon_net_parse_wpa_status(buf, &wifi) > 0) {
			emit_wifi(n, &wifi, w->iface, "wpa_supplicant");
		}
	}
}

static int dispatch(struct monitor *m, struct mon_sink *sink)
{
	struct net_mon *n = to_net(m);
	struct epoll_event evs[8];
	int k;

	n->sink = sink;
	k = epoll_wait(m->fd, evs, (int) ARRAY_SIZE(evs), 0);
	for (int i = 0; i < k; i++) {
		uint32_t tag = evs[i].data.u32;

		if (tag == TAG_RTNL)
			drain_rtnl(n);
		else if (tag == TAG_INOTIFY)
			drain_inotify(n);
		else if (tag == TAG_BUS)
			drain_bus(n);
		else if (tag >= TAG_WPA && tag < TAG_WPA + n->n_wpa)
			drain_wpa(n, &n->wpa[tag - TAG_WPA]);
	}
	n->sink = NULL;
	return 0;
}

static int configure(struct monitor *m, const json_t *policy)
{
	struct net_mon *n = to_net(m);
	struct collection c;
	struct diag d;
	int r;

	diag_init(&d);
	r = collection_parse(policy, &c, &d);
	diag_done(&d);
	if (r < 0)
		return r;
	n->enabled = c.network;
	collection_done(&c);
	return 0;
}

static void net_free(struct monitor *m)
{
	struct net_mon *n = to_net(m);

	if (!n)
		return;
	n->match = sd_bus_slot_unref(n->match);
	n->bus = sd_bus_flush_close_unref(n->bus);
	for (size_t i = 0; i < n->n_wpa; i++)
		(void) close(n->wpa[i].fd);
	if (n->rtnl_fd >= 0)
		(void) close(n->rtnl_fd);
	if (n->ino_fd >= 0)
		(void) close(n->ino_fd);
	if (m->fd >= 0)
		(void) close(m->fd);
	json_decref(n->dns);
	mm_free(n->links);
	mm_free(n->routes);
	mm_free(n->resolv);
	mm_free(n->resolv_target);
	mm_free(n);
}

int mon_net_test_replace_rtnl(struct monitor *m, int fd)
{
	struct net_mon *n = to_net(m);
	struct epoll_event ev = {.events = EPOLLIN, .data.u32 = TAG_RTNL};

	if (epoll_ctl(m->fd, EPOLL_CTL_DEL, n->rtnl_fd, NULL) < 0 ||
	    epoll_ctl(m->fd, EPOLL_CTL_ADD, fd, &ev) < 0)
		return -errno;
	(void) close(n->rtnl_fd);
	n->rtnl_fd = fd;
	return 0;
}

int mon_net_new(const struct mon_net_paths *paths, struct monitor **ret)
{
	struct sockaddr_nl sa = {.nl_family = AF_NETLINK,
				 .nl_groups = RTMGRP_LINK | RTMGRP_IPV4_ROUTE | RTMGRP_IPV6_ROUTE};
	struct epoll_event ev = {.events = EPOLLIN};
	const char *dbus = paths ? paths->dbus_address : NULL;
	struct net_mon *n;
	int r, size = 1024 * 1024;

	n = mm_calloc(1, sizeof(*n));
	if (!n)
		return -ENOMEM;
	n->m = (struct monitor){.name = "net",
				.fd = -1,
				.dispatch = dispatch,
				.configure = configure,
				.free = net_free};
	n->enabled = true;
	n->wd_resolv = n->wd_target = -1;
	n->links = mm_calloc(KEEP_LINKS, sizeof(*n->links));
	n->routes = mm_calloc(KEEP_ROUTES, sizeof(*n->routes));
	n->resolv =
		mm_strdup(paths && paths->resolv_conf ? paths->resolv_conf : "/etc/resolv.conf");
	if (!n->links || !n->routes || !n->resolv) {
		net_free(&n->m);
		return -ENOMEM;
	}
	n->rtnl_fd = socket(AF_NETLINK, SOCK_RAW | SOCK_NONBLOCK | SOCK_CLOEXEC, NETLINK_ROUTE);
	n->ino_fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
	n->m.fd = epoll_create1(EPOLL_CLOEXEC);
	r = n->rtnl_fd < 0 || n->ino_fd < 0 || n->m.fd < 0 ? -errno : 0;
	if (r == 0) {
		(void) setsockopt(n->rtnl_fd, SOL_SOCKET, SO_RCVBUF, &size, sizeof(size));
		if (bind(n->rtnl_fd, (struct sockaddr *) &sa, sizeof(sa)) < 0)
			r = -errno;
	}
	ev.data.u32 = TAG_RTNL;
	if (r == 0 && epoll_ctl(n->m.fd, EPOLL_CTL_ADD, n->rtnl_fd, &ev) < 0)
		r = -errno;
	ev.data.u32 = TAG_INOTIFY;
	if (r == 0 && epoll_ctl(n->m.fd, EPOLL_CTL_ADD, n->ino_fd, &ev) < 0)
		r = -errno;
	if (r == 0)
		r = learn(n);
	if (r < 0) {
		net_free(&n->m);
		return r;
	}
	watch_resolv(n);
	n->dns = read_dns(n);
	if (!dbus || dbus[0]) {
		r = open_bus(n, dbus);
		if (r < 0)
			log_info("(M1232) network monitor: no D-Bus system bus (%s); Wi-Fi joins "
				 "come"
				 " from wpa_supplicant only",
				 strerror(-r));
	}
	open_wpa(n, paths && paths->wpa_dir ? paths->wpa_dir : "/run/wpa_supplicant");
	*ret = &n->m;
	return 0;
}
