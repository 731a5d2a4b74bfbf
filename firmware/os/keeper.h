/* keeper.h -- the buffer keeper: gives recording clips their memory.
 *
 * A recording has no length limit but RAM. The real-time thread never
 * allocates, so a low-priority thread does it ahead of time: when a recording
 * clip gets near the end of what it has, the engine asks (memory request
 * queue) and the keeper answers (memory reply queue) with one more chunk of
 * memory that is already mapped, locked and faulted in.
 *
 * A clip's audio is a table of equal chunks per channel. Growing appends a
 * chunk pointer: the real-time cost of a regrow is constant, whatever the
 * length of the recording, and no audio is ever copied. When the table itself
 * is full the keeper builds a bigger one (copying pointers, off the real-time
 * thread) and hands it over; the old table comes back to be freed.
 *
 * Two more jobs, for the SD card: keeper_clip_copy() lets the SD writer copy a
 * clip out of memory that cannot be unmapped while it copies, and takes
 * (keeper_take_new ... keeper_offer_take) carry restored audio into empty
 * slots (clipmem.h, "Restoring").
 *
 * Multiply and insert: the keeper builds the new take (MEM_BUILD) beside
 * the current one, its first chunks shared, and keeps both (clipmem.h).
 *
 * The keeper also trims the last chunk when a recording ends (the unused
 * tail pages go back to the system), allocates the undo buffer for overdubs,
 * and releases a cleared clip's memory once the engine no longer reads it.
 */
#ifndef GRIDLOOP_KEEPER_H
#define GRIDLOOP_KEEPER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct engine;
struct engine_config;
struct wake;

struct keeper_config {
	uint64_t
	    memory_limit; /* bytes of recording memory at most; 0 = no limit but RAM */
	bool lock_memory; /* mlock each chunk (warns once if not permitted) */
};

void keeper_config_defaults(struct keeper_config *cfg);

/* Not real-time safe. Arms every empty clip slot with its first chunk, so a
 * recording can start at any frame. NULL on failure (message in *why). */
struct keeper *keeper_create(struct engine *e, const struct keeper_config *cfg,
			     const char **why);
void keeper_destroy(struct keeper *k); /* stop first */

/* The bytes keeper_create() maps (and counts against memory_limit) to arm
 * every slot of an engine with that config, with pages of `page` bytes:
 * for each slot and channel a first chunk table and a first chunk. Pure:
 * for checking a config before anything is mapped. */
uint64_t keeper_arm_bytes(const struct engine_config *ec, size_t page);

/* Serves every pending request, then returns the number served. Tests and
 * the offline demo call it between periods; keeper_start() calls it on its
 * own low-priority thread each time that thread is woken (keeper_wake()). */
int keeper_service(struct keeper *k);

int keeper_start(struct keeper *k); /* 0 or -errno */

/* What wakes the keeper's thread, which sleeps until there is work: the
 * audio thread signals it (one non-blocking eventfd write, wake.h) after a
 * period in which the engine pushed a memory request. */
const struct wake *keeper_wake(const struct keeper *k);
void keeper_stop(struct keeper *k);

/* Figures for statistics and the benchmark. */
struct keeper_stats {
	uint64_t bytes_mapped; /* recording memory held now */
	uint64_t chunks_mapped;
	uint64_t grows;		       /* chunks handed over */
	uint64_t grow_failures;	       /* out of memory or over the limit */
	uint64_t pointer_bytes_copied; /* chunk-table pointers copied when tables grew */
	uint64_t bytes_trimmed;
	bool lock_failed; /* mlock was refused at least once */
	uint64_t takes_offered, takes_adopted, takes_refused;
	uint64_t requests_served; /* the engine's memory requests, answered */
};
void keeper_get_stats(struct keeper *k, struct keeper_stats *st);

/* Bytes of audio memory mapped for one clip (all channels, undo excluded):
 * shows what trimming gave back. Keeper thread, or while it is stopped. */
uint64_t keeper_clip_bytes(struct keeper *k, int track, int scene);

/* ---- Copying a clip out (the SD writer) ---------------------------------
 * Copies frames [from, from + n) of one channel of a slot's audio into dst,
 * from the memory the keeper holds for the slot, and never past what is
 * mapped: safe from any thread at any moment (the keeper's own work waits
 * for the copy). Whether what was copied is the clip's final audio is for
 * the engine's clip versions to say (engine.h). Returns frames copied. */
int64_t keeper_clip_copy(struct keeper *k, int track, int scene, int channel,
			 int64_t from, float *dst, int64_t n);

/* ---- Restoring (the session loader) -------------------------------------
 * A take is a clip's audio built off the real-time thread: mapped, locked
 * and faulted in like recording memory, filled by the loader, then offered:
 * the keeper's thread hands it to the engine, which takes it only into a
 * slot that is still empty (EV_RESTORED says whether it did); a refused take
 * is freed. Any thread but the real-time one. */
struct keeper_take;
/* NULL when there is not enough memory (or the limit says no). The take has
 * the slot's channels (its track's input: 1 or 2). */
struct keeper_take *keeper_take_new(struct keeper *k, int track, int scene,
				    int64_t frames);
int keeper_take_channels(const struct keeper_take *t);
/* Copies n frames of one channel into the take, from frame `from`. */
void keeper_take_write(struct keeper_take *t, int channel, int64_t from, const float *src,
		       int64_t n);
/* The take's saved state (enum clip_flags, clipmem.h), set before the offer. */
void keeper_take_set_flags(struct keeper_take *t, uint8_t flags);
/* The take's saved cycle (a multiplied or inserted take: its length as
 * recorded), set before the offer; 0, or one that does not divide the
 * take: the take is one cycle. */
void keeper_take_set_cycle(struct keeper_take *t, int64_t cycle);
/* Its saved seams (an insert's ends), increasing, at most GL_SEAMS_MAX. */
void keeper_take_set_seams(struct keeper_take *t, const int64_t *seams, int n);
void keeper_offer_take(struct keeper *k, struct keeper_take *t); /* the keeper's now */
void keeper_take_free(struct keeper *k, struct keeper_take *t);	 /* never offered */

#endif
