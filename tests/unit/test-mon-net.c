/*
 * The network monitor's parsers: rtnetlink messages built as the kernel sends them, the
 * VPN test on links, NetworkManager's access-point flags and wpa_supplicant's STATUS
 * replies (captured from real supplicants: this machine has no Wi-Fi).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <linux/if_arp.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <stdlib.h>
#include <string.h>

#include "agent/monitors.h"
#include "lib/mm.h"
#include "tests/tap.h"

#ifndef IFLA_INFO_KIND
#define IFLA_INFO_KIND 1
#endif

struct msgbuf {
	unsigned char b[2048];
	size_t len;
};

static size_t put_attr(unsigned char *p, unsigned short type, const void *data, size_t len)
{
	struct rtattr rta = {.rta_len = (unsigned short) RTA_LENGTH(len), .rta_type = type};

	memcpy(p, &rta, sizeof(rta));
	if (len)
		memcpy(p + RTA_LENGTH(0), data, len);
	return RTA_ALIGN(rta.rta_len);
}

static void put_link(struct msgbuf *m, uint16_t type, int index, const char *name, const char *kind,
		     unsigned ifi_type, unsigned flags)
{
	unsigned char *start = m->b + m->len, *p = start + NLMSG_HDRLEN;
	struct ifinfomsg ifi = {.ifi_family = AF_UNSPEC,
				.ifi_index = index,
				.ifi_type = (unsigned short) ifi_type,
				.ifi_flags = flags};
	struct nlmsghdr nh = {.nlmsg_type = type};

	memcpy(p, &ifi, sizeof(ifi));
	p += NLMSG_ALIGN(sizeof(ifi));
	p += put_attr(p, IFLA_IFNAME, name, strlen(name) + 1);
	if (kind) {
		unsigned char nest[64];
		size_t n = put_attr(nest, IFLA_INFO_KIND, kind, strlen(kind) + 1);

		p += put_attr(p, IFLA_LINKINFO, nest, n);
	}
	nh.nlmsg_len = (uint32_t) (p - start);
	memcpy(start, &nh, sizeof(nh));
	m->len += NLMSG_ALIGN(nh.nlmsg_len);
}

static void put_route(struct msgbuf *m, uint16_t type, const char *gw, int oif, unsigned prio,
		      unsigned dst_len)
{
	unsigned char *start = m->b + m->len, *p = start + NLMSG_HDRLEN;
	struct rtmsg rtm = {.rtm_family = AF_INET,
			    .rtm_dst_len = (unsigned char) dst_len,
			    .rtm_table = RT_TABLE_MAIN,
			    .rtm_type = RTN_UNICAST};
	struct nlmsghdr nh = {.nlmsg_type = type};
	unsigned char addr[4];
	uint32_t v;

	memcpy(p, &rtm, sizeof(rtm));
	p += NLMSG_ALIGN(sizeof(rtm));
	(void) inet_pton(AF_INET, gw, addr);
	p += put_attr(p, RTA_GATEWAY, addr, 4);
	v = (uint32_t) oif;
	p += put_attr(p, RTA_OIF, &v, 4);
	v = prio;
	p += put_attr(p, RTA_PRIORITY, &v, 4);
	nh.nlmsg_len = (uint32_t) (p - start);
	memcpy(start, &nh, sizeof(nh));
	m->len += NLMSG_ALIGN(nh.nlmsg_len);
}

static void put_bare(struct msgbuf *m, uint16_t type, int32_t err)
{
	struct nlmsghdr nh = {.nlmsg_type = type,
			      .nlmsg_len = NLMSG_HDRLEN + (type == NLMSG_ERROR ? 20 : 4)};

	memset(m->b + m->len, 0, nh.nlmsg_len);
	memcpy(m->b + m->len, &nh, sizeof(nh));
	memcpy(m->b + m->len + NLMSG_HDRLEN, &err, 4);
	m->len += NLMSG_ALIGN(nh.nlmsg_len);
}

struct seen {
	int links, routes, done, errors;
	struct mon_net_link link[4];
	struct mon_net_route route[4];
	int err;
};

static int collect(enum mon_net_msg_kind kind, const struct mon_net_link *l,
		   const struct mon_net_route *r, void *userdata)
{
	struct seen *s = userdata;

	if (kind == MON_NET_MSG_LINK && s->links < 4)
		s->link[s->links++] = *l;
	else if (kind == MON_NET_MSG_ROUTE && s->routes < 4)
		s->route[s->routes++] = *r;
	else if (kind == MON_NET_MSG_DONE)
		s->done++;
	else if (kind == MON_NET_MSG_ERROR) {
		s->errors++;
		s->err = l->index;
	}
	return 0;
}

static void test_rtnl(void)
{
	struct msgbuf m = {0};
	struct seen s = {0};

	put_link(&m, RTM_NEWLINK, 7, "tun0", "tun", ARPHRD_NONE, 0x1041);
	put_link(&m, RTM_DELLINK, 8, "veth0", "veth", ARPHRD_ETHER, 0);
	put_route(&m, RTM_NEWROUTE, "192.0.2.1", 2, 100, 0);
	put_bare(&m, NLMSG_DONE, 0);
	put_bare(&m, NLMSG_ERROR, -EBUSY);
	CHECK_INT(mon_net_parse_rtnl(m.b, m.len, collect, &s), 5, "five messages");
	CHECK_INT(s.links, 2, "two links");
	CHECK_STR(s.link[0].name, "tun0", "link name");
	CHECK_STR(s.link[0].kind, "tun", "link kind from IFLA_LINKINFO");
	CHECK_INT(s.link[0].index, 7, "link index");
	CHECK(!s.link[0].deleted && s.link[1].deleted, "RTM_DELLINK is a deletion");
	CHECK(mon_net_link_is_vpn(&s.link[0]), "a tun link is a VPN");
	CHECK(!mon_net_link_is_vpn(&s.link[1]), "a veth link is not");
	CHECK_INT(s.routes, 1, "one route");
	CHECK_STR(s.route[0].gateway, "192.0.2.1", "gateway");
	CHECK_STR(s.route[0].dst, "0.0.0.0", "a default route's destination");
	CHECK_INT(s.route[0].oif, 2, "output interface");
	CHECK_INT(s.route[0].metric, 100, "metric");
	CHECK_INT(s.route[0].table, RT_TABLE_MAIN, "main table");
	CHECK_INT(s.done, 1, "end of dump");
	CHECK_INT(s.err, -EBUSY, "error code");

	{
		struct nlmsghdr first;

		memcpy(&first, m.b, sizeof(first));
		for (size_t n = 1; n < first.nlmsg_len; n++)
			if (mon_net_parse_rtnl(m.b, n, NULL, NULL) != -EBADMSG) {
				CHECK(false, "a datagram cut at %zu bytes is refused", n);
				return;
			}
	}
	CHECK(true, "cut datagrams are refused");
	{
		struct msgbuf bad = m;
		struct rtattr rta;

		/* the IFNAME attribute claims more than its message */
		memcpy(&rta, bad.b + NLMSG_HDRLEN + NLMSG_ALIGN(sizeof(struct ifinfomsg)),
		       sizeof(rta));
		rta.rta_len = 500;
		memcpy(bad.b + NLMSG_HDRLEN + NLMSG_ALIGN(sizeof(struct ifinfomsg)), &rta,
		       sizeof(rta));
		CHECK_INT(mon_net_parse_rtnl(bad.b, bad.len, NULL, NULL), -EBADMSG,
			  "an attribute past its message is refused");
	}
	{
		struct mon_net_link ppp = {.type = ARPHRD_PPP};
		struct mon_net_link wg = {.kind = "wireguard"};
		struct mon_net_link eth = {.name = "tunnel-eth", .type = ARPHRD_ETHER};

		CHECK(mon_net_link_is_vpn(&ppp), "PPP is a VPN (no kind needed)");
		CHECK(mon_net_link_is_vpn(&wg), "WireGuard is a VPN");
		CHECK(!mon_net_link_is_vpn(&eth), "an Ethernet link is not, whatever its name");
	}
}

static void test_nm(void)
{
	CHECK_STR(mon_net_nm_security(0, 0, 0), "open", "no privacy, no WPA: open");
	CHECK_STR(mon_net_nm_security(1, 0, 0), "wep", "privacy without WPA: WEP");
	CHECK_STR(mon_net_nm_security(1, 0, 0x188), "wpa2", "RSN CCMP + PSK: WPA2");
	CHECK_STR(mon_net_nm_security(1, 0x144, 0), "wpa", "WPA1 TKIP + PSK");
	CHECK_STR(mon_net_nm_security(1, 0, 0x488), "wpa3", "SAE: WPA3");
	CHECK_STR(mon_net_nm_security(1, 0, 0x588), "wpa2-wpa3", "PSK and SAE: transition mode");
	CHECK_STR(mon_net_nm_security(1, 0, 0x288), "wpa2-enterprise", "802.1X");
	CHECK_STR(mon_net_nm_security(1, 0, 0x2088), "wpa3-enterprise", "Suite B 192");
	CHECK_STR(mon_net_nm_security(0, 0, 0x888), "owe", "OWE: encrypted, unauthenticated");
	CHECK_STR(mon_net_nm_security(1, 0, 0x88), "unknown", "ciphers without key management");
}

static void test_wpa(void)
{
	static const struct {
		const char *text;
		int ret;
		const char *security, *ssid, *bssid;
		unsigned freq;
	} cases[] = {
		{"bssid=02:00:01:02:03:04\nfreq=2412\nssid=Cafe Guest\nid=0\nmode=station\n"
		 "pairwise_cipher=CCMP\ngroup_cipher=CCMP\nkey_mgmt=WPA2-PSK\nwpa_state=COMPLETED\n"
		 "ip_address=192.168.1.21\naddress=02:00:01:02:03:05\n",
		 1, "wpa2", "Cafe Guest", "02:00:01:02:03:04", 2412},
		{"bssid=0a:0b:0c:0d:0e:0f\nfreq=5180\nssid=home\nkey_mgmt=SAE\npmf=2\n"
		 "wpa_state=COMPLETED\n",
		 1, "wpa3", "home", "0a:0b:0c:0d:0e:0f", 5180},
		{"bssid=0a:0b:0c:0d:0e:10\nssid=FreeWiFi\npairwise_cipher=NONE\ngroup_cipher=NONE\n"
		 "key_mgmt=NONE\nwpa_state=COMPLETED\n",
		 1, "open", "FreeWiFi", "0a:0b:0c:0d:0e:10", 0},
		{"ssid=old\npairwise_cipher=WEP-104\ngroup_cipher=WEP-104\nkey_mgmt=NONE\n"
		 "wpa_state=COMPLETED\n",
		 1, "wep", "old", "", 0},
		{"ssid=corp\nkey_mgmt=WPA2/IEEE 802.1X/EAP\nEAP "
		 "state=SUCCESS\nwpa_state=COMPLETED\n",
		 1, "wpa2-enterprise", "corp", "", 0},
		{"ssid=x\\xe3\\x81\\x82\nkey_mgmt=FOO\nwpa_state=COMPLETED\n", 1, "unknown",
		 "x\\xe3\\x81\\x82", "", 0},
		{"wpa_state=DISCONNECTED\naddress=02:00:01:02:03:05\n", 0, NULL, NULL, NULL, 0},
		{"wpa_state=SCANNING\n", 0, NULL, NULL, NULL, 0},
		{"FAIL\n", -EBADMSG, NULL, NULL, NULL, 0},
		{"", -EBADMSG, NULL, NULL, NULL, 0},
	};

	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		_cleanup_(freep) char *t = mm_strdup(cases[i].text);
		struct mon_wifi w;
		int r;

		if (!t)
			abort();
		r = mon_net_parse_wpa_status(t, &w);
		tap_diag("STATUS reply %zu", i);
		CHECK_INT(r, cases[i].ret, "  parses as expected");
		if (r != 1)
			continue;
		CHECK_STR(w.security, cases[i].security, "  security");
		CHECK_STR(w.ssid, cases[i].ssid, "  ssid");
		CHECK_STR(w.bssid, cases[i].bssid, "  bssid");
		CHECK_INT(w.frequency, cases[i].freq, "  frequency");
	}
}

int main(void)
{
	test_rtnl();
	test_nm();
	test_wpa();
	return tap_done();
}
