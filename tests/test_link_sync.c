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
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
