/* bench_recorder.c -- what the performance recorder costs the real-time
 * thread, and how fast its disk thread writes.
 *
 * recorder_push() of one 64-frame stereo period at 48 kHz, timed one call at
 * a time (mean, p99, max, in ns; the cost of reading the clock, measured
 * the same way around nothing, is printed alongside, not subtracted):
 *
 *   room   the disk thread running, the producer paced to about 20x real
 *          time so that the ring has room: the frames are copied (the
 *          figure includes the first touch of cache lines the disk thread
 *          last read, as in the program);
 *   full   no disk thread and the ring full: every frame is counted lost.
 *
 * Then the disk thread's throughput: a producer pushing flat out for two
 * seconds, float WAV in TMPDIR, frames written per second as a multiple of
 * real time (what a card of that speed could absorb). Figures, not
 * assertions: the machine is shared and noisy. Ends with `key: value` lines.
 */
#include "recorder.h"
#include "../tmp_dir.h"

#include <ftw.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define RATE	     48000
#define PERIOD	     64
#define SAMPLES	     200000 /* timed pushes per figure */
#define ROOM_SAMPLES 40000  /* paced: about 2.5 s */

struct figure {
	double mean_ns, p99_ns, max_ns;
};

static char tmpdir[256];
static uint32_t times_ns[SAMPLES];
static float period_buf[PERIOD * 2];

static uint64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static int cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
	return x < y ? -1 : x > y;
}

static struct figure summarize(int n)
{
	struct figure f = {0, 0, 0};
	double sum = 0;
	for (int i = 0; i < n; i++)
		sum += times_ns[i];
	qsort(times_ns, (size_t)n, sizeof(times_ns[0]), cmp_u32);
	f.mean_ns = sum / n;
	f.p99_ns = times_ns[n * 99 / 100];
	f.max_ns = times_ns[n - 1];
	return f;
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
	if (!r) {
		fprintf(stderr, "bench_recorder: %s\n", err);
		exit(1);
	}
	return r;
}

static struct figure clock_cost(void)
{
	for (int i = 0; i < SAMPLES; i++) {
		uint64_t t0 = now_ns();
		times_ns[i] = (uint32_t)(now_ns() - t0);
	}
	return summarize(SAMPLES);
}

/* About 20x real time: 32 periods (43 ms of audio), then a 2 ms nap. */
static struct figure push_with_room(uint64_t *lost)
{
	struct recorder *r = make("room", 2);
	recorder_start(r);
	for (int i = 0; i < ROOM_SAMPLES; i++) {
		uint64_t t0 = now_ns();
		recorder_push(r, period_buf, PERIOD);
		times_ns[i] = (uint32_t)(now_ns() - t0);
		if (i % 32 == 31)
			usleep(2000);
	}
	recorder_stop(r);
	struct recorder_stats st;
	recorder_get_stats(r, &st);
	*lost = st.frames_lost;
	recorder_destroy(r);
	return summarize(ROOM_SAMPLES);
}

static struct figure push_when_full(void)
{
	struct recorder *r = make("full", 0.01);
	for (int i = 0; i < 1000; i++) /* fill it */
		recorder_push(r, period_buf, PERIOD);
	for (int i = 0; i < SAMPLES; i++) {
		uint64_t t0 = now_ns();
		recorder_push(r, period_buf, PERIOD);
		times_ns[i] = (uint32_t)(now_ns() - t0);
	}
	recorder_stop(r);
	recorder_destroy(r);
	return summarize(SAMPLES);
}

/* Frames the disk thread wrote per second with a producer that never
 * lets the ring run dry. */
static double disk_throughput(void)
{
	struct recorder *r = make("disk", 1);
	recorder_start(r);
	uint64_t t0 = now_ns(), t;
	do {
		for (int i = 0; i < 64; i++)
			recorder_push(r, period_buf, PERIOD);
		t = now_ns();
	} while (t - t0 < 2000000000u);
	struct recorder_stats st;
	recorder_get_stats(r, &st);
	recorder_stop(r);
	recorder_destroy(r);
	return (double)st.frames_written / ((double)(t - t0) * 1e-9);
}

int main(void)
{
	if (!tmp_dir_make(tmpdir, sizeof(tmpdir), "bench_recorder")) {
		perror("bench_recorder: mkdtemp");
		return 1;
	}
	for (int i = 0; i < PERIOD * 2; i++)
		period_buf[i] = (float)i / (PERIOD * 2);

	struct figure clk = clock_cost();
	uint64_t lost = 0;
	struct figure room = push_with_room(&lost);
	struct figure full = push_when_full();
	double fps = disk_throughput();
	tmp_dir_remove(tmpdir);

	double budget_ns = 1e9 * PERIOD / RATE;
	printf("recorder_push, one %d-frame stereo period (%.0f us of audio):\n", PERIOD,
	       budget_ns / 1000);
	printf("  %-6s mean %7.1f ns  p99 %7.1f ns  max %9.1f ns\n", "clock", clk.mean_ns,
	       clk.p99_ns, clk.max_ns);
	printf("  %-6s mean %7.1f ns  p99 %7.1f ns  max %9.1f ns  (%llu frames lost)\n",
	       "room", room.mean_ns, room.p99_ns, room.max_ns, (unsigned long long)lost);
	printf("  %-6s mean %7.1f ns  p99 %7.1f ns  max %9.1f ns\n", "full", full.mean_ns,
	       full.p99_ns, full.max_ns);
	printf("disk thread: %.0f frames/s written (%.1fx real time)\n\n", fps,
	       fps / RATE);
	printf("push_clock_overhead_mean_ns: %.1f\n", clk.mean_ns);
	printf("push_room_mean_ns: %.1f\n", room.mean_ns);
	printf("push_room_p99_ns: %.1f\n", room.p99_ns);
	printf("push_room_max_ns: %.1f\n", room.max_ns);
	printf("push_room_frames_lost: %llu\n", (unsigned long long)lost);
	printf("push_full_mean_ns: %.1f\n", full.mean_ns);
	printf("push_full_p99_ns: %.1f\n", full.p99_ns);
	printf("push_room_p99_budget_pct: %.4f\n", 100.0 * room.p99_ns / budget_ns);
	printf("disk_frames_per_s: %.0f\n", fps);
	printf("disk_x_real_time: %.1f\n", fps / RATE);
	return 0;
}
