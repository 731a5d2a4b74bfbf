/* script_feeder.c -- reading a --script file and feeding its commands to
 * the engine from a thread of its own (script_feeder.h). */
#include "script_feeder.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "gl_limits.h"
#include "thread.h"
#include "wake.h"

/* Reads a whole script file of at most GL_SCRIPT_BYTES_MAX bytes into a
 * malloc'd buffer. Never blocks in open() (a FIFO nobody writes to reads as
 * empty); a directory or a file that is too big is refused before it is
 * read. 0, or -1 with the message in err. */
static int read_script(const char *path, char **out, size_t *len, char *err,
		       size_t errlen)
{
	char *text = NULL;
	size_t size = 0;
	int rc = -1;
	int fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC | O_NOCTTY);
	struct stat st;
	if (fd < 0 || fstat(fd, &st)) {
		snprintf(err, errlen, "%s: cannot open the script: %s", path,
			 strerror(errno));
		goto cleanup;
	}
	if (S_ISDIR(st.st_mode)) {
		snprintf(err, errlen, "%s: is a directory, not a script", path);
		goto cleanup;
	}
	if (S_ISREG(st.st_mode) && st.st_size > GL_SCRIPT_BYTES_MAX) {
		snprintf(err, errlen,
			 "%s: %lld bytes, more than the %d a script may have", path,
			 (long long)st.st_size, GL_SCRIPT_BYTES_MAX);
		goto cleanup;
	}
	/* Reads wait from here on: a pipe (`--script <(make-set)`) is read to
	 * its end. */
	fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK);
	/* Room for a regular file's size and one byte more (to see it grow
	 * past the limit); a pipe or device grows it as it comes. */
	size_t cap = S_ISREG(st.st_mode) ? (size_t)st.st_size + 1 : 65536;
	text = malloc(cap);
	if (!text) {
		snprintf(err, errlen, "%s: out of memory", path);
		goto cleanup;
	}
	while (size <= GL_SCRIPT_BYTES_MAX) {
		if (size == cap) {
			size_t more = cap * 2 > (size_t)GL_SCRIPT_BYTES_MAX + 1
					  ? (size_t)GL_SCRIPT_BYTES_MAX + 1
					  : cap * 2;
			char *grown = realloc(text, more);
			if (!grown) {
				snprintf(err, errlen, "%s: out of memory", path);
				goto cleanup;
			}
			text = grown;
			cap = more;
		}
		ssize_t n = read(fd, text + size, cap - size);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			snprintf(err, errlen, "%s: cannot read the script: %s", path,
				 strerror(errno));
			goto cleanup;
		}
		if (n == 0)
			break;
		size += (size_t)n;
	}
	if (size > GL_SCRIPT_BYTES_MAX) {
		snprintf(err, errlen, "%s: more than the %d bytes a script may have",
			 path, GL_SCRIPT_BYTES_MAX);
		goto cleanup;
	}
	if (size == 0) {
		snprintf(err, errlen, "%s: the script is empty", path);
		goto cleanup;
	}
	*out = text;
	*len = size;
	text = NULL;
	rc = 0;
cleanup:
	free(text);
	if (fd >= 0)
		close(fd);
	return rc;
}

int script_parse_file(struct script *s, const char *path, const struct script_midi *midi,
		      char *err, size_t errlen)
{
	memset(s, 0, sizeof(*s));
	s->exit_frame = GL_NEVER;
	char *text;
	size_t len;
	if (read_script(path, &text, &len, err, errlen))
		return -1;
	int rc = script_parse_buffer(s, text, len, path, midi, err, errlen);
	free(text);
	return rc;
}

/* ---- The feeder ------------------------------------------------------- */

struct script_feeder {
	const struct script *s;
	struct spsc *queue;
	const atomic_int_least64_t *now;
	size_t next; /* first entry not pushed yet; only the feeding thread */
	atomic_int_least64_t horizon;
	atomic_uint_least64_t late;
	atomic_bool stop;
	/* The feeder sleeps until the audio thread has taken half the queue
	 * (script_feeder_poke) or a stop: never a timed poll. `asleep` says it
	 * waits for that (or is about to), so a period wakes it at most once. */
	atomic_bool asleep;
	struct wake wake;   /* the feeder sleeps on it */
	struct wake filled; /* an offline period waits on it (script_feeder_wait) */
	bool running;
	pthread_t thread;
};

struct script_feeder *script_feeder_create(const struct script *s, struct spsc *queue,
					   const atomic_int_least64_t *now)
{
	struct script_feeder *f = calloc(1, sizeof(*f));
	if (!f)
		return NULL;
	f->wake.fd = f->filled.fd = -1;
	if (wake_init(&f->wake) || wake_init(&f->filled)) {
		script_feeder_destroy(f);
		return NULL;
	}
	f->s = s;
	f->queue = queue;
	f->now = now;
	atomic_init(&f->horizon, s->count ? s->entries[0].cmd.frame : GL_NEVER);
	atomic_init(&f->late, 0);
	atomic_init(&f->stop, false);
	atomic_init(&f->asleep, false);
	return f;
}

size_t script_feeder_fill(struct script_feeder *f)
{
	/* Only this thread pushes, so the count can only fall under our feet:
	 * room seen here is room at the push. */
	while (f->next < f->s->count && spsc_count(f->queue) < spsc_capacity(f->queue)) {
		const struct command *cmd = &f->s->entries[f->next].cmd;
		if (cmd->frame < atomic_load_explicit(f->now, memory_order_acquire))
			atomic_fetch_add_explicit(&f->late, 1, memory_order_relaxed);
		spsc_push(f->queue, cmd);
		f->next++;
	}
	/* Release: the commands are in the queue before the gate opens. */
	atomic_store_explicit(&f->horizon,
			      f->next < f->s->count ? f->s->entries[f->next].cmd.frame
						    : GL_NEVER,
			      memory_order_release);
	wake_signal(&f->filled);
	return f->s->count - f->next;
}

/* Half a queue: room enough that a refill is worth a wake-up, and the other
 * half, still queued, spans far more time than the feeder takes to wake. */
static bool wants_refill(const struct script_feeder *f)
{
	return spsc_count(f->queue) <= spsc_capacity(f->queue) / 2;
}

static void *feeder_main(void *arg)
{
	struct script_feeder *f = arg;
	while (!atomic_load(&f->stop) && script_feeder_fill(f) > 0) {
		atomic_store(&f->asleep, true);
		/* Dekker with script_feeder_poke: our flag is visible before we
		 * look at the queue, its pop before it looks at the flag, so one
		 * of us sees the other and no refill is missed. */
		atomic_thread_fence(memory_order_seq_cst);
		if (!wants_refill(f) && !atomic_load(&f->stop))
			wake_wait(&f->wake, -1);
		atomic_store(&f->asleep, false);
	}
	return NULL;
}

void script_feeder_poke(struct script_feeder *f, bool now)
{
	atomic_thread_fence(memory_order_seq_cst);
	if (!atomic_load_explicit(&f->asleep, memory_order_relaxed) ||
	    (!now && !wants_refill(f)))
		return;
	if (atomic_exchange_explicit(&f->asleep, false, memory_order_relaxed))
		wake_signal(&f->wake);
}

int script_feeder_wait(struct script_feeder *f, int timeout_ms)
{
	return wake_wait(&f->filled, timeout_ms);
}

int script_feeder_start(struct script_feeder *f)
{
	int rc = -thread_start(&f->thread, &(struct thread_spec){.name = "gl-script"},
			       feeder_main, f);
	if (rc)
		return -rc;
	f->running = true;
	return 0;
}

void script_feeder_stop(struct script_feeder *f)
{
	if (!f->running)
		return;
	atomic_store(&f->stop, true);
	wake_signal(&f->wake);
	pthread_join(f->thread, NULL);
	f->running = false;
}

const atomic_int_least64_t *script_feeder_horizon(const struct script_feeder *f)
{
	return &f->horizon;
}

uint64_t script_feeder_late(const struct script_feeder *f)
{
	return atomic_load_explicit(&f->late, memory_order_relaxed);
}

void script_feeder_destroy(struct script_feeder *f)
{
	if (!f)
		return;
	script_feeder_stop(f);
	wake_free(&f->wake);
	wake_free(&f->filled);
	free(f);
}
