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
 * The keeper also trims the last chunk when a recording ends (the unused
 * tail pages go back to the system), allocates the undo buffer for overdubs,
 * and releases a cleared clip's memory once the engine no longer reads it.
 */
#ifndef GRIDLOOP_KEEPER_H
#define GRIDLOOP_KEEPER_H

#include <stdbool.h>
#include <stdint.h>

struct engine;

struct keeper_config {
	uint64_t
	    memory_limit; /* bytes of recording memory at most; 0 = no limit but RAM */
	bool lock_memory; /* mlock each chunk (warns once if not permitted) */
	unsigned poll_interval_us; /* how often the thread looks at the queue */
};

void keeper_config_defaults(struct keeper_config *cfg);

/* Not real-time safe. Arms every empty clip slot with its first chunk, so a
 * recording can start at any frame. NULL on failure (message in *why). */
struct keeper *keeper_create(struct engine *e, const struct keeper_config *cfg,
			     const char **why);
void keeper_destroy(struct keeper *k); /* stop first */

/* Serves every pending request, then returns the number served. Tests and
 * the offline demo call it between periods; keeper_start() calls it in a
 * loop on its own low-priority thread. */
int keeper_service(struct keeper *k);

int keeper_start(struct keeper *k); /* 0 or -errno */
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
};
void keeper_get_stats(struct keeper *k, struct keeper_stats *st);

/* Bytes of audio memory mapped for one clip (all channels, undo excluded):
 * shows what trimming gave back. Keeper thread, or while it is stopped. */
uint64_t keeper_clip_bytes(struct keeper *k, int track, int scene);

#endif
