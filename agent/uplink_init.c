/*
 * libcurl's global initialisation for the agent, without libssh2's.
 *
 * Debian's libcurl-gnutls is built with SCP/SFTP through libssh2, which Debian builds on
 * OpenSSL; curl_global_init() calls libssh2_init(), whose OpenSSL set-up loads and registers
 * OpenSSL's built-in engines. That touches about 1.5 MiB of libcrypto in every agent process
 * for protocols the agent never speaks: every transfer it makes is restricted to https
 * (CURLOPT_PROTOCOLS_STR in uplink.c and enroll.c), so no libssh2 session is ever created.
 *
 * The executable therefore defines libssh2_init() itself: the dynamic linker binds
 * libcurl's call to the executable's definition (an executable's symbols come first in the
 * lookup scope), and the one below only reports success. libssh2_exit(), which
 * curl_global_cleanup() calls, does nothing when libssh2 was never initialised.
 * bench/agent-idle.sh measures the difference (MAMORI_BENCH_DETAIL lists libcrypto's share).
 *
 * The definition lives in this file, with the only function that initialises libcurl in the
 * agent, so whatever links the initialisation links the stub.
 */
#include <errno.h>

#include <curl/curl.h>

#include "agent/daemon.h"

/* libssh2's entry point (libssh2.h: int libssh2_init(int flags)); see above. Its name is
 * libssh2's, not this module's, because interposing it is the point. */
__attribute__((visibility("default"))) int libssh2_init(int flags);
int libssh2_init(int flags)
{
	(void) flags;
	return 0;
}

int uplink_global_init(void)
{
	return curl_global_init(CURL_GLOBAL_DEFAULT) == CURLE_OK ? 0 : -ENOMEM;
}
