/*
 * Every ceiling on a buffer fed by outside input, in one place (STYLE.md). Hitting one of
 * these returns -E2BIG and the caller says which limit, in words, to whoever sent the input.
 * Included as "lib/limits.h"; it never shadows the C library's <limits.h>.
 */
#pragma once

#include <stddef.h>

/* Files read by collectors (/proc, /sys, /etc, /var/lib/dpkg/status). */
#define LIMIT_SMALL_FILE ((size_t) 64 * 1024)        /* an attribute, os-release, passwd … */
#define LIMIT_LARGE_FILE ((size_t) 64 * 1024 * 1024) /* dpkg status, mountinfo on a busy host */
#define LIMIT_LINE       ((size_t) 64 * 1024)        /* one line of any text file we parse */
#define LIMIT_NET_ITEMS  16384u /* interfaces, addresses, routes or sockets kept per list */

/* Block devices and USB devices (storage and usb sections). */
#define LIMIT_DIR_ENTRIES    65536u                     /* names listed from one directory */
#define LIMIT_BLOCK_PROBE    ((size_t) 4096)            /* read from a block device's start */
#define LIMIT_LUKS2_HEADER   ((size_t) 4 * 1024 * 1024) /* LUKS2 header area, the spec's cap */
#define LIMIT_USB_INTERFACES 32u                        /* interfaces of one USB device */
#define LIMIT_DEVICE_DEPTH   16u                        /* dm/partition layers under a mount */

/* Directories and binary logs read by collectors. */
#define LIMIT_WTMP_TAIL ((size_t) 16 * 1024 * 1024) /* the newest part of wtmp that is read */

/* apt's package lists (agent/col_apt.c): read streaming, whatever their size up to these. */
#define LIMIT_APT_LIST        ((size_t) 512 * 1024 * 1024) /* one list, decompressed */
#define LIMIT_APT_STANZA      ((size_t) 1024 * 1024)       /* one stanza of a Packages list */
#define LIMIT_APT_RELEASE     ((size_t) 8 * 1024) /* head of a Release file, for its fields */
#define LIMIT_APT_SOURCES     256u                /* Release files looked at */
#define LIMIT_SECURITY_LISTED 256u /* pending security updates listed (all are counted) */

/* USB control (docs/usb-control.md). */
#define LIMIT_USB_DESCRIPTORS ((size_t) 64 * 1024) /* raw descriptors: wTotalLength is 16 bits */
#define LIMIT_USB_DEVICES     256u                 /* USB devices tracked at once */
#define LIMIT_USB_BLOCKS      16u                  /* block and sg devices under one USB device */
#define LIMIT_USB_POLICY_DOC  ((size_t) 4 * 1024 * 1024) /* a policy document with its registry */
#define LIMIT_USB_REGISTRY    100000u                    /* registered serials in one policy */
#define LIMIT_USB_GRANTS      10000u                     /* grants in one policy */

/* Documents and protocol bodies. */
#define LIMIT_INVENTORY_DOC ((size_t) 32 * 1024 * 1024) /* one inventory snapshot, as JSON */
#define LIMIT_AGENT_BODY    ((size_t) 8 * 1024 * 1024) /* an /agent/v1 request body, decompressed */
#define LIMIT_API_BODY      ((size_t) 1 * 1024 * 1024) /* an /api/v1 request body */
#define LIMIT_EVENT_BATCH   1000u                      /* events in one upload */
#define LIMIT_EVENT_SIZE    ((size_t) 64 * 1024)       /* one event, as JSON */
#define LIMIT_CONFIG_FILE   ((size_t) 1 * 1024 * 1024) /* a configuration or policy file */
#define LIMIT_JSON_DEPTH    32u                        /* nesting in any JSON we accept */
#define LIMIT_STORE_PARAM                                                                  \
	((size_t) 256 * 1024 * 1024)                 /* one SQL parameter the store builds \
						      * (a batch's values as an array) */
#define LIMIT_AGENT_REPLY ((size_t) 5 * 1024 * 1024) /* an answer to the agent, USB policy too */
#define LIMIT_PEM         ((size_t) 64 * 1024)       /* a certificate or key, PEM */
#define LIMIT_PRIV_FILE   ((size_t) 128 * 1024)      /* a root-only file, via the parent */

/* The security section (agent/col_security.c and friends). */
#define LIMIT_PROCESSES        100000u /* processes listed from /proc in one collection */
#define LIMIT_CONF_DIR_ENTRIES 4096u   /* entries read from one configuration directory */
#define LIMIT_INCLUDE_DEPTH    16u     /* nested Include/confdir levels (sshd's own limit) */
#define LIMIT_INCLUDE_FILES    256u    /* files one configuration may pull in through includes */
#define LIMIT_CONFIG_NESTING   64u     /* brace nesting in apt.conf */

/* Fields. */
#define LIMIT_CMDLINE 4096u /* a process command line, as recorded */
#define LIMIT_PATH    4096u

/* Monitors (docs/internals/monitors.md). */
#define LIMIT_WATCHED_FOLDERS  64u   /* folder patterns in a collection profile */
#define LIMIT_EXCLUDES         64u   /* exclusion patterns in a collection profile */
#define LIMIT_FANOTIFY_MARKS   8192u /* directories marked under watched folders, in all */
#define LIMIT_FANOTIFY_PENDING 1024u /* files being modified, waiting for their close */
#define LIMIT_FANOTIFY_FOUND   1024u /* entries reported from a new directory's first scan */
#define LIMIT_DIR_CACHE        4096u /* directory handles → paths remembered */
#define LIMIT_REMOVABLE_MOUNTS 32u   /* removable media marked at once */
#define LIMIT_HASH_CACHE       1024u /* executables' SHA-256 remembered */
#define LIMIT_HASH_QUEUE       16u   /* executables waiting to be hashed */
#define LIMIT_HASH_FILE        ((unsigned long long) 1 << 30) /* larger ones are not hashed */
#define LIMIT_LOGIN_SESSIONS   1024u /* open sessions remembered, to name who logged out */

/* A collection profile as the server stores and sends it (compact JSON). */
#define LIMIT_COLLECTION_PROFILE ((size_t) 64 * 1024)

/* The agent's daemon (docs/agent.md). */
#define LIMIT_EVENT_TYPE 64u   /* an event type name, "usb.device_blocked" */
#define LIMIT_HOST_ID    64u   /* a host id as the server assigns it */
#define LIMIT_URL        2048u /* the server's URL in agent.conf */

/* The server's USB control: what it sends to agents (their own limits, docs/usb-control.md)
 * and the device registry it accepts (docs/api.md). */
#define LIMIT_POLICY_DOC_SENT ((size_t) 4 * 1024 * 1024) /* one policy document, as JSON */
#define LIMIT_POLICY_REGISTRY 100000u /* registered devices in one policy document */
#define LIMIT_POLICY_GRANTS   10000u  /* grants in one policy document */
#define LIMIT_CSV_ROWS        100000u /* devices in one CSV import */
#define LIMIT_CSV_FIELD       1024u   /* bytes of one CSV field */
#define LIMIT_CSV_ERRORS      1000u   /* errors reported of one CSV import (the rest counted) */
#define LIMIT_CSV_EXPORT      ((size_t) 256 * 1024 * 1024) /* the registry as CSV */
