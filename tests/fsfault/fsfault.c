/* fsfault.c -- a preloaded shim that makes the SD card misbehave, for the
 * tests of atomic_file.c and session_store.c.
 *
 *   LD_PRELOAD=build/native/fsfault.so FSFAULT=... FSFAULT_DIR=/some/dir prog
 *
 * Only files under FSFAULT_DIR (the directory itself included) are affected;
 * everything else goes straight to libc. FSFAULT is a comma-separated list:
 *
 *   enospc_after=BYTES   writes succeed until BYTES bytes were written under
 *                        the directory (the one that crosses the line is
 *                        short), then fail with ENOSPC
 *   eio_after=BYTES      the same with EIO
 *   erofs                opening for writing, renaming, unlinking and
 *                        mkdir fail with EROFS
 *   fsync_eio            fsync and fdatasync fail with EIO
 *   short_writes=N       every write writes at most N bytes (not a failure:
 *                        callers must loop)
 *   eintr                every other write and fsync fails with EINTR first
 *                        (not a failure: callers must retry)
 *   kill_after_ops=N     the process gets SIGKILL just before its N-th
 *                        operation that changes the directory (open with
 *                        O_CREAT, write, fsync, rename, unlink): a power cut
 *                        between any two steps of a save
 *   mount_point          the directory itself is a mount point: renaming
 *                        it fails with EBUSY (what is in it can move)
 *   lose_unsynced        with kill_after_ops: files written since their
 *                        last fsync are emptied before the kill, as a power
 *                        cut empties them on a card with delayed allocation
 *                        (their descriptors are kept open past close for it)
 *
 * Descriptors are tracked from open/openat/creat to close. Built without
 * sanitizers; it allocates nothing and keeps its state in statics (the tests
 * that use it are single-threaded).
 */
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>

#define FS_MAX_FDS 4096

static struct {
	bool ready;
	bool active; /* FSFAULT and FSFAULT_DIR set */
	char dir[PATH_MAX];
	long long enospc_after, eio_after; /* -1: off */
	bool erofs, fsync_eio, eintr, mount_point;
	long long short_writes;	  /* -1: off */
	unsigned long calls;	  /* for eintr */
	long long kill_after_ops; /* 0: off */
	long long written, ops;
	bool lose_unsynced;
	unsigned char tracked[FS_MAX_FDS];
	unsigned char dirty[FS_MAX_FDS]; /* written since the last fsync */
} fs;

static long long number_after(const char *spec, const char *key)
{
	const char *p = strstr(spec, key);
	return p ? atoll(p + strlen(key)) : -1;
}

static void fs_init(void)
{
	if (fs.ready)
		return;
	fs.ready = true;
	const char *spec = getenv("FSFAULT");
	const char *dir = getenv("FSFAULT_DIR");
	if (!spec || !dir || !*dir)
		return;
	if (!realpath(dir, fs.dir))
		snprintf(fs.dir, sizeof(fs.dir), "%s", dir);
	fs.enospc_after = number_after(spec, "enospc_after=");
	fs.eio_after = number_after(spec, "eio_after=");
	fs.erofs = strstr(spec, "erofs") != NULL;
	fs.fsync_eio = strstr(spec, "fsync_eio") != NULL;
	fs.eintr = strstr(spec, "eintr") != NULL;
	fs.mount_point = strstr(spec, "mount_point") != NULL;
	fs.lose_unsynced = strstr(spec, "lose_unsynced") != NULL;
	fs.short_writes = number_after(spec, "short_writes=");
	long long k = number_after(spec, "kill_after_ops=");
	fs.kill_after_ops = k > 0 ? k : 0;
	fs.active = true;
}

static void *real(const char *name)
{
	void *fn = dlsym(RTLD_NEXT, name);
	if (!fn) {
		static const char msg[] = "fsfault: a libc function is missing\n";
		ssize_t ignored = write(2, msg, sizeof(msg) - 1);
		(void)ignored;
		abort();
	}
	return fn;
}

#define REAL(ret, name, params)                                                          \
	static ret(*real_##name) params;                                                 \
	if (!real_##name)                                                                \
	real_##name = (ret(*) params)real(#name)

/* ---- which paths are ours ---------------------------------------------------- */

static bool under_dir(const char *canonical)
{
	size_t n = strlen(fs.dir);
	return strncmp(canonical, fs.dir, n) == 0 &&
	       (canonical[n] == '\0' || canonical[n] == '/');
}

/* The directory part of (at, path), made absolute and canonical. */
static bool parent_of(int at, const char *path, char *out)
{
	char full[PATH_MAX * 2], base[PATH_MAX];
	if (path[0] == '/') {
		snprintf(full, sizeof(full), "%s", path);
	} else {
		if (at == AT_FDCWD) {
			if (!getcwd(base, sizeof(base)))
				return false;
		} else {
			char link[64];
			snprintf(link, sizeof(link), "/proc/self/fd/%d", at);
			ssize_t n = readlink(link, base, sizeof(base) - 1);
			if (n <= 0)
				return false;
			base[n] = '\0';
		}
		snprintf(full, sizeof(full), "%s/%s", base, path);
	}
	char *slash = strrchr(full, '/');
	if (slash == full)
		slash[1] = '\0';
	else
		*slash = '\0';
	return realpath(full, out) != NULL;
}

/* Whether (at, path) names something in the directory or below it. */
static bool ours_path(int at, const char *path)
{
	fs_init();
	char parent[PATH_MAX];
	return fs.active && path && parent_of(at, path, parent) && under_dir(parent);
}

static bool ours_fd(int fd)
{
	fs_init();
	return fs.active && fd >= 0 && fd < FS_MAX_FDS && fs.tracked[fd];
}

/* Remembers a new descriptor when it is the directory or inside it. */
static void track(int fd)
{
	fs_init();
	if (!fs.active || fd < 0 || fd >= FS_MAX_FDS)
		return;
	char link[64], target[PATH_MAX];
	snprintf(link, sizeof(link), "/proc/self/fd/%d", fd);
	ssize_t n = readlink(link, target, sizeof(target) - 1);
	if (n <= 0)
		return;
	target[n] = '\0';
	fs.tracked[fd] = under_dir(target);
}

/* ---- the faults -------------------------------------------------------------- */

/* Counts one operation that changes the card; the power goes at the N-th. */
static void step(void)
{
	if (!fs.kill_after_ops || ++fs.ops < fs.kill_after_ops)
		return;
	for (int fd = 0; fs.lose_unsynced && fd < FS_MAX_FDS; fd++)
		if (fs.dirty[fd] && ftruncate(fd, 0) != 0)
			abort();
	raise(SIGKILL);
}

/* An fsync saves the file's data, whichever descriptor wrote it. */
static void synced(int fd)
{
	struct stat done, st;
	if (fstat(fd, &done) != 0)
		return;
	for (int other = 0; other < FS_MAX_FDS; other++)
		if (fs.dirty[other] && fstat(other, &st) == 0 &&
		    st.st_dev == done.st_dev && st.st_ino == done.st_ino)
			fs.dirty[other] = 0;
}

/* How many of n bytes may still be written, or -1 with errno set. */
static ssize_t write_budget(size_t n)
{
	long long limit = -1;
	int e = 0;
	if (fs.enospc_after >= 0) {
		limit = fs.enospc_after;
		e = ENOSPC;
	}
	if (fs.eio_after >= 0 && (limit < 0 || fs.eio_after < limit)) {
		limit = fs.eio_after;
		e = EIO;
	}
	if (limit < 0 || n == 0)
		return (ssize_t)n;
	long long left = limit - fs.written;
	if (left <= 0) {
		errno = e;
		return -1;
	}
	return (ssize_t)((long long)n < left ? (long long)n : left);
}

static bool refuse_write_open(int at, const char *path, int flags)
{
	if (!(flags & (O_WRONLY | O_RDWR | O_CREAT | O_TRUNC)) || !ours_path(at, path))
		return false;
	if (fs.erofs) {
		errno = EROFS;
		return true;
	}
	if (flags & O_CREAT)
		step();
	return false;
}

static bool refuse_change(int at, const char *path)
{
	if (!ours_path(at, path))
		return false;
	step();
	if (fs.erofs) {
		errno = EROFS;
		return true;
	}
	return false;
}

/* Whether (at, path) is the directory itself and it is a "mount point". */
static bool busy_mount(int at, const char *path)
{
	fs_init();
	char full[PATH_MAX * 2], canonical[PATH_MAX];
	if (!fs.active || !fs.mount_point || !path)
		return false;
	if (path[0] != '/' && at != AT_FDCWD)
		return false; /* the code under test renames it by path */
	if (path[0] == '/' || !getcwd(canonical, sizeof(canonical)))
		snprintf(full, sizeof(full), "%s", path);
	else
		snprintf(full, sizeof(full), "%s/%s", canonical, path);
	if (!realpath(full, canonical) || strcmp(canonical, fs.dir) != 0)
		return false;
	errno = EBUSY;
	return true;
}

/* ---- the interposed calls ---------------------------------------------------- */

static mode_t mode_arg(int flags, va_list ap)
{
	return (flags & O_CREAT) || (flags & O_TMPFILE) == O_TMPFILE ? va_arg(ap, mode_t)
								     : 0;
}

#define FS_OPEN(sym)                                                                     \
	int sym(const char *path, int flags, ...)                                        \
	{                                                                                \
		REAL(int, sym, (const char *, int, ...));                                \
		va_list ap;                                                              \
		va_start(ap, flags);                                                     \
		mode_t mode = mode_arg(flags, ap);                                       \
		va_end(ap);                                                              \
		if (refuse_write_open(AT_FDCWD, path, flags))                            \
			return -1;                                                       \
		int fd = real_##sym(path, flags, mode);                                  \
		track(fd);                                                               \
		return fd;                                                               \
	}

#define FS_OPENAT(sym)                                                                   \
	int sym(int at, const char *path, int flags, ...)                                \
	{                                                                                \
		REAL(int, sym, (int, const char *, int, ...));                           \
		va_list ap;                                                              \
		va_start(ap, flags);                                                     \
		mode_t mode = mode_arg(flags, ap);                                       \
		va_end(ap);                                                              \
		if (refuse_write_open(at, path, flags))                                  \
			return -1;                                                       \
		int fd = real_##sym(at, path, flags, mode);                              \
		track(fd);                                                               \
		return fd;                                                               \
	}

int open(const char *path, int flags, ...);
int open64(const char *path, int flags, ...);
int openat(int at, const char *path, int flags, ...);
int openat64(int at, const char *path, int flags, ...);
int creat64(const char *path, mode_t mode);

FS_OPEN(open)
FS_OPEN(open64)
FS_OPENAT(openat)
FS_OPENAT(openat64)

int creat(const char *path, mode_t mode)
{
	return open(path, O_CREAT | O_WRONLY | O_TRUNC, mode);
}

int creat64(const char *path, mode_t mode)
{
	return open(path, O_CREAT | O_WRONLY | O_TRUNC, mode);
}

int close(int fd)
{
	REAL(int, close, (int));
	if (fd >= 0 && fd < FS_MAX_FDS) {
		/* Unsynced data outlives the descriptor until the power goes. */
		int keep = fs.dirty[fd] ? fcntl(fd, F_DUPFD_CLOEXEC, 0) : -1;
		if (keep >= 0 && keep < FS_MAX_FDS)
			fs.dirty[keep] = 1;
		fs.tracked[fd] = fs.dirty[fd] = 0;
	}
	return real_close(fd);
}

/* write and pwrite: the budget, the count, the kill. */
/* Whether this call is the one of two that a signal interrupts. */
static bool interrupted(void)
{
	if (fs.eintr && fs.calls++ % 2 == 0) {
		errno = EINTR;
		return true;
	}
	return false;
}

static ssize_t before_write(int fd, size_t *n)
{
	if (!ours_fd(fd))
		return 0;
	if (interrupted())
		return -1;
	step();
	if (fs.short_writes > 0 && *n > (size_t)fs.short_writes)
		*n = (size_t)fs.short_writes;
	ssize_t allowed = write_budget(*n);
	if (allowed < 0)
		return -1;
	*n = (size_t)allowed;
	return 0;
}

static void after_write(int fd, ssize_t r)
{
	if (r > 0 && ours_fd(fd)) {
		fs.written += r;
		fs.dirty[fd] = fs.lose_unsynced;
	}
}

ssize_t write(int fd, const void *buf, size_t n)
{
	REAL(ssize_t, write, (int, const void *, size_t));
	if (before_write(fd, &n) < 0)
		return -1;
	ssize_t r = real_write(fd, buf, n);
	after_write(fd, r);
	return r;
}

ssize_t pwrite(int fd, const void *buf, size_t n, off_t off)
{
	REAL(ssize_t, pwrite, (int, const void *, size_t, off_t));
	if (before_write(fd, &n) < 0)
		return -1;
	ssize_t r = real_pwrite(fd, buf, n, off);
	after_write(fd, r);
	return r;
}

ssize_t pwrite64(int fd, const void *buf, size_t n, off_t off);
ssize_t pwrite64(int fd, const void *buf, size_t n, off_t off)
{
	return pwrite(fd, buf, n, off);
}

static bool refuse_sync(int fd)
{
	if (!ours_fd(fd))
		return false;
	if (interrupted())
		return true;
	step();
	if (fs.fsync_eio) {
		errno = EIO;
		return true;
	}
	return false;
}

int fsync(int fd)
{
	REAL(int, fsync, (int));
	if (refuse_sync(fd))
		return -1;
	int r = real_fsync(fd);
	if (r == 0 && ours_fd(fd))
		synced(fd);
	return r;
}

int fdatasync(int fd)
{
	REAL(int, fdatasync, (int));
	if (refuse_sync(fd))
		return -1;
	int r = real_fdatasync(fd);
	if (r == 0 && ours_fd(fd))
		synced(fd);
	return r;
}

int rename(const char *from, const char *to)
{
	REAL(int, rename, (const char *, const char *));
	if (busy_mount(AT_FDCWD, from) || refuse_change(AT_FDCWD, from))
		return -1;
	if (!ours_path(AT_FDCWD, from) && refuse_change(AT_FDCWD, to))
		return -1;
	return real_rename(from, to);
}

int renameat(int from_at, const char *from, int to_at, const char *to)
{
	REAL(int, renameat, (int, const char *, int, const char *));
	if (busy_mount(from_at, from) || refuse_change(from_at, from))
		return -1;
	if (!ours_path(from_at, from) && refuse_change(to_at, to))
		return -1;
	return real_renameat(from_at, from, to_at, to);
}

int renameat2(int from_at, const char *from, int to_at, const char *to, unsigned flags)
{
	REAL(int, renameat2, (int, const char *, int, const char *, unsigned));
	if (busy_mount(from_at, from) || refuse_change(from_at, from))
		return -1;
	if (!ours_path(from_at, from) && refuse_change(to_at, to))
		return -1;
	return real_renameat2(from_at, from, to_at, to, flags);
}

int unlink(const char *path)
{
	REAL(int, unlink, (const char *));
	return refuse_change(AT_FDCWD, path) ? -1 : real_unlink(path);
}

int unlinkat(int at, const char *path, int flags)
{
	REAL(int, unlinkat, (int, const char *, int));
	return refuse_change(at, path) ? -1 : real_unlinkat(at, path, flags);
}

int mkdir(const char *path, mode_t mode)
{
	REAL(int, mkdir, (const char *, mode_t));
	return refuse_change(AT_FDCWD, path) ? -1 : real_mkdir(path, mode);
}

int mkdirat(int at, const char *path, mode_t mode)
{
	REAL(int, mkdirat, (int, const char *, mode_t));
	return refuse_change(at, path) ? -1 : real_mkdirat(at, path, mode);
}
