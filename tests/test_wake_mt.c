/* test_wake_mt.c -- the threads that sleep until the audio thread has work
 * for them (firmware/os/wake.h, audio_thread.c): the real audio thread on
 * alsa-lib's null PCM, held period by period (its offline gate), wakes the
 * events' consumer after its first period and after periods with engine
 * events, and nobody in idle periods; the keeper thread, which has no timer
 * any more, serves every memory request of a long take because the audio
 * thread wakes it; a wake-up asked for at a frame comes once, after the
 * period that passes it; idle, the keeper's and the performance recorder's disk
 * thread do not wake at all (their voluntary context switches, from
 * /proc/self/task). The "_mt" suffix runs it under ThreadSanitizer too. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <dirent.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <stdatomic.h>
#include <time.h>

#include "audio_alsa.h"
#include "audio_thread.h"
#include "engine.h"
#include "keeper.h"
#include "recorder.h"
#include "tmp_dir.h"
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

/* Voluntary context switches so far of this process's thread named name
 * (each is a sleep that ended: a wake-up); -1 when there is none. */
static long switches_of(const char *name)
{
	DIR *d = opendir("/proc/self/task");
	assert_non_null(d);
	long found = -1;
	struct dirent *de;
	while ((de = readdir(d)) && found < 0) {
		if (de->d_name[0] == '.')
			continue;
		char path[300], comm[32] = "";
		snprintf(path, sizeof(path), "/proc/self/task/%s/comm", de->d_name);
		FILE *f = fopen(path, "r");
		if (!f)
			continue;
		if (fgets(comm, sizeof(comm), f))
			comm[strcspn(comm, "\n")] = '\0';
		fclose(f);
		if (strcmp(comm, name))
			continue;
		snprintf(path, sizeof(path), "/proc/self/task/%s/status", de->d_name);
		f = fopen(path, "r");
		char line[128];
		while (f && fgets(line, sizeof(line), f))
			if (sscanf(line, "voluntary_ctxt_switches: %ld", &found) == 1)
				break;
		if (f)
			fclose(f);
	}
	closedir(d);
	return found;
}

static void sleep_ms(int ms)
{
	struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
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

	/* Idle: a hundred periods, no event, no wake-up; the keeper sleeps
	 * through them (it used to look every 2 ms: 150 times in 300 ms). */
	sleep_ms(50);
	long keeper0 = switches_of("gl-keeper");
	assert_true(keeper0 >= 0);
	for (int i = 0; i < 100; i++)
		step(&r);
	sleep_ms(300);
	assert_int_equal(wake_wait(&r.events, 0), 0);
	long keeper_wakes = switches_of("gl-keeper") - keeper0;
	print_message("idle: the keeper woke %ld times in 300 ms\n", keeper_wakes);
	assert_true(keeper_wakes <= 2);

	/* A wake-up asked for at a frame (the MIDI clock's next tick): after
	 * the period that passes it, once. */
	int64_t tick = atomic_load(audio_thread_now(r.audio)) + PERIOD + PERIOD / 2;
	audio_thread_wake_at(r.audio, tick);
	step(&r);
	assert_int_equal(wake_wait(&r.events, 0), 0); /* not passed yet */
	step(&r);
	assert_int_equal(wake_wait(&r.events, GIVE_UP_MS), 1);
	for (int i = 0; i < 10; i++)
		step(&r);
	assert_int_equal(wake_wait(&r.events, 0), 0); /* once */

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

/* The recorder's disk thread: woken by the audio thread's push once a
 * batch (a tenth of a second) is there, asleep when nothing comes; it used
 * to nap 20 ms at a time. */
static void test_recorder_disk_thread_sleeps_until_a_batch(void **state)
{
	(void)state;
	char dir[256];
	assert_true(tmp_dir_make(dir, sizeof(dir), "test_wake_mt"));
	struct recorder_config cfg = {.dir = dir,
				      .rate = RATE,
				      .channels = 2,
				      .format = EXPORT_WAV_FLOAT,
				      .ring_seconds = 2};
	char err[256];
	struct recorder *rec = recorder_create(&cfg, err, sizeof(err));
	assert_non_null(rec);
	assert_int_equal(recorder_start(rec), 0);
	sleep_ms(50);
	long w0 = switches_of("gl-recorder");
	assert_true(w0 >= 0);
	sleep_ms(300);
	long idle = switches_of("gl-recorder") - w0;
	print_message("recorder idle: %ld wake-ups in 300 ms\n", idle);
	assert_true(idle <= 2);

	/* Half a second pushed: written without a timer. */
	static float buf[PERIOD * 2];
	for (int i = 0; i < RATE / 2 / PERIOD; i++)
		recorder_push(rec, buf, PERIOD);
	struct recorder_stats st;
	int64_t give_up = now_ms() + GIVE_UP_MS;
	do {
		sleep_ms(5);
		recorder_get_stats(rec, &st);
	} while (st.frames_written <
		     (uint64_t)(RATE / 2 / PERIOD - RATE / 10 / PERIOD) * PERIOD &&
		 now_ms() < give_up);
	assert_true(st.frames_written >=
		    (uint64_t)(RATE / 2 / PERIOD - RATE / 10 / PERIOD) * PERIOD);
	recorder_stop(rec);
	recorder_get_stats(rec, &st);
	assert_int_equal(st.frames_written, (uint64_t)(RATE / 2 / PERIOD) * PERIOD);
	recorder_destroy(rec);
	assert_int_equal(tmp_dir_remove(dir), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_recorder_disk_thread_sleeps_until_a_batch),
	    cmocka_unit_test(test_events_wake_the_consumer_and_idle_wakes_nobody),
	    cmocka_unit_test(test_keeper_serves_a_long_take_woken_by_the_audio_thread),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
