/* mix.c -- rendering one piece of a period: clips playing, input monitoring,
 * the metronome, and input written into recording and overdubbing clips.
 *
 * Stored audio is never faded: fades (loop seams, launches, stops) are gains
 * applied on playback, so a recording stays equal to its input bit for bit
 * and undo restores exactly what was there. Real-time thread only.
 *
 * When input is heard (latency compensation, engine.h): input frame t was
 * played while hearing output frame t - latency, so it belongs at the loop
 * position of that frame, and it is first heard the next time the play head
 * is there, one loop later; never in the pass that records it. For a take,
 * the play head only reads what has arrived: with a round trip longer
 * than the loop, the first passes after the launch are silent, the loop
 * keeping its phase (position 0 on the launch's bar line), until the input of
 * that pass is in; the recording's tail then plays at the loop start where
 * it belongs, faded in from the seam. For an overdub, each input frame is
 * summed in only after the frame it belongs to has been rendered, for any
 * latency and period. (A loop shorter than the latency may hear a frame of
 * an overdub one pass late, never early.)
 */
#include "engine_internal.h"

#include <math.h>
#include <string.h>

static float fade_gain(int64_t d, int64_t fade)
{
	return (float)d / (float)fade;
}

/* The weight of input frame t in its clip's pass: 0 outside the pass's
 * window, ramping over fade_frames at its edges, else 1. */
float mix_pass_gain(const struct engine *e, const struct clip *c, int64_t t)
{
	const int64_t fade = e->cfg.fade_frames;
	if (t < c->od_in_start || t >= c->od_in_end)
		return 0.0f;
	float g = 1.0f;
	if (fade) {
		if (t - c->od_in_start < fade)
			g = fade_gain(t - c->od_in_start + 1, fade);
		if (c->od_in_end - t <= fade)
			g = fade_gain(c->od_in_end - t - 1, fade);
	}
	return g;
}

static inline float sample_at(const struct clip *c, int ch, int64_t p, int64_t C)
{
	return clip_sample(c, ch, p, C);
}

/* Halfway between positions p and p + 1 of a loop (half speed): the
 * 4-point cubic (Catmull-Rom) at its midpoint, its neighbours taken round
 * the loop's seam. */
static float sample_mid(const struct clip *c, int ch, int64_t p, int64_t L, int64_t C)
{
	float y0 = sample_at(c, ch, pos_mod(p - 1, L), C), y1 = sample_at(c, ch, p, C);
	float y2 = sample_at(c, ch, pos_mod(p + 1, L), C);
	float y3 = sample_at(c, ch, pos_mod(p + 2, L), C);
	return (9.0f * (y1 + y2) - (y0 + y3)) * (1.0f / 16.0f);
}

static void render_voice(struct engine *e, struct voice *v, float *trk, int64_t f0,
			 uint32_t n)
{
	struct clip *c = &e->clips[v->slot];
	const int64_t L = c->length, C = e->chunk_frames;
	if (L <= 0 || c->nchunks == 0) {
		v->slot = -1;
		return;
	}
	/* Seams: the loop's own, and (after a multiply or insert) every
	 * cycle line, where copies and insertions meet. */
	const int64_t cyc = c->cycle > 0 && c->cycle < L ? c->cycle : L;
	int64_t fade = e->cfg.fade_frames;
	if (fade > cyc / 2)
		fade = cyc / 2;
	const int right = c->channels > 1;
	/* Frames [0, written) are recorded and in chunks the keeper gave
	 * (written never passes them); nothing else is ever read. While the
	 * take's input is still coming in, a frame plays only once its input
	 * arrived by the output frame being rendered (position p arrives at
	 * ws + p), so a pass is silent or heard as a whole. */
	const int64_t ready = c->written < L ? c->written : L;
	const int64_t ws = c->rec_start + e->cfg.latency_frames;
	/* A replace pass: the loop is silent where the input replaces it
	 * (output frame f is what input frame f + latency is played over). */
	const bool replacing = c->od_writing && c->od_mode == PASS_REPLACE;
	/* A clip's mute glides over a fade, as a track's does. */
	const float mute_target = c->muted ? 0.0f : 1.0f;
	const float mute_step =
	    e->cfg.fade_frames ? 1.0f / (float)e->cfg.fade_frames : 2.0f;
	/* The play position in half frames: a voice moves mul of them a frame
	 * (1: half speed, 2: as recorded, 4: double speed). */
	const int64_t mul = v->speed_mul ? v->speed_mul : 2, L2 = 2 * L;
	int64_t h = pos_mod((f0 - v->launch) * mul, L2);
	for (uint32_t i = 0; i < n; i++, h = h + mul >= L2 ? h + mul - L2 : h + mul) {
		int64_t f = f0 + (int64_t)i;
		if (v->mute_gain != mute_target) {
			float mg = v->mute_gain < mute_target ? v->mute_gain + mute_step
							      : v->mute_gain - mute_step;
			v->mute_gain = mg < 0 ? 0 : mg > 1 ? 1 : mg;
		}
		float g = v->mute_gain;
		if (v->stop_at != GL_NEVER && f >= v->stop_at) {
			int64_t d = f - v->stop_at;
			if (d >= fade) {
				v->slot = -1;
				v->last[0] = v->last[1] = 0;
				return;
			}
			g *= fade_gain(fade - d, fade);
		}
		/* Reversed: the loop is read from its end backwards. Half
		 * speed: every other frame is halfway between two positions,
		 * rp and rp + 1. */
		const int64_t base = h >> 1;
		const bool half = h & 1;
		const int64_t rp = !v->reverse ? base
				   : half      ? pos_mod(L - 2 - base, L)
					       : L - 1 - base;
		if (rp >= ready || (c->rec_writing && rp > f - ws)) {
			/* Not recorded yet (its input is still in flight): silent,
			 * and what comes after fades in. */
			v->fade_from = f + 1;
			v->last[0] = v->last[1] = 0;
			continue;
		}
		if (fade) {
			/* The lower of the seam's fade and the fade-in from a
			 * start off the seam: at a seam they are the same. */
			float seam = 1.0f;
			const int64_t cp = cyc < L ? rp % cyc : rp;
			if (cp < fade)
				seam = fade_gain(cp, fade);
			else if (cyc - cp < fade)
				seam = fade_gain(cyc - cp, fade);
			for (int k = 0; k < c->nseams; k++) {
				/* An insert's seam at x: between x - 1 and x. */
				int64_t d = rp - c->seams[k];
				float sg = d >= 0 && d < fade	 ? fade_gain(d, fade)
					   : d < 0 && -d <= fade ? fade_gain(-d, fade)
								 : 1.0f;
				seam = sg < seam ? sg : seam;
			}
			if (f - v->fade_from < fade) {
				float in = fade_gain(f - v->fade_from, fade);
				seam = in < seam ? in : seam;
			}
			g *= seam;
		}
		if (replacing)
			g *= 1.0f - mix_pass_gain(e, c, f + e->cfg.latency_frames);
		float l =
		    (half ? sample_mid(c, 0, rp, L, C) : sample_at(c, 0, rp, C)) * g;
		float r =
		    right
			? (half ? sample_mid(c, 1, rp, L, C) : sample_at(c, 1, rp, C)) * g
			: l;
		trk[2 * i] += l;
		trk[2 * i + 1] += r;
		v->last[0] = l;
		v->last[1] = r;
	}
}

static void write_recording(struct engine *e, struct clip *c,
			    const struct track_input *ti, const float *in, int64_t f0,
			    uint32_t n)
{
	const int64_t C = e->chunk_frames, ich = e->cfg.input_channels;
	const int64_t ws = c->rec_start + e->cfg.latency_frames;
	const int64_t we = c->length > 0 ? ws + c->length : GL_NEVER;
	int64_t a = f0 > ws ? f0 : ws, b = f0 + (int64_t)n < we ? f0 + (int64_t)n : we;
	const int64_t capacity = (int64_t)c->nchunks * C;
	for (int64_t t = a; t < b;) {
		int64_t pos = t - ws;
		if (pos >= capacity) {
			c->rec_short = true; /* memory did not arrive in time */
			return;
		}
		int64_t run = C - pos % C;
		if (run > b - t)
			run = b - t;
		if (run > capacity - pos)
			run = capacity - pos;
		const float *src = in + (t - f0) * ich + ti->first_channel;
		for (int ch = 0; ch < c->channels; ch++) {
			float *dst = c->table[ch][pos / C] + pos % C;
			for (int64_t i = 0; i < run; i++)
				dst[i] = src[i * ich + ch];
		}
		t += run;
		if (pos + run > c->written)
			c->written = pos + run;
	}
}

static void write_overdub(struct engine *e, struct clip *c, const struct track_input *ti,
			  const float *in, int64_t f0, uint32_t n)
{
	const int64_t C = e->chunk_frames, ich = e->cfg.input_channels, L = c->length;
	const bool sum = c->od_mode == PASS_OVERDUB;
	int64_t a = f0 > c->od_in_start ? f0 : c->od_in_start;
	int64_t b = f0 + (int64_t)n < c->od_in_end ? f0 + (int64_t)n : c->od_in_end;
	for (int64_t t = a; t < b; t++) {
		/* The pass keeps the direction and phase it started with. */
		int64_t pos = pos_mod(t - e->cfg.latency_frames - c->od_launch, L);
		if (c->od_reverse)
			pos = L - 1 - pos;
		float g = mix_pass_gain(e, c, t);
		if (c->od_covered == 0)
			c->rg_start = pos;
		bool save = c->undo_ready && c->od_covered < L;
		const float *src = in + (t - f0) * ich + ti->first_channel;
		for (int ch = 0; ch < c->channels; ch++) {
			float *dst = c->table[ch][pos / C] + pos % C;
			if (save)
				c->undo[ch][pos / C][pos % C] = *dst;
			if (sum)
				*dst += src[ch] * g;
			else if (g == 1.0f) /* replace, substitute: exactly the input */
				*dst = src[ch];
			else
				*dst = *dst * (1.0f - g) + src[ch] * g;
		}
		c->od_covered++;
	}
}

/* A multiply's or insert's input, into T' (clip.c, "rebuilds"): input
 * frame t is at T' position h + (t - latency - S); a multiply sums it
 * into A's copy there (faded in at the pass's start, as an overdub), an
 * insert writes it as it came. Beyond the memory T' has, nothing is
 * written: the pass ends where it fits (rb_failed). */
void mix_rebuild_input(struct engine *e, struct clip *c, const struct track_input *ti,
		       const float *in, int64_t f0, uint32_t n)
{
	const int64_t C = e->chunk_frames, ich = e->cfg.input_channels;
	const int64_t lat = e->cfg.latency_frames, fade = e->cfg.fade_frames;
	const int64_t in0 = c->rb_start + lat;
	int64_t a = f0 > in0 ? f0 : in0, b = f0 + (int64_t)n;
	if (c->rb_end != GL_NEVER && b > c->rb_end + lat)
		b = c->rb_end + lat;
	const int64_t cap = (int64_t)c->rb_cap * C, LA = c->rb_len_a;
	const bool sum = c->rb_mode == RB_MULTIPLY;
	for (int64_t t = a; t < b; t++) {
		int64_t pos = c->rb_h + (t - in0);
		if (pos >= cap) {
			c->rb_failed = true;
			return;
		}
		const float *src = in + (t - f0) * ich + ti->first_channel;
		float g = fade && t - in0 < fade ? fade_gain(t - in0 + 1, fade) : 1.0f;
		for (int ch = 0; ch < c->channels; ch++) {
			float *dst = c->rb_dst[ch][pos / C] + pos % C;
			if (sum) {
				int64_t q = pos % LA;
				*dst = c->rb_src[ch][q / C][q % C] + src[ch] * g;
			} else {
				*dst = src[ch];
			}
		}
		c->rb_w = pos + 1;
	}
}

static void add_input(const struct engine *e, const struct track_input *ti,
		      const float *in, float *trk, uint32_t n)
{
	const uint32_t ich = e->cfg.input_channels;
	for (uint32_t i = 0; i < n; i++) {
		float l = in[i * ich + ti->first_channel];
		float r = ti->stereo ? in[i * ich + ti->first_channel + 1] : l;
		trk[2 * i] += l;
		trk[2 * i + 1] += r;
	}
}

/* Gains move linearly to their target within one fade, so volume, mute and
 * master changes do not click either. */
static float gain_step(const struct engine *e)
{
	return e->cfg.fade_frames ? 1.0f / (float)e->cfg.fade_frames : 2.0f;
}

static float glide(float cur, float target, float step)
{
	if (cur < target)
		return cur + step < target ? cur + step : target;
	return cur - step > target ? cur - step : target;
}

void mix_click_start(struct engine *e, bool downbeat)
{
	e->click_left = e->cfg.rate / 40; /* 25 ms */
	e->click_phase = 0;
	e->click_step =
	    2.0f * (float)M_PI * (downbeat ? 1760.0f : 880.0f) / (float)e->cfg.rate;
}

/* Into the mix (stride 2, both channels), or its own output (stride 1). */
static void render_click(struct engine *e, float *out, int stride, uint32_t n)
{
	const float len = (float)(e->cfg.rate / 40);
	const float gain = 0.3f * e->cfg.click_volume;
	for (uint32_t i = 0; i < n && e->click_left; i++, e->click_left--) {
		float s = gain * sinf(e->click_phase) * ((float)e->click_left / len);
		e->click_phase += e->click_step;
		out[stride * i] += s;
		if (stride == 2)
			out[2 * i + 1] += s;
	}
}

/* Overdub input of this piece, [*done, upto), summed into the track's
 * overdubbing clips. */
static void overdub_until(struct engine *e, int t, const float *in, int64_t f0,
			  int64_t *done, int64_t upto)
{
	if (upto <= *done)
		return;
	const struct track_input *ti = &e->cfg.track_input[t];
	for (int s = 0; s < GL_SCENES; s++) {
		struct clip *c = &e->clips[slot_of(t, s)];
		if (c->od_writing)
			write_overdub(e, c, ti, in + (*done - f0) * e->cfg.input_channels,
				      *done, (uint32_t)(upto - *done));
	}
	*done = upto;
}

/* The track's voices over the piece, with its overdub input summed in as
 * the frames it belongs to have been rendered (see the top of this file):
 * in blocks no longer than the shortest loop being overdubbed, so within a
 * block no input can belong to a later pass over one of its frames. */
static void render_track(struct engine *e, int t, const float *in, float *trk, int64_t f0,
			 uint32_t n)
{
	struct track *tr = &e->tracks[t];
	const int64_t lat = e->cfg.latency_frames, end = f0 + (int64_t)n;
	int64_t block = n;
	for (int s = 0; s < GL_SCENES; s++) {
		const struct clip *c = &e->clips[slot_of(t, s)];
		if (c->od_writing && c->length > 0 && c->length < block)
			block = c->length;
	}
	int64_t done = f0; /* overdub input summed in so far */
	overdub_until(e, t, in, f0, &done, f0 + lat < end ? f0 + lat : end);
	for (int64_t g = f0; g < end; g += block) {
		uint32_t k = (uint32_t)(end - g < block ? end - g : block);
		if (tr->main.slot >= 0)
			render_voice(e, &tr->main, trk + 2 * (g - f0), g, k);
		if (tr->fading.slot >= 0)
			render_voice(e, &tr->fading, trk + 2 * (g - f0), g, k);
		int64_t upto = g + k + lat;
		overdub_until(e, t, in, f0, &done, upto < end ? upto : end);
	}
}

void mix_segment(struct engine *e, const float *in, float *out, int64_t f0, uint32_t n)
{
	const float step = gain_step(e);
	for (int t = 0; t < GL_TRACKS; t++) {
		struct track *tr = &e->tracks[t];
		const struct track_input *ti = &e->cfg.track_input[t];
		/* Takes first: a take records whatever the voices do, and a
		 * voice reads only what is recorded. */
		for (int s = 0; s < GL_SCENES; s++) {
			struct clip *c = &e->clips[slot_of(t, s)];
			if (c->rec_writing && !c->rec_short)
				write_recording(e, c, ti, in, f0, n);
			if (c->rb_pass && !c->rb_failed)
				mix_rebuild_input(e, c, ti, in, f0, n);
		}
		bool busy = tr->main.slot >= 0 || tr->fading.slot >= 0 || tr->monitor ||
			    tr->declick_left;
		float target = tr->mute ? 0.0f : tr->gain_target;
		float *trk = e->scratch;
		if (!busy) {
			render_track(e, t, in, trk, f0, n); /* no voices: the overdubs */
			tr->gain = target;
			continue;
		}
		memset(trk, 0, (size_t)n * GL_OUT_CH * sizeof(float));
		render_track(e, t, in, trk, f0, n);
		if (tr->monitor)
			add_input(e, ti, in, trk, n);
		for (uint32_t i = 0; i < n && tr->declick_left; i++, tr->declick_left--) {
			float k = (float)tr->declick_left / (float)e->cfg.fade_frames;
			trk[2 * i] += tr->declick[0] * k;
			trk[2 * i + 1] += tr->declick[1] * k;
		}
		float *stem =
		    e->stems ? e->stems + (f0 - e->now) * GL_STEM_CH + 2 * t : NULL;
		for (uint32_t i = 0; i < n; i++) {
			tr->gain = glide(tr->gain, target, step);
			float l = trk[2 * i] * tr->gain, r = trk[2 * i + 1] * tr->gain;
			out[2 * i] += l;
			out[2 * i + 1] += r;
			if (stem) {
				stem[i * GL_STEM_CH] = l;
				stem[i * GL_STEM_CH + 1] = r;
			}
		}
	}
	if (e->click_left) {
		if (e->click_out)
			render_click(e, e->click_out + (f0 - e->now), 1, n);
		else
			render_click(e, out, 2, n);
	}
	for (uint32_t i = 0; i < n; i++) {
		e->master = glide(e->master, e->master_target, step);
		out[2 * i] *= e->master;
		out[2 * i + 1] *= e->master;
	}
}
