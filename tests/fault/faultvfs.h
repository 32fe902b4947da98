/*
 * A faulting SQLite VFS for tests: "faulty" wraps the default VFS and makes the Nth write,
 * sync or truncate from now fail with an I/O error, as a full disk or a dying device
 * would. Open a store through it with the URL parameter "vfs=faulty" (server/store.c).
 * Test code only: production never registers it.
 */
#pragma once

#include <stdbool.h>

#define FAULTVFS_NAME "faulty"

/* Registers the VFS (not as the default). Returns 0 or a SQLite error code. */
int faultvfs_register(void);

/*
 * From now, the nth write/sync/truncate (1 = the next one) fails with SQLITE_IOERR_WRITE,
 * SQLITE_IOERR_FSYNC or SQLITE_IOERR_TRUNCATE, and with `sticky` every one after it too;
 * 0 turns faults off. Resets the counters below.
 */
void faultvfs_arm(unsigned long nth, bool sticky);

/* Whether a fault was injected since the last faultvfs_arm(). */
bool faultvfs_fired(void);

/* Writes, syncs and truncates seen since the last faultvfs_arm(). */
unsigned long faultvfs_count(void);
