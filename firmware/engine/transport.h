/* transport.h -- tempo, meter and the beat grid, in whole frames.
 *
 * Beat k starts at frame origin + llround((k - origin_beat) * frames_per_beat):
 * computed from the beat index, never accumulated, so boundaries stay exact
 * over hours. A tempo change re-anchors the grid at the last beat boundary.
 * Pure arithmetic: used by the engine on the real-time thread.
 */
#ifndef GRIDLOOP_TRANSPORT_H
#define GRIDLOOP_TRANSPORT_H

#include <stdbool.h>
#include <stdint.h>

#include "gl_limits.h"

#define TEMPO_MIN GL_TEMPO_MIN
#define TEMPO_MAX GL_TEMPO_MAX

struct transport {
	uint32_t rate;
	bool has_tempo;
	double bpm;
	double frames_per_beat;
	uint32_t beats_per_bar;
	int64_t origin;	     /* frame of beat origin_beat */
	int64_t origin_beat; /* beat 0 is the first beat of bar 0 */
	/* tap tempo */
	int64_t taps[4];
	int ntaps;
};

void transport_init(struct transport *t, uint32_t rate, double bpm,
		    uint32_t beats_per_bar);

/* Frame at which beat k starts. */
int64_t transport_beat_frame(const struct transport *t, int64_t beat);
/* Index of the beat that contains frame f (the last boundary <= f). */
int64_t transport_beat_at(const struct transport *t, int64_t f);
/* First beat (or bar) boundary at or after f. GL_NEVER-like INT64_MAX without tempo. */
int64_t transport_next_beat(const struct transport *t, int64_t f);
int64_t transport_next_bar(const struct transport *t, int64_t f);
double transport_bar_frames(const struct transport *t);

/* Sets the tempo from frame f on (clamped to TEMPO_MIN..TEMPO_MAX). Without a
 * tempo so far, beat 0 starts at f. */
void transport_set_tempo(struct transport *t, double bpm, int64_t f);
void transport_set_meter(struct transport *t, uint32_t beats_per_bar, int64_t f);
/* Anchors a tempo so that `bars` bars last exactly `frames` frames, with bar 0
 * starting at frame `start` (the first loop sets the tempo this way). The
 * caller picks bars so that the tempo is in range (the BPM reported is
 * clamped to it regardless). */
void transport_fit(struct transport *t, int64_t start, int64_t frames, int64_t bars);
/* A bar line at frame f, and bpm (clamped) from it: an outside grid
 * (Ableton Link). The bar count goes on from the old grid's next bar;
 * without a tempo so far, bar 0 starts at f. */
void transport_align(struct transport *t, double bpm, int64_t f);
/* How far a bar line put at f (transport_align) moves the grid: f less the
 * old grid's bar line nearest to f (the earlier one of two as near), so
 * -bar/2 <= move <= bar/2; 0 without a tempo or with a bar line at f. */
int64_t transport_bar_move(const struct transport *t, int64_t f);
/* Tap at frame f; returns true when the tempo changed. */
bool transport_tap(struct transport *t, int64_t f);

#endif
