/* rtguard.h -- a real-time guard for test runs, in the spirit of LLVM's
 * RealtimeSanitizer.
 *
 * rtguard.so is preloaded into test processes (LD_PRELOAD, see
 * scripts/run-tests). It interposes the calls that may block, allocate or
 * enter the kernel for an unbounded time: the malloc family, mmap and
 * friends, mutexes, condition variables, rwlocks, semaphores, thread
 * creation and joining, sleeping, file and stdio I/O, poll/select/epoll.
 * While a thread is inside a real-time section (between rtguard_enter() and
 * rtguard_leave(); sections nest, the count is per thread) any such call is a
 * violation:
 *
 *   rtguard: real-time violation: malloc() called on a real-time thread
 *
 * is written to stderr with a raw write system call and the process aborts
 * (SIGABRT). free(NULL) is not a violation (it does nothing).
 *
 * Environment:
 *   RTGUARD_MODE=count  count violations instead of aborting: each function's
 *                       first violation is reported, the call goes through,
 *                       and "rtguard: N violations" is printed at exit.
 *   RTGUARD_MODE=abort  the default.
 *
 * The mode is read when it is needed (at a violation and at exit), so a
 * process may set it with setenv() before its first violation.
 *
 * The firmware does not link against this library: firmware/os/rt_mark.c looks
 * rtguard_enter/rtguard_leave up at run time and calls them when present.
 * Unbalanced rtguard_leave() (without a matching enter) aborts in either mode.
 *
 * Limits: functions that a sanitizer runtime linked into the executable
 * itself intercepts (clang's ASan/TSan/MSan) are found there before the
 * guard, so under those the guard sees nothing of them. gcc's ASan runtime
 * is a shared library that comes after the guard, so the guard works there
 * (with ASAN_OPTIONS=verify_asan_link_order=0).
 */
#ifndef GRIDLOOP_RTGUARD_H
#define GRIDLOOP_RTGUARD_H

/* Enter / leave a real-time section on the calling thread. Both are
 * real-time safe: they touch only a thread-local counter. */
void rtguard_enter(void);
void rtguard_leave(void);

/* Violations counted so far, all threads (only grows in count mode; in abort
 * mode the first one ends the process). */
unsigned long rtguard_violations(void);

#endif
