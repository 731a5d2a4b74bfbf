/* profile_files.c -- controller profiles read from files and directories
 * (profile_files.h). */
#include "profile_files.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* path opened for reading without waiting, if it is a regular file; else
 * NULL with "path: why" in err. */
static FILE *open_regular(const char *path, char *err, size_t errlen)
{
	int fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
	if (fd < 0) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return NULL;
	}
	struct stat st;
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		snprintf(err, errlen, "%s: not a regular file", path);
		close(fd);
		return NULL;
	}
	FILE *f = fdopen(fd, "rb");
	if (!f) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		close(fd);
	}
	return f;
}

const char *profile_load(struct profile *p, const char *path, char *err, size_t errlen)
{
	FILE *f = open_regular(path, err, errlen);
	if (!f) {
		*p = (struct profile){0};
		return err;
	}
	char *text = malloc(PROFILE_MAX_FILE_SIZE + 1);
	if (!text) {
		fclose(f);
		*p = (struct profile){0};
		snprintf(err, errlen, "%s: out of memory", path);
		return err;
	}
	size_t n = fread(text, 1, PROFILE_MAX_FILE_SIZE + 1, f);
	bool bad = ferror(f) != 0;
	fclose(f);
	const char *why;
	if (bad) {
		*p = (struct profile){0};
		snprintf(err, errlen, "%s: read error", path);
		why = err;
	} else if (n > PROFILE_MAX_FILE_SIZE) {
		*p = (struct profile){0};
		snprintf(err, errlen, "%s: larger than %d bytes: not a profile", path,
			 PROFILE_MAX_FILE_SIZE);
		why = err;
	} else {
		why = profile_parse(p, path, text, n, err, errlen);
	}
	free(text);
	return why;
}

static int is_profile_file(const struct dirent *d)
{
	size_t n = strlen(d->d_name);
	return d->d_name[0] != '.' && n > 8 && strcmp(d->d_name + n - 8, ".profile") == 0;
}

int profile_load_dir(const char *dir, struct profile *out, int max,
		     void (*complain)(void *ctx, const char *message), void *ctx)
{
	struct dirent **names;
	char msg[512];
	int n = scandir(dir, &names, is_profile_file, alphasort);
	if (n < 0) {
		snprintf(msg, sizeof(msg), "%s: %s", dir, strerror(errno));
		if (complain)
			complain(ctx, msg);
		return -1;
	}
	int loaded = 0;
	for (int i = 0; i < n; i++) {
		char path[4096];
		if (loaded == max) {
			snprintf(msg, sizeof(msg),
				 "%s/%s: skipped, more than %d profiles", dir,
				 names[i]->d_name, max);
			if (complain)
				complain(ctx, msg);
		} else if ((size_t)snprintf(path, sizeof(path), "%s/%s", dir,
					    names[i]->d_name) >= sizeof(path)) {
			snprintf(msg, sizeof(msg), "%s: path too long", names[i]->d_name);
			if (complain)
				complain(ctx, msg);
		} else if (profile_load(&out[loaded], path, msg, sizeof(msg))) {
			if (complain)
				complain(ctx, msg);
		} else {
			loaded++;
		}
		free(names[i]);
	}
	free(names);
	return loaded;
}
