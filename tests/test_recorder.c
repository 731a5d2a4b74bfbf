/* test_recorder.c -- tests of the performance recorder (firmware/sd/recorder.c)
 * one step at a time. Most leave the disk thread unstarted, so the test
 * decides exactly when the ring is drained (recorder_stop); the wrap-around
 * and write-failure tests start it but never race it. The full-speed
 * producer against the disk thread is test_recorder_mt.c. Checked:
 *
 *  - the ring's capacity and the exact count of frames that did not fit,
 *    whole frames only;
 *  - stop drains the ring to the file, which reads back bit for bit in float
 *    format (also across the ring's wrap-around, with 3 channels), within
 *    1 LSB in 16-bit, clipped (not wrapped) beyond full scale, and as FLAC;
 *  - the file name, and "_2" when it is taken; a directory created;
 *  - a write failure (a file-size limit in a forked child: EFBIG) stops the
 *    writing, is reported in the stats, and what comes later is counted as
 *    lost, never waited for.
 *
 * Every push runs inside an rt_mark section: with the real-time guard
 * preloaded (scripts/run-tests) an allocation, lock or system call in it
 * aborts the test.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <ftw.h>
#include <math.h>
#include <signal.h>
#include <sndfile.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "recorder.h"
#include "rt_mark.h"
#include "tmp_dir.h"

#define RATE 1024 /* with ring_seconds 1: a ring of exactly 1024 frames */
#define CAP  1024

static char tmpdir[256];

static int setup(void **state)
{
	(void)state;
	return tmp_dir_make(tmpdir, sizeof(tmpdir), "test_recorder") ? 0 : -1;
}

static int teardown(void **state)
{
	(void)state;
	return tmp_dir_remove(tmpdir);
}

static struct recorder *make(const char *sub, enum export_format f, int channels)
{
	char dir[512], err[256] = "";
	snprintf(dir, sizeof(dir), "%s/%s", tmpdir, sub);
	struct recorder_config cfg = {.dir = dir,
				      .rate = RATE,
				      .channels = channels,
				      .format = f,
				      .ring_seconds = 1};
	struct recorder *r = recorder_create(&cfg, err, sizeof(err));
	if (!r)
		fail_msg("recorder_create: %s", err);
	return r;
}

static void push(struct recorder *r, const float *in, uint32_t frames)
{
	rt_mark_begin();
	recorder_push(r, in, frames);
	rt_mark_end();
}

/* A signal with every sample different, in range, not round in 16 bits. */
static float sample_at(uint64_t i)
{
	return (float)sin((double)i * 0.001234567) * 0.9f + (float)(i % 7) * 1e-5f;
}

static void fill(float *buf, uint64_t first_sample, size_t samples)
{
	for (size_t i = 0; i < samples; i++)
		buf[i] = sample_at(first_sample + i);
}

/* Reads the whole file as floats; *frames gets its length. Free it. */
static float *read_back(const char *path, int channels, sf_count_t *frames)
{
	SF_INFO info;
	memset(&info, 0, sizeof(info));
	SNDFILE *f = sf_open(path, SFM_READ, &info);
	if (!f)
		fail_msg("sf_open %s: %s", path, sf_strerror(NULL));
	assert_int_equal(info.channels, channels);
	assert_int_equal(info.samplerate, RATE);
	float *data = calloc((size_t)info.frames * (size_t)channels + 1, sizeof(float));
	assert_non_null(data);
	assert_int_equal(sf_readf_float(f, data, info.frames), info.frames);
	sf_close(f);
	*frames = info.frames;
	return data;
}

static void test_pushes_beyond_capacity_are_lost_exactly(void **state)
{
	(void)state;
	struct recorder *r = make("lost", EXPORT_WAV_FLOAT, 2);
	static float buf[3000 * 2];
	fill(buf, 0, 3000 * 2);
	push(r, buf, 1000);	      /* 24 frames of room left */
	push(r, buf + 1000 * 2, 100); /* 24 fit, 76 lost */
	push(r, buf + 1100 * 2, 5);   /* all lost */
	push(r, buf, 0);	      /* nothing */
	push(NULL, buf, 100);	      /* off: nothing at all */
	struct recorder_stats st;
	recorder_get_stats(r, &st);
	assert_int_equal(st.frames_lost, 76 + 5);
	assert_int_equal(st.frames_written, 0); /* no disk thread yet */
	assert_int_equal(st.error, 0);

	recorder_stop(r);
	recorder_get_stats(r, &st);
	assert_int_equal(st.frames_written, CAP);
	assert_int_equal(st.frames_lost, 81);
	sf_count_t n;
	float *back = read_back(st.file, 2, &n);
	assert_int_equal(n, CAP);
	/* The whole frames that fit, in order, bit for bit. */
	assert_memory_equal(back, buf, (size_t)CAP * 2 * sizeof(float));
	free(back);
	recorder_destroy(r);
}

static void test_stop_drains_bit_exact(void **state)
{
	(void)state;
	struct recorder *r = make("float", EXPORT_WAV_FLOAT, 2);
	enum { TOTAL = 2500, PERIOD = 100 };
	static float want[TOTAL * 2];
	fill(want, 0, TOTAL * 2);
	for (int i = 0; i < 10; i++)
		push(r, want + i * PERIOD * 2, PERIOD);
	recorder_stop(r);
	struct recorder_stats st;
	recorder_get_stats(r, &st);
	assert_int_equal(st.frames_written, 10 * PERIOD);
	assert_int_equal(st.frames_lost, 0);
	assert_int_equal(st.error, 0);
	sf_count_t n;
	float *back = read_back(st.file, 2, &n);
	assert_int_equal(n, 10 * PERIOD);
	assert_memory_equal(back, want, (size_t)n * 2 * sizeof(float));
	free(back);
	/* Stopping twice is harmless; pushes after stop never block. */
	recorder_stop(r);
	for (int i = 0; i < 30; i++)
		push(r, want, PERIOD);
	recorder_destroy(r);
}

/* The disk thread started and stopped around each batch: the ring's indices
 * move past its end, with 3 channels (frames do not divide a page). */
static void test_wrap_with_odd_channels(void **state)
{
	(void)state;
	struct recorder *r = make("wrap", EXPORT_WAV_FLOAT, 3);
	enum { TOTAL = 5000, PERIOD = 77 };
	static float want[TOTAL * 3];
	fill(want, 0, TOTAL * 3);
	assert_int_equal(recorder_start(r), 0);
	uint32_t pushed = 0;
	struct recorder_stats st;
	while (pushed + PERIOD <= TOTAL) {
		/* Never more than the ring holds: wait for the disk thread. */
		recorder_get_stats(r, &st);
		while (pushed - st.frames_written + PERIOD > CAP) {
			usleep(1000);
			recorder_get_stats(r, &st);
		}
		push(r, want + (size_t)pushed * 3, PERIOD);
		pushed += PERIOD;
	}
	recorder_stop(r);
	recorder_get_stats(r, &st);
	assert_int_equal(st.frames_lost, 0);
	assert_int_equal(st.frames_written, pushed);
	sf_count_t n;
	float *back = read_back(st.file, 3, &n);
	assert_int_equal(n, pushed);
	assert_memory_equal(back, want, (size_t)n * 3 * sizeof(float));
	free(back);
	recorder_destroy(r);
}

static void test_16_bit_within_one_lsb_and_clipped(void **state)
{
	(void)state;
	struct recorder *r = make("pcm16", EXPORT_WAV16, 2);
	enum { N = 800 };
	static float want[N * 2];
	fill(want, 0, N * 2);
	want[10] = 1.5f; /* overs: clipped, not wrapped round */
	want[11] = -3.0f;
	want[12] = 1.0f;
	want[13] = -1.0f;
	push(r, want, N);
	recorder_stop(r);
	struct recorder_stats st;
	recorder_get_stats(r, &st);
	assert_int_equal(st.frames_written, N);
	assert_non_null(strstr(st.file, ".wav"));
	sf_count_t n;
	float *back = read_back(st.file, 2, &n);
	assert_int_equal(n, N);
	double lsb = 1.0 / 32768.0;
	for (int i = 0; i < N * 2; i++) {
		float expect = want[i] > 1.0f ? 1.0f : want[i] < -1.0f ? -1.0f : want[i];
		if (fabs((double)back[i] - (double)expect) > lsb * 1.0001)
			fail_msg("sample %d: wrote %g, read %g", i, (double)want[i],
				 (double)back[i]);
	}
	assert_true(back[10] > 0.99f);
	assert_true(back[11] < -0.99f);
	free(back);
	recorder_destroy(r);
}

static void test_flac24(void **state)
{
	(void)state;
	struct recorder *r = make("flac", EXPORT_FLAC24, 2);
	enum { N = 1000 };
	static float want[N * 2];
	fill(want, 0, N * 2);
	push(r, want, N);
	recorder_stop(r);
	struct recorder_stats st;
	recorder_get_stats(r, &st);
	assert_int_equal(st.frames_written, N);
	assert_non_null(strstr(st.file, ".flac"));
	SF_INFO info;
	memset(&info, 0, sizeof(info));
	SNDFILE *f = sf_open(st.file, SFM_READ, &info);
	assert_non_null(f);
	assert_int_equal(info.format, SF_FORMAT_FLAC | SF_FORMAT_PCM_24);
	sf_close(f);
	sf_count_t n;
	float *back = read_back(st.file, 2, &n);
	assert_int_equal(n, N);
	for (int i = 0; i < N * 2; i++)
		assert_true(fabs((double)back[i] - (double)want[i]) <=
			    1.0001 / 8388608.0);
	free(back);
	recorder_destroy(r);
}

static void test_names_and_formats(void **state)
{
	(void)state;
	/* A directory two levels down is created; the name is the time's. */
	struct recorder *a = make("gigs/deep", EXPORT_WAV24, 2);
	struct recorder *b = make("gigs/deep", EXPORT_WAV24, 2);
	struct recorder_stats sa, sb;
	recorder_get_stats(a, &sa);
	recorder_get_stats(b, &sb);
	const char *base = strrchr(sa.file, '/') + 1;
	/* gig-YYYY-MM-DD_HHMM.wav */
	assert_int_equal(strlen(base), strlen("gig-2026-11-25_2130.wav"));
	assert_memory_equal(base, "gig-", 4);
	assert_int_equal(base[8], '-');
	assert_int_equal(base[14], '_');
	/* Same minute (or the next one): b is "_2" after a's stem, or its own. */
	char expect[600];
	snprintf(expect, sizeof(expect), "%.*s_2.wav", (int)(strlen(sa.file) - 4),
		 sa.file);
	if (strcmp(sb.file, expect) != 0)
		assert_string_not_equal(sb.file, sa.file);
	static float buf[100 * 2];
	push(a, buf, 100);
	recorder_stop(a);
	recorder_stop(b);
	SF_INFO info;
	memset(&info, 0, sizeof(info));
	SNDFILE *f = sf_open(sa.file, SFM_READ, &info);
	assert_non_null(f);
	assert_int_equal(info.format & SF_FORMAT_SUBMASK, SF_FORMAT_PCM_24);
	assert_int_equal(info.frames, 100);
	sf_close(f);
	/* Under 4 GB the RF64 file was downgraded to a plain RIFF WAVE, which
	 * every program reads (libsndfile still calls it RF64). */
	char magic[12];
	FILE *fp = fopen(sa.file, "rb");
	assert_non_null(fp);
	assert_int_equal(fread(magic, 1, sizeof(magic), fp), sizeof(magic));
	fclose(fp);
	assert_memory_equal(magic, "RIFF", 4);
	assert_memory_equal(magic + 8, "WAVE", 4);
	recorder_destroy(a);
	recorder_destroy(b);
}

static void test_bad_configurations(void **state)
{
	(void)state;
	char err[256] = "";
	char file[512];
	snprintf(file, sizeof(file), "%s/plainfile", tmpdir);
	FILE *fp = fopen(file, "w");
	assert_non_null(fp);
	fclose(fp);
	char under_file[600];
	snprintf(under_file, sizeof(under_file), "%s/sub", file);
	struct recorder_config cfg = {.dir = under_file,
				      .rate = 48000,
				      .channels = 2,
				      .format = EXPORT_WAV16,
				      .ring_seconds = 1};
	assert_null(recorder_create(&cfg, err, sizeof(err)));
	assert_non_null(strstr(err, "cannot create"));
	cfg.dir = tmpdir;
	cfg.ring_seconds = 0;
	assert_null(recorder_create(&cfg, err, sizeof(err)));
	cfg.ring_seconds = 1e12;
	assert_null(recorder_create(&cfg, err, sizeof(err)));
	cfg.ring_seconds = 1;
	cfg.channels = 0;
	assert_null(recorder_create(&cfg, err, sizeof(err)));
}

/* ---- a write failure, in a child with a file-size limit ------------------- */

#define LIMIT_BYTES (64 * 1024)

/* The child's checks; its exit status says which failed (0: all passed). */
static int write_failure_child(void)
{
	signal(SIGXFSZ, SIG_IGN); /* EFBIG from write(), not a killed process */
	struct rlimit lim = {LIMIT_BYTES, LIMIT_BYTES};
	if (setrlimit(RLIMIT_FSIZE, &lim) != 0)
		return 10;
	char dir[512], err[256];
	snprintf(dir, sizeof(dir), "%s/efbig", tmpdir);
	struct recorder_config cfg = {.dir = dir,
				      .rate = RATE,
				      .channels = 2,
				      .format = EXPORT_WAV16,
				      .ring_seconds = 1};
	struct recorder *r = recorder_create(&cfg, err, sizeof(err));
	if (!r)
		return 11;
	if (recorder_start(r) != 0)
		return 12;
	enum { PERIOD = 64 };
	static float buf[PERIOD * 2];
	fill(buf, 0, PERIOD * 2);
	uint64_t pushed = 0;
	struct recorder_stats st;
	/* 4 bytes a frame: the limit is reached after 16k frames. Push until
	 * the disk thread reports it (at most 10 s). */
	for (int i = 0; i < 10000; i++) {
		push(r, buf, PERIOD);
		pushed += PERIOD;
		recorder_get_stats(r, &st);
		if (st.error)
			break;
		if (pushed - st.frames_written - st.frames_lost > CAP / 2)
			usleep(1000);
	}
	if (st.error != EFBIG)
		return 13;
	if (st.frames_written * 4 > LIMIT_BYTES || st.frames_written < 8192)
		return 14;
	/* From now on every push is lost, none blocks, none is written: many
	 * rings' worth at full speed. */
	uint64_t written = st.frames_written;
	struct timespec t0, t1;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (int i = 0; i < 2000; i++) {
		push(r, buf, PERIOD);
		pushed += PERIOD;
	}
	clock_gettime(CLOCK_MONOTONIC, &t1);
	recorder_stop(r);
	recorder_get_stats(r, &st);
	if (st.frames_written != written)
		return 15;
	if (st.frames_written + st.frames_lost != pushed)
		return 16;
	if (st.error != EFBIG)
		return 17;
	/* What was written reads back. */
	SF_INFO info;
	memset(&info, 0, sizeof(info));
	SNDFILE *f = sf_open(st.file, SFM_READ, &info);
	if (!f)
		return 18;
	sf_close(f);
	if (info.frames < 8192 || info.frames > (sf_count_t)written)
		return 19;
	recorder_destroy(r);
	/* "Never blocks": 2000 pushes that could not be written took far less
	 * than the 125 s of audio they are; 10 s is a bound no machine misses. */
	double s =
	    (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) * 1e-9;
	return s < 10 ? 0 : 20;
}

static void test_write_failure_is_reported_and_later_frames_lost(void **state)
{
	(void)state;
	fflush(NULL);
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0)
		_exit(write_failure_child());
	int status;
	assert_int_equal(waitpid(pid, &status, 0), pid);
	if (!WIFEXITED(status))
		fail_msg("child ended by signal %d", WTERMSIG(status));
	if (WEXITSTATUS(status) != 0)
		fail_msg("child check %d failed", WEXITSTATUS(status));
}

int main(void)
{
	rt_mark_init();
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_pushes_beyond_capacity_are_lost_exactly),
	    cmocka_unit_test(test_stop_drains_bit_exact),
	    cmocka_unit_test(test_wrap_with_odd_channels),
	    cmocka_unit_test(test_16_bit_within_one_lsb_and_clipped),
	    cmocka_unit_test(test_flac24),
	    cmocka_unit_test(test_names_and_formats),
	    cmocka_unit_test(test_bad_configurations),
	    cmocka_unit_test(test_write_failure_is_reported_and_later_frames_lost),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
