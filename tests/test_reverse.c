/* test_reverse.c -- reverse at the next boundary, against a model written
 * here: reversed, output frame f plays position L - 1 - ((f - launch) mod L),
 * and the flip goes on from the position it is at, the other way; a pass
 * keeps the mapping it started with (input t at its position, latency
 * compensated); undo while reversed is heard restored from its frame on
 * (the swap walks down ahead of the play head). Every period runs under
 * the real-time guard's marks (engine_rig.h).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <cmocka.h>

#include "engine_internal.h"
#include "engine_rig.h"

#define LAT 300

static struct rig *rev_rig(int64_t L)
{
	struct engine_config cfg;
	rig_loop_config(&cfg, 0, LAT);
	struct rig *r = rig_new_with(&cfg, NULL, 64);
	assert_non_null(r);
	rig_record_loop(r, 100, L);
	return r;
}

static float *clip_now(struct rig *r, int64_t L)
{
	return rig_clip_now(r, L);
}

static int64_t pmod(int64_t a, int64_t m)
{
	return (a % m + m) % m;
}

/* The model's play position at f: forward from launch, or reversed. */
static int64_t model_pos(int64_t f, int64_t launch, bool rev, int64_t L)
{
	int64_t p = pmod(f - launch, L);
	return rev ? L - 1 - p : p;
}

static void expect_heard(struct rig *r, const float *take, int64_t from, int64_t to,
			 int64_t launch, bool rev, int64_t L, const char *what)
{
	for (int64_t f = from; f < to; f++) {
		float want = take[model_pos(f, launch, rev, L)];
		if (r->out[2 * f] != want)
			fail_msg("%s: frame %lld heard %g, want %g", what,
				 (long long)(f - from), r->out[2 * f], want);
	}
}

/* Reversed while playing: from the flip on, backwards from where it was;
 * flipped back, forwards again; the take itself never changes. */
static void test_reverse_flips_in_place(void **state)
{
	(void)state;
	const int64_t L = 12000, launch = 100 + L;
	struct rig *r = rev_rig(L);
	float *take = clip_now(r, L);
	int64_t fb = engine_now(r->e) + 777;
	rig_cmd(r, CMD_REVERSE, 0, 0, 0, fb);
	rig_run_to(r, fb + 3 * L);
	int64_t p0 = pmod(fb - launch, L);
	int64_t launch_r = fb - (L - 1 - p0); /* position p0 at fb, going down */
	expect_heard(r, take, fb - 500, fb, launch, false, L, "before");
	expect_heard(r, take, fb, fb + 2 * L, launch_r, true, L, "reversed");
	assert_true(r->e->clips[0].reverse);
	int64_t fb2 = engine_now(r->e) + 91;
	rig_cmd(r, CMD_REVERSE, 0, 0, 0, fb2);
	rig_run_to(r, fb2 + 2 * L);
	int64_t p1 = model_pos(fb2, launch_r, true, L);
	expect_heard(r, take, fb2, fb2 + L, fb2 - p1, false, L, "forward again");
	float *after = clip_now(r, L);
	assert_memory_equal(after, take, (size_t)L * sizeof(float));
	/* Stopped and launched again reversed: from its end, backwards. */
	rig_cmd(r, CMD_REVERSE, 0, 0, 0, engine_now(r->e));
	rig_cmd(r, CMD_STOP_CLIP, 0, 0, 0, engine_now(r->e) + 64);
	rig_run(r, 640);
	int64_t pl = engine_now(r->e) + 10;
	rig_cmd(r, CMD_PRESS, 0, 0, 0, pl);
	rig_run_to(r, pl + 2 * L);
	expect_heard(r, take, pl, pl + 2 * L, pl, true, L, "launched reversed");
	/* A second press before the boundary takes the toggle back. */
	rig_cmd(r, CMD_SET_TEMPO, 0, 0, 120, engine_now(r->e));
	rig_cmd(r, CMD_SET_QUANTISE, 0, 0, QUANTISE_BAR, engine_now(r->e));
	rig_cmd(r, CMD_REVERSE, 0, 0, 0, engine_now(r->e) + 1);
	rig_cmd(r, CMD_REVERSE, 0, 0, 0, engine_now(r->e) + 2);
	rig_run(r, 2 * 96000);
	assert_true(r->e->clips[0].reverse);
	free(take);
	free(after);
	rig_free(r);
}

/* An overdub while reversed lands where the reversed play head was; an
 * undo (of a long pass, many periods of swapping) is heard restored from
 * its frame on, the swap walking down ahead of the head. */
static void test_reverse_overdub_and_undo(void **state)
{
	(void)state;
	const int64_t L = 96000, launch = 100 + L;
	struct rig *r = rev_rig(L);
	float *orig = clip_now(r, L);
	int64_t fb = engine_now(r->e) + 5;
	rig_cmd(r, CMD_REVERSE, 0, 0, 0, fb);
	rig_run(r, 640);
	int64_t launch_r = fb - (L - 1 - pmod(fb - launch, L));
	int64_t o0 = engine_now(r->e) + 33, o1 = o0 + L + 5000;
	rig_cmd(r, CMD_OVERDUB, 0, 0, 0, o0);
	rig_cmd(r, CMD_OVERDUB, 0, 0, 0, o1);
	rig_run_to(r, o1 + LAT + 640);
	float *want = malloc((size_t)L * sizeof(float));
	memcpy(want, orig, (size_t)L * sizeof(float));
	for (int64_t t = o0 + LAT; t < o1 + LAT; t++)
		want[model_pos(t - LAT, launch_r, true, L)] += rig_signal(t, 0);
	float *got = clip_now(r, L);
	for (int64_t i = 0; i < L; i++)
		if (got[i] != want[i])
			fail_msg("reversed overdub: position %lld is %g, not %g",
				 (long long)i, got[i], want[i]);
	int64_t u = engine_now(r->e) + 17;
	rig_cmd(r, CMD_UNDO, 0, 0, 0, u);
	rig_run_to(r, u + L / 2);
	expect_heard(r, orig, u, u + L / 2, launch_r, true, L, "undone while reversed");
	free(got);
	got = clip_now(r, L);
	assert_memory_equal(got, orig, (size_t)L * sizeof(float));
	free(orig);
	free(want);
	free(got);
	rig_free(r);
}

/* Reverse during a pass: the pass ends at the flip with the mapping it
 * started with (its input in flight goes in), nothing after it. */
static void test_reverse_during_a_pass(void **state)
{
	(void)state;
	const int64_t L = 12000, launch = 100 + L;
	struct rig *r = rev_rig(L);
	float *orig = clip_now(r, L);
	int64_t o0 = engine_now(r->e) + 40, fb = o0 + 4000;
	rig_cmd(r, CMD_OVERDUB, 0, 0, 0, o0);
	rig_cmd(r, CMD_REVERSE, 0, 0, 0, fb);
	rig_run_to(r, fb + LAT + 2000);
	assert_int_equal(engine_clip_state(r->e, 0, 0), CLIP_PLAYING);
	float *want = malloc((size_t)L * sizeof(float));
	memcpy(want, orig, (size_t)L * sizeof(float));
	for (int64_t t = o0 + LAT; t < fb + LAT; t++)
		want[model_pos(t - LAT, launch, false, L)] += rig_signal(t, 0);
	float *got = clip_now(r, L);
	assert_memory_equal(got, want, (size_t)L * sizeof(float));
	/* Undo takes it back. */
	rig_cmd(r, CMD_UNDO, 0, 0, 0, engine_now(r->e));
	rig_run(r, 1280);
	free(got);
	got = clip_now(r, L);
	assert_memory_equal(got, orig, (size_t)L * sizeof(float));
	free(orig);
	free(want);
	free(got);
	rig_free(r);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_reverse_flips_in_place),
	    cmocka_unit_test(test_reverse_overdub_and_undo),
	    cmocka_unit_test(test_reverse_during_a_pass),
	};
	if (getenv("GL_TEST_FILTER"))
		cmocka_set_test_filter(getenv("GL_TEST_FILTER"));
	return cmocka_run_group_tests(tests, NULL, NULL);
}
