/* clipmem.h -- the messages between the engine and the buffer keeper.
 *
 * A clip's audio lives in chunks of chunk_frames floats per channel, found
 * through a chunk table per channel. The keeper owns the tables and the
 * chunks (it maps, locks, trims and frees them); the engine writes and reads
 * the audio inside chunks it has been given. Everything the keeper hands over
 * is written before the reply that announces it is pushed, so the queue's
 * release/acquire pair publishes it (spsc.h).
 *
 * Restoring: a take loaded from the SD card is built by the keeper and
 * offered (MEM_ADOPT); the engine takes it only into a slot that is still
 * empty and says which (MEM_ADOPTED or MEM_ADOPT_REFUSED), so a musician
 * who started recording there meanwhile never loses the new take.
 *
 * Multiply and insert build the new take (T') in memory of its own, while
 * the old one (A) plays: MEM_BUILD asks for T' (its first `nchunks` chunk
 * pointers copied from A's table, the rest fresh chunks), again as it
 * grows. The keeper then holds, besides the slot's current take, other
 * takes: T' being built, and the takes the clip's undo levels keep (one a
 * multiply or insert level, as many as the levels). Each take has an id,
 * `seq` in the messages: 0 the recorded (or restored) take, a build's seq
 * the take it built. MEM_TAKE_SWITCH makes the take `seq` current (the SD
 * writer copies the current one), MEM_TAKE_FREE lets the other take `seq`
 * go. A chunk two takes share (always at the same index: T's first chunks
 * are A's) is freed with the last take that holds it.
 *
 * Undo buffers are each of the size asked for (MEM_UNDO_MORE `frames`,
 * the take's length when asked), so a clip holds buffers of every length
 * its takes had; MEM_UNDO_FREE lets one go (tables[0]) or all (NULL).
 *
 * Generations: clearing a clip bumps its generation on the engine side.
 * Replies carry the generation of the request they answer; the engine drops
 * replies of an older generation, so a late answer never lands in a new take.
 */
#ifndef GRIDLOOP_CLIPMEM_H
#define GRIDLOOP_CLIPMEM_H

#include <stdint.h>

/* Chunk geometry for a given grow increment: a chunk is 3/4 of it, and the
 * engine asks for the next one when the rest (the lead) is all that is left,
 * so memory committed but not yet written never exceeds one increment.
 * Chunks are whole 4 KiB pages of floats where they can be (1024 frames),
 * so page rounding wastes nothing. */
static inline uint32_t clipmem_chunk_frames(uint32_t grow_frames)
{
	uint32_t c = grow_frames - grow_frames / 4;
	return c >= 1024 ? c / 1024 * 1024 : c;
}
static inline uint32_t clipmem_lead_frames(uint32_t grow_frames)
{
	return grow_frames - clipmem_chunk_frames(grow_frames);
}

/* A take being recorded asks for its next chunk earlier: when a whole
 * increment is left (a chunk and the lead), so the keeper has the time of
 * an increment (1 s by default) to answer. The lead alone, a quarter of it,
 * was not enough on a busy machine (the card model's live runs with both
 * cores taken by other work: "recording memory came too late", a take cut
 * short). Its committed but unwritten memory stays under two increments. */
static inline uint32_t clipmem_record_lead_frames(uint32_t grow_frames)
{
	return grow_frames;
}

enum mem_request_type {
	MEM_GROW,	   /* give slot `slot` chunk number `nchunks` (one more) */
	MEM_FINISH,	   /* recording done at `frames`: trim, and make undo room */
	MEM_RELEASE,	   /* clip cleared: free all but the first chunk (nchunks
			    * 1: keep it as it is; 0: it was trimmed, map a new one) */
	MEM_RETIRE_TABLE,  /* the engine stopped using tables[]: free them */
	MEM_ADOPTED,	   /* the offered take (MEM_ADOPT) is the slot's now, gen
			    * its generation: free the slot's old memory, then
			    * as MEM_FINISH at `frames` (undo room) */
	MEM_ADOPT_REFUSED, /* the slot was not empty: free the offered take */
	MEM_UNDO_MORE,	   /* one more undo buffer of the take's size (`frames`);
			    * nchunks: how many the engine holds now */
	MEM_UNDO_FREE,	   /* the engine let go of the undo buffer tables[0],
			    * or (NULL) of all the slot's: free them */
	MEM_BUILD,	   /* build (or grow) the take `seq` (a build's id):
			    * nchunks leading chunk pointers shared with the
			    * current take, fresh chunks up to `frames` frames */
	MEM_TAKE_SWITCH,   /* the other take `seq` is the current one now */
	MEM_TAKE_FREE,	   /* the engine let go of the other take `seq`: free
			    * it (but the chunks another take still holds) */
};

enum mem_reply_type {
	MEM_GROWN,	 /* tables[] hold nchunks usable chunks */
	MEM_GROW_FAILED, /* no memory (or over the limit) */
	MEM_UNDO_READY,	 /* undo tables[] hold room for `frames` frames (one
			  * more buffer: after MEM_FINISH, the first) */
	MEM_UNDO_FAILED,
	MEM_ADOPT,	   /* a restored take for an empty slot: tables[] hold nchunks
			    * chunks with `frames` frames of final audio */
	MEM_BUILT,	   /* build `seq`: tables[] hold nchunks usable chunks */
	MEM_BUILD_FAILED,  /* build `seq`: no more memory; tables[] hold nchunks */
	MEM_TAKE_SWITCHED, /* the keeper copies the take switched to now */
};

struct mem_request {
	uint8_t type;
	uint8_t slot;
	uint32_t gen;
	uint32_t nchunks;
	int64_t frames;
	float **tables[2]; /* MEM_RETIRE_TABLE, MEM_UNDO_FREE */
	uint32_t seq;	   /* MEM_BUILD, MEM_TAKE_SWITCH, MEM_TAKE_FREE */
};

struct mem_reply {
	uint8_t type;
	uint8_t slot;
	uint32_t gen;
	uint32_t nchunks;
	int64_t frames; /* MEM_ADOPT; MEM_UNDO_READY: the buffer's frames */
	float **tables[2];
	uint8_t flags;	      /* MEM_ADOPT: enum clip_flags, the take's saved state */
	uint32_t seq;	      /* MEM_BUILT, MEM_BUILD_FAILED */
	int64_t cycle;	      /* MEM_ADOPT: the take's saved cycle (0: its length) */
	const int64_t *seams; /* MEM_ADOPT: its saved seams (the take's own
			       * memory, until MEM_ADOPTED or _REFUSED) */
	uint8_t nseams;
};

/* A restored take's state, as saved with it (the manifest). */
enum clip_flags {
	CLIP_FLAG_MUTED = 1,
	CLIP_FLAG_REVERSE = 2,
	CLIP_FLAG_HALF_SPEED = 4,
	CLIP_FLAG_DOUBLE_SPEED = 8,
};

#endif
