/* background.h -- starting the program's low-priority threads (the keeper,
 * the SD writer, the session loader, the recorder's disk thread).
 *
 * Each gets SCHED_OTHER through explicit attributes: a thread created by a
 * real-time one would otherwise inherit SCHED_FIFO and compete with the
 * audio it is there to serve.
 */
#ifndef GRIDLOOP_BACKGROUND_H
#define GRIDLOOP_BACKGROUND_H

#include <pthread.h>

/* 0, or -errno. name: at most 15 characters (it shows in top and ps). */
int background_start(pthread_t *thread, void *(*main)(void *), void *arg,
		     const char *name);

#endif
