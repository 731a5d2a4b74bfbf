/* fsfault_child.h -- a test program runs itself again, as a child, with the
 * SD card fault shim (fsfault.c) preloaded: the faults then hit the real
 * code's real system calls, and a SIGKILL "power cut" kills only the child.
 *
 * The shim is $FSFAULT_SO (scripts/run-tests sets it), else fsfault.so next
 * to the tests/ folder the binary is in. Where there is none, or the binary
 * cannot start itself again (arm64 under qemu-user, without binfmt_misc),
 * fsfault_run() says false and the caller skips: the native and sanitizer
 * runs cover those tests.
 */
#ifndef GRIDLOOP_FSFAULT_CHILD_H
#define GRIDLOOP_FSFAULT_CHILD_H

#include <errno.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

struct fsfault_child {
	char self[PATH_MAX];	  /* this binary */
	char shim[PATH_MAX + 32]; /* fsfault.so, "" when not found */
};

struct fsfault_outcome {
	int status;	 /* as waitpid gives it */
	char text[4096]; /* what the child wrote on the descriptor asked for */
};

static inline void fsfault_find(struct fsfault_child *c)
{
	ssize_t n = readlink("/proc/self/exe", c->self, sizeof(c->self) - 1);
	c->self[n > 0 ? n : 0] = '\0';
	const char *env = getenv("FSFAULT_SO");
	if (env && *env) {
		snprintf(c->shim, sizeof(c->shim), "%s", env);
	} else {
		char exe_dir[PATH_MAX];
		snprintf(exe_dir, sizeof(exe_dir), "%s", c->self);
		char *slash = strrchr(exe_dir, '/');
		if (slash)
			*slash = '\0';
		snprintf(c->shim, sizeof(c->shim), "%s/../fsfault.so", exe_dir);
	}
	if (access(c->shim, R_OK) != 0 || !c->self[0]) {
		fprintf(stderr, "no fault shim at %s: those tests are skipped\n",
			c->shim);
		c->shim[0] = '\0';
	}
}

/* Runs "SELF --child ARGS..." with FSFAULT=fault on dir; the child's
 * descriptor fd (1 or 2) comes back in o->text. false: the caller skips. */
static inline bool fsfault_run(const struct fsfault_child *c, const char *fault,
			       const char *dir, char *const args[], int fd,
			       struct fsfault_outcome *o)
{
	if (!c->shim[0])
		return false;
	int fds[2];
	if (pipe(fds))
		return false;
	fflush(stdout);
	fflush(stderr);
	pid_t pid = fork();
	if (pid < 0)
		return false;
	if (pid == 0) {
		char preload[2 * PATH_MAX + 64], asan[1024];
		const char *old = getenv("LD_PRELOAD"), *aopt = getenv("ASAN_OPTIONS");
		snprintf(preload, sizeof(preload), "%s%s%s", old ? old : "",
			 old && *old ? ":" : "", c->shim);
		/* The shim comes before ASan's runtime in the preload list. */
		snprintf(asan, sizeof(asan), "%s%sverify_asan_link_order=0",
			 aopt ? aopt : "", aopt && *aopt ? ":" : "");
		setenv("LD_PRELOAD", preload, 1);
		setenv("ASAN_OPTIONS", asan, 1);
		setenv("FSFAULT", fault, 1);
		setenv("FSFAULT_DIR", dir, 1);
		close(fds[0]);
		if (dup2(fds[1], fd) < 0)
			_exit(126);
		close(fds[1]);
		char *argv[16] = {(char *)c->self, "--child"};
		for (int i = 0; i < 13 && args[i]; i++)
			argv[i + 2] = args[i];
		execv(c->self, argv);
		_exit(127);
	}
	close(fds[1]);
	size_t len = 0;
	ssize_t r;
	while ((r = read(fds[0], o->text + len, sizeof(o->text) - 1 - len)) != 0) {
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0 || (len += (size_t)r) == sizeof(o->text) - 1)
			break;
	}
	o->text[len] = '\0';
	close(fds[0]);
	while (waitpid(pid, &o->status, 0) < 0)
		if (errno != EINTR)
			return false;
	if (WIFEXITED(o->status) && WEXITSTATUS(o->status) == 127) {
		fprintf(stderr, "cannot start %s again under the shim: skipped\n",
			c->self);
		return false;
	}
	return true;
}

/* The child ended by itself with this exit status. */
static inline bool fsfault_exited(const struct fsfault_outcome *o, int code)
{
	return WIFEXITED(o->status) && WEXITSTATUS(o->status) == code;
}

#endif
