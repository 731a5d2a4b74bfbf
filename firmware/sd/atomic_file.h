/* atomic_file.h -- files that are either all there or not there at all,
 * whatever moment the power goes.
 *
 * A file is written under a temporary name in its final directory, flushed
 * to the card (fsync), renamed over the final name, and then the directory
 * itself is flushed, so the rename is on the card too. A crash at any point
 * leaves the old file (or none) or the new one, complete; a leftover
 * temporary (".NAME.tmp") is removed by atomic_file_sweep(). Every failure
 * comes back as a message that says what it means for the musician
 * ("SD card full", "SD card is read-only", "I/O error: card removed?").
 */
#ifndef GRIDLOOP_ATOMIC_FILE_H
#define GRIDLOOP_ATOMIC_FILE_H

#include <stddef.h>

struct atomic_file {
	int fd;		/* write here (or hand it to sf_open_fd) */
	int dir_fd;	/* the directory, for the rename and its fsync */
	char name[256]; /* the final name */
	char tmp[272];	/* the temporary name, in the same directory */
};

/* Opens DIR/.NAME.tmp for writing. 0, or -errno with a message in err. */
int atomic_file_begin(struct atomic_file *f, const char *dir, const char *name, char *err,
		      size_t errlen);
/* fsync, close, rename to NAME, fsync the directory. 0, or -errno with a
 * message in err; on failure the temporary is removed and the old NAME (if
 * any) is untouched. */
int atomic_file_commit(struct atomic_file *f, char *err, size_t errlen);
/* Gives up: closes and removes the temporary. */
void atomic_file_abort(struct atomic_file *f);

/* The whole of data as DIR/NAME, atomically. 0 or -errno (message in err). */
int atomic_file_write(const char *dir, const char *name, const void *data, size_t len,
		      char *err, size_t errlen);

/* Removes leftover temporaries (".*.tmp") in dir; returns how many. */
int atomic_file_sweep(const char *dir);

/* A musician's message for an errno from a write path: ENOSPC "SD card
 * full", EROFS "SD card is read-only", EIO "I/O error (card removed?)",
 * ENOENT "SD card not mounted (no such directory)", else strerror. */
const char *atomic_file_why(int err);

/* A name or path as it may be shown to a musician: printable ASCII only,
 * cut with "..." to fit len, whatever bytes it holds. Returns buf. */
const char *atomic_file_shown(const char *text, char *buf, size_t len);

#endif
