/* test_recorder_mt.c -- the performance recorder (firmware/sd/recorder.c) with
 * its disk thread running against a producer thread that pushes as fast as
 * it can (far faster than the disk: the ring overflows again and again).
 *
 * The producer pushes periods of a ramp: frame i is (i / 2^20, i % 2^20),
 * two floats that are exact integers, so every frame in the file says which
 * frame it was. Afterwards frames_written + frames_lost equals the frames
 * pushed, and the file holds valid ramp frames in strictly increasing order
 * whose gaps add up to exactly frames_lost: nothing torn, reordered or
 * duplicated, and no loss that was not counted. A third thread reads the
 * stats meanwhile (they only grow). Also: recorder_stop while the producer
 * still pushes returns, and accounts for no more than was pushed.
 *
 * The "_mt" suffix makes scripts/run-tests run it under ThreadSanitizer too,
 * which checks the ring's memory ordering.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <ftw.h>
#include <pthread.h>
#include <sndfile.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "recorder.h"
#include "rt_mark.h"
#include "tmp_dir.h"

#define RATE	 48000
#define PERIOD	 64
#define LOW_BITS 20
#define LOW_MASK ((1u << LOW_BITS) - 1)

static char tmpdir[256];

static int setup(void **state)
{
	(void)state;
	return tmp_dir_make(tmpdir, sizeof(tmpdir), "test_recorder_mt") ? 0 : -1;
}

static int teardown(void **state)
{
	(void)state;
	return tmp_dir_remove(tmpdir);
}

struct run {
	struct recorder *r;
	uint64_t periods;     /* to push; 0: until told to stop */
	uint64_t min_written; /* and go on until the disk has written this */
	atomic_bool stop;     /* for periods == 0 */
	atomic_bool done;     /* the producer has finished */
	uint64_t pushed;      /* frames, when done */
	bool stats_ok;	      /* the watcher's verdict */
};

static void ramp_period(float *buf, uint64_t first)
{
	for (int i = 0; i < PERIOD; i++) {
		uint64_t f = first + (uint64_t)i;
		buf[2 * i] = (float)(f >> LOW_BITS);
		buf[2 * i + 1] = (float)(f & LOW_MASK);
	}
}

static bool enough(struct run *run, uint64_t p)
{
	if (!run->periods)
		return atomic_load_explicit(&run->stop, memory_order_relaxed);
	if (p < run->periods)
		return false;
	if (p % 256)
		return false;
	struct recorder_stats st;
	recorder_get_stats(run->r, &st);
	return st.frames_written >= run->min_written;
}

/* The audio thread's part: a period of the ramp, pushed in an rt_mark
 * section, again and again, never waiting. */
static void *producer(void *arg)
{
	struct run *run = arg;
	float buf[PERIOD * 2];
	uint64_t frame = 0;
	for (uint64_t p = 0; !enough(run, p); p++) {
		ramp_period(buf, frame);
		rt_mark_begin();
		recorder_push(run->r, buf, PERIOD);
		rt_mark_end();
		frame += PERIOD;
	}
	run->pushed = frame;
	atomic_store_explicit(&run->done, true, memory_order_release);
	return NULL;
}

/* Reads the stats while the others run: both counts only ever grow. */
static void *watcher(void *arg)
{
	struct run *run = arg;
	struct recorder_stats last = {0}, st;
	run->stats_ok = true;
	while (!atomic_load_explicit(&run->done, memory_order_acquire)) {
		recorder_get_stats(run->r, &st);
		if (st.frames_written < last.frames_written ||
		    st.frames_lost < last.frames_lost || st.error != 0)
			run->stats_ok = false;
		last = st;
		usleep(500);
	}
	return NULL;
}

static struct recorder *make(const char *sub, double ring_seconds)
{
	char dir[512], err[256] = "";
	snprintf(dir, sizeof(dir), "%s/%s", tmpdir, sub);
	struct recorder_config cfg = {.dir = dir,
				      .rate = RATE,
				      .channels = 2,
				      .format = EXPORT_WAV_FLOAT,
				      .ring_seconds = ring_seconds};
	struct recorder *r = recorder_create(&cfg, err, sizeof(err));
	if (!r)
		fail_msg("recorder_create: %s", err);
	return r;
}

/* Every frame of the file is a ramp frame, strictly after the one before;
 * the frames skipped add up to the loss. */
static void check_file(const struct recorder_stats *st, uint64_t pushed)
{
	SF_INFO info;
	memset(&info, 0, sizeof(info));
	SNDFILE *f = sf_open(st->file, SFM_READ, &info);
	if (!f)
		fail_msg("sf_open %s: %s", st->file, sf_strerror(NULL));
	assert_int_equal(info.channels, 2);
	assert_int_equal((uint64_t)info.frames, st->frames_written);
	static float buf[4096 * 2];
	uint64_t expect = 0, skipped = 0, seen = 0;
	sf_count_t n;
	while ((n = sf_readf_float(f, buf, 4096)) > 0) {
		for (sf_count_t i = 0; i < n; i++) {
			float hi = buf[2 * i], lo = buf[2 * i + 1];
			uint64_t frame = ((uint64_t)hi << LOW_BITS) | (uint64_t)lo;
			if (hi != (float)(uint64_t)hi || lo != (float)(uint64_t)lo ||
			    lo > (float)LOW_MASK || frame < expect || frame >= pushed)
				fail_msg("file frame %llu: (%g, %g) is not ramp frame "
					 ">= %llu",
					 (unsigned long long)seen, (double)hi, (double)lo,
					 (unsigned long long)expect);
			skipped += frame - expect;
			expect = frame + 1;
			seen++;
		}
	}
	sf_close(f);
	skipped += pushed - expect; /* lost at the very end */
	assert_int_equal(seen, st->frames_written);
	assert_int_equal(skipped, st->frames_lost);
}

static void test_full_speed_producer_against_the_disk(void **state)
{
	(void)state;
	/* At least 2.56 M frames, and on until the disk has written 1 M of
	 * them (many passes round the 4096-frame ring). */
	struct run run = {
	    .r = make("full", 0.05), .periods = 40000, .min_written = 1 << 20};
	atomic_init(&run.stop, false);
	atomic_init(&run.done, false);
	assert_int_equal(recorder_start(run.r), 0);
	pthread_t prod, watch;
	assert_int_equal(pthread_create(&watch, NULL, watcher, &run), 0);
	assert_int_equal(pthread_create(&prod, NULL, producer, &run), 0);
	pthread_join(prod, NULL);
	pthread_join(watch, NULL);
	recorder_stop(run.r);

	struct recorder_stats st;
	recorder_get_stats(run.r, &st);
	assert_true(run.stats_ok);
	assert_int_equal(st.error, 0);
	assert_true(run.pushed >= (uint64_t)PERIOD * run.periods);
	assert_true(st.frames_written >= run.min_written);
	assert_int_equal(st.frames_written + st.frames_lost, run.pushed);
	assert_true(st.frames_written > 0);
	print_message("full speed: %llu frames pushed, %llu written, %llu lost\n",
		      (unsigned long long)run.pushed,
		      (unsigned long long)st.frames_written,
		      (unsigned long long)st.frames_lost);
	check_file(&st, run.pushed);
	recorder_destroy(run.r);
}

/* A producer about ten times faster than real time, against a ring that
 * outlasts the disk thread's nap: little or no loss, long gapless runs. */
static void *paced_producer(void *arg)
{
	struct run *run = arg;
	float buf[PERIOD * 2];
	uint64_t frame = 0;
	for (uint64_t p = 0; p < run->periods; p++) {
		ramp_period(buf, frame);
		rt_mark_begin();
		recorder_push(run->r, buf, PERIOD);
		rt_mark_end();
		frame += PERIOD;
		if (p % 8 == 7)
			usleep(1000); /* about 10x real time */
	}
	run->pushed = frame;
	atomic_store_explicit(&run->done, true, memory_order_release);
	return NULL;
}

static void test_paced_producer(void **state)
{
	(void)state;
	struct run run = {.r = make("paced", 0.5), .periods = 8000};
	atomic_init(&run.stop, false);
	atomic_init(&run.done, false);
	assert_int_equal(recorder_start(run.r), 0);
	pthread_t prod;
	assert_int_equal(pthread_create(&prod, NULL, paced_producer, &run), 0);
	pthread_join(prod, NULL);
	recorder_stop(run.r);
	struct recorder_stats st;
	recorder_get_stats(run.r, &st);
	assert_int_equal(st.error, 0);
	assert_int_equal(st.frames_written + st.frames_lost, run.pushed);
	print_message("paced: %llu frames pushed, %llu written, %llu lost\n",
		      (unsigned long long)run.pushed,
		      (unsigned long long)st.frames_written,
		      (unsigned long long)st.frames_lost);
	check_file(&st, run.pushed);
	recorder_destroy(run.r);
}

/* The integrator may stop the recorder before the audio thread: stop must
 * come back even though the ring keeps filling. */
static void test_stop_while_still_pushing(void **state)
{
	(void)state;
	struct run run = {.r = make("busy", 0.05), .periods = 0};
	atomic_init(&run.stop, false);
	atomic_init(&run.done, false);
	assert_int_equal(recorder_start(run.r), 0);
	pthread_t prod;
	assert_int_equal(pthread_create(&prod, NULL, producer, &run), 0);
	usleep(50000);
	recorder_stop(run.r);
	struct recorder_stats st;
	recorder_get_stats(run.r, &st);
	atomic_store(&run.stop, true);
	pthread_join(prod, NULL);
	assert_int_equal(st.error, 0);
	assert_true(st.frames_written + st.frames_lost <= run.pushed);
	assert_true(st.frames_written > 0);
	recorder_destroy(run.r);
}

int main(void)
{
	rt_mark_init();
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_full_speed_producer_against_the_disk),
	    cmocka_unit_test(test_paced_producer),
	    cmocka_unit_test(test_stop_while_still_pushing),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
