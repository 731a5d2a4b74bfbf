/* mono_clock.h -- CLOCK_MONOTONIC in nanoseconds: the one clock the
 * program's threads time things by (timeouts, retries, boot-to-play
 * figures). Not for audio time, which is frames (engine.h). */
#ifndef GRIDLOOP_MONO_CLOCK_H
#define GRIDLOOP_MONO_CLOCK_H

#include <stdint.h>
#include <time.h>

static inline int64_t mono_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

#endif
