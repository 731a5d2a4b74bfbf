/* background.c -- low-priority threads, whoever starts them (background.h). */
#include "background.h"

#include <sched.h>

int background_start(pthread_t *thread, void *(*main)(void *), void *arg,
		     const char *name)
{
	pthread_attr_t attr;
	struct sched_param sp = {.sched_priority = 0};
	pthread_attr_init(&attr);
	pthread_attr_setinheritsched(&attr, PTHREAD_EXPLICIT_SCHED);
	pthread_attr_setschedpolicy(&attr, SCHED_OTHER);
	pthread_attr_setschedparam(&attr, &sp);
	int err = pthread_create(thread, &attr, main, arg);
	pthread_attr_destroy(&attr);
	if (err)
		return -err;
	pthread_setname_np(*thread, name);
	return 0;
}
