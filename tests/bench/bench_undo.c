/* bench_undo.c -- what an undo costs the real-time thread, by loop length.
 *
 * Drives the engine faster than real time at 48 kHz in 64-frame periods:
 * records a mono take of 1, 10 and 60 minutes, overdubs one pass over the
 * whole loop (so the undo swaps all of it), then undoes it, timing
 * engine_process() in every period of the swap (mean, max), and the
 * periods it takes. The keeper is served between periods on this thread.
 * The claim to see: the cost of a period is the same whatever the length
 * (a fixed number of frames is swapped each period); a long take only
 * takes more periods. Figures, not assertions: the machine is shared and
 * noisy (the max most of all: a period the thread was switched out in).
 * Ends with `key: value` lines, the 60-min / 1-min ratio of the mean, p99
 * and worst swap period.
 */
#include "engine.h"
#include "keeper.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define RATE   48000
#define PERIOD 64

static uint64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

struct run {
	double minutes;
	double mean_us, p99_us, max_us, plain_mean_us;
	long periods;
};

static float in[PERIOD * 2], out[PERIOD * 2];

static int by_value(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

static void period(struct engine *e, struct keeper *k, int64_t *t)
{
	for (int i = 0; i < PERIOD; i++)
		in[2 * i] = in[2 * i + 1] =
		    (float)(((*t + i) * 7919) % 65536) / 65536.0f - 0.5f;
	engine_process(e, in, out, PERIOD);
	*t += PERIOD;
	keeper_service(k);
}

static void run_to(struct engine *e, struct keeper *k, int64_t *t, int64_t f)
{
	while (*t < f)
		period(e, k, t);
}

static int measure(double minutes, struct run *res)
{
	struct engine_config cfg;
	engine_config_defaults(&cfg, RATE);
	cfg.max_period = PERIOD;
	cfg.tempo = 0;
	cfg.quantise = QUANTISE_OFF;
	cfg.undo_levels = 1;
	struct engine *e = engine_create(&cfg, NULL);
	struct keeper_config kc;
	keeper_config_defaults(&kc);
	kc.lock_memory = false;
	struct keeper *k = e ? keeper_create(e, &kc, NULL) : NULL;
	if (!k) {
		fprintf(stderr, "bench_undo: no engine or keeper\n");
		return -1;
	}
	const int64_t L = (int64_t)(minutes * 60 * RATE);
	int64_t t = 0;
	engine_send(e, SOURCE_SCRIPT, CMD_PRESS, 0, 0, 0, 100);
	engine_send(e, SOURCE_SCRIPT, CMD_PRESS, 0, 0, 0, 100 + L);
	run_to(e, k, &t, 100 + 2 * L + RATE);
	engine_send(e, SOURCE_SCRIPT, CMD_OVERDUB, 0, 0, 0, t + 10);
	engine_send(e, SOURCE_SCRIPT, CMD_OVERDUB, 0, 0, 0, t + 10 + L);
	run_to(e, k, &t, t + L + RATE);
	/* Plain periods (playing, nothing swapping), then the undo's. */
	double plain = 0;
	for (int i = 0; i < 2000; i++) {
		uint64_t t0 = now_ns();
		period(e, k, &t);
		plain += (double)(now_ns() - t0);
	}
	engine_send(e, SOURCE_SCRIPT, CMD_UNDO, 0, 0, 0, t);
	double sum = 0, worst = 0;
	long n = 0, cap = (long)(L / 8192) + 1000;
	double *each = malloc((size_t)cap * sizeof(double));
	if (!each)
		return -1;
	/* Swapping while the clip's version is odd (engine.h). */
	do {
		uint64_t t0 = now_ns();
		period(e, k, &t);
		double d = (double)(now_ns() - t0);
		sum += d;
		if (n < cap)
			each[n] = d;
		worst = d > worst ? d : worst;
		n++;
	} while ((engine_clip_version(e, 0, 0) & 1) && n < 100000000);
	res->minutes = minutes;
	res->mean_us = sum / (double)n / 1000.0;
	res->max_us = worst / 1000.0;
	long kept = n < cap ? n : cap;
	qsort(each, (size_t)kept, sizeof(double), by_value);
	res->p99_us = each[(long)(0.99 * (double)(kept - 1))] / 1000.0;
	free(each);
	res->plain_mean_us = plain / 2000.0 / 1000.0;
	res->periods = n;
	keeper_stop(k);
	keeper_destroy(k);
	engine_destroy(e);
	return 0;
}

int main(int argc, char **argv)
{
	const double all[] = {1, 10, 60};
	int count = 3;
	double only = argc > 1 ? atof(argv[1]) : 0; /* e.g. `bench_undo 1`: one length */
	struct run runs[3];
	printf("undo of one pass over the whole loop, mono, 48 kHz, %d-frame periods\n",
	       PERIOD);
	printf("%8s %10s %10s %10s %14s %10s\n", "minutes", "mean us", "p99 us", "max us",
	       "plain mean us", "periods");
	int done = 0;
	for (int i = 0; i < count; i++) {
		if (only > 0 && all[i] != only)
			continue;
		if (measure(all[i], &runs[done]))
			return 1;
		printf("%8.0f %10.2f %10.2f %10.2f %14.2f %10ld\n", runs[done].minutes,
		       runs[done].mean_us, runs[done].p99_us, runs[done].max_us,
		       runs[done].plain_mean_us, runs[done].periods);
		fflush(stdout);
		done++;
	}
	if (done == 3) {
		printf("undo_60_vs_1_min_mean_ratio: %.2f\n",
		       runs[2].mean_us / runs[0].mean_us);
		printf("undo_60_vs_1_min_p99_ratio: %.2f\n",
		       runs[2].p99_us / runs[0].p99_us);
		printf("undo_60_vs_1_min_max_ratio: %.2f (the max: the noisiest)\n",
		       runs[2].max_us / runs[0].max_us);
		printf("undo_60_min_periods: %ld\n", runs[2].periods);
	}
	return 0;
}
