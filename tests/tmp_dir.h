/* tmp_dir.h -- a fresh directory for a test or a benchmark under $TMPDIR
 * (else /tmp), and its removal with everything in it. */
#ifndef GRIDLOOP_TMP_DIR_H
#define GRIDLOOP_TMP_DIR_H

#include <ftw.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>

/* "$TMPDIR/NAME.XXXXXX", made, into buf. false when it cannot be made. */
static inline bool tmp_dir_make(char *buf, size_t len, const char *name)
{
	const char *base = getenv("TMPDIR");
	snprintf(buf, len, "%s/%s.XXXXXX", base && *base ? base : "/tmp", name);
	return mkdtemp(buf) != NULL;
}

static inline int tmp_dir_remove_entry(const char *path, const struct stat *sb, int flag,
				       struct FTW *ftw)
{
	(void)sb;
	(void)flag;
	(void)ftw;
	return remove(path);
}

/* Removes path and everything below it (links are not followed). */
static inline int tmp_dir_remove(const char *path)
{
	return nftw(path, tmp_dir_remove_entry, 16, FTW_DEPTH | FTW_PHYS);
}

#endif
