/* recorder.c -- the performance recorder (see recorder.h): the master mix
 * of a whole gig, pushed by the audio thread into a lock-free ring and
 * written to the card by a low-priority disk thread with libsndfile.
 *
 * The ring holds interleaved float frames. Its indices count frames, up and
 * never back (size_t), and the capacity is a power of two, so "head - tail"
 * is the fill level and "index & mask" the slot, with the same C11
 * acquire/release pairs as spsc.c (JACK2's ringbuffer.c, PipeWire's
 * spa/utils/ringbuffer.h):
 *
 *   push:  load tail (acquire), copy frames in, store head (release)
 *   drain: load head (acquire), write frames out, store tail (release)
 *
 * The audio thread's side never waits: what does not fit is counted as lost.
 * When the card fails, the disk thread closes the file and from then on
 * drains the ring into the lost count, so the audio thread sees no
 * difference.
 */
#include "recorder.h"

#include "thread.h"
#include "mono_clock.h"
#include "wake.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <pthread.h>
#include <sched.h>
#include <sndfile.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define WAKE_HZ		   10	/* the audio thread wakes the disk thread this often */
#define WRITE_CHUNK_FRAMES 4096 /* per write: room comes back to the ring sooner */
#define SYNC_INTERVAL_NS   2000000000LL /* fsync this often: a power cut costs less */
#define MAX_RING_BYTES	   ((size_t)1 << 31)
#define MAX_NAME_TRIES	   1000

struct recorder {
	/* Each index on its own cache line: the two threads write one each. */
	_Alignas(64) atomic_size_t head; /* next frame to write; the audio thread's */
	size_t next_wake; /* the audio thread's: wake the disk thread here */
	_Alignas(64) atomic_size_t tail; /* next frame to read; the disk thread's */
	_Alignas(64) size_t mask;	 /* capacity in frames - 1 */
	int channels;
	size_t wake_frames; /* frames pushed between two wake-ups */
	struct wake wake;   /* the disk thread sleeps on it */
	float *ring;
	size_t ring_bytes; /* mapped */

	atomic_uint_least64_t frames_written;
	atomic_uint_least64_t frames_lost;
	atomic_int error;

	SNDFILE *file; /* NULL once closed (stopped, or after a write error) */
	char path[512];
	int64_t last_sync_ns; /* CLOCK_MONOTONIC */
	bool wrote_since_sync;

	pthread_t thread;
	atomic_bool running;
	bool started, stopped;
};

/* ---- the real-time side --------------------------------------------------- */

static void ring_copy_in(struct recorder *r, size_t head, const float *in, size_t n)
{
	size_t cap = r->mask + 1, ch = (size_t)r->channels;
	size_t start = head & r->mask;
	size_t first = n < cap - start ? n : cap - start;
	memcpy(r->ring + start * ch, in, first * ch * sizeof(float));
	if (n > first)
		memcpy(r->ring, in + first * ch, (n - first) * ch * sizeof(float));
}

/* Wait-free: two loads, at most two copies, a store and an add. A NULL
 * recorder is "off", so the audio thread can call it unconditionally. */
void recorder_push(struct recorder *r, const float *interleaved, uint32_t frames)
{
	if (!r || !frames)
		return;
	/* Our own index needs no ordering; the other side's needs acquire so
	 * that the disk thread's reads of the frames happened before we reuse
	 * their slots. */
	size_t head = atomic_load_explicit(&r->head, memory_order_relaxed);
	size_t tail = atomic_load_explicit(&r->tail, memory_order_acquire);
	size_t room = r->mask + 1 - (head - tail);
	size_t n = frames < room ? frames : room;
	if (n) {
		ring_copy_in(r, head, interleaved, n);
		/* Release: the frames are visible before the head that says so. */
		atomic_store_explicit(&r->head, head + n, memory_order_release);
	}
	if (n < frames)
		atomic_fetch_add_explicit(&r->frames_lost, frames - n,
					  memory_order_relaxed);
	/* The disk thread sleeps until a batch is there (one non-blocking
	 * eventfd write, wake.h), not on a timer. */
	if (head + n >= r->next_wake) {
		r->next_wake = head + n + r->wake_frames;
		wake_signal(&r->wake);
	}
}

/* ---- the disk side -------------------------------------------------------- */

/* The card failed: remember why, close what we have (the header still says
 * how much of it is good), and write nothing more. */
static void disk_failed(struct recorder *r, int err)
{
	atomic_store(&r->error, err ? err : EIO);
	sf_close(r->file);
	r->file = NULL;
}

static void write_frames(struct recorder *r, const float *p, size_t n)
{
	if (r->file) {
		errno = 0;
		sf_count_t done = sf_writef_float(r->file, p, (sf_count_t)n);
		int err = errno;
		if (done < 0)
			done = 0;
		atomic_fetch_add_explicit(&r->frames_written, (uint64_t)done,
					  memory_order_relaxed);
		r->wrote_since_sync = true;
		if ((size_t)done == n)
			return;
		disk_failed(r, err);
		n -= (size_t)done;
	}
	atomic_fetch_add_explicit(&r->frames_lost, n, memory_order_relaxed);
}

/* Writes (or, after a failure, drops) the frames up to head, at most one
 * chunk and never across the ring's end. Frames taken from the ring. */
static size_t drain_once(struct recorder *r, size_t head)
{
	size_t tail = atomic_load_explicit(&r->tail, memory_order_relaxed);
	size_t n = head - tail, cap = r->mask + 1;
	size_t start = tail & r->mask;
	if (n > cap - start)
		n = cap - start;
	if (n > WRITE_CHUNK_FRAMES)
		n = WRITE_CHUNK_FRAMES;
	if (!n)
		return 0;
	write_frames(r, r->ring + start * (size_t)r->channels, n);
	/* Release: our reads of the slots are done before the audio thread
	 * may reuse them. */
	atomic_store_explicit(&r->tail, tail + n, memory_order_release);
	return n;
}

static size_t drain_available(struct recorder *r)
{
	/* Acquire pairs with the push's release of head. */
	return drain_once(r, atomic_load_explicit(&r->head, memory_order_acquire));
}

/* Written data reaches the card within the kernel's writeback delay (up to
 * 30 s); an fsync now and then makes a power cut cost seconds, not that. */
static void maybe_sync(struct recorder *r)
{
	int64_t now = mono_ns();
	if (!r->file || !r->wrote_since_sync || now - r->last_sync_ns < SYNC_INTERVAL_NS)
		return;
	sf_write_sync(r->file);
	r->wrote_since_sync = false;
	r->last_sync_ns = mono_ns();
}

static void *disk_main(void *arg)
{
	struct recorder *r = arg;
	while (atomic_load_explicit(&r->running, memory_order_acquire)) {
		if (drain_available(r)) {
			maybe_sync(r);
			continue;
		}
		maybe_sync(r);
		/* Asleep until the audio thread has a batch, the stop, or the
		 * next fsync of what was written. */
		int timeout = -1;
		if (r->file && r->wrote_since_sync) {
			int64_t ms =
			    (r->last_sync_ns + SYNC_INTERVAL_NS - mono_ns()) / 1000000;
			timeout = ms < 0 ? 0 : (int)ms + 1;
		}
		wake_wait(&r->wake, timeout);
	}
	return NULL;
}

int recorder_start(struct recorder *r)
{
	if (r->stopped)
		return -EINVAL;
	if (r->started)
		return 0;
	atomic_store(&r->running, true);
	int err = background_start(&r->thread, disk_main, r, "gl-recorder");
	if (err) {
		atomic_store(&r->running, false);
		return err;
	}
	r->started = true;
	return 0;
}

void recorder_stop(struct recorder *r)
{
	if (!r || r->stopped)
		return;
	if (r->started) {
		atomic_store_explicit(&r->running, false, memory_order_release);
		wake_signal(&r->wake);
		pthread_join(r->thread, NULL);
		r->started = false;
	}
	/* The disk thread is gone: this thread is the consumer now. Drain up
	 * to the head of this moment, so a producer still running cannot keep
	 * us here. */
	size_t head = atomic_load_explicit(&r->head, memory_order_acquire);
	while (drain_once(r, head))
		;
	if (r->file && sf_close(r->file) != 0 && !atomic_load(&r->error))
		atomic_store(&r->error, EIO);
	r->file = NULL;
	r->stopped = true;
}

void recorder_get_stats(struct recorder *r, struct recorder_stats *st)
{
	st->frames_written = atomic_load(&r->frames_written);
	st->frames_lost = atomic_load(&r->frames_lost);
	st->error = atomic_load(&r->error);
	/* Set in recorder_create, before any thread: never changes. */
	snprintf(st->file, sizeof(st->file), "%s", r->path);
}

/* ---- creation ------------------------------------------------------------- */

static int sf_format_of(enum export_format f)
{
	switch (f) {
	case EXPORT_WAV16:
		return SF_FORMAT_RF64 | SF_FORMAT_PCM_16;
	case EXPORT_WAV24:
		return SF_FORMAT_RF64 | SF_FORMAT_PCM_24;
	case EXPORT_WAV_FLOAT:
		return SF_FORMAT_RF64 | SF_FORMAT_FLOAT;
	case EXPORT_FLAC16:
		return SF_FORMAT_FLAC | SF_FORMAT_PCM_16;
	case EXPORT_FLAC24:
		return SF_FORMAT_FLAC | SF_FORMAT_PCM_24;
	}
	return 0;
}

static const char *extension_of(enum export_format f)
{
	return f == EXPORT_FLAC16 || f == EXPORT_FLAC24 ? "flac" : "wav";
}

/* mkdir -p. 0 or -errno. */
static int make_dirs(const char *dir)
{
	char path[512];
	if (snprintf(path, sizeof(path), "%s", dir) >= (int)sizeof(path))
		return -ENAMETOOLONG;
	for (char *p = path + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(path, 0755) != 0 && errno != EEXIST)
			return -errno;
		*p = '/';
	}
	if (mkdir(path, 0755) != 0 && errno != EEXIST)
		return -errno;
	return 0;
}

/* Creates DIR/gig-YYYY-MM-DD_HHMM.ext, or _2, _3... after the time when
 * that is taken (O_EXCL: two recorders never share a file). fd or -errno. */
static int create_file(struct recorder *r, const struct recorder_config *cfg)
{
	char when[32], stamp[96];
	time_t now = time(NULL);
	struct tm tm;
	localtime_r(&now, &tm);
	strftime(when, sizeof(when), "%Y-%m-%d_%H%M", &tm);
	snprintf(stamp, sizeof(stamp), "%.60s-%s", cfg->prefix ? cfg->prefix : "gig",
		 when);
	const char *ext = extension_of(cfg->format);
	for (int i = 1; i <= MAX_NAME_TRIES; i++) {
		int len = i == 1 ? snprintf(r->path, sizeof(r->path), "%s/%s.%s",
					    cfg->dir, stamp, ext)
				 : snprintf(r->path, sizeof(r->path), "%s/%s_%d.%s",
					    cfg->dir, stamp, i, ext);
		if (len >= (int)sizeof(r->path))
			return -ENAMETOOLONG;
		int fd = open(r->path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
		if (fd >= 0)
			return fd;
		if (errno != EEXIST)
			return -errno;
	}
	return -EEXIST;
}

/* Opens the file for libsndfile with the settings a whole gig needs. */
static int open_sound_file(struct recorder *r, const struct recorder_config *cfg,
			   char *err, size_t errlen)
{
	int fd = create_file(r, cfg);
	if (fd < 0) {
		snprintf(err, errlen, "recorder: cannot create a file in %s: %s",
			 cfg->dir, strerror(-fd));
		return -1;
	}
	SF_INFO info = {.samplerate = (int)cfg->rate,
			.channels = cfg->channels,
			.format = sf_format_of(cfg->format)};
	r->file = sf_open_fd(fd, SFM_WRITE, &info, SF_TRUE); /* closes fd on failure */
	if (!r->file) {
		snprintf(err, errlen, "recorder: cannot open %s: %s", r->path,
			 sf_strerror(NULL));
		unlink(r->path);
		return -1;
	}
	/* RF64 that stays a plain WAV below 4 GB; a header rewritten after
	 * every write, so a file cut short by a power cut is still readable;
	 * overs clipped, not wrapped, in the integer formats. */
	if ((info.format & SF_FORMAT_TYPEMASK) == SF_FORMAT_RF64)
		sf_command(r->file, SFC_RF64_AUTO_DOWNGRADE, NULL, SF_TRUE);
	sf_command(r->file, SFC_SET_UPDATE_HEADER_AUTO, NULL, SF_TRUE);
	sf_command(r->file, SFC_SET_CLIPPING, NULL, SF_TRUE);
	return 0;
}

/* Mapped, locked when permitted, and every page written: the audio thread
 * takes no page faults in it. */
static int ring_alloc(struct recorder *r, size_t frames, size_t bytes)
{
	size_t page = (size_t)sysconf(_SC_PAGESIZE);
	r->ring_bytes = bytes;
	void *p = mmap(NULL, r->ring_bytes, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED)
		return -errno;
	if (mlock(p, r->ring_bytes) != 0)
		fprintf(stderr,
			"gridloop: recorder: cannot lock the ring (%s); recording "
			"continues, but its pages may be swapped out\n",
			strerror(errno));
	for (size_t off = 0; off < r->ring_bytes; off += page)
		((volatile char *)p)[off] = 0;
	r->ring = p;
	r->mask = frames - 1;
	return 0;
}

uint64_t recorder_ring_bytes(uint32_t rate, int channels, double ring_seconds,
			     size_t page, uint64_t *frames_out)
{
	double want = ceil(ring_seconds * rate);
	if (channels < 1 || page == 0 || !(want >= 1) || want > (double)MAX_RING_BYTES)
		return 0;
	uint64_t frames = 1;
	while (frames < (uint64_t)want)
		frames <<= 1;
	uint64_t bytes = frames * (uint64_t)channels * sizeof(float);
	if (bytes > MAX_RING_BYTES)
		return 0;
	if (frames_out)
		*frames_out = frames;
	return (bytes + page - 1) / page * page;
}

uint64_t recorder_max_ring_bytes(void)
{
	return MAX_RING_BYTES;
}

struct recorder *recorder_create(const struct recorder_config *cfg, char *err,
				 size_t errlen)
{
	if (!cfg->dir || !cfg->dir[0] || cfg->rate == 0 || cfg->channels < 1 ||
	    cfg->channels > 64 || !sf_format_of(cfg->format)) {
		snprintf(err, errlen, "recorder: bad configuration");
		return NULL;
	}
	uint64_t frames = 0;
	uint64_t bytes = recorder_ring_bytes(cfg->rate, cfg->channels, cfg->ring_seconds,
					     (size_t)sysconf(_SC_PAGESIZE), &frames);
	if (!bytes) {
		snprintf(err, errlen, "recorder: ring_seconds %g is out of range",
			 cfg->ring_seconds);
		return NULL;
	}
	/* aligned_alloc: the indices' cache-line alignment is real. */
	struct recorder *r = aligned_alloc(_Alignof(struct recorder), sizeof(*r));
	if (!r) {
		snprintf(err, errlen, "recorder: out of memory");
		return NULL;
	}
	memset(r, 0, sizeof(*r));
	r->channels = cfg->channels;
	atomic_init(&r->head, 0);
	atomic_init(&r->tail, 0);
	atomic_init(&r->frames_written, 0);
	atomic_init(&r->frames_lost, 0);
	atomic_init(&r->error, 0);
	atomic_init(&r->running, false);
	/* A tenth of a second, but never more than a quarter of the ring. */
	r->wake_frames = cfg->rate / WAKE_HZ;
	if (r->wake_frames > frames / 4)
		r->wake_frames = frames / 4 ? (size_t)frames / 4 : 1;
	r->next_wake = r->wake_frames;
	if (wake_init(&r->wake)) {
		snprintf(err, errlen, "recorder: no file descriptor left");
		free(r);
		return NULL;
	}
	int rc = ring_alloc(r, (size_t)frames, (size_t)bytes);
	if (rc < 0) {
		wake_free(&r->wake);
		snprintf(err, errlen, "recorder: cannot allocate a %llu-frame ring: %s",
			 (unsigned long long)frames, strerror(-rc));
		free(r);
		return NULL;
	}
	rc = make_dirs(cfg->dir);
	if (rc < 0)
		snprintf(err, errlen, "recorder: cannot create %s: %s", cfg->dir,
			 strerror(-rc));
	if (rc < 0 || open_sound_file(r, cfg, err, errlen) < 0) {
		munmap(r->ring, r->ring_bytes);
		wake_free(&r->wake);
		free(r);
		return NULL;
	}
	r->last_sync_ns = mono_ns();
	return r;
}

void recorder_destroy(struct recorder *r)
{
	if (!r)
		return;
	recorder_stop(r); /* a no-op when the caller did, as it should */
	munmap(r->ring, r->ring_bytes);
	wake_free(&r->wake);
	free(r);
}
