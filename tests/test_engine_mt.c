/* test_engine_mt.c -- the engine with the keeper on its own thread, as in the
 * program: long recordings regrown while the "real-time" thread keeps
 * going, clears and retakes while the keeper frees and re-arms. Threaded:
 * also run under ThreadSanitizer (scripts/run-tests ... threaded).
 *
 * The engine is paced at about 20x real time and waits for the keeper to
 * take its requests (see run_paced), so any error event, a short take or a
 * wrong frame is a threading bug, not a slow machine.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <time.h>

#include "engine_rig.h"
#include "wake.h"

static void pace(uint32_t frames)
{
	struct timespec ts = {0, (long)frames * 1000000000L / 48000 / 20};
	nanosleep(&ts, NULL);
}

/* In real time a period lasts 1.3 ms, ages for the keeper; faster than real
 * time (and under emulation or TSan) it may not be, so the test waits, off
 * the "real-time" thread, until the keeper has taken its requests. What is
 * tested here is the threading, not the keeper's speed (make bench). */
static void run_paced(struct rig *r, int64_t until)
{
	while (engine_now(r->e) < until) {
		rig_run(r, r->period);
		/* As the audio thread does: the keeper sleeps until woken. */
		wake_signal(keeper_wake(r->k));
		pace(r->period);
		/* Taken is not answered: wait for the keeper's reply to every
		 * request so far (under TSan it can lag a whole period). */
		const struct spsc *q = engine_memory_requests(r->e);
		struct keeper_stats st;
		for (int i = 0; i < 100000; i++) {
			keeper_get_stats(r->k, &st);
			if (st.requests_served >= atomic_load(&q->head))
				break;
			pace(r->period);
		}
	}
}

static struct rig *threaded_rig(uint32_t grow)
{
	struct engine_config cfg;
	engine_config_defaults(&cfg, 48000);
	cfg.max_period = 64;
	cfg.fade_frames = 0;
	cfg.grow_frames = grow;
	struct keeper_config kc;
	keeper_config_defaults(&kc);
	kc.lock_memory = false;
	struct rig *r = rig_new_with(&cfg, &kc, 64);
	assert_non_null(r);
	r->keeper_paused = true; /* the keeper thread serves, not the rig */
	assert_int_equal(keeper_start(r->k), 0);
	return r;
}

static void test_long_take_with_keeper_thread(void **state)
{
	(void)state;
	struct rig *r = threaded_rig(12000); /* 9216-frame chunks */
	const int64_t len = 20 * 48000;
	rig_cmd(r, CMD_PRESS, 5, 7, 0, 64);
	rig_cmd(r, CMD_PRESS, 5, 7, 0, 64 + len);
	run_paced(r, 64 + len + 128);
	assert_int_equal(rig_count_events(r, EV_ERROR, -1), 0);
	assert_int_equal(rig_count_events(r, EV_RECORD_DONE, len), 1);
	float *clip = malloc((size_t)len * sizeof(float));
	assert_int_equal(engine_clip_read(r->e, 5, 7, 0, 0, clip, len), len);
	for (int64_t i = 0; i < len; i++)
		if (clip[i] != rig_signal(64 + i, 0))
			fail_msg("frame %lld differs", (long long)i);
	free(clip);
	struct keeper_stats ks;
	keeper_stop(r->k);
	keeper_get_stats(r->k, &ks);
	assert_true(ks.grows >= 100);
	assert_true(ks.pointer_bytes_copied > 0); /* tables were replaced */
	rig_free(r);
}

static void test_clear_and_retake_while_keeper_runs(void **state)
{
	(void)state;
	struct rig *r = threaded_rig(4096);
	int64_t f = 64;
	for (int take = 0; take < 12; take++) {
		int64_t len = 40000 + take * 3000; /* >= a 4/4 bar at 300 BPM */
		rig_cmd(r, CMD_SET_QUANTISE, 0, 0, QUANTISE_OFF, f);
		rig_cmd(r, CMD_PRESS, 2, 1, 0, f);
		rig_cmd(r, CMD_PRESS, 2, 1, 0, f + len);
		run_paced(r, f + len + 64);
		while (rig_count_events(r, EV_RECORD_DONE, -1) < take + 1)
			run_paced(r, engine_now(r->e) + 64);
		int64_t got = engine_clip_length(r->e, 2, 1);
		/* The first take sets the tempo; later ones snap to its bars. */
		assert_true(got > 0);
		float *clip = malloc((size_t)got * sizeof(float));
		assert_int_equal(engine_clip_read(r->e, 2, 1, 0, 0, clip, got), got);
		for (int64_t i = 0; i < got && i < len; i++)
			if (clip[i] != rig_signal(f + i, 0))
				fail_msg("take %d frame %lld differs", take,
					 (long long)i);
		free(clip);
		f = engine_now(r->e) + 100;
		rig_cmd(r, CMD_CLEAR, 2, 1, 0, f);
		f += 200;
	}
	run_paced(r, f + 64);
	assert_int_equal(rig_count_events(r, EV_ERROR, -1), 0);
	rig_free(r);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_long_take_with_keeper_thread),
	    cmocka_unit_test(test_clear_and_retake_while_keeper_runs),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
