/* clip.c -- what commands do to clips, and quantised state changes.
 *
 * Session-view semantics, as in Luppp and Ableton Live: a press queues the
 * clip's next state at the next quantisation boundary (empty -> record,
 * recording -> play, playing -> stop, stopped -> play); one clip plays per
 * track; a scene launch queues a whole row. A queued change is kept as
 * (queued, queued_at) and applied by clip_apply_due() at exactly that frame.
 * Loop operations on top (issue 11): passes (overdub, replace, substitute),
 * each an undo level, undone and redone by swapping with its buffer a
 * budget of frames a period; a clear kept for undo until the slot records;
 * a clip's mute, one-shot, retrigger, reverse and speed (the last two at a
 * boundary too: reverse_at, speed_at); count-in; multiply and insert, which
 * build a new take beside the old one (see "multiply and insert" below).
 * A grid moved under the loops (Ableton Link) is followed: "following the
 * grid" below.
 * Runs on the real-time thread: no allocation, no waiting.
 */
#include "engine_internal.h"

#include <math.h>
#include <string.h>

static int64_t boundary(const struct engine *e, int64_t f)
{
	int64_t b = f;
	if (e->quantise == QUANTISE_BEAT)
		b = transport_next_beat(&e->tr, f);
	else if (e->quantise == QUANTISE_BAR)
		b = transport_next_bar(&e->tr, f);
	return b == INT64_MAX ? f : b; /* no tempo yet: nothing to wait for */
}

/* Half frames of the loop played a frame: 1 half speed, 2 as recorded,
 * 4 double speed. */
static int64_t mul_of(const struct clip *c)
{
	return c->speed_mul ? c->speed_mul : 2;
}

static void request(struct engine *e, uint8_t type, int slot, uint32_t nchunks,
		    int64_t frames)
{
	struct mem_request rq = {.type = type,
				 .slot = (uint8_t)slot,
				 .gen = e->clips[slot].gen,
				 .nchunks = nchunks,
				 .frames = frames};
	engine_request(e, &rq);
}

static void rb_end_decide(struct engine *e, int slot, int64_t g);
static void rb_discard(struct engine *e, int slot, int64_t f);
static void rb_reset(struct clip *c);
static void levels_discard_redo(struct engine *e, int slot);
static int level_drop_oldest(struct engine *e, int slot, int64_t f);
static void take_free(struct engine *e, int slot, uint32_t id, float **const held[2]);
static void take_swap(struct engine *e, int slot, int i, int dir, int64_t f);
static void rb_switch(struct engine *e, int slot, int64_t f);
static void rb_begin(struct engine *e, int slot, int64_t f);
static void rb_after_period(struct engine *e, int slot, int64_t end);
static void rb_command(struct engine *e, int slot, uint8_t mode, int64_t f);

static void rephase(struct engine *e, int slot, int64_t f);

/* ---- voices ----------------------------------------------------------- */

static void track_declick(struct engine *e, struct track *tr, const float last[2]);

/* The track's main voice fades out from `at`, or from f (the frame being
 * rendered) if `at` is already past: a fade-out is never skipped. */
static void voice_stop(struct engine *e, int t, int64_t at, int64_t f)
{
	struct track *tr = &e->tracks[t];
	if (tr->main.slot < 0)
		return;
	/* A voice still fading out gives way: it ramps out from its last
	 * values instead of stopping dead. */
	if (tr->fading.slot >= 0)
		track_declick(e, tr, tr->fading.last);
	tr->fading = tr->main;
	tr->fading.stop_at = at > f ? at : f;
	tr->main.slot = -1;
}

/* The track goes on from `last` (the values a voice just played) to zero
 * over one fade, on top of what is left of a ramp already going. */
static void track_declick(struct engine *e, struct track *tr, const float last[2])
{
	const float fade = (float)e->cfg.fade_frames;
	for (int ch = 0; ch < 2; ch++) {
		float left =
		    fade > 0 ? tr->declick[ch] * (float)tr->declick_left / fade : 0;
		tr->declick[ch] = left + last[ch];
	}
	tr->declick_left = e->cfg.fade_frames;
}

/* The track's playing clip (if any) stops at `at`, fading out from there
 * (f: the frame being rendered). */
static void track_release(struct engine *e, int t, int64_t at, int64_t f)
{
	int old = e->tracks[t].main.slot;
	if (old < 0)
		return;
	struct clip *o = &e->clips[old];
	if (o->state == CLIP_PLAYING || o->state == CLIP_OVERDUBBING) {
		if (o->rb_queued || o->rb_pass)
			rb_end_decide(e, old, at);
		if (o->od_writing && o->od_in_end == GL_NEVER)
			o->od_in_end = at + e->cfg.latency_frames;
		o->state = CLIP_STOPPED;
		if (o->queued == CLIP_STOPPED || o->queued == CLIP_PLAYING) {
			o->queued = 0;
			o->queued_at = GL_NEVER;
		}
		clip_report(e, old, at);
	}
	voice_stop(e, t, at, f);
}

/* Position 0 of the clip plays at `at`: the loop keeps that phase even when
 * `at` is already past (a take that ended at a bar line behind the press,
 * or early for memory), and then its first frame heard, f, is not at a seam
 * and fades in (fade_from). */
static void voice_start(struct engine *e, int t, int slot, int64_t at, int64_t f)
{
	struct track *tr = &e->tracks[t];
	if (tr->main.slot != slot)
		track_release(e, t, at, f);
	else
		voice_stop(e, t, at, f); /* relaunch: the old pass fades out */
	tr->main = (struct voice){.slot = (int8_t)slot,
				  .launch = at,
				  .stop_at = GL_NEVER,
				  .fade_from = at > f ? at : f,
				  .mute_gain = e->clips[slot].muted ? 0.0f : 1.0f,
				  .reverse = e->clips[slot].reverse,
				  .speed_mul = e->clips[slot].speed_mul};
}

/* The clip under the play head just got shorter (a take's tail ran out of
 * memory after its launch): the position jumps, so the track ramps down from
 * what it played and the voice fades in again from f. */
static void voice_rejoin(struct engine *e, int slot, int64_t f)
{
	struct track *tr = &e->tracks[track_of(slot)];
	if (tr->fading.slot == slot) {
		track_declick(e, tr, tr->fading.last);
		tr->fading.slot = -1;
	}
	if (tr->main.slot == slot) {
		track_declick(e, tr, tr->main.last);
		tr->main.fade_from = f;
	}
}

/* Cut a voice at once (the clip is going away): the track's last sample
 * values ramp to zero instead, so the cut does not click. */
static void voice_cut(struct engine *e, int slot)
{
	struct track *tr = &e->tracks[track_of(slot)];
	struct voice *vs[2] = {&tr->main, &tr->fading};
	for (int i = 0; i < 2; i++) {
		if (vs[i]->slot != slot)
			continue;
		track_declick(e, tr, vs[i]->last);
		vs[i]->slot = -1;
	}
}

/* ---- recording -------------------------------------------------------- */

/* The slot lets go of its take for good: the keeper frees it (and its
 * undo levels), the slot is armed to record again. */
static void clip_clear_now(struct engine *e, int slot, int64_t f)
{
	struct clip *c = &e->clips[slot];
	clip_audio_changing(e, slot);
	voice_cut(e, slot);
	bool had_memory = c->state != CLIP_EMPTY || c->cleared || c->nchunks > 1;
	c->state = CLIP_EMPTY;
	c->queued = 0;
	c->queued_at = GL_NEVER;
	c->rec_writing = c->rec_short = false;
	c->od_writing = c->swapping = false;
	c->undo_ready = false;
	c->nbufs = c->nlv = c->applied = 0;
	c->undo_pending = c->undo_failed = false;
	c->cleared = c->clear_redo = false;
	c->swap_more = 0;
	c->muted = c->oneshot = c->reverse = false;
	c->reverse_at = c->speed_at = GL_NEVER;
	c->speed_mul = 0;
	rb_reset(c);
	c->take_switching = false;
	c->take_id = 0; /* the keeper's next take is a recorded one */
	c->cycle = 0;
	c->nseams = 0;
	if (had_memory) {
		/* New generation: late answers about the old take are dropped.
		 * The keeper frees the take but its first chunk, which stays
		 * armed, so the slot can record again at once; only a take
		 * shorter than a chunk had it trimmed, and waits for a new one. */
		bool keep_first = !c->finished || c->length >= e->chunk_frames;
		c->gen++;
		c->nchunks = keep_first ? 1 : 0;
		c->grow_pending = !keep_first;
		c->grow_failed = false;
		request(e, MEM_RELEASE, slot, keep_first ? 1 : 0, 0);
	}
	c->finished = false;
	c->length = c->written = 0;
	c->grid_shift = 0;
	clip_report(e, slot, f);
}

static void pass_close(struct clip *c);

static uint64_t undo_bytes(const struct engine *e, const struct clip *c);

/* Memory ran out for a take being recorded: what is kept only for undo
 * gives way, so the keeper can give its memory to the take. First a
 * cleared take (the largest) goes for good; else the undo levels of the
 * clip holding the most undo memory, buffers and takes kept by multiply
 * and insert levels (one not swapping, in a pass, rebuilding or waiting
 * for a buffer: nothing of them is in use), with EV_UNDO_DROPPED. false:
 * there is nothing to let go. */
bool clip_reclaim(struct engine *e, int except)
{
	int best = -1;
	for (int s = 0; s < GL_SLOTS; s++)
		if (s != except && e->clips[s].cleared &&
		    (best < 0 || e->clips[s].length > e->clips[best].length))
			best = s;
	if (best >= 0) {
		clip_clear_now(e, best, e->now);
		return true;
	}
	uint64_t most = 0;
	for (int s = 0; s < GL_SLOTS; s++) {
		const struct clip *c = &e->clips[s];
		uint64_t held = undo_bytes(e, c);
		if (s != except && held > most && !c->swapping && !c->od_writing &&
		    !c->undo_pending && c->rb_mode == RB_NONE && !c->take_switching) {
			best = s;
			most = held;
		}
	}
	if (best < 0)
		return false;
	struct clip *c = &e->clips[best];
	for (int i = 0; i < c->nlv; i++) /* a multiply's other take goes too */
		if (c->lv[i].take)
			take_free(e, best, c->lv[i].tk.id, NULL);
	c->nbufs = c->nlv = c->applied = 0;
	c->clear_redo = false;
	c->undo_failed = true; /* asks for none until its next take */
	request(e, MEM_UNDO_FREE, best, 0, 0);
	engine_emit(e, EV_UNDO_DROPPED, best, e->now, 0, 0);
	return true;
}

/* A clear: a final take is kept, hidden (the slot shows empty), until a
 * record is pressed on the slot, so undo brings it back; a take still
 * being recorded (or nothing) goes at once, as before. A second clear of
 * a cleared slot does nothing: one more wrong press loses nothing. */
static void clip_clear(struct engine *e, int slot, int64_t f)
{
	struct clip *c = &e->clips[slot];
	if (c->cleared)
		return;
	if (c->state == CLIP_EMPTY || !c->finished || c->rec_writing || c->length <= 0) {
		clip_clear_now(e, slot, f);
		return;
	}
	if (c->rb_queued || (c->rb_pass && !c->rb_switched))
		rb_discard(e, slot, f); /* nothing of it is kept */
	c->rb_pass = false;		/* after its switch: T' is filled from A */
	if (c->od_writing) {
		/* The pass ends here (nothing in flight goes in) and is a level. */
		c->state = CLIP_PLAYING;
		c->od_in_end = f;
		pass_close(c);
	}
	clip_audio_changing(e, slot);
	voice_cut(e, slot);
	levels_discard_redo(e, slot); /* a new action: what was undone is gone */
	c->state = CLIP_EMPTY;
	c->queued = 0;
	c->queued_at = GL_NEVER;
	c->cleared = true;
	c->clear_redo = false;
	c->swap_more = 0;
	clip_report(e, slot, f);
}

/* How many bars the first loop is: 1, 2, 4... whichever puts the tempo in
 * a playable 80..160 BPM, or 1 for a loop that is one bar at 160..300 BPM.
 * However long the loop, it stays one loop: only the bar count grows (a
 * 150 s loop at one beat a bar is 256 bars at 102.4 BPM), so the tempo is
 * never below GL_TEMPO_MIN. 0: the loop is shorter than one bar at
 * GL_TEMPO_MAX (GL_FIRST_LOOP_MIN_FRAMES) and cannot set a tempo. */
static int64_t fit_bars(const struct engine *e, int64_t frames)
{
	if ((double)frames < GL_FIRST_LOOP_MIN_FRAMES(e->cfg.rate, e->tr.beats_per_bar))
		return 0;
	double bpm1 = 60.0 * e->cfg.rate * e->tr.beats_per_bar / (double)frames;
	int64_t bars = 1;
	while (bpm1 * (double)bars < 80.0)
		bars *= 2; /* at most 2^33 for a clip of GL_CLIP_FRAMES_MAX */
	return bars;
}

/* The recording ends at output frame `end` (maybe already past) and the clip
 * then becomes `then` (PLAYING or STOPPED). */
static void record_set_end(struct engine *e, int slot, int64_t end, uint8_t then,
			   int64_t f)
{
	struct clip *c = &e->clips[slot];
	int64_t length = end - c->rec_start;
	if (length <= 0) {
		clip_clear(e, slot, f);
		return;
	}
	if (!e->tr.has_tempo) {
		int64_t bars = fit_bars(e, length);
		if (bars == 0) {
			/* Too short to be a bar: it loops as it is, without a
			 * grid, and the next take can still set the tempo. */
			engine_emit(e, EV_ERROR, slot, f, ERR_LOOP_TOO_SHORT, 0);
		} else {
			transport_fit(&e->tr, c->rec_start, length, bars);
			e->next_beat = transport_next_beat(&e->tr, f);
			engine_emit(e, EV_TEMPO, -1, f, llround(e->tr.bpm * 1000),
				    (int32_t)e->tr.beats_per_bar);
		}
	}
	c->length = length;
	c->cycle = length;
	c->nseams = 0;
	c->queued = then;
	c->queued_at = end;
	clip_report(e, slot, f);
}

/* A press (or scene launch) ends a recording: with a tempo, at a whole
 * number of bars from its start (the next such line with quantisation on,
 * the nearest one with it off). */
static void record_end_decide(struct engine *e, int slot, int64_t f, uint8_t then)
{
	struct clip *c = &e->clips[slot];
	int64_t end = f;
	if (e->tr.has_tempo) {
		double bar = transport_bar_frames(&e->tr);
		double elapsed = (double)(f - c->rec_start);
		int64_t k;
		if (e->quantise == QUANTISE_OFF) {
			k = llround(elapsed / bar);
		} else {
			k = (int64_t)ceil(elapsed / bar);
			while (k > 1 &&
			       c->rec_start + llround((double)(k - 1) * bar) >= f)
				k--;
			while (c->rec_start + llround((double)k * bar) < f)
				k++;
		}
		if (k < 1)
			k = 1;
		end = c->rec_start + llround((double)k * bar);
	}
	record_set_end(e, slot, end, then, f);
}

static int recording_on_track(const struct engine *e, int t, int except)
{
	for (int s = 0; s < GL_SCENES; s++) {
		int slot = slot_of(t, s);
		if (slot == except)
			continue;
		const struct clip *c = &e->clips[slot];
		if (c->state == CLIP_RECORDING && c->queued == 0)
			return slot;
	}
	return -1;
}

static void record_start(struct engine *e, int slot, int64_t at, int64_t f)
{
	struct clip *c = &e->clips[slot];
	int t = track_of(slot);
	if (c->nchunks == 0) {
		if (c->grow_pending) {
			/* Arming still under way (a clear a moment ago): try again
			 * a little later rather than lose the first frames. */
			c->queued_at = f + GL_MIN_PERIOD;
			return;
		}
		engine_emit(e, EV_ERROR, slot, f, ERR_OUT_OF_MEMORY, 0);
		c->queued = 0;
		c->queued_at = GL_NEVER;
		c->grow_pending = true;
		request(e, MEM_GROW, slot, 1, 0);
		clip_report(e, slot, f);
		return;
	}
	int other = recording_on_track(e, t, slot);
	if (other >= 0)
		record_end_decide(e, other, at, CLIP_STOPPED);
	track_release(e, t, at, f);
	clip_audio_changing(e, slot);
	c->state = CLIP_RECORDING;
	c->queued = 0;
	c->queued_at = GL_NEVER;
	c->rec_start = at;
	c->written = 0;
	c->length = 0;
	c->grid_shift = 0;
	c->muted = c->oneshot = c->reverse = false; /* a new take */
	c->reverse_at = c->speed_at = GL_NEVER;
	c->speed_mul = 0;
	c->rec_writing = true;
	c->rec_short = false;
	clip_report(e, slot, f);
}

void clip_finish_short(struct engine *e, int slot, int64_t f)
{
	struct clip *c = &e->clips[slot];
	c->rec_short = false;
	engine_emit(e, EV_ERROR, slot, f,
		    c->grow_failed ? ERR_OUT_OF_MEMORY : ERR_MEMORY_LATE, 0);
	int64_t keep = c->written;
	if (e->tr.has_tempo) {
		/* Whole bars where there is at least one; else all of it. */
		double bar = transport_bar_frames(&e->tr);
		int64_t k = (int64_t)floor((double)keep / bar);
		while (k > 0 && llround((double)k * bar) > keep)
			k--;
		if (k >= 1)
			keep = llround((double)k * bar);
	}
	if (c->state == CLIP_RECORDING) {
		/* Not launched yet: it ends now, at `keep`, and plays (or
		 * stops, if a stop was asked for). */
		uint8_t then = c->queued ? c->queued : CLIP_PLAYING;
		if (c->length == 0 || keep < c->length)
			record_set_end(e, slot, c->rec_start + keep, then, f);
		return;
	}
	/* Its tail (the input still in flight after the launch) ran short: the
	 * take, playing or stopped, keeps its state and gets shorter. */
	if (keep < c->length) {
		c->length = c->cycle = keep;
		c->nseams = 0;
		voice_rejoin(e, slot, f);
	}
}

/* ---- queued changes --------------------------------------------------- */

static void cancel_queued_on_track(struct engine *e, int t, int except)
{
	for (int s = 0; s < GL_SCENES; s++) {
		int slot = slot_of(t, s);
		if (slot == except)
			continue;
		struct clip *c = &e->clips[slot];
		if ((c->queued == CLIP_PLAYING && c->state != CLIP_RECORDING) ||
		    c->queued == CLIP_RECORDING) {
			c->queued = 0;
			c->queued_at = GL_NEVER;
			clip_report(e, slot, e->now);
		}
	}
}

static void queue(struct engine *e, int slot, uint8_t target, int64_t f)
{
	struct clip *c = &e->clips[slot];
	if (target != CLIP_STOPPED)
		cancel_queued_on_track(e, track_of(slot), slot);
	c->oneshot = false;
	c->queued = target;
	c->queued_at = boundary(e, f);
	if (target == CLIP_RECORDING && e->countin && e->tr.has_tempo) {
		/* Count-in: the bar from the next bar line clicks, and the
		 * take starts at the end of it. */
		int64_t from = transport_next_bar(&e->tr, f);
		c->queued_at = transport_next_bar(&e->tr, from + 1);
		e->countin_from = from;
		e->countin_until = c->queued_at;
	}
	clip_report(e, slot, f);
}

static void overdub_end(struct engine *e, struct clip *c, int64_t f, bool cut)
{
	if (c->rb_queued || c->rb_pass) {
		if (!cut)
			rb_end_decide(e, (int)(c - e->clips), f);
		return;
	}
	if (c->state != CLIP_OVERDUBBING)
		return;
	c->state = CLIP_PLAYING;
	if (cut) /* undo: nothing more of this pass goes in */
		c->od_in_end = f;
	else /* the input still in flight belongs to the pass; fade it out */
		c->od_in_end = f + e->cfg.latency_frames + e->cfg.fade_frames;
}

static void apply(struct engine *e, int slot, int64_t f)
{
	struct clip *c = &e->clips[slot];
	int t = track_of(slot);
	uint8_t target = c->queued;
	int64_t at = c->queued_at;
	c->queued = 0;
	c->queued_at = GL_NEVER;
	switch (target) {
	case CLIP_RECORDING:
		c->queued = CLIP_RECORDING; /* record_start may postpone */
		c->queued_at = at;
		record_start(e, slot, at, f);
		return;
	case CLIP_PLAYING: {
		int rec = recording_on_track(e, t, slot);
		if (rec >= 0)
			record_end_decide(e, rec, at, CLIP_STOPPED);
		overdub_end(e, c, at, false);
		/* A take launched at its end keeps the grid's moves made while
		 * it was recorded (its start was on the old grid); any other
		 * launch is on the grid as it is. */
		bool take = c->state == CLIP_RECORDING;
		voice_start(e, t, slot, at, f);
		c->state = CLIP_PLAYING;
		c->launch = at;
		if (!take)
			c->grid_shift = 0;
		if (c->oneshot && c->length > 0) {
			/* Once through, then a stop at its end (a press before
			 * then cancels the stop: it goes on looping). */
			c->oneshot = false;
			c->queued = CLIP_STOPPED;
			c->queued_at = at + 2 * c->length / mul_of(c);
			c->oneshot_end = c->queued_at;
		}
		rephase(e, slot, f);
		break;
	}
	case CLIP_STOPPED:
		overdub_end(e, c, at, false);
		if (e->tracks[t].main.slot == slot)
			voice_stop(e, t, at, f);
		c->state = CLIP_STOPPED;
		break;
	default:
		break;
	}
	clip_report(e, slot, f);
}

/* The play position a clip's voice reads at frame f (its direction and
 * speed; the lower one, halfway between two). */
static int64_t play_pos(const struct clip *c, int64_t f)
{
	int64_t p = pos_mod((f - c->launch) * mul_of(c), 2 * c->length) >> 1;
	return c->reverse ? c->length - 1 - p : p;
}

static void clip_setting_event(struct engine *e, uint8_t type, int slot, double value,
			       int64_t f);

/* The reverse toggle's boundary: the direction flips, and a playing clip
 * goes on from the position it is at, the other way (the old direction
 * fades out, the new one in). A pass under way ends here: its input keeps
 * the mapping it started with, and none of it is lost. */
static void reverse_apply(struct engine *e, int slot, int64_t f)
{
	struct clip *c = &e->clips[slot];
	c->reverse_at = GL_NEVER;
	if (c->state == CLIP_EMPTY || c->state == CLIP_RECORDING || c->length <= 0)
		return;
	if (c->state == CLIP_OVERDUBBING) {
		overdub_end(e, c, f, false);
		clip_report(e, slot, f);
	}
	const int64_t L = c->length, p0 = play_pos(c, f);
	c->reverse = !c->reverse;
	/* Unmirrored, the new direction is at q: q half-steps ago... */
	int64_t q = c->reverse ? L - 1 - p0 : p0;
	c->launch = f - 2 * q / mul_of(c);
	int t = track_of(slot);
	if (c->state == CLIP_PLAYING && e->tracks[t].main.slot == slot)
		voice_start(e, t, slot, c->launch, f);
	clip_setting_event(e, CMD_REVERSE, slot, c->reverse, f);
}

/* The speed change's boundary: the clip plays at its new speed from the
 * top there (a playing one is launched again, the old pass fading out); a
 * pass under way ends there. */
static void speed_apply(struct engine *e, int slot, int64_t f)
{
	struct clip *c = &e->clips[slot];
	c->speed_at = GL_NEVER;
	if (c->state == CLIP_EMPTY || c->state == CLIP_RECORDING || c->length <= 0)
		return;
	if (c->state == CLIP_OVERDUBBING) {
		overdub_end(e, c, f, false);
		clip_report(e, slot, f);
	}
	c->speed_mul = c->speed_next == 2 ? 0 : c->speed_next;
	int t = track_of(slot);
	if (c->state == CLIP_PLAYING && e->tracks[t].main.slot == slot) {
		c->launch = f;
		c->grid_shift = 0; /* from the top at a boundary of the grid */
		voice_start(e, t, slot, f, f);
	}
	clip_setting_event(e, CMD_SPEED, slot, (double)mul_of(c) / 2.0, f);
}

void clip_apply_due(struct engine *e, int64_t f)
{
	for (int s = 0; s < GL_SLOTS; s++) {
		struct clip *c = &e->clips[s];
		if (c->rb_pass && !c->rb_switched && c->rb_end <= f)
			rb_switch(e, s, f);
		if (c->rb_queued && c->rb_start <= f) {
			/* A stop due now wins over a multiply or insert due
			 * now: applied first, it discards the pass before it
			 * begins (begun, the stop would only end it a whole
			 * cycle later, recording on into a stopped clip). */
			if (c->queued == CLIP_STOPPED && c->queued_at <= f)
				apply(e, s, f);
			if (c->rb_queued)
				rb_begin(e, s, f);
		}
		/* A reverse or speed change waits for a multiply or insert. */
		bool rb = c->rb_queued || c->rb_pass;
		if (c->reverse_at <= f && !rb)
			reverse_apply(e, s, f);
		if (c->speed_at <= f && !rb)
			speed_apply(e, s, f);
		if (e->clips[s].queued && e->clips[s].queued_at <= f)
			apply(e, s, f);
	}
}

int64_t clip_next_due(const struct engine *e, int64_t after)
{
	int64_t next = GL_NEVER;
	for (int s = 0; s < GL_SLOTS; s++) {
		const struct clip *c = &e->clips[s];
		if (c->queued && c->queued_at > after && c->queued_at < next)
			next = c->queued_at;
		if (c->reverse_at > after && c->reverse_at < next)
			next = c->reverse_at;
		if (c->speed_at > after && c->speed_at < next)
			next = c->speed_at;
		if (c->rb_queued && c->rb_start > after && c->rb_start < next)
			next = c->rb_start;
		if (c->rb_pass && !c->rb_switched && c->rb_end > after &&
		    c->rb_end < next)
			next = c->rb_end;
	}
	return next;
}

/* ---- overdub, undo, redo ---------------------------------------------- */

/* ---- undo levels ------------------------------------------------------ */

/* What a copy of `frames` frames of the clip takes, in whole chunks. */
static uint64_t copy_bytes(const struct engine *e, const struct clip *c, int64_t frames)
{
	uint64_t C = e->chunk_frames;
	return ((uint64_t)frames + C - 1) / C * C * c->channels * sizeof(float);
}

/* What the clip holds for undo: every buffer (a level's or a spare), and
 * for each multiply or insert level a copy of the longer of its two takes
 * (T', the one after it), so an undo or redo of it changes nothing here
 * (it keeps A while applied, T' once undone). */
static uint64_t undo_bytes(const struct engine *e, const struct clip *c)
{
	uint64_t n = 0;
	for (int b = 0; b < c->nbufs; b++)
		n += copy_bytes(e, c, c->ubuf_frames[b]);
	for (int i = 0; i < c->nlv; i++)
		if (c->lv[i].take)
			n += copy_bytes(e, c, c->lv[i].len);
	return n;
}

static int undo_count(const struct clip *c)
{
	int n = c->nbufs;
	for (int i = 0; i < c->nlv; i++)
		n += c->lv[i].take;
	return n;
}

/* Whether what the clip holds for undo, with `count` more of `bytes`
 * more, is past its bounds: undo_levels (buffers and kept takes), and
 * undo_memory_mb. */
static bool undo_over(const struct engine *e, const struct clip *c, uint64_t bytes,
		      int count)
{
	if (undo_count(c) + count > (int)e->cfg.undo_levels)
		return true;
	return e->cfg.undo_memory_mb &&
	       undo_bytes(e, c) + bytes > (e->cfg.undo_memory_mb << 20);
}

static bool buf_in_use(const struct clip *c, int b)
{
	if (c->od_writing && c->od_buf == b)
		return true;
	for (int i = 0; i < c->nlv; i++)
		if (!c->lv[i].take && c->lv[i].buf == b)
			return true;
	return false;
}

/* A buffer serves a pass on the clip's take if it holds its length. */
static bool buf_fits(const struct clip *c, int b)
{
	return c->ubuf_frames[b] >= c->length;
}

static int buf_free(const struct clip *c)
{
	for (int b = 0; b < c->nbufs; b++)
		if (!buf_in_use(c, b) && buf_fits(c, b))
			return b;
	return -1;
}

/* Buffer b (not in use) goes back to the keeper; the last buffer takes
 * its index. */
static void release_buf(struct engine *e, int slot, int b)
{
	struct clip *c = &e->clips[slot];
	struct mem_request rq = {.type = MEM_UNDO_FREE,
				 .slot = (uint8_t)slot,
				 .gen = c->gen,
				 .tables = {c->ubuf[b][0], c->ubuf[b][1]}};
	engine_request(e, &rq);
	int last = --c->nbufs;
	if (b == last)
		return;
	c->ubuf[b][0] = c->ubuf[last][0];
	c->ubuf[b][1] = c->ubuf[last][1];
	c->ubuf_frames[b] = c->ubuf_frames[last];
	for (int i = 0; i < c->nlv; i++)
		if (!c->lv[i].take && c->lv[i].buf == last)
			c->lv[i].buf = (uint8_t)b;
	if (c->od_writing && c->od_buf == last)
		c->od_buf = (int8_t)b;
}

/* Spare buffers too short for the clip's take (its length grew by a
 * multiply or insert) go back to the keeper. */
static void release_unfit_spares(struct engine *e, int slot)
{
	struct clip *c = &e->clips[slot];
	for (int b = c->nbufs - 1; b >= 0; b--)
		if (!buf_in_use(c, b) && !buf_fits(c, b))
			release_buf(e, slot, b);
}

/* The oldest level goes, with an event: a pass's buffer stays in the pool
 * (its index returned), a multiply's or insert's take goes to the keeper
 * (-1); -2: it cannot go (the take it keeps is A, which T', the clip's
 * take, is still being filled from). */
static int level_drop_oldest(struct engine *e, int slot, int64_t f)
{
	struct clip *c = &e->clips[slot];
	int b = -1;
	if (c->lv[0].take) {
		bool filling = c->rb_mode != RB_NONE && c->rb_switched && c->nlv == 1;
		if (filling && c->table[0] == c->rb_dst[0])
			return -2;
		float **held[2] = {NULL, NULL};
		if (filling) { /* T', undone and still being filled, goes */
			held[0] = c->rb_dst[0];
			held[1] = c->rb_dst[1];
			rb_reset(c);
		}
		take_free(e, slot, c->lv[0].tk.id, held);
	} else {
		b = c->lv[0].buf;
	}
	for (int i = 1; i < c->nlv; i++)
		c->lv[i - 1] = c->lv[i];
	c->nlv--;
	if (c->applied > 0)
		c->applied--;
	engine_emit(e, EV_UNDO_DROPPED, slot, f, c->nlv, 0);
	return b;
}

/* The pass just ended (its input window closed, or cut by an undo or a
 * clear): what it wrote over becomes the newest level. */
static void pass_close(struct clip *c)
{
	c->od_writing = false;
	c->undo_ready = false;
	c->rg_len = c->od_covered < c->length ? c->od_covered : c->length;
	/* A reversed pass wrote downwards from its first position: its
	 * region, as every region, is named by its lowest one. */
	if (c->od_reverse && c->rg_len > 0)
		c->rg_start = pos_mod(c->rg_start - c->rg_len + 1, c->length);
	if (c->od_buf >= 0 && c->rg_len > 0 && c->nlv < GL_UNDO_LEVELS_MAX) {
		c->lv[c->nlv++] = (struct undo_level){.rg_start = c->rg_start,
						      .rg_len = c->rg_len,
						      .len = c->length,
						      .buf = (uint8_t)c->od_buf};
		c->applied = c->nlv;
	}
	c->od_buf = -1;
}

/* Between periods: a final take keeps one undo buffer free for its next
 * pass, of its length, as long as its bounds allow and the keeper has
 * memory (spares too short for it went back where they came about:
 * release_unfit_spares' callers, so no period walks the pool twice). When
 * the bounds leave no room
 * for one, the oldest level gives its buffer at the next pass; if that
 * buffer is too short (or the oldest level keeps a take), the oldest
 * levels go now, with EV_UNDO_DROPPED, until there is room (not while
 * there are levels to redo: the next pass drops those first). */
static void undo_want_more(struct engine *e, int slot)
{
	struct clip *c = &e->clips[slot];
	if (!c->finished || c->cleared || c->state == CLIP_EMPTY || c->length <= 0)
		return;
	if (c->undo_pending || c->undo_failed || buf_free(c) >= 0)
		return;
	for (;;) {
		if (c->nbufs >= GL_UNDO_LEVELS_MAX)
			return;
		if (undo_count(c) == 0 ||
		    !undo_over(e, c, copy_bytes(e, c, c->length), 1)) {
			c->undo_pending = true;
			request(e, MEM_UNDO_MORE, slot, c->nbufs, c->length);
			return;
		}
		if (c->nlv == 0 || (!c->lv[0].take && buf_fits(c, c->lv[0].buf)))
			return; /* the next pass takes the oldest level's */
		if (c->applied < c->nlv || c->swapping || c->od_writing)
			return;
		if (level_drop_oldest(e, slot, e->now) == -2)
			return;
		release_unfit_spares(e, slot);
	}
}

void clip_undo_ready(struct engine *e, int slot, float **const tables[2], int64_t frames)
{
	struct clip *c = &e->clips[slot];
	c->undo_pending = false;
	if (c->nbufs >= GL_UNDO_LEVELS_MAX)
		return;
	c->ubuf[c->nbufs][0] = tables[0];
	c->ubuf[c->nbufs][1] = tables[1];
	c->ubuf_frames[c->nbufs] = frames;
	c->nbufs++;
	release_unfit_spares(e, slot); /* asked for before a multiply ended */
}

void clip_undo_failed(struct engine *e, int slot)
{
	e->clips[slot].undo_pending = false;
	e->clips[slot].undo_failed = true;
}

static void overdub_start(struct engine *e, int slot, int64_t f, enum pass_mode mode)
{
	struct clip *c = &e->clips[slot];
	if (c->state != CLIP_PLAYING || c->od_writing || c->length <= 0 || c->rb_queued ||
	    c->rb_pass)
		return;
	if (c->swapping || c->rb_read || c->take_switching) {
		/* Said, never silently dropped: the musician presses again. */
		engine_emit(e, EV_ERROR, slot, f, ERR_PASS_BUSY, 0);
		return;
	}
	if (mul_of(c) != 2) { /* input at another speed than the loop's: not yet */
		engine_emit(e, EV_ERROR, slot, f, ERR_PASS_AT_SPEED, 0);
		return;
	}
	/* A new pass: what was undone is gone, and it needs a buffer of the
	 * take's length; at the bounds (or before the keeper answers), the
	 * oldest level gives its, if it is long enough. */
	levels_discard_redo(e, slot);
	c->clear_redo = false;
	int b;
	for (;;) {
		release_unfit_spares(e, slot);
		b = buf_free(c);
		if (c->nlv == 0)
			break;
		bool over = undo_over(e, c, 0, 0);
		if (!over && (b >= 0 || c->lv[0].take || !buf_fits(c, c->lv[0].buf)))
			break;
		if (level_drop_oldest(e, slot, f) == -2)
			break; /* a multiply's take still being filled stays */
	}
	c->od_buf = (int8_t)b;
	c->undo_ready = b >= 0;
	if (b >= 0) {
		c->undo[0] = c->ubuf[b][0];
		c->undo[1] = c->ubuf[b][1];
	} else {
		engine_emit(e, EV_ERROR, slot, f, ERR_NO_UNDO, 0);
	}
	clip_audio_changing(e, slot);
	c->state = CLIP_OVERDUBBING;
	c->od_in_start = f + e->cfg.latency_frames;
	c->od_in_end = GL_NEVER;
	c->od_mode = (uint8_t)mode;
	c->od_launch = c->launch;
	c->od_reverse = c->reverse;
	c->od_writing = true;
	c->od_covered = 0;
	clip_report(e, slot, f);
}

static void undo_chain(struct engine *e, int slot, int dir, int count, int64_t f);

/* Swap the clip's audio with the undo buffer over the pass's region,
 * starting at the play head and moving ahead of it faster than it plays, so
 * what is heard is always the restored audio. */
void clip_swap_step(struct engine *e, int slot)
{
	/* Frames swapped per period: well ahead of any period's play head. */
	int64_t budget = 4 * (int64_t)e->cfg.max_period;
	if (budget < 8192)
		budget = 8192;
	struct clip *c = &e->clips[slot];
	int64_t L = c->length, C = e->chunk_frames;
	while (budget > 0 && c->swap_done < c->rg_len) {
		/* A run: contiguous in the region, in the clip and in a chunk;
		 * walking down, it ends at offset o (position top). */
		int64_t o, pos, run;
		if (!c->swap_down) {
			o = (c->swap_from + c->swap_done) % c->rg_len;
			pos = (c->rg_start + o) % L;
			run = c->rg_len - o;
			if (run > L - pos)
				run = L - pos;
			if (run > C - pos % C)
				run = C - pos % C;
		} else {
			o = pos_mod(c->swap_from - c->swap_done, c->rg_len);
			pos = (c->rg_start + o) % L; /* the top, for now */
			run = o + 1;
			if (run > pos + 1)
				run = pos + 1;
			if (run > pos % C + 1)
				run = pos % C + 1;
		}
		if (run > c->rg_len - c->swap_done)
			run = c->rg_len - c->swap_done;
		if (run > budget)
			run = budget;
		if (c->swap_down)
			pos = pos - run + 1;
		for (int ch = 0; ch < c->channels; ch++) {
			float *a = c->table[ch][pos / C] + pos % C;
			float *u = c->undo[ch][pos / C] + pos % C;
			for (int64_t i = 0; i < run; i++) {
				float tmp = a[i];
				a[i] = u[i];
				u[i] = tmp;
			}
		}
		c->swap_done += run;
		budget -= run;
	}
	if (c->swap_done >= c->rg_len) {
		c->swapping = false;
		clip_settle(e, slot);
		engine_emit(e, EV_OVERDUB_DONE, slot, e->now, c->length, 0);
		if (c->swap_more) {
			/* undo_all / redo_all: the next level, swapped from the
			 * next period on, so a period never swaps more than one
			 * budget, however many levels go (its first run, from
			 * where the head was at this period's start, still
			 * reaches past where the head is then). */
			int more = c->swap_more;
			c->swap_more = 0;
			c->swap_defer = true;
			undo_chain(e, slot, more > 0 ? 1 : -1, more > 0 ? more : -more,
				   e->now);
			c->swap_defer = false;
		}
	}
}

/* Level i's region swaps with its buffer, from the play head on. */
static void swap_start(struct engine *e, int slot, int i, int64_t f)
{
	struct clip *c = &e->clips[slot];
	const struct undo_level *l = &c->lv[i];
	c->rg_start = l->rg_start;
	c->rg_len = l->rg_len;
	c->undo[0] = c->ubuf[l->buf][0];
	c->undo[1] = c->ubuf[l->buf][1];
	int64_t head = (c->state == CLIP_PLAYING || c->state == CLIP_OVERDUBBING)
			   ? play_pos(c, f)
			   : c->rg_start;
	int64_t d = pos_mod(head - c->rg_start, c->length);
	/* Reversed, the play head moves down: the swap goes down from it. */
	c->swap_down = c->reverse;
	c->swap_from = d < c->rg_len ? d : (c->swap_down ? c->rg_len - 1 : 0);
	c->swap_done = 0;
	c->swapping = true;
	clip_audio_changing(e, slot);
	if (!c->swap_defer)
		clip_swap_step(e, slot);
}

/* The cleared take comes back, stopped, as it was. */
static void unclear(struct engine *e, int slot, int64_t f)
{
	struct clip *c = &e->clips[slot];
	c->cleared = false;
	c->clear_redo = true;
	c->state = CLIP_STOPPED;
	clip_settle(e, slot);
	clip_report(e, slot, f);
	/* The SD writer saves it again (as after a pass). */
	if (!c->swapping)
		engine_emit(e, EV_OVERDUB_DONE, slot, f, c->length, 0);
}

enum step { STEP_NONE, STEP_INSTANT, STEP_SWAP };

/* One undo (dir 1) or redo (dir -1). An undo takes back the clear first,
 * then the passes, newest first; a redo goes the other way. A swap under
 * way lets nothing else start. */
static enum step undo_step(struct engine *e, int slot, int dir, int64_t f)
{
	struct clip *c = &e->clips[slot];
	if (dir > 0 && c->cleared) {
		unclear(e, slot, f);
		return STEP_INSTANT;
	}
	if (c->swapping || c->cleared || c->state == CLIP_EMPTY)
		return STEP_NONE;
	if (dir > 0) {
		if (c->applied == 0)
			return STEP_NONE;
		if (c->rb_mode != RB_NONE && c->rb_switched && c->applied < c->nlv) {
			/* Undone, T' is still being filled from A: A stays as it
			 * is until then (said: the musician presses again). */
			engine_emit(e, EV_ERROR, slot, f, ERR_PASS_BUSY, 0);
			return STEP_NONE;
		}
		c->applied--;
		if (c->lv[c->applied].take) {
			take_swap(e, slot, c->applied, 1, f);
			return STEP_INSTANT;
		}
		swap_start(e, slot, c->applied, f);
		return STEP_SWAP;
	}
	if (c->applied < c->nlv && c->lv[c->applied].take) {
		take_swap(e, slot, c->applied, -1, f);
		c->applied++;
		return STEP_INSTANT;
	}
	if (c->applied < c->nlv) {
		/* Counted first: the swap's first step may end it, and go on
		 * with the next level (undo_chain) from inside. */
		c->applied++;
		swap_start(e, slot, c->applied - 1, f);
		return STEP_SWAP;
	}
	if (c->clear_redo) {
		clip_clear(e, slot, f);
		return STEP_INSTANT;
	}
	return STEP_NONE;
}

/* Up to count steps, at most one swap now: what remains is left in
 * swap_more before the swap starts (its first step may finish it), and
 * goes on from its end, one level a period at most, so no period swaps
 * more than one budget however many levels go. */
static void undo_chain(struct engine *e, int slot, int dir, int count, int64_t f)
{
	struct clip *c = &e->clips[slot];
	while (count > 0) {
		c->swap_more = (int8_t)(dir * (count - 1));
		enum step st = undo_step(e, slot, dir, f);
		if (st == STEP_NONE)
			break;
		count--;
		if (st == STEP_SWAP)
			return;
	}
	c->swap_more = 0;
}

static void undo_redo(struct engine *e, int slot, bool redo, int count, int64_t f)
{
	struct clip *c = &e->clips[slot];
	if (c->swapping && !c->cleared)
		return;
	if (c->rb_queued || (c->rb_pass && !c->rb_switched)) {
		/* Undo during a multiply or insert: it is taken back, whole. */
		if (redo)
			return;
		rb_discard(e, slot, f);
		if (--count == 0)
			return;
	}
	if (!redo)
		c->rb_pass = false; /* after its switch: the rest is A's copies */
	if (!redo && c->od_writing) {
		/* Undo during a pass: the pass ends here and is undone. A
		 * replace pass had the loop silent: it fades in again. */
		overdub_end(e, c, f, true);
		pass_close(c);
		struct track *tr = &e->tracks[track_of(slot)];
		if (c->od_mode == PASS_REPLACE && tr->main.slot == slot)
			tr->main.fade_from = f;
		clip_report(e, slot, f);
	}
	undo_chain(e, slot, redo ? -1 : 1, count, f);
	clip_settle(e, slot); /* a pass cut short with nothing to undo */
}

/* ---- multiply and insert (rebuilds) ----------------------------------- *
 *
 * Why a new take rather than growing A in place: A's last chunk was
 * trimmed by the keeper when the take ended (its unused pages went back),
 * and an insert moves everything after the insert point; either would mean
 * touching the whole loop at once. Instead the keeper hands over T' in
 * chunks of its own (MEM_BUILD), its first chunks the very pointers of A's
 * (copied by the keeper, off the real-time thread: A's audio there is T's
 * too, and stays so, as undo is last in first out), and the engine fills
 * the rest a budget a period: the pass as the input comes (its own frames
 * a period), the copies of A ahead of wherever they are needed; what is
 * not written yet reads from A, where it is the same. At the end boundary
 * T' becomes the clip's take by a pointer switch, and A the undo level:
 * undo and redo switch pointers again. Every period's cost is O(period),
 * whatever the loop's length.
 *
 * The level goes on top of the levels before it, which stay: they apply
 * to A, and undo reaches them only with A the clip's take again (last in
 * first out). A pass on T' changes the chunks T' shares with A, and its
 * undo gives them back before A is switched back to, so A is as it was.
 * Passes on T' need buffers of T's length: the keeper makes them, asked
 * for between periods (undo_want_more), as any buffer. */

static int64_t rb_budget(const struct engine *e)
{
	int64_t b = 4 * (int64_t)e->cfg.max_period;
	return b < 8192 ? 8192 : b;
}

static void rb_reset(struct clip *c)
{
	c->rb_mode = RB_NONE;
	c->rb_queued = c->rb_pass = c->rb_switched = c->rb_read = false;
	c->rb_pending = c->rb_failed = false;
	c->rb_dst[0] = c->rb_dst[1] = NULL;
	c->rb_cap = 0;
	/* Replies about it are stale now; never 0, the recorded take's id. */
	if (++c->rb_seq == 0)
		c->rb_seq = 1;
}

static void rb_ask(struct engine *e, int slot, int64_t frames)
{
	struct clip *c = &e->clips[slot];
	struct mem_request rq = {.type = MEM_BUILD,
				 .slot = (uint8_t)slot,
				 .gen = c->gen,
				 .nchunks = c->rb_shared,
				 .frames = frames,
				 .seq = c->rb_seq};
	c->rb_pending = true;
	engine_request(e, &rq);
}

/* The keeper lets the other take `id` go (T' given up, or a level's take
 * dropped), and the table the engine last held of T' (a grown one may be
 * on its way). */
static void take_free(struct engine *e, int slot, uint32_t id, float **const held[2])
{
	struct mem_request rq = {.type = MEM_TAKE_FREE,
				 .slot = (uint8_t)slot,
				 .gen = e->clips[slot].gen,
				 .seq = id};
	engine_request(e, &rq);
	if (held && (held[0] || held[1])) {
		struct mem_request rt = {.type = MEM_RETIRE_TABLE,
					 .slot = (uint8_t)slot,
					 .tables = {held[0], held[1]}};
		engine_request(e, &rt);
	}
}

/* When nothing changes the clip's audio any more: final (clip_settle),
 * and EV_OVERDUB_DONE for whoever saves it. */
static void settle_done(struct engine *e, int slot, int64_t f)
{
	unsigned v = atomic_load_explicit(&e->clip_version[slot], memory_order_relaxed);
	clip_settle(e, slot);
	if (atomic_load_explicit(&e->clip_version[slot], memory_order_relaxed) != v)
		engine_emit(e, EV_OVERDUB_DONE, slot, f, e->clips[slot].length, 0);
}

/* A new action: what was undone is gone (an undone multiply's take too). */
static void levels_discard_redo(struct engine *e, int slot)
{
	struct clip *c = &e->clips[slot];
	for (int i = c->applied; i < c->nlv; i++) {
		if (!c->lv[i].take)
			continue; /* its buffer is a spare again */
		float **held[2] = {NULL, NULL};
		if (c->rb_mode != RB_NONE && c->rb_switched && i == c->nlv - 1) {
			held[0] = c->rb_dst[0]; /* T', still being filled */
			held[1] = c->rb_dst[1];
			rb_reset(c);
		}
		take_free(e, slot, c->lv[i].tk.id, held);
	}
	c->nlv = c->applied;
	release_unfit_spares(e, slot); /* the undone levels' buffers are spares */
}

/* Before the switch: T' goes, nothing of the pass is kept (an undo, a
 * clear, a toggle before it began, no memory). An insert under way had
 * the loop silent: it plays on from the insert point. */
static void rb_discard(struct engine *e, int slot, int64_t f)
{
	struct clip *c = &e->clips[slot];
	bool was_pass = c->rb_pass, insert = c->rb_mode == RB_INSERT;
	int64_t h = c->rb_h;
	float **held[2] = {c->rb_dst[0], c->rb_dst[1]};
	uint32_t id = c->rb_seq;
	rb_reset(c);
	take_free(e, slot, id, held);
	if (!was_pass)
		return;
	int t = track_of(slot);
	if (c->state == CLIP_OVERDUBBING) {
		c->state = CLIP_PLAYING;
		if (insert &&
		    (e->tracks[t].main.slot < 0 || e->tracks[t].main.slot == slot)) {
			c->launch = f - h;
			voice_start(e, t, slot, c->launch, f);
		}
	}
	clip_report(e, slot, f);
}

/* The next frame at or after f where the play position is on a cycle
 * line (a playing clip at speed 1, forwards). */
static int64_t next_cycle_line(const struct clip *c, int64_t f)
{
	int64_t r = pos_mod(f - c->launch, c->length) % c->cycle;
	return r ? f + c->cycle - r : f;
}

/* Where a multiply or insert asked for at f starts: the next boundary
 * (quantise off: at once); an insert with no seams left to add (two, its
 * ends, GL_SEAMS_MAX) at the next cycle line, where it adds none. */
static int64_t rb_start_at(const struct engine *e, const struct clip *c, uint8_t mode,
			   int64_t f)
{
	if (mode == RB_INSERT && c->nseams + 2 > GL_SEAMS_MAX)
		return next_cycle_line(c, f);
	return boundary(e, f);
}

/* T' starting at S: its head is A up to the play position there. */
static void rb_plan(struct engine *e, int slot, uint8_t mode, int64_t S)
{
	struct clip *c = &e->clips[slot];
	const int64_t C = e->chunk_frames, L = c->length;
	int64_t p = pos_mod(S - c->launch, L);
	rb_reset(c);
	c->rb_mode = mode;
	c->rb_queued = true;
	c->rb_start = S;
	c->rb_end = GL_NEVER;
	c->rb_len_a = L;
	c->rb_h = p;
	c->rb_cs = S - p;
	c->rb_shared = (uint32_t)(p / C);
	c->rb_hc = (int64_t)c->rb_shared * C;
	c->rb_w = p;
	c->rb_tc = c->rb_m = c->rb_len = 0;
	c->rb_src[0] = c->table[0];
	c->rb_src[1] = c->table[1];
	rb_ask(e, slot, p + e->lead_frames);
}

/* The pass begins at S, if T' has memory for its first frames; if not yet,
 * it waits (the next boundary, or cycle line for an insert). */
static void rb_begin(struct engine *e, int slot, int64_t f)
{
	struct clip *c = &e->clips[slot];
	const int64_t C = e->chunk_frames;
	if (c->state != CLIP_PLAYING || c->length != c->rb_len_a) {
		rb_discard(e, slot, f); /* stopped, relaunched away: not now */
		return;
	}
	if (c->rb_cap * C <= c->rb_h + 1) {
		if (c->rb_failed) {
			engine_emit(e, EV_ERROR, slot, f, ERR_OUT_OF_MEMORY, 0);
			rb_discard(e, slot, f);
			return;
		}
		int64_t S = e->quantise == QUANTISE_OFF
				? f + GL_MIN_PERIOD
				: rb_start_at(e, c, c->rb_mode, f + 1);
		if (c->rb_mode == RB_INSERT && c->nseams + 2 > GL_SEAMS_MAX)
			S = next_cycle_line(c, f + 1);
		int64_t p = pos_mod(S - c->launch, c->length);
		if (p < (int64_t)c->rb_shared * C || p < c->rb_h) {
			/* Past the loop's end: the head it asked for is wrong. */
			uint8_t mode = c->rb_mode;
			rb_discard(e, slot, f);
			rb_plan(e, slot, mode, S);
			return;
		}
		c->rb_start = S;
		c->rb_h = c->rb_w = p;
		c->rb_cs = S - p;
		return;
	}
	c->rb_queued = false;
	c->rb_pass = true;
	c->state = CLIP_OVERDUBBING;
	int t = track_of(slot);
	if (c->rb_mode == RB_INSERT && e->tracks[t].main.slot == slot)
		voice_stop(e, t, f, f); /* the loop waits while cycles go in */
	clip_report(e, slot, f);
}

/* Multiply: T' spans the whole cycles from its start to the first cycle
 * line at or after g (never shorter than A); insert: whole cycles from S
 * to the first at or after g. Both capped by the memory T' got, if the
 * keeper ran out. false: not one cycle fits. */
static bool rb_fit(struct engine *e, int slot, int64_t g)
{
	struct clip *c = &e->clips[slot];
	const int64_t cyc = c->cycle, LA = c->rb_len_a;
	int64_t cap = c->rb_failed ? (int64_t)c->rb_cap * e->chunk_frames : GL_NEVER;
	if (cap > GL_CLIP_FRAMES_MAX)
		cap = GL_CLIP_FRAMES_MAX;
	if (c->rb_mode == RB_MULTIPLY) {
		int64_t n = c->rb_end != GL_NEVER
				? c->rb_len
				: ((g - c->rb_cs) + cyc - 1) / cyc * cyc;
		if (n < LA)
			n = LA;
		if (n > cap)
			n = cap / cyc * cyc;
		if (c->nseams) {
			/* Each copy of A brings its seams: no more copies than
			 * the list holds (the first always fits). */
			int64_t copies = GL_SEAMS_MAX / c->nseams;
			int64_t most = copies * LA / cyc * cyc;
			if (n > most)
				n = most;
		}
		if (n < LA)
			return false;
		c->rb_len = n;
		c->rb_m = n - c->rb_h;
		c->rb_end = c->rb_cs + n;
	} else {
		int64_t m = c->rb_end != GL_NEVER
				? c->rb_m
				: ((g - c->rb_start) + cyc - 1) / cyc * cyc;
		if (m < cyc)
			m = cyc;
		if (LA + m > cap)
			m = (cap - LA) / cyc * cyc;
		if (m < cyc)
			return false;
		c->rb_m = m;
		c->rb_len = LA + m;
		c->rb_end = c->rb_start + m;
	}
	return true;
}

/* Anything that ends the pass (the op again, a press, another pass op,
 * a stop, a launch) ends it at the next cycle line, rounded up; the input
 * goes on to there. */
static void rb_end_decide(struct engine *e, int slot, int64_t g)
{
	struct clip *c = &e->clips[slot];
	if (c->rb_queued) {
		rb_discard(e, slot, g); /* toggled back before it began */
		return;
	}
	if (!c->rb_pass || c->rb_end != GL_NEVER)
		return;
	if (g <= c->rb_start)
		g = c->rb_start + 1;
	if (!rb_fit(e, slot, g)) {
		engine_emit(e, EV_ERROR, slot, g, ERR_OUT_OF_MEMORY, 0);
		rb_discard(e, slot, g);
	}
}

/* The seams of T' off its cycle lines: a multiply's, A's in every copy
 * (rb_fit keeps them within the list); an insert's, A's moved past the
 * inserted cycles and its own two ends (unless on a cycle line). */
static void rb_seams(struct clip *c)
{
	int64_t out[GL_SEAMS_MAX];
	int n = 0;
	const int64_t LA = c->rb_len_a, N = c->rb_len, h = c->rb_h, m = c->rb_m;
	if (c->rb_mode == RB_MULTIPLY) {
		for (int64_t base = 0; base < N; base += LA)
			for (int i = 0; i < c->nseams && n < GL_SEAMS_MAX; i++)
				if (base + c->seams[i] < N)
					out[n++] = base + c->seams[i];
	} else {
		for (int i = 0; i < c->nseams && c->seams[i] <= h && n < GL_SEAMS_MAX;
		     i++)
			if (c->seams[i] != h)
				out[n++] = c->seams[i];
		if (h % c->cycle && n < GL_SEAMS_MAX)
			out[n++] = h;
		if ((h + m) % c->cycle && n < GL_SEAMS_MAX)
			out[n++] = h + m;
		for (int i = 0; i < c->nseams && n < GL_SEAMS_MAX; i++)
			if (c->seams[i] > h)
				out[n++] = c->seams[i] + m;
	}
	memcpy(c->seams, out, (size_t)n * sizeof(out[0]));
	c->nseams = (uint8_t)n;
}

/* The end boundary (or later, when memory ran out behind the play head):
 * T' is the clip's take; A is kept by the one level left. */
static void rb_switch(struct engine *e, int slot, int64_t f)
{
	struct clip *c = &e->clips[slot];
	const int t = track_of(slot);
	struct track *tr = &e->tracks[t];
	const int64_t LA = c->rb_len_a, E = c->rb_end;
	clip_audio_changing(e, slot);
	struct undo_level l = {.take = true, .len = c->rb_len};
	l.tk.table[0] = c->table[0];
	l.tk.table[1] = c->table[1];
	l.tk.nchunks = c->nchunks;
	l.tk.id = c->take_id;
	l.tk.length = LA;
	l.tk.mode = c->rb_mode;
	l.tk.h = c->rb_h;
	l.tk.m = c->rb_m;
	l.tk.nseams = c->nseams;
	memcpy(l.tk.seams, c->seams, sizeof(c->seams));
	rb_seams(c);
	c->table[0] = c->rb_dst[0];
	c->table[1] = c->rb_dst[1];
	c->nchunks = c->rb_cap;
	c->length = c->written = c->rb_len;
	c->take_id = c->rb_seq;
	/* The levels before it stay, within the bounds with it counted: the
	 * oldest go first; spares too short for T' go back, and the keeper
	 * is asked for T's (undo_want_more). */
	c->undo_failed = false;
	release_unfit_spares(e, slot);
	while (c->nlv > 0 && (c->nlv >= GL_UNDO_LEVELS_MAX ||
			      undo_over(e, c, copy_bytes(e, c, c->length), 1))) {
		if (level_drop_oldest(e, slot, f) == -2)
			break;
		release_unfit_spares(e, slot);
	}
	/* No level left to drop (or T' as long as A): spares give way. */
	for (int b = c->nbufs - 1; b >= 0 && undo_count(c) > 0 &&
				   undo_over(e, c, copy_bytes(e, c, c->length), 1);
	     b--)
		if (!buf_in_use(c, b))
			release_buf(e, slot, b);
	c->lv[c->nlv++] = l;
	c->applied = c->nlv;
	c->clear_redo = false;
	c->rb_switched = true;
	c->rb_read = true;
	c->take_switching = true;
	struct mem_request rq = {.type = MEM_TAKE_SWITCH,
				 .slot = (uint8_t)slot,
				 .gen = c->gen,
				 .seq = c->take_id};
	engine_request(e, &rq);
	if (c->rb_mode == RB_MULTIPLY) {
		/* In phase, T' starts again at E, on the seam it shares with A
		 * (a cycle line), so nothing but the seam's fade is heard. A
		 * clip launched again during the pass keeps its position, in
		 * T's first copy of A. */
		bool aligned = pos_mod(c->launch - c->rb_cs, LA) == 0 && f == E;
		if (aligned) {
			c->launch = c->rb_cs;
		} else {
			c->launch = f - pos_mod(f - c->launch, LA);
			voice_rejoin(e, slot, f);
		}
		if (tr->main.slot == slot)
			tr->main.launch = c->launch;
	} else {
		/* The loop plays on after the new cycles, faded in. */
		c->launch = f - (c->rb_h + c->rb_m) - (f - E);
		if (c->state == CLIP_OVERDUBBING &&
		    (tr->main.slot < 0 || tr->main.slot == slot))
			voice_start(e, t, slot, c->launch, f);
	}
	if (c->state == CLIP_OVERDUBBING)
		c->state = CLIP_PLAYING;
	clip_report(e, slot, f);
}

/* After the switch with T' still not all written, the keeper out of
 * memory for its rest: T' cannot be finished, and goes; A plays again. */
static void rb_abandon(struct engine *e, int slot, int64_t f);

float clip_rb_sample(const struct clip *c, int ch, int64_t p, int64_t C)
{
	float **T = c->table[ch], **A = c->rb_src[ch];
	const int64_t h = c->rb_h, pe = h + c->rb_m;
	if (p < h) {
		if (p < c->rb_hc)
			return T[p / C][p % C];
		return A[p / C][p % C];
	}
	if (p < pe) {
		if (p < c->rb_w)
			return T[p / C][p % C];
		if (c->rb_mode == RB_INSERT)
			return 0.0f;
		int64_t q = p % c->rb_len_a;
		return A[q / C][q % C];
	}
	int64_t q = p - pe;
	if (q < c->rb_tc)
		return T[p / C][p % C];
	q += h;
	return A[q / C][q % C];
}

/* Copies run frames of A from position `from` to T' position `to`
 * (multiply's pass region: A's copies, mod its length), within chunks. */
static int64_t rb_copy(struct clip *c, int64_t C, int64_t from, int64_t to, int64_t run,
		       bool tiled, bool zero)
{
	if (tiled)
		from %= c->rb_len_a;
	if (run > C - to % C)
		run = C - to % C;
	if (!zero) {
		if (run > C - from % C)
			run = C - from % C;
		if (tiled && run > c->rb_len_a - from)
			run = c->rb_len_a - from;
	}
	for (int ch = 0; ch < c->channels; ch++) {
		float *d = c->rb_dst[ch][to / C] + to % C;
		if (zero) {
			for (int64_t i = 0; i < run; i++)
				d[i] = 0.0f;
		} else {
			const float *s = c->rb_src[ch][from / C] + from % C;
			for (int64_t i = 0; i < run; i++)
				d[i] = s[i];
		}
	}
	return run;
}

/* Once a period: a budget of T's copies of A (its head, the pass region
 * the input did not reach, an insert's tail), within the memory it has. */
void clip_rb_step(struct engine *e, int slot)
{
	struct clip *c = &e->clips[slot];
	if (c->rb_mode == RB_NONE || c->rb_cap == 0)
		return;
	const int64_t C = e->chunk_frames, cap = (int64_t)c->rb_cap * C;
	int64_t budget = rb_budget(e);
	while (budget > 0 && c->rb_hc < c->rb_h && c->rb_hc < cap) {
		int64_t run = c->rb_h - c->rb_hc;
		if (run > budget)
			run = budget;
		if (run > cap - c->rb_hc)
			run = cap - c->rb_hc;
		run = rb_copy(c, C, c->rb_hc, c->rb_hc, run, false, false);
		c->rb_hc += run;
		budget -= run;
	}
	if (!c->rb_switched)
		return;
	const int64_t pe = c->rb_h + c->rb_m;
	while (!c->rb_pass && budget > 0 && c->rb_w < pe && c->rb_w < cap) {
		int64_t run = pe - c->rb_w;
		if (run > budget)
			run = budget;
		if (run > cap - c->rb_w)
			run = cap - c->rb_w;
		run = rb_copy(c, C, c->rb_w, c->rb_w, run, true, c->rb_mode == RB_INSERT);
		c->rb_w += run;
		budget -= run;
	}
	const int64_t tail = c->rb_mode == RB_INSERT ? c->rb_len_a - c->rb_h : 0;
	while (budget > 0 && c->rb_tc < tail && pe + c->rb_tc < cap) {
		int64_t run = tail - c->rb_tc;
		if (run > budget)
			run = budget;
		if (run > cap - pe - c->rb_tc)
			run = cap - pe - c->rb_tc;
		run = rb_copy(c, C, c->rb_h + c->rb_tc, pe + c->rb_tc, run, false, false);
		c->rb_tc += run;
		budget -= run;
	}
	if (c->rb_pass || c->rb_hc < c->rb_h || c->rb_w < pe || c->rb_tc < tail)
		return;
	/* T' is whole: it reads as any take, and is final. */
	bool current = c->table[0] == c->rb_dst[0];
	rb_reset(c);
	if (current)
		settle_done(e, slot, e->now);
}

/* The keeper's answer to MEM_BUILD: T's tables (a grown one replaces the
 * one held, which goes back) and how many chunks. */
void clip_rb_built(struct engine *e, const struct mem_reply *r)
{
	struct clip *c = &e->clips[r->slot];
	if (r->gen != c->gen || r->seq != c->rb_seq || c->rb_mode == RB_NONE)
		return; /* a build given up: the keeper frees it (MEM_TAKE_FREE) */
	struct mem_request rq = {.type = MEM_RETIRE_TABLE, .slot = r->slot};
	bool retire = false;
	for (int ch = 0; ch < 2; ch++) {
		float **old = c->rb_dst[ch];
		if (!r->tables[ch] || r->tables[ch] == old)
			continue;
		if (old) {
			rq.tables[ch] = old;
			retire = true;
			if (c->table[ch] == old)
				c->table[ch] = r->tables[ch];
			for (int i = 0; i < c->nlv; i++)
				if (c->lv[i].take && c->lv[i].tk.table[ch] == old)
					c->lv[i].tk.table[ch] = r->tables[ch];
		}
		c->rb_dst[ch] = r->tables[ch];
	}
	if (retire)
		engine_request(e, &rq);
	if (r->nchunks > c->rb_cap)
		c->rb_cap = r->nchunks;
	c->rb_pending = false;
	if (r->type == MEM_BUILD_FAILED) {
		c->rb_failed = true;
		if (c->rb_switched) {
			if ((int64_t)c->rb_cap * e->chunk_frames < c->rb_len)
				rb_abandon(e, r->slot, e->now);
		} else if (c->rb_pass) {
			int64_t was = c->rb_end;
			if (!rb_fit(e, r->slot, e->now)) {
				engine_emit(e, EV_ERROR, r->slot, e->now,
					    ERR_OUT_OF_MEMORY, 0);
				rb_discard(e, r->slot, e->now);
			} else if (c->rb_end != was) {
				engine_emit(e, EV_ERROR, r->slot, e->now,
					    ERR_OUT_OF_MEMORY, 0);
			}
		}
	}
}

/* Between periods: T' asks for memory ahead of the pass (and for an
 * insert's tail), a few chunks at a time, so no request keeps the keeper
 * long; the pass ends once its last input is in. */
static void rb_after_period(struct engine *e, int slot, int64_t end)
{
	struct clip *c = &e->clips[slot];
	if (c->rb_mode == RB_NONE)
		return;
	const int64_t C = e->chunk_frames, cap = (int64_t)c->rb_cap * C;
	if (c->rb_pass && c->rb_switched && end >= c->rb_end + e->cfg.latency_frames) {
		c->rb_pass = false;
		if (c->rb_w > c->rb_h + c->rb_m)
			c->rb_w = c->rb_h + c->rb_m;
	}
	if (c->rb_failed && c->rb_pass && !c->rb_switched &&
	    (c->rb_end == GL_NEVER || c->rb_len > cap)) {
		/* The input outran T's memory (mix.c): it ends where it fits. */
		if (!rb_fit(e, slot, end)) {
			engine_emit(e, EV_ERROR, slot, end, ERR_OUT_OF_MEMORY, 0);
			rb_discard(e, slot, end);
			return;
		}
		engine_emit(e, EV_ERROR, slot, end, ERR_OUT_OF_MEMORY, 0);
	}
	if (c->rb_pending || c->rb_failed)
		return;
	int64_t need;
	if (c->rb_end != GL_NEVER)
		need = c->rb_len;
	else if (c->rb_queued)
		need = c->rb_h + e->lead_frames;
	else
		need = c->rb_h + (end - c->rb_start) + 2 * e->lead_frames +
		       (c->rb_mode == RB_INSERT ? c->rb_len_a - c->rb_h : 0);
	if (need > GL_CLIP_FRAMES_MAX)
		need = GL_CLIP_FRAMES_MAX;
	if (cap >= need)
		return;
	if (need > cap + 64 * C)
		need = cap + 64 * C;
	rb_ask(e, slot, need);
}

/* Undo (dir 1) or redo (-1) of multiply or insert level i: the clip's take
 * and the level's change places (pointers), the play head goes to the
 * matching position, declicked. */
static void take_swap(struct engine *e, int slot, int i, int dir, int64_t f)
{
	struct clip *c = &e->clips[slot];
	struct kept_take *k = &c->lv[i].tk;
	const int t = track_of(slot);
	struct track *tr = &e->tracks[t];
	bool playing = (c->state == CLIP_PLAYING || c->state == CLIP_OVERDUBBING) &&
		       tr->main.slot == slot;
	int64_t p = playing ? play_pos(c, f) : 0;
	const int64_t h = k->h, m = k->m;
	if (dir > 0) /* T' to A */
		p = k->mode == RB_MULTIPLY ? p % k->length
		    : p < h		   ? p
		    : p < h + m		   ? h
					   : p - m;
	else /* A to T' */
		p = k->mode == RB_MULTIPLY ? p : p < h ? p : p + m;
	clip_audio_changing(e, slot);
	for (int ch = 0; ch < 2; ch++) {
		float **x = c->table[ch];
		c->table[ch] = k->table[ch];
		k->table[ch] = x;
	}
	uint32_t n = c->nchunks;
	c->nchunks = k->nchunks;
	k->nchunks = n;
	uint32_t id = c->take_id;
	c->take_id = k->id;
	k->id = id;
	int64_t len = c->length;
	c->length = c->written = k->length;
	k->length = len;
	int64_t sv[GL_SEAMS_MAX];
	uint8_t ns = c->nseams;
	memcpy(sv, c->seams, sizeof(sv));
	memcpy(c->seams, k->seams, sizeof(sv));
	memcpy(k->seams, sv, sizeof(sv));
	c->nseams = k->nseams;
	k->nseams = ns;
	c->rb_read = c->rb_mode != RB_NONE && c->table[0] == c->rb_dst[0];
	c->take_switching = true;
	release_unfit_spares(e, slot);
	struct mem_request rq = {.type = MEM_TAKE_SWITCH,
				 .slot = (uint8_t)slot,
				 .gen = c->gen,
				 .seq = c->take_id};
	engine_request(e, &rq);
	if (p >= c->length)
		p = c->length - 1;
	int64_t q = c->reverse ? c->length - 1 - p : p;
	c->launch = f - 2 * q / mul_of(c);
	if (playing) {
		tr->main.launch = c->launch;
		voice_rejoin(e, slot, f);
	} else if (tr->fading.slot == slot) {
		voice_cut(e, slot);
	}
}

/* T' cannot be finished: A is the clip's take again, and T's level (the
 * newest, as long as T' is being filled) goes with T'. */
static void rb_abandon(struct engine *e, int slot, int64_t f)
{
	struct clip *c = &e->clips[slot];
	engine_emit(e, EV_ERROR, slot, f, ERR_OUT_OF_MEMORY, 0);
	if (c->applied == c->nlv && c->table[0] == c->rb_dst[0]) {
		c->applied--;
		take_swap(e, slot, c->applied, 1, f);
	}
	c->rb_pass = false;
	if (c->nlv > 0 && c->lv[c->nlv - 1].take) {
		float **held[2] = {c->rb_dst[0], c->rb_dst[1]};
		uint32_t id = c->lv[c->nlv - 1].tk.id;
		rb_reset(c);
		take_free(e, slot, id, held);
		c->nlv--;
		if (c->applied > c->nlv)
			c->applied = c->nlv;
		engine_emit(e, EV_UNDO_DROPPED, slot, f, c->nlv, 0);
	}
	settle_done(e, slot, f);
}

/* The keeper copies the take switched to: the clip may be final now. */
void clip_take_switched(struct engine *e, int slot)
{
	e->clips[slot].take_switching = false;
	settle_done(e, slot, e->now);
}

/* CMD_MULTIPLY, CMD_INSERT: a toggle. */
static void rb_command(struct engine *e, int slot, uint8_t mode, int64_t f)
{
	struct clip *c = &e->clips[slot];
	if (c->rb_queued || c->rb_pass) {
		rb_end_decide(e, slot, f);
		return;
	}
	if (c->state == CLIP_OVERDUBBING) { /* it ends a pass, as any pass op */
		overdub_end(e, c, f, false);
		clip_report(e, slot, f);
		return;
	}
	if (c->state != CLIP_PLAYING || c->length <= 0 || c->cycle <= 0)
		return;
	if (c->swapping || c->take_switching || c->rb_read) {
		engine_emit(e, EV_ERROR, slot, f, ERR_PASS_BUSY, 0);
		return;
	}
	if (mul_of(c) != 2) {
		engine_emit(e, EV_ERROR, slot, f, ERR_PASS_AT_SPEED, 0);
		return;
	}
	if (c->reverse || c->reverse_at != GL_NEVER) {
		engine_emit(e, EV_ERROR, slot, f, ERR_PASS_REVERSED, 0);
		return;
	}
	levels_discard_redo(e, slot);
	if (c->rb_mode != RB_NONE)
		return; /* cannot be: the discard above ended any fill */
	c->clear_redo = false;
	rb_plan(e, slot, mode, rb_start_at(e, c, mode, f));
}

/* ---- following the grid ------------------------------------------------ *
 *
 * CMD_SYNC_GRID puts a bar line at its frame f: the old grid's nearest bar
 * line moved by d frames (transport_bar_move, |d| <= half a bar; a tempo
 * change comes on top, from f on). What was quantised to the old grid and
 * is still to come moves by d too (a launch, stop, record start, reverse
 * or speed change queued after f; never to before f; a one-shot's stop at
 * its end goes with the loop instead). A loop playing, or a
 * take being recorded, keeps its phase against the bar lines: its position
 * should move by d (launch + d), modulo the time it takes to come round
 * (its length at speed 1). gridloop has no time-stretch: at a new tempo a
 * loop keeps its length, starts again at the phase it had at the old bar
 * line, and drifts against the new grid by the difference from there.
 *
 * The move is kept in grid_shift and made only when the loop is more than
 * GL_REPHASE_MS from where the grid says (folded to the nearest way
 * round): the session's small corrections (1 ms and more) add up there,
 * and cancel when they go back and forth, instead of a crossfade each.
 * Cost: a loop may stay up to GL_REPHASE_MS off the session's bar lines.
 * A move is a crossfade over fade_frames: the voice at the old position
 * fades out while the new one fades in (a voice still fading on the
 * track ramps out from its last value), so no jump is heard.
 *
 * Nothing recorded or being recorded changes: a take keeps every frame
 * from its start (its length, whole bars from it, as before), and once it
 * plays at its end it follows the moves made while it was recorded. A
 * clip being overdubbed (a pass's input still coming in, a multiply or
 * insert queued or under way) or in an undo's swap waits until that ends,
 * then follows: the input goes where the musician heard it. */

/* Frames until the clip's play position comes round again: its length at
 * speed 1, twice it at half speed, half of an even one at double. */
static int64_t loop_period(const struct clip *c)
{
	int64_t L = c->length, m = mul_of(c);
	if (m == 1)
		return 2 * L;
	return m == 4 && L % 2 == 0 ? L / 2 : L;
}

static int64_t moved_at(int64_t at, int64_t d, int64_t f)
{
	if (at == GL_NEVER || at <= f)
		return at;
	return at + d > f ? at + d : f;
}

/* A one-shot's stop at its end is queued (not a stop pressed). */
static bool oneshot_ending(const struct clip *c)
{
	return c->queued == CLIP_STOPPED && c->queued_at == c->oneshot_end;
}

/* The clip follows the moves kept for it, if they put it more than
 * GL_REPHASE_MS off and nothing under way maps its positions (f: the
 * frame being rendered). */
static void rephase(struct engine *e, int slot, int64_t f)
{
	struct clip *c = &e->clips[slot];
	if (c->grid_shift == 0 || c->state != CLIP_PLAYING || c->length <= 0 ||
	    c->od_writing || c->rb_queued || c->rb_pass || c->swapping)
		return;
	const int64_t P = loop_period(c);
	int64_t d = pos_mod(c->grid_shift, P);
	if (d > P / 2)
		d -= P;
	const int64_t near = (int64_t)e->cfg.rate * GL_REPHASE_MS / 1000;
	if (d >= -near && d <= near) {
		c->grid_shift = d; /* folded: it stays small */
		return;
	}
	c->grid_shift = 0;
	c->launch += d;
	atomic_store_explicit(
	    &e->loops_moved,
	    atomic_load_explicit(&e->loops_moved, memory_order_relaxed) + 1,
	    memory_order_relaxed);
	if (oneshot_ending(c))
		c->queued_at = c->oneshot_end = moved_at(c->queued_at, d, f);
	struct track *tr = &e->tracks[track_of(slot)];
	if (tr->main.slot != slot)
		return;
	/* The old position fades out, the new one in: a crossfade. */
	struct voice v = tr->main;
	voice_stop(e, track_of(slot), f, f);
	v.launch = c->launch;
	v.fade_from = f;
	tr->main = v;
}

/* The grid's bar lines moved by d at f (CMD_SYNC_GRID). */
static void grid_moved(struct engine *e, int64_t d, int64_t f)
{
	if (e->countin_until > f) {
		e->countin_from = moved_at(e->countin_from, d, f);
		e->countin_until = moved_at(e->countin_until, d, f);
	}
	for (int s = 0; s < GL_SLOTS; s++) {
		struct clip *c = &e->clips[s];
		/* A take's end is whole bars from its start: it stays; a
		 * one-shot's end goes with its loop (rephase). */
		if (c->queued && c->state != CLIP_RECORDING && !oneshot_ending(c))
			c->queued_at = moved_at(c->queued_at, d, f);
		c->reverse_at = moved_at(c->reverse_at, d, f);
		c->speed_at = moved_at(c->speed_at, d, f);
		if (c->state == CLIP_PLAYING || c->state == CLIP_OVERDUBBING ||
		    c->state == CLIP_RECORDING) {
			c->grid_shift += d;
			rephase(e, s, f);
		}
	}
}

/* Once a period: clips that waited (a pass, a swap) follow now. */
void clip_follow_grid(struct engine *e, int64_t f)
{
	for (int s = 0; s < GL_SLOTS; s++)
		if (e->clips[s].grid_shift)
			rephase(e, s, f);
}

/* ---- commands --------------------------------------------------------- */

static void press(struct engine *e, int slot, int64_t f)
{
	struct clip *c = &e->clips[slot];
	switch (c->state) {
	case CLIP_EMPTY:
		if (c->queued == CLIP_RECORDING) {
			c->queued = 0;
			c->queued_at = GL_NEVER;
			clip_report(e, slot, f);
		} else {
			/* Recording again: a cleared take is gone for good now
			 * (its first chunk is the new take's). */
			if (c->cleared)
				clip_clear_now(e, slot, f);
			queue(e, slot, CLIP_RECORDING, f);
		}
		break;
	case CLIP_RECORDING:
		if (c->queued == 0)
			record_end_decide(e, slot, f, CLIP_PLAYING);
		break;
	case CLIP_PLAYING:
		if (c->queued) {
			c->queued = 0;
			c->queued_at = GL_NEVER;
			clip_report(e, slot, f);
		} else {
			queue(e, slot, CLIP_STOPPED, f);
		}
		break;
	case CLIP_OVERDUBBING:
		overdub_end(e, c, f, false);
		clip_report(e, slot, f);
		break;
	case CLIP_STOPPED:
		if (c->queued == CLIP_PLAYING) {
			c->queued = 0;
			c->queued_at = GL_NEVER;
			clip_report(e, slot, f);
		} else {
			queue(e, slot, CLIP_PLAYING, f);
		}
		break;
	}
}

static void stop_clip(struct engine *e, int slot, int64_t f)
{
	struct clip *c = &e->clips[slot];
	if (c->state == CLIP_RECORDING) {
		if (c->queued == 0)
			record_end_decide(e, slot, f, CLIP_STOPPED);
		else
			c->queued = CLIP_STOPPED, clip_report(e, slot, f);
	} else if (c->state == CLIP_PLAYING || c->state == CLIP_OVERDUBBING) {
		if (c->queued != CLIP_STOPPED)
			queue(e, slot, CLIP_STOPPED, f);
	} else if (c->queued) {
		c->queued = 0;
		c->queued_at = GL_NEVER;
		clip_report(e, slot, f);
	}
}

static void stop_track(struct engine *e, int t, int64_t f)
{
	for (int s = 0; s < GL_SCENES; s++)
		stop_clip(e, slot_of(t, s), f);
}

static void launch_scene(struct engine *e, int scene, int64_t f)
{
	for (int t = 0; t < GL_TRACKS; t++) {
		int slot = slot_of(t, scene);
		struct clip *c = &e->clips[slot];
		int rec = recording_on_track(e, t, -1);
		if (c->state == CLIP_EMPTY) {
			/* Never cut a take short by accident: an empty slot
			 * leaves a recording track alone, and stops playback. */
			if (c->queued != CLIP_RECORDING && rec < 0) {
				int playing = e->tracks[t].main.slot;
				if (playing >= 0 &&
				    e->clips[playing].queued != CLIP_STOPPED)
					queue(e, playing, CLIP_STOPPED, f);
				cancel_queued_on_track(e, t, -1);
			}
		} else if (c->state == CLIP_RECORDING) {
			if (c->queued == 0)
				record_end_decide(e, slot, f, CLIP_PLAYING);
		} else {
			queue(e, slot, CLIP_PLAYING, f);
			if (rec >= 0)
				record_end_decide(e, rec, f, CLIP_STOPPED);
		}
	}
}

static void tempo_changed(struct engine *e, int64_t f)
{
	e->next_beat = transport_next_beat(&e->tr, f);
	engine_emit(e, EV_TEMPO, -1, f, llround(e->tr.bpm * 1000),
		    (int32_t)e->tr.beats_per_bar);
}

static bool needs_slot(uint8_t type)
{
	return type == CMD_PRESS || type == CMD_STOP_CLIP || type == CMD_CLEAR ||
	       type == CMD_OVERDUB || type == CMD_UNDO || type == CMD_REDO ||
	       type == CMD_UNDO_ALL || type == CMD_REDO_ALL || type == CMD_REPLACE ||
	       type == CMD_SUBSTITUTE || type == CMD_CLIP_MUTE || type == CMD_ONESHOT ||
	       type == CMD_TRIGGER || type == CMD_REVERSE || type == CMD_SPEED ||
	       type == CMD_MULTIPLY || type == CMD_INSERT;
}

static bool needs_track(uint8_t type)
{
	return needs_slot(type) || type == CMD_STOP_TRACK || type == CMD_TRACK_VOLUME ||
	       type == CMD_MUTE || type == CMD_MONITOR;
}

/* Settings that are not clip states still go out as events, so that the
 * SD writer saves what the musician set. */
static void setting_changed(struct engine *e, const struct command *cmd, int track,
			    double value, int64_t f)
{
	struct event ev = {.frame = f,
			   .value = llround(value * 1e6),
			   .aux = cmd->type,
			   .type = EV_SETTING,
			   .track = (uint8_t)(track < 0 ? 0 : track)};
	spsc_push(&e->events, &ev);
}

static void clip_setting_event(struct engine *e, uint8_t type, int slot, double value,
			       int64_t f)
{
	struct event ev = {.frame = f,
			   .value = llround(value * 1e6),
			   .aux = type,
			   .type = EV_SETTING,
			   .track = (uint8_t)track_of(slot),
			   .scene = (uint8_t)scene_of(slot)};
	spsc_push(&e->events, &ev);
}

/* Trigger and one-shot: the clip plays from the top at the next boundary
 * (again, if it is playing: the old pass fades out), and a one-shot stops
 * at its end. A clip without a final take (empty, recording) ignores it. */
static void launch_from_top(struct engine *e, int slot, bool once, int64_t f)
{
	struct clip *c = &e->clips[slot];
	if (c->state != CLIP_PLAYING && c->state != CLIP_OVERDUBBING &&
	    c->state != CLIP_STOPPED)
		return;
	queue(e, slot, CLIP_PLAYING, f);
	c->oneshot = once;
}

/* Into 0..GL_GAIN_MAX; NaN (which no comparison catches) to 0. */
static float clamp_gain(float v)
{
	if (!(v >= 0))
		return 0;
	return v > GL_GAIN_MAX ? (float)GL_GAIN_MAX : v;
}

/* v within lo..hi; false for NaN, which passes every "v < lo || v > hi". */
static bool in_range(float v, double lo, double hi)
{
	return v >= lo && v <= hi;
}

void clip_command(struct engine *e, const struct command *cmd, int64_t f)
{
	if (cmd->type >= CMD_TYPE_COUNT ||
	    (needs_track(cmd->type) && cmd->track >= GL_TRACKS) ||
	    ((needs_slot(cmd->type) || cmd->type == CMD_LAUNCH_SCENE) &&
	     cmd->scene >= GL_SCENES)) {
		engine_emit(e, EV_ERROR, -1, f, ERR_BAD_COMMAND, cmd->type);
		return;
	}
	int slot = slot_of(cmd->track % GL_TRACKS, cmd->scene % GL_SCENES);
	struct track *tr = &e->tracks[cmd->track % GL_TRACKS];
	switch ((enum command_type)cmd->type) {
	case CMD_PRESS:
		press(e, slot, f);
		break;
	case CMD_LAUNCH_SCENE:
		launch_scene(e, cmd->scene, f);
		break;
	case CMD_STOP_CLIP:
		stop_clip(e, slot, f);
		break;
	case CMD_STOP_TRACK:
		stop_track(e, cmd->track, f);
		break;
	case CMD_STOP_ALL:
		for (int t = 0; t < GL_TRACKS; t++)
			stop_track(e, t, f);
		break;
	case CMD_CLEAR:
		clip_clear(e, slot, f);
		break;
	case CMD_OVERDUB:
	case CMD_REPLACE:
	case CMD_SUBSTITUTE:
		/* A pass of any kind is ended by any of the three. */
		if (e->clips[slot].state == CLIP_OVERDUBBING) {
			overdub_end(e, &e->clips[slot], f, false);
			clip_report(e, slot, f);
		} else {
			overdub_start(e, slot, f,
				      cmd->type == CMD_REPLACE	    ? PASS_REPLACE
				      : cmd->type == CMD_SUBSTITUTE ? PASS_SUBSTITUTE
								    : PASS_OVERDUB);
		}
		break;
	case CMD_UNDO:
		undo_redo(e, slot, false, 1, f);
		break;
	case CMD_REDO:
		undo_redo(e, slot, true, 1, f);
		break;
	case CMD_CLIP_MUTE: {
		struct clip *c = &e->clips[slot];
		if (c->state == CLIP_EMPTY ||
		    (c->state == CLIP_RECORDING && c->length == 0))
			break; /* no take yet: a mute belongs to a take */
		c->muted = cmd->value != 0;
		clip_setting_event(e, CMD_CLIP_MUTE, slot, c->muted, f);
		break;
	}
	case CMD_REVERSE: {
		/* A toggle: pressed again before its boundary, it is taken back. */
		struct clip *c = &e->clips[slot];
		if (c->reverse_at != GL_NEVER)
			c->reverse_at = GL_NEVER;
		else if (c->state != CLIP_EMPTY && c->length > 0 && !c->rec_writing)
			c->reverse_at = boundary(e, f);
		break;
	}
	case CMD_SPEED: {
		struct clip *c = &e->clips[slot];
		float v = cmd->value;
		if (v != 0.5f && v != 1.0f && v != 2.0f) {
			engine_emit(e, EV_ERROR, slot, f, ERR_BAD_COMMAND, cmd->type);
			break;
		}
		if (c->state == CLIP_EMPTY || c->length <= 0 || c->rec_writing)
			break; /* a final take only */
		c->speed_next = (uint8_t)(v * 2.0f);
		c->speed_at = boundary(e, f);
		break;
	}
	case CMD_ONESHOT:
	case CMD_TRIGGER:
		launch_from_top(e, slot, cmd->type == CMD_ONESHOT, f);
		break;
	case CMD_MULTIPLY:
		rb_command(e, slot, RB_MULTIPLY, f);
		break;
	case CMD_INSERT:
		rb_command(e, slot, RB_INSERT, f);
		break;
	case CMD_UNDO_ALL: /* every level and the clear: at most this many steps */
		undo_redo(e, slot, false, GL_UNDO_LEVELS_MAX + 1, f);
		break;
	case CMD_REDO_ALL:
		undo_redo(e, slot, true, GL_UNDO_LEVELS_MAX + 1, f);
		break;
	case CMD_TAP_TEMPO:
		if (transport_tap(&e->tr, f))
			tempo_changed(e, f);
		break;
	case CMD_SET_TEMPO:
		if (!in_range(cmd->value, GL_TEMPO_MIN, GL_TEMPO_MAX)) {
			engine_emit(e, EV_ERROR, -1, f, ERR_BAD_COMMAND, cmd->type);
			break;
		}
		/* The tempo it has already (a restored session's, the same
		 * as the config's): nothing moves, the grid is not re-anchored. */
		if (e->tr.has_tempo && fabs(e->tr.bpm - cmd->value) < 1e-4)
			break;
		transport_set_tempo(&e->tr, cmd->value, f);
		tempo_changed(e, f);
		break;
	case CMD_SYNC_GRID: {
		if (!in_range(cmd->value, GL_TEMPO_MIN, GL_TEMPO_MAX)) {
			engine_emit(e, EV_ERROR, -1, f, ERR_BAD_COMMAND, cmd->type);
			break;
		}
		int64_t moved = transport_bar_move(&e->tr, f);
		transport_align(&e->tr, cmd->value, f);
		tempo_changed(e, f);
		if (moved)
			grid_moved(e, moved, f);
		break;
	}
	case CMD_SET_METER:
		if (!in_range(cmd->value, GL_BEATS_MIN, GL_BEATS_MAX)) {
			engine_emit(e, EV_ERROR, -1, f, ERR_BAD_COMMAND, cmd->type);
			break;
		}
		/* The meter it has already: the bar count must not restart at
		 * the current beat (a restore arriving mid-bar moved every bar
		 * line by the beats since the downbeat: card model seed 209133). */
		if ((uint32_t)cmd->value == e->tr.beats_per_bar)
			break;
		transport_set_meter(&e->tr, (uint32_t)cmd->value, f);
		if (e->tr.has_tempo)
			tempo_changed(e, f);
		break;
	case CMD_SET_QUANTISE:
		if (cmd->value >= 0 && cmd->value <= QUANTISE_BAR) {
			e->quantise = (enum quantise)(int)cmd->value;
			setting_changed(e, cmd, -1, e->quantise, f);
		}
		break;
	case CMD_TRACK_VOLUME:
		tr->gain_target = clamp_gain(cmd->value);
		setting_changed(e, cmd, cmd->track, tr->gain_target, f);
		break;
	case CMD_MUTE:
		tr->mute = cmd->value != 0;
		setting_changed(e, cmd, cmd->track, tr->mute, f);
		break;
	case CMD_MASTER_VOLUME:
		e->master_target = clamp_gain(cmd->value);
		setting_changed(e, cmd, -1, e->master_target, f);
		break;
	case CMD_MONITOR:
		tr->monitor = cmd->value != 0;
		setting_changed(e, cmd, cmd->track, tr->monitor, f);
		break;
	case CMD_METRONOME:
		e->metronome = cmd->value != 0;
		setting_changed(e, cmd, -1, e->metronome, f);
		break;
	case CMD_COUNTIN:
		e->countin = cmd->value != 0;
		if (!e->countin)
			e->countin_until = 0; /* a count-in under way stops clicking */
		setting_changed(e, cmd, -1, e->countin, f);
		break;
	case CMD_REQUEST:
		/* Only requests someone acts on (and no NaN cast to an integer). */
		if (cmd->value != REQUEST_EXPORT && cmd->value != REQUEST_SAVE) {
			engine_emit(e, EV_ERROR, -1, f, ERR_BAD_COMMAND, cmd->type);
			break;
		}
		engine_emit(e, EV_REQUEST, -1, f, (int64_t)cmd->value, 0);
		break;
	case CMD_TYPE_COUNT:
		break;
	}
}

/* ---- after each period: closing windows, asking for memory ------------ */

void clip_after_period(struct engine *e, int64_t end)
{
	const int64_t lat = e->cfg.latency_frames;
	for (int s = 0; s < GL_SLOTS; s++) {
		struct clip *c = &e->clips[s];
		if (c->rec_writing && c->length > 0 &&
		    end >= c->rec_start + c->length + lat) {
			/* The last input of the take is in: the audio is final. */
			c->rec_writing = false;
			c->finished = true;
			c->nbufs = c->nlv = c->applied = 0;
			c->undo_pending = true; /* MEM_FINISH makes the first buffer */
			c->undo_failed = false;
			request(e, MEM_FINISH, s, c->nchunks, c->length);
			clip_settle(e, s);
			engine_emit(e, EV_RECORD_DONE, s, end, c->length, 0);
		}
		if (c->rec_writing && !c->grow_pending && !c->grow_failed) {
			int64_t capacity = (int64_t)c->nchunks * e->chunk_frames;
			bool enough = c->length > 0 && capacity >= c->length;
			if (!enough && capacity - c->written < e->record_lead_frames) {
				c->grow_pending = true;
				request(e, MEM_GROW, s, c->nchunks + 1, 0);
			}
		}
		if (c->od_writing && c->od_in_end != GL_NEVER && end >= c->od_in_end) {
			pass_close(c);
			clip_settle(e, s);
			engine_emit(e, EV_OVERDUB_DONE, s, end, c->length, 0);
		}
		rb_after_period(e, s, end);
		undo_want_more(e, s);
	}
}

/* ---- clip versions (engine.h) ----------------------------------------- */

/* Before the stored audio may change: the version goes odd. A seqlock's
 * writer side: a reader that copied anything written after this sees the
 * version moved and throws its copy away. */
void clip_audio_changing(struct engine *e, int slot)
{
	unsigned v = atomic_load_explicit(&e->clip_version[slot], memory_order_relaxed);
	if (v & 1)
		return;
	atomic_store_explicit(&e->clip_version[slot], v + 1, memory_order_relaxed);
	atomic_thread_fence(memory_order_release);
}

/* When nothing writes the stored audio any more: the version goes even and
 * publishes the length (release: the audio before it). */
void clip_settle(struct engine *e, int slot)
{
	const struct clip *c = &e->clips[slot];
	if (c->state == CLIP_EMPTY || c->length <= 0 || c->rec_writing || c->od_writing ||
	    c->swapping || c->take_switching || c->rb_read)
		return;
	unsigned v = atomic_load_explicit(&e->clip_version[slot], memory_order_relaxed);
	if (!(v & 1))
		return;
	atomic_store_explicit(&e->clip_final_length[slot], c->length,
			      memory_order_relaxed);
	atomic_store_explicit(&e->clip_final_cycle[slot],
			      c->cycle > 0 ? c->cycle : c->length, memory_order_relaxed);
	for (int i = 0; i < c->nseams; i++)
		atomic_store_explicit(&e->clip_final_seams[slot][i], c->seams[i],
				      memory_order_relaxed);
	atomic_store_explicit(&e->clip_final_nseams[slot], c->nseams,
			      memory_order_relaxed);
	atomic_store_explicit(&e->clip_version[slot], v + 1, memory_order_release);
}

/* ---- restored takes ---------------------------------------------------- */

/* The keeper offers a take loaded from the card. Only a slot that is still
 * empty and idle takes it: a musician who started recording there since
 * keeps the new take, and the offered one goes back to be freed. */
void clip_adopt(struct engine *e, const struct mem_reply *r)
{
	int slot = r->slot;
	struct clip *c = &e->clips[slot];
	struct mem_request rq = {.slot = r->slot,
				 .nchunks = r->nchunks,
				 .frames = r->frames,
				 .tables = {r->tables[0], r->tables[1]}};
	bool idle = c->state == CLIP_EMPTY && c->queued == 0 && !c->grow_pending &&
		    !c->rec_writing && r->frames > 0 && r->nchunks > 0;
	if (!idle) {
		rq.type = MEM_ADOPT_REFUSED;
		rq.gen = c->gen;
		engine_request(e, &rq);
		engine_emit(e, EV_RESTORED, slot, e->now, r->frames, 0);
		return;
	}
	/* A new generation, and every table reply older than it is about the
	 * replaced memory, which the keeper frees on MEM_ADOPTED. */
	c->gen++;
	c->table_floor = c->gen;
	c->table[0] = r->tables[0];
	c->table[1] = r->tables[1];
	c->nchunks = r->nchunks;
	c->grow_failed = false;
	c->undo[0] = c->undo[1] = NULL;
	c->undo_ready = false;
	c->nbufs = c->nlv = c->applied = 0;
	c->undo_pending = true; /* MEM_ADOPTED makes the first buffer */
	c->undo_failed = false;
	c->cleared = c->clear_redo = false;
	c->swap_more = 0;
	c->od_writing = c->swapping = c->rec_short = false;
	c->length = c->written = c->cycle = r->frames;
	/* Its cycle, as saved (a multiplied or inserted take): seams fade at
	 * every cycle line again. Anything else: the take is one cycle. */
	if (r->cycle > 0 && r->cycle < r->frames && r->frames % r->cycle == 0)
		c->cycle = r->cycle;
	/* And an insert's seams, as saved: increasing, inside the take. */
	c->nseams = 0;
	for (int i = 0; r->seams && i < r->nseams && i < GL_SEAMS_MAX; i++) {
		int64_t x = r->seams[i];
		if (x <= 0 || x >= r->frames ||
		    (c->nseams && x <= c->seams[c->nseams - 1]))
			break;
		c->seams[c->nseams++] = x;
	}
	rb_reset(c);
	c->take_switching = false;
	c->take_id = 0;
	c->muted = (r->flags & CLIP_FLAG_MUTED) != 0;
	c->reverse = (r->flags & CLIP_FLAG_REVERSE) != 0;
	c->speed_mul = (r->flags & CLIP_FLAG_HALF_SPEED)     ? 1
		       : (r->flags & CLIP_FLAG_DOUBLE_SPEED) ? 4
							     : 0;
	c->reverse_at = c->speed_at = GL_NEVER;
	c->oneshot = false;
	c->finished = true;
	c->launch = e->now;
	c->grid_shift = 0;
	c->state = CLIP_STOPPED;
	rq.type = MEM_ADOPTED;
	rq.gen = c->gen;
	engine_request(e, &rq);
	clip_settle(e, slot);
	engine_emit(e, EV_RESTORED, slot, e->now, r->frames, 1);
	/* Its mute and direction, as any other setting, for whoever saves it. */
	if (c->muted)
		clip_setting_event(e, CMD_CLIP_MUTE, slot, 1, e->now);
	if (c->reverse)
		clip_setting_event(e, CMD_REVERSE, slot, 1, e->now);
	if (c->speed_mul)
		clip_setting_event(e, CMD_SPEED, slot, (double)c->speed_mul / 2.0,
				   e->now);
	clip_report(e, slot, e->now);
}
