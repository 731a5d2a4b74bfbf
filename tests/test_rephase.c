/* test_rephase.c -- loops following a grid moved under them (CMD_SYNC_GRID,
 * Ableton Link; clip.c "following the grid"), against a model written from
 * that contract: seeded random presses (recordings, launches, stops) and
 * aligns (moves either way, far bigger than a loop, tempo changes over the
 * whole range) on eight tracks. Every frame of every track's stem away from
 * a fade must be the take's sample at the position the model says (so
 * after each align every playing loop is where the model put it against
 * the bar lines); no step between two frames of a stem may be larger than
 * a crossfade's (no click); every take is its input frame for frame; the
 * engine's grid and clip states are the model's; one-shots and triggers
 * too (a one-shot's end goes with its loop). Scripted cases through
 * the same bench: small corrections add up before one move, a move smaller
 * than the bound is never made, a take follows the moves made while it
 * was recorded, a queued launch moves with the grid; and an overdub keeps
 * its phase (and its input where it was played) until its pass ends.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdbool.h>
#include <stdint.h>

#include <cmocka.h>
#include <math.h>
#include <stdio.h>

#include "engine_rig.h"
#include "transport.h"

#define RATE   48000
#define TRACKS 8
#define NEAR   (RATE * GL_REPHASE_MS / 1000) /* the bound, in frames */
#define AMP    0.5			     /* the input's peak */
#define TRI    3001			     /* the input's period */

/* The input: a triangle, smooth (a small step a frame) so that a jump of
 * the play position shows as a step far larger than any fade makes. */
static float tri(int64_t t)
{
	int64_t u = t % TRI, v = u < TRI / 2 ? u : TRI - u;
	return (float)((double)v / (TRI / 2) * 2 * AMP - AMP);
}

static float input(int64_t t, int c)
{
	return c == 0 ? tri(t) : 0.0f;
}

/* ---- the model ---------------------------------------------------------- */

enum { M_EMPTY, M_RECORDING, M_PLAYING, M_STOPPED };

struct mclip {
	int st, q; /* state, queued state (0: none) */
	int64_t q_at;
	int64_t rec_start, len;
	int64_t launch, shift;
	bool oneshot;	     /* the queued launch plays once */
	int64_t oneshot_end; /* the stop a one-shot queued at its end */
	int64_t changed;     /* the last frame the track's sound changed (a fade) */
	bool checked;	     /* the take was read back */
};

struct mcmd {
	int64_t frame;
	int type; /* CMD_PRESS, CMD_ONESHOT, CMD_TRIGGER or CMD_SYNC_GRID */
	int track;
	float bpm;
};

struct model {
	/* The grid: bar j (from the origin) at origin + llround(j * bpb * fpb). */
	int64_t origin;
	double fpb;
	int bpb;
	struct mclip c[TRACKS];
	struct mcmd cmd[256];
	int ncmd;
	uint32_t latency, fade;
	int64_t moves, rephases, aligns, takes; /* counted, for the test's own checks */
	int64_t biggest_move, refused, oneshots, oneshot_moves;
	int64_t beyond; /* moves longer than a loop playing */
};

static int64_t m_bar(const struct model *m, int64_t j)
{
	return m->origin + llround((double)(j * m->bpb) * m->fpb);
}

/* The index of the last bar line <= f. */
static int64_t m_bar_index(const struct model *m, int64_t f)
{
	int64_t j = (int64_t)floor((double)(f - m->origin) / (m->bpb * m->fpb));
	while (m_bar(m, j) > f)
		j--;
	while (m_bar(m, j + 1) <= f)
		j++;
	return j;
}

static int64_t m_next_bar(const struct model *m, int64_t f)
{
	int64_t j = m_bar_index(m, f);
	return m_bar(m, j) == f ? f : m_bar(m, j + 1);
}

static bool trace;

static int64_t fold(int64_t x, int64_t L)
{
	int64_t r = ((x % L) + L) % L;
	return r > L / 2 ? r - L : r;
}

/* A loop playing follows what it was kept, once more than NEAR off. */
static int64_t m_moved(int64_t at, int64_t d, int64_t f)
{
	if (at <= f)
		return at;
	return at + d > f ? at + d : f;
}

static bool m_oneshot_ending(const struct mclip *c)
{
	return c->q == M_STOPPED && c->q_at == c->oneshot_end;
}

static void m_rephase(struct model *m, int t, int64_t f)
{
	struct mclip *c = &m->c[t];
	if (c->shift == 0 || c->st != M_PLAYING)
		return;
	int64_t d = fold(c->shift, c->len);
	if (llabs(d) <= NEAR) {
		c->shift = d;
		return;
	}
	c->shift = 0;
	c->launch += d;
	c->changed = f;
	m->rephases++;
	/* A one-shot still ends where its loop does. */
	if (m_oneshot_ending(c)) {
		c->q_at = c->oneshot_end = m_moved(c->q_at, d, f);
		m->oneshot_moves++;
	}
	if (trace)
		fprintf(stderr, "%lld: track %d moves %lld, launch %lld\n", (long long)f,
			t, (long long)d, (long long)c->launch);
}

static void m_align(struct model *m, int64_t f, float bpm)
{
	if (!(bpm >= GL_TEMPO_MIN && bpm <= GL_TEMPO_MAX)) {
		m->refused++; /* out of range: the engine refuses it, nothing moves */
		return;
	}
	int64_t j = m_bar_index(m, f), b0 = m_bar(m, j), b1 = m_bar(m, j + 1);
	int64_t d = f - b0 <= b1 - f ? f - b0 : f - b1;
	m->origin = f;
	m->fpb = 60.0 * RATE / (double)bpm;
	m->aligns++;
	if (trace)
		fprintf(stderr, "%lld: align %g, move %lld\n", (long long)f, bpm,
			(long long)d);
	if (d == 0)
		return;
	m->moves++;
	if (llabs(d) > m->biggest_move)
		m->biggest_move = llabs(d);
	for (int t = 0; t < TRACKS; t++) {
		struct mclip *c = &m->c[t];
		if (c->q && c->st != M_RECORDING && !m_oneshot_ending(c))
			c->q_at = m_moved(c->q_at, d, f);
		if (c->st == M_PLAYING || c->st == M_RECORDING) {
			if (c->st == M_PLAYING && llabs(d) > c->len)
				m->beyond++;
			c->shift += d;
			m_rephase(m, t, f);
		}
	}
}

static void m_queue(struct model *m, struct mclip *c, int q, int64_t f)
{
	c->q = q;
	c->q_at = m_next_bar(m, f);
	c->oneshot = false;
}

/* Trigger and one-shot: from the top at the next bar, a final take only. */
static void m_from_top(struct model *m, int t, bool once, int64_t f)
{
	struct mclip *c = &m->c[t];
	if (c->st != M_PLAYING && c->st != M_STOPPED)
		return;
	m_queue(m, c, M_PLAYING, f);
	c->oneshot = once;
}

static void m_press(struct model *m, int t, int64_t f)
{
	struct mclip *c = &m->c[t];
	switch (c->st) {
	case M_EMPTY:
		if (c->q)
			c->q = 0;
		else
			m_queue(m, c, M_RECORDING, f);
		break;
	case M_RECORDING:
		if (!c->q) {
			/* Whole bars from its start: the first such line >= f. */
			double bar = m->fpb * m->bpb;
			int64_t k = (int64_t)ceil((double)(f - c->rec_start) / bar);
			while (k > 1 &&
			       c->rec_start + llround((double)(k - 1) * bar) >= f)
				k--;
			while (c->rec_start + llround((double)k * bar) < f)
				k++;
			if (k < 1)
				k = 1;
			c->len = llround((double)k * bar);
			c->q = M_PLAYING;
			c->q_at = c->rec_start + c->len;
		}
		break;
	case M_PLAYING:
	case M_STOPPED:
		if (c->q)
			c->q = 0;
		else
			m_queue(m, c, c->st == M_PLAYING ? M_STOPPED : M_PLAYING, f);
		break;
	}
}

static void m_due(struct model *m, int t, int64_t f)
{
	struct mclip *c = &m->c[t];
	if (!c->q || c->q_at > f)
		return;
	int q = c->q;
	int64_t at = c->q_at;
	if (trace)
		fprintf(stderr, "%lld: track %d becomes %d (at %lld)\n", (long long)f, t,
			q, (long long)at);
	c->q = 0;
	c->changed = f;
	if (q == M_RECORDING) {
		c->st = M_RECORDING;
		c->rec_start = at;
		c->shift = 0;
	} else if (q == M_PLAYING) {
		bool take = c->st == M_RECORDING;
		c->st = M_PLAYING;
		c->launch = at;
		if (c->oneshot) { /* once through, then a stop at its end */
			c->oneshot = false;
			c->q = M_STOPPED;
			c->q_at = c->oneshot_end = at + c->len;
			m->oneshots++;
		}
		if (take) {
			m->takes++;
			m_rephase(m, t, f);
		} else {
			c->shift = 0;
		}
	} else {
		c->st = M_STOPPED;
	}
}

static int m_public(const struct mclip *c)
{
	if (c->q == M_RECORDING)
		return CLIP_RECORD_QUEUED;
	if (c->q == M_PLAYING)
		return CLIP_PLAY_QUEUED;
	if (c->q == M_STOPPED)
		return CLIP_STOP_QUEUED;
	return c->st == M_EMPTY	      ? CLIP_EMPTY
	       : c->st == M_RECORDING ? CLIP_RECORDING
	       : c->st == M_PLAYING   ? CLIP_PLAYING
				      : CLIP_STOPPED;
}

/* transport_bar_move against a search of the bar lines near f. */
static void test_bar_move(void **state)
{
	(void)state;
	struct transport t;
	transport_init(&t, RATE, 0, 4);
	assert_int_equal(transport_bar_move(&t, 12345), 0); /* no grid: no move */
	transport_init(&t, RATE, 120, 4);
	assert_int_equal(transport_bar_move(&t, 0), 0);
	assert_int_equal(transport_bar_move(&t, 96000), 0);
	assert_int_equal(transport_bar_move(&t, 100), 100);
	assert_int_equal(transport_bar_move(&t, 95900), -100);
	assert_int_equal(transport_bar_move(&t, 48000), 48000); /* a tie: later */
	assert_int_equal(transport_bar_move(&t, 48001), -47999);
	assert_int_equal(transport_bar_move(&t, -100), -100);
	uint32_t seed = 99;
	for (int i = 0; i < 20000; i++) {
		seed = seed * 1103515245u + 12345u;
		if (i % 50 == 0) { /* a new grid now and then, any tempo and meter */
			double bpm = GL_TEMPO_MIN + (seed >> 8) % 27001 / 100.0;
			t.beats_per_bar = 1 + (seed >> 4) % 16;
			transport_align(&t, bpm, (int64_t)((seed >> 6) % 10000000));
		}
		int64_t f = t.origin - 2000000 + (int64_t)((seed >> 3) % 6000000);
		int64_t best = INT64_MAX, bpb = t.beats_per_bar;
		int64_t k0 = t.origin_beat +
			     (int64_t)floor((double)(f - t.origin) / t.frames_per_beat);
		for (int64_t k = k0 - 2 * bpb; k <= k0 + 2 * bpb; k++) {
			if (((k % bpb) + bpb) % bpb)
				continue;
			int64_t d = f - transport_beat_frame(&t, k);
			if (llabs(d) < llabs(best) ||
			    (llabs(d) == llabs(best) && d > best))
				best = d;
		}
		assert_int_equal(transport_bar_move(&t, f), best);
	}
}

/* ---- the bench ---------------------------------------------------------- */

struct bench {
	struct rig *r;
	struct model m;
	float *stems;
	float last[TRACKS];
	int64_t checked, steps; /* frames compared exactly; steps compared */
	double worst_step, bound;
};

static void bench_init(struct bench *b, uint32_t period, uint32_t fade, uint32_t latency,
		       uint32_t bpb, double bpm)
{
	memset(b, 0, sizeof(*b));
	struct engine_config cfg;
	engine_config_defaults(&cfg, RATE);
	cfg.max_period = period;
	cfg.fade_frames = fade;
	cfg.latency_frames = latency;
	cfg.tempo = bpm;
	cfg.beats_per_bar = bpb;
	cfg.grow_frames = period * 4 > 4096 ? period * 4 : 4096;
	b->r = rig_new_with(&cfg, NULL, period);
	assert_non_null(b->r);
	b->r->input = input;
	b->r->discard_output = true;
	b->stems = calloc((size_t)period * GL_STEM_CH, sizeof(float));
	engine_set_stems(b->r->e, b->stems);
	b->m.origin = 0;
	b->m.fpb = 60.0 * RATE / bpm;
	b->m.bpb = (int)bpb;
	b->m.latency = latency;
	b->m.fade = fade;
	for (int t = 0; t < TRACKS; t++)
		b->m.c[t].changed = -1000000;
	/* A crossfade (both voices' ramps), a seam's fade on top, a cut
	 * voice's ramp: a step of 4 peaks a fade at most, plus the input's. */
	b->bound = 4.0 * AMP / fade + 2.0 * (2.0 * AMP / (TRI / 2)) + 1e-6;
}

static void bench_free(struct bench *b)
{
	rig_free(b->r);
	free(b->stems);
}

/* A command for the engine and the model, at frame f (>= now). */
static void bench_send(struct bench *b, int type, int track, float bpm, int64_t f)
{
	assert_true(f >= engine_now(b->r->e));
	rig_cmd(b->r, (enum command_type)type, track, 0, type == CMD_SYNC_GRID ? bpm : 0,
		f);
	struct model *m = &b->m;
	assert_true(m->ncmd < (int)(sizeof(m->cmd) / sizeof(m->cmd[0])));
	int i = m->ncmd++;
	while (i > 0 && m->cmd[i - 1].frame > f) {
		m->cmd[i] = m->cmd[i - 1];
		i--;
	}
	m->cmd[i] = (struct mcmd){.frame = f, .type = type, .track = track, .bpm = bpm};
}

/* The model's frame f: its commands, its due changes, then the stems. */
static void bench_frame(struct bench *b, int64_t f, const float *stem)
{
	struct model *m = &b->m;
	int done = 0;
	while (done < m->ncmd && m->cmd[done].frame <= f) {
		const struct mcmd *c = &m->cmd[done++];
		if (c->type == CMD_SYNC_GRID) {
			m_align(m, f, c->bpm);
		} else if (c->type == CMD_ONESHOT || c->type == CMD_TRIGGER) {
			m_from_top(m, c->track, c->type == CMD_ONESHOT, f);
		} else {
			if (trace)
				fprintf(stderr, "%lld: press track %d\n", (long long)f,
					c->track);
			m_press(m, c->track, f);
		}
	}
	memmove(m->cmd, m->cmd + done, (size_t)(m->ncmd - done) * sizeof(m->cmd[0]));
	m->ncmd -= done;
	for (int t = 0; t < TRACKS; t++)
		m_due(m, t, f);
	for (int t = 0; t < TRACKS; t++) {
		const struct mclip *c = &m->c[t];
		float s = stem[2 * t];
		double step = fabs((double)s - b->last[t]);
		if (step > b->worst_step)
			b->worst_step = step;
		if (step > b->bound) {
			fprintf(stderr, "click: track %d frame %lld step %g (bound %g)\n",
				t, (long long)f, step, b->bound);
			fail();
		}
		b->steps++;
		b->last[t] = s;
		if (f - c->changed <= (int64_t)m->fade + 1)
			continue; /* a fade under way */
		float want = 0.0f;
		if (c->st == M_PLAYING) {
			int64_t p = ((f - c->launch) % c->len + c->len) % c->len;
			if (p < (int64_t)m->fade || p > c->len - (int64_t)m->fade)
				continue; /* the seam's fade */
			int64_t ws = c->rec_start + m->latency;
			if (p > f - ws)
				continue; /* the take's tail, not in yet: silent */
			want = tri(ws + p);
		}
		if (s != want) {
			fprintf(stderr,
				"track %d frame %lld: %g, the model says %g (state %d "
				"launch %lld len %lld)\n",
				t, (long long)f, s, want, c->st, (long long)c->launch,
				(long long)c->len);
			fail();
		}
		b->checked++;
	}
}

/* Takes whose input is all in: every frame is the input's. */
static void bench_check_takes(struct bench *b)
{
	int64_t now = engine_now(b->r->e);
	for (int t = 0; t < TRACKS; t++) {
		struct mclip *c = &b->m.c[t];
		if (c->checked || c->st == M_EMPTY || c->len == 0 ||
		    (c->st == M_RECORDING) ||
		    now < c->rec_start + c->len + b->m.latency + b->r->period)
			continue;
		assert_int_equal(engine_clip_length(b->r->e, t, 0), c->len);
		float *buf = calloc((size_t)c->len, sizeof(float));
		assert_int_equal(engine_clip_read(b->r->e, t, 0, 0, 0, buf, c->len),
				 c->len);
		int64_t ws = c->rec_start + b->m.latency;
		for (int64_t i = 0; i < c->len; i++)
			if (buf[i] != tri(ws + i)) {
				fprintf(stderr, "take %d frame %lld not its input\n", t,
					(long long)i);
				fail();
			}
		free(buf);
		c->checked = true;
	}
}

static void bench_run_to(struct bench *b, int64_t until)
{
	struct rig *r = b->r;
	while (engine_now(r->e) < until) {
		int64_t t0 = engine_now(r->e);
		rig_run(r, r->period);
		for (uint32_t i = 0; i < r->period; i++)
			bench_frame(b, t0 + (int64_t)i,
				    b->stems + (size_t)i * GL_STEM_CH);
		int64_t now = engine_now(r->e);
		assert_int_equal(engine_next_bar(r->e, now), m_next_bar(&b->m, now));
		for (int t = 0; t < TRACKS; t++)
			if ((int)rig_state(r, t, 0) != m_public(&b->m.c[t])) {
				fprintf(stderr,
					"track %d at %lld: state %d, the model's %d\n", t,
					(long long)now, rig_state(r, t, 0),
					m_public(&b->m.c[t]));
				fail();
			}
		bench_check_takes(b);
	}
}

static double bar_frames(const struct bench *b)
{
	return b->m.fpb * b->m.bpb;
}

/* ---- seeded random sequences -------------------------------------------- */

static uint32_t rnd(uint32_t *s)
{
	*s = *s * 1103515245u + 12345u;
	return *s >> 8;
}

static float random_bpm(uint32_t *seed, double now_bpm)
{
	uint32_t k = rnd(seed) % 20;
	if (k < 8)
		return (float)now_bpm; /* a phase correction only */
	if (k < 14)		       /* a small tempo change */
		return (float)(now_bpm *
			       (1.0 + ((double)(rnd(seed) % 2001) - 1000) / 1e5));
	if (k == 14)
		return (float)GL_TEMPO_MIN;
	if (k == 15)
		return (float)GL_TEMPO_MAX;
	if (k == 16) { /* hostile: out of range, NaN */
		static const float bad[] = {0.0f, -120.0f, 29.999f, 300.01f, 1e9f, NAN};
		return bad[rnd(seed) % 6];
	}
	return (float)(GL_TEMPO_MIN + (GL_TEMPO_MAX - GL_TEMPO_MIN) *
					  (double)(rnd(seed) % 10000) / 10000.0);
}

static void run_seed(uint32_t seed, struct bench *total)
{
	static const uint32_t periods[] = {64, 128, 256, 1000};
	static const uint32_t bpbs[] = {1, 2, 3, 4};
	uint32_t s = seed;
	trace = getenv("REPHASE_TRACE") != NULL;
	if (trace)
		fprintf(stderr, "seed %u\n", seed);
	uint32_t period = periods[rnd(&s) % 4];
	uint32_t fade = 32 + rnd(&s) % 160;
	uint32_t latency = rnd(&s) % 2 ? rnd(&s) % 400 : 0;
	uint32_t bpb = bpbs[rnd(&s) % 4];
	double bpm = 90 + rnd(&s) % 120;
	struct bench b;
	bench_init(&b, period, fade, latency, bpb, bpm);
	for (int step = 0; step < 50; step++) {
		int64_t now = engine_now(b.r->e);
		double bar = bar_frames(&b);
		uint32_t k = rnd(&s) % 10;
		if (k < 4) {
			/* An align somewhere within the next two bars. */
			int64_t at = now + (int64_t)(rnd(&s) % (uint32_t)(2 * bar));
			double cur = 60.0 * RATE / b.m.fpb;
			bench_send(&b, CMD_SYNC_GRID, 0, random_bpm(&s, cur), at);
			if (rnd(&s) % 3 == 0) /* and another at the same frame */
				bench_send(&b, CMD_SYNC_GRID, 0, random_bpm(&s, cur), at);
		} else {
			int t = (int)(rnd(&s) % TRACKS);
			uint32_t j = rnd(&s) % 8;
			int type = j < 2 ? CMD_ONESHOT : j == 2 ? CMD_TRIGGER : CMD_PRESS;
			bench_send(&b, type, t, 0,
				   now + (int64_t)(rnd(&s) % (uint32_t)bar));
		}
		/* Long enough for takes to come round; at most two bars (at
		 * 30 BPM, 16 s a bar of 4). */
		int64_t wait = period + rnd(&s) % (uint32_t)(bar < 48000 ? 2 * bar : bar);
		bench_run_to(&b, now + wait);
	}
	bench_run_to(&b, engine_now(b.r->e) + 4 * (int64_t)bar_frames(&b) / 3);
	/* The statistics' count of loops moved is the model's. */
	if (engine_loops_moved(b.r->e) != (uint64_t)b.m.rephases)
		fail_msg("seed %u: the engine counts %llu loops moved, the model %lld",
			 seed, (unsigned long long)engine_loops_moved(b.r->e),
			 (long long)b.m.rephases);
	total->m.moves += b.m.moves;
	total->m.rephases += b.m.rephases;
	total->m.aligns += b.m.aligns;
	total->m.takes += b.m.takes;
	total->m.beyond += b.m.beyond;
	total->m.refused += b.m.refused;
	total->m.oneshots += b.m.oneshots;
	total->m.oneshot_moves += b.m.oneshot_moves;
	if (b.m.biggest_move > total->m.biggest_move)
		total->m.biggest_move = b.m.biggest_move;
	total->checked += b.checked;
	total->steps += b.steps;
	if (b.worst_step / b.bound > total->worst_step)
		total->worst_step = b.worst_step / b.bound;
	bench_free(&b);
}

static void test_random_sequences_against_the_model(void **state)
{
	(void)state;
	struct bench total;
	memset(&total, 0, sizeof(total));
	for (uint32_t seed = 1; seed <= 12; seed++)
		run_seed(seed * 7919u, &total);
	printf("rephase model: aligns: %lld\n", (long long)total.m.aligns);
	printf("rephase model: grid moves: %lld\n", (long long)total.m.moves);
	printf("rephase model: loops moved: %lld\n", (long long)total.m.rephases);
	printf("rephase model: takes: %lld\n", (long long)total.m.takes);
	printf("rephase model: biggest move (frames): %lld\n",
	       (long long)total.m.biggest_move);
	printf("rephase model: moves longer than a loop playing: %lld\n",
	       (long long)total.m.beyond);
	printf("rephase model: one-shots: %lld (ends moved with their loop: %lld)\n",
	       (long long)total.m.oneshots, (long long)total.m.oneshot_moves);
	printf("rephase model: aligns refused (out of range): %lld\n",
	       (long long)total.m.refused);
	printf("rephase model: frames compared exactly: %lld\n",
	       (long long)total.checked);
	printf("rephase model: worst step / bound: %.3f\n", total.worst_step);
	/* The sequences did what they are for. */
	assert_true(total.m.rephases > 50);
	assert_true(total.m.takes > 30);
	assert_true(total.checked > 1000000);
	assert_true(total.m.biggest_move > 48000);
	assert_true(total.m.beyond > 0);
	assert_true(total.m.oneshots > 10);
	assert_true(total.m.oneshot_moves > 0);
}

/* ---- scripted cases ------------------------------------------------------ */

/* A take of one bar on track 0 (from bar 1), playing from bar 2. 120 BPM
 * 4/4: 96000 frames a bar. */
static void two_bar_take(struct bench *b)
{
	bench_send(b, CMD_PRESS, 0, 0, 10);	      /* record at 96000 */
	bench_send(b, CMD_PRESS, 0, 0, 96000 + 1000); /* ends at 2 * 96000 */
	bench_run_to(b, 4 * 96000 + 500);
	assert_int_equal(rig_state(b->r, 0, 0), CLIP_PLAYING);
}

static void test_small_corrections_add_up_to_one_move(void **state)
{
	(void)state;
	struct bench b;
	bench_init(&b, 256, 64, 0, 4, 120);
	two_bar_take(&b);
	/* Three corrections of 100 frames (2 ms) later, a bar apart: the
	 * loop stays until they add up past the bound, then moves by all
	 * of them at once. */
	int64_t at = 5 * 96000 + 100;
	for (int i = 0; i < 3; i++, at += 96000 + 100) {
		bench_send(&b, CMD_SYNC_GRID, 0, 120, at);
		bench_run_to(&b, at + 1000);
		assert_int_equal(b.m.rephases, i < 2 ? 0 : 1);
	}
	assert_int_equal(b.m.c[0].launch, 2 * 96000 + 300);
	/* Back and forth: 200 frames later, then 200 back: no move at all. */
	int64_t g = engine_next_bar(b.r->e, engine_now(b.r->e));
	bench_send(&b, CMD_SYNC_GRID, 0, 120, g + 200);
	bench_send(&b, CMD_SYNC_GRID, 0, 120, g + 96000);
	bench_run_to(&b, g + 3 * 96000);
	assert_int_equal(b.m.rephases, 1);
	assert_int_equal(b.m.moves, 5);
	assert_int_equal(b.m.c[0].launch, 2 * 96000 + 300);
	bench_free(&b);
}

static void test_take_follows_moves_made_while_recorded(void **state)
{
	(void)state;
	struct bench b;
	bench_init(&b, 128, 100, 300, 4, 120);
	bench_send(&b, CMD_PRESS, 1, 0, 10); /* records from 96000 */
	/* A launch queued on another empty track... nothing; a move of
	 * -20000 during the take (a bar line at 2 * 96000 - 20000). */
	bench_send(&b, CMD_SYNC_GRID, 0, 120, 2 * 96000 - 20000);
	bench_send(&b, CMD_PRESS, 1, 0, 2 * 96000);
	bench_run_to(&b, 5 * 96000);
	assert_int_equal(b.m.takes, 1);
	assert_int_equal(b.m.rephases, 1);
	/* It kept its length (whole bars from its start) and every frame
	 * (bench_check_takes), and plays shifted by the move. */
	assert_int_equal(b.m.c[1].len, 96000);
	assert_int_equal(b.m.c[1].launch, 96000 + 96000 - 20000);
	assert_true(b.m.c[1].checked);
	bench_free(&b);
}

static void test_queued_launch_moves_with_the_grid(void **state)
{
	(void)state;
	struct bench b;
	bench_init(&b, 64, 64, 0, 4, 120);
	two_bar_take(&b);
	bench_send(&b, CMD_PRESS, 0, 0, 4 * 96000 + 1000); /* a stop at 5 bars */
	bench_run_to(&b, 5 * 96000 + 5000);
	bench_send(&b, CMD_PRESS, 0, 0, 5 * 96000 + 6000); /* a launch at 6 bars */
	/* The grid moves 30000 later before it: the launch goes with it. */
	bench_send(&b, CMD_SYNC_GRID, 0, 120, 5 * 96000 + 30000);
	bench_run_to(&b, 7 * 96000);
	assert_int_equal(b.m.c[0].launch, 6 * 96000 + 30000);
	bench_free(&b);
}

/* A loop being overdubbed keeps its phase until the pass's input is all
 * in; the input goes where it was played; then the loop follows. */
static void test_overdub_waits_for_its_pass(void **state)
{
	(void)state;
	struct rig *r = rig_new(256, 64, 120);
	r->input = input;
	float *stems = calloc(256 * GL_STEM_CH, sizeof(float));
	engine_set_stems(r->e, stems);
	const int64_t L = 96000, rec = 96000;
	rig_cmd(r, CMD_PRESS, 0, 0, 0, 10);
	rig_cmd(r, CMD_PRESS, 0, 0, 0, rec + 1000); /* one bar: plays from 2 bars */
	rig_run_to(r, 2 * 96000 + 2000);
	assert_int_equal(rig_state(r, 0, 0), CLIP_PLAYING);
	int64_t od = 2 * 96000 + 10000, align = 2 * 96000 + 30000,
		end = 2 * 96000 + 60000;
	rig_cmd(r, CMD_OVERDUB, 0, 0, 0, od);
	rig_cmd(r, CMD_SYNC_GRID, 0, 0, 120, align); /* a move of +30000 */
	rig_cmd(r, CMD_OVERDUB, 0, 0, 0, end);
	/* During the pass (and its tail) the stem plays the old positions,
	 * which the pass has not reached again yet: the take as recorded. */
	int64_t launch = 2 * 96000;
	float last = 0;
	double worst = 0;
	rig_run(r, 256); /* the first frame compared follows one played */
	last = stems[255 * GL_STEM_CH];
	while (engine_now(r->e) < end + 20000) {
		int64_t t0 = engine_now(r->e);
		rig_run(r, 256);
		for (int i = 0; i < 256; i++) {
			int64_t f = t0 + i;
			float s = stems[(size_t)i * GL_STEM_CH];
			if (fabs(s - last) > worst)
				worst = fabs(s - last);
			last = s;
			int64_t p = (f - launch) % L;
			if (f > od + 64 && f < end && p >= 64 && p < L - 64)
				assert_true(s == tri(rec + p));
		}
	}
	/* The pass is over (its tail too): the loop moved by +30000, and
	 * the overdubbed part holds the input where it was played. */
	float *take = calloc((size_t)L, sizeof(float));
	assert_int_equal(engine_clip_read(r->e, 0, 0, 0, 0, take, L), L);
	for (int64_t t = od + 64; t < end - 64; t++) {
		int64_t p = (t - launch) % L;
		assert_true(fabsf(take[p] - (tri(rec + p) + tri(t))) < 1e-6f);
	}
	/* Now the stem plays launch + 30000: the recorded audio outside the
	 * pass's positions, the sum inside. */
	launch += 30000;
	for (int n = 0; n < 200; n++) {
		int64_t t0 = engine_now(r->e);
		rig_run(r, 256);
		for (int i = 0; i < 256; i++) {
			int64_t f = t0 + i;
			float s = stems[(size_t)i * GL_STEM_CH];
			if (fabs(s - last) > worst)
				worst = fabs(s - last);
			last = s;
			int64_t p = (f - launch) % L;
			if (p >= 64 && p < L - 64)
				assert_true(s == take[p]);
		}
	}
	printf("rephase overdub: worst step: %.5f\n", worst);
	assert_true(worst < 4.0 * 2 * AMP / 64);
	free(take);
	free(stems);
	rig_free(r);
}

/* Runs n periods and compares track 0's stem, away from seams and from
 * half-way samples, with a loop of L frames recorded from input frame ws,
 * launched at `launch`, mul half frames a frame (speed 0.5: 1, 2: 4). */
static void speed_stems(struct rig *r, const float *stems, int64_t launch, int64_t L,
			int64_t mul, int64_t ws, int n, int64_t fade)
{
	int64_t compared = 0;
	for (int k = 0; k < n; k++) {
		int64_t t0 = engine_now(r->e);
		rig_run(r, r->period);
		for (uint32_t i = 0; i < r->period; i++) {
			int64_t f = t0 + (int64_t)i;
			int64_t h = (((f - launch) * mul) % (2 * L) + 2 * L) % (2 * L);
			int64_t p = h >> 1;
			if ((h & 1) || p < fade || p > L - fade)
				continue;
			float s = stems[(size_t)i * GL_STEM_CH];
			if (s != tri(ws + p)) {
				fprintf(stderr,
					"frame %lld: %g, want position %lld: %g\n",
					(long long)f, s, (long long)p, tri(ws + p));
				fail();
			}
			compared++;
		}
	}
	assert_true(compared > n * (int64_t)r->period / 4);
}

/* At another speed the loop comes round in another time: a move is
 * folded to that (half speed: twice the length, double: half of it), so
 * a move of a whole period there is none, and one of half a loop at
 * half speed is a quarter of its audio. */
static void test_speed_folds_to_the_loops_period(void **state)
{
	(void)state;
	/* Double speed: a bar of 96000 at 120 BPM comes round in 48000. */
	struct rig *r = rig_new(128, 64, 120);
	r->input = input;
	float *stems = calloc(128 * GL_STEM_CH, sizeof(float));
	engine_set_stems(r->e, stems);
	rig_cmd(r, CMD_PRESS, 0, 0, 0, 10);
	rig_cmd(r, CMD_PRESS, 0, 0, 0, 97000); /* 96000 .. 192000 */
	rig_cmd(r, CMD_SPEED, 0, 0, 2.0f, 200000);
	rig_run_to(r, 300000); /* double speed from 288000 */
	int64_t launch = 288000, ws = 96000;
	/* Three moves of 47900 (each 100 short of a period): -100 each, the
	 * third past the bound. */
	for (int i = 0; i < 3; i++) {
		int64_t at = engine_next_bar(r->e, engine_now(r->e)) + 47900;
		rig_cmd(r, CMD_SYNC_GRID, 0, 0, 120, at);
		rig_run_to(r, at);
		if (i == 2)
			launch -= 300;
		rig_run(r, 256); /* the crossfade */
		speed_stems(r, stems, launch, 96000, 4, ws, 400, 64);
	}
	free(stems);
	rig_free(r);
	/* Half speed: a bar of 9600 at 300 BPM, one beat a bar, comes round
	 * in 19200; a move of 9600 (at 30 BPM) is half of that. */
	struct engine_config cfg;
	engine_config_defaults(&cfg, RATE);
	cfg.max_period = 128;
	cfg.fade_frames = 64;
	cfg.tempo = 300;
	cfg.beats_per_bar = 1;
	cfg.grow_frames = 4096;
	r = rig_new_with(&cfg, NULL, 128);
	r->input = input;
	stems = calloc(128 * GL_STEM_CH, sizeof(float));
	engine_set_stems(r->e, stems);
	rig_cmd(r, CMD_PRESS, 0, 0, 0, 10);
	rig_cmd(r, CMD_PRESS, 0, 0, 0, 9700); /* 9600 .. 19200 */
	rig_cmd(r, CMD_SPEED, 0, 0, 0.5f, 20000);
	rig_cmd(r, CMD_SYNC_GRID, 0, 0, 30, 38400); /* on a bar line: no move */
	rig_run_to(r, 40000);
	launch = 28800;
	ws = 9600;
	speed_stems(r, stems, launch, 9600, 1, ws, 200, 64);
	int64_t at = engine_next_bar(r->e, engine_now(r->e)) + 9600;
	rig_cmd(r, CMD_SYNC_GRID, 0, 0, 30, at);
	rig_run_to(r, at + 256);
	speed_stems(r, stems, launch + 9600, 9600, 1, ws, 400, 64);
	free(stems);
	rig_free(r);
}

/* A one-shot's stop at its end goes with the loop, not the grid: a move
 * longer than half the loop brings the loop round to its start (-2600
 * for a move of 7000 in a loop of 9600), and the one-shot ends there. */
static void test_oneshot_ends_where_its_loop_does(void **state)
{
	(void)state;
	struct engine_config cfg;
	engine_config_defaults(&cfg, RATE);
	cfg.max_period = 64;
	cfg.fade_frames = 32;
	cfg.tempo = 300;
	cfg.beats_per_bar = 1;
	cfg.grow_frames = 4096;
	struct rig *r = rig_new_with(&cfg, NULL, 64);
	r->input = input;
	float *stems = calloc(64 * GL_STEM_CH, sizeof(float));
	engine_set_stems(r->e, stems);
	rig_cmd(r, CMD_PRESS, 0, 0, 0, 10);
	rig_cmd(r, CMD_PRESS, 0, 0, 0, 9700);	     /* 9600 .. 19200 */
	rig_cmd(r, CMD_SYNC_GRID, 0, 0, 30, 28800);  /* on a bar line: no move */
	rig_cmd(r, CMD_ONESHOT, 0, 0, 0, 30000);     /* from 124800 to 134400 */
	rig_cmd(r, CMD_SYNC_GRID, 0, 0, 30, 131800); /* a move of +7000 */
	int64_t heard_last = -1;
	while (engine_now(r->e) < 150000) {
		int64_t t0 = engine_now(r->e);
		rig_run(r, 64);
		for (int i = 0; i < 64; i++)
			if (stems[(size_t)i * GL_STEM_CH] != 0.0f)
				heard_last = t0 + i;
	}
	printf("rephase one-shot: last frame heard %lld (its end 131800)\n",
	       (long long)heard_last);
	assert_int_equal(rig_state(r, 0, 0), CLIP_STOPPED);
	assert_true(heard_last >= 131800 - 64 && heard_last < 131800 + 32);
	free(stems);
	rig_free(r);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_bar_move),
	    cmocka_unit_test(test_small_corrections_add_up_to_one_move),
	    cmocka_unit_test(test_take_follows_moves_made_while_recorded),
	    cmocka_unit_test(test_queued_launch_moves_with_the_grid),
	    cmocka_unit_test(test_overdub_waits_for_its_pass),
	    cmocka_unit_test(test_speed_folds_to_the_loops_period),
	    cmocka_unit_test(test_oneshot_ends_where_its_loop_does),
	    cmocka_unit_test(test_random_sequences_against_the_model),
	};
	if (getenv("GL_TEST_FILTER"))
		cmocka_set_test_filter(getenv("GL_TEST_FILTER"));
	return cmocka_run_group_tests(tests, NULL, NULL);
}
