/* link_sync.c -- gridloop's grid against an Ableton Link session, one period
 * at a time (see link_sync.h). */
#include "link_sync.h"

#include <math.h>

#include "gl_limits.h"

int64_t link_sync_bar_frame(int64_t frame, double beat, double bpm, uint32_t quantum,
			    uint32_t rate)
{
	double q = quantum ? quantum : 4;
	double phase = fmod(beat, q);
	if (phase < 0)
		phase += q;
	double fpb = 60.0 * rate / bpm;
	int64_t to_bar = llround((q - phase) * fpb);
	/* Phase 0, or so close that the rounding lands a whole bar on. */
	if (to_bar >= llround(q * fpb))
		to_bar = 0;
	return frame + to_bar;
}

double link_sync_engine_beat(int64_t frame, int64_t next_bar, double bpm,
			     uint32_t quantum, uint32_t rate)
{
	double q = quantum ? quantum : 4;
	double fpb = 60.0 * rate / bpm;
	double beat = q - (double)(next_bar - frame) / fpb;
	beat = fmod(beat, q);
	return beat < 0 ? beat + q : beat;
}

int64_t link_sync_bar_offset(int64_t bar_a, int64_t bar_b, double bar_frames)
{
	double d = fmod(fabs((double)(bar_a - bar_b)), bar_frames);
	if (d > bar_frames / 2)
		d = bar_frames - d;
	return llround(d);
}

void link_sync_init(struct link_sync *s, bool link_leads, bool start_stop)
{
	*s = (struct link_sync){
	    .link_leads = link_leads, .start_stop = start_stop, .align_due = INT64_MIN};
}

static bool same_bpm(double a, double b)
{
	return fabs(a - b) <= LINK_SYNC_BPM_TOLERANCE;
}

static void tempo_and_phase(struct link_sync *s, const struct link_sync_in *in,
			    struct link_sync_out *out)
{
	if (in->frame <= s->align_due) {
		/* An alignment is on its way: let it land first. A change of
		 * the engine's own meanwhile (its tempo neither the one before
		 * nor the one coming) still goes to the session, which the
		 * next alignment then brings back. */
		if (in->engine_bpm > 0 && !same_bpm(in->engine_bpm, s->before_bpm) &&
		    !same_bpm(in->engine_bpm, s->expected_bpm)) {
			s->before_bpm = in->engine_bpm;
			out->propose = true;
			out->propose_bpm = in->engine_bpm;
			out->propose_beat = link_sync_engine_beat(
			    in->frame, in->engine_next_bar, in->engine_bpm,
			    in->beats_per_bar, in->rate);
			s->proposals++;
		}
		return;
	}
	bool usable = in->link_bpm >= GL_TEMPO_MIN && in->link_bpm <= GL_TEMPO_MAX;
	/* The engine changed its tempo itself (a first loop, tap tempo, a set
	 * tempo, MIDI clock in): the session gets it, with gridloop's phase. */
	if (in->engine_bpm > 0 && !same_bpm(in->engine_bpm, s->expected_bpm)) {
		s->expected_bpm = in->engine_bpm;
		s->in_phase = false;
		out->propose = true;
		out->propose_bpm = in->engine_bpm;
		out->propose_beat =
		    link_sync_engine_beat(in->frame, in->engine_next_bar, in->engine_bpm,
					  in->beats_per_bar, in->rate);
		s->proposals++;
		return;
	}
	/* Follow the session when there is one, and Link leads. Alone,
	 * gridloop's own tempo (or none, until a first loop) stands. */
	if (!s->link_leads || in->peers == 0 || !usable) {
		s->in_phase = false;
		return;
	}
	int64_t bar = link_sync_bar_frame(in->frame, in->link_beat, in->link_bpm,
					  in->beats_per_bar, in->rate);
	bool off = in->engine_bpm == 0 || !same_bpm(in->engine_bpm, in->link_bpm);
	if (!off) {
		double bar_frames = 60.0 * in->rate / in->link_bpm * in->beats_per_bar;
		int64_t d = link_sync_bar_offset(bar, in->engine_next_bar, bar_frames);
		/* Measured in steady state only: the period before was in
		 * phase (a proposal or a session change is a new grid, not
		 * an error; it is aligned at its next bar). */
		if (s->in_phase && d > s->worst_offset)
			s->worst_offset = d;
		off = d > llround(LINK_SYNC_PHASE_MS * in->rate / 1000.0);
		s->in_phase = !off;
	} else {
		s->in_phase = false;
	}
	if (!off)
		return;
	s->in_phase = false;
	out->align = true;
	out->align_bpm = in->link_bpm;
	out->align_frame = bar;
	s->align_due = bar;
	s->before_bpm = in->engine_bpm;
	s->expected_bpm = in->link_bpm;
	s->aligns++;
}

void link_sync_period(struct link_sync *s, const struct link_sync_in *in,
		      struct link_sync_out *out)
{
	*out = (struct link_sync_out){0};
	if (!s->primed) {
		s->primed = true;
		s->link_playing = in->link_playing;
		s->engine_active = in->engine_active;
		s->expected_bpm = in->engine_bpm;
	}
	tempo_and_phase(s, in, out);
	if (!s->start_stop)
		return;
	if (in->link_playing != s->link_playing) {
		/* The session started or stopped (or this is gridloop's own
		 * change coming back): gridloop follows when it differs. */
		s->link_playing = in->link_playing;
		if (in->link_playing && !in->engine_active)
			out->start = true;
		else if (!in->link_playing && in->engine_active)
			out->stop = true;
		s->engine_active = in->engine_active;
	} else if (in->engine_active != s->engine_active) {
		s->engine_active = in->engine_active;
		if (in->engine_active != in->link_playing) {
			out->set_playing = true;
			out->playing = in->engine_active;
			s->link_playing = in->engine_active;
		}
	}
}

unsigned link_watch_step(struct link_watch *w, int64_t now_ms, size_t peers)
{
	unsigned r = 0;
	if (!w->seen || peers != w->peers)
		r |= LINK_WATCH_CHANGED;
	w->seen = true;
	w->peers = peers;
	if (peers > 0) {
		w->had_peers = true;
		w->zero_since = w->next_try = w->wait = 0;
		return r;
	}
	if (!w->had_peers)
		return r; /* alone from the start: nothing was lost */
	if (!w->zero_since) {
		w->zero_since = now_ms ? now_ms : 1;
		w->wait = LINK_WATCH_FIRST_MS;
		w->next_try = now_ms + w->wait;
	} else if (now_ms >= w->next_try) {
		r |= LINK_WATCH_REJOIN;
		w->rejoins++;
		w->wait =
		    w->wait * 2 > LINK_WATCH_MAX_MS ? LINK_WATCH_MAX_MS : w->wait * 2;
		w->next_try = now_ms + w->wait;
	}
	return r;
}

void link_heard_init(struct link_heard *h, uint32_t rate, int64_t nominal_us,
		     int64_t max_delay)
{
	*h = (struct link_heard){
	    .rate = rate ? rate : 1, .nominal_us = nominal_us, .max_delay = max_delay};
	h->block_frames =
	    (int64_t)h->rate * LINK_HEARD_WINDOW_MS / 1000 / LINK_HEARD_BLOCKS;
	if (h->block_frames < 1)
		h->block_frames = 1;
	link_heard_reset(h);
}

void link_heard_reset(struct link_heard *h)
{
	for (int i = 0; i < LINK_HEARD_BLOCKS; i++)
		h->b[i].block = INT64_MIN;
}

/* frame's block number, rounded down (frames may be negative in tests). */
static int64_t heard_block(const struct link_heard *h, int64_t frame)
{
	int64_t q = frame / h->block_frames;
	return frame < 0 && q * h->block_frames != frame ? q - 1 : q;
}

void link_heard_read(struct link_heard *h, int64_t frame, int64_t clock_us, bool ok,
		     int64_t delay_frames)
{
	double frame_us = (double)frame * 1e6 / h->rate;
	int64_t block = heard_block(h, frame);
	if (ok && delay_frames >= 0 && delay_frames <= h->max_delay) {
		double offset =
		    (double)clock_us + (double)delay_frames * 1e6 / h->rate - frame_us;
		int i = (int)(((block % LINK_HEARD_BLOCKS) + LINK_HEARD_BLOCKS) %
			      LINK_HEARD_BLOCKS);
		if (h->b[i].block != block || offset < h->b[i].offset) {
			h->b[i].block = block;
			h->b[i].offset = offset;
		}
		h->readings++;
	} else {
		h->failed++;
	}
}

int64_t link_heard_period(struct link_heard *h, int64_t frame, int64_t clock_us, bool ok,
			  int64_t delay_frames)
{
	link_heard_read(h, frame, clock_us, ok, delay_frames);
	double frame_us = (double)frame * 1e6 / h->rate;
	int64_t block = heard_block(h, frame);
	bool have = false;
	double best = 0;
	for (int i = 0; i < LINK_HEARD_BLOCKS; i++) {
		int64_t b = h->b[i].block;
		if (b == INT64_MIN || b > block || b <= block - LINK_HEARD_BLOCKS)
			continue;
		if (!have || h->b[i].offset < best)
			best = h->b[i].offset;
		have = true;
	}
	int64_t heard = have ? llround(frame_us + best) : clock_us + h->nominal_us;
	h->last_latency_us = (double)(heard - clock_us);
	return heard;
}
