/* transport.c -- tempo, meter and the beat grid (see transport.h). */
#include "transport.h"

#include <math.h>

/* Into TEMPO_MIN..TEMPO_MAX; NaN (which no comparison catches) too. */
static double clamp_bpm(double bpm)
{
	if (!(bpm >= TEMPO_MIN))
		return TEMPO_MIN;
	return bpm > TEMPO_MAX ? TEMPO_MAX : bpm;
}

void transport_init(struct transport *t, uint32_t rate, double bpm,
		    uint32_t beats_per_bar)
{
	*t = (struct transport){.rate = rate,
				.beats_per_bar = beats_per_bar ? beats_per_bar : 4};
	if (bpm > 0)
		transport_set_tempo(t, bpm, 0);
}

int64_t transport_beat_frame(const struct transport *t, int64_t beat)
{
	return t->origin + llround((double)(beat - t->origin_beat) * t->frames_per_beat);
}

int64_t transport_beat_at(const struct transport *t, int64_t f)
{
	int64_t k =
	    t->origin_beat + (int64_t)floor((double)(f - t->origin) / t->frames_per_beat);
	/* floor() of the quotient and llround() of the product can disagree by
	 * one at a boundary: settle it against the boundary function itself. */
	while (transport_beat_frame(t, k) > f)
		k--;
	while (transport_beat_frame(t, k + 1) <= f)
		k++;
	return k;
}

int64_t transport_next_beat(const struct transport *t, int64_t f)
{
	if (!t->has_tempo)
		return INT64_MAX;
	int64_t k = transport_beat_at(t, f);
	int64_t b = transport_beat_frame(t, k);
	return b == f ? f : transport_beat_frame(t, k + 1);
}

static int64_t floor_div(int64_t a, int64_t b)
{
	int64_t q = a / b;
	return (a % b != 0 && (a < 0) != (b < 0)) ? q - 1 : q;
}

int64_t transport_next_bar(const struct transport *t, int64_t f)
{
	if (!t->has_tempo)
		return INT64_MAX;
	int64_t bpb = t->beats_per_bar;
	int64_t k = transport_beat_at(t, f);
	int64_t bar_beat = floor_div(k, bpb) * bpb;
	if (bar_beat == k && transport_beat_frame(t, k) == f)
		return f;
	return transport_beat_frame(t, bar_beat + bpb);
}

double transport_bar_frames(const struct transport *t)
{
	return t->frames_per_beat * t->beats_per_bar;
}

void transport_set_tempo(struct transport *t, double bpm, int64_t f)
{
	bpm = clamp_bpm(bpm);
	if (t->has_tempo) {
		/* Keep the beat count: the current beat's start becomes the anchor. */
		int64_t k = transport_beat_at(t, f);
		t->origin = transport_beat_frame(t, k);
		t->origin_beat = k;
	} else {
		t->origin = f;
		t->origin_beat = 0;
		t->has_tempo = true;
	}
	t->bpm = bpm;
	t->frames_per_beat = 60.0 * t->rate / bpm;
}

void transport_set_meter(struct transport *t, uint32_t beats_per_bar, int64_t f)
{
	if (beats_per_bar < GL_BEATS_MIN || beats_per_bar > GL_BEATS_MAX)
		return;
	if (t->has_tempo) {
		/* Restart the bar count at the current beat so that bar lines stay
		 * on beats and the next bar starts where the musician expects. */
		int64_t k = transport_beat_at(t, f);
		t->origin = transport_beat_frame(t, k);
		t->origin_beat = 0;
	}
	t->beats_per_bar = beats_per_bar;
}

void transport_fit(struct transport *t, int64_t start, int64_t frames, int64_t bars)
{
	t->has_tempo = true;
	t->frames_per_beat = (double)frames / ((double)bars * t->beats_per_bar);
	/* One rounding (the product is an exact integer), so a loop of exactly
	 * GL_FIRST_LOOP_MIN_FRAMES gives GL_TEMPO_MAX, not one ulp above; the
	 * clamp is for callers that did not check (the grid keeps the loop). */
	t->bpm =
	    clamp_bpm(60.0 * t->rate * (double)bars * t->beats_per_bar / (double)frames);
	t->origin = start;
	t->origin_beat = 0;
}

void transport_align(struct transport *t, double bpm, int64_t f)
{
	int64_t bar_beat = 0;
	if (t->has_tempo) {
		/* The next bar number of the old grid (its own, when f is
		 * exactly its line), so bar numbers never repeat or go back. */
		int64_t bpb = t->beats_per_bar;
		int64_t k = transport_beat_at(t, f);
		if (k % bpb == 0 && transport_beat_frame(t, k) == f)
			bar_beat = k;
		else
			bar_beat = (floor_div(k, bpb) + 1) * bpb;
	}
	t->bpm = clamp_bpm(bpm);
	t->frames_per_beat = 60.0 * t->rate / t->bpm;
	t->has_tempo = true;
	t->origin = f;
	t->origin_beat = bar_beat;
}

int64_t transport_bar_move(const struct transport *t, int64_t f)
{
	if (!t->has_tempo)
		return 0;
	int64_t bpb = t->beats_per_bar;
	int64_t bar_beat = floor_div(transport_beat_at(t, f), bpb) * bpb;
	int64_t before = transport_beat_frame(t, bar_beat);
	int64_t after = transport_beat_frame(t, bar_beat + bpb);
	return f - before <= after - f ? f - before : f - after;
}

bool transport_tap(struct transport *t, int64_t f)
{
	/* Taps more than 2 s apart start a new measurement. */
	if (t->ntaps > 0 && f - t->taps[t->ntaps - 1] > 2 * (int64_t)t->rate)
		t->ntaps = 0;
	if (t->ntaps == 4) {
		for (int i = 0; i < 3; i++)
			t->taps[i] = t->taps[i + 1];
		t->ntaps = 3;
	}
	t->taps[t->ntaps++] = f;
	if (t->ntaps < 2)
		return false;
	double interval = (double)(t->taps[t->ntaps - 1] - t->taps[0]) / (t->ntaps - 1);
	if (interval <= 0)
		return false;
	double bpm = clamp_bpm(60.0 * t->rate / interval);
	/* The last tap is a beat: the musician tapped on it. With a tempo
	 * already running, it is the nearest beat of the old grid, so the bar
	 * count carries on. */
	int64_t k = 0;
	if (t->has_tempo) {
		k = transport_beat_at(t, f);
		if ((double)(f - transport_beat_frame(t, k)) > t->frames_per_beat / 2)
			k++;
	}
	t->bpm = bpm;
	t->frames_per_beat = 60.0 * t->rate / bpm;
	t->has_tempo = true;
	t->origin_beat = k;
	t->origin = f;
	return true;
}
