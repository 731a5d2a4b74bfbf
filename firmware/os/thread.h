/* thread.h -- the one way gridloop starts a thread.
 *
 * Every thread gets its name (so `top -H` and `ps -L` show gl-audio,
 * gl-seq, gl-keeper, gl-sd-writer, ...), an explicit scheduling policy and
 * priority, and a stack size when it needs one. Explicit matters: a thread
 * inherits its creator's policy unless told otherwise, so a low-priority
 * thread started by a real-time one would compete with the audio it is
 * there to serve, and a real-time one would silently ignore its attributes.
 *
 * Threads: gl-audio (SCHED_FIFO, the duplex loop), gl-seq (SCHED_FIFO below
 * it, the controllers), gl-keeper (SCHED_FIFO 1 where allowed: a take's
 * memory is due in time), and at SCHED_OTHER gl-sd-writer, gl-restore,
 * gl-recorder, gl-script, gl-watchdog, gl-osc; the supervisor is the main
 * thread.
 */
#ifndef GRIDLOOP_THREAD_H
#define GRIDLOOP_THREAD_H

#include <pthread.h>
#include <stddef.h>

struct thread_spec {
	const char *name;   /* at most 15 characters */
	int priority;	    /* 0: SCHED_OTHER; 1..99: SCHED_FIFO at that priority */
	size_t stack_bytes; /* 0: the default */
};

/* Starts main(arg) as spec says. 0, or -errno: -EPERM when real-time
 * scheduling is refused (the caller may try again with priority 0); the
 * thread is not running then. */
int thread_start(pthread_t *thread, const struct thread_spec *spec, void *(*main)(void *),
		 void *arg);

/* A low-priority thread (SCHED_OTHER) with this name: the SD writer, the
 * session loader, the recorder's disk thread (and the keeper where
 * SCHED_FIFO is refused). 0 or -errno. */
static inline int background_start(pthread_t *thread, void *(*main)(void *), void *arg,
				   const char *name)
{
	return thread_start(thread, &(struct thread_spec){.name = name}, main, arg);
}

#endif
