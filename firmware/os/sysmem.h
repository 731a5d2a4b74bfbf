/* sysmem.h -- how much memory gridloop may still have: what it checks a
 * size against before it maps anything (the config's sizes at start, a
 * clip before it is restored). Read from /proc and /sys; never blocks.
 */
#ifndef GRIDLOOP_SYSMEM_H
#define GRIDLOOP_SYSMEM_H

#include <stdbool.h>
#include <stdint.h>

/* What the system lets gridloop have, in bytes; UINT64_MAX: no such bound. */
struct sysmem_room {
	uint64_t meminfo; /* MemAvailable in /proc/meminfo */
	uint64_t cgroup;  /* the tightest memory.max (or v1 limit_in_bytes) of the
			   * process's cgroup and its parents, less their usage */
	uint64_t memlock; /* RLIMIT_MEMLOCK, when memory is locked without
			   * CAP_IPC_LOCK */
};

/* Reads the bounds above. root is put before /proc and /sys ("" on a real
 * system; a directory with a fake proc/ and sys/ in tests). A bound that
 * cannot be read is UINT64_MAX: never a reason to refuse. */
void sysmem_read(const char *root, bool lock_memory, struct sysmem_room *a);

/* The least of a's bounds, in bytes; UINT64_MAX when none is known. */
uint64_t sysmem_least(const struct sysmem_room *a);

#endif
