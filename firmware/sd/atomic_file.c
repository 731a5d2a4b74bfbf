/* atomic_file.c -- files that are either all there or not there at all
 * (atomic_file.h): write a temporary in the final directory, fsync it,
 * rename it over the final name, fsync the directory.
 *
 * The order is the whole point. The data must be on the card before the
 * rename (else a power cut can leave the new name pointing at an empty or
 * partial file on journalling filesystems that order metadata only), and
 * the directory must be flushed after it (else the rename itself may be
 * lost, which is harmless for atomicity but means "saved" was a lie).
 */
#include "atomic_file.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

const char *atomic_file_shown(const char *text, char *buf, size_t len)
{
	size_t i = 0, max = len > 4 ? len - 4 : 0;
	for (; i < max && text[i]; i++) {
		unsigned char c = (unsigned char)text[i];
		buf[i] = c >= 0x20 && c < 0x7f ? (char)c : '?';
	}
	if (len > 4 && text[i]) {
		memcpy(buf + i, "...", 3);
		i += 3;
	}
	if (len)
		buf[i < len ? i : len - 1] = '\0';
	return buf;
}

const char *atomic_file_why(int err)
{
	if (err < 0)
		err = -err;
	switch (err) {
	case ENOSPC:
	case EDQUOT:
		return "SD card full";
	case EROFS:
		return "SD card is read-only";
	case EIO:
		return "I/O error (card removed?)";
	case ENOENT:
		return "SD card not mounted (no such directory)";
	case EACCES:
	case EPERM:
		return "no permission to write there";
	default:
		return strerror(err);
	}
}

/* Fills err with "WHAT: why" and returns -err_no. */
static int fail(char *err, size_t errlen, const char *what, int err_no)
{
	char name[80];
	if (err && errlen)
		snprintf(err, errlen, "%s: %s",
			 atomic_file_shown(what, name, sizeof(name)),
			 atomic_file_why(err_no));
	return -err_no;
}

/* A plain name that fits, with room for its temporary's. */
static bool name_ok(const char *name)
{
	size_t len = strlen(name);
	return len > 0 && len < sizeof(((struct atomic_file *)0)->name) &&
	       !strchr(name, '/') && strcmp(name, ".") != 0 && strcmp(name, "..") != 0;
}

static int fsync_retrying(int fd)
{
	int r;
	do
		r = fsync(fd);
	while (r != 0 && errno == EINTR);
	return r;
}

int atomic_file_begin(struct atomic_file *f, const char *dir, const char *name, char *err,
		      size_t errlen)
{
	f->fd = -1;
	f->dir_fd = -1;
	f->name[0] = f->tmp[0] = '\0';
	if (!name_ok(name))
		return fail(err, errlen, name, EINVAL);
	snprintf(f->name, sizeof(f->name), "%s", name);
	snprintf(f->tmp, sizeof(f->tmp), ".%s.tmp", name);

	f->dir_fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (f->dir_fd < 0)
		return fail(err, errlen, dir, errno);
	f->fd = openat(f->dir_fd, f->tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (f->fd < 0) {
		int e = errno;
		close(f->dir_fd);
		f->dir_fd = -1;
		return fail(err, errlen, name, e);
	}
	return 0;
}

void atomic_file_abort(struct atomic_file *f)
{
	if (f->fd >= 0)
		close(f->fd);
	if (f->dir_fd >= 0) {
		unlinkat(f->dir_fd, f->tmp, 0);
		close(f->dir_fd);
	}
	f->fd = f->dir_fd = -1;
}

/* Gives up after a failed step of a commit: the temporary goes, the old
 * file stays. */
static int commit_failed(struct atomic_file *f, int e, char *err, size_t errlen)
{
	int r = fail(err, errlen, f->name, e);
	atomic_file_abort(f);
	return r;
}

int atomic_file_commit(struct atomic_file *f, char *err, size_t errlen)
{
	if (f->fd < 0 || f->dir_fd < 0)
		return commit_failed(f, EBADF, err, errlen);
	if (fsync_retrying(f->fd) != 0)
		return commit_failed(f, errno, err, errlen);
	/* On Linux the descriptor is gone even when close reports EINTR; any
	 * other error (EIO on a late write-back) means the data is not safe. */
	int r = close(f->fd);
	f->fd = -1;
	if (r != 0 && errno != EINTR)
		return commit_failed(f, errno, err, errlen);
	if (renameat(f->dir_fd, f->tmp, f->dir_fd, f->name) != 0)
		return commit_failed(f, errno, err, errlen);

	/* The new file is in place now: nothing to undo. A filesystem that
	 * cannot sync directories says EINVAL, which is not a failure. */
	int e = fsync_retrying(f->dir_fd) != 0 && errno != EINVAL ? errno : 0;
	close(f->dir_fd);
	f->dir_fd = -1;
	return e ? fail(err, errlen, f->name, e) : 0;
}

/* All of len bytes, through short writes and signals. 0 or -1 (errno). */
static int write_all(int fd, const void *data, size_t len)
{
	const char *p = data;
	while (len > 0) {
		ssize_t n = write(fd, p, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -1;
		if (n == 0) { /* a regular file never says 0 for len > 0 */
			errno = EIO;
			return -1;
		}
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

int atomic_file_write(const char *dir, const char *name, const void *data, size_t len,
		      char *err, size_t errlen)
{
	struct atomic_file f;
	int r = atomic_file_begin(&f, dir, name, err, errlen);
	if (r != 0)
		return r;
	if (write_all(f.fd, data, len) != 0)
		return commit_failed(&f, errno, err, errlen);
	return atomic_file_commit(&f, err, errlen);
}

/* ".NAME.tmp", as atomic_file_begin names its temporaries. */
static bool is_temporary(const char *name)
{
	size_t len = strlen(name);
	return len >= 6 && name[0] == '.' && strcmp(name + len - 4, ".tmp") == 0;
}

/* Also -errno when dir cannot be listed (callers that only tidy up may
 * ignore it). */
int atomic_file_sweep(const char *dir)
{
	DIR *d = opendir(dir);
	if (!d)
		return -errno;
	int removed = 0;
	struct dirent *e;
	while ((e = readdir(d)) != NULL) {
		if (is_temporary(e->d_name) && unlinkat(dirfd(d), e->d_name, 0) == 0)
			removed++;
	}
	closedir(d);
	return removed;
}
