/* bench_rt_instr.c -- what a long take costs the real-time thread, counted
 * in instructions, not seconds (timing maxima on a shared machine are its
 * noise; callgrind counts the same every time).
 *
 *   valgrind --tool=callgrind --instr-atstart=no bench_rt_instr MINUTES [N]
 *
 * The engine and the keeper driven offline at 48 kHz: tracks 1-7 play
 * one-bar loops, track 8 records a stereo take. The take is brought to
 * MINUTES of audio with the real engine and keeper, in 4096-frame periods
 * and with callgrind's instrumentation off (cheap: a 60-minute take is not
 * recorded in real time, but every frame of it went through
 * engine_process() and every chunk and chunk table came from the keeper,
 * so the clip's chunk table is the one a 60-minute take has). Then N
 * (default 3000) 64-frame periods are counted one by one: the stats are
 * zeroed before each engine_process() and dumped after it, with the label
 * "p<i> regrow=<0|1>" (regrow: a chunk the keeper answered arrived for the
 * period). The keeper is served between periods, outside the counts, as
 * the offline audio thread does. scripts/bench-rt-instr reads the dumps.
 * Without valgrind the client requests do nothing: the run still works.
 */
#include "engine.h"
#include "gl_limits.h"
#include "keeper.h"

#include <stdio.h>
#include <stdlib.h>
#if __has_include(<valgrind/callgrind.h>)
#include <valgrind/callgrind.h>
#else /* no valgrind headers: the counts are not taken, the run still works */
#define CALLGRIND_START_INSTRUMENTATION
#define CALLGRIND_STOP_INSTRUMENTATION
#define CALLGRIND_ZERO_STATS
#define CALLGRIND_DUMP_STATS_AT(label) ((void)(label))
#endif

#define RATE	    48000
#define PERIOD	    64
#define PREROLL	    GL_MAX_PERIOD /* frames per period while the take grows */
#define NOISE_LEN   (RATE + 7)
#define DEFAULT_N   3000
#define LOOP_FRAMES 96000 /* the loops of tracks 1-7: 2 s, one bar at 120 BPM */

static float noise[NOISE_LEN * 2];

static void fill_input(float *in, int64_t t0, uint32_t n)
{
	for (uint32_t i = 0; i < n; i++) {
		size_t k = (size_t)((t0 + i) % NOISE_LEN);
		in[2 * i] = noise[2 * k];
		in[2 * i + 1] = noise[2 * k + 1];
	}
}

static long errors;

static void drain(struct engine *e)
{
	struct event ev;
	while (spsc_pop(engine_events(e), &ev))
		errors += ev.type == EV_ERROR;
}

int main(int argc, char **argv)
{
	if (argc < 2) {
		fprintf(stderr, "usage: bench_rt_instr MINUTES [PERIODS]\n");
		return 2;
	}
	double minutes = atof(argv[1]);
	long n = argc > 2 ? atol(argv[2]) : DEFAULT_N;
	if (minutes < 0 || n <= 0) {
		fprintf(stderr, "bench_rt_instr: MINUTES >= 0, PERIODS > 0\n");
		return 2;
	}
	uint32_t seed = 12345;
	for (size_t i = 0; i < sizeof(noise) / sizeof(noise[0]); i++) {
		seed = seed * 1664525u + 1013904223u;
		noise[i] = (float)((int32_t)seed >> 8) / 8388608.0f * 0.25f;
	}

	struct engine_config cfg;
	engine_config_defaults(&cfg, RATE);
	cfg.max_period = PREROLL;
	cfg.input_channels = 2;
	cfg.tempo = 120;
	cfg.quantise = QUANTISE_OFF;
	for (int t = 0; t < GL_TRACKS; t++)
		cfg.track_input[t] =
		    (struct track_input){.first_channel = 0, .stereo = 1};
	const char *why = NULL;
	struct engine *e = engine_create(&cfg, &why);
	struct keeper_config kc;
	keeper_config_defaults(&kc);
	kc.lock_memory = false; /* 1.4 GB at 60 minutes: no mlock limit needed */
	struct keeper *k = e ? keeper_create(e, &kc, &why) : NULL;
	if (!k) {
		fprintf(stderr, "bench_rt_instr: %s\n", why);
		return 1;
	}
	static float in[PREROLL * 2], out[PREROLL * 2];

	/* Tracks 1-7: loops recorded through the engine, then playing. */
	for (int t = 0; t < 7; t++) {
		engine_send(e, SOURCE_SCRIPT, CMD_PRESS, t, 0, 0, 1000 + t * 10);
		engine_send(e, SOURCE_SCRIPT, CMD_PRESS, t, 0, 0,
			    1000 + t * 10 + LOOP_FRAMES);
	}
	engine_send(e, SOURCE_SCRIPT, CMD_MONITOR, 7, 0, 1, 0);
	while (engine_now(e) < 2 * LOOP_FRAMES) {
		fill_input(in, engine_now(e), PERIOD);
		engine_process(e, in, out, PERIOD);
		keeper_service(k);
		drain(e);
	}
	/* The take on track 8, grown to its length: big periods, not counted. */
	int64_t start = engine_now(e);
	engine_send(e, SOURCE_SCRIPT, CMD_PRESS, 7, 1, 0, start);
	int64_t until = start + (int64_t)(minutes * 60 * RATE);
	while (engine_now(e) + PREROLL <= until) {
		fill_input(in, engine_now(e), PREROLL);
		engine_process(e, in, out, PREROLL);
		keeper_service(k);
		drain(e);
	}
	while (engine_now(e) < until) {
		fill_input(in, engine_now(e), PERIOD);
		engine_process(e, in, out, PERIOD);
		keeper_service(k);
		drain(e);
	}

	/* Counted: N periods of the real-time path, one dump each. */
	CALLGRIND_START_INSTRUMENTATION;
	long regrows = 0;
	for (long i = 0; i < n; i++) {
		fill_input(in, engine_now(e), PERIOD);
		int regrow = spsc_count(engine_memory_replies(e)) > 0;
		regrows += regrow;
		char label[48];
		snprintf(label, sizeof(label), "p%ld regrow=%d", i, regrow);
		CALLGRIND_ZERO_STATS;
		engine_process(e, in, out, PERIOD);
		CALLGRIND_DUMP_STATS_AT(label);
		keeper_service(k);
		drain(e);
	}
	CALLGRIND_STOP_INSTRUMENTATION;
	struct keeper_stats ks;
	keeper_get_stats(k, &ks);
	printf("bench_rt_instr: take %.1f min (%lld frames), %ld periods counted, %ld "
	       "regrow periods, keeper grows %llu, engine errors %ld\n",
	       (double)(engine_now(e) - start) / RATE / 60,
	       (long long)(engine_now(e) - start), n, regrows,
	       (unsigned long long)ks.grows, errors);
	keeper_destroy(k);
	engine_destroy(e);
	return errors ? 1 : 0;
}
