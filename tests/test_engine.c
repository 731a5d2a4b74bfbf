/* test_engine.c -- the engine, fed one period at a time: clip states,
 * frame-exact quantisation, recording memory, overdub and undo, fades,
 * latency compensation, tempo, and seeded random command sequences (an
 * adversary) checked against the engine's invariants. Every scenario runs
 * engine_process() inside the real-time guard's marks (see engine_rig.h).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <math.h>
#include <stdio.h>
#include <unistd.h>

#include "engine_internal.h"
#include "engine_rig.h"
#include "transport.h"

#define BAR120 96000 /* frames per 4/4 bar at 120 BPM, 48 kHz */

static float *clip_copy(struct rig *r, int track, int scene, int ch, int64_t *len)
{
	*len = engine_clip_length(r->e, track, scene);
	float *buf = calloc((size_t)*len + 1, sizeof(float));
	assert_int_equal(engine_clip_read(r->e, track, scene, ch, 0, buf, *len), *len);
	return buf;
}

static float out_l(struct rig *r, int64_t f)
{
	return r->out[2 * f];
}
static float out_r(struct rig *r, int64_t f)
{
	return r->out[2 * f + 1];
}

static int64_t event_frame(struct rig *r, uint8_t type, int track, int scene, int state)
{
	for (int i = 0; i < r->nev; i++) {
		struct event *ev = &r->ev[i];
		if (ev->type == type &&
		    (track < 0 || (ev->track == track && ev->scene == scene)) &&
		    (state < 0 || (int)ev->value == state))
			return ev->frame;
	}
	return -1;
}

/* ---- transport -------------------------------------------------------- */

static void test_transport_grid_exact(void **state)
{
	(void)state;
	struct transport t;
	transport_init(&t, 48000, 137.3, 4);
	/* Boundaries from beat_at/next_beat agree with beat_frame over hours. */
	for (int64_t k = 0; k < 200000; k += 97) {
		int64_t f = transport_beat_frame(&t, k);
		assert_int_equal(transport_beat_at(&t, f), k);
		assert_int_equal(transport_beat_at(&t, f - 1), k - 1);
		assert_int_equal(transport_next_beat(&t, f), f);
		assert_int_equal(transport_next_beat(&t, f + 1),
				 transport_beat_frame(&t, k + 1));
	}
	transport_init(&t, 48000, 120, 4);
	assert_int_equal(transport_next_bar(&t, 1), BAR120);
	assert_int_equal(transport_next_bar(&t, BAR120), BAR120);
	assert_int_equal(transport_next_beat(&t, 24001), 48000);
	/* 7/8-style meters: 7 beats a bar. */
	transport_set_meter(&t, 7, 0);
	assert_int_equal(transport_next_bar(&t, 1), 7 * 24000);
}

static void test_tap_tempo(void **state)
{
	(void)state;
	struct rig *r = rig_new(64, 0, 0);
	assert_non_null(r);
	for (int i = 0; i < 4; i++)
		rig_cmd(r, CMD_TAP_TEMPO, 0, 0, 0, 1000 + i * 24000);
	rig_run_to(r, 80000);
	assert_true(fabs(engine_tempo(r->e) - 120.0) < 1e-9);
	/* The last tap is a beat. */
	assert_true(rig_count_events(r, EV_TEMPO, 120000) >= 1);
	rig_free(r);
}

/* ---- recording -------------------------------------------------------- */

static void test_recording_exact_across_hundreds_of_regrows(void **state)
{
	(void)state;
	struct rig *r = rig_new(64, 0, 0); /* grow 1024 frames: 768-frame chunks */
	assert_non_null(r);
	const int64_t start = 100, len = 300000;
	rig_cmd(r, CMD_PRESS, 0, 0, 0, start); /* no tempo yet: records at once */
	rig_cmd(r, CMD_PRESS, 0, 0, 0, start + len);
	rig_run_to(r, start + len + 64);
	assert_true(rig_count_events(r, EV_RECORD_DONE, len) == 1);
	assert_int_equal(event_frame(r, EV_CLIP_STATE, 0, 0, CLIP_RECORDING), start);
	assert_int_equal(rig_state(r, 0, 0), CLIP_PLAYING);

	struct keeper_stats ks;
	keeper_get_stats(r->k, &ks);
	assert_true(ks.grows >= 300 + GL_SLOTS);

	int64_t got;
	float *clip = clip_copy(r, 0, 0, 0, &got);
	assert_int_equal(got, len);
	for (int64_t i = 0; i < len; i++)
		if (clip[i] != rig_signal(start + i, 0))
			fail_msg("frame %lld differs", (long long)i);

	/* It loops from the frame the recording ended, on both channels. */
	rig_run(r, len + 1000);
	for (int64_t f = start + len; f < r->frames; f++) {
		float want = clip[(f - start - len) % len];
		if (out_l(r, f) != want || out_r(r, f) != want)
			fail_msg("output frame %lld differs", (long long)f);
	}
	free(clip);
	rig_free(r);
}

static void test_tempo_from_first_loop(void **state)
{
	(void)state;
	struct rig *r = rig_new(64, 0, 0);
	rig_cmd(r, CMD_PRESS, 0, 0, 0, 5000);
	rig_cmd(r, CMD_PRESS, 0, 0, 0, 5000 + BAR120); /* 2 s: one 4/4 bar at 120 */
	rig_run_to(r, 5000 + 3 * BAR120 + 64);
	assert_true(fabs(engine_tempo(r->e) - 120.0) < 1e-9);
	/* Bars start where the recording started. */
	assert_int_equal(event_frame(r, EV_BAR, -1, 0, 2), 5000 + 2 * BAR120);
	rig_free(r);

	/* 5 s is slow for one bar (48 BPM): it becomes two bars at 96. */
	r = rig_new(64, 0, 0);
	rig_cmd(r, CMD_PRESS, 0, 0, 0, 0);
	rig_cmd(r, CMD_PRESS, 0, 0, 0, 240000);
	rig_run_to(r, 240064);
	assert_true(fabs(engine_tempo(r->e) - 96.0) < 1e-9);
	/* After that, recordings snap to whole bars (quantised: to the next
	 * bar line counted from their start). */
	int64_t bar = 120000;
	rig_cmd(r, CMD_PRESS, 1, 0, 0, 250000);	      /* queued: starts at bar 3 */
	rig_cmd(r, CMD_PRESS, 1, 0, 0, 3 * bar + 10); /* ends one bar later */
	rig_run_to(r, 4 * bar + 64);
	assert_int_equal(engine_clip_length(r->e, 1, 0), bar);
	assert_int_equal(event_frame(r, EV_CLIP_STATE, 1, 0, CLIP_RECORDING), 3 * bar);
	rig_free(r);
}

static void test_quantised_start_mid_period_is_frame_exact(void **state)
{
	(void)state;
	/* 70-frame periods: the bar line at 96000 falls 30 frames into one. */
	struct rig *r = rig_new(70, 0, 120);
	assert_non_null(r);
	rig_cmd(r, CMD_PRESS, 0, 0, 0, 1000);
	rig_run_to(r, 2000);
	assert_int_equal(rig_state(r, 0, 0), CLIP_RECORD_QUEUED);
	rig_cmd(r, CMD_PRESS, 0, 0, 0, 150000);
	rig_run_to(r, 150100);
	assert_int_equal(rig_state(r, 0, 0),
			 CLIP_PLAY_QUEUED); /* recording, end queued */
	rig_run_to(r, 2 * BAR120 + 3 * BAR120);
	assert_int_equal(event_frame(r, EV_CLIP_STATE, 0, 0, CLIP_RECORDING), BAR120);
	assert_int_equal(event_frame(r, EV_CLIP_STATE, 0, 0, CLIP_PLAYING), 2 * BAR120);

	int64_t len;
	float *clip = clip_copy(r, 0, 0, 0, &len);
	assert_int_equal(len, BAR120);
	for (int64_t i = 0; i < len; i++)
		assert_true(clip[i] == rig_signal(BAR120 + i, 0));
	assert_true(out_l(r, 2 * BAR120 - 1) == 0.0f);
	for (int64_t f = 2 * BAR120; f < r->frames; f++)
		assert_true(out_l(r, f) == clip[(f - 2 * BAR120) % len]);
	free(clip);
	rig_free(r);
}

static void test_latency_compensation(void **state)
{
	(void)state;
	struct engine_config cfg;
	engine_config_defaults(&cfg, 48000);
	cfg.max_period = 64;
	cfg.fade_frames = 0;
	cfg.tempo = 120;
	cfg.latency_frames = 300;
	struct rig *r = rig_new_with(&cfg, NULL, 64);
	rig_cmd(r, CMD_PRESS, 0, 0, 0, 10);
	rig_cmd(r, CMD_PRESS, 0, 0, 0, BAR120 + 10);
	rig_run_to(r, 2 * BAR120 + 100);
	/* The take is complete only once the last input frame arrived. */
	assert_int_equal(rig_count_events(r, EV_RECORD_DONE, -1), 0);
	rig_run_to(r, 2 * BAR120 + 400);
	assert_int_equal(rig_count_events(r, EV_RECORD_DONE, BAR120), 1);
	int64_t len;
	float *clip = clip_copy(r, 0, 0, 0, &len);
	/* What the player played while hearing frame BAR120 arrived 300 later. */
	for (int64_t i = 0; i < len; i++)
		assert_true(clip[i] == rig_signal(BAR120 + 300 + i, 0));
	free(clip);

	/* Overdub input lines up the same way. */
	int64_t od = 2 * BAR120 + 1000;
	rig_run_to(r, od - 64);
	float before[2];
	engine_clip_read(r->e, 0, 0, 0, 1000, before, 2);
	rig_cmd(r, CMD_OVERDUB, 0, 0, 0, od);
	rig_cmd(r, CMD_OVERDUB, 0, 0, 0, od + 10);
	rig_run_to(r, od + 2000);
	float after[2];
	engine_clip_read(r->e, 0, 0, 0, 1000, after, 2);
	/* Clip position 1000 played at frame od; its overdub arrived at od+300. */
	assert_true(after[0] == before[0] + rig_signal(od + 300, 0));
	assert_true(after[1] == before[1] + rig_signal(od + 301, 0));
	rig_free(r);
}

static void test_stereo_track(void **state)
{
	(void)state;
	struct engine_config cfg;
	engine_config_defaults(&cfg, 44100);
	cfg.max_period = 32;
	cfg.fade_frames = 0;
	cfg.input_channels = 4;
	cfg.track_input[3] = (struct track_input){.first_channel = 2, .stereo = 1};
	struct rig *r = rig_new_with(&cfg, NULL, 32);
	assert_non_null(r);
	rig_cmd(r, CMD_PRESS, 3, 9, 0, 7);
	rig_cmd(r, CMD_PRESS, 3, 9, 0, 7 + 44100);
	rig_run_to(r, 3 * 44100);
	assert_int_equal(engine_clip_channels(r->e, 3, 9), 2);
	int64_t len;
	float *l = clip_copy(r, 3, 9, 0, &len), *rr = clip_copy(r, 3, 9, 1, &len);
	for (int64_t i = 0; i < len; i++) {
		assert_true(l[i] == rig_signal(7 + i, 2));
		assert_true(rr[i] == rig_signal(7 + i, 3));
	}
	int64_t f = 7 + 44100 + 1234;
	assert_true(out_l(r, f) == l[1234] && out_r(r, f) == rr[1234]);
	free(l);
	free(rr);
	rig_free(r);
}

static void loop_exact_at(uint32_t rate, uint32_t period)
{
	struct engine_config cfg;
	engine_config_defaults(&cfg, rate);
	cfg.max_period = period;
	cfg.fade_frames = 0;
	cfg.grow_frames = 4 * period > rate / 4 ? 4 * period : rate / 4;
	struct rig *r = rig_new_with(&cfg, NULL, period);
	assert_non_null(r);
	int64_t start = 3, len = rate + 17;
	rig_cmd(r, CMD_PRESS, 7, 9, 0, start);
	rig_cmd(r, CMD_PRESS, 7, 9, 0, start + len);
	rig_run_to(r, start + 3 * len);
	int64_t got;
	float *clip = clip_copy(r, 7, 9, 0, &got);
	assert_int_equal(got, len);
	for (int64_t i = 0; i < len; i++)
		assert_true(clip[i] == rig_signal(start + i, 0));
	for (int64_t f = start + len; f < start + 3 * len; f++)
		assert_true(out_r(r, f) == clip[(f - start - len) % len]);
	free(clip);
	rig_free(r);
}

static void test_rates_and_period_sizes(void **state)
{
	(void)state;
	loop_exact_at(96000, 16);
	loop_exact_at(44100, 2048);
	loop_exact_at(48000, 333);
}

static void test_beat_quantise_and_meter(void **state)
{
	(void)state;
	struct rig *r = rig_new(64, 0, 120);
	rig_cmd(r, CMD_SET_METER, 0, 0, 3, 0); /* 3/4: a bar is 72000 frames */
	rig_cmd(r, CMD_SET_QUANTISE, 0, 0, QUANTISE_BEAT, 0);
	rig_cmd(r, CMD_PRESS, 0, 0, 0, 30000); /* next beat: 48000 */
	rig_cmd(r, CMD_PRESS, 0, 0, 0, 50000); /* whole bars from the start */
	rig_run_to(r, 48000 + 72000 + 64);
	assert_int_equal(event_frame(r, EV_CLIP_STATE, 0, 0, CLIP_RECORDING), 48000);
	assert_int_equal(engine_clip_length(r->e, 0, 0), 72000);
	assert_int_equal(event_frame(r, EV_BAR, -1, 0, 1), 72000);
	/* Quantise off: at the command's own frame. */
	rig_cmd(r, CMD_SET_QUANTISE, 0, 0, QUANTISE_OFF, 130001);
	rig_cmd(r, CMD_PRESS, 0, 0, 0, 130001);
	rig_run_to(r, 131000);
	assert_int_equal(event_frame(r, EV_CLIP_STATE, 0, 0, CLIP_STOPPED), 130001);
	rig_free(r);
}

/* A restored session's settings arrive mid-bar and are the ones in use (the
 * config's): the bar lines stay where they were. A meter of the same value
 * restarted the bar count at the current beat, and every take after it
 * started a beat late (card model seed 209133). A real change still moves
 * them as before. */
static void test_same_meter_and_tempo_move_nothing(void **state)
{
	(void)state;
	struct rig *r = rig_new(64, 0, 120);	     /* 4/4: a bar is 96000 frames */
	rig_cmd(r, CMD_SET_TEMPO, 0, 0, 120, 30000); /* inside beat 1 */
	rig_cmd(r, CMD_SET_METER, 0, 0, 4, 30000);
	rig_cmd(r, CMD_PRESS, 0, 0, 0, 40000); /* the next bar: 96000 */
	rig_cmd(r, CMD_PRESS, 0, 0, 0, 100000);
	rig_run_to(r, 96000 + 96000 + 64);
	assert_int_equal(event_frame(r, EV_CLIP_STATE, 0, 0, CLIP_RECORDING), 96000);
	assert_int_equal(event_frame(r, EV_BAR, -1, 0, 1), 96000);
	assert_int_equal(rig_count_events(r, EV_TEMPO, -1), 0);
	/* 3/4 from inside beat 9 (216000..240000): the count restarts there. */
	rig_cmd(r, CMD_SET_METER, 0, 0, 3, 230000);
	rig_cmd(r, CMD_PRESS, 0, 1, 0, 230000);
	rig_run_to(r, 216000 + 72000 + 64);
	assert_int_equal(event_frame(r, EV_CLIP_STATE, 0, 1, CLIP_RECORDING),
			 216000 + 72000);
	rig_free(r);
}

/* ---- clip states ------------------------------------------------------ */

static void expect_state(struct rig *r, int t, int s, enum clip_state st)
{
	if (rig_state(r, t, s) != st)
		fail_msg("clip %d,%d: state %d, expected %d at frame %lld", t, s,
			 rig_state(r, t, s), st, (long long)engine_now(r->e));
}

static void test_every_press_transition(void **state)
{
	(void)state;
	struct rig *r = rig_new(64, 0, 120);
	int64_t f = 100;
#define PRESS_AND_SEE(st)                                                                \
	do {                                                                             \
		rig_cmd(r, CMD_PRESS, 0, 0, 0, f);                                       \
		f += 128;                                                                \
		rig_run_to(r, f);                                                        \
		expect_state(r, 0, 0, st);                                               \
	} while (0)
	PRESS_AND_SEE(CLIP_RECORD_QUEUED);
	PRESS_AND_SEE(CLIP_EMPTY); /* a second press cancels */
	PRESS_AND_SEE(CLIP_RECORD_QUEUED);
	f = BAR120 + 64;
	rig_run_to(r, f);
	expect_state(r, 0, 0, CLIP_RECORDING);
	PRESS_AND_SEE(CLIP_PLAY_QUEUED); /* recording, ending at the bar line */
	PRESS_AND_SEE(CLIP_PLAY_QUEUED); /* pressing again changes nothing */
	f = 2 * BAR120 + 64;
	rig_run_to(r, f);
	expect_state(r, 0, 0, CLIP_PLAYING);
	PRESS_AND_SEE(CLIP_STOP_QUEUED);
	PRESS_AND_SEE(CLIP_PLAYING); /* cancel the stop */
	PRESS_AND_SEE(CLIP_STOP_QUEUED);
	f = 3 * BAR120 + 64;
	rig_run_to(r, f);
	expect_state(r, 0, 0, CLIP_STOPPED);
	PRESS_AND_SEE(CLIP_PLAY_QUEUED);
	PRESS_AND_SEE(CLIP_STOPPED); /* cancel the launch */
	PRESS_AND_SEE(CLIP_PLAY_QUEUED);
	f = 4 * BAR120 + 64;
	rig_run_to(r, f);
	expect_state(r, 0, 0, CLIP_PLAYING);
	rig_cmd(r, CMD_OVERDUB, 0, 0, 0, f);
	f += 128;
	rig_run_to(r, f);
	expect_state(r, 0, 0, CLIP_OVERDUBBING);
	PRESS_AND_SEE(CLIP_PLAYING); /* a press ends the overdub at once */
#undef PRESS_AND_SEE
	/* Every public change was announced, in order, with its frame. */
	int changes = 0;
	for (int i = 0; i < r->nev; i++)
		if (r->ev[i].type == EV_CLIP_STATE && r->ev[i].track == 0 &&
		    r->ev[i].scene == 0)
			changes++;
	assert_int_equal(changes, 16);
	rig_free(r);
}

/* Records one bar into (t,s) starting at the bar line at `bar` (in bars). */
static void record_bar(struct rig *r, int t, int s, int bar)
{
	rig_cmd(r, CMD_PRESS, t, s, 0, (int64_t)bar * BAR120 - 1000);
	rig_cmd(r, CMD_PRESS, t, s, 0, (int64_t)bar * BAR120 + 1000);
	rig_run_to(r, (int64_t)(bar + 1) * BAR120 + 64);
}

static void test_one_clip_per_track_and_scenes(void **state)
{
	(void)state;
	struct rig *r = rig_new(64, 0, 120);
	record_bar(r, 0, 0, 1); /* playing from bar 2 */
	expect_state(r, 0, 0, CLIP_PLAYING);
	/* Recording another clip on the track stops the playing one. */
	record_bar(r, 0, 1, 3);
	expect_state(r, 0, 0, CLIP_STOPPED);
	expect_state(r, 0, 1, CLIP_PLAYING);
	/* Launching (0,0) stops (0,1) at the same bar line. */
	rig_cmd(r, CMD_PRESS, 0, 0, 0, 5 * BAR120 - 5);
	rig_run_to(r, 5 * BAR120 + 64);
	expect_state(r, 0, 0, CLIP_PLAYING);
	expect_state(r, 0, 1, CLIP_STOPPED);

	/* Scene launch while recording: track 1 records in scene 2 and has a
	 * clip in scene 3. Launching scene 3 ends the take at its bar line
	 * (kept, stopped) and plays (1,3); track 0 has nothing in scene 3 and
	 * stops. */
	record_bar(r, 1, 3, 6);
	expect_state(r, 1, 3, CLIP_PLAYING);
	rig_cmd(r, CMD_PRESS, 1, 2, 0, 8 * BAR120 - 100);
	rig_run_to(r, 8 * BAR120 + 5000);
	expect_state(r, 1, 2, CLIP_RECORDING);
	expect_state(r, 1, 3, CLIP_STOPPED);
	rig_cmd(r, CMD_LAUNCH_SCENE, 0, 3, 0, 8 * BAR120 + 5000);
	rig_run_to(r, 8 * BAR120 + 6000);
	expect_state(r, 1, 2, CLIP_STOP_QUEUED);
	expect_state(r, 1, 3, CLIP_PLAY_QUEUED);
	expect_state(r, 0, 0, CLIP_STOP_QUEUED);
	rig_run_to(r, 9 * BAR120 + 64);
	expect_state(r, 1, 2, CLIP_STOPPED);
	assert_int_equal(engine_clip_length(r->e, 1, 2), BAR120);
	expect_state(r, 1, 3, CLIP_PLAYING);
	expect_state(r, 0, 0, CLIP_STOPPED);

	/* Stop all: at the next bar line. */
	rig_cmd(r, CMD_STOP_ALL, 0, 0, 0, 9 * BAR120 + 100);
	rig_run_to(r, 9 * BAR120 + 200);
	expect_state(r, 1, 3, CLIP_STOP_QUEUED);
	rig_run_to(r, 10 * BAR120 + 64);
	expect_state(r, 1, 3, CLIP_STOPPED);
	for (int64_t f = 10 * BAR120; f < r->frames; f++)
		assert_true(out_l(r, f) == 0.0f);
	rig_free(r);
}

static void test_clear_while_playing(void **state)
{
	(void)state;
	struct rig *r = rig_new(64, 0, 120);
	record_bar(r, 2, 5, 1);
	expect_state(r, 2, 5, CLIP_PLAYING);
	rig_run_to(r, 2 * BAR120 + 10000);
	int64_t at = engine_now(r->e) + 17; /* inside the next period */
	rig_cmd(r, CMD_CLEAR, 2, 5, 0, at);
	rig_run_to(r, at + 1000);
	expect_state(r, 2, 5, CLIP_EMPTY);
	assert_true(out_l(r, at - 1) != 0.0f);
	for (int64_t f = at; f < r->frames; f++)
		assert_true(out_l(r, f) == 0.0f);
	/* The slot records again at once (armed again by the keeper). */
	rig_cmd(r, CMD_SET_QUANTISE, 0, 0, QUANTISE_OFF, at + 2000);
	rig_cmd(r, CMD_PRESS, 2, 5, 0, at + 2000);
	rig_cmd(r, CMD_PRESS, 2, 5, 0, at + 2000 + BAR120);
	rig_run_to(r, at + 2000 + BAR120 + 64);
	int64_t len;
	float *clip = clip_copy(r, 2, 5, 0, &len);
	assert_int_equal(len, BAR120);
	for (int64_t i = 0; i < len; i++)
		assert_true(clip[i] == rig_signal(at + 2000 + i, 0));
	free(clip);
	rig_free(r);
}

static void test_bad_commands_are_reported(void **state)
{
	(void)state;
	struct rig *r = rig_new(64, 0, 0);
	rig_cmd(r, CMD_PRESS, 8, 0, 0, 0);
	rig_cmd(r, CMD_PRESS, 0, 10, 0, 0);
	rig_cmd(r, CMD_SET_TEMPO, 0, 0, 500, 0);
	struct command c = {.type = 200};
	spsc_push(engine_commands(r->e, SOURCE_CONTROLLER), &c);
	rig_run(r, 64);
	assert_int_equal(rig_count_events(r, EV_ERROR, ERR_BAD_COMMAND), 4);
	assert_true(engine_tempo(r->e) == 0);
	rig_free(r);
}

static void test_script_far_ahead_does_not_block_presses(void **state)
{
	(void)state;
	struct rig *r = rig_new(64, 0, 0);
	/* A script fills its queue with commands for much later... */
	for (int i = 0; i < 300; i++)
		rig_cmd(r, CMD_SET_QUANTISE, 0, 0, QUANTISE_OFF, 10000000 + i);
	rig_run(r, 64);
	/* ...and a pad press still lands on its frame. */
	engine_send(r->e, SOURCE_CONTROLLER, CMD_PRESS, 0, 0, 0, 200);
	rig_run_to(r, 1000);
	assert_int_equal(event_frame(r, EV_CLIP_STATE, 0, 0, CLIP_RECORDING), 200);
	rig_free(r);
}

/* ---- overdub and undo ------------------------------------------------- */

static void test_overdub_sums_and_undo_restores_exactly(void **state)
{
	(void)state;
	struct rig *r = rig_new(64, 0, 120);
	record_bar(r, 0, 0, 1); /* launch = 2 bars */
	const int64_t launch = 2 * BAR120, L = BAR120;
	int64_t len;
	float *orig = clip_copy(r, 0, 0, 0, &len);
	assert_int_equal(len, L);

	/* One and a half loops of overdub: positions covered twice get both. */
	int64_t od0 = launch + 12345, od1 = od0 + L + L / 2;
	rig_cmd(r, CMD_OVERDUB, 0, 0, 0, od0);
	rig_cmd(r, CMD_OVERDUB, 0, 0, 0, od1);
	rig_run_to(r, od1 + 64);
	assert_int_equal(rig_count_events(r, EV_OVERDUB_DONE, -1), 1);
	float *want = malloc((size_t)L * sizeof(float));
	memcpy(want, orig, (size_t)L * sizeof(float));
	for (int64_t t = od0; t < od1; t++)
		want[(t - launch) % L] += rig_signal(t, 0);
	float *dubbed = clip_copy(r, 0, 0, 0, &len);
	assert_memory_equal(dubbed, want, (size_t)L * sizeof(float));

	/* Undo: the exact audio from before the pass, and from the next frame
	 * on that is what plays. */
	int64_t u = od1 + 3000 + 21;
	rig_cmd(r, CMD_UNDO, 0, 0, 0, u);
	rig_run_to(r, u + 2 * L);
	float *undone = clip_copy(r, 0, 0, 0, &len);
	assert_memory_equal(undone, orig, (size_t)L * sizeof(float));
	for (int64_t f = u; f < u + L; f++)
		assert_true(out_l(r, f) == orig[(f - launch) % L]);
	/* Redo brings the pass back; a second undo takes it away again. */
	rig_cmd(r, CMD_REDO, 0, 0, 0, engine_now(r->e));
	rig_run(r, 4096);
	float *redone = clip_copy(r, 0, 0, 0, &len);
	assert_memory_equal(redone, want, (size_t)L * sizeof(float));
	rig_cmd(r, CMD_UNDO, 0, 0, 0, engine_now(r->e));
	rig_run(r, 4096);
	free(undone);
	undone = clip_copy(r, 0, 0, 0, &len);
	assert_memory_equal(undone, orig, (size_t)L * sizeof(float));

	/* Undo in the middle of a pass ends it and undoes what it wrote. */
	int64_t p0 = engine_now(r->e) + 10;
	rig_cmd(r, CMD_OVERDUB, 0, 0, 0, p0);
	rig_cmd(r, CMD_UNDO, 0, 0, 0, p0 + 5000);
	rig_run(r, 10000);
	expect_state(r, 0, 0, CLIP_PLAYING);
	free(undone);
	undone = clip_copy(r, 0, 0, 0, &len);
	assert_memory_equal(undone, orig, (size_t)L * sizeof(float));
	free(orig);
	free(want);
	free(dubbed);
	free(undone);
	free(redone);
	rig_free(r);
}

/* ---- fades ------------------------------------------------------------ */

static void test_fades_at_seams_and_stops(void **state)
{
	(void)state;
	const int F = 48;
	struct rig *r = rig_new(64, F, 120);
	record_bar(r, 0, 0, 1);
	const int64_t launch = 2 * BAR120, L = BAR120;
	int64_t len;
	float *clip = clip_copy(r, 0, 0, 0, &len);
	/* The stored take is not faded. */
	for (int64_t i = 0; i < L; i++)
		assert_true(clip[i] == rig_signal(BAR120 + i, 0));
	rig_run_to(r, launch + 2 * L + 64);
	/* Volume starts at 0 on a launch and at every seam, rises over F. */
	for (int loop = 0; loop < 2; loop++) {
		int64_t s = launch + loop * L;
		for (int i = 0; i < F; i++)
			assert_float_equal(out_l(r, s + i), clip[i] * (float)i / F, 1e-7);
		for (int i = 1; i <= F; i++)
			assert_float_equal(out_l(r, s - i),
					   loop ? clip[L - i] * (float)i / F : 0.0f,
					   1e-7);
		assert_true(out_l(r, s + F + 10) == clip[F + 10]);
	}
	/* Stop: from the bar line down to silence within F frames. */
	rig_cmd(r, CMD_STOP_CLIP, 0, 0, 0, engine_now(r->e));
	int64_t stop = launch + 3 * L;
	rig_run_to(r, stop + 1000);
	for (int i = 0; i < F; i++)
		assert_float_equal(out_l(r, stop + i),
				   clip[i] * (float)i / F * (float)(F - i) / F, 1e-7);
	for (int64_t f = stop + F; f < r->frames; f++)
		assert_true(out_l(r, f) == 0.0f);
	free(clip);
	rig_free(r);
}

static void test_clear_declicks(void **state)
{
	(void)state;
	const int F = 48;
	struct rig *r = rig_new(64, F, 120);
	record_bar(r, 0, 0, 1);
	int64_t at = 2 * BAR120 + 5000;
	rig_cmd(r, CMD_CLEAR, 0, 0, 0, at);
	rig_run_to(r, at + 200);
	float last = out_l(r, at - 1);
	assert_true(fabsf(last) > 0);
	/* A ramp from the last value down to nothing, no jump. */
	for (int i = 0; i < F; i++)
		assert_float_equal(out_l(r, at + i), last * (float)(F - i) / F, 1e-6);
	assert_true(out_l(r, at + F) == 0.0f);
	rig_free(r);
}

static void test_track_volume_mute_master_monitor(void **state)
{
	(void)state;
	struct rig *r = rig_new(64, 0, 120);
	record_bar(r, 0, 0, 1);
	int64_t f = 2 * BAR120 + 640;
	rig_cmd(r, CMD_TRACK_VOLUME, 0, 0, 0.5f, f);
	rig_cmd(r, CMD_MASTER_VOLUME, 0, 0, 0.5f, f + 64);
	rig_cmd(r, CMD_MUTE, 0, 0, 1, f + 128);
	rig_cmd(r, CMD_MUTE, 0, 0, 0, f + 192);
	rig_cmd(r, CMD_MONITOR, 1, 0, 1, f + 256);
	rig_run_to(r, f + 512);
	int64_t len;
	float *clip = clip_copy(r, 0, 0, 0, &len);
	float c = clip[f + 10 - 2 * BAR120];
	assert_true(out_l(r, f + 10) == c * 0.5f);
	assert_true(out_l(r, f + 74) ==
		    c * 0.5f * 0.5f * 0 + clip[f + 74 - 2 * BAR120] * 0.25f);
	assert_true(out_l(r, f + 130) == 0.0f);
	assert_true(out_l(r, f + 200) == clip[f + 200 - 2 * BAR120] * 0.25f);
	/* Monitoring adds track 1's input (channel 0 here) at its volume. */
	assert_true(out_l(r, f + 300) ==
		    (clip[f + 300 - 2 * BAR120] * 0.5f + rig_signal(f + 300, 0)) * 0.5f);
	free(clip);
	rig_free(r);
}

static void test_metronome_clicks_on_beats(void **state)
{
	(void)state;
	struct rig *r = rig_new(64, 0, 120);
	rig_cmd(r, CMD_METRONOME, 0, 0, 1, 0);
	rig_run_to(r, 2 * BAR120);
	for (int beat = 1; beat < 8; beat++) {
		int64_t b = beat * 24000;
		assert_true(out_l(r, b - 1) == 0.0f);
		assert_true(fabsf(out_l(r, b + 5)) > 0.01f);
	}
	rig_cmd(r, CMD_METRONOME, 0, 0, 0, engine_now(r->e));
	rig_run(r, BAR120);
	for (int64_t f = 2 * BAR120 + 24000; f < r->frames; f++)
		assert_true(out_l(r, f) == 0.0f);
	rig_free(r);
}

/* ---- memory ----------------------------------------------------------- */

static void test_waste_bounded_and_tail_trimmed(void **state)
{
	(void)state;
	struct engine_config cfg;
	engine_config_defaults(&cfg, 48000);
	cfg.max_period = 64;
	cfg.fade_frames = 0;
	cfg.grow_frames = 48000;
	struct rig *r = rig_new_with(&cfg, NULL, 64);
	rig_cmd(r, CMD_PRESS, 0, 0, 0, 0);
	int64_t most = 0;
	for (int i = 0; i < 10 * 48000 / 64; i++) {
		rig_run(r, 64);
		int64_t w = engine_unused_recording_bytes(r->e);
		most = w > most ? w : most;
	}
	/* Under two increments (clipmem_record_lead_frames). */
	assert_true(most < 2 * 48000 * (int64_t)sizeof(float));
	assert_true(most > 0);
	int64_t len = 10 * 48000 + 4321;
	rig_cmd(r, CMD_PRESS, 0, 0, 0, len);
	rig_run_to(r, len + 128);
	assert_int_equal(engine_clip_length(r->e, 0, 0), len);
	uint64_t bytes = keeper_clip_bytes(r->k, 0, 0);
	long page = sysconf(_SC_PAGESIZE);
	assert_true(bytes >= (uint64_t)len * sizeof(float));
	assert_true(bytes - (uint64_t)len * sizeof(float) < (uint64_t)page);
	rig_free(r);
}

static void test_out_of_memory_stops_recording_cleanly(void **state)
{
	(void)state;
	struct engine_config cfg;
	engine_config_defaults(&cfg, 48000);
	cfg.max_period = 64;
	cfg.fade_frames = 0;
	cfg.grow_frames = 4096; /* 3072-frame chunks */
	struct keeper_config kc;
	keeper_config_defaults(&kc);
	kc.lock_memory = false;
	uint64_t mapped = rig_keeper_mapped(&cfg, &kc);

	/* Room for the armed slots and three more chunks, nothing else. */
	kc.memory_limit = mapped + 3 * 12288 + 100;
	struct rig *r = rig_new_with(&cfg, &kc, 64);
	rig_cmd(r, CMD_PRESS, 4, 0, 0, 0);
	rig_run(r, 48000);
	assert_int_equal(rig_count_events(r, EV_ERROR, ERR_OUT_OF_MEMORY), 1);
	/* It kept what it had (4 chunks) and plays it as a loop. */
	expect_state(r, 4, 0, CLIP_PLAYING);
	int64_t len;
	float *clip = clip_copy(r, 4, 0, 0, &len);
	assert_int_equal(len, 4 * 3072);
	for (int64_t i = 0; i < len; i++)
		assert_true(clip[i] == rig_signal(i, 0));
	/* 0.256 s is too short for a 4/4 bar at 300 BPM: no tempo, said so. */
	assert_true(engine_tempo(r->e) == 0);
	assert_int_equal(rig_count_events(r, EV_ERROR, ERR_LOOP_TOO_SHORT), 1);
	/* Audio goes on: the loop is heard. */
	int64_t f = r->frames - 100;
	int64_t end = event_frame(r, EV_CLIP_STATE, 4, 0, CLIP_PLAYING);
	assert_true(end >= 0);
	assert_true(out_l(r, f) == clip[(f - len) % len]);
	free(clip);
	rig_free(r);
}

static void test_late_keeper_stops_recording_cleanly(void **state)
{
	(void)state;
	struct rig *r = rig_new(64, 0, 0);
	rig_cmd(r, CMD_PRESS, 1, 1, 0, 0);
	r->keeper_paused = true;
	rig_run(r, 10000);
	assert_int_equal(rig_count_events(r, EV_ERROR, ERR_MEMORY_LATE), 1);
	expect_state(r, 1, 1, CLIP_PLAYING);
	assert_int_equal(engine_clip_length(r->e, 1, 1), 768);
	r->keeper_paused = false;
	rig_run(r, 64);
	rig_free(r);
}

/* ---- issue 9: latency, first loop, overdub audibility, fade-ins --------- */

static int64_t first_audible(struct rig *r, int track, int64_t from)
{
	for (int64_t f = from; f < r->frames; f++)
		if (r->out[2 * f] != 0.0f)
			return f;
	(void)track;
	return -1;
}

/* One bar recorded at bar 1 with a round trip of lat frames: the loop plays
 * from bar 2 in phase, silent until the pass whose input is all in, then
 * the take exactly (seam fades only), and no chunk never given is read. */
static void latency_vs_loop(uint32_t lat, uint32_t beats, double tempo, uint32_t period,
			    uint32_t grow, uint32_t fade)
{
	struct engine_config cfg;
	engine_config_defaults(&cfg, 48000);
	cfg.max_period = period;
	cfg.fade_frames = fade;
	cfg.grow_frames = grow;
	cfg.latency_frames = lat;
	cfg.tempo = tempo;
	cfg.beats_per_bar = beats;
	struct rig *r = rig_new_with(&cfg, NULL, period);
	assert_non_null(r);
	const int64_t L = llround(60.0 * 48000 * beats / tempo);
	const int64_t start = L, launch = 2 * L;
	rig_cmd(r, CMD_PRESS, 0, 0, 0, 10);
	rig_cmd(r, CMD_PRESS, 0, 0, 0, L + 10);
	int64_t passes = (lat + L - 1) / L; /* silent ones: ceil(lat / L) - 1 */
	int64_t heard = start + (passes > 1 ? passes : 1) * L;
	rig_run_to(r, heard + 2 * L + period);
	assert_int_equal(rig_count_events(r, EV_RECORD_DONE, L), 1);
	int64_t len;
	float *clip = clip_copy(r, 0, 0, 0, &len);
	assert_int_equal(len, L);
	for (int64_t i = 0; i < L; i++)
		if (clip[i] != rig_signal(start + lat + i, 0))
			fail_msg("lat %u: take frame %lld differs", lat, (long long)i);
	int64_t F = fade > L / 2 ? L / 2 : fade;
	for (int64_t f = launch - 1; f < heard + 2 * L; f++) {
		int64_t pos = (f - launch) % L;
		float g = 1.0f;
		if (F && pos < F)
			g = (float)pos / (float)F;
		else if (F && L - pos < F)
			g = (float)(L - pos) / (float)F;
		float want = f < heard ? 0.0f : clip[pos] * g;
		if (fabsf(out_l(r, f) - want) > 1e-6f)
			fail_msg(
			    "lat %u, loop %lld, period %u: frame %lld (pos %lld) is %g, "
			    "expected %g",
			    lat, (long long)L, period, (long long)f, (long long)pos,
			    out_l(r, f), want);
	}
	assert_true(first_audible(r, 0, launch) >= heard);
	free(clip);
	rig_free(r);
}

static void test_latency_longer_than_the_loop(void **state)
{
	(void)state;
	/* The cases: -l 65536, one bar at 240 BPM (48000 frames, two
	 * 35840-frame chunks); -l 12288 with 0.2 s growth, a 9600-frame loop. */
	latency_vs_loop(65536, 4, 240, 256, 48000, 0);
	latency_vs_loop(12288, 1, 300, 256, 9600, 144);
	/* Around whole loops, and a latency below one. */
	const uint32_t L = 9600;
	const uint32_t lats[] = {0, 1, L - 1, L, L + 1, 2 * L + 5, GL_LATENCY_MAX};
	for (unsigned i = 0; i < sizeof(lats) / sizeof(lats[0]); i++)
		latency_vs_loop(lats[i], 1, 300, i % 2 ? 64 : 333, 4 * 333, 48);
}

/* An overdub pass is heard from the next pass over each position on, never
 * while it is recorded: a model applies each input frame t of the pass only
 * once output frame t - latency (the one the player heard while playing it)
 * is out, and every output frame must be the model's clip. */
static void overdub_heard_next_pass(uint32_t lat, uint32_t period)
{
	struct engine_config cfg;
	engine_config_defaults(&cfg, 48000);
	cfg.max_period = period;
	cfg.fade_frames = 0;
	cfg.grow_frames = 4 * period > 1024 ? 4 * period : 1024;
	cfg.latency_frames = lat;
	cfg.tempo = 300;
	cfg.beats_per_bar = 1; /* a 9600-frame bar */
	struct rig *r = rig_new_with(&cfg, NULL, period);
	assert_non_null(r);
	const int64_t L = 9600, launch = 2 * L;
	rig_cmd(r, CMD_PRESS, 0, 0, 0, 10);
	rig_cmd(r, CMD_PRESS, 0, 0, 0, L + 10);
	const int64_t od0 = launch + L + 1234 + lat, od1 = od0 + L + L / 2 + 77;
	rig_cmd(r, CMD_OVERDUB, 0, 0, 0, od0);
	rig_cmd(r, CMD_OVERDUB, 0, 0, 0, od1);
	rig_run_to(r, od1 + lat + 2 * L);
	int64_t len;
	float *model = clip_copy(r, 0, 0, 0, &len); /* after the pass... */
	/* ...and before it: take the pass out again, input by input. */
	const int64_t in0 = od0 + lat, in1 = od1 + lat;
	float *orig = malloc((size_t)L * sizeof(float));
	for (int64_t p = 0; p < L; p++)
		orig[p] = rig_signal(L + lat + p, 0);
	memcpy(model, orig, (size_t)L * sizeof(float));
	int64_t next = in0;
	for (int64_t g = launch; g < r->frames; g++) {
		while (next < in1 && next < g + lat) {
			model[pos_mod(next - lat - launch, L)] += rig_signal(next, 0);
			next++;
		}
		float want = model[pos_mod(g - launch, L)];
		if (out_l(r, g) != want)
			fail_msg("latency %u, period %u: frame %lld (%lld into the pass) "
				 "is %g, expected %g",
				 lat, period, (long long)g, (long long)(g - od0),
				 out_l(r, g), want);
	}
	free(orig);
	free(model);
	rig_free(r);
}

static void test_overdub_not_heard_while_recorded(void **state)
{
	(void)state;
	const uint32_t periods[] = {16, 256, 333, 2048};
	const uint32_t lats[] = {0, 1, 100, 255, 256, 257, 4000};
	for (unsigned p = 0; p < sizeof(periods) / sizeof(periods[0]); p++)
		for (unsigned l = 0; l < sizeof(lats) / sizeof(lats[0]); l++)
			overdub_heard_next_pass(lats[l], periods[p]);
}

/* Quantise off: a take ended 500 frames after its bar line keeps the bar
 * (the loop's phase) and starts at loop frame 500: faded in, not at full
 * level. */
static void test_start_off_the_seam_fades_in(void **state)
{
	(void)state;
	const int F = 48;
	struct rig *r = rig_new(64, F, 120);
	rig_cmd(r, CMD_SET_QUANTISE, 0, 0, QUANTISE_OFF, 0);
	const int64_t start = 1000, press = start + BAR120 + 500;
	rig_cmd(r, CMD_PRESS, 0, 0, 0, start);
	rig_cmd(r, CMD_PRESS, 0, 0, 0, press);
	rig_run_to(r, press + 2 * BAR120);
	assert_int_equal(engine_clip_length(r->e, 0, 0), BAR120);
	assert_int_equal(event_frame(r, EV_CLIP_STATE, 0, 0, CLIP_PLAYING), press);
	int64_t len;
	float *clip = clip_copy(r, 0, 0, 0, &len);
	assert_true(out_l(r, press - 1) == 0.0f);
	for (int i = 0; i < 2 * F; i++) {
		float g = i < F ? (float)i / F : 1.0f;
		assert_float_equal(out_l(r, press + i), clip[500 + i] * g, 1e-6);
	}
	/* The loop's own seams are where the bar lines are. */
	int64_t seam = start + 2 * BAR120;
	assert_float_equal(out_l(r, seam + 10), clip[10] * 10.0f / F, 1e-6);
	free(clip);
	rig_free(r);
}

/* A take stopped early for memory ends behind the frame it stops at: it too
 * starts off its seam, faded in. */
static void test_start_after_out_of_memory_fades_in(void **state)
{
	(void)state;
	const int F = 48;
	struct engine_config cfg;
	engine_config_defaults(&cfg, 48000);
	cfg.max_period = 64;
	cfg.fade_frames = F;
	cfg.grow_frames = 4096; /* 3072-frame chunks */
	cfg.tempo = 300;
	cfg.beats_per_bar = 1; /* 9600-frame bars: whole bars of what is there */
	struct keeper_config kc;
	keeper_config_defaults(&kc);
	kc.lock_memory = false;
	uint64_t mapped = rig_keeper_mapped(&cfg, &kc);
	kc.memory_limit = mapped + 4 * 12288 + 100; /* 5 chunks: 15360 */
	struct rig *r = rig_new_with(&cfg, &kc, 64);
	rig_cmd(r, CMD_PRESS, 4, 0, 0, 100); /* records from bar 1: 9600 */
	rig_run_to(r, 9600 + 4 * 9600);
	assert_int_equal(rig_count_events(r, EV_ERROR, ERR_OUT_OF_MEMORY), 1);
	assert_int_equal(engine_clip_length(r->e, 4, 0), 9600);
	int64_t on = event_frame(r, EV_CLIP_STATE, 4, 0, CLIP_PLAYING);
	assert_true(on > 2 * 9600); /* stopped at 15360, the bar ended at 19200 */
	int64_t len;
	float *clip = clip_copy(r, 4, 0, 0, &len);
	int64_t launch = 2 * 9600;
	assert_true(out_l(r, on - 1) == 0.0f);
	for (int i = 0; i < 2 * F; i++) {
		int64_t pos = (on + i - launch) % len;
		float g = i < F ? (float)i / F : 1.0f;
		assert_float_equal(out_l(r, on + i), clip[pos] * g, 1e-6);
	}
	free(clip);
	rig_free(r);
}

/* Commands with NaN or out-of-range values change nothing. */
static void test_nan_and_out_of_range_values_refused(void **state)
{
	(void)state;
	struct rig *r = rig_new(64, 0, 120);
	rig_cmd(r, CMD_SET_TEMPO, 0, 0, NAN, 0);
	rig_cmd(r, CMD_SET_METER, 0, 0, NAN, 0);
	rig_cmd(r, CMD_SET_METER, 0, 0, 17, 0);
	rig_cmd(r, CMD_SET_TEMPO, 0, 0, 29.99f, 0);
	rig_cmd(r, CMD_TRACK_VOLUME, 0, 0, NAN, 0);
	rig_cmd(r, CMD_MASTER_VOLUME, 0, 0, NAN, 0);
	rig_cmd(r, CMD_REQUEST, 0, 0, NAN, 0);
	rig_cmd(r, CMD_REQUEST, 0, 0, 1e30f, 0);
	rig_cmd(r, CMD_REQUEST, 0, 0, REQUEST_SAVE, 0);
	rig_run(r, 64);
	assert_int_equal(rig_count_events(r, EV_ERROR, ERR_BAD_COMMAND), 6);
	assert_int_equal(rig_count_events(r, EV_REQUEST, REQUEST_SAVE), 1);
	assert_int_equal(rig_count_events(r, EV_REQUEST, -1), 1);
	assert_true(engine_tempo(r->e) == 120);
	assert_int_equal(engine_beats_per_bar(r->e), 4);
	record_bar(r, 0, 0, 1);
	rig_run(r, 4096);
	for (int64_t f = 0; f < r->frames; f++)
		assert_true(isfinite(out_l(r, f)) && out_l(r, f) == 0.0f);
	rig_free(r);
	struct engine_config cfg;
	engine_config_defaults(&cfg, 48000);
	cfg.tempo = NAN;
	assert_null(engine_create(&cfg, NULL));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_transport_grid_exact),
	    cmocka_unit_test(test_tap_tempo),
	    cmocka_unit_test(test_recording_exact_across_hundreds_of_regrows),
	    cmocka_unit_test(test_tempo_from_first_loop),
	    cmocka_unit_test(test_quantised_start_mid_period_is_frame_exact),
	    cmocka_unit_test(test_latency_compensation),
	    cmocka_unit_test(test_stereo_track),
	    cmocka_unit_test(test_rates_and_period_sizes),
	    cmocka_unit_test(test_beat_quantise_and_meter),
	    cmocka_unit_test(test_same_meter_and_tempo_move_nothing),
	    cmocka_unit_test(test_every_press_transition),
	    cmocka_unit_test(test_one_clip_per_track_and_scenes),
	    cmocka_unit_test(test_clear_while_playing),
	    cmocka_unit_test(test_bad_commands_are_reported),
	    cmocka_unit_test(test_script_far_ahead_does_not_block_presses),
	    cmocka_unit_test(test_overdub_sums_and_undo_restores_exactly),
	    cmocka_unit_test(test_fades_at_seams_and_stops),
	    cmocka_unit_test(test_clear_declicks),
	    cmocka_unit_test(test_track_volume_mute_master_monitor),
	    cmocka_unit_test(test_metronome_clicks_on_beats),
	    cmocka_unit_test(test_waste_bounded_and_tail_trimmed),
	    cmocka_unit_test(test_out_of_memory_stops_recording_cleanly),
	    cmocka_unit_test(test_late_keeper_stops_recording_cleanly),
	    cmocka_unit_test(test_latency_longer_than_the_loop),
	    cmocka_unit_test(test_overdub_not_heard_while_recorded),
	    cmocka_unit_test(test_start_off_the_seam_fades_in),
	    cmocka_unit_test(test_start_after_out_of_memory_fades_in),
	    cmocka_unit_test(test_nan_and_out_of_range_values_refused),
	};
	if (getenv("GL_TEST_FILTER")) /* one test by hand: GL_TEST_FILTER=test_x */
		cmocka_set_test_filter(getenv("GL_TEST_FILTER"));
	return cmocka_run_group_tests(tests, NULL, NULL);
}
