/* test_multiply.c -- multiply and insert (issue 11), against models written
 * here, bit for bit (fades off where the model checks samples):
 *
 *   multiply from S to the end press g: the new take is the whole cycles
 *   (A's length L, for a fresh take) from cs, the start of the loop pass
 *   S falls in, to the first cycle line at or after g (never shorter than
 *   A); position q holds A[q mod L], plus input frame t = cs + q + latency
 *   where t is in the pass [S + latency, E + latency).
 *
 *   insert at S (play position h) to g: M = whole cycles from S to the
 *   first cycle line at or after g; the new take is A[0, h), then input
 *   frames S + latency .. + M as they came, then A[h, L). The loop is
 *   silent from S to E, and plays on after the inserted cycles.
 *
 * Undo gives A back exactly, redo the new take; the memory limit ends a
 * multiply at a whole cycle with an event. Every period runs under the
 * real-time guard's marks (engine_rig.h).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <cmocka.h>

#include "engine_internal.h"
#include "engine_rig.h"

#define LOOP 12000
#define LAT  300

static const int64_t launch = 100 + LOOP;

static struct rig *op_rig(uint32_t fade, const struct keeper_config *kc)
{
	struct engine_config cfg;
	rig_loop_config(&cfg, fade, LAT);
	struct rig *r = rig_new_with(&cfg, kc, 64);
	assert_non_null(r);
	rig_record_loop(r, 100, LOOP);
	return r;
}

/* The frame the clip's state last became `state` at or after `from`. */
static int64_t state_frame(struct rig *r, enum clip_state state, int64_t from)
{
	for (int i = 0; i < r->nev; i++)
		if (r->ev[i].type == EV_CLIP_STATE && r->ev[i].track == 0 &&
		    r->ev[i].scene == 0 && r->ev[i].state == state &&
		    r->ev[i].frame >= from)
			return r->ev[i].frame;
	fail_msg("no state %d after %lld", state, (long long)from);
	return -1;
}

static float *clip_read(struct rig *r, int64_t len)
{
	assert_int_equal(engine_clip_length(r->e, 0, 0), len);
	return rig_clip_now(r, len);
}

static void settle(struct rig *r)
{
	for (int i = 0; i < 400 && engine_clip_version(r->e, 0, 0) % 2; i++)
		rig_run(r, 64);
	assert_int_equal(engine_clip_version(r->e, 0, 0) % 2, 0);
}

static int64_t up_to(int64_t x, int64_t m)
{
	return (x + m - 1) / m * m;
}

static void compare(const char *what, const float *got, const float *want, int64_t n)
{
	for (int64_t i = 0; i < n; i++)
		if (got[i] != want[i])
			fail_msg("%s: position %lld is %g, not %g", what, (long long)i,
				 got[i], want[i]);
}

/* One multiply from p0 to p1 against the model; then undo, redo. */
static void check_multiply(int64_t p0_off, int64_t span)
{
	struct rig *r = op_rig(0, NULL);
	float *orig = clip_read(r, LOOP);
	int64_t p0 = engine_now(r->e) + p0_off, p1 = p0 + span;
	rig_cmd(r, CMD_MULTIPLY, 0, 0, 0, p0);
	rig_run_to(r, p0 + 640);
	int64_t S = state_frame(r, CLIP_OVERDUBBING, p0);
	assert_true(S >= p0 && S < p0 + 640);
	rig_cmd(r, CMD_MULTIPLY, 0, 0, 0, p1);
	int64_t cs = S - (S - launch) % LOOP;
	int64_t N = up_to(p1 - cs, LOOP);
	if (N < LOOP)
		N = LOOP;
	int64_t E = cs + N;
	rig_run_to(r, E - 64);
	assert_int_equal(engine_clip_state(r->e, 0, 0), CLIP_OVERDUBBING);
	assert_int_equal(engine_clip_length(r->e, 0, 0), LOOP);
	rig_run_to(r, E + LAT + 2 * N + 640);
	assert_int_equal(engine_clip_state(r->e, 0, 0), CLIP_PLAYING);
	assert_int_equal(state_frame(r, CLIP_PLAYING, S), E);
	settle(r);

	float *want = malloc((size_t)N * sizeof(float));
	for (int64_t q = 0; q < N; q++)
		want[q] = orig[q % LOOP];
	for (int64_t t = S + LAT; t < E + LAT; t++)
		want[t - LAT - cs] = orig[(t - LAT - cs) % LOOP] + rig_signal(t, 0);
	float *got = clip_read(r, N);
	compare("multiplied take", got, want, N);
	/* Heard: A as it was until E, the new take from E on. */
	for (int64_t f = S - 300; f < E; f++)
		if (r->out[2 * f] != orig[(f - launch) % LOOP])
			fail_msg("frame %lld before the end: not A", (long long)f);
	for (int64_t f = E; f < E + 2 * N; f++)
		if (r->out[2 * f] != want[(f - cs) % N])
			fail_msg("frame %lld after the end: %g, not %g", (long long)f,
				 r->out[2 * f], want[(f - cs) % N]);
	/* Undo: A exactly; redo: the new take exactly. */
	rig_cmd(r, CMD_UNDO, 0, 0, 0, engine_now(r->e));
	rig_run(r, 640);
	settle(r);
	float *undone = clip_read(r, LOOP);
	compare("undone", undone, orig, LOOP);
	rig_cmd(r, CMD_REDO, 0, 0, 0, engine_now(r->e));
	rig_run(r, 640);
	settle(r);
	float *redone = clip_read(r, N);
	compare("redone", redone, want, N);
	free(orig);
	free(want);
	free(got);
	free(undone);
	free(redone);
	rig_free(r);
}

static void test_multiply_matches_the_model(void **state)
{
	(void)state;
	check_multiply(1000 + 37, LOOP + LOOP / 2); /* rounded up: 3 cycles */
	check_multiply(5000, 200);		    /* ended in its first cycle */
	check_multiply(3000, 3 * LOOP + 17);
}

/* One insert from p0 to p1 against the model; then undo, redo. */
static void check_insert(int64_t p0_off, int64_t span)
{
	struct rig *r = op_rig(0, NULL);
	float *orig = clip_read(r, LOOP);
	int64_t p0 = engine_now(r->e) + p0_off, p1 = p0 + span;
	rig_cmd(r, CMD_INSERT, 0, 0, 0, p0);
	rig_run_to(r, p0 + 640);
	int64_t S = state_frame(r, CLIP_OVERDUBBING, p0);
	assert_true(S >= p0 && S < p0 + 640);
	rig_cmd(r, CMD_INSERT, 0, 0, 0, p1);
	int64_t h = (S - launch) % LOOP, M = up_to(p1 - S, LOOP), N = LOOP + M;
	int64_t E = S + M;
	rig_run_to(r, E + LAT + 2 * N + 640);
	assert_int_equal(engine_clip_state(r->e, 0, 0), CLIP_PLAYING);
	assert_int_equal(state_frame(r, CLIP_PLAYING, S), E);
	settle(r);
	float *want = malloc((size_t)N * sizeof(float));
	memcpy(want, orig, (size_t)h * sizeof(float));
	for (int64_t i = 0; i < M; i++)
		want[h + i] = rig_signal(S + LAT + i, 0);
	memcpy(want + h + M, orig + h, (size_t)(LOOP - h) * sizeof(float));
	float *got = clip_read(r, N);
	compare("inserted take", got, want, N);
	/* Heard: A until S, nothing while the cycles go in, then the loop
	 * from where it was, through the new cycles and round. */
	for (int64_t f = S - 300; f < S; f++)
		assert_true(r->out[2 * f] == orig[(f - launch) % LOOP]);
	for (int64_t f = S; f < E; f++)
		if (r->out[2 * f] != 0)
			fail_msg("frame %lld of the insert: heard %g", (long long)f,
				 r->out[2 * f]);
	for (int64_t f = E; f < E + 2 * N; f++)
		if (r->out[2 * f] != want[(f - E + h + M) % N])
			fail_msg("frame %lld after the insert: %g, not %g", (long long)f,
				 r->out[2 * f], want[(f - E + h + M) % N]);
	rig_cmd(r, CMD_UNDO, 0, 0, 0, engine_now(r->e));
	rig_run(r, 640);
	settle(r);
	float *undone = clip_read(r, LOOP);
	compare("undone", undone, orig, LOOP);
	rig_cmd(r, CMD_REDO, 0, 0, 0, engine_now(r->e));
	rig_run(r, 640);
	settle(r);
	float *redone = clip_read(r, N);
	compare("redone", redone, want, N);
	free(orig);
	free(want);
	free(got);
	free(undone);
	free(redone);
	rig_free(r);
}

static void test_insert_matches_the_model(void **state)
{
	(void)state;
	check_insert(1000 + 37, LOOP / 3);    /* one cycle */
	check_insert(7000, 2 * LOOP + 5);     /* three */
	check_insert(LOOP - 2000 - 64, LOOP); /* near the loop's end */
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_multiply_matches_the_model),
	    cmocka_unit_test(test_insert_matches_the_model),
	};
	if (getenv("GL_TEST_FILTER"))
		cmocka_set_test_filter(getenv("GL_TEST_FILTER"));
	return cmocka_run_group_tests(tests, NULL, NULL);
}
