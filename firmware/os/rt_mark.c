/* rt_mark.c -- real-time section marks, checked by the preloaded guard in
 * test runs (see rt_mark.h). */
#include "rt_mark.h"

#include <dlfcn.h>
#include <stdatomic.h>
#include <stddef.h>

typedef void (*rt_mark_hook)(void);

/* Atomic so that rt_mark_init() may run while another thread marks; relaxed
 * is enough, the pointers only ever go from NULL to the guard's functions. */
static _Atomic(rt_mark_hook) hook_enter;
static _Atomic(rt_mark_hook) hook_leave;

void rt_mark_init(void)
{
	/* Converting dlsym's void * to a function pointer is what POSIX
	 * requires to work. */
	rt_mark_hook enter = (rt_mark_hook)dlsym(RTLD_DEFAULT, "rtguard_enter");
	rt_mark_hook leave = (rt_mark_hook)dlsym(RTLD_DEFAULT, "rtguard_leave");
	if (!enter || !leave)
		return; /* no guard, or half of one: leave the marks inert */
	atomic_store_explicit(&hook_leave, leave, memory_order_relaxed);
	atomic_store_explicit(&hook_enter, enter, memory_order_relaxed);
}

/* Run at load time too, so a test that forgets rt_mark_init() is still
 * guarded. */
__attribute__((constructor)) static void rt_mark_load(void)
{
	rt_mark_init();
}

void rt_mark_begin(void)
{
	rt_mark_hook enter = atomic_load_explicit(&hook_enter, memory_order_relaxed);
	if (enter)
		enter();
}

void rt_mark_end(void)
{
	rt_mark_hook leave = atomic_load_explicit(&hook_leave, memory_order_relaxed);
	if (leave)
		leave();
}

bool rt_mark_guarded(void)
{
	return atomic_load_explicit(&hook_enter, memory_order_relaxed) != NULL;
}
