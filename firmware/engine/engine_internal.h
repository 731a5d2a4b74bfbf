/* engine_internal.h -- the engine's state, shared by the engine's own files
 * (engine.c: queues and the period loop; clip.c: clip state changes;
 * mix.c: rendering and recording). Nobody outside the engine includes it.
 */
#ifndef GRIDLOOP_ENGINE_INTERNAL_H
#define GRIDLOOP_ENGINE_INTERNAL_H

#include <stdatomic.h>

#include "clipmem.h"
#include "engine.h"
#include "transport.h"

#define PENDING_MAX 1024 /* commands waiting for their frame */
/* Each source may hold at most its share of them, so a script queued far
 * ahead never keeps the controller's presses out. */
#define PENDING_PER_SOURCE (PENDING_MAX / GL_CMD_SOURCES)
#define OUTBOX_MAX	   256 /* memory requests waiting for room in the queue */

struct clip {
	uint8_t state;	  /* settled: EMPTY, RECORDING, PLAYING, OVERDUBBING, STOPPED */
	uint8_t queued;	  /* 0, or the state it becomes at queued_at */
	uint8_t reported; /* public state last sent as an event */
	uint8_t reported_pass; /* and its enum clip_pass */
	uint8_t channels;
	int64_t queued_at;
	bool muted;	    /* CMD_CLIP_MUTE: a property of the take, until cleared */
	bool oneshot;	    /* the queued launch plays once, then stops */
	bool reverse;	    /* plays (and overdubs) backwards, from launch */
	int64_t reverse_at; /* a reverse toggle waiting for its boundary */
	/* Speed: half frames of the loop played a frame (1: half, 2 or 0: as
	 * recorded, 4: double), and a change waiting for its boundary. */
	uint8_t speed_mul, speed_next;
	int64_t speed_at;

	/* Memory, as handed over by the keeper (clipmem.h). */
	uint32_t gen;
	uint32_t table_floor; /* MEM_GROWN tables of an older generation than
				 this belong to a take replaced by a restored
				 one: the keeper frees them, the engine ignores them */
	float **table[2];
	uint32_t nchunks;
	bool grow_pending;
	bool grow_failed;
	/* Undo buffers (a pool): each handed over by the keeper one at a time
	 * (MEM_UNDO_MORE), of the size asked for (the take's length then), so
	 * after a multiply or insert the pool holds buffers of both lengths;
	 * ubuf_frames: how many frames each holds. Freed with the take, or one
	 * by one when it fits no take of the clip's any more. */
	float **ubuf[GL_UNDO_LEVELS_MAX][2];
	int64_t ubuf_frames[GL_UNDO_LEVELS_MAX];
	uint8_t nbufs;
	bool undo_pending; /* MEM_UNDO_MORE (or MEM_FINISH) not answered yet */
	bool undo_failed;  /* the keeper had no memory: ask no more */
	/* The buffer the current pass saves into, or being swapped: */
	float **undo[2];
	bool undo_ready;
	int8_t od_buf; /* the pass's buffer in ubuf, -1: none (no undo) */

	/* Recording: output-time frames; input arrives latency frames later. */
	int64_t rec_start;
	int64_t written;  /* frames stored so far */
	bool rec_writing; /* the input window is still open (tail included) */
	bool rec_short;	  /* memory ran out: finish with what is there */
	bool finished;	  /* MEM_FINISH sent: the keeper may have trimmed */
	int64_t length;	  /* loop length; known once the end is decided */
	int64_t launch;	  /* output frame at which position 0 played */
	/* Frames the grid moved under the loop (CMD_SYNC_GRID) that it has
	 * not followed yet: launch + grid_shift is where the grid says it
	 * should be (clip.c, "following the grid"). */
	int64_t grid_shift;
	int64_t oneshot_end; /* the stop a one-shot queued at its end: it goes
				with the loop when the grid moves, not with the
				grid (while queued_at is still this) */

	/* Overdub: the input-time window being written in, and the pass. */
	int64_t od_in_start, od_in_end;
	uint8_t od_mode;   /* enum pass_mode */
	int64_t od_launch; /* the pass's mapping of input to positions: the */
	bool od_reverse;   /* clip's launch and direction when it started */
	bool od_writing;
	int64_t od_covered; /* frames of this pass written (undo saved < length) */
	int64_t od_first_pos;

	/* Undo/redo levels, oldest first, of two kinds. A pass's (overdub,
	 * replace, substitute): its buffer holds, over its region, the audio
	 * from before the pass while it is applied (i < applied), the pass's
	 * audio once it is undone; an undo or a redo swaps the two, so a chain
	 * of them is exact bit for bit. A multiply's or insert's (take): the
	 * other take, whole (A while it is applied, T' once it is undone), and
	 * how positions map between the two (mode, h, m: see "rebuild"
	 * below); undo and redo switch pointers. Undo is last in first out,
	 * so a level is applied or undone only while the take it was made on
	 * is the clip's (len: that take's length), and a take level's other
	 * take shares its first chunks with the clip's take as it did then. */
	struct undo_level {
		int64_t rg_start, rg_len;
		int64_t len; /* the length of the take the level applies to */
		uint8_t buf; /* index in ubuf */
		bool take;   /* a multiply or insert: no buffer, the other take */
		struct kept_take {
			float **table[2];
			uint32_t nchunks;
			uint32_t id; /* the keeper's name for it (clipmem.h) */
			int64_t length;
			uint8_t mode;
			int64_t h, m;
			int64_t seams[GL_SEAMS_MAX];
			uint8_t nseams;
		} tk;
	} lv[GL_UNDO_LEVELS_MAX];
	uint32_t take_id; /* the keeper's name for the clip's take: 0 a recorded
			     (or restored) one, a multiply's or insert's its
			     build's rb_seq */
	uint8_t nlv, applied;
	/* A clear keeps the take (the slot shows empty) until the slot records
	 * again: undo brings it back; clear_redo: redo clears it again. */
	bool cleared, clear_redo;
	/* The swap under way: the region, and levels still to swap after it
	 * (undo_all, redo_all): swap_more > 0 undoes, < 0 redoes. */
	int64_t rg_start, rg_len;
	int64_t swap_from, swap_done; /* offsets into the region */
	bool swapping;
	bool swap_down;	 /* the swap walks down the region (a reversed clip) */
	bool swap_defer; /* a chained swap starts stepping next period */
	int8_t swap_more;

	/* The take's cycle: its length when recorded. Multiply and insert add
	 * whole cycles, so every seam (the loop's own, and those of the
	 * copies and insertions) is at a multiple of it, and playback fades
	 * there (mix.c). */
	int64_t cycle;
	/* Seams off the cycle lines (an insert's ends), sorted; a take
	 * level's other take has its own. */
	int64_t seams[GL_SEAMS_MAX];
	uint8_t nseams;

	/* A rebuild (multiply, insert): T' is built in chunks of its own (the
	 * keeper's other take, clipmem.h), its first rb_shared chunks the same
	 * as A's, while A plays; at the end boundary T' becomes the clip's
	 * take (a pointer switch: O(1)) and A the level undo swaps back.
	 * T' positions: [0, h) are A's [0, h) (rb_hc: copied so far, from the
	 * shared chunks on); then the pass, [h, h + m): multiply: A's copies
	 * (position mod A's length) with the input summed in, insert: the
	 * input alone (rb_w: written so far); insert then has A's [h, L_A)
	 * (rb_tc: copied so far). What is not written yet is read from A,
	 * where it is exactly what T' will hold (rb_read), so the copies run a
	 * budget a period, never the whole loop at once. */
	uint8_t rb_mode;     /* enum rb_mode */
	bool rb_queued;	     /* waiting for rb_start */
	bool rb_pass;	     /* input goes in (rb_start + latency .. end + latency) */
	bool rb_switched;    /* T' is (or was) made the clip's take */
	bool rb_read;	     /* the clip's table is T' and parts of it are unwritten */
	bool rb_pending;     /* MEM_BUILD not answered */
	bool rb_failed;	     /* the keeper had no more memory */
	bool take_switching; /* MEM_TAKE_SWITCH not answered: not final yet */
	uint32_t rb_seq;     /* the build's number: stale replies are dropped */
	float **rb_dst[2];   /* T' */
	float **rb_src[2];   /* A */
	uint32_t rb_cap;     /* T' chunks handed over */
	uint32_t rb_shared;  /* chunks T' shares with A */
	int64_t rb_len_a;    /* A's length */
	int64_t rb_start;    /* output frame the pass starts (S) */
	int64_t rb_end;	     /* output frame it ends (E), GL_NEVER: not decided */
	int64_t rb_cs;	     /* output frame of T' position 0 (multiply) */
	int64_t rb_h, rb_m;  /* the head's frames; the pass's (once E is known) */
	int64_t rb_hc, rb_w, rb_tc;
	int64_t rb_len; /* T's length, once E is known */
};

enum rb_mode { RB_NONE, RB_MULTIPLY, RB_INSERT };

/* What a pass does with its input: sum it in (overdub), or write it over
 * the loop (replace: the loop is silent where it is replaced; substitute:
 * it is heard). At the pass's edges the input fades in and out over
 * fade_frames, blending with the old audio, so the stored seam is smooth. */
enum pass_mode { PASS_OVERDUB, PASS_REPLACE, PASS_SUBSTITUTE };

struct voice {
	int8_t slot; /* -1: silent */
	int64_t launch;
	int64_t stop_at;   /* GL_NEVER while playing; fades out from here */
	int64_t fade_from; /* fades in from here: its first frame heard, when that
			      is not at a seam, or after frames not yet recorded */
	float last[2];	   /* last sample values, for a declick when cut */
	float mute_gain;   /* glides to 0 while its clip is muted */
	bool reverse;	   /* reads position L - 1 - p: its clip's at launch */
	uint8_t speed_mul; /* half frames a frame: its clip's at launch (0: 2) */
};

struct track {
	struct voice main, fading;
	float gain, gain_target;
	bool mute, monitor;
	float declick[2];
	uint32_t declick_left;
};

struct engine {
	struct engine_config cfg;
	uint32_t chunk_frames, lead_frames, record_lead_frames;
	int64_t now;
	struct transport tr;
	enum quantise quantise;
	bool metronome;
	bool countin;			     /* CMD_COUNTIN */
	int64_t countin_from, countin_until; /* the count-in bar clicking */
	int64_t next_beat;
	int64_t bar_count;

	struct clip clips[GL_SLOTS];
	/* Clip versions (engine.h): written by the real-time thread only. */
	atomic_uint clip_version[GL_SLOTS];
	atomic_int_least64_t clip_final_length[GL_SLOTS];
	atomic_int_least64_t clip_final_cycle[GL_SLOTS];
	atomic_int_least64_t clip_final_seams[GL_SLOTS][GL_SEAMS_MAX];
	atomic_int clip_final_nseams[GL_SLOTS];
	/* Loops moved to follow a moved grid (rephase): written by the
	 * real-time thread only, read by the statistics. */
	atomic_uint_least64_t loops_moved;
	struct track tracks[GL_TRACKS];
	float master, master_target;

	/* Metronome click in progress. */
	uint32_t click_left;
	float click_phase, click_step;

	struct command pending[PENDING_MAX];
	uint8_t pending_src[PENDING_MAX];
	int npending;
	int pending_of[GL_CMD_SOURCES];
	struct mem_request outbox[OUTBOX_MAX];
	int noutbox;

	float *scratch;	  /* one track's stereo render, max_period x 2 */
	float *stems;	  /* or NULL: engine_set_stems() */
	float *click_out; /* or NULL: engine_set_click_out() */

	struct spsc commands[GL_CMD_SOURCES];
	struct spsc events;
	struct spsc mem_requests;
	struct spsc mem_replies;
};

static inline int slot_of(int track, int scene)
{
	return scene * GL_TRACKS + track;
}
static inline int track_of(int slot)
{
	return slot % GL_TRACKS;
}
static inline int scene_of(int slot)
{
	return slot / GL_TRACKS;
}
static inline int64_t pos_mod(int64_t a, int64_t m)
{
	int64_t r = a % m;
	return r < 0 ? r + m : r;
}
/* One stored sample of a clip's take, at position p: T' may still be
 * partly unwritten after a multiply or insert switched to it, and then the
 * part not written yet comes from A, where it is the same (clip.c). */
float clip_rb_sample(const struct clip *c, int ch, int64_t p, int64_t C);
static inline float clip_sample(const struct clip *c, int ch, int64_t p, int64_t C)
{
	if (c->rb_read)
		return clip_rb_sample(c, ch, p, C);
	return c->table[ch][p / C][p % C];
}

/* engine.c */
void engine_emit(struct engine *e, uint8_t type, int slot, int64_t frame, int64_t value,
		 int32_t aux);
void engine_request(struct engine *e, const struct mem_request *rq);
void clip_report(struct engine *e, int slot, int64_t frame);

/* clip.c */
void clip_command(struct engine *e, const struct command *cmd, int64_t f);
void clip_apply_due(struct engine *e, int64_t f);
void clip_follow_grid(struct engine *e, int64_t f);
int64_t clip_next_due(const struct engine *e, int64_t after);
void clip_finish_short(struct engine *e, int slot, int64_t f);
void clip_after_period(struct engine *e, int64_t end);
void clip_swap_step(struct engine *e, int slot);
void clip_rb_step(struct engine *e, int slot);
void clip_rb_built(struct engine *e, const struct mem_reply *r);
void clip_take_switched(struct engine *e, int slot);
void clip_audio_changing(struct engine *e, int slot);
void clip_settle(struct engine *e, int slot);
void clip_adopt(struct engine *e, const struct mem_reply *r);
void clip_undo_ready(struct engine *e, int slot, float **const tables[2], int64_t frames);
void clip_undo_failed(struct engine *e, int slot);
bool clip_reclaim(struct engine *e, int except);

/* mix.c */
float mix_pass_gain(const struct engine *e, const struct clip *c, int64_t t);
void mix_segment(struct engine *e, const float *in, float *out, int64_t f0, uint32_t n);
void mix_click_start(struct engine *e, bool downbeat);
void mix_rebuild_input(struct engine *e, struct clip *c, const struct track_input *ti,
		       const float *in, int64_t f0, uint32_t n);

#endif
