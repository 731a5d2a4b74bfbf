/* test_passes.c -- replace and substitute passes, against a model written
 * here: input frame t of a pass lands at loop position
 * (t - latency - launch) mod L, over what was there (a later frame over an
 * earlier one); the loop is silent while it is being replaced, heard while
 * it is being substituted; undo gives back the audio from before, bit for
 * bit. Every period runs under the real-time guard's marks (engine_rig.h).
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
#define LAT  300

static struct rig *pass_rig(uint32_t fade)
{
	struct engine_config cfg;
	rig_loop_config(&cfg, fade, LAT);
	struct rig *r = rig_new_with(&cfg, NULL, 64);
	assert_non_null(r);
	rig_record_loop(r, 100, LOOP); /* a take of LOOP frames, launched at 100 + LOOP */
	return r;
}

static const int64_t launch = 100 + LOOP;

static float *clip_now(struct rig *r)
{
	return rig_clip_now(r, LOOP);
}

static int64_t pos_of_input(int64_t t)
{
	return ((t - LAT - launch) % LOOP + LOOP) % LOOP;
}

static void check_pass(enum command_type type, int64_t len)
{
	struct rig *r = pass_rig(0);
	float *orig = clip_now(r);
	int64_t p0 = engine_now(r->e) + 1000 + 37, p1 = p0 + len;
	rig_cmd(r, type, 0, 0, 0, p0);
	rig_cmd(r, type, 0, 0, 0, p1);
	rig_run_to(r, p1 + LAT + 640);
	assert_int_equal(engine_clip_state(r->e, 0, 0), CLIP_PLAYING);
	/* The model: the input written over, frame after frame. */
	float *want = malloc(LOOP * sizeof(float));
	memcpy(want, orig, LOOP * sizeof(float));
	for (int64_t t = p0 + LAT; t < p1 + LAT; t++)
		want[pos_of_input(t)] = rig_signal(t, 0);
	float *got = clip_now(r);
	for (int64_t i = 0; i < LOOP; i++)
		if (got[i] != want[i])
			fail_msg("%s of %lld: position %lld is %g, not %g",
				 type == CMD_REPLACE ? "replace" : "substitute",
				 (long long)len, (long long)i, got[i], want[i]);
	/* What was heard during the pass: nothing of the loop (replace), or
	 * the loop as it was (substitute, on its first time round). */
	for (int64_t f = p0; f < p1 && f < p0 + LOOP; f++) {
		float heard = r->out[2 * f];
		float old = orig[(f - launch) % LOOP];
		if (type == CMD_REPLACE ? heard != 0 : heard != old)
			fail_msg("frame %lld of the pass: heard %g (old %g)",
				 (long long)(f - p0), heard, old);
	}
	/* Before the pass and after it, the loop as stored. */
	for (int64_t f = p0 - 500; f < p0; f++)
		assert_true(r->out[2 * f] == orig[(f - launch) % LOOP]);
	for (int64_t f = p1 + LAT + 64; f < p1 + LAT + 640; f++)
		assert_true(r->out[2 * f] == want[(f - launch) % LOOP]);
	/* Undo: the audio from before, exactly; redo: the pass again. */
	rig_cmd(r, CMD_UNDO, 0, 0, 0, engine_now(r->e));
	rig_run(r, 1280);
	float *undone = clip_now(r);
	assert_memory_equal(undone, orig, LOOP * sizeof(float));
	rig_cmd(r, CMD_REDO, 0, 0, 0, engine_now(r->e));
	rig_run(r, 1280);
	float *redone = clip_now(r);
	assert_memory_equal(redone, want, LOOP * sizeof(float));
	free(orig);
	free(want);
	free(got);
	free(undone);
	free(redone);
	rig_free(r);
}

static void test_replace_overwrites_and_silences(void **state)
{
	(void)state;
	check_pass(CMD_REPLACE, 3000);
	check_pass(CMD_REPLACE, LOOP + LOOP / 2); /* round more than once */
}

static void test_substitute_overwrites_and_is_heard(void **state)
{
	(void)state;
	check_pass(CMD_SUBSTITUTE, 3000);
	check_pass(CMD_SUBSTITUTE, 2 * LOOP + 11);
}

/* With fades: the inside of the pass is exactly the input; its edges
 * blend the old audio into the new (each frame between the two), and the
 * silence of a replace ramps in and out (no step larger than a fade's). */
static void test_pass_edges_blend(void **state)
{
	(void)state;
	const uint32_t fade = 144;
	struct rig *r = pass_rig(fade);
	float *orig = clip_now(r);
	int64_t p0 = engine_now(r->e) + 1000, p1 = p0 + 4000;
	rig_cmd(r, CMD_REPLACE, 0, 0, 0, p0);
	rig_cmd(r, CMD_REPLACE, 0, 0, 0, p1);
	rig_run_to(r, p1 + LAT + 640);
	float *got = clip_now(r);
	for (int64_t t = p0 + LAT; t < p1 + LAT + fade; t++) {
		int64_t p = pos_of_input(t);
		float in = rig_signal(t, 0), old = orig[p];
		bool inside = t >= p0 + LAT + fade && t < p1 + LAT;
		if (inside && got[p] != in)
			fail_msg("inside the pass, position %lld differs", (long long)p);
		float lo = in < old ? in : old, hi = in < old ? old : in;
		if (!inside && (got[p] < lo - 1e-6f || got[p] > hi + 1e-6f))
			fail_msg("edge position %lld: %g outside %g..%g", (long long)p,
				 got[p], lo, hi);
	}
	/* The silence ramps: the output's gain on the loop moves by at most
	 * 1/fade a frame (the signal itself moves by at most 0.5 a frame). */
	for (int64_t f = p0 - 10; f < p0 + fade + 10; f++) {
		float o = r->out[2 * f], s = orig[(f - launch) % LOOP];
		float gain = s != 0 ? o / s : 0;
		if (f >= p0 + fade)
			assert_true(o == 0);
		else if (s != 0 && (gain < -1e-4f || gain > 1.0001f))
			fail_msg("frame %lld: gain %g", (long long)f, gain);
	}
	free(orig);
	free(got);
	rig_free(r);
}

/* A replace pass cut by an undo: the loop (restored) comes back faded in,
 * not as a step. */
static void test_replace_cut_by_undo_fades_back(void **state)
{
	(void)state;
	const uint32_t fade = 144;
	struct rig *r = pass_rig(fade);
	float *orig = clip_now(r);
	int64_t p0 = engine_now(r->e) + 1000, u = p0 + 3000;
	rig_cmd(r, CMD_REPLACE, 0, 0, 0, p0);
	rig_cmd(r, CMD_UNDO, 0, 0, 0, u);
	rig_run_to(r, u + 2000);
	float *got = clip_now(r);
	assert_memory_equal(got, orig, LOOP * sizeof(float));
	assert_true(r->out[2 * u] == 0);
	for (int64_t f = u; f < u + fade; f++) {
		float s = orig[(f - launch) % LOOP];
		float want = s * (float)(f - u) / (float)fade;
		assert_true(fabsf(r->out[2 * f] - want) < 1e-6f);
	}
	for (int64_t f = u + fade; f < u + 1000; f++)
		assert_true(r->out[2 * f] == orig[(f - launch) % LOOP]);
	free(orig);
	free(got);
	rig_free(r);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_replace_overwrites_and_silences),
	    cmocka_unit_test(test_substitute_overwrites_and_is_heard),
	    cmocka_unit_test(test_pass_edges_blend),
	    cmocka_unit_test(test_replace_cut_by_undo_fades_back),
	};
	if (getenv("GL_TEST_FILTER"))
		cmocka_set_test_filter(getenv("GL_TEST_FILTER"));
	return cmocka_run_group_tests(tests, NULL, NULL);
}
