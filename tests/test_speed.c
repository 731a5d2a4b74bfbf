/* test_speed.c -- half and double speed, against models written here: at
 * double speed output frame f plays position 2(f - launch) mod L, exactly;
 * at half speed every other frame is a position, exactly, and the frames
 * between are interpolated, measured against the sine the take was
 * recorded from (its error printed and bounded). A change takes effect at
 * the next boundary, from the top; a pass under way ends there; a pass is
 * refused at another speed; undo is heard at once at double speed. Every
 * period runs under the real-time guard's marks (engine_rig.h).
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

#define L    48000 /* one second: a whole number of cycles of each sine */
#define REC0 100   /* the take's first frame */

static double sine_hz = 480;

static float sine_in(int64_t t, int c)
{
	(void)c;
	return (float)(0.5 * sin(2 * M_PI * sine_hz * (double)t / 48000.0));
}

static struct rig *speed_rig(double hz, uint32_t latency)
{
	struct engine_config cfg;
	rig_loop_config(&cfg, 0, latency);
	struct rig *r = rig_new_with(&cfg, NULL, 64);
	assert_non_null(r);
	sine_hz = hz;
	if (hz > 0)
		r->input = sine_in;
	rig_record_loop(r, REC0, L);
	return r;
}

static float *clip_now(struct rig *r)
{
	return rig_clip_now(r, L);
}

static int count_error(struct rig *r, int64_t err)
{
	int n = 0;
	for (int i = 0; i < r->nev; i++)
		n += r->ev[i].type == EV_ERROR && r->ev[i].value == err;
	return n;
}

/* Half speed: an octave down, twice as long; the frames between positions
 * within a measured error of the sine itself. */
static double half_speed_error(double hz, bool reversed)
{
	struct rig *r = speed_rig(hz, 0);
	float *take = clip_now(r);
	if (reversed) {
		rig_cmd(r, CMD_REVERSE, 0, 0, 0, engine_now(r->e));
		rig_run(r, 64);
	}
	int64_t fs = engine_now(r->e) + 7;
	rig_cmd(r, CMD_SPEED, 0, 0, 0.5f, fs);
	rig_run_to(r, fs + 4 * L + 64);
	double worst = 0;
	for (int64_t i = 0; i < 4 * L; i++) {
		double x = (double)i / 2; /* the loop position played */
		int64_t k = i / 2;
		if (reversed) /* from the end backwards, round and round */
			x = L - 1 - x, k = ((L - 1 - k) % L + L) % L;
		float got = r->out[2 * (fs + i)];
		if (i % 2 == 0 && got != take[k % L])
			fail_msg("half speed frame %lld: %g, the take has %g",
				 (long long)i, got, take[k % L]);
		double want = 0.5 * sin(2 * M_PI * hz * (REC0 + x) / 48000.0);
		if (fabs(got - want) > worst)
			worst = fabs(got - want);
	}
	free(take);
	rig_free(r);
	return worst;
}

static void test_half_speed_is_clean(void **state)
{
	(void)state;
	double e480 = half_speed_error(480, false);
	double e4k = half_speed_error(4000, false);
	double e480r = half_speed_error(480, true);
	print_message("half speed, worst error against the sine (amplitude 0.5): 480 Hz "
		      "%.2g (%.0f dB), 4 kHz %.2g (%.0f dB), 480 Hz reversed %.2g\n",
		      e480, 20 * log10(e480 / 0.5), e4k, 20 * log10(e4k / 0.5), e480r);
	assert_true(e480 < 1e-5);  /* below -90 dB */
	assert_true(e4k < 2.5e-3); /* below -46 dB at 4 kHz */
	assert_true(e480r < 1e-5);
}

/* Double speed: every other position, exactly, and half as long. */
static void test_double_speed_exact(void **state)
{
	(void)state;
	struct rig *r = speed_rig(0, 0);
	float *take = clip_now(r);
	int64_t fs = engine_now(r->e) + 3;
	rig_cmd(r, CMD_SPEED, 0, 0, 2.0f, fs);
	rig_run_to(r, fs + 2 * L);
	for (int64_t i = 0; i < 2 * L; i++)
		if (r->out[2 * (fs + i)] != take[(2 * i) % L])
			fail_msg("double speed frame %lld differs", (long long)i);
	/* Back to 1: from the top, as recorded. */
	int64_t f1 = engine_now(r->e) + 5;
	rig_cmd(r, CMD_SPEED, 0, 0, 1.0f, f1);
	rig_run_to(r, f1 + L + 64);
	for (int64_t i = 0; i < L; i++)
		assert_true(r->out[2 * (f1 + i)] == take[i]);
	/* A one-shot at double speed lasts half the loop. */
	rig_cmd(r, CMD_SPEED, 0, 0, 2.0f, engine_now(r->e));
	rig_run(r, 64);
	int64_t o = engine_now(r->e) + 10;
	rig_cmd(r, CMD_ONESHOT, 0, 0, 0, o);
	rig_run_to(r, o + L);
	assert_int_equal(engine_clip_state(r->e, 0, 0), CLIP_STOPPED);
	for (int64_t i = 0; i < L / 2; i++)
		assert_true(r->out[2 * (o + i)] == take[2 * i]);
	for (int64_t i = L / 2; i < L; i++)
		assert_true(r->out[2 * (o + i)] == 0);
	free(take);
	rig_free(r);
}

/* Passes: refused at another speed (nothing written); one under way when
 * the speed changes ends there, nothing of it lost; bad values refused. */
static void test_speed_and_passes(void **state)
{
	(void)state;
	const uint32_t lat = 300;
	struct rig *r = speed_rig(0, lat);
	float *orig = clip_now(r);
	const int64_t launch = REC0 + L;
	int64_t o0 = engine_now(r->e) + 40, fs = o0 + 5000;
	rig_cmd(r, CMD_OVERDUB, 0, 0, 0, o0);
	rig_cmd(r, CMD_SPEED, 0, 0, 2.0f, fs);
	rig_run_to(r, fs + lat + 2000);
	assert_int_equal(engine_clip_state(r->e, 0, 0), CLIP_PLAYING);
	float *want = malloc(L * sizeof(float));
	memcpy(want, orig, L * sizeof(float));
	for (int64_t t = o0 + lat; t < fs + lat; t++)
		want[((t - lat - launch) % L + L) % L] += rig_signal(t, 0);
	float *got = clip_now(r);
	assert_memory_equal(got, want, L * sizeof(float));
	/* At double speed a pass is refused, and says so. */
	r->nev = 0;
	rig_cmd(r, CMD_OVERDUB, 0, 0, 0, engine_now(r->e));
	rig_cmd(r, CMD_REPLACE, 0, 0, 0, engine_now(r->e) + 64);
	rig_run(r, 5000);
	assert_int_equal(count_error(r, ERR_PASS_AT_SPEED), 2);
	assert_int_equal(engine_clip_state(r->e, 0, 0), CLIP_PLAYING);
	free(got);
	got = clip_now(r);
	assert_memory_equal(got, want, L * sizeof(float));
	/* Undo at double speed: heard restored from its frame on. */
	int64_t u = engine_now(r->e) + 11;
	rig_cmd(r, CMD_UNDO, 0, 0, 0, u);
	rig_run_to(r, u + L);
	const struct clip *c = &r->e->clips[0];
	for (int64_t f = u; f < u + L; f++) {
		int64_t p = ((2 * (f - c->launch)) % L + L) % L;
		if (r->out[2 * f] != orig[p])
			fail_msg("undo at double speed: frame %lld not restored",
				 (long long)(f - u));
	}
	/* Bad speeds: refused, the speed stays. */
	r->nev = 0;
	const float bad[] = {0.7f, 0.0f, -1.0f, 4.0f, NAN, INFINITY};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		rig_cmd(r, CMD_SPEED, 0, 0, bad[i], engine_now(r->e));
	rig_run(r, 640);
	assert_int_equal(count_error(r, ERR_BAD_COMMAND), 6);
	assert_int_equal(c->speed_mul, 4);
	/* On an empty slot: nothing. */
	rig_cmd(r, CMD_SPEED, 5, 5, 2.0f, engine_now(r->e));
	rig_run(r, 640);
	assert_int_equal(r->e->clips[5 * GL_TRACKS + 5].speed_mul, 0);
	free(orig);
	free(want);
	free(got);
	rig_free(r);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_half_speed_is_clean),
	    cmocka_unit_test(test_double_speed_exact),
	    cmocka_unit_test(test_speed_and_passes),
	};
	if (getenv("GL_TEST_FILTER"))
		cmocka_set_test_filter(getenv("GL_TEST_FILTER"));
	return cmocka_run_group_tests(tests, NULL, NULL);
}
