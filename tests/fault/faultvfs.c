/*
 * The faulting VFS (faultvfs.h): a shim over the default VFS. Every file it opens is the
 * real file behind a method table that forwards each call, except that writes, syncs and
 * truncates count down to the armed fault. Shared memory (the WAL index) is mapped, not
 * written, so it is forwarded untouched; what a fault can break is the database file, the
 * WAL and journals, which is what a failing disk breaks.
 *
 * The counters are atomics: the store's reader and writer threads share them.
 */
#include <stdatomic.h>
#include <string.h>

#include <sqlite3.h>

#include "tests/fault/faultvfs.h"

struct fault_file {
	sqlite3_file base;
	sqlite3_file *real; /* follows this struct in the same allocation */
};

static sqlite3_vfs *real_vfs;
static atomic_ulong fault_nth;
static atomic_ulong fault_seen;
static atomic_bool fault_sticky;
static atomic_bool fault_fired;

void faultvfs_arm(unsigned long nth, bool sticky)
{
	atomic_store(&fault_seen, 0);
	atomic_store(&fault_fired, false);
	atomic_store(&fault_sticky, sticky);
	atomic_store(&fault_nth, nth);
}

bool faultvfs_fired(void)
{
	return atomic_load(&fault_fired);
}

unsigned long faultvfs_count(void)
{
	return atomic_load(&fault_seen);
}

/* Counts one write/sync/truncate; true when it must fail. */
static bool should_fail(void)
{
	unsigned long n = atomic_fetch_add(&fault_seen, 1) + 1;
	unsigned long nth = atomic_load(&fault_nth);

	if (nth == 0)
		return false;
	if (n == nth || (atomic_load(&fault_sticky) && n > nth)) {
		atomic_store(&fault_fired, true);
		return true;
	}
	return false;
}

#define REAL(f) (((struct fault_file *) (f))->real)

static int f_close(sqlite3_file *f)
{
	return REAL(f)->pMethods->xClose(REAL(f));
}

static int f_read(sqlite3_file *f, void *p, int n, sqlite3_int64 off)
{
	return REAL(f)->pMethods->xRead(REAL(f), p, n, off);
}

static int f_write(sqlite3_file *f, const void *p, int n, sqlite3_int64 off)
{
	if (should_fail())
		return SQLITE_IOERR_WRITE;
	return REAL(f)->pMethods->xWrite(REAL(f), p, n, off);
}

static int f_truncate(sqlite3_file *f, sqlite3_int64 size)
{
	if (should_fail())
		return SQLITE_IOERR_TRUNCATE;
	return REAL(f)->pMethods->xTruncate(REAL(f), size);
}

static int f_sync(sqlite3_file *f, int flags)
{
	if (should_fail())
		return SQLITE_IOERR_FSYNC;
	return REAL(f)->pMethods->xSync(REAL(f), flags);
}

static int f_file_size(sqlite3_file *f, sqlite3_int64 *size)
{
	return REAL(f)->pMethods->xFileSize(REAL(f), size);
}

static int f_lock(sqlite3_file *f, int lock)
{
	return REAL(f)->pMethods->xLock(REAL(f), lock);
}

static int f_unlock(sqlite3_file *f, int lock)
{
	return REAL(f)->pMethods->xUnlock(REAL(f), lock);
}

static int f_check_reserved_lock(sqlite3_file *f, int *out)
{
	return REAL(f)->pMethods->xCheckReservedLock(REAL(f), out);
}

static int f_file_control(sqlite3_file *f, int op, void *arg)
{
	return REAL(f)->pMethods->xFileControl(REAL(f), op, arg);
}

static int f_sector_size(sqlite3_file *f)
{
	return REAL(f)->pMethods->xSectorSize(REAL(f));
}

static int f_device_characteristics(sqlite3_file *f)
{
	return REAL(f)->pMethods->xDeviceCharacteristics(REAL(f));
}

static int f_shm_map(sqlite3_file *f, int region, int size, int extend, void volatile **p)
{
	return REAL(f)->pMethods->xShmMap(REAL(f), region, size, extend, p);
}

static int f_shm_lock(sqlite3_file *f, int offset, int n, int flags)
{
	return REAL(f)->pMethods->xShmLock(REAL(f), offset, n, flags);
}

static void f_shm_barrier(sqlite3_file *f)
{
	REAL(f)->pMethods->xShmBarrier(REAL(f));
}

static int f_shm_unmap(sqlite3_file *f, int delete_flag)
{
	return REAL(f)->pMethods->xShmUnmap(REAL(f), delete_flag);
}

static int f_fetch(sqlite3_file *f, sqlite3_int64 off, int n, void **p)
{
	return REAL(f)->pMethods->xFetch(REAL(f), off, n, p);
}

static int f_unfetch(sqlite3_file *f, sqlite3_int64 off, void *p)
{
	return REAL(f)->pMethods->xUnfetch(REAL(f), off, p);
}

static const sqlite3_io_methods fault_io = {
	.iVersion = 3,
	.xClose = f_close,
	.xRead = f_read,
	.xWrite = f_write,
	.xTruncate = f_truncate,
	.xSync = f_sync,
	.xFileSize = f_file_size,
	.xLock = f_lock,
	.xUnlock = f_unlock,
	.xCheckReservedLock = f_check_reserved_lock,
	.xFileControl = f_file_control,
	.xSectorSize = f_sector_size,
	.xDeviceCharacteristics = f_device_characteristics,
	.xShmMap = f_shm_map,
	.xShmLock = f_shm_lock,
	.xShmBarrier = f_shm_barrier,
	.xShmUnmap = f_shm_unmap,
	.xFetch = f_fetch,
	.xUnfetch = f_unfetch,
};

static int v_open(sqlite3_vfs *vfs, const char *name, sqlite3_file *f, int flags, int *out_flags)
{
	struct fault_file *ff = (struct fault_file *) f;
	int rc;

	(void) vfs;
	ff->real = (sqlite3_file *) (ff + 1);
	rc = real_vfs->xOpen(real_vfs, name, ff->real, flags, out_flags);
	ff->base.pMethods = ff->real->pMethods ? &fault_io : NULL;
	return rc;
}

static int v_delete(sqlite3_vfs *vfs, const char *name, int sync_dir)
{
	(void) vfs;
	return real_vfs->xDelete(real_vfs, name, sync_dir);
}

static int v_access(sqlite3_vfs *vfs, const char *name, int flags, int *out)
{
	(void) vfs;
	return real_vfs->xAccess(real_vfs, name, flags, out);
}

static int v_full_pathname(sqlite3_vfs *vfs, const char *name, int n, char *out)
{
	(void) vfs;
	return real_vfs->xFullPathname(real_vfs, name, n, out);
}

static void *v_dl_open(sqlite3_vfs *vfs, const char *name)
{
	(void) vfs;
	return real_vfs->xDlOpen(real_vfs, name);
}

static void v_dl_error(sqlite3_vfs *vfs, int n, char *msg)
{
	(void) vfs;
	real_vfs->xDlError(real_vfs, n, msg);
}

static void (*v_dl_sym(sqlite3_vfs *vfs, void *h, const char *sym))(void)
{
	(void) vfs;
	return real_vfs->xDlSym(real_vfs, h, sym);
}

static void v_dl_close(sqlite3_vfs *vfs, void *h)
{
	(void) vfs;
	real_vfs->xDlClose(real_vfs, h);
}

static int v_randomness(sqlite3_vfs *vfs, int n, char *out)
{
	(void) vfs;
	return real_vfs->xRandomness(real_vfs, n, out);
}

static int v_sleep(sqlite3_vfs *vfs, int us)
{
	(void) vfs;
	return real_vfs->xSleep(real_vfs, us);
}

static int v_current_time(sqlite3_vfs *vfs, double *out)
{
	(void) vfs;
	return real_vfs->xCurrentTime(real_vfs, out);
}

static int v_get_last_error(sqlite3_vfs *vfs, int n, char *out)
{
	(void) vfs;
	return real_vfs->xGetLastError(real_vfs, n, out);
}

static int v_current_time_int64(sqlite3_vfs *vfs, sqlite3_int64 *out)
{
	(void) vfs;
	return real_vfs->xCurrentTimeInt64(real_vfs, out);
}

static sqlite3_vfs fault_vfs = {
	.iVersion = 2,
	.zName = FAULTVFS_NAME,
	.xOpen = v_open,
	.xDelete = v_delete,
	.xAccess = v_access,
	.xFullPathname = v_full_pathname,
	.xDlOpen = v_dl_open,
	.xDlError = v_dl_error,
	.xDlSym = v_dl_sym,
	.xDlClose = v_dl_close,
	.xRandomness = v_randomness,
	.xSleep = v_sleep,
	.xCurrentTime = v_current_time,
	.xGetLastError = v_get_last_error,
	.xCurrentTimeInt64 = v_current_time_int64,
};

int faultvfs_register(void)
{
	if (real_vfs)
		return SQLITE_OK;
	real_vfs = sqlite3_vfs_find(NULL);
	if (!real_vfs)
		return SQLITE_ERROR;
	fault_vfs.szOsFile = (int) sizeof(struct fault_file) + real_vfs->szOsFile;
	fault_vfs.mxPathname = real_vfs->mxPathname;
	return sqlite3_vfs_register(&fault_vfs, 0);
}
