/* test_wake_mt.c -- the threads that sleep until the audio thread has work
 * for them (firmware/os/wake.h, audio_thread.c): the real audio thread on
 * alsa-lib's null PCM, held period by period (its offline gate), wakes the
 * events' consumer after its first period and after periods with engine
 * events, and nobody in idle periods; the keeper thread, which has no timer
 * any more, serves every memory request of a long take because the audio
 * thread wakes it. The "_mt" suffix runs it under ThreadSanitizer too. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <sched.h>
#include <stdatomic.h>
#include <time.h>

#include "audio_alsa.h"
#include "audio_thread.h"
#include "engine.h"
#include "keeper.h"
#include "wake.h"

#define RATE	   48000
#define PERIOD	   64
#define GIVE_UP_MS 5000 /* a consumer not woken by then never will be */

static int64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void nap(void)
{
	struct timespec ts = {0, 50000};
	nanosleep(&ts, NULL);
}

struct rig {
	struct engine *e;
	struct keeper *k;
	struct audio_alsa *pcm;
	struct audio_thread *audio;
	struct wake events; /* the supervisor's, here the test's */
	atomic_int_least64_t gate;
	uint32_t errors, clip_states;
};

/* Lets the audio thread run one more period and waits for it. */
static void step(struct rig *r)
{
	int64_t now = atomic_load(audio_thread_now(r->audio));
	atomic_store(&r->gate, now + PERIOD);
	int64_t give_up = now_ms() + GIVE_UP_MS;
	while (atomic_load(audio_thread_now(r->audio)) < now + PERIOD) {
		assert_true(now_ms() < give_up);
		nap();
	}
}

/* The supervisor's part: take the engine's events. */
static void drain(struct rig *r)
{
	struct event ev;
	while (spsc_pop(engine_events(r->e), &ev)) {
		r->errors += ev.type == EV_ERROR;
		r->clip_states += ev.type == EV_CLIP_STATE;
	}
}

static void rig_start(struct rig *r)
{
	struct engine_config ec;
	engine_config_defaults(&ec, RATE);
	ec.max_period = PERIOD;
	ec.grow_frames = 4096; /* small chunks: many requests */
	const char *why = NULL;
	r->e = engine_create(&ec, &why);
	assert_non_null(r->e);
	struct keeper_config kc;
	keeper_config_defaults(&kc);
	kc.lock_memory = false;
	r->k = keeper_create(r->e, &kc, &why);
	assert_non_null(r->k);
	assert_int_equal(keeper_start(r->k), 0);
	assert_int_equal(wake_init(&r->events), 0);

	struct audio_alsa_params p = {.capture_device = "null",
				      .playback_device = "null",
				      .rate = RATE,
				      .period = PERIOD,
				      .periods = 2,
				      .capture_channels = 2,
				      .playback_channels = 2};
	char err[256];
	assert_int_equal(audio_alsa_open(&r->pcm, &p, err, sizeof(err)), 0);
	struct audio_thread_config ac = {.engine = r->e,
					 .rate = RATE,
					 .period = PERIOD,
					 .input_channels = 2,
					 .priority = 0,
					 .wake_events = &r->events,
					 .wake_memory = keeper_wake(r->k)};
	r->audio = audio_thread_create(&ac);
	assert_non_null(r->audio);
	atomic_init(&r->gate, 0);
	/* The gate holds each period (no keeper here: the keeper's own
	 * thread serves, woken by the audio thread). */
	audio_thread_set_offline(r->audio, &r->gate, NULL);
	bool refused;
	assert_int_equal(audio_thread_start(r->audio, r->pcm, &refused, err, sizeof(err)),
			 0);
}

static void rig_stop(struct rig *r)
{
	audio_thread_request_stop(r->audio);
	atomic_store(&r->gate, INT64_MAX);
	audio_thread_join(r->audio);
	audio_alsa_close(r->pcm);
	keeper_stop(r->k);
	audio_thread_destroy(r->audio);
	drain(r);
	keeper_destroy(r->k);
	engine_destroy(r->e);
	wake_free(&r->events);
}

static void test_events_wake_the_consumer_and_idle_wakes_nobody(void **state)
{
	(void)state;
	static struct rig r;
	rig_start(&r);
	step(&r);
	assert_int_equal(wake_wait(&r.events, GIVE_UP_MS), 1); /* the first period */
	drain(&r);

	/* Idle: a hundred periods, no event, no wake-up. */
	for (int i = 0; i < 100; i++)
		step(&r);
	assert_int_equal(wake_wait(&r.events, 0), 0);

	/* A press: the period that acts on it pushes a clip state, and the
	 * consumer sleeping on the descriptor wakes. */
	int64_t at = atomic_load(audio_thread_now(r.audio)) + PERIOD;
	assert_true(engine_send(r.e, SOURCE_SCRIPT, CMD_PRESS, 0, 0, 0, at));
	step(&r);
	step(&r);
	assert_int_equal(wake_wait(&r.events, GIVE_UP_MS), 1);
	drain(&r);
	assert_true(r.clip_states >= 1);
	rig_stop(&r);
}

static void test_keeper_serves_a_long_take_woken_by_the_audio_thread(void **state)
{
	(void)state;
	static struct rig r;
	rig_start(&r);
	int64_t start = PERIOD * 4;
	assert_true(engine_send(r.e, SOURCE_SCRIPT, CMD_PRESS, 0, 0, 0, start));
	const int64_t len = 3 * RATE; /* 35 chunks of 4096 frames */
	while (atomic_load(audio_thread_now(r.audio)) < start + len) {
		step(&r);
		drain(&r);
		/* The keeper has no timer: only the audio thread's wake-up
		 * gets a request served. */
		int64_t give_up = now_ms() + GIVE_UP_MS;
		while (spsc_count(engine_memory_requests(r.e))) {
			assert_true(now_ms() < give_up);
			nap();
		}
	}
	assert_true(engine_send(r.e, SOURCE_SCRIPT, CMD_PRESS, 0, 0, 0,
				atomic_load(audio_thread_now(r.audio))));
	for (int i = 0; i < 8; i++)
		step(&r);
	drain(&r);
	struct keeper_stats ks;
	keeper_get_stats(r.k, &ks);
	print_message("keeper grows %llu, engine errors %u\n",
		      (unsigned long long)ks.grows, r.errors);
	assert_int_equal(r.errors, 0);
	assert_true(ks.grows >= 30);
	assert_true(engine_clip_length(r.e, 0, 0) >= len);
	rig_stop(&r);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_events_wake_the_consumer_and_idle_wakes_nobody),
	    cmocka_unit_test(test_keeper_serves_a_long_take_woken_by_the_audio_thread),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
