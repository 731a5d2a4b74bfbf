/* rtguard.c -- the real-time guard preloaded into test processes (see
 * rtguard.h for what it checks and how it reports).
 *
 * Built as $(O)/rtguard.so without sanitizers. How it works:
 *
 *  - Every interposed function is a wrapper that checks a thread-local
 *    nesting counter, then calls the next definition of the same symbol
 *    (dlsym(RTLD_NEXT): libc's, or a sanitizer runtime's that comes after
 *    this library), so the process behaves exactly as without the guard.
 *  - The next definitions are looked up in a constructor, so no lookup runs
 *    later on a real-time thread; a call that comes before the constructor
 *    (from the dynamic loader or another library's constructor) looks its
 *    function up itself.
 *  - dlsym() may allocate. While this thread is inside dlsym() and the real
 *    allocator is not known yet, malloc/calloc/realloc are served from a
 *    small static buffer; free() of that memory is ignored.
 *  - Reports are formatted by hand and written with syscall(SYS_write): no
 *    stdio, no allocation, nothing interposed, so a report never recurses.
 *  - In count mode the wrapper clears the nesting counter while the real
 *    function runs, so what that function does internally (fopen calling
 *    malloc) is not counted a second time.
 *  - Thread-locals use the initial-exec TLS model: a preloaded library gets
 *    static TLS, and the general-dynamic model could call malloc from
 *    __tls_get_addr, inside malloc.
 */
#undef _FORTIFY_SOURCE /* the fortify inline wrappers would clash with ours */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif

#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <malloc.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <semaphore.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/mman.h>
#include <sys/select.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include "rtguard.h"

#undef getc
#undef putc

#define RTG_TLS		__thread __attribute__((tls_model("initial-exec")))
#define RTG_UNLIKELY(x) __builtin_expect(!!(x), 0)
#define RTG_CALLER	__builtin_return_address(0)

/* ---- state --------------------------------------------------------------- */

/* volatile: glibc declares dlsym, dladdr and abort "leaf" (they never call
 * back into this file), so without it the compiler may drop the updates
 * around those calls -- but dlsym does call malloc and free. */
static RTG_TLS volatile unsigned rtg_depth;    /* real-time section nesting */
static RTG_TLS volatile unsigned rtg_in_dlsym; /* this thread is inside our dlsym() */
static unsigned long rtg_count;		       /* violations, all threads */

/* One interposed function. */
struct rtg_fn {
	const char *name;
	void *real;   /* next definition, from dlsym(RTLD_NEXT) */
	int reported; /* count mode: its first violation was reported */
};

/* Each function registers itself in the rtguard_fns section, which the
 * constructor walks to resolve them all. */
#define RTG_FN(sym)                                                                      \
	static struct rtg_fn rtg_fn_##sym = {#sym, NULL, 0};                             \
	static struct rtg_fn *const rtg_reg_##sym                                        \
	    __attribute__((used, section("rtguard_fns"))) = &rtg_fn_##sym

extern struct rtg_fn *const __start_rtguard_fns[] __attribute__((visibility("hidden")));
extern struct rtg_fn *const __stop_rtguard_fns[] __attribute__((visibility("hidden")));

/* ---- reporting ------------------------------------------------------------- */

struct rtg_msg {
	char buf[1024];
	size_t len;
};

static void msg_str(struct rtg_msg *m, const char *s)
{
	while (*s && m->len < sizeof(m->buf))
		m->buf[m->len++] = *s++;
}

static void msg_num(struct rtg_msg *m, unsigned long v, unsigned base)
{
	char tmp[32];
	size_t n = 0;
	if (base == 16)
		msg_str(m, "0x");
	do {
		tmp[n++] = "0123456789abcdef"[v % base];
		v /= base;
	} while (v);
	while (n && m->len < sizeof(m->buf))
		m->buf[m->len++] = tmp[--n];
}

static void msg_flush(struct rtg_msg *m)
{
	int saved = errno;
	const char *p = m->buf;
	size_t left = m->len;
	while (left) {
		long r = syscall(SYS_write, 2, p, left);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			break;
		p += r;
		left -= (size_t)r;
	}
	m->len = 0;
	errno = saved;
}

static __attribute__((noreturn)) void rtg_fatal(const char *what, const char *name)
{
	struct rtg_msg m = {.len = 0};
	msg_str(&m, "rtguard: ");
	msg_str(&m, what);
	if (name) {
		msg_str(&m, name);
		msg_str(&m, "()");
	}
	msg_str(&m, "\n");
	msg_flush(&m);
	rtg_depth = 0;
	abort();
}

/* RTGUARD_MODE is read when needed, so a process can set it with setenv()
 * before its first violation (the tests do). getenv neither allocates nor
 * locks. */
static int rtg_counting(void)
{
	const char *mode = getenv("RTGUARD_MODE");
	return mode && strcmp(mode, "count") == 0;
}

static void msg_caller(struct rtg_msg *m, void *caller)
{
	Dl_info info;
	msg_str(m, "rtguard:   called from ");
	if (caller && dladdr(caller, &info) && info.dli_fname) {
		msg_str(m, info.dli_fname);
		msg_str(m, " +");
		msg_num(m, (unsigned long)((uintptr_t)caller - (uintptr_t)info.dli_fbase),
			16);
		if (info.dli_sname) {
			msg_str(m, " (");
			msg_str(m, info.dli_sname);
			msg_str(m, "+");
			msg_num(m,
				(unsigned long)((uintptr_t)caller -
						(uintptr_t)info.dli_saddr),
				16);
			msg_str(m, ")");
		}
		msg_str(m, " [");
		msg_num(m, (unsigned long)(uintptr_t)caller, 16);
		msg_str(m, "]\n");
	} else {
		msg_num(m, (unsigned long)(uintptr_t)caller, 16);
		msg_str(m, "\n");
	}
}

static void rtg_violation(struct rtg_fn *f, void *caller)
{
	int counting = rtg_counting();
	__atomic_add_fetch(&rtg_count, 1, __ATOMIC_RELAXED);
	if (counting && __atomic_exchange_n(&f->reported, 1, __ATOMIC_RELAXED))
		return;

	struct rtg_msg m = {.len = 0};
	msg_str(&m, "rtguard: real-time violation: ");
	msg_str(&m, f->name);
	msg_str(&m, "() called on a real-time thread\n");
	msg_caller(&m, caller);
	if (counting) {
		msg_str(&m, "rtguard:   counting (RTGUARD_MODE=count): further ");
		msg_str(&m, f->name);
		msg_str(&m, "() violations are counted, not shown\n");
		msg_flush(&m);
		return;
	}
	msg_str(&m,
		"rtguard:   aborting (RTGUARD_MODE=count counts violations instead)\n");
	msg_flush(&m);
	abort();
}

/* Called first by every wrapper. Returns the nesting to restore after the
 * real call (0: not in a real-time section, nothing to restore). */
static inline unsigned rtg_check(struct rtg_fn *f, void *caller)
{
	unsigned depth = rtg_depth;
	if (__builtin_expect(depth == 0, 1))
		return 0;
	rtg_depth = 0; /* the report and the real call are not real-time work */
	rtg_violation(f, caller);
	return depth;
}

static inline void rtg_restore(unsigned depth)
{
	if (depth)
		rtg_depth = depth;
}

/* ---- finding the real functions ------------------------------------------ */

static void *rtg_lookup(struct rtg_fn *f)
{
	rtg_in_dlsym++;
	void *p = dlsym(RTLD_NEXT, f->name);
	rtg_in_dlsym--;
	if (p)
		__atomic_store_n(&f->real, p, __ATOMIC_RELEASE);
	return p;
}

static inline void *rtg_real(struct rtg_fn *f)
{
	void *p = __atomic_load_n(&f->real, __ATOMIC_ACQUIRE);
	if (__builtin_expect(p != NULL, 1))
		return p;
	p = rtg_lookup(f);
	if (!p)
		rtg_fatal("cannot find the real ", f->name);
	return p;
}

static inline int rtg_resolved(struct rtg_fn *f)
{
	return __atomic_load_n(&f->real, __ATOMIC_ACQUIRE) != NULL;
}

/* A wrapper that checks, then forwards its arguments unchanged. */
#define RTG_WRAP(ret, sym, params, args)                                                 \
	RTG_FN(sym);                                                                     \
	ret sym params                                                                   \
	{                                                                                \
		unsigned rtg_saved = rtg_check(&rtg_fn_##sym, RTG_CALLER);               \
		ret rtg_r = ((ret(*) params)rtg_real(&rtg_fn_##sym))args;                \
		rtg_restore(rtg_saved);                                                  \
		return rtg_r;                                                            \
	}

/* ---- the bootstrap allocator (only while dlsym looks up the allocator) --- */

#define RTG_BOOT_SIZE	(64 * 1024)
#define RTG_BOOT_HEADER 16

static _Alignas(16) unsigned char rtg_boot[RTG_BOOT_SIZE];
static size_t rtg_boot_used;

static int rtg_is_boot(const void *p)
{
	uintptr_t a = (uintptr_t)p, base = (uintptr_t)rtg_boot;
	return a >= base && a < base + sizeof(rtg_boot);
}

static void *rtg_boot_alloc(size_t n)
{
	if (n > RTG_BOOT_SIZE)
		rtg_fatal("bootstrap allocation too large in ", "dlsym");
	size_t need = RTG_BOOT_HEADER + ((n + 15) & ~(size_t)15);
	size_t off = __atomic_fetch_add(&rtg_boot_used, need, __ATOMIC_RELAXED);
	if (off + need > RTG_BOOT_SIZE)
		rtg_fatal("bootstrap buffer exhausted in ", "dlsym");
	memcpy(rtg_boot + off, &n, sizeof(n)); /* zeroed memory, never reused */
	return rtg_boot + off + RTG_BOOT_HEADER;
}

static size_t rtg_boot_size(const void *p)
{
	size_t n;
	memcpy(&n, (const unsigned char *)p - RTG_BOOT_HEADER, sizeof(n));
	return n;
}

/* ---- the malloc family ----------------------------------------------------- */

RTG_FN(malloc);
RTG_FN(calloc);
RTG_FN(realloc);
RTG_FN(free);

void *malloc(size_t n)
{
	if (RTG_UNLIKELY(rtg_in_dlsym) && !rtg_resolved(&rtg_fn_malloc))
		return rtg_boot_alloc(n);
	unsigned saved = rtg_check(&rtg_fn_malloc, RTG_CALLER);
	void *p = ((void *(*)(size_t))rtg_real(&rtg_fn_malloc))(n);
	rtg_restore(saved);
	return p;
}

void *calloc(size_t count, size_t size)
{
	if (RTG_UNLIKELY(rtg_in_dlsym) && !rtg_resolved(&rtg_fn_calloc)) {
		if (size && count > SIZE_MAX / size)
			return NULL;
		return rtg_boot_alloc(count * size);
	}
	unsigned saved = rtg_check(&rtg_fn_calloc, RTG_CALLER);
	void *p = ((void *(*)(size_t, size_t))rtg_real(&rtg_fn_calloc))(count, size);
	rtg_restore(saved);
	return p;
}

void *realloc(void *old, size_t n)
{
	void *p;
	if (RTG_UNLIKELY(rtg_in_dlsym) && !rtg_resolved(&rtg_fn_realloc) &&
	    (!old || rtg_is_boot(old))) {
		p = rtg_boot_alloc(n);
		if (old)
			memcpy(p, old, rtg_boot_size(old) < n ? rtg_boot_size(old) : n);
		return p;
	}
	unsigned saved = rtg_check(&rtg_fn_realloc, RTG_CALLER);
	if (old && rtg_is_boot(old)) {
		/* Bootstrap memory moves to the real allocator. */
		p = ((void *(*)(size_t))rtg_real(&rtg_fn_malloc))(n);
		if (p)
			memcpy(p, old, rtg_boot_size(old) < n ? rtg_boot_size(old) : n);
	} else {
		p = ((void *(*)(void *, size_t))rtg_real(&rtg_fn_realloc))(old, n);
	}
	rtg_restore(saved);
	return p;
}

void free(void *p)
{
	if (!p)
		return; /* free(NULL) does nothing, on any thread */
	unsigned saved = rtg_check(&rtg_fn_free, RTG_CALLER);
	/* Bootstrap memory is never reused. Inside the bootstrap dlsym nothing
	 * the real allocator made can be freed before free is known. */
	if (!rtg_is_boot(p) && (!rtg_in_dlsym || rtg_resolved(&rtg_fn_free)))
		((void (*)(void *))rtg_real(&rtg_fn_free))(p);
	rtg_restore(saved);
}

RTG_WRAP(void *, reallocarray, (void *p, size_t count, size_t size), (p, count, size))
RTG_WRAP(int, posix_memalign, (void **p, size_t align, size_t n), (p, align, n))
RTG_WRAP(void *, aligned_alloc, (size_t align, size_t n), (align, n))
RTG_WRAP(void *, memalign, (size_t align, size_t n), (align, n))
RTG_WRAP(void *, valloc, (size_t n), (n))
RTG_WRAP(void *, pvalloc, (size_t n), (n))

/* ---- memory mapping -------------------------------------------------------- */

RTG_WRAP(void *, mmap, (void *a, size_t n, int prot, int fl, int fd, off_t off),
	 (a, n, prot, fl, fd, off))
RTG_WRAP(void *, mmap64, (void *a, size_t n, int prot, int fl, int fd, off64_t off),
	 (a, n, prot, fl, fd, off))
RTG_WRAP(int, munmap, (void *a, size_t n), (a, n))
RTG_WRAP(int, mprotect, (void *a, size_t n, int prot), (a, n, prot))
RTG_WRAP(int, mlock, (const void *a, size_t n), (a, n))
RTG_WRAP(int, munlock, (const void *a, size_t n), (a, n))
RTG_WRAP(int, mlockall, (int flags), (flags))
RTG_WRAP(int, munlockall, (void), ())

RTG_FN(mremap);
void *mremap(void *old, size_t old_size, size_t new_size, int flags, ...)
{
	void *new_addr = NULL;
	if (flags & MREMAP_FIXED) {
		va_list ap;
		va_start(ap, flags);
		new_addr = va_arg(ap, void *);
		va_end(ap);
	}
	unsigned saved = rtg_check(&rtg_fn_mremap, RTG_CALLER);
	void *p = ((void *(*)(void *, size_t, size_t, int, ...))rtg_real(&rtg_fn_mremap))(
	    old, old_size, new_size, flags, new_addr);
	rtg_restore(saved);
	return p;
}

/* ---- locks, condition variables, semaphores, threads ------------------------ */

RTG_WRAP(int, pthread_mutex_lock, (pthread_mutex_t * m), (m))
RTG_WRAP(int, pthread_mutex_trylock, (pthread_mutex_t * m), (m))
RTG_WRAP(int, pthread_mutex_timedlock, (pthread_mutex_t * m, const struct timespec *t),
	 (m, t))
RTG_WRAP(int, pthread_mutex_clocklock,
	 (pthread_mutex_t * m, clockid_t c, const struct timespec *t), (m, c, t))
RTG_WRAP(int, pthread_mutex_unlock, (pthread_mutex_t * m), (m))

RTG_WRAP(int, pthread_cond_wait, (pthread_cond_t * c, pthread_mutex_t *m), (c, m))
RTG_WRAP(int, pthread_cond_timedwait,
	 (pthread_cond_t * c, pthread_mutex_t *m, const struct timespec *t), (c, m, t))
RTG_WRAP(int, pthread_cond_clockwait,
	 (pthread_cond_t * c, pthread_mutex_t *m, clockid_t k, const struct timespec *t),
	 (c, m, k, t))
RTG_WRAP(int, pthread_cond_signal, (pthread_cond_t * c), (c))
RTG_WRAP(int, pthread_cond_broadcast, (pthread_cond_t * c), (c))

RTG_WRAP(int, pthread_rwlock_rdlock, (pthread_rwlock_t * l), (l))
RTG_WRAP(int, pthread_rwlock_tryrdlock, (pthread_rwlock_t * l), (l))
RTG_WRAP(int, pthread_rwlock_timedrdlock,
	 (pthread_rwlock_t * l, const struct timespec *t), (l, t))
RTG_WRAP(int, pthread_rwlock_clockrdlock,
	 (pthread_rwlock_t * l, clockid_t c, const struct timespec *t), (l, c, t))
RTG_WRAP(int, pthread_rwlock_wrlock, (pthread_rwlock_t * l), (l))
RTG_WRAP(int, pthread_rwlock_trywrlock, (pthread_rwlock_t * l), (l))
RTG_WRAP(int, pthread_rwlock_timedwrlock,
	 (pthread_rwlock_t * l, const struct timespec *t), (l, t))
RTG_WRAP(int, pthread_rwlock_clockwrlock,
	 (pthread_rwlock_t * l, clockid_t c, const struct timespec *t), (l, c, t))
RTG_WRAP(int, pthread_rwlock_unlock, (pthread_rwlock_t * l), (l))

RTG_WRAP(int, pthread_barrier_wait, (pthread_barrier_t * b), (b))
RTG_WRAP(int, pthread_create,
	 (pthread_t * t, const pthread_attr_t *a, void *(*fn)(void *), void *arg),
	 (t, a, fn, arg))
RTG_WRAP(int, pthread_join, (pthread_t t, void **ret), (t, ret))

RTG_WRAP(int, sem_wait, (sem_t * s), (s))
RTG_WRAP(int, sem_timedwait, (sem_t * s, const struct timespec *t), (s, t))
RTG_WRAP(int, sem_clockwait, (sem_t * s, clockid_t c, const struct timespec *t),
	 (s, c, t))

/* ---- sleeping ---------------------------------------------------------------- */

RTG_WRAP(unsigned int, sleep, (unsigned int s), (s))
RTG_WRAP(int, usleep, (useconds_t us), (us))
RTG_WRAP(int, nanosleep, (const struct timespec *t, struct timespec *rem), (t, rem))
RTG_WRAP(int, clock_nanosleep,
	 (clockid_t c, int fl, const struct timespec *t, struct timespec *rem),
	 (c, fl, t, rem))
RTG_WRAP(int, sched_yield, (void), ())

/* ---- file descriptors -------------------------------------------------------- */

#define RTG_NEEDS_MODE(fl) (((fl)&O_CREAT) != 0 || ((fl)&O_TMPFILE) == O_TMPFILE)

/* open and friends take a mode only when creating. */
#define RTG_OPEN(sym, ...)                                                               \
	RTG_FN(sym);                                                                     \
	int sym(__VA_ARGS__, int flags, ...)                                             \
	{                                                                                \
		mode_t mode = 0;                                                         \
		if (RTG_NEEDS_MODE(flags)) {                                             \
			va_list ap;                                                      \
			va_start(ap, flags);                                             \
			mode = va_arg(ap, mode_t);                                       \
			va_end(ap);                                                      \
		}                                                                        \
		unsigned saved = rtg_check(&rtg_fn_##sym, RTG_CALLER);                   \
		int r = RTG_OPEN_CALL_##sym;                                             \
		rtg_restore(saved);                                                      \
		return r;                                                                \
	}

#define RTG_OPEN_REAL(sym) ((int (*)(const char *, int, ...))rtg_real(&rtg_fn_##sym))
#define RTG_OPENAT_REAL(sym)                                                             \
	((int (*)(int, const char *, int, ...))rtg_real(&rtg_fn_##sym))
#define RTG_OPEN_CALL_open     RTG_OPEN_REAL(open)(path, flags, mode)
#define RTG_OPEN_CALL_open64   RTG_OPEN_REAL(open64)(path, flags, mode)
#define RTG_OPEN_CALL_openat   RTG_OPENAT_REAL(openat)(dir, path, flags, mode)
#define RTG_OPEN_CALL_openat64 RTG_OPENAT_REAL(openat64)(dir, path, flags, mode)

RTG_OPEN(open, const char *path)
RTG_OPEN(open64, const char *path)
RTG_OPEN(openat, int dir, const char *path)
RTG_OPEN(openat64, int dir, const char *path)

RTG_WRAP(int, creat, (const char *path, mode_t mode), (path, mode))
RTG_WRAP(int, close, (int fd), (fd))
RTG_WRAP(ssize_t, read, (int fd, void *buf, size_t n), (fd, buf, n))
/* The one system call a real-time thread may make outside its device's:
 * waking a sleeping thread with an 8-byte write to a non-blocking eventfd
 * (firmware/os/wake.h), which never waits. Anything else written is a
 * violation. Looked at with raw system calls (no libc state). */
static int rtg_is_wake(int fd, size_t n)
{
	if (n != sizeof(uint64_t) || fd < 0)
		return 0;
	long fl = syscall(SYS_fcntl, fd, F_GETFL);
	if (fl < 0 || !(fl & O_NONBLOCK))
		return 0;
	char path[32] = "/proc/self/fd/", digits[12];
	int nd = 0;
	for (unsigned v = (unsigned)fd; nd == 0 || v; v /= 10)
		digits[nd++] = (char)('0' + v % 10);
	size_t at = strlen(path);
	while (nd)
		path[at++] = digits[--nd];
	path[at] = '\0';
	static const char want[] = "anon_inode:[eventfd]";
	char link[sizeof(want) + 8];
	long len = syscall(SYS_readlinkat, AT_FDCWD, path, link, sizeof(link));
	return len == (long)sizeof(want) - 1 && memcmp(link, want, sizeof(want) - 1) == 0;
}

RTG_FN(write);
ssize_t write(int fd, const void *buf, size_t n)
{
	unsigned saved = 0;
	if (__builtin_expect(rtg_depth != 0, 0) && !rtg_is_wake(fd, n))
		saved = rtg_check(&rtg_fn_write, RTG_CALLER);
	ssize_t r =
	    ((ssize_t(*)(int, const void *, size_t))rtg_real(&rtg_fn_write))(fd, buf, n);
	rtg_restore(saved);
	return r;
}
RTG_WRAP(ssize_t, pread, (int fd, void *buf, size_t n, off_t off), (fd, buf, n, off))
RTG_WRAP(ssize_t, pwrite, (int fd, const void *buf, size_t n, off_t off),
	 (fd, buf, n, off))
RTG_WRAP(ssize_t, pread64, (int fd, void *buf, size_t n, off64_t off), (fd, buf, n, off))
RTG_WRAP(ssize_t, pwrite64, (int fd, const void *buf, size_t n, off64_t off),
	 (fd, buf, n, off))
RTG_WRAP(ssize_t, readv, (int fd, const struct iovec *v, int n), (fd, v, n))
RTG_WRAP(ssize_t, writev, (int fd, const struct iovec *v, int n), (fd, v, n))
RTG_WRAP(int, fsync, (int fd), (fd))
RTG_WRAP(int, fdatasync, (int fd), (fd))
RTG_WRAP(ssize_t, send, (int fd, const void *buf, size_t n, int fl), (fd, buf, n, fl))
RTG_WRAP(ssize_t, recv, (int fd, void *buf, size_t n, int fl), (fd, buf, n, fl))
RTG_WRAP(ssize_t, sendmsg, (int fd, const struct msghdr *msg, int fl), (fd, msg, fl))
RTG_WRAP(ssize_t, recvmsg, (int fd, struct msghdr *msg, int fl), (fd, msg, fl))

/* ---- waiting for file descriptors --------------------------------------------- */

RTG_WRAP(int, poll, (struct pollfd * fds, nfds_t n, int timeout), (fds, n, timeout))
RTG_WRAP(int, ppoll,
	 (struct pollfd * fds, nfds_t n, const struct timespec *t, const sigset_t *mask),
	 (fds, n, t, mask))
RTG_WRAP(int, select, (int n, fd_set *r, fd_set *w, fd_set *e, struct timeval *t),
	 (n, r, w, e, t))
RTG_WRAP(int, pselect,
	 (int n, fd_set *r, fd_set *w, fd_set *e, const struct timespec *t,
	  const sigset_t *mask),
	 (n, r, w, e, t, mask))
RTG_WRAP(int, epoll_wait, (int fd, struct epoll_event *ev, int n, int timeout),
	 (fd, ev, n, timeout))
RTG_WRAP(int, epoll_pwait,
	 (int fd, struct epoll_event *ev, int n, int timeout, const sigset_t *mask),
	 (fd, ev, n, timeout, mask))

/* ---- stdio ------------------------------------------------------------------- */

RTG_WRAP(FILE *, fopen, (const char *path, const char *mode), (path, mode))
RTG_WRAP(FILE *, fopen64, (const char *path, const char *mode), (path, mode))
RTG_WRAP(FILE *, fdopen, (int fd, const char *mode), (fd, mode))
RTG_WRAP(FILE *, freopen, (const char *path, const char *mode, FILE *f), (path, mode, f))
RTG_WRAP(int, fclose, (FILE * f), (f))
RTG_WRAP(size_t, fread, (void *p, size_t size, size_t n, FILE *f), (p, size, n, f))
RTG_WRAP(size_t, fwrite, (const void *p, size_t size, size_t n, FILE *f), (p, size, n, f))
RTG_WRAP(char *, fgets, (char *s, int n, FILE *f), (s, n, f))
RTG_WRAP(int, fgetc, (FILE * f), (f))
RTG_WRAP(int, getc, (FILE * f), (f))
RTG_WRAP(int, getchar, (void), ())
RTG_WRAP(int, fputc, (int c, FILE *f), (c, f))
RTG_WRAP(int, putc, (int c, FILE *f), (c, f))
RTG_WRAP(int, putchar, (int c), (c))
RTG_WRAP(int, fputs, (const char *s, FILE *f), (s, f))
RTG_WRAP(int, puts, (const char *s), (s))
RTG_WRAP(int, fflush, (FILE * f), (f))
RTG_WRAP(int, vprintf, (const char *fmt, va_list ap), (fmt, ap))
RTG_WRAP(int, vfprintf, (FILE * f, const char *fmt, va_list ap), (f, fmt, ap))
RTG_WRAP(int, vdprintf, (int fd, const char *fmt, va_list ap), (fd, fmt, ap))

/* The variadic ones forward to the v-form's real definition, but are
 * reported under their own names. */
#define RTG_VARIADIC(ret, sym, params, last, vsym, vtype, vargs)                         \
	RTG_FN(sym);                                                                     \
	ret sym params                                                                   \
	{                                                                                \
		va_list ap;                                                              \
		unsigned saved = rtg_check(&rtg_fn_##sym, RTG_CALLER);                   \
		va_start(ap, last);                                                      \
		ret r = ((vtype)rtg_real(&rtg_fn_##vsym))vargs;                          \
		va_end(ap);                                                              \
		rtg_restore(saved);                                                      \
		return r;                                                                \
	}

RTG_VARIADIC(int, printf, (const char *fmt, ...), fmt, vfprintf,
	     int (*)(FILE *, const char *, va_list), (stdout, fmt, ap))
RTG_VARIADIC(int, fprintf, (FILE * f, const char *fmt, ...), fmt, vfprintf,
	     int (*)(FILE *, const char *, va_list), (f, fmt, ap))
RTG_VARIADIC(int, dprintf, (int fd, const char *fmt, ...), fmt, vdprintf,
	     int (*)(int, const char *, va_list), (fd, fmt, ap))

/* What calls compiled with _FORTIFY_SOURCE become. */
int __open_2(const char *path, int flags);
int __open64_2(const char *path, int flags);
int __openat_2(int dir, const char *path, int flags);
ssize_t __read_chk(int fd, void *buf, size_t n, size_t buflen);
size_t __fread_chk(void *p, size_t plen, size_t size, size_t n, FILE *f);
int __vprintf_chk(int flag, const char *fmt, va_list ap);
int __vfprintf_chk(FILE *f, int flag, const char *fmt, va_list ap);
int __printf_chk(int flag, const char *fmt, ...);
int __fprintf_chk(FILE *f, int flag, const char *fmt, ...);

RTG_WRAP(int, __open_2, (const char *path, int flags), (path, flags))
RTG_WRAP(int, __open64_2, (const char *path, int flags), (path, flags))
RTG_WRAP(int, __openat_2, (int dir, const char *path, int flags), (dir, path, flags))
RTG_WRAP(ssize_t, __read_chk, (int fd, void *buf, size_t n, size_t buflen),
	 (fd, buf, n, buflen))
RTG_WRAP(size_t, __fread_chk, (void *p, size_t plen, size_t size, size_t n, FILE *f),
	 (p, plen, size, n, f))
RTG_WRAP(int, __vprintf_chk, (int flag, const char *fmt, va_list ap), (flag, fmt, ap))
RTG_WRAP(int, __vfprintf_chk, (FILE * f, int flag, const char *fmt, va_list ap),
	 (f, flag, fmt, ap))
RTG_VARIADIC(int, __printf_chk, (int flag, const char *fmt, ...), fmt, __vprintf_chk,
	     int (*)(int, const char *, va_list), (flag, fmt, ap))
RTG_VARIADIC(int, __fprintf_chk, (FILE * f, int flag, const char *fmt, ...), fmt,
	     __vfprintf_chk, int (*)(FILE *, int, const char *, va_list),
	     (f, flag, fmt, ap))

/* ---- the interface ------------------------------------------------------------ */

void rtguard_enter(void)
{
	rtg_depth++;
}

void rtguard_leave(void)
{
	if (RTG_UNLIKELY(rtg_depth == 0))
		rtg_fatal("rtguard_leave() without a matching rtguard_enter()", NULL);
	rtg_depth--;
}

unsigned long rtguard_violations(void)
{
	return __atomic_load_n(&rtg_count, __ATOMIC_RELAXED);
}

__attribute__((constructor)) static void rtg_init(void)
{
	/* The allocator first: the other lookups may allocate. Functions this
	 * libc lacks stay unresolved; a call to one would fail loudly. */
	rtg_lookup(&rtg_fn_malloc);
	rtg_lookup(&rtg_fn_calloc);
	rtg_lookup(&rtg_fn_realloc);
	rtg_lookup(&rtg_fn_free);
	/* The linker brackets the section with __start_/__stop_ symbols. */
	size_t n = ((uintptr_t)__stop_rtguard_fns - (uintptr_t)__start_rtguard_fns) /
		   sizeof(__start_rtguard_fns[0]);
	for (size_t i = 0; i < n; i++)
		if (!rtg_resolved(__start_rtguard_fns[i]))
			rtg_lookup(__start_rtguard_fns[i]);

	const char *mode = getenv("RTGUARD_MODE");
	if (mode && *mode && strcmp(mode, "count") != 0 && strcmp(mode, "abort") != 0) {
		struct rtg_msg m = {.len = 0};
		msg_str(&m, "rtguard: unknown RTGUARD_MODE '");
		msg_str(&m, mode);
		msg_str(&m, "' (count or abort); aborting on violations\n");
		msg_flush(&m);
	}
}

__attribute__((destructor)) static void rtg_fini(void)
{
	if (!rtg_counting())
		return;
	struct rtg_msg m = {.len = 0};
	msg_str(&m, "rtguard: ");
	msg_num(&m, rtguard_violations(), 10);
	msg_str(&m, " violations\n");
	msg_flush(&m);
}
