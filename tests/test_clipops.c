/* test_clipops.c -- mute per clip, one-shot and retrigger: what is heard,
 * frame by frame, against the stored take (which none of them changes).
 * Every period runs under the real-time guard's marks (engine_rig.h).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <cmocka.h>
#include <math.h>

#include "engine_internal.h"
#include "engine_rig.h"

#define LOOP 12000

static struct rig *ops_rig(uint32_t fade)
{
	struct engine_config cfg;
	rig_loop_config(&cfg, fade, 0);
	struct rig *r = rig_new_with(&cfg, NULL, 64);
	assert_non_null(r);
	rig_record_loop(r, 100, LOOP);
	return r;
}

static const int64_t launch = 100 + LOOP;

static float *clip_now(struct rig *r)
{
	return rig_clip_now(r, LOOP);
}

static const struct event *find_setting(struct rig *r, int aux)
{
	for (int i = 0; i < r->nev; i++)
		if (r->ev[i].type == EV_SETTING && r->ev[i].aux == aux)
			return &r->ev[i];
	return NULL;
}

/* Mute glides the clip's playback to silence over a fade and back; the
 * take is untouched; a mute on an empty slot is no mute at all. */
static void test_clip_mute_glides(void **state)
{
	(void)state;
	const uint32_t fade = 144;
	struct rig *r = ops_rig(fade);
	float *take = clip_now(r);
	int64_t m = engine_now(r->e) + 500, u = m + 5000;
	r->nev = 0;
	rig_cmd(r, CMD_CLIP_MUTE, 0, 0, 1, m);
	rig_cmd(r, CMD_CLIP_MUTE, 0, 0, 0, u);
	rig_run_to(r, u + 3000);
	const struct event *ev = find_setting(r, CMD_CLIP_MUTE);
	assert_non_null(ev);
	assert_int_equal(ev->track, 0);
	assert_int_equal(ev->scene, 0);
	assert_int_equal(ev->value, 1000000);
	for (int64_t f = m - 100; f < u + 2000; f++) {
		float s = take[(f - launch) % LOOP];
		float want = 1.0f; /* the mute's gain at f */
		if (f >= m)
			want = f - m + 1 >= (int64_t)fade
				   ? 0.0f
				   : 1.0f - (float)(f - m + 1) / fade;
		if (f >= u)
			want =
			    f - u + 1 >= (int64_t)fade ? 1.0f : (float)(f - u + 1) / fade;
		if (fabsf(r->out[2 * f] - s * want) > 1e-5f)
			fail_msg("frame %lld: %g, want %g x %g", (long long)(f - m),
				 r->out[2 * f], s, want);
	}
	float *after = clip_now(r);
	assert_memory_equal(after, take, LOOP * sizeof(float));
	/* On an empty slot: nothing, no event. */
	r->nev = 0;
	rig_cmd(r, CMD_CLIP_MUTE, 3, 3, 1, engine_now(r->e));
	rig_run(r, 64);
	assert_null(find_setting(r, CMD_CLIP_MUTE));
	assert_false(r->e->clips[3 * GL_TRACKS + 3].muted);
	/* A muted take stays muted when relaunched; a clear unmutes the slot. */
	rig_cmd(r, CMD_CLIP_MUTE, 0, 0, 1, engine_now(r->e));
	rig_cmd(r, CMD_TRIGGER, 0, 0, 0, engine_now(r->e) + 64);
	rig_run(r, 2000);
	for (int64_t f = engine_now(r->e) - 1000; f < engine_now(r->e); f++)
		assert_true(r->out[2 * f] == 0);
	/* Muted, stopped: its stop's fade-out stays silent (no burst of the
	 * muted clip while it fades). */
	rig_cmd(r, CMD_STOP_CLIP, 0, 0, 0, engine_now(r->e));
	rig_run(r, 640);
	for (int64_t f = engine_now(r->e) - 640; f < engine_now(r->e); f++)
		assert_true(r->out[2 * f] == 0);
	rig_cmd(r, CMD_CLEAR, 0, 0, 0, engine_now(r->e));
	rig_cmd(r, CMD_UNDO, 0, 0, 0, engine_now(r->e));
	rig_run(r, 64);
	assert_true(r->e->clips[0].muted); /* the take came back as it was */
	free(take);
	free(after);
	rig_free(r);
}

/* One-shot: from the top at the press, once, then stopped; a retrigger
 * restarts from the top and goes on looping. */
static void test_oneshot_and_trigger(void **state)
{
	(void)state;
	struct rig *r = ops_rig(0);
	float *take = clip_now(r);
	rig_cmd(r, CMD_STOP_CLIP, 0, 0, 0, engine_now(r->e));
	rig_run(r, 640);
	assert_int_equal(engine_clip_state(r->e, 0, 0), CLIP_STOPPED);
	int64_t o = engine_now(r->e) + 333;
	rig_cmd(r, CMD_ONESHOT, 0, 0, 0, o);
	rig_run_to(r, o + LOOP / 2);
	assert_int_equal(engine_clip_state(r->e, 0, 0), CLIP_STOP_QUEUED);
	rig_run_to(r, o + LOOP + 3000);
	assert_int_equal(engine_clip_state(r->e, 0, 0), CLIP_STOPPED);
	for (int64_t i = 0; i < LOOP; i++)
		if (r->out[2 * (o + i)] != take[i])
			fail_msg("one-shot frame %lld differs", (long long)i);
	for (int64_t f = o + LOOP; f < o + LOOP + 3000; f++)
		assert_true(r->out[2 * f] == 0);

	/* A one-shot on a playing clip restarts it, once. */
	rig_cmd(r, CMD_PRESS, 0, 0, 0, engine_now(r->e));
	rig_run(r, 5000);
	int64_t o2 = engine_now(r->e) + 10;
	rig_cmd(r, CMD_ONESHOT, 0, 0, 0, o2);
	rig_run_to(r, o2 + LOOP + 1000);
	assert_int_equal(engine_clip_state(r->e, 0, 0), CLIP_STOPPED);
	for (int64_t i = 0; i < LOOP; i++)
		assert_true(r->out[2 * (o2 + i)] == take[i]);

	/* Retrigger: from the top, and it keeps looping. */
	rig_cmd(r, CMD_PRESS, 0, 0, 0, engine_now(r->e));
	rig_run(r, 7000);
	int64_t t = engine_now(r->e) + 21;
	rig_cmd(r, CMD_TRIGGER, 0, 0, 0, t);
	rig_run_to(r, t + 3 * LOOP);
	assert_int_equal(engine_clip_state(r->e, 0, 0), CLIP_PLAYING);
	for (int64_t i = 0; i < 2 * LOOP; i++)
		if (r->out[2 * (t + i)] != take[i % LOOP])
			fail_msg("retrigger frame %lld differs", (long long)i);
	/* A press while a one-shot plays cancels its stop: it loops on. */
	int64_t o3 = engine_now(r->e) + 10;
	rig_cmd(r, CMD_ONESHOT, 0, 0, 0, o3);
	rig_cmd(r, CMD_PRESS, 0, 0, 0, o3 + 1000);
	rig_run_to(r, o3 + 2 * LOOP);
	assert_int_equal(engine_clip_state(r->e, 0, 0), CLIP_PLAYING);
	/* Quantised: a trigger waits for the bar line. */
	rig_cmd(r, CMD_SET_TEMPO, 0, 0, 120, engine_now(r->e));
	rig_cmd(r, CMD_SET_QUANTISE, 0, 0, QUANTISE_BAR, engine_now(r->e));
	rig_run(r, 64);
	int64_t press = engine_now(r->e) + 5;
	rig_cmd(r, CMD_TRIGGER, 0, 0, 0, press);
	rig_run(r, 128);
	assert_int_equal(engine_clip_state(r->e, 0, 0), CLIP_PLAY_QUEUED);
	assert_true(r->e->clips[0].queued_at > press);
	free(take);
	rig_free(r);
}

/* On a clip with no final take, one-shot and trigger do nothing. */
static void test_oneshot_trigger_without_a_take(void **state)
{
	(void)state;
	struct rig *r = ops_rig(0);
	rig_cmd(r, CMD_ONESHOT, 1, 0, 0, engine_now(r->e));
	rig_cmd(r, CMD_TRIGGER, 1, 1, 0, engine_now(r->e));
	rig_cmd(r, CMD_PRESS, 2, 0, 0, engine_now(r->e));
	rig_run(r, 640);
	rig_cmd(r, CMD_TRIGGER, 2, 0, 0, engine_now(r->e));
	rig_cmd(r, CMD_ONESHOT, 2, 0, 0, engine_now(r->e));
	rig_run(r, 640);
	assert_int_equal(engine_clip_state(r->e, 1, 0), CLIP_EMPTY);
	assert_int_equal(engine_clip_state(r->e, 1, 1), CLIP_EMPTY);
	assert_int_equal(engine_clip_state(r->e, 2, 0), CLIP_RECORDING);
	assert_int_equal(engine_clip_state(r->e, 0, 0), CLIP_PLAYING);
	rig_free(r);
}

/* Count-in: a record press waits for the next bar line, then one bar of
 * click (metronome off), and the take starts at the end of it. */
static void test_countin(void **state)
{
	(void)state;
	const int64_t BAR = 96000, BEAT = 24000; /* 120 BPM, 4/4 */
	for (int on = 0; on < 2; on++) {
		struct engine_config cfg;
		engine_config_defaults(&cfg, 48000);
		cfg.max_period = 64;
		cfg.fade_frames = 0;
		cfg.tempo = 120;
		cfg.grow_frames = 4096;
		struct rig *r = rig_new_with(&cfg, NULL, 64);
		rig_cmd(r, CMD_COUNTIN, 0, 0, (float)on, 0);
		rig_cmd(r, CMD_PRESS, 0, 0, 0, 1000);
		rig_run_to(r, 3 * BAR + 1000);
		int64_t start = on ? 2 * BAR : BAR;
		assert_int_equal(r->e->clips[0].rec_start, start);
		assert_int_equal(engine_clip_state(r->e, 0, 0), CLIP_RECORDING);
		/* Clicks on the count-in bar's beats only. */
		for (int64_t b = 0; b < 3 * BAR; b += BEAT) {
			float peak = 0;
			for (int64_t f = b; f < b + 1000; f++)
				peak = fabsf(r->out[2 * f]) > peak ? fabsf(r->out[2 * f])
								   : peak;
			bool want = on && b >= BAR && b < 2 * BAR;
			if (want != (peak > 0.1f))
				fail_msg("count-in %d: beat at %lld peaks %g", on,
					 (long long)b, peak);
		}
		rig_free(r);
	}
	/* Without a tempo there is no bar to count: the take starts at once. */
	struct rig *r = ops_rig(0);
	rig_cmd(r, CMD_COUNTIN, 0, 0, 1, engine_now(r->e));
	int64_t p = engine_now(r->e) + 10;
	rig_cmd(r, CMD_PRESS, 1, 0, 0, p);
	rig_run(r, 640);
	assert_int_equal(r->e->clips[1].rec_start, p);
	rig_free(r);
}

/* The click on its own outputs: not in the mix, in its buffer, at its own
 * volume and without the master's; in the mix (default) at its volume. */
static void test_click_out(void **state)
{
	(void)state;
	const int64_t N = 48000;
	float peak_mix[2] = {0, 0}, peak_own = 0;
	for (int own = 0; own < 2; own++) {
		struct engine_config cfg;
		engine_config_defaults(&cfg, 48000);
		cfg.max_period = 64;
		cfg.tempo = 120;
		cfg.metronome = true;
		cfg.click_volume = own ? 0.5f : 2.0f;
		struct rig *r = rig_new_with(&cfg, NULL, 64);
		float click[64];
		if (own)
			engine_set_click_out(r->e, click);
		rig_cmd(r, CMD_MASTER_VOLUME, 0, 0, 0.25f, 0);
		rig_run(r, 64 * 4); /* the master glides to 0.25 */
		while (engine_now(r->e) < N) {
			rig_run(r, 64);
			for (int i = 0; i < 64; i++)
				if (own && fabsf(click[i]) > peak_own)
					peak_own = fabsf(click[i]);
		}
		for (int64_t f = 1000; f < N; f++)
			if (fabsf(r->out[2 * f]) > peak_mix[own])
				peak_mix[own] = fabsf(r->out[2 * f]);
		rig_free(r);
	}
	/* 0.3 x volume at its peak (x master in the mix). */
	assert_true(peak_mix[0] > 0.3f * 2.0f * 0.25f * 0.95f &&
		    peak_mix[0] <= 0.3f * 2.0f * 0.25f + 1e-6f);
	assert_true(peak_mix[1] == 0);
	assert_true(peak_own > 0.3f * 0.5f * 0.95f && peak_own <= 0.3f * 0.5f + 1e-6f);
}

/* An overdubbing clip says which pass it runs (EV_CLIP_STATE's aux): a
 * client shows a multiply or an insert, a replace or a substitute as
 * SooperLooper does, not all as an overdub. */
static void test_clip_state_says_the_pass(void **state)
{
	(void)state;
	static const struct {
		enum command_type cmd;
		int pass;
	} ops[] = {{CMD_OVERDUB, CLIP_PASS_OVERDUB},
		   {CMD_REPLACE, CLIP_PASS_REPLACE},
		   {CMD_SUBSTITUTE, CLIP_PASS_SUBSTITUTE},
		   {CMD_MULTIPLY, CLIP_PASS_MULTIPLY},
		   {CMD_INSERT, CLIP_PASS_INSERT}};
	for (size_t i = 0; i < sizeof(ops) / sizeof(ops[0]); i++) {
		struct engine_config cfg;
		rig_loop_config(&cfg, 0, 0);
		struct rig *r = rig_new_with(&cfg, NULL, 64);
		rig_record_loop(r, 100, 9600);
		int64_t f = engine_now(r->e) + 64;
		rig_cmd(r, ops[i].cmd, 0, 0, 0, f);
		rig_run_to(r, f + 2048);
		assert_int_equal(engine_clip_state(r->e, 0, 0), CLIP_OVERDUBBING);
		int got = -1;
		for (int k = 0; k < r->nev; k++)
			if (r->ev[k].type == EV_CLIP_STATE &&
			    r->ev[k].value == CLIP_OVERDUBBING)
				got = r->ev[k].aux;
		if (got != ops[i].pass)
			fail_msg("command %d: pass %d, want %d", ops[i].cmd, got,
				 ops[i].pass);
		rig_free(r);
	}
}

/* A pass pressed while an undo still swaps (a budget of frames a period):
 * refused with ERR_PASS_BUSY, said, never silently dropped; once the swap
 * is through, the same press starts the pass. */
static void test_pass_while_swapping_is_refused_and_said(void **state)
{
	(void)state;
	struct engine_config cfg;
	rig_loop_config(&cfg, 0, 0);
	struct rig *r = rig_new_with(&cfg, NULL, 64);
	const int64_t len = 4 * 48000; /* swapped 8192 frames a period: ~24 */
	rig_record_loop(r, 100, len);
	int64_t f = engine_now(r->e) + 64;
	rig_cmd(r, CMD_OVERDUB, 0, 0, 0, f);
	rig_cmd(r, CMD_OVERDUB, 0, 0, 0, f + len);
	rig_run_to(r, f + len + 2 * 64 + 2000);
	f = engine_now(r->e) + 64;
	rig_cmd(r, CMD_UNDO, 0, 0, 0, f);
	rig_cmd(r, CMD_OVERDUB, 0, 0, 0, f + 128);
	rig_run_to(r, f + 1024);
	assert_int_equal(rig_count_events(r, EV_ERROR, ERR_PASS_BUSY), 1);
	assert_int_equal(engine_clip_state(r->e, 0, 0), CLIP_PLAYING);
	rig_run_to(r, f + 60 * 64 + 1024);
	f = engine_now(r->e) + 64;
	rig_cmd(r, CMD_OVERDUB, 0, 0, 0, f);
	rig_run_to(r, f + 1024);
	assert_int_equal(engine_clip_state(r->e, 0, 0), CLIP_OVERDUBBING);
	assert_int_equal(rig_count_events(r, EV_ERROR, ERR_PASS_BUSY), 1);
	rig_free(r);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_clip_state_says_the_pass),
	    cmocka_unit_test(test_pass_while_swapping_is_refused_and_said),
	    cmocka_unit_test(test_clip_mute_glides),
	    cmocka_unit_test(test_oneshot_and_trigger),
	    cmocka_unit_test(test_oneshot_trigger_without_a_take),
	    cmocka_unit_test(test_countin),
	    cmocka_unit_test(test_click_out),
	};
	if (getenv("GL_TEST_FILTER"))
		cmocka_set_test_filter(getenv("GL_TEST_FILTER"));
	return cmocka_run_group_tests(tests, NULL, NULL);
}
