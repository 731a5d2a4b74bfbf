/* rt_mark.h -- marks the real-time sections of the firmware, so that test
 * runs can prove they never block.
 *
 * Code that runs on the real-time audio thread (engine_process() and what it
 * calls) must not allocate, lock, sleep or do I/O. The firmware brackets that
 * work with rt_mark_begin() / rt_mark_end(). In test runs scripts/run-tests
 * preloads tests/rtguard/rtguard.so (LD_PRELOAD), which exports
 * rtguard_enter() / rtguard_leave(): rt_mark finds them at run time and calls
 * them, and the guard then aborts the process, naming the call, when
 * anything between the marks calls malloc, pthread_mutex_lock, write, ...
 *
 * Without the guard (the shipped program) the marks are a load and a
 * not-taken branch. The firmware never links against the guard.
 *
 *   rt_mark_init();          // once, not real-time; also runs at load time
 *   ...
 *   rt_mark_begin();         // on the real-time thread, per period
 *   engine_process(e, in, out, frames);
 *   rt_mark_end();
 *
 * Sections nest and are per thread (the guard keeps a thread-local count).
 */
#ifndef GRIDLOOP_RT_MARK_H
#define GRIDLOOP_RT_MARK_H

#include <stdbool.h>

/* Looks up the guard's entry points (dlsym(RTLD_DEFAULT, ...)). Not
 * real-time safe. Idempotent; it also runs by itself when the program is
 * loaded, so calling it is only needed after the guard was loaded later. */
void rt_mark_init(void);

/* Real-time safe: calls the guard when it is present, else does nothing. */
void rt_mark_begin(void);
void rt_mark_end(void);

/* True when rt_mark_init() found the guard in this process. */
bool rt_mark_guarded(void);

#endif
