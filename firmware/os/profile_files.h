/* profile_files.h -- controller profiles from the card or the tree: reading
 * one file, or every *.profile file of a directory, into profile_parse()
 * (the pure parser, midi/profile.h).
 *
 * Files are opened without waiting (a FIFO or a device would otherwise hold
 * up start-up) and only regular files are read.
 */
#ifndef GRIDLOOP_PROFILE_FILES_H
#define GRIDLOOP_PROFILE_FILES_H

#include "profile.h"

/* Reads and parses one file. Same return as profile_parse: NULL, or the
 * message "file[:line]: what is wrong" in err (also returned). */
const char *profile_load(struct profile *p, const char *path, char *err, size_t errlen);

/* Loads every *.profile file of a directory in name order into out[0..max).
 * A broken file is reported through complain (its message) and skipped.
 * Returns the number loaded, or -1 when the directory cannot be read. */
int profile_load_dir(const char *dir, struct profile *out, int max,
		     void (*complain)(void *ctx, const char *message), void *ctx);

#endif
