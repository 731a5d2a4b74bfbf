/* keeper.c -- the buffer keeper (see keeper.h): maps, locks, pre-faults,
 * trims and frees recording memory, off the real-time thread.
 *
 * Memory comes straight from mmap, page-aligned, so a chunk's unused tail can
 * be given back with munmap, and each piece is locked and touched here, not
 * faulted in later by the real-time thread.
 */
#include "keeper.h"

#include "thread.h"
#include "wake.h"
#include "clipmem.h"
#include "engine.h"

#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#define TABLE_HEADER 16	 /* bytes before a table: its mapped size */
#define MAX_TABLES   128 /* tables alive per slot and channel (they double; the takes) */
#define MAX_OTHERS   (GL_UNDO_LEVELS_MAX + 2) /* other takes: the levels', a build */
#define FIRST_TABLE  16			      /* entries of a slot's first chunk table */

/* A restored clip on its way into a slot (keeper.h). */
struct keeper_take {
	int slot, channels;
	uint32_t nchunks, cap;
	int64_t frames;
	size_t last_bytes;
	float **table[2];
	uint32_t chunk_frames;
	uint8_t flags;		     /* enum clip_flags */
	uint32_t seq;		     /* a slot's take: its id (clipmem.h) */
	int64_t cycle;		     /* a restored take's saved cycle, 0: its length */
	int64_t seams[GL_SEAMS_MAX]; /* and seams */
	uint8_t nseams;
	struct keeper_take *next; /* in the keeper's list of pending offers */
};

struct keeper_slot {
	int channels;
	struct keeper_take *offered; /* sent to the engine, not answered yet */
	float **table[2];
	uint32_t cap;	   /* entries in the current tables */
	uint32_t nchunks;  /* chunks mapped */
	size_t last_bytes; /* mapped bytes of the last chunk (trimmed at finish) */
	uint32_t seq;	   /* the current take's id */
	/* Undo buffers, as many as the engine asked for (MEM_UNDO_MORE), each
	 * of the size asked for: n chunks, the last one `last` bytes. */
	struct undo_buf {
		float **table[2];
		uint32_t n;
		size_t last;
	} undo[GL_UNDO_LEVELS_MAX];
	uint32_t nundo;
	/* Every table handed over and not yet retired, to free at the end. */
	float **alive[2][MAX_TABLES];
	/* The other takes (clipmem.h): T' being built, and the takes the
	 * multiply and insert levels keep; a chunk may be in several of them
	 * and in the current take, always at the same index. */
	struct keeper_take *others[MAX_OTHERS];
	uint32_t nothers;
};

struct keeper {
	struct engine *e;
	struct keeper_config cfg;
	struct spsc *requests, *replies;
	uint32_t chunk_frames;
	size_t chunk_bytes, page;
	struct keeper_slot slots[GL_SLOTS];

	pthread_t thread;
	struct wake wake; /* the audio thread pushed a request; an offer; stop */
	atomic_bool running;
	bool started;

	/* Taken while a request is served, an offer is queued or the SD writer
	 * copies a clip: all of them threads that may wait (never the real-time
	 * one). */
	pthread_mutex_t lock;
	struct keeper_take *pending; /* offers not yet sent, oldest first */

	atomic_uint_fast64_t bytes_mapped, chunks_mapped, grows, grow_failures,
	    pointer_bytes_copied, bytes_trimmed, takes_offered, takes_adopted,
	    takes_refused, requests_served;
	atomic_bool lock_failed;
};

void keeper_config_defaults(struct keeper_config *cfg)
{
	cfg->memory_limit = 0;
	cfg->lock_memory = true;
}

static size_t round_page(const struct keeper *k, size_t bytes)
{
	return (bytes + k->page - 1) / k->page * k->page;
}

/* Map, lock and fault in. NULL when the system or the limit says no. */
static void *map_ready(struct keeper *k, size_t bytes)
{
	if (k->cfg.memory_limit &&
	    atomic_load(&k->bytes_mapped) + bytes > k->cfg.memory_limit)
		return NULL;
	void *p =
	    mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED)
		return NULL;
	if (k->cfg.lock_memory && mlock(p, bytes) != 0 &&
	    !atomic_exchange(&k->lock_failed, true))
		fprintf(stderr,
			"gridloop: keeper: cannot lock recording memory (%s); "
			"recording continues, but pages may be swapped out\n",
			strerror(errno));
	/* Write every page: a read would map the shared zero page, and the
	 * real-time thread's first write would still fault. */
	for (size_t off = 0; off < bytes; off += k->page)
		((volatile char *)p)[off] = 0;
	atomic_fetch_add(&k->bytes_mapped, bytes);
	return p;
}

static void unmap(struct keeper *k, void *p, size_t bytes)
{
	if (!p || !bytes)
		return;
	munmap(p, bytes);
	atomic_fetch_sub(&k->bytes_mapped, bytes);
}

static float **table_new(struct keeper *k, uint32_t entries)
{
	size_t bytes = round_page(k, TABLE_HEADER + entries * sizeof(float *));
	char *base = map_ready(k, bytes);
	if (!base)
		return NULL;
	memset(base, 0, bytes);
	*(size_t *)base = bytes;
	return (float **)(base + TABLE_HEADER);
}

static void table_free(struct keeper *k, float **t)
{
	if (!t)
		return;
	char *base = (char *)t - TABLE_HEADER;
	unmap(k, base, *(size_t *)base);
}

static void alive_add(struct keeper_slot *s, int ch, float **t)
{
	for (int i = 0; i < MAX_TABLES; i++)
		if (!s->alive[ch][i]) {
			s->alive[ch][i] = t;
			return;
		}
}

static bool alive_remove(struct keeper_slot *s, int ch, float **t)
{
	bool found = false;
	for (int i = 0; i < MAX_TABLES; i++)
		if (t && s->alive[ch][i] == t) {
			s->alive[ch][i] = NULL;
			found = true;
		}
	return found;
}

static void reply(struct keeper *k, uint8_t type, int slot, uint32_t gen, uint32_t n,
		  float **t0, float **t1)
{
	struct mem_reply r = {.type = type,
			      .slot = (uint8_t)slot,
			      .gen = gen,
			      .nchunks = n,
			      .tables = {t0, t1}};
	/* The engine drains replies every period; waiting here costs only the
	 * keeper's time, never the real-time thread's. */
	while (!spsc_push(k->replies, &r)) {
		struct timespec ts = {0, 200000};
		nanosleep(&ts, NULL);
	}
}

/* Make room for one more entry: a table twice the size, pointers copied. */
static bool tables_grow(struct keeper *k, struct keeper_slot *s)
{
	uint32_t cap = s->cap ? s->cap * 2 : FIRST_TABLE;
	float **fresh[2] = {NULL, NULL};
	for (int ch = 0; ch < s->channels; ch++) {
		fresh[ch] = table_new(k, cap);
		if (!fresh[ch]) {
			table_free(k, fresh[0]);
			return false;
		}
		if (s->table[ch])
			memcpy(fresh[ch], s->table[ch], s->nchunks * sizeof(float *));
	}
	atomic_fetch_add(&k->pointer_bytes_copied,
			 (uint64_t)s->nchunks * s->channels * sizeof(float *));
	for (int ch = 0; ch < s->channels; ch++) {
		s->table[ch] = fresh[ch];
		alive_add(s, ch, fresh[ch]);
	}
	s->cap = cap;
	return true;
}

static bool chunk_add(struct keeper *k, struct keeper_slot *s)
{
	if (s->nchunks == s->cap && !tables_grow(k, s))
		return false;
	float *c[2] = {NULL, NULL};
	for (int ch = 0; ch < s->channels; ch++) {
		c[ch] = map_ready(k, k->chunk_bytes);
		if (!c[ch]) {
			if (ch)
				unmap(k, c[0], k->chunk_bytes);
			return false;
		}
	}
	for (int ch = 0; ch < s->channels; ch++)
		s->table[ch][s->nchunks] = c[ch];
	s->nchunks++;
	s->last_bytes = k->chunk_bytes;
	atomic_fetch_add(&k->chunks_mapped, 1);
	return true;
}

static void chunks_free_from(struct keeper *k, struct keeper_slot *s, uint32_t keep)
{
	while (s->nchunks > keep) {
		uint32_t i = --s->nchunks;
		for (int ch = 0; ch < s->channels; ch++) {
			/* Only the last chunk can be trimmed; the rest are whole. */
			unmap(k, s->table[ch][i], s->last_bytes);
			s->table[ch][i] = NULL;
		}
		s->last_bytes = k->chunk_bytes;
		atomic_fetch_sub(&k->chunks_mapped, 1);
	}
}

static void undo_buf_free(struct keeper *k, struct keeper_slot *s, uint32_t b)
{
	struct undo_buf *u = &s->undo[b];
	for (int ch = 0; ch < 2; ch++) {
		if (!u->table[ch])
			continue;
		for (uint32_t i = 0; i < u->n; i++)
			unmap(k, u->table[ch][i],
			      i + 1 == u->n ? u->last : k->chunk_bytes);
		table_free(k, u->table[ch]);
		u->table[ch] = NULL;
	}
}

static void undo_free(struct keeper *k, struct keeper_slot *s)
{
	for (uint32_t b = 0; b < s->nundo; b++)
		undo_buf_free(k, s, b);
	s->nundo = 0;
}

/* MEM_UNDO_FREE: the buffer whose channel 0 table is `t` (NULL: all). */
static void serve_undo_free(struct keeper *k, const struct mem_request *rq)
{
	struct keeper_slot *s = &k->slots[rq->slot];
	if (!rq->tables[0]) {
		undo_free(k, s);
		return;
	}
	for (uint32_t b = 0; b < s->nundo; b++)
		if (s->undo[b].table[0] == rq->tables[0]) {
			undo_buf_free(k, s, b);
			s->undo[b] = s->undo[--s->nundo];
			s->undo[s->nundo] = (struct undo_buf){0};
			return;
		}
}

/* One more undo buffer of `frames` frames (whole chunks, the last one
 * only the pages it needs), replied as MEM_UNDO_READY with the frames it
 * holds, or MEM_UNDO_FAILED with nothing left mapped. */
static void undo_make(struct keeper *k, struct keeper_slot *s,
		      const struct mem_request *rq, int64_t frames)
{
	uint32_t b = s->nundo;
	uint64_t C = k->chunk_frames;
	bool ok = b < GL_UNDO_LEVELS_MAX && frames > 0;
	struct undo_buf u = {0};
	if (ok) {
		u.n = (uint32_t)(((uint64_t)frames + C - 1) / C);
		u.last = round_page(k, ((uint64_t)frames - (uint64_t)(u.n - 1) * C) *
					   sizeof(float));
		if (u.last > k->chunk_bytes)
			u.last = k->chunk_bytes;
	}
	if (ok)
		s->undo[b] = u;
	for (int ch = 0; ch < s->channels && ok; ch++) {
		s->undo[b].table[ch] = table_new(k, u.n);
		ok = s->undo[b].table[ch] != NULL;
		for (uint32_t i = 0; ok && i < u.n; i++) {
			s->undo[b].table[ch][i] =
			    map_ready(k, i + 1 == u.n ? u.last : k->chunk_bytes);
			ok = s->undo[b].table[ch][i] != NULL;
		}
	}
	if (!ok) {
		/* Partly made: undo_buf_free() skips the entries still NULL. */
		if (b < GL_UNDO_LEVELS_MAX) {
			undo_buf_free(k, s, b);
			s->undo[b] = (struct undo_buf){0};
		}
		reply(k, MEM_UNDO_FAILED, rq->slot, rq->gen, 0, NULL, NULL);
		return;
	}
	s->nundo = b + 1;
	int64_t held =
	    (int64_t)(u.n - 1) * (int64_t)C + (int64_t)(u.last / sizeof(float));
	if (held > (int64_t)u.n * (int64_t)C)
		held = (int64_t)u.n * (int64_t)C;
	struct mem_reply r = {.type = MEM_UNDO_READY,
			      .slot = rq->slot,
			      .gen = rq->gen,
			      .nchunks = u.n,
			      .frames = held,
			      .tables = {s->undo[b].table[0], s->undo[b].table[1]}};
	while (!spsc_push(k->replies, &r)) {
		struct timespec ts = {0, 200000};
		nanosleep(&ts, NULL);
	}
}

/* The engine wants another undo level: only while it holds all the ones
 * made (nchunks: its count), so a late or repeated request maps nothing. */
static void serve_undo_more(struct keeper *k, const struct mem_request *rq)
{
	struct keeper_slot *s = &k->slots[rq->slot];
	if (rq->nchunks != s->nundo || rq->frames <= 0) {
		reply(k, MEM_UNDO_FAILED, rq->slot, rq->gen, 0, NULL, NULL);
		return;
	}
	undo_make(k, s, rq, rq->frames);
}

static void serve_grow(struct keeper *k, const struct mem_request *rq)
{
	struct keeper_slot *s = &k->slots[rq->slot];
	bool ok = true;
	while (ok && s->nchunks < rq->nchunks)
		ok = chunk_add(k, s);
	if (ok) {
		atomic_fetch_add(&k->grows, 1);
		reply(k, MEM_GROWN, rq->slot, rq->gen, s->nchunks, s->table[0],
		      s->table[1]);
	} else {
		atomic_fetch_add(&k->grow_failures, 1);
		reply(k, MEM_GROW_FAILED, rq->slot, rq->gen, s->nchunks, s->table[0],
		      s->table[1]);
	}
}

/* The take is final: give back whole chunks past its end and the unused
 * pages of its last chunk, then make the undo room for overdubs. */
static void serve_finish(struct keeper *k, const struct mem_request *rq)
{
	struct keeper_slot *s = &k->slots[rq->slot];
	uint64_t C = k->chunk_frames;
	uint32_t keep = (uint32_t)((rq->frames + C - 1) / C);
	if (keep < 1)
		keep = 1;
	if (keep > s->nchunks)
		keep = s->nchunks;
	chunks_free_from(k, s, keep);
	uint64_t tail_frames = (uint64_t)rq->frames - (uint64_t)(keep - 1) * C;
	size_t used = round_page(k, tail_frames * sizeof(float));
	if (used < s->last_bytes) {
		for (int ch = 0; ch < s->channels; ch++)
			unmap(k, (char *)s->table[ch][keep - 1] + used,
			      s->last_bytes - used);
		atomic_fetch_add(&k->bytes_trimmed, (s->last_bytes - used) * s->channels);
		s->last_bytes = used;
	}

	undo_free(k, s);
	undo_make(k, s, rq, rq->frames);
}

/* ---- the other take (multiply, insert) ---------------------------------- */

/* Whether chunk i of channel ch, `p`, is held by a take of the slot other
 * than `t` (the current one, or another other take). */
static bool chunk_held_elsewhere(const struct keeper_slot *s, const struct keeper_take *t,
				 int ch, uint32_t i, const float *p)
{
	if (i < s->nchunks && s->table[ch] && s->table[ch][i] == p)
		return true;
	for (uint32_t j = 0; j < s->nothers; j++) {
		const struct keeper_take *o = s->others[j];
		if (o != t && i < o->nchunks && o->table[ch] && o->table[ch][i] == p)
			return true;
	}
	return false;
}

/* Other take j goes, but the chunks another take still holds. */
static void other_free(struct keeper *k, struct keeper_slot *s, uint32_t j)
{
	struct keeper_take *t = s->others[j];
	uint32_t freed = 0;
	for (uint32_t i = 0; i < t->nchunks; i++) {
		bool held = false;
		for (int ch = 0; ch < t->channels; ch++)
			held |= t->table[ch] &&
				chunk_held_elsewhere(s, t, ch, i, t->table[ch][i]);
		if (held)
			continue;
		for (int ch = 0; ch < t->channels; ch++)
			if (t->table[ch])
				unmap(k, t->table[ch][i],
				      i + 1 == t->nchunks ? t->last_bytes
							  : k->chunk_bytes);
		freed++;
	}
	for (int ch = 0; ch < t->channels; ch++)
		if (t->table[ch] && alive_remove(s, ch, t->table[ch]))
			table_free(k, t->table[ch]);
	atomic_fetch_sub(&k->chunks_mapped, freed);
	free(t);
	s->others[j] = s->others[--s->nothers];
	s->others[s->nothers] = NULL;
}

static void others_free(struct keeper *k, struct keeper_slot *s)
{
	while (s->nothers)
		other_free(k, s, s->nothers - 1);
}

static int other_find(const struct keeper_slot *s, uint32_t seq)
{
	for (uint32_t j = 0; j < s->nothers; j++)
		if (s->others[j]->seq == seq)
			return (int)j;
	return -1;
}

static void build_reply(struct keeper *k, uint8_t type, const struct mem_request *rq,
			const struct keeper_take *t)
{
	struct mem_reply r = {.type = type,
			      .slot = rq->slot,
			      .gen = rq->gen,
			      .nchunks = t ? t->nchunks : 0,
			      .tables = {t ? t->table[0] : NULL, t ? t->table[1] : NULL},
			      .seq = rq->seq};
	while (!spsc_push(k->replies, &r)) {
		struct timespec ts = {0, 200000};
		nanosleep(&ts, NULL);
	}
}

/* MEM_BUILD: T' made (its first chunk pointers copied from the current
 * take's table) or grown, fresh chunks up to rq->frames; on a full table,
 * a table twice the size (the engine gives the old one back). */
static void serve_build(struct keeper *k, const struct mem_request *rq)
{
	struct keeper_slot *s = &k->slots[rq->slot];
	int j = other_find(s, rq->seq);
	struct keeper_take *t = j >= 0 ? s->others[j] : NULL;
	uint64_t C = k->chunk_frames;
	uint64_t need = ((uint64_t)(rq->frames > 0 ? rq->frames : 1) + C - 1) / C;
	if (!t) {
		uint32_t sh = rq->nchunks < s->nchunks ? rq->nchunks : s->nchunks;
		if (need < (uint64_t)sh + 1)
			need = (uint64_t)sh + 1;
		t = s->nothers < MAX_OTHERS && rq->seq != s->seq ? calloc(1, sizeof(*t))
								 : NULL;
		if (!t) {
			build_reply(k, MEM_BUILD_FAILED, rq, NULL);
			return;
		}
		t->slot = rq->slot;
		t->channels = s->channels;
		t->chunk_frames = k->chunk_frames;
		t->seq = rq->seq;
		t->last_bytes = k->chunk_bytes;
		t->cap = FIRST_TABLE;
		while (t->cap < need && t->cap < (1u << 30))
			t->cap *= 2;
		for (int ch = 0; ch < t->channels; ch++) {
			t->table[ch] = table_new(k, t->cap);
			if (!t->table[ch]) {
				if (ch && alive_remove(s, 0, t->table[0]))
					table_free(k, t->table[0]);
				free(t);
				build_reply(k, MEM_BUILD_FAILED, rq, NULL);
				return;
			}
			memcpy(t->table[ch], s->table[ch], sh * sizeof(float *));
			alive_add(s, ch, t->table[ch]);
		}
		atomic_fetch_add(&k->pointer_bytes_copied,
				 (uint64_t)sh * t->channels * sizeof(float *));
		t->nchunks = sh;
		s->others[s->nothers++] = t;
	}
	bool ok = true;
	while (ok && t->nchunks < need) {
		if (t->nchunks == t->cap) {
			float **fresh[2] = {NULL, NULL};
			for (int ch = 0; ch < t->channels && ok; ch++) {
				fresh[ch] = table_new(k, t->cap * 2);
				ok = fresh[ch] != NULL;
			}
			if (!ok) {
				table_free(k, fresh[0]);
				break;
			}
			for (int ch = 0; ch < t->channels; ch++) {
				memcpy(fresh[ch], t->table[ch],
				       t->nchunks * sizeof(float *));
				t->table[ch] = fresh[ch];
				alive_add(s, ch, fresh[ch]);
			}
			atomic_fetch_add(&k->pointer_bytes_copied, (uint64_t)t->nchunks *
								       t->channels *
								       sizeof(float *));
			t->cap *= 2;
		}
		float *c[2] = {NULL, NULL};
		for (int ch = 0; ch < t->channels && ok; ch++) {
			c[ch] = map_ready(k, k->chunk_bytes);
			ok = c[ch] != NULL;
		}
		if (!ok) {
			if (c[0])
				unmap(k, c[0], k->chunk_bytes);
			break;
		}
		for (int ch = 0; ch < t->channels; ch++)
			t->table[ch][t->nchunks] = c[ch];
		t->nchunks++;
		atomic_fetch_add(&k->chunks_mapped, 1);
	}
	build_reply(k, ok ? MEM_BUILT : MEM_BUILD_FAILED, rq, t);
}

/* MEM_TAKE_SWITCH: the other take `seq` is the current one (what the SD
 * writer copies), and the current one an other take. */
static void serve_take_switch(struct keeper *k, const struct mem_request *rq)
{
	struct keeper_slot *s = &k->slots[rq->slot];
	int j = other_find(s, rq->seq);
	if (j >= 0) {
		struct keeper_take *t = s->others[j];
		for (int ch = 0; ch < 2; ch++) {
			float **x = s->table[ch];
			s->table[ch] = t->table[ch];
			t->table[ch] = x;
		}
		uint32_t cap = s->cap, n = s->nchunks, seq = s->seq;
		size_t last = s->last_bytes;
		s->cap = t->cap;
		s->nchunks = t->nchunks;
		s->last_bytes = t->last_bytes;
		s->seq = t->seq;
		t->cap = cap;
		t->nchunks = n;
		t->last_bytes = last;
		t->seq = seq;
	}
	reply(k, MEM_TAKE_SWITCHED, rq->slot, rq->gen, 0, NULL, NULL);
}

static void serve_take_free(struct keeper *k, const struct mem_request *rq)
{
	struct keeper_slot *s = &k->slots[rq->slot];
	int j = other_find(s, rq->seq);
	if (j >= 0)
		other_free(k, s, (uint32_t)j);
}

static void serve_release(struct keeper *k, const struct mem_request *rq)
{
	struct keeper_slot *s = &k->slots[rq->slot];
	others_free(k, s);
	undo_free(k, s);
	chunks_free_from(k, s, rq->nchunks); /* 1: the engine kept chunk 0 */
	s->seq = 0;			     /* the next take is a recorded one */
	struct mem_request arm = *rq;
	arm.nchunks = 1;
	serve_grow(k, &arm); /* armed again (nothing to do if chunk 0 stayed) */
}

static void serve_retire(struct keeper *k, const struct mem_request *rq)
{
	struct keeper_slot *s = &k->slots[rq->slot];
	for (int ch = 0; ch < 2; ch++) {
		/* Only a table still alive: a build given up may have been
		 * freed with its take already. */
		if (alive_remove(s, ch, rq->tables[ch]))
			table_free(k, rq->tables[ch]);
	}
}

static void take_unmap(struct keeper *k, struct keeper_take *t)
{
	for (int ch = 0; ch < t->channels; ch++) {
		if (!t->table[ch])
			continue;
		for (uint32_t i = 0; i < t->nchunks; i++)
			unmap(k, t->table[ch][i],
			      i + 1 == t->nchunks ? t->last_bytes : k->chunk_bytes);
		table_free(k, t->table[ch]);
	}
	free(t);
}

/* The engine took the offered take: the slot's old memory goes (the engine
 * no longer reads any of it), the take becomes the slot's, and it gets its
 * undo room as a finished recording does. */
static void serve_adopted(struct keeper *k, const struct mem_request *rq)
{
	struct keeper_slot *s = &k->slots[rq->slot];
	struct keeper_take *t = s->offered;
	if (!t || t->table[0] != rq->tables[0])
		return; /* cannot happen: one offer per slot at a time */
	s->offered = NULL;
	others_free(k, s);
	undo_free(k, s);
	chunks_free_from(k, s, 0);
	for (int ch = 0; ch < 2; ch++)
		for (int i = 0; i < MAX_TABLES; i++) {
			table_free(k, s->alive[ch][i]);
			s->alive[ch][i] = NULL;
		}
	for (int ch = 0; ch < 2; ch++) {
		s->table[ch] = t->table[ch];
		if (t->table[ch])
			alive_add(s, ch, t->table[ch]);
	}
	s->cap = t->cap;
	s->nchunks = t->nchunks;
	s->last_bytes = t->last_bytes;
	s->seq = 0;
	atomic_fetch_add(&k->chunks_mapped, t->nchunks);
	atomic_fetch_add(&k->takes_adopted, 1);
	free(t);
	serve_finish(k, rq);
}

static void serve_adopt_refused(struct keeper *k, const struct mem_request *rq)
{
	struct keeper_slot *s = &k->slots[rq->slot];
	struct keeper_take *t = s->offered;
	if (!t || t->table[0] != rq->tables[0])
		return;
	s->offered = NULL;
	atomic_fetch_add(&k->takes_refused, 1);
	take_unmap(k, t);
}

/* Pending offers go out, one per slot at a time (the answer names the
 * slot, and the keeper must know which take it is about). */
static void send_offers(struct keeper *k)
{
	struct keeper_take **pp = &k->pending;
	while (*pp) {
		struct keeper_take *t = *pp;
		struct keeper_slot *s = &k->slots[t->slot];
		if (s->offered) {
			pp = &t->next;
			continue;
		}
		*pp = t->next;
		t->next = NULL;
		s->offered = t;
		atomic_fetch_add(&k->takes_offered, 1);
		struct mem_reply r = {.type = MEM_ADOPT,
				      .slot = (uint8_t)t->slot,
				      .nchunks = t->nchunks,
				      .frames = t->frames,
				      .tables = {t->table[0], t->table[1]},
				      .flags = t->flags,
				      .cycle = t->cycle,
				      .seams = t->seams,
				      .nseams = t->nseams};
		while (!spsc_push(k->replies, &r)) {
			struct timespec ts = {0, 200000};
			nanosleep(&ts, NULL);
		}
	}
}

int keeper_service(struct keeper *k)
{
	struct mem_request rq;
	int served = 0;
	pthread_mutex_lock(&k->lock);
	if (k->pending) {
		send_offers(k);
		served++;
	}
	pthread_mutex_unlock(&k->lock);
	for (;;) {
		pthread_mutex_lock(&k->lock);
		if (!spsc_pop(k->requests, &rq)) {
			pthread_mutex_unlock(&k->lock);
			break;
		}
		served++;
		if (rq.slot >= GL_SLOTS) {
			atomic_fetch_add(&k->requests_served, 1);
			pthread_mutex_unlock(&k->lock);
			continue;
		}
		switch (rq.type) {
		case MEM_GROW:
			serve_grow(k, &rq);
			break;
		case MEM_FINISH:
			serve_finish(k, &rq);
			break;
		case MEM_RELEASE:
			serve_release(k, &rq);
			break;
		case MEM_RETIRE_TABLE:
			serve_retire(k, &rq);
			break;
		case MEM_ADOPTED:
			serve_adopted(k, &rq);
			break;
		case MEM_ADOPT_REFUSED:
			serve_adopt_refused(k, &rq);
			break;
		case MEM_UNDO_MORE:
			serve_undo_more(k, &rq);
			break;
		case MEM_UNDO_FREE:
			serve_undo_free(k, &rq);
			break;
		case MEM_BUILD:
			serve_build(k, &rq);
			break;
		case MEM_TAKE_SWITCH:
			serve_take_switch(k, &rq);
			break;
		case MEM_TAKE_FREE:
			serve_take_free(k, &rq);
			break;
		}
		atomic_fetch_add(&k->requests_served, 1);
		pthread_mutex_unlock(&k->lock);
	}
	return served;
}

uint64_t keeper_arm_bytes(const struct engine_config *ec, size_t page)
{
	uint64_t chunk = clipmem_chunk_frames(ec->grow_frames) * sizeof(float);
	uint64_t table = TABLE_HEADER + FIRST_TABLE * sizeof(float *);
	uint64_t per_channel =
	    (table + page - 1) / page * page + (chunk + page - 1) / page * page;
	uint64_t channels = 0;
	for (int slot = 0; slot < GL_SLOTS; slot++)
		channels += ec->track_input[slot % GL_TRACKS].stereo ? 2 : 1;
	return channels * per_channel;
}

struct keeper *keeper_create(struct engine *e, const struct keeper_config *cfg,
			     const char **why)
{
	struct keeper *k = calloc(1, sizeof(*k));
	if (!k) {
		*why = "out of memory";
		return NULL;
	}
	const struct engine_config *ec = engine_config(e);
	pthread_mutex_init(&k->lock, NULL);
	if (wake_init(&k->wake)) {
		*why = "no file descriptor left for the keeper's wake-up";
		pthread_mutex_destroy(&k->lock);
		free(k);
		return NULL;
	}
	k->e = e;
	k->cfg = *cfg;
	k->requests = engine_memory_requests(e);
	k->replies = engine_memory_replies(e);
	k->page = (size_t)sysconf(_SC_PAGESIZE);
	k->chunk_frames = clipmem_chunk_frames(ec->grow_frames);
	k->chunk_bytes = round_page(k, k->chunk_frames * sizeof(float));
	for (int slot = 0; slot < GL_SLOTS; slot++) {
		struct keeper_slot *s = &k->slots[slot];
		s->channels = ec->track_input[slot % GL_TRACKS].stereo ? 2 : 1;
		if (!chunk_add(k, s)) {
			*why = "not enough memory to arm the clip slots";
			keeper_destroy(k);
			return NULL;
		}
		reply(k, MEM_GROWN, slot, 0, 1, s->table[0], s->table[1]);
	}
	return k;
}

/* Sleeps until woken (keeper.h: the audio thread after a period that
 * pushed a request, an offer, the stop), then serves all there is. The
 * counter is read before the queue, so a push after the service leaves it
 * readable and the next poll returns at once: no request waits for
 * another. */
static void *keeper_main(void *arg)
{
	struct keeper *k = arg;
	while (atomic_load_explicit(&k->running, memory_order_acquire)) {
		if (keeper_service(k) == 0)
			wake_wait(&k->wake, -1);
	}
	return NULL;
}

const struct wake *keeper_wake(const struct keeper *k)
{
	return &k->wake;
}

int keeper_start(struct keeper *k)
{
	atomic_store(&k->running, true);
	/* SCHED_FIFO at the lowest priority, under the sequencer and audio
	 * threads but above every ordinary process: a take's next chunk is
	 * due within a grow increment, and on a busy machine (builds, a
	 * virtual board beside it) a SCHED_OTHER keeper was late by more
	 * than that ("recording memory came too late"). It sleeps until
	 * woken, so it takes nothing from anyone between requests. Refused
	 * (no RLIMIT_RTPRIO): an ordinary thread, as before. */
	int err = thread_start(&k->thread,
			       &(struct thread_spec){.name = "gl-keeper", .priority = 1},
			       keeper_main, k);
	if (err == -EPERM)
		err = background_start(&k->thread, keeper_main, k, "gl-keeper");
	if (err) {
		atomic_store(&k->running, false);
		return err;
	}
	k->started = true;
	return 0;
}

void keeper_stop(struct keeper *k)
{
	if (!k->started)
		return;
	atomic_store_explicit(&k->running, false, memory_order_release);
	wake_signal(&k->wake);
	pthread_join(k->thread, NULL);
	k->started = false;
}

void keeper_destroy(struct keeper *k)
{
	if (!k)
		return;
	keeper_service(k); /* tables the engine gave back */
	while (k->pending) {
		struct keeper_take *t = k->pending;
		k->pending = t->next;
		take_unmap(k, t);
	}
	for (int slot = 0; slot < GL_SLOTS; slot++) {
		struct keeper_slot *s = &k->slots[slot];
		if (s->offered) /* offered, never answered: the engine is gone too */
			take_unmap(k, s->offered);
		others_free(k, s);
		undo_free(k, s);
		chunks_free_from(k, s, 0);
		for (int ch = 0; ch < 2; ch++)
			for (int i = 0; i < MAX_TABLES; i++)
				table_free(k, s->alive[ch][i]);
	}
	pthread_mutex_destroy(&k->lock);
	wake_free(&k->wake);
	free(k);
}

void keeper_get_stats(struct keeper *k, struct keeper_stats *st)
{
	st->bytes_mapped = atomic_load(&k->bytes_mapped);
	st->chunks_mapped = atomic_load(&k->chunks_mapped);
	st->grows = atomic_load(&k->grows);
	st->grow_failures = atomic_load(&k->grow_failures);
	st->pointer_bytes_copied = atomic_load(&k->pointer_bytes_copied);
	st->bytes_trimmed = atomic_load(&k->bytes_trimmed);
	st->lock_failed = atomic_load(&k->lock_failed);
	st->takes_offered = atomic_load(&k->takes_offered);
	st->takes_adopted = atomic_load(&k->takes_adopted);
	st->takes_refused = atomic_load(&k->takes_refused);
	st->requests_served = atomic_load(&k->requests_served);
}

uint64_t keeper_clip_bytes(struct keeper *k, int track, int scene)
{
	const struct keeper_slot *s = &k->slots[scene * GL_TRACKS + track];
	if (s->nchunks == 0)
		return 0;
	return ((uint64_t)(s->nchunks - 1) * k->chunk_bytes + s->last_bytes) *
	       s->channels;
}

/* ---- copying a clip out ------------------------------------------------ */

/* The copy may race with the real-time thread writing the same audio (an
 * overdub begun a moment ago): that is what the engine's clip versions are
 * for, and the copy is then thrown away. Only the memory must stay, and the
 * lock sees to that. A seqlock reader, so not for ThreadSanitizer's eyes. */
#if defined(__clang__) || defined(__GNUC__)
__attribute__((no_sanitize("thread")))
#endif
static void
copy_floats(float *dst, const float *src, size_t n)
{
	for (size_t i = 0; i < n; i++)
		dst[i] = src[i];
}

int64_t keeper_clip_copy(struct keeper *k, int track, int scene, int channel,
			 int64_t from, float *dst, int64_t n)
{
	if (track < 0 || track >= GL_TRACKS || scene < 0 || scene >= GL_SCENES ||
	    channel < 0 || from < 0 || n <= 0)
		return 0;
	const struct keeper_slot *s = &k->slots[scene * GL_TRACKS + track];
	int64_t C = k->chunk_frames, done = 0;
	/* A chunk at a time, the lock let go in between: a long clip's copy
	 * must not hold up the memory a recording is waiting for. Between two
	 * chunks the slot may change; the mapped size is read anew each time,
	 * and the clip version tells the caller whether the audio did. */
	while (done < n) {
		pthread_mutex_lock(&k->lock);
		int64_t have = 0;
		if (channel < s->channels && s->nchunks > 0) {
			have = (int64_t)(s->nchunks - 1) * C +
			       (int64_t)(s->last_bytes / sizeof(float));
			if (have > (int64_t)s->nchunks * C)
				have = (int64_t)s->nchunks * C;
		}
		int64_t pos = from + done, off = pos % C, run = C - off;
		if (run > n - done)
			run = n - done;
		if (run > have - pos)
			run = have - pos;
		if (run > 0)
			copy_floats(dst + done, s->table[channel][pos / C] + off,
				    (size_t)run);
		pthread_mutex_unlock(&k->lock);
		if (run <= 0)
			break;
		done += run;
	}
	return done;
}

/* ---- restored takes ---------------------------------------------------- */

struct keeper_take *keeper_take_new(struct keeper *k, int track, int scene,
				    int64_t frames)
{
	if (track < 0 || track >= GL_TRACKS || scene < 0 || scene >= GL_SCENES ||
	    frames <= 0)
		return NULL;
	struct keeper_take *t = calloc(1, sizeof(*t));
	if (!t)
		return NULL;
	int64_t C = k->chunk_frames;
	t->slot = scene * GL_TRACKS + track;
	t->channels = k->slots[t->slot].channels;
	t->frames = frames;
	t->chunk_frames = k->chunk_frames;
	t->cap = t->nchunks = (uint32_t)((frames + C - 1) / C);
	/* The last chunk only as long as the audio, as a trimmed take. */
	t->last_bytes = round_page(k, (size_t)(frames - (int64_t)(t->nchunks - 1) * C) *
					  sizeof(float));
	bool ok = true;
	for (int ch = 0; ch < t->channels && ok; ch++) {
		t->table[ch] = table_new(k, t->cap);
		ok = t->table[ch] != NULL;
		for (uint32_t i = 0; ok && i < t->nchunks; i++) {
			t->table[ch][i] = map_ready(
			    k, i + 1 == t->nchunks ? t->last_bytes : k->chunk_bytes);
			ok = t->table[ch][i] != NULL;
		}
	}
	if (!ok) {
		/* unmap() skips the entries still NULL. */
		take_unmap(k, t);
		return NULL;
	}
	return t;
}

int keeper_take_channels(const struct keeper_take *t)
{
	return t->channels;
}

void keeper_take_write(struct keeper_take *t, int channel, int64_t from, const float *src,
		       int64_t n)
{
	if (channel < 0 || channel >= t->channels || from < 0)
		return;
	if (n > t->frames - from)
		n = t->frames - from;
	int64_t C = t->chunk_frames;
	for (int64_t i = 0; i < n;) {
		int64_t pos = from + i, off = pos % C;
		int64_t run = C - off < n - i ? C - off : n - i;
		memcpy(t->table[channel][pos / C] + off, src + i,
		       (size_t)run * sizeof(float));
		i += run;
	}
}

void keeper_take_set_flags(struct keeper_take *t, uint8_t flags)
{
	t->flags = flags;
}

void keeper_take_set_cycle(struct keeper_take *t, int64_t cycle)
{
	t->cycle = cycle;
}

void keeper_take_set_seams(struct keeper_take *t, const int64_t *seams, int n)
{
	t->nseams = 0;
	for (int i = 0; i < n && i < GL_SEAMS_MAX; i++)
		t->seams[t->nseams++] = seams[i];
}

void keeper_offer_take(struct keeper *k, struct keeper_take *t)
{
	pthread_mutex_lock(&k->lock);
	struct keeper_take **pp = &k->pending;
	while (*pp)
		pp = &(*pp)->next;
	*pp = t;
	pthread_mutex_unlock(&k->lock);
	wake_signal(&k->wake);
}

void keeper_take_free(struct keeper *k, struct keeper_take *t)
{
	if (t)
		take_unmap(k, t);
}
