/* sysmem.c -- how much memory gridloop may still have (sysmem.h). */
#include "sysmem.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

/* The first number after "key" on a line of a file, or UINT64_MAX. */
static uint64_t read_number(const char *path, const char *key)
{
	FILE *f = fopen(path, "re");
	if (!f)
		return UINT64_MAX;
	char line[256];
	uint64_t n = UINT64_MAX;
	size_t len = strlen(key);
	while (fgets(line, sizeof(line), f)) {
		if (strncmp(line, key, len))
			continue;
		char *end;
		errno = 0;
		unsigned long long x = strtoull(line + len, &end, 10);
		if (!errno && end != line + len)
			n = x;
		break;
	}
	fclose(f);
	return n;
}

/* The tightest limit less usage of a cgroup and its parents, from the
 * cgroup's directory under the mount up to the mount. */
static uint64_t cgroup_room(const char *mount, const char *cgroup, const char *limit_file,
			    const char *usage_file, const char *stat_key)
{
	char dir[2 * PATH_MAX], path[2 * PATH_MAX + 64];
	uint64_t room = UINT64_MAX;
	if ((size_t)snprintf(dir, sizeof(dir), "%s%s", mount, cgroup) >= sizeof(dir))
		return room;
	for (;;) {
		snprintf(path, sizeof(path), "%s/%s", dir, limit_file);
		uint64_t limit = read_number(path, ""); /* "max": UINT64_MAX */
		snprintf(path, sizeof(path), "%s/%s", dir, usage_file);
		uint64_t used = read_number(path, "");
		/* Usage counts the page cache; what is inactive of it the
		 * kernel reclaims before it refuses memory. */
		snprintf(path, sizeof(path), "%s/memory.stat", dir);
		uint64_t cache = read_number(path, stat_key);
		if (used != UINT64_MAX && cache != UINT64_MAX)
			used = cache < used ? used - cache : 0;
		if (limit != UINT64_MAX && limit < (UINT64_MAX >> 2)) {
			uint64_t left = used != UINT64_MAX && used < limit ? limit - used
					: used == UINT64_MAX		   ? limit
									   : 0;
			if (left < room)
				room = left;
		}
		char *slash = strrchr(dir, '/');
		if (!slash || (size_t)(slash - dir) < strlen(mount))
			break;
		*slash = '\0';
	}
	return room;
}

/* The process's cgroup path for controller `name` ("" for v2's "0::"), or
 * false. */
static bool own_cgroup(const char *root, bool v2, char *out, size_t len)
{
	char path[PATH_MAX];
	snprintf(path, sizeof(path), "%s/proc/self/cgroup", root);
	FILE *f = fopen(path, "re");
	if (!f)
		return false;
	char line[PATH_MAX];
	bool found = false;
	while (!found && fgets(line, sizeof(line), f)) {
		line[strcspn(line, "\n")] = '\0';
		char *a = strchr(line, ':');
		char *b = a ? strchr(a + 1, ':') : NULL;
		if (!b)
			continue;
		*a = *b = '\0';
		const char *controllers = a + 1;
		bool match = v2 ? !strcmp(line, "0") && !*controllers
				: strstr(controllers, "memory") != NULL;
		if (match) {
			/* "/" is the root: nothing to append. */
			snprintf(out, len, "%s", strcmp(b + 1, "/") ? b + 1 : "");
			found = true;
		}
	}
	fclose(f);
	return found;
}

/* A cgroup path that does not exist where it is mounted (a container that
 * sees its own cgroup as the root): the mount's own files. */
static uint64_t cgroup_bound(const char *root, bool v2)
{
	char cg[PATH_MAX], mount[PATH_MAX], probe[PATH_MAX * 2 + 32];
	if (!own_cgroup(root, v2, cg, sizeof(cg)))
		return UINT64_MAX;
	snprintf(mount, sizeof(mount), "%s/sys/fs/cgroup%s", root, v2 ? "" : "/memory");
	const char *limit = v2 ? "memory.max" : "memory.limit_in_bytes";
	const char *usage = v2 ? "memory.current" : "memory.usage_in_bytes";
	snprintf(probe, sizeof(probe), "%s%s/%s", mount, cg, limit);
	if (access(probe, R_OK) != 0)
		cg[0] = '\0';
	return cgroup_room(mount, cg, limit, usage,
			   v2 ? "inactive_file " : "total_inactive_file ");
}

/* CAP_IPC_LOCK in the effective set: RLIMIT_MEMLOCK does not apply. */
static bool can_lock_any(const char *root)
{
	char path[PATH_MAX];
	snprintf(path, sizeof(path), "%s/proc/self/status", root);
	FILE *f = fopen(path, "re");
	if (!f)
		return false;
	char line[256];
	unsigned long long caps = 0;
	while (fgets(line, sizeof(line), f))
		if (!strncmp(line, "CapEff:", 7))
			caps = strtoull(line + 7, NULL, 16);
	fclose(f);
	return caps & (1ull << 14); /* CAP_IPC_LOCK */
}

void sysmem_read(const char *root, bool lock_memory, struct sysmem_room *a)
{
	char path[PATH_MAX];
	snprintf(path, sizeof(path), "%s/proc/meminfo", root);
	uint64_t kb = read_number(path, "MemAvailable:");
	a->meminfo = kb == UINT64_MAX ? UINT64_MAX : kb * 1024;
	uint64_t v2 = cgroup_bound(root, true), v1 = cgroup_bound(root, false);
	a->cgroup = v2 < v1 ? v2 : v1;
	a->memlock = UINT64_MAX;
	struct rlimit rl;
	if (lock_memory && !can_lock_any(root) && getrlimit(RLIMIT_MEMLOCK, &rl) == 0 &&
	    rl.rlim_cur != RLIM_INFINITY)
		a->memlock = (uint64_t)rl.rlim_cur;
}

uint64_t sysmem_least(const struct sysmem_room *a)
{
	uint64_t least = a->meminfo < a->cgroup ? a->meminfo : a->cgroup;
	return a->memlock < least ? a->memlock : least;
}
