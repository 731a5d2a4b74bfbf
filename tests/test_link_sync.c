/* test_link_sync.c -- the pure half of Ableton Link sync (link_sync.h): Link
 * beats to engine frames and back, when the engine's grid is aligned to the
 * session's, when gridloop's tempo is proposed, start/stop both ways,
 * hostile values from the network; and the engine's CMD_SYNC_GRID (a bar
 * line at its frame, the tempo from it). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdbool.h>
#include <stdint.h>

#include <cmocka.h>
#include <math.h>

#include "engine_rig.h"
#include "link_sync.h"

#define RATE 48000

static void test_bar_frame(void **state)
{
	(void)state;
	/* 120 BPM at 48 kHz: 24000 frames a beat, 4 a bar. */
	assert_int_equal(link_sync_bar_frame(1000, 0.0, 120, 4, RATE), 1000);
	assert_int_equal(link_sync_bar_frame(1000, 1.0, 120, 4, RATE), 1000 + 72000);
	assert_int_equal(link_sync_bar_frame(1000, 3.5, 120, 4, RATE), 1000 + 12000);
	assert_int_equal(link_sync_bar_frame(1000, 7.5, 120, 4, RATE), 1000 + 12000);
	/* Before the session's beat 0 (Link beats are negative there). */
	assert_int_equal(link_sync_bar_frame(0, -1.0, 120, 4, RATE), 24000);
	/* Next to a bar line: the line itself, never a whole bar on. */
	assert_int_equal(link_sync_bar_frame(0, 4.0 - 1e-9, 120, 4, RATE), 0);
	assert_int_equal(link_sync_bar_frame(0, 4.0 + 1e-9, 120, 4, RATE), 0);
	assert_int_equal(link_sync_bar_frame(0, 4.001, 120, 4, RATE), 96000 - 24);
	/* 3/4 at 90 BPM: 32000 frames a beat. */
	assert_int_equal(link_sync_bar_frame(0, 2.0, 90, 3, RATE), 32000);
}

static void test_engine_beat_inverts_bar_frame(void **state)
{
	(void)state;
	const double tempi[] = {30, 97.3, 120, 173.21, 300};
	for (size_t i = 0; i < sizeof(tempi) / sizeof(tempi[0]); i++)
		for (double b = -5; b < 9; b += 0.37) {
			int64_t bar = link_sync_bar_frame(5000, b, tempi[i], 4, RATE);
			double back = link_sync_engine_beat(5000, bar, tempi[i], 4, RATE);
			double want = fmod(fmod(b, 4) + 4, 4);
			double d = fabs(back - want);
			if (d > 2) /* 3.9999 against 0.0001 */
				d = 4 - d;
			/* One frame's rounding. */
			assert_true(d <= tempi[i] / 60.0 / RATE + 1e-9);
		}
}

static void test_bar_offset_wraps(void **state)
{
	(void)state;
	assert_int_equal(link_sync_bar_offset(0, 0, 96000), 0);
	assert_int_equal(link_sync_bar_offset(100, 0, 96000), 100);
	assert_int_equal(link_sync_bar_offset(0, 100, 96000), 100);
	assert_int_equal(link_sync_bar_offset(96000 - 10, 0, 96000), 10);
	assert_int_equal(link_sync_bar_offset(3 * 96000 + 5, 0, 96000), 5);
}

/* A period's input: the engine at 120 BPM with its bar line at next_bar,
 * the session as given. */
static struct link_sync_in input(int64_t frame, double link_bpm, double link_beat,
				 size_t peers, double engine_bpm, int64_t next_bar)
{
	return (struct link_sync_in){.frame = frame,
				     .rate = RATE,
				     .link_bpm = link_bpm,
				     .link_beat = link_beat,
				     .peers = peers,
				     .engine_bpm = engine_bpm,
				     .engine_next_bar = next_bar,
				     .beats_per_bar = 4};
}

static void test_joining_adopts_tempo_and_phase_at_the_next_bar(void **state)
{
	(void)state;
	struct link_sync s;
	struct link_sync_out out;
	link_sync_init(&s, true, true);
	/* Alone: gridloop's own grid stands, whatever Link's says. */
	struct link_sync_in in = input(0, 130, 1.0, 0, 120, 0);
	link_sync_period(&s, &in, &out);
	assert_false(out.align);
	assert_false(out.propose);
	/* A peer: the session's tempo, its next bar line. */
	in = input(256, 130, 1.0, 1, 120, 96000);
	link_sync_period(&s, &in, &out);
	assert_true(out.align);
	assert_true(fabs(out.align_bpm - 130) < 1e-9);
	int64_t bar = link_sync_bar_frame(256, 1.0, 130, 4, RATE);
	assert_int_equal(out.align_frame, bar);
	assert_false(out.propose);
	/* Until that bar comes, nothing more (the engine still has 120). */
	in = input(bar - 256, 130, 3.9, 1, 120, bar + 1000);
	link_sync_period(&s, &in, &out);
	assert_false(out.align);
	assert_false(out.propose);
	/* After it, the engine's grid is the session's: nothing to do, and
	 * the engine's new 130 is not taken for a change of its own. */
	in = input(bar + 256, 130, 256 * 130 / 60.0 / RATE, 1, 130,
		   bar + llround(4 * 60.0 * RATE / 130));
	link_sync_period(&s, &in, &out);
	assert_false(out.align);
	assert_false(out.propose);
	assert_int_equal(s.aligns, 1);
}

/* A tempo of gridloop's own while an alignment is on its way is not lost:
 * proposed at once; the landed alignment is then corrected by the next. */
static void test_own_change_during_a_pending_alignment(void **state)
{
	(void)state;
	struct link_sync s;
	struct link_sync_out out;
	link_sync_init(&s, true, true);
	struct link_sync_in in = input(0, 120, 0.0, 1, 120, 0);
	link_sync_period(&s, &in, &out);
	in = input(256, 122, 1.0, 1, 120, 96000);
	link_sync_period(&s, &in, &out);
	assert_true(out.align);
	int64_t bar = out.align_frame;
	/* A script sets 131 before the bar. */
	in = input(512, 122, 1.01, 1, 131, 96000);
	link_sync_period(&s, &in, &out);
	assert_true(out.propose);
	assert_true(fabs(out.propose_bpm - 131) < 1e-9);
	assert_false(out.align);
	/* Once only. */
	in = input(768, 131, 1.02, 1, 131, 96000);
	link_sync_period(&s, &in, &out);
	assert_false(out.propose);
	/* The alignment lands (122); the session now says 131: aligned. */
	in = input(bar + 256, 131, 0.05, 1, 122, bar + 94000);
	link_sync_period(&s, &in, &out);
	assert_true(out.align);
	assert_true(fabs(out.align_bpm - 131) < 1e-9);
}

static void test_phase_drift_is_corrected_beyond_a_millisecond(void **state)
{
	(void)state;
	struct link_sync s;
	struct link_sync_out out;
	link_sync_init(&s, true, true);
	struct link_sync_in in = input(0, 120, 0.0, 2, 120, 0);
	link_sync_period(&s, &in, &out);
	assert_false(out.align);
	/* 40 frames (0.83 ms) off: left alone. */
	in = input(1000, 120, 1000 / 24000.0, 2, 120, 96000 + 40);
	link_sync_period(&s, &in, &out);
	assert_false(out.align);
	/* 60 frames (1.25 ms): aligned to the session's line. */
	in = input(2000, 120, 2000 / 24000.0, 2, 120, 96000 + 60);
	link_sync_period(&s, &in, &out);
	assert_true(out.align);
	assert_int_equal(out.align_frame, 96000);
	assert_int_equal(s.worst_offset, 60);
}

static void test_first_loop_proposes_its_tempo_and_phase(void **state)
{
	(void)state;
	struct link_sync s;
	struct link_sync_out out;
	link_sync_init(&s, true, true);
	/* No tempo yet, a session of one other peer at 120: adopted. */
	struct link_sync_in in = input(0, 120, 2.0, 0, 0, GL_NEVER);
	link_sync_period(&s, &in, &out);
	assert_false(out.align);
	/* Alone, the first loop sets 97 BPM with a bar line 10000 frames on:
	 * proposed, with the beat the engine is at. */
	in = input(4800, 120, 2.1, 0, 97, 4800 + 10000);
	link_sync_period(&s, &in, &out);
	assert_true(out.propose);
	assert_true(fabs(out.propose_bpm - 97) < 1e-9);
	double fpb = 60.0 * RATE / 97;
	assert_true(fabs(out.propose_beat - (4 - 10000 / fpb)) < 1e-9);
	/* Link then says 97 and the same phase: quiet. */
	in = input(5000, 97, 4 - 9800 / fpb, 0, 97, 4800 + 10000);
	link_sync_period(&s, &in, &out);
	assert_false(out.propose);
	assert_false(out.align);
	/* Tap tempo later, with peers: proposed too (anyone may change a
	 * Link session's tempo). */
	in = input(9000, 97, 0.3, 3, 101.5, 20000);
	link_sync_period(&s, &in, &out);
	assert_true(out.propose);
	assert_false(out.align);
	assert_int_equal(s.proposals, 2);
}

static void test_midi_leads_never_follows_link(void **state)
{
	(void)state;
	struct link_sync s;
	struct link_sync_out out;
	link_sync_init(&s, false, true);
	struct link_sync_in in = input(0, 120, 0, 1, 110, 1234);
	link_sync_period(&s, &in, &out);
	assert_false(out.align);
	for (int i = 1; i < 100; i++) {
		in = input(i * 256, 133 + i * 0.1, i * 0.5, 4, 110, 1234 + 96000);
		link_sync_period(&s, &in, &out);
		assert_false(out.align);
	}
	/* MIDI clock in moves the engine: Link hears of it. */
	in = input(100 * 256, 140, 0.2, 4, 111, 96000 * 3);
	link_sync_period(&s, &in, &out);
	assert_true(out.propose);
	assert_true(fabs(out.propose_bpm - 111) < 1e-9);
}

static void test_hostile_session_tempi_are_ignored(void **state)
{
	(void)state;
	const double bad[] = {NAN, INFINITY, -120, 0, 29.99, 300.01, 1e9};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct link_sync s;
		struct link_sync_out out;
		link_sync_init(&s, true, true);
		struct link_sync_in in = input(0, bad[i], 1.5, 1, 120, 1000);
		link_sync_period(&s, &in, &out);
		in = input(256, bad[i], NAN, 1, 120, 1000);
		link_sync_period(&s, &in, &out);
		assert_false(out.align);
		assert_false(out.propose);
	}
}

static void test_start_stop_both_ways_without_echo(void **state)
{
	(void)state;
	struct link_sync s;
	struct link_sync_out out;
	link_sync_init(&s, true, true);
	struct link_sync_in in = input(0, 120, 0, 1, 120, 0);
	link_sync_period(&s, &in, &out); /* primes: nothing playing */
	assert_false(out.start || out.stop || out.set_playing);
	/* gridloop starts a clip: the session is started. */
	in.engine_active = true;
	link_sync_period(&s, &in, &out);
	assert_true(out.set_playing);
	assert_true(out.playing);
	/* Link reports it back: no echo. */
	in.link_playing = true;
	link_sync_period(&s, &in, &out);
	assert_false(out.start || out.stop || out.set_playing);
	/* The session stops (another peer): gridloop stops its clips. */
	in.link_playing = false;
	link_sync_period(&s, &in, &out);
	assert_true(out.stop);
	assert_false(out.set_playing);
	/* The clips stop: nothing goes back to the session. */
	in.engine_active = false;
	link_sync_period(&s, &in, &out);
	assert_false(out.start || out.stop || out.set_playing);
	/* The session starts while gridloop is idle: start asked. */
	in.link_playing = true;
	link_sync_period(&s, &in, &out);
	assert_true(out.start);
	/* Off: nothing either way. */
	link_sync_init(&s, true, false);
	in.engine_active = false;
	link_sync_period(&s, &in, &out);
	in.engine_active = true;
	in.link_playing = false;
	link_sync_period(&s, &in, &out);
	assert_false(out.start || out.stop || out.set_playing);
}

/* The engine side: CMD_SYNC_GRID puts a bar line on its frame and the
 * tempo from there; the bar count goes on. */
static void test_engine_sync_grid(void **state)
{
	(void)state;
	struct rig *r = rig_new(256, 64, 120);
	rig_run_to(r, 96000 * 2 + 500); /* two bars and a bit at 120 */
	int64_t at = 96000 * 2 + 30000;
	rig_cmd(r, CMD_SYNC_GRID, 0, 0, 130, at);
	rig_run_to(r, at + 3 * 96000);
	assert_true(fabs(engine_tempo(r->e) - 130) < 1e-4);
	int64_t bar_frames = llround(4 * 60.0 * RATE / 130);
	bool seen_at = false, seen_next = false;
	int64_t last_bar = -1;
	for (int i = 0; i < r->nev; i++) {
		if (r->ev[i].type != EV_BAR)
			continue;
		if (r->ev[i].frame == at)
			seen_at = true;
		if (r->ev[i].frame == at + bar_frames)
			seen_next = true;
		/* The count goes on: never backwards. */
		assert_true(r->ev[i].value > last_bar);
		last_bar = r->ev[i].value;
	}
	assert_true(seen_at);
	assert_true(seen_next);
	assert_int_equal(engine_next_bar(r->e, at + 1), at + bar_frames);
	/* Out of range: refused, the grid unchanged. */
	rig_cmd(r, CMD_SYNC_GRID, 0, 0, 1000, 0);
	rig_cmd(r, CMD_SYNC_GRID, 0, 0, NAN, 0);
	rig_run(r, 256);
	assert_int_equal(rig_count_events(r, EV_ERROR, ERR_BAD_COMMAND), 2);
	assert_true(fabs(engine_tempo(r->e) - 130) < 1e-4);
	rig_free(r);
}

/* Without a tempo, the session's grid starts the engine's: bar 0 there. */
static void test_engine_sync_grid_without_tempo(void **state)
{
	(void)state;
	struct rig *r = rig_new(256, 64, 0);
	assert_int_equal(engine_next_bar(r->e, 0), GL_NEVER);
	rig_cmd(r, CMD_SYNC_GRID, 0, 0, 100, 5000);
	rig_run_to(r, 60000);
	assert_true(fabs(engine_tempo(r->e) - 100) < 1e-4);
	assert_int_equal(engine_next_bar(r->e, 5000), 5000);
	assert_int_equal(engine_next_bar(r->e, 5001), 5000 + 115200);
	rig_free(r);
}

static void test_link_watch_rejoins_after_peers_are_lost(void **state)
{
	(void)state;
	struct link_watch w = {0};
	/* Alone from the start: the first count is news, then nothing. */
	assert_int_equal(link_watch_step(&w, 0, 0), LINK_WATCH_CHANGED);
	assert_int_equal(link_watch_step(&w, 500000, 0), 0);
	assert_int_equal(link_watch_step(&w, 500100, 2), LINK_WATCH_CHANGED);
	assert_int_equal(link_watch_step(&w, 500200, 2), 0);
	/* Lost at 600000: 8 s, then 16, 32, 60, 60 s between tries. */
	assert_int_equal(link_watch_step(&w, 600000, 0), LINK_WATCH_CHANGED);
	assert_int_equal(link_watch_step(&w, 607999, 0), 0);
	assert_int_equal(link_watch_step(&w, 608000, 0), LINK_WATCH_REJOIN);
	assert_int_equal(link_watch_step(&w, 608001, 0), 0);
	assert_int_equal(link_watch_step(&w, 623999, 0), 0);
	assert_int_equal(link_watch_step(&w, 624500, 0), LINK_WATCH_REJOIN);
	assert_int_equal(link_watch_step(&w, 624500 + 32000, 0), LINK_WATCH_REJOIN);
	assert_int_equal(link_watch_step(&w, 656500 + 60000, 0), LINK_WATCH_REJOIN);
	assert_int_equal(link_watch_step(&w, 716500 + 59999, 0), 0);
	assert_int_equal(link_watch_step(&w, 716500 + 60000, 0), LINK_WATCH_REJOIN);
	assert_int_equal(w.rejoins, 5);
	/* Back: the next loss starts from 8 s again. */
	assert_int_equal(link_watch_step(&w, 800000, 1), LINK_WATCH_CHANGED);
	assert_int_equal(link_watch_step(&w, 801000, 0), LINK_WATCH_CHANGED);
	assert_int_equal(link_watch_step(&w, 808999, 0), 0);
	assert_int_equal(link_watch_step(&w, 809000, 0), LINK_WATCH_REJOIN);
	/* Lost at time 0 of the caller's clock is a loss too. */
	struct link_watch z = {0};
	link_watch_step(&z, 0, 3);
	link_watch_step(&z, 0, 0);
	assert_int_equal(link_watch_step(&z, 7999, 0), 0);
	assert_int_equal(link_watch_step(&z, 8000, 0), LINK_WATCH_REJOIN);
}

/* Seeded random counts and times against a model written from the contract:
 * news when the count differs; each stretch at 0 after some peer has its
 * tries due at loss + 8 s, then waits of 16, 32, 60, 60... s, each taken by
 * the first step at or after it. */
static void test_link_watch_against_a_model(void **state)
{
	(void)state;
	uint32_t seed = 12345;
	uint64_t total = 0;
	for (int run = 0; run < 200; run++) {
		struct link_watch w = {0};
		int64_t now = (int64_t)(seed % 1000);
		bool had = false, lost = false;
		int64_t due = 0, wait = 0;
		size_t last = (size_t)-1;
		uint64_t rejoins = 0;
		for (int i = 0; i < 400; i++) {
			seed = seed * 1103515245u + 12345u;
			now += (seed >> 8) % 3000;
			seed = seed * 1103515245u + 12345u;
			/* mostly 0 (long stretches), sometimes peers, huge too */
			size_t peers = (seed >> 9) % 10 < 8 ? 0 : (seed >> 5) % 4;
			if ((seed >> 3) % 97 == 0)
				peers = (size_t)-2;
			unsigned want = peers != last ? LINK_WATCH_CHANGED : 0;
			last = peers;
			if (peers) {
				had = true;
				lost = false;
			} else if (had && !lost) {
				lost = true;
				wait = 8000;
				due = now + wait;
			} else if (had && now >= due) {
				want |= LINK_WATCH_REJOIN;
				rejoins++;
				wait = wait >= 30000 ? 60000 : wait * 2;
				due = now + wait;
			}
			assert_int_equal(link_watch_step(&w, now, peers), want);
		}
		assert_int_equal(w.rejoins, rejoins);
		total += rejoins;
	}
	assert_true(total > 200); /* the sequences did reach the tries */
}

/* ---- link_heard: when a period is heard --------------------------------- */

#define PERIOD	     256
#define HEARD_BLOCK  (RATE * LINK_HEARD_WINDOW_MS / 1000 / LINK_HEARD_BLOCKS)
#define READINGS     20000
#define READINGS_MAX (2 * READINGS)

static uint32_t next_rand(uint32_t *seed)
{
	*seed = *seed * 1103515245u + 12345u;
	return *seed >> 8;
}

/* A device against a model: the true time frame f is heard is
 * f / rate + offset (us). Each period wakes at a device cycle plus a small
 * lateness (0..300 us), or, in 15 % of the periods, one or two whole
 * periods late (the device has played those meanwhile: the delay is that
 * much smaller); 5 % of the readings fail; half the periods give a second
 * reading (before the write) 0.1..2.1 ms later, a device cycle on when it
 * passed one; the offset steps up or down by up to three periods now and
 * then (an xrun-free latency change). Checked every period: the estimate
 * lies between the smallest reading of the frames surely in the window and
 * that of those perhaps in it (a brute model of the contract), is never
 * later than the truth by more than the small lateness, and equals the
 * truth within it once a window has passed since the last step up. */
struct heard_model {
	uint32_t seed;
	int64_t offset;	 /* us: the truth */
	int64_t last_up; /* the frame of the last step up */
	uint64_t late, steps_up, steps_down, failed;
	uint64_t settled;   /* periods checked against the truth both ways */
	double naive_worst; /* the clock now plus the nominal latency, off by */
	int n;		    /* readings kept, since the start */
	int64_t frames[READINGS_MAX];
	double offsets[READINGS_MAX];
};

static void model_keep(struct heard_model *m, int64_t f, int64_t clock, int64_t delay)
{
	m->frames[m->n] = f;
	m->offsets[m->n++] =
	    (double)clock + (double)delay * 1e6 / RATE - (double)f * 1e6 / RATE;
}

static void model_step(struct heard_model *m, int64_t f)
{
	if (next_rand(&m->seed) % 1000)
		return;
	int64_t step = (int64_t)(next_rand(&m->seed) % 3 + 1) * PERIOD * 1000000 / RATE;
	if (next_rand(&m->seed) % 2) {
		m->offset += step;
		m->last_up = f;
		m->steps_up++;
	} else {
		m->offset -= step;
		m->steps_down++;
	}
}

/* The estimate for frame f (heard), against the kept readings and the truth. */
static void model_check(struct heard_model *m, int64_t f, int64_t heard, int64_t clock,
			int64_t nominal, bool ok)
{
	double est = (double)heard - (double)f * 1e6 / RATE;
	double lo = INFINITY, hi = INFINITY; /* over what may be in, what surely is */
	for (int k = m->n - 1;
	     k >= 0 && m->frames[k] > f - LINK_HEARD_BLOCKS * HEARD_BLOCK; k--) {
		lo = fmin(lo, m->offsets[k]);
		if (m->frames[k] >= f - (LINK_HEARD_BLOCKS - 1) * HEARD_BLOCK)
			hi = fmin(hi, m->offsets[k]);
	}
	if (lo == INFINITY) {
		assert_int_equal(heard, clock + nominal);
		return;
	}
	assert_true(est >= lo - 1.0);
	assert_true(est <= hi + 1.0);
	/* Against the truth, with this period's own reading in. */
	double err = est - (double)m->offset;
	if (ok)
		assert_true(err <= 301.0);
	if (ok && f - m->last_up > LINK_HEARD_BLOCKS * HEARD_BLOCK) {
		assert_true(err >= -1.0);
		m->settled++;
	}
}

static void test_heard_against_a_model(void **state)
{
	(void)state;
	static struct heard_model m;
	m = (struct heard_model){.seed = 4242};
	const double p_us = PERIOD * 1e6 / RATE;
	const int64_t nominal = 2 * PERIOD * 1000000LL / RATE;
	for (int run = 0; run < 4; run++) {
		struct link_heard h;
		link_heard_init(&h, RATE, nominal, RATE);
		/* runs 2, 3: far from frame 0 (a day, a year of frames) */
		int64_t f0 = run < 2	? 0
			     : run == 2 ? 86400LL * RATE
					: 365LL * 86400 * RATE;
		m.offset = 1000000 + (int64_t)(next_rand(&m.seed) % 1000000);
		m.last_up = f0;
		m.n = 0;
		for (int i = 0; i < READINGS; i++) {
			int64_t f = f0 + (int64_t)i * PERIOD;
			model_step(&m, f);
			/* The cycle before the wake-up: the delay then was q. */
			const int64_t q = 2 * PERIOD;
			double cycle =
			    (double)f * 1e6 / RATE + (double)m.offset - q * 1e6 / RATE;
			int64_t small = (int64_t)(next_rand(&m.seed) % 300);
			int whole = 0;
			if (next_rand(&m.seed) % 100 < 15)
				whole = 1 + (int)(next_rand(&m.seed) % 2);
			m.late += whole > 0;
			int64_t clock = llround(cycle + whole * p_us) + small;
			int64_t delay = q - whole * PERIOD;
			bool ok = next_rand(&m.seed) % 100 >= 5;
			m.failed += !ok;
			m.naive_worst =
			    fmax(m.naive_worst, fabs((double)(clock + nominal) -
						     (cycle + q * 1e6 / RATE)));
			int64_t heard =
			    link_heard_period(&h, f, clock, ok, ok ? delay : -7);
			if (ok)
				model_keep(&m, f, clock, delay);
			model_check(&m, f, heard, clock, nominal, ok);
			/* The second reading, for the periods to come. */
			if (next_rand(&m.seed) % 2) {
				int64_t later =
				    100 + (int64_t)(next_rand(&m.seed) % 2000);
				int64_t d2 = delay;
				if (small + later >
				    (int64_t)p_us) /* the device's next cycle */
					d2 -= PERIOD;
				link_heard_read(&h, f, clock + later, true, d2);
				model_keep(&m, f, clock + later, d2);
			}
		}
	}
	/* The sequences were what they say: wake-ups a period or more late
	 * that the wall clock alone would have put a period off, failures,
	 * and steps both ways. */
	assert_true(m.late > 4 * READINGS / 10);
	assert_true(m.naive_worst >= p_us);
	assert_true(m.failed > 4 * READINGS / 40);
	assert_true(m.steps_up > 20 && m.steps_down > 20);
	assert_true(m.settled > READINGS);
}

static void test_heard_fallback_reset_and_hostile_delays(void **state)
{
	(void)state;
	struct link_heard h;
	link_heard_init(&h, RATE, 5333, 4 * PERIOD);
	/* No reading yet: the clock plus the nominal latency. */
	assert_int_equal(link_heard_period(&h, 0, 1000000, false, 0), 1000000 + 5333);
	/* Hostile delays are failures too. */
	assert_int_equal(link_heard_period(&h, 256, 1005333, true, -1), 1005333 + 5333);
	assert_int_equal(link_heard_period(&h, 512, 1010667, true, 4 * PERIOD + 1),
			 1010667 + 5333);
	assert_int_equal(link_heard_period(&h, 768, 1016000, true, INT64_MAX),
			 1016000 + 5333);
	assert_int_equal(h.failed, 4);
	assert_int_equal(h.readings, 0);
	/* A reading: heard at the clock plus the delay (1024 frames:
	 * 21333.3 us), exactly. */
	int64_t f = 1024, c = 2000000;
	assert_int_equal(link_heard_period(&h, f, c, true, 1024), c + 21333);
	/* Later periods that failed: still that offset, frame by frame. */
	assert_int_equal(link_heard_period(&h, f + 12000, c + 7, false, 0),
			 c + 21333 + 250000);
	/* A larger reading (a late wake-up) changes nothing... */
	assert_int_equal(link_heard_period(&h, f + 12256, c + 255333 + 900, true, 1024),
			 c + 276667); /* frame 13280: 276666.7 us */
	/* ...until a reset: then it is all there is. */
	link_heard_reset(&h);
	assert_int_equal(link_heard_period(&h, f + 12512, c + 260667 + 900, true, 1024),
			 c + 21333 + 260667 + 900);
	/* Every reading gone from the window (a window of failures): the
	 * nominal latency again. */
	int64_t g = f + 12512 + (int64_t)RATE * LINK_HEARD_WINDOW_MS / 1000;
	assert_int_equal(link_heard_period(&h, g, 9000000, false, 0), 9000000 + 5333);
	assert_true(h.last_latency_us == 5333.0);
	/* A zero rate is taken as 1 (no division by zero). */
	link_heard_init(&h, 0, 10, 5);
	assert_int_equal(link_heard_period(&h, 3, 100, true, 2), 100 + 2000000);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_bar_frame),
	    cmocka_unit_test(test_engine_beat_inverts_bar_frame),
	    cmocka_unit_test(test_bar_offset_wraps),
	    cmocka_unit_test(test_joining_adopts_tempo_and_phase_at_the_next_bar),
	    cmocka_unit_test(test_own_change_during_a_pending_alignment),
	    cmocka_unit_test(test_phase_drift_is_corrected_beyond_a_millisecond),
	    cmocka_unit_test(test_first_loop_proposes_its_tempo_and_phase),
	    cmocka_unit_test(test_midi_leads_never_follows_link),
	    cmocka_unit_test(test_hostile_session_tempi_are_ignored),
	    cmocka_unit_test(test_start_stop_both_ways_without_echo),
	    cmocka_unit_test(test_engine_sync_grid),
	    cmocka_unit_test(test_engine_sync_grid_without_tempo),
	    cmocka_unit_test(test_link_watch_rejoins_after_peers_are_lost),
	    cmocka_unit_test(test_link_watch_against_a_model),
	    cmocka_unit_test(test_heard_against_a_model),
	    cmocka_unit_test(test_heard_fallback_reset_and_hostile_delays),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
