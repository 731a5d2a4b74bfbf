/* reference_recorder.h -- the design gridloop improves on, for the benchmark
 * only: "periodic buffer replacement" as in Luppp.
 *
 * A take lives in one contiguous buffer. A low-priority worker prepares a
 * buffer one increment bigger ahead of time; when the take reaches the end
 * of its buffer, the real-time side copies the whole take so far into the
 * new buffer and switches to it. The copy is O(length) on the real-time
 * thread at every regrow, O(length^2) in all: what the benchmark measures
 * against gridloop's chunked memory, where a regrow is one pointer.
 *
 * Header-only (static functions) because every tests/bench/X.c is a program.
 * Not part of the product.
 */
#ifndef GRIDLOOP_REFERENCE_RECORDER_H
#define GRIDLOOP_REFERENCE_RECORDER_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>

struct reference_recorder {
	int channels;
	size_t grow_frames;
	float *buf; /* interleaved, cap frames */
	size_t cap, len;
	uint64_t copied_bytes; /* audio copied on the real-time side */
	/* The worker's hand-over: one buffer at a time, published with
	 * release/acquire like an SPSC queue of depth one. */
	_Atomic(float *) ready;
	atomic_size_t ready_cap;
	atomic_size_t wanted_cap; /* 0: nothing asked */
	_Atomic(float *) retired; /* old buffer for the worker to free */
	atomic_size_t retired_cap;
	atomic_bool quit;
	pthread_t worker;
};

static float *reference_map(size_t frames, int channels)
{
	size_t bytes = frames * (size_t)channels * sizeof(float);
	float *p =
	    mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED)
		return NULL;
	mlock(p, bytes);
	memset(p, 0, bytes); /* faulted in here, as Luppp's worker does */
	return p;
}

static void *reference_worker(void *arg)
{
	struct reference_recorder *r = arg;
	while (!atomic_load(&r->quit)) {
		float *old = atomic_exchange(&r->retired, NULL);
		if (old)
			munmap(old, atomic_load(&r->retired_cap) * (size_t)r->channels *
					sizeof(float));
		size_t want = atomic_load_explicit(&r->wanted_cap, memory_order_acquire);
		if (want && !atomic_load_explicit(&r->ready, memory_order_acquire)) {
			float *p = reference_map(want, r->channels);
			atomic_store(&r->ready_cap, want);
			atomic_store(&r->wanted_cap, 0);
			atomic_store_explicit(&r->ready, p, memory_order_release);
			continue;
		}
		struct timespec ts = {0, 200000};
		nanosleep(&ts, NULL);
	}
	return NULL;
}

static int reference_init(struct reference_recorder *r, int channels, size_t grow_frames)
{
	memset(r, 0, sizeof(*r));
	r->channels = channels;
	r->grow_frames = grow_frames;
	r->cap = grow_frames;
	r->buf = reference_map(r->cap, channels);
	if (!r->buf)
		return -1;
	atomic_store(&r->wanted_cap, r->cap + grow_frames);
	return pthread_create(&r->worker, NULL, reference_worker, r);
}

/* Whether the next buffer is there (the benchmark waits for it, off the
 * clock, so that only the copy is measured, not a slow worker). */
static bool reference_ready(struct reference_recorder *r)
{
	return r->len + 4096 < r->cap ||
	       atomic_load_explicit(&r->ready, memory_order_acquire) != NULL;
}

/* The real-time side: append n interleaved frames. */
static void reference_record(struct reference_recorder *r, const float *in, size_t n)
{
	const size_t ch = (size_t)r->channels;
	if (r->len + n > r->cap) {
		float *next = atomic_load_explicit(&r->ready, memory_order_acquire);
		if (!next)
			return; /* Luppp drops the audio here */
		size_t next_cap = atomic_load(&r->ready_cap);
		memcpy(next, r->buf, r->len * ch * sizeof(float)); /* the O(n) copy */
		r->copied_bytes += r->len * ch * sizeof(float);
		atomic_store(&r->retired_cap, r->cap);
		atomic_store(&r->retired, r->buf);
		r->buf = next;
		r->cap = next_cap;
		atomic_store_explicit(&r->ready, NULL, memory_order_relaxed);
		atomic_store_explicit(&r->wanted_cap, r->cap + r->grow_frames,
				      memory_order_release);
	}
	memcpy(r->buf + r->len * ch, in, n * ch * sizeof(float));
	r->len += n;
}

static void reference_free(struct reference_recorder *r)
{
	atomic_store(&r->quit, true);
	pthread_join(r->worker, NULL);
	float *p = atomic_exchange(&r->ready, NULL);
	if (p)
		munmap(p,
		       atomic_load(&r->ready_cap) * (size_t)r->channels * sizeof(float));
	p = atomic_exchange(&r->retired, NULL);
	if (p)
		munmap(p, atomic_load(&r->retired_cap) * (size_t)r->channels *
			      sizeof(float));
	munmap(r->buf, r->cap * (size_t)r->channels * sizeof(float));
}

#endif
