/* thread.c -- starting a thread with its name, policy and priority
 * (thread.h). */
#include "thread.h"

#include <sched.h>

int thread_start(pthread_t *thread, const struct thread_spec *spec, void *(*main)(void *),
		 void *arg)
{
	pthread_attr_t attr;
	struct sched_param sp = {.sched_priority = spec->priority};
	int err = pthread_attr_init(&attr);
	if (err)
		return -err;
	err = pthread_attr_setinheritsched(&attr, PTHREAD_EXPLICIT_SCHED);
	if (!err)
		err = pthread_attr_setschedpolicy(
		    &attr, spec->priority > 0 ? SCHED_FIFO : SCHED_OTHER);
	if (!err)
		err = pthread_attr_setschedparam(&attr, &sp);
	if (!err && spec->stack_bytes)
		err = pthread_attr_setstacksize(&attr, spec->stack_bytes);
	if (!err)
		err = pthread_create(thread, &attr, main, arg);
	pthread_attr_destroy(&attr);
	if (err)
		return -err;
	pthread_setname_np(*thread, spec->name);
	return 0;
}
