/* export_cli.c -- `gridloop export` (see export_cli.h). */
#include "export_cli.h"

#include "export.h"
#include "options.h"
#include "sd_writer.h"
#include "session_store.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define WAIT_SECONDS 120 /* an export of a full grid takes seconds, not minutes */

/* A small file's text ("" when it is missing, or not a regular file: a
 * FIFO named as the pid file must not hold the export for ever). */
static void read_small(const char *path, char *out, size_t len)
{
	out[0] = '\0';
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
	struct stat st;
	if (fd < 0)
		return;
	if (fstat(fd, &st) == 0 && (S_ISREG(st.st_mode) || !strncmp(path, "/proc/", 6))) {
		ssize_t n = read(fd, out, len - 1);
		out[n > 0 ? n : 0] = '\0';
	}
	close(fd);
}

/* The running gridloop's pid, or 0. The name check keeps a stale pid file
 * from making us signal some other program that got the number since. */
/* The outcome file's text and which file it is. An answer is new when
 * either changed: the writer replaces the file as a whole (a new file
 * renamed over the old one, so a new inode), and two answers may say the
 * same ("nothing to export" twice). */
struct outcome {
	char text[PATH_MAX + 256];
	dev_t dev;
	ino_t ino;
	struct timespec mtime;
};

/* One open file for both, so that the text is the file's that was seen. */
static void read_outcome(const char *path, struct outcome *out)
{
	struct stat st;
	memset(out, 0, sizeof(*out));
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
	if (fd < 0)
		return;
	if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode)) {
		ssize_t n = read(fd, out->text, sizeof(out->text) - 1);
		out->text[n > 0 ? n : 0] = '\0';
		out->dev = st.st_dev;
		out->ino = st.st_ino;
		out->mtime = st.st_mtim;
	}
	close(fd);
}

static bool outcome_new(const struct outcome *now, const struct outcome *before)
{
	return now->text[0] &&
	       (strcmp(now->text, before->text) || now->dev != before->dev ||
		now->ino != before->ino || now->mtime.tv_sec != before->mtime.tv_sec ||
		now->mtime.tv_nsec != before->mtime.tv_nsec);
}

static pid_t running_gridloop(const char *pid_file)
{
	char text[32], comm[64], path[64];
	read_small(pid_file, text, sizeof(text));
	long pid = strtol(text, NULL, 10);
	if (pid <= 1 || kill((pid_t)pid, 0) != 0)
		return 0;
	snprintf(path, sizeof(path), "/proc/%ld/comm", pid);
	read_small(path, comm, sizeof(comm));
	return strncmp(comm, "gridloop", 8) == 0 ? (pid_t)pid : 0;
}

static int ask_running(pid_t pid, const char *session_dir, const char *export_dir)
{
	char path[PATH_MAX + 32];
	static struct outcome before, now;
	/* One request at a time: signals to one process coalesce, and five
	 * exports asked at once would get one export and one answer. The
	 * lock goes with this process. */
	char turn[PATH_MAX + 32];
	int turn_fd = -1;
	if (session_store_beside(session_dir, ".export.lock", turn, sizeof(turn)) == 0)
		turn_fd = open(
		    turn, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK, 0644);
	if (turn_fd >= 0 && flock(turn_fd, LOCK_EX | LOCK_NB) != 0) {
		printf("gridloop export: another export is asked for; waiting for it\n");
		fflush(stdout);
		flock(turn_fd, LOCK_EX);
	}
	snprintf(path, sizeof(path), "%s/%s", export_dir, SD_WRITER_LAST_EXPORT);
	read_outcome(path, &before);
	if (kill(pid, SIGUSR2)) {
		fprintf(stderr, "gridloop export: cannot signal gridloop (pid %ld): %s\n",
			(long)pid, strerror(errno));
		return 1;
	}
	printf("gridloop export: asked gridloop (pid %ld); waiting for the export\n",
	       (long)pid);
	fflush(stdout);
	for (int i = 0; i < WAIT_SECONDS * 10; i++) {
		struct timespec ts = {0, 100000000};
		nanosleep(&ts, NULL);
		read_outcome(path, &now);
		if (outcome_new(&now, &before)) {
			printf("gridloop export: %s", now.text);
			return strncmp(now.text, "ok ", 3) == 0 ? 0 : 1;
		}
		if (kill(pid, 0) != 0 && errno == ESRCH) {
			fprintf(stderr,
				"gridloop export: gridloop (pid %ld) ended before the "
				"export\n",
				(long)pid);
			return 1;
		}
	}
	fprintf(stderr,
		"gridloop export: no answer from gridloop within %d s (see its log)\n",
		WAIT_SECONDS);
	return 1;
}

static int export_saved(const struct options *o, const char *export_dir)
{
	static struct session s; /* big: not on the stack */
	char err[1024] = "", folder[PATH_MAX + 64];
	/* Read only: temporaries and unlisted files are the lock holder's to
	 * sweep (a gridloop that starts now waits for this export). */
	int rc = session_store_read(o->session_dir, &s, err, sizeof(err));
	if (rc < 0) {
		fprintf(stderr, "gridloop export: %s\n", err);
		return 1;
	}
	if (rc > 0) {
		fprintf(stderr, "gridloop export: no saved session in %s\n",
			o->session_dir);
		return 1;
	}
	if (export_session(export_dir, &s, o->session_dir, o->export_format, time(NULL),
			   folder, sizeof(folder), err, sizeof(err))) {
		fprintf(stderr, "gridloop export: %s\n", err);
		return 1;
	}
	printf("gridloop export: ok %s (%s)\n", folder,
	       export_format_name(o->export_format));
	if (err[0]) /* skipped clips: the rest was exported */
		fprintf(stderr, "gridloop export: but: %s\n", err);
	return 0;
}

int export_cli(int argc, char **argv)
{
	struct options o;
	char err[512], export_dir[PATH_MAX];
	options_defaults(&o);
	enum options_result r = options_parse(&o, argc, argv, stdout, err, sizeof(err));
	if (r != OPTIONS_RUN) {
		options_free(&o);
		if (r == OPTIONS_DONE)
			return 0;
		fprintf(stderr, "gridloop export: %s\n", err);
		return 2;
	}
	int status;
	options_export_dir(&o, export_dir, sizeof(export_dir));
	if (!o.session_dir) {
		fprintf(stderr,
			"gridloop export: no session directory ([session] dir in %s, or "
			"--session DIR)\n",
			o.config_path);
		status = 2;
	} else {
		/* Whether a gridloop runs on this directory is its lock's to say
		 * (a pid file may be missing or another's): held, the running
		 * one exports (it has the takes not saved yet); free, this
		 * process holds it shared while it reads the card. */
		session_store_clean_path(o.session_dir);
		pid_t holder = 0;
		int lock =
		    session_store_lock(o.session_dir, true, &holder, err, sizeof(err));
		pid_t pid = lock == -1 ? holder : 0;
		if (lock == -1 && !pid) /* the lock says one runs, not who */
			pid = running_gridloop(o.pid_file ? o.pid_file
							  : OPTIONS_DEFAULT_PID_FILE);
		if (lock == -1 && !pid) {
			fprintf(stderr, "gridloop export: %s, and no pid to ask\n", err);
			status = 1;
		} else if (pid) {
			status = ask_running(pid, o.session_dir, export_dir);
		} else {
			status = export_saved(&o, export_dir);
		}
		if (lock >= 0)
			close(lock);
	}
	options_free(&o);
	return status;
}
