/*
 * Device-control policy (デバイス制御ポリシー): the rule language for USB and removable
 * media (docs/usb-rules.md). Parsed by the agent (which enforces it), by mamorictl
 * (`policy check`, offline) and by the server (which refuses an invalid policy and never
 * sends it), so all three give the same errors with line and column.
 *
 * A policy is a list of rules, tried in order; the first whose conditions all hold
 * decides the verdict: allow, read-only or block. When none matches, the policy's
 * default decides — except for input devices (keyboards, mice): they are allowed unless a
 * rule names them explicitly, so a class rule can never lock a user out.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lib/diag.h"
#include "lib/macro.h"

enum usb_verdict {
	USB_ALLOW,
	USB_READ_ONLY,
	USB_BLOCK,
};

/* Device classes a rule can name. A device has a class when any interface has it. */
enum usb_class {
	USBC_MASS_STORAGE = 1u << 0,
	USBC_MTP = 1u << 1, /* phones (Media Transfer Protocol) */
	USBC_PTP = 1u << 2, /* cameras (still image) */
	USBC_OPTICAL = 1u << 3,
	USBC_PRINTER = 1u << 4,
	USBC_WIRELESS = 1u << 5,
	USBC_HID = 1u << 6, /* keyboards, mice */
	USBC_AUDIO = 1u << 7,
	USBC_VIDEO = 1u << 8,
	USBC_SMART_CARD = 1u << 9,
	USBC_HUB = 1u << 10,
	USBC_NETWORK = 1u << 11, /* communications / CDC ethernet */
};

/* Network contexts, from the agent's network facts and the policy's `network` lines. */
enum usb_netctx {
	NET_OFFICE = 1u << 0,
	NET_HOME = 1u << 1,      /* a trusted home network */
	NET_UNTRUSTED = 1u << 2, /* neither office nor home */
	NET_OPEN_WIFI = 1u << 3, /* joined a Wi-Fi network without encryption */
	NET_OFFLINE = 1u << 4,
};

struct usb_interface {
	uint8_t cls, subclass, protocol;
	char *name; /* interface string (e.g. "MTP"); may be NULL */
};

/* What the enforcer knows of a device when it decides. */
struct usb_device_facts {
	uint16_t vendor_id, product_id;
	const char *serial;  /* may be NULL */
	const char *product; /* may be NULL */
	uint8_t device_class;
	const struct usb_interface *interfaces;
	size_t n_interfaces;
	bool optical;            /* a CD/DVD drive behind it (block layer) */
	const char *const *tags; /* registry tags of this serial, NULL-terminated; may be NULL */
	const char *user;        /* the logged-in user; may be NULL */
	unsigned netctx;         /* enum usb_netctx bits */
	int64_t now;             /* Unix seconds */
};

struct usb_policy;

/*
 * Parses policy text (named `file` in diagnostics). Every error and warning goes to d,
 * with line and column, in one pass. Returns 0 with *ret when there are no errors
 * (warnings allowed), -EINVAL when there are, -ENOMEM. -E2BIG past the limits.
 */
int usb_policy_parse(const char *file, const char *text, struct diag *d, struct usb_policy **ret)
	_wur_;
struct usb_policy *usb_policy_free(struct usb_policy *p);
DEFINE_POINTER_CLEANUP(struct usb_policy, usb_policy_free)

struct usb_decision {
	enum usb_verdict verdict;
	unsigned rule_line; /* line of the deciding rule; 0 for the default */
	const char *reason; /* "rule", "default", "input device protected" — static */
};

/* Decides a device. Never fails. */
void usb_policy_decide(const struct usb_policy *p, const struct usb_device_facts *dev,
		       struct usb_decision *ret);

/*
 * Decides a device part by part (docs/usb-rules.md, "Composite devices"). A device that
 * has input interfaces and others (a keyboard with a card reader, a "rubber ducky") keeps
 * its input interfaces under the input-device protection, while its other interfaces get
 * the verdict they would get on a device of their own. `device` is the verdict for the
 * device as a whole (its `authorized` file); when `split`, the device stays usable for its
 * input interfaces and `rest` is the verdict for every other interface (block: those
 * interfaces are de-authorised; read-only: their storage is read-only). Without a split,
 * `rest` equals `device`. Never fails.
 */
struct usb_part_decision {
	struct usb_decision device;
	struct usb_decision rest;
	bool split;
};
void usb_policy_decide_parts(const struct usb_policy *p, const struct usb_device_facts *dev,
			     struct usb_part_decision *ret);

/*
 * The earliest `until` of any rule that is still ahead of now (Unix seconds), or 0: when
 * it passes, a device decided by such a rule may get another verdict, so the enforcer
 * decides again then.
 */
int64_t usb_policy_next_expiry(const struct usb_policy *p, int64_t now);

/* The classes a device has (enum usb_class bits). */
unsigned usb_policy_device_classes(const struct usb_device_facts *dev);

/* Network context definitions of the policy, for the agent to classify its networks. */
struct usb_network_facts {
	const char *const *ssids;       /* Wi-Fi networks joined now, NULL-terminated */
	const char *const *gateways;    /* default gateway addresses */
	const char *const *dns_domains; /* search domains */
	const uint32_t *ipv4;           /* this host's IPv4 addresses (host order) */
	size_t n_ipv4;
	bool open_wifi; /* any joined Wi-Fi without encryption */
	bool online;
};
unsigned usb_policy_network_context(const struct usb_policy *p, const struct usb_network_facts *n);

const char *usb_verdict_name(enum usb_verdict v);
size_t usb_policy_rule_count(const struct usb_policy *p);

/*
 * The registry tags the policy's rules name (`tag` conditions), each once, sorted: what
 * the server sends of the device registry with the policy. On success *ret is a new NULL-terminated
 * array (mm_free it) of strings borrowed from p, valid while p is. -ENOMEM.
 */
int usb_policy_tags(const struct usb_policy *p, const char ***ret) _wur_;
