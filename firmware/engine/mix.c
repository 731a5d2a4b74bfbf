/* mix.c -- rendering one piece of a period: clips playing, input monitoring,
 * the metronome, and input written into recording and overdubbing clips.
 *
 * Stored audio is never faded: fades (loop seams, launches, stops) are gains
 * applied on playback, so a recording stays equal to its input bit for bit
 * and undo restores exactly what was there. Real-time thread only.
 */
#include "engine_internal.h"

#include <math.h>
#include <string.h>

static float fade_gain(int64_t d, int64_t fade)
{
	return (float)d / (float)fade;
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
	int64_t fade = e->cfg.fade_frames;
	if (fade > L / 2)
		fade = L / 2;
	const int right = c->channels > 1;
	int64_t pos = pos_mod(f0 - v->launch, L);
	for (uint32_t i = 0; i < n; i++) {
		int64_t f = f0 + (int64_t)i;
		float g = 1.0f;
		if (v->stop_at != GL_NEVER && f >= v->stop_at) {
			int64_t d = f - v->stop_at;
			if (d >= fade) {
				v->slot = -1;
				v->last[0] = v->last[1] = 0;
				return;
			}
			g = fade_gain(fade - d, fade);
		}
		if (fade) {
			if (pos < fade)
				g *= fade_gain(pos, fade);
			else if (L - pos < fade)
				g *= fade_gain(L - pos, fade);
		}
		float l = c->table[0][pos / C][pos % C] * g;
		float r = right ? c->table[1][pos / C][pos % C] * g : l;
		trk[2 * i] += l;
		trk[2 * i + 1] += r;
		v->last[0] = l;
		v->last[1] = r;
		if (++pos == L)
			pos = 0;
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
	const int64_t fade = e->cfg.fade_frames;
	int64_t a = f0 > c->od_in_start ? f0 : c->od_in_start;
	int64_t b = f0 + (int64_t)n < c->od_in_end ? f0 + (int64_t)n : c->od_in_end;
	for (int64_t t = a; t < b; t++) {
		int64_t pos = pos_mod(t - e->cfg.latency_frames - c->launch, L);
		float g = 1.0f;
		if (fade) {
			if (t - c->od_in_start < fade)
				g = fade_gain(t - c->od_in_start + 1, fade);
			if (c->od_in_end - t <= fade)
				g = fade_gain(c->od_in_end - t - 1, fade);
		}
		if (c->od_covered == 0)
			c->rg_start = pos;
		bool save = c->undo_ready && c->od_covered < L;
		const float *src = in + (t - f0) * ich + ti->first_channel;
		for (int ch = 0; ch < c->channels; ch++) {
			float *dst = c->table[ch][pos / C] + pos % C;
			if (save)
				c->undo[ch][pos / C][pos % C] = *dst;
			*dst += src[ch] * g;
		}
		c->od_covered++;
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

static void render_click(struct engine *e, float *out, uint32_t n)
{
	const float len = (float)(e->cfg.rate / 40);
	for (uint32_t i = 0; i < n && e->click_left; i++, e->click_left--) {
		float s = 0.3f * sinf(e->click_phase) * ((float)e->click_left / len);
		e->click_phase += e->click_step;
		out[2 * i] += s;
		out[2 * i + 1] += s;
	}
}

void mix_segment(struct engine *e, const float *in, float *out, int64_t f0, uint32_t n)
{
	const float step = gain_step(e);
	for (int t = 0; t < GL_TRACKS; t++) {
		struct track *tr = &e->tracks[t];
		const struct track_input *ti = &e->cfg.track_input[t];
		/* Writers first: a clip records whatever the voices do. */
		for (int s = 0; s < GL_SCENES; s++) {
			struct clip *c = &e->clips[slot_of(t, s)];
			if (c->rec_writing && !c->rec_short)
				write_recording(e, c, ti, in, f0, n);
			if (c->od_writing)
				write_overdub(e, c, ti, in, f0, n);
		}
		bool busy = tr->main.slot >= 0 || tr->fading.slot >= 0 || tr->monitor ||
			    tr->declick_left;
		float target = tr->mute ? 0.0f : tr->gain_target;
		if (!busy) {
			tr->gain = target;
			continue;
		}
		float *trk = e->scratch;
		memset(trk, 0, (size_t)n * GL_OUT_CH * sizeof(float));
		if (tr->main.slot >= 0)
			render_voice(e, &tr->main, trk, f0, n);
		if (tr->fading.slot >= 0)
			render_voice(e, &tr->fading, trk, f0, n);
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
	if (e->click_left)
		render_click(e, out, n);
	for (uint32_t i = 0; i < n; i++) {
		e->master = glide(e->master, e->master_target, step);
		out[2 * i] *= e->master;
		out[2 * i + 1] *= e->master;
	}
}
